//! The public catalogue (T1): datasets, their tables and variables with the quality
//! profile, a search, the linkage view, and the DCAT-AP export. No sign-in needed.
//!
//! Everything shown comes from [`renkei_catalog::public`], which suppresses small
//! counts; this module only lays it out.

use super::layout;
use crate::context::RequestContext;
use crate::{AppError, AppState};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use renkei_catalog::linkage::{FAMILIES, Link, family, what_it_enables};
use renkei_catalog::public::{PublicDataset, PublicVariable};
use serde::Deserialize;

/// The search box's query.
#[derive(Deserialize, Default)]
pub struct SearchQuery {
    q: Option<String>,
}

fn kind_label(ctx: &RequestContext, kind: &str) -> &'static str {
    match kind {
        "public" => ctx.t("catalog.kind.public"),
        "ehr" => ctx.t("catalog.kind.ehr"),
        _ => ctx.t("catalog.kind.private"),
    }
}

fn accrual(ctx: &RequestContext, a: &str) -> String {
    match a {
        "monthly" => ctx.t("catalog.accrual.monthly").to_owned(),
        "yearly" => ctx.t("catalog.accrual.yearly").to_owned(),
        "event" => ctx.t("catalog.accrual.event").to_owned(),
        other => other.to_owned(),
    }
}

/// A variable type in the reader's words.
fn type_name<'a>(ctx: &RequestContext, ty: &'a str) -> &'a str {
    match ty {
        "text" => ctx.pick("テキスト", "Text"),
        "int" => ctx.pick("整数", "Integer"),
        "float" => ctx.pick("数値", "Number"),
        "date" => ctx.pick("日付", "Date"),
        "bool" => ctx.pick("真偽値", "Yes/no"),
        "token" => ctx.pick("連結トークン", "Linkage token"),
        "code" => ctx.pick("コード", "Code"),
        other => other,
    }
}

fn family_name(ctx: &RequestContext, code: &str) -> String {
    family(code)
        .map(|f| ctx.pick(f.name_ja, f.name_en).to_owned())
        .unwrap_or_else(|| code.to_owned())
}

fn coverage(ctx: &RequestContext, d: &PublicDataset) -> String {
    match (&d.coverage_from, &d.coverage_to) {
        (Some(a), Some(b)) => format!("{a} – {b}"),
        _ => ctx.t("catalog.no_data").to_owned(),
    }
}

/// Searches on the blocking pool: folding and matching are CPU work that must not hold
/// an async worker while other requests wait.
pub(crate) async fn search_off_thread(
    cat: &std::sync::Arc<renkei_catalog::PublicCatalog>,
    query: &str,
) -> Result<Vec<renkei_catalog::public::Hit>, AppError> {
    if query.trim().is_empty() {
        return Ok(cat.search(""));
    }
    let (cat, query) = (cat.clone(), query.to_owned());
    tokio::task::spawn_blocking(move || cat.search(&query))
        .await
        .map_err(|e| AppError::internal(format!("search task failed: {e}")))
}

