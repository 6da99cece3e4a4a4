//! The CSV exchange files: 特定健診 results, 介護DB certifications and claims, death
//! records. CP932 with a header row; layouts in docs/formats.md.

use super::{cols, split};
use crate::IngestError;
use crate::ctx::Coded;
use crate::ctx::{ReadCtx, age_band, age_on, birth_ym, decode_cp932, parse_date, parse_ym};
use renkei_masters::CodeSystem;

fn header_ok(ctx: &mut ReadCtx, text: &str, bytes: &[u8], expected: &str) -> bool {
    let first = text
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches('\u{feff}')
        .trim_end_matches('\r');
    if first != expected {
        ctx.reject_file(bytes, "unexpected header row");
        return false;
    }
    true
}

fn postal3(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).take(3).collect()
}

const C: [&str; 12] = [
    "checkup_id",
    "insurer_kind",
    "sex",
    "birth_ym",
    "age",
    "age_band",
    "checkup_date",
    "institution",
    "postal3",
    "id1",
    "id1n",
    "id2",
];
const R: [&str; 5] = ["checkup_id", "item_code", "value_num", "value_code", "unit"];

/// 特定健診 results: one row per item, grouped by 整理番号.
pub struct CheckupReader {
    checkups: usize,
    results: usize,
    c: [usize; 12],
    r: [usize; 5],
}

impl CheckupReader {
    /// A reader for the declared tables.
    pub fn new(ctx: &ReadCtx) -> Result<Self, IngestError> {
        let (checkups, results) = (ctx.table("checkups")?, ctx.table("results")?);
        Ok(Self {
            checkups,
            results,
            c: cols(ctx, checkups, C)?,
            r: cols(ctx, results, R)?,
        })
    }

