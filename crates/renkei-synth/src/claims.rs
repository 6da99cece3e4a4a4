//! Claims in UKE format (レセプト電算処理システム, RECEIPTC.UKE): one file per facility ×
//! billing month × payer (社保/国保), CP932, CRLF. 医科 receipts from clinics and hospital
//! outpatient departments, DPC receipts for hospital stays, 調剤 receipts from
//! pharmacies. Record layouts: docs/formats.md.

use crate::Ctx;
use crate::out::{Encoding, Files, csv_line};
use crate::rng::Rng;
use crate::truth::Truth;
use crate::world::{Coverage, Facility, FacilityKind, Person, Stay, date, days_in_month, ymd};
use std::fmt::Write as _;
use std::path::PathBuf;
use time::Date;

/// Approximate points (1 point = 10 yen) for the procedures the generator bills. Not a
/// fee schedule: plausible magnitudes for synthetic data.
fn procedure_points(code: &str) -> u64 {
    match code {
        "111000110" => 291,
        "112007410" => 75,
        "112011010" => 52,
        "113001810" => 225,
        "120002910" => 60,
        "120003270" => 66,
        "160010010" => 49,
        "160022510" | "160022610" | "160023410" => 17,
        "160167250" => 18,
        "160019210" => 11,
        "160162350" => 130,
        "160000310" => 26,
        "160037510" => 121,
        "160095710" => 37,
        "160091310" => 360,
        "170027910" => 68,
        "130003510" => 37,
        "130003810" => 102,
        "190117710" => 1688,
        "150049510" => 19_500,
        "150019210" => 21_630,
        "150168010" => 55_870,
        "150285010" => 5_000,
        "150253010" => 12_100,
        _ => 30,
    }
}

/// Approximate drug price in points per unit.
fn drug_points(code: &str) -> u64 {
    let n: u64 = code.bytes().map(u64::from).sum();
    1 + n % 12
}

/// The receipt type code (レセプト種別): 点数表, 主保険, 併用, 本人/家族/未就学/高齢 × 入院/外.
pub fn receipt_type(table: char, cov: &Coverage, age: i32, inpatient: bool) -> String {
    let koki = cov.kind() == "koki";
    let main = if koki { '3' } else { '1' };
    let (inp, out) = if koki || (70..75).contains(&age) {
        ('7', '8')
    } else if age < 6 {
        ('3', '4')
    } else if cov.honin {
        ('1', '2')
    } else {
        ('5', '6')
    };
    let last = if inpatient && table == '1' { inp } else { out };
    format!("{table}{main}1{last}")
}

/// 社保 (1) or 国保 (2): the 審査支払機関 that handles this insurer's claims.
fn payer(cov: &Coverage) -> char {
    match cov.kind() {
        "kokuho" | "koki" => '2',
        _ => '1',
    }
}

fn fmt_date(d: Date, wareki: bool) -> String {
    if wareki {
        renkei_core::wareki::to_digits(ymd(d)).unwrap_or_default()
    } else {
        format!("{:04}{:02}{:02}", d.year(), d.month() as u8, d.day())
    }
}

fn fmt_ym(y: i32, m: u32, wareki: bool) -> String {
    if wareki {
        renkei_core::wareki::to_digits_ym(y, m).unwrap_or_default()
    } else {
        format!("{y:04}{m:02}")
    }
}

/// The name forms a facility writes: kanji with an ideographic space, and katakana
/// (half-width, or full-width with the long-vowel mark, depending on the facility).
fn names(p: &Person, on: Date, f: &Facility, variant: bool) -> (String, String) {
    let (fk, fkana, gk, gkana) = p.name_on(on);
    let fk = if variant {
        p.family_variant
            .filter(|_| p.marriage.is_none())
            .unwrap_or(fk)
    } else {
        fk
    };
    let kanji = format!("{fk}　{gk}");
    let kana = if f.halfwidth {
        crate::names::halfwidth(&format!("{fkana}　{gkana}"))
    } else if f.wareki {
        format!(
            "{}　{}",
            crate::names::long_vowel(fkana),
            crate::names::long_vowel(gkana)
        )
    } else {
        format!("{fkana}　{gkana}")
    };
    (kanji, kana)
}

