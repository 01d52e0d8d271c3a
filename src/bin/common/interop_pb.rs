//! Generated code for the standard interop service (`proto/grpc/testing/*.proto`),
//! shared by `interop-server` and `interop-client`.

/// `grpc.testing`: the messages, `TestService` and `UnimplementedService`
/// (server traits and clients).
#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
pub mod grpc_testing {
    include!(concat!(env!("OUT_DIR"), "/grpc.testing.rs"));
}
