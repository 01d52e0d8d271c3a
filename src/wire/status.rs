//! gRPC status: the `Code` table, the `Status` value, and its trailer encoding.
//!
//! Wire layer, sans-IO. Implements statuscodes.md (the code table),
//! PROTOCOL-HTTP2.md "Responses" (the trailers), http-grpc-status-mapping.md
//! (a response with no `grpc-status`) and PROTOCOL-HTTP2.md "Errors" (a stream
//! reset by HTTP/2).
//!
//! ```text
//! Trailers       → Status [Status-Message] *Custom-Metadata
//! Status         → "grpc-status" 1*DIGIT                 ; decimal Code, e.g. "4"
//! Status-Message → "grpc-message" Percent-Encoded        ; omitted when empty
//! Percent-Encoded       → 1*(Percent-Byte-Unencoded / Percent-Byte-Encoded)
//! Percent-Byte-Unencoded → 1*( %x20-%x24 / %x26-%x7E )   ; printable ASCII but '%'
//! Percent-Byte-Encoded   → "%" 2HEXDIGIT                 ; one UTF-8 byte
//!
//!   grpc-status: 5
//!   grpc-message: 50%25 done%0A        ("50% done\n": '%' and controls escaped, space kept)
//!   grpc-status-details-bin: CAUSDW5v…   (google.rpc.Status, unpadded base64)
//!   x-request-id: 42                   (custom metadata)
//! ```
//!
//! Decoding never fails once `grpc-status` is present: a peer's bad
//! `grpc-message` or details must not hide the status code it sent.

use std::fmt;

use bytes::Bytes;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS};

use super::metadata::{self, Metadata};

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
const GRPC_STATUS_DETAILS_BIN: HeaderName = HeaderName::from_static("grpc-status-details-bin");

/// Bytes `grpc-message` percent-encodes: controls (0x00..=0x1F, 0x7F) and `%`.
/// The encoder always escapes non-ASCII bytes (0x80..=0xFF) as well, so what
/// stays literal is exactly 0x20..=0x7E minus `%`.
const MESSAGE_ESCAPED: &AsciiSet = &CONTROLS.add(b'%');

/// Longest `grpc-status` we try to parse; any real code has at most 2 digits,
/// and a short cap means the decimal parse cannot overflow.
const MAX_STATUS_DIGITS: usize = 9;

/// A gRPC status code (statuscodes.md). Values outside 0..=16 decode as `Unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Code {
    /// Not an error.
    Ok = 0,
    /// Cancelled, typically by the caller.
    Cancelled = 1,
    /// Unknown error.
    Unknown = 2,
    /// The client specified an invalid argument.
    InvalidArgument = 3,
    /// The deadline expired before the operation could complete.
    DeadlineExceeded = 4,
    /// Some requested entity was not found.
    NotFound = 5,
    /// The entity already exists.
    AlreadyExists = 6,
    /// The caller may not execute the operation.
    PermissionDenied = 7,
    /// Some resource has been exhausted.
    ResourceExhausted = 8,
    /// The system is not in a state required for the operation.
    FailedPrecondition = 9,
    /// The operation was aborted.
    Aborted = 10,
    /// Operation attempted past the valid range.
    OutOfRange = 11,
    /// Not implemented or not supported.
    Unimplemented = 12,
    /// Internal error.
    Internal = 13,
    /// The service is currently unavailable.
    Unavailable = 14,
    /// Unrecoverable data loss or corruption.
    DataLoss = 15,
    /// No valid authentication credentials.
    Unauthenticated = 16,
}

