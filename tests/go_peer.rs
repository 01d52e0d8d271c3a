//! grpc-go as a peer of `cargo test`: grpc-go 1.33.3's own interop server and client
//! (Debian's `golang-google-grpc`, built on first use by tests/common/go.rs: apt, the source
//! package, an offline GOPATH `go build`; 35-45 s cold, then milliseconds).
//!
//! 1. Our `interop-client` against the go interop server, one case per run, every case of
//!    the matrix ([`interop::CASES`]): PASS, except the four compression cases, pinned to
//!    FAIL with the reason they fail for ([`interop::KNOWN_LIMITS`] says why: grpc-go
//!    1.33's messages lack `expect_compressed` / `response_compressed`).
//! 2. The go interop client against our `interop-server`, each plaintext case it has
//!    ([`GO_CLIENT_CASES`]), one process per case: each must exit 0.
//! 3. Our client against the go server's FullDuplexCall, which reads a request before it
//!    writes and sends its response head lazily (with the first response), in the patterns
//!    of tests/streams_peers.rs: the call returns first, then requests are sent
//!    - on the `StreamingCall` handle (`full_duplex_call(())`: send, recv, four rounds of
//!      the interop ping_pong sizes, `close_send`, `Ok(None)`, the trailing echo);
//!    - on a request stream fed by a channel (`full_duplex_call_stream`);
//!    - and client streaming on the `ClientStreamingCall` handle
//!      (`streaming_input_call(())`: send after the call returned, `close_and_recv`, the
//!      aggregated size).
//!
//! The go server listens on every interface (it has no host flag); the tests connect to
//! 127.0.0.1 only. Both interop columns are recorded for the matrix
//! (`H2GRPC_WRITE_MATRIX=FILE cargo test --test interop_peers --test go_peer`).

mod common;

use std::future::Future;
use std::process::Command;
use std::time::Duration;

use futures::Stream;
use h2grpc::Status;
use tokio::sync::mpsc;

use common::go::{self, GoPeer};
use common::interop::{self, Column, Outcome, Role};
use common::python;

#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
mod grpc_testing {
    include!(concat!(env!("OUT_DIR"), "/grpc.testing.rs"));
}

use grpc_testing::test_service_client::TestServiceClient;
use grpc_testing::{
    Payload, ResponseParameters, StreamingInputCallRequest, StreamingOutputCallRequest,
    StreamingOutputCallResponse,
};

const INTEROP_SERVER: &str = env!("CARGO_BIN_EXE_interop-server");
const INTEROP_CLIENT: &str = env!("CARGO_BIN_EXE_interop-client");

/// The go interop client's plaintext cases (it has no compression cases). `pick_first_unary`
/// needs `server_id` filled on `fill_server_id`, which our server does.
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
    "pick_first_unary",
];

/// What our client's FAIL line says for each case the go server cannot pass
/// ([`interop::KNOWN_LIMITS`] has the why): the failure must be this one, not another.
const KNOWN_FAILURES: &[(&str, &str)] = &[
    (
        "client_compressed_unary",
        "the uncompressed probe (expect_compressed true) succeeded, expected it to fail",
    ),
    (
        "server_compressed_unary",
        "UnaryCall with response_compressed true: response compressed flag: expected true, \
         got false",
    ),
    (
        "client_compressed_streaming",
        "the uncompressed probe (expect_compressed true) succeeded, expected it to fail",
    ),
    (
        "server_compressed_streaming",
        "response 0 compressed flag: expected true, got false",
    ),
];

/// One client process, one case (ours bounds each case at 20 s, every call in the go
/// client has a deadline of 10 s or less except its blocking dial): only a wedged run.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

fn go_column(peer: &GoPeer, role: Role) -> Column {
    Column {
        peer: "grpc-go".to_owned(),
        peer_name: format!("grpc-go {}", peer.version()),
        role,
    }
}

// ---------------------------------------------------------------------------------------
// 1. Our interop-client against the go interop server.

