//! `Streaming<T>`: the receive side of a call, shared by server and client.
//!
//! Layer: h2 glue. It pulls DATA chunks off an `h2::RecvStream`, hands them
//! to the sans-IO [`Decoder`], decodes each whole frame with the call's codec,
//! and — on the client — reads the trailers at the end and turns a non-OK
//! `grpc-status` into the stream's final `Err`.
//!
//! ```text
//!   AwaitHead (client) ──head──▶ ReadData ──END_STREAM──▶ ReadTrailers (client) ──trailers──▶ Done
//!      │  └─ Trailers-Only ─────────────────────────────────────────────────────────────────▶ Done
//!      │                            │                      (server: straight to Done)
//!      └── bad head, h2 error ──────┴── frame/h2 error ─────────────────────────────────────▶ Done
//! ```
//!
//! AwaitHead: a client-streaming or bidi call hands its `Streaming` out
//! before the response head has arrived, so the caller can send first: many
//! servers (grpc-go, C-core) send their head only with their first message,
//! and a client that waited for it before sending would deadlock against a
//! handler that reads first.
//!
//! Flow control: each chunk's bytes are released back to the peer
//! (`release_capacity`) as soon as the decoder holds them. The decoder keeps
//! at most one partial message (bounded by the receive limit) and this type
//! reads the next chunk only when no whole message is left, so a consumer that
//! stops reading stops the peer at its window instead of growing our memory.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures::Stream;
use h2::RecvStream;
use tokio::time::{Instant, Sleep};

use crate::codec::Codec;
use crate::trace::{self, Dir, Side};
use crate::wire::compression::{self, Encoding};
use crate::wire::frame::{self, Decoder};
use crate::wire::head::{self, ResponseHead};
use crate::wire::metadata::Metadata;
use crate::wire::status::{Code, Status};

mod guard;
mod h2_error;
mod head_future;
mod local;

pub(crate) use guard::{AbortOnDrop, Failure, PumpGuard};
pub(crate) use h2_error::status_from_h2;
use head_future::HeadFuture;
pub(crate) use head_future::RetriedHead;
use local::Local;

/// A stream of messages received on one call.
///
/// Yields `Ok(message)` for each message, then ends (`None`). On the client a
/// call that ended with a non-OK status yields that status as its last item.
/// A test builds one with [`Streaming::from_vec`] or [`Streaming::from_stream`].
pub struct Streaming<T> {
    /// The DATA and trailers; `None` until the response head has arrived.
    body: Option<RecvStream>,
    /// Client only: the response head, while it is awaited.
    head: Option<HeadFuture>,
    /// Client only: the response head's metadata, once it has arrived.
    head_metadata: Option<Metadata>,
    decoder: Decoder,
    decode: DecodeFn<T>,
    /// The peer's `grpc-encoding`: how flag-1 messages are to be inflated.
    encoding: Option<Encoding>,
    /// Whether the last message handed out had the compressed flag.
    last_compressed: bool,
    state: State,
    /// Client only: whether to expect trailers after the last DATA frame.
    expect_trailers: bool,
    /// Trailing metadata once read (client only).
    trailers: Option<Metadata>,
    /// Client only: local deadline enforcement.
    deadline: Option<Pin<Box<Sleep>>>,
    /// Client only: keeps the request-sending task alive; aborts it on drop.
    guard: Option<PumpGuard>,
    /// Server only: run before the first read (a bidi call fixes its
    /// response head there, see `server::sink`).
    before_first_read: Option<BeforeRead>,
    /// The status the stream failed with: `message` keeps returning it, so
    /// a caller never mistakes a failed call for a clean end.
    failure: Option<Status>,
    /// Client only: told the call's code once the stream ends (its
    /// interceptors' `on_end`); `CANCELLED` if it is dropped unfinished.
    on_end: Option<OnEnd>,
    /// A stream built in process (a test's `from_vec`/`from_stream`): its
    /// messages, read where a network stream would find no body.
    local: Option<Box<Local<T>>>,
}

