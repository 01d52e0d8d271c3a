//! Fuzz target `grpc_message`: feeds libFuzzer's input to `checks::grpc_message` (see fuzz/checks.rs).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::grpc_message(data));
