//! Part `latency`, target (d): listener closed → `server_down` webhook, polling
//! and with the ring fast path; HAProxy's own detection read from the same ring.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rand::Rng;
use testkit::reserved_port;

use super::instances::{small_config, Haproxy, FALL, INTER_MS};
use super::servers::{Hook, HttpListener};
use super::{ms, summary};
use crate::common::{hawatch, read_lossy, verdict, Proc, Row};

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
            Command::new(hawatch())
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
                say!(
                    "{mode} trial {i}: server_down after {:.0} ms (HAProxy marked it DOWN after {} ms)",
                    ms(t.total),
                    t.haproxy.map(|d| format!("{:.0}", ms(d))).unwrap_or_else(|| "?".into())
                );
                out.push(t);
            }
            None => say!("{mode} trial {i}: no server_down within {wait:?}"),
        }
        // Back to a known state: hawatch has seen (and stored) the server UP again.
        if hook.wait("server_up", "be", "s1", wait).is_none() {
            say!("{mode} trial {i}: no server_up within {wait:?}");
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
        say!("hawatch ({mode}): {bad_exits} unclean exits; warnings: {warns:?}");
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
    say!(
        "\n## latency, {mode}: {} trials (fall {FALL} x inter {INTER_MS}ms = {fall_ms} ms)",
        trials.len()
    );
    say!("| ms | min | p50 | p90 | max |");
    say!("|---|---|---|---|---|");
    for (name, xs) in [
        ("listener closed → webhook received server_down", &total),
        ("  minus fall × inter", &past_fall),
        ("  HAProxy: closed → `is DOWN` logged", &hap),
        ("  hawatch: `is DOWN` logged → webhook received", &ours),
    ] {
        let s = summary(xs);
        say!("| {name} | {:.0} | {:.0} | {:.0} | {:.0} |", s.min, s.p50, s.p90, s.max);
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

pub(super) fn part_latency(dir: &Path, trials: usize, table: &mut Vec<Row>) {
    let mut listener = HttpListener::start();
    let hook = Hook::start();
    let sock = dir.join("small.sock");
    let h = Haproxy::start(
        dir,
        "haproxy-small",
        &small_config(&sock, reserved_port(), listener.port()),
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
    say!(
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
