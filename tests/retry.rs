//! Retries (gRFC A6) against a server that fails on purpose
//! (tests/retry_support): how many attempts it sees, what
//! `grpc-previous-rpc-attempts` they carry, a call committed by its response
//! headers, throttling and server pushback; and grpcio given the same
//! service config (tests/python/retry_client.py) making the same attempts.

mod retry_support;

use std::time::Duration;

use h2grpc::client::{Channel, MethodConfig, RetryPolicy, RetryThrottling, ServiceConfig};
use h2grpc::{Code, Request};
use retry_support::FlakyServer;
use retry_support::pb::EchoRequest;
use retry_support::pb::echo_client::EchoClient;

/// What both clients are given: retry UNAVAILABLE, 4 attempts, quick backoff.
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

fn req(name: &str, failures: u32, code: Code) -> Request<EchoRequest> {
    let mut request = Request::new(EchoRequest {
        message: name.into(),
        count: failures,
        fail_code: code as i32,
        ..EchoRequest::default()
    });
    request.set_timeout(Duration::from_secs(10));
    request
}

fn client(server: &FlakyServer, json: &str) -> EchoClient {
    let channel = Channel::builder(&server.uri())
        .service_config_json(json)
        .connect_lazy()
        .unwrap();
    EchoClient::new(channel)
}

fn previous(server: &FlakyServer, name: &str) -> Vec<Option<String>> {
    server
        .service
        .seen(name)
        .into_iter()
        .map(|a| a.previous)
        .collect()
}

#[tokio::test]
async fn fails_twice_then_succeeds_on_the_third_attempt() {
    let server = FlakyServer::start().await;
    let client = client(&server, SERVICE_CONFIG);
    let reply = client
        .unary(req("twice", 2, Code::Unavailable))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().index, 2, "answered by the third attempt");
    assert_eq!(
        previous(&server, "twice"),
        [None, Some("1".into()), Some("2".into())]
    );
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let server = FlakyServer::start().await;
    let client = client(&server, SERVICE_CONFIG);
    let err = client
        .unary(req("always", 100, Code::Unavailable))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(err.message(), "failing on purpose");
    assert_eq!(server.service.seen("always").len(), 4);
}

#[tokio::test]
async fn codes_not_listed_and_channels_without_a_policy_do_not_retry() {
    let server = FlakyServer::start().await;
    let err = client(&server, SERVICE_CONFIG)
        .unary(req("internal", 1, Code::Internal))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    assert_eq!(server.service.seen("internal").len(), 1);
    let plain = EchoClient::new(Channel::connect_lazy(&server.uri()).unwrap());
    let err = plain
        .unary(req("plain", 1, Code::Unavailable))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(previous(&server, "plain"), [None]);
}

#[tokio::test]
async fn a_call_is_committed_once_response_headers_arrive() {
    let server = FlakyServer::start().await;
    let client = client(&server, SERVICE_CONFIG);
    let mut stream = client
        .server_stream(req("headers-then-fail", 100, Code::Unavailable))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().expect("one message");
    assert_eq!(first.index, 0);
    let err = stream.message().await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(server.service.seen("headers-then-fail").len(), 1);
}

#[tokio::test]
async fn throttling_stops_retries_while_calls_fail() {
    let server = FlakyServer::start().await;
    // 4 tokens, retries while more than 2 are left: the first call fails
    // twice (4 → 3, retried; 3 → 2, not), every later call once.
    let config = ServiceConfig::new()
        .method(
            MethodConfig::new()
                .name("h2grpc.test.Echo", None)
                .retry_policy(
                    RetryPolicy::new(5, &[Code::Unavailable])
                        .initial_backoff(Duration::from_millis(5))
                        .max_backoff(Duration::from_millis(10)),
                ),
        )
        .retry_throttling(RetryThrottling::new(4, 0.5));
    let channel = Channel::builder(&server.uri())
        .service_config(config)
        .connect_lazy()
        .unwrap();
    let client = EchoClient::new(channel);
    let mut attempts = Vec::new();
    for name in ["t1", "t2", "t3"] {
        let err = client
            .unary(req(name, 100, Code::Unavailable))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable);
        attempts.push(server.service.seen(name).len());
    }
    assert_eq!(attempts, [2, 1, 1]);
    // Successes earn tokens back, 0.5 each: five make 2.5, and a failure
    // then leaves 1.5 (no retry); four more make 3.5, and the next failing
    // call is retried once (3.5 → 2.5, retried; → 1.5, not).
    let succeed = |n: u32| {
        let client = client.clone();
        async move {
            for i in 0..n {
                client
                    .unary(req(&format!("ok{n}-{i}"), 0, Code::Unavailable))
                    .await
                    .unwrap();
            }
        }
    };
    succeed(5).await;
    client
        .unary(req("t4", 100, Code::Unavailable))
        .await
        .unwrap_err();
    succeed(4).await;
    client
        .unary(req("t5", 100, Code::Unavailable))
        .await
        .unwrap_err();
    assert_eq!(server.service.seen("t4").len(), 1);
    assert_eq!(server.service.seen("t5").len(), 2);
}

