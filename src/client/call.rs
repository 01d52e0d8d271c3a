//! The four call patterns on the client.
//!
//! Layer: h2 glue. Each call opens one HTTP/2 stream:
//!
//! ```text
//!  HEADERS  :method POST, :path, te, content-type, [grpc-timeout], metadata
//!  DATA     5-byte prefix + message   (unary / server streaming: END_STREAM here)
//!  DATA ... more messages             (client / bidi streaming: sent by a pump task)
//!  DATA     empty, END_STREAM         (half-close when the request stream ends)
//!                  ◀── HEADERS :status 200, content-type, metadata
//!                  ◀── DATA messages
//!                  ◀── HEADERS grpc-status, grpc-message (trailers, END_STREAM)
//! ```
//!
//! Deadline: sent as `grpc-timeout` and enforced here too, so a server that
//! never answers still ends the call with `DEADLINE_EXCEEDED`. Dropping a
//! call's future or its `Streaming` drops the stream's handles, and `h2`
//! sends RST_STREAM(CANCEL) (PROTOCOL-HTTP2.md "Errors": CANCEL ↔ CANCELLED).
//!
//! Cardinality (statuscodes.md): a unary or client-streaming call whose
//! server sends OK with zero or several messages fails with `UNIMPLEMENTED`.
//!
//! GOAWAY (PROTOCOL-HTTP2.md "Connection Management", RFC 9113 §6.8; gRFC A6
//! "transparent retry"): a call the server never saw is not failed but sent
//! again on a new connection (up to `GOAWAY_RETRIES` times). That is a call that could not open its
//! stream because the connection had received GOAWAY, and a unary or
//! server-streaming call whose stream was above the GOAWAY's last stream id
//! (h2 ends those with the GOAWAY's NO_ERROR). A server rotating connections
//! (grpc-go's `MaxConnectionAge`) otherwise fails a few calls per rotation.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use h2::SendStream;
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Uri};
use tokio::time::Instant;

use super::Channel;
use crate::codec::{Codec, encode_message};
use crate::flow::Batch;
use crate::request::{Request, Response};
use crate::streaming::{AbortOnDrop, Streaming, status_from_h2};
use crate::trace::{self, Dir, Side};
use crate::wire::compression::{self, Encoding, SendCompression};
use crate::wire::head;
use crate::wire::metadata::Metadata;
use crate::wire::status::{Code, Status};

impl Channel {
    /// A unary call: one request, one response.
    pub async fn unary<C: Codec>(
        &self,
        path: &'static str,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<Response<C::Decode>, Status> {
        let (metadata, message, timeout, compression) = request.into_parts();
        let compression = self.compression_for(compression);
        let deadline = deadline_of(timeout);
        with_deadline(deadline, async {
            let response = self
                .exchange_single(path, &metadata, timeout, &compression, &codec, &message)
                .await?;
            let (head, mut stream) = self.open::<C>(response, None, None)?;
            single(head, &mut stream).await
        })
        .await
    }

    /// A server-streaming call: one request, a stream of responses.
    pub async fn server_streaming<C: Codec>(
        &self,
        path: &'static str,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status> {
        let (metadata, message, timeout, compression) = request.into_parts();
        let compression = self.compression_for(compression);
        let deadline = deadline_of(timeout);
        with_deadline(deadline, async {
            let response = self
                .exchange_single(path, &metadata, timeout, &compression, &codec, &message)
                .await?;
            let (head, stream) = self.open::<C>(response, deadline, None)?;
            Ok(Response::from_parts(head, stream, Metadata::new()))
        })
        .await
    }

