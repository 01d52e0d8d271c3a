//! Rich error details: `google.rpc.Status` and the standard error detail
//! messages, inside a call's `grpc-status-details-bin` (feature `details`).
//!
//! Layer: the typed API above [`wire::status`](crate::wire::status), which
//! carries the trailer as opaque bytes. gRPC's rich error model
//! (grpc.io "Error handling", the richer error model; googleapis
//! `google/rpc/status.proto`, `error_details.proto`) puts a protobuf
//! `google.rpc.Status` in that trailer:
//!
//! ```text
//!  grpc-status: 3                               grpc-message: invalid%20price
//!  grpc-status-details-bin: base64 of
//!    google.rpc.Status { code: 3, message: "invalid price",      ◀── must equal the two above
//!                        details: [ Any { type_url: "type.googleapis.com/google.rpc.BadRequest",
//!                                         value: <BadRequest bytes> },
//!                                   Any { .. ErrorInfo .. }, Any { .. your own type .. } ] }
//! ```
//!
//! The code and message inside must be the call's own: grpcio's
//! `grpc_status.rpc_status.from_call` raises when either differs, so
//! [`Status::with_error_details`] writes them from the same values, and
//! [`Status::error_details`] refuses details that disagree with their status.
//!
//! ```
//! use h2grpc::details::ErrorDetails;
//! use h2grpc::{Code, Status};
//!
//! let details = ErrorDetails::new()
//!     .with_bad_request_violation("price", "must be positive")
//!     .with_retry_delay(std::time::Duration::from_secs(2));
//! let status = Status::with_error_details(Code::InvalidArgument, "invalid price", details);
//!
//! // What a client reads back from the trailers:
//! let back = status.error_details().unwrap();
//! assert_eq!(back.bad_request.unwrap().field_violations[0].field, "price");
//! assert_eq!(status.retry_info().unwrap().retry_delay.unwrap().seconds, 2);
//! ```
//!
//! Detail types this module does not know stay in [`ErrorDetails::other`] as
//! received, and [`Status::detail`] reads any type that implements
//! [`prost::Name`] (prost-build's `enable_type_names`).

use std::collections::HashMap;
use std::fmt;

use bytes::Bytes;
use prost::{Message, Name};

use crate::wire::status::{Code, Status};

/// The `google.rpc` messages, as generated from `proto/google/rpc/*.proto`.
pub mod rpc {
    include!("generated/google.rpc.rs");
}

pub use prost_types::{Any, Duration};
pub use rpc::{
    BadRequest, DebugInfo, ErrorInfo, Help, LocalizedMessage, PreconditionFailure, QuotaFailure,
    RequestInfo, ResourceInfo, RetryInfo, bad_request, help, precondition_failure, quota_failure,
};

/// The domain every gRPC implementation puts before a type's full name in
/// `Any.type_url` (Python's `Any.Pack`, grpc-go's `anypb.New`).
const TYPE_URL_DOMAIN: &str = "type.googleapis.com";

/// `prost::Name` for the `google.rpc` messages, with the googleapis type URL
/// (prost's default type URL has no domain).
macro_rules! google_rpc_name {
    ($($ty:ident),* $(,)?) => {$(
        impl Name for rpc::$ty {
            const NAME: &'static str = stringify!($ty);
            const PACKAGE: &'static str = "google.rpc";
            fn type_url() -> String {
                format!("{TYPE_URL_DOMAIN}/{}", Self::full_name())
            }
        }
    )*};
}

google_rpc_name!(
    Status,
    ErrorInfo,
    RetryInfo,
    DebugInfo,
    QuotaFailure,
    PreconditionFailure,
    BadRequest,
    RequestInfo,
    ResourceInfo,
    Help,
    LocalizedMessage,
);

/// The details of a failed call, one field per standard detail type.
///
/// Build one with the `with_*` methods or a struct literal
/// (`ErrorDetails { bad_request: Some(..), ..Default::default() }`); send it
/// with [`Status::with_error_details`]; read it back with
/// [`Status::error_details`]. Encoded in field order, then `other`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ErrorDetails {
    /// Why the call failed, as a reason within a domain.
    pub error_info: Option<ErrorInfo>,
    /// When the client may retry.
    pub retry_info: Option<RetryInfo>,
    /// Stack entries and text for debugging.
    pub debug_info: Option<DebugInfo>,
    /// Which quotas were exceeded.
    pub quota_failure: Option<QuotaFailure>,
    /// Which preconditions failed.
    pub precondition_failure: Option<PreconditionFailure>,
    /// Which request fields are invalid.
    pub bad_request: Option<BadRequest>,
    /// Which request this was, for a support call.
    pub request_info: Option<RequestInfo>,
    /// The resource the call was about.
    pub resource_info: Option<ResourceInfo>,
    /// Links to documentation.
    pub help: Option<Help>,
    /// A message in the user's language.
    pub localized_message: Option<LocalizedMessage>,
    /// Every other detail, as received: types this module does not know, a
    /// second detail of a type already above, one that does not decode as
    /// the type its URL names.
    pub other: Vec<Any>,
}

