//! Ingest: source files in, an encrypted dataset version out.
//!
//! 1. The dataset's declaration says which files to read and which reader reads them.
//! 2. Files are read in parallel; each is hashed (SHA-256) on the way. Readers validate
//!    every record (codes against the masters, dates, sexes, mandatory fields) and send
//!    what they cannot accept to the reject report (file, line, field, reason: never the
//!    value). Identifying fields become linkage tokens at once and are dropped.
//! 3. Rows go to encrypted Parquet in a staging directory, with a quality profile.
//! 4. If the reject rate is over the threshold the version is **refused**: the staging
//!    files are thrown away and the previous version stays current. Otherwise the
//!    staging directory becomes the version directory, and one transaction records the
//!    version in the catalogue, makes it current, and writes the audit entry.
//!
//! A killed ingest leaves the previous version intact and visible; running it again is
//! safe.
#![warn(missing_docs)]

pub mod check;
mod ctx;
pub mod linkage;
mod optout;
pub mod readers;
mod screen;
mod sink;
pub mod tokens;
pub use optout::{OptOutReceipt, OptOutRequest};

pub use ctx::{Reject, age_band, age_on};

use ctx::ReadCtx;
use renkei_audit::Audit;
use renkei_catalog::{
    CatalogError, Declaration, FileRecord, Profile, RecordTally, TableProfile, VersionRecord,
    VersionStatus,
};
use renkei_core::time::SharedClock;
use renkei_core::{Action, Caller, Coded, ErrorKind, Outcome, Permission};
use renkei_crypto::KeyStore;
use renkei_datastore::{DataStore, DataStoreError, Holder};
use renkei_masters::Masters;
use renkei_store::Store;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Ingest failures (a refused version is not a failure: see [`IngestReport::status`]).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The declaration and the reader disagree, or the declaration is invalid.
    #[error("schema: {0}")]
    Schema(String),
    /// No files matched.
    #[error("no files matching {pattern:?} under {dir}")]
    NoFiles {
        /// Pattern.
        pattern: String,
        /// Directory.
        dir: String,
    },
    /// Reading a source file failed.
    #[error("{path}: {err}")]
    Io {
        /// File.
        path: String,
        /// Why.
        err: std::io::Error,
    },
    /// Keys (e.g. no linkage key in this process).
    #[error(transparent)]
    Keys(#[from] renkei_crypto::KeyError),
    /// The data key does not open.
    #[error("the dataset's data key does not open under this master key")]
    DataKey,
    /// Storage.
    #[error(transparent)]
    Data(#[from] DataStoreError),
    /// Catalogue.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Metadata store.
    #[error(transparent)]
    Store(#[from] renkei_store::StoreError),
    /// Audit.
    #[error(transparent)]
    Audit(#[from] renkei_audit::AuditError),
    /// The caller may not ingest.
    #[error(transparent)]
    Denied(#[from] renkei_core::role::AccessDenied),
    /// No such version or reject report.
    #[error("no such version")]
    NotFound,
    /// A request (an opt-out) is missing or malformed in the named field.
    #[error("{0}")]
    InvalidRequest(String),
    /// Another ingest of the dataset holds its writer lock.
    #[error("another ingest of dataset {0} is running; try again when it has finished")]
    InProgress(String),
    /// This process's linkage keyring is not the platform's: its tokens would link
    /// with nothing stored.
    #[error(
        "this process's linkage key ({ours}) is not the platform's ({platform}): ingest with \
         the linkage authority's current key; a change of key is a rotation \
         (`renkei linkage-key rotate`), never an ingest"
    )]
    LinkageKeyMismatch {
        /// This process's fingerprint.
        ours: String,
        /// The platform's.
        platform: String,
    },
    /// A source file exceeds the size limit.
    #[error("{file} has {bytes} bytes, over the limit of {max} for one file: split it")]
    TooLarge {
        /// The file, relative to the source directory.
        file: String,
        /// Its size.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// A rotation was asked for before any key was registered.
    #[error("no linkage key is registered yet: the first ingest registers one")]
    NoLinkageRegistered,
    /// A linkage-key rotation has started and not finished: no version may commit under
    /// either keyring until it has.
    #[error(
        "a linkage-key rotation is in progress (or was interrupted): the linkage authority \
         finishes it with `renkei linkage-key rotate`; ingest after that, with the new key"
    )]
    RotationInProgress,
    /// A stored version cannot be re-keyed in one step.
    #[error(
        "version {version} of {dataset} has tokens of generation {found}, not {expected}: it cannot be re-keyed in one step"
    )]
    GenerationGap {
        /// Dataset.
        dataset: String,
        /// Version.
        version: i64,
        /// Its token generation.
        found: i64,
        /// The generation the rotation starts from.
        expected: i64,
    },
}

