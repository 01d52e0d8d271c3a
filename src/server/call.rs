//! One call on the server: its own task (see `spawn.rs`), running one of the four patterns.
//!
//! Layer: h2 glue. Every pattern has the same skeleton:
//!
//! ```text
//!  read request ─▶ run handler ─▶ send head + messages ─▶ send trailers (status)
//!        └───────────── raced against ──────────────┘
//!           • the deadline from grpc-timeout → DEADLINE_EXCEEDED
//!           • the client's RST_STREAM       → drop everything (handler cancelled)
//!           • a handler panic                → UNKNOWN (statuscodes.md: the
//!             server application threw instead of returning a status)
//! ```
//!
//! Unary and client streaming: the handler returns its one message, sent
//! with the head and trailers in one write. Server streaming and bidi: the
//! handler sends on a [`ResponseSink`] while it runs, and the loop that
//! races it hands the sink's batches to h2 whenever it waits (`sink.rs`);
//! the stream-returning style is an adapter over the same sink.
//!
//! Cardinality (statuscodes.md): a unary or server-streaming method that
//! receives zero or several request messages answers `UNIMPLEMENTED`.
//! A client-streaming or bidi handler may return before the client has
//! finished sending: its reply and trailers end the call and `h2` answers the
//! rest of the request with RST_STREAM(NO_ERROR) (RFC 9113 §8.1).

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use h2::RecvStream;
use h2::server::SendResponse;
use tokio::time::Instant;

use super::Router;
use super::reply::{Reply, RequestFactory, guard, read_single, send_unary};
use super::respond::Responder;
use super::sink::{ResponseSink, SinkDriver};
use super::spawn::start;
use super::tap::ActiveCall;
use crate::codec::Codec;
use crate::intercept::{CallContext, CallEnd, ServerChain};
use crate::request::{Request, Response};
use crate::streaming::Streaming;
use crate::trace::{self, Dir, Side};
use crate::transport::Peer;
use crate::wire::compression::Encoding;
use crate::wire::metadata::Metadata;
use crate::wire::status::{Code, Status};

/// One incoming call, handed to a generated service adapter, which picks the
/// pattern by calling one of the methods below.
pub struct Call {
    head: CallHead,
    body: RecvStream,
    respond: SendResponse<Bytes>,
    router: Arc<Router>,
}

/// What the connection task learned from the request head.
pub(super) struct CallHead {
    pub(super) path: http::uri::PathAndQuery,
    pub(super) metadata: Metadata,
    pub(super) timeout: Option<Duration>,
    pub(super) peer: Peer,
    /// The client's `grpc-encoding`: how its flag-1 messages are compressed.
    pub(super) encoding: Option<Encoding>,
    /// Whether the client's `grpc-accept-encoding` lists gzip, the one
    /// encoding we may compress responses with.
    pub(super) accepts_gzip: bool,
    /// The interceptors this call runs, if any (see `crate::intercept`).
    pub(super) chain: Option<ServerChain>,
    /// Keeps the call counted as open on its connection.
    pub(super) _active: ActiveCall,
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("path", &self.head.path)
            .field("timeout", &self.head.timeout)
            .field("peer", &self.head.peer)
            .finish_non_exhaustive()
    }
}

/// How a call's work ended.
enum Outcome<T> {
    Done(T),
    DeadlineExceeded,
    /// The client reset the stream: nobody is listening any more.
    Reset,
}

impl Call {
    pub(super) fn new(
        head: CallHead,
        body: RecvStream,
        respond: SendResponse<Bytes>,
        router: Arc<Router>,
    ) -> Call {
        Call {
            head,
            body,
            respond,
            router,
        }
    }

