use super::*;
use crate::model::event::Kind::*;
use crate::model::snapshot::{Snapshot, SourceError};

const START: &str = include_str!("../../tests/fixtures/haproxy-2.6/show-stat.csv");
const END: &str = include_str!("../../tests/fixtures/haproxy-2.6/show-stat-end.csv");

/// `(column, value)` pairs to set in one row.
type Cells<'a> = &'a [(&'a str, &'a str)];
/// `(proxy, server, cells)`.
type Edit<'a> = (&'a str, &'a str, Cells<'a>);

/// [`Edit`] with owned names.
type OwnedEdit = (String, String, Vec<(&'static str, &'static str)>);

/// The real capture with some cells changed.
fn edit(base: &str, edits: &[Edit]) -> String {
    let mut lines = base.lines();
    let header = lines.next().unwrap();
    let cols: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let mut out = vec![header.to_string()];
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        for (px, sv, changes) in edits {
            if cells[0] == *px && cells[1] == *sv {
                for (col, val) in changes.iter() {
                    let i = cols.iter().position(|c| c == col).unwrap();
                    cells[i] = val.to_string();
                }
            }
        }
        out.push(cells.join(","));
    }
    out.join("\n") + "\n\n"
}

/// The capture without some servers.
fn without(base: &str, gone: &[(&str, &str)]) -> String {
    base.lines()
        .filter(|l| !gone.iter().any(|(px, sv)| l.starts_with(&format!("{px},{sv},"))))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn snap(csv: &str, pid: u64) -> Observation {
    let info = haproxy::Info {
        pid: Some(pid),
        start_time_sec: Some(1000 + pid),
        ..Default::default()
    };
    Ok(Snapshot {
        proc: Some(ProcInfo::from_info(&info, Utc::now())),
        stat: haproxy::Stat::parse(csv.to_string()).unwrap(),
    })
}

/// Runs a sequence of observations; returns the events of each step. Checks
/// at every step that `changed` is exactly "the state differs".
fn run(steps: &[Observation]) -> Vec<Vec<Event>> {
    let mut state: Option<InstanceState> = None;
    let mut out = Vec::new();
    for (i, obs) in steps.iter().enumerate() {
        let before = state.clone();
        let o = diff("lb1", state.take(), obs, Utc::now());
        assert_eq!(
            o.changed,
            before.as_ref() != Some(&o.state),
            "step {i}: `changed` is wrong"
        );
        state = Some(o.state);
        out.push(o.events);
    }
    out
}

fn kinds(ev: &[Event]) -> Vec<(Kind, String)> {
    ev.iter().map(|e| (e.kind, e.subject())).collect()
}

#[test]
fn first_poll_is_a_silent_baseline_and_counters_alone_raise_nothing() {
    let r = run(&[snap(START, 1), snap(END, 1)]);
    assert!(r[0].is_empty(), "{:?}", r[0]);
    assert!(r[1].is_empty(), "{:?}", r[1]);
}

#[test]
fn a_failing_server_warns_then_goes_down_then_recovers() {
    let up12 = edit(
        START,
        &[(
            "be_app",
            "app1",
            &[
                ("status", "UP 1/2"),
                ("check_status", "L7STS"),
                ("check_code", "500"),
                ("last_chk", "Internal Server Error"),
            ],
        )],
    );
    let down = edit(
        START,
        &[(
            "be_app",
            "app1",
            &[
                ("status", "DOWN"),
                ("check_status", "L7STS"),
                ("check_code", "500"),
                ("last_chk", "Internal Server Error"),
            ],
        )],
    );
    let down12 = edit(
        START,
        &[("be_app", "app1", &[("status", "DOWN 1/2"), ("check_status", "L7OK")])],
    );
    let r = run(&[
        snap(START, 1),
        snap(&up12, 1),
        snap(&down, 1),
        snap(&down12, 1),
        snap(START, 1),
    ]);
    assert_eq!(kinds(&r[1]), vec![(CheckChanged, "be_app/app1".into())]);
    assert_eq!(r[1][0].severity, Severity::Warning);
    assert_eq!(r[1][0].from.as_deref(), Some("L7OK"));
    assert_eq!(r[1][0].to.as_deref(), Some("L7STS"));
    assert_eq!(kinds(&r[2]), vec![(ServerDown, "be_app/app1".into())]);
    let d = &r[2][0];
    assert_eq!(
        (d.from.as_deref(), d.to.as_deref(), d.severity),
        (Some("UP"), Some("DOWN"), Severity::Critical)
    );
    let check = d.check.as_ref().unwrap();
    assert_eq!(
        (check.status.as_str(), check.code.as_deref(), check.info.as_deref()),
        ("L7STS", Some("500"), Some("Internal Server Error"))
    );
    assert_eq!(check.desc.as_deref(), Some("Layer7 check passed")); // the capture's cell, unchanged by edit()
    assert_eq!(d.addr.as_deref(), Some("127.0.0.1:18081"));
    assert!(d.message.contains("UP → DOWN"), "{}", d.message);
    assert!(r[3].is_empty(), "recovering (DOWN 1/2) is silent: {:?}", r[3]);
    assert_eq!(kinds(&r[4]), vec![(ServerUp, "be_app/app1".into())]);
    assert_eq!(r[4][0].severity, Severity::Info);
}

#[test]
fn a_check_blip_shorter_than_fall_warns_and_clears_without_a_state_event() {
    let up12 = edit(
        START,
        &[("be_app", "app1", &[("status", "UP 1/2"), ("check_status", "L4TOUT")])],
    );
    let r = run(&[snap(START, 1), snap(&up12, 1), snap(START, 1)]);
    assert_eq!(kinds(&r[1]), vec![(CheckChanged, "be_app/app1".into())]);
    assert_eq!(kinds(&r[2]), vec![(CheckChanged, "be_app/app1".into())]);
    assert_eq!(r[2][0].severity, Severity::Info);
}

#[test]
fn operator_maint_drain_and_ready() {
    let maint = edit(
        START,
        &[
            ("be_app", "app1", &[("status", "MAINT"), ("check_status", "")]),
            ("be_app", "trk", &[("status", "MAINT (via be_app/app1)")]),
        ],
    );
    let ready = edit(
        START,
        &[
            ("be_app", "app1", &[("status", "UP 1/2")]),
            ("be_app", "trk", &[("status", "UP 1/2")]),
        ],
    );
    let drain = edit(START, &[("be_app", "app1", &[("status", "DRAIN")])]);
    let r = run(&[
        snap(START, 1),
        snap(&maint, 1),
        snap(&ready, 1),
        snap(START, 1),
        snap(&drain, 1),
        snap(START, 1),
    ]);
    assert_eq!(
        kinds(&r[1]),
        vec![(ServerMaint, "be_app/app1".into()), (ServerMaint, "be_app/trk".into())]
    );
    assert_eq!(r[1][1].status.as_deref(), Some("MAINT (via be_app/app1)"));
    assert!(r[2].is_empty(), "{:?}", r[2]);
    assert_eq!(
        kinds(&r[3]),
        vec![(ServerReady, "be_app/app1".into()), (ServerReady, "be_app/trk".into())]
    );
    assert_eq!(kinds(&r[4]), vec![(ServerDrain, "be_app/app1".into())]);
    assert_eq!(kinds(&r[5]), vec![(ServerReady, "be_app/app1".into())]);
}

/// What HAProxy shows right after a start: every checked server `UP 1/y` with
/// check `INI`, every BACKEND `UP`.
fn fresh_start(base: &str) -> String {
    let rows = haproxy::stat::parse(base).unwrap();
    let mut edits: Vec<OwnedEdit> = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.kind() == haproxy::RowType::Server && !r.check_status.is_empty())
    {
        edits.push((
            r.pxname.to_string(),
            r.svname.to_string(),
            vec![
                ("status", "UP 1/2"),
                ("check_status", "INI"),
                ("last_chk", ""),
                ("check_code", ""),
            ],
        ));
    }
    for r in rows.iter().filter(|r| r.kind() == haproxy::RowType::Backend) {
        edits.push((r.pxname.to_string(), r.svname.to_string(), vec![("status", "UP")]));
    }
    let e: Vec<Edit> = edits
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_slice()))
        .collect();
    edit(base, &e)
}

