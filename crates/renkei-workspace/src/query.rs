//! Queries in a project's workspace: run off the request path on the governed engine,
//! over the project's current extract only, under the permit in force for as long as
//! they run; each one audited and recorded in the project's history.
//!
//! The rows a query returns stay in memory, shown to the person who ran it while they
//! are fresh, and are never written anywhere: the only way out is a release request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use renkei_access::{DummyGrant, PermitInForce};
use renkei_core::{Action, Caller, Coded, Outcome, UserId};
use renkei_datastore::OpenVersion;
use renkei_engine::{Answer, Batches, EngineError, Limits, Progress, Source, SourceError};
use renkei_store::sqlx;
use serde::Serialize;
use tokio::sync::Notify;

use crate::{WorkspaceError, Workspaces};

/// Where queries run: a project's extract under the permit in force, or the dummy data
/// of an application in review. Queries, history and saved queries are kept per person
/// and project, so what was written on dummy data is there in the real workspace.
#[derive(Clone, Copy, Debug)]
pub enum Space<'a> {
    /// The real extract.
    Project(&'a PermitInForce),
    /// Synthetic rows with the schema the application requests.
    Dummy(&'a DummyGrant),
}

impl Space<'_> {
    fn user(&self) -> &UserId {
        match self {
            Space::Project(p) => p.user(),
            Space::Dummy(g) => g.user(),
        }
    }
    /// The project's id (an application's, for dummy data).
    pub fn project(&self) -> &str {
        match self {
            Space::Project(p) => p.project(),
            Space::Dummy(g) => g.project(),
        }
    }
    fn is_dummy(&self) -> bool {
        matches!(self, Space::Dummy(_))
    }
    fn object(&self) -> String {
        match self {
            Space::Project(p) => format!("project:{}", p.project()),
            Space::Dummy(g) => format!("application:{}", g.application()),
        }
    }
}

impl<'a> From<&'a PermitInForce> for Space<'a> {
    fn from(p: &'a PermitInForce) -> Self {
        Space::Project(p)
    }
}

impl<'a> From<&'a DummyGrant> for Space<'a> {
    fn from(g: &'a DummyGrant) -> Self {
        Space::Dummy(g)
    }
}

/// Limits of the workspace as a whole.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Limits of each query (memory, time, rows shown).
    pub query: Limits,
    /// Queries one person may have running at once.
    pub per_user: usize,
    /// Queries running at once on this server, everyone's together: with the memory
    /// limit of each, this bounds what the engine may take. More wait their turn.
    pub total: usize,
    /// Queries that may wait for a turn; beyond that a new one is refused.
    pub queue: usize,
    /// Longest SQL text accepted.
    pub max_sql_bytes: usize,
    /// How often a running query checks that its permit still holds.
    pub permit_check: Duration,
    /// Finished results kept in memory per person (older ones are dropped).
    pub kept_per_user: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            query: Limits::default(),
            per_user: 2,
            total: 4,
            queue: 64,
            max_sql_bytes: 64 << 10,
            permit_check: Duration::from_secs(1),
            kept_per_user: 10,
        }
    }
}

/// Where a query stands.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum QueryState {
    /// Still running.
    Running {
        /// Waiting for a turn (the server runs a few queries at once).
        waiting: bool,
        /// Rows read from the extract so far.
        rows_read: u64,
        /// Milliseconds since it started.
        elapsed_ms: u64,
    },
    /// It answered.
    Finished {
        /// The rows, as text.
        result: QueryResult,
    },
    /// It failed or was refused.
    Failed {
        /// The stable code (`query_ddl`, `query_timeout`, ...).
        code: String,
        /// Whether the engine refused it (a denial in the audit log), rather than it
        /// failing (wrong SQL, too much memory or time).
        refused: bool,
        /// What went wrong, safe to show.
        message: String,
    },
    /// It was stopped: by its owner, or because the permit no longer holds.
    Stopped {
        /// `cancelled`, or the permit check's reason (`permit_expired`, ...).
        reason: String,
    },
}

impl QueryState {
    fn status(&self) -> &'static str {
        match self {
            QueryState::Running { .. } => "running",
            QueryState::Finished { .. } => "finished",
            QueryState::Failed { .. } => "failed",
            QueryState::Stopped { .. } => "stopped",
        }
    }
}

