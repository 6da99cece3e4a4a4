//! The custodian's view of the datasets: every version (committed or refused), the
//! files it came from with their SHA-256, the exact quality profile, and the reject
//! report. Public visitors see the suppressed profile in the catalogue instead.

use super::{jst, layout, notice};
use crate::context::RequestContext;
use crate::i18n::Lang;
use crate::{AppError, AppState};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use renkei_catalog::{VersionRecord, VersionStatus};

fn status(ctx: &RequestContext, v: &VersionRecord) -> &'static str {
    match v.status {
        VersionStatus::Committed => ctx.t("datasets.committed"),
        VersionStatus::Refused => ctx.t("datasets.refused"),
    }
}

/// GET /datasets
pub async fn list(State(st): State<AppState>, ctx: RequestContext) -> Result<Markup, AppError> {
    let histories = st
        .app
        .catalog
        .custody(&ctx.caller)
        .await?
        .datasets()
        .await?;
    let rows: Vec<_> = histories.iter().map(|h| (&h.entry, &h.versions)).collect();
    Ok(layout(
        &ctx,
        ctx.t("datasets.title"),
        html! {
            p.lead { (ctx.t("datasets.lead")) }
            @if rows.is_empty() {
                p.empty { (ctx.t("datasets.none")) }
            } @else {
                div.scroll { table {
                    caption.visually-hidden { (ctx.t("datasets.title")) }
                    thead { tr {
                        th scope="col" { (ctx.t("catalog.id")) }
                        th scope="col" { (ctx.t("datasets.name")) }
                        th scope="col" { (ctx.t("datasets.current")) }
                        th scope="col" { (ctx.t("datasets.latest")) }
                        th scope="col" { (ctx.t("datasets.rows_in")) }
                        th scope="col" { (ctx.t("datasets.rejected")) }
                        th scope="col" { (ctx.t("datasets.loaded_at")) }
                    } }
                    tbody {
                        @for (e, all) in &rows {
                            @let d = &e.declaration.dataset;
                            @let latest = all.first();
                            tr class=[latest.filter(|v| v.status == VersionStatus::Refused).map(|_| "denied")] {
                                th scope="row" { a href=(format!("/datasets/{}", d.id)) { code { (d.id) } } }
                                td { (ctx.pick(&d.name_ja, &d.name_en)) }
                                td { @if let Some(c) = &e.current { "v" (c.version) } @else { "—" } }
                                td { @if let Some(v) = latest { "v" (v.version) " " (status(&ctx, v)) } }
                                td.num { @if let Some(v) = latest { (v.rows_in) } }
                                td.num { @if let Some(v) = latest { (v.rows_rejected) } }
                                td { @if let Some(v) = latest { (jst(v.created_at)) } }
                            }
                        }
                    }
                } }
            }
            p.hint { (ctx.t("datasets.cli_hint")) " " code { "renkei ingest --dataset <id> --source <dir>" } }
        },
    ))
}

