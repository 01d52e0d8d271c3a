//! Issue 5, our side of the matrix: our `interop-client` against our
//! `interop-server`, every standard interop case
//! (grpc/grpc doc/interop-test-descriptions.md), as two real processes.
//!
//! - `all_cases_in_one_run`: `--test_case all` over one channel, exit 0 and
//!   a `PASS` line for every case.
//! - `each_case_on_its_own`: one client process per case, so a failure names
//!   its case and one case cannot hide behind another's state.
//!
//! The child-process plumbing (first-line wait, deadlines, kill on drop) is
//! tests/common/python.rs, shared with the Python peer tests.

mod common;

use std::process::Command;
use std::time::Duration;

use common::interop::CASES;
use common::python::{self, ChildGuard, RunOutput};

const INTEROP_SERVER: &str = env!("CARGO_BIN_EXE_interop-server");
const INTEROP_CLIENT: &str = env!("CARGO_BIN_EXE_interop-client");

/// The client bounds each case at 20 s; this only bounds a wedged process.
const ALL_TIMEOUT: Duration = Duration::from_secs(120);
const ONE_TIMEOUT: Duration = Duration::from_secs(30);

/// Our interop-server on a free port; returns the guard and its port.
fn server() -> (ChildGuard, String) {
    let mut cmd = Command::new(INTEROP_SERVER);
    cmd.args(["--port", "0"]);
    let (guard, addr) = python::spawn_server("interop-server", cmd);
    let port = match addr.rsplit_once(':') {
        Some((_, port)) => port.to_owned(),
        None => panic!("interop-server address {addr:?} has no port"),
    };
    (guard, port)
}

fn client(port: &str, test_case: &str, timeout: Duration) -> RunOutput {
    let mut cmd = Command::new(INTEROP_CLIENT);
    cmd.args(["--server_port", port, "--test_case", test_case]);
    python::run(&format!("interop-client {test_case}"), cmd, None, timeout)
}

#[test]
fn all_cases_in_one_run() {
    let (mut server, port) = server();
    let out = client(&port, "all", ALL_TIMEOUT);
    println!("{}", out.stdout);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let expected: Vec<String> = CASES
        .iter()
        .map(|case| format!("PASS {case}"))
        .chain([format!("{} passed, 0 failed", CASES.len())])
        .collect();
    if !out.status.success() || lines != expected {
        let (_, server_stderr) = server.kill_and_collect();
        panic!(
            "expected every case to pass, one line each:\n{}\n--- interop-server stderr ---\n{server_stderr}",
            out.describe()
        );
    }
}

#[test]
fn each_case_on_its_own() {
    let (mut server, port) = server();
    let mut failures = Vec::new();
    for case in CASES {
        let out = client(&port, case, ONE_TIMEOUT);
        print!("{}", out.stdout);
        let pass = format!("PASS {case}");
        if !out.status.success() || out.stdout.lines().collect::<Vec<_>>() != [pass.as_str()] {
            failures.push(out.describe());
        }
    }
    if !failures.is_empty() {
        let (_, server_stderr) = server.kill_and_collect();
        panic!(
            "{} of {} cases failed:\n{}\n--- interop-server stderr ---\n{server_stderr}",
            failures.len(),
            CASES.len(),
            failures.join("\n")
        );
    }
}

/// `pick_first_unary` (run only by name, not by `all`): 100 calls with
/// `fill_server_id`, every response naming the same, non-empty server.
#[test]
fn pick_first_unary_sees_one_server_id() {
    let (_server, port) = server();
    let out = client(&port, "pick_first_unary", ONE_TIMEOUT);
    assert!(
        out.status.success() && out.stdout.trim_end() == "PASS pick_first_unary",
        "{}",
        out.describe()
    );
}

/// The client's own contract: an unknown case is a usage error (exit 2), and
/// a failing case prints `FAIL <case>: <reason>` and exits 1 (here: nothing
/// listens on the port, so the call fails UNAVAILABLE).
#[test]
fn client_reports_usage_errors_and_failures() {
    let out = client("1", "no_such_case", ONE_TIMEOUT);
    assert_eq!(out.status.code(), Some(2), "{}", out.describe());

    // Bind and drop a listener to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port().to_string())
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let out = client(&port, "empty_unary", ONE_TIMEOUT);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    assert!(
        out.stdout
            .starts_with("FAIL empty_unary: EmptyCall failed: UNAVAILABLE"),
        "{}",
        out.describe()
    );
}
