//! Every route × every kind of caller, against a table written independently of the
//! route table, with real requests. A route added without a row here fails the test.
//! Also: every state-changing route refuses a request without the right CSRF token.

use crate::common::*;
use axum::http::{Method, StatusCode};
use renkei_core::Role;
use renkei_server::routes::{RouteSpec, specs};
use renkei_store::{Store, store_test};

/// Who may use each route. `everyone`; `pending` = signed in with at least a password;
/// `signed_in` = fully signed in, any role; otherwise the one role allowed.
const EXPECTED: &[(&str, &str, &str)] = &[
    ("GET", "/", "everyone"),
    ("GET", "/login", "everyone"),
    ("POST", "/login", "everyone"),
    ("GET", "/lang/{lang}", "everyone"),
    ("GET", "/enrol/{token}", "everyone"),
    ("POST", "/enrol/{token}", "everyone"),
    ("GET", "/static/style.css", "everyone"),
    ("GET", "/healthz", "everyone"),
    ("GET", "/readyz", "everyone"),
    ("GET", "/metrics", "everyone"),
    ("GET", "/api/openapi.json", "everyone"),
    ("GET", "/catalog", "everyone"),
    ("GET", "/catalog/linkage", "everyone"),
    ("GET", "/catalog/{id}", "everyone"),
    ("GET", "/catalog.jsonld", "everyone"),
    ("GET", "/api/v1/catalog/datasets", "everyone"),
    ("GET", "/api/v1/catalog/datasets/{id}", "everyone"),
    ("GET", "/api/v1/catalog/linkage", "everyone"),
    ("GET", "/mfa/enrol", "pending"),
    ("POST", "/mfa/enrol", "pending"),
    ("GET", "/mfa", "pending"),
    ("POST", "/mfa", "pending"),
    ("POST", "/logout", "pending"),
    ("GET", "/home", "signed_in"),
    ("GET", "/account", "signed_in"),
    ("POST", "/account/password", "signed_in"),
    ("POST", "/account/tokens", "signed_in"),
    ("POST", "/account/tokens/{id}/revoke", "signed_in"),
    ("GET", "/api/v1/me", "signed_in"),
    ("GET", "/admin/users", "admin"),
    ("POST", "/admin/users", "admin"),
    ("GET", "/admin/users/{id}", "admin"),
    ("POST", "/admin/users/{id}/roles", "admin"),
    ("POST", "/admin/users/{id}/disable", "admin"),
    ("POST", "/admin/users/{id}/enable", "admin"),
    ("POST", "/admin/users/{id}/reset-mfa", "admin"),
    ("POST", "/admin/role-requests/{id}/approve", "admin"),
    ("POST", "/admin/role-requests/{id}/reject", "admin"),
    ("GET", "/api/v1/users", "admin"),
    ("GET", "/datasets", "custodian"),
    ("GET", "/datasets/{id}", "custodian"),
    (
        "GET",
        "/datasets/{id}/versions/{version}/rejects",
        "custodian",
    ),
    ("GET", "/applications", "researcher"),
    ("POST", "/applications", "researcher"),
    ("GET", "/applications/new", "researcher"),
    ("GET", "/applications/{id}", "researcher"),
    ("POST", "/applications/{id}", "researcher"),
    ("POST", "/applications/{id}/submit", "researcher"),
    ("POST", "/applications/{id}/withdraw", "researcher"),
    ("GET", "/committee", "committee_member"),
    ("GET", "/committee/{id}", "committee_member"),
    ("POST", "/committee/{id}/conflict", "committee_member"),
    ("POST", "/committee/{id}/comment", "committee_member"),
    (
        "POST",
        "/api/v1/committee/applications/{id}/comment",
        "committee_member",
    ),
    ("GET", "/custody", "custodian"),
    ("GET", "/custody/{id}", "custodian"),
    ("POST", "/custody/{id}/answer", "custodian"),
    ("GET", "/review", "secretariat"),
    ("GET", "/review/committee", "secretariat"),
    ("GET", "/review/meetings", "secretariat"),
    ("POST", "/review/meetings", "secretariat"),
    ("POST", "/review/meetings/{id}/report", "secretariat"),
    ("GET", "/api/v1/review/meetings", "secretariat"),
    ("POST", "/api/v1/review/meetings", "secretariat"),
    ("POST", "/api/v1/review/meetings/{id}/report", "secretariat"),
    ("POST", "/review/committee", "secretariat"),
    ("GET", "/review/accreditations", "secretariat"),
    ("POST", "/review/accreditations", "secretariat"),
    ("POST", "/review/accreditations/revoke", "secretariat"),
    ("GET", "/review/{id}", "secretariat"),
    ("POST", "/review/{id}/return", "secretariat"),
    ("POST", "/review/{id}/meeting", "secretariat"),
    ("POST", "/review/{id}/decision", "secretariat"),
    ("GET", "/projects", "signed_in"),
    ("GET", "/api/v1/projects/{id}/extract", "researcher"),
    ("GET", "/projects/{id}/workspace", "researcher"),
    ("POST", "/projects/{id}/workspace/queries", "researcher"),
    (
        "POST",
        "/projects/{id}/workspace/queries/{qid}/cancel",
        "researcher",
    ),
    ("POST", "/projects/{id}/workspace/saved", "researcher"),
    (
        "POST",
        "/projects/{id}/workspace/queries/{qid}/release",
        "researcher",
    ),
    (
        "POST",
        "/api/v1/projects/{id}/queries/{qid}/release",
        "researcher",
    ),
    ("GET", "/api/v1/projects/{id}/outputs", "researcher"),
    ("GET", "/api/v1/projects/{id}/outputs/{oid}", "researcher"),
    (
        "POST",
        "/api/v1/projects/{id}/outputs/{oid}/check",
        "researcher",
    ),
    ("GET", "/projects/{id}/outputs/{oid}", "researcher"),
    ("POST", "/projects/{id}/outputs/{oid}/check", "researcher"),
    ("GET", "/api/v1/projects/{id}/tables", "researcher"),
    ("GET", "/applications/{id}/workspace", "researcher"),
    ("POST", "/applications/{id}/workspace/queries", "researcher"),
    (
        "POST",
        "/applications/{id}/workspace/queries/{qid}/cancel",
        "researcher",
    ),
    ("POST", "/applications/{id}/workspace/saved", "researcher"),
    (
        "GET",
        "/api/v1/applications/{id}/dummy/tables",
        "researcher",
    ),
    (
        "POST",
        "/api/v1/applications/{id}/dummy/queries",
        "researcher",
    ),
    (
        "GET",
        "/api/v1/applications/{id}/dummy/queries/{qid}",
        "researcher",
    ),
    ("GET", "/api/v1/projects/{id}/queries", "researcher"),
    ("POST", "/api/v1/projects/{id}/queries", "researcher"),
    ("GET", "/api/v1/projects/{id}/queries/{qid}", "researcher"),
    (
        "POST",
        "/api/v1/projects/{id}/queries/{qid}/cancel",
        "researcher",
    ),
    ("GET", "/linkage", "linkage_authority"),
    ("POST", "/linkage/run", "linkage_authority"),
    ("GET", "/api/v1/linkage/runs", "linkage_authority"),
    ("POST", "/api/v1/linkage/runs", "linkage_authority"),
    ("GET", "/projects/{id}", "signed_in"),
    ("GET", "/projects/{id}/permit.json", "signed_in"),
    ("POST", "/projects/{id}/close", "signed_in"),
    ("POST", "/projects/{id}/publications", "signed_in"),
    ("GET", "/api/v1/projects", "signed_in"),
    ("GET", "/api/v1/projects/{id}", "signed_in"),
    ("GET", "/api/v1/projects/{id}/permit", "signed_in"),
    ("GET", "/api/v1/projects/{id}/access", "researcher"),
    ("POST", "/api/v1/projects/{id}/close", "signed_in"),
    ("POST", "/api/v1/projects/{id}/publications", "signed_in"),
    ("POST", "/api/v1/projects/{id}/amend", "researcher"),
    ("POST", "/applications/{id}/attachments", "researcher"),
    ("GET", "/applications/{id}/attachments/{seq}", "signed_in"),
    (
        "POST",
        "/api/v1/applications/{id}/attachments",
        "researcher",
    ),
    (
        "GET",
        "/api/v1/applications/{id}/attachments/{seq}",
        "signed_in",
    ),
    ("POST", "/projects/{id}/amend", "researcher"),
    ("GET", "/register", "everyone"),
    ("GET", "/register.csv", "everyone"),
    ("GET", "/api/v1/register", "everyone"),
    ("GET", "/api/v1/applications", "researcher"),
    ("POST", "/api/v1/applications", "researcher"),
    ("GET", "/api/v1/applications/{id}", "researcher"),
    ("POST", "/api/v1/applications/{id}/content", "researcher"),
    ("POST", "/api/v1/applications/{id}/submit", "researcher"),
    ("POST", "/api/v1/applications/{id}/withdraw", "researcher"),
    ("GET", "/api/v1/accreditation", "signed_in"),
    ("GET", "/api/v1/review/applications", "secretariat"),
    ("GET", "/api/v1/review/applications/{id}", "secretariat"),
    (
        "POST",
        "/api/v1/review/applications/{id}/return",
        "secretariat",
    ),
    (
        "POST",
        "/api/v1/review/applications/{id}/meeting",
        "secretariat",
    ),
    (
        "POST",
        "/api/v1/review/applications/{id}/decision",
        "secretariat",
    ),
    ("GET", "/api/v1/review/committee", "secretariat"),
    ("POST", "/api/v1/review/committee", "secretariat"),
    (
        "POST",
        "/api/v1/review/committee/{id}/dismiss",
        "secretariat",
    ),
    ("POST", "/api/v1/review/accreditations", "secretariat"),
    (
        "POST",
        "/api/v1/review/accreditations/{id}/revoke",
        "secretariat",
    ),
    ("GET", "/api/v1/committee/applications", "committee_member"),
    (
        "GET",
        "/api/v1/committee/applications/{id}",
        "committee_member",
    ),
    (
        "POST",
        "/api/v1/committee/applications/{id}/conflict",
        "committee_member",
    ),
    ("GET", "/api/v1/custody/applications", "custodian"),
    ("GET", "/api/v1/custody/applications/{id}", "custodian"),
    (
        "POST",
        "/api/v1/custody/applications/{id}/confirm",
        "custodian",
    ),
    (
        "POST",
        "/api/v1/custody/applications/{id}/refuse",
        "custodian",
    ),
    ("GET", "/audit", "auditor"),
    ("GET", "/audit/verify", "auditor"),
    ("GET", "/audit/export", "auditor"),
    ("GET", "/api/v1/audit/entries", "auditor"),
    ("GET", "/api/v1/audit/verify", "auditor"),
    ("POST", "/api/v1/audit/checkpoint", "auditor"),
    ("GET", "/api/v1/audit/chain", "auditor"),
    ("POST", "/api/v1/audit/witness", "auditor"),
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Anonymous,
    PasswordOnly,
    Role(Role),
}

