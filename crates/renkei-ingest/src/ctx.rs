//! What a reader writes into: the dataset's tables, the reject log, counters.

use crate::IngestError;
use crate::sink::TableSink;
use crate::tokens::Tokens;
use renkei_catalog::{RecordTally, UnknownCode};
use renkei_core::wareki::Ymd;
use renkei_masters::{CodeCheck, CodeSystem, Masters};

/// The period a code is checked over for a record dated `on`: that day, or, for a
/// record with no date, any time (a code in force at some time is not flagged for a
/// date nobody wrote down; a stand-in date such as 1900-01-01 would flag every one).
pub fn period_of(on: Option<Ymd>) -> (Ymd, Ymd) {
    match on {
        Some(d) => (d, d),
        None => ((1, 1, 1), (9999, 12, 31)),
    }
}

/// A rejected record: where and why (never the value: it may be identifying).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Reject {
    /// Source file (relative).
    pub file: String,
    /// Line (1-based; for JSON, the line of the NDJSON file).
    pub line: u64,
    /// Field (record type and field name).
    pub field: String,
    /// Reason.
    pub reason: String,
}

/// Most rejects kept in detail per reader; beyond this they are only counted.
const MAX_REJECT_DETAIL: usize = 100_000;

/// One reader thread's context.
pub struct ReadCtx<'s> {
    /// Code masters.
    pub masters: &'s Masters,
    /// Token computation.
    pub tokens: &'s Tokens,
    /// The dataset's tables, in declaration order.
    pub tables: Vec<TableSink<'s>>,
    /// Rejected records.
    pub rejects: Vec<Reject>,
    /// Records read.
    pub rows_in: u64,
    /// Records rejected.
    pub rows_rejected: u64,
    /// Earliest and latest dates the data cover.
    pub first: Option<Ymd>,
    /// Latest.
    pub last: Option<Ymd>,
    /// The file being read.
    pub file: String,
    /// Lines of the file before the block being read: readers count lines within the
    /// block, and a reject names the line of the file.
    pub line_base: u64,
    /// The file was refused as a whole (`reject_file`); its later blocks are counted as
    /// rejected without being read.
    pub file_refused: bool,
    /// How many bytes of a file are read at once (see `readers::Cut`).
    pub block: usize,
    /// A decode buffer kept from file to file: a fresh one per file spent its time in
    /// page faults.
    pub scratch: String,
    /// What to do with well-formed codes the master in force does not hold.
    pub policy: UnknownCode,
    /// Which masters were consulted (bit per [`CodeSystem`], in `CodeSystem::ALL` order).
    pub systems: u8,
    /// What became of the source records, by record type.
    pub tally: Vec<RecordTally>,
    /// The record type being read, and whether its code was flagged.
    current: Option<usize>,
    flagged: bool,
}

/// What [`ReadCtx::code`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coded {
    /// In the master in force.
    Known,
    /// Not in the master in force; kept and counted.
    Flagged,
    /// The record was rejected (and recorded).
    Rejected,
}

impl<'s> ReadCtx<'s> {
    /// A context writing to `tables`, with nothing read yet.
    pub fn new(masters: &'s Masters, tokens: &'s Tokens, tables: Vec<TableSink<'s>>) -> Self {
        Self {
            masters,
            tokens,
            tables,
            rejects: Vec::new(),
            rows_in: 0,
            rows_rejected: 0,
            first: None,
            last: None,
            file: String::new(),
            line_base: 0,
            file_refused: false,
            block: crate::readers::BLOCK,
            scratch: String::new(),
            policy: UnknownCode::Flag,
            systems: 0,
            tally: Vec::new(),
            current: None,
            flagged: false,
        }
    }

    /// Starts a record of type `kind` (counted as read).
    pub fn record(&mut self, kind: &str) {
        let i = match self.tally.iter().position(|t| t.kind == kind) {
            Some(i) => i,
            None => {
                self.tally.push(RecordTally {
                    kind: kind.to_owned(),
                    ..Default::default()
                });
                self.tally.len() - 1
            }
        };
        self.tally[i].read += 1;
        self.current = Some(i);
        self.flagged = false;
    }

    /// The current record became a stored row.
    pub fn stored(&mut self) {
        if let Some(i) = self.current {
            self.tally[i].stored += 1;
            if self.flagged {
                self.tally[i].flagged += 1;
            }
        }
    }

