//! Rows into Arrow columns into encrypted Parquet, with a quality profile of every
//! column kept on the way.

use crate::IngestError;
use arrow_array::builder::{
    BooleanBuilder, Date32Builder, FixedSizeBinaryBuilder, Float64Builder, Int64Builder,
    StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use renkei_catalog::{ColType, ColumnProfile, TableDecl, TableProfile};
use renkei_core::wareki::Ymd;
use renkei_crypto::Token;
use renkei_datastore::{PartWriter, Staging};
use std::collections::HashMap;
use std::sync::Arc;

/// Rows per Parquet row group / Arrow batch.
const BATCH_ROWS: usize = 65_536;
/// Distinct values profiled per categorical column.
const MAX_DISTINCT: usize = 1000;

enum Builder {
    Text(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Date(Date32Builder),
    Bool(BooleanBuilder),
    Token(FixedSizeBinaryBuilder),
}

#[derive(Default)]
struct Stat {
    present: u64,
    missing: u64,
    invalid: u64,
    not_in_master: u64,
    masked: u64,
    master: Option<renkei_masters::CodeSystem>,
    // foldhash: SipHash was a tenth of the UKE reader's time; the seed is still random
    // per process, so a crafted file cannot aim collisions at it.
    top: HashMap<String, u64, foldhash::fast::RandomState>,
    overflow: bool,
    min: Option<f64>,
    max: Option<f64>,
}

impl Stat {
    fn range(&mut self, x: f64) {
        self.min = Some(self.min.map_or(x, |m| m.min(x)));
        self.max = Some(self.max.map_or(x, |m| m.max(x)));
    }
}

/// Days from 1970-01-01 (Arrow's Date32).
pub fn days(d: Ymd) -> Option<i32> {
    let month = time::Month::try_from(d.1 as u8).ok()?;
    let date = time::Date::from_calendar_date(d.0, month, d.2 as u8).ok()?;
    Some(date.to_julian_day() - 2_440_588)
}

fn from_days(n: f64) -> String {
    time::Date::from_julian_day(n as i32 + 2_440_588)
        .map(|d| d.to_string())
        .unwrap_or_default()
}

/// One table being written.
pub struct TableSink<'s> {
    /// Table name.
    pub name: String,
    names: Vec<String>,
    types: Vec<ColType>,
    categorical: Vec<bool>,
    schema: SchemaRef,
    builders: Vec<Builder>,
    filled: Vec<bool>,
    stats: Vec<Stat>,
    pending: usize,
    rows: u64,
    /// Where rows go; `None` for a dry run, which builds batches and discards them.
    staging: Option<&'s Staging>,
    writer: Option<PartWriter>,
}

impl<'s> TableSink<'s> {
    /// A sink for a declared table.
    pub fn new(t: &TableDecl, staging: Option<&'s Staging>) -> Self {
        let fields: Vec<Field> = t
            .columns
            .iter()
            .map(|c| {
                let dt = match c.ty {
                    ColType::Text | ColType::Code | ColType::FreeText => DataType::Utf8,
                    ColType::Int => DataType::Int64,
                    ColType::Float => DataType::Float64,
                    ColType::Date => DataType::Date32,
                    ColType::Bool => DataType::Boolean,
                    ColType::Token => DataType::FixedSizeBinary(16),
                };
                Field::new(c.stored_name(), dt, true)
            })
            .collect();
        let mut s = Self {
            name: t.name.clone(),
            names: t
                .columns
                .iter()
                .map(|c| c.stored_name().to_owned())
                .collect(),
            types: t.columns.iter().map(|c| c.ty).collect(),
            categorical: t
                .columns
                .iter()
                .map(|c| c.categorical || !c.codes.is_empty())
                .collect(),
            schema: Arc::new(Schema::new(fields)),
            builders: Vec::new(),
            filled: vec![false; t.columns.len()],
            stats: t.columns.iter().map(|_| Stat::default()).collect(),
            pending: 0,
            rows: 0,
            staging,
            writer: None,
        };
        s.builders = s.new_builders();
        s
    }

    fn new_builders(&self) -> Vec<Builder> {
        self.types
            .iter()
            .map(|t| match t {
                ColType::Text | ColType::Code | ColType::FreeText => {
                    Builder::Text(StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 8))
                }
                ColType::Int => Builder::Int(Int64Builder::with_capacity(BATCH_ROWS)),
                ColType::Float => Builder::Float(Float64Builder::with_capacity(BATCH_ROWS)),
                ColType::Date => Builder::Date(Date32Builder::with_capacity(BATCH_ROWS)),
                ColType::Bool => Builder::Bool(BooleanBuilder::with_capacity(BATCH_ROWS)),
                ColType::Token => {
                    Builder::Token(FixedSizeBinaryBuilder::with_capacity(BATCH_ROWS, 16))
                }
            })
            .collect()
    }

    /// The index of a column.
    pub fn col(&self, name: &str) -> Result<usize, IngestError> {
        self.names.iter().position(|n| n == name).ok_or_else(|| {
            IngestError::Schema(format!("table {} has no column {name:?}", self.name))
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows + self.pending as u64
    }

    fn mark(&mut self, i: usize, present: bool) {
        debug_assert!(
            !self.filled[i],
            "column {} set twice in one row",
            self.names[i]
        );
        self.filled[i] = true;
        if present {
            self.stats[i].present += 1;
        } else {
            self.stats[i].missing += 1;
        }
    }

    fn count_value(&mut self, i: usize, v: &str) {
        if !self.categorical[i] {
            return;
        }
        let st = &mut self.stats[i];
        if let Some(c) = st.top.get_mut(v) {
            *c += 1;
        } else if st.top.len() < MAX_DISTINCT {
            st.top.insert(v.to_owned(), 1);
        } else {
            st.overflow = true;
        }
    }

    /// Sets a text (or code) column; empty means missing.
    pub fn text(&mut self, i: usize, v: Option<&str>) {
        let v = v.filter(|s| !s.is_empty());
        self.mark(i, v.is_some());
        if let Some(s) = v {
            self.count_value(i, s);
        }
        if let Builder::Text(b) = &mut self.builders[i] {
            b.append_option(v);
        }
    }

    /// Sets an integer column.
    pub fn int(&mut self, i: usize, v: Option<i64>) {
        self.mark(i, v.is_some());
        if let Some(x) = v {
            self.stats[i].range(x as f64);
            if self.categorical[i] {
                self.count_value(i, &x.to_string());
            }
        }
        if let Builder::Int(b) = &mut self.builders[i] {
            b.append_option(v);
        }
    }

    /// Sets a float column.
    pub fn float(&mut self, i: usize, v: Option<f64>) {
        let v = v.filter(|x| x.is_finite());
        self.mark(i, v.is_some());
        if let Some(x) = v {
            self.stats[i].range(x);
        }
        if let Builder::Float(b) = &mut self.builders[i] {
            b.append_option(v);
        }
    }

    /// Sets a date column.
    pub fn date(&mut self, i: usize, v: Option<Ymd>) {
        let d = v.and_then(days);
        self.mark(i, d.is_some());
        if let Some(x) = d {
            self.stats[i].range(f64::from(x));
        }
        if let Builder::Date(b) = &mut self.builders[i] {
            b.append_option(d);
        }
    }

    /// Sets a boolean column.
    pub fn boolean(&mut self, i: usize, v: Option<bool>) {
        self.mark(i, v.is_some());
        if let Some(x) = v {
            self.count_value(i, if x { "true" } else { "false" });
        }
        if let Builder::Bool(b) = &mut self.builders[i] {
            b.append_option(v);
        }
    }

    /// Sets a token column.
    pub fn token(&mut self, i: usize, v: Option<Token>) {
        self.mark(i, v.is_some());
        if let Builder::Token(b) = &mut self.builders[i] {
            match v {
                Some(t) => {
                    let _ = b.append_value(t.0);
                }
                None => b.append_null(),
            }
        }
    }

    /// Counts a value of column `i` refused as invalid (the record is rejected, so the
    /// row is not written).
    pub fn invalid(&mut self, i: usize) {
        self.stats[i].invalid += 1;
    }

    /// Counts a free-text value of column `i` in which identifying spans were masked.
    pub fn masked(&mut self, i: usize) {
        self.stats[i].masked += 1;
    }

    /// Counts a well-formed code of column `i` that the master in force does not hold
    /// (the row is kept).
    pub fn not_in_master(&mut self, i: usize) {
        self.stats[i].not_in_master += 1;
    }

    /// Records that column `i` holds codes of `system`, checked against its master.
    pub fn checked_against(&mut self, i: usize, system: renkei_masters::CodeSystem) {
        self.stats[i].master = Some(system);
    }

    /// Ends the row: columns not set are missing.
    pub fn end_row(&mut self) -> Result<(), IngestError> {
        for i in 0..self.filled.len() {
            if !self.filled[i] {
                match self.types[i] {
                    ColType::Text | ColType::Code | ColType::FreeText => self.text(i, None),
                    ColType::Int => self.int(i, None),
                    ColType::Float => self.float(i, None),
                    ColType::Date => self.date(i, None),
                    ColType::Bool => self.boolean(i, None),
                    ColType::Token => self.token(i, None),
                }
            }
            self.filled[i] = false;
        }
        self.pending += 1;
        if self.pending >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IngestError> {
        if self.pending == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Text(b) => Arc::new(b.finish()),
                    Builder::Int(b) => Arc::new(b.finish()),
                    Builder::Float(b) => Arc::new(b.finish()),
                    Builder::Date(b) => Arc::new(b.finish()),
                    Builder::Bool(b) => Arc::new(b.finish()),
                    Builder::Token(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| IngestError::Schema(e.to_string()))?;
        if let (None, Some(staging)) = (&self.writer, self.staging) {
            self.writer = Some(staging.writer(&self.name, self.schema.clone())?);
        }
        if let Some(w) = &mut self.writer {
            w.write(&batch)?;
        }
        self.rows += self.pending as u64;
        self.pending = 0;
        Ok(())
    }

    /// Writes what is pending and closes the file. Returns the table's profile.
    pub fn finish(mut self) -> Result<TableProfile, IngestError> {
        self.flush()?;
        if let Some(w) = self.writer.take() {
            w.finish()?;
        }
        let columns = self
            .names
            .iter()
            .zip(&self.types)
            .zip(self.stats)
            .map(|((name, ty), st)| {
                let mut top: Vec<(String, u64)> = st.top.into_iter().collect();
                top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                // Not truncated yet: other writers' counts of the same values are merged
                // first (`merge`), then `finalize` keeps the most frequent.
                let distinct = top.len() as u64;
                let fmt = |x: f64| {
                    if *ty == ColType::Date {
                        from_days(x)
                    } else if *ty == ColType::Float {
                        format!("{x:.2}")
                    } else {
                        format!("{x:.0}")
                    }
                };
                ColumnProfile {
                    name: name.clone(),
                    ty: format!("{ty:?}").to_lowercase(),
                    present: st.present,
                    missing: st.missing,
                    invalid: st.invalid,
                    not_in_master: st.not_in_master,
                    masked: st.masked,
                    master: st.master.map(|m| m.code().to_owned()),
                    distinct: if st.overflow {
                        MAX_DISTINCT as u64
                    } else {
                        distinct
                    },
                    top,
                    min: st.min.map(fmt),
                    max: st.max.map(fmt),
                }
            })
            .collect();
        Ok(TableProfile {
            name: self.name,
            rows: self.rows,
            columns,
        })
    }
}

/// Merges profiles of the same table from several writers.
pub fn merge(into: &mut TableProfile, other: TableProfile) {
    into.rows += other.rows;
    for (a, b) in into.columns.iter_mut().zip(other.columns) {
        a.present += b.present;
        a.missing += b.missing;
        a.invalid += b.invalid;
        a.not_in_master += b.not_in_master;
        a.masked += b.masked;
        a.master = a.master.take().or(b.master);
        let mut m: HashMap<String, u64> = a.top.drain(..).collect();
        for (k, v) in b.top {
            *m.entry(k).or_default() += v;
        }
        let mut top: Vec<(String, u64)> = m.into_iter().collect();
        top.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        // The union of both writers' values, unless one of them stopped counting.
        a.distinct = if a.distinct.max(b.distinct) >= MAX_DISTINCT as u64 {
            MAX_DISTINCT as u64
        } else {
            (top.len() as u64).min(MAX_DISTINCT as u64)
        };
        a.top = top;
        a.min = match (a.min.take(), b.min) {
            (Some(x), Some(y)) => Some(if cmp_num(&x, &y) { x } else { y }),
            (x, y) => x.or(y),
        };
        a.max = match (a.max.take(), b.max) {
            (Some(x), Some(y)) => Some(if cmp_num(&x, &y) { y } else { x }),
            (x, y) => x.or(y),
        };
    }
}

/// Values shown in a profile's distribution.
const TOP_SHOWN: usize = 30;

/// Keeps the most frequent values of each column, once every writer's profile is
/// merged (truncating before merging would drop values frequent only in total).
pub fn finalize(p: &mut TableProfile) {
    for c in &mut p.columns {
        c.top.truncate(TOP_SHOWN);
    }
}

/// Whether `a` <= `b` for profile min/max strings (numbers or ISO dates).
fn cmp_num(a: &str, b: &str) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x <= y,
        _ => a <= b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(top: Vec<(String, u64)>) -> TableProfile {
        TableProfile {
            name: "t".into(),
            rows: top.iter().map(|(_, n)| n).sum(),
            columns: vec![ColumnProfile {
                name: "c".into(),
                ty: "text".into(),
                present: top.iter().map(|(_, n)| n).sum(),
                missing: 0,
                invalid: 0,
                not_in_master: 0,
                masked: 0,
                master: None,
                distinct: top.len() as u64,
                top,
                min: None,
                max: None,
            }],
        }
    }

    #[test]
    fn distributions_are_cut_after_merging() {
        // Each writer saw 40 values; "x" is 40th in each but first in total.
        let writer = |tag: &str| {
            let mut v: Vec<(String, u64)> = (0..39).map(|i| (format!("{tag}{i}"), 10)).collect();
            v.push(("x".into(), 9));
            profile(v)
        };
        let mut a = writer("a");
        merge(&mut a, writer("b"));
        finalize(&mut a);
        let c = &a.columns[0];
        assert_eq!(c.top[0], ("x".to_owned(), 18));
        assert_eq!(c.top.len(), TOP_SHOWN);
        assert_eq!(c.distinct, 79, "the union of both writers' values");
    }
}
