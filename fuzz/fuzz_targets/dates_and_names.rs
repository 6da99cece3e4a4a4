#![no_main]
//! Date parsers and name normalizers: no panic, and normalizing is idempotent.

use renkei_core::{normalize, wareki};

libfuzzer_sys::fuzz_target!(|s: &str| {
    let _ = wareki::parse_any(s);
    let k = normalize::kana(s);
    assert_eq!(normalize::kana(&k), k);
    let n = normalize::number(s);
    assert_eq!(normalize::number(&n), n);
    let j = normalize::kanji(s);
    assert_eq!(normalize::kanji(&j), j);
});
