//! Back-off schedules: reconnecting a subchannel (grpc `doc/connection-backoff.md`)
//! and spacing retry attempts (gRFC A6, "Exponential backoff").
//!
//! Layer: sans-IO. Time and randomness are passed in, so the schedules are
//! tested exactly; the callers own the clock (tokio's, pausable in tests).
//!
//! Reconnecting, as connection-backoff.md's pseudo-code:
//!
//! ```text
//!  current_backoff  = INITIAL_BACKOFF                      1 s
//!  current_deadline = now + INITIAL_BACKOFF                 (no jitter on the first)
//!  while TryConnect(max(current_deadline, now + MIN_CONNECT_TIMEOUT)) fails:
//!      SleepUntil(current_deadline)
//!      current_backoff  = min(current_backoff × MULTIPLIER, MAX_BACKOFF)      ×1.6, ≤ 120 s
//!      current_deadline = now + current_backoff ± JITTER × current_backoff   ±20 %
//! ```
//!
//! Retrying (A6): the n-th retry waits `random(0, min(initialBackoff ×
//! backoffMultiplier^(n-1), maxBackoff))`, unless the server pushed back.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use tokio::time::Instant;

/// connection-backoff.md INITIAL_BACKOFF.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// connection-backoff.md MULTIPLIER.
pub const BACKOFF_MULTIPLIER: f64 = 1.6;
/// connection-backoff.md JITTER: each delay is moved by up to ±20 %.
pub const BACKOFF_JITTER: f64 = 0.2;
/// connection-backoff.md MAX_BACKOFF.
pub const MAX_BACKOFF: Duration = Duration::from_secs(120);

/// One subchannel's reconnect schedule.
#[derive(Debug)]
pub(crate) struct ConnectBackoff {
    /// `current_backoff` of the pseudo-code; `None` before the first failure.
    current: Option<Duration>,
}

impl ConnectBackoff {
    pub(crate) fn new() -> ConnectBackoff {
        ConnectBackoff { current: None }
    }

    /// An attempt that started at `started` failed: when the next may start.
    /// `jitter` is uniform in [-1, 1].
    pub(crate) fn failed(&mut self, started: Instant, jitter: f64) -> Instant {
        let delay = match self.current {
            // The first deadline is INITIAL_BACKOFF, unjittered.
            None => INITIAL_BACKOFF,
            Some(current) => {
                let next = current.mul_f64(BACKOFF_MULTIPLIER).min(MAX_BACKOFF);
                self.current = Some(next);
                let moved = next.as_secs_f64() * (1.0 + BACKOFF_JITTER * jitter.clamp(-1.0, 1.0));
                return started + Duration::from_secs_f64(moved.max(0.0));
            }
        };
        self.current = Some(INITIAL_BACKOFF);
        started + delay
    }

    /// A connection was made: the next failure starts the schedule over.
    pub(crate) fn reset(&mut self) {
        self.current = None;
    }
}

/// A6: the delay before retry number `retry` (1 for the first retry), with
/// `unit` uniform in [0, 1).
pub(crate) fn retry_delay(
    initial: Duration,
    max: Duration,
    multiplier: f64,
    retry: u32,
    unit: f64,
) -> Duration {
    let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
    let ceiling = initial.as_secs_f64() * multiplier.powi(exponent);
    let ceiling = ceiling.min(max.as_secs_f64());
    Duration::from_secs_f64((ceiling * unit.clamp(0.0, 1.0)).max(0.0))
}

thread_local! {
    /// xorshift64* state, seeded per thread from std's random hasher keys.
    static RNG: Cell<u64> = Cell::new({
        let mut h = RandomState::new().build_hasher();
        h.write_u64(0x9e37_79b9_7f4a_7c15);
        h.finish() | 1
    });
}

/// Uniform in [0, 1): jitter needs no cryptographic randomness, only
/// different clients not marching in step.
pub(crate) fn unit_random() -> f64 {
    RNG.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        // The top 53 bits as a fraction.
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// Uniform in [-1, 1).
pub(crate) fn jitter_random() -> f64 {
    unit_random() * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_schedule_follows_connection_backoff_md() {
        let t0 = Instant::now();
        let mut b = ConnectBackoff::new();
        // No jitter (0.0): 1, 1.6, 2.56, 4.096, … capped at 120.
        let mut at = t0;
        let mut delays = Vec::new();
        for _ in 0..15 {
            let next = b.failed(at, 0.0);
            delays.push((next - at).as_secs_f64());
            at = next;
        }
        let expected = [1.0, 1.6, 2.56, 4.096, 6.5536, 10.48576];
        for (got, want) in delays.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{delays:?}");
        }
        assert!((delays[14] - 120.0).abs() < 1e-6, "capped: {delays:?}");
        // Jitter moves a delay by at most ±20 %, the first one not at all.
        let mut b = ConnectBackoff::new();
        assert_eq!(b.failed(t0, 1.0) - t0, Duration::from_secs(1));
        let high = b.failed(t0, 1.0) - t0;
        let mut c = ConnectBackoff::new();
        c.failed(t0, -1.0);
        let low = c.failed(t0, -1.0) - t0;
        assert!((high.as_secs_f64() - 1.6 * 1.2).abs() < 1e-6, "{high:?}");
        assert!((low.as_secs_f64() - 1.6 * 0.8).abs() < 1e-6, "{low:?}");
        // Success starts over.
        b.reset();
        assert_eq!(b.failed(t0, 1.0) - t0, Duration::from_secs(1));
    }

    #[test]
    fn retry_delays_follow_a6() {
        let ms = Duration::from_millis;
        let initial = ms(100);
        let max = ms(1000);
        // The ceiling grows ×2 to the max; the delay is a fraction of it.
        assert_eq!(retry_delay(initial, max, 2.0, 1, 0.5), ms(50));
        assert_eq!(retry_delay(initial, max, 2.0, 2, 0.5), ms(100));
        assert_eq!(retry_delay(initial, max, 2.0, 3, 0.5), ms(200));
        assert_eq!(retry_delay(initial, max, 2.0, 9, 0.5), ms(500));
        assert_eq!(retry_delay(initial, max, 2.0, 1, 0.0), ms(0));
    }

    #[test]
    fn randomness_stays_in_range() {
        for _ in 0..10_000 {
            let u = unit_random();
            assert!((0.0..1.0).contains(&u));
            let j = jitter_random();
            assert!((-1.0..1.0).contains(&j));
        }
        let distinct: std::collections::HashSet<u64> =
            (0..100).map(|_| unit_random().to_bits()).collect();
        assert!(distinct.len() > 90, "not random: {}", distinct.len());
    }
}
