//! The walkthrough in `docs/` quotes real wire traces of the reference
//! application. This test captures them again (order-server and order-client
//! with `--trace`, one fresh server per scenario) and fails if any quoted
//! block differs from what the code prints now, so the docs cannot drift.
//!
//! To refresh the docs after a deliberate change:
//! `H2GRPC_BLESS=1 cargo test --test docs_traces`.
//!
//! A block in a chapter looks like this (the scenario and side name the trace):
//!
//! ````text
//! <!-- trace: unary-get client -->
//! ```text
//! client → HEADERS ...
//! ```
//! <!-- /trace -->
//! ````

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::python::{run, spawn_server};

/// (scenario name, order-server flags, order-client arguments, stdin)
type Scenario = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    Option<&'static str>,
);

const SCENARIOS: &[Scenario] = &[
    ("unary-get", &[], &["get", "102"], None),
    ("unary-not-found", &[], &["get", "999"], None),
    (
        "unary-details",
        &[],
        &[
            "add",
            "--id",
            "",
            "--item",
            "Pen",
            "--description",
            "Pen",
            "--price",
            "2",
            "--destination",
            "Oslo",
        ],
        None,
    ),
    ("server-streaming", &[], &["search", "Google"], None),
    (
        "client-streaming",
        &[],
        &["update"],
        Some(
            "{\"id\":\"102\",\"items\":[\"Google Pixel 3A\"],\"description\":\"Pixel\",\"price\":700.0,\"destination\":\"Mountain View, CA\"}\n\
             {\"id\":\"103\",\"items\":[\"Apple Watch S4\"],\"description\":\"Watch\",\"price\":350.0,\"destination\":\"San Jose, CA\"}\n",
        ),
    ),
    (
        "bidi",
        &[],
        &["process", "102", "103", "104", "105", "106"],
        None,
    ),
    ("compression", &["--gzip"], &["--gzip", "get", "105"], None),
    (
        "cancel",
        &[],
        &["process", "--cancel-after-first", "102", "103", "104"],
        None,
    ),
];

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs")
}

/// Keeps trace lines (and their continuation lines), drops everything else,
/// and replaces the ephemeral port.
fn normalize(text: &str, side: &str) -> String {
    let mut out = String::new();
    let mut keep = false;
    for line in text.lines() {
        if line.starts_with(&format!("{side} ")) || line.starts_with("flow: ") {
            keep = !line.starts_with("flow: ");
        } else if !line.starts_with("   ") {
            keep = false;
        }
        if keep {
            out.push_str(&replace_port(line));
            out.push('\n');
        }
    }
    out
}

fn replace_port(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("127.0.0.1:") {
        let (head, tail) = rest.split_at(i + "127.0.0.1:".len());
        out.push_str(head);
        let digits = tail.chars().take_while(char::is_ascii_digit).count();
        out.push_str("PORT");
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// Runs every scenario; returns "scenario side" → trace.
fn capture() -> BTreeMap<String, String> {
    let mut traces = BTreeMap::new();
    for (name, server_flags, client_args, stdin) in SCENARIOS {
        let mut server = Command::new(env!("CARGO_BIN_EXE_order-server"));
        server
            .args(["--addr", "127.0.0.1:0", "--trace"])
            .args(*server_flags)
            .env("RUST_LOG", "off");
        let (mut guard, addr) = spawn_server(name, server);
        let mut client = Command::new(env!("CARGO_BIN_EXE_order-client"));
        client
            .args(["--addr", &addr, "--trace"])
            .args(*client_args)
            .env("RUST_LOG", "off");
        let output = run(
            name,
            client,
            stdin.map(str::as_bytes),
            Duration::from_secs(60),
        );
        // The server writes each trace line before the frame it describes, so once
        // the client has its answer the server's lines are out; give stderr a moment.
        std::thread::sleep(Duration::from_millis(200));
        let (_, server_err) = guard.kill_and_collect();
        traces.insert(
            format!("{name} client"),
            normalize(&output.stderr, "client"),
        );
        traces.insert(format!("{name} server"), normalize(&server_err, "server"));
    }
    traces
}

const OPEN: &str = "<!-- trace: ";
const CLOSE: &str = "<!-- /trace -->";

/// Replaces every trace block of `doc` with the captured trace; returns the new
/// text and the names of the blocks found.
fn refresh(doc: &str, traces: &BTreeMap<String, String>, file: &Path) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut names = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find(OPEN) {
        let after_open = &rest[start + OPEN.len()..];
        let end_name = after_open
            .find(" -->")
            .unwrap_or_else(|| panic!("{}: unclosed trace marker", file.display()));
        let name = after_open[..end_name].trim().to_owned();
        let body_start = start + OPEN.len() + end_name + " -->".len();
        let close = rest[body_start..]
            .find(CLOSE)
            .unwrap_or_else(|| panic!("{}: trace block {name:?} has no {CLOSE}", file.display()));
        let trace = traces.get(&name).unwrap_or_else(|| {
            panic!(
                "{}: unknown trace {name:?}; known: {:?}",
                file.display(),
                traces.keys()
            )
        });
        out.push_str(&rest[..body_start]);
        out.push_str("\n```text\n");
        out.push_str(trace);
        out.push_str("```\n");
        out.push_str(CLOSE);
        rest = &rest[body_start + close + CLOSE.len()..];
        names.push(name);
    }
    out.push_str(rest);
    (out, names)
}

#[test]
fn docs_quote_the_traces_the_code_prints() {
    let traces = capture();
    for (name, trace) in &traces {
        assert!(
            trace.lines().count() >= 3,
            "trace {name} is suspiciously short:\n{trace}"
        );
    }
    // "Trailers-Only" is what END_STREAM on the response's HEADERS frame says:
    // the NOT_FOUND answer is one, the head of a successful call is not.
    let heads = |name: &str| -> Vec<String> {
        traces[name]
            .lines()
            .filter(|l| l.starts_with("client ← HEADERS"))
            .map(str::to_owned)
            .collect()
    };
    let not_found = heads("unary-not-found client");
    assert!(
        not_found.len() == 1 && not_found[0].contains("[END_STREAM: Trailers-Only"),
        "{not_found:?}"
    );
    let ok = heads("unary-get client");
    assert!(ok.len() == 1 && !ok[0].contains("END_STREAM"), "{ok:?}");
    let bless = std::env::var_os("H2GRPC_BLESS").is_some();
    let mut quoted = 0;
    let mut stale = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(docs_dir())
        .expect("docs/ exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    for file in files {
        let doc = std::fs::read_to_string(&file).unwrap();
        let (fresh, names) = refresh(&doc, &traces, &file);
        quoted += names.len();
        if fresh != doc {
            if bless {
                std::fs::write(&file, fresh).unwrap();
            } else {
                stale.push(file.display().to_string());
            }
        }
    }
    assert!(quoted >= 10, "the docs quote only {quoted} traces");
    assert!(
        stale.is_empty(),
        "these docs quote traces that no longer match the code: {stale:?}\n\
         run `H2GRPC_BLESS=1 cargo test --test docs_traces` and review the diff"
    );
}

#[test]
fn normalize_keeps_trace_lines_and_hides_ports() {
    let raw = "client → HEADERS  :authority 127.0.0.1:40123  te trailers\n\
               \x20                   decoded \"x\"\n\
               error: NOT_FOUND: nope\n\
               server ← MESSAGE  x\n";
    assert_eq!(
        normalize(raw, "client"),
        "client → HEADERS  :authority 127.0.0.1:PORT  te trailers\n                    decoded \"x\"\n"
    );
}