impl From<renkei_store::sqlx::Error> for IngestError {
    fn from(e: renkei_store::sqlx::Error) -> Self {
        IngestError::Store(e.into())
    }
}

impl Coded for IngestError {
    fn code(&self) -> &'static str {
        match self {
            IngestError::Schema(_) => "invalid_declaration",
            IngestError::NoFiles { .. } => "no_files",
            IngestError::Io { .. } => "unreadable_file",
            IngestError::Keys(_) => "no_linkage_key",
            IngestError::DataKey => "data_key",
            IngestError::InProgress(_) => "ingest_in_progress",
            IngestError::LinkageKeyMismatch { .. } => "linkage_key_mismatch",
            IngestError::NoLinkageRegistered => "no_linkage_key_registered",
            IngestError::TooLarge { .. } => "file_too_large",
            IngestError::RotationInProgress => "linkage_rotation_in_progress",
            IngestError::GenerationGap { .. } => "linkage_generation_gap",
            IngestError::Data(e) => e.code(),
            IngestError::Catalog(e) => e.code(),
            IngestError::Audit(e) => e.code(),
            IngestError::Denied(d) => d.code(),
            IngestError::NotFound => "not_found",
            IngestError::InvalidRequest(_) => "invalid_input",
            IngestError::Store(_) => "internal",
        }
    }
    fn kind(&self) -> ErrorKind {
        match self {
            IngestError::Schema(_)
            | IngestError::InvalidRequest(_)
            | IngestError::NoFiles { .. }
            | IngestError::Io { .. }
            | IngestError::TooLarge { .. } => ErrorKind::InvalidInput,
            IngestError::Keys(_) => ErrorKind::Unavailable,
            IngestError::DataKey | IngestError::Store(_) => ErrorKind::Internal,
            IngestError::Data(e) => e.kind(),
            IngestError::Catalog(e) => e.kind(),
            IngestError::Audit(e) => e.kind(),
            IngestError::Denied(d) => d.kind(),
            IngestError::NotFound => ErrorKind::NotFound,
            IngestError::InProgress(_)
            | IngestError::LinkageKeyMismatch { .. }
            | IngestError::NoLinkageRegistered
            | IngestError::RotationInProgress
            | IngestError::GenerationGap { .. } => ErrorKind::Conflict,
        }
    }
    fn public_detail(&self) -> Option<String> {
        match self {
            IngestError::Schema(m) | IngestError::InvalidRequest(m) => Some(m.clone()),
            IngestError::TooLarge { .. } => Some(self.to_string()),
            IngestError::Keys(e) => Some(e.to_string()),
            IngestError::NoFiles { pattern, .. } => Some(format!("no files matching {pattern:?}")),
            IngestError::LinkageKeyMismatch { .. }
            | IngestError::NoLinkageRegistered
            | IngestError::RotationInProgress
            | IngestError::GenerationGap { .. } => Some(self.to_string()),
            _ => None,
        }
    }
}

/// What an ingest did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct IngestReport {
    /// Dataset.
    pub dataset: String,
    /// Version made.
    pub version: i64,
    /// Committed or refused.
    pub status: VersionStatus,
    /// Records read.
    pub rows_in: u64,
    /// Records rejected.
    pub rows_rejected: u64,
    /// Rows stored, by table.
    pub tables: Vec<(String, u64)>,
    /// What became of the source records, by record type.
    pub records: Vec<RecordTally>,
    /// The master versions the codes were checked against.
    pub masters: Vec<renkei_masters::MasterVersion>,
    /// Source files.
    pub files: usize,
    /// Source bytes.
    pub bytes: u64,
    /// The reject report (CSV: file, line, field, reason).
    pub reject_report: PathBuf,
    /// Seconds taken.
    pub seconds: f64,
}

