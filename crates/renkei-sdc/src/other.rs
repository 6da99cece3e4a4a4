//! Outputs other than tables: summary statistics, regressions, survival tables and
//! histograms.

use crate::{Acc, Check, Finding, Outcome, Rules, SdcError, num};
use serde::{Deserialize, Serialize};

/// Summary statistics of one variable over `n` persons.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryOutput {
    pub variable: String,
    pub n: u64,
    #[serde(default)]
    pub mean: Option<f64>,
    #[serde(default)]
    pub sd: Option<f64>,
    #[serde(default)]
    pub median: Option<f64>,
    /// (share, value) pairs, e.g. (0.25, 61.0).
    #[serde(default)]
    pub percentiles: Vec<(f64, f64)>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

/// A fitted model's coefficients and residual degrees of freedom.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RegressionOutput {
    pub coefficients: Vec<(String, f64)>,
    pub residual_dof: u64,
}

/// One step of a Kaplan–Meier table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SurvivalRow {
    pub time: f64,
    pub at_risk: u64,
    pub events: u64,
    #[serde(default)]
    pub censored: u64,
}

/// Bin edges (one more than the counts) and the count per bin.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HistogramOutput {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

fn level(
    check: Check,
    outcome: Outcome,
    value: Option<f64>,
    limit: Option<f64>,
    evidence: String,
) -> Finding {
    Finding {
        check,
        outcome,
        cell: None,
        labels: Vec::new(),
        value,
        limit,
        evidence,
    }
}

pub(crate) fn check_summary(
    s: &SummaryOutput,
    rules: &Rules,
    acc: &mut Acc,
) -> Result<(), SdcError> {
    let figures = [s.mean, s.sd, s.median, s.min, s.max];
    if figures.iter().flatten().any(|v| !v.is_finite())
        || s.percentiles
            .iter()
            .any(|(p, v)| !p.is_finite() || !v.is_finite())
    {
        return Err(SdcError::NotFinite("a summary statistic"));
    }
    let t = rules.threshold;
    if s.n < t {
        acc.find(level(
            Check::Threshold,
            Outcome::Fail,
            Some(s.n as f64),
            Some(t as f64),
            format!("{}: n = {} persons < {t}", s.variable, s.n),
        ));
    } else {
        acc.passed(Check::Threshold, 1);
    }
    for (what, v) in [("minimum", s.min), ("maximum", s.max)] {
        if let Some(v) = v {
            if rules.min_max_allowed {
                acc.passed(Check::MinMax, 1);
            } else {
                acc.find(level(
                    Check::MinMax,
                    Outcome::Fail,
                    Some(v),
                    None,
                    format!(
                        "{}: the {what} ({}) is one person's value",
                        s.variable,
                        num(v)
                    ),
                ));
            }
        }
    }
    // A percentile in a tail with fewer than the threshold beyond it is close to one
    // person's value.
    for &(p, v) in &s.percentiles {
        let beyond = (p.min(1.0 - p).max(0.0) * s.n as f64).floor() as u64;
        if beyond < t {
            acc.find(level(
                Check::MinMax,
                Outcome::Review,
                Some(v),
                Some(t as f64),
                format!(
                    "{}: the {}th percentile has {beyond} persons beyond it (< {t})",
                    s.variable,
                    num(p * 100.0)
                ),
            ));
        } else {
            acc.passed(Check::MinMax, 1);
        }
    }
    Ok(())
}

pub(crate) fn check_regression(
    r: &RegressionOutput,
    rules: &Rules,
    acc: &mut Acc,
) -> Result<(), SdcError> {
    if r.coefficients.iter().any(|(_, v)| !v.is_finite()) {
        return Err(SdcError::NotFinite("a coefficient"));
    }
    if r.residual_dof < rules.regression_min_dof {
        acc.find(level(
            Check::Regression,
            Outcome::Fail,
            Some(r.residual_dof as f64),
            Some(rules.regression_min_dof as f64),
            format!(
                "residual degrees of freedom = {} < {}",
                r.residual_dof, rules.regression_min_dof
            ),
        ));
    } else {
        acc.passed(Check::Regression, 1);
    }
    Ok(())
}

