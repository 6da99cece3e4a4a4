//! Canonical forms of identifying fields, so that the same person written two ways
//! yields the same linkage token.
//!
//! The rules are versioned: [`VERSION`] is part of every token key's derivation, so a
//! change here changes every token instead of silently mixing two normal forms.
//!
//! Names (kana):
//! 1. NFKC (half-width ｶﾀｶﾅ → full-width, full-width ＡＢＣ → ABC);
//! 2. hiragana → katakana;
//! 3. small kana → large (ャ→ヤ, ッ→ツ, ァ→ア, ヶ→ケ);
//! 4. long vowels written one way: ー after an A, I or U syllable → that vowel
//!    (ユーコ → ユウコ); a long O as オウ whether written オウ, オオ or オー (サトー →
//!    サトウ, オオタ → オウタ); a long E as エイ (ケーコ → ケイコ); and ヴ → ブ,
//!    ヰ → イ, ヱ → エ, ヲ → オ;
//! 5. spaces (ASCII, full-width), middle dots, hyphens and commas removed, and a
//!    voicing mark that attaches to no kana dropped.
//!
//! Names (kanji): NFKC, spaces removed, variant characters folded to the common form
//! (邊/邉 → 辺, 齋/齊 → 斎, 髙 → 高, 﨑 → 崎, ...).
//!
//! Numbers (insurer numbers, 記号・番号): NFKC, then only ASCII digits and letters kept,
//! letters upper-cased.

use unicode_normalization::UnicodeNormalization as _;

/// The version of these rules.
pub const VERSION: u32 = 1;

/// Katakana kana for a name: the canonical form described above.
pub fn kana(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in compose_without_separators(s).chars() {
        let c = hira_to_kata(c);
        let c = large_kana(c);
        let prev = out.chars().next_back().and_then(vowel_of);
        match c {
            'ー' | '－' | '‐' | '-' | '―' | '〜' | '～' => {
                if let Some(v) = prev {
                    out.push(long_form(v));
                }
            }
            // A long O or E is canonical however it is spelled: オウ, オオ, オー → オウ;
            // エイ, エエ, エー → エイ (サトウ = サトー, オオタ = オータ, ケイコ = ケーコ).
            'オ' | 'ヲ' if prev == Some('オ') => out.push('ウ'),
            'エ' | 'ヱ' if prev == Some('エ') => out.push('イ'),
            // A voicing mark NFC could not attach to its kana (`ｿｰﾞ`) is noise; kept,
            // it would attach to whatever this loop wrote last on a second pass.
            '\u{3099}' | '\u{309A}' => {}
            'ヴ' => out.push('ブ'),
            'ヰ' => out.push('イ'),
            'ヱ' => out.push('エ'),
            'ヲ' => out.push('オ'),
            c => out.push(c),
        }
    }
    // Dropping a mark or a dash can bring two combining marks of another script
    // together out of canonical order; one more NFC keeps the result a fixed point
    // (found by the fuzzer).
    if out.is_ascii() || out.chars().all(|c| ('\u{30A1}'..='\u{30FA}').contains(&c)) {
        out
    } else {
        out.nfc().collect()
    }
}

/// A kanji name: NFKC, no spaces, variant characters folded.
pub fn kanji(s: &str) -> String {
    compose_without_separators(s)
        .chars()
        .map(fold_variant)
        .collect()
}

/// NFKC, separators removed, then composed again: a voicing mark separated from its
/// kana by a space (`ｻ ﾞ`) must attach now, not on a second pass.
fn compose_without_separators(s: &str) -> String {
    // Precomposed full-width kana and the usual separators are already in NFKC and NFC:
    // most names are written so, and skipping two normalization passes more than doubles
    // the tokenization rate. A proptest checks the shortcut against the full path.
    if s.chars().all(is_plain_kana_or_separator) {
        return s.chars().filter(|c| !is_separator(*c)).collect();
    }
    // Half-width katakana (from older systems) the same way: each maps to one
    // full-width character, and a voicing mark composes with the kana before it. This
    // is NFKC + NFC restricted to that block, without the general algorithms' cost; a
    // proptest holds it to the full path.
    if s.chars()
        .all(|c| is_plain_kana_or_separator(c) || is_half_width_kana(c))
        && let Some(out) = half_width_fast(s)
    {
        return out;
    }
    let mut removed = false;
    let stripped: String = s
        .nfkc()
        .filter(|c| {
            let sep = is_separator(*c);
            removed |= sep;
            !sep
        })
        .collect();
    // NFKC output is already composed; only taking a separator out from between a
    // character and a combining mark can make something to compose.
    if removed
        && stripped
            .chars()
            .any(unicode_normalization::char::is_combining_mark)
    {
        stripped.nfc().collect()
    } else {
        stripped
    }
}

fn is_half_width_kana(c: char) -> bool {
    ('\u{FF65}'..='\u{FF9F}').contains(&c)
}

