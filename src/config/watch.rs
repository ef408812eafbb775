//! `[watch]`: how often instances are polled, how long a request may take,
//! and where the store is.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::problems::Problems;
use super::value::{self, Dur};

pub(crate) const DEFAULT_STORE: &str = "/var/lib/hawatch/hawatch.db";

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileWatch {
    /// How often every instance is polled (default 2s).
    pub(crate) interval: Option<Dur>,
    /// SQLite store path (default /var/lib/hawatch/hawatch.db).
    pub(crate) store: Option<String>,
    /// Per-request timeout (default: the interval, at most 5s).
    pub(crate) timeout: Option<Dur>,
    /// How long events and delivered notifications are kept (default 90d).
    pub(crate) retention: Option<Dur>,
}

/// `[watch]`, validated.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Watch {
    #[serde(serialize_with = "value::dur")]
    pub(crate) interval: Duration,
    pub(crate) store: PathBuf,
    #[serde(serialize_with = "value::dur")]
    pub(crate) timeout: Duration,
    #[serde(serialize_with = "value::dur")]
    pub(crate) retention: Duration,
}

pub(super) fn validate(f: FileWatch, p: &mut Problems) -> Watch {
    let interval = value::or(f.interval, Duration::from_secs(2));
    if interval < Duration::from_millis(100) {
        p.at(
            "watch.interval",
            format!("{interval:?} is too short; use at least 100ms"),
        );
    }
    let timeout = value::or(f.timeout, interval.min(Duration::from_secs(5)));
    if timeout.is_zero() {
        p.at("watch.timeout", "must be more than 0");
    }
    Watch {
        interval,
        store: PathBuf::from(f.store.unwrap_or_else(|| DEFAULT_STORE.to_string())),
        timeout,
        retention: value::or(f.retention, Duration::from_secs(90 * 86400)),
    }
}
