//! The secretariat's pages, without JavaScript: every application with its state; one
//! application with the steps its state allows (return for changes, send to a meeting,
//! record the committee's decision with the members present, close); and the
//! committee's roster with the guideline's requirements it fails. Every rule is
//! `renkei-access`'s; a refused step comes back as the error page naming its reason.

use super::applications::{requested, review_aside, state_label, title_of};
use super::{Done, csrf_field, jst, layout, notice};
use crate::context::RequestContext;
use crate::form::FormData;
use crate::{AppError, AppState};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use renkei_access::committee::{Expertise, Member, Sex};
use renkei_access::flow::{Decision, State as ReviewState};

/// GET /review
pub async fn list(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(q): Query<super::PageQuery>,
) -> Result<Markup, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    let page = q.page.unwrap_or(0).clamp(0, super::MAX_PAGE);
    let (all, total) = desk.all_page(page, 50).await?;
    Ok(layout(
        &ctx,
        ctx.t("review.title"),
        html! {
            p {
                a href="/review/committee" { (ctx.t("review.committee")) }
                " ・ "
                a href="/review/meetings" { (ctx.t("review.meetings")) }
                " ・ "
                a href="/review/accreditations" { (ctx.t("accr.title")) }
            }
            @if all.is_empty() {
                p.empty { (ctx.t("app.none")) }
            } @else {
                div.scroll { table {
                    caption.visually-hidden { (ctx.t("review.title")) }
                    thead { tr {
                        th scope="col" { (ctx.t("app.title")) }
                        th scope="col" { (ctx.t("app.state")) }
                        th scope="col" { (ctx.t("app.version")) }
                    } }
                    tbody { @for a in &all {
                        tr {
                            td { a href=(format!("/review/{}", a.id)) { (title_of(&ctx, a)) } }
                            td { (state_label(&ctx, &a.state)) }
                            td { (a.version) }
                        }
                    } }
                } }
                (super::pager(&ctx, "/review", page, 50, total))
            }
        },
    ))
}

