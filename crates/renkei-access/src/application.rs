//! What an application records, and its validation.
//!
//! One application covers any set of the catalogue's datasets. It carries what the
//! NDB's 提供申出書 asks (applicant, purpose, necessity, methods and plan, linkage,
//! publication, requested data with its period and extraction conditions, period and
//! place of use, safety measures, the people who will handle the data) and what the
//! platform adds (the public-interest statement, why pseudonymized data, brought-in
//! software with its hash, conflicts of interest). A draft may be incomplete (every
//! field may be left out); at submission [`validate`] names every missing or invalid
//! field at once.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::Date;

/// The purposes an application may state (one, with its own text beside it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// 公衆衛生の向上.
    PublicHealth,
    /// 施策の企画・立案.
    Policy,
    /// 統計の作成.
    Statistics,
    /// 学術研究 (commercial drug development included; see `commercial`).
    Research,
    /// 教育.
    Education,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 5] = [
        Purpose::PublicHealth,
        Purpose::Policy,
        Purpose::Statistics,
        Purpose::Research,
        Purpose::Education,
    ];

    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            Purpose::PublicHealth => "public_health",
            Purpose::Policy => "policy",
            Purpose::Statistics => "statistics",
            Purpose::Research => "research",
            Purpose::Education => "education",
        }
    }
}

/// Rows of one table to extract: variables and row filters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TableRequest {
    /// The table.
    pub table: String,
    /// Its variables (columns) requested.
    pub variables: Vec<String>,
}

/// What is requested of one dataset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataRequest {
    /// The dataset's catalogue id.
    pub dataset: String,
    /// Tables and variables.
    pub tables: Vec<TableRequest>,
    /// First day of the data wanted.
    pub from: Option<Date>,
    /// Last day of the data wanted.
    pub to: Option<Date>,
    /// Ages (at the event) wanted, inclusive.
    pub ages: Option<(u16, u16)>,
    /// Condition codes that select people (ICD-10 or the receipt masters' codes).
    pub conditions: Vec<String>,
}

/// A piece of software brought into the analysis environment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Software {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// SHA-256 of what is brought in, as 64 hexadecimal digits.
    pub sha256: String,
}

/// The application's content, as the applicant writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Application {
    /// The study's title (ja).
    pub title: String,
    /// The applicant's institution.
    pub institution: String,
    /// User ids of the people who will handle the data (the applicant included if
    /// they will).
    pub handlers: Vec<String>,
    /// The stated purpose.
    pub purpose: Option<Purpose>,
    /// The purpose in the applicant's words.
    pub purpose_text: String,
    /// A plain-language summary for the public register (ja).
    pub summary_ja: String,
    /// The same in English (optional).
    pub summary_en: String,
    /// Why the study is in the public interest.
    pub public_interest: String,
    /// Whether the use is commercial.
    pub commercial: Option<bool>,
    /// Why pseudonymized rather than anonymized data is needed.
    pub why_pseudonymized: String,
    /// Methods and plan.
    pub methods: String,
    /// The data requested, per dataset.
    pub data: Vec<DataRequest>,
    /// Why the requested datasets must be linked (required when more than one).
    pub linkage_reason: String,
    /// First day of use.
    pub use_from: Option<Date>,
    /// Last day of use.
    pub use_to: Option<Date>,
    /// Where and how the data will be analysed.
    pub place_of_use: String,
    /// How and when results will be published.
    pub publication_plan: String,
    /// The safety measures of the place of use.
    pub safety_measures: String,
    /// Software brought in.
    pub software: Vec<Software>,
    /// Conflicts of interest ("none" must be said, not left blank).
    pub conflicts_of_interest: String,
}

/// What the catalogue says about the columns an application names.
pub trait Schema {
    /// The column, if the dataset has that table and column.
    fn column(&self, dataset: &str, table: &str, variable: &str) -> Option<ColumnKind>;
}

