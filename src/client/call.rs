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
//! "transparent retry"): a call that could not open its stream because the
//! connection had received GOAWAY goes on another connection (up to
//! `GOAWAY_RETRIES` times); a unary or server-streaming call the GOAWAY
//! refused unseen is sent again by the retry loop (`retry.rs`), as are calls a
//! service config's retry policy retries. A client-streaming or bidi call
//! whose method has a retry policy is run by a driver task that replays its
//! request messages on each new attempt (`retry_stream.rs`); without a policy
//! it writes to its one stream directly and keeps nothing. A server rotating connections
//! (grpc-go's `MaxConnectionAge`) otherwise fails a few calls per rotation.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use h2::SendStream;
use http::{Method, Uri};
use tokio::time::Instant;

use super::Channel;
use super::handle::{ClientStreamingCall, Outlet, RequestSink, StreamingCall};
use super::intercept::EndHook;
use super::retry::{GOAWAY_RETRIES, PREVIOUS_ATTEMPTS_HEADER};
use super::retry_stream::{self, CallSpec};
use super::service_config::RetryPolicy;
use crate::codec::Codec;
use crate::request::{Request, Response};
use crate::streaming::{AbortOnDrop, Failure, PumpGuard, Streaming, status_from_h2};
use crate::trace::{self, Dir, Side};
use crate::wire::compression::{Encoding, SendCompression};
use crate::wire::head;
use crate::wire::metadata::Metadata;
use crate::wire::path::MethodPath;
use crate::wire::status::{Code, Status};

