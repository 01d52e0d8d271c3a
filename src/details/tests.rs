//! Unit tests of the rich error model: the bytes of `grpc-status-details-bin`,
//! sorting details by type, and the code/message checks.

use std::time::Duration as StdDuration;

use bytes::Bytes;
use http::HeaderMap;
use prost::Message;

use super::*;

/// `google.rpc.Status { code: 3, message: "bad", details: [RetryInfo { 2 s }] }`.
const STATUS_WITH_RETRY_INFO: &[u8] = &[
    0x08, 0x03, // field 1 (code), varint: 3
    0x12, 0x03, b'b', b'a', b'd', // field 2 (message), 3 bytes
    0x1a, 0x30, // field 3 (details), one Any of 48 bytes:
    0x0a, 0x28, // Any field 1 (type_url), 40 bytes:
    b't', b'y', b'p', b'e', b'.', b'g', b'o', b'o', b'g', b'l', b'e', b'a', b'p', b'i', b's', b'.',
    b'c', b'o', b'm', b'/', b'g', b'o', b'o', b'g', b'l', b'e', b'.', b'r', b'p', b'c', b'.', b'R',
    b'e', b't', b'r', b'y', b'I', b'n', b'f', b'o', //
    0x12, 0x04, // Any field 2 (value), 4 bytes: RetryInfo
    0x0a, 0x02, // RetryInfo field 1 (retry_delay), 2 bytes: Duration
    0x08, 0x02, // Duration field 1 (seconds), varint: 2
];

