//! The researcher's applications, without JavaScript: the list, the form (every
//! variable of the catalogue as a checkbox, grouped by dataset and table, with each
//! dataset's row filters), and one application's page with its state, history and the
//! steps open to the applicant. Every rule is `renkei-access`'s; this only renders
//! and parses.

use super::{Done, PageQuery, csrf_field, jst, layout, notice, pager};
use crate::context::RequestContext;
use crate::form::FormData;
use crate::i18n::Lang;
use crate::{AppError, AppState};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use renkei_access::accreditation::Standing;
use renkei_access::application::{
    Application, DataRequest, Problem, Purpose, Software, TableRequest,
};
use renkei_access::flow::State as ReviewState;
use renkei_access::{AccessError, ApplicationView};
use renkei_catalog::PublicCatalog;

/// The state's name in the caller's language.
pub(crate) fn state_label(ctx: &RequestContext, s: &ReviewState) -> &'static str {
    ctx.t(&format!("app.state.{}", s.code()))
}

/// The application's title, or "(untitled)".
pub(crate) fn title_of<'a>(ctx: &RequestContext, v: &'a ApplicationView) -> &'a str {
    if v.content.title.is_empty() {
        ctx.t("app.untitled")
    } else {
        &v.content.title
    }
}

/// The data requested, one line per table: `dataset.table: variables`.
pub(crate) fn requested(a: &Application) -> Markup {
    requested_data(&a.data)
}

/// Beside an application, for reviewers: the risk summary of what it asks (variables,
/// quasi-identifiers, datasets linked) and what changed since the version before it
/// or the permit it amends.
pub(crate) fn review_aside(ctx: &RequestContext, v: &ApplicationView) -> Markup {
    html! {
        (attachment_list(ctx, v))
        (risk_box(ctx, v))
        (changes_box(ctx, v))
    }
}

/// What the request asks: variables, quasi-identifiers, datasets linked.
pub(crate) fn risk_box(ctx: &RequestContext, v: &ApplicationView) -> Markup {
    html! {
        @if let Some(r) = &v.risk {
            section.card aria-labelledby="risk" {
                h2 #risk { (ctx.t("review.risk")) }
                dl {
                    dt { (ctx.t("review.risk.variables")) } dd { (r.variables) }
                    dt { (ctx.t("review.risk.quasi")) } dd { (r.quasi_identifiers) }
                    dt { (ctx.t("review.risk.linked")) } dd {
                        @if r.linked.is_empty() { (ctx.t("project.no_linkage")) } @else { (r.linked.join(" × ")) }
                    }
                }
                p { small { (ctx.t("review.risk.explained")) } }
            }
        }
    }
}

fn changes_box(ctx: &RequestContext, v: &ApplicationView) -> Markup {
    html! {
        @if let Some(against) = &v.compared_with {
            section aria-labelledby="changes" {
                h2 #changes { (ctx.t("review.changes")) " (" (against) ")" }
                @if v.changes.is_empty() {
                    p.empty { (ctx.t("review.no_changes")) }
                } @else {
                    div.scroll { table {
                        caption.visually-hidden { (ctx.t("review.changes")) }
                        thead { tr {
                            th scope="col" { (ctx.t("review.change.field")) }
                            th scope="col" { (ctx.t("review.change.before")) }
                            th scope="col" { (ctx.t("review.change.after")) }
                        } }
                        tbody { @for c in &v.changes { tr {
                            td { code { (c.field) } }
                            td { @if let Some(b) = &c.before { del { (b) } } }
                            td { @if let Some(a) = &c.after { ins { (a) } } }
                        } } }
                    } }
                }
            }
        }
    }
}

/// The application's attachments, each a download link with its type and hash.
pub(crate) fn attachment_list(ctx: &RequestContext, v: &ApplicationView) -> Markup {
    html! {
        section aria-labelledby="attachments" {
            h2 #attachments { (ctx.t("app.attachments")) }
            @if v.attachments.is_empty() {
                p.empty { (ctx.t("app.no_attachments")) }
            } @else {
                ul { @for a in &v.attachments {
                    li {
                        a href=(format!("/applications/{}/attachments/{}", v.id, a.seq)) { (a.name) }
                        " (" (a.content_type) ", " (a.size) " bytes) "
                        small { "SHA-256 " code { (a.sha256) } }
                    }
                } }
            }
        }
    }
}