impl Channel {
    /// A unary call: one request, one response.
    pub async fn unary<C: Codec>(
        &self,
        path: impl Into<MethodPath>,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<Response<C::Decode>, Status> {
        let path = path.into();
        let wait_for_ready = request.wait_for_ready();
        let (metadata, message, timeout, compression) = request.into_parts();
        let mut timeout = self.timeout_or_default(timeout);
        let policy = self.call_policy(&path, &mut timeout, wait_for_ready);
        let (metadata, timeout, hook) = self.intercept(&path, metadata, timeout).await?;
        let compression = self.compression_for(compression);
        let deadline = deadline_of(timeout);
        let result = with_deadline(deadline, async {
            let response = self
                .exchange_single(
                    &path,
                    &metadata,
                    timeout,
                    &compression,
                    &codec,
                    &message,
                    policy,
                )
                .await?;
            let max = self.inner.config.max_recv_message_bytes;
            single(&mut Streaming::from_head(
                codec.clone(),
                response,
                max,
                None,
            )?)
            .await
        })
        .await;
        self.throttle_result(&result);
        EndHook::report_result(hook, result)
    }

    /// A server-streaming call: one request, a stream of responses.
    pub async fn server_streaming<C: Codec>(
        &self,
        path: impl Into<MethodPath>,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status> {
        let path = path.into();
        let wait_for_ready = request.wait_for_ready();
        let (metadata, message, timeout, compression) = request.into_parts();
        let mut timeout = self.timeout_or_default(timeout);
        let policy = self.call_policy(&path, &mut timeout, wait_for_ready);
        let (metadata, timeout, hook) = self.intercept(&path, metadata, timeout).await?;
        let compression = self.compression_for(compression);
        let deadline = deadline_of(timeout);
        let result = with_deadline(deadline, async {
            let response = self
                .exchange_single(
                    &path,
                    &metadata,
                    timeout,
                    &compression,
                    &codec,
                    &message,
                    policy,
                )
                .await?;
            let max = self.inner.config.max_recv_message_bytes;
            let mut stream = Streaming::from_head(codec.clone(), response, max, deadline)?;
            let head = stream.take_metadata();
            Ok(Response::from_parts(head, stream, Metadata::new()))
        })
        .await;
        match (hook, result) {
            (Some(hook), Ok(mut response)) => {
                // The call goes on in the stream: it reports when that ends.
                response.get_mut().set_on_end(hook.into_on_end());
                Ok(response)
            }
            (hook, result) => EndHook::report_result(hook, result),
        }
    }

    /// A client-streaming call: a stream of requests, one response. The
    /// stream is sent while the response is awaited, in this same future.
    pub async fn client_streaming<C, S>(
        &self,
        path: impl Into<MethodPath>,
        request: Request<S>,
        codec: C,
    ) -> Result<Response<C::Decode>, Status>
    where
        C: Codec,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let path = path.into();
        let (request, messages) = request.take_message();
        let mut prepared = self.prepare(&path, request).await?;
        let hook = prepared.hook.take();
        let deadline = deadline_of(prepared.timeout);
        let result = with_deadline(deadline, async {
            let (mut sink, mut stream) = self.open_call(&path, prepared, codec).await?;
            let mut pump = pin!(sink.send_stream(messages));
            let mut pumping = true;
            let mut reply = pin!(single(&mut stream));
            std::future::poll_fn(|cx| {
                // Our own failure (a request over the limit) first: it is why
                // the stream was reset.
                if pumping && let Poll::Ready(pumped) = pump.as_mut().poll(cx) {
                    pumping = false;
                    pumped?;
                }
                reply.as_mut().poll(cx)
            })
            .await
        })
        .await;
        EndHook::report_result(hook, result)
    }

    /// A bidirectional call: requests and responses interleave freely. The
    /// request stream is sent by a task of its own, and this returns before
    /// the response head has arrived (a server may send it only with its
    /// first reply, to a request this stream has not yielded yet). So the
    /// `Response`'s metadata is empty: the head's metadata is
    /// `Streaming::head().await` (or `Streaming::metadata()` once a message came).
    pub async fn streaming<C, S>(
        &self,
        path: impl Into<MethodPath>,
        request: Request<S>,
        codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status>
    where
        C: Codec,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let path = path.into();
        let (request, messages) = request.take_message();
        let prepared = self.prepare(&path, request).await?;
        let (mut sink, mut stream) = self.open_call(&path, prepared, codec).await?;
        let failure: Failure = Arc::new(Mutex::new(None));
        let slot = failure.clone();
        let task = tokio::spawn(async move {
            if let Err(status) = sink.send_stream(messages).await {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
            }
        });
        stream.set_guard(PumpGuard {
            _task: AbortOnDrop(task),
            failure,
        });
        Ok(Response::from_parts(
            Metadata::new(),
            stream,
            Metadata::new(),
        ))
    }

    /// Starts a client-streaming call and returns its handle at once: send
    /// requests on it, then `close_and_recv` for the reply. `request` carries
    /// the metadata, timeout and compression.
    pub async fn client_streaming_call<C: Codec>(
        &self,
        path: impl Into<MethodPath>,
        request: Request<()>,
        codec: C,
    ) -> Result<ClientStreamingCall<C::Encode, C::Decode>, Status> {
        let path = path.into();
        let prepared = self.prepare(&path, request).await?;
        let (sink, stream) = self.open_call(&path, prepared, codec).await?;
        Ok(ClientStreamingCall::new(sink, stream))
    }

    /// Starts a bidirectional call and returns its handle at once, before the
    /// server has answered: send and receive on it in any order.
    pub async fn streaming_call<C: Codec>(
        &self,
        path: impl Into<MethodPath>,
        request: Request<()>,
        codec: C,
    ) -> Result<StreamingCall<C::Encode, C::Decode>, Status> {
        let path = path.into();
        let prepared = self.prepare(&path, request).await?;
        let (sink, stream) = self.open_call(&path, prepared, codec).await?;
        Ok(StreamingCall::new(sink, stream))
    }

    /// Sends the request head of a streaming call; returns its two halves
    /// without waiting for the response head.
    async fn open_call<C: Codec>(
        &self,
        path: &MethodPath,
        prepared: Prepared,
        codec: C,
    ) -> Result<(RequestSink<C::Encode>, Streaming<C::Decode>), Status> {
        let Prepared {
            metadata,
            timeout,
            compression,
            hook,
            wait_for_ready,
            retry,
        } = prepared;
        let deadline = deadline_of(timeout);
        let encoding = compression.encoding;
        let config = &self.inner.config;
        let (max_send, max_recv) = (config.max_send_message_bytes, config.max_recv_message_bytes);
        if let Some(policy) = retry {
            // A retry policy applies: a driver owns the attempts (retry_stream.rs).
            let spec = CallSpec {
                path: path.clone(),
                metadata,
                timeout,
                deadline,
                encoding,
                wait_for_ready,
                policy,
            };
            let (driver, head) = retry_stream::spawn(self, spec);
            let send = Outlet::Retried(driver);
            let sink = RequestSink::new(codec.clone(), send, max_send, compression, deadline);
            let mut stream = Streaming::new_retried(codec, head, max_recv, deadline);
            let on_end = hook.map(EndHook::into_on_end);
            if let Some(on_end) = retry_stream::counting_success(self, on_end) {
                stream.set_on_end(on_end);
            }
            return Ok((sink, stream));
        }
        let start = self.start(path, &metadata, timeout, encoding, 0, wait_for_ready);
        let (response, send) = match with_deadline(deadline, start).await {
            Ok(started) => (started.response, started.send),
            Err(status) => return EndHook::report_result(hook, Err(status)),
        };
        let send = Outlet::Stream(send);
        let sink = RequestSink::new(codec.clone(), send, max_send, compression, deadline);
        let mut stream = Streaming::new_response(codec, response, max_recv, deadline);
        if let Some(hook) = hook {
            stream.set_on_end(hook.into_on_end());
        }
        Ok((sink, stream))
    }

    /// Picks a connection and sends the request head on it: the response
    /// future and the send half. `previous_attempts` (gRFC A6) goes out as
    /// `grpc-previous-rpc-attempts` when not 0.
    pub(super) async fn start(
        &self,
        path: &MethodPath,
        metadata: &Metadata,
        timeout: Option<Duration>,
        encoding: Option<Encoding>,
        previous_attempts: u32,
        wait_for_ready: bool,
    ) -> Result<Started<'_>, Status> {
        let path_and_query = path.to_path_and_query()?;
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
        if previous_attempts > 0 {
            headers.insert(PREVIOUS_ATTEMPTS_HEADER, previous_attempts.into());
        }
        if trace::enabled() {
            trace::request_head(
                Side::Client,
                Dir::Send,
                request.method(),
                request.uri(),
                request.headers(),
            );
        }

        let mut retries = 0;
        let (sub, mut send) = loop {
            let (sub, send) = self.pick(wait_for_ready).await?;
            match send.ready().await {
                Ok(send) => break (sub, send),
                // The connection had GOAWAY: nothing was sent, so try a new one.
                Err(e) if retries < GOAWAY_RETRIES && e.is_go_away() && e.is_remote() => {
                    sub.discard();
                    retries += 1;
                }
                Err(e) => {
                    sub.discard();
                    return Err(status_from_h2(&e));
                }
            }
        };
        match send.send_request(request, false) {
            Ok((response, send)) => Ok(Started {
                sub,
                response,
                send,
            }),
            Err(e) => {
                sub.discard();
                Err(status_from_h2(&e))
            }
        }
    }

