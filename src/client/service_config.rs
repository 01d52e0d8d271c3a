//! Service config: per-method timeouts, `waitForReady` and retry policies, the
//! retry throttle and the load-balancing policy (grpc `doc/service_config.md`,
//! gRFC A6 "Retry Policy", `doc/load-balancing.md`).
//!
//! Layer: plain values, no I/O. Built in code ([`ServiceConfig::new`] and its
//! builders) or, with the `service-config` feature, read from the JSON every
//! gRPC implementation takes (`ServiceConfig::from_json`):
//!
//! ```json
//! { "loadBalancingConfig": [{ "round_robin": {} }],
//!   "methodConfig": [{
//!     "name": [{ "service": "ecommerce.OrderManagement", "method": "getOrder" }],
//!     "timeout": "2s", "waitForReady": true,
//!     "retryPolicy": { "maxAttempts": 4, "initialBackoff": "0.1s", "maxBackoff": "1s",
//!                      "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"] } }],
//!   "retryThrottling": { "maxTokens": 10, "tokenRatio": 0.1 } }
//! ```
//!
//! A method's config is the first whose name matches `service/method`, else
//! one naming the service alone, else one with an empty name (service_config.md).

use std::collections::HashMap;
use std::time::Duration;

use crate::wire::status::Code;

/// A6: "maxAttempts … values greater than 5 are treated as 5".
pub const MAX_ATTEMPTS_CAP: u32 = 5;

/// How a channel spreads calls over its endpoints (doc/load-balancing.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LbPolicy {
    /// Use the first endpoint that connects, in order; move on only when it fails.
    #[default]
    PickFirst,
    /// Keep a connection to every endpoint and take them in turn, skipping
    /// those not ready.
    RoundRobin,
}

/// gRFC A6 `retryPolicy`.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) backoff_multiplier: f64,
    pub(crate) retryable: Vec<Code>,
}

impl RetryPolicy {
    /// Up to `max_attempts` attempts in all (2 to 5; more is taken as 5),
    /// retrying `retryable` codes; backoff 0.1 s ×2 up to 1 s until set.
    pub fn new(max_attempts: u32, retryable: &[Code]) -> RetryPolicy {
        RetryPolicy {
            max_attempts: max_attempts.clamp(1, MAX_ATTEMPTS_CAP),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            backoff_multiplier: 2.0,
            retryable: retryable.to_vec(),
        }
    }
    /// The first retry waits up to this long (a random fraction of it).
    pub fn initial_backoff(mut self, backoff: Duration) -> RetryPolicy {
        self.initial_backoff = backoff;
        self
    }
    /// No retry waits longer than this.
    pub fn max_backoff(mut self, backoff: Duration) -> RetryPolicy {
        self.max_backoff = backoff;
        self
    }
    /// Each retry's ceiling is the previous one's times this.
    pub fn backoff_multiplier(mut self, multiplier: f64) -> RetryPolicy {
        self.backoff_multiplier = multiplier;
        self
    }
    pub(crate) fn retries(&self, code: Code) -> bool {
        self.retryable.contains(&code)
    }
}

/// Which methods a [`MethodConfig`] applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MethodName {
    /// `None`: every service (the default config).
    service: Option<String>,
    /// `None`: every method of the service.
    method: Option<String>,
}

/// The settings of some methods.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MethodConfig {
    names: Vec<MethodName>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) wait_for_ready: Option<bool>,
    pub(crate) retry: Option<RetryPolicy>,
}

impl MethodConfig {
    /// Settings applying to no method until named.
    pub fn new() -> MethodConfig {
        MethodConfig::default()
    }
    /// Applies to `service` (e.g. `"ecommerce.OrderManagement"`) and, if
    /// given, only its `method`.
    pub fn name(mut self, service: &str, method: Option<&str>) -> MethodConfig {
        self.names.push(MethodName {
            service: Some(service.to_owned()),
            method: method.map(str::to_owned),
        });
        self
    }
    /// Applies to every method no other config names.
    pub fn default_for_all(mut self) -> MethodConfig {
        self.names.push(MethodName {
            service: None,
            method: None,
        });
        self
    }
    /// The longest a call may take (a call's own shorter timeout wins).
    pub fn timeout(mut self, timeout: Duration) -> MethodConfig {
        self.timeout = Some(timeout);
        self
    }
    /// Calls wait for a ready connection instead of failing fast.
    pub fn wait_for_ready(mut self, wait: bool) -> MethodConfig {
        self.wait_for_ready = Some(wait);
        self
    }
    /// Retries failed attempts (gRFC A6).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> MethodConfig {
        self.retry = Some(policy);
        self
    }
}

