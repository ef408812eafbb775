//! Part `fast`: the bare accept-write-close loop (this program again, as a child)
//! and the real `hawatch agent`, interleaved, closed loop and paced.

use std::fs::{self, File};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use testkit::reserved_port;

use super::client::{closed_loop, exchange, paced, wait_up, Closed, Outcome, Sample, Tally};
use super::{cpu_ticks, median, pct, sorted, threads_of, time_wait, us, App, Args, BARE_ARG};
use crate::common::{hawatch, read_lossy, row, verdict, Proc, Row};

/// Accept → write "up\n" → close, single-threaded, std. Exits after `max_secs` or
/// when its parent is gone (checked every second by a watchdog thread), so it can
/// never outlive the benchmark.
pub(crate) fn bare_loop_child(addr: &str, max_secs: u64) {
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
    let port = reserved_port();
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
fn hawatch_has_agent() -> bool {
    Command::new(hawatch())
        .args(["agent", "--help"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The config (the contract of `hawatch agent`).
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
    let port = reserved_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let cfg = dir.join("agent.toml");
    let conf = agent_config(port, app, dir);
    fs::write(&cfg, &conf).expect("write agent config");
    say!("\nhawatch agent config:\n{}", conf.trim_end());
    let err = dir.join("agent.stderr");
    let mut p = Proc::spawn(
        "hawatch agent",
        Command::new(hawatch())
            .args(["agent", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(File::create(&err).expect("stderr file")),
    );
    let took = wait_up(addr, 30, &mut p, &err);
    let mut buf = Vec::new();
    let _ = exchange(addr, Duration::from_secs(5), &mut buf);
    say!(
        "hawatch agent pid {} on {addr}: first `up` after {:.0} ms, replies {:?}, {} threads",
        p.pid(),
        took.as_secs_f64() * 1000.0,
        String::from_utf8_lossy(&buf),
        threads_of(p.pid())
    );
    (p, addr, err)
}
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
    say!(
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

pub(super) fn part_fast(dir: &Path, app: &App, o: &Args, tuned: Option<f64>, table: &mut Vec<Row>) {
    let (mut bare, bare_addr) = start_bare(dir);
    say!(
        "\nbare loop: pid {} on {bare_addr} (this program, {BARE_ARG})",
        bare.pid()
    );
    let mut hw = if hawatch_has_agent() {
        Some(start_hawatch(dir, app))
    } else {
        say!(
            "\n`{} agent` does not exist in this build: hawatch is not measured \
             (the bare loop is).",
            hawatch().display()
        );
        None
    };
    let dur = Duration::from_secs(o.secs);
    // Warm-up: one second each (not recorded).
    let _ = closed_loop(bare_addr, o.threads, o.inflight, Duration::from_secs(1), bare.pid());
    if let Some((p, a, _)) = &hw {
        let _ = closed_loop(*a, o.threads, o.inflight, Duration::from_secs(1), p.pid());
    }
    say!(
        "\n## closed loop: {} client threads × {} connections in flight, {} s per round, {} interleaved rounds",
        o.threads,
        o.inflight,
        o.secs,
        o.rounds
    );
    say!(
        "| round | target | conn/s | server CPU % | server CPU µs/conn | client CPU % (user) | machine busy % (softirq) | outcome | TIME_WAIT after |"
    );
    say!("|---|---|---|---|---|---|---|---|---|");
    let mut bare_rates = Vec::new();
    let mut hw_rates = Vec::new();
    let (mut bare_us, mut hw_us) = (Vec::new(), Vec::new());
    let mut cpu = [(0.0, 0.0), (0.0, 0.0)];
    let mut fast_tally = Tally::default();
    let show = |round: usize, name: &str, r: &Closed| {
        say!(
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

    say!(
        "\n## paced: {}/s for {} s (latency: µs from the start of connect to the reply line)",
        o.rate,
        o.secs
    );
    say!(
        "| target | connections | achieved/s | p50 | p90 | p99 | max | p99 from scheduled start | p99 client lateness | server CPU % | failed |"
    );
    say!("|---|---|---|---|---|---|---|---|---|---|---|");
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
        say!("hawatch agent: exit {st:?}; warnings: {warns:?}");
    }
    bare.stop();
}
