//! The Visiting workspace, without JavaScript: the project's tables, an SQL editor with
//! examples, saved queries and history, and a query's result as a grid marked with
//! who saw it and when, with a chart drawn on the server. A running query's page
//! refreshes itself (the `Refresh` header) until it ends. Results are shown, never
//! offered for download. Who may use the workspace is the access service's to say
//! (the permit in force, asked on every request); queries are the workspace service's.

use super::{Done, csrf_field, jst, layout, notice};
use crate::context::RequestContext;
use crate::form::FormData;
use crate::{AppError, AppState};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use renkei_workspace::examples;
use renkei_workspace::query::{
    HistoryLine, PendingOutput, QueryResult, QueryState, QueryView, SavedQuery, Space, TableInfo,
};
use std::time::Duration;

/// `?q=` a query to show, `?example=` or `?saved=` SQL to put in the editor.
#[derive(serde::Deserialize, Default)]
pub struct WorkspaceQuery {
    q: Option<String>,
    /// Words or a code prefix to look up in the code masters.
    lookup: Option<String>,
    example: Option<String>,
    saved: Option<String>,
}

/// What the editor starts with when nothing else is asked for: a count over the first
/// table.
fn starter(tables: &[TableInfo]) -> String {
    match tables.first() {
        Some(t) => format!(
            "SELECT count(*) AS rows, count(DISTINCT person_id) AS persons\nFROM {}",
            t.name
        ),
        None => "SELECT 1".to_owned(),
    }
}

/// What a workspace page shows, for a project or for an application's dummy data.
struct View<'a> {
    space: Space<'a>,
    title: String,
    base: String,
    /// Rows per table, for the real extract.
    summary: Option<renkei_workspace::extract::ExtractSummary>,
    tables: Vec<TableInfo>,
    saved: Vec<SavedQuery>,
    history: Vec<HistoryLine>,
    outputs: Vec<PendingOutput>,
}

/// GET /projects/{id}/workspace
pub async fn show(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Query(q): Query<WorkspaceQuery>,
    Query(done): Query<Done>,
) -> Result<Response, AppError> {
    let permit = st.app.applications.in_force(&ctx.caller, &id).await?;
    let ws = &st.app.workspaces;
    let title = format!("{} — {}", permit.permit().title, ctx.t("ws.title"));
    let Some(summary) = ws.current(&permit).await? else {
        return Ok(layout(
            &ctx,
            &title,
            html! { (notice("status", ctx.t("extract.pending"))) },
        )
        .into_response());
    };
    let view = View {
        space: Space::from(&permit),
        title,
        base: format!("/projects/{id}/workspace"),
        summary: Some(summary),
        tables: ws.tables(&ctx.caller, &permit).await?,
        saved: ws.saved_queries(&permit).await?,
        history: ws.history(&permit, 20).await?,
        outputs: ws.outputs(&permit).await?,
    };
    Ok(render(&st, &ctx, view, &q, &done))
}

/// GET /applications/{id}/workspace: the dummy workspace of an application in review.
pub async fn show_dummy(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Query(q): Query<WorkspaceQuery>,
    Query(done): Query<Done>,
) -> Result<Response, AppError> {
    let grant = st
        .app
        .applications
        .applicant(&ctx.caller)
        .await?
        .dummy(&id)
        .await?;
    let ws = &st.app.workspaces;
    let view = View {
        space: Space::from(&grant),
        title: format!("{} — {}", grant.title(), ctx.t("ws.dummy_title")),
        base: format!("/applications/{id}/workspace"),
        summary: None,
        tables: ws.dummy_schema(&grant).await?,
        saved: ws.saved_queries(&grant).await?,
        history: ws.history(&grant, 20).await?,
        outputs: Vec::new(),
    };
    Ok(render(&st, &ctx, view, &q, &done))
}