/// A result as the workspace shows it: column names and types, and the rows (at most
/// the row cap) as display text. No way to download it exists.
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    /// Column names.
    pub columns: Vec<String>,
    /// Their types, as Arrow names them.
    pub types: Vec<String>,
    /// The rows shown; `None` for null.
    pub rows: Vec<Vec<Option<String>>>,
    /// Whether the query had more rows than are shown.
    pub truncated: bool,
    /// The plan's hash (what the audit log records).
    pub plan_hash: String,
    /// How long it took.
    pub elapsed_ms: u64,
}

impl QueryResult {
    fn of(a: &Answer) -> Result<Self, EngineError> {
        let b: &RecordBatch = &a.batch;
        let opts = FormatOptions::default().with_null("");
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        let rows = (0..b.num_rows())
            .map(|r| {
                b.columns()
                    .iter()
                    .zip(&fmts)
                    .map(|(c, f)| (!c.is_null(r)).then(|| f.value(r).to_string()))
                    .collect()
            })
            .collect();
        let schema = b.schema();
        Ok(Self {
            columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
            types: schema
                .fields()
                .iter()
                .map(|f| f.data_type().to_string())
                .collect(),
            rows,
            truncated: a.truncated,
            plan_hash: a.plan_hash.clone(),
            elapsed_ms: a.elapsed.as_millis() as u64,
        })
    }
}

/// A query as its owner sees it.
#[derive(Debug, Clone, Serialize)]
pub struct QueryView {
    /// Its id.
    pub id: String,
    /// The project.
    pub project: String,
    /// Whether it ran on dummy (synthetic) data.
    pub dummy: bool,
    /// The SQL as written.
    pub sql: String,
    /// When it started (microseconds since the epoch).
    pub started_at: i64,
    /// Where it stands.
    #[serde(flatten)]
    pub state: QueryState,
}

/// A line of the project's query history (no rows: those are never stored).
#[derive(Debug, Clone, Serialize)]
pub struct HistoryLine {
    /// The query's id.
    pub id: String,
    /// The SQL.
    pub sql_text: String,
    /// running, finished, failed or stopped.
    pub status: String,
    /// The code of a failure or stop.
    pub reason: Option<String>,
    /// Rows returned.
    pub rows_out: Option<i64>,
    /// Milliseconds taken.
    pub elapsed_ms: Option<i64>,
    /// When it started.
    pub started_at: i64,
    /// Whether it ran on dummy data.
    pub dummy: bool,
}

/// A saved query.
#[derive(Debug, Clone, Serialize)]
pub struct SavedQuery {
    /// Its name.
    pub name: String,
    /// The SQL.
    pub sql_text: String,
    /// When it was saved.
    pub saved_at: i64,
}

/// One table of the workspace, for the schema browser.
#[derive(Debug, Clone, Serialize)]
pub struct TableInfo {
    /// Its name in SQL.
    pub name: String,
    /// Its columns: name and type.
    pub columns: Vec<(String, String)>,
}

struct Entry {
    user: UserId,
    project: String,
    /// What the audit log names: `project:<id>`, or `application:<id>` for dummy data.
    object: String,
    dummy: bool,
    sql: String,
    started_at: i64,
    clock: Instant,
    progress: Progress,
    /// Set while the query waits for a turn.
    waiting: Arc<std::sync::atomic::AtomicBool>,
    stop: Arc<Notify>,
    state: Option<QueryState>,
}

/// The queries this server holds in memory.
#[derive(Default)]
pub(crate) struct Registry {
    entries: Mutex<HashMap<String, Entry>>,
    /// The schema browser's tables per (project, extract version): read once, not on
    /// every page (a running query's page asks every second).
    schemas: Mutex<HashMap<(String, i64), Vec<TableInfo>>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A table of an opened extract, read part by part on the engine's threads.
#[derive(Debug)]
struct ExtractTable {
    open: Arc<OpenVersionHandle>,
    table: String,
    schema: arrow_schema::SchemaRef,
    parts: usize,
}

/// `OpenVersion` holds the key; it is shared by the tables of one query and dropped
/// with it.
struct OpenVersionHandle(OpenVersion);

impl std::fmt::Debug for OpenVersionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenVersion")
    }
}

