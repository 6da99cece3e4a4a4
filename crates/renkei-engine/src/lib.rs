//! The Visiting workspace's SQL engine: Apache DataFusion, governed.
//!
//! A query sees only the tables it is given (a project's extract tables, read through
//! a [`Source`] that the workspace builds on the data store's checked read side), never
//! files, URLs or other projects. [`gate`] refuses everything that is not a plain query,
//! on the parsed statement and the logical plan. Each query runs in its own session
//! with a memory pool, no spilling, a timeout and a cap on the rows it returns. Error
//! text is cleaned of paths and key-like strings before anyone sees it.
//!
//! The [`Engine`] trait is the seam for another backend (a distributed one, on the same
//! DataFusion version): the workspace holds a `dyn Engine` and knows nothing else.
#![warn(missing_docs)]

mod embedded;
pub mod gate;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use datafusion::common::DataFusionError;
use futures::future::BoxFuture;
use renkei_core::{Coded, ErrorKind};

pub use embedded::Embedded;
pub use gate::{Refusal, Refused};

/// The catalog and schema the tables are registered under (DataFusion's defaults).
pub const CATALOG: &str = "datafusion";
/// See [`CATALOG`].
pub const SCHEMA: &str = "public";

/// Batches read from a source.
pub type Batches = Box<dyn Iterator<Item = Result<RecordBatch, SourceError>> + Send>;

/// Where a table's rows come from, in partitions that can be read in parallel.
pub trait Source: Send + Sync + std::fmt::Debug {
    /// The table's columns.
    fn schema(&self) -> SchemaRef;
    /// How many partitions it has.
    fn partitions(&self) -> usize;
    /// Reads one partition; only `columns` when given (in any order the source likes).
    fn read(&self, partition: usize, columns: Option<&[String]>) -> Result<Batches, SourceError>;
}

/// A source could not be read. Its text is shown to the researcher, so a source puts
/// no path or key in it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// A table a query may read, under the name it is known by.
#[derive(Debug, Clone)]
pub struct Table {
    /// The readable name (`claims_receipts`).
    pub name: String,
    /// Its rows.
    pub source: Arc<dyn Source>,
}

/// Limits on one query.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The memory pool of the query's session; a query that needs more fails.
    pub memory_bytes: usize,
    /// Wall-clock time, planning included.
    pub timeout: Duration,
    /// Rows returned at most; the rest of the query is not computed.
    pub max_rows: usize,
    /// Bytes of result batches taken in at most (a second wall against huge values).
    pub max_bytes: usize,
    /// Partitions the query is split into (threads it may use).
    pub partitions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 512 << 20,
            timeout: Duration::from_secs(120),
            max_rows: 100,
            max_bytes: 16 << 20,
            partitions: 2,
        }
    }
}

/// Rows read so far by a running query, for its progress display.
#[derive(Debug, Default, Clone)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    /// Rows read from the tables so far.
    pub fn rows_read(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// One query to run.
#[derive(Debug, Clone)]
pub struct Query {
    /// The SQL, one statement.
    pub sql: String,
    /// The only tables it may read.
    pub tables: Vec<Table>,
    /// Its limits.
    pub limits: Limits,
    /// Where it reports progress.
    pub progress: Progress,
}

/// A query's result, cut to the row cap.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The rows returned (at most the cap), with the result's schema.
    pub batch: RecordBatch,
    /// Whether the result had more rows than were returned.
    pub truncated: bool,
    /// SHA-256 of the logical plan as planned (before optimization), in hex: two runs
    /// of the same query over the same tables have the same hash.
    pub plan_hash: String,
    /// Size of the returned rows in memory.
    pub bytes: u64,
    /// Time from receipt to the last row returned.
    pub elapsed: Duration,
}

impl Answer {
    /// Rows returned.
    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }
}

