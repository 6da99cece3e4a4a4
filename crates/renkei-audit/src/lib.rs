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
pub(crate) mod export;
mod reader;
mod refusals;
mod verify;
pub mod witness;
mod writer;

pub use chain::{Checkpoint, EntryRow, GENESIS, entry_hash, entry_hash_with_client};
pub use export::ExportFilter;
pub use reader::AuditReader;
pub use verify::{
    DEFAULT_MAX_TAIL_SECS, Problem, ProblemKind, VerifyOptions, VerifyReport, verify,
};
pub use witness::WitnessedCheckpoint;

use renkei_core::time::SharedClock;
use renkei_core::{Action, AuditEvent, Caller, Outcome, Permission};
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
    /// A countersignature was refused: not by a registered witness key, or not of a
    /// checkpoint this platform signed.
    #[error("witness refused: {0}")]
    Witness(&'static str),
    /// The caller may not read the log.
    #[error(transparent)]
    Denied(#[from] renkei_core::role::AccessDenied),
}

impl renkei_core::Coded for AuditError {
    fn code(&self) -> &'static str {
        match self {
            AuditError::Denied(d) => d.code(),
            AuditError::WriterGone => "audit_unavailable",
            AuditError::Witness(_) => "witness_refused",
            AuditError::Store(_)
            | AuditError::BatchFailed(_)
            | AuditError::CheckpointFile { .. }
            | AuditError::Export(_) => "internal",
        }
    }
    fn kind(&self) -> renkei_core::ErrorKind {
        use renkei_core::ErrorKind;
        match self {
            AuditError::Denied(d) => renkei_core::Coded::kind(d),
            AuditError::WriterGone => ErrorKind::Unavailable,
            AuditError::Witness(_) => ErrorKind::InvalidInput,
            AuditError::Store(_)
            | AuditError::BatchFailed(_)
            | AuditError::CheckpointFile { .. }
            | AuditError::Export(_) => ErrorKind::Internal,
        }
    }
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
    /// The registered witnesses' public keys.
    witnesses: Vec<ed25519_dalek::VerifyingKey>,
    /// How long the tail may go unwitnessed (seconds of log time).
    max_tail_secs: i64,
    /// Repeated anonymous refusals being folded.
    refusals: refusals::Refusals,
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
        Self::with_witnesses(
            store,
            keys,
            clock,
            checkpoint_file,
            Vec::new(),
            verify::DEFAULT_MAX_TAIL_SECS,
        )
    }

    /// The log with registered witnesses: their countersignatures are accepted, and the
    /// platform's own verification checks the log against them.
    pub fn with_witnesses(
        store: Store,
        keys: Arc<KeyStore>,
        clock: SharedClock,
        checkpoint_file: Option<PathBuf>,
        witnesses: Vec<ed25519_dalek::VerifyingKey>,
        max_tail_secs: i64,
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
                witnesses,
                max_tail_secs,
                refusals: refusals::Refusals::default(),
            }),
        }
    }

    /// The registered witnesses' public keys.
    pub fn witnesses(&self) -> &[ed25519_dalek::VerifyingKey] {
        &self.inner.witnesses
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

    /// Records a refusal. Refusals of callers not signed in are folded per client,
    /// action, object and reason in one-minute windows: the first is recorded before
    /// this returns, the rest become one entry counting them when the window has passed
    /// (see `refusals.rs`). Everything else is recorded as by [`Audit::record`].
    pub async fn record_refusal(&self, event: AuditEvent) -> Result<(), AuditError> {
        let w = self.inner.refusals.admit(event, self.inner.clock.now());
        for s in w.summaries {
            self.inner.writer.submit(s).await?;
        }
        if let Some(e) = w.event {
            self.inner.writer.submit(e).await?;
        }
        Ok(())
    }

    /// Writes the counts of folded refusals whose window has passed (all of them with
    /// `all`, at shutdown). The checkpointer calls this every interval.
    pub async fn flush_refusals(&self, all: bool) -> Result<(), AuditError> {
        for s in self.inner.refusals.due(self.inner.clock.now(), all) {
            self.inner.writer.submit(s).await?;
        }
        Ok(())
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

    /// The newest signed checkpoint, writing one first if the head moved (what a
    /// witness countersigns).
    pub async fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        self.checkpoint().await?;
        chain::latest_checkpoint(&self.inner.store).await
    }

    /// Checkpoints every `every` until the returned task is aborted. The server runs this.
    pub fn spawn_checkpointer(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = me.flush_refusals(false).await {
                    tracing::error!(error = %e, "writing folded refusals failed");
                }
                if let Err(e) = me.checkpoint().await {
                    tracing::error!(error = %e, "audit checkpoint failed");
                }
            }
        })
    }

    /// Waits until every entry handed to the writer is committed.
    pub async fn flush(&self) {
        self.inner.writer.flush().await;
    }

    /// Drains the writer and writes a final checkpoint.
    pub async fn shutdown(&self) -> Result<(), AuditError> {
        self.flush_refusals(true).await?;
        self.inner.writer.flush().await;
        self.checkpoint().await.map(|_| ())
    }

    /// The log's reader for `caller`, who must hold the permission to read it. A
    /// refusal is recorded before the caller hears of it; every read through the reader
    /// records itself.
    pub async fn reader(&self, caller: &Caller) -> Result<AuditReader, AuditError> {
        match caller.require(Permission::ReadAudit) {
            Ok(()) => Ok(AuditReader::new(self.clone(), caller.clone())),
            Err(d) => {
                self.record(caller.event(
                    Action::AuditRead,
                    "audit_log",
                    Outcome::denied(d.code()),
                ))
                .await?;
                Err(AuditError::Denied(d))
            }
        }
    }

    /// Verification options with this process's keys (MACs, and checkpoints signed by
    /// this platform's key).
    pub(crate) fn own_verify_options(&self) -> VerifyOptions {
        VerifyOptions {
            keys: Some(self.inner.keys.clone()),
            public_key: Some(self.inner.keys.checkpoint_signing_key().verifying_key()),
            checkpoint_file: self.inner.checkpoint_file.clone(),
            witness_keys: self.inner.witnesses.clone(),
            witness_log: None,
            max_tail_secs: Some(self.inner.max_tail_secs),
            now: Some(self.inner.clock.now().micros()),
        }
    }

    /// The hex public key that signs this platform's checkpoints, for an outside
    /// auditor to verify with.
    pub fn checkpoint_public_key(&self) -> String {
        hex::encode(
            self.inner
                .keys
                .checkpoint_signing_key()
                .verifying_key()
                .to_bytes(),
        )
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }
}

/// For tests of other crates: read the log without going through a reader (which
/// would record the read and change what the test counts).
#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod witness_tests;