#[test]
fn a_restart_is_one_event_and_servers_compare_with_their_settled_state() {
    let r = run(&[snap(START, 1), snap(&fresh_start(START), 2), snap(START, 2)]);
    assert_eq!(kinds(&r[1]), vec![(InstanceRestarted, "lb1".into())]);
    assert_eq!((r[1][0].from.as_deref(), r[1][0].to.as_deref()), (Some("1"), Some("2")));
    // app2/app500/d1/d2 were DOWN before and are DOWN after; be_dead stayed DOWN.
    assert!(r[2].is_empty(), "{:?}", r[2]);
}

#[test]
fn a_restart_reports_a_server_that_was_up_and_is_not() {
    let after = edit(
        START,
        &[("be_app", "app1", &[("status", "DOWN"), ("check_status", "L4CON")])],
    );
    let r = run(&[snap(START, 1), snap(&fresh_start(START), 2), snap(&after, 2)]);
    assert_eq!(kinds(&r[2]), vec![(ServerDown, "be_app/app1".into())]);
}

#[test]
fn a_restart_that_loses_maintenance_says_so() {
    let maint = edit(START, &[("be_tcp", "t1", &[("status", "MAINT")])]);
    let r = run(&[
        snap(START, 1),
        snap(&maint, 1),
        snap(&fresh_start(START), 2),
        snap(START, 2),
    ]);
    assert_eq!(kinds(&r[1]), vec![(ServerMaint, "be_tcp/t1".into())]);
    assert_eq!(kinds(&r[3]), vec![(ServerReady, "be_tcp/t1".into())]);
}

