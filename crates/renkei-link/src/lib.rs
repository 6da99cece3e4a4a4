//! The linkage authority's person index: one internal person id per person, found by
//! chaining the datasets' linkage tokens ([`index`]), versioned, with a quality report.
//!
//! Only the linkage authority runs it and reads it. It reads the datasets through the
//! data store's linkage side, which hands out tokens, dates and record keys and nothing
//! else; it never sees analysis results. Each run writes a new version of the index
//! (encrypted Parquet under the index's own key) and becomes current only when it
//! commits, so an interrupted run leaves the previous version current.
#![warn(missing_docs)]

pub mod index;
pub mod truth;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, FixedSizeBinaryArray, Int64Array, RecordBatch,
    StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use index::{Builder, Conflict, Family, Observation, PersonIndex};
use renkei_audit::Audit;
use renkei_core::role::AccessDenied;
use renkei_core::time::SharedClock;
use renkei_core::{Action, Caller, Coded, ErrorKind, Outcome, Permission};
use renkei_datastore::{DataStore, DataStoreError, OpenVersion};
use renkei_store::Store;
use renkei_store::sqlx;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The stored index's one table.
pub const INDEX_TABLE: &str = "tokens";

/// Linkage failures.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The caller may not.
    #[error(transparent)]
    Denied(#[from] AccessDenied),
    /// Nothing has been ingested yet.
    #[error("no dataset has a stored version to link")]
    NothingToLink,
    /// A ground-truth file that cannot be read.
    #[error("{0}")]
    Truth(String),
    /// The data store.
    #[error(transparent)]
    Data(#[from] DataStoreError),
    /// The metadata store.
    #[error(transparent)]
    Store(#[from] renkei_store::StoreError),
    /// The audit log refused the record.
    #[error(transparent)]
    Audit(#[from] renkei_audit::AuditError),
    /// A worker thread failed.
    #[error("the linkage run stopped: {0}")]
    Worker(String),
}

impl From<sqlx::Error> for LinkError {
    fn from(e: sqlx::Error) -> Self {
        LinkError::Store(e.into())
    }
}

impl Coded for LinkError {
    fn code(&self) -> &'static str {
        match self {
            LinkError::Denied(d) => d.code(),
            LinkError::NothingToLink => "nothing_to_link",
            LinkError::Truth(_) => "invalid_truth",
            LinkError::Data(e) => e.code(),
            LinkError::Audit(e) => e.code(),
            LinkError::Store(_) | LinkError::Worker(_) => "internal",
        }
    }
    fn kind(&self) -> ErrorKind {
        match self {
            LinkError::Denied(d) => d.kind(),
            LinkError::NothingToLink => ErrorKind::Conflict,
            LinkError::Truth(_) => ErrorKind::InvalidInput,
            LinkError::Data(e) => e.kind(),
            LinkError::Audit(e) => e.kind(),
            LinkError::Store(_) | LinkError::Worker(_) => ErrorKind::Internal,
        }
    }
}

/// One dataset in a run's report.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct DatasetReport {
    /// The dataset.
    pub dataset: String,
    /// Records with at least one token.
    pub records: u64,
    /// Of its people, those also found in another dataset.
    pub linked_to_other_datasets: u64,
    /// Distinct people in the dataset.
    pub persons: u64,
}

/// Precision and recall of the links against known true pairs.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct TruthReport {
    /// Records whose true person is known.
    pub records_compared: u64,
    /// True people among them.
    pub true_persons: u64,
    /// People the index found among them.
    pub found_persons: u64,
    /// Of record pairs put together, the share that are one person.
    pub precision: f64,
    /// Of record pairs that are one person, the share put together.
    pub recall: f64,
    /// Their harmonic mean.
    pub f1: f64,
}

