//! The linkage authority's page: run the person index and read its quality report.
//! Nothing here shows analysis data or results.

use super::{Done, csrf_field, jst, layout, notice};
use crate::context::RequestContext;
use crate::form::FormData;
use crate::{AppError, AppState};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

/// GET /linkage
pub async fn show(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(done): Query<Done>,
) -> Result<Markup, AppError> {
    let runs = st.app.linkage.runs(&ctx.caller).await?;
    let latest = runs.iter().find_map(|r| r.report.as_ref());
    Ok(layout(
        &ctx,
        ctx.t("linkage.title"),
        html! {
            @if done.done.is_some() { (notice("ok", ctx.t("linkage.done"))) }
            p { (ctx.t("linkage.explained")) }
            form.card method="post" action="/linkage/run" {
                (csrf_field(&ctx))
                button type="submit" { (ctx.t("linkage.run")) }
            }
            @if let Some(r) = latest {
                section aria-labelledby="latest" {
                    h2 #latest { (ctx.t("linkage.latest")) " (v" (r.version) ")" }
                    @if let Some(t) = &r.truth {
                        p {
                            (ctx.t("linkage.quality")) ": precision " (format!("{:.4}", t.precision))
                            ", recall " (format!("{:.4}", t.recall)) ", F1 " (format!("{:.4}", t.f1))
                            " (" (t.records_compared) " / " (t.true_persons) ")"
                        }
                    }
                    table {
                        caption { (ctx.t("linkage.latest")) }
                        thead { tr {
                            th scope="col" { (ctx.t("linkage.dataset")) }
                            th scope="col" { (ctx.t("linkage.records")) }
                            th scope="col" { (ctx.t("linkage.persons")) }
                            th scope="col" { (ctx.t("linkage.elsewhere")) }
                        } }
                        tbody {
                            @for d in &r.datasets {
                                tr {
                                    td { code { (d.dataset) } }
                                    td.num { (d.records) }
                                    td.num { (d.persons) }
                                    td.num { (d.linked_to_other_datasets) }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="runs" {
                h2 #runs { (ctx.t("linkage.runs")) }
                @if runs.is_empty() { p { (ctx.t("linkage.none")) } } @else {
                    table {
                        caption { (ctx.t("linkage.runs")) }
                        thead { tr {
                            th scope="col" { (ctx.t("linkage.version")) }
                            th scope="col" { (ctx.t("linkage.status")) }
                            th scope="col" { (ctx.t("linkage.started")) }
                            th scope="col" { (ctx.t("linkage.records")) }
                            th scope="col" { (ctx.t("linkage.persons")) }
                            th scope="col" { (ctx.t("linkage.several")) }
                            th scope="col" { (ctx.t("linkage.conflicts")) }
                        } }
                        tbody {
                            @for r in &runs {
                                tr {
                                    td.num { (r.version) }
                                    td { (r.status) }
                                    td { (jst(renkei_core::Timestamp(r.started_at))) }
                                    @if let Some(x) = &r.report {
                                        td.num { (x.records) }
                                        td.num { (x.persons) }
                                        td.num { (x.persons_in_several_datasets) }
                                        td.num { (x.conflicts.iter().map(|c| c.1).sum::<u64>()) }
                                    } @else {
                                        td {} td {} td {} td {}
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// POST /linkage/run: runs the linkage, then makes the extracts that waited for it.
pub async fn run(
    State(st): State<AppState>,
    ctx: RequestContext,
    _f: FormData,
) -> Result<Response, AppError> {
    crate::access_api::run_linkage(&st, &ctx).await?;
    Ok(Redirect::to("/linkage?done=run").into_response())
}
