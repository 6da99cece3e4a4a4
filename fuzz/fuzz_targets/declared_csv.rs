#![no_main]
//! The declared-CSV reader (private databases) over arbitrary bytes, with the
//! synthetic cancer registry's declaration: names, birth dates and postal codes that
//! must become tokens and coarse values whatever the input.

use std::sync::OnceLock;

const DECLARATION: &str = include_str!("../../crates/renkei-synth/src/registry_schema.toml");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static D: OnceLock<renkei_catalog::Declaration> = OnceLock::new();
    let d = D.get_or_init(|| renkei_catalog::Declaration::parse(DECLARATION).expect("declaration"));
    renkei_fuzz::read(d, "cancer_registry_01_2025.csv", data);
});
