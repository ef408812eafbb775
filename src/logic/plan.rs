//! What each sink gets: its route, its policy and its quiet hours, applied to
//! a poll's events or to the passing of time. Pure: the store loads the
//! subjects, calls these, and writes subjects and outbox rows back in the same
//! transaction as the events.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub(crate) use super::pair::Telling;
use super::policy::{self, Policy, Subject};
use super::route::{QuietHours, Route};
use crate::model::event::Event;
use crate::model::notice::{Notice, ServerBrief};
use crate::model::snapshot::InstanceState;

/// One sink's notification rules.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SinkPlan {
    pub(crate) name: String,
    pub(crate) route: Route,
    pub(crate) policy: Policy,
    pub(crate) quiet: Option<QuietHours>,
    /// In a pair: how notices of the `gated` instances (HAProxy's, watched by
    /// both nodes) are told now. Other notices (VRRP roles, the pair's own
    /// events) are always told.
    pub(crate) telling: Telling,
    pub(crate) gated: Option<Arc<BTreeSet<String>>>,
}

impl SinkPlan {
    /// A plan that passes everything at once (tests, the default console).
    pub(crate) fn plain(name: &str) -> SinkPlan {
        SinkPlan {
            name: name.to_string(),
            route: Route::default(),
            policy: Policy::default(),
            quiet: None,
            telling: Telling::Tell,
            gated: None,
        }
    }

    /// How notices about `instance` are told.
    pub(crate) fn telling_for(&self, instance: &str) -> Telling {
        match &self.gated {
            Some(g) if g.contains(instance) => self.telling,
            _ => Telling::Tell,
        }
    }
}

