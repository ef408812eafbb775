//! `hawatch top` drawn into ratatui's `TestBackend` from real captures
//! (HAProxy 2.6, `tests/fixtures/haproxy-2.6/show-stat.csv`), compared with
//! insta snapshots (`src/top/snapshots/`) at 80×24 and 200×50; and the keys.

use chrono::{DateTime, Duration, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;

use super::app::{App, Effect, Instance, Mode, Peer, PeerInstance, View};
use super::table::{Arrange, SortKey, Table};
use super::ui::draw;
use crate::model::event::{Event, Kind, Severity};

const STAT: &str = include_str!("../../tests/fixtures/haproxy-2.6/show-stat.csv");

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 8, 30, 0).unwrap()
}

fn table(csv: &str) -> Table {
    Table::build(&haproxy::Stat::parse(csv.to_string()).unwrap())
}

/// The capture with server and backend names replaced (`from` → `to`).
fn renamed(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for line in STAT.lines() {
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        for (from, to) in pairs {
            for c in cells.iter_mut().take(2) {
                if c == from {
                    *c = to.to_string();
                }
            }
        }
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn event(mins_ago: i64, kind: Kind, sev: Severity, be: Option<&str>, sv: Option<&str>, msg: &str) -> Event {
    let mut e = Event::new("lb1", kind, sev, msg.to_string());
    e.time = now() - Duration::minutes(mins_ago);
    e.backend = be.map(str::to_string);
    e.server = sv.map(str::to_string);
    e
}

fn app_with(csv: &str) -> App {
    let inst = Instance {
        name: "lb1".into(),
        source: "/run/haproxy/admin.sock".into(),
        socket: true,
        version: Some("2.6.12-1+deb12u4".into()),
        started: Some((now() - Duration::hours(76)).timestamp()),
        last_poll: Some(now() - Duration::milliseconds(400)),
        ..Default::default()
    };
    let web = Instance {
        name: "web".into(),
        source: "http://127.0.0.1:8404/stats;csv".into(),
        socket: false,
        version: Some("2.6.12-1+deb12u4".into()),
        started: Some((now() - Duration::hours(76)).timestamp()),
        last_poll: Some(now() - Duration::milliseconds(900)),
        ..Default::default()
    };
    let mut app = App::new(vec![inst, web], false, true);
    app.zone = crate::logic::route::Zone::Named(chrono_tz::UTC);
    app.set_table(0, table(csv));
    app.node.host = "lb1".into();
    app.node.roles.insert("VI_1".into(), "MASTER".into());
    app.node.vips = vec![("10.0.0.100".into(), true)];
    app.node.outbox = Some((0, 0));
    app.events = vec![
        event(
            9,
            Kind::ServerDown,
            Severity::Critical,
            Some("be_app"),
            Some("app2"),
            "server be_app/app2 UP → DOWN (L4CON Connection refused)",
        ),
        event(
            5,
            Kind::BackendDown,
            Severity::Critical,
            Some("be_dead"),
            None,
            "backend be_dead has no server available (servers: d1, d2)",
        ),
        event(
            2,
            Kind::ServerMaint,
            Severity::Warning,
            Some("be_tcp"),
            Some("t2"),
            "服务器 be_tcp/t2 进入维护 UP → MAINT",
        ),
    ];
    app
}

fn render(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, app, now())).unwrap();
    t
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    render(app, w, h).backend().to_string()
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn peer() -> Peer {
    let mut servers = std::collections::BTreeMap::new();
    let t = table(STAT);
    for l in t.lines.iter().filter(|l| l.kind == haproxy::RowType::Server) {
        servers.insert(l.key(), l.state.word().to_string());
    }
    // The peer sees app1 DOWN (here UP), has no bkp, and one server more.
    servers.insert("be_app/app1".into(), "DOWN".into());
    servers.remove("be_app/bkp");
    servers.insert("be_app/app9".into(), "UP".into());
    Peer {
        url: "http://192.0.2.2:9101".into(),
        truncated: false,
        host: Some("lb2".into()),
        roles: [("VI_1".to_string(), "BACKUP".to_string())].into(),
        vips_held: vec![],
        outbox: Some(0),
        last_ok: Some(now() - Duration::milliseconds(1500)),
        error: None,
        instances: vec![PeerInstance {
            name: "lb1".into(),
            version: Some("2.6.12-1+deb12u4".into()),
            last_poll: None,
            servers,
        }],
    }
}

#[test]
fn status_view_80x24() {
    insta::assert_snapshot!(screen(&mut app_with(STAT), 80, 24));
}

#[test]
fn status_view_200x50() {
    insta::assert_snapshot!(screen(&mut app_with(STAT), 200, 50));
}

#[test]
fn traffic_http_errors_views_80x24() {
    for (k, name) in [('2', "traffic"), ('3', "http"), ('4', "errors")] {
        let mut app = app_with(STAT);
        app.on_key(key(k));
        insta::assert_snapshot!(format!("view_{name}_80x24"), screen(&mut app, 80, 24));
    }
}

#[test]
fn traffic_view_200x50() {
    let mut app = app_with(STAT);
    app.on_key(key('2'));
    insta::assert_snapshot!(screen(&mut app, 200, 50));
}

#[test]
fn chinese_names_keep_their_columns() {
    // HAProxy's own names are ASCII, but the stats page of a patched or
    // proxied HAProxy, agents' words and events carry Chinese: each character
    // is two columns wide, and the columns after it stay where they are.
    let csv = renamed(&[("be_app", "应用后端"), ("app1", "上海-web1"), ("app2", "北京-web2")]);
    let mut app = app_with(&csv);
    let s = screen(&mut app, 80, 24);
    insta::assert_snapshot!("chinese_80x24", s);
    let s200 = screen(&mut app, 200, 50);
    insta::assert_snapshot!("chinese_200x50", s200);
    // The STATUS column starts at the same display column on every server row.
    let rows: Vec<&str> = s
        .lines()
        .filter(|l| l.contains("web1") || l.contains("  app3"))
        .collect();
    assert_eq!(rows.len(), 2, "{s}");
    let col = |l: &str| {
        let i = l.find("UP").unwrap();
        unicode_width::UnicodeWidthStr::width(&l[..i])
    };
    assert_eq!(col(rows[0]), col(rows[1]), "{rows:?}");
}

#[test]
fn pair_view_highlights_mismatches_80x24_and_200x50() {
    let mut app = app_with(STAT);
    app.set_peer(peer());
    app.on_key(key('6'));
    assert_eq!(app.view, View::Pair);
    let s = screen(&mut app, 80, 24);
    insta::assert_snapshot!("pair_80x24", s);
    insta::assert_snapshot!("pair_200x50", screen(&mut app, 200, 50));
    let differ: Vec<String> = app
        .pair_rows
        .iter()
        .filter(|r| r.mismatch())
        .map(|r| r.key.clone())
        .collect();
    assert_eq!(differ, ["be_app/app1", "be_app/app9", "be_app/bkp"]);
    // The mismatched rows are marked and drawn reversed (visible without colour).
    let t = render(&mut app, 80, 24);
    let buf = t.backend().buffer();
    let y = (0..24)
        .find(|&y| {
            (0..80)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .contains("be_app/app1")
        })
        .unwrap();
    assert_eq!(buf[(0, y)].symbol(), "≠");
    assert!(buf[(5, y)].modifier.contains(ratatui::style::Modifier::REVERSED));
    // `x` keeps only the differences.
    app.on_key(key('x'));
    app.prepare();
    assert_eq!(app.pair_rows.len(), 3);
    // A peer that does not answer is no difference: nothing is compared.
    app.set_peer(Peer {
        error: Some("connection refused".into()),
        ..peer()
    });
    let s = screen(&mut app, 80, 24);
    assert!(app.pair_rows.is_empty());
    assert!(s.contains("the peer cannot be asked"), "{s}");
    assert!(!s.contains('≠'), "{s}");
}

#[test]
fn help_and_confirmation_overlays_80x24() {
    let mut app = app_with(STAT);
    app.on_key(key('?'));
    insta::assert_snapshot!("help_80x24", screen(&mut app, 80, 24));
    app.on_key(key('q')); // any key closes help
    assert_eq!(app.mode, Mode::Normal);
    app.on_key(key('/'));
    for c in "app1".chars() {
        app.on_key(key(c));
    }
    app.on_key(code(KeyCode::Enter));
    app.prepare();
    app.on_key(code(KeyCode::Down));
    app.on_key(key('d'));
    insta::assert_snapshot!("confirm_drain_80x24", screen(&mut app, 80, 24));
}

#[test]
fn no_color_paints_nothing_but_keeps_the_cursor_and_mismatches() {
    let painted = |app: &mut App| {
        let t = render(app, 120, 40);
        let buf = t.backend().buffer().clone();
        buf.content()
            .iter()
            .any(|c| c.fg != Color::Reset || c.bg != Color::Reset)
    };
    let mut app = app_with(STAT);
    assert!(painted(&mut app));
    let mut plain = app_with(STAT);
    plain.color = false;
    plain.set_peer(peer());
    assert!(!painted(&mut plain));
    plain.on_key(key('6'));
    assert!(!painted(&mut plain));
    let t = render(&mut plain, 120, 40);
    assert!(t
        .backend()
        .buffer()
        .content()
        .iter()
        .any(|c| c.modifier.contains(ratatui::style::Modifier::REVERSED)));
}

#[test]
fn a_drain_asks_then_runs_ctls_command_and_read_only_refuses() {
    let mut app = app_with(STAT);
    app.prepare();
    // The cursor on be_app/app1 (the filter leaves be_app's head, then app1).
    for c in "/app1".chars() {
        app.on_key(key(c));
    }
    app.on_key(code(KeyCode::Enter));
    app.prepare();
    app.on_key(code(KeyCode::Down));
    assert_eq!(app.on_key(key('d')), None);
    let Mode::Confirm { question, .. } = &app.mode else {
        panic!("no confirmation: {:?}", app.mode)
    };
    assert!(question.contains("set server be_app/app1 state drain"), "{question}");
    // Anything but y: nothing done.
    assert_eq!(app.on_key(key('n')), None);
    assert_eq!(app.message.as_ref().unwrap().0, "nothing done");
    app.on_key(key('d'));
    let Some(Effect::Run { instance, jobs, typed }) = app.on_key(key('y')) else {
        panic!("y did not run it")
    };
    assert_eq!((instance, typed), (0, false));
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].0.to_string(), "set server be_app/app1 state drain");
    assert_eq!(jobs[0].1.as_ref().unwrap().status, "UP");

    // On the backend's line: every server of it, one confirmation.
    app.on_key(code(KeyCode::Up));
    app.on_key(key('m'));
    let Mode::Confirm { effect, .. } = &app.mode else {
        panic!()
    };
    let Effect::Run { jobs, .. } = effect else { panic!() };
    assert_eq!(jobs.len(), 1, "the filter shows app1 only");
    app.on_key(key('n'));

    let mut ro = app_with(STAT);
    ro.read_only = true;
    ro.prepare();
    ro.on_key(code(KeyCode::Down));
    for k in ['d', 'm', 'r'] {
        assert_eq!(ro.on_key(key(k)), None);
        assert_eq!(ro.mode, Mode::Normal);
        assert!(ro.message.as_ref().unwrap().0.contains("read-only"));
    }
    // The prompt: `show` goes at once, a change is refused.
    ro.on_key(key('5'));
    for c in "show info".chars() {
        ro.on_key(key(c));
    }
    let Some(Effect::Read { line, .. }) = ro.on_key(code(KeyCode::Enter)) else {
        panic!("show was not sent")
    };
    assert_eq!(line.as_str(), "show info");
    for c in "set server be_app/app1 state drain".chars() {
        ro.on_key(key(c));
    }
    assert_eq!(ro.on_key(code(KeyCode::Enter)), None);
    assert!(ro.message.as_ref().unwrap().0.contains("read-only"));
    // An HTTP-stats instance cannot be changed.
    let mut web = app_with(STAT);
    web.set_table(1, table(STAT));
    web.on_key(key(']'));
    web.prepare();
    web.on_key(code(KeyCode::Down));
    web.on_key(key('d'));
    assert_eq!(web.mode, Mode::Normal);
    assert!(web.message.as_ref().unwrap().0.contains("Runtime API"));
}

