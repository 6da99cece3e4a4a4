//! The HTTP face of Renkei: server-rendered pages (Japanese first, English one click
//! away, every core flow without JavaScript), a JSON API under `/api/v1` described by
//! OpenAPI, and the operational endpoints.
//!
//! **API boundary:** only this crate knows HTTP, HTML, cookies and JSON wire shapes. It
//! holds no business rules: it resolves who is calling, checks the route's declared
//! [`Access`](renkei_core::Access) against the role table in `renkei-core`, checks the
//! CSRF token on every state-changing request, and calls the services in `renkei-app`.
//!
//! **Invariant:** routes exist only in the table of [`routes`], each with its
//! required access; the router is built from that table alone, and a test walks every
//! route for every role.
#![warn(missing_docs)]

mod access_api;
mod api;
mod context;
mod error;
mod form;
pub mod i18n;
mod ops;
mod pages;
pub mod routes;
mod wire;
mod workspace_api;

pub use context::{CSRF_HEADER, LANG_COOKIE, PRE_COOKIE, RequestContext, SESSION_COOKIE};
pub use error::AppError;

use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use renkei_app::App;
use renkei_crypto::Macer;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The services.
    pub app: App,
    csrf: Arc<Macer>,
    metrics: PrometheusHandle,
    /// Requests being handled; more than the configured number are refused at once.
    pub(crate) in_flight: Arc<tokio::sync::Semaphore>,
    /// Requests per client address.
    pub(crate) rates: Arc<renkei_core::bucket::Buckets>,
    /// When this state was made (for the rate buckets' clock).
    pub(crate) started: std::time::Instant,
}

impl AppState {
    /// State over an opened application.
    pub fn new(app: App) -> Self {
        let csrf = Arc::new(app.csrf_macer());
        let http = app.config.http.clone();
        Self {
            app,
            csrf,
            metrics: metrics_handle(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(http.max_in_flight)),
            rates: Arc::new(renkei_core::bucket::Buckets::new(
                f64::from(http.per_client_burst),
                f64::from(http.per_client_per_sec),
            )),
            started: std::time::Instant::now(),
        }
    }

    /// The CSRF token for a binding (the session, or the anonymous pre-session cookie).
    pub fn csrf_token(&self, binding: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(&self.csrf.mac(binding.as_bytes())[..24])
    }
}

/// The process-wide Prometheus recorder (a recorder can be installed only once).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
                .unwrap_or_else(|_| metrics_exporter_prometheus::PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(h) => h,
                // Another recorder is installed (only in unusual embeddings): keep a
                // private one so /metrics still answers.
                Err(_) => metrics_exporter_prometheus::PrometheusBuilder::new()
                    .build_recorder()
                    .handle(),
            }
        })
        .clone()
}

/// The whole router.
pub fn router(state: AppState) -> Router {
    routes::build(state)
}

/// Serves until `shutdown` resolves, then drains requests, flushes the audit log and
/// writes a final checkpoint. Uses TLS when the configuration has it.
pub async fn serve(
    state: AppState,
    listener: std::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = state.app.clone();
    if app.holds_linkage_key() {
        return Err(ServeError::HoldsLinkageKey);
    }
    let addr = listener.local_addr().map_err(ServeError::Io)?;
    let caller = renkei_core::Caller::system();
    app.audit
        .record(caller.event(
            renkei_core::Action::ServerStart,
            format!("listen:{addr}"),
            renkei_core::Outcome::Allowed,
        ))
        .await
        .map_err(|e| ServeError::Audit(e.to_string()))?;
    let checkpointer = app.audit.spawn_checkpointer(std::time::Duration::from_secs(
        app.config.audit.checkpoint_interval_secs.max(1),
    ));
    // Closure at the end of a period, and the warnings before it, do not wait for
    // anyone to ask.
    let sweeper = app.spawn_sweeper(std::time::Duration::from_secs(3600));
    let make = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let header_timeout =
        std::time::Duration::from_secs(app.config.http.header_read_timeout_secs.max(1));
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    listener.set_nonblocking(true).map_err(ServeError::Io)?;
    // A client that sends half a header is dropped after the timeout instead of holding
    // a connection for ever.
    let tune = |b: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>| {
        b.http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(header_timeout);
        b.http2().timer(hyper_util::rt::TokioTimer::new());
    };
    let result = match &app.config.tls {
        Some(tls) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let cfg =
                axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert_file, &tls.key_file)
                    .await
                    .map_err(|e| {
                        ServeError::Tls(format!(
                            "{} / {}: {e}",
                            tls.cert_file.display(),
                            tls.key_file.display()
                        ))
                    })?;
            let mut server = axum_server::from_tcp_rustls(listener, cfg).handle(handle);
            tune(server.http_builder());
            server.serve(make).await.map_err(ServeError::Io)
        }
        None => {
            let mut server = axum_server::from_tcp(listener).handle(handle);
            tune(server.http_builder());
            server.serve(make).await.map_err(ServeError::Io)
        }
    };
    checkpointer.abort();
    sweeper.abort();
    let _ = app
        .audit
        .record(caller.event(
            renkei_core::Action::ServerStop,
            format!("listen:{addr}"),
            renkei_core::Outcome::Allowed,
        ))
        .await;
    app.close()
        .await
        .map_err(|e| ServeError::Audit(e.to_string()))?;
    result
}

/// Serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Socket trouble.
    #[error("server I/O: {0}")]
    Io(std::io::Error),
    /// The TLS certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// The audit log refused a write, so the server will not run unaudited.
    #[error("audit: {0}")]
    Audit(String),
    /// The process holds the linkage key: a compromise of the web process would give
    /// it away, so the server refuses to run with it.
    #[error(
        "this process holds the linkage key; the web server never does (open it without the linkage keyring)"
    )]
    HoldsLinkageKey,
}
