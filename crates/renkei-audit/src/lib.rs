//! The audit log: every sign-in, denial and state change, in order, tamper-evident.
//!
//! Each entry carries the SHA-256 hash of its content and of the previous entry's hash
//! (a chain), and an HMAC of its hash under a key derived from the master key. Periodic
//! **checkpoints** sign the chain head (sequence number and hash) with Ed25519 and are
//! written both to the store and to an append-only file outside it.
//!
//! What each layer catches:
//! - the chain: an entry modified, deleted, inserted or moved, anywhere before the head;
//! - the MAC: an entry fabricated by someone with database access but no key, even with
//!   a correctly recomputed chain;
//! - the checkpoints: the tail cut off (truncation), which a chain alone cannot show.
//!
//! **Invariant:** entries are written either inside the caller's transaction
//! ([`Audit::append_in`], for state changes: the change and its record commit together
//! or not at all), or through the group-commit writer ([`Audit::record`], for events
//! that change nothing else, such as denials), which returns only once the entry is
//! durable. No entry is ever updated or deleted by this crate.
#![warn(missing_docs)]

mod chain;
mod export;
mod verify;
mod writer;

pub use chain::{Checkpoint, EntryRow, GENESIS, entry_hash};
pub use export::{ExportFilter, export_jsonl, recent};
pub use verify::{Problem, ProblemKind, VerifyOptions, VerifyReport, verify};

use renkei_core::AuditEvent;
use renkei_core::time::SharedClock;
use renkei_crypto::KeyStore;
use renkei_store::{Store, Tx};
use std::path::PathBuf;
use std::sync::Arc;

/// Audit failures.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store failed; the entry (and the change it records) did not commit.
    #[error(transparent)]
    Store(#[from] renkei_store::StoreError),
    /// The group-commit writer has stopped (shutdown).
    #[error("the audit writer has stopped")]
    WriterGone,
    /// The group-commit transaction holding this entry failed; nothing in it committed.
    #[error("audit batch failed: {0}")]
    BatchFailed(String),
    /// Writing or reading the checkpoint file failed.
    #[error("audit checkpoint file {path}: {err}")]
    CheckpointFile {
        /// The file.
        path: String,
        /// The OS error.
        err: std::io::Error,
    },
    /// Writing an export failed.
    #[error("writing the audit export: {0}")]
    Export(std::io::Error),
}

impl From<renkei_store::sqlx::Error> for AuditError {
    fn from(e: renkei_store::sqlx::Error) -> Self {
        AuditError::Store(e.into())
    }
}

/// The audit log handle. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    keys: Arc<KeyStore>,
    clock: SharedClock,
    checkpoint_file: Option<PathBuf>,
    writer: writer::Handle,
    /// Sequence number of the last checkpoint written by this process.
    last_checkpoint: tokio::sync::Mutex<i64>,
}

impl Audit {
    /// Opens the log on `store`. `checkpoint_file` is the append-only file that mirrors
    /// checkpoints outside the store (`<data_dir>/audit/checkpoints.jsonl`). Starts the
    /// group-commit writer on the current Tokio runtime.
    pub fn new(
        store: Store,
        keys: Arc<KeyStore>,
        clock: SharedClock,
        checkpoint_file: Option<PathBuf>,
    ) -> Self {
        let writer = writer::Handle::start(store.clone(), keys.clone(), clock.clone());
        Self {
            inner: Arc::new(Inner {
                store,
                keys,
                clock,
                checkpoint_file,
                writer,
                last_checkpoint: tokio::sync::Mutex::new(0),
            }),
        }
    }

    /// Appends `events` inside `tx`, so they commit or roll back with the change they
    /// record. Returns their sequence numbers.
    pub async fn append_in(
        &self,
        tx: &mut Tx,
        events: &[AuditEvent],
    ) -> Result<Vec<i64>, AuditError> {
        chain::append(tx, &self.inner.keys, self.inner.clock.now(), events).await
    }

    /// Records one event durably through the group-commit writer, returning its sequence
    /// number once it is committed.
    pub async fn record(&self, event: AuditEvent) -> Result<i64, AuditError> {
        self.inner.writer.submit(event).await
    }

    /// Writes a signed checkpoint of the current head if the head moved since the last
    /// one this process wrote. Returns it, or `None` if nothing changed.
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        let mut last = self.inner.last_checkpoint.lock().await;
        let (seq, hash) = chain::head(&self.inner.store).await?;
        if seq == 0 || seq == *last {
            return Ok(None);
        }
        let cp = Checkpoint::sign(&self.inner.keys, seq, &hash, self.inner.clock.now());
        chain::store_checkpoint(&self.inner.store, &cp).await?;
        if let Some(path) = &self.inner.checkpoint_file {
            chain::append_checkpoint_file(path, &cp)?;
        }
        *last = seq;
        Ok(Some(cp))
    }

    /// Checkpoints every `every` until the returned task is aborted. The server runs this.
    pub fn spawn_checkpointer(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = me.checkpoint().await {
                    tracing::warn!(error = %e, "audit checkpoint failed");
                }
            }
        })
    }

    /// Drains the writer and writes a final checkpoint.
    pub async fn shutdown(&self) -> Result<(), AuditError> {
        self.inner.writer.flush().await;
        self.checkpoint().await.map(|_| ())
    }

    /// Verifies the whole log with this process's keys (MACs and checkpoints).
    pub async fn verify(&self) -> Result<VerifyReport, AuditError> {
        let pk = self.inner.keys.checkpoint_signing_key().verifying_key();
        verify(
            &self.inner.store,
            &VerifyOptions {
                keys: Some(self.inner.keys.clone()),
                public_key: Some(pk),
                checkpoint_file: self.inner.checkpoint_file.clone(),
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests;
