//! A project's extract: what its permit grants, cut from the datasets' current
//! versions, with people named only by per-project pseudonyms.
//!
//! - **Scope:** only the permitted datasets, tables and variables; rows inside the
//!   requested data period and ages, and, when conditions are named, only the people
//!   with a matching diagnosis. A table with tokens (receipts, checkups, stays) is cut
//!   by its own date; a table hanging off it by a record key (diagnoses, drugs) keeps
//!   the rows of the records kept.
//! - **People:** each record's person comes from the person index (its strongest
//!   token); people who opted out are left out, and how many is recorded and audited.
//! - **Pseudonyms:** `person_id` is a keyed HMAC of the internal person id, and every
//!   record key (`*_id` text) a keyed HMAC of its value, under a key derived from the
//!   project's own data key. Two projects share no identifier; closure destroys the key,
//!   and the pseudonyms with it. Tokens never enter an extract.
//! - **Versions:** each materialization is a new version, written aside and made
//!   current by one commit, like an ingest: an amendment's extract replaces the old one
//!   atomically, and a failed one leaves the old one current.

use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use renkei_access::ExtractOrder;
use renkei_access::application::DataRequest;
use renkei_crypto::Macer;
use renkei_datastore::{OpenVersion, PartWriter, Staging};
use renkei_link::LinkColumns;
use renkei_link::index::{Family, Lookup};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::WorkspaceError;

/// One table of an extract, as its page shows it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TableSummary {
    /// Its name in the workspace (`claims_receipts`, `checkups`, ...).
    pub name: String,
    /// The dataset and table it comes from.
    pub source: String,
    /// Rows.
    pub rows: u64,
    /// Distinct people.
    pub persons: u64,
    /// The quasi-identifiers present (sex, age, region, dates).
    pub quasi_identifiers: Vec<String>,
    /// The smallest number of people sharing one combination of them (`None` when
    /// the table has none).
    pub smallest_group: Option<u64>,
}

/// What a materialization made.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ExtractSummary {
    /// The extract's version.
    pub version: i64,
    /// The permit version it follows.
    pub permit_version: i64,
    /// The person-index version it was linked with.
    pub index_version: i64,
    /// Its tables.
    pub tables: Vec<TableSummary>,
    /// People in the extract.
    pub persons: u64,
    /// People left out because they opted out.
    pub opted_out_excluded: u64,
    /// Rows whose person the index does not know (kept, with no `person_id`).
    pub rows_without_person: u64,
    /// Records the index does not know that carry an opted-out token: left out too.
    #[serde(default)]
    pub opted_out_unlinked_records: u64,
}

/// The workspace name of `table` of `dataset`: the dataset's id without `ndb_`, then
/// the table unless it repeats it (`claims_receipts`, `checkups`, `checkups_results`).
pub fn table_name(dataset: &str, table: &str) -> String {
    let prefix = dataset.strip_prefix("ndb_").unwrap_or(dataset);
    if table == prefix {
        prefix.to_owned()
    } else {
        format!("{prefix}_{table}")
    }
}

/// The keyed pseudonyms of one project. Each is computed once per materialization
/// (an HMAC per row would cost more than reading the row).
pub struct Pseudonyms {
    mac: Macer,
    /// Linkage scope → person → pseudonym.
    persons: RefCell<HashMap<String, HashMap<u64, i64>>>,
    /// Column → value → pseudonym.
    keys: RefCell<HashMap<String, HashMap<String, Arc<str>>>>,
}

