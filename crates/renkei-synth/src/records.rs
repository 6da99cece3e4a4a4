//! The other databases: 特定健診 results (JLAC10-style item codes), 介護DB certifications
//! and care claims, death records (人口動態 死亡票-like, no kana and no insurer number),
//! and one private database (a cancer registry keyed by kana name, birth date, sex and
//! postal code, typed in by hand, with the typos that come with that). Layouts:
//! docs/formats.md.

use crate::Ctx;
use crate::names::{halfwidth, long_vowel};
use crate::out::{Encoding, Files, csv_line};
use crate::rng::Rng;
use crate::truth::Truth;
use crate::world::{Person, date, ymd};
use std::path::PathBuf;

fn ymd8(d: time::Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), d.month() as u8, d.day())
}

fn area_tag(ctx: &Ctx) -> String {
    format!("{}_{:03}", ctx.muni.code, ctx.area.part)
}

/// Header of the checkup file.
pub const CHECKUP_HEADER: &str = "整理番号,保険者番号,被保険者証記号,被保険者証番号,枝番,カナ氏名,生年月日,性別,郵便番号,受診日,健診機関番号,項目コード,結果値,単位";

/// A 特定健診 for insured persons aged 40–74 who attend (about half do).
pub fn checkup(p: &Person, ctx: &Ctx, files: &mut Files, truth: &mut Truth, rng: &mut Rng) {
    let day = date(ctx.year, rng.range(5, 12) as u32, rng.range(1, 29) as u32);
    let age = p.age_on(day);
    if !(40..=74).contains(&age)
        || !p.alive_on(day)
        || p.stays.iter().any(|s| s.admit <= day && day <= s.discharge)
        || !rng.chance(0.55)
    {
        return;
    }
    let Some(cov) = p.coverage_on(day) else {
        return;
    };
    let path = PathBuf::from(format!("checkups/checkups_{}.csv", area_tag(ctx)));
    let f = files.file(path.clone(), Encoding::Cp932, || {
        format!("{CHECKUP_HEADER}\r\n")
    });
    f.count += 1;
    let id = format!("{}{:07}", ctx.area.index, f.count);
    let (_, fkana, _, gkana) = p.name_on(day);
    let kana = if rng.chance(0.3) {
        halfwidth(&format!("{fkana} {gkana}"))
    } else {
        format!("{fkana}　{gkana}")
    };
    let clinic = ctx.fac.all[p.clinic].code10();
    let has = |g: &str| p.has(g, day);
    let height = p.height;
    let weight = p.bmi * (height / 100.0).powi(2);
    let sbp = rng.normal(
        118.0 + f64::from(age - 40) * 0.6 + if has("hypertension") { 14.0 } else { 0.0 },
        12.0,
    );
    let dbp = sbp * 0.62 + rng.normal(0.0, 5.0);
    let ldl = rng
        .normal(if has("dyslipidaemia") { 135.0 } else { 118.0 }, 28.0)
        .max(40.0);
    let hdl = rng
        .normal(if p.sex == 1 { 52.0 } else { 64.0 }, 12.0)
        .max(20.0);
    let tg = rng.normal(110.0 + (p.bmi - 22.0) * 8.0, 45.0).max(30.0);
    let hba1c = rng
        .normal(
            if has("diabetes") { 7.2 } else { 5.6 },
            if has("diabetes") { 0.9 } else { 0.35 },
        )
        .clamp(4.0, 14.0);
    let glucose = 20.0 * hba1c - 20.0 + rng.normal(0.0, 8.0);
    let ast = rng.normal(23.0, 7.0).max(8.0);
    let alt = rng.normal(22.0 + (p.bmi - 22.0) * 1.5, 9.0).max(5.0);
    let ggt = rng
        .normal(if p.sex == 1 { 45.0 } else { 25.0 }, 20.0)
        .max(8.0);
    let waist = 60.0 + p.bmi * 1.2 + if p.sex == 1 { 6.0 } else { 0.0 } + rng.normal(0.0, 3.0);
    let metabolic = if waist >= if p.sex == 1 { 85.0 } else { 90.0 }
        && (sbp >= 130.0 || hba1c >= 6.0 || tg >= 150.0)
    {
        "1"
    } else {
        "3"
    };
    let items: Vec<(&str, String)> = vec![
        ("9N001000000000001", format!("{height:.1}")),
        ("9N006000000000001", format!("{weight:.1}")),
        ("9N011000000000001", format!("{:.1}", p.bmi)),
        ("9N016160100000001", format!("{waist:.1}")),
        ("9A751000000000001", format!("{sbp:.0}")),
        ("9A761000000000001", format!("{dbp:.0}")),
        ("3F015000002327101", format!("{tg:.0}")),
        ("3F070000002327101", format!("{hdl:.0}")),
        ("3F077000002327101", format!("{ldl:.0}")),
        ("3B035000002327201", format!("{ast:.0}")),
        ("3B045000002327201", format!("{alt:.0}")),
        ("3B090000002327101", format!("{ggt:.0}")),
        ("3D010000001926101", format!("{glucose:.0}")),
        ("3D046000001906202", format!("{hba1c:.1}")),
        (
            "1A020000000190111",
            if hba1c > 8.0 { "2".into() } else { "1".into() },
        ),
        ("1A010000000190111", "1".into()),
        ("9N501000000000011", metabolic.into()),
        (
            "9N701000000000011",
            if has("hypertension") {
                "1".into()
            } else {
                "2".into()
            },
        ),
        (
            "9N706000000000011",
            if has("diabetes") {
                "1".into()
            } else {
                "2".into()
            },
        ),
        (
            "9N711000000000011",
            if has("dyslipidaemia") {
                "1".into()
            } else {
                "2".into()
            },
        ),
        (
            "9N736000000000011",
            if p.smoker { "1".into() } else { "2".into() },
        ),
    ];
    for (code, value) in &items {
        let unit = ctx.m.lab_item(code).map(|l| l.unit.as_str()).unwrap_or("");
        csv_line(
            &mut f.text,
            &[
                &id,
                &cov.insurer,
                &cov.kigo,
                &cov.bango,
                &cov.edaban,
                &kana,
                &ymd8(p.birth),
                &p.sex.to_string(),
                &p.postal,
                &ymd8(day),
                &clinic,
                code,
                value,
                unit,
            ],
        );
    }
    truth.count("checkups", 1);
    truth.count("checkup_rows", items.len() as u64);
    truth.add("checkup_hba1c_sum", hba1c);
    truth.link("checkups", &format!("{}#{id}", path.display()), p.id);
}

