//! Helpers shared by the integration tests (`mod common;` in each `tests/*.rs`).
//!
//! - [`python`]: the Python grpcio peer (a venv under `target/tmp`, installed on first use)
//!   and the child-process plumbing the foreign-peer tests use: spawn, wait for the
//!   "listening on" line, run with a deadline, kill on drop.
//! - [`node`]: the Node grpc-js peer (an `npm ci` under `target/tmp`, installed on first use).
//! - [`fleet`]: a fleet of order-server processes (spawn, count served calls, signal).
//! - [`go`]: grpc-go 1.33's interop server and client, built from Debian packages under
//!   `target/tmp` on first use (apt, `apt-get source`, an offline GOPATH `go build`).
//! - [`nginx`]: Debian's nginx as a gRPC proxy (`grpc_pass`) in front of a fleet of
//!   backends, unpacked under `target/tmp` on first use, run from a temporary prefix.
//! - [`tonic`]: tonic 0.14's generated client (tests/peers/tonic-client), built under
//!   `target/tmp` on first use.
//! - [`interop`]: the interop matrix: run one client against one server, check each case,
//!   render the table of every pair (`H2GRPC_WRITE_MATRIX`).
//! - [`postgres`]: a throwaway PostgreSQL server (Debian's package, installed on first
//!   use) for the order-server store tests.
//! - [`tls`]: a temporary directory of PEM files (certificates made at test time) for the
//!   TLS peer tests.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod fleet;
pub mod go;
pub mod interop;
pub mod nginx;
pub mod node;
pub mod postgres;
pub mod python;
pub mod tls;
pub mod tonic;
