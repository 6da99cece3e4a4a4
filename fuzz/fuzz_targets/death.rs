#![no_main]
//! The deaths reader over arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    renkei_fuzz::read(renkei_fuzz::builtin("deaths"), "deaths.csv", data);
});
