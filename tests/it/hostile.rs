//! Issue 12, "no false pages, no panics": input from users and the network
//! that once panicked hawatch or reached a terminal or a chat as markup.
//! A real HAProxy asks a stand-in agent that answers hostile text; the chat
//! services are the local receiver.

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::hawatch_bin;
use crate::watcher::{socket_instance, Watcher};
use testkit::alertmanager::http;
use testkit::backend::Backend;
use testkit::haproxy::Haproxy;
use testkit::receivers::{markdown_links, Receiver};
use testkit::tempdir;

const T: Duration = Duration::from_secs(20);

/// The agent reply of issue 12: clear screen, set the window title, ring the
/// bell, reverse the text; then a markdown link with a hidden target.
const HOSTILE: &str = "down #\u{1b}[2J\u{1b}]0;title\u{7} \u{202e}gnp.exe [click](http://evil.example)";

/// An `agent-check` stand-in on 127.0.0.1: answers every connection with
/// the current reply (`up` until [`HostileAgent::turn`]) and closes. Stops
/// on drop; at most 10 000 answers or 120 s.
struct HostileAgent {
    port: u16,
    hostile: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HostileAgent {
    fn start() -> HostileAgent {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let hostile = Arc::new(AtomicBool::new(false));
        let (s, h) = (stop.clone(), hostile.clone());
        let thread = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(120);
            let mut answered = 0;
            while !s.load(Ordering::Relaxed) && Instant::now() < until && answered < 10_000 {
                match l.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_write_timeout(Some(Duration::from_secs(1)));
                        let reply = if h.load(Ordering::Relaxed) { HOSTILE } else { "up" };
                        let _ = c.write_all(format!("{reply}\n").as_bytes());
                        answered += 1;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        HostileAgent {
            port,
            hostile,
            stop,
            thread: Some(thread),
        }
    }
}

impl HostileAgent {
    /// From now on the agent answers [`HOSTILE`].
    fn turn(&self) {
        self.hostile.store(true, Ordering::Relaxed);
    }
}

impl Drop for HostileAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// HAProxy with backend `be`: servers `s1` and `s2` UP on a live backend; s1's agent
/// answers [`HOSTILE`] after [`HostileAgent::turn`], so it goes DOWN (agent)
/// with that text as the reason.
fn hostile_lab() -> (Haproxy, Backend, HostileAgent) {
    let app = Backend::start();
    let agent = HostileAgent::start();
    let h = Haproxy::start(&format!(
        "backend be\n    server s1 127.0.0.1:{} check inter 300ms agent-check agent-port {} agent-inter 300ms\n    \
         server s2 127.0.0.1:{} check inter 300ms\n",
        app.port(),
        agent.port,
        app.port()
    ));
    assert!(
        h.wait_server_status("be", "s1", "UP", T),
        "{}",
        h.server_status("be", "s1")
    );
    // Settled: both checks have answered (hawatch compares settled states only).
    let answered = |s: &str, f: &str, want: &str| h.try_stat_field("be", s, f).is_some_and(|v| v.contains(want));
    assert!(testkit::wait_for(T, || {
        answered("s1", "agent_status", "L7OK")
            && answered("s1", "check_status", "L4OK")
            && answered("s2", "check_status", "L4OK")
    }));
    (h, app, agent)
}

fn port_of(base: &str) -> u16 {
    base.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn events_since_too_far_back_is_a_usage_error_not_a_panic() {
    let dir = tempdir();
    let out = std::process::Command::new(hawatch_bin())
        .args(["events", "--since", "9999999999d", "--store"])
        .arg(dir.path().join("none.db"))
        .env_remove("HAWATCH_CONFIG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--since") && err.contains("9999999999d") && err.contains("too far back"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn api_since_too_far_back_is_a_400_with_the_reason() {
    let (h, _app, _agent) = hostile_lab();
    let w = Watcher::start("300ms", &socket_instance("lb1", &h.socket_path(), ""));
    w.wait_baseline("lb1");
    let port = port_of(&w.http_base());
    let (status, body) = http(port, "GET", "/api/events?since=9999999999d", None).expect("an HTTP reply");
    assert_eq!(status, 400, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let reason = v["error"].as_str().unwrap_or_default();
    assert!(reason.contains("since") && reason.contains("too far back"), "{body}");
    // The handler is still there for the next request.
    let (status, _) = http(port, "GET", "/api/events?since=1h", None).unwrap();
    assert_eq!(status, 200);
    assert!(!w.stderr().contains("panicked"), "{}", w.stderr());
}

/// The hidden characters of [`HOSTILE`], none of which may reach a terminal.
fn assert_no_control_codes(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for bad in ['\u{1b}', '\u{7}', '\u{202e}'] {
        assert!(!text.contains(bad), "{what} holds {bad:?}: {text:?}");
    }
}

#[test]
fn agent_control_codes_are_escaped_on_every_terminal_output() {
    let (h, _app, agent) = hostile_lab();
    // No sink configured: the console sink prints to the watcher's stdout.
    let w = Watcher::start("300ms", &socket_instance("lb1", &h.socket_path(), ""));
    w.wait_baseline("lb1");
    agent.turn();
    let ev = w.wait_event("server_down", "be/s1", T);
    // The reason HAProxy keeps is the raw reply: the hostile bytes are real.
    let raw = || h.try_stat_field("be", "s1", "last_agt").unwrap_or_default();
    assert!(
        testkit::wait_for(T, || raw().contains('\u{1b}') && raw().contains('\u{202e}')),
        "{:?}",
        raw()
    );
    // JSON keeps the text exact (serde escapes control characters).
    let json = w.run(&["events", "--json"]);
    assert!(json.status.success());
    assert_no_control_codes("events --json", &json.stdout);
    assert!(ev.to_string().contains("\\u001b"), "{ev}");
    // The text output shows the escaped forms.
    let out = w.run(&["events"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_no_control_codes("hawatch events", &out.stdout);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\\x1b[2J") && text.contains("\\x07") && text.contains("\\u{202e}"),
        "{text}"
    );
    // The console sink and the log said the same, escaped.
    assert!(
        testkit::wait_for(T, || w.proc().stdout().contains("\\x1b[2J")),
        "{}",
        w.proc().stdout()
    );
    assert_no_control_codes("the console sink", w.proc().stdout().as_bytes());
    assert_no_control_codes("the log", w.stderr().as_bytes());
    // `ctl show` prints HAProxy's text too.
    let show = w.run(&["ctl", "show", "be"]);
    assert_no_control_codes("ctl show", &show.stdout);
    assert_no_control_codes("ctl show (stderr)", &show.stderr);
}

#[test]
fn markdown_links_from_an_agent_or_alertmanager_never_reach_chat() {
    let (h, _app, agent) = hostile_lab();
    let (feishu, dingtalk, wecom) = (Receiver::feishu(None), Receiver::dingtalk(None), Receiver::wecom());
    let sink = |name: &str, url: String| {
        format!("[[sink]]\nname = \"{name}\"\ntype = \"{name}\"\nurl = \"{url}\"\nlang = \"en\"\n")
    };
    let body = format!(
        "{}{}{}{}",
        socket_instance("lb1", &h.socket_path(), ""),
        sink("feishu", feishu.url()),
        sink("dingtalk", dingtalk.url()),
        sink("wecom", wecom.url()),
    );
    let w = Watcher::start("300ms", &body);
    w.wait_baseline("lb1");
    agent.turn();
    w.wait_event("server_down", "be/s1", T);
    // An Alertmanager notification whose label and annotation carry a link and a new line.
    let payload = serde_json::json!({
        "version": "4", "status": "firing", "receiver": "hawatch", "groupKey": "{}:{}",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "Evil", "team": "ops\n- Status: resolved [click](http://evil.example)", "severity": "critical"},
            "annotations": {"summary": "see [here](http://evil.example/x) <at id=all></at>\n# Heading"},
            "startsAt": "2026-11-21T00:00:00Z[x](http://evil.example)", "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "f1"
        }]
    });
    let (status, reply) = http(
        port_of(&w.http_base()),
        "POST",
        "/alertmanager",
        Some(&payload.to_string()),
    )
    .unwrap();
    assert_eq!(status, 200, "{reply}");
    for r in [&feishu, &dingtalk, &wecom] {
        let f = r.flavour();
        assert!(
            testkit::wait_for(T, || {
                let t = r.accepted_texts().join("\n");
                t.contains("Evil") && t.contains("be/s1")
            }),
            "{f:?} got {:?}\n{}",
            r.accepted_texts(),
            w.stderr()
        );
        let all = r.accepted_texts().join("\n");
        let links = markdown_links(&all);
        assert!(links.is_empty(), "{f:?}: links {links:?} in {all}");
        assert!(!all.contains("<at"), "{f:?}: {all}");
        assert!(
            !all.lines().any(|l| l.starts_with("- Status: resolved")),
            "{f:?}: {all}"
        );
        assert!(!all.lines().any(|l| l.starts_with("# Heading")), "{f:?}: {all}");
        assert!(!all.contains('\u{1b}') && !all.contains('\u{202e}'), "{f:?}: {all:?}");
        // The text is still there to read, made harmless.
        assert!(all.contains("click") && all.contains("evil.example"), "{f:?}: {all}");
    }
}

#[test]
fn markdown_links_finds_what_a_chat_would_render() {
    let found =
        markdown_links("a [click](http://evil.example \"t\") b ![i](http://x/i.png) <http://auto> <https://s|lbl>");
    let targets: Vec<&str> = found.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        targets,
        ["http://evil.example", "http://x/i.png", "http://auto", "https://s"]
    );
    assert!(markdown_links("［click］（http://evil.example） ‹http://x›").is_empty());
}
