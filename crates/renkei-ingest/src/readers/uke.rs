//! UKE receipt files (レセプト電算処理システム): CP932, CRLF, comma-separated, one file per
//! institution × billing month × payer; 医科, DPC and 調剤. Dates in 西暦 or 和暦.
//! Record layouts: docs/formats.md.
//!
//! A receipt's identifying fields (name, kana, birth date, insurer number, 記号・番号,
//! 枝番, カルテ番号) become tokens and a birth year-month; none is stored.

use crate::IngestError;
use crate::ctx::Coded;
use crate::ctx::{
    ReadCtx, age_band, age_on, birth_ym, decode_cp932_into, parse_date, parse_ym, shown_code,
};
use renkei_core::wareki::Ymd;
use renkei_masters::CodeSystem;

struct Cols {
    rec: usize,
    diag: usize,
    proc_: usize,
    mat: usize,
    drug: usize,
    dpc: usize,
    com: usize,
    r: [usize; 23],
    d: [usize; 10],
    p: [usize; 8],
    t: [usize; 8],
    g: [usize; 8],
    e: [usize; 5],
    k: [usize; 6],
}

/// Reads UKE files into the `ndb_claims` tables.
pub struct UkeReader {
    c: Cols,
    /// The file's header record (IR or YK), carried from block to block.
    head: Head,
}

const R: [&str; 23] = [
    "receipt_id",
    "kind",
    "payer",
    "institution",
    "prefecture",
    "billing_month",
    "service_month",
    "receipt_type",
    "inpatient",
    "insurer_kind",
    "sex",
    "birth_ym",
    "age",
    "age_band",
    "admission_date",
    "real_days",
    "total_points",
    "prescriber",
    "public_expense",
    "id1",
    "id1n",
    "id2",
    "facility_patient",
];
const D: [&str; 10] = [
    "receipt_id",
    "line_no",
    "disease_code",
    "icd10",
    "start_date",
    "outcome",
    "suspected",
    "main",
    "dpc_role",
    "modifiers",
];
const K: [&str; 6] = [
    "receipt_id",
    "line_no",
    "care_category",
    "code",
    "value",
    "text_dropped",
];
const P: [&str; 8] = [
    "receipt_id",
    "line_no",
    "care_category",
    "code",
    "quantity",
    "points",
    "times",
    "first_date",
];
const G: [&str; 8] = [
    "receipt_id",
    "line_no",
    "code",
    "yj",
    "drug_class",
    "quantity",
    "days",
    "dispensed_date",
];
const E: [&str; 5] = [
    "receipt_id",
    "dpc_code",
    "admission_date",
    "discharge_date",
    "outcome",
];

fn idx<const N: usize>(
    ctx: &ReadCtx,
    t: usize,
    names: [&str; N],
) -> Result<[usize; N], IngestError> {
    let mut out = [0; N];
    for (i, n) in names.iter().enumerate() {
        out[i] = ctx.tables[t].col(n)?;
    }
    Ok(out)
}

#[derive(Default)]
struct Head {
    payer: String,
    pref: String,
    table: u8,
    code7: String,
    billing: Option<(i32, u32)>,
}

#[derive(Default)]
struct Receipt {
    id: String,
    line: u64,
    valid: bool,
    kind: &'static str,
    rtype: String,
    service: (i32, u32),
    sex: String,
    birth: Ymd,
    admission: Option<Ymd>,
    karte: String,
    kana: String,
    insurer: String,
    kigo: String,
    bango: String,
    edaban: String,
    real_days: Option<i64>,
    points: Option<i64>,
    prescriber: String,
    /// 法別番号 of the first 公費 (KO), if any.
    public_expense: Option<String>,
    lines: u64,
    /// For 調剤 IY lines: days supplied and dispensed date of the current 剤 (from CZ).
    cz: Option<(i64, Option<Ymd>)>,
}

fn f<'a>(fields: &[&'a str], i: usize) -> &'a str {
    fields.get(i).map(|s| trim(s)).unwrap_or("")
}

