//! gRPC status: the `Code` table, the `Status` value, and its trailer encoding.
//!
//! CONTRACT STUB: signatures fixed, bodies to be written.

use bytes::Bytes;
use http::HeaderMap;

use super::metadata::Metadata;

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
    /// The code for a numeric value; unknown numbers become `Unknown`.
    pub fn from_i32(value: i32) -> Code {
        todo!("{value}")
    }
    /// Parses the ASCII decimal `grpc-status` header value; anything else is `Unknown`.
    pub fn from_bytes(value: &[u8]) -> Code {
        todo!("{value:?}")
    }
    /// The spec name, e.g. `"DEADLINE_EXCEEDED"`.
    pub fn as_str(self) -> &'static str {
        todo!()
    }
    /// The code for an HTTP response that carries no `grpc-status`
    /// (http-grpc-status-mapping.md): 400→INTERNAL, 401→UNAUTHENTICATED,
    /// 403→PERMISSION_DENIED, 404→UNIMPLEMENTED, 429/502/503/504→UNAVAILABLE, other→UNKNOWN.
    pub fn from_http_status(status: u16) -> Code {
        todo!("{status}")
    }
    /// The code for an RST_STREAM / GOAWAY error code (RFC 9113 §7, PROTOCOL-HTTP2.md "Errors").
    pub fn from_h2_reason(reason: u32) -> Code {
        todo!("{reason}")
    }
}

/// The outcome of a call: code, message, optional binary details and trailing metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    code: Code,
    message: String,
    details: Bytes,
    metadata: Metadata,
}

impl Status {
    /// A status with a code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status { code, message: message.into(), details: Bytes::new(), metadata: Metadata::new() }
    }
    /// A status carrying `grpc-status-details-bin` (usually an encoded `google.rpc.Status`).
    pub fn with_details(code: Code, message: impl Into<String>, details: Bytes) -> Status {
        Status { code, message: message.into(), details, metadata: Metadata::new() }
    }
    /// `OK` with an empty message.
    pub fn ok() -> Status {
        Status::new(Code::Ok, "")
    }
    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }
    /// The message (already percent-decoded).
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The binary details; empty when none.
    pub fn details(&self) -> &Bytes {
        &self.details
    }
    /// Trailing metadata sent or received with this status.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }
    /// Mutable trailing metadata.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }
    /// Writes `grpc-status`, `grpc-message` (percent-encoded, omitted when empty),
    /// `grpc-status-details-bin` (base64, unpadded, omitted when empty) and the
    /// metadata into `dst`.
    pub fn encode_trailers(&self, dst: &mut HeaderMap) {
        todo!("{dst:?}")
    }
    /// Reads a status from trailers (or a trailers-only head). `None` when there is
    /// no `grpc-status`. Never fails on a bad `grpc-message` or details: decodes lossily.
    /// The returned metadata holds the non-reserved headers of `src`.
    pub fn decode_trailers(src: &HeaderMap) -> Option<Status> {
        todo!("{src:?}")
    }
}

/// Percent-encodes a `grpc-message` value (PROTOCOL-HTTP2.md: bytes outside
/// 0x20..=0x7E and `%` itself become `%XX` of the UTF-8 bytes).
pub fn encode_message(message: &str) -> String {
    todo!("{message}")
}

/// Decodes a `grpc-message` value. Never fails: a bad escape is kept literally,
/// invalid UTF-8 becomes U+FFFD.
pub fn decode_message(raw: &[u8]) -> String {
    todo!("{raw:?}")
}
