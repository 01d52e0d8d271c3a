//! The tonic peer: tests/peers/tonic-client, tonic 0.14's generated OrderManagement
//! client (from crates.io) as a binary of its own, built on first use.
//!
//! Layer: test harness only. The crate has its own `[workspace]` table and Cargo.lock, so
//! h2grpc's workspace never resolves tonic; this module builds it with cargo, in a target
//! dir of its own (the outer `cargo test` holds the lock on `target/` itself):
//!
//! ```text
//! <CARGO_TARGET_TMPDIR>/            (target/tmp)
//! ├── tonic-client.lock   flock: one cargo build at a time, across test binaries and threads
//! └── tonic-client/       its CARGO_TARGET_DIR; debug/tonic-channel-client is the binary
//! ```
//!
//! Every call runs `cargo build --locked` (a no-op in about a second once built, so an
//! edited peer is always rebuilt); the first downloads ~100 crates and compiles them
//! (about a minute on 2 cores). `--locked`: the committed Cargo.lock is what runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::python::{lock_exclusive, run};

/// A cold build: crates.io downloads plus ~1 min of compiling on 2 cores; slow mirrors
/// and busy CI machines take longer.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Waiting for another test's build: longer than one build may take.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// tests/peers/tonic-client.
pub fn crate_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/tonic-client")
}

/// Builds tests/peers/tonic-client (debug) unless it is up to date and returns the path
/// of its `tonic-channel-client` binary. Panics with cargo's output if the build fails.
pub fn tonic_channel_client() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(tmp).unwrap_or_else(|e| panic!("create {}: {e}", tmp.display()));
    let _lock = lock_exclusive(&tmp.join("tonic-client.lock"), LOCK_TIMEOUT);

    let target_dir = tmp.join("tonic-client");
    let manifest = crate_dir().join("Cargo.toml");
    // The cargo running this test (set for test processes), else the one on PATH.
    let cargo_bin = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cargo = Command::new(cargo_bin);
    cargo
        .args(["build", "--locked", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target_dir);
    let started = Instant::now();
    let out = run("cargo build (tonic peer)", cargo, None, BUILD_TIMEOUT);
    assert!(
        out.status.success(),
        "building {} failed (crates.io reachable? Cargo.lock up to date?):\n{}",
        manifest.display(),
        out.describe()
    );
    eprintln!(
        "tonic peer: cargo build --manifest-path {} took {:.1?}",
        manifest.display(),
        started.elapsed()
    );
    let exe = target_dir.join("debug").join(format!(
        "tonic-channel-client{}",
        std::env::consts::EXE_SUFFIX
    ));
    assert!(
        exe.is_file(),
        "cargo build succeeded but {} is missing:\n{}",
        exe.display(),
        out.describe()
    );
    exe
}
