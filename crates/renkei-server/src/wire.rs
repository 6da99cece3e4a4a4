//! The catalogue's wire types: copies of `renkei_catalog::public`'s views, owned by
//! the HTTP face so the domain crate knows nothing of OpenAPI. Field for field the
//! same JSON; the `From` impls are the only link.

use renkei_catalog::Safety;
use renkei_catalog::public::{Category, PublicDataset, PublicMaster, PublicTable, PublicVariable};
use serde::Serialize;
use utoipa::ToSchema;

/// A dataset as the public catalogue shows it.
#[derive(Serialize, ToSchema)]
pub struct DatasetOut {
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
    pub safety: Option<SafetyOut>,
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
    pub masters: Vec<MasterOut>,
    /// Tables.
    pub tables: Vec<TableOut>,
}

/// A master version a dataset version was validated against.
#[derive(Serialize, ToSchema)]
pub struct MasterOut {
    /// `disease`, `drug`, `procedure`, `material`, `comment`, `modifier`, `lab`.
    pub system: String,
    /// The master's name, Japanese.
    pub name_ja: String,
    /// The file it was read from, or `embedded`.
    pub source: String,
    /// Publication date (YYYY-MM-DD), if known.
    pub published: Option<String>,
    /// SHA-256 of the file (hex).
    pub sha256: String,
}

impl From<&PublicMaster> for MasterOut {
    fn from(v: &PublicMaster) -> Self {
        Self {
            system: v.system.clone(),
            name_ja: v.name_ja.clone(),
            source: v.source.clone(),
            published: v.published.clone(),
            sha256: v.sha256.clone(),
        }
    }
}

impl From<&PublicDataset> for DatasetOut {
    fn from(v: &PublicDataset) -> Self {
        Self {
            id: v.id.clone(),
            kind: v.kind.clone(),
            name_ja: v.name_ja.clone(),
            name_en: v.name_en.clone(),
            description_ja: v.description_ja.clone(),
            description_en: v.description_en.clone(),
            holder_ja: v.holder_ja.clone(),
            holder_en: v.holder_en.clone(),
            accrual: v.accrual.clone(),
            linkage: v.linkage.clone(),
            safety: v.safety.as_ref().map(Into::into),
            code_systems: v.code_systems.clone(),
            version: v.version,
            updated_at: v.updated_at.clone(),
            coverage_from: v.coverage_from.clone(),
            coverage_to: v.coverage_to.clone(),
            records: v.records.clone(),
            masters: v.masters.iter().map(Into::into).collect(),
            tables: v.tables.iter().map(Into::into).collect(),
        }
    }
}

/// A table.
#[derive(Serialize, ToSchema)]
pub struct TableOut {
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
    pub variables: Vec<VariableOut>,
}

impl From<&PublicTable> for TableOut {
    fn from(v: &PublicTable) -> Self {
        Self {
            name: v.name.clone(),
            name_ja: v.name_ja.clone(),
            name_en: v.name_en.clone(),
            description_ja: v.description_ja.clone(),
            description_en: v.description_en.clone(),
            rows: v.rows.clone(),
            variables: v.variables.iter().map(Into::into).collect(),
        }
    }
}

/// A variable with its public profile.
#[derive(Serialize, ToSchema)]
pub struct VariableOut {
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
    pub top: Vec<CategoryOut>,
}

impl From<&PublicVariable> for VariableOut {
    fn from(v: &PublicVariable) -> Self {
        Self {
            name: v.name.clone(),
            label_ja: v.label_ja.clone(),
            label_en: v.label_en.clone(),
            description_ja: v.description_ja.clone(),
            description_en: v.description_en.clone(),
            ty: v.ty.clone(),
            code_system: v.code_system.clone(),
            unit: v.unit.clone(),
            categorical: v.categorical,
            missing: v.missing.clone(),
            missing_pct: v.missing_pct.clone(),
            invalid: v.invalid.clone(),
            invalid_pct: v.invalid_pct.clone(),
            master: v.master.clone(),
            not_in_master: v.not_in_master.clone(),
            distinct: v.distinct.clone(),
            top: v.top.iter().map(Into::into).collect(),
        }
    }
}

/// One value of a categorical variable.
#[derive(Serialize, ToSchema)]
pub struct CategoryOut {
    /// The value.
    pub value: String,
    /// How often it occurs, rounded to 10 and suppressed below 10.
    pub count: String,
}

impl From<&Category> for CategoryOut {
    fn from(v: &Category) -> Self {
        Self {
            value: v.value.clone(),
            count: v.count.clone(),
        }
    }
}

/// The holder's four kinds of safety measure.
#[derive(Serialize, ToSchema)]
pub struct SafetyOut {
    /// Organisational (in the holder's language, Japanese by default).
    pub organisational: String,
    /// Physical.
    pub physical: String,
    /// Technical.
    pub technical: String,
    /// Human.
    pub human: String,
    /// Organisational, English (optional).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub organisational_en: String,
    /// Physical, English.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub physical_en: String,
    /// Technical, English.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub technical_en: String,
    /// Human, English.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub human_en: String,
}

impl From<&Safety> for SafetyOut {
    fn from(v: &Safety) -> Self {
        Self {
            organisational: v.organisational.clone(),
            physical: v.physical.clone(),
            technical: v.technical.clone(),
            human: v.human.clone(),
            organisational_en: v.organisational_en.clone(),
            physical_en: v.physical_en.clone(),
            technical_en: v.technical_en.clone(),
            human_en: v.human_en.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The copies serialize exactly as the views they copy, for every dataset of the
    /// built-in declarations (empty and with a profile).
    #[test]
    fn the_wire_copies_match_the_views() {
        for (id, _) in renkei_catalog::BUILTIN {
            let entry = renkei_catalog::DatasetEntry {
                declaration: renkei_catalog::builtin(id).unwrap(),
                key_id: String::new(),
                current: None,
            };
            let view = renkei_catalog::public::view(&entry);
            assert_eq!(
                serde_json::to_value(&view).unwrap(),
                serde_json::to_value(DatasetOut::from(&view)).unwrap(),
                "{id}"
            );
        }
    }
}
