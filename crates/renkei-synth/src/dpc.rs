//! DPC survey files for each hospital stay: 様式1 (FF1, one row per item) and the EF file
//! (one row per billed act per day), tab-separated, CP932, by hospital and month of
//! discharge. Layouts: docs/formats.md (after the 2024 MHLW specification).

use crate::Ctx;
use crate::claims::{dpc_code, patient_number, surgery};
use crate::out::{Encoding, Files};
use crate::truth::Truth;
use crate::world::{Person, Stay};
use std::path::PathBuf;

fn ymd8(d: time::Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), d.month() as u8, d.day())
}

fn tsv(out: &mut String, fields: &[&str]) {
    out.push_str(&fields.join("\t"));
    out.push_str("\r\n");
}

/// The 様式1 and EF rows of every stay a person has.
pub fn stays(p: &Person, ctx: &Ctx, files: &mut Files, truth: &mut Truth) {
    for s in &p.stays {
        stay(p, s, ctx, files, truth);
    }
}

fn stay(p: &Person, s: &Stay, ctx: &Ctx, files: &mut Files, truth: &mut Truth) {
    let f = &ctx.fac.all[p.hospital];
    let fac = f.dpc_code();
    let pid = patient_number(p, f, ctx.seed);
    let yymm = format!(
        "{:02}{:02}",
        s.discharge.year() % 100,
        s.discharge.month() as u8
    );
    let admit = ymd8(s.admit);
    let ff1 = files.file(
        PathBuf::from(format!("dpc/FF1_{fac}_{yymm}.txt")),
        Encoding::Cp932,
        String::new,
    );
    let item = |out: &mut String, code: &str, seq: usize, p: [&str; 9]| {
        let s0 = seq.to_string();
        let mut row = vec![
            fac.as_str(),
            pid.as_str(),
            admit.as_str(),
            "1",
            "0",
            code,
            "20240601",
            s0.as_str(),
        ];
        row.extend(p);
        tsv(out, &row);
    };
    let t = &mut ff1.text;
    item(
        t,
        "A000010",
        0,
        [
            &ymd8(p.birth),
            &p.sex.to_string(),
            &p.postal,
            "",
            "",
            "",
            "",
            "",
            "",
        ],
    );
    item(
        t,
        "A000020",
        0,
        [
            &admit,
            "1",
            if s.emergency { "0" } else { "1" },
            if s.emergency { "0" } else { "1" },
            if s.emergency { "302" } else { "100" },
            if s.emergency && p.id.is_multiple_of(2) {
                "1"
            } else {
                "0"
            },
            "0",
            "0",
            "0",
        ],
    );
    let outcome = if s.died { "6" } else { "1" };
    let destination = if s.died { "4" } else { "1" };
    item(
        t,
        "A000030",
        0,
        [
            &ymd8(s.discharge),
            destination,
            outcome,
            if s.died && (s.discharge - s.admit).whole_days() < 1 {
                "1"
            } else {
                "0"
            },
            "0",
            "",
            "",
            "",
            "",
        ],
    );
    let main = p.conditions.iter().find(|c| c.group == s.group);
    if let Some(c) = main {
        let d = ctx.m.disease(&c.code);
        let (icd, name) = d
            .map(|d| (d.icd10.as_str(), d.name.as_str()))
            .unwrap_or(("", ""));
        for code in ["A006010", "A006020", "A006030"] {
            item(t, code, 0, ["", icd, "", &c.code, "", "", "", "", name]);
        }
    }
    for (i, c) in p
        .conditions
        .iter()
        .filter(|c| c.chronic && c.group != s.group && c.onset <= s.admit)
        .take(4)
        .enumerate()
    {
        let d = ctx.m.disease(&c.code);
        let (icd, name) = d
            .map(|d| (d.icd10.as_str(), d.name.as_str()))
            .unwrap_or(("", ""));
        item(
            t,
            "A006040",
            i,
            ["", icd, "", &c.code, "", "", "", "", name],
        );
    }
    if let Some((code, k)) = surgery(s.group) {
        let name = ctx.m.procedure(code).map(|x| x.name.as_str()).unwrap_or("");
        let op = ymd8(s.admit + time::Duration::days(1));
        item(t, "A007010", 0, [&op, "1", k, "1", "0", "1", "0", "", name]);
    }
    if let Some(c) = &p.care {
        item(t, "A004020", 0, ["", c.level, "", "", "", "", "", "", ""]);
    }
    truth.count("dpc_stays", 1);
    truth.link("dpc", &format!("{fac}#{pid}#{admit}"), p.id);
    // EF: daily acts.
    let ef = files.file(
        PathBuf::from(format!("dpc/EFn_{fac}_{yymm}.txt")),
        Encoding::Cp932,
        String::new,
    );
    let discharge = ymd8(s.discharge);
    let cov = p.coverage_on(s.admit);
    let insurer = cov.map(|c| c.insurer.clone()).unwrap_or_default();
    let rtype = cov
        .map(|c| crate::claims::receipt_type('1', c, p.age_on(s.admit), true))
        .unwrap_or_default();
    let mut order = 0;
    let days = (s.discharge - s.admit).whole_days().max(0);
    for day in 0..=days {
        let d = s.admit + time::Duration::days(day);
        let mut acts: Vec<(&str, &str, &str, u64)> = vec![("90", "190117710", "", 1688)];
        if day == 1
            && let Some((code, k)) = surgery(s.group)
        {
            acts.push(("50", code, k, 20_000));
        }
        if day % 7 == 0 {
            acts.push(("60", "160022510", "", 17));
            acts.push(("60", "160019210", "", 11));
        }
        if day == 0 {
            acts.push(("70", "170027910", "", 68));
        }
        if s.group == "pneumonia" && day < 7 {
            acts.push(("33", "130003810", "", 102));
        }
        for (cat, code, k, points) in acts {
            order += 1;
            let name = ctx.m.procedure(code).map(|x| x.name.as_str()).unwrap_or("");
            let packaged = if cat == "50" { "0" } else { "1" };
            let flags = format!("00001{packaged}000000");
            let row = [
                fac.as_str(),
                pid.as_str(),
                &discharge,
                &admit,
                cat,
                &format!("{order:04}"),
                "000",
                "",
                code,
                k,
                name,
                "1",
                "",
                &points.to_string(),
                "0",
                &points.to_string(),
                &flags,
                &points.to_string(),
                "0",
                "0",
                "1",
                &insurer,
                &rtype,
                &ymd8(d),
                "01",
                "010",
                "",
                "",
                "1",
                "1",
                "000",
            ];
            tsv(&mut ef.text, &row);
            truth.count("dpc_ef_rows", 1);
        }
    }
    let _ = dpc_code(s.group);
}
