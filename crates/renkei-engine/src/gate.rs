//! What a query may be: judged on the parsed statement and on the logical plan, never
//! on the SQL text.
//!
//! Three walls, each enough alone: the statement must be a query; every table it names
//! must be one of the session's own; and the planned query may hold only relational
//! operators (no DDL, DML, `COPY`, `SET`, `EXPLAIN`, extensions), checked through every
//! subquery. DataFusion's own `SQLOptions` check runs as well.

use std::collections::BTreeSet;

use datafusion::common::TableReference;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;

/// Why a query was refused. Each names a category the researcher can understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// CREATE, DROP, ALTER, CREATE EXTERNAL TABLE, SELECT INTO.
    Ddl,
    /// INSERT, UPDATE, DELETE, MERGE, TRUNCATE.
    Dml,
    /// COPY ... TO.
    Copy,
    /// SET, RESET, PREPARE, EXECUTE, transactions, and any other statement.
    Statement,
    /// EXPLAIN and EXPLAIN ANALYZE (DataFusion prints storage details in them).
    Explain,
    /// DESCRIBE and SHOW (the schema browser lists the project's tables).
    Describe,
    /// A table, file, URL or table function that is not one of the project's tables.
    NotAProjectTable,
    /// The catalogue's own tables (`information_schema`).
    InformationSchema,
    /// A plan node the engine does not allow (a user-defined extension).
    Operator,
}

impl Refusal {
    /// The reason code recorded in the audit log.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Ddl => "query_ddl",
            Refusal::Dml => "query_dml",
            Refusal::Copy => "query_copy",
            Refusal::Statement => "query_statement",
            Refusal::Explain => "query_explain",
            Refusal::Describe => "query_describe",
            Refusal::NotAProjectTable => "query_not_a_project_table",
            Refusal::InformationSchema => "query_information_schema",
            Refusal::Operator => "query_operator",
        }
    }

    /// Says, in English, what is refused and what to do instead.
    pub fn explain(self) -> &'static str {
        match self {
            Refusal::Ddl => "creating, changing or dropping tables is not allowed here",
            Refusal::Dml => "changing data is not allowed here: the extract is read-only",
            Refusal::Copy => "COPY is not allowed: results leave only through a checked release",
            Refusal::Statement => "only queries (SELECT, WITH, VALUES) may run here",
            Refusal::Explain => "EXPLAIN is not available in the workspace",
            Refusal::Describe => {
                "DESCRIBE and SHOW are not available: the schema browser lists the project's tables"
            }
            Refusal::NotAProjectTable => "only the project's own tables may be read",
            Refusal::InformationSchema => {
                "information_schema is not available: the schema browser lists the project's tables"
            }
            Refusal::Operator => "this kind of operation is not allowed here",
        }
    }
}

/// A refusal and what it concerned (a table name as the researcher wrote it, or the
/// kind of statement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The category.
    pub reason: Refusal,
    /// What in the query it concerned.
    pub subject: String,
}

impl Refused {
    fn new(reason: Refusal, subject: impl Into<String>) -> Self {
        Self {
            reason,
            subject: subject.into(),
        }
    }
}

/// The statement must be a plain query. Anything else is refused by category, from the
/// parsed statement.
pub fn statement(stmt: &DfStatement) -> Result<(), Refused> {
    let s = match stmt {
        DfStatement::Statement(s) => s.as_ref(),
        DfStatement::CreateExternalTable(_) => {
            return Err(Refused::new(Refusal::Ddl, "CREATE EXTERNAL TABLE"));
        }
        DfStatement::CopyTo(_) => return Err(Refused::new(Refusal::Copy, "COPY")),
        DfStatement::Explain(_) => return Err(Refused::new(Refusal::Explain, "EXPLAIN")),
        DfStatement::Reset(_) => return Err(Refused::new(Refusal::Statement, "RESET")),
    };
    if let SqlStatement::Query(q) = s {
        use datafusion::sql::sqlparser::ast::SetExpr;
        return match q.body.as_ref() {
            // `SELECT ... INTO t` creates a table.
            SetExpr::Select(sel) if sel.into.is_some() => {
                Err(Refused::new(Refusal::Ddl, "SELECT INTO"))
            }
            SetExpr::Select(_)
            | SetExpr::Query(_)
            | SetExpr::SetOperation { .. }
            | SetExpr::Values(_)
            | SetExpr::Table(_) => Ok(()),
            // `WITH ... INSERT/UPDATE/DELETE` and whatever else a body may be.
            _ => Err(Refused::new(Refusal::Dml, "WITH ... DML")),
        };
    }
    let reason = match s {
        SqlStatement::Insert(_)
        | SqlStatement::Update { .. }
        | SqlStatement::Delete(_)
        | SqlStatement::Merge { .. }
        | SqlStatement::Truncate { .. } => Refusal::Dml,
        SqlStatement::CreateTable(_)
        | SqlStatement::CreateView { .. }
        | SqlStatement::CreateSchema { .. }
        | SqlStatement::CreateDatabase { .. }
        | SqlStatement::CreateIndex(_)
        | SqlStatement::CreateFunction(_)
        | SqlStatement::AlterTable { .. }
        | SqlStatement::Drop { .. } => Refusal::Ddl,
        SqlStatement::Copy { .. } => Refusal::Copy,
        SqlStatement::Explain { .. } => Refusal::Explain,
        SqlStatement::ExplainTable { .. }
        | SqlStatement::ShowTables { .. }
        | SqlStatement::ShowColumns { .. }
        | SqlStatement::ShowVariable { .. }
        | SqlStatement::ShowFunctions { .. } => Refusal::Describe,
        _ => Refusal::Statement,
    };
    // The statement's first word names it well enough for the researcher.
    let head = s
        .to_string()
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    Err(Refused::new(reason, head))
}