impl Pseudonyms {
    /// Under the project's derived key.
    pub fn new(mac: Macer) -> Self {
        Self {
            mac,
            persons: RefCell::default(),
            keys: RefCell::default(),
        }
    }
    /// A person's pseudonym within a linkage `scope`: 63 bits of HMAC (collisions are
    /// negligible below a billion people, and an integer keeps joins fast). The
    /// datasets the permit links share one scope; every other dataset has its own, so
    /// its people cannot be joined to the rest.
    pub fn person(&self, scope: &str, person: u64) -> i64 {
        let mut all = self.persons.borrow_mut();
        if !all.contains_key(scope) {
            all.insert(scope.to_owned(), HashMap::new());
        }
        let Some(m) = all.get_mut(scope) else {
            return 0;
        };
        *m.entry(person).or_insert_with(|| {
            let h = self
                .mac
                .mac_fields(&[b"person", scope.as_bytes(), &person.to_be_bytes()]);
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[..8]);
            (u64::from_be_bytes(b) >> 1) as i64
        })
    }
    /// A record key's pseudonym: 80 bits of HMAC, hex.
    pub fn key(&self, column: &str, value: &str) -> Arc<str> {
        let mut keys = self.keys.borrow_mut();
        if !keys.contains_key(column) {
            keys.insert(column.to_owned(), HashMap::new());
        }
        let Some(col) = keys.get_mut(column) else {
            return Arc::from("");
        };
        if let Some(k) = col.get(value) {
            return k.clone();
        }
        let h = self
            .mac
            .mac_fields(&[b"key", column.as_bytes(), value.as_bytes()]);
        let k: Arc<str> = hex::encode(&h[..10]).into();
        col.insert(value.to_owned(), k.clone());
        k
    }
}

/// What the work needs, already opened and checked.
pub struct Inputs {
    /// The order (the permit).
    pub order: ExtractOrder,
    /// Each permitted dataset's current version.
    pub datasets: Vec<(DataRequest, OpenVersion)>,
    /// The person index.
    pub index: Lookup,
    /// Opted-out tokens (family, token).
    pub opt_outs: HashSet<(Family, [u8; 16])>,
}

fn err(e: impl std::fmt::Display) -> WorkspaceError {
    WorkspaceError::Extract(e.to_string())
}

/// One table's cut.
struct Cut<'a> {
    dataset: &'a str,
    /// The linkage scope of its people (see [`Pseudonyms::person`]).
    scope: &'a str,
    table: &'a str,
    variables: &'a [String],
}

/// Materializes the extract into `staging`. Runs on a blocking thread.
pub fn materialize(
    inputs: &Inputs,
    pseudonyms: &Pseudonyms,
    staging: &Staging,
) -> Result<ExtractSummary, WorkspaceError> {
    let mut excluded: HashSet<u64> = HashSet::new();
    for t in &inputs.opt_outs {
        excluded.extend(inputs.index.lookup(t));
    }
    let mut summary = ExtractSummary::default();
    let mut all_persons: HashSet<u64> = HashSet::new();
    let mut excluded_seen: HashSet<u64> = HashSet::new();
    for (req, v) in &inputs.datasets {
        let dataset = req.dataset.as_str();
        let from = req.from.map(days);
        let to = req.to.map(days);
        // 1. Person tables: who each kept record belongs to.
        let mut keep_key: HashMap<String, Option<u64>> = HashMap::new();
        let tables = v.tables()?;
        let mut person_tables = Vec::new();
        for t in &tables {
            let schema = v.schema(t)?;
            let cols = LinkColumns::of(&schema);
            if !cols.tokens.is_empty() {
                person_tables.push((t.clone(), schema, cols));
            }
        }
        for (t, schema, cols) in &person_tables {
            let age = schema.index_of("age").ok();
            let date = cols.date;
            for b in v.batches(t)? {
                let b = b?;
                for i in 0..b.num_rows() {
                    if !in_period(&b, date, i, from, to) || !in_ages(&b, age, i, req.ages) {
                        continue;
                    }
                    let o = cols.observe(&b, i, 0);
                    let p = inputs.index.person_of(&o);
                    if p.is_none() && opted_out(&o, &inputs.opt_outs) {
                        // Unknown to the index but opted out: the record and what hangs
                        // off it stay out.
                        continue;
                    }
                    if let Some(k) = cols.key.and_then(|k| str_at(&b, k, i)) {
                        keep_key.insert(k.to_owned(), p);
                    }
                }
            }
        }
        // 2. Conditions select people: any diagnosis whose ICD-10 starts with, or whose
        // code equals, one of them.
        let selected: Option<HashSet<u64>> = if req.conditions.is_empty() {
            None
        } else {
            let mut s = HashSet::new();
            for t in &tables {
                let schema = v.schema(t)?;
                let code_cols: Vec<usize> = ["icd10", "disease_code"]
                    .iter()
                    .filter_map(|c| schema.index_of(c).ok())
                    .collect();
                let cols = LinkColumns::of(&schema);
                let key = schema.index_of("receipt_id").ok().or(cols.key);
                if code_cols.is_empty() {
                    continue;
                }
                for b in v.batches(t)? {
                    let b = b?;
                    for i in 0..b.num_rows() {
                        let hit = code_cols.iter().any(|&c| {
                            str_at(&b, c, i).is_some_and(|code| {
                                req.conditions.iter().any(|w| code.starts_with(w.as_str()))
                            })
                        });
                        if !hit {
                            continue;
                        }
                        let p = if cols.tokens.is_empty() {
                            key.and_then(|k| str_at(&b, k, i))
                                .and_then(|k| keep_key.get(k).copied().flatten())
                        } else {
                            inputs.index.person_of(&cols.observe(&b, i, 0))
                        };
                        s.extend(p);
                    }
                }
            }
            Some(s)
        };
        // 3. Write each permitted table.
        for tr in &req.tables {
            if !tables.contains(&tr.table) {
                continue;
            }
            let permit = inputs.order.permit();
            let linked =
                permit.linkage_allowed && permit.linked_datasets.iter().any(|d| d == dataset);
            let cut = Cut {
                dataset,
                scope: if linked { "linked" } else { dataset },
                table: &tr.table,
                variables: &tr.variables,
            };
            let s = write_table(
                v,
                &cut,
                inputs,
                pseudonyms,
                staging,
                &keep_key,
                selected.as_ref(),
                &excluded,
                (from, to, req.ages),
                &mut all_persons,
                &mut excluded_seen,
                &mut summary.rows_without_person,
                &mut summary.opted_out_unlinked_records,
            )?;
            summary.tables.push(s);
        }
    }
    summary.persons = all_persons.len() as u64;
    summary.opted_out_excluded = excluded_seen.len() as u64;
    Ok(summary)
}

