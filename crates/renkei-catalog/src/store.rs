//! The catalogue in the metadata store.

use crate::{Declaration, Profile};
use renkei_core::Timestamp;
use renkei_store::sqlx::{self, Row as _};
use renkei_store::{Store, Tx};
use serde::{Deserialize, Serialize};

/// Catalogue failures.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] renkei_store::StoreError),
    /// No such dataset.
    #[error("no dataset {0:?}")]
    NoSuchDataset(String),
    /// A stored declaration no longer parses (a bug, or tampering).
    #[error("stored declaration of {0} is unreadable: {1}")]
    Corrupt(String, String),
    /// The declaration changes the dataset's kind or id.
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this.
    #[error(transparent)]
    Denied(renkei_core::role::AccessDenied),
    /// The audit log refused the record of this operation, so it did not happen.
    #[error(transparent)]
    Audit(#[from] renkei_audit::AuditError),
}

impl renkei_core::Coded for CatalogError {
    fn code(&self) -> &'static str {
        match self {
            CatalogError::NoSuchDataset(_) => "not_found",
            CatalogError::Conflict(_) => "declaration_conflict",
            CatalogError::Denied(d) => d.code(),
            CatalogError::Audit(e) => e.code(),
            CatalogError::Store(_) | CatalogError::Corrupt(..) => "internal",
        }
    }
    fn kind(&self) -> renkei_core::ErrorKind {
        use renkei_core::ErrorKind;
        match self {
            CatalogError::NoSuchDataset(_) => ErrorKind::NotFound,
            CatalogError::Conflict(_) => ErrorKind::Conflict,
            CatalogError::Denied(d) => d.kind(),
            CatalogError::Audit(e) => e.kind(),
            CatalogError::Store(_) | CatalogError::Corrupt(..) => ErrorKind::Internal,
        }
    }
    fn public_detail(&self) -> Option<String> {
        match self {
            CatalogError::Conflict(m) => Some(m.clone()),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for CatalogError {
    fn from(e: sqlx::Error) -> Self {
        CatalogError::Store(e.into())
    }
}

/// A source file of a version.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FileRecord {
    /// Path relative to the source directory.
    pub name: String,
    /// Size.
    pub bytes: u64,
    /// SHA-256 (hex).
    pub sha256: String,
}

/// Committed or refused.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// Stored and current.
    Committed,
    /// Refused (reject rate over the threshold); the previous version stays current.
    Refused,
}

impl VersionStatus {
    fn code(self) -> &'static str {
        match self {
            VersionStatus::Committed => "committed",
            VersionStatus::Refused => "refused",
        }
    }
}

/// One ingest of a dataset.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VersionRecord {
    /// Dataset.
    pub dataset_id: String,
    /// Version number (1, 2, ...).
    pub version: i64,
    /// Outcome.
    pub status: VersionStatus,
    /// Why refused.
    pub reason: String,
    /// When.
    pub created_at: Timestamp,
    /// By whom (`user:<id>` or `cli`).
    pub created_by: String,
    /// Source files.
    pub files: Vec<FileRecord>,
    /// Records read.
    pub rows_in: u64,
    /// Records rejected.
    pub rows_rejected: u64,
    /// Earliest date in the data (YYYY-MM-DD), or empty.
    pub coverage_from: String,
    /// Latest date.
    pub coverage_to: String,
    /// Quality profile.
    pub profile: Profile,
    /// The master versions its codes were checked against.
    pub masters: Vec<renkei_masters::MasterVersion>,
    /// Fingerprint of the linkage keyring its tokens were computed under (empty for
    /// versions ingested before fingerprints were recorded).
    pub linkage_fingerprint: String,
    /// How many generations of that keyring its tokens went through.
    pub token_generation: i64,
}

/// A dataset with its declaration and current version.
#[derive(Clone, Debug)]
pub struct DatasetEntry {
    /// Declaration.
    pub declaration: Declaration,
    /// The id of the data key its versions are encrypted under.
    pub key_id: String,
    /// Current version.
    pub current: Option<VersionRecord>,
}

