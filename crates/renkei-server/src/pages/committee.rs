//! Committee members' and custodians' pages, without JavaScript: the committee's agenda
//! and, per application, the declaration of a conflict of interest; the applications
//! waiting for a custodian's answer and, per application, a confirmation or refusal for
//! each of their datasets. Every rule is `renkei-access`'s.

use super::applications::{requested, review_aside, state_label, title_of};
use super::{Done, csrf_field, layout, notice};
use crate::context::RequestContext;
use crate::form::FormData;
use crate::{AppError, AppState};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use renkei_access::ApplicationView;
use renkei_access::flow::State as ReviewState;

fn table(ctx: &RequestContext, caption: &str, base: &str, apps: &[ApplicationView]) -> Markup {
    html! {
        @if apps.is_empty() {
            p.empty { (ctx.t("committee.nothing")) }
        } @else {
            div.scroll { table {
                caption.visually-hidden { (caption) }
                thead { tr {
                    th scope="col" { (ctx.t("app.title")) }
                    th scope="col" { (ctx.t("app.state")) }
                } }
                tbody { @for a in apps {
                    tr {
                        td { a href=(format!("{base}/{}", a.id)) { (title_of(ctx, a)) } }
                        td { (state_label(ctx, &a.state)) }
                    }
                } }
            } }
        }
    }
}

fn summary(ctx: &RequestContext, v: &ApplicationView) -> Markup {
    html! {
        dl.meta {
            dt { (ctx.t("app.state")) } dd { strong { (state_label(ctx, &v.state)) } }
            dt { (ctx.t("app.version")) } dd { (v.version) }
            dt { (ctx.t("app.institution")) } dd { (v.content.institution) }
            dt { (ctx.t("app.purpose_text")) } dd { (v.content.purpose_text) }
            dt { (ctx.t("app.summary_ja")) } dd { (v.content.summary_ja) }
            dt { (ctx.t("app.public_interest")) } dd { (v.content.public_interest) }
            dt { (ctx.t("app.why_pseudonymized")) } dd { (v.content.why_pseudonymized) }
            dt { (ctx.t("app.methods")) } dd { (v.content.methods) }
            dt { (ctx.t("app.section.data")) } dd { (requested(&v.content)) }
            dt { (ctx.t("app.conflicts_of_interest")) } dd { (v.content.conflicts_of_interest) }
        }
        (review_aside(ctx, v))
    }
}

/// GET /committee
pub async fn agenda(State(st): State<AppState>, ctx: RequestContext) -> Result<Markup, AppError> {
    let desk = st.app.applications.member(&ctx.caller).await?;
    let apps = desk.agenda().await?;
    Ok(layout(
        &ctx,
        ctx.t("committee.title"),
        table(&ctx, ctx.t("committee.title"), "/committee", &apps),
    ))
}