fn half_width_fast(s: &str) -> Option<String> {
    use unicode_normalization::char::{compose, decompose_compatible};
    let mut out = String::with_capacity(s.len() * 2);
    let mut last: Option<char> = None;
    for c in s.chars() {
        let c = if is_half_width_kana(c) {
            let (mut mapped, mut n) = (c, 0);
            decompose_compatible(c, |d| {
                mapped = d;
                n += 1;
            });
            if n != 1 {
                return None;
            }
            mapped
        } else {
            c
        };
        if is_separator(c) {
            continue;
        }
        if let Some(k) = last.and_then(|p| compose(p, c)) {
            out.pop();
            out.push(k);
            last = Some(k);
        } else {
            out.push(c);
            last = Some(c);
        }
    }
    Some(out)
}

fn is_plain_kana_or_separator(c: char) -> bool {
    matches!(c, '\u{3041}'..='\u{3096}' | '\u{30A1}'..='\u{30FA}' | 'ー' | '・' | ' ' | '　')
}

/// Text folded for searching: NFKC (so ｶﾀｶﾅ, ＡＢＣ and ABC meet) and lower case.
pub fn fold(s: &str) -> String {
    s.nfkc().flat_map(char::to_lowercase).collect()
}

/// A number-like identifier: NFKC, ASCII alphanumerics only, upper case.
pub fn number(s: &str) -> String {
    // NFKC leaves ASCII as it is: skip it for the common case (tokenization speed).
    if s.is_ascii() {
        return s
            .bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| char::from(b.to_ascii_uppercase()))
            .collect();
    }
    s.nfkc()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '・' | '･' | '.' | ',' | '、' | '。' | '　')
}

fn hira_to_kata(c: char) -> char {
    match c {
        'ぁ'..='ゖ' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
        'ゝ' => 'ヽ',
        'ゞ' => 'ヾ',
        _ => c,
    }
}

fn large_kana(c: char) -> char {
    match c {
        'ァ' => 'ア',
        'ィ' => 'イ',
        'ゥ' => 'ウ',
        'ェ' => 'エ',
        'ォ' => 'オ',
        'ッ' => 'ツ',
        'ャ' => 'ヤ',
        'ュ' => 'ユ',
        'ョ' => 'ヨ',
        'ヮ' => 'ワ',
        'ヵ' => 'カ',
        'ヶ' => 'ケ',
        _ => c,
    }
}

/// What a long-vowel mark after a syllable ending in `v` is written as.
fn long_form(v: char) -> char {
    match v {
        'オ' => 'ウ',
        'エ' => 'イ',
        v => v,
    }
}

/// The vowel a katakana syllable ends in. A `match` (a jump table), not a search
/// through strings: it runs for every character of every name tokenized.
fn vowel_of(c: char) -> Option<char> {
    Some(match c {
        'ア' | 'カ' | 'ガ' | 'サ' | 'ザ' | 'タ' | 'ダ' | 'ナ' | 'ハ' | 'バ' | 'パ' | 'マ'
        | 'ヤ' | 'ラ' | 'ワ' => 'ア',
        'イ' | 'キ' | 'ギ' | 'シ' | 'ジ' | 'チ' | 'ヂ' | 'ニ' | 'ヒ' | 'ビ' | 'ピ' | 'ミ'
        | 'リ' => 'イ',
        'ウ' | 'ク' | 'グ' | 'ス' | 'ズ' | 'ツ' | 'ヅ' | 'ヌ' | 'フ' | 'ブ' | 'プ' | 'ム'
        | 'ユ' | 'ル' => 'ウ',
        'エ' | 'ケ' | 'ゲ' | 'セ' | 'ゼ' | 'テ' | 'デ' | 'ネ' | 'ヘ' | 'ベ' | 'ペ' | 'メ'
        | 'レ' => 'エ',
        'オ' | 'コ' | 'ゴ' | 'ソ' | 'ゾ' | 'ト' | 'ド' | 'ノ' | 'ホ' | 'ボ' | 'ポ' | 'モ'
        | 'ヨ' | 'ロ' => 'オ',
        _ => return None,
    })
}

