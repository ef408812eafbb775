//! The noise policy: which events become notices, and when. Pure: it works on
//! one sink's [`Subject`] states (kept in the store between calls) and never
//! does I/O, so every rule here is unit-tested.
//!
//! Per subject (an instance, a backend or a server) and per sink:
//! - a **problem** (`server_down`, `backend_down`, `instance_unreachable`)
//!   opens an alert; with `notify_after` it is held first, and a recovery
//!   within that time drops both (the history still has them);
//! - a **recovery** closes the alert and says how long it lasted; with
//!   `resolve_after` it is held, and a relapse within that time drops both
//!   (the alert simply stays open);
//! - more than `flap_threshold` state changes within `flap_window` send one
//!   `flapping` notice; later changes are only counted until the subject has
//!   been stable for `flap_settle`, which sends one `settled` notice. This
//!   holds for every subject kind: a server's state, a backend's UP/DOWN, an
//!   instance's reachable/unreachable;
//! - while a backend or an instance flaps, its servers (and backends) are
//!   absorbed: their changes are counted but say nothing, the parent's
//!   notices speak for them; when they settle, only a child that settled in
//!   a problem (or whose told alert it ends) says so, folded into the
//!   parent's `settled` notice when they settle together;
//! - an alert still open after `remind_every` gets a reminder, at most
//!   `remind_max` of them, unless its backend or instance is down too;
//! - an alert whose subject disappeared is closed with a `gone` notice.
//!
//! Routing ([`super::route`]) decides which events a sink follows; a recovery
//! of an alert the sink was told about always reaches it.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::event::{Event, Kind, Severity};
use crate::model::notice::{Notice, NoticeKind};

/// The timing rules of one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(crate) notify_after: Duration,
    pub(crate) resolve_after: Duration,
    /// More changes than this within `flap_window` is flapping; 0 disables.
    pub(crate) flap_threshold: u32,
    pub(crate) flap_window: Duration,
    pub(crate) flap_settle: Duration,
    /// Zero disables reminders.
    pub(crate) remind_every: Duration,
    pub(crate) remind_max: u32,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            notify_after: Duration::ZERO,
            resolve_after: Duration::ZERO,
            flap_threshold: 5,
            flap_window: Duration::from_secs(600),
            flap_settle: Duration::from_secs(300),
            remind_every: Duration::ZERO,
            remind_max: 3,
        }
    }
}

/// An alert the sink knows about (or is about to, when `notified` is false).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Open {
    /// The problem event that opened it.
    pub(crate) event: Event,
    pub(crate) since: DateTime<Utc>,
    /// The sink was told (false while held by `notify_after`).
    pub(crate) notified: bool,
    #[serde(default)]
    pub(crate) reminders: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) next_remind_ms: Option<i64>,
}

/// A notice waiting for `notify_after` / `resolve_after`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Held {
    pub(crate) notice: Notice,
    pub(crate) due_ms: i64,
}

/// A subject that is flapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Flapping {
    pub(crate) since: DateTime<Utc>,
    /// Changes since flapping began (including those that triggered it).
    pub(crate) count: u32,
    pub(crate) last: Event,
    pub(crate) last_change_ms: i64,
    /// The sink was told it is flapping.
    pub(crate) notified: bool,
    /// It started while its backend or instance was flapping: that
    /// subject's notices spoke for it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) absorbed: bool,
}

/// Everything the policy remembers about one subject for one sink.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Subject {
    // The parts are boxed: a subject is mostly empty, and a mass outage keeps
    // ~11,000 of them in a map for one commit (inline, each would take the
    // room of three events and a notice, ~2.7 KB, open or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) open: Option<Box<Open>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) held: Option<Box<Held>>,
    /// Times (ms) of recent state changes, for flap detection.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub(crate) changes: VecDeque<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) flapping: Option<Box<Flapping>>,
    /// When a server left UP (for "was in MAINT for 3m" on its return).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) left_up_ms: Option<i64>,
}

