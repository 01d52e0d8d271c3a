//! The walkthrough in `docs/` quotes real traces of the reference
//! application. This test captures them again (order-server and order-client
//! with `--trace` or `--trace=frames`, one fresh server per scenario) and
//! fails if any quoted block or diagram differs from what the code prints
//! now, so the docs cannot drift.
//!
//! To refresh the docs after a deliberate change:
//! `H2GRPC_BLESS=1 cargo test --test docs_traces`.
//!
//! A block in a chapter names a scenario, a side, and optionally a view
//! (`calls`, `setup`, `sent`, `received`; `unordered` compares the frames
//! order aside, for the ACKs of connection set-up whose order depends on
//! when the peer's frames arrive; see `docs_traces/text.rs`):
//!
//! ````text
//! <!-- trace: unary-get client -->
//! ```text
//! client → HEADERS ...
//! ```
//! <!-- /trace -->
//! ````
//!
//! A diagram is drawn from a scenario's client frame trace by
//! `text::mermaid`, between `<!-- mermaid: NAME [VIEW...] -->` and
//! `<!-- /mermaid -->`.
//!
//! Frame scenarios pin `:authority` to `127.0.0.1:50051` (`--authority`):
//! HPACK Huffman-codes it, so the HEADERS frame's length depends on the
//! digits of the free port the test server got.

