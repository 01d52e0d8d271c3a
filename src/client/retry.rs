//! Retries (gRFC A6): sending a failed call again, when the service config
//! says so and it is safe.
//!
//! Layer: h2 glue, above the four call patterns' single attempt. One loop
//! serves unary and server-streaming calls, whose one request message is
//! encoded once and kept (a `Bytes`, shared, not copied) for replay:
//!
//! ```text
//!  attempt ──▶ response head ────────────────────────────────▶ committed: never retried
//!     │        (headers that are not Trailers-Only)
//!     ├──▶ Trailers-Only / stream error with a retryable code ─▶ retry, if attempts remain
//!     │        wait: grpc-retry-pushback-ms if the server sent it    and the throttle allows
//!     │              (negative or malformed: do not retry),
//!     │              else random(0, min(initialBackoff × multiplier^(n-1), maxBackoff))
//!     │        send `grpc-previous-rpc-attempts: n` on the new attempt
//!     └──▶ refused unseen (GOAWAY's last-stream-id below it) ──▶ transparent retry, at once,
//!                                                                 not counted against maxAttempts
//! ```
//!
//! The call's deadline spans all attempts (each attempt sends what is left
//! of it as `grpc-timeout`). Throttling (A6 "Throttling Retry Attempts"):
//! the channel holds `maxTokens` tokens; each attempt failing with a
//! retryable code takes one, each successful unary call gives back
//! `tokenRatio`; while tokens ≤ `maxTokens / 2` nothing is retried.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use super::Channel;
use super::backoff::{retry_delay, unit_random};
use super::service_config::{RetryPolicy, RetryThrottling};
use crate::codec::{Codec, encode_message};
use crate::request::Request;
use crate::streaming::status_from_h2;
use crate::trace::Side;
use crate::wire::compression::SendCompression;
use crate::wire::metadata::Metadata;
use crate::wire::path::MethodPath;
use crate::wire::status::{Code, Status};

/// The header naming how many attempts went before this one (A6).
pub(crate) const PREVIOUS_ATTEMPTS_HEADER: &str = "grpc-previous-rpc-attempts";

/// The trailer a server sets to say when (or whether) to retry (A6).
pub const PUSHBACK_HEADER: &str = "grpc-retry-pushback-ms";

/// How many times one call is sent again after a GOAWAY refused it unseen: a
/// server rotating connections fast can refuse the retry too, but a server
/// that refuses everything must still fail the call.
pub(super) const GOAWAY_RETRIES: usize = 3;

/// A stream h2 ended because the server's GOAWAY (NO_ERROR) said it was above
/// the last stream the server will process: the server never saw the call.
/// (h2 gives streams at or below the last id no GOAWAY error of their own for a
/// NO_ERROR GOAWAY; a connection that then breaks ends them as broken pipes.)
pub(super) fn refused_unprocessed(e: &h2::Error) -> bool {
    e.is_go_away() && e.is_remote() && e.reason() == Some(h2::Reason::NO_ERROR)
}

/// A6 retry throttling, in thousandths of a token (A6 keeps 3 decimals).
#[derive(Debug)]
pub(crate) struct Throttle {
    max: u64,
    ratio: u64,
    tokens: AtomicU64,
}

impl Throttle {
    pub(crate) fn new(config: RetryThrottling) -> Throttle {
        let max = u64::from(config.max_tokens) * 1000;
        Throttle {
            max,
            ratio: (config.token_ratio * 1000.0) as u64,
            tokens: AtomicU64::new(max),
        }
    }

    fn update(&self, f: impl Fn(u64) -> u64) {
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| Some(f(t)));
    }

    /// An attempt failed with a retryable code.
    pub(crate) fn on_failure(&self) {
        self.update(|t| t.saturating_sub(1000));
    }

    /// A call succeeded.
    pub(crate) fn on_success(&self) {
        self.update(|t| (t + self.ratio).min(self.max));
    }

    /// Whether retries are allowed now: more than half the tokens left.
    pub(crate) fn allows_retry(&self) -> bool {
        self.tokens.load(Ordering::Acquire) > self.max / 2
    }
}

/// `Request` option: wait for a ready connection (see
/// [`Request::set_wait_for_ready`]), kept in the request's extensions.
#[derive(Clone, Copy, Debug)]
struct WaitForReady(bool);

impl<T> Request<T> {
    /// Client: instead of failing fast with `UNAVAILABLE` when no
    /// connection is ready, the call waits (until its deadline) for one
    /// (grpc's `wait_for_ready`; a service config's `waitForReady` otherwise).
    pub fn set_wait_for_ready(&mut self, wait: bool) {
        self.extensions_mut().insert(WaitForReady(wait));
    }

    /// Client: the call's own `wait_for_ready` setting, if it made one.
    pub fn wait_for_ready(&self) -> Option<bool> {
        self.extensions().get::<WaitForReady>().map(|w| w.0)
    }
}

