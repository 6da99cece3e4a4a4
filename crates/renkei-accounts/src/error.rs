//! Why an account operation failed. Each variant has a stable code for audit entries,
//! error pages and the API.

use renkei_core::ids::UsernameError;
use renkei_core::password::PasswordProblem;
use renkei_core::{ErrorKind, Timestamp};

/// An account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The username is malformed.
    #[error("invalid username: {0}")]
    InvalidUsername(#[from] UsernameError),
    /// The password breaks the policy.
    #[error("password refused: {0}")]
    WeakPassword(#[from] PasswordProblem),
    /// A user with that name exists.
    #[error("that username is taken")]
    DuplicateUsername,
    /// No such user.
    #[error("no such user")]
    NoSuchUser,
    /// Wrong username or password (deliberately not saying which).
    #[error("wrong username or password")]
    BadCredentials,
    /// Too many failures; try again after the time given.
    #[error("too many failed attempts; try again after {until}")]
    Locked {
        /// When sign-in is allowed again.
        until: Timestamp,
    },
    /// The account is disabled.
    #[error("this account is disabled")]
    Disabled,
    /// The TOTP code is wrong or expired.
    #[error("wrong or expired authentication code")]
    BadTotp,
    /// The TOTP code was already used.
    #[error("this authentication code was already used; wait for the next one")]
    TotpReplayed,
    /// The user has not enrolled a second factor yet.
    #[error("no authenticator enrolled")]
    MfaNotEnrolled,
    /// The user already has a second factor.
    #[error("an authenticator is already enrolled")]
    MfaAlreadyEnrolled,
    /// No enrolment in progress.
    #[error("no authenticator enrolment in progress")]
    NoEnrolment,
    /// The session is unknown, expired or revoked.
    #[error("session {0}")]
    Session(&'static str),
    /// The change would leave no active admin.
    #[error("this would leave no active admin")]
    LastAdmin,
    /// A user needs at least one role.
    #[error("a user needs at least one role")]
    NoRoles,
    /// Admins may not change their own roles or status.
    #[error("you cannot change your own roles or status; ask another admin")]
    SelfChange,
    /// Too many sign-ins are being checked at once; try again shortly.
    #[error("busy; try again in a moment")]
    Busy,
    /// This client has failed to sign in too often, across accounts; it may try again
    /// later.
    #[error("too many failed sign-ins from this address; try again later")]
    Throttled,
    /// Something on our side failed (never the caller's input).
    #[error("internal error: {0}")]
    Internal(String),
    /// The input is malformed (names too long, unknown role, ...).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The caller may not do this.
    #[error(transparent)]
    Denied(#[from] renkei_core::role::AccessDenied),
    /// Password hashing failed.
    #[error(transparent)]
    Hash(#[from] renkei_crypto::HashError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] renkei_store::StoreError),
    /// The audit log failed, so the operation did not happen.
    #[error(transparent)]
    Audit(#[from] renkei_audit::AuditError),
}

impl From<renkei_store::sqlx::Error> for AccountError {
    fn from(e: renkei_store::sqlx::Error) -> Self {
        AccountError::Store(e.into())
    }
}

impl AccountError {
    /// Stable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            AccountError::InvalidUsername(_) => "invalid_username",
            AccountError::WeakPassword(p) => p.code(),
            AccountError::DuplicateUsername => "duplicate_username",
            AccountError::NoSuchUser => "no_such_user",
            AccountError::BadCredentials => "bad_credentials",
            AccountError::Locked { .. } => "locked",
            AccountError::Disabled => "account_disabled",
            AccountError::BadTotp => "bad_totp",
            AccountError::TotpReplayed => "totp_replayed",
            AccountError::MfaNotEnrolled => "mfa_not_enrolled",
            AccountError::MfaAlreadyEnrolled => "mfa_already_enrolled",
            AccountError::NoEnrolment => "no_enrolment",
            AccountError::Session(r) => r,
            AccountError::LastAdmin => "last_admin",
            AccountError::NoRoles => "no_roles",
            AccountError::SelfChange => "self_change",
            AccountError::Busy => "busy",
            AccountError::Throttled => "throttled",
            AccountError::Internal(_) => "internal",
            AccountError::Invalid(_) => "invalid_input",
            AccountError::Denied(d) => d.code(),
            AccountError::Hash(_) => "internal",
            AccountError::Store(_) => "internal",
            AccountError::Audit(_) => "internal",
        }
    }

    /// Whether this is the caller's fault rather than ours (a refusal to audit).
    pub fn is_client_error(&self) -> bool {
        renkei_core::Coded::kind(self).is_refusal()
    }
}

impl renkei_core::Coded for AccountError {
    fn code(&self) -> &'static str {
        AccountError::code(self)
    }
    fn kind(&self) -> ErrorKind {
        match self {
            AccountError::InvalidUsername(_)
            | AccountError::WeakPassword(_)
            | AccountError::NoRoles
            | AccountError::Invalid(_) => ErrorKind::InvalidInput,
            AccountError::DuplicateUsername
            | AccountError::LastAdmin
            | AccountError::MfaNotEnrolled
            | AccountError::MfaAlreadyEnrolled
            | AccountError::NoEnrolment => ErrorKind::Conflict,
            AccountError::NoSuchUser => ErrorKind::NotFound,
            AccountError::BadCredentials
            | AccountError::BadTotp
            | AccountError::TotpReplayed
            | AccountError::Session(_) => ErrorKind::Unauthenticated,
            AccountError::Locked { .. } | AccountError::Throttled => ErrorKind::Throttled,
            AccountError::Disabled | AccountError::SelfChange => ErrorKind::Denied,
            AccountError::Denied(d) => renkei_core::Coded::kind(d),
            AccountError::Busy => ErrorKind::Unavailable,
            AccountError::Hash(_)
            | AccountError::Store(_)
            | AccountError::Audit(_)
            | AccountError::Internal(_) => ErrorKind::Internal,
        }
    }
    fn public_detail(&self) -> Option<String> {
        match self {
            AccountError::Invalid(m) => Some(m.clone()),
            AccountError::WeakPassword(p) => Some(p.to_string()),
            AccountError::InvalidUsername(u) => Some(u.to_string()),
            AccountError::Locked { until } => Some(until.to_rfc3339()),
            _ => None,
        }
    }
}
