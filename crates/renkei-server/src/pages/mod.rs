//! Server-rendered pages. Every page works without JavaScript; there is none.
//! Layout: a skip link, the site header with navigation for the caller's roles, the
//! language switch and sign-out, then the page's own content in `<main>`.

pub mod account;
pub mod admin;
pub mod applications;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod committee;
pub mod datasets;
pub mod home;
pub mod linkage;
pub mod outputs;
pub mod projects;
pub mod review;
pub mod workspace;

use crate::context::RequestContext;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use maud::{DOCTYPE, Markup, html};
use renkei_core::{Permission, Timestamp};

/// The stylesheet (embedded in the binary).
pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/style.css"),
    )
}

/// Wraps page content in the site layout.
pub(crate) fn layout(ctx: &RequestContext, title: &str, body: Markup) -> Markup {
    let other = match ctx.lang {
        crate::i18n::Lang::Ja => ("en", "English"),
        crate::i18n::Lang::En => ("ja", "日本語"),
    };
    let next = url::form_urlencoded::byte_serialize(ctx.path.as_bytes()).collect::<String>();
    let has = |p: Permission| ctx.signed_in() && ctx.roles().iter().any(|r| r.has(p));
    html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — " (ctx.t("site.name")) }
                link rel="stylesheet" href="/static/style.css";
            }
            body {
                a.skip href="#main" { (ctx.t("nav.skip")) }
                header.site {
                    a.brand href=(if ctx.signed_in() { "/home" } else { "/" }) { (ctx.t("site.name")) }
                    nav aria-label=(ctx.t("nav.label")) {
                        ul {
                            @if ctx.signed_in() {
                                li { a href="/home" { (ctx.t("nav.home")) } }
                                li { a href="/catalog" { (ctx.t("nav.catalog")) } }
                                @if has(Permission::Apply) { li { a href="/applications" { (ctx.t("nav.applications")) } } }
                                @if has(Permission::Apply) || has(Permission::ManageReview) || has(Permission::ReadAudit) { li { a href="/projects" { (ctx.t("nav.projects")) } } }
                                @if has(Permission::ManageReview) { li { a href="/review" { (ctx.t("nav.review")) } } }
                                @if has(Permission::Review) { li { a href="/committee" { (ctx.t("nav.committee")) } } }
                                @if has(Permission::ManageDatasets) { li { a href="/custody" { (ctx.t("nav.custody")) } } }
                                @if has(Permission::ManageDatasets) { li { a href="/datasets" { (ctx.t("nav.datasets")) } } }
                                @if has(Permission::ManageLinkage) { li { a href="/linkage" { (ctx.t("nav.linkage")) } } }
                                @if has(Permission::ManageUsers) { li { a href="/admin/users" { (ctx.t("nav.users")) } } }
                                @if has(Permission::ReadAudit) { li { a href="/audit" { (ctx.t("nav.audit")) } } }
                                li { a href="/account" { (ctx.t("nav.account")) } }
                            } @else if ctx.session.is_none() {
                                li { a href="/catalog" { (ctx.t("nav.catalog")) } }
                                li { a href="/register" { (ctx.t("nav.register")) } }
                                li { a href="/login" { (ctx.t("nav.sign_in")) } }
                            }
                        }
                    }
                    div.tools {
                        a href=(format!("/lang/{}?next={next}", other.0)) lang=(other.0) hreflang=(other.0) { (other.1) }
                        @if let Some(s) = &ctx.session {
                            span.who { (s.user.display_name) " (" (s.user.username) ")" }
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(ctx.csrf);
                                button type="submit" { (ctx.t("nav.sign_out")) }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                footer.site { p { (ctx.t("site.footer")) } }
            }
        }
    }
}

/// The public landing page.
pub async fn landing(ctx: RequestContext) -> Markup {
    layout(
        &ctx,
        ctx.t("landing.title"),
        html! {
            p.lead { (ctx.t("landing.lead")) }
            ul.points {
                li { (ctx.t("landing.point1")) }
                li { (ctx.t("landing.point2")) }
                li { (ctx.t("landing.point3")) }
                li { (ctx.t("landing.point4")) }
            }
            @if ctx.signed_in() {
                p { a.button href="/home" { (ctx.t("nav.home")) } }
            } @else {
                p { a.button href="/login" { (ctx.t("nav.sign_in")) } }
            }
        },
    )
}

