//! [`HealthService`]: the three rpcs of `grpc.health.v1.Health`, answered
//! from the status table (`registry.rs`).
//!
//! Layer: a generated-trait implementation, as a user writes one.
//! Spec: doc/health-checking.md (Check, Watch), gRFC A90 (List).

use std::fmt;
use std::sync::Arc;

use super::ServingStatus;
use super::pb::health_check_response::ServingStatus as WireStatus;
use super::pb::health_server::Health;
use super::pb::{HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse};
use super::registry::Registry;
use crate::server::ResponseSink;
use crate::{Request, Response, Status};

/// Most services List reports; more is `RESOURCE_EXHAUSTED`. gRFC A90 sets
/// the limit, so that a dashboard polling List gets a bounded answer.
pub const MAX_LIST_SERVICES: usize = 100;

/// Answers `grpc.health.v1.Health` from a [`HealthReporter`](super::HealthReporter)'s
/// table; made by [`health_reporter`](super::health_reporter) or
/// [`HealthReporter::service`](super::HealthReporter::service).
pub struct HealthService {
    registry: Arc<Registry>,
}

impl fmt::Debug for HealthService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthService").finish_non_exhaustive()
    }
}

impl HealthService {
    pub(super) fn new(registry: Arc<Registry>) -> HealthService {
        HealthService { registry }
    }
}

fn response(status: WireStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

impl Health for HealthService {
    /// A registered name's status; `NOT_FOUND` for any other
    /// (health-checking.md: "If the service name is not registered, the
    /// server returns a NOT_FOUND GRPC status").
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        match self.registry.status(&request.get_ref().service) {
            Some(status) => Ok(Response::new(response(status.to_wire()))),
            None => Err(Status::not_found("unknown service")),
        }
    }

    /// Every registered name (A90), or `RESOURCE_EXHAUSTED` past
    /// [`MAX_LIST_SERVICES`].
    async fn list(
        &self,
        _request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        let services = self.registry.snapshot();
        if services.len() > MAX_LIST_SERVICES {
            return Err(Status::resource_exhausted(format!(
                "{} services registered, List reports at most {MAX_LIST_SERVICES}",
                services.len()
            )));
        }
        let statuses = services
            .into_iter()
            .map(|(name, status)| (name, response(status.to_wire())))
            .collect();
        Ok(Response::new(HealthListResponse { statuses }))
    }

    /// The current status at once (`SERVICE_UNKNOWN` for a name not
    /// registered), then one message per change, until the client goes
    /// away or the server shuts down.
    ///
    /// ```text
    ///   ┌─▶ read the entry ─▶ differs from the last message sent? ─▶ send it
    ///   │                                 │
    ///   │                     closing? ──yes──▶ end with UNAVAILABLE
    ///   └──── wait for a change ◀───no────┘
    /// ```
    ///
    /// Changes that come while a send waits on flow control are not queued:
    /// the next read sees only the latest, and a status that changed and
    /// changed back sends nothing.
    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
        mut sink: ResponseSink<HealthCheckResponse>,
    ) -> Result<(), Status> {
        let mut subscription = self.registry.subscribe(&request.get_ref().service);
        let mut sent = None;
        loop {
            let entry = subscription.current();
            let status = entry
                .status
                .map_or(WireStatus::ServiceUnknown, ServingStatus::to_wire);
            if sent != Some(status) {
                sink.send(&response(status)).await?;
                sent = Some(status);
            }
            if entry.closing || !subscription.changed().await {
                return Err(Status::unavailable("server is shutting down"));
            }
        }
    }
}