/// A callback run once, with the code a client call ended with.
pub(crate) type OnEnd = Box<dyn FnOnce(Code) + Send + Sync>;

/// A callback run once, before a stream's first read.
pub(crate) type BeforeRead = Box<dyn FnOnce() + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitHead,
    ReadData,
    ReadTrailers,
    Done,
}

/// Decodes one message; `prefix` is its 5-byte prefix and `wire` its payload
/// as received, `inflated` the decompressed form when it was compressed. A
/// closure over the call's codec: boxing a codec with no fields (prost's)
/// allocates nothing, and one with settings keeps them.
pub(crate) type DecodeFn<T> = Box<
    dyn Fn(Side, [u8; frame::HEADER_LEN], Bytes, Option<Bytes>) -> Result<T, Status> + Send + Sync,
>;

fn decoder_for<C: Codec>(codec: C) -> DecodeFn<C::Decode> {
    Box::new(move |side, prefix, wire, inflated| decode_with(&codec, side, prefix, wire, inflated))
}

fn decode_with<C: Codec>(
    codec: &C,
    side: Side,
    prefix: [u8; frame::HEADER_LEN],
    wire: Bytes,
    inflated: Option<Bytes>,
) -> Result<C::Decode, Status> {
    if !trace::enabled() {
        return codec.decode(inflated.unwrap_or(wire));
    }
    let payload = inflated.clone().unwrap_or_else(|| wire.clone());
    let decoded = codec.decode(payload);
    let plain = inflated.as_deref();
    match &decoded {
        Ok(message) => trace::message(side, Dir::Recv, prefix, &wire, plain, message),
        Err(status) => trace::message(side, Dir::Recv, prefix, &wire, plain, status),
    }
    decoded
}

impl<T> Streaming<T> {
    /// Server side: the client's messages, ending at its END_STREAM.
    pub(crate) fn new_request<C>(
        codec: C,
        body: RecvStream,
        max_recv_bytes: usize,
        encoding: Option<Encoding>,
    ) -> Streaming<T>
    where
        C: Codec<Decode = T>,
    {
        Streaming {
            body: Some(body),
            head: None,
            head_metadata: None,
            decoder: Decoder::new(max_recv_bytes, encoding.is_some()),
            decode: decoder_for(codec),
            encoding,
            last_compressed: false,
            state: State::ReadData,
            expect_trailers: false,
            trailers: None,
            deadline: None,
            guard: None,
            before_first_read: None,
            failure: None,
            on_end: None,
            local: None,
        }
    }

    /// Server: runs `hook` once, just before this stream is first read.
    pub(crate) fn before_first_read(&mut self, hook: BeforeRead) {
        self.before_first_read = Some(hook);
    }

    /// Client side: the server's messages, then its trailers, once the
    /// response head `response` has arrived.
    pub(crate) fn new_response<C>(
        codec: C,
        response: h2::client::ResponseFuture,
        max_recv_bytes: usize,
        deadline: Option<Instant>,
    ) -> Streaming<T>
    where
        C: Codec<Decode = T>,
    {
        Streaming::client(
            codec,
            Some(HeadFuture::H2(response)),
            max_recv_bytes,
            deadline,
        )
    }

    /// Client side, for a call that a retry policy may send again: the head
    /// of the attempt the call committed to comes from the retry driver
    /// (`client::retry_stream`), or the status it ended with.
    pub(crate) fn new_retried<C>(
        codec: C,
        head: RetriedHead,
        max_recv_bytes: usize,
        deadline: Option<Instant>,
    ) -> Streaming<T>
    where
        C: Codec<Decode = T>,
    {
        Streaming::client(
            codec,
            Some(HeadFuture::Retried(head)),
            max_recv_bytes,
            deadline,
        )
    }

    /// Client side, from a response head already received (unary and server
    /// streaming, which send their whole request before they wait for it).
    pub(crate) fn from_head<C>(
        codec: C,
        response: http::Response<RecvStream>,
        max_recv_bytes: usize,
        deadline: Option<Instant>,
    ) -> Result<Streaming<T>, Status>
    where
        C: Codec<Decode = T>,
    {
        let mut stream = Streaming::client(codec, None, max_recv_bytes, deadline);
        stream.accept_head(response)?;
        Ok(stream)
    }

