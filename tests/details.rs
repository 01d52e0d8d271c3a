//! Rich error details (issue 17) against grpcio's own implementation of the model,
//! `grpc_status.rpc_status` from PyPI's grpcio-status, both ways:
//!
//! - tests/python/details_server.py fails calls with `rpc_status.to_status(..)`; our
//!   generated client reads them with `Status::error_details()` and the typed getters.
//! - Our server fails calls with `Status::with_error_details`; tests/python/details_client.py
//!   reads them with `rpc_status.from_call`, which raises unless the google.rpc.Status
//!   inside carries the call's own code and message.
//!
//! Every standard detail type crosses with every field set, so a wrong field number in
//! proto/google/rpc/error_details.proto shows up here. The Python side installs itself on
//! first use (tests/common/python.rs).

mod common;

use std::process::Command;
use std::time::Duration as StdDuration;

use bytes::Bytes;
use h2grpc::details::{
    Any, BadRequest, DebugInfo, DetailsError, Duration, ErrorDetails, ErrorInfo, Help,
    LocalizedMessage, PreconditionFailure, QuotaFailure, RequestInfo, ResourceInfo, RetryInfo,
    bad_request, help, precondition_failure, quota_failure, rpc,
};
use h2grpc::server::{ResponseSink, Server};
use h2grpc::{Code, Request, Response, Status, Streaming};
use prost::Message;

use common::python;

#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
mod pb {
    h2grpc::include_proto!("h2grpc.test");
}

use pb::echo_client::EchoClient;
use pb::echo_server::{Echo, EchoServer};
use pb::{EchoRequest, EchoResponse};

/// The stubs the Python peers import (`from h2grpc import test_pb2`).
const PROTOS: &[&str] = &["h2grpc/test.proto"];
/// Every call here is answered at once; this only bounds a wedged peer.
const CALL_TIMEOUT: StdDuration = StdDuration::from_secs(10);
/// details_client.py: four calls, plus Python's start-up.
const CLIENT_TIMEOUT: StdDuration = StdDuration::from_secs(60);
/// `RETRY_MESSAGE` in details_server.py: '%', a newline and non-ASCII text.
const RETRY_MESSAGE: &str = "50% busy,\nréessayez";

/// `every_detail()` in details_server.py: one of each standard type, every field set,
/// then a google.protobuf.StringValue (a type `ErrorDetails` does not know).
fn every_detail() -> ErrorDetails {
    ErrorDetails {
        error_info: Some(ErrorInfo {
            reason: "STOCK_EMPTY".into(),
            domain: "shop.example".into(),
            metadata: [("sku", "42"), ("bin", "7")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }),
        retry_info: Some(RetryInfo {
            retry_delay: Some(Duration {
                seconds: 3,
                nanos: 250_000_000,
            }),
        }),
        debug_info: Some(DebugInfo {
            stack_entries: vec!["main".into(), "handler".into()],
            detail: "at line 7".into(),
        }),
        quota_failure: Some(QuotaFailure {
            violations: vec![quota_failure::Violation {
                subject: "project:demo".into(),
                description: "100 calls a minute".into(),
                api_service: "shop.example".into(),
                quota_metric: "calls".into(),
                quota_id: "per-minute".into(),
                quota_dimensions: [("region".to_owned(), "eu".to_owned())].into(),
                quota_value: 100,
                future_quota_value: Some(200),
            }],
        }),
        precondition_failure: Some(PreconditionFailure {
            violations: vec![precondition_failure::Violation {
                r#type: "TOS".into(),
                subject: "user".into(),
                description: "terms not accepted".into(),
            }],
        }),
        bad_request: Some(BadRequest {
            field_violations: vec![
                bad_request::FieldViolation {
                    field: "items[2].price".into(),
                    description: "must be positive".into(),
                    reason: "NEGATIVE".into(),
                    localized_message: Some(LocalizedMessage {
                        locale: "fr-CH".into(),
                        message: "doit être positif".into(),
                    }),
                },
                bad_request::FieldViolation {
                    field: "id".into(),
                    description: "empty".into(),
                    ..Default::default()
                },
            ],
        }),
        request_info: Some(RequestInfo {
            request_id: "req-1".into(),
            serving_data: "node 3".into(),
        }),
        resource_info: Some(ResourceInfo {
            resource_type: "order".into(),
            resource_name: "102".into(),
            owner: "alice".into(),
            description: "locked".into(),
        }),
        help: Some(Help {
            links: vec![help::Link {
                description: "pricing".into(),
                url: "https://shop.example/help".into(),
            }],
        }),
        localized_message: Some(LocalizedMessage {
            locale: "en-US".into(),
            message: "Price must be positive".into(),
        }),
        other: vec![Any {
            type_url: "type.googleapis.com/google.protobuf.StringValue".into(),
            // prost encodes a String as google.protobuf.StringValue.
            value: "an application's own detail".to_owned().encode_to_vec(),
        }],
    }
}

fn req(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.to_owned(),
        ..Default::default()
    }
}

