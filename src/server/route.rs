//! Routing one request: check its head, answer a bad one on the spot, or
//! build the [`Call`] and hand it to its service.
//!
//! Layer: h2 glue over the sans-IO `wire::head` (PROTOCOL-HTTP2.md
//! "Requests": `:method POST`, a content-type beginning with
//! `application/grpc`, `te: trailers`, `:path /Service/Method`). Every call
//! the server runs passes through [`dispatch`], so this is where a call's
//! context (metadata, deadline, peer, encodings) is gathered once.

use std::sync::Arc;

use bytes::Bytes;
use h2::RecvStream;
use h2::server::SendResponse;

use super::call::{Call, CallHead};
use super::tap::ActiveCall;
use super::{Router, respond};
use crate::trace::{self, Dir, Side};
use crate::transport::Peer;
use crate::wire::compression::Encoding;
use crate::wire::head::{self, HeadError};
use crate::wire::metadata::Metadata;
use crate::wire::status::Status;

/// Checks the head and starts the call, or answers it on the spot.
pub(super) fn dispatch(
    router: &Arc<Router>,
    request: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    peer: &Peer,
    active: ActiveCall,
) {
    let (parts, body) = request.into_parts();
    if trace::enabled() {
        trace::request_head(
            Side::Server,
            Dir::Recv,
            &parts.method,
            &parts.uri,
            &parts.headers,
        );
    }
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
    let Some(route) = router.service(head.service) else {
        let status = Status::unimplemented(format!("unknown service {}", head.service));
        respond::trailers_only(&mut respond, &status, &Metadata::new());
        return;
    };
    // `:path` is a slice of h2's received bytes: keeping it (and a second
    // handle for the method name) is two reference counts, not two copies.
    let method_at = parts.uri.path().len() - head.method.len();
    let (timeout, encoding) = (head.timeout, head.encoding);
    // Reduced to what we can send, not the header value kept (40 bytes): the
    // call head is moved a few times on its way into the call's task.
    let accepts_gzip = Encoding::Gzip.is_accepted_by(head.accept_encoding.map(|v| v.as_bytes()));
    let Some(path) = parts.uri.into_parts().path_and_query else {
        // Unreachable: check_request has just parsed a method out of the path.
        let status = Status::unimplemented("missing :path");
        respond::trailers_only(&mut respond, &status, &Metadata::new());
        return;
    };
    let path_for_method = path.clone();
    let call_head = CallHead {
        path,
        timeout,
        peer: peer.clone(),
        encoding,
        accepts_gzip,
        metadata: Metadata::from_headers(parts.headers),
        chain: route.chain.clone(),
        _active: active,
    };
    let call = Call::new(call_head, body, respond, router.clone());
    route
        .service
        .call(&path_for_method.path()[method_at..], call);
}
