//! Japanese era dates (和暦). Older receipt files and the NDB write dates as
//! `GYYMMDD` / `GYYMM` with an era digit (1 明治, 2 大正, 3 昭和, 4 平成, 5 令和);
//! death records and forms write `昭和15年3月2日`. Both forms round-trip here.

/// An era.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// 明治 (digit 1).
    Meiji,
    /// 大正 (digit 2).
    Taisho,
    /// 昭和 (digit 3).
    Showa,
    /// 平成 (digit 4).
    Heisei,
    /// 令和 (digit 5).
    Reiwa,
}

/// A calendar date as (year, month, day).
pub type Ymd = (i32, u32, u32);

/// (era, digit, name, first day), newest last.
const ERAS: [(Era, u32, &str, Ymd); 5] = [
    (Era::Meiji, 1, "明治", (1868, 10, 23)),
    (Era::Taisho, 2, "大正", (1912, 7, 30)),
    (Era::Showa, 3, "昭和", (1926, 12, 25)),
    (Era::Heisei, 4, "平成", (1989, 1, 8)),
    (Era::Reiwa, 5, "令和", (2019, 5, 1)),
];

fn era_of(date: Ymd) -> Option<(Era, u32, &'static str, i32)> {
    ERAS.iter()
        .rev()
        .find(|(_, _, _, start)| date >= *start)
        .map(|(e, d, n, start)| (*e, *d, *n, start.0))
}

fn era_by_digit(d: u32) -> Option<(Era, i32, Ymd)> {
    ERAS.iter()
        .find(|(_, digit, _, _)| *digit == d)
        .map(|(e, _, _, start)| (*e, start.0, *start))
}

/// The date, if it exists in the calendar.
pub fn date(y: i32, m: u32, d: u32) -> Option<Ymd> {
    valid(y, m, d).then_some((y, m, d))
}

fn valid(y: i32, m: u32, d: u32) -> bool {
    let dim = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return false,
    };
    (1..=dim).contains(&d)
}

/// `GYYMMDD`, e.g. 1940-03-02 → `3150302`.
pub fn to_digits(date: Ymd) -> Option<String> {
    let (_, digit, _, first) = era_of(date)?;
    Some(format!(
        "{digit}{:02}{:02}{:02}",
        date.0 - first + 1,
        date.1,
        date.2
    ))
}

/// `GYYMM`, e.g. 2025-04 → `50704`.
pub fn to_digits_ym(y: i32, m: u32) -> Option<String> {
    // The era in force on the month's last day decides (a month split by an era change
    // is written in the newer era).
    let (_, digit, _, first) = era_of((y, m, 28))?;
    Some(format!("{digit}{:02}{m:02}", y - first + 1))
}

/// Parses `GYYMMDD` (7 digits) into a date, checking it exists and lies in that era.
pub fn parse_digits(s: &str) -> Option<Ymd> {
    if s.len() != 7 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    let (era, first, start) = era_by_digit(n(0..1)?)?;
    let y = first + n(1..3)? as i32 - 1;
    let (m, d) = (n(3..5)?, n(5..7)?);
    let date = (y, m, d);
    (n(1..3)? >= 1 && valid(y, m, d) && date >= start && era_of(date).map(|e| e.0) == Some(era))
        .then_some(date)
}

/// Parses `GYYMM` (5 digits) into (year, month).
pub fn parse_digits_ym(s: &str) -> Option<(i32, u32)> {
    if s.len() != 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    let (_, first, _) = era_by_digit(n(0..1)?)?;
    let yy = n(1..3)?;
    let m = n(3..5)?;
    (yy >= 1 && (1..=12).contains(&m)).then_some((first + yy as i32 - 1, m))
}

/// `昭和15年3月2日` (元年 for year 1).
pub fn to_text(date: Ymd) -> Option<String> {
    let (_, _, name, first) = era_of(date)?;
    let yy = date.0 - first + 1;
    let year = if yy == 1 {
        "元".to_owned()
    } else {
        yy.to_string()
    };
    Some(format!("{name}{year}年{}月{}日", date.1, date.2))
}

