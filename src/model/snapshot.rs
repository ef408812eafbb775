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
    pub pid: Option<u64>,
    /// Unix time the worker started: `Start_time_sec`, or now − uptime.
    pub start_time: Option<i64>,
    /// True when `start_time` was derived from the uptime (±1 s of jitter).
    #[serde(default)]
    pub start_time_derived: bool,
    pub version: Option<String>,
    pub node: Option<String>,
}

impl ProcInfo {
    pub fn from_info(info: &Info, now: DateTime<Utc>) -> ProcInfo {
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
pub type Observation = Result<Snapshot, String>;

/// What hawatch remembers about one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ServerState {
    /// The last settled status string (no `x/y` suffix). `None` until the
    /// server has settled once (a server added while its first check runs).
    pub settled: Option<String>,
    /// The last meaningful health-check code (never `INI`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// The last meaningful agent-check code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// First seen after the baseline (a server the config added) before it
    /// settled: `server_added` is told when it settles, with the state it
    /// settled in, and nothing is told if it goes away before that.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unannounced: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What hawatch remembers about one backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BackendState {
    /// Whether the backend had a usable server (its BACKEND row read `UP`).
    pub up: bool,
    /// `up` has not settled since the backend was first seen: some of its
    /// servers waited for their first check then. No `backend_up`/`backend_down`
    /// is told until it has.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unsettled: bool,
    pub servers: BTreeMap<String, ServerState>,
}

/// What hawatch remembers about one instance; persisted in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct InstanceState {
    /// At least one poll succeeded, so `backends` is a real baseline.
    pub seen: bool,
    pub reachable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the instance became unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc: Option<ProcInfo>,
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
}
