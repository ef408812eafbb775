//! keepalived hooks against a real HAProxy: `hawatch check` (the `vrrp_script`).

use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::hawatch_bin;
use testkit::backend::Backend;
use testkit::haproxy::{backend_block, Haproxy};
use testkit::tempdir;

const T: Duration = Duration::from_secs(20);

/// (exit code, stderr, how long it took)
fn check(cfg: &std::path::Path) -> (i32, String, Duration) {
    let t = Instant::now();
    let out = Command::new(hawatch_bin())
        .args(["check", "--config"])
        .arg(cfg)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        t.elapsed(),
    )
}

#[test]
fn check_passes_a_fit_haproxy_and_fails_with_the_reason() {
    let (b1, mut b2) = (Backend::start(), Backend::start());
    let mut h = Haproxy::start(&backend_block("app", &[("s1", b1.port()), ("s2", b2.port())], ""));
    assert!(h.wait_server_status("app", "s2", "UP", T));
    let dir = tempdir();
    let cfg = dir.path().join("hawatch.toml");
    let maint = dir.path().join("down");
    std::fs::write(
        &cfg,
        format!(
            "[check]\nsocket = {:?}\ntimeout = \"500ms\"\nmaint_file = {:?}\nmin_up = {{ app = 2 }}\n\
             pid_file = {:?}\nbinds = [\"127.0.0.1:{}\"]\ngateway = \"127.0.0.1\"\n",
            h.socket_path().display().to_string(),
            maint.display().to_string(),
            h.pid_file().display().to_string(),
            b1.port()
        ),
    )
    .unwrap();
    let (code, err, _) = check(&cfg);
    assert_eq!((code, err.as_str()), (0, ""), "a fit node is silent");

    // Too few usable servers.
    b2.stop();
    assert!(h.wait_server_status("app", "s2", "DOWN", T));
    let (code, err, _) = check(&cfg);
    assert_eq!(code, 1);
    assert!(err.contains("backend app has 1 usable server(s), needs 2"), "{err}");
    b2.restart();
    assert!(h.wait_server_status("app", "s2", "UP", T));
    assert_eq!(check(&cfg).0, 0);

    // The maintenance file hands the VIP over.
    std::fs::write(&maint, "").unwrap();
    let (code, err, _) = check(&cfg);
    assert_eq!(code, 1);
    assert!(err.contains("maintenance file") && err.contains("is present"), "{err}");
    std::fs::remove_file(&maint).unwrap();

    // A hung HAProxy: the process exists (`killall -0 haproxy` would pass),
    // but it does not answer; the check fails within its timeout.
    let worker = Pid::from_raw(h.worker_pid() as i32);
    kill(worker, Signal::SIGSTOP).unwrap();
    let (code, err, took) = check(&cfg);
    kill(worker, Signal::SIGCONT).unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("did not answer within 500ms"), "{err}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(check(&cfg).0, 0);

    // A bind that does not accept connections: a port held, never listened on.
    let dead = testkit::dead_port();
    let text = std::fs::read_to_string(&cfg).unwrap();
    let other = dir.path().join("bind.toml");
    std::fs::write(
        &other,
        text.replace(&format!("127.0.0.1:{}", b1.port()), &format!("127.0.0.1:{dead}")),
    )
    .unwrap();
    let (code, err, _) = check(&other);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("127.0.0.1:{dead} does not accept connections")),
        "{err}"
    );

    // HAProxy gone: its pid file names a process that is not there.
    h.stop();
    let (code, err, _) = check(&cfg);
    assert_eq!(code, 1);
    assert!(err.contains("is not running") || err.contains("pid file"), "{err}");
}

#[test]
fn check_without_its_section_or_with_a_bad_one_says_so() {
    let dir = tempdir();
    let cfg = dir.path().join("hawatch.toml");
    std::fs::write(&cfg, "[check]\nsocket = \"\"\ntimeot = \"1s\"\n").unwrap();
    let (code, err, _) = check(&cfg);
    assert_eq!(code, 2);
    assert!(err.contains("hawatch.toml:3:") && err.contains("timeot"), "{err}");
    std::fs::write(&cfg, "[[haproxy]]\nname = \"a\"\nsocket = \"/x.sock\"\n").unwrap();
    let (code, err, _) = check(&cfg);
    assert_ne!(code, 0);
    assert!(err.contains("no [check] section"), "{err}");
}

fn vrrp_body(fifo: &std::path::Path, vip: &str, sink_url: &str) -> String {
    format!(
        "[keepalived]\nnotify_fifo = {:?}\nvips = [\"{vip}\"]\nfault_grace = \"1s\"\n\n\
         [[sink]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{sink_url}\"\n",
        fifo.display().to_string()
    )
}

