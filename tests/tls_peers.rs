//! TLS and mTLS with foreign peers (issue 16): Python grpcio and Node grpc-js as TLS clients
//! of our `order-server` and `interop-server`, and as TLS servers for our `order-client`.
//! Certificates are made at test time (tests/support/certs.rs) and written to a temporary
//! directory (tests/common/tls.rs); nothing is checked in.
//!
//! | peer    | as client (of ours)                                | as server (for ours)         |
//! |---------|----------------------------------------------------|------------------------------|
//! | grpcio  | order_client_check.py (every check, over TLS),     | order_server.py              |
//! |         | tls_probe.py (one call: mTLS refused or served)    | (ssl_server_credentials)     |
//! | grpc-js | tls_probe.js                                       | order_server.js (createSsl)  |
//!
//! mTLS: a client without a certificate and one whose certificate another CA signed are
//! refused (the call fails `UNAVAILABLE`), the right one is served; against our
//! `interop-server --client_ca_file`, `EmptyCall` returns the certificate its handler saw, and
//! the foreign client checks it is its own. The interop cases over TLS are in
//! tests/interop_tls.rs.
//!
//! Every child runs under a deadline and is killed on drop; servers bind 127.0.0.1 only.

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::node::{self, NodeEnv};
use common::python::{self, ChildGuard, PythonEnv, RunOutput};
use common::tls::CertDir;
use support::certs::Ca;

const ORDER_SERVER: &str = env!("CARGO_BIN_EXE_order-server");
const ORDER_CLIENT: &str = env!("CARGO_BIN_EXE_order-client");
const INTEROP_SERVER: &str = env!("CARGO_BIN_EXE_interop-server");

/// One probe or one order-client run: a few calls, each with a 10 s deadline (30 s in
/// order-client); this only bounds a wedged child.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The name in the server certificate's wildcard, as grpc's test certificates have it
/// (`*.test.google.fr`, what the interop runners pass as `--server_host_override`).
const OVERRIDE_NAME: &str = "foo.test.google.fr";

/// The certificates of one test, as files.
struct Pki {
    _dir: CertDir,
    /// The CA that signed the server's and alice's certificates.
    ca: PathBuf,
    /// A CA nobody here trusts.
    other_ca: PathBuf,
    /// For `localhost`, `127.0.0.1` and `*.test.google.fr`.
    server_cert: PathBuf,
    server_key: PathBuf,
    /// A client the CA signed.
    alice: (PathBuf, PathBuf),
    /// alice's certificate, DER: what a server's handler should see.
    alice_der: Vec<u8>,
    /// A client another CA signed.
    mallory: (PathBuf, PathBuf),
}

/// alice's certificate's subject common name.
const ALICE_CN: &str = "h2grpc-test-alice";

fn pki(test: &str) -> Pki {
    let ca = Ca::new("h2grpc tls-peers CA");
    let other = Ca::new("someone else's CA");
    let server = ca.leaf(&["localhost", "127.0.0.1", "*.test.google.fr"], "server");
    let alice = ca.leaf(&["alice.example"], ALICE_CN);
    let mallory = other.leaf(&["mallory.example"], "mallory");
    let dir = CertDir::new(test);
    Pki {
        ca: dir.write("ca.pem", &ca.pem),
        other_ca: dir.write("other-ca.pem", &other.pem),
        server_cert: dir.write("server.pem", &server.cert_pem),
        server_key: dir.write("server.key", &server.key_pem),
        alice: (
            dir.write("alice.pem", &alice.cert_pem),
            dir.write("alice.key", &alice.key_pem),
        ),
        alice_der: alice.der,
        mallory: (
            dir.write("mallory.pem", &mallory.cert_pem),
            dir.write("mallory.key", &mallory.key_pem),
        ),
        _dir: dir,
    }
}

/// The Python env with both the order and the interop stubs (tls_probe.py imports both).
fn python_env() -> PythonEnv {
    python::python_env();
    python::python_env_interop()
}

