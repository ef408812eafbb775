//! Who tells HAProxy's events in a pair (`backend_alerts = "vip-holder"`),
//! and when the node without the VIP takes over because the holder's watcher
//! is dead, hung, or cannot deliver (docs/keepalived.md, "When a watcher
//! dies"). Pure: the peer watch feeds it, once a second, the time, whether
//! this node holds a VIP and what the peer answered; it applies the
//! [`Step`] this returns (rows to tell or drop, takeover events).
//!
//! Each node keeps a role per sink:
//!
//! | role | this node holds a VIP | its rows of HAProxy's events |
//! |---|---|---|
//! | `starting` | yes, peer not heard yet | held until the peer answers (it may be in a takeover) |
//! | `active` | yes | told |
//! | `yield` | yes, the peer took this sink over | held; dropped when the peer hands back |
//! | `standby` | no | held; dropped once the peer has told them |
//! | `takeover` | no, the peer is silent, hung or stuck | told, marked `by_standby` |
//!
//! The peer reports ages, never times, so the nodes' clocks need not agree.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// At most this many instances and sinks are reported or read: the answer
/// stays small whatever the peer sends.
pub const MAX_ITEMS: usize = 64;

/// Ages read from the peer are capped at a day.
pub const MAX_AGE_MS: u64 = 86_400_000;

/// A node reports what it told this far back: far more than the
/// [`SKEW_MS`] and the second between two looks that a release reaches
/// back over.
pub const TOLD_WINDOW_MS: i64 = 60_000;

/// The longest key of `told` that is read.
const MAX_KEY: usize = 512;

/// How far apart the two nodes may see one change of HAProxy's: each polls
/// its own HAProxy, whose health checks run on their own clocks (default
/// `inter 2s fall 3`: up to one `inter` apart, plus a poll interval each).
/// A standby keeps what it holds until the peer has told everything up to
/// this much later, so the peer's copy of the same change is among it; a
/// takeover tells again what the peer may have told in this window (marked).
pub const SKEW_MS: i64 = 10_000;

/// How a node of a pair (`backend_alerts = "vip-holder"`) tells a sink's
/// notices about HAProxy's instances just now (`logic::pair` decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Telling {
    /// Send them: this node tells (no pair, or it holds the VIP).
    #[default]
    Tell,
    /// Keep them unsent: the other node tells them. They are told later if
    /// this node takes over before the peer did, dropped once it did.
    Hold,
    /// Send them, marked as told by the standby (a takeover).
    Standby,
}

impl Telling {
    /// The outbox's `pair` column.
    pub fn column(self) -> i64 {
        match self {
            Telling::Tell => 0,
            Telling::Hold => 1,
            Telling::Standby => 2,
        }
    }
}

/// A node's role for one sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Starting,
    Active,
    Yield,
    Standby,
    Takeover,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Starting => "starting",
            Role::Active => "active",
            Role::Yield => "yield",
            Role::Standby => "standby",
            Role::Takeover => "takeover",
        }
    }

    /// How rows of HAProxy's events are told in this role.
    pub fn telling(self) -> Telling {
        match self {
            Role::Active => Telling::Tell,
            Role::Takeover => Telling::Standby,
            Role::Starting | Role::Yield | Role::Standby => Telling::Hold,
        }
    }
}

/// One instance's poller, as a node reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollReport {
    pub name: String,
    /// Since the last poll finished and was recorded, HAProxy answering or
    /// not: a poll that finds HAProxy down is news the node tells, and
    /// keepalived moves the VIP for it.
    pub last_poll_age_ms: Option<u64>,
    /// Since the last poll HAProxy answered: what the node has seen of
    /// HAProxy goes up to then (its own HAProxy down, it cannot see a
    /// backend change, whatever it tells). `None`: never.
    #[serde(default)]
    pub last_success_age_ms: Option<u64>,
    /// Later than this, the poller is stuck (3 × (interval + timeout)).
    pub late_after_ms: u64,
}