/// The same for any list of requests, with each dataset's row filters.
pub(crate) fn requested_data(data: &[DataRequest]) -> Markup {
    let date = |d: Option<time::Date>| d.map(renkei_access::date_text).unwrap_or_default();
    html! {
        ul { @for d in data {
            @for t in &d.tables {
                li { code { (d.dataset) "." (t.table) } ": " (t.variables.join(", ")) }
            }
            @if d.from.is_some() || d.to.is_some() || d.ages.is_some() || !d.conditions.is_empty() {
                li { code { (d.dataset) } ": "
                    @if d.from.is_some() || d.to.is_some() { (date(d.from)) " – " (date(d.to)) " " }
                    @if let Some((lo, hi)) = d.ages { (lo) "–" (hi) " " }
                    @if !d.conditions.is_empty() { (d.conditions.join(", ")) }
                }
            }
        } }
    }
}

fn standing_line(ctx: &RequestContext, s: &Standing) -> Markup {
    match s {
        Standing::Current { days_left, warning } => html! {
            p { (ctx.t("app.accredited")) " (" (days_left) " " (ctx.t("app.days_left")) ")" }
            @if warning.is_some() { (notice("warning", ctx.t("app.accreditation_expiring"))) }
        },
        Standing::Incomplete { missing } => html! {
            (notice("warning", ctx.t("app.accreditation_incomplete")))
            ul { @for m in missing { li { (ctx.t(&format!("app.missing.{}", m.code()))) } } }
        },
        _ => notice("warning", ctx.t("app.not_accredited")),
    }
}

/// Rows on one page of a list.
const PER_PAGE: i64 = 50;

/// GET /applications
pub async fn list(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(q): Query<PageQuery>,
) -> Result<Markup, AppError> {
    let desk = st.app.applications.applicant(&ctx.caller).await?;
    let page = q.page.unwrap_or(0).clamp(0, super::MAX_PAGE);
    let (mine, total) = desk.mine_page(page, PER_PAGE).await?;
    let standing = st.app.applications.my_standing(&ctx.caller).await?;
    Ok(layout(
        &ctx,
        ctx.t("app.list_title"),
        html! {
            (standing_line(&ctx, &standing))
            p { a.button href="/applications/new" { (ctx.t("app.new")) } }
            @if mine.is_empty() {
                p.empty { (ctx.t("app.none")) }
            } @else {
                div.scroll { table {
                    caption.visually-hidden { (ctx.t("app.list_title")) }
                    thead { tr {
                        th scope="col" { (ctx.t("app.title")) }
                        th scope="col" { (ctx.t("app.state")) }
                        th scope="col" { (ctx.t("app.version")) }
                    } }
                    tbody { @for a in &mine {
                        tr {
                            td { a href=(format!("/applications/{}", a.id)) { (title_of(&ctx, a)) } }
                            td { (state_label(&ctx, &a.state)) }
                            td { (a.version) }
                        }
                    } }
                } }
                (pager(&ctx, "/applications", page, PER_PAGE, total))
            }
        },
    ))
}

/// GET /applications/new
pub async fn new_form(State(st): State<AppState>, ctx: RequestContext) -> Result<Markup, AppError> {
    st.app.applications.applicant(&ctx.caller).await?;
    let cat = st.app.catalog.public(&ctx.caller).await?;
    let me = ctx
        .session
        .as_ref()
        .map(|s| s.user.username.to_string())
        .unwrap_or_default();
    Ok(layout(
        &ctx,
        ctx.t("app.new"),
        html! {
            form.card method="post" action="/applications" {
                (csrf_field(&ctx))
                (fields(&ctx, &cat, &Application::default(), &[me]))
                button type="submit" { (ctx.t("app.save_draft")) }
            }
        },
    ))
}

fn text_field(id: &str, label: &str, value: &str, long: bool) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            @if long {
                textarea #(id) name=(id) rows="4" { (value) }
            } @else {
                input #(id) name=(id) type="text" value=(value);
            }
        }
    }
}

