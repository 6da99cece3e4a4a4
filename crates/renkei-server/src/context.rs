//! Per-request context: request id, language, who is calling, the CSRF token for their
//! forms. Built once per request by [`middleware`], read by handlers as an extractor.
//! The same middleware renders errors (it knows the language and whether the caller is
//! a browser or an API client) and sets the security headers.

use crate::AppState;
use crate::error::ErrorInfo;
use crate::i18n::Lang;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, header, request::Parts};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use renkei_accounts::{Session, Via};
use renkei_core::role::AuthLevel;
use renkei_core::{Caller, Role};

/// Session cookie name.
pub const SESSION_COOKIE: &str = "renkei_session";
/// Anonymous pre-session cookie, which binds the CSRF token of the sign-in form.
pub const PRE_COOKIE: &str = "renkei_pre";
/// Language cookie.
pub const LANG_COOKIE: &str = "renkei_lang";
/// Header carrying the CSRF token for JSON requests made with a session cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who is calling and how to answer them.
#[derive(Clone)]
pub struct RequestContext {
    /// Id of this request, in logs, audit entries and error pages.
    pub request_id: String,
    /// Language for the answer.
    pub lang: Lang,
    /// The caller's session, if valid.
    pub session: Option<Session>,
    /// The caller, as every service call takes it (anonymous without a session).
    pub caller: Caller,
    /// Why a presented session or token was not accepted (`expired_idle`, ...).
    pub session_problem: Option<&'static str>,
    /// The CSRF token the caller's forms must carry.
    pub csrf: String,
    /// The request path (for redirects back after sign-in and language switch).
    pub path: String,
    /// Whether the answer should be JSON.
    pub api: bool,
    /// The caller's User-Agent (recorded with new sessions so users can recognise them).
    pub user_agent: String,
}

impl RequestContext {
    /// The caller's authentication level.
    pub fn level(&self) -> AuthLevel {
        self.caller.level()
    }
    /// The caller's roles (none if anonymous).
    pub fn roles(&self) -> &[Role] {
        self.caller.roles()
    }
    /// Whether fully signed in.
    pub fn signed_in(&self) -> bool {
        self.level() == AuthLevel::Full
    }
    /// Translates a message key.
    pub fn t(&self, key: &str) -> &'static str {
        crate::i18n::t(self.lang, key)
    }
    /// The caller's language's text of a bilingual pair (English falls back to Japanese).
    pub fn pick<'a>(&self, ja: &'a str, en: &'a str) -> &'a str {
        match self.lang {
            crate::i18n::Lang::En if !en.is_empty() => en,
            _ => ja,
        }
    }
    /// Whether the caller authenticated with an API token (no cookies, so no CSRF).
    pub fn via_token(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.via == Via::ApiToken)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = crate::AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestContext>()
            .cloned()
            .ok_or_else(|| crate::AppError::internal("request context missing"))
    }
}

/// The client's IP address: the peer's, or, when the peer is a trusted proxy, the last
/// address the proxy appended to `X-Forwarded-For` (the only one a client cannot forge).
/// Empty when unknown (requests not from a socket, as in tests).
pub(crate) fn client_address(req: &Request, trusted: &[String]) -> String {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let Some(peer) = peer else {
        return String::new();
    };
    if trusted
        .iter()
        .any(|t| t.parse::<std::net::IpAddr>().ok() == Some(peer))
        && let Some(forwarded) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|a| a.trim().parse::<std::net::IpAddr>().ok())
    {
        return forwarded.to_string();
    }
    peer.to_string()
}

/// Every refusal reaches the audit log by one path: those the gate, a service or a
/// handler did not record (an unknown page or id, a malformed or oversized body the
/// framework refused, a wrong method) are recorded here, folded like every anonymous
/// refusal. The object names the route's first segment, so probing many ids or paths
/// folds into one entry per window.
async fn audit_unrecorded_refusal(
    st: &AppState,
    ctx: &RequestContext,
    method: &axum::http::Method,
    status: axum::http::StatusCode,
    info: Option<&ErrorInfo>,
) {
    use axum::http::StatusCode as S;
    let reason = match status {
        S::BAD_REQUEST => "bad_request",
        S::NOT_FOUND => "not_found",
        S::METHOD_NOT_ALLOWED => "method_not_allowed",
        S::REQUEST_TIMEOUT => "request_timeout",
        S::PAYLOAD_TOO_LARGE => "payload_too_large",
        S::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        S::UNPROCESSABLE_ENTITY => "unprocessable",
        _ => return,
    };
    if info.is_some_and(|i| i.audited) {
        return;
    }
    let segment = ctx.path.split('/').nth(1).unwrap_or("");
    let segment: String = segment.chars().take(40).collect();
    let ev = ctx
        .caller
        .event(
            renkei_core::Action::HttpAccess,
            format!("route:{method} /{segment}"),
            renkei_core::Outcome::denied(info.map_or(reason, |i| i.code)),
        )
        .detail(serde_json::json!({
            "path": loggable_path(&ctx.path),
            "status": status.as_u16(),
        }));
    if let Err(e) = st.app.audit.record_refusal(ev).await {
        tracing::error!(error = %e, "a refusal could not be recorded in the audit log");
    }
}