/// `str::trim`, after a byte test that skips it for the usual field (a code or a number
/// with no space at either end): Unicode trimming decodes characters and showed in the
/// reader's profile.
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => s,
        (None, _) => s,
        _ => s.trim(),
    }
}

/// Splits a record on commas. `str::split(',')` compares each match with `memcmp`,
/// which was a fifth of the reader's time; memchr finds the bytes directly, and a comma
/// is ASCII, so every cut falls on a character boundary.
fn split_commas<'a>(line: &'a str, out: &mut Vec<&'a str>) {
    let mut start = 0;
    for i in memchr::memchr_iter(b',', line.as_bytes()) {
        out.push(line.get(start..i).unwrap_or(""));
        start = i + 1;
    }
    out.push(line.get(start..).unwrap_or(""));
}

/// Lines cut with memchr, for the same reason as [`split_commas`].
trait Lines {
    fn split_terminator_lines(&self) -> impl Iterator<Item = &str>;
}

impl Lines for str {
    fn split_terminator_lines(&self) -> impl Iterator<Item = &str> {
        let mut start = 0;
        let ends = memchr::memchr_iter(b'\n', self.as_bytes()).chain(std::iter::once(self.len()));
        ends.map(move |i| {
            let s = self.get(start..i).unwrap_or("");
            start = i + 1;
            s
        })
    }
}

/// `n` as `width` decimal digits, zero-padded (the low digits if it is wider).
fn push_digits(s: &mut String, n: u32, width: u32) {
    for k in (0..width).rev() {
        s.push(char::from(b'0' + (n / 10u32.pow(k) % 10) as u8));
    }
}

fn int(s: &str) -> Option<i64> {
    trim(s).parse().ok()
}

/// The first and last day of a service month (day 31 bounds every month).
fn month((y, m): (i32, u32)) -> (Ymd, Ymd) {
    ((y, m, 1), (y, m, 31))
}

/// Modifier codes run together (`20568002`) as `2056 8002`.
fn spaced(codes: &str) -> String {
    codes
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A comment's 文字データ, kept only where the comment's pattern (digits 2–3 of its
/// code) asks for a number (40, 42) or a date (50–53) and the value has that shape
/// after width folding (`１０１５`, `5011225`, `12.5`), and holds nothing that looks
/// like a telephone number, a postal code or an insurer's number. Anything else is
/// free text a doctor wrote, which can name people: `None`, never stored.
fn comment_value(code: &str, raw: &str) -> Option<String> {
    let pattern = code.get(1..3)?;
    if !matches!(pattern, "40" | "42" | "50" | "51" | "52" | "53") {
        return None;
    }
    let value = numeric_value(raw)?;
    if pattern.starts_with('5') {
        // A date: 和暦 GYYMMDD (or a time, HHMM), nothing else.
        let date = value.len() == 7
            && value.starts_with(['1', '2', '3', '4', '5'])
            && value.bytes().all(|b| b.is_ascii_digit());
        let time = value.len() == 4 && value.bytes().all(|b| b.is_ascii_digit());
        return (date || time).then_some(value);
    }
    if crate::screen::screen(&value, &[]).1 > 0 {
        return None;
    }
    Some(value)
}

/// `raw` as a number, a date or a time after width folding, if it is one.
fn numeric_value(raw: &str) -> Option<String> {
    let folded: String = raw
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '．' => '.',
            '－' | 'ー' => '-',
            '／' => '/',
            '：' => ':',
            c => c,
        })
        .filter(|c| !c.is_whitespace() && *c != '　')
        .collect();
    let ok = !folded.is_empty()
        && folded.bytes().any(|b| b.is_ascii_digit())
        && folded
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'/' | b':'));
    ok.then_some(folded)
}