fn date_value(d: Option<time::Date>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// The form's fields, filled from `a` (handlers shown as usernames).
fn fields(
    ctx: &RequestContext,
    cat: &PublicCatalog,
    a: &Application,
    handlers: &[String],
) -> Markup {
    let ja = ctx.lang == Lang::Ja;
    let picked = |d: &str, t: &str, v: &str| {
        a.data.iter().any(|r| {
            r.dataset == d
                && r.tables
                    .iter()
                    .any(|tr| tr.table == t && tr.variables.iter().any(|x| x == v))
        })
    };
    let request = |d: &str| a.data.iter().find(|r| r.dataset == d);
    html! {
        fieldset {
            legend { (ctx.t("app.section.study")) }
            (text_field("title", ctx.t("app.title"), &a.title, false))
            (text_field("institution", ctx.t("app.institution"), &a.institution, false))
            div.field {
                label for="handlers" { (ctx.t("app.handlers")) }
                textarea #handlers name="handlers" rows="3" aria-describedby="handlers-help" { (handlers.join("\n")) }
                p.help #handlers-help { (ctx.t("app.handlers_help")) }
            }
            div.field {
                label for="purpose" { (ctx.t("app.purpose")) }
                select #purpose name="purpose" {
                    option value="" { "—" }
                    @for p in Purpose::ALL {
                        option value=(p.code()) selected[a.purpose == Some(p)] { (ctx.t(&format!("app.purpose.{}", p.code()))) }
                    }
                }
            }
            (text_field("purpose_text", ctx.t("app.purpose_text"), &a.purpose_text, true))
            (text_field("summary_ja", ctx.t("app.summary_ja"), &a.summary_ja, true))
            (text_field("summary_en", ctx.t("app.summary_en"), &a.summary_en, true))
            (text_field("public_interest", ctx.t("app.public_interest"), &a.public_interest, true))
            fieldset {
                legend { (ctx.t("app.commercial")) }
                label { input type="radio" name="commercial" value="no" checked[a.commercial == Some(false)]; " " (ctx.t("app.no")) }
                " "
                label { input type="radio" name="commercial" value="yes" checked[a.commercial == Some(true)]; " " (ctx.t("app.yes")) }
            }
            (text_field("why_pseudonymized", ctx.t("app.why_pseudonymized"), &a.why_pseudonymized, true))
            (text_field("methods", ctx.t("app.methods"), &a.methods, true))
        }
        fieldset {
            legend { (ctx.t("app.section.data")) }
            p.help { (ctx.t("app.data_help")) }
            @for d in &cat.datasets {
                @let r = request(&d.id);
                details open[r.is_some()] {
                    summary { (if ja { &d.name_ja } else { &d.name_en }) " (" code { (d.id) } ")" }
                    @for t in &d.tables {
                        fieldset {
                            legend { (if ja { &t.name_ja } else { &t.name_en }) " (" code { (t.name) } ")" }
                            @for v in &t.variables {
                                @let key = format!("{}/{}/{}", d.id, t.name, v.name);
                                label.check {
                                    input type="checkbox" name="var" value=(key) checked[picked(&d.id, &t.name, &v.name)];
                                    " " (if ja { &v.label_ja } else { &v.label_en }) " " code { (v.name) }
                                }
                            }
                        }
                    }
                    div.row {
                        div.field {
                            label for=(format!("from.{}", d.id)) { (ctx.t("app.data_from")) }
                            input id=(format!("from.{}", d.id)) name=(format!("from.{}", d.id)) type="date" value=(date_value(r.and_then(|r| r.from)));
                        }
                        div.field {
                            label for=(format!("to.{}", d.id)) { (ctx.t("app.data_to")) }
                            input id=(format!("to.{}", d.id)) name=(format!("to.{}", d.id)) type="date" value=(date_value(r.and_then(|r| r.to)));
                        }
                        div.field {
                            label for=(format!("ages.{}", d.id)) { (ctx.t("app.ages")) }
                            input id=(format!("ages.{}", d.id)) name=(format!("ages.{}", d.id)) type="text" placeholder="40-74"
                                value=(r.and_then(|r| r.ages).map(|(a, b)| format!("{a}-{b}")).unwrap_or_default());
                        }
                        div.field {
                            label for=(format!("conditions.{}", d.id)) { (ctx.t("app.conditions")) }
                            input id=(format!("conditions.{}", d.id)) name=(format!("conditions.{}", d.id)) type="text" placeholder="E11 I10"
                                value=(r.map(|r| r.conditions.join(" ")).unwrap_or_default());
                        }
                    }
                }
            }
            (text_field("linkage_reason", ctx.t("app.linkage_reason"), &a.linkage_reason, true))
        }
        fieldset {
            legend { (ctx.t("app.section.use")) }
            div.row {
                div.field {
                    label for="use_from" { (ctx.t("app.use_from")) }
                    input #use_from name="use_from" type="date" value=(date_value(a.use_from));
                }
                div.field {
                    label for="use_to" { (ctx.t("app.use_to")) }
                    input #use_to name="use_to" type="date" value=(date_value(a.use_to));
                }
            }
            (text_field("place_of_use", ctx.t("app.place_of_use"), &a.place_of_use, true))
            (text_field("publication_plan", ctx.t("app.publication_plan"), &a.publication_plan, true))
            (text_field("safety_measures", ctx.t("app.safety_measures"), &a.safety_measures, true))
            div.field {
                label for="software" { (ctx.t("app.software")) }
                textarea #software name="software" rows="3" aria-describedby="software-help" {
                    (a.software.iter().map(|s| format!("{} {} {}", s.name, s.version, s.sha256)).collect::<Vec<_>>().join("\n"))
                }
                p.help #software-help { (ctx.t("app.software_help")) }
            }
            (text_field("conflicts_of_interest", ctx.t("app.conflicts_of_interest"), &a.conflicts_of_interest, true))
        }
    }
}

