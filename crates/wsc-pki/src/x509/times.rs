//! Times: seconds since the epoch, rcgen's form, RFC 3339 text.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{PkiError, Result};

/// Converts a system time to whole seconds since the epoch.
pub(crate) fn unix_secs(t: SystemTime) -> Result<u64> {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).map_err(|_| PkiError::Time("time before 1970".into()))
}

/// Converts a system time to what rcgen takes, truncated to whole seconds.
pub(crate) fn offset_date_time(t: SystemTime) -> Result<time::OffsetDateTime> {
    let secs = i64::try_from(unix_secs(t)?).map_err(|_| PkiError::Time("time out of range".into()))?;
    time::OffsetDateTime::from_unix_timestamp(secs).map_err(|e| PkiError::Time(e.into()))
}

/// Parses an RFC 3339 time such as `2026-01-31T12:00:00Z`.
pub fn parse_rfc3339(text: &str) -> Result<SystemTime> {
    let t = time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|source| PkiError::TimeText { text: text.to_string(), source })?;
    Ok(SystemTime::from(t))
}

/// Formats a time as RFC 3339 in UTC, whole seconds.
pub fn format_rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{secs} seconds after the epoch"))
}
