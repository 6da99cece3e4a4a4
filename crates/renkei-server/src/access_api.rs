//! The JSON API of applications and their review: the researcher's applications, the
//! secretariat's desk, committee members' declarations and custodians' confirmations.
//! Every rule (whose application, which step, the committee's quorum, which dataset is
//! whose) is decided by `renkei-access`; these handlers only carry requests to it.

use crate::api::ErrorBody;
use crate::context::RequestContext;
use crate::{AppError, AppState};
use axum::Json;
use axum::extract::{Path, State};
use renkei_access::ApplicationView;
use renkei_access::accreditation::{Accreditation, Standing};
use renkei_access::application::Application;
use renkei_access::committee::{Expertise, Member, Sex};
use renkei_access::flow::{Decision, State as ReviewState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An application with its state, content and history (see the schema of
/// `renkei_access::ApplicationView`: `state` is tagged by `state`, content fields as
/// in the application form).
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct ApplicationOut(ApplicationView);

/// The application's content (title, institution, handlers, purpose, purpose_text,
/// summary_ja, summary_en, public_interest, commercial, why_pseudonymized, methods,
/// data: [{dataset, tables: [{table, variables}], from, to, ages, conditions}],
/// linkage_reason, use_from, use_to, place_of_use, publication_plan, safety_measures,
/// software: [{name, version, sha256}], conflicts_of_interest). Dates are YYYY-MM-DD.
#[derive(Deserialize, ToSchema)]
#[schema(value_type = Object)]
pub struct ApplicationIn(Application);

/// A new application's id.
#[derive(Serialize, ToSchema)]
pub struct CreatedOut {
    id: String,
}

/// Where an application stands after a step (`state` names it; the rest depends on
/// the state).
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct StateOut(ReviewState);

/// A saved version.
#[derive(Serialize, ToSchema)]
pub struct SavedOut {
    version: i64,
}

/// A reason, where a step takes one.
#[derive(Deserialize, ToSchema)]
pub struct ReasonIn {
    #[serde(default)]
    reason: String,
}

/// Putting an application on a scheduled meeting's agenda.
#[derive(Deserialize, ToSchema)]
pub struct MeetingIn {
    /// The meeting's id (an expedited review takes amendments only).
    meeting: String,
}

/// A meeting to schedule.
#[derive(Deserialize, ToSchema)]
pub struct ScheduleIn {
    title: String,
    /// YYYY-MM-DD.
    held_on: String,
    /// Members designated for an expedited review (user ids); empty: a full meeting.
    #[serde(default)]
    designated: Vec<String>,
}

/// A meeting with its agenda (see `renkei_access::Meeting`).
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct MeetingOut(renkei_access::Meeting);

/// The committee's decision and who took it.
#[derive(Deserialize, ToSchema)]
pub struct DecisionIn {
    /// `approve`, `approve_with_conditions`, `continue_review` or `reject`.
    decision: String,
    /// Conditions of an approval with conditions.
    #[serde(default)]
    conditions: Vec<String>,
    /// User ids of the members present.
    present: Vec<String>,
    #[serde(default)]
    reasons: String,
}

/// A committee member as appointed.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct MemberIo {
    /// User id.
    user: String,
    /// `natural_science`, `humanities_social` or `general_public`.
    expertise: String,
    /// From outside the establishing institution.
    external: bool,
    /// `female` or `male`.
    sex: String,
}

/// The committee's roster and the guideline's requirements it fails.
#[derive(Serialize, ToSchema)]
pub struct RosterOut {
    members: Vec<MemberIo>,
    /// Codes of unmet requirements (empty: the committee meets the guideline).
    unmet: Vec<String>,
}

/// An accreditation (dates YYYY-MM-DD).
#[derive(Deserialize, ToSchema)]
pub struct AccreditationIn {
    user: String,
    course: String,
    trained_on: Option<String>,
    pledge_signed_on: Option<String>,
    institution: String,
    safety_measures: String,
    expires_on: String,
}

/// Where a person stands as an accredited user (`standing`: none, incomplete,
/// current, expired, revoked).
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct StandingOut(Standing);

/// A conflict-of-interest declaration.
#[derive(Deserialize, ToSchema)]
pub struct ConflictIn {
    conflicted: bool,
    #[serde(default)]
    detail: String,
}

/// A custodian's answer for one dataset.
#[derive(Deserialize, ToSchema)]
pub struct AnswerIn {
    dataset: String,
    #[serde(default)]
    reason: String,
}

fn date(field: &str, s: &str) -> Result<time::Date, AppError> {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).map_err(|_| {
        renkei_access::AccessError::BadInput(format!("{field}: not a date (YYYY-MM-DD)")).into()
    })
}