/// Variant (異体字) forms folded to the common form. A curated list of the variants most
/// often met in Japanese surnames; extend it (and bump [`VERSION`]) rather than patch
/// callers.
fn fold_variant(c: char) -> char {
    match c {
        '邊' | '邉' => '辺',
        '齋' | '齊' => '斎',
        '髙' => '高',
        '﨑' | '嵜' => '崎',
        '濵' => '浜',
        '濱' => '浜',
        '櫻' => '桜',
        '澤' => '沢',
        '嶋' => '島',
        '廣' => '広',
        '國' => '国',
        '榮' => '栄',
        '藪' => '薮',
        '槇' => '槙',
        '德' => '徳',
        '惠' => '恵',
        '眞' => '真',
        '冨' => '富',
        '龍' => '竜',
        '瀧' => '滝',
        '實' => '実',
        '驒' => '騨',
        '條' => '条',
        '圓' => '円',
        '淺' => '浅',
        '曻' => '昇',
        '鷗' => '鴎',
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kana_forms_agree() {
        let canonical = kana("ヤマダ ユウコ");
        assert_eq!(canonical, "ヤマダユウコ");
        for variant in [
            "ﾔﾏﾀﾞ ﾕｳｺ",
            "やまだ　ゆうこ",
            "ヤマダ・ユーコ",
            "ヤマダユｰコ",
            "  ヤマダ\tユウコ ",
        ] {
            assert_eq!(kana(variant), canonical, "{variant}");
        }
        assert_eq!(kana("キョウコ"), "キヨウコ", "small kana become large");
        assert_eq!(kana("サッポロ"), "サツポロ");
        assert_eq!(kana("オータ"), kana("オオタ"));
        assert_eq!(kana("サトー"), kana("サトウ"));
        assert_eq!(kana("ケーコ"), kana("ケイコ"));
        assert_eq!(kana("オオノ"), "オウノ");
        assert_eq!(kana("ヴィヴァルディ"), "ブイブアルデイ");
        assert_eq!(
            kana("ー"),
            "",
            "a leading long-vowel mark has nothing to lengthen"
        );
    }

    #[test]
    fn kanji_variants_fold() {
        assert_eq!(kanji("渡邊 太郎"), "渡辺太郎");
        assert_eq!(kanji("渡邉　太郎"), kanji("渡辺太郎"));
        assert_eq!(kanji("齋藤"), "斎藤");
        assert_eq!(kanji("髙橋"), "高橋");
        assert_eq!(kanji("山﨑"), "山崎");
    }

    #[test]
    fn stray_marks_of_other_scripts_stay_put() {
        let s = "\u{e}%%\u{65b}-\u{64b}\0\0\0\0\0\0\0\u{10}";
        let once = kana(s);
        assert_eq!(kana(&once), once);
    }

    #[test]
    fn numbers_keep_only_alphanumerics() {
        assert_eq!(number("０６１３ ０００１"), "06130001");
        assert_eq!(number("ab-12"), "AB12");
    }

    proptest! {
        /// The plain-kana shortcut gives exactly what the full normalization gives.
        #[test]
        fn kana_shortcut_matches_full_path(s in "[ぁ-ゖァ-ヺー・ 　]{0,16}") {
            let stripped: String = s.nfkc().filter(|c| !is_separator(*c)).collect();
            let slow: String = stripped.nfc().collect();
            prop_assert_eq!(compose_without_separators(&s), slow);
        }

        /// Skipping the second NFC when nothing can compose changes nothing: half-width
        /// kana with their voicing marks, stray combining marks of other scripts,
        /// separators between a letter and its mark.
        #[test]
        fn nfc_skip_matches_full_path(
            s in "[ぁ-ゖァ-ヺ･-ﾟー・ 　a-zａ-ｚ0-9\u{3099}\u{309A}\u{0301}\u{0308}]{0,16}"
        ) {
            let stripped: String = s.nfkc().filter(|c| !is_separator(*c)).collect();
            let slow: String = stripped.nfc().collect();
            prop_assert_eq!(compose_without_separators(&s), slow);
        }

        /// The half-width shortcut gives exactly what the full normalization gives.
        #[test]
        fn half_width_shortcut_matches_full_path(s in "[ぁ-ゖァ-ヺ･-ﾟー・ 　]{0,16}") {
            let stripped: String = s.nfkc().filter(|c| !is_separator(*c)).collect();
            let slow: String = stripped.nfc().collect();
            prop_assert_eq!(compose_without_separators(&s), slow);
        }

        /// The ASCII shortcut gives exactly what the NFKC path gives.
        #[test]
        fn number_shortcut_matches_nfkc(s in "[ -~]{0,24}") {
            let slow: String = s
                .nfkc()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_uppercase())
                .collect();
            prop_assert_eq!(number(&s), slow);
        }

        /// Normalizing twice changes nothing, and the output has no separators left.
        #[test]
        fn kana_is_idempotent(s in "[ぁ-んァ-ヶｦ-ﾟー・ 　]{0,20}") {
            let once = kana(&s);
            prop_assert_eq!(kana(&once), once.clone());
            prop_assert!(!once.contains([' ', '　', '・', 'ー']));
        }

        #[test]
        fn kanji_is_idempotent(s in "\\PC{0,20}") {
            let once = kanji(&s);
            prop_assert_eq!(kanji(&once), once);
        }

        #[test]
        fn hiragana_and_katakana_agree(s in "[ぁ-ゖ]{1,12}") {
            let kata: String = s.chars().map(hira_to_kata).collect();
            prop_assert_eq!(kana(&s), kana(&kata));
        }
    }
}
