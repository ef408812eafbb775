//! A notice: one item of a message, what the noise policy decided to say.
//!
//! Events are what happened (all of them are stored); notices are what a sink
//! is told. Most notices carry one event as it happened; the others are made
//! by the policy: a flapping warning, the summary when flapping settles, a
//! reminder that something is still down, the close of an alert whose subject
//! disappeared. Notices are stored in the outbox as JSON (`docs/templates.md`
//! and `docs/sinks.md` describe the fields).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::event::{rfc3339, Event, Kind, Severity};

/// What kind of item this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NoticeKind {
    /// An event as it happened: a problem, a change, or a recovery.
    Event,
    /// The subject changed state more than `flap_threshold` times within
    /// `flap_window`; further changes are summarised until it settles.
    Flapping,
    /// A flapping subject has been stable for `flap_settle`: its state now.
    Settled,
    /// The problem is still there (`remind_every`).
    Reminder,
    /// An alert whose subject is gone (removed from HAProxy, or its instance
    /// removed from the config): closed without a recovery.
    Gone,
    /// `hawatch notify test`.
    Test,
}

impl NoticeKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Event => "event",
            NoticeKind::Flapping => "flapping",
            NoticeKind::Settled => "settled",
            NoticeKind::Reminder => "reminder",
            NoticeKind::Gone => "gone",
            NoticeKind::Test => "test",
        }
    }
}

/// A server of a backend, named in backend notices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ServerBrief {
    pub(crate) name: String,
    /// Its settled status (`UP`, `DOWN`, `MAINT`), if it has one.
    pub(crate) status: Option<String>,
}

/// One item of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Notice {
    pub(crate) kind: NoticeKind,
    /// How much it matters. For a recovery this is the severity of the alert
    /// it ends (so quiet hours let it through when the alert went through).
    pub(crate) severity: Severity,
    /// The event this is about: the event itself, or for policy notices the
    /// latest event of the subject (for reminders and `gone`: the problem).
    pub(crate) event: Event,
    /// This notice ends an alert (a recovery, a settle in a good state, gone).
    #[serde(default)]
    pub(crate) resolves: bool,
    /// When the problem this is about began.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_time")]
    pub(crate) since: Option<DateTime<Utc>>,
    /// How long it lasted (recovery) or has lasted so far (reminder), in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) duration_ms: Option<i64>,
    /// Flapping: state changes within the window; settled: changes while
    /// flapping; reminder: which reminder this is (1, 2, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) count: Option<u32>,
    /// Backend notices: the backend's servers and their status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) servers: Vec<ServerBrief>,
    /// Server events of the same poll told by this (backend) notice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) folded: Vec<Event>,
    /// Why the policy made this notice (`gone`: what disappeared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
    /// Told by the node without the VIP while it took over from a peer that
    /// was silent or could not deliver (docs/keepalived.md): the peer may
    /// tell it too, late. Set when the outbox row is read, never stored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) by_standby: bool,
}

impl Notice {
    /// A notice for an event as it happened.
    pub(crate) fn of(event: Event) -> Notice {
        Notice {
            kind: NoticeKind::Event,
            severity: event.severity,
            event,
            resolves: false,
            since: None,
            duration_ms: None,
            count: None,
            servers: Vec::new(),
            folded: Vec::new(),
            note: None,
            by_standby: false,
        }
    }

    /// Every event this notice carries, in the order they happened (the
    /// folded server events came before their backend's).
    pub(crate) fn events(&self) -> impl Iterator<Item = &Event> {
        self.folded.iter().chain(std::iter::once(&self.event))
    }

    /// What this notice says, the same on both nodes of a pair (no instance
    /// name, no event id: each node names its own), and when: the notice
    /// kind, the backend/server, the event kind, the new state, `@` the
    /// event's time in ms. `None` for an instance's own events: each node's
    /// HAProxy is its own.
    pub(crate) fn pair_key(&self) -> Option<String> {
        key_of(self.kind, &self.event)
    }

