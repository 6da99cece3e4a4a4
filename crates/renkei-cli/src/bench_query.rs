//! The workspace's query figures: the example workload (diabetes prevalence by age and
//! sex, statins by month, a checkup-to-claims cohort, a one-year follow-up to death,
//! DPC length of stay) over a project's extract, run
//! - governed (the workspace's engine: gate, limits, row cap, a session per query);
//! - ungoverned (plain DataFusion over the same tables and the same reader): what the
//!   governance costs;
//! - governed over plaintext copies of the same tables: what the encryption costs;
//! - in DuckDB over the plaintext copies, when the `duckdb` Python package is installed
//!   (the comparison lives in this harness only).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use renkei_core::{AuthMethod, Caller, Duty, Role};
use renkei_engine::{
    Batches, Embedded, Engine as _, Limits, Progress, Query, Source, SourceError, Table,
};

use crate::bench::line;

/// A table copied to plaintext Parquet, part for part.
#[derive(Debug)]
struct Plain {
    schema: SchemaRef,
    parts: Vec<std::path::PathBuf>,
}

impl Source for Plain {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn partitions(&self) -> usize {
        self.parts.len()
    }
    fn read(&self, partition: usize, columns: Option<&[String]>) -> Result<Batches, SourceError> {
        let err = |e: &dyn std::fmt::Display| SourceError(e.to_string());
        let f = std::fs::File::open(&self.parts[partition]).map_err(|e| err(&e))?;
        let mut b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| err(&e))?;
        if let Some(cols) = columns {
            let mask = parquet::arrow::ProjectionMask::columns(
                b.parquet_schema(),
                cols.iter().map(String::as_str),
            );
            b = b.with_projection(mask);
        }
        let r = b.build().map_err(|e| err(&e))?;
        Ok(Box::new(
            r.map(move |b| b.map_err(|e| SourceError(e.to_string()))),
        ))
    }
}

/// Copies every table, part for part, to plaintext Parquet under `dir`.
fn plaintext_copies(tables: &[Table], dir: &Path) -> anyhow::Result<Vec<Table>> {
    let mut out = Vec::new();
    for t in tables {
        let tdir = dir.join(&t.name);
        std::fs::create_dir_all(&tdir)?;
        let mut parts = Vec::new();
        for p in 0..t.source.partitions() {
            let path = tdir.join(format!("part-{p:05}.parquet"));
            let f = std::fs::File::create(&path)?;
            let mut w = ArrowWriter::try_new(f, t.source.schema(), None)?;
            for b in t.source.read(p, None).map_err(|e| anyhow::anyhow!("{e}"))? {
                let b: RecordBatch = b.map_err(|e| anyhow::anyhow!("{e}"))?;
                w.write(&b)?;
            }
            w.close()?;
            parts.push(path);
        }
        out.push(Table {
            name: t.name.clone(),
            source: Arc::new(Plain {
                schema: t.source.schema(),
                parts,
            }),
        });
    }
    Ok(out)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One timed run of a query.
type Run = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<renkei_engine::Answer, renkei_engine::EngineError>>
            + Send,
    >,
>;

async fn time_runs(runs: usize, mut f: impl FnMut() -> Run) -> anyhow::Result<f64> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        f().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(median(times))
}

