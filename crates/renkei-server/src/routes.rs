//! Every route, with the access it requires, in one table. The router is built from this
//! table alone: a route cannot exist without declaring its access. A gate in front of
//! each handler checks the access (auditing every denial) and, for state-changing
//! methods, the CSRF token.

use crate::context::{CSRF_HEADER, RequestContext};
use crate::{AppError, AppState, access_api as acc, api, ops, pages};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use renkei_core::{Access, Action, Outcome, Permission};

/// One route: method, path, required access, handler.
pub struct RouteDef {
    /// HTTP method.
    pub method: Method,
    /// Path pattern (axum syntax).
    pub path: &'static str,
    /// What the caller needs.
    pub access: Access,
    handler: MethodRouter<AppState>,
}

/// A route's method, path and access, without its handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// HTTP method.
    pub method: Method,
    /// Path pattern.
    pub path: &'static str,
    /// What the caller needs.
    pub access: Access,
}

fn r(
    method: Method,
    path: &'static str,
    access: Access,
    handler: MethodRouter<AppState>,
) -> RouteDef {
    RouteDef {
        method,
        path,
        access,
        handler,
    }
}

/// Uploads may be as large as an attachment may be, and no larger.
fn upload_limit() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(renkei_access::attachment::MAX_BYTES + 64 * 1024)
}

