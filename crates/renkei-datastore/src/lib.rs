//! Data at rest: dataset versions and project extracts on disk, encrypted, under data
//! keys that can be destroyed.
//!
//! Layout: `<data_dir>/datasets/<dataset>/v<version>/<table>/part-<n>.parquet`, and
//! beside it `<data_dir>/extracts/<project>/v<version>/...` for project extracts.
//!
//! Every file is Parquet with **modular encryption** (AES-256-GCM, uniform: every column
//! and the footer, so not even column names show) under its holder's data key, with an
//! AAD prefix naming the holder, version, table and part: a file copied into another
//! place or version does not open. The choice over envelope encryption of whole files:
//! the query engine (DataFusion) reads encrypted Parquet natively, with column pruning
//! and page skipping, so nothing is ever decrypted to disk.
//!
//! Data keys are random and stored only wrapped ([`vault`]); destroying a holder's keys
//! deletes its data with a certificate.
//!
//! A version is written to a staging directory and becomes a version directory by one
//! `rename`, after every file is flushed to disk; the metadata store's commit then makes
//! it current. A crash at any point leaves the previous version as it was: a staging
//! directory is cleaned up, and an uncommitted version directory is replaced when its
//! number is used again.
//!
//! Two sides, both capabilities handed out after checking the caller: the write side
//! ([`DataStore::writer`], a [`DataWriter`] holding the holder's lock) for ingest,
//! re-keying and extract materialization, and the read side
//! ([`DataStore::open_dataset`]), so no caller ever touches a key or a path.
//!
//! **Invariant:** nothing here writes a value in clear text to disk, and no key leaves
//! this crate: data keys come from `renkei-crypto` and go straight into the Parquet
//! cipher.
#![warn(missing_docs)]

mod layout;
pub mod vault;

pub use layout::{PartWriter, Staging, WriterLock};
pub use vault::{DeletionCertificate, KeyId};

use arrow_array::RecordBatch;
use layout::Tree;
use renkei_access::{Closure, ExtractOrder, PermitInForce};
use renkei_audit::Audit;
use renkei_core::role::AccessDenied;
use renkei_core::time::SharedClock;
use renkei_core::{Action, Caller, Coded, ErrorKind, Outcome, Permission};
use renkei_crypto::{DataKey, KeyStore};
use renkei_store::Store;
use renkei_store::sqlx;
use std::path::Path;
use std::sync::Arc;
use vault::Vault;

/// What owns a set of versions on disk.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Holder {
    /// A dataset in the catalogue.
    Dataset(String),
    /// A project's extract.
    Extract(String),
    /// The linkage authority's person index (`person`).
    Index(String),
}

impl Holder {
    /// The holder's id.
    pub fn id(&self) -> &str {
        match self {
            Holder::Dataset(id) | Holder::Extract(id) | Holder::Index(id) => id,
        }
    }

    /// `dataset:<id>`, `extract:<id>` or `index:<id>`: the owner of its keys, and the object of its
    /// audit entries.
    pub fn owner(&self) -> String {
        match self {
            Holder::Dataset(id) => format!("dataset:{id}"),
            Holder::Extract(id) => format!("extract:{id}"),
            Holder::Index(id) => format!("index:{id}"),
        }
    }

    /// The person index.
    pub fn person_index() -> Self {
        Holder::Index("person".into())
    }

    /// A dataset, if `id` is a plain id (`a-z`, `0-9`, `_`, `-`; at most 64): ids name
    /// directories, so nothing else may reach the file system.
    pub fn dataset(id: &str) -> Result<Self, DataStoreError> {
        Self::parse_id(Holder::Dataset, id)
    }

    /// A project's extract, under the same rule.
    pub fn extract(id: &str) -> Result<Self, DataStoreError> {
        Self::parse_id(Holder::Extract, id)
    }