/// What matters about a requested column for review.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnKind {
    /// Whether it is a quasi-identifier (age, sex, region, dates, rare codes): the
    /// committee weighs how many are requested together.
    pub quasi_identifier: bool,
}

/// One problem found at submission: the field (a path such as
/// `data[1].tables[0].variables[3]`) and a stable code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Where.
    pub field: String,
    /// What (`missing`, `unknown_variable`, `not_accredited`, ...).
    pub code: String,
}

/// The longest period of use one application may ask (amendments extend it).
pub const MAX_USE_DAYS: i64 = 5 * 366;

/// Every problem that stops `app` from being submitted, in form order. `accredited`
/// says whether a user id holds a current accreditation (checked again on every
/// access; here so the applicant hears of it before the committee does).
pub fn validate(
    app: &Application,
    schema: &dyn Schema,
    accredited: &dyn Fn(&str) -> bool,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut problem = |field: String, code: &str| {
        out.push(Problem {
            field,
            code: code.to_owned(),
        })
    };
    let required = [
        ("title", &app.title),
        ("institution", &app.institution),
        ("purpose_text", &app.purpose_text),
        ("summary_ja", &app.summary_ja),
        ("public_interest", &app.public_interest),
        ("why_pseudonymized", &app.why_pseudonymized),
        ("methods", &app.methods),
        ("place_of_use", &app.place_of_use),
        ("publication_plan", &app.publication_plan),
        ("safety_measures", &app.safety_measures),
        ("conflicts_of_interest", &app.conflicts_of_interest),
    ];
    for (field, value) in required {
        if value.trim().is_empty() {
            problem(field.to_owned(), "missing");
        }
    }
    if app.purpose.is_none() {
        problem("purpose".into(), "missing");
    }
    if app.commercial.is_none() {
        problem("commercial".into(), "missing");
    }
    if app.handlers.is_empty() {
        problem("handlers".into(), "missing");
    }
    let mut seen = BTreeSet::new();
    for (i, h) in app.handlers.iter().enumerate() {
        if !seen.insert(h) {
            problem(format!("handlers[{i}]"), "duplicate");
        } else if !accredited(h) {
            problem(format!("handlers[{i}]"), "not_accredited");
        }
    }
    match (app.use_from, app.use_to) {
        (None, _) => problem("use_from".into(), "missing"),
        (_, None) => problem("use_to".into(), "missing"),
        (Some(a), Some(b)) if b < a => problem("use_to".into(), "before_start"),
        (Some(a), Some(b)) if (b - a).whole_days() > MAX_USE_DAYS => {
            problem("use_to".into(), "period_too_long")
        }
        _ => {}
    }
    if app.data.is_empty() {
        problem("data".into(), "missing");
    }
    let mut datasets = BTreeSet::new();
    for (d, req) in app.data.iter().enumerate() {
        let at = format!("data[{d}]");
        if !datasets.insert(req.dataset.as_str()) {
            problem(format!("{at}.dataset"), "duplicate");
        }
        if req.tables.is_empty() {
            problem(format!("{at}.tables"), "missing");
        }
        for (t, tr) in req.tables.iter().enumerate() {
            if tr.variables.is_empty() {
                problem(format!("{at}.tables[{t}].variables"), "missing");
            }
            for (v, var) in tr.variables.iter().enumerate() {
                if schema.column(&req.dataset, &tr.table, var).is_none() {
                    problem(
                        format!("{at}.tables[{t}].variables[{v}]"),
                        "unknown_variable",
                    );
                }
            }
        }
        if let (Some(a), Some(b)) = (req.from, req.to)
            && b < a
        {
            problem(format!("{at}.to"), "before_start");
        }
        if let Some((lo, hi)) = req.ages
            && (hi < lo || hi > 130)
        {
            problem(format!("{at}.ages"), "invalid_range");
        }
        for (c, code) in req.conditions.iter().enumerate() {
            let ok = !code.is_empty()
                && code.len() <= 12
                && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
            if !ok {
                problem(format!("{at}.conditions[{c}]"), "invalid_code");
            }
        }
    }
    if datasets.len() > 1 && app.linkage_reason.trim().is_empty() {
        problem("linkage_reason".into(), "missing");
    }
    for (i, s) in app.software.iter().enumerate() {
        if s.name.trim().is_empty() {
            problem(format!("software[{i}].name"), "missing");
        }
        if s.version.trim().is_empty() {
            problem(format!("software[{i}].version"), "missing");
        }
        if s.sha256.len() != 64 || !s.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            problem(format!("software[{i}].sha256"), "not_sha256");
        }
    }
    out
}

