//! Interceptors: code that runs around every call, in one place per side.
//!
//! Layer: the typed API, beside `Request`/`Response`; the server runs its
//! interceptors at its one routing point (`server::route`) and the call
//! task, the client at `Channel`'s start of every call. Neither side knows
//! which interceptors exist: they see a list.
//!
//! An interceptor sees the call before the handler (or, on the client,
//! before the request head is sent), may change its metadata, may attach
//! typed values for the handler ([`CallContext::extensions_mut`], read back
//! with `Request::extensions`), may reject it with a [`Status`], and hears
//! how it ended (code, duration, bytes). On the wire a rejection is what a
//! handler's early error is: a Trailers-Only response (PROTOCOL-HTTP2.md
//! "Responses": `Trailers-Only → HTTP-Status Content-Type Trailers`), and the
//! handler never runs.
//!
//! ```text
//!  server   route ─▶ [interceptor 1 … n].intercept(&mut ctx) ─▶ handler ─▶ trailers
//!                     └─ Err(status): Trailers-Only, handler skipped         │
//!                    [interceptor 1 … n].on_end(&CallEnd) ◀─────────────────┘
//!  client   call ─▶ [interceptor 1 … n].intercept(&mut ctx) ─▶ HEADERS … ─▶ status
//!                    [interceptor 1 … n].on_end(&ClientCallEnd) ◀─────────────┘
//! ```
//!
//! Interceptors run in the order they were added, server-wide ones before a
//! service's own. The traits are plain async traits: implement
//! `async fn intercept` (or nothing: every method has a default). A call
//! with no interceptors pays one branch.
//!
//! Shipped with the crate: [`BearerToken`] (server) and [`BearerCredentials`]
//! (client), [`TraceCalls`] (a `tracing` span per call), and, with the
//! `metrics` feature, `CallMetrics`.

mod auth;
mod chain;
#[cfg(feature = "metrics")]
mod metrics;
mod span;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

pub use auth::{BearerCredentials, BearerToken};
pub use chain::Interceptors;
pub(crate) use chain::{ClientChain, ServerChain};
#[cfg(feature = "metrics")]
pub use metrics::CallMetrics;
pub use span::TraceCalls;

use crate::transport::Peer;
use crate::wire::metadata::Metadata;
use crate::wire::path::MethodPath;
use crate::wire::status::{Code, Status};

/// Runs around every call a server (or one of its services) handles.
pub trait Interceptor: Send + Sync + 'static {
    /// Before the handler: read or change the call's metadata, attach
    /// extensions, or reject the call with `Err(status)` (the handler does
    /// not run; the client gets `status`). Runs under the call's deadline.
    fn intercept(&self, call: &mut CallContext) -> impl Future<Output = Result<(), Status>> + Send {
        let _ = call;
        async { Ok(()) }
    }

    /// A `tracing` span for the whole call: the handler, and every
    /// interceptor's `on_end`, run inside it. The first interceptor (in
    /// order) that returns one names the call's span.
    fn span(&self, call: &CallContext) -> Option<tracing::Span> {
        let _ = call;
        None
    }

    /// After the call has ended: also when an interceptor rejected it, and
    /// when its service refused it before any interceptor ran (an unknown
    /// method: `UNIMPLEMENTED`, or `Call::reject`).
    fn on_end(&self, end: &CallEnd<'_>) {
        let _ = end;
    }
}

/// Runs around every call a client channel makes.
pub trait ClientInterceptor: Send + Sync + 'static {
    /// Before the request head is sent: change its metadata or timeout, or
    /// fail the call with `Err(status)` (nothing is sent).
    fn intercept(
        &self,
        call: &mut ClientCallContext,
    ) -> impl Future<Output = Result<(), Status>> + Send {
        let _ = call;
        async { Ok(()) }
    }

    /// After the call has ended: a unary or client-streaming call when its
    /// reply (or error) is returned, a streaming response when it ends.
    fn on_end(&self, end: &ClientCallEnd<'_>) {
        let _ = end;
    }
}

/// A server call as its interceptors see it, before the handler runs.
pub struct CallContext {
    pub(crate) path: http::uri::PathAndQuery,
    pub(crate) metadata: Metadata,
    pub(crate) peer: Peer,
    pub(crate) deadline: Option<Instant>,
    pub(crate) extensions: http::Extensions,
}

impl CallContext {
    /// The method path, `/package.Service/Method`.
    pub fn path(&self) -> &str {
        self.path.path()
    }
    /// The service part of the path, `package.Service`.
    pub fn service(&self) -> &str {
        split_path(self.path()).0
    }
    /// The method part of the path, `Method`.
    pub fn method(&self) -> &str {
        split_path(self.path()).1
    }
    /// The request's custom metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }
    /// The request's custom metadata, to change before the handler sees it.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }
    /// Who called.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }
    /// When the call must be over (from `grpc-timeout`), if it has a deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
    /// Typed values handed to the handler (`Request::extensions`).
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }
    /// Typed values to hand to the handler, e.g. an authenticated identity.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }
}

impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallContext")
            .field("path", &self.path)
            .field("peer", &self.peer)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// How a server call ended, as its interceptors hear it.
#[derive(Debug)]
#[non_exhaustive]
pub struct CallEnd<'a> {
    /// The method path, `/package.Service/Method`.
    pub path: &'a str,
    /// Who called.
    pub peer: &'a Peer,
    /// The status code sent (`CANCELLED` when the client went away first).
    pub code: Code,
    /// From the routing of the request to the end of the call.
    pub elapsed: Duration,
    /// Response DATA bytes handed to h2 (5-byte prefixes included).
    pub sent_bytes: u64,
}

impl CallEnd<'_> {
    /// The service part of the path.
    pub fn service(&self) -> &str {
        split_path(self.path).0
    }
    /// The method part of the path.
    pub fn method(&self) -> &str {
        split_path(self.path).1
    }
}

/// A client call as its interceptors see it, before its head is sent.
pub struct ClientCallContext {
    pub(crate) path: MethodPath,
    pub(crate) metadata: Metadata,
    pub(crate) timeout: Option<Duration>,
}

impl ClientCallContext {
    /// The method path, `/package.Service/Method`.
    pub fn path(&self) -> &str {
        self.path.as_str()
    }
    /// The request's custom metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }
    /// The request's custom metadata, to add to (credentials, a request id).
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }
    /// The call's timeout (its own, else the channel's default).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
    /// Sets (or clears) the call's timeout.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }
}

impl fmt::Debug for ClientCallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCallContext")
            .field("path", &self.path)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// How a client call ended.
#[derive(Debug)]
#[non_exhaustive]
pub struct ClientCallEnd<'a> {
    /// The method path.
    pub path: &'a str,
    /// The call's status code (OK, or the error the caller got).
    pub code: Code,
    /// From the start of the call to its end.
    pub elapsed: Duration,
}

/// `/pkg.Service/Method` → (`pkg.Service`, `Method`); a path the router
/// accepted always has both parts.
fn split_path(path: &str) -> (&str, &str) {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    trimmed.rsplit_once('/').unwrap_or((trimmed, ""))
}

#[cfg(test)]
mod tests {
    use super::split_path;

    #[test]
    fn path_splits_into_service_and_method() {
        let path = "/ecommerce.OrderManagement/getOrder";
        assert_eq!(split_path(path), ("ecommerce.OrderManagement", "getOrder"));
        assert_eq!(split_path("/nomethod"), ("nomethod", ""));
    }
}
