//! The `grpc.testing.TestService` handlers, feature by feature as the "Server"
//! section of grpc/grpc doc/interop-test-descriptions.md names them.
//!
//! | rpc                   | features                                                        |
//! |-----------------------|-----------------------------------------------------------------|
//! | `EmptyCall`           | EmptyCall                                                       |
//! | `UnaryCall`           | UnaryCall, Echo Status, Echo Metadata, Compressed{Request,Response}, `fill_server_id` |
//! | `CacheableUnaryCall`  | CacheableUnaryCall (timestamp payload, `cache-control` header)  |
//! | `StreamingOutputCall` | StreamingOutputCall, `interval_us`, per-message compression, Echo Status/Metadata |
//! | `StreamingInputCall`  | StreamingInputCall, CompressedRequest per message               |
//! | `FullDuplexCall`      | FullDuplexCall, `interval_us`, per-message compression, Echo Status/Metadata |
//! | `HalfDuplexCall`      | buffers every request until half-close, then answers in order   |
//! | `UnimplementedCall`   | `UNIMPLEMENTED`                                                 |
//!
//! `UnimplementedService` is deliberately not served: the router answers
//! `UNIMPLEMENTED` for it, which is what the `unimplemented_service` case checks.
//!
//! Echo Metadata: `x-grpc-test-echo-initial` goes back in the response head,
//! `x-grpc-test-echo-trailing-bin` in the trailers. A call that fails before
//! sending a message answers Trailers-Only (PROTOCOL-HTTP2.md "Responses"),
//! whose single HEADERS frame then carries both.
//!
//! mTLS (an h2grpc addition, `--client_ca_file`): `EmptyCall` and
//! `UnaryCall` return the client's verified leaf certificate (DER) in the
//! response head as `x-h2grpc-peer-cert-bin`, so a foreign client sees what
//! the handler saw. Nothing is added without a client certificate.
//!
//! Compression (doc/compression.md): `response_compressed` asks for a gzip
//! unary response; on streams every call is set up for gzip and each
//! `ResponseParameters.compressed` flips the per-message toggle before its
//! message. The runtime sends everything plain to a client whose
//! `grpc-accept-encoding` lacks gzip. `expect_compressed` is checked against
//! the received message's compressed flag.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::{StreamExt, stream};
use h2grpc::compression::{CompressionToggle, Encoding};
use h2grpc::server::ResponseSink;
use h2grpc::{BoxStream, Code, Metadata, Request, Response, Status, Streaming};

use crate::pb::grpc_testing::test_service_server::TestService;
use crate::pb::grpc_testing::{
    BoolValue, EchoStatus, Empty, Payload, PayloadType, ResponseParameters, SimpleRequest,
    SimpleResponse, StreamingInputCallRequest, StreamingInputCallResponse,
    StreamingOutputCallRequest, StreamingOutputCallResponse,
};

/// Echo Metadata: an ASCII key returned in the response head.
pub const ECHO_INITIAL_KEY: &str = "x-grpc-test-echo-initial";
/// Echo Metadata: a binary key returned in the trailers.
pub const ECHO_TRAILING_KEY: &str = "x-grpc-test-echo-trailing-bin";
/// mTLS: the client's verified leaf certificate, DER, in the response head
/// of `EmptyCall` and `UnaryCall` (not an interop feature: module doc).
#[cfg(feature = "tls")]
pub const PEER_CERT_KEY: &str = "x-h2grpc-peer-cert-bin";

/// Largest payload one response may ask for. The body is allocated before it
/// is sent, so the size a client asks for is checked against this first; the
/// interop cases ask for at most 314159 bytes.
const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

/// HalfDuplexCall keeps every requested response until half-close; a client
/// must not be able to grow that list without bound.
const MAX_BUFFERED_RESPONSES: usize = 10_000;

/// `fill_server_id` (messages.proto `SimpleResponse.server_id`): "unique among
/// different server instances, but the same across all RPCs made to a
/// particular server instance", which `pick_first_unary` checks.
fn server_id() -> String {
    format!("h2grpc-interop-server-{}", std::process::id())
}

/// The `TestService` implementation; stateless.
#[derive(Debug, Default, Clone, Copy)]
pub struct InteropService;

impl TestService for InteropService {
    async fn empty_call(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        let echo = Echo::from_request(request.metadata())?.with_peer_cert(&request)?;
        Ok(echo.respond(Empty {}))
    }

