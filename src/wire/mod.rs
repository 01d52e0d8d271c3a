//! The wire layer: everything gRPC puts on an HTTP/2 stream, as pure data.
//!
//! Nothing here does I/O, spawns, or knows about `h2` or `tokio`: each module
//! turns bytes or header maps into typed values and back, so it can be tested
//! byte by byte and fuzzed without a network. The `server` and `client`
//! modules are thin loops that move bytes between `h2` and these functions.
//!
//! | module | owns | spec |
//! |---|---|---|
//! | [`frame`] | the 5-byte length-prefixed message framing | PROTOCOL-HTTP2.md, "Length-Prefixed-Message" |
//! | [`status`] | `grpc-status`, `grpc-message`, trailers, HTTP/h2 → code maps | PROTOCOL-HTTP2.md "Responses", statuscodes.md, http-grpc-status-mapping.md |
//! | [`metadata`] | custom metadata, ASCII and `-bin` | PROTOCOL-HTTP2.md "Custom-Metadata" |
//! | [`timeout`] | `grpc-timeout` | PROTOCOL-HTTP2.md "Timeout" |
//! | [`head`] | request/response heads: `:path`, `content-type`, `te`, the checks of a response head | PROTOCOL-HTTP2.md "Requests", "Responses" |
//! | [`compression`] | `grpc-encoding`, `grpc-accept-encoding`, gzip, the per-message flag | compression.md |

pub mod compression;
pub mod frame;
pub mod head;
pub mod metadata;
pub mod path;
pub mod status;
pub mod timeout;
