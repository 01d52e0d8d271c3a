//! Retries (gRFC A6) of client-streaming and bidi calls: the request
//! messages are kept for replay until the call commits.
//!
//! Layer: h2 glue, beside `retry.rs` (which retries the one-request calls).
//! Only a call whose method has a retry policy comes here; every other
//! streaming call writes to its HTTP/2 stream directly and keeps nothing.
//!
//! A *driver* task (`retry_stream/driver.rs`) owns the call's attempts. The
//! application's handle ([`RequestSink`](super::RequestSink) and
//! `Streaming`) does not see them: its sends go to the driver's queue, and
//! its response head is the one of the attempt the call committed to.
//!
//! ```text
//!  RequestSink ─(encoded bytes, END_STREAM)─▶ driver ─▶ live attempt's h2 stream
//!                                               │  keeps a copy while not committed
//!  Streaming ◀──── committed attempt's head ────┘
//!
//!  attempt n: HEADERS (grpc-previous-rpc-attempts: n-1, what is left of the deadline)
//!             DATA … every byte kept so far, END_STREAM if the application had closed
//!             DATA … what the application sends from now on
//!     ├──▶ response head (not Trailers-Only) ──▶ committed: the copy is dropped
//!     ├──▶ the kept bytes would pass a limit ──▶ committed (this attempt's end is the call's)
//!     ├──▶ Trailers-Only / stream error, retryable code ──▶ backoff (as retry.rs), attempt n+1
//!     └──▶ refused unseen (GOAWAY) ──▶ attempt again at once, not counted
//! ```
//!
//! A6 ("Buffered RPCs"): "the client buffers ... outgoing messages ... until
//! the RPC is committed"; once a buffer limit would be exceeded the call
//! commits. A6 names no number; we take C-core's (grpcio's) per-call default
//! `grpc.per_rpc_retry_buffer_size`, 256 KiB, and grpc-java's channel-wide
//! `retryBufferSize`, 16 MiB (its per-call `perRpcBufferLimit` is 1 MiB).
//!
//! The handle is returned before the first attempt starts, so a call that
//! cannot connect reports it on its receive side. Dropping the receive half
//! before the head came ends the driver (and h2 resets the live attempt).
//!
//! A message received commits the call too (A6), but none arrives before
//! the response head, so the head suffices here. Throttling as for unary
//! calls: each retryable failure takes a token, a call that ends OK (its
//! `Streaming` reads the OK trailers) gives `tokenRatio` back.

mod driver;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::Channel;
use super::service_config::RetryPolicy;
use crate::streaming::{OnEnd, RetriedHead};
use crate::wire::compression::Encoding;
use crate::wire::metadata::Metadata;
use crate::wire::path::MethodPath;
use crate::wire::status::Code;
use driver::Driver;

/// Most bytes one call keeps for replay (C-core's `grpc.per_rpc_retry_buffer_size`).
pub const PER_RPC_RETRY_BUFFER_BYTES: usize = 256 * 1024;

/// Most bytes all of a channel's calls keep for replay together (grpc-java's
/// `retryBufferSize`).
pub const CHANNEL_RETRY_BUFFER_BYTES: usize = 16 * 1024 * 1024;

/// Batches the sink may queue ahead of the driver: one, so a server that
/// stops reading holds the application as it would without retries.
const QUEUE_BATCHES: usize = 1;

/// The bytes a channel's calls keep for replay, against
/// [`CHANNEL_RETRY_BUFFER_BYTES`].
#[derive(Debug, Default)]
pub(crate) struct RetryBuffers(AtomicUsize);

impl RetryBuffers {
    /// Takes room for `len` bytes; false if it would pass the limit.
    fn reserve(&self, len: usize) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(len)
                    .filter(|&n| n <= CHANNEL_RETRY_BUFFER_BYTES)
            })
            .is_ok()
    }

    fn release(&self, len: usize) {
        self.0.fetch_sub(len, Ordering::AcqRel);
    }
}

/// One request batch: its bytes and whether END_STREAM follows.
type Chunk = (Bytes, bool);

/// The sink's end of the driver: its queue and its cancel signal.
#[derive(Debug)]
pub(crate) struct DriverSink {
    queue: mpsc::Sender<Chunk>,
    cancel: Option<oneshot::Sender<()>>,
}

impl DriverSink {
    /// Hands a batch to the driver; `Err` once the call is over.
    pub(super) async fn send(&mut self, data: Bytes, end_of_stream: bool) -> Result<(), h2::Error> {
        self.queue
            .send((data, end_of_stream))
            .await
            .map_err(|_| h2::Error::from(h2::Reason::STREAM_CLOSED))
    }

    /// Ends the call from our side: the live attempt is reset (CANCEL).
    pub(super) fn cancel(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            let _ = cancel.send(());
        }
    }
}

/// What a call's driver is given: where to send each attempt and how.
#[derive(Debug)]
pub(super) struct CallSpec {
    pub(super) path: MethodPath,
    pub(super) metadata: Metadata,
    pub(super) timeout: Option<Duration>,
    pub(super) deadline: Option<Instant>,
    pub(super) encoding: Option<Encoding>,
    pub(super) wait_for_ready: bool,
    pub(super) policy: RetryPolicy,
}

/// Starts the driver of one call: the sink's end and the response head to come.
pub(super) fn spawn(channel: &Channel, spec: CallSpec) -> (DriverSink, RetriedHead) {
    let (queue, requests) = mpsc::channel(QUEUE_BATCHES);
    let (cancel, cancelled) = oneshot::channel();
    let (head, head_rx) = oneshot::channel();
    let driver = Driver::new(channel.clone(), spec, requests, cancelled, head);
    tokio::spawn(driver.run());
    let sink = DriverSink {
        queue,
        cancel: Some(cancel),
    };
    (sink, head_rx)
}

/// The call's end callback (its interceptors'), made to give the retry
/// throttle its token back when the call ends OK (A6: each successful RPC).
pub(super) fn counting_success(channel: &Channel, on_end: Option<OnEnd>) -> Option<OnEnd> {
    if channel.inner.throttle.is_none() {
        return on_end;
    }
    let channel = channel.clone();
    Some(Box::new(move |code| {
        if code == Code::Ok
            && let Some(throttle) = &channel.inner.throttle
        {
            throttle.on_success();
        }
        if let Some(on_end) = on_end {
            on_end(code);
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_channel_buffer_refuses_what_would_pass_its_limit() {
        let pool = RetryBuffers::default();
        assert!(pool.reserve(CHANNEL_RETRY_BUFFER_BYTES - 10));
        assert!(!pool.reserve(11), "one byte over");
        assert!(pool.reserve(10), "exactly full");
        assert!(!pool.reserve(1));
        pool.release(CHANNEL_RETRY_BUFFER_BYTES - 10);
        assert!(pool.reserve(1000), "released room is taken again");
        assert!(!pool.reserve(usize::MAX), "no overflow");
    }
}