impl Subject {
    /// Nothing worth keeping: the row can be deleted.
    pub(crate) fn is_idle(&self) -> bool {
        self.open.is_none()
            && self.held.is_none()
            && self.flapping.is_none()
            && self.changes.is_empty()
            && self.left_up_ms.is_none()
    }

    /// An alert the sink was told about and that is still open.
    pub(crate) fn alerting(&self) -> bool {
        self.open.as_ref().is_some_and(|o| o.notified) || self.flapping.as_ref().is_some_and(|f| f.notified)
    }

    /// When [`tick`] has something to do for this subject.
    pub(crate) fn due_ms(&self, p: &Policy) -> Option<i64> {
        let held = self.held.as_ref().map(|h| h.due_ms);
        let settle = self
            .flapping
            .as_ref()
            .map(|f| f.last_change_ms + p.flap_settle.as_millis() as i64);
        let remind = self
            .open
            .as_ref()
            .filter(|o| o.notified && self.flapping.is_none())
            .and_then(|o| o.next_remind_ms);
        let window = self.changes.front().map(|t| t + p.flap_window.as_millis() as i64);
        [held, settle, remind, window].into_iter().flatten().min()
    }
}

/// The subject key of an event: `inst`, `inst/backend` or `inst/backend/server`.
pub(crate) fn key(e: &Event) -> String {
    match (&e.backend, &e.server) {
        (Some(b), Some(s)) => format!("{}/{b}/{s}", e.instance),
        (Some(b), None) => format!("{}/{b}", e.instance),
        _ => e.instance.clone(),
    }
}

