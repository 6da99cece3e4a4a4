//! The official masters, read as they are published.
//!
//! 社会保険診療報酬支払基金 publishes the basic masters of the receipt system as CSV files
//! in CP932, one row per code, every field quoted, no header, each master with its own
//! column layout (マスターファイル仕様説明書). A row carries the dates it is in force:
//! 廃止年月日 (`99999999` while in force), and for new codes (変更区分 3) or the
//! disease and modifier masters (収載年月日) the date it came in. Several versions of
//! one master (full files of different dates) can be loaded side by side; a code is in
//! force for a record if one loaded row of it was in force on the record's date.
//!
//! | master | file | columns | code | name | from | to |
//! |---|---|---|---|---|---|---|
//! | 医科診療行為 (S) | `s_ALLyyyymmdd.csv` | 150 | 2 | 4 | 86 if new | 87 |
//! | 医薬品 (Y) | `y_ALLyyyymmdd.csv` | 40, 42 from 2024-09 | 2 | 4 | 29 if new | 30 |
//! | 特定器材 (T) | `t_ALLyyyymmdd.csv` | 38 | 2 | 4 | 27 if new | 29 |
//! | コメント (C) | `c_ALLyyyymmdd.csv` | 30 | 22 | 6 | 20 if new | 21 |
//! | 傷病名 (B) | `b_yyyymmdd.txt`, abolished `hb_yyyymmdd.txt` | 46 | 2 | 5 | 21 (収載) | 23 |
//! | 修飾語 (Z) | `z_yyyymmdd.txt` | 19 | 2 | 6 | 13 (収載) | 15 |
//!
//! Also: ICD-10 (2013) at columns 15 and 16 of 傷病名 (13 and 14 are unused), the YJ code
//! at 31 of 医薬品, the unit at 9 of 特定器材, the comment pattern at 3, the modifier's
//! category as the second character of column 18. Rows with 変更区分 1 (抹消: entered in
//! error) are ignored. The 特定健診 item code table (XML用特定健診項目情報: 17-character
//! 項目コード, 項目名, データタイプ, 単位) is read from its CSV form, UTF-8 or CP932, by its
//! header.

use crate::{Comment, Disease, Drug, LabItem, MasterError, Masters, Material, Modifier, Procedure};
use renkei_core::wareki::Ymd;
use sha2::{Digest as _, Sha256};

/// The code systems the masters cover.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum CodeSystem {
    /// 傷病名 (7 digits).
    Disease,
    /// 修飾語 (4 digits).
    Modifier,
    /// 医薬品 (9 digits, 6…).
    Drug,
    /// 医科診療行為 (9 digits, 1…).
    Procedure,
    /// 特定器材 (9 digits, 7…).
    Material,
    /// コメント (9 digits, 8…).
    Comment,
    /// 特定健診 items, JLAC10 style (17 characters).
    Lab,
}

impl CodeSystem {
    /// Every system, in a fixed order (an index for per-system tables).
    pub const ALL: [CodeSystem; 7] = [
        CodeSystem::Disease,
        CodeSystem::Modifier,
        CodeSystem::Drug,
        CodeSystem::Procedure,
        CodeSystem::Material,
        CodeSystem::Comment,
        CodeSystem::Lab,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Stable name.
    pub fn code(self) -> &'static str {
        match self {
            CodeSystem::Disease => "disease",
            CodeSystem::Modifier => "modifier",
            CodeSystem::Drug => "drug",
            CodeSystem::Procedure => "procedure",
            CodeSystem::Material => "material",
            CodeSystem::Comment => "comment",
            CodeSystem::Lab => "lab",
        }
    }

    /// Whether `code` has the shape of a code of this system (a structural check:
    /// a well-formed code missing from the master is a different matter).
    pub fn well_formed(self, code: &str) -> bool {
        let b = code.as_bytes();
        let digits = |n: usize, first: Option<u8>| {
            b.len() == n && b.iter().all(u8::is_ascii_digit) && first.is_none_or(|f| b[0] == f)
        };
        match self {
            CodeSystem::Disease => digits(7, None),
            CodeSystem::Modifier => digits(4, None),
            CodeSystem::Drug => digits(9, Some(b'6')),
            CodeSystem::Procedure => digits(9, Some(b'1')),
            CodeSystem::Material => digits(9, Some(b'7')),
            CodeSystem::Comment => digits(9, Some(b'8')),
            CodeSystem::Lab => b.len() == 17 && b.iter().all(u8::is_ascii_alphanumeric),
        }
    }