// ----- researchers -------------------------------------------------------------------

/// GET /api/v1/applications
#[utoipa::path(get, path = "/api/v1/applications", tag = "applications",
    responses((status = 200, body = [ApplicationOut]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn mine(
    State(st): State<AppState>,
    ctx: RequestContext,
) -> Result<Json<Vec<ApplicationOut>>, AppError> {
    let desk = st.app.applications.applicant(&ctx.caller).await?;
    Ok(Json(
        desk.mine().await?.into_iter().map(ApplicationOut).collect(),
    ))
}

/// POST /api/v1/applications — starts a draft.
#[utoipa::path(post, path = "/api/v1/applications", tag = "applications", request_body = ApplicationIn,
    responses((status = 200, body = CreatedOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    ctx: RequestContext,
    Json(a): Json<ApplicationIn>,
) -> Result<Json<CreatedOut>, AppError> {
    let desk = st.app.applications.applicant(&ctx.caller).await?;
    Ok(Json(CreatedOut {
        id: desk.create(&a.0).await?,
    }))
}

/// GET /api/v1/applications/{id}
#[utoipa::path(get, path = "/api/v1/applications/{id}", tag = "applications",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = ApplicationOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn view(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<ApplicationOut>, AppError> {
    let desk = st.app.applications.applicant(&ctx.caller).await?;
    Ok(Json(ApplicationOut(desk.view(&id).await?)))
}

/// POST /api/v1/applications/{id}/content — saves a draft (or, after a return, a new
/// version).
#[utoipa::path(post, path = "/api/v1/applications/{id}/content", tag = "applications", request_body = ApplicationIn,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = SavedOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn save(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(a): Json<ApplicationIn>,
) -> Result<Json<SavedOut>, AppError> {
    let desk = st.app.applications.applicant(&ctx.caller).await?;
    Ok(Json(SavedOut {
        version: desk.save(&id, &a.0).await?,
    }))
}

/// POST /api/v1/applications/{id}/submit — every missing or invalid field is named
/// in the error's detail.
#[utoipa::path(post, path = "/api/v1/applications/{id}/submit", tag = "applications",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = StateOut), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn submit(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<StateOut>, AppError> {
    let desk = st.app.applications.applicant(&ctx.caller).await?;
    Ok(Json(StateOut(desk.submit(&id).await?)))
}

/// POST /api/v1/applications/{id}/withdraw
#[utoipa::path(post, path = "/api/v1/applications/{id}/withdraw", tag = "applications",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = StateOut), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn withdraw(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<StateOut>, AppError> {
    let desk = st.app.applications.applicant(&ctx.caller).await?;
    Ok(Json(StateOut(desk.withdraw(&id).await?)))
}

/// GET /api/v1/accreditation — the caller's own standing as an accredited user.
#[utoipa::path(get, path = "/api/v1/accreditation", tag = "applications",
    responses((status = 200, body = StandingOut), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn my_standing(
    State(st): State<AppState>,
    ctx: RequestContext,
) -> Result<Json<StandingOut>, AppError> {
    Ok(Json(StandingOut(
        st.app.applications.my_standing(&ctx.caller).await?,
    )))
}

// ----- the secretariat ---------------------------------------------------------------

/// GET /api/v1/review/applications
#[utoipa::path(get, path = "/api/v1/review/applications", tag = "review",
    responses((status = 200, body = [ApplicationOut]), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn review_all(
    State(st): State<AppState>,
    ctx: RequestContext,
) -> Result<Json<Vec<ApplicationOut>>, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    Ok(Json(
        desk.all().await?.into_iter().map(ApplicationOut).collect(),
    ))
}

/// GET /api/v1/review/applications/{id}
#[utoipa::path(get, path = "/api/v1/review/applications/{id}", tag = "review",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = ApplicationOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn review_view(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<ApplicationOut>, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    Ok(Json(ApplicationOut(desk.view(&id).await?)))
}