fn table() -> Vec<RouteDef> {
    use Access::{MfaPending, Public, SignedIn};
    use Method as M;
    use Permission::{
        Apply, ManageDatasets, ManageLinkage, ManageReview, ManageUsers, ReadAudit, Review,
    };
    let need = Access::Permission;
    vec![
        // Public pages and assets.
        r(M::GET, "/", Public, get(pages::landing)),
        r(M::GET, "/login", Public, get(pages::auth::login_form)),
        r(M::POST, "/login", Public, post(pages::auth::login)),
        r(M::GET, "/lang/{lang}", Public, get(pages::auth::set_lang)),
        r(
            M::GET,
            "/enrol/{token}",
            Public,
            get(pages::auth::enrol_link_form),
        ),
        r(
            M::POST,
            "/enrol/{token}",
            Public,
            post(pages::auth::enrol_link),
        ),
        r(M::GET, "/static/style.css", Public, get(pages::stylesheet)),
        // Operations.
        r(M::GET, "/healthz", Public, get(ops::healthz)),
        r(M::GET, "/readyz", Public, get(ops::readyz)),
        r(M::GET, "/metrics", Public, get(ops::metrics)),
        r(M::GET, "/api/openapi.json", Public, get(api::openapi)),
        // The public catalogue.
        r(M::GET, "/catalog", Public, get(pages::catalog::list)),
        r(
            M::GET,
            "/catalog/linkage",
            Public,
            get(pages::catalog::linkage),
        ),
        r(
            M::GET,
            "/catalog/{id}",
            Public,
            get(pages::catalog::dataset),
        ),
        r(M::GET, "/catalog.jsonld", Public, get(pages::catalog::dcat)),
        r(
            M::GET,
            "/api/v1/catalog/datasets",
            Public,
            get(api::catalog_datasets),
        ),
        r(
            M::GET,
            "/api/v1/catalog/datasets/{id}",
            Public,
            get(api::catalog_dataset),
        ),
        r(
            M::GET,
            "/api/v1/catalog/linkage",
            Public,
            get(api::catalog_linkage),
        ),
        // Second factor.
        r(
            M::GET,
            "/mfa/enrol",
            MfaPending,
            get(pages::auth::enrol_form),
        ),
        r(M::POST, "/mfa/enrol", MfaPending, post(pages::auth::enrol)),
        r(M::GET, "/mfa", MfaPending, get(pages::auth::challenge_form)),
        r(M::POST, "/mfa", MfaPending, post(pages::auth::challenge)),
        r(M::POST, "/logout", MfaPending, post(pages::auth::logout)),
        // Every signed-in role.
        r(M::GET, "/home", SignedIn, get(pages::home::home)),
        r(M::GET, "/account", SignedIn, get(pages::account::account)),
        r(
            M::POST,
            "/account/password",
            SignedIn,
            post(pages::account::change_password),
        ),
        r(
            M::POST,
            "/account/tokens",
            SignedIn,
            post(pages::account::create_token),
        ),
        r(
            M::POST,
            "/account/tokens/{id}/revoke",
            SignedIn,
            post(pages::account::revoke_token),
        ),
        r(M::GET, "/api/v1/me", SignedIn, get(api::me)),
        // Admin.
        r(
            M::GET,
            "/admin/users",
            need(ManageUsers),
            get(pages::admin::users),
        ),
        r(
            M::POST,
            "/admin/users",
            need(ManageUsers),
            post(pages::admin::create_user),
        ),
        r(
            M::GET,
            "/admin/users/{id}",
            need(ManageUsers),
            get(pages::admin::user),
        ),
        r(
            M::POST,
            "/admin/users/{id}/roles",
            need(ManageUsers),
            post(pages::admin::set_roles),
        ),
        r(
            M::POST,
            "/admin/users/{id}/disable",
            need(ManageUsers),
            post(pages::admin::disable),
        ),
        r(
            M::POST,
            "/admin/users/{id}/enable",
            need(ManageUsers),
            post(pages::admin::enable),
        ),
        r(
            M::POST,
            "/admin/users/{id}/reset-mfa",
            need(ManageUsers),
            post(pages::admin::reset_mfa),
        ),
        r(
            M::POST,
            "/admin/role-requests/{id}/approve",
            need(ManageUsers),
            post(pages::admin::approve_request),
        ),
        r(
            M::POST,
            "/admin/role-requests/{id}/reject",
            need(ManageUsers),
            post(pages::admin::reject_request),
        ),
        r(M::GET, "/api/v1/users", need(ManageUsers), get(api::users)),
        // Custodian.
        r(
            M::GET,
            "/datasets",
            need(ManageDatasets),
            get(pages::datasets::list),
        ),
        r(
            M::GET,
            "/datasets/{id}",
            need(ManageDatasets),
            get(pages::datasets::dataset),
        ),
        r(
            M::GET,
            "/datasets/{id}/versions/{version}/rejects",
            need(ManageDatasets),
            get(pages::datasets::rejects),
        ),
        // Applications: researchers' pages.
        r(
            M::GET,
            "/applications",
            need(Apply),
            get(pages::applications::list),
        ),
        r(
            M::POST,
            "/applications",
            need(Apply),
            post(pages::applications::create),
        ),
        r(
            M::GET,
            "/applications/new",
            need(Apply),
            get(pages::applications::new_form),
        ),
        r(
            M::GET,
            "/applications/{id}",
            need(Apply),
            get(pages::applications::show),
        ),
        r(
            M::POST,
            "/applications/{id}",
            need(Apply),
            post(pages::applications::save),
        ),
        r(
            M::POST,
            "/applications/{id}/submit",
            need(Apply),
            post(pages::applications::submit),
        ),
        r(
            M::POST,
            "/applications/{id}/withdraw",
            need(Apply),
            post(pages::applications::withdraw),
        ),
        // Applications: researchers.
        r(M::GET, "/api/v1/applications", need(Apply), get(acc::mine)),
        r(
            M::POST,
            "/api/v1/applications",
            need(Apply),
            post(acc::create),
        ),
        r(
            M::GET,
            "/api/v1/applications/{id}",
            need(Apply),
            get(acc::view),
        ),
        r(
            M::POST,
            "/api/v1/applications/{id}/content",
            need(Apply),
            post(acc::save),
        ),
        r(
            M::POST,
            "/api/v1/applications/{id}/submit",
            need(Apply),
            post(acc::submit),
        ),
        r(
            M::POST,
            "/api/v1/applications/{id}/withdraw",
            need(Apply),
            post(acc::withdraw),
        ),
        r(
            M::GET,
            "/api/v1/accreditation",
            SignedIn,
            get(acc::my_standing),
        ),
        // The secretariat's pages.
        r(
            M::GET,
            "/review",
            need(ManageReview),
            get(pages::review::list),
        ),
        r(
            M::GET,
            "/review/committee",
            need(ManageReview),
            get(pages::review::committee),
        ),
        r(
            M::POST,
            "/review/committee",
            need(ManageReview),
            post(pages::review::appoint),
        ),
        r(
            M::GET,
            "/review/accreditations",
            need(ManageReview),
            get(pages::review::accreditations),
        ),
        r(
            M::POST,
            "/review/accreditations",
            need(ManageReview),
            post(pages::review::accredit),
        ),
        r(
            M::POST,
            "/review/accreditations/revoke",
            need(ManageReview),
            post(pages::review::revoke),
        ),
        r(
            M::GET,
            "/review/{id}",
            need(ManageReview),
            get(pages::review::show),
        ),
        r(
            M::POST,
            "/review/{id}/return",
            need(ManageReview),
            post(pages::review::return_for_changes),
        ),
        r(
            M::POST,
            "/review/{id}/meeting",
            need(ManageReview),
            post(pages::review::meeting),
        ),
        r(
            M::POST,
            "/review/{id}/decision",
            need(ManageReview),
            post(pages::review::decision),
        ),
        // Committee members' and custodians' pages.
        r(
            M::GET,
            "/committee",
            need(Review),
            get(pages::committee::agenda),
        ),
        r(
            M::GET,
            "/committee/{id}",
            need(Review),
            get(pages::committee::show),
        ),
        r(
            M::POST,
            "/committee/{id}/comment",
            need(Review),
            post(pages::committee::comment),
        ),
        r(
            M::POST,
            "/api/v1/committee/applications/{id}/comment",
            need(Review),
            post(acc::comment),
        ),
        r(
            M::POST,
            "/committee/{id}/conflict",
            need(Review),
            post(pages::committee::conflict),
        ),
        r(
            M::GET,
            "/custody",
            need(ManageDatasets),
            get(pages::committee::pending),
        ),
        r(
            M::GET,
            "/custody/{id}",
            need(ManageDatasets),
            get(pages::committee::custody_show),
        ),
        // Projects: who may read, close or add to one is the access service's to say.
        r(M::GET, "/projects", SignedIn, get(pages::projects::list)),
        r(
            M::GET,
            "/projects/{id}",
            SignedIn,
            get(pages::projects::show),
        ),
        r(
            M::GET,
            "/projects/{id}/permit.json",
            SignedIn,
            get(pages::projects::permit_json),
        ),
        r(
            M::POST,
            "/projects/{id}/close",
            SignedIn,
            post(pages::projects::close),
        ),
        r(
            M::POST,
            "/projects/{id}/publications",
            SignedIn,
            post(pages::projects::publish),
        ),
        // The workspace: the permit in force is asked on every request.
        r(
            M::GET,
            "/projects/{id}/workspace",
            need(Apply),
            get(pages::workspace::show),
        ),
        r(
            M::POST,
            "/projects/{id}/workspace/queries",
            need(Apply),
            post(pages::workspace::run),
        ),
        r(
            M::POST,
            "/projects/{id}/workspace/queries/{qid}/cancel",
            need(Apply),
            post(pages::workspace::cancel),
        ),
        r(
            M::POST,
            "/projects/{id}/workspace/queries/{qid}/release",
            need(Apply),
            post(pages::workspace::release),
        ),
        r(
            M::POST,
            "/api/v1/projects/{id}/queries/{qid}/release",
            need(Apply),
            post(crate::workspace_api::release),
        ),
        r(
            M::GET,
            "/api/v1/projects/{id}/outputs",
            need(Apply),
            get(crate::workspace_api::outputs),
        ),
        r(
            M::GET,
            "/api/v1/projects/{id}/outputs/{oid}",
            need(Apply),
            get(crate::workspace_api::output),
        ),
        r(
            M::POST,
            "/api/v1/projects/{id}/outputs/{oid}/check",
            need(Apply),
            post(crate::workspace_api::check_output),
        ),
        r(
            M::GET,
            "/projects/{id}/outputs/{oid}",
            need(Apply),
            get(pages::outputs::show),
        ),
        r(
            M::POST,
            "/projects/{id}/outputs/{oid}/check",
            need(Apply),
            post(pages::outputs::check),
        ),
        r(
            M::POST,
            "/projects/{id}/workspace/saved",
            need(Apply),
            post(pages::workspace::save),
        ),
        r(
            M::GET,
            "/applications/{id}/workspace",
            need(Apply),
            get(pages::workspace::show_dummy),
        ),
        r(
            M::POST,
            "/applications/{id}/workspace/queries",
            need(Apply),
            post(pages::workspace::run_dummy),
        ),
        r(
            M::POST,
            "/applications/{id}/workspace/queries/{qid}/cancel",
            need(Apply),
            post(pages::workspace::cancel_dummy),
        ),
        r(
            M::POST,
            "/applications/{id}/workspace/saved",
            need(Apply),
            post(pages::workspace::save_dummy),
        ),
        r(
            M::GET,
            "/api/v1/applications/{id}/dummy/tables",
            need(Apply),
            get(crate::workspace_api::dummy_tables),
        ),
        r(
            M::POST,
            "/api/v1/applications/{id}/dummy/queries",
            need(Apply),
            post(crate::workspace_api::dummy_start),
        ),
        r(
            M::GET,
            "/api/v1/applications/{id}/dummy/queries/{qid}",
            need(Apply),
            get(crate::workspace_api::dummy_show),
        ),
        r(
            M::GET,
            "/api/v1/projects/{id}/tables",
            need(Apply),
            get(crate::workspace_api::tables),
        ),
        r(
            M::GET,
            "/api/v1/projects/{id}/queries",
            need(Apply),
            get(crate::workspace_api::history),
        ),
        r(
            M::POST,
            "/api/v1/projects/{id}/queries",
            need(Apply),
            post(crate::workspace_api::start),
        ),
        r(
            M::GET,
            "/api/v1/projects/{id}/queries/{qid}",
            need(Apply),
            get(crate::workspace_api::show),
        ),
        r(
            M::POST,
            "/api/v1/projects/{id}/queries/{qid}/cancel",
            need(Apply),
            post(crate::workspace_api::cancel),
        ),
        r(M::GET, "/api/v1/projects", SignedIn, get(acc::projects)),
        r(
            M::GET,
            "/api/v1/projects/{id}/extract",
            need(Apply),
            get(acc::extract),
        ),
        // The linkage authority's person index.
        r(
            M::GET,
            "/linkage",
            need(ManageLinkage),
            get(pages::linkage::show),
        ),
        r(
            M::POST,
            "/linkage/run",
            need(ManageLinkage),
            post(pages::linkage::run),
        ),
        r(
            M::GET,
            "/api/v1/linkage/runs",
            need(ManageLinkage),
            get(acc::link_runs),
        ),
        r(
            M::POST,
            "/api/v1/linkage/runs",
            need(ManageLinkage),
            post(acc::link_run),
        ),
        r(M::GET, "/api/v1/projects/{id}", SignedIn, get(acc::project)),
        r(
            M::GET,
            "/api/v1/projects/{id}/permit",
            SignedIn,
            get(acc::permit),
        ),
        r(
            M::GET,
            "/api/v1/projects/{id}/access",
            need(Apply),
            get(acc::access),
        ),
        r(
            M::POST,
            "/api/v1/projects/{id}/close",
            SignedIn,
            post(acc::close),
        ),
        r(
            M::POST,
            "/api/v1/projects/{id}/publications",
            SignedIn,
            post(acc::publish),
        ),
        // Attachments: added by the applicant, read by whoever may read the application.
        r(
            M::POST,
            "/applications/{id}/attachments",
            need(Apply),
            post(pages::applications::attach).layer(upload_limit()),
        ),
        r(
            M::GET,
            "/applications/{id}/attachments/{seq}",
            SignedIn,
            get(acc::attachment),
        ),
        r(
            M::POST,
            "/api/v1/applications/{id}/attachments",
            need(Apply),
            post(acc::attach).layer(upload_limit()),
        ),
        r(
            M::GET,
            "/api/v1/applications/{id}/attachments/{seq}",
            SignedIn,
            get(acc::attachment),
        ),
        r(
            M::POST,
            "/api/v1/projects/{id}/amend",
            need(Apply),
            post(acc::amend),
        ),
        r(
            M::POST,
            "/projects/{id}/amend",
            need(Apply),
            post(pages::projects::amend),
        ),
        // The public register.
        r(M::GET, "/register", Public, get(pages::projects::register)),
        r(
            M::GET,
            "/register.csv",
            Public,
            get(pages::projects::register_csv_file),
        ),
        r(M::GET, "/api/v1/register", Public, get(acc::register)),
        r(
            M::POST,
            "/custody/{id}/answer",
            need(ManageDatasets),
            post(pages::committee::answer),
        ),
        // The secretariat.
        r(
            M::GET,
            "/api/v1/review/applications",
            need(ManageReview),
            get(acc::review_all),
        ),
        r(
            M::GET,
            "/api/v1/review/applications/{id}",
            need(ManageReview),
            get(acc::review_view),
        ),
        r(
            M::POST,
            "/api/v1/review/applications/{id}/return",
            need(ManageReview),
            post(acc::review_return),
        ),
        r(
            M::POST,
            "/api/v1/review/applications/{id}/meeting",
            need(ManageReview),
            post(acc::review_meeting),
        ),
        r(
            M::POST,
            "/api/v1/review/applications/{id}/decision",
            need(ManageReview),
            post(acc::review_decision),
        ),
        r(
            M::GET,
            "/api/v1/review/meetings",
            need(ManageReview),
            get(acc::meetings),
        ),
        r(
            M::POST,
            "/api/v1/review/meetings",
            need(ManageReview),
            post(acc::schedule),
        ),
        r(
            M::POST,
            "/api/v1/review/meetings/{id}/report",
            need(ManageReview),
            post(acc::report),
        ),
        r(
            M::GET,
            "/review/meetings",
            need(ManageReview),
            get(pages::review::meetings),
        ),
        r(
            M::POST,
            "/review/meetings",
            need(ManageReview),
            post(pages::review::schedule),
        ),
        r(
            M::POST,
            "/review/meetings/{id}/report",
            need(ManageReview),
            post(pages::review::report),
        ),
        r(
            M::GET,
            "/api/v1/review/committee",
            need(ManageReview),
            get(acc::roster),
        ),
        r(
            M::POST,
            "/api/v1/review/committee",
            need(ManageReview),
            post(acc::appoint),
        ),
        r(
            M::POST,
            "/api/v1/review/committee/{id}/dismiss",
            need(ManageReview),
            post(acc::dismiss),
        ),
        r(
            M::POST,
            "/api/v1/review/accreditations",
            need(ManageReview),
            post(acc::accredit),
        ),
        r(
            M::POST,
            "/api/v1/review/accreditations/{id}/revoke",
            need(ManageReview),
            post(acc::revoke),
        ),
        // Committee members.
        r(
            M::GET,
            "/api/v1/committee/applications",
            need(Review),
            get(acc::agenda),
        ),
        r(
            M::GET,
            "/api/v1/committee/applications/{id}",
            need(Review),
            get(acc::member_view),
        ),
        r(
            M::POST,
            "/api/v1/committee/applications/{id}/conflict",
            need(Review),
            post(acc::conflict),
        ),
        // Custodians' confirmations.
        r(
            M::GET,
            "/api/v1/custody/applications",
            need(ManageDatasets),
            get(acc::custody_pending),
        ),
        r(
            M::GET,
            "/api/v1/custody/applications/{id}",
            need(ManageDatasets),
            get(acc::custody_view),
        ),
        r(
            M::POST,
            "/api/v1/custody/applications/{id}/confirm",
            need(ManageDatasets),
            post(acc::confirm),
        ),
        r(
            M::POST,
            "/api/v1/custody/applications/{id}/refuse",
            need(ManageDatasets),
            post(acc::refuse),
        ),
        // Auditor.
        r(M::GET, "/audit", need(ReadAudit), get(pages::audit::log)),
        r(
            M::GET,
            "/audit/verify",
            need(ReadAudit),
            get(pages::audit::verify),
        ),
        r(
            M::GET,
            "/audit/export",
            need(ReadAudit),
            get(pages::audit::export),
        ),
        r(
            M::GET,
            "/api/v1/audit/entries",
            need(ReadAudit),
            get(api::audit_entries),
        ),
        r(
            M::GET,
            "/api/v1/audit/verify",
            need(ReadAudit),
            get(api::audit_verify),
        ),
        r(
            M::POST,
            "/api/v1/audit/checkpoint",
            need(ReadAudit),
            post(api::audit_checkpoint),
        ),
        r(
            M::GET,
            "/api/v1/audit/chain",
            need(ReadAudit),
            get(api::audit_chain),
        ),
        r(
            M::POST,
            "/api/v1/audit/witness",
            need(ReadAudit),
            post(api::audit_witness),
        ),
    ]
}

