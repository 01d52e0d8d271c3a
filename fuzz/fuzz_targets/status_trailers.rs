//! Fuzz target `status_trailers`: feeds libFuzzer's input to `checks::status_trailers` (see fuzz/checks.rs).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::status_trailers(data));