    async fn unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let echo = Echo::from_request(request.metadata())?.with_peer_cert(&request)?;
        let compressed = request.message_compressed();
        let req = request.into_inner();
        let reply = (|| {
            echo_status(req.response_status.as_ref())?;
            check_compressed(req.expect_compressed.as_ref(), compressed)?;
            Ok(SimpleResponse {
                payload: Some(payload(req.response_type, req.response_size)?),
                server_id: if req.fill_server_id {
                    server_id()
                } else {
                    String::new()
                },
                ..SimpleResponse::default()
            })
        })();
        match reply {
            Ok(message) => {
                let mut response = echo.respond(message);
                // CompressedResponse; the runtime sends it plain if the client does not accept gzip.
                if flag(&req.response_compressed) {
                    response.set_send_compression(Encoding::Gzip);
                }
                Ok(response)
            }
            Err(status) => Err(echo.fail(status)),
        }
    }

    async fn cacheable_unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let echo = Echo::from_request(request.metadata())?;
        // The request is ignored; the payload only has to differ per call.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let mut response = echo.respond(SimpleResponse {
            payload: Some(Payload {
                r#type: PayloadType::Compressable as i32,
                body: nanos.to_string().into_bytes(),
            }),
            ..SimpleResponse::default()
        });
        response
            .metadata_mut()
            .insert("cache-control", "max-age=60")
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(response)
    }

    async fn streaming_output_call(
        &self,
        request: Request<StreamingOutputCallRequest>,
        mut sink: ResponseSink<StreamingOutputCallResponse>,
    ) -> Result<(), Status> {
        let response: Result<Response<BoxStream<StreamingOutputCallResponse>>, Status> = async {
            let echo = Echo::from_request(request.metadata())?;
            let req = request.into_inner();
            let steps = (|| {
                echo_status(req.response_status.as_ref())?;
                steps_of(&req)
            })()
            .map_err(|status| echo.fail(status))?;
            let (response, toggle) = compressed_stream_response(&echo);
            let responses = stream::iter(steps).then(move |step| {
                let toggle = toggle.clone();
                async move { Ok(step.send(&toggle).await) }
            });
            Ok(response.map(|()| responses.boxed()))
        }
        .await;
        sink.send_response(response?).await
    }

    async fn streaming_input_call(
        &self,
        request: Request<Streaming<StreamingInputCallRequest>>,
    ) -> Result<Response<StreamingInputCallResponse>, Status> {
        let echo = Echo::from_request(request.metadata())?;
        let mut input = request.into_inner();
        let total = async {
            let mut total = 0usize;
            while let Some(req) = input.message().await? {
                let compressed = input.last_message_compressed();
                check_compressed(req.expect_compressed.as_ref(), compressed)?;
                total += req.payload.map_or(0, |p| p.body.len());
            }
            i32::try_from(total)
                .map_err(|_| Status::out_of_range("aggregated payload size exceeds int32"))
        }
        .await
        .map_err(|status| echo.fail(status))?;
        Ok(echo.respond(StreamingInputCallResponse {
            aggregated_payload_size: total,
        }))
    }

    async fn full_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
        mut sink: ResponseSink<StreamingOutputCallResponse>,
    ) -> Result<(), Status> {
        let response: Result<Response<BoxStream<StreamingOutputCallResponse>>, Status> = async {
            let echo = Echo::from_request(request.metadata())?;
            let (response, toggle) = compressed_stream_response(&echo);
            let duplex = Duplex {
                input: request.into_inner(),
                pending: VecDeque::new(),
                sent_any: false,
                done: false,
                echo,
                toggle,
            };
            let responses = stream::unfold(duplex, Duplex::next);
            Ok(response.map(|()| responses.boxed()))
        }
        .await;
        sink.send_response(response?).await
    }

    async fn half_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
        mut sink: ResponseSink<StreamingOutputCallResponse>,
    ) -> Result<(), Status> {
        let response: Result<Response<BoxStream<StreamingOutputCallResponse>>, Status> = async {
            let echo = Echo::from_request(request.metadata())?;
            let mut input = request.into_inner();
            // Only the response parameters are kept, not the request payloads.
            let mut steps = Vec::new();
            let mut ending = None;
            while let Some(req) = input.message().await.map_err(|s| echo.fail(s))? {
                if ending.is_some() {
                    // Echo Status: nothing after the failing request is processed.
                    continue;
                }
                if let Err(status) = echo_status(req.response_status.as_ref()) {
                    ending = Some(status);
                    continue;
                }
                steps.extend(steps_of(&req).map_err(|s| echo.fail(s))?);
                if steps.len() > MAX_BUFFERED_RESPONSES {
                    return Err(echo.fail(Status::resource_exhausted(format!(
                        "more than {MAX_BUFFERED_RESPONSES} responses requested"
                    ))));
                }
            }
            if steps.is_empty()
                && let Some(status) = ending
            {
                return Err(echo.fail(status));
            }
            let (response, toggle) = compressed_stream_response(&echo);
            let responses = stream::iter(steps)
                .then(move |step| {
                    let toggle = toggle.clone();
                    async move { Ok(step.send(&toggle).await) }
                })
                .chain(stream::iter(ending.map(Err)));
            Ok(response.map(|()| responses.boxed()))
        }
        .await;
        sink.send_response(response?).await
    }

    async fn unimplemented_call(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Empty>, Status> {
        Err(Status::unimplemented(
            "grpc.testing.TestService/UnimplementedCall is not implemented",
        ))
    }
}

