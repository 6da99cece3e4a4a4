#![no_main]
//! The ehr reader over arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    renkei_fuzz::read(renkei_fuzz::builtin("ehr"), "bundles.ndjson", data);
});
