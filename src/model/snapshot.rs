//! A snapshot is what one poll saw of an instance; the state is what hawatch
//! remembers between polls (and across restarts, in the store). The diff turns
//! (state, snapshot) into (new state, events).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use haproxy::{Info, Stat};
use serde::{Deserialize, Serialize};

/// Process identity of an HAProxy instance, for telling restarts and reloads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ProcInfo {
    pub(crate) pid: Option<u64>,
    /// Unix time the worker started: `Start_time_sec`, or now − uptime.
    pub(crate) start_time: Option<i64>,
    /// True when `start_time` was derived from the uptime (±1 s of jitter).
    #[serde(default)]
    pub(crate) start_time_derived: bool,
    pub(crate) version: Option<String>,
    pub(crate) node: Option<String>,
}

impl ProcInfo {
    pub(crate) fn from_info(info: &Info, now: DateTime<Utc>) -> ProcInfo {
        let (start_time, derived) = match (info.start_time_sec, info.uptime_sec) {
            // HAProxy's text: a value past i64 is no time at all, not a wrap.
            (Some(s), _) => (i64::try_from(s).ok(), false),
            (None, Some(up)) => (
                i64::try_from(up).ok().and_then(|up| now.timestamp().checked_sub(up)),
                true,
            ),
            (None, None) => (None, false),
        };
        ProcInfo {
            pid: info.pid,
            start_time,
            start_time_derived: derived,
            version: info.version.clone(),
            node: info.node.clone(),
        }
    }
}

/// One successful poll: the process identity and the validated `show stat`
/// reply, whose rows the diff reads without copying.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub proc: Option<ProcInfo>,
    pub stat: Stat,
}

/// The result of one poll: a snapshot, or why there is none.
pub type Observation = Result<Snapshot, SourceError>;

/// Why a read of an instance failed, as the source's client said it: the
/// Runtime API client's error or the stats page's, never flattened to text,
/// so a permission error and a timeout stay apart. Shown, it is the message
/// the state and the `instance_unreachable` event keep.
#[derive(Debug)]
pub enum SourceError {
    /// The Runtime API (`socket`): connecting, the answer, or its framing.
    Socket(haproxy::Error),
    /// The HTTP stats page (`stats_url`).
    Http(HttpError),
}

impl SourceError {
    /// A timeout of either source.
    #[cfg(test)]
    pub(crate) fn is_timeout(&self) -> bool {
        matches!(
            self,
            SourceError::Socket(haproxy::Error::Timeout { .. }) | SourceError::Http(HttpError::Timeout { .. })
        )
    }
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The client speaks of "a user"; here the user is hawatch's.
            SourceError::Socket(haproxy::Error::PermissionDenied { endpoint }) => write!(
                f,
                "permission denied on stats socket {endpoint}: run hawatch as a user that can write it (e.g. add it to the haproxy group and set `mode 660` on the `stats socket` line)"
            ),
            SourceError::Socket(e) => e.fmt(f),
            SourceError::Http(e) => e.fmt(f),
        }
    }
}

/// The message is the inner error's (reworded at most): its causes are the
/// inner error's causes, so a cause chain does not repeat it.
impl std::error::Error for SourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SourceError::Socket(e) => e.source(),
            SourceError::Http(e) => e.source(),
        }
    }
}

impl From<haproxy::Error> for SourceError {
    fn from(e: haproxy::Error) -> SourceError {
        SourceError::Socket(e)
    }
}

impl From<haproxy::ReplyError> for SourceError {
    fn from(e: haproxy::ReplyError) -> SourceError {
        SourceError::Socket(haproxy::Error::Reply(e))
    }
}

impl From<HttpError> for SourceError {
    fn from(e: HttpError) -> SourceError {
        SourceError::Http(e)
    }
}

/// Why the HTTP stats page could not be read. `url` is shown with its
/// credentials redacted.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No HTTP answer: connecting, TLS, or the connection dropped.
    #[error("stats page {url}: {}", crate::error::error_chain(.source))]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("stats page {url} refused the credentials (HTTP 401): check user:pass in `stats_url` against `stats auth` in haproxy.cfg")]
    Unauthorized { url: String },
    #[error("stats page {url} answered HTTP {status}: check the URL (`stats uri`)")]
    Status { url: String, status: u16 },
    #[error("stats page {url}: reply exceeds {max} bytes")]
    TooLarge { url: String, max: usize },
    #[error("stats page {url} did not answer within {after:?}")]
    Timeout { url: String, after: std::time::Duration },
    /// The page answered, but not with `show stat` CSV.
    #[error("stats page: {0}")]
    Csv(#[from] haproxy::ParseError),
}