/// The quasi-identifiers a table may carry, by column name.
const QUASI: [&str; 7] = [
    "sex",
    "age_band",
    "age",
    "birth_ym",
    "prefecture",
    "municipality",
    "admission_date",
];

#[allow(clippy::too_many_arguments)]
fn write_table(
    v: &OpenVersion,
    cut: &Cut<'_>,
    inputs: &Inputs,
    pseudonyms: &Pseudonyms,
    staging: &Staging,
    keep_key: &HashMap<String, Option<u64>>,
    selected: Option<&HashSet<u64>>,
    excluded: &HashSet<u64>,
    (from, to, ages): (Option<i32>, Option<i32>, Option<(u16, u16)>),
    all_persons: &mut HashSet<u64>,
    excluded_seen: &mut HashSet<u64>,
    rows_without_person: &mut u64,
    opted_out_unlinked: &mut u64,
) -> Result<TableSummary, WorkspaceError> {
    let schema = v.schema(cut.table)?;
    let cols = LinkColumns::of(&schema);
    let is_person_table = !cols.tokens.is_empty();
    let key = cols.key;
    let age = schema.index_of("age").ok();
    let date = cols.date;
    // Output columns: person_id, then the permitted variables in stored order, tokens
    // never.
    let mut out_fields = vec![Field::new("person_id", DataType::Int64, true)];
    let mut picked: Vec<usize> = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if matches!(f.data_type(), DataType::FixedSizeBinary(_)) {
            continue;
        }
        if cut.variables.iter().any(|x| x == f.name()) {
            picked.push(i);
            out_fields.push(Field::new(f.name(), f.data_type().clone(), true));
        }
    }
    let out_schema: SchemaRef = Arc::new(Schema::new(out_fields));
    let name = table_name(cut.dataset, cut.table);
    let mut w: Option<PartWriter> = None;
    let mut rows = 0u64;
    let mut persons: HashSet<u64> = HashSet::new();
    let quasi: Vec<usize> = picked
        .iter()
        .copied()
        .filter(|&i| QUASI.contains(&schema.field(i).name().as_str()))
        .collect();
    let mut groups: HashMap<Vec<u8>, HashSet<u64>> = HashMap::new();
    let mut gk: Vec<u8> = Vec::new();
    for b in v.batches(cut.table)? {
        let b = b?;
        let mut keep = Vec::with_capacity(b.num_rows());
        let mut ids: Vec<Option<i64>> = Vec::new();
        for i in 0..b.num_rows() {
            let person = if is_person_table {
                if !in_period(&b, date, i, from, to) || !in_ages(&b, age, i, ages) {
                    keep.push(false);
                    continue;
                }
                let o = cols.observe(&b, i, 0);
                let p = inputs.index.person_of(&o);
                if p.is_none() && opted_out(&o, &inputs.opt_outs) {
                    *opted_out_unlinked += 1;
                    keep.push(false);
                    continue;
                }
                Some(p)
            } else {
                key.and_then(|k| str_at(&b, k, i))
                    .and_then(|k| keep_key.get(k).copied())
            };
            // A child row whose record was not kept goes too.
            let Some(person) = person else {
                keep.push(false);
                continue;
            };
            if let Some(p) = person {
                if excluded.contains(&p) {
                    excluded_seen.insert(p);
                    keep.push(false);
                    continue;
                }
                if selected.is_some_and(|s| !s.contains(&p)) {
                    keep.push(false);
                    continue;
                }
                persons.insert(p);
            } else if selected.is_some() {
                keep.push(false);
                continue;
            } else {
                *rows_without_person += 1;
            }
            if !quasi.is_empty()
                && let Some(p) = person
            {
                gk.clear();
                for &c in &quasi {
                    cell_bytes(&b, c, i, &mut gk);
                }
                match groups.get_mut(gk.as_slice()) {
                    Some(g) => {
                        g.insert(p);
                    }
                    None => {
                        groups.insert(gk.clone(), HashSet::from([p]));
                    }
                }
            }
            keep.push(true);
            ids.push(person.map(|p| pseudonyms.person(cut.scope, p)));
        }
        let mask = BooleanArray::from(keep);
        let kept = arrow_select::filter::filter_record_batch(&b, &mask).map_err(err)?;
        if kept.num_rows() == 0 {
            continue;
        }
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(ids))];
        for &i in &picked {
            let col = kept.column(i).clone();
            let f = schema.field(i);
            if f.name().ends_with("_id") && matches!(f.data_type(), DataType::Utf8) {
                let a = col
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| err("a record key is not text"))?;
                let rekeyed: StringArray = (0..a.len())
                    .map(|r| a.is_valid(r).then(|| pseudonyms.key(f.name(), a.value(r))))
                    .collect();
                arrays.push(Arc::new(rekeyed));
            } else {
                arrays.push(col);
            }
        }
        let out = RecordBatch::try_new(out_schema.clone(), arrays).map_err(err)?;
        rows += out.num_rows() as u64;
        if w.is_none() {
            w = Some(staging.writer(&name, out_schema.clone())?);
        }
        if let Some(w) = w.as_mut() {
            w.write(&out)?;
        }
    }
    match w {
        Some(w) => {
            w.finish()?;
        }
        None => {
            // An empty table still exists, with its columns.
            let mut w = staging.writer(&name, out_schema.clone())?;
            w.write(&RecordBatch::new_empty(out_schema.clone()))?;
            w.finish()?;
        }
    }
    all_persons.extend(persons.iter().copied());
    Ok(TableSummary {
        name,
        source: format!("{}.{}", cut.dataset, cut.table),
        rows,
        persons: persons.len() as u64,
        quasi_identifiers: quasi
            .iter()
            .map(|&i| schema.field(i).name().clone())
            .collect(),
        smallest_group: (!quasi.is_empty())
            .then(|| groups.values().map(|s| s.len() as u64).min())
            .flatten(),
    })
}

