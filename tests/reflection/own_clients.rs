//! Our generated reflection clients against the in-process server (tests/reflection.rs):
//! the v1 client sends every request kind, errors included, on one stream before reading
//! any answer; the v1alpha client asks one at a time on the same server.

use std::time::Duration;

use h2grpc::Request;
use h2grpc::reflection::{v1, v1alpha};
use prost::Message;
use prost_types::FileDescriptorProto;

use v1::server_reflection_request::MessageRequest;
use v1::server_reflection_response::MessageResponse;
use v1::{ExtensionRequest, ServerReflectionRequest, ServerReflectionResponse};

use super::{CALL_TIMEOUT, spawn_reflection_server};

const NOT_FOUND: i32 = 5;
const UNIMPLEMENTED: i32 = 12;
const HOST: &str = "orders.example:443";

/// What one answer should be: its file names, its numbers, its services or its error.
#[derive(Debug, PartialEq)]
enum Answer {
    Files(Vec<String>),
    Numbers(String, Vec<i32>),
    Services(Vec<String>),
    Error(i32),
}

fn files(names: &[&str]) -> Answer {
    Answer::Files(names.iter().map(|n| (*n).to_owned()).collect())
}

fn answer(response: &ServerReflectionResponse) -> Answer {
    match response
        .message_response
        .as_ref()
        .expect("one answer per request")
    {
        MessageResponse::FileDescriptorResponse(found) => Answer::Files(
            found
                .file_descriptor_proto
                .iter()
                .map(|bytes| {
                    FileDescriptorProto::decode(bytes.as_slice())
                        .expect("a FileDescriptorProto")
                        .name()
                        .to_owned()
                })
                .collect(),
        ),
        MessageResponse::AllExtensionNumbersResponse(numbers) => Answer::Numbers(
            numbers.base_type_name.clone(),
            numbers.extension_number.clone(),
        ),
        MessageResponse::ListServicesResponse(list) => {
            Answer::Services(list.service.iter().map(|s| s.name.clone()).collect())
        }
        MessageResponse::ErrorResponse(error) => {
            assert!(!error.error_message.is_empty(), "{error:?}");
            Answer::Error(error.error_code)
        }
    }
}

fn ask(kind: Option<MessageRequest>) -> ServerReflectionRequest {
    ServerReflectionRequest {
        host: HOST.into(),
        message_request: kind,
    }
}

fn extension(containing_type: &str, extension_number: i32) -> MessageRequest {
    MessageRequest::FileContainingExtension(ExtensionRequest {
        containing_type: containing_type.into(),
        extension_number,
    })
}