/// A facility's own patient number for a person (カルテ番号 on claims, データ識別番号 in
/// DPC files, the 院内患者ID in EHR data): the same person has the same number there.
pub fn patient_number(p: &Person, f: &Facility, seed: u64) -> String {
    let mut r = Rng::new(
        seed,
        &[
            3,
            p.id,
            f.code.bytes().fold(0u64, |a, b| a * 31 + u64::from(b)),
        ],
    );
    format!("{}{}", 1 + r.index(9), r.digits(9))
}

struct Line {
    record: &'static str,
    category: String,
    code: String,
    qty: String,
    points: u64,
    days: [u8; 31],
}

impl Line {
    fn times(&self) -> u32 {
        self.days.iter().map(|d| u32::from(*d)).sum()
    }
}

fn uke_file<'f>(
    files: &'f mut Files,
    f: &Facility,
    billing: (i32, u32),
    payer: char,
    pref: &str,
    wareki: bool,
) -> (&'f mut crate::out::FileBuf, PathBuf) {
    let path = PathBuf::from(format!(
        "ndb/uke/{:04}{:02}/{}_{}.UKE",
        billing.0,
        billing.1,
        f.code10(),
        payer
    ));
    let header_path = path.clone();
    let _ = header_path;
    let fb = files.file(path.clone(), Encoding::Cp932, || {
        let mut h = String::new();
        let ym = fmt_ym(billing.0, billing.1, wareki);
        if f.kind == FacilityKind::Pharmacy {
            csv_line(
                &mut h,
                &[
                    "YK",
                    &payer.to_string(),
                    pref,
                    "4",
                    &f.code,
                    &f.name,
                    &ym,
                    "00",
                    "0000000000",
                ],
            );
        } else {
            csv_line(
                &mut h,
                &[
                    "IR",
                    &payer.to_string(),
                    pref,
                    "1",
                    &f.code,
                    "",
                    &f.name,
                    &ym,
                    "00",
                    "0000000000",
                ],
            );
        }
        h
    });
    (fb, path)
}

fn billing_of(y: i32, m: u32) -> (i32, u32) {
    if m == 12 { (y + 1, 1) } else { (y, m + 1) }
}