/// Every table the statement names must be one of `tables`, under its bare name or the
/// default schema. `ctes` are the CTE names of a `WITH RECURSIVE` (whose bodies name
/// themselves); a plain CTE's name never hides a table its body reads.
pub fn references(
    refs: &[TableReference],
    ctes: &[TableReference],
    tables: &BTreeSet<String>,
) -> Result<(), Refused> {
    for r in refs {
        // A recursive CTE's reference to itself (its scans are checked in the plan).
        if ctes.contains(r) {
            continue;
        }
        if r.schema()
            .is_some_and(|s| s.eq_ignore_ascii_case("information_schema"))
        {
            return Err(Refused::new(Refusal::InformationSchema, r.to_string()));
        }
        if !own_table(r, tables) {
            return Err(Refused::new(Refusal::NotAProjectTable, r.to_string()));
        }
    }
    Ok(())
}

fn own_table(r: &TableReference, tables: &BTreeSet<String>) -> bool {
    let schema_ok = r.schema().is_none_or(|s| s == crate::SCHEMA);
    let catalog_ok = r.catalog().is_none_or(|c| c == crate::CATALOG);
    schema_ok && catalog_ok && tables.contains(r.table())
}

/// The planned query may hold only relational operators, through every subquery, and
/// may scan only `tables` as the engine registered them (or a recursive CTE's own
/// work table).
pub fn plan(plan: &LogicalPlan, tables: &BTreeSet<String>) -> Result<(), Refused> {
    let mut refused = None;
    let walk = plan.apply_with_subqueries(|node| {
        let r = match node {
            LogicalPlan::Projection(_)
            | LogicalPlan::Filter(_)
            | LogicalPlan::Window(_)
            | LogicalPlan::Aggregate(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::Join(_)
            | LogicalPlan::Repartition(_)
            | LogicalPlan::Union(_)
            | LogicalPlan::EmptyRelation(_)
            | LogicalPlan::Subquery(_)
            | LogicalPlan::SubqueryAlias(_)
            | LogicalPlan::Limit(_)
            | LogicalPlan::Values(_)
            | LogicalPlan::Distinct(_)
            | LogicalPlan::Unnest(_)
            | LogicalPlan::RecursiveQuery(_) => None,
            LogicalPlan::TableScan(scan) => {
                let ours = own_table(&scan.table_name, tables)
                    && crate::embedded::is_project_table(&scan.source);
                (!ours && !crate::embedded::is_cte_work_table(&scan.source))
                    .then(|| Refused::new(Refusal::NotAProjectTable, scan.table_name.to_string()))
            }
            LogicalPlan::Ddl(d) => Some(Refused::new(Refusal::Ddl, d.name())),
            LogicalPlan::Dml(_) => Some(Refused::new(Refusal::Dml, "DML")),
            LogicalPlan::Copy(_) => Some(Refused::new(Refusal::Copy, "COPY")),
            LogicalPlan::Statement(s) => Some(Refused::new(Refusal::Statement, s.name())),
            LogicalPlan::Explain(_) | LogicalPlan::Analyze(_) => {
                Some(Refused::new(Refusal::Explain, "EXPLAIN"))
            }
            LogicalPlan::DescribeTable(_) => Some(Refused::new(Refusal::Describe, "DESCRIBE")),
            LogicalPlan::Extension(e) => {
                Some(Refused::new(Refusal::Operator, e.node.name().to_owned()))
            }
        };
        match r {
            Some(r) => {
                refused = Some(r);
                Ok(TreeNodeRecursion::Stop)
            }
            None => Ok(TreeNodeRecursion::Continue),
        }
    });
    if let Some(r) = refused {
        return Err(r);
    }
    if walk.is_err() {
        return Err(Refused::new(Refusal::Operator, "plan"));
    }
    // DataFusion's own gate, as a second opinion.
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|_| Refused::new(Refusal::Statement, "statement"))
}

/// The CTE names a statement may use to refer to itself: those of a `WITH RECURSIVE`.
pub fn recursive_ctes(stmt: &DfStatement, ctes: Vec<TableReference>) -> Vec<TableReference> {
    match stmt {
        DfStatement::Statement(s) => match s.as_ref() {
            SqlStatement::Query(q) if q.with.as_ref().is_some_and(|w| w.recursive) => ctes,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}
