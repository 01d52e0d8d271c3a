//! The pieces of a call around its handler: the `Request` the handler gets
//! (built once its message or stream is ready), reading the one request
//! message of a unary or server-streaming call (statuscodes.md: zero or
//! several are `UNIMPLEMENTED`), what the handler returns, the panic guard,
//! and sending a unary reply (PROTOCOL-HTTP2.md "Responses": head, one
//! length-prefixed message, trailers).
//!
//! Layer: h2 glue, used by `call.rs` only.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use h2::RecvStream;
use tokio::time::Instant;

use super::Config;
use super::respond::Responder;
use crate::codec::{Codec, encode_message};
use crate::request::{Request, Response, ResponseExtra};
use crate::streaming::Streaming;
use crate::trace::Side;
use crate::transport::Peer;
use crate::wire::compression::{Encoding, SendCompression};
use crate::wire::metadata::Metadata;
use crate::wire::status::Status;

/// Builds the handler's `Request` once the message (or stream) is ready.
pub(super) struct RequestFactory {
    pub(super) metadata: Metadata,
    /// What interceptors attached for the handler.
    pub(super) extensions: http::Extensions,
    pub(super) timeout: Option<Duration>,
    pub(super) deadline: Option<Instant>,
    pub(super) peer: Peer,
    pub(super) max_recv_bytes: usize,
    /// The client's `grpc-encoding`.
    pub(super) encoding: Option<Encoding>,
}

impl RequestFactory {
    pub(super) fn call<T>(self, message: T) -> Request<T> {
        let mut request = Request::from_parts(
            self.metadata,
            message,
            self.timeout,
            self.deadline,
            Some(self.peer),
        );
        *request.extensions_mut() = self.extensions;
        request
    }

    /// The request's message stream; the factory keeps the rest for `call`.
    pub(super) fn receive<C: Codec>(&self, codec: C, body: RecvStream) -> Streaming<C::Decode> {
        Streaming::new_request(codec, body, self.max_recv_bytes, self.encoding)
    }

    pub(super) fn streaming<C: Codec>(
        self,
        codec: C,
        body: RecvStream,
    ) -> Request<Streaming<C::Decode>> {
        let streaming = self.receive(codec, body);
        self.call(streaming)
    }

    /// The request of a unary or server-streaming call, from its one message.
    pub(super) fn single<T>(self, message: T, compressed: bool) -> Request<T> {
        let mut request = self.call(message);
        request.set_message_compressed(compressed);
        request
    }
}

/// Reads exactly one request message, then END_STREAM (unary and server
/// streaming); returns it and whether it arrived compressed.
pub(super) async fn read_single<T>(stream: &mut Streaming<T>) -> Result<(T, bool), Status> {
    let Some(message) = stream.message().await? else {
        return Err(Status::unimplemented(
            "expected one request message, received none",
        ));
    };
    let compressed = stream.last_message_compressed();
    if !stream.ended() && stream.message().await?.is_some() {
        return Err(Status::unimplemented(
            "expected one request message, received several",
        ));
    }
    Ok((message, compressed))
}

/// What a handler produced.
pub(super) enum Reply<M> {
    /// Unary and client streaming: the one response message.
    Message(MessageReply<M>),
    /// Server streaming and bidi: the handler has finished with its sink.
    Sink(Result<(), Status>),
}

pub(super) struct MessageReply<M> {
    pub(super) metadata: Metadata,
    pub(super) message: M,
    /// Trailers and compression, if the handler set either (kept boxed:
    /// the reply is moved on its way out of the work future).
    pub(super) extra: Option<Box<ResponseExtra>>,
}

impl<M> Reply<M> {
    pub(super) fn message(response: Response<M>) -> Reply<M> {
        let (metadata, message, extra) = response.into_parts();
        Reply::Message(MessageReply {
            metadata,
            message,
            extra,
        })
    }
}

/// Runs a handler future, turning a panic into `UNKNOWN` for this call only
/// (statuscodes.md: "Server side application throws an exception (or does
/// something other than returning a Status code to terminate an RPC)").
/// One `poll_fn` over the handler pinned where it was built, not
/// `catch_unwind().map(..)`: every combinator layer moves the handler's
/// (large) result once more, and an `async fn` would hold the future twice.
pub(super) fn guard<T, F>(mut handler: Pin<&mut F>) -> impl Future<Output = Result<T, Status>> + '_
where
    F: Future<Output = Result<T, Status>>,
{
    std::future::poll_fn(move |cx| {
        // The result is stored from inside, not returned through
        // catch_unwind, which would move it a few more times.
        let mut ready = None;
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if let Poll::Ready(out) = handler.as_mut().poll(cx) {
                ready = Some(out);
            }
        }));
        match (polled, ready) {
            (Err(_), _) => Poll::Ready(Err(Status::unknown("handler panicked"))),
            (Ok(()), Some(out)) => Poll::Ready(out),
            (Ok(()), None) => Poll::Pending,
        }
    })
}

impl<M> MessageReply<M> {
    /// Settles the response compression (doc/compression.md: only with an
    /// encoding the client said it accepts) and splits the reply for sending.
    pub(super) fn negotiate(self, config: &Config, accepts_gzip: bool) -> (Head, M, Metadata) {
        let MessageReply {
            metadata,
            message,
            extra,
        } = self;
        let ResponseExtra {
            trailers,
            mut compression,
        } = extra.map(|extra| *extra).unwrap_or_default();
        compression.encoding =
            compression
                .encoding
                .or(config.send_compression)
                .filter(|e| match e {
                    Encoding::Identity => false,
                    Encoding::Gzip => accepts_gzip,
                });
        let head = Head {
            metadata,
            compression,
        };
        (head, message, trailers)
    }
}

/// What a send returns: the final status (`None` for OK, which needs no
/// allocated `Status`) and trailers to send. `Err` means the stream itself
/// failed (reset or connection lost).
pub(super) type Sent = Result<(Option<Status>, Metadata), h2::Error>;

/// Sends a unary reply: head, then the one message, queued whole.
pub(super) fn send_unary<C: Codec>(
    responder: &mut Responder,
    codec: &C,
    head: Head,
    message: &C::Encode,
    trailers: Metadata,
    max_send: usize,
) -> Sent {
    // Head first: the wire (and the trace) show HEADERS before the message.
    responder.send_head(&head.metadata, head.compression.encoding)?;
    let mut buf = BytesMut::new();
    let encoding = head.compression.for_next_message();
    if let Err(status) = encode_message(codec, message, &mut buf, max_send, encoding, Side::Server)
    {
        return Ok((Some(status), Metadata::new()));
    }
    responder.send_whole(buf.freeze())?;
    Ok((None, trailers))
}

/// What a unary response head carries, and how its message is compressed.
pub(super) struct Head {
    pub(super) metadata: Metadata,
    pub(super) compression: SendCompression,
}
