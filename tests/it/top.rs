//! `hawatch top` end to end: the real binary in a real terminal (tmux, on
//! a server of its own at a socket in the test's directory), against real
//! HAProxy. Keys go in with `send-keys`, the screen comes back with
//! `capture-pane`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use testkit::backend::Backend;
use testkit::haproxy::{backend_block, Haproxy};
use testkit::wait_for;

use crate::support::hawatch_bin;
use crate::watcher::{socket_instance, Watcher};

const T: Duration = Duration::from_secs(15);

/// A tmux server of this test's own (`-S` socket in a temp dir), one pane
/// running a command, kept after the command exits (`remain-on-exit`) so
/// its last screen and exit status can be read. Killed on drop.
struct Tmux {
    sock: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    fn start(width: u16, height: u16, argv: &[&str]) -> Tmux {
        let dir = testkit::tempdir();
        let sock = dir.path().join("tmux.sock");
        let conf = dir.path().join("tmux.conf");
        std::fs::write(&conf, "set -g remain-on-exit on\nset -g status off\n").unwrap();
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&sock)
            .arg("-f")
            .arg(&conf)
            .args([
                "new-session",
                "-d",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                "--",
            ])
            .args(argv)
            .env_remove("TMUX")
            .env("TERM", "xterm-256color")
            .output()
            .expect("tmux runs (scripts/deps.sh installs it)");
        assert!(out.status.success(), "tmux: {}", String::from_utf8_lossy(&out.stderr));
        Tmux { sock, _dir: dir }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.sock)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Keys as tmux names them (`Enter`, `Down`, `y`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Text typed as it is.
    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "0", "-l", text]);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "0"])
    }

    /// Waits until the screen has a line containing every one of `parts`.
    fn wait_line(&self, parts: &[&str]) -> bool {
        wait_for(T, || self.screen().lines().any(|l| parts.iter().all(|p| l.contains(p))))
    }

    fn pane(&self, format: &str) -> String {
        self.tmux(&["display-message", "-p", "-t", "0", format])
            .trim()
            .to_string()
    }

    /// Waits until the shell [`top`] wraps top in says top exited: its
    /// exit status. (The shell reaps top; tmux 3.3's own `pane_dead_status`
    /// stayed empty now and then, its pane's process left a zombie.)
    fn exited(&self) -> Option<String> {
        let mut code = None;
        wait_for(T, || {
            code = self
                .screen()
                .lines()
                .find_map(|l| l.strip_prefix("top exited ").map(|c| c.trim().to_string()));
            code.is_some()
        });
        code
    }

    fn pid(&self) -> u32 {
        self.pane("#{pane_pid}").parse().unwrap()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Our own server only (its socket); it ends the pane's process too.
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.sock)
            .arg("kill-server")
            .output();
    }
}

