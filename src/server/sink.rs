//! `ResponseSink`: the one send path of a streaming response.
//!
//! Layer: h2 glue. A server-streaming or bidi handler gets a sink and sends
//! on it at any time, the way the seed's Go code calls `stream.Send`:
//!
//! ```text
//!  handler task                           call task (the driver, call.rs)
//!  ────────────                           ───────────────────────────────
//!  sink.send(&msg) ─encode─▶ ┌─────────┐  handler pending ─▶ head (once) ─▶ h2
//!  sink.send_head(md)        │ Shared  │ ─────────────────▶ batch ───────▶ h2 (window allowing)
//!  sink.set_trailers(md)     │ (Mutex) │  handler done ───▶ rest, then trailers
//!                            └─────────┘
//! ```
//!
//! - **Borrowed sends**: `send(&msg)` encodes the message straight into the
//!   batch that goes to h2; nothing is cloned or queued as a value.
//! - **Flow control** (RFC 9113 §5.2): the sink takes a message only while
//!   less than one batch (`flow::COALESCE_BYTES`) is waiting for the peer's
//!   window, so a peer that stops reading stops the handler at its next
//!   `send` instead of growing our memory.
//! - **Batching**: the call task hands the batch to h2 whenever the handler
//!   waits (or the batch is full), so every message ready in one poll leaves
//!   in one DATA write, as a returned stream's ready items always did.
//! - **The head** (PROTOCOL-HTTP2.md "Responses"). A client that waits for
//!   the head before it sends (tonic, hyper's `Body` model) must never be
//!   deadlocked against a handler that reads before it writes, so:
//!   - a bidi handler with a sink: the head goes out when the handler first
//!     reads the request stream, if it has not sent it before (so a handler
//!     can still `send_head` its metadata, and one that fails before it
//!     reads answers Trailers-Only);
//!   - a server-streaming handler with a sink: with the first message, on
//!     `send_head`, or the first time the handler waits, whichever is first
//!     (a handler that fails before it waits answers Trailers-Only);
//!   - a handler that returns a stream: as it returns it (as tonic does);
//!     an `Err` returned instead is a Trailers-Only response.
//!
//! Only the call task touches h2: the sink may be moved to another task,
//! and then each side wakes the other through the wakers kept in `Shared`.
//!
//! What the generated code does for a server-streaming rpc, by hand:
//!
//! ```no_run
//! use h2grpc::codec::ProstCodec;
//! use h2grpc::server::{Call, ResponseSink, Service};
//!
//! struct Counter;
//!
//! impl Service for Counter {
//!     fn name(&self) -> &'static str {
//!         "demo.Counter"
//!     }
//!     fn call(&self, method: &str, call: Call) {
//!         match method {
//!             // rpc Count(google.protobuf.StringValue) returns (stream google.protobuf.StringValue)
//!             "Count" => call.server_streaming_sink(
//!                 ProstCodec::<String, String>::default(),
//!                 |request, mut sink: ResponseSink<String>| async move {
//!                     for i in 0..3 {
//!                         sink.send(&format!("{} {i}", request.get_ref())).await?;
//!                     }
//!                     Ok(()) // grpc-status 0
//!                 },
//!             ),
//!             _ => call.unimplemented(),
//!         }
//!     }
//! }
//! ```

use std::fmt;
use std::future::poll_fn;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};

use bytes::BytesMut;
use futures::Stream;

use super::respond::{Responder, build_head};
use crate::codec::{Codec, encode_message};
use crate::flow::Batch;
use crate::request::{Response, ResponseExtra};
use crate::streaming::BeforeRead;
use crate::trace::Side;
use crate::wire::compression::{CompressionToggle, Encoding, SendCompression};
use crate::wire::metadata::Metadata;
use crate::wire::status::{Code, Status};

/// The sending side of a streaming response, handed to the handler.
///
/// Dropping it sends nothing: the call ends when the handler returns, with
/// its `Result` as the status.
pub struct ResponseSink<T> {
    shared: Arc<Mutex<Shared>>,
    encode: EncodeFn<T>,
}

/// Encodes one message into the batch: `(message, batch, send limit, encoding)`.
/// A closure over the call's codec (see `streaming::DecodeFn`).
type EncodeFn<T> =
    Box<dyn Fn(&T, &mut BytesMut, usize, Option<Encoding>) -> Result<(), Status> + Send + Sync>;

fn encoder_for<C: Codec>(codec: C) -> EncodeFn<C::Encode> {
    Box::new(move |item, buf, max, encoding| {
        encode_message(&codec, item, buf, max, encoding, Side::Server)
    })
}

/// Where the response head stands.
enum Head {
    /// Not fixed yet; the metadata it will carry.
    Unsent(Metadata),
    /// Fixed (by the first message or `send_head`), for the driver to send
    /// at its next turn.
    Built(http::Response<()>),
    Sent,
}

