//! The standard health service, `grpc.health.v1.Health` (feature `health`).
//!
//! Layer: a service built on the generated code, like any user's; it needs
//! nothing from the runtime that a user could not write.
//!
//! Spec: grpc/grpc `doc/health-checking.md`, the comments of
//! `proto/grpc/health/v1/health.proto` (grpc/grpc-proto), and gRFC A90 for
//! `List`. Load balancers, Kubernetes' gRPC probes, `grpc_health_probe` and
//! clients doing client-side health checking (gRFC A17) all speak it.
//!
//! The server keeps a table from service name to serving status; the
//! application fills it in through a [`HealthReporter`]. The empty name `""`
//! stands for the whole server.
//!
//! ```text
//!  rpc      request name        answer
//!  ──────── ─────────────────── ──────────────────────────────────────────────────
//!  Check    registered          OK, { status: SERVING | NOT_SERVING | UNKNOWN }
//!           not registered      NOT_FOUND
//!  Watch    registered          its status at once, then one message per change
//!           not registered      SERVICE_UNKNOWN at once; the call stays open, and
//!                               sends the real status if the name is registered later
//!  List     (none)              every registered name and its status (at most
//!                               100, else RESOURCE_EXHAUSTED, as A90 sets the limit)
//! ```
//!
//! Watch sends a message for every *change*: setting the status a service
//! already has sends nothing. Each name has its own `tokio::sync::watch`
//! channel (`registry.rs`), so a watcher that reads slowly never blocks the
//! reporter: it skips the values it missed and sends the latest one.
//!
//! # Shutdown
//!
//! A server that is shutting down should say so before it stops
//! answering (health-checking.md: a server "may choose to reply unhealthy
//! because it is ... shutting down"), so that balancers move traffic away
//! while in-flight calls finish. [`HealthReporter::not_serving_on`] wraps
//! the shutdown future given to the server: when it fires, every registered
//! service turns `NOT_SERVING` and later changes are ignored (as grpc-go's
//! `Shutdown` and grpcio's `enter_graceful_shutdown` do); only then does the
//! server send GOAWAY and drain. Each open Watch sends its `NOT_SERVING` and
//! then ends with `UNAVAILABLE`: a Watch never ends on its own, and open ones
//! would otherwise hold the drain for the whole grace period. The proto asks
//! clients to retry a Watch that ends with any code but `UNIMPLEMENTED`; after
//! the server's GOAWAY that retry can only go to another connection.
//!
//! # Example
//!
//! ```no_run
//! use h2grpc::health::health_reporter;
//! use h2grpc::server::Server;
//!
//! # async fn demo(listener: tokio::net::TcpListener) -> std::io::Result<()> {
//! let (reporter, health) = health_reporter(); // "" is SERVING from the start
//! reporter.set_serving("ecommerce.OrderManagement");
//! let shutdown = async {
//!     let _ = tokio::signal::ctrl_c().await;
//! };
//! Server::builder()
//!     .add_service(health)
//!     .serve_with_listener(listener, reporter.not_serving_on(shutdown))
//!     .await
//! # }
//! ```
//!
//! The generated messages, server and client are in [`pb`]; a client checks
//! a server with `pb::health_client::HealthClient`.

mod registry;
mod service;

pub use registry::HealthReporter;
pub use service::{HealthService, MAX_LIST_SERVICES};

/// The code `h2grpc-build` generates for `grpc/health/v1/health.proto`:
/// the messages, `health_server::{Health, HealthServer}` and
/// `health_client::HealthClient`.
#[allow(missing_docs)] // Generated: the proto documents the service, not every message.
pub mod pb {
    include!("../generated/grpc.health.v1.rs");
}

/// The full name of the health service itself, `"grpc.health.v1.Health"`.
pub const SERVICE_NAME: &str = pb::health_server::SERVICE_NAME;

/// The status a [`HealthReporter`] sets for a service.
///
/// The wire enum (`pb::health_check_response::ServingStatus`) has a fourth
/// value, `SERVICE_UNKNOWN`, which only Watch sends, for a name that is not
/// registered: it is what [`HealthReporter::clear`] leads to, not a status
/// one sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServingStatus {
    /// The status is not known yet (the wire's `UNKNOWN`, 0).
    Unknown,
    /// The service is ready for calls (`SERVING`, 1).
    Serving,
    /// The service is up but must not be sent calls (`NOT_SERVING`, 2).
    NotServing,
}

impl ServingStatus {
    /// The wire enum value.
    pub fn to_wire(self) -> pb::health_check_response::ServingStatus {
        use pb::health_check_response::ServingStatus as Wire;
        match self {
            ServingStatus::Unknown => Wire::Unknown,
            ServingStatus::Serving => Wire::Serving,
            ServingStatus::NotServing => Wire::NotServing,
        }
    }
}

/// A new status table with `""` (the whole server) `SERVING`, the handle
/// that changes it, and the service that answers from it, to pass to
/// [`Builder::add_service`](crate::server::Builder::add_service).
///
/// `""` starts `SERVING`, as it does in grpc-go, grpcio and tonic-health:
/// a server that is answering calls is healthy until the application says
/// otherwise. Every other name is unknown until it is set.
pub fn health_reporter() -> (
    HealthReporter,
    pb::health_server::HealthServer<HealthService>,
) {
    let reporter = HealthReporter::with_server_serving();
    let service = reporter.service();
    (reporter, service)
}