const ORDER: &str = "order_management.proto";
const WRAPPERS: &str = "google/protobuf/wrappers.proto";
const BASE: &str = "test/base.proto";
const EXT: &str = "test/ext.proto";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_client_every_request_kind_on_one_stream() {
    let (addr, _stop) = spawn_reflection_server().await;
    let client =
        v1::server_reflection_client::ServerReflectionClient::connect(&format!("http://{addr}"))
            .await
            .expect("connect");
    // This server registers the order descriptors only, not health's (order-server does).
    let mut all_services: Vec<String> = super::SERVICES
        .iter()
        .filter(|s| **s != "grpc.health.v1.Health")
        .map(|s| (*s).to_owned())
        .collect();
    all_services.push("test.ext.Probe".into());
    let exchanges = [
        (
            ask(Some(MessageRequest::ListServices(String::new()))),
            Answer::Services(all_services),
        ),
        (
            ask(Some(MessageRequest::FileContainingSymbol(
                "ecommerce.OrderManagement".into(),
            ))),
            files(&[ORDER, WRAPPERS]),
        ),
        // Sent on this stream already: the file alone, every time it is asked for.
        (
            ask(Some(MessageRequest::FileByFilename(WRAPPERS.into()))),
            files(&[WRAPPERS]),
        ),
        (
            ask(Some(MessageRequest::FileByFilename(ORDER.into()))),
            files(&[ORDER]),
        ),
        (
            ask(Some(extension("test.base.Base", 150))),
            files(&[EXT, BASE]),
        ),
        (
            ask(Some(MessageRequest::AllExtensionNumbersOfType(
                "test.base.Base".into(),
            ))),
            Answer::Numbers("test.base.Base".into(), vec![100, 150]),
        ),
        (
            ask(Some(MessageRequest::AllExtensionNumbersOfType(
                "ecommerce.Order".into(),
            ))),
            Answer::Numbers("ecommerce.Order".into(), vec![]),
        ),
        (
            ask(Some(MessageRequest::FileByFilename("nope.proto".into()))),
            Answer::Error(NOT_FOUND),
        ),
        (
            ask(Some(MessageRequest::FileContainingSymbol(
                "ecommerce.Nope".into(),
            ))),
            Answer::Error(NOT_FOUND),
        ),
        (
            ask(Some(extension("test.base.Base", 101))),
            Answer::Error(NOT_FOUND),
        ),
        (
            ask(Some(MessageRequest::AllExtensionNumbersOfType(
                "test.base.Nope".into(),
            ))),
            Answer::Error(NOT_FOUND),
        ),
        (ask(None), Answer::Error(UNIMPLEMENTED)),
        // The stream outlived its errors.
        (
            ask(Some(MessageRequest::FileContainingSymbol(
                "test.ext.Probe.Ping".into(),
            ))),
            files(&[EXT]),
        ),
        (
            ask(Some(MessageRequest::FileContainingSymbol(
                "test.base.Base.id".into(),
            ))),
            files(&[BASE]),
        ),
    ];

    let mut request = Request::new(());
    request.set_timeout(CALL_TIMEOUT);
    let mut call = client
        .server_reflection_info(request)
        .await
        .expect("open stream");
    // Every request first, then every answer: one each, in order.
    for (request, _) in &exchanges {
        call.feed(request).await.expect("queue request");
    }
    call.close_send().await.expect("half-close");
    for (request, expected) in &exchanges {
        let response = call
            .recv()
            .await
            .expect("answer")
            .expect("an answer, not the end");
        assert_eq!(response.valid_host, HOST);
        assert_eq!(response.original_request.as_ref(), Some(request));
        assert_eq!(&answer(&response), expected, "for {request:?}");
    }
    // Then the stream ends with OK.
    assert_eq!(call.recv().await.expect("status OK"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1alpha_client_request_by_request() {
    let (addr, _stop) = spawn_reflection_server().await;
    let client = v1alpha::server_reflection_client::ServerReflectionClient::connect(&format!(
        "http://{addr}"
    ))
    .await
    .expect("connect");
    let mut request = Request::new(());
    request.set_timeout(CALL_TIMEOUT);
    let mut call = client
        .server_reflection_info(request)
        .await
        .expect("open stream");
    use v1alpha::server_reflection_request::MessageRequest as Alpha;
    use v1alpha::server_reflection_response::MessageResponse as AlphaResponse;
    let asks = [
        Alpha::FileContainingSymbol("ecommerce.Order.price".into()),
        Alpha::FileByFilename(ORDER.into()),
        Alpha::FileContainingSymbol("ecommerce.Missing".into()),
    ];
    let mut answers = Vec::new();
    for kind in asks {
        let asked = v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(kind),
        };
        call.send(&asked).await.expect("send");
        let response = tokio::time::timeout(Duration::from_secs(5), call.recv())
            .await
            .expect("answered before the next request")
            .expect("answer")
            .expect("an answer, not the end");
        assert_eq!(response.original_request, Some(asked));
        answers.push(match response.message_response.expect("one answer") {
            AlphaResponse::FileDescriptorResponse(found) => found
                .file_descriptor_proto
                .iter()
                .map(|b| {
                    FileDescriptorProto::decode(b.as_slice())
                        .unwrap()
                        .name()
                        .to_owned()
                })
                .collect::<Vec<_>>()
                .join(","),
            AlphaResponse::ErrorResponse(error) => format!("error {}", error.error_code),
            other => panic!("unexpected {other:?}"),
        });
    }
    assert_eq!(
        answers,
        [
            format!("{ORDER},{WRAPPERS}"),
            ORDER.to_owned(),
            format!("error {NOT_FOUND}"),
        ]
    );
    call.close_send().await.expect("half-close");
    assert_eq!(call.recv().await.expect("status OK"), None);
}
