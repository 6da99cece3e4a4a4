//! A fixture: an app on a given store with a clock the test moves, its router, and a
//! small cookie-keeping client that talks to the router like a browser without JS.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use renkei_app::{App, Config, Keys};
use renkei_core::time::{Clock as _, ManualClock};
use renkei_core::{Role, Timestamp};
use renkei_crypto::PasswordParams;
use renkei_server::AppState;
use renkei_store::Store;
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt as _;

pub const PW: &str = "correct horse battery staple";

pub struct Fx {
    pub app: App,
    pub state: AppState,
    pub router: Router,
    pub clock: ManualClock,
    _dir: tempfile::TempDir,
}

pub async fn fixture(store: &Store) -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.data_dir = dir.path().to_owned();
    cfg.database_url = Some(store.url().to_owned());
    cfg.password = PasswordParams::insecure_for_tests();
    let now = renkei_core::time::SystemClock.now();
    let clock = ManualClock::new(Timestamp::from_secs(now.secs() / 30 * 30));
    let app = App::open_with_clock(cfg, Keys::CreateIfMissing, Arc::new(clock.clone()))
        .await
        .unwrap();
    let state = AppState::new(app.clone());
    let router = renkei_server::router(state.clone());
    Fx {
        app,
        state,
        router,
        clock,
        _dir: dir,
    }
}

/// A secret per username, so tests can compute codes.
pub fn secret_for(username: &str) -> Vec<u8> {
    format!("secret-for-{username}-0123456789").into_bytes()
}

impl Fx {
    /// Creates an enrolled user.
    pub async fn user(&self, username: &str, roles: &[Role]) -> renkei_accounts::User {
        let admin = self
            .app
            .accounts
            .admin(&renkei_core::Caller::operator(
                "test",
                renkei_core::Duty::Accounts,
            ))
            .await
            .unwrap();
        let u = admin
            .create_user(username, username, PW, roles)
            .await
            .unwrap();
        admin
            .enrol_known_secret(&u.id, &secret_for(username))
            .await
            .unwrap();
        u
    }

    /// The current TOTP code for a user made by [`Fx::user`].
    pub fn code(&self, username: &str) -> String {
        let b32 = renkei_accounts::encode_secret(&secret_for(username));
        renkei_accounts::current_code(&b32, self.clock.now().secs() as u64).unwrap()
    }

    /// A full session token, through the services (no HTTP).
    pub async fn full_token(&self, username: &str) -> String {
        let ctx = renkei_core::Caller::anonymous("test");
        let s = self
            .app
            .accounts
            .sign_in_password(&ctx, username, PW, "test")
            .await
            .unwrap();
        let sess = self.app.accounts.resolve_session(&s.token).await.unwrap();
        self.app
            .accounts
            .verify_mfa(&ctx, &sess, &self.code(username))
            .await
            .unwrap()
    }

    /// An API token (all scopes) for a user made by [`Fx::user`].
    pub async fn api_token(&self, username: &str) -> String {
        let session = self.full_token(username).await;
        let sess = self.app.accounts.resolve_session(&session).await.unwrap();
        self.app
            .accounts
            .create_api_token(
                &sess.caller("test"),
                "test",
                30,
                renkei_core::TokenScope::All,
                PW,
            )
            .await
            .unwrap()
            .1
    }

    /// A password-only session token.
    pub async fn password_token(&self, username: &str) -> String {
        self.app
            .accounts
            .sign_in_password(
                &renkei_core::Caller::anonymous("test"),
                username,
                PW,
                "test",
            )
            .await
            .unwrap()
            .token
    }

    pub fn client(&self) -> Client {
        Client {
            router: self.router.clone(),
            cookies: BTreeMap::new(),
            raw: None,
        }
    }

    /// Access denials by the route gate recorded in the audit log.
    pub async fn denied_entries(&self) -> usize {
        let f = renkei_audit::ExportFilter {
            denied_only: true,
            action_prefix: Some("http.access".into()),
            ..Default::default()
        };
        renkei_audit::testing::recent(self.app.store_for_tests(), &f, 10_000)
            .await
            .unwrap()
            .iter()
            .filter(|e| {
                matches!(
                    e.reason.as_str(),
                    "not_signed_in" | "mfa_required" | "permission_missing"
                )
            })
            .count()
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn denied(&self) -> Option<&str> {
        self.headers
            .get(renkei_server::routes::DENIED_HEADER)
            .and_then(|v| v.to_str().ok())
    }
    /// The value of the first `name="csrf"` hidden field.
    pub fn csrf(&self) -> String {
        let i = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("page has a CSRF field");
        let rest = &self.body[i + 19..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

/// A browser without JavaScript: keeps cookies, sends forms.
pub struct Client {
    router: Router,
    pub cookies: BTreeMap<String, String>,
    /// A body for the next request that is not a form: (content type, bytes).
    pub raw: Option<(String, Vec<u8>)>,
}

impl Client {
    /// Uploads one file as a browser's multipart form does (field `file`).
    pub async fn upload(&mut self, path: &str, filename: &str, bytes: &[u8]) -> Resp {
        let boundary = "----renkei-test-boundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.raw = Some((format!("multipart/form-data; boundary={boundary}"), body));
        self.send(Method::POST, path, None, &[]).await
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(path);
        if !self.cookies.is_empty() {
            let c = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req = req.header("cookie", c);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = match form {
            Some(f) => {
                req = req.header("content-type", "application/x-www-form-urlencoded");
                Body::from(
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(f)
                        .finish(),
                )
            }
            None => match self.raw.take() {
                Some((ct, bytes)) => {
                    req = req.header("content-type", ct);
                    Body::from(bytes)
                }
                None => Body::empty(),
            },
        };
        let resp = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        for sc in headers.get_all("set-cookie") {
            let s = sc.to_str().unwrap();
            let (nv, attrs) = s.split_once(';').unwrap_or((s, ""));
            let (n, v) = nv.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") || v.is_empty() {
                self.cookies.remove(n);
            } else {
                self.cookies.insert(n.to_owned(), v.to_owned());
            }
        }
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// A JSON API call with a bearer token; the answer's body parsed as JSON (null
    /// when empty).
    pub async fn api(
        &mut self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"));
        let body = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        let resp = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let v = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
            })
        };
        (status, v)
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send(Method::POST, path, Some(form), &[]).await
    }

    /// Signs in through the pages: password, then the code.
    pub async fn sign_in(&mut self, fx: &Fx, username: &str) -> Resp {
        let page = self.get("/login").await;
        let r = self
            .post(
                "/login",
                &[
                    ("csrf", &page.csrf()),
                    ("username", username),
                    ("password", PW),
                    ("next", "/home"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let mfa = self.get(r.location()).await;
        let code = fx.code(username);
        self.post(
            "/mfa",
            &[("csrf", &mfa.csrf()), ("code", &code), ("next", "/home")],
        )
        .await
    }
}

impl Fx {
    pub fn clock_secs(&self) -> u64 {
        self.clock.now().secs() as u64
    }
}