/// Whether a record carries an opted-out token.
fn opted_out(o: &renkei_link::index::Observation, opt_outs: &HashSet<(Family, [u8; 16])>) -> bool {
    !opt_outs.is_empty() && o.tokens.iter().any(|t| opt_outs.contains(t))
}

fn days(d: time::Date) -> i32 {
    d.to_julian_day() - 2_440_588
}

fn in_period(
    b: &RecordBatch,
    date: Option<usize>,
    i: usize,
    from: Option<i32>,
    to: Option<i32>,
) -> bool {
    if from.is_none() && to.is_none() {
        return true;
    }
    // A period asked for and no date to judge it by: the row is not granted.
    let Some(a) = date.and_then(|c| b.column(c).as_any().downcast_ref::<Date32Array>()) else {
        return false;
    };
    if !a.is_valid(i) {
        return false;
    }
    let d = a.value(i);
    from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t)
}

fn in_ages(b: &RecordBatch, age: Option<usize>, i: usize, ages: Option<(u16, u16)>) -> bool {
    let Some((lo, hi)) = ages else {
        return true;
    };
    // Ages asked for and no age to judge them by: the row is not granted.
    let Some(col) = age.map(|c| b.column(c)) else {
        return false;
    };
    let v = if let Some(a) = col.as_any().downcast_ref::<Int64Array>() {
        a.is_valid(i).then(|| a.value(i))
    } else if let Some(a) = col.as_any().downcast_ref::<arrow_array::Int32Array>() {
        a.is_valid(i).then(|| i64::from(a.value(i)))
    } else {
        None
    };
    v.is_some_and(|v| v >= i64::from(lo) && v <= i64::from(hi))
}

