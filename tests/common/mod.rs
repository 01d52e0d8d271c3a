//! Helpers shared by the integration tests (`mod common;` in each `tests/*.rs`).
//!
//! - [`python`]: the Python grpcio peer (a venv under `target/tmp`, installed on first use)
//!   and the child-process plumbing the foreign-peer tests use: spawn, wait for the
//!   "listening on" line, run with a deadline, kill on drop.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod python;
