//! Frequency and magnitude tables: one to four dimensions, cells in row-major order.

use crate::{
    Acc, Check, Finding, Outcome, Protection, Published, Rules, SdcError, ZeroPolicy, num,
    round::round_half_even, suppress,
};
use serde::{Deserialize, Serialize};

/// One dimension of a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dim {
    pub name: String,
    pub labels: Vec<String>,
    #[serde(default)]
    pub kind: DimKind,
}

impl Dim {
    pub fn plain(name: &str, labels: &[&str]) -> Dim {
        Dim {
            name: name.to_string(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            kind: DimKind::Plain,
        }
    }

    pub fn with_kind(mut self, kind: DimKind) -> Dim {
        self.kind = kind;
        self
    }
}

/// What a dimension's labels are, where a rule depends on it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DimKind {
    #[default]
    Plain,
    /// Age bands such as `40-44` and `100+`.
    AgeBand,
    /// Municipalities, with each label's population where known (from the masters).
    Municipality { populations: Vec<Option<u64>> },
    /// Insurer type (crossing it with municipality is not allowed).
    InsurerType,
    /// Time of death in hour bins (`0-1`, `02:00-03:59`).
    DeathHour,
    /// Birth weight in gram bins (`2500-2599`, `<300`, `4000+`).
    BirthWeight,
}

/// What a count counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Unit {
    #[default]
    Persons,
    /// Medical institutions.
    Institutions,
    Insurers,
    /// Prescriptions of a drug; the patient count, where known, is the cell's `persons`.
    Prescriptions {
        injection: bool,
    },
    /// Rows of a result, not known to be persons.
    Rows,
}

impl Unit {
    fn word(self) -> &'static str {
        match self {
            Unit::Persons => "persons",
            Unit::Institutions => "institutions",
            Unit::Insurers => "insurers",
            Unit::Prescriptions { .. } => "prescriptions",
            Unit::Rows => "rows",
        }
    }
}

/// What a magnitude table publishes per cell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    #[default]
    Count,
    Sum,
    Mean,
}

/// What the checks know of one cell. For a frequency table `count` is the published
/// figure; for a magnitude table it is the number of contributors and `total`, `top`
/// the sum of their values and the two largest of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CellStats {
    pub count: u64,
    /// Distinct persons behind the cell, where known and not already `count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persons: Option<u64>,
    #[serde(default)]
    pub total: f64,
    #[serde(default)]
    pub top: [f64; 2],
    #[serde(default)]
    pub negative: bool,
    #[serde(default)]
    pub missing: bool,
}

impl CellStats {
    pub fn count(n: u64) -> CellStats {
        CellStats {
            count: n,
            total: n as f64,
            ..CellStats::default()
        }
    }

    /// A magnitude cell from its contributors' values.
    pub fn from_values(values: &[f64]) -> CellStats {
        let mut top = [0.0f64; 2];
        let mut total = 0.0;
        let mut negative = false;
        for &v in values {
            total += v;
            negative |= v < 0.0;
            if v > top[0] {
                top = [v, top[0]];
            } else if v > top[1] {
                top[1] = v;
            }
        }
        CellStats {
            count: values.len() as u64,
            persons: None,
            total,
            top,
            negative,
            missing: values.iter().any(|v| v.is_nan()),
        }
    }
}

/// A frequency or magnitude table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub dims: Vec<Dim>,
    #[serde(default)]
    pub unit: Unit,
    #[serde(default)]
    pub statistic: Statistic,
    pub cells: Vec<CellStats>,
    /// Whether totals per label of each dimension (and the grand total) are published.
    #[serde(default)]
    pub margins: bool,
}

impl Table {
    /// A frequency table of person counts.
    pub fn counts(dims: Vec<Dim>, counts: &[u64]) -> Table {
        Table {
            dims,
            unit: Unit::Persons,
            statistic: Statistic::Count,
            cells: counts.iter().map(|&n| CellStats::count(n)).collect(),
            margins: false,
        }
    }