    /// The master's name in Japanese.
    pub fn name_ja(self) -> &'static str {
        match self {
            CodeSystem::Disease => "傷病名マスター",
            CodeSystem::Modifier => "修飾語マスター",
            CodeSystem::Drug => "医薬品マスター",
            CodeSystem::Procedure => "医科診療行為マスター",
            CodeSystem::Material => "特定器材マスター",
            CodeSystem::Comment => "コメントマスター",
            CodeSystem::Lab => "特定健診項目コード表",
        }
    }
}

/// One loaded master file: a version of one master.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MasterVersion {
    /// Which master.
    pub system: CodeSystem,
    /// The file's name (`b_20240601.txt`), or `embedded` for the curated subset built
    /// into the binary.
    pub source: String,
    /// Publication date from the file name (`2024-06-01`), if it carries one.
    pub published: Option<String>,
    /// SHA-256 of the file as read (hex); for the embedded subset, of its text.
    pub sha256: String,
    /// Codes it holds.
    pub rows: u64,
}

/// Which list said a code is in force: a loaded version (its index), a site's own list,
/// or the curated subset built into the binary.
pub(crate) type Src = u32;
/// The curated subset built into the binary: decides nothing once an official version
/// of the master is loaded.
pub(crate) const EMBEDDED: Src = u32::MAX;
/// A site's own list: decides only for codes no official version lists.
pub(crate) const SITE: Src = u32::MAX - 1;

/// When one row of a code is in force.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    pub(crate) from: Option<Ymd>,
    pub(crate) to: Option<Ymd>,
}

impl Span {
    pub(crate) const ALWAYS: Span = Span {
        from: None,
        to: None,
    };

    fn overlaps(&self, (a, b): (Ymd, Ymd)) -> bool {
        self.from.is_none_or(|f| f <= b) && self.to.is_none_or(|t| t >= a)
    }
}

/// What a master says about a code for a record of a given period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeCheck {
    /// In force during the period.
    InForce,
    /// Known, but not in force then (abolished before, or listed after).
    NotInForce,
    /// In no loaded version.
    Unknown,
}

/// `YYYYMMDD` as a date; `99999999`, `0`, `00000000` or empty as none.
fn date(s: &str) -> Option<Ymd> {
    if s.len() != 8 || s == "99999999" || s == "00000000" {
        return None;
    }
    let y = s.get(..4)?.parse().ok()?;
    let m = s.get(4..6)?.parse().ok()?;
    let d = s.get(6..)?.parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

/// The publication date in a master's file name (`b_20240601.txt`, `y_ALL20240321.csv`).
fn published(name: &str) -> Option<String> {
    let digits: String = name
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    date(&digits).map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
}

/// Whether a file name is that of an official master (`s_ALL20240531.csv`,
/// `b_20240601.txt`, `hb_20260101.txt`, ...).
pub fn is_official_name(name: &str) -> bool {
    let Some((prefix, rest)) = name.split_once('_') else {
        return false;
    };
    let rest = rest.strip_prefix("ALL").unwrap_or(rest);
    matches!(prefix, "s" | "y" | "t" | "c" | "b" | "hb" | "z")
        && rest.len() >= 12
        && rest.as_bytes()[..8].iter().all(u8::is_ascii_digit)
        && (rest.ends_with(".csv") || rest.ends_with(".txt"))
}

/// Decodes a master file: UTF-8 (with or without a byte-order mark) if it is valid
/// UTF-8, else CP932 as published.
fn decode(bytes: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Some(std::borrow::Cow::Borrowed(s));
    }
    let (text, _, bad) = encoding_rs::SHIFT_JIS.decode(bytes);
    (!bad).then_some(text)
}