fn str_at(b: &RecordBatch, c: usize, i: usize) -> Option<&str> {
    let a = b.column(c).as_any().downcast_ref::<StringArray>()?;
    a.is_valid(i).then(|| a.value(i))
}

/// Appends one cell to a group key: a tag, then its bytes length-prefixed, so that no
/// two different rows of cells give the same key. No text is formatted.
fn cell_bytes(b: &RecordBatch, c: usize, i: usize, out: &mut Vec<u8>) {
    let col = b.column(c);
    if col.is_null(i) {
        out.push(0);
        return;
    }
    let any = col.as_any();
    let mut put = |bytes: &[u8]| {
        out.push(1);
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    };
    if let Some(a) = any.downcast_ref::<StringArray>() {
        put(a.value(i).as_bytes());
    } else if let Some(a) = any.downcast_ref::<Int64Array>() {
        put(&a.value(i).to_le_bytes());
    } else if let Some(a) = any.downcast_ref::<arrow_array::Int32Array>() {
        put(&a.value(i).to_le_bytes());
    } else if let Some(a) = any.downcast_ref::<Date32Array>() {
        put(&a.value(i).to_le_bytes());
    } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
        put(&[u8::from(a.value(i))]);
    } else {
        put(arrow_cast::display::array_value_to_string(col, i)
            .unwrap_or_default()
            .as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_names_are_short_and_readable() {
        assert_eq!(table_name("ndb_claims", "receipts"), "claims_receipts");
        assert_eq!(table_name("ndb_checkups", "checkups"), "checkups");
        assert_eq!(table_name("ndb_checkups", "results"), "checkups_results");
        assert_eq!(table_name("deaths", "deaths"), "deaths");
        assert_eq!(table_name("dpc", "stays"), "dpc_stays");
    }

    #[test]
    fn people_join_across_datasets_only_within_a_linkage_scope() {
        let keys = renkei_crypto::KeyStore::from_keys(renkei_crypto::RootKey::generate(), None);
        let p = Pseudonyms::new(keys.macer(renkei_crypto::Purpose::Csrf));
        // Linked datasets share one scope, so one person is one pseudonym there...
        assert_eq!(p.person("linked", 7), p.person("linked", 7));
        // ...and a dataset the permit does not link gives the same person another.
        assert_ne!(p.person("linked", 7), p.person("deaths", 7));
        assert_ne!(p.person("ndb_claims", 7), p.person("deaths", 7));
        assert!(p.person("linked", 7) >= 0);
        assert_eq!(p.key("receipt_id", "a").len(), 20);
        assert_ne!(p.key("receipt_id", "a"), p.key("stay_id", "a"));
    }

    #[test]
    fn days_count_from_the_epoch() {
        assert_eq!(days(time::macros::date!(1970 - 01 - 01)), 0);
        assert_eq!(days(time::macros::date!(2025 - 03 - 01)), 20148);
    }
}