// ── grpcio server → our client ───────────────────────────────────────────

#[tokio::test]
async fn our_client_reads_the_details_a_grpcio_server_sends() {
    let py = python::python_env_for(PROTOS);
    let (_server, addr) =
        python::spawn_server("details_server.py", py.command("details_server.py"));
    let client = EchoClient::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    let call = |case: &str| {
        let mut request = Request::new(req(case));
        request.set_timeout(CALL_TIMEOUT);
        let client = client.clone();
        async move { client.unary(request).await.unwrap_err() }
    };

    let status = call("all").await;
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(status.message(), "every detail");
    assert_eq!(status.error_details(), Ok(every_detail()));
    assert_eq!(status.bad_request(), every_detail().bad_request);
    // The unknown type is kept as sent, and readable as its own type.
    let hint = &status.error_details().unwrap().other[0];
    let text = String::decode(hint.value.as_slice()).unwrap();
    assert_eq!(text, "an application's own detail");

    let status = call("retry").await;
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unavailable, RETRY_MESSAGE)
    );
    let delay = status.retry_info().unwrap().retry_delay.unwrap();
    assert_eq!((delay.seconds, delay.nanos), (1, 500_000_000));
    assert_eq!(status.error_info().unwrap().reason, "OVERLOADED");
    assert_eq!(status.bad_request(), None);

    // Details that contradict their status are refused, as grpcio refuses them.
    let status = call("mismatch").await;
    assert_eq!((status.code(), status.message()), (Code::Internal, "gone"));
    assert_eq!(
        status.error_details(),
        Err(DetailsError::CodeMismatch {
            status: Code::Internal,
            details: Code::NotFound as i32,
        })
    );

    let status = call("plain").await;
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.details().is_empty());
    assert_eq!(status.rpc_status(), Ok(None));
    assert_eq!(status.error_details(), Ok(ErrorDetails::new()));
}

// ── our server → grpcio client ───────────────────────────────────────────

/// Fails every unary call the way `details_server.py` does, with our API.
#[derive(Debug)]
struct DetailsEcho;

impl Echo for DetailsEcho {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Err(match request.get_ref().message.as_str() {
            "all" => {
                Status::with_error_details(Code::FailedPrecondition, "every detail", every_detail())
            }
            "retry" => Status::with_error_details(
                Code::Unavailable,
                RETRY_MESSAGE,
                ErrorDetails::new()
                    .with_error_info("OVERLOADED", "shop.example", [])
                    .with_retry_delay(StdDuration::from_millis(1500)),
            ),
            "mismatch" => {
                let rich = rpc::Status {
                    code: Code::NotFound as i32,
                    message: "gone".into(),
                    details: Vec::new(),
                };
                Status::with_details(Code::Internal, "gone", Bytes::from(rich.encode_to_vec()))
            }
            "plain" => Status::not_found("nothing here"),
            other => Status::invalid_argument(format!("unknown case {other:?}")),
        })
    }

    async fn server_stream(
        &self,
        _request: Request<EchoRequest>,
        _sink: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        Err(Status::unimplemented("unary only"))
    }

    async fn client_stream(
        &self,
        _request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        Err(Status::unimplemented("unary only"))
    }

    async fn bidi(
        &self,
        _request: Request<Streaming<EchoRequest>>,
        _sink: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        Err(Status::unimplemented("unary only"))
    }
}

