//! Reading a service config from its JSON form (grpc `doc/service_config.md`,
//! the `grpc.service_config.ServiceConfig` proto in its JSON mapping; gRFC A6
//! for `retryPolicy` and `retryThrottling` and what makes them invalid).
//!
//! Parsed with `serde_json` into a `Value` and read field by field, so each
//! error names the field it is about (`methodConfig[0].retryPolicy.maxAttempts`).
//! An invalid config is refused whole, as the other implementations do.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{LbPolicy, MethodConfig, MethodName, RetryPolicy, RetryThrottling, ServiceConfig};
use crate::wire::status::{Code, Status};

impl ServiceConfig {
    /// Reads a service config in grpc's JSON form. `INVALID_ARGUMENT` naming
    /// the field for a config that is not valid JSON or breaks a rule of
    /// service_config.md or gRFC A6.
    pub fn from_json(json: &str) -> Result<ServiceConfig, Status> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| Status::invalid_argument(format!("service config: not JSON: {e}")))?;
        parse(&value).map_err(|e| Status::invalid_argument(format!("service config: {e}")))
    }
}

/// Why a config was refused: the field path and the rule.
type Invalid = String;

fn parse(value: &Value) -> Result<ServiceConfig, Invalid> {
    let root = object(value, "the config")?;
    let mut config = ServiceConfig::new();
    if let Some(list) = root.get("loadBalancingConfig") {
        config.lb_policy = Some(lb_config(list)?);
    } else if let Some(name) = root.get("loadBalancingPolicy") {
        // The deprecated field: "ROUND_ROBIN" or "round_robin".
        let name = name
            .as_str()
            .ok_or("loadBalancingPolicy: must be a string")?;
        config.lb_policy = Some(
            lb_name(&name.to_ascii_lowercase())
                .ok_or_else(|| format!("loadBalancingPolicy: unknown policy {name:?}"))?,
        );
    }
    if let Some(methods) = root.get("methodConfig") {
        let methods = methods.as_array().ok_or("methodConfig: must be an array")?;
        for (i, method) in methods.iter().enumerate() {
            config
                .methods
                .push(method_config(method, &format!("methodConfig[{i}]"))?);
        }
    }
    if let Some(throttling) = root.get("retryThrottling") {
        config.throttling = Some(retry_throttling(throttling)?);
    }
    Ok(config)
}

fn lb_name(name: &str) -> Option<LbPolicy> {
    match name {
        "pick_first" => Some(LbPolicy::PickFirst),
        "round_robin" => Some(LbPolicy::RoundRobin),
        _ => None,
    }
}

/// `loadBalancingConfig`: a list of `{ "<policy>": {...} }`; the first one
/// this implementation knows is used.
fn lb_config(list: &Value) -> Result<LbPolicy, Invalid> {
    let list = list
        .as_array()
        .ok_or("loadBalancingConfig: must be an array")?;
    for (i, entry) in list.iter().enumerate() {
        let entry = object(entry, &format!("loadBalancingConfig[{i}]"))?;
        if entry.len() != 1 {
            return Err(format!(
                "loadBalancingConfig[{i}]: must have exactly one policy name"
            ));
        }
        if let Some(policy) = entry.keys().find_map(|k| lb_name(k)) {
            return Ok(policy);
        }
    }
    Err("loadBalancingConfig: no supported policy (pick_first, round_robin)".into())
}

fn method_config(value: &Value, at: &str) -> Result<MethodConfig, Invalid> {
    let fields = object(value, at)?;
    let mut method = MethodConfig::new();
    if let Some(names) = fields.get("name") {
        let names = names
            .as_array()
            .ok_or_else(|| format!("{at}.name: must be an array"))?;
        for (i, name) in names.iter().enumerate() {
            let at = format!("{at}.name[{i}]");
            let name = object(name, &at)?;
            let text = |key: &str| -> Result<Option<String>, Invalid> {
                match name.get(key) {
                    None => Ok(None),
                    Some(Value::String(s)) if s.is_empty() => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(format!("{at}.{key}: must be a string")),
                }
            };
            let (service, method_name) = (text("service")?, text("method")?);
            if service.is_none() && method_name.is_some() {
                return Err(format!("{at}: a method needs its service"));
            }
            method.names.push(MethodName {
                service,
                method: method_name,
            });
        }
    }
    if let Some(timeout) = fields.get("timeout") {
        method.timeout = Some(duration(timeout, &format!("{at}.timeout"))?);
    }
    if let Some(wait) = fields.get("waitForReady") {
        method.wait_for_ready = Some(
            wait.as_bool()
                .ok_or_else(|| format!("{at}.waitForReady: must be true or false"))?,
        );
    }
    if let Some(policy) = fields.get("retryPolicy") {
        method.retry = Some(retry_policy(policy, &format!("{at}.retryPolicy"))?);
    }
    Ok(method)
}