#[test]
fn our_interop_client_against_go_interop_server() {
    let peer = go::go_peer();
    let column = go_column(&peer, Role::PeerServer);
    let server = peer.spawn_server();
    let port = server.port().to_string();

    let mut results = Vec::new();
    let mut problems = Vec::new();
    for case in interop::CASES {
        let mut client = Command::new(INTEROP_CLIENT);
        client.args([
            "--server_host",
            "127.0.0.1",
            "--server_port",
            &port,
            "--test_case",
            case,
        ]);
        let out = python::run(
            &format!("interop-client {case}"),
            client,
            None,
            CASE_TIMEOUT,
        );
        let lines = interop::parse_results(&out.stdout);
        let outcome = match lines.as_slice() {
            [(c, outcome)] if c == case => outcome.clone(),
            _ => {
                problems.push(format!("{case}: not one result line:\n{}", out.describe()));
                continue;
            }
        };
        if out.status.success() != (outcome == Outcome::Pass) {
            problems.push(format!(
                "{case}: exit status {} does not match {outcome:?}",
                out.status
            ));
        }
        let expected_failure = KNOWN_FAILURES.iter().find(|(c, _)| c == case);
        let limit = interop::known_limit(&column, case);
        assert_eq!(
            expected_failure.is_some(),
            limit.is_some(),
            "{case}: KNOWN_FAILURES here and KNOWN_LIMITS (tests/common/interop.rs) disagree"
        );
        match (&outcome, expected_failure) {
            (Outcome::Pass, None) => {}
            (Outcome::Fail(reason), None) => problems.push(format!("{case} failed: {reason}")),
            (Outcome::Pass, Some(_)) => problems.push(format!(
                "{case} passed, but KNOWN_LIMITS (tests/common/interop.rs) says grpc-go {} \
                 cannot: remove its entry there and in KNOWN_FAILURES",
                peer.version()
            )),
            (Outcome::Fail(reason), Some((_, known))) if reason == known => {}
            (Outcome::Fail(reason), Some((_, known))) => problems.push(format!(
                "{case} failed, but not for the known reason:\n    got:      {reason}\n    \
                 expected: {known}"
            )),
        }
        results.push((case.to_string(), outcome));
    }
    interop::record(&column, &results);
    assert!(
        problems.is_empty(),
        "{}:\n  {}\n--- grpc-go interop-server ---\n{}",
        column.title(),
        problems.join("\n  "),
        server.log()
    );
    assert_eq!(results.len(), interop::CASES.len());
}

// ---------------------------------------------------------------------------------------
// 2. The go interop client against our interop-server.

#[test]
fn go_interop_client_against_our_interop_server() {
    let peer = go::go_peer();
    let column = go_column(&peer, Role::PeerClient);
    let mut server = Command::new(INTEROP_SERVER);
    server.args(["--port", "0"]);
    let (mut server, addr) = python::spawn_server("interop-server", server);
    let Some((host, port)) = addr.rsplit_once(':') else {
        panic!("interop-server: listening address {addr:?} has no port");
    };
    assert_eq!(host, "127.0.0.1", "our interop-server binds 127.0.0.1");

    let mut results = Vec::new();
    let mut problems = Vec::new();
    for case in GO_CLIENT_CASES {
        let name = format!("grpc-go interop-client {case}");
        let out = python::run(&name, peer.client(host, port, case), None, CASE_TIMEOUT);
        if out.status.success() {
            results.push((case.to_string(), Outcome::Pass));
        } else {
            let last = out
                .stderr
                .lines()
                .chain(out.stdout.lines())
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_owned();
            problems.push(out.describe());
            results.push((case.to_string(), Outcome::Fail(last)));
        }
    }
    // The matrix has a row per interop::CASES entry (and counts every PASS it is given).
    results.retain(|(case, _)| interop::CASES.contains(&case.as_str()));
    interop::record(&column, &results);
    let (_, server_stderr) = server.kill_and_collect();
    assert!(
        problems.is_empty(),
        "{}:\n{}\n--- interop-server stderr ---\n{server_stderr}",
        column.title(),
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// 3. The call-first patterns against the go server's lazy head.

/// The bound on every single wait: connecting, the call returning, each send, each reply.
const STEP: Duration = Duration::from_secs(10);
/// The deadline each call carries, so the server also gives up on a stalled call.
const CALL_DEADLINE: Duration = Duration::from_secs(30);
/// How long the client-streaming test waits, with the call in flight, before a send.
const SEND_DELAY: Duration = Duration::from_millis(300);
/// The interop `ping_pong` case's sizes: (request payload, response payload).
const PING_PONG: [(usize, i32); 4] = [(27182, 31415), (8, 9), (1828, 2653), (45904, 58979)];
/// The interop `client_streaming` case's request payloads (they add up to 74922).
const CLIENT_STREAMING: [usize; 4] = [27182, 8, 1828, 45904];
/// The interop trailing echo: the go server's FullDuplexCall sets it as a trailer (and,
/// unlike the initial echo, it does not make the server send its head early).
const ECHO_TRAILING_KEY: &str = "x-grpc-test-echo-trailing-bin";
const ECHO_TRAILING_VALUE: [u8; 3] = [0xab, 0xab, 0xab];

const PEER: &str = "grpc-go interop-server";

/// Runs one test body on a fresh multi-threaded runtime.
fn block_on<F: Future>(body: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a tokio runtime")
        .block_on(body)
}

/// `fut`, or a panic naming `what` if it takes longer than [`STEP`].
async fn step<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(STEP, fut).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: nothing within {STEP:?}"),
    }
}