impl Masters {
    /// Adds one official master file (`name` is its file name, `bytes` its contents as
    /// published). Returns the version it became.
    pub fn add_official(&mut self, name: &str, bytes: &[u8]) -> Result<MasterVersion, MasterError> {
        let bad = |line: usize, why: &str| MasterError::Format {
            file: name.to_owned(),
            line,
            why: why.to_owned(),
        };
        let text = decode(bytes).ok_or_else(|| bad(0, "neither UTF-8 nor CP932 text"))?;
        let sha256 = hex_digest(bytes);
        if !is_official_name(name) {
            let v = self.add_lab_table(name, &text, sha256)?;
            self.reindex();
            return Ok(v);
        }
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut system = None;
        let mut rows = 0u64;
        let src = self.versions.len() as Src;
        for (i, rec) in rdr.records().enumerate() {
            let line = i + 1;
            let rec = rec.map_err(|e| bad(line, &e.to_string()))?;
            let f = |k: usize| rec.get(k).unwrap_or("").trim();
            let kind = f(1);
            let sys = match kind {
                "S" => CodeSystem::Procedure,
                "Y" => CodeSystem::Drug,
                "T" => CodeSystem::Material,
                "C" => CodeSystem::Comment,
                "B" => CodeSystem::Disease,
                "Z" => CodeSystem::Modifier,
                _ => {
                    return Err(bad(
                        line,
                        "column 2 (マスター種別) is not S, Y, T, C, B or Z",
                    ));
                }
            };
            if *system.get_or_insert(sys) != sys {
                return Err(bad(line, "rows of two different masters in one file"));
            }
            let (min_cols, code_col) = match sys {
                CodeSystem::Procedure => (88, 2),
                CodeSystem::Drug => (40, 2),
                CodeSystem::Material => (38, 2),
                CodeSystem::Comment => (23, 22),
                CodeSystem::Disease => (24, 2),
                CodeSystem::Modifier => (19, 2),
                CodeSystem::Lab => (0, 0),
            };
            if rec.len() < min_cols {
                return Err(bad(
                    line,
                    &format!("{} columns; this master has at least {min_cols}", rec.len()),
                ));
            }
            let change = f(0);
            if change == "1" {
                continue; // 抹消: entered in error, never in force.
            }
            let code = f(code_col);
            if !sys.well_formed(code) {
                return Err(bad(line, &format!("not a {} code", sys.code())));
            }
            let new = change == "3";
            let from_if_new = |col: usize| if new { date(f(col)) } else { None };
            let span = match sys {
                CodeSystem::Procedure => Span {
                    from: from_if_new(86),
                    to: date(f(87)),
                },
                CodeSystem::Drug => Span {
                    from: from_if_new(29),
                    to: date(f(30)),
                },
                CodeSystem::Material => Span {
                    from: from_if_new(27),
                    to: date(f(29)),
                },
                CodeSystem::Comment => Span {
                    from: from_if_new(20),
                    to: date(f(21)),
                },
                CodeSystem::Disease => Span {
                    from: date(f(21)).or_else(|| from_if_new(22)),
                    to: date(f(23)),
                },
                CodeSystem::Modifier => Span {
                    from: date(f(13)).or_else(|| from_if_new(14)),
                    to: date(f(15)),
                },
                CodeSystem::Lab => Span::ALWAYS,
            };
            // An update file's changed rows carry only the code and what changed: they
            // add a period, not a description.
            let described = !f(match sys {
                CodeSystem::Disease => 5,
                CodeSystem::Modifier | CodeSystem::Comment => 6,
                _ => 4,
            })
            .is_empty();
            if described {
                match sys {
                    CodeSystem::Procedure => self.procedures.push(Procedure {
                        code: code.into(),
                        name: f(4).into(),
                        care_category: String::new(),
                        group: String::new(),
                    }),
                    CodeSystem::Drug => {
                        let yj = f(31);
                        self.drugs.push(Drug {
                            code: code.into(),
                            name: f(4).into(),
                            yj: (yj.len() == 12).then(|| yj.to_owned()),
                            class: yj.get(..4).unwrap_or("").to_owned(),
                            route: match f(27) {
                                "1" => "内",
                                "4" => "注",
                                "6" => "外",
                                "8" => "歯",
                                _ => "",
                            }
                            .into(),
                            group: String::new(),
                        });
                    }
                    CodeSystem::Material => self.materials.push(Material {
                        code: code.into(),
                        name: f(4).into(),
                        unit: f(9).into(),
                        price_yen: f(11)
                            .split('.')
                            .next()
                            .and_then(|y| y.parse().ok())
                            .unwrap_or(0),
                        group: String::new(),
                    }),
                    CodeSystem::Comment => self.comments.push(Comment {
                        code: code.into(),
                        name: f(6).into(),
                        pattern: f(3).into(),
                    }),
                    CodeSystem::Disease => self.diseases.push(Disease {
                        code: code.into(),
                        name: f(5).into(),
                        icd10: f(15).into(),
                        medis: crate::opt(f(10)),
                        group: String::new(),
                    }),
                    CodeSystem::Modifier => self.modifiers.push(Modifier {
                        code: code.into(),
                        name: f(6).into(),
                        category: f(18).chars().nth(1).map(String::from).unwrap_or_default(),
                    }),
                    CodeSystem::Lab => {}
                }
            }
            self.add_span(sys, code, src, span);
            rows += 1;
        }
        let system = system.ok_or_else(|| bad(0, "no rows"))?;
        let v = MasterVersion {
            system,
            source: name.to_owned(),
            published: published(name),
            sha256,
            rows,
        };
        self.versions.push(v.clone());
        self.reindex();
        Ok(v)
    }

