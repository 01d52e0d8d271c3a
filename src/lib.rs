//! h2grpc: a gRPC runtime written by hand on `h2`.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod client;
pub mod codec;
pub use wire::compression;
mod flow;
mod request;
pub mod server;
mod streaming;
pub mod wire;

pub use request::{IntoRequest, IntoStreamingRequest, Request, Response};
pub use streaming::Streaming;
pub use wire::metadata::Metadata;
pub use wire::status::{Code, Status};

/// A boxed stream of messages, handy as a handler's response stream type.
pub type BoxStream<T> =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Re-exports the generated code names; not for direct use.
#[doc(hidden)]
pub mod codegen {
    pub use futures::Stream;
    pub use std::future::Future;
    pub use std::sync::Arc;
}