impl IngestReport {
    /// Rejected share.
    pub fn reject_rate(&self) -> f64 {
        reject_rate(self.rows_in, self.rows_rejected)
    }
}

/// Settings.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// A version rejecting more than this share of its records is refused.
    pub max_reject_rate: f64,
    /// Reader threads.
    pub threads: usize,
    /// A source file larger than this is refused before anything is read (and a file
    /// that grows past it while read is refused then). Files are read in blocks where
    /// the format allows; formats read whole are also held to
    /// [`readers::MAX_WHOLE_FILE`].
    pub max_file_bytes: u64,
}

/// The default cap on one source file: 8 GiB (a month of a large hospital's receipts
/// is well under 1 GiB).
pub const MAX_FILE_BYTES: u64 = 8 << 30;

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            max_reject_rate: 0.05,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_file_bytes: MAX_FILE_BYTES,
        }
    }
}

/// Runs ingests.
#[derive(Clone)]
pub struct Ingestor {
    store: Store,
    audit: Audit,
    keys: Arc<KeyStore>,
    data: DataStore,
    masters: Arc<Masters>,
    clock: SharedClock,
    reports: PathBuf,
    linkage: linkage::LinkageKeys,
}

/// Files of `dir` matching a declaration's pattern: `*.ext`, `prefix_*.csv`, and `**/` for
/// any depth. Sorted, relative to `dir`.
pub fn matching_files(dir: &Path, pattern: &str) -> Result<Vec<PathBuf>, IngestError> {
    let (deep, name_pat) = match pattern.strip_prefix("**/") {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let (prefix, suffix) = name_pat.split_once('*').unwrap_or((name_pat, ""));
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|err| IngestError::Io {
            path: d.display().to_string(),
            err,
        })?;
        for e in rd.flatten() {
            let p = e.path();
            // Never follow a link: a symlink can point a load at any file the process
            // may read (a key, another dataset), or loop.
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_symlink() {
                continue;
            }
            if kind.is_dir() {
                if deep {
                    stack.push(p);
                }
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(prefix)
                && name.ends_with(suffix)
                && name.len() >= prefix.len() + suffix.len()
            {
                out.push(p.strip_prefix(dir).unwrap_or(&p).to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

struct ThreadResult {
    tables: Vec<TableProfile>,
    tally: Vec<RecordTally>,
    systems: u8,
    rejects: Vec<Reject>,
    rows_in: u64,
    rows_rejected: u64,
    first: Option<renkei_core::wareki::Ymd>,
    last: Option<renkei_core::wareki::Ymd>,
    files: Vec<FileRecord>,
}

impl Ingestor {
    /// An ingestor writing into `data` (and its reports under `data_dir/ingest`).
    /// `keys` are used for the linkage tokens only: the data keys are `data`'s.
    pub fn new(
        store: Store,
        audit: Audit,
        keys: Arc<KeyStore>,
        data: DataStore,
        data_dir: &Path,
        masters: Arc<Masters>,
        clock: SharedClock,
    ) -> Self {
        Self {
            linkage: linkage::LinkageKeys::new(
                store.clone(),
                audit.clone(),
                data.clone(),
                clock.clone(),
            ),
            store,
            audit,
            keys,
            data,
            masters,
            clock,
            reports: data_dir.join("ingest"),
        }
    }

    /// The platform's linkage-key registry and its rotation.
    pub fn linkage(&self) -> &linkage::LinkageKeys {
        &self.linkage
    }

    /// The reject report of a version (CSV: file, line, field, reason; it names places
    /// and rules, never values), for a caller who may manage datasets. The download is
    /// audited.
    pub async fn reject_report(
        &self,
        caller: &Caller,
        dataset: &str,
        version: i64,
    ) -> Result<Vec<u8>, IngestError> {
        let object = format!("dataset:{dataset}:v{version}");
        let found = async {
            caller.require(Permission::ManageDatasets)?;
            let known: Option<i64> = renkei_store::sqlx::query_scalar(
                "SELECT version FROM dataset_versions WHERE dataset_id = $1 AND version = $2",
            )
            .bind(dataset)
            .bind(version)
            .fetch_optional(self.store.pool())
            .await?;
            let path = known
                .and_then(|_| self.report_path(dataset, version))
                .ok_or(IngestError::NotFound)?;
            // Versions are public in the catalogue; custody is asked once one exists.
            if !renkei_catalog::custody_scope(&self.store, caller)
                .await?
                .covers(dataset)
            {
                return Err(renkei_core::role::AccessDenied::Object("not_custodian").into());
            }
            match std::fs::read(&path) {
                Ok(b) => Ok(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(IngestError::NotFound),
                Err(err) => Err(IngestError::Io {
                    path: path.display().to_string(),
                    err,
                }),
            }
        }
        .await;
        let outcome = match &found {
            Ok(_) => Outcome::Allowed,
            Err(e) if e.kind().is_refusal() => Outcome::denied(e.code()),
            Err(_) => return found,
        };
        let mut ev = caller.event(Action::DatasetRejects, object, outcome);
        if let Ok(b) = &found {
            ev = ev.detail(serde_json::json!({ "bytes": b.len() }));
        }
        self.audit.record(ev).await?;
        found
    }

    /// Where the reject report of a version is kept. `None` if the dataset id is not a
    /// plain id.
    fn report_path(&self, dataset: &str, version: i64) -> Option<PathBuf> {
        let plain = !dataset.is_empty()
            && dataset
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        plain.then(|| {
            self.reports
                .join(format!("{dataset}-v{version}-rejects.csv"))
        })
    }

    /// The dataset's writer (and its lock). Start-up cleanup in another process holds
    /// the lock for a moment, so a busy lock is retried for up to two seconds before the
    /// ingest is refused; a real concurrent ingest holds it far longer.
    async fn writer(
        &self,
        caller: &Caller,
        holder: &Holder,
    ) -> Result<renkei_datastore::DataWriter, IngestError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            match self.data.writer(caller, holder).await {
                Err(DataStoreError::Busy(_)) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                }
                Err(DataStoreError::Busy(h)) => {
                    return Err(IngestError::InProgress(h.id().to_owned()));
                }
                other => return Ok(other?),
            }
        }
    }

    async fn deny(&self, caller: &Caller, dataset: &str, err: IngestError) -> IngestError {
        let ev = caller
            .event(
                Action::DatasetIngest,
                format!("dataset:{dataset}"),
                Outcome::denied(err.code()),
            )
            .detail(serde_json::json!({ "error": err.to_string() }));
        match self.audit.record(ev).await {
            Ok(_) => err,
            Err(e) => e.into(),
        }
    }

    /// Ingests `dir` as a new version of the declared dataset. `progress` receives
    /// (bytes read, bytes in all).
    ///
    /// The caller must hold the permission to manage datasets; every refusal (that
    /// one, a bad declaration, missing files, a missing linkage key, another ingest at
    /// work) is audited before the caller hears of it.
    pub async fn ingest(
        &self,
        caller: &Caller,
        decl: &Declaration,
        dir: &Path,
        opts: &IngestOptions,
        progress: Arc<dyn Fn(u64, u64) + Send + Sync>,
    ) -> Result<IngestReport, IngestError> {
        let id = decl.dataset.id.clone();
        let result = match caller.require(Permission::ManageDatasets) {
            Ok(()) => self.run(caller, decl, dir, opts, progress).await,
            Err(d) => Err(d.into()),
        };
        match result {
            Err(e)
                if e.kind().is_refusal()
                    || matches!(e, IngestError::Keys(_) | IngestError::DataKey) =>
            {
                Err(self.deny(caller, &id, e).await)
            }
            other => other,
        }
    }

    async fn run(
        &self,
        caller: &Caller,
        decl: &Declaration,
        dir: &Path,
        opts: &IngestOptions,
        progress: Arc<dyn Fn(u64, u64) + Send + Sync>,
    ) -> Result<IngestReport, IngestError> {
        let started = std::time::Instant::now();
        decl.validate()
            .and_then(|()| decl.check_labels())
            .map_err(|e| IngestError::Schema(e.to_string()))?;
        let id = decl.dataset.id.clone();
        let files = matching_files(dir, &decl.dataset.files)?;
        if files.is_empty() {
            return Err(IngestError::NoFiles {
                pattern: decl.dataset.files.clone(),
                dir: dir.display().to_string(),
            });
        }
        let mut total = 0u64;
        for f in &files {
            let len = std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0);
            if len > opts.max_file_bytes {
                let e = IngestError::TooLarge {
                    file: f.display().to_string(),
                    bytes: len,
                    max: opts.max_file_bytes,
                };
                return Err(self.deny(caller, &id, e).await);
            }
            total += len;
        }
        let tokens = Arc::new(tokens::Tokens::new(renkei_crypto::Tokenizer::new(
            &self.keys,
            renkei_core::normalize::VERSION,
        )?));
        // Tokens link only under the platform's keyring: refuse any other before
        // reading a file.
        let keyring = self.linkage.admit(caller, &self.keys).await?;
        // Everything from here to the commit happens under the dataset's writer lock:
        // the version number, the data key of a new dataset, and the directories.
        let holder = Holder::dataset(&id)
            .map_err(|_| IngestError::Schema(format!("dataset id {id:?} is not a plain id")))?;
        let writer = self.writer(caller, &holder).await?;
        let key = writer.write_key().await?;
        let version: i64 = renkei_store::sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MAX(version) FROM dataset_versions WHERE dataset_id = $1",
        )
        .bind(&id)
        .fetch_one(self.store.pool())
        .await?
        .unwrap_or(0)
            + 1;
        let staging = writer.begin(version, &key)?;
        let stored = decl.stored_tables();
        let threads = opts.threads.clamp(1, files.len());
        let masters = self.masters.clone();
        let decl2 = decl.clone();
        let dir2 = dir.to_path_buf();
        let files2 = files.clone();
        let max_file = opts.max_file_bytes;
        let (staging, results) = tokio::task::spawn_blocking(move || {
            let next = AtomicUsize::new(0);
            let done = AtomicU64::new(0);
            let results: Vec<Result<ThreadResult, IngestError>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|_| {
                        s.spawn(|| -> Result<ThreadResult, IngestError> {
                            let sinks = stored
                                .iter()
                                .map(|t| sink::TableSink::new(t, Some(&staging)))
                                .collect();
                            let mut ctx = ReadCtx::new(&masters, &tokens, sinks);
                            ctx.policy = decl2.dataset.unknown_code;
                            let mut reader = readers::Reader::for_declaration(&decl2, &ctx)?;
                            let mut records = Vec::new();
                            // One read buffer per thread, reused: a fresh one per file
                            // spent its time in page faults.
                            let mut buf = Vec::new();
                            loop {
                                let i = next.fetch_add(1, Ordering::SeqCst);
                                let Some(rel) = files2.get(i) else { break };
                                let path = dir2.join(rel);
                                let name = rel.to_string_lossy().replace('\\', "/");
                                let io = |err| IngestError::Io {
                                    path: path.display().to_string(),
                                    err,
                                };
                                let file = std::fs::File::open(&path).map_err(io)?;
                                let mut hash = Sha256::new();
                                // Bounded even if the file grew since it was measured.
                                let len = reader
                                    .read_stream(&mut ctx, &name, file, max_file, &mut buf, |b| {
                                        hash.update(b);
                                        let d = done.fetch_add(b.len() as u64, Ordering::SeqCst)
                                            + b.len() as u64;
                                        progress(d, total);
                                    })
                                    .map_err(|e| match e {
                                        readers::StreamError::Io(err) => io(err),
                                        readers::StreamError::Ingest(e) => e,
                                    })?;
                                records.push(FileRecord {
                                    name,
                                    bytes: len,
                                    sha256: hex::encode(hash.finalize()),
                                });
                            }
                            reader.finish(&mut ctx)?;
                            let tables = ctx
                                .tables
                                .into_iter()
                                .map(|t| t.finish())
                                .collect::<Result<Vec<_>, _>>()?;
                            Ok(ThreadResult {
                                tables,
                                tally: std::mem::take(&mut ctx.tally),
                                systems: ctx.systems,
                                rejects: ctx.rejects,
                                rows_in: ctx.rows_in,
                                rows_rejected: ctx.rows_rejected,
                                first: ctx.first,
                                last: ctx.last,
                                files: records,
                            })
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(IngestError::Schema("a reader thread panicked".into()))
                        })
                    })
                    .collect()
            });
            (staging, results)
        })
        .await
        .map_err(|e| IngestError::Schema(format!("ingest task failed: {e}")))?;

        let read_secs = started.elapsed().as_secs_f64();
        let mut merged: Option<ThreadResult> = None;
        for r in results {
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    staging.abandon();
                    return Err(e);
                }
            };
            match &mut merged {
                None => merged = Some(r),
                Some(m) => {
                    for (a, b) in m.tables.iter_mut().zip(r.tables) {
                        sink::merge(a, b);
                    }
                    m.rejects.extend(r.rejects);
                    merge_tally(&mut m.tally, r.tally);
                    m.systems |= r.systems;
                    m.rows_in += r.rows_in;
                    m.rows_rejected += r.rows_rejected;
                    m.first = m.first.into_iter().chain(r.first).min();
                    m.last = m.last.into_iter().chain(r.last).max();
                    m.files.extend(r.files);
                }
            }
        }
        let Some(mut m) = merged else {
            staging.abandon();
            return Err(IngestError::Schema("no reader ran".into()));
        };
        m.tables.iter_mut().for_each(sink::finalize);
        m.files.sort_by(|a, b| a.name.cmp(&b.name));
        m.rejects
            .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));

        // The reject report and the manifest stay, whatever the outcome.
        std::fs::create_dir_all(&self.reports).map_err(|err| IngestError::Io {
            path: self.reports.display().to_string(),
            err,
        })?;
        let report_path = self
            .report_path(&id, version)
            .ok_or_else(|| IngestError::Schema(format!("dataset id {id:?}")))?;
        let io_err = |err| IngestError::Io {
            path: report_path.display().to_string(),
            err,
        };
        let report = reject_csv(&m.rejects, m.rows_rejected)
            .map_err(|e| io_err(std::io::Error::other(e.to_string())))?;
        std::fs::write(&report_path, report).map_err(io_err)?;
        let mut manifest = String::new();
        for f in &m.files {
            manifest.push_str(&format!("{}  {}  {}\n", f.sha256, f.bytes, f.name));
        }
        let manifest_sha = hex::encode(Sha256::digest(manifest.as_bytes()));
        let manifest_path = self.reports.join(format!("{id}-v{version}-manifest.txt"));
        std::fs::write(&manifest_path, &manifest).map_err(|err| IngestError::Io {
            path: manifest_path.display().to_string(),
            err,
        })?;

        let rate = reject_rate(m.rows_in, m.rows_rejected);
        let refused = rate > opts.max_reject_rate;
        let status = if refused {
            VersionStatus::Refused
        } else {
            VersionStatus::Committed
        };
        let fmt = |d: Option<renkei_core::wareki::Ymd>| {
            d.map(|d| format!("{:04}-{:02}-{:02}", d.0, d.1, d.2))
                .unwrap_or_default()
        };
        let now = self.clock.now();
        let files_kept: Vec<FileRecord> = m.files.iter().take(2000).cloned().collect();
        let record = VersionRecord {
            dataset_id: id.clone(),
            version,
            status,
            reason: if refused {
                format!(
                    "{:.2}% of records rejected (threshold {:.2}%)",
                    rate * 100.0,
                    opts.max_reject_rate * 100.0
                )
            } else {
                String::new()
            },
            created_at: now,
            created_by: caller.actor().id,
            files: files_kept,
            rows_in: m.rows_in,
            rows_rejected: m.rows_rejected,
            coverage_from: fmt(m.first),
            coverage_to: fmt(m.last),
            profile: Profile {
                tables: m.tables.clone(),
                records: m.tally.clone(),
            },
            masters: self.masters.versions_of(&systems_of(m.systems)),
            linkage_fingerprint: keyring.fingerprint.clone(),
            token_generation: keyring.generation,
        };
        if refused {
            staging.abandon();
        } else {
            staging.publish()?;
        }
        let detail = serde_json::json!({
            "dataset": id,
            "version": version,
            "files": m.files.len(),
            "bytes": total,
            "manifest_sha256": manifest_sha,
            "rows_in": m.rows_in,
            "rows_rejected": m.rows_rejected,
            "reject_rate": rate,
            "tables": m.tables.iter().map(|t| (t.name.clone(), t.rows)).collect::<std::collections::BTreeMap<_, _>>(),
        });
        let outcome = if refused {
            Outcome::denied("reject_rate_exceeded")
        } else {
            Outcome::Allowed
        };
        let ev = caller
            .event(Action::DatasetIngest, format!("dataset:{id}"), outcome)
            .detail(detail);
        let record_masters = record.masters.clone();
        let mut tx = self.store.begin().await?;
        // The keyring the tokens were made under must still be the platform's, with no
        // rotation begun since: else this version would carry tokens nothing links to.
        if let Err(e) = self.linkage.still_current(&mut tx, &keyring).await {
            drop(tx);
            return Err(self.deny(caller, &id, e).await);
        }
        renkei_catalog::ensure_dataset(&mut tx, decl, key.id().as_str(), now).await?;
        renkei_catalog::record_version(&mut tx, &record).await?;
        self.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        drop(writer);
        // Where an ingest's time goes: reading (parallel) against the serial tail
        // (merging profiles, reports, publishing with fsync, the catalogue commit).
        tracing::debug!(
            dataset = %id,
            version,
            read_secs,
            tail_secs = started.elapsed().as_secs_f64() - read_secs,
            "ingest timing"
        );
        Ok(IngestReport {
            dataset: id,
            version,
            status,
            rows_in: m.rows_in,
            rows_rejected: m.rows_rejected,
            tables: m.tables.iter().map(|t| (t.name.clone(), t.rows)).collect(),
            records: m.tally,
            masters: record_masters,
            files: m.files.len(),
            bytes: total,
            reject_report: report_path,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// Adds one reader's record tallies to another's.
pub(crate) fn merge_tally(into: &mut Vec<RecordTally>, other: Vec<RecordTally>) {
    for t in other {
        match into.iter_mut().find(|x| x.kind == t.kind) {
            Some(x) => {
                x.read += t.read;
                x.stored += t.stored;
                x.flagged += t.flagged;
                x.rejected += t.rejected;
            }
            None => into.push(t),
        }
    }
}

/// The masters whose bits are set (see `ReadCtx::systems`).
pub(crate) fn systems_of(bits: u8) -> Vec<renkei_masters::CodeSystem> {
    renkei_masters::CodeSystem::ALL
        .into_iter()
        .filter(|s| bits & (1 << *s as u8) != 0)
        .collect()
}

/// Rejected share of a load; nothing read counts as all rejected (an empty or wholly
/// unreadable delivery must not become a current version).
fn reject_rate(rows_in: u64, rows_rejected: u64) -> f64 {
    if rows_in == 0 {
        1.0
    } else {
        rows_rejected as f64 / rows_in as f64
    }
}

/// The reject report as RFC 4180 CSV (quoted by the csv crate, so a file name or a
/// reason with a comma, quote or line break cannot break or add rows).
fn reject_csv(rejects: &[Reject], total: u64) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["file", "line", "field", "reason"])?;
    for r in rejects {
        w.write_record([&r.file, &r.line.to_string(), &r.field, &r.reason])?;
    }
    if total > rejects.len() as u64 {
        let more = format!(
            "{} further rejects not itemized",
            total - rejects.len() as u64
        );
        w.write_record(["", "", "", &more])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests;