/// POST /api/v1/review/applications/{id}/return — back to the applicant for changes.
#[utoipa::path(post, path = "/api/v1/review/applications/{id}/return", tag = "review", request_body = ReasonIn,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = StateOut), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn review_return(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(r): Json<ReasonIn>,
) -> Result<Json<StateOut>, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    Ok(Json(StateOut(
        desk.return_for_changes(&id, &r.reason).await?,
    )))
}

/// POST /api/v1/review/applications/{id}/meeting
#[utoipa::path(post, path = "/api/v1/review/applications/{id}/meeting", tag = "review", request_body = MeetingIn,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = StateOut), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn review_meeting(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(m): Json<MeetingIn>,
) -> Result<Json<StateOut>, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    Ok(Json(StateOut(desk.send_to_meeting(&id, &m.meeting).await?)))
}

/// POST /api/v1/review/applications/{id}/decision — refused, naming every unmet
/// requirement, when the members present (after recusals) fail the guideline.
#[utoipa::path(post, path = "/api/v1/review/applications/{id}/decision", tag = "review", request_body = DecisionIn,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = StateOut), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn review_decision(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(d): Json<DecisionIn>,
) -> Result<Json<StateOut>, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    let decision = match d.decision.as_str() {
        "approve" => Decision::Approve,
        "approve_with_conditions" => Decision::ApproveWithConditions {
            conditions: d.conditions,
        },
        "continue_review" => Decision::ContinueReview,
        "reject" => Decision::Reject,
        other => {
            return Err(renkei_access::AccessError::BadInput(format!(
                "decision: {other:?} is not approve, approve_with_conditions, continue_review or reject"
            ))
            .into());
        }
    };
    Ok(Json(StateOut(
        desk.decide(&id, decision, &d.present, &d.reasons).await?,
    )))
}

/// GET /api/v1/review/meetings
#[utoipa::path(get, path = "/api/v1/review/meetings", tag = "review",
    responses((status = 200, body = [MeetingOut]), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn meetings(
    State(st): State<AppState>,
    ctx: RequestContext,
) -> Result<Json<Vec<MeetingOut>>, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    Ok(Json(
        desk.meetings().await?.into_iter().map(MeetingOut).collect(),
    ))
}

/// POST /api/v1/review/meetings: schedules a meeting (with designated members, an
/// expedited review).
#[utoipa::path(post, path = "/api/v1/review/meetings", tag = "review", request_body = ScheduleIn,
    responses((status = 200, body = MeetingOut), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn schedule(
    State(st): State<AppState>,
    ctx: RequestContext,
    Json(m): Json<ScheduleIn>,
) -> Result<Json<MeetingOut>, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    let held_on = date("held_on", &m.held_on)?;
    Ok(Json(MeetingOut(
        desk.schedule(&m.title, held_on, &m.designated).await?,
    )))
}

