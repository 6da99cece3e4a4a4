//! Accounts: who may sign in, how, and with which roles.
//!
//! - Passwords: argon2id (parameters from config), the policy in
//!   [`renkei_core::password`], lockout with exponential back-off after repeated failures.
//! - Second factor: TOTP (RFC 6238, SHA-1, 6 digits, 30 s), required for every role.
//!   Secrets are sealed in the store; a code is accepted once (replay guard).
//! - Sessions: random 256-bit tokens of which only the SHA-256 is stored; two levels
//!   (password only, then full); idle and absolute timeouts; revocable; the token is
//!   rotated when the level rises.
//! - API tokens: bearer tokens with an expiry, hashed like sessions.
//!
//! **Invariant:** every change of state here writes its audit entry in the same
//! transaction, and every refusal writes one through the group-commit writer before the
//! caller hears of it.
#![warn(missing_docs)]

mod admin;
mod enrolment;
mod error;
mod model;
mod service;
mod totp;

pub use admin::UserAdmin;
pub use enrolment::{Invitation, LINK_TTL_SECS, RoleChange, RoleRequest};
pub use error::AccountError;
pub use model::{
    ApiTokenInfo, Enrolment, LockoutPolicy, Session, SessionPolicy, SignIn, User, UserStatus, Via,
    token_max_days,
};
pub use service::Accounts;
pub use totp::{current_code, encode_secret, totp_for};

#[cfg(test)]
mod tests;