#[test]
fn reload_with_a_new_server_reports_it_once() {
    let before = without(START, &[("be_tcp", "t1")]);
    let r = run(&[
        snap(&before, 1),
        snap(&fresh_start(START), 2),
        snap(START, 2),
        snap(START, 2),
    ]);
    // The new server is told once, when its first check has settled it.
    assert_eq!(kinds(&r[1]), vec![(InstanceRestarted, "lb1".into())]);
    assert_eq!(kinds(&r[2]), vec![(ServerAdded, "be_tcp/t1".into())]);
    assert_eq!(r[2][0].to.as_deref(), Some("UP"));
    assert!(r[3].is_empty(), "{:?}", r[3]);
}

#[test]
fn an_added_server_that_settles_down_is_reported_once_as_added_down() {
    let before = without(START, &[("be_tcp", "t1")]);
    let added = edit(
        START,
        &[("be_tcp", "t1", &[("status", "UP 1/2"), ("check_status", "INI")])],
    );
    let down = edit(
        START,
        &[("be_tcp", "t1", &[("status", "DOWN"), ("check_status", "L4CON")])],
    );
    let r = run(&[snap(&before, 1), snap(&added, 1), snap(&down, 1), snap(&down, 1)]);
    assert!(r[1].is_empty(), "{:?}", r[1]);
    assert_eq!(kinds(&r[2]), vec![(ServerAdded, "be_tcp/t1".into())]);
    assert_eq!(r[2][0].to.as_deref(), Some("DOWN"));
    assert!(r[3].is_empty(), "{:?}", r[3]);
}

#[test]
fn an_added_server_removed_before_it_settled_is_never_told() {
    let before = without(START, &[("be_tcp", "t1")]);
    let added = edit(
        START,
        &[("be_tcp", "t1", &[("status", "UP 1/2"), ("check_status", "INI")])],
    );
    let r = run(&[snap(&before, 1), snap(&added, 1), snap(&before, 1)]);
    assert!(r[1].is_empty() && r[2].is_empty(), "{:?} {:?}", r[1], r[2]);
}

#[test]
fn removed_servers() {
    let after = without(START, &[("be_app", "bkp")]);
    let r = run(&[snap(START, 1), snap(&after, 1)]);
    assert_eq!(kinds(&r[1]), vec![(ServerRemoved, "be_app/bkp".into())]);
    assert_eq!(r[1][0].from.as_deref(), Some("UP"));
}

