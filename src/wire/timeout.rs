//! `grpc-timeout`: the relative deadline a client sends in the request head.
//!
//! Wire layer, sans-IO. Implements PROTOCOL-HTTP2.md, "Requests":
//!
//! ```text
//! Timeout      → "grpc-timeout" TimeoutValue TimeoutUnit
//! TimeoutValue → {positive integer as ASCII string of at most 8 digits}
//! TimeoutUnit  → Hour / Minute / Second / Millisecond / Microsecond / Nanosecond
//!                 "H"    "M"      "S"      "m"           "u"           "n"
//!
//!   "100000u"  =  1 0 0 0 0 0 | u
//!                 value (≤ 8) | unit (exactly one byte)
//! ```
//!
//! [`encode`] picks the finest unit that fits in 8 digits and rounds *up*, so
//! the peer never sees a shorter deadline than ours. [`decode`] is strict about
//! the grammar and never overflows: the largest value, `99999999H`, is about
//! 11 408 years and fits easily in a [`Duration`].

use std::fmt;
use std::time::Duration;

/// Longest `TimeoutValue` in digits. The spec caps it at 8 so a value always
/// fits an `i32`/`u32` in every implementation; checking the length before
/// parsing is what keeps [`decode`] overflow-free.
pub const MAX_DIGITS: usize = 8;

/// The largest `TimeoutValue`: eight nines.
const MAX_VALUE: u64 = 99_999_999;

/// Why a `grpc-timeout` value could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeoutError {
    /// Empty, or no unit.
    Empty,
    /// More than 8 digits.
    TooManyDigits,
    /// A byte that is not an ASCII digit.
    NotADigit,
    /// The unit is not one of H M S m u n.
    BadUnit,
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutError::Empty => "grpc-timeout is empty or has no unit",
            TimeoutError::TooManyDigits => "grpc-timeout has more than 8 digits",
            TimeoutError::NotADigit => "grpc-timeout value is not ASCII digits",
            TimeoutError::BadUnit => "grpc-timeout unit is not one of H M S m u n",
        })
    }
}

impl std::error::Error for TimeoutError {}

/// Units from finest to coarsest, with their length in nanoseconds.
const UNITS: [(u8, u128); 6] = [
    (b'n', 1),
    (b'u', 1_000),
    (b'm', 1_000_000),
    (b'S', 1_000_000_000),
    (b'M', 60 * 1_000_000_000),
    (b'H', 3_600 * 1_000_000_000),
];

/// Encodes a timeout with at most 8 digits, choosing the finest unit that fits
/// (n, u, m, S, M, H); saturates at `99999999H`.
///
/// ```
/// use std::time::Duration;
/// use h2grpc::wire::timeout;
///
/// assert_eq!(timeout::encode(Duration::from_secs(30)), "30000000u");
/// assert_eq!(timeout::decode(b"100m"), Ok(Duration::from_millis(100)));
/// assert!(timeout::decode(b"123456789S").is_err()); // at most 8 digits
/// ```
pub fn encode(timeout: Duration) -> String {
    let nanos = timeout.as_nanos();
    for (unit, unit_nanos) in UNITS {
        // Round up: a deadline may be sent a little late, never early.
        let value = nanos.div_ceil(unit_nanos);
        if value <= u128::from(MAX_VALUE) {
            return format!("{value}{}", char::from(unit));
        }
    }
    format!("{MAX_VALUE}H")
}