#[test]
fn the_prompt_asks_before_a_change_and_refuses_a_second_command() {
    let mut app = app_with(STAT);
    app.on_key(key('5'));
    for c in "show info;shutdown sessions server be_app/app1".chars() {
        app.on_key(key(c));
    }
    assert_eq!(app.on_key(code(KeyCode::Enter)), None);
    assert!(app.message.as_ref().unwrap().0.contains("one command"));
    app.prompt.clear();
    for c in "set weight be_app/app1 5".chars() {
        app.on_key(key(c));
    }
    assert_eq!(app.on_key(code(KeyCode::Enter)), None);
    assert!(matches!(app.mode, Mode::Confirm { .. }));
    let Some(Effect::Run { jobs, typed: true, .. }) = app.on_key(key('y')) else {
        panic!()
    };
    assert_eq!(jobs[0].0.to_string(), "set weight be_app/app1 5");
    app.done(
        0,
        true,
        vec![(true, "set weight be_app/app1 5".into(), "".into())],
        None,
    );
    insta::assert_snapshot!("runtime_80x24", screen(&mut app, 80, 24));
}

#[test]
fn filter_sort_and_fold() {
    let t = table(STAT);
    let names = |a: &Arrange| -> Vec<String> {
        a.apply(&t)
            .iter()
            .map(|s| {
                let l = &t.lines[s.line];
                if s.head {
                    format!("[{}]", l.proxy)
                } else {
                    l.name.clone()
                }
            })
            .collect()
    };
    let mut a = Arrange::default();
    let all = names(&a);
    assert_eq!(all[0], "[fe_main]");
    assert!(all.contains(&"app404".to_string()));
    a.filter = "APP4".into();
    assert_eq!(names(&a), ["[be_app]", "app404"]);
    a.filter = "be_dead".into();
    assert_eq!(names(&a), ["[be_dead]", "d1", "d2"]);
    a.folded.insert("be_dead".into());
    assert_eq!(names(&a), ["[be_dead]"]);
    a.folded.clear();
    a.filter = "be_app/".into();
    a.sort = Some(SortKey::Status);
    let got = names(&a);
    // Worst first: DOWN, then NOLB, then UP (HAProxy's order within each).
    assert_eq!(got[..4], ["[be_app]", "app2", "app500", "app404"]);
    a.reverse = true;
    let got = names(&a);
    assert_eq!(got[got.len() - 2..], ["app2", "app500"], "ties keep HAProxy's order");
    // The listen `stats` has a FRONTEND under its BACKEND head.
    a = Arrange::default();
    a.filter = "stats".into();
    assert_eq!(names(&a), ["[stats]", "FRONTEND"]);
}