/// Everything a person is billed for in the year.
pub fn claims(p: &Person, ctx: &Ctx, files: &mut Files, truth: &mut Truth, rng: &mut Rng) {
    let year = ctx.year;
    let mut first_visit_done = false;
    for month in 1..=12u32 {
        let start = date(year, month, 1);
        if !p.alive_on(start) {
            break;
        }
        let last_day = days_in_month(year, month);
        let end = date(year, month, last_day);
        let in_stay = |d: Date| p.stays.iter().any(|s| s.admit <= d && d <= s.discharge);
        // ----- clinic visits
        let chronic: Vec<_> = p
            .conditions
            .iter()
            .filter(|c| c.chronic && c.onset <= end && !c.group.ends_with("_cancer"))
            .collect();
        let monthly = chronic.iter().any(|c| {
            matches!(
                c.group,
                "hypertension"
                    | "diabetes"
                    | "heart_failure"
                    | "dementia"
                    | "atrial_fibrillation"
                    | "ckd"
                    | "depression"
                    | "insomnia"
            )
        });
        let mut visit_days: Vec<u32> = Vec::new();
        if !chronic.is_empty() && (monthly || month % 2 == 0) {
            visit_days.push(rng.range(1, i64::from(last_day) + 1) as u32);
            if rng.chance(0.1) {
                visit_days.push(rng.range(1, i64::from(last_day) + 1) as u32);
            }
        }
        let acute: Vec<_> = p
            .conditions
            .iter()
            .filter(|c| !c.chronic && c.onset >= start && c.onset <= end)
            .collect();
        for a in &acute {
            visit_days.push(u32::from(a.onset.day()));
        }
        visit_days.retain(|d| p.alive_on(date(year, month, *d)) && !in_stay(date(year, month, *d)));
        visit_days.sort_unstable();
        visit_days.dedup();
        if !visit_days.is_empty() {
            let visit = date(year, month, visit_days[0]);
            if let Some(cov) = p.coverage_on(visit) {
                let f = &ctx.fac.all[p.clinic];
                let mut lines = Vec::new();
                let day_set = |days: &[u32]| {
                    let mut d = [0u8; 31];
                    for x in days {
                        d[(*x as usize - 1).min(30)] += 1;
                    }
                    d
                };
                let new_patient = chronic.is_empty() && !first_visit_done;
                first_visit_done = true;
                if new_patient {
                    lines.push(Line {
                        record: "SI",
                        category: "11".into(),
                        code: "111000110".into(),
                        qty: String::new(),
                        points: 291,
                        days: day_set(&visit_days[..1]),
                    });
                    if visit_days.len() > 1 {
                        lines.push(Line {
                            record: "SI",
                            category: "12".into(),
                            code: "112007410".into(),
                            qty: String::new(),
                            points: 75,
                            days: day_set(&visit_days[1..]),
                        });
                    }
                } else {
                    lines.push(Line {
                        record: "SI",
                        category: "12".into(),
                        code: "112007410".into(),
                        qty: String::new(),
                        points: 75,
                        days: day_set(&visit_days),
                    });
                    lines.push(Line {
                        record: "SI",
                        category: "12".into(),
                        code: "112011010".into(),
                        qty: String::new(),
                        points: 52,
                        days: day_set(&visit_days),
                    });
                }
                if chronic.iter().any(|c| {
                    matches!(
                        c.group,
                        "hypertension" | "diabetes" | "dyslipidaemia" | "heart_failure" | "angina"
                    )
                }) {
                    let n = visit_days.len().min(2);
                    lines.push(Line {
                        record: "SI",
                        category: "13".into(),
                        code: "113001810".into(),
                        qty: String::new(),
                        points: 225,
                        days: day_set(&visit_days[..n]),
                    });
                }
                if !chronic.is_empty() && month % 3 == 1 {
                    let mut labs: Vec<&str> = vec!["160022510", "160022610", "160019210"];
                    if chronic.iter().any(|c| c.group == "diabetes") {
                        labs.extend(["160010010", "160000310"]);
                    }
                    if chronic.iter().any(|c| c.group == "dyslipidaemia") {
                        labs.extend(["160167250", "160023410"]);
                    }
                    if chronic.iter().any(|c| c.group == "heart_failure") {
                        labs.push("160162350");
                    }
                    if chronic.iter().any(|c| c.group == "bph") && month == 4 {
                        labs.push("160037510");
                    }
                    for code in labs {
                        lines.push(Line {
                            record: "SI",
                            category: "60".into(),
                            code: code.into(),
                            qty: String::new(),
                            points: procedure_points(code),
                            days: day_set(&visit_days[..1]),
                        });
                    }
                }
                // Prescriptions go to the pharmacy (院外処方): 処方箋料 here, drugs there.
                let rx = prescriptions(p, &chronic, &acute, monthly, ctx, rng);
                if !rx.is_empty() {
                    lines.push(Line {
                        record: "SI",
                        category: "80".into(),
                        code: "120002910".into(),
                        qty: String::new(),
                        points: 60,
                        days: day_set(&visit_days[..1]),
                    });
                }
                let sy: Vec<(&crate::world::Condition, bool)> = chronic
                    .iter()
                    .map(|c| (*c, true))
                    .chain(acute.iter().map(|c| (*c, false)))
                    .collect();
                let key = write_receipt(
                    p,
                    cov,
                    f,
                    ctx,
                    files,
                    (year, month),
                    visit,
                    false,
                    &sy,
                    &lines,
                    None,
                    truth,
                );
                truth.link("uke", &key, p.id);
                if !rx.is_empty() {
                    pharmacy(p, cov, ctx, files, (year, month), visit, f, &rx, truth);
                }
            }
        }
        // ----- cancer follow-up at the hospital outpatient department
        let cancers: Vec<_> = p
            .conditions
            .iter()
            .filter(|c| c.group.ends_with("_cancer") && c.onset < start)
            .collect();
        if !cancers.is_empty() && month % 2 == 1 {
            let d = date(year, month, rng.range(1, i64::from(last_day) + 1) as u32);
            if p.alive_on(d)
                && !in_stay(d)
                && let Some(cov) = p.coverage_on(d)
            {
                let f = &ctx.fac.all[p.hospital];
                let mut days = [0u8; 31];
                days[d.day() as usize - 1] = 1;
                let lines = vec![
                    Line {
                        record: "SI",
                        category: "12".into(),
                        code: "112007410".into(),
                        qty: String::new(),
                        points: 75,
                        days,
                    },
                    Line {
                        record: "SI",
                        category: "70".into(),
                        code: "170027910".into(),
                        qty: String::new(),
                        points: 68,
                        days,
                    },
                ];
                let sy: Vec<_> = cancers.iter().map(|c| (*c, true)).collect();
                let key = write_receipt(
                    p,
                    cov,
                    f,
                    ctx,
                    files,
                    (year, month),
                    d,
                    false,
                    &sy,
                    &lines,
                    None,
                    truth,
                );
                truth.link("uke", &key, p.id);
            }
        }
        // ----- hospital stays: one DPC receipt per month of the stay
        for s in p
            .stays
            .iter()
            .filter(|s| s.admit <= end && s.discharge >= start)
        {
            let from = s.admit.max(start);
            let to = s.discharge.min(end);
            if let Some(cov) = p.coverage_on(from) {
                let f = &ctx.fac.all[p.hospital];
                let mut lines = Vec::new();
                let mut days = [0u8; 31];
                for d in from.day()..=to.day() {
                    days[d as usize - 1] = 1;
                }
                let surgical = surgery(s.group);
                if let Some((code, _)) = surgical {
                    let op = s.admit + time::Duration::days(1);
                    if op >= from && op <= to {
                        let mut od = [0u8; 31];
                        od[op.day() as usize - 1] = 1;
                        lines.push(Line {
                            record: "SI",
                            category: "50".into(),
                            code: code.into(),
                            qty: String::new(),
                            points: procedure_points(code),
                            days: od,
                        });
                    }
                }
                // Implants and catheters (TO) on the day of the operation, or of
                // admission for the catheters of a medical stay; a free comment (CO,
                // 810000001) records what was done.
                let used = s.admit + time::Duration::days(i64::from(surgical.is_some()));
                if used >= from && used <= to {
                    let mut ud = [0u8; 31];
                    ud[used.day() as usize - 1] = 1;
                    let category = if surgical.is_some() { "50" } else { "40" };
                    for m in ctx.m.materials.iter().filter(|m| m.group == s.group) {
                        let qty: u64 = if m.unit == "ｇ" { 40 } else { 1 };
                        lines.push(Line {
                            record: "TO",
                            category: category.into(),
                            code: m.code.clone(),
                            qty: qty.to_string(),
                            points: (m.price_yen * qty).div_ceil(10),
                            days: ud,
                        });
                    }
                    if surgical.is_some() {
                        lines.push(Line {
                            record: "CO",
                            category: "50".into(),
                            code: "810000001".into(),
                            qty: "術後経過良好".into(),
                            points: 0,
                            days: [0; 31],
                        });
                    }
                }
                let dx: Vec<_> = p
                    .conditions
                    .iter()
                    .filter(|c| c.group == s.group)
                    .take(1)
                    .map(|c| (c, true))
                    .collect();
                let dpc = DpcMonth {
                    stay: s,
                    from,
                    to,
                    days,
                };
                let key = write_receipt(
                    p,
                    cov,
                    f,
                    ctx,
                    files,
                    (year, month),
                    from,
                    true,
                    &dx,
                    &lines,
                    Some(&dpc),
                    truth,
                );
                truth.link("uke", &key, p.id);
            }
        }
    }
}

