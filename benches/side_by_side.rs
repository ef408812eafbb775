//! Side-by-side measurements against real processes (`harness = false`).
//!
//! ```sh
//! cargo bench --bench side_by_side                 # all three parts (about 3 minutes)
//! cargo bench --bench side_by_side -- poll rss     # only some parts
//! cargo bench --bench side_by_side -- latency --trials 20
//! cargo bench --bench side_by_side -- rss --rss-env MALLOC_ARENA_MAX=1
//! cargo bench --bench side_by_side -- outage        # a 10,000-server outage in one poll
//! ```
//!
//! Options: `--iters N` (60), `--trials N` (20), `--rss-secs N` (10),
//! `--rss-env KEY=VALUE` (repeatable: environment of the measured `hawatch`),
//! `--backends N` (1000), `--servers N` (10), `--outage-how down|maint`,
//! `--outage-secs N` (600).
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
//!   breakdown of a separate cycle: fetch (`haproxy::client::command`),
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
//! Without `--bench` in its arguments (e.g. under `cargo test --benches`) the
//! program prints one line and exits.

#[path = "common/proc.rs"]
mod common;
use common::{free_port, verdict, Proc};

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chrono::Utc;
use hawatch::config::{Config, Instance, Source};
use hawatch::logic::diff::diff;
use hawatch::model::snapshot::InstanceState;
use hawatch::source;
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HAWATCH: &str = env!("CARGO_BIN_EXE_hawatch");

fn haproxy_bin() -> PathBuf {
    std::env::var_os("HAWATCH_BENCH_HAPROXY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/haproxy"))
}

// ---------------------------------------------------------------------------
// Options

struct Opts {
    poll: bool,
    rss: bool,
    latency: bool,
    metrics: bool,
    check: bool,
    outage: bool,
    /// `outage`: how the servers go: `down` (health forced DOWN, listeners closed) or `maint`.
    outage_how: String,
    /// `outage`: longest wait for the deliveries that follow, in seconds.
    outage_secs: u64,
    /// Rounds of the `metrics` part.
    metrics_iters: usize,
    iters: usize,
    trials: usize,
    rss_secs: u64,
    rss_env: Vec<(String, String)>,
    backends: usize,
    servers: usize,
}

impl Opts {
    fn parse(args: &[String]) -> Opts {
        let mut o = Opts {
            poll: false,
            rss: false,
            latency: false,
            metrics: false,
            check: false,
            outage: false,
            outage_how: "down".into(),
            outage_secs: 600,
            metrics_iters: 15,
            iters: 60,
            trials: 20,
            rss_secs: 10,
            rss_env: Vec::new(),
            backends: 1000,
            servers: 10,
        };
        let mut any = false;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut num = |what: &str| -> usize {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{what} needs a number"))
            };
            match a.as_str() {
                "--bench" => {}
                "poll" => (o.poll, any) = (true, true),
                "rss" => (o.rss, any) = (true, true),
                "latency" => (o.latency, any) = (true, true),
                "metrics" => (o.metrics, any) = (true, true),
                "check" => (o.check, any) = (true, true),
                "outage" => (o.outage, any) = (true, true),
                "--outage-how" => {
                    o.outage_how = it.next().cloned().unwrap_or_default();
                    assert!(
                        matches!(o.outage_how.as_str(), "down" | "maint"),
                        "--outage-how is down or maint"
                    );
                }
                "--outage-secs" => o.outage_secs = num("--outage-secs").clamp(10, 3_600) as u64,
                "--metrics-iters" => o.metrics_iters = num("--metrics-iters").clamp(1, 1_000),
                "all" => any = false,
                "--iters" => o.iters = num("--iters").clamp(1, 10_000),
                "--trials" => o.trials = num("--trials").clamp(1, 1_000),
                "--rss-secs" => o.rss_secs = num("--rss-secs").clamp(1, 600) as u64,
                "--rss-env" => {
                    let kv = it.next().and_then(|v| v.split_once('='));
                    let (k, v) = kv.unwrap_or_else(|| panic!("--rss-env needs KEY=VALUE"));
                    o.rss_env.push((k.to_string(), v.to_string()));
                }
                "--backends" => o.backends = num("--backends").clamp(1, 10_000),
                "--servers" => o.servers = num("--servers").clamp(1, 100),
                other => eprintln!("side_by_side: ignoring argument {other:?}"),
            }
        }
        if !any {
            (o.poll, o.rss, o.latency, o.metrics, o.check, o.outage) = (true, true, true, true, true, true);
        }
        o
    }
}

// ---------------------------------------------------------------------------
// Statistics

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

/// One line of the final table.
struct Row {
    metric: String,
    measured: String,
    target: String,
    met: String,
}

// ---------------------------------------------------------------------------
// Processes

fn tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("create tempdir")
}

fn read_lossy(p: &Path) -> String {
    fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The runtime the helper servers (check listeners, webhook receiver) run on.
fn support_rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bench-support")
            .enable_all()
            .build()
            .expect("support runtime")
    })
}

// ---------------------------------------------------------------------------
// A tiny HTTP server for HAProxy's health checks, closable and reopenable on its port

type StopTx = tokio::sync::oneshot::Sender<mpsc::Sender<()>>;

struct HttpListener {
    addr: SocketAddr,
    stop: Option<StopTx>,
    hits: Arc<AtomicU64>,
}