/// One sink, as a node reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SinkReport {
    pub name: String,
    pub role: Role,
    /// Messages waiting to be sent now.
    pub pending: i64,
    /// The oldest of them: how long it has waited.
    pub oldest_pending_age_ms: Option<u64>,
    /// The oldest message not yet sent, also if quiet hours hold it: the
    /// node has told everything written before it.
    #[serde(default)]
    pub oldest_unsent_age_ms: Option<u64>,
    /// Since the last delivery that succeeded.
    pub last_success_age_ms: Option<u64>,
    /// Since this node's takeover of this sink ended.
    pub takeover_ended_age_ms: Option<u64>,
    /// What this node delivered through the sink lately ([`TOLD_WINDOW_MS`]),
    /// as [`Notice::pair_key`](crate::model::notice::Notice::pair_key)s: the
    /// other node does not tell these again when it starts telling.
    #[serde(default)]
    pub told: Vec<String>,
}

/// What a node says of its alerting (`pair` in `GET /api/vrrp`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PairReport {
    pub holds_vip: bool,
    #[serde(default)]
    pub instances: Vec<PollReport>,
    #[serde(default)]
    pub sinks: Vec<SinkReport>,
}

impl PairReport {
    /// Keeps at most [`MAX_ITEMS`] of each list, and ages of at most a day
    /// (a larger one says nothing more, and would reach back to 1970).
    pub fn bounded(mut self) -> PairReport {
        self.instances.truncate(MAX_ITEMS);
        self.sinks.truncate(MAX_ITEMS);
        let cap = |a: &mut Option<u64>| {
            if let Some(v) = a {
                *v = (*v).min(MAX_AGE_MS);
            }
        };
        for i in &mut self.instances {
            cap(&mut i.last_poll_age_ms);
            cap(&mut i.last_success_age_ms);
            i.late_after_ms = i.late_after_ms.min(MAX_AGE_MS);
        }
        for s in &mut self.sinks {
            cap(&mut s.oldest_pending_age_ms);
            cap(&mut s.oldest_unsent_age_ms);
            cap(&mut s.last_success_age_ms);
            cap(&mut s.takeover_ended_age_ms);
            s.told.truncate(MAX_ITEMS);
            s.told.retain(|k| k.len() <= MAX_KEY);
        }
        self
    }

    /// Up to when this node has seen HAProxy: the last poll each HAProxy
    /// answered. `None` if some instance never answered.
    fn seen_lag_ms(&self) -> Option<u64> {
        let mut lag = 0;
        for i in &self.instances {
            lag = lag.max(i.last_success_age_ms?);
        }
        Some(lag)
    }

    /// Up to when this node has told what it saw: that, and its oldest
    /// unsent message.
    fn lag_ms(&self, sink: &SinkReport) -> Option<u64> {
        let unsent = sink.oldest_unsent_age_ms.or(sink.oldest_pending_age_ms).unwrap_or(0);
        Some(self.seen_lag_ms()?.max(unsent))
    }

    fn sink(&self, name: &str) -> Option<&SinkReport> {
        self.sinks.iter().find(|s| s.name == name)
    }

    /// The first poller that is late, with how late.
    fn late_poller(&self, takeover_after: u64) -> Option<(&str, u64)> {
        self.instances.iter().find_map(|i| {
            let age = i.last_poll_age_ms?;
            (age >= i.late_after_ms.max(takeover_after)).then_some((i.name.as_str(), age))
        })
    }
}

/// What the peer watch saw this second.
pub enum Peer<'a> {
    /// The peer's hawatch did not answer (or not in time): why.
    Silent(&'a str),
    /// It answered; `None`: an older hawatch without a `pair` report.
    Answered(Option<&'a PairReport>),
}

/// `[keepalived]`'s takeover timing, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub takeover_after: u64,
    pub takeover_after_stuck: u64,
    pub handback_after: u64,
}

/// What to do with rows already written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Held rows of `sink` written at or after `from_ms` are told now,
    /// except notices whose key is in `skip` (the peer told those).
    Release {
        sink: String,
        from_ms: i64,
        telling: Telling,
        skip: Vec<String>,
    },
    /// Held rows of `sink` written before `before_ms` were told by the peer.
    Discard { sink: String, before_ms: i64 },
}

/// The outcome of one look.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    pub actions: Vec<Action>,
    /// This node began telling for its peer: the sinks and why.
    pub takeover: Option<(Vec<String>, String)>,
    /// It stopped: why.
    pub handback: Option<String>,
    /// Roles that changed: (sink, from, to).
    pub changed: Vec<(String, Role, Role)>,
}

