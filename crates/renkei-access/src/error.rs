//! The access service's errors: each names a stable code and a kind.

use crate::application::Problem;
use crate::committee::Requirement;
use crate::flow::FlowError;
use renkei_core::role::AccessDenied;
use renkei_core::{Coded, ErrorKind};

/// Why an access operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The caller may not do this (permission, or not their object).
    #[error(transparent)]
    Denied(#[from] AccessDenied),
    /// No such application.
    #[error("no such application")]
    NoSuchApplication,
    /// The application cannot be submitted as it is; every problem is listed.
    #[error("the application is incomplete or invalid ({} problems)", .0.len())]
    Invalid(Vec<Problem>),
    /// The step does not fit the application's state, or is not the caller's.
    #[error(transparent)]
    Flow(#[from] FlowError),
    /// The members sitting on the decision fail these requirements.
    #[error("the members present fail the committee's requirements: {}", codes(.0))]
    Quorum(Vec<Requirement>),
    /// Someone named as present is not on the committee's roster.
    #[error("{0} is not a member of the committee")]
    NotMember(String),
    /// A request that breaks a rule about its content.
    #[error("{0}")]
    BadInput(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] renkei_store::StoreError),
    /// The audit log failed.
    #[error(transparent)]
    Audit(#[from] renkei_audit::AuditError),
    /// The catalogue failed.
    #[error(transparent)]
    Catalog(#[from] Box<renkei_catalog::CatalogError>),
}

fn codes(r: &[Requirement]) -> String {
    r.iter().map(|r| r.code()).collect::<Vec<_>>().join(", ")
}

impl From<renkei_store::sqlx::Error> for AccessError {
    fn from(e: renkei_store::sqlx::Error) -> Self {
        AccessError::Store(e.into())
    }
}

impl Coded for AccessError {
    fn code(&self) -> &'static str {
        match self {
            AccessError::Denied(d) => d.code(),
            AccessError::NoSuchApplication => "no_such_application",
            AccessError::Invalid(_) => "application_incomplete",
            AccessError::Flow(f) => f.code(),
            AccessError::Quorum(_) => "quorum_not_met",
            AccessError::NotMember(_) => "not_committee_member",
            AccessError::BadInput(_) => "invalid_input",
            AccessError::Store(_) => "internal",
            AccessError::Audit(e) => e.code(),
            AccessError::Catalog(e) => e.code(),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            AccessError::Denied(d) => d.kind(),
            AccessError::NoSuchApplication => ErrorKind::NotFound,
            AccessError::Invalid(_) | AccessError::NotMember(_) | AccessError::BadInput(_) => {
                ErrorKind::InvalidInput
            }
            AccessError::Flow(FlowError::NotYourStep { .. } | FlowError::NotCustodian(_)) => {
                ErrorKind::Denied
            }
            AccessError::Flow(_) | AccessError::Quorum(_) => ErrorKind::Conflict,
            AccessError::Store(_) => ErrorKind::Internal,
            AccessError::Audit(e) => e.kind(),
            AccessError::Catalog(e) => e.kind(),
        }
    }

    fn public_detail(&self) -> Option<String> {
        match self {
            AccessError::Invalid(p) => Some(
                p.iter()
                    .map(|p| format!("{}: {}", p.field, p.code))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            AccessError::Quorum(r) => Some(codes(r)),
            AccessError::Flow(f) => Some(f.to_string()),
            AccessError::NotMember(_) | AccessError::BadInput(_) => Some(self.to_string()),
            _ => None,
        }
    }
}