/// Registers a dataset (first ingest) or refreshes its declaration and data key id; a
/// re-declaration may not change the kind.
pub async fn ensure_dataset(
    tx: &mut Tx,
    decl: &Declaration,
    key_id: &str,
    now: Timestamp,
) -> Result<(), CatalogError> {
    bump_generation(tx).await?;
    let text = toml::to_string(decl)
        .map_err(|e| CatalogError::Corrupt(decl.dataset.id.clone(), e.to_string()))?;
    let existing = sqlx::query("SELECT kind FROM datasets WHERE id = $1")
        .bind(&decl.dataset.id)
        .fetch_optional(&mut **tx)
        .await?;
    match existing {
        Some(r) => {
            let kind: String = r.try_get(0)?;
            if kind != decl.dataset.kind {
                return Err(CatalogError::Conflict(format!(
                    "dataset {} is {kind}; a declaration cannot change that",
                    decl.dataset.id
                )));
            }
            sqlx::query(
                "UPDATE datasets SET declaration = $1, key_id = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(&text)
            .bind(key_id)
            .bind(now.micros())
            .bind(&decl.dataset.id)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }
        None => {
            sqlx::query("INSERT INTO datasets (id, kind, declaration, wrapped_key, key_id, created_at, updated_at) VALUES ($1, $2, $3, '', $4, $5, $5)")
                .bind(&decl.dataset.id)
                .bind(&decl.dataset.kind)
                .bind(&text)
                .bind(key_id)
                .bind(now.micros())
                .execute(&mut **tx)
                .await?;
            Ok(())
        }
    }
}

/// The next version number (committed and refused versions both count).
pub async fn next_version(tx: &mut Tx, id: &str) -> Result<i64, CatalogError> {
    let max: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM dataset_versions WHERE dataset_id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
    Ok(max.unwrap_or(0) + 1)
}

/// Records a version; a committed one becomes current.
pub async fn record_version(tx: &mut Tx, v: &VersionRecord) -> Result<(), CatalogError> {
    bump_generation(tx).await?;
    sqlx::query(
        "INSERT INTO dataset_versions (dataset_id, version, status, reason, created_at, created_by, files, rows_in, rows_rejected, coverage_from, coverage_to, profile, masters, linkage_fingerprint, token_generation) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&v.dataset_id)
    .bind(v.version)
    .bind(v.status.code())
    .bind(&v.reason)
    .bind(v.created_at.micros())
    .bind(&v.created_by)
    .bind(serde_json::to_string(&v.files).unwrap_or_default())
    .bind(v.rows_in as i64)
    .bind(v.rows_rejected as i64)
    .bind(&v.coverage_from)
    .bind(&v.coverage_to)
    .bind(serde_json::to_string(&v.profile).unwrap_or_default())
    .bind(serde_json::to_string(&v.masters).unwrap_or_else(|_| "[]".into()))
    .bind(&v.linkage_fingerprint)
    .bind(v.token_generation)
    .execute(&mut **tx)
    .await?;
    if v.status == VersionStatus::Committed {
        sqlx::query("UPDATE datasets SET current_version = $1, updated_at = $2 WHERE id = $3")
            .bind(v.version)
            .bind(v.created_at.micros())
            .bind(&v.dataset_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

const VERSION_COLS: &str = "dataset_id, version, status, reason, created_at, created_by, files, rows_in, rows_rejected, coverage_from, coverage_to, profile, masters, linkage_fingerprint, token_generation";

fn version_from(r: &sqlx::any::AnyRow) -> Result<VersionRecord, CatalogError> {
    let id: String = r.try_get(0)?;
    let status: String = r.try_get(2)?;
    let files: String = r.try_get(6)?;
    let profile: String = r.try_get(11)?;
    let masters: String = r.try_get(12)?;
    Ok(VersionRecord {
        version: r.try_get(1)?,
        status: if status == "committed" {
            VersionStatus::Committed
        } else {
            VersionStatus::Refused
        },
        reason: r.try_get(3)?,
        created_at: Timestamp(r.try_get(4)?),
        created_by: r.try_get(5)?,
        files: serde_json::from_str(&files)
            .map_err(|e| CatalogError::Corrupt(id.clone(), e.to_string()))?,
        rows_in: r.try_get::<i64, _>(7)? as u64,
        rows_rejected: r.try_get::<i64, _>(8)? as u64,
        coverage_from: r.try_get(9)?,
        coverage_to: r.try_get(10)?,
        profile: serde_json::from_str(&profile)
            .map_err(|e| CatalogError::Corrupt(id.clone(), e.to_string()))?,
        masters: serde_json::from_str(&masters)
            .map_err(|e| CatalogError::Corrupt(id.clone(), e.to_string()))?,
        linkage_fingerprint: r.try_get(13)?,
        token_generation: r.try_get(14)?,
        dataset_id: id,
    })
}

/// A version of a dataset.
pub async fn current_version(
    store: &Store,
    id: &str,
) -> Result<Option<VersionRecord>, CatalogError> {
    let row = sqlx::query(&format!(
        "SELECT {VERSION_COLS} FROM dataset_versions WHERE dataset_id = $1 AND version = (SELECT current_version FROM datasets WHERE id = $1)"
    ))
    .bind(id)
    .fetch_optional(store.pool())
    .await?;
    row.as_ref().map(version_from).transpose()
}

/// Every version of a dataset, newest first.
pub async fn versions(store: &Store, id: &str) -> Result<Vec<VersionRecord>, CatalogError> {
    let rows = sqlx::query(&format!(
        "SELECT {VERSION_COLS} FROM dataset_versions WHERE dataset_id = $1 ORDER BY version DESC"
    ))
    .bind(id)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(version_from).collect()
}

/// Moves the catalogue's generation on, inside the transaction that changes it.
async fn bump_generation(tx: &mut Tx) -> Result<(), CatalogError> {
    sqlx::query("UPDATE catalog_generation SET n = n + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The catalogue's generation: it moves with every change to what the catalogue shows.
pub async fn generation(store: &Store) -> Result<i64, CatalogError> {
    Ok(
        sqlx::query_scalar("SELECT n FROM catalog_generation WHERE id = 1")
            .fetch_one(store.pool())
            .await?,
    )
}

/// One dataset.
pub async fn dataset(store: &Store, id: &str) -> Result<DatasetEntry, CatalogError> {
    let r = sqlx::query("SELECT declaration, COALESCE(key_id, '') FROM datasets WHERE id = $1")
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| CatalogError::NoSuchDataset(id.to_owned()))?;
    let text: String = r.try_get(0)?;
    let declaration = Declaration::parse(&text)
        .map_err(|e| CatalogError::Corrupt(id.to_owned(), e.to_string()))?;
    Ok(DatasetEntry {
        declaration,
        key_id: r.try_get(1)?,
        current: current_version(store, id).await?,
    })
}

/// Every dataset, by id.
pub async fn datasets(store: &Store) -> Result<Vec<DatasetEntry>, CatalogError> {
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM datasets ORDER BY id")
        .fetch_all(store.pool())
        .await?;
    let mut out = Vec::new();
    for id in ids {
        out.push(dataset(store, &id).await?);
    }
    Ok(out)
}