fn render(
    st: &AppState,
    ctx: &RequestContext,
    view: View<'_>,
    q: &WorkspaceQuery,
    done: &Done,
) -> Response {
    let ws = &st.app.workspaces;
    let View {
        space,
        title,
        base,
        summary,
        tables,
        saved,
        history,
        outputs,
    } = view;
    let dummy = matches!(space, Space::Dummy(_));
    let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
    let shown = q.q.as_deref().map(|qid| (qid, ws.query(space, qid)));
    let running = matches!(
        shown,
        Some((
            _,
            Some(QueryView {
                state: QueryState::Running { .. },
                ..
            })
        ))
    );
    let sql = match (&shown, &q.example, &q.saved) {
        (Some((_, Some(v))), _, _) => v.sql.clone(),
        (_, Some(e), _) => examples::EXAMPLES
            .iter()
            .find(|x| x.id == e)
            .map_or_else(|| starter(&tables), |x| x.sql.to_owned()),
        (_, _, Some(name)) => saved
            .iter()
            .find(|s| &s.name == name)
            .map_or_else(|| starter(&tables), |s| s.sql_text.clone()),
        _ => starter(&tables),
    };
    let ja = ctx.lang == crate::i18n::Lang::Ja;
    let now = st.app.clock.now();
    let page = layout(
        ctx,
        &title,
        html! {
            @match done.done.as_deref() {
                Some("saved") => { (notice("ok", ctx.t("ws.done.saved"))) }
                Some("release") => { (notice("ok", ctx.t("ws.done.release"))) }
                _ => {}
            }
            @if dummy {
                div.notice.warning role="status" { strong { (ctx.t("ws.dummy_banner")) } }
                p { (ctx.t("ws.dummy_explained")) }
            } @else {
                p { (ctx.t("ws.explained")) }
            }
            p { a href=(base.trim_end_matches("/workspace")) { (ctx.t("ws.back")) } }
            div.workspace {
                section aria-labelledby="schema" {
                    h2 #schema { (ctx.t("ws.schema")) }
                    @if let Some(s) = &summary { p.small { (ctx.t("extract.version")) " " (s.version) } }
                    @for t in &tables {
                        @let rows = summary.as_ref().and_then(|s| s.tables.iter().find(|s| s.name == t.name));
                        details {
                            summary {
                                code { (t.name) }
                                @if let Some(r) = rows { " (" (r.rows) " " (ctx.t("ws.rows")) ")" }
                            }
                            table.compact {
                                caption.visually-hidden { (t.name) }
                                thead { tr {
                                    th scope="col" { (ctx.t("ws.column")) }
                                    th scope="col" { (ctx.t("ws.type")) }
                                } }
                                tbody { @for (c, ty) in &t.columns {
                                    tr { td { code { (c) } } td { (ty) } }
                                } }
                            }
                        }
                    }
                }
                section aria-labelledby="editor" {
                    (lookup(ctx, &base, q.lookup.as_deref(), &st.app.masters))
                    h2 #editor { (ctx.t("ws.editor")) }
                    form method="post" action=(format!("{base}/queries")) {
                        (csrf_field(ctx))
                        div.field {
                            label for="sql" { (ctx.t("ws.sql_label")) }
                            textarea #sql name="sql" rows="12" spellcheck="false" autocomplete="off" { (sql) }
                        }
                        div.actions {
                            button type="submit" { (ctx.t("ws.run")) }
                        }
                        div.field {
                            label for="name" { (ctx.t("ws.save_name")) }
                            input #name type="text" name="name" maxlength="100";
                        }
                        button.secondary type="submit" formaction=(format!("{base}/saved")) { (ctx.t("ws.save")) }
                    }
                    h3 { (ctx.t("ws.examples")) }
                    ul { @for e in examples::for_tables(&names) {
                        li { a href=(format!("{base}?example={}", e.id)) { (if ja { e.title_ja } else { e.title_en }) } }
                    } }
                    h3 { (ctx.t("ws.saved")) }
                    @if saved.is_empty() { p.empty { (ctx.t("ws.none_saved")) } } @else {
                        ul { @for s in &saved {
                            li { a href=(format!("{base}?saved={}", urlencode(&s.name))) { (s.name) } }
                        } }
                    }
                }
            }
            @if let Some((qid, v)) = &shown {
                section #result aria-labelledby="result-h" {
                    h2 #result-h { (ctx.t("ws.result")) }
                    @match v {
                        None => { (notice("status", ctx.t("ws.not_kept"))) }
                        Some(v) => { (result(ctx, &base, qid, v, now)) }
                    }
                }
            }
            @if !outputs.is_empty() {
                section aria-labelledby="outputs" {
                    h2 #outputs { (ctx.t("ws.outputs")) }
                    div.scroll { table {
                        caption.visually-hidden { (ctx.t("ws.outputs")) }
                        thead { tr {
                            th scope="col" { (ctx.t("ws.release_title")) }
                            th scope="col" { (ctx.t("ws.status")) }
                            th scope="col" { (ctx.t("out.verdict")) }
                            th scope="col" { (ctx.t("ws.rows")) }
                            th scope="col" { (ctx.t("ws.requested")) }
                        } }
                        tbody { @for o in &outputs {
                            tr {
                                td { a href=(format!("/projects/{}/outputs/{}", space.project(), o.id)) { (o.title) } }
                                td { (ctx.t(&format!("ws.output.{}", o.status))) }
                                td { @match o.verdict.as_deref() {
                                    Some(v @ ("pass" | "review" | "fail")) => { (ctx.t(&format!("out.outcome.{v}"))) }
                                    _ => { (ctx.t("out.not_checked")) }
                                } }
                                td.num { (o.rows) }
                                td { (jst(renkei_core::Timestamp(o.created_at))) }
                            }
                        } }
                    } }
                }
            }
            section aria-labelledby="history" {
                h2 #history { (ctx.t("ws.history")) }
                @if history.is_empty() { p.empty { (ctx.t("ws.no_history")) } } @else {
                    div.scroll { table {
                        caption.visually-hidden { (ctx.t("ws.history")) }
                        thead { tr {
                            th scope="col" { (ctx.t("ws.started")) }
                            th scope="col" { (ctx.t("ws.status")) }
                            th scope="col" { (ctx.t("ws.rows")) }
                            th scope="col" { (ctx.t("ws.elapsed")) }
                            th scope="col" { "SQL" }
                        } }
                        tbody { @for h in &history {
                            tr {
                                td { a href=(format!("{base}?q={}#result", h.id)) { (jst(renkei_core::Timestamp(h.started_at))) } }
                                td {
                                    (ctx.t(&format!("ws.state.{}", h.status)))
                                    @if let Some(r) = &h.reason { " (" code { (r) } ")" }
                                    @if h.dummy { " " span.tag { (ctx.t("ws.dummy_tag")) } }
                                }
                                td.num { @if let Some(n) = h.rows_out { (n) } }
                                td.num { @if let Some(n) = h.elapsed_ms { (n) " ms" } }
                                td { code { (first_line(&h.sql_text)) } }
                            }
                        } }
                    } }
                }
            }
        },
    );
    if running {
        // Without JavaScript: the browser asks again in a second until the query ends.
        return ([("refresh", "1")], page).into_response();
    }
    page.into_response()
}

