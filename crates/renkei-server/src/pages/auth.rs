//! Sign-in, the second factor (enrolment and challenge), sign-out, language.

use super::{csrf_field, layout, notice};
use crate::context::{LANG_COOKIE, RequestContext, SESSION_COOKIE, cookie, removal};
use crate::form::FormData;
use crate::i18n::Lang;
use crate::{AppError, AppState};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::Engine as _;
use maud::{Markup, html};
use renkei_accounts::AccountError;
use renkei_core::role::AuthLevel;
use serde::Deserialize;

/// `?next=` (where to go after signing in) and `?reason=` (why we are here).
#[derive(Deserialize, Default)]
pub struct Back {
    next: Option<String>,
    reason: Option<String>,
}

/// Only same-site absolute paths; anything else (`//evil`, `https://...`) goes home.
fn safe_next(next: Option<&str>) -> String {
    // A whitelist: browsers strip tabs and newlines from URLs and read `\` as `/`, so
    // a blacklist lets `/\t/evil.example` through as `//evil.example`.
    let path_char = |c: char| c.is_ascii_alphanumeric() || "/-._~%?=&".contains(c);
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && n.chars().all(path_char) => {
            n.to_owned()
        }
        _ => "/home".to_owned(),
    }
}

fn with_next(path: &str, next: &str) -> String {
    if next == "/home" {
        path.to_owned()
    } else {
        format!(
            "{path}?next={}",
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        )
    }
}

fn login_page(ctx: &RequestContext, next: &str, username: &str, message: Option<Markup>) -> Markup {
    layout(
        ctx,
        ctx.t("login.title"),
        html! {
            @if let Some(m) = message { (m) }
            form.card method="post" action="/login" {
                (csrf_field(ctx))
                input type="hidden" name="next" value=(next);
                div.field {
                    label for="username" { (ctx.t("login.username")) }
                    input #username name="username" type="text" autocomplete="username" required autofocus value=(username)
                        autocapitalize="none" spellcheck="false";
                }
                div.field {
                    label for="password" { (ctx.t("login.password")) }
                    input #password name="password" type="password" autocomplete="current-password" required;
                }
                button type="submit" { (ctx.t("login.submit")) }
            }
            p.hint { (ctx.t("login.hint")) }
        },
    )
}

/// GET /login
pub async fn login_form(ctx: RequestContext, Query(q): Query<Back>) -> Response {
    let next = safe_next(q.next.as_deref());
    if ctx.signed_in() {
        return Redirect::to(&next).into_response();
    }
    let message = q.reason.as_deref().map(|r| match r {
        "signed_out" => notice("info", ctx.t("login.signed_out")),
        _ => notice("warn", ctx.t("login.session_ended")),
    });
    login_page(&ctx, &next, "", message).into_response()
}

