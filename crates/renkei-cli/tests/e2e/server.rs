//! The server binary over a real socket: sign-in with password and TOTP, the demo, a
//! store that cannot be reached, and a server killed mid-flight.

use crate::harness::*;
use renkei_store::{Store, store_test};
use reqwest::StatusCode;

async fn sign_in_with_password_and_totp_over_http(store: Store) {
    let env = Env::new(store.url());
    env.ok(
        &["init", "--admin", "root", "--password-stdin"],
        &format!("{PW}\n"),
    );
    let out = env.ok(
        &[
            "user",
            "add",
            "--username",
            "alice",
            "--display-name",
            "有栖",
            "--role",
            "researcher",
            "--password-stdin",
        ],
        &format!("{PW}\n"),
    );
    assert!(out.contains("created user alice"), "{out}");
    let server = env.start(&["serve"], "Renkei listening on");
    let base = server.url.clone();
    let c = client();

    let login = c
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = c
        .post(format!("{base}/login"))
        .form(&[
            ("csrf", csrf(&login).as_str()),
            ("username", "alice"),
            ("password", PW),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/mfa/enrol");
    let enrol = c
        .get(format!("{base}/mfa/enrol"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let i = enrol
        .find("<code class=\"secret\">")
        .unwrap_or_else(|| panic!("{enrol}"))
        + 21;
    let secret = enrol[i..i + enrol[i..].find('<').unwrap()].replace(' ', "");
    let code = renkei_accounts::current_code(&secret, now_secs()).unwrap();
    let r = c
        .post(format!("{base}/mfa/enrol"))
        .form(&[("csrf", csrf(&enrol).as_str()), ("code", &code)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/home");
    let home = c.get(format!("{base}/home")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let home = home.text().await.unwrap();
    assert!(home.contains("有栖") && home.contains("研究者（利活用者）"));

    // Out, and back in with the challenge (not enrolment) this time.
    c.post(format!("{base}/logout"))
        .form(&[("csrf", csrf(&home).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.get(format!("{base}/home")).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let login = c
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = c
        .post(format!("{base}/login"))
        .form(&[
            ("csrf", csrf(&login).as_str()),
            ("username", "alice"),
            ("password", PW),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/mfa");
    let mfa = c
        .get(format!("{base}/mfa"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = c
        .post(format!("{base}/mfa"))
        .form(&[("csrf", csrf(&mfa).as_str()), ("code", &next_code(&secret))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/home");
    let me: serde_json::Value = c
        .get(format!("{base}/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "alice");

    assert_eq!(server.stop(), 0, "clean shutdown on SIGTERM");
    let (code, out, err) = env.run(&["audit", "verify"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("audit log OK"), "{out}");
    let export = env.ok(&["audit", "export"], "");
    for action in [
        "user.create",
        "auth.password",
        "mfa.enrol",
        "auth.mfa",
        "auth.signout",
        "server.start",
        "server.stop",
    ] {
        assert!(
            export.contains(&format!("\"action\":\"{action}\"")),
            "{action} missing from the log"
        );
    }
    assert!(
        !export.contains(PW) && !export.contains(&secret),
        "no secrets in the log"
    );
    // Every entry made over the network names the client's address (and hashes it:
    // the verification above covered it); the command line's do not.
    let entries: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for e in &entries {
        let over_http = e["action"] == "auth.password" || e["action"] == "auth.mfa";
        let client = e["client"].as_str().unwrap();
        if over_http {
            assert_eq!(client, "127.0.0.1", "{e}");
        } else if e["action"] == "user.create" {
            assert_eq!(client, "", "{e}");
        }
    }
}

async fn killing_the_server_loses_no_committed_entry(store: Store) {
    let mut env = Env::new(store.url());
    // This test floods on purpose: no rate limit in its way.
    env.vars
        .push(("RENKEI_HTTP_PER_CLIENT_BURST".into(), "1000000".into()));
    env.ok(&["init"], "");
    env.ok(
        &[
            "user",
            "add",
            "--username",
            "bob",
            "--role",
            "researcher",
            "--password-stdin",
        ],
        &format!("{PW}\n"),
    );
    let server = env.start(&["serve"], "Renkei listening on");
    let base = server.url.clone();
    let c = client();
    sign_in_and_enrol(&c, &base, "bob", PW).await;
    let token = create_api_token(&c, &base, "flood").await;
    // Every answered denial of a signed-in caller was committed to the log before it
    // was answered. (A caller not signed in is folded per window instead: only the
    // first of a window is durable at once; see the audit log's documentation.)
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let base = base.clone();
        let answered = answered.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            loop {
                match c
                    .get(format!("{base}/api/v1/users"))
                    .bearer_auth(&token)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == StatusCode::FORBIDDEN => {
                        answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    _ => break,
                }
            }
        }));
    }
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    server.kill();
    for t in tasks {
        t.await.unwrap();
    }
    let answered = answered.load(std::sync::atomic::Ordering::SeqCst);
    let (code, out, err) = env.run(&["audit", "verify"], "");
    assert_eq!(code, 0, "the chain is verifiable after SIGKILL: {out}{err}");
    let export = env.ok(&["audit", "export"], "");
    let denials = export
        .lines()
        .filter(|l| l.contains("\"route:GET /api/v1/users\""))
        .count();
    assert!(
        denials >= answered,
        "{answered} denials were answered but only {denials} are in the log"
    );
}

#[tokio::test]
async fn the_demo_serves_every_role() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let mut env = Env::new("unused");
    env.vars
        .retain(|(k, _)| k != "RENKEI_DATABASE_URL" && k != "RENKEI_DATA_DIR");
    env.vars
        .push(("RENKEI_DATA_DIR".into(), data.display().to_string()));
    let demo = env.start(&["demo"], "Stop with Ctrl-C");
    let table: Vec<Vec<String>> = demo
        .stdout
        .iter()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|w| w.len() == 4 && renkei_core::Role::parse(&w[0]).is_some())
        .collect();
    assert_eq!(
        table.len(),
        8,
        "an account for every role: {:#?}",
        demo.stdout
    );
    let base = demo.url.clone();
    let c = client();
    assert_eq!(
        c.get(format!("{base}/")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let auditor = table.iter().find(|w| w[0] == "auditor").unwrap();
    let login = c
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    c.post(format!("{base}/login"))
        .form(&[
            ("csrf", csrf(&login).as_str()),
            ("username", auditor[1].as_str()),
            ("password", auditor[2].as_str()),
        ])
        .send()
        .await
        .unwrap();
    let mfa = c
        .get(format!("{base}/mfa"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let code = renkei_accounts::current_code(&auditor[3], now_secs()).unwrap();
    let r = c
        .post(format!("{base}/mfa"))
        .form(&[("csrf", csrf(&mfa).as_str()), ("code", &code)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/home");
    assert_eq!(
        c.get(format!("{base}/audit"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // The demo's witness countersigns over the API within seconds of the start, and the
    // auditor's verification page checks the log against its key.
    let witnessed = data.join("demo-witness/witnessed.jsonl");
    for _ in 0..100 {
        if witnessed.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(witnessed.exists(), "the demo witness never countersigned");
    let verify = c
        .get(format!("{base}/audit/verify"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(verify.contains("監督者の連署"), "{verify}");
    assert!(verify.contains("notice ok"), "{verify}");
    assert_eq!(demo.stop(), 0);

    // Again: the same world and credentials.
    let again = env.start(&["demo"], "Stop with Ctrl-C");
    assert!(
        again.stdout.iter().any(|l| l.contains(&auditor[2])),
        "credentials reused"
    );
    again.stop();
    // --fresh: a new world.
    let fresh = env.start(&["demo", "--fresh"], "Stop with Ctrl-C");
    assert!(
        !fresh.stdout.iter().any(|l| l.contains(&auditor[2])),
        "new credentials after --fresh"
    );
    fresh.stop();
}

#[test]
fn an_unreachable_store_fails_fast_with_one_line() {
    let mut env = Env::new("postgres://renkei:s3cret@127.0.0.1:1/nowhere");
    env.vars.push(("RENKEI_MASTER_KEY".into(), "11".repeat(32)));
    let (code, out, err) = env.run(&["serve"], "");
    assert_ne!(code, 0);
    assert!(out.is_empty(), "{out}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(
        lines[0].starts_with(
            "renkei: cannot reach the metadata store at postgres://renkei:***@127.0.0.1:1/nowhere"
        ),
        "{err}"
    );
    assert!(!err.contains("s3cret"));
}

/// The subcommands a help page lists under `Commands:` (clap's own tree, read from
/// the binary), without `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_command_has_help() {
    let env = Env::new("sqlite://unused.db");
    // Walk clap's command tree from the top, so a new subcommand is covered without
    // being listed here.
    let mut todo = vec![Vec::<String>::new()];
    let mut seen = 0;
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let (code, out, _) = env.run(&args, "");
        assert_eq!(code, 0, "{args:?}");
        assert!(out.contains("Usage: renkei"), "{args:?}: {out}");
        // Help speaks of the platform, not of how it is developed.
        for phrase in ["the issues", "issue #", "todo", "github"] {
            assert!(
                !out.to_lowercase().contains(phrase),
                "{args:?} mentions {phrase:?}: {out}"
            );
        }
        for sub in subcommands(&out) {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p);
        }
        seen += 1;
    }
    assert!(
        seen >= 20,
        "only {seen} commands found: the tree walk is broken"
    );
}

store_test!(
    sign_in_with_password_and_totp_over_http,
    killing_the_server_loses_no_committed_entry
);

#[tokio::test]
async fn serves_tls_from_the_config() {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let mut env = Env::new(&format!("sqlite://{}/renkei.db", dir.path().display()));
    env.vars
        .push(("RENKEI_TLS_CERT".into(), cert_path.display().to_string()));
    env.vars
        .push(("RENKEI_TLS_KEY".into(), key_path.display().to_string()));
    env.ok(&["init"], "");
    let server = env.start(&["serve"], "Renkei listening on");
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let c = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(
        c.get(format!("{}/healthz", server.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    let login = c.get(format!("{}/login", server.url)).send().await.unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "cookies are Secure under TLS: {cookie}"
    );
    assert_eq!(
        login.headers()["strict-transport-security"],
        "max-age=31536000",
        "browsers must not fall back to HTTP"
    );
    // Plain HTTP on the TLS port gets nowhere.
    let plain = server.url.replace("https://", "http://");
    let r = client().get(format!("{plain}/healthz")).send().await;
    assert!(
        r.map(|r| r.status() != reqwest::StatusCode::OK)
            .unwrap_or(true),
        "plain HTTP must not be served"
    );
    assert_eq!(server.stop(), 0);
}

/// A server that holds under slow and noisy clients: half a request header is dropped
/// after the header timeout; a client over its rate is answered 429 and a server at
/// capacity 503, before any work; and a flood of refusals leaves a few audit entries
/// that count it, not a row per request.
#[tokio::test]
async fn slow_and_noisy_clients_are_cut_off_and_counted() {
    use std::io::{Read as _, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let mut env = Env::new(&format!("sqlite://{}/renkei.db", dir.path().display()));
    for (k, v) in [
        ("RENKEI_HTTP_HEADER_READ_TIMEOUT_SECS", "1"),
        ("RENKEI_HTTP_PER_CLIENT_BURST", "40"),
        ("RENKEI_HTTP_PER_CLIENT_PER_SEC", "1"),
        ("RENKEI_HTTP_MAX_IN_FLIGHT", "1"),
    ] {
        env.vars.push((k.into(), v.into()));
    }
    env.ok(&["init"], "");
    let server = env.start(&["serve"], "Renkei listening on");
    let addr = server.url.trim_start_matches("http://").to_owned();

    // Half a header, then silence: the server hangs up (long before our 20 s).
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /catalog HTTP/1.1\r\nHost: x\r\nX-Slow:")
        .unwrap();
    slow.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 512];
    let started = std::time::Instant::now();
    let n = slow.read(&mut buf).unwrap_or(0);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "a half-sent header held the connection"
    );
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "{answer}");

    // At capacity (one request in flight: a form body trickling in), the next is
    // refused at once.
    let mut trickle = std::net::TcpStream::connect(&addr).unwrap();
    trickle
        .write_all(
            b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nuser",
        )
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let c = client();
    let busy = c
        .get(format!("{}/catalog", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(busy.headers().contains_key("retry-after"));
    drop(trickle);
    std::thread::sleep(std::time::Duration::from_millis(300));

    // One client looping on a page it may not see: a burst, then 429s.
    let mut codes = Vec::new();
    for _ in 0..60 {
        codes.push(
            c.get(format!("{}/home", server.url))
                .send()
                .await
                .unwrap()
                .status(),
        );
    }
    assert!(codes.contains(&StatusCode::SEE_OTHER));
    assert!(codes.contains(&StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(server.stop(), 0);

    // In the log: the first refusal of each kind, then one entry counting the rest.
    let export = env.ok(&["audit", "export"], "");
    let home: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["action"] == "http.access" && e["object"] == "route:GET /home")
        .collect();
    assert!(home.len() <= 4, "a row per refusal: {} rows", home.len());
    let counted: u64 = home
        .iter()
        .map(|e| e["detail"]["repeated"].as_u64().unwrap_or(1))
        .sum();
    assert_eq!(counted, 60, "every refusal is counted: {home:#?}");
    assert!(home.iter().all(|e| e["client"] == "127.0.0.1"));
    let (code, out, err) = env.run(&["audit", "verify"], "");
    assert_eq!(code, 0, "{out}{err}");
}

/// PostgreSQL in production: the owner migrates and grants; `renkei serve` runs as a
/// role that owns nothing and does not migrate; everything works, and the log verifies.
#[tokio::test]
async fn serving_as_a_role_that_owns_nothing() {
    let Some(db) = renkei_store::testing::TestDb::postgres().await else {
        return;
    };
    let role = format!(
        "renkei_srv_{}",
        &renkei_crypto::random_token().to_ascii_lowercase()[..12]
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    renkei_store::sqlx::raw_sql(&format!("CREATE ROLE {role} LOGIN"))
        .execute(db.store.pool())
        .await
        .unwrap();
    let owner_url = db.url();
    let serving_url = owner_url.replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    assert_ne!(serving_url, owner_url);
    let mut env = Env::new(&serving_url);
    env.vars
        .push(("RENKEI_OWNER_DATABASE_URL".into(), owner_url.clone()));
    let out = env.ok(&["migrate", "--grant-to", &role], "");
    assert!(out.contains("guards installed"), "{out}");
    env.vars
        .push(("RENKEI_MIGRATE_ON_START".into(), "false".into()));
    env.ok(
        &["init", "--admin", "root", "--password-stdin"],
        &format!("{PW}\n"),
    );
    let server = env.start(&["serve"], "Renkei listening on");
    let r = client()
        .get(format!("{}/catalog", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(server.stop(), 0);
    let (code, out, err) = env.run(&["audit", "verify"], "");
    assert_eq!(code, 0, "{out}{err}");
    // The role's grants go with the test database; then the role itself.
    drop(db);
    let admin = renkei_store::sqlx::AnyPool::connect(
        &std::env::var(renkei_store::testing::POSTGRES_ENV).unwrap(),
    )
    .await
    .unwrap();
    renkei_store::sqlx::raw_sql(&format!("DROP ROLE {role}"))
        .execute(&admin)
        .await
        .unwrap();
}