/// GET /datasets/{id}
pub async fn dataset(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Markup, AppError> {
    let h = st
        .app
        .catalog
        .custody(&ctx.caller)
        .await?
        .dataset(&id)
        .await?;
    let (entry, all) = (&h.entry, &h.versions);
    let d = &entry.declaration.dataset;
    Ok(layout(
        &ctx,
        ctx.pick(&d.name_ja, &d.name_en),
        html! {
            p { a href=(format!("/catalog/{id}")) { (ctx.t("datasets.public_page")) } }
            section aria-labelledby="versions" {
                h2 #versions { (ctx.t("datasets.versions")) }
                @if all.is_empty() { p.empty { (ctx.t("datasets.none")) } }
                @for v in all {
                    article.version aria-labelledby=(format!("v{}", v.version)) {
                        h3 id=(format!("v{}", v.version)) { "v" (v.version) " — " (status(&ctx, v))
                            @if entry.current.as_ref().is_some_and(|c| c.version == v.version) { " (" (ctx.t("datasets.current")) ")" } }
                        @if v.status == VersionStatus::Refused { (notice("error", &refusal(&ctx, v))) }
                        dl.meta {
                            dt { (ctx.t("datasets.loaded_at")) } dd { (jst(v.created_at)) }
                            dt { (ctx.t("datasets.loaded_by")) } dd { code { (v.created_by) } }
                            dt { (ctx.t("datasets.rows_in")) } dd { (v.rows_in) }
                            dt { (ctx.t("datasets.rejected")) } dd {
                                (v.rows_rejected)
                                " (" (format!("{:.2}%", if v.rows_in == 0 { 0.0 } else { v.rows_rejected as f64 * 100.0 / v.rows_in as f64 })) ") "
                                a href=(format!("/datasets/{id}/versions/{}/rejects", v.version)) { (ctx.t("datasets.reject_report")) }
                            }
                            dt { (ctx.t("catalog.coverage")) } dd { (v.coverage_from) " – " (v.coverage_to) }
                            @if !v.linkage_fingerprint.is_empty() {
                                dt { (ctx.t("datasets.linkage_fingerprint")) } dd { code { (v.linkage_fingerprint) } " (" (ctx.t("datasets.generation")) " " (v.token_generation) ")" }
                            }
                        }
                        @if !v.profile.records.is_empty() {
                            details {
                                summary { (ctx.t("datasets.records")) }
                                div.scroll { table {
                                    caption.visually-hidden { (ctx.t("datasets.records")) }
                                    thead { tr {
                                        th scope="col" { (ctx.t("datasets.record_type")) }
                                        th scope="col" { (ctx.t("datasets.read")) }
                                        th scope="col" { (ctx.t("datasets.stored")) }
                                        th scope="col" { (ctx.t("datasets.flagged")) }
                                        th scope="col" { (ctx.t("datasets.rejected")) }
                                        th scope="col" { (ctx.t("datasets.merged")) }
                                    } }
                                    tbody { @for r in &v.profile.records { tr {
                                        th scope="row" { code { (r.kind) } }
                                        td.num { (r.read) } td.num { (r.stored) } td.num { (r.flagged) }
                                        td.num { (r.rejected) } td.num { (r.merged_or_skipped()) }
                                    } } }
                                } }
                            }
                        }
                        @if !v.masters.is_empty() {
                            details {
                                summary { (ctx.t("catalog.masters")) }
                                (super::masters_table(&ctx, v.masters.iter().map(|m| (m.system.name_ja(), m.source.as_str(), m.published.as_deref(), m.sha256.as_str()))))
                            }
                        }
                        details {
                            summary { (ctx.t("datasets.files")) " (" (v.files.len()) ")" }
                            div.scroll { table {
                                caption.visually-hidden { (ctx.t("datasets.files")) }
                                thead { tr { th scope="col" { (ctx.t("datasets.file")) } th scope="col" { (ctx.t("datasets.bytes")) } th scope="col" { "SHA-256" } } }
                                tbody { @for f in &v.files { tr { td { code { (f.name) } } td.num { (f.bytes) } td { small { code { (f.sha256) } } } } } }
                            } }
                        }
                        @if v.status == VersionStatus::Committed {
                            details {
                                summary { (ctx.t("datasets.profile")) }
                                @for t in &v.profile.tables {
                                    div.scroll { table {
                                        caption { code { (t.name) } " — " (t.rows) " " (ctx.t("datasets.rows")) }
                                        thead { tr {
                                            th scope="col" { (ctx.t("catalog.col.name")) }
                                            th scope="col" { (ctx.t("datasets.present")) }
                                            th scope="col" { (ctx.t("catalog.col.missing")) }
                                            th scope="col" { (ctx.t("catalog.col.invalid")) }
                                            th scope="col" { (ctx.t("datasets.not_in_master")) }
                                            th scope="col" { (ctx.t("datasets.min")) }
                                            th scope="col" { (ctx.t("datasets.max")) }
                                        } }
                                        tbody { @for c in &t.columns { tr {
                                            th scope="row" { code { (c.name) } }
                                            td.num { (c.present) }
                                            td.num { (c.missing) }
                                            td.num { (c.invalid) }
                                            td.num { @if c.master.is_some() { (c.not_in_master) } @else { "—" } }
                                            td { (c.min.clone().unwrap_or_default()) }
                                            td { (c.max.clone().unwrap_or_default()) }
                                        } } }
                                    } }
                                }
                            }
                        }
                    }
                }
            }
            p { a href="/datasets" { (ctx.t("datasets.back")) } }
        },
    ))
}

/// GET /datasets/{id}/versions/{version}/rejects — the reject report as CSV. It names
/// files, lines, fields and rules, never values; the download is audited.
pub async fn rejects(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path((id, version)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let body = st
        .app
        .ingestor
        .reject_report(&ctx.caller, &id, version)
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}-v{version}-rejects.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// Why a version was refused, in the reader's language. The stored reason is the
/// English one the audit log carries; the Japanese sentence is rebuilt from the counts.
fn refusal(ctx: &RequestContext, v: &VersionRecord) -> String {
    let rate = if v.rows_in == 0 {
        100.0
    } else {
        v.rows_rejected as f64 * 100.0 / v.rows_in as f64
    };
    match ctx.lang {
        Lang::Ja => format!(
            "却下されたレコードが {rate:.2}% で閾値を超えたため、この版は採用されませんでした。前の版が引き続き提供されています。"
        ),
        Lang::En => format!(
            "Refused: {}. The previous version is still served.",
            v.reason
        ),
    }
}
