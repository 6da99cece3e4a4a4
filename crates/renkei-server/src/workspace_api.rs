//! The workspace's JSON API, for programmatic analysis under the same rules as the
//! page: the permit in force is asked on every request, queries run on the governed
//! engine, every one is audited, and results come back as at most the row cap of
//! display text: there is no bulk export.

use crate::api::ErrorBody;
use crate::context::RequestContext;
use crate::pages::workspace::Authority;
use crate::{AppError, AppState};
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// The project's tables: `[{name, columns: [[name, type]]}]`.
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct TablesOut(Vec<renkei_workspace::query::TableInfo>);

/// A query to run.
#[derive(Deserialize, ToSchema)]
pub struct QueryIn {
    /// One SQL statement (a query).
    sql: String,
    /// Milliseconds to wait for it to finish before answering (at most 30,000; 0 to
    /// answer at once with its id).
    #[serde(default)]
    wait_ms: u64,
}

/// A query as it stands: `{id, project, sql, started_at, state: running|finished|
/// failed|stopped, ...}`; a finished one has `result: {columns, types, rows,
/// truncated, plan_hash, elapsed_ms}`, a failed one `code` and `message`.
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct QueryOut(renkei_workspace::query::QueryView);

/// The caller's query history in the project, newest first (no rows).
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct HistoryOut(Vec<renkei_workspace::query::HistoryLine>);

/// Whether a running query was stopped.
#[derive(Serialize, ToSchema)]
pub struct CancelOut {
    stopped: bool,
}

