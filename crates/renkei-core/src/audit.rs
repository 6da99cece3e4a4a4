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
    pub fn cli(who: &str) -> Self {
        Self {
            id: "cli".into(),
            name: who.to_owned(),
            roles: "operator".into(),
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

/// One thing that happened, before it is chained into the log.
///
/// `detail` must never hold a direct identifier (name, birth date, insurer number) or a
/// secret; it is for counts, hashes, versions and reason details.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Who.
    pub actor: Actor,
    /// What, as a dotted verb: `auth.signin`, `user.create`, `http.access`.
    pub action: String,
    /// On what: `user:<id>`, `route:GET /admin/users`, `dataset:<id>`.
    pub object: String,
    /// Allowed or denied with a reason.
    pub outcome: Outcome,
    /// The HTTP request id or CLI invocation id that caused it.
    pub request_id: String,
    /// Extra facts as JSON (counts, hashes). `{}` when none.
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An event with no request id and no detail.
    pub fn new(actor: Actor, action: &str, object: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            actor,
            action: action.to_owned(),
            object: object.into(),
            outcome,
            request_id: String::new(),
            detail: serde_json::Value::Object(Default::default()),
        }
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