    pub fn with_margins(mut self) -> Table {
        self.margins = true;
        self
    }

    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().map(|d| d.labels.len()).collect()
    }

    /// The labels of cell `i`, one per dimension.
    pub fn labels_of(&self, i: usize) -> Vec<String> {
        let mut idx = index_of(&self.shape(), i);
        idx.iter_mut()
            .zip(&self.dims)
            .map(|(k, d)| d.labels.get(*k).cloned().unwrap_or_default())
            .collect()
    }

    /// The figure published for a cell before protection.
    pub fn value(&self, i: usize, magnitude: bool) -> f64 {
        let c = &self.cells[i];
        match (magnitude, self.statistic) {
            (false, _) | (true, Statistic::Count) => c.count as f64,
            (true, Statistic::Sum) => c.total,
            (true, Statistic::Mean) if c.count > 0 => c.total / c.count as f64,
            (true, Statistic::Mean) => 0.0,
        }
    }

    fn validate(&self) -> Result<(), SdcError> {
        if self.dims.is_empty() || self.dims.len() > 4 {
            return Err(SdcError::Dimensions(self.dims.len()));
        }
        for d in &self.dims {
            if d.labels.is_empty() {
                return Err(SdcError::EmptyDimension(d.name.clone()));
            }
            if let DimKind::Municipality { populations } = &d.kind
                && populations.len() != d.labels.len()
            {
                return Err(SdcError::Populations {
                    dim: d.name.clone(),
                    labels: d.labels.len(),
                    populations: populations.len(),
                });
            }
        }
        let expected = self
            .dims
            .iter()
            .try_fold(1usize, |a, d| a.checked_mul(d.labels.len()))
            .unwrap_or(usize::MAX);
        if expected != self.cells.len() {
            return Err(SdcError::CellCount {
                expected,
                found: self.cells.len(),
            });
        }
        if self
            .cells
            .iter()
            .any(|c| !c.total.is_finite() || !c.top.iter().all(|t| t.is_finite()))
        {
            return Err(SdcError::NotFinite("a cell's total or largest values"));
        }
        Ok(())
    }
}

/// Row-major multi-index of flat index `i`.
pub(crate) fn index_of(shape: &[usize], mut i: usize) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (d, &n) in shape.iter().enumerate().rev() {
        idx[d] = i % n;
        i /= n;
    }
    idx
}

fn cell_words(labels: &[String]) -> String {
    format!("cell ({})", labels.join(", "))
}

/// A failure that suppressing the cell cures (as opposed to one about the table's
/// design, which only re-aggregation cures).
struct Primary {
    cell: usize,
    finding: Finding,
}