/// Every route's method, path and access.
pub fn specs() -> Vec<RouteSpec> {
    table()
        .into_iter()
        .map(|d| RouteSpec {
            method: d.method,
            path: d.path,
            access: d.access,
        })
        .collect()
}

#[derive(Clone)]
struct Gate {
    st: AppState,
    access: Access,
    label: &'static str,
}

pub(crate) fn build(st: AppState) -> Router {
    let mut router = Router::new();
    for d in table() {
        let label: &'static str = Box::leak(format!("{} {}", d.method, d.path).into_boxed_str());
        let gate = Gate {
            st: st.clone(),
            access: d.access,
            label,
        };
        router = router.route(
            d.path,
            d.handler.route_layer(from_fn_with_state(gate, gate_fn)),
        );
    }
    let timeout = std::time::Duration::from_secs(st.app.config.http.request_timeout_secs.max(1));
    router
        .fallback(|| async { AppError::NotFound })
        .layer(from_fn_with_state(st.clone(), crate::ops::track))
        // Inside the context, so a timed-out request is rendered and audited like any
        // other refusal.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(from_fn_with_state(st.clone(), crate::context::middleware))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            crate::form::MAX_FORM * 16,
        ))
        // Outermost: a client over its rate, or a server at capacity, is refused before
        // any work (no session look-up, no body read).
        .layer(from_fn_with_state(st.clone(), guard))
        .with_state(st)
}