/// `hawatch top --config CONFIG --interval 300ms EXTRA...` under a shell that
/// says when it exited and how (`top exited N`), then waits: the pane keeps
/// the screen top left behind.
fn top(config: &Path, extra: &[&str]) -> Vec<String> {
    let mut v = vec![
        "sh".to_string(),
        "-c".to_string(),
        r#""$0" "$@"; echo "top exited $?"; sleep 600"#.to_string(),
        hawatch_bin().display().to_string(),
        "top".to_string(),
        "--config".to_string(),
        config.display().to_string(),
        "--interval".into(),
        "300ms".into(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn audits(w: &Watcher) -> Vec<Value> {
    w.events().into_iter().filter(|e| e["kind"] == "audit_ctl").collect()
}

/// Puts the cursor on app/s1 with the filter (head `app`, then s1).
fn select_s1(t: &Tmux) {
    t.keys(&["/"]);
    t.type_text("app/s1");
    t.keys(&["Enter", "Down"]);
}

#[test]
fn top_drains_after_y_like_ctl_and_read_only_refuses_the_same_keys() {
    let (b1, b2) = (Backend::start(), Backend::start());
    let h = Haproxy::start(&backend_block("app", &[("s1", b1.port()), ("s2", b2.port())], ""));
    assert!(h.wait_server_status("app", "s1", "UP", T) && h.wait_server_status("app", "s2", "UP", T));
    let w = Watcher::configure("1s", &socket_instance("lb1", &h.socket_path(), ""));
    let argv = top(&w.config, &[]);
    let t = Tmux::start(120, 36, &argv.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(t.wait_line(&["s2", "UP", "L7OK"]), "{}", t.screen());
    assert!(
        t.wait_line(&["1 Status", "2 Traffic", "5 Runtime API"]),
        "{}",
        t.screen()
    );

    select_s1(&t);
    t.keys(&["d"]);
    assert!(
        t.wait_line(&["On lb1: set server app/s1 state drain", "(now UP)"]),
        "no confirmation:\n{}",
        t.screen()
    );
    // Asked, not done: a change runs only after `y`.
    assert_eq!(h.server_status("app", "s1"), "UP");
    t.keys(&["y"]);
    assert!(h.wait_server_status("app", "s1", "DRAIN", T), "{}", t.screen());
    assert!(t.wait_line(&["s1", "DRAIN"]), "DRAIN not on screen:\n{}", t.screen());
    assert!(t.wait_line(&["ok set server app/s1 state drain"]), "{}", t.screen());
    // The same audit event as `hawatch ctl`: stored, and in the events pane.
    assert!(wait_for(T, || !audits(&w).is_empty()));
    let a = &audits(&w)[0];
    assert_eq!((a["backend"].as_str(), a["server"].as_str()), (Some("app"), Some("s1")));
    assert_eq!(
        (a["from"].as_str(), a["to"].as_str()),
        (Some("UP"), Some("set server app/s1 state drain"))
    );
    assert!(a["message"]
        .as_str()
        .unwrap()
        .contains("ran `set server app/s1 state drain` on lb1: ok"));
    assert!(
        t.wait_line(&["audit_ctl", "set server app/s1 state drain"]),
        "{}",
        t.screen()
    );

    // n (or anything but y) does nothing: once "nothing done" shows, the
    // key was handled, and no change was started.
    t.keys(&["r"]);
    assert!(
        t.wait_line(&["set server app/s1 state ready", "(now DRAIN)"]),
        "{}",
        t.screen()
    );
    t.keys(&["n"]);
    assert!(t.wait_line(&["nothing done"]), "{}", t.screen());
    assert_eq!(h.server_status("app", "s1"), "DRAIN");
    assert_eq!(audits(&w).len(), 1);

    // The Runtime API prompt: `show` runs at once, a change asks first.
    t.keys(&["5"]);
    t.type_text("show servers state app");
    t.keys(&["Enter"]);
    assert!(t.wait_line(&["> show servers state app"]), "{}", t.screen());
    assert!(t.wait_line(&["app", "s1", "127.0.0.1"]), "{}", t.screen());
    t.type_text("set server app/s1 state ready");
    t.keys(&["Enter"]);
    assert!(
        t.wait_line(&["On lb1: set server app/s1 state ready", "run it?"]),
        "{}",
        t.screen()
    );
    t.keys(&["y"]);
    assert!(h.wait_server_status("app", "s1", "UP", T), "{}", t.screen());
    // The `show` was not an action: two audit events, the drain and this.
    assert!(wait_for(T, || audits(&w).len() == 2), "{:?}", audits(&w));
    let a = &audits(&w)[1];
    assert_eq!(a["to"], "set server app/s1 state ready");

    // Escape alone (a key right after it would read as Alt+key), back to Status.
    t.keys(&["Escape"]);
    assert!(t.wait_line(&["NAME", "STATUS", "CHECK"]), "{}", t.screen());
    t.keys(&["q"]);
    assert_eq!(t.exited().as_deref(), Some("0"), "top did not quit:\n{}", t.screen());
    assert_eq!(t.pane("#{alternate_on}"), "0", "the alternate screen was left on");

    // --read-only: the same keys are refused, nothing changes, nothing is audited.
    let argv = top(&w.config, &["--read-only"]);
    let ro = Tmux::start(120, 36, &argv.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ro.wait_line(&["READ-ONLY"]), "{}", ro.screen());
    assert!(ro.wait_line(&["s1", "UP"]), "{}", ro.screen());
    select_s1(&ro);
    let refused = "read-only (--read-only): d, m and r are off";
    for k in ["d", "m", "r"] {
        // Esc clears the last message, so each refusal is this key's.
        ro.keys(&["Escape"]);
        assert!(wait_for(T, || !ro.screen().contains(refused)), "{}", ro.screen());
        ro.keys(&[k]);
        assert!(ro.wait_line(&[refused]), "{k}: {}", ro.screen());
        assert!(!ro.screen().contains("proceed?"), "{}", ro.screen());
    }
    ro.keys(&["5"]);
    ro.type_text("set server app/s1 state drain");
    ro.keys(&["Enter"]);
    assert!(
        ro.wait_line(&["only `show ...` and `help` are sent"]),
        "{}",
        ro.screen()
    );
    // `y` is no confirmation here: back in the Status view it does nothing,
    // and the help opened by the next key shows that both were handled.
    ro.keys(&["Escape"]);
    assert!(ro.wait_line(&["NAME", "STATUS", "CHECK"]), "{}", ro.screen());
    ro.keys(&["y", "?"]);
    assert!(ro.wait_line(&["keys — any key closes"]), "{}", ro.screen());
    assert_eq!(h.server_status("app", "s1"), "UP");
    assert_eq!(audits(&w).len(), 2, "read-only stored an audit event");
    ro.keys(&["C-c"]);
    assert_eq!(ro.exited().as_deref(), Some("0"), "{}", ro.screen());
}

#[test]
fn top_help_is_the_one_docs_top_md_shows() {
    let out = Command::new(hawatch_bin())
        .args(["top", "--help"])
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/top.md")).unwrap();
    let copy = doc
        .split_once("<!-- top --help -->\n```text\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(block, _)| block)
        .expect("docs/top.md has the `top --help` block");
    assert_eq!(
        copy,
        help.trim_end(),
        "update docs/top.md's copy of `hawatch top --help`"
    );
}

#[test]
fn top_without_a_terminal_says_what_to_use_instead() {
    let h = Haproxy::start(&backend_block("app", &[("s1", testkit::dead_port())], ""));
    let w = Watcher::configure("1s", &socket_instance("lb1", &h.socket_path(), ""));
    let out = Command::new(hawatch_bin())
        .args(["top", "--config"])
        .arg(&w.config)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("hawatch top needs a terminal") && err.contains("hawatch ctl show"),
        "{err}"
    );
}

#[test]
fn top_restores_the_terminal_when_killed_with_sigterm() {
    let b1 = Backend::start();
    let h = Haproxy::start(&backend_block("app", &[("s1", b1.port())], ""));
    let w = Watcher::configure("1s", &socket_instance("lb1", &h.socket_path(), ""));
    // A shell around top shows what top left behind: its status, and the
    // terminal's modes (raw mode off: `icanon` and `echo` back).
    let script = r#""$0" top --config "$1"; echo "top exited $?"; stty -a; sleep 600"#;
    let bin = hawatch_bin().display().to_string();
    let cfg = w.config.display().to_string();
    let t = Tmux::start(100, 30, &["sh", "-c", script, &bin, &cfg]);
    assert!(t.wait_line(&["s1"]), "{}", t.screen());
    assert_eq!(t.pane("#{alternate_on}"), "1");
    // top is the shell's child.
    let sh = t.pid();
    let mut pid = 0;
    assert!(wait_for(T, || {
        pid = std::fs::read_to_string(format!("/proc/{sh}/task/{sh}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        pid != 0
    }));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(t.wait_line(&["top exited 0"]), "{}", t.screen());
    assert_eq!(t.pane("#{alternate_on}"), "0");
    let s = t.screen();
    let words: Vec<&str> = s.split_whitespace().collect();
    for mode in ["icanon", "echo", "isig"] {
        let off = format!("-{mode}");
        assert!(
            words.contains(&mode) && !words.contains(&off.as_str()),
            "raw mode left on ({mode}):\n{s}"
        );
    }
    assert!(!s.contains("1 Status"), "the TUI is still on the screen:\n{s}");
}

#[test]
fn top_pair_view_highlights_what_two_real_haproxys_see_differently() {
    let (b1, b2) = (Backend::start(), Backend::start());
    let block = backend_block("app", &[("s1", b1.port()), ("s2", b2.port())], "");
    let (here, there) = (Haproxy::start(&block), Haproxy::start(&block));
    for h in [&here, &there] {
        assert!(h.wait_server_status("app", "s2", "UP", T));
    }
    // The peer node: its watcher serves /api/state and /api/vrrp.
    let peer = Watcher::start(
        "300ms",
        &format!(
            "{}[keepalived]\nvips = [\"192.0.2.10\"]\n",
            socket_instance("lb1", &there.socket_path(), "")
        ),
    );
    peer.wait_baseline("lb1");
    assert_eq!(there.cmd("set server app/s2 state maint").trim(), "");
    assert!(there.wait_server_status("app", "s2", "MAINT", T));
    peer.wait_event("server_maint", "app/s2", T);
    let base = peer.http_base();
    let w = Watcher::configure(
        "1s",
        &format!(
            "{}[keepalived]\nvips = [\"192.0.2.10\"]\npeer = \"{base}\"\n",
            socket_instance("lb1", &here.socket_path(), "")
        ),
    );
    let argv = top(&w.config, &[]);
    let t = Tmux::start(120, 36, &argv.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(t.wait_line(&["peer ", "VRRP", "asked"]), "{}", t.screen());
    t.keys(&["6"]);
    // The rows as columns: mark, server, HERE, PEER.
    let row = |t: &Tmux, server: &str| -> Vec<String> {
        t.screen()
            .lines()
            .find(|l| l.split_whitespace().any(|w| w == server))
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    assert!(
        wait_for(T, || row(&t, "app/s2") == ["≠", "app/s2", "UP", "MAINT"]),
        "no difference shown:\n{}",
        t.screen()
    );
    assert_eq!(row(&t, "app/s1"), ["app/s1", "UP", "UP"], "{}", t.screen());
    assert!(t.wait_line(&["SERVER (1 differ)"]), "{}", t.screen());
    // Once both agree, nothing differs.
    assert_eq!(there.cmd("set server app/s2 state ready").trim(), "");
    assert!(t.wait_line(&["SERVER (0 differ)"]), "{}", t.screen());
    t.keys(&["q"]);
    assert_eq!(t.exited().as_deref(), Some("0"), "{}", t.screen());
}
