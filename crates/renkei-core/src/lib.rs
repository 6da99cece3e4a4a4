//! Renkei's domain vocabulary: identifiers, roles and permissions, callers, error kinds,
//! time, policies and audit events.
//!
//! **Invariant:** this crate does no I/O. It has no database, HTTP, file system or clock
//! access of its own (time comes in through [`time::Clock`]), so everything here is
//! deterministic and testable with plain values. Every other Renkei crate depends on it;
//! it depends on none of them.
#![warn(missing_docs)]

pub mod audit;
pub mod bucket;
pub mod caller;
pub mod error;
pub mod ids;
pub mod normalize;
pub mod password;
pub mod role;
pub mod time;
pub mod wareki;

pub use audit::{Action, Actor, AuditEvent, Outcome};
pub use caller::{AuthMethod, Caller, Duty, Principal, TokenScope};
pub use error::{Coded, ErrorKind};
pub use ids::{UserId, Username};
pub use role::{Access, Permission, Role};
pub use time::{Clock, Timestamp};