/// GET /review/{id}
pub async fn show(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Markup, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    let v = desk.view(&id).await?;
    let (roster, _) = desk.roster().await?;
    let ids: Vec<String> = roster.iter().map(|m| m.id.clone()).collect();
    let names = st.app.accounts.colleague_names(&ctx.caller, &ids).await?;
    let today = st.app.applications.today();
    let meetings: Vec<renkei_access::Meeting> = desk
        .meetings()
        .await?
        .into_iter()
        .filter(|m| m.held_on >= today)
        .collect();
    let handlers = st
        .app
        .accounts
        .colleague_names(&ctx.caller, &v.content.handlers)
        .await?;
    let title = title_of(&ctx, &v).to_owned();
    let action = |step: &str| format!("/review/{}/{step}", v.id);
    Ok(layout(
        &ctx,
        &title,
        html! {
            @if done.done.is_some() { (notice("ok", ctx.t("review.done"))) }
            dl.meta {
                dt { (ctx.t("app.state")) } dd { strong { (state_label(&ctx, &v.state)) } }
                dt { (ctx.t("app.version")) } dd { (v.version) }
                dt { (ctx.t("app.institution")) } dd { (v.content.institution) }
                dt { (ctx.t("app.handlers")) } dd { (handlers.join("、")) }
                dt { (ctx.t("app.summary_ja")) } dd { (v.content.summary_ja) }
                dt { (ctx.t("app.public_interest")) } dd { (v.content.public_interest) }
                dt { (ctx.t("app.section.data")) } dd { (requested(&v.content)) }
            }
            (review_aside(&ctx, &v))
            @match &v.state {
                ReviewState::Submitted => {
                    section aria-labelledby="screen" {
                        h2 #screen { (ctx.t("review.screening")) }
                        @if meetings.is_empty() {
                            p { a href="/review/meetings" { (ctx.t("review.schedule_first")) } }
                        } @else {
                            form.card method="post" action=(action("meeting")) {
                                (csrf_field(&ctx))
                                div.field {
                                    label for="meeting" { (ctx.t("review.meeting")) }
                                    select #meeting name="meeting" required {
                                        @for m in &meetings {
                                            option value=(m.id) {
                                                (renkei_access::date_text(m.held_on)) " " (m.title)
                                                @if m.expedited { " (" (ctx.t("review.expedited")) ")" }
                                            }
                                        }
                                    }
                                }
                                button type="submit" { (ctx.t("review.send")) }
                            }
                        }
                        form.card method="post" action=(action("return")) {
                            (csrf_field(&ctx))
                            div.field {
                                label for="reason" { (ctx.t("review.reason")) }
                                textarea #reason name="reason" rows="3" required {}
                            }
                            button type="submit" { (ctx.t("review.return")) }
                        }
                    }
                }
                ReviewState::InReview { meeting, .. } => {
                    section aria-labelledby="decide" {
                        h2 #decide { (ctx.t("review.decision")) " — " (meeting) }
                        form.card method="post" action=(action("decision")) {
                            (csrf_field(&ctx))
                            fieldset {
                                legend { (ctx.t("review.decision")) }
                                @for (code, key) in [("approve", "review.approve"), ("approve_with_conditions", "review.approve_with_conditions"), ("continue_review", "review.continue_review"), ("reject", "review.reject")] {
                                    label.check { input type="radio" name="decision" value=(code) required; " " (ctx.t(key)) }
                                }
                            }
                            div.field {
                                label for="conditions" { (ctx.t("review.conditions")) }
                                textarea #conditions name="conditions" rows="2" {}
                            }
                            fieldset {
                                legend { (ctx.t("review.present")) }
                                @for (m, name) in roster.iter().zip(&names) {
                                    label.check { input type="checkbox" name="present" value=(m.id); " " (name) }
                                }
                            }
                            div.field {
                                label for="reasons" { (ctx.t("review.reasons")) }
                                textarea #reasons name="reasons" rows="3" {}
                            }
                            button type="submit" { (ctx.t("review.record")) }
                        }
                    }
                }
                ReviewState::Permitted { .. } | ReviewState::Closed => {
                    p { a href=(format!("/projects/{}", v.project())) { (ctx.t("project.open_page")) } }
                }
                _ => {}
            }
            section aria-labelledby="history" {
                h2 #history { (ctx.t("app.history")) }
                ol { @for h in &v.history {
                    li {
                        (jst(renkei_core::Timestamp(h.at))) " — " (ctx.t(&format!("app.step.{}", h.step)))
                        @if let Some(comments) = h.detail["comments"].as_array().filter(|c| !c.is_empty()) {
                            br; (ctx.t("review.comments")) ":"
                            ul { @for c in comments {
                                @let who = c["member"].as_str().unwrap_or("");
                                li {
                                    (ids.iter().position(|i| i == who).map(|i| names[i].as_str()).unwrap_or(who))
                                    ": " (c["comment"].as_str().unwrap_or(""))
                                }
                            } }
                        }
                    }
                } }
            }
            p { a href="/review" { (ctx.t("review.back")) } }
        },
    ))
}

fn back(id: &str) -> Response {
    Redirect::to(&format!("/review/{id}?done=1")).into_response()
}

/// POST /review/{id}/return
pub async fn return_for_changes(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    f: FormData,
) -> Result<Response, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    desk.return_for_changes(&id, f.get("reason").unwrap_or(""))
        .await?;
    Ok(back(&id))
}

/// POST /review/{id}/meeting
pub async fn meeting(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    f: FormData,
) -> Result<Response, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    desk.send_to_meeting(&id, f.get("meeting").unwrap_or("").trim())
        .await?;
    Ok(back(&id))
}

