//! The library's own generated code (health, reflection, google.rpc) is
//! checked in under `src/generated/`, so a crate that depends on h2grpc
//! runs no code generator and pulls no protox or prost-build into its build.
//! This test regenerates it from `proto/` with `h2grpc-build` and fails if
//! what is checked in differs; `H2GRPC_BLESS=1 cargo test --test generated`
//! rewrites it.

use std::path::{Path, PathBuf};

/// The library's protos, grouped as the library includes them.
const PROTOS: &[&str] = &[
    "proto/grpc/health/v1/health.proto",
    "proto/grpc/reflection/v1/reflection.proto",
    "proto/grpc/reflection/v1alpha/reflection.proto",
    "proto/google/rpc/status.proto",
    "proto/google/rpc/error_details.proto",
];

/// What `src/generated/` must hold: each package's code and, for packages
/// with a service, its descriptor set.
const FILES: &[&str] = &[
    "grpc.health.v1.rs",
    "grpc.health.v1.fds.bin",
    "grpc.reflection.v1.rs",
    "grpc.reflection.v1.fds.bin",
    "grpc.reflection.v1alpha.rs",
    "grpc.reflection.v1alpha.fds.bin",
    "google.rpc.rs",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate(into: &Path) {
    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| root().join(p)).collect();
    h2grpc_build::configure()
        .out_dir(into)
        .emit_rerun_if_changed(false)
        .compile(&protos, &[root().join("proto")])
        .expect("generate the library's protos");
}

#[test]
fn checked_in_generated_code_is_current() {
    let fresh = root().join("target/tmp/generated-check");
    let _ = std::fs::remove_dir_all(&fresh);
    std::fs::create_dir_all(&fresh).unwrap();
    generate(&fresh);
    let checked_in = root().join("src/generated");
    let bless = std::env::var_os("H2GRPC_BLESS").is_some();
    let mut stale = Vec::new();
    for file in FILES {
        let new = std::fs::read(fresh.join(file))
            .unwrap_or_else(|e| panic!("the generator wrote no {file}: {e}"));
        let old = std::fs::read(checked_in.join(file)).unwrap_or_default();
        if new != old {
            if bless {
                std::fs::create_dir_all(&checked_in).unwrap();
                std::fs::write(checked_in.join(file), &new).unwrap();
            } else {
                stale.push(*file);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "src/generated/ is stale for {stale:?}: run `H2GRPC_BLESS=1 cargo test --test generated`"
    );
}
