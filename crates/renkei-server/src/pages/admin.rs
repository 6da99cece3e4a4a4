//! User and role administration.

use super::{Done, csrf_field, jst, layout, notice};
use crate::context::RequestContext;
use crate::form::FormData;
use crate::i18n::{role_name, t};
use crate::{AppError, AppState};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use renkei_accounts::{AccountError, User, UserStatus};
use renkei_core::{Role, UserId};

async fn roles_from(
    st: &AppState,
    ctx: &RequestContext,
    action: renkei_core::Action,
    form: &FormData,
) -> Result<Vec<Role>, AppError> {
    let mut roles = Vec::new();
    for r in form.all("role") {
        match Role::parse(r) {
            Some(role) => roles.push(role),
            None => {
                return Err(crate::error::refuse(
                    st,
                    ctx,
                    action,
                    "roles",
                    format!("unknown role {r:?}"),
                )
                .await);
            }
        }
    }
    Ok(roles)
}

fn status_text(ctx: &RequestContext, u: &User, now: renkei_core::Timestamp) -> &'static str {
    if u.status == UserStatus::Disabled {
        ctx.t("admin.status_disabled")
    } else if u.locked_until > now {
        ctx.t("admin.status_locked")
    } else {
        ctx.t("admin.status_active")
    }
}

fn role_boxes(ctx: &RequestContext, checked: &[Role], prefix: &str) -> Markup {
    html! {
        fieldset.roles {
            legend { (ctx.t("admin.roles")) }
            @for r in Role::ALL {
                @let id = format!("{prefix}-{}", r.code());
                div.check {
                    input type="checkbox" name="role" value=(r.code()) id=(id) checked[checked.contains(&r)];
                    label for=(id) { (role_name(ctx.lang, r)) }
                }
            }
        }
    }
}

