//! What a person sees: signing in with a password and a code, enrolling an
//! authenticator, errors in their language, sessions ending, API tokens, operations.

use crate::common::*;
use axum::http::{Method, StatusCode};
use renkei_core::Role;
use renkei_store::{Store, store_test};

async fn admin_creates_user_who_enrols_and_signs_in(store: Store) {
    let fx = fixture(&store).await;
    fx.user("boss", &[Role::Admin]).await;
    let mut admin = fx.client();
    let r = admin.sign_in(&fx, "boss").await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/home"));
    let page = admin.get("/admin/users").await;
    assert!(page.body.contains("利用者の追加"));
    assert!(
        !page.body.contains("name=\"password\""),
        "admins set no password"
    );
    let r = admin
        .post(
            "/admin/users",
            &[
                ("csrf", &page.csrf()),
                ("username", "newbie"),
                ("display_name", "新人 太郎"),
                ("role", "researcher"),
                ("role", "committee_member"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body.contains("一度しか表示されません"), "{}", r.body);
    let i = r.body.find("/enrol/").unwrap();
    let link: String = r.body[i..].chars().take_while(|c| *c != '<').collect();
    assert!(link.len() > 40, "{link}");
    assert_eq!(
        admin
            .get("/admin/users")
            .await
            .body
            .matches("/enrol/")
            .count(),
        0,
        "the link is never shown again"
    );

    // The new user: their own password with the link, then enrolment with the QR code
    // and the text secret.
    let mut newbie = fx.client();
    let form = newbie.get(&link).await;
    assert_eq!(form.status, StatusCode::OK);
    let mismatch = newbie
        .post(
            &link,
            &[
                ("csrf", &form.csrf()),
                ("new", "velvet orchard under winter rain"),
                ("confirm", "velvet orchard under winter snow"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    let r = newbie
        .post(
            &link,
            &[
                ("csrf", &form.csrf()),
                ("new", "velvet orchard under winter rain"),
                ("confirm", "velvet orchard under winter rain"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/mfa/enrol", "{}", r.body);
    // The link worked once.
    let again = fx.client().post(&link, &[("csrf", &form.csrf())]).await;
    assert!(again.status.is_client_error());
    let log = renkei_audit::testing::recent(
        fx.app.store_for_tests(),
        &renkei_audit::ExportFilter::default(),
        1000,
    )
    .await
    .unwrap();
    let token = link.trim_start_matches("/enrol/");
    assert!(
        log.iter()
            .all(|e| !e.detail.contains(token) && !e.object.contains(token)),
        "the link's secret never reaches the log"
    );
    let home = newbie.get("/home").await;
    assert_eq!(
        (home.status, home.location()),
        (StatusCode::SEE_OTHER, "/mfa/enrol"),
        "no pages before the second factor"
    );
    let enrol = newbie.get("/mfa/enrol").await;
    assert!(
        enrol.body.contains("data:image/svg+xml;base64,"),
        "QR code shown"
    );
    let i = enrol.body.find("<code class=\"secret\">").unwrap() + 21;
    let secret: String = enrol.body[i..i + enrol.body[i..].find('<').unwrap()].replace(' ', "");
    assert_eq!(secret.len(), 32, "160-bit secret in base32: {secret}");
    let wrong = newbie
        .post("/mfa/enrol", &[("csrf", &enrol.csrf()), ("code", "000000")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("コードが違うか"));
    let code = renkei_accounts::current_code(&secret, fx.clock_secs()).unwrap();
    let ok = newbie
        .post("/mfa/enrol", &[("csrf", &wrong.csrf()), ("code", &code)])
        .await;
    assert_eq!((ok.status, ok.location()), (StatusCode::SEE_OTHER, "/home"));
    let home = newbie.get("/home").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.body.contains("研究者（利活用者）") && home.body.contains("審査委員"),
        "a section per role"
    );
    assert!(
        !home.body.contains("/admin/users"),
        "no admin link for a researcher"
    );
    let me = newbie.get("/api/v1/me").await;
    let me: serde_json::Value = serde_json::from_str(&me.body).unwrap();
    assert_eq!(
        me["roles"],
        serde_json::json!(["researcher", "committee_member"])
    );

    // Sign out: the old cookie is worthless afterwards.
    let old = newbie
        .cookies
        .get(renkei_server::SESSION_COOKIE)
        .cloned()
        .unwrap();
    let r = newbie.post("/logout", &[("csrf", &home.csrf())]).await;
    assert_eq!(r.location(), "/login?reason=signed_out");
    assert!(!newbie.cookies.contains_key(renkei_server::SESSION_COOKIE));
    let mut replay = fx.client();
    replay
        .cookies
        .insert(renkei_server::SESSION_COOKIE.into(), old);
    let r = replay.get("/home").await;
    assert!(
        r.location()
            .starts_with("/login?next=%2Fhome&reason=revoked"),
        "{}",
        r.location()
    );
    assert!(
        fx.app
            .audit
            .reader(&renkei_core::Caller::operator(
                "t",
                renkei_core::Duty::Audit
            ))
            .await
            .unwrap()
            .verify()
            .await
            .unwrap()
            .is_ok()
    );
}

async fn errors_speak_the_users_language(store: Store) {
    let fx = fixture(&store).await;
    fx.user("alice", &[Role::Researcher]).await;
    let mut c = fx.client();
    let page = c.get("/login").await;
    assert!(page.body.contains("<html lang=\"ja\">"));
    let r = c
        .post(
            "/login",
            &[
                ("csrf", &page.csrf()),
                ("username", "alice"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("ユーザー名またはパスワードが違います"));
    assert!(
        r.body.contains("value=\"alice\""),
        "the username is kept, the password is not"
    );
    let r = c.get("/lang/en?next=/login").await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login"));
    let page = c.get("/login").await;
    assert!(
        page.body.contains("<html lang=\"en\">") && page.body.contains("日本語"),
        "English, with a way back"
    );
    let r = c
        .post(
            "/login",
            &[
                ("csrf", &page.csrf()),
                ("username", "alice"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert!(r.body.contains("Wrong username or password."));
    // After five failures this client is locked out, and is told exactly what a wrong
    // password is told: a lock, an unknown name and a wrong password look alike.
    for _ in 0..3 {
        c.post(
            "/login",
            &[
                ("csrf", &page.csrf()),
                ("username", "alice"),
                ("password", "not the password"),
            ],
        )
        .await;
    }
    let r = c
        .post(
            "/login",
            &[
                ("csrf", &page.csrf()),
                ("username", "alice"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("Wrong username or password."));
    assert!(!r.body.contains("Too many failed attempts"));
    // A missing CSRF token is refused with an explanation and a request id.
    let r = c
        .post("/login", &[("username", "alice"), ("password", PW)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("Reload the page") && r.body.contains("Request id"));
    let r = c.get("/no/such/page").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("Page not found."));
    // An open redirect is not possible through ?next=.
    let r = c.get("/lang/ja?next=//evil.example/").await;
    assert_eq!(r.location(), "/home");
}

async fn wrong_and_replayed_codes(store: Store) {
    let fx = fixture(&store).await;
    fx.user("alice", &[Role::Researcher]).await;
    let mut c = fx.client();
    assert_eq!(c.sign_in(&fx, "alice").await.location(), "/home");
    let home = c.get("/home").await;
    c.post("/logout", &[("csrf", &home.csrf())]).await;
    // Same 30-second step: the code that was just used is refused.
    let login = c.get("/login").await;
    c.post(
        "/login",
        &[
            ("csrf", &login.csrf()),
            ("username", "alice"),
            ("password", PW),
        ],
    )
    .await;
    let mfa = c.get("/mfa").await;
    let r = c
        .post(
            "/mfa",
            &[("csrf", &mfa.csrf()), ("code", &fx.code("alice"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("このコードは使用済みです"));
    fx.clock.advance_secs(30);
    let r = c
        .post(
            "/mfa",
            &[("csrf", &mfa.csrf()), ("code", &fx.code("alice"))],
        )
        .await;
    assert_eq!(r.location(), "/home");
}

async fn idle_sessions_end(store: Store) {
    let fx = fixture(&store).await;
    fx.user("alice", &[Role::Researcher]).await;
    let mut c = fx.client();
    c.sign_in(&fx, "alice").await;
    assert_eq!(c.get("/home").await.status, StatusCode::OK);
    fx.clock.advance_secs(31 * 60);
    let r = c.get("/home").await;
    assert_eq!(r.location(), "/login?next=%2Fhome&reason=expired_idle");
    assert!(
        !c.cookies.contains_key(renkei_server::SESSION_COOKIE),
        "the dead cookie is cleared"
    );
    let page = c.get(r.location()).await;
    assert!(page.body.contains("セッションが終了しました"));
    let denied = renkei_audit::testing::recent(
        fx.app.store_for_tests(),
        &renkei_audit::ExportFilter {
            denied_only: true,
            ..Default::default()
        },
        5,
    )
    .await
    .unwrap();
    assert!(denied[0].detail.contains("expired_idle"), "{:?}", denied[0]);
}

async fn api_tokens_work_and_are_shown_once(store: Store) {
    let fx = fixture(&store).await;
    fx.user("alice", &[Role::Researcher]).await;
    let mut c = fx.client();
    c.sign_in(&fx, "alice").await;
    let acct = c.get("/account").await;
    // Without the password again, no token.
    let r = c
        .post(
            "/account/tokens",
            &[
                ("csrf", &acct.csrf()),
                ("name", "notebook"),
                ("days", "7"),
                ("scope", "all"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!r.body.contains("rkt_"));
    let r = c
        .post(
            "/account/tokens",
            &[
                ("csrf", &acct.csrf()),
                ("name", "notebook"),
                ("days", "7"),
                ("scope", "all"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let i = r.body.find("rkt_").unwrap();
    let token: String = r.body[i..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    assert_eq!(
        c.get("/account").await.body.matches("rkt_").count(),
        0,
        "the value is never shown again"
    );
    let mut api = fx.client();
    let auth = format!("Bearer {token}");
    let me = api
        .send(Method::GET, "/api/v1/me", None, &[("authorization", &auth)])
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert!(me.body.contains("\"via\":\"api_token\""));
    let forbidden = api
        .send(
            Method::GET,
            "/api/v1/users",
            None,
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let e: serde_json::Value = serde_json::from_str(&forbidden.body).unwrap();
    assert_eq!(e["error"]["code"], "permission_missing");
    assert!(
        e["error"]["request_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    // The token opens the API only: the pages (make tokens, change the password) stay shut.
    let page = api
        .send(Method::GET, "/account", None, &[("authorization", &auth)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().starts_with("/login"), "{}", page.location());
    let bad = api
        .send(
            Method::GET,
            "/api/v1/me",
            None,
            &[("authorization", "Bearer rkt_nope")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.headers.get("www-authenticate").unwrap(), "Bearer");
    // A read-only token reads, and is refused anything that changes state, even where
    // its owner's roles would allow it.
    fx.user("ann", &[Role::Auditor]).await;
    let mut ann = fx.client();
    ann.sign_in(&fx, "ann").await;
    let acct = ann.get("/account").await;
    let r = ann
        .post(
            "/account/tokens",
            &[
                ("csrf", &acct.csrf()),
                ("name", "reader"),
                ("days", "7"),
                ("scope", "read_only"),
                ("password", PW),
            ],
        )
        .await;
    let i = r.body.find("rkt_").unwrap();
    let ro: String = r.body[i..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    let ro_auth = format!("Bearer {ro}");
    let read = api
        .send(
            Method::GET,
            "/api/v1/audit/verify",
            None,
            &[("authorization", &ro_auth)],
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let write = api
        .send(
            Method::POST,
            "/api/v1/audit/checkpoint",
            None,
            &[("authorization", &ro_auth)],
        )
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    assert!(write.body.contains("token_read_only"), "{}", write.body);
    // Revoke through the page.
    let acct = c.get("/account").await;
    let j = acct.body.find("/account/tokens/").unwrap();
    let path: String = acct.body[j..].chars().take_while(|c| *c != '"').collect();
    let r = c.post(&path, &[("csrf", &acct.csrf())]).await;
    assert_eq!(r.location(), "/account?done=revoked");
    assert_eq!(
        api.send(Method::GET, "/api/v1/me", None, &[("authorization", &auth)])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

async fn auditor_reads_verifies_and_exports(store: Store) {
    let fx = fixture(&store).await;
    fx.user("ann", &[Role::Auditor]).await;
    let mut c = fx.client();
    c.sign_in(&fx, "ann").await;
    let log = c.get("/audit?action=auth.").await;
    assert_eq!(log.status, StatusCode::OK);
    assert!(log.body.contains("auth.mfa") && log.body.contains("auth.password"));
    let v = c.get("/audit/verify").await;
    assert!(v.body.contains("監査ログは完全です"), "{}", v.body);
    let ex = c.get("/audit/export?since=2000-01-01").await;
    assert_eq!(
        ex.headers.get("content-type").unwrap(),
        "application/x-ndjson"
    );
    let lines: Vec<serde_json::Value> = ex
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.iter().any(|l| l["action"] == "audit.verify"),
        "the auditor's own reads are on the record"
    );
    // A log of many entries comes streamed, in chunks, not built whole in memory.
    let many: Vec<renkei_core::AuditEvent> = (0..20_000)
        .map(|i| {
            renkei_core::AuditEvent::new(
                renkei_core::Actor::cli("t", "data"),
                renkei_core::Action::Probe,
                format!("thing:{i}"),
                renkei_core::Outcome::Allowed,
            )
        })
        .collect();
    let mut tx = fx.app.store_for_tests().begin().await.unwrap();
    fx.app.audit.append_in(&mut tx, &many).await.unwrap();
    tx.commit().await.unwrap();
    let ex = c.get("/audit/export?since=2000-01-01").await;
    assert!(
        ex.headers.get("content-length").is_none(),
        "streamed, so no length up front"
    );
    assert!(ex.body.lines().count() > 20_000);
    assert!(
        ex.body
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    let bad = c.get("/audit?since=yesterday").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

async fn operations_endpoints(store: Store) {
    let fx = fixture(&store).await;
    let mut c = fx.client();
    assert_eq!(c.get("/healthz").await.body, "ok");
    assert_eq!(c.get("/readyz").await.status, StatusCode::OK);
    c.get("/login").await;
    let m = c.get("/metrics").await;
    assert!(
        m.body.contains("renkei_http_requests_total"),
        "{}",
        &m.body[..m.body.len().min(500)]
    );
    assert!(m.body.contains("renkei_http_request_duration_seconds"));
    let doc: serde_json::Value =
        serde_json::from_str(&c.get("/api/openapi.json").await.body).unwrap();
    assert!(doc["paths"]["/api/v1/me"]["get"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let page = fx.client().get("/").await;
    for h in [
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
        "x-request-id",
    ] {
        assert!(page.headers.contains_key(h), "{h}");
    }
    let cookie = page.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
}

store_test!(
    admin_creates_user_who_enrols_and_signs_in,
    errors_speak_the_users_language,
    wrong_and_replayed_codes,
    idle_sessions_end,
    api_tokens_work_and_are_shown_once,
    auditor_reads_verifies_and_exports,
    operations_endpoints,
);

/// The web server never runs holding the linkage key: given an app that loaded it, it
/// refuses to start (and writes nothing).
#[tokio::test]
async fn the_server_refuses_to_run_holding_the_linkage_key() {
    let db = renkei_store::testing::TestDb::sqlite().await;
    let fx = fixture(&db.store).await;
    assert!(fx.app.holds_linkage_key());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let e = renkei_server::serve(fx.state.clone(), listener, async {})
        .await
        .unwrap_err();
    assert!(
        matches!(e, renkei_server::ServeError::HoldsLinkageKey),
        "{e}"
    );
}

/// Every refusal reaches the log by one path: unknown pages and ids, an oversized form,
/// a wrong method. A flood of them folds into the first plus a count.
async fn every_refusal_is_audited_and_floods_fold(store: Store) {
    let fx = fixture(&store).await;
    let mut c = fx.client();
    for _ in 0..50 {
        assert_eq!(c.get("/no/such/page").await.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        c.get("/catalog/no_such_dataset").await.status,
        StatusCode::NOT_FOUND
    );
    let page = c.get("/login").await;
    let big = "x".repeat(200_000);
    let r = c
        .post("/login", &[("csrf", &page.csrf()), ("username", &big)])
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    let r = c.send(Method::DELETE, "/catalog", None, &[]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let rows = |fx: &Fx| {
        let store = store.clone();
        let _ = fx;
        async move {
            let rows: Vec<(String, String, String)> = renkei_store::sqlx::query_as(
                "SELECT object, reason, detail FROM audit_log WHERE action = 'http.access' ORDER BY seq",
            )
            .fetch_all(store.pool())
            .await
            .unwrap();
            rows
        }
    };
    let before = rows(&fx).await;
    let objects: Vec<(&str, &str)> = before
        .iter()
        .map(|(o, r, _)| (o.as_str(), r.as_str()))
        .collect();
    assert!(
        objects.contains(&("route:GET /no", "not_found")),
        "{objects:?}"
    );
    assert!(
        objects.contains(&("route:GET /catalog", "not_found")),
        "{objects:?}"
    );
    assert!(
        objects.iter().any(|(o, _)| *o == "route:POST /login"),
        "the oversized form: {objects:?}"
    );
    assert!(
        objects.contains(&("route:DELETE /catalog", "method_not_allowed")),
        "{objects:?}"
    );
    assert_eq!(
        objects
            .iter()
            .filter(|(o, _)| *o == "route:GET /no")
            .count(),
        1,
        "fifty probes, one entry so far"
    );
    fx.app.audit.flush_refusals(true).await.unwrap();
    let after = rows(&fx).await;
    let summary = after
        .iter()
        .find(|(o, _, d)| o == "route:GET /no" && d.contains("repeated"))
        .expect("a summary of the fold");
    assert!(summary.2.contains("\"repeated\":49"), "{}", summary.2);
}

store_test!(every_refusal_is_audited_and_floods_fold);