#[test]
fn hostile_text_never_reaches_the_terminal_and_the_peer_is_parsed_safely() {
    let csv = STAT.replace("be_app,app1,", "be_app,app1\u{1b}[2J\u{202e},");
    let t = table(&csv);
    assert!(t.lines.iter().any(|l| l.name == "app1\\x1b[2J\\u{202e}"));
    let vrrp = br#"{"host":"lb2\u001b]0;pwned\u0007","vips_held":["10.0.0.100"],"states":{"VI_1":"BACKUP"},"pair":{"sinks":[{"pending":3},{"pending":2}]}}"#;
    let state = br#"{"instances":[{"name":"lb1","version":"3.2.0","backends":[{"name":"be","servers":[{"name":"s1","state":"UP"},{"name":"s2"}]}]}]}"#;
    let p = super::parse_peer(vrrp, state).unwrap();
    assert_eq!(p.host.as_deref(), Some("lb2\\x1b]0;pwned\\x07"));
    assert_eq!(p.outbox, Some(5));
    assert_eq!(p.roles["VI_1"], "BACKUP");
    assert_eq!(p.instances[0].servers["be/s1"], "UP");
    assert_eq!(p.instances[0].servers["be/s2"], "?");
    for (v, s) in [
        (&b"null"[..], &b"[]"[..]),
        (b"{}", b"{\"instances\":7}"),
        (
            b"[1,2]",
            b"{\"instances\":[{\"backends\":[{\"servers\":[1,null,{}]}]}]}",
        ),
    ] {
        assert!(super::parse_peer(v, s).is_ok());
    }
    assert!(super::parse_peer(b"not json", b"{}").is_err());
}

