//! Account types as the rest of the system sees them.

use renkei_core::role::AuthLevel;
use renkei_core::{AuthMethod, Caller, Role, Timestamp, TokenScope, UserId, Username};
use serde::Serialize;

/// Whether a user may sign in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// May sign in.
    Active,
    /// May not; sessions and tokens were revoked when disabled.
    Disabled,
}

impl UserStatus {
    pub(crate) fn code(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }
    pub(crate) fn parse(s: &str) -> Self {
        if s == "active" {
            UserStatus::Active
        } else {
            UserStatus::Disabled
        }
    }
}

/// A user.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    /// Permanent id.
    pub id: UserId,
    /// Login name.
    pub username: Username,
    /// Name shown in the UI.
    pub display_name: String,
    /// Active or disabled.
    pub status: UserStatus,
    /// Roles, in [`Role::ALL`] order.
    pub roles: Vec<Role>,
    /// Whether a TOTP authenticator is enrolled.
    pub mfa_enrolled: bool,
    /// Sign-in refused until then (0 if not locked).
    pub locked_until: Timestamp,
    /// Consecutive failed attempts.
    pub failed_attempts: i64,
    /// Created.
    pub created_at: Timestamp,
}

/// How a session was established.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A browser cookie.
    Cookie,
    /// An API bearer token.
    ApiToken,
}

/// A resolved, valid session. Only the accounts service makes one (from a token it
/// checked), so the methods that take one can trust whose it is.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Session {
    /// SHA-256 of the token (the token itself is never kept).
    pub token_hash: String,
    /// The user.
    pub user: User,
    /// How far authenticated.
    pub level: AuthLevel,
    /// Cookie or API token.
    pub via: Via,
    /// Expiry (absolute).
    pub expires_at: Timestamp,
    /// The API token's id, for a token.
    pub token_id: Option<String>,
    /// What the API token may do (`All` for browser sessions).
    pub scope: TokenScope,
}

impl Session {
    /// The caller this session makes of a request.
    pub fn caller(&self, request_id: impl Into<String>) -> Caller {
        let auth = match (self.via, self.level) {
            (Via::ApiToken, _) => AuthMethod::ApiToken {
                token_id: self.token_id.clone().unwrap_or_default(),
                scope: self.scope.clone(),
            },
            (Via::Cookie, AuthLevel::Full) => AuthMethod::SessionMfa,
            (Via::Cookie, AuthLevel::PasswordOnly) => AuthMethod::Password,
            (Via::Cookie, AuthLevel::Anonymous) => AuthMethod::None,
        };
        Caller::user(
            self.user.id.clone(),
            self.user.username.clone(),
            self.user.roles.clone(),
            auth,
            request_id,
        )
    }
}

/// A successful password step. `Debug` never shows the token.
pub struct SignIn {
    /// The new session token (for the cookie). Never logged.
    pub token: String,
    /// The user.
    pub user: User,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("token", &"<redacted>")
            .field("user", &self.user.username)
            .finish()
    }
}

/// An authenticator enrolment in progress. `Debug` never shows the secret.
pub struct Enrolment {
    /// The secret in base32, for typing into an authenticator app.
    pub secret_base32: String,
    /// The `otpauth://` URL, for the QR code.
    pub otpauth_url: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment")
            .field("secret_base32", &"<redacted>")
            .field("otpauth_url", &"<redacted>")
            .finish()
    }
}

/// An API token as listed (never its value).
#[derive(Clone, Debug, Serialize)]
pub struct ApiTokenInfo {
    /// Id.
    pub id: String,
    /// Name given by the user.
    pub name: String,
    /// Created.
    pub created_at: Timestamp,
    /// Expires.
    pub expires_at: Timestamp,
    /// Revoked, if so.
    pub revoked_at: Option<Timestamp>,
    /// Last used, if ever.
    pub last_used_at: Option<Timestamp>,
    /// What it may do: `all` or `read_only`.
    pub scope: String,
}

/// Session timeouts.
#[derive(Clone, Copy, Debug, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionPolicy {
    /// A session unused for this long ends (seconds).
    pub idle_timeout_secs: i64,
    /// A session ends this long after sign-in whatever happens (seconds).
    pub absolute_timeout_secs: i64,
    /// A password-only session (waiting for the second factor) ends after this (seconds).
    pub mfa_timeout_secs: i64,
    /// An API token unused for this many days stops working.
    pub token_idle_days: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 30 * 60,
            absolute_timeout_secs: 12 * 3600,
            mfa_timeout_secs: 5 * 60,
            token_idle_days: 30,
        }
    }
}

/// The longest an API token of someone holding `roles` may live: 30 days for roles
/// that administer, audit, hold data or keys, or release outputs; 90 for the others.
/// The strictest role decides.
pub fn token_max_days(roles: &[renkei_core::Role]) -> i64 {
    use renkei_core::Role;
    roles
        .iter()
        .map(|r| match r {
            Role::Admin
            | Role::Auditor
            | Role::LinkageAuthority
            | Role::Custodian
            | Role::OutputChecker => 30,
            _ => 90,
        })
        .min()
        .unwrap_or(30)
}

/// Lockout after repeated failures.
#[derive(Clone, Copy, Debug, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutPolicy {
    /// Failures allowed before the first lock.
    pub free_attempts: i64,
    /// First lock length (seconds); doubles with each further failure.
    pub base_delay_secs: i64,
    /// Longest lock (seconds).
    pub max_delay_secs: i64,
    /// One counted failure is forgiven per this many seconds without another.
    pub decay_secs: i64,
    /// Failed sign-ins one client address may make in a burst, across all accounts.
    pub source_burst: i64,
    /// After the burst, one more failure per this many seconds.
    pub source_refill_secs: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            free_attempts: 5,
            base_delay_secs: 30,
            max_delay_secs: 3600,
            decay_secs: 900,
            source_burst: 30,
            source_refill_secs: 60,
        }
    }
}

impl LockoutPolicy {
    /// The lock length after `failures` consecutive failures (0 = not locked).
    pub fn delay_secs(&self, failures: i64) -> i64 {
        if failures < self.free_attempts {
            return 0;
        }
        let doublings = (failures - self.free_attempts).min(30);
        self.base_delay_secs
            .saturating_mul(1i64 << doublings)
            .min(self.max_delay_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug() {
        let e = Enrolment {
            secret_base32: "JBSWY3DPEHPK3PXP".into(),
            otpauth_url: "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP".into(),
        };
        assert!(!format!("{e:?}").contains("JBSWY3DP"));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = LockoutPolicy::default();
        assert_eq!(p.delay_secs(4), 0);
        assert_eq!(p.delay_secs(5), 30);
        assert_eq!(p.delay_secs(6), 60);
        assert_eq!(p.delay_secs(7), 120);
        assert_eq!(p.delay_secs(100), 3600);
    }
}
