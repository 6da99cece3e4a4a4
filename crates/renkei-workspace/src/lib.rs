//! The Visiting workspace's data side: each project's extract, materialized under its
//! permit in force ([`extract`]), and read only by the people the permit names.
#![warn(missing_docs)]

pub mod dummy;
pub mod examples;
pub mod extract;
pub mod output;
pub mod query;

use extract::{ExtractSummary, Inputs, Pseudonyms};
use std::sync::Arc;

use query::QueryLimits;
use renkei_access::{Applications, ExtractOrder, PermitInForce};
use renkei_audit::Audit;
use renkei_core::time::SharedClock;
use renkei_core::{Action, Caller, Coded, ErrorKind, Outcome};
use renkei_datastore::{DataStore, DataStoreError, ExtractSource};
use renkei_engine::Engine;
use renkei_link::index::Family;
use renkei_store::Store;
use renkei_store::sqlx;

/// Workspace failures.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// No person index yet: the linkage authority runs one first.
    #[error("there is no person index yet; the linkage authority runs the linkage first")]
    NoIndex,
    /// The project closed, or its permit changed, since the order was handed out.
    #[error("the project is closed or its permit has changed; nothing was made")]
    Stale,
    /// The project has no extract yet.
    #[error("the project's extract is not ready yet")]
    NoExtract,
    /// Someone other than the person the permit in force names.
    #[error("only the person the permit names may use this workspace")]
    NotYours,
    /// The SQL is longer than the workspace accepts.
    #[error("the query is longer than {0} bytes")]
    SqlTooLong(usize),
    /// No SQL at all.
    #[error("the query is empty")]
    EmptySql,
    /// A saved query's name is empty or too long.
    #[error("a saved query needs a name of 1 to 100 characters")]
    BadName,
    /// No finished result of the caller's under that id (it ended otherwise, or is no
    /// longer held).
    #[error("there is no finished result to release under that id; run the query again")]
    NoResult,
    /// Too many queries running (the caller's, or the server's).
    #[error("too many queries are running; wait for one to finish")]
    Busy(&'static str),
    /// Making the extract failed (nothing was made current).
    #[error("the extract could not be made: {0}")]
    Extract(String),
    /// No output of the caller's under that id in this project.
    #[error("there is no such output of yours in this project")]
    NoOutput,
    /// A declaration that does not fit the output (the place is named).
    #[error("{0}")]
    Declaration(String),
    /// The data store.
    #[error(transparent)]
    Data(#[from] DataStoreError),
    /// The person index.
    #[error(transparent)]
    Link(#[from] renkei_link::LinkError),
    /// The metadata store.
    #[error(transparent)]
    Store(#[from] renkei_store::StoreError),
    /// The audit log refused the record.
    #[error(transparent)]
    Audit(#[from] renkei_audit::AuditError),
}

impl From<sqlx::Error> for WorkspaceError {
    fn from(e: sqlx::Error) -> Self {
        WorkspaceError::Store(e.into())
    }
}

impl Coded for WorkspaceError {
    fn code(&self) -> &'static str {
        match self {
            WorkspaceError::NoIndex => "no_person_index",
            WorkspaceError::NoExtract => "no_extract",
            WorkspaceError::NotYours => "not_named_on_permit",
            WorkspaceError::SqlTooLong(_) => "query_too_long",
            WorkspaceError::EmptySql => "query_empty",
            WorkspaceError::BadName => "bad_name",
            WorkspaceError::Busy(code) => code,
            WorkspaceError::NoResult => "no_result",
            WorkspaceError::NoOutput => "no_output",
            WorkspaceError::Declaration(_) => "bad_declaration",
            WorkspaceError::Stale => "project_changed",
            WorkspaceError::Data(e) => e.code(),
            WorkspaceError::Link(e) => e.code(),
            WorkspaceError::Audit(e) => e.code(),
            WorkspaceError::Extract(_) | WorkspaceError::Store(_) => "internal",
        }
    }
    fn public_detail(&self) -> Option<String> {
        match self {
            // Column names and row numbers of the caller's own result.
            WorkspaceError::Declaration(m) => Some(m.clone()),
            _ => None,
        }
    }
    fn kind(&self) -> ErrorKind {
        match self {
            WorkspaceError::NoIndex
            | WorkspaceError::Stale
            | WorkspaceError::NoExtract
            | WorkspaceError::NoResult => ErrorKind::Conflict,
            WorkspaceError::NotYours => ErrorKind::Denied,
            WorkspaceError::SqlTooLong(_)
            | WorkspaceError::EmptySql
            | WorkspaceError::BadName
            | WorkspaceError::Declaration(_) => ErrorKind::InvalidInput,
            WorkspaceError::NoOutput => ErrorKind::NotFound,
            WorkspaceError::Busy(_) => ErrorKind::Throttled,
            WorkspaceError::Data(e) => e.kind(),
            WorkspaceError::Link(e) => e.kind(),
            WorkspaceError::Audit(e) => e.kind(),
            WorkspaceError::Extract(_) | WorkspaceError::Store(_) => ErrorKind::Internal,
        }
    }
}

/// The workspace service. Cheap to clone.
#[derive(Clone)]
pub struct Workspaces {
    store: Store,
    data: DataStore,
    audit: Audit,
    clock: SharedClock,
    /// Asked afresh while a query runs: a permit that stops holding stops its queries.
    applications: Applications,
    engine: Arc<dyn Engine>,
    limits: Arc<QueryLimits>,
    queries: Arc<query::Registry>,
    /// Turns to run a query: `limits.total` of them.
    turns: Arc<tokio::sync::Semaphore>,
    /// The threads queries run on.
    engine_rt: Arc<query::EngineRuntime>,
}

impl Workspaces {
    /// The service, with the embedded engine and the default limits.
    pub fn new(
        store: Store,
        data: DataStore,
        audit: Audit,
        clock: SharedClock,
        applications: Applications,
    ) -> Self {
        Self {
            store,
            data,
            audit,
            clock,
            applications,
            engine: Arc::new(renkei_engine::Embedded),
            limits: Arc::new(QueryLimits::default()),
            queries: Arc::default(),
            turns: Arc::new(tokio::sync::Semaphore::new(QueryLimits::default().total)),
            engine_rt: Arc::default(),
        }
    }

    /// The same service with other query limits.
    pub fn with_limits(mut self, limits: QueryLimits) -> Self {
        self.turns = Arc::new(tokio::sync::Semaphore::new(limits.total.max(1)));
        self.limits = Arc::new(limits);
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// Materializes a new version of the order's extract and makes it current; audited
    /// with its counts (people left out for their opt-out among them).
    pub async fn materialize(
        &self,
        order: &ExtractOrder,
    ) -> Result<ExtractSummary, WorkspaceError> {
        let caller = order.caller();
        let object = format!("extract:{}", order.project());
        match self.materialize_inner(order).await {
            Ok(s) => Ok(s),
            Err(e) => {
                if e.kind().is_refusal() || matches!(e, WorkspaceError::NoIndex) {
                    self.audit
                        .record(caller.event(
                            Action::ExtractMake,
                            object,
                            Outcome::denied(e.code()),
                        ))
                        .await?;
                }
                Err(e)
            }
        }
    }

    async fn materialize_inner(
        &self,
        order: &ExtractOrder,
    ) -> Result<ExtractSummary, WorkspaceError> {
        let caller = order.caller();
        let project = order.project().to_owned();
        // What it is made from is read after this moment: an opt-out recorded since is
        // newer than the extract, and the next round remakes it.
        let started = self.clock.now().micros();
        let has_index: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM link_runs WHERE status = 'committed'")
                .fetch_one(self.store.pool())
                .await?;
        if has_index.is_none() {
            return Err(WorkspaceError::NoIndex);
        }
        let writer = self.data.extract_writer(order).await?;
        // Under the writer lock (which a closure's destruction takes too): the project
        // must still be open under this permit version, or the order is stale.
        let current: Option<(Option<i64>, i64)> =
            sqlx::query_as("SELECT closed_at, permit_version FROM projects WHERE id = $1")
                .bind(&project)
                .fetch_optional(self.store.pool())
                .await?;
        if !matches!(current, Some((None, v)) if v == order.permit().version) {
            return Err(WorkspaceError::Stale);
        }
        let index_open = self
            .data
            .open_for_extract(order, ExtractSource::PersonIndex)
            .await?;
        let index_version = index_open.version();
        let index = renkei_link::read_index(&index_open)?;
        let mut datasets = Vec::new();
        for req in &order.permit().data {
            let v = self
                .data
                .open_for_extract(order, ExtractSource::Dataset(&req.dataset))
                .await?;
            datasets.push((req.clone(), v));
        }
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT token_kind, token FROM opt_outs WHERE withdrawn_at IS NULL ORDER BY token_kind, token",
        )
        .fetch_all(self.store.pool())
        .await?;
        let opt_outs = rows
            .into_iter()
            .filter_map(|(k, t)| {
                let fam = Family::of_column(&k)?;
                let mut b = [0u8; 16];
                hex::decode_to_slice(&t, &mut b).ok()?;
                Some((fam, b))
            })
            .collect();
        let version: i64 = sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MAX(version) FROM extracts WHERE project = $1",
        )
        .bind(&project)
        .fetch_one(self.store.pool())
        .await?
        .unwrap_or(0)
            + 1;
        let permit_version = order.permit().version;
        let key = writer.write_key().await?;
        let pseudonyms = Pseudonyms::new(key.macer("renkei:pseudonym:v1"));
        let staging = writer.begin(version, &key)?;
        // Recorded as running only once everything it needs is open.
        sqlx::query(
            "INSERT INTO extracts (project, version, permit_version, index_version, status, made_at) \
             VALUES ($1, $2, $3, $4, 'running', $5)",
        )
        .bind(&project)
        .bind(version)
        .bind(permit_version)
        .bind(index_version)
        .bind(started)
        .execute(self.store.pool())
        .await?;
        let inputs = Inputs {
            order: order.clone(),
            datasets,
            index,
            opt_outs,
        };
        let made = tokio::task::spawn_blocking(move || {
            let s = extract::materialize(&inputs, &pseudonyms, &staging)?;
            staging.publish()?;
            Ok::<_, WorkspaceError>(s)
        })
        .await
        .map_err(|e| WorkspaceError::Extract(e.to_string()))
        .and_then(|r| r);
        let mut summary = match made {
            Ok(s) => s,
            Err(e) => {
                sqlx::query(
                    "UPDATE extracts SET status = 'failed' WHERE project = $1 AND version = $2",
                )
                .bind(&project)
                .bind(version)
                .execute(self.store.pool())
                .await?;
                return Err(e);
            }
        };
        summary.version = version;
        summary.permit_version = permit_version;
        summary.index_version = index_version;
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "UPDATE extracts SET status = 'committed', summary = $3 WHERE project = $1 AND version = $2",
        )
        .bind(&project)
        .bind(version)
        .bind(serde_json::to_string(&summary).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
        self.audit
            .append_in(
                &mut tx,
                &[caller
                    .event(
                        Action::ExtractMake,
                        format!("extract:{project}"),
                        Outcome::Allowed,
                    )
                    .detail(serde_json::json!({
                        "version": version,
                        "permit_version": permit_version,
                        "index_version": index_version,
                        "persons": summary.persons,
                        "rows": summary.tables.iter().map(|t| t.rows).sum::<u64>(),
                        "opted_out_excluded": summary.opted_out_excluded,
                    }))],
            )
            .await?;
        tx.commit().await?;
        drop(writer);
        Ok(summary)
    }

    /// Makes every extract the platform should hold and does not: each project in use
    /// whose permit version has no extract yet, or whose extract predates the current
    /// person index or the latest opt-out (a new version replaces it). Returns the projects made; one that
    /// fails is logged and left for the next round.
    pub async fn ensure(&self, orders: &[ExtractOrder]) -> Result<Vec<String>, WorkspaceError> {
        let mut made = Vec::new();
        for o in orders {
            let have: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(version) FROM extracts WHERE project = $1 AND permit_version = $2 AND status = 'committed'",
            )
            .bind(o.project())
            .bind(o.permit().version)
            .fetch_one(self.store.pool())
            .await?;
            if let Some(v) = have
                && !self.outdated(o.project(), v).await?
            {
                continue;
            }
            match self.materialize(o).await {
                Ok(_) => made.push(o.project().to_owned()),
                Err(WorkspaceError::NoIndex) => return Err(WorkspaceError::NoIndex),
                Err(e) => {
                    tracing::warn!(project = o.project(), error = %e, "extract not made");
                }
            }
        }
        Ok(made)
    }

    /// Whether extract `version` of `project` predates what it was made from: a newer
    /// person index, or an opt-out recorded or withdrawn since.
    async fn outdated(&self, project: &str, version: i64) -> Result<bool, WorkspaceError> {
        let (made_at, index_version): (i64, i64) = sqlx::query_as(
            "SELECT made_at, index_version FROM extracts WHERE project = $1 AND version = $2",
        )
        .bind(project)
        .bind(version)
        .fetch_one(self.store.pool())
        .await?;
        let index: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM link_runs WHERE status = 'committed'")
                .fetch_one(self.store.pool())
                .await?;
        let opt_out: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(CASE WHEN withdrawn_at IS NOT NULL AND withdrawn_at > recorded_at \
             THEN withdrawn_at ELSE recorded_at END) FROM opt_outs",
        )
        .fetch_one(self.store.pool())
        .await?;
        Ok(index.is_some_and(|i| i > index_version) || opt_out.is_some_and(|t| t >= made_at))
    }

    /// The current extract of the project, as its page shows it, for a person the
    /// permit in force names: the newest made under the permit version in force.
    /// `None` until one is made.
    pub async fn current(
        &self,
        permit: &PermitInForce,
    ) -> Result<Option<ExtractSummary>, WorkspaceError> {
        let s: Option<String> = sqlx::query_scalar(
            "SELECT summary FROM extracts WHERE project = $1 AND permit_version = $2 AND status = 'committed' \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(permit.project())
        .bind(permit.permit().version)
        .fetch_optional(self.store.pool())
        .await?
        .flatten();
        Ok(s.and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// Opens the current extract for reading, for a person the permit in force names.
    pub async fn open(
        &self,
        caller: &Caller,
        permit: &PermitInForce,
    ) -> Result<Option<renkei_datastore::OpenVersion>, WorkspaceError> {
        let Some(s) = self.current(permit).await? else {
            return Ok(None);
        };
        Ok(Some(
            self.data.open_extract(caller, permit, s.version).await?,
        ))
    }
}