    /// Unary: one request message, one response message.
    pub fn unary<C, F, Fut>(self, codec: C, handler: F)
    where
        C: Codec,
        F: FnOnce(Request<C::Decode>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Response<C::Encode>, Status>> + Send + 'static,
    {
        start(move || {
            let decode = codec.clone();
            self.run(codec, None, move |body, factory| async move {
                // The stream is a local and the read future only borrows it:
                // that future is moved on its way to being awaited, so it
                // is kept small. (A block, not drop(): a borrowed local
                // keeps its slot until its scope ends, beside the handler.)
                let (message, compressed) = {
                    let mut stream = factory.receive(decode, body);
                    read_single(&mut stream).await?
                };
                let request = factory.single(message, compressed);
                let response = guard(pin!(handler(request))).await?;
                Ok(Reply::message(response))
            })
        });
    }

    /// Client streaming: a stream of requests, one response message.
    pub fn client_streaming<C, F, Fut>(self, codec: C, handler: F)
    where
        C: Codec,
        F: FnOnce(Request<Streaming<C::Decode>>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Response<C::Encode>, Status>> + Send + 'static,
    {
        start(move || {
            let decode = codec.clone();
            self.run(codec, None, move |body, factory| async move {
                let response = guard(pin!(handler(factory.streaming(decode, body)))).await?;
                Ok(Reply::message(response))
            })
        });
    }

    /// Server streaming with a send handle: one request message; the handler
    /// sends its responses on the [`ResponseSink`] and returns the status.
    pub fn server_streaming_sink<C, F, Fut>(self, codec: C, handler: F)
    where
        C: Codec,
        F: FnOnce(Request<C::Decode>, ResponseSink<C::Encode>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        self.one_request_sink(codec, true, handler);
    }

    /// Server streaming, stream style: the handler returns a stream of
    /// responses (a thin adapter over [`Call::server_streaming_sink`]).
    pub fn server_streaming<C, F, Fut, S>(self, codec: C, handler: F)
    where
        C: Codec,
        F: FnOnce(Request<C::Decode>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Response<S>, Status>> + Send + 'static,
        S: Stream<Item = Result<C::Encode, Status>> + Send + 'static,
    {
        self.one_request_sink(codec, false, move |request, mut sink| async move {
            let response = handler(request).await?;
            sink.send_response(response).await
        });
    }

    /// Bidirectional streaming with a send handle: the handler reads the
    /// request stream and sends on the [`ResponseSink`] at any time.
    pub fn streaming_sink<C, F, Fut>(self, codec: C, handler: F)
    where
        C: Codec,
        F: FnOnce(Request<Streaming<C::Decode>>, ResponseSink<C::Encode>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        self.request_stream_sink(codec, true, handler);
    }

    /// Bidirectional streaming, stream style: the handler returns a stream of
    /// responses (a thin adapter over [`Call::streaming_sink`]).
    pub fn streaming<C, F, Fut, S>(self, codec: C, handler: F)
    where
        C: Codec,
        F: FnOnce(Request<Streaming<C::Decode>>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Response<S>, Status>> + Send + 'static,
        S: Stream<Item = Result<C::Encode, Status>> + Send + 'static,
    {
        self.request_stream_sink(codec, false, move |request, mut sink| async move {
            let response = handler(request).await?;
            sink.send_response(response).await
        });
    }

    /// The sink of a streaming response, and the call task's side of it.
    fn sink<C: Codec>(&self, codec: C) -> (ResponseSink<C::Encode>, SinkDriver) {
        let config = &self.router.config;
        ResponseSink::new(
            codec,
            config.max_send_message_bytes,
            config.send_compression,
            self.head.accepts_gzip,
        )
    }

    /// Server streaming: read the one request message, then run the handler
    /// on its sink. `handle`: the handler holds the sink from the start, so
    /// the head goes out the first time it waits (the stream adapter fixes
    /// the head itself once it has the response).
    fn one_request_sink<C, F, Fut>(self, codec: C, handle: bool, handler: F)
    where
        C: Codec,
        F: FnOnce(Request<C::Decode>, ResponseSink<C::Encode>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        start(move || {
            let (sink, driver) = self.sink(codec.clone());
            let decode = codec.clone();
            self.run(codec, Some(driver), move |body, factory| async move {
                let (message, compressed) = {
                    let mut stream = factory.receive(decode, body);
                    read_single(&mut stream).await?
                };
                let request = factory.single(message, compressed);
                if handle {
                    sink.head_at_first_wait();
                }
                Ok(Reply::Sink(guard(pin!(handler(request, sink))).await))
            })
        });
    }

    /// Bidi: the handler gets the request stream and the sink. `handle`: the
    /// handler holds the sink from the start, and the head goes out when it
    /// first reads: a client may wait for the head before it sends.
    fn request_stream_sink<C, F, Fut>(self, codec: C, handle: bool, handler: F)
    where
        C: Codec,
        F: FnOnce(Request<Streaming<C::Decode>>, ResponseSink<C::Encode>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        start(move || {
            let (sink, driver) = self.sink(codec.clone());
            let decode = codec.clone();
            self.run(codec, Some(driver), move |body, factory| async move {
                let mut request = factory.streaming(decode, body);
                if handle {
                    request.get_mut().before_first_read(sink.head_before());
                }
                Ok(Reply::Sink(guard(pin!(handler(request, sink))).await))
            })
        });
    }

    /// Answers `UNIMPLEMENTED` (Trailers-Only): the service has no such method.
    pub fn unimplemented(self) {
        let status = Status::unimplemented(format!("unknown method {}", self.head.path));
        self.reject(status);
    }

    /// Ends the call with `status` before any handler runs (Trailers-Only),
    /// e.g. from a hand-written `Service` wrapper. Interceptors are the usual
    /// place for this (see [`crate::intercept`]); this is for code that
    /// routes calls itself.
    pub fn reject(mut self, status: Status) {
        super::respond::trailers_only(&mut self.respond, &status, &Metadata::new());
        // The call ends here: its interceptors (metrics, logs) still hear of it.
        if let Some(chain) = &self.head.chain {
            chain.on_end(&CallEnd {
                path: self.head.path.path(),
                peer: &self.head.peer,
                code: status.code(),
                elapsed: Duration::ZERO,
                sent_bytes: 0,
            });
        }
    }

    /// The method path, `/package.Service/Method`.
    pub fn path(&self) -> &str {
        self.head.path.path()
    }

    /// The request's custom metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.head.metadata
    }

    /// Who called.
    pub fn peer(&self) -> &Peer {
        &self.head.peer
    }

    /// The timeout the client sent (`grpc-timeout`), if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.head.timeout
    }

    /// The skeleton shared by the four patterns (see the module docs).
    ///
    /// A plain function returning an `async move` block, not an `async fn`:
    /// an `async fn` keeps its arguments twice in its state (the argument
    /// slot and the local it is moved into), and this state is copied whole
    /// when the call is spawned. The block captures only what the call needs.
    ///
    /// `driver`: the call task's side of a streaming response's sink, given a
    /// turn whenever the work waits (see `sink.rs`).
    fn run<C, W, WFut>(
        self,
        codec: C,
        driver: Option<SinkDriver>,
        work: W,
    ) -> impl Future<Output = ()> + use<C, W, WFut>
    where
        C: Codec,
        W: FnOnce(RecvStream, RequestFactory) -> WFut,
        WFut: Future<Output = Result<Reply<C::Encode>, Status>>,
    {
        let Call {
            head,
            body,
            respond,
            router,
        } = self;
        let CallHead {
            path,
            metadata,
            timeout,
            peer,
            encoding,
            accepts_gzip,
            chain,
            _active,
        } = head;
        let deadline = timeout.map(|t| Instant::now() + t);
        // With interceptors, the metadata goes to them first and the factory
        // gets it back (changed) once they have all let the call through.
        let (metadata, hooks, intercept) = match chain {
            None => (metadata, None, None),
            Some(chain) => {
                let ctx = CallContext {
                    path: path.clone(),
                    metadata,
                    peer: peer.clone(),
                    deadline,
                    extensions: http::Extensions::new(),
                };
                let hooks = Hooks {
                    span: chain.span(&ctx),
                    chain: chain.clone(),
                    peer: peer.clone(),
                    started: std::time::Instant::now(),
                };
                (Metadata::new(), Some(hooks), Some((chain, ctx)))
            }
        };
        let factory = RequestFactory {
            metadata,
            extensions: http::Extensions::new(),
            timeout,
            deadline,
            peer,
            max_recv_bytes: router.config.max_recv_message_bytes,
            encoding,
        };
        let mut responder = Responder::new(respond);
        async move {
            let config = &router.config;
            // Phase 1: the request is read and the handler runs. The work does not
            // touch the responder (a sink only fills its batch; its driver sends
            // it here when the work waits), so a client reset can be watched
            // alongside it.
            // (Futures are built where they are pinned: a future first bound to a
            // local and then moved keeps both slots in the call's state.)
            let expired = deadline.is_some_and(|d| d <= Instant::now());
            let handled = if expired {
                // grpc-timeout 0 (or a deadline already past): nothing may run.
                Outcome::DeadlineExceeded
            } else {
                // A hand-rolled select (reset, then deadline, then work, like
                // a biased `select!`): the reply is moved out once, not through
                // select!'s output enum.
                let mut sleep = pin!(deadline.map(tokio::time::sleep_until));
                let mut work = pin!(async move {
                    let mut factory = factory;
                    if let Some((chain, mut ctx)) = intercept {
                        // A rejection is the handler's early error: Trailers-Only.
                        chain.intercept(&mut ctx).await?;
                        factory.metadata = ctx.metadata;
                        factory.extensions = ctx.extensions;
                    }
                    work(body, factory).await
                });
                let span = hooks.as_ref().and_then(|h| h.span.as_ref());
                std::future::poll_fn(|cx| {
                    let _entered = span.map(tracing::Span::enter);
                    loop {
                        if responder.poll_reset(cx).is_ready() {
                            return Poll::Ready(Outcome::Reset);
                        }
                        if let Some(sleep) = sleep.as_mut().as_pin_mut()
                            && sleep.poll(cx).is_ready()
                        {
                            return Poll::Ready(Outcome::DeadlineExceeded);
                        }
                        if let Poll::Ready(done) = work.as_mut().poll(cx) {
                            return Poll::Ready(Outcome::Done(done));
                        }
                        match driver.as_ref().map(|d| d.turn(&mut responder, cx)) {
                            // The sink waited for room and has it: run the handler on.
                            Some(Ok(true)) => continue,
                            Some(Err(_)) => return Poll::Ready(Outcome::Reset),
                            Some(Ok(false)) | None => return Poll::Pending,
                        }
                    }
                })
                .await
            };
            // Phase 2: send the reply; a reset surfaces as an h2 error from the responder.
            let outcome = match handled {
                Outcome::Done(Ok(Reply::Message(reply))) => {
                    let (head, message, trailers) = reply.negotiate(config, accepts_gzip);
                    // No await: a unary reply is queued whole, nothing to time out.
                    Outcome::Done(send_unary(
                        &mut responder,
                        &codec,
                        head,
                        &message,
                        trailers,
                        config.max_send_message_bytes,
                    ))
                }
                // The handler is done with its sink: what it left is handed over.
                Outcome::Done(Ok(Reply::Sink(result))) => match driver.as_ref() {
                    Some(driver) => Outcome::Done(driver.finish(&mut responder, result)),
                    None => Outcome::Done(Ok((result.err(), Metadata::new()))),
                },
                Outcome::Done(Err(status)) => Outcome::Done(Ok((Some(status), Metadata::new()))),
                Outcome::DeadlineExceeded => Outcome::DeadlineExceeded,
                Outcome::Reset => Outcome::Reset,
            };
            // `outcome` no longer borrows the responder; finish the call with it.
            let code = match outcome {
                Outcome::Done(Ok((status, trailers))) => {
                    responder.finish(status.as_ref(), &trailers);
                    status.map_or(Code::Ok, |s| s.code())
                }
                // The stream failed under us (peer reset, connection gone): nothing to send.
                Outcome::Done(Err(_)) | Outcome::Reset => {
                    if trace::enabled() {
                        trace::reset(
                            Side::Server,
                            Dir::Recv,
                            h2::Reason::CANCEL,
                            "client went away: handler cancelled",
                        );
                    }
                    Code::Cancelled
                }
                Outcome::DeadlineExceeded => {
                    if let Some(driver) = &driver {
                        driver.abandon(&mut responder);
                    }
                    let status = Status::deadline_exceeded("deadline exceeded");
                    responder.finish(Some(&status), &Metadata::new());
                    status.code()
                }
            };
            if let Some(hooks) = hooks {
                let _entered = hooks.span.as_ref().map(tracing::Span::enter);
                hooks.chain.on_end(&CallEnd {
                    path: path.path(),
                    peer: &hooks.peer,
                    code,
                    elapsed: hooks.started.elapsed(),
                    sent_bytes: responder.sent_bytes(),
                });
            }
            if let Some(driver) = &driver {
                driver.close(code);
            }
            // Named here so the block owns it: the call counts as open until now.
            drop(_active);
        }
    }
}

/// What a call with interceptors keeps for their `on_end`.
struct Hooks {
    chain: ServerChain,
    span: Option<tracing::Span>,
    peer: Peer,
    started: std::time::Instant,
}
