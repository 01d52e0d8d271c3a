//! Call handles: the client side of client-streaming and bidi calls, in the
//! seed's model (`Send`, `CloseSend`, `Recv`, `CloseAndRecv`).
//!
//! Layer: h2 glue. A handle is returned as soon as the request head is sent,
//! before the response head arrives: servers that send their head only with
//! their first message (grpc-go, C-core, Python) are then served by a
//! caller that sends first. The response head is awaited by the first
//! receive.
//!
//! ```text
//!  RequestSink::feed(&msg) ─encode─▶ batch ─(full)─▶ h2 DATA   (waits for the window)
//!  RequestSink::flush()              batch ───────▶ h2 DATA
//!  RequestSink::send(&msg)           feed + flush
//!  RequestSink::close()              batch + END_STREAM (half-close)
//!  Streaming::message()              ◀── HEADERS, DATA…, TRAILERS
//! ```
//!
//! Deadline: every operation (send, and the waits for the window, the head
//! and messages) fails with `DEADLINE_EXCEEDED` once the call's deadline has
//! passed, and the stream is reset (CANCEL) by the first to see it (for a
//! call split in two, the receive half alone cannot reset: the send half
//! does at its next operation, or h2 does when both are dropped).
//!
//! What a generated client's bidi method does, by hand (a ping-pong):
//!
//! ```no_run
//! use h2grpc::{client::Channel, codec::ProstCodec, Request};
//!
//! # async fn demo() -> Result<(), h2grpc::Status> {
//! let channel = Channel::connect("http://127.0.0.1:50051").await?;
//! let mut request = Request::new(()); // metadata and timeout only: messages go on the handle
//! request.set_timeout(std::time::Duration::from_secs(5));
//! let codec = ProstCodec::<String, String>::default();
//! let mut call = channel.streaming_call("/demo.Echo/Chat", request, codec).await?;
//! for word in ["ping", "pong"] {
//!     call.send(&word.to_string()).await?;
//!     let reply = call.recv().await?; // the first recv also waits for the response head
//!     println!("{reply:?}");
//! }
//! call.close_send().await?; // END_STREAM: the server's recv ends
//! while let Some(reply) = call.recv().await? {
//!     println!("{reply}");
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::pin::pin;
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use h2::SendStream;
use tokio::time::Instant;

use super::retry_stream::DriverSink;
use crate::codec::{Codec, encode_message};
use crate::flow::Batch;
use crate::request::Response;
use crate::streaming::{Streaming, status_from_h2};
use crate::trace::{self, Dir, Side};
use crate::wire::compression::{Encoding, SendCompression};
use crate::wire::metadata::Metadata;
use crate::wire::status::Status;

/// The sending half of a client-streaming or bidi call.
///
/// Dropping it without [`RequestSink::close`] leaves the request stream
/// open: a truncated upload is never mistaken for a finished one. Dropping
/// the whole call (both halves) cancels it.
pub struct RequestSink<T> {
    send: Outlet,
    batch: Batch,
    encode: EncodeFn<T>,
    max_send_bytes: usize,
    compression: SendCompression,
    deadline: Option<Instant>,
    /// Half-closed (or failed): nothing more may be sent.
    closed: bool,
}

/// Where a sink's batches go.
#[derive(Debug)]
pub(crate) enum Outlet {
    /// The call's one HTTP/2 stream: no retry policy, nothing kept.
    Stream(SendStream<Bytes>),
    /// The driver of a call a retry policy may send again (`retry_stream.rs`).
    Retried(DriverSink),
}

impl Outlet {
    async fn send(&mut self, data: Bytes, end_of_stream: bool) -> Result<(), h2::Error> {
        match self {
            Outlet::Stream(send) => crate::flow::send_data(send, data, end_of_stream).await,
            Outlet::Retried(driver) => driver.send(data, end_of_stream).await,
        }
    }

    fn reset(&mut self) {
        match self {
            Outlet::Stream(send) => send.send_reset(h2::Reason::CANCEL),
            Outlet::Retried(driver) => driver.cancel(),
        }
    }
}

/// Encodes one message: `(message, batch, send limit, encoding)`.
/// A closure over the call's codec (see `streaming::DecodeFn`).
type EncodeFn<T> =
    Box<dyn Fn(&T, &mut BytesMut, usize, Option<Encoding>) -> Result<(), Status> + Send + Sync>;

fn encoder_for<C: Codec>(codec: C) -> EncodeFn<C::Encode> {
    Box::new(move |item, buf, max, encoding| {
        encode_message(&codec, item, buf, max, encoding, Side::Client)
    })
}

