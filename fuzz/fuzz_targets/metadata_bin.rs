//! Fuzz target `metadata_bin`: feeds libFuzzer's input to `checks::metadata_bin` (see fuzz/checks.rs).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::metadata_bin(data));
