//! One error type for every handler, and the one place it becomes a response.
//!
//! Handlers return [`AppError`]; its `IntoResponse` only records what went wrong in the
//! response's extensions. The context middleware then renders it, because it knows the
//! caller's language and whether they want HTML or JSON. Internal details are logged
//! with the request id and never sent to the caller.

use crate::context::RequestContext;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use renkei_accounts::AccountError;
use renkei_core::role::AccessDenied;

/// What a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The route's access requirement is not met (already audited by the gate).
    #[error("access denied: {0}")]
    Denied(AccessDenied),
    /// The CSRF token is missing or wrong (already audited).
    #[error("CSRF token missing or invalid")]
    Csrf,
    /// No such page or object.
    #[error("not found")]
    NotFound,
    /// The request is malformed; the text is safe to show.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// An account operation refused or failed (refusals are audited by the service).
    #[error(transparent)]
    Account(#[from] AccountError),
    /// Something broke on our side.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<renkei_catalog::CatalogError> for AppError {
    fn from(e: renkei_catalog::CatalogError) -> Self {
        match e {
            renkei_catalog::CatalogError::NoSuchDataset(_) => AppError::NotFound,
            e => AppError::Internal(e.to_string()),
        }
    }
}

impl From<renkei_audit::AuditError> for AppError {
    fn from(e: renkei_audit::AuditError) -> Self {
        AppError::Internal(e.to_string())
    }
}

/// Refuses malformed input: audited like every refusal, then a 400 naming the problem.
pub(crate) async fn refuse(
    st: &crate::AppState,
    ctx: &RequestContext,
    action: &str,
    object: &str,
    problem: String,
) -> AppError {
    let ev = ctx
        .ctx()
        .event(
            action,
            object,
            renkei_core::Outcome::denied("invalid_input"),
        )
        .detail(serde_json::json!({ "problem": problem }));
    match st.app.audit.record(ev).await {
        Ok(_) => AppError::BadRequest(problem),
        Err(e) => e.into(),
    }
}

/// The rendered-later description of an error, carried in response extensions.
#[derive(Clone, Debug)]
pub(crate) struct ErrorInfo {
    pub code: &'static str,
    pub detail: Option<String>,
    pub denied: Option<AccessDenied>,
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::Denied(AccessDenied::NotSignedIn) => StatusCode::UNAUTHORIZED,
            AppError::Denied(_) | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Account(e) => match e {
                AccountError::BadCredentials
                | AccountError::BadTotp
                | AccountError::TotpReplayed
                | AccountError::Session(_) => StatusCode::UNAUTHORIZED,
                AccountError::Busy => StatusCode::SERVICE_UNAVAILABLE,
                AccountError::Locked { .. } => StatusCode::TOO_MANY_REQUESTS,
                AccountError::Disabled | AccountError::LastAdmin => StatusCode::FORBIDDEN,
                AccountError::NoSuchUser => StatusCode::NOT_FOUND,
                AccountError::DuplicateUsername => StatusCode::CONFLICT,
                e if e.is_client_error() => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable code, shown to the caller and used to pick the message.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Denied(d) => d.code(),
            AppError::Csrf => "csrf",
            AppError::NotFound => "not_found",
            AppError::BadRequest(_) => "bad_request",
            AppError::Account(e) => e.code(),
            AppError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let detail = match &self {
            AppError::BadRequest(m) => Some(m.clone()),
            AppError::Account(AccountError::Invalid(m)) => Some(m.clone()),
            AppError::Account(AccountError::Locked { until }) => Some(until.to_rfc3339()),
            _ => None,
        };
        let denied = match &self {
            AppError::Denied(d) => Some(*d),
            _ => None,
        };
        let mut r = status.into_response();
        r.extensions_mut().insert(ErrorInfo {
            code: self.code(),
            detail,
            denied,
        });
        r
    }
}

/// Turns a recorded error into the answer the caller understands.
pub(crate) fn render(ctx: &RequestContext, resp: Response, info: ErrorInfo) -> Response {
    let status = resp.status();
    let mut out = render_body(ctx, status, info);
    // Keep headers the handler or gate set (e.g. the denial reason).
    for (k, v) in resp.headers() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

fn render_body(ctx: &RequestContext, status: StatusCode, info: ErrorInfo) -> Response {
    let message = crate::i18n::error_message(ctx.lang, info.code);
    if ctx.api {
        let body = serde_json::json!({
            "error": { "code": info.code, "message": message, "detail": info.detail, "request_id": ctx.request_id }
        });
        let mut r = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        return r;
    }
    match info.denied {
        Some(AccessDenied::NotSignedIn) => {
            let mut to = format!(
                "/login?next={}",
                url::form_urlencoded::byte_serialize(ctx.path.as_bytes()).collect::<String>()
            );
            if let Some(p) = ctx.session_problem {
                to.push_str("&reason=");
                to.push_str(p);
            }
            return Redirect::to(&to).into_response();
        }
        Some(AccessDenied::MfaRequired) => {
            let enrolled = ctx.session.as_ref().is_some_and(|s| s.user.mfa_enrolled);
            return Redirect::to(if enrolled { "/mfa" } else { "/mfa/enrol" }).into_response();
        }
        _ => {}
    }
    let page = crate::pages::error_page(ctx, status, info.code, &message, info.detail.as_deref());
    (status, page).into_response()
}
