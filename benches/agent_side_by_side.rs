//! `hawatch agent` side by side with the setup it replaces (`harness = false`).
//!
//! ```sh
//! cargo bench --bench agent_side_by_side                  # everything (about 2 minutes)
//! cargo bench --bench agent_side_by_side -- stock         # only some parts: stock tuned fast
//! cargo bench --bench agent_side_by_side -- fast --secs 10 --rounds 5
//! ```
//!
//! Options: `--secs N` (5: each closed-loop round and each paced run),
//! `--rounds N` (3: interleaved closed-loop rounds of the bare loop and hawatch),
//! `--threads N` (2) × `--inflight N` (32): the closed-loop client against the fast
//! targets, `--xinetd-inflight N` (8), `--rate N` (1000: connections/s of the
//! paced latency run), `--stock-rate N` (100) and `--stock-secs N` (25): the load
//! on stock xinetd.
//!
//! The setup of seed 003 (`benches/fixtures/agent/`): HAProxy's `agent-check`
//! connects to a port where xinetd starts `/bin/bash haproxy-chk.sh`, which runs
//! `curl -s APP | grep "test me"` and prints `up` or `down`. APP is a tiny HTTP
//! server in this process (a std listener, one thread per connection) answering
//! `test me`.
//!
//! Parts (methodology and results in docs/performance.md):
//!
//! - `stock`: xinetd with the note's service file as is (no `cps` line, so
//!   xinetd's default `cps = 50 10`), paced at `--stock-rate` connections/s for
//!   `--stock-secs` s. Counts answered and refused connections per second and the
//!   periods during which every connection was refused (the service switched off).
//! - `tuned`: the same with `cps = 10000 1`, `instances = UNLIMITED`,
//!   `per_source = UNLIMITED`: closed-loop connections/s with one connection at a
//!   time, then with `--xinetd-inflight`; the better figure is the baseline.
//! - `fast`: the practical limit, a bare single-threaded std `accept → write "up\n"
//!   → close` loop in a separate process (this program, started again with a hidden
//!   argument), and the real `hawatch agent` binary with the issue's config (an http
//!   check of APP with `expect_body = "test me"`, a maintenance file check).
//!   `--rounds` interleaved closed-loop rounds of `--secs` s each, then one more
//!   round against the bare loop with twice the client threads (does the client
//!   limit?), then open-loop paced at `--rate` connections/s for `--secs` s against
//!   each: latency from the start of `connect` to the reply line.
//!
//! The load client (closed loop): epoll (mio) threads, each keeping `--inflight`
//! nonblocking connections going: connect → read to EOF → close → the next one.
//! The paced client: 4 std threads with blocking sockets, connect bounded by
//! SO_SNDTIMEO, reads by SO_RCVTIMEO. Every reply must be exactly one line starting
//! with `up`; anything else is counted. CPU of the client
//! (this process) and of the server come from /proc. Loopback only (127.0.0.1),
//! free ports only. Every process started here is stopped by a guard (SIGTERM, then
//! SIGKILL after 5 s) when it goes out of scope; every wait and loop is bounded in
//! time and count. Without `--bench` in its arguments (e.g. under
//! `cargo test --benches`) the program prints one line and exits. Without xinetd
//! (`HAWATCH_BENCH_XINETD` overrides `/usr/sbin/xinetd`) or curl it says how to
//! install them and skips `stock` and `tuned`.

#[path = "common/proc.rs"]
mod common;
use common::{free_port, verdict, Proc};

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chrono::Utc;
use socket2::{Domain, Socket, Type};

const HAWATCH: &str = env!("CARGO_BIN_EXE_hawatch");
const CHK_SCRIPT: &str = include_str!("fixtures/agent/haproxy-chk.sh");
const XINETD_SERVICE: &str = include_str!("fixtures/agent/haproxy-chk-3333.xinetd");
/// The application address in the seed's script, replaced by the local app's.
const SEED_APP: &str = "10.200.60.42";
/// The hidden argument that turns this program into the bare accept-write-close loop.
const BARE_ARG: &str = "--bare-loop-child";
fn xinetd_bin() -> PathBuf {
    std::env::var_os("HAWATCH_BENCH_XINETD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/xinetd"))
}

// ---------------------------------------------------------------------------
// Options

struct Opts {
    stock: bool,
    tuned: bool,
    fast: bool,
    secs: u64,
    rounds: usize,
    /// Closed loop against the fast targets: client threads × connections in flight each.
    threads: usize,
    inflight: usize,
    /// Closed loop against tuned xinetd: connections in flight (one thread).
    xinetd_inflight: usize,
    rate: u64,
    stock_rate: u64,
    stock_secs: u64,
}

impl Opts {
    fn parse(args: &[String]) -> Opts {
        let mut o = Opts {
            stock: false,
            tuned: false,
            fast: false,
            secs: 5,
            rounds: 3,
            threads: 2,
            inflight: 32,
            xinetd_inflight: 8,
            rate: 1000,
            stock_rate: 100,
            stock_secs: 25,
        };
        let mut any = false;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut num = |what: &str| -> u64 {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{what} needs a number"))
            };
            match a.as_str() {
                "--bench" => {}
                "stock" => (o.stock, any) = (true, true),
                "tuned" => (o.tuned, any) = (true, true),
                "fast" => (o.fast, any) = (true, true),
                "all" => any = false,
                "--secs" => o.secs = num("--secs").clamp(1, 60),
                "--rounds" => o.rounds = num("--rounds").clamp(1, 20) as usize,
                "--threads" => o.threads = num("--threads").clamp(1, 16) as usize,
                "--inflight" => o.inflight = num("--inflight").clamp(1, 1024) as usize,
                "--xinetd-inflight" => o.xinetd_inflight = num("--xinetd-inflight").clamp(1, 256) as usize,
                "--rate" => o.rate = num("--rate").clamp(1, 100_000),
                "--stock-rate" => o.stock_rate = num("--stock-rate").clamp(1, 10_000),
                "--stock-secs" => o.stock_secs = num("--stock-secs").clamp(1, 120),
                other => eprintln!("agent_side_by_side: ignoring argument {other:?}"),
            }
        }
        if !any {
            (o.stock, o.tuned, o.fast) = (true, true, true);
        }
        o
    }
}

