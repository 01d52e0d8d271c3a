//! Empty on purpose: see `Cargo.toml`. This crate only turns on h2grpc's
//! `tools` feature for workspace builds.