    /// Reads one file.
    pub fn read(&mut self, ctx: &mut ReadCtx, bytes: &[u8]) -> Result<(), IngestError> {
        let Some(text) = decode_cp932(bytes) else {
            ctx.reject_file(bytes, "not CP932 text");
            return Ok(());
        };
        if !header_ok(ctx, &text, bytes, headers::CHECKUP) {
            return Ok(());
        }
        let mut current: Option<(String, bool)> = None;
        for (n, line) in text.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let ln = n as u64 + 1;
            ctx.rows_in += 1;
            ctx.record("健診");
            let f = split(line);
            if f.len() < 14 {
                ctx.reject(ln, "健診", "fewer than 14 fields");
                continue;
            }
            let id = f[0];
            if current.as_ref().is_none_or(|(c, _)| c != id) {
                let ok = self.checkup(ctx, &f, ln)?;
                current = Some((id.to_owned(), ok));
            }
            if current.as_ref().is_some_and(|(_, ok)| !ok) {
                ctx.reject(ln, "健診", "part of a rejected checkup");
                continue;
            }
            let code = f[11];
            let on = crate::ctx::period_of(parse_date(f[9]));
            // An item missing from the table (kept under the default policy) is stored
            // with its value as given, as a code.
            let kind = match ctx.code(
                CodeSystem::Lab,
                code,
                on,
                self.results,
                self.r[1],
                ln,
                "健診.項目コード",
            ) {
                Coded::Rejected => continue,
                Coded::Known => ctx
                    .masters
                    .lab_item(code)
                    .map_or("code", |i| i.kind.as_str()),
                Coded::Flagged => "code",
            };
            let num = if kind == "num" {
                match f[12].parse::<f64>() {
                    Ok(x) => Some(x),
                    Err(_) if f[12].is_empty() => None,
                    Err(_) => {
                        ctx.tables[self.results].invalid(self.r[2]);
                        ctx.reject(ln, "健診.結果値", "not a number");
                        continue;
                    }
                }
            } else {
                None
            };
            let t = &mut ctx.tables[self.results];
            t.text(self.r[0], Some(id));
            t.text(self.r[1], Some(code));
            t.float(self.r[2], num);
            t.text(self.r[3], if kind == "num" { None } else { Some(f[12]) });
            t.text(self.r[4], Some(f[13]));
            t.end_row()?;
            ctx.stored();
        }
        Ok(())
    }

    fn checkup(&mut self, ctx: &mut ReadCtx, f: &[&str], ln: u64) -> Result<bool, IngestError> {
        let (insurer, kigo, bango, eda, kana, sex) = (f[1], f[2], f[3], f[4], f[5], f[7]);
        let problem = if !renkei_masters::insurer_number_valid(insurer) {
            Some(("健診.保険者番号", "not a valid insurer number"))
        } else if !matches!(sex, "1" | "2") {
            Some(("健診.性別", "not 1 or 2"))
        } else if parse_date(f[6]).is_none() {
            Some(("健診.生年月日", "not a date"))
        } else if parse_date(f[9]).is_none() {
            Some(("健診.受診日", "not a date"))
        } else {
            None
        };
        if let Some((field, why)) = problem {
            ctx.reject(ln, field, why);
            return Ok(false);
        }
        let (Some(birth), Some(day)) = (parse_date(f[6]), parse_date(f[9])) else {
            return Ok(false);
        };
        let age = age_on(birth, day);
        ctx.cover(day);
        let tk = ctx.tokens;
        let (id1, id1n, id2) = (
            tk.id1(insurer, kigo, bango, birth, sex),
            tk.id1n(insurer, kigo, bango, eda, birth, sex),
            tk.id2(kana, birth, sex),
        );
        let c = &self.c;
        let t = &mut ctx.tables[self.checkups];
        t.text(c[0], Some(f[0]));
        t.text(c[1], Some(renkei_masters::insurer_kind(insurer)));
        t.text(c[2], Some(sex));
        t.text(c[3], Some(&birth_ym(birth)));
        t.int(c[4], Some(age));
        t.text(c[5], Some(age_band(age)));
        t.date(c[6], Some(day));
        t.text(c[7], Some(f[10]));
        t.text(c[8], Some(&postal3(f[8])));
        t.token(c[9], id1);
        t.token(c[10], id1n);
        t.token(c[11], id2);
        t.end_row()?;
        Ok(true)
    }
}

/// The header rows the exchange files carry (also written by the generator; kept here
/// so that ingest does not depend on the generator).
mod headers {
    pub const CHECKUP: &str = "整理番号,保険者番号,被保険者証記号,被保険者証番号,枝番,カナ氏名,生年月日,性別,郵便番号,受診日,健診機関番号,項目コード,結果値,単位";
    pub const CERT: &str = "証記載保険者番号,被保険者番号,カナ氏名,生年月日,性別,申請年月日,申請区分,一次判定結果,二次判定要介護状態区分,認定有効開始年月日,認定有効終了年月日";
    pub const CARE: &str = "サービス提供年月,事業所番号,証記載保険者番号,被保険者番号,生年月日,性別,要介護状態区分,サービス種類コード,サービス項目コード,単位数,日数回数,費用額";
    pub const DEATH: &str = "整理番号,氏名,性別,生年月日,死亡年月日,死亡時刻,死亡場所,住所地市区町村コード,原死因,死因の種類";
}

const LEVELS: [&str; 10] = ["01", "06", "11", "12", "13", "21", "22", "23", "24", "25"];
const CE: [&str; 12] = [
    "care_insured",
    "id2",
    "insurer",
    "sex",
    "birth_ym",
    "age",
    "age_band",
    "applied",
    "first_level",
    "level",
    "valid_from",
    "valid_to",
];
const CL: [&str; 12] = [
    "care_insured",
    "service_month",
    "provider",
    "insurer",
    "sex",
    "age",
    "level",
    "service_type",
    "service_code",
    "units",
    "days",
    "cost",
];

/// 介護DB: certifications and care claims.
pub struct LtcReader {
    certs: usize,
    claims: usize,
    ce: [usize; 12],
    cl: [usize; 12],
}

