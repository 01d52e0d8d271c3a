//! Generates the tonic server and client for the same protos h2grpc's order
//! server uses (repo root `proto/`): the OrderManagement contract and the
//! `google.rpc` rich error model. protox compiles them, so no `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = "../../../proto";
    let files = [
        format!("{proto_dir}/order_management.proto"),
        format!("{proto_dir}/google/rpc/status.proto"),
        format!("{proto_dir}/google/rpc/error_details.proto"),
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={file}");
    }
    let fds = protox::compile(&files, [proto_dir])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