/// The call's return, bounded: it must come before any request is sent.
async fn call_returns<T>(call: impl Future<Output = Result<T, Status>>) -> T {
    match tokio::time::timeout(STEP, call).await {
        Ok(Ok(response)) => response,
        Ok(Err(status)) => panic!("{PEER}: the call failed: {status:?}"),
        Err(_) => panic!(
            "{PEER}: the call did not return within {STEP:?} though no request was sent yet: \
             the client waits for the response head, which grpc-go sends only with its first \
             response, to a request the caller sends after the call returns (issue 15)"
        ),
    }
}

/// `fut` (a send or close) must succeed within [`STEP`].
async fn sent(what: &str, fut: impl Future<Output = Result<(), Status>>) {
    if let Err(status) = step(what, fut).await {
        panic!("{what}: failed: {status:?}");
    }
}

/// `fut` (a `recv`) must yield a message within [`STEP`].
async fn received<T>(what: &str, fut: impl Future<Output = Result<Option<T>, Status>>) -> T {
    match step(what, fut).await {
        Ok(Some(message)) => message,
        Ok(None) => panic!("{what}: the call ended (OK) instead"),
        Err(status) => panic!("{what}: the call failed: {status:?}"),
    }
}

/// `fut` (a `recv`) must report the end of the call, OK, within [`STEP`].
async fn ended<T: std::fmt::Debug>(
    what: &str,
    fut: impl Future<Output = Result<Option<T>, Status>>,
) {
    match step(what, fut).await {
        Ok(None) => {}
        Ok(Some(message)) => panic!("{what}: expected the end, got another reply {message:?}"),
        Err(status) => panic!("{what}: expected OK, the call failed: {status:?}"),
    }
}

async fn connect(addr: &str) -> TestServiceClient {
    step(
        &format!("{PEER}: connect"),
        TestServiceClient::connect(&format!("http://{addr}")),
    )
    .await
    .unwrap_or_else(|status| panic!("{PEER}: connect failed: {status:?}"))
}

fn with_deadline<T>(message: T) -> h2grpc::Request<T> {
    let mut request = h2grpc::Request::new(message);
    request.set_timeout(CALL_DEADLINE);
    request
}

fn ping(request_bytes: usize, response_size: i32) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_parameters: vec![ResponseParameters {
            size: response_size,
            ..Default::default()
        }],
        payload: Some(Payload {
            r#type: 0, // COMPRESSABLE
            body: vec![0; request_bytes],
        }),
        ..Default::default()
    }
}

fn check_pong(pong: &StreamingOutputCallResponse, size: i32, what: &str) {
    let payload = pong
        .payload
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: response without a payload"));
    assert_eq!(payload.r#type, 0, "{what}: payload type COMPRESSABLE");
    assert_eq!(
        payload.body.len(),
        usize::try_from(size).unwrap(),
        "{what}: payload size"
    );
    assert!(
        payload.body.iter().all(|&b| b == 0),
        "{what}: payload is all zeros"
    );
}

/// A request stream fed by the returned sender; dropping the sender ends the stream.
fn channel_stream<T: Send + 'static>() -> (mpsc::Sender<T>, impl Stream<Item = T> + Send + 'static)
{
    let (tx, rx) = mpsc::channel(16);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let message = rx.recv().await?;
        Some((message, rx))
    });
    (tx, stream)
}

