//! What the public sees of the catalogue: declarations with their labels, and the
//! quality profile with small counts suppressed. Pages, the JSON API and the DCAT export
//! all go through these views, so no path shows an unsuppressed count.
//!
//! Disclosure control: a count from 1 to 9 is shown as `<10` and every other count is
//! rounded to the nearest 10 (`public_count`), so no subtraction of published
//! figures brings a small cell back. Percentages are computed from the rounded figures
//! and withheld where the count is suppressed. Minimum and maximum values are not
//! public, and the coverage period is given to the month: in a registry or the death
//! records the first and last dates are single people's events.

use crate::{
    ColType, ColumnProfile, DatasetEntry, Safety, TableProfile, profile::public_count, suppress,
};
use serde::Serialize;

/// A dataset as the public catalogue shows it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PublicDataset {
    /// Stable id.
    pub id: String,
    /// `public`, `ehr` or `private`.
    pub kind: String,
    /// Japanese name.
    pub name_ja: String,
    /// English name.
    pub name_en: String,
    /// Japanese description.
    pub description_ja: String,
    /// English description.
    pub description_en: String,
    /// Holder, Japanese.
    pub holder_ja: String,
    /// Holder, English.
    pub holder_en: String,
    /// How records accrue (monthly, yearly, event).
    pub accrual: String,
    /// Linkage-token families carried.
    pub linkage: Vec<String>,
    /// The holder's safety measures (D3), declared for private databases.
    pub safety: Option<Safety>,
    /// Code systems of the variables.
    pub code_systems: Vec<String>,
    /// Current version, if any data is loaded.
    pub version: Option<i64>,
    /// When the current version was loaded (RFC 3339).
    pub updated_at: Option<String>,
    /// Month of the earliest date in the data (YYYY-MM).
    pub coverage_from: Option<String>,
    /// Month of the latest date in the data (YYYY-MM).
    pub coverage_to: Option<String>,
    /// Records in the main (first) table, rounded to 10 and suppressed below 10.
    pub records: Option<String>,
    /// The code masters (and their versions) the current version's codes were checked
    /// against.
    pub masters: Vec<PublicMaster>,
    /// Tables.
    pub tables: Vec<PublicTable>,
}

/// A master version a dataset version was validated against.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PublicMaster {
    /// `disease`, `drug`, `procedure`, `material`, `comment`, `modifier`, `lab`.
    pub system: String,
    /// The master's name, Japanese.
    pub name_ja: String,
    /// The file it was read from (`b_20240601.txt`), or `embedded` for the curated
    /// subset built into the platform.
    pub source: String,
    /// Publication date (YYYY-MM-DD), if known.
    pub published: Option<String>,
    /// SHA-256 of the file (hex).
    pub sha256: String,
}

/// A table.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PublicTable {
    /// Name.
    pub name: String,
    /// Japanese name.
    pub name_ja: String,
    /// English name.
    pub name_en: String,
    /// Japanese description.
    pub description_ja: String,
    /// English description.
    pub description_en: String,
    /// Rows, rounded to 10 and suppressed below 10; absent before the first ingest.
    pub rows: Option<String>,
    /// Variables.
    pub variables: Vec<PublicVariable>,
}

/// A variable with its public profile.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PublicVariable {
    /// Name (the column to use in queries).
    pub name: String,
    /// Japanese label.
    pub label_ja: String,
    /// English label.
    pub label_en: String,
    /// Japanese description.
    pub description_ja: String,
    /// English description.
    pub description_en: String,
    /// `text`, `int`, `float`, `date`, `bool`, `token`, `code`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Code system.
    pub code_system: Option<String>,
    /// Unit.
    pub unit: Option<String>,
    /// Whether the value distribution is profiled.
    pub categorical: bool,
    /// Missing values (rounded to 10, suppressed below 10).
    pub missing: Option<String>,
    /// Missing as a percentage of rows, withheld when the count is suppressed.
    pub missing_pct: Option<String>,
    /// Values refused at ingest as invalid (rounded to 10, suppressed below 10).
    pub invalid: Option<String>,
    /// Invalid as a percentage, withheld when the count is suppressed.
    pub invalid_pct: Option<String>,
    /// The master this variable's codes are checked against, if any.
    pub master: Option<String>,
    /// Codes kept although the master in force did not hold them (rounded to 10,
    /// suppressed below 10).
    pub not_in_master: Option<String>,
    /// Distinct values (categorical variables), rounded to 10 and suppressed below 10.
    pub distinct: Option<String>,
    /// Most frequent values seen at least 10 times, with rounded counts (categorical
    /// variables); rarer values are not listed.
    pub top: Vec<Category>,
}

