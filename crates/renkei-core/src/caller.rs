//! Who is calling a service, how they proved it, and on behalf of which request.
//!
//! Every service method takes a [`Caller`]. The services, not the faces, decide what a
//! caller may do and audit every refusal; the faces only build the caller (the server
//! from a session or API token, the CLI as the operator) and pass it on.
//!
//! A caller's permissions follow from who they are *and* how they authenticated: a
//! password-only session grants nothing, an API token grants at most its scope, the
//! operator at the command line holds the operator's duties (and no researcher's).

use crate::audit::{Action, Actor, AuditEvent, Outcome};
use crate::ids::{UserId, Username};
use crate::role::{AccessDenied, AuthLevel, Permission, Role};

/// Who the caller is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// Nobody signed in (the public, or someone at the sign-in page).
    Anonymous,
    /// A user account.
    User {
        /// Permanent id.
        id: UserId,
        /// Login name at the time of the request.
        username: Username,
        /// Roles at the time of the request, in [`Role::ALL`] order.
        roles: Vec<Role>,
    },
    /// An operator at the command line of the platform's host, on one duty. `os_user`
    /// is the operating-system account that ran the command.
    Operator {
        /// The OS user.
        os_user: String,
        /// The one duty this command is run under.
        duty: Duty,
    },
    /// The platform itself (timers, start-up, shutdown).
    System,
}

/// What an API token may do beyond its owner's roles being checked as usual.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenScope {
    /// Everything the owner's roles grant through the API.
    All,
    /// Reading only: of the owner's permissions, only those that read
    /// ([`Permission::reads_only`]), and no state-changing request at all.
    ReadOnly,
    /// One project's workspace, for programmatic analysis: only
    /// [`Permission::Apply`] (what the workspace asks for), and only on that project
    /// (the route gate keeps it to the project's routes; the permit check refuses any
    /// other project).
    Project(String),
}

impl TokenScope {
    /// Stable code, as stored: `all`, `read_only` or `project:<id>`.
    pub fn code(&self) -> String {
        match self {
            TokenScope::All => "all".into(),
            TokenScope::ReadOnly => "read_only".into(),
            TokenScope::Project(p) => format!("project:{p}"),
        }
    }

    /// The scope with this code.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "all" => Some(TokenScope::All),
            "read_only" => Some(TokenScope::ReadOnly),
            _ => code
                .strip_prefix("project:")
                .filter(|p| {
                    !p.is_empty()
                        && p.len() <= 100
                        && p.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
                .map(|p| TokenScope::Project(p.to_owned())),
        }
    }
}

/// How the caller proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// Not at all.
    None,
    /// A browser session past the password step, with the second factor outstanding.
    Password,
    /// A browser session with password and TOTP.
    SessionMfa,
    /// An API bearer token.
    ApiToken {
        /// The token's id (never its value).
        token_id: String,
        /// What it may be used for.
        scope: TokenScope,
    },
    /// Access to the platform's host: the operator's command line.
    Operator,
    /// The platform's own code.
    System,
}

impl AuthMethod {
    /// Stable code for the audit log and the API.
    pub fn code(&self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::Password => "password",
            AuthMethod::SessionMfa => "session_mfa",
            AuthMethod::ApiToken { .. } => "api_token",
            AuthMethod::Operator => "operator",
            AuthMethod::System => "system",
        }
    }
}

/// An operator's duty: each command runs under exactly one, and holds only what that
/// duty grants. No single operator caller both administers accounts and reads the
/// audit log, or both holds data and the linkage key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Duty {
    /// Creating accounts and setting roles (the bootstrap admin, break-glass).
    Accounts,
    /// Loading data: ingest and its checks.
    Data,
    /// Reading, exporting and checkpointing the audit log.
    Audit,
    /// The linkage authority's key: rotation.
    Linkage,
}

impl Duty {
    /// The one permission the duty grants.
    pub fn grants(self) -> Permission {
        match self {
            Duty::Accounts => Permission::ManageUsers,
            Duty::Data => Permission::ManageDatasets,
            Duty::Audit => Permission::ReadAudit,
            Duty::Linkage => Permission::ManageLinkage,
        }
    }

    /// Stable code, recorded with the operator in the audit log.
    pub fn code(self) -> &'static str {
        match self {
            Duty::Accounts => "accounts",
            Duty::Data => "data",
            Duty::Audit => "audit",
            Duty::Linkage => "linkage",
        }
    }
}

/// One caller of one request or command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    principal: Principal,
    auth: AuthMethod,
    request_id: String,
    /// The client's network address (empty at the command line).
    source: String,
}