/// What the channel's service config and the request settle for one call.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct CallPolicy<'a> {
    pub(super) wait_for_ready: bool,
    pub(super) retry: Option<&'a RetryPolicy>,
}

/// How one attempt of a single-request call ended, short of a committed head.
enum AttemptError {
    /// The server never saw it (GOAWAY): send it again at once.
    Refused(h2::Error),
    /// It failed with this status: retry if the policy says so.
    Failed(Status),
    /// It cannot succeed by retrying (the request could not be encoded).
    Final(Status),
}

/// A retryable failure seen in a Trailers-Only head: its code and pushback.
pub(super) fn trailers_only_failure(
    response: &http::Response<h2::RecvStream>,
) -> Option<(Code, Option<i64>)> {
    if !response.body().is_end_stream() {
        return None;
    }
    let headers = response.headers();
    let code = Code::from_bytes(headers.get("grpc-status")?.as_bytes());
    if code == Code::Ok {
        return None;
    }
    Some((code, pushback(headers)))
}

/// `grpc-retry-pushback-ms`: `Some(ms)` if sent, negative for "do not retry"
/// (A6: a malformed value also means do not retry).
fn pushback(headers: &http::HeaderMap) -> Option<i64> {
    let value = headers.get(PUSHBACK_HEADER)?;
    let parsed = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok());
    Some(parsed.unwrap_or(-1))
}