/// FullDuplexCall's response stream: answers each request's parameters in
/// order as it arrives, ends at half-close, or with the first Echo Status.
struct Duplex {
    input: Streaming<StreamingOutputCallRequest>,
    /// Responses asked for and not yet sent.
    pending: VecDeque<Step>,
    /// Whether the response head (with the initial echo) has gone out.
    sent_any: bool,
    done: bool,
    echo: Echo,
    toggle: CompressionToggle,
}

impl Duplex {
    async fn next(mut self) -> Option<(Result<StreamingOutputCallResponse, Status>, Duplex)> {
        loop {
            if self.done {
                return None;
            }
            if let Some(step) = self.pending.pop_front() {
                let response = step.send(&self.toggle).await;
                self.sent_any = true;
                return Some((Ok(response), self));
            }
            let next = match self.input.message().await {
                Ok(None) => return None,
                Ok(Some(req)) => {
                    echo_status(req.response_status.as_ref()).and_then(|()| steps_of(&req))
                }
                Err(status) => Err(status),
            };
            match next {
                Ok(steps) => self.pending.extend(steps),
                Err(status) => {
                    self.done = true;
                    let status = self.fail(status);
                    return Some((Err(status), self));
                }
            }
        }
    }

    /// The trailing echo rides in the response's trailers; the initial echo
    /// must join the status only when no head was sent (Trailers-Only).
    fn fail(&self, status: Status) -> Status {
        if self.sent_any {
            status
        } else {
            self.echo.fail_streaming(status)
        }
    }
}

/// One response to send: its payload size, the pause before it, and whether
/// it is compressed.
#[derive(Debug, Clone, Copy)]
struct Step {
    size: usize,
    interval: Duration,
    compressed: bool,
}

impl Step {
    /// Observes `interval_us` (a sleep *before* the response), then builds it.
    async fn send(self, toggle: &CompressionToggle) -> StreamingOutputCallResponse {
        if !self.interval.is_zero() {
            tokio::time::sleep(self.interval).await;
        }
        toggle.set(self.compressed);
        StreamingOutputCallResponse {
            payload: Some(zeros(self.size)),
        }
    }
}

/// The response of a streaming call, set up for per-message compression:
/// gzip on the call (if the client accepts it), each message's flag decided by
/// the toggle its [`Step`] sets just before the message is yielded.
fn compressed_stream_response(echo: &Echo) -> (Response<()>, CompressionToggle) {
    let mut response = echo.respond(());
    response.set_send_compression(Encoding::Gzip);
    let toggle = response.compression_toggle();
    (response, toggle)
}

/// The responses a streaming request asks for, validated before any is sent.
fn steps_of(req: &StreamingOutputCallRequest) -> Result<Vec<Step>, Status> {
    check_payload_type(req.response_type)?;
    req.response_parameters
        .iter()
        .map(|p: &ResponseParameters| {
            Ok(Step {
                size: payload_size(p.size)?,
                interval: Duration::from_micros(u64::try_from(p.interval_us).unwrap_or(0)),
                compressed: flag(&p.compressed),
            })
        })
        .collect()
}

/// Echo Status: a request carrying a non-OK `response_status` fails the call with it.
fn echo_status(status: Option<&EchoStatus>) -> Result<(), Status> {
    match status {
        Some(s) if s.code != 0 => Err(Status::new(Code::from_i32(s.code), s.message.clone())),
        _ => Ok(()),
    }
}

