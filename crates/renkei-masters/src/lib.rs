//! Code masters, maintained in one place (D4).
//!
//! The platform ships a small curated subset of the public masters (the 支払基金 masters
//! for diseases, drugs and procedures; the 特定健診 item code table; municipality codes),
//! embedded in the binary, enough for the synthetic world and the validation of its
//! data. Every code here is real: the curated rows were taken from the public master
//! files (see `data/*.csv`). A deployment loads the full master files with
//! [`Masters::with_extra`].
//!
//! **Invariant:** no I/O except reading files the caller names; the embedded masters
//! parse at first use and a malformed row is a bug caught by the tests.
#![warn(missing_docs)]

mod official;

pub use official::{CodeCheck, CodeSystem, MasterVersion, is_official_name};

use official::Span;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A disease name (傷病名).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disease {
    /// 7-digit レセ電 傷病名コード.
    pub code: String,
    /// 傷病名.
    pub name: String,
    /// ICD-10 (2013), without the dot; empty for 未コード化.
    pub icd10: String,
    /// MEDIS 病名管理番号, if known.
    pub medis: Option<String>,
    /// Clinical group used by the generator (hypertension, diabetes, ...).
    pub group: String,
}

/// A drug (医薬品).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drug {
    /// 9-digit レセ電 医薬品コード.
    pub code: String,
    /// 販売名.
    pub name: String,
    /// YJ code, if known.
    pub yj: Option<String>,
    /// 薬効分類 (the YJ code's first four digits).
    pub class: String,
    /// 内 oral, 外 topical, 注 injection.
    pub route: String,
    /// Clinical group.
    pub group: String,
}

/// A procedure (診療行為).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Procedure {
    /// 9-digit レセ電 診療行為コード.
    pub code: String,
    /// 名称.
    pub name: String,
    /// The 診療識別 it is billed under.
    pub care_category: String,
    /// Group (visit, lab, surgery, ...).
    pub group: String,
}

/// A specified medical material (特定保険医療材料).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Material {
    /// 9-digit レセ電 特定器材コード.
    pub code: String,
    /// 名称.
    pub name: String,
    /// Unit, if the material is counted in one (ｇ, 本, 個).
    pub unit: String,
    /// Price in yen per unit.
    pub price_yen: u64,
    /// Clinical group of the stays that use it.
    pub group: String,
}

/// A comment code (コメント).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// 9-digit レセ電 コメントコード (`8` + pattern + serial).
    pub code: String,
    /// コメント文.
    pub name: String,
    /// Pattern (10 free text, 20 fixed text, 30/31 fixed with free text, 40/42
    /// numbers, 50–53 dates, 80 and 90 other), which says what its 文字データ holds.
    pub pattern: String,
}

/// A modifier of a disease name (修飾語).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Modifier {
    /// 4-digit 修飾語コード (8002 = 疑い).
    pub code: String,
    /// 名称.
    pub name: String,
    /// Category: 1 部位, 2 位置, 3 病因, 4 経過表現, 5 状態表現, 6 患者帰属, 7 その他,
    /// 8 接尾語, 9 歯科.
    pub category: String,
}

/// A HOT9 code (MEDIS) with the YJ code of the same product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hot9 {
    /// 12-character YJ code.
    pub yj: String,
    /// 9-digit HOT code.
    pub hot9: String,
    /// Product name.
    pub name: String,
}

/// A checkup / laboratory item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabItem {
    /// 17-character item code.
    pub code: String,
    /// Japanese name.
    pub name_ja: String,
    /// English name.
    pub name_en: String,
    /// Unit.
    pub unit: String,
    /// `num` or `code`.
    pub kind: String,
}

/// A municipality.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Municipality {
    /// 6-digit 全国地方公共団体コード (with check digit).
    pub code: String,
    /// 2-digit prefecture code.
    pub prefecture: String,
    /// Name.
    pub name: String,
    /// Population (2020 census, rounded).
    pub population: u64,
}

/// A prefecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefecture {
    /// 2-digit code.
    pub code: String,
    /// Japanese name.
    pub name_ja: String,
    /// English name.
    pub name_en: String,
}

/// A long-term-care service type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CareService {
    /// 2-character サービス種類コード.
    pub code: String,
    /// Name.
    pub name: String,
}

