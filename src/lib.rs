//! # h2grpc: a gRPC runtime written by hand on `h2`
//!
//! h2grpc speaks gRPC over HTTP/2 with nothing between it and the `h2` crate:
//! no hyper, no tower, no tonic. It is small enough to read in an afternoon,
//! and it is meant to be read: each module explains the piece of the protocol
//! it owns and cites the spec (grpc/grpc `doc/PROTOCOL-HTTP2.md`, RFC 9113).
//!
//! ## Layers
//!
//! ```text
//!  your code        impl OrderManagement for MyService { async fn get_order(..) }   (generated trait)
//!                   OrderManagementClient::connect(..).get_order(..)               (generated client)
//!  ───────────────────────────────────────────────────────────────────────────────────────────────
//!  call patterns    server::Call  (unary / server / client / bidi streaming, one task per call)
//!                   client::Channel (the same four, multiplexed on one connection)
//!                   send handles: server::ResponseSink, client::{RequestSink, StreamingCall, ..}
//!                   Streaming<T> (receive side both ends share), Request / Response, codec::Codec
//!  ───────────────────────────────────────────────────────────────────────────────────────────────
//!  h2 glue          server::{connection, route, sink, respond}, client, flow (send under flow control)
//!  ───────────────────────────────────────────────────────────────────────────────────────────────
//!  wire (sans-IO)   frame · status · metadata · timeout · head · compression
//!                   pure functions and state machines over bytes and header maps
//! ```
//!
//! Dependencies point down only. Nothing in [`wire`] knows about sockets,
//! tasks or `h2`, which is why it can be tested byte by byte and fuzzed.
//!
//! ## Reading order for someone new to gRPC
//!
//! 1. [`wire::frame`]: every gRPC message is a 5-byte prefix and a payload.
//! 2. [`wire::head`]: a call is an HTTP/2 POST to `/package.Service/Method`.
//! 3. [`wire::status`]: it ends with `grpc-status` in the trailers.
//! 4. [`wire::metadata`], [`wire::timeout`], [`wire::compression`]: the headers around it.
//! 5. `server::call` and `client::call` (source): the four call patterns as loops over those
//!    pieces; `server::sink` and `client::handle`: how a stream of messages is sent, and when
//!    the response head goes out.
//! 6. The generated code for `proto/order_management.proto` (`h2grpc-build`), and
//!    `src/bin/order-server/service.rs`: what a user writes.
//!
//! ## Example: a client call
//!
//! Generated clients wrap [`client::Channel`]; underneath, a call is this:
//!
//! ```no_run
//! use h2grpc::{client::Channel, codec::ProstCodec, Request};
//!
//! # async fn demo() -> Result<(), h2grpc::Status> {
//! let channel = Channel::connect("http://127.0.0.1:50051").await?;
//! let mut request = Request::new("102".to_string()); // a google.protobuf.StringValue
//! request.set_timeout(std::time::Duration::from_secs(1));
//! let codec = ProstCodec::<String, String>::default();
//! // The path names the service and method; the codec says how to encode them.
//! let response = channel.unary("/ecommerce.OrderManagement/addOrder", request, codec).await;
//! # let _ = response;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![deny(rustdoc::broken_intra_doc_links)]

// Generated code names the runtime `::h2grpc::…`; this lets the library
// include generated modules of its own (health, reflection, error details).
extern crate self as h2grpc;

pub mod client;
pub mod codec;
#[cfg(feature = "details")]
pub mod details;
#[cfg(feature = "health")]
pub mod health;
pub mod intercept;
mod keepalive;
pub use wire::compression;
mod flow;
#[cfg(feature = "reflection")]
pub mod reflection;
mod request;
pub mod server;
mod streaming;
pub mod trace;
pub mod transport;
pub mod wire;

pub use request::{IntoRequest, IntoStreamingRequest, Request, Response};
pub use streaming::Streaming;
pub use wire::metadata::Metadata;
pub use wire::status::{Code, Status};

/// A boxed stream of messages, handy as a handler's response stream type.
pub type BoxStream<T> =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// A boxed stream of request messages: what a generated client trait's
/// client-streaming and bidi methods take (`<Service>Api::<rpc>_stream`), so a
/// mock of the trait and the real client share one signature.
pub type RequestStream<T> = futures::stream::BoxStream<'static, T>;

/// Includes the code `h2grpc-build` generated for one proto package (from
/// `OUT_DIR/<package>.rs`; files with no package are `"_"`), like tonic's:
///
/// ```ignore
/// pub mod ecommerce {
///     h2grpc::include_proto!("ecommerce");
/// }
/// ```
#[macro_export]
macro_rules! include_proto {
    ($package:tt) => {
        include!(concat!(env!("OUT_DIR"), "/", $package, ".rs"));
    };
}

/// Names the generated code uses; not for direct use.
#[doc(hidden)]
pub mod codegen {
    pub use futures::Stream;
    pub use futures::future::BoxFuture;
    pub use std::future::Future;
    pub use std::sync::Arc;
}
