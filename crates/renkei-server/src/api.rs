//! The JSON API under `/api/v1`, and its OpenAPI document (generated from these
//! declarations by utoipa, so it cannot drift from the handlers' types).
//!
//! Authenticate with `Authorization: Bearer <API token>` (created on the account page)
//! or, from a browser, with the session cookie plus the `X-CSRF-Token` header for any
//! state-changing call.

use crate::access_api as acc;
use crate::context::RequestContext;
use crate::wire::DatasetOut;
use crate::{AppError, AppState};
use axum::Json;
use axum::extract::{Path, Query, State};
use renkei_core::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

/// The signed-in caller.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// User id.
    id: String,
    /// Login name.
    username: String,
    /// Display name.
    display_name: String,
    /// Role codes.
    roles: Vec<String>,
    /// Whether a TOTP authenticator is enrolled.
    mfa_enrolled: bool,
    /// `cookie` or `api_token`.
    via: String,
}

/// A user, as an admin sees it.
#[derive(Serialize, ToSchema)]
pub struct UserOut {
    id: String,
    username: String,
    display_name: String,
    roles: Vec<String>,
    status: String,
    mfa_enrolled: bool,
    created_at: String,
}

/// One audit entry.
#[derive(Serialize, ToSchema)]
pub struct AuditEntryOut {
    seq: i64,
    at: String,
    actor: String,
    actor_name: String,
    actor_roles: String,
    action: String,
    object: String,
    outcome: String,
    reason: String,
    request_id: String,
    detail: serde_json::Value,
    hash: String,
    /// The client's network address (empty for the command line).
    client: String,
}

/// One verification finding.
#[derive(Serialize, ToSchema)]
pub struct ProblemOut {
    seq: i64,
    kind: String,
    detail: String,
}

/// The result of verifying the audit log.
#[derive(Serialize, ToSchema)]
pub struct VerifyOut {
    ok: bool,
    entries: u64,
    last_seq: i64,
    checkpoints: usize,
    latest_checkpoint: Option<i64>,
    mac_checked: bool,
    /// Whether the log was checked against the registered witnesses' keys.
    witness_checked: bool,
    /// The newest countersigned checkpoint's entry.
    latest_witnessed: Option<i64>,
    /// Entries not yet covered by a checkpoint that holds (countersigned, with witnesses).
    tail_entries: u64,
    /// How long the oldest of them has waited (seconds).
    tail_secs: i64,
    problems: Vec<ProblemOut>,
}

/// A checkpoint the platform signed: the log had `seq` entries ending in `hash`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CheckpointOut {
    seq: i64,
    /// Unix microseconds.
    at: i64,
    /// Hex.
    hash: String,
    /// The platform's Ed25519 checkpoint key (hex).
    public_key: String,
    /// Hex.
    signature: String,
}

/// One entry exactly as stored and hashed (what a witness recomputes).
#[derive(Serialize, ToSchema)]
pub struct ChainEntryOut {
    seq: i64,
    /// Unix microseconds.
    at: i64,
    actor: String,
    actor_name: String,
    actor_roles: String,
    action: String,
    object: String,
    outcome: String,
    reason: String,
    request_id: String,
    /// The JSON detail as the exact text that was hashed.
    detail: String,
    prev_hash: String,
    hash: String,
    mac: String,
    /// The client's network address (empty for the command line); hashed when present.
    client: String,
}

/// A witness's countersignature of one of the platform's checkpoints.
#[derive(Deserialize, ToSchema)]
pub struct WitnessIn {
    seq: i64,
    hash: String,
    /// When the platform signed the checkpoint (unix microseconds).
    at: i64,
    /// When the witness countersigned it (unix microseconds, the witness's clock).
    witnessed_at: i64,
    /// The witness's Ed25519 public key (hex); must be registered.
    witness_key: String,
    signature: String,
}

/// Position in the chain for `/api/v1/audit/chain`.
#[derive(Deserialize, IntoParams)]
pub struct ChainQuery {
    /// Entries after this sequence number (default 0: from the start).
    after_seq: Option<i64>,
    /// At most this many, oldest first (1–20000, default 1000).
    limit: Option<i64>,
}

/// Error body of every non-2xx answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// Error details.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code, e.g. `not_signed_in`, `permission_missing`.
    code: String,
    /// Message in the caller's language.
    message: String,
    /// More detail, when safe to show.
    detail: Option<String>,
    /// Quote this when reporting a problem.
    request_id: String,
}

