//! Tests on both backends: appends, group commit under concurrency, rollback, and each
//! way of tampering with the table.

use super::*;
use crate::export::{export_jsonl, recent};
use renkei_core::time::SystemClock;
use renkei_core::{Actor, Outcome, Timestamp};
use renkei_crypto::RootKey;
use renkei_store::sqlx;
use renkei_store::{Backend, store_test};

fn keys() -> Arc<KeyStore> {
    Arc::new(KeyStore::from_keys(
        RootKey::from_hex(&"ab".repeat(32)).unwrap(),
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
    .request(format!("req-{i}"))
    .detail(serde_json::json!({ "i": i }))
}

async fn audit_with_entries(store: &Store, n: usize, cp_dir: &std::path::Path) -> Audit {
    let audit = Audit::new(
        store.clone(),
        keys(),
        Arc::new(SystemClock),
        Some(cp_dir.join("checkpoints.jsonl")),
    );
    let mut tx = store.begin().await.unwrap();
    let events: Vec<_> = (1..=n).map(ev).collect();
    audit.append_in(&mut tx, &events).await.unwrap();
    tx.commit().await.unwrap();
    audit
}

/// Verifies with the audit's own keys, without recording the verification.
async fn verify_own(audit: &Audit) -> Result<VerifyReport, AuditError> {
    verify(audit.store(), &audit.own_verify_options()).await
}

async fn drop_guards(store: &Store) {
    let sql = match store.backend() {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
        Backend::Postgres => {
            "DROP TRIGGER audit_log_no_change ON audit_log; DROP TRIGGER audit_log_no_truncate ON audit_log;"
        }
    };
    sqlx::raw_sql(sql).execute(store.pool()).await.unwrap();
}

async fn exec(store: &Store, sql: &str) {
    sqlx::raw_sql(sql).execute(store.pool()).await.unwrap();
}

fn first(r: &VerifyReport) -> (i64, ProblemKind) {
    let p = r
        .first_problem()
        .unwrap_or_else(|| panic!("no problem found: {r:?}"));
    (p.seq, p.kind)
}

async fn appends_chain_and_verifies(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_with_entries(&store, 10, dir.path()).await;
    let seq = audit.record(ev(11)).await.unwrap();
    assert_eq!(seq, 11);
    let r = verify_own(&audit).await.unwrap();
    assert!(r.is_ok(), "{r:?}");
    assert_eq!((r.entries, r.last_seq, r.mac_checked), (11, 11, true));
    let cp = audit.checkpoint().await.unwrap().unwrap();
    assert_eq!(cp.seq, 11);
    assert!(
        audit.checkpoint().await.unwrap().is_none(),
        "no new checkpoint without new entries"
    );
    let r = verify_own(&audit).await.unwrap();
    assert_eq!((r.checkpoints, r.latest_checkpoint), (1, Some(11)));
    // The file mirrors the store.
    let text = std::fs::read_to_string(dir.path().join("checkpoints.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 1);
}

async fn group_commit_under_concurrency(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_with_entries(&store, 0, dir.path()).await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let a = audit.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..100 {
                seqs.push(a.record(ev(t * 1000 + i)).await.unwrap());
            }
            seqs
        }));
    }
    // A same-transaction writer interleaves with the group commits.
    for i in 0..20 {
        let mut tx = store.begin().await.unwrap();
        audit.append_in(&mut tx, &[ev(90_000 + i)]).await.unwrap();
        tx.commit().await.unwrap();
    }
    let mut all: Vec<i64> = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 800, "every record got its own sequence number");
    let r = verify_own(&audit).await.unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
    assert_eq!(r.entries, 820);
}

async fn rolled_back_changes_leave_no_entry(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_with_entries(&store, 3, dir.path()).await;
    let mut tx = store.begin().await.unwrap();
    audit.append_in(&mut tx, &[ev(4), ev(5)]).await.unwrap();
    tx.rollback().await.unwrap();
    let seq = audit.record(ev(6)).await.unwrap();
    assert_eq!(
        seq, 4,
        "the rolled-back entries did not consume sequence numbers"
    );
    assert!(verify_own(&audit).await.unwrap().is_ok());
}

async fn detects_modification(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_with_entries(&store, 10, dir.path()).await;
    drop_guards(&store).await;
    exec(
        &store,
        "UPDATE audit_log SET object = 'thing:innocent' WHERE seq = 5",
    )
    .await;
    let r = verify_own(&audit).await.unwrap();
    assert_eq!(first(&r), (5, ProblemKind::Modified), "{:?}", r.problems);
}

