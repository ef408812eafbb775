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
mod tests {
    use super::*;

    const T: Times = Times {
        takeover_after: 5_000,
        takeover_after_stuck: 60_000,
        handback_after: 10_000,
    };

    fn report(holds_vip: bool, role: Role, oldest: Option<u64>, poll_age: u64) -> PairReport {
        PairReport {
            holds_vip,
            instances: vec![PollReport {
                name: "lb".into(),
                last_poll_age_ms: Some(poll_age),
                last_success_age_ms: Some(poll_age),
                late_after_ms: 3_000,
            }],
            sinks: vec![SinkReport {
                name: "hook".into(),
                role,
                pending: i64::from(oldest.is_some()),
                oldest_pending_age_ms: oldest,
                oldest_unsent_age_ms: oldest,
                last_success_age_ms: Some(1_000),
                takeover_ended_age_ms: None,
                told: Vec::new(),
            }],
        }
    }

    fn healthy_holder() -> PairReport {
        report(true, Role::Active, None, 300)
    }

    fn sinks() -> Vec<String> {
        vec!["hook".into()]
    }

    fn releases(s: &Step) -> Vec<(i64, Telling)> {
        s.actions
            .iter()
            .filter_map(|a| match a {
                Action::Release { from_ms, telling, .. } => Some((*from_ms, *telling)),
                _ => None,
            })
            .collect()
    }

