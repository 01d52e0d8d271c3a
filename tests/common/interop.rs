//! The interop matrix: one interop client run against one interop server, every case of
//! grpc/grpc doc/interop-test-descriptions.md that needs no TLS or cloud credentials,
//! checked against what that pair is expected to do, and the table of all pairs.
//!
//! Layer: test harness only. Every client here, ours and the foreign peers
//! (tests/python/interop_client.py, tests/node/interop_client.js), speaks the same CLI and
//! prints one line per case:
//!
//! ```text
//! PASS <case>
//! FAIL <case>: <reason>
//! N passed, M failed          (exit status 0 only if M is 0)
//! ```
//!
//! grpc-go's interop client (tests/go_peer.rs, tests/common/go.rs) has no `all` and prints
//! nothing but its exit status, so that file runs one case per process and checks each
//! against [`known_limit`] itself, recording its columns with [`record`].
//!
//! A pair is one [`Column`] of the matrix: a foreign peer as client against our server,
//! or as server for our client. [`run_pair`] records each column it runs under
//! `<CARGO_TARGET_TMPDIR>/interop-matrix/`; when `H2GRPC_WRITE_MATRIX` names a file
//! (relative to the package root), the markdown table of every recorded column is
//! rewritten there after each run, so a full `cargo test --test interop_peers` leaves the
//! complete table behind.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::python::{self, LOCK_TIMEOUT, RunOutput, lock_exclusive};

/// The cases every client runs (`--test_case all`), in the order they print.
pub const CASES: &[&str] = &[
    "empty_unary",
    "large_unary",
    "client_streaming",
    "server_streaming",
    "ping_pong",
    "empty_stream",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "client_compressed_unary",
    "server_compressed_unary",
    "client_compressed_streaming",
    "server_compressed_streaming",
];

/// One `--test_case all` run: 18 cases, each call with a 10 s deadline in every client;
/// this only bounds a wedged run.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(3 * 60);

/// The env var naming the file the markdown matrix is written to.
pub const MATRIX_ENV: &str = "H2GRPC_WRITE_MATRIX";

/// Which side of the call the foreign peer plays; h2grpc plays the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// The peer's interop client against our `interop-server`.
    PeerClient,
    /// Our `interop-client` against the peer's interop server.
    PeerServer,
}

impl Role {
    fn key(self) -> &'static str {
        match self {
            Role::PeerClient => "peer-client",
            Role::PeerServer => "peer-server",
        }
    }

    fn from_key(key: &str) -> Option<Role> {
        match key {
            "peer-client" => Some(Role::PeerClient),
            "peer-server" => Some(Role::PeerServer),
            _ => None,
        }
    }
}

/// One column of the matrix: a peer in a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Short key, matched by [`KNOWN_LIMITS`] and used in file names: "python", "node";
    /// "h2grpc" for our client against our server.
    pub peer: String,
    /// What the table calls it, version included: "Python grpcio 1.85.1".
    pub peer_name: String,
    /// Which side the peer plays.
    pub role: Role,
}

impl Column {
    /// The column heading: who is the client, who the server.
    pub fn title(&self) -> String {
        match self.role {
            Role::PeerClient => format!("{} client → h2grpc server", self.peer_name),
            Role::PeerServer => format!("h2grpc client → {} server", self.peer_name),
        }
    }

    fn file_name(&self) -> String {
        let peer: String = self
            .peer
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        format!("{peer}.{}.txt", self.role.key())
    }

    /// Ours-against-ours first, then by peer and role.
    fn sort_key(&self) -> (bool, String, Role) {
        (self.peer != "h2grpc", self.peer.clone(), self.role)
    }
}

/// A case a peer cannot take part in as the spec asks, and why. [`run_pair`] pins it: the
/// case must FAIL in that column (and everything else must PASS); if it starts passing,
/// the entry is out of date and the test says so.
#[derive(Debug)]
pub struct Limit {
    /// [`Column::peer`].
    pub peer: &'static str,
    /// [`Column::role`].
    pub role: Role,
    /// The case.
    pub case: &'static str,
    /// The peer's limitation, and the spec line it meets.
    pub why: &'static str,
}

