//! Declaring what a pending output is, and checking it: the researcher says which
//! columns of the result are the table's dimensions and which is its count, and the
//! disclosure checks ([`renkei_sdc`]) judge it cell by cell. The researcher runs them
//! as often as they like before asking for release; every run is audited.

use crate::WorkspaceError;
use crate::query::{OUTPUT_SEAL, OutputBody, OutputRow, PendingOutput};
use renkei_access::PermitInForce;
use renkei_core::{Action, Caller, Outcome};
use renkei_sdc::{
    Dim, DimKind, Output, OutputKind, Profile, Protection, Report, Rules, Table, Unit,
};
use renkei_store::sqlx;
use serde::{Deserialize, Serialize};

/// The largest table the checks build from a result (cells, after crossing the
/// dimensions' labels).
pub const MAX_CELLS: usize = 1_000_000;

/// What a dimension's values are, where a rule depends on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DimRole {
    /// Labels no rule looks at.
    #[default]
    Plain,
    /// Age bands (`40-44`, `100+`).
    AgeBand,
    /// Municipality codes; populations come from the masters.
    Municipality,
    /// Insurer type.
    InsurerType,
    /// Time of death in hour bins.
    DeathHour,
    /// Birth weight in gram bins.
    BirthWeight,
}

impl DimRole {
    /// Every role, in the order the form offers them.
    pub const ALL: [DimRole; 6] = [
        DimRole::Plain,
        DimRole::AgeBand,
        DimRole::Municipality,
        DimRole::InsurerType,
        DimRole::DeathHour,
        DimRole::BirthWeight,
    ];

    /// Stable code, as forms and declarations carry it.
    pub fn code(self) -> &'static str {
        match self {
            DimRole::Plain => "plain",
            DimRole::AgeBand => "age_band",
            DimRole::Municipality => "municipality",
            DimRole::InsurerType => "insurer_type",
            DimRole::DeathHour => "death_hour",
            DimRole::BirthWeight => "birth_weight",
        }
    }

    /// The role with this code.
    pub fn parse(s: &str) -> Option<DimRole> {
        DimRole::ALL.into_iter().find(|r| r.code() == s)
    }
}

/// A dimension: a column of the result and what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DimSpec {
    /// The result's column.
    pub column: String,
    /// What its values are.
    #[serde(default)]
    pub role: DimRole,
}

/// What an output is, declared by the researcher.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Declaration {
    /// `frequency` or `chart` (a chart's counts are checked as a frequency table).
    pub kind: OutputKind,
    /// One to four dimension columns.
    pub dims: Vec<DimSpec>,
    /// The column holding each cell's count.
    pub count: String,
    /// What the count counts.
    #[serde(default)]
    pub unit: Unit,
    /// Whether totals per label and the grand total will be published.
    #[serde(default)]
    pub margins: bool,
    /// Which publication rules give the defaults.
    #[serde(default = "japan")]
    pub profile: Profile,
    /// Suppression and rounding asked for.
    #[serde(default)]
    pub protection: Protection,
}

fn japan() -> Profile {
    Profile::Japan
}

/// An output as its page shows it: the result, the declaration and the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct OutputDetail {
    /// What the list shows.
    #[serde(flatten)]
    pub meta: PendingOutput,
    /// The query that made it.
    pub sql: String,
    /// The result's columns and rows.
    pub columns: Vec<String>,
    /// The rows, as text.
    pub rows: Vec<Vec<Option<String>>>,
    /// Whether the query gave more rows than were kept.
    pub truncated: bool,
    /// What the researcher declared it to be, if they have.
    pub declaration: Option<Declaration>,
    /// The table the declaration describes.
    pub table: Option<Table>,
    /// The checks' verdict on it.
    pub report: Option<Report>,
}

