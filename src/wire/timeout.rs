//! `grpc-timeout`: CONTRACT STUB.

use std::time::Duration;

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

/// Encodes a timeout with at most 8 digits, choosing the finest unit that fits
/// (n, u, m, S, M, H); saturates at `99999999H`.
pub fn encode(timeout: Duration) -> String {
    todo!("{timeout:?}")
}

/// Parses a `grpc-timeout` value: 1..=8 ASCII digits then one unit of `H M S m u n`.
pub fn decode(value: &[u8]) -> Result<Duration, TimeoutError> {
    todo!("{value:?}")
}