/// Checks a table; returns per-cell outcomes and the table as it may be published.
pub(crate) fn check_table(
    t: &Table,
    magnitude: bool,
    rules: &Rules,
    protection: Protection,
    acc: &mut Acc,
) -> Result<(Vec<Outcome>, Option<Published>), SdcError> {
    t.validate()?;
    design_checks(t, rules, acc);
    let shape = t.shape();
    let mut outcomes = vec![Outcome::Pass; t.cells.len()];

    // Per-cell thresholds (municipality populations raise them).
    let muni = t
        .dims
        .iter()
        .enumerate()
        .find_map(|(d, dim)| match &dim.kind {
            DimKind::Municipality { populations } => Some((d, populations)),
            _ => None,
        });
    let strides: Vec<usize> = (0..shape.len())
        .map(|d| shape[d + 1..].iter().product())
        .collect();

    let mut primaries: Vec<Primary> = Vec::new();
    let mut reviews: Vec<Finding> = Vec::new();
    let (mut threshold_pass, mut zeros_pass, mut dom_pass, mut p_pass) = (0u64, 0u64, 0u64, 0u64);
    let unit = t.unit;
    let finding =
        |check: Check, outcome: Outcome, i: usize, value: f64, limit: Option<f64>, ev: String| {
            Finding {
                check,
                outcome,
                cell: Some(i),
                labels: Vec::new(),
                value: Some(value),
                limit,
                evidence: ev,
            }
        };

    for (i, c) in t.cells.iter().enumerate() {
        let mut threshold = rules.threshold;
        if let Some((d, pops)) = muni {
            let k = (i / strides[d]) % shape[d];
            if let Some(Some(p)) = pops.get(k)
                && *p < rules.municipality_small
            {
                threshold = threshold.max(rules.municipality_small_threshold);
            }
        }
        // Who the cell's count is about: persons where known.
        let (contributors, limit_check) = match unit {
            Unit::Persons => (Some(c.persons.unwrap_or(c.count)), Check::Threshold),
            Unit::Rows => (Some(c.persons.unwrap_or(c.count)), Check::Threshold),
            Unit::Prescriptions { .. } => (c.persons, Check::Threshold),
            Unit::Institutions | Unit::Insurers => (None, Check::Institutions),
        };
        let check = if threshold > rules.threshold {
            Check::Municipality
        } else {
            limit_check
        };
        if c.count == 0 && contributors.unwrap_or(0) == 0 {
            match rules.zeros {
                ZeroPolicy::Allow => zeros_pass += 1,
                ZeroPolicy::Review => reviews.push(finding(
                    Check::Zeros,
                    Outcome::Review,
                    i,
                    0.0,
                    None,
                    String::new(),
                )),
            }
            continue;
        }
        match unit {
            Unit::Institutions | Unit::Insurers => {
                if c.count < rules.institutions_min {
                    let f = finding(
                        Check::Institutions,
                        if rules.institutions_fail {
                            Outcome::Fail
                        } else {
                            Outcome::Review
                        },
                        i,
                        c.count as f64,
                        Some(rules.institutions_min as f64),
                        format!("= {} {} < {}", c.count, unit.word(), rules.institutions_min),
                    );
                    if rules.institutions_fail {
                        primaries.push(Primary {
                            cell: i,
                            finding: f,
                        });
                    } else {
                        reviews.push(f);
                    }
                } else {
                    threshold_pass += 1;
                }
            }
            _ => match contributors {
                Some(n) if n > 0 && n < threshold => primaries.push(Primary {
                    cell: i,
                    finding: finding(
                        check,
                        Outcome::Fail,
                        i,
                        n as f64,
                        Some(threshold as f64),
                        format!(
                            "= {n} {} < {threshold}",
                            if c.persons.is_some() {
                                "persons"
                            } else {
                                unit.word()
                            }
                        ),
                    ),
                }),
                Some(_) => threshold_pass += 1,
                None => {
                    // Drug data whose patient count is unknown.
                    let min = match unit {
                        Unit::Prescriptions { injection: true } => {
                            rules.prescriptions_injection_min
                        }
                        _ => rules.prescriptions_oral_min,
                    };
                    if c.count < min {
                        primaries.push(Primary {
                            cell: i,
                            finding: finding(
                                Check::Drug,
                                Outcome::Fail,
                                i,
                                c.count as f64,
                                Some(min as f64),
                                format!(
                                    "= {} prescriptions < {min} (patient count unknown)",
                                    c.count
                                ),
                            ),
                        });
                    } else {
                        threshold_pass += 1;
                    }
                }
            },
        }
        if magnitude {
            if c.negative {
                reviews.push(finding(
                    Check::Negative,
                    Outcome::Review,
                    i,
                    c.total,
                    None,
                    "has negative values: dominance is not defined".to_string(),
                ));
            } else {
                if rules.dominated(c.top, c.total) {
                    let share = c.top[..usize::from(rules.dominance_n.clamp(1, 2))]
                        .iter()
                        .sum::<f64>()
                        / c.total;
                    primaries.push(Primary {
                        cell: i,
                        finding: finding(
                            Check::Dominance,
                            Outcome::Fail,
                            i,
                            share,
                            Some(rules.dominance_k),
                            format!(
                                ": the {} largest make {}% of the total (limit {}%)",
                                rules.dominance_n.clamp(1, 2),
                                num((share * 1000.0).round() / 10.0),
                                num(rules.dominance_k * 100.0)
                            ),
                        ),
                    });
                } else {
                    dom_pass += 1;
                }
                if rules.p_fails(c.top, c.total) {
                    let ratio = (c.total - c.top[0] - c.top[1]) / c.top[0];
                    primaries.push(Primary {
                        cell: i,
                        finding: finding(
                            Check::PPercent,
                            Outcome::Fail,
                            i,
                            ratio,
                            Some(rules.p_ratio),
                            format!(
                                ": the rest is {}% of the largest (p% rule: {}%)",
                                num((ratio * 1000.0).round() / 10.0),
                                num(rules.p_ratio * 100.0)
                            ),
                        ),
                    });
                } else {
                    p_pass += 1;
                }
            }
            if c.missing && rules.missing_review {
                reviews.push(finding(
                    Check::Missing,
                    Outcome::Review,
                    i,
                    c.count as f64,
                    None,
                    "has missing values".to_string(),
                ));
            }
        }
    }
    acc.passed(
        match unit {
            Unit::Institutions | Unit::Insurers => Check::Institutions,
            _ => Check::Threshold,
        },
        threshold_pass,
    );
    if zeros_pass > 0 {
        acc.passed(Check::Zeros, zeros_pass);
    }
    if magnitude {
        acc.passed(Check::Dominance, dom_pass);
        acc.passed(Check::PPercent, p_pass);
    }

    if t.margins {
        margin_checks(t, rules, acc);
    }

    // Words for the cell-level findings, now that we know which there are.
    // (Built once per finding with as few allocations as possible: a fine table may
    // have hundreds of thousands of failing cells.)
    let named = |mut f: Finding| {
        if let Some(i) = f.cell {
            let mut idx = [0usize; 4];
            let mut rest = i;
            for d in (0..shape.len()).rev() {
                idx[d] = rest % shape[d];
                rest /= shape[d];
            }
            f.labels = t
                .dims
                .iter()
                .zip(idx)
                .map(|(d, k)| d.labels[k].clone())
                .collect();
            let mut ev = String::with_capacity(16 + f.evidence.len() + 8 * shape.len());
            ev.push_str("cell (");
            for (k, l) in f.labels.iter().enumerate() {
                if k > 0 {
                    ev.push_str(", ");
                }
                ev.push_str(l);
            }
            ev.push(')');
            if f.evidence.is_empty() {
                ev.push_str(" = 0");
            } else {
                if !f.evidence.starts_with(':') {
                    ev.push(' ');
                }
                ev.push_str(&f.evidence);
            }
            f.evidence = ev;
        }
        f
    };
    for f in reviews {
        if let Some(i) = f.cell {
            outcomes[i] = outcomes[i].max(f.outcome);
        }
        acc.find(named(f));
    }

    let values: Vec<f64> = (0..t.cells.len()).map(|i| t.value(i, magnitude)).collect();
    let mut primary_cells: Vec<usize> = primaries.iter().map(|p| p.cell).collect();
    primary_cells.sort_unstable();
    primary_cells.dedup();

    let mut secondary = Vec::new();
    let mut suppressed_ok = false;
    if protection.suppress && !primary_cells.is_empty() {
        if t.margins {
            match suppress::complementary(&shape, &values, &primary_cells) {
                Ok(s) => {
                    secondary = s;
                    suppressed_ok = true;
                }
                Err(why) => acc.table_level(Check::Suppression, Outcome::Fail, why),
            }
        } else {
            suppressed_ok = true;
        }
    }
    for p in primaries {
        let mut f = p.finding;
        if suppressed_ok {
            f.outcome = Outcome::Review;
            f.evidence.push_str(" (suppressed)");
        }
        outcomes[p.cell] = outcomes[p.cell].max(f.outcome);
        acc.find(named(f));
    }
    for &i in &secondary {
        outcomes[i] = outcomes[i].max(Outcome::Review);
        let labels = t.labels_of(i);
        acc.find(Finding {
            check: Check::Suppression,
            outcome: Outcome::Review,
            cell: Some(i),
            evidence: format!(
                "{} suppressed as a complementary cell, so that suppressed cells cannot be recomputed from the margins",
                cell_words(&labels)
            ),
            labels,
            value: Some(values[i]),
            limit: None,
        });
    }
    if suppressed_ok {
        acc.at_least(Outcome::Review);
    }

    let mut cells: Vec<Option<f64>> = values.iter().map(|&v| Some(v)).collect();
    if suppressed_ok {
        for &i in primary_cells.iter().chain(&secondary) {
            cells[i] = None;
        }
    }
    if let Some(base) = protection.round_to {
        let counts = !magnitude || t.statistic == Statistic::Count;
        if counts {
            for v in cells.iter_mut().flatten() {
                *v = round_half_even(*v, base);
            }
            acc.table_level(
                Check::Rounding,
                Outcome::Review,
                format!("counts rounded to base {base} (halves to even); totals are sums of rounded cells"),
            );
        } else {
            acc.table_level(
                Check::Rounding,
                Outcome::Review,
                "rounding applies to counts; this table's sums or means are not rounded"
                    .to_string(),
            );
        }
    }
    let published = Published {
        cells,
        primary: if suppressed_ok {
            primary_cells
        } else {
            Vec::new()
        },
        secondary,
        rounded_to: protection.round_to,
    };
    Ok((outcomes, Some(published)))
}

