//! Projects and the public register, without JavaScript: a researcher's projects with
//! the warnings waiting for them, one project's permit (its JSON beside it), closure
//! with the deletion certificate, results and publications; and the public register
//! of every approved project, as a page and as CSV. Who may read, close or add to a
//! project is decided by `renkei-access`; this only renders and parses.

use super::{Done, PageQuery, csrf_field, jst, layout, notice, pager};
use crate::context::RequestContext;
use crate::form::FormData;
use crate::{AppError, AppState};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use renkei_access::permit::Period;
use renkei_access::{PUBLICATION_KINDS, ProjectView, RegisterEntry, date_text};
use renkei_core::Permission;

fn status_label(ctx: &RequestContext, status: &str) -> &'static str {
    ctx.t(&format!("project.status.{status}"))
}

fn period_notice(ctx: &RequestContext, p: &Period) -> Option<Markup> {
    match p {
        Period::Open {
            days_left,
            warning: Some(_),
        } => Some(notice(
            "warning",
            &format!(
                "{} ({days_left} {})",
                ctx.t("project.ending"),
                ctx.t("app.days_left")
            ),
        )),
        Period::Ended { .. } => Some(notice("warning", ctx.t("project.ended"))),
        Period::NotYet { .. } => Some(notice("status", ctx.t("project.not_started"))),
        _ => None,
    }
}

/// Rows on one page of a list.
const PER_PAGE: i64 = 50;

/// GET /projects
pub async fn list(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(q): Query<PageQuery>,
) -> Result<Markup, AppError> {
    let page = q.page.unwrap_or(0).clamp(0, super::MAX_PAGE);
    let (projects, total) = st
        .app
        .applications
        .projects_page(&ctx.caller, page, PER_PAGE)
        .await?;
    let messages = match ctx.caller.user_id() {
        Some(me) => st.app.applications.outbox(me.as_str()).await?,
        None => Vec::new(),
    };
    Ok(layout(
        &ctx,
        ctx.t("project.list_title"),
        html! {
            @if !messages.is_empty() {
                section aria-labelledby="messages" {
                    h2 #messages { (ctx.t("project.messages")) }
                    ul { @for (_, subject, body) in &messages {
                        li { strong { (subject) } br; small lang="en" { (body) } }
                    } }
                }
            }
            @if projects.is_empty() {
                p.empty { (ctx.t("project.none")) }
            } @else {
                div.scroll { table {
                    caption.visually-hidden { (ctx.t("project.list_title")) }
                    thead { tr {
                        th scope="col" { (ctx.t("app.title")) }
                        th scope="col" { (ctx.t("project.status")) }
                        th scope="col" { (ctx.t("project.period")) }
                        th scope="col" { (ctx.t("project.permit_version")) }
                    } }
                    tbody { @for p in &projects {
                        tr {
                            td { a href=(format!("/projects/{}", p.permit.project)) { (p.permit.title) } }
                            td { (status_label(&ctx, p.status())) }
                            td { (date_text(p.permit.starts_on)) " – " (date_text(p.permit.ends_on)) }
                            td { (p.permit.version) }
                        }
                    } }
                } }
                (pager(&ctx, "/projects", page, PER_PAGE, total))
            }
        },
    ))
}