impl Channel {
    /// The service config's settings for `path`, merged with the call's own:
    /// the shorter timeout wins, the call's wait_for_ready beats the config's.
    pub(super) fn call_policy(
        &self,
        path: &MethodPath,
        timeout: &mut Option<Duration>,
        wait_for_ready: Option<bool>,
    ) -> CallPolicy<'_> {
        let Some(method) = self
            .inner
            .methods
            .as_ref()
            .and_then(|m| m.lookup(path.as_str()))
        else {
            return CallPolicy {
                wait_for_ready: wait_for_ready.unwrap_or(false),
                retry: None,
            };
        };
        if let Some(max) = method.timeout {
            *timeout = Some(timeout.map_or(max, |t| t.min(max)));
        }
        CallPolicy {
            wait_for_ready: wait_for_ready.or(method.wait_for_ready).unwrap_or(false),
            retry: method.retry.as_ref(),
        }
    }

    /// Counts a finished call for the retry throttle.
    pub(super) fn throttle_result<T>(&self, result: &Result<T, Status>) {
        if let (Some(throttle), Ok(_)) = (&self.inner.throttle, result) {
            throttle.on_success();
        }
    }

    /// A6's decision once attempt number `attempts` failed with `code`: how
    /// long to wait before the next one, or `None` to give up (the code is
    /// not retryable, the throttle or the server's pushback says no, or no
    /// attempts are left). `backoff_n` counts the backoffs since the last
    /// pushback (A6: a pushback starts the backoff over).
    pub(super) fn retry_wait(
        &self,
        retry: &RetryPolicy,
        code: Code,
        pushed_back: Option<i64>,
        attempts: u32,
        backoff_n: &mut u32,
    ) -> Option<Duration> {
        if !retry.retries(code) {
            return None;
        }
        if let Some(throttle) = &self.inner.throttle {
            throttle.on_failure();
            if !throttle.allows_retry() {
                return None;
            }
        }
        if attempts >= retry.max_attempts {
            return None;
        }
        match pushed_back {
            Some(ms) if ms < 0 => None,
            Some(ms) => {
                *backoff_n = 0;
                Some(Duration::from_millis(ms.unsigned_abs()))
            }
            None => {
                *backoff_n += 1;
                Some(retry_delay(
                    retry.initial_backoff,
                    retry.max_backoff,
                    retry.backoff_multiplier,
                    *backoff_n,
                    unit_random(),
                ))
            }
        }
    }

    /// Unary and server streaming: sends the one request message and waits
    /// for the response head, retrying as the module doc says.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn exchange_single<C: Codec>(
        &self,
        path: &MethodPath,
        metadata: &Metadata,
        timeout: Option<Duration>,
        compression: &SendCompression,
        codec: &C,
        message: &C::Encode,
        policy: CallPolicy<'_>,
    ) -> Result<http::Response<h2::RecvStream>, Status> {
        let deadline = timeout.map(|t| Instant::now() + t);
        // The encoded request, kept for the attempts after the first.
        let mut frame: Option<Bytes> = None;
        let mut attempts: u32 = 0;
        let mut refused = 0;
        // A6: after a pushback the backoff starts over from initialBackoff.
        let mut backoff_n: u32 = 0;
        loop {
            // What is left of the deadline goes out as grpc-timeout.
            let timeout = match deadline {
                Some(d) if attempts > 0 => Some(d.saturating_duration_since(Instant::now())),
                _ => timeout,
            };
            let attempt = self.attempt_single(
                path,
                metadata,
                timeout,
                compression,
                codec,
                message,
                &mut frame,
                attempts,
                policy,
            );
            let (code, pushed_back, failure) = match attempt.await {
                Ok(response) => match trailers_only_failure(&response) {
                    Some((code, pushed)) if policy.retry.is_some() => (code, pushed, Ok(response)),
                    _ => return Ok(response),
                },
                Err(AttemptError::Refused(_)) if refused < GOAWAY_RETRIES => {
                    refused += 1;
                    continue;
                }
                Err(AttemptError::Refused(e)) => return Err(status_from_h2(&e)),
                Err(AttemptError::Final(status)) => return Err(status),
                Err(AttemptError::Failed(status)) if policy.retry.is_some() => {
                    (status.code(), None, Err(status))
                }
                Err(AttemptError::Failed(status)) => return Err(status),
            };
            attempts += 1;
            let Some(retry) = policy.retry else {
                return failure;
            };
            let Some(delay) = self.retry_wait(retry, code, pushed_back, attempts, &mut backoff_n)
            else {
                return failure;
            };
            tracing::debug!(target: "h2grpc::client", path = path.as_str(), ?code, attempts, ?delay, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt: opens the stream, sends the request message with
    /// END_STREAM, waits for the response head. The head goes first, so the
    /// wire order is the trace order.
    #[allow(clippy::too_many_arguments)]
    async fn attempt_single<C: Codec>(
        &self,
        path: &MethodPath,
        metadata: &Metadata,
        timeout: Option<Duration>,
        compression: &SendCompression,
        codec: &C,
        message: &C::Encode,
        frame: &mut Option<Bytes>,
        previous_attempts: u32,
        policy: CallPolicy<'_>,
    ) -> Result<http::Response<h2::RecvStream>, AttemptError> {
        // The encoded request is kept for replay only when a policy may retry.
        let keep = policy.retry.is_some();
        let started = self
            .start(
                path,
                metadata,
                timeout,
                compression.encoding,
                previous_attempts,
                policy.wait_for_ready,
            )
            .await
            .map_err(AttemptError::Failed)?;
        let (sub, response, mut send) = (started.sub, started.response, started.send);
        let data = match frame {
            Some(data) => data.clone(),
            // Without a retry policy nothing is kept: a transparent retry
            // (rare) encodes again, and the common call allocates nothing more.
            None if !keep => {
                let mut buf = BytesMut::new();
                encode_message(
                    codec,
                    message,
                    &mut buf,
                    self.inner.config.max_send_message_bytes,
                    compression.for_next_message(),
                    Side::Client,
                )
                .map_err(AttemptError::Final)?;
                buf.freeze()
            }
            None => {
                let mut buf = BytesMut::new();
                // On error `send` is dropped here and h2 resets the stream it opened.
                encode_message(
                    codec,
                    message,
                    &mut buf,
                    self.inner.config.max_send_message_bytes,
                    compression.for_next_message(),
                    Side::Client,
                )
                .map_err(AttemptError::Final)?;
                frame.insert(buf.freeze()).clone()
            }
        };
        // A failed send shows up as the response's error, which says more.
        let _ = send.send_data(data, true);
        match response.await {
            Ok(response) => Ok(response),
            Err(e) if refused_unprocessed(&e) => {
                sub.discard();
                Err(AttemptError::Refused(e))
            }
            Err(e) => Err(AttemptError::Failed(status_from_h2(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_follows_a6() {
        // maxTokens 10, tokenRatio 0.5: retries stop at 5 tokens or fewer.
        let t = Throttle::new(RetryThrottling::new(10, 0.5));
        assert!(t.allows_retry());
        for _ in 0..4 {
            t.on_failure();
        }
        assert!(t.allows_retry(), "6 tokens > 5");
        t.on_failure();
        assert!(!t.allows_retry(), "5 tokens is not more than half");
        t.on_success();
        assert!(t.allows_retry(), "5.5 tokens");
        for _ in 0..100 {
            t.on_success();
        }
        for _ in 0..4 {
            t.on_failure();
        }
        assert!(t.allows_retry(), "capped at 10, so 6 after 4 failures");
        for _ in 0..100 {
            t.on_failure();
        }
        assert!(!t.allows_retry(), "never below zero, still refusing");
    }

    #[test]
    fn pushback_values() {
        let mut h = http::HeaderMap::new();
        assert_eq!(pushback(&h), None);
        h.insert(PUSHBACK_HEADER, "250".parse().unwrap());
        assert_eq!(pushback(&h), Some(250));
        h.insert(PUSHBACK_HEADER, "-1".parse().unwrap());
        assert_eq!(pushback(&h), Some(-1));
        h.insert(PUSHBACK_HEADER, "soon".parse().unwrap());
        assert_eq!(pushback(&h), Some(-1), "malformed: do not retry");
    }
}