/// Totals per label of each dimension and the grand total are published figures too.
fn margin_checks(t: &Table, rules: &Rules, acc: &mut Acc) {
    if matches!(t.unit, Unit::Institutions | Unit::Insurers) {
        return;
    }
    let shape = t.shape();
    let contributors = |c: &CellStats| match t.unit {
        Unit::Prescriptions { .. } => c.persons.unwrap_or(0),
        _ => c.persons.unwrap_or(c.count),
    };
    let mut sums: Vec<Vec<u64>> = shape.iter().map(|&n| vec![0; n]).collect();
    let mut grand = 0u64;
    for (i, c) in t.cells.iter().enumerate() {
        let idx = index_of(&shape, i);
        let n = contributors(c);
        grand += n;
        for (d, &k) in idx.iter().enumerate() {
            sums[d][k] += n;
        }
    }
    let mut pass = 0;
    let fail = |what: String, n: u64, acc: &mut Acc| {
        acc.find(Finding {
            check: Check::Threshold,
            outcome: Outcome::Fail,
            cell: None,
            labels: Vec::new(),
            value: Some(n as f64),
            limit: Some(rules.threshold as f64),
            evidence: format!("{what} = {n} < {}: aggregate further", rules.threshold),
        });
    };
    if grand > 0 && grand < rules.threshold {
        fail("grand total".to_string(), grand, acc);
    } else {
        pass += 1;
    }
    if shape.len() > 1 {
        for (d, dim) in t.dims.iter().enumerate() {
            for (k, &n) in sums[d].iter().enumerate() {
                if n > 0 && n < rules.threshold {
                    fail(format!("total ({} = {})", dim.name, dim.labels[k]), n, acc);
                } else {
                    pass += 1;
                }
            }
        }
    }
    acc.passed(Check::Threshold, pass);
}