/// What the foreign peers cannot express (their module docs have the details).
pub const KNOWN_LIMITS: &[Limit] = &[
    Limit {
        peer: "python",
        role: Role::PeerServer,
        case: "client_compressed_unary",
        why: "grpcio's Python server sees neither the request's grpc-encoding nor the \
              message's compressed flag, so it cannot fail the uncompressed feature probe \
              with INVALID_ARGUMENT (spec, CompressedRequest: \"If it's not, it fails the RPC \
              with INVALID_ARGUMENT\")",
    },
    Limit {
        peer: "python",
        role: Role::PeerServer,
        case: "client_compressed_streaming",
        why: "grpcio's Python server sees neither the request's grpc-encoding nor the \
              message's compressed flag, so it cannot fail the uncompressed feature probe \
              with INVALID_ARGUMENT (spec, CompressedRequest)",
    },
    Limit {
        peer: "node",
        role: Role::PeerServer,
        case: "server_compressed_unary",
        why: "the grpc-js server never compresses a response (\"response compression is \
              currently not supported\"), so the response cannot carry the compressed flag \
              the case requires (spec: \"the response MUST have the compressed message flag \
              set\")",
    },
    Limit {
        peer: "node",
        role: Role::PeerServer,
        case: "server_compressed_streaming",
        why: "the grpc-js server never compresses a response, so the first response cannot \
              carry the compressed flag the case requires (spec: \"the response's messages \
              MUST have the compressed message flag set\")",
    },
    // grpc-go 1.33.3's interop server (tests/go_peer.rs): its messages predate the
    // compression fields, so it skips them as unknown fields.
    Limit {
        peer: "grpc-go",
        role: Role::PeerServer,
        case: "client_compressed_unary",
        why: "grpc-go 1.33's SimpleRequest has no expect_compressed (field 8), so its server \
              never checks the request's compression and accepts the uncompressed probe the \
              spec says it must fail with INVALID_ARGUMENT (spec, CompressedRequest)",
    },
    Limit {
        peer: "grpc-go",
        role: Role::PeerServer,
        case: "server_compressed_unary",
        why: "grpc-go 1.33's SimpleRequest has no response_compressed (field 6), so its \
              server never learns it should compress, and the response lacks the compressed \
              flag the case requires (spec: \"the response MUST have the compressed message \
              flag set\")",
    },
    Limit {
        peer: "grpc-go",
        role: Role::PeerServer,
        case: "client_compressed_streaming",
        why: "grpc-go 1.33's StreamingInputCallRequest has no expect_compressed (field 2), so \
              its server accepts the uncompressed probe the spec says it must fail with \
              INVALID_ARGUMENT (spec, CompressedRequest)",
    },
    Limit {
        peer: "grpc-go",
        role: Role::PeerServer,
        case: "server_compressed_streaming",
        why: "grpc-go 1.33's ResponseParameters has no compressed (field 3), so its server \
              never learns it should compress, and the first response lacks the compressed \
              flag the case requires (spec: \"the response's messages MUST have the \
              compressed message flag set\")",
    },
];

/// The known limit for `case` in `column`, if any.
pub fn known_limit(column: &Column, case: &str) -> Option<&'static Limit> {
    KNOWN_LIMITS
        .iter()
        .find(|l| l.peer == column.peer && l.role == column.role && l.case == case)
}

/// One case's result line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `PASS <case>`.
    Pass,
    /// `FAIL <case>: <reason>`: the reason.
    Fail(String),
}

/// The `(case, outcome)` of every PASS/FAIL line in a client's stdout, in order; other
/// lines (the summary, stray logging) are skipped.
pub fn parse_results(stdout: &str) -> Vec<(String, Outcome)> {
    stdout
        .lines()
        .filter_map(|line| {
            let line = line.trim_end();
            if let Some(case) = line.strip_prefix("PASS ") {
                return Some((case.trim().to_owned(), Outcome::Pass));
            }
            let rest = line.strip_prefix("FAIL ")?;
            let (case, reason) = rest.split_once(':').unwrap_or((rest, ""));
            Some((
                case.trim().to_owned(),
                Outcome::Fail(reason.trim().to_owned()),
            ))
        })
        .collect()
}

/// Runs `client(host, port)` against `server` (which prints `... listening on HOST:PORT`
/// first, within [`python::LISTEN_TIMEOUT`]), records the column, and panics with both
/// sides' output unless every case did what this column expects: PASS, or FAIL where
/// [`KNOWN_LIMITS`] says so.
pub fn run_pair(
    column: &Column,
    server_name: &str,
    server: Command,
    client_name: &str,
    client: impl FnOnce(&str, &str) -> Command,
) {
    forget(column);
    let (mut server_guard, addr) = python::spawn_server(server_name, server);
    let Some((host, port)) = addr.rsplit_once(':') else {
        panic!("{server_name}: listening address {addr:?} has no port");
    };
    let out = python::run(client_name, client(host, port), None, CLIENT_TIMEOUT);
    let (_, server_stderr) = server_guard.kill_and_collect();

    let results = parse_results(&out.stdout);
    record(column, &results);
    let problems = check(column, &results, &out);
    assert!(
        problems.is_empty(),
        "{}:\n  {}\n{}\n--- {server_name} stderr ---\n{server_stderr}",
        column.title(),
        problems.join("\n  "),
        out.describe()
    );
}