impl UkeReader {
    /// A reader for the declared tables.
    pub fn new(ctx: &ReadCtx) -> Result<Self, IngestError> {
        let (rec, diag, proc_, mat, drug, dpc, com) = (
            ctx.table("receipts")?,
            ctx.table("diagnoses")?,
            ctx.table("procedures")?,
            ctx.table("materials")?,
            ctx.table("drugs")?,
            ctx.table("dpc_episodes")?,
            ctx.table("comments")?,
        );
        Ok(Self {
            c: Cols {
                rec,
                diag,
                proc_,
                mat,
                drug,
                dpc,
                com,
                r: idx(ctx, rec, R)?,
                d: idx(ctx, diag, D)?,
                p: idx(ctx, proc_, P)?,
                t: idx(ctx, mat, P)?,
                g: idx(ctx, drug, G)?,
                e: idx(ctx, dpc, E)?,
                k: idx(ctx, com, K)?,
            },
            head: Head::default(),
        })
    }

    /// Reads one file.
    /// Reads one block of a file (`first`: the file's start). Blocks are cut before a
    /// receipt, so only the file's header record crosses from one to the next.
    pub fn read(
        &mut self,
        ctx: &mut ReadCtx,
        bytes: &[u8],
        first: bool,
    ) -> Result<(), IngestError> {
        let mut text = std::mem::take(&mut ctx.scratch);
        let mut head = if first {
            Head::default()
        } else {
            std::mem::take(&mut self.head)
        };
        let r = if decode_cp932_into(bytes, &mut text) {
            let r = self.read_text(ctx, &text, &mut head);
            self.head = head;
            r
        } else {
            ctx.reject_file(bytes, "not CP932 text");
            Ok(())
        };
        ctx.scratch = text;
        r
    }

