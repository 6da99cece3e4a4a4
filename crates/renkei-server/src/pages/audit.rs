//! The auditor's view of the log: browse with filters, verify the chain, export.
//! Reading the log is itself recorded, so the supervisor's own access is on the record.

use super::{jst, layout, notice};
use crate::context::RequestContext;
use crate::{AppError, AppState};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use renkei_audit::ExportFilter;
use renkei_core::Timestamp;
use serde::Deserialize;

/// Filters from the query string.
#[derive(Deserialize, Default, Clone)]
pub struct Filter {
    since: Option<String>,
    until: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    denied: Option<String>,
    limit: Option<i64>,
}

impl Filter {
    /// A filter from API parameters.
    pub(crate) fn new(
        since: Option<String>,
        until: Option<String>,
        actor: Option<String>,
        action: Option<String>,
        denied_only: bool,
    ) -> Self {
        Self {
            since,
            until,
            actor,
            action,
            denied: denied_only.then(|| "1".to_owned()),
            limit: None,
        }
    }

    /// The store's filter; a malformed date is a 400 naming the field.
    pub(crate) fn to_export(&self) -> Result<ExportFilter, AppError> {
        let time = |s: &Option<String>, name: &str| -> Result<Option<Timestamp>, AppError> {
            match s.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(v) => Timestamp::parse(v).map(Some).ok_or_else(|| {
                    AppError::BadRequest(format!("{name}: use YYYY-MM-DD or RFC 3339"))
                }),
            }
        };
        let nonempty = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Ok(ExportFilter {
            since: time(&self.since, "since")?,
            until: time(&self.until, "until")?,
            actor: nonempty(&self.actor),
            action_prefix: nonempty(&self.action),
            denied_only: self.denied.as_deref() == Some("1"),
        })
    }
}