#[test]
fn a_backend_with_no_usable_server_and_its_recovery() {
    let dead = edit(
        START,
        &[
            ("be_logchk", "lc1", &[("status", "DOWN"), ("check_status", "L7STS")]),
            ("be_logchk", "BACKEND", &[("status", "DOWN")]),
        ],
    );
    let r = run(&[snap(START, 1), snap(&dead, 1), snap(START, 1)]);
    assert_eq!(
        kinds(&r[1]),
        vec![(ServerDown, "be_logchk/lc1".into()), (BackendDown, "be_logchk".into())]
    );
    assert!(r[1][1].message.contains("lc1"), "{}", r[1][1].message);
    assert_eq!(
        kinds(&r[2]),
        vec![(ServerUp, "be_logchk/lc1".into()), (BackendUp, "be_logchk".into())]
    );
}

#[test]
fn unreachable_then_recovered_then_compared_with_before() {
    let down = edit(
        START,
        &[("be_app", "app1", &[("status", "DOWN"), ("check_status", "L4CON")])],
    );
    let err = || -> Observation {
        Err(SourceError::Socket(haproxy::Error::Refused {
            endpoint: "/run/haproxy/admin.sock".into(),
        }))
    };
    let r = run(&[snap(START, 1), err(), err(), snap(&down, 1)]);
    assert_eq!(kinds(&r[1]), vec![(InstanceUnreachable, "lb1".into())]);
    assert!(
        r[1][0]
            .message
            .contains("unreachable: connection refused by /run/haproxy/admin.sock"),
        "{}",
        r[1][0].message
    );
    assert_eq!(r[1][0].severity, Severity::Critical);
    assert!(r[2].is_empty());
    assert_eq!(
        kinds(&r[3]),
        vec![(InstanceRecovered, "lb1".into()), (ServerDown, "be_app/app1".into())]
    );
}

#[test]
fn an_instance_unreachable_from_the_start_is_reported_then_baselined() {
    let no_socket = SourceError::Socket(haproxy::Error::NotFound {
        endpoint: "/run/haproxy/admin.sock".into(),
    });
    let r = run(&[Err(no_socket), snap(START, 1), snap(START, 1)]);
    assert_eq!(kinds(&r[0]), vec![(InstanceUnreachable, "lb1".into())]);
    assert_eq!(kinds(&r[1]), vec![(InstanceRecovered, "lb1".into())]);
    assert!(r[2].is_empty());
}

#[test]
fn agent_changes_are_reported() {
    let agent_down = edit(
        START,
        &[(
            "be_app",
            "app3",
            &[
                ("agent_status", "L7STS"),
                ("last_agt", "via agent : down (maintenance window)"),
            ],
        )],
    );
    let r = run(&[snap(START, 1), snap(&agent_down, 1)]);
    assert_eq!(kinds(&r[1]), vec![(AgentChanged, "be_app/app3".into())]);
    assert!(r[1][0].message.contains("maintenance window"), "{}", r[1][0].message);
}

#[test]
fn derived_start_times_tolerate_jitter_but_not_a_restart() {
    let obs = |uptime: u64, now: DateTime<Utc>| -> Observation {
        let info = haproxy::Info {
            pid: Some(1),
            uptime_sec: Some(uptime),
            ..Default::default()
        };
        Ok(Snapshot {
            proc: Some(ProcInfo::from_info(&info, now)),
            stat: haproxy::Stat::parse(START.to_string()).unwrap(),
        })
    };
    let t0 = Utc::now();
    let s1 = diff("lb1", None, &obs(100, t0), t0).state;
    let t1 = t0 + chrono::Duration::milliseconds(2900);
    let o2 = diff("lb1", Some(s1.clone()), &obs(102, t1), t1);
    assert!(o2.events.is_empty());
    assert!(!o2.changed, "a steady instance has nothing to persist");
    assert_eq!(s1, o2.state);
    let t2 = t1 + chrono::Duration::seconds(30);
    let e3 = diff("lb1", Some(o2.state), &obs(5, t2), t2).events;
    assert_eq!(kinds(&e3), vec![(InstanceRestarted, "lb1".into())]);
}