/// Rules about the table's design rather than one cell: bands, geography, row counts.
fn design_checks(t: &Table, rules: &Rules, acc: &mut Acc) {
    let has = |f: fn(&DimKind) -> bool| t.dims.iter().any(|d| f(&d.kind));
    if has(|k| matches!(k, DimKind::Municipality { .. })) && has(|k| *k == DimKind::InsurerType) {
        acc.table_level(
            Check::Geography,
            Outcome::Fail,
            "municipality crossed with insurer type is not published".to_string(),
        );
    }
    if t.unit == Unit::Rows && t.cells.iter().any(|c| c.persons.is_none()) {
        acc.table_level(
            Check::RowCounts,
            Outcome::Review,
            "cells count rows, not persons: one person may be counted more than once".to_string(),
        );
    }
    for d in &t.dims {
        match &d.kind {
            DimKind::Municipality { populations } => {
                for (label, p) in d.labels.iter().zip(populations) {
                    match p {
                        Some(p) if *p < rules.municipality_hidden => acc.find(Finding {
                            check: Check::Municipality,
                            outcome: Outcome::Fail,
                            cell: None,
                            labels: vec![label.clone()],
                            value: Some(*p as f64),
                            limit: Some(rules.municipality_hidden as f64),
                            evidence: format!(
                                "{} = {label}: population {p} < {}: never shown as a unit",
                                d.name, rules.municipality_hidden
                            ),
                        }),
                        Some(_) => acc.passed(Check::Municipality, 1),
                        None => acc.find(Finding {
                            check: Check::Municipality,
                            outcome: Outcome::Review,
                            cell: None,
                            labels: vec![label.clone()],
                            value: None,
                            limit: None,
                            evidence: format!("{} = {label}: population unknown", d.name),
                        }),
                    }
                }
            }
            DimKind::AgeBand => band_checks(d, rules, acc, Check::AgeBands),
            DimKind::DeathHour | DimKind::BirthWeight => band_checks(d, rules, acc, Check::Bins),
            DimKind::Plain | DimKind::InsurerType => {}
        }
    }
}

