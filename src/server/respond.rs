//! Sending a response on one h2 stream: head, messages, trailers.
//!
//! Layer: h2 glue over `wire::head` and `wire::status`. PROTOCOL-HTTP2.md
//! "Responses": `Response-Headers *Length-Prefixed-Message Trailers`, or
//! `Trailers-Only` (one HEADERS frame with END_STREAM) when the call fails
//! before any message was sent.
//!
//! Flow control: see `crate::flow`.

use std::task::{Context, Poll};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, SendStream};
use http::{HeaderMap, Response, StatusCode};

use crate::trace::{self, Dir, Side};
use crate::wire::compression::Encoding;
use crate::wire::head;
use crate::wire::metadata::Metadata;
use crate::wire::status::Status;

/// Answers a non-gRPC request with a bare HTTP status (405, 415) and END_STREAM.
pub(super) fn http_error(respond: &mut SendResponse<Bytes>, code: u16) {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    if trace::enabled() {
        trace::response_head(Side::Server, Dir::Send, code, response.headers(), true);
    }
    let _ = respond.send_response(response, true);
}

/// Sends a Trailers-Only response: `:status 200`, `content-type`, the status, in one HEADERS frame.
pub(super) fn trailers_only(
    respond: &mut SendResponse<Bytes>,
    status: &Status,
    trailers: &Metadata,
) {
    trailers_only_with(respond, Some(status), trailers);
}

/// [`trailers_only`] with `None` standing for OK.
fn trailers_only_with(
    respond: &mut SendResponse<Bytes>,
    status: Option<&Status>,
    trailers: &Metadata,
) {
    let mut response = Response::new(());
    let headers = response.headers_mut();
    head::response_headers(headers, None);
    trailers.write_to(headers);
    encode_status(status, headers);
    if trace::enabled() {
        trace::response_head(Side::Server, Dir::Send, 200, response.headers(), true);
    }
    let _ = respond.send_response(response, true);
}

/// A call's sending half: the response head goes out lazily, with the first
/// message, so a call that fails first can still answer Trailers-Only.
pub(super) struct Responder {
    respond: SendResponse<Bytes>,
    stream: Option<SendStream<Bytes>>,
    /// DATA bytes handed to h2, for interceptors' `on_end`.
    sent_bytes: u64,
}

impl Responder {
    pub(super) fn new(respond: SendResponse<Bytes>) -> Responder {
        Responder {
            respond,
            stream: None,
            sent_bytes: 0,
        }
    }

    /// Sends the response head (once) with the handler's metadata.
    pub(super) fn send_head(
        &mut self,
        metadata: &Metadata,
        encoding: Option<Encoding>,
    ) -> Result<(), h2::Error> {
        if self.stream.is_some() {
            return Ok(());
        }
        self.send_built_head(build_head(metadata, encoding))
    }

    /// Sends a head made by [`build_head`] (once).
    pub(super) fn send_built_head(&mut self, head: Response<()>) -> Result<(), h2::Error> {
        if self.stream.is_none() {
            self.stream = Some(self.respond.send_response(head, false)?);
        }
        Ok(())
    }

    /// The response's DATA stream, once the head has gone out.
    pub(super) fn stream_mut(&mut self) -> Option<&mut SendStream<Bytes>> {
        self.stream.as_mut()
    }

    /// Hands bytes to h2 without waiting for window space: a unary reply (a
    /// single message already in memory, bounded by the send limit) or the
    /// last batch of a stream (bounded by the sink), so waiting would bound nothing, and reserving capacity costs
    /// h2 a stream lock and a scheduling pass per call (~600 instructions in
    /// callgrind). h2 queues it and sends as the peer's window allows.
    pub(super) fn send_whole(&mut self, data: Bytes) -> Result<(), h2::Error> {
        match self.stream.as_mut() {
            Some(stream) => {
                self.sent_bytes += data.len() as u64;
                stream.send_data(data, false)
            }
            None => Err(h2::Error::from(Reason::INTERNAL_ERROR)),
        }
    }

    /// DATA bytes handed to h2 so far.
    pub(super) fn sent_bytes(&self) -> u64 {
        self.sent_bytes
    }

    /// Ends the call with `status` (`None`: OK): trailers after a head, or Trailers-Only.
    /// On a stream the client has already reset h2 sends nothing anyway; the
    /// trace says so instead of showing trailers that never left (checked only
    /// when tracing: it takes h2's stream lock, on every call's path).
    pub(super) fn finish(&mut self, status: Option<&Status>, trailers: &Metadata) {
        if trace::enabled() {
            let waker = std::task::Waker::noop();
            if let Poll::Ready(reason) = self.poll_reset(&mut Context::from_waker(waker)) {
                let why = "client went away: handler cancelled";
                trace::reset(Side::Server, Dir::Recv, reason, why);
                return;
            }
        }
        match self.stream.as_mut() {
            Some(stream) => {
                let mut map = HeaderMap::new();
                trailers.write_to(&mut map);
                encode_status(status, &mut map);
                if trace::enabled() {
                    trace::trailers(Side::Server, Dir::Send, &map);
                }
                let _ = stream.send_trailers(map);
            }
            None => trailers_only_with(&mut self.respond, status, trailers),
        }
    }

    /// Polls for a client RST_STREAM; a broken stream counts as reset too.
    pub(super) fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<Reason> {
        let polled = match self.stream.as_mut() {
            Some(stream) => stream.poll_reset(cx),
            None => self.respond.poll_reset(cx),
        };
        polled.map(|r| r.unwrap_or(Reason::CANCEL))
    }
}

/// The response head: `:status 200`, content-type, `grpc-encoding`, metadata.
/// Traced here, where it is fixed: h2 puts it on the wire before any DATA
/// of its stream, whenever it is handed over.
pub(super) fn build_head(metadata: &Metadata, encoding: Option<Encoding>) -> Response<()> {
    let mut response = Response::new(());
    head::response_headers(response.headers_mut(), encoding);
    metadata.write_to(response.headers_mut());
    if trace::enabled() {
        // Sent without END_STREAM (`Responder::send_built_head`).
        trace::response_head(Side::Server, Dir::Send, 200, response.headers(), false);
    }
    response
}

/// Writes `status` into trailers; `None` is OK with no message.
fn encode_status(status: Option<&Status>, dst: &mut HeaderMap) {
    match status {
        Some(status) => status.encode_trailers(dst),
        None => crate::wire::status::encode_ok_trailers(dst),
    }
}