    fn read_text(&self, ctx: &mut ReadCtx, text: &str, head: &mut Head) -> Result<(), IngestError> {
        let mut rc: Option<Receipt> = None;
        // One buffer for every line's fields: a fresh Vec per line cost a third of the
        // reader's time in allocation.
        let mut fields: Vec<&str> = Vec::with_capacity(64);
        for (n, raw) in text.split_terminator_lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let ln = n as u64 + 1;
            ctx.rows_in += 1;
            fields.clear();
            split_commas(line, &mut fields);
            let fields = &fields[..];
            let rtype = fields[0];
            ctx.record(shown_code(rtype));
            match rtype {
                "IR" | "YK" => {
                    *head = Head {
                        payer: f(fields, 1).to_owned(),
                        pref: f(fields, 2).to_owned(),
                        table: f(fields, 3).bytes().next().unwrap_or(b'?'),
                        code7: f(fields, 4).to_owned(),
                        billing: parse_ym(f(fields, if rtype == "IR" { 7 } else { 6 })),
                    };
                    let ok = matches!(head.payer.as_str(), "1" | "2")
                        && head.pref.len() == 2
                        && head.code7.len() == 7
                        && head.billing.is_some()
                        && (rtype == "IR") == (head.table != b'4');
                    if !ok {
                        ctx.reject(ln, rtype, "malformed header (payer, prefecture, institution code or billing month)");
                        head.table = 0;
                    }
                }
                "RE" => {
                    if let Some(prev) = rc.take() {
                        self.finish(ctx, prev)?;
                    }
                    rc = Some(self.receipt(ctx, head, fields, ln));
                }
                "GO" => {
                    if let Some(prev) = rc.take() {
                        self.finish(ctx, prev)?;
                    }
                }
                _ => match rc.as_mut() {
                    None => ctx.reject(ln, shown_code(rtype), "record outside a receipt"),
                    Some(r) if !r.valid => {
                        ctx.reject(ln, shown_code(rtype), "part of a rejected receipt")
                    }
                    // HO and KO come right after RE: a receipt that reaches its first
                    // clinical record with neither has no payer and is refused before
                    // any of its rows are stored.
                    Some(r)
                        if r.insurer.is_empty()
                            && r.public_expense.is_none()
                            && !matches!(rtype, "HO" | "KO" | "SN" | "JD" | "MF" | "KI") =>
                    {
                        r.valid = false;
                        ctx.reject(
                            r.line,
                            "RE",
                            "receipt without an insurer (HO) or public-expense (KO) record",
                        );
                        ctx.reject(ln, shown_code(rtype), "part of a rejected receipt");
                    }
                    Some(r) => {
                        r.lines += 1;
                        self.child(ctx, head, r, fields, ln)?;
                    }
                },
            }
        }
        if let Some(prev) = rc.take() {
            self.finish(ctx, prev)?;
        }
        Ok(())
    }

    fn receipt(&self, ctx: &mut ReadCtx, head: &Head, fields: &[&str], ln: u64) -> Receipt {
        let chozai = head.table == b'4';
        let mut r = Receipt {
            line: ln,
            valid: false,
            kind: if chozai { "chozai" } else { "ika" },
            ..Default::default()
        };
        if head.table == 0 {
            ctx.reject(ln, "RE", "file has no valid IR/YK header");
            return r;
        }
        let no = f(fields, 1);
        r.rtype = f(fields, 2).to_owned();
        let service = parse_ym(f(fields, 3));
        r.sex = f(fields, 5).to_owned();
        let birth = parse_date(f(fields, 6));
        let problem = if no.is_empty() || !no.bytes().all(|b| b.is_ascii_digit()) {
            Some(("RE.レセプト番号", "not a number"))
        } else if r.rtype.len() != 4
            || !r.rtype.bytes().all(|b| b.is_ascii_digit())
            || r.rtype.as_bytes()[0] != head.table
        {
            Some((
                "RE.レセプト種別",
                "not a receipt type of this file's 点数表",
            ))
        } else if service.is_none() {
            Some(("RE.診療年月", "not a month (YYYYMM or GYYMM)"))
        } else if !matches!(r.sex.as_str(), "1" | "2") {
            Some(("RE.男女区分", "not 1 or 2"))
        } else if birth.is_none() {
            Some(("RE.生年月日", "not a date (YYYYMMDD or GYYMMDD)"))
        } else if f(fields, 4).is_empty() {
            Some(("RE.氏名", "missing"))
        } else {
            None
        };
        if let Some((field, why)) = problem {
            ctx.reject(ln, field, why);
            return r;
        }
        let (Some(service), Some(birth)) = (service, birth) else {
            return r;
        };
        if birth > (service.0, service.1, 31) {
            ctx.reject(ln, "RE.生年月日", "after the service month");
            return r;
        }
        r.valid = true;
        r.service = service;
        r.birth = birth;
        if chozai {
            r.kana = f(fields, 41).to_owned();
            r.karte = f(fields, 35).to_owned();
            r.prescriber = [f(fields, 9), f(fields, 11)].concat();
        } else {
            r.kana = f(fields, 36).to_owned();
            r.karte = f(fields, 13).to_owned();
            r.admission = parse_date(f(fields, 8));
        }
        let billing = head.billing.unwrap_or((0, 0));
        // `{pref}{table}{code7}-{payer}-{YYYYMM}-{no}`, pushed piece by piece: once per
        // receipt, `format!` showed in the profile.
        let mut id = String::with_capacity(32);
        id.push_str(&head.pref);
        id.push(head.table as char);
        id.push_str(&head.code7);
        id.push('-');
        id.push_str(&head.payer);
        id.push('-');
        push_digits(&mut id, billing.0.clamp(0, 9999).unsigned_abs(), 4);
        push_digits(&mut id, billing.1, 2);
        id.push('-');
        id.push_str(no);
        r.id = id;
        ctx.cover((service.0, service.1, 1));
        r
    }

    fn child(
        &self,
        ctx: &mut ReadCtx,
        head: &Head,
        r: &mut Receipt,
        fields: &[&str],
        ln: u64,
    ) -> Result<(), IngestError> {
        let c = &self.c;
        let chozai = head.table == b'4';
        match fields[0] {
            "HO" => {
                let ins = f(fields, 1);
                if !renkei_masters::insurer_number_valid(ins) {
                    ctx.reject(
                        ln,
                        "HO.保険者番号",
                        "not a valid insurer number (length or check digit)",
                    );
                    ctx.reject(
                        r.line,
                        "RE",
                        "receipt rejected: its insurer record is invalid",
                    );
                    r.valid = false;
                    return Ok(());
                }
                r.insurer = ins.to_owned();
                r.kigo = f(fields, 2).to_owned();
                r.bango = f(fields, 3).to_owned();
                r.real_days = int(f(fields, 4));
                r.points = int(f(fields, 5));
            }
            "SN" => r.edaban = f(fields, 6).to_owned(),
            "KO" => {
                // 公費負担者番号: 法別 2 + 都道府県 2 + 実施機関 3 + check digit. Only the
                // 法別番号 (which programme) is kept; the recipient number identifies a
                // person and is dropped.
                let payer = f(fields, 1);
                let ok = payer.len() == 8
                    && payer.bytes().all(|b| b.is_ascii_digit())
                    && renkei_masters::insurer_check_digit(&payer[..7])
                        == payer[7..].parse::<u32>().ok();
                if !ok {
                    ctx.tables[c.rec].invalid(c.r[18]);
                    // The receipt stands on its insurance; only the 公費 line is refused.
                    ctx.reject(
                        ln,
                        "KO.公費負担者番号",
                        "not 8 digits with a valid check digit",
                    );
                    return Ok(());
                }
                if r.public_expense.is_none() {
                    r.public_expense = Some(payer[..2].to_owned());
                }
            }
            "TO" => {
                let code = f(fields, 3);
                let month = month(r.service);
                if ctx.code(
                    CodeSystem::Material,
                    code,
                    month,
                    c.mat,
                    c.t[3],
                    ln,
                    "TO.特定器材コード",
                ) == Coded::Rejected
                {
                    return Ok(());
                }
                let first = (17..48).find(|i| !f(fields, *i).is_empty()).and_then(|i| {
                    renkei_core::wareki::date(r.service.0, r.service.1, i as u32 - 16)
                });
                let t = &mut ctx.tables[c.mat];
                t.text(c.t[0], Some(&r.id));
                t.int(c.t[1], Some(r.lines as i64));
                t.text(c.t[2], Some(f(fields, 1)));
                t.text(c.t[3], Some(code));
                t.float(c.t[4], f(fields, 4).parse().ok());
                t.int(c.t[5], int(f(fields, 5)));
                t.int(c.t[6], int(f(fields, 6)));
                t.date(c.t[7], first);
                t.end_row()?;
                ctx.stored();
            }
            "CO" => {
                // The comment's code is stored. Its 文字データ is kept only where it is
                // a number or a date (the numeric and date patterns); free text a doctor
                // wrote can name people and is dropped at the door, counted.
                let code = f(fields, 3);
                if ctx.code(
                    CodeSystem::Comment,
                    code,
                    month(r.service),
                    c.com,
                    c.k[3],
                    ln,
                    "CO.コメントコード",
                ) == Coded::Rejected
                {
                    return Ok(());
                }
                let raw = f(fields, 4);
                let value = comment_value(code, raw);
                let t = &mut ctx.tables[c.com];
                t.text(c.k[0], Some(&r.id));
                t.int(c.k[1], Some(r.lines as i64));
                t.text(c.k[2], Some(f(fields, 1)));
                t.text(c.k[3], Some(code));
                t.text(c.k[4], value.as_deref());
                t.boolean(c.k[5], Some(!raw.is_empty() && value.is_none()));
                t.end_row()?;
                ctx.stored();
            }
            // 症状詳記 (SJ) is free text a doctor wrote: it can name people, so it is
            // read past and never stored.
            //
            // DPC receipts also carry KK (患者基礎), SK (診療関連), GA (外泊), GT (合計調整),
            // CD (コーディングデータ) and GR/TI/TR/TS: billing structure, and acts that the EF
            // file (read into `dpc.acts`) carries with verified field layouts. They are
            // recognized and read past rather than refused.
            "SH" | "HH" | "SJ" | "JD" | "MF" | "KI" | "TK" | "ST" | "KK" | "SK" | "GA" | "GT"
            | "CD" | "GR" | "TI" | "TR" | "TS" => {}
            "CZ" => {
                let days = int(f(fields, 5)).unwrap_or(0);
                let md = f(fields, 3);
                // Byte positions are character positions only in ASCII digits: a field
                // like `あ1` is four bytes and must not be sliced.
                let date = if md.len() == 4 && md.bytes().all(|b| b.is_ascii_digit()) {
                    let (m, d) = (md[..2].parse().unwrap_or(0), md[2..].parse().unwrap_or(0));
                    renkei_core::wareki::date(r.service.0, m, d)
                } else {
                    parse_date(md)
                };
                r.cz = Some((days, date));
            }
            "SY" | "SB" => {
                let sb = fields[0] == "SB";
                let code = f(fields, if sb { 3 } else { 1 });
                let field = if sb {
                    "SB.傷病名コード"
                } else {
                    "SY.傷病名コード"
                };
                let month = month(r.service);
                let known =
                    match ctx.code(CodeSystem::Disease, code, month, c.diag, c.d[2], ln, field) {
                        Coded::Rejected => return Ok(()),
                        Coded::Known => ctx.masters.disease(code).map(|d| d.icd10.clone()),
                        Coded::Flagged => None,
                    };
                // 修飾語コード: 4-digit codes run together in field 4 of SY and SB.
                let modifiers = f(fields, 4);
                if !modifiers.len().is_multiple_of(4) || !modifiers.is_ascii() {
                    ctx.tables[c.diag].invalid(c.d[9]);
                    ctx.reject(
                        ln,
                        if sb {
                            "SB.修飾語コード"
                        } else {
                            "SY.修飾語コード"
                        },
                        "not 4-digit codes run together",
                    );
                    return Ok(());
                }
                for m in modifiers.as_bytes().chunks(4) {
                    let m = std::str::from_utf8(m).unwrap_or("");
                    let field = if sb {
                        "SB.修飾語コード"
                    } else {
                        "SY.修飾語コード"
                    };
                    if ctx.code(CodeSystem::Modifier, m, month, c.diag, c.d[9], ln, field)
                        == Coded::Rejected
                    {
                        return Ok(());
                    }
                }
                let start = if sb { None } else { parse_date(f(fields, 2)) };
                if !sb && start.is_none() {
                    ctx.tables[c.diag].invalid(c.d[4]);
                    ctx.reject(ln, "SY.診療開始日", "not a date");
                    return Ok(());
                }
                let outcome = f(fields, 3);
                if !sb && !matches!(outcome, "1" | "2" | "3" | "4") {
                    ctx.tables[c.diag].invalid(c.d[5]);
                    ctx.reject(ln, "SY.転帰区分", "not 1–4");
                    return Ok(());
                }
                let icd = if sb && !f(fields, 2).is_empty() {
                    Some(f(fields, 2))
                } else {
                    known.as_deref().filter(|i| !i.is_empty())
                };
                let suspected = modifiers.as_bytes().chunks(4).any(|m| m == b"8002");
                let t = &mut ctx.tables[c.diag];
                t.text(c.d[0], Some(&r.id));
                t.int(c.d[1], Some(r.lines as i64));
                t.text(c.d[2], Some(code));
                t.text(c.d[3], icd);
                t.date(c.d[4], start);
                t.text(c.d[5], if sb { None } else { Some(outcome) });
                t.boolean(c.d[6], Some(suspected));
                t.boolean(
                    c.d[7],
                    Some(if sb {
                        f(fields, 1) == "11"
                    } else {
                        f(fields, 6) == "01"
                    }),
                );
                t.text(c.d[8], if sb { Some(f(fields, 1)) } else { None });
                t.text(c.d[9], Some(&spaced(modifiers)));
                t.end_row()?;
                ctx.stored();
            }
            "SI" => {
                let code = f(fields, 3);
                if ctx.code(
                    CodeSystem::Procedure,
                    code,
                    month(r.service),
                    c.proc_,
                    c.p[3],
                    ln,
                    "SI.診療行為コード",
                ) == Coded::Rejected
                {
                    return Ok(());
                }
                let first = (13..44).find(|i| !f(fields, *i).is_empty()).and_then(|i| {
                    renkei_core::wareki::date(r.service.0, r.service.1, i as u32 - 12)
                });
                let t = &mut ctx.tables[c.proc_];
                t.text(c.p[0], Some(&r.id));
                t.int(c.p[1], Some(r.lines as i64));
                t.text(c.p[2], Some(f(fields, 1)));
                t.text(c.p[3], Some(code));
                t.text(c.p[4], Some(f(fields, 4)));
                t.int(c.p[5], int(f(fields, 5)));
                t.int(c.p[6], int(f(fields, 6)));
                t.date(c.p[7], first);
                t.end_row()?;
                ctx.stored();
            }
            "IY" => {
                let (code, qty) = if chozai {
                    (f(fields, 2), f(fields, 3))
                } else {
                    (f(fields, 3), f(fields, 4))
                };
                let drug = match ctx.code(
                    CodeSystem::Drug,
                    code,
                    month(r.service),
                    c.drug,
                    c.g[2],
                    ln,
                    "IY.医薬品コード",
                ) {
                    Coded::Rejected => return Ok(()),
                    Coded::Known => ctx
                        .masters
                        .drug(code)
                        .map(|d| (d.yj.clone(), d.class.clone())),
                    Coded::Flagged => None,
                };
                let (yj, class) = drug.unwrap_or_default();
                let (days, dispensed) = if chozai {
                    r.cz.map(|(d, dt)| (Some(d), dt)).unwrap_or((None, None))
                } else {
                    (None, None)
                };
                let t = &mut ctx.tables[c.drug];
                t.text(c.g[0], Some(&r.id));
                t.int(c.g[1], Some(r.lines as i64));
                t.text(c.g[2], Some(code));
                t.text(c.g[3], yj.as_deref());
                t.text(c.g[4], Some(&class));
                t.float(c.g[5], qty.parse().ok());
                t.int(c.g[6], days);
                t.date(c.g[7], dispensed);
                t.end_row()?;
                ctx.stored();
            }
            "BU" => {
                r.kind = "dpc";
                let admit = parse_date(f(fields, 2));
                let code = f(fields, 1);
                if code.len() != 14 || admit.is_none() {
                    ctx.reject(
                        ln,
                        "BU",
                        "DPC code (14 characters) or admission date malformed",
                    );
                    return Ok(());
                }
                let t = &mut ctx.tables[c.dpc];
                t.text(c.e[0], Some(&r.id));
                t.text(c.e[1], Some(code));
                t.date(c.e[2], admit);
                t.date(c.e[3], parse_date(f(fields, 3)));
                t.text(c.e[4], Some(f(fields, 4)));
                t.end_row()?;
                ctx.stored();
            }
            other => ctx.reject(ln, shown_code(other), "unknown record type"),
        }
        Ok(())
    }

    fn finish(&self, ctx: &mut ReadCtx, r: Receipt) -> Result<(), IngestError> {
        if !r.valid {
            return Ok(());
        }
        // 公費単独 (e.g. 生活保護, 法別 12) receipts carry KO but no HO: they stand, with
        // no ID1 (there is no insurer number to make it from) but an ID2.
        if r.insurer.is_empty() && r.public_expense.is_none() {
            ctx.reject(
                r.line,
                "RE",
                "receipt without an insurer (HO) or public-expense (KO) record",
            );
            return Ok(());
        }
        let c = &self.c;
        let on = (r.service.0, r.service.1, 1);
        let age = age_on(r.birth, on);
        let tk = ctx.tokens;
        let id1 = tk.id1(&r.insurer, &r.kigo, &r.bango, r.birth, &r.sex);
        let id1n = tk.id1n(&r.insurer, &r.kigo, &r.bango, &r.edaban, r.birth, &r.sex);
        let id2 = tk.id2(&r.kana, r.birth, &r.sex);
        let facility =
            r.id.get(..2)
                .map(|p| [p, r.id.get(3..10).unwrap_or("")].concat())
                .unwrap_or_default();
        let fp = tk.facility_patient(&facility, &r.karte);
        let billing =
            r.id.split('-')
                .nth(2)
                .and_then(parse_ym)
                .map(|(y, m)| (y, m, 1));
        let t = &mut ctx.tables[c.rec];
        t.text(c.r[0], Some(&r.id));
        t.text(c.r[1], Some(r.kind));
        t.text(c.r[2], r.id.split('-').nth(1));
        t.text(c.r[3], r.id.split('-').next());
        t.text(c.r[4], r.id.get(..2));
        t.date(c.r[5], billing);
        t.date(c.r[6], Some(on));
        t.text(c.r[7], Some(&r.rtype));
        t.boolean(
            c.r[8],
            Some(r.rtype.as_bytes().get(3).is_some_and(|d| d % 2 == 1)),
        );
        t.text(c.r[9], Some(renkei_masters::insurer_kind(&r.insurer)));
        t.text(c.r[10], Some(&r.sex));
        t.text(c.r[11], Some(&birth_ym(r.birth)));
        t.int(c.r[12], Some(age));
        t.text(c.r[13], Some(age_band(age)));
        t.date(c.r[14], r.admission);
        t.int(c.r[15], r.real_days);
        t.int(c.r[16], r.points);
        t.text(
            c.r[17],
            if r.prescriber.is_empty() {
                None
            } else {
                Some(&r.prescriber)
            },
        );
        t.text(c.r[18], r.public_expense.as_deref());
        t.token(c.r[19], id1);
        t.token(c.r[20], id1n);
        t.token(c.r[21], id2);
        t.token(c.r[22], fp);
        t.end_row()?;
        ctx.stored_as("RE");
        Ok(())
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The memchr cuts are exactly `str::split`'s.
        #[test]
        fn cuts_match_str_split(s in "[a-zアイ,\\n\\r]{0,40}") {
            let lines: Vec<&str> = s.split_terminator_lines().collect();
            prop_assert_eq!(lines, s.split('\n').collect::<Vec<_>>());
            let mut fields = Vec::new();
            split_commas(&s, &mut fields);
            prop_assert_eq!(fields, s.split(',').collect::<Vec<_>>());
        }

        /// Receipt ids keep the digits `format!` gave them.
        #[test]
        fn digits_match_format(n in 0u32..10000, w in 2u32..5) {
            let mut s = String::new();
            push_digits(&mut s, n % 10u32.pow(w), w);
            prop_assert_eq!(s, format!("{:0w$}", n % 10u32.pow(w), w = w as usize));
        }

        /// The shortcut trims exactly as `str::trim`.
        #[test]
        fn trim_matches_str_trim(s in "[ 　\t\r\u{a0}a-z0-9アイ]{0,12}") {
            prop_assert_eq!(trim(&s), s.trim());
        }
    }
}

#[cfg(test)]
mod comment_tests {
    use super::comment_value;

    #[test]
    fn comment_values_follow_the_comment_pattern() {
        // A number under a numeric comment, full-width digits folded.
        assert_eq!(comment_value("842100001", "３５"), Some("35".into()));
        // A date under a date comment.
        assert_eq!(
            comment_value("850100051", "５０１１２２５"),
            Some("5011225".into())
        );
        // Digits under a free comment are free text: dropped.
        assert_eq!(comment_value("810000001", "１０１５"), None);
        // A telephone number or an insurer's number is dropped wherever it is.
        assert_eq!(comment_value("842100001", "03-1234-5678"), None);
        assert_eq!(comment_value("842100001", "06130012"), None);
        // Words under a numeric comment.
        assert_eq!(comment_value("842100001", "山田様"), None);
    }
}
