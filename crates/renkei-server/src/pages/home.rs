//! The home page: for each of the caller's roles, what that role does here and the
//! links to do it.

use super::layout;
use crate::context::RequestContext;
use maud::{Markup, html};
use renkei_core::Role;

/// What a role can do now, as (link, message key) pairs.
fn actions(role: Role) -> &'static [(&'static str, &'static str)] {
    match role {
        Role::Admin => &[("/admin/users", "home.action.users")],
        Role::Custodian => &[
            ("/datasets", "home.action.datasets"),
            ("/catalog", "home.action.catalog"),
        ],
        Role::Researcher => &[("/catalog", "home.action.catalog")],
        Role::LinkageAuthority => &[("/catalog/linkage", "home.action.linkage")],
        Role::Auditor => &[
            ("/audit", "home.action.audit"),
            ("/audit/verify", "home.action.verify"),
        ],
        _ => &[],
    }
}

/// GET /home
pub async fn home(ctx: RequestContext) -> Markup {
    let roles = ctx.roles().to_vec();
    layout(
        &ctx,
        ctx.t("home.title"),
        html! {
            @for role in &roles {
                section.role aria-labelledby=(format!("role-{}", role.code())) {
                    h2 id=(format!("role-{}", role.code())) { (crate::i18n::role_name(ctx.lang, *role)) }
                    p { (crate::i18n::role_description(ctx.lang, *role)) }
                    @let acts = actions(*role);
                    @if !acts.is_empty() {
                        ul.actions {
                            @for (href, key) in acts {
                                li { a href=(href) { (ctx.t(key)) } }
                            }
                        }
                    }
                }
            }
            section.role aria-labelledby="role-everyone" {
                h2 #role-everyone { (ctx.t("home.everyone")) }
                ul.actions {
                    li { a href="/account" { (ctx.t("home.action.account")) } }
                }
            }
        },
    )
}
