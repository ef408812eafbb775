//! Part `outage` (issue 12): every server of the big instance goes down in one
//! poll; the watcher's peak RSS across that poll and the deliveries that follow,
//! then the same for the recovery.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpListener as StdTcpListener;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::instances::Big;
use super::servers::support_rt;
use super::{mb, ms, proc_status};
use crate::common::{hawatch, read_lossy, verdict, Proc, Row};

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

pub(super) fn part_outage(big: &mut Big, dir: &Path, how: &str, max_secs: u64, table: &mut Vec<Row>) {
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
            c.args(wrap).arg(hawatch());
            c
        }
        None => Command::new(hawatch()),
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
    say!(
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
    say!(
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
    say!(
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
    say!("events stored since the {name} (kind: events, in how many polls):");
    for (k, n, polls) in &view.kinds {
        say!("  {k}: {n} in {polls} poll(s)");
    }
    say!(
        "outbox rows since the {name} (sink: rows, undelivered, notices), dead letters {}:",
        view.dead
    );
    for (s, rows, pending, notices) in &view.sinks {
        say!("  {s}: {rows} rows, {pending} undelivered, {notices} notices");
    }
    let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
    say!(
        "received so far: webhook {} requests ({} events, {} notices, largest body {} B); feishu {} messages (largest body {} B, {} over 20,000 B or malformed)",
        ld(&sunk.hook_posts),
        ld(&sunk.hook_events),
        ld(&sunk.hook_notices),
        ld(&sunk.hook_max_body),
        ld(&sunk.chat_posts),
        ld(&sunk.chat_max_body),
        ld(&sunk.chat_bad)
    );
    say!(
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
    say!(
        "VmRSS each second (s: MB): {}",
        timeline
            .iter()
            .map(|(t, r)| format!("{t:.0}: {:.0}", mb(*r)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Phase { hwm, view, done }
}