/// An error page: what happened, in the caller's language, with the request id to quote.
pub(crate) fn error_page(
    ctx: &RequestContext,
    status: StatusCode,
    code: &str,
    message: &str,
    detail: Option<&str>,
) -> Markup {
    layout(
        ctx,
        ctx.t("error.title"),
        html! {
            div.alert role="alert" {
                p { strong { (message) } }
                @if let Some(d) = detail { p { (d) } }
            }
            dl.meta {
                dt { (ctx.t("error.status")) } dd { (status.as_u16()) }
                dt { (ctx.t("error.code")) } dd { code { (code) } }
                dt { (ctx.t("error.request_id")) } dd { code { (ctx.request_id) } }
            }
            p { a href=(if ctx.signed_in() { "/home" } else { "/" }) { (ctx.t("error.back")) } }
        },
    )
}

/// A timestamp as Japan time, e.g. `2026-11-25 12:04:05 JST`.
pub(crate) fn jst(t: Timestamp) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(t.secs())
        .map(|d| d.to_offset(time::macros::offset!(+9)))
        .ok()
        .and_then(|d| d.format(&fmt).ok())
        .map(|s| format!("{s} JST"))
        .unwrap_or_default()
}

/// `?done=` after a successful change: which notice to show.
#[derive(serde::Deserialize, Default)]
pub struct Done {
    pub(crate) done: Option<String>,
}

/// The last page number a list answers (beyond it, nothing is there anyway).
pub(crate) const MAX_PAGE: i64 = 1_000_000;

/// `?page=` of a long list (from 0).
#[derive(serde::Deserialize, Default)]
pub struct PageQuery {
    pub(crate) page: Option<i64>,
}

/// Where a page of a list is, and links to the pages beside it.
pub(crate) fn pager(ctx: &RequestContext, path: &str, page: i64, per: i64, total: i64) -> Markup {
    let first = page.saturating_mul(per).saturating_add(1);
    let last = page.saturating_add(1).saturating_mul(per).min(total);
    html! {
        @if total > per {
            nav.pager aria-label=(ctx.t("pager.label")) {
                p { (first) "–" (last) " / " (total) }
                @if page > 0 { a href=(format!("{path}?page={}", page - 1)) rel="prev" { (ctx.t("pager.prev")) } " " }
                @if last < total { a href=(format!("{path}?page={}", page + 1)) rel="next" { (ctx.t("pager.next")) } }
            }
        }
    }
}

/// A hidden CSRF field for a form.
pub(crate) fn csrf_field(ctx: &RequestContext) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

/// An inline notice.
pub(crate) fn notice(kind: &str, text: &str) -> Markup {
    let role = if kind == "error" { "alert" } else { "status" };
    html! { div class=(format!("notice {kind}")) role=(role) { (text) } }
}

/// The code masters a dataset version was checked against: (name, file, published,
/// SHA-256) per version.
pub(crate) fn masters_table<'a>(
    ctx: &RequestContext,
    masters: impl Iterator<Item = (&'a str, &'a str, Option<&'a str>, &'a str)>,
) -> Markup {
    html! {
        div.scroll { table {
            caption.visually-hidden { (ctx.t("catalog.masters")) }
            thead { tr {
                th scope="col" { (ctx.t("catalog.master")) }
                th scope="col" { (ctx.t("catalog.master_file")) }
                th scope="col" { (ctx.t("catalog.master_published")) }
                th scope="col" { "SHA-256" }
            } }
            tbody { @for (name, source, published, sha) in masters {
                tr {
                    td { (name) }
                    td { @if source == "embedded" { (ctx.t("catalog.master_embedded")) } @else { code { (source) } } }
                    td { (published.unwrap_or("—")) }
                    td { small { code { (sha.get(..16).unwrap_or(sha)) "…" } } }
                }
            } }
        } }
    }
}