/// The 出来高 surgery (レセ電 code, K-code) for a stay's main group.
pub fn surgery(group: &str) -> Option<(&'static str, &'static str)> {
    match group {
        "hip_fracture" => Some(("150049510", "K0811")),
        "gastric_cancer" => Some(("150168010", "K655")),
        "colorectal_cancer" => Some(("150285010", "K7211")),
        "cataract" => Some(("150253010", "K2821")),
        _ => None,
    }
}

/// A 受給者番号 (6 digits before the check digit) that stays the same for a person's
/// coverage. Drawn from a generator seeded by the (already random) insurance
/// identifiers, never computed from the person id: a function of the id would put the
/// ground truth into the claims.
fn recipient_number(cov: &Coverage) -> i64 {
    // FNV-1a: a fixed, documented hash, so the output stays byte-identical across
    // platforms and Rust versions (std's hashers promise neither).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in [&cov.insurer, &cov.kigo, &cov.bango]
        .iter()
        .flat_map(|s| s.bytes())
    {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    Rng::new(h, &[]).range(0, 1_000_000)
}

/// A plausible 14-character DPC code (診断群分類番号) for a stay's main group.
pub fn dpc_code(group: &str) -> &'static str {
    match group {
        "hip_fracture" => "160800xx01xxxx",
        "pneumonia" => "040080x099x0xx",
        "stroke" => "010060x2990401",
        "myocardial_infarction" => "050030xx97000x",
        "gastric_cancer" => "060020xx02x0xx",
        "colorectal_cancer" => "060035xx0100xx",
        "lung_cancer" => "040040xx9910xx",
        "breast_cancer" => "090010xx010xxx",
        "prostate_cancer" => "110080xx991x0x",
        "cataract" => "020110xx97xxx0",
        _ => "180040xx99x0xx",
    }
}

