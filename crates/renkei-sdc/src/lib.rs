//! Output checking: the statistical disclosure control that stands between a
//! workspace result and anything leaving the platform.
//!
//! An output is declared as one of a fixed set of kinds ([`Output`]); each kind has
//! its rules, applied cell by cell with the numbers behind every verdict
//! ([`Finding`]). Two profiles set the defaults ([`Rules::japan`], [`Rules::general`]),
//! every threshold is a field a dataset or permit may override.
//!
//! Verdicts are `pass`, `review` or `fail` per cell and per output: any fail fails the
//! output, otherwise any review makes it review. Protection asked for by the researcher
//! (suppression with its complementary cells, rounding) turns a failing table into one
//! that goes to review, as ACRO does: a person always looks at a protected output.
//!
//! The crate is pure computation (no I/O), so the same checks run in the researcher's
//! workspace before submission, in the checker's view, and in the benchmark.

mod ledger;
mod other;
mod round;
mod rules;
mod suppress;
mod table;

pub use ledger::{DifferenceFinding, Ledger, LedgerCell};
pub use other::{HistogramOutput, RegressionOutput, SummaryOutput, SurvivalRow, pool_survival};
pub use round::round_half_even;
pub use rules::{Profile, Rules, ZeroPolicy};
pub use table::{CellStats, Dim, DimKind, Statistic, Table, Unit};

use serde::{Deserialize, Serialize};
use std::fmt;

/// A verdict, ordered from best to worst so the output's verdict is the maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Review,
    Fail,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Review => "review",
            Outcome::Fail => "fail",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One rule. The code is stable: it names the rule in reports, in `results.json`, in
/// exceptions a researcher asks for, and in the translations of the pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Fewer contributors than the threshold.
    Threshold,
    /// Municipality as the unit: population bands raise the threshold or forbid the unit.
    Municipality,
    /// Counts of medical institutions or insurers under their minimum.
    Institutions,
    /// Drug data whose patient count is unknown: prescription-count minimums.
    Drug,
    /// Age bands finer than five years, or 100+ split.
    AgeBands,
    /// Geography crossed with insurer type, or finer than allowed.
    Geography,
    /// Time of death or birth weight in bins finer than allowed.
    Bins,
    /// (n, k) dominance of a magnitude cell.
    Dominance,
    /// p% rule of a magnitude cell.
    PPercent,
    /// Negative values: dominance is not defined.
    Negative,
    /// Missing values in a cell.
    Missing,
    /// Zero cells (class disclosure: "nobody here has X").
    Zeros,
    /// Minimum and maximum are single people's values.
    MinMax,
    /// Residual degrees of freedom of a regression.
    Regression,
    /// Survival tables: events and numbers at risk.
    Survival,
    /// Histogram bin edges and empty bins.
    Histogram,
    /// Counts of rows rather than persons.
    RowCounts,
    /// Suppressed cells and their complementary cells.
    Suppression,
    /// Rounding applied on request.
    Rounding,
    /// A file that only a person can judge.
    Manual,
}

impl Check {
    pub const ALL: [Check; 20] = [
        Check::Threshold,
        Check::Municipality,
        Check::Institutions,
        Check::Drug,
        Check::AgeBands,
        Check::Geography,
        Check::Bins,
        Check::Dominance,
        Check::PPercent,
        Check::Negative,
        Check::Missing,
        Check::Zeros,
        Check::MinMax,
        Check::Regression,
        Check::Survival,
        Check::Histogram,
        Check::RowCounts,
        Check::Suppression,
        Check::Rounding,
        Check::Manual,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Check::Threshold => "threshold",
            Check::Municipality => "municipality",
            Check::Institutions => "institutions",
            Check::Drug => "drug",
            Check::AgeBands => "age_bands",
            Check::Geography => "geography",
            Check::Bins => "bins",
            Check::Dominance => "dominance",
            Check::PPercent => "p_percent",
            Check::Negative => "negative",
            Check::Missing => "missing",
            Check::Zeros => "zeros",
            Check::MinMax => "min_max",
            Check::Regression => "regression",
            Check::Survival => "survival",
            Check::Histogram => "histogram",
            Check::RowCounts => "row_counts",
            Check::Suppression => "suppression",
            Check::Rounding => "rounding",
            Check::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|c| c.code() == s)
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One verdict that is not a plain pass, with the numbers behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub check: Check,
    pub outcome: Outcome,
    /// Row-major index of the cell, where the finding is about one cell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<usize>,
    /// The cell's labels, one per dimension (empty for table-level findings).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub labels: Vec<String>,
    /// The figure the rule looked at, and the limit it was held to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    /// The verdict in words, e.g. `cell (E11, 40-44, F) = 7 persons < 10`.
    pub evidence: String,
}