#[derive(Debug, Clone, Default)]
struct SinkState {
    role: Role,
    /// Standby: the peer had told everything written before this (my clock).
    covered_ms: Option<i64>,
    /// Standby: the peer had seen HAProxy up to this (told or about to be).
    seen_ms: Option<i64>,
    /// Standby: since when the holder has reported itself `starting`.
    peer_starting_since: Option<i64>,
    /// Active / takeover: held rows from this on are told.
    tell_from_ms: i64,
    /// Takeover: since when the peer looks able to tell this sink again.
    healthy_since: Option<i64>,
    /// When this node's last takeover of the sink ended.
    ended_ms: Option<i64>,
    /// What the peer said it told lately (its last answer).
    peer_told: Vec<String>,
}

/// The roles of one node.
#[derive(Debug, Clone)]
pub struct Pair {
    times: Times,
    started_ms: i64,
    /// Held rows from this on may be this node's to tell: its start, or the
    /// start of a gap in its looks.
    held_since_ms: i64,
    last_answer_ms: Option<i64>,
    /// The peer has sent a `pair` report (it is not an older hawatch).
    reported: bool,
    /// The last look: roles older than `takeover_after` are stale (this
    /// process was frozen, or its peer watch stuck), and the peer may have
    /// taken over meanwhile.
    last_step_ms: Option<i64>,
    sinks: BTreeMap<String, SinkState>,
}

impl Pair {
    pub fn new(times: Times, sinks: &[String], now_ms: i64) -> Pair {
        Pair {
            times,
            started_ms: now_ms,
            held_since_ms: now_ms,
            last_answer_ms: None,
            reported: false,
            last_step_ms: None,
            sinks: sinks.iter().map(|s| (s.clone(), SinkState::default())).collect(),
        }
    }

    pub fn role(&self, sink: &str) -> Role {
        self.sinks.get(sink).map(|s| s.role).unwrap_or_default()
    }

    /// How rows of HAProxy's events for `sink` are written at `now_ms`:
    /// held while the roles are stale (not looked at for `takeover_after`),
    /// since the peer may have taken over meanwhile.
    pub fn telling(&self, sink: &str, now_ms: i64) -> Telling {
        let stale = self
            .last_step_ms
            .is_none_or(|t| (now_ms - t).max(0) as u64 >= self.times.takeover_after);
        if stale && self.last_step_ms.is_some() {
            Telling::Hold
        } else {
            self.role(sink).telling()
        }
    }

    /// The role `/api/vrrp` reports: `starting` while the roles are stale
    /// (what is written meanwhile is held, see [`Pair::telling`]).
    pub fn reported_role(&self, sink: &str, now_ms: i64) -> Role {
        match (self.role(sink), self.telling(sink, now_ms)) {
            (Role::Active, Telling::Hold) => Role::Starting,
            (r, _) => r,
        }
    }

    /// Since this node's takeover of `sink` ended, in ms.
    pub fn ended_age_ms(&self, sink: &str, now_ms: i64) -> Option<u64> {
        let e = self.sinks.get(sink)?.ended_ms?;
        Some((now_ms - e).max(0) as u64)
    }

    /// The node's role as one word: `takeover` if it tells any sink for its
    /// peer, else `active` if it tells any, else `standby`.
    pub fn node_role(&self) -> Role {
        let roles: Vec<Role> = self.sinks.values().map(|s| s.role).collect();
        if roles.contains(&Role::Takeover) {
            Role::Takeover
        } else if roles.contains(&Role::Active) {
            Role::Active
        } else {
            Role::Standby
        }
    }