/// POST /review/{id}/decision
pub async fn decision(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    f: FormData,
) -> Result<Response, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    let decision = match f.get("decision") {
        Some("approve") => Decision::Approve,
        Some("approve_with_conditions") => Decision::ApproveWithConditions {
            conditions: f
                .get("conditions")
                .unwrap_or("")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        },
        Some("continue_review") => Decision::ContinueReview,
        Some("reject") => Decision::Reject,
        _ => return Err(AppError::BadRequest("choose a decision".into())),
    };
    let present: Vec<String> = f.all("present").map(str::to_owned).collect();
    desk.decide(&id, decision, &present, f.get("reasons").unwrap_or(""))
        .await?;
    Ok(back(&id))
}

/// GET /review/meetings: the meetings with their agendas, a form to schedule one,
/// and, for an expedited review, the report to the full committee.
pub async fn meetings(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(done): Query<Done>,
) -> Result<Markup, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    let meetings = desk.meetings().await?;
    let (roster, _) = desk.roster().await?;
    let ids: Vec<String> = roster.iter().map(|m| m.id.clone()).collect();
    let names = st.app.accounts.colleague_names(&ctx.caller, &ids).await?;
    let name_of = |id: &str| {
        ids.iter()
            .position(|i| i == id)
            .map(|i| names[i].clone())
            .unwrap_or_else(|| id.to_owned())
    };
    Ok(layout(
        &ctx,
        ctx.t("review.meetings"),
        html! {
            @if done.done.is_some() { (notice("ok", ctx.t("review.done"))) }
            @if meetings.is_empty() {
                p.empty { (ctx.t("review.no_meetings")) }
            } @else {
                div.scroll { table {
                    caption.visually-hidden { (ctx.t("review.meetings")) }
                    thead { tr {
                        th scope="col" { (ctx.t("review.held_on")) }
                        th scope="col" { (ctx.t("review.meeting")) }
                        th scope="col" { (ctx.t("review.designated")) }
                        th scope="col" { (ctx.t("review.agenda")) }
                    } }
                    tbody { @for m in &meetings {
                        tr {
                            td { (renkei_access::date_text(m.held_on)) }
                            td { (m.title) @if m.expedited { " (" (ctx.t("review.expedited")) ")" } }
                            td {
                                @if m.expedited {
                                    (m.designated.iter().map(|d| name_of(d)).collect::<Vec<_>>().join("、"))
                                    @if m.reported_at.is_some() {
                                        br; (ctx.t("review.reported"))
                                    } @else {
                                        form.inline method="post" action=(format!("/review/meetings/{}/report", m.id)) {
                                            (csrf_field(&ctx))
                                            button.secondary type="submit" { (ctx.t("review.report")) }
                                        }
                                    }
                                } @else { (ctx.t("review.full_meeting")) }
                            }
                            td { @for a in &m.agenda { a href=(format!("/review/{a}")) { code { (a) } } br; } }
                        }
                    } }
                } }
            }
            h2 { (ctx.t("review.schedule")) }
            form.card method="post" action="/review/meetings" {
                (csrf_field(&ctx))
                div.field {
                    label for="title" { (ctx.t("review.meeting_title")) }
                    input #title name="title" type="text" required;
                }
                div.field {
                    label for="held_on" { (ctx.t("review.held_on")) }
                    input #held_on name="held_on" type="date" required;
                }
                fieldset {
                    legend { (ctx.t("review.designate")) }
                    @for (m, name) in roster.iter().zip(&names) {
                        label.check { input type="checkbox" name="designated" value=(m.id); " " (name) }
                    }
                }
                button type="submit" { (ctx.t("review.schedule")) }
            }
        },
    ))
}

/// POST /review/meetings
pub async fn schedule(
    State(st): State<AppState>,
    ctx: RequestContext,
    f: FormData,
) -> Result<Response, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    let held_on = time::Date::parse(
        f.get("held_on").unwrap_or(""),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| AppError::BadRequest("held_on: not a date (YYYY-MM-DD)".into()))?;
    let designated: Vec<String> = f.all("designated").map(str::to_owned).collect();
    desk.schedule(f.get("title").unwrap_or(""), held_on, &designated)
        .await?;
    Ok(Redirect::to("/review/meetings?done=1").into_response())
}

