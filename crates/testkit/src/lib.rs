//! Test support for hawatch's integration tests and lab: real processes and
//! servers, owned by guards.
//!
//! Everything here is real: a real `haproxy` (master-worker, foreground, owned by the
//! test), real TCP servers on 127.0.0.1, a real axum receiver, a real SMTP server and
//! a real Alertmanager (Debian packages, see `scripts/deps.sh`). Tests run in parallel in
//! one process, so every helper lives in its own tempdir and takes ports by binding
//! `127.0.0.1:0`. Every spawned process and server is stopped by its guard's `Drop`,
//! also when a test panics. Nothing here knows hawatch itself: the path of its binary
//! and the watcher guard stay in `tests/it`.
//!
//! - [`haproxy`]: `Haproxy` (start / reload / stop / runtime API) and config snippets.
//! - [`backend`]: `Backend`, a tiny HTTP server HAProxy health-checks.
//! - [`receivers`]: `Receiver`, a stand-in for Feishu / Lark / DingTalk / WeCom / Slack
//!   and generic webhooks, one file per service.
//! - [`smtp`]: `SmtpServer`, a real SMTP server (Python aiosmtpd: plaintext, STARTTLS
//!   or implicit TLS, optional AUTH) recording every message it accepts.
//! - [`alertmanager`]: `Alertmanager`, a real Prometheus Alertmanager with its v2 API.
//! - [`exposition`]: a reader of the Prometheus text format, to compare `/metrics`.
//! - here: [`wait_for`], [`free_port`], [`dead_port`], [`PortHold`], [`Proc`] and [`rt`],
//!   the one background tokio runtime that `Backend` and `Receiver` run on (so they work
//!   from sync tests and from `#[tokio::test]` alike, and keep answering while a test
//!   blocks its own thread in [`wait_for`]).
pub mod alertmanager;
pub mod backend;
pub mod exposition;
pub mod haproxy;
pub mod receivers;
pub mod smtp;

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// How often wait loops poll.
pub const POLL: Duration = Duration::from_millis(25);

/// Poll `f` every [`POLL`] until it returns true or `timeout` has passed.
/// Returns whether the condition was met. Bounded both in time and in iterations.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let max_iters = timeout.as_millis() / POLL.as_millis() + 2;
    for _ in 0..max_iters {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(POLL);
    }
    f()
}

/// Async twin of [`wait_for`] for `#[tokio::test]`s that need their runtime to keep
/// running while they wait (e.g. the condition is driven by a task on that runtime).
pub async fn wait_for_async(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let max_iters = timeout.as_millis() / POLL.as_millis() + 2;
    for _ in 0..max_iters {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    f()
}

/// Ports this test process has handed out or bound; never handed out twice, so two
/// parallel tests cannot be given the same port by [`free_port`].
fn used_ports() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(Default::default)
}

/// Remember `port` as taken (for ports bound by helpers themselves).
pub fn claim_port(port: u16) {
    used_ports().lock().unwrap().insert(port);
}

/// A free TCP port on 127.0.0.1, found by binding `127.0.0.1:0`. The socket is closed
/// before returning, so whoever uses the port races with the rest of the machine (other
/// HAProxy processes, outgoing connections). Never hand one to a process without a
/// retry on "address in use": prefer letting the process bind `:0` and reading the port
/// back, or [`HaproxyBuilder::start_with`](haproxy::HaproxyBuilder::start_with) (which
/// retries with fresh ports); see also [`dead_port`] and [`PortHold`]. Never returns the
/// same port twice per process.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().unwrap().port();
        if used_ports().lock().unwrap().insert(port) {
            return port;
        }
    }
    panic!("free_port: no new port after 100 tries");
}

/// A port on 127.0.0.1 that refuses connections for the whole test run: it
/// is bound (so no one else can take it, and neither `bind(0)` nor an
/// outgoing connection is handed it) but never listened on. For "a server
/// nobody listens on"; a port that [`free_port`] found free and released
/// could be taken by anything meanwhile.
pub fn dead_port() -> u16 {
    static HELD: OnceLock<Mutex<Vec<socket2::Socket>>> = OnceLock::new();
    let (s, port) = bound_unlistened(false);
    HELD.get_or_init(Default::default).lock().unwrap().push(s);
    used_ports().lock().unwrap().insert(port);
    port
}