    fn taken_over(&self) -> BTreeSet<String> {
        self.sinks
            .iter()
            .filter(|(_, s)| s.role == Role::Takeover)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// One look: `mine` is whether this node holds a VIP.
    pub fn step(&mut self, now_ms: i64, mine: bool, peer: &Peer) -> Step {
        let t = self.times;
        if let Some(last) = self.last_step_ms {
            if (now_ms - last).max(0) as u64 >= t.takeover_after {
                // A gap (frozen, or the peer watch stuck): as after a start,
                // the holder waits for the peer's answer before it tells
                // (up to `takeover_after` from now); what was held since the
                // last look is its to tell if the peer did not take over.
                self.started_ms = now_ms;
                self.held_since_ms = last;
                self.last_answer_ms = None;
                for st in self.sinks.values_mut() {
                    if st.role == Role::Active {
                        st.role = Role::Starting;
                    }
                }
            }
        }
        self.last_step_ms = Some(now_ms);
        if matches!(peer, Peer::Answered(_)) {
            self.last_answer_ms = Some(now_ms);
        }
        if matches!(peer, Peer::Answered(Some(_))) {
            self.reported = true;
        }
        let heard_ms = self.last_answer_ms.unwrap_or(self.started_ms);
        let silent_ms = (now_ms - heard_ms).max(0) as u64;
        let before = self.taken_over();
        let mut step = Step::default();
        let mut reasons = BTreeSet::new();
        let names: Vec<String> = self.sinks.keys().cloned().collect();
        for name in names {
            let st = self.sinks.get_mut(&name).expect("listed");
            let old = st.role;
            let report = match peer {
                Peer::Answered(r) => *r,
                _ => None,
            };
            let peer_sink = report.and_then(|r| r.sink(&name));
            if let Some(s) = peer_sink {
                st.peer_told.clone_from(&s.told);
            }
            let new = if mine {
                match peer {
                    Peer::Answered(_) if peer_sink.is_some_and(|s| s.role == Role::Takeover) => Role::Yield,
                    Peer::Answered(_) => Role::Active,
                    // Not heard yet: the peer may be telling for us (we were
                    // dead); wait for its answer, but not forever.
                    _ if old == Role::Starting && silent_ms < t.takeover_after => Role::Starting,
                    _ => Role::Active,
                }
            } else {
                // The node without the VIP: does the holder tell this sink?
                let why: Option<String> = match (peer, report) {
                    (Peer::Silent(e), _) if silent_ms >= t.takeover_after => Some(format!(
                        "the peer's hawatch has not answered for {} s ({e})",
                        silent_ms / 1000
                    )),
                    (Peer::Silent(_), _) => None,
                    (_, Some(r)) => match (r.late_poller(t.takeover_after), peer_sink) {
                        (Some((inst, age)), _) => Some(format!(
                            "the peer's hawatch answers but has not polled {inst} for {} s",
                            age / 1000
                        )),
                        (None, Some(s))
                            if s.role == Role::Active
                                && s.oldest_pending_age_ms.is_some_and(|a| a >= t.takeover_after_stuck) =>
                        {
                            Some(format!(
                                "the peer's sink {name} has not delivered for {} s",
                                s.oldest_pending_age_ms.unwrap_or(0) / 1000
                            ))
                        }
                        // A holder that answers and polls but holds back
                        // (its own peer watch stuck): as silent, after twice
                        // the wait a start allows.
                        (None, Some(s)) if r.holds_vip && s.role == Role::Starting => {
                            let since = *st.peer_starting_since.get_or_insert(now_ms);
                            let held = (now_ms - since).max(0) as u64;
                            (held >= 2 * t.takeover_after).then(|| {
                                format!("the peer's hawatch has held back without telling for {} s", held / 1000)
                            })
                        }
                        _ => None,
                    },
                    _ => None,
                };
                if old == Role::Takeover {
                    // Hand back once the holder has told this sink well for
                    // `handback_after`: answering, polling, a short queue.
                    let healthy = why.is_none()
                        && report.is_some_and(|r| r.holds_vip)
                        && peer_sink.is_none_or(|s| s.oldest_pending_age_ms.is_none_or(|a| a < t.takeover_after));
                    if healthy {
                        let since = *st.healthy_since.get_or_insert(now_ms);
                        if (now_ms - since).max(0) as u64 >= t.handback_after {
                            Role::Standby
                        } else {
                            Role::Takeover
                        }
                    } else {
                        st.healthy_since = None;
                        Role::Takeover
                    }
                } else if let Some(why) = why {
                    reasons.insert(why);
                    Role::Takeover
                } else {
                    Role::Standby
                }
            };
            // What the change means for rows already written.
            match (old, new) {
                (a, b) if a == b => {}
                (_, Role::Takeover) => {
                    // Everything the holder may not have told: since it last
                    // had it all told (less the skew), or since this node started.
                    st.tell_from_ms = st.covered_ms.map_or(self.held_since_ms, |c| c.saturating_sub(SKEW_MS));
                    st.healthy_since = None;
                }
                (Role::Takeover, _) => {
                    st.ended_ms = Some(now_ms);
                    st.healthy_since = None;
                    st.covered_ms = Some(now_ms);
                    st.tell_from_ms = now_ms;
                }
                (Role::Starting, Role::Active) => st.tell_from_ms = self.held_since_ms,
                (Role::Yield, Role::Active) => {
                    // The peer told up to its handback (or until it fell
                    // silent); less the skew, what it told is skipped.
                    let end = match peer_sink.and_then(|s| s.takeover_ended_age_ms) {
                        Some(age) => ago(now_ms, age),
                        None => heard_ms,
                    };
                    st.tell_from_ms = end.saturating_sub(SKEW_MS);
                    step.actions.push(Action::Discard {
                        sink: name.clone(),
                        before_ms: st.tell_from_ms,
                    });
                }
                // The VIP came here from a holder that was telling: tell
                // from where it last saw HAProxy (a VIP usually moves
                // because that HAProxy died, and what followed, only this
                // node saw), less the skew; what it told is skipped. Not
                // from its oldest unsent message: it still sends those. A
                // peer that never reported (an older hawatch) covered all.
                (_, Role::Active) => {
                    st.tell_from_ms = match st.seen_ms {
                        Some(c) => c.min(now_ms).saturating_sub(SKEW_MS),
                        None if self.reported => self.held_since_ms,
                        None => now_ms,
                    }
                }
                _ => {}
            }
            if peer_sink.is_none_or(|s| s.role != Role::Starting) && matches!(peer, Peer::Answered(_)) {
                st.peer_starting_since = None;
            }
            // The peer's coverage, while it tells this sink as the holder.
            if new == Role::Standby {
                if let (Some(r), Some(s)) = (report, peer_sink) {
                    if let (true, Role::Active, Some(lag)) = (r.holds_vip, s.role, r.lag_ms(s)) {
                        let covered = ago(now_ms, lag);
                        st.covered_ms = Some(st.covered_ms.map_or(covered, |c| c.max(covered)));
                    }
                    if let (true, Role::Active, Some(lag)) = (r.holds_vip, s.role, r.seen_lag_ms()) {
                        let seen = ago(now_ms, lag);
                        st.seen_ms = Some(st.seen_ms.map_or(seen, |c| c.max(seen)));
                    }
                }
                if let Some(c) = st.covered_ms {
                    step.actions.push(Action::Discard {
                        sink: name.clone(),
                        before_ms: c.saturating_sub(SKEW_MS),
                    });
                }
            }
            // Repeated every look: a poll that read the role just before it
            // changed wrote a held row after the last release.
            if matches!(new, Role::Active | Role::Takeover) {
                step.actions.push(Action::Release {
                    sink: name.clone(),
                    from_ms: st.tell_from_ms,
                    telling: new.telling(),
                    skip: st.peer_told.clone(),
                });
            }
            if old != new {
                step.changed.push((name.clone(), old, new));
            }
            st.role = new;
        }
        let after = self.taken_over();
        if before.is_empty() && !after.is_empty() {
            let why = reasons.into_iter().collect::<Vec<_>>().join("; ");
            step.takeover = Some((after.into_iter().collect(), why));
        } else if !before.is_empty() && after.is_empty() {
            step.handback = Some(if mine {
                "this node holds the VIP now: it tells as the holder".to_string()
            } else {
                format!(
                    "the VIP holder's hawatch has answered, polled and delivered for {} s",
                    t.handback_after / 1000
                )
            });
        }
        step
    }
}

/// `age` ms before `now_ms`; the peer's ages are untrusted, any value is fine.
fn ago(now_ms: i64, age: u64) -> i64 {
    now_ms.saturating_sub(i64::try_from(age).unwrap_or(i64::MAX))
}

#[cfg(test)]
#[path = "pair_tests.rs"]
mod tests;
