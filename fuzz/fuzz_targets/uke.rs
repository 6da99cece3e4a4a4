#![no_main]
//! The ndb_claims reader over arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    renkei_fuzz::read(renkei_fuzz::builtin("ndb_claims"), "RECEIPTC.UKE", data);
});