/// A loopback port reserved for the rest of this process: bound (SO_REUSEADDR) and
/// never listened on, for as long as the process lives. Nobody else gets it (neither
/// `bind(0)` nor an outgoing connection is handed a bound port, and a bind without
/// SO_REUSEADDR is refused), so it cannot be taken between here and the bind of the
/// process we hand it to; that process binds it anyway, because HAProxy, hawatch,
/// the Go exporter, xinetd and std's `TcpListener::bind` all set SO_REUSEADDR, and
/// Linux lets a SO_REUSEADDR socket listen next to bound ones that do not listen.
/// Until someone listens, connects are refused (a port for "nobody listens here").
/// The lab's way to hand a port to a process; a [`PortHold`] that is never dropped.
pub fn reserved_port() -> u16 {
    static HELD: OnceLock<Mutex<Vec<socket2::Socket>>> = OnceLock::new();
    let (s, port) = bound_unlistened(true);
    HELD.get_or_init(Default::default).lock().unwrap().push(s);
    claim_port(port);
    port
}

/// A socket bound to 127.0.0.1:0 and never listened on, and its port;
/// `reuse` sets SO_REUSEADDR first (so our own SO_REUSEADDR listener may
/// still bind the port).
fn bound_unlistened(reuse: bool) -> (socket2::Socket, u16) {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    if reuse {
        s.set_reuse_address(true).expect("SO_REUSEADDR");
    }
    s.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind 127.0.0.1:0");
    let port = s
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .expect("bound address");
    (s, port)
}

/// A port on 127.0.0.1 kept bound (SO_REUSEADDR, never listened on) for as long as
/// this lives: neither `bind(0)` nor an outgoing connection is handed it, and a
/// program binding it without SO_REUSEADDR is refused, but our own SO_REUSEADDR
/// listener ([`bind_loopback`]) may bind and listen on it, stop, and listen again.
/// For servers that stop and restart on the same port.
pub struct PortHold {
    _sock: socket2::Socket,
    port: u16,
}

impl PortHold {
    /// Hold a fresh port (from `bind(127.0.0.1:0)`).
    pub fn fresh() -> PortHold {
        let (s, port) = bound_unlistened(true);
        claim_port(port);
        PortHold { _sock: s, port }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Whether process `pid` has a socket listening on TCP `port` (any local address), per
/// `/proc/net/tcp{,6}` and `/proc/PID/fd`. Tells our server from a stranger that took
/// the port first and answers in its place.
pub fn pid_listens_on(pid: u32, port: u16) -> bool {
    let want = format!(":{port:04X}");
    let mut inodes = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            if f.len() > 9 && f[1].ends_with(&want) && f[3] == "0A" {
                inodes.insert(format!("socket:[{}]", f[9]));
            }
        }
    }
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| inodes.contains(&*l.to_string_lossy())))
}

/// A fresh tempdir for one test (removed on drop).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("hawatch-it-")
        .tempdir()
        .expect("create tempdir")
}

/// The background runtime `Backend` and `Receiver` run on. Multi-threaded, created once
/// per test process, never shut down (it dies with the process). Never call `block_on`
/// on it from a test: helpers talk to it with channels instead.
pub fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("it-support")
            .enable_all()
            .build()
            .expect("build support runtime")
    })
}

