//! Retries (gRFC A6) of client-streaming and bidi calls against a server
//! that fails on purpose: the request messages are replayed on each new
//! attempt until the call commits (response headers, or more kept than the
//! 256 KiB per-call buffer), and grpcio given the same service config
//! (tests/python/retry_stream_client.py) makes the same attempts.
//!
//! The server is told how to fail by metadata (the messages come too late
//! for that): `x-name` names the call (attempts are counted per name),
//! `x-fail` how many attempts fail with UNAVAILABLE, `x-mode` when:
//! `before-read` (default; a Trailers-Only answer before reading anything),
//! `after-read-2` (after reading two messages, still before any header),
//! `headers-then-fail` (bidi: one reply, so the head went out, then fail).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use h2grpc::client::Channel;
use h2grpc::codec::ProstCodec;
use h2grpc::server::{ResponseSink, Server};
use h2grpc::{Code, Request, Response, Status, Streaming};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
mod pb {
    include!(concat!(env!("OUT_DIR"), "/h2grpc.test.rs"));
}

use pb::echo_server::{Echo, EchoServer};
use pb::{EchoRequest, EchoResponse};

/// Retry UNAVAILABLE, 4 attempts, quick backoff: given to both clients.
const SERVICE_CONFIG: &str = r#"{
  "methodConfig": [{
    "name": [{ "service": "h2grpc.test.Echo" }],
    "retryPolicy": {
      "maxAttempts": 4,
      "initialBackoff": "0.01s",
      "maxBackoff": "0.05s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
}"#;

const CLIENT_STREAM: &str = "/h2grpc.test.Echo/ClientStream";
const BIDI: &str = "/h2grpc.test.Echo/Bidi";

/// One attempt as the server saw it.
#[derive(Clone, Debug, Default)]
struct Attempt {
    /// Its `grpc-previous-rpc-attempts` header.
    previous: Option<String>,
    /// The messages it read, in order.
    messages: Vec<String>,
}

#[derive(Clone, Default)]
struct Flaky {
    attempts: Arc<Mutex<HashMap<String, Vec<Attempt>>>>,
}

/// What the metadata asks of one attempt.
struct Plan {
    name: String,
    /// This attempt's index (0 for the first).
    index: usize,
    fails: bool,
    mode: String,
}

impl Flaky {
    fn plan<T>(&self, request: &Request<T>) -> Plan {
        let md = request.metadata();
        let name = md.get("x-name").unwrap_or("unnamed").to_owned();
        let failures: usize = md.get("x-fail").and_then(|f| f.parse().ok()).unwrap_or(0);
        let previous = md.get("grpc-previous-rpc-attempts").map(str::to_owned);
        let mut all = self.attempts.lock().unwrap();
        let list = all.entry(name.clone()).or_default();
        list.push(Attempt {
            previous,
            messages: Vec::new(),
        });
        let index = list.len() - 1;
        Plan {
            name,
            index,
            fails: index < failures,
            mode: md.get("x-mode").unwrap_or("before-read").to_owned(),
        }
    }

    fn record(&self, plan: &Plan, message: &EchoRequest) {
        let mut all = self.attempts.lock().unwrap();
        all.get_mut(&plan.name).unwrap()[plan.index]
            .messages
            .push(message.message.clone());
    }

    fn seen(&self, name: &str) -> Vec<Attempt> {
        let all = self.attempts.lock().unwrap();
        all.get(name).cloned().unwrap_or_default()
    }
}

fn unavailable() -> Status {
    Status::new(Code::Unavailable, "failing on purpose")
}

impl Echo for Flaky {
    async fn unary(&self, _: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Err(Status::unimplemented("not used here"))
    }

    async fn server_stream(
        &self,
        _: Request<EchoRequest>,
        _: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        Err(Status::unimplemented("not used here"))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        let plan = self.plan(&request);
        if plan.fails && plan.mode == "before-read" {
            return Err(unavailable());
        }
        let mut messages = request.into_inner();
        let mut read = 0;
        while let Some(message) = messages.message().await? {
            self.record(&plan, &message);
            read += 1;
            if plan.fails && read == 2 {
                return Err(unavailable());
            }
        }
        Ok(Response::new(EchoResponse {
            message: plan.name,
            index: plan.index as u32,
            padding: Vec::new(),
        }))
    }

    async fn bidi(
        &self,
        request: Request<Streaming<EchoRequest>>,
        mut sink: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        let plan = self.plan(&request);
        if plan.fails && plan.mode == "before-read" {
            return Err(unavailable());
        }
        let mut messages = request.into_inner();
        while let Some(message) = messages.message().await? {
            self.record(&plan, &message);
            sink.send(&EchoResponse {
                message: message.message,
                index: plan.index as u32,
                padding: Vec::new(),
            })
            .await?;
            if plan.mode == "headers-then-fail" {
                return Err(unavailable());
            }
        }
        Ok(())
    }
}

/// The flaky server on 127.0.0.1:0; stops when dropped.
struct FlakyServer {
    addr: SocketAddr,
    service: Flaky,
    _stop: oneshot::Sender<()>,
}

impl FlakyServer {
    async fn start() -> FlakyServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = Flaky::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let builder = Server::builder().add_service(EchoServer::new(service.clone()));
        tokio::spawn(builder.serve_with_listener(listener, async {
            let _ = stopped.await;
        }));
        FlakyServer {
            addr,
            service,
            _stop: stop,
        }
    }

    fn channel(&self, service_config: Option<&str>) -> Channel {
        let uri = format!("http://{}", self.addr);
        let builder = Channel::builder(&uri);
        let builder = match service_config {
            Some(json) => builder.service_config_json(json),
            None => builder,
        };
        builder.connect_lazy().unwrap()
    }

    /// The `grpc-previous-rpc-attempts` header of each attempt of `name`.
    fn previous(&self, name: &str) -> Vec<Option<String>> {
        let seen = self.service.seen(name);
        seen.into_iter().map(|a| a.previous).collect()
    }

    fn messages_of_last(&self, name: &str) -> Vec<String> {
        let seen = self.service.seen(name);
        seen.last().map(|a| a.messages.clone()).unwrap_or_default()
    }
}

fn codec() -> ProstCodec<EchoRequest, EchoResponse> {
    ProstCodec::default()
}

fn head(name: &str, failures: u32, mode: &str) -> Request<()> {
    let mut request = Request::new(());
    let md = request.metadata_mut();
    md.insert("x-name", name).unwrap();
    md.insert("x-fail", &failures.to_string()).unwrap();
    md.insert("x-mode", mode).unwrap();
    request.set_timeout(Duration::from_secs(10));
    request
}

fn msg(text: &str) -> EchoRequest {
    EchoRequest {
        message: text.into(),
        ..EchoRequest::default()
    }
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| w.to_string()).collect()
}