/// Why a query did not give an answer. Every text here is safe to show.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Not allowed in the workspace.
    #[error("refused: {} ({})", .0.reason.explain(), clean(&.0.subject))]
    Refused(Refused),
    /// The SQL is wrong (syntax, unknown column, types, a division by zero).
    #[error("{0}")]
    Invalid(String),
    /// The query needed more memory than its limit.
    #[error(
        "the query needs more memory than a workspace query may use; aggregate, filter or select fewer columns"
    )]
    Memory,
    /// The query ran out of time.
    #[error("the query did not finish within {} seconds", .0.as_secs())]
    Timeout(Duration),
    /// The result's values are larger than a workspace result may be.
    #[error("the result is larger than {} MiB; select fewer or shorter values", .0 >> 20)]
    TooLarge(usize),
    /// A table could not be read.
    #[error("a table could not be read: {0}")]
    Source(String),
    /// Something broke in the engine.
    #[error("the query failed inside the engine")]
    Internal(String),
}

impl Coded for EngineError {
    fn code(&self) -> &'static str {
        match self {
            EngineError::Refused(r) => r.reason.code(),
            EngineError::Invalid(_) => "query_invalid",
            EngineError::Memory => "query_memory",
            EngineError::Timeout(_) => "query_timeout",
            EngineError::TooLarge(_) => "query_too_large",
            EngineError::Source(_) | EngineError::Internal(_) => "internal",
        }
    }
    fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Refused(_) => ErrorKind::Denied,
            EngineError::Invalid(_)
            | EngineError::Memory
            | EngineError::Timeout(_)
            | EngineError::TooLarge(_) => ErrorKind::InvalidInput,
            EngineError::Source(_) | EngineError::Internal(_) => ErrorKind::Internal,
        }
    }
}

impl EngineError {
    fn from_datafusion(e: DataFusionError) -> Self {
        let root = e.find_root();
        match root {
            DataFusionError::ResourcesExhausted(_) => EngineError::Memory,
            DataFusionError::External(inner) => match inner.downcast_ref::<SourceError>() {
                Some(s) => EngineError::Source(s.0.clone()),
                None => EngineError::Internal(clean(&root.strip_backtrace())),
            },
            DataFusionError::SQL(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_)
            | DataFusionError::Execution(_)
            | DataFusionError::ArrowError(..) => {
                EngineError::Invalid(clean(&root.strip_backtrace()))
            }
            _ => EngineError::Internal(clean(&root.strip_backtrace())),
        }
    }
}

/// An engine that runs governed queries.
pub trait Engine: Send + Sync + std::fmt::Debug {
    /// Its name, for the audit log and the operator.
    fn name(&self) -> &'static str;
    /// Runs one query. Dropping the future cancels it.
    fn run(&self, query: Query) -> BoxFuture<'static, Result<Answer, EngineError>>;
}

/// Cleans text for a researcher's eyes: anything that looks like a file path becomes
/// `[path]`, and long hex runs (key material, digests) become `[hex]`.
///
/// Written by hand: two fixed patterns over short messages, not worth a regex engine in
/// this crate. The sources put no path in their errors; this is the second wall.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let len = token_len(rest);
        let token = &rest[..len];
        if len > 0 && looks_like_path(token) {
            out.push_str("[path]");
            rest = &rest[len..];
        } else if len >= 32 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.push_str("[hex]");
            rest = &rest[len..];
        } else if len > 0 {
            out.push_str(token);
            rest = &rest[len..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Length of the run of non-separator characters at the start of `s`.
fn token_len(s: &str) -> usize {
    s.char_indices()
        .find(|(_, c)| {
            c.is_whitespace()
                || matches!(
                    c,
                    '"' | '\'' | '`' | '(' | ')' | ',' | '[' | ']' | '{' | '}' | '='
                )
        })
        .map_or(s.len(), |(i, _)| i)
}

fn looks_like_path(t: &str) -> bool {
    let slashes = t.matches('/').count() + t.matches('\\').count();
    (t.starts_with('/') && slashes >= 2)
        || t.starts_with("file:")
        || t.contains("://")
        || (slashes >= 2 && t.contains(".parquet"))
}

#[cfg(test)]
mod tests;