/// A code found by [`Masters::search`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CodeHit {
    /// `disease`, `drug`, `procedure` or `lab`.
    pub system: &'static str,
    /// The code as the data carries it.
    pub code: String,
    /// Its name.
    pub name: String,
    /// What it maps to (ICD-10, YJ code and class, billing category, unit).
    pub related: String,
}

/// All masters, with look-ups by code.
#[derive(Clone, Debug, Default)]
pub struct Masters {
    /// Diseases.
    pub diseases: Vec<Disease>,
    /// Drugs.
    pub drugs: Vec<Drug>,
    /// Procedures.
    pub procedures: Vec<Procedure>,
    /// Specified medical materials.
    pub materials: Vec<Material>,
    /// HOT9 codes.
    pub hot9: Vec<Hot9>,
    /// Checkup / lab items.
    pub lab_items: Vec<LabItem>,
    /// Municipalities.
    pub municipalities: Vec<Municipality>,
    /// Prefectures.
    pub prefectures: Vec<Prefecture>,
    /// Care services.
    pub care_services: Vec<CareService>,
    /// Comment codes.
    pub comments: Vec<Comment>,
    /// Disease-name modifiers.
    pub modifiers: Vec<Modifier>,
    /// The master versions loaded: the embedded subset of each, then official files.
    versions: Vec<MasterVersion>,
    /// When each code of each system is in force, by [`CodeSystem::index`].
    spans: [HashMap<String, Vec<(official::Src, Span)>>; 7],
    comment_idx: HashMap<String, usize>,
    modifier_idx: HashMap<String, usize>,
    disease_idx: HashMap<String, usize>,
    drug_idx: HashMap<String, usize>,
    procedure_idx: HashMap<String, usize>,
    material_idx: HashMap<String, usize>,
    lab_idx: HashMap<String, usize>,
    yj_idx: HashMap<String, usize>,
    hot9_idx: HashMap<String, usize>,
    hot9_yj_idx: HashMap<String, usize>,
    icd10: std::collections::HashSet<String>,
    municipality_idx: HashMap<String, usize>,
}

/// A master file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    /// A row has too few fields.
    #[error("{file}:{line}: expected {expected} fields")]
    Row {
        /// File.
        file: String,
        /// Line (1-based).
        line: usize,
        /// Fields expected.
        expected: usize,
    },
    /// An official master file does not have the published layout.
    #[error("{file}:{line}: {why}")]
    Format {
        /// File.
        file: String,
        /// Line (1-based; 0 for the whole file).
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// Reading failed.
    #[error("{file}: {err}")]
    Io {
        /// File.
        file: String,
        /// OS error.
        err: std::io::Error,
    },
}

fn rows<'a>(
    file: &'a str,
    text: &'a str,
    n: usize,
) -> impl Iterator<Item = Result<Vec<&'a str>, MasterError>> + 'a {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(move |(i, l)| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            if f.len() < n {
                Err(MasterError::Row {
                    file: file.to_owned(),
                    line: i + 1,
                    expected: n,
                })
            } else {
                Ok(f)
            }
        })
}

/// The masters a site may extend (`Masters::with_extra`), with the embedded text of
/// each.
const EXTENSIBLE: [(&str, &str); 9] = [
    ("diseases.csv", include_str!("../data/diseases.csv")),
    ("drugs.csv", include_str!("../data/drugs.csv")),
    ("procedures.csv", include_str!("../data/procedures.csv")),
    ("materials.csv", include_str!("../data/materials.csv")),
    ("hot9.csv", include_str!("../data/hot9.csv")),
    ("lab_items.csv", include_str!("../data/lab_items.csv")),
    ("icd10.txt", include_str!("../data/icd10.txt")),
    ("comments.csv", include_str!("../data/comments.csv")),
    ("modifiers.csv", include_str!("../data/modifiers.csv")),
];

/// The code system each extensible file covers.
fn system_of(file: &str) -> Option<CodeSystem> {
    Some(match file {
        "diseases.csv" => CodeSystem::Disease,
        "drugs.csv" => CodeSystem::Drug,
        "procedures.csv" => CodeSystem::Procedure,
        "materials.csv" => CodeSystem::Material,
        "lab_items.csv" => CodeSystem::Lab,
        "comments.csv" => CodeSystem::Comment,
        "modifiers.csv" => CodeSystem::Modifier,
        _ => return None,
    })
}

