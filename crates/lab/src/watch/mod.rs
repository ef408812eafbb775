//! `lab watch`: hawatch watch on real HAProxy processes (was `benches/side_by_side.rs`).
//!
//! ```sh
//! cargo run -p lab --release -- watch                  # all parts (a few minutes)
//! cargo run -p lab --release -- watch poll rss         # only some parts
//! cargo run -p lab --release -- watch latency --trials 20
//! cargo run -p lab --release -- watch rss --rss-env MALLOC_ARENA_MAX=1
//! cargo run -p lab --release -- watch outage           # a 10,000-server outage in one poll
//! ```
//!
//! Options: `--iters N` (60), `--trials N` (20), `--rss-secs N` (10), `--top-secs N` (60),
//! `--rss-env KEY=VALUE` (repeatable: environment of the measured `hawatch`),
//! `--backends N` (1000), `--servers N` (10), `--metrics-iters N` (15),
//! `--outage-how down|maint`, `--outage-secs N` (600).
//!
//! Parts (methodology and results in docs/performance.md):
//!
//! - `poll`: a real HAProxy with 1,000 backends × 10 servers. HTTP checks
//!   (`check inter 60s fastinter 1s downinter 1s fall 3 rise 2`) against four local
//!   listeners this program serves: every server settles `UP`/`L7OK` within a few
//!   seconds, after which HAProxy runs only ~170 checks/s; 20 servers point at a
//!   closed port and settle `DOWN`/`L4CON`. The measurement starts once all 10,000
//!   servers are settled. Interleaved, N iterations each: the raw `show stat` dump
//!   over the unix socket (connect, write, read to EOF; std blocking I/O, reused
//!   buffer) and hawatch's no-change poll cycle (`source::poll` + `diff` against the
//!   state of the previous cycle, as a task on a 2-worker tokio runtime like the
//!   binary's). Also the raw `show info;show stat` dump (what hawatch asks for) and a
//!   breakdown of a separate cycle: fetch (`haproxy::Client::send`),
//!   `parse_socket_reply`, `diff`, the poller's state comparison, dropping the old state.
//! - `rss`: the real `hawatch watch` binary (interval 1s, console sink) watching that
//!   instance, then a one-server instance for reference; VmRSS/VmHWM/RssAnon/RssFile
//!   from /proc after `--rss-secs` seconds.
//! - `metrics`: `/metrics` on that instance (about 340k series), interleaved
//!   rounds (`--metrics-iters`, 15) of: the raw `show stat` dump, HAProxy's
//!   built-in exporter (promex, a `frontend prom` in the same config), Debian's Go
//!   `prometheus-haproxy-exporter` on the same socket, the real `hawatch watch`
//!   binary (interval 10s), and both again with `Accept-Encoding: gzip`. Each scrape
//!   is one HTTP/1.0 GET read to the last byte. Then VmRSS/VmHWM of both exporters.
//! - `check`: `hawatch check` (keepalived's `vrrp_script`, a `[check]` with
//!   `min_up` and `maint_file`) and the seed's `killall -0 haproxy`, 200 interleaved
//!   calls each on a small HAProxy, wall time of each whole call.
//! - `latency`: a small HAProxy (one backend, `check inter 500ms fall 2 rise 1`, the
//!   `ring hawatch` of docs/ring.md), a local HTTP listener closed and reopened on the
//!   same port, and a webhook receiver (axum) recording arrival times. `--trials`
//!   trials with polling only (interval 1s, no ring) and with the ring fast path
//!   (`ring = "hawatch"`, interval 5s, so that the ring and not the poll is what is
//!   measured). Per trial: close → `server_down` webhook arrival; HAProxy's own
//!   detection is timed independently by following the same ring from here.
//! - `top` (issue 18): `hawatch top` and, when installed, Debian's `hatop`, each
//!   in a tmux pane of its own at 200x50 refreshing every second on the big
//!   instance; CPU (utime + stime) over `--top-secs` after a 5 s warm-up, VmRSS.
//! - `outage` (issue 12; runs last, on the big instance, whose servers it takes
//!   down): the real `hawatch watch` binary (interval 2s, default policy) with a
//!   webhook sink and a Feishu-like chat sink, both served here (`200` and
//!   `{"code":0}`). Once it has its baseline, the four check listeners close and
//!   one CLI connection sends `set
//!   server B/S health down` for all 10,000 servers (`--outage-how maint`: `state
//!   maint`), so ~10,000 server events and 1,000 `backend_down` land in one poll.
//!   VmHWM of the watcher across that poll and the deliveries that follow (until the
//!   outbox is empty and no event came for 6 s; `--outage-secs`, 600, at most),
//!   the events and outbox rows in its store, and what the receivers got. Then
//!   the recovery: the listeners reopen and `set server B/S health up` (`state
//!   ready`) brings every server back; VmHWM is reset (`/proc/PID/clear_refs`)
//!   and measured the same way across the recovery and its deliveries.
//!
//! Every process started here is stopped by a guard (SIGTERM, then SIGKILL after
//! 5 s) when it goes out of scope; every wait is bounded in time and count.

mod check;
mod instances;
mod latency;
mod metrics;
mod outage;
mod poll;
mod rss;
mod servers;
mod top;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::builder::RangedU64ValueParser;

use crate::common::print_results;
use check::part_check;
use instances::start_big;
use latency::part_latency;
use metrics::part_metrics;
use outage::part_outage;
use poll::part_poll;
use rss::part_rss;
use top::part_top;