/// The code look-up: names and codes of diseases, drugs, procedures and checkup items
/// from the code masters (public reference data), to write conditions with.
fn lookup(
    ctx: &RequestContext,
    base: &str,
    q: Option<&str>,
    masters: &renkei_masters::Masters,
) -> Markup {
    let q = q.map(str::trim).filter(|q| !q.is_empty());
    let hits = q.map(|q| masters.search(q, 50));
    html! {
        form.lookup method="get" action=(base) {
            div.field {
                label for="lookup" { (ctx.t("ws.lookup")) }
                input #lookup type="search" name="lookup" value=(q.unwrap_or("")) maxlength="100";
            }
            button.secondary type="submit" { (ctx.t("ws.lookup_go")) }
        }
        @if let Some(hits) = hits {
            @if hits.is_empty() { p.empty { (ctx.t("ws.lookup_none")) } } @else {
                div.scroll { table.compact {
                    caption { (ctx.t("ws.lookup")) ": " (q.unwrap_or("")) }
                    thead { tr {
                        th scope="col" { (ctx.t("ws.lookup_system")) }
                        th scope="col" { (ctx.t("ws.lookup_code")) }
                        th scope="col" { (ctx.t("ws.lookup_name")) }
                        th scope="col" { (ctx.t("ws.lookup_related")) }
                    } }
                    tbody { @for h in &hits {
                        tr {
                            td { (ctx.t(&format!("ws.system.{}", h.system))) }
                            td { code { (h.code) } }
                            td { (h.name) }
                            td { (h.related) }
                        }
                    } }
                } }
            }
        }
    }
}