/// Row positions by key; the first row of a key wins.
fn index<T>(rows: &[T], key: impl Fn(&T) -> Option<&str>) -> HashMap<String, usize> {
    let mut idx = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if let Some(k) = key(r) {
            idx.entry(k.to_owned()).or_insert(i);
        }
    }
    idx
}

/// Copies onto each of the first `n` rows (the embedded ones) what `describe` takes from
/// the first later row of the same code (the newest official version's).
trait Coded {
    fn code(&self) -> &str;
}
impl Coded for Disease {
    fn code(&self) -> &str {
        &self.code
    }
}
impl Coded for Drug {
    fn code(&self) -> &str {
        &self.code
    }
}

fn prefer_official<T: Coded + Clone>(rows: &mut [T], n: usize, describe: impl Fn(&mut T, &T)) {
    let (embedded, official) = rows.split_at_mut(n.min(rows.len()));
    let mut newest: HashMap<&str, &T> = HashMap::new();
    for o in official.iter() {
        newest.entry(o.code()).or_insert(o);
    }
    for e in embedded.iter_mut() {
        if let Some(o) = newest.get(e.code()) {
            describe(e, o);
        }
    }
}

/// Drops rows whose key an earlier row already has.
fn first_wins<T>(rows: &mut Vec<T>, key: impl Fn(&T) -> &str) {
    let mut seen = std::collections::HashSet::new();
    rows.retain(|r| seen.insert(key(r).to_owned()));
}

pub(crate) fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