/// Per rule, how many cells passed, went to review and failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSummary {
    pub pass: u64,
    pub review: u64,
    pub fail: u64,
}

/// The protection the researcher asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protection {
    /// Suppress failing cells, with complementary cells so that published margins
    /// cannot give them back.
    pub suppress: bool,
    /// Round published counts to this base (5 or 10), halves to even.
    pub round_to: Option<u32>,
}

/// The table as it may be published after protection: `None` is a suppressed cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Published {
    pub cells: Vec<Option<f64>>,
    /// Cells suppressed because they failed a rule.
    pub primary: Vec<usize>,
    /// Cells suppressed so that the primary ones cannot be recomputed from margins.
    pub secondary: Vec<usize>,
    pub rounded_to: Option<u32>,
}

/// The verdict on one output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub kind: OutputKind,
    pub profile: Profile,
    pub outcome: Outcome,
    /// Per rule that ran.
    pub summary: Vec<(Check, CheckSummary)>,
    /// Everything that is not a plain pass, worst first.
    pub findings: Vec<Finding>,
    /// Per cell, for tables (row-major).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub cells: Vec<Outcome>,
    /// After the protection asked for, for tables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<Published>,
}

impl Report {
    /// Findings of one rule.
    pub fn of(&self, check: Check) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.check == check)
    }

    /// The rules that failed (what an exception would have to name).
    pub fn failed_checks(&self) -> Vec<Check> {
        let mut v: Vec<Check> = self
            .summary
            .iter()
            .filter(|(_, s)| s.fail > 0)
            .map(|(c, _)| *c)
            .collect();
        v.dedup();
        v
    }
}

/// The kinds of output a researcher may declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    Frequency,
    Magnitude,
    Summary,
    Regression,
    Survival,
    Histogram,
    Chart,
    File,
}

impl OutputKind {
    pub const ALL: [OutputKind; 8] = [
        OutputKind::Frequency,
        OutputKind::Magnitude,
        OutputKind::Summary,
        OutputKind::Regression,
        OutputKind::Survival,
        OutputKind::Histogram,
        OutputKind::Chart,
        OutputKind::File,
    ];

    pub fn code(self) -> &'static str {
        match self {
            OutputKind::Frequency => "frequency",
            OutputKind::Magnitude => "magnitude",
            OutputKind::Summary => "summary",
            OutputKind::Regression => "regression",
            OutputKind::Survival => "survival",
            OutputKind::Histogram => "histogram",
            OutputKind::Chart => "chart",
            OutputKind::File => "file",
        }
    }

    pub fn parse(s: &str) -> Option<OutputKind> {
        OutputKind::ALL.into_iter().find(|k| k.code() == s)
    }
}

/// An output to check, in one of the declared kinds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Output {
    /// Counts per cell, one to four dimensions.
    Frequency(Table),
    /// Sums or means per cell.
    Magnitude(Table),
    Summary(SummaryOutput),
    Regression(RegressionOutput),
    /// Kaplan–Meier rows with numbers at risk.
    Survival {
        rows: Vec<SurvivalRow>,
    },
    Histogram(HistogramOutput),
    /// The counts a chart shows, checked as a frequency table.
    Chart(Table),
    /// A figure or any other file: manual review only.
    File {
        name: String,
    },
}

impl Output {
    pub fn kind(&self) -> OutputKind {
        match self {
            Output::Frequency(_) => OutputKind::Frequency,
            Output::Magnitude(_) => OutputKind::Magnitude,
            Output::Summary(_) => OutputKind::Summary,
            Output::Regression(_) => OutputKind::Regression,
            Output::Survival { .. } => OutputKind::Survival,
            Output::Histogram(_) => OutputKind::Histogram,
            Output::Chart(_) => OutputKind::Chart,
            Output::File { .. } => OutputKind::File,
        }
    }
}