fn allowed(rule: &str, who: Who) -> bool {
    match (rule, who) {
        ("everyone", _) => true,
        (_, Who::Anonymous) => false,
        ("pending", _) => true,
        (_, Who::PasswordOnly) => false,
        ("signed_in", _) => true,
        (role, Who::Role(r)) => r.code() == role,
    }
}

fn expected_rule(s: &RouteSpec) -> &'static str {
    EXPECTED
        .iter()
        .find(|(m, p, _)| *m == s.method.as_str() && *p == s.path)
        .map(|(_, _, r)| *r)
        .unwrap_or_else(|| {
            panic!(
                "route {} {} has no row in EXPECTED: say who may use it",
                s.method, s.path
            )
        })
}

const PRE: &str = "fixed-pre-session-cookie-value-for-tests-0123456789";

struct Caller {
    who: Who,
    token: Option<String>,
}

impl Caller {
    fn cookie(&self) -> String {
        match &self.token {
            Some(t) => format!(
                "{}={t}; {}={PRE}",
                renkei_server::SESSION_COOKIE,
                renkei_server::PRE_COOKIE
            ),
            None => format!("{}={PRE}", renkei_server::PRE_COOKIE),
        }
    }
    fn csrf(&self, fx: &Fx) -> String {
        match &self.token {
            Some(t) => fx
                .state
                .csrf_token(&format!("s:{}", renkei_crypto::sha256_hex(t.as_bytes()))),
            None => fx.state.csrf_token(&format!("p:{PRE}")),
        }
    }
}

