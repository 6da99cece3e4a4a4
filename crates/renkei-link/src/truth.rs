//! Known true links, for measuring a run: a synthetic world's `ground_truth/links/`
//! (`database,record key,person` lines), and pairwise precision and recall.

use crate::LinkError;
use std::collections::HashMap;
use std::path::Path;

/// Which true person each known record belongs to.
#[derive(Clone, Debug, Default)]
pub struct Truth {
    uke: HashMap<String, u64>,
}

impl Truth {
    /// Reads every `*.csv` under `dir/links` (or `dir` itself).
    pub fn load(dir: &Path) -> Result<Self, LinkError> {
        let links = if dir.join("links").is_dir() {
            dir.join("links")
        } else {
            dir.to_path_buf()
        };
        let rd = std::fs::read_dir(&links)
            .map_err(|e| LinkError::Truth(format!("{}: {e}", links.display())))?;
        let mut t = Truth::default();
        for f in rd.flatten() {
            let path = f.path();
            if path.extension().is_none_or(|e| e != "csv") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| LinkError::Truth(format!("{}: {e}", path.display())))?;
            for (n, line) in text.lines().enumerate().skip(1) {
                let mut p = line.splitn(3, ',');
                let (Some(db), Some(key), Some(person)) = (p.next(), p.next(), p.next()) else {
                    return Err(LinkError::Truth(format!(
                        "{} line {}: expected database,record,person",
                        path.display(),
                        n + 1
                    )));
                };
                let person: u64 = person.trim().parse().map_err(|_| {
                    LinkError::Truth(format!(
                        "{} line {}: {person:?} is not a person number",
                        path.display(),
                        n + 1
                    ))
                })?;
                if db == "uke" {
                    t.uke.insert(key.to_owned(), person);
                }
            }
        }
        if t.uke.is_empty() {
            return Err(LinkError::Truth(format!(
                "{}: no claims links found",
                links.display()
            )));
        }
        Ok(t)
    }

    /// The true person of a stored record, where the world records it. Claims:
    /// `receipt_id` = `<機関番号>-<payer>-<請求年月>-<no>` is the receipt numbered `<no>`
    /// in the file `ndb/uke/<請求年月>/<機関番号>_<payer>.UKE`.
    pub fn person(&self, dataset: &str, table: &str, key: &str) -> Option<u64> {
        if dataset != "ndb_claims" || table != "receipts" {
            return None;
        }
        let mut p = key.splitn(4, '-');
        let (inst, payer, month, no) = (p.next()?, p.next()?, p.next()?, p.next()?);
        self.uke
            .get(&format!("ndb/uke/{month}/{inst}_{payer}.UKE#{no}"))
            .copied()
    }

    /// How many records it knows.
    pub fn len(&self) -> usize {
        self.uke.len()
    }

    /// Whether it knows none.
    pub fn is_empty(&self) -> bool {
        self.uke.is_empty()
    }
}

fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Pairwise scores from counts of records per (found person, true person).
pub fn score(cells: &HashMap<(u64, u64), u64>) -> crate::TruthReport {
    let mut found: HashMap<u64, u64> = HashMap::new();
    let mut truly: HashMap<u64, u64> = HashMap::new();
    let mut both = 0u64;
    let mut records = 0u64;
    for (&(f, t), &n) in cells {
        *found.entry(f).or_default() += n;
        *truly.entry(t).or_default() += n;
        both += pairs(n);
        records += n;
    }
    let found_pairs: u64 = found.values().map(|&n| pairs(n)).sum();
    let true_pairs: u64 = truly.values().map(|&n| pairs(n)).sum();
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let precision = ratio(both, found_pairs);
    let recall = ratio(both, true_pairs);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    crate::TruthReport {
        records_compared: records,
        true_persons: truly.len() as u64,
        found_persons: found.len() as u64,
        precision,
        recall,
        f1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_over_merge_costs_precision_and_a_split_costs_recall() {
        // Perfect: person 1's three records together, person 2's two together.
        let perfect = HashMap::from([((10, 1), 3), ((20, 2), 2)]);
        let s = score(&perfect);
        assert_eq!((s.precision, s.recall), (1.0, 1.0));
        // Twins merged: one found person holds both true people.
        let merged = HashMap::from([((10, 1), 3), ((10, 2), 2)]);
        let s = score(&merged);
        assert_eq!(s.recall, 1.0);
        assert!((s.precision - 4.0 / 10.0).abs() < 1e-12);
        // A job change missed: person 1 split in two.
        let split = HashMap::from([((10, 1), 2), ((11, 1), 1), ((20, 2), 2)]);
        let s = score(&split);
        assert_eq!(s.precision, 1.0);
        assert!((s.recall - 2.0 / 4.0).abs() < 1e-12);
    }

    #[test]
    fn receipt_ids_name_their_file_and_number() {
        let mut t = Truth::default();
        t.uke.insert("ndb/uke/202504/1311234567_1.UKE#12".into(), 7);
        assert_eq!(
            t.person("ndb_claims", "receipts", "1311234567-1-202504-12"),
            Some(7)
        );
        assert_eq!(
            t.person("ndb_claims", "drugs", "1311234567-1-202504-12"),
            None
        );
        assert_eq!(t.person("ndb_claims", "receipts", "garbage"), None);
    }
}
