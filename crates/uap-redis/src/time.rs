//! Instants as Redis stores them: whole Unix microseconds, clamped to what a
//! Lua number (a double) holds exactly. Shared by the session and rate-limit
//! stores.

use time::OffsetDateTime;
use uap_ports::StoreError;

use crate::error::malformed;

/// Lua numbers are doubles: instants beyond ±2^53 µs are clamped.
pub(crate) const MAX_MICROS: i64 = 1 << 53;

/// `t` in whole Unix microseconds (truncated, as the SQL stores keep it),
/// clamped to what a Lua number holds exactly.
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    let us = t.unix_timestamp_nanos().div_euclid(1_000);
    i64::try_from(us).unwrap_or(if us < 0 { -MAX_MICROS } else { MAX_MICROS }).clamp(-MAX_MICROS, MAX_MICROS)
}

/// An instant stored as Unix microseconds (`field` names it in the error).
pub(crate) fn instant(field: &str, text: &str) -> Result<OffsetDateTime, StoreError> {
    text.parse::<i64>()
        .ok()
        .and_then(|us| OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000).ok())
        .ok_or_else(|| malformed(format!("session field {field} is not a time: {text:?}")))
}