impl Masters {
    /// The embedded masters.
    pub fn embedded() -> &'static Masters {
        static M: OnceLock<Masters> = OnceLock::new();
        M.get_or_init(|| {
            #[allow(clippy::expect_used)] // The embedded files are checked by the tests.
            Self::parse_embedded().expect("embedded masters are well-formed")
        })
    }

    /// An owned copy of the embedded masters (for services that hold their masters).
    pub fn embedded_owned() -> Masters {
        Self::embedded().clone()
    }

    fn parse_embedded() -> Result<Self, MasterError> {
        let mut m = Masters::default();
        for (file, text) in EXTENSIBLE {
            m.add_file(file, text, official::EMBEDDED)?;
            if let Some(system) = system_of(file) {
                let rows = m.codes_of(system).len() as u64;
                m.versions.push(MasterVersion {
                    system,
                    source: "embedded".into(),
                    published: None,
                    sha256: official::hex_digest(text.as_bytes()),
                    rows,
                });
            }
        }
        for r in rows(
            "municipalities.csv",
            include_str!("../data/municipalities.csv"),
            4,
        ) {
            let f = r?;
            m.municipalities.push(Municipality {
                code: with_municipality_check_digit(f[0]).unwrap_or_default(),
                prefecture: f[1].into(),
                name: f[2].into(),
                population: f[3].parse::<u64>().unwrap_or(0) * 1000,
            });
        }
        for r in rows(
            "prefectures.csv",
            include_str!("../data/prefectures.csv"),
            3,
        ) {
            let f = r?;
            m.prefectures.push(Prefecture {
                code: f[0].into(),
                name_ja: f[1].into(),
                name_en: f[2].into(),
            });
        }
        for r in rows(
            "care_services.csv",
            include_str!("../data/care_services.csv"),
            2,
        ) {
            let f = r?;
            m.care_services.push(CareService {
                code: f[0].into(),
                name: f[1].into(),
            });
        }
        m.reindex();
        Ok(m)
    }

    /// Adds the rows of one of the [`EXTENSIBLE`] files. Trailing columns a site's
    /// file leaves out are empty.
    fn add_file(&mut self, file: &str, text: &str, src: official::Src) -> Result<(), MasterError> {
        let min = match file {
            "diseases.csv" | "materials.csv" | "lab_items.csv" => 5,
            "hot9.csv" | "comments.csv" | "modifiers.csv" => 3,
            "drugs.csv" | "procedures.csv" => 2,
            "icd10.txt" => {
                self.icd10.extend(icd10_codes(text));
                return Ok(());
            }
            _ => 0,
        };
        for r in rows(file, text, min) {
            let f = r?;
            let g = |i: usize| f.get(i).copied().unwrap_or("");
            match file {
                "diseases.csv" => self.diseases.push(Disease {
                    code: g(0).into(),
                    name: g(1).into(),
                    icd10: g(2).into(),
                    medis: opt(g(3)),
                    group: g(4).into(),
                }),
                "drugs.csv" => self.drugs.push(Drug {
                    code: g(0).into(),
                    name: g(1).into(),
                    yj: opt(g(2)),
                    class: g(3).into(),
                    route: g(4).into(),
                    group: g(5).into(),
                }),
                "procedures.csv" => self.procedures.push(Procedure {
                    code: g(0).into(),
                    name: g(1).into(),
                    care_category: g(2).into(),
                    group: g(3).into(),
                }),
                "materials.csv" => self.materials.push(Material {
                    code: g(0).into(),
                    name: g(1).into(),
                    unit: g(2).into(),
                    price_yen: g(3).parse().unwrap_or(0),
                    group: g(4).into(),
                }),
                "hot9.csv" => self.hot9.push(Hot9 {
                    yj: g(0).into(),
                    hot9: g(1).into(),
                    name: g(2).into(),
                }),
                "lab_items.csv" => self.lab_items.push(LabItem {
                    code: g(0).into(),
                    name_ja: g(1).into(),
                    name_en: g(2).into(),
                    unit: g(3).into(),
                    kind: g(4).into(),
                }),
                "comments.csv" => self.comments.push(Comment {
                    code: g(0).into(),
                    name: g(1).into(),
                    pattern: g(2).into(),
                }),
                "modifiers.csv" => self.modifiers.push(Modifier {
                    code: g(0).into(),
                    name: g(1).into(),
                    category: g(2).into(),
                }),
                _ => {}
            }
            // Rows of the curated lists and a site's own lists carry no dates: in force
            // whenever a record is dated.
            if let Some(system) = system_of(file) {
                self.add_span(system, g(0), src, Span::ALWAYS);
            }
        }
        Ok(())
    }

    /// The codes of one system (for counting and listing).
    fn codes_of(&self, system: CodeSystem) -> Vec<&str> {
        match system {
            CodeSystem::Disease => self.diseases.iter().map(|d| d.code.as_str()).collect(),
            CodeSystem::Drug => self.drugs.iter().map(|d| d.code.as_str()).collect(),
            CodeSystem::Procedure => self.procedures.iter().map(|d| d.code.as_str()).collect(),
            CodeSystem::Material => self.materials.iter().map(|d| d.code.as_str()).collect(),
            CodeSystem::Lab => self.lab_items.iter().map(|d| d.code.as_str()).collect(),
            CodeSystem::Comment => self.comments.iter().map(|d| d.code.as_str()).collect(),
            CodeSystem::Modifier => self.modifiers.iter().map(|d| d.code.as_str()).collect(),
        }
    }

    fn reindex(&mut self) {
        self.disease_idx = index(&self.diseases, |d| Some(&d.code));
        self.drug_idx = index(&self.drugs, |d| Some(&d.code));
        self.procedure_idx = index(&self.procedures, |d| Some(&d.code));
        self.material_idx = index(&self.materials, |d| Some(&d.code));
        self.lab_idx = index(&self.lab_items, |d| Some(&d.code));
        self.yj_idx = index(&self.drugs, |d| d.yj.as_deref());
        self.hot9_idx = index(&self.hot9, |d| Some(&d.hot9));
        self.hot9_yj_idx = index(&self.hot9, |d| Some(&d.yj));
        self.municipality_idx = index(&self.municipalities, |d| Some(&d.code));
        self.comment_idx = index(&self.comments, |d| Some(&d.code));
        self.modifier_idx = index(&self.modifiers, |d| Some(&d.code));
    }

    /// The embedded masters plus a site's masters from `dir`, each file optional:
    ///
    /// - the **official masters** as published (`s_ALLyyyymmdd.csv`, `y_ALL…`, `t_ALL…`,
    ///   `c_ALL…`, `b_yyyymmdd.txt`, `hb_…`, `z_…`; see [`official`](crate::CodeSystem)),
    ///   several versions of one master side by side;
    /// - the 特定健診 item code table as CSV (any other `.csv` whose header names 項目コード
    ///   and 項目名);
    /// - a site's own lists in the embedded files' format (UTF-8, unquoted, `#`
    ///   comments): `diseases.csv`, `drugs.csv`, `procedures.csv`, `materials.csv`,
    ///   `hot9.csv`, `lab_items.csv`, `comments.csv`, `modifiers.csv`, and `icd10.txt`
    ///   (one code per line, e.g. the ICD-10 2013 codes Japan uses beyond WHO 2019).
    ///
    /// Where a code has several rows, the embedded row describes it, then the newest
    /// official version. Its period of force is the newest official version's that
    /// lists it (see [`Masters::check`]); once an official version of a master is
    /// loaded, the embedded subset no longer decides for that master. A directory that is
    /// missing or holds none of these files is an error: a mistyped path must not
    /// quietly leave only the embedded masters.
    pub fn with_extra(dir: &std::path::Path) -> Result<Masters, MasterError> {
        let io = |file: &std::path::Path, err| MasterError::Io {
            file: file.display().to_string(),
            err,
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(rd) => rd.flatten().collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(dir, e)),
        };
        let mut names: Vec<String> = entries
            .into_iter()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let extensible = |n: &str| EXTENSIBLE.iter().any(|(f, _)| *f == n);
        let official = |n: &str| is_official_name(n) || (n.ends_with(".csv") && !extensible(n));
        if !names.iter().any(|n| extensible(n) || official(n)) {
            let known: Vec<&str> = EXTENSIBLE.iter().map(|(f, _)| *f).collect();
            return Err(MasterError::Io {
                file: dir.display().to_string(),
                err: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "no master files here (expected official masters such as b_20240601.txt or s_ALL20240531.csv, or one of {})",
                        known.join(", ")
                    ),
                ),
            });
        }
        // Newest first, so the newest version describes a code.
        names.sort_by(|a, b| b.cmp(a));
        let embedded = Self::embedded();
        let mut m = embedded.clone();
        for (file, _) in EXTENSIBLE {
            let p = dir.join(file);
            match std::fs::read_to_string(&p) {
                Ok(t) => m.add_file(file, &t, official::SITE)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(io(&p, err)),
            }
        }
        for name in names.iter().filter(|n| official(n)) {
            let p = dir.join(name);
            let bytes = std::fs::read(&p).map_err(|e| io(&p, e))?;
            m.add_official(name, &bytes)?;
        }
        // One row per code: the embedded row (its clinical group drives the synthetic
        // world), described as the newest official version describes it.
        prefer_official(&mut m.diseases, embedded.diseases.len(), |e, o| {
            e.name = o.name.clone();
            if !o.icd10.is_empty() {
                e.icd10 = o.icd10.clone();
            }
            e.medis = o.medis.clone().or(e.medis.take());
        });
        prefer_official(&mut m.drugs, embedded.drugs.len(), |e, o| {
            e.name = o.name.clone();
            if o.yj.is_some() {
                e.yj = o.yj.clone();
                e.class = o.class.clone();
            }
        });
        first_wins(&mut m.diseases, |d| &d.code);
        first_wins(&mut m.drugs, |d| &d.code);
        first_wins(&mut m.procedures, |d| &d.code);
        first_wins(&mut m.materials, |d| &d.code);
        first_wins(&mut m.hot9, |d| &d.hot9);
        first_wins(&mut m.lab_items, |d| &d.code);
        first_wins(&mut m.comments, |d| &d.code);
        first_wins(&mut m.modifiers, |d| &d.code);
        m.reindex();
        Ok(m)
    }

    /// Codes whose name contains `q` (ignoring case and full/half width of Latin
    /// letters and digits) or whose code starts with it: diseases (with their ICD-10),
    /// drugs (with YJ code and class), procedures and checkup/lab items, at most
    /// `limit`, in that order. For the workspace's code look-up.
    pub fn search(&self, q: &str, limit: usize) -> Vec<CodeHit> {
        let norm = |s: &str| -> String {
            s.chars()
                .map(|c| match c {
                    // Full-width ASCII (U+FF01–U+FF5E) to its half-width form.
                    '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                    _ => c,
                })
                .flat_map(char::to_lowercase)
                .collect()
        };
        let q = norm(q.trim());
        if q.is_empty() {
            return Vec::new();
        }
        let hit = |name: &str, codes: &[&str]| {
            norm(name).contains(&q) || codes.iter().any(|c| norm(c).starts_with(&q))
        };
        let mut out = Vec::new();
        for d in &self.diseases {
            if hit(&d.name, &[&d.code, &d.icd10]) {
                out.push(CodeHit {
                    system: "disease",
                    code: d.code.clone(),
                    name: d.name.clone(),
                    related: format!("ICD-10 {}", d.icd10),
                });
            }
        }
        for d in &self.drugs {
            let yj = d.yj.as_deref().unwrap_or("");
            if hit(&d.name, &[&d.code, yj, &d.class]) {
                out.push(CodeHit {
                    system: "drug",
                    code: d.code.clone(),
                    name: d.name.clone(),
                    related: format!("YJ {yj} / class {}", d.class),
                });
            }
        }
        for p in &self.procedures {
            if hit(&p.name, &[&p.code]) {
                out.push(CodeHit {
                    system: "procedure",
                    code: p.code.clone(),
                    name: p.name.clone(),
                    related: format!("診療識別 {}", p.care_category),
                });
            }
        }
        for l in &self.lab_items {
            if hit(&l.name_ja, &[&l.code]) || norm(&l.name_en).contains(&q) {
                out.push(CodeHit {
                    system: "lab",
                    code: l.code.clone(),
                    name: format!("{} / {}", l.name_ja, l.name_en),
                    related: l.unit.clone(),
                });
            }
        }
        out.truncate(limit);
        out
    }

    /// A disease by its 7-digit code.
    pub fn disease(&self, code: &str) -> Option<&Disease> {
        self.disease_idx.get(code).map(|&i| &self.diseases[i])
    }
    /// A drug by its 9-digit code.
    pub fn drug(&self, code: &str) -> Option<&Drug> {
        self.drug_idx.get(code).map(|&i| &self.drugs[i])
    }
    /// A procedure by its 9-digit code.
    pub fn procedure(&self, code: &str) -> Option<&Procedure> {
        self.procedure_idx.get(code).map(|&i| &self.procedures[i])
    }
    /// A drug by its 12-character YJ code.
    pub fn drug_by_yj(&self, yj: &str) -> Option<&Drug> {
        self.yj_idx.get(yj).map(|&i| &self.drugs[i])
    }
    /// A HOT9 row by its 9-digit code.
    pub fn hot9(&self, code: &str) -> Option<&Hot9> {
        self.hot9_idx.get(code).map(|&i| &self.hot9[i])
    }
    /// The HOT9 row of a product, by its YJ code.
    pub fn hot9_for_yj(&self, yj: &str) -> Option<&Hot9> {
        self.hot9_yj_idx.get(yj).map(|&i| &self.hot9[i])
    }
    /// Whether `code` is an ICD-10 code (with or without the dot): a WHO category or
    /// subcategory, or a subcategory with a fifth character (the optional site and
    /// fracture subdivisions Japan's lists use, e.g. M48.06, S72.00).
    pub fn icd10_known(&self, code: &str) -> bool {
        // At most one dot, after the three-character category.
        let joined;
        let c = match code.split_once('.') {
            Some((cat, sub)) if cat.len() == 3 && !sub.contains('.') => {
                joined = [cat, sub].concat();
                joined.as_str()
            }
            Some(_) => return false,
            None => code,
        };
        self.icd10.contains(c)
            || (c.len() == 5
                && c.is_ascii()
                && c.as_bytes()[4].is_ascii_digit()
                && self.icd10.contains(&c[..4]))
    }
    /// Whether a YJ code names a known product: in the drug master, or in the HOT
    /// master (MEDIS's HOT master carries the YJ code of every product).
    pub fn yj_known(&self, yj: &str) -> bool {
        self.yj_idx.contains_key(yj) || self.hot9_yj_idx.contains_key(yj)
    }
    /// A specified medical material by its 9-digit code.
    pub fn material(&self, code: &str) -> Option<&Material> {
        self.material_idx.get(code).map(|&i| &self.materials[i])
    }
    /// A checkup item by its 17-character code.
    pub fn lab_item(&self, code: &str) -> Option<&LabItem> {
        self.lab_idx.get(code).map(|&i| &self.lab_items[i])
    }
    /// A comment code.
    pub fn comment(&self, code: &str) -> Option<&Comment> {
        self.comment_idx.get(code).map(|&i| &self.comments[i])
    }
    /// A disease-name modifier by its 4-digit code.
    pub fn modifier(&self, code: &str) -> Option<&Modifier> {
        self.modifier_idx.get(code).map(|&i| &self.modifiers[i])
    }
    /// A municipality by its 6-digit code.
    pub fn municipality(&self, code: &str) -> Option<&Municipality> {
        self.municipality_idx
            .get(code)
            .map(|&i| &self.municipalities[i])
    }
    /// A prefecture by its 2-digit code.
    pub fn prefecture(&self, code: &str) -> Option<&Prefecture> {
        self.prefectures.iter().find(|p| p.code == code)
    }
    /// Whether a care service code is known.
    pub fn care_service(&self, code: &str) -> Option<&CareService> {
        self.care_services.iter().find(|c| c.code == code)
    }
    /// Diseases in a clinical group.
    pub fn diseases_in(&self, group: &str) -> Vec<&Disease> {
        self.diseases.iter().filter(|d| d.group == group).collect()
    }
    /// Drugs in a clinical group.
    pub fn drugs_in(&self, group: &str) -> Vec<&Drug> {
        self.drugs.iter().filter(|d| d.group == group).collect()
    }
}