impl Caller {
    /// Someone not signed in.
    pub fn anonymous(request_id: impl Into<String>) -> Self {
        Self {
            principal: Principal::Anonymous,
            auth: AuthMethod::None,
            request_id: request_id.into(),
            source: String::new(),
        }
    }

    /// A user, authenticated by `auth`. Roles are sorted and deduplicated.
    pub fn user(
        id: UserId,
        username: Username,
        mut roles: Vec<Role>,
        auth: AuthMethod,
        request_id: impl Into<String>,
    ) -> Self {
        roles.sort();
        roles.dedup();
        Self {
            principal: Principal::User {
                id,
                username,
                roles,
            },
            auth,
            request_id: request_id.into(),
            source: String::new(),
        }
    }

    /// The operator at the command line, as the OS user `os_user`, on `duty`, with a
    /// fresh invocation id.
    pub fn operator(os_user: impl Into<String>, duty: Duty) -> Self {
        Self {
            principal: Principal::Operator {
                os_user: os_user.into(),
                duty,
            },
            auth: AuthMethod::Operator,
            request_id: format!("cli-{}", uuid::Uuid::now_v7()),
            source: String::new(),
        }
    }

    /// The platform itself, with a fresh id.
    pub fn system() -> Self {
        Self {
            principal: Principal::System,
            auth: AuthMethod::System,
            request_id: format!("sys-{}", uuid::Uuid::now_v7()),
            source: String::new(),
        }
    }

    /// The same principal under another request id.
    pub fn with_request(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = request_id.into();
        self
    }

    /// Who.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
    /// How they authenticated.
    pub fn auth(&self) -> &AuthMethod {
        &self.auth
    }
    /// The request or invocation id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }
    /// The user's id, if the caller is a user.
    pub fn user_id(&self) -> Option<&UserId> {
        match &self.principal {
            Principal::User { id, .. } => Some(id),
            _ => None,
        }
    }
    /// The user's roles (none for anyone else).
    pub fn roles(&self) -> &[Role] {
        match &self.principal {
            Principal::User { roles, .. } => roles,
            _ => &[],
        }
    }
    /// Whether this is the operator's command line.
    pub fn is_operator(&self) -> bool {
        matches!(self.principal, Principal::Operator { .. })
    }
    /// Whether this caller is the user `id`.
    pub fn is_user(&self, id: &UserId) -> bool {
        self.user_id() == Some(id)
    }

    /// How far the caller has authenticated, as the route gate sees it.
    pub fn level(&self) -> AuthLevel {
        match (&self.principal, &self.auth) {
            (Principal::Anonymous, _) | (_, AuthMethod::None) => AuthLevel::Anonymous,
            (_, AuthMethod::Password) => AuthLevel::PasswordOnly,
            _ => AuthLevel::Full,
        }
    }

    /// Whether the caller holds `p` now: a user through a role, after both factors or
    /// with an API token; the operator through the operator's duties.
    pub fn has(&self, p: Permission) -> bool {
        match (&self.principal, &self.auth) {
            (Principal::User { roles, .. }, AuthMethod::SessionMfa) => {
                roles.iter().any(|r| r.has(p))
            }
            (
                Principal::User { roles, .. },
                AuthMethod::ApiToken {
                    scope: TokenScope::All,
                    ..
                },
            ) => roles.iter().any(|r| r.has(p)),
            (
                Principal::User { roles, .. },
                AuthMethod::ApiToken {
                    scope: TokenScope::ReadOnly,
                    ..
                },
            ) => p.reads_only() && roles.iter().any(|r| r.has(p)),
            (
                Principal::User { roles, .. },
                AuthMethod::ApiToken {
                    scope: TokenScope::Project(_),
                    ..
                },
            ) => p == Permission::Apply && roles.iter().any(|r| r.has(p)),
            (Principal::Operator { duty, .. }, AuthMethod::Operator) => duty.grants() == p,
            _ => false,
        }
    }

    /// The one project an API token is limited to, if it is.
    pub fn token_project(&self) -> Option<&str> {
        match &self.auth {
            AuthMethod::ApiToken {
                scope: TokenScope::Project(p),
                ..
            } => Some(p),
            _ => None,
        }
    }

    /// Whether the caller may change anything at all (a read-only token may not).
    pub fn may_change(&self) -> bool {
        !matches!(
            self.auth,
            AuthMethod::ApiToken {
                scope: TokenScope::ReadOnly,
                ..
            }
        )
    }

    /// Refuses unless the caller holds `p`, naming why.
    pub fn require(&self, p: Permission) -> Result<(), AccessDenied> {
        match self.level() {
            AuthLevel::Anonymous => Err(AccessDenied::NotSignedIn),
            AuthLevel::PasswordOnly => Err(AccessDenied::MfaRequired),
            AuthLevel::Full if self.has(p) => Ok(()),
            AuthLevel::Full => Err(AccessDenied::Missing(p)),
        }
    }

