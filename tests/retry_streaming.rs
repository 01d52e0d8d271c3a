//! Retries (gRFC A6) of client-streaming and bidi calls against a server
//! that fails on purpose: the request messages are replayed on each new
//! attempt until the call commits (response headers, or more kept than the
//! 256 KiB per-call buffer), and grpcio given the same service config
//! (tests/python/retry_stream_client.py) makes the same attempts. A call a
//! GOAWAY refused unseen is sent again at once, not counted as an attempt.
//!
//! The server is told how to fail by metadata (the messages come too late
//! for that): `x-name` names the call (attempts are counted per name),
//! `x-fail` how many attempts fail with UNAVAILABLE, `x-mode` when:
//! `before-read` (default; a Trailers-Only answer before reading anything),
//! `after-read-2` (after reading two messages, still before any header),
//! `headers-then-fail` (bidi: one reply, so the head went out, then fail).

mod common;

mod retry_streaming_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use h2grpc::client::Channel;
use h2grpc::codec::ProstCodec;
use h2grpc::{Code, Request, Status};
use retry_streaming_support::pb::{EchoRequest, EchoResponse};
use retry_streaming_support::{FlakyServer, refusing_proxy};

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

#[tokio::test]
async fn a_bidi_call_a_goaway_refused_unseen_goes_again_uncounted() {
    let server = FlakyServer::start().await;
    let (uri, connections) = refusing_proxy(server.addr).await;
    let channel = Channel::builder(&uri)
        .service_config_json(SERVICE_CONFIG)
        .connect_lazy()
        .unwrap();
    let call = async {
        let mut call = channel
            .streaming_call(BIDI, head("bidi-refused", 0, "before-read"), codec())
            .await?;
        call.send(&msg("hello")).await?;
        let reply = call.recv().await?;
        call.close_send().await?;
        let end = call.recv().await?;
        Ok::<_, Status>((reply, end))
    };
    let (reply, end) = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("no hang")
        .expect("the call goes to the second connection");
    assert_eq!(reply.expect("a reply").message, "hello");
    assert!(end.is_none());
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    // The refused attempt never reached the server, and is not counted.
    assert_eq!(server.previous("bidi-refused"), attempts_header(1));
    assert_eq!(server.messages_of_last("bidi-refused"), words(&["hello"]));
}

#[tokio::test]
async fn the_deadline_spans_all_attempts_of_a_streaming_call() {
    let server = FlakyServer::start().await;
    // Backoffs of random(0, 5 s): without the deadline 4 attempts could take 15 s.
    let json = SERVICE_CONFIG.replace("0.01s", "5s").replace("0.05s", "5s");
    let channel = server.channel(Some(&json));
    let mut request = head("bidi-slow", 100, "before-read");
    request.set_timeout(Duration::from_millis(250));
    let started = std::time::Instant::now();
    let mut call = channel
        .streaming_call(BIDI, request, codec())
        .await
        .unwrap();
    // A send only queues for the driver: it cannot see the failures.
    call.send(&msg("a")).await.unwrap();
    let err = call.recv().await.unwrap_err();
    // The deadline ran out in a backoff wait, or (rarely: random backoffs
    // all short) the last attempt's status came back before it.
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Unavailable),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(!server.previous("bidi-slow").is_empty());
}

#[tokio::test]
async fn throttling_counts_streaming_failures_and_successes() {
    let server = FlakyServer::start().await;
    let throttled = "\n  }],\n  \"retryThrottling\": { \"maxTokens\": 4, \"tokenRatio\": 0.5 }\n}";
    let json = SERVICE_CONFIG.replace("\n  }]\n}", throttled);
    assert_ne!(json, SERVICE_CONFIG);
    let channel = server.channel(Some(&json));
    let call = |name: &str, failures: u32| {
        let channel = channel.clone();
        let request =
            head(name, failures, "before-read").map(|()| futures::stream::iter(["m"].map(msg)));
        async move {
            let reply = channel.client_streaming(CLIENT_STREAM, request, codec());
            reply.await.map(drop)
        }
    };
    // 4 tokens, retries while more than 2 are left: t1 fails twice (4 → 3,
    // retried; 3 → 2, not), t2 once (2 → 1, not).
    call("t1", 100).await.unwrap_err();
    call("t2", 100).await.unwrap_err();
    // Five successes give 2.5 back (3.5): the next failing call is retried
    // once (3.5 → 2.5, retried; 2.5 → 1.5, not).
    for name in ["ok0", "ok1", "ok2", "ok3", "ok4"] {
        call(name, 0).await.unwrap();
    }
    call("t3", 100).await.unwrap_err();
    let attempts = ["t1", "t2", "t3"].map(|name| server.previous(name).len());
    assert_eq!(attempts, [2, 1, 2]);
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