    /// The 特定健診 item code table: found by its header row (項目コード, 項目名).
    fn add_lab_table(
        &mut self,
        name: &str,
        text: &str,
        sha256: String,
    ) -> Result<MasterVersion, MasterError> {
        let bad = |line: usize, why: &str| MasterError::Format {
            file: name.to_owned(),
            line,
            why: why.to_owned(),
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut cols: Option<(usize, usize, Option<usize>, Option<usize>)> = None;
        let mut rows = 0;
        let src = self.versions.len() as Src;
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(|e| bad(i + 1, &e.to_string()))?;
            let Some((code, item, ty, unit)) = cols else {
                // The header: a cell starting 項目コード and one that is 項目名 (cells may
                // hold line breaks, as in the published table).
                let find = |p: &dyn Fn(&str) -> bool| {
                    rec.iter().position(|c| p(&c.replace(['\r', '\n'], "")))
                };
                if let (Some(c), Some(n)) = (
                    find(&|c| c.starts_with("項目コード")),
                    find(&|c| c == "項目名"),
                ) {
                    cols = Some((
                        c,
                        n,
                        find(&|c| c == "データタイプ"),
                        find(&|c| c == "表示用単位"),
                    ));
                } else if i > 10 {
                    return Err(bad(
                        i + 1,
                        "no header with 項目コード and 項目名 in the first lines",
                    ));
                }
                continue;
            };
            let c = rec.get(code).unwrap_or("").trim();
            if !CodeSystem::Lab.well_formed(c) {
                continue; // notes and blank lines between the rows
            }
            let kind = if ty
                .and_then(|t| rec.get(t))
                .is_some_and(|t| t.trim() == "数字")
            {
                "num"
            } else {
                "code"
            };
            self.lab_items.push(LabItem {
                code: c.into(),
                name_ja: rec.get(item).unwrap_or("").trim().into(),
                name_en: String::new(),
                unit: unit.and_then(|u| rec.get(u)).unwrap_or("").trim().into(),
                kind: kind.into(),
            });
            self.add_span(CodeSystem::Lab, c, src, Span::ALWAYS);
            rows += 1;
        }
        if cols.is_none() {
            return Err(bad(
                0,
                "not an official master file name, and no 特定健診 item table header",
            ));
        }
        let v = MasterVersion {
            system: CodeSystem::Lab,
            source: name.to_owned(),
            published: published(name),
            sha256,
            rows,
        };
        self.versions.push(v.clone());
        Ok(v)
    }

