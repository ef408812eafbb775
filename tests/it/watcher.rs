//! A running `hawatch watch` for tests: writes its config into a tempdir,
//! starts the real binary, reads its store through `hawatch events --json`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::hawatch_bin;
use testkit::backend::Backend;
use testkit::haproxy::{backend_block, Haproxy};
use testkit::{free_port, tempdir, wait_for, Proc};

/// How many times [`Watcher::start_on_free_port`] tries a fresh port.
pub const START_ATTEMPTS: u32 = 5;

/// HAProxy with backend `app`: servers s1 and s2 on live backends, both
/// settled UP. Keep the backends: dropping one stops it.
pub fn two_servers() -> (Haproxy, Backend, Backend) {
    let t = Duration::from_secs(20);
    let (b1, b2) = (Backend::start(), Backend::start());
    let h = Haproxy::start(&backend_block("app", &[("s1", b1.port()), ("s2", b2.port())], ""));
    assert!(h.wait_server_status("app", "s1", "UP", t) && h.wait_server_status("app", "s2", "UP", t));
    (h, b1, b2)
}

pub struct Watcher {
    pub dir: tempfile::TempDir,
    pub proc: Option<Proc>,
    pub config: PathBuf,
}

/// Instance + sinks TOML for a socket source.
pub fn socket_instance(name: &str, sock: &Path, extra: &str) -> String {
    format!(
        "[[haproxy]]\nname = \"{name}\"\nsocket = {:?}\n{extra}\n",
        sock.display().to_string()
    )
}

pub fn webhook_sink(name: &str, url: &str, extra: &str) -> String {
    format!("[[sink]]\nname = \"{name}\"\ntype = \"webhook\"\nurl = \"{url}\"\n{extra}\n")
}

impl Watcher {
    /// Writes the config (a `[watch]` with the given interval and a store in
    /// the tempdir, then `body`) without starting anything.
    pub fn configure(interval: &str, body: &str) -> Watcher {
        let dir = tempdir();
        let config = dir.path().join("hawatch.toml");
        let store = dir.path().join("store").join("hawatch.db");
        let mut text = format!(
            "[watch]\ninterval = \"{interval}\"\nstore = {:?}\n\n{body}",
            store.display().to_string()
        );
        // Tests run in parallel: never the default port.
        if !body.contains("[http]") {
            text.push_str("\n[http]\nlisten = \"127.0.0.1:0\"\n");
        }
        std::fs::write(&config, text).unwrap();
        Watcher {
            dir,
            proc: None,
            config,
        }
    }

    /// Configures and starts `hawatch watch`.
    pub fn start(interval: &str, body: &str) -> Watcher {
        let mut w = Watcher::configure(interval, body);
        w.spawn();
        w
    }

