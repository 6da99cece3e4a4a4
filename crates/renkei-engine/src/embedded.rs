//! The embedded backend: one DataFusion session per query, holding only the query's
//! tables, with no table functions, no URL tables, no information_schema, spilling off
//! and its own memory pool.

use std::collections::BTreeSet;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{RecordBatch, RecordBatchOptions};
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::cte_worktable::CteWorkTable;
use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, project_schema};
use datafusion::execution::TaskContext;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::TableSource;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

use crate::{Answer, Engine, EngineError, Limits, Progress, Query, Source, gate};

/// DataFusion, embedded in this process.
#[derive(Debug, Default, Clone)]
pub struct Embedded;

impl Engine for Embedded {
    fn name(&self) -> &'static str {
        "datafusion-embedded"
    }

    fn run(&self, query: Query) -> BoxFuture<'static, Result<Answer, EngineError>> {
        Box::pin(async move {
            let timeout = query.limits.timeout;
            match tokio::time::timeout(timeout, run(query)).await {
                Ok(r) => r,
                // Dropping the inner future stops every task of the query.
                Err(_) => Err(EngineError::Timeout(timeout)),
            }
        })
    }
}

impl Embedded {
    /// Runs `query` in a plain DataFusion session over the same tables and reader, with
    /// no gate, no limits and no row cap: the baseline the benchmark measures the
    /// governance against. The workspace never calls it.
    pub fn ungoverned(&self, query: Query) -> BoxFuture<'static, Result<Answer, EngineError>> {
        Box::pin(async move {
            let started = Instant::now();
            let ctx = SessionContext::new_with_config(
                SessionConfig::new().with_target_partitions(query.limits.partitions.max(1)),
            );
            for t in query.tables {
                let provider = Provider {
                    schema: t.source.schema(),
                    source: t.source,
                    progress: query.progress.clone(),
                };
                ctx.register_table(t.name.as_str(), Arc::new(provider))
                    .map_err(|e| EngineError::Internal(e.to_string()))?;
            }
            let df = ctx
                .sql(&query.sql)
                .await
                .map_err(EngineError::from_datafusion)?;
            let batches = df.collect().await.map_err(EngineError::from_datafusion)?;
            let schema = batches
                .first()
                .map(|b| b.schema())
                .unwrap_or_else(|| Arc::new(arrow_schema::Schema::empty()));
            let batch = arrow_select::concat::concat_batches(&schema, &batches)
                .map_err(|e| EngineError::Internal(e.to_string()))?;
            Ok(Answer {
                bytes: batch.get_array_memory_size() as u64,
                batch,
                truncated: false,
                plan_hash: String::new(),
                elapsed: started.elapsed(),
            })
        })
    }
}

fn context(limits: &Limits) -> Result<SessionContext, EngineError> {
    let pool = TrackConsumersPool::new(
        GreedyMemoryPool::new(limits.memory_bytes),
        NonZeroUsize::MIN.saturating_add(2),
    );
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(pool))
        // DataFusion's spill files are plain Arrow IPC: nothing leaves memory.
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        )
        .build_arc()
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    let config = SessionConfig::new()
        .with_target_partitions(limits.partitions.max(1))
        .with_information_schema(false);
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        // No table functions at all (`generate_series`, `range`); set after the
        // defaults, which would bring them back.
        .with_table_function_list(vec![])
        .build();
    let ctx = SessionContext::new_with_state(state);
    for f in UNBOUNDED_FUNCTIONS {
        ctx.deregister_udf(f);
    }
    Ok(ctx)
}

/// Scalar functions whose output size an argument chooses (`repeat('x', 1e9)`,
/// `range(1e9)`): they allocate outside the memory pool, so one call could take the
/// server's memory. Not offered.
const UNBOUNDED_FUNCTIONS: [&str; 9] = [
    "repeat",
    "lpad",
    "rpad",
    "array_repeat",
    "list_repeat",
    "array_resize",
    "list_resize",
    "range",
    "generate_series",
];

