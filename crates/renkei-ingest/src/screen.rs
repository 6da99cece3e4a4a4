//! Screening free text at the door. Text a clinician or clerk typed (a comment, a
//! medication's free description, a declared free-text column) can hold what the
//! platform never stores: a telephone number, a postal code or address, an insurer or
//! insured-person number, the person's own name. Each such span is replaced by a mask
//! before the value reaches a builder, and the hits are counted per column in the
//! quality profile. The text is compared after NFKC (full-width digits are digits).

use regex::Regex;
use std::sync::OnceLock;

/// What replaces a screened span.
pub const MASK: &str = "＊＊＊";

/// The structured patterns. Hand-written alternatives would be a long match on bytes;
/// the `regex` crate compiles these into one automaton and runs in linear time on any
/// input, so a crafted value cannot make screening slow.
fn patterns() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        #[allow(clippy::expect_used)] // A constant pattern, checked by the tests.
        Regex::new(concat!(
            // Telephone: 0 then 9–10 digits, with or without separators.
            r"0\d{1,4}[-‐ー−(（)） ]{0,2}\d{1,4}[-‐ー−)） ]{0,2}\d{3,4}",
            // Postal code: 〒 and/or NNN-NNNN.
            r"|〒\s?\d{3}[-‐ー−]?\d{4}|\b\d{3}[-‐ー−]\d{4}\b",
            // Insurer, insured-person and recipient numbers: long digit runs.
            r"|\d{6,}",
            // Addresses: block and house numbers.
            r"|\d+\s?丁目(\s?\d+\s?(番地?|[-‐ー−])\s?\d*\s?号?)?|\d+\s?番地(\s?\d+\s?号?)?|\d+\s?番\s?\d+\s?号",
            r"|\d{1,4}[-‐ー−]\d{1,4}[-‐ー−]\d{1,4}",
        ))
        .expect("the screening patterns compile")
    })
}

/// `text` with every identifying span masked, and how many spans were. `names` are the
/// record's own identifying values (its kana and kanji names): where one of at least
/// two characters appears, it is masked too.
pub fn screen(text: &str, names: &[&str]) -> (String, u32) {
    use unicode_normalization::UnicodeNormalization as _;
    let folded: String = text.nfkc().collect();
    let mut hits = 0u32;
    let mut out = patterns()
        .replace_all(&folded, |_: &regex::Captures<'_>| {
            hits += 1;
            MASK
        })
        .into_owned();
    for given in names {
        // As written (with a space between family and given names, say), then joined.
        let spaced: String = given.nfkc().collect::<String>().trim().to_owned();
        let joined: String = spaced.chars().filter(|c| !c.is_whitespace()).collect();
        for form in [spaced, joined] {
            if form.chars().count() >= 2 && out.contains(&form) {
                hits += out.matches(&form).count() as u32;
                out = out.replace(&form, MASK);
            }
        }
    }
    if hits == 0 {
        return (text.to_owned(), 0);
    }
    (out, hits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn identifiers_in_free_text_are_masked() {
        for (input, gone) in [
            ("連絡先 03-1234-5678 まで", "1234"),
            ("携帯０９０１２３４５６７８に電話", "12345678"),
            ("〒100-0001 東京都千代田区", "100-0001"),
            ("千代田区千代田1丁目1番1号に住む", "1丁目"),
            ("保険者番号06130012で確認", "06130012"),
            ("住所は2-3-4です", "2-3-4"),
        ] {
            let (out, hits) = screen(input, &[]);
            assert!(hits >= 1, "{input}");
            assert!(!out.contains(gone), "{input} -> {out}");
            assert!(out.contains(MASK), "{out}");
        }
        let (out, hits) = screen(
            "ヤマダ タロウ様より電話あり。山田太郎本人",
            &["ヤマダ タロウ", "山田太郎"],
        );
        assert_eq!(hits, 2, "{out}");
        assert!(!out.contains("ヤマダ") && !out.contains("山田"), "{out}");
    }

    #[test]
    fn clinical_text_passes_unchanged() {
        for text in [
            "２型糖尿病、HbA1c 7.2%",
            "アムロジピン錠5mg 1日1回朝食後",
            "BMI 24.5、血圧 132/84",
            "2025年4月1日より投与開始",
            "",
        ] {
            assert_eq!(
                screen(text, &["ヤマダ タロウ"]),
                (text.to_owned(), 0),
                "{text}"
            );
        }
    }

    proptest! {
        // Whatever the text, screening answers in linear time and what it returns holds
        // no run of six or more digits.
        #[test]
        fn no_long_digit_run_survives(s in "\\PC{0,200}") {
            let (out, _) = screen(&s, &[]);
            let mut run = 0;
            for c in out.chars() {
                run = if c.is_ascii_digit() { run + 1 } else { 0 };
                prop_assert!(run < 6, "{out}");
            }
        }
    }
}