/// Header of the certification file.
pub const CERT_HEADER: &str = "証記載保険者番号,被保険者番号,カナ氏名,生年月日,性別,申請年月日,申請区分,一次判定結果,二次判定要介護状態区分,認定有効開始年月日,認定有効終了年月日";
/// Header of the care-claims file.
pub const CARE_HEADER: &str = "サービス提供年月,事業所番号,証記載保険者番号,被保険者番号,生年月日,性別,要介護状態区分,サービス種類コード,サービス項目コード,単位数,日数回数,費用額";

/// The care insurer of a municipality (6 digits: the code's first five plus a check digit).
fn care_insurer(ctx: &Ctx) -> String {
    let data = &ctx.muni.code[..5];
    format!(
        "{data}{}",
        renkei_masters::insurer_check_digit(data).unwrap_or(0)
    )
}

/// Certification and monthly care claims for a certified person.
pub fn care(p: &Person, ctx: &Ctx, files: &mut Files, truth: &mut Truth, rng: &mut Rng) {
    let (Some(c), Some(number)) = (&p.care, &p.ltc_number) else {
        return;
    };
    let insurer = care_insurer(ctx);
    let tag = area_tag(ctx);
    let (_, fkana, _, gkana) = p.name_on(c.applied);
    let kana = format!("{fkana}　{gkana}");
    let certs = files.file(
        PathBuf::from(format!("ltc/certifications_{tag}.csv")),
        Encoding::Cp932,
        || format!("{CERT_HEADER}\r\n"),
    );
    csv_line(
        &mut certs.text,
        &[
            &insurer,
            number,
            &kana,
            &ymd8(p.birth),
            &p.sex.to_string(),
            &ymd8(c.applied),
            "1",
            c.first_level,
            c.level,
            &ymd8(c.from),
            &ymd8(c.until),
        ],
    );
    truth.count("ltc_certifications", 1);
    truth.link("ltc", &format!("{insurer}#{number}"), p.id);
    let provider = &ctx.fac.all[p.care_provider];
    let services: &[(&str, &str, u32)] = match c.level {
        "12" | "13" => &[("67", "671001", 100), ("46", "461111", 438)],
        "21" | "22" => &[
            ("15", "151111", 650),
            ("17", "171001", 150),
            ("43", "431111", 1076),
        ],
        "23" => &[
            ("15", "151111", 760),
            ("11", "111111", 250),
            ("17", "171001", 300),
            ("43", "431111", 1398),
        ],
        _ => &[("51", "511111", 750)],
    };
    let claims = files.file(
        PathBuf::from(format!("ltc/claims_{tag}.csv")),
        Encoding::Cp932,
        || format!("{CARE_HEADER}\r\n"),
    );
    for month in 1..=12u32 {
        let d = date(ctx.year, month, 15);
        if d < c.from
            || d > c.until
            || !p.alive_on(date(ctx.year, month, 1))
            || p.stays.iter().any(|s| s.admit <= d && d <= s.discharge)
        {
            continue;
        }
        for (kind, item, units_per_day) in services {
            let days = if *kind == "51" {
                crate::world::days_in_month(ctx.year, month)
            } else if matches!(*kind, "17" | "67" | "43" | "46") {
                1
            } else {
                rng.range(4, 13) as u32
            };
            let units = units_per_day * days;
            csv_line(
                &mut claims.text,
                &[
                    &format!("{}{month:02}", ctx.year),
                    &provider.code,
                    &insurer,
                    number,
                    &ymd8(p.birth),
                    &p.sex.to_string(),
                    c.level,
                    kind,
                    item,
                    &units.to_string(),
                    &days.to_string(),
                    &(u64::from(units) * 1045 / 100).to_string(),
                ],
            );
            truth.count("ltc_claim_rows", 1);
        }
    }
}