/// What hawatch remembers about one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct ServerState {
    /// The last settled status string (no `x/y` suffix). `None` until the
    /// server has settled once (a server added while its first check runs).
    pub(crate) settled: Option<String>,
    /// The last meaningful health-check code (never `INI`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) check: Option<String>,
    /// The last meaningful agent-check code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) agent: Option<String>,
    /// First seen after the baseline (a server the config added) before it
    /// settled: `server_added` is told when it settles, with the state it
    /// settled in, and nothing is told if it goes away before that.
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) unannounced: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What hawatch remembers about one backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BackendState {
    /// Whether the backend had a usable server (its BACKEND row read `UP`).
    pub(crate) up: bool,
    /// `up` has not settled since the backend was first seen: some of its
    /// servers waited for their first check then. No `backend_up`/`backend_down`
    /// is told until it has.
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) unsettled: bool,
    pub(crate) servers: BTreeMap<String, ServerState>,
}

/// What hawatch remembers about one instance; persisted in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct InstanceState {
    /// At least one poll succeeded, so `backends` is a real baseline.
    pub(crate) seen: bool,
    pub(crate) reachable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// When the instance became unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) unreachable_since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) proc: Option<ProcInfo>,
    pub backends: BTreeMap<String, BackendState>,
}

impl InstanceState {
    pub fn server_count(&self) -> usize {
        self.backends.values().map(|b| b.servers.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12: `Uptime_sec` / `Start_time_sec` near u64::MAX overflowed
    /// the subtraction (a panic in debug builds, a wrapped time in release).
    #[test]
    fn absurd_start_times_and_uptimes_are_no_time() {
        let now = Utc::now();
        for v in [u64::MAX, i64::MAX as u64 + 1] {
            let up = Info {
                uptime_sec: Some(v),
                ..Info::default()
            };
            assert_eq!(ProcInfo::from_info(&up, now).start_time, None);
            let start = Info {
                start_time_sec: Some(v),
                ..Info::default()
            };
            assert_eq!(ProcInfo::from_info(&start, now).start_time, None);
        }
        let up = Info {
            uptime_sec: Some(i64::MAX as u64),
            ..Info::default()
        };
        assert_eq!(
            ProcInfo::from_info(&up, now).start_time,
            now.timestamp().checked_sub(i64::MAX)
        );
        let up = Info {
            uptime_sec: Some(5),
            ..Info::default()
        };
        assert_eq!(ProcInfo::from_info(&up, now).start_time, Some(now.timestamp() - 5));
    }

    /// A poll's error keeps the client's type: a permission error and a
    /// timeout are told apart without reading the text, and the text is
    /// the one the state and events always had.
    #[test]
    fn source_errors_stay_typed_and_keep_their_text() {
        let ep = "/run/haproxy/admin.sock".to_string();
        let perm = SourceError::from(haproxy::Error::PermissionDenied { endpoint: ep.clone() });
        let slow = SourceError::from(haproxy::Error::Timeout {
            endpoint: ep.clone(),
            after: std::time::Duration::from_millis(500),
        });
        assert!(matches!(
            perm,
            SourceError::Socket(haproxy::Error::PermissionDenied { .. })
        ));
        assert!(!perm.is_timeout() && slow.is_timeout());
        assert_eq!(
            perm.to_string(),
            "permission denied on stats socket /run/haproxy/admin.sock: run hawatch as a user that can write it (e.g. add it to the haproxy group and set `mode 660` on the `stats socket` line)"
        );
        assert_eq!(slow.to_string(), "/run/haproxy/admin.sock did not answer within 500ms");
        let http = SourceError::from(HttpError::Timeout {
            url: "http://127.0.0.1:8404/stats;csv".into(),
            after: std::time::Duration::from_secs(2),
        });
        assert!(http.is_timeout());
        assert_eq!(
            http.to_string(),
            "stats page http://127.0.0.1:8404/stats;csv did not answer within 2s"
        );
        assert_eq!(
            SourceError::from(haproxy::ReplyError::Truncated).to_string(),
            "truncated reply to `show stat` (no terminating empty line)"
        );
    }
}
