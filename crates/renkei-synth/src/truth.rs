//! Ground truth: which record belongs to which person (for linkage tests), and counts
//! (for the golden test that compares an ingest with what was generated). Written only
//! under `ground_truth/`, never into a database.

use std::collections::BTreeMap;

/// An area's ground truth.
#[derive(Default)]
pub struct Truth {
    /// `database,record key,person id` lines.
    pub links: String,
    /// Counts.
    pub counts: BTreeMap<String, u64>,
    /// Sums (for averages).
    pub sums: BTreeMap<String, f64>,
    /// Outpatient diagnosis rows by ICD-10 (three characters).
    pub sy_by_icd3: BTreeMap<String, u64>,
}

impl Truth {
    /// Records that `key` in `database` belongs to `person`.
    pub fn link(&mut self, database: &str, key: &str, person: u64) {
        self.links.push_str(database);
        self.links.push(',');
        self.links.push_str(key);
        self.links.push(',');
        self.links.push_str(&person.to_string());
        self.links.push('\n');
    }
    /// Adds to a count.
    pub fn count(&mut self, what: &str, n: u64) {
        *self.counts.entry(what.to_owned()).or_default() += n;
    }
    /// Adds to a sum.
    pub fn add(&mut self, what: &str, x: f64) {
        *self.sums.entry(what.to_owned()).or_default() += x;
    }
    /// Counts an outpatient diagnosis row.
    pub fn count_sy(&mut self, icd10: &str) {
        self.count("uke_sy_rows", 1);
        if let Some(k) = icd10.get(..3) {
            *self.sy_by_icd3.entry(k.to_owned()).or_default() += 1;
        }
    }
    /// Merges another area's counts (links are written per area).
    pub fn merge(&mut self, o: &Truth) {
        for (k, v) in &o.counts {
            *self.counts.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.sums {
            *self.sums.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.sy_by_icd3 {
            *self.sy_by_icd3.entry(k.clone()).or_default() += v;
        }
    }
}
