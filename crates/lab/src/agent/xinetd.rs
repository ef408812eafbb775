//! Parts `stock` and `tuned`: seed 003's xinetd + bash + curl, as shipped and
//! tuned.

use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use testkit::reserved_port;

use super::client::{closed_loop, paced, wait_up, Outcome, Tally};
use super::{pct, sorted, xinetd_bin, App, Args, CHK_SCRIPT, SEED_APP, XINETD_SERVICE};
use crate::common::{read_lossy, row, verdict, Proc, Row};

pub(super) fn have(cmd: &str, arg: &str) -> bool {
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
/// (crates/lab/fixtures/agent/README.md), plus `extra` lines.
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
    let port = reserved_port();
    let log = dir.join(format!("{name}-xinetd.log"));
    let cfg = dir.join(format!("{name}-xinetd.conf"));
    let conf = format!(
        "defaults\n{{\n    log_type = FILE {}\n}}\n\n{}",
        log.display(),
        xinetd_service(port, &script, extra)
    );
    fs::write(&cfg, &conf).expect("write xinetd config");
    say!("\n{name} xinetd config:\n{}", conf.trim_end());
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
    say!(
        "{name} xinetd pid {} on {addr}: first `up` after {:.0} ms",
        proc.pid(),
        took.as_secs_f64() * 1000.0
    );
    Xinetd { proc, addr, msgs }
}

pub(super) fn part_stock(dir: &Path, app: &App, o: &Args, table: &mut Vec<Row>) {
    let x = start_xinetd(dir, "stock", app, &[]);
    // Let the readiness probe's second pass before the load starts.
    thread::sleep(Duration::from_millis(1500));
    let hits0 = app.hits.load(Ordering::Relaxed);
    say!(
        "\n## stock xinetd: paced at {}/s for {} s ({} client threads)",
        o.stock_rate,
        o.stock_secs,
        32
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
    say!("| second | up | refused | other |");
    say!("|---|---|---|---|");
    for (i, (u, r, x)) in per.iter().enumerate().take(o.stock_secs as usize) {
        say!("| {i} | {u} | {r} | {x} |");
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
    say!(
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
        say!(
            "switched off: {:.2} s → {:.2} s ({:.2} s)",
            a.as_secs_f64(),
            b.as_secs_f64(),
            (*b - *a).as_secs_f64()
        );
    }
    if let Some((a, b)) = end_open {
        say!(
            "switched off: {:.2} s → end of run ({:.2} s so far)",
            a.as_secs_f64(),
            (b - a).as_secs_f64()
        );
    }
    say!("xinetd's messages: {deact} × `{}`", first_deact.trim());
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

pub(super) fn part_tuned(dir: &Path, app: &App, o: &Args, table: &mut Vec<Row>) -> Option<f64> {
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
        say!("\n## tuned xinetd: closed loop, {inflight} connections in flight, {secs} s");
        let hits0 = app.hits.load(Ordering::Relaxed);
        let r = closed_loop(x.addr, 1, inflight, Duration::from_secs(secs), x.proc.pid());
        say!(
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
        say!("tuned xinetd deactivated itself {deact}×!");
    }
    if x.proc.exited().is_some() {
        say!("tuned xinetd exited during the run");
    }
    best
}