/// ICD-10 codes from a list (one per line, `#` comments), without dots.
fn icd10_codes(text: &str) -> std::collections::HashSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.replace('.', ""))
        .collect()
}

/// The 6-digit municipality code for a 5-digit one: weights 6,5,4,3,2; check digit
/// (11 − sum mod 11) mod 10.
pub fn with_municipality_check_digit(code5: &str) -> Option<String> {
    let d: Vec<u32> = code5
        .chars()
        .map(|c| c.to_digit(10))
        .collect::<Option<_>>()?;
    if d.len() != 5 {
        return None;
    }
    let sum: u32 = d.iter().zip([6, 5, 4, 3, 2]).map(|(a, w)| a * w).sum();
    let check = (11 - sum % 11) % 10;
    Some(format!("{code5}{check}"))
}

/// Whether a 6-digit municipality code's check digit is right.
pub fn municipality_code_valid(code6: &str) -> bool {
    code6.len() == 6
        && code6
            .get(..5)
            .and_then(with_municipality_check_digit)
            .as_deref()
            == Some(code6)
}

/// The check digit of an insurer number's data digits (保険者番号設定要領: Luhn, weight 2
/// on the rightmost data digit).
pub fn insurer_check_digit(data: &str) -> Option<u32> {
    let mut sum = 0;
    for (i, c) in data.chars().rev().enumerate() {
        let d = c.to_digit(10)?;
        let p = if i % 2 == 0 { d * 2 } else { d };
        sum += p / 10 + p % 10;
    }
    Some((10 - sum % 10) % 10)
}

