//! `renkei audit verify` on a log tampered with in each of the four ways, plus a cut-off
//! tail, on each backend: it exits 1 and names the first entry affected.

use crate::harness::*;
use renkei_store::sqlx;
use renkei_store::{Backend, Store, store_test};

/// A platform with a dozen audit entries.
fn populated(store: &Store) -> Env {
    let env = Env::new(store.url());
    env.ok(
        &["init", "--admin", "root", "--password-stdin"],
        &format!("{PW}\n"),
    );
    for u in ["alice", "bob", "carol"] {
        env.ok(
            &[
                "user",
                "add",
                "--username",
                u,
                "--role",
                "researcher",
                "--password-stdin",
            ],
            &format!("{PW}\n"),
        );
        env.ok(&["user", "disable", u], "");
    }
    env.ok(&["audit", "checkpoint"], "");
    let (code, out, _) = env.run(&["audit", "verify"], "");
    assert_eq!(code, 0, "{out}");
    env
}

async fn unguard(store: &Store) {
    let sql = match store.backend() {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
        Backend::Postgres => "DROP TRIGGER audit_log_no_change ON audit_log;",
    };
    sqlx::raw_sql(sql).execute(store.pool()).await.unwrap();
}

fn verify_fails(env: &Env, entry: i64, kind: &str) -> String {
    let (code, out, err) = env.run(&["audit", "verify"], "");
    assert_eq!(code, 1, "tampering not detected:\n{out}\n{err}");
    let first = out.lines().next().unwrap_or("");
    assert!(
        first.starts_with(&format!("audit log FAILED: entry {entry} {kind}")),
        "{out}"
    );
    out
}

async fn cli_catches_modification(store: Store) {
    let env = populated(&store);
    unguard(&store).await;
    sqlx::query("UPDATE audit_log SET actor_name = 'someone else' WHERE seq = 4")
        .execute(store.pool())
        .await
        .unwrap();
    verify_fails(&env, 4, "modified");
}

async fn cli_catches_deletion(store: Store) {
    let env = populated(&store);
    unguard(&store).await;
    sqlx::query("DELETE FROM audit_log WHERE seq = 5")
        .execute(store.pool())
        .await
        .unwrap();
    verify_fails(&env, 5, "deleted");
}

async fn cli_catches_insertion(store: Store) {
    let env = populated(&store);
    unguard(&store).await;
    // Copy entry 3 to the end: a perfectly hashed entry, re-linked, but its MAC is from
    // another position's hash only if the forger had the key, which they do not.
    let h: String = sqlx::query_scalar("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let last: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM audit_log")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let mut prev = [0u8; 32];
    hex::decode_to_slice(&h, &mut prev).unwrap();
    let fields = [
        "user:x",
        "x",
        "admin",
        "user.roles",
        "user:y",
        "allowed",
        "",
        "r",
        "{}",
    ];
    let forged = hex::encode(renkei_audit::entry_hash(&prev, 1, fields));
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, actor_name, actor_roles, action, object, outcome, reason, request_id, detail, prev_hash, hash, mac) \
         VALUES ($1, 1, 'user:x', 'x', 'admin', 'user.roles', 'user:y', 'allowed', '', 'r', '{}', $2, $3, $4)",
    )
    .bind(last + 1)
    .bind(&h)
    .bind(&forged)
    .bind("ab".repeat(32))
    .execute(store.pool())
    .await
    .unwrap();
    verify_fails(&env, last + 1, "inserted");
}

async fn cli_catches_reordering(store: Store) {
    let env = populated(&store);
    unguard(&store).await;
    for sql in [
        "UPDATE audit_log SET seq = -1 WHERE seq = 6",
        "UPDATE audit_log SET seq = 6 WHERE seq = 7",
        "UPDATE audit_log SET seq = 7 WHERE seq = -1",
    ] {
        sqlx::query(sql).execute(store.pool()).await.unwrap();
    }
    verify_fails(&env, 6, "reordered");
}

async fn cli_catches_a_cut_tail(store: Store) {
    let env = populated(&store);
    unguard(&store).await;
    let keep = 5i64;
    let h: String = sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
        .bind(keep)
        .fetch_one(store.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_log WHERE seq > $1")
        .bind(keep)
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2")
        .bind(keep)
        .bind(&h)
        .execute(store.pool())
        .await
        .unwrap();
    let out = verify_fails(&env, keep + 1, "truncated");
    assert!(out.contains("checkpoint"), "{out}");
    // An auditor without the master key can still verify with the public key alone.
    let pk = env.ok(&["audit", "public-key"], "");
    std::fs::remove_dir_all(env.data_dir().join("keys")).unwrap();
    let (code, out, _) = env.run(&["audit", "verify", "--public-key", pk.trim()], "");
    assert_eq!(code, 1);
    assert!(out.contains("truncated"), "{out}");
}

store_test!(
    cli_catches_modification,
    cli_catches_deletion,
    cli_catches_insertion,
    cli_catches_reordering,
    cli_catches_a_cut_tail
);