/// A run's quality report.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Report {
    /// The index version this run made.
    pub version: i64,
    /// Records filed.
    pub records: u64,
    /// People found.
    pub persons: u64,
    /// People found in more than one dataset.
    pub persons_in_several_datasets: u64,
    /// Per dataset.
    pub datasets: Vec<DatasetReport>,
    /// Tokens held for review, by family.
    pub conflicts: Vec<(String, u64)>,
    /// Against ground truth, when given.
    pub truth: Option<TruthReport>,
    /// How long it took, in milliseconds.
    pub millis: u64,
}

/// A past run.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// The version.
    pub version: i64,
    /// running, committed or failed.
    pub status: String,
    /// Who ran it.
    pub run_by: String,
    /// When it started (µs since the epoch).
    pub started_at: i64,
    /// Its report, once committed.
    pub report: Option<Report>,
}

/// The person-index service. Cheap to clone.
#[derive(Clone)]
pub struct Linkage {
    store: Store,
    data: DataStore,
    audit: Audit,
    clock: SharedClock,
}

impl Linkage {
    /// The service.
    pub fn new(store: Store, data: DataStore, audit: Audit, clock: SharedClock) -> Self {
        Self {
            store,
            data,
            audit,
            clock,
        }
    }

    async fn refuse<T>(&self, caller: &Caller, e: LinkError) -> Result<T, LinkError> {
        if e.kind().is_refusal() {
            self.audit
                .record(caller.event(Action::LinkRun, "index:person", Outcome::denied(e.code())))
                .await?;
        }
        Err(e)
    }