/// CompressedRequest: `expect_compressed` true and an uncompressed message is
/// `INVALID_ARGUMENT`. (False accepts either: a client may compress anyway.)
fn check_compressed(expect: Option<&BoolValue>, compressed: bool) -> Result<(), Status> {
    if expect.is_some_and(|b| b.value) && !compressed {
        return Err(Status::invalid_argument(
            "expected a compressed request message, received an uncompressed one",
        ));
    }
    Ok(())
}

fn flag(value: &Option<BoolValue>) -> bool {
    value.as_ref().is_some_and(|b| b.value)
}

/// UnaryCall: "If the server does not support the `response_type`, then it
/// should fail the RPC with `INVALID_ARGUMENT`". COMPRESSABLE is the only one.
fn check_payload_type(response_type: i32) -> Result<(), Status> {
    match PayloadType::try_from(response_type) {
        Ok(PayloadType::Compressable) => Ok(()),
        _ => Err(Status::invalid_argument(format!(
            "unsupported response_type {response_type}"
        ))),
    }
}

fn payload_size(size: i32) -> Result<usize, Status> {
    match usize::try_from(size) {
        Ok(n) if n <= MAX_PAYLOAD_BYTES => Ok(n),
        Ok(_) => Err(Status::invalid_argument(format!(
            "payload size {size} exceeds this server's limit of {MAX_PAYLOAD_BYTES} bytes"
        ))),
        Err(_) => Err(Status::invalid_argument(format!(
            "negative payload size {size}"
        ))),
    }
}

fn payload(response_type: i32, size: i32) -> Result<Payload, Status> {
    check_payload_type(response_type)?;
    Ok(zeros(payload_size(size)?))
}

fn zeros(size: usize) -> Payload {
    Payload {
        r#type: PayloadType::Compressable as i32,
        body: vec![0; size],
    }
}

/// What Echo Metadata sends back for one call, validated once on receipt.
#[derive(Debug, Clone, Default)]
struct Echo {
    /// For the response head.
    initial: Metadata,
    /// For the trailers.
    trailing: Metadata,
    /// Both, for a Trailers-Only answer.
    both: Metadata,
}

impl Echo {
    fn from_request(metadata: &Metadata) -> Result<Echo, Status> {
        let bad = |e: &dyn std::fmt::Display| {
            Status::invalid_argument(format!("cannot echo metadata: {e}"))
        };
        let mut echo = Echo::default();
        if let Some(value) = metadata.get(ECHO_INITIAL_KEY) {
            for dst in [&mut echo.initial, &mut echo.both] {
                dst.insert(ECHO_INITIAL_KEY, value).map_err(|e| bad(&e))?;
            }
        }
        if let Some(value) = metadata.get_bin(ECHO_TRAILING_KEY) {
            let value: Bytes = value.map_err(|e| bad(&e))?;
            for dst in [&mut echo.trailing, &mut echo.both] {
                dst.insert_bin(ECHO_TRAILING_KEY, &value)
                    .map_err(|e| bad(&e))?;
            }
        }
        Ok(echo)
    }

    /// Adds the client's verified leaf certificate (mTLS) to the response
    /// head; no change without one.
    #[cfg(feature = "tls")]
    fn with_peer_cert<T>(mut self, request: &Request<T>) -> Result<Echo, Status> {
        if let Some(leaf) = request.peer_certs().and_then(<[_]>::first) {
            for dst in [&mut self.initial, &mut self.both] {
                dst.insert_bin(PEER_CERT_KEY, leaf)
                    .map_err(|e| Status::internal(format!("cannot return the certificate: {e}")))?;
            }
        }
        Ok(self)
    }

    /// Without the `tls` feature there are no certificates.
    #[cfg(not(feature = "tls"))]
    fn with_peer_cert<T>(self, _request: &Request<T>) -> Result<Echo, Status> {
        Ok(self)
    }

    /// A response carrying the initial echo in its head and the trailing echo in its trailers.
    fn respond<T>(&self, message: T) -> Response<T> {
        let mut response = Response::new(message);
        *response.metadata_mut() = self.initial.clone();
        *response.trailers_mut() = self.trailing.clone();
        response
    }

    /// A call failing before its handler returned a response answers
    /// Trailers-Only, so both echoes ride with the status.
    fn fail(&self, status: Status) -> Status {
        status.with_metadata(self.both.clone())
    }

    /// A response stream failing before its first message: the trailing echo
    /// is already in the response's trailers, so only the initial one joins.
    fn fail_streaming(&self, status: Status) -> Status {
        status.with_metadata(self.initial.clone())
    }
}