struct DpcMonth<'s> {
    stay: &'s Stay,
    from: Date,
    to: Date,
    days: [u8; 31],
}

#[allow(clippy::too_many_arguments)]
fn write_receipt(
    p: &Person,
    cov: &Coverage,
    f: &Facility,
    ctx: &Ctx,
    files: &mut Files,
    (year, month): (i32, u32),
    on: Date,
    inpatient: bool,
    sy: &[(&crate::world::Condition, bool)],
    lines: &[Line],
    dpc: Option<&DpcMonth>,
    truth: &mut Truth,
) -> String {
    let billing = billing_of(year, month);
    let payer = payer(cov);
    let w = f.wareki;
    let (fb, path) = uke_file(files, f, billing, payer, &ctx.muni.prefecture, w);
    fb.count += 1;
    let no = fb.count.to_string();
    let age = p.age_on(on);
    let (kanji, kana) = names(p, on, f, false);
    // A third of outpatients with dementia are treated under 自立支援医療（精神通院,
    // 法別 21): a KO record, and a receipt type that says "with one 公費".
    let kohi =
        (!inpatient && p.id.is_multiple_of(3) && sy.iter().any(|(c, _)| c.group == "dementia"))
            .then(|| {
                let payer = format!("21{}001", ctx.muni.prefecture);
                let recipient = format!("{:06}", recipient_number(cov));
                let cd = |s: &str| renkei_masters::insurer_check_digit(s).unwrap_or(0);
                (
                    format!("{payer}{}", cd(&payer)),
                    format!("{recipient}{}", cd(&recipient)),
                )
            });
    let mut rtype = receipt_type('1', cov, age, inpatient);
    if kohi.is_some() {
        rtype.replace_range(2..3, "2");
    }
    let mut re: Vec<String> = vec![String::new(); 38];
    re[0] = "RE".into();
    re[1] = no.clone();
    re[2] = rtype;
    re[3] = fmt_ym(year, month, w);
    re[4] = kanji;
    re[5] = p.sex.to_string();
    re[6] = fmt_date(p.birth, w);
    if let Some(d) = dpc {
        re[8] = fmt_date(d.stay.admit, w);
    }
    re[13] = patient_number(p, f, ctx.seed);
    re[36] = kana;
    let mut points: u64 = lines.iter().map(|l| l.points * u64::from(l.times())).sum();
    let mut hh = String::new();
    if let Some(d) = dpc {
        let n = u64::from(d.days.iter().map(|x| u32::from(*x)).sum::<u32>());
        let per_day = 2_800;
        let period = if (d.from - d.stay.admit).whole_days() < 10 {
            "1"
        } else if (d.from - d.stay.admit).whole_days() < 20 {
            "2"
        } else {
            "3"
        };
        points += per_day * n;
        let mut l = String::new();
        csv_line(
            &mut l,
            &[
                "HH",
                &fmt_ym(year, month, w),
                "2",
                "1",
                "1",
                period,
                &per_day.to_string(),
                &n.to_string(),
                &(per_day * n).to_string(),
            ],
        );
        hh = l;
    }
    let real_days = if dpc.is_some() {
        dpc.map(|d| d.days.iter().filter(|x| **x > 0).count())
            .unwrap_or(0)
    } else {
        let mut any = [false; 31];
        for l in lines {
            for (i, x) in l.days.iter().enumerate() {
                any[i] |= *x > 0;
            }
        }
        any.iter().filter(|x| **x).count()
    };
    let text = &mut fb.text;
    let refs: Vec<&str> = re.iter().map(String::as_str).collect();
    csv_line(text, &refs);
    let futan = (points * 10 * 3 / 10).to_string();
    csv_line(
        text,
        &[
            "HO",
            &cov.insurer,
            &cov.kigo,
            &cov.bango,
            &real_days.to_string(),
            &points.to_string(),
            "",
            "",
            "",
            "",
            "",
            &futan,
            "",
            "",
            "",
        ],
    );
    if let Some((payer, recipient)) = &kohi {
        // 0 KO | 1 負担者番号 | 2 受給者番号 | 3 任意給付区分 | 4 実日数 | 5 点数 | 6 負担金額
        let burden = (points * 10 / 10).to_string();
        csv_line(
            text,
            &[
                "KO",
                payer,
                recipient,
                "",
                &real_days.to_string(),
                &points.to_string(),
                &burden,
                "",
                "",
                "",
                "",
                "",
            ],
        );
        truth.count("uke_ko_rows", 1);
    }
    csv_line(
        text,
        &[
            "SN",
            "1",
            "01",
            &cov.insurer,
            &cov.kigo,
            &cov.bango,
            &cov.edaban,
            "",
            "",
        ],
    );
    if let Some(d) = dpc {
        let outcome = if d.to == d.stay.discharge {
            if d.stay.died { "6" } else { "1" }
        } else {
            ""
        };
        let discharge = if d.to == d.stay.discharge {
            fmt_date(d.stay.discharge, w)
        } else {
            String::new()
        };
        csv_line(
            text,
            &[
                "BU",
                dpc_code(d.stay.group),
                &fmt_date(d.stay.admit, w),
                &discharge,
                outcome,
            ],
        );
        for (i, (c, _)) in sy.iter().enumerate() {
            let dis = ctx.m.disease(&c.code);
            let icd = dis.map(|x| x.icd10.as_str()).unwrap_or("");
            for kind in if i == 0 {
                &["11", "21", "01"][..]
            } else {
                &["41"][..]
            } {
                csv_line(text, &["SB", kind, icd, &c.code, "", ""]);
            }
        }
        text.push_str(&hh);
    } else {
        for (i, (c, chronic)) in sy.iter().enumerate() {
            let suspected = !chronic && (p.id + u64::from(month)).is_multiple_of(20);
            let outcome = if *chronic { "1" } else { "2" };
            let name = if c.code == "0000999" {
                "原因不明の発熱"
            } else {
                ""
            };
            csv_line(
                text,
                &[
                    "SY",
                    &c.code,
                    &fmt_date(c.onset, w),
                    outcome,
                    if suspected { "8002" } else { "" },
                    name,
                    if i == 0 { "01" } else { "" },
                    "",
                ],
            );
            truth.count_sy(
                ctx.m
                    .disease(&c.code)
                    .map(|d| d.icd10.as_str())
                    .unwrap_or(""),
            );
        }
    }
    let mut last_cat = String::new();
    for l in lines {
        let cat = if l.category != last_cat {
            l.category.clone()
        } else {
            String::new()
        };
        last_cat = l.category.clone();
        if l.record == "CO" {
            // 0 CO | 1 診療識別 | 2 負担区分 | 3 コメントコード | 4 文字データ
            csv_line(text, &["CO", &cat, "1", &l.code, &l.qty]);
            truth.count("uke_co_rows", 1);
            continue;
        }
        let mut fields: Vec<String> = vec![
            l.record.into(),
            cat,
            "1".into(),
            l.code.clone(),
            l.qty.clone(),
            l.points.to_string(),
            l.times().to_string(),
        ];
        // SI: 7–12 comments, 13–43 days. TO: 7 単位コード, 8 単価, 9 予備, 10 商品名,
        // 11–16 comments, 17–47 days.
        let blanks = if l.record == "TO" { 10 } else { 6 };
        fields.extend(std::iter::repeat_n(String::new(), blanks));
        fields.extend(l.days.iter().map(|d| {
            if *d == 0 {
                String::new()
            } else {
                d.to_string()
            }
        }));
        let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        csv_line(text, &refs);
        truth.count(
            if l.record == "TO" {
                "uke_to_rows"
            } else {
                "uke_si_rows"
            },
            1,
        );
    }
    fb.points += points;
    truth.count(
        if dpc.is_some() {
            "uke_dpc_receipts"
        } else {
            "uke_ika_receipts"
        },
        1,
    );
    format!("{}#{no}", path.display())
}