// ---------------------------------------------------------------------------
// Statistics and the results table

/// Nearest-rank percentile of sorted `v`.
fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v[((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

fn sorted(xs: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = xs.into_iter().collect();
    v.sort_by(f64::total_cmp);
    v
}

fn median(xs: &[f64]) -> f64 {
    pct(&sorted(xs.iter().copied()), 50.0)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

struct Row {
    metric: String,
    measured: String,
    target: String,
    met: String,
}

fn row(table: &mut Vec<Row>, metric: impl Into<String>, measured: String, target: &str, met: String) {
    table.push(Row {
        metric: metric.into(),
        measured,
        target: target.into(),
        met,
    });
}

// ---------------------------------------------------------------------------
// Processes

fn read_lossy(p: &Path) -> String {
    fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// utime + stime in clock ticks (USER_HZ, 100 on Linux); `pid` "self" for this process.
fn cpu_ticks(pid: &str) -> u64 {
    let (u, s) = cpu_split(pid);
    u + s
}

/// (utime, stime) in clock ticks.
fn cpu_split(pid: &str) -> (u64, u64) {
    let Ok(s) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return (0, 0);
    };
    let Some(rest) = s.rfind(')').map(|i| &s[i + 1..]) else {
        return (0, 0);
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (get(11), get(12))
}

/// The `cpu` line of /proc/stat: (busy, softirq, total) jiffies of all CPUs.
fn machine_cpu() -> (u64, u64, u64) {
    let s = fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal guest guest_nice
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    let total: u64 = (0..8).map(get).sum();
    (total - get(3) - get(4), get(6), total)
}

/// `Threads:` of /proc/PID/status.
fn threads_of(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// TIME_WAIT sockets right now (`tw` of /proc/net/sockstat).
fn time_wait() -> u64 {
    let s = fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("TCP:"))
        .and_then(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.iter()
                .position(|w| *w == "tw")
                .and_then(|i| f.get(i + 1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let ncpu = thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let xv = Command::new(xinetd_bin())
        .arg("-version")
        .output()
        .map(|o| {
            let s = [o.stdout, o.stderr].concat();
            String::from_utf8_lossy(&s).lines().next().unwrap_or("").to_string()
        })
        .unwrap_or_else(|e| format!("not runnable ({e})"));
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let sysctl = |k: &str| {
        fs::read_to_string(format!("/proc/sys/net/{}", k.replace('.', "/")))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".into())
    };
    format!(
        "date {}\nCPUs {ncpu} ({cpu})\nxinetd: {xv}\nloadavg at start: {}\n\
         net: ip_local_port_range {}, tcp_tw_reuse {}, tcp_max_tw_buckets {}, somaxconn {}",
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
        load.trim(),
        sysctl("ipv4.ip_local_port_range"),
        sysctl("ipv4.tcp_tw_reuse"),
        sysctl("ipv4.tcp_max_tw_buckets"),
        sysctl("core.somaxconn"),
    )
}

// ---------------------------------------------------------------------------
// The application the agent checks: answers every HTTP request with `test me`
// (the seed's index.html). One thread per connection, so a CPU-starved curl does
// not hold up the others.

struct App {
    port: u16,
    hits: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl App {
    fn start() -> App {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind app");
        let port = l.local_addr().expect("addr").port();
        let hits = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hits.clone(), stop.clone());
        let thread = thread::spawn(move || {
            // Ends when `stop` is set (Drop connects once to wake it up).
            for conn in l.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut c) = conn else { continue };
                h.fetch_add(1, Ordering::Relaxed);
                thread::spawn(move || {
                    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = c.set_write_timeout(Some(Duration::from_secs(2)));
                    let mut buf = [0u8; 4096];
                    let mut n = 0;
                    // Up to 16 reads, until the end of the request head.
                    for _ in 0..16 {
                        match c.read(&mut buf[n..]) {
                            Ok(0) | Err(_) => break,
                            Ok(k) => n += k,
                        }
                        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") || n == buf.len() {
                            break;
                        }
                    }
                    let _ = c.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 8\r\n\
                          Connection: close\r\n\r\ntest me\n",
                    );
                    let _ = c.shutdown(Shutdown::Write);
                });
            }
        });
        App {
            port,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], self.port)), Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------
// The load client

#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// One line starting with `up`.
    Up,
    /// Something else came back (kept for the report).
    Bad(String),
    Refused,
    /// EADDRNOTAVAIL: no free ephemeral port.
    NoPort,
    ConnectErr(String),
    Timeout,
    ReadErr(String),
}

/// One agent-check exchange: connect, read to EOF, close. Returns the outcome and
/// the time from the start of `connect` to the end of the reply line.
fn exchange(addr: SocketAddr, timeout: Duration, buf: &mut Vec<u8>) -> (Outcome, Option<Duration>) {
    let t0 = Instant::now();
    let sock = match Socket::new(Domain::IPV4, Type::STREAM, None) {
        Ok(s) => s,
        Err(e) => return (Outcome::ConnectErr(format!("socket: {e}")), None),
    };
    // On Linux SO_SNDTIMEO also bounds a blocking connect().
    let _ = sock.set_write_timeout(Some(timeout));
    if let Err(e) = sock.connect(&addr.into()) {
        let o = match e.kind() {
            io::ErrorKind::ConnectionRefused => Outcome::Refused,
            io::ErrorKind::AddrNotAvailable => Outcome::NoPort,
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Outcome::Timeout,
            _ if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => Outcome::Timeout,
            _ => Outcome::ConnectErr(e.to_string()),
        };
        return (o, None);
    }
    let _ = sock.set_read_timeout(Some(timeout));
    let mut s: TcpStream = sock.into();
    buf.clear();
    let mut line_at = None;
    let mut chunk = [0u8; 256];
    // A reply is one short line; 64 reads is plenty, more is an error anyway.
    for _ in 0..64 {
        match s.read(&mut chunk) {
            Ok(0) => {
                let o = check_reply(buf);
                return (o, line_at);
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if line_at.is_none() && buf.contains(&b'\n') {
                    line_at = Some(t0.elapsed());
                }
                if buf.len() > 4096 {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return (Outcome::Timeout, line_at);
            }
            Err(e) => return (Outcome::ReadErr(e.to_string()), line_at),
        }
    }
    (
        Outcome::Bad(format!(
            "too long: {:?}",
            String::from_utf8_lossy(&buf[..buf.len().min(80)])
        )),
        line_at,
    )
}

/// A valid agent reply here: exactly one line, ending in `\n` (or `\r\n`), whose
/// first word is `up`.
fn check_reply(buf: &[u8]) -> Outcome {
    let ok = buf.ends_with(b"\n")
        && buf.iter().filter(|&&b| b == b'\n').count() == 1
        && std::str::from_utf8(buf)
            .ok()
            .and_then(|s| s.split_whitespace().next())
            .is_some_and(|w| w == "up");
    if ok {
        Outcome::Up
    } else {
        Outcome::Bad(format!("{:?}", String::from_utf8_lossy(&buf[..buf.len().min(80)])))
    }
}

#[derive(Default, Clone)]
struct Tally {
    up: u64,
    bad: u64,
    refused: u64,
    no_port: u64,
    timeout: u64,
    other: u64,
    /// A few of the unexpected outcomes, for the report.
    samples: Vec<String>,
}

impl Tally {
    fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Up => self.up += 1,
            Outcome::Bad(_) => self.bad += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::NoPort => self.no_port += 1,
            Outcome::Timeout => self.timeout += 1,
            Outcome::ConnectErr(_) | Outcome::ReadErr(_) => self.other += 1,
        }
        if *o != Outcome::Up && self.samples.len() < 5 {
            self.samples.push(format!("{o:?}"));
        }
    }

    fn merge(&mut self, o: &Tally) {
        self.up += o.up;
        self.bad += o.bad;
        self.refused += o.refused;
        self.no_port += o.no_port;
        self.timeout += o.timeout;
        self.other += o.other;
        for s in &o.samples {
            if self.samples.len() < 5 {
                self.samples.push(s.clone());
            }
        }
    }

    fn failed(&self) -> u64 {
        self.bad + self.refused + self.no_port + self.timeout + self.other
    }

    fn describe(&self) -> String {
        let mut s = format!("{} up", self.up);
        for (n, what) in [
            (self.bad, "bad replies"),
            (self.refused, "refused"),
            (self.no_port, "EADDRNOTAVAIL"),
            (self.timeout, "timeouts"),
            (self.other, "other errors"),
        ] {
            if n > 0 {
                s += &format!(", {n} {what}");
            }
        }
        if !self.samples.is_empty() {
            s += &format!(" (e.g. {})", self.samples.join("; "));
        }
        s
    }
}

/// What a closed-loop run measured.
struct Closed {
    tally: Tally,
    secs: f64,
    /// CPU of the client (this whole process) and of the server, % of one core.
    client_cpu: f64,
    server_cpu: f64,
    /// Of `client_cpu`, user space (the rest is the kernel's: syscalls and the
    /// loopback TCP work done in the client's context).
    client_user: f64,
    /// All CPUs (/proc/stat), % of one core: busy, of which softirq.
    machine_cpu: f64,
    softirq: f64,
    /// The server's CPU seconds during the run.
    server_secs: f64,
}

impl Closed {
    fn rate(&self) -> f64 {
        self.tally.up as f64 / self.secs
    }

    /// The server's CPU time per answered connection, µs: what the server costs,
    /// whatever limits the rate.
    fn server_us(&self) -> f64 {
        self.server_secs / self.tally.up.max(1) as f64 * 1e6
    }
}

/// An error of connect or read as an outcome.
fn outcome_of(e: &io::Error) -> Outcome {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Outcome::Refused,
        io::ErrorKind::AddrNotAvailable => Outcome::NoPort,
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Outcome::Timeout,
        _ if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => Outcome::Timeout,
        _ => Outcome::ConnectErr(e.to_string()),
    }
}

enum Slot {
    /// Free; open a connection at this time.
    Idle(Instant),
    Busy(mio::net::TcpStream, Instant),
}

/// Closed loop: `threads` threads, each an epoll loop (mio) keeping `inflight`
/// connections open: nonblocking connect → read to EOF → close, and at once the
/// next, for `dur`. No thread blocks per connection, so the client spends its CPU
/// on the sockets, not on context switches. A refused or failed connection is
/// retried after 1 ms (no spinning on a switched-off service); one without an
/// answer after 5 s is counted as a timeout. Connections still open at the end are
/// dropped uncounted.
fn closed_loop(addr: SocketAddr, threads: usize, inflight: usize, dur: Duration, server_pid: u32) -> Closed {
    let hz = 100.0; // USER_HZ
    let (c0, s0) = (cpu_ticks("self"), cpu_ticks(&server_pid.to_string()));
    let u0 = cpu_split("self").0;
    let m0 = machine_cpu();
    let t0 = Instant::now();
    let deadline = t0 + dur;
    let handles: Vec<JoinHandle<Tally>> = (0..threads)
        .map(|_| thread::spawn(move || closed_loop_thread(addr, inflight, deadline)))
        .collect();
    let mut tally = Tally::default();
    for h in handles {
        tally.merge(&h.join().expect("client thread"));
    }
    let secs = dur.as_secs_f64();
    let (c1, s1) = (cpu_ticks("self"), cpu_ticks(&server_pid.to_string()));
    let m1 = machine_cpu();
    let u1 = cpu_split("self").0;
    let wall = t0.elapsed().as_secs_f64();
    let ncpu = thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    let share = |a: u64, b: u64| (b - a) as f64 / (m1.2 - m0.2).max(1) as f64 * ncpu * 100.0;
    Closed {
        tally,
        secs,
        client_cpu: (c1 - c0) as f64 / hz / wall * 100.0,
        server_cpu: s1.saturating_sub(s0) as f64 / hz / wall * 100.0,
        client_user: u1.saturating_sub(u0) as f64 / hz / wall * 100.0,
        machine_cpu: share(m0.0, m1.0),
        softirq: share(m0.1, m1.1),
        server_secs: s1.saturating_sub(s0) as f64 / hz,
    }
}

fn closed_loop_thread(addr: SocketAddr, inflight: usize, deadline: Instant) -> Tally {
    use mio::{Events, Interest, Poll, Token};
    let mut t = Tally::default();
    let mut poll = Poll::new().expect("epoll");
    let mut events = Events::with_capacity(1024);
    let mut slots: Vec<Slot> = (0..inflight).map(|_| Slot::Idle(Instant::now())).collect();
    // Per slot: what its connection has read so far (a reply and the EOF may come
    // in separate events).
    let mut bufs: Vec<Vec<u8>> = (0..inflight).map(|_| Vec::with_capacity(64)).collect();
    let mut chunk = [0u8; 256];
    let timeout = Duration::from_secs(5);
    // Bounded by time (the deadline), and by count as a backstop.
    for _ in 0..100_000_000u64 {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        // (Re)open idle slots that are due; expire stuck ones.
        for (i, slot) in slots.iter_mut().enumerate() {
            match slot {
                Slot::Idle(at) if *at <= now => match mio::net::TcpStream::connect(addr) {
                    Ok(mut s) => {
                        if let Err(e) = poll.registry().register(&mut s, Token(i), Interest::READABLE) {
                            t.add(&Outcome::ConnectErr(format!("register: {e}")));
                            *slot = Slot::Idle(now + Duration::from_millis(1));
                        } else {
                            bufs[i].clear();
                            *slot = Slot::Busy(s, now);
                        }
                    }
                    Err(e) => {
                        t.add(&outcome_of(&e));
                        *slot = Slot::Idle(now + Duration::from_millis(1));
                    }
                },
                Slot::Busy(_, since) if now.duration_since(*since) > timeout => {
                    t.add(&Outcome::Timeout);
                    *slot = Slot::Idle(now);
                }
                _ => {}
            }
        }
        let wait = deadline.saturating_duration_since(now).min(Duration::from_millis(
            if slots.iter().any(|s| matches!(s, Slot::Idle(_))) {
                1
            } else {
                100
            },
        ));
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() != io::ErrorKind::Interrupted {
                panic!("epoll_wait: {e}");
            }
        }
        for ev in events.iter() {
            let i = ev.token().0;
            let Some(Slot::Busy(s, _)) = slots.get_mut(i) else {
                continue;
            };
            let buf = &mut bufs[i];
            // Edge-triggered: read until EOF or WouldBlock (bounded: a reply is short).
            let mut done = None;
            for _ in 0..64 {
                match s.read(&mut chunk) {
                    Ok(0) => {
                        done = Some(check_reply(buf));
                        break;
                    }
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        if buf.len() > 4096 {
                            done = Some(Outcome::Bad("too long".into()));
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        done = Some(match outcome_of(&e) {
                            Outcome::ConnectErr(m) => Outcome::ReadErr(m),
                            o => o,
                        });
                        break;
                    }
                }
            }
            if let Some(o) = done {
                let next = if o == Outcome::Up {
                    Instant::now()
                } else {
                    Instant::now() + Duration::from_millis(1)
                };
                t.add(&o);
                // Dropping the stream closes it (and removes it from the epoll set).
                slots[i] = Slot::Idle(next);
            }
        }
    }
    t
}

