//! The command line: config errors, `config show`, environment-only mode,
//! stores that are not ours, signals and sd_notify.

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::hawatch_bin;
use crate::watcher::{socket_instance, webhook_events, webhook_sink, Watcher};
use testkit::backend::Backend;
use testkit::haproxy::{backend_block, Haproxy};
use testkit::receivers::Receiver;
use testkit::{tempdir, wait_for, Proc};

const T: Duration = Duration::from_secs(20);

fn hawatch(args: &[&str]) -> std::process::Output {
    Command::new(hawatch_bin())
        .args(args)
        .env_remove("HAWATCH_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn config_errors_name_file_line_and_key_and_exit_2() {
    let dir = tempdir();
    let f = dir.path().join("bad.toml");
    std::fs::write(
        &f,
        "[watch]\ninterval = \"2s\"\n\n[[haproxy]]\nname = \"lb1\"\nsocket = \"/x\"\nintervall = \"1s\"\n",
    )
    .unwrap();
    let out = hawatch(&["config", "check", "--config", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:7:", f.display())) && err.contains("haproxy[0].intervall"),
        "{err}"
    );
    std::fs::write(&f, "[[haproxy]]\nname = \"lb1\"\nsocket = \"/x\"\n").unwrap();
    let out = hawatch(&["config", "check", "--config", f.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (1 instance(s), 1 sink(s))"));
}

#[test]
fn config_show_hides_secrets_and_the_seeds_variables_work_without_a_file() {
    let out = Command::new(hawatch_bin())
        .args(["config", "show"])
        .env_remove("HAWATCH_CONFIG")
        .env("HAPROXY_STATS_URL", "http://admin:hunter2@127.0.0.1:8404/stats")
        .env(
            "FEISHU_WEBHOOK_URL",
            "https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN-123",
        )
        .env("FEISHU_SECRET", "sign-secret")
        .env("STATE_FILE", "/tmp/hawatch-it-state.db")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = String::from_utf8_lossy(&out.stdout);
    for secret in ["hunter2", "TOKEN-123", "sign-secret"] {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
    }
    assert!(
        shown.contains("https://open.feishu.cn/***")
            && shown.contains("type = \"feishu\"")
            && shown.contains("/tmp/hawatch-it-state.db"),
        "{shown}"
    );
}

#[test]
fn a_store_that_is_not_ours_is_a_clear_error() {
    let dir = tempdir();
    let store = dir.path().join("state.db");
    std::fs::write(
        &store,
        "{\"this is\": \"the seed's old JSON state file\"}\n".repeat(100),
    )
    .unwrap();
    let cfg = dir.path().join("h.toml");
    std::fs::write(
        &cfg,
        format!(
            "[watch]\nstore = {:?}\n[[haproxy]]\nname = \"x\"\nsocket = \"/nonexistent.sock\"\n",
            store.display().to_string()
        ),
    )
    .unwrap();
    let out = hawatch(&["watch", "--once", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not a hawatch store") && err.contains("move it aside"),
        "{err}"
    );
}

#[test]
fn two_watchers_on_one_store_are_refused() {
    let b1 = Backend::start();
    let h = Haproxy::start(&backend_block("app", &[("s1", b1.port())], ""));
    let w = Watcher::start("1s", &socket_instance("lb1", &h.socket_path(), ""));
    let out = w.run(&["watch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another `hawatch watch` is using the store"));
}

#[test]
fn sighup_reloads_sigterm_stops_and_systemd_hears_about_both() {
    let (b1, b2) = (Backend::start(), Backend::start());
    let h = Haproxy::start(&backend_block("app", &[("s1", b1.port()), ("s2", b2.port())], ""));
    h.wait_server_status("app", "s1", "UP", T);
    let rx = Receiver::webhook(None);
    let w = Watcher::configure("200ms", &socket_instance("lb1", &h.socket_path(), ""));
    let notify_path = w.dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let messages = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut cmd = Command::new(hawatch_bin());
    cmd.args(["watch", "--config"])
        .arg(&w.config)
        .env("NOTIFY_SOCKET", &notify_path);
    let mut p = Proc::spawn("hawatch", cmd, w.dir.path());
    let read = |m: &std::sync::Arc<std::sync::Mutex<String>>| {
        let mut buf = [0u8; 512];
        while let Ok(n) = notify.recv(&mut buf) {
            m.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            m.lock().unwrap().push('\n');
        }
    };
    assert!(wait_for(T, || {
        read(&messages);
        messages.lock().unwrap().contains("READY=1")
    }));
    // A broken config on SIGHUP is refused; the watcher keeps running.
    let good = std::fs::read_to_string(&w.config).unwrap();
    std::fs::write(&w.config, good.clone() + "\n[oops\n").unwrap();
    p.signal(Signal::SIGHUP);
    assert!(p.wait_stderr_contains("config reload refused", T), "{}", p.stderr());
    // A good one adds a sink.
    std::fs::write(&w.config, good + &webhook_sink("ops", &rx.url(), "")).unwrap();
    p.signal(Signal::SIGHUP);
    assert!(p.wait_stderr_contains("configuration reloaded", T), "{}", p.stderr());
    assert!(wait_for(T, || {
        read(&messages);
        messages.lock().unwrap().contains("RELOADING=1")
    }));
    assert!(
        p.wait_stderr_contains("baseline recorded instance=lb1 ", T),
        "{}",
        p.stderr()
    );
    h.cmd("disable server app/s1");
    assert!(
        wait_for(T, || webhook_events(&rx.accepted_bodies())
            .iter()
            .any(|e| e["kind"] == "server_maint")),
        "{}",
        p.stderr()
    );
    p.signal(Signal::SIGTERM);
    let status = p.wait_exit(T).expect("exits on SIGTERM");
    assert!(status.success(), "{status:?}\n{}", p.stderr());
    read(&messages);
    assert!(
        messages.lock().unwrap().contains("STOPPING=1"),
        "{}",
        messages.lock().unwrap()
    );
}

#[test]
fn events_filters_and_every_subcommand_has_help() {
    let (b1, b2) = (Backend::start(), Backend::start());
    let h = Haproxy::start(&backend_block("app", &[("s1", b1.port()), ("s2", b2.port())], ""));
    h.wait_server_status("app", "s1", "UP", T);
    h.wait_server_status("app", "s2", "UP", T);
    let w = Watcher::start("200ms", &socket_instance("lb1", &h.socket_path(), ""));
    w.wait_baseline("lb1");
    h.cmd("disable server app/s1");
    w.wait_event("server_maint", "app/s1", T);
    h.cmd("disable server app/s2");
    w.wait_event("backend_down", "app", T);
    let json = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut a = vec!["events", "--json"];
        a.extend_from_slice(args);
        let out = w.run(&a);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let all = json(&[]);
    assert_eq!(
        crate::watcher::kinds(&all),
        vec!["server_maint app/s1", "server_maint app/s2", "backend_down app"]
    );
    assert_eq!(json(&["--kind", "backend_down"]).len(), 1);
    assert_eq!(json(&["--server", "s2"]).len(), 1);
    assert_eq!(
        json(&["--since", "1h", "--instance", "lb1"]).len(),
        all.len(),
        "{:?}",
        crate::watcher::kinds(&all)
    );
    assert_eq!(
        json(&["--limit", "1"])[0]["kind"],
        "backend_down",
        "{:?}",
        crate::watcher::kinds(&all)
    );
    assert!(json(&["--instance", "nope"]).is_empty());
    let bad = w.run(&["events", "--kind", "server_exploded"]);
    assert_eq!(bad.status.code(), Some(2), "a usage error exits 2 like clap's");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("server_down"));
    let bad = w.run(&["notify", "test", "--sink", "nope"]);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    let text = String::from_utf8_lossy(&w.run(&["events"]).stdout).to_string();
    assert!(text.contains("backend app has no server available"), "{text}");
    for sub in [
        &["watch"][..],
        &["events"],
        &["outbox"],
        &["config", "check"],
        &["config", "show"],
        &["demo"],
    ] {
        let mut a = sub.to_vec();
        a.push("--help");
        let out = hawatch(&a);
        assert!(out.status.success() && !out.stdout.is_empty(), "{sub:?} --help");
    }
}

/// The main job: `hawatch demo` runs a real HAProxy, breaks and mends it,
/// ends by itself and shows every event once, through its console sink. Its
/// log level is warn, so the recorder's per-event log lines (info) stay out
/// of the way: an event on stderr next to the console line would be said twice.
#[test]
fn the_demo_shows_each_event_once_and_ends_by_itself() {
    let dir = tempdir();
    let mut cmd = Command::new(hawatch_bin());
    cmd.args(["demo", "--haproxy"])
        .arg(testkit::haproxy::haproxy_bin())
        .env_remove("HAWATCH_CONFIG")
        .env_remove("HAWATCH_LOG");
    let mut p = Proc::spawn("hawatch-demo", cmd, dir.path());
    let status = p.wait_exit(Duration::from_secs(180));
    let (out, err) = (p.stdout(), p.stderr());
    assert!(
        status.is_some_and(|s| s.success()),
        "demo failed or hung:\n{out}\n{err}"
    );
    assert!(
        out.contains("server_down") && out.contains("instance_restarted"),
        "{out}"
    );
    assert!(out.contains("every one delivered"), "{out}");
    let logged: Vec<&str> = err.lines().filter(|l| l.contains("kind=")).collect();
    assert!(
        logged.is_empty(),
        "events logged on stderr besides the console:\n{}",
        logged.join("\n")
    );
}

/// A reader that goes away (`hawatch events | head -1`) ends the printing
/// commands quietly, as it ends `ls` or `grep`: no panic, no error message.
/// The pipe is closed before hawatch writes, so its first write fails.
#[test]
fn printing_into_a_closed_pipe_is_not_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let d = tempdir();
    let gone = d.path().join("no-haproxy.sock");
    let w = Watcher::configure(
        "1s",
        &(socket_instance("lb1", &gone, "") + "[[sink]]\nname = \"console\"\ntype = \"console\"\n"),
    );
    let cfg = w.config.clone();
    let store = d.path().join("s.db");
    let cases: Vec<Vec<String>> = vec![
        vec!["completions".into(), "bash".into()],
        vec!["man".into()],
        vec![
            "config".into(),
            "show".into(),
            "--config".into(),
            cfg.display().to_string(),
        ],
        vec![
            "config".into(),
            "check".into(),
            "--config".into(),
            cfg.display().to_string(),
        ],
        vec!["events".into(), "--store".into(), store.display().to_string()],
        vec!["outbox".into(), "--store".into(), store.display().to_string()],
    ];
    // A store with something to print: the instance's socket is missing.
    let out = w.run(&["watch", "--once"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("lb1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::copy(w.store(), &store).unwrap();
    for args in cases {
        let mut child = Command::new(hawatch_bin())
            .args(&args)
            .env_remove("HAWATCH_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        assert!(
            out.status.success() || out.status.signal() == Some(nix::libc::SIGPIPE),
            "{args:?}: {:?} {err}",
            out.status
        );
    }
}