fn result(
    ctx: &RequestContext,
    base: &str,
    qid: &str,
    v: &QueryView,
    now: renkei_core::Timestamp,
) -> Markup {
    html! {
        pre.sql { code { (v.sql) } }
        @match &v.state {
            QueryState::Running { waiting, rows_read, elapsed_ms } => {
                p role="status" {
                    @if *waiting {
                        (ctx.t("ws.waiting")) " " (elapsed_ms / 1000) " s"
                    } @else {
                        (ctx.t("ws.running")) " " (rows_read) " " (ctx.t("ws.rows_read")) ", "
                        (elapsed_ms / 1000) " s"
                    }
                }
                form method="post" action=(format!("{base}/queries/{qid}/cancel")) {
                    (csrf_field(ctx))
                    button.secondary type="submit" { (ctx.t("ws.cancel")) }
                }
            }
            QueryState::Finished { result } => {
                (grid(ctx, result, now, v.dummy))
                // Dummy rows are synthetic: there is nothing to release.
                @if !v.dummy { (release_form(ctx, base, qid)) }
            }
            QueryState::Failed { code, message, .. } => {
                div.alert role="alert" {
                    p { strong { (ctx.t("ws.failed")) } " " code { (code) } }
                    p { (message) }
                }
            }
            QueryState::Stopped { reason } => {
                (notice("warning", &format!("{} ({reason})", ctx.t("ws.stopped"))))
            }
        }
    }
}

/// The rows, marked with who is looking and when: a screenshot carries both.
fn grid(ctx: &RequestContext, r: &QueryResult, now: renkei_core::Timestamp, dummy: bool) -> Markup {
    let who = ctx.caller.actor().name;
    let mut mark = format!("{who} · {}", jst(now));
    if dummy {
        mark = format!("{} · {mark}", ctx.t("ws.dummy_tag"));
    }
    html! {
        p {
            (r.rows.len()) " " (ctx.t("ws.rows_shown"))
            @if r.truncated { " — " (ctx.t("ws.truncated")) }
            " · " (r.elapsed_ms) " ms"
        }
        @if let Some(c) = chart(ctx, r) { (c) }
        div.watermarked {
            div.watermark aria-hidden="true" {
                @for _ in 0..24 { span { (mark) } }
            }
            div.scroll { table.result {
                caption { (ctx.t("ws.watermark")) ": " (mark) }
                thead { tr { @for (c, t) in r.columns.iter().zip(&r.types) {
                    th scope="col" title=(t) { (c) }
                } } }
                tbody { @for row in &r.rows {
                    tr { @for cell in row {
                        @match cell {
                            Some(v) => td { (v) },
                            None => td.null { "NULL" },
                        }
                    } }
                } }
            } }
        }
        p.small { (ctx.t("ws.no_download")) }
    }
}

/// The form that turns a shown result into a pending output.
fn release_form(ctx: &RequestContext, base: &str, qid: &str) -> Markup {
    html! {
        form.card method="post" action=(format!("{base}/queries/{qid}/release")) {
            (csrf_field(ctx))
            div.field {
                label for="title" { (ctx.t("ws.release_title")) }
                input #title type="text" name="title" maxlength="200" required;
            }
            button type="submit" { (ctx.t("ws.release")) }
        }
    }
}