/// A request path as the log may keep it: at most 200 characters, and never the secret
/// of an enrolment link.
fn loggable_path(path: &str) -> String {
    if path.starts_with("/enrol/") {
        return "/enrol/…".into();
    }
    path.chars().take(200).collect()
}

/// Paths that need no caller identity (assets, probes): skip the session look-up.
fn anonymous_path(path: &str) -> bool {
    path.starts_with("/static/") || path == "/healthz" || path == "/readyz" || path == "/metrics"
}

/// Builds the context, runs the request, renders any error, sets cookies and headers.
pub async fn middleware(
    State(st): State<AppState>,
    jar: CookieJar,
    mut req: Request,
    next: Next,
) -> Response {
    let request_id = uuid::Uuid::now_v7().to_string();
    let path = req.uri().path().to_owned();
    let api = path.starts_with("/api/");
    let lang = jar
        .get(LANG_COOKIE)
        .and_then(|c| Lang::parse(c.value()))
        .unwrap_or_default();
    let mut session = None;
    let mut session_problem = None;
    let mut clear_session = false;
    if !anonymous_path(&path) {
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        // API tokens open the API only: a leaked token cannot use the pages (make more
        // tokens, change the password) the way a signed-in browser can.
        if let Some(token) = bearer.filter(|_| api) {
            match st.app.accounts.resolve_api_token(token.trim()).await {
                Ok(s) => session = Some(s),
                Err(e) => session_problem = Some(problem_code(&e)),
            }
        } else if let Some(c) = jar.get(SESSION_COOKIE) {
            match st.app.accounts.resolve_session(c.value()).await {
                Ok(s) => session = Some(s),
                Err(e) => {
                    session_problem = Some(problem_code(&e));
                    clear_session = true;
                }
            }
        }
    }
    let (pre, new_pre) = match jar.get(PRE_COOKIE) {
        Some(c) if c.value().len() >= 32 => (c.value().to_owned(), None),
        _ => {
            let v = renkei_crypto::random_token();
            (v.clone(), Some(v))
        }
    };
    let binding = match &session {
        Some(s) => format!("s:{}", s.token_hash),
        None => format!("p:{pre}"),
    };
    let source = client_address(&req, &st.app.config.trusted_proxies);
    let caller = match &session {
        Some(s) => s.caller(request_id.clone()),
        None => Caller::anonymous(request_id.clone()),
    }
    .from_source(source);
    let ctx = RequestContext {
        request_id: request_id.clone(),
        lang,
        caller,
        session,
        session_problem,
        csrf: st.csrf_token(&binding),
        path,
        api,
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(200)
            .collect(),
    };
    let method = req.method().clone();
    req.extensions_mut().insert(ctx.clone());
    let mut resp = next.run(req).await;

    let info = resp.extensions_mut().remove::<ErrorInfo>();
    if resp.extensions().get::<crate::error::Audited>().is_none() {
        audit_unrecorded_refusal(&st, &ctx, &method, resp.status(), info.as_ref()).await;
    }
    if let Some(info) = info {
        resp = crate::error::render(&ctx, resp, info);
    }
    let secure = st.app.config.cookie_secure();
    let mut set = Vec::new();
    if let Some(v) = new_pre {
        set.push(cookie(PRE_COOKIE, v, secure));
    }
    if clear_session {
        set.push(removal(SESSION_COOKIE, secure));
    }
    let h = resp.headers_mut();
    for c in set {
        if let Ok(v) = HeaderValue::from_str(&c.encoded().to_string()) {
            h.append(header::SET_COOKIE, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-request-id", v);
    }
    security_headers(h, secure);
    resp
}

fn problem_code(e: &renkei_accounts::AccountError) -> &'static str {
    match e {
        renkei_accounts::AccountError::Session(r) => r,
        _ => "session_error",
    }
}

fn security_headers(h: &mut axum::http::HeaderMap, https: bool) {
    let set = |h: &mut axum::http::HeaderMap, k: &'static str, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "no-referrer");
    set(h, "cache-control", "no-store");
    if https {
        // Served over TLS (here or at the proxy): browsers must not fall back to HTTP.
        set(h, "strict-transport-security", "max-age=31536000");
    }
}

/// A cookie as this server sets them: HttpOnly, SameSite=Strict, path `/`, `Secure` under TLS.
pub fn cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure)
        .build()
}

/// A cookie that deletes `name`.
pub fn removal(name: &'static str, secure: bool) -> Cookie<'static> {
    let mut c = cookie(name, String::new(), secure);
    c.make_removal();
    c
}
