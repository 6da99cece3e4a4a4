//! The chain itself: how an entry is hashed, appended and checkpointed.

use crate::AuditError;
use renkei_core::{AuditEvent, Timestamp};
use renkei_crypto::{KeyStore, Purpose};
use renkei_store::sqlx::{self, Row as _};
use renkei_store::{Store, Tx};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::io::Write as _;
use std::path::Path;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain separation for entry hashes; bump the version if the encoding ever changes.
const ENTRY_TAG: &[u8] = b"renkei-audit-entry-v1";
const ENTRY_TAG_V2: &[u8] = b"renkei-audit-entry-v2";
const CHECKPOINT_TAG: &[u8] = b"renkei-audit-checkpoint-v1";

/// One stored entry, as in the `audit_log` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRow {
    /// Position in the log, from 1, without gaps.
    pub seq: i64,
    /// When, in unix microseconds.
    pub at: i64,
    /// `user:<id>`, `cli`, `system`, `anonymous`.
    pub actor: String,
    /// Username at the time.
    pub actor_name: String,
    /// Role codes at the time, comma-separated.
    pub actor_roles: String,
    /// Dotted verb.
    pub action: String,
    /// Object acted on.
    pub object: String,
    /// `allowed` or `denied`.
    pub outcome: String,
    /// Reason code for a denial, else empty.
    pub reason: String,
    /// Request or invocation id.
    pub request_id: String,
    /// JSON detail.
    pub detail: String,
    /// Hash of the previous entry (hex).
    pub prev_hash: String,
    /// Hash of this entry (hex).
    pub hash: String,
    /// HMAC of `hash` under the audit MAC key (hex).
    pub mac: String,
    /// The client's network address as the platform saw it (or as a trusted proxy
    /// reported it); empty for the command line and the platform itself.
    #[serde(default)]
    pub client: String,
}

/// Columns in table order, for SELECTs.
pub(crate) const COLUMNS: &str = "seq, at, actor, actor_name, actor_roles, action, object, outcome, reason, request_id, detail, prev_hash, hash, mac, client";

impl EntryRow {
    pub(crate) fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            seq: r.try_get(0)?,
            at: r.try_get(1)?,
            actor: r.try_get(2)?,
            actor_name: r.try_get(3)?,
            actor_roles: r.try_get(4)?,
            action: r.try_get(5)?,
            object: r.try_get(6)?,
            outcome: r.try_get(7)?,
            reason: r.try_get(8)?,
            request_id: r.try_get(9)?,
            detail: r.try_get(10)?,
            prev_hash: r.try_get(11)?,
            hash: r.try_get(12)?,
            mac: r.try_get(13)?,
            client: r.try_get(14)?,
        })
    }

    /// The hash this entry's content gives after `prev`.
    pub fn expected_hash(&self, prev: &[u8; 32]) -> [u8; 32] {
        entry_hash_with_client(
            prev,
            self.at,
            [
                self.actor.as_str(),
                &self.actor_name,
                &self.actor_roles,
                &self.action,
                &self.object,
                &self.outcome,
                &self.reason,
                &self.request_id,
                &self.detail,
            ],
            &self.client,
        )
    }
}

/// The hash of an entry: SHA-256 over a tag, the previous hash, the time and each text
/// field with a length prefix (so no two different entries encode the same bytes).
///
/// The sequence number is deliberately not hashed: order is carried by the chain, which
/// lets `verify` tell a moved entry (genuine, but out of place) from a modified one.
pub fn entry_hash(prev: &[u8; 32], at: i64, fields: [&str; 9]) -> [u8; 32] {
    entry_hash_with_client(prev, at, fields, "")
}

