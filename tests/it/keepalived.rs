//! keepalived hooks against a real HAProxy: `hawatch check` (the `vrrp_script`).

use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::backend::Backend;
use crate::support::haproxy::{backend_block, Haproxy};
use crate::support::{hawatch_bin, tempdir};

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

    // A bind that does not accept connections.
    let dead = crate::support::free_port();
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
