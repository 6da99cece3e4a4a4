//! Quality profiles: for every variable, how many values are missing or invalid, and the
//! distribution of categorical ones.

use serde::{Deserialize, Serialize};

/// A version's profile.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    /// Tables.
    pub tables: Vec<TableProfile>,
    /// What became of the source records, by record type (UKE: `RE`, `SY`, `SI`, ...;
    /// other formats: one line per file kind).
    #[serde(default)]
    pub records: Vec<RecordTally>,
}

/// What became of the source records of one type.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordTally {
    /// Record type (`RE`, `SY`, ...).
    pub kind: String,
    /// Records read.
    pub read: u64,
    /// Records that became a stored row.
    pub stored: u64,
    /// Of those, with a code the master in force does not hold (kept and flagged).
    pub flagged: u64,
    /// Records rejected (see the reject report).
    pub rejected: u64,
}

impl RecordTally {
    /// Records neither stored as rows of their own nor rejected: merged into another
    /// record's row (HO, KO and SN into their receipt) or read past by design (headers,
    /// free-text records).
    pub fn merged_or_skipped(&self) -> u64 {
        self.read.saturating_sub(self.stored + self.rejected)
    }
}

/// One table.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TableProfile {
    /// Name.
    pub name: String,
    /// Rows stored.
    pub rows: u64,
    /// Variables.
    pub columns: Vec<ColumnProfile>,
}

/// One variable.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ColumnProfile {
    /// Name.
    pub name: String,
    /// Type.
    pub ty: String,
    /// Values present.
    pub present: u64,
    /// Values missing.
    pub missing: u64,
    /// Values refused as invalid (not in the master or the declared list; a bad date).
    pub invalid: u64,
    /// Well-formed codes the master in force on the record's date does not hold,
    /// kept under the dataset's `unknown_code = "flag"` policy.
    #[serde(default)]
    pub not_in_master: u64,
    /// Free-text values in which identifying spans were masked at ingest.
    #[serde(default)]
    pub masked: u64,
    /// The master the column's codes were checked against (`disease`, `drug`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    /// Most frequent values with their counts (categorical variables only).
    pub top: Vec<(String, u64)>,
    /// Distinct values seen (categorical), capped.
    pub distinct: u64,
    /// Smallest and largest value, as text (numbers and dates).
    pub min: Option<String>,
    /// Largest.
    pub max: Option<String>,
}

impl ColumnProfile {
    /// Missing values as a share of rows.
    pub fn missing_pct(&self) -> f64 {
        pct(self.missing, self.present + self.missing)
    }
    /// Invalid values as a share of values seen.
    pub fn invalid_pct(&self) -> f64 {
        pct(self.invalid, self.present + self.missing + self.invalid)
    }
}

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 * 100.0 / b as f64
    }
}

/// A count as the public may see it: `None` for 1 to 9 (shown as `<10`), else rounded
/// to the nearest 10 (0 stays 0).
///
/// Suppressing small cells alone is not enough: with exact totals beside them, a `<10`
/// cell comes back by subtraction (1,000 rows, 520 men, 477 women: 3 missing). Rounding
/// every published count to 10 leaves each figure ±5 off, so a difference of published
/// figures no longer pins a small cell down. This is the rule ONS and OpenSAFELY use
/// for published counts, with NDB's minimum cell of 10.
pub fn public_count(n: u64) -> Option<u64> {
    match n {
        0 => Some(0),
        1..10 => None,
        _ => Some((n + 5) / 10 * 10),
    }
}

/// `public_count` as text: `<10`, or the rounded count.
pub fn suppress(n: u64) -> String {
    public_count(n).map_or_else(|| "<10".into(), |r| r.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_suppressed_and_the_rest_rounded() {
        assert_eq!(suppress(0), "0");
        assert_eq!(suppress(1), "<10");
        assert_eq!(suppress(9), "<10");
        assert_eq!(suppress(10), "10");
        assert_eq!(suppress(14), "10");
        assert_eq!(suppress(15), "20");
        assert_eq!(suppress(1_010_685), "1010690");
        // The differencing attack of the old rule: the exact figures gave 3 missing.
        let (rows, men, women) = (1000, 520, 477);
        let published = [rows, men, women].map(|n| public_count(n).unwrap());
        assert_eq!(published, [1000, 520, 480]);
        assert_ne!(published[0] - published[1] - published[2], 3);
    }

    proptest::proptest! {
        #[test]
        fn a_published_count_is_never_exact_below_ten_and_never_more_than_five_off(n in 0u64..10_000_000) {
            match public_count(n) {
                None => proptest::prop_assert!((1..10).contains(&n)),
                Some(r) => {
                    proptest::prop_assert_eq!(r % 10, 0);
                    proptest::prop_assert!(r.abs_diff(n) <= 5);
                    proptest::prop_assert!(n == 0 || r >= 10);
                }
            }
        }
    }
}
