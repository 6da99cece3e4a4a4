//! Reading the log, for those allowed to: the supervisory auditor in the web UI or API,
//! the operator at the command line. Every read records itself, with the caller, so the
//! supervisor's own access is on the record and no face has to remember to write it.

use crate::export::{export_jsonl, recent};
use crate::{Audit, AuditError, EntryRow, ExportFilter, VerifyOptions, VerifyReport};
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

    /// Verifies the whole log with this platform's keys: chain, MACs and checkpoints.
    pub async fn verify(&self) -> Result<VerifyReport, AuditError> {
        self.verify_with(self.audit.own_verify_options()).await
    }

    /// Verifies with the given options (for example a checkpoint key the caller
    /// trusts, given from outside).
    pub async fn verify_with(&self, opts: VerifyOptions) -> Result<VerifyReport, AuditError> {
        let r = crate::verify(self.audit.store(), &opts).await?;
        self.note(
            Action::AuditVerify,
            serde_json::json!({ "entries": r.entries, "problems": r.problems.len() }),
        )
        .await?;
        Ok(r)
    }
}