/// A foreign client that can run the probe script.
enum Foreign<'a> {
    Python(&'a PythonEnv),
    Node(&'a NodeEnv),
}

impl Foreign<'_> {
    fn name(&self) -> &'static str {
        match self {
            Foreign::Python(_) => "tls_probe.py",
            Foreign::Node(_) => "tls_probe.js",
        }
    }
}

/// One call of a probe: its own channel, with these TLS settings.
#[derive(Clone, Copy)]
struct Attempt<'a> {
    ca: &'a Path,
    identity: Option<&'a (PathBuf, PathBuf)>,
    server_name: Option<&'a str>,
}

impl<'a> Attempt<'a> {
    /// Trusting `ca`, no client certificate, the address's host as the name.
    fn trusting(ca: &'a Path) -> Attempt<'a> {
        Attempt {
            ca,
            identity: None,
            server_name: None,
        }
    }

    fn with(self, identity: &'a (PathBuf, PathBuf)) -> Attempt<'a> {
        Attempt {
            identity: Some(identity),
            ..self
        }
    }

    fn named(self, server_name: &'a str) -> Attempt<'a> {
        Attempt {
            server_name: Some(server_name),
            ..self
        }
    }

    fn json(&self) -> String {
        let path = |p: &Path| json_string(p.to_str().expect("temp paths are UTF-8"));
        let (cert, key) = match self.identity {
            Some((cert, key)) => (path(cert), path(key)),
            None => ("null".to_owned(), "null".to_owned()),
        };
        let name = self.server_name.map_or("null".to_owned(), json_string);
        format!(
            r#"{{"ca":{},"cert":{cert},"key":{key},"server_name":{name}}}"#,
            path(self.ca)
        )
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Runs the probe script once for all `attempts` against `addr` ("order" or "interop"
/// `service`) and returns each attempt's result line (`OK ...` or `ERROR CODE ...`).
fn probe(client: &Foreign<'_>, addr: &str, service: &str, attempts: &[Attempt<'_>]) -> Vec<String> {
    let mut cmd = match client {
        Foreign::Python(py) => py.command("tls_probe.py"),
        Foreign::Node(js) => js.command("tls_probe.js"),
    };
    let specs: Vec<String> = attempts.iter().map(Attempt::json).collect();
    cmd.args(["--addr", addr, "--service", service])
        .arg("--attempts")
        .arg(format!("[{}]", specs.join(",")));
    let out = python::run(client.name(), cmd, None, RUN_TIMEOUT);
    let lines: Vec<String> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("OK ") || l.starts_with("ERROR "))
        .map(str::to_owned)
        .collect();
    assert!(
        out.status.success() && lines.len() == attempts.len(),
        "{}: expected {} result lines\n{}",
        client.name(),
        attempts.len(),
        out.describe()
    );
    lines
}

fn assert_refused(line: &str, what: &str) {
    assert!(
        line.starts_with("ERROR UNAVAILABLE"),
        "{what}: expected the call to fail UNAVAILABLE, got {line:?}"
    );
}

/// Our `order-server` over TLS on 127.0.0.1:0, with `extra` flags (mTLS).
fn our_order_server(pki: &Pki, extra: &[&str]) -> (ChildGuard, String) {
    let mut cmd = Command::new(ORDER_SERVER);
    cmd.args(["--addr", "127.0.0.1:0", "--tls-cert"])
        .arg(&pki.server_cert)
        .arg("--tls-key")
        .arg(&pki.server_key)
        .args(extra);
    python::spawn_server("order-server", cmd)
}

/// Kills `server` and checks it logged `refusals` refused handshakes (and so kept going).
fn assert_logged_refusals(mut server: ChildGuard, refusals: usize) {
    let (_, stderr) = server.kill_and_collect();
    let logged = stderr.matches("TLS handshake failed").count();
    assert!(
        logged >= refusals,
        "the server should log each refused handshake ({refusals}), logged {logged}:\n{stderr}"
    );
}

/// A foreign client against our TLS order-server: by IP, and by the wildcard name.
fn foreign_client_against_our_tls_order_server(client: &Foreign<'_>, pki: &Pki) {
    let (_server, addr) = our_order_server(pki, &[]);
    let lines = probe(
        client,
        &addr,
        "order",
        &[
            Attempt::trusting(&pki.ca),
            Attempt::trusting(&pki.ca).named(OVERRIDE_NAME),
            Attempt::trusting(&pki.other_ca),
        ],
    );
    assert_eq!(lines[0], "OK order 102", "by IP");
    assert_eq!(lines[1], "OK order 102", "as {OVERRIDE_NAME}");
    // A client that trusts another CA is refused by its own TLS stack.
    assert_refused(&lines[2], "a client trusting another CA");
}

/// A foreign client against our order-server with `--client-ca` (required, then optional).
fn foreign_client_against_our_mtls_order_server(client: &Foreign<'_>, pki: &Pki) {
    let ca = pki.ca.to_str().expect("temp paths are UTF-8");
    let (server, addr) = our_order_server(pki, &["--client-ca", ca]);
    let trusting = Attempt::trusting(&pki.ca);
    let lines = probe(
        client,
        &addr,
        "order",
        &[
            trusting,
            trusting.with(&pki.mallory),
            trusting.with(&pki.alice),
        ],
    );
    assert_refused(&lines[0], "no client certificate");
    assert_refused(&lines[1], "a certificate from another CA");
    assert_eq!(lines[2], "OK order 102", "alice");
    assert_logged_refusals(server, 2);

    let (_server, addr) = our_order_server(pki, &["--client-ca", ca, "--client-ca-optional"]);
    let lines = probe(
        client,
        &addr,
        "order",
        &[trusting, trusting.with(&pki.alice)],
    );
    assert_eq!(
        lines[0], "OK order 102",
        "optional client auth, no certificate"
    );
    assert_eq!(lines[1], "OK order 102", "optional client auth, alice");
}

/// A foreign client against our `interop-server --client_ca_file`: refused without a
/// certificate and with mallory's; alice is served and the handler saw her certificate.
fn foreign_client_against_our_mtls_interop_server(client: &Foreign<'_>, pki: &Pki) {
    let mut cmd = Command::new(INTEROP_SERVER);
    cmd.args(["--port", "0", "--use_tls=true", "--tls_cert_file"])
        .arg(&pki.server_cert)
        .arg("--tls_key_file")
        .arg(&pki.server_key)
        .arg("--client_ca_file")
        .arg(&pki.ca);
    let (server, addr) = python::spawn_server("interop-server", cmd);
    let trusting = Attempt::trusting(&pki.ca).named(OVERRIDE_NAME);
    let lines = probe(
        client,
        &addr,
        "interop",
        &[
            trusting,
            trusting.with(&pki.mallory),
            trusting.with(&pki.alice),
        ],
    );
    assert_refused(&lines[0], "no client certificate");
    assert_refused(&lines[1], "a certificate from another CA");
    let line = &lines[2];
    let Some(seen) = line.strip_prefix("OK peer-cert ") else {
        panic!("alice should be served, got {line:?}");
    };
    assert_eq!(
        seen,
        hex(&pki.alice_der),
        "the handler saw exactly alice's certificate"
    );
    let cn = hex(ALICE_CN.as_bytes());
    assert!(seen.contains(&cn), "the subject's common name is in it");
    drop(server);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Our `order-client` with `args` (global flags, then the subcommand).
fn order_client(args: &[&str]) -> RunOutput {
    let mut cmd = Command::new(ORDER_CLIENT);
    cmd.args(args);
    python::run("order-client", cmd, None, RUN_TIMEOUT)
}

/// Our order-client against a foreign TLS order server at `addr` (plain TLS) and
/// `mtls_addr` (client certificates required).
fn our_client_against_foreign_tls_server(pki: &Pki, addr: &str, mtls_addr: &str) {
    let ca = pki.ca.to_str().expect("temp paths are UTF-8");
    let https = format!("https://{addr}");
    // Every call pattern, over TLS by IP.
    let out = order_client(&["--addr", &https, "--ca", ca, "demo"]);
    assert!(out.status.success(), "demo over TLS:\n{}", out.describe());
    for expected in [
        "   got {\"id\":\"102\"",
        "   streamed order 104",
        "   server replied: Updated orders: 102, 103",
        "   shipment \"cmb - San Jose, CA\" (Processed!): orders [\"105\"]",
    ] {
        assert!(
            out.stdout.contains(expected),
            "{expected:?} in\n{}",
            out.describe()
        );
    }
    // The wildcard name, checked in place of the IP; a bare HOST:PORT with --ca is https.
    let out = order_client(&[
        "--addr",
        addr,
        "--ca",
        ca,
        "--server-name",
        OVERRIDE_NAME,
        "get",
        "103",
    ]);
    assert!(out.status.success(), "{}", out.describe());
    assert!(out.stdout.contains("\"id\":\"103\""), "{}", out.describe());
    // Trusting another CA: refused, naming the cause.
    let other = pki.other_ca.to_str().expect("UTF-8");
    let out = order_client(&["--addr", &https, "--ca", other, "get", "102"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("error: UNAVAILABLE") && out.stderr.contains("UnknownIssuer"),
        "{}",
        out.describe()
    );

    // mTLS: without a certificate the server refuses us, with alice's it serves us.
    let mtls = format!("https://{mtls_addr}");
    let out = order_client(&["--addr", &mtls, "--ca", ca, "get", "102"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    // grpcio's TLS sends an alert; Node's closes the socket, and the client
    // still names the cause.
    assert!(
        out.stderr.contains("error: UNAVAILABLE")
            && (out.stderr.contains("CertificateRequired")
                || out
                    .stderr
                    .contains("asked for a client certificate and this client has none")),
        "{}",
        out.describe()
    );
    let (cert, key) = &pki.alice;
    let out = order_client(&[
        "--addr",
        &mtls,
        "--ca",
        ca,
        "--cert",
        cert.to_str().expect("UTF-8"),
        "--key",
        key.to_str().expect("UTF-8"),
        "get",
        "102",
    ]);
    assert!(out.status.success(), "{}", out.describe());
    assert!(out.stdout.contains("\"id\":\"102\""), "{}", out.describe());
}

/// A foreign TLS order server's command with its certificate flags (and `--client_ca_file`).
fn with_server_tls(cmd: &mut Command, pki: &Pki, mtls: bool) {
    cmd.arg("--tls_cert_file")
        .arg(&pki.server_cert)
        .arg("--tls_key_file")
        .arg(&pki.server_key);
    if mtls {
        cmd.arg("--client_ca_file").arg(&pki.ca);
    }
}

// ───────────────────────────────────────────── Python grpcio

#[test]
fn python_client_checks_our_tls_order_server() {
    let pki = pki("py-checks");
    let py = python_env();
    let (mut server, addr) = our_order_server(&pki, &[]);
    // Every check of order_client_check.py, over TLS.
    let mut check = py.command("order_client_check.py");
    check.args(["--addr", &addr]).arg("--ca").arg(&pki.ca);
    let out = python::run("order_client_check.py", check, None, RUN_TIMEOUT);
    let (_, server_stderr) = server.kill_and_collect();
    assert!(
        out.status.success() && out.stdout.contains("13 passed, 0 failed"),
        "{}\n--- order-server stderr ---\n{server_stderr}",
        out.describe()
    );
}

#[test]
fn python_client_against_our_tls_order_server() {
    let pki = pki("py-tls");
    let py = python_env();
    foreign_client_against_our_tls_order_server(&Foreign::Python(&py), &pki);
}

#[test]
fn python_client_against_our_mtls_order_server() {
    let pki = pki("py-mtls");
    let py = python_env();
    foreign_client_against_our_mtls_order_server(&Foreign::Python(&py), &pki);
}

#[test]
fn python_client_against_our_mtls_interop_server_sees_its_certificate() {
    let pki = pki("py-mtls-interop");
    let py = python_env();
    foreign_client_against_our_mtls_interop_server(&Foreign::Python(&py), &pki);
}

#[test]
fn our_order_client_against_python_tls_server() {
    let pki = pki("py-server");
    let py = python_env();
    let mut server = py.command("order_server.py");
    server.args(["--addr", "127.0.0.1:0"]);
    with_server_tls(&mut server, &pki, false);
    let (_server, addr) = python::spawn_server("order_server.py", server);
    let mut mtls = py.command("order_server.py");
    mtls.args(["--addr", "127.0.0.1:0"]);
    with_server_tls(&mut mtls, &pki, true);
    let (_mtls_server, mtls_addr) = python::spawn_server("order_server.py (mTLS)", mtls);
    our_client_against_foreign_tls_server(&pki, &addr, &mtls_addr);
}

// ───────────────────────────────────────────── Node grpc-js

#[test]
fn node_client_against_our_tls_order_server() {
    let pki = pki("node-tls");
    let js = node::node_env();
    foreign_client_against_our_tls_order_server(&Foreign::Node(&js), &pki);
}

#[test]
fn node_client_against_our_mtls_order_server() {
    let pki = pki("node-mtls");
    let js = node::node_env();
    foreign_client_against_our_mtls_order_server(&Foreign::Node(&js), &pki);
}

#[test]
fn node_client_against_our_mtls_interop_server_sees_its_certificate() {
    let pki = pki("node-mtls-interop");
    let js = node::node_env();
    foreign_client_against_our_mtls_interop_server(&Foreign::Node(&js), &pki);
}

#[test]
fn our_order_client_against_node_tls_server() {
    let pki = pki("node-server");
    let js = node::node_env();
    let mut server = js.command("order_server.js");
    server.args(["--port", "0"]);
    with_server_tls(&mut server, &pki, false);
    let (_server, addr) = python::spawn_server("order_server.js", server);
    let mut mtls = js.command("order_server.js");
    mtls.args(["--port", "0"]);
    with_server_tls(&mut mtls, &pki, true);
    let (_mtls_server, mtls_addr) = python::spawn_server("order_server.js (mTLS)", mtls);
    our_client_against_foreign_tls_server(&pki, &addr, &mtls_addr);
}

// ───────────────────────────────────────────── the binaries' TLS flags

#[test]
fn the_binaries_refuse_incomplete_tls_flags() {
    let pki = pki("flags");
    let cert = pki.server_cert.to_str().expect("UTF-8");
    let usage = |bin: &str, args: &[&str], says: &str| {
        let mut cmd = Command::new(bin);
        cmd.args(args);
        let out = python::run(bin, cmd, None, RUN_TIMEOUT);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.describe());
        assert!(out.stderr.contains(says), "{args:?}: {}", out.describe());
    };
    usage(
        ORDER_SERVER,
        &["--tls-cert", cert],
        "--tls-cert needs --tls-key",
    );
    usage(
        ORDER_SERVER,
        &["--client-ca", cert],
        "--client-ca needs TLS",
    );
    usage(
        INTEROP_SERVER,
        &["--use_tls=true", "--tls_cert_file", cert],
        "--use_tls=true needs --tls_cert_file and --tls_key_file",
    );
    usage(
        env!("CARGO_BIN_EXE_interop-client"),
        &["--server_port", "1", "--use_tls", "--use_test_ca"],
        "--use_test_ca=true needs --ca_file",
    );
    usage(
        ORDER_CLIENT,
        &["--addr", "http://127.0.0.1:1", "--ca", cert, "get", "1"],
        "need an https:// address",
    );
    usage(
        ORDER_CLIENT,
        &["--cert", cert, "get", "1"],
        "--cert and --key go together",
    );
    // A file that is not there: named, before anything is bound or dialed.
    let mut cmd = Command::new(ORDER_SERVER);
    cmd.args([
        "--addr",
        "127.0.0.1:0",
        "--tls-cert",
        "/nonexistent.pem",
        "--tls-key",
        cert,
    ]);
    let out = python::run("order-server", cmd, None, RUN_TIMEOUT);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr
            .contains("cannot read certificate chain /nonexistent.pem")
            && !out.stdout.contains("listening"),
        "{}",
        out.describe()
    );
}
