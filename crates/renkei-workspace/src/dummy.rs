//! Dummy data for an application still in review: the tables and columns its extract
//! would have, filled with synthetic rows, so a researcher can write and test queries
//! before any real data is theirs.
//!
//! Nothing here is read from a dataset: the schema comes from the public catalogue's
//! declarations, the values from fixed lists and a generator seeded by the application
//! id (the same application always gets the same rows). Every table has rows for
//! every person, keys that join across tables (`receipt_id` in a diagnoses table
//! matches one in the receipts table), and the codes the example queries look for, so
//! queries return results instead of nothing.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use renkei_access::DummyGrant;
use renkei_catalog::{ColType, DatasetEntry};
use renkei_engine::{Batches, Source, SourceError, Table};

use crate::extract::table_name;

/// People in every dummy workspace.
pub const PERSONS: u64 = 2_000;
/// Rows per person in a table.
const PER_PERSON: u64 = 6;
/// Rows per generated batch.
const BATCH: u64 = 4_000;

/// The dummy tables of an application: the requested tables of the requested datasets
/// under their workspace names, `person_id` first, then the requested variables the
/// catalogue stores, in stored order.
pub fn tables(grant: &DummyGrant, catalogue: &[DatasetEntry]) -> Vec<Table> {
    let seed = fnv(grant.application().as_bytes());
    let mut out = Vec::new();
    for req in grant.data() {
        let Some(entry) = catalogue
            .iter()
            .find(|e| e.declaration.dataset.id == req.dataset)
        else {
            continue;
        };
        for tr in &req.tables {
            let Some(decl) = entry
                .declaration
                .stored_tables()
                .into_iter()
                .find(|t| t.name == tr.table)
            else {
                continue;
            };
            let mut fields = vec![Field::new("person_id", DataType::Int64, true)];
            for c in &decl.columns {
                let name = c.store_as.clone().unwrap_or_else(|| c.name.clone());
                if !tr.variables.contains(&name) {
                    continue;
                }
                let ty = match c.ty {
                    ColType::Token => continue,
                    ColType::Int => DataType::Int64,
                    ColType::Float => DataType::Float64,
                    ColType::Date => DataType::Date32,
                    ColType::Bool => DataType::Boolean,
                    ColType::Text | ColType::Code | ColType::FreeText => DataType::Utf8,
                };
                fields.push(Field::new(name, ty, true));
            }
            let name = table_name(&req.dataset, &tr.table);
            out.push(Table {
                source: Arc::new(Dummy {
                    schema: Arc::new(Schema::new(fields)),
                    seed: seed ^ fnv(name.as_bytes()),
                }),
                name,
            });
        }
    }
    out
}

/// One dummy table: rows made on demand, the same every time.
#[derive(Debug)]
struct Dummy {
    schema: SchemaRef,
    seed: u64,
}

impl Source for Dummy {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn partitions(&self) -> usize {
        1
    }
    fn read(&self, _partition: usize, columns: Option<&[String]>) -> Result<Batches, SourceError> {
        let fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .filter(|f| columns.is_none_or(|c| c.contains(f.name())))
            .map(|f| f.as_ref().clone())
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let seed = self.seed;
        let total = PERSONS * PER_PERSON;
        Ok(Box::new((0..total.div_ceil(BATCH)).map(move |b| {
            let rows = (b * BATCH)..((b + 1) * BATCH).min(total);
            let cols: Vec<ArrayRef> = schema
                .fields()
                .iter()
                .map(|f| column(f, rows.clone(), seed))
                .collect();
            RecordBatch::try_new_with_options(
                schema.clone(),
                cols,
                &arrow_array::RecordBatchOptions::new()
                    .with_row_count(Some((rows.end - rows.start) as usize)),
            )
            .map_err(|e| SourceError(e.to_string()))
        })))
    }
}

/// The person of row `r`: every person has `PER_PERSON` rows in each table.
fn person(r: u64) -> u64 {
    r / PER_PERSON
}

