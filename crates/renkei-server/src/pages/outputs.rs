//! A pending output's page: its query and result, the form where the researcher
//! declares what it is (which columns are dimensions and which the count, the unit,
//! margins, the profile and the protection asked for), and the checks' verdict, cell
//! by cell, with the unsafe cells marked and every finding in words. Without
//! JavaScript: the form posts and the page shows the new verdict.

use super::{csrf_field, jst, layout, notice};
use crate::context::RequestContext;
use crate::form::FormData;
use crate::{AppError, AppState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use renkei_sdc::{Outcome, OutputKind, Profile, Protection, Report, Table, Unit};
use renkei_workspace::WorkspaceError;
use renkei_workspace::output::{Declaration, DimRole, DimSpec, OutputDetail};

/// Cells drawn in the page's grid; larger tables are listed by their findings only.
const MAX_GRID_CELLS: usize = 5_000;

/// Municipality populations from the masters, for the population-band rule (codes
/// with or without their check digit).
pub(crate) fn population(st: &AppState) -> impl Fn(&str) -> Option<u64> + Sync + '_ {
    move |code: &str| {
        let m = &st.app.masters;
        m.municipality(code)
            .or_else(|| {
                renkei_masters::with_municipality_check_digit(code).and_then(|c| m.municipality(&c))
            })
            .map(|m| m.population)
    }
}

/// GET /projects/{id}/outputs/{oid}
pub async fn show(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path((id, oid)): Path<(String, String)>,
) -> Result<Response, AppError> {
    if !renkei_workspace::query::is_output_id(&oid) {
        return Err(AppError::NotFound);
    }
    let permit = st.app.applications.in_force(&ctx.caller, &id).await?;
    let d = st
        .app
        .workspaces
        .output(&ctx.caller, &permit, &oid, &population(&st))
        .await?;
    Ok(page(&ctx, &id, &d, None, None).into_response())
}