    /// A client-streaming call: a stream of requests, one response.
    pub async fn client_streaming<C, S>(
        &self,
        path: &'static str,
        request: Request<S>,
        codec: C,
    ) -> Result<Response<C::Decode>, Status>
    where
        C: Codec,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let (metadata, messages, timeout, compression) = request.into_parts();
        let compression = self.compression_for(compression);
        let deadline = deadline_of(timeout);
        with_deadline(deadline, async {
            let (response, send) = self
                .start(path, &metadata, timeout, compression.encoding)
                .await?;
            let (guard, failure) = self.pump(send, messages, codec, compression);
            let opened = match response.await {
                Ok(response) => self.open::<C>(response, None, Some(guard)),
                Err(e) => Err(status_from_h2(&e)),
            };
            let (head, mut stream) = pump_failure(&failure).map_or(opened, Err)?;
            single(head, &mut stream)
                .await
                .map_err(|e| pump_failure(&failure).unwrap_or(e))
        })
        .await
    }

    /// A bidirectional call: requests and responses interleave freely.
    pub async fn streaming<C, S>(
        &self,
        path: &'static str,
        request: Request<S>,
        codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status>
    where
        C: Codec,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let (metadata, messages, timeout, compression) = request.into_parts();
        let compression = self.compression_for(compression);
        let deadline = deadline_of(timeout);
        with_deadline(deadline, async {
            let (response, send) = self
                .start(path, &metadata, timeout, compression.encoding)
                .await?;
            let (guard, failure) = self.pump(send, messages, codec, compression);
            let opened = match response.await {
                Ok(response) => self.open::<C>(response, deadline, Some(guard)),
                Err(e) => Err(status_from_h2(&e)),
            };
            let (head, stream) = pump_failure(&failure).map_or(opened, Err)?;
            Ok(Response::from_parts(head, stream, Metadata::new()))
        })
        .await
    }

    /// Opens the stream, sends the one request message with END_STREAM
    /// (unary and server streaming), then waits for the response head. The
    /// head goes first, so the wire order is the trace order. A stream the
    /// server refused unseen with its GOAWAY goes again on a new connection
    /// (see the module doc).
    async fn exchange_single<C: Codec>(
        &self,
        path: &'static str,
        metadata: &Metadata,
        timeout: Option<Duration>,
        compression: &SendCompression,
        codec: &C,
        message: &C::Encode,
    ) -> Result<http::Response<h2::RecvStream>, Status> {
        let max = self.inner.config.max_send_message_bytes;
        let mut retries = 0;
        loop {
            let (response, mut send) = self
                .start(path, metadata, timeout, compression.encoding)
                .await?;
            let mut buf = BytesMut::new();
            // On error `send` is dropped here and h2 resets the stream it opened.
            encode_message(
                codec,
                message,
                &mut buf,
                max,
                compression.for_next_message(),
                Side::Client,
            )?;
            // A failed send shows up as the response's error, which says more.
            let _ = send.send_data(buf.freeze(), true);
            match response.await {
                Ok(response) => return Ok(response),
                Err(e) if retries < GOAWAY_RETRIES && refused_unprocessed(&e) => {
                    self.discard();
                    retries += 1;
                }
                Err(e) => return Err(status_from_h2(&e)),
            }
        }
    }

    /// Sends the request head and returns the response future and the send half.
    async fn start(
        &self,
        path: &'static str,
        metadata: &Metadata,
        timeout: Option<Duration>,
        encoding: Option<Encoding>,
    ) -> Result<(h2::client::ResponseFuture, SendStream<Bytes>), Status> {
        let path_and_query =
            PathAndQuery::from_maybe_shared(Bytes::from_static(path.as_bytes()))
                .map_err(|_| Status::internal(format!("invalid method path {path:?}")))?;
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.inner.scheme.clone());
        parts.authority = Some(self.inner.authority.clone());
        parts.path_and_query = Some(path_and_query);
        let uri =
            Uri::from_parts(parts).map_err(|e| Status::internal(format!("invalid uri: {e}")))?;
        let mut request = http::Request::new(());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        head::request_headers(headers, timeout, encoding);
        metadata.write_to(headers);
        if trace::enabled() {
            let authority = self.inner.authority.as_str();
            trace::request_head(Side::Client, Dir::Send, path, authority, headers);
        }

        let mut retries = 0;
        let mut send = loop {
            let send = self.connection().await?;
            match send.ready().await {
                Ok(send) => break send,
                // The connection had GOAWAY: nothing was sent, so try a new one.
                Err(e) if retries < GOAWAY_RETRIES && e.is_go_away() && e.is_remote() => {
                    self.discard();
                    retries += 1;
                }
                Err(e) => {
                    self.discard();
                    return Err(status_from_h2(&e));
                }
            }
        };
        send.send_request(request, false).map_err(|e| {
            self.discard();
            status_from_h2(&e)
        })
    }

    /// Checks the response head; a Trailers-Only or non-200 response becomes
    /// the call's status.
    fn open<C: Codec>(
        &self,
        response: http::Response<h2::RecvStream>,
        deadline: Option<Instant>,
        guard: Option<AbortOnDrop>,
    ) -> Result<(Metadata, Streaming<C::Decode>), Status> {
        let (parts, body) = response.into_parts();
        if trace::enabled() {
            trace::response_head(
                Side::Client,
                Dir::Recv,
                parts.status.as_u16(),
                &parts.headers,
            );
        }
        let status = check_response_head(parts.status.as_u16(), &parts.headers)?;
        let max = self.inner.config.max_recv_message_bytes;
        match status {
            // Trailers-Only with OK: an empty stream.
            Some(trailers) => {
                let stream =
                    Streaming::new_response::<C>(body, max, None, None, guard, Some(trailers));
                Ok((Metadata::new(), stream))
            }
            None => {
                // The server's grpc-encoding says how its flag-1 messages are compressed.
                let encoding = compression::negotiate(
                    parts
                        .headers
                        .get(compression::GRPC_ENCODING)
                        .map(|v| v.as_bytes()),
                )?;
                let stream =
                    Streaming::new_response::<C>(body, max, encoding, deadline, guard, None);
                Ok((Metadata::from_headers(parts.headers), stream))
            }
        }
    }

    /// Spawns the task that sends the request stream; returns its abort guard
    /// and a slot where it leaves a status if it failed on our side.
    /// The call's own setting, else the channel's default.
    fn compression_for(&self, mut compression: SendCompression) -> SendCompression {
        if compression.encoding.is_none() {
            compression.encoding = self.inner.config.send_compression;
        }
        compression
    }

    fn pump<C, S>(
        &self,
        send: SendStream<Bytes>,
        messages: S,
        codec: C,
        compression: SendCompression,
    ) -> (AbortOnDrop, Failure)
    where
        C: Codec,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let failure: Failure = Arc::new(Mutex::new(None));
        let slot = failure.clone();
        let max = self.inner.config.max_send_message_bytes;
        let task = tokio::spawn(async move {
            let mut send = send;
            if let Err(status) = pump(&mut send, messages, &codec, max, &compression).await {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
                send.send_reset(h2::Reason::CANCEL);
            }
        });
        (AbortOnDrop(task), failure)
    }
}