fn band_checks(d: &Dim, rules: &Rules, acc: &mut Acc, check: Check) {
    for label in &d.labels {
        let verdict = match (&d.kind, parse_band(label)) {
            (_, None) => Some((
                Outcome::Review,
                "label not understood as a band".to_string(),
            )),
            (DimKind::AgeBand, Some(b)) => age_verdict(b, rules),
            (DimKind::DeathHour, Some(b)) => {
                let width = b.width();
                match width {
                    Some(w) if w < rules.death_hours * 60 => Some((
                        Outcome::Fail,
                        format!(
                            "time of death in bins of {} minutes; at least {} hours",
                            w, rules.death_hours
                        ),
                    )),
                    _ => None,
                }
            }
            (DimKind::BirthWeight, Some(b)) => weight_verdict(b, rules),
            _ => None,
        };
        match verdict {
            None => acc.passed(check, 1),
            Some((outcome, why)) => acc.find(Finding {
                check,
                outcome,
                cell: None,
                labels: vec![label.clone()],
                value: None,
                limit: None,
                evidence: format!("{} = {label}: {why}", d.name),
            }),
        }
    }
}

fn age_verdict(b: Band, rules: &Rules) -> Option<(Outcome, String)> {
    let top = rules.age_top;
    match (b.lo, b.hi) {
        (Some(lo), None) if lo > top => {
            Some((Outcome::Fail, format!("ages from {top} are one band")))
        }
        (Some(lo), Some(hi)) => {
            let width = hi.saturating_sub(lo) + 1;
            if hi >= top {
                Some((Outcome::Fail, format!("ages from {top} are one band")))
            } else if width < rules.age_band_years && lo < 20 {
                Some((
                    Outcome::Review,
                    format!(
                        "bands under {} years below age 20 need a justification",
                        rules.age_band_years
                    ),
                ))
            } else if width < rules.age_band_years {
                Some((
                    Outcome::Fail,
                    format!("bands of at least {} years", rules.age_band_years),
                ))
            } else {
                None
            }
        }
        _ => None,
    }
}