/// Times each query `runs` times in DuckDB over the plaintext copies; `None` when the
/// Python package is not installed.
fn duckdb_times(dir: &Path, tables: &[Table], sqls: &[&str], runs: usize) -> Option<Vec<f64>> {
    let mut script = String::from(
        "import duckdb, json, sys, time\ncon = duckdb.connect()\ncon.execute(\"SET threads TO 2\")\n",
    );
    for t in tables {
        script.push_str(&format!(
            "con.execute(\"CREATE VIEW {} AS SELECT * FROM read_parquet('{}/*.parquet')\")\n",
            t.name,
            dir.join(&t.name).display()
        ));
    }
    script.push_str(&format!(
        "out = []\nfor q in json.loads(sys.stdin.read()):\n    ts = []\n    for _ in range({runs}):\n        t = time.perf_counter(); con.execute(q).fetchall(); ts.append((time.perf_counter() - t) * 1000)\n    ts.sort(); out.append(ts[len(ts) // 2])\nprint(json.dumps(out))\n"
    ));
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take()?;
        stdin
            .write_all(serde_json::to_string(sqls).ok()?.as_bytes())
            .ok()?;
    }
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("");
        println!("{:<34} DuckDB not run: {last}", "");
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The workload over the demo's project extract in a world of `persons` people.
pub async fn queries(persons: u64, runs: usize) -> anyhow::Result<()> {
    let (dir, app) = crate::bench_link::demo_world(persons).await?;
    app.linkage
        .run(&Caller::operator("bench", Duty::Linkage), None)
        .await?;
    app.ensure_extracts().await;
    let project = app
        .applications
        .extract_orders(&Caller::system())
        .await?
        .into_iter()
        .next()
        .context("the demo has no project in use")?
        .project()
        .to_owned();
    let admin = app
        .accounts
        .admin(&Caller::operator("bench", Duty::Accounts))
        .await?;
    let u = admin.find_user("researcher").await?;
    let researcher = Caller::user(
        u.id.clone(),
        u.username.clone(),
        vec![Role::Researcher],
        AuthMethod::SessionMfa,
        "bench",
    );
    let permit = app.applications.in_force(&researcher, &project).await?;
    let tables = app.workspaces.engine_tables(&researcher, &permit).await?;
    let summary = app
        .workspaces
        .current(&permit)
        .await?
        .context("no extract")?;
    let claim_lines: u64 = summary
        .tables
        .iter()
        .filter(|t| t.name.starts_with("claims_"))
        .map(|t| t.rows)
        .sum();
    let plain_dir = dir.path().join("plain");
    let plain = plaintext_copies(&tables, &plain_dir)?;
    let limits = Limits {
        timeout: Duration::from_secs(3600),
        ..app.workspaces.limits().query.clone()
    };
    let query = |sql: &str, tables: &[Table]| Query {
        sql: sql.to_owned(),
        tables: tables.to_vec(),
        limits: limits.clone(),
        progress: Progress::default(),
    };
    let examples = renkei_workspace::examples::EXAMPLES;
    println!(
        "{:<34} {claim_lines} claim lines, {} people, {runs} runs each (median)",
        "workspace queries", summary.persons
    );
    let sqls: Vec<&str> = examples.iter().map(|e| e.sql).collect();
    let duck = duckdb_times(&plain_dir, &plain, &sqls, runs);
    let (mut overheads, mut crypto, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for (i, e) in examples.iter().enumerate() {
        // One unmeasured run warms the page cache for all three.
        Embedded.run(query(e.sql, &tables)).await?;
        let governed = time_runs(runs, || Embedded.run(query(e.sql, &tables))).await?;
        let raw = time_runs(runs, || Embedded.ungoverned(query(e.sql, &tables))).await?;
        let plaintext = time_runs(runs, || Embedded.run(query(e.sql, &plain))).await?;
        overheads.push(governed / raw - 1.0);
        crypto.push(governed / plaintext - 1.0);
        let d = duck.as_ref().map(|d| d[i]);
        if let Some(d) = d {
            ratios.push(plaintext / d);
        }
        println!(
            "  {:<24} governed {governed:>8.1} ms  raw DataFusion {raw:>8.1} ms  plaintext {plaintext:>8.1} ms  DuckDB {}",
            e.id,
            d.map_or("—".to_owned(), |d| format!(
                "{d:>8.1} ms (×{:.2})",
                plaintext / d
            )),
        );
    }
    line(
        "query governance overhead",
        format!("{:+.1}% median", median(overheads) * 100.0),
        "raw DataFusion, same tables and reader".into(),
        "<= 5%",
    );
    line(
        "query encryption cost",
        format!("{:+.1}% median", median(crypto) * 100.0),
        "the same files in plaintext".into(),
        "(reported)",
    );
    if !ratios.is_empty() {
        line(
            "queries vs DuckDB (plaintext)",
            format!("×{:.2} median", median(ratios)),
            "DuckDB on the same plaintext files".into(),
            "<= 1.0",
        );
    }
    app.close().await?;
    Ok(())
}
