//! The dataset catalogue (T1, D3, D7).
//!
//! A dataset is described by a **declaration**: who holds it, its safety measures, its
//! tables and variables with labels in Japanese and English, and the linkage tokens it
//! carries. The platform's own databases have built-in declarations; a private database
//! joins by submitting one (no new code), and the platform checks it.
//!
//! Each ingest makes a **version**: committed (and then current) or refused, with the
//! files it came from (SHA-256), row counts and a quality profile of every variable.
//!
//! **Invariant:** the catalogue never holds data values beyond the profile's counts and
//! frequent categories; small counts are suppressed when shown publicly
//! ([`suppress`]).
#![warn(missing_docs)]

pub mod dcat;
mod declaration;
pub mod linkage;
mod profile;
pub mod public;
mod service;
mod store;

pub use declaration::{
    BUILTIN, ColType, ColumnDecl, ColumnRole, DatasetInfo, Declaration, DeclarationError, Safety,
    TableDecl, UnknownCode, builtin,
};
pub use profile::{ColumnProfile, Profile, RecordTally, TableProfile, suppress};
pub use service::{Catalog, Custody, CustodyScope, DatasetHistory, PublicCatalog, custody_scope};
pub use store::{
    CatalogError, DatasetEntry, FileRecord, VersionRecord, VersionStatus, current_version, dataset,
    datasets, ensure_dataset, next_version, record_version, versions,
};