/// Builds the table a declaration describes from a result's rows. Cells the result
/// does not list are zero (a GROUP BY lists only non-empty cells).
pub fn build_table(
    columns: &[String],
    rows: &[Vec<Option<String>>],
    d: &Declaration,
    population: &(dyn Fn(&str) -> Option<u64> + Sync),
) -> Result<Table, WorkspaceError> {
    let bad = |m: String| WorkspaceError::Declaration(m);
    if !matches!(d.kind, OutputKind::Frequency | OutputKind::Chart) {
        return Err(bad(format!(
            "a {} output is not built from a result's rows; declare this result as a frequency table or a chart",
            d.kind.code()
        )));
    }
    if d.dims.is_empty() || d.dims.len() > 4 {
        return Err(bad(format!(
            "a table has one to four dimensions, not {}",
            d.dims.len()
        )));
    }
    let col = |name: &str| {
        columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| bad(format!("the result has no column {name:?}")))
    };
    let count_col = col(&d.count)?;
    let mut dim_cols = Vec::new();
    for s in &d.dims {
        let k = col(&s.column)?;
        if k == count_col {
            return Err(bad(format!(
                "{:?} is the count; it cannot also be a dimension",
                s.column
            )));
        }
        if dim_cols.contains(&k) {
            return Err(bad(format!("{:?} is named twice", s.column)));
        }
        dim_cols.push(k);
    }
    // Labels in the order the result first shows them.
    let mut labels: Vec<Vec<String>> = vec![Vec::new(); dim_cols.len()];
    let mut index: Vec<std::collections::HashMap<String, usize>> =
        vec![Default::default(); dim_cols.len()];
    let mut keyed: Vec<(Vec<usize>, u64)> = Vec::with_capacity(rows.len());
    for (r, row) in rows.iter().enumerate() {
        let mut key = Vec::with_capacity(dim_cols.len());
        for (d, &c) in dim_cols.iter().enumerate() {
            let v = row
                .get(c)
                .cloned()
                .flatten()
                .unwrap_or_else(|| "NULL".to_string());
            let n = index[d].len();
            let k = *index[d].entry(v.clone()).or_insert_with(|| {
                labels[d].push(v);
                n
            });
            key.push(k);
        }
        let count = row
            .get(count_col)
            .cloned()
            .flatten()
            .ok_or_else(|| bad(format!("row {}: the count is empty", r + 1)))?;
        let count: u64 = count
            .trim()
            .parse::<u64>()
            .or_else(|_| {
                count
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1e15)
                    .map(|f| f as u64)
                    .ok_or(())
            })
            .map_err(|_| {
                bad(format!(
                    "row {}: the count {count:?} is not a whole number",
                    r + 1
                ))
            })?;
        keyed.push((key, count));
    }
    let shape: Vec<usize> = labels.iter().map(|l| l.len().max(1)).collect();
    let cells = shape
        .iter()
        .try_fold(1usize, |a, &n| a.checked_mul(n))
        .filter(|&n| n <= MAX_CELLS)
        .ok_or_else(|| bad(format!("the dimensions give more than {MAX_CELLS} cells")))?;
    let mut counts = vec![0u64; cells];
    let mut seen = vec![false; cells];
    for (r, (key, n)) in keyed.into_iter().enumerate() {
        let i = key.iter().zip(&shape).fold(0usize, |a, (&k, &s)| a * s + k);
        if seen[i] {
            return Err(bad(format!("row {}: the same cell appears twice", r + 1)));
        }
        seen[i] = true;
        counts[i] = n;
    }
    let dims = d
        .dims
        .iter()
        .zip(labels)
        .map(|(s, labels)| {
            let labels = if labels.is_empty() {
                vec!["(none)".to_string()]
            } else {
                labels
            };
            let kind = match s.role {
                DimRole::Plain => DimKind::Plain,
                DimRole::AgeBand => DimKind::AgeBand,
                DimRole::Municipality => DimKind::Municipality {
                    populations: labels.iter().map(|l| population(l)).collect(),
                },
                DimRole::InsurerType => DimKind::InsurerType,
                DimRole::DeathHour => DimKind::DeathHour,
                DimRole::BirthWeight => DimKind::BirthWeight,
            };
            Dim {
                name: s.column.clone(),
                labels,
                kind,
            }
        })
        .collect();
    let mut t = Table::counts(dims, &counts);
    t.unit = d.unit;
    t.margins = d.margins;
    Ok(t)
}