/// One connection of a paced run.
struct Sample {
    /// Scheduled start, and actual start, from the start of the run.
    sched: Duration,
    start: Duration,
    /// Start of `connect` → end of the reply line.
    line: Option<Duration>,
    outcome: Outcome,
}

/// Open loop: connection k starts at k / rate (on one of `threads` threads, round
/// robin), whatever happened to the ones before, for `dur`. A thread that falls
/// behind starts its next connection at once (recorded as lateness).
fn paced(addr: SocketAddr, rate: u64, dur: Duration, threads: usize, timeout: Duration) -> Vec<Sample> {
    let total = (rate * dur.as_secs()).max(1);
    let t0 = Instant::now() + Duration::from_millis(20);
    let handles: Vec<JoinHandle<Vec<Sample>>> = (0..threads as u64)
        .map(|i| {
            thread::spawn(move || {
                let mut out = Vec::with_capacity((total / threads as u64 + 1) as usize);
                let mut buf = Vec::with_capacity(256);
                let mut k = i;
                while k < total {
                    let sched = Duration::from_nanos(k * 1_000_000_000 / rate);
                    let at = t0 + sched;
                    let now = Instant::now();
                    if at > now {
                        thread::sleep(at - now);
                    }
                    let start = Instant::now().saturating_duration_since(t0).max(sched);
                    // Give up on a run that is more than 30 s late (xinetd under load).
                    if start > sched + Duration::from_secs(30) {
                        break;
                    }
                    let (outcome, line) = exchange(addr, timeout, &mut buf);
                    out.push(Sample {
                        sched,
                        start,
                        line,
                        outcome,
                    });
                    k += threads as u64;
                }
                out
            })
        })
        .collect();
    let mut all: Vec<Sample> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("paced thread"))
        .collect();
    all.sort_by_key(|s| s.start);
    all
}