fn parse_date(s: Option<&str>) -> Option<time::Date> {
    let s = s?.trim();
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

/// The application the form describes, and the usernames of the people named on it.
fn from_form(f: &FormData) -> (Application, Vec<String>) {
    let get = |k: &str| f.get(k).unwrap_or("").trim().to_owned();
    let mut data: Vec<DataRequest> = Vec::new();
    for v in f.all("var") {
        let mut parts = v.splitn(3, '/');
        let (Some(d), Some(t), Some(var)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let req = match data.iter_mut().position(|r| r.dataset == d) {
            Some(i) => &mut data[i],
            None => {
                data.push(DataRequest {
                    dataset: d.to_owned(),
                    ..Default::default()
                });
                let last = data.len() - 1;
                &mut data[last]
            }
        };
        match req.tables.iter_mut().find(|tr| tr.table == t) {
            Some(tr) => tr.variables.push(var.to_owned()),
            None => req.tables.push(TableRequest {
                table: t.to_owned(),
                variables: vec![var.to_owned()],
            }),
        }
    }
    for req in &mut data {
        let d = req.dataset.clone();
        req.from = parse_date(f.get(&format!("from.{d}")));
        req.to = parse_date(f.get(&format!("to.{d}")));
        req.ages = f.get(&format!("ages.{d}")).and_then(|s| {
            let (a, b) = s.trim().split_once('-')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        });
        req.conditions = f
            .get(&format!("conditions.{d}"))
            .unwrap_or("")
            .split([' ', ',', '、'])
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
    }
    let handlers: Vec<String> = get("handlers")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let software = get("software")
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some(Software {
                name: w.next()?.to_owned(),
                version: w.next().unwrap_or("").to_owned(),
                sha256: w.next().unwrap_or("").to_owned(),
            })
        })
        .collect();
    let app = Application {
        title: get("title"),
        institution: get("institution"),
        handlers: Vec::new(),
        purpose: Purpose::ALL
            .into_iter()
            .find(|p| p.code() == get("purpose")),
        purpose_text: get("purpose_text"),
        summary_ja: get("summary_ja"),
        summary_en: get("summary_en"),
        public_interest: get("public_interest"),
        commercial: match f.get("commercial") {
            Some("yes") => Some(true),
            Some("no") => Some(false),
            _ => None,
        },
        why_pseudonymized: get("why_pseudonymized"),
        methods: get("methods"),
        data,
        linkage_reason: get("linkage_reason"),
        use_from: parse_date(f.get("use_from")),
        use_to: parse_date(f.get("use_to")),
        place_of_use: get("place_of_use"),
        publication_plan: get("publication_plan"),
        safety_measures: get("safety_measures"),
        software,
        conflicts_of_interest: get("conflicts_of_interest"),
    };
    (app, handlers)
}