    pub(crate) fn parse_id(make: fn(String) -> Holder, id: &str) -> Result<Self, DataStoreError> {
        let plain = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            && !id.starts_with('-');
        if plain {
            Ok(make(id.to_owned()))
        } else {
            Err(DataStoreError::BadId)
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.owner())
    }
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum DataStoreError {
    /// File system.
    #[error("{path}: {err}")]
    Io {
        /// Where.
        path: String,
        /// Why.
        err: std::io::Error,
    },
    /// Another writer of the same holder holds its lock.
    #[error("{0} is being written by another process; try again when it has finished")]
    Busy(Holder),
    /// Parquet or Arrow (including a wrong key: "unable to decrypt").
    #[error("{path}: {msg}")]
    Parquet {
        /// Where.
        path: String,
        /// Why.
        msg: String,
    },
    /// An id that is not a plain id.
    #[error("not a valid id: use a-z, 0-9, '_' and '-' (at most 64)")]
    BadId,
    /// No such version (or no version at all yet).
    #[error("{0} has no such version")]
    NoSuchVersion(Holder),
    /// No such key.
    #[error("no data key {0}")]
    NoSuchKey(KeyId),
    /// The key was destroyed: its data is deleted.
    #[error("data key {0} was destroyed; the data it encrypted is deleted")]
    KeyDestroyed(KeyId),
    /// A stored key does not open under this master key.
    #[error("data key {0} does not open under this master key")]
    KeyUnwrap(KeyId),
    /// Nothing left to destroy.
    #[error("{0} has no data key left to destroy")]
    NothingToDestroy(String),
    /// The caller may not do this.
    #[error(transparent)]
    Denied(#[from] AccessDenied),
    /// The metadata store.
    #[error(transparent)]
    Store(#[from] renkei_store::StoreError),
    /// The audit log refused the record, so nothing happened.
    #[error(transparent)]
    Audit(#[from] renkei_audit::AuditError),
    /// Asking the catalogue who holds a dataset failed.
    #[error(transparent)]
    Catalog(#[from] Box<renkei_catalog::CatalogError>),
}

impl From<sqlx::Error> for DataStoreError {
    fn from(e: sqlx::Error) -> Self {
        DataStoreError::Store(e.into())
    }
}

impl Coded for DataStoreError {
    fn code(&self) -> &'static str {
        match self {
            DataStoreError::Busy(_) => "write_in_progress",
            DataStoreError::BadId => "invalid_id",
            DataStoreError::NoSuchVersion(_) => "no_such_version",
            DataStoreError::NoSuchKey(_) => "no_such_key",
            DataStoreError::KeyDestroyed(_) => "data_deleted",
            DataStoreError::NothingToDestroy(_) => "nothing_to_destroy",
            DataStoreError::Denied(d) => d.code(),
            DataStoreError::Audit(e) => e.code(),
            DataStoreError::Catalog(e) => e.code(),
            DataStoreError::Io { .. }
            | DataStoreError::Parquet { .. }
            | DataStoreError::KeyUnwrap(_)
            | DataStoreError::Store(_) => "internal",
        }
    }
    fn kind(&self) -> ErrorKind {
        match self {
            DataStoreError::Busy(_) | DataStoreError::NothingToDestroy(_) => ErrorKind::Conflict,
            DataStoreError::BadId => ErrorKind::InvalidInput,
            DataStoreError::NoSuchVersion(_)
            | DataStoreError::NoSuchKey(_)
            | DataStoreError::KeyDestroyed(_) => ErrorKind::NotFound,
            DataStoreError::Denied(d) => d.kind(),
            DataStoreError::Audit(e) => e.kind(),
            DataStoreError::Catalog(e) => e.kind(),
            DataStoreError::Io { .. }
            | DataStoreError::Parquet { .. }
            | DataStoreError::KeyUnwrap(_)
            | DataStoreError::Store(_) => ErrorKind::Internal,
        }
    }
}

/// The data store service. Cheap to clone.
#[derive(Clone)]
pub struct DataStore {
    tree: Tree,
    vault: Vault,
    store: Store,
    audit: Audit,
}

impl DataStore {
    /// The store under `data_dir`, its keys recorded in `store`.
    pub fn new(
        data_dir: &Path,
        store: Store,
        keys: Arc<KeyStore>,
        audit: Audit,
        clock: SharedClock,
    ) -> Self {
        Self {
            tree: Tree::new(data_dir),
            vault: Vault::new(store.clone(), keys, audit.clone(), clock),
            store,
            audit,
        }
    }

    // ----- write side ----------------------------------------------------------------

    /// Who may write or destroy `holder`'s data. Datasets: those who manage datasets
    /// (ingest, withdrawal) and, for writing, the linkage authority (re-keying tokens).
    /// Extracts are written only under a permit in force, and destroyed only by a
    /// project's closure ([`DataStore::destroy_extract`]): refused here for everyone.
    fn may_write(caller: &Caller, holder: &Holder, destroy: bool) -> Result<(), AccessDenied> {
        match holder {
            Holder::Dataset(_) if destroy => caller.require(Permission::ManageDatasets),
            Holder::Dataset(_) => caller
                .require(Permission::ManageDatasets)
                .or_else(|_| caller.require(Permission::ManageLinkage)),
            Holder::Extract(_) => {
                caller.require(Permission::ManageDatasets)?;
                Err(AccessDenied::Object("no_permit"))
            }
            Holder::Index(_) if destroy => {
                caller.require(Permission::ManageLinkage)?;
                Err(AccessDenied::Object("index_is_kept"))
            }
            Holder::Index(_) => caller.require(Permission::ManageLinkage),
        }
    }

    async fn refuse(
        &self,
        caller: &Caller,
        action: Action,
        holder: &Holder,
        e: DataStoreError,
    ) -> DataStoreError {
        if e.kind().is_refusal()
            && let Err(a) = self
                .audit
                .record(caller.event(action, holder.owner(), Outcome::denied(e.code())))
                .await
        {
            return a.into();
        }
        e
    }

    /// The writer of `holder` for `caller`, who must be allowed to write it (refusals
    /// audited). Takes the holder's writer lock without waiting (see [`WriterLock`]):
    /// `Busy` if another writer has it.
    pub async fn writer(
        &self,
        caller: &Caller,
        holder: &Holder,
    ) -> Result<DataWriter, DataStoreError> {
        if let Err(d) = Self::may_write(caller, holder, false) {
            return Err(self
                .refuse(caller, Action::DatasetWrite, holder, d.into())
                .await);
        }
        let lock = self.tree.lock(holder)?;
        Ok(DataWriter {
            ds: self.clone(),
            lock,
            caller: caller.clone(),
        })
    }

    /// Removes staging directories of interrupted writers nobody is writing now.
    pub fn clean_staging(&self) -> Result<usize, DataStoreError> {
        self.tree.clean_staging()
    }

    /// Whether a version directory exists (published, committed or not).
    pub fn version_exists(&self, holder: &Holder, version: i64) -> bool {
        self.tree.version_dir(holder, version).is_dir()
    }

    // ----- read side -----------------------------------------------------------------

    /// Opens a stored version of a dataset for reading: the current one, or `version`.
    /// The caller must hold the permission to manage datasets and hold this dataset (a
    /// custodian assigned to it, or the operator); the opening is audited.
    pub async fn open_dataset(
        &self,
        caller: &Caller,
        dataset: &str,
        version: Option<i64>,
    ) -> Result<OpenVersion, DataStoreError> {
        let object = format!("dataset:{dataset}");
        let checked = async {
            caller.require(Permission::ManageDatasets)?;
            let holder = Holder::dataset(dataset)?;
            if !renkei_catalog::custody_scope(&self.store, caller)
                .await
                .map_err(Box::new)?
                .covers(dataset)
            {
                return Err(AccessDenied::Object("not_custodian").into());
            }
            let version = match version {
                Some(v) => v,
                None => self
                    .current_version(dataset)
                    .await?
                    .ok_or_else(|| DataStoreError::NoSuchVersion(holder.clone()))?,
            };
            self.open(holder, version).await
        }
        .await;
        self.audit_open(caller, object, &checked, serde_json::json!({}))
            .await?;
        checked
    }

    async fn current_version(&self, dataset: &str) -> Result<Option<i64>, DataStoreError> {
        let v: Option<Option<i64>> =
            sqlx::query_scalar("SELECT current_version FROM datasets WHERE id = $1")
                .bind(dataset)
                .fetch_optional(self.store.pool())
                .await?;
        Ok(v.flatten())
    }

    /// Opens a committed `version` of `holder` under its key. Versions not committed
    /// (refused, interrupted, or files planted beside the store's record) do not open;
    /// once the key is destroyed, nothing does. Datasets record their key; the index
    /// and extracts are read under their live key.
    async fn open(&self, holder: Holder, version: i64) -> Result<OpenVersion, DataStoreError> {
        let (status, key_id): (Option<String>, Option<String>) = match &holder {
            Holder::Dataset(id) => {
                let row: Option<(String, Option<String>)> = sqlx::query_as(
                    "SELECT v.status, d.key_id FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id \
                     WHERE v.dataset_id = $1 AND v.version = $2",
                )
                .bind(id)
                .bind(version)
                .fetch_optional(self.store.pool())
                .await?;
                row.map_or((None, None), |(s, k)| (Some(s), k))
            }
            Holder::Index(_) => {
                let s: Option<String> =
                    sqlx::query_scalar("SELECT status FROM link_runs WHERE version = $1")
                        .bind(version)
                        .fetch_optional(self.store.pool())
                        .await?;
                (s, self.live_key(&holder).await?)
            }
            Holder::Extract(id) => {
                let s: Option<String> = sqlx::query_scalar(
                    "SELECT status FROM extracts WHERE project = $1 AND version = $2",
                )
                .bind(id)
                .bind(version)
                .fetch_optional(self.store.pool())
                .await?;
                (s, self.live_key(&holder).await?)
            }
        };
        let (Some("committed"), Some(key_id)) = (status.as_deref(), key_id) else {
            return Err(DataStoreError::NoSuchVersion(holder));
        };
        if !self.tree.version_dir(&holder, version).is_dir() {
            return Err(DataStoreError::NoSuchVersion(holder));
        }
        let key = Arc::new(self.vault.open(&KeyId(key_id)).await?);
        Ok(OpenVersion {
            tree: self.tree.clone(),
            holder,
            version,
            key,
            linkage_only: false,
        })
    }

    async fn live_key(&self, holder: &Holder) -> Result<Option<String>, DataStoreError> {
        Ok(self
            .vault
            .live_keys(&holder.owner())
            .await?
            .into_iter()
            .next_back()
            .map(|k| k.0))
    }

    async fn current_index_version(&self) -> Result<Option<i64>, DataStoreError> {
        Ok(
            sqlx::query_scalar("SELECT MAX(version) FROM link_runs WHERE status = 'committed'")
                .fetch_one(self.store.pool())
                .await?,
        )
    }

    /// Records an opening of `object` by `caller`: allowed with `detail`, or refused.
    async fn audit_open(
        &self,
        caller: &Caller,
        object: String,
        r: &Result<OpenVersion, DataStoreError>,
        detail: serde_json::Value,
    ) -> Result<(), DataStoreError> {
        match r {
            Ok(v) => {
                let mut d = detail;
                d["version"] = v.version.into();
                self.audit
                    .record(
                        caller
                            .event(Action::DatasetOpen, object, Outcome::Allowed)
                            .detail(d),
                    )
                    .await?;
            }
            Err(e) if e.kind().is_refusal() => {
                self.audit
                    .record(caller.event(Action::DatasetOpen, object, Outcome::denied(e.code())))
                    .await?;
            }
            Err(_) => {}
        }
        Ok(())
    }

    // ----- the linkage authority's read side -----------------------------------------

    /// The current version of `dataset` as the linkage authority sees it: only its
    /// tokens (fixed 16 bytes), dates, and record keys (text columns named `*_id`) come
    /// out. Values, codes and amounts never reach the linkage side. Audited.
    pub async fn open_for_linkage(
        &self,
        caller: &Caller,
        dataset: &str,
    ) -> Result<OpenVersion, DataStoreError> {
        let object = format!("dataset:{dataset}");
        let r = async {
            caller.require(Permission::ManageLinkage)?;
            let holder = Holder::dataset(dataset)?;
            let version = self
                .current_version(dataset)
                .await?
                .ok_or_else(|| DataStoreError::NoSuchVersion(holder.clone()))?;
            let mut v = self.open(holder, version).await?;
            v.linkage_only = true;
            Ok(v)
        }
        .await;
        self.audit_open(caller, object, &r, serde_json::json!({ "for": "linkage" }))
            .await?;
        r
    }

    /// Starts writing a new version of the person index: the linkage authority only.
    pub async fn index_writer(&self, caller: &Caller) -> Result<DataWriter, DataStoreError> {
        self.writer(caller, &Holder::person_index()).await
    }

    /// The current person index, for the linkage authority. Audited.
    pub async fn open_index(&self, caller: &Caller) -> Result<OpenVersion, DataStoreError> {
        let holder = Holder::person_index();
        let r = async {
            caller.require(Permission::ManageLinkage)?;
            let v = self
                .current_index_version()
                .await?
                .ok_or_else(|| DataStoreError::NoSuchVersion(holder.clone()))?;
            self.open(holder.clone(), v).await
        }
        .await;
        self.audit_open(caller, holder.owner(), &r, serde_json::json!({}))
            .await?;
        r
    }

    // ----- extracts --------------------------------------------------------------------

    /// The writer of a project's extract, under the platform's [`ExtractOrder`].
    pub async fn extract_writer(&self, order: &ExtractOrder) -> Result<DataWriter, DataStoreError> {
        let holder = Holder::extract(order.project())?;
        let lock = self.tree.lock(&holder)?;
        Ok(DataWriter {
            ds: self.clone(),
            lock,
            caller: order.caller().clone(),
        })
    }

    /// What an extract is made from, under its order: the current version of each
    /// dataset the permit grants (nothing else opens), and the current person index.
    /// Each opening is audited with the project it serves.
    pub async fn open_for_extract(
        &self,
        order: &ExtractOrder,
        source: ExtractSource<'_>,
    ) -> Result<OpenVersion, DataStoreError> {
        let caller = order.caller();
        let (object, r) = match source {
            ExtractSource::Dataset(dataset) => {
                let object = format!("dataset:{dataset}");
                let r = async {
                    let holder = Holder::dataset(dataset)?;
                    if !order.permit().data.iter().any(|d| d.dataset == dataset) {
                        return Err(AccessDenied::Object("not_permitted").into());
                    }
                    let version = self
                        .current_version(dataset)
                        .await?
                        .ok_or_else(|| DataStoreError::NoSuchVersion(holder.clone()))?;
                    self.open(holder, version).await
                }
                .await;
                (object, r)
            }
            ExtractSource::PersonIndex => {
                let holder = Holder::person_index();
                let r = async {
                    let v = self
                        .current_index_version()
                        .await?
                        .ok_or_else(|| DataStoreError::NoSuchVersion(holder.clone()))?;
                    self.open(holder.clone(), v).await
                }
                .await;
                (holder.owner(), r)
            }
        };
        self.audit_open(
            caller,
            object,
            &r,
            serde_json::json!({ "for": format!("extract:{}", order.project()) }),
        )
        .await?;
        r
    }

    /// A committed version of a project's extract, for a person the permit in force
    /// names (the workspace's read side). Audited.
    pub async fn open_extract(
        &self,
        caller: &Caller,
        permit: &PermitInForce,
        version: i64,
    ) -> Result<OpenVersion, DataStoreError> {
        let holder = Holder::extract(permit.project())?;
        // Only the newest committed version made under the permit version in force.
        let newest: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(version) FROM extracts WHERE project = $1 AND permit_version = $2 AND status = 'committed'",
        )
        .bind(permit.project())
        .bind(permit.permit().version)
        .fetch_one(self.store.pool())
        .await?;
        let r = if caller.user_id() != Some(permit.user()) {
            Err(AccessDenied::Object("not_named_on_permit").into())
        } else if newest != Some(version) {
            Err(DataStoreError::NoSuchVersion(holder.clone()))
        } else {
            self.open(holder.clone(), version).await
        };
        self.audit_open(caller, holder.owner(), &r, serde_json::json!({}))
            .await?;
        r
    }

    // ----- deletion ------------------------------------------------------------------

    /// Deletes everything `holder` stores by destroying its data keys, with a deletion
    /// certificate recorded in the same transaction as its audit entry; then removes
    /// the files (which no longer open) from the disk. Datasets: by those who manage
    /// datasets; extracts: only under a permit's closure (refused until then).
    /// Refusals are audited.
    pub async fn destroy(
        &self,
        caller: &Caller,
        holder: &Holder,
        reason: &str,
    ) -> Result<DeletionCertificate, DataStoreError> {
        if let Err(d) = Self::may_write(caller, holder, true) {
            return Err(self
                .refuse(caller, Action::KeyDestroy, holder, d.into())
                .await);
        }
        let lock = self.tree.lock(holder)?;
        let cert = self
            .vault
            .destroy(caller, &holder.owner(), reason, false)
            .await?;
        self.remove_files(holder);
        drop(lock);
        Ok(cert)
    }

    /// Deletes a closing project's extract by destroying its keys, under the authority
    /// of its [`Closure`], and gives back the deletion certificate (recorded with its
    /// audit entry) for the closure to be finished with. A project that never had data
    /// materialized gets a certificate that names no key, so that its closure is
    /// recorded the same way.
    pub async fn destroy_extract(
        &self,
        closure: &Closure,
    ) -> Result<DeletionCertificate, DataStoreError> {
        let holder = Holder::extract(closure.project())?;
        let lock = self.tree.lock(&holder)?;
        let cert = self
            .vault
            .destroy(closure.caller(), &holder.owner(), closure.reason(), true)
            .await?;
        self.remove_files(&holder);
        drop(lock);
        Ok(cert)
    }

    fn remove_files(&self, holder: &Holder) {
        let dir = self.tree.holder_dir(holder);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.file_name() != ".lock"
                    && let Err(err) = std::fs::remove_dir_all(e.path())
                {
                    tracing::warn!(path = %e.path().display(), error = %err, "could not remove the files of destroyed data (they no longer open)");
                }
            }
        }
    }

    /// The deletion certificates of `holder`. A certificate holds no data (what was
    /// destroyed, when, why, by whom, and its digest): it is meant to be shown.
    pub async fn certificates(
        &self,
        holder: &Holder,
    ) -> Result<Vec<DeletionCertificate>, DataStoreError> {
        self.vault.certificates(&holder.owner()).await
    }
}

/// Writing one holder's data: handed out by [`DataStore::writer`] to a caller allowed
/// to, and holding the holder's writer lock until dropped.
pub struct DataWriter {
    ds: DataStore,
    lock: WriterLock,
    caller: Caller,
}

impl DataWriter {
    /// What it writes.
    pub fn holder(&self) -> &Holder {
        self.lock.holder()
    }