/// Parses a `grpc-timeout` value: 1..=8 ASCII digits then one unit of `H M S m u n`.
pub fn decode(value: &[u8]) -> Result<Duration, TimeoutError> {
    let Some((&unit, digits)) = value.split_last() else {
        return Err(TimeoutError::Empty);
    };
    // A value that ends in a digit has no unit; one that is only a unit has no value.
    if unit.is_ascii_digit() || digits.is_empty() {
        return Err(TimeoutError::Empty);
    }
    if digits.len() > MAX_DIGITS {
        return Err(TimeoutError::TooManyDigits);
    }
    let mut n: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return Err(TimeoutError::NotADigit);
        }
        // At most 8 digits, so this stays below 10^8: no overflow possible.
        n = n * 10 + u64::from(b - b'0');
    }
    let duration = match unit {
        b'n' => Duration::from_nanos(n),
        b'u' => Duration::from_micros(n),
        b'm' => Duration::from_millis(n),
        b'S' => Duration::from_secs(n),
        // n < 10^8, so n * 3600 < 3.6 * 10^11: far below u64::MAX.
        b'M' => Duration::from_secs(n.saturating_mul(60)),
        b'H' => Duration::from_secs(n.saturating_mul(3_600)),
        _ => return Err(TimeoutError::BadUnit),
    };
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_picks_finest_unit() {
        assert_eq!(encode(Duration::ZERO), "0n");
        assert_eq!(encode(Duration::from_nanos(1)), "1n");
        // 8 nines of ns: the last value that stays in `n`.
        assert_eq!(encode(Duration::from_nanos(99_999_999)), "99999999n");
        // 10^8 ns needs 9 digits in `n`: move to `u`.
        assert_eq!(encode(Duration::from_nanos(100_000_000)), "100000u");
        assert_eq!(encode(Duration::from_secs(1)), "1000000u");
        assert_eq!(encode(Duration::from_secs(100)), "100000m");
        assert_eq!(encode(Duration::from_secs(100_000)), "100000S");
        assert_eq!(encode(Duration::from_secs(100_000_000)), "1666667M");
        assert_eq!(encode(Duration::from_secs(6_000_000_000)), "1666667H");
    }

    #[test]
    fn encode_rounds_up_never_shortens() {
        // 100_000_001 ns = 100000.001 us: rounds up to 100001u.
        assert_eq!(encode(Duration::from_nanos(100_000_001)), "100001u");
        // 99999999.5 us does not fit in `u` after rounding up (10^8): go to `m`.
        assert_eq!(encode(Duration::from_nanos(99_999_999_500)), "100000m");
        // 100000000001 ns = 100000.000001 ms: rounds up to 100001m.
        assert_eq!(encode(Duration::from_nanos(100_000_000_001)), "100001m");
        // 10^8 s + 1 ns: minutes, rounded up.
        assert_eq!(encode(Duration::new(100_000_000, 1)), "1666667M");
        for d in [
            Duration::from_nanos(123_456_789),
            Duration::from_nanos(987_654_321_123),
            Duration::new(7_777_777, 5),
            Duration::new(5_999_999_999, 1),
        ] {
            let back = decode(encode(d).as_bytes()).unwrap();
            assert!(
                back >= d,
                "{d:?} encoded as {} decodes to {back:?}",
                encode(d)
            );
        }
    }

    #[test]
    fn encode_saturates() {
        // The largest exact value.
        assert_eq!(encode(Duration::from_secs(99_999_999 * 3_600)), "99999999H");
        // One second more rounds up past 8 digits of hours: saturate.
        assert_eq!(
            encode(Duration::from_secs(99_999_999 * 3_600 + 1)),
            "99999999H"
        );
        assert_eq!(encode(Duration::MAX), "99999999H");
    }

    #[test]
    fn decode_every_unit() {
        assert_eq!(decode(b"1n"), Ok(Duration::from_nanos(1)));
        assert_eq!(decode(b"1u"), Ok(Duration::from_micros(1)));
        assert_eq!(decode(b"1m"), Ok(Duration::from_millis(1)));
        assert_eq!(decode(b"1S"), Ok(Duration::from_secs(1)));
        assert_eq!(decode(b"1M"), Ok(Duration::from_secs(60)));
        assert_eq!(decode(b"1H"), Ok(Duration::from_secs(3_600)));
        assert_eq!(decode(b"0n"), Ok(Duration::ZERO));
        // Leading zeros are still digits.
        assert_eq!(decode(b"00000010S"), Ok(Duration::from_secs(10)));
    }

    #[test]
    fn decode_boundaries() {
        // 8 digits: accepted; the largest value fits in a Duration.
        assert_eq!(
            decode(b"99999999H"),
            Ok(Duration::from_secs(99_999_999 * 3_600))
        );
        assert_eq!(decode(b"99999999n"), Ok(Duration::from_nanos(99_999_999)));
        // 9 digits: refused.
        assert_eq!(decode(b"100000000n"), Err(TimeoutError::TooManyDigits));
        assert_eq!(decode(b"999999999H"), Err(TimeoutError::TooManyDigits));
    }

    #[test]
    fn decode_errors() {
        assert_eq!(decode(b""), Err(TimeoutError::Empty));
        // Digits with no unit.
        assert_eq!(decode(b"100"), Err(TimeoutError::Empty));
        // A unit with no digits.
        assert_eq!(decode(b"S"), Err(TimeoutError::Empty));
        assert_eq!(decode(b"1x"), Err(TimeoutError::BadUnit));
        // Units are case-sensitive: `s` is not `S`, `h` is not `H`.
        assert_eq!(decode(b"1s"), Err(TimeoutError::BadUnit));
        assert_eq!(decode(b"1h"), Err(TimeoutError::BadUnit));
        assert_eq!(decode(b"-1S"), Err(TimeoutError::NotADigit));
        assert_eq!(decode(b"+1S"), Err(TimeoutError::NotADigit));
        assert_eq!(decode(b" 1S"), Err(TimeoutError::NotADigit));
        assert_eq!(decode(b"1.5S"), Err(TimeoutError::NotADigit));
        // Two units.
        assert_eq!(decode(b"1mS"), Err(TimeoutError::NotADigit));
        // Non-ASCII unit byte.
        assert_eq!(decode(b"1\xff"), Err(TimeoutError::BadUnit));
    }

    #[test]
    fn round_trip_exact_values() {
        for text in [
            "0n",
            "1n",
            "99999999n",
            "100000u",
            "250m",
            "30S",
            "5M",
            "2H",
            "99999999H",
        ] {
            let d = decode(text.as_bytes()).unwrap();
            assert_eq!(decode(encode(d).as_bytes()), Ok(d), "{text}");
        }
    }
}
