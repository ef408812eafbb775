//! `Haproxy`: a real HAProxy owned by one test.
//!
//! Started as `haproxy -W -S <dir>/master.sock -f <dir>/haproxy.cfg -p <dir>/haproxy.pid`:
//! master-worker mode in the foreground, so the test owns the master's PID, SIGUSR2 to
//! it reloads, SIGTERM stops master and workers. The master runs in its own process
//! group; the [`Proc`] guard kills that group on drop. Output goes to
//! `<dir>/haproxy.stdout` / `<dir>/haproxy.stderr` (appended across restarts).
//!
//! [`HaproxyBuilder::daemon`] starts the legacy way instead: `haproxy -D -f cfg -p pidfile`,
//! no master; [`Haproxy::reload`] then starts a new daemon with `-sf OLDPID`. Daemons are
//! stopped by PID on drop (only PIDs this helper started, checked against the config path).
//!
//! The helper writes `global` (admin stats socket, optional `ring hawatch`, extra
//! lines), `defaults`, an optional `listen stats` HTTP page, then the test's body.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::{free_port, tempdir, wait_for, Proc};

/// Path of the HAProxy binary (override with `HAWATCH_IT_HAPROXY`).
pub fn haproxy_bin() -> PathBuf {
    std::env::var_os("HAWATCH_IT_HAPROXY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/haproxy"))
}