/// Whether an insurer number (8 digits, or 6 for 国保) has a valid check digit.
pub fn insurer_number_valid(n: &str) -> bool {
    if !(n.len() == 8 || n.len() == 6) || !n.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let (data, check) = n.split_at(n.len() - 1);
    insurer_check_digit(data).is_some_and(|c| check.parse::<u32>().ok() == Some(c))
}

/// The kind of insurer, from the 法別番号 (first two digits of 8-digit numbers).
pub fn insurer_kind(n: &str) -> &'static str {
    if n.len() == 6 {
        return "kokuho";
    }
    match n.get(..2) {
        Some("01") => "kyokai",
        Some("02") => "seamen",
        Some("06") | Some("63") => "kumiai",
        Some("31") | Some("32") | Some("33") | Some("34") | Some("72") | Some("73")
        | Some("74") | Some("75") => "kyosai",
        Some("39") => "koki",
        Some("67") => "taishoku",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_found_by_name_or_code_prefix() {
        let m = Masters::embedded();
        let hits = m.search("高血圧", 50);
        assert!(
            hits.iter()
                .any(|h| h.system == "disease" && h.related == "ICD-10 I10"),
            "{hits:?}"
        );
        // Full-width letters and digits match their ASCII forms, both ways.
        let hits = m.search("ｈｂａ１ｃ", 10);
        assert!(
            hits.iter()
                .any(|h| h.system == "lab" && h.code == "3D046000001906202"),
            "{hits:?}"
        );
        assert!(
            hits.iter()
                .any(|h| h.system == "procedure" && h.name == "ＨｂＡ１ｃ"),
            "{hits:?}"
        );
        let hits = m.search("2189", 50);
        assert!(
            hits.iter().all(|h| h.system == "drug") && hits.len() >= 3,
            "{hits:?}"
        );
        assert!(m.search("  ", 10).is_empty());
        assert_eq!(m.search("高血圧", 1).len(), 1);
    }

    #[test]
    fn embedded_masters_parse_and_are_consistent() {
        let m = Masters::embedded();
        assert!(m.diseases.len() > 50 && m.drugs.len() > 40 && m.procedures.len() > 25);
        for d in &m.diseases {
            assert_eq!(d.code.len(), 7, "{d:?}");
            assert!(d.icd10.is_empty() == (d.code == "0000999"), "{d:?}");
        }
        for d in &m.drugs {
            assert!(d.code.len() == 9 && d.code.starts_with('6'), "{d:?}");
            assert_eq!(d.class.len(), 4);
            if let Some(yj) = &d.yj {
                assert_eq!(yj.len(), 12);
                assert!(
                    yj.starts_with(&d.class),
                    "{d:?}: the YJ code starts with its class"
                );
            }
        }
        for p in &m.procedures {
            assert!(p.code.len() == 9 && p.code.starts_with('1'), "{p:?}");
        }
        for l in &m.lab_items {
            assert_eq!(l.code.len(), 17, "{l:?}");
        }
        for t in &m.materials {
            assert!(t.code.len() == 9 && t.code.starts_with('7'), "{t:?}");
            assert!(t.price_yen > 0, "{t:?}");
        }
        assert!(m.material("710010618").unwrap().name.contains("人工股関節"));
        for h in &m.hot9 {
            assert!(h.hot9.len() == 9 && h.yj.len() == 12, "{h:?}");
        }
        assert_eq!(m.hot9_for_yj("1141007F3023").unwrap().hot9, "123812902");
        for d in m.diseases.iter().filter(|d| !d.icd10.is_empty()) {
            assert!(m.icd10_known(&d.icd10), "{d:?}");
        }
        for ok in ["I21.9", "I219", "C61", "S7200", "M48.06", "U071"] {
            assert!(m.icd10_known(ok), "{ok}");
        }
        for bad in [
            "I999",
            "ZZZ",
            "I2",
            "",
            "I21.99X",
            "１２３",
            "I219,",
            "I.2.1.9",
            "I21.9.",
            "S720X",
        ] {
            assert!(!m.icd10_known(bad), "{bad}");
        }
        for mu in &m.municipalities {
            assert!(municipality_code_valid(&mu.code), "{mu:?}");
            assert!(m.prefecture(&mu.prefecture).is_some());
        }
        assert_eq!(m.prefectures.len(), 47);
        assert_eq!(m.disease("2500015").unwrap().icd10, "E11");
        assert_eq!(m.drug("610406079").unwrap().name, "ガスター散２％");
    }

    #[test]
    fn a_site_extends_the_embedded_masters() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("hot9.csv"),
            "# yj,hot9,name\n2149044F1021,105218101,テスト錠\n1141007F3023,999999999,重複\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("lab_items.csv"),
            "3J010000002327101,総ビリルビン,Total bilirubin,mg/dl,num\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("drugs.csv"),
            "620000001,テスト薬,2149044F1021,214,内,hypertension\n",
        )
        .unwrap();
        let m = Masters::with_extra(d.path()).unwrap();
        assert_eq!(m.hot9("105218101").unwrap().name, "テスト錠");
        assert_eq!(m.drug_by_yj("2149044F1021").unwrap().code, "620000001");
        assert!(m.lab_item("3J010000002327101").is_some());
        assert!(
            m.hot9("999999999").is_some(),
            "a new HOT9 code for a known YJ is a new row"
        );
        assert_eq!(
            m.hot9_for_yj("1141007F3023").unwrap().hot9,
            "123812902",
            "the embedded row comes first"
        );
        assert!(Masters::embedded().hot9("105218101").is_none());
        let typo = Masters::with_extra(&d.path().join("mastres")).unwrap_err();
        assert!(typo.to_string().contains("no master files"), "{typo}");
    }

    #[test]
    fn check_digits() {
        // Known codes: 千代田区, 札幌市, 福島市 (remainder 1), 宇都宮市 (remainder 0).
        assert_eq!(with_municipality_check_digit("13101").unwrap(), "131016");
        assert_eq!(with_municipality_check_digit("01100").unwrap(), "011002");
        assert_eq!(with_municipality_check_digit("07201").unwrap(), "072010");
        assert_eq!(with_municipality_check_digit("09201").unwrap(), "092011");
        assert!(!municipality_code_valid("131017"));
        assert!(insurer_number_valid("33120015"));
        assert!(insurer_number_valid("06132013"));
        assert!(!insurer_number_valid("06132014"));
        assert_eq!(insurer_kind("39130000"), "koki");
        assert_eq!(insurer_kind("138016"), "kokuho");
    }
}
