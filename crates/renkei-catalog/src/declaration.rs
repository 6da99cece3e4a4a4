//! Declarations: what a dataset is, in a form a custodian can write and review.

use serde::{Deserialize, Serialize};

/// A dataset's declaration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// The dataset.
    pub dataset: DatasetInfo,
    /// Its tables.
    #[serde(rename = "table")]
    pub tables: Vec<TableDecl>,
}

/// The dataset as a whole.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatasetInfo {
    /// Stable id (`a-z`, `0-9`, `_`).
    pub id: String,
    /// `public` (the Minister's databases), `ehr`, or `private` (D3).
    pub kind: String,
    /// Reader: `uke`, `dpc`, `checkup_csv`, `ltc_csv`, `fhir`, `death_csv`, or, for a
    /// database that joins by declaration, `csv` or `parquet`.
    pub format: String,
    /// Which files of the source directory to read (glob on the file name, `**/` for any depth).
    pub files: String,
    /// Text encoding of CSV files (`utf-8` or `cp932`).
    #[serde(default)]
    pub encoding: Option<String>,
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
    /// How records accrue: monthly, yearly, event.
    #[serde(default)]
    pub coverage: String,
    /// Linkage-token families the dataset carries (`id1`, `id2`, `kanji`, ...).
    #[serde(default)]
    pub linkage: Vec<String>,
    /// Safety measures of the holder (D3): organisational, physical, technical, human.
    #[serde(default)]
    pub safety: Option<Safety>,
    /// What to do with a well-formed code that the master in force on the record's
    /// date does not hold: keep the record and count it in the quality profile
    /// (`flag`, the default), or reject the record (`reject`). A malformed code is
    /// always rejected.
    #[serde(default, skip_serializing_if = "UnknownCode::is_default")]
    pub unknown_code: UnknownCode,
}

/// The policy for codes missing from the master in force.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UnknownCode {
    /// Keep the record; count the code per table and column in the quality profile.
    #[default]
    Flag,
    /// Reject the record, with the reason in the reject report.
    Reject,
}

impl UnknownCode {
    fn is_default(&self) -> bool {
        *self == UnknownCode::Flag
    }
}

/// The four kinds of safety measure the platform's requirements name (D3).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Safety {
    /// Organisational (in the holder's language, Japanese by default).
    pub organisational: String,
    /// Physical.
    pub physical: String,
    /// Technical.
    pub technical: String,
    /// Human.
    pub human: String,
    /// Organisational, English (optional).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub organisational_en: String,
    /// Physical, English.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub physical_en: String,
    /// Technical, English.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub technical_en: String,
    /// Human, English.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub human_en: String,
}

/// A table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableDecl {
    /// Name (`a-z`, `0-9`, `_`).
    pub name: String,
    /// Japanese name.
    pub name_ja: String,
    /// English name.
    pub name_en: String,
    /// Japanese description.
    #[serde(default)]
    pub description_ja: String,
    /// English description.
    #[serde(default)]
    pub description_en: String,
    /// Columns.
    pub columns: Vec<ColumnDecl>,
}

/// A column's type.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ColType {
    /// UTF-8 text.
    Text,
    /// 64-bit integer.
    Int,
    /// 64-bit float.
    Float,
    /// Calendar date.
    Date,
    /// Boolean.
    Bool,
    /// 128-bit linkage token.
    Token,
    /// A code from a declared list or code system (stored as text).
    Code,
    /// Free text written by people (comments, descriptions). A declaration must say why
    /// it is kept (`free_text_reason`); every value is screened at ingest, and
    /// telephone numbers, postal codes and addresses, long digit runs (insurer and
    /// insured numbers) and the record's own names are masked and counted.
    FreeText,
}