/// A real HAProxy 2.6 read 30 ms after its start and again once every check
/// had run (`tests/fixtures/haproxy-2.6/README.md`): `fall 1` servers reading
/// plain `UP` with check `INI`, an agent-only server held DOWN by its agent,
/// a `track` of a server of a later backend, a `disabled` server.
const AFTER_START: &str = include_str!("../../tests/fixtures/haproxy-2.6/show-stat-after-start.csv");
const AFTER_START_CHECKED: &str = include_str!("../../tests/fixtures/haproxy-2.6/show-stat-after-start-checked.csv");

#[test]
fn a_reload_of_fall_1_agent_and_tracking_servers_is_one_event() {
    let r = run(&[
        snap(AFTER_START_CHECKED, 1),
        snap(AFTER_START, 2),
        snap(AFTER_START_CHECKED, 2),
        snap(AFTER_START_CHECKED, 2),
    ]);
    assert_eq!(kinds(&r[1]), vec![(InstanceRestarted, "lb1".into())]);
    assert!(r[2].is_empty(), "{:?}", kinds(&r[2]));
    assert!(r[3].is_empty(), "{:?}", kinds(&r[3]));
}

#[test]
fn at_boot_servers_that_never_settled_raise_nothing_when_they_do() {
    // hawatch and HAProxy started together: the baseline is HAProxy's defaults.
    let r = run(&[snap(AFTER_START, 1), snap(AFTER_START_CHECKED, 1)]);
    assert!(r[1].is_empty(), "{:?}", kinds(&r[1]));
    // And what did settle is the baseline for real changes afterwards.
    let up_again = edit(
        AFTER_START_CHECKED,
        &[
            ("b3", "x", &[("status", "UP"), ("check_status", "L4OK")]),
            ("b3", "BACKEND", &[("status", "UP")]),
        ],
    );
    let r = run(&[snap(AFTER_START, 1), snap(AFTER_START_CHECKED, 1), snap(&up_again, 1)]);
    assert_eq!(
        kinds(&r[2]),
        vec![(ServerUp, "b3/x".into()), (BackendUp, "b3".into())],
        "{:?}",
        r[2]
    );
}

/// A real HAProxy 3.2 read as the first check of a `rise 3 fall 1` server on
/// a closed port had just failed (`scripts/capture-going-down.py`): be0/s18
/// reads `UP -2/1` with check `* L4CON`, s19 still `UP` with check `INI`, the
/// other 18 are DOWN.
const GOING_DOWN: &str =
    include_str!("../../crates/haproxy/tests/fixtures/matrix/haproxy-3.2/show-stat-going-down.csv");

#[test]
fn a_negative_count_after_a_reload_is_not_a_recovery() {
    // Before the reload every server was DOWN. HAProxy's `UP -2/1` is a
    // server on its way DOWN, not back UP: the reload is one event, and the
    // DOWN it settles in is what it was.
    let settled = edit(
        GOING_DOWN,
        &[
            ("be0", "s18", &[("status", "DOWN"), ("check_status", "L4CON")]),
            ("be0", "s19", &[("status", "DOWN"), ("check_status", "L4CON")]),
            ("be0", "BACKEND", &[("status", "DOWN")]),
        ],
    );
    let r = run(&[snap(&settled, 1), snap(GOING_DOWN, 2), snap(&settled, 2)]);
    assert_eq!(kinds(&r[1]), vec![(InstanceRestarted, "lb1".into())], "{:?}", r[1]);
    assert!(r[2].is_empty(), "{:?}", kinds(&r[2]));
}