/// The table a declaration describes, and the checks' verdict on it.
fn judge(
    body: &OutputBody,
    d: &Declaration,
    population: &(dyn Fn(&str) -> Option<u64> + Sync),
) -> Result<(Table, Report), WorkspaceError> {
    let t = build_table(&body.columns, &body.rows, d, population)?;
    let r = renkei_sdc::check(
        &as_output(d, t.clone()),
        &Rules::for_profile(d.profile),
        d.protection,
    )
    .map_err(|e| WorkspaceError::Declaration(e.to_string()))?;
    Ok((t, r))
}

fn detail(
    meta: PendingOutput,
    body: OutputBody,
    declaration: Option<Declaration>,
    judged: Option<(Table, Report)>,
) -> OutputDetail {
    let (table, report) = judged.unzip();
    OutputDetail {
        meta,
        sql: body.sql,
        columns: body.columns,
        rows: body.rows,
        truncated: body.truncated,
        declaration,
        table,
        report,
    }
}

/// The output a declaration says the table is (a chart's counts are checked as a
/// frequency table's, under its own kind).
fn as_output(d: &Declaration, t: Table) -> Output {
    match d.kind {
        OutputKind::Chart => Output::Chart(t),
        _ => Output::Frequency(t),
    }
}

impl crate::Workspaces {
    /// One of the caller's outputs in this project, unsealed, with its verdict if it
    /// has been declared.
    pub async fn output(
        &self,
        caller: &Caller,
        permit: &PermitInForce,
        id: &str,
        population: &(dyn Fn(&str) -> Option<u64> + Sync),
    ) -> Result<OutputDetail, WorkspaceError> {
        let (meta, sealed, declaration) = self.output_row(permit, id).await?;
        let body = self.unseal(caller, permit, id, &sealed).await?;
        let declaration: Option<Declaration> =
            declaration.and_then(|d| serde_json::from_str(&d).ok());
        let judged = match &declaration {
            Some(d) => Some(judge(&body, d, population)?),
            None => None,
        };
        Ok(detail(meta, body, declaration, judged))
    }