fn haproxy_bin() -> PathBuf {
    std::env::var_os("HAWATCH_BENCH_HAPROXY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/haproxy"))
}

// ---------------------------------------------------------------------------
// Statistics and /proc

#[derive(Clone, Copy, Debug, Default)]
struct Summary {
    n: usize,
    min: f64,
    p50: f64,
    p90: f64,
    max: f64,
    mean: f64,
}

/// Nearest-rank percentiles of `xs` (any unit).
fn summary(xs: &[f64]) -> Summary {
    if xs.is_empty() {
        return Summary::default();
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = |p: f64| v[((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Summary {
        n: v.len(),
        min: v[0],
        p50: rank(50.0),
        p90: rank(90.0),
        max: v[v.len() - 1],
        mean: v.iter().sum::<f64>() / v.len() as f64,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn proc_status(pid: u32, key: &str) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
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
    let hv = Command::new(haproxy_bin())
        .arg("-v")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_else(|e| format!("haproxy -v failed: {e}"));
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "date {}\nCPUs {ncpu} ({cpu})\n{hv}\nloadavg at start: {}",
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
        load.trim()
    )
}

/// `lab watch`: which parts, and their settings.
#[derive(clap::Args)]
pub struct Args {
    /// Parts to run, in the order listed below whatever the order given [default: all].
    #[arg(value_enum)]
    parts: Vec<Part>,
    /// `poll`: iterations.
    #[arg(long, default_value_t = 60, value_parser = RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    iters: usize,
    /// `latency`: trials per mode.
    #[arg(long, default_value_t = 20, value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000))]
    trials: usize,
    /// `rss`: seconds each watcher runs before it is measured.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    rss_secs: u64,
    /// `rss`: an environment variable of the measured hawatch (repeatable).
    #[arg(long, value_name = "KEY=VALUE", value_parser = key_value)]
    rss_env: Vec<(String, String)>,
    /// `check` and `rss`: a second hawatch binary (e.g. an older build) measured
    /// in the same run, interleaved with the one under test for `check` and right
    /// after it for `rss`, with a before/after row in the results.
    #[arg(long, value_name = "PATH")]
    before: Option<PathBuf>,
    /// The big instance: backends.
    #[arg(long, default_value_t = 1000, value_parser = RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    backends: usize,
    /// The big instance: servers per backend.
    #[arg(long, default_value_t = 10, value_parser = RangedU64ValueParser::<usize>::new().range(1..=100))]
    servers: usize,
    /// `metrics`: interleaved rounds.
    #[arg(long, default_value_t = 15, value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000))]
    metrics_iters: usize,
    /// `outage`: how the servers go: health forced DOWN with the check listeners
    /// closed, or MAINT.
    #[arg(long, value_enum, default_value_t = OutageHow::Down)]
    outage_how: OutageHow,
    /// `top`: seconds each terminal view is measured.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(5..=3_600))]
    top_secs: u64,
    /// `outage`: longest wait for the deliveries that follow, in seconds.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..=3_600))]
    outage_secs: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    /// (b) the no-change poll cycle against HAProxy's own `show stat` dump.
    Poll,
    /// (c) RSS of `hawatch watch` on 10,000 servers.
    Rss,
    /// (d) detection latency, polling and ring.
    Latency,
    /// `/metrics` against the Go haproxy_exporter and HAProxy's promex.
    Metrics,
    /// `hawatch check` per call against `killall -0 haproxy`.
    Check,
    /// `hawatch top` and hatop on the big instance: CPU and RSS at 1 s refresh.
    Top,
    /// every server of the big instance down in one poll, then back.
    Outage,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OutageHow {
    Down,
    Maint,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

pub fn run(opts: &Args) {
    let want = |p: Part| opts.parts.is_empty() || opts.parts.contains(&p);
    assert!(
        haproxy_bin().exists(),
        "{} not found (set HAWATCH_BENCH_HAPROXY)",
        haproxy_bin().display()
    );
    let dir = tempfile::Builder::new()
        .prefix("hawatch-bench-")
        .tempdir()
        .expect("create tempdir");
    let started = Instant::now();
    say!("# hawatch side-by-side\n{}", machine());
    let mut table = Vec::new();
    if want(Part::Poll) || want(Part::Rss) || want(Part::Metrics) || want(Part::Top) || want(Part::Outage) {
        let mut big = start_big(dir.path(), opts.backends, opts.servers);
        if want(Part::Poll) {
            part_poll(&big, dir.path(), opts.iters, &mut table);
        }
        if want(Part::Rss) {
            part_rss(
                &big,
                dir.path(),
                opts.rss_secs,
                &opts.rss_env,
                opts.before.as_deref(),
                &mut table,
            );
        }
        if want(Part::Metrics) {
            part_metrics(&big, dir.path(), opts.metrics_iters, &mut table);
        }
        if want(Part::Top) {
            part_top(&big, dir.path(), opts.top_secs, &mut table);
        }
        // Last: it takes every server of the big instance down.
        if want(Part::Outage) {
            let how = match opts.outage_how {
                OutageHow::Down => "down",
                OutageHow::Maint => "maint",
            };
            part_outage(&mut big, dir.path(), how, opts.outage_secs, &mut table);
        }
    }
    if want(Part::Latency) {
        part_latency(dir.path(), opts.trials, &mut table);
    }
    if want(Part::Check) {
        part_check(dir.path(), 200, opts.before.as_deref(), &mut table);
    }
    print_results(&table, started.elapsed().as_secs_f64());
}
