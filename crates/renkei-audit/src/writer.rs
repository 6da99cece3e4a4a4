//! Group commit: events that need their own transaction are queued, and one task writes
//! whatever has queued up in a single transaction, so a burst of N events costs one
//! commit (one fsync) instead of N. Each caller is answered only after the commit.

use crate::AuditError;
use renkei_core::AuditEvent;
use renkei_core::time::SharedClock;
use renkei_crypto::KeyStore;
use renkei_store::Store;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most entries written in one transaction.
const MAX_BATCH: usize = 4096;
/// Queue depth before `submit` waits (back-pressure instead of unbounded memory).
const QUEUE: usize = 65_536;

enum Msg {
    Entry(Box<AuditEvent>, oneshot::Sender<Result<i64, AuditError>>),
    Flush(oneshot::Sender<()>),
}

pub(crate) struct Handle {
    tx: mpsc::Sender<Msg>,
}

impl Handle {
    pub(crate) fn start(store: Store, keys: Arc<KeyStore>, clock: SharedClock) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, keys, clock, rx));
        Self { tx }
    }

    pub(crate) async fn submit(&self, e: AuditEvent) -> Result<i64, AuditError> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send(Msg::Entry(Box::new(e), reply))
            .await
            .map_err(|_| AuditError::WriterGone)?;
        wait.await.map_err(|_| AuditError::WriterGone)?
    }

    /// Returns once everything submitted before it is committed.
    pub(crate) async fn flush(&self) {
        let (reply, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(reply)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(store: Store, keys: Arc<KeyStore>, clock: SharedClock, mut rx: mpsc::Receiver<Msg>) {
    let mut events = Vec::new();
    let mut replies = Vec::new();
    let mut flushes = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(m) = next.take() {
            match m {
                Msg::Entry(e, r) => {
                    events.push(*e);
                    replies.push(r);
                }
                Msg::Flush(r) => flushes.push(r),
            }
            if events.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !events.is_empty() {
            let result = write(&store, &keys, &clock, &events).await;
            match result {
                Ok(seqs) => {
                    for (r, seq) in replies.drain(..).zip(seqs) {
                        let _ = r.send(Ok(seq));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, entries = events.len(), "audit batch failed; callers are told");
                    let msg = e.to_string();
                    for r in replies.drain(..) {
                        let _ = r.send(Err(AuditError::BatchFailed(msg.clone())));
                    }
                }
            }
            events.clear();
        }
        for f in flushes.drain(..) {
            let _ = f.send(());
        }
    }
}

async fn write(
    store: &Store,
    keys: &KeyStore,
    clock: &SharedClock,
    events: &[AuditEvent],
) -> Result<Vec<i64>, AuditError> {
    let mut tx = store.begin().await?;
    let seqs = crate::chain::append(&mut tx, keys, clock.now(), events).await?;
    tx.commit().await?;
    Ok(seqs)
}
