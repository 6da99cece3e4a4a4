//! For tests of this crate and of the faces: reading the log without a reader, and the
//! strongest attack on it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub use crate::export::recent;

use crate::chain::{self, Checkpoint, EntryRow};
use renkei_core::Timestamp;
use renkei_crypto::KeyStore;
use renkei_store::sqlx;
use renkei_store::{Backend, Store};
use std::path::Path;

/// The rewrite an operator holding the master key and the database can do: the
/// append-only triggers disabled, `edit` applied to the entries, the chain renumbered,
/// re-hashed and re-MACed, the head fixed, every checkpoint replaced by one re-signed
/// over the forged head (in the store and in `checkpoint_file`), and, with
/// `wipe_witness`, the stored countersignatures deleted. Verification with the
/// platform's own keys cannot tell; only a witness's can.
pub async fn forge_rewrite(
    store: &Store,
    keys: &KeyStore,
    checkpoint_file: &Path,
    wipe_witness: bool,
    edit: impl FnOnce(&mut Vec<EntryRow>),
) {
    let tables = ["audit_log", "audit_checkpoints", "audit_witness"];
    let unguard: String = match store.backend() {
        Backend::Sqlite => tables
            .iter()
            .map(|t| format!("DROP TRIGGER {t}_no_update; DROP TRIGGER {t}_no_delete;"))
            .collect(),
        Backend::Postgres => tables
            .iter()
            .map(|t| format!("ALTER TABLE {t} DISABLE TRIGGER USER;"))
            .collect(),
    };
    sqlx::raw_sql(&unguard).execute(store.pool()).await.unwrap();
    let mut rows = chain::entries_after(store, 0, 100_000).await.unwrap();
    edit(&mut rows);
    let macer = keys.macer(renkei_crypto::Purpose::AuditMac);
    let mut prev = [0u8; 32];
    for (i, r) in rows.iter_mut().enumerate() {
        r.seq = i as i64 + 1;
        let hash = r.expected_hash(&prev);
        r.prev_hash = hex::encode(prev);
        r.hash = hex::encode(hash);
        r.mac = hex::encode(macer.mac(&hash));
        prev = hash;
    }
    let mut tx = store.begin().await.unwrap();
    let mut wipe = vec!["DELETE FROM audit_log", "DELETE FROM audit_checkpoints"];
    if wipe_witness {
        wipe.push("DELETE FROM audit_witness");
    }
    for sql in wipe {
        sqlx::query(sql).execute(&mut *tx).await.unwrap();
    }
    for chunk in rows.chunks(1000) {
        chain::insert_rows(&mut tx, chunk).await.unwrap();
    }
    let (seq, hash) = rows
        .last()
        .map(|r| (r.seq, r.hash.clone()))
        .unwrap_or((0, chain::GENESIS.to_owned()));
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(&hash)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let now = renkei_core::time::Clock::now(&renkei_core::time::SystemClock);
    let cp = Checkpoint::sign(keys, seq, &hash, Timestamp(now.micros()));
    chain::store_checkpoint(store, &cp).await.unwrap();
    std::fs::write(
        checkpoint_file,
        format!("{}\n", serde_json::to_string(&cp).unwrap()),
    )
    .unwrap();
}