    /// A row of record type `kind` other than the current record's was stored (a
    /// receipt's row, written when its last line has been read).
    pub fn stored_as(&mut self, kind: &str) {
        if let Some(t) = self.tally.iter_mut().find(|t| t.kind == kind) {
            t.stored += 1;
        }
    }

    /// Checks `code` of `system` for a record of `period` (first and last day), counting
    /// against column `col` of table `table`. A malformed code rejects the record (a
    /// structural error); a well-formed one that the master in force does not hold is
    /// kept and counted, or rejects the record, as the dataset's policy says.
    #[allow(clippy::too_many_arguments)]
    pub fn code(
        &mut self,
        system: CodeSystem,
        code: &str,
        period: (Ymd, Ymd),
        table: usize,
        col: usize,
        ln: u64,
        field: &str,
    ) -> Coded {
        self.systems |= 1 << system as u8;
        self.tables[table].checked_against(col, system);
        if !system.well_formed(code) {
            self.tables[table].invalid(col);
            self.reject(ln, field, "not a well-formed code");
            return Coded::Rejected;
        }
        let why = match self.masters.check(system, code, period) {
            CodeCheck::InForce => return Coded::Known,
            CodeCheck::NotInForce => "in the master, but not in force on the record's date",
            CodeCheck::Unknown => "not in the master",
        };
        match self.policy {
            UnknownCode::Flag => {
                self.tables[table].not_in_master(col);
                self.flagged = true;
                Coded::Flagged
            }
            UnknownCode::Reject => {
                self.tables[table].invalid(col);
                let reason = format!("{} ({})", why, system.name_ja());
                self.reject(ln, field, &reason);
                Coded::Rejected
            }
        }
    }

    /// The index of a table.
    pub fn table(&self, name: &str) -> Result<usize, IngestError> {
        self.tables
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| IngestError::Schema(format!("the declaration has no table {name:?}")))
    }
    /// Records a rejected record. `field` and `reason` are written to a report that
    /// custodians download: they must name places and rules, never echo input values
    /// (a value may be a name or an insurer number). Echo a code only through
    /// [`shown_code`].
    pub fn reject(&mut self, line: u64, field: &str, reason: &str) {
        self.rows_rejected += 1;
        // The record type is what the field names before its dot (`SY.傷病名コード`), or
        // else the record being read (a declared column's name). A whole file's refusal
        // (line 0) is no record's.
        let kind = field.split('.').next().unwrap_or(field);
        let current = if line == 0 { None } else { self.current };
        if let Some(i) = self.tally.iter().position(|t| t.kind == kind).or(current) {
            self.tally[i].rejected += 1;
        }
        if self.rejects.len() < MAX_REJECT_DETAIL {
            self.rejects.push(Reject {
                file: self.file.clone(),
                line: if line == 0 { 0 } else { self.line_base + line },
                field: field.to_owned(),
                reason: reason.to_owned(),
            });
        }
    }
    /// Rejects a whole file that cannot be read (one entry; every line counted).
    pub fn reject_file(&mut self, bytes: &[u8], reason: &str) {
        let n = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
            .max(1) as u64;
        self.rows_in += n;
        self.rows_rejected += n - 1;
        self.reject(0, "file", reason);
        self.file_refused = true;
    }

    /// A block of a refused file: its records count as read and rejected.
    pub(crate) fn refuse_block(&mut self, bytes: &[u8]) {
        let n = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count() as u64;
        self.rows_in += n;
        self.rows_rejected += n;
    }

    /// Widens the coverage period.
    pub fn cover(&mut self, d: Ymd) {
        if self.first.is_none_or(|f| d < f) {
            self.first = Some(d);
        }
        if self.last.is_none_or(|l| d > l) {
            self.last = Some(d);
        }
    }
}

/// Record types of the UKE specifications (医科, DPC, 調剤, 歯科 and their 返戻/再審査
/// variants): the reject report may name these.
const UKE_RECORD_TYPES: &[&str] = &[
    "IR", "YK", "RE", "HO", "KO", "SN", "JD", "MF", "GR", "SY", "SI", "IY", "TO", "CO", "SJ", "TI",
    "TR", "TS", "GO", "BU", "SB", "KK", "SK", "GA", "HH", "GT", "CD", "SH", "CZ", "KI", "TK", "ST",
    "HR", "HS", "HD", "SS", "RC", "GI", "KH", "NI", "SR", "HI", "TJ", "DI",
];

/// `raw` if it is a UKE record type, else a placeholder: the reject report may name an
/// unexpected record type, but must not echo what stood in that field otherwise (a
/// shifted line can put a 記号, a name or an insurer number there).
pub fn shown_code(raw: &str) -> &str {
    if UKE_RECORD_TYPES.contains(&raw) {
        raw
    } else {
        "(not a record type)"
    }
}