/// What the form shows as the researcher picks, and the committee beside the
/// application: how much is asked, and what would be linked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestSummary {
    /// Variables requested, over every dataset.
    pub variables: usize,
    /// Of them, quasi-identifiers.
    pub quasi_identifiers: usize,
    /// The datasets that would be linked (empty when only one is requested).
    pub linked: Vec<String>,
}

/// The summary of `app`'s data request (unknown variables are not counted).
pub fn summarize(app: &Application, schema: &dyn Schema) -> RequestSummary {
    let mut s = RequestSummary::default();
    let mut counted = BTreeSet::new();
    for req in &app.data {
        for tr in &req.tables {
            for var in &tr.variables {
                let Some(kind) = schema.column(&req.dataset, &tr.table, var) else {
                    continue;
                };
                if !counted.insert((req.dataset.as_str(), tr.table.as_str(), var.as_str())) {
                    continue;
                }
                s.variables += 1;
                if kind.quasi_identifier {
                    s.quasi_identifiers += 1;
                }
            }
        }
    }
    let datasets: BTreeSet<&str> = app.data.iter().map(|d| d.dataset.as_str()).collect();
    if datasets.len() > 1 {
        s.linked = datasets.into_iter().map(str::to_owned).collect();
    }
    s
}

/// One difference between two versions of an application, for reviewers: the field
/// (a path such as `data[ndb_claims].tables[receipts].variables[age_band]`), and its
/// value before and after (`None`: absent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Where.
    pub field: String,
    /// Before.
    pub before: Option<String>,
    /// After.
    pub after: Option<String>,
}

/// What changed from `before` to `after`, in field order. Lists are compared by what
/// they hold, not by position: datasets, tables and software by their name, and lists
/// of plain values (variables, people, codes) as sets. So adding one variable is one
/// change, wherever it was inserted.
pub fn diff(before: &Application, after: &Application) -> Vec<Change> {
    let flat = |a: &Application| {
        let mut out = std::collections::BTreeMap::new();
        flatten(
            &serde_json::to_value(a).unwrap_or_default(),
            String::new(),
            &mut out,
        );
        out
    };
    let (b, a) = (flat(before), flat(after));
    let fields: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    fields
        .into_iter()
        .filter(|f| b.get(*f) != a.get(*f))
        .map(|f| Change {
            field: f.clone(),
            before: b.get(f).cloned(),
            after: a.get(f).cloned(),
        })
        .collect()
}

fn flatten(
    v: &serde_json::Value,
    path: String,
    out: &mut std::collections::BTreeMap<String, String>,
) {
    use serde_json::Value;
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::Null => {}
        Value::String(s) if s.is_empty() => {}
        Value::Object(m) => {
            for (k, x) in m {
                flatten(x, join(k), out);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                let key = match x {
                    Value::Object(o) => ["dataset", "table", "name"]
                        .iter()
                        .find_map(|k| o.get(*k).and_then(Value::as_str))
                        .map(str::to_owned)
                        .unwrap_or_else(|| i.to_string()),
                    Value::Array(_) => i.to_string(),
                    scalar => {
                        let text = scalar_text(scalar);
                        out.insert(format!("{path}[{text}]"), "✓".into());
                        continue;
                    }
                };
                flatten(x, format!("{path}[{key}]"), out);
            }
        }
        scalar => {
            out.insert(path, scalar_text(scalar));
        }
    }
}