/// Per-client rate and the server's capacity, before anything else. Requests with no
/// known client address (made in-process, as in tests) are not rate-limited.
async fn guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let client = crate::context::client_address(&req, &st.app.config.trusted_proxies);
    let now = st.started.elapsed().as_secs_f64();
    let segment: String = req
        .uri()
        .path()
        .split('/')
        .nth(1)
        .unwrap_or("")
        .chars()
        .take(40)
        .collect();
    let route = format!("route:{} /{segment}", req.method());
    if !client.is_empty() && !st.rates.take(&client, now) {
        return early_refusal(
            &st,
            route,
            client,
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
        )
        .await;
    }
    let Ok(_permit) = st.in_flight.clone().try_acquire_owned() else {
        return early_refusal(
            &st,
            route,
            client,
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
        )
        .await;
    };
    next.run(req).await
}

/// A refusal made before the caller is known: recorded as an anonymous refusal (folded
/// per client and window), answered in both languages without a body to render.
async fn early_refusal(
    st: &AppState,
    route: String,
    client: String,
    status: axum::http::StatusCode,
    reason: &'static str,
) -> Response {
    let ev = renkei_core::Caller::anonymous(uuid::Uuid::now_v7().to_string())
        .from_source(client)
        .event(Action::HttpAccess, route, Outcome::denied(reason));
    if let Err(e) = st.app.audit.record_refusal(ev).await {
        tracing::error!(error = %e, "a refusal could not be recorded in the audit log");
    }
    let mut r = (
        status,
        "リクエストが多すぎるか、サーバーが混み合っています。少し待ってからお試しください。\nToo many requests, or the server is busy. Try again shortly.\n",
    )
        .into_response();
    r.headers_mut().insert(
        header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    r
}

/// Checks access, then CSRF; audits every refusal before answering.
async fn gate_fn(State(g): State<Gate>, req: Request, next: Next) -> Response {
    let Some(ctx) = req.extensions().get::<RequestContext>().cloned() else {
        return AppError::internal("no request context").into_response();
    };
    if let Err(denied) = g.access.check_caller(&ctx.caller) {
        let mut ev = ctx.caller.event(
            Action::HttpAccess,
            format!("route:{}", g.label),
            Outcome::denied(denied.code()),
        );
        if let Some(p) = ctx.session_problem {
            ev = ev.detail(serde_json::json!({ "session": p }));
        }
        if let Err(e) = g.st.app.audit.record_refusal(ev).await {
            return AppError::from(e).into_response();
        }
        return mark_denied(AppError::Denied(denied));
    }
    // A token limited to one project reaches only that project's API routes.
    if let Some(project) = ctx.caller.token_project() {
        let path = req.uri().path();
        let code = match path
            .strip_prefix("/api/v1/projects/")
            .map(|r| r.split_once('/').unwrap_or((r, "")))
        {
            Some((id, _)) if id != project => Some("token_other_project"),
            // The workspace and what it reads; not closing, amending or publishing.
            Some((_, rest))
                if matches!(
                    rest.split('/').next(),
                    Some("" | "access" | "permit" | "extract" | "tables" | "queries" | "outputs")
                ) =>
            {
                None
            }
            _ => Some("token_project_only"),
        };
        if let Some(code) = code {
            let denied = renkei_core::role::AccessDenied::Object(code);
            let ev = ctx.caller.event(
                Action::HttpAccess,
                format!("route:{}", g.label),
                Outcome::denied(denied.code()),
            );
            if let Err(e) = g.st.app.audit.record_refusal(ev).await {
                return AppError::from(e).into_response();
            }
            return mark_denied(AppError::Denied(denied));
        }
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !ctx.caller.may_change() {
        let denied = renkei_core::role::AccessDenied::Object("token_read_only");
        let ev = ctx.caller.event(
            Action::HttpAccess,
            format!("route:{}", g.label),
            Outcome::denied(denied.code()),
        );
        if let Err(e) = g.st.app.audit.record_refusal(ev).await {
            return AppError::from(e).into_response();
        }
        return mark_denied(AppError::Denied(denied));
    }
    if safe || ctx.via_token() {
        return next.run(req).await;
    }
    let (req, presented) = match take_csrf(req).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let ok = presented.is_some_and(|p| renkei_crypto::ct_eq(p.as_bytes(), ctx.csrf.as_bytes()));
    if !ok {
        let ev = ctx.caller.event(
            Action::HttpCsrf,
            format!("route:{}", g.label),
            Outcome::denied("csrf"),
        );
        if let Err(e) = g.st.app.audit.record_refusal(ev).await {
            return AppError::from(e).into_response();
        }
        return mark_denied(AppError::Csrf);
    }
    next.run(req).await
}

/// Header naming the reason when the gate refuses a request (for clients and tests to
/// tell a refusal from a handler's own redirect).
pub const DENIED_HEADER: &str = "x-renkei-denied";

fn mark_denied(e: AppError) -> Response {
    let code = e.code();
    let mut r = e.into_response();
    r.headers_mut()
        .insert(DENIED_HEADER, axum::http::HeaderValue::from_static(code));
    r
}

/// Finds the CSRF token in the header or, for forms, the `csrf` field. Forms are read
/// into memory (they are small) and handed on intact.
async fn take_csrf(req: Request) -> Result<(Request, Option<String>), AppError> {
    if let Some(v) = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        let v = v.to_owned();
        return Ok((req, Some(v)));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // A file upload without JavaScript carries the token in its form's action: the
    // body is a stream of files, not read here (pages send no Referer to leak it).
    if content_type.starts_with("multipart/form-data") {
        let token = req.uri().query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "csrf")
                .map(|(_, v)| v.into_owned())
        });
        return Ok((req, token));
    }
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Ok((req, None));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, crate::form::MAX_FORM)
        .await
        .map_err(|_| AppError::BadRequest("form too large".into()))?;
    let token = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned());
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_unique_and_api_routes_are_documented() {
        let specs = specs();
        let mut seen = std::collections::HashSet::new();
        for s in &specs {
            assert!(
                seen.insert((s.method.clone(), s.path)),
                "duplicate route {} {}",
                s.method,
                s.path
            );
        }
        let doc = crate::api::openapi_doc();
        let json = serde_json::to_value(&doc).unwrap();
        for s in specs.iter().filter(|s| s.path.starts_with("/api/v1/")) {
            let op = &json["paths"][s.path][s.method.as_str().to_lowercase()];
            assert!(
                op.is_object(),
                "{} {} is not in the OpenAPI document",
                s.method,
                s.path
            );
        }
    }
}