    /// Runs the linkage over every dataset's current version and makes a new index
    /// version current, with its report. `truth` (a synthetic world's ground truth)
    /// adds precision and recall. The linkage authority only; audited.
    pub async fn run(
        &self,
        caller: &Caller,
        truth: Option<&truth::Truth>,
    ) -> Result<Report, LinkError> {
        if let Err(d) = caller.require(Permission::ManageLinkage) {
            return self.refuse(caller, d.into()).await;
        }
        let started = std::time::Instant::now();
        let datasets: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM datasets WHERE current_version IS NOT NULL ORDER BY id",
        )
        .fetch_all(self.store.pool())
        .await?;
        if datasets.is_empty() {
            return self.refuse(caller, LinkError::NothingToLink).await;
        }
        let writer = match self.data.index_writer(caller).await {
            Ok(w) => w,
            Err(e) => return self.refuse(caller, e.into()).await,
        };
        let version: i64 =
            sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM link_runs")
                .fetch_one(self.store.pool())
                .await?
                .unwrap_or(0)
                + 1;
        let mut opened = Vec::new();
        for d in &datasets {
            opened.push((d.clone(), self.data.open_for_linkage(caller, d).await?));
        }
        let key = writer.write_key().await?;
        let staging = writer.begin(version, &key)?;
        // Recorded as running only once everything it needs is open.
        let now = self.clock.now().micros();
        sqlx::query(
            "INSERT INTO link_runs (version, status, run_by, started_at) VALUES ($1, 'running', $2, $3)",
        )
        .bind(version)
        .bind(caller.actor().id)
        .bind(now)
        .execute(self.store.pool())
        .await?;
        let truth = truth.cloned();
        let built = tokio::task::spawn_blocking(move || {
            let (ix, mut report) = link(&opened, truth.as_ref())?;
            let mut w = staging.writer(INDEX_TABLE, index_schema())?;
            for chunk in ix.entries.chunks(1 << 20) {
                w.write(&index_batch(chunk, true)?)?;
            }
            for chunk in ix.reach.chunks(1 << 20) {
                w.write(&index_batch(chunk, false)?)?;
            }
            w.finish()?;
            staging.publish()?;
            report.version = version;
            Ok::<_, LinkError>((ix.conflicts, report))
        })
        .await
        .map_err(|e| LinkError::Worker(e.to_string()));
        let (conflicts, mut report) = match built.and_then(|r| r) {
            Ok(x) => x,
            Err(e) => {
                sqlx::query(
                    "UPDATE link_runs SET status = 'failed', finished_at = $2 WHERE version = $1",
                )
                .bind(version)
                .bind(self.clock.now().micros())
                .execute(self.store.pool())
                .await?;
                return Err(e);
            }
        };
        report.millis = started.elapsed().as_millis() as u64;
        let mut tx = self.store.begin().await?;
        for c in &conflicts {
            sqlx::query(
                "INSERT INTO link_conflicts (version, family, token, reason) VALUES ($1, $2, $3, $4)",
            )
            .bind(version)
            .bind(c.family.code())
            .bind(&c.token)
            .bind(c.reason)
            .execute(&mut *tx)
            .await?;
        }
        let report_json = serde_json::to_string(&report).unwrap_or_default();
        sqlx::query(
            "UPDATE link_runs SET status = 'committed', finished_at = $2, report = $3 WHERE version = $1",
        )
        .bind(version)
        .bind(self.clock.now().micros())
        .bind(&report_json)
        .execute(&mut *tx)
        .await?;
        self.audit
            .append_in(
                &mut tx,
                &[caller
                    .event(Action::LinkRun, "index:person", Outcome::Allowed)
                    .detail(serde_json::json!({
                        "version": version,
                        "persons": report.persons,
                        "records": report.records,
                        "conflicts": conflicts.len(),
                    }))],
            )
            .await?;
        tx.commit().await?;
        drop(writer);
        Ok(report)
    }

    /// The runs, newest first. The linkage authority only.
    pub async fn runs(&self, caller: &Caller) -> Result<Vec<Run>, LinkError> {
        if let Err(d) = caller.require(Permission::ManageLinkage) {
            return self.refuse(caller, d.into()).await;
        }
        let rows: Vec<(i64, String, String, i64, Option<String>)> = sqlx::query_as(
            "SELECT version, status, run_by, started_at, report FROM link_runs ORDER BY version DESC LIMIT 50",
        )
        .fetch_all(self.store.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(version, status, run_by, started_at, report)| Run {
                version,
                status,
                run_by,
                started_at,
                report: report.and_then(|r| serde_json::from_str(&r).ok()),
            })
            .collect())
    }

    /// The tokens a run held for review. The linkage authority only.
    pub async fn conflicts(
        &self,
        caller: &Caller,
        version: i64,
    ) -> Result<Vec<Conflict>, LinkError> {
        if let Err(d) = caller.require(Permission::ManageLinkage) {
            return self.refuse(caller, d.into()).await;
        }
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT family, token, reason FROM link_conflicts WHERE version = $1 ORDER BY family, token LIMIT 1000",
        )
        .bind(version)
        .fetch_all(self.store.pool())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(f, token, reason)| {
                Some(Conflict {
                    family: Family::of_column(&f)?,
                    token,
                    reason: if reason == "would_join_people_seen_apart" {
                        "would_join_people_seen_apart"
                    } else {
                        "held"
                    },
                })
            })
            .collect())
    }
}

/// The stored index's schema: family, token, person, and whether the person is the
/// one the token's records belong to (or only one it reaches, for opt-outs).
pub fn index_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("family", DataType::Utf8, false),
        Field::new("token", DataType::FixedSizeBinary(16), false),
        Field::new("person", DataType::Int64, false),
        Field::new("records", DataType::Boolean, false),
    ]))
}

fn index_batch(entries: &[(index::Token, u64)], records: bool) -> Result<RecordBatch, LinkError> {
    let family: StringArray = entries.iter().map(|e| Some(e.0.0.code())).collect();
    let token = FixedSizeBinaryArray::try_from_iter(entries.iter().map(|e| e.0.1))
        .map_err(|e| LinkError::Worker(e.to_string()))?;
    let person: Int64Array = entries.iter().map(|e| Some(e.1 as i64)).collect();
    let flag = BooleanArray::from(vec![records; entries.len()]);
    RecordBatch::try_new(
        index_schema(),
        vec![
            Arc::new(family) as ArrayRef,
            Arc::new(token),
            Arc::new(person),
            Arc::new(flag),
        ],
    )
    .map_err(|e| LinkError::Worker(e.to_string()))
}

