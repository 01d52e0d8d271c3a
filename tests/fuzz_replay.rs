//! Replays the fuzz corpus in `cargo test`: every file under
//! `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/` (libFuzzer's crash
//! files, when any were ever found) goes through the same check function the
//! cargo-fuzz target runs (`fuzz/checks.rs`), so CI catches a regression of
//! every input the fuzzer ever kept or crashed on, without libFuzzer.
//!
//! A missing or empty corpus directory fails the test: a replay of nothing
//! would pass vacuously.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

/// The files of one directory, sorted; `None` if the directory does not exist.
fn files(dir: &Path) -> Option<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    Some(out)
}

/// Runs every corpus and artifact file of `target` through its check.
fn replay(target: &str) {
    let check = checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, check)| *check)
        .unwrap_or_else(|| panic!("no check named {target}"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = root.join("corpus").join(target);
    let artifacts = root.join("artifacts").join(target);
    let replayed = replay_dirs(target, check, &corpus, &artifacts);
    eprintln!("{target}: replayed {replayed} inputs");
}

/// Runs `check` over every file of `corpus` (which must hold at least one) and
/// of `artifacts` (which may be absent); returns how many inputs ran.
fn replay_dirs(target: &str, check: fn(&[u8]), corpus: &Path, artifacts: &Path) -> usize {
    let inputs = files(corpus).unwrap_or_else(|| panic!("missing corpus {}", corpus.display()));
    assert!(!inputs.is_empty(), "empty corpus {}", corpus.display());
    let crashes = files(artifacts).unwrap_or_default();
    for path in inputs.iter().chain(&crashes) {
        let data = std::fs::read(path).expect("readable corpus file");
        // Name the input in the failure: the check's own panic says what broke.
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "{target}: {} fails its check",
            path.display()
        );
    }
    inputs.len() + crashes.len()
}

/// Every check has a replay test below, and every corpus directory a check.
#[test]
fn every_target_is_replayed() {
    let names: Vec<&str> = checks::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "frame_decoder",
            "grpc_timeout",
            "grpc_message",
            "metadata_bin",
            "status_trailers",
            "gzip_decompress"
        ]
    );
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for entry in std::fs::read_dir(&corpus).expect("fuzz/corpus exists") {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy();
        assert!(names.contains(&name.as_ref()), "corpus {name} has no check");
    }
}

#[test]
fn frame_decoder() {
    replay("frame_decoder");
}

#[test]
fn grpc_timeout() {
    replay("grpc_timeout");
}

#[test]
fn grpc_message() {
    replay("grpc_message");
}

#[test]
fn metadata_bin() {
    replay("metadata_bin");
}

#[test]
fn status_trailers() {
    replay("status_trailers");
}

#[test]
fn gzip_decompress() {
    replay("gzip_decompress");
}

/// The replay cannot pass vacuously: a missing or empty corpus fails, and so
/// does an input whose check panics.
#[test]
fn replay_refuses_missing_or_empty_corpus() {
    let tmp = std::env::temp_dir().join(format!("h2grpc-fuzz-replay-{}", std::process::id()));
    let empty = tmp.join("empty");
    std::fs::create_dir_all(&empty).expect("temp dir");
    let none = tmp.join("none");
    let run = |dir: &Path, check: fn(&[u8])| {
        std::panic::catch_unwind(|| replay_dirs("t", check, dir, &none)).is_ok()
    };
    assert!(!run(&tmp.join("missing"), checks::grpc_timeout));
    assert!(!run(&empty, checks::grpc_timeout));
    std::fs::write(empty.join("input"), b"1S").expect("write input");
    assert!(run(&empty, checks::grpc_timeout));
    assert!(!run(&empty, |_| panic!("check failed")));
    let _ = std::fs::remove_dir_all(&tmp);
}
