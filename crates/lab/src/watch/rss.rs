//! Part `rss`, target (c): the real `hawatch watch` binary on the big instance and
//! on a one-server one; memory and CPU from /proc.

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use testkit::reserved_port;

use super::instances::{Big, Haproxy};
use super::{mb, proc_status, summary};
use crate::common::{hawatch, read_lossy, verdict, Proc, Row};

/// utime + stime in clock ticks (USER_HZ, 100 on Linux).
pub(super) fn proc_cpu_ticks(pid: u32) -> Option<u64> {
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
fn watch_for(bin: &Path, name: &str, h: &Haproxy, dir: &Path, secs: u64, env: &[(String, String)]) -> Watched {
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
    let mut cmd = Command::new(bin);
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

pub(super) fn part_rss(
    big: &Big,
    dir: &Path,
    secs: u64,
    env: &[(String, String)],
    before: Option<&Path>,
    table: &mut Vec<Row>,
) {
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
            reserved_port(),
            reserved_port()
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
    say!();
    let mut results = Vec::new();
    let mut runs: Vec<(&str, &Path, &Haproxy, usize)> = vec![
        ("big", hawatch(), &big.haproxy, big.backends * big.servers),
        ("tiny", hawatch(), &tiny, 1),
    ];
    if let Some(before) = before {
        runs.push(("big-before", before, &big.haproxy, big.backends * big.servers));
    }
    for (name, bin, h, servers) in runs {
        let w = watch_for(bin, name, h, dir, secs, env);
        say!(
            "## rss: {} watch{env_note} (pid {}, interval 1s) on {servers} server(s) for {:.1} s",
            bin.display(),
            w.pid,
            w.elapsed
        );
        say!(
            "VmRSS {:.1} MB (RssAnon {:.1} MB + RssFile {:.1} MB; sampled every 250 ms: p50 {:.1} MB, max {:.1} MB), VmHWM {:.1} MB, {} threads",
            mb(w.rss),
            mb(w.anon),
            mb(w.file),
            w.rss_p50 / 1024.0,
            mb(w.rss_max),
            mb(w.hwm),
            w.threads
        );
        say!(
            "CPU {:.2} s ({:.1}% of one core); events printed: {} (a failed poll would print instance_unreachable); exit {:?}; warnings/errors logged: {}",
            w.cpu_s,
            100.0 * w.cpu_s / w.elapsed,
            w.events,
            w.exit,
            w.problems.len()
        );
        for p in w.problems.iter().take(5) {
            say!("  {p}");
        }
        results.push(w);
    }
    say!(
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
    if let (Some(o), Some(before)) = (results.get(2), before) {
        table.push(Row {
            metric: format!(
                "    before ({}): VmHWM after {secs} s on 10k servers (VmRSS)",
                before.display()
            ),
            measured: format!("{:.1} MB ({:.1} MB)", mb(o.hwm), mb(o.rss)),
            target: "not below the after row".into(),
            met: verdict(b.hwm <= o.hwm),
        });
    }
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