/// Filters for `/api/v1/audit/entries`.
#[derive(Deserialize, IntoParams)]
pub struct EntriesQuery {
    /// At or after (YYYY-MM-DD or RFC 3339).
    since: Option<String>,
    /// Before.
    until: Option<String>,
    /// Exact actor (`user:<id>`, `cli`, `system`, `anonymous`).
    actor: Option<String>,
    /// Action prefix, e.g. `auth.`.
    action: Option<String>,
    /// Only denials.
    denied_only: Option<bool>,
    /// At most this many, newest first (1–10000, default 100).
    limit: Option<i64>,
}

/// GET /api/v1/me
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn me(ctx: RequestContext) -> Result<Json<Me>, AppError> {
    let s = ctx
        .session
        .as_ref()
        .ok_or(AppError::internal("no session"))?;
    Ok(Json(Me {
        id: s.user.id.to_string(),
        username: s.user.username.to_string(),
        display_name: s.user.display_name.clone(),
        roles: s.user.roles.iter().map(|r| r.code().to_owned()).collect(),
        mfa_enrolled: s.user.mfa_enrolled,
        via: match s.via {
            renkei_accounts::Via::Cookie => "cookie".into(),
            renkei_accounts::Via::ApiToken => "api_token".into(),
        },
    }))
}

/// GET /api/v1/users
#[utoipa::path(get, path = "/api/v1/users", tag = "accounts",
    responses((status = 200, body = [UserOut]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn users(
    State(st): State<AppState>,
    ctx: RequestContext,
) -> Result<Json<Vec<UserOut>>, AppError> {
    let users = st
        .app
        .accounts
        .admin(&ctx.caller)
        .await?
        .list_users()
        .await?;
    Ok(Json(
        users
            .into_iter()
            .map(|u| UserOut {
                id: u.id.to_string(),
                username: u.username.to_string(),
                display_name: u.display_name,
                roles: u.roles.iter().map(|r| r.code().to_owned()).collect(),
                status: format!("{:?}", u.status).to_lowercase(),
                mfa_enrolled: u.mfa_enrolled,
                created_at: u.created_at.to_rfc3339(),
            })
            .collect(),
    ))
}

/// GET /api/v1/audit/entries
#[utoipa::path(get, path = "/api/v1/audit/entries", tag = "audit", params(EntriesQuery),
    responses((status = 200, body = [AuditEntryOut]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn audit_entries(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(q): Query<EntriesQuery>,
) -> Result<Json<Vec<AuditEntryOut>>, AppError> {
    let f = crate::pages::audit::Filter::new(
        q.since,
        q.until,
        q.actor,
        q.action,
        q.denied_only.unwrap_or(false),
    )
    .to_export()?;
    let rows = st
        .app
        .audit
        .reader(&ctx.caller)
        .await?
        .recent(&f, q.limit.unwrap_or(100))
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|e| AuditEntryOut {
                seq: e.seq,
                at: Timestamp(e.at).to_rfc3339(),
                detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
                actor: e.actor,
                actor_name: e.actor_name,
                actor_roles: e.actor_roles,
                action: e.action,
                object: e.object,
                outcome: e.outcome,
                reason: e.reason,
                request_id: e.request_id,
                hash: e.hash,
                client: e.client,
            })
            .collect(),
    ))
}

/// GET /api/v1/audit/verify
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = VerifyOut), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn audit_verify(
    State(st): State<AppState>,
    ctx: RequestContext,
) -> Result<Json<VerifyOut>, AppError> {
    let r = st.app.audit.reader(&ctx.caller).await?.verify().await?;
    Ok(Json(VerifyOut {
        ok: r.is_ok(),
        entries: r.entries,
        last_seq: r.last_seq,
        checkpoints: r.checkpoints,
        latest_checkpoint: r.latest_checkpoint,
        mac_checked: r.mac_checked,
        witness_checked: r.witness_checked,
        latest_witnessed: r.latest_witnessed,
        tail_entries: r.tail_entries,
        tail_secs: r.tail_secs,
        problems: r
            .problems
            .into_iter()
            .map(|p| ProblemOut {
                seq: p.seq,
                kind: p.kind.name().into(),
                detail: p.detail,
            })
            .collect(),
    }))
}