impl Source for ExtractTable {
    fn schema(&self) -> arrow_schema::SchemaRef {
        self.schema.clone()
    }
    fn partitions(&self) -> usize {
        self.parts
    }
    fn read(&self, partition: usize, columns: Option<&[String]>) -> Result<Batches, SourceError> {
        let table = self.table.clone();
        let failed = move |e: renkei_datastore::DataStoreError| {
            // The detail (a path) goes to the server's log, not to the researcher.
            tracing::error!(table = %table, error = %e, "extract part unreadable");
            SourceError(format!("the extract's table {table} could not be read"))
        };
        let it = self
            .open
            .0
            .part(&self.table, partition, columns)
            .map_err(failed.clone())?;
        Ok(Box::new(it.map(move |b| b.map_err(failed.clone()))))
    }
}

/// A task that is aborted when this handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The threads queries run on, apart from the server's: started on first use, shut
/// down without waiting when the service goes.
#[derive(Default)]
pub(crate) struct EngineRuntime(std::sync::OnceLock<Option<tokio::runtime::Runtime>>);

impl EngineRuntime {
    fn handle(&self) -> Option<tokio::runtime::Handle> {
        self.0
            .get_or_init(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
                    .thread_name("renkei-query")
                    .enable_all()
                    .build()
                    .map_err(|e| tracing::error!(error = %e, "no query runtime"))
                    .ok()
            })
            .as_ref()
            .map(|rt| rt.handle().clone())
    }
}