/// Where the request pump leaves a status that ended the call on our side.
type Failure = Arc<Mutex<Option<Status>>>;

fn pump_failure(failure: &Failure) -> Option<Status> {
    failure.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// Sends every message of `messages`, coalescing the ready ones, then half-closes.
/// `Err` only for failures on our side (encoding, send limit); a stream the
/// server closed just ends the pump: the response carries the server's status.
async fn pump<C, S>(
    send: &mut SendStream<Bytes>,
    messages: S,
    codec: &C,
    max: usize,
    compression: &SendCompression,
) -> Result<(), Status>
where
    C: Codec,
    S: Stream<Item = C::Encode>,
{
    let mut messages = pin!(messages);
    let mut batch = Batch::new();
    loop {
        let next = std::future::poll_fn(|cx| match messages.as_mut().poll_next(cx) {
            Poll::Ready(item) => Poll::Ready(Some(item)),
            Poll::Pending if !batch.is_empty() => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .await;
        let sent = match next {
            Some(Some(item)) => {
                batch.make_room();
                encode_message(
                    codec,
                    &item,
                    batch.buf(),
                    max,
                    compression.for_next_message(),
                    Side::Client,
                )?;
                match batch.take_full() {
                    Some(full) => crate::flow::send_data(send, full, false).await,
                    None => continue,
                }
            }
            // End of input: the last batch carries END_STREAM, or an empty DATA frame does.
            Some(None) => {
                let _ = crate::flow::send_data(send, batch.take_all(), true).await;
                return Ok(());
            }
            None => crate::flow::send_data(send, batch.take_all(), false).await,
        };
        if sent.is_err() {
            return Ok(());
        }
    }
}

/// Checks a response head. `Err` for a failed call; `Ok(Some(trailers))` for a
/// Trailers-Only OK (no messages follow); `Ok(None)` for a normal head.
///
/// http-grpc-status-mapping.md: without `grpc-status`, a non-200 `:status`
/// maps to a code; a 200 whose content-type is not gRPC is `UNKNOWN`.
fn check_response_head(http_status: u16, headers: &HeaderMap) -> Result<Option<Metadata>, Status> {
    if let Some(status) = Status::decode_trailers(headers) {
        if status.code() == Code::Ok && http_status == 200 {
            return Ok(Some(status.metadata().clone()));
        }
        if status.code() != Code::Ok {
            return Err(status);
        }
    }
    if http_status != 200 {
        let code = Code::from_http_status(http_status);
        return Err(Status::new(
            code,
            format!("HTTP status {http_status} without grpc-status"),
        ));
    }
    match headers.get(http::header::CONTENT_TYPE) {
        Some(ct) if head::is_grpc_content_type(ct.as_bytes()) => Ok(None),
        other => Err(Status::unknown(format!(
            "invalid content-type {other:?} in response"
        ))),
    }
}

/// Reads exactly one message, then the status (unary and client streaming).
async fn single<T>(head: Metadata, stream: &mut Streaming<T>) -> Result<Response<T>, Status> {
    let Some(message) = stream.message().await? else {
        return Err(Status::unimplemented(
            "server sent OK without a response message",
        ));
    };
    let compressed = stream.last_message_compressed();
    if stream.message().await?.is_some() {
        return Err(Status::unimplemented(
            "server sent several messages on a unary response",
        ));
    }
    let trailers = stream.trailers().cloned().unwrap_or_default();
    let mut response = Response::from_parts(head, message, trailers);
    response.set_message_compressed(compressed);
    Ok(response)
}

fn deadline_of(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now() + t)
}

/// Enforces the deadline locally: on expiry the work is dropped (its stream is
/// reset with CANCEL) and the call reports `DEADLINE_EXCEEDED`.
async fn with_deadline<T>(
    deadline: Option<Instant>,
    work: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    match deadline {
        None => work.await,
        Some(deadline) => tokio::time::timeout_at(deadline, work)
            .await
            .unwrap_or_else(|_| {
                if trace::enabled() {
                    trace::reset(
                        Side::Client,
                        Dir::Send,
                        h2::Reason::CANCEL,
                        "deadline exceeded",
                    );
                }
                Err(Status::deadline_exceeded("deadline exceeded"))
            }),
    }
}

/// How many times one call is sent again after a GOAWAY refused it unseen: a
/// server rotating connections fast can refuse the retry too, but a server
/// that refuses everything must still fail the call.
const GOAWAY_RETRIES: usize = 3;

/// A stream h2 ended because the server's GOAWAY (NO_ERROR) said it was above
/// the last stream the server will process: the server never saw the call.
/// (h2 gives streams at or below the last id no GOAWAY error of their own for a
/// NO_ERROR GOAWAY; a connection that then breaks ends them as broken pipes.)
fn refused_unprocessed(e: &h2::Error) -> bool {
    e.is_go_away() && e.is_remote() && e.reason() == Some(h2::Reason::NO_ERROR)
}
