//! The load driver and its report, shared by `order-bench` and the tonic
//! peer's `tonic-order-bench` (which includes this file by path), so both
//! clients are timed by the same code.
//!
//! Layer: benchmark tooling, outside the library. A [`Worker`] performs one
//! *round* (a unary call, a whole streaming call, or one bidi ping-pong) per
//! `round()`; [`drive`] runs many workers at once and merges what they saw:
//!
//! ```text
//!  t=0 ── warm-up ──▶ start ─────── measured window ───────▶ end ─ grace ─▶ hard stop
//!        rounds run,          rounds that *finish* in here           a worker still inside
//!        not counted          are counted and timed                  a round is abandoned
//! ```
//!
//! Latency goes into an HDR histogram (the `hdrhistogram` crate) per worker:
//! fixed memory, no allocation per sample, 3 significant digits at any scale,
//! and per-worker histograms merge exactly; keeping every sample in a `Vec`
//! would grow with the run and sort at the end.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::time::Instant;

/// Longest run allowed, whatever `--duration` says: every run is bounded.
pub const MAX_DURATION: Duration = Duration::from_secs(60);

/// How long past the window a worker may stay inside one round before it is
/// abandoned (counted in `stuck_workers`) so the run still ends.
pub const STUCK_GRACE: Duration = Duration::from_secs(5);

/// Largest latency the histogram records (longer samples are clamped):
/// a round never legitimately outlives the longest run.
const MAX_LATENCY_NANOS: u64 = 120_000_000_000;

/// What one round produced.
#[derive(Debug)]
pub enum Outcome {
    /// It succeeded, moving `messages` messages of `bytes` payload bytes in total.
    Ok {
        /// Messages counted for this round (see the mode's docs for which).
        messages: u64,
        /// Encoded protobuf bytes of those messages (no 5-byte prefixes).
        bytes: u64,
    },
    /// It failed: a gRPC code name (`"UNAVAILABLE"`) or `"MISMATCH"` for a wrong reply.
    Failed(&'static str),
}

/// One closed-loop load source: a round starts as soon as the last one ended.
pub trait Worker: Send + 'static {
    /// Performs one round.
    fn round(&mut self) -> impl Future<Output = Outcome> + Send;
}

/// When to measure.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Rounds finishing before this much time has passed are not counted.
    pub warmup: Duration,
    /// Length of the measured window.
    pub duration: Duration,
}

/// Everything one worker (or, merged, all of them) saw in the window.
#[derive(Debug)]
pub struct Stats {
    latency_nanos: Histogram<u64>,
    rounds: u64,
    messages: u64,
    bytes: u64,
    errors: BTreeMap<&'static str, u64>,
    stuck_workers: u64,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            latency_nanos: Histogram::new_with_bounds(1, MAX_LATENCY_NANOS, 3)
                .expect("constant histogram bounds are valid"),
            rounds: 0,
            messages: 0,
            bytes: 0,
            errors: BTreeMap::new(),
            stuck_workers: 0,
        }
    }

    fn record(&mut self, outcome: Outcome, took: Duration) {
        match outcome {
            Outcome::Ok { messages, bytes } => {
                self.rounds += 1;
                self.messages += messages;
                self.bytes += bytes;
                let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
                self.latency_nanos.saturating_record(nanos.max(1));
            }
            Outcome::Failed(code) => *self.errors.entry(code).or_default() += 1,
        }
    }

    fn merge(&mut self, other: Stats) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency_nanos.add(&other.latency_nanos);
        self.rounds += other.rounds;
        self.messages += other.messages;
        self.bytes += other.bytes;
        for (code, n) in other.errors {
            *self.errors.entry(code).or_default() += n;
        }
        self.stuck_workers += other.stuck_workers;
    }
}

/// Runs every worker on its own task for warm-up + duration and merges their stats.
pub async fn drive<W: Worker>(workers: Vec<W>, plan: Plan) -> Report {
    let duration = plan.duration.min(MAX_DURATION);
    let start = Instant::now() + plan.warmup.min(MAX_DURATION);
    let end = start + duration;
    let workers_n = workers.len();
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|worker| tokio::spawn(run_worker(worker, start, end)))
        .collect();
    let mut total = Stats::new();
    for task in tasks {
        match task.await {
            Ok(stats) => total.merge(stats),
            Err(_) => *total.errors.entry("WORKER_PANICKED").or_default() += 1,
        }
    }
    Report {
        stats: total,
        window: duration,
        workers: workers_n,
    }
}