pub(crate) fn check_survival(
    rows: &[SurvivalRow],
    rules: &Rules,
    acc: &mut Acc,
) -> Result<(), SdcError> {
    validate_survival(rows)?;
    let t = rules.threshold;
    for r in rows {
        let mut ok = true;
        if r.at_risk > 0 && r.at_risk < t {
            ok = false;
            acc.find(level(
                Check::Survival,
                Outcome::Fail,
                Some(r.at_risk as f64),
                Some(t as f64),
                format!(
                    "time {}: {} at risk < {t}: cut the tail",
                    num(r.time),
                    r.at_risk
                ),
            ));
        }
        if r.events > 0 && r.events < t {
            ok = false;
            acc.find(level(
                Check::Survival,
                Outcome::Fail,
                Some(r.events as f64),
                Some(t as f64),
                format!(
                    "time {}: {} events < {t}: pool the steps",
                    num(r.time),
                    r.events
                ),
            ));
        }
        if r.censored > 0 && r.censored < t {
            ok = false;
            acc.find(level(
                Check::Survival,
                Outcome::Review,
                Some(r.censored as f64),
                Some(t as f64),
                format!("time {}: {} censored < {t}", num(r.time), r.censored),
            ));
        }
        if ok {
            acc.passed(Check::Survival, 1);
        }
    }
    Ok(())
}

fn validate_survival(rows: &[SurvivalRow]) -> Result<(), SdcError> {
    for (k, w) in rows.windows(2).enumerate() {
        if !w[1].time.is_finite() || w[1].time < w[0].time {
            return Err(SdcError::SurvivalOrder(k + 1));
        }
    }
    if rows.first().is_some_and(|r| !r.time.is_finite()) {
        return Err(SdcError::SurvivalOrder(0));
    }
    Ok(())
}

/// Pools consecutive steps until each reported step has at least `threshold` events
/// and censorings (or none), and cuts the tail where fewer than `threshold` remain at
/// risk. A pooled step is reported at its last time, with the numbers at risk at its
/// first. Leftover events at the end join the last full step.
pub fn pool_survival(rows: &[SurvivalRow], threshold: u64) -> Vec<SurvivalRow> {
    let small = |n: u64| n > 0 && n < threshold;
    let mut out: Vec<SurvivalRow> = Vec::new();
    let mut open: Option<SurvivalRow> = None;
    for r in rows.iter().filter(|r| r.at_risk >= threshold) {
        let cur = match open.take() {
            None => *r,
            Some(o) => SurvivalRow {
                time: r.time,
                at_risk: o.at_risk,
                events: o.events + r.events,
                censored: o.censored + r.censored,
            },
        };
        if small(cur.events) || small(cur.censored) {
            open = Some(cur);
        } else {
            out.push(cur);
        }
    }
    if let Some(rest) = open {
        match out.last_mut() {
            Some(last) => {
                last.time = rest.time;
                last.events += rest.events;
                last.censored += rest.censored;
            }
            None => {
                if !small(rest.events) && !small(rest.censored) {
                    out.push(rest);
                }
            }
        }
    }
    out
}

pub(crate) fn check_histogram(
    h: &HistogramOutput,
    rules: &Rules,
    acc: &mut Acc,
) -> Result<(), SdcError> {
    if h.edges.len() != h.counts.len() + 1 {
        return Err(SdcError::HistogramShape {
            edges: h.edges.len(),
            counts: h.counts.len(),
        });
    }
    if h.edges.iter().any(|e| !e.is_finite()) {
        return Err(SdcError::NotFinite("a bin edge"));
    }
    let t = rules.threshold;
    let bin = |k: usize| format!("bin [{}, {})", num(h.edges[k]), num(h.edges[k + 1]));
    for (k, &n) in h.counts.iter().enumerate() {
        if n == 0 {
            acc.find(level(
                Check::Histogram,
                Outcome::Review,
                Some(0.0),
                None,
                format!("{} is empty", bin(k)),
            ));
        } else if n < t {
            acc.find(level(
                Check::Threshold,
                Outcome::Fail,
                Some(n as f64),
                Some(t as f64),
                format!("{} = {n} persons < {t}", bin(k)),
            ));
        } else {
            acc.passed(Check::Threshold, 1);
        }
    }
    if let (Some(first), Some(last)) = (h.edges.first(), h.edges.last()) {
        acc.find(level(
            Check::Histogram,
            Outcome::Review,
            None,
            None,
            format!(
                "outer edges {} and {}: make sure they are not the smallest and largest values",
                num(*first),
                num(*last)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(time: f64, at_risk: u64, events: u64) -> SurvivalRow {
        SurvivalRow {
            time,
            at_risk,
            events,
            censored: 0,
        }
    }

    #[test]
    fn survival_steps_are_pooled_until_each_has_enough_events_and_the_thin_tail_is_cut() {
        let rows = [
            row(1.0, 100, 12),
            row(2.0, 88, 3),
            row(3.0, 85, 4),
            row(4.0, 81, 5),
            row(5.0, 9, 2),
        ];
        let pooled = pool_survival(&rows, 10);
        assert_eq!(pooled, vec![row(1.0, 100, 12), row(4.0, 88, 12)]);
    }
}