#[test]
fn a_reload_still_tells_what_really_changed() {
    // up1 was DOWN before the reload and is UP after it; x was DOWN and stays.
    let before = edit(
        AFTER_START_CHECKED,
        &[("b1", "up1", &[("status", "DOWN"), ("check_status", "L4CON")])],
    );
    let r = run(&[snap(&before, 1), snap(AFTER_START, 2), snap(AFTER_START_CHECKED, 2)]);
    assert_eq!(kinds(&r[1]), vec![(InstanceRestarted, "lb1".into())]);
    assert_eq!(kinds(&r[2]), vec![(ServerUp, "b1/up1".into())], "{:?}", r[2]);
}

#[test]
fn a_tracking_server_waits_for_the_server_it_tracks() {
    // b2/tracks_forward mirrors b3/x (a later backend) as plain `UP` with no
    // check of its own while x waits for its first check.
    let r = run(&[snap(AFTER_START_CHECKED, 1), snap(AFTER_START, 2)]);
    assert!(
        !r[1].iter().any(|e| e.backend.as_deref() == Some("b2")),
        "{:?}",
        kinds(&r[1])
    );
    // Once x is checked UP, the tracker follows: both really changed.
    let x_up = edit(
        AFTER_START_CHECKED,
        &[
            ("b3", "x", &[("status", "UP"), ("check_status", "L4OK")]),
            ("b3", "BACKEND", &[("status", "UP")]),
            ("b2", "tracks_forward", &[("status", "UP")]),
            ("b2", "BACKEND", &[("status", "UP")]),
        ],
    );
    let r = run(&[snap(AFTER_START_CHECKED, 1), snap(AFTER_START, 2), snap(&x_up, 2)]);
    assert_eq!(
        kinds(&r[2]),
        vec![
            (ServerUp, "b2/tracks_forward".into()),
            (BackendUp, "b2".into()),
            (ServerUp, "b3/x".into()),
            (BackendUp, "b3".into())
        ]
    );
}

#[test]
fn a_backend_with_a_settled_usable_server_is_up_without_waiting_for_the_rest() {
    // b1 was DOWN before the reload; after it, `nocheck` (no check) is
    // settled UP while others still wait: the backend is really UP.
    let mut edits: Vec<Edit> = AFTER_START_CHECKED
        .lines()
        .filter(|l| l.starts_with("b1,") && !l.starts_with("b1,BACKEND"))
        .map(|l| {
            let sv = l.split(',').nth(1).unwrap();
            let e: Edit = ("b1", sv, &[("status", "DOWN")]);
            e
        })
        .collect();
    edits.push(("b1", "BACKEND", &[("status", "DOWN")]));
    let before = edit(AFTER_START_CHECKED, &edits);
    let r = run(&[snap(&before, 1), snap(AFTER_START, 2)]);
    assert!(r[1].contains_ev(BackendUp, "b1"), "{:?}", kinds(&r[1]));
}

trait ContainsEv {
    fn contains_ev(&self, kind: Kind, subject: &str) -> bool;
}

impl ContainsEv for Vec<Event> {
    fn contains_ev(&self, kind: Kind, subject: &str) -> bool {
        self.iter().any(|e| e.kind == kind && e.subject() == subject)
    }
}

/// Issue 12: start times taken from HAProxy's text at the ends of i64
/// overflowed `a - b` (a panic in debug builds).
#[test]
fn extreme_start_times_do_not_overflow_the_restart_check() {
    let p = |t: i64, derived: bool| crate::model::snapshot::ProcInfo {
        pid: Some(1),
        start_time: Some(t),
        start_time_derived: derived,
        version: None,
        node: None,
    };
    assert!(restarted(&p(i64::MAX, true), &p(i64::MIN, false)));
    assert!(restarted(&p(i64::MIN, false), &p(i64::MAX, true)));
    assert!(!restarted(&p(100, true), &p(102, false)));
    assert!(restarted(&p(100, true), &p(104, false)));
}

