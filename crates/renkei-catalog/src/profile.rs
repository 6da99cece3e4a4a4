//! Quality profiles: for every variable, how many values are missing or invalid, and the
//! distribution of categorical ones.

use serde::{Deserialize, Serialize};

/// A version's profile.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    /// Tables.
    pub tables: Vec<TableProfile>,
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

/// A count as shown to the public: counts from 1 to 9 become `<10` (the smallest unit
/// the publication rules allow); 0 stays 0.
pub fn suppress(n: u64) -> String {
    if (1..10).contains(&n) {
        "<10".into()
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_suppressed() {
        assert_eq!(suppress(0), "0");
        assert_eq!(suppress(1), "<10");
        assert_eq!(suppress(9), "<10");
        assert_eq!(suppress(10), "10");
    }
}