/// Every way `results` differs from what `column` should produce.
fn check(column: &Column, results: &[(String, Outcome)], out: &RunOutput) -> Vec<String> {
    let mut problems = Vec::new();
    for case in CASES {
        let seen: Vec<&Outcome> = results
            .iter()
            .filter(|(c, _)| c == case)
            .map(|(_, o)| o)
            .collect();
        let limit = known_limit(column, case);
        match (seen.as_slice(), limit) {
            ([Outcome::Pass], None) | ([Outcome::Fail(_)], Some(_)) => {}
            ([Outcome::Fail(reason)], None) => problems.push(format!("{case} failed: {reason}")),
            ([Outcome::Pass], Some(_)) => problems.push(format!(
                "{case} passed, but KNOWN_LIMITS (tests/common/interop.rs) says this peer \
                 cannot: remove the entry"
            )),
            ([], _) => problems.push(format!("{case}: no PASS/FAIL line")),
            (_, _) => problems.push(format!("{case}: {} result lines", seen.len())),
        }
    }
    for (case, _) in results {
        if !CASES.contains(&case.as_str()) {
            problems.push(format!("unexpected case {case:?}"));
        }
    }
    let all_passed = results.iter().all(|(_, o)| *o == Outcome::Pass);
    if out.status.success() != all_passed {
        problems.push(format!(
            "exit status {} does not match the results (all passed: {all_passed})",
            out.status
        ));
    }
    problems
}

/// `<CARGO_TARGET_TMPDIR>/interop-matrix`, one file per recorded column.
fn matrix_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-matrix")
}

/// Drops a column's previous record, so a run that dies before its client finishes does
/// not leave an old result in the table.
fn forget(column: &Column) {
    let _ = fs::remove_file(matrix_dir().join(column.file_name()));
}

/// Saves `results` as `column`'s record, then (with [`MATRIX_ENV`] set) rewrites the
/// markdown matrix of every recorded column.
///
/// Record layout: peer key, role key, peer name, then the PASS/FAIL lines.
pub fn record(column: &Column, results: &[(String, Outcome)]) {
    let dir = matrix_dir();
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let _lock = lock_exclusive(&dir.with_extension("lock"), LOCK_TIMEOUT);

    let mut text = format!(
        "{}\n{}\n{}\n",
        column.peer,
        column.role.key(),
        column.peer_name
    );
    for (case, outcome) in results {
        match outcome {
            Outcome::Pass => text.push_str(&format!("PASS {case}\n")),
            Outcome::Fail(reason) => text.push_str(&format!("FAIL {case}: {reason}\n")),
        }
    }
    let path = dir.join(column.file_name());
    fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));

    let Some(target) = std::env::var_os(MATRIX_ENV) else {
        return;
    };
    let markdown = matrix_markdown(&load_records(&dir));
    fs::write(&target, markdown)
        .unwrap_or_else(|e| panic!("write {MATRIX_ENV}={}: {e}", Path::new(&target).display()));
}

/// Every column recorded in `dir`, unreadable or malformed files skipped.
fn load_records(dir: &Path) -> Vec<(Column, Vec<(String, Outcome)>)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut columns = Vec::new();
    for entry in entries.flatten() {
        let Ok(text) = fs::read_to_string(entry.path()) else {
            continue;
        };
        let mut lines = text.splitn(4, '\n');
        let (Some(peer), Some(role), Some(peer_name)) = (lines.next(), lines.next(), lines.next())
        else {
            continue;
        };
        let Some(role) = Role::from_key(role) else {
            continue;
        };
        let column = Column {
            peer: peer.to_owned(),
            peer_name: peer_name.to_owned(),
            role,
        };
        columns.push((column, parse_results(lines.next().unwrap_or(""))));
    }
    columns
}

/// The markdown matrix: one row per case, one column per pair, ✅ / ❌ per cell with the
/// failures (and the known limitation behind each, if any) as numbered notes below.
pub fn matrix_markdown(columns: &[(Column, Vec<(String, Outcome)>)]) -> String {
    let mut columns: Vec<&(Column, Vec<(String, Outcome)>)> = columns.iter().collect();
    columns.sort_by_key(|(column, _)| column.sort_key());

    let mut out = String::from("| case |");
    for (column, _) in &columns {
        let _ = write!(out, " {} |", column.title());
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(columns.len()));
    out.push('\n');

    let mut notes = Vec::new();
    for case in CASES {
        let _ = write!(out, "| `{case}` |");
        for (column, results) in &columns {
            let outcome = results.iter().find(|(c, _)| c == case).map(|(_, o)| o);
            match outcome {
                Some(Outcome::Pass) => out.push_str(" ✅ |"),
                Some(Outcome::Fail(reason)) => {
                    let mut note = format!("{}, `{case}`: {reason}", column.title());
                    if let Some(limit) = known_limit(column, case) {
                        let _ = write!(note, ". Known limitation: {}.", limit.why);
                    }
                    notes.push(note);
                    let _ = write!(out, " ❌ [{}] |", notes.len());
                }
                None => out.push_str(" — |"),
            }
        }
        out.push('\n');
    }
    out.push_str("| **passed** |");
    for (_, results) in &columns {
        let passed = results.iter().filter(|(_, o)| *o == Outcome::Pass).count();
        let _ = write!(out, " {passed}/{} |", CASES.len());
    }
    out.push('\n');

    if !notes.is_empty() {
        out.push('\n');
        for (i, note) in notes.iter().enumerate() {
            let _ = writeln!(out, "[{}] {note}", i + 1);
            out.push('\n');
        }
    }
    out
}
