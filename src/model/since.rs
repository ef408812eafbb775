//! `--since` and the API's `since`: how far back to look.

use chrono::{DateTime, Utc};

/// `--since` (and the API's `since`): `1h`-style durations back from now, or
/// an RFC 3339 time. It comes from a user or the network, so the arithmetic
/// is checked: a duration reaching past the earliest time chrono can hold
/// (`9999999999d`) is an error that says so, not a panic. The message names
/// no flag; clap (`--since`, exit 2) and the API (`since`, HTTP 400) add it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Since(pub DateTime<Utc>);

/// Why a `since` is not a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinceError {
    #[error("{input:?}: {reason}; expected a duration like 90s, 1h, 2d or an RFC 3339 time")]
    Unreadable { input: String, reason: String },
    #[error("{0:?}: too far back (before the year -262143); give a shorter duration or an RFC 3339 time")]
    TooFarBack(String),
}

impl Since {
    /// `s` read at `now` (a duration counts back from it).
    pub(crate) fn at(s: &str, now: DateTime<Utc>) -> Result<Since, SinceError> {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Ok(Since(t.with_timezone(&Utc)));
        }
        let d = humantime::parse_duration(s).map_err(|e| SinceError::Unreadable {
            input: s.to_string(),
            reason: e.to_string(),
        })?;
        chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .map(Since)
            .ok_or_else(|| SinceError::TooFarBack(s.to_string()))
    }
}

/// From now: what clap's `value_parser` and the API use.
impl std::str::FromStr for Since {
    type Err = SinceError;

    fn from_str(s: &str) -> Result<Since, SinceError> {
        Since::at(s, Utc::now())
    }
}

/// [`Since::at`], as a time.
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, SinceError> {
    Since::at(s, now).map(|t| t.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_forms() {
        let now = Utc::now();
        assert_eq!(parse_since("1h", now).unwrap(), now - chrono::Duration::hours(1));
        assert_eq!(
            parse_since("2026-11-20T10:00:00Z", now).unwrap().to_rfc3339(),
            "2026-11-20T10:00:00+00:00"
        );
        assert!(parse_since("yesterday", now).is_err());
    }

    /// Issue 12: `--since 9999999999d` panicked (`DateTime - TimeDelta overflowed`).
    #[test]
    fn since_too_far_back_is_an_error_not_a_panic() {
        let now = Utc::now();
        for s in [
            "9999999999d",
            "18446744073709551615s",
            "584942417355y",
            "99999999999999999999999d",
        ] {
            let e = parse_since(s, now).unwrap_err().to_string();
            assert!(e.contains(s), "{e}");
        }
        assert!(parse_since("9999999999d", now)
            .unwrap_err()
            .to_string()
            .contains("too far back"));
        // The boundary itself: one hour after the earliest time, 1h fits, 2h does not.
        let early = DateTime::<Utc>::MIN_UTC + chrono::Duration::hours(1);
        assert_eq!(parse_since("1h", early).unwrap(), DateTime::<Utc>::MIN_UTC);
        assert!(parse_since("1h 1s", early).is_err());
        assert_eq!(parse_since("0s", now).unwrap(), now);
        // Far back but representable: every event is newer.
        assert!(parse_since("100000y", now).unwrap() < now);
    }
}