/// GET /projects/{id}
pub async fn show(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Markup, AppError> {
    let v = st.app.applications.project(&ctx.caller, &id).await?;
    let message = done.done.as_deref().map(|d| match d {
        "closed" => notice("ok", ctx.t("project.done.closed")),
        _ => notice("ok", ctx.t("project.done.published")),
    });
    let me = ctx.caller.user_id().map(|u| u.as_str().to_owned());
    let is_applicant = me.as_deref() == Some(v.permit.applicant.as_str());
    let named = me.as_deref().is_some_and(|m| v.permit.names(m));
    let researcher = ctx.caller.has(Permission::Apply);
    let may_close = v.closed.is_none()
        && (ctx.caller.has(Permission::ManageReview) || (researcher && is_applicant));
    let may_publish = researcher && (is_applicant || named);
    // The extract is shown to the people the permit in force names, today.
    let extract = if named && v.closed.is_none() {
        match st.app.applications.in_force(&ctx.caller, &id).await {
            Ok(permit) => Some(st.app.workspaces.current(&permit).await?),
            Err(_) => None,
        }
    } else {
        None
    };
    Ok(layout(
        &ctx,
        &v.permit.title,
        html! {
            @if let Some(m) = message { (m) }
            p { (ctx.t("project.status")) ": " strong { (status_label(&ctx, v.status())) } }
            @if v.closed.is_none() { @if let Some(n) = period_notice(&ctx, &v.period) { (n) } }
            @if v.overdue { (notice("warning", ctx.t("project.overdue"))) }
            (permit_section(&ctx, &v))
            @if let Some(x) = &extract { (extract_section(&ctx, &v.permit.project, x.as_ref())) }
            @if let Some(c) = &v.closed {
                section aria-labelledby="certificate" {
                    h2 #certificate { (ctx.t("project.certificate")) }
                    (certificate(&ctx, &c.certificate))
                    p { (ctx.t("project.closure_reason")) ": " (c.reason) " (" (jst(renkei_core::Timestamp(c.at))) ")" }
                }
            }
            (publications(&ctx, &v))
            @if may_publish {
                form.card method="post" action=(format!("/projects/{}/publications", v.permit.project)) {
                    h2 { (ctx.t("project.add_publication")) }
                    (csrf_field(&ctx))
                    div.field {
                        label for="kind" { (ctx.t("project.publication_kind")) }
                        select #kind name="kind" {
                            @for k in PUBLICATION_KINDS { option value=(k) { (ctx.t(&format!("project.kind.{k}"))) } }
                        }
                    }
                    div.field {
                        label for="citation" { (ctx.t("project.citation")) }
                        textarea #citation name="citation" rows="2" required {}
                    }
                    div.field {
                        label for="url" { (ctx.t("project.url")) }
                        input #url name="url" type="url";
                    }
                    button type="submit" { (ctx.t("project.add")) }
                }
            }
            @if researcher && is_applicant && v.closed.is_none() {
                form.card method="post" action=(format!("/projects/{}/amend", v.permit.project)) {
                    (csrf_field(&ctx))
                    button type="submit" { (ctx.t("project.amend")) }
                }
            }
            @if may_close {
                form.card method="post" action=(format!("/projects/{}/close", v.permit.project)) {
                    h2 { (ctx.t("project.close")) }
                    p { (ctx.t("project.close_explained")) }
                    (csrf_field(&ctx))
                    div.field {
                        label for="reason" { (ctx.t("review.reason")) }
                        input #reason name="reason" type="text" required;
                    }
                    button type="submit" { (ctx.t("project.close")) }
                }
            }
        },
    ))
}

/// The project's extract: rows and people per table, and the smallest group over the
/// quasi-identifiers present.
fn extract_section(
    ctx: &RequestContext,
    project: &str,
    x: Option<&renkei_workspace::extract::ExtractSummary>,
) -> Markup {
    html! {
        section aria-labelledby="extract" {
            h2 #extract { (ctx.t("extract.title")) }
            @match x {
                None => p { (ctx.t("extract.pending")) },
                Some(x) => {
                    p {
                        (ctx.t("extract.version")) " " (x.version) " · "
                        (ctx.t("extract.permit_version")) " " (x.permit_version) " · "
                        (ctx.t("extract.persons")) " " (x.persons) " · "
                        (ctx.t("extract.opted_out")) " " (x.opted_out_excluded)
                    }
                    table {
                        caption { (ctx.t("extract.tables")) }
                        thead { tr {
                            th scope="col" { (ctx.t("extract.table")) }
                            th scope="col" { (ctx.t("extract.source")) }
                            th scope="col" { (ctx.t("extract.rows")) }
                            th scope="col" { (ctx.t("extract.persons")) }
                            th scope="col" { (ctx.t("extract.quasi")) }
                            th scope="col" { (ctx.t("extract.smallest_group")) }
                        } }
                        tbody {
                            @for t in &x.tables {
                                tr {
                                    td { code { (t.name) } }
                                    td { (t.source) }
                                    td.num { (t.rows) }
                                    td.num { (t.persons) }
                                    td { (t.quasi_identifiers.join(", ")) }
                                    td.num {
                                        @match t.smallest_group {
                                            Some(k) if k < 10 => strong { (k) " " (ctx.t("extract.below_ten")) },
                                            Some(k) => (k),
                                            None => "—",
                                        }
                                    }
                                }
                            }
                        }
                    }
                    p { (ctx.t("extract.explained")) }
                    p { a.button href=(format!("/projects/{project}/workspace")) { (ctx.t("ws.open")) } }
                }
            }
        }
    }
}