    /// A client stream waiting for its response head (`head`, or one handed
    /// to `accept_head`).
    fn client<C>(
        codec: C,
        head: Option<HeadFuture>,
        max_recv_bytes: usize,
        deadline: Option<Instant>,
    ) -> Streaming<T>
    where
        C: Codec<Decode = T>,
    {
        Streaming {
            body: None,
            head,
            head_metadata: None,
            decoder: Decoder::new(max_recv_bytes, false),
            decode: decoder_for(codec),
            encoding: None,
            last_compressed: false,
            state: State::AwaitHead,
            expect_trailers: true,
            trailers: None,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            guard: None,
            before_first_read: None,
            failure: None,
            on_end: None,
            local: None,
        }
    }

    /// Runs `on_end` with the call's code when the stream ends (or is dropped).
    pub(crate) fn set_on_end(&mut self, on_end: OnEnd) {
        self.on_end = Some(on_end);
    }

    /// Keeps a stream-style call's request pump alive as long as this stream.
    pub(crate) fn set_guard(&mut self, guard: PumpGuard) {
        self.guard = Some(guard);
    }

    /// Reads a response head: a Trailers-Only response ends the stream here.
    fn accept_head(&mut self, response: http::Response<RecvStream>) -> Result<(), Status> {
        let (parts, body) = response.into_parts();
        // END_STREAM on the HEADERS frame leaves h2 nothing more to deliver;
        // only such a head is Trailers-Only.
        let end_stream = body.is_end_stream();
        if trace::enabled() {
            let status = parts.status.as_u16();
            trace::response_head(Side::Client, Dir::Recv, status, &parts.headers, end_stream);
        }
        self.body = Some(body);
        // A failed head ends the call: the stream is done, nothing to cancel.
        let checked = head::check_response(parts.status.as_u16(), &parts.headers, end_stream);
        if checked.is_err() {
            self.state = State::Done;
            self.deadline = None;
        }
        match checked? {
            ResponseHead::TrailersOnly(trailers) => {
                self.trailers = Some(trailers);
                self.head_metadata = Some(Metadata::new());
                self.state = State::Done;
                self.deadline = None;
            }
            ResponseHead::Messages { encoding } => {
                self.encoding = encoding;
                self.decoder = Decoder::new(self.decoder.max_recv_bytes(), encoding.is_some());
                self.head_metadata = Some(Metadata::from_headers(parts.headers));
                self.state = State::ReadData;
            }
        }
        Ok(())
    }

    /// Client: waits for the response head and returns its metadata (empty
    /// for Trailers-Only). A call that failed in its head returns its status.
    pub async fn head(&mut self) -> Result<&Metadata, Status> {
        std::future::poll_fn(|cx| self.poll_head(cx)).await?;
        // A call that failed before its head came keeps saying so.
        if self.head_metadata.is_none()
            && let Some(status) = &self.failure
        {
            return Err(status.clone());
        }
        Ok(self.head_metadata.get_or_insert_with(Metadata::new))
    }

    /// Client: the response head's metadata, once it has arrived (see [`Streaming::head`]).
    pub fn metadata(&self) -> Option<&Metadata> {
        self.head_metadata.as_ref()
    }

    pub(crate) fn take_metadata(&mut self) -> Metadata {
        self.head_metadata.take().unwrap_or_default()
    }

    fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        if self.state != State::AwaitHead {
            return Poll::Ready(Ok(()));
        }
        if let Some(sleep) = self.deadline.as_mut()
            && sleep.as_mut().poll(cx).is_ready()
        {
            return self.fail_head(Status::deadline_exceeded("deadline exceeded"));
        }
        let Some(response) = self.head.as_mut() else {
            return self.fail_head(Status::internal("no response head to wait for"));
        };
        let response = ready!(response.poll(cx));
        self.head = None;
        match response {
            Ok(response) => match self.accept_head(response) {
                Ok(()) => Poll::Ready(Ok(())),
                Err(status) => self.fail_head(status),
            },
            Err(status) => self.fail_head(status),
        }
    }

    fn fail_head(&mut self, status: Status) -> Poll<Result<(), Status>> {
        match self.fail(status) {
            Poll::Ready(Some(Err(status))) => Poll::Ready(Err(status)),
            _ => Poll::Ready(Err(Status::internal("response head failed"))),
        }
    }

    /// The next message (the seed's `Recv`); `Ok(None)` once the peer has
    /// ended the stream cleanly (`io.EOF`). The same as [`Streaming::message`].
    pub async fn recv(&mut self) -> Result<Option<T>, Status> {
        self.message().await
    }

    /// The next message; `Ok(None)` once the stream has ended cleanly. A
    /// stream that failed returns its status again on every later call (as a
    /// `futures::Stream` it yields the status once, then ends).
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        match futures::StreamExt::next(self).await {
            Some(Ok(m)) => Ok(Some(m)),
            Some(Err(s)) => Err(s),
            None => match &self.failure {
                Some(status) => Err(status.clone()),
                None => Ok(None),
            },
        }
    }

    /// Whether the stream failed because its deadline passed.
    pub(crate) fn deadline_exceeded(&self) -> bool {
        self.failure
            .as_ref()
            .is_some_and(|s| s.code() == Code::DeadlineExceeded)
    }

    /// True when the peer has ended the stream and nothing is left to decode;
    /// the stream is then done without polling h2 again. A server reading a
    /// unary request uses it: the request's one DATA frame usually carries
    /// END_STREAM, and a second poll just to learn that goes through h2's
    /// stream lock again (~200 instructions per call in callgrind).
    pub(crate) fn ended(&mut self) -> bool {
        let ended = self.state == State::ReadData
            && !self.expect_trailers
            && self.decoder.buffered() == 0
            && self.body.as_ref().is_some_and(RecvStream::is_end_stream);
        if ended {
            self.state = State::Done;
        }
        ended
    }

    /// Whether the last message received had the compressed flag set.
    pub fn last_message_compressed(&self) -> bool {
        self.last_compressed
    }

    /// Client: the trailing metadata, once the stream has ended.
    pub fn trailers(&self) -> Option<&Metadata> {
        self.trailers.as_ref()
    }

    /// Which end this stream lives on: only the client reads trailers.
    fn side(&self) -> Side {
        if self.expect_trailers {
            Side::Client
        } else {
            Side::Server
        }
    }

    fn fail(&mut self, status: Status) -> Poll<Option<Result<T, Status>>> {
        self.state = State::Done;
        self.deadline = None;
        // A failure of our own request pump caused this: report it instead.
        let status = self
            .guard
            .as_ref()
            .and_then(PumpGuard::failure)
            .unwrap_or(status);
        self.failure = Some(status.clone());
        Poll::Ready(Some(Err(status)))
    }

    fn poll_trailers(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        let Some(body) = self.body.as_mut() else {
            return self.fail(Status::internal("no response body"));
        };
        match ready!(body.poll_trailers(cx)) {
            Ok(Some(trailers)) => {
                if trace::enabled() {
                    trace::trailers(Side::Client, Dir::Recv, &trailers);
                }
                self.state = State::Done;
                self.deadline = None;
                match Status::decode_trailers(&trailers) {
                    Some(status) => {
                        self.trailers = Some(status.metadata().clone());
                        if status.code() == Code::Ok {
                            Poll::Ready(None)
                        } else {
                            Poll::Ready(Some(Err(status)))
                        }
                    }
                    None => self.fail(Status::internal("server sent trailers without grpc-status")),
                }
            }
            Ok(None) => self.fail(Status::internal(
                "server closed the stream without trailers",
            )),
            Err(e) => self.fail(status_from_h2(&e)),
        }
    }
}