async fn users_page(
    st: &AppState,
    ctx: &RequestContext,
    message: Option<Markup>,
    prefill: (&str, &str),
) -> Result<Markup, AppError> {
    let admin = st.app.accounts.admin(&ctx.caller).await?;
    let users = admin.list_users().await?;
    let requests = admin.pending_role_requests().await?;
    let now = st.app.clock.now();
    Ok(layout(
        ctx,
        ctx.t("admin.users_title"),
        html! {
            @if let Some(m) = message { (m) }
            table {
                caption.visually-hidden { (ctx.t("admin.users_title")) }
                thead { tr {
                    th scope="col" { (ctx.t("account.username")) }
                    th scope="col" { (ctx.t("account.display_name")) }
                    th scope="col" { (ctx.t("admin.roles")) }
                    th scope="col" { (ctx.t("account.mfa")) }
                    th scope="col" { (ctx.t("admin.status")) }
                } }
                tbody {
                    @for u in &users {
                        tr {
                            td { a href=(format!("/admin/users/{}", u.id)) { (u.username) } }
                            td { (u.display_name) }
                            td { @for (i, r) in u.roles.iter().enumerate() { @if i > 0 { "、" } (role_name(ctx.lang, *r)) } }
                            td { (ctx.t(if u.mfa_enrolled { "account.mfa_on" } else { "account.mfa_off" })) }
                            td { (status_text(ctx, u, now)) }
                        }
                    }
                }
            }
            section aria-labelledby="new-user" {
                h2 #new-user { (ctx.t("admin.new_user")) }
                form.card method="post" action="/admin/users" {
                    (csrf_field(ctx))
                    div.field {
                        label for="username" { (ctx.t("account.username")) }
                        input #username name="username" type="text" required pattern="[a-z][a-z0-9._\\-]{2,63}" value=(prefill.0)
                            autocapitalize="none" spellcheck="false" aria-describedby="username-help";
                        p.help #username-help { (ctx.t("admin.username_rules")) }
                    }
                    div.field {
                        label for="display_name" { (ctx.t("account.display_name")) }
                        input #display_name name="display_name" type="text" required maxlength="100" value=(prefill.1);
                    }
                    p.help { (ctx.t("admin.invite_help")) }
                    (role_boxes(ctx, &[], "new"))
                    button type="submit" { (ctx.t("admin.create")) }
                }
            }
            @if !requests.is_empty() {
                section aria-labelledby="requests" {
                    h2 #requests { (ctx.t("admin.requests")) }
                    p { (ctx.t("admin.requests_help")) }
                    table {
                        caption.visually-hidden { (ctx.t("admin.requests")) }
                        thead { tr {
                            th scope="col" { (ctx.t("account.username")) }
                            th scope="col" { (ctx.t("admin.roles")) }
                            th scope="col" { (ctx.t("admin.requested_by")) }
                            th scope="col" { span.visually-hidden { (ctx.t("admin.decide")) } }
                        } }
                        tbody {
                            @for r in &requests {
                                tr {
                                    td { a href=(format!("/admin/users/{}", r.user_id)) { (r.username) } }
                                    td { @for (i, role) in r.roles.iter().enumerate() { @if i > 0 { "、" } (role_name(ctx.lang, *role)) } }
                                    td { (r.requested_by) " " (jst(r.requested_at)) }
                                    td {
                                        form.inline method="post" action=(format!("/admin/role-requests/{}/approve", r.id)) {
                                            (csrf_field(ctx))
                                            button type="submit" { (ctx.t("admin.approve")) }
                                        }
                                        form.inline method="post" action=(format!("/admin/role-requests/{}/reject", r.id)) {
                                            (csrf_field(ctx))
                                            button.danger type="submit" { (ctx.t("admin.reject")) }
                                        }
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

/// The page that shows an enrolment link, once.
fn link_page(
    st: &AppState,
    ctx: &RequestContext,
    u: &User,
    link: &renkei_accounts::Invitation,
    pending: bool,
) -> Markup {
    let base = st.app.config.public_url.clone().unwrap_or_default();
    let url = format!("{}/enrol/{}", base.trim_end_matches('/'), link.token);
    layout(
        ctx,
        &format!("{} {}", t(ctx.lang, "admin.user_title"), u.username),
        html! {
            div.notice.ok role="status" {
                p { (ctx.t("admin.link_once")) }
                p { code.secret { (url) } }
                p { (ctx.t("admin.link_expires")) " " (jst(link.expires_at)) }
            }
            @if pending { (notice("info", ctx.t("admin.roles_pending"))) }
            p { a href=(format!("/admin/users/{}", u.id)) { (ctx.t("admin.to_user")) } }
            p { a href="/admin/users" { (ctx.t("admin.back")) } }
        },
    )
}

/// GET /admin/users
pub async fn users(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(q): Query<Done>,
) -> Result<Markup, AppError> {
    let msg = q
        .done
        .as_deref()
        .filter(|d| ["approved", "rejected"].contains(d))
        .map(|d| notice("ok", ctx.t(&format!("admin.done.{d}"))));
    users_page(&st, &ctx, msg, ("", "")).await
}

/// POST /admin/users — invites: the new user gets a single-use link to set their own
/// password and authenticator.
pub async fn create_user(
    State(st): State<AppState>,
    ctx: RequestContext,
    form: FormData,
) -> Result<Response, AppError> {
    let roles = roles_from(&st, &ctx, renkei_core::Action::UserCreate, &form).await?;
    let username = form.get("username").unwrap_or("").trim();
    let display = form.get("display_name").unwrap_or("");
    let admin = st.app.accounts.admin(&ctx.caller).await?;
    match admin.invite(username, display, &roles).await {
        Ok((u, link, pending)) => Ok((
            axum::http::StatusCode::CREATED,
            link_page(&st, &ctx, &u, &link, pending.is_some()),
        )
            .into_response()),
        Err(e) if e.is_client_error() => {
            let status = crate::error::kind_status(renkei_core::Coded::kind(&e));
            let m = notice("error", &crate::i18n::error_message(ctx.lang, e.code()));
            Ok((
                status,
                users_page(&st, &ctx, Some(m), (username, display)).await?,
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// POST /admin/role-requests/{id}/approve
pub async fn approve_request(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    decide(&st, &ctx, &id, true).await
}

/// POST /admin/role-requests/{id}/reject
pub async fn reject_request(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    decide(&st, &ctx, &id, false).await
}

async fn decide(
    st: &AppState,
    ctx: &RequestContext,
    id: &str,
    approve: bool,
) -> Result<Response, AppError> {
    let admin = st.app.accounts.admin(&ctx.caller).await?;
    match admin.decide_role_request(id, approve).await {
        Ok(_) => Ok(Redirect::to(if approve {
            "/admin/users?done=approved"
        } else {
            "/admin/users?done=rejected"
        })
        .into_response()),
        Err(e) if e.is_client_error() => {
            let status = crate::error::kind_status(renkei_core::Coded::kind(&e));
            let m = notice("error", &crate::i18n::error_message(ctx.lang, e.code()));
            Ok((status, users_page(st, ctx, Some(m), ("", "")).await?).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn load(st: &AppState, ctx: &RequestContext, id: &str) -> Result<User, AppError> {
    match st
        .app
        .accounts
        .admin(&ctx.caller)
        .await?
        .user(&UserId::from_stored(id.to_owned()))
        .await
    {
        Ok(u) => Ok(u),
        Err(AccountError::NoSuchUser) => Err(AppError::NotFound),
        Err(e) => Err(e.into()),
    }
}

fn user_page(st: &AppState, ctx: &RequestContext, u: &User, message: Option<Markup>) -> Markup {
    let now = st.app.clock.now();
    let base = format!("/admin/users/{}", u.id);
    layout(
        ctx,
        &format!("{} {}", t(ctx.lang, "admin.user_title"), u.username),
        html! {
            @if let Some(m) = message { (m) }
            dl.meta {
                dt { (ctx.t("account.display_name")) } dd { (u.display_name) }
                dt { (ctx.t("admin.status")) } dd { (status_text(ctx, u, now)) }
                @if u.locked_until > now { dt { (ctx.t("admin.locked_until")) } dd { (jst(u.locked_until)) } }
                dt { (ctx.t("account.mfa")) } dd { (ctx.t(if u.mfa_enrolled { "account.mfa_on" } else { "account.mfa_off" })) }
                dt { (ctx.t("admin.created_at")) } dd { (jst(u.created_at)) }
                dt { "ID" } dd { code { (u.id) } }
            }
            form.card method="post" action=(format!("{base}/roles")) {
                (csrf_field(ctx))
                (role_boxes(ctx, &u.roles, "edit"))
                button type="submit" { (ctx.t("admin.save_roles")) }
            }
            div.actions-row {
                @if u.status == UserStatus::Active {
                    form.inline method="post" action=(format!("{base}/disable")) {
                        (csrf_field(ctx))
                        button.danger type="submit" { (ctx.t("admin.disable")) }
                    }
                } @else {
                    form.inline method="post" action=(format!("{base}/enable")) {
                        (csrf_field(ctx))
                        button type="submit" { (ctx.t("admin.enable")) }
                    }
                }
                form.inline method="post" action=(format!("{base}/reset-mfa")) {
                    (csrf_field(ctx))
                    button type="submit" aria-describedby="reset-help" { (ctx.t("admin.reset_mfa")) }
                }
            }
            p.help #reset-help { (ctx.t("admin.reset_help")) }
            p { a href="/admin/users" { (ctx.t("admin.back")) } }
        },
    )
}

/// GET /admin/users/{id}
pub async fn user(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> Result<Markup, AppError> {
    let u = load(&st, &ctx, &id).await?;
    let msg = q
        .done
        .as_deref()
        .filter(|d| ["roles", "roles_pending", "disabled", "enabled"].contains(d))
        .map(|d| notice("ok", ctx.t(&format!("admin.done.{d}"))));
    Ok(user_page(&st, &ctx, &u, msg))
}

async fn change(
    st: &AppState,
    ctx: &RequestContext,
    id: &str,
    done: &str,
    result: Result<User, AccountError>,
) -> Result<Response, AppError> {
    match result {
        Ok(u) => Ok(Redirect::to(&format!("/admin/users/{}?done={done}", u.id)).into_response()),
        Err(AccountError::NoSuchUser) => Err(AppError::NotFound),
        Err(e) if e.is_client_error() => {
            let u = load(st, ctx, id).await?;
            let status = crate::error::kind_status(renkei_core::Coded::kind(&e));
            let m = notice("error", &crate::i18n::error_message(ctx.lang, e.code()));
            Ok((status, user_page(st, ctx, &u, Some(m))).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// POST /admin/users/{id}/roles
pub async fn set_roles(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, AppError> {
    let roles = roles_from(&st, &ctx, renkei_core::Action::UserRoles, &form).await?;
    let r = st
        .app
        .accounts
        .admin(&ctx.caller)
        .await?
        .change_roles(&UserId::from_stored(id.clone()), &roles)
        .await;
    match r {
        Ok(renkei_accounts::RoleChange::Applied(u)) => change(&st, &ctx, &id, "roles", Ok(u)).await,
        Ok(renkei_accounts::RoleChange::Pending { .. }) => {
            Ok(Redirect::to(&format!("/admin/users/{id}?done=roles_pending")).into_response())
        }
        Err(e) => change(&st, &ctx, &id, "roles", Err(e)).await,
    }
}

/// POST /admin/users/{id}/disable
pub async fn disable(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let r = st
        .app
        .accounts
        .admin(&ctx.caller)
        .await?
        .set_status(&UserId::from_stored(id.clone()), UserStatus::Disabled)
        .await;
    change(&st, &ctx, &id, "disabled", r).await
}

/// POST /admin/users/{id}/enable
pub async fn enable(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let r = st
        .app
        .accounts
        .admin(&ctx.caller)
        .await?
        .set_status(&UserId::from_stored(id.clone()), UserStatus::Active)
        .await;
    change(&st, &ctx, &id, "enabled", r).await
}

/// POST /admin/users/{id}/reset-mfa — resets access: both factors cleared, sessions
/// and tokens ended, a new enrolment link shown once.
pub async fn reset_mfa(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let uid = UserId::from_stored(id.clone());
    let admin = st.app.accounts.admin(&ctx.caller).await?;
    match admin.reset_access(&uid).await {
        Ok(link) => {
            let u = load(&st, &ctx, &id).await?;
            Ok(link_page(&st, &ctx, &u, &link, false).into_response())
        }
        Err(e) => change(&st, &ctx, &id, "mfa_reset", Err(e)).await,
    }
}
