//! The log against its own operator. The attacker here holds the master key and the
//! database: drops the append-only triggers, rewrites the entries every way there is,
//! recomputes every hash and MAC, re-signs a checkpoint over the forged head and fixes
//! the head row and the checkpoint file. Verification with the platform's own keys is
//! fooled (the tests show it); verification with the witness's public key is not.

use super::*;
use crate::witness::{
    RoundError, Witness, WitnessRefusal, load_witness_key, new_witness_key, read_witness_log,
};
use renkei_core::time::SystemClock;
use renkei_core::{Actor, Caller, Outcome};
use renkei_crypto::RootKey;
use renkei_store::sqlx;
use renkei_store::{Backend, store_test};

fn keys() -> Arc<KeyStore> {
    Arc::new(KeyStore::from_keys(
        RootKey::from_hex(&"cd".repeat(32)).unwrap(),
        None,
    ))
}

fn ev(i: usize) -> AuditEvent {
    AuditEvent::new(
        Actor::cli("tester", "audit"),
        renkei_core::Action::Probe,
        format!("thing:{i}"),
        Outcome::Allowed,
    )
    .detail(serde_json::json!({ "i": i }))
}

fn now() -> i64 {
    renkei_core::time::Clock::now(&SystemClock).micros()
}

struct World {
    store: Store,
    audit: Audit,
    witness: Witness,
    witness_key: ed25519_dalek::VerifyingKey,
    witness_log: std::path::PathBuf,
    checkpoint_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl World {
    /// A log of `n` entries, countersigned once by a witness whose key lives apart.
    async fn new(store: &Store, n: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("auditor/witness.key");
        let witness_key = new_witness_key(&key_file).unwrap();
        let witness_log = dir.path().join("auditor/witnessed.jsonl");
        let checkpoint_file = dir.path().join("data/checkpoints.jsonl");
        let audit = Audit::with_witnesses(
            store.clone(),
            keys(),
            Arc::new(SystemClock),
            Some(checkpoint_file.clone()),
            vec![witness_key],
            600,
        );
        for i in 1..=n {
            audit.record(ev(i)).await.unwrap();
        }
        let witness = Witness::new(load_witness_key(&key_file).unwrap(), witness_log.clone());
        let w = Self {
            store: store.clone(),
            audit,
            witness,
            witness_key,
            witness_log,
            checkpoint_file,
            _dir: dir,
        };
        let signed = w.round().await.unwrap().expect("a first countersignature");
        assert_eq!(signed.seq, n as i64);
        w
    }

    async fn round(&self) -> Result<Option<WitnessedCheckpoint>, RoundError> {
        let reader = self
            .audit
            .reader(&Caller::operator("witness", renkei_core::Duty::Audit))
            .await
            .unwrap();
        self.witness.round(&reader, now()).await
    }

    /// What the operator's own keys say.
    async fn verify_as_operator(&self) -> VerifyReport {
        let mut opts = self.audit.own_verify_options();
        opts.witness_keys.clear();
        verify(&self.store, &opts).await.unwrap()
    }

    /// What the supervisor says, with the witness's public key (and, if `with_log`, the
    /// witness's own record) and nothing of the operator's.
    async fn verify_as_supervisor(&self, with_log: bool) -> VerifyReport {
        let opts = VerifyOptions {
            witness_keys: vec![self.witness_key],
            witness_log: with_log.then(|| self.witness_log.clone()),
            ..Default::default()
        };
        verify(&self.store, &opts).await.unwrap()
    }

    async fn rewrite(&self, wipe_witness: bool, edit: impl FnOnce(&mut Vec<EntryRow>)) {
        crate::testing::forge_rewrite(
            &self.store,
            &keys(),
            &self.checkpoint_file,
            wipe_witness,
            edit,
        )
        .await;
    }
}

fn has(r: &VerifyReport, kind: ProblemKind, text: &str) -> bool {
    r.problems
        .iter()
        .any(|p| p.kind == kind && p.detail.contains(text))
}

async fn witnessed_log_verifies(store: Store) {
    let w = World::new(&store, 6).await;
    let r = w.verify_as_supervisor(true).await;
    assert!(r.is_ok(), "{:?}", r.problems);
    assert!(r.witness_checked);
    assert_eq!(r.latest_witnessed, Some(6));
    // The witness's round itself is on the record, after what it countersigned.
    assert_eq!(r.tail_entries, (r.last_seq - 6) as u64);
    assert!(
        !r.mac_checked,
        "the supervisor holds no secret of the operator's"
    );
    // A second round moves the witnessed head forward; a third with nothing new is idle.
    w.audit.record(ev(99)).await.unwrap();
    let second = w.round().await.unwrap().unwrap();
    assert!(second.seq > 6);
    assert_eq!(read_witness_log(&w.witness_log).unwrap().len(), 2);
    let r = w.verify_as_supervisor(true).await;
    assert!(r.is_ok(), "{:?}", r.problems);
    assert_eq!(r.latest_witnessed, Some(second.seq));
}

/// Each of the five tampering kinds, done with the master key, passes the operator's
/// own verification and fails the witness's, whether or not the forger also deletes the
/// stored countersignatures; and the witness refuses to countersign the forged head.
async fn full_power_rewrites_are_caught_by_the_witness(store: Store) {
    type Edit = fn(&mut Vec<EntryRow>);
    let attacks: [(&str, Edit); 5] = [
        ("modified", |rows| {
            rows[2].object = "dataset:elsewhere".into()
        }),
        ("deleted", |rows| {
            rows.remove(2);
        }),
        ("inserted", |rows| {
            let mut fake = rows[3].clone();
            fake.object = "dataset:planted".into();
            rows.insert(4, fake);
        }),
        ("reordered", |rows| rows.swap(2, 3)),
        ("truncated", |rows| rows.truncate(7)),
    ];
    for (name, edit) in attacks {
        for wipe in [false, true] {
            let fresh = match store.backend() {
                Backend::Sqlite => renkei_store::testing::TestDb::sqlite().await,
                Backend::Postgres => renkei_store::testing::TestDb::postgres().await.unwrap(),
            };
            let w = World::new(&fresh.store, 10).await;
            w.rewrite(wipe, edit).await;
            let own = w.verify_as_operator().await;
            assert!(
                own.is_ok(),
                "{name}: the forgery should fool the operator's own keys: {:?}",
                own.problems
            );
            let r = w.verify_as_supervisor(true).await;
            assert!(
                !r.is_ok(),
                "{name} (wipe {wipe}): the witness must catch it: {r:?}"
            );
            assert!(
                r.problems.iter().any(|p| p.detail.contains("witness")),
                "{name}: {:?}",
                r.problems
            );
            let refused = w.round().await.unwrap_err();
            assert!(
                matches!(
                    refused,
                    RoundError::Refused(
                        WitnessRefusal::Rewritten { .. } | WitnessRefusal::Truncated { .. }
                    )
                ),
                "{name}: {refused}"
            );
            if wipe {
                // Without the witness's own record the store's copies are gone, and
                // nothing countersigned remains: that is a failure too.
                let r = w.verify_as_supervisor(false).await;
                assert!(has(&r, ProblemKind::Unwitnessed, "countersigned"), "{r:?}");
            }
        }
    }
}

async fn stale_witnessing_fails(store: Store) {
    let w = World::new(&store, 3).await;
    let opts = |secs: i64| VerifyOptions {
        witness_keys: vec![w.witness_key],
        max_tail_secs: Some(600),
        now: Some(now() + secs * 1_000_000),
        ..Default::default()
    };
    let r = verify(&w.store, &opts(30)).await.unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
    assert!(
        r.tail_entries > 0,
        "the round's own entries are not yet witnessed"
    );
    let r = verify(&w.store, &opts(900)).await.unwrap();
    assert!(has(&r, ProblemKind::Stale, "not countersigned"), "{r:?}");
    assert!(r.tail_secs >= 900);
}

async fn verification_needs_a_trusted_key(store: Store) {
    let w = World::new(&store, 2).await;
    let r = verify(&w.store, &VerifyOptions::default()).await.unwrap();
    assert!(has(&r, ProblemKind::Checkpoint, "no trusted key"), "{r:?}");
    // A registered witness that never countersigned: nothing protects the log.
    let other = tempfile::tempdir().unwrap();
    let never = new_witness_key(&other.path().join("k")).unwrap();
    let r = verify(
        &w.store,
        &VerifyOptions {
            witness_keys: vec![never],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(has(&r, ProblemKind::Unwitnessed, "countersigned"), "{r:?}");
    assert!(
        has(&r, ProblemKind::Checkpoint, "not signed by a witness key"),
        "the other witness's countersignature is named: {r:?}"
    );
}

async fn platform_refuses_foreign_countersignatures(store: Store) {
    let w = World::new(&store, 2).await;
    let reader = w
        .audit
        .reader(&Caller::operator("witness", renkei_core::Duty::Audit))
        .await
        .unwrap();
    let cp = reader.latest_checkpoint().await.unwrap().unwrap();
    // A key that is not registered.
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let e = reader
        .accept_witness(&WitnessedCheckpoint::sign(&stranger, &cp, now()))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("registered witness"), "{e}");
    // The registered key, over a checkpoint this platform never signed.
    let key = load_witness_key(&w._dir.path().join("auditor/witness.key")).unwrap();
    let mut forged = cp.clone();
    forged.hash = "11".repeat(32);
    let e = reader
        .accept_witness(&WitnessedCheckpoint::sign(&key, &forged, now()))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("this platform signed"), "{e}");
    let log = crate::export::recent(&w.store, &ExportFilter::default(), 5)
        .await
        .unwrap();
    let refusals: Vec<_> = log
        .iter()
        .filter(|e| e.action == "audit.witness" && e.outcome == "denied")
        .map(|e| e.reason.as_str())
        .collect();
    assert_eq!(refusals, ["witness_refused", "witness_refused"]);
    // Countersignatures are append-only like the log.
    let e = sqlx::query("DELETE FROM audit_witness")
        .execute(store.pool())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
}

store_test!(
    witnessed_log_verifies,
    full_power_rewrites_are_caught_by_the_witness,
    stale_witnessing_fails,
    verification_needs_a_trusted_key,
    platform_refuses_foreign_countersignatures,
);
