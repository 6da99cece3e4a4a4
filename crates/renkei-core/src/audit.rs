//! What an audit entry says. The `renkei-audit` crate chains, stores and verifies these;
//! this module only defines the vocabulary so every crate can describe what it did.

use crate::role::Role;
use serde::{Deserialize, Serialize};

/// Who did something.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `user:<id>`, `system`, `cli` or `anonymous`.
    pub id: String,
    /// Human-readable name at the time (username), for reading the log without joins.
    pub name: String,
    /// Roles held at the time, comma-separated codes.
    pub roles: String,
}

impl Actor {
    /// A signed-in user.
    pub fn user(id: &crate::UserId, name: &str, roles: &[Role]) -> Self {
        Self {
            id: format!("user:{id}"),
            name: name.to_owned(),
            roles: roles.iter().map(|r| r.code()).collect::<Vec<_>>().join(","),
        }
    }
    /// Someone not signed in. `claimed` is the username they typed, if any.
    pub fn anonymous(claimed: Option<&str>) -> Self {
        Self {
            id: "anonymous".into(),
            name: claimed.unwrap_or("").to_owned(),
            roles: String::new(),
        }
    }
    /// The platform itself (timers, start-up).
    pub fn system() -> Self {
        Self {
            id: "system".into(),
            name: "system".into(),
            roles: String::new(),
        }
    }
    /// An operator at the command line of the server host. `who` is the OS user.
    pub fn cli(who: &str, duty: &str) -> Self {
        Self {
            id: "cli".into(),
            name: who.to_owned(),
            roles: format!("operator:{duty}"),
        }
    }
}

/// The result of the action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// It happened.
    Allowed,
    /// It was refused; `reason` is a stable code (e.g. `bad_credentials`).
    Denied {
        /// Stable reason code.
        reason: String,
    },
}

impl Outcome {
    /// A denial with a reason code.
    pub fn denied(reason: impl Into<String>) -> Self {
        Outcome::Denied {
            reason: reason.into(),
        }
    }
    /// `allowed` or `denied`.
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied { .. } => "denied",
        }
    }
    /// The reason, or `""` when allowed.
    pub fn reason(&self) -> &str {
        match self {
            Outcome::Allowed => "",
            Outcome::Denied { reason } => reason,
        }
    }
}

/// Declares [`Action`] with the stable code of each variant in one place.
macro_rules! actions {
    ($($(#[$doc:meta])* $v:ident = $code:literal,)+) => {
        /// What happened, as a dotted verb. Every audit entry names one; the codes are
        /// what the log stores, so a code never changes once released.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $($(#[$doc])* $v,)+
        }

        impl Action {
            /// Every action.
            pub const ALL: &'static [Action] = &[$(Action::$v,)+];

            /// The stable code stored in the log.
            pub fn code(self) -> &'static str {
                match self {
                    $(Action::$v => $code,)+
                }
            }

            /// The action with this code.
            pub fn parse(code: &str) -> Option<Action> {
                match code {
                    $($code => Some(Action::$v),)+
                    _ => None,
                }
            }
        }
    };
}