impl<T> Stream for Streaming<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let polled = this.poll_message(cx);
        if this.on_end.is_some() {
            let code = match &polled {
                Poll::Ready(None) => Some(Code::Ok),
                Poll::Ready(Some(Err(status))) => Some(status.code()),
                _ => None,
            };
            if let Some(code) = code
                && let Some(on_end) = this.on_end.take()
            {
                on_end(code);
            }
        }
        polled
    }
}

impl<T> Streaming<T> {
    /// The next message, or the end, or the failure (see `poll_next`).
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        let this = self;
        if let Some(hook) = this.before_first_read.take() {
            hook();
        }
        loop {
            if this.state == State::AwaitHead {
                if let Err(status) = ready!(this.poll_head(cx)) {
                    return Poll::Ready(Some(Err(status)));
                }
                continue;
            }
            if this.state == State::Done {
                return Poll::Ready(None);
            }
            if let Some(sleep) = this.deadline.as_mut()
                && sleep.as_mut().poll(cx).is_ready()
            {
                return this.fail(Status::deadline_exceeded("deadline exceeded"));
            }
            match this.decoder.decode() {
                Ok(Some(frame)) => {
                    this.last_compressed = frame.compressed;
                    let side = this.side();
                    let inflated = match (frame.compressed, this.encoding) {
                        (false, _) => None,
                        (true, Some(encoding)) => {
                            let max = this.decoder.max_recv_bytes();
                            match compression::decompress(encoding, frame.payload.clone(), max) {
                                Ok(payload) => Some(payload),
                                Err(status) => return this.fail(status),
                            }
                        }
                        // Unreachable in practice: the decoder refuses flag 1 without an encoding.
                        (true, None) => {
                            let status =
                                Status::internal("compressed message without grpc-encoding");
                            return this.fail(status);
                        }
                    };
                    let prefix = this.decoder.last_prefix();
                    return Poll::Ready(Some((this.decode)(side, prefix, frame.payload, inflated)));
                }
                Ok(None) => {}
                Err(e) => {
                    if trace::enabled() && !matches!(e, frame::FrameError::Truncated { .. }) {
                        trace::refused_prefix(this.side(), this.decoder.last_prefix(), &e);
                    }
                    return this.fail(e.to_status());
                }
            }
            if this.state == State::ReadTrailers {
                return this.poll_trailers(cx);
            }
            let Some(body) = this.body.as_mut() else {
                // No h2 body: a stream built in process, or a broken one.
                return this.poll_local(cx);
            };
            match ready!(body.poll_data(cx)) {
                Some(Ok(chunk)) => {
                    // The decoder owns these bytes now: let the peer send more.
                    let _ = body.flow_control().release_capacity(chunk.len());
                    this.decoder.push(chunk);
                }
                Some(Err(e)) => return this.fail(status_from_h2(&e)),
                None => {
                    if let Err(e) = this.decoder.finish() {
                        return this.fail(e.to_status());
                    }
                    if this.expect_trailers {
                        this.state = State::ReadTrailers;
                    } else {
                        this.state = State::Done;
                    }
                }
            }
        }
    }
}

impl<T> Drop for Streaming<T> {
    fn drop(&mut self) {
        if let Some(on_end) = self.on_end.take() {
            let code = match (&self.failure, self.state) {
                (Some(status), _) => status.code(),
                (None, State::Done) => Code::Ok,
                // Dropped unfinished: h2 resets the stream, the call is cancelled.
                (None, _) => Code::Cancelled,
            };
            on_end(code);
        }
        // Dropping an unfinished call's stream makes h2 reset it (the server
        // sees RST_STREAM CANCEL and cancels its handler).
        if self.state != State::Done && self.expect_trailers && trace::enabled() {
            trace::reset(
                Side::Client,
                Dir::Send,
                h2::Reason::CANCEL,
                "call dropped before it ended",
            );
        }
    }
}

impl<T> fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streaming")
            .field("state", &self.state)
            .field("buffered", &self.decoder.buffered())
            .finish_non_exhaustive()
    }
}