/// gRFC A6 `retryThrottling`: retries stop while too many calls fail.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryThrottling {
    pub(crate) max_tokens: u32,
    pub(crate) token_ratio: f64,
}

impl RetryThrottling {
    /// `max_tokens` in 1..=1000; each failure costs a token, each success
    /// earns `token_ratio`; retries need more than half the tokens.
    pub fn new(max_tokens: u32, token_ratio: f64) -> RetryThrottling {
        RetryThrottling {
            max_tokens: max_tokens.clamp(1, 1000),
            token_ratio: token_ratio.max(0.0),
        }
    }
}

/// A channel's service config.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceConfig {
    pub(crate) lb_policy: Option<LbPolicy>,
    methods: Vec<MethodConfig>,
    pub(crate) throttling: Option<RetryThrottling>,
}

impl ServiceConfig {
    /// An empty config: pick_first, no retries.
    pub fn new() -> ServiceConfig {
        ServiceConfig::default()
    }
    /// The load-balancing policy.
    pub fn lb_policy(mut self, policy: LbPolicy) -> ServiceConfig {
        self.lb_policy = Some(policy);
        self
    }
    /// Adds a method config (earlier ones win for a name given twice).
    pub fn method(mut self, method: MethodConfig) -> ServiceConfig {
        self.methods.push(method);
        self
    }
    /// The retry throttle.
    pub fn retry_throttling(mut self, throttling: RetryThrottling) -> ServiceConfig {
        self.throttling = Some(throttling);
        self
    }
}

/// A service config indexed for the per-call look-up.
#[derive(Debug, Default)]
pub(crate) struct MethodTable {
    methods: Vec<MethodConfig>,
    /// `"service/method"` and `"service/"` to an index into `methods`.
    by_name: HashMap<String, usize>,
    default: Option<usize>,
}

impl MethodTable {
    pub(crate) fn new(config: &ServiceConfig) -> MethodTable {
        let mut table = MethodTable {
            methods: config.methods.clone(),
            ..MethodTable::default()
        };
        for (i, method) in config.methods.iter().enumerate() {
            for name in &method.names {
                match (&name.service, &name.method) {
                    (None, _) => {
                        table.default.get_or_insert(i);
                    }
                    (Some(s), m) => {
                        let key = format!("{s}/{}", m.as_deref().unwrap_or(""));
                        table.by_name.entry(key).or_insert(i);
                    }
                }
            }
        }
        table
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.methods.is_empty()
    }

    /// The config for `path` (`/service/method`).
    pub(crate) fn lookup(&self, path: &str) -> Option<&MethodConfig> {
        let path = path.strip_prefix('/').unwrap_or(path);
        let exact = self.by_name.get(path);
        let service = || {
            let (service, _) = path.split_once('/')?;
            self.by_name.get(&format!("{service}/"))
        };
        let i = exact
            .copied()
            .or_else(|| service().copied())
            .or(self.default)?;
        self.methods.get(i)
    }
}

#[cfg(feature = "service-config")]
mod json;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_prefers_method_then_service_then_default() {
        let config = ServiceConfig::new()
            .method(MethodConfig::new().default_for_all().wait_for_ready(true))
            .method(
                MethodConfig::new()
                    .name("pkg.Svc", None)
                    .timeout(Duration::from_secs(2)),
            )
            .method(
                MethodConfig::new()
                    .name("pkg.Svc", Some("Get"))
                    .timeout(Duration::from_secs(1)),
            );
        let table = MethodTable::new(&config);
        let timeout = |p: &str| table.lookup(p).and_then(|m| m.timeout);
        assert_eq!(timeout("/pkg.Svc/Get"), Some(Duration::from_secs(1)));
        assert_eq!(timeout("/pkg.Svc/Put"), Some(Duration::from_secs(2)));
        assert_eq!(timeout("/other.Svc/Put"), None);
        assert_eq!(
            table
                .lookup("/other.Svc/Put")
                .and_then(|m| m.wait_for_ready),
            Some(true)
        );
        assert!(
            MethodTable::new(&ServiceConfig::new())
                .lookup("/a/b")
                .is_none()
        );
    }

    #[test]
    fn retry_policy_caps_attempts() {
        assert_eq!(RetryPolicy::new(9, &[Code::Unavailable]).max_attempts, 5);
        assert!(RetryPolicy::new(3, &[Code::Unavailable]).retries(Code::Unavailable));
        assert!(!RetryPolicy::new(3, &[Code::Unavailable]).retries(Code::Internal));
    }
}
