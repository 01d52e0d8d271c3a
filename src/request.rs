//! `Request` and `Response`: a message together with the metadata around it.
//!
//! Layer: the typed API both ends share. A request carries custom metadata
//! (PROTOCOL-HTTP2.md "Custom-Metadata"), an optional deadline (sent as
//! `grpc-timeout`) and, on the server, the peer's address. A response carries
//! the response-head metadata and the trailing metadata sent with the status.

use std::fmt;
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use tokio::time::Instant;

use crate::transport::Peer;
use crate::wire::compression::{CompressionToggle, Encoding, SendCompression};
use crate::wire::metadata::Metadata;

/// A call's input: a message (or a stream of them) plus metadata and deadline.
#[derive(Debug)]
pub struct Request<T> {
    metadata: Metadata,
    message: T,
    /// Client: the timeout to send and enforce. Server: what the peer asked for.
    timeout: Option<Duration>,
    /// Server only: when the call must be over.
    deadline: Option<Instant>,
    /// Server only: who called.
    peer: Option<Peer>,
    /// Client only: how to compress the messages sent.
    compression: SendCompression,
    /// Server only: whether the (single) request message arrived compressed.
    message_compressed: bool,
    /// Server only: typed values the call's interceptors attached.
    extensions: http::Extensions,
}

impl<T> Request<T> {
    /// A request with no metadata and no deadline.
    pub fn new(message: T) -> Request<T> {
        Request::from_parts(Metadata::new(), message, None, None, None)
    }

    pub(crate) fn from_parts(
        metadata: Metadata,
        message: T,
        timeout: Option<Duration>,
        deadline: Option<Instant>,
        peer: Option<Peer>,
    ) -> Request<T> {
        Request {
            metadata,
            message,
            timeout,
            deadline,
            peer,
            compression: SendCompression::default(),
            message_compressed: false,
            extensions: http::Extensions::new(),
        }
    }

    /// Server: typed values the call's interceptors attached (e.g. the
    /// authenticated caller; see [`crate::intercept`]).
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }
    /// Typed values carried with the request, mutably.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }
    /// The message, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }
    /// Takes the message out.
    pub fn into_inner(self) -> T {
        self.message
    }
    /// Custom metadata (request headers).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }
    /// Custom metadata, mutably.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }
    /// Client: sets the call's timeout, sent as `grpc-timeout` and enforced locally.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
    }
    /// The timeout set by the client or received in `grpc-timeout`.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
    /// Server: the instant the call's deadline expires, if the client set one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
    /// Server: the peer's address, for a TCP peer.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.peer.as_ref().and_then(Peer::socket_addr)
    }
    /// Server: who called (TCP address, Unix socket, in-memory).
    pub fn peer(&self) -> Option<&Peer> {
        self.peer.as_ref()
    }
    /// Server, over TLS: the client's verified certificate chain, leaf first
    /// (empty if it presented none).
    #[cfg(feature = "tls")]
    pub fn peer_certs(&self) -> Option<&[crate::transport::CertificateDer<'static>]> {
        self.peer.as_ref().and_then(Peer::tls_certs)
    }
    /// Client: compress this call's messages with `encoding` (sent as `grpc-encoding`).
    pub fn set_send_compression(&mut self, encoding: Encoding) {
        self.compression.encoding = Some(encoding);
    }
    /// Client: a switch that turns compression on or off for each message that follows.
    pub fn compression_toggle(&mut self) -> CompressionToggle {
        self.compression
            .toggle
            .get_or_insert_with(CompressionToggle::default)
            .clone()
    }
    /// Server: whether the request message arrived compressed (flag 1).
    pub fn message_compressed(&self) -> bool {
        self.message_compressed
    }
    pub(crate) fn set_message_compressed(&mut self, compressed: bool) {
        self.message_compressed = compressed;
    }
    /// Replaces the message, keeping metadata and deadline.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Request<U> {
        Request {
            metadata: self.metadata,
            message: f(self.message),
            timeout: self.timeout,
            deadline: self.deadline,
            peer: self.peer,
            compression: self.compression,
            message_compressed: self.message_compressed,
            extensions: self.extensions,
        }
    }
    /// Splits off the message, keeping the rest of the request.
    pub(crate) fn take_message(self) -> (Request<()>, T) {
        let Request {
            metadata,
            message,
            timeout,
            deadline,
            peer,
            compression,
            message_compressed,
            extensions,
        } = self;
        let request = Request {
            metadata,
            message: (),
            timeout,
            deadline,
            peer,
            compression,
            message_compressed,
            extensions,
        };
        (request, message)
    }
    pub(crate) fn into_parts(self) -> (Metadata, T, Option<Duration>, SendCompression) {
        (self.metadata, self.message, self.timeout, self.compression)
    }
}

