//! Value types the sections share: durations as written (`"2s"`), one
//! string or a list, and how validated values are printed back by
//! `config show` (durations as `"2s"`, addresses and networks as text).

use std::fmt::Display;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// A duration written as `"2s"`, `"500ms"`, `"1h 30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

/// The longest duration any setting takes. Intervals, timeouts, quiet
/// hours, `remind_every`, `retention` and the like are added to clock
/// times and instants, multiplied and turned into milliseconds; past this
/// they could overflow (`9999999999d`), so the file is refused instead.
pub(crate) const MAX_DUR: Duration = Duration::from_secs(100 * 366 * 86400);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let s = String::deserialize(d)?;
        let d = humantime::parse_duration(s.trim()).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {s:?} ({e}): write a number and a unit, e.g. \"500ms\", \"2s\", \"5m\""
            ))
        })?;
        if d > MAX_DUR {
            return Err(serde::de::Error::custom(format!(
                "duration {s:?} is too long: at most 100 years (\"36600d\")"
            )));
        }
        Ok(Dur(d))
    }
}

/// `Some(dur)` of an optional duration key, else `default`.
pub(super) fn or(d: Option<Dur>, default: Duration) -> Duration {
    d.map_or(default, |d| d.0)
}

/// One string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// `config show`: a duration as the file writes it (`"1m 30s"`).
pub(super) fn dur<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_duration(*d))
}

/// `config show`: a value by its `Display` (endpoints, patterns).
pub(super) fn text<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// `config show`: a list by its items' `Display` (networks).
pub(super) fn texts<T: Display, S: Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(ToString::to_string))
}
