//! TEMPORARY until the wire-status branch lands.
#![allow(missing_docs)]
use super::status::{Code, Status};
impl Status {
    pub fn cancelled(message: impl Into<String>) -> Status { Status::new(Code::Cancelled, message) }
    pub fn unknown(message: impl Into<String>) -> Status { Status::new(Code::Unknown, message) }
    pub fn invalid_argument(message: impl Into<String>) -> Status { Status::new(Code::InvalidArgument, message) }
    pub fn deadline_exceeded(message: impl Into<String>) -> Status { Status::new(Code::DeadlineExceeded, message) }
    pub fn not_found(message: impl Into<String>) -> Status { Status::new(Code::NotFound, message) }
    pub fn already_exists(message: impl Into<String>) -> Status { Status::new(Code::AlreadyExists, message) }
    pub fn permission_denied(message: impl Into<String>) -> Status { Status::new(Code::PermissionDenied, message) }
    pub fn resource_exhausted(message: impl Into<String>) -> Status { Status::new(Code::ResourceExhausted, message) }
    pub fn failed_precondition(message: impl Into<String>) -> Status { Status::new(Code::FailedPrecondition, message) }
    pub fn aborted(message: impl Into<String>) -> Status { Status::new(Code::Aborted, message) }
    pub fn out_of_range(message: impl Into<String>) -> Status { Status::new(Code::OutOfRange, message) }
    pub fn unimplemented(message: impl Into<String>) -> Status { Status::new(Code::Unimplemented, message) }
    pub fn internal(message: impl Into<String>) -> Status { Status::new(Code::Internal, message) }
    pub fn unavailable(message: impl Into<String>) -> Status { Status::new(Code::Unavailable, message) }
    pub fn data_loss(message: impl Into<String>) -> Status { Status::new(Code::DataLoss, message) }
    pub fn unauthenticated(message: impl Into<String>) -> Status { Status::new(Code::Unauthenticated, message) }
}