/// An output that cannot be checked as declared. Nothing is judged on a malformed
/// declaration: it is sent back with the place named.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdcError {
    #[error("a table has one to four dimensions; this one has {0}")]
    Dimensions(usize),
    #[error("the dimensions give {expected} cells but the table has {found}")]
    CellCount { expected: usize, found: usize },
    #[error("dimension {0:?} has no labels")]
    EmptyDimension(String),
    #[error("dimension {dim:?} lists {labels} labels but {populations} populations")]
    Populations {
        dim: String,
        labels: usize,
        populations: usize,
    },
    #[error("rounding base must be 5 or 10, not {0}")]
    RoundingBase(u32),
    #[error("a histogram has one more edge than counts ({edges} edges, {counts} counts)")]
    HistogramShape { edges: usize, counts: usize },
    #[error("{0} is not a finite number")]
    NotFinite(&'static str),
    #[error("survival rows must be in time order (row {0})")]
    SurvivalOrder(usize),
}

/// Checks one output under `rules`, applying `protection` where the kind allows it.
pub fn check(output: &Output, rules: &Rules, protection: Protection) -> Result<Report, SdcError> {
    if let Some(b) = protection.round_to
        && b != 5
        && b != 10
    {
        return Err(SdcError::RoundingBase(b));
    }
    let mut acc = Acc::default();
    let mut cells = Vec::new();
    let mut published = None;
    match output {
        Output::Frequency(t) | Output::Chart(t) => {
            let r = table::check_table(t, false, rules, protection, &mut acc)?;
            cells = r.0;
            published = r.1;
        }
        Output::Magnitude(t) => {
            let r = table::check_table(t, true, rules, protection, &mut acc)?;
            cells = r.0;
            published = r.1;
        }
        Output::Summary(s) => other::check_summary(s, rules, &mut acc)?,
        Output::Regression(r) => other::check_regression(r, rules, &mut acc)?,
        Output::Survival { rows } => other::check_survival(rows, rules, &mut acc)?,
        Output::Histogram(h) => other::check_histogram(h, rules, &mut acc)?,
        Output::File { name } => acc.table_level(
            Check::Manual,
            Outcome::Review,
            format!("{name}: a file is judged by a person only"),
        ),
    }
    Ok(acc.finish(output.kind(), rules.profile, cells, published))
}

/// Collects findings and per-rule counts while the checks run.
#[derive(Default)]
pub(crate) struct Acc {
    summary: Vec<(Check, CheckSummary)>,
    findings: Vec<Finding>,
    outcome: Option<Outcome>,
}

impl Acc {
    fn slot(&mut self, check: Check) -> &mut CheckSummary {
        let i = match self.summary.iter().position(|(c, _)| *c == check) {
            Some(i) => i,
            None => {
                self.summary.push((check, CheckSummary::default()));
                self.summary.len() - 1
            }
        };
        &mut self.summary[i].1
    }

    /// Counts `n` cells that passed `check`.
    pub(crate) fn passed(&mut self, check: Check, n: u64) {
        self.slot(check).pass += n;
        self.outcome = Some(self.outcome.unwrap_or(Outcome::Pass).max(Outcome::Pass));
    }

    pub(crate) fn find(&mut self, f: Finding) {
        let s = self.slot(f.check);
        match f.outcome {
            Outcome::Pass => s.pass += 1,
            Outcome::Review => s.review += 1,
            Outcome::Fail => s.fail += 1,
        }
        self.outcome = Some(self.outcome.unwrap_or(Outcome::Pass).max(f.outcome));
        if f.outcome != Outcome::Pass {
            self.findings.push(f);
        }
    }

    pub(crate) fn table_level(&mut self, check: Check, outcome: Outcome, evidence: String) {
        self.find(Finding {
            check,
            outcome,
            cell: None,
            labels: Vec::new(),
            value: None,
            limit: None,
            evidence,
        });
    }

    /// Raises the output's verdict without a finding of its own (protection applied).
    pub(crate) fn at_least(&mut self, o: Outcome) {
        self.outcome = Some(self.outcome.unwrap_or(Outcome::Pass).max(o));
    }

    fn finish(
        mut self,
        kind: OutputKind,
        profile: Profile,
        cells: Vec<Outcome>,
        published: Option<Published>,
    ) -> Report {
        // Worst first; within a verdict, in the order the checks found them.
        self.findings.sort_by_key(|f| std::cmp::Reverse(f.outcome));
        Report {
            kind,
            profile,
            outcome: self.outcome.unwrap_or(Outcome::Review),
            summary: self.summary,
            findings: self.findings,
            cells,
            published,
        }
    }
}

/// Formats a figure without a trailing `.0` for whole numbers.
pub(crate) fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

#[cfg(test)]
mod tests;