/// Guard for a spawned child process.
///
/// The child runs in its own process group (so a Ctrl-C in the terminal does not hit it
/// and we can clean up anything it forked), with stdin from /dev/null and stdout/stderr
/// appended to `<dir>/<name>.stdout` / `<dir>/<name>.stderr`.
/// On drop: SIGTERM, wait up to 5 s, then SIGKILL to the whole group, then reap.
pub struct Proc {
    name: String,
    child: Child,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawn `cmd`, capturing its output under `dir`. Panics if it cannot be spawned.
    pub fn spawn(name: &str, mut cmd: Command, dir: &Path) -> Proc {
        let stdout_path = dir.join(format!("{name}.stdout"));
        let stderr_path = dir.join(format!("{name}.stderr"));
        let open = |p: &Path| -> File {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap_or_else(|e| panic!("open {}: {e}", p.display()))
        };
        cmd.stdin(Stdio::null())
            .stdout(open(&stdout_path))
            .stderr(open(&stderr_path))
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name} ({cmd:?}): {e}"));
        Proc {
            name: name.to_string(),
            child,
            stdout_path,
            stderr_path,
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn nix_pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Everything the process wrote to stdout so far.
    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout_path)
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr_path)
    }

    pub fn stdout_path(&self) -> &Path {
        &self.stdout_path
    }

    pub fn stderr_path(&self) -> &Path {
        &self.stderr_path
    }

    /// Wait until stdout contains `needle`.
    pub fn wait_stdout_contains(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(timeout, || self.stdout().contains(needle))
    }

    /// Wait until stderr contains `needle`.
    pub fn wait_stderr_contains(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(timeout, || self.stderr().contains(needle))
    }

    /// Send a signal to the process (not its group). No-op once it was reaped.
    pub fn signal(&self, sig: Signal) {
        if self.status.is_none() {
            // ESRCH cannot happen before we reap; a zombie accepts signals silently.
            let _ = kill(self.nix_pid(), sig);
        }
    }

    /// Has the process exited (without reaping it)?
    pub fn has_exited(&self) -> bool {
        if self.status.is_some() {
            return true;
        }
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        !matches!(waitid(Id::Pid(self.nix_pid()), flags), Ok(WaitStatus::StillAlive))
    }

    pub fn is_running(&self) -> bool {
        !self.has_exited()
    }

    /// Wait up to `timeout` for the process to exit; then SIGKILL whatever is left in its
    /// process group (its own children) and reap it. `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(st) = self.status {
            return Some(st);
        }
        if !wait_for(timeout, || self.has_exited()) {
            return None;
        }
        Some(self.reap())
    }

    /// SIGKILL the group, then reap the leader. While the leader is not reaped its PID
    /// (= the group id) cannot be reused, so the group kill only reaches our processes.
    fn reap(&mut self) -> ExitStatus {
        let _ = killpg(self.nix_pid(), Signal::SIGKILL);
        let st = self.child.wait().expect("wait for child");
        self.status = Some(st);
        st
    }

    /// SIGTERM, wait up to `timeout`, then SIGKILL (group) and reap. Returns the status.
    pub fn stop(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(st) = self.status {
            return st;
        }
        self.signal(Signal::SIGTERM);
        if let Some(st) = self.wait_exit(timeout) {
            return st;
        }
        eprintln!("{}: did not exit after SIGTERM, sending SIGKILL", self.name);
        self.reap()
    }

    /// The exit status, if the process was reaped.
    pub fn status(&self) -> Option<ExitStatus> {
        self.status
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            self.stop(Duration::from_secs(5));
        }
    }
}

/// The file's bytes as text (lossy); empty if it does not exist, a panic on any other error.
pub fn read_lossy(p: &Path) -> String {
    match std::fs::read(p) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => panic!("read {}: {e}", p.display()),
    }
}

/// A tokio listener on 127.0.0.1:`port` (0 = any) with SO_REUSEADDR, created on [`rt`].
pub fn bind_loopback(port: u16) -> io::Result<tokio::net::TcpListener> {
    let _guard = rt().enter();
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))?;
    sock.listen(128)
}

/// [`bind_loopback`] on a port we listened on before, retried for up to 5 s in case it
/// is briefly held (e.g. by an outgoing connection that got it as its source port).
pub fn rebind_loopback(port: u16, who: &str) -> tokio::net::TcpListener {
    let mut listener = None;
    let mut last_err = None;
    wait_for(Duration::from_secs(5), || match bind_loopback(port) {
        Ok(l) => {
            listener = Some(l);
            true
        }
        Err(e) => {
            last_err = Some(e);
            false
        }
    });
    listener.unwrap_or_else(|| panic!("{who}: could not re-bind 127.0.0.1:{port}: {last_err:?}"))
}
