//! What a call reports when HTTP/2 fails under it.
//!
//! Layer: h2 glue, the one place an `h2::Error` becomes a [`Status`].

use crate::wire::status::{Code, Status};

/// The status a call gets when its HTTP/2 stream or connection fails.
///
/// PROTOCOL-HTTP2.md "Errors": an RST_STREAM/GOAWAY code maps through
/// [`Code::from_h2_reason`]; a broken connection is `UNAVAILABLE`.
pub(crate) fn status_from_h2(err: &h2::Error) -> Status {
    if let Some(reason) = err.reason() {
        let code = Code::from_h2_reason(u32::from(reason));
        let who = if err.is_remote() { "peer" } else { "local" };
        let kind = if err.is_go_away() {
            "GOAWAY"
        } else {
            "RST_STREAM"
        };
        return Status::new(code, format!("{kind} from {who}: {reason:?}"));
    }
    if err.is_io() {
        return Status::unavailable(format!("connection error: {err}"));
    }
    Status::unavailable(format!("transport error: {err}"))
}
