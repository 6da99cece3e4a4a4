//! The differencing ledger: every released cell with the set of persons it counted (as
//! per-project pseudonyms, inside the platform), so that a new output can be compared
//! with everything the project has released before.
//!
//! Two published counts over person sets S and T reveal |S| − |T|, and when one set
//! nearly contains the other, the few persons in the difference. A new cell whose
//! persons differ from a released cell's by at least one and fewer than the threshold
//! is flagged, with both cells and the size of the difference. Identical sets reveal
//! nothing new and are not flagged.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A released cell and the persons behind it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerCell {
    pub release: String,
    pub output: String,
    pub label: String,
    /// Sorted, without repeats.
    pub persons: Vec<u64>,
}

/// A new cell too close to a released one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DifferenceFinding {
    pub cell: String,
    pub persons: u64,
    pub release: String,
    pub output: String,
    pub released_cell: String,
    pub released_persons: u64,
    /// Persons in one cell and not the other.
    pub difference: u64,
}

/// Released cells, indexed by size: two sets that differ by fewer than t persons
/// differ in size by fewer than t, so only cells of nearby size are compared.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    cells: Vec<LedgerCell>,
    by_size: BTreeMap<usize, Vec<usize>>,
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Records a released cell.
    pub fn add(&mut self, release: &str, output: &str, label: &str, mut persons: Vec<u64>) {
        persons.sort_unstable();
        persons.dedup();
        let k = self.cells.len();
        self.by_size.entry(persons.len()).or_default().push(k);
        self.cells.push(LedgerCell {
            release: release.to_string(),
            output: output.to_string(),
            label: label.to_string(),
            persons,
        });
    }

    /// Compares new cells (label and persons) with every released cell.
    pub fn compare(&self, cells: &[(String, Vec<u64>)], threshold: u64) -> Vec<DifferenceFinding> {
        let t = usize::try_from(threshold).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for (label, persons) in cells {
            let mut s = persons.clone();
            s.sort_unstable();
            s.dedup();
            let lo = s.len().saturating_sub(t.saturating_sub(1));
            let hi = s.len().saturating_add(t.saturating_sub(1));
            for (_, ids) in self.by_size.range(lo..=hi) {
                for &k in ids {
                    let c = &self.cells[k];
                    let d = difference_below(&s, &c.persons, t);
                    if let Some(d) = d
                        && d > 0
                    {
                        out.push(DifferenceFinding {
                            cell: label.clone(),
                            persons: s.len() as u64,
                            release: c.release.clone(),
                            output: c.output.clone(),
                            released_cell: c.label.clone(),
                            released_persons: c.persons.len() as u64,
                            difference: d as u64,
                        });
                    }
                }
            }
        }
        out
    }
}

/// The size of the symmetric difference of two sorted sets, if it is below `limit`
/// (stops counting once it reaches it).
fn difference_below(a: &[u64], b: &[u64], limit: usize) -> Option<usize> {
    let (mut i, mut j, mut d) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                d += 1;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                d += 1;
                j += 1;
            }
        }
        if d >= limit {
            return None;
        }
    }
    d += (a.len() - i) + (b.len() - j);
    (d < limit).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_three_persons_away_from_a_released_one_is_flagged() {
        let mut l = Ledger::new();
        l.add("r1", "o1", "E11, 40-44", (0..100).collect());
        l.add("r1", "o1", "E11, 45-49", (1000..1200).collect());
        let found = l.compare(
            &[
                ("E11, 40-45".to_string(), (0..103).collect()),
                ("E11, 50-54".to_string(), (5000..5100).collect()),
                ("E11, 40-44 again".to_string(), (0..100).collect()),
            ],
            10,
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].difference, 3);
        assert_eq!(found[0].released_cell, "E11, 40-44");
        assert_eq!(found[0].cell, "E11, 40-45");
    }

    #[test]
    fn difference_counts_both_sides_and_stops_at_the_limit() {
        assert_eq!(difference_below(&[1, 2, 3], &[2, 3, 4], 10), Some(2));
        assert_eq!(difference_below(&[1, 2, 3], &[4, 5, 6], 5), None);
        assert_eq!(difference_below(&[], &[1], 10), Some(1));
    }
}