impl Code {
    /// Every code, in numeric order.
    const ALL: [Code; 17] = [
        Code::Ok,
        Code::Cancelled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The code for a numeric value; unknown numbers become `Unknown`.
    pub fn from_i32(value: i32) -> Code {
        usize::try_from(value)
            .ok()
            .and_then(|i| Code::ALL.get(i).copied())
            .unwrap_or(Code::Unknown)
    }
    /// Parses the ASCII decimal `grpc-status` header value; anything else is `Unknown`.
    pub fn from_bytes(value: &[u8]) -> Code {
        if value.is_empty() || value.len() > MAX_STATUS_DIGITS {
            return Code::Unknown;
        }
        let mut n: i32 = 0;
        for &b in value {
            if !b.is_ascii_digit() {
                return Code::Unknown;
            }
            // At most 9 digits: stays below 10^9 < i32::MAX.
            n = n * 10 + i32::from(b - b'0');
        }
        Code::from_i32(n)
    }
    /// The spec name, e.g. `"DEADLINE_EXCEEDED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }
    /// The code for an HTTP response that carries no `grpc-status`
    /// (http-grpc-status-mapping.md): 400→INTERNAL, 401→UNAUTHENTICATED,
    /// 403→PERMISSION_DENIED, 404→UNIMPLEMENTED, 429/502/503/504→UNAVAILABLE, other→UNKNOWN.
    pub fn from_http_status(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
    /// The code for an RST_STREAM / GOAWAY error code (RFC 9113 §7, PROTOCOL-HTTP2.md "Errors").
    ///
    /// | HTTP/2 error code (RFC 9113 §7) | gRPC code |
    /// |---|---|
    /// | `NO_ERROR` (0x0) | `INTERNAL` |
    /// | `PROTOCOL_ERROR` (0x1) | `INTERNAL` |
    /// | `INTERNAL_ERROR` (0x2) | `INTERNAL` |
    /// | `FLOW_CONTROL_ERROR` (0x3) | `INTERNAL` |
    /// | `SETTINGS_TIMEOUT` (0x4) | `INTERNAL` |
    /// | `STREAM_CLOSED` (0x5) | `INTERNAL` |
    /// | `FRAME_SIZE_ERROR` (0x6) | `INTERNAL` |
    /// | `REFUSED_STREAM` (0x7) | `UNAVAILABLE`: nothing was processed, a retry is safe |
    /// | `CANCEL` (0x8) | `CANCELLED` |
    /// | `COMPRESSION_ERROR` (0x9) | `INTERNAL` |
    /// | `CONNECT_ERROR` (0xa) | `INTERNAL` |
    /// | `ENHANCE_YOUR_CALM` (0xb) | `RESOURCE_EXHAUSTED`: the peer asks us to slow down |
    /// | `INADEQUATE_SECURITY` (0xc) | `PERMISSION_DENIED` |
    /// | `HTTP_1_1_REQUIRED` (0xd), any other | `INTERNAL` |
    ///
    /// `NO_ERROR` is `INTERNAL` too: a server should have sent `OK` in trailers,
    /// so a reset, whatever its code, ended the call without a status.
    pub fn from_h2_reason(reason: u32) -> Code {
        match reason {
            0x7 => Code::Unavailable,
            0x8 => Code::Cancelled,
            0xb => Code::ResourceExhausted,
            0xc => Code::PermissionDenied,
            _ => Code::Internal,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a call: code, message, optional binary details and trailing metadata.
///
/// Boxed: a `Status` rides in the `Err` of every call's `Result`, and keeping it
/// one pointer wide keeps the `Ok` path's values small.
///
/// ```
/// use h2grpc::{Code, Status};
///
/// let status = Status::not_found("order 999: 50% done\n");
/// let mut trailers = http::HeaderMap::new();
/// status.encode_trailers(&mut trailers);
/// assert_eq!(trailers["grpc-status"], "5");
/// assert_eq!(trailers["grpc-message"], "order 999: 50%25 done%0A");
/// let back = Status::decode_trailers(&trailers).unwrap();
/// assert_eq!((back.code(), back.message()), (Code::NotFound, "order 999: 50% done\n"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    inner: Box<StatusInner>,
}

#[derive(Clone, Debug, PartialEq)]
struct StatusInner {
    code: Code,
    message: String,
    details: Bytes,
    metadata: Metadata,
}

/// `grpc-status` values for codes 0..=16, indexed by code: static, so writing a
/// status allocates nothing for the code.
const CODE_VALUES: [&str; 17] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
];

/// Writes the trailers of a plain OK (`grpc-status: 0`, nothing else): what
/// every successful call ends with, without allocating a [`Status`] for it.
pub fn encode_ok_trailers(dst: &mut HeaderMap) {
    dst.insert(GRPC_STATUS, HeaderValue::from_static(CODE_VALUES[0]));
}

impl Status {
    fn from_inner(inner: StatusInner) -> Status {
        Status {
            inner: Box::new(inner),
        }
    }
    /// A status with a code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status::from_inner(StatusInner {
            code,
            message: message.into(),
            details: Bytes::new(),
            metadata: Metadata::new(),
        })
    }
    /// A status carrying `grpc-status-details-bin` (usually an encoded `google.rpc.Status`).
    pub fn with_details(code: Code, message: impl Into<String>, details: Bytes) -> Status {
        Status::from_inner(StatusInner {
            code,
            message: message.into(),
            details,
            metadata: Metadata::new(),
        })
    }
    /// `OK` with an empty message.
    pub fn ok() -> Status {
        Status::new(Code::Ok, "")
    }
    /// The code.
    pub fn code(&self) -> Code {
        self.inner.code
    }
    /// The message (already percent-decoded).
    pub fn message(&self) -> &str {
        &self.inner.message
    }
    /// The binary details; empty when none.
    pub fn details(&self) -> &Bytes {
        &self.inner.details
    }
    /// Trailing metadata sent or received with this status.
    pub fn metadata(&self) -> &Metadata {
        &self.inner.metadata
    }
    /// Mutable trailing metadata.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.inner.metadata
    }
    /// Writes `grpc-status`, `grpc-message` (percent-encoded, omitted when empty),
    /// `grpc-status-details-bin` (base64, unpadded, omitted when empty) and the
    /// metadata into `dst`.
    pub fn encode_trailers(&self, dst: &mut HeaderMap) {
        dst.insert(
            GRPC_STATUS,
            HeaderValue::from_static(CODE_VALUES[self.inner.code as usize]),
        );
        if !self.inner.message.is_empty() {
            // Always Ok: the encoded message is printable ASCII only.
            if let Ok(v) = HeaderValue::from_str(&encode_message(&self.inner.message)) {
                dst.insert(GRPC_MESSAGE, v);
            }
        }
        if !self.inner.details.is_empty() {
            // Always Ok: base64 is printable ASCII.
            if let Ok(v) = HeaderValue::from_str(&metadata::encode_bin(&self.inner.details)) {
                dst.insert(GRPC_STATUS_DETAILS_BIN, v);
            }
        }
        self.inner.metadata.write_to(dst);
    }
    /// Reads a status from trailers (or a trailers-only head). `None` when there is
    /// no `grpc-status`. Never fails on a bad `grpc-message` or details: decodes lossily.
    /// The returned metadata holds the non-reserved headers of `src`.
    pub fn decode_trailers(src: &HeaderMap) -> Option<Status> {
        let code = Code::from_bytes(src.get(GRPC_STATUS)?.as_bytes());
        let message = src
            .get(GRPC_MESSAGE)
            .map(|v| decode_message(v.as_bytes()))
            .unwrap_or_default();
        let details = src
            .get(GRPC_STATUS_DETAILS_BIN)
            .and_then(|v| metadata::decode_bin(v.as_bytes().trim_ascii()).ok())
            .unwrap_or_default();
        let metadata = Metadata::from_headers(src.clone());
        Some(Status::from_inner(StatusInner {
            code,
            message,
            details,
            metadata,
        }))
    }

    /// Replaces the trailing metadata (builder style).
    pub fn with_metadata(mut self, metadata: Metadata) -> Status {
        self.inner.metadata = metadata;
        self
    }

    /// `CANCELLED`: the operation was cancelled, typically by the caller.
    pub fn cancelled(message: impl Into<String>) -> Status {
        Status::new(Code::Cancelled, message)
    }
    /// `UNKNOWN`: an error with no better code.
    pub fn unknown(message: impl Into<String>) -> Status {
        Status::new(Code::Unknown, message)
    }
    /// `INVALID_ARGUMENT`: the request is wrong whatever the system state.
    pub fn invalid_argument(message: impl Into<String>) -> Status {
        Status::new(Code::InvalidArgument, message)
    }
    /// `DEADLINE_EXCEEDED`: the deadline passed before the operation finished.
    pub fn deadline_exceeded(message: impl Into<String>) -> Status {
        Status::new(Code::DeadlineExceeded, message)
    }
    /// `NOT_FOUND`: a requested entity does not exist.
    pub fn not_found(message: impl Into<String>) -> Status {
        Status::new(Code::NotFound, message)
    }
    /// `ALREADY_EXISTS`: the entity to create is already there.
    pub fn already_exists(message: impl Into<String>) -> Status {
        Status::new(Code::AlreadyExists, message)
    }
    /// `PERMISSION_DENIED`: the caller is known but not allowed.
    pub fn permission_denied(message: impl Into<String>) -> Status {
        Status::new(Code::PermissionDenied, message)
    }
    /// `RESOURCE_EXHAUSTED`: a quota or limit ran out.
    pub fn resource_exhausted(message: impl Into<String>) -> Status {
        Status::new(Code::ResourceExhausted, message)
    }
    /// `FAILED_PRECONDITION`: the system is not in the state the operation needs.
    pub fn failed_precondition(message: impl Into<String>) -> Status {
        Status::new(Code::FailedPrecondition, message)
    }
    /// `ABORTED`: aborted, typically by a concurrency conflict.
    pub fn aborted(message: impl Into<String>) -> Status {
        Status::new(Code::Aborted, message)
    }
    /// `OUT_OF_RANGE`: attempted past the valid range.
    pub fn out_of_range(message: impl Into<String>) -> Status {
        Status::new(Code::OutOfRange, message)
    }
    /// `UNIMPLEMENTED`: the method is not implemented or not supported.
    pub fn unimplemented(message: impl Into<String>) -> Status {
        Status::new(Code::Unimplemented, message)
    }
    /// `INTERNAL`: an invariant the system relies on is broken.
    pub fn internal(message: impl Into<String>) -> Status {
        Status::new(Code::Internal, message)
    }
    /// `UNAVAILABLE`: transient; the caller may retry.
    pub fn unavailable(message: impl Into<String>) -> Status {
        Status::new(Code::Unavailable, message)
    }
    /// `DATA_LOSS`: unrecoverable data loss or corruption.
    pub fn data_loss(message: impl Into<String>) -> Status {
        Status::new(Code::DataLoss, message)
    }
    /// `UNAUTHENTICATED`: no valid credentials.
    pub fn unauthenticated(message: impl Into<String>) -> Status {
        Status::new(Code::Unauthenticated, message)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inner.message.is_empty() {
            write!(f, "{}", self.inner.code)
        } else {
            write!(f, "{}: {}", self.inner.code, self.inner.message)
        }
    }
}