    /// The data key new versions are written under: the holder's live key, or a new
    /// one (recorded, with its audit entry, before anything is written).
    pub async fn write_key(&self) -> Result<WriteKey, DataStoreError> {
        let ds = &self.ds;
        let owner = self.lock.holder().owner();
        if let Some(id) = ds.vault.live_keys(&owner).await?.into_iter().next_back() {
            let key = ds.vault.open(&id).await?;
            return Ok(WriteKey {
                id,
                key: Arc::new(key),
            });
        }
        // A closed project's extract never gets a key again: its deletion stands.
        if matches!(self.lock.holder(), Holder::Extract(_))
            && !ds.vault.certificates(&owner).await?.is_empty()
        {
            return Err(AccessDenied::Object("project_closed").into());
        }
        let mut tx = ds.store.begin().await?;
        let (id, key) = ds.vault.create_in(&mut tx, &self.caller, &owner).await?;
        tx.commit().await?;
        Ok(WriteKey {
            id,
            key: Arc::new(key),
        })
    }

    /// Starts writing `version`, encrypted under `key`.
    pub fn begin(&self, version: i64, key: &WriteKey) -> Result<Staging, DataStoreError> {
        self.ds.tree.begin(&self.lock, version, key.key.clone())
    }

    /// Rewrites `version` in place through `f` (table name and batch in, batch out),
    /// under the holder's live key; see the layout's rewrite for the crash-safe swap.
    /// `marker` names the rewrite: a version that already carries it is left alone
    /// (returns `None`), so an interrupted run can simply be run again. The file work
    /// runs on the calling thread: this is for commands (a key rotation), not for
    /// request handlers.
    pub async fn rewrite_version(
        &self,
        version: i64,
        marker: &str,
        f: &mut (dyn FnMut(&str, RecordBatch) -> Result<RecordBatch, DataStoreError> + Send),
    ) -> Result<Option<u64>, DataStoreError> {
        let ds = &self.ds;
        let holder = self.lock.holder();
        let id = ds
            .vault
            .live_keys(&holder.owner())
            .await?
            .into_iter()
            .next_back()
            .ok_or_else(|| DataStoreError::NoSuchVersion(holder.clone()))?;
        let key = ds.vault.open(&id).await?;
        if !ds.tree.version_dir(holder, version).is_dir() {
            return Err(DataStoreError::NoSuchVersion(holder.clone()));
        }
        ds.tree.rewrite(&self.lock, version, &key, marker, f)
    }
}

/// What an extract is read from.
#[derive(Clone, Copy, Debug)]
pub enum ExtractSource<'a> {
    /// A dataset the permit grants.
    Dataset(&'a str),
    /// The current person index.
    PersonIndex,
}

/// The key a writer encrypts new versions under, with its id (to record beside the
/// version). The key bytes stay inside this crate.
pub struct WriteKey {
    id: KeyId,
    key: Arc<DataKey>,
}

impl WriteKey {
    /// The key's id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// A keyed MAC derived from this key for `purpose`: what a project's pseudonyms
    /// are made with, so that they die with the key.
    pub fn macer(&self, purpose: &str) -> renkei_crypto::Macer {
        self.key.derived_macer(purpose)
    }
}

/// A stored version opened for reading, after the caller was checked. It holds the
/// version's key inside; readers get batches, never the key or the paths.
pub struct OpenVersion {
    tree: Tree,
    holder: Holder,
    version: i64,
    key: Arc<DataKey>,
    /// Whether this reader returns only what linkage needs (tokens, dates, record keys).
    linkage_only: bool,
}

impl OpenVersion {
    /// What was opened.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }
    /// Which version.
    pub fn version(&self) -> i64 {
        self.version
    }
    /// Its tables.
    pub fn tables(&self) -> Result<Vec<String>, DataStoreError> {
        self.tree.tables(&self.holder, self.version)
    }
    /// A whole table (for small tables and tests; queries stream through the engine).
    pub fn read_table(&self, table: &str) -> Result<Vec<RecordBatch>, DataStoreError> {
        let mut out = Vec::new();
        for batch in self.batches(table)? {
            out.push(batch?);
        }
        Ok(out)
    }
    /// A table's batches, streamed part by part (only the reader's columns, when it
    /// is restricted).
    pub fn batches(
        &self,
        table: &str,
    ) -> Result<impl Iterator<Item = Result<RecordBatch, DataStoreError>> + '_, DataStoreError>
    {
        let parts = self.tree.parts(&self.holder, self.version, table)?;
        let columns = if self.linkage_only {
            Some(
                self.schema(table)?
                    .fields()
                    .iter()
                    .filter(|f| linkage_column(f))
                    .map(|f| f.name().clone())
                    .collect::<Vec<_>>(),
            )
        } else {
            None
        };
        let table = table.to_owned();
        Ok(parts.into_iter().flat_map(move |p| {
            let it: Box<dyn Iterator<Item = Result<RecordBatch, DataStoreError>>> =
                match Tree::part_batches(
                    &self.holder,
                    self.version,
                    &table,
                    &p,
                    &self.key,
                    columns.as_deref(),
                ) {
                    Ok(it) => Box::new(it),
                    Err(e) => Box::new(std::iter::once(Err(e))),
                };
            it
        }))
    }

