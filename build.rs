//! Compiles the protos of the binaries, tests and examples with our own code
//! generator (`h2grpc-build`: protox + prost-build, so no `protoc` is
//! needed), when the `tools` feature is on (always inside this workspace,
//! see dev/Cargo.toml). A crate that depends on h2grpc runs nothing here:
//! the library's own generated code (health, reflection, google.rpc) is
//! checked in under `src/generated/`, kept current by `tests/generated.rs`.
//!
//! - `order_management.proto`: the reference application (src/bin/order-*).
//! - `h2grpc/test.proto`: the service the end-to-end tests drive.
//! - `grpc/testing/*.proto`: the standard interop `TestService` (src/bin/interop-*).

fn main() -> std::io::Result<()> {
    #[cfg(feature = "tools")]
    h2grpc_build::compile_protos(
        &[
            "proto/order_management.proto",
            "proto/h2grpc/test.proto",
            "proto/grpc/testing/empty.proto",
            "proto/grpc/testing/messages.proto",
            "proto/grpc/testing/test.proto",
        ],
        &["proto"],
    )?;
    Ok(())
}
