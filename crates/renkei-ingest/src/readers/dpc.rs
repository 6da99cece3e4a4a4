//! DPC survey files: 様式1 (`FF1_*`, one row per item, grouped into stays) and the EF
//! file (`EFn_*`/`EFg_*`, one row per act). Tab-separated, CP932. The hospital's patient
//! number becomes a facility-patient token; birth date a year-month; postal code its
//! first three digits.

use super::cols;
use crate::IngestError;
use crate::ctx::Coded;
use crate::ctx::{ReadCtx, age_band, age_on, birth_ym, decode_cp932, parse_date};
use renkei_core::wareki::Ymd;
use renkei_masters::CodeSystem;
use std::collections::BTreeMap;

const S: [&str; 23] = [
    "stay_id",
    "facility",
    "facility_patient",
    "sex",
    "birth_ym",
    "age",
    "age_band",
    "postal3",
    "admission_date",
    "discharge_date",
    "length_of_stay",
    "emergency",
    "ambulance",
    "outcome",
    "death_within_24h",
    "destination",
    "main_icd10",
    "trigger_icd10",
    "resource_icd10",
    "comorbidities",
    "surgery_code",
    "surgery_date",
    "care_level",
];
const A: [&str; 10] = [
    "stay_id",
    "data_category",
    "order_no",
    "code",
    "k_code",
    "quantity",
    "points",
    "packaged",
    "times",
    "act_date",
];

/// Reads DPC files into the `dpc` tables.
pub struct DpcReader {
    stays: usize,
    acts: usize,
    s: [usize; 23],
    a: [usize; 10],
}

#[derive(Default)]
struct Stay {
    line: u64,
    birth: Option<Ymd>,
    sex: String,
    postal: String,
    discharge: Option<Ymd>,
    emergency: Option<bool>,
    ambulance: Option<bool>,
    outcome: String,
    death24: Option<bool>,
    destination: String,
    main: String,
    trigger: String,
    resource: String,
    comorbid: Vec<String>,
    surgery: String,
    surgery_date: Option<Ymd>,
    care: String,
    bad: Option<(&'static str, &'static str)>,
}

fn stay_id(facility: &str, admit: Ymd, token: Option<renkei_crypto::Token>) -> String {
    let t = token.map(|t| hex::encode(&t.0[..8])).unwrap_or_default();
    format!("{facility}-{:04}{:02}{:02}-{t}", admit.0, admit.1, admit.2)
}

impl DpcReader {
    /// A reader for the declared tables.
    pub fn new(ctx: &ReadCtx) -> Result<Self, IngestError> {
        let (stays, acts) = (ctx.table("stays")?, ctx.table("acts")?);
        Ok(Self {
            stays,
            acts,
            s: cols(ctx, stays, S)?,
            a: cols(ctx, acts, A)?,
        })
    }

    /// Reads one file; the kind comes from its name.
    pub fn read(&mut self, ctx: &mut ReadCtx, name: &str, bytes: &[u8]) -> Result<(), IngestError> {
        let Some(text) = decode_cp932(bytes) else {
            ctx.reject_file(bytes, "not CP932 text");
            return Ok(());
        };
        let base = name.rsplit('/').next().unwrap_or(name);
        if base.starts_with("FF1") {
            self.ff1(ctx, &text)
        } else if base.starts_with("EF") {
            self.ef(ctx, &text)
        } else {
            ctx.reject_file(bytes, "not a DPC file (FF1_* or EF*_*)");
            Ok(())
        }
    }