async fn callers(fx: &Fx) -> Vec<Caller> {
    let mut v = vec![Caller {
        who: Who::Anonymous,
        token: None,
    }];
    fx.user("pending", &[Role::Researcher]).await;
    v.push(Caller {
        who: Who::PasswordOnly,
        token: Some(fx.password_token("pending").await),
    });
    for r in Role::ALL {
        let name = format!("u-{}", r.code().replace('_', "-"));
        fx.user(&name, &[r]).await;
        v.push(Caller {
            who: Who::Role(r),
            token: Some(fx.full_token(&name).await),
        });
    }
    v
}

fn concrete(path: &str, target: &str) -> String {
    path.replace(
        "{id}",
        if path.starts_with("/admin") {
            target
        } else {
            "no-such-token"
        },
    )
    .replace("{lang}", "en")
    .replace("{version}", "1")
}

async fn request(fx: &Fx, c: &Caller, s: &RouteSpec, target: &str, csrf: Option<String>) -> Resp {
    let mut client = fx.client();
    let cookie = c.cookie();
    let form: Vec<(&str, String)> = csrf.map(|t| vec![("csrf", t)]).unwrap_or_default();
    let form_ref: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let body = if s.method == Method::POST {
        Some(form_ref.as_slice())
    } else {
        None
    };
    client
        .send(
            s.method.clone(),
            &concrete(s.path, target),
            body,
            &[("cookie", &cookie)],
        )
        .await
}