/// What the sink and the call task share.
pub(super) struct Shared {
    /// Encoded messages not yet handed to h2.
    batch: Batch,
    head: Head,
    /// Send the head the first time the handler waits (server-streaming
    /// handlers with a sink).
    eager_head: bool,
    compression: SendCompression,
    /// Whether the client's `grpc-accept-encoding` lists gzip.
    accepts_gzip: bool,
    /// The server's default response compression.
    default_encoding: Option<Encoding>,
    /// Whether the encoding is fixed: from the first message or the head on.
    settled: bool,
    trailers: Metadata,
    max_send_bytes: usize,
    /// A message the handler sent could not be encoded (over the send limit):
    /// the call ends with this status even if the handler returns `Ok`.
    failed: Option<Status>,
    /// Set when the call is over: every later send fails with it.
    closed: Option<Status>,
    /// The sink waits for the batch to drain below a full one.
    sink_waiting: bool,
    sink_waker: Option<Waker>,
    driver_waker: Option<Waker>,
}

impl Shared {
    /// Fixes the response encoding (doc/compression.md: only one the client accepts).
    fn settle(&mut self) {
        if !self.settled {
            self.settled = true;
            let accepts_gzip = self.accepts_gzip;
            self.compression.encoding =
                self.compression
                    .encoding
                    .or(self.default_encoding)
                    .filter(|e| match e {
                        Encoding::Identity => false,
                        Encoding::Gzip => accepts_gzip,
                    });
        }
    }

    /// Wakes the call task unless it is the one polling (`current`).
    fn wake_driver(&self, current: &Waker) {
        if let Some(driver) = &self.driver_waker
            && !driver.will_wake(current)
        {
            driver.wake_by_ref();
        }
    }

    /// Fixes the head: its metadata and encoding can no longer change.
    fn build_head(&mut self) {
        if matches!(self.head, Head::Unsent(_)) {
            self.settle();
            if let Head::Unsent(metadata) = &self.head {
                self.head = Head::Built(build_head(metadata, self.compression.encoding));
            }
        }
    }

    /// Later sends fail with `status` (the first reason given stays); a sink
    /// waiting on another task is woken to learn it.
    fn close(&mut self, status: Status) {
        if self.closed.is_none() {
            self.closed = Some(status);
        }
        if let Some(sink) = self.sink_waker.take() {
            sink.wake();
        }
    }

    fn send_head(&mut self, responder: &mut Responder) -> Result<(), h2::Error> {
        self.build_head();
        if let Head::Built(head) = std::mem::replace(&mut self.head, Head::Sent) {
            responder.send_built_head(head)?;
        }
        Ok(())
    }
}

impl<T> ResponseSink<T> {
    /// A sink for codec `C`, and the call task's handle on the same state.
    pub(super) fn new<C: Codec<Encode = T>>(
        codec: C,
        max_send_bytes: usize,
        default_encoding: Option<Encoding>,
        accepts_gzip: bool,
    ) -> (ResponseSink<T>, SinkDriver) {
        let shared = Arc::new(Mutex::new(Shared {
            batch: Batch::new(),
            head: Head::Unsent(Metadata::new()),
            eager_head: false,
            compression: SendCompression::default(),
            accepts_gzip,
            default_encoding,
            settled: false,
            trailers: Metadata::new(),
            max_send_bytes,
            failed: None,
            closed: None,
            sink_waiting: false,
            sink_waker: None,
            driver_waker: None,
        }));
        let driver = SinkDriver {
            shared: shared.clone(),
        };
        let sink = ResponseSink {
            shared,
            encode: encoder_for(codec),
        };
        (sink, driver)
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }

    /// From now on the head goes out the first time the handler waits.
    pub(super) fn head_at_first_wait(&self) {
        self.lock().eager_head = true;
    }

    /// A hook that fixes the head (with whatever metadata `send_head` or
    /// `set_head_metadata` gave it by then): a bidi handler's request stream
    /// runs it before its first read, so the head goes out before the
    /// handler waits for the client.
    pub(super) fn head_before(&self) -> BeforeRead {
        let shared = self.shared.clone();
        Box::new(move || lock(&shared).build_head())
    }

    /// Sends one message: encodes it (borrowed, no clone) into the next DATA
    /// write. Waits while a full batch is still waiting for the peer's flow
    /// control window. Fails once the call is over (client reset, deadline,
    /// the handler returned), or with `RESOURCE_EXHAUSTED` for a message over
    /// the send limit, which then also ends the call.
    pub async fn send(&mut self, message: &T) -> Result<(), Status> {
        poll_fn(|cx| self.poll_send(cx, message)).await
    }