actions! {
    /// The password step of signing in.
    AuthPassword = "auth.password",
    /// The second factor (TOTP) of signing in.
    AuthMfa = "auth.mfa",
    /// Signing out.
    AuthSignOut = "auth.signout",
    /// An authenticator enrolment was offered.
    MfaEnrolBegin = "mfa.enrol.begin",
    /// An authenticator was enrolled.
    MfaEnrol = "mfa.enrol",
    /// A user account was created.
    UserCreate = "user.create",
    /// A user account was disabled.
    UserDisable = "user.disable",
    /// A user account was enabled again.
    UserEnable = "user.enable",
    /// A user's roles were replaced.
    UserRoles = "user.roles",
    /// A user's authenticator was reset.
    UserMfaReset = "user.mfa_reset",
    /// An enrolment link was issued (a new user, or access reset).
    UserInvite = "user.invite",
    /// An enrolment link was used to set a password.
    UserEnrol = "user.enrol",
    /// A privileged role grant was requested, approved or rejected.
    UserRoleRequest = "user.role_request",
    /// A password was set or changed.
    UserPassword = "user.password",
    /// The list of users, or one user's record, was read by an administrator.
    UserRead = "user.read",
    /// User administration was asked for (recorded when refused: the caller may not
    /// manage users).
    UserAdmin = "user.admin",
    /// An application was created (a draft).
    ApplicationCreate = "application.create",
    /// A draft's content was saved (a new version while it is a draft).
    ApplicationSave = "application.save",
    /// An application took a step of its review (submit, return, decide, confirm, ...).
    ApplicationStep = "application.step",
    /// An application (or the list of them) was read.
    ApplicationRead = "application.read",
    /// A committee member declared whether they have a conflict of interest.
    ApplicationConflict = "application.conflict",
    /// A committee member commented on an application under review.
    ApplicationComment = "application.comment",
    /// A committee member was appointed, changed or removed.
    CommitteeMember = "committee.member",
    /// An accreditation was recorded or renewed.
    AccreditationRecord = "accreditation.record",
    /// An accreditation was revoked.
    AccreditationRevoke = "accreditation.revoke",
    /// A permit was issued (a project's first, or a new version after an amendment).
    PermitIssue = "permit.issue",
    /// Access to a project's data under its permit was asked for (recorded when
    /// refused, with the reason; allowed access is recorded by what reads the data).
    PermitCheck = "permit.check",
    /// A project was closed and its data destroyed.
    ProjectClose = "project.close",
    /// A project's results or publications were added to the public register.
    ProjectPublication = "project.publication",
    /// A person's opt-out was recorded (as tokens), or withdrawn.
    OptOut = "opt_out",
    /// The linkage authority ran the person index (a new version, with its report).
    LinkRun = "link.run",
    /// A project's extract was materialized under its permit (or refused).
    ExtractMake = "extract.make",
    /// A query ran in a project's workspace (or was refused, or stopped).
    QueryRun = "query.run",
    /// A researcher asked for a workspace result to be released (a pending output).
    OutputRequest = "output.request",
    /// A researcher declared what an output is and ran the disclosure checks on it.
    OutputCheck = "output.check",
    /// An API token was created.
    TokenCreate = "token.create",
    /// An API token was revoked.
    TokenRevoke = "token.revoke",
    /// Entries of the audit log were read.
    AuditRead = "audit.read",
    /// The audit log was verified.
    AuditVerify = "audit.verify",
    /// The audit log was exported.
    AuditExport = "audit.export",
    /// A witness countersigned a checkpoint of the log.
    AuditWitness = "audit.witness",
    /// A dataset version was ingested (or refused).
    DatasetIngest = "dataset.ingest",
    /// A custodian's view of a dataset (versions, exact profiles) was read.
    DatasetRead = "dataset.read",
    /// A reject report was downloaded.
    DatasetRejects = "dataset.rejects.download",
    /// A stored dataset version was opened for reading.
    DatasetOpen = "dataset.open",
    /// A custodian was assigned to a dataset, or unassigned.
    DatasetCustodian = "dataset.custodian",
    /// Writing a holder's stored data was asked for (recorded when refused; what is
    /// written is recorded by the operation that writes it).
    DatasetWrite = "dataset.write",
    /// A destroyable data key was created.
    KeyCreate = "key.create",
    /// Data keys were destroyed, with a deletion certificate.
    KeyDestroy = "key.destroy",
    /// The platform's linkage key fingerprint was registered.
    LinkageKeyRegister = "linkage.key.register",
    /// The linkage key was rotated and every dataset's tokens re-keyed.
    LinkageKeyRotate = "linkage.key.rotate",
    /// The route gate refused a request.
    HttpAccess = "http.access",
    /// A state-changing request lacked a valid CSRF token.
    HttpCsrf = "http.csrf",
    /// A request was malformed.
    HttpInvalid = "http.invalid",
    /// The server started.
    ServerStart = "server.start",
    /// The server stopped.
    ServerStop = "server.stop",
    /// A synthetic entry written by benchmarks and tests of the log itself.
    Probe = "probe",
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Action::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown action {s:?}")))
    }
}

/// One thing that happened, before it is chained into the log.
///
/// `detail` must never hold a direct identifier (name, birth date, insurer number) or a
/// secret; it is for counts, hashes, versions and reason details.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Who.
    pub actor: Actor,
    /// What.
    pub action: Action,
    /// On what: `user:<id>`, `route:GET /admin/users`, `dataset:<id>`.
    pub object: String,
    /// Allowed or denied with a reason.
    pub outcome: Outcome,
    /// The HTTP request id or CLI invocation id that caused it.
    pub request_id: String,
    /// Extra facts as JSON (counts, hashes). `{}` when none.
    pub detail: serde_json::Value,
    /// The client's network address, when the event came over the network.
    pub client: String,
}

impl AuditEvent {
    /// An event with no request id and no detail.
    pub fn new(actor: Actor, action: Action, object: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            actor,
            action,
            object: object.into(),
            outcome,
            request_id: String::new(),
            detail: serde_json::Value::Object(Default::default()),
            client: String::new(),
        }
    }
    /// Sets the client's address.
    pub fn client(mut self, addr: impl Into<String>) -> Self {
        self.client = addr.into();
        self
    }
    /// Sets the request id.
    pub fn request(mut self, id: impl Into<String>) -> Self {
        self.request_id = id.into();
        self
    }
    /// Sets the detail.
    pub fn detail(mut self, d: serde_json::Value) -> Self {
        self.detail = d;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for a in Action::ALL {
            assert!(seen.insert(a.code()), "duplicate code {}", a.code());
            assert_eq!(Action::parse(a.code()), Some(*a));
            let json = serde_json::to_string(a).unwrap();
            assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), *a);
        }
        assert_eq!(Action::parse("no.such"), None);
    }
}