/// What an identifying source column is used for. Identifying columns are consumed at
/// the door (turned into tokens or coarsened) and never stored.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ColumnRole {
    /// The holder's own record id: stored as a keyed token (the same id, the same token
    /// within the dataset), never as given, since the holder can look it up.
    RecordKey,
    /// Name in kana: feeds the ID2 token; not stored.
    KanaName,
    /// Name in kanji: feeds the kanji token; not stored.
    KanjiName,
    /// Full birth date: feeds tokens; stored as year-month (`birth_ym`) only.
    BirthDate,
    /// Sex (1 男 / 2 女): stored, and feeds tokens.
    Sex,
    /// Postal code: stored as its first three digits only.
    PostalCode,
    /// 保険者番号: feeds the ID1 token; not stored.
    InsurerNumber,
    /// 被保険者証の記号: feeds ID1; not stored.
    InsuredSymbol,
    /// 被保険者証の番号: feeds ID1; not stored.
    InsuredNumber,
    /// Any other direct identifier the holder's file carries (address, telephone,
    /// another organisation's patient number, ...): read past and never stored. Declaring
    /// it records that the column exists and is dropped at the door.
    DirectIdentifier,
}

impl ColumnRole {
    /// Whether the column is consumed at the door and stored in no form.
    pub fn is_dropped(self) -> bool {
        matches!(
            self,
            ColumnRole::KanaName
                | ColumnRole::KanjiName
                | ColumnRole::InsurerNumber
                | ColumnRole::InsuredSymbol
                | ColumnRole::InsuredNumber
                | ColumnRole::DirectIdentifier
        )
    }
}

/// A column.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColumnDecl {
    /// Name (for declared CSV files: the header in the file).
    pub name: String,
    /// Name to store it under, if different.
    #[serde(default, rename = "as")]
    pub store_as: Option<String>,
    /// Type.
    #[serde(rename = "type")]
    pub ty: ColType,
    /// Identifying role, if any.
    #[serde(default)]
    pub role: Option<ColumnRole>,
    /// Japanese label.
    #[serde(default)]
    pub label_ja: String,
    /// English label.
    #[serde(default)]
    pub label_en: String,
    /// Japanese description.
    #[serde(default)]
    pub description_ja: String,
    /// English description.
    #[serde(default)]
    pub description_en: String,
    /// Code system.
    #[serde(default)]
    pub code_system: Option<String>,
    /// Unit.
    #[serde(default)]
    pub unit: Option<String>,
    /// Whether to profile the value distribution.
    #[serde(default)]
    pub categorical: bool,
    /// Allowed values (others are rejected).
    #[serde(default)]
    pub codes: Vec<String>,
    /// Why a free-text column is kept (required for `free_text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_text_reason: Option<String>,
}

impl ColumnDecl {
    /// The stored name.
    pub fn stored_name(&self) -> &str {
        self.store_as.as_deref().unwrap_or(&self.name)
    }
    fn derived(name: &str, ty: ColType, ja: &str, en: &str, categorical: bool) -> Self {
        Self {
            name: name.into(),
            store_as: None,
            ty,
            role: None,
            label_ja: ja.into(),
            label_en: en.into(),
            description_ja: String::new(),
            description_en: String::new(),
            code_system: None,
            unit: None,
            categorical,
            codes: Vec::new(),
            free_text_reason: None,
        }
    }
}

/// A declaration is unusable.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DeclarationError {
    /// Not valid TOML for a declaration.
    #[error("not a valid declaration: {0}")]
    Parse(String),
    /// A rule is broken.
    #[error("{0}")]
    Invalid(String),
}

const TOKEN_FAMILIES: [&str; 5] = ["id1", "id1n", "id2", "kanji", "care_insured"];
const KNOWN_FORMATS: [&str; 8] = [
    "uke",
    "dpc",
    "checkup_csv",
    "ltc_csv",
    "fhir",
    "death_csv",
    "csv",
    "parquet",
];

