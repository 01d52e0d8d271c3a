//! Unit tests of [`respond`](super::respond): every request kind, the echoed
//! fields, not-found answers and what one stream has already been sent, over
//! the reflection protos' own descriptors and a small hand-made proto2 file
//! with an extension.

use bytes::Bytes;
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet};

use super::super::index::{Index, SentFiles};
use super::super::v1::server_reflection_request::MessageRequest;
use super::super::v1::server_reflection_response::MessageResponse;
use super::super::v1::{ExtensionRequest, ServerReflectionRequest};
use super::super::{v1, v1alpha};
use super::respond;

const V1_FILE: &str = "grpc/reflection/v1/reflection.proto";

/// `ext.proto`: `message Base` and `extend Base { optional int32 tag = 7; }`,
/// importing v1's reflection.proto so the closure has two files.
fn ext_set() -> Bytes {
    let file = FileDescriptorProto {
        name: Some("ext.proto".into()),
        package: Some("ext".into()),
        dependency: vec![V1_FILE.into()],
        syntax: Some("proto2".into()),
        message_type: vec![DescriptorProto {
            name: Some("Base".into()),
            ..Default::default()
        }],
        extension: vec![FieldDescriptorProto {
            name: Some("tag".into()),
            number: Some(7),
            label: Some(Label::Optional as i32),
            r#type: Some(Type::Int32 as i32),
            extendee: Some(".ext.Base".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    Bytes::from(FileDescriptorSet { file: vec![file] }.encode_to_vec())
}

fn index() -> Index {
    Index::build(&[
        Bytes::from_static(v1::FILE_DESCRIPTOR_SET),
        Bytes::from_static(v1alpha::FILE_DESCRIPTOR_SET),
        ext_set(),
    ])
    .expect("valid descriptors")
}

fn request(kind: MessageRequest) -> ServerReflectionRequest {
    ServerReflectionRequest {
        host: "reflect.example:443".into(),
        message_request: Some(kind),
    }
}

/// The file names in a file descriptor response, decoding each file.
fn file_names(response: &MessageResponse) -> Vec<String> {
    let MessageResponse::FileDescriptorResponse(files) = response else {
        panic!("not a file response: {response:?}");
    };
    files
        .file_descriptor_proto
        .iter()
        .map(|bytes| {
            FileDescriptorProto::decode(bytes.as_slice())
                .unwrap()
                .name()
                .to_owned()
        })
        .collect()
}

/// Asks once, checks the echo, returns the answer.
fn ask(index: &Index, sent: &mut SentFiles, kind: MessageRequest) -> MessageResponse {
    let asked = request(kind);
    let response = respond(index, sent, asked.clone());
    assert_eq!(response.valid_host, "reflect.example:443");
    assert_eq!(response.original_request, Some(asked));
    response.message_response.expect("one answer per request")
}

#[track_caller]
fn assert_error(response: &MessageResponse, code: i32, mentions: &str) {
    let MessageResponse::ErrorResponse(error) = response else {
        panic!("not an error: {response:?}");
    };
    assert_eq!(error.error_code, code, "{error:?}");
    assert!(error.error_message.contains(mentions), "{error:?}");
}

#[test]
fn list_services_names_every_registered_service_sorted() {
    let index = index();
    let mut sent = SentFiles::new(&index);
    let MessageResponse::ListServicesResponse(list) = ask(
        &index,
        &mut sent,
        MessageRequest::ListServices("ignored".into()),
    ) else {
        panic!("not a service list");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection"
        ]
    );
}

#[test]
fn symbol_then_filename_sends_the_file_each_time_and_imports_once() {
    let index = index();
    let mut sent = SentFiles::new(&index);
    let first = ask(
        &index,
        &mut sent,
        MessageRequest::FileContainingSymbol("ext.Base".into()),
    );
    assert_eq!(file_names(&first), ["ext.proto", V1_FILE]);
    // The import was sent on this stream: asked for, it comes alone.
    let by_name = ask(
        &index,
        &mut sent,
        MessageRequest::FileByFilename(V1_FILE.into()),
    );
    assert_eq!(file_names(&by_name), [V1_FILE]);
    let again = ask(
        &index,
        &mut sent,
        MessageRequest::FileContainingSymbol("ext.tag".into()),
    );
    assert_eq!(file_names(&again), ["ext.proto"]);

    // The file is the registered descriptor: the service and its method.
    let MessageResponse::FileDescriptorResponse(files) = by_name else {
        unreachable!("checked above");
    };
    let file = FileDescriptorProto::decode(files.file_descriptor_proto[0].as_slice()).unwrap();
    assert_eq!(file.package(), "grpc.reflection.v1");
    assert_eq!(file.service[0].name(), "ServerReflection");
    assert_eq!(file.service[0].method[0].name(), "ServerReflectionInfo");
    assert!(file.service[0].method[0].client_streaming());
    assert!(file.service[0].method[0].server_streaming());
}

#[test]
fn methods_fields_and_nested_names_find_their_file() {
    let index = index();
    for symbol in [
        "grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo",
        "grpc.reflection.v1alpha.ServerReflectionRequest.host",
        "grpc.reflection.v1alpha.ServerReflectionRequest.message_request",
        "grpc.reflection.v1alpha.ErrorResponse",
    ] {
        let mut sent = SentFiles::new(&index);
        let answer = ask(
            &index,
            &mut sent,
            MessageRequest::FileContainingSymbol(symbol.into()),
        );
        assert_eq!(
            file_names(&answer),
            ["grpc/reflection/v1alpha/reflection.proto"],
            "{symbol}"
        );
    }
}

#[test]
fn extensions_by_number_and_all_numbers() {
    let index = index();
    let mut sent = SentFiles::new(&index);
    let answer = ask(
        &index,
        &mut sent,
        MessageRequest::FileContainingExtension(ExtensionRequest {
            containing_type: "ext.Base".into(),
            extension_number: 7,
        }),
    );
    assert_eq!(file_names(&answer), ["ext.proto", V1_FILE]);

    let MessageResponse::AllExtensionNumbersResponse(numbers) = ask(
        &index,
        &mut sent,
        MessageRequest::AllExtensionNumbersOfType("ext.Base".into()),
    ) else {
        panic!("not an extension number response");
    };
    assert_eq!(numbers.base_type_name, "ext.Base");
    assert_eq!(numbers.extension_number, [7]);

    // A message nothing extends: an empty list, not an error.
    let MessageResponse::AllExtensionNumbersResponse(none) = ask(
        &index,
        &mut sent,
        MessageRequest::AllExtensionNumbersOfType("grpc.reflection.v1.ErrorResponse".into()),
    ) else {
        panic!("not an extension number response");
    };
    assert!(none.extension_number.is_empty());
}

#[test]
fn unknown_names_are_not_found_and_the_stream_goes_on() {
    let index = index();
    let mut sent = SentFiles::new(&index);
    let not_found = 5;
    let cases = [
        (
            MessageRequest::FileByFilename("nope.proto".into()),
            "nope.proto",
        ),
        (
            MessageRequest::FileContainingSymbol("ext.Nope".into()),
            "ext.Nope",
        ),
        // A package is no symbol.
        (MessageRequest::FileContainingSymbol("ext".into()), "ext"),
        (
            MessageRequest::FileContainingExtension(ExtensionRequest {
                containing_type: "ext.Base".into(),
                extension_number: 8,
            }),
            "8 of ext.Base",
        ),
        (
            MessageRequest::AllExtensionNumbersOfType("ext.Nope".into()),
            "ext.Nope",
        ),
        // A field is no message type.
        (
            MessageRequest::AllExtensionNumbersOfType(
                "grpc.reflection.v1.ErrorResponse.error_code".into(),
            ),
            "error_code",
        ),
    ];
    for (kind, mentions) in cases {
        assert_error(&ask(&index, &mut sent, kind), not_found, mentions);
    }
    // Failures marked nothing as sent: the next file response has its import.
    let answer = ask(
        &index,
        &mut sent,
        MessageRequest::FileByFilename("ext.proto".into()),
    );
    assert_eq!(file_names(&answer), ["ext.proto", V1_FILE]);
}

#[test]
fn a_request_with_no_kind_is_unimplemented() {
    let index = index();
    let mut sent = SentFiles::new(&index);
    let asked = ServerReflectionRequest {
        host: String::new(),
        message_request: None,
    };
    let response = respond(&index, &mut sent, asked.clone());
    assert_eq!(response.original_request, Some(asked));
    assert_error(&response.message_response.unwrap(), 12, "not supported");
}

/// v1alpha bytes decode as v1 messages and back, field for field: why one
/// implementation serves both (service.rs module doc).
#[test]
fn v1alpha_and_v1_are_the_same_on_the_wire() {
    let alpha = v1alpha::ServerReflectionRequest {
        host: "h".into(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingExtension(
                v1alpha::ExtensionRequest {
                    containing_type: "ext.Base".into(),
                    extension_number: 7,
                },
            ),
        ),
    };
    let as_v1 = ServerReflectionRequest::decode(alpha.encode_to_vec().as_slice()).unwrap();
    let expected = ServerReflectionRequest {
        host: "h".into(),
        message_request: Some(MessageRequest::FileContainingExtension(ExtensionRequest {
            containing_type: "ext.Base".into(),
            extension_number: 7,
        })),
    };
    assert_eq!(as_v1, expected);
    let index = index();
    let mut sent = SentFiles::new(&index);
    let response = respond(&index, &mut sent, as_v1);
    let back =
        v1alpha::ServerReflectionResponse::decode(response.encode_to_vec().as_slice()).unwrap();
    assert_eq!(back.valid_host, "h");
    assert_eq!(back.original_request, Some(alpha));
    let Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) =
        back.message_response
    else {
        panic!("not a file response");
    };
    assert_eq!(files.file_descriptor_proto.len(), 2);
}