fn vrrp_kinds(w: &crate::watcher::Watcher) -> Vec<String> {
    w.events()
        .iter()
        .filter_map(|e| e["kind"].as_str().filter(|k| k.starts_with("vrrp")).map(str::to_string))
        .collect()
}

#[test]
fn vrrp_changes_from_the_fifo_and_from_notify_are_told_once_in_order() {
    use std::io::Write;
    let b1 = Backend::start();
    let h = Haproxy::start(&backend_block("app", &[("s1", b1.port())], ""));
    let rx = testkit::receivers::Receiver::webhook(None);
    // A VIP this node holds: one of its own addresses.
    let vip = hawatch::source::vip::local_addresses()
        .first()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "192.0.2.1".into());
    let dir = tempdir();
    let fifo = dir.path().join("run").join("keepalived.fifo");
    let w = crate::watcher::Watcher::start(
        "1s",
        &format!(
            "{}{}",
            crate::watcher::socket_instance("lb1", &h.socket_path(), ""),
            vrrp_body(&fifo, &vip, &rx.url())
        ),
    );
    assert!(
        w.proc().wait_stderr_contains("reading keepalived's notify_fifo", T),
        "{}",
        w.stderr()
    );
    // keepalived starting: a moment of FAULT, then BACKUP: one message.
    let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    f.write_all(b"INSTANCE \"VI_1\" FAULT 100\nINSTANCE \"VI_1\" BACKUP 100\n")
        .unwrap();
    assert!(
        testkit::wait_for(T, || vrrp_kinds(&w) == ["vrrp_backup"]),
        "{:?}",
        vrrp_kinds(&w)
    );
    // A failover told by keepalived's notify script: recorded and delivered at once.
    let t = Instant::now();
    let out = Command::new(hawatch_bin())
        .args(["vrrp-notify", "--config"])
        .arg(&w.config)
        .args(["INSTANCE", "VI_1", "MASTER", "150"])
        .output()
        .unwrap();
    let took = t.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(took < Duration::from_secs(1), "vrrp-notify took {took:?}");
    // The same change through the fifo too: not told twice.
    f.write_all(b"INSTANCE \"VI_1\" MASTER 150\n").unwrap();
    assert!(rx.wait_for_accepted(2, Duration::from_secs(5)), "{}", w.stderr());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(vrrp_kinds(&w), ["vrrp_backup", "vrrp_master"]);
    let all = w.events();
    let master = all.iter().find(|e| e["kind"] == "vrrp_master").unwrap();
    assert_eq!(master["from"], "BACKUP");
    assert_eq!(master["vrrp"]["priority"], 150);
    assert_eq!(master["vrrp"]["source"], "vrrp-notify");
    assert!(
        master["vrrp"]["vips_held"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == vip.as_str())
            || vip == "192.0.2.1"
    );
    let texts = rx.accepted_texts().join("\n");
    assert!(texts.contains("BACKUP → MASTER"), "{texts}");
    // A FAULT that lasts is told.
    f.write_all(b"INSTANCE \"VI_1\" FAULT 150\n").unwrap();
    assert!(testkit::wait_for(T, || vrrp_kinds(&w).last().map(String::as_str) == Some("vrrp_fault")));
}

#[test]
fn vrrp_notify_without_a_watcher_delivers_in_the_background() {
    let rx = testkit::receivers::Receiver::webhook(None);
    let dir = tempdir();
    let cfg = dir.path().join("hawatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[watch]\nstore = {:?}\n\n{}",
            dir.path().join("hawatch.db").display().to_string(),
            vrrp_body(&dir.path().join("k.fifo"), "192.0.2.1", &rx.url())
        ),
    )
    .unwrap();
    let notify = |state: &str| {
        let t = Instant::now();
        let out = Command::new(hawatch_bin())
            .args(["vrrp-notify", "--config"])
            .arg(&cfg)
            .args(["INSTANCE", "VI_1", state, "100"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "vrrp-notify {state} took {:?}",
            t.elapsed()
        );
    };
    // keepalived starting: FAULT for a moment, then BACKUP: one message.
    notify("FAULT");
    notify("BACKUP");
    assert!(rx.wait_for_accepted(1, T));
    std::thread::sleep(Duration::from_millis(2500)); // past fault_grace (1s)
    assert_eq!(rx.accepted_count(), 1, "{:?}", rx.accepted_texts());
    assert!(rx.accepted_texts()[0].contains("BACKUP"));
    // A FAULT that lasts is told, after its grace.
    notify("FAULT");
    assert!(rx.wait_for_accepted(2, T));
    assert!(
        rx.accepted_texts()[1].contains("BACKUP → FAULT"),
        "{:?}",
        rx.accepted_texts()
    );
    // Bad arguments are refused with keepalived's order spelled out.
    let out = Command::new(hawatch_bin())
        .args(["vrrp-notify", "--config"])
        .arg(&cfg)
        .args(["VI_1", "MASTER", "100"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TYPE NAME STATE"));
}
