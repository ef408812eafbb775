//! `lab agent`: `hawatch agent` side by side with the setup it replaces (was
//! `benches/agent_side_by_side.rs`).
//!
//! ```sh
//! cargo run -p lab --release -- agent                     # everything (about 2 minutes)
//! cargo run -p lab --release -- agent stock               # only some parts: stock tuned fast
//! cargo run -p lab --release -- agent fast --secs 10 --rounds 5
//! ```
//!
//! Options: `--secs N` (5: each closed-loop round and each paced run),
//! `--rounds N` (3: interleaved closed-loop rounds of the bare loop and hawatch),
//! `--threads N` (2) × `--inflight N` (32): the closed-loop client against the fast
//! targets, `--xinetd-inflight N` (8), `--rate N` (1000: connections/s of the
//! paced latency run), `--stock-rate N` (100) and `--stock-secs N` (25): the load
//! on stock xinetd.
//!
//! The setup of seed 003 (`crates/lab/fixtures/agent/`): HAProxy's `agent-check`
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
//! time and count. Without xinetd
//! (`HAWATCH_BENCH_XINETD` overrides `/usr/sbin/xinetd`) or curl it says how to
//! install them and skips `stock` and `tuned`.

mod client;
mod fast;
mod xinetd;

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::builder::RangedU64ValueParser;

use crate::common::print_results;
pub(crate) use fast::bare_loop_child;
use fast::part_fast;
use xinetd::{have, part_stock, part_tuned};

const CHK_SCRIPT: &str = include_str!("../../fixtures/agent/haproxy-chk.sh");
const XINETD_SERVICE: &str = include_str!("../../fixtures/agent/haproxy-chk-3333.xinetd");
/// The application address in the seed's script, replaced by the local app's.
const SEED_APP: &str = "10.200.60.42";
/// The hidden subcommand that turns this program into the bare accept-write-close loop.
const BARE_ARG: &str = "bare-loop";
fn xinetd_bin() -> PathBuf {
    std::env::var_os("HAWATCH_BENCH_XINETD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/xinetd"))
}

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

/// `lab agent`: which parts, and their settings.
#[derive(clap::Args)]
pub struct Args {
    /// Parts to run, in the order listed below whatever the order given [default: all].
    #[arg(value_enum)]
    parts: Vec<Part>,
    /// Seconds of each closed-loop round and each paced run.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=60))]
    secs: u64,
    /// Interleaved closed-loop rounds of the bare loop and hawatch.
    #[arg(long, default_value_t = 3, value_parser = RangedU64ValueParser::<usize>::new().range(1..=20))]
    rounds: usize,
    /// Closed loop against the fast targets: client threads.
    #[arg(long, default_value_t = 2, value_parser = RangedU64ValueParser::<usize>::new().range(1..=16))]
    threads: usize,
    /// Closed loop against the fast targets: connections in flight per thread.
    #[arg(long, default_value_t = 32, value_parser = RangedU64ValueParser::<usize>::new().range(1..=1024))]
    inflight: usize,
    /// Closed loop against tuned xinetd: connections in flight (one thread).
    #[arg(long, default_value_t = 8, value_parser = RangedU64ValueParser::<usize>::new().range(1..=256))]
    xinetd_inflight: usize,
    /// Connections/s of the paced latency run.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    rate: u64,
    /// Connections/s of the load on stock xinetd.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    stock_rate: u64,
    /// Seconds of the load on stock xinetd.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=120))]
    stock_secs: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    /// Stock xinetd (`cps 50 10`) paced at `--stock-rate`: its failure mode.
    Stock,
    /// Tuned xinetd, closed loop: the baseline.
    Tuned,
    /// The bare loop and hawatch agent, closed loop and paced.
    Fast,
}

pub fn run(opts: &Args) {
    let want = |p: Part| opts.parts.is_empty() || opts.parts.contains(&p);
    let dir = tempfile::Builder::new()
        .prefix("hawatch-agent-bench-")
        .tempdir()
        .expect("tempdir");
    let started = Instant::now();
    say!("# hawatch agent side by side\n{}", machine());
    let app = App::start();
    say!("app (answers `test me`): {}", app.url());
    let mut table = Vec::new();
    let xinetd_ok = xinetd_bin().exists() && have("curl", "--version");
    if (want(Part::Stock) || want(Part::Tuned)) && !xinetd_ok {
        say!(
            "\nxinetd ({}) or curl is missing: skipping `stock` and `tuned`.\n\
             Install them with: apt-get install -y xinetd curl",
            xinetd_bin().display()
        );
    }
    if want(Part::Stock) && xinetd_ok {
        part_stock(dir.path(), &app, opts, &mut table);
    }
    let tuned = if want(Part::Tuned) && xinetd_ok {
        part_tuned(dir.path(), &app, opts, &mut table)
    } else {
        None
    };
    if want(Part::Fast) {
        part_fast(dir.path(), &app, opts, tuned, &mut table);
    }
    print_results(&table, started.elapsed().as_secs_f64());
}
