//! Closing projects: the access service hands out the closure, the data store destroys
//! the project's keys under it, and the access service records the closure with the
//! deletion certificate. Neither service knows the other; this is where they meet.

use crate::App;
use renkei_access::{AccessError, Closure, ProjectView};
use renkei_core::{Caller, Coded, ErrorKind};
use renkei_datastore::DataStoreError;

/// Why a closure failed.
#[derive(Debug, thiserror::Error)]
pub enum ClosureError {
    /// Refused or failed by the access service.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The data could not be destroyed (the project stays open; try again).
    #[error(transparent)]
    Data(#[from] DataStoreError),
}

impl Coded for ClosureError {
    fn code(&self) -> &'static str {
        match self {
            ClosureError::Access(e) => e.code(),
            ClosureError::Data(e) => e.code(),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            ClosureError::Access(e) => e.kind(),
            ClosureError::Data(e) => e.kind(),
        }
    }

    fn public_detail(&self) -> Option<String> {
        match self {
            ClosureError::Access(e) => e.public_detail(),
            ClosureError::Data(e) => e.public_detail(),
        }
    }
}

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Warnings put in the outbox.
    pub warnings: usize,
    /// Projects closed at the end of their period.
    pub closed: Vec<String>,
    /// Projects whose closure failed (they are tried again on the next sweep).
    pub failed: Vec<(String, String)>,
    /// Projects whose extract was made.
    pub extracts: Vec<String>,
}

impl App {
    /// Closes project `id` at `caller`'s request (its applicant, or the secretariat):
    /// its data keys are destroyed, then the closure is recorded with the deletion
    /// certificate. If the destruction fails, the project stays open.
    pub async fn close_project(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
    ) -> Result<ProjectView, ClosureError> {
        let closure = self.applications.begin_closure(caller, id, reason).await?;
        self.finish_closure(closure).await
    }

    async fn finish_closure(&self, closure: Closure) -> Result<ProjectView, ClosureError> {
        let cert = self.data.destroy_extract(&closure).await?;
        let cert = serde_json::to_value(&cert).unwrap_or_default();
        Ok(self.applications.finish_closure(closure, cert).await?)
    }

    /// The platform's sweep: warnings before permits and accreditations end, and the
    /// closure of every project whose period has ended.
    pub async fn sweep(&self) -> Result<SweepReport, ClosureError> {
        let caller = Caller::system();
        let (swept, closures) = self.applications.sweep(&caller).await?;
        let mut report = SweepReport {
            warnings: swept.warnings,
            ..Default::default()
        };
        for c in closures {
            let project = c.project().to_owned();
            match self.finish_closure(c).await {
                Ok(_) => report.closed.push(project),
                Err(e) => {
                    tracing::warn!(project, error = %e, "closure at the end of the period failed; tried again on the next sweep");
                    report.failed.push((project, e.code().to_owned()));
                }
            }
        }
        report.extracts = self.ensure_extracts().await;
        Ok(report)
    }

    /// Materializes every extract a project in use lacks (its permit version has
    /// none yet). Returns the projects made; failures are logged and retried on the
    /// next sweep. Nothing is made before the linkage authority's first index.
    pub async fn ensure_extracts(&self) -> Vec<String> {
        let caller = Caller::system();
        let orders = match self.applications.extract_orders(&caller).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "could not list the extracts to make");
                return Vec::new();
            }
        };
        match self.workspaces.ensure(&orders).await {
            Ok(made) => made,
            Err(renkei_workspace::WorkspaceError::NoIndex) => Vec::new(),
            Err(e) => {
                tracing::warn!(error = %e, "extracts not made");
                Vec::new()
            }
        }
    }

    /// Runs [`App::sweep`] now and then every `every`, until the task is aborted.
    pub fn spawn_sweeper(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let app = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match app.sweep().await {
                    Ok(r) if r.warnings > 0 || !r.closed.is_empty() => {
                        tracing::info!(warnings = r.warnings, closed = ?r.closed, "sweep");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "sweep failed"),
                }
            }
        })
    }
}