    /// Configures and starts `hawatch watch` with an `[http] listen` on a port
    /// chosen here, for tests that need the port fixed in the config (it must stay
    /// the same across reloads); everyone else leaves `[http]` out and gets
    /// `127.0.0.1:0`. `body(port)` is the config body. A port [`free_port`] released
    /// can be taken before hawatch binds it: when hawatch exits saying it cannot
    /// listen there (`[http] listen`), it starts again with a fresh port, at most
    /// [`START_ATTEMPTS`] times. Returns the watcher and its port.
    pub fn start_on_free_port(interval: &str, mut body: impl FnMut(u16) -> String) -> (Watcher, u16) {
        let mut last = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            let mut w = Watcher::configure(interval, &body(port));
            let p = w.spawn_proc();
            let lost = p.has_exited()
                && p.stderr().contains(&format!("cannot listen on 127.0.0.1:{port}"))
                && p.stderr().contains("[http] listen");
            if !lost {
                w.check_started(p);
                return (w, port);
            }
            eprintln!("hawatch: port {port} taken by someone else (attempt {attempt}/{START_ATTEMPTS}); starting again on a fresh port");
            last = p.stderr();
        }
        panic!("hawatch lost the race for its [http] port {START_ATTEMPTS} times; the last try:\n{last}");
    }

    pub fn spawn(&mut self) {
        let p = self.spawn_proc();
        self.check_started(p);
    }

    /// Spawns `hawatch watch`; returns once it says it started or it exited (10 s).
    fn spawn_proc(&self) -> Proc {
        let mut cmd = Command::new(hawatch_bin());
        cmd.args(["watch", "--log", "debug", "--config"]).arg(&self.config);
        let p = Proc::spawn("hawatch", cmd, self.dir.path());
        wait_for(Duration::from_secs(10), || {
            p.stderr().contains("hawatch watch started") || p.has_exited()
        });
        p
    }

    fn check_started(&mut self, p: Proc) {
        assert!(
            p.stderr().contains("hawatch watch started"),
            "watcher did not start:\n{}",
            p.stderr()
        );
        self.proc = Some(p);
    }

    /// Waits until the watcher has taken the silent baseline of `instance`
    /// (its first successful poll), so later changes are changes.
    pub fn wait_baseline(&self, instance: &str) {
        let line = format!("baseline recorded instance={instance} ");
        assert!(
            self.proc().wait_stderr_contains(&line, Duration::from_secs(20)),
            "no baseline for {instance}:\n{}",
            self.stderr()
        );
    }

    /// `http://ADDR` of the HTTP listener, from the watcher's log.
    pub fn http_base(&self) -> String {
        let p = self.proc();
        assert!(
            p.wait_stderr_contains("HTTP listener", Duration::from_secs(10)),
            "no HTTP listener:\n{}",
            p.stderr()
        );
        let err = p.stderr();
        let line = err.lines().find(|l| l.contains("HTTP listener")).unwrap();
        let addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("addr="))
            .unwrap_or_else(|| panic!("no addr in {line:?}"));
        let scheme = if line.contains("tls=true") { "https" } else { "http" };
        format!("{scheme}://{addr}")
    }

    pub fn proc(&self) -> &Proc {
        self.proc.as_ref().expect("watcher running")
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store").join("hawatch.db")
    }

    /// Runs a hawatch subcommand against this watcher's config.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(hawatch_bin())
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap()
    }

    /// Every stored event, oldest first.
    pub fn events(&self) -> Vec<Value> {
        if !self.store().exists() {
            return Vec::new();
        }
        let out = self.run(&["events", "--json"]);
        assert!(
            out.status.success(),
            "hawatch events: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
    }

    /// Stored events of a kind about a subject (`be/srv`, `be` or the instance).
    pub fn events_of(&self, kind: &str, subject: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["kind"] == kind && subject_of(e) == subject)
            .collect()
    }

    /// Waits until the store has an event of `kind` about `subject`.
    pub fn wait_event(&self, kind: &str, subject: &str, timeout: Duration) -> Value {
        let mut found = None;
        wait_for(timeout, || {
            found = self.events_of(kind, subject).into_iter().next();
            found.is_some()
        });
        found.unwrap_or_else(|| {
            panic!(
                "no {kind} for {subject} within {timeout:?}; events: {:#?}\nstderr:\n{}",
                kinds(&self.events()),
                self.stderr()
            )
        })
    }

    pub fn stderr(&self) -> String {
        self.proc.as_ref().map(|p| p.stderr()).unwrap_or_default()
    }
}

pub fn subject_of(e: &Value) -> String {
    match (e["backend"].as_str(), e["server"].as_str()) {
        (Some(b), Some(s)) => format!("{b}/{s}"),
        (Some(b), None) => b.to_string(),
        _ => e["instance"].as_str().unwrap_or("").to_string(),
    }
}

/// `kind subject` strings, for assertions and messages.
pub fn kinds(evs: &[Value]) -> Vec<String> {
    evs.iter()
        .map(|e| format!("{} {}", e["kind"].as_str().unwrap_or("?"), subject_of(e)))
        .collect()
}

/// Events in webhook bodies, flattened in arrival order.
pub fn webhook_events(bodies: &[Value]) -> Vec<Value> {
    bodies
        .iter()
        .flat_map(|b| b["events"].as_array().cloned().unwrap_or_default())
        .collect()
}
