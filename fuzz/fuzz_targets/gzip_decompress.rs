//! Fuzz target `gzip_decompress`: feeds libFuzzer's input to `checks::gzip_decompress` (see fuzz/checks.rs).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::gzip_decompress(data));
