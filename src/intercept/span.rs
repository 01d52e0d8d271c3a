//! A `tracing` span per server call: method, peer, status and duration, so
//! the logs a handler writes carry the call they belong to.

use tracing::field::Empty;

use super::{CallContext, CallEnd, Interceptor};

/// Wraps each call in a span `grpc` with the fields `service`, `method`,
/// `peer`, and, once it ends, `code` and `micros`; logs the end at DEBUG.
///
/// ```text
/// DEBUG grpc{service=ecommerce.OrderManagement method=getOrder peer=127.0.0.1:50312 code=OK micros=41}: call finished
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceCalls;

impl Interceptor for TraceCalls {
    fn span(&self, call: &CallContext) -> Option<tracing::Span> {
        let span = tracing::info_span!(
            target: "h2grpc::call",
            "grpc",
            service = call.service(),
            method = call.method(),
            peer = %call.peer(),
            code = Empty,
            micros = Empty,
        );
        // A disabled span is free to enter but records nothing: no span then.
        (!span.is_disabled()).then_some(span)
    }

    fn on_end(&self, end: &CallEnd<'_>) {
        // `on_end` runs inside the call's span.
        let span = tracing::Span::current();
        span.record("code", end.code.as_str());
        span.record("micros", end.elapsed.as_micros() as u64);
        tracing::debug!(target: "h2grpc::call", "call finished");
    }
}
