//! Access to data, from "I want to study this" to a permit in force.
//!
//! The rules live here, free of storage and HTTP, so that the services which persist
//! them and the faces which show them cannot bend them:
//!
//! - [`committee`]: the ethics committee's composition and quorum under the national
//!   ethical guidelines (six requirements), and who is recused for conflicts of
//!   interest or involvement in the study;
//! - [`application`]: what an application records, and its validation, which names
//!   every missing or invalid field at once;
//! - [`flow`]: the review as a typed state machine (draft, screening, meeting,
//!   decision, custodians' confirmations, permit, closure), where an illegal step is an
//!   error that names the state and the step;
//! - [`accreditation`]: whether a person may be named on a permit today, and the
//!   warnings before it lapses;
//! - [`permit`]: the permit drawn from the approved application, its EHDS mapping, and
//!   the check every access applies;
//! - [`Applications`]: the service that stores all of it and audits every step, reached
//!   through one desk per role.

pub mod accreditation;
pub mod application;
pub mod attachment;
mod attachments;
pub mod committee;
mod error;
pub mod flow;
mod meetings;
pub mod permit;
mod projects;
mod schema;
mod service;

pub use error::AccessError;
pub use meetings::Meeting;
pub use projects::{
    Closed, Closure, ExtractOrder, PUBLICATION_KINDS, PermitInForce, ProjectView, Publication,
    RegisterEntry, Swept, date_text,
};
pub use schema::CatalogSchema;
pub use service::{
    ApplicantDesk, ApplicationView, Applications, CustodianDesk, DummyGrant, HistoryEntry,
    MAX_CONTENT_BYTES, MemberDesk, SecretariatDesk,
};

#[cfg(test)]
mod tests;