// Only the CA and leaf of this module are used here.
#[allow(dead_code)]
#[path = "support/certs.rs"]
mod certs;
mod common;
#[path = "docs_traces/scenarios.rs"]
mod scenarios;
#[path = "docs_traces/text.rs"]
mod text;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::python::{run, spawn_server};
use scenarios::SCENARIOS;
use text::{Entry, check_mirror};

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
        // The pinned authority of frame scenarios stays as it is.
        if tail.starts_with("50051") && digits == 5 {
            out.push_str("50051");
        } else {
            out.push_str("PORT");
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// Runs every scenario; returns "scenario side" → trace.
fn capture() -> BTreeMap<String, String> {
    let mut traces = BTreeMap::new();
    let ca = certs::Ca::new("h2grpc docs CA");
    let pems = common::tls::CertDir::new("docs_traces");
    let leaf = ca.leaf(&["127.0.0.1"], "order-server");
    let cert = pems.write("server.pem", &leaf.cert_pem);
    let key = pems.write("server.key", &leaf.key_pem);
    let ca_file = pems.write("ca.pem", &ca.pem);
    for s in SCENARIOS {
        let trace_flag = if s.frames {
            "--trace=frames"
        } else {
            "--trace"
        };
        let mut server = match s.interop {
            Some(_) => Command::new(env!("CARGO_BIN_EXE_interop-server")),
            None => Command::new(env!("CARGO_BIN_EXE_order-server")),
        };
        match s.interop {
            Some(_) => server.args(["--port", "0", trace_flag]),
            None => server.args(["--addr", "127.0.0.1:0", trace_flag]),
        };
        server
            .args(s.server)
            .env("RUST_LOG", "off")
            .env_remove("H2GRPC_TRACE");
        if s.tls {
            server
                .arg("--tls-cert")
                .arg(&cert)
                .arg("--tls-key")
                .arg(&key);
        }
        let (mut guard, addr) = spawn_server(s.name, server);
        let mut client = match s.interop {
            Some(case) => {
                let port = addr.rsplit(':').next().unwrap_or_default();
                let mut client = Command::new(env!("CARGO_BIN_EXE_interop-client"));
                client.args(["--server_port", port, "--test_case", case, trace_flag]);
                client
            }
            None => {
                let mut client = Command::new(env!("CARGO_BIN_EXE_order-client"));
                client.args(["--addr", &addr, trace_flag]);
                if s.tls {
                    client.arg("--ca").arg(&ca_file);
                }
                if s.frames {
                    client.args(["--authority", "127.0.0.1:50051"]);
                }
                client
            }
        };
        client
            .args(s.client_args.map(|f| f()).unwrap_or_default())
            .args(s.client)
            .env("RUST_LOG", "off")
            .env_remove("H2GRPC_TRACE");
        let input = s.stdin.map(|f| f());
        let output = std::thread::scope(|scope| {
            let running = scope.spawn(|| {
                run(
                    s.name,
                    client,
                    input.as_deref().map(str::as_bytes),
                    Duration::from_secs(60),
                )
            });
            if let Some(marker) = s.term_server_on {
                scenarios::terminate_on(s.name, &mut guard, marker);
            }
            running.join().expect("the client runner does not panic")
        });
        // The server writes each trace line as the bytes pass, so once the
        // client has its answer the server's lines are out; give stderr a moment.
        std::thread::sleep(Duration::from_millis(200));
        let (_, server_err) = guard.kill_and_collect();
        traces.insert(
            format!("{} client", s.name),
            normalize(&output.stderr, "client"),
        );
        traces.insert(
            format!("{} server", s.name),
            normalize(&server_err, "server"),
        );
    }
    traces
}

const OPEN: &str = "<!-- trace: ";
const CLOSE: &str = "<!-- /trace -->";
const MERMAID_OPEN: &str = "<!-- mermaid: ";
const MERMAID_CLOSE: &str = "<!-- /mermaid -->";

/// What a marker asks for: the fenced block to put between it and its close.
fn render(
    marker: &str,
    spec: &str,
    body: &str,
    traces: &BTreeMap<String, String>,
) -> Result<String, String> {
    let words: Vec<&str> = spec.split_whitespace().collect();
    if marker == MERMAID_OPEN {
        let [name, views @ ..] = &words[..] else {
            return Err("mermaid marker without a scenario".into());
        };
        let trace = traces
            .get(&format!("{name} client"))
            .ok_or_else(|| format!("unknown scenario {name:?}"))?;
        let entries = text::view(trace, views)?;
        return Ok(format!("\n```mermaid\n{}```\n", text::mermaid(&entries)));
    }
    let [name, side, views @ ..] = &words[..] else {
        return Err(format!("trace marker {spec:?} needs a scenario and a side"));
    };
    let key = format!("{name} {side}");
    let trace = traces
        .get(&key)
        .ok_or_else(|| format!("unknown trace {key:?}; known: {:?}", traces.keys()))?;
    let fresh = text::view(trace, views)?;
    // Unordered: keep the quoted order if it holds the same frames.
    if views.contains(&"unordered") {
        let quoted = body
            .trim_start_matches('\n')
            .strip_prefix("```text\n")
            .and_then(|b| b.strip_suffix("```\n"))
            .map(text::entries);
        if let Some(quoted) = quoted
            && text::same_entries(&quoted, &fresh)
        {
            return Ok(format!("\n```text\n{}```\n", text::join(&quoted)));
        }
    }
    Ok(format!("\n```text\n{}```\n", text::join(&fresh)))
}

/// Replaces every trace block and diagram of `doc`; returns the new text
/// and the names of the blocks found.
fn refresh(doc: &str, traces: &BTreeMap<String, String>, file: &Path) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut names = Vec::new();
    let mut rest = doc;
    loop {
        let next = [(OPEN, CLOSE), (MERMAID_OPEN, MERMAID_CLOSE)]
            .into_iter()
            .filter_map(|(open, close)| rest.find(open).map(|at| (at, open, close)))
            .min();
        let Some((start, open, close)) = next else {
            break;
        };
        let after_open = &rest[start + open.len()..];
        let end_spec = after_open
            .find(" -->")
            .unwrap_or_else(|| panic!("{}: unclosed marker", file.display()));
        let spec = after_open[..end_spec].trim().to_owned();
        let body_start = start + open.len() + end_spec + " -->".len();
        let body_len = rest[body_start..]
            .find(close)
            .unwrap_or_else(|| panic!("{}: block {spec:?} has no {close}", file.display()));
        let body = &rest[body_start..body_start + body_len];
        let block =
            render(open, &spec, body, traces).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        out.push_str(&rest[..body_start]);
        out.push_str(&block);
        out.push_str(close);
        rest = &rest[body_start + body_len + close.len()..];
        names.push(spec);
    }
    out.push_str(rest);
    (out, names)
}

