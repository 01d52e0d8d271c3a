//! Fuzz target `frame_decoder`: feeds libFuzzer's input to `checks::frame_decoder` (see fuzz/checks.rs).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::frame_decoder(data));