/// Header of the death file.
pub const DEATH_HEADER: &str = "整理番号,氏名,性別,生年月日,死亡年月日,死亡時刻,死亡場所,住所地市区町村コード,原死因,死因の種類";

/// A death record: kanji name (sometimes in a variant spelling), birth date in 和暦.
pub fn death(p: &Person, ctx: &Ctx, files: &mut Files, truth: &mut Truth, rng: &mut Rng) {
    let Some(d) = &p.death else { return };
    let path = PathBuf::from(format!("deaths/deaths_{}.csv", area_tag(ctx)));
    let f = files.file(path.clone(), Encoding::Cp932, || {
        format!("{DEATH_HEADER}\r\n")
    });
    f.count += 1;
    let id = format!("{}{:06}", ctx.area.index, f.count);
    let (fk, _, gk, _) = p.name_on(d.date);
    let fk = if rng.chance(0.5) {
        p.family_variant
            .filter(|_| p.marriage.is_none())
            .unwrap_or(fk)
    } else {
        fk
    };
    let born = renkei_core::wareki::to_text(ymd(p.birth)).unwrap_or_default();
    let kind = if d.cause.starts_with('S') { "2" } else { "1" };
    csv_line(
        &mut f.text,
        &[
            &id,
            &format!("{fk}　{gk}"),
            &p.sex.to_string(),
            &born,
            &ymd8(d.date),
            &format!("{:02}{:02}", d.time.0, d.time.1),
            &d.place.to_string(),
            &ctx.muni.code[..5],
            &d.cause,
            kind,
        ],
    );
    truth.count("deaths", 1);
    truth.link("deaths", &format!("{}#{id}", path.display()), p.id);
}

/// Header of the registry file.
pub const REGISTRY_HEADER: &str =
    "登録番号,カナ氏名,生年月日,性別,郵便番号,診断年月日,ICD10,進行度";

/// The registry's declared schema (a private database joins by declaration, D3/D7).
pub const REGISTRY_SCHEMA: &str = include_str!("registry_schema.toml");

fn typo(s: &str, rng: &mut Rng) -> String {
    let mut c: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
    if c.len() < 3 {
        return s.to_owned();
    }
    let i = 1 + rng.index(c.len() - 2);
    match rng.index(3) {
        0 => {
            c.remove(i);
        }
        1 => c.swap(i, i - 1),
        _ => c[i] = *rng.pick(&['ア', 'カ', 'サ', 'タ', 'ナ', 'ハ', 'マ', 'ヤ', 'ラ']),
    }
    c.into_iter().collect()
}

/// A cancer registry entry for each cancer diagnosis.
pub fn registry(p: &Person, ctx: &Ctx, files: &mut Files, truth: &mut Truth, rng: &mut Rng) {
    for c in p.conditions.iter().filter(|c| c.group.ends_with("_cancer")) {
        let path = PathBuf::from(format!("registry/cancer_registry_{}.csv", area_tag(ctx)));
        let f = files.file(path.clone(), Encoding::Utf8, || {
            format!("{REGISTRY_HEADER}\n")
        });
        f.count += 1;
        let id = format!("R{}{:06}", ctx.area.index, f.count);
        let (_, fkana, _, gkana) = p.name_on(c.onset);
        let mut kana = format!("{fkana} {gkana}");
        if rng.chance(0.15) {
            kana = long_vowel(&kana);
        }
        if rng.chance(0.1) {
            kana = halfwidth(&kana);
        }
        if rng.chance(0.06) {
            kana = typo(&kana, rng);
        }
        let born = if rng.chance(0.15) {
            renkei_core::wareki::to_text(ymd(p.birth)).unwrap_or_default()
        } else {
            format!(
                "{:04}/{:02}/{:02}",
                p.birth.year(),
                p.birth.month() as u8,
                p.birth.day()
            )
        };
        let postal = if rng.chance(0.03) {
            String::new()
        } else {
            format!("{}-{}", &p.postal[..3], &p.postal[3..])
        };
        let icd = ctx
            .m
            .disease(&c.code)
            .map(|d| d.icd10.clone())
            .unwrap_or_default();
        let stage = ["0", "I", "II", "III", "IV"][rng.index(5)];
        f.text.push_str(
            &[
                id.as_str(),
                &kana,
                &born,
                &p.sex.to_string(),
                &postal,
                &ymd8(c.onset),
                &icd,
                stage,
            ]
            .join(","),
        );
        f.text.push('\n');
        truth.count("registry_rows", 1);
        truth.link("registry", &format!("{}#{id}", path.display()), p.id);
    }
}