/// gRFC A6 "Validation of retryPolicy": every field present and in range.
fn retry_policy(value: &Value, at: &str) -> Result<RetryPolicy, Invalid> {
    let fields = object(value, at)?;
    let need = |key: &str| {
        fields
            .get(key)
            .ok_or_else(|| format!("{at}.{key}: required"))
    };
    let max_attempts = need("maxAttempts")?
        .as_u64()
        .filter(|&n| n > 1)
        .ok_or_else(|| format!("{at}.maxAttempts: must be an integer above 1"))?;
    let positive = |key: &str| -> Result<Duration, Invalid> {
        let d = duration(need(key)?, &format!("{at}.{key}"))?;
        if d.is_zero() {
            return Err(format!("{at}.{key}: must be above zero"));
        }
        Ok(d)
    };
    let initial_backoff = positive("initialBackoff")?;
    let max_backoff = positive("maxBackoff")?;
    let backoff_multiplier = need("backoffMultiplier")?
        .as_f64()
        .filter(|&m| m > 0.0 && m.is_finite())
        .ok_or_else(|| format!("{at}.backoffMultiplier: must be a number above zero"))?;
    let codes = need("retryableStatusCodes")?
        .as_array()
        .filter(|codes| !codes.is_empty())
        .ok_or_else(|| format!("{at}.retryableStatusCodes: must be a non-empty array"))?;
    let retryable = codes
        .iter()
        .map(|c| {
            status_code(c).ok_or_else(|| format!("{at}.retryableStatusCodes: unknown code {c}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RetryPolicy {
        max_attempts: u32::try_from(max_attempts)
            .unwrap_or(u32::MAX)
            .min(super::MAX_ATTEMPTS_CAP),
        initial_backoff,
        max_backoff,
        backoff_multiplier,
        retryable,
    })
}

/// A status code by name (`"UNAVAILABLE"`) or number.
fn status_code(value: &Value) -> Option<Code> {
    match value {
        Value::String(name) => (0..17).map(Code::from_i32).find(|c| c.as_str() == name),
        Value::Number(n) => {
            let n = i32::try_from(n.as_i64()?).ok()?;
            (0..17).contains(&n).then(|| Code::from_i32(n))
        }
        _ => None,
    }
}

fn retry_throttling(value: &Value) -> Result<RetryThrottling, Invalid> {
    let at = "retryThrottling";
    let fields = object(value, at)?;
    let max_tokens = fields
        .get("maxTokens")
        .and_then(Value::as_u64)
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| format!("{at}.maxTokens: must be an integer in 1..=1000"))?;
    let token_ratio = fields
        .get("tokenRatio")
        .and_then(Value::as_f64)
        .filter(|&r| r > 0.0 && r.is_finite())
        .ok_or_else(|| format!("{at}.tokenRatio: must be a number above zero"))?;
    // A6: "tokenRatio … up to 3 decimal places"; more are dropped.
    let token_ratio = (token_ratio * 1000.0).trunc() / 1000.0;
    Ok(RetryThrottling {
        max_tokens: u32::try_from(max_tokens).unwrap_or(1000),
        token_ratio,
    })
}

/// A `google.protobuf.Duration` in JSON: `"1.5s"`, decimal seconds with up
/// to 9 fractional digits.
fn duration(value: &Value, at: &str) -> Result<Duration, Invalid> {
    let bad = || format!("{at}: must be a duration like \"1.5s\"");
    let text = value.as_str().ok_or_else(bad)?;
    let number = text.strip_suffix('s').ok_or_else(bad)?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 9 {
        return Err(bad());
    }
    let secs: u64 = whole.parse().map_err(|_| bad())?;
    let nanos: u32 = if fraction.is_empty() {
        0
    } else {
        let padded = format!("{fraction:0<9}");
        padded.parse().map_err(|_| bad())?
    };
    Ok(Duration::new(secs, nanos))
}

fn object<'a>(value: &'a Value, at: &str) -> Result<&'a Map<String, Value>, Invalid> {
    value
        .as_object()
        .ok_or_else(|| format!("{at}: must be an object"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
        "loadBalancingConfig": [{ "weird_policy": {} }, { "round_robin": {} }],
        "methodConfig": [{
            "name": [{ "service": "pkg.Svc", "method": "Get" }, { "service": "pkg.Other" }],
            "timeout": "1.5s",
            "waitForReady": true,
            "retryPolicy": {
                "maxAttempts": 9, "initialBackoff": "0.01s", "maxBackoff": "0.3s",
                "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE", 10]
            }
        }],
        "retryThrottling": { "maxTokens": 10, "tokenRatio": 0.12345 }
    }"#;

    #[test]
    fn reads_every_field() {
        let config = ServiceConfig::from_json(GOOD).unwrap();
        assert_eq!(config.lb_policy, Some(LbPolicy::RoundRobin));
        let method = &config.methods[0];
        assert_eq!(method.names.len(), 2);
        assert_eq!(method.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(method.wait_for_ready, Some(true));
        let retry = method.retry.as_ref().unwrap();
        assert_eq!(retry.max_attempts, 5, "capped at 5");
        assert_eq!(retry.initial_backoff, Duration::from_millis(10));
        assert_eq!(retry.max_backoff, Duration::from_millis(300));
        assert_eq!(retry.retryable, [Code::Unavailable, Code::Aborted]);
        let throttling = config.throttling.unwrap();
        assert_eq!(throttling.max_tokens, 10);
        assert_eq!(throttling.token_ratio, 0.123);
    }

    #[test]
    fn bad_configs_name_the_field() {
        let cases = [
            ("{", "not JSON"),
            ("[]", "the config: must be an object"),
            (
                r#"{"loadBalancingConfig":[{"x":{}}]}"#,
                "no supported policy",
            ),
            (
                r#"{"methodConfig":[{"name":[{"method":"m"}]}]}"#,
                "methodConfig[0].name[0]: a method needs its service",
            ),
            (
                r#"{"methodConfig":[{"timeout":"1m"}]}"#,
                "methodConfig[0].timeout",
            ),
            (
                r#"{"methodConfig":[{"retryPolicy":{"maxAttempts":1}}]}"#,
                "maxAttempts: must be an integer above 1",
            ),
            (
                r#"{"methodConfig":[{"retryPolicy":{"maxAttempts":2,"initialBackoff":"0s","maxBackoff":"1s","backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}]}"#,
                "initialBackoff: must be above zero",
            ),
            (
                r#"{"methodConfig":[{"retryPolicy":{"maxAttempts":2,"initialBackoff":"1s","maxBackoff":"1s","backoffMultiplier":2,"retryableStatusCodes":[]}}]}"#,
                "retryableStatusCodes: must be a non-empty array",
            ),
            (
                r#"{"methodConfig":[{"retryPolicy":{"maxAttempts":2,"initialBackoff":"1s","maxBackoff":"1s","backoffMultiplier":2,"retryableStatusCodes":["NOPE"]}}]}"#,
                "unknown code",
            ),
            (
                r#"{"methodConfig":[{"retryPolicy":{"maxAttempts":2,"initialBackoff":"1s","maxBackoff":"1s","retryableStatusCodes":["UNAVAILABLE"]}}]}"#,
                "backoffMultiplier: required",
            ),
            (
                r#"{"retryThrottling":{"maxTokens":0,"tokenRatio":1}}"#,
                "maxTokens",
            ),
            (r#"{"retryThrottling":{"maxTokens":5}}"#, "tokenRatio"),
        ];
        for (json, want) in cases {
            let err = ServiceConfig::from_json(json).unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument);
            assert!(err.message().contains(want), "{json}: {}", err.message());
        }
    }

    #[test]
    fn durations() {
        let d = |s: &str| duration(&Value::String(s.into()), "t");
        assert_eq!(d("0.000000001s"), Ok(Duration::new(0, 1)));
        assert_eq!(d("20s"), Ok(Duration::from_secs(20)));
        assert!(d("-1s").is_err());
        assert!(d("1").is_err());
        assert!(d(".5s").is_err());
        assert!(d("1.0000000001s").is_err());
    }
}
