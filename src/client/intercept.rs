//! Running a channel's interceptors around one call (see `crate::intercept`).

use std::time::{Duration, Instant};

use super::Channel;
use crate::intercept::{ClientCallContext, ClientCallEnd, ClientChain};
use crate::streaming::OnEnd;
use crate::wire::metadata::Metadata;
use crate::wire::path::MethodPath;
use crate::wire::status::{Code, Status};

/// What a call with interceptors keeps to tell them how it ended.
pub(super) struct EndHook {
    chain: ClientChain,
    path: MethodPath,
    started: Instant,
}

impl EndHook {
    pub(super) fn report(self, code: Code) {
        self.chain.on_end(&ClientCallEnd {
            path: self.path.as_str(),
            code,
            elapsed: self.started.elapsed(),
        });
    }

    /// The report, deferred to when a streaming response ends.
    pub(super) fn into_on_end(self) -> OnEnd {
        Box::new(move |code| self.report(code))
    }

    /// Reports a finished call's result, and hands it on.
    pub(super) fn report_result<T>(
        hook: Option<EndHook>,
        result: Result<T, Status>,
    ) -> Result<T, Status> {
        if let Some(hook) = hook {
            hook.report(result.as_ref().map_or_else(Status::code, |_| Code::Ok));
        }
        result
    }
}

impl Channel {
    /// Runs the interceptors on a call about to start: they may change its
    /// metadata and timeout, or fail it (then nothing is sent).
    pub(super) async fn intercept(
        &self,
        path: &MethodPath,
        metadata: Metadata,
        timeout: Option<Duration>,
    ) -> Result<(Metadata, Option<Duration>, Option<EndHook>), Status> {
        let chain = &self.inner.config.interceptors;
        if chain.is_empty() {
            return Ok((metadata, timeout, None));
        }
        let hook = EndHook {
            chain: chain.clone(),
            path: path.clone(),
            started: Instant::now(),
        };
        let mut call = ClientCallContext {
            path: path.clone(),
            metadata,
            timeout,
        };
        match chain.intercept(&mut call).await {
            Ok(()) => Ok((call.metadata, call.timeout, Some(hook))),
            Err(status) => {
                hook.report(status.code());
                Err(status)
            }
        }
    }
}