/// Reads a stored index back: for the extract, which maps records to people.
pub fn read_index(v: &OpenVersion) -> Result<index::Lookup, LinkError> {
    let (mut entries, mut reach) = (Vec::new(), Vec::new());
    for b in v.batches(INDEX_TABLE)? {
        let b = b?;
        let (Some(f), Some(t), Some(p), Some(r)) = (
            b.column(0).as_any().downcast_ref::<StringArray>(),
            b.column(1).as_any().downcast_ref::<FixedSizeBinaryArray>(),
            b.column(2).as_any().downcast_ref::<Int64Array>(),
            b.column(3).as_any().downcast_ref::<BooleanArray>(),
        ) else {
            return Err(LinkError::Worker(
                "the index has an unexpected schema".into(),
            ));
        };
        for i in 0..b.num_rows() {
            let Some(fam) = Family::of_column(f.value(i)) else {
                continue;
            };
            let mut tok = [0u8; 16];
            tok.copy_from_slice(t.value(i));
            let e = ((fam, tok), p.value(i) as u64);
            if r.value(i) {
                entries.push(e);
            } else {
                reach.push(e);
            }
        }
    }
    entries.sort_unstable();
    reach.sort_unstable();
    Ok(index::Lookup::new(entries, reach))
}

/// The names of event dates, in order of preference.
const EVENT_DATES: [&str; 5] = [
    "service_month",
    "checkup_date",
    "admission_date",
    "death_date",
    "valid_from",
];

/// A table's columns as linkage reads them.
pub struct LinkColumns {
    /// Token columns and their families.
    pub tokens: Vec<(usize, Family)>,
    /// The first date column: the record's time.
    pub date: Option<usize>,
    /// The first record-key column.
    pub key: Option<usize>,
}

impl LinkColumns {
    /// Finds them in a schema. The record's time is its event date where the table
    /// has one by a known name (the service month of a claim, not its billing month),
    /// else its first date.
    pub fn of(schema: &Schema) -> Self {
        let mut tokens = Vec::new();
        let (mut date, mut key) = (None, None);
        for (i, f) in schema.fields().iter().enumerate() {
            match f.data_type() {
                DataType::FixedSizeBinary(16) => {
                    if let Some(fam) = Family::of_column(f.name()) {
                        tokens.push((i, fam));
                    }
                }
                DataType::Date32 if date.is_none() => date = Some(i),
                DataType::Utf8 if key.is_none() && f.name().ends_with("_id") => key = Some(i),
                _ => {}
            }
        }
        let event = EVENT_DATES.iter().find_map(|c| {
            schema
                .index_of(c)
                .ok()
                .filter(|&i| matches!(schema.field(i).data_type(), DataType::Date32))
        });
        Self {
            tokens,
            date: event.or(date),
            key,
        }
    }

    /// Row `i`'s observation.
    pub fn observe(&self, b: &RecordBatch, i: usize, dataset: u16) -> Observation {
        let mut tokens = Vec::with_capacity(self.tokens.len());
        for &(c, fam) in &self.tokens {
            if let Some(a) = b.column(c).as_any().downcast_ref::<FixedSizeBinaryArray>()
                && a.is_valid(i)
            {
                let mut t = [0u8; 16];
                t.copy_from_slice(a.value(i));
                tokens.push((fam, t));
            }
        }
        let month = self.date.and_then(|c| {
            let a = b.column(c).as_any().downcast_ref::<Date32Array>()?;
            a.is_valid(i).then(|| month_of(a.value(i)))
        });
        Observation {
            dataset,
            month,
            tokens,
        }
    }
}