/// Waits (bounded: `secs` s) until `addr` answers a line starting with `up`.
fn wait_up(addr: SocketAddr, secs: u64, p: &mut Proc, log: &Path) -> Duration {
    let t = Instant::now();
    let mut buf = Vec::new();
    let mut last = Outcome::Refused;
    for _ in 0..secs * 20 {
        if let Some(st) = p.exited() {
            panic!("{} exited ({st}):\n{}", p.name, read_lossy(log));
        }
        let (o, _) = exchange(addr, Duration::from_secs(5), &mut buf);
        if o == Outcome::Up {
            return t.elapsed();
        }
        last = o;
        thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{} did not answer `up` on {addr} within {secs} s (last: {last:?}):\n{}",
        p.name,
        read_lossy(log)
    );
}

// ---------------------------------------------------------------------------
// xinetd

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn current_user() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".into())
}

/// The seed's service file with the changes a foreground loopback run needs
/// (benches/fixtures/agent/README.md), plus `extra` lines.
fn xinetd_service(port: u16, script: &Path, extra: &[&str]) -> String {
    let mut out = String::new();
    for line in XINETD_SERVICE.lines() {
        let key = line.split_whitespace().next().unwrap_or("");
        let indent = "    ";
        match key {
            "port" => out += &format!("{indent}port = {port}\n"),
            "user" => out += &format!("{indent}user = {}\n", current_user()),
            "server" => {
                out += &format!("{indent}server = /bin/bash\n");
                out += &format!("{indent}server_args = {}\n", script.display());
            }
            "}" => {
                out += &format!("{indent}type = UNLISTED\n{indent}bind = 127.0.0.1\n");
                for e in extra {
                    out += &format!("{indent}{e}\n");
                }
                out += "}\n";
            }
            _ => {
                out += line;
                out += "\n";
            }
        }
    }
    out
}