/// The servers of an event's backend, for backend notices.
fn servers_of(e: &Event, state: Option<&InstanceState>) -> Vec<ServerBrief> {
    let (Some(b), None, Some(st)) = (&e.backend, &e.server, state) else {
        return Vec::new();
    };
    st.backends
        .get(b)
        .map(|be| {
            be.servers
                .iter()
                .map(|(name, s)| ServerBrief {
                    name: name.clone(),
                    status: s.settled.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Applies one poll's events (all of one instance) to the sink's subjects of
/// that instance. With the new `state` of a reachable instance, alerts whose
/// subject disappeared are closed.
pub(crate) fn on_events(
    sp: &SinkPlan,
    subjects: &mut HashMap<String, Subject>,
    events: &[Event],
    state: Option<&InstanceState>,
    now: DateTime<Utc>,
) -> Vec<Notice> {
    let mut out = Vec::new();
    // Instances, then backends, then servers: a parent that starts flapping
    // in this poll absorbs its children's changes of the same poll.
    let depth = |e: &Event| usize::from(e.backend.is_some()) + usize::from(e.server.is_some());
    let mut ordered: Vec<&Event> = events.iter().collect();
    ordered.sort_by_key(|e| depth(e));
    for e in ordered {
        let mut n = Notice::of(e.clone());
        n.servers = servers_of(e, state);
        let routed = sp.route.matches(e);
        let key = policy::key(e);
        let parent_flapping = policy::parents(&key)
            .iter()
            .any(|p| subjects.get(p).is_some_and(|s| s.flapping.is_some()));
        let s = subjects.entry(key).or_default();
        out.extend(policy::on_event_under(&sp.policy, s, n, routed, parent_flapping));
    }
    if let Some(st) = state.filter(|s| s.reachable && s.seen) {
        let mut keys: Vec<&String> = subjects.keys().collect();
        keys.sort();
        let gone: Vec<String> = keys
            .into_iter()
            .filter(|k| {
                let parts: Vec<&str> = k.splitn(3, '/').collect();
                match parts.as_slice() {
                    [_, b] => !st.backends.contains_key(*b),
                    [_, b, s] => !st.backends.get(*b).is_some_and(|be| be.servers.contains_key(*s)),
                    _ => false,
                }
            })
            .cloned()
            .collect();
        for k in gone {
            if let Some(s) = subjects.get_mut(&k) {
                if let Some(n) = policy::close_gone(s, now, &gone_message(&k)) {
                    out.push(n);
                }
            }
        }
    }
    policy::fold(out)
}

fn gone_message(key: &str) -> String {
    format!("{key} is no longer in HAProxy's configuration; its alert is closed")
}

/// Time passes for the due subjects. `subjects` holds them and their parents.
pub(crate) fn on_tick(
    sp: &SinkPlan,
    subjects: &mut HashMap<String, Subject>,
    due: &[String],
    now: DateTime<Utc>,
) -> Vec<Notice> {
    let mut out = Vec::new();
    for k in due {
        let parent_alerting = policy::parents(k)
            .iter()
            .any(|p| subjects.get(p).is_some_and(|s| s.alerting()));
        if let Some(s) = subjects.get_mut(k) {
            out.extend(policy::tick(&sp.policy, s, now, parent_alerting));
        }
    }
    policy::fold(out)
}

/// Closes every alert of an instance that is no longer configured.
pub(crate) fn on_unwatched(subjects: &mut HashMap<String, Subject>, now: DateTime<Utc>) -> Vec<Notice> {
    let mut keys: Vec<String> = subjects.keys().cloned().collect();
    keys.sort();
    keys.into_iter()
        .filter_map(|k| {
            let s = subjects.get_mut(&k)?;
            let instance = k.split('/').next().unwrap_or(&k).to_string();
            policy::close_gone(
                s,
                now,
                &format!("instance {instance} is no longer watched by hawatch; its alert is closed"),
            )
        })
        .collect()
}

/// Splits notices by quiet hours: `(now, held until the quiet hours end)`.
pub(crate) fn split_quiet(
    sp: &SinkPlan,
    notices: Vec<Notice>,
    now: DateTime<Utc>,
) -> (Vec<Notice>, Option<(Vec<Notice>, i64)>) {
    let Some(end) = sp.quiet.and_then(|q| q.ends_after(now)) else {
        return (notices, None);
    };
    let (now_list, later): (Vec<Notice>, Vec<Notice>) = notices.into_iter().partition(Notice::urgent);
    let later = (!later.is_empty()).then(|| (later, end.timestamp_millis()));
    (now_list, later)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::{Kind, Severity};
    use crate::model::snapshot::{BackendState, ServerState};

    fn ev(kind: Kind, server: Option<&str>) -> Event {
        let severity = if kind.is_problem() {
            Severity::Critical
        } else {
            Severity::Info
        };
        Event {
            id: "x".into(),
            backend: Some("be".into()),
            server: server.map(Into::into),
            ..Event::new("lb", kind, severity, "")
        }
    }

    fn state(servers: &[&str]) -> InstanceState {
        let mut st = InstanceState {
            seen: true,
            reachable: true,
            ..Default::default()
        };
        st.backends.insert(
            "be".into(),
            BackendState {
                up: false,
                unsettled: false,
                servers: servers
                    .iter()
                    .map(|s| {
                        (
                            s.to_string(),
                            ServerState {
                                settled: Some("DOWN".into()),
                                ..Default::default()
                            },
                        )
                    })
                    .collect(),
            },
        );
        st
    }

    #[test]
    fn a_backend_down_is_one_notice_naming_its_servers() {
        let sp = SinkPlan::plain("x");
        let mut subjects = HashMap::new();
        let evs = vec![
            ev(Kind::ServerDown, Some("a")),
            ev(Kind::ServerDown, Some("b")),
            ev(Kind::BackendDown, None),
        ];
        let st = state(&["a", "b"]);
        let n = on_events(&sp, &mut subjects, &evs, Some(&st), Utc::now());
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].folded.len(), 2);
        assert_eq!(n[0].servers.len(), 2);
    }

    /// A single-server backend whose server toggles every 2 s, `toggles`
    /// times, then stays; the notices of every poll and of the ticks after.
    fn flap_single_server_backend(toggles: i64) -> (Vec<Vec<Notice>>, Vec<Notice>) {
        let sp = SinkPlan::plain("x");
        let mut subjects = HashMap::new();
        let t0 = Utc::now();
        let at = |secs: i64| t0 + chrono::TimeDelta::seconds(secs);
        let mut polls = Vec::new();
        for i in 0..toggles {
            let down = i % 2 == 0;
            let (sk, bk) = if down {
                (Kind::ServerDown, Kind::BackendDown)
            } else {
                (Kind::ServerUp, Kind::BackendUp)
            };
            let mut s = ev(sk, Some("a"));
            let mut b = ev(bk, None);
            s.time = at(2 * i);
            b.time = at(2 * i);
            let st = state(&["a"]);
            polls.push(on_events(&sp, &mut subjects, &[s, b], Some(&st), at(2 * i)));
        }
        let due: Vec<String> = {
            let mut k: Vec<String> = subjects.keys().cloned().collect();
            k.sort();
            k
        };
        let later = at(2 * toggles + 600);
        let ticked = on_tick(&sp, &mut subjects, &due, later);
        (polls, ticked)
    }

    #[test]
    fn a_flapping_single_server_backend_pages_once_and_settles_once() {
        use crate::model::notice::NoticeKind;
        let (polls, ticked) = flap_single_server_backend(20);
        let sent: Vec<&Notice> = polls.iter().flatten().collect();
        // 5 toggles told (each one message: the backend, its server folded),
        // then one `flapping` notice for the backend, then nothing.
        assert_eq!(
            sent.len(),
            6,
            "{:#?}",
            sent.iter().map(|n| (n.kind, n.event.subject())).collect::<Vec<_>>()
        );
        assert!(sent[..5]
            .iter()
            .all(|n| n.kind == NoticeKind::Event && n.event.server.is_none() && n.folded.len() == 1));
        assert_eq!(sent[5].kind, NoticeKind::Flapping);
        assert_eq!(sent[5].event.subject(), "be");
        // One `settled` notice: the backend's, the server's resolution folded in.
        assert_eq!(ticked.len(), 1, "{ticked:#?}");
        assert_eq!(ticked[0].kind, NoticeKind::Settled);
        assert_eq!(ticked[0].event.kind, Kind::BackendUp);
        assert_eq!(ticked[0].count, Some(20), "every change of the backend counted");
    }

    #[test]
    fn a_flapping_backend_that_settles_down_opens_one_alert() {
        use crate::model::notice::NoticeKind;
        let (_, ticked) = flap_single_server_backend(21);
        assert_eq!(ticked.len(), 1, "{ticked:#?}");
        assert_eq!(ticked[0].kind, NoticeKind::Settled);
        assert_eq!(ticked[0].event.kind, Kind::BackendDown);
        assert_eq!(ticked[0].folded.len(), 1, "the server settled DOWN too");
    }

    #[test]
    fn an_instance_flaps_like_any_subject() {
        use crate::model::notice::NoticeKind;
        let sp = SinkPlan::plain("x");
        let mut subjects = HashMap::new();
        let t0 = Utc::now();
        let mut sent = Vec::new();
        for i in 0..12 {
            let kind = if i % 2 == 0 {
                Kind::InstanceUnreachable
            } else {
                Kind::InstanceRecovered
            };
            let mut e = ev(kind, None);
            e.backend = None;
            e.time = t0 + chrono::TimeDelta::seconds(i);
            let now = e.time;
            sent.extend(on_events(&sp, &mut subjects, &[e], None, now));
        }
        assert_eq!(sent.len(), 6);
        assert_eq!(sent[5].kind, NoticeKind::Flapping);
    }

    #[test]
    fn an_alert_whose_server_disappeared_is_closed() {
        let sp = SinkPlan::plain("x");
        let mut subjects = HashMap::new();
        let st = state(&["a", "b"]);
        on_events(
            &sp,
            &mut subjects,
            &[ev(Kind::ServerDown, Some("a"))],
            Some(&st),
            Utc::now(),
        );
        let n = on_events(&sp, &mut subjects, &[], Some(&state(&["b"])), Utc::now());
        assert_eq!(n.len(), 1);
        assert!(n[0].resolves && n[0].kind == crate::model::notice::NoticeKind::Gone);
        assert!(subjects.values().all(Subject::is_idle));
    }

    #[test]
    fn quiet_hours_hold_what_is_not_critical() {
        let mut sp = SinkPlan::plain("x");
        sp.quiet = Some(QuietHours::parse("00:00-23:59", super::super::route::Zone::Named(chrono_tz::UTC)).unwrap());
        let now = "2026-11-20T12:00:00Z".parse().unwrap();
        let (a, b) = split_quiet(
            &sp,
            vec![
                Notice::of(ev(Kind::ServerDown, Some("a"))),
                Notice::of(ev(Kind::ServerAdded, Some("c"))),
            ],
            now,
        );
        assert_eq!(a.len(), 1);
        let (held, until) = b.unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!(
            until,
            "2026-11-20T23:59:00Z"
                .parse::<DateTime<Utc>>()
                .unwrap()
                .timestamp_millis()
        );
    }
}
