#![no_main]
//! The DPC reader over arbitrary bytes: the first byte picks 様式1 (FF1) or EF.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((pick, rest)) = data.split_first() else { return };
    let name = if pick % 2 == 0 { "FF1_123456789_2501.txt" } else { "EFn_123456789_2501.txt" };
    renkei_fuzz::read(renkei_fuzz::builtin("dpc"), name, rest);
});
