use std::sync::Mutex;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Int32Array, Int64Array, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::*;

/// `partitions × batches × rows` generated rows: `id` (unique), `age` (id % 90),
/// `sex` ("1"/"2").
#[derive(Debug)]
struct Generated {
    schema: SchemaRef,
    partitions: usize,
    batches: usize,
    rows: usize,
    /// Sleep before each batch (for timeouts).
    pause: Duration,
    /// Columns each read asked for.
    asked: Mutex<Vec<Option<Vec<String>>>>,
    /// Set when a reader stopped early because the query went away.
    fail: bool,
}

impl Generated {
    fn new(partitions: usize, batches: usize, rows: usize) -> Self {
        Self {
            schema: Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, false),
                Field::new("age", DataType::Int32, false),
                Field::new("sex", DataType::Utf8, false),
            ])),
            partitions,
            batches,
            rows,
            pause: Duration::ZERO,
            asked: Mutex::new(Vec::new()),
            fail: false,
        }
    }
}

impl Source for Generated {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn partitions(&self) -> usize {
        self.partitions
    }
    fn read(&self, partition: usize, columns: Option<&[String]>) -> Result<Batches, SourceError> {
        self.asked
            .lock()
            .unwrap()
            .push(columns.map(<[String]>::to_vec));
        if self.fail {
            return Err(SourceError("the extract's part 3 could not be read".into()));
        }
        let schema = self.schema.clone();
        let (batches, rows, pause) = (self.batches, self.rows, self.pause);
        let wanted: Vec<String> = match columns {
            // Deliberately in table order, whatever order was asked.
            Some(c) => schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .filter(|n| c.contains(n))
                .collect(),
            None => schema.fields().iter().map(|f| f.name().clone()).collect(),
        };
        Ok(Box::new((0..batches).map(move |b| {
            std::thread::sleep(pause);
            let start = ((partition * batches + b) * rows) as i64;
            let ids: Vec<i64> = (start..start + rows as i64).collect();
            let mut fields = Vec::new();
            let mut cols: Vec<ArrayRef> = Vec::new();
            for name in &wanted {
                let col: ArrayRef = match name.as_str() {
                    "id" => Arc::new(Int64Array::from(ids.clone())),
                    "age" => Arc::new(Int32Array::from_iter_values(
                        ids.iter().map(|i| (i % 90) as i32),
                    )),
                    _ => Arc::new(StringArray::from_iter_values(
                        ids.iter().map(|i| if i % 2 == 0 { "1" } else { "2" }),
                    )),
                };
                fields.push(schema.field_with_name(name).unwrap().clone());
                cols.push(col);
            }
            RecordBatch::try_new_with_options(
                Arc::new(Schema::new(fields)),
                cols,
                &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows)),
            )
            .map_err(|e| SourceError(e.to_string()))
        })))
    }
}

fn query(sql: &str, source: Arc<dyn Source>) -> Query {
    Query {
        sql: sql.into(),
        tables: vec![Table {
            name: "people".into(),
            source,
        }],
        limits: Limits::default(),
        progress: Progress::default(),
    }
}

async fn run(sql: &str) -> Result<Answer, EngineError> {
    Embedded
        .run(query(sql, Arc::new(Generated::new(2, 3, 1000))))
        .await
}