fn every_standard_type() -> ErrorDetails {
    ErrorDetails {
        error_info: Some(ErrorInfo {
            reason: "STOCK_EMPTY".into(),
            domain: "shop.example".into(),
            metadata: [("sku".to_owned(), "42".to_owned())].into(),
        }),
        retry_info: Some(RetryInfo {
            retry_delay: Some(Duration {
                seconds: 1,
                nanos: 500_000_000,
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
                future_quota_value: Some(200),
                ..Default::default()
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
            field_violations: vec![bad_request::FieldViolation {
                field: "items[2].price".into(),
                description: "must be positive".into(),
                reason: "NEGATIVE".into(),
                localized_message: Some(LocalizedMessage {
                    locale: "fr-CH".into(),
                    message: "doit être positif".into(),
                }),
            }],
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
            type_url: "type.googleapis.com/shop.v1.Hint".into(),
            value: vec![0x0a, 0x01, b'x'],
        }],
    }
}

/// What a client decodes from the trailers `status` is sent with.
fn through_trailers(status: &Status) -> Status {
    let mut trailers = HeaderMap::new();
    status.encode_trailers(&mut trailers);
    Status::decode_trailers(&trailers).expect("grpc-status was written")
}

#[test]
fn details_carry_the_status_code_and_message() {
    let details = ErrorDetails::new().with_retry_delay(StdDuration::from_secs(2));
    let status = Status::with_error_details(Code::InvalidArgument, "bad", details);
    assert_eq!(status.details().as_ref(), STATUS_WITH_RETRY_INFO);
    assert_eq!(
        (status.code(), status.message()),
        (Code::InvalidArgument, "bad")
    );
}

#[test]
fn every_standard_type_and_an_unknown_one_survive_the_trailers() {
    let sent = every_standard_type();
    let message = "50% off, prix: 3 €\n";
    let status = Status::with_error_details(Code::FailedPrecondition, message, sent.clone());
    let received = through_trailers(&status);
    assert_eq!(received.message(), message);
    assert_eq!(received.error_details(), Ok(sent.clone()));
    // The unknown type is kept byte for byte, last (after the standard ones).
    let rich = received.rpc_status().unwrap().unwrap();
    assert_eq!(rich.details.len(), 11);
    assert_eq!(rich.details[10], sent.other[0]);
    assert_eq!(
        rich.details[0].type_url,
        "type.googleapis.com/google.rpc.ErrorInfo"
    );
}

#[test]
fn typed_getters_find_their_detail() {
    let status = Status::with_error_details(Code::Aborted, "retry", every_standard_type());
    let sent = every_standard_type();
    assert_eq!(status.bad_request(), sent.bad_request);
    assert_eq!(status.error_info(), sent.error_info);
    assert_eq!(status.retry_info(), sent.retry_info);
    assert_eq!(status.detail::<Help>(), sent.help);
    // Nothing of a type that is not there.
    let plain = Status::with_error_details(Code::Aborted, "retry", ErrorDetails::new());
    assert_eq!(plain.bad_request(), None);
    assert_eq!(plain.error_details(), Ok(ErrorDetails::new()));
}

#[test]
fn a_status_without_details_has_none() {
    let status = Status::not_found("order 7");
    assert_eq!(status.rpc_status(), Ok(None));
    assert!(status.error_details().unwrap().is_empty());
    assert_eq!(status.bad_request(), None);
}

#[test]
fn details_that_disagree_with_their_status_are_refused() {
    let rich = rpc::Status {
        code: Code::NotFound as i32,
        message: "gone".into(),
        details: vec![pack(&BadRequest::default())],
    };
    let bytes = Bytes::from(rich.encode_to_vec());
    let other_code = Status::with_details(Code::Internal, "gone", bytes.clone());
    assert_eq!(
        other_code.error_details(),
        Err(DetailsError::CodeMismatch {
            status: Code::Internal,
            details: 5
        })
    );
    assert_eq!(other_code.bad_request(), None);
    let other_message = Status::with_details(Code::NotFound, "lost", bytes.clone());
    assert!(matches!(
        other_message.error_details(),
        Err(DetailsError::MessageMismatch { .. })
    ));
    let agreeing = Status::with_details(Code::NotFound, "gone", bytes);
    assert_eq!(agreeing.bad_request(), Some(BadRequest::default()));
}

#[test]
fn details_that_are_not_a_status_are_a_decode_error() {
    // Field 1 says varint, then the bytes end.
    let status = Status::with_details(Code::Unknown, "", Bytes::from_static(&[0x08]));
    let err = status.error_details().unwrap_err();
    assert!(matches!(err, DetailsError::Decode(_)), "{err:?}");
    assert!(err.to_string().contains("not a google.rpc.Status"), "{err}");
}

#[test]
fn a_second_or_broken_detail_of_a_known_type_stays_in_other() {
    let first = pack(&RetryInfo {
        retry_delay: Some(Duration {
            seconds: 1,
            nanos: 0,
        }),
    });
    let second = pack(&RetryInfo::default());
    // A BadRequest whose bytes end inside a length-delimited field.
    let broken = Any {
        type_url: BadRequest::type_url(),
        value: vec![0x0a, 0x05, 0x01],
    };
    let sorted = ErrorDetails::from_any([first.clone(), second.clone(), broken.clone()]);
    assert_eq!(sorted.retry_info, Some(unpack(&first).unwrap()));
    assert_eq!(sorted.bad_request, None);
    assert_eq!(sorted.other, vec![second, broken]);
}

#[test]
fn type_urls_match_on_their_last_segment() {
    assert!(names::<BadRequest>(
        "type.googleapis.com/google.rpc.BadRequest"
    ));
    assert!(names::<BadRequest>(
        "example.com/types/google.rpc.BadRequest"
    ));
    assert!(names::<BadRequest>("google.rpc.BadRequest"));
    assert!(!names::<BadRequest>(
        "type.googleapis.com/google.rpc.BadRequestX"
    ));
    assert!(!names::<BadRequest>(
        "type.googleapis.com/xgoogle.rpc.BadRequest"
    ));
    assert!(!names::<BadRequest>(
        "type.googleapis.com/google.rpc.bad_request"
    ));
    assert!(!names::<BadRequest>("google.rpc.BadRequest/"));
}

#[test]
fn any_message_with_a_name_is_a_detail() {
    // google.protobuf.Duration stands in for an application's own type.
    let hint = Duration {
        seconds: 5,
        nanos: 0,
    };
    let details = ErrorDetails::new()
        .with_detail(&hint)
        .with_detail(&ErrorInfo::default());
    assert_eq!(details.error_info, Some(ErrorInfo::default()));
    assert_eq!(details.other.len(), 1);
    assert_eq!(
        details.other[0].type_url,
        "type.googleapis.com/google.protobuf.Duration"
    );
    let status = Status::with_error_details(Code::Unavailable, "later", details);
    assert_eq!(through_trailers(&status).detail::<Duration>(), Some(hint));
}

#[test]
fn builders_fill_their_fields() {
    let details = ErrorDetails::new()
        .with_bad_request_violation("a", "empty")
        .with_bad_request_violation("b", "too long")
        .with_error_info("R", "d", [("k".to_owned(), "v".to_owned())])
        .with_localized_message("de", "leer")
        .with_retry_delay(StdDuration::MAX);
    let fields: Vec<&str> = details
        .bad_request
        .as_ref()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, ["a", "b"]);
    assert_eq!(details.error_info.as_ref().unwrap().metadata["k"], "v");
    assert_eq!(details.localized_message.as_ref().unwrap().locale, "de");
    // Beyond Duration's range: its maximum, not an error.
    let delay = details.retry_info.unwrap().retry_delay.unwrap();
    assert_eq!(delay.seconds, MAX_DURATION_SECONDS);
}