/// The `(major, minor)` version of [`haproxy_bin`] (`haproxy -v`), for the
/// tests whose scenario only exists from some version on. Panics if it
/// cannot run.
pub fn version() -> (u32, u32) {
    let out = Command::new(haproxy_bin()).arg("-v").output().expect("run haproxy -v");
    let text = String::from_utf8_lossy(&out.stdout);
    // `HAProxy version 3.2.26-1 ...`, `HA-Proxy version 2.2.9-2+deb11u6 ...`
    let v = text
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .unwrap_or_else(|| panic!("haproxy -v: {text}"));
    let mut parts = v.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Fast health checks: a refused port is `DOWN` after ~0.4 s, a good one `UP` after one check.
pub const FAST_CHECK: &str = "inter 200ms fall 2 rise 1";

/// Check parameters for [`backend_block`].
pub fn check_opts(inter_ms: u32, fall: u32, rise: u32) -> String {
    format!("inter {inter_ms}ms fall {fall} rise {rise}")
}

/// A backend with `option httpchk GET /` and one checked server per `(name, port)` on
/// 127.0.0.1. `check_opts` follows `check` on each server line; empty means [`FAST_CHECK`].
///
/// ```text
/// backend NAME
///     option httpchk GET /
///     server s1 127.0.0.1:PORT check inter 200ms fall 2 rise 1
/// ```
pub fn backend_block(name: &str, servers: &[(&str, u16)], check_opts: &str) -> String {
    let opts = if check_opts.trim().is_empty() {
        FAST_CHECK
    } else {
        check_opts.trim()
    };
    let mut s = format!("backend {name}\n    option httpchk GET /\n");
    for (srv, port) in servers {
        s.push_str(&format!("    server {srv} 127.0.0.1:{port} check {opts}\n"));
    }
    s
}

/// A frontend on 127.0.0.1:`port` sending everything to `backend`. For a port of its
/// own, build the body in [`HaproxyBuilder::start_with`] (retried if the port is taken).
pub fn frontend_block(name: &str, port: u16, backend: &str) -> String {
    format!("frontend {name}\n    bind 127.0.0.1:{port}\n    default_backend {backend}\n")
}

/// Options for [`Haproxy`]; start with [`Haproxy::builder`].
#[derive(Clone, Debug, Default)]
pub struct HaproxyBuilder {
    ring: bool,
    global_extra: Vec<String>,
    stats_http: bool,
    stats_auth: Option<(String, String)>,
    daemon: bool,
}

impl HaproxyBuilder {
    /// Add `log ring@hawatch local0` and a `ring hawatch` section (rfc3164, maxlen 1200,
    /// size 32768); read it with `show events hawatch`.
    pub fn with_ring(mut self, on: bool) -> Self {
        self.ring = on;
        self
    }

    /// Extra line in `global` (e.g. `"nbthread 1"`, `"hard-stop-after 2s"`).
    pub fn global_line(mut self, line: &str) -> Self {
        self.global_extra.push(line.to_string());
        self
    }

    /// Add `listen stats` on a free 127.0.0.1 port with `stats uri /stats` (a fresh one
    /// if it was taken meanwhile, see [`try_start_with`](Self::try_start_with)).
    pub fn with_stats_http(mut self, on: bool) -> Self {
        self.stats_http = on;
        self
    }

    /// Like `with_stats_http(true)` plus `stats auth user:pass`.
    pub fn with_stats_auth(mut self, user: &str, pass: &str) -> Self {
        self.stats_http = true;
        self.stats_auth = Some((user.to_string(), pass.to_string()));
        self
    }

    /// Legacy daemon mode: `haproxy -D -f cfg -p pidfile` (no master, no master CLI);
    /// reloads start a new daemon with `-sf OLDPID`, as init scripts do.
    pub fn daemon(mut self, on: bool) -> Self {
        self.daemon = on;
        self
    }

    /// Start and wait until the stats socket answers. Panics (with HAProxy's stderr) on failure.
    pub fn start(self, body: &str) -> Haproxy {
        self.try_start(body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Start; `Err` carries HAProxy's stderr if it exits or never gets ready (10 s).
    /// Ports the helper picks itself (the stats page) are retried like in
    /// [`try_start_with`](Self::try_start_with).
    pub fn try_start(self, body: &str) -> Result<Haproxy, String> {
        self.try_start_with(|[]: [u16; 0]| body.to_string()).map(|(h, _)| h)
    }

    /// Start with a body that binds ports of its own: `body` gets `N` fresh 127.0.0.1
    /// ports and returns the body (it may hold more `global` sections, e.g. a TCP stats
    /// socket). The ports come back with the `Haproxy`. Panics like [`start`](Self::start).
    pub fn start_with<const N: usize>(self, body: impl FnMut([u16; N]) -> String) -> (Haproxy, [u16; N]) {
        self.try_start_with(body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`start_with`](Self::start_with), `Err` like [`try_start`](Self::try_start). A port
    /// [`free_port`] released can be taken by anyone before HAProxy binds it: when HAProxy
    /// says it cannot bind one of the ports this helper chose, it starts again from
    /// scratch (new tempdir, fresh ports, `body` called again), at most
    /// [`START_ATTEMPTS`] times.
    pub fn try_start_with<const N: usize>(
        self,
        mut body: impl FnMut([u16; N]) -> String,
    ) -> Result<(Haproxy, [u16; N]), String> {
        let mut last = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let ports: [u16; N] = std::array::from_fn(|_| free_port());
            let stats_port = self.stats_http.then(free_port);
            let mut h = Haproxy {
                dir: tempdir(),
                opts: self.clone(),
                body: body(ports),
                stats_port,
                master: None,
                daemons: Vec::new(),
            };
            h.write_cfg();
            let err = match h.try_spawn().and_then(|()| h.try_wait_ready(Duration::from_secs(10))) {
                Ok(()) => return Ok((h, ports)),
                Err(e) => e,
            };
            let lost: Vec<u16> = ports
                .iter()
                .chain(&stats_port)
                .copied()
                .filter(|p| cannot_bind(&err, *p))
                .collect();
            if lost.is_empty() {
                return Err(err);
            }
            eprintln!("haproxy: port(s) {lost:?} taken by someone else (attempt {attempt}/{START_ATTEMPTS}); starting again on fresh ports");
            last = err;
        }
        Err(format!(
            "haproxy lost the race for its ports {START_ATTEMPTS} times; the last try:\n{last}"
        ))
    }
}

/// How many times [`HaproxyBuilder::try_start_with`] starts HAProxy on fresh ports when
/// one it chose was taken meanwhile.
pub const START_ATTEMPTS: u32 = 5;

/// Whether HAProxy's error output says it could not bind 127.0.0.1:`port`
/// (`... cannot bind socket (Address already in use) for [127.0.0.1:PORT]`).
fn cannot_bind(stderr: &str, port: u16) -> bool {
    let addr = format!("127.0.0.1:{port}]");
    stderr
        .lines()
        .any(|l| l.contains("cannot bind socket") && l.contains(&addr))
}

pub struct Haproxy {
    // `Drop for Haproxy` stops `master` before the tempdir (and its sockets) goes away.
    dir: TempDir,
    opts: HaproxyBuilder,
    body: String,
    stats_port: Option<u16>,
    master: Option<Proc>,
    /// Daemon mode: every PID started (the last is the current one).
    daemons: Vec<u32>,
}

/// How [`Haproxy::reload_with`] asks for a reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadVia {
    /// SIGUSR2 to the master (master-worker mode).
    Signal,
    /// `reload` on the master CLI (master-worker mode).
    MasterCli,
    /// A new `haproxy -D ... -sf OLDPID` (daemon mode).
    SoftStop,
}

impl Haproxy {
    pub fn builder() -> HaproxyBuilder {
        HaproxyBuilder::default()
    }

    /// Start with default options (no ring, no HTTP stats page).
    pub fn start(body: &str) -> Haproxy {
        Haproxy::builder().start(body)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn cfg_path(&self) -> PathBuf {
        self.dir().join("haproxy.cfg")
    }

    /// The admin-level stats socket (Runtime API).
    pub fn socket_path(&self) -> PathBuf {
        self.dir().join("admin.sock")
    }

    /// The master CLI socket (`-S`): `show proc`, `@1 show info`, `reload`.
    pub fn master_socket_path(&self) -> PathBuf {
        self.dir().join("master.sock")
    }

    pub fn pid_file(&self) -> PathBuf {
        self.dir().join("haproxy.pid")
    }

    /// The full configuration text as written to `cfg_path()`.
    pub fn config_text(&self) -> String {
        std::fs::read_to_string(self.cfg_path()).expect("read haproxy.cfg")
    }

    /// The HTTP stats page, e.g. `http://127.0.0.1:PORT/stats` (if enabled).
    pub fn stats_url(&self) -> Option<String> {
        self.stats_port.map(|p| format!("http://127.0.0.1:{p}/stats"))
    }

    /// `stats_url()` + `;csv`.
    pub fn stats_csv_url(&self) -> Option<String> {
        self.stats_url().map(|u| format!("{u};csv"))
    }

    pub fn stats_port(&self) -> Option<u16> {
        self.stats_port
    }

    /// PID of the master process (None while stopped).
    pub fn master_pid(&self) -> Option<u32> {
        self.master.as_ref().map(|m| m.pid())
    }

    pub fn is_running(&self) -> bool {
        if self.opts.daemon {
            return self.daemons.last().is_some_and(|p| self.daemon_alive(*p));
        }
        self.master.as_ref().is_some_and(|m| m.is_running())
    }

    /// Whether `pid` is one of our daemons and has not exited (a zombie has).
    fn daemon_alive(&self, pid: u32) -> bool {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let ours = String::from_utf8_lossy(&cmdline).contains(&*self.cfg_path().to_string_lossy());
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().next());
        ours && !matches!(state, None | Some("Z") | Some("X"))
    }

    /// The PID in `haproxy.pid` (daemon mode: the current process).
    pub fn pid_file_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.pid_file())
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// HAProxy's stderr so far (all starts).
    pub fn stderr(&self) -> String {
        crate::read_lossy(&self.dir().join("haproxy.stderr"))
    }

    fn render_cfg(&self) -> String {
        let dir = self.dir().display().to_string();
        let mut c = String::from("global\n");
        c.push_str(&format!("    stats socket \"{dir}/admin.sock\" mode 600 level admin\n"));
        c.push_str("    stats timeout 2m\n");
        if self.opts.ring {
            c.push_str("    log ring@hawatch local0\n");
        }
        for l in &self.opts.global_extra {
            c.push_str(&format!("    {l}\n"));
        }
        c.push('\n');
        if self.opts.ring {
            c.push_str(
                "ring hawatch\n    description \"hawatch test ring\"\n    format rfc3164\n    maxlen 1200\n    size 32768\n\n",
            );
        }
        c.push_str(
            "defaults\n    mode http\n    log global\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n    timeout check 1s\n\n",
        );
        if let Some(port) = self.stats_port {
            c.push_str(&format!(
                "listen stats\n    bind 127.0.0.1:{port}\n    no log\n    stats enable\n    stats uri /stats\n"
            ));
            if let Some((u, p)) = &self.opts.stats_auth {
                c.push_str(&format!("    stats auth {u}:{p}\n"));
            }
            c.push('\n');
        }
        c.push_str(&self.body);
        if !c.ends_with('\n') {
            c.push('\n');
        }
        c
    }

    fn write_cfg(&self) {
        std::fs::write(self.cfg_path(), self.render_cfg()).expect("write haproxy.cfg");
    }

    fn spawn(&mut self) {
        self.try_spawn().unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        if self.opts.daemon {
            return self.spawn_daemon(None);
        }
        let mut cmd = Command::new(haproxy_bin());
        cmd.arg("-W")
            .arg("-S")
            .arg(self.master_socket_path())
            .arg("-f")
            .arg(self.cfg_path())
            .arg("-p")
            .arg(self.pid_file())
            .current_dir(self.dir());
        self.master = Some(Proc::spawn("haproxy", cmd, self.dir()));
        Ok(())
    }

    /// Daemon mode: run `haproxy -D -f cfg -p pidfile [-sf OLD]` and wait (10 s) for the
    /// launcher to exit; the daemon's PID (from the pid file) is remembered.
    fn spawn_daemon(&mut self, replace: Option<u32>) -> Result<(), String> {
        let _ = std::fs::remove_file(self.pid_file());
        let log = |name: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir().join(name))
                .expect("open haproxy log")
        };
        let mut cmd = Command::new(haproxy_bin());
        cmd.arg("-D")
            .arg("-f")
            .arg(self.cfg_path())
            .arg("-p")
            .arg(self.pid_file())
            .current_dir(self.dir())
            .stdin(std::process::Stdio::null())
            .stdout(log("haproxy.stdout"))
            .stderr(log("haproxy.stderr"));
        if let Some(old) = replace {
            cmd.arg("-sf").arg(old.to_string());
        }
        let mut child = cmd.spawn().map_err(|e| format!("spawn haproxy -D: {e}"))?;
        let mut status = None;
        wait_for(Duration::from_secs(10), || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "haproxy -D did not return within 10 s\nstderr:\n{}",
                self.stderr()
            ));
        };
        let mut pid = None;
        wait_for(Duration::from_secs(5), || {
            pid = self.pid_file_pid();
            pid.is_some()
        });
        match pid {
            Some(p) if status.success() => {
                self.daemons.push(p);
                Ok(())
            }
            _ => Err(format!(
                "haproxy -D failed ({status}, pid file: {pid:?})\nconfig:\n{}\nstderr:\n{}",
                self.config_text(),
                self.stderr()
            )),
        }
    }

    /// Send one command to the admin socket (non-interactive: one line, read to EOF).
    pub fn try_cmd(&self, command: &str) -> std::io::Result<String> {
        socket_cmd(&self.socket_path(), command)
    }

    /// Runtime API command; panics on socket errors (not on HAProxy error texts).
    pub fn cmd(&self, command: &str) -> String {
        self.try_cmd(command)
            .unwrap_or_else(|e| panic!("haproxy `{command}`: {e}\nstderr:\n{}", self.stderr()))
    }

    /// Command on the master CLI socket (e.g. `show proc`).
    pub fn master_cmd(&self, command: &str) -> std::io::Result<String> {
        socket_cmd(&self.master_socket_path(), command)
    }

    /// `show info` as key → value.
    pub fn try_info(&self) -> Option<BTreeMap<String, String>> {
        let out = self.try_cmd("show info").ok()?;
        let map: BTreeMap<String, String> = out
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        map.contains_key("Pid").then_some(map)
    }

    pub fn info(&self) -> BTreeMap<String, String> {
        self.try_info()
            .unwrap_or_else(|| panic!("`show info` failed\nstderr:\n{}", self.stderr()))
    }

    fn try_worker_pid(&self) -> Option<u32> {
        self.try_info()?.get("Pid")?.parse().ok()
    }

    /// The current worker's PID (`Pid:` in `show info`).
    pub fn worker_pid(&self) -> u32 {
        self.try_worker_pid()
            .unwrap_or_else(|| panic!("no Pid in `show info`\nstderr:\n{}", self.stderr()))
    }

    /// Wait (10 s) until ready (see `is_ready`); panics with config and stderr otherwise.
    pub fn wait_ready(&mut self) {
        self.try_wait_ready(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Ready = the worker answers `show info` and the master CLI lists that PID as its
    /// current worker. The second half matters: after forking the worker the 2.6 master
    /// re-executes itself ("wait mode"), and a signal sent in that window hits default
    /// handlers (SIGTERM kills it with status 15, SIGUSR2 too).
    fn is_ready(&self) -> bool {
        let Some(pid) = self.try_worker_pid() else {
            return false;
        };
        if self.opts.daemon {
            return self.daemons.last() == Some(&pid);
        }
        self.master_proc().is_some_and(|m| m.current_worker() == Some(pid))
    }

    fn try_wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let mut exited = false;
        let ok = wait_for(timeout, || {
            if self.is_ready() {
                return true;
            }
            exited = !self.is_running();
            exited
        });
        if ok && !exited {
            return Ok(());
        }
        let status = self.master.as_mut().and_then(|m| m.wait_exit(Duration::ZERO));
        Err(format!(
            "haproxy not ready after {timeout:?} (exit status: {status:?})\nconfig:\n{}\nstderr:\n{}",
            self.config_text(),
            self.stderr()
        ))
    }

    /// `show proc` on the master CLI, parsed.
    pub fn master_proc(&self) -> Option<MasterProc> {
        parse_show_proc(&self.master_cmd("show proc").ok()?)
    }

    /// Replace the body, rewrite the config and SIGUSR2 the master; wait until the new
    /// worker answers (`show info` Pid changed) and the master CLI (served only once the
    /// master is back in wait mode, signal handlers installed) lists it as current.
    /// Returns the new worker PID. (Daemon mode: a new daemon with `-sf OLDPID`.)
    pub fn reload(&mut self, new_body: &str) -> u32 {
        self.try_reload(new_body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`reload`](Self::reload) but an invalid config gives `Err` quickly (the
    /// master's `show proc` failed-reload counter), with the old worker still running.
    pub fn try_reload(&mut self, new_body: &str) -> Result<u32, String> {
        let via = if self.opts.daemon {
            ReloadVia::SoftStop
        } else {
            ReloadVia::Signal
        };
        self.reload_with(new_body, via)
    }

    /// Daemon mode's reload: write the config, start `haproxy -D ... -sf OLDPID`, wait
    /// (10 s) until the new process answers `show info`. Returns its PID.
    fn reload_soft_stop(&mut self) -> Result<u32, String> {
        let old = *self.daemons.last().ok_or("haproxy is stopped")?;
        self.spawn_daemon(Some(old))?;
        let new = *self.daemons.last().expect("just started");
        if wait_for(Duration::from_secs(10), || self.try_worker_pid() == Some(new)) {
            Ok(new)
        } else {
            Err(format!(
                "after -sf {old}: `show info` does not show pid {new}\nstderr:\n{}",
                self.stderr()
            ))
        }
    }

    /// Replace the body, rewrite the config and reload the way `via` says (it must fit
    /// the mode: [`ReloadVia::SoftStop`] for daemons, the others for master-worker).
    /// Waits like [`reload`](Self::reload); returns the new worker PID.
    pub fn reload_with(&mut self, new_body: &str, via: ReloadVia) -> Result<u32, String> {
        assert_eq!(
            self.opts.daemon,
            via == ReloadVia::SoftStop,
            "{via:?} does not fit this HAProxy's mode"
        );
        if via == ReloadVia::SoftStop {
            self.body = new_body.to_string();
            self.write_cfg();
            return self.reload_soft_stop();
        }
        let old_pid = self.worker_pid();
        let reloads_before = self
            .master_proc()
            .ok_or_else(|| format!("master CLI not answering\nstderr:\n{}", self.stderr()))?
            .reloads;
        self.body = new_body.to_string();
        self.write_cfg();
        match via {
            ReloadVia::MasterCli => {
                // The master re-executes itself and drops the connection: no reply to read.
                let _ = self.master_cmd("reload");
            }
            _ => self
                .master
                .as_ref()
                .expect("haproxy is stopped")
                .signal(Signal::SIGUSR2),
        }
        let mut failed = false;
        let mut new_pid = None;
        wait_for(Duration::from_secs(10), || {
            let Some(m) = self.master_proc() else {
                return false;
            };
            if m.reloads > reloads_before && m.last_reload_failed() {
                failed = true;
                return true;
            }
            new_pid = self
                .try_worker_pid()
                .filter(|p| *p != old_pid && m.current_worker() == Some(*p));
            new_pid.is_some()
        });
        match new_pid {
            Some(p) if !failed => Ok(p),
            _ => Err(format!(
                "reload failed (failed={failed}, worker pid still {old_pid})\nstderr:\n{}",
                self.stderr()
            )),
        }
    }

    /// SIGTERM the master and wait (10 s, then SIGKILL) for it and its workers to exit.
    /// Master-worker mode only (daemons are stopped on drop).
    pub fn stop(&mut self) -> ExitStatus {
        let mut m = self.master.take().expect("haproxy is not running");
        m.stop(Duration::from_secs(10))
    }

    /// Start again with the same config, socket path and ports; waits until ready.
    pub fn start_again(&mut self) {
        assert!(self.master.is_none(), "haproxy is still running; stop() first");
        self.spawn();
        self.wait_ready();
    }

    /// `show stat` parsed into rows keyed by header name (empty cells kept as "").
    pub fn stat_rows(&self) -> Vec<BTreeMap<String, String>> {
        parse_stat_csv(&self.cmd("show stat"))
    }

    /// One column of the `pxname,svname` row, if the row exists.
    pub fn try_stat_field(&self, proxy: &str, svname: &str, field: &str) -> Option<String> {
        let out = self.try_cmd("show stat").ok()?;
        parse_stat_csv(&out)
            .into_iter()
            .find(|r| {
                r.get("pxname").map(String::as_str) == Some(proxy)
                    && r.get("svname").map(String::as_str) == Some(svname)
            })
            .and_then(|r| r.get(field).cloned())
    }

    pub fn try_server_status(&self, backend: &str, server: &str) -> Option<String> {
        self.try_stat_field(backend, server, "status")
    }

    /// `status` column of `backend/server` (`UP`, `DOWN`, `UP 1/2`, `MAINT`, …).
    pub fn server_status(&self, backend: &str, server: &str) -> String {
        self.try_server_status(backend, server)
            .unwrap_or_else(|| panic!("no row {backend}/{server} in show stat:\n{}", self.cmd("show stat")))
    }

    /// Wait until `backend/server` has exactly `status`.
    pub fn wait_server_status(&self, backend: &str, server: &str, status: &str, timeout: Duration) -> bool {
        wait_for(timeout, || {
            self.try_server_status(backend, server).as_deref() == Some(status)
        })
    }

    /// `show events hawatch` (needs `with_ring(true)`).
    pub fn ring_events(&self) -> String {
        self.cmd("show events hawatch")
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        if let Some(mut m) = self.master.take() {
            m.stop(Duration::from_secs(5));
        }
        // Daemons: only the PIDs we started, and only while /proc says they are ours.
        let daemons = std::mem::take(&mut self.daemons);
        let signal = |sig: Signal| {
            for &pid in daemons.iter().filter(|p| self.daemon_alive(**p)) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
            }
        };
        signal(Signal::SIGTERM);
        if !wait_for(Duration::from_secs(5), || {
            !daemons.iter().any(|p| self.daemon_alive(*p))
        }) {
            signal(Signal::SIGKILL);
        }
    }
}

/// One non-interactive Runtime API exchange on a unix socket, 5 s timeouts.
pub fn socket_cmd(path: &Path, command: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(command.as_bytes())?;
    s.write_all(b"\n")?;
    // The 2.6 master CLI keeps the connection open after answering until the client
    // half-closes; the worker socket closes by itself. Half-close for both.
    s.shutdown(std::net::Shutdown::Write)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The master's `show proc` (the `haproxy` crate's parser, any version).
pub type MasterProc = ::haproxy::master::ShowProc;

/// `show proc`, parsed; `None` if it cannot be read.
pub fn parse_show_proc(text: &str) -> Option<MasterProc> {
    ::haproxy::master::parse_show_proc(text).ok()
}

/// Parse `show stat` / `;csv` output: header `# pxname,…,` names the columns; every line
/// has a trailing comma; values with `,` or `"` are quoted with `"` doubled.
pub fn parse_stat_csv(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines();
    let Some(header) = lines.next().and_then(|h| h.strip_prefix("# ")) else {
        return Vec::new();
    };
    let names = split_csv_line(header);
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            names
                .iter()
                .zip(split_csv_line(l))
                .filter(|(n, _)| !n.is_empty())
                .map(|(n, v)| (n.clone(), v))
                .collect()
        })
        .collect()
}

fn split_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.is_empty() => quoted = true,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}
