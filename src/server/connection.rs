//! One HTTP/2 connection: handshake, accept streams, check heads, route.
//!
//! Layer: h2 glue. This task only polls `h2`'s `accept()` (which is what
//! drives the connection's reads and writes) and hands each stream to a
//! service; the call itself runs on its own task (see `call.rs`). Malformed
//! heads are answered here without spawning anything (PROTOCOL-HTTP2.md
//! "Requests"; the checks live in the sans-IO `wire::head`).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use h2::RecvStream;
use h2::server::SendResponse;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::call::{Call, CallHead};
use super::{Router, respond};
use crate::wire::compression::GRPC_ACCEPT_ENCODING;
use crate::wire::head::{self, HeadError};
use crate::wire::metadata::Metadata;
use crate::wire::status::Status;

pub(super) async fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    router: Arc<Router>,
    mut stop: watch::Receiver<bool>,
) {
    // gRPC messages are small and latency-bound: never wait for Nagle.
    let _ = socket.set_nodelay(true);
    let config = &router.config;
    let mut builder = h2::server::Builder::new();
    builder
        .initial_window_size(config.stream_window_bytes)
        .initial_connection_window_size(config.connection_window_bytes)
        .max_concurrent_streams(config.max_concurrent_streams)
        .max_header_list_size(config.max_header_list_bytes);
    if let Some(bytes) = config.max_frame_bytes {
        builder.max_frame_size(bytes);
    }
    let mut conn = match builder.handshake::<_, Bytes>(socket).await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::debug!(target: "h2grpc::server", %peer, error = %e, "handshake failed");
            return;
        }
    };
    let mut stopping = *stop.borrow();
    if stopping {
        conn.graceful_shutdown();
    }
    loop {
        tokio::select! {
            accepted = conn.accept() => match accepted {
                Some(Ok((request, respond))) => dispatch(&router, request, respond, peer),
                Some(Err(e)) => {
                    tracing::debug!(target: "h2grpc::server", %peer, error = %e, "connection error");
                    break;
                }
                None => break,
            },
            changed = stop.changed(), if !stopping => {
                // A dropped sender also means "stop".
                let _ = changed;
                stopping = true;
                conn.graceful_shutdown();
            }
        }
    }
}

/// Checks the head and starts the call, or answers it on the spot.
fn dispatch(
    router: &Arc<Router>,
    request: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    peer: SocketAddr,
) {
    let (parts, body) = request.into_parts();
    let checked = head::check_request(&parts.method, parts.uri.path(), &parts.headers);
    let head = match checked {
        Ok(head) => head,
        Err(HeadError::Http(code)) => {
            respond::http_error(&mut respond, code);
            return;
        }
        Err(HeadError::Grpc(status)) => {
            respond::trailers_only(&mut respond, &status, &Metadata::new());
            return;
        }
    };
    let Some(service) = router.service(head.service) else {
        let status = Status::unimplemented(format!("unknown service {}", head.service));
        respond::trailers_only(&mut respond, &status, &Metadata::new());
        return;
    };
    let method = head.method.to_owned();
    let call_head = CallHead {
        path: parts.uri.path().to_owned(),
        timeout: head.timeout,
        peer,
        encoding: head.encoding,
        accept_encoding: parts.headers.get(GRPC_ACCEPT_ENCODING).cloned(),
        metadata: Metadata::from_headers(parts.headers),
    };
    let call = Call::new(call_head, body, respond, router.clone());
    service.call(&method, call);
}