async fn detects_deletion(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_with_entries(&store, 10, dir.path()).await;
    drop_guards(&store).await;
    exec(&store, "DELETE FROM audit_log WHERE seq = 5").await;
    let r = verify_own(&audit).await.unwrap();
    assert_eq!(first(&r), (5, ProblemKind::Deleted), "{:?}", r.problems);
    assert_eq!(
        r.problems.len(),
        1,
        "one deletion, one finding: {:?}",
        r.problems
    );
}

async fn detects_deletion_with_renumbering(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_with_entries(&store, 10, dir.path()).await;
    drop_guards(&store).await;
    exec(&store, "DELETE FROM audit_log WHERE seq = 5").await;
    exec(
        &store,
        "UPDATE audit_log SET seq = -(seq - 1) WHERE seq > 5",
    )
    .await;
    exec(&store, "UPDATE audit_log SET seq = -seq WHERE seq < 0").await;
    exec(&store, "UPDATE audit_head SET seq = 9").await;
    let r = verify_own(&audit).await.unwrap();
    assert_eq!(first(&r), (5, ProblemKind::Deleted), "{:?}", r.problems);
}

async fn detects_insertion(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_with_entries(&store, 10, dir.path()).await;
    drop_guards(&store).await;
    // A forger with database access computes a perfectly chained entry after entry 4 and
    // shifts the rest down. Without the MAC key, the entry's MAC is wrong.
    let h4: String = sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = 4")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let mut prev = [0u8; 32];
    hex::decode_to_slice(&h4, &mut prev).unwrap();
    let fields = [
        "user:x",
        "x",
        "researcher",
        "dataset.read",
        "dataset:ndb",
        "allowed",
        "",
        "r",
        "{}",
    ];
    let fake = hex::encode(entry_hash(&prev, 1, fields));
    exec(
        &store,
        "UPDATE audit_log SET seq = -(seq + 1) WHERE seq >= 5",
    )
    .await;
    exec(&store, "UPDATE audit_log SET seq = -seq WHERE seq < 0").await;
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, actor_name, actor_roles, action, object, outcome, reason, request_id, detail, prev_hash, hash, mac) \
         VALUES (5, 1, 'user:x', 'x', 'researcher', 'dataset.read', 'dataset:ndb', 'allowed', '', 'r', '{}', $1, $2, $3)",
    )
    .bind(&h4)
    .bind(&fake)
    .bind("00".repeat(32))
    .execute(store.pool())
    .await
    .unwrap();
    let r = verify_own(&audit).await.unwrap();
    assert_eq!(first(&r), (5, ProblemKind::Inserted), "{:?}", r.problems);
    // Without the key, the chain still shows it: the entry after it does not link to it.
    let r = verify(&store, &VerifyOptions::default()).await.unwrap();
    assert!(!r.is_ok());
    assert!(r.problems.iter().any(|p| p.seq == 6), "{:?}", r.problems);
}

async fn detects_reordering(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_with_entries(&store, 10, dir.path()).await;
    drop_guards(&store).await;
    exec(&store, "UPDATE audit_log SET seq = -1 WHERE seq = 5").await;
    exec(&store, "UPDATE audit_log SET seq = 5 WHERE seq = 6").await;
    exec(&store, "UPDATE audit_log SET seq = 6 WHERE seq = -1").await;
    let r = verify_own(&audit).await.unwrap();
    assert_eq!(first(&r), (5, ProblemKind::Reordered), "{:?}", r.problems);
}

async fn detects_truncation_through_checkpoints(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_with_entries(&store, 10, dir.path()).await;
    audit.checkpoint().await.unwrap().unwrap();
    drop_guards(&store).await;
    // Cut the tail and repair the head so the chain alone looks whole, and remove the
    // checkpoint from the store too: the file outside the store still has it.
    let h7: String = sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = 7")
        .fetch_one(store.pool())
        .await
        .unwrap();
    exec(&store, "DELETE FROM audit_log WHERE seq > 7").await;
    sqlx::query("UPDATE audit_head SET seq = 7, hash = $1")
        .bind(&h7)
        .execute(store.pool())
        .await
        .unwrap();
    let sql = match store.backend() {
        Backend::Sqlite => {
            "DROP TRIGGER audit_checkpoints_no_delete; DELETE FROM audit_checkpoints;"
        }
        Backend::Postgres => {
            "DROP TRIGGER audit_checkpoints_no_change ON audit_checkpoints; DELETE FROM audit_checkpoints;"
        }
    };
    exec(&store, sql).await;
    let r = verify_own(&audit).await.unwrap();
    assert_eq!(first(&r), (8, ProblemKind::Truncated), "{:?}", r.problems);
}

