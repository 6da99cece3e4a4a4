//! What every error of every service says about itself: a stable code and a kind.
//!
//! Each library keeps its own `thiserror` enum, whose variants name the reason. Through
//! [`Coded`] each variant also names a stable `code` (for audit entries, error pages and
//! API clients) and an [`ErrorKind`], with an exhaustive `match` in the library, so a new
//! variant must choose its kind. The faces map kinds to answers (HTTP statuses, exit
//! codes) once, exhaustively, so a new error can never silently become a server error.

/// The kinds of failure every face must answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller has not proved who they are (or their session ended).
    Unauthenticated,
    /// The caller is known but may not do this.
    Denied,
    /// The object does not exist (or the caller may not know that it does).
    NotFound,
    /// The request is malformed or breaks a rule about its content.
    InvalidInput,
    /// The request collides with the current state (a duplicate, a state machine in
    /// the wrong state, another writer at work).
    Conflict,
    /// Too many attempts or requests from this caller or source; retry later.
    Throttled,
    /// The platform cannot serve this now (overload, a dependency down); retrying
    /// later may succeed.
    Unavailable,
    /// Something broke on our side.
    Internal,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Unauthenticated,
        ErrorKind::Denied,
        ErrorKind::NotFound,
        ErrorKind::InvalidInput,
        ErrorKind::Conflict,
        ErrorKind::Throttled,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
    ];

    /// Whether the caller, not the platform, is the cause (a refusal to audit, not a
    /// failure to alert on).
    pub fn is_refusal(self) -> bool {
        match self {
            ErrorKind::Unauthenticated
            | ErrorKind::Denied
            | ErrorKind::NotFound
            | ErrorKind::InvalidInput
            | ErrorKind::Conflict
            | ErrorKind::Throttled => true,
            ErrorKind::Unavailable | ErrorKind::Internal => false,
        }
    }
}

/// An error that names its stable code and kind.
pub trait Coded: std::error::Error {
    /// Stable, greppable reason code (`bad_credentials`, `permission_missing`, ...).
    fn code(&self) -> &'static str;
    /// What kind of failure it is.
    fn kind(&self) -> ErrorKind;
    /// A message that is safe to show the caller (no internal detail, no stored
    /// value), when there is more to say than the code's own message.
    fn public_detail(&self) -> Option<String> {
        None
    }
}

impl Coded for crate::role::AccessDenied {
    fn code(&self) -> &'static str {
        crate::role::AccessDenied::code(*self)
    }
    fn kind(&self) -> ErrorKind {
        match self {
            crate::role::AccessDenied::NotSignedIn | crate::role::AccessDenied::MfaRequired => {
                ErrorKind::Unauthenticated
            }
            crate::role::AccessDenied::Missing(_) | crate::role::AccessDenied::Object(_) => {
                ErrorKind::Denied
            }
        }
    }
}