/// [`entry_hash`] of an entry that records the client's address. An entry without one
/// hashes exactly as before the address was recorded (tag v1), so older logs verify
/// unchanged; with one, the tag is v2 and the address is a tenth field.
pub fn entry_hash_with_client(
    prev: &[u8; 32],
    at: i64,
    fields: [&str; 9],
    client: &str,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(if client.is_empty() {
        ENTRY_TAG
    } else {
        ENTRY_TAG_V2
    });
    h.update(prev);
    h.update(at.to_be_bytes());
    for f in fields {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    if !client.is_empty() {
        h.update((client.len() as u64).to_be_bytes());
        h.update(client.as_bytes());
    }
    h.finalize().into()
}

/// Rows per INSERT statement. Fixed sizes keep the prepared-statement cache small.
const CHUNK: usize = 64;
const NCOLS: usize = 15;

/// Appends `events` in `tx` and returns their sequence numbers.
pub(crate) async fn append(
    tx: &mut Tx,
    keys: &KeyStore,
    now: Timestamp,
    events: &[AuditEvent],
) -> Result<Vec<i64>, AuditError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let n = i64::try_from(events.len()).unwrap_or(i64::MAX);
    // Taking the head row first serializes appenders (row lock on PostgreSQL; SQLite
    // transactions from Store::begin already hold the write lock).
    let head = sqlx::query("UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash")
        .bind(n)
        .fetch_one(&mut **tx)
        .await?;
    let last: i64 = head.try_get(0)?;
    let mut prev_hex: String = head.try_get(1)?;
    let mut prev = [0u8; 32];
    hex::decode_to_slice(&prev_hex, &mut prev)
        .map_err(|_| sqlx::Error::Protocol("audit head hash is not hex".into()))?;
    let first = last - n + 1;
    let macer = keys.macer(Purpose::AuditMac);
    let mut rows = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let detail = serde_json::to_string(&e.detail).unwrap_or_else(|_| "{}".into());
        let fields = [
            e.actor.id.as_str(),
            &e.actor.name,
            &e.actor.roles,
            e.action.code(),
            &e.object,
            e.outcome.code(),
            e.outcome.reason(),
            &e.request_id,
            &detail,
        ];
        let hash = entry_hash_with_client(&prev, now.micros(), fields, &e.client);
        let hash_hex = hex::encode(hash);
        rows.push(EntryRow {
            seq: first + i as i64,
            at: now.micros(),
            actor: e.actor.id.clone(),
            actor_name: e.actor.name.clone(),
            actor_roles: e.actor.roles.clone(),
            action: e.action.code().to_owned(),
            object: e.object.clone(),
            outcome: e.outcome.code().to_owned(),
            reason: e.outcome.reason().to_owned(),
            request_id: e.request_id.clone(),
            detail,
            prev_hash: std::mem::replace(&mut prev_hex, hash_hex.clone()),
            mac: hex::encode(macer.mac(&hash)),
            hash: hash_hex,
            client: e.client.clone(),
        });
        prev = hash;
    }
    for chunk in rows.chunks(CHUNK) {
        insert_rows(tx, chunk).await?;
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&prev_hex)
        .execute(&mut **tx)
        .await?;
    metrics::counter!("renkei_audit_entries_total").increment(events.len() as u64);
    Ok(rows.iter().map(|r| r.seq).collect())
}