impl LtcReader {
    /// A reader for the declared tables.
    pub fn new(ctx: &ReadCtx) -> Result<Self, IngestError> {
        let (certs, claims) = (ctx.table("certifications")?, ctx.table("claims")?);
        Ok(Self {
            certs,
            claims,
            ce: cols(ctx, certs, CE)?,
            cl: cols(ctx, claims, CL)?,
        })
    }

    /// Reads one file (certifications_* or claims_*).
    pub fn read(&mut self, ctx: &mut ReadCtx, name: &str, bytes: &[u8]) -> Result<(), IngestError> {
        let Some(text) = decode_cp932(bytes) else {
            ctx.reject_file(bytes, "not CP932 text");
            return Ok(());
        };
        let base = name.rsplit('/').next().unwrap_or(name);
        let certs = base.starts_with("certifications");
        if !header_ok(
            ctx,
            &text,
            bytes,
            if certs { headers::CERT } else { headers::CARE },
        ) {
            return Ok(());
        }
        for (n, line) in text.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let ln = n as u64 + 1;
            ctx.rows_in += 1;
            ctx.record(if certs { "認定" } else { "給付" });
            let f = split(line);
            if certs {
                self.cert(ctx, &f, ln)?
            } else {
                self.claim(ctx, &f, ln)?
            }
        }
        Ok(())
    }

    fn cert(&mut self, ctx: &mut ReadCtx, f: &[&str], ln: u64) -> Result<(), IngestError> {
        if f.len() < 11 {
            ctx.reject(ln, "認定", "fewer than 11 fields");
            return Ok(());
        }
        let (Some(birth), Some(applied)) = (parse_date(f[3]), parse_date(f[5])) else {
            ctx.reject(ln, "認定.生年月日/申請年月日", "not a date");
            return Ok(());
        };
        if !matches!(f[4], "1" | "2") {
            ctx.reject(ln, "認定.性別", "not 1 or 2");
            return Ok(());
        }
        if !LEVELS.contains(&f[8]) {
            ctx.tables[self.certs].invalid(self.ce[9]);
            ctx.reject(ln, "認定.二次判定要介護状態区分", "not a care level code");
            return Ok(());
        }
        let age = age_on(birth, applied);
        ctx.cover(applied);
        let (care, id2) = (
            ctx.tokens.care(f[0], f[1], birth, f[4]),
            ctx.tokens.id2(f[2], birth, f[4]),
        );
        let c = &self.ce;
        let t = &mut ctx.tables[self.certs];
        t.token(c[0], care);
        t.token(c[1], id2);
        t.text(c[2], Some(f[0]));
        t.text(c[3], Some(f[4]));
        t.text(c[4], Some(&birth_ym(birth)));
        t.int(c[5], Some(age));
        t.text(c[6], Some(age_band(age)));
        t.date(c[7], Some(applied));
        t.text(c[8], Some(f[7]));
        t.text(c[9], Some(f[8]));
        t.date(c[10], parse_date(f[9]));
        t.date(c[11], parse_date(f[10]));
        t.end_row()?;
        ctx.stored();
        Ok(())
    }

    fn claim(&mut self, ctx: &mut ReadCtx, f: &[&str], ln: u64) -> Result<(), IngestError> {
        if f.len() < 12 {
            ctx.reject(ln, "給付", "fewer than 12 fields");
            return Ok(());
        }
        let (Some(month), Some(birth)) = (parse_ym(f[0]), parse_date(f[4])) else {
            ctx.reject(ln, "給付.サービス提供年月/生年月日", "not a date");
            return Ok(());
        };
        if ctx.masters.care_service(f[7]).is_none() {
            ctx.tables[self.claims].invalid(self.cl[7]);
            ctx.reject(ln, "給付.サービス種類コード", "not a service type code");
            return Ok(());
        }
        let on = (month.0, month.1, 1);
        ctx.cover(on);
        let care = ctx.tokens.care(f[2], f[3], birth, f[5]);
        let c = &self.cl;
        let t = &mut ctx.tables[self.claims];
        t.token(c[0], care);
        t.date(c[1], Some(on));
        t.text(c[2], Some(f[1]));
        t.text(c[3], Some(f[2]));
        t.text(c[4], Some(f[5]));
        t.int(c[5], Some(age_on(birth, on)));
        t.text(c[6], Some(f[6]));
        t.text(c[7], Some(f[7]));
        t.text(c[8], Some(f[8]));
        t.int(c[9], f[9].parse().ok());
        t.int(c[10], f[10].parse().ok());
        t.int(c[11], f[11].parse().ok());
        t.end_row()?;
        ctx.stored();
        Ok(())
    }
}

