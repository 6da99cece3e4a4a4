#![no_main]
//! The 介護DB reader over arbitrary bytes: the first byte picks certifications or claims.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((pick, rest)) = data.split_first() else { return };
    let name = if pick % 2 == 0 { "certifications_01_2025.csv" } else { "claims_01_2025.csv" };
    renkei_fuzz::read(renkei_fuzz::builtin("ltc"), name, rest);
});