struct Xinetd {
    proc: Proc,
    addr: SocketAddr,
    /// xinetd's own messages (-filelog).
    msgs: PathBuf,
}

fn start_xinetd(dir: &Path, name: &str, app: &App, extra: &[&str]) -> Xinetd {
    assert!(CHK_SCRIPT.contains(SEED_APP), "the script fixture lost {SEED_APP}");
    let script = dir.join(format!("{name}-haproxy-chk.sh"));
    fs::write(
        &script,
        CHK_SCRIPT.replace(SEED_APP, &format!("127.0.0.1:{}", app.port)),
    )
    .expect("write script");
    let port = free_port();
    let log = dir.join(format!("{name}-xinetd.log"));
    let cfg = dir.join(format!("{name}-xinetd.conf"));
    let conf = format!(
        "defaults\n{{\n    log_type = FILE {}\n}}\n\n{}",
        log.display(),
        xinetd_service(port, &script, extra)
    );
    fs::write(&cfg, &conf).expect("write xinetd config");
    println!("\n{name} xinetd config:\n{}", conf.trim_end());
    let stderr = dir.join(format!("{name}-xinetd.stderr"));
    let msgs = dir.join(format!("{name}-xinetd.msgs"));
    let mut proc = Proc::spawn(
        &format!("{name} xinetd"),
        Command::new(xinetd_bin())
            .arg("-dontfork")
            .arg("-f")
            .arg(&cfg)
            .arg("-pidfile")
            .arg(dir.join(format!("{name}-xinetd.pid")))
            // xinetd's own messages (e.g. "Deactivating service ..."); without this
            // they go to syslog.
            .arg("-filelog")
            .arg(&msgs)
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).expect("stderr file")),
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let took = wait_up(addr, 20, &mut proc, &stderr);
    println!(
        "{name} xinetd pid {} on {addr}: first `up` after {:.0} ms",
        proc.pid(),
        took.as_secs_f64() * 1000.0
    );
    Xinetd { proc, addr, msgs }
}

fn part_stock(dir: &Path, app: &App, o: &Opts, table: &mut Vec<Row>) {
    let x = start_xinetd(dir, "stock", app, &[]);
    // Let the readiness probe's second pass before the load starts.
    thread::sleep(Duration::from_millis(1500));
    let hits0 = app.hits.load(Ordering::Relaxed);
    println!(
        "\n## stock xinetd: paced at {}/s for {} s ({} client threads)",
        o.stock_rate, o.stock_secs, 32
    );
    let samples = paced(
        x.addr,
        o.stock_rate,
        Duration::from_secs(o.stock_secs),
        32,
        Duration::from_secs(10),
    );
    let mut tally = Tally::default();
    for s in &samples {
        tally.add(&s.outcome);
    }
    // Per second of the run: answered / refused / other.
    let secs = o.stock_secs as usize + 1;
    let mut per = vec![(0u64, 0u64, 0u64); secs];
    for s in &samples {
        let b = &mut per[(s.sched.as_secs() as usize).min(secs - 1)];
        match s.outcome {
            Outcome::Up => b.0 += 1,
            Outcome::Refused => b.1 += 1,
            _ => b.2 += 1,
        }
    }
    println!("| second | up | refused | other |");
    println!("|---|---|---|---|");
    for (i, (u, r, x)) in per.iter().enumerate().take(o.stock_secs as usize) {
        println!("| {i} | {u} | {r} | {x} |");
    }
    // Off periods: maximal runs of refused connections (in start order); each lasts
    // from its first refusal to the next connection that was answered.
    let mut offs: Vec<(Duration, Duration)> = Vec::new();
    let mut cur: Option<Duration> = None;
    for s in &samples {
        match (&s.outcome, cur) {
            (Outcome::Refused, None) => cur = Some(s.start),
            (Outcome::Refused, Some(_)) => {}
            (_, Some(from)) => {
                offs.push((from, s.start));
                cur = None;
            }
            (_, None) => {}
        }
    }
    let end_open = cur.map(|from| (from, samples.last().map(|s| s.start).unwrap_or(from)));
    let lat = sorted(
        samples
            .iter()
            .filter(|s| s.outcome == Outcome::Up)
            .filter_map(|s| s.line.map(|d| d.as_secs_f64() * 1000.0)),
    );
    let log = read_lossy(&x.msgs);
    let deact = log.lines().filter(|l| l.contains("Deactivating")).count();
    let first_deact = log
        .lines()
        .find(|l| l.contains("Deactivating"))
        .and_then(|l| l.split_once("ERROR: ").map(|(_, m)| m))
        .unwrap_or("-");
    println!(
        "{} connections: {}\nanswered ones: reply line after p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n\
         app requests (curl) during the run: {}",
        samples.len(),
        tally.describe(),
        pct(&lat, 50.0),
        pct(&lat, 99.0),
        pct(&lat, 100.0),
        app.hits.load(Ordering::Relaxed) - hits0
    );
    for (a, b) in &offs {
        println!(
            "switched off: {:.2} s → {:.2} s ({:.2} s)",
            a.as_secs_f64(),
            b.as_secs_f64(),
            (*b - *a).as_secs_f64()
        );
    }
    if let Some((a, b)) = end_open {
        println!(
            "switched off: {:.2} s → end of run ({:.2} s so far)",
            a.as_secs_f64(),
            (b - a).as_secs_f64()
        );
    }
    println!("xinetd's messages: {deact} × `{}`", first_deact.trim());
    let off_secs: f64 = offs
        .iter()
        .chain(end_open.iter())
        .map(|(a, b)| (*b - *a).as_secs_f64())
        .fold(0.0, |x, y| x + y);
    let longest = offs
        .iter()
        .chain(end_open.iter())
        .map(|(a, b)| (*b - *a).as_secs_f64())
        .fold(0.0, f64::max);
    let n_off = offs.len() + usize::from(end_open.is_some());
    row(
        table,
        format!(
            "stock xinetd (cps 50 10) at {}/s for {} s: refused / switched off",
            o.stock_rate, o.stock_secs
        ),
        format!(
            "{} of {} refused; off {n_off}× for {off_secs:.1} s in all (longest {longest:.1} s); {deact} `Deactivating` in its log",
            tally.refused,
            samples.len()
        ),
        "(the failure mode, shown)",
        verdict(n_off > 0),
    );
    drop(x);
}