/// Age in whole years on `on`.
pub fn age_on(birth: Ymd, on: Ymd) -> i64 {
    let mut a = i64::from(on.0 - birth.0);
    if (on.1, on.2) < (birth.1, birth.2) {
        a -= 1;
    }
    a
}

/// Five-year age band, `0-4` … `95-99`, `100+` (the Japanese publication rules' bands).
pub fn age_band(age: i64) -> &'static str {
    const BANDS: [&str; 20] = [
        "0-4", "5-9", "10-14", "15-19", "20-24", "25-29", "30-34", "35-39", "40-44", "45-49",
        "50-54", "55-59", "60-64", "65-69", "70-74", "75-79", "80-84", "85-89", "90-94", "95-99",
    ];
    match age {
        100.. => "100+",
        0..=99 => BANDS[(age / 5) as usize],
        _ => "",
    }
}

/// `YYYY-MM`.
pub fn birth_ym(d: Ymd) -> String {
    format!("{:04}-{:02}", d.0, d.1)
}

/// Parses `YYYYMM` or the 和暦 `GYYMM` into (year, month).
pub fn parse_ym(s: &str) -> Option<(i32, u32)> {
    let s = s.trim();
    match s.len() {
        6 if s.bytes().all(|b| b.is_ascii_digit()) => {
            let y: i32 = s[..4].parse().ok()?;
            let m: u32 = s[4..].parse().ok()?;
            (1..=12).contains(&m).then_some((y, m))
        }
        5 => renkei_core::wareki::parse_digits_ym(s),
        _ => None,
    }
}

/// Parses a date in the receipt forms: `YYYYMMDD` or `GYYMMDD`.
pub fn parse_date(s: &str) -> Option<Ymd> {
    let s = s.trim();
    match s.len() {
        8 => renkei_core::wareki::parse_seireki(s),
        7 => renkei_core::wareki::parse_digits(s),
        _ => None,
    }
}

/// Decodes CP932 text (receipt and exchange files). `None` if the bytes are not CP932.
pub fn decode_cp932(bytes: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    let (text, _, bad) = encoding_rs::SHIFT_JIS.decode(bytes);
    (!bad).then_some(text)
}

/// [`decode_cp932`] into `out` (cleared first), reusing its allocation. False if the
/// bytes are not CP932.
pub fn decode_cp932_into(bytes: &[u8], out: &mut String) -> bool {
    out.clear();
    let mut d = encoding_rs::SHIFT_JIS.new_decoder_without_bom_handling();
    let Some(need) = d.max_utf8_buffer_length_without_replacement(bytes.len()) else {
        return false;
    };
    out.reserve(need);
    let (result, _) = d.decode_to_string_without_replacement(bytes, out, true);
    matches!(result, encoding_rs::DecoderResult::InputEmpty)
}

#[cfg(test)]
mod tests {

    /// An undated record's code is checked over every period (a stand-in date such
    /// as 1900-01-01 would put every real code out of force).
    #[test]
    fn an_undated_record_is_checked_over_every_period() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/official/masters");
        let m = Masters::with_extra(&dir).unwrap();
        let check = |on| m.check(CodeSystem::Disease, "8848176", period_of(on));
        assert_eq!(check(None), CodeCheck::InForce);
        assert_eq!(check(Some((2024, 7, 1))), CodeCheck::InForce);
        assert_eq!(check(Some((1900, 1, 1))), CodeCheck::NotInForce);
    }
    use super::*;

    #[test]
    fn ages_and_bands() {
        assert_eq!(age_on((1950, 6, 15), (2025, 6, 14)), 74);
        assert_eq!(age_on((1950, 6, 15), (2025, 6, 15)), 75);
        for age in 0..100i64 {
            let lo = age / 5 * 5;
            assert_eq!(age_band(age), format!("{lo}-{}", lo + 4));
        }
        assert_eq!(age_band(-1), "");
        assert_eq!(age_band(74), "70-74");
        assert_eq!(age_band(0), "0-4");
        assert_eq!(age_band(103), "100+");
        assert_eq!(parse_ym("202502"), Some((2025, 2)));
        assert_eq!(parse_ym("50702"), Some((2025, 2)));
        assert_eq!(parse_ym("202513"), None);
        assert_eq!(parse_date("3150302"), Some((1940, 3, 2)));
    }
}