async fn run(query: Query) -> Result<Answer, EngineError> {
    let started = Instant::now();
    let Query {
        sql,
        tables,
        limits,
        progress,
    } = query;
    let ctx = context(&limits)?;
    let mut names = BTreeSet::new();
    for t in tables {
        let provider = Provider {
            schema: t.source.schema(),
            source: t.source,
            progress: progress.clone(),
        };
        ctx.register_table(t.name.as_str(), Arc::new(provider))
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        names.insert(t.name);
    }
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let stmt = state
        .sql_to_statement(&sql, &dialect)
        .map_err(EngineError::from_datafusion)?;
    gate::statement(&stmt).map_err(EngineError::Refused)?;
    let normalize = state
        .config()
        .options()
        .sql_parser
        .enable_ident_normalization;
    let (refs, ctes) = datafusion::sql::resolve::resolve_table_references(&stmt, normalize)
        .map_err(EngineError::from_datafusion)?;
    let ctes = gate::recursive_ctes(&stmt, ctes);
    gate::references(&refs, &ctes, &names).map_err(EngineError::Refused)?;
    let plan = state
        .statement_to_plan(stmt)
        .await
        .map_err(EngineError::from_datafusion)?;
    gate::plan(&plan, &names).map_err(EngineError::Refused)?;
    let plan_hash = hex::encode(Sha256::digest(plan.display_indent().to_string()));

    let df = ctx
        .execute_logical_plan(plan)
        .await
        .map_err(EngineError::from_datafusion)?;
    let mut stream = df
        .execute_stream()
        .await
        .map_err(EngineError::from_datafusion)?;
    let schema = stream.schema();
    let mut kept: Vec<RecordBatch> = Vec::new();
    let mut rows = 0usize;
    let mut bytes = 0usize;
    let mut truncated = false;
    while let Some(batch) = stream.next().await {
        let mut batch = batch.map_err(EngineError::from_datafusion)?;
        let room = limits.max_rows - rows;
        let full = batch.num_rows() > room;
        if full {
            batch = batch.slice(0, room);
        }
        // What is kept, not the buffers a slice shares with the rest.
        bytes += slice_bytes(&batch);
        if bytes > limits.max_bytes {
            return Err(EngineError::TooLarge(limits.max_bytes));
        }
        rows += batch.num_rows();
        kept.push(batch);
        if full {
            truncated = true;
            break;
        }
    }
    // Stop the rest of the query at once.
    drop(stream);
    let batch = arrow_select::concat::concat_batches(&schema, &kept)
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    Ok(Answer {
        bytes: batch.get_array_memory_size() as u64,
        batch,
        truncated,
        plan_hash,
        elapsed: started.elapsed(),
    })
}

fn slice_bytes(b: &RecordBatch) -> usize {
    use arrow_array::Array as _;
    b.columns()
        .iter()
        .map(|c| {
            let d = c.to_data();
            d.get_slice_memory_size()
                .unwrap_or_else(|_| c.get_array_memory_size())
        })
        .sum()
}

/// Whether a scan reads a table this engine registered (not one DataFusion made up).
pub(crate) fn is_project_table(source: &Arc<dyn TableSource>) -> bool {
    source_as_provider(source).is_ok_and(|p| {
        let p: &dyn std::any::Any = p.as_ref();
        p.is::<Provider>()
    })
}

/// Whether a scan reads a recursive CTE's work table (its rows so far).
pub(crate) fn is_cte_work_table(source: &Arc<dyn TableSource>) -> bool {
    source_as_provider(source).is_ok_and(|p| {
        let p: &dyn std::any::Any = p.as_ref();
        p.is::<CteWorkTable>()
    })
}

/// A project table as DataFusion sees it: a schema and a scan over the source.
#[derive(Debug)]
struct Provider {
    schema: SchemaRef,
    source: Arc<dyn Source>,
    progress: Progress,
}

#[async_trait]
impl TableProvider for Provider {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn table_type(&self) -> TableType {
        TableType::Base
    }
    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let schema = project_schema(&self.schema, projection)?;
        let columns = projection.map(|p| {
            p.iter()
                .map(|&i| self.schema.field(i).name().clone())
                .collect::<Vec<_>>()
        });
        let partitions = self.source.partitions().max(1);
        let props = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(Arc::new(Scan {
            source: self.source.clone(),
            schema,
            columns,
            props: Arc::new(props),
            progress: self.progress.clone(),
        }))
    }
}

/// Reads a source's partitions (the extract's part files) on blocking threads, only
/// the columns the query uses.
#[derive(Debug)]
struct Scan {
    source: Arc<dyn Source>,
    schema: SchemaRef,
    columns: Option<Vec<String>>,
    props: Arc<PlanProperties>,
    progress: Progress,
}

impl DisplayAs for Scan {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ProjectTableScan")
    }
}

impl ExecutionPlan for Scan {
    fn name(&self) -> &str {
        "ProjectTableScan"
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }
    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> datafusion::common::Result<TreeNodeRecursion>,
    ) -> datafusion::common::Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }
    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> datafusion::common::Result<SendableRecordBatchStream> {
        let mut builder = RecordBatchReceiverStream::builder(self.schema.clone(), 2);
        let tx = builder.tx();
        let source = self.source.clone();
        let columns = self.columns.clone();
        let progress = self.progress.clone();
        let schema = self.schema.clone();
        builder.spawn_blocking(move || {
            if partition >= source.partitions() {
                return Ok(());
            }
            let batches = source
                .read(partition, columns.as_deref())
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            for b in batches {
                let b = b.map_err(|e| DataFusionError::External(Box::new(e)))?;
                // The source returns the columns in its own order; the plan wants them
                // in the projection's (and a `count(*)` wants none, only the rows).
                let cols = schema
                    .fields()
                    .iter()
                    .map(|f| {
                        b.column_by_name(f.name()).cloned().ok_or_else(|| {
                            DataFusionError::Execution(format!("column {} is missing", f.name()))
                        })
                    })
                    .collect::<datafusion::common::Result<Vec<_>>>()?;
                let b = RecordBatch::try_new_with_options(
                    schema.clone(),
                    cols,
                    &RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
                )?;
                progress.add(b.num_rows() as u64);
                if tx.blocking_send(Ok(b)).is_err() {
                    // The query was dropped (finished, cancelled or timed out).
                    break;
                }
            }
            Ok(())
        });
        Ok(builder.build())
    }
}