/// A call's output: a message (or a stream), response-head metadata and trailers.
pub struct Response<T> {
    metadata: Metadata,
    message: T,
    /// Trailers and send compression, boxed and absent until set: most
    /// responses have neither, and a response is moved several times on its
    /// way out of a handler, each move a copy of the whole value.
    extra: Option<Box<ResponseExtra>>,
    /// Client only: whether the (single) response message arrived compressed.
    message_compressed: bool,
}

/// The rarely set parts of a `Response`.
#[derive(Debug, Default)]
pub(crate) struct ResponseExtra {
    pub(crate) trailers: Metadata,
    /// Server only: how to compress the messages sent.
    pub(crate) compression: SendCompression,
}

/// What `Response::trailers` lends when none were set.
static NO_TRAILERS: LazyLock<Metadata> = LazyLock::new(Metadata::new);

impl<T: fmt::Debug> fmt::Debug for Response<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let no_compression = SendCompression::default();
        let compression = self
            .extra
            .as_ref()
            .map_or(&no_compression, |e| &e.compression);
        f.debug_struct("Response")
            .field("metadata", &self.metadata)
            .field("message", &self.message)
            .field("trailers", self.trailers())
            .field("compression", compression)
            .field("message_compressed", &self.message_compressed)
            .finish()
    }
}

impl<T> Response<T> {
    /// A response with no metadata.
    pub fn new(message: T) -> Response<T> {
        Response {
            metadata: Metadata::new(),
            message,
            extra: None,
            message_compressed: false,
        }
    }
    pub(crate) fn from_parts(metadata: Metadata, message: T, trailers: Metadata) -> Response<T> {
        // Trailers with nothing visible (a received map holds only hidden
        // reserved entries) read the same as none.
        let extra = (!trailers.is_empty()).then(|| {
            Box::new(ResponseExtra {
                trailers,
                compression: SendCompression::default(),
            })
        });
        Response {
            metadata,
            message,
            extra,
            message_compressed: false,
        }
    }
    fn extra_mut(&mut self) -> &mut ResponseExtra {
        self.extra.get_or_insert_with(Box::default)
    }
    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }
    /// The message, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }
    /// Takes the message out.
    pub fn into_inner(self) -> T {
        self.message
    }
    /// Metadata of the response head (sent before the first message).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }
    /// Response-head metadata, mutably.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }
    /// Trailing metadata, sent with `grpc-status` (for a streamed response the
    /// client sees them once the stream has ended: see `Streaming::trailers`).
    pub fn trailers(&self) -> &Metadata {
        self.extra.as_ref().map_or(&NO_TRAILERS, |e| &e.trailers)
    }
    /// Trailing metadata, mutably.
    pub fn trailers_mut(&mut self) -> &mut Metadata {
        &mut self.extra_mut().trailers
    }
    /// Server: compress the response messages with `encoding`, if the client's
    /// `grpc-accept-encoding` lists it (else they go out plain).
    pub fn set_send_compression(&mut self, encoding: Encoding) {
        self.extra_mut().compression.encoding = Some(encoding);
    }
    /// Server: a switch that turns compression on or off for each message that follows.
    pub fn compression_toggle(&mut self) -> CompressionToggle {
        self.extra_mut()
            .compression
            .toggle
            .get_or_insert_with(CompressionToggle::default)
            .clone()
    }
    /// Client: whether the response message arrived compressed (flag 1).
    pub fn message_compressed(&self) -> bool {
        self.message_compressed
    }
    pub(crate) fn set_message_compressed(&mut self, compressed: bool) {
        self.message_compressed = compressed;
    }
    /// Replaces the message, keeping metadata.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Response<U> {
        Response {
            metadata: self.metadata,
            message: f(self.message),
            extra: self.extra,
            message_compressed: self.message_compressed,
        }
    }
    pub(crate) fn into_parts(self) -> (Metadata, T, Option<Box<ResponseExtra>>) {
        (self.metadata, self.message, self.extra)
    }
}