impl HttpListener {
    fn start() -> HttpListener {
        let hits = Arc::new(AtomicU64::new(0));
        let (addr, stop) = serve_http(SocketAddr::from(([127, 0, 0, 1], 0)), hits.clone());
        HttpListener {
            addr,
            stop: Some(stop),
            hits,
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Closes the listening socket; returns once it is closed.
    fn close(&mut self) -> Instant {
        if let Some(tx) = self.stop.take() {
            let (ack_tx, ack_rx) = mpsc::channel();
            if tx.send(ack_tx).is_ok() {
                let _ = ack_rx.recv_timeout(Duration::from_secs(5));
            }
        }
        Instant::now()
    }

    /// Listens again on the same port.
    fn reopen(&mut self) {
        self.close();
        let (_, stop) = serve_http(self.addr, self.hits.clone());
        self.stop = Some(stop);
    }
}

impl Drop for HttpListener {
    fn drop(&mut self) {
        self.close();
    }
}

fn serve_http(addr: SocketAddr, hits: Arc<AtomicU64>) -> (SocketAddr, StopTx) {
    // std sets SO_REUSEADDR, so the port can be bound again right after a close.
    let mut bound = None;
    for _ in 0..100 {
        match StdTcpListener::bind(addr) {
            Ok(l) => {
                bound = Some(l);
                break;
            }
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
    let l = bound.unwrap_or_else(|| panic!("cannot listen on {addr}"));
    l.set_nonblocking(true).expect("nonblocking");
    let addr = l.local_addr().expect("local addr");
    let (tx, mut rx) = tokio::sync::oneshot::channel::<mpsc::Sender<()>>();
    support_rt().spawn(async move {
        let Ok(l) = tokio::net::TcpListener::from_std(l) else {
            return;
        };
        loop {
            tokio::select! {
                ack = &mut rx => {
                    drop(l);
                    if let Ok(ack) = ack {
                        let _ = ack.send(());
                    }
                    return;
                }
                r = l.accept() => {
                    if let Ok((mut s, _)) = r {
                        hits.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(async move {
                            let mut buf = [0u8; 2048];
                            let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
                            let _ = s
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
                                .await;
                            let _ = s.shutdown().await;
                        });
                    }
                }
            }
        }
    });
    (addr, tx)
}

// ---------------------------------------------------------------------------
// Webhook receiver

struct Received {
    at: Instant,
    kind: String,
    backend: String,
    server: String,
}

struct Hook {
    port: u16,
    rx: mpsc::Receiver<Received>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Hook {
    fn start() -> Hook {
        let l = StdTcpListener::bind("127.0.0.1:0").expect("bind receiver");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().expect("addr").port();
        let (tx, rx) = mpsc::channel();
        let (sd_tx, sd_rx) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(on_hook))
            .with_state(tx);
        support_rt().spawn(async move {
            let Ok(l) = tokio::net::TcpListener::from_std(l) else {
                return;
            };
            let _ = axum::serve(l, app)
                .with_graceful_shutdown(async {
                    let _ = sd_rx.await;
                })
                .await;
        });
        Hook {
            port,
            rx,
            shutdown: Some(sd_tx),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn drain(&self) {
        for _ in 0..10_000 {
            if self.rx.try_recv().is_err() {
                break;
            }
        }
    }

    /// Waits for an event of `kind` about `backend/server`; returns its arrival time.
    fn wait(&self, kind: &str, backend: &str, server: &str, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        for _ in 0..100_000 {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.rx.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(r) if r.kind == kind && r.backend == backend && r.server == server => return Some(r.at),
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
        None
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn on_hook(
    axum::extract::State(tx): axum::extract::State<mpsc::Sender<Received>>,
    body: axum::body::Bytes,
) -> &'static str {
    let at = Instant::now();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = |e: &serde_json::Value, k: &str| e[k].as_str().unwrap_or_default().to_string();
    for e in v["events"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let _ = tx.send(Received {
            at,
            kind: text(e, "kind"),
            backend: text(e, "backend"),
            server: text(e, "server"),
        });
    }
    "ok"
}

// ---------------------------------------------------------------------------
// HAProxy

/// Connect, send one command line, read to EOF into `buf`.
fn raw_dump(sock: &Path, cmd: &str, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.clear();
    let mut s = UnixStream::connect(sock)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(format!("{cmd}\n").as_bytes())?;
    s.read_to_end(buf)
}

struct Haproxy {
    sock: PathBuf,
    stderr: PathBuf,
    proc: Proc,
}

impl Haproxy {
    /// Starts `haproxy -db -f <dir>/<name>.cfg` in the foreground and waits (30 s at
    /// most) until its stats socket answers.
    fn start(dir: &Path, name: &str, cfg: &str, sock: PathBuf) -> Haproxy {
        let cfg_path = dir.join(format!("{name}.cfg"));
        fs::write(&cfg_path, cfg).expect("write haproxy.cfg");
        let stderr = dir.join(format!("{name}.stderr"));
        let out = File::create(dir.join(format!("{name}.stdout"))).expect("stdout file");
        let err = File::create(&stderr).expect("stderr file");
        let mut proc = Proc::spawn(
            name,
            Command::new(haproxy_bin())
                .arg("-db")
                .arg("-f")
                .arg(&cfg_path)
                .stdout(out)
                .stderr(err),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut buf = Vec::new();
        for _ in 0..3000 {
            if let Some(st) = proc.exited() {
                panic!("haproxy {name} exited ({st}):\n{}", read_lossy(&stderr));
            }
            if raw_dump(&sock, "show info", &mut buf).is_ok() && buf.starts_with(b"Name: HAProxy") {
                return Haproxy { sock, stderr, proc };
            }
            if Instant::now() > deadline {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("haproxy {name} not ready after 30 s:\n{}", read_lossy(&stderr));
    }

    fn cmd(&self, c: &str) -> String {
        let mut buf = Vec::new();
        match raw_dump(&self.sock, c, &mut buf) {
            Ok(_) => String::from_utf8_lossy(&buf).into_owned(),
            Err(e) => format!("(error: {e})"),
        }
    }
}

/// The instance hawatch polls, built through the real config parser.
fn instance(name: &str, sock: &Path, store: &Path) -> Instance {
    let toml = format!(
        "[watch]\nstore = \"{}\"\ntimeout = \"10s\"\n\n[[haproxy]]\nname = \"{name}\"\nsocket = \"{}\"\n",
        store.display(),
        sock.display()
    );
    let cfg = Config::parse(&toml, "bench.toml").unwrap_or_else(|e| panic!("{e}"));
    cfg.instances.into_iter().next().expect("one instance")
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

// ---------------------------------------------------------------------------
// Part 1: the big instance, raw dump vs hawatch's poll cycle

struct Big {
    /// The check listeners every server points at (the `outage` part closes them).
    listeners: Vec<HttpListener>,
    haproxy: Haproxy,
    backends: usize,
    servers: usize,
    /// HAProxy's built-in Prometheus exporter (promex) on 127.0.0.1.
    prom_port: u16,
}

fn big_config(
    sock: &Path,
    (fe_port, prom_port): (u16, u16),
    ports: &[u16],
    dead_port: u16,
    backends: usize,
    servers: usize,
) -> String {
    let mut c = String::with_capacity(backends * servers * 80);
    let _ = write!(
        c,
        "global\n    stats socket {} mode 600 level admin\n    stats timeout 2m\n\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n    \
         timeout check 2s\n    option httpchk GET /health\n    \
         default-server inter 60s fastinter 1s downinter 1s fall 3 rise 2\n\n\
         frontend fe_main\n    bind 127.0.0.1:{fe_port}\n    default_backend be_0000\n\n\
         frontend prom\n    bind 127.0.0.1:{prom_port}\n    http-request use-service prometheus-exporter if {{ path /metrics }}\n    no log\n",
        sock.display()
    );
    for b in 0..backends {
        let _ = write!(c, "\nbackend be_{b:04}\n    balance roundrobin\n");
        for s in 0..servers {
            let port = if b % 50 == 7 && s == 5 {
                dead_port
            } else {
                ports[(b * servers + s) % ports.len()]
            };
            let _ = writeln!(c, "    server srv{s:02} 127.0.0.1:{port} check");
        }
    }
    c
}

fn start_big(dir: &Path, backends: usize, servers: usize) -> Big {
    let listeners: Vec<HttpListener> = (0..4).map(|_| HttpListener::start()).collect();
    let ports: Vec<u16> = listeners.iter().map(HttpListener::port).collect();
    let sock = dir.join("big.sock");
    let prom_port = free_port();
    let cfg = big_config(&sock, (free_port(), prom_port), &ports, free_port(), backends, servers);
    let dead = (0..backends).filter(|b| b % 50 == 7).count() * usize::from(servers > 5);
    let t = Instant::now();
    let haproxy = Haproxy::start(dir, "haproxy-big", &cfg, sock);
    println!(
        "big haproxy: {backends} backends x {servers} servers, pid {}, ready in {:.1} s",
        haproxy.proc.pid(),
        t.elapsed().as_secs_f64()
    );
    // Wait until every server has settled (no `UP 1/3`, no `INI`): bounded, 60 s.
    let t = Instant::now();
    let mut buf = Vec::new();
    let mut last = String::new();
    let mut reported = false;
    for _ in 0..120 {
        if raw_dump(&haproxy.sock, "show stat", &mut buf).is_ok() {
            if let Ok(rows) = haproxy::stat::parse(&String::from_utf8_lossy(&buf)) {
                let srv: Vec<_> = rows.iter().filter(|r| r.kind() == haproxy::RowType::Server).collect();
                let unsettled = srv
                    .iter()
                    .filter(|r| r.status.contains('/') || r.check_status.contains("INI"))
                    .count();
                let down: Vec<_> = srv.iter().filter(|r| r.status == "DOWN").collect();
                let mut why: Vec<String> = down
                    .iter()
                    .map(|r| format!("{} {}", r.check_status, r.last_chk))
                    .collect();
                why.sort();
                why.dedup();
                last = format!(
                    "{} servers, {unsettled} unsettled, {} DOWN ({} expected; checks: {})",
                    srv.len(),
                    down.len(),
                    dead,
                    why.join(", ")
                );
                if unsettled == 0 && down.len() != dead && !reported {
                    println!("waiting for servers that failed their first checks: {last}");
                    reported = true;
                }
                if srv.len() == backends * servers && unsettled == 0 && down.len() == dead {
                    println!("settled in {:.1} s: {last}", t.elapsed().as_secs_f64());
                    return Big {
                        listeners,
                        haproxy,
                        backends,
                        servers,
                        prom_port,
                    };
                }
            }
        }
        thread::sleep(Duration::from_millis(500));
    }
    panic!("big haproxy did not settle within 60 s: {last}");
}

struct Cycle {
    total: Duration,
    events: usize,
    ok: bool,
}

fn part_poll(big: &Big, dir: &Path, iters: usize, table: &mut Vec<Row>) {
    let inst = Arc::new(instance("big", &big.haproxy.sock, &dir.join("unused.db")));
    let Source::Socket(ep) = inst.source.clone() else {
        unreachable!("socket instance")
    };
    let http = source::http_client(&inst);
    // Like the binary: a multi-threaded runtime with 2 workers; each cycle runs as a task.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // The poller sizes its read buffer from the previous reply; so does this.
    let hint = std::cell::Cell::new(0usize);
    let cycle = |prev: InstanceState| -> (InstanceState, Cycle) {
        let (inst, http, size_hint) = (inst.clone(), http.clone(), hint.get());
        let (st, c, len) = rt.block_on(async move {
            tokio::spawn(async move {
                let t = Instant::now();
                let obs = source::poll(&inst, &http, size_hint).await;
                let o = diff(&inst.name, Some(prev), &obs, Utc::now());
                let len = obs.as_ref().map(|s| s.stat.text().len() + 4096).unwrap_or(0);
                drop(obs);
                let total = t.elapsed();
                let c = Cycle {
                    total,
                    events: o.events.len(),
                    ok: len > 0,
                };
                (o.state, c, len)
            })
            .await
            .expect("cycle task")
        });
        hint.set(len);
        (st, c)
    };
    // The silent baseline, then three warm-up cycles (each must be a no-change cycle).
    let obs = rt.block_on(source::poll(&inst, &http, 0));
    if let Err(e) = &obs {
        panic!("first poll failed: {e}");
    }
    let mut state = diff(&inst.name, None, &obs, Utc::now()).state;
    drop(obs);
    for _ in 0..3 {
        let (st, c) = cycle(state);
        assert!(c.ok && c.events == 0, "warm-up cycle: ok {} events {}", c.ok, c.events);
        state = st;
    }

    let mut buf = Vec::with_capacity(8 << 20);
    let (mut raw_stat, mut raw_both, mut hw, mut pair_ratio) = (vec![], vec![], vec![], vec![]);
    let (mut fetch, mut parse, mut dif, mut cmp, mut drop_t) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut stat_bytes, mut both_bytes, mut rows) = (0, 0, 0);
    let (mut events, mut changes) = (0, 0);
    let started = Instant::now();
    for i in 0..iters {
        if started.elapsed() > Duration::from_secs(240) {
            println!("poll: time budget reached after {i} iterations");
            break;
        }
        let mut raw = || {
            let t = Instant::now();
            stat_bytes = raw_dump(&big.haproxy.sock, "show stat", &mut buf).expect("raw show stat");
            t.elapsed()
        };
        let (r, c) = if i % 2 == 0 {
            let r = raw();
            let (st, c) = cycle(state);
            state = st;
            (r, c)
        } else {
            let (st, c) = cycle(state);
            state = st;
            (raw(), c)
        };
        assert!(c.ok, "poll failed during the measurement");
        events += c.events;
        raw_stat.push(ms(r));
        hw.push(ms(c.total));
        pair_ratio.push(ms(c.total) / ms(r));

        // The raw dump of what hawatch asks for.
        let t = Instant::now();
        both_bytes = raw_dump(&big.haproxy.sock, "show info;show stat", &mut buf).expect("raw dump");
        raw_both.push(ms(t.elapsed()));

        // Breakdown of one cycle, step by step (a separate cycle).
        let t0 = Instant::now();
        let reply = rt
            .block_on(haproxy::client::command(
                &ep,
                "show info;show stat",
                inst.timeout,
                source::MAX_REPLY,
                hint.get(),
            ))
            .expect("fetch");
        let t1 = Instant::now();
        let obs = source::parse_socket_reply(reply);
        let t2 = Instant::now();
        let o = diff(&inst.name, Some(state), &obs, Utc::now());
        let t3 = Instant::now();
        // The diff reports `changed` itself; nothing to compare any more.
        let changed = o.changed;
        let t4 = Instant::now();
        state = o.state;
        rows = obs.as_ref().map(|s| s.stat.len()).unwrap_or(0);
        drop(obs);
        let t5 = Instant::now();
        changes += usize::from(changed);
        events += o.events.len();
        fetch.push(ms(t1 - t0));
        parse.push(ms(t2 - t1));
        dif.push(ms(t3 - t2));
        cmp.push(ms(t4 - t3));
        drop_t.push(ms(t5 - t4));
    }

    let (rs, rb, h, pr) = (
        summary(&raw_stat),
        summary(&raw_both),
        summary(&hw),
        summary(&pair_ratio),
    );
    println!(
        "\n## poll: {} backends x {} servers, {} rows; show stat {stat_bytes} B, show info;show stat {both_bytes} B; {} iterations, {events} events, {changes} state changes",
        big.backends, big.servers, rows, h.n
    );
    println!("| measurement (ms) | min | p50 | p90 | max | mean |");
    println!("|---|---|---|---|---|---|");
    let line = |name: &str, s: Summary| {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            s.min, s.p50, s.p90, s.max, s.mean
        )
    };
    line("raw `show stat` dump (std socket)", rs);
    line("raw `show info;show stat` dump", rb);
    line("hawatch cycle: source::poll + diff", h);
    line("  breakdown: fetch (client::command)", summary(&fetch));
    line("  breakdown: parse_socket_reply", summary(&parse));
    line("  breakdown: diff (no change)", summary(&dif));
    line("  breakdown: state compare (poller)", summary(&cmp));
    line("  breakdown: drop old state", summary(&drop_t));
    println!(
        "ratio hawatch/raw show stat: p50 {:.2}, p90 {:.2}; per-iteration paired ratio p50 {:.2} p90 {:.2}",
        h.p50 / rs.p50,
        h.p90 / rs.p90,
        pr.p50,
        pr.p90
    );
    table.push(Row {
        metric: "(b) no-change poll cycle / raw `show stat` dump, p50 ratio".into(),
        measured: format!("{:.2} ({:.1} ms / {:.1} ms)", h.p50 / rs.p50, h.p50, rs.p50),
        target: "<= 1.5".into(),
        met: verdict(h.p50 / rs.p50 <= 1.5),
    });
    table.push(Row {
        metric: "(b) same, p90 ratio".into(),
        measured: format!("{:.2} ({:.1} ms / {:.1} ms)", h.p90 / rs.p90, h.p90, rs.p90),
        target: "<= 1.5".into(),
        met: verdict(h.p90 / rs.p90 <= 1.5),
    });
    table.push(Row {
        metric: "    CPU part of the cycle: parse_socket_reply + diff, p50".into(),
        measured: format!("{:.1} ms", summary(&parse).p50 + summary(&dif).p50),
        target: "(a) < 10 ms, see parse_diff".into(),
        met: verdict(summary(&parse).p50 + summary(&dif).p50 < 10.0),
    });
}

// ---------------------------------------------------------------------------
// Part 2: RSS of the real binary watching the big instance

fn proc_status(pid: u32, key: &str) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// utime + stime in clock ticks (USER_HZ, 100 on Linux).
fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// What one `hawatch watch` run looked like from /proc.
struct Watched {
    pid: u32,
    elapsed: f64,
    /// kB
    rss: u64,
    hwm: u64,
    anon: u64,
    file: u64,
    rss_p50: f64,
    rss_max: u64,
    threads: u64,
    cpu_s: f64,
    events: usize,
    problems: Vec<String>,
    exit: Option<ExitStatus>,
}

/// Runs `hawatch watch` (interval 1s, console sink) on `h` for `secs` seconds,
/// sampling /proc/PID/status every 250 ms.
fn watch_for(name: &str, h: &Haproxy, dir: &Path, secs: u64, env: &[(String, String)]) -> Watched {
    let cfg = dir.join(format!("{name}.toml"));
    fs::write(
        &cfg,
        format!(
            "[watch]\ninterval = \"1s\"\ntimeout = \"5s\"\nstore = \"{}\"\n\n[[haproxy]]\nname = \"{name}\"\nsocket = \"{}\"\n\n[[sink]]\nname = \"console\"\ntype = \"console\"\n\n[http]\nlisten = \"\"\n",
            dir.join(format!("{name}.db")).display(),
            h.sock.display()
        ),
    )
    .expect("write config");
    let (out_p, err_p) = (dir.join(format!("{name}.stdout")), dir.join(format!("{name}.stderr")));
    let mut cmd = Command::new(HAWATCH);
    cmd.args(["watch", "--config"])
        .arg(&cfg)
        .stdout(File::create(&out_p).expect("stdout"))
        .stderr(File::create(&err_p).expect("stderr"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut w = Proc::spawn(&format!("hawatch ({name})"), &mut cmd);
    let pid = w.pid();
    let t0 = Instant::now();
    let cpu0 = proc_cpu_ticks(pid).unwrap_or(0);
    let mut rss_max = 0;
    let mut samples = Vec::new();
    for _ in 0..(secs * 4) {
        thread::sleep(Duration::from_millis(250));
        if let Some(st) = w.exited() {
            panic!("hawatch ({name}) exited early ({st}):\n{}", read_lossy(&err_p));
        }
        if let Some(r) = proc_status(pid, "VmRSS") {
            rss_max = rss_max.max(r);
            samples.push(r as f64);
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let stat = |k: &str| proc_status(pid, k).unwrap_or(0);
    let (rss, hwm, anon, file, threads) = (
        stat("VmRSS"),
        stat("VmHWM"),
        stat("RssAnon"),
        stat("RssFile"),
        stat("Threads"),
    );
    let cpu_s = proc_cpu_ticks(pid).unwrap_or(0).saturating_sub(cpu0) as f64 / 100.0;
    let exit = w.stop();
    let events = read_lossy(&out_p).lines().filter(|l| !l.trim().is_empty()).count();
    let problems = read_lossy(&err_p)
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("unreachable"))
        .map(str::to_string)
        .collect();
    Watched {
        pid,
        elapsed,
        rss,
        hwm,
        anon,
        file,
        rss_p50: summary(&samples).p50,
        rss_max,
        threads,
        cpu_s,
        events,
        problems,
        exit,
    }
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn part_rss(big: &Big, dir: &Path, secs: u64, env: &[(String, String)], table: &mut Vec<Row>) {
    // Reference: the same binary watching a one-server instance (the fixed cost).
    let tiny_sock = dir.join("tiny.sock");
    let tiny = Haproxy::start(
        dir,
        "haproxy-tiny",
        &format!(
            "global\n    stats socket {} mode 600 level admin\n\ndefaults\n    mode http\n    timeout connect 1s\n    \
             timeout client 10s\n    timeout server 10s\n\nfrontend fe\n    bind 127.0.0.1:{}\n    default_backend be\n\n\
             backend be\n    server s1 127.0.0.1:{}\n",
            tiny_sock.display(),
            free_port(),
            free_port()
        ),
        tiny_sock,
    );
    let env_note = if env.is_empty() {
        String::new()
    } else {
        format!(
            " with {}",
            env.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    println!();
    let mut results = Vec::new();
    for (name, h, servers) in [("big", &big.haproxy, big.backends * big.servers), ("tiny", &tiny, 1)] {
        let w = watch_for(name, h, dir, secs, env);
        println!(
            "## rss: hawatch watch{env_note} (pid {}, interval 1s) on {servers} server(s) for {:.1} s",
            w.pid, w.elapsed
        );
        println!(
            "VmRSS {:.1} MB (RssAnon {:.1} MB + RssFile {:.1} MB; sampled every 250 ms: p50 {:.1} MB, max {:.1} MB), VmHWM {:.1} MB, {} threads",
            mb(w.rss),
            mb(w.anon),
            mb(w.file),
            w.rss_p50 / 1024.0,
            mb(w.rss_max),
            mb(w.hwm),
            w.threads
        );
        println!(
            "CPU {:.2} s ({:.1}% of one core); events printed: {} (a failed poll would print instance_unreachable); exit {:?}; warnings/errors logged: {}",
            w.cpu_s,
            100.0 * w.cpu_s / w.elapsed,
            w.events,
            w.exit,
            w.problems.len()
        );
        for p in w.problems.iter().take(5) {
            println!("  {p}");
        }
        results.push(w);
    }
    println!(
        "haproxy (big) VmRSS {:.1} MB",
        mb(proc_status(big.haproxy.proc.pid(), "VmRSS").unwrap_or(0))
    );
    drop(tiny);
    let (b, t) = (&results[0], &results[1]);
    table.push(Row {
        metric: format!("(c) watcher VmHWM after {secs} s on 10k servers{env_note} (VmRSS at the end)"),
        measured: format!("{:.1} MB ({:.1} MB)", mb(b.hwm), mb(b.rss)),
        target: "< 30 MB".into(),
        met: verdict(b.hwm < 30 * 1024),
    });
    table.push(Row {
        metric: "    same binary on a 1-server instance: VmHWM (VmRSS)".into(),
        measured: format!("{:.1} MB ({:.1} MB)", mb(t.hwm), mb(t.rss)),
        target: "-".into(),
        met: "-".into(),
    });
    table.push(Row {
        metric: "    watcher CPU on 10k servers, interval 1s".into(),
        measured: format!("{:.1}% of one core", 100.0 * b.cpu_s / b.elapsed),
        target: "-".into(),
        met: "-".into(),
    });
}

// ---------------------------------------------------------------------------
// Part 3: detection latency

/// Follows `show events RING -w -n` in a thread; each line with its arrival time.
struct RingFollower {
    rx: mpsc::Receiver<(Instant, String)>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RingFollower {
    fn start(sock: &Path, ring: &str) -> RingFollower {
        let mut s = UnixStream::connect(sock).expect("connect for show events");
        s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        s.write_all(format!("show events {ring} -w -n\n").as_bytes())
            .expect("show events");
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            let mut r = BufReader::new(s);
            let mut line = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match r.read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(_) if line.ends_with(b"\n") => {
                        let _ = tx.send((Instant::now(), String::from_utf8_lossy(&line).into_owned()));
                        line.clear();
                    }
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                    Err(_) => break,
                }
            }
        });
        RingFollower {
            rx,
            stop,
            thread: Some(thread),
        }
    }

    fn drain(&self) {
        for _ in 0..10_000 {
            if self.rx.try_recv().is_err() {
                break;
            }
        }
    }

    /// The arrival time of the first line containing `needle` (waits up to 1 s for it).
    fn find(&self, needle: &str) -> Option<Instant> {
        let deadline = Instant::now() + Duration::from_secs(1);
        for _ in 0..10_000 {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.rx.recv_timeout(left) {
                Ok((at, l)) if l.contains(needle) => return Some(at),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

impl Drop for RingFollower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Trial {
    /// listener closed → webhook received `server_down`
    total: Duration,
    /// listener closed → HAProxy logged `Server be/s1 is DOWN` (read from the ring here)
    haproxy: Option<Duration>,
}

const INTER_MS: u64 = 500;
const FALL: u64 = 2;

fn small_config(sock: &Path, fe_port: u16, port: u16) -> String {
    format!(
        "global\n    stats socket {} mode 600 level admin\n    stats timeout 2m\n    log ring@hawatch local0\n\n\
         ring hawatch\n    description \"state changes for hawatch\"\n    format rfc3164\n    maxlen 1200\n    size 65536\n\n\
         defaults\n    mode http\n    log global\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n    timeout check 1s\n\n\
         frontend fe\n    bind 127.0.0.1:{fe_port}\n    default_backend be\n\n\
         backend be\n    option httpchk GET /health\n    server s1 127.0.0.1:{port} check inter {INTER_MS}ms fall {FALL} rise 1\n",
        sock.display()
    )
}

/// What the latency trials run against.
struct Rig<'a> {
    dir: &'a Path,
    h: &'a Haproxy,
    listener: &'a mut HttpListener,
    hook: &'a Hook,
    follower: &'a RingFollower,
}

fn run_trials(mode: &str, ring: bool, interval: &str, rig: &mut Rig, trials: usize) -> Vec<Trial> {
    let (dir, h, hook, follower) = (rig.dir, rig.h, rig.hook, rig.follower);
    let cfg = dir.join(format!("{mode}.toml"));
    fs::write(
        &cfg,
        format!(
            "[watch]\ninterval = \"{interval}\"\ntimeout = \"2s\"\nstore = \"{}\"\n\n[[haproxy]]\nname = \"small\"\nsocket = \"{}\"\n{}\n[[sink]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n",
            dir.join(format!("{mode}.db")).display(),
            h.sock.display(),
            if ring { "ring = \"hawatch\"\n" } else { "" },
            hook.url()
        ),
    )
    .expect("write config");
    let err_p = dir.join(format!("{mode}.stderr"));
    let mut rng = rand::thread_rng();
    let mut out = Vec::new();
    let mut bad_exits = 0;
    let wait = Duration::from_secs(15);
    for i in 0..trials {
        // A fresh watcher per trial (same store, so it resumes from the remembered
        // state): its poll schedule then has a random phase against HAProxy's check
        // timer. With one long-running watcher the two clocks stay locked and every
        // trial sees the same poll delay after HAProxy's DOWN.
        let log = File::options().create(true).append(true).open(&err_p).expect("stderr");
        let mut w = Proc::spawn(
            &format!("hawatch ({mode})"),
            Command::new(HAWATCH)
                .args(["watch", "--config"])
                .arg(&cfg)
                .stdout(Stdio::null())
                .stderr(log),
        );
        // Its first poll (and ring connection) happens at start; then a random delay.
        thread::sleep(Duration::from_millis(700 + rng.gen_range(0..1000)));
        if let Some(st) = w.exited() {
            panic!("hawatch ({mode}) exited ({st}):\n{}", read_lossy(&err_p));
        }
        hook.drain();
        follower.drain();
        let t0 = rig.listener.close();
        let got = hook.wait("server_down", "be", "s1", wait);
        let hap = follower
            .find("Server be/s1 is DOWN")
            .map(|t| t.saturating_duration_since(t0));
        rig.listener.reopen();
        match got {
            Some(t1) => {
                let t = Trial {
                    total: t1 - t0,
                    haproxy: hap,
                };
                println!(
                    "{mode} trial {i}: server_down after {:.0} ms (HAProxy marked it DOWN after {} ms)",
                    ms(t.total),
                    t.haproxy.map(|d| format!("{:.0}", ms(d))).unwrap_or_else(|| "?".into())
                );
                out.push(t);
            }
            None => println!("{mode} trial {i}: no server_down within {wait:?}"),
        }
        // Back to a known state: hawatch has seen (and stored) the server UP again.
        if hook.wait("server_up", "be", "s1", wait).is_none() {
            println!("{mode} trial {i}: no server_up within {wait:?}");
        }
        let st = w.stop();
        bad_exits += usize::from(!st.is_some_and(|s| s.success()));
    }
    let log = read_lossy(&err_p);
    let warns: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    if !warns.is_empty() || bad_exits > 0 {
        println!("hawatch ({mode}): {bad_exits} unclean exits; warnings: {warns:?}");
    }
    out
}

fn report_latency(mode: &str, trials: &[Trial], interval_ms: f64, ring: bool, table: &mut Vec<Row>) {
    let fall_ms = (FALL * INTER_MS) as f64;
    let total: Vec<f64> = trials.iter().map(|t| ms(t.total)).collect();
    let past_fall: Vec<f64> = total.iter().map(|t| t - fall_ms).collect();
    let hap: Vec<f64> = trials.iter().filter_map(|t| t.haproxy.map(ms)).collect();
    let ours: Vec<f64> = trials
        .iter()
        .filter_map(|t| t.haproxy.map(|h| ms(t.total) - ms(h)))
        .collect();
    println!(
        "\n## latency, {mode}: {} trials (fall {FALL} x inter {INTER_MS}ms = {fall_ms} ms)",
        trials.len()
    );
    println!("| ms | min | p50 | p90 | max |");
    println!("|---|---|---|---|---|");
    for (name, xs) in [
        ("listener closed → webhook received server_down", &total),
        ("  minus fall × inter", &past_fall),
        ("  HAProxy: closed → `is DOWN` logged", &hap),
        ("  hawatch: `is DOWN` logged → webhook received", &ours),
    ] {
        let s = summary(xs);
        println!("| {name} | {:.0} | {:.0} | {:.0} | {:.0} |", s.min, s.p50, s.p90, s.max);
    }
    let (t, p) = (summary(&total), summary(&past_fall));
    if ring {
        table.push(Row {
            metric: "(d) ring: close → webhook, minus fall×inter (1000 ms), p50 / p90 / max".into(),
            measured: format!("{:.0} / {:.0} / {:.0} ms", p.p50, p.p90, p.max),
            target: "< 300 ms".into(),
            met: format!("{} (max: {})", verdict(p.p50 < 300.0), verdict(p.max < 300.0)),
        });
    } else {
        table.push(Row {
            metric: "(d) polling 1s: close → webhook, p50 / p90 / max".into(),
            measured: format!("{:.0} / {:.0} / {:.0} ms", t.p50, t.p90, t.max),
            target: format!("p50 <= interval + 0.5 s = {:.0} ms", interval_ms + 500.0),
            met: verdict(t.p50 <= interval_ms + 500.0),
        });
    }
    table.push(Row {
        metric: format!("    {mode}: hawatch's own share (ring line → webhook), p50 / max"),
        measured: {
            let o = summary(&ours);
            format!("{:.0} / {:.0} ms", o.p50, o.max)
        },
        target: "-".into(),
        met: "-".into(),
    });
}

fn part_latency(dir: &Path, trials: usize, table: &mut Vec<Row>) {
    let mut listener = HttpListener::start();
    let hook = Hook::start();
    let sock = dir.join("small.sock");
    let h = Haproxy::start(
        dir,
        "haproxy-small",
        &small_config(&sock, free_port(), listener.port()),
        sock,
    );
    let mut up = false;
    for _ in 0..100 {
        let stat = h.cmd("show stat");
        if stat
            .lines()
            .any(|l| l.starts_with("be,s1,") && l.contains(",UP,") && l.contains("L7OK"))
        {
            up = true;
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(up, "be/s1 never came UP:\n{}", read_lossy(&h.stderr));
    let follower = RingFollower::start(&h.sock, "hawatch");
    println!(
        "\nsmall haproxy pid {}, check listener 127.0.0.1:{}, webhook {}",
        h.proc.pid(),
        listener.port(),
        hook.url()
    );
    let mut rig = Rig {
        dir,
        h: &h,
        listener: &mut listener,
        hook: &hook,
        follower: &follower,
    };
    let polling = run_trials("polling", false, "1s", &mut rig, trials);
    let ring = run_trials("ring", true, "5s", &mut rig, trials);
    report_latency("polling (interval 1s, no ring)", &polling, 1000.0, false, table);
    report_latency("ring (interval 5s as safety net)", &ring, 5000.0, true, table);
    drop(follower);
    drop(h);
}

// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Part `metrics`: /metrics of hawatch, the Go haproxy_exporter and HAProxy's
// own promex, on the same big HAProxy, interleaved.

fn exporter_bin() -> PathBuf {
    std::env::var_os("HAWATCH_BENCH_EXPORTER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus-haproxy-exporter"))
}

/// `GET path` over HTTP/1.0 (the server closes when done): (body bytes
/// after the headers, total time to the last byte).
fn http_get(port: u16, path: &str, gzip: bool) -> io::Result<(usize, Duration)> {
    let t = Instant::now();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let enc = if gzip { "Accept-Encoding: gzip\r\n" } else { "" };
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{enc}\r\n")?;
    let mut buf = Vec::with_capacity(1 << 20);
    s.read_to_end(&mut buf)?;
    let took = t.elapsed();
    let head = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("no HTTP header"))?;
    if !buf.starts_with(b"HTTP/1.") || !buf[..head].windows(5).any(|w| w == b" 200 ") {
        return Err(io::Error::other(format!(
            "not 200: {}",
            String::from_utf8_lossy(&buf[..head.min(200)])
        )));
    }
    Ok((buf.len() - head - 4, took))
}

fn wait_http(port: u16, path: &str, p: &mut Proc, what: &str) {
    for _ in 0..300 {
        if let Some(st) = p.exited() {
            panic!("{what} exited ({st})");
        }
        if http_get(port, path, false).is_ok() {
            return;
        }
        thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not answer on 127.0.0.1:{port}{path} within 30 s");
}

fn part_metrics(big: &Big, dir: &Path, iters: usize, table: &mut Vec<Row>) {
    let sock = &big.haproxy.sock;
    // The Go exporter, reading the same socket.
    let exp_port = free_port();
    let mut exporter = Proc::spawn(
        "haproxy_exporter",
        Command::new(exporter_bin())
            .arg(format!("--haproxy.scrape-uri=unix:{}", sock.display()))
            .arg("--haproxy.timeout=30s")
            .arg(format!("--web.listen-address=127.0.0.1:{exp_port}"))
            .stdout(Stdio::null())
            .stderr(File::create(dir.join("exporter.stderr")).expect("stderr file")),
    );
    wait_http(exp_port, "/", &mut exporter, "prometheus-haproxy-exporter");
    // hawatch watch, polling every 10 s (so its own polls rarely overlap a scrape).
    let port = free_port();
    let cfg = dir.join("metrics.toml");
    fs::write(
        &cfg,
        format!(
            "[watch]\ninterval = \"10s\"\ntimeout = \"30s\"\nstore = \"{}\"\n\n[[haproxy]]\nname = \"big\"\nsocket = \"{}\"\n\n\
             [[sink]]\nname = \"console\"\ntype = \"console\"\n\n[http]\nlisten = \"127.0.0.1:{port}\"\n",
            dir.join("metrics.db").display(),
            sock.display()
        ),
    )
    .expect("write config");
    let mut hw = Proc::spawn(
        "hawatch (metrics)",
        Command::new(HAWATCH)
            .args(["watch", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(File::create(dir.join("metrics.stderr")).expect("stderr file")),
    );
    wait_http(port, "/healthz", &mut hw, "hawatch");
    let (series, _) = {
        let (n, _) = http_get(port, "/metrics", false).expect("hawatch /metrics");
        (n, ())
    };
    let mut text = Vec::new();
    {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").expect("write");
        s.read_to_end(&mut text).expect("read");
    }
    let lines = String::from_utf8_lossy(&text)
        .lines()
        .filter(|l| l.starts_with("haproxy_"))
        .count();
    println!(
        "\n## metrics\nhawatch /metrics: {lines} haproxy_* series, {:.1} MB",
        series as f64 / 1e6
    );
    let mut buf = Vec::new();
    let kinds = [
        "raw `show stat` dump",
        "HAProxy promex /metrics",
        "haproxy_exporter /metrics",
        "hawatch /metrics",
        "haproxy_exporter /metrics (gzip)",
        "hawatch /metrics (gzip)",
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    let mut sizes = vec![0usize; kinds.len()];
    for _ in 0..iters {
        for (k, t) in times.iter_mut().enumerate() {
            let (n, d) = match k {
                0 => {
                    let t0 = Instant::now();
                    let n = raw_dump(sock, "show stat", &mut buf).expect("dump");
                    (n, t0.elapsed())
                }
                1 => http_get(big.prom_port, "/metrics", false).expect("promex"),
                2 => http_get(exp_port, "/metrics", false).expect("exporter"),
                3 => http_get(port, "/metrics", false).expect("hawatch"),
                4 => http_get(exp_port, "/metrics", true).expect("exporter gzip"),
                _ => http_get(port, "/metrics", true).expect("hawatch gzip"),
            };
            t.push(ms(d));
            sizes[k] = n;
        }
    }
    println!("| scrape ({iters} interleaved rounds) | p50 ms | p90 ms | min ms | max ms | bytes |");
    println!("|---|---|---|---|---|---|");
    let sums: Vec<Summary> = times.iter().map(|t| summary(t)).collect();
    for (k, name) in kinds.iter().enumerate() {
        let x = sums[k];
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            x.p50, x.p90, x.min, x.max, sizes[k]
        );
    }
    let hwm = |pid: u32| proc_status(pid, "VmHWM").unwrap_or(0);
    let rss = |pid: u32| proc_status(pid, "VmRSS").unwrap_or(0);
    let (e_hwm, e_rss, h_hwm, h_rss) = (hwm(exporter.pid()), rss(exporter.pid()), hwm(hw.pid()), rss(hw.pid()));
    println!(
        "RSS after the rounds: haproxy_exporter {:.1} MB (peak {:.1}), hawatch {:.1} MB (peak {:.1})",
        mb(e_rss),
        mb(e_hwm),
        mb(h_rss),
        mb(h_hwm)
    );
    let ratio = sums[3].p50 / sums[2].p50;
    table.push(Row {
        metric: format!("/metrics p50 vs haproxy_exporter ({lines} series)"),
        measured: format!("{:.1} vs {:.1} ms = {ratio:.3}", sums[3].p50, sums[2].p50),
        target: "≤ 0.2".into(),
        met: verdict(ratio <= 0.2),
    });
    let ratio = sums[3].p50 / sums[1].p50;
    table.push(Row {
        metric: "/metrics p50 vs HAProxy promex".into(),
        measured: format!("{:.1} vs {:.1} ms = {ratio:.3}", sums[3].p50, sums[1].p50),
        target: "≤ 1".into(),
        met: verdict(ratio <= 1.0),
    });
    let ratio = sums[5].p50 / sums[4].p50;
    table.push(Row {
        metric: "/metrics gzip p50 vs haproxy_exporter gzip".into(),
        measured: format!("{:.1} vs {:.1} ms = {ratio:.3}", sums[5].p50, sums[4].p50),
        target: "(reported)".into(),
        met: "-".into(),
    });
    let ratio = h_hwm as f64 / e_hwm.max(1) as f64;
    table.push(Row {
        metric: "peak RSS (VmHWM) vs haproxy_exporter".into(),
        measured: format!("{:.1} vs {:.1} MB = {ratio:.3}", mb(h_hwm), mb(e_hwm)),
        target: "≤ 0.25".into(),
        met: verdict(ratio <= 0.25),
    });
    hw.stop();
    exporter.stop();
}

// ---------------------------------------------------------------------------
// Part `check`: `hawatch check` (keepalived's vrrp_script) per call, against
// the seed's `killall -0 haproxy`, on the same small HAProxy.

fn part_check(dir: &Path, iters: usize, table: &mut Vec<Row>) {
    let listener = HttpListener::start();
    let sock = dir.join("check.sock");
    let fe_port = free_port();
    let h = Haproxy::start(
        dir,
        "haproxy-check",
        &small_config(&sock, fe_port, listener.port()),
        sock.clone(),
    );
    let cfg = dir.join("check.toml");
    // Everything `hawatch check` can look at but a pid file (HAProxy runs in the foreground here).
    fs::write(
        &cfg,
        format!(
            "[check]\nsocket = \"{}\"\ntimeout = \"500ms\"\nmaint_file = \"{}\"\nmin_up = {{ be = 1 }}\n\
             binds = [\"127.0.0.1:{fe_port}\"]\ngateway = \"127.0.0.1\"\n",
            sock.display(),
            dir.join("down").display()
        ),
    )
    .expect("write check.toml");
    // Wait (bounded) until the server settled UP, so the check passes.
    let mut ok = false;
    for _ in 0..100 {
        if Command::new(HAWATCH)
            .args(["check", "--config"])
            .arg(&cfg)
            .status()
            .is_ok_and(|s| s.success())
        {
            ok = true;
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(ok, "hawatch check never passed:\n{}", h.cmd("show stat"));
    let killall = Path::new("/usr/bin/killall");
    let have_killall = killall.exists();
    if !have_killall {
        println!("killall not found (Debian package psmisc): measuring hawatch check alone");
    }
    let time = |cmd: &mut Command| -> (f64, bool) {
        let t = Instant::now();
        let ok = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        (ms(t.elapsed()), ok)
    };
    let (mut hw, mut ka) = (Vec::new(), Vec::new());
    let mut failures = 0;
    for _ in 0..iters {
        let (d, ok) = time(Command::new(HAWATCH).args(["check", "--config"]).arg(&cfg));
        hw.push(d);
        failures += usize::from(!ok);
        if have_killall {
            let (d, ok) = time(Command::new(killall).args(["-0", "haproxy"]));
            ka.push(d);
            failures += usize::from(!ok);
        }
    }
    let (a, b) = (summary(&hw), summary(&ka));
    println!("\n## check ({iters} interleaved calls each; wall time of a whole call: spawn, run, exit)");
    println!("| command | p50 ms | p90 ms | min | max |\n|---|---|---|---|---|");
    println!(
        "| hawatch check (show stat over the socket, min_up, maint_file, a bind, ICMP echo to a gateway) | {:.2} | {:.2} | {:.2} | {:.2} |",
        a.p50, a.p90, a.min, a.max
    );
    if have_killall {
        println!(
            "| killall -0 haproxy (scans /proc) | {:.2} | {:.2} | {:.2} | {:.2} |",
            b.p50, b.p90, b.min, b.max
        );
        table.push(Row {
            metric: "`hawatch check` per call vs `killall -0 haproxy`".into(),
            measured: format!("{:.2} vs {:.2} ms = {:.2}", a.p50, b.p50, a.p50 / b.p50),
            target: "≤ 2 (issue #6)".into(),
            met: if failures == 0 {
                verdict(a.p50 <= 2.0 * b.p50)
            } else {
                format!("NO: {failures} failed calls")
            },
        });
    }
    drop(h);
    drop(listener);
}

// ---------------------------------------------------------------------------
// Part `outage` (issue 12): every server of the big instance goes down in one
// poll; the watcher's peak RSS across that poll and the deliveries that follow.

/// What the two receivers were sent.
#[derive(Default)]
struct Sunk {
    hook_posts: AtomicU64,
    hook_events: AtomicU64,
    hook_notices: AtomicU64,
    hook_max_body: AtomicU64,
    chat_posts: AtomicU64,
    chat_max_body: AtomicU64,
    /// Chat bodies over Feishu's 20,000-byte limit, or not a card/text.
    chat_bad: AtomicU64,
}

/// A webhook receiver (`/hook`, answers 200) and a Feishu-like bot
/// (`/open-apis/bot/v2/hook/bench`, answers `{"code":0}`) on one port.
fn start_receivers() -> (u16, Arc<Sunk>, tokio::sync::oneshot::Sender<()>) {
    async fn hook(axum::extract::State(s): axum::extract::State<Arc<Sunk>>, body: axum::body::Bytes) -> &'static str {
        s.hook_posts.fetch_add(1, Ordering::Relaxed);
        s.hook_max_body.fetch_max(body.len() as u64, Ordering::Relaxed);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let n = |k: &str| v[k].as_array().map_or(0, Vec::len) as u64;
        s.hook_events.fetch_add(n("events"), Ordering::Relaxed);
        s.hook_notices.fetch_add(n("notices"), Ordering::Relaxed);
        "ok"
    }
    async fn chat(
        axum::extract::State(s): axum::extract::State<Arc<Sunk>>,
        body: axum::body::Bytes,
    ) -> ([(&'static str, &'static str); 1], &'static str) {
        s.chat_posts.fetch_add(1, Ordering::Relaxed);
        s.chat_max_body.fetch_max(body.len() as u64, Ordering::Relaxed);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if body.len() > 20_000 || !matches!(v["msg_type"].as_str(), Some("interactive" | "text")) {
            s.chat_bad.fetch_add(1, Ordering::Relaxed);
        }
        (
            [("content-type", "application/json")],
            r#"{"code":0,"msg":"success","data":{}}"#,
        )
    }
    let sunk = Arc::new(Sunk::default());
    let l = StdTcpListener::bind("127.0.0.1:0").expect("bind receivers");
    l.set_nonblocking(true).expect("nonblocking");
    let port = l.local_addr().expect("addr").port();
    let (sd_tx, sd_rx) = tokio::sync::oneshot::channel::<()>();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .route("/open-apis/bot/v2/hook/bench", axum::routing::post(chat))
        // Accept any size (axum's default is 2 MB): the size is what is reported.
        .layer(axum::extract::DefaultBodyLimit::max(256 << 20))
        .with_state(sunk.clone());
    support_rt().spawn(async move {
        let Ok(l) = tokio::net::TcpListener::from_std(l) else {
            return;
        };
        let _ = axum::serve(l, app)
            .with_graceful_shutdown(async {
                let _ = sd_rx.await;
            })
            .await;
    });
    (port, sunk, sd_tx)
}

/// Sends `set server B/S <action>` (`health down`, `state maint`, `health up`,
/// `state ready`) for every server of the big instance over one CLI connection
/// in prompt mode; returns the time it took.
fn set_all_servers(sock: &Path, backends: usize, servers: usize, action: &str) -> Duration {
    let mut cmds = String::with_capacity(backends * servers * 48);
    cmds.push_str("prompt\n");
    for b in 0..backends {
        for s in 0..servers {
            let _ = writeln!(cmds, "set server be_{b:04}/srv{s:02} {action}");
        }
    }
    cmds.push_str("quit\n");
    let t = Instant::now();
    let mut w = UnixStream::connect(sock).expect("connect to the stats socket");
    w.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    w.set_write_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let mut r = w.try_clone().expect("clone socket");
    let reader = thread::spawn(move || {
        let mut out = Vec::new();
        let _ = r.read_to_end(&mut out);
        out
    });
    w.write_all(cmds.as_bytes()).expect("write commands");
    let out = reader.join().expect("reader");
    let took = t.elapsed();
    let text = String::from_utf8_lossy(&out);
    let errors: Vec<&str> = text
        .lines()
        .map(|l| l.trim_start_matches("> ").trim())
        .filter(|l| !l.is_empty())
        .take(3)
        .collect();
    assert!(errors.is_empty(), "HAProxy refused some commands: {errors:?}");
    took
}

/// What the store holds past event `seq0`: per kind (events, distinct poll
/// times), and per sink (outbox rows, undelivered, notices in them), dead letters.
struct StoreView {
    kinds: Vec<(String, i64, i64)>,
    sinks: Vec<(String, i64, i64, i64)>,
    dead: i64,
}

fn store_view(db: &Path, seq0: i64, row0: i64) -> rusqlite::Result<StoreView> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    c.busy_timeout(Duration::from_secs(10))?;
    let mut q = c.prepare(
        "SELECT kind, count(*), count(DISTINCT time) FROM events WHERE seq > ?1 GROUP BY kind ORDER BY kind",
    )?;
    let kinds = q
        .query_map([seq0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut q = c.prepare(
        "SELECT sink, count(*), coalesce(sum(delivered_at IS NULL), 0), coalesce(sum(json_array_length(notices)), 0)
         FROM outbox WHERE id > ?1 GROUP BY sink ORDER BY sink",
    )?;
    let sinks = q
        .query_map([row0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let dead = c.query_row("SELECT count(*) FROM dead_letters", [], |r| r.get(0))?;
    Ok(StoreView { kinds, sinks, dead })
}

fn store_marks(db: &Path) -> (i64, i64) {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open store");
    c.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
    let q = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).expect("query store");
    (
        q("SELECT coalesce(max(seq), 0) FROM events"),
        q("SELECT coalesce(max(id), 0) FROM outbox"),
    )
}

fn part_outage(big: &mut Big, dir: &Path, how: &str, max_secs: u64, table: &mut Vec<Row>) {
    let (port, sunk, receivers) = start_receivers();
    let db = dir.join("outage.db");
    let cfg = dir.join("outage.toml");
    fs::write(
        &cfg,
        format!(
            "[watch]\ninterval = \"2s\"\ntimeout = \"10s\"\nstore = \"{}\"\n\n[[haproxy]]\nname = \"big\"\nsocket = \"{}\"\n\n\
             [[sink]]\nname = \"webhook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\n\n\
             [[sink]]\nname = \"feishu\"\ntype = \"feishu\"\nurl = \"http://127.0.0.1:{port}/open-apis/bot/v2/hook/bench\"\n\n\
             [http]\nlisten = \"\"\n",
            db.display(),
            big.haproxy.sock.display()
        ),
    )
    .expect("write config");
    let err_p = dir.join("outage.stderr");
    // HAWATCH_BENCH_OUTAGE_WRAP="heaptrack -o /tmp/ht": run the watcher under a
    // profiler (its VmHWM and the poll sync then mean nothing).
    let wrap = std::env::var("HAWATCH_BENCH_OUTAGE_WRAP").unwrap_or_default();
    let mut wrap = wrap.split_whitespace();
    let mut cmd = match wrap.next() {
        Some(w) => {
            let mut c = Command::new(w);
            c.args(wrap).arg(HAWATCH);
            c
        }
        None => Command::new(HAWATCH),
    };
    let mut w = Proc::spawn(
        "hawatch (outage)",
        cmd.args(["watch", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(File::create(&err_p).expect("stderr file")),
    );
    let pid = w.pid();
    // The baseline (bounded: 30 s), then a few quiet polls.
    let mut ready = false;
    for _ in 0..300 {
        if let Some(st) = w.exited() {
            panic!("hawatch (outage) exited ({st}):\n{}", read_lossy(&err_p));
        }
        if read_lossy(&err_p).contains("baseline recorded") {
            ready = true;
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(ready, "no baseline within 30 s:\n{}", read_lossy(&err_p));
    thread::sleep(Duration::from_secs(5));
    let (seq0, row0) = store_marks(&db);
    let steady_hwm = proc_status(pid, "VmHWM").unwrap_or(0);
    let steady_rss = proc_status(pid, "VmRSS").unwrap_or(0);
    println!(
        "\n## outage: hawatch watch (pid {pid}, interval 2s, webhook + feishu-like sinks, default policy); before: VmRSS {:.1} MB, VmHWM {:.1} MB, {seq0} events stored",
        mb(steady_rss),
        mb(steady_hwm)
    );
    // The outage. Not synchronised with the watcher's polls (every 2 s; the
    // commands take ~0.1-0.2 s): the table says in how many polls the events
    // came, and a run where they were split is not counted as met.
    if how == "down" {
        for l in big.listeners.iter_mut() {
            l.close();
        }
    }
    let t0 = Instant::now();
    let down = if how == "maint" { "state maint" } else { "health down" };
    let took = set_all_servers(&big.haproxy.sock, big.backends, big.servers, down);
    println!(
        "{} servers: `set server … {down}` sent in {:.0} ms{}",
        big.backends * big.servers,
        ms(took),
        if how == "down" {
            "; the check listeners closed first"
        } else {
            ""
        }
    );
    let out = follow_phase("outage", &mut w, &err_p, &db, (seq0, row0), t0, max_secs, &sunk);
    // The recovery: every server back (listeners reopened first, so the
    // checks that follow pass), measured the same way. VmHWM is reset first
    // (`5` to /proc/PID/clear_refs) so it is the recovery's own peak.
    let (seq1, row1) = store_marks(&db);
    let reset = fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    if how == "down" {
        for l in big.listeners.iter_mut() {
            l.reopen();
        }
    }
    let up = if how == "maint" { "state ready" } else { "health up" };
    let t1 = Instant::now();
    let took = set_all_servers(&big.haproxy.sock, big.backends, big.servers, up);
    println!(
        "\n## recovery: {} servers: `set server … {up}` sent in {:.0} ms{}; VmHWM {}",
        big.backends * big.servers,
        ms(took),
        if how == "down" {
            "; the check listeners reopened first"
        } else {
            ""
        },
        if reset {
            "reset first"
        } else {
            "NOT reset (clear_refs refused): it includes the outage"
        }
    );
    let rec = follow_phase("recovery", &mut w, &err_p, &db, (seq1, row1), t1, max_secs, &sunk);
    w.stop();
    let _ = receivers.send(());
    let of = |v: &StoreView, kind: &str| v.kinds.iter().find(|k| k.0 == kind).map_or((0, 0), |k| (k.1, k.2));
    let server_kind = if how == "maint" { "server_maint" } else { "server_down" };
    let (srv, srv_polls) = of(&out.view, server_kind);
    let (be, be_polls) = of(&out.view, "backend_down");
    table.push(Row {
        metric: format!("outage: {server_kind} + backend_down events stored (polls they came in)"),
        measured: format!("{srv} ({srv_polls}) + {be} ({be_polls})"),
        target: "~10,000 + ~1,000 in one poll".into(),
        met: verdict(srv + be >= 10_000 && srv_polls == 1 && be_polls == 1 && out.done),
    });
    table.push(Row {
        metric: "outage: watcher VmHWM across the outage poll and the deliveries (before it)".into(),
        measured: format!("{:.1} MB ({:.1} MB)", mb(out.hwm), mb(steady_hwm)),
        target: "≤ 64 MB".into(),
        met: verdict(out.hwm <= 64 * 1024 && out.done),
    });
    let up_kind = if how == "maint" { "server_ready" } else { "server_up" };
    let (srv, srv_polls) = of(&rec.view, up_kind);
    let (be, be_polls) = of(&rec.view, "backend_up");
    table.push(Row {
        metric: format!("recovery: {up_kind} + backend_up events stored (polls they came in)"),
        measured: format!("{srv} ({srv_polls}) + {be} ({be_polls})"),
        target: "~10,000 + ~1,000".into(),
        met: verdict(srv + be >= 10_000 && rec.done),
    });
    table.push(Row {
        metric: "recovery: watcher VmHWM across the recovery poll(s) and the deliveries".into(),
        measured: format!(
            "{:.1} MB{}",
            mb(rec.hwm),
            if reset { "" } else { " (not reset: includes the outage)" }
        ),
        target: "≤ 64 MB".into(),
        met: verdict(rec.hwm <= 64 * 1024 && rec.done),
    });
}

/// What one phase of the `outage` part measured.
struct Phase {
    hwm: u64,
    view: StoreView,
    done: bool,
}

/// Follows the watcher after a mass change sent at `t0` until everything is
/// delivered and nothing new came for 6 s (bounded by `max_secs`); prints
/// what the store holds past `marks`, what the receivers got so far, and
/// the watcher's memory.
#[allow(clippy::too_many_arguments)]
fn follow_phase(
    name: &str,
    w: &mut Proc,
    err_p: &Path,
    db: &Path,
    (seq0, row0): (i64, i64),
    t0: Instant,
    max_secs: u64,
    sunk: &Sunk,
) -> Phase {
    let pid = w.pid();
    let mut rss_max = (0u64, 0.0f64);
    let mut timeline: Vec<(f64, u64)> = Vec::new();
    let mut last_total = -1;
    let mut stable_since = Instant::now();
    let mut view = None;
    let mut done = false;
    for i in 0..(max_secs * 20) {
        thread::sleep(Duration::from_millis(50));
        if let Some(st) = w.exited() {
            panic!("hawatch ({name}) exited ({st}):\n{}", read_lossy(err_p));
        }
        let at = t0.elapsed().as_secs_f64();
        if let Some(r) = proc_status(pid, "VmRSS") {
            if r > rss_max.0 {
                rss_max = (r, at);
            }
            if timeline.last().is_none_or(|(t, _)| at - t >= 1.0) {
                timeline.push((at, r));
            }
        }
        if i % 10 != 9 {
            continue;
        }
        let Ok(v) = store_view(db, seq0, row0) else { continue };
        let total: i64 = v.kinds.iter().map(|k| k.1).sum();
        let pending: i64 = v.sinks.iter().map(|s| s.2).sum();
        if total != last_total {
            last_total = total;
            stable_since = Instant::now();
        }
        let finished =
            total > 0 && pending == 0 && v.sinks.len() == 2 && stable_since.elapsed() > Duration::from_secs(6);
        view = Some(v);
        if finished && at > 10.0 {
            done = true;
            break;
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let hwm = proc_status(pid, "VmHWM").unwrap_or(0);
    let (rss_end, anon, file) = (
        proc_status(pid, "VmRSS").unwrap_or(0),
        proc_status(pid, "RssAnon").unwrap_or(0),
        proc_status(pid, "RssFile").unwrap_or(0),
    );
    let view = view.unwrap_or(StoreView {
        kinds: Vec::new(),
        sinks: Vec::new(),
        dead: 0,
    });
    println!("events stored since the {name} (kind: events, in how many polls):");
    for (k, n, polls) in &view.kinds {
        println!("  {k}: {n} in {polls} poll(s)");
    }
    println!(
        "outbox rows since the {name} (sink: rows, undelivered, notices), dead letters {}:",
        view.dead
    );
    for (s, rows, pending, notices) in &view.sinks {
        println!("  {s}: {rows} rows, {pending} undelivered, {notices} notices");
    }
    let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "received so far: webhook {} requests ({} events, {} notices, largest body {} B); feishu {} messages (largest body {} B, {} over 20,000 B or malformed)",
        ld(&sunk.hook_posts),
        ld(&sunk.hook_events),
        ld(&sunk.hook_notices),
        ld(&sunk.hook_max_body),
        ld(&sunk.chat_posts),
        ld(&sunk.chat_max_body),
        ld(&sunk.chat_bad)
    );
    println!(
        "watcher: VmHWM {:.1} MB; VmRSS sampled every 50 ms peaked at {:.1} MB {:.1} s after the {name}; at the end VmRSS {:.1} MB (RssAnon {:.1} + RssFile {:.1}); {}",
        mb(hwm),
        mb(rss_max.0),
        rss_max.1,
        mb(rss_end),
        mb(anon),
        mb(file),
        if done {
            format!("everything delivered, {elapsed:.0} s after the {name}")
        } else {
            format!("NOT finished after {elapsed:.0} s")
        }
    );
    println!(
        "VmRSS each second (s: MB): {}",
        timeline
            .iter()
            .map(|(t, r)| format!("{t:.0}: {:.0}", mb(*r)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Phase { hwm, view, done }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("side_by_side: skipped (run it with `cargo bench --bench side_by_side`)");
        return;
    }
    let opts = Opts::parse(&args);
    assert!(
        haproxy_bin().exists(),
        "{} not found (set HAWATCH_BENCH_HAPROXY)",
        haproxy_bin().display()
    );
    let dir = tempdir("hawatch-bench-");
    let started = Instant::now();
    println!("# hawatch side-by-side\n{}", machine());
    let mut table = Vec::new();
    if opts.poll || opts.rss || opts.metrics || opts.outage {
        let mut big = start_big(dir.path(), opts.backends, opts.servers);
        if opts.poll {
            part_poll(&big, dir.path(), opts.iters, &mut table);
        }
        if opts.rss {
            part_rss(&big, dir.path(), opts.rss_secs, &opts.rss_env, &mut table);
        }
        if opts.metrics {
            part_metrics(&big, dir.path(), opts.metrics_iters, &mut table);
        }
        // Last: it takes every server of the big instance down.
        if opts.outage {
            part_outage(&mut big, dir.path(), &opts.outage_how, opts.outage_secs, &mut table);
        }
    }
    if opts.latency {
        part_latency(dir.path(), opts.trials, &mut table);
    }
    if opts.check {
        part_check(dir.path(), 200, &mut table);
    }
    println!("\n## results ({:.0} s)", started.elapsed().as_secs_f64());
    println!("| metric | measured | target | met |");
    println!("|---|---|---|---|");
    for r in &table {
        println!("| {} | {} | {} | {} |", r.metric, r.measured, r.target, r.met);
    }
}