#[test]
fn docs_quote_the_traces_the_code_prints() {
    let traces = capture();
    for (name, trace) in &traces {
        // A server that refuses a call in its interceptor reads the head and
        // answers it: two lines, the request's message never decoded.
        let least = if name.ends_with(" server") { 2 } else { 3 };
        assert!(
            trace.lines().count() >= least,
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
    // The frame trace: both ends saw the same frames, within 120 columns.
    for s in SCENARIOS.iter().filter(|s| s.frames) {
        check_mirror(s.name, &traces);
        for side in ["client", "server"] {
            let trace = &traces[&format!("{} {side}", s.name)];
            for line in trace.lines() {
                assert!(
                    line.chars().count() <= 120,
                    "{} {side}: line too long: {line}",
                    s.name
                );
            }
        }
    }
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

/// The views and the diagram, on a small frame trace.
#[test]
fn views_and_diagram() {
    let trace = "client → preface        PRI\n\
                 client → SETTINGS       stream 0  len 6\n\
                 \x20          ENABLE_PUSH 0\n\
                 client ← SETTINGS       stream 0  len 0     ACK\n\
                 client → HEADERS        stream 1  len 19    END_HEADERS  request head\n\
                 \x20          :method POST                     [static 3]\n\
                 client → DATA           stream 1  len 10    END_STREAM\n\
                 \x20          message 00 00000005 (5 bytes): 0a 03 31 30 32\n\
                 client ← HEADERS        stream 1  len 16    END_STREAM|END_HEADERS  Trailers-Only\n\
                 client → GOAWAY         stream 0  len 8      last stream 0, NO_ERROR\n";
    let calls = text::view(trace, &["calls"]).unwrap();
    assert_eq!(
        calls.iter().map(Entry::kind).collect::<Vec<_>>(),
        ["HEADERS", "DATA", "HEADERS"]
    );
    let setup = text::view(trace, &["setup"]).unwrap();
    assert_eq!(
        setup.iter().map(Entry::kind).collect::<Vec<_>>(),
        ["preface", "SETTINGS", "SETTINGS"]
    );
    let sent = text::view(trace, &["setup", "sent"]).unwrap();
    assert_eq!(sent.len(), 2);
    let data = text::view(trace, &["stream=1", "kind=DATA"]).unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(
        text::view(trace, &["calls", "brief", "kind=HEADERS", "sent"]).unwrap()[0].0,
        "client → HEADERS        stream 1  len 19    END_HEADERS  request head\n\
         \x20          … (the rest as in chapter 1)"
    );
    let head = "client → HEADERS   :method POST  :scheme http  :authority 127.0.0.1:PORT  \
                :path /p.S/M  te trailers  grpc-timeout 250000u  content-type application/grpc";
    assert_eq!(
        text::view(head, &["brief"]).unwrap()[0].0,
        "client → HEADERS   :path /p.S/M  grpc-timeout 250000u  … (the rest as in chapter 1)"
    );
    assert!(text::view(trace, &["cals"]).is_err());
    let mut reversed = setup.clone();
    reversed.reverse();
    assert!(text::same_entries(&setup, &reversed));
    assert!(!text::same_entries(&setup, &calls));
    assert_eq!(
        calls[0].mirrored().0.lines().next(),
        Some("server ← HEADERS        stream 1  len 19    END_HEADERS  request head")
    );
    assert_eq!(
        text::mermaid(&calls),
        "sequenceDiagram\n    participant C as client\n    participant S as server\n\
         \x20   C->>S: HEADERS [END_HEADERS] stream 1: request head\n\
         \x20   C->>S: DATA [END_STREAM] stream 1: 1 message\n\
         \x20   S->>C: HEADERS [END_STREAM, END_HEADERS] stream 1: Trailers-Only\n"
    );
}

/// The mirror check passes a closing PING the peer never read, and fails a
/// call frame that went missing or changed.
#[test]
fn mirror_check_allows_only_unread_connection_frames() {
    let client = "client → SETTINGS       stream 0  len 0     ACK\n\
                  client → HEADERS        stream 1  len 19    END_HEADERS  request head\n\
                  client → DATA           stream 1  len 10    END_STREAM\n\
                  client → WINDOW_UPDATE  stream 0  len 4      connection window +1\n\
                  client → PING           stream 0  len 8      opaque data 00\n";
    let server = "server ← SETTINGS       stream 0  len 0     ACK\n\
                  server ← HEADERS        stream 1  len 19    END_HEADERS  request head\n\
                  server ← DATA           stream 1  len 10    END_STREAM\n\
                  server ← WINDOW_UPDATE  stream 0  len 4      connection window +1\n";
    let replies = "server → SETTINGS       stream 0  len 0     ACK\n\
                   server → HEADERS        stream 1  len 5     END_STREAM|END_HEADERS  Trailers-Only\n\
                   server → PING           stream 0  len 8     ACK  opaque data 00\n\
                   server → GOAWAY         stream 0  len 8      last stream 1, NO_ERROR\n";
    let received = "client ← SETTINGS       stream 0  len 0     ACK\n\
                    client ← HEADERS        stream 1  len 5     END_STREAM|END_HEADERS  Trailers-Only\n\
                    client ← PING           stream 0  len 8     ACK  opaque data 00\n\
                    client ← GOAWAY         stream 0  len 8      last stream 1, NO_ERROR\n";
    let traces = |client: &str, server: &str| {
        BTreeMap::from([
            ("t client".to_owned(), format!("{client}{received}")),
            ("t server".to_owned(), format!("{server}{replies}")),
        ])
    };
    check_mirror("t", &traces(client, server));
    let lost_data = server.replace(
        "server ← DATA           stream 1  len 10    END_STREAM\n",
        "",
    );
    let lost = std::panic::catch_unwind(|| check_mirror("t", &traces(client, &lost_data)));
    assert!(lost.is_err(), "a missing DATA frame must fail the check");
    let changed = server.replace("len 19 ", "len 18 ");
    let changed = std::panic::catch_unwind(|| check_mirror("t", &traces(client, &changed)));
    assert!(
        changed.is_err(),
        "a changed HEADERS frame must fail the check"
    );
}

/// The frame trace on a foreign encoder: grpcio (gRPC C-core) as the client,
/// our server tracing. C-core codes headers its own way (it indexes `:path`,
/// sends BDP PINGs and per-stream WINDOW_UPDATEs); every header block must
/// decode, and its 3 MiB order must be followed across DATA frames.
#[test]
fn the_frame_trace_reads_a_grpcio_client() {
    let py = common::python::python_env();
    let mut server = Command::new(env!("CARGO_BIN_EXE_order-server"));
    server
        .args(["--addr", "127.0.0.1:0", "--trace=frames"])
        .env("RUST_LOG", "off")
        .env_remove("H2GRPC_TRACE");
    let (mut guard, addr) = spawn_server("order-server", server);
    let mut check = py.command("order_client_check.py");
    check.args(["--addr", &addr]);
    let out = run(
        "order_client_check.py",
        check,
        None,
        Duration::from_secs(180),
    );
    std::thread::sleep(Duration::from_millis(200));
    let (_, stderr) = guard.kill_and_collect();
    assert!(
        out.stdout.lines().any(|l| l == "13 passed, 0 failed"),
        "{}",
        out.describe()
    );
    let trace = normalize(&stderr, "server");
    for bad in [
        "HPACK error",
        "malformed",
        "not traced",
        "not decoded",
        "not gRPC framing",
    ] {
        assert!(
            !trace.contains(bad),
            "the frame trace says {bad:?}:\n{trace}"
        );
    }
    let heads = text::entries(&trace)
        .into_iter()
        .filter(|e| e.arrow() == "←" && e.0.contains("request head"))
        .filter(|e| e.0.contains(":path /ecommerce.OrderManagement/"))
        .count();
    assert!(heads >= 100, "only {heads} request heads decoded");
    // A message split across frames: it starts in one and ends in a later one.
    assert!(
        trace.contains("starts: "),
        "no message started across frames"
    );
    assert!(
        trace.contains("message ends: its last"),
        "no message ended across frames"
    );
    assert!(
        trace.lines().all(|l| l.chars().count() <= 120),
        "a line over 120 columns"
    );
}