/// GET /catalog
pub async fn list(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(q): Query<SearchQuery>,
) -> Result<Markup, AppError> {
    let cat = st.app.catalog.public(&ctx.caller).await?;
    let views = &cat.datasets;
    let query: String =
        q.q.unwrap_or_default()
            .chars()
            .take(renkei_catalog::public::MAX_QUERY_CHARS)
            .collect();
    let hits = search_off_thread(&cat, &query).await?;
    Ok(layout(
        &ctx,
        ctx.t("catalog.title"),
        html! {
            p.lead { (ctx.t("catalog.lead")) }
            form.filters method="get" action="/catalog" role="search" {
                div.field {
                    label for="q" { (ctx.t("catalog.search")) }
                    input #q name="q" type="search" value=(query) aria-describedby="q-help";
                    p.help #q-help { (ctx.t("catalog.search_help")) }
                }
                button type="submit" { (ctx.t("catalog.search_button")) }
            }
            p.actions-row {
                a href="/catalog/linkage" { (ctx.t("catalog.linkage_link")) }
                " · "
                a href="/catalog.jsonld" type="application/ld+json" { (ctx.t("catalog.dcat_link")) }
                " · "
                a href="/api/v1/catalog/datasets" type="application/json" { (ctx.t("catalog.api_link")) }
            }
            @if views.is_empty() {
                p.empty { (ctx.t("catalog.empty")) }
            } @else if hits.is_empty() {
                p.empty role="status" { (ctx.t("catalog.no_match")) }
            } @else {
                p role="status" { (hits.len()) " " (ctx.t("catalog.datasets_found")) }
                @for h in &hits {
                    @let d = &views[h.index];
                    section.dataset aria-labelledby=(format!("ds-{}", d.id)) {
                        h2 id=(format!("ds-{}", d.id)) { a href=(format!("/catalog/{}", d.id)) { (ctx.pick(&d.name_ja, &d.name_en)) } }
                        p { (ctx.pick(&d.description_ja, &d.description_en)) }
                        dl.meta {
                            dt { (ctx.t("catalog.holder")) } dd { (ctx.pick(&d.holder_ja, &d.holder_en)) }
                            dt { (ctx.t("catalog.kind")) } dd { (kind_label(&ctx, &d.kind)) }
                            dt { (ctx.t("catalog.records")) } dd { (d.records.clone().unwrap_or_else(|| ctx.t("catalog.no_data").to_owned())) }
                            dt { (ctx.t("catalog.coverage")) } dd { (coverage(&ctx, d)) }
                            dt { (ctx.t("catalog.linkage")) } dd { (d.linkage.iter().map(|l| family_name(&ctx, l)).collect::<Vec<_>>().join("、")) }
                        }
                        @if !h.variables.is_empty() {
                            p.hint { (ctx.t("catalog.matching_variables")) ": "
                                @for (i, v) in h.variables.iter().take(12).enumerate() {
                                    @if i > 0 { ", " }
                                    code { (v) }
                                }
                                @if h.variables.len() > 12 { " …" }
                            }
                        }
                    }
                }
            }
        },
    ))
}

fn variable_row(ctx: &RequestContext, v: &PublicVariable) -> Markup {
    let dash = "—";
    let with_pct = |n: &Option<String>, p: &Option<String>| match (n, p) {
        (Some(n), Some(p)) => format!("{n} ({p})"),
        (Some(n), None) => n.clone(),
        _ => dash.to_owned(),
    };
    html! {
        tr {
            th scope="row" { code { (v.name) } }
            td {
                (ctx.pick(&v.label_ja, &v.label_en))
                @let desc = ctx.pick(&v.description_ja, &v.description_en);
                @if !desc.is_empty() { br; small { (desc) } }
            }
            td { (type_name(ctx, &v.ty)) }
            td {
                @if let Some(c) = &v.code_system { (c) }
                @if let Some(u) = &v.unit { @if v.code_system.is_some() { " · " } (u) }
            }
            td.num { (with_pct(&v.missing, &v.missing_pct)) }
            td.num {
                (with_pct(&v.invalid, &v.invalid_pct))
                @if let Some(n) = v.not_in_master.as_ref().filter(|n| *n != "0") {
                    br; small { (ctx.t("catalog.not_in_master")) " " (n) }
                }
            }
            td {
                @if v.categorical && !v.top.is_empty() {
                    ul.top {
                        @for c in v.top.iter().take(8) {
                            li { code { (c.value) } " " (c.count) }
                        }
                    }
                    @if let Some(n) = &v.distinct { small { (ctx.t("catalog.distinct")) " " (n) } }
                } @else if v.ty == "token" {
                    small { (ctx.t("catalog.token_note")) }
                }
            }
        }
    }
}

