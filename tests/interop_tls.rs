//! The interop cases over TLS (issue 16): every case our `interop-client` has
//! (`--test_case all`), over TLS, against grpcio's and grpc-js's interop servers and ours,
//! and their interop clients over TLS against our `interop-server`, with the flags of the
//! spec's "Client" section (`--use_tls=true --use_test_ca=true --ca_file F
//! --server_host_override foo.test.google.fr`) as the upstream runners pass them.
//!
//! The certificates are made at test time (tests/support/certs.rs): a CA standing in for
//! grpc's test CA and a server certificate for `*.test.google.fr`, `localhost` and
//! `127.0.0.1`, like grpc's `server1.pem`.
//!
//! Each run is checked as tests/interop_peers.rs checks it: every case PASSes except those
//! `KNOWN_LIMITS` (tests/common/interop.rs) pins to FAIL for that peer and role; TLS changes
//! nothing there. These runs are not recorded in the markdown matrix: their columns would
//! take the plaintext columns' names.

mod common;
mod support;

use std::path::PathBuf;
use std::process::Command;

use common::interop::{self, CASES, Column, Outcome, Role};
use common::tls::CertDir;
use common::{node, python};
use support::certs::Ca;

const INTEROP_SERVER: &str = env!("CARGO_BIN_EXE_interop-server");
const INTEROP_CLIENT: &str = env!("CARGO_BIN_EXE_interop-client");

/// What the interop runners pass as `--server_host_override` (grpc's test certificate
/// is for `*.test.google.fr`).
const OVERRIDE_NAME: &str = "foo.test.google.fr";

/// The CA and the server's certificate, as files.
struct Pki {
    _dir: CertDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn pki(test: &str) -> Pki {
    let ca = Ca::new("h2grpc interop test CA");
    let leaf = ca.leaf(&["*.test.google.fr", "localhost", "127.0.0.1"], "server1");
    let dir = CertDir::new(test);
    Pki {
        ca: dir.write("ca.pem", &ca.pem),
        cert: dir.write("server1.pem", &leaf.cert_pem),
        key: dir.write("server1.key", &leaf.key_pem),
        _dir: dir,
    }
}

impl Pki {
    /// `--use_tls=true --tls_cert_file F --tls_key_file F`, as grpc-go's server takes them.
    fn server_flags(&self, cmd: &mut Command) {
        cmd.arg("--use_tls=true")
            .arg("--tls_cert_file")
            .arg(&self.cert)
            .arg("--tls_key_file")
            .arg(&self.key);
    }

    /// The client's TLS flags, as the upstream runners pass them.
    fn client_flags(&self, cmd: &mut Command) {
        cmd.args(["--use_tls=true", "--use_test_ca=true", "--ca_file"])
            .arg(&self.ca)
            .args(["--server_host_override", OVERRIDE_NAME]);
    }
}

/// The column whose known limits apply: the peer's plaintext column (its key and role).
fn column(peer: &str, role: Role) -> Column {
    let peer_name = match peer {
        "python" => format!("Python grpcio {}", python::pinned_version("grpcio")),
        "node" => format!("Node grpc-js {}", node::pinned_version("@grpc/grpc-js")),
        other => other.to_owned(),
    };
    Column {
        peer: peer.to_owned(),
        peer_name,
        role,
    }
}

/// Runs `client` (every case, over TLS) against `server` (which prints `... listening on
/// HOST:PORT` first) and checks each case against `column`'s known limits.
fn run_tls_pair(
    column: &Column,
    pki: &Pki,
    server_name: &str,
    mut server: Command,
    client_name: &str,
    mut client: Command,
) {
    pki.server_flags(&mut server);
    let (mut server_guard, addr) = python::spawn_server(server_name, server);
    let Some((host, port)) = addr.rsplit_once(':') else {
        panic!("{server_name}: listening address {addr:?} has no port");
    };
    client.args([
        "--server_host",
        host,
        "--server_port",
        port,
        "--test_case",
        "all",
    ]);
    pki.client_flags(&mut client);
    let out = python::run(client_name, client, None, interop::CLIENT_TIMEOUT);
    let (_, server_stderr) = server_guard.kill_and_collect();

    let results = interop::parse_results(&out.stdout);
    let mut problems = Vec::new();
    for case in CASES {
        let seen: Vec<&Outcome> = results
            .iter()
            .filter(|(c, _)| c == case)
            .map(|(_, o)| o)
            .collect();
        match (seen.as_slice(), interop::known_limit(column, case)) {
            ([Outcome::Pass], None) | ([Outcome::Fail(_)], Some(_)) => {}
            ([Outcome::Fail(reason)], None) => problems.push(format!("{case} failed: {reason}")),
            ([Outcome::Pass], Some(_)) => problems.push(format!(
                "{case} passed over TLS, but KNOWN_LIMITS says this peer cannot"
            )),
            ([], _) => problems.push(format!("{case}: no PASS/FAIL line")),
            (_, _) => problems.push(format!("{case}: {} result lines", seen.len())),
        }
    }
    let all_passed = results.iter().all(|(_, o)| *o == Outcome::Pass);
    if out.status.success() != all_passed {
        problems.push(format!(
            "exit status {} but all passed: {all_passed}",
            out.status
        ));
    }
    assert!(
        problems.is_empty(),
        "{} over TLS:\n  {}\n{}\n--- {server_name} stderr ---\n{server_stderr}",
        column.title(),
        problems.join("\n  "),
        out.describe()
    );
}

fn our_server() -> Command {
    let mut cmd = Command::new(INTEROP_SERVER);
    cmd.args(["--port", "0"]);
    cmd
}

#[test]
fn our_interop_client_over_tls_against_python_grpcio_server() {
    let pki = pki("interop-py-server");
    let py = python::python_env_interop();
    let mut server = py.command("interop_server.py");
    server.args(["--port", "0"]);
    run_tls_pair(
        &column("python", Role::PeerServer),
        &pki,
        "interop_server.py",
        server,
        "interop-client",
        Command::new(INTEROP_CLIENT),
    );
}

#[test]
fn python_grpcio_client_over_tls_against_our_interop_server() {
    let pki = pki("interop-py-client");
    let py = python::python_env_interop();
    run_tls_pair(
        &column("python", Role::PeerClient),
        &pki,
        "interop-server",
        our_server(),
        "interop_client.py",
        py.command("interop_client.py"),
    );
}

#[test]
fn our_interop_client_over_tls_against_node_grpc_js_server() {
    let pki = pki("interop-node-server");
    let js = node::node_env();
    let mut server = js.command("interop_server.js");
    server.args(["--port", "0"]);
    run_tls_pair(
        &column("node", Role::PeerServer),
        &pki,
        "interop_server.js",
        server,
        "interop-client",
        Command::new(INTEROP_CLIENT),
    );
}

#[test]
fn node_grpc_js_client_over_tls_against_our_interop_server() {
    let pki = pki("interop-node-client");
    let js = node::node_env();
    run_tls_pair(
        &column("node", Role::PeerClient),
        &pki,
        "interop-server",
        our_server(),
        "interop_client.js",
        js.command("interop_client.js"),
    );
}

#[test]
fn our_interop_client_over_tls_against_our_interop_server() {
    let pki = pki("interop-self");
    run_tls_pair(
        &column("h2grpc", Role::PeerServer),
        &pki,
        "interop-server",
        our_server(),
        "interop-client",
        Command::new(INTEROP_CLIENT),
    );
}