/// A value for (row, column) from the generator: the same inputs, the same value.
fn draw(seed: u64, r: u64, column: &str) -> u64 {
    mix(seed ^ fnv(column.as_bytes()) ^ r.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// A person's own value for a column (the same in every table): sex, age.
fn personal(p: u64, column: &str) -> u64 {
    mix(fnv(column.as_bytes()) ^ p.wrapping_mul(0xD1B5_4A32_D192_ED03))
}

fn column(f: &Field, rows: std::ops::Range<u64>, seed: u64) -> ArrayRef {
    let name = f.name().as_str();
    match f.data_type() {
        DataType::Int64 if name == "person_id" => Arc::new(Int64Array::from_iter_values(
            rows.map(|r| 1_000_000 + person(r) as i64),
        )),
        DataType::Int64 => Arc::new(Int64Array::from_iter_values(rows.map(|r| {
            let d = draw(seed, r, name);
            match name {
                "age" => age(person(r)) as i64,
                "length_of_stay" | "real_days" | "days" => 1 + (d % 28) as i64,
                _ => 1 + (d % 1000) as i64,
            }
        }))),
        DataType::Float64 => Arc::new(Float64Array::from_iter_values(rows.map(|r| {
            let d = draw(seed, r, name);
            match name {
                // Spread around HbA1c's and most lab values' range, some above 6.5.
                "value_num" => 4.5 + (d % 50) as f64 / 10.0,
                _ => (d % 2000) as f64 / 10.0,
            }
        }))),
        DataType::Date32 => Arc::new(Date32Array::from_iter_values(rows.map(|r| {
            let d = draw(seed, r, name);
            // 2024-04-01 (19814 days after 1970-01-01) and the year after.
            let day = 19_814 + (d % 365) as i32;
            if name.ends_with("_month") {
                first_of_month(day)
            } else {
                day
            }
        }))),
        DataType::Boolean => Arc::new(BooleanArray::from_iter(
            rows.map(|r| Some(draw(seed, r, name).is_multiple_of(5))),
        )),
        _ => Arc::new(StringArray::from_iter_values(
            rows.map(|r| text(name, r, draw(seed, r, name))),
        )),
    }
}

fn age(p: u64) -> u64 {
    personal(p, "age") % 100
}

fn text(name: &str, r: u64, d: u64) -> String {
    let p = person(r);
    let pick = |xs: &[&str]| xs[(d % xs.len() as u64) as usize].to_owned();
    match name {
        "sex" => if personal(p, "sex").is_multiple_of(2) {
            "1"
        } else {
            "2"
        }
        .to_owned(),
        "age_band" => {
            let a = age(p);
            format!("{}-{}", a / 5 * 5, a / 5 * 5 + 4)
        }
        // Keys a person's rows share across tables, so joins find partners.
        n if n.ends_with("_id") => format!("{}-{p}-{}", &n[..n.len() - 3], d % 3),
        "icd10" | "main_icd10" | "cause_icd10" => pick(&[
            "E119", "E11", "I10", "E785", "J459", "K219", "M545", "I219", "C169", "N184", "E142",
            "I639",
        ]),
        "drug_class" => pick(&["2189", "2171", "3969", "2149", "1149", "2325"]),
        "yj" => pick(&[
            "2189015F1020",
            "2171022F1022",
            "3969007F1024",
            "2149039F1029",
        ]),
        "item_code" => pick(&[
            "3D046000001906202",
            "3F015000002327101",
            "9N001000000000001",
            "9N006000000000001",
        ]),
        "unit" => pick(&["%", "mg/dL", "cm", "kg"]),
        "prefecture" => format!("{:02}", 1 + d % 47),
        "kind" => pick(&["1112", "1116", "1312", "1316"]),
        "outcome" => pick(&["1", "2", "3", "4", "6"]),
        _ => format!("{name}-{}", d % 50),
    }
}

/// The first day of the month of `day` (days since 1970-01-01).
fn first_of_month(day: i32) -> i32 {
    let d = time::Date::from_julian_day(2_440_588 + day).unwrap_or(time::Date::MIN);
    d.replace_day(1)
        .map(|f| f.to_julian_day() - 2_440_588)
        .unwrap_or(day)
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3)
    })
}

/// splitmix64's finalizer: a fast, well-spread hash of the generator's state. Written
/// by hand because the rows need random access by position (no sequential RNG).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_start_on_the_first() {
        // 2024-04-17 is 19830 days after the epoch; April 1st is 19814.
        assert_eq!(first_of_month(19_830), 19_814);
        assert_eq!(first_of_month(19_814), 19_814);
    }

    #[test]
    fn rows_are_the_same_every_time_and_keys_join() {
        let f = Field::new("receipt_id", DataType::Utf8, true);
        let a = column(&f, 0..100, 7);
        let b = column(&f, 0..100, 7);
        assert_eq!(a.as_ref(), b.as_ref());
        let g = Field::new("receipt_id", DataType::Utf8, true);
        let other = column(&g, 0..100, 8);
        let s = |x: &ArrayRef| {
            x.as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .iter()
                .flatten()
                .map(str::to_owned)
                .collect::<std::collections::HashSet<_>>()
        };
        // Another table's keys for the same people overlap.
        assert!(s(&a).intersection(&s(&other)).count() > 10);
    }
}