/// POST /api/v1/audit/checkpoint
///
/// Signs a checkpoint of the head now if it moved, and returns the newest one (what a
/// witness countersigns). `null` while the log is empty.
#[utoipa::path(post, path = "/api/v1/audit/checkpoint", tag = "audit",
    responses((status = 200, body = Option<CheckpointOut>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn audit_checkpoint(
    State(st): State<AppState>,
    ctx: RequestContext,
) -> Result<Json<Option<CheckpointOut>>, AppError> {
    let cp = st
        .app
        .audit
        .reader(&ctx.caller)
        .await?
        .latest_checkpoint()
        .await?;
    Ok(Json(cp.map(|c| CheckpointOut {
        seq: c.seq,
        at: c.at,
        hash: c.hash,
        public_key: c.public_key,
        signature: c.signature,
    })))
}

/// GET /api/v1/audit/chain
///
/// Entries exactly as stored, oldest first, for a witness to recompute the chain.
#[utoipa::path(get, path = "/api/v1/audit/chain", tag = "audit", params(ChainQuery),
    responses((status = 200, body = [ChainEntryOut]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn audit_chain(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(q): Query<ChainQuery>,
) -> Result<Json<Vec<ChainEntryOut>>, AppError> {
    let rows = st
        .app
        .audit
        .reader(&ctx.caller)
        .await?
        .entries_after(
            q.after_seq.unwrap_or(0),
            q.limit.unwrap_or(1000).clamp(1, 20_000),
        )
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|e| ChainEntryOut {
                seq: e.seq,
                at: e.at,
                actor: e.actor,
                actor_name: e.actor_name,
                actor_roles: e.actor_roles,
                action: e.action,
                object: e.object,
                outcome: e.outcome,
                reason: e.reason,
                request_id: e.request_id,
                detail: e.detail,
                prev_hash: e.prev_hash,
                hash: e.hash,
                mac: e.mac,
                client: e.client,
            })
            .collect(),
    ))
}

/// POST /api/v1/audit/witness
///
/// Stores a witness's countersignature. Refused (and audited) unless it is made by a
/// registered witness key over a checkpoint this platform signed.
#[utoipa::path(post, path = "/api/v1/audit/witness", tag = "audit", request_body = WitnessIn,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn audit_witness(
    State(st): State<AppState>,
    ctx: RequestContext,
    Json(w): Json<WitnessIn>,
) -> Result<axum::http::StatusCode, AppError> {
    let w = renkei_audit::WitnessedCheckpoint {
        seq: w.seq,
        hash: w.hash,
        at: w.at,
        witnessed_at: w.witnessed_at,
        witness_key: w.witness_key,
        signature: w.signature,
    };
    st.app
        .audit
        .reader(&ctx.caller)
        .await?
        .accept_witness(&w)
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Filter for `/api/v1/catalog/datasets`.
#[derive(Deserialize, IntoParams)]
pub struct CatalogQuery {
    /// Words that must all occur in the dataset or one of its variables (NFKC,
    /// case-insensitive).
    q: Option<String>,
}

/// Two datasets that can be linked.
#[derive(Serialize, ToSchema)]
pub struct LinkOut {
    /// One dataset.
    a: String,
    /// The other.
    b: String,
    /// Token families they share.
    via: Vec<String>,
    /// What linking them makes possible, Japanese.
    enables_ja: Option<String>,
    /// What linking them makes possible, English.
    enables_en: Option<String>,
}

/// GET /api/v1/catalog/datasets
#[utoipa::path(get, path = "/api/v1/catalog/datasets", tag = "catalog", params(CatalogQuery),
    responses((status = 200, body = [DatasetOut])))]
pub async fn catalog_datasets(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(q): Query<CatalogQuery>,
) -> Result<Json<Vec<DatasetOut>>, AppError> {
    let cat = st.app.catalog.public(&ctx.caller).await?;
    let hits = crate::pages::catalog::search_off_thread(&cat, q.q.as_deref().unwrap_or("")).await?;
    Ok(Json(
        hits.into_iter()
            .filter_map(|h| cat.datasets.get(h.index).map(DatasetOut::from))
            .collect(),
    ))
}

/// GET /api/v1/catalog/datasets/{id}
#[utoipa::path(get, path = "/api/v1/catalog/datasets/{id}", tag = "catalog",
    params(("id" = String, Path, description = "Dataset id, e.g. `ndb_claims`")),
    responses((status = 200, body = DatasetOut), (status = 404, body = ErrorBody)))]