fn part_tuned(dir: &Path, app: &App, o: &Opts, table: &mut Vec<Row>) -> Option<f64> {
    let mut x = start_xinetd(
        dir,
        "tuned",
        app,
        &["cps = 10000 1", "instances = UNLIMITED", "per_source = UNLIMITED"],
    );
    let secs = o.secs.max(5);
    let mut best: Option<f64> = None;
    // One connection at a time (as a single HAProxy checking one server back to
    // back would), then `--xinetd-inflight` at once (xinetd's best here).
    for inflight in [1, o.xinetd_inflight] {
        println!("\n## tuned xinetd: closed loop, {inflight} connections in flight, {secs} s");
        let hits0 = app.hits.load(Ordering::Relaxed);
        let r = closed_loop(x.addr, 1, inflight, Duration::from_secs(secs), x.proc.pid());
        println!(
            "{:.1} connections/s ({}); app requests {}; client CPU {:.0} %, xinetd itself {:.0} % \
             (its bash/curl children are not counted), machine busy {:.0} % of {} cores",
            r.rate(),
            r.tally.describe(),
            app.hits.load(Ordering::Relaxed) - hits0,
            r.client_cpu,
            r.server_cpu,
            r.machine_cpu,
            thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        );
        row(
            table,
            format!("tuned xinetd + bash + curl, closed loop ({inflight} in flight)"),
            format!("{:.1} conn/s ({} failed)", r.rate(), r.tally.failed()),
            "(baseline; the issue says ~120/s)",
            "-".into(),
        );
        best = Some(best.map_or(r.rate(), |b: f64| b.max(r.rate())));
    }
    let deact = read_lossy(&x.msgs)
        .lines()
        .filter(|l| l.contains("Deactivating"))
        .count();
    if deact > 0 {
        println!("tuned xinetd deactivated itself {deact}×!");
    }
    if x.proc.exited().is_some() {
        println!("tuned xinetd exited during the run");
    }
    best
}

// ---------------------------------------------------------------------------
// The bare loop (a child process: this program with BARE_ARG)

/// Accept → write "up\n" → close, single-threaded, std. Exits after `max_secs` or
/// when its parent is gone (checked every second by a watchdog thread), so it can
/// never outlive the benchmark.
fn bare_loop_child(addr: &str, max_secs: u64) {
    let l = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bare loop: bind {addr}: {e}"));
    let parent = nix::unistd::getppid();
    thread::spawn(move || {
        for _ in 0..max_secs {
            thread::sleep(Duration::from_secs(1));
            if nix::unistd::getppid() != parent {
                break;
            }
        }
        std::process::exit(0);
    });
    for conn in l.incoming() {
        match conn {
            Ok(mut s) => {
                let _ = s.write_all(b"up\n");
            }
            // EMFILE and the like: do not spin.
            Err(_) => thread::sleep(Duration::from_millis(1)),
        }
    }
}

fn start_bare(dir: &Path) -> (Proc, SocketAddr) {
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let me = std::env::current_exe().expect("current exe");
    let err = dir.join("bare.stderr");
    let mut p = Proc::spawn(
        "bare loop",
        Command::new(me)
            .arg(BARE_ARG)
            .arg(addr.to_string())
            .arg("3600")
            .stdout(Stdio::null())
            .stderr(File::create(&err).expect("stderr file")),
    );
    wait_up(addr, 10, &mut p, &err);
    (p, addr)
}

// ---------------------------------------------------------------------------
// hawatch agent