/// What details_client.py prints for `all retry mismatch plain` against [`DetailsEcho`]
/// (protobuf's JSON: snake_case names, sorted keys, int64 as strings, ASCII escapes).
const EXPECTED: &[&str] = &[
    r#"case all: FAILED_PRECONDITION "every detail""#,
    r#"ErrorInfo {"domain": "shop.example", "metadata": {"bin": "7", "sku": "42"}, "reason": "STOCK_EMPTY"}"#,
    r#"RetryInfo {"retry_delay": "3.250s"}"#,
    r#"DebugInfo {"detail": "at line 7", "stack_entries": ["main", "handler"]}"#,
    r#"QuotaFailure {"violations": [{"api_service": "shop.example", "description": "100 calls a minute", "future_quota_value": "200", "quota_dimensions": {"region": "eu"}, "quota_id": "per-minute", "quota_metric": "calls", "quota_value": "100", "subject": "project:demo"}]}"#,
    r#"PreconditionFailure {"violations": [{"description": "terms not accepted", "subject": "user", "type": "TOS"}]}"#,
    r#"BadRequest {"field_violations": [{"description": "must be positive", "field": "items[2].price", "localized_message": {"locale": "fr-CH", "message": "doit \u00eatre positif"}, "reason": "NEGATIVE"}, {"description": "empty", "field": "id"}]}"#,
    r#"RequestInfo {"request_id": "req-1", "serving_data": "node 3"}"#,
    r#"ResourceInfo {"description": "locked", "owner": "alice", "resource_name": "102", "resource_type": "order"}"#,
    r#"Help {"links": [{"description": "pricing", "url": "https://shop.example/help"}]}"#,
    r#"LocalizedMessage {"locale": "en-US", "message": "Price must be positive"}"#,
    r#"StringValue "an application's own detail""#,
    r#"case retry: UNAVAILABLE "50% busy,\nr\u00e9essayez""#,
    r#"ErrorInfo {"domain": "shop.example", "reason": "OVERLOADED"}"#,
    r#"RetryInfo {"retry_delay": "1.500s"}"#,
    r#"case mismatch: INTERNAL "gone" from_call raised ValueError: Code in Status proto (StatusCode.NOT_FOUND) doesn't match status code (StatusCode.INTERNAL)"#,
    r#"case plain: NOT_FOUND "nothing here" no details"#,
];

#[tokio::test]
async fn a_grpcio_client_reads_the_details_our_server_sends() {
    let py = python::python_env_for(PROTOS);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        Server::builder()
            .add_service(EchoServer::new(DetailsEcho))
            .serve_with_listener(listener, async {
                let _ = stopped.await;
            }),
    );

    let mut client = py.command("details_client.py");
    client
        .args(["--addr", &addr.to_string()])
        .args(["all", "retry", "mismatch", "plain"]);
    let out = run_blocking("details_client.py", client).await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(CALL_TIMEOUT, server).await;

    assert!(out.status.success(), "{}", out.describe());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, EXPECTED, "{}", out.describe());
}

/// `python::run` (which waits on the child) on a blocking thread, so the runtime
/// keeps serving the calls the child makes.
async fn run_blocking(name: &'static str, cmd: Command) -> python::RunOutput {
    tokio::task::spawn_blocking(move || python::run(name, cmd, None, CLIENT_TIMEOUT))
        .await
        .unwrap()
}