fn attempts_header(n: usize) -> Vec<Option<String>> {
    (0..n).map(|i| (i > 0).then(|| i.to_string())).collect()
}

#[tokio::test]
async fn a_client_stream_refused_before_reading_is_replayed_in_order() {
    let server = FlakyServer::start().await;
    let channel = server.channel(Some(SERVICE_CONFIG));
    let request = head("cs-twice", 2, "before-read");
    let mut call = channel
        .client_streaming_call(CLIENT_STREAM, request, codec())
        .await
        .unwrap();
    // Pauses between sends: the first attempts fail while the call is still
    // sending, so the later messages go to an attempt the earlier replayed on.
    for word in ["a", "b", "c"] {
        call.send(&msg(word)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let reply = call.close_and_recv().await.unwrap();
    assert_eq!(reply.get_ref().index, 2, "answered by the third attempt");
    assert_eq!(server.previous("cs-twice"), attempts_header(3));
    assert_eq!(server.messages_of_last("cs-twice"), words(&["a", "b", "c"]));

    // The stream-style call too, and a call that runs out of attempts.
    let request =
        head("cs-stream", 1, "before-read").map(|()| futures::stream::iter(["x", "y"].map(msg)));
    let reply = channel
        .client_streaming(CLIENT_STREAM, request, codec())
        .await
        .unwrap();
    assert_eq!(reply.get_ref().index, 1);
    assert_eq!(server.messages_of_last("cs-stream"), words(&["x", "y"]));
    let request =
        head("cs-always", 100, "before-read").map(|()| futures::stream::iter(["x"].map(msg)));
    let err = channel
        .client_streaming(CLIENT_STREAM, request, codec())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(err.message(), "failing on purpose");
    assert_eq!(server.previous("cs-always"), attempts_header(4));
}

#[tokio::test]
async fn a_bidi_call_refused_before_its_head_is_replayed_and_keeps_working() {
    let server = FlakyServer::start().await;
    let channel = server.channel(Some(SERVICE_CONFIG));
    let mut call = channel
        .streaming_call(BIDI, head("bidi-twice", 2, "before-read"), codec())
        .await
        .unwrap();
    call.send(&msg("ping")).await.unwrap();
    let reply = call.recv().await.unwrap().expect("a reply");
    assert_eq!((reply.message.as_str(), reply.index), ("ping", 2));
    call.send(&msg("pong")).await.unwrap();
    let reply = call.recv().await.unwrap().expect("a reply");
    assert_eq!((reply.message.as_str(), reply.index), ("pong", 2));
    call.close_send().await.unwrap();
    assert!(call.recv().await.unwrap().is_none());
    assert_eq!(server.previous("bidi-twice"), attempts_header(3));
    assert_eq!(
        server.messages_of_last("bidi-twice"),
        words(&["ping", "pong"])
    );
}

#[tokio::test]
async fn a_call_whose_headers_arrived_is_committed() {
    let server = FlakyServer::start().await;
    let channel = server.channel(Some(SERVICE_CONFIG));
    let mut call = channel
        .streaming_call(
            BIDI,
            head("bidi-committed", 100, "headers-then-fail"),
            codec(),
        )
        .await
        .unwrap();
    call.send(&msg("one")).await.unwrap();
    let reply = call
        .recv()
        .await
        .unwrap()
        .expect("the reply before the failure");
    assert_eq!(reply.message, "one");
    let err = call.recv().await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(server.previous("bidi-committed"), attempts_header(1));
}

/// A client-streaming call of two messages of `bytes` each, against a
/// server that fails the first attempt after reading both.
async fn two_messages_then_fail(
    server: &FlakyServer,
    name: &str,
    bytes: usize,
) -> Result<u32, Status> {
    let channel = server.channel(Some(SERVICE_CONFIG));
    let mut call = channel
        .client_streaming_call(CLIENT_STREAM, head(name, 1, "after-read-2"), codec())
        .await?;
    for tag in ["1", "2"] {
        let text = format!("{tag}{}", "x".repeat(bytes));
        call.send(&msg(&text)).await?;
    }
    call.close_and_recv().await.map(|r| r.get_ref().index)
}

#[tokio::test]
async fn more_than_the_per_call_buffer_commits_the_call() {
    let server = FlakyServer::start().await;
    // 2 × 1 KiB stays under 256 KiB: the failure is retried.
    let index = two_messages_then_fail(&server, "small", 1024)
        .await
        .unwrap();
    assert_eq!(index, 1);
    assert_eq!(server.previous("small"), attempts_header(2));
    assert_eq!(server.messages_of_last("small").len(), 2);
    // 2 × 200 KiB does not: committed, the first attempt's failure is the call's.
    let err = two_messages_then_fail(&server, "big", 200 * 1024)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(server.previous("big"), attempts_header(1));
    assert_eq!(h2grpc::client::PER_RPC_RETRY_BUFFER_BYTES, 256 * 1024);
}

#[tokio::test]
async fn without_a_policy_nothing_is_retried() {
    let server = FlakyServer::start().await;
    let channel = server.channel(None);
    let mut call = channel
        .client_streaming_call(CLIENT_STREAM, head("plain", 1, "before-read"), codec())
        .await
        .unwrap();
    // The send may already see the stream closed; the status is the reply's.
    let _ = call.send(&msg("a")).await;
    let err = call.close_and_recv().await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(server.previous("plain"), attempts_header(1));
}

// ── grpcio with the same service config → the same server ─────────────────

/// Cases as `name:failures:mode:message_bytes`, run by both clients; each
/// sends three messages ("m0-…", "m1-…", "m2-…" of `message_bytes` padding).
const CASES: &[&str] = &[
    "twice:2:before-read:8",
    "always:100:before-read:8",
    "after-two:1:after-read-2:8",
    "big:1:after-read-2:150000",
];

/// What each client's call ended with, the attempts the server saw, and how
/// many messages the last attempt read.
const EXPECTED: &[&str] = &[
    "case twice: OK index=2 attempts=3 last_read=3",
    "case always: UNAVAILABLE attempts=4 last_read=0",
    "case after-two: OK index=1 attempts=2 last_read=3",
    "case big: UNAVAILABLE attempts=1 last_read=2",
];

fn seen_line(server: &FlakyServer, outcome: &str, name: &str) -> String {
    let previous = server.previous(name);
    assert_eq!(previous, attempts_header(previous.len()), "{name}");
    let read = server.messages_of_last(name).len();
    format!("{outcome} attempts={} last_read={read}", previous.len())
}

async fn ours(channel: &Channel, name: &str, failures: u32, mode: &str, bytes: usize) -> String {
    let messages = (0..3).map(move |i| msg(&format!("m{i}-{}", "x".repeat(bytes))));
    let request = head(name, failures, mode).map(|()| futures::stream::iter(messages));
    match channel
        .client_streaming(CLIENT_STREAM, request, codec())
        .await
    {
        Ok(reply) => format!("OK index={}", reply.get_ref().index),
        Err(status) => status.code().as_str().to_owned(),
    }
}

#[tokio::test]
async fn grpcio_with_the_same_service_config_makes_the_same_attempts() {
    let py = common::python::python_env_for(&["h2grpc/test.proto"]);
    let server = FlakyServer::start().await;
    let channel = server.channel(Some(SERVICE_CONFIG));
    let mut mine = Vec::new();
    for case in CASES {
        let parts: Vec<&str> = case.split(':').collect();
        let name = format!("rs-{}", parts[0]);
        let (failures, bytes) = (parts[1].parse().unwrap(), parts[3].parse().unwrap());
        let outcome = ours(&channel, &name, failures, parts[2], bytes).await;
        let outcome = format!("case {}: {outcome}", parts[0]);
        mine.push(seen_line(&server, &outcome, &name));
    }
    assert_eq!(mine, EXPECTED);

    let mut cmd = py.command("retry_stream_client.py");
    cmd.args(["--addr", &server.addr.to_string()])
        .args(["--service-config", SERVICE_CONFIG])
        .args(CASES.iter().map(|c| format!("py-{c}")));
    let out = tokio::task::spawn_blocking(move || {
        common::python::run("retry_stream_client.py", cmd, None, Duration::from_secs(60))
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", out.describe());
    let theirs: Vec<String> = out
        .stdout
        .lines()
        .zip(CASES)
        .map(|(line, case)| {
            let name = format!("py-{}", case.split(':').next().unwrap());
            seen_line(&server, &line.replace("py-", ""), &name)
        })
        .collect();
    assert_eq!(theirs, EXPECTED, "{}", out.describe());
}
