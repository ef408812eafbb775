//! The parsers on captures from real HAProxy 2.2, 2.6, 3.0 and 3.2 (Debian's
//! packages; `tests/fixtures/matrix/haproxy-X.Y/`, captured by
//! `scripts/capture-fixtures.py` from one setup, described in its
//! `haproxy.cfg`). Each version must read the same: the CSV has 100 columns
//! in 2.2, 129 in 2.6, 206 in 3.0 and 208 in 3.2, so a column taken by
//! position instead of by the header's name fails here.

use haproxy::master::{parse_reload, parse_show_proc, Reload};
use haproxy::{CheckStatus, Info, RowType, ServerStatus, Stat, State};

const VERSIONS: [&str; 4] = ["2.2", "2.6", "3.0", "3.2"];

fn fixture(version: &str, name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/matrix/haproxy-{version}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `proxy/server state check agent weight` of every server and backend row.
fn table(stat: &Stat) -> Vec<String> {
    stat.rows()
        .filter(|r| matches!(r.kind(), RowType::Server | RowType::Backend) && r.pxname != "stats")
        .map(|r| {
            let code = |c: &str| {
                CheckStatus::parse(c)
                    .map(|c| c.as_str().to_string())
                    .unwrap_or("-".into())
            };
            format!(
                "{}/{} {} {} {} {}",
                r.pxname,
                r.svname,
                ServerStatus::parse(&r.status).state.word(),
                code(&r.check_status),
                code(&r.agent_status),
                r.weight.map(|w| w.to_string()).unwrap_or("-".into())
            )
        })
        .collect()
}

/// What the setup shows on every version, once settled.
const SETTLED: [&str; 15] = [
    "be_app/app1 UP L7OK - 1",
    "be_app/app2 DOWN L4CON - 1",
    "be_app/app3 DOWN L7OK L7STS 1",
    "be_app/app404 NOLB L7OKC - 1",
    "be_app/app500 DOWN L7STS - 1",
    "be_app/nochk UP - - 1",
    "be_app/bkp UP L7OK - 1",
    "be_app/trk UP - - 1",
    "be_app/w0 UP L7OK - 0",
    "be_app/BACKEND UP - - 3",
    "be_dead/d1 DOWN L4CON - 1",
    "be_dead/BACKEND DOWN - - 0",
    "be_tcp/t1 UP L4OK - 1",
    "be_tcp/t2 MAINT - - 1",
    "be_tcp/BACKEND UP - - 1",
];

#[test]
fn show_stat_reads_the_same_on_every_version() {
    let mut widths = Vec::new();
    for v in VERSIONS {
        for file in ["show-stat.csv", "http-stats.csv"] {
            let stat = Stat::parse(fixture(v, file)).unwrap_or_else(|e| panic!("{v} {file}: {e}"));
            assert_eq!(table(&stat), SETTLED, "HAProxy {v} {file}");
            // The tracking server names what it tracks on every version.
            let trk = stat.rows().find(|r| r.svname == "trk").unwrap();
            assert_eq!(trk.tracked, "be_app/app1", "{v}");
        }
        let stat = Stat::parse(fixture(v, "show-stat.csv")).unwrap();
        widths.push(stat.columns().len());
    }
    // The versions really differ in width (the point of this test).
    assert_eq!(widths, [100, 129, 206, 208]);
}

#[test]
fn right_after_start_every_checked_server_waits_for_its_first_check() {
    // The capture's servers by name: which ones were still waiting for their
    // first check (`INI`) when it was read. app1's check is fast and had run;
    // on 2.2, app2's (a closed port) had failed already; nochk has no check,
    // trk tracks another server, t2 starts `disabled`.
    let waiting_everywhere = ["app3", "app404", "app500", "bkp", "w0", "d1", "t1"];
    for v in VERSIONS {
        let stat = Stat::parse(fixture(v, "show-stat-after-start.csv")).unwrap();
        let mut waiting: Vec<String> = stat
            .rows()
            .filter(|r| r.kind() == RowType::Server)
            .filter(|r| {
                ServerStatus::parse(&r.status)
                    .awaits_first_check(CheckStatus::parse(&r.check_status), CheckStatus::parse(&r.agent_status))
            })
            .map(|r| r.svname.to_string())
            .collect();
        waiting.sort_unstable();
        let mut want: Vec<String> = waiting_everywhere.iter().map(|s| s.to_string()).collect();
        if v != "2.2" {
            want.push("app2".into());
        }
        want.sort_unstable();
        assert_eq!(waiting, want, "{v}");
    }
}

#[test]
fn a_server_whose_first_check_just_failed_reads_a_negative_count_and_is_not_settled() {
    // `scripts/capture-going-down.py`: 20 `rise 3 fall 1` servers on a closed
    // port, read until one showed `UP -2/1` (health 0, below `rise`, while
    // HAProxy has not applied the DOWN yet). Every version prints it.
    for v in VERSIONS {
        let stat = Stat::parse(fixture(v, "show-stat-going-down.csv")).unwrap();
        let going: Vec<_> = stat
            .rows()
            .filter(|r| r.kind() == RowType::Server && r.status.contains('-'))
            .collect();
        assert_eq!(going.len(), 1, "{v}");
        let r = &going[0];
        let s = ServerStatus::parse(&r.status);
        assert_eq!((s.state, s.transition), (State::Up, Some((-2, 1))), "{v}: {}", r.status);
        assert!(!s.is_settled(), "{v}");
        let check = CheckStatus::parse(&r.check_status).unwrap();
        assert_eq!(check.as_str(), "L4CON", "{v}");
        assert!(!s.awaits_first_check(Some(check), None), "{v}");
    }
}

#[test]
fn show_info_and_the_html_header_name_the_process_on_every_version() {
    for v in VERSIONS {
        let info = Info::parse(&fixture(v, "show-info.txt"));
        assert!(!info.is_stopping(), "{v}: a serving process says `Stopping: 0`");
        let stopping = fixture(v, "show-info.txt").replace("Stopping: 0", "Stopping: 1");
        assert!(Info::parse(&stopping).is_stopping(), "{v}");
        let version = info.version.clone().unwrap_or_default();
        assert!(version.starts_with(v), "{v}: {version}");
        assert!(info.pid.is_some() && info.uptime_sec.is_some(), "{v}: {info:?}");
        // `Start_time_sec` came with 2.4; hawatch derives it from the uptime before.
        assert_eq!(info.start_time_sec.is_some(), v != "2.2", "{v}: {info:?}");
        let html = Info::parse_html(&fixture(v, "http-stats-scope.html"));
        assert!(html.version.as_deref().unwrap_or("").starts_with(v), "{v}: {html:?}");
        assert!(html.pid.is_some() && html.uptime_sec.is_some(), "{v}: {html:?}");
    }
}

#[test]
fn ring_lines_name_the_server_on_every_version() {
    for v in VERSIONS {
        let text = fixture(v, "show-events-evring.txt");
        let servers: Vec<String> = text
            .lines()
            .filter_map(haproxy::log::parse_state_line)
            .map(|l| format!("{}/{}", l.backend, l.server.unwrap_or_default()))
            .collect();
        for s in ["be_app/app2", "be_app/app3", "be_dead/d1"] {
            assert!(servers.iter().any(|x| x == s), "{v}: {s} not in {servers:?}\n{text}");
        }
    }
}

#[test]
fn show_proc_of_every_version() {
    for v in VERSIONS {
        let p = parse_show_proc(&fixture(v, "master-show-proc.txt")).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert_eq!(
            (p.reloads, p.workers.len(), p.old_workers.len()),
            (0, 1, 0),
            "{v}: {p:?}"
        );
        assert!(!p.last_reload_failed(), "{v}");
        // 2.2 has no failed-reload count.
        assert_eq!(p.failed.is_some(), v != "2.2", "{v}: {p:?}");
        assert_eq!(p.current_worker(), Some(p.workers[0].pid));

        // After three good reloads and a bad one: the worker of the last good
        // one still serves. 2.2 and 3.2 list it under `# old workers`.
        let after = parse_show_proc(&fixture(v, "master-show-proc-after-bad.txt")).unwrap();
        assert!(after.last_reload_failed(), "{v}: {after:?}");
        assert_eq!(after.reloads, 4, "{v}");
        let serving = after.current_worker().unwrap_or_else(|| panic!("{v}: {after:?}"));
        assert_ne!(serving, p.workers[0].pid, "{v}");
        let listed_old = after.workers.is_empty();
        assert_eq!(listed_old, matches!(v, "2.2" | "3.2"), "{v}: {after:?}");
    }
}

#[test]
fn reload_replies_of_every_version() {
    for v in VERSIONS {
        let reply = |name: &str| parse_reload(&fixture(v, name));
        let (ok, bad, busy) = (
            reply("master-reload-ok.txt"),
            reply("master-reload-bad.txt"),
            reply("master-reload-busy.txt"),
        );
        match v {
            // No reply at all: the master closes the connection.
            "2.2" | "2.6" => {
                assert_eq!(
                    (&ok, &bad, &busy),
                    (&Reload::Unreported, &Reload::Unreported, &Reload::Unreported),
                    "{v}"
                )
            }
            // 3.0 answers, and a second reload waits for the first.
            "3.0" => {
                assert!(matches!(ok, Reload::Loaded { .. }), "{v}: {ok:?}");
                assert!(
                    matches!(&bad, Reload::Failed { log } if log.contains("bogus-keyword")),
                    "{v}: {bad:?}"
                );
                assert!(matches!(busy, Reload::Loaded { .. }), "{v}: {busy:?}");
            }
            // 3.1+ refuse a reload while one is starting.
            "3.2" => {
                assert!(matches!(ok, Reload::Loaded { .. }), "{v}: {ok:?}");
                assert!(
                    matches!(&bad, Reload::Failed { log } if log.contains("bogus-keyword")),
                    "{v}: {bad:?}"
                );
                assert_eq!(busy, Reload::Busy, "{v}");
                assert!(matches!(reply("master-reload-slow.txt"), Reload::Loaded { .. }), "{v}");
            }
            _ => unreachable!(),
        }
    }
}
