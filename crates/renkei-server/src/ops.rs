//! Liveness, readiness and Prometheus metrics.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// The process can serve: the store answers.
pub async fn readyz(State(st): State<AppState>) -> Response {
    match st.app.ready().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "metadata store unreachable",
            )
                .into_response()
        }
    }
}

/// Prometheus text format. If `metrics.token` is configured, the scraper must present it.
pub async fn metrics(State(st): State<AppState>, req: Request) -> Response {
    if let Some(expected) = &st.app.config.metrics.token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !renkei_crypto::ct_eq(presented.as_bytes(), expected.as_bytes()) {
            return (StatusCode::UNAUTHORIZED, "metrics token required").into_response();
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
        .into_response()
}

/// Counts requests and times them, labelled by route pattern (not raw path, so ids in
/// paths do not explode the label space).
pub async fn track(State(_st): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_owned();
    let start = std::time::Instant::now();
    let resp = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    let status = resp.status().as_u16().to_string();
    metrics::counter!("renkei_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("renkei_http_request_duration_seconds", "method" => method, "route" => route).record(secs);
    resp
}