/// A bar chart (or a line, over dates) of the first numeric column against the first
/// column, drawn as SVG on the server; the table below is its accessible form.
fn chart(ctx: &RequestContext, r: &QueryResult) -> Option<Markup> {
    const NUMERIC: [&str; 10] = [
        "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float32",
        "Float64",
    ];
    if r.columns.len() < 2 || r.rows.len() < 2 || r.rows.len() > 60 {
        return None;
    }
    let col = (1..r.types.len())
        .find(|&i| NUMERIC.contains(&r.types[i].as_str()) || r.types[i].starts_with("Decimal"))?;
    let points: Vec<(String, f64)> = r
        .rows
        .iter()
        .map(|row| {
            let label = row[0].clone().unwrap_or_default();
            let v = row[col].as_deref().and_then(|v| v.parse::<f64>().ok());
            v.map(|v| (label, v))
        })
        .collect::<Option<_>>()?;
    let max = points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    if max <= 0.0 || points.iter().any(|p| p.1 < 0.0 || !p.1.is_finite()) {
        return None;
    }
    let line = r.types[0].starts_with("Date") || r.types[0].starts_with("Timestamp");
    let (w, h, left, bottom, top) = (640.0, 260.0, 56.0, 40.0, 12.0);
    let plot_w = w - left - 8.0;
    let plot_h = h - bottom - top;
    let step = plot_w / points.len() as f64;
    let y = |v: f64| top + plot_h - v / max * plot_h;
    let label_every = points.len().div_ceil(12);
    let title = format!("{} / {}", r.columns[col], r.columns[0]);
    let path: String = points
        .iter()
        .enumerate()
        .map(|(i, (_, v))| {
            let x = left + step * (i as f64 + 0.5);
            format!("{}{x:.1},{:.1}", if i == 0 { "M" } else { " L" }, y(*v))
        })
        .collect();
    Some(html! {
        figure.chart {
            svg viewBox=(format!("0 0 {w} {h}")) role="img" aria-labelledby="chart-title" {
                title #chart-title { (title) }
                line x1=(left) y1=(top + plot_h) x2=(w - 8.0) y2=(top + plot_h) stroke="#444" {}
                line x1=(left) y1=(top) x2=(left) y2=(top + plot_h) stroke="#444" {}
                text x=(left - 6.0) y=(top + 4.0) text-anchor="end" font-size="11" { (fmt_num(max)) }
                text x=(left - 6.0) y=(top + plot_h) text-anchor="end" font-size="11" { "0" }
                @if line {
                    path d=(path) fill="none" stroke="#1d4f91" stroke-width="2" {}
                }
                @for (i, (label, v)) in points.iter().enumerate() {
                    @let x = left + step * i as f64;
                    @if !line {
                        rect x=(format!("{:.1}", x + step * 0.1)) y=(format!("{:.1}", y(*v)))
                            width=(format!("{:.1}", step * 0.8)) height=(format!("{:.1}", top + plot_h - y(*v)))
                            fill="#1d4f91" { title { (label) ": " (fmt_num(*v)) } }
                    } @else {
                        circle cx=(format!("{:.1}", x + step * 0.5)) cy=(format!("{:.1}", y(*v))) r="3" fill="#1d4f91" {
                            title { (label) ": " (fmt_num(*v)) }
                        }
                    }
                    @if i % label_every == 0 {
                        text x=(format!("{:.1}", x + step * 0.5)) y=(h - bottom + 16.0) text-anchor="middle" font-size="10" { (label) }
                    }
                }
            }
            figcaption { (ctx.t("ws.chart")) ": " (title) }
        }
    })
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn first_line(s: &str) -> String {
    let line = s
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
        .unwrap_or("");
    let mut out: String = line.chars().take(80).collect();
    if line.chars().count() > 80 || s.lines().count() > 1 {
        out.push_str(" …");
    }
    out
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// What a workspace request acts under, asked afresh on every request: the permit in
/// force (a project's workspace), or the dummy grant of an application in review.
pub(crate) enum Authority {
    Permit(Box<renkei_access::PermitInForce>),
    Dummy(renkei_access::DummyGrant),
}

impl Authority {
    pub(crate) async fn of(
        st: &AppState,
        ctx: &RequestContext,
        dummy: bool,
        id: &str,
    ) -> Result<Self, AppError> {
        Ok(if dummy {
            Authority::Dummy(
                st.app
                    .applications
                    .applicant(&ctx.caller)
                    .await?
                    .dummy(id)
                    .await?,
            )
        } else {
            Authority::Permit(Box::new(
                st.app.applications.in_force(&ctx.caller, id).await?,
            ))
        })
    }

    pub(crate) fn space(&self) -> Space<'_> {
        match self {
            Authority::Permit(p) => Space::from(p.as_ref()),
            Authority::Dummy(g) => Space::from(g),
        }
    }

    fn base(&self, id: &str) -> String {
        match self {
            Authority::Permit(_) => format!("/projects/{id}/workspace"),
            Authority::Dummy(_) => format!("/applications/{id}/workspace"),
        }
    }
}

/// Starts the query and shows it (at once when it is quick).
async fn run_in(
    st: &AppState,
    ctx: &RequestContext,
    dummy: bool,
    id: &str,
    f: &FormData,
) -> Result<Response, AppError> {
    let auth = Authority::of(st, ctx, dummy, id).await?;
    let ws = &st.app.workspaces;
    let qid = ws
        .start_in(&ctx.caller, auth.space(), f.get("sql").unwrap_or(""))
        .await?;
    ws.wait_query(auth.space(), &qid, Duration::from_secs(2))
        .await;
    Ok(Redirect::to(&format!("{}?q={qid}#result", auth.base(id))).into_response())
}

async fn cancel_in(
    st: &AppState,
    ctx: &RequestContext,
    dummy: bool,
    id: &str,
    qid: &str,
) -> Result<Response, AppError> {
    if !renkei_workspace::query::is_query_id(qid) {
        return Err(AppError::NotFound);
    }
    let auth = Authority::of(st, ctx, dummy, id).await?;
    let ws = &st.app.workspaces;
    if ws.cancel_query(auth.space(), qid) {
        ws.wait_query(auth.space(), qid, Duration::from_secs(2))
            .await;
    }
    Ok(Redirect::to(&format!("{}?q={qid}#result", auth.base(id))).into_response())
}

/// Saves the editor's SQL under a name (for a dummy workspace, under the project the
/// application becomes, so the query is there in the real workspace).
async fn save_in(
    st: &AppState,
    ctx: &RequestContext,
    dummy: bool,
    id: &str,
    f: &FormData,
) -> Result<Response, AppError> {
    let auth = Authority::of(st, ctx, dummy, id).await?;
    let name = f.get("name").unwrap_or("").trim().to_owned();
    st.app
        .workspaces
        .save_query(auth.space(), &name, f.get("sql").unwrap_or(""))
        .await?;
    Ok(Redirect::to(&format!(
        "{}?saved={}&done=saved",
        auth.base(id),
        urlencode(&name)
    ))
    .into_response())
}

/// POST /projects/{id}/workspace/queries
pub async fn run(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    f: FormData,
) -> Result<Response, AppError> {
    run_in(&st, &ctx, false, &id, &f).await
}

/// POST /applications/{id}/workspace/queries: on the application's dummy data.
pub async fn run_dummy(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    f: FormData,
) -> Result<Response, AppError> {
    run_in(&st, &ctx, true, &id, &f).await
}

/// POST /projects/{id}/workspace/queries/{qid}/cancel
pub async fn cancel(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path((id, qid)): Path<(String, String)>,
    _f: FormData,
) -> Result<Response, AppError> {
    cancel_in(&st, &ctx, false, &id, &qid).await
}

/// POST /applications/{id}/workspace/queries/{qid}/cancel
pub async fn cancel_dummy(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path((id, qid)): Path<(String, String)>,
    _f: FormData,
) -> Result<Response, AppError> {
    cancel_in(&st, &ctx, true, &id, &qid).await
}

/// POST /projects/{id}/workspace/saved
pub async fn save(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    f: FormData,
) -> Result<Response, AppError> {
    save_in(&st, &ctx, false, &id, &f).await
}

/// POST /applications/{id}/workspace/saved
pub async fn save_dummy(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    f: FormData,
) -> Result<Response, AppError> {
    save_in(&st, &ctx, true, &id, &f).await
}

/// POST /projects/{id}/workspace/queries/{qid}/release: the result, with its query,
/// becomes a pending output for checking.
pub async fn release(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path((id, qid)): Path<(String, String)>,
    f: FormData,
) -> Result<Response, AppError> {
    if !renkei_workspace::query::is_query_id(&qid) {
        return Err(AppError::NotFound);
    }
    let permit = st.app.applications.in_force(&ctx.caller, &id).await?;
    st.app
        .workspaces
        .request_release(&ctx.caller, &permit, &qid, f.get("title").unwrap_or(""))
        .await?;
    Ok(Redirect::to(&format!("/projects/{id}/workspace?done=release#outputs")).into_response())
}