    /// A sealer under a key derived from this holder's data key for `purpose`: for
    /// what the holder keeps beside its files, destroyed with them.
    pub fn sealer(&self, purpose: &str) -> renkei_crypto::Sealer {
        self.key.derived_sealer(purpose)
    }

    /// How many part files a table has: the units a query engine reads in parallel.
    pub fn part_count(&self, table: &str) -> Result<usize, DataStoreError> {
        Ok(self.tree.parts(&self.holder, self.version, table)?.len())
    }

    /// One part of a table, batch by batch, only `columns` when given (in the table's
    /// order); owned, so another thread can read it.
    pub fn part(
        &self,
        table: &str,
        index: usize,
        columns: Option<&[String]>,
    ) -> Result<
        impl Iterator<Item = Result<RecordBatch, DataStoreError>> + Send + use<>,
        DataStoreError,
    > {
        let parts = self.tree.parts(&self.holder, self.version, table)?;
        let Some(p) = parts.get(index) else {
            return Err(DataStoreError::NoSuchVersion(self.holder.clone()));
        };
        let columns = if self.linkage_only {
            let allowed = self.schema(table)?;
            Some(
                allowed
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .filter(|n| columns.is_none_or(|c| c.contains(n)))
                    .collect::<Vec<_>>(),
            )
        } else {
            columns.map(<[String]>::to_vec)
        };
        Tree::part_batches(
            &self.holder,
            self.version,
            table,
            p,
            &self.key,
            columns.as_deref(),
        )
    }