    /// The caller as the audit log records them.
    pub fn actor(&self) -> Actor {
        match &self.principal {
            Principal::Anonymous => Actor::anonymous(None),
            Principal::User {
                id,
                username,
                roles,
            } => Actor::user(id, username.as_str(), roles),
            Principal::Operator { os_user, duty } => Actor::cli(os_user, duty.code()),
            Principal::System => Actor::system(),
        }
    }

    /// An audit event by this caller, under this request.
    pub fn event(&self, action: Action, object: impl Into<String>, outcome: Outcome) -> AuditEvent {
        AuditEvent::new(self.actor(), action, object, outcome)
            .request(self.request_id.clone())
            .client(self.source.clone())
    }

    /// The same caller, coming from `addr` (the client's network address).
    pub fn from_source(mut self, addr: impl Into<String>) -> Self {
        self.source = addr.into();
        self
    }

    /// The client's network address, empty at the command line.
    pub fn source(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(roles: &[Role], auth: AuthMethod) -> Caller {
        Caller::user(
            UserId::from_stored("u1".into()),
            Username::parse("alice").unwrap(),
            roles.to_vec(),
            auth,
            "req",
        )
    }

    #[test]
    fn permissions_follow_the_way_of_signing_in() {
        let admin = user(&[Role::Admin], AuthMethod::SessionMfa);
        assert!(admin.has(Permission::ManageUsers));
        assert_eq!(
            admin.require(Permission::ReadAudit),
            Err(AccessDenied::Missing(Permission::ReadAudit))
        );
        let half = user(&[Role::Admin], AuthMethod::Password);
        assert!(!half.has(Permission::ManageUsers));
        assert_eq!(
            half.require(Permission::ManageUsers),
            Err(AccessDenied::MfaRequired)
        );
        let token = user(
            &[Role::Auditor],
            AuthMethod::ApiToken {
                token_id: "t".into(),
                scope: TokenScope::All,
            },
        );
        assert!(token.has(Permission::ReadAudit));
        assert_eq!(
            Caller::anonymous("r").require(Permission::ReadAudit),
            Err(AccessDenied::NotSignedIn)
        );
        assert!(!Caller::system().has(Permission::ManageUsers));
    }

    #[test]
    fn a_project_token_holds_only_the_workspace_s_permission_for_its_project() {
        let t = user(
            &[Role::Researcher, Role::Auditor],
            AuthMethod::ApiToken {
                token_id: "t".into(),
                scope: TokenScope::Project("app-1".into()),
            },
        );
        let held: Vec<Permission> = Permission::ALL.into_iter().filter(|p| t.has(*p)).collect();
        assert_eq!(held, [Permission::Apply]);
        assert_eq!(t.token_project(), Some("app-1"));
        assert!(t.may_change());
        assert_eq!(
            user(&[Role::Researcher], AuthMethod::SessionMfa).token_project(),
            None
        );
        for s in [
            TokenScope::All,
            TokenScope::ReadOnly,
            TokenScope::Project("app-01a2-x_y".into()),
        ] {
            assert_eq!(TokenScope::parse(&s.code()), Some(s));
        }
        for bad in [
            "project:",
            "project:../x",
            "project:a b",
            "projects:x",
            "ALL",
        ] {
            assert_eq!(TokenScope::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_operator_holds_exactly_the_duty_of_the_command() {
        for duty in [Duty::Accounts, Duty::Data, Duty::Audit, Duty::Linkage] {
            let op = Caller::operator("root", duty);
            let held: Vec<Permission> =
                Permission::ALL.into_iter().filter(|p| op.has(*p)).collect();
            assert_eq!(held, [duty.grants()], "{duty:?}");
            assert_eq!(op.actor().id, "cli");
            assert_eq!(op.actor().roles, format!("operator:{}", duty.code()));
        }
        // No operator caller both administers accounts and reads the audit log, or
        // holds data and the linkage key.
        assert!(!Caller::operator("root", Duty::Accounts).has(Permission::ReadAudit));
        assert!(!Caller::operator("root", Duty::Data).has(Permission::ManageLinkage));
        assert!(
            Caller::operator("root", Duty::Audit)
                .request_id()
                .starts_with("cli-")
        );
    }

    #[test]
    fn events_carry_the_caller_and_request() {
        let c = user(&[Role::Researcher], AuthMethod::SessionMfa);
        let e = c.event(Action::AuthSignOut, "user:u1", Outcome::Allowed);
        assert_eq!(e.actor.id, "user:u1");
        assert_eq!(e.request_id, "req");
        assert_eq!(e.action, Action::AuthSignOut);
    }
}