impl std::error::Error for Status {}

/// Percent-encodes a `grpc-message` value (PROTOCOL-HTTP2.md: bytes outside
/// 0x20..=0x7E and `%` itself become `%XX` of the UTF-8 bytes).
pub fn encode_message(message: &str) -> String {
    percent_encoding::utf8_percent_encode(message, MESSAGE_ESCAPED).to_string()
}

/// Decodes a `grpc-message` value. Never fails: a bad escape is kept literally,
/// invalid UTF-8 becomes U+FFFD.
pub fn decode_message(raw: &[u8]) -> String {
    // `percent_decode` leaves a `%` not followed by two hex digits as it is.
    percent_encoding::percent_decode(raw)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's test message (PROTOCOL-HTTP2.md, grpc-message): whitespace,
    /// a BMP and a non-BMP character.
    const SPECIAL: &str = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";
    /// Its wire form: tab %09, LF %0A, CR %0D, ☺ = E2 98 BA, 😈 = F0 9F 98 88.
    const SPECIAL_ENCODED: &str =
        "%09%0Atest with whitespace%0D%0Aand Unicode BMP %E2%98%BA and non-BMP %F0%9F%98%88%09%0A";

    fn hv(s: &[u8]) -> HeaderValue {
        HeaderValue::from_bytes(s).unwrap()
    }

    #[test]
    fn code_table() {
        let names = [
            "OK",
            "CANCELLED",
            "UNKNOWN",
            "INVALID_ARGUMENT",
            "DEADLINE_EXCEEDED",
            "NOT_FOUND",
            "ALREADY_EXISTS",
            "PERMISSION_DENIED",
            "RESOURCE_EXHAUSTED",
            "FAILED_PRECONDITION",
            "ABORTED",
            "OUT_OF_RANGE",
            "UNIMPLEMENTED",
            "INTERNAL",
            "UNAVAILABLE",
            "DATA_LOSS",
            "UNAUTHENTICATED",
        ];
        for (i, name) in names.iter().enumerate() {
            let n = i32::try_from(i).unwrap();
            let code = Code::from_i32(n);
            assert_eq!(code as i32, n);
            assert_eq!(code.as_str(), *name);
            assert_eq!(code.to_string(), *name);
            assert_eq!(Code::from_bytes(n.to_string().as_bytes()), code);
        }
        assert_eq!(Code::from_i32(-1), Code::Unknown);
        assert_eq!(Code::from_i32(17), Code::Unknown);
        assert_eq!(Code::from_i32(i32::MAX), Code::Unknown);
        assert_eq!(Code::from_i32(i32::MIN), Code::Unknown);
    }

    #[test]
    fn code_from_bytes() {
        assert_eq!(Code::from_bytes(b"0"), Code::Ok);
        assert_eq!(Code::from_bytes(b"4"), Code::DeadlineExceeded);
        assert_eq!(Code::from_bytes(b"16"), Code::Unauthenticated);
        assert_eq!(Code::from_bytes(b"014"), Code::Unavailable);
        // Out of range, non-numeric, signed, spaced, empty, overlong: all UNKNOWN.
        for bad in [
            &b"17"[..],
            b"99",
            b"-1",
            b"+1",
            b" 1",
            b"1 ",
            b"",
            b"OK",
            b"1a",
            b"\xff",
            b"99999999999999999999",
            b"0000000000000000001",
        ] {
            assert_eq!(Code::from_bytes(bad), Code::Unknown, "{bad:?}");
        }
    }

    #[test]
    fn http_status_mapping() {
        let table = [
            (400, Code::Internal),
            (401, Code::Unauthenticated),
            (403, Code::PermissionDenied),
            (404, Code::Unimplemented),
            (429, Code::Unavailable),
            (502, Code::Unavailable),
            (503, Code::Unavailable),
            (504, Code::Unavailable),
            (200, Code::Unknown),
            (302, Code::Unknown),
            (405, Code::Unknown),
            (500, Code::Unknown),
            (0, Code::Unknown),
            (u16::MAX, Code::Unknown),
        ];
        for (http, code) in table {
            assert_eq!(Code::from_http_status(http), code, "{http}");
        }
    }

    #[test]
    fn h2_reason_mapping() {
        let table = [
            (0x0, Code::Internal),          // NO_ERROR
            (0x1, Code::Internal),          // PROTOCOL_ERROR
            (0x2, Code::Internal),          // INTERNAL_ERROR
            (0x3, Code::Internal),          // FLOW_CONTROL_ERROR
            (0x4, Code::Internal),          // SETTINGS_TIMEOUT
            (0x5, Code::Internal),          // STREAM_CLOSED
            (0x6, Code::Internal),          // FRAME_SIZE_ERROR
            (0x7, Code::Unavailable),       // REFUSED_STREAM
            (0x8, Code::Cancelled),         // CANCEL
            (0x9, Code::Internal),          // COMPRESSION_ERROR
            (0xa, Code::Internal),          // CONNECT_ERROR
            (0xb, Code::ResourceExhausted), // ENHANCE_YOUR_CALM
            (0xc, Code::PermissionDenied),  // INADEQUATE_SECURITY
            (0xd, Code::Internal),          // HTTP_1_1_REQUIRED
            (0xe, Code::Internal),          // unknown
            (u32::MAX, Code::Internal),     // unknown
        ];
        for (reason, code) in table {
            assert_eq!(Code::from_h2_reason(reason), code, "{reason:#x}");
        }
    }

    #[test]
    fn message_special_round_trip() {
        assert_eq!(encode_message(SPECIAL), SPECIAL_ENCODED);
        assert_eq!(decode_message(SPECIAL_ENCODED.as_bytes()), SPECIAL);
    }

    #[test]
    fn message_encoding_edges() {
        assert_eq!(encode_message(""), "");
        assert_eq!(encode_message("100%"), "100%25");
        // Space through '~' stay literal, except '%'.
        let printable: String = (0x20u8..=0x7e)
            .map(char::from)
            .filter(|&c| c != '%')
            .collect();
        assert_eq!(encode_message(&printable), printable);
        // 0x00, 0x1F, 0x7F are controls; U+0080 is C2 80 in UTF-8.
        assert_eq!(encode_message("\0\x1f\x7f\u{80}"), "%00%1F%7F%C2%80");
        // Lowercase hex is accepted on receive.
        assert_eq!(decode_message(b"%e2%98%ba"), "☺");
    }

    #[test]
    fn message_decoding_never_fails() {
        // Bad escapes stay literal.
        assert_eq!(decode_message(b"50%"), "50%");
        assert_eq!(decode_message(b"%4"), "%4");
        assert_eq!(decode_message(b"%zz ok"), "%zz ok");
        assert_eq!(decode_message(b"%%41"), "%A");
        // Invalid UTF-8, escaped or raw, becomes U+FFFD.
        assert_eq!(decode_message(b"a%FFb"), "a\u{FFFD}b");
        assert_eq!(decode_message(b"a\xffb"), "a\u{FFFD}b");
        // A truncated ☺ (E2 98 without BA).
        assert_eq!(decode_message(b"%E2%98!"), "\u{FFFD}!");
    }

    #[test]
    fn encode_trailers_minimal() {
        let mut h = HeaderMap::new();
        Status::ok().encode_trailers(&mut h);
        // Only grpc-status: no empty message, no empty details.
        assert_eq!(h.len(), 1);
        assert_eq!(h.get("grpc-status").unwrap().as_bytes(), b"0");
    }

    #[test]
    fn encode_trailers_full() {
        let mut md = Metadata::new();
        md.insert("x-req", "42").unwrap();
        md.insert_bin("x-blob-bin", [1, 2]).unwrap();
        let status = Status::with_details(Code::NotFound, SPECIAL, Bytes::from_static(b"hi"))
            .with_metadata(md);
        let mut h = HeaderMap::new();
        status.encode_trailers(&mut h);
        assert_eq!(h.len(), 5);
        assert_eq!(h.get("grpc-status").unwrap().as_bytes(), b"5"); // NOT_FOUND
        assert_eq!(
            h.get("grpc-message").unwrap().as_bytes(),
            SPECIAL_ENCODED.as_bytes()
        );
        // 68 69 → "aGk", unpadded.
        assert_eq!(h.get("grpc-status-details-bin").unwrap().as_bytes(), b"aGk");
        assert_eq!(h.get("x-req").unwrap().as_bytes(), b"42");
        // 01 02 → "AQI", unpadded.
        assert_eq!(h.get("x-blob-bin").unwrap().as_bytes(), b"AQI");
        // Two-digit codes are decimal too.
        let mut h = HeaderMap::new();
        Status::unauthenticated("").encode_trailers(&mut h);
        assert_eq!(h.get("grpc-status").unwrap().as_bytes(), b"16");
    }

    #[test]
    fn trailers_round_trip() {
        let mut md = Metadata::new();
        md.insert("x-req", "42").unwrap();
        md.append_bin("x-blob-bin", [0, 255]).unwrap();
        let sent = Status::with_details(Code::Aborted, SPECIAL, Bytes::from_static(&[8, 10, 0]))
            .with_metadata(md);
        let mut h = HeaderMap::new();
        sent.encode_trailers(&mut h);
        let got = Status::decode_trailers(&h).unwrap();
        assert_eq!(got, sent);
        assert_eq!(got.message(), SPECIAL);
        assert_eq!(got.metadata().get("x-req"), Some("42"));
        assert_eq!(
            got.metadata().get_bin("x-blob-bin"),
            Some(Ok(Bytes::from_static(&[0, 255])))
        );
    }

    #[test]
    fn decode_trailers_without_status() {
        let mut h = HeaderMap::new();
        assert_eq!(Status::decode_trailers(&h), None);
        h.insert("grpc-message", hv(b"oops"));
        h.insert("x-a", hv(b"1"));
        assert_eq!(Status::decode_trailers(&h), None);
    }

    #[test]
    fn decode_trailers_lenient() {
        let mut h = HeaderMap::new();
        h.insert("grpc-status", hv(b"not-a-number"));
        h.insert("grpc-message", hv(b"bad %zz and \xff"));
        h.insert("grpc-status-details-bin", hv(b"!!!"));
        let s = Status::decode_trailers(&h).unwrap();
        assert_eq!(s.code(), Code::Unknown);
        assert_eq!(s.message(), "bad %zz and \u{FFFD}");
        // Bad base64: details dropped, status kept.
        assert!(s.details().is_empty());
        assert!(s.metadata().is_empty());
    }

    #[test]
    fn decode_trailers_details_padded_and_unpadded() {
        for wire in [&b"aGk"[..], b"aGk="] {
            let mut h = HeaderMap::new();
            h.insert("grpc-status", hv(b"3"));
            h.insert("grpc-status-details-bin", hv(wire));
            let s = Status::decode_trailers(&h).unwrap();
            assert_eq!(s.code(), Code::InvalidArgument);
            assert_eq!(s.details(), &Bytes::from_static(b"hi"), "{wire:?}");
            assert_eq!(s.message(), "");
        }
    }

    #[test]
    fn decode_trailers_metadata_drops_reserved() {
        // A trailers-only response: the head carries status and metadata together.
        let mut h = HeaderMap::new();
        h.insert("content-type", hv(b"application/grpc"));
        h.insert("grpc-status", hv(b"12"));
        h.insert("grpc-message", hv(b"no%20route"));
        h.insert("grpc-encoding", hv(b"identity"));
        h.insert("x-trace", hv(b"t1"));
        let s = Status::decode_trailers(&h).unwrap();
        assert_eq!(s.code(), Code::Unimplemented);
        assert_eq!(s.message(), "no route");
        assert_eq!(s.metadata().len(), 1);
        assert_eq!(s.metadata().get("x-trace"), Some("t1"));
    }

    #[test]
    fn constructors_and_display() {
        let table = [
            (Status::cancelled("msg"), Code::Cancelled),
            (Status::unknown("msg"), Code::Unknown),
            (Status::invalid_argument("msg"), Code::InvalidArgument),
            (Status::deadline_exceeded("msg"), Code::DeadlineExceeded),
            (Status::not_found("msg"), Code::NotFound),
            (Status::already_exists("msg"), Code::AlreadyExists),
            (Status::permission_denied("msg"), Code::PermissionDenied),
            (Status::resource_exhausted("msg"), Code::ResourceExhausted),
            (Status::failed_precondition("msg"), Code::FailedPrecondition),
            (Status::aborted("msg"), Code::Aborted),
            (Status::out_of_range("msg"), Code::OutOfRange),
            (Status::unimplemented("msg"), Code::Unimplemented),
            (Status::internal("msg"), Code::Internal),
            (Status::unavailable("msg"), Code::Unavailable),
            (Status::data_loss("msg"), Code::DataLoss),
            (Status::unauthenticated("msg"), Code::Unauthenticated),
        ];
        for (s, code) in table {
            assert_eq!(s.code(), code);
            assert_eq!(s.message(), "msg");
            assert!(s.details().is_empty());
            assert_eq!(s.to_string(), format!("{}: msg", code.as_str()));
        }
        assert_eq!(Status::ok().to_string(), "OK");
        assert_eq!(
            Status::deadline_exceeded("late").to_string(),
            "DEADLINE_EXCEEDED: late"
        );
        let err: Box<dyn std::error::Error> = Box::new(Status::internal("x"));
        assert_eq!(err.to_string(), "INTERNAL: x");
    }

    #[test]
    fn with_metadata_replaces() {
        let mut md = Metadata::new();
        md.insert("k", "v").unwrap();
        let mut s = Status::ok();
        s.metadata_mut().insert("old", "1").unwrap();
        let s = s.with_metadata(md.clone());
        assert_eq!(s.metadata(), &md);
        assert_eq!(s.metadata().get("old"), None);
    }

    #[test]
    fn ok_trailers_without_a_status_match_status_ok() {
        let (mut fast, mut full) = (HeaderMap::new(), HeaderMap::new());
        encode_ok_trailers(&mut fast);
        Status::ok().encode_trailers(&mut full);
        assert_eq!(fast, full);
        assert_eq!(fast.len(), 1);
        assert_eq!(fast["grpc-status"], "0");
    }
}