impl Drop for EngineRuntime {
    fn drop(&mut self) {
        if let Some(Some(rt)) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// The extract's tables as the engine reads them.
fn engine_tables(
    open: &Arc<OpenVersionHandle>,
) -> Result<Vec<renkei_engine::Table>, WorkspaceError> {
    let mut tables = Vec::new();
    for t in open.0.tables()? {
        tables.push(renkei_engine::Table {
            name: t.clone(),
            source: Arc::new(ExtractTable {
                schema: open.0.schema(&t)?,
                parts: open.0.part_count(&t)?,
                open: open.clone(),
                table: t,
            }),
        });
    }
    Ok(tables)
}

impl Workspaces {
    /// The project's current extract as the engine reads it, opened (and audited) for
    /// a person the permit names: for the benchmark, which runs the same queries
    /// governed, ungoverned and elsewhere.
    pub async fn engine_tables(
        &self,
        caller: &Caller,
        permit: &PermitInForce,
    ) -> Result<Vec<renkei_engine::Table>, WorkspaceError> {
        let Some(open) = self.open(caller, permit).await? else {
            return Err(WorkspaceError::NoExtract);
        };
        engine_tables(&Arc::new(OpenVersionHandle(open)))
    }

    /// The tables of an application's dummy workspace, for the schema browser.
    pub async fn dummy_schema(&self, grant: &DummyGrant) -> Result<Vec<TableInfo>, WorkspaceError> {
        Ok(self
            .dummy_tables(grant)
            .await?
            .into_iter()
            .map(|t| TableInfo {
                columns: t
                    .source
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| (f.name().clone(), f.data_type().to_string()))
                    .collect(),
                name: t.name,
            })
            .collect())
    }

    /// The tables of the project's current extract, for the schema browser.
    pub async fn tables(
        &self,
        caller: &Caller,
        permit: &PermitInForce,
    ) -> Result<Vec<TableInfo>, WorkspaceError> {
        let Some(current) = self.current(permit).await? else {
            return Err(WorkspaceError::NoExtract);
        };
        let key = (permit.project().to_owned(), current.version);
        if let Some(t) = self.schemas().get(&key) {
            return Ok(t.clone());
        }
        let Some(open) = self.open(caller, permit).await? else {
            return Err(WorkspaceError::NoExtract);
        };
        let mut out = Vec::new();
        for t in open.tables()? {
            let s = open.schema(&t)?;
            out.push(TableInfo {
                name: t,
                columns: s
                    .fields()
                    .iter()
                    .map(|f| (f.name().clone(), f.data_type().to_string()))
                    .collect(),
            });
        }
        self.schemas().insert(key, out.clone());
        Ok(out)
    }

    /// Starts a query on the project's current extract and returns its id at once; it
    /// runs off the request path. Refused (and audited) when the caller has too many
    /// running, the server is at its limit, or the SQL is too long.
    pub async fn start_query(
        &self,
        caller: &Caller,
        permit: &PermitInForce,
        sql: &str,
    ) -> Result<String, WorkspaceError> {
        let space = Space::from(permit);
        let object = space.object();
        if let Err(e) = self.precheck(caller, space, sql) {
            return Err(self.refuse_query(caller, &object, sql, e).await);
        }
        let Some(open) = self.open(caller, permit).await? else {
            return Err(self
                .refuse_query(caller, &object, sql, WorkspaceError::NoExtract)
                .await);
        };
        let tables = engine_tables(&Arc::new(OpenVersionHandle(open)))?;
        self.launch(caller, space, tables, sql).await
    }

    /// Starts a query on the application's dummy data (synthetic rows with the schema
    /// it requests), under the same engine, limits and audit as a real one.
    pub async fn start_dummy_query(
        &self,
        caller: &Caller,
        grant: &DummyGrant,
        sql: &str,
    ) -> Result<String, WorkspaceError> {
        let space = Space::from(grant);
        if let Err(e) = self.precheck(caller, space, sql) {
            return Err(self.refuse_query(caller, &space.object(), sql, e).await);
        }
        let tables = self.dummy_tables(grant).await?;
        self.launch(caller, space, tables, sql).await
    }

    /// Starts a query in `space`: [`Self::start_query`] or [`Self::start_dummy_query`].
    pub async fn start_in(
        &self,
        caller: &Caller,
        space: Space<'_>,
        sql: &str,
    ) -> Result<String, WorkspaceError> {
        match space {
            Space::Project(p) => self.start_query(caller, p, sql).await,
            Space::Dummy(g) => self.start_dummy_query(caller, g, sql).await,
        }
    }

    /// The tables of an application's dummy workspace.
    pub(crate) async fn dummy_tables(
        &self,
        grant: &DummyGrant,
    ) -> Result<Vec<renkei_engine::Table>, WorkspaceError> {
        let catalogue = renkei_catalog::datasets(&self.store)
            .await
            .map_err(|e| WorkspaceError::Extract(e.to_string()))?;
        Ok(crate::dummy::tables(grant, &catalogue))
    }

    fn precheck(&self, caller: &Caller, space: Space<'_>, sql: &str) -> Result<(), WorkspaceError> {
        if caller.user_id() != Some(space.user()) {
            return Err(WorkspaceError::NotYours);
        }
        if sql.len() > self.limits.max_sql_bytes {
            return Err(WorkspaceError::SqlTooLong(self.limits.max_sql_bytes));
        }
        if sql.trim().is_empty() {
            return Err(WorkspaceError::EmptySql);
        }
        Ok(())
    }

    async fn launch(
        &self,
        caller: &Caller,
        space: Space<'_>,
        tables: Vec<renkei_engine::Table>,
        sql: &str,
    ) -> Result<String, WorkspaceError> {
        let project = space.project().to_owned();
        let user = space.user().clone();
        let dummy = space.is_dummy();
        let object = space.object();
        let id = new_id();
        let started_at = self.clock.now().micros();
        let progress = Progress::default();
        let stop = Arc::new(Notify::new());
        let waiting = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let busy = {
            let mut reg = self.queries.lock();
            let running_total = reg.values().filter(|e| e.state.is_none()).count();
            let running_mine = reg
                .values()
                .filter(|e| e.state.is_none() && e.user == user)
                .count();
            if running_mine >= self.limits.per_user {
                Some("query_busy_user")
            } else if running_total >= self.limits.total + self.limits.queue {
                Some("query_busy_server")
            } else {
                reg.insert(
                    id.clone(),
                    Entry {
                        user: user.clone(),
                        project: project.clone(),
                        object: object.clone(),
                        dummy,
                        sql: sql.to_owned(),
                        started_at,
                        clock: Instant::now(),
                        progress: progress.clone(),
                        waiting: waiting.clone(),
                        stop: stop.clone(),
                        state: None,
                    },
                );
                None
            }
        };
        if let Some(code) = busy {
            return Err(self
                .refuse_query(caller, &object, sql, WorkspaceError::Busy(code))
                .await);
        }
        let recorded = sqlx::query(
            "INSERT INTO workspace_queries (id, project, user_id, sql_text, status, dummy, started_at) \
             VALUES ($1, $2, $3, $4, 'running', $5, $6)",
        )
        .bind(&id)
        .bind(&project)
        .bind(user.as_str())
        .bind(sql)
        .bind(i64::from(dummy))
        .bind(started_at)
        .execute(self.store.pool())
        .await;
        if let Err(e) = recorded {
            self.queries.lock().remove(&id);
            return Err(e.into());
        }
        let query = renkei_engine::Query {
            sql: sql.to_owned(),
            tables,
            limits: self.limits.query.clone(),
            progress,
        };
        let ws = self.clone();
        let caller = caller.clone();
        let qid = id.clone();
        tokio::spawn(async move {
            let deadline = ws.limits.query.timeout + Duration::from_secs(5);
            let run = async {
                // One of the server's turns: the engine's memory stays within
                // `total` queries' limits however many are asked for.
                let _turn = ws.turns.acquire().await;
                waiting.store(false, std::sync::atomic::Ordering::Relaxed);
                // On the engine's own threads, so that a heavy query never starves the
                // server's pages; aborted when this future is dropped (stopped,
                // cancelled); a panic inside the engine becomes a failure.
                let task = AbortOnDrop(ws.engine_runtime().spawn(ws.engine.run(query)));
                match tokio::time::timeout(deadline, task).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(_)) => Err(EngineError::Internal("the engine's task ended".into())),
                    // The engine's own timeout did not fire (a step that never
                    // yields): report it, and free the turn.
                    Err(_) => Err(EngineError::Timeout(ws.limits.query.timeout)),
                }
            };
            // Real data: the permit must hold for as long as the query runs.
            let watch = async {
                if dummy {
                    std::future::pending().await
                } else {
                    ws.watch_permit(&caller, &project).await
                }
            };
            let outcome = tokio::select! {
                r = run => match r.and_then(|a| QueryResult::of(&a)) {
                    Ok(result) => QueryState::Finished { result },
                    Err(e) => QueryState::Failed {
                        code: e.code().into(),
                        refused: e.kind() == renkei_core::ErrorKind::Denied,
                        message: e.to_string(),
                    },
                },
                reason = watch => QueryState::Stopped { reason },
                _ = stop.notified() => QueryState::Stopped { reason: "cancelled".into() },
            };
            ws.finish(&caller, &qid, outcome).await;
        });
        Ok(id)
    }

    async fn refuse_query(
        &self,
        caller: &Caller,
        object: &str,
        sql: &str,
        e: WorkspaceError,
    ) -> WorkspaceError {
        let event = caller
            .event(Action::QueryRun, object, Outcome::denied(e.code()))
            .detail(serde_json::json!({
                "sql": truncate(sql, self.limits.max_sql_bytes),
                "sql_sha256": renkei_crypto::sha256_hex(sql.as_bytes()),
            }));
        match self.audit.record(event).await {
            Ok(_) => e,
            Err(a) => a.into(),
        }
    }

    fn schemas(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i64), Vec<TableInfo>>> {
        self.queries
            .schemas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Where queries run: the engine's own runtime, or this one if it could not start.
    fn engine_runtime(&self) -> tokio::runtime::Handle {
        self.engine_rt
            .handle()
            .unwrap_or_else(tokio::runtime::Handle::current)
    }

    /// Resolves with the reason once the permit no longer holds for the caller.
    async fn watch_permit(&self, caller: &Caller, project: &str) -> String {
        loop {
            tokio::time::sleep(self.limits.permit_check).await;
            match self.applications.in_force(caller, project).await {
                Ok(_) => {}
                Err(e) if e.kind().is_refusal() => return e.code().to_owned(),
                // The store hiccupped: keep checking.
                Err(e) => tracing::warn!(error = %e, "permit check failed"),
            }
        }
    }

    async fn finish(&self, caller: &Caller, id: &str, mut state: QueryState) {
        let (object, dummy, sql, elapsed) = {
            let reg = self.queries.lock();
            let Some(e) = reg.get(id) else { return };
            (e.object.clone(), e.dummy, e.sql.clone(), e.clock.elapsed())
        };
        let (reason, plan_hash, rows, bytes, truncated) = match &state {
            QueryState::Finished { result } => (
                None,
                Some(result.plan_hash.clone()),
                Some(result.rows.len() as i64),
                Some(
                    result
                        .rows
                        .iter()
                        .flatten()
                        .flatten()
                        .map(|c| c.len() as i64)
                        .sum::<i64>(),
                ),
                Some(result.truncated),
            ),
            QueryState::Failed { code, .. } => (Some(code.clone()), None, None, None, None),
            QueryState::Stopped { reason } => (Some(reason.clone()), None, None, None, None),
            QueryState::Running { .. } => (None, None, None, None, None),
        };
        let elapsed_ms = elapsed.as_millis() as i64;
        let outcome = match &state {
            QueryState::Failed {
                code,
                refused: true,
                ..
            } => Outcome::denied(code.clone()),
            QueryState::Stopped { reason } if reason != "cancelled" => {
                Outcome::denied(reason.clone())
            }
            _ => Outcome::Allowed,
        };
        let event = caller
            .event(Action::QueryRun, object, outcome)
            .detail(serde_json::json!({
                "query": id,
                "dummy": dummy,
                // The whole SQL (at most the accepted length) and its hash.
                "sql": sql,
                "sql_sha256": renkei_crypto::sha256_hex(sql.as_bytes()),
                "status": state.status(),
                "reason": reason,
                "plan_hash": plan_hash,
                "duration_ms": elapsed_ms,
                "rows": rows,
                "bytes": bytes,
                "truncated": truncated,
                "engine": self.engine.name(),
            }));
        if let Err(e) = self.audit.record(event).await {
            // Nothing is shown that the log does not hold.
            tracing::error!(error = %e, "query audit entry not recorded");
            state = QueryState::Failed {
                code: "internal".into(),
                refused: false,
                message: "the query could not be recorded in the audit log; nothing is shown"
                    .into(),
            };
        }
        let r = sqlx::query(
            "UPDATE workspace_queries SET status = $1, reason = $2, plan_hash = $3, rows_out = $4, \
             bytes_out = $5, truncated = $6, elapsed_ms = $7, finished_at = $8 WHERE id = $9",
        )
        .bind(state.status())
        .bind(&reason)
        .bind(&plan_hash)
        .bind(rows)
        .bind(bytes)
        .bind(truncated.map(i64::from))
        .bind(elapsed_ms)
        .bind(self.clock.now().micros())
        .bind(id)
        .execute(self.store.pool())
        .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "query history not updated");
        }
        let mut reg = self.queries.lock();
        let user = match reg.get_mut(id) {
            Some(e) => {
                e.state = Some(state);
                e.user.clone()
            }
            None => return,
        };
        // Keep only the newest finished results of this person.
        let mut done: Vec<(i64, String)> = reg
            .iter()
            .filter(|(_, e)| e.user == user && e.state.is_some())
            .map(|(k, e)| (e.started_at, k.clone()))
            .collect();
        done.sort();
        let extra = done.len().saturating_sub(self.limits.kept_per_user);
        for (_, k) in done.into_iter().take(extra) {
            reg.remove(&k);
        }
    }

    /// A query of the caller's, as it stands; `None` when it is not theirs, not of this
    /// project, or no longer held.
    pub fn query<'a>(&self, space: impl Into<Space<'a>>, id: &str) -> Option<QueryView> {
        let space: Space<'a> = space.into();
        let reg = self.queries.lock();
        let e = reg.get(id)?;
        if &e.user != space.user() || e.project != space.project() || e.dummy != space.is_dummy() {
            return None;
        }
        Some(QueryView {
            id: id.to_owned(),
            dummy: e.dummy,
            project: e.project.clone(),
            sql: e.sql.clone(),
            started_at: e.started_at,
            state: e.state.clone().unwrap_or(QueryState::Running {
                waiting: e.waiting.load(std::sync::atomic::Ordering::Relaxed),
                rows_read: e.progress.rows_read(),
                elapsed_ms: e.clock.elapsed().as_millis() as u64,
            }),
        })
    }

    /// Waits up to `wait` for a query to finish, then gives it as it stands.
    pub async fn wait_query<'a>(
        &self,
        space: impl Into<Space<'a>>,
        id: &str,
        wait: Duration,
    ) -> Option<QueryView> {
        let space: Space<'a> = space.into();
        let deadline = Instant::now() + wait;
        loop {
            let v = self.query(space, id)?;
            if !matches!(v.state, QueryState::Running { .. }) || Instant::now() >= deadline {
                return Some(v);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops a running query of the caller's. `false` when there was none to stop.
    pub fn cancel_query<'a>(&self, space: impl Into<Space<'a>>, id: &str) -> bool {
        let space: Space<'a> = space.into();
        let reg = self.queries.lock();
        match reg.get(id) {
            Some(e)
                if &e.user == space.user()
                    && e.project == space.project()
                    && e.dummy == space.is_dummy()
                    && e.state.is_none() =>
            {
                e.stop.notify_one();
                true
            }
            _ => false,
        }
    }

    /// The caller's query history in this project, newest first.
    pub async fn history<'a>(
        &self,
        space: impl Into<Space<'a>>,
        limit: i64,
    ) -> Result<Vec<HistoryLine>, WorkspaceError> {
        let space: Space<'a> = space.into();
        #[allow(clippy::type_complexity)]
        let rows: Vec<(String, String, String, Option<String>, Option<i64>, Option<i64>, i64, i64)> =
            sqlx::query_as(
                "SELECT id, sql_text, status, reason, rows_out, elapsed_ms, started_at, dummy FROM workspace_queries \
                 WHERE project = $1 AND user_id = $2 ORDER BY started_at DESC, id DESC LIMIT $3",
            )
            .bind(space.project())
            .bind(space.user().as_str())
            .bind(limit)
            .fetch_all(self.store.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, sql_text, status, reason, rows_out, elapsed_ms, started_at, dummy)| {
                    HistoryLine {
                        id,
                        dummy: dummy != 0,
                        sql_text,
                        status,
                        reason,
                        rows_out,
                        elapsed_ms,
                        started_at,
                    }
                },
            )
            .collect())
    }

    /// Saves (or replaces) a named query of the caller's in this project.
    pub async fn save_query<'a>(
        &self,
        space: impl Into<Space<'a>>,
        name: &str,
        sql: &str,
    ) -> Result<(), WorkspaceError> {
        let space: Space<'a> = space.into();
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(WorkspaceError::BadName);
        }
        if sql.trim().is_empty() {
            return Err(WorkspaceError::EmptySql);
        }
        if sql.len() > self.limits.max_sql_bytes {
            return Err(WorkspaceError::SqlTooLong(self.limits.max_sql_bytes));
        }
        let mut tx = self.store.pool().begin().await?;
        sqlx::query("DELETE FROM saved_queries WHERE project = $1 AND user_id = $2 AND name = $3")
            .bind(space.project())
            .bind(space.user().as_str())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO saved_queries (project, user_id, name, sql_text, saved_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(space.project())
        .bind(space.user().as_str())
        .bind(name)
        .bind(sql)
        .bind(self.clock.now().micros())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The caller's saved queries in this project, by name.
    pub async fn saved_queries<'a>(
        &self,
        space: impl Into<Space<'a>>,
    ) -> Result<Vec<SavedQuery>, WorkspaceError> {
        let space: Space<'a> = space.into();
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT name, sql_text, saved_at FROM saved_queries WHERE project = $1 AND user_id = $2 ORDER BY name",
        )
        .bind(space.project())
        .bind(space.user().as_str())
        .fetch_all(self.store.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, sql_text, saved_at)| SavedQuery {
                name,
                sql_text,
                saved_at,
            })
            .collect())
    }
}
/// A result awaiting output checking, as its list shows it (the rows stay sealed).
#[derive(Debug, Clone, Serialize)]
pub struct PendingOutput {
    /// Its id.
    pub id: String,
    /// What the researcher called it.
    pub title: String,
    /// `pending` until checking begins.
    pub status: String,
    /// The query it came from.
    pub query_id: String,
    /// The plan's hash.
    pub plan_hash: String,
    /// Rows in it.
    pub rows: i64,
    /// When it was asked for.
    pub created_at: i64,
    /// The disclosure checks' verdict when last run (`pass`, `review`, `fail`).
    pub verdict: Option<String>,
}