fn permit_section(ctx: &RequestContext, v: &ProjectView) -> Markup {
    let p = &v.permit;
    html! {
        section aria-labelledby="permit" {
            h2 #permit { (ctx.t("project.permit")) " (" (ctx.t("project.permit_version")) " " (p.version) ")" }
            p { a href=(format!("/projects/{}/permit.json", p.project)) { (ctx.t("project.permit_json")) } }
            dl {
                dt { (ctx.t("project.id")) } dd { code { (p.project) } }
                dt { (ctx.t("app.institution")) } dd { (p.institution) }
                dt { (ctx.t("project.people")) } dd { (p.people.join(", ")) }
                dt { (ctx.t("app.purpose")) } dd { (p.purpose) }
                dt { (ctx.t("project.period")) } dd { (date_text(p.starts_on)) " – " (date_text(p.ends_on)) }
                dt { (ctx.t("project.linkage")) } dd {
                    @if p.linkage_allowed { (p.linked_datasets.join(" × ")) } @else { (ctx.t("project.no_linkage")) }
                }
                dt { (ctx.t("project.data_form")) } dd { (ctx.t("project.pseudonymized")) }
                dt { (ctx.t("project.tools")) } dd { ul { @for t in &p.tools { li lang="en" { (t) } } } }
                @if !p.software.is_empty() {
                    dt { (ctx.t("app.software")) } dd { ul { @for s in &p.software {
                        li { (s.name) " " (s.version) " " code { (s.sha256) } }
                    } } }
                }
                dt { (ctx.t("review.conditions")) } dd {
                    @if p.conditions.is_empty() { (ctx.t("project.no_conditions")) }
                    @else { ul { @for c in &p.conditions { li { (c) } } } }
                }
                dt { (ctx.t("project.two_checkers")) } dd { (p.two_checkers.join(", ")) }
                dt { (ctx.t("project.publish_by")) } dd { (date_text(p.publish_by)) }
            }
            h3 { (ctx.t("project.data")) }
            (super::applications::requested_data(&p.data))
        }
    }
}

fn certificate(ctx: &RequestContext, c: &serde_json::Value) -> Markup {
    let s = |k: &str| c[k].as_str().unwrap_or("").to_owned();
    let keys = c["key_ids"].as_array().map(Vec::len).unwrap_or(0);
    html! {
        dl {
            dt { (ctx.t("project.certificate_id")) } dd { code { (s("id")) } }
            dt { (ctx.t("project.destroyed_at")) } dd { (s("destroyed_at")) }
            dt { (ctx.t("project.destroyed_by")) } dd { (s("destroyed_by_name")) }
            dt { (ctx.t("project.keys_destroyed")) } dd { (keys) }
            dt { (ctx.t("project.digest")) } dd { code { (s("digest")) } }
        }
    }
}

fn publications(ctx: &RequestContext, v: &ProjectView) -> Markup {
    html! {
        section aria-labelledby="publications" {
            h2 #publications { (ctx.t("project.publications")) }
            @if v.publications.is_empty() {
                p.empty { (ctx.t("project.no_publications")) " " (ctx.t("project.publish_by")) ": " (date_text(v.permit.publish_by)) }
            } @else {
                ul { @for p in &v.publications {
                    li {
                        (ctx.t(&format!("project.kind.{}", p.kind))) ": " (p.citation)
                        @if !p.url.is_empty() { " " a href=(p.url) rel="noopener noreferrer" { (p.url) } }
                    }
                } }
            }
        }
    }
}