/// POST /review/meetings/{id}/report
pub async fn report(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    _f: FormData,
) -> Result<Response, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    desk.report(&id).await?;
    Ok(Redirect::to("/review/meetings?done=1").into_response())
}

/// GET /review/committee
pub async fn committee(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(done): Query<Done>,
) -> Result<Markup, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    let (roster, unmet) = desk.roster().await?;
    let ids: Vec<String> = roster.iter().map(|m| m.id.clone()).collect();
    let names = st.app.accounts.colleague_names(&ctx.caller, &ids).await?;
    let ja = ctx.lang == crate::i18n::Lang::Ja;
    Ok(layout(
        &ctx,
        ctx.t("review.committee"),
        html! {
            @if done.done.is_some() { (notice("ok", ctx.t("review.done"))) }
            @if unmet.is_empty() {
                (notice("ok", ctx.t("review.composition_ok")))
            } @else {
                div.alert role="alert" {
                    p { strong { (ctx.t("review.composition_unmet")) } }
                    ul { @for r in &unmet { li { (if ja { r.ja() } else { r.en() }) } } }
                }
            }
            div.scroll { table {
                caption.visually-hidden { (ctx.t("review.committee")) }
                thead { tr {
                    th scope="col" { (ctx.t("review.member")) }
                    th scope="col" { (ctx.t("review.expertise")) }
                    th scope="col" { (ctx.t("review.external")) }
                    th scope="col" { (ctx.t("review.sex")) }
                } }
                tbody { @for (m, name) in roster.iter().zip(&names) {
                    tr {
                        td { (name) }
                        td { (ctx.t(&format!("review.expertise.{}", m.expertise.code()))) }
                        td { (ctx.t(if m.external { "app.yes" } else { "app.no" })) }
                        td { (ctx.t(match m.sex { Sex::Female => "review.sex.female", Sex::Male => "review.sex.male" })) }
                    }
                } }
            } }
            h2 { (ctx.t("review.appoint")) }
            form.card method="post" action="/review/committee" {
                (csrf_field(&ctx))
                div.field {
                    label for="username" { (ctx.t("review.username")) }
                    input #username name="username" type="text" required;
                }
                div.field {
                    label for="expertise" { (ctx.t("review.expertise")) }
                    select #expertise name="expertise" {
                        @for e in Expertise::ALL {
                            option value=(e.code()) { (ctx.t(&format!("review.expertise.{}", e.code()))) }
                        }
                    }
                }
                label.check { input type="checkbox" name="external" value="1"; " " (ctx.t("review.external")) }
                fieldset {
                    legend { (ctx.t("review.sex")) }
                    label.check { input type="radio" name="sex" value="female" required; " " (ctx.t("review.sex.female")) }
                    label.check { input type="radio" name="sex" value="male"; " " (ctx.t("review.sex.male")) }
                }
                button type="submit" { (ctx.t("review.appoint")) }
            }
            p { a href="/review" { (ctx.t("review.back")) } }
        },
    ))
}

/// POST /review/committee
pub async fn appoint(
    State(st): State<AppState>,
    ctx: RequestContext,
    f: FormData,
) -> Result<Response, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    let member = Member {
        id: user_named(&st, &ctx, &f).await?,
        expertise: Expertise::parse(f.get("expertise").unwrap_or(""))
            .ok_or_else(|| AppError::BadRequest("choose an expertise".into()))?,
        external: f.get("external") == Some("1"),
        sex: match f.get("sex") {
            Some("female") => Sex::Female,
            Some("male") => Sex::Male,
            _ => return Err(AppError::BadRequest("choose female or male".into())),
        },
    };
    desk.appoint(&member).await?;
    Ok(Redirect::to("/review/committee?done=1").into_response())
}