/// A drug and how much of it.
pub struct Rx {
    code: String,
    daily: u32,
    days: u32,
}

/// What is prescribed at a clinic visit: one drug per chronic condition (the same drug
/// every month for the same person), a few days of something for acute ones.
fn prescriptions(
    p: &Person,
    chronic: &[&crate::world::Condition],
    acute: &[&crate::world::Condition],
    monthly: bool,
    ctx: &Ctx,
    _rng: &mut Rng,
) -> Vec<Rx> {
    let mut out = Vec::new();
    let days = if monthly { 28 } else { 56 };
    for c in chronic {
        let drugs = ctx.m.drugs_in(c.group);
        if drugs.is_empty() {
            continue;
        }
        let mut r = Rng::new(
            ctx.seed,
            &[
                4,
                p.id,
                c.group.len() as u64,
                u64::from(c.group.as_bytes()[0]),
            ],
        );
        let d = drugs[r.index(drugs.len())];
        if p.allergy == Some(d.class.as_str()) {
            continue;
        }
        out.push(Rx {
            code: d.code.clone(),
            daily: if d.route == "外" {
                1
            } else {
                1 + r.index(2) as u32
            },
            days,
        });
    }
    for c in acute {
        for d in ctx.m.drugs_in(c.group).into_iter().take(2) {
            if p.allergy == Some(d.class.as_str()) {
                continue;
            }
            out.push(Rx {
                code: d.code.clone(),
                daily: 3,
                days: 5,
            });
        }
    }
    out.sort_by(|a, b| a.code.cmp(&b.code));
    out.dedup_by(|a, b| a.code == b.code);
    out
}

