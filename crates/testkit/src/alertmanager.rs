//! `Alertmanager`: a real Prometheus Alertmanager owned by one test.
//!
//! Runs Debian's `/usr/bin/prometheus-alertmanager` (override with
//! `HAWATCH_IT_ALERTMANAGER`) on a free 127.0.0.1 port with clustering off and a
//! minimal config (one route to a receiver `null` with no integrations, so nothing is
//! ever sent anywhere), storage in its own tempdir. The [`Proc`] guard stops it on drop.
//!
//! HTTP is a hand-written HTTP/1.0 exchange over `std::net::TcpStream` ([`http`]), so
//! the helper works from sync and async tests alike without a runtime.
//!
//! Resolved alerts, as observed with Alertmanager 0.25.0 (Debian 0.25.0-1+b4): after a
//! push of the same labels with `endsAt` <= now, `GET /api/v2/alerts` no longer lists
//! the alert at all, whatever the `active` / `silenced` / `inhibited` / `unprocessed`
//! filters say (`?active=false&…` is empty too; so is `/api/v2/alerts/groups`). The
//! API skips every alert whose `endsAt` is in the past; there is no `status.state`
//! "resolved" to look at. It disappears on the very next GET after the resolving push.
//! So "resolved" = absent from [`Alertmanager::alerts`]: see [`Alertmanager::is_active`]
//! and [`Alertmanager::wait_resolved`]. A freshly pushed alert may show
//! `status.state == "unprocessed"` for a moment before `"active"`; `alerts()` asks for
//! both.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::{free_port, pid_listens_on, tempdir, wait_for, Proc};

/// How long [`Alertmanager::start`] waits for `GET /-/ready` to answer 200.
pub const AM_START_TIMEOUT: Duration = Duration::from_secs(20);

/// Path of the Alertmanager binary (override with `HAWATCH_IT_ALERTMANAGER`).
pub fn alertmanager_bin() -> PathBuf {
    std::env::var_os("HAWATCH_IT_ALERTMANAGER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus-alertmanager"))
}

const CONFIG: &str = "\
global:
  resolve_timeout: 5m
route:
  receiver: \"null\"
receivers:
  - name: \"null\"
";

/// Query for [`Alertmanager::alerts`]: every state a not-yet-resolved alert can be in.
pub const ALL_ALERTS_QUERY: &str = "/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true";

pub struct Alertmanager {
    // Field order matters: the process stops before its tempdir is removed.
    proc: Proc,
    dir: TempDir,
    port: u16,
}

impl Alertmanager {
    /// Start on a free 127.0.0.1 port and wait (20 s) until `/-/ready` answers 200.
    /// Retries on a fresh port if it exits first (lost the port race); panics with its
    /// stderr otherwise.
    pub fn start() -> Alertmanager {
        Alertmanager::start_with(CONFIG)
    }

    /// Like [`Alertmanager::start`], with this `alertmanager.yml`.
    pub fn start_with(config: &str) -> Alertmanager {
        let dir = tempdir();
        let cfg = dir.path().join("alertmanager.yml");
        std::fs::write(&cfg, config).expect("write alertmanager.yml");
        let mut last_err = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(alertmanager_bin());
            cmd.arg(format!("--config.file={}", cfg.display()))
                .arg(format!("--storage.path={}", dir.path().join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=") // empty: no gossip, no 9094
                .arg("--log.level=warn")
                .current_dir(dir.path());
            let mut proc = Proc::spawn("alertmanager", cmd, dir.path());
            let ready = wait_for(AM_START_TIMEOUT, || {
                // Its own socket: a stranger may have taken the port first (then it exits).
                proc.has_exited()
                    || (pid_listens_on(proc.pid(), port) && matches!(http(port, "GET", "/-/ready", None), Ok((200, _))))
            });
            if ready && proc.is_running() {
                return Alertmanager { proc, dir, port };
            }
            let status = proc.stop(Duration::from_secs(5));
            last_err = format!("port {port}: exit status {status:?}\nstderr:\n{}", proc.stderr());
            if !ready {
                break; // hung rather than lost a port race: do not try again
            }
        }
        panic!("alertmanager did not become ready: {last_err}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Alertmanager's stderr so far.
    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }

    /// `POST /api/v2/alerts` with this JSON array; returns (status, body). Panics on
    /// connection errors.
    pub fn post_alerts(&self, alerts: &Value) -> (u16, String) {
        http(self.port, "POST", "/api/v2/alerts", Some(&alerts.to_string()))
            .unwrap_or_else(|e| panic!("POST /api/v2/alerts: {e}\nstderr:\n{}", self.stderr()))
    }

    /// All alerts that are not resolved (active, silenced, inhibited or unprocessed).
    /// Resolved alerts are never listed (see the module docs). Panics on errors.
    pub fn alerts(&self) -> Vec<Value> {
        self.try_alerts()
            .unwrap_or_else(|e| panic!("GET {ALL_ALERTS_QUERY}: {e}\nstderr:\n{}", self.stderr()))
    }

    pub fn try_alerts(&self) -> Result<Vec<Value>, String> {
        let (status, body) = http(self.port, "GET", ALL_ALERTS_QUERY, None).map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("HTTP {status}: {body}"));
        }
        match serde_json::from_str(&body) {
            Ok(Value::Array(a)) => Ok(a),
            other => Err(format!("not a JSON array ({other:?}): {body}")),
        }
    }

    /// Wait until an alert matching `pred` is listed; returns it.
    pub fn wait_alert(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let mut found = None;
        wait_for(timeout, || {
            found = self.try_alerts().ok().and_then(|a| a.into_iter().find(|v| pred(v)));
            found.is_some()
        });
        found
    }

    /// Is an alert matching `pred` listed, i.e. pushed and not resolved? An alert
    /// pushed again with `endsAt` <= now is no longer listed, so `false` after that
    /// means "resolved" (or never pushed).
    pub fn is_active(&self, pred: impl Fn(&Value) -> bool) -> bool {
        self.alerts().iter().any(pred)
    }

    /// Wait until no alert matching `pred` is listed (it resolved).
    pub fn wait_resolved(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> bool {
        wait_for(timeout, || !self.is_active(&pred))
    }
}

/// Does `alert` (an `/api/v2/alerts` item) carry all these labels?
pub fn has_labels(alert: &Value, labels: &[(&str, &str)]) -> bool {
    labels.iter().all(|(k, v)| alert["labels"][*k].as_str() == Some(*v))
}

/// One HTTP/1.0 request to 127.0.0.1:`port` (JSON body if any), 5 s timeouts; returns
/// (status, body). HTTP/1.0 keeps the answer simple: no chunking, closed at the end.
pub fn http(port: u16, method: &str, path: &str, json_body: Option<&str>) -> std::io::Result<(u16, String)> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n");
    if let Some(b) = json_body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(json_body.unwrap_or_default());
    s.write_all(req.as_bytes())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let resp = String::from_utf8_lossy(&resp);
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad HTTP response: {resp:?}"));
    let (head, body) = resp.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_string()))
}