/// GET /audit
pub async fn log(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(f): Query<Filter>,
) -> Result<Markup, AppError> {
    let ef = f.to_export()?;
    let limit = f.limit.unwrap_or(200).clamp(1, 2000);
    let rows = st
        .app
        .audit
        .reader(&ctx.caller)
        .await?
        .recent(&ef, limit)
        .await?;
    let v = |s: &Option<String>| s.clone().unwrap_or_default();
    Ok(layout(
        &ctx,
        ctx.t("audit.title"),
        html! {
            form.filters method="get" action="/audit" {
                div.field { label for="since" { (ctx.t("audit.since")) } input #since name="since" type="date" value=(v(&f.since)); }
                div.field { label for="until" { (ctx.t("audit.until")) } input #until name="until" type="date" value=(v(&f.until)); }
                div.field { label for="actor" { (ctx.t("audit.actor")) } input #actor name="actor" type="text" value=(v(&f.actor)) placeholder="user:…"; }
                div.field { label for="action" { (ctx.t("audit.action")) } input #action name="action" type="text" value=(v(&f.action)) placeholder="auth."; }
                div.check { input #denied name="denied" type="checkbox" value="1" checked[f.denied.as_deref() == Some("1")]; label for="denied" { (ctx.t("audit.denied_only")) } }
                button type="submit" { (ctx.t("audit.apply")) }
            }
            p.actions-row {
                a.button href="/audit/verify" { (ctx.t("audit.verify")) }
                a.button href=(format!("/audit/export?since={}&until={}", v(&f.since), v(&f.until))) { (ctx.t("audit.export")) }
            }
            @if rows.is_empty() {
                p.empty { (ctx.t("audit.none")) }
            } @else {
                div.scroll {
                    table.audit {
                        caption { (ctx.t("audit.caption")) }
                        thead { tr {
                            th scope="col" { "#" }
                            th scope="col" { (ctx.t("audit.time")) }
                            th scope="col" { (ctx.t("audit.actor")) }
                            th scope="col" { (ctx.t("admin.roles")) }
                            th scope="col" { (ctx.t("audit.action")) }
                            th scope="col" { (ctx.t("audit.object")) }
                            th scope="col" { (ctx.t("audit.outcome")) }
                            th scope="col" { (ctx.t("audit.request")) }
                        } }
                        tbody {
                            @for e in &rows {
                                tr class=(if e.outcome == "denied" { "denied" } else { "" }) {
                                    td { (e.seq) }
                                    td { (jst(Timestamp(e.at))) }
                                    td { (e.actor_name) br; small { (e.actor) } }
                                    td { (e.actor_roles) }
                                    td { code { (e.action) } }
                                    td { (e.object) }
                                    td {
                                        (ctx.t(if e.outcome == "denied" { "audit.denied" } else { "audit.allowed" }))
                                        @if !e.reason.is_empty() { br; small { (e.reason) } }
                                    }
                                    td { small { code { (e.request_id) } } }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// GET /audit/verify
pub async fn verify(State(st): State<AppState>, ctx: RequestContext) -> Result<Markup, AppError> {
    let report = st.app.audit.reader(&ctx.caller).await?.verify().await?;
    Ok(layout(
        &ctx,
        ctx.t("audit.verify_title"),
        html! {
            @if report.is_ok() {
                (notice("ok", ctx.t("audit.verify_ok")))
            } @else {
                (notice("error", ctx.t("audit.verify_bad")))
            }
            dl.meta {
                dt { (ctx.t("audit.entries")) } dd { (report.entries) }
                dt { (ctx.t("audit.last_seq")) } dd { (report.last_seq) }
                dt { (ctx.t("audit.checkpoints")) } dd { (report.checkpoints) }
                dt { (ctx.t("audit.latest_checkpoint")) } dd { (report.latest_checkpoint.map(|s| s.to_string()).unwrap_or_else(|| "—".into())) }
                dt { (ctx.t("audit.mac_checked")) } dd { (ctx.t(if report.mac_checked { "common.yes" } else { "common.no" })) }
                @if report.witness_checked {
                    dt { (ctx.t("audit.witnessed")) } dd { (report.latest_witnessed.map(|s| s.to_string()).unwrap_or_else(|| "—".into())) }
                }
                dt { (ctx.t("audit.tail")) }
                dd { (ctx.t("audit.tail_value").replace("{n}", &report.tail_entries.to_string()).replace("{secs}", &report.tail_secs.to_string())) }
            }
            @if !report.witness_checked {
                (notice("warn", ctx.t("audit.no_witness")))
            }
            @if !report.problems.is_empty() {
                table {
                    caption { (ctx.t("audit.problems")) }
                    thead { tr { th scope="col" { "#" } th scope="col" { (ctx.t("audit.problem_kind")) } th scope="col" { (ctx.t("audit.problem_detail")) } } }
                    tbody {
                        @for p in report.problems.iter().take(500) {
                            tr { td { (p.seq) } td { (p.kind.name()) } td { (p.detail) } }
                        }
                    }
                }
            }
            p { a href="/audit" { (ctx.t("audit.back")) } }
        },
    ))
}

/// GET /audit/export — JSON Lines download, streamed: the log may hold millions of
/// entries, and the server holds one chunk of them at a time.
pub async fn export(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(f): Query<Filter>,
) -> Result<Response, AppError> {
    let ef = f.to_export()?;
    // The caller is checked (and a refusal recorded) before anything is sent.
    let reader = st.app.audit.reader(&ctx.caller).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    // A failure mid-way must not look like a complete file: the body then ends in an
    // error, and the client sees the download fail.
    let failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = failed.clone();
    tokio::spawn(async move {
        if let Err(e) = reader.export_chunks(&ef, &tx).await {
            tracing::error!(error = %e, "audit export ended early");
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let body = axum::body::Body::from_stream(futures::stream::unfold(
        (rx, failed, false),
        |(mut rx, failed, done)| async move {
            if done {
                return None;
            }
            match rx.recv().await {
                Some(chunk) => Some((Ok(chunk), (rx, failed, false))),
                None if failed.load(std::sync::atomic::Ordering::SeqCst) => Some((
                    Err(std::io::Error::other("the export failed")),
                    (rx, failed, true),
                )),
                None => None,
            }
        },
    ));
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"renkei-audit.jsonl\"".to_owned(),
            ),
        ],
        body,
    )
        .into_response())
}
