//! h2grpc: a gRPC runtime written by hand on `h2`.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod wire;