/// `year * 12 + month - 1` of a day counted from 1970-01-01.
pub fn month_of(days: i32) -> i32 {
    // Civil-from-days (Howard Hinnant's algorithm): a few integer operations per row
    // instead of building a calendar date.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i32::from(m <= 2);
    y * 12 + m - 1
}

/// Links the opened datasets: the index and its report (version and time unset).
fn link(
    opened: &[(String, OpenVersion)],
    truth: Option<&truth::Truth>,
) -> Result<(PersonIndex, Report), LinkError> {
    let mut b = Builder::new();
    // Two passes keep memory at one batch: file everything, then read again to count.
    for (d, (_, v)) in opened.iter().enumerate() {
        for table in v.tables()? {
            let cols = LinkColumns::of(&*v.schema(&table)?);
            if cols.tokens.is_empty() {
                continue;
            }
            for batch in v.batches(&table)? {
                let batch = batch?;
                for i in 0..batch.num_rows() {
                    b.observe(&cols.observe(&batch, i, d as u16));
                }
            }
        }
    }
    let ix = b.finish();
    let mut per_dataset: Vec<(u64, HashSet<u64>)> = vec![(0, HashSet::new()); opened.len()];
    let mut pairs: HashMap<(u64, u64), u64> = HashMap::new();
    for (d, (name, v)) in opened.iter().enumerate() {
        for table in v.tables()? {
            let cols = LinkColumns::of(&*v.schema(&table)?);
            if cols.tokens.is_empty() {
                continue;
            }
            for batch in v.batches(&table)? {
                let batch = batch?;
                let keys = cols.key.and_then(|k| {
                    batch
                        .column(k)
                        .as_any()
                        .downcast_ref::<StringArray>()
                        .cloned()
                });
                for i in 0..batch.num_rows() {
                    let o = cols.observe(&batch, i, d as u16);
                    let Some(p) = ix.person_of(&o) else {
                        continue;
                    };
                    per_dataset[d].0 += 1;
                    per_dataset[d].1.insert(p);
                    if let (Some(t), Some(k)) = (truth, keys.as_ref())
                        && let Some(truly) = t.person(name, &table, k.value(i))
                    {
                        *pairs.entry((p, truly)).or_default() += 1;
                    }
                }
            }
        }
    }
    let mut seen_in: HashMap<u64, u32> = HashMap::new();
    for (_, ps) in &per_dataset {
        for p in ps {
            *seen_in.entry(*p).or_default() += 1;
        }
    }
    let datasets = opened
        .iter()
        .zip(&per_dataset)
        .map(|((name, _), (records, ps))| DatasetReport {
            dataset: name.clone(),
            records: *records,
            linked_to_other_datasets: ps
                .iter()
                .filter(|p| seen_in.get(p).is_some_and(|n| *n > 1))
                .count() as u64,
            persons: ps.len() as u64,
        })
        .collect();
    let mut conflicts: Vec<(String, u64)> = Vec::new();
    for c in &ix.conflicts {
        match conflicts.iter_mut().find(|(f, _)| f == c.family.code()) {
            Some(e) => e.1 += 1,
            None => conflicts.push((c.family.code().to_owned(), 1)),
        }
    }
    let report = Report {
        version: 0,
        records: ix.records,
        persons: ix.persons,
        persons_in_several_datasets: seen_in.values().filter(|n| **n > 1).count() as u64,
        datasets,
        conflicts,
        truth: truth.map(|_| truth::score(&pairs)),
        millis: 0,
    };
    Ok((ix, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_counted_from_the_civil_calendar() {
        assert_eq!(month_of(0), 1970 * 12);
        // 2025-03-01 is day 20148.
        assert_eq!(month_of(20148), 2025 * 12 + 2);
        assert_eq!(month_of(20147), 2025 * 12 + 1);
        assert_eq!(month_of(-1), 1969 * 12 + 11);
    }
}