pub async fn catalog_dataset(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<DatasetOut>, AppError> {
    let d = st.app.catalog.public_dataset(&ctx.caller, &id).await?;
    Ok(Json(DatasetOut::from(&d)))
}

/// GET /api/v1/catalog/linkage
#[utoipa::path(get, path = "/api/v1/catalog/linkage", tag = "catalog",
    responses((status = 200, body = [LinkOut])))]
pub async fn catalog_linkage(
    State(st): State<AppState>,
    ctx: RequestContext,
) -> Result<Json<Vec<LinkOut>>, AppError> {
    let cat = st.app.catalog.public(&ctx.caller).await?;
    Ok(Json(
        cat.links
            .iter()
            .cloned()
            .map(|l| {
                let e = renkei_catalog::linkage::what_it_enables(&l.a, &l.b);
                LinkOut {
                    enables_ja: e.map(|e| e.0.to_owned()),
                    enables_en: e.map(|e| e.1.to_owned()),
                    a: l.a,
                    b: l.b,
                    via: l.via,
                }
            })
            .collect(),
    ))
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Renkei API", description = "Renkei information linkage platform. Authenticate with an API token: `Authorization: Bearer rkt_...`."),
    paths(me, users, audit_entries, audit_verify, audit_checkpoint, audit_chain, audit_witness, catalog_datasets, catalog_dataset, catalog_linkage,
        acc::mine, acc::create, acc::view, acc::save, acc::submit, acc::withdraw, acc::my_standing,
        acc::review_all, acc::review_view, acc::review_return, acc::review_meeting, acc::review_decision, acc::meetings, acc::schedule, acc::report,
        acc::roster, acc::appoint, acc::dismiss, acc::accredit, acc::revoke,
        acc::agenda, acc::member_view, acc::conflict, acc::comment,
        acc::custody_pending, acc::custody_view, acc::confirm, acc::refuse,
        acc::projects, acc::project, acc::permit, acc::access, acc::extract, acc::link_runs, acc::link_run, acc::close, acc::publish, acc::amend, acc::register, acc::attach, acc::attachment,
        crate::workspace_api::tables, crate::workspace_api::start, crate::workspace_api::show, crate::workspace_api::cancel, crate::workspace_api::history, crate::workspace_api::release, crate::workspace_api::outputs, crate::workspace_api::output, crate::workspace_api::check_output,
        crate::workspace_api::dummy_tables, crate::workspace_api::dummy_start, crate::workspace_api::dummy_show),
    components(schemas(Me, UserOut, AuditEntryOut, VerifyOut, ProblemOut, CheckpointOut, ChainEntryOut, WitnessIn, ErrorBody, ErrorDetail, LinkOut,
        acc::ApplicationOut, acc::ApplicationIn, acc::CreatedOut, acc::StateOut, acc::SavedOut, acc::ReasonIn, acc::MeetingIn,
        acc::DecisionIn, acc::MemberIo, acc::RosterOut, acc::AccreditationIn, acc::StandingOut, acc::ConflictIn, acc::AnswerIn,
        acc::ProjectOut, acc::PermitOut, acc::AccessOut, acc::PublicationIn, acc::RegisterOut, acc::AttachmentOut, acc::ScheduleIn, acc::MeetingOut, acc::CommentIn,
        crate::workspace_api::TablesOut, crate::workspace_api::QueryIn, crate::workspace_api::QueryOut, crate::workspace_api::HistoryOut, crate::workspace_api::CancelOut, crate::workspace_api::ReleaseIn, crate::workspace_api::ReleaseOut, crate::workspace_api::OutputsOut, crate::workspace_api::OutputOut, crate::workspace_api::DeclarationIn)),
    modifiers(&Security),
    tags((name = "accounts", description = "Who is calling; users and roles"), (name = "audit", description = "The audit log, for the supervisory body"),
        (name = "catalog", description = "The public dataset catalogue (no authentication); small counts are shown as `<10`"),
        (name = "applications", description = "A researcher's applications for access to data"),
        (name = "review", description = "The review of applications: secretariat, committee members, custodians"),
        (name = "projects", description = "Projects under a permit: the permit, the check every access makes, closure, results; the public register"),
        (name = "workspace", description = "The Visiting workspace: the project's tables and governed SQL queries over its extract; results are shown, never exported"))
)]
struct ApiDoc;

/// The OpenAPI document.
pub fn openapi_doc() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// GET /api/openapi.json
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_doc())
}