impl<T> RequestSink<T> {
    pub(crate) fn new<C: Codec<Encode = T>>(
        codec: C,
        send: Outlet,
        max_send_bytes: usize,
        compression: SendCompression,
        deadline: Option<Instant>,
    ) -> RequestSink<T> {
        RequestSink {
            send,
            batch: Batch::new(),
            encode: encoder_for(codec),
            max_send_bytes,
            compression,
            deadline,
            closed: false,
        }
    }

    /// Sends one message now (encoded from the borrow, no clone), waiting
    /// for the server's flow-control window.
    ///
    /// An `Err` from the transport means the call is over; the receive side
    /// (`recv`, `close_and_recv`) then reports the server's status.
    pub async fn send(&mut self, message: &T) -> Result<(), Status> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Queues one message without sending it yet; a full batch (32 KiB)
    /// goes out at once. [`RequestSink::flush`] sends the rest: many small
    /// messages then leave in one DATA frame.
    pub async fn feed(&mut self, message: &T) -> Result<(), Status> {
        self.encode(message)?;
        if let Some(full) = self.batch.take_full() {
            self.hand(full, false).await?;
        }
        Ok(())
    }

    /// Sends every queued message.
    pub async fn flush(&mut self) -> Result<(), Status> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let data = self.batch.take_all();
        self.hand(data, false).await
    }

    /// Sends what is queued and half-closes the request stream (END_STREAM):
    /// the server's `recv` then ends. Closing twice does nothing.
    pub async fn close(&mut self) -> Result<(), Status> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let data = self.batch.take_all();
        self.hand(data, true).await
    }

    /// Encodes into the batch; a message over the send limit fails the call
    /// (`RESOURCE_EXHAUSTED`) and resets the stream, so the server stops too.
    fn encode(&mut self, message: &T) -> Result<(), Status> {
        if self.closed {
            return Err(Status::failed_precondition(
                "the request stream is already closed",
            ));
        }
        // A send that needs no wait must not slip out after the deadline.
        if self.deadline.is_some_and(|d| d <= Instant::now()) {
            return Err(self.expire());
        }
        self.batch.make_room();
        let encoding = self.compression.for_next_message();
        let max = self.max_send_bytes;
        if let Err(status) = (self.encode)(message, self.batch.buf(), max, encoding) {
            self.fail();
            return Err(status);
        }
        Ok(())
    }

    /// Hands `data` to h2 once the window has room, by the deadline.
    async fn hand(&mut self, data: Bytes, end_of_stream: bool) -> Result<(), Status> {
        let sent = self.send.send(data, end_of_stream);
        let sent = match self.deadline {
            None => sent.await,
            Some(deadline) => match tokio::time::timeout_at(deadline, sent).await {
                Ok(sent) => sent,
                Err(_) => return Err(self.expire()),
            },
        };
        sent.map_err(|e| {
            self.closed = true;
            match e.reason() {
                // The stream is closed under us: the server ended the call
                // (or reset it), and the receive side has its status.
                Some(h2::Reason::STREAM_CLOSED | h2::Reason::NO_ERROR) if !e.is_remote() => {
                    Status::failed_precondition(
                        "the call has ended: the receive side gives its status",
                    )
                }
                _ => status_from_h2(&e),
            }
        })
    }

    /// The deadline has passed: reset the stream (CANCEL) and say so.
    pub(crate) fn expire(&mut self) -> Status {
        if !self.closed {
            self.fail();
            if trace::enabled() {
                let reason = h2::Reason::CANCEL;
                trace::reset(Side::Client, Dir::Send, reason, "deadline exceeded");
            }
        }
        Status::deadline_exceeded("deadline exceeded")
    }

    /// Ends the call from our side: RST_STREAM(CANCEL).
    fn fail(&mut self) {
        self.closed = true;
        self.batch.take_all();
        self.send.reset();
    }

    /// Sends every message of `messages`, coalescing the ready ones, then
    /// half-closes (the stream-style calls' pump). `Err` only for a failure
    /// on our side (a message over the limit); a stream the server closed
    /// just ends the pump, and the response carries the server's status.
    pub(crate) async fn send_stream<S>(&mut self, messages: S) -> Result<(), Status>
    where
        S: Stream<Item = T>,
    {
        let mut messages = pin!(messages);
        loop {
            let next = std::future::poll_fn(|cx| match messages.as_mut().poll_next(cx) {
                Poll::Ready(item) => Poll::Ready(Some(item)),
                Poll::Pending if !self.batch.is_empty() => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            })
            .await;
            let sent = match next {
                Some(Some(item)) => {
                    self.encode(&item)?;
                    match self.batch.take_full() {
                        Some(full) => self.hand(full, false).await,
                        None => continue,
                    }
                }
                // End of input: the last batch carries END_STREAM, or an empty DATA frame does.
                Some(None) => {
                    let _ = self.close().await;
                    return Ok(());
                }
                None => self.flush().await,
            };
            match sent {
                Ok(()) => {}
                Err(status) if status.code() == crate::Code::DeadlineExceeded => {
                    return Err(status);
                }
                Err(_) => return Ok(()),
            }
        }
    }
}