/// An `outputs` row as [`PendingOutput`] reads it: id, title, status, query id, plan
/// hash, rows, created at, verdict (in that order in every SELECT).
pub(crate) type OutputRow = (
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
);

impl From<OutputRow> for PendingOutput {
    fn from(r: OutputRow) -> Self {
        let (id, title, status, query_id, plan_hash, rows, created_at, verdict) = r;
        PendingOutput {
            id,
            title,
            status,
            query_id,
            plan_hash,
            rows,
            created_at,
            verdict,
        }
    }
}

/// What an output keeps: the query and the result it gave.
#[derive(Debug, Serialize, serde::Deserialize)]
pub(crate) struct OutputBody {
    pub(crate) sql: String,
    pub(crate) columns: Vec<String>,
    pub(crate) types: Vec<String>,
    pub(crate) rows: Vec<Vec<Option<String>>>,
    pub(crate) truncated: bool,
    pub(crate) plan_hash: String,
}

pub(crate) const OUTPUT_SEAL: &str = "renkei:output:v1";

impl Workspaces {
    /// Saves a finished result of the caller's, with its query, as a pending output
    /// for checking (audited). The rows are sealed under the project's extract key.
    pub async fn request_release(
        &self,
        caller: &Caller,
        permit: &PermitInForce,
        query_id: &str,
        title: &str,
    ) -> Result<String, WorkspaceError> {
        let project = permit.project().to_owned();
        let object = format!("project:{project}");
        let title = title.trim();
        let view = self.query(permit, query_id);
        let problem = match &view {
            _ if caller.user_id() != Some(permit.user()) => Some(WorkspaceError::NotYours),
            _ if title.is_empty() || title.chars().count() > 200 => Some(WorkspaceError::BadName),
            None => Some(WorkspaceError::NoResult),
            Some(v) if !matches!(v.state, QueryState::Finished { .. }) => {
                Some(WorkspaceError::NoResult)
            }
            _ => None,
        };
        if let Some(e) = problem {
            let event = caller
                .event(Action::OutputRequest, object, Outcome::denied(e.code()))
                .detail(serde_json::json!({ "query": query_id }));
            self.audit.record(event).await?;
            return Err(e);
        }
        let Some(QueryView {
            sql,
            state: QueryState::Finished { result },
            ..
        }) = view
        else {
            return Err(WorkspaceError::NoResult);
        };
        let Some(open) = self.open(caller, permit).await? else {
            return Err(WorkspaceError::NoExtract);
        };
        let id = format!("o-{}", hex::encode(renkei_crypto::random_bytes::<10>()));
        let body = OutputBody {
            sql,
            columns: result.columns,
            types: result.types,
            rows: result.rows,
            truncated: result.truncated,
            plan_hash: result.plan_hash,
        };
        let plain =
            serde_json::to_vec(&body).map_err(|e| WorkspaceError::Extract(e.to_string()))?;
        let sealed = open
            .sealer(OUTPUT_SEAL)
            .seal(&plain, &format!("output:{id}"));
        drop(open);
        let rows = body.rows.len() as i64;
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "INSERT INTO outputs (id, project, user_id, query_id, title, status, plan_hash, rows_out, sealed, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(&project)
        .bind(permit.user().as_str())
        .bind(query_id)
        .bind(title)
        .bind(&body.plan_hash)
        .bind(rows)
        .bind(&sealed)
        .bind(self.clock.now().micros())
        .execute(&mut *tx)
        .await?;
        self.audit
            .append_in(
                &mut tx,
                &[caller
                    .event(Action::OutputRequest, object, Outcome::Allowed)
                    .detail(serde_json::json!({
                        "output": id, "query": query_id, "plan_hash": body.plan_hash,
                        "rows": rows, "truncated": body.truncated,
                    }))],
            )
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The project's pending outputs of the caller's, newest first.
    pub async fn outputs(
        &self,
        permit: &PermitInForce,
    ) -> Result<Vec<PendingOutput>, WorkspaceError> {
        let rows: Vec<OutputRow> = sqlx::query_as(
            "SELECT id, title, status, query_id, plan_hash, rows_out, created_at, verdict FROM outputs \
             WHERE project = $1 AND user_id = $2 ORDER BY created_at DESC, id DESC",
        )
        .bind(permit.project())
        .bind(permit.user().as_str())
        .fetch_all(self.store.pool())
        .await?;
        Ok(rows.into_iter().map(PendingOutput::from).collect())
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Whether `id` has the form of an output id (`o-` and 20 hexadecimal digits).
pub fn is_output_id(id: &str) -> bool {
    id.strip_prefix("o-")
        .is_some_and(|h| h.len() == 20 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `id` has the form of a query id (`q-` and 20 hexadecimal digits).
pub fn is_query_id(id: &str) -> bool {
    id.strip_prefix("q-")
        .is_some_and(|h| h.len() == 20 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn new_id() -> String {
    format!("q-{}", hex::encode(renkei_crypto::random_bytes::<10>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_ids_have_one_form() {
        let id = new_id();
        assert!(is_query_id(&id), "{id}");
        for bad in [
            "",
            "q-",
            "q-123",
            "q-0123456789abcdef012g",
            "x-0123456789abcdef0123",
            "q-0123456789abcdef0123\n",
        ] {
            assert!(!is_query_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn sql_is_cut_on_a_character_boundary() {
        assert_eq!(truncate("年齢", 4), "年");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