    /// [`Notice::pair_key`] and the keys of the events it folds (as if each
    /// were told alone): what a node reports it told.
    pub(crate) fn pair_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.pair_key()
            .into_iter()
            .chain(self.folded.iter().filter_map(|e| key_of(NoticeKind::Event, e)))
    }

    /// Whether quiet hours let it through.
    pub(crate) fn urgent(&self) -> bool {
        self.severity == Severity::Critical
    }

    /// A problem that is open after this notice (for Alertmanager): the
    /// event kind that fires, if any.
    pub(crate) fn fires(&self) -> Option<Kind> {
        if self.resolves {
            return None;
        }
        match self.kind {
            NoticeKind::Event | NoticeKind::Reminder | NoticeKind::Settled if self.event.kind.is_problem() => {
                Some(self.event.kind)
            }
            _ => None,
        }
    }
}

mod opt_time {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => rfc3339::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "rfc3339")] DateTime<Utc>);
        Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
    }
}

fn key_of(kind: NoticeKind, e: &Event) -> Option<String> {
    let backend = e.backend.as_deref()?;
    Some(format!(
        "{}|{backend}/{}|{}|{}@{}",
        kind.as_str(),
        e.server.as_deref().unwrap_or(""),
        e.kind.as_str(),
        e.to.as_deref().unwrap_or(""),
        e.time.timestamp_millis()
    ))
}

/// A key's what and when.
fn split_key(k: &str) -> Option<(&str, i64)> {
    let (what, at) = k.rsplit_once('@')?;
    Some((what, at.parse().ok()?))
}

/// What the other node of a pair reported it told ([`Notice::pair_keys`]),
/// each key good for one notice of this node's.
pub struct Told(Vec<(String, i64, bool)>);

impl Told {
    /// Keys that do not read as `WHAT@MS` are left out (untrusted).
    pub fn new(keys: &[String]) -> Told {
        Told(
            keys.iter()
                .filter_map(|k| split_key(k).map(|(w, t)| (w.to_string(), t, false)))
                .collect(),
        )
    }

    /// Whether the other node told this notice already (see [`Told::take_key`]).
    pub(crate) fn take(&mut self, n: &Notice, skew_ms: i64) -> bool {
        let Some(mine) = n.pair_key() else { return false };
        match split_key(&mine) {
            Some((what, at)) => self.take_key(what, at, skew_ms),
            None => false,
        }
    }

    /// Whether an unused key says `what` of an event at most `skew_ms` from
    /// `at_ms` (the two nodes see one change at different polls); the
    /// nearest such key is used up.
    pub fn take_key(&mut self, what: &str, at_ms: i64, skew_ms: i64) -> bool {
        let nearest = self
            .0
            .iter_mut()
            .filter(|(w, t, used)| !used && w == what && t.abs_diff(at_ms) <= skew_ms.unsigned_abs())
            .min_by_key(|(_, t, _)| t.abs_diff(at_ms));
        match nearest {
            Some(k) => {
                k.2 = true;
                true
            }
            None => false,
        }
    }

    /// How many keys were read.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down(server: &str, ms: i64) -> Notice {
        let mut e = Event::new("lb2", Kind::ServerDown, Severity::Critical, "");
        (e.backend, e.server, e.to) = (Some("app".into()), Some(server.into()), Some("DOWN".into()));
        e.time = DateTime::from_timestamp_millis(ms).unwrap();
        Notice::of(e)
    }

    #[test]
    fn each_key_the_peer_told_skips_one_notice_the_nearest() {
        let key = |ms: i64| format!("event|app/s1|server_down|DOWN@{ms}");
        let mut told = Told::new(&[key(1_000), "garbage".into(), key(i64::MIN), format!("x@{}", i64::MAX)]);
        // Two DOWNs here within 10 s of the one the peer told: one is its.
        assert!(told.take(&down("s1", 2_000), 10_000));
        assert!(!told.take(&down("s1", 8_000), 10_000));
        // Another server, or the same too far apart: not told.
        let mut told = Told::new(&[key(1_000)]);
        assert!(!told.take(&down("s2", 1_000), 10_000));
        assert!(!told.take(&down("s1", 11_001), 10_000));
        assert!(told.take(&down("s1", -9_000), 10_000));
        // An instance's own event is never the peer's.
        let mut e = down("s1", 1_000);
        (e.event.backend, e.event.server) = (None, None);
        assert!(!Told::new(&[key(1_000)]).take(&e, 10_000));
    }
}