    fn poll_send(&self, cx: &mut Context<'_>, message: &T) -> Poll<Result<(), Status>> {
        let mut s = self.lock();
        if let Some(status) = &s.closed {
            return Poll::Ready(Err(status.clone()));
        }
        if s.batch.is_full() {
            s.sink_waiting = true;
            store_waker(&mut s.sink_waker, cx.waker());
            s.wake_driver(cx.waker());
            return Poll::Pending;
        }
        // The first message fixes the head (and the trace shows it first,
        // as h2 will send it).
        s.build_head();
        let was_empty = s.batch.is_empty();
        s.batch.make_room();
        let (max, encoding) = (s.max_send_bytes, s.compression.for_next_message());
        if let Err(status) = (self.encode)(message, s.batch.buf(), max, encoding) {
            s.failed = Some(status.clone());
            s.closed = Some(status.clone());
            return Poll::Ready(Err(status));
        }
        if was_empty {
            // The call task flushes when the handler waits; if the handler
            // runs on another task, tell the call task there is work.
            s.wake_driver(cx.waker());
        }
        Poll::Ready(Ok(()))
    }

    /// Sends the response head now, with `metadata`, before any message
    /// (grpc-go's `SendHeader`). Fails if the head has already gone out.
    pub fn send_head(&mut self, metadata: Metadata) -> Result<(), Status> {
        let mut s = self.lock();
        if let Some(status) = &s.closed {
            return Err(status.clone());
        }
        match s.head {
            Head::Unsent(_) => {
                s.head = Head::Unsent(metadata);
                s.build_head();
                if let Some(driver) = &s.driver_waker {
                    driver.wake_by_ref();
                }
                Ok(())
            }
            Head::Built(_) | Head::Sent => Err(Status::internal("response head already sent")),
        }
    }

    /// Head metadata to send with the head when it goes out (ignored once it has).
    pub fn set_head_metadata(&mut self, metadata: Metadata) {
        if let Head::Unsent(current) = &mut self.lock().head {
            *current = metadata;
        }
    }