fn hawatch_has_agent() -> bool {
    Command::new(HAWATCH)
        .args(["agent", "--help"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The issue's config (the contract of `hawatch agent`).
fn agent_config(port: u16, app: &App, dir: &Path) -> String {
    format!(
        "[agent]\nlisten = [\"127.0.0.1:{port}\"]\nallow = [\"127.0.0.0/8\"]\n\n\
         [[agent.check]]\nname = \"app\"\ntype = \"http\"\nurl = \"{}\"\nexpect_body = \"test me\"\ninterval = \"1s\"\n\n\
         [[agent.check]]\nname = \"maintenance\"\ntype = \"file\"\npath = \"{}\"\nstate = \"maint\"\n",
        app.url(),
        dir.join("maint").display()
    )
}

fn start_hawatch(dir: &Path, app: &App) -> (Proc, SocketAddr, PathBuf) {
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let cfg = dir.join("agent.toml");
    let conf = agent_config(port, app, dir);
    fs::write(&cfg, &conf).expect("write agent config");
    println!("\nhawatch agent config:\n{}", conf.trim_end());
    let err = dir.join("agent.stderr");
    let mut p = Proc::spawn(
        "hawatch agent",
        Command::new(HAWATCH)
            .args(["agent", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(File::create(&err).expect("stderr file")),
    );
    let took = wait_up(addr, 30, &mut p, &err);
    let mut buf = Vec::new();
    let _ = exchange(addr, Duration::from_secs(5), &mut buf);
    println!(
        "hawatch agent pid {} on {addr}: first `up` after {:.0} ms, replies {:?}, {} threads",
        p.pid(),
        took.as_secs_f64() * 1000.0,
        String::from_utf8_lossy(&buf),
        threads_of(p.pid())
    );
    (p, addr, err)
}

// ---------------------------------------------------------------------------
// Part `fast`: bare loop and hawatch, interleaved

/// A paced run against `addr`, with the server's CPU (% of one core) meanwhile.
fn paced_cpu(addr: SocketAddr, pid: u32, rate: u64, dur: Duration) -> (Vec<Sample>, f64) {
    let c0 = cpu_ticks(&pid.to_string());
    let t0 = Instant::now();
    let s = paced(addr, rate, dur, 4, Duration::from_secs(5));
    let c1 = cpu_ticks(&pid.to_string());
    (s, c1.saturating_sub(c0) as f64 / t0.elapsed().as_secs_f64())
}

fn report_paced(name: &str, s: &[Sample], server_cpu: f64) -> (Tally, Vec<f64>) {
    let mut t = Tally::default();
    for x in s {
        t.add(&x.outcome);
    }
    let ok = |x: &&Sample| x.outcome == Outcome::Up;
    let line = sorted(s.iter().filter(ok).filter_map(|x| x.line.map(us)));
    let from_sched = sorted(
        s.iter()
            .filter(ok)
            .filter_map(|x| x.line.map(|l| us(x.start + l - x.sched))),
    );
    let late = sorted(s.iter().map(|x| us(x.start.saturating_sub(x.sched))));
    let span = match (s.first(), s.last()) {
        (Some(a), Some(b)) => (b.start - a.start).as_secs_f64(),
        _ => 0.0,
    };
    println!(
        "| {name} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {server_cpu:.1} | {} |",
        s.len(),
        s.len() as f64 / span.max(1e-9),
        pct(&line, 50.0),
        pct(&line, 90.0),
        pct(&line, 99.0),
        pct(&line, 100.0),
        pct(&from_sched, 99.0),
        pct(&late, 99.0),
        t.failed()
    );
    (t, line)
}

fn part_fast(dir: &Path, app: &App, o: &Opts, tuned: Option<f64>, table: &mut Vec<Row>) {
    let (mut bare, bare_addr) = start_bare(dir);
    println!(
        "\nbare loop: pid {} on {bare_addr} (this program, {BARE_ARG})",
        bare.pid()
    );
    let mut hw = if hawatch_has_agent() {
        Some(start_hawatch(dir, app))
    } else {
        println!(
            "\n`{HAWATCH} agent` does not exist in this build: hawatch is not measured \
             (the bare loop is)."
        );
        None
    };
    let dur = Duration::from_secs(o.secs);
    // Warm-up: one second each (not recorded).
    let _ = closed_loop(bare_addr, o.threads, o.inflight, Duration::from_secs(1), bare.pid());
    if let Some((p, a, _)) = &hw {
        let _ = closed_loop(*a, o.threads, o.inflight, Duration::from_secs(1), p.pid());
    }
    println!(
        "\n## closed loop: {} client threads × {} connections in flight, {} s per round, {} interleaved rounds",
        o.threads, o.inflight, o.secs, o.rounds
    );
    println!(
        "| round | target | conn/s | server CPU % | server CPU µs/conn | client CPU % (user) | machine busy % (softirq) | outcome | TIME_WAIT after |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut bare_rates = Vec::new();
    let mut hw_rates = Vec::new();
    let (mut bare_us, mut hw_us) = (Vec::new(), Vec::new());
    let mut cpu = [(0.0, 0.0), (0.0, 0.0)];
    let mut fast_tally = Tally::default();
    let show = |round: usize, name: &str, r: &Closed| {
        println!(
            "| {round} | {name} | {:.0} | {:.0} | {:.1} | {:.0} ({:.0}) | {:.0} ({:.0}) | {} | {} |",
            r.rate(),
            r.server_cpu,
            r.server_us(),
            r.client_cpu,
            r.client_user,
            r.machine_cpu,
            r.softirq,
            r.tally.describe(),
            time_wait()
        );
    };
    for round in 1..=o.rounds {
        let r = closed_loop(bare_addr, o.threads, o.inflight, dur, bare.pid());
        show(round, "bare loop", &r);
        bare_rates.push(r.rate());
        bare_us.push(r.server_us());
        cpu[0].0 += r.server_cpu / o.rounds as f64;
        cpu[0].1 += r.client_cpu / o.rounds as f64;
        fast_tally.merge(&r.tally);
        if let Some((p, a, _)) = &hw {
            let r = closed_loop(*a, o.threads, o.inflight, dur, p.pid());
            show(round, "hawatch agent", &r);
            hw_rates.push(r.rate());
            hw_us.push(r.server_us());
            cpu[1].0 += r.server_cpu / o.rounds as f64;
            cpu[1].1 += r.client_cpu / o.rounds as f64;
            fast_tally.merge(&r.tally);
        }
    }
    // Is the client the limit? The bare loop again with twice the threads.
    let check = closed_loop(bare_addr, o.threads * 2, o.inflight, dur, bare.pid());
    show(0, &format!("bare loop, {} client threads", o.threads * 2), &check);

    println!(
        "\n## paced: {}/s for {} s (latency: µs from the start of connect to the reply line)",
        o.rate, o.secs
    );
    println!(
        "| target | connections | achieved/s | p50 | p90 | p99 | max | p99 from scheduled start | p99 client lateness | server CPU % | failed |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let (s, cpu_b) = paced_cpu(bare_addr, bare.pid(), o.rate, dur);
    let (bt, bare_lat) = report_paced("bare loop", &s, cpu_b);
    fast_tally.merge(&bt);
    let mut hw_lat = None;
    if let Some((p, a, _)) = &hw {
        let (s, cpu_h) = paced_cpu(*a, p.pid(), o.rate, dur);
        let (t, l) = report_paced("hawatch agent", &s, cpu_h);
        fast_tally.merge(&t);
        hw_lat = Some((l, t, threads_of(p.pid())));
    }

    let bare_med = median(&bare_rates);
    row(
        table,
        format!(
            "bare accept-write-close loop, closed loop ({} threads × {} in flight), median of {}",
            o.threads, o.inflight, o.rounds
        ),
        format!(
            "{bare_med:.0} conn/s (server CPU {:.0} % = {:.1} µs/conn, client {:.0} %)",
            cpu[0].0,
            median(&bare_us),
            cpu[0].1
        ),
        "(practical limit)",
        "-".into(),
    );
    row(
        table,
        format!("  same, {} client threads", o.threads * 2),
        format!("{:.0} conn/s", check.rate()),
        "(client not the limit if ≈ above)",
        "-".into(),
    );
    row(
        table,
        "  bare loop, p99 at the paced rate (reference)",
        format!("{:.0} µs", pct(&bare_lat, 99.0)),
        "-",
        "-".into(),
    );
    match &hw {
        Some(_) => {
            let hw_med = median(&hw_rates);
            row(
                table,
                format!(
                    "hawatch agent, closed loop ({} threads × {} in flight), median of {}",
                    o.threads, o.inflight, o.rounds
                ),
                format!(
                    "{hw_med:.0} conn/s (server CPU {:.0} % = {:.1} µs/conn, client {:.0} %)",
                    cpu[1].0,
                    median(&hw_us),
                    cpu[1].1
                ),
                "-",
                "-".into(),
            );
            match tuned {
                Some(t) => {
                    let r = hw_med / t;
                    row(
                        table,
                        "hawatch ÷ tuned xinetd (its better figure)",
                        format!("{hw_med:.0} / {t:.1} = {r:.0}×"),
                        "≥ 100×",
                        verdict(r >= 100.0),
                    );
                }
                None => row(
                    table,
                    "hawatch ÷ tuned xinetd",
                    "not measured (tuned part skipped)".into(),
                    "≥ 100×",
                    "?".into(),
                ),
            }
            let r = hw_med / bare_med;
            row(
                table,
                "hawatch ÷ bare loop",
                format!("{hw_med:.0} / {bare_med:.0} = {r:.2}"),
                "≥ 0.70",
                verdict(r >= 0.7),
            );
            let (b, h) = (median(&bare_us), median(&hw_us));
            row(
                table,
                "  server CPU per connection, bare loop ÷ hawatch (independent of the client)",
                format!("{b:.1} / {h:.1} µs = {:.2}", b / h),
                "(reported)",
                "-".into(),
            );
            if let Some((l, t, th)) = &hw_lat {
                let p99 = pct(l, 99.0);
                row(
                    table,
                    format!("hawatch p99 reply latency at {}/s", o.rate),
                    format!(
                        "{p99:.0} µs (p50 {:.0}, max {:.0}; {} failed; {th} threads)",
                        pct(l, 50.0),
                        pct(l, 100.0),
                        t.failed()
                    ),
                    "< 1 ms",
                    verdict(p99 < 1000.0 && t.failed() == 0),
                );
            }
        }
        None => row(
            table,
            "hawatch agent",
            "not measured: `hawatch agent` does not exist in this build".into(),
            "≥ 100× tuned, ≥ 0.7 × bare, p99 < 1 ms",
            "?".into(),
        ),
    }
    row(
        table,
        "failed connections, all fast runs",
        fast_tally.describe(),
        "0",
        verdict(fast_tally.failed() == 0),
    );
    if let Some((mut p, _, err)) = hw.take() {
        let st = p.stop();
        let log = read_lossy(&err);
        let warns: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .take(5)
            .collect();
        println!("hawatch agent: exit {st:?}; warnings: {warns:?}");
    }
    bare.stop();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(BARE_ARG) {
        let addr = args.get(1).expect("address");
        let max = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(600);
        bare_loop_child(addr, max);
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("agent_side_by_side: skipped (run it with `cargo bench --bench agent_side_by_side`)");
        return;
    }
    let opts = Opts::parse(&args);
    let dir = tempfile::Builder::new()
        .prefix("hawatch-agent-bench-")
        .tempdir()
        .expect("tempdir");
    let started = Instant::now();
    println!("# hawatch agent side by side\n{}", machine());
    let app = App::start();
    println!("app (answers `test me`): {}", app.url());
    let mut table = Vec::new();
    let xinetd_ok = xinetd_bin().exists() && have("curl", "--version");
    if (opts.stock || opts.tuned) && !xinetd_ok {
        println!(
            "\nxinetd ({}) or curl is missing: skipping `stock` and `tuned`.\n\
             Install them with: apt-get install -y xinetd curl",
            xinetd_bin().display()
        );
    }
    if opts.stock && xinetd_ok {
        part_stock(dir.path(), &app, &opts, &mut table);
    }
    let tuned = if opts.tuned && xinetd_ok {
        part_tuned(dir.path(), &app, &opts, &mut table)
    } else {
        None
    };
    if opts.fast {
        part_fast(dir.path(), &app, &opts, tuned, &mut table);
    }
    println!("\n## results ({:.0} s)", started.elapsed().as_secs_f64());
    println!("| metric | measured | target | met |");
    println!("|---|---|---|---|");
    for r in &table {
        println!("| {} | {} | {} | {} |", r.metric, r.measured, r.target, r.met);
    }
}