/// The keys whose open alerts make this one's reminders redundant.
pub(crate) fn parents(key: &str) -> Vec<String> {
    let parts: Vec<&str> = key.splitn(3, '/').collect();
    (1..parts.len()).map(|n| parts[..n].join("/")).collect()
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn dur_ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

fn is_up(e: &Event) -> bool {
    matches!(e.kind, Kind::ServerUp | Kind::ServerReady)
}

/// What flap detection counts: a change of a subject's state (a server's
/// state or removal, a backend's UP/DOWN, an instance's reachability).
fn is_flap_change(k: Kind) -> bool {
    k.is_server_state()
        || matches!(
            k,
            Kind::ServerRemoved
                | Kind::BackendDown
                | Kind::BackendUp
                | Kind::InstanceUnreachable
                | Kind::InstanceRecovered
        )
}

/// Applies one event to its subject. `routed` says whether the sink's route
/// matches the event; recoveries of alerts the sink knows pass regardless.
/// `notice` is the event's notice (with the backend's servers when relevant).
#[cfg(test)]
pub(crate) fn on_event(p: &Policy, s: &mut Subject, notice: Notice, routed: bool) -> Vec<Notice> {
    on_event_under(p, s, notice, routed, false)
}

/// [`on_event`] for a subject whose backend or instance may be flapping
/// (`parent_flapping`): then the parent's notices speak for this one, which
/// only counts its changes until it settles.
pub(crate) fn on_event_under(
    p: &Policy,
    s: &mut Subject,
    notice: Notice,
    routed: bool,
    parent_flapping: bool,
) -> Vec<Notice> {
    let e = notice.event.clone();
    let now = ms(e.time);
    let change = is_flap_change(e.kind);
    // How long the server was away from UP, for its return.
    let mut away = None;
    if e.kind.is_server_state() {
        if is_up(&e) {
            away = s.left_up_ms.take().map(|t| now - t);
        } else if s.left_up_ms.is_none() {
            s.left_up_ms = Some(now);
        }
    } else if e.kind == Kind::ServerRemoved {
        s.left_up_ms = None;
    }
    if change {
        s.changes.push_back(now);
        prune_changes(p, s, now);
    }

    if let Some(f) = s.flapping.as_mut() {
        if change {
            f.count += 1;
            f.last = e;
            f.last_change_ms = now;
        }
        return Vec::new();
    }

    if parent_flapping {
        if change && e.kind != Kind::ServerRemoved {
            // Absorbed: say nothing now, settle with the rest.
            s.held = None;
            if s.open.as_ref().is_some_and(|o| !o.notified) {
                s.open = None;
            }
            s.flapping = Some(Box::new(Flapping {
                since: e.time,
                count: 1,
                last: e.clone(),
                last_change_ms: now,
                notified: false,
                absorbed: true,
            }));
        }
        if e.kind != Kind::ServerRemoved {
            return Vec::new();
        }
    }

    if change && p.flap_threshold > 0 && s.changes.len() as u32 > p.flap_threshold && e.kind != Kind::ServerRemoved {
        let notify = routed || s.open.as_ref().is_some_and(|o| o.notified);
        // A held notice is absorbed: the flapping notice tells it.
        s.held = None;
        if s.open.as_ref().is_some_and(|o| !o.notified) {
            s.open = None;
        }
        s.flapping = Some(Box::new(Flapping {
            since: e.time,
            count: s.changes.len() as u32,
            last: e.clone(),
            last_change_ms: now,
            notified: notify,
            absorbed: false,
        }));
        if !notify {
            return Vec::new();
        }
        let mut n = Notice::of(e);
        n.kind = NoticeKind::Flapping;
        n.severity = Severity::Warning.max(n.severity);
        n.count = Some(s.changes.len() as u32);
        n.since = s.changes.front().and_then(|t| DateTime::from_timestamp_millis(*t));
        return vec![n];
    }

    let is_check = |k: Kind| matches!(k, Kind::CheckChanged | Kind::AgentChanged);
    // A state change tells its check result itself: a held check notice is moot.
    if change && s.held.as_ref().is_some_and(|h| is_check(h.notice.event.kind)) {
        s.held = None;
    }
    if is_check(e.kind) {
        // While an alert is open, its recovery will tell; a check result that
        // changes and changes back within `notify_after` says nothing.
        if s.open.is_some() || !routed {
            return Vec::new();
        }
        if let Some(h) = s.held.as_ref().filter(|h| h.notice.event.kind == e.kind) {
            if h.notice.event.from == e.to {
                s.held = None;
                return Vec::new();
            }
            // The latest result replaces the held one (events are never edited).
            s.held = Some(Box::new(Held {
                notice,
                due_ms: h.due_ms,
            }));
            return Vec::new();
        }
        if p.notify_after.is_zero() || s.held.is_some() {
            return vec![notice];
        }
        s.held = Some(Box::new(Held {
            notice,
            due_ms: now + dur_ms(p.notify_after),
        }));
        return Vec::new();
    }

    if e.kind.is_problem() {
        if s.held.as_ref().is_some_and(|h| h.notice.resolves) {
            // A relapse within `resolve_after`: the alert just stays open.
            s.held = None;
            return Vec::new();
        }
        if s.open.is_some() || !routed {
            return Vec::new();
        }
        let mut open = Open {
            event: e.clone(),
            since: e.time,
            notified: false,
            reminders: 0,
            next_remind_ms: None,
        };
        if p.notify_after.is_zero() {
            open.notified = true;
            open.next_remind_ms = (!p.remind_every.is_zero()).then(|| now + dur_ms(p.remind_every));
            s.open = Some(Box::new(open));
            return vec![notice];
        }
        s.open = Some(Box::new(open));
        s.held = Some(Box::new(Held {
            notice,
            due_ms: now + dur_ms(p.notify_after),
        }));
        return Vec::new();
    }

    if let Some(open) = s.open.as_ref().filter(|o| e.kind.resolves(o.event.kind)) {
        if !open.notified {
            // A blip shorter than `notify_after`: nothing to say.
            s.open = None;
            s.held = None;
            return Vec::new();
        }
        let mut n = notice;
        n.resolves = true;
        n.severity = open.event.severity.max(n.severity);
        n.since = Some(open.since);
        n.duration_ms = Some(now - ms(open.since));
        if p.resolve_after.is_zero() {
            s.open = None;
            return vec![n];
        }
        s.held = Some(Box::new(Held {
            notice: n,
            due_ms: now + dur_ms(p.resolve_after),
        }));
        return Vec::new();
    }

    if !routed {
        return Vec::new();
    }
    let mut n = notice;
    if let Some(d) = away {
        n.duration_ms = Some(d);
        n.since = DateTime::from_timestamp_millis(now - d);
    }
    vec![n]
}

fn prune_changes(p: &Policy, s: &mut Subject, now: i64) {
    let oldest = now - dur_ms(p.flap_window);
    while s.changes.front().is_some_and(|t| *t < oldest) {
        s.changes.pop_front();
    }
}

/// Time passes: held notices come due, flapping settles, reminders fire.
/// `parent_alerting` says whether the subject's backend or instance has an
/// open alert (its reminders then speak for this one).
pub(crate) fn tick(p: &Policy, s: &mut Subject, now: DateTime<Utc>, parent_alerting: bool) -> Vec<Notice> {
    let now_ms = ms(now);
    let mut out = Vec::new();
    prune_changes(p, s, now_ms);
    if let Some(h) = s.held.take_if(|h| h.due_ms <= now_ms) {
        if h.notice.resolves {
            s.open = None;
        } else if let Some(o) = s.open.as_mut() {
            o.notified = true;
            o.next_remind_ms = (!p.remind_every.is_zero()).then(|| h.due_ms + dur_ms(p.remind_every));
        }
        out.push(h.notice);
    }
    if let Some(f) = s
        .flapping
        .take_if(|f| f.last_change_ms + dur_ms(p.flap_settle) <= now_ms)
    {
        s.changes.clear();
        let down = f.last.kind.is_problem();
        // An absorbed subject speaks only if it settled in a problem or ends
        // an alert the sink was told about.
        let told_open = s.open.as_ref().is_some_and(|o| o.notified);
        let speak = f.notified || (f.absorbed && (down || told_open));
        let mut n = Notice::of(f.last.clone());
        n.kind = NoticeKind::Settled;
        n.count = Some(f.count);
        match (s.open.take(), down) {
            (Some(mut o), true) => {
                n.since = Some(o.since);
                n.duration_ms = Some(now_ms - ms(o.since));
                n.severity = o.event.severity;
                o.next_remind_ms = (!p.remind_every.is_zero()).then(|| now_ms + dur_ms(p.remind_every));
                s.open = Some(o);
            }
            (Some(o), false) => {
                n.resolves = true;
                n.since = Some(o.since);
                n.duration_ms = Some(ms(f.last.time) - ms(o.since));
                n.severity = o.event.severity.max(n.severity);
            }
            (None, true) => {
                n.since = Some(f.last.time);
                n.severity = f.last.severity;
                if speak {
                    s.open = Some(Box::new(Open {
                        event: f.last.clone(),
                        since: f.last.time,
                        notified: true,
                        reminders: 0,
                        next_remind_ms: (!p.remind_every.is_zero()).then(|| now_ms + dur_ms(p.remind_every)),
                    }));
                }
            }
            (None, false) => n.severity = Severity::Info,
        }
        if speak {
            out.push(n);
        }
    }
    if s.flapping.is_none() {
        if let Some(o) = s.open.as_mut().filter(|o| o.notified) {
            if let Some(next) = o.next_remind_ms.filter(|t| *t <= now_ms) {
                if o.reminders >= p.remind_max || p.remind_every.is_zero() {
                    o.next_remind_ms = None;
                } else {
                    o.reminders += 1;
                    o.next_remind_ms = Some(next + dur_ms(p.remind_every)).filter(|_| o.reminders < p.remind_max);
                    if !parent_alerting {
                        let mut n = Notice::of(o.event.clone());
                        n.kind = NoticeKind::Reminder;
                        n.count = Some(o.reminders);
                        n.since = Some(o.since);
                        n.duration_ms = Some(now_ms - ms(o.since));
                        out.push(n);
                    }
                }
            }
        }
    }
    out
}

/// Closes an alert whose subject is gone; `why` becomes the notice's note.
pub(crate) fn close_gone(s: &mut Subject, now: DateTime<Utc>, why: &str) -> Option<Notice> {
    s.held = None;
    s.changes.clear();
    s.left_up_ms = None;
    let flapping = s.flapping.take();
    let open = s.open.take();
    let notified = open.as_ref().is_some_and(|o| o.notified) || flapping.as_ref().is_some_and(|f| f.notified);
    if !notified {
        return None;
    }
    let (event, since, severity) = match (open, flapping) {
        (Some(o), _) => (o.event.clone(), o.since, o.event.severity),
        (None, Some(f)) => (f.last.clone(), f.since, Severity::Warning),
        (None, None) => return None,
    };
    let mut n = Notice::of(event);
    n.kind = NoticeKind::Gone;
    n.resolves = true;
    n.severity = severity;
    n.since = Some(since);
    n.duration_ms = Some(ms(now) - ms(since));
    n.note = Some(why.to_string());
    Some(n)
}

/// Groups the notices of one poll: a backend notice tells the server notices
/// of the same direction in its backend (one message naming its servers, not
/// one per server).
pub(crate) fn fold(notices: Vec<Notice>) -> Vec<Notice> {
    // (instance, backend, down, settled): a `settled` backend notice takes
    // the `settled` notices of its servers that settled the same way.
    type Head = (String, String, bool, bool);
    let foldable = |k: NoticeKind| matches!(k, NoticeKind::Event | NoticeKind::Settled);
    let backend_of = |n: &Notice| -> Option<Head> {
        (foldable(n.kind) && n.event.server.is_none()).then_some(())?;
        let b = n.event.backend.clone()?;
        let settled = n.kind == NoticeKind::Settled;
        match n.event.kind {
            Kind::BackendDown => Some((n.event.instance.clone(), b, true, settled)),
            Kind::BackendUp => Some((n.event.instance.clone(), b, false, settled)),
            _ => None,
        }
    };
    let heads: BTreeMap<Head, usize> = notices
        .iter()
        .enumerate()
        .filter_map(|(i, n)| backend_of(n).map(|k| (k, i)))
        .collect();
    if heads.is_empty() {
        return notices;
    }
    let mut folded: BTreeMap<usize, Vec<Event>> = BTreeMap::new();
    // Not `with_capacity(notices.len())`: most of a mass outage's notices
    // are folded away, and room for all of them is megabytes.
    let mut keep = Vec::new();
    for n in notices {
        let target = (foldable(n.kind) && n.event.server.is_some())
            .then(|| {
                let down = match n.event.kind {
                    Kind::ServerDown => true,
                    Kind::ServerUp | Kind::ServerReady => false,
                    _ => return None,
                };
                let settled = n.kind == NoticeKind::Settled;
                heads
                    .get(&(n.event.instance.clone(), n.event.backend.clone()?, down, settled))
                    .copied()
            })
            .flatten();
        match target {
            Some(i) => folded.entry(i).or_default().push(n.event),
            None => keep.push(Some(n)),
        }
    }
    // `keep` lost the folded entries, so map original indices to positions.
    let mut out: Vec<Notice> = keep.into_iter().flatten().collect();
    for n in out.iter_mut() {
        if let Some(k) = backend_of(n) {
            if let Some(i) = heads.get(&k) {
                if let Some(evs) = folded.remove(i) {
                    n.folded.extend(evs);
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