    fn discards(s: &Step) -> Vec<i64> {
        s.actions
            .iter()
            .filter_map(|a| match a {
                Action::Discard { before_ms, .. } => Some(*before_ms),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_standby_drops_what_the_holder_told_and_holds_the_rest() {
        let mut p = Pair::new(T, &sinks(), 0);
        let r = report(true, Role::Active, Some(700), 300);
        let s = p.step(10_000, false, &Peer::Answered(Some(&r)));
        assert_eq!(p.role("hook"), Role::Standby);
        // Covered up to the later of its last poll and its oldest unsent
        // row, less the skew between the two nodes' observations.
        assert_eq!(discards(&s), vec![9_300 - SKEW_MS]);
        assert!(releases(&s).is_empty());
    }

    #[test]
    fn a_change_the_holder_saw_a_moment_later_is_kept_until_it_told_it() {
        // Both HAProxies check the same server on their own clocks: this node
        // saw it go DOWN at 43_290, the holder at 43_620, and cannot deliver.
        let mut p = Pair::new(T, &sinks(), 0);
        let r = report(true, Role::Active, Some(780), 300);
        let s = p.step(44_400, false, &Peer::Answered(Some(&r)));
        let before = discards(&s)[0];
        assert!(before < 43_290, "{before}: this node's row would be dropped");
        let r = report(true, Role::Active, Some(60_780), 300);
        let s = p.step(104_400, false, &Peer::Answered(Some(&r)));
        assert!(releases(&s)[0].0 <= 43_290, "{s:?}");
    }

    #[test]
    fn a_silent_holder_is_taken_over_after_takeover_after_then_handed_back_once() {
        let mut p = Pair::new(T, &sinks(), 0);
        let r = healthy_holder();
        p.step(1_000, false, &Peer::Answered(Some(&r)));
        // Covered to 700. Silent from 2 s on.
        for at in [2_000, 4_000, 5_999] {
            let s = p.step(at, false, &Peer::Silent("connection refused"));
            assert_eq!((p.role("hook"), &s.takeover), (Role::Standby, &None), "at {at}");
        }
        let s = p.step(6_000, false, &Peer::Silent("connection refused"));
        assert_eq!(p.role("hook"), Role::Takeover);
        let (sinks, why) = s.takeover.clone().unwrap();
        assert_eq!(sinks, vec!["hook".to_string()]);
        assert!(why.contains("has not answered for 5 s"), "{why}");
        // Held rows from where the holder's coverage ended are told, marked.
        assert_eq!(releases(&s), vec![(700 - SKEW_MS, Telling::Standby)]);
        assert_eq!(p.node_role(), Role::Takeover);
        // Still silent: nothing new to say.
        assert_eq!(p.step(7_000, false, &Peer::Silent("x")).takeover, None);
        // The restarted holder yields while we tell: its report says active
        // only once we hand back, so judge it by its health.
        let back = report(true, Role::Yield, None, 300);
        for at in (8_000..18_000).step_by(1_000) {
            let s = p.step(at, false, &Peer::Answered(Some(&back)));
            assert_eq!((p.role("hook"), &s.handback), (Role::Takeover, &None), "at {at}");
        }
        let s = p.step(18_000, false, &Peer::Answered(Some(&back)));
        assert_eq!(p.role("hook"), Role::Standby);
        assert!(s.handback.unwrap().contains("10 s"));
        assert_eq!(p.ended_age_ms("hook", 19_000), Some(1_000));
        // Once.
        let s = p.step(19_000, false, &Peer::Answered(Some(&healthy_holder())));
        assert_eq!((s.takeover, s.handback), (None, None));
    }

    #[test]
    fn a_hiccup_restarts_the_handback_wait() {
        let mut p = Pair::new(T, &sinks(), 0);
        p.step(6_000, false, &Peer::Silent("timeout"));
        assert_eq!(p.role("hook"), Role::Takeover);
        let back = report(true, Role::Yield, None, 300);
        p.step(7_000, false, &Peer::Answered(Some(&back)));
        p.step(15_000, false, &Peer::Silent("timeout"));
        p.step(16_000, false, &Peer::Answered(Some(&back)));
        assert_eq!(p.step(25_000, false, &Peer::Answered(Some(&back))).handback, None);
        assert!(p.step(26_000, false, &Peer::Answered(Some(&back))).handback.is_some());
    }

    #[test]
    fn a_stuck_sink_is_taken_over_alone() {
        let mut p = Pair::new(T, &["hook".to_string(), "mail".to_string()], 0);
        let mut r = report(true, Role::Active, Some(59_999), 300);
        r.sinks.push(SinkReport {
            name: "mail".into(),
            role: Role::Active,
            pending: 0,
            oldest_pending_age_ms: None,
            oldest_unsent_age_ms: None,
            last_success_age_ms: Some(5),
            takeover_ended_age_ms: None,
            told: Vec::new(),
        });
        let s = p.step(100_000, false, &Peer::Answered(Some(&r)));
        assert_eq!(s.takeover, None);
        // Its oldest unsent row has waited since 40_001: covered to there.
        assert_eq!(discards(&s), vec![40_001 - SKEW_MS, 99_700 - SKEW_MS]);
        r.sinks[0].oldest_pending_age_ms = Some(61_000);
        r.sinks[0].oldest_unsent_age_ms = Some(61_000);
        let s = p.step(101_000, false, &Peer::Answered(Some(&r)));
        assert_eq!((p.role("hook"), p.role("mail")), (Role::Takeover, Role::Standby));
        let (sinks, why) = s.takeover.clone().unwrap();
        assert_eq!(sinks, vec!["hook".to_string()]);
        assert!(why.contains("sink hook has not delivered for 61 s"), "{why}");
        assert_eq!(releases(&s), vec![(40_001 - SKEW_MS, Telling::Standby)]);
    }

    #[test]
    fn a_holder_whose_poller_hangs_is_taken_over() {
        let mut p = Pair::new(T, &sinks(), 0);
        let r = report(true, Role::Active, None, 4_000);
        assert_eq!(p.step(1_000, false, &Peer::Answered(Some(&r))).takeover, None);
        let r = report(true, Role::Active, None, 5_000);
        let (_, why) = p.step(2_000, false, &Peer::Answered(Some(&r))).takeover.unwrap();
        assert!(why.contains("has not polled lb for 5 s"), "{why}");
    }

    #[test]
    fn a_restarted_holder_waits_for_its_peer_and_yields_to_a_takeover() {
        let mut p = Pair::new(T, &sinks(), 50_000);
        // Not heard yet: hold.
        assert_eq!(p.step(50_000, true, &Peer::Silent("refused")).actions, vec![]);
        assert_eq!(p.role("hook"), Role::Starting);
        let mut r = report(false, Role::Takeover, None, 300);
        p.step(51_000, true, &Peer::Answered(Some(&r)));
        assert_eq!((p.role("hook"), p.node_role()), (Role::Yield, Role::Standby));
        // The peer hands back; what it told before then is dropped here.
        r.sinks[0].role = Role::Standby;
        r.sinks[0].takeover_ended_age_ms = Some(400);
        let s = p.step(62_000, true, &Peer::Answered(Some(&r)));
        assert_eq!(p.role("hook"), Role::Active);
        assert_eq!(discards(&s), vec![61_600 - SKEW_MS]);
        assert_eq!(releases(&s), vec![(61_600 - SKEW_MS, Telling::Tell)]);
    }

    #[test]
    fn a_holder_that_never_hears_its_peer_tells_what_it_held_since_its_start() {
        let mut p = Pair::new(T, &sinks(), 50_000);
        p.step(54_000, true, &Peer::Silent("refused"));
        assert_eq!(p.role("hook"), Role::Starting);
        let s = p.step(55_000, true, &Peer::Silent("refused"));
        assert_eq!(p.role("hook"), Role::Active);
        assert_eq!(releases(&s), vec![(50_000, Telling::Tell)]);
        assert_eq!((s.takeover, s.handback), (None, None), "a holder never takes over");
    }

    #[test]
    fn a_holder_that_was_frozen_holds_until_its_peer_answers() {
        let mut p = Pair::new(T, &sinks(), 0);
        p.step(
            1_000,
            true,
            &Peer::Answered(Some(&report(false, Role::Standby, None, 300))),
        );
        assert_eq!(p.telling("hook", 1_500), Telling::Tell);
        // SIGSTOP for 20 s: what the pollers write on waking is held, and the
        // peer is told so.
        assert_eq!(p.telling("hook", 21_000), Telling::Hold);
        assert_eq!(p.reported_role("hook", 21_000), Role::Starting);
        // Its first ask on waking may fail (its timeout ran out while it was
        // stopped): it waits for an answer, `takeover_after` from now.
        let s = p.step(21_050, true, &Peer::Silent("timeout"));
        assert_eq!((p.role("hook"), releases(&s)), (Role::Starting, vec![]));
        let r = report(false, Role::Takeover, None, 300);
        let s = p.step(21_100, true, &Peer::Answered(Some(&r)));
        assert_eq!(p.role("hook"), Role::Yield);
        assert!(releases(&s).is_empty());
        // Not taken over meanwhile: tell what was held since the last look.
        let mut p = Pair::new(T, &sinks(), 0);
        p.step(
            1_000,
            true,
            &Peer::Answered(Some(&report(false, Role::Standby, None, 300))),
        );
        let s = p.step(
            21_100,
            true,
            &Peer::Answered(Some(&report(false, Role::Standby, None, 300))),
        );
        assert_eq!(p.role("hook"), Role::Active);
        assert_eq!(releases(&s), vec![(1_000, Telling::Tell)]);
    }

    #[test]
    fn a_normal_failover_is_no_takeover() {
        // lb2 is the standby; lb1's HAProxy stops, its watcher goes on
        // polling (and telling instance_unreachable), the VIP moves.
        let mut p = Pair::new(T, &sinks(), 0);
        p.step(1_000, false, &Peer::Answered(Some(&healthy_holder())));
        let moving = report(false, Role::Standby, None, 300);
        for at in (2_000..20_000).step_by(1_000) {
            let s = p.step(at, false, &Peer::Answered(Some(&moving)));
            assert_eq!(s.takeover, None);
        }
        let s = p.step(20_000, true, &Peer::Answered(Some(&moving)));
        assert_eq!(p.role("hook"), Role::Active);
        // From where lb1's telling ended (its last look as the holder, less
        // its poll lag): what only this node saw during the move is told.
        assert_eq!(releases(&s), vec![(700 - SKEW_MS, Telling::Tell)]);
        assert_eq!((s.takeover, s.handback), (None, None));
    }

    #[test]
    fn what_the_peer_told_lately_is_skipped_when_this_node_starts_telling() {
        let mut p = Pair::new(T, &sinks(), 0);
        let mut r = healthy_holder();
        r.sinks[0].told = vec!["event|app/s1|server_up|UP".into()];
        p.step(1_000, false, &Peer::Answered(Some(&r)));
        // Silent: its last list is what it told.
        for at in [2_000, 3_000, 4_000, 5_000] {
            p.step(at, false, &Peer::Silent("refused"));
        }
        let s = p.step(6_000, false, &Peer::Silent("refused"));
        let skip: Vec<&Vec<String>> = s
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Release { skip, .. } => Some(skip),
                _ => None,
            })
            .collect();
        assert_eq!(skip, vec![&vec!["event|app/s1|server_up|UP".to_string()]]);
    }

    #[test]
    fn the_vip_moving_from_a_holder_with_a_backlog_tells_only_what_it_did_not_see() {
        // lb1 has a message waiting since 01:00 (quiet hours) but polls fine.
        let mut p = Pair::new(T, &sinks(), 0);
        let mut r = report(true, Role::Active, None, 300);
        r.sinks[0].oldest_unsent_age_ms = Some(7_200_000);
        let s = p.step(10_800_000, false, &Peer::Answered(Some(&r)));
        assert_eq!(discards(&s), vec![3_600_000 - SKEW_MS], "its backlog is not told yet");
        // The VIP comes here: lb1 still sends its backlog; tell what it did not see.
        let s = p.step(
            10_801_000,
            true,
            &Peer::Answered(Some(&report(false, Role::Standby, None, 300))),
        );
        assert_eq!(releases(&s), vec![(10_800_000 - 300 - SKEW_MS, Telling::Tell)]);
    }

    #[test]
    fn the_vip_coming_before_any_coverage_tells_what_was_held() {
        let mut never = healthy_holder();
        never.instances[0].last_success_age_ms = None;
        let mut p = Pair::new(T, &sinks(), 5_000);
        p.step(6_000, false, &Peer::Answered(Some(&never)));
        let s = p.step(7_000, true, &Peer::Answered(Some(&never)));
        assert_eq!(releases(&s), vec![(5_000, Telling::Tell)]);
        // An older hawatch never says what it told: it told all.
        let mut p = Pair::new(T, &sinks(), 5_000);
        p.step(6_000, false, &Peer::Answered(None));
        let s = p.step(7_000, true, &Peer::Answered(None));
        assert_eq!(releases(&s), vec![(7_000, Telling::Tell)]);
    }

    #[test]
    fn a_holder_that_holds_back_too_long_is_taken_over() {
        let mut p = Pair::new(T, &sinks(), 0);
        let stuck = report(true, Role::Starting, None, 300);
        for at in (1_000..11_000).step_by(1_000) {
            assert_eq!(
                p.step(at, false, &Peer::Answered(Some(&stuck))).takeover,
                None,
                "at {at}"
            );
        }
        let (_, why) = p.step(11_000, false, &Peer::Answered(Some(&stuck))).takeover.unwrap();
        assert!(why.contains("held back without telling for 10 s"), "{why}");
    }

    #[test]
    fn a_holder_whose_haproxy_stopped_answering_covers_only_what_it_saw() {
        let mut p = Pair::new(T, &sinks(), 0);
        let mut r = healthy_holder();
        p.step(10_000, false, &Peer::Answered(Some(&r)));
        // Its HAProxy died 4 s ago: it polls on, but has seen nothing since.
        r.instances[0].last_success_age_ms = Some(4_000);
        let s = p.step(11_000, false, &Peer::Answered(Some(&r)));
        assert_eq!(discards(&s), vec![9_700 - SKEW_MS], "coverage does not move back or on");
        let s = p.step(
            12_000,
            true,
            &Peer::Answered(Some(&report(false, Role::Standby, None, 300))),
        );
        assert_eq!(releases(&s), vec![(9_700 - SKEW_MS, Telling::Tell)]);
        // An instance that never answered: no coverage at all.
        let mut p = Pair::new(T, &sinks(), 0);
        r.instances[0].last_success_age_ms = None;
        assert!(discards(&p.step(10_000, false, &Peer::Answered(Some(&r)))).is_empty());
    }

    #[test]
    fn the_vip_coming_here_during_a_takeover_ends_it() {
        let mut p = Pair::new(T, &sinks(), 0);
        p.step(6_000, false, &Peer::Silent("refused"));
        let s = p.step(7_000, true, &Peer::Silent("refused"));
        assert_eq!(p.role("hook"), Role::Active);
        assert!(s.handback.unwrap().contains("holds the VIP"));
    }

    #[test]
    fn an_older_peer_without_a_report_is_never_taken_over_while_it_answers() {
        let mut p = Pair::new(T, &sinks(), 0);
        for at in (0..100_000).step_by(1_000) {
            assert_eq!(p.step(at, false, &Peer::Answered(None)).takeover, None);
        }
        assert_eq!(p.role("hook"), Role::Standby);
    }

    #[test]
    fn a_standby_that_was_frozen_does_not_take_over_on_one_failed_ask() {
        let mut p = Pair::new(T, &sinks(), 0);
        p.step(1_000, false, &Peer::Answered(Some(&healthy_holder())));
        let s = p.step(30_000, false, &Peer::Silent("timeout"));
        assert_eq!((p.role("hook"), s.takeover), (Role::Standby, None));
        for at in [31_000, 32_000, 33_000, 34_000] {
            assert_eq!(p.step(at, false, &Peer::Silent("timeout")).takeover, None);
        }
        assert!(p.step(35_000, false, &Peer::Silent("timeout")).takeover.is_some());
    }

    #[test]
    fn reports_are_bounded() {
        let mut r = healthy_holder();
        r.sinks = (0..1000)
            .map(|i| SinkReport {
                name: format!("s{i}"),
                ..r.sinks[0].clone()
            })
            .collect();
        r.sinks[0].takeover_ended_age_ms = Some(u64::MAX);
        r.instances[0].last_success_age_ms = Some(u64::MAX);
        let b = r.bounded();
        assert_eq!(b.sinks.len(), MAX_ITEMS);
        assert_eq!(b.sinks[0].takeover_ended_age_ms, Some(MAX_AGE_MS));
        assert_eq!(b.instances[0].last_success_age_ms, Some(MAX_AGE_MS));
    }
}