    /// A table's schema as this reader returns it.
    pub fn schema(&self, table: &str) -> Result<arrow_schema::SchemaRef, DataStoreError> {
        let parts = self.tree.parts(&self.holder, self.version, table)?;
        let Some(first) = parts.first() else {
            return Err(DataStoreError::NoSuchVersion(self.holder.clone()));
        };
        let s = Tree::part_schema(&self.holder, self.version, table, first, &self.key)?;
        if self.linkage_only {
            let fields: Vec<_> = s
                .fields()
                .iter()
                .filter(|f| linkage_column(f))
                .cloned()
                .collect();
            return Ok(Arc::new(arrow_schema::Schema::new(fields)));
        }
        Ok(s)
    }
}

/// What the linkage side may read: tokens, dates, and record keys.
fn linkage_column(f: &arrow_schema::Field) -> bool {
    use arrow_schema::DataType;
    matches!(
        f.data_type(),
        DataType::FixedSizeBinary(16) | DataType::Date32
    ) || (f.name().ends_with("_id") && matches!(f.data_type(), DataType::Utf8))
}

/// What tests need to look behind the read side: the files on disk, and whether a
/// file opens under a key.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use super::*;
    use std::path::PathBuf;

    impl DataStore {
        /// Every file under the datasets and extracts directories.
        pub fn all_files(&self) -> Vec<PathBuf> {
            self.tree.all_files()
        }
        /// A version's directory.
        pub fn version_dir(&self, holder: &Holder, version: i64) -> PathBuf {
            self.tree.version_dir(holder, version)
        }
        /// Every data key the platform can still open.
        pub async fn every_live_key(&self) -> Result<Vec<(KeyId, DataKey)>, DataStoreError> {
            self.vault.every_live_key().await
        }
    }

    /// Tries to read part file `part` of `holder`/`version`/`table` under `key`.
    pub fn opens_under(
        holder: &Holder,
        version: i64,
        table: &str,
        part: &Path,
        key: &DataKey,
    ) -> bool {
        Tree::read_part(holder, version, table, part, key).is_ok()
    }
}

#[cfg(test)]
mod tests;