impl<T> fmt::Debug for RequestSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSink")
            .field("buffered", &self.batch.len())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// A bidirectional call in progress: send and receive in any order
/// (`processOrders`). [`StreamingCall::split`] gives the two halves to two tasks.
pub struct StreamingCall<Req, Resp> {
    requests: RequestSink<Req>,
    responses: Streaming<Resp>,
}

impl<Req, Resp> StreamingCall<Req, Resp> {
    pub(crate) fn new(requests: RequestSink<Req>, responses: Streaming<Resp>) -> Self {
        StreamingCall {
            requests,
            responses,
        }
    }

    /// Sends one request message now.
    pub async fn send(&mut self, message: &Req) -> Result<(), Status> {
        self.requests.send(message).await
    }

    /// Queues one request message; it leaves with the next flush or receive.
    pub async fn feed(&mut self, message: &Req) -> Result<(), Status> {
        self.requests.feed(message).await
    }

    /// Sends every queued request message.
    pub async fn flush(&mut self) -> Result<(), Status> {
        self.requests.flush().await
    }

    /// Half-closes the request stream: no more requests (grpc-go's `CloseSend`).
    pub async fn close_send(&mut self) -> Result<(), Status> {
        self.requests.close().await
    }

    /// The next response message, `Ok(None)` once the server ended the call
    /// with OK, or its status. Queued requests are sent first, so a
    /// ping-pong of `feed` and `recv` never waits on itself.
    pub async fn recv(&mut self) -> Result<Option<Resp>, Status> {
        // A failed flush means the call is over; the responses say how.
        let _ = self.requests.flush().await;
        let received = self.responses.message().await;
        self.reset_if_expired();
        received
    }

    /// Waits for the response head; returns its metadata.
    pub async fn head(&mut self) -> Result<&Metadata, Status> {
        let _ = self.requests.flush().await;
        if let Err(status) = self.responses.head().await {
            self.reset_if_expired();
            return Err(status);
        }
        self.responses.head().await
    }

    /// The receive side saw the deadline pass: the request side resets the
    /// stream (RST_STREAM CANCEL), so the server stops too.
    fn reset_if_expired(&mut self) {
        if self.responses.deadline_exceeded() {
            self.requests.expire();
        }
    }

    /// The trailing metadata, once the call has ended.
    pub fn trailers(&self) -> Option<&Metadata> {
        self.responses.trailers()
    }

    /// The two halves, for a sending task and a receiving task.
    pub fn split(self) -> (RequestSink<Req>, Streaming<Resp>) {
        (self.requests, self.responses)
    }
}

impl<Req, Resp> fmt::Debug for StreamingCall<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingCall")
            .field("requests", &self.requests)
            .field("responses", &self.responses)
            .finish()
    }
}

/// A client-streaming call in progress: send requests, then
/// [`ClientStreamingCall::close_and_recv`] for the one response (`updateOrders`).
pub struct ClientStreamingCall<Req, Resp> {
    requests: RequestSink<Req>,
    responses: Streaming<Resp>,
}

impl<Req, Resp> ClientStreamingCall<Req, Resp> {
    pub(crate) fn new(requests: RequestSink<Req>, responses: Streaming<Resp>) -> Self {
        ClientStreamingCall {
            requests,
            responses,
        }
    }

    /// Sends one request message now.
    pub async fn send(&mut self, message: &Req) -> Result<(), Status> {
        self.requests.send(message).await
    }

    /// Queues one request message; it leaves with the next flush or the close.
    pub async fn feed(&mut self, message: &Req) -> Result<(), Status> {
        self.requests.feed(message).await
    }

    /// Sends every queued request message.
    pub async fn flush(&mut self) -> Result<(), Status> {
        self.requests.flush().await
    }

    /// Half-closes the request stream and waits for the server's one reply
    /// (grpc-go's `CloseAndRecv`).
    pub async fn close_and_recv(mut self) -> Result<Response<Resp>, Status> {
        // If the server has ended the call already, its status says why.
        let _ = self.requests.close().await;
        let reply = super::call::single(&mut self.responses).await;
        if self.responses.deadline_exceeded() {
            self.requests.expire();
        }
        reply
    }
}

impl<Req, Resp> fmt::Debug for ClientStreamingCall<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientStreamingCall")
            .field("requests", &self.requests)
            .field("responses", &self.responses)
            .finish()
    }
}