/// Found by tests/it/nostorm.rs (NOSTORM_SEED=8): b1 was DOWN, its one UP
/// server at `weight 0`. After a reload that server is settled at once (no
/// check) while the others wait and the BACKEND row shows HAProxy's default
/// UP: a server that takes no traffic does not make the backend usable, so
/// no `backend_up` now and `backend_down` once the rest settle.
#[test]
fn a_settled_server_of_weight_0_does_not_make_a_waiting_backend_up() {
    let mut edits: Vec<Edit> = AFTER_START_CHECKED
        .lines()
        .filter(|l| l.starts_with("b1,"))
        .filter(|l| {
            !["b1,BACKEND,", "b1,nocheck,", "b1,disabled,"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .map(|l| {
            let sv = l.split(',').nth(1).unwrap();
            let e: Edit = ("b1", sv, &[("status", "DOWN")]);
            e
        })
        .collect();
    edits.push(("b1", "nocheck", &[("weight", "0")]));
    edits.push(("b1", "BACKEND", &[("status", "DOWN")]));
    let before = edit(AFTER_START_CHECKED, &edits);
    let after_start = edit(AFTER_START, &[("b1", "nocheck", &[("weight", "0")])]);
    let r = run(&[snap(&before, 1), snap(&after_start, 2), snap(&before, 2)]);
    assert_eq!(kinds(&r[1]), vec![(InstanceRestarted, "lb1".into())], "{:?}", r[1]);
    assert!(r[2].is_empty(), "{:?}", kinds(&r[2]));
}

#[test]
fn a_check_result_seen_while_the_agent_waits_is_compared_once_settled() {
    // Before: held DOWN by its agent, health check L4OK. The reload moves it
    // to a dead port: the health check answers L4CON first, while the agent
    // still waits; then the agent answers and it is DOWN (agent) again. The
    // result changed for real: one check_changed, whichever answered first.
    let before = AFTER_START_CHECKED;
    let health_first = edit(
        AFTER_START,
        &[("b1", "check_agent", &[("status", "DOWN"), ("check_status", "L4CON")])],
    );
    let settled = edit(
        AFTER_START_CHECKED,
        &[("b1", "check_agent", &[("check_status", "L4CON")])],
    );
    let r = run(&[snap(before, 1), snap(&health_first, 2), snap(&settled, 2)]);
    assert_eq!(kinds(&r[1]), vec![(InstanceRestarted, "lb1".into())]);
    assert_eq!(kinds(&r[2]), vec![(CheckChanged, "b1/check_agent".into())]);
    // Seen only once settled: the same one event.
    let r = run(&[snap(before, 1), snap(AFTER_START, 2), snap(&settled, 2)]);
    assert_eq!(kinds(&r[2]), vec![(CheckChanged, "b1/check_agent".into())]);
}

#[test]
fn a_check_the_config_removed_then_added_back_is_not_compared_with_the_old_result() {
    // app3 is DOWN with a passing health check (its agent holds it); a reload makes it track another server
    // (no check of its own: the column is empty); the next reload gives it a
    // check of its own again, which fails. Its state never changed (the
    // tracked server was DOWN too): nothing to tell, and certainly not
    // "L4OK → L4CON" from two configurations ago (found by tests/it/nostorm.rs).
    let down = |check: &'static str| -> String {
        edit(
            START,
            &[("be_app", "app3", &[("status", "DOWN"), ("check_status", check)])],
        )
    };
    let r = run(&[snap(&down("L4OK"), 1), snap(&down(""), 2), snap(&down("L4CON"), 3)]);
    assert_eq!(kinds(&r[1]), vec![(InstanceRestarted, "lb1".into())]);
    assert_eq!(kinds(&r[2]), vec![(InstanceRestarted, "lb1".into())]);
}

#[test]
fn an_empty_or_unknown_status_is_unknown_never_down() {
    // HAProxy 3.0+ may leave cells empty; a later version may add a word.
    for word in ["", "SOMETHING"] {
        let odd = edit(
            START,
            &[
                ("be_app", "app1", &[("status", word)]),
                ("be_dead", "BACKEND", &[("status", word)]),
            ],
        );
        let r = run(&[snap(START, 1), snap(&odd, 1), snap(START, 1)]);
        assert!(r[1].is_empty(), "{word:?}: {:?}", kinds(&r[1]));
        assert!(r[2].is_empty(), "{word:?}: {:?}", kinds(&r[2]));
    }
}
