//! `hawatch ctl` against a real HAProxy: changes, wildcards, recover, show,
//! a socket whose level is too low, and the audit trail at a sink.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::backend::Backend;
use crate::support::haproxy::{backend_block, Haproxy};
use crate::support::receiver::Receiver;
use crate::support::{hawatch_bin, tempdir};
use crate::watcher::{socket_instance, webhook_sink, Watcher};

const T: Duration = Duration::from_secs(20);

fn ctl(cfg: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(hawatch_bin())
        .args(["ctl", "--config"])
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ctl_drains_and_restores_servers_and_every_action_is_audited() {
    let (b1, b2) = (Backend::start(), Backend::start());
    let h = Haproxy::start(&backend_block("app", &[("s1", b1.port()), ("s2", b2.port())], ""));
    assert!(h.wait_server_status("app", "s2", "UP", T));
    let rx = Receiver::webhook(None);
    // A running watcher delivers the audit events.
    let w = Watcher::start(
        "300ms",
        &format!(
            "{}{}",
            socket_instance("lb1", &h.socket_path(), ""),
            webhook_sink("hook", &rx.url(), "")
        ),
    );
    w.wait_baseline("lb1");
    let cfg = w.config.clone();

    let (code, out, err) = ctl(&cfg, &["--yes", "server", "app/s1", "drain"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok   set server app/s1 state drain"), "{out}");
    assert!(h.wait_server_status("app", "s1", "DRAIN", T));
    // The audit event: stored, and at the sink.
    let audits = |w: &Watcher| -> Vec<Value> {
        w.events()
            .into_iter()
            .filter(|e| e["kind"].as_str().is_some_and(|k| k.starts_with("audit")))
            .collect()
    };
    assert!(crate::support::wait_for(T, || !audits(&w).is_empty()));
    let a = &audits(&w)[0];
    assert_eq!((a["backend"].as_str(), a["server"].as_str()), (Some("app"), Some("s1")));
    assert_eq!(a["to"], "set server app/s1 state drain");
    assert!(a["message"]
        .as_str()
        .unwrap()
        .contains("ran `set server app/s1 state drain` on lb1: ok"));
    assert!(crate::support::wait_for(T, || rx
        .accepted_texts()
        .iter()
        .any(|t| t.contains("set server app/s1 state drain"))));

    // Wildcards: one confirmation, each server done.
    let (code, out, _) = ctl(&cfg, &["--yes", "server", "app/*", "maint"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("ok   set server app/").count(), 2, "{out}");
    assert!(h.wait_server_status("app", "s2", "MAINT", T));
    // recover: dry run lists, then does.
    let (_, out, _) = ctl(&cfg, &["recover", "--dry-run"]);
    assert!(
        out.contains("would run: set server app/s1 state ready") && out.contains("app/s2"),
        "{out}"
    );
    assert_eq!(h.server_status("app", "s1"), "MAINT");
    let (code, out, _) = ctl(&cfg, &["--yes", "recover"]);
    assert_eq!(code, 0, "{out}");
    assert!(h.wait_server_status("app", "s1", "UP", T) && h.wait_server_status("app", "s2", "UP", T));
    // Weight, and HAProxy's own words when it refuses.
    let (code, out, _) = ctl(&cfg, &["--yes", "weight", "app/s1", "50%"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = ctl(&cfg, &["--yes", "agent", "app/s1", "enable"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL enable agent app/s1"), "{out}");
    // show: a line per server.
    let (code, out, _) = ctl(&cfg, &["show", "app"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("app") && out.contains("s1") && out.contains("s2") && out.contains("UP"),
        "{out}"
    );
    let (code, _, err) = ctl(&cfg, &["--yes", "server", "app/nope", "drain"]);
    assert_ne!(code, 0);
    assert!(err.contains("no server matches"), "{err}");
    // Every action is in the store: drain, 2 maint, 2 ready, weight, the refused agent.
    assert!(
        crate::support::wait_for(T, || audits(&w).len() == 7),
        "{:?}",
        audits(&w)
    );
}

#[test]
fn ctl_on_a_socket_whose_level_is_too_low_says_so() {
    let b1 = Backend::start();
    let dir = tempdir();
    let user_sock = dir.path().join("user.sock");
    let h = Haproxy::builder()
        .global_line(&format!("stats socket {} mode 600 level user", user_sock.display()))
        .start(&backend_block("app", &[("s1", b1.port())], ""));
    assert!(h.wait_server_status("app", "s1", "UP", T));
    let cfg = dir.path().join("hawatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[watch]\nstore = {:?}\n\n{}",
            dir.path().join("hawatch.db").display().to_string(),
            socket_instance("lb1", &user_sock, "")
        ),
    )
    .unwrap();
    let (code, out, err) = ctl(&cfg, &["--yes", "server", "app/s1", "drain"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FAIL") && out.contains("level"), "{out}");
    assert_eq!(h.server_status("app", "s1"), "UP");
}
