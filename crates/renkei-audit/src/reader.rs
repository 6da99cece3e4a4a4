//! Reading the log, for those allowed to: the supervisory auditor in the web UI or API,
//! the operator at the command line. Every read records itself, with the caller, so the
//! supervisor's own access is on the record and no face has to remember to write it.

use crate::export::{export_jsonl, recent};
use crate::{
    Audit, AuditError, EntryRow, ExportFilter, VerifyOptions, VerifyReport, WitnessedCheckpoint,
};
use renkei_core::{Action, Caller, Outcome};

/// A reader of the audit log, obtained from [`Audit::reader`] after the caller's
/// permission was checked. It cannot be made any other way.
pub struct AuditReader {
    audit: Audit,
    caller: Caller,
}

impl AuditReader {
    pub(crate) fn new(audit: Audit, caller: Caller) -> Self {
        Self { audit, caller }
    }

    async fn note(&self, action: Action, detail: serde_json::Value) -> Result<(), AuditError> {
        let mut detail = detail;
        if let Some(o) = detail.as_object_mut() {
            o.insert("via".into(), self.caller.auth().code().into());
        }
        self.audit
            .record(
                self.caller
                    .event(action, "audit_log", Outcome::Allowed)
                    .detail(detail),
            )
            .await
            .map(|_| ())
    }

    /// The newest `limit` (1–10,000) matching entries, newest first.
    pub async fn recent(
        &self,
        filter: &ExportFilter,
        limit: i64,
    ) -> Result<Vec<EntryRow>, AuditError> {
        let rows = recent(self.audit.store(), filter, limit).await?;
        self.note(
            Action::AuditRead,
            serde_json::json!({ "rows": rows.len(), "filter": filter.describe() }),
        )
        .await?;
        Ok(rows)
    }

    /// Writes matching entries to `out` as JSON Lines, oldest first; returns how many.
    pub async fn export(
        &self,
        filter: &ExportFilter,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<u64, AuditError> {
        let n = export_jsonl(self.audit.store(), filter, out).await?;
        self.note(
            Action::AuditExport,
            serde_json::json!({ "entries": n, "filter": filter.describe() }),
        )
        .await?;
        Ok(n)
    }

    /// Sends matching entries as JSON Lines in chunks to `tx` (a streamed download),
    /// waiting for the receiver; records the export with its count.
    pub async fn export_chunks(
        &self,
        filter: &ExportFilter,
        tx: &tokio::sync::mpsc::Sender<Vec<u8>>,
    ) -> Result<u64, AuditError> {
        let n = crate::export::export_chunks(self.audit.store(), filter, tx).await?;
        self.note(
            Action::AuditExport,
            serde_json::json!({ "entries": n, "filter": filter.describe() }),
        )
        .await?;
        Ok(n)
    }

    /// Entries after `seq`, oldest first, at most `limit` (1–100,000): what a witness
    /// reads between two rounds.
    pub async fn entries_after(&self, seq: i64, limit: i64) -> Result<Vec<EntryRow>, AuditError> {
        let rows = crate::chain::entries_after(self.audit.store(), seq, limit).await?;
        self.note(
            Action::AuditRead,
            serde_json::json!({ "rows": rows.len(), "after_seq": seq }),
        )
        .await?;
        Ok(rows)
    }

    /// The newest signed checkpoint (written first if the head moved).
    pub async fn latest_checkpoint(&self) -> Result<Option<crate::Checkpoint>, AuditError> {
        self.audit.latest_checkpoint().await
    }

    /// Stores a witness's countersignature of one of this platform's checkpoints, if it
    /// is made by one of the registered witness keys. Audited either way.
    pub async fn accept_witness(&self, w: &WitnessedCheckpoint) -> Result<(), AuditError> {
        let object = format!("audit_checkpoint:{}", w.seq);
        let registered = self.audit.witnesses();
        let checked = async {
            if !registered.iter().any(|k| w.is_valid(k)) {
                return Err(AuditError::Witness(
                    "not signed by a registered witness key",
                ));
            }
            let ours = crate::chain::load_checkpoints(self.audit.store(), None)
                .await?
                .0
                .into_iter()
                .any(|c| c.seq == w.seq && c.hash == w.hash && c.at == w.at);
            if !ours {
                return Err(AuditError::Witness("not a checkpoint this platform signed"));
            }
            crate::chain::store_witnessed(self.audit.store(), w).await
        }
        .await;
        let outcome = match &checked {
            Ok(()) => Outcome::Allowed,
            Err(e) => Outcome::denied(renkei_core::Coded::code(e)),
        };
        self.audit
            .record(
                self.caller
                    .event(Action::AuditWitness, object, outcome)
                    .detail(serde_json::json!({ "witness_key": w.witness_key, "hash": w.hash })),
            )
            .await?;
        checked
    }

    /// Verifies the whole log with this platform's keys: chain, MACs and checkpoints.
    pub async fn verify(&self) -> Result<VerifyReport, AuditError> {
        self.verify_with(self.audit.own_verify_options()).await
    }

    /// Verifies with the given options (for example a checkpoint key the caller
    /// trusts, given from outside).
    pub async fn verify_with(&self, opts: VerifyOptions) -> Result<VerifyReport, AuditError> {
        let (r, recorded) = self.verify_noting(opts).await?;
        recorded?;
        Ok(r)
    }

    /// Verifies with `opts` and tries to record it. A damaged log may refuse the record
    /// of its own verification; the report matters more, so it is returned either way,
    /// beside the outcome of recording it.
    pub async fn verify_noting(
        &self,
        opts: VerifyOptions,
    ) -> Result<(VerifyReport, Result<(), AuditError>), AuditError> {
        let r = crate::verify(self.audit.store(), &opts).await?;
        let recorded = self
            .note(
                Action::AuditVerify,
                serde_json::json!({ "entries": r.entries, "problems": r.problems.len() }),
            )
            .await;
        Ok((r, recorded))
    }
}