/// Parses `昭和15年3月2日`, `昭和１５年３月２日` (full-width digits) or `令和元年5月1日`.
pub fn parse_text(s: &str) -> Option<Ymd> {
    use unicode_normalization::UnicodeNormalization as _;
    let s: String = s.nfkc().filter(|c| !c.is_whitespace()).collect();
    let (era_idx, rest) = ERAS
        .iter()
        .enumerate()
        .find_map(|(i, (_, _, name, _))| s.strip_prefix(name).map(|r| (i, r)))?;
    let (yy, rest) = rest.split_once('年')?;
    let (mm, rest) = rest.split_once('月')?;
    let dd = rest.strip_suffix('日')?;
    let yy: u32 = if yy == "元" { 1 } else { yy.parse().ok()? };
    let (era, _, _, start) = ERAS[era_idx];
    let y = start.0 + yy as i32 - 1;
    let (m, d) = (mm.parse().ok()?, dd.parse().ok()?);
    (yy >= 1 && valid(y, m, d) && (y, m, d) >= start && era_of((y, m, d)).map(|e| e.0) == Some(era))
        .then_some((y, m, d))
}

/// Parses `YYYYMMDD`.
pub fn parse_seireki(s: &str) -> Option<Ymd> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i32 = s.get(0..4)?.parse().ok()?;
    let m: u32 = s.get(4..6)?.parse().ok()?;
    let d: u32 = s.get(6..8)?.parse().ok()?;
    valid(y, m, d).then_some((y, m, d))
}

/// Parses a date in any of the forms receipts and registries use: `YYYYMMDD`,
/// `GYYMMDD`, `YYYY-MM-DD`, `YYYY/MM/DD` or `昭和15年3月2日`.
pub fn parse_any(s: &str) -> Option<Ymd> {
    let t = s.trim();
    match t.len() {
        8 if t.bytes().all(|b| b.is_ascii_digit()) => parse_seireki(t),
        7 if t.bytes().all(|b| b.is_ascii_digit()) => parse_digits(t),
        10 if t
            .as_bytes()
            .get(4)
            .is_some_and(|b| *b == b'-' || *b == b'/') =>
        {
            parse_seireki(&t.replace(['-', '/'], ""))
        }
        _ => parse_text(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(to_digits((1940, 3, 2)).unwrap(), "3150302");
        assert_eq!(parse_digits("3150302"), Some((1940, 3, 2)));
        assert_eq!(to_digits((2019, 4, 30)).unwrap(), "4310430");
        assert_eq!(to_digits((2019, 5, 1)).unwrap(), "5010501");
        assert_eq!(to_digits_ym(2025, 4).unwrap(), "50704");
        assert_eq!(parse_digits_ym("50704"), Some((2025, 4)));
        assert_eq!(to_text((2019, 5, 1)).unwrap(), "令和元年5月1日");
        assert_eq!(parse_text("令和元年5月1日"), Some((2019, 5, 1)));
        assert_eq!(parse_text("昭和１５年３月２日"), Some((1940, 3, 2)));
        assert_eq!(
            parse_digits("4310501"),
            None,
            "平成31年5月1日 did not exist"
        );
        assert_eq!(parse_digits("3150230"), None, "no 30 February");
        assert_eq!(parse_any("1940-03-02"), Some((1940, 3, 2)));
        assert_eq!(parse_any("19400302"), Some((1940, 3, 2)));
        assert_eq!(parse_any("3150302"), Some((1940, 3, 2)));
        assert_eq!(parse_any("garbage"), None);
    }

    proptest! {
        #[test]
        fn round_trips(y in 1930i32..2030, m in 1u32..=12, d in 1u32..=28) {
            prop_assert_eq!(parse_digits(&to_digits((y, m, d)).unwrap()), Some((y, m, d)));
            prop_assert_eq!(parse_text(&to_text((y, m, d)).unwrap()), Some((y, m, d)));
            prop_assert_eq!(parse_any(&format!("{y:04}{m:02}{d:02}")), Some((y, m, d)));
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,12}") {
            let _ = parse_any(&s);
            let _ = parse_digits_ym(&s);
        }
    }
}
