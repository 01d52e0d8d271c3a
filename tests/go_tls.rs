//! grpc-go's interop client over TLS against our `interop-server`, with grpc's own test
//! certificates (issue 16: "so foreign interop peers drive ours over TLS with grpc's own
//! test CA files").
//!
//! grpc-go 1.33.3 is built by tests/common/go.rs (as for tests/go_peer.rs); its source
//! package carries `testdata/ca.pem` and `testdata/server1.{pem,key}` (the certificate for
//! `*.test.google.fr`, `waterzooi.test.google.be`, `*.test.youtube.com` and 192.168.1.3,
//! valid until 2030), the files grpc's interop runners use. Our server takes them with
//! grpc-go's server flags, the go client connects with the flags the runners pass:
//!
//! ```text
//! interop-server --port 0 --use_tls=true --tls_cert_file server1.pem --tls_key_file server1.key
//! interop-client --use_tls --use_test_ca --ca_file ca.pem --server_host_override foo.test.google.fr
//! ```
//!
//! One go process per case (its client has no `all`), each must exit 0: every plaintext
//! case tests/go_peer.rs runs, over TLS.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{go, python};

const INTEROP_SERVER: &str = env!("CARGO_BIN_EXE_interop-server");

/// One go client process: each call in it has a deadline of 10 s or less.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// The cases of grpc-go 1.33's client that need no cloud credentials (as tests/go_peer.rs).
const GO_CLIENT_CASES: &[&str] = &[
    "empty_unary",
    "large_unary",
    "client_streaming",
    "server_streaming",
    "ping_pong",
    "empty_stream",
    "timeout_on_sleeping_server",
    "cancel_after_begin",
    "cancel_after_first_response",
    "status_code_and_message",
    "special_status_message",
    "custom_metadata",
    "unimplemented_method",
    "unimplemented_service",
];

/// grpc-go's testdata directory in the source package tests/common/go.rs unpacked.
fn grpc_testdata() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("go/gopath/src/google.golang.org/grpc/testdata");
    for file in ["ca.pem", "server1.pem", "server1.key"] {
        assert!(
            dir.join(file).is_file(),
            "grpc-go's source package has no testdata/{file} at {} (tests/common/go.rs layout \
             changed?)",
            dir.display()
        );
    }
    dir
}

#[test]
fn go_interop_client_over_tls_with_grpc_test_certs_against_our_interop_server() {
    let peer = go::go_peer();
    let testdata = grpc_testdata();
    let mut server = Command::new(INTEROP_SERVER);
    server
        .args(["--port", "0", "--use_tls=true", "--tls_cert_file"])
        .arg(testdata.join("server1.pem"))
        .arg("--tls_key_file")
        .arg(testdata.join("server1.key"));
    let (mut server, addr) = python::spawn_server("interop-server", server);
    let Some((host, port)) = addr.rsplit_once(':') else {
        panic!("interop-server: listening address {addr:?} has no port");
    };
    let mut problems = Vec::new();
    for case in GO_CLIENT_CASES {
        let mut client = peer.client(host, port, case);
        client
            .args(["--use_tls", "--use_test_ca", "--ca_file"])
            .arg(testdata.join("ca.pem"))
            .arg("--server_host_override=foo.test.google.fr");
        let name = format!("grpc-go interop-client {case} (TLS)");
        let out = python::run(&name, client, None, CASE_TIMEOUT);
        if !out.status.success() {
            problems.push(out.describe());
        }
    }
    let (_, server_stderr) = server.kill_and_collect();
    assert!(
        problems.is_empty(),
        "grpc-go {} client over TLS against our interop-server:\n{}\n--- interop-server \
         stderr ---\n{server_stderr}",
        peer.version(),
        problems.join("\n")
    );
}
