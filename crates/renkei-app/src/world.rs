//! The synthetic world as a set of sources: which directory of a `renkei synth` output
//! feeds which dataset, and ingesting all of them.

use crate::{App, AppError};
use renkei_catalog::{Declaration, builtin};
use renkei_core::Caller;
use renkei_ingest::{IngestOptions, IngestReport};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// (dataset, subdirectory) of a generated world, in ingest order.
pub const SOURCES: [(&str, &str); 6] = [
    ("ndb_claims", "ndb/uke"),
    ("ndb_checkups", "checkups"),
    ("dpc", "dpc"),
    ("ltc", "ltc"),
    ("ehr", "ehr"),
    ("deaths", "deaths"),
];

/// The private registry of a generated world (declared by `registry/schema.toml`).
pub const REGISTRY: &str = "cancer_registry";

/// Every dataset of a generated world with its declaration and directory. The private
/// registry brings its own declaration (`registry/schema.toml`).
pub fn sources(world: &Path) -> Result<Vec<(Declaration, PathBuf)>, AppError> {
    let mut out = Vec::new();
    for (id, sub) in SOURCES {
        let decl = builtin(id).ok_or_else(|| AppError::Io {
            path: id.into(),
            err: std::io::Error::other("no built-in declaration"),
        })?;
        out.push((decl, world.join(sub)));
    }
    let schema = world.join("registry/schema.toml");
    let text = std::fs::read_to_string(&schema).map_err(|err| AppError::Io {
        path: schema.display().to_string(),
        err,
    })?;
    let decl = Declaration::parse(&text).map_err(|e| AppError::Io {
        path: schema.display().to_string(),
        err: std::io::Error::other(e.to_string()),
    })?;
    out.push((decl, world.join("registry")));
    Ok(out)
}

/// Receives `(dataset, bytes done, bytes)` while a world is ingested.
pub type WorldProgress = Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

/// Ingests every dataset of a generated world.
pub async fn ingest(
    app: &App,
    caller: &Caller,
    world: &Path,
    progress: WorldProgress,
) -> Result<Vec<IngestReport>, AppError> {
    ingest_only(app, caller, world, progress, &[]).await
}

/// Ingests the datasets of a generated world named in `only` (all when empty).
pub async fn ingest_only(
    app: &App,
    caller: &Caller,
    world: &Path,
    progress: WorldProgress,
    only: &[String],
) -> Result<Vec<IngestReport>, AppError> {
    let opts = IngestOptions {
        max_reject_rate: app.config.ingest.max_reject_rate,
        ..Default::default()
    };
    let mut reports = Vec::new();
    for (decl, dir) in sources(world)? {
        if !only.is_empty() && !only.contains(&decl.dataset.id) {
            continue;
        }
        let id = decl.dataset.id.clone();
        let p = progress.clone();
        let cb: Arc<dyn Fn(u64, u64) + Send + Sync> = Arc::new(move |d, t| p(&id, d, t));
        reports.push(app.ingestor.ingest(caller, &decl, &dir, &opts, cb).await?);
    }
    Ok(reports)
}