async fn every_route_for_every_role(store: Store) {
    let fx = fixture(&store).await;
    let target = fx.user("target", &[Role::Researcher]).await.id.to_string();
    let callers = callers(&fx).await;
    let mut routes = specs();
    // Signing out ends the caller's session, so it goes last.
    routes.sort_by_key(|s| s.path == "/logout");
    for s in &routes {
        expected_rule(s);
    }
    let before = fx.denied_entries().await;
    let mut denials = 0;
    for c in &callers {
        for s in &routes {
            let rule = expected_rule(s);
            let r = request(&fx, c, s, &target, Some(c.csrf(&fx))).await;
            let label = format!("{} {} as {:?}", s.method, s.path, c.who);
            if allowed(rule, c.who) {
                assert_eq!(
                    r.denied(),
                    None,
                    "{label} should be allowed; got {} {}",
                    r.status,
                    r.location()
                );
                // Past the gate, a service may still refuse this object (not on
                // the committee's roster, not this custodian's dataset), but never
                // for want of a permission the gate granted.
                assert!(
                    r.status != StatusCode::FORBIDDEN || !r.body.contains("permission_missing"),
                    "{label}: refused by permission after the gate allowed it"
                );
                assert!(
                    !r.status.is_server_error() && r.status != StatusCode::METHOD_NOT_ALLOWED,
                    "{label}: an allowed route answered {}: {}",
                    r.status,
                    r.body.chars().take(300).collect::<String>()
                );
            } else {
                denials += 1;
                let reason = r
                    .denied()
                    .unwrap_or_else(|| panic!("{label} should be denied; got {}", r.status));
                let api = s.path.starts_with("/api/");
                match c.who {
                    Who::Anonymous => {
                        assert_eq!(reason, "not_signed_in", "{label}");
                        if api {
                            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{label}");
                        } else {
                            assert_eq!(r.status, StatusCode::SEE_OTHER, "{label}");
                            assert!(
                                r.location().starts_with("/login?next="),
                                "{label}: {}",
                                r.location()
                            );
                        }
                    }
                    Who::PasswordOnly => {
                        assert_eq!(reason, "mfa_required", "{label}");
                        if !api {
                            assert_eq!(r.location(), "/mfa", "{label}");
                        }
                    }
                    Who::Role(_) => {
                        assert_eq!(reason, "permission_missing", "{label}");
                        assert_eq!(r.status, StatusCode::FORBIDDEN, "{label}");
                        if !api {
                            assert!(
                                r.body.contains("この操作を行う権限がありません"),
                                "{label}: error page in Japanese"
                            );
                        }
                    }
                }
            }
        }
    }
    assert!(denials > 100, "the matrix exercised {denials} denials");
    assert_eq!(
        fx.denied_entries().await - before,
        denials,
        "every denial was audited"
    );
}

async fn every_state_change_needs_csrf(store: Store) {
    let fx = fixture(&store).await;
    let target = fx.user("target", &[Role::Researcher]).await.id.to_string();
    let callers = callers(&fx).await;
    let posts: Vec<RouteSpec> = specs()
        .into_iter()
        .filter(|s| s.method != Method::GET)
        .collect();
    assert!(posts.len() >= 12);
    for s in &posts {
        let rule = expected_rule(s);
        let c = callers.iter().find(|c| allowed(rule, c.who)).unwrap();
        for csrf in [
            None,
            Some("forged-token".to_owned()),
            Some(callers[0].csrf(&fx)),
        ] {
            if c.token.is_none() && csrf.as_deref() == Some(callers[0].csrf(&fx).as_str()) {
                continue; // that is the anonymous caller's own valid token
            }
            let r = request(&fx, c, s, &target, csrf.clone()).await;
            assert_eq!(
                r.denied(),
                Some("csrf"),
                "{} {} as {:?} with {csrf:?}",
                s.method,
                s.path,
                c.who
            );
            assert_eq!(r.status, StatusCode::FORBIDDEN);
        }
    }
    let log = renkei_audit::testing::recent(
        fx.app.store_for_tests(),
        &renkei_audit::ExportFilter {
            action_prefix: Some("http.csrf".into()),
            ..Default::default()
        },
        1000,
    )
    .await
    .unwrap();
    assert!(log.len() >= posts.len() * 2, "CSRF refusals are audited");
}

store_test!(every_route_for_every_role, every_state_change_needs_csrf);