    pub(crate) fn add_span(&mut self, sys: CodeSystem, code: &str, src: Src, span: Span) {
        match self.spans[sys.index()].get_mut(code) {
            Some(v) => v.push((src, span)),
            None => {
                self.spans[sys.index()].insert(code.to_owned(), vec![(src, span)]);
            }
        }
    }

    /// How much a list's word counts: official versions over a site's lists over the
    /// embedded subset; among official versions, the newest publication (then the one
    /// read last).
    fn rank(&self, src: Src) -> (u8, Ymd, Src) {
        match src {
            EMBEDDED => (0, (0, 0, 0), 0),
            SITE => (1, (0, 0, 0), 0),
            i => (
                2,
                self.versions
                    .get(i as usize)
                    .and_then(|v| v.published.as_deref())
                    .and_then(|p| date(&p.replace('-', "")))
                    .unwrap_or((0, 0, 0)),
                i,
            ),
        }
    }

    /// The publication date of the first full version of `sys` (every file but an
    /// abolished-code list) published after `after`: a code it does not list had left
    /// the master by then.
    fn next_full(&self, sys: CodeSystem, after: Ymd) -> Option<Ymd> {
        self.versions
            .iter()
            .filter(|v| v.system == sys && v.source != "embedded" && !v.source.starts_with("hb_"))
            .filter_map(|v| {
                v.published
                    .as_deref()
                    .and_then(|p| date(&p.replace('-', "")))
            })
            .filter(|d| *d > after)
            .min()
    }

    /// What the loaded masters say about `code` for a record dated within `period`
    /// (first and last day; a receipt's service month, a lab result's day).
    ///
    /// The newest official version that lists the code decides its period (an older
    /// file's "not abolished" does not outlive a newer file's abolition). An open end
    /// means "until at least that publication": if a later full version of the master
    /// no longer lists the code, it ended by then. The embedded subset decides only
    /// while no official version of the master is loaded; a site's own lists only for
    /// codes no official version lists.
    pub fn check(&self, sys: CodeSystem, code: &str, period: (Ymd, Ymd)) -> CodeCheck {
        let Some(spans) = self.spans[sys.index()].get(code) else {
            return CodeCheck::Unknown;
        };
        let official = self.official_loaded(sys);
        let counted = || {
            spans
                .iter()
                .filter(move |(src, _)| !(official && *src == EMBEDDED))
        };
        let Some(best) = counted().map(|(src, _)| self.rank(*src)).max() else {
            return CodeCheck::Unknown;
        };
        let cap = (best.0 == 2).then(|| self.next_full(sys, best.1)).flatten();
        let in_force = counted()
            .filter(|(src, _)| self.rank(*src) == best)
            .any(|(_, s)| {
                Span {
                    from: s.from,
                    to: s.to.or(cap),
                }
                .overlaps(period)
            });
        if in_force {
            CodeCheck::InForce
        } else {
            CodeCheck::NotInForce
        }
    }

    /// Whether an official version of `sys` is loaded.
    fn official_loaded(&self, sys: CodeSystem) -> bool {
        self.versions
            .iter()
            .any(|v| v.system == sys && v.source != "embedded")
    }

    /// Every loaded version (the embedded subset first, then files in the order read).
    pub fn versions(&self) -> &[MasterVersion] {
        &self.versions
    }

    /// The versions of the masters of `systems`.
    pub fn versions_of(&self, systems: &[CodeSystem]) -> Vec<MasterVersion> {
        self.versions
            .iter()
            .filter(|v| systems.contains(&v.system))
            .cloned()
            .collect()
    }
}