    fn ff1(&mut self, ctx: &mut ReadCtx, text: &str) -> Result<(), IngestError> {
        let mut stays: BTreeMap<(String, String, Ymd), Stay> = BTreeMap::new();
        for (n, raw) in text.split('\n').enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.is_empty() || line.starts_with("施設コード") {
                continue;
            }
            let ln = n as u64 + 1;
            ctx.rows_in += 1;
            ctx.record("様式1");
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() < 9 {
                ctx.reject(ln, "様式1", "fewer than 9 columns");
                continue;
            }
            let Some(admit) = parse_date(f[2]) else {
                ctx.reject(ln, "様式1.入院年月日", "not a date");
                continue;
            };
            if f[0].len() != 9 || f[1].is_empty() {
                ctx.reject(
                    ln,
                    "様式1.施設コード",
                    "facility code (9 digits) or data id missing",
                );
                continue;
            }
            let p = |i: usize| f.get(7 + i).map(|s| s.trim()).unwrap_or("");
            let s = stays
                .entry((f[0].to_owned(), f[1].to_owned(), admit))
                .or_default();
            if s.line == 0 {
                s.line = ln;
            }
            match f[5] {
                "A000010" => {
                    s.birth = parse_date(p(1));
                    s.sex = p(2).to_owned();
                    s.postal = p(3).chars().filter(char::is_ascii_digit).take(3).collect();
                    if s.birth.is_none() {
                        s.bad = Some(("様式1.A000010.生年月日", "not a date"));
                    } else if !matches!(p(2), "1" | "2") {
                        s.bad = Some(("様式1.A000010.性別", "not 1 or 2"));
                    }
                }
                "A000020" => {
                    s.emergency = Some(p(5).starts_with('3') || p(5).starts_with('2'));
                    s.ambulance = Some(p(6) == "1");
                }
                "A000030" => {
                    s.discharge = parse_date(p(1));
                    s.destination = p(2).to_owned();
                    s.outcome = p(3).to_owned();
                    s.death24 = Some(p(4) == "1");
                    if s.discharge.is_none() {
                        s.bad = Some(("様式1.A000030.退院年月日", "not a date"));
                    }
                }
                code @ ("A006010" | "A006020" | "A006030" | "A006040") => {
                    let icd = p(2);
                    if !ctx.masters.icd10_known(icd) {
                        s.bad = Some(("様式1.ICD10コード", "not in the ICD-10 master"));
                        continue;
                    }
                    // The 傷病名コード is checked but not stored (the ICD-10 code is): a
                    // malformed one is a structural error; one missing from the master
                    // refuses the stay only under the strict policy.
                    let dis = p(4);
                    if !dis.is_empty() {
                        if !CodeSystem::Disease.well_formed(dis) {
                            s.bad = Some(("様式1.傷病名コード", "not a well-formed code"));
                            continue;
                        }
                        let on = crate::ctx::period_of(parse_date(p(1)).or(s.discharge));
                        if ctx.policy == renkei_catalog::UnknownCode::Reject
                            && ctx.masters.check(CodeSystem::Disease, dis, on)
                                != renkei_masters::CodeCheck::InForce
                        {
                            s.bad = Some(("様式1.傷病名コード", "not in the master in force"));
                            continue;
                        }
                    }
                    match code {
                        "A006010" => s.main = icd.to_owned(),
                        "A006020" => s.trigger = icd.to_owned(),
                        "A006030" => s.resource = icd.to_owned(),
                        _ => s.comorbid.push(icd.to_owned()),
                    }
                }
                "A007010" => {
                    s.surgery = p(3).to_owned();
                    s.surgery_date = parse_date(p(1));
                }
                "A004020" => s.care = p(2).to_owned(),
                _ => {}
            }
        }
        for ((facility, pid, admit), st) in stays {
            let (Some(birth), Some(discharge), None) = (st.birth, st.discharge, st.bad) else {
                let (field, why) = st
                    .bad
                    .unwrap_or(("様式1", "a stay needs A000010 and A000030"));
                ctx.reject(st.line, field, why);
                continue;
            };
            let token = ctx.tokens.facility_patient(&facility, &pid);
            let age = age_on(birth, admit);
            let los = crate::sink::days(discharge)
                .zip(crate::sink::days(admit))
                .map(|(d, a)| i64::from(d - a));
            ctx.cover(admit);
            let c = &self.s;
            let t = &mut ctx.tables[self.stays];
            t.text(c[0], Some(&stay_id(&facility, admit, token)));
            t.text(c[1], Some(&facility));
            t.token(c[2], token);
            t.text(c[3], Some(&st.sex));
            t.text(c[4], Some(&birth_ym(birth)));
            t.int(c[5], Some(age));
            t.text(c[6], Some(age_band(age)));
            t.text(c[7], Some(&st.postal));
            t.date(c[8], Some(admit));
            t.date(c[9], Some(discharge));
            t.int(c[10], los);
            t.boolean(c[11], st.emergency);
            t.boolean(c[12], st.ambulance);
            t.text(c[13], Some(&st.outcome));
            t.boolean(c[14], st.death24);
            t.text(c[15], Some(&st.destination));
            t.text(c[16], Some(&st.main));
            t.text(c[17], Some(&st.trigger));
            t.text(c[18], Some(&st.resource));
            t.text(c[19], Some(&st.comorbid.join(";")));
            t.text(c[20], Some(&st.surgery));
            t.date(c[21], st.surgery_date);
            t.text(c[22], Some(&st.care));
            t.end_row()?;
            // A stay is made of several lines: one stored row for all of them.
            ctx.stored_as("様式1");
        }
        Ok(())
    }

    fn ef(&mut self, ctx: &mut ReadCtx, text: &str) -> Result<(), IngestError> {
        for (n, raw) in text.split('\n').enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.is_empty() || line.starts_with("施設コード") {
                continue;
            }
            let ln = n as u64 + 1;
            ctx.rows_in += 1;
            ctx.record("EF");
            let f: Vec<&str> = line.split('\t').map(str::trim).collect();
            if f.len() < 24 {
                ctx.reject(ln, "EF", "fewer than 24 columns");
                continue;
            }
            let (Some(admit), Some(date)) = (parse_date(f[3]), parse_date(f[23])) else {
                ctx.reject(ln, "EF.入院年月日/実施年月日", "not a date");
                continue;
            };
            let code = f[8];
            // An act, a drug or a material, by the code's first digit.
            let system = match code.as_bytes().first() {
                Some(b'6') => CodeSystem::Drug,
                Some(b'7') => CodeSystem::Material,
                _ => CodeSystem::Procedure,
            };
            if ctx.code(
                system,
                code,
                (date, date),
                self.acts,
                self.a[3],
                ln,
                "EF.レセプト電算処理システム用コード",
            ) == Coded::Rejected
            {
                continue;
            }
            let token = ctx.tokens.facility_patient(f[0], f[1]);
            let c = &self.a;
            let t = &mut ctx.tables[self.acts];
            t.text(c[0], Some(&stay_id(f[0], admit, token)));
            t.text(c[1], Some(f[4]));
            t.int(c[2], f[5].parse().ok());
            t.text(c[3], Some(code));
            t.text(c[4], Some(f[9]));
            t.float(c[5], f[11].parse().ok());
            t.int(c[6], f[13].parse().ok());
            t.boolean(c[7], f[16].as_bytes().get(1).map(|b| *b == b'1'));
            t.int(c[8], f[20].parse().ok());
            t.date(c[9], Some(date));
            t.end_row()?;
            ctx.stored();
        }
        Ok(())
    }

    /// Nothing is held back (stays are complete within their 様式1 file).
    pub fn finish(&mut self, _ctx: &mut ReadCtx) -> Result<(), IngestError> {
        Ok(())
    }
}