fn weight_verdict(b: Band, rules: &Rules) -> Option<(Outcome, String)> {
    let (low, high) = (rules.birth_weight_low, rules.birth_weight_high);
    match (b.lo, b.hi) {
        (None, Some(hi)) if hi > low + 1 => None,
        (Some(lo), None) if lo > high => Some((
            Outcome::Fail,
            format!("weights of {high} g and more are one bin"),
        )),
        (Some(lo), Some(hi)) => {
            let width = hi.saturating_sub(lo) + 1;
            if width < rules.birth_weight_grams {
                Some((
                    Outcome::Fail,
                    format!("bins of at least {} g", rules.birth_weight_grams),
                ))
            } else if lo > 0 && lo <= low {
                Some((
                    Outcome::Fail,
                    format!("weights of {low} g and less are one bin"),
                ))
            } else if hi >= high {
                Some((
                    Outcome::Fail,
                    format!("weights of {high} g and more are one bin"),
                ))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A band label read as inclusive bounds; open ends are `None`. Minutes are kept for
/// clock times, so `02:00-03:59` is 120 minutes wide; whole hours `0-1` are read as
/// two hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Band {
    pub lo: Option<u32>,
    pub hi: Option<u32>,
    clock: bool,
}

impl Band {
    /// Width in minutes for clock or hour bins.
    fn width(self) -> Option<u32> {
        let (lo, hi) = (self.lo?, self.hi?);
        if self.clock {
            Some(hi.saturating_sub(lo) + 1)
        } else {
            Some((hi.saturating_sub(lo) + 1) * 60)
        }
    }
}

pub(crate) fn parse_band(label: &str) -> Option<Band> {
    let mut s: String = label
        .trim()
        .chars()
        .map(|c| match c {
            '–' | '—' | '〜' | '~' | '～' | '－' | '−' => '-',
            '＋' => '+',
            c => c,
        })
        .collect();
    for unit in ["歳", "才", "grams", "gram", "g", "時", "h"] {
        s = s.replace(unit, "");
    }
    s = s.replace("以上", "+").replace("以下", "").replace(' ', "");
    let clock = s.contains(':');
    let parse = |x: &str| -> Option<u32> {
        if let Some((h, m)) = x.split_once(':') {
            Some(h.parse::<u32>().ok()? * 60 + m.parse::<u32>().ok()?)
        } else {
            x.parse().ok()
        }
    };
    let band = if let Some(lo) = s.strip_suffix('+') {
        Band {
            lo: Some(parse(lo)?),
            hi: None,
            clock,
        }
    } else if let Some(hi) = s.strip_prefix('≤').or_else(|| s.strip_prefix("<=")) {
        Band {
            lo: None,
            hi: Some(parse(hi)?),
            clock,
        }
    } else if let Some(hi) = s.strip_prefix('<') {
        Band {
            lo: None,
            hi: Some(parse(hi)?.checked_sub(1)?),
            clock,
        }
    } else if let Some(lo) = s.strip_prefix('≥').or_else(|| s.strip_prefix(">=")) {
        Band {
            lo: Some(parse(lo)?),
            hi: None,
            clock,
        }
    } else if let Some((a, b)) = s.split_once('-') {
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return None,
            (true, false) => Band {
                lo: None,
                hi: Some(parse(b)?),
                clock,
            },
            (false, true) => Band {
                lo: Some(parse(a)?),
                hi: None,
                clock,
            },
            (false, false) => Band {
                lo: Some(parse(a)?),
                hi: Some(parse(b)?),
                clock,
            },
        }
    } else {
        let n = parse(&s)?;
        Band {
            lo: Some(n),
            hi: Some(n),
            clock,
        }
    };
    if let (Some(lo), Some(hi)) = (band.lo, band.hi)
        && hi < lo
    {
        return None;
    }
    Some(band)
}