/// POST /projects/{id}/outputs/{oid}/check: declares the output and runs the checks.
pub async fn check(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path((id, oid)): Path<(String, String)>,
    f: FormData,
) -> Result<Response, AppError> {
    if !renkei_workspace::query::is_output_id(&oid) {
        return Err(AppError::NotFound);
    }
    let permit = st.app.applications.in_force(&ctx.caller, &id).await?;
    let ws = &st.app.workspaces;
    let current = ws
        .output(&ctx.caller, &permit, &oid, &population(&st))
        .await?;
    let declaration = match from_form(&current.columns, &f) {
        Ok(d) => d,
        Err(why) => {
            let body = page(&ctx, &id, &current, None, Some(&why));
            return Ok((StatusCode::BAD_REQUEST, body).into_response());
        }
    };
    match ws
        .check_output(
            &ctx.caller,
            &permit,
            &oid,
            declaration.clone(),
            &population(&st),
        )
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/projects/{id}/outputs/{oid}#verdict")).into_response()),
        Err(WorkspaceError::Declaration(why)) => {
            let body = page(&ctx, &id, &current, Some(&declaration), Some(&why));
            Ok((StatusCode::BAD_REQUEST, body).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// Reads the declaration form: per column `role.<i>` is `count`, `dim:<role>` or empty.
fn from_form(columns: &[String], f: &FormData) -> Result<Declaration, String> {
    let mut dims = Vec::new();
    let mut count = None;
    for (i, c) in columns.iter().enumerate() {
        match f.get(&format!("role.{i}")).unwrap_or("") {
            "" => {}
            "count" if count.is_none() => count = Some(c.clone()),
            "count" => return Err("only one column can be the count".to_string()),
            other => {
                let role = other
                    .strip_prefix("dim:")
                    .and_then(DimRole::parse)
                    .ok_or_else(|| format!("{c:?}: unknown role {other:?}"))?;
                dims.push(DimSpec {
                    column: c.clone(),
                    role,
                });
            }
        }
    }
    let count = count.ok_or_else(|| "choose the column that holds the count".to_string())?;
    let kind = match f.get("kind").unwrap_or("frequency") {
        "chart" => OutputKind::Chart,
        _ => OutputKind::Frequency,
    };
    let unit = match f.get("unit").unwrap_or("persons") {
        "rows" => Unit::Rows,
        "institutions" => Unit::Institutions,
        "insurers" => Unit::Insurers,
        "prescriptions_oral" => Unit::Prescriptions { injection: false },
        "prescriptions_injection" => Unit::Prescriptions { injection: true },
        _ => Unit::Persons,
    };
    let round_to = match f.get("round").unwrap_or("") {
        "5" => Some(5),
        "10" => Some(10),
        _ => None,
    };
    Ok(Declaration {
        kind,
        dims,
        count,
        unit,
        margins: f.get("margins").is_some(),
        profile: Profile::parse(f.get("profile").unwrap_or("japan")).unwrap_or(Profile::Japan),
        protection: Protection {
            suppress: f.get("suppress").is_some(),
            round_to,
        },
    })
}

fn unit_code(u: Unit) -> &'static str {
    match u {
        Unit::Persons => "persons",
        Unit::Rows => "rows",
        Unit::Institutions => "institutions",
        Unit::Insurers => "insurers",
        Unit::Prescriptions { injection: false } => "prescriptions_oral",
        Unit::Prescriptions { injection: true } => "prescriptions_injection",
    }
}

fn page(
    ctx: &RequestContext,
    project: &str,
    d: &OutputDetail,
    tried: Option<&Declaration>,
    error: Option<&str>,
) -> Markup {
    let title = format!("{} — {}", d.meta.title, ctx.t("out.title"));
    let decl = tried.or(d.declaration.as_ref());
    let action = format!("/projects/{project}/outputs/{}/check", d.meta.id);
    let role_of = |c: &str| -> String {
        match decl {
            Some(x) if x.count == c => "count".to_string(),
            Some(x) => x
                .dims
                .iter()
                .find(|s| s.column == c)
                .map(|s| format!("dim:{}", s.role.code()))
                .unwrap_or_default(),
            None => String::new(),
        }
    };
    let body = html! {
        p { a href=(format!("/projects/{project}/workspace#outputs")) { (ctx.t("out.back")) } }
        dl.meta {
            dt { (ctx.t("ws.status")) } dd { (ctx.t(&format!("ws.output.{}", d.meta.status))) }
            dt { (ctx.t("ws.requested")) } dd { (jst(renkei_core::Timestamp(d.meta.created_at))) }
            dt { (ctx.t("ws.rows")) } dd { (d.meta.rows) }
        }
        section aria-labelledby="sql" {
            h2 #sql { (ctx.t("out.query")) }
            pre.sql { code { (d.sql) } }
        }
        section aria-labelledby="declare" {
            h2 #declare { (ctx.t("out.declare")) }
            p { (ctx.t("out.declare_help")) }
            @if let Some(e) = error { (notice("error", e)) }
            form method="post" action=(action) {
                (csrf_field(ctx))
                div.scroll { table {
                    caption { (ctx.t("out.columns")) }
                    thead { tr { th scope="col" { (ctx.t("out.column")) } th scope="col" { (ctx.t("out.role")) } } }
                    tbody { @for (i, c) in d.columns.iter().enumerate() {
                        @let id = format!("role-{i}");
                        @let current = role_of(c);
                        tr {
                            th scope="row" { label for=(id) { code { (c) } } }
                            td { select id=(id) name=(format!("role.{i}")) {
                                option value="" selected[current.is_empty()] { (ctx.t("out.role.none")) }
                                option value="count" selected[current == "count"] { (ctx.t("out.role.count")) }
                                @for r in DimRole::ALL {
                                    @let v = format!("dim:{}", r.code());
                                    option value=(v) selected[current == v] { (ctx.t(&format!("out.role.{}", r.code()))) }
                                }
                            } }
                        }
                    } }
                } }
                @let unit = decl.map(|x| unit_code(x.unit)).unwrap_or("persons");
                @let kind = decl.map(|x| x.kind.code()).unwrap_or("frequency");
                @let profile = decl.map(|x| x.profile.code()).unwrap_or("japan");
                @let round = decl.and_then(|x| x.protection.round_to);
                div.field { label for="kind" { (ctx.t("out.kind")) }
                    select #kind name="kind" {
                        @for k in ["frequency", "chart"] { option value=(k) selected[kind == k] { (ctx.t(&format!("out.kind.{k}"))) } }
                    } }
                div.field { label for="unit" { (ctx.t("out.unit")) }
                    select #unit name="unit" {
                        @for u in ["persons", "rows", "institutions", "insurers", "prescriptions_oral", "prescriptions_injection"] {
                            option value=(u) selected[unit == u] { (ctx.t(&format!("out.unit.{u}"))) }
                        }
                    } }
                div.field { label for="profile" { (ctx.t("out.profile")) }
                    select #profile name="profile" {
                        @for p in ["japan", "general"] { option value=(p) selected[profile == p] { (ctx.t(&format!("out.profile.{p}"))) } }
                    } }
                div.field { input #margins type="checkbox" name="margins" value="1" checked[decl.is_some_and(|x| x.margins)];
                    label for="margins" { (ctx.t("out.margins")) } }
                div.field { input #suppress type="checkbox" name="suppress" value="1" checked[decl.is_some_and(|x| x.protection.suppress)];
                    label for="suppress" { (ctx.t("out.suppress")) } }
                div.field { label for="round" { (ctx.t("out.round")) }
                    select #round name="round" {
                        option value="" selected[round.is_none()] { (ctx.t("out.round.none")) }
                        option value="5" selected[round == Some(5)] { "5" }
                        option value="10" selected[round == Some(10)] { "10" }
                    } }
                button type="submit" { (ctx.t("out.run_checks")) }
            }
        }
        @if let (Some(report), Some(table), None) = (&d.report, &d.table, error) {
            (verdict(ctx, report, table))
        }
    };
    layout(ctx, &title, body)
}

fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "cell-pass",
        Outcome::Review => "cell-review",
        Outcome::Fail => "cell-fail",
    }
}

fn verdict(ctx: &RequestContext, r: &Report, t: &Table) -> Markup {
    let published = r.published.as_ref();
    let shown = |i: usize| -> String {
        match published.map(|p| p.cells[i]) {
            Some(None) => "×".to_string(),
            Some(Some(v)) => renkei_num(v),
            None => t.cells[i].count.to_string(),
        }
    };
    let shape = t.shape();
    html! {
        section aria-labelledby="verdict" {
            h2 #verdict { (ctx.t("out.verdict")) }
            p { strong class=(format!("verdict {}", outcome_class(r.outcome))) data-outcome=(r.outcome.code()) {
                (ctx.t(&format!("out.outcome.{}", r.outcome.code())))
            } }
            @if !r.findings.is_empty() {
                h3 { (ctx.t("out.findings")) }
                ul.findings { @for f in r.findings.iter().take(500) {
                    li class=(outcome_class(f.outcome)) data-check=(f.check.code()) {
                        strong { (ctx.t(&format!("out.check.{}", f.check.code()))) } " — "
                        span { (ctx.t(&format!("out.outcome.{}", f.outcome.code()))) } ": "
                        span.evidence { (f.evidence) }
                    }
                } }
                @if r.findings.len() > 500 { p { (ctx.t("out.more_findings")) } }
            }
            @if t.cells.len() <= MAX_GRID_CELLS {
                h3 { (ctx.t("out.cells")) }
                p.legend {
                    span.cell-fail { (ctx.t("out.outcome.fail")) } " "
                    span.cell-review { (ctx.t("out.outcome.review")) } " "
                    (ctx.t("out.suppressed_mark"))
                }
                @if shape.len() == 2 {
                    div.scroll { table.cells {
                        caption { (t.dims[0].name) " × " (t.dims[1].name) }
                        thead { tr { th scope="col" { } @for l in &t.dims[1].labels { th scope="col" { (l) } } } }
                        tbody { @for (a, la) in t.dims[0].labels.iter().enumerate() {
                            tr { th scope="row" { (la) }
                                @for b in 0..shape[1] {
                                    @let i = a * shape[1] + b;
                                    td class=(format!("num {}", outcome_class(r.cells[i]))) data-cell=(i) { (shown(i)) }
                                }
                            }
                        } }
                    } }
                } @else {
                    div.scroll { table.cells {
                        caption { (ctx.t("out.cells")) }
                        thead { tr { @for dim in &t.dims { th scope="col" { (dim.name) } } th scope="col" { (ctx.t("out.value")) } } }
                        tbody { @for i in 0..t.cells.len() {
                            tr { @for l in t.labels_of(i) { td { (l) } }
                                td class=(format!("num {}", outcome_class(r.cells[i]))) data-cell=(i) { (shown(i)) } }
                        } }
                    } }
                }
            }
        }
    }
}

fn renkei_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}
