//! Call metrics through the `metrics` facade: whatever recorder the
//! application installs (Prometheus, StatsD, …) receives them. The names and
//! labels are go-grpc-prometheus's, which dashboards for gRPC expect.
//!
//! - `grpc_server_started_total{grpc_service, grpc_method}`: calls routed.
//! - `grpc_server_handled_total{grpc_service, grpc_method, grpc_code}`: calls
//!   ended, by status code (`OK`, `NOT_FOUND`, …).
//! - `grpc_server_handling_seconds{grpc_service, grpc_method}`: a histogram
//!   of call durations.

use super::{CallContext, CallEnd, Interceptor};
use crate::wire::status::Status;

/// Counts calls and their latency by method and status code.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallMetrics;

impl Interceptor for CallMetrics {
    async fn intercept(&self, call: &mut CallContext) -> Result<(), Status> {
        metrics::counter!(
            "grpc_server_started_total",
            "grpc_service" => call.service().to_owned(),
            "grpc_method" => call.method().to_owned(),
        )
        .increment(1);
        Ok(())
    }

    fn on_end(&self, end: &CallEnd<'_>) {
        let (service, method) = (end.service().to_owned(), end.method().to_owned());
        metrics::counter!(
            "grpc_server_handled_total",
            "grpc_service" => service.clone(),
            "grpc_method" => method.clone(),
            "grpc_code" => end.code.as_str(),
        )
        .increment(1);
        metrics::histogram!(
            "grpc_server_handling_seconds",
            "grpc_service" => service,
            "grpc_method" => method,
        )
        .record(end.elapsed.as_secs_f64());
    }
}