#[test]
fn keys_right_after_a_poll_or_a_switch_act_on_the_rows_of_now() {
    // No frame between the keys (the loop handles a batch, then draws once).
    let mut app = app_with(STAT);
    let small = STAT
        .lines()
        .filter(|l| l.starts_with('#') || l.starts_with("be_tcp,"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    app.set_table(1, table(&small));
    app.instances[1].socket = true;
    app.prepare();
    for _ in 0..30 {
        app.on_key(key('j'));
    }
    // To the small instance, then at once to its end and a drain: its rows.
    app.on_key(key(']'));
    app.on_key(key('G'));
    app.on_key(key('d'));
    let Mode::Confirm { question, .. } = &app.mode else {
        panic!("{:?} {:?}", app.mode, app.message)
    };
    assert!(
        question.starts_with("On web: set server be_tcp/t2 state drain"),
        "{question}"
    );
    app.on_key(key('n'));
    // An instance that never answered: no rows, keys do nothing, no panic.
    app.set_table(1, Table::default());
    for k in ['G', 'j', 'k', ' ', 'F', 'd', 'm', 'r', 's'] {
        assert_eq!(app.on_key(key(k)), None);
    }
    // A poll that shrinks the table under the cursor.
    app.on_key(key('['));
    app.on_key(key('G'));
    app.set_table(0, table(&small));
    app.on_key(key('d'));
    assert!(matches!(app.mode, Mode::Confirm { .. }), "{:?}", app.mode);
}

#[test]
fn only_a_plain_y_confirms_and_ctrl_keys_do_nothing() {
    let mut app = app_with(STAT);
    app.prepare();
    app.on_key(code(KeyCode::Down));
    app.on_key(code(KeyCode::Down));
    // Ctrl-D is not `d`.
    assert_eq!(
        app.on_key(KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL)),
        None
    );
    assert_eq!(app.mode, Mode::Normal);
    app.on_key(key('d'));
    assert!(matches!(app.mode, Mode::Confirm { .. }));
    for m in [KeyModifiers::CONTROL, KeyModifiers::ALT] {
        let mut again = App::new(Vec::new(), false, true);
        again.mode = app.mode.clone();
        assert_eq!(again.on_key(KeyEvent::new(KeyCode::Char('y'), m)), None, "{m:?}");
        assert_eq!(again.mode, Mode::Normal);
    }
    assert!(matches!(
        app.on_key(KeyEvent::new(KeyCode::Char('Y'), KeyModifiers::SHIFT)),
        Some(Effect::Run { .. })
    ));
}

#[test]
fn a_backend_line_acts_on_the_servers_the_filter_shows_even_folded() {
    let mut app = app_with(STAT);
    for c in "/app40".chars() {
        app.on_key(key(c));
    }
    app.on_key(code(KeyCode::Enter));
    // On be_app's line, folded: still only app404, named in the question.
    app.on_key(key(' '));
    app.on_key(key('m'));
    let Mode::Confirm { question, effect } = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert!(question.contains("set server be_app/app404 state maint"), "{question}");
    let Effect::Run { jobs, .. } = effect else { panic!() };
    assert_eq!(jobs.len(), 1);
    app.on_key(key('n'));
    // Without the filter: every server of be_app, named with its status.
    app.on_key(code(KeyCode::Esc));
    app.on_key(key('/'));
    for c in "be_app".chars() {
        app.on_key(key(c));
    }
    app.on_key(code(KeyCode::Enter));
    app.on_key(key('m'));
    let Mode::Confirm { question, effect } = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert!(
        question.contains("set 8 servers of be_app state maint: app1 (UP), app2 (DOWN)"),
        "{question}"
    );
    assert!(question.contains("and 2 more"), "{question}");
    let Effect::Run { jobs, .. } = effect else { panic!() };
    assert_eq!(jobs.len(), 8);
}

#[test]
fn the_pair_view_compares_only_what_both_sides_know() {
    let mut app = app_with(STAT);
    let mut p = peer();
    p.instances[0].servers.insert("be_app/app2".into(), "?".into());
    app.set_peer(p.clone());
    app.prepare();
    let row = |app: &App, k: &str| app.pair_rows.iter().find(|r| r.key == k).cloned().unwrap();
    assert!(!row(&app, "be_app/app2").mismatch(), "a state the peer never settled");
    assert!(row(&app, "be_app/app1").mismatch());
    // Cut answer: a server it does not list is not "absent" there.
    p.truncated = true;
    app.set_peer(p.clone());
    app.prepare();
    assert!(!row(&app, "be_app/bkp").mismatch());
    // Not polled here yet, or not readable: nothing compared, and why.
    app.instances[0].last_poll = None;
    app.set_peer(peer());
    app.prepare();
    assert!(app.pair_rows.is_empty());
    assert!(app.pair_note.as_deref().unwrap().contains("waiting for the first poll"));
    app.instances[0].last_poll = Some(now());
    app.instances[0].error = Some("connection refused".into());
    app.set_peer(peer());
    app.prepare();
    assert!(app.pair_rows.is_empty());
    assert!(app.pair_note.as_deref().unwrap().contains("cannot be read here"));
    // No instance of that name at the peer (two here, so no pairing by count).
    app.instances[0].error = None;
    let mut other = peer();
    other.instances[0].name = "elsewhere".into();
    app.set_peer(other);
    app.prepare();
    assert!(app.pair_rows.is_empty());
    assert!(app.pair_note.as_deref().unwrap().contains("no instance named lb1"));
    app.on_key(key('6'));
    assert!(screen(&mut app, 80, 24).contains("no instance named lb1"));
}

#[test]
fn hostile_text_is_drawn_escaped_everywhere() {
    let evil = "x\u{1b}]0;pwned\u{7}\u{202e}y";
    let csv = STAT.replace("be_app,app1,", &format!("be_app,app1{evil},"));
    let mut app = app_with(&csv);
    app.events[0].message = format!("server {evil} down");
    app.events[0].instance = evil.into();
    app.node.host = evil.into();
    app.node.store_error = Some(evil.into());
    let mut p = peer();
    p.host = Some(evil.into());
    p.roles.insert(evil.into(), evil.into());
    app.set_peer(p);
    app.done(0, true, vec![(true, "show info".into(), format!("Name: {evil}"))], None);
    let hidden = |app: &mut App, v: char| {
        app.mode = Mode::Normal;
        app.on_key(key(v));
        let t = render(app, 200, 50);
        t.backend()
            .buffer()
            .content()
            .iter()
            .flat_map(|c| c.symbol().chars().collect::<Vec<_>>())
            .filter(|c| crate::text::is_hidden(*c))
            .collect::<Vec<char>>()
    };
    for v in ['1', '2', '6'] {
        assert_eq!(hidden(&mut app, v), Vec::<char>::new(), "view {v}");
        // Shown escaped, not blanked by the last guard.
        let s = screen(&mut app, 200, 50);
        assert!(s.contains(r"x\x1b]0;pwned\x07\u{202e}y"), "view {v}:\n{s}");
    }
    app.switch_view(View::Runtime);
    assert!(screen(&mut app, 200, 50).contains(r"Name: x\x1b]0;pwned\x07"));
    let t = render(&mut app, 200, 50);
    assert!(!t
        .backend()
        .buffer()
        .content()
        .iter()
        .any(|c| c.symbol().chars().any(crate::text::is_hidden)));
    // The prompt refuses what it could not show as it is.
    app.prompt = format!("set weight be_app/app1 1{}0", '\u{202e}');
    assert_eq!(app.on_key(code(KeyCode::Enter)), None);
    assert!(app.message.as_ref().unwrap().0.contains("invisible"));
}
