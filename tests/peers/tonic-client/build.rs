//! Generates tonic's OrderManagement client (no server) from the repo's
//! `proto/order_management.proto`, the contract our order-server serves.
//! protox compiles it (wrappers.proto is built in), so no `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = "../../../proto";
    let file = format!("{proto_dir}/order_management.proto");
    println!("cargo:rerun-if-changed={file}");
    let fds = protox::compile([&file], [proto_dir])?;
    tonic_prost_build::configure()
        .build_server(false)
        .compile_fds(fds)?;
    Ok(())
}
