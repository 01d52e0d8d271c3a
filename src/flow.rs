//! Sending DATA under HTTP/2 flow control, shared by both ends.
//!
//! Layer: h2 glue. RFC 9113 §5.2: a sender may not exceed the peer's window.
//! `h2` would accept any amount and buffer what the window does not cover;
//! we instead wait until the window has room before handing over the next
//! batch, so a peer that stops reading holds us at one batch beyond its
//! window rather than letting our memory grow with the handler's output.

use std::future::poll_fn;

use bytes::Bytes;
use h2::{Reason, SendStream};

/// Sends `data` (possibly empty) once the stream has send capacity.
pub(crate) async fn send_data(
    stream: &mut SendStream<Bytes>,
    data: Bytes,
    end_of_stream: bool,
) -> Result<(), h2::Error> {
    if !data.is_empty() {
        stream.reserve_capacity(data.len());
        if stream.capacity() == 0 && crate::trace::enabled() {
            crate::trace::window_wait(data.len());
        }
        while stream.capacity() == 0 {
            match poll_fn(|cx| stream.poll_capacity(cx)).await {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Err(h2::Error::from(Reason::STREAM_CLOSED)),
            }
        }
    }
    stream.send_data(data, end_of_stream)
}