async fn detects_forged_checkpoint(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_with_entries(&store, 3, dir.path()).await;
    let other = KeyStore::from_keys(RootKey::generate(), None);
    let forged = Checkpoint::sign(&other, 2, &"00".repeat(32), Timestamp(1));
    chain::store_checkpoint(&store, &forged).await.unwrap();
    let r = verify_own(&audit).await.unwrap();
    assert!(
        r.problems
            .iter()
            .any(|p| p.seq == 2 && p.kind == ProblemKind::Checkpoint),
        "{:?}",
        r.problems
    );
    // The store holds a checkpoint the file kept outside it never saw.
    assert!(
        r.problems
            .iter()
            .any(|p| p.seq == 0 && p.detail.contains("checkpoint file is missing")),
        "{:?}",
        r.problems
    );
}

async fn guards_refuse_changes(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let _audit = audit_with_entries(&store, 2, dir.path()).await;
    for sql in [
        "UPDATE audit_log SET object = 'x' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 2",
    ] {
        let e = sqlx::query(sql).execute(store.pool()).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
    }
}

async fn export_and_filters(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_with_entries(&store, 5, dir.path()).await;
    audit
        .record(AuditEvent::new(
            Actor::anonymous(Some("mallory")),
            renkei_core::Action::AuthPassword,
            "user:?",
            Outcome::denied("bad_credentials"),
        ))
        .await
        .unwrap();
    let mut out = Vec::new();
    let n = export_jsonl(&store, &ExportFilter::default(), &mut out)
        .await
        .unwrap();
    assert_eq!(n, 6);
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[5]["reason"], "bad_credentials");
    assert_eq!(lines[0]["detail"]["i"], 1);
    let denied = recent(
        &store,
        &ExportFilter {
            denied_only: true,
            ..Default::default()
        },
        10,
    )
    .await
    .unwrap();
    assert_eq!(denied.len(), 1);
    let auth = recent(
        &store,
        &ExportFilter {
            action_prefix: Some("auth.".into()),
            ..Default::default()
        },
        10,
    )
    .await
    .unwrap();
    assert_eq!(auth.len(), 1);
    let future = ExportFilter {
        since: Some(Timestamp::parse("2999-01-01").unwrap()),
        ..Default::default()
    };
    let mut out = Vec::new();
    assert_eq!(export_jsonl(&store, &future, &mut out).await.unwrap(), 0);
}

async fn readers_are_checked_and_record_themselves(store: Store) {
    use renkei_core::{AuthMethod, Caller, Role, UserId, Username};
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_with_entries(&store, 3, dir.path()).await;
    let person = |role: Role| {
        Caller::user(
            UserId::from_stored(format!("u-{role}")),
            Username::parse(role.code()).unwrap(),
            vec![role],
            AuthMethod::SessionMfa,
            "req-x",
        )
    };
    // An admin runs the platform but does not read the supervisor's log.
    let err = audit.reader(&person(Role::Admin)).await.err().unwrap();
    assert!(matches!(err, AuditError::Denied(_)), "{err}");
    let reader = audit.reader(&person(Role::Auditor)).await.unwrap();
    let rows = reader.recent(&ExportFilter::default(), 100).await.unwrap();
    assert_eq!(rows.len(), 4, "three entries and the admin's refusal");
    let mut out = Vec::new();
    assert_eq!(
        reader
            .export(&ExportFilter::default(), &mut out)
            .await
            .unwrap(),
        5
    );
    assert!(reader.verify().await.unwrap().is_ok());
    let log = recent(&store, &ExportFilter::default(), 100).await.unwrap();
    let actions: Vec<(&str, &str, &str)> = log
        .iter()
        .rev()
        .skip(3)
        .map(|e| (e.action.as_str(), e.actor.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("audit.read", "user:u-admin", "denied"),
            ("audit.read", "user:u-auditor", "allowed"),
            ("audit.export", "user:u-auditor", "allowed"),
            ("audit.verify", "user:u-auditor", "allowed"),
        ]
    );
    assert!(
        log[0].detail.contains("\"via\":\"session_mfa\""),
        "{}",
        log[0].detail
    );
}

store_test!(
    readers_are_checked_and_record_themselves,
    appends_chain_and_verifies,
    group_commit_under_concurrency,
    rolled_back_changes_leave_no_entry,
    detects_modification,
    detects_deletion,
    detects_deletion_with_renumbering,
    detects_insertion,
    detects_reordering,
    detects_truncation_through_checkpoints,
    detects_forged_checkpoint,
    guards_refuse_changes,
    export_and_filters,
);