/// GET /committee/{id}
pub async fn show(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Markup, AppError> {
    let desk = st.app.applications.member(&ctx.caller).await?;
    let v = desk.view(&id).await?;
    Ok(layout(
        &ctx,
        title_of(&ctx, &v),
        html! {
            @if done.done.is_some() { (notice("ok", ctx.t("review.done"))) }
            (summary(&ctx, &v))
            @if matches!(v.state, ReviewState::Submitted | ReviewState::InReview { .. }) {
                section aria-labelledby="coi" {
                    h2 #coi { (ctx.t("committee.coi")) }
                    p.help { (ctx.t("committee.coi_help")) }
                    form.card method="post" action=(format!("/committee/{}/conflict", v.id)) {
                        (csrf_field(&ctx))
                        fieldset {
                            legend { (ctx.t("committee.coi")) }
                            label.check { input type="radio" name="conflicted" value="no" required; " " (ctx.t("committee.coi_none")) }
                            label.check { input type="radio" name="conflicted" value="yes"; " " (ctx.t("committee.coi_yes")) }
                        }
                        div.field {
                            label for="detail" { (ctx.t("committee.coi_detail")) }
                            textarea #detail name="detail" rows="2" {}
                        }
                        button type="submit" { (ctx.t("committee.declare")) }
                    }
                }
            }
            @if matches!(v.state, ReviewState::InReview { .. }) {
                section aria-labelledby="comment" {
                    h2 #comment { (ctx.t("committee.comment")) }
                    form.card method="post" action=(format!("/committee/{}/comment", v.id)) {
                        (csrf_field(&ctx))
                        div.field {
                            label for="comment-text" { (ctx.t("committee.comment_text")) }
                            textarea #comment-text name="comment" rows="4" required {}
                        }
                        button type="submit" { (ctx.t("committee.comment_send")) }
                    }
                }
            }
            p { a href="/committee" { (ctx.t("committee.back")) } }
        },
    ))
}

/// POST /committee/{id}/conflict
pub async fn conflict(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    f: FormData,
) -> Result<Response, AppError> {
    let desk = st.app.applications.member(&ctx.caller).await?;
    let conflicted = match f.get("conflicted") {
        Some("yes") => true,
        Some("no") => false,
        _ => {
            return Err(AppError::BadRequest(
                "say whether you have a conflict".into(),
            ));
        }
    };
    desk.declare(&id, conflicted, f.get("detail").unwrap_or(""))
        .await?;
    Ok(Redirect::to(&format!("/committee/{id}?done=1")).into_response())
}

/// POST /committee/{id}/comment
pub async fn comment(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    f: FormData,
) -> Result<Response, AppError> {
    let desk = st.app.applications.member(&ctx.caller).await?;
    desk.comment(&id, f.get("comment").unwrap_or("")).await?;
    Ok(Redirect::to(&format!("/committee/{id}?done=1")).into_response())
}

/// GET /custody
pub async fn pending(State(st): State<AppState>, ctx: RequestContext) -> Result<Markup, AppError> {
    let desk = st.app.applications.custodian(&ctx.caller).await?;
    let apps = desk.pending().await?;
    Ok(layout(
        &ctx,
        ctx.t("custody.title"),
        table(&ctx, ctx.t("custody.title"), "/custody", &apps),
    ))
}

/// GET /custody/{id}
pub async fn custody_show(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Markup, AppError> {
    let desk = st.app.applications.custodian(&ctx.caller).await?;
    let v = desk.view(&id).await?;
    let waiting: Vec<String> = match &v.state {
        ReviewState::Approved { pending, .. } => pending
            .iter()
            .filter(|d| desk.held().contains(*d))
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    Ok(layout(
        &ctx,
        title_of(&ctx, &v),
        html! {
            @if done.done.is_some() { (notice("ok", ctx.t("review.done"))) }
            (summary(&ctx, &v))
            @if let ReviewState::Approved { conditions, .. } = &v.state {
                @if !conditions.is_empty() {
                    h2 { (ctx.t("app.conditions_attached")) }
                    ul { @for c in conditions { li { (c) } } }
                }
            }
            @for d in &waiting {
                section aria-labelledby=(format!("ds-{d}")) {
                    h2 id=(format!("ds-{d}")) { (ctx.t("custody.answer_for")) " " code { (d) } }
                    form.card method="post" action=(format!("/custody/{}/answer", v.id)) {
                        (csrf_field(&ctx))
                        input type="hidden" name="dataset" value=(d);
                        fieldset {
                            legend { (ctx.t("custody.answer")) }
                            label.check { input type="radio" name="answer" value="confirm" required; " " (ctx.t("custody.confirm")) }
                            label.check { input type="radio" name="answer" value="refuse"; " " (ctx.t("custody.refuse")) }
                        }
                        div.field {
                            label for=(format!("reason-{d}")) { (ctx.t("custody.reason")) }
                            textarea id=(format!("reason-{d}")) name="reason" rows="2" {}
                        }
                        button type="submit" { (ctx.t("custody.send")) }
                    }
                }
            }
            p { a href="/custody" { (ctx.t("custody.back")) } }
        },
    ))
}

/// POST /custody/{id}/answer
pub async fn answer(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    f: FormData,
) -> Result<Response, AppError> {
    let desk = st.app.applications.custodian(&ctx.caller).await?;
    let dataset = f.get("dataset").unwrap_or("");
    let reason = f.get("reason").unwrap_or("");
    match f.get("answer") {
        Some("confirm") => {
            let s = desk.confirm(&id, dataset, reason).await?;
            crate::access_api::spawn_extracts(st.clone());
            s
        }
        Some("refuse") => desk.refuse(&id, dataset, reason).await?,
        _ => return Err(AppError::BadRequest("confirm or refuse".into())),
    };
    Ok(Redirect::to(&format!("/custody/{id}?done=1")).into_response())
}