/// GET /projects/{id}/permit.json: the permit with its EHDS mapping.
pub async fn permit_json(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, AppError> {
    let v = st.app.applications.project(&ctx.caller, &id).await?;
    Ok(Json(v.permit.document()))
}

/// POST /projects/{id}/close
pub async fn close(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    f: FormData,
) -> Result<Response, AppError> {
    st.app
        .close_project(&ctx.caller, &id, f.get("reason").unwrap_or(""))
        .await?;
    Ok(Redirect::to(&format!("/projects/{id}?done=closed")).into_response())
}

/// POST /projects/{id}/amend: the amendment's draft opens in the application form.
pub async fn amend(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    _f: FormData,
) -> Result<Response, AppError> {
    let desk = st.app.applications.applicant(&ctx.caller).await?;
    let new = desk.amend(&id).await?;
    Ok(Redirect::to(&format!("/applications/{new}")).into_response())
}

/// POST /projects/{id}/publications
pub async fn publish(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    f: FormData,
) -> Result<Response, AppError> {
    st.app
        .applications
        .add_publication(
            &ctx.caller,
            &id,
            f.get("kind").unwrap_or(""),
            f.get("citation").unwrap_or(""),
            f.get("url").unwrap_or("").trim(),
        )
        .await?;
    Ok(Redirect::to(&format!("/projects/{id}?done=published")).into_response())
}

/// GET /register: every approved project, for the public, newest first, a page at a
/// time (the CSV and JSON hold them all).
pub async fn register(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(q): Query<PageQuery>,
) -> Result<Markup, AppError> {
    let page = q.page.unwrap_or(0).clamp(0, super::MAX_PAGE);
    let (entries, total) = st.app.applications.register_page(page, PER_PAGE).await?;
    Ok(layout(
        &ctx,
        ctx.t("register.title"),
        html! {
            p { (ctx.t("register.intro")) }
            p {
                a href="/register.csv" { (ctx.t("register.csv")) } " · "
                a href="/api/v1/register" { (ctx.t("register.json")) }
            }
            @if entries.is_empty() {
                p.empty { (ctx.t("register.none")) }
            }
            @for e in &entries { (entry(&ctx, e)) }
            (pager(&ctx, "/register", page, PER_PAGE, total))
            section aria-labelledby="opt-out" {
                h2 #opt-out { (ctx.t("register.opt_out")) }
                p { (ctx.t("register.opt_out_how")) }
            }
        },
    ))
}

fn entry(ctx: &RequestContext, e: &RegisterEntry) -> Markup {
    html! {
        article.card aria-labelledby=(format!("p-{}", e.project)) {
            h2 id=(format!("p-{}", e.project)) { (e.title) }
            @if e.overdue { (notice("warning", ctx.t("register.overdue"))) }
            dl {
                dt { (ctx.t("app.institution")) } dd { (e.institution) }
                dt { (ctx.t("project.status")) } dd { (status_label(ctx, &e.status)) }
                dt { (ctx.t("register.datasets")) } dd { (e.datasets.join(", ")) }
                dt { (ctx.t("app.purpose")) } dd { (e.purpose) }
                dt { (ctx.t("register.summary")) } dd {
                    p { (e.summary_ja) }
                    @if !e.summary_en.is_empty() { p lang="en" { (e.summary_en) } }
                }
                dt { (ctx.t("app.public_interest")) } dd { (e.public_interest) }
                dt { (ctx.t("register.commercial")) } dd { (ctx.t(if e.commercial { "register.yes" } else { "register.no" })) }
                dt { (ctx.t("project.period")) } dd { (date_text(e.starts_on)) " – " (date_text(e.ends_on)) }
                @if !e.conditions.is_empty() {
                    dt { (ctx.t("review.conditions")) } dd { ul { @for c in &e.conditions { li { (c) } } } }
                }
                dt { (ctx.t("project.publications")) } dd {
                    @if e.publications.is_empty() {
                        (ctx.t("project.no_publications")) " " (ctx.t("project.publish_by")) ": " (date_text(e.publish_by))
                    } @else {
                        ul { @for p in &e.publications { li { (p.citation) @if !p.url.is_empty() { " " a href=(p.url) rel="noopener noreferrer" { (p.url) } } } } }
                    }
                }
                @if let Some(c) = &e.certificate {
                    dt { (ctx.t("project.certificate")) } dd { (certificate(ctx, c)) }
                }
            }
        }
    }
}

/// A cell a spreadsheet would not run: text that starts like a formula gets a leading
/// apostrophe (titles and citations are the applicants' own words).
fn cell(s: String) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s
    }
}

/// The register's columns as CSV: one row per project; lists joined with `; `.
pub(crate) fn register_csv(entries: &[RegisterEntry]) -> Result<String, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| AppError::Service {
        code: "internal",
        kind: renkei_core::ErrorKind::Internal,
        detail: None,
        internal: e.to_string(),
    };
    w.write_record([
        "project",
        "title",
        "institution",
        "datasets",
        "purpose",
        "summary_ja",
        "summary_en",
        "public_interest",
        "commercial",
        "starts_on",
        "ends_on",
        "status",
        "conditions",
        "publish_by",
        "overdue",
        "publications",
        "deletion_certificate",
        "certificate_digest",
    ])
    .map_err(internal)?;
    for e in entries {
        let cert = |k: &str| {
            e.certificate
                .as_ref()
                .and_then(|c| c[k].as_str())
                .unwrap_or("")
                .to_owned()
        };
        w.write_record(
            [
                e.project.clone(),
                e.title.clone(),
                e.institution.clone(),
                e.datasets.join("; "),
                e.purpose.clone(),
                e.summary_ja.clone(),
                e.summary_en.clone(),
                e.public_interest.clone(),
                e.commercial.to_string(),
                date_text(e.starts_on),
                date_text(e.ends_on),
                e.status.clone(),
                e.conditions.join("; "),
                date_text(e.publish_by),
                e.overdue.to_string(),
                e.publications
                    .iter()
                    .map(|p| p.citation.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
                cert("id"),
                cert("digest"),
            ]
            .map(cell),
        )
        .map_err(internal)?;
    }
    let bytes = w.into_inner().map_err(|e| AppError::Service {
        code: "internal",
        kind: renkei_core::ErrorKind::Internal,
        detail: None,
        internal: e.to_string(),
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// GET /register.csv
pub async fn register_csv_file(State(st): State<AppState>) -> Result<Response, AppError> {
    let entries = st.app.applications.register().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"renkei-register.csv\"",
            ),
        ],
        register_csv(&entries)?,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn formulas_do_not_run_in_a_spreadsheet() {
        assert_eq!(cell("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("-1+1".into()), "'-1+1");
        assert_eq!(cell("糖尿病".into()), "糖尿病");
    }
}