/// The form's application with its people named by id; a name no account has is kept
/// as written, so the submission names it as not accredited.
async fn with_handlers(
    st: &AppState,
    ctx: &RequestContext,
    (mut app, names): (Application, Vec<String>),
) -> Result<Application, AppError> {
    if names.len() > 100 {
        return Err(AppError::BadRequest(
            "at most 100 people may be named on one application".into(),
        ));
    }
    let ids = st.app.accounts.colleagues(&ctx.caller, &names).await?;
    app.handlers = names
        .into_iter()
        .zip(ids)
        .map(|(name, id)| id.map_or(name, |(id, _)| id.to_string()))
        .collect();
    Ok(app)
}

/// POST /applications
pub async fn create(
    State(st): State<AppState>,
    ctx: RequestContext,
    form: FormData,
) -> Result<Response, AppError> {
    let desk = st.app.applications.applicant(&ctx.caller).await?;
    let app = with_handlers(&st, &ctx, from_form(&form)).await?;
    let id = desk.create(&app).await?;
    Ok(Redirect::to(&format!("/applications/{id}?done=saved")).into_response())
}

async fn show_page(
    st: &AppState,
    ctx: &RequestContext,
    id: &str,
    message: Option<Markup>,
    problems: &[Problem],
) -> Result<Markup, AppError> {
    let desk = st.app.applications.applicant(&ctx.caller).await?;
    let v = desk.view(id).await?;
    let cat = st.app.catalog.public(&ctx.caller).await?;
    let names = st
        .app
        .accounts
        .colleague_names(&ctx.caller, &v.content.handlers)
        .await?;
    let editable = matches!(v.state, ReviewState::Draft | ReviewState::Returned { .. });
    let title = title_of(ctx, &v).to_owned();
    Ok(layout(
        ctx,
        &title,
        html! {
            @if let Some(m) = message { (m) }
            @if !problems.is_empty() {
                div.alert role="alert" aria-labelledby="problems" {
                    h2 #problems { (ctx.t("app.problems")) }
                    ul { @for p in problems {
                        li { code { (p.field) } " — " (ctx.t(&format!("app.problem.{}", p.code))) }
                    } }
                }
            }
            dl.meta {
                dt { (ctx.t("app.state")) } dd { strong { (state_label(ctx, &v.state)) } }
                dt { (ctx.t("app.version")) } dd { (v.version) }
                @if let ReviewState::Approved { conditions, .. } | ReviewState::Permitted { conditions } = &v.state {
                    @if !conditions.is_empty() {
                        dt { (ctx.t("app.conditions_attached")) }
                        dd { ul { @for c in conditions { li { (c) } } } }
                    }
                }
                @if let Some(p) = &v.amendment_of {
                    dt { (ctx.t("app.amends")) } dd { a href=(format!("/projects/{p}")) { code { (p) } } }
                }
            }
            @if matches!(v.state, ReviewState::Permitted { .. } | ReviewState::Closed) {
                p { a.button href=(format!("/projects/{}", v.project())) { (ctx.t("project.open_page")) } }
            }
            @if matches!(v.state, ReviewState::Draft | ReviewState::Submitted | ReviewState::Returned { .. } | ReviewState::InReview { .. } | ReviewState::Approved { .. }) {
                p { a href=(format!("/applications/{}/workspace", v.id)) { (ctx.t("ws.dummy_open")) } }
            }
            @if editable {
                div.actions {
                    form.inline method="post" action=(format!("/applications/{}/submit", v.id)) {
                        (csrf_field(ctx))
                        button type="submit" { (ctx.t("app.submit")) }
                    }
                    " "
                    form.inline method="post" action=(format!("/applications/{}/withdraw", v.id)) {
                        (csrf_field(ctx))
                        button.secondary type="submit" { (ctx.t("app.withdraw")) }
                    }
                }
            }
            (risk_box(ctx, &v))
            (attachment_list(ctx, &v))
            @if editable {
                form.card method="post" enctype="multipart/form-data"
                    action=(format!("/applications/{}/attachments?csrf={}", v.id, ctx.csrf)) {
                    div.field {
                        label for="file" { (ctx.t("app.attach")) }
                        input #file name="file" type="file" required
                            accept=".pdf,.png,.jpg,.jpeg,.docx,.xlsx,.pptx,.txt,.csv";
                        small { (ctx.t("app.attach_hint")) }
                    }
                    button type="submit" { (ctx.t("app.attach_button")) }
                }
            }
            section aria-labelledby="history" {
                h2 #history { (ctx.t("app.history")) }
                @if v.history.is_empty() {
                    p.empty { (ctx.t("app.no_history")) }
                } @else {
                    ol { @for h in &v.history {
                        li {
                            (jst(renkei_core::Timestamp(h.at))) " — "
                            (ctx.t(&format!("app.step.{}", h.step)))
                            @if let Some(r) = h.detail.get("reason").and_then(|r| r.as_str()).filter(|r| !r.is_empty()) {
                                ": " (r)
                            }
                        }
                    } }
                }
            }
            section aria-labelledby="content" {
                h2 #content { (ctx.t("app.content")) }
                @if editable {
                    form.card method="post" action=(format!("/applications/{}", v.id)) {
                        (csrf_field(ctx))
                        (fields(ctx, &cat, &v.content, &names))
                        button type="submit" { (ctx.t("app.save")) }
                    }
                } @else {
                    dl.meta {
                        dt { (ctx.t("app.institution")) } dd { (v.content.institution) }
                        dt { (ctx.t("app.handlers")) } dd { (names.join("、")) }
                        dt { (ctx.t("app.summary_ja")) } dd { (v.content.summary_ja) }
                        dt { (ctx.t("app.section.data")) } dd { (requested(&v.content)) }
                    }
                }
            }
            p { a href="/applications" { (ctx.t("app.back")) } }
        },
    ))
}