/// FullDuplexCall on the `StreamingCall` handle, as the interop ping_pong case: the call
/// returns (no head yet: the go server writes nothing before it has read), then `send` one
/// request and `recv` its one reply, four times; `close_send`, then `recv` is `Ok(None)`
/// and the trailers carry the trailing echo.
#[test]
fn full_duplex_handle_ping_pong_against_go_server() {
    let peer = go::go_peer();
    let server = peer.spawn_server();
    block_on(async {
        let client = connect(&server.addr()).await;
        let mut request = with_deadline(());
        request
            .metadata_mut()
            .insert_bin(ECHO_TRAILING_KEY, ECHO_TRAILING_VALUE)
            .expect("insert the trailing echo");
        let mut call = call_returns(client.full_duplex_call(request)).await;

        for (n, (request_bytes, response_size)) in PING_PONG.into_iter().enumerate() {
            let what = format!("{PEER}: ping {n} (asks for {response_size} bytes)");
            sent(&what, call.send(&ping(request_bytes, response_size))).await;
            let pong = received(&format!("{what}: its pong"), call.recv()).await;
            check_pong(&pong, response_size, &what);
        }
        sent(&format!("{PEER}: close_send"), call.close_send()).await;
        ended(&format!("{PEER}: the end of FullDuplexCall"), call.recv()).await;

        let trailers = call
            .trailers()
            .unwrap_or_else(|| panic!("{PEER}: no trailers though the call has ended"));
        let echo = trailers
            .get_bin(ECHO_TRAILING_KEY)
            .unwrap_or_else(|| panic!("{PEER}: {ECHO_TRAILING_KEY} missing from {trailers:?}"))
            .unwrap_or_else(|e| panic!("{PEER}: {ECHO_TRAILING_KEY} does not decode: {e}"));
        assert_eq!(&echo[..], &ECHO_TRAILING_VALUE[..], "{PEER}: trailing echo");
    });
}

/// FullDuplexCall with a request stream fed by a channel: the call is awaited first, and
/// only then is each request sent, each reply checked before the next; dropping the sender
/// half-closes, and the stream ends OK.
#[test]
fn full_duplex_channel_fed_ping_pong_against_go_server() {
    let peer = go::go_peer();
    let server = peer.spawn_server();
    block_on(async {
        let client = connect(&server.addr()).await;
        let (tx, requests) = channel_stream::<StreamingOutputCallRequest>();
        let response = call_returns(client.full_duplex_call_stream(with_deadline(requests))).await;
        let mut replies = response.into_inner();

        for (n, (request_bytes, response_size)) in PING_PONG.into_iter().enumerate() {
            let what = format!("{PEER}: ping {n} (asks for {response_size} bytes)");
            step(&what, tx.send(ping(request_bytes, response_size)))
                .await
                .unwrap_or_else(|_| panic!("{what}: the request stream was dropped"));
            let pong = received(&format!("{what}: its pong"), replies.message()).await;
            check_pong(&pong, response_size, &what);
        }
        drop(tx);
        ended(
            &format!("{PEER}: the end of FullDuplexCall"),
            replies.message(),
        )
        .await;
    });
}

/// StreamingInputCall on the `ClientStreamingCall` handle: the call returns, each request
/// is sent after a delay, then `close_and_recv`; the reply adds up the payloads.
#[test]
fn streaming_input_handle_against_go_server() {
    let peer = go::go_peer();
    let server = peer.spawn_server();
    block_on(async {
        let client = connect(&server.addr()).await;
        let mut call = call_returns(client.streaming_input_call(with_deadline(()))).await;
        for (n, bytes) in CLIENT_STREAMING.into_iter().enumerate() {
            tokio::time::sleep(SEND_DELAY).await;
            let request = StreamingInputCallRequest {
                payload: Some(Payload {
                    r#type: 0,
                    body: vec![0; bytes],
                }),
                ..Default::default()
            };
            let what = format!("{PEER}: request {n} ({bytes} bytes)");
            sent(&what, call.send(&request)).await;
        }
        let reply = step(&format!("{PEER}: close_and_recv"), call.close_and_recv())
            .await
            .unwrap_or_else(|status| panic!("{PEER}: StreamingInputCall failed: {status:?}"));
        let total: usize = CLIENT_STREAMING.iter().sum();
        assert_eq!(
            usize::try_from(reply.get_ref().aggregated_payload_size).unwrap(),
            total,
            "{PEER}: aggregated_payload_size"
        );
    });
}