    /// Declares what an output is and runs the checks on it (audited as
    /// `output.check`, with the verdict and the rules that failed). A declaration that
    /// does not fit the result is refused with the place named, and nothing is kept.
    pub async fn check_output(
        &self,
        caller: &Caller,
        permit: &PermitInForce,
        id: &str,
        declaration: Declaration,
        population: &(dyn Fn(&str) -> Option<u64> + Sync),
    ) -> Result<OutputDetail, WorkspaceError> {
        let (mut meta, sealed, _) = self.output_row(permit, id).await?;
        let body = self.unseal(caller, permit, id, &sealed).await?;
        if body.truncated {
            // Cells beyond the cut would be read as zero: a wrong table, judged wrongly.
            return Err(WorkspaceError::Declaration(format!(
                "the result was cut at {} rows, so the table would be incomplete; aggregate further so that it fits",
                body.rows.len()
            )));
        }
        let (table, report) = judge(&body, &declaration, population)?;
        let json = serde_json::to_string(&declaration)
            .map_err(|e| WorkspaceError::Declaration(e.to_string()))?;
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "UPDATE outputs SET declaration = $1, verdict = $2 WHERE id = $3 AND project = $4",
        )
        .bind(&json)
        .bind(report.outcome.code())
        .bind(id)
        .bind(permit.project())
        .execute(&mut *tx)
        .await?;
        let failed: Vec<&str> = report.failed_checks().iter().map(|c| c.code()).collect();
        self.audit
            .append_in(
                &mut tx,
                &[caller
                    .event(Action::OutputCheck, format!("project:{}", permit.project()), Outcome::Allowed)
                    .detail(serde_json::json!({
                        "output": id, "kind": declaration.kind.code(), "profile": declaration.profile.code(),
                        "verdict": report.outcome.code(), "failed": failed,
                        "suppress": declaration.protection.suppress, "round_to": declaration.protection.round_to,
                    }))],
            )
            .await?;
        tx.commit().await?;
        meta.verdict = Some(report.outcome.code().to_string());
        Ok(detail(meta, body, Some(declaration), Some((table, report))))
    }

    async fn output_row(
        &self,
        permit: &PermitInForce,
        id: &str,
    ) -> Result<(PendingOutput, String, Option<String>), WorkspaceError> {
        type Full = (
            String,
            String,
            String,
            String,
            String,
            i64,
            i64,
            Option<String>,
            String,
            Option<String>,
        );
        let row: Option<Full> = sqlx::query_as(
            "SELECT id, title, status, query_id, plan_hash, rows_out, created_at, verdict, sealed, declaration \
             FROM outputs WHERE id = $1 AND project = $2 AND user_id = $3",
        )
        .bind(id)
        .bind(permit.project())
        .bind(permit.user().as_str())
        .fetch_optional(self.store.pool())
        .await?;
        let Some((a, b, c, d, e, f, g, h, sealed, declaration)) = row else {
            return Err(WorkspaceError::NoOutput);
        };
        let meta: OutputRow = (a, b, c, d, e, f, g, h);
        Ok((PendingOutput::from(meta), sealed, declaration))
    }

    async fn unseal(
        &self,
        caller: &Caller,
        permit: &PermitInForce,
        id: &str,
        sealed: &str,
    ) -> Result<OutputBody, WorkspaceError> {
        let Some(open) = self.open(caller, permit).await? else {
            return Err(WorkspaceError::NoExtract);
        };
        let plain = open
            .sealer(OUTPUT_SEAL)
            .open(sealed, &format!("output:{id}"))
            .map_err(|_| WorkspaceError::Extract("the output cannot be opened".to_string()))?;
        serde_json::from_slice(&plain).map_err(|e| WorkspaceError::Extract(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    fn row(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|s| Some(s.to_string())).collect()
    }

    fn decl(dims: &[&str], count: &str) -> Declaration {
        Declaration {
            kind: OutputKind::Frequency,
            dims: dims
                .iter()
                .map(|c| DimSpec {
                    column: c.to_string(),
                    role: DimRole::Plain,
                })
                .collect(),
            count: count.to_string(),
            unit: Unit::Persons,
            margins: false,
            profile: Profile::Japan,
            protection: Protection::default(),
        }
    }

    #[test]
    fn a_grouped_result_becomes_a_table_with_missing_cells_zero() {
        let c = cols(&["sex", "band", "n"]);
        let rows = vec![
            row(&["F", "40-44", "12"]),
            row(&["F", "45-49", "7"]),
            row(&["M", "40-44", "30.0"]),
        ];
        let t = build_table(&c, &rows, &decl(&["sex", "band"], "n"), &|_| None).unwrap();
        assert_eq!(t.shape(), vec![2, 2]);
        let counts: Vec<u64> = t.cells.iter().map(|c| c.count).collect();
        assert_eq!(counts, vec![12, 7, 30, 0]);
        assert_eq!(t.labels_of(3), vec!["M".to_string(), "45-49".to_string()]);
    }

    #[test]
    fn declarations_that_do_not_fit_the_result_name_the_place() {
        let c = cols(&["sex", "n"]);
        let rows = vec![row(&["F", "12"]), row(&["F", "x"])];
        let err = |d: Declaration, rows: &[Vec<Option<String>>]| {
            build_table(&c, rows, &d, &|_| None)
                .unwrap_err()
                .to_string()
        };
        assert!(err(decl(&["age"], "n"), &rows).contains("no column \"age\""));
        assert!(err(decl(&["n"], "n"), &rows).contains("is the count"));
        assert!(err(decl(&["sex"], "n"), &rows).contains("row 2: the count \"x\""));
        assert!(
            err(decl(&["sex"], "n"), &[row(&["F", "1"]), row(&["F", "2"])])
                .contains("row 2: the same cell appears twice")
        );
        assert!(err(decl(&[], "n"), &rows).contains("one to four"));
        let mut d = decl(&["sex"], "n");
        d.kind = OutputKind::Regression;
        assert!(err(d, &rows).contains("not built from a result"));
    }
}