fn scalar_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn diff_names_each_change_once_wherever_it_was_made() {
        let before = Application {
            title: "A".into(),
            handlers: vec!["u1".into()],
            data: vec![DataRequest {
                dataset: "ndb".into(),
                tables: vec![TableRequest {
                    table: "receipts".into(),
                    variables: vec!["sex".into(), "age".into()],
                }],
                ..Default::default()
            }],
            use_to: Some(date!(2027 - 03 - 31)),
            ..Default::default()
        };
        assert!(diff(&before, &before).is_empty());
        let mut after = before.clone();
        after.data[0].tables[0].variables.insert(0, "region".into());
        after.handlers.push("u2".into());
        after.use_to = Some(date!(2028 - 03 - 31));
        let changes = diff(&before, &after);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "data[ndb].tables[receipts].variables[region]",
                "handlers[u2]",
                "use_to"
            ]
        );
        assert_eq!(changes[2].before.as_deref(), Some("2027-03-31"));
        assert_eq!(changes[2].after.as_deref(), Some("2028-03-31"));
        assert_eq!(changes[0].before, None);
    }

    proptest::proptest! {
        /// A diff is empty exactly when nothing that is shown differs, and swapping the
        /// sides swaps before and after.
        #[test]
        fn diff_is_symmetric(a in "[a-c]{0,2}", b in "[a-c]{0,2}", v1 in proptest::collection::vec("[x-z]", 0..3), v2 in proptest::collection::vec("[x-z]", 0..3)) {
            let x = Application { title: a.clone(), handlers: v1.clone(), ..Default::default() };
            let y = Application { title: b.clone(), handlers: v2.clone(), ..Default::default() };
            let d = diff(&x, &y);
            let back = diff(&y, &x);
            proptest::prop_assert_eq!(d.len(), back.len());
            for (f, r) in d.iter().zip(&back) {
                proptest::prop_assert_eq!(&f.before, &r.after);
            }
            let sx: BTreeSet<_> = v1.iter().collect();
            let sy: BTreeSet<_> = v2.iter().collect();
            proptest::prop_assert_eq!(d.is_empty(), a == b && sx == sy);
        }
    }

    use super::*;
    use time::macros::date;

    struct Cat;
    impl Schema for Cat {
        fn column(&self, dataset: &str, table: &str, variable: &str) -> Option<ColumnKind> {
            match (dataset, table, variable) {
                ("ndb_claims", "receipts", "sex" | "age_band" | "service_month") => {
                    Some(ColumnKind {
                        quasi_identifier: true,
                    })
                }
                ("ndb_claims", "diagnoses", "disease_code") | ("deaths", "deaths", "cause") => {
                    Some(ColumnKind {
                        quasi_identifier: false,
                    })
                }
                _ => None,
            }
        }
    }

    fn good() -> Application {
        Application {
            title: "糖尿病の受療と死亡".into(),
            institution: "合成大学".into(),
            handlers: vec!["r1".into(), "r2".into()],
            purpose: Some(Purpose::Research),
            purpose_text: "受療状況と死亡の関連を調べる".into(),
            summary_ja: "糖尿病の人の受診と亡くなった原因の関係を調べます。".into(),
            summary_en: String::new(),
            public_interest: "重症化予防の施策に役立つ".into(),
            commercial: Some(false),
            why_pseudonymized: "受療と死亡を個人単位で連結するため".into(),
            methods: "コホート研究".into(),
            data: vec![
                DataRequest {
                    dataset: "ndb_claims".into(),
                    tables: vec![
                        TableRequest {
                            table: "receipts".into(),
                            variables: vec!["sex".into(), "age_band".into()],
                        },
                        TableRequest {
                            table: "diagnoses".into(),
                            variables: vec!["disease_code".into()],
                        },
                    ],
                    from: Some(date!(2024 - 04 - 01)),
                    to: Some(date!(2025 - 03 - 31)),
                    ages: Some((40, 74)),
                    conditions: vec!["E11".into()],
                },
                DataRequest {
                    dataset: "deaths".into(),
                    tables: vec![TableRequest {
                        table: "deaths".into(),
                        variables: vec!["cause".into()],
                    }],
                    ..Default::default()
                },
            ],
            linkage_reason: "死亡の転帰を得るため".into(),
            use_from: Some(date!(2026 - 12 - 01)),
            use_to: Some(date!(2028 - 11 - 30)),
            place_of_use: "Visiting 環境（オンサイトリサーチセンター）".into(),
            publication_plan: "学術論文".into(),
            safety_measures: "施錠した分析室".into(),
            software: vec![Software {
                name: "R".into(),
                version: "4.4.1".into(),
                sha256: "a".repeat(64),
            }],
            conflicts_of_interest: "なし".into(),
        }
    }

    fn accredited(u: &str) -> bool {
        u != "stranger"
    }

    #[test]
    fn a_complete_application_has_no_problems() {
        assert_eq!(validate(&good(), &Cat, &accredited), vec![]);
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let mut a = Application::default();
        a.handlers = vec!["stranger".into(), "r1".into(), "r1".into()];
        a.data = vec![
            DataRequest {
                dataset: "ndb_claims".into(),
                tables: vec![TableRequest {
                    table: "receipts".into(),
                    variables: vec!["sex".into(), "name".into()],
                }],
                from: Some(date!(2025 - 01 - 01)),
                to: Some(date!(2024 - 01 - 01)),
                ages: Some((80, 20)),
                conditions: vec!["E11; DROP".into()],
            },
            DataRequest {
                dataset: "deaths".into(),
                ..Default::default()
            },
        ];
        a.software = vec![Software {
            name: "R".into(),
            version: String::new(),
            sha256: "xyz".into(),
        }];
        a.use_from = Some(date!(2027 - 01 - 01));
        a.use_to = Some(date!(2026 - 01 - 01));
        let got: Vec<(String, String)> = validate(&a, &Cat, &accredited)
            .into_iter()
            .map(|p| (p.field, p.code))
            .collect();
        let want = [
            ("title", "missing"),
            ("institution", "missing"),
            ("purpose_text", "missing"),
            ("summary_ja", "missing"),
            ("public_interest", "missing"),
            ("why_pseudonymized", "missing"),
            ("methods", "missing"),
            ("place_of_use", "missing"),
            ("publication_plan", "missing"),
            ("safety_measures", "missing"),
            ("conflicts_of_interest", "missing"),
            ("purpose", "missing"),
            ("commercial", "missing"),
            ("handlers[0]", "not_accredited"),
            ("handlers[2]", "duplicate"),
            ("use_to", "before_start"),
            ("data[0].tables[0].variables[1]", "unknown_variable"),
            ("data[0].to", "before_start"),
            ("data[0].ages", "invalid_range"),
            ("data[0].conditions[0]", "invalid_code"),
            ("data[1].tables", "missing"),
            ("linkage_reason", "missing"),
            ("software[0].version", "missing"),
            ("software[0].sha256", "not_sha256"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(f, c)| ((*f).to_owned(), (*c).to_owned()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_period_of_use_over_five_years_is_refused() {
        let mut a = good();
        a.use_to = Some(date!(2032 - 12 - 31));
        assert_eq!(
            validate(&a, &Cat, &accredited),
            vec![Problem {
                field: "use_to".into(),
                code: "period_too_long".into()
            }]
        );
    }

    #[test]
    fn the_summary_counts_variables_quasi_identifiers_and_links() {
        let mut a = good();
        // A variable named twice counts once; an unknown one not at all.
        a.data[0].tables[0].variables.push("sex".into());
        a.data[0].tables[0].variables.push("nope".into());
        assert_eq!(
            summarize(&a, &Cat),
            RequestSummary {
                variables: 4,
                quasi_identifiers: 2,
                linked: vec!["deaths".into(), "ndb_claims".into()],
            }
        );
        a.data.pop();
        assert!(summarize(&a, &Cat).linked.is_empty());
    }
}