    /// Hands every message sent so far to h2 now, instead of when the
    /// handler next waits (a handler that computes for long between sends).
    pub async fn flush(&mut self) -> Result<(), Status> {
        poll_fn(|cx| {
            let mut s = self.lock();
            if let Some(status) = &s.closed {
                return Poll::Ready(Err(status.clone()));
            }
            if s.batch.is_empty() {
                return Poll::Ready(Ok(()));
            }
            s.sink_waiting = true;
            store_waker(&mut s.sink_waker, cx.waker());
            s.wake_driver(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Trailing metadata, sent with `grpc-status` when the handler returns.
    pub fn set_trailers(&mut self, trailers: Metadata) {
        self.lock().trailers = trailers;
    }

    /// Compresses the messages with `encoding` if the client accepts it (else
    /// they go out plain). Only before the first message or the head.
    pub fn set_send_compression(&mut self, encoding: Encoding) {
        let mut s = self.lock();
        if !s.settled {
            s.compression.encoding = Some(encoding);
        }
    }

    /// A switch that turns compression on or off for each message that follows.
    pub fn compression_toggle(&mut self) -> CompressionToggle {
        self.lock()
            .compression
            .toggle
            .get_or_insert_with(CompressionToggle::default)
            .clone()
    }

    /// Sends every message of `stream`; stops at the first error and returns it.
    pub async fn send_all<S>(&mut self, stream: S) -> Result<(), Status>
    where
        S: Stream<Item = Result<T, Status>>,
    {
        let mut stream = pin!(stream);
        // The item waiting for room is owned here, not borrowed across an
        // await, so this future is `Send` for any `T: Send`.
        let mut pending: Option<T> = None;
        poll_fn(|cx| {
            loop {
                if let Some(item) = &pending {
                    ready!(self.poll_send(cx, item))?;
                    pending = None;
                }
                match ready!(stream.as_mut().poll_next(cx)) {
                    Some(Ok(item)) => pending = Some(item),
                    Some(Err(status)) => return Poll::Ready(Err(status)),
                    None => return Poll::Ready(Ok(())),
                }
            }
        })
        .await
    }

    /// Sends a whole stream-style response: its head metadata, its stream,
    /// its trailers and compression (the adapter the returned-`Stream`
    /// handlers go through). The head is fixed here and goes out at once,
    /// unless a message or `send_head` has already sent one.
    pub async fn send_response<S>(&mut self, response: Response<S>) -> Result<(), Status>
    where
        S: Stream<Item = Result<T, Status>>,
    {
        let (metadata, stream, extra) = response.into_parts();
        {
            let mut s = self.lock();
            if let Head::Unsent(current) = &mut s.head {
                *current = metadata;
            }
            if let Some(extra) = extra {
                let ResponseExtra {
                    trailers,
                    compression,
                } = *extra;
                s.trailers = trailers;
                if !s.settled {
                    s.compression = compression;
                }
            }
            s.build_head();
        }
        self.send_all(stream).await
    }
}

impl<T> fmt::Debug for ResponseSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("ResponseSink")
            .field("buffered", &s.batch.len())
            .field("head_sent", &!matches!(s.head, Head::Unsent(_)))
            .field("closed", &s.closed.is_some())
            .finish_non_exhaustive()
    }
}

/// Hands the whole batch to h2 now, window or not (its head has gone out).
fn hand_rest(s: &mut Shared, responder: &mut Responder) -> Result<(), h2::Error> {
    if s.batch.is_empty() {
        return Ok(());
    }
    let data = s.batch.take_all();
    responder.send_whole(data)
}

/// The call task's side of a sink: it does all the I/O.
pub(super) struct SinkDriver {
    shared: Arc<Mutex<Shared>>,
}

impl SinkDriver {
    /// One turn after the handler's poll returned `Pending`: sends the head if
    /// it is due and hands the batch to h2 if the window has room. `Ok(true)`
    /// when the sink was waiting for room and has it now: poll the handler
    /// again. `Err` when the stream broke.
    pub(super) fn turn(
        &self,
        responder: &mut Responder,
        cx: &mut Context<'_>,
    ) -> Result<bool, h2::Error> {
        let mut s = lock(&self.shared);
        store_waker(&mut s.driver_waker, cx.waker());
        let head_due = match s.head {
            Head::Unsent(_) => s.eager_head,
            Head::Built(_) => true,
            Head::Sent => false,
        };
        if head_due {
            s.send_head(responder)?;
        }
        if s.batch.is_empty() {
            return Ok(false);
        }
        let Some(stream) = responder.stream_mut() else {
            return Ok(false);
        };
        stream.reserve_capacity(s.batch.len());
        while stream.capacity() == 0 {
            match stream.poll_capacity(cx) {
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(Some(Err(e))) => return Err(e),
                Poll::Ready(None) => return Err(h2::Error::from(h2::Reason::STREAM_CLOSED)),
                Poll::Pending => {
                    if crate::trace::enabled() {
                        crate::trace::window_wait(s.batch.len());
                    }
                    return Ok(false);
                }
            }
        }
        let waiting = std::mem::take(&mut s.sink_waiting);
        // A full batch leaves in whole frames; its tail opens the next batch.
        let data = match waiting.then(|| s.batch.take_full()).flatten() {
            Some(full) => full,
            None => s.batch.take_all(),
        };
        responder.send_whole(data)?;
        if waiting
            && let Some(sink) = &s.sink_waker
            && !sink.will_wake(cx.waker())
        {
            sink.wake_by_ref();
        }
        Ok(waiting)
    }

    /// After the handler returned `result`: hands what is left to h2 and
    /// gives the status and trailers to end the call with. The sink is
    /// closed in the same step, so a send from another task after this fails
    /// instead of being lost.
    ///
    /// What is left goes to h2 without waiting for the window: it is at most
    /// one batch (the bound a send keeps to), and the call then holds no
    /// bytes of its own while the trailers wait behind them.
    pub(super) fn finish(
        &self,
        responder: &mut Responder,
        result: Result<(), Status>,
    ) -> Result<(Option<Status>, Metadata), h2::Error> {
        let mut s = lock(&self.shared);
        let status = result.err().or_else(|| s.failed.take());
        // Unsent here means no message and no `send_head`: Trailers-Only.
        if matches!(s.head, Head::Built(_)) {
            s.send_head(responder)?;
        }
        s.close(Status::cancelled("the call has ended"));
        hand_rest(&mut s, responder)?;
        Ok((status, std::mem::take(&mut s.trailers)))
    }

    /// The call ends before the handler returned (deadline): the rest of a
    /// message already partly on the wire still goes out, so the trailers
    /// follow whole messages (a cut one would read as a truncated frame).
    pub(super) fn abandon(&self, responder: &mut Responder) {
        let mut s = lock(&self.shared);
        s.close(Status::deadline_exceeded("deadline exceeded"));
        if matches!(s.head, Head::Sent) {
            let _ = hand_rest(&mut s, responder);
        }
    }

    /// The call is over (ended with `code`): later sends fail, and a sink
    /// waiting on another task is woken to learn it.
    pub(super) fn close(&self, code: Code) {
        let mut s = lock(&self.shared);
        s.close(match code {
            Code::DeadlineExceeded => Status::deadline_exceeded("deadline exceeded"),
            _ => Status::cancelled("the call has ended"),
        });
        s.batch = Batch::new();
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A handler that panicked while holding the lock left the state whole
    // (every update is a few field writes): keep going with it.
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

fn store_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(current) if current.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}