/// POST /login
pub async fn login(
    State(st): State<AppState>,
    ctx: RequestContext,
    jar: CookieJar,
    form: FormData,
) -> Result<Response, AppError> {
    let next = safe_next(form.get("next"));
    let username = form.get("username").unwrap_or("").trim().to_owned();
    let password = form.get("password").unwrap_or("");
    match st
        .app
        .accounts
        .sign_in_password(&ctx.caller, &username, password, &ctx.user_agent)
        .await
    {
        Ok(signin) => {
            let to = if signin.user.mfa_enrolled {
                "/mfa"
            } else {
                "/mfa/enrol"
            };
            let jar = jar.add(cookie(
                SESSION_COOKIE,
                signin.token,
                st.app.config.cookie_secure(),
            ));
            Ok((jar, Redirect::to(&with_next(to, &next))).into_response())
        }
        Err(e) if e.is_client_error() => {
            let msg = crate::i18n::error_message(ctx.lang, e.code());
            let code = crate::error::kind_status(renkei_core::Coded::kind(&e));
            Ok((
                code,
                login_page(&ctx, &next, &username, Some(notice("error", &msg))),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// GET /lang/{ja|en}?next=...
pub async fn set_lang(
    State(st): State<AppState>,
    jar: CookieJar,
    Path(lang): Path<String>,
    Query(q): Query<Back>,
) -> Result<Response, AppError> {
    let lang = Lang::parse(&lang).ok_or(AppError::NotFound)?;
    let next = match q.next.as_deref() {
        Some(n) => safe_next(Some(n)),
        None => "/".to_owned(),
    };
    let c = Cookie::build((LANG_COOKIE, lang.code().to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(st.app.config.cookie_secure())
        .max_age(time::Duration::days(365))
        .build();
    Ok((jar.add(c), Redirect::to(&next)).into_response())
}

fn enrol_page(
    ctx: &RequestContext,
    secret: &str,
    url: &str,
    next: &str,
    message: Option<Markup>,
) -> Markup {
    let qr = qrcode::QrCode::new(url.as_bytes())
        .map(|q| {
            q.render::<qrcode::render::svg::Color>()
                .min_dimensions(220, 220)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default();
    let qr_uri = format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(qr)
    );
    let grouped = secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    layout(
        ctx,
        ctx.t("enrol.title"),
        html! {
            @if let Some(m) = message { (m) }
            p { (ctx.t("enrol.intro")) }
            ol.steps {
                li { (ctx.t("enrol.step1")) }
                li {
                    (ctx.t("enrol.step2"))
                    figure.qr {
                        img src=(qr_uri) width="220" height="220" alt=(ctx.t("enrol.qr_alt"));
                        figcaption {
                            (ctx.t("enrol.secret_label")) " "
                            code.secret { (grouped) }
                        }
                    }
                }
                li { (ctx.t("enrol.step3")) }
            }
            form.card method="post" action="/mfa/enrol" {
                (csrf_field(ctx))
                input type="hidden" name="next" value=(next);
                div.field {
                    label for="code" { (ctx.t("mfa.code")) }
                    input #code name="code" type="text" inputmode="numeric" pattern="[0-9 ]{6,7}" maxlength="7"
                        autocomplete="one-time-code" required autofocus;
                }
                button type="submit" { (ctx.t("enrol.submit")) }
            }
        },
    )
}

/// GET /mfa/enrol
pub async fn enrol_form(
    State(st): State<AppState>,
    ctx: RequestContext,
    Query(q): Query<Back>,
) -> Result<Response, AppError> {
    let next = safe_next(q.next.as_deref());
    let Some(s) = &ctx.session else {
        return Err(AppError::internal("no session"));
    };
    if s.user.mfa_enrolled {
        return Ok(Redirect::to(if s.level == AuthLevel::Full {
            "/home"
        } else {
            "/mfa"
        })
        .into_response());
    }
    let e = st.app.accounts.begin_enrolment(&ctx.caller, s).await?;
    Ok(enrol_page(&ctx, &e.secret_base32, &e.otpauth_url, &next, None).into_response())
}

/// POST /mfa/enrol
pub async fn enrol(
    State(st): State<AppState>,
    ctx: RequestContext,
    jar: CookieJar,
    form: FormData,
) -> Result<Response, AppError> {
    let next = safe_next(form.get("next"));
    let Some(s) = &ctx.session else {
        return Err(AppError::internal("no session"));
    };
    match st
        .app
        .accounts
        .confirm_enrolment(&ctx.caller, s, form.get("code").unwrap_or(""))
        .await
    {
        Ok(token) => {
            let jar = jar.add(cookie(SESSION_COOKIE, token, st.app.config.cookie_secure()));
            Ok((jar, Redirect::to(&next)).into_response())
        }
        Err(e @ (AccountError::BadTotp | AccountError::Locked { .. })) => {
            let en = st.app.accounts.begin_enrolment(&ctx.caller, s).await?;
            let msg = notice("error", &crate::i18n::error_message(ctx.lang, e.code()));
            Ok((
                StatusCode::UNAUTHORIZED,
                enrol_page(&ctx, &en.secret_base32, &en.otpauth_url, &next, Some(msg)),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

fn challenge_page(ctx: &RequestContext, next: &str, message: Option<Markup>) -> Markup {
    layout(
        ctx,
        ctx.t("mfa.title"),
        html! {
            @if let Some(m) = message { (m) }
            p { (ctx.t("mfa.intro")) }
            form.card method="post" action="/mfa" {
                (csrf_field(ctx))
                input type="hidden" name="next" value=(next);
                div.field {
                    label for="code" { (ctx.t("mfa.code")) }
                    input #code name="code" type="text" inputmode="numeric" pattern="[0-9 ]{6,7}" maxlength="7"
                        autocomplete="one-time-code" required autofocus;
                }
                button type="submit" { (ctx.t("mfa.submit")) }
            }
        },
    )
}

/// GET /mfa
pub async fn challenge_form(ctx: RequestContext, Query(q): Query<Back>) -> Response {
    let next = safe_next(q.next.as_deref());
    match &ctx.session {
        Some(s) if s.level == AuthLevel::Full => Redirect::to(&next).into_response(),
        Some(s) if !s.user.mfa_enrolled => {
            Redirect::to(&with_next("/mfa/enrol", &next)).into_response()
        }
        _ => challenge_page(&ctx, &next, None).into_response(),
    }
}

/// POST /mfa
pub async fn challenge(
    State(st): State<AppState>,
    ctx: RequestContext,
    jar: CookieJar,
    form: FormData,
) -> Result<Response, AppError> {
    let next = safe_next(form.get("next"));
    let Some(s) = &ctx.session else {
        return Err(AppError::internal("no session"));
    };
    if s.level == AuthLevel::Full {
        return Ok(Redirect::to(&next).into_response());
    }
    match st
        .app
        .accounts
        .verify_mfa(&ctx.caller, s, form.get("code").unwrap_or(""))
        .await
    {
        Ok(token) => {
            let jar = jar.add(cookie(SESSION_COOKIE, token, st.app.config.cookie_secure()));
            Ok((jar, Redirect::to(&next)).into_response())
        }
        Err(e) if e.is_client_error() => {
            let status = crate::error::kind_status(renkei_core::Coded::kind(&e));
            let msg = notice("error", &crate::i18n::error_message(ctx.lang, e.code()));
            Ok((status, challenge_page(&ctx, &next, Some(msg))).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// POST /logout
pub async fn logout(
    State(st): State<AppState>,
    ctx: RequestContext,
    jar: CookieJar,
) -> Result<Response, AppError> {
    if let Some(s) = &ctx.session {
        st.app.accounts.sign_out(&ctx.caller, s).await?;
    }
    let jar = jar.add(removal(SESSION_COOKIE, st.app.config.cookie_secure()));
    Ok((
        jar,
        [(header::CACHE_CONTROL, "no-store")],
        Redirect::to("/login?reason=signed_out"),
    )
        .into_response())
}

fn set_password_page(ctx: &RequestContext, token: &str, message: Option<Markup>) -> Markup {
    layout(
        ctx,
        ctx.t("enrol_link.title"),
        html! {
            @if let Some(m) = message { (m) }
            p { (ctx.t("enrol_link.intro")) }
            form.card method="post" action=(format!("/enrol/{token}")) {
                (csrf_field(ctx))
                div.field {
                    label for="new" { (ctx.t("account.new_password")) }
                    input #new name="new" type="password" autocomplete="new-password" minlength="12" required aria-describedby="pw-help";
                    p.help #pw-help { (ctx.t("password.rules")) }
                }
                div.field {
                    label for="confirm" { (ctx.t("account.confirm_password")) }
                    input #confirm name="confirm" type="password" autocomplete="new-password" minlength="12" required;
                }
                button type="submit" { (ctx.t("enrol_link.submit")) }
            }
        },
    )
}

/// GET /enrol/{token} — a new user (or one whose access was reset) sets a password.
pub async fn enrol_link_form(ctx: RequestContext, Path(token): Path<String>) -> Response {
    set_password_page(&ctx, &token, None).into_response()
}

/// POST /enrol/{token}
pub async fn enrol_link(
    State(st): State<AppState>,
    ctx: RequestContext,
    jar: CookieJar,
    Path(token): Path<String>,
    form: FormData,
) -> Result<Response, AppError> {
    let new = form.get("new").unwrap_or("");
    if new != form.get("confirm").unwrap_or("") {
        let m = notice("error", ctx.t("account.password_mismatch"));
        return Ok((
            axum::http::StatusCode::BAD_REQUEST,
            set_password_page(&ctx, &token, Some(m)),
        )
            .into_response());
    }
    match st
        .app
        .accounts
        .redeem_enrolment(&ctx.caller, &token, new, &ctx.user_agent)
        .await
    {
        Ok(signin) => {
            let jar = jar.add(cookie(
                SESSION_COOKIE,
                signin.token,
                st.app.config.cookie_secure(),
            ));
            Ok((jar, Redirect::to("/mfa/enrol")).into_response())
        }
        Err(e) if e.is_client_error() => {
            let status = crate::error::kind_status(renkei_core::Coded::kind(&e));
            let msg = crate::i18n::error_message(ctx.lang, e.code());
            let mut r = (
                status,
                set_password_page(&ctx, &token, Some(notice("error", &msg))),
            )
                .into_response();
            // Recorded by the service (never with the link in it).
            r.extensions_mut().insert(crate::error::Audited);
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_same_site_only() {
        assert_eq!(safe_next(Some("/admin/users")), "/admin/users");
        assert_eq!(safe_next(Some("//evil.example")), "/home");
        assert_eq!(safe_next(Some("https://evil.example")), "/home");
        assert_eq!(safe_next(Some("/\\evil.example")), "/home");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/home");
        assert_eq!(safe_next(Some("/\n/evil.example")), "/home");
        assert_eq!(
            safe_next(Some("/audit?since=2026-01-01&denied=1")),
            "/audit?since=2026-01-01&denied=1"
        );
        assert_eq!(safe_next(None), "/home");
    }
}
