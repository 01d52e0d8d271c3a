//! The compression features of the interop server (CompressedRequest,
//! CompressedResponse, per-message compression), behind one seam.
//!
//! This build has no compression API yet, so every request reaching a
//! handler was sent uncompressed (the runtime refuses compressed ones) and
//! every response goes out uncompressed.

use h2grpc::{Request, Response, Streaming};

/// Whether the unary request message arrived compressed.
pub fn request_compressed<T>(_request: &Request<T>) -> bool {
    false
}

/// Whether the streamed request message just read arrived compressed.
pub fn last_message_compressed<T>(_stream: &Streaming<T>) -> bool {
    false
}

/// Asks for the response message to be compressed (or not).
pub fn compress_response<T>(_response: &mut Response<T>, _compress: bool) {}

/// Per-message compression of a response stream: `attach` it to the response
/// before the stream runs, then `set` before each message.
#[derive(Debug, Clone, Default)]
pub struct Toggle;

impl Toggle {
    pub fn new() -> Toggle {
        Toggle
    }
    pub fn attach<S>(&self, _response: &mut Response<S>) {}
    pub fn set(&self, _compress: bool) {}
}
