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

/// The supervisor's witness, on its own machine, over the API: it countersigns while the
/// log continues; after the operator rewrites history with the master key (triggers
/// dropped, hashes, MACs and checkpoints recomputed, countersignatures deleted), the
/// witness's key and record catch it and the witness raises the alarm.
async fn the_witness_catches_what_the_master_key_can_forge(store: Store) {
    let mut env = populated(&store);
    let supervisor = tempfile::tempdir().unwrap();
    let key = supervisor.path().join("witness.key");
    let log = supervisor.path().join("witnessed.jsonl");
    let token_file = supervisor.path().join("token");
    let pk = env
        .ok(
            &["audit", "witness-key", "--out", key.to_str().unwrap()],
            "",
        )
        .trim()
        .to_owned();
    assert_eq!(pk.len(), 64, "{pk}");
    env.vars
        .push(("RENKEI_AUDIT_WITNESS_KEYS".into(), pk.clone()));
    env.ok(
        &[
            "user",
            "add",
            "--username",
            "watcher",
            "--role",
            "auditor",
            "--password-stdin",
        ],
        &format!("{PW}\n"),
    );
    let server = env.start(&["serve"], "Renkei listening on");
    let url = server.url.clone();
    let c = client();
    sign_in_and_enrol(&c, &url, "watcher", PW).await;
    std::fs::write(
        &token_file,
        create_api_token(&c, &server.url, "witness").await,
    )
    .unwrap();
    let witness_args = [
        "audit",
        "witness",
        "--key",
        key.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
        "--url",
        url.as_str(),
        "--token-file",
        token_file.to_str().unwrap(),
    ];
    let (code, out, err) = env.run(&witness_args, "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("countersigned the log up to entry"), "{out}");
    let verify_args = [
        "audit",
        "verify",
        "--witness-key",
        pk.as_str(),
        "--witness-log",
        log.to_str().unwrap(),
    ];
    let (code, out, err) = env.run(&verify_args, "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("audit log OK"), "{out}");
    assert!(out.contains("witnessed: up to entry"), "{out}");
    // The auditor's API reports the same, against the registered key.
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/audit/verify", server.url))
        .bearer_auth(std::fs::read_to_string(&token_file).unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["witness_checked"].as_bool()),
        (Some(true), Some(true)),
        "{v}"
    );
    assert_eq!(server.stop(), 0);

    let keys = renkei_crypto::KeyStore::load_master(&Default::default(), env.data_dir()).unwrap();
    renkei_audit::testing::forge_rewrite(
        &store,
        &keys,
        &env.data_dir().join("audit/checkpoints.jsonl"),
        true,
        |rows| rows[3].actor_name = "someone else".into(),
    )
    .await;
    let (code, out, err) = env.run(&verify_args, "");
    assert_eq!(
        code, 1,
        "the forgery must not pass the witness's key:\n{out}{err}"
    );
    assert!(out.contains("witness countersigned"), "{out}");
    let server = env.start(&["serve"], "Renkei listening on");
    let mut args = witness_args.to_vec();
    let url = server.url.clone();
    args[7] = url.as_str();
    let (code, out, err) = env.run(&args, "");
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("was rewritten"), "{err}");
}

store_test!(
    the_witness_catches_what_the_master_key_can_forge,
    cli_catches_modification,
    cli_catches_deletion,
    cli_catches_insertion,
    cli_catches_reordering,
    cli_catches_a_cut_tail
);
