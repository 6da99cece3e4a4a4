//! The caller's own account: profile, password, API tokens.

use super::{Done, csrf_field, jst, layout, notice};
use crate::context::RequestContext;
use crate::form::FormData;
use crate::{AppError, AppState};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use renkei_accounts::{AccountError, Session};

fn session(ctx: &RequestContext) -> Result<&Session, AppError> {
    ctx.session.as_ref().ok_or(AppError::internal("no session"))
}

async fn page(
    st: &AppState,
    ctx: &RequestContext,
    message: Option<Markup>,
) -> Result<Markup, AppError> {
    let s = session(ctx)?;
    let u = &s.user;
    let tokens = st.app.accounts.list_api_tokens(&ctx.caller).await?;
    let now = st.app.clock.now();
    let max_days = renkei_accounts::token_max_days(&u.roles);
    // Projects whose workspace a token may be limited to: those the caller is named on.
    let me = u.id.as_str().to_owned();
    let projects: Vec<(String, String)> = st
        .app
        .applications
        .projects(&ctx.caller)
        .await?
        .into_iter()
        .filter(|p| p.closed.is_none() && p.permit.names(&me))
        .map(|p| (p.permit.project, p.permit.title))
        .collect();
    Ok(layout(
        ctx,
        ctx.t("account.title"),
        html! {
            @if let Some(m) = message { (m) }
            section aria-labelledby="profile" {
                h2 #profile { (ctx.t("account.profile")) }
                dl.meta {
                    dt { (ctx.t("account.username")) } dd { (u.username) }
                    dt { (ctx.t("account.display_name")) } dd { (u.display_name) }
                    dt { (ctx.t("account.roles")) } dd {
                        @for (i, r) in u.roles.iter().enumerate() {
                            @if i > 0 { "、" }
                            (crate::i18n::role_name(ctx.lang, *r))
                        }
                    }
                    dt { (ctx.t("account.mfa")) } dd { (ctx.t(if u.mfa_enrolled { "account.mfa_on" } else { "account.mfa_off" })) }
                    dt { (ctx.t("account.session_expires")) } dd { (jst(s.expires_at)) }
                }
            }
            section aria-labelledby="password" {
                h2 #password { (ctx.t("account.password")) }
                form.card method="post" action="/account/password" {
                    (csrf_field(ctx))
                    div.field {
                        label for="current" { (ctx.t("account.current_password")) }
                        input #current name="current" type="password" autocomplete="current-password" required;
                    }
                    div.field {
                        label for="new" { (ctx.t("account.new_password")) }
                        input #new name="new" type="password" autocomplete="new-password" minlength="12" required aria-describedby="pw-help";
                        p.help #pw-help { (ctx.t("password.rules")) }
                    }
                    div.field {
                        label for="confirm" { (ctx.t("account.confirm_password")) }
                        input #confirm name="confirm" type="password" autocomplete="new-password" minlength="12" required;
                    }
                    button type="submit" { (ctx.t("account.change_password")) }
                }
            }
            section aria-labelledby="tokens" {
                h2 #tokens { (ctx.t("account.tokens")) }
                p { (ctx.t("account.tokens_intro")) }
                @if tokens.is_empty() {
                    p.empty { (ctx.t("account.no_tokens")) }
                } @else {
                    table {
                        caption.visually-hidden { (ctx.t("account.tokens")) }
                        thead { tr {
                            th scope="col" { (ctx.t("account.token_name")) }
                            th scope="col" { (ctx.t("account.token_created")) }
                            th scope="col" { (ctx.t("account.token_expires")) }
                            th scope="col" { (ctx.t("account.token_last_used")) }
                            th scope="col" { (ctx.t("account.token_scope")) }
                            th scope="col" { (ctx.t("account.token_status")) }
                            th scope="col" { span.visually-hidden { (ctx.t("account.token_revoke")) } }
                        } }
                        tbody {
                            @for t in &tokens {
                                @let active = t.revoked_at.is_none() && t.expires_at > now;
                                tr {
                                    td { (t.name) }
                                    td { (jst(t.created_at)) }
                                    td { (jst(t.expires_at)) }
                                    td { @if let Some(l) = t.last_used_at { (jst(l)) } @else { "—" } }
                                    td {
                                        @match t.scope.strip_prefix("project:") {
                                            Some(p) => { (ctx.t("account.token_scope_project")) " " code { (p) } }
                                            None => { (ctx.t(if t.scope == "all" { "account.token_scope_all" } else { "account.token_scope_read_only" })) }
                                        }
                                    }
                                    td { (ctx.t(if t.revoked_at.is_some() { "account.token_revoked" } else if active { "account.token_active" } else { "account.token_expired" })) }
                                    td {
                                        @if t.revoked_at.is_none() {
                                            form.inline method="post" action=(format!("/account/tokens/{}/revoke", t.id)) {
                                                (csrf_field(ctx))
                                                button type="submit" aria-label=(format!("{} {}", ctx.t("account.token_revoke"), t.name)) { (ctx.t("account.token_revoke")) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                form.card method="post" action="/account/tokens" {
                    (csrf_field(ctx))
                    div.field {
                        label for="token-name" { (ctx.t("account.token_name")) }
                        input #token-name name="name" type="text" maxlength="100" required;
                    }
                    div.field {
                        label for="token-days" { (ctx.t("account.token_days")) }
                        input #token-days name="days" type="number" min="1" max=(max_days) value=(max_days.min(30)) required;
                    }
                    div.field {
                        label for="token-scope" { (ctx.t("account.token_scope")) }
                        select #token-scope name="scope" {
                            option value="read_only" selected { (ctx.t("account.token_scope_read_only")) }
                            option value="all" { (ctx.t("account.token_scope_all")) }
                            @for (id, title) in &projects {
                                option value=(format!("project:{id}")) { (ctx.t("account.token_scope_project")) ": " (title) }
                            }
                        }
                    }
                    div.field {
                        label for="token-password" { (ctx.t("account.token_password")) }
                        input #token-password name="password" type="password" autocomplete="current-password" required;
                    }
                    button type="submit" { (ctx.t("account.token_create")) }
                }
            }
        },
    ))
}

/// GET /account
pub async fn account(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(q): Query<Done>,
) -> Result<Markup, AppError> {
    let msg = match q.done.as_deref() {
        Some("password") => Some(notice("ok", ctx.t("account.password_changed"))),
        Some("revoked") => Some(notice("ok", ctx.t("account.token_revoked_done"))),
        _ => None,
    };
    page(&st, &ctx, msg).await
}

/// POST /account/password
pub async fn change_password(
    State(st): State<AppState>,
    ctx: RequestContext,
    form: FormData,
) -> Result<Response, AppError> {
    let s = session(&ctx)?;
    let new = form.get("new").unwrap_or("");
    if new != form.get("confirm").unwrap_or("") {
        let m = notice("error", ctx.t("account.password_mismatch"));
        return Ok((StatusCode::BAD_REQUEST, page(&st, &ctx, Some(m)).await?).into_response());
    }
    match st
        .app
        .accounts
        .change_own_password(&ctx.caller, s, form.get("current").unwrap_or(""), new)
        .await
    {
        Ok(()) => Ok(Redirect::to("/account?done=password").into_response()),
        Err(e) if e.is_client_error() => {
            let status = crate::error::kind_status(renkei_core::Coded::kind(&e));
            let m = notice("error", &crate::i18n::error_message(ctx.lang, e.code()));
            Ok((status, page(&st, &ctx, Some(m)).await?).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// POST /account/tokens — shows the new token once.
pub async fn create_token(
    State(st): State<AppState>,
    ctx: RequestContext,
    form: FormData,
) -> Result<Response, AppError> {
    let s = session(&ctx)?;
    let Ok(days) = form.get("days").unwrap_or("30").trim().parse::<i64>() else {
        let object = format!("user:{}", s.user.id);
        return Err(crate::error::refuse(
            &st,
            &ctx,
            renkei_core::Action::TokenCreate,
            &object,
            "days: a whole number".into(),
        )
        .await);
    };
    let scope = renkei_core::TokenScope::parse(form.get("scope").unwrap_or("read_only"))
        .unwrap_or(renkei_core::TokenScope::ReadOnly);
    // A token limited to a project is made only for one whose permit names the caller
    // today (refused and audited otherwise).
    if let renkei_core::TokenScope::Project(p) = &scope {
        st.app.applications.in_force(&ctx.caller, p).await?;
    }
    match st
        .app
        .accounts
        .create_api_token(
            &ctx.caller,
            form.get("name").unwrap_or(""),
            days,
            scope,
            form.get("password").unwrap_or(""),
        )
        .await
    {
        Ok((info, value)) => {
            let m = html! {
                div.notice.ok role="status" {
                    p { (ctx.t("account.token_created_once")) " " strong { (info.name) } }
                    p { code.secret { (value) } }
                }
            };
            Ok((StatusCode::CREATED, page(&st, &ctx, Some(m)).await?).into_response())
        }
        Err(e) if e.is_client_error() => {
            let detail = match &e {
                AccountError::Invalid(d) => d.clone(),
                other => crate::i18n::error_message(ctx.lang, other.code()),
            };
            Ok((
                StatusCode::BAD_REQUEST,
                page(&st, &ctx, Some(notice("error", &detail))).await?,
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// POST /account/tokens/{id}/revoke
pub async fn revoke_token(
    State(st): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match st.app.accounts.revoke_api_token(&ctx.caller, &id).await {
        Ok(()) => Ok(Redirect::to("/account?done=revoked").into_response()),
        Err(AccountError::Invalid(_)) => Err(AppError::NotFound),
        Err(e) => Err(e.into()),
    }
}