/// POST /api/v1/review/meetings/{id}/report: an expedited review's decisions were
/// reported to the full committee.
#[utoipa::path(post, path = "/api/v1/review/meetings/{id}/report", tag = "review",
    params(("id" = String, Path, description = "Meeting id")),
    responses((status = 204), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn report(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    desk.report(&id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// GET /api/v1/review/committee
#[utoipa::path(get, path = "/api/v1/review/committee", tag = "review",
    responses((status = 200, body = RosterOut), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn roster(
    State(st): State<AppState>,
    ctx: RequestContext,
) -> Result<Json<RosterOut>, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    let (members, unmet) = desk.roster().await?;
    Ok(Json(RosterOut {
        members: members
            .into_iter()
            .map(|m| MemberIo {
                user: m.id,
                expertise: m.expertise.code().into(),
                external: m.external,
                sex: match m.sex {
                    Sex::Female => "female".into(),
                    Sex::Male => "male".into(),
                },
            })
            .collect(),
        unmet: unmet.iter().map(|r| r.code().to_owned()).collect(),
    }))
}

/// POST /api/v1/review/committee — appoints a member (or updates their attributes).
#[utoipa::path(post, path = "/api/v1/review/committee", tag = "review", request_body = MemberIo,
    responses((status = 204), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn appoint(
    State(st): State<AppState>,
    ctx: RequestContext,
    Json(m): Json<MemberIo>,
) -> Result<axum::http::StatusCode, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    let bad = |f: &str| -> AppError { renkei_access::AccessError::BadInput(f.to_owned()).into() };
    let member = Member {
        id: m.user,
        expertise: Expertise::parse(&m.expertise).ok_or_else(|| {
            bad("expertise: natural_science, humanities_social or general_public")
        })?,
        external: m.external,
        sex: match m.sex.as_str() {
            "female" => Sex::Female,
            "male" => Sex::Male,
            _ => return Err(bad("sex: female or male")),
        },
    };
    desk.appoint(&member).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// POST /api/v1/review/committee/{id}/dismiss
#[utoipa::path(post, path = "/api/v1/review/committee/{id}/dismiss", tag = "review",
    params(("id" = String, Path, description = "The member's user id")),
    responses((status = 204), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn dismiss(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    desk.dismiss(&id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// POST /api/v1/review/accreditations — records or renews an accreditation.
#[utoipa::path(post, path = "/api/v1/review/accreditations", tag = "review", request_body = AccreditationIn,
    responses((status = 204), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn accredit(
    State(st): State<AppState>,
    ctx: RequestContext,
    Json(a): Json<AccreditationIn>,
) -> Result<axum::http::StatusCode, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    let acc = Accreditation {
        trained_on: a
            .trained_on
            .as_deref()
            .map(|d| date("trained_on", d))
            .transpose()?,
        pledge_signed_on: a
            .pledge_signed_on
            .as_deref()
            .map(|d| date("pledge_signed_on", d))
            .transpose()?,
        expires_on: date("expires_on", &a.expires_on)?,
        user: a.user,
        course: a.course,
        institution: a.institution,
        safety_measures: a.safety_measures,
        revoked: None,
    };
    desk.accredit(&acc).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// POST /api/v1/review/accreditations/{id}/revoke — access stops at once.
#[utoipa::path(post, path = "/api/v1/review/accreditations/{id}/revoke", tag = "review", request_body = ReasonIn,
    params(("id" = String, Path, description = "The accredited user's id")),
    responses((status = 204), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(r): Json<ReasonIn>,
) -> Result<axum::http::StatusCode, AppError> {
    let desk = st.app.applications.secretariat(&ctx.caller).await?;
    desk.revoke(&id, &r.reason).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

// ----- committee members -------------------------------------------------------------

/// GET /api/v1/committee/applications — the agenda.
#[utoipa::path(get, path = "/api/v1/committee/applications", tag = "review",
    responses((status = 200, body = [ApplicationOut]), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn agenda(
    State(st): State<AppState>,
    ctx: RequestContext,
) -> Result<Json<Vec<ApplicationOut>>, AppError> {
    let desk = st.app.applications.member(&ctx.caller).await?;
    Ok(Json(
        desk.agenda()
            .await?
            .into_iter()
            .map(ApplicationOut)
            .collect(),
    ))
}

/// GET /api/v1/committee/applications/{id}
#[utoipa::path(get, path = "/api/v1/committee/applications/{id}", tag = "review",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = ApplicationOut), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn member_view(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<ApplicationOut>, AppError> {
    let desk = st.app.applications.member(&ctx.caller).await?;
    Ok(Json(ApplicationOut(desk.view(&id).await?)))
}

/// POST /api/v1/committee/applications/{id}/conflict — a conflicted member is
/// recused from the decision automatically.
#[utoipa::path(post, path = "/api/v1/committee/applications/{id}/conflict", tag = "review", request_body = ConflictIn,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 204), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn conflict(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(c): Json<ConflictIn>,
) -> Result<axum::http::StatusCode, AppError> {
    let desk = st.app.applications.member(&ctx.caller).await?;
    desk.declare(&id, c.conflicted, &c.detail).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// A committee member's comment.
#[derive(Deserialize, ToSchema)]
pub struct CommentIn {
    comment: String,
}

/// POST /api/v1/committee/applications/{id}/comment — recorded with the decision.
#[utoipa::path(post, path = "/api/v1/committee/applications/{id}/comment", tag = "review", request_body = CommentIn,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 204), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn comment(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(c): Json<CommentIn>,
) -> Result<axum::http::StatusCode, AppError> {
    let desk = st.app.applications.member(&ctx.caller).await?;
    desk.comment(&id, &c.comment).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

// ----- custodians --------------------------------------------------------------------

/// GET /api/v1/custody/applications — approved applications waiting for the caller's
/// answer on their datasets.
#[utoipa::path(get, path = "/api/v1/custody/applications", tag = "review",
    responses((status = 200, body = [ApplicationOut]), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn custody_pending(
    State(st): State<AppState>,
    ctx: RequestContext,
) -> Result<Json<Vec<ApplicationOut>>, AppError> {
    let desk = st.app.applications.custodian(&ctx.caller).await?;
    Ok(Json(
        desk.pending()
            .await?
            .into_iter()
            .map(ApplicationOut)
            .collect(),
    ))
}

/// GET /api/v1/custody/applications/{id}
#[utoipa::path(get, path = "/api/v1/custody/applications/{id}", tag = "review",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = ApplicationOut), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn custody_view(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<ApplicationOut>, AppError> {
    let desk = st.app.applications.custodian(&ctx.caller).await?;
    Ok(Json(ApplicationOut(desk.view(&id).await?)))
}

/// POST /api/v1/custody/applications/{id}/confirm — for the caller's own dataset.
#[utoipa::path(post, path = "/api/v1/custody/applications/{id}/confirm", tag = "review", request_body = AnswerIn,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = StateOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn confirm(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(a): Json<AnswerIn>,
) -> Result<Json<StateOut>, AppError> {
    let desk = st.app.applications.custodian(&ctx.caller).await?;
    let state = desk.confirm(&id, &a.dataset, &a.reason).await?;
    spawn_extracts(st);
    Ok(Json(StateOut(state)))
}

/// Makes, in the background, the extracts a newly issued permit calls for.
pub(crate) fn spawn_extracts(st: AppState) {
    tokio::spawn(async move {
        let made = st.app.ensure_extracts().await;
        if !made.is_empty() {
            tracing::info!(?made, "extracts made");
        }
    });
}

/// POST /api/v1/custody/applications/{id}/refuse — with reasons; the application is
/// rejected.
#[utoipa::path(post, path = "/api/v1/custody/applications/{id}/refuse", tag = "review", request_body = AnswerIn,
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = StateOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn refuse(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(a): Json<AnswerIn>,
) -> Result<Json<StateOut>, AppError> {
    let desk = st.app.applications.custodian(&ctx.caller).await?;
    Ok(Json(StateOut(
        desk.refuse(&id, &a.dataset, &a.reason).await?,
    )))
}

// ----- projects and the register ------------------------------------------------------

/// A project: its permit in force, where its period stands, its closure with the
/// deletion certificate, results and publications (see `renkei_access::ProjectView`).
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct ProjectOut(renkei_access::ProjectView);

/// The permit with its EHDS mapping: `permit` (the fields) and `ehds_mapping`
/// (`[{field, ehds}]`).
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct PermitOut(serde_json::Value);

/// Access granted today under the permit in force.
#[derive(Serialize, ToSchema)]
pub struct AccessOut {
    project: String,
    user: String,
    permit_version: i64,
    /// The last day of use (YYYY-MM-DD).
    ends_on: String,
}

/// A result or publication to add.
#[derive(Deserialize, ToSchema)]
pub struct PublicationIn {
    /// `article`, `report`, `dataset` or `other`.
    kind: String,
    citation: String,
    /// `https://...` (may be empty).
    #[serde(default)]
    url: String,
}

/// The public register (see `renkei_access::RegisterEntry`).
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct RegisterOut(Vec<renkei_access::RegisterEntry>);

/// GET /api/v1/projects
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects",
    responses((status = 200, body = [ProjectOut]), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn projects(
    State(st): State<AppState>,
    ctx: RequestContext,
) -> Result<Json<Vec<ProjectOut>>, AppError> {
    let all = st.app.applications.projects(&ctx.caller).await?;
    Ok(Json(all.into_iter().map(ProjectOut).collect()))
}

/// GET /api/v1/projects/{id}
#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "projects",
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = ProjectOut), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn project(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<ProjectOut>, AppError> {
    Ok(Json(ProjectOut(
        st.app.applications.project(&ctx.caller, &id).await?,
    )))
}

/// GET /api/v1/projects/{id}/permit
#[utoipa::path(get, path = "/api/v1/projects/{id}/permit", tag = "projects",
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = PermitOut), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn permit(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<PermitOut>, AppError> {
    let v = st.app.applications.project(&ctx.caller, &id).await?;
    Ok(Json(PermitOut(v.permit.document())))
}

/// GET /api/v1/projects/{id}/access: the check every access to the project's data
/// makes (named, in the period, accredited today, project open); the reason when not.
#[utoipa::path(get, path = "/api/v1/projects/{id}/access", tag = "projects",
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = AccessOut), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn access(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<AccessOut>, AppError> {
    let ok = st.app.applications.in_force(&ctx.caller, &id).await?;
    Ok(Json(AccessOut {
        project: ok.project().to_owned(),
        user: ok.user().as_str().to_owned(),
        permit_version: ok.permit().version,
        ends_on: renkei_access::date_text(ok.permit().ends_on),
    }))
}

/// A project's current extract, as its page shows it: `null` until it is made.
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct ExtractOut(Option<renkei_workspace::extract::ExtractSummary>);

/// GET /api/v1/projects/{id}/extract: rows and people per table, people left out for
/// their opt-out, and the smallest group over the quasi-identifiers present. For the
/// people the permit in force names, today.
#[utoipa::path(get, path = "/api/v1/projects/{id}/extract", tag = "projects",
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = ExtractOut), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn extract(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<ExtractOut>, AppError> {
    let permit = st.app.applications.in_force(&ctx.caller, &id).await?;
    Ok(Json(ExtractOut(st.app.workspaces.current(&permit).await?)))
}

/// The person index's runs, newest first, with their quality reports.
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct LinkRunsOut(Vec<renkei_link::Run>);

/// A run's quality report.
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct LinkReportOut(renkei_link::Report);

/// GET /api/v1/linkage/runs (the linkage authority).
#[utoipa::path(get, path = "/api/v1/linkage/runs", tag = "linkage",
    responses((status = 200, body = LinkRunsOut), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn link_runs(
    State(st): State<AppState>,
    ctx: RequestContext,
) -> Result<Json<LinkRunsOut>, AppError> {
    Ok(Json(LinkRunsOut(st.app.linkage.runs(&ctx.caller).await?)))
}

/// POST /api/v1/linkage/runs: runs the person index over every dataset's current
/// version (the linkage authority), then makes the extracts that waited for it.
#[utoipa::path(post, path = "/api/v1/linkage/runs", tag = "linkage",
    responses((status = 200, body = LinkReportOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn link_run(
    State(st): State<AppState>,
    ctx: RequestContext,
) -> Result<Json<LinkReportOut>, AppError> {
    Ok(Json(LinkReportOut(run_linkage(&st, &ctx).await?)))
}

/// Runs the linkage in a task of its own, so that a client going away does not stop
/// it half-way, and waits for it.
pub(crate) async fn run_linkage(
    st: &AppState,
    ctx: &RequestContext,
) -> Result<renkei_link::Report, AppError> {
    let app = st.app.clone();
    let caller = ctx.caller.clone();
    let report = tokio::spawn(async move {
        let r = app.linkage.run(&caller, None).await;
        if r.is_ok() {
            app.ensure_extracts().await;
        }
        r
    })
    .await
    .map_err(|e| AppError::internal(e.to_string()))??;
    Ok(report)
}

/// POST /api/v1/projects/{id}/close: destroys the project's data keys and records the
/// closure with its deletion certificate (the applicant, or the secretariat).
#[utoipa::path(post, path = "/api/v1/projects/{id}/close", tag = "projects", request_body = ReasonIn,
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = ProjectOut), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn close(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(r): Json<ReasonIn>,
) -> Result<Json<ProjectOut>, AppError> {
    Ok(Json(ProjectOut(
        st.app.close_project(&ctx.caller, &id, &r.reason).await?,
    )))
}

/// POST /api/v1/projects/{id}/publications
#[utoipa::path(post, path = "/api/v1/projects/{id}/publications", tag = "projects", request_body = PublicationIn,
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = ProjectOut), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn publish(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(p): Json<PublicationIn>,
) -> Result<Json<ProjectOut>, AppError> {
    st.app
        .applications
        .add_publication(&ctx.caller, &id, &p.kind, &p.citation, p.url.trim())
        .await?;
    Ok(Json(ProjectOut(
        st.app.applications.project(&ctx.caller, &id).await?,
    )))
}

/// Where to name an uploaded file.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct AttachQuery {
    /// The file's name (shown to reviewers; its type is read from the content).
    name: String,
}

/// POST /api/v1/applications/{id}/attachments?name=...: the body is the file.
#[utoipa::path(post, path = "/api/v1/applications/{id}/attachments", tag = "applications",
    params(("id" = String, Path, description = "Application id"), AttachQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = AttachmentOut), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn attach(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<AttachQuery>,
    body: axum::body::Bytes,
) -> Result<Json<AttachmentOut>, AppError> {
    let desk = st.app.applications.applicant(&ctx.caller).await?;
    Ok(Json(AttachmentOut(desk.attach(&id, &q.name, &body).await?)))
}

/// An attachment as stored: seq, name, content_type (detected), size, sha256.
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct AttachmentOut(renkei_access::attachment::AttachmentInfo);

/// GET /api/v1/applications/{id}/attachments/{seq}: the file, typed as detected at upload.
#[utoipa::path(get, path = "/api/v1/applications/{id}/attachments/{seq}", tag = "applications",
    params(("id" = String, Path, description = "Application id"), ("seq" = i64, Path, description = "Attachment number")),
    responses((status = 200, content_type = "application/octet-stream"), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn attachment(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path((id, seq)): Path<(String, i64)>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse as _;
    let (info, bytes) = st
        .app
        .applications
        .attachment(&ctx.caller, &id, seq)
        .await?;
    // RFC 5987: percent-encoded UTF-8 (form encoding writes a space as `+`).
    let name: String = url::form_urlencoded::byte_serialize(info.name.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, info.content_type.clone()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename*=UTF-8''{name}"),
            ),
            (
                axum::http::HeaderName::from_static("x-content-sha256"),
                info.sha256.clone(),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// POST /api/v1/projects/{id}/amend: a new application drawn from the permit in force
/// (the applicant only; one open amendment at a time).
#[utoipa::path(post, path = "/api/v1/projects/{id}/amend", tag = "projects",
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = CreatedOut), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn amend(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<CreatedOut>, AppError> {
    let desk = st.app.applications.applicant(&ctx.caller).await?;
    Ok(Json(CreatedOut {
        id: desk.amend(&id).await?,
    }))
}

/// GET /api/v1/register: the public register of approved projects (no authentication).
#[utoipa::path(get, path = "/api/v1/register", tag = "projects",
    responses((status = 200, body = RegisterOut)))]
pub async fn register(State(st): State<AppState>) -> Result<Json<RegisterOut>, AppError> {
    Ok(Json(RegisterOut(st.app.applications.register().await?)))
}