/// GET /api/v1/projects/{id}/tables
#[utoipa::path(get, path = "/api/v1/projects/{id}/tables", tag = "workspace",
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = TablesOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn tables(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<TablesOut>, AppError> {
    let permit = st.app.applications.in_force(&ctx.caller, &id).await?;
    Ok(Json(TablesOut(
        st.app.workspaces.tables(&ctx.caller, &permit).await?,
    )))
}

/// POST /api/v1/projects/{id}/queries: runs a query on the project's extract.
#[utoipa::path(post, path = "/api/v1/projects/{id}/queries", tag = "workspace", request_body = QueryIn,
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = QueryOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn start(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(q): Json<QueryIn>,
) -> Result<Json<QueryOut>, AppError> {
    start_in(&st, &ctx, false, &id, &q).await
}

async fn start_in(
    st: &AppState,
    ctx: &RequestContext,
    dummy: bool,
    id: &str,
    q: &QueryIn,
) -> Result<Json<QueryOut>, AppError> {
    let auth = Authority::of(st, ctx, dummy, id).await?;
    let ws = &st.app.workspaces;
    let qid = ws.start_in(&ctx.caller, auth.space(), &q.sql).await?;
    let wait = Duration::from_millis(q.wait_ms.min(30_000));
    let v = ws
        .wait_query(auth.space(), &qid, wait)
        .await
        .ok_or(AppError::NotFound)?;
    Ok(Json(QueryOut(v)))
}

async fn show_in(
    st: &AppState,
    ctx: &RequestContext,
    dummy: bool,
    id: &str,
    qid: &str,
) -> Result<Json<QueryOut>, AppError> {
    let auth = Authority::of(st, ctx, dummy, id).await?;
    let v = st
        .app
        .workspaces
        .query(auth.space(), qid)
        .ok_or(AppError::NotFound)?;
    Ok(Json(QueryOut(v)))
}

/// GET /api/v1/projects/{id}/queries/{qid}
#[utoipa::path(get, path = "/api/v1/projects/{id}/queries/{qid}", tag = "workspace",
    params(("id" = String, Path, description = "Project id"), ("qid" = String, Path, description = "Query id")),
    responses((status = 200, body = QueryOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn show(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path((id, qid)): Path<(String, String)>,
) -> Result<Json<QueryOut>, AppError> {
    show_in(&st, &ctx, false, &id, &qid).await
}

/// POST /api/v1/projects/{id}/queries/{qid}/cancel
#[utoipa::path(post, path = "/api/v1/projects/{id}/queries/{qid}/cancel", tag = "workspace",
    params(("id" = String, Path, description = "Project id"), ("qid" = String, Path, description = "Query id")),
    responses((status = 200, body = CancelOut), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path((id, qid)): Path<(String, String)>,
) -> Result<Json<CancelOut>, AppError> {
    let permit = st.app.applications.in_force(&ctx.caller, &id).await?;
    Ok(Json(CancelOut {
        stopped: st.app.workspaces.cancel_query(&permit, &qid),
    }))
}

/// GET /api/v1/projects/{id}/queries
#[utoipa::path(get, path = "/api/v1/projects/{id}/queries", tag = "workspace",
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = HistoryOut), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn history(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<HistoryOut>, AppError> {
    let permit = st.app.applications.in_force(&ctx.caller, &id).await?;
    Ok(Json(HistoryOut(
        st.app.workspaces.history(&permit, 100).await?,
    )))
}

/// A release request for a finished result.
#[derive(Deserialize, ToSchema)]
pub struct ReleaseIn {
    /// What the output shows, in a few words.
    title: String,
}

/// The new pending output's id.
#[derive(Serialize, ToSchema)]
pub struct ReleaseOut {
    id: String,
}

/// The caller's pending outputs in the project: `[{id, title, status, query_id,
/// plan_hash, rows, created_at}]` (the rows stay sealed inside the platform).
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct OutputsOut(Vec<renkei_workspace::query::PendingOutput>);

/// POST /api/v1/projects/{id}/queries/{qid}/release: saves a finished result, with its
/// query, as a pending output for checking. Nothing leaves until it is checked.
#[utoipa::path(post, path = "/api/v1/projects/{id}/queries/{qid}/release", tag = "workspace", request_body = ReleaseIn,
    params(("id" = String, Path, description = "Project id"), ("qid" = String, Path, description = "Query id")),
    responses((status = 200, body = ReleaseOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn release(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path((id, qid)): Path<(String, String)>,
    Json(r): Json<ReleaseIn>,
) -> Result<Json<ReleaseOut>, AppError> {
    let permit = st.app.applications.in_force(&ctx.caller, &id).await?;
    let id = st
        .app
        .workspaces
        .request_release(&ctx.caller, &permit, &qid, &r.title)
        .await?;
    Ok(Json(ReleaseOut { id }))
}

/// GET /api/v1/projects/{id}/outputs
#[utoipa::path(get, path = "/api/v1/projects/{id}/outputs", tag = "workspace",
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = OutputsOut), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn outputs(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<OutputsOut>, AppError> {
    let permit = st.app.applications.in_force(&ctx.caller, &id).await?;
    Ok(Json(OutputsOut(st.app.workspaces.outputs(&permit).await?)))
}

/// One output with its query, result, declaration and the checks' report (`report`:
/// `outcome`, per-rule `summary`, `findings` with the numbers behind each, per-cell
/// `cells`, and the `published` table after the protection asked for).
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct OutputOut(renkei_workspace::output::OutputDetail);

/// A declaration of what an output is: `{kind: "frequency" | "chart", dims: [{column,
/// role}], count, unit: {type: "persons" | "rows" | ...}, margins, profile: "japan" |
/// "general", protection: {suppress, round_to}}`.
#[derive(Deserialize, ToSchema)]
#[schema(value_type = Object)]
pub struct DeclarationIn(renkei_workspace::output::Declaration);

/// GET /api/v1/projects/{id}/outputs/{oid}
#[utoipa::path(get, path = "/api/v1/projects/{id}/outputs/{oid}", tag = "workspace",
    params(("id" = String, Path, description = "Project id"), ("oid" = String, Path, description = "Output id")),
    responses((status = 200, body = OutputOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn output(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path((id, oid)): Path<(String, String)>,
) -> Result<Json<OutputOut>, AppError> {
    if !renkei_workspace::query::is_output_id(&oid) {
        return Err(AppError::NotFound);
    }
    let permit = st.app.applications.in_force(&ctx.caller, &id).await?;
    let pop = crate::pages::outputs::population(&st);
    Ok(Json(OutputOut(
        st.app
            .workspaces
            .output(&ctx.caller, &permit, &oid, &pop)
            .await?,
    )))
}

/// POST /api/v1/projects/{id}/outputs/{oid}/check: declares what the output is and runs
/// the disclosure checks on it; answers the output with its report.
#[utoipa::path(post, path = "/api/v1/projects/{id}/outputs/{oid}/check", tag = "workspace", request_body = DeclarationIn,
    params(("id" = String, Path, description = "Project id"), ("oid" = String, Path, description = "Output id")),
    responses((status = 200, body = OutputOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn check_output(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path((id, oid)): Path<(String, String)>,
    Json(DeclarationIn(d)): Json<DeclarationIn>,
) -> Result<Json<OutputOut>, AppError> {
    if !renkei_workspace::query::is_output_id(&oid) {
        return Err(AppError::NotFound);
    }
    let permit = st.app.applications.in_force(&ctx.caller, &id).await?;
    let pop = crate::pages::outputs::population(&st);
    Ok(Json(OutputOut(
        st.app
            .workspaces
            .check_output(&ctx.caller, &permit, &oid, d, &pop)
            .await?,
    )))
}

/// GET /api/v1/applications/{id}/dummy/tables: the dummy workspace's tables (the schema
/// the application requests).
#[utoipa::path(get, path = "/api/v1/applications/{id}/dummy/tables", tag = "workspace",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = TablesOut), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn dummy_tables(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<TablesOut>, AppError> {
    let grant = st
        .app
        .applications
        .applicant(&ctx.caller)
        .await?
        .dummy(&id)
        .await?;
    Ok(Json(TablesOut(
        st.app.workspaces.dummy_schema(&grant).await?,
    )))
}

/// POST /api/v1/applications/{id}/dummy/queries: a query on dummy data with the
/// schema the application requests (synthetic rows; `dummy: true` in the answer).
#[utoipa::path(post, path = "/api/v1/applications/{id}/dummy/queries", tag = "workspace", request_body = QueryIn,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = QueryOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn dummy_start(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(q): Json<QueryIn>,
) -> Result<Json<QueryOut>, AppError> {
    start_in(&st, &ctx, true, &id, &q).await
}

/// GET /api/v1/applications/{id}/dummy/queries/{qid}
#[utoipa::path(get, path = "/api/v1/applications/{id}/dummy/queries/{qid}", tag = "workspace",
    params(("id" = String, Path, description = "Application id"), ("qid" = String, Path, description = "Query id")),
    responses((status = 200, body = QueryOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn dummy_show(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path((id, qid)): Path<(String, String)>,
) -> Result<Json<QueryOut>, AppError> {
    show_in(&st, &ctx, true, &id, &qid).await
}