#[tokio::test]
async fn server_pushback_sets_the_delay_or_stops_retries() {
    let server = FlakyServer::start().await;
    let client = client(&server, SERVICE_CONFIG);
    let mut request = req("pushed", 1, Code::Unavailable);
    request.metadata_mut().insert("x-pushback", "300").unwrap();
    client.unary(request).await.unwrap();
    let seen = server.service.seen("pushed");
    assert_eq!(seen.len(), 2);
    let waited = seen[1].at - seen[0].at;
    // initialBackoff alone would be at most 10 ms.
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");

    let mut request = req("refused", 3, Code::Unavailable);
    request.metadata_mut().insert("x-pushback", "-1").unwrap();
    let err = client.unary(request).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(
        server.service.seen("refused").len(),
        1,
        "negative pushback: no retry"
    );
}

#[tokio::test]
async fn the_deadline_spans_all_attempts() {
    let server = FlakyServer::start().await;
    // A6 backoff is random(0, current): with up to 5 s, three waits all
    // fitting in the 250 ms deadline (4 attempts) is vanishingly unlikely.
    let json = SERVICE_CONFIG.replace("0.01s", "5s").replace("0.05s", "5s");
    let client = client(&server, &json);
    let mut request = req("slow", 100, Code::Unavailable);
    request.set_timeout(Duration::from_millis(250));
    let started = std::time::Instant::now();
    let err = client.unary(request).await.unwrap_err();
    // Either the deadline ran out during a backoff wait, or the last
    // attempt's status came back before it: never more than the deadline.
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Unavailable),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(server.service.seen("slow").len() < 4);
}

#[test]
fn a_bad_service_config_fails_channel_creation() {
    let json = SERVICE_CONFIG.replace("\"maxAttempts\": 4", "\"maxAttempts\": 1");
    let err = Channel::builder("http://127.0.0.1:1")
        .service_config_json(&json)
        .connect_lazy()
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message()
            .contains("methodConfig[0].retryPolicy.maxAttempts"),
        "{err:?}"
    );
}

// ── grpcio with the same service config → our server ─────────────────────

mod common;

/// Cases as `name:failures:code[:pushback]`, run by both clients.
const CASES: &[&str] = &[
    "twice:2:14",
    "always:100:14",
    "internal:1:13",
    "pushed:1:14:50",
    "refused:3:14:-1",
];

/// What each client's calls ended with, and the attempts the server saw:
/// their count and `grpc-previous-rpc-attempts` headers.
const EXPECTED: &[&str] = &[
    "case twice: OK index=2 attempts=[None, Some(\"1\"), Some(\"2\")]",
    "case always: UNAVAILABLE attempts=[None, Some(\"1\"), Some(\"2\"), Some(\"3\")]",
    "case internal: INTERNAL attempts=[None]",
    "case pushed: OK index=1 attempts=[None, Some(\"1\")]",
    "case refused: UNAVAILABLE attempts=[None]",
];

fn seen_line(server: &FlakyServer, outcome: &str, name: &str) -> String {
    format!("{outcome} attempts={:?}", previous(server, name))
}

#[tokio::test]
async fn grpcio_with_the_same_service_config_makes_the_same_attempts() {
    let py = common::python::python_env_for(&["h2grpc/test.proto"]);
    let server = FlakyServer::start().await;

    // Ours, named "rs-…".
    let client = client(&server, SERVICE_CONFIG);
    let mut ours = Vec::new();
    for case in CASES {
        let parts: Vec<&str> = case.split(':').collect();
        let name = format!("rs-{}", parts[0]);
        let mut request = req(
            &name,
            parts[1].parse().unwrap(),
            Code::from_i32(parts[2].parse().unwrap()),
        );
        if let Some(ms) = parts.get(3) {
            request.metadata_mut().insert("x-pushback", ms).unwrap();
        }
        let outcome = match client.unary(request).await {
            Ok(reply) => format!("case {}: OK index={}", parts[0], reply.get_ref().index),
            Err(status) => format!("case {}: {}", parts[0], status.code().as_str()),
        };
        ours.push(seen_line(&server, &outcome, &name));
    }
    assert_eq!(ours, EXPECTED);

    // grpcio's, named "py-…".
    let mut cmd = py.command("retry_client.py");
    cmd.args(["--addr", &server.addr.to_string()])
        .args(["--service-config", SERVICE_CONFIG])
        .args(CASES.iter().map(|c| format!("py-{c}")));
    let out = tokio::task::spawn_blocking(move || {
        common::python::run("retry_client.py", cmd, None, Duration::from_secs(60))
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