#[allow(clippy::too_many_arguments)]
fn pharmacy(
    p: &Person,
    cov: &Coverage,
    ctx: &Ctx,
    files: &mut Files,
    (year, month): (i32, u32),
    on: Date,
    prescriber: &Facility,
    rx: &[Rx],
    truth: &mut Truth,
) {
    let f = &ctx.fac.all[p.pharmacy];
    let billing = billing_of(year, month);
    let payer = payer(cov);
    let w = f.wareki;
    let (fb, path) = uke_file(files, f, billing, payer, &ctx.muni.prefecture, w);
    fb.count += 1;
    let no = fb.count.to_string();
    let (kanji, kana) = names(p, on, f, false);
    let mut re: Vec<String> = vec![String::new(); 42];
    re[0] = "RE".into();
    re[1] = no.clone();
    re[2] = receipt_type('4', cov, p.age_on(on), false);
    re[3] = fmt_ym(year, month, w);
    re[4] = kanji;
    re[5] = p.sex.to_string();
    re[6] = fmt_date(p.birth, w);
    re[9] = prescriber.pref.clone();
    re[10] = "1".into();
    re[11] = prescriber.code.clone();
    re[12] = prescriber.name.clone();
    re[35] = patient_number(p, f, ctx.seed);
    re[41] = kana;
    let points: u64 = rx
        .iter()
        .map(|r| drug_points(&r.code) * u64::from(r.daily * r.days))
        .sum::<u64>()
        + 50;
    let text = &mut fb.text;
    let refs: Vec<&str> = re.iter().map(String::as_str).collect();
    csv_line(text, &refs);
    csv_line(
        text,
        &[
            "HO",
            &cov.insurer,
            &cov.kigo,
            &cov.bango,
            "1",
            &points.to_string(),
            "",
            "",
            "",
            &(points * 3).to_string(),
            "",
            "",
            "",
            "",
        ],
    );
    csv_line(
        text,
        &[
            "SN",
            "1",
            "01",
            &cov.insurer,
            &cov.kigo,
            &cov.bango,
            &cov.edaban,
            "",
            "",
        ],
    );
    let md = format!("{:02}{:02}", on.month() as u8, on.day());
    for (i, r) in rx.iter().enumerate() {
        let n = (i + 1).to_string();
        let unit = drug_points(&r.code) * u64::from(r.daily);
        csv_line(
            text,
            &["SH", &n, "1", "", "", &unit.to_string(), "", "", "", ""],
        );
        let mut cz: Vec<String> = vec![String::new(); 54];
        cz[0] = "CZ".into();
        cz[1] = "1".into();
        cz[2] = md.clone();
        cz[3] = md.clone();
        cz[4] = "1".into();
        cz[5] = r.days.to_string();
        cz[6] = "1".into();
        let refs: Vec<&str> = cz.iter().map(String::as_str).collect();
        csv_line(text, &refs);
        csv_line(
            text,
            &[
                "IY",
                "1",
                &r.code,
                &r.daily.to_string(),
                "",
                "",
                "",
                "",
                "",
                "",
            ],
        );
        truth.count("uke_chozai_iy_rows", 1);
    }
    fb.points += points;
    truth.count("uke_chozai_receipts", 1);
    truth.link("uke", &format!("{}#{no}", path.display()), p.id);
}

/// Closes every UKE file with its GO record (count, points, volume).
pub fn finish(files: &mut Files) {
    for (path, f) in files.0.iter_mut() {
        if path.extension().is_some_and(|e| e == "UKE") {
            let mut go = String::new();
            let _ = write!(go, "GO,{},{},99\r\n", f.count, f.points);
            f.text.push_str(&go);
        }
    }
}