    /// Settles a streaming call's request head: the default timeout, then
    /// the interceptors (which may change both, or fail the call).
    async fn prepare(&self, path: &MethodPath, request: Request<()>) -> Result<Prepared, Status> {
        let wait_for_ready = request.wait_for_ready();
        let (metadata, (), timeout, compression) = request.into_parts();
        let mut timeout = self.timeout_or_default(timeout);
        let policy = self.call_policy(path, &mut timeout, wait_for_ready);
        let (metadata, timeout, hook) = self.intercept(path, metadata, timeout).await?;
        Ok(Prepared {
            metadata,
            timeout,
            compression: self.compression_for(compression),
            hook,
            wait_for_ready: policy.wait_for_ready,
            // Cloned only when a policy applies: other calls allocate nothing.
            retry: policy.retry.cloned(),
        })
    }

    /// The call's own timeout, else the channel's default.
    fn timeout_or_default(&self, timeout: Option<Duration>) -> Option<Duration> {
        timeout.or(self.inner.config.default_timeout)
    }

    /// The call's own setting, else the channel's default.
    fn compression_for(&self, mut compression: SendCompression) -> SendCompression {
        if compression.encoding.is_none() {
            compression.encoding = self.inner.config.send_compression;
        }
        compression
    }
}

/// A streaming call's request head, ready to send.
struct Prepared {
    metadata: Metadata,
    timeout: Option<Duration>,
    compression: SendCompression,
    /// Told how the call ended, when it has interceptors.
    hook: Option<EndHook>,
    /// Waits for a ready connection rather than failing fast.
    wait_for_ready: bool,
    /// The method's gRFC A6 retry policy, if it has one.
    retry: Option<RetryPolicy>,
}

/// A call whose request head is sent: the subchannel it went on, the
/// response head to come, the request body's send half.
pub(super) struct Started<'a> {
    pub(super) sub: super::Picked<'a>,
    pub(super) response: h2::client::ResponseFuture,
    pub(super) send: SendStream<Bytes>,
}

/// Reads exactly one message, then the status (unary and client streaming).
pub(super) async fn single<T>(stream: &mut Streaming<T>) -> Result<Response<T>, Status> {
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
    let mut response = Response::from_parts(stream.take_metadata(), message, trailers);
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
        Some(deadline) => match tokio::time::timeout_at(deadline, work).await {
            // A server that cancels at its copy of the deadline can beat our
            // timer by a hair; PROTOCOL-HTTP2.md asks clients to report the
            // deadline then ("clients are encouraged to ... DEADLINE_EXCEEDED").
            Ok(Err(status)) if status.code() == Code::Cancelled && Instant::now() >= deadline => {
                Err(Status::deadline_exceeded("deadline exceeded"))
            }
            Ok(done) => done,
            Err(_) => {
                if trace::enabled() {
                    trace::deadline_dropped(Side::Client);
                }
                Err(Status::deadline_exceeded("deadline exceeded"))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cancel_that_arrives_at_the_deadline_is_the_deadline() {
        let deadline = Instant::now() + Duration::from_millis(20);
        let late_cancel = async {
            // The server's RST_STREAM(CANCEL), read just as our deadline passes.
            tokio::time::sleep_until(deadline).await;
            std::thread::sleep(Duration::from_millis(2));
            Err::<(), _>(Status::cancelled("RST_STREAM from peer: CANCEL"))
        };
        let status = with_deadline(Some(deadline), late_cancel)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::DeadlineExceeded);

        // Before the deadline a cancel stays a cancel.
        let deadline = Instant::now() + Duration::from_secs(5);
        let early = async { Err::<(), _>(Status::cancelled("RST_STREAM from peer: CANCEL")) };
        let status = with_deadline(Some(deadline), early).await.unwrap_err();
        assert_eq!(status.code(), Code::Cancelled);
    }
}