/// GET /review/accreditations
pub async fn accreditations(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(done): Query<Done>,
) -> Result<Markup, AppError> {
    st.app.applications.secretariat(&ctx.caller).await?;
    Ok(layout(
        &ctx,
        ctx.t("accr.title"),
        html! {
            @if done.done.is_some() { (notice("ok", ctx.t("review.done"))) }
            h2 { (ctx.t("accr.record")) }
            form.card method="post" action="/review/accreditations" {
                (csrf_field(&ctx))
                @for (id, key, kind) in [
                    ("username", "review.username", "text"),
                    ("course", "accr.course", "text"),
                    ("trained_on", "accr.trained_on", "date"),
                    ("pledge_signed_on", "accr.pledge_signed_on", "date"),
                    ("institution", "app.institution", "text"),
                    ("expires_on", "accr.expires_on", "date"),
                ] {
                    div.field {
                        label for=(id) { (ctx.t(key)) }
                        input id=(id) name=(id) type=(kind) required;
                    }
                }
                div.field {
                    label for="safety_measures" { (ctx.t("app.safety_measures")) }
                    textarea #safety_measures name="safety_measures" rows="3" required {}
                }
                button type="submit" { (ctx.t("accr.record")) }
            }
            h2 { (ctx.t("accr.revoke")) }
            form.card method="post" action="/review/accreditations/revoke" {
                (csrf_field(&ctx))
                div.field {
                    label for="revoke-username" { (ctx.t("review.username")) }
                    input #revoke-username name="username" type="text" required;
                }
                div.field {
                    label for="revoke-reason" { (ctx.t("review.reason")) }
                    textarea #revoke-reason name="reason" rows="2" required {}
                }
                button type="submit" { (ctx.t("accr.revoke")) }
            }
            p { a href="/review" { (ctx.t("review.back")) } }
        },
    ))
}

/// The id of the active account the form's `username` names.
async fn user_named(st: &AppState, ctx: &RequestContext, f: &FormData) -> Result<String, AppError> {
    let name = f.get("username").unwrap_or("").trim().to_owned();
    let found = st
        .app
        .accounts
        .colleagues(&ctx.caller, std::slice::from_ref(&name))
        .await?;
    match found.into_iter().next() {
        Some(Some((id, _))) => Ok(id.to_string()),
        _ => Err(AppError::BadRequest(format!("no active user {name:?}"))),
    }
}

/// POST /review/accreditations
pub async fn accredit(
    State(st): State<AppState>,
    ctx: RequestContext,
    f: FormData,
) -> Result<Response, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    let user = user_named(&st, &ctx, &f).await?;
    let date = |k: &str| {
        time::Date::parse(
            f.get(k).unwrap_or("").trim(),
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| AppError::BadRequest(format!("{k}: not a date (YYYY-MM-DD)")))
    };
    desk.accredit(&renkei_access::accreditation::Accreditation {
        user,
        course: f.get("course").unwrap_or("").trim().to_owned(),
        trained_on: Some(date("trained_on")?),
        pledge_signed_on: Some(date("pledge_signed_on")?),
        institution: f.get("institution").unwrap_or("").trim().to_owned(),
        safety_measures: f.get("safety_measures").unwrap_or("").trim().to_owned(),
        expires_on: date("expires_on")?,
        revoked: None,
    })
    .await?;
    Ok(Redirect::to("/review/accreditations?done=1").into_response())
}

/// POST /review/accreditations/revoke
pub async fn revoke(
    State(st): State<AppState>,
    ctx: RequestContext,
    f: FormData,
) -> Result<Response, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    let user = user_named(&st, &ctx, &f).await?;
    desk.revoke(&user, f.get("reason").unwrap_or("")).await?;
    Ok(Redirect::to("/review/accreditations?done=1").into_response())
}