pub(crate) fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows cut from the published masters (b_20240601, y_ALL20240321, z_20250601,
    /// c_ALL20230801), field for field.
    const B: &str = "\"0\",\"B\",\"2500013\",\"2500013\",\"6\",\"２型糖尿病\",\"6\",\"２型糖尿病\",\"6\",\"ニガタトウニョウビョウ\",\"20050020\",\"1\",\"LMFB\",\"\",\"\",\"E119\",\"\",\"\",\"00\",\"0\",\"00\",\"\",\"\",\"99999999\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"\",\"２型糖尿病\",\"\",\"\",\"6\",\"00\",\"00\",\"0\",\"0\"\r\n\
\"3\",\"B\",\"8850001\",\"\",\"5\",\"新しい病名\",\"5\",\"新しい病名\",\"5\",\"アタラシイ\",\"20240001\",\"1\",\"ABCD\",\"\",\"\",\"U071\",\"\",\"\",\"00\",\"0\",\"00\",\"20240601\",\"20240601\",\"99999999\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"\",\"\",\"\",\"\",\"0\",\"00\",\"00\",\"0\",\"0\"\r\n";

    fn sjis(s: &str) -> Vec<u8> {
        encoding_rs::SHIFT_JIS.encode(s).0.into_owned()
    }

    #[test]
    fn disease_rows_are_read_with_their_periods() {
        let mut m = Masters::default();
        let v = m.add_official("b_20240601.txt", &sjis(B)).unwrap();
        assert_eq!(v.system, CodeSystem::Disease);
        assert_eq!(v.rows, 2);
        assert_eq!(v.published.as_deref(), Some("2024-06-01"));
        assert_eq!(m.disease("2500013").unwrap().icd10, "E119");
        assert_eq!(
            m.disease("2500013").unwrap().medis.as_deref(),
            Some("20050020")
        );
        let month = |y, mo| ((y, mo, 1), (y, mo, 28));
        assert_eq!(
            m.check(CodeSystem::Disease, "2500013", month(2010, 1)),
            CodeCheck::InForce
        );
        assert_eq!(
            m.check(CodeSystem::Disease, "8850001", month(2024, 6)),
            CodeCheck::InForce
        );
        assert_eq!(
            m.check(CodeSystem::Disease, "8850001", month(2024, 5)),
            CodeCheck::NotInForce,
            "listed in June 2024"
        );
        assert_eq!(
            m.check(CodeSystem::Disease, "1234567", month(2024, 6)),
            CodeCheck::Unknown
        );
    }

    #[test]
    fn the_newest_version_listing_a_code_decides_its_period() {
        let mut m = Masters::default();
        // The abolished-code list of 2026: 廃止年月日 2003-05-31.
        let hb = B.replacen("\"0\",\"B\",\"2500013\"", "\"9\",\"B\",\"2500013\"", 1).replacen(
            "\"\",\"\",\"99999999\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"\",\"２型",
            "\"\",\"\",\"20030531\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\",\"\",\"２型",
            1,
        );
        m.add_official("hb_20260101.txt", &sjis(&hb)).unwrap();
        let may03 = ((2003, 5, 1), (2003, 5, 31));
        let jul03 = ((2003, 7, 1), (2003, 7, 31));
        assert_eq!(
            m.check(CodeSystem::Disease, "2500013", may03),
            CodeCheck::InForce
        );
        assert_eq!(
            m.check(CodeSystem::Disease, "2500013", jul03),
            CodeCheck::NotInForce
        );
        // An older full master's "not abolished as of 2024" does not outlive the newer
        // abolition.
        m.add_official("b_20240601.txt", &sjis(B)).unwrap();
        assert_eq!(
            m.check(CodeSystem::Disease, "2500013", jul03),
            CodeCheck::NotInForce
        );
        // A newer full master listing it in force again does.
        m.add_official("b_20270101.txt", &sjis(B)).unwrap();
        assert_eq!(
            m.check(CodeSystem::Disease, "2500013", jul03),
            CodeCheck::InForce
        );
        assert_eq!(m.versions().len(), 3);
    }

    #[test]
    fn an_open_end_lasts_until_a_later_full_master_drops_the_code() {
        let mut m = Masters::default();
        m.add_official("b_20240601.txt", &sjis(B)).unwrap();
        let later = ((2030, 1, 1), (2030, 1, 31));
        assert_eq!(
            m.check(CodeSystem::Disease, "8850001", later),
            CodeCheck::InForce,
            "open-ended, and no later master says otherwise"
        );
        // The 2026 full master lists only 2500013: 8850001 had left by then.
        let only_first: String = B.lines().next().unwrap().to_owned() + "\n";
        m.add_official("b_20260601.txt", &sjis(&only_first))
            .unwrap();
        assert_eq!(
            m.check(CodeSystem::Disease, "8850001", later),
            CodeCheck::NotInForce
        );
        assert_eq!(
            m.check(
                CodeSystem::Disease,
                "8850001",
                ((2025, 1, 1), (2025, 1, 31))
            ),
            CodeCheck::InForce
        );
    }

    #[test]
    fn the_embedded_subset_steps_aside_for_an_official_master() {
        let embedded = Masters::embedded_owned();
        let some = embedded.drugs[0].code.clone();
        let any = ((2024, 1, 1), (2024, 1, 31));
        assert_eq!(
            embedded.check(CodeSystem::Drug, &some, any),
            CodeCheck::InForce
        );
        // Once an official disease master is loaded, the embedded disease list no longer
        // decides; the embedded drug list still does (no official drug master here).
        let mut m = embedded.clone();
        m.add_official("b_20240601.txt", &sjis(B)).unwrap();
        let embedded_only = embedded
            .diseases
            .iter()
            .map(|d| d.code.clone())
            .find(|c| c != "2500013" && c != "8850001")
            .unwrap();
        assert_eq!(
            m.check(CodeSystem::Disease, &embedded_only, any),
            CodeCheck::Unknown
        );
        assert_eq!(m.check(CodeSystem::Drug, &some, any), CodeCheck::InForce);
    }

    #[test]
    fn malformed_files_are_named_not_guessed() {
        let mut m = Masters::default();
        let e = m
            .add_official("b_20240601.txt", &sjis("\"0\",\"Q\",\"1\"\r\n"))
            .unwrap_err();
        assert!(e.to_string().contains("マスター種別"), "{e}");
        let e = m
            .add_official("b_20240601.txt", &sjis("\"0\",\"B\",\"1\"\r\n"))
            .unwrap_err();
        assert!(e.to_string().contains("columns"), "{e}");
        let e = m.add_official("notes.csv", b"a,b\r\n").unwrap_err();
        assert!(
            e.to_string().contains("no 特定健診 item table header")
                || e.to_string().contains("header"),
            "{e}"
        );
        assert!(m.versions().is_empty());
    }

    #[test]
    fn the_checkup_item_table_is_found_by_its_header() {
        let t = "\u{feff}XML用特定健診項目情報,,,,\r\n実施項目,区分名称,項目コード（17桁）,項目名,\"データ\r\nタイプ\",表示用単位\r\n〇,身体計測,9N001000000000001,身長,数字,cm\r\n〇,問診,9N701000000000011,服薬1（血圧）,コード,\r\n※ 注,,,,,\r\n";
        let mut m = Masters::default();
        let v = m
            .add_official("特定健診項目表V4.csv", t.as_bytes())
            .unwrap();
        assert_eq!((v.system, v.rows), (CodeSystem::Lab, 2));
        let h = m.lab_item("9N001000000000001").unwrap();
        assert_eq!(
            (h.name_ja.as_str(), h.kind.as_str(), h.unit.as_str()),
            ("身長", "num", "cm")
        );
        assert_eq!(m.lab_item("9N701000000000011").unwrap().kind, "code");
    }

    #[test]
    fn names_and_shapes() {
        for ok in [
            "s_ALL20240531.csv",
            "y_ALL20240321.csv",
            "b_20240601.txt",
            "hb_20260101.txt",
            "z_20250601.txt",
            "c_20250715.csv",
        ] {
            assert!(is_official_name(ok), "{ok}");
        }
        for no in [
            "diseases.csv",
            "b_2024.txt",
            "x_20240601.txt",
            "b_20240601.xlsx",
        ] {
            assert!(!is_official_name(no), "{no}");
        }
        assert!(CodeSystem::Drug.well_formed("610406079"));
        assert!(!CodeSystem::Drug.well_formed("110406079"));
        assert!(!CodeSystem::Disease.well_formed("250001"));
        assert!(CodeSystem::Comment.well_formed("810000001"));
        assert!(CodeSystem::Lab.well_formed("9N001000000000001"));
        assert!(!CodeSystem::Lab.well_formed("9N00100000000000１"));
    }
}