/// Building a request the way a server hands it to a handler, or a client
/// sends it: for calling a handler directly in a test, and for mocks.
///
/// ```
/// use h2grpc::{Metadata, Request, Response, Streaming};
///
/// let mut metadata = Metadata::new();
/// metadata.insert("authorization", "Bearer t0k3n").unwrap();
/// let request = Request::new(Streaming::from_vec(vec![1, 2, 3])).with_metadata(metadata);
/// assert_eq!(request.metadata().get("authorization"), Some("Bearer t0k3n"));
///
/// // A handler's response, read back the way the client would see it.
/// let mut trailers = Metadata::new();
/// trailers.insert("x-count", "3").unwrap();
/// let response = Response::new(6).with_trailers(trailers);
/// assert_eq!(response.trailers().get("x-count"), Some("3"));
/// ```
impl<T> Request<T> {
    /// Replaces the custom metadata (builder style).
    pub fn with_metadata(mut self, metadata: Metadata) -> Request<T> {
        self.metadata = metadata;
        self
    }
    /// Sets the timeout: sent as `grpc-timeout` by a client; what a handler
    /// under test reads from [`Request::timeout`].
    pub fn with_timeout(mut self, timeout: Duration) -> Request<T> {
        self.timeout = Some(timeout);
        self
    }
    /// Sets what [`Request::deadline`] reports to a handler under test (the
    /// server sets it from `grpc-timeout`; a client ignores it).
    pub fn with_deadline(mut self, deadline: Instant) -> Request<T> {
        self.deadline = Some(deadline);
        self
    }
    /// Sets who called, as [`Request::peer`] reports it to a handler under
    /// test (the server sets it from the connection; a client ignores it).
    pub fn with_peer(mut self, peer: Peer) -> Request<T> {
        self.peer = Some(peer);
        self
    }
}

/// Building a response with metadata (see the example on `Request`'s builders).
impl<T> Response<T> {
    /// Replaces the response-head metadata (builder style).
    pub fn with_metadata(mut self, metadata: Metadata) -> Response<T> {
        self.metadata = metadata;
        self
    }
    /// Replaces the trailing metadata (builder style).
    pub fn with_trailers(mut self, trailers: Metadata) -> Response<T> {
        *self.trailers_mut() = trailers;
        self
    }
}

/// Anything a unary or server-streaming client method accepts: a message or a `Request`.
pub trait IntoRequest<T> {
    /// Wraps the message in a `Request` if it is not one already.
    fn into_request(self) -> Request<T>;
}

impl<T> IntoRequest<T> for T {
    fn into_request(self) -> Request<T> {
        Request::new(self)
    }
}

impl<T> IntoRequest<T> for Request<T> {
    fn into_request(self) -> Request<T> {
        self
    }
}

/// Anything a client- or bidi-streaming method accepts: a `Stream` of messages, or a `Request` of one.
pub trait IntoStreamingRequest {
    /// The stream of messages.
    type Stream: futures::Stream<Item = Self::Message> + Send + 'static;
    /// The message type.
    type Message;
    /// Wraps the stream in a `Request` if it is not one already.
    fn into_streaming_request(self) -> Request<Self::Stream>;
}

impl<S> IntoStreamingRequest for S
where
    S: futures::Stream + Send + 'static,
{
    type Stream = S;
    type Message = S::Item;
    fn into_streaming_request(self) -> Request<S> {
        Request::new(self)
    }
}

impl<S> IntoStreamingRequest for Request<S>
where
    S: futures::Stream + Send + 'static,
{
    type Stream = S;
    type Message = S::Item;
    fn into_streaming_request(self) -> Request<S> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_trailers_and_compression_are_boxed_only_when_set() {
        let mut response = Response::new("hello");
        assert!(response.trailers().is_empty());
        assert!(response.extra.is_none());
        response.trailers_mut().insert("x-trailer", "1").unwrap();
        assert_eq!(response.trailers().get("x-trailer"), Some("1"));
        // Compression settings live beside the trailers and survive map().
        response.set_send_compression(Encoding::Gzip);
        let response = response.map(str::len);
        assert_eq!(*response.get_ref(), 5);
        let (_, _, extra) = response.into_parts();
        let extra = extra.unwrap();
        assert_eq!(extra.trailers.get("x-trailer"), Some("1"));
        assert_eq!(extra.compression.encoding, Some(Encoding::Gzip));
    }

    #[test]
    fn response_from_parts_keeps_visible_trailers_only() {
        let response = Response::from_parts(Metadata::new(), (), Metadata::new());
        assert!(response.extra.is_none());
        let mut trailers = Metadata::new();
        trailers.insert("x-done", "yes").unwrap();
        let response = Response::from_parts(Metadata::new(), (), trailers);
        assert_eq!(response.trailers().get("x-done"), Some("yes"));
    }
}
