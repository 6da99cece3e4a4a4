//! One error type for every handler, and the one place it becomes a response.
//!
//! Handlers return [`AppError`]; its `IntoResponse` only records what went wrong in the
//! response's extensions. The context middleware then renders it, because it knows the
//! caller's language and whether they want HTML or JSON. Internal details are logged
//! with the request id and never sent to the caller.

use crate::context::RequestContext;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use renkei_core::role::AccessDenied;
use renkei_core::{Coded, ErrorKind};

/// What a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The route's access requirement is not met (already audited by the gate).
    #[error("access denied: {0}")]
    Denied(AccessDenied),
    /// The CSRF token is missing or wrong (already audited).
    #[error("CSRF token missing or invalid")]
    Csrf,
    /// No such page.
    #[error("not found")]
    NotFound,
    /// The request is malformed; the text is safe to show.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The request was refused as malformed and the refusal is already audited.
    #[error("bad request: {0}")]
    Refused(String),
    /// A service refused or failed (refusals are audited by the service).
    #[error("{internal}")]
    Service {
        /// Stable code.
        code: &'static str,
        /// What kind of failure.
        kind: ErrorKind,
        /// Safe to show.
        detail: Option<String>,
        /// For the server log only.
        internal: String,
    },
}

impl<E: Coded> From<E> for AppError {
    fn from(e: E) -> Self {
        AppError::Service {
            code: e.code(),
            kind: e.kind(),
            detail: e.public_detail(),
            internal: e.to_string(),
        }
    }
}

impl AppError {
    /// Something broke on our side; `msg` goes to the server log only.
    pub fn internal(msg: impl Into<String>) -> Self {
        AppError::Service {
            code: "internal",
            kind: ErrorKind::Internal,
            detail: None,
            internal: msg.into(),
        }
    }
}

/// The HTTP status of each kind of failure. Exhaustive on purpose: a new kind must be
/// given its status here, and no service error can fall through to a 500 unseen.
pub(crate) fn kind_status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Denied => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Throttled => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Refuses malformed input: audited like every refusal, then a 400 naming the problem.
pub(crate) async fn refuse(
    st: &crate::AppState,
    ctx: &RequestContext,
    action: renkei_core::Action,
    object: &str,
    problem: String,
) -> AppError {
    let ev = ctx
        .caller
        .event(
            action,
            object,
            renkei_core::Outcome::denied("invalid_input"),
        )
        .detail(serde_json::json!({ "problem": problem }));
    match st.app.audit.record_refusal(ev).await {
        Ok(_) => AppError::Refused(problem),
        Err(e) => e.into(),
    }
}

/// Marks a response whose refusal is already in the audit log (a page re-rendered with
/// an error after the service recorded it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Audited;

/// The rendered-later description of an error, carried in response extensions.
#[derive(Clone, Debug)]
pub(crate) struct ErrorInfo {
    pub code: &'static str,
    pub detail: Option<String>,
    pub denied: Option<AccessDenied>,
    /// Whether the refusal is already in the audit log.
    pub audited: bool,
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::Denied(d) => kind_status(d.kind()),
            AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) | AppError::Refused(_) => StatusCode::BAD_REQUEST,
            AppError::Service { kind, .. } => kind_status(*kind),
        }
    }

    /// Stable code, shown to the caller and used to pick the message.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Denied(d) => d.code(),
            AppError::Csrf => "csrf",
            AppError::NotFound => "not_found",
            AppError::BadRequest(_) | AppError::Refused(_) => "bad_request",
            AppError::Service { code, .. } => code,
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
            AppError::BadRequest(m) | AppError::Refused(m) => Some(m.clone()),
            AppError::Service { detail, .. } => detail.clone(),
            _ => None,
        };
        let denied = match &self {
            AppError::Denied(d) => Some(*d),
            _ => None,
        };
        // Refusals the gate, a service or `refuse` recorded; the rest (unknown pages and
        // ids, malformed input found here) the context middleware records.
        let audited = match &self {
            AppError::Denied(_) | AppError::Csrf | AppError::Refused(_) => true,
            AppError::NotFound | AppError::BadRequest(_) => false,
            AppError::Service { kind, .. } => *kind != ErrorKind::NotFound,
        };
        let mut r = status.into_response();
        r.extensions_mut().insert(ErrorInfo {
            code: self.code(),
            detail,
            denied,
            audited,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_status() {
        let mut seen = std::collections::HashSet::new();
        for k in ErrorKind::ALL {
            let s = kind_status(k);
            assert!(seen.insert(s), "{k:?} shares {s}");
            assert_eq!(
                s.is_server_error(),
                matches!(k, ErrorKind::Internal | ErrorKind::Unavailable),
                "{k:?}"
            );
        }
        assert_eq!(kind_status(ErrorKind::Conflict), StatusCode::CONFLICT);
    }

    #[test]
    fn service_errors_keep_their_code_and_kind() {
        let e: AppError = AccessDenied::Missing(renkei_core::Permission::ReadAudit).into();
        assert_eq!(e.code(), "permission_missing");
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        let e: AppError = AccessDenied::NotSignedIn.into();
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
    }
}