/// One value of a categorical variable.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Category {
    /// The value.
    pub value: String,
    /// How often it occurs, rounded to 10 and suppressed below 10.
    pub count: String,
}

fn ty_code(t: ColType) -> &'static str {
    match t {
        ColType::Text => "text",
        ColType::Int => "int",
        ColType::Float => "float",
        ColType::Date => "date",
        ColType::Bool => "bool",
        ColType::Token => "token",
        ColType::Code => "code",
        ColType::FreeText => "free_text",
    }
}

/// A percentage with one decimal of published (rounded) figures, unless the count
/// behind it is suppressed: a percentage of exact figures would give the count back.
fn pct(count: u64, rows: u64) -> Option<String> {
    let (c, r) = (public_count(count)?, public_count(rows)?);
    Some(if r == 0 {
        "0.0%".to_owned()
    } else {
        format!("{:.1}%", c as f64 * 100.0 / r as f64)
    })
}

/// `YYYY-MM` of a `YYYY-MM-DD` date.
fn month(date: &str) -> Option<String> {
    date.get(..7).filter(|m| m.len() == 7).map(str::to_owned)
}

fn variable(c: &crate::ColumnDecl, p: Option<&ColumnProfile>) -> PublicVariable {
    let categorical = c.categorical;
    PublicVariable {
        name: c.stored_name().to_owned(),
        label_ja: c.label_ja.clone(),
        label_en: c.label_en.clone(),
        description_ja: c.description_ja.clone(),
        description_en: c.description_en.clone(),
        ty: ty_code(c.ty).to_owned(),
        code_system: c.code_system.clone(),
        unit: c.unit.clone(),
        categorical,
        missing: p.map(|p| suppress(p.missing)),
        missing_pct: p.and_then(|p| pct(p.missing, p.present + p.missing)),
        invalid: p.map(|p| suppress(p.invalid)),
        invalid_pct: p.and_then(|p| pct(p.invalid, p.present + p.missing + p.invalid)),
        master: p.and_then(|p| p.master.clone()),
        not_in_master: p
            .filter(|p| p.master.is_some())
            .map(|p| suppress(p.not_in_master)),
        distinct: p.filter(|_| categorical).map(|p| suppress(p.distinct)),
        // A value seen fewer than 10 times is not listed at all: that a rare diagnosis
        // or programme occurs at all can single out a person in a small dataset.
        top: p
            .filter(|_| categorical)
            .map(|p| {
                p.top
                    .iter()
                    .filter_map(|(value, n)| {
                        public_count(*n).map(|_| Category {
                            value: value.clone(),
                            count: suppress(*n),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The public view of a dataset.
pub fn view(e: &DatasetEntry) -> PublicDataset {
    let d = &e.declaration.dataset;
    let cur = e.current.as_ref();
    let profile = |name: &str| -> Option<&TableProfile> {
        cur.and_then(|v| v.profile.tables.iter().find(|t| t.name == name))
    };
    let tables: Vec<PublicTable> = e
        .declaration
        .stored_tables()
        .iter()
        .map(|t| {
            let tp = profile(&t.name);
            PublicTable {
                name: t.name.clone(),
                name_ja: t.name_ja.clone(),
                name_en: t.name_en.clone(),
                description_ja: t.description_ja.clone(),
                description_en: t.description_en.clone(),
                rows: tp.map(|p| suppress(p.rows)),
                variables: t
                    .columns
                    .iter()
                    .map(|c| {
                        let cp = tp.and_then(|p| p.columns.iter().find(|x| x.name == c.name));
                        variable(c, cp)
                    })
                    .collect(),
            }
        })
        .collect();
    PublicDataset {
        id: d.id.clone(),
        kind: d.kind.clone(),
        name_ja: d.name_ja.clone(),
        name_en: d.name_en.clone(),
        description_ja: d.description_ja.clone(),
        description_en: d.description_en.clone(),
        holder_ja: d.holder_ja.clone(),
        holder_en: d.holder_en.clone(),
        accrual: d.coverage.clone(),
        linkage: d.linkage.clone(),
        safety: d.safety.clone(),
        code_systems: e.declaration.code_systems(),
        version: cur.map(|v| v.version),
        updated_at: cur.map(|v| v.created_at.to_rfc3339()),
        coverage_from: cur.and_then(|v| month(&v.coverage_from)),
        coverage_to: cur.and_then(|v| month(&v.coverage_to)),
        records: tables.first().and_then(|t| t.rows.clone()),
        masters: cur
            .map(|v| {
                v.masters
                    .iter()
                    .map(|m| PublicMaster {
                        system: m.system.code().to_owned(),
                        name_ja: m.system.name_ja().to_owned(),
                        source: m.source.clone(),
                        published: m.published.clone(),
                        sha256: m.sha256.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        tables,
    }
}

/// A search result: the dataset, and the variables that matched (as `table.variable`).
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// Index into the searched entries.
    pub index: usize,
    /// Variables whose name, label, description, code system or unit matched.
    pub variables: Vec<String>,
}

/// The longest query searched (characters); the rest is ignored.
pub const MAX_QUERY_CHARS: usize = 200;
/// The most words of a query searched.
pub const MAX_QUERY_WORDS: usize = 8;

/// The public views' text, folded once (NFKC, case and kana folded), so a search folds
/// only the query.
#[derive(Clone, Debug, Default)]
pub struct SearchIndex {
    /// Per dataset: its own text, and each variable's (`table.variable`, text).
    entries: Vec<(String, Vec<(String, String)>)>,
}

impl SearchIndex {
    /// The index of `entries`.
    pub fn new(entries: &[PublicDataset]) -> Self {
        use renkei_core::normalize::fold;
        Self {
            entries: entries
                .iter()
                .map(|d| {
                    let head = fold(
                        &[
                            d.id.as_str(),
                            &d.name_ja,
                            &d.name_en,
                            &d.description_ja,
                            &d.description_en,
                            &d.holder_ja,
                            &d.holder_en,
                            &d.linkage.join(" "),
                            &d.code_systems.join(" "),
                        ]
                        .join("\n"),
                    );
                    let vars = d
                        .tables
                        .iter()
                        .flat_map(|t| {
                            t.variables.iter().map(move |v| {
                                let text = [
                                    t.name_ja.as_str(),
                                    &t.name_en,
                                    &v.name,
                                    &v.label_ja,
                                    &v.label_en,
                                    &v.description_ja,
                                    &v.description_en,
                                    v.code_system.as_deref().unwrap_or(""),
                                    v.unit.as_deref().unwrap_or(""),
                                ]
                                .join("\n");
                                (format!("{}.{}", t.name, v.name), fold(&text))
                            })
                        })
                        .collect();
                    (head, vars)
                })
                .collect(),
        }
    }

    /// The datasets matching every word of `q`, with the variables that matched.
    pub fn search(&self, q: &str) -> Vec<Hit> {
        let q: String = q.chars().take(MAX_QUERY_CHARS).collect();
        let words: Vec<String> = renkei_core::normalize::fold(&q)
            .split_whitespace()
            .take(MAX_QUERY_WORDS)
            .map(str::to_owned)
            .collect();
        let mut out = Vec::new();
        for (index, (head, vars)) in self.entries.iter().enumerate() {
            let all = words.iter().all(|w| {
                head.contains(w.as_str()) || vars.iter().any(|(_, t)| t.contains(w.as_str()))
            });
            if !all {
                continue;
            }
            let variables = if words.is_empty() {
                Vec::new()
            } else {
                vars.iter()
                    .filter(|(_, t)| words.iter().any(|w| t.contains(w.as_str())))
                    .map(|(n, _)| n.clone())
                    .collect()
            };
            out.push(Hit { index, variables });
        }
        out
    }
}

/// The datasets among `entries` matching every word of `q` (see [`SearchIndex`]).
pub fn search(entries: &[PublicDataset], q: &str) -> Vec<Hit> {
    SearchIndex::new(entries).search(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ColumnProfile, Profile, TableProfile, VersionRecord, VersionStatus, builtin};
    use proptest::prelude::*;

    fn entry(id: &str, profile: Option<Profile>) -> DatasetEntry {
        DatasetEntry {
            declaration: builtin(id).unwrap(),
            key_id: String::new(),
            current: profile.map(|profile| VersionRecord {
                dataset_id: id.into(),
                version: 3,
                status: VersionStatus::Committed,
                reason: String::new(),
                created_at: renkei_core::Timestamp(1_700_000_000_000_000),
                created_by: "cli".into(),
                files: Vec::new(),
                rows_in: 12_345,
                rows_rejected: 0,
                coverage_from: "2025-04-01".into(),
                coverage_to: "2026-03-31".into(),
                profile,
                masters: Vec::new(),
                linkage_fingerprint: String::new(),
                token_generation: 1,
            }),
        }
    }

    fn col(name: &str, missing: u64, invalid: u64, top: &[(&str, u64)]) -> ColumnProfile {
        ColumnProfile {
            name: name.into(),
            ty: "text".into(),
            present: 1000 - missing,
            missing,
            invalid,
            masked: 0,
            not_in_master: 0,
            master: None,
            top: top.iter().map(|(v, n)| (v.to_string(), *n)).collect(),
            distinct: top.len() as u64,
            min: Some("1901-01".into()),
            max: Some("2026-03".into()),
        }
    }

    #[test]
    fn small_counts_never_reach_the_public_view() {
        let profile = Profile {
            tables: vec![TableProfile {
                name: "deaths".into(),
                rows: 1000,
                columns: vec![
                    col("sex", 3, 0, &[("1", 520), ("2", 477)]),
                    col("cause_icd10", 40, 7, &[("C34", 120), ("A00", 2)]),
                    col("death_date", 0, 0, &[]),
                ],
            }],
            records: Vec::new(),
        };
        let v = view(&entry("deaths", Some(profile)));
        assert_eq!(v.version, Some(3));
        assert_eq!(v.records.as_deref(), Some("1000"));
        let t = &v.tables[0];
        let var = |n: &str| t.variables.iter().find(|v| v.name == n).unwrap();
        let sex = var("sex");
        assert_eq!(sex.missing.as_deref(), Some("<10"));
        assert_eq!(
            sex.missing_pct, None,
            "a percentage would give the count back"
        );
        let cause = var("cause_icd10");
        assert_eq!(cause.missing_pct.as_deref(), Some("4.0%"));
        assert_eq!(cause.invalid.as_deref(), Some("<10"));
        assert_eq!(cause.invalid_pct, None);
        assert_eq!(
            cause.top,
            vec![Category {
                value: "C34".into(),
                count: "120".into()
            }],
            "a value seen twice is not listed at all"
        );
        assert_eq!(cause.distinct.as_deref(), Some("<10"));
        let json = serde_json::to_string(&v).unwrap();
        assert!(!json.contains("1901-01"), "minimum values are not public");
        assert!(!json.contains("A00"), "rare values are not named");
        for raw in ["\"count\":\"2\"", "\"missing\":\"3\"", "\"invalid\":\"7\""] {
            assert!(!json.contains(raw), "no raw small count: {raw}");
        }
    }

    #[test]
    fn datasets_without_data_show_their_variables() {
        let v = view(&entry("dpc", None));
        assert_eq!(v.version, None);
        assert!(v.tables.iter().all(|t| t.rows.is_none()));
        assert!(v.tables.iter().flat_map(|t| &t.variables).count() > 10);
    }

    #[test]
    fn search_finds_datasets_and_variables() {
        let all: Vec<PublicDataset> = ["ndb_claims", "ndb_checkups", "deaths", "ehr"]
            .iter()
            .map(|id| view(&entry(id, None)))
            .collect();
        assert_eq!(search(&all, "").len(), 4);
        let hits = search(&all, "ＪＬＡＣ１０");
        assert!(hits.iter().any(|h| all[h.index].id == "ndb_checkups"));
        let hits = search(&all, "死亡");
        assert!(hits.iter().any(|h| all[h.index].id == "deaths"));
        let hits = search(&all, "checkup item");
        assert!(hits.iter().all(|h| all[h.index].id != "deaths"));
        assert!(search(&all, "nothing-like-this").is_empty());
    }

    #[test]
    fn long_queries_are_cut_short() {
        let all: Vec<PublicDataset> = ["ndb_claims", "deaths"]
            .iter()
            .map(|id| view(&entry(id, None)))
            .collect();
        let index = SearchIndex::new(&all);
        let one = index.search("死亡").len();
        assert!(one > 0);
        // A megabyte of query costs what its first 200 characters cost.
        assert_eq!(index.search(&"死亡 ".repeat(300_000)).len(), one);
        // Only the first eight words count.
        let eight = ["死亡"; 8].join(" ");
        assert_eq!(index.search(&format!("{eight} zzzznothing")).len(), one);
    }

    proptest! {
        #[test]
        fn any_query_is_safe_and_narrows(q in "\\PC{0,12}", extra in "[a-z]{1,4}") {
            let all: Vec<PublicDataset> = ["ndb_claims", "deaths"]
                .iter()
                .map(|id| view(&entry(id, None)))
                .collect();
            let a = search(&all, &q).len();
            let b = search(&all, &format!("{q} {extra}")).len();
            prop_assert!(b <= a, "adding a word never widens the result");
        }
    }
}