pub(crate) async fn insert_rows(tx: &mut Tx, rows: &[EntryRow]) -> Result<(), sqlx::Error> {
    let mut sql = format!("INSERT INTO audit_log ({}) VALUES ", crate::chain::COLUMNS);
    for i in 0..rows.len() {
        if i > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..NCOLS {
            if c > 0 {
                sql.push(',');
            }
            sql.push('$');
            sql.push_str(&(i * NCOLS + c + 1).to_string());
        }
        sql.push(')');
    }
    let mut q = sqlx::query(&sql);
    for r in rows {
        q = q
            .bind(r.seq)
            .bind(r.at)
            .bind(&r.actor)
            .bind(&r.actor_name)
            .bind(&r.actor_roles)
            .bind(&r.action)
            .bind(&r.object)
            .bind(&r.outcome)
            .bind(&r.reason)
            .bind(&r.request_id)
            .bind(&r.detail)
            .bind(&r.prev_hash)
            .bind(&r.hash)
            .bind(&r.mac)
            .bind(&r.client);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// The committed head: (last sequence number, its hash).
pub(crate) async fn head(store: &Store) -> Result<(i64, String), AuditError> {
    let r = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(store.pool())
        .await?;
    Ok((r.try_get(0)?, r.try_get(1)?))
}

/// A signed statement that the log had `seq` entries ending in `hash` at time `at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Sequence number of the head entry.
    pub seq: i64,
    /// When signed (unix microseconds).
    pub at: i64,
    /// Hash of the head entry (hex).
    pub hash: String,
    /// Ed25519 public key (hex) that signed.
    pub public_key: String,
    /// Ed25519 signature (hex).
    pub signature: String,
}

impl Checkpoint {
    fn message(seq: i64, hash_hex: &str, at: i64) -> Vec<u8> {
        let mut m = CHECKPOINT_TAG.to_vec();
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend_from_slice(hash_hex.as_bytes());
        m.extend_from_slice(&at.to_be_bytes());
        m
    }

    /// Signs a checkpoint with the key store's checkpoint key.
    pub fn sign(keys: &KeyStore, seq: i64, hash_hex: &str, at: Timestamp) -> Self {
        use ed25519_dalek::Signer as _;
        let sk = keys.checkpoint_signing_key();
        let sig = sk.sign(&Self::message(seq, hash_hex, at.micros()));
        Self {
            seq,
            at: at.micros(),
            hash: hash_hex.to_owned(),
            public_key: hex::encode(sk.verifying_key().to_bytes()),
            signature: hex::encode(sig.to_bytes()),
        }
    }

    /// Whether the signature is valid and was made by `expected` (when given; otherwise
    /// by the key the checkpoint names, which proves only internal consistency).
    pub fn is_valid(&self, expected: Option<&ed25519_dalek::VerifyingKey>) -> bool {
        let Ok(pk_bytes) =
            <[u8; 32]>::try_from(hex::decode(&self.public_key).unwrap_or_default().as_slice())
        else {
            return false;
        };
        let Ok(pk) = ed25519_dalek::VerifyingKey::from_bytes(&pk_bytes) else {
            return false;
        };
        if expected.is_some_and(|e| e != &pk) {
            return false;
        }
        let Ok(sig_bytes) =
            <[u8; 64]>::try_from(hex::decode(&self.signature).unwrap_or_default().as_slice())
        else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&sig_bytes);
        pk.verify_strict(&Self::message(self.seq, &self.hash, self.at), &sig)
            .is_ok()
    }
}