/// GET /applications/{id}
pub async fn show(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Markup, AppError> {
    let message = done.done.as_deref().map(|d| match d {
        "saved" => notice("ok", ctx.t("app.done.saved")),
        "submitted" => notice("ok", ctx.t("app.done.submitted")),
        "attached" => notice("ok", ctx.t("app.done.attached")),
        _ => notice("ok", ctx.t("app.done.withdrawn")),
    });
    show_page(&st, &ctx, &id, message, &[]).await
}

/// POST /applications/{id}
pub async fn save(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, AppError> {
    let desk = st.app.applications.applicant(&ctx.caller).await?;
    let app = with_handlers(&st, &ctx, from_form(&form)).await?;
    desk.save(&id, &app).await?;
    Ok(Redirect::to(&format!("/applications/{id}?done=saved")).into_response())
}

/// POST /applications/{id}/submit: on problems, the page again with each one named.
pub async fn submit(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    _form: FormData,
) -> Result<Response, AppError> {
    let desk = st.app.applications.applicant(&ctx.caller).await?;
    match desk.submit(&id).await {
        Ok(_) => Ok(Redirect::to(&format!("/applications/{id}?done=submitted")).into_response()),
        Err(AccessError::Invalid(problems)) => Ok((
            StatusCode::BAD_REQUEST,
            show_page(&st, &ctx, &id, None, &problems).await?,
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

/// POST /applications/{id}/attachments?csrf=...: one file from a multipart form.
pub async fn attach(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    mut form: axum::extract::Multipart,
) -> Result<Response, AppError> {
    let desk = st.app.applications.applicant(&ctx.caller).await?;
    let bad = |e: axum::extract::multipart::MultipartError| AppError::BadRequest(e.body_text());
    while let Some(field) = form.next_field().await.map_err(bad)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("").to_owned();
        let bytes = field.bytes().await.map_err(bad)?;
        desk.attach(&id, &name, &bytes).await?;
        return Ok(Redirect::to(&format!("/applications/{id}?done=attached")).into_response());
    }
    Err(AppError::BadRequest("choose a file".into()))
}

/// POST /applications/{id}/withdraw
pub async fn withdraw(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    _form: FormData,
) -> Result<Response, AppError> {
    let desk = st.app.applications.applicant(&ctx.caller).await?;
    desk.withdraw(&id).await?;
    Ok(Redirect::to(&format!("/applications/{id}?done=withdrawn")).into_response())
}