#[tokio::test]
async fn a_query_over_the_given_tables_answers_with_only_the_columns_it_needs() {
    let g = Arc::new(Generated::new(2, 3, 1000));
    let a = Embedded
        .run(query(
            "SELECT sex, count(*) AS n, min(age) AS lo FROM people GROUP BY sex ORDER BY sex",
            g.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(a.rows(), 2);
    assert!(!a.truncated);
    let n = a.batch.column(1).as_primitive::<Int64Type>();
    assert_eq!(n.values().iter().sum::<i64>(), 6000);
    // Both partitions were read, each for just `age` and `sex`.
    let asked = g.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 2);
    for a in asked {
        let mut a = a.unwrap();
        a.sort();
        assert_eq!(a, ["age", "sex"]);
    }
    assert_eq!(a.plan_hash.len(), 64);
    let again =
        run("SELECT sex, count(*) AS n, min(age) AS lo FROM people GROUP BY sex ORDER BY sex")
            .await
            .unwrap();
    assert_eq!(again.plan_hash, a.plan_hash);
}

#[tokio::test]
async fn counting_rows_reads_no_column_and_projections_keep_their_order() {
    let a = run("SELECT count(*) FROM people").await.unwrap();
    assert_eq!(a.batch.column(0).as_primitive::<Int64Type>().value(0), 6000);
    let a = run("SELECT sex, id FROM people WHERE id = 7")
        .await
        .unwrap();
    assert_eq!(a.batch.schema().field(0).name(), "sex");
    assert_eq!(a.batch.column(1).as_primitive::<Int64Type>().value(0), 7);
}

#[tokio::test]
async fn results_are_cut_at_the_row_cap_and_say_so() {
    let a = run("SELECT id FROM people ORDER BY id").await.unwrap();
    assert_eq!(a.rows(), 100);
    assert!(a.truncated);
    let a = run("SELECT id FROM people ORDER BY id LIMIT 100")
        .await
        .unwrap();
    assert_eq!(a.rows(), 100);
    assert!(!a.truncated);
    // The byte cap counts what is kept, not the batch a few rows were cut from.
    let mut q = query(
        "SELECT * FROM people",
        Arc::new(Generated::new(1, 1, 100_000)),
    );
    q.limits.max_rows = 10;
    q.limits.max_bytes = 4 << 10;
    let a = Embedded.run(q).await.unwrap();
    assert_eq!(a.rows(), 10);
}

#[tokio::test]
async fn every_statement_that_is_not_a_query_is_refused_by_category() {
    let cases = [
        ("CREATE TABLE t AS SELECT * FROM people", Refusal::Ddl),
        (
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
            Refusal::Ddl,
        ),
        ("CREATE VIEW v AS SELECT * FROM people", Refusal::Ddl),
        ("DROP TABLE people", Refusal::Ddl),
        ("SELECT * INTO copy FROM people", Refusal::Ddl),
        ("INSERT INTO people VALUES (1, 2, '1')", Refusal::Dml),
        ("DELETE FROM people", Refusal::Dml),
        ("UPDATE people SET age = 1", Refusal::Dml),
        (
            "COPY (SELECT * FROM people) TO '/tmp/out.csv'",
            Refusal::Copy,
        ),
        ("COPY people TO '/tmp/out.parquet'", Refusal::Copy),
        (
            "SET datafusion.runtime.memory_limit = '100G'",
            Refusal::Statement,
        ),
        ("RESET datafusion.execution.batch_size", Refusal::Statement),
        ("PREPARE p AS SELECT * FROM people", Refusal::Statement),
        ("EXPLAIN SELECT * FROM people", Refusal::Explain),
        ("EXPLAIN ANALYZE SELECT * FROM people", Refusal::Explain),
        ("DESCRIBE people", Refusal::Describe),
        ("SHOW TABLES", Refusal::Describe),
        ("SHOW ALL", Refusal::Describe),
        (
            "SELECT * FROM information_schema.tables",
            Refusal::InformationSchema,
        ),
        ("SELECT * FROM '/etc/passwd'", Refusal::NotAProjectTable),
        (
            "SELECT * FROM 'file:///srv/renkei/data/x.parquet'",
            Refusal::NotAProjectTable,
        ),
        (
            "SELECT * FROM \"../other/people\"",
            Refusal::NotAProjectTable,
        ),
        (
            "SELECT * FROM generate_series(1, 10)",
            Refusal::NotAProjectTable,
        ),
        ("SELECT * FROM range(10)", Refusal::NotAProjectTable),
        ("SELECT * FROM claims_receipts", Refusal::NotAProjectTable),
        ("SELECT * FROM other.people", Refusal::NotAProjectTable),
        (
            "SELECT * FROM people WHERE id IN (SELECT id FROM secret)",
            Refusal::NotAProjectTable,
        ),
        (
            "WITH x AS (SELECT * FROM secret) SELECT * FROM x",
            Refusal::NotAProjectTable,
        ),
        (
            "WITH secret AS (SELECT * FROM secret) SELECT * FROM secret",
            Refusal::NotAProjectTable,
        ),
        (
            "WITH x AS (SELECT 1) INSERT INTO people SELECT * FROM people",
            Refusal::Dml,
        ),
    ];
    for (sql, want) in cases {
        match run(sql).await {
            Err(EngineError::Refused(r)) => assert_eq!(r.reason, want, "{sql}: {r:?}"),
            other => panic!("{sql}: expected a {want:?} refusal, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn functions_whose_output_size_an_argument_chooses_are_not_offered() {
    for sql in [
        "SELECT repeat('x', 1000000000)",
        "SELECT lpad('x', 1000000000)",
        "SELECT range(1000000000)",
        "SELECT generate_series(1, 1000000000)",
        "SELECT array_repeat(1, 1000000000)",
    ] {
        let e = run(sql).await.unwrap_err();
        assert_eq!(e.code(), "query_invalid", "{sql}: {e}");
    }
    // Ordinary functions are there.
    run("SELECT upper(sex), substr(sex, 1, 1), round(avg(age), 1) FROM people GROUP BY sex")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_result_larger_than_its_byte_cap_is_refused() {
    let mut q = query(
        "SELECT id, sex || sex || sex || sex AS s FROM people",
        Arc::new(Generated::new(1, 4, 8192)),
    );
    q.limits.max_rows = 1_000_000;
    q.limits.max_bytes = 64 << 10;
    let e = Embedded.run(q).await.unwrap_err();
    assert_eq!(e.code(), "query_too_large", "{e}");
}

#[tokio::test]
async fn several_statements_in_one_go_are_not_run() {
    let e = run("SELECT 1; DROP TABLE people").await.unwrap_err();
    assert_eq!(e.code(), "query_invalid", "{e}");
}

#[tokio::test]
async fn the_project_s_own_names_work_under_the_default_schema_and_in_ctes() {
    run("SELECT count(*) FROM public.people").await.unwrap();
    run("SELECT count(*) FROM datafusion.public.people")
        .await
        .unwrap();
    let a = run("WITH old AS (SELECT * FROM people WHERE age > 80) SELECT count(*) FROM old")
        .await
        .unwrap();
    assert!(a.batch.column(0).as_primitive::<Int64Type>().value(0) > 0);
    let a = run(
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT sum(n) FROM r",
    )
    .await
    .unwrap();
    assert_eq!(a.batch.column(0).as_primitive::<Int64Type>().value(0), 15);
}

#[tokio::test]
async fn wrong_sql_gets_a_clear_error_without_paths() {
    let e = run("SELECT nope FROM people").await.unwrap_err();
    assert_eq!(e.code(), "query_invalid");
    assert!(e.to_string().contains("nope"), "{e}");
    let e = run("SELEC 1").await.unwrap_err();
    assert_eq!(e.code(), "query_invalid");
}

#[tokio::test]
async fn a_query_that_needs_too_much_memory_fails_alone() {
    let mut q = query(
        "SELECT id, sex FROM people ORDER BY sex, id DESC",
        Arc::new(Generated::new(2, 50, 8192)),
    );
    q.limits.memory_bytes = 4 << 20;
    let e = Embedded.run(q).await.unwrap_err();
    assert!(matches!(e, EngineError::Memory), "{e:?}");
    // The next query runs.
    run("SELECT count(*) FROM people").await.unwrap();
}

#[tokio::test]
async fn a_query_past_its_time_is_stopped_and_its_readers_stop_too() {
    let mut g = Generated::new(1, 1000, 10);
    g.pause = Duration::from_millis(20);
    let g = Arc::new(g);
    let mut q = query("SELECT sum(id) FROM people", g.clone());
    q.limits.timeout = Duration::from_millis(200);
    let progress = q.progress.clone();
    let e = Embedded.run(q).await.unwrap_err();
    assert!(matches!(e, EngineError::Timeout(_)), "{e:?}");
    assert!(e.to_string().contains("did not finish"));
    // The reader notices that nobody listens and stops well before its 1,000 batches.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = progress.rows_read();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(progress.rows_read(), seen);
    assert!(seen < 10_000, "{seen}");
}

#[tokio::test]
async fn a_table_that_cannot_be_read_says_so_and_nothing_more() {
    let mut g = Generated::new(1, 1, 10);
    g.fail = true;
    let e = Embedded
        .run(query("SELECT count(*) FROM people", Arc::new(g)))
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::Source(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "a table could not be read: the extract's part 3 could not be read"
    );
}

#[test]
fn paths_and_key_like_hex_are_cleaned_from_messages() {
    let dirty = "could not open /srv/renkei/data/extract/p1/v3/claims/part-0.parquet (key 00112233445566778899aabbccddeeff0011) at file:///x/y or s3://b/k";
    let c = clean(dirty);
    assert_eq!(c, "could not open [path] (key [hex]) at [path] or [path]");
    assert_eq!(
        clean("No field named nope. Valid fields are people.id"),
        "No field named nope. Valid fields are people.id"
    );
    assert_eq!(clean("年齢 / 性別"), "年齢 / 性別");
}

#[test]
fn refusals_have_distinct_codes() {
    let all = [
        Refusal::Ddl,
        Refusal::Dml,
        Refusal::Copy,
        Refusal::Statement,
        Refusal::Explain,
        Refusal::Describe,
        Refusal::NotAProjectTable,
        Refusal::InformationSchema,
        Refusal::Operator,
    ];
    let codes: std::collections::BTreeSet<_> = all.iter().map(|r| r.code()).collect();
    assert_eq!(codes.len(), all.len());
}