impl ErrorDetails {
    /// No details.
    pub fn new() -> ErrorDetails {
        ErrorDetails::default()
    }

    /// Adds a field violation to the `BadRequest`.
    pub fn with_bad_request_violation(
        mut self,
        field: impl Into<String>,
        description: impl Into<String>,
    ) -> ErrorDetails {
        let violation = bad_request::FieldViolation {
            field: field.into(),
            description: description.into(),
            ..Default::default()
        };
        self.bad_request
            .get_or_insert_with(BadRequest::default)
            .field_violations
            .push(violation);
        self
    }

    /// Sets the `ErrorInfo`.
    pub fn with_error_info(
        mut self,
        reason: impl Into<String>,
        domain: impl Into<String>,
        metadata: impl IntoIterator<Item = (String, String)>,
    ) -> ErrorDetails {
        self.error_info = Some(ErrorInfo {
            reason: reason.into(),
            domain: domain.into(),
            metadata: metadata.into_iter().collect::<HashMap<_, _>>(),
        });
        self
    }

    /// Sets the `RetryInfo` (a delay beyond `google.protobuf.Duration`'s
    /// range, about 10,000 years, is sent as its maximum).
    pub fn with_retry_delay(mut self, delay: std::time::Duration) -> ErrorDetails {
        let delay = Duration::try_from(delay).unwrap_or(Duration {
            seconds: MAX_DURATION_SECONDS,
            nanos: 999_999_999,
        });
        self.retry_info = Some(RetryInfo {
            retry_delay: Some(delay),
        });
        self
    }

    /// Adds a `LocalizedMessage`.
    pub fn with_localized_message(
        mut self,
        locale: impl Into<String>,
        message: impl Into<String>,
    ) -> ErrorDetails {
        self.localized_message = Some(LocalizedMessage {
            locale: locale.into(),
            message: message.into(),
        });
        self
    }

    /// Adds any message: a standard type fills its field (if still empty),
    /// any other goes to `other`.
    pub fn with_detail<M: Name>(mut self, message: &M) -> ErrorDetails {
        self.push(pack(message));
        self
    }

    /// Whether there is no detail at all.
    pub fn is_empty(&self) -> bool {
        *self == ErrorDetails::default()
    }

    /// Files one received detail under its type (see [`ErrorDetails::other`]).
    fn push(&mut self, any: Any) {
        let filed = fill(&mut self.error_info, &any)
            || fill(&mut self.retry_info, &any)
            || fill(&mut self.debug_info, &any)
            || fill(&mut self.quota_failure, &any)
            || fill(&mut self.precondition_failure, &any)
            || fill(&mut self.bad_request, &any)
            || fill(&mut self.request_info, &any)
            || fill(&mut self.resource_info, &any)
            || fill(&mut self.help, &any)
            || fill(&mut self.localized_message, &any);
        if !filed {
            self.other.push(any);
        }
    }

    /// The details as `Any`s, in field order, then `other`.
    pub fn to_any(&self) -> Vec<Any> {
        let standard = [
            self.error_info.as_ref().map(pack),
            self.retry_info.as_ref().map(pack),
            self.debug_info.as_ref().map(pack),
            self.quota_failure.as_ref().map(pack),
            self.precondition_failure.as_ref().map(pack),
            self.bad_request.as_ref().map(pack),
            self.request_info.as_ref().map(pack),
            self.resource_info.as_ref().map(pack),
            self.help.as_ref().map(pack),
            self.localized_message.as_ref().map(pack),
        ];
        let mut all: Vec<Any> = standard.into_iter().flatten().collect();
        all.extend(self.other.iter().cloned());
        all
    }

    /// Sorts received `Any`s into fields (see [`ErrorDetails::other`]).
    pub fn from_any(details: impl IntoIterator<Item = Any>) -> ErrorDetails {
        let mut sorted = ErrorDetails::default();
        for any in details {
            sorted.push(any);
        }
        sorted
    }
}

/// `google.protobuf.Duration`'s largest seconds value (duration.proto:
/// ±315,576,000,000 s, about 10,000 years).
const MAX_DURATION_SECONDS: i64 = 315_576_000_000;

/// `message` as an `Any` with its googleapis-style type URL.
fn pack<M: Name>(message: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: message.encode_to_vec(),
    }
}

