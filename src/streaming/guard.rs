//! The client's request pump, as a call's receive side holds it.
//!
//! Layer: h2 glue. A stream-style bidi call sends its requests from a task
//! of its own; the call's [`Streaming`](super::Streaming) keeps that task
//! alive (and aborts it when dropped), and reports the pump's own failure
//! (a request over the send limit) instead of the reset it caused.

use crate::wire::status::Status;

/// Aborts a spawned task when dropped (the client's request pump).
#[derive(Debug)]
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where a client's request pump leaves a status that ended the call on our
/// side (a request over the send limit): it, not the reset it caused, is
/// what the call's receive side reports.
pub(crate) type Failure = std::sync::Arc<std::sync::Mutex<Option<Status>>>;

/// The request pump of a stream-style bidi call: aborted with the stream.
#[derive(Debug)]
pub(crate) struct PumpGuard {
    /// Held for its `Drop`.
    pub(crate) _task: AbortOnDrop,
    pub(crate) failure: Failure,
}

impl PumpGuard {
    pub(super) fn failure(&self) -> Option<Status> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}