const DE: [&str; 12] = [
    "death_id",
    "kanji",
    "sex",
    "birth_ym",
    "age",
    "age_band",
    "death_date",
    "time_bin",
    "place",
    "municipality",
    "cause_icd10",
    "kind",
];

/// Death records: kanji name, 和暦 birth date, no insurer number.
pub struct DeathReader {
    t: usize,
    c: [usize; 12],
}

impl DeathReader {
    /// A reader for the declared table.
    pub fn new(ctx: &ReadCtx) -> Result<Self, IngestError> {
        let t = ctx.table("deaths")?;
        Ok(Self {
            t,
            c: cols(ctx, t, DE)?,
        })
    }

    /// Reads one file.
    pub fn read(&mut self, ctx: &mut ReadCtx, bytes: &[u8]) -> Result<(), IngestError> {
        let Some(text) = decode_cp932(bytes) else {
            ctx.reject_file(bytes, "not CP932 text");
            return Ok(());
        };
        if !header_ok(ctx, &text, bytes, headers::DEATH) {
            return Ok(());
        }
        for (n, line) in text.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let ln = n as u64 + 1;
            ctx.rows_in += 1;
            ctx.record("死亡票");
            let f = split(line);
            if f.len() < 10 {
                ctx.reject(ln, "死亡票", "fewer than 10 fields");
                continue;
            }
            let Some(birth) = renkei_core::wareki::parse_any(f[3]) else {
                ctx.reject(ln, "死亡票.生年月日", "not a date");
                continue;
            };
            let Some(died) = parse_date(f[4]) else {
                ctx.reject(ln, "死亡票.死亡年月日", "not a date");
                continue;
            };
            if !matches!(f[2], "1" | "2") {
                ctx.reject(ln, "死亡票.性別", "not 1 or 2");
                continue;
            }
            let cause = f[8];
            if !ctx.masters.icd10_known(cause) {
                ctx.tables[self.t].invalid(self.c[10]);
                ctx.reject(ln, "死亡票.原死因", "not in the ICD-10 master");
                continue;
            }
            let hour: u32 = f[5].get(..2).and_then(|h| h.parse().ok()).unwrap_or(99);
            let bin = if hour < 24 {
                format!("{:02}-{:02}", hour / 2 * 2, hour / 2 * 2 + 2)
            } else {
                String::new()
            };
            let age = age_on(birth, died);
            ctx.cover(died);
            let kanji = ctx.tokens.kanji(f[1], birth, f[2]);
            let c = &self.c;
            let t = &mut ctx.tables[self.t];
            t.text(c[0], Some(f[0]));
            t.token(c[1], kanji);
            t.text(c[2], Some(f[2]));
            t.text(c[3], Some(&birth_ym(birth)));
            t.int(c[4], Some(age));
            t.text(c[5], Some(age_band(age)));
            t.date(c[6], Some(died));
            t.text(c[7], Some(&bin));
            t.text(c[8], Some(f[6]));
            t.text(c[9], Some(f[7]));
            t.text(c[10], Some(cause));
            t.text(c[11], Some(f[9]));
            t.end_row()?;
            ctx.stored();
        }
        Ok(())
    }
}