/// GET /catalog/{id}
pub async fn dataset(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Markup, AppError> {
    let d = st.app.catalog.public_dataset(&ctx.caller, &id).await?;
    Ok(layout(
        &ctx,
        ctx.pick(&d.name_ja, &d.name_en),
        html! {
            p.lead { (ctx.pick(&d.description_ja, &d.description_en)) }
            dl.meta {
                dt { (ctx.t("catalog.id")) } dd { code { (d.id) } }
                dt { (ctx.t("catalog.holder")) } dd { (ctx.pick(&d.holder_ja, &d.holder_en)) }
                dt { (ctx.t("catalog.kind")) } dd { (kind_label(&ctx, &d.kind)) }
                dt { (ctx.t("catalog.accrual")) } dd { (accrual(&ctx, &d.accrual)) }
                dt { (ctx.t("catalog.coverage")) } dd { (coverage(&ctx, &d)) }
                dt { (ctx.t("catalog.records")) } dd { (d.records.clone().unwrap_or_else(|| ctx.t("catalog.no_data").to_owned())) }
                dt { (ctx.t("catalog.version")) } dd {
                    @if let Some(v) = d.version { "v" (v) @if let Some(at) = d.updated_at.as_deref().and_then(renkei_core::Timestamp::parse) { " (" (super::jst(at)) ")" } } @else { (ctx.t("catalog.no_data")) }
                }
                dt { (ctx.t("catalog.code_systems")) } dd { (d.code_systems.join("、")) }
                dt { (ctx.t("catalog.linkage")) } dd {
                    @for (i, l) in d.linkage.iter().enumerate() {
                        @if i > 0 { "、" }
                        a href=(format!("/catalog/linkage#family-{l}")) { (family_name(&ctx, l)) }
                    }
                }
            }
            @if let Some(s) = &d.safety {
                section aria-labelledby="safety" {
                    h2 #safety { (ctx.t("catalog.safety")) }
                    dl.meta {
                        dt { (ctx.t("catalog.safety.organisational")) } dd { (ctx.pick(&s.organisational, &s.organisational_en)) }
                        dt { (ctx.t("catalog.safety.physical")) } dd { (ctx.pick(&s.physical, &s.physical_en)) }
                        dt { (ctx.t("catalog.safety.technical")) } dd { (ctx.pick(&s.technical, &s.technical_en)) }
                        dt { (ctx.t("catalog.safety.human")) } dd { (ctx.pick(&s.human, &s.human_en)) }
                    }
                }
            }
            @if !d.masters.is_empty() {
                section aria-labelledby="masters" {
                    h2 #masters { (ctx.t("catalog.masters")) }
                    p { (ctx.t("catalog.masters_lead")) }
                    (super::masters_table(&ctx, d.masters.iter().map(|m| (m.name_ja.as_str(), m.source.as_str(), m.published.as_deref(), m.sha256.as_str()))))
                }
            }
            p.hint { (ctx.t("catalog.suppression_note")) }
            @for t in &d.tables {
                section aria-labelledby=(format!("table-{}", t.name)) {
                    h2 id=(format!("table-{}", t.name)) { (ctx.pick(&t.name_ja, &t.name_en)) " " small { code { (t.name) } } }
                    @let desc = ctx.pick(&t.description_ja, &t.description_en);
                    @if !desc.is_empty() { p { (desc) } }
                    p { (ctx.t("catalog.rows")) ": " (t.rows.clone().unwrap_or_else(|| ctx.t("catalog.no_data").to_owned())) }
                    div.scroll {
                        table {
                            caption { (ctx.t("catalog.variables_of")) " " (ctx.pick(&t.name_ja, &t.name_en)) }
                            thead { tr {
                                th scope="col" { (ctx.t("catalog.col.name")) }
                                th scope="col" { (ctx.t("catalog.col.label")) }
                                th scope="col" { (ctx.t("catalog.col.type")) }
                                th scope="col" { (ctx.t("catalog.col.codes")) }
                                th scope="col" { (ctx.t("catalog.col.missing")) }
                                th scope="col" { (ctx.t("catalog.col.invalid")) }
                                th scope="col" { (ctx.t("catalog.col.values")) }
                            } }
                            tbody { @for v in &t.variables { (variable_row(&ctx, v)) } }
                        }
                    }
                }
            }
            p { a href="/catalog" { (ctx.t("catalog.back")) } }
        },
    ))
}

/// GET /catalog/linkage
pub async fn linkage(State(st): State<AppState>, ctx: RequestContext) -> Result<Markup, AppError> {
    let cat = st.app.catalog.public(&ctx.caller).await?;
    let views: &Vec<PublicDataset> = &cat.datasets;
    let pairs: &Vec<Link> = &cat.links;
    let name = |id: &str| {
        views
            .iter()
            .find(|d| d.id == id)
            .map(|d| ctx.pick(&d.name_ja, &d.name_en).to_owned())
            .unwrap_or_else(|| id.to_owned())
    };
    Ok(layout(
        &ctx,
        ctx.t("catalog.linkage_title"),
        html! {
            p.lead { (ctx.t("catalog.linkage_lead")) }
            section aria-labelledby="families" {
                h2 #families { (ctx.t("catalog.families")) }
                div.scroll { table {
                    caption.visually-hidden { (ctx.t("catalog.families")) }
                    thead { tr {
                        th scope="col" { (ctx.t("catalog.family")) }
                        th scope="col" { (ctx.t("catalog.family_from")) }
                        th scope="col" { (ctx.t("catalog.family_carried_by")) }
                    } }
                    tbody {
                        @for f in FAMILIES.iter() {
                            tr id=(format!("family-{}", f.code)) {
                                th scope="row" { (ctx.pick(f.name_ja, f.name_en)) br; code { (f.code) } }
                                td { (ctx.pick(f.from_ja, f.from_en)) }
                                td {
                                    @let by: Vec<&PublicDataset> = views.iter().filter(|d| d.linkage.iter().any(|l| l == f.code)).collect();
                                    @if by.is_empty() { "—" }
                                    @for (i, d) in by.iter().enumerate() {
                                        @if i > 0 { "、" }
                                        a href=(format!("/catalog/{}", d.id)) { (ctx.pick(&d.name_ja, &d.name_en)) }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
            section aria-labelledby="matrix" {
                h2 #matrix { (ctx.t("catalog.matrix")) }
                @if views.len() < 2 {
                    p.empty { (ctx.t("catalog.empty")) }
                } @else {
                    div.scroll { table.matrix {
                        caption { (ctx.t("catalog.matrix_caption")) }
                        thead { tr {
                            td {}
                            @for d in views.iter() { th scope="col" { (ctx.pick(&d.name_ja, &d.name_en)) } }
                        } }
                        tbody {
                            @for a in views.iter() {
                                tr {
                                    th scope="row" { (ctx.pick(&a.name_ja, &a.name_en)) }
                                    @for b in views.iter() {
                                        td {
                                            @if a.id == b.id { "—" } @else {
                                                @let via = pairs.iter().find(|p| (p.a == a.id && p.b == b.id) || (p.a == b.id && p.b == a.id));
                                                @match via {
                                                    Some(p) => {
                                                        @for (i, code) in p.via.iter().enumerate() {
                                                            @if i > 0 { ", " }
                                                            abbr title=(family_name(&ctx, code)) { (code) }
                                                        }
                                                    }
                                                    None => { span.hint { (ctx.t("catalog.no_direct_link")) } }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    } }
                }
            }
            section aria-labelledby="pairs" {
                h2 #pairs { (ctx.t("catalog.pairs")) }
                @if pairs.is_empty() { p.empty { (ctx.t("catalog.empty")) } }
                ul {
                    @for p in pairs.iter() {
                        li {
                            strong { (name(&p.a)) " × " (name(&p.b)) }
                            " (" (p.via.iter().map(|f| family_name(&ctx, f)).collect::<Vec<_>>().join("、")) ")"
                            @if let Some((ja, en)) = what_it_enables(&p.a, &p.b) { br; (ctx.pick(ja, en)) }
                        }
                    }
                }
                p.hint { (ctx.t("catalog.indirect_note")) }
            }
            p { a href="/catalog" { (ctx.t("catalog.back")) } }
        },
    ))
}

/// GET /catalog.jsonld — the catalogue as DCAT-AP / HealthDCAT-AP JSON-LD.
pub async fn dcat(State(st): State<AppState>, ctx: RequestContext) -> Result<Response, AppError> {
    let doc = st
        .app
        .catalog
        .public(&ctx.caller)
        .await?
        .dcat(&st.app.config.public_base());
    let body = serde_json::to_string_pretty(&doc).map_err(|e| AppError::internal(e.to_string()))?;
    Ok((
        [(header::CONTENT_TYPE, "application/ld+json; charset=utf-8")],
        body,
    )
        .into_response())
}
