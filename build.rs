//! Compiles the protos under `proto/` with our own code generator
//! (`h2grpc-build`: protox + prost-build, so no `protoc` is needed).
//!
//! - `order_management.proto`: the reference application (src/bin/order-*).
//! - `google/rpc/*.proto`: the rich error model the order service uses.
//! - `h2grpc/test.proto`: the service the end-to-end tests drive.
//! - `grpc/testing/*.proto`: the standard interop `TestService` (src/bin/interop-*).
//! - `grpc/health/v1/health.proto`: the standard health service (src/health, feature `health`).
//! - `grpc/reflection/{v1,v1alpha}/reflection.proto`: server reflection (src/reflection/).

fn main() -> std::io::Result<()> {
    h2grpc_build::compile_protos(
        &[
            "proto/order_management.proto",
            "proto/google/rpc/status.proto",
            "proto/google/rpc/error_details.proto",
            "proto/h2grpc/test.proto",
            "proto/grpc/testing/empty.proto",
            "proto/grpc/testing/messages.proto",
            "proto/grpc/testing/test.proto",
            "proto/grpc/health/v1/health.proto",
            "proto/grpc/reflection/v1/reflection.proto",
            "proto/grpc/reflection/v1alpha/reflection.proto",
        ],
        &["proto"],
    )
}