async fn run_worker<W: Worker>(mut worker: W, start: Instant, end: Instant) -> Stats {
    let mut stats = Stats::new();
    let hard_stop = tokio::time::sleep_until(end + STUCK_GRACE);
    let mut hard_stop = std::pin::pin!(hard_stop);
    loop {
        let began = Instant::now();
        if began >= end {
            break;
        }
        let outcome = tokio::select! {
            biased;
            outcome = worker.round() => outcome,
            () = &mut hard_stop => {
                stats.stuck_workers += 1;
                break;
            }
        };
        let finished = Instant::now();
        if finished >= start && finished <= end {
            stats.record(outcome, finished - began);
        }
    }
    stats
}

/// The merged result of one run.
#[derive(Debug)]
pub struct Report {
    stats: Stats,
    window: Duration,
    workers: usize,
}

impl Report {
    fn per_second(&self, n: u64) -> f64 {
        n as f64 / self.window.as_secs_f64()
    }

    fn quantile_micros(&self, q: f64) -> f64 {
        self.stats.latency_nanos.value_at_quantile(q) as f64 / 1000.0
    }

    /// Failed rounds, all codes together.
    pub fn error_total(&self) -> u64 {
        self.stats.errors.values().sum::<u64>() + self.stats.stuck_workers
    }

    /// One machine-readable line: `mode` and `target` name the run.
    pub fn to_json(&self, mode: &str, target: &str, extra: Value) -> Value {
        let s = &self.stats;
        json!({
            "mode": mode,
            "target": target,
            "workers": self.workers,
            "window_s": self.window.as_secs_f64(),
            "calls": s.rounds,
            "calls_per_s": round2(self.per_second(s.rounds)),
            "messages": s.messages,
            "messages_per_s": round2(self.per_second(s.messages)),
            "bytes": s.bytes,
            "mb_per_s": round2(self.per_second(s.bytes) / 1e6),
            "latency_us": {
                "p50": round2(self.quantile_micros(0.50)),
                "p99": round2(self.quantile_micros(0.99)),
                "p999": round2(self.quantile_micros(0.999)),
                "max": round2(s.latency_nanos.max() as f64 / 1000.0),
                "mean": round2(s.latency_nanos.mean() / 1000.0),
            },
            "errors": s.errors,
            "error_total": self.error_total(),
            "stuck_workers": s.stuck_workers,
            "config": extra,
        })
    }

    /// A human-readable block.
    pub fn to_text(&self, mode: &str, target: &str) -> String {
        let s = &self.stats;
        let errors = if s.errors.is_empty() && s.stuck_workers == 0 {
            "none".to_string()
        } else {
            let mut parts: Vec<String> = s.errors.iter().map(|(c, n)| format!("{c}={n}")).collect();
            if s.stuck_workers > 0 {
                parts.push(format!("stuck_workers={}", s.stuck_workers));
            }
            parts.join(" ")
        };
        format!(
            "{mode} against {target} ({} workers, {:.1} s window)\n  \
             calls/s {:>12.0}   messages/s {:>12.0}   MB/s {:>9.2}\n  \
             latency p50 {:.1} µs   p99 {:.1} µs   p999 {:.1} µs   max {:.1} µs\n  \
             calls {}   errors {errors}",
            self.workers,
            self.window.as_secs_f64(),
            self.per_second(s.rounds),
            self.per_second(s.messages),
            self.per_second(s.bytes) / 1e6,
            self.quantile_micros(0.50),
            self.quantile_micros(0.99),
            self.quantile_micros(0.999),
            s.latency_nanos.max() as f64 / 1000.0,
            s.rounds,
        )
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The spec name of a numeric gRPC status code (statuscodes.md), for error tallies
/// from either client library.
pub fn code_name(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i).copied())
        .unwrap_or("UNKNOWN")
}

/// Reads a `--flag SECONDS` value (fractions allowed), capped at [`MAX_DURATION`].
pub fn parse_seconds(flag: &str, value: &str) -> Result<Duration, String> {
    let secs: f64 = value
        .parse()
        .map_err(|_| format!("{flag}: not a number of seconds: {value:?}"))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{flag}: must be >= 0, got {value:?}"));
    }
    Ok(Duration::from_secs_f64(secs).min(MAX_DURATION))
}