pub(crate) async fn store_checkpoint(store: &Store, cp: &Checkpoint) -> Result<(), AuditError> {
    // Another process may have checkpointed the same head already; that is fine.
    let r = sqlx::query("INSERT INTO audit_checkpoints (seq, at, hash, public_key, signature) VALUES ($1, $2, $3, $4, $5)")
        .bind(cp.seq)
        .bind(cp.at)
        .bind(&cp.hash)
        .bind(&cp.public_key)
        .bind(&cp.signature)
        .execute(store.pool())
        .await;
    match r {
        Err(e) if renkei_store::is_unique_violation(&e) => Ok(()),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

pub(crate) fn append_checkpoint_file(path: &Path, cp: &Checkpoint) -> Result<(), AuditError> {
    let io = |err| AuditError::CheckpointFile {
        path: path.display().to_string(),
        err,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    let mut line = serde_json::to_string(cp).unwrap_or_default();
    line.push('\n');
    f.write_all(line.as_bytes()).map_err(io)?;
    f.sync_data().map_err(io)
}

/// Reads every checkpoint from the store and the file. Unparseable file lines are
/// returned as errors in the second list (they are reported, not ignored).
pub(crate) async fn load_checkpoints(
    store: &Store,
    file: Option<&Path>,
) -> Result<(Vec<Checkpoint>, Vec<String>), AuditError> {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    let rows = sqlx::query(
        "SELECT seq, at, hash, public_key, signature FROM audit_checkpoints ORDER BY seq",
    )
    .fetch_all(store.pool())
    .await?;
    for r in rows {
        out.push(Checkpoint {
            seq: r.try_get(0)?,
            at: r.try_get(1)?,
            hash: r.try_get(2)?,
            public_key: r.try_get(3)?,
            signature: r.try_get(4)?,
        });
    }
    if let Some(path) = file {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for (i, line) in text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                {
                    match serde_json::from_str::<Checkpoint>(line) {
                        Ok(cp) => out.push(cp),
                        Err(_) => {
                            bad.push(format!("{}:{}: not a checkpoint", path.display(), i + 1))
                        }
                    }
                }
            }
            // The file is the copy kept out of the database's reach: its absence, once
            // checkpoints exist, is a finding, not a reason to trust the store alone.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !out.is_empty() {
                    bad.push(format!(
                        "{}: the checkpoint file is missing, but the store holds {} checkpoints",
                        path.display(),
                        out.len()
                    ));
                }
            }
            Err(err) => {
                return Err(AuditError::CheckpointFile {
                    path: path.display().to_string(),
                    err,
                });
            }
        }
    }
    out.sort_by_key(|c| (c.seq, c.at));
    out.dedup();
    Ok((out, bad))
}

/// The newest checkpoint in the store.
pub(crate) async fn latest_checkpoint(store: &Store) -> Result<Option<Checkpoint>, AuditError> {
    let r = sqlx::query(
        "SELECT seq, at, hash, public_key, signature FROM audit_checkpoints ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(store.pool())
    .await?;
    r.map(|r| {
        Ok(Checkpoint {
            seq: r.try_get(0)?,
            at: r.try_get(1)?,
            hash: r.try_get(2)?,
            public_key: r.try_get(3)?,
            signature: r.try_get(4)?,
        })
    })
    .transpose()
}

/// Every countersigned checkpoint in the store.
pub(crate) async fn load_witnessed(
    store: &Store,
) -> Result<Vec<crate::witness::WitnessedCheckpoint>, AuditError> {
    let rows = sqlx::query(
        "SELECT seq, hash, at, witnessed_at, witness_key, signature FROM audit_witness ORDER BY seq",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(crate::witness::WitnessedCheckpoint {
                seq: r.try_get(0)?,
                hash: r.try_get(1)?,
                at: r.try_get(2)?,
                witnessed_at: r.try_get(3)?,
                witness_key: r.try_get(4)?,
                signature: r.try_get(5)?,
            })
        })
        .collect()
}

/// Entries after `seq`, oldest first, at most `limit`.
pub(crate) async fn entries_after(
    store: &Store,
    seq: i64,
    limit: i64,
) -> Result<Vec<EntryRow>, AuditError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT {}",
        limit.clamp(1, 100_000)
    ))
    .bind(seq)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| EntryRow::from_row(r).map_err(Into::into))
        .collect()
}

/// Stores a countersigned checkpoint (a second copy of the same one is fine).
pub(crate) async fn store_witnessed(
    store: &Store,
    w: &crate::witness::WitnessedCheckpoint,
) -> Result<(), AuditError> {
    let r = sqlx::query(
        "INSERT INTO audit_witness (seq, hash, at, witnessed_at, witness_key, signature) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(w.seq)
    .bind(&w.hash)
    .bind(w.at)
    .bind(w.witnessed_at)
    .bind(&w.witness_key)
    .bind(&w.signature)
    .execute(store.pool())
    .await;
    match r {
        Err(e) if renkei_store::is_unique_violation(&e) => Ok(()),
        other => other.map(|_| ()).map_err(Into::into),
    }
}
