//! The interop matrix against foreign implementations (issue 5): every case of grpc/grpc
//! doc/interop-test-descriptions.md that needs no TLS or cloud credentials, both ways,
//! with peers nobody here wrote.
//!
//! | peer                  | as client                          | as server                          |
//! |-----------------------|------------------------------------|------------------------------------|
//! | Python grpcio         | tests/python/interop_client.py     | tests/python/interop_server.py     |
//! | Node @grpc/grpc-js    | tests/node/interop_client.js       | tests/node/interop_server.js       |
//!
//! Each test runs one client with `--test_case all` against one server and checks every
//! case's PASS/FAIL line (tests/common/interop.rs): all PASS, except the cases
//! `KNOWN_LIMITS` names, which are pinned to FAIL with the peer's reason.
//!
//! The peers install themselves on first use: a venv with the pinned grpcio
//! (tests/common/python.rs) and an `npm ci` of tests/node/package-lock.json
//! (tests/common/node.rs), both under target/tmp. With `H2GRPC_WRITE_MATRIX=<file>` the
//! markdown matrix of every column run so far is written to that file.

mod common;

use std::process::Command;

use common::interop::{self, Column, Role};
use common::{node, python};

const INTEROP_SERVER: &str = env!("CARGO_BIN_EXE_interop-server");
const INTEROP_CLIENT: &str = env!("CARGO_BIN_EXE_interop-client");

fn python_column(role: Role) -> Column {
    Column {
        peer: "python".to_owned(),
        peer_name: format!("Python grpcio {}", python::pinned_version("grpcio")),
        role,
    }
}

fn node_column(role: Role) -> Column {
    Column {
        peer: "node".to_owned(),
        peer_name: format!("Node grpc-js {}", node::pinned_version("@grpc/grpc-js")),
        role,
    }
}

/// Our `interop-server` on a free port of 127.0.0.1.
fn our_server() -> Command {
    let mut cmd = Command::new(INTEROP_SERVER);
    cmd.args(["--port", "0"]);
    cmd
}

/// Our `interop-client`, every case, against `host:port`.
fn our_client(host: &str, port: &str) -> Command {
    all_cases(Command::new(INTEROP_CLIENT), host, port)
}

fn all_cases(mut cmd: Command, host: &str, port: &str) -> Command {
    cmd.args([
        "--server_host",
        host,
        "--server_port",
        port,
        "--test_case",
        "all",
    ]);
    cmd
}

#[test]
fn python_grpcio_client_against_our_interop_server() {
    let py = python::python_env_interop();
    interop::run_pair(
        &python_column(Role::PeerClient),
        "interop-server",
        our_server(),
        "interop_client.py",
        |host, port| all_cases(py.command("interop_client.py"), host, port),
    );
}

#[test]
fn our_interop_client_against_python_grpcio_server() {
    let py = python::python_env_interop();
    let mut server = py.command("interop_server.py");
    server.args(["--port", "0"]);
    interop::run_pair(
        &python_column(Role::PeerServer),
        "interop_server.py",
        server,
        "interop-client",
        our_client,
    );
}

#[test]
fn node_grpc_js_client_against_our_interop_server() {
    let js = node::node_env();
    interop::run_pair(
        &node_column(Role::PeerClient),
        "interop-server",
        our_server(),
        "interop_client.js",
        |host, port| all_cases(js.command("interop_client.js"), host, port),
    );
}

#[test]
fn our_interop_client_against_node_grpc_js_server() {
    let js = node::node_env();
    let mut server = js.command("interop_server.js");
    server.args(["--port", "0"]);
    interop::run_pair(
        &node_column(Role::PeerServer),
        "interop_server.js",
        server,
        "interop-client",
        our_client,
    );
}

/// The harness itself: result lines parse, and the matrix shows a failure with its note
/// and the known limitation behind it.
#[test]
fn matrix_renders_results_and_known_limits() {
    let results = interop::parse_results(
        "PASS empty_unary\n\
         FAIL server_compressed_unary: response compressed flags [false]\n\
         1 passed, 1 failed\n",
    );
    assert_eq!(
        results,
        [
            ("empty_unary".to_owned(), interop::Outcome::Pass),
            (
                "server_compressed_unary".to_owned(),
                interop::Outcome::Fail("response compressed flags [false]".to_owned())
            ),
        ]
    );
    let column = Column {
        peer: "node".to_owned(),
        peer_name: "Node grpc-js 9.9.9".to_owned(),
        role: Role::PeerServer,
    };
    let markdown = interop::matrix_markdown(&[(column, results)]);
    let lines: Vec<&str> = markdown.lines().collect();
    assert_eq!(
        lines[0],
        "| case | h2grpc client → Node grpc-js 9.9.9 server |"
    );
    assert_eq!(lines[1], "|---|---|");
    assert_eq!(lines[2], "| `empty_unary` | ✅ |");
    assert!(
        lines.contains(&"| `server_compressed_unary` | ❌ [1] |"),
        "{markdown}"
    );
    assert!(lines.contains(&"| `ping_pong` | — |"), "{markdown}");
    assert!(lines.contains(&"| **passed** | 1/18 |"), "{markdown}");
    assert!(
        markdown.contains(
            "[1] h2grpc client → Node grpc-js 9.9.9 server, `server_compressed_unary`: \
             response compressed flags [false]. Known limitation: the grpc-js server"
        ),
        "{markdown}"
    );
}

#[test]
fn our_interop_client_against_our_interop_server() {
    // The h2grpc column of the matrix (tests/interop_self.rs checks the same pair case by case).
    let column = Column {
        peer: "h2grpc".to_owned(),
        peer_name: "h2grpc".to_owned(),
        role: Role::PeerServer,
    };
    interop::run_pair(
        &column,
        "interop-server",
        our_server(),
        "interop-client",
        our_client,
    );
}