fn ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Declaration {
    /// Parses and checks a declaration.
    pub fn parse(text: &str) -> Result<Self, DeclarationError> {
        let d: Declaration =
            toml::from_str(text).map_err(|e| DeclarationError::Parse(e.message().to_owned()))?;
        d.validate()?;
        Ok(d)
    }

    /// Checks that every column stored as it is has a Japanese and an English label, as
    /// the catalogue shows both. Asked of a declaration when data is loaded under it,
    /// not when a stored one is read back: catalogues written before the rule still
    /// open, and their next load names the columns to label.
    pub fn check_labels(&self) -> Result<(), DeclarationError> {
        for t in &self.tables {
            for c in &t.columns {
                let stored_as_is = c
                    .role
                    .is_none_or(|r| matches!(r, ColumnRole::RecordKey | ColumnRole::Sex));
                if stored_as_is && (c.label_ja.trim().is_empty() || c.label_en.trim().is_empty()) {
                    return Err(DeclarationError::Invalid(format!(
                        "column {:?} in {}: give it label_ja and label_en (the catalogue shows both)",
                        c.stored_name(),
                        t.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks the rules a declaration must meet (D3): an id, a holder, every safety
    /// measure for a private dataset, known formats and linkage families, and, for a
    /// declared CSV dataset, the identifying columns its linkage needs.
    pub fn validate(&self) -> Result<(), DeclarationError> {
        let bad = |m: String| Err(DeclarationError::Invalid(m));
        let ds = &self.dataset;
        if !ident(&ds.id) {
            return bad(format!(
                "dataset id {:?}: use a-z, 0-9 and _, starting with a letter",
                ds.id
            ));
        }
        if !["public", "ehr", "private"].contains(&ds.kind.as_str()) {
            return bad(format!("kind {:?}: public, ehr or private", ds.kind));
        }
        if !KNOWN_FORMATS.contains(&ds.format.as_str()) {
            return bad(format!(
                "format {:?}: one of {}",
                ds.format,
                KNOWN_FORMATS.join(", ")
            ));
        }
        for (what, v) in [
            ("name_ja", &ds.name_ja),
            ("name_en", &ds.name_en),
            ("holder_ja", &ds.holder_ja),
            ("holder_en", &ds.holder_en),
        ] {
            if v.trim().is_empty() {
                return bad(format!("{what} is required"));
            }
        }
        if ds.kind == "private" {
            let Some(s) = &ds.safety else {
                return bad(
                    "a private dataset must declare its safety measures ([dataset.safety])".into(),
                );
            };
            for (what, v) in [
                ("organisational", &s.organisational),
                ("physical", &s.physical),
                ("technical", &s.technical),
                ("human", &s.human),
            ] {
                if v.trim().is_empty() {
                    return bad(format!("safety measure {what} is required"));
                }
            }
            if ds.linkage.is_empty() {
                return bad("a private dataset must say how it links (linkage = [...])".into());
            }
        }
        for l in &ds.linkage {
            if !TOKEN_FAMILIES.contains(&l.as_str()) && l != "facility_patient" {
                return bad(format!(
                    "linkage {l:?}: one of {}",
                    TOKEN_FAMILIES.join(", ")
                ));
            }
        }
        if self.tables.is_empty() {
            return bad("at least one table is required".into());
        }
        for t in &self.tables {
            if !ident(&t.name) {
                return bad(format!("table {:?}: use a-z, 0-9 and _", t.name));
            }
            let mut seen = std::collections::HashSet::new();
            for c in &t.columns {
                if c.ty == ColType::FreeText
                    && (c.role.is_some()
                        || c.free_text_reason
                            .as_deref()
                            .is_none_or(|r| r.trim().is_empty()))
                {
                    return bad(format!(
                        "column {:?} in {}: free text needs free_text_reason (why it is kept) and no identifying role",
                        c.name, t.name
                    ));
                }
                let stored = c.stored_name();
                if c.role
                    .is_none_or(|r| matches!(r, ColumnRole::RecordKey | ColumnRole::Sex))
                    && !ident(stored)
                {
                    return bad(format!(
                        "column {:?} in {}: give it a stored name with `as` (a-z, 0-9, _)",
                        c.name, t.name
                    ));
                }
                if !seen.insert(stored.to_owned()) {
                    return bad(format!("column {stored:?} appears twice in {}", t.name));
                }
            }
        }
        if self.is_declared_format() {
            let roles: Vec<ColumnRole> = self
                .tables
                .iter()
                .flat_map(|t| t.columns.iter().filter_map(|c| c.role))
                .collect();
            let need = |r: ColumnRole| roles.contains(&r);
            for l in &ds.linkage {
                let ok = match l.as_str() {
                    "id2" => {
                        need(ColumnRole::KanaName)
                            && need(ColumnRole::BirthDate)
                            && need(ColumnRole::Sex)
                    }
                    "kanji" => {
                        need(ColumnRole::KanjiName)
                            && need(ColumnRole::BirthDate)
                            && need(ColumnRole::Sex)
                    }
                    // 記号 is optional: some insurers issue cards without one.
                    "id1" => {
                        need(ColumnRole::InsurerNumber)
                            && need(ColumnRole::InsuredNumber)
                            && need(ColumnRole::BirthDate)
                            && need(ColumnRole::Sex)
                    }
                    _ => false,
                };
                if !ok {
                    return bad(format!(
                        "linkage {l}: a declared dataset needs the columns it is made from (id1: insurer_number, insured_number, birth_date, sex, and insured_symbol if the cards have one; id2: kana_name, birth_date, sex; kanji: kanji_name, birth_date, sex)"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The tables as stored: for declared CSV datasets, identifying columns are replaced by
    /// what is kept of them (tokens, `birth_ym`, `postal3`); built-in formats store their
    /// declared columns as they are.
    pub fn stored_tables(&self) -> Vec<TableDecl> {
        if !self.is_declared_format() {
            return self.tables.clone();
        }
        self.tables
            .iter()
            .map(|t| {
                let mut cols: Vec<ColumnDecl> = Vec::new();
                for c in &t.columns {
                    match c.role {
                        Some(r) if r.is_dropped() => {}
                        Some(ColumnRole::BirthDate) => cols.push(ColumnDecl::derived(
                            "birth_ym",
                            ColType::Text,
                            "生年月",
                            "Birth year-month",
                            false,
                        )),
                        Some(ColumnRole::PostalCode) => {
                            let mut d = ColumnDecl::derived(
                                "postal3",
                                ColType::Text,
                                "郵便番号上3桁",
                                "Postal code (first 3 digits)",
                                false,
                            );
                            if let Some(n) = &c.store_as {
                                d.name = n.clone();
                            }
                            cols.push(d);
                        }
                        // The holder's own record id is kept only as a keyed token:
                        // the same id gives the same token within the dataset, and the
                        // id itself (which the holder can look up) is never stored.
                        Some(ColumnRole::RecordKey) => {
                            let mut c = c.clone();
                            c.name = c.stored_name().to_owned();
                            c.store_as = None;
                            c.ty = ColType::Token;
                            c.categorical = false;
                            cols.push(c);
                        }
                        _ => {
                            let mut c = c.clone();
                            c.name = c.stored_name().to_owned();
                            c.store_as = None;
                            cols.push(c);
                        }
                    }
                }
                for l in &self.dataset.linkage {
                    cols.push(ColumnDecl::derived(
                        l,
                        ColType::Token,
                        &format!("{l} トークン"),
                        &format!("{l} token"),
                        false,
                    ));
                }
                TableDecl {
                    columns: cols,
                    ..t.clone()
                }
            })
            .collect()
    }

    /// Whether the columns come from the declaration (CSV or Parquet from a holder)
    /// rather than from a built-in reader's fixed layout.
    pub fn is_declared_format(&self) -> bool {
        matches!(self.dataset.format.as_str(), "csv" | "parquet")
    }

    /// Code systems used by the variables.
    pub fn code_systems(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .tables
            .iter()
            .flat_map(|t| t.columns.iter().filter_map(|c| c.code_system.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// The built-in declarations, by dataset id.
pub const BUILTIN: [(&str, &str); 6] = [
    (
        "ndb_claims",
        include_str!("../declarations/ndb_claims.toml"),
    ),
    (
        "ndb_checkups",
        include_str!("../declarations/ndb_checkups.toml"),
    ),
    ("dpc", include_str!("../declarations/dpc.toml")),
    ("ltc", include_str!("../declarations/ltc.toml")),
    ("ehr", include_str!("../declarations/ehr.toml")),
    ("deaths", include_str!("../declarations/deaths.toml")),
];

/// A built-in declaration.
pub fn builtin(id: &str) -> Option<Declaration> {
    BUILTIN
        .iter()
        .find(|(i, _)| *i == id)
        .and_then(|(_, t)| Declaration::parse(t).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_valid_and_bilingual() {
        for (id, text) in BUILTIN {
            let d = Declaration::parse(text).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(d.dataset.id, id);
            for t in &d.tables {
                for c in &t.columns {
                    assert!(
                        !c.label_ja.is_empty() && !c.label_en.is_empty(),
                        "{id}.{}.{} needs labels in both languages",
                        t.name,
                        c.name
                    );
                }
            }
        }
    }

    fn private(extra: &str) -> String {
        format!(
            r#"
[dataset]
id = "reg"
kind = "private"
format = "csv"
files = "*.csv"
name_ja = "登録"
name_en = "Registry"
description_ja = ""
description_en = ""
holder_ja = "保有者"
holder_en = "Holder"
linkage = ["id2"]
{extra}
[[table]]
name = "rows"
name_ja = "行"
name_en = "Rows"
columns = [
  {{ name = "カナ", type = "text", role = "kana_name" }},
  {{ name = "生年月日", type = "date", role = "birth_date" }},
  {{ name = "性別", as = "sex", type = "code", role = "sex", codes = ["1", "2"], label_ja = "性別", label_en = "Sex" }},
  {{ name = "郵便番号", type = "text", role = "postal_code" }},
  {{ name = "病名", as = "icd10", type = "code", code_system = "icd10", label_ja = "病名", label_en = "Diagnosis" }},
]
"#
        )
    }

    #[test]
    fn private_datasets_need_safety_measures_and_linkage_columns() {
        let e = Declaration::parse(&private("")).unwrap_err();
        assert!(e.to_string().contains("safety"), "{e}");
        let ok = private(
            "[dataset.safety]\norganisational = \"a\"\nphysical = \"b\"\ntechnical = \"c\"\nhuman = \"d\"\n",
        );
        let d = Declaration::parse(&ok).unwrap();
        let stored: Vec<String> = d.stored_tables()[0]
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect();
        assert_eq!(
            stored,
            ["birth_ym", "sex", "postal3", "icd10", "id2"],
            "names and full birth dates are not stored"
        );
        let no_kana = ok.replace(
            "{ name = \"カナ\", type = \"text\", role = \"kana_name\" }",
            "{ name = \"memo\", type = \"text\", label_ja = \"メモ\", label_en = \"Memo\" }",
        );
        assert!(
            Declaration::parse(&no_kana)
                .unwrap_err()
                .to_string()
                .contains("kana_name")
        );
        let bad_id = ok.replace("id = \"reg\"", "id = \"Reg!\"");
        assert!(Declaration::parse(&bad_id).is_err());
        let unlabelled = ok.replace(", label_ja = \"病名\", label_en = \"Diagnosis\"", "");
        let d = Declaration::parse(&unlabelled).expect("stored catalogues still open");
        let e = d.check_labels().unwrap_err();
        assert!(e.to_string().contains("label_ja and label_en"), "{e}");
        Declaration::parse(&ok).unwrap().check_labels().unwrap();
    }
}