/// Whether `type_url` names `M`: its last path segment is the type's full
/// name (any.proto), whatever the domain before it.
fn names<M: Name>(type_url: &str) -> bool {
    let full_name = type_url.rsplit('/').next().unwrap_or(type_url);
    match full_name.strip_prefix(M::PACKAGE) {
        Some(rest) if !M::PACKAGE.is_empty() => rest.strip_prefix('.') == Some(M::NAME),
        _ => M::PACKAGE.is_empty() && full_name == M::NAME,
    }
}

/// `any` decoded as `M`, if its URL names `M` and its bytes decode.
fn unpack<M: Name + Default>(any: &Any) -> Option<M> {
    if !names::<M>(&any.type_url) {
        return None;
    }
    M::decode(any.value.as_slice()).ok()
}

/// Puts `any` in `slot` if the slot is empty and `any` is a good `M`.
fn fill<M: Name + Default>(slot: &mut Option<M>, any: &Any) -> bool {
    if slot.is_some() {
        return false;
    }
    *slot = unpack(any);
    slot.is_some()
}

/// Why a status's details could not be read.
#[derive(Clone, Debug, PartialEq)]
pub enum DetailsError {
    /// `grpc-status-details-bin` is not a `google.rpc.Status`.
    Decode(prost::DecodeError),
    /// Its code is not the call's `grpc-status`.
    CodeMismatch {
        /// The call's code.
        status: Code,
        /// The code inside the details.
        details: i32,
    },
    /// Its message is not the call's `grpc-message`.
    MessageMismatch {
        /// The call's message.
        status: String,
        /// The message inside the details.
        details: String,
    },
}

impl fmt::Display for DetailsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetailsError::Decode(e) => {
                write!(f, "grpc-status-details-bin is not a google.rpc.Status: {e}")
            }
            DetailsError::CodeMismatch { status, details } => {
                write!(
                    f,
                    "code {details} in grpc-status-details-bin, but the call's status is {status}"
                )
            }
            DetailsError::MessageMismatch { status, details } => write!(
                f,
                "message {details:?} in grpc-status-details-bin, but the call's message is {status:?}"
            ),
        }
    }
}

impl std::error::Error for DetailsError {}

/// Rich error details on [`Status`] (the trailer bytes are
/// [`Status::details`]; these read and write them as `google.rpc.Status`).
impl Status {
    /// A status whose `grpc-status-details-bin` is a `google.rpc.Status`
    /// with this same code and message and `details`.
    pub fn with_error_details(
        code: Code,
        message: impl Into<String>,
        details: ErrorDetails,
    ) -> Status {
        let message = message.into();
        let rich = rpc::Status {
            code: code as i32,
            message: message.clone(),
            details: details.to_any(),
        };
        Status::with_details(code, message, Bytes::from(rich.encode_to_vec()))
    }

    /// The `google.rpc.Status` in the details, checked against this status
    /// (code and message equal, as grpcio's `rpc_status.from_call` checks);
    /// `Ok(None)` when there are no details.
    pub fn rpc_status(&self) -> Result<Option<rpc::Status>, DetailsError> {
        if self.details().is_empty() {
            return Ok(None);
        }
        let rich = rpc::Status::decode(self.details().clone()).map_err(DetailsError::Decode)?;
        if rich.code != self.code() as i32 {
            return Err(DetailsError::CodeMismatch {
                status: self.code(),
                details: rich.code,
            });
        }
        if rich.message != self.message() {
            return Err(DetailsError::MessageMismatch {
                status: self.message().to_owned(),
                details: rich.message,
            });
        }
        Ok(Some(rich))
    }

    /// The details sorted by type; empty when there are none.
    pub fn error_details(&self) -> Result<ErrorDetails, DetailsError> {
        let details = self.rpc_status()?.map(|rich| rich.details);
        Ok(ErrorDetails::from_any(details.unwrap_or_default()))
    }

    /// The first detail of type `M` (any message with [`prost::Name`]);
    /// `None` if there is none, or the details cannot be read (see
    /// [`Status::error_details`] for why).
    pub fn detail<M: Name + Default>(&self) -> Option<M> {
        let rich = self.rpc_status().ok()??;
        rich.details.iter().find_map(unpack)
    }

    /// The `BadRequest` detail, if any.
    pub fn bad_request(&self) -> Option<BadRequest> {
        self.detail()
    }

    /// The `ErrorInfo` detail, if any.
    pub fn error_info(&self) -> Option<ErrorInfo> {
        self.detail()
    }

    /// The `RetryInfo` detail, if any.
    pub fn retry_info(&self) -> Option<RetryInfo> {
        self.detail()
    }
}

#[cfg(test)]
mod tests;
