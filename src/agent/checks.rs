//! Running one check: http, tcp, exec, file, load. Each call is bounded by
//! the check's `timeout`; what it found becomes an [`Outcome`].

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use haproxy::agent::Reply;
use tokio::io::AsyncReadExt;

use crate::config::{AgentCheck, CheckKind, LoadMetric};
use crate::logic::agent_rules::{load_weight, Outcome};

/// The biggest HTTP body or program output read.
const MAX_READ: usize = 1 << 20;

/// State a check keeps between runs (the CPU counters of the last run).
#[derive(Debug, Default)]
pub(crate) struct Memory {
    cpu: Option<(u64, u64)>,
}

fn outcome(ok: bool, detail: String, started: Instant) -> Outcome {
    Outcome {
        ok,
        detail,
        weight: None,
        flag: None,
        reply: None,
        at: Instant::now(),
        took: started.elapsed(),
    }
}

pub(crate) async fn run(c: &AgentCheck, http: &reqwest::Client, mem: &mut Memory) -> Outcome {
    let started = Instant::now();
    let work = async {
        match &c.kind {
            CheckKind::Http {
                url,
                expect_status,
                expect_body,
                expect_regex,
                ..
            } => {
                http_check(
                    http,
                    url,
                    *expect_status,
                    expect_body.as_deref(),
                    expect_regex.as_ref(),
                    started,
                )
                .await
            }
            CheckKind::Tcp { address } => match tokio::net::TcpStream::connect(address.as_str()).await {
                Ok(_) => outcome(true, format!("connected to {address}"), started),
                Err(e) => outcome(false, format!("{address}: {e}"), started),
            },
            CheckKind::Exec { command, parse_stdout } => exec_check(command, *parse_stdout, c.timeout, started).await,
            CheckKind::File { path, state } => {
                let mut o = match tokio::fs::symlink_metadata(path).await {
                    Ok(_) => outcome(true, format!("{} present", path.display()), started),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        outcome(true, format!("{} absent", path.display()), started)
                    }
                    // Cannot tell: say so, and do not flag.
                    Err(e) => outcome(true, format!("{}: {e}", path.display()), started),
                };
                if o.detail.ends_with(" present") {
                    o.flag = Some(*state);
                }
                o
            }
            CheckKind::Load {
                metric,
                low,
                high,
                floor,
                ceiling,
                proc,
            } => match read_load(*metric, proc, mem) {
                Ok((v, what)) => {
                    let w = load_weight(v, *low, *high, *floor, *ceiling);
                    let mut o = outcome(true, format!("{what} {v:.2} → {w}%"), started);
                    o.weight = Some(w);
                    o
                }
                // An unreadable reading must not take the server out: full weight, said why.
                Err(e) => {
                    let mut o = outcome(true, format!("cannot read load ({e}); weight {ceiling}%"), started);
                    o.weight = Some(*ceiling);
                    o
                }
            },
        }
    };
    match tokio::time::timeout(c.timeout, work).await {
        Ok(o) => o,
        Err(_) => outcome(false, format!("no answer within {:?}", c.timeout), started),
    }
}

async fn http_check(
    http: &reqwest::Client,
    url: &str,
    expect_status: Option<u16>,
    expect_body: Option<&str>,
    expect_regex: Option<&regex::Regex>,
    started: Instant,
) -> Outcome {
    let mut resp = match http.get(url).send().await {
        Ok(r) => r,
        Err(e) => return outcome(false, root_cause(&e), started),
    };
    let status = resp.status().as_u16();
    let status_ok = match expect_status {
        Some(s) => status == s,
        None => (200..400).contains(&status),
    };
    if !status_ok {
        return outcome(false, format!("HTTP {status}"), started);
    }
    if expect_body.is_none() && expect_regex.is_none() {
        return outcome(true, format!("HTTP {status}"), started);
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                body.extend_from_slice(&c[..c.len().min(MAX_READ - body.len())]);
                if body.len() >= MAX_READ {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => return outcome(false, format!("HTTP {status}, body: {}", root_cause(&e)), started),
        }
    }
    let text = String::from_utf8_lossy(&body);
    if let Some(want) = expect_body {
        if !text.contains(want) {
            return outcome(false, format!("HTTP {status}, body lacks {want:?}"), started);
        }
    }
    if let Some(re) = expect_regex {
        if !re.is_match(&text) {
            return outcome(false, format!("HTTP {status}, body does not match /{re}/"), started);
        }
    }
    outcome(true, format!("HTTP {status}, body ok"), started)
}

/// The innermost error, which says what happened (`Connection refused (os
/// error 111)`), short enough for HAProxy's `last_agt`. Never the URL.
fn root_cause(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let text = cur.to_string();
    if e.is_connect() {
        format!("connect: {text}")
    } else {
        text
    }
}

/// Runs the program (no shell, a clean environment, stdin closed); exit 0
/// passes. With `parse_stdout` the first line of its output is read as an
/// agent reply (HAProxy's grammar; a line HAProxy would reject fails the check).
async fn exec_check(argv: &[String], parse_stdout: bool, timeout: Duration, started: Instant) -> Outcome {
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return outcome(false, format!("cannot run {}: {e}", argv[0]), started),
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut so = child.stdout.take().expect("piped").take(MAX_READ as u64);
    let mut se = child.stderr.take().expect("piped").take(4096);
    let read = async {
        let _ = tokio::join!(so.read_to_end(&mut out), se.read_to_end(&mut err));
        child.wait().await
    };
    // The caller's timeout also applies; this one makes sure the child is killed.
    let status = match tokio::time::timeout(timeout, read).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return outcome(false, format!("{}: {e}", argv[0]), started),
        Err(_) => {
            return outcome(
                false,
                format!("{} ran longer than {timeout:?} (killed)", argv[0]),
                started,
            )
        }
    };
    let first = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string()
    };
    if !status.success() {
        let why = first(&err);
        let code = status.code().map_or("a signal".to_string(), |c| format!("status {c}"));
        return outcome(
            false,
            if why.is_empty() {
                format!("exit {code}")
            } else {
                format!("exit {code}: {why}")
            },
            started,
        );
    }
    let mut o = outcome(true, "exit 0".to_string(), started);
    if parse_stdout {
        let line = first(&out);
        match Reply::parse(&line, false) {
            Ok(r) => {
                o.detail = format!("exit 0, said {line:?}");
                o.reply = Some(r);
            }
            Err(e) => {
                o.ok = false;
                o.detail = format!("exit 0, but its output {line:?}: {e}");
            }
        }
    }
    o
}

/// A load reading and what it is, from `proc` (normally /proc).
fn read_load(metric: LoadMetric, proc: &Path, mem: &mut Memory) -> std::io::Result<(f64, &'static str)> {
    let read = |f: &str| std::fs::read_to_string(proc.join(f));
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    match metric {
        LoadMetric::Load1 | LoadMetric::Load5 => {
            let la = read("loadavg")?;
            let idx = usize::from(metric == LoadMetric::Load5);
            let v: f64 = la
                .split_whitespace()
                .nth(idx)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad("loadavg"))?;
            let cpus = read("stat")
                .map(|s| {
                    s.lines()
                        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
                        .count()
                })
                .unwrap_or(0)
                .max(1);
            let name = if idx == 0 { "load1/CPU" } else { "load5/CPU" };
            Ok((v / cpus as f64, name))
        }
        LoadMetric::Cpu => {
            let s = read("stat")?;
            let line = s
                .lines()
                .next()
                .filter(|l| l.starts_with("cpu "))
                .ok_or_else(|| bad("stat"))?;
            let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
            if v.len() < 4 {
                return Err(bad("stat"));
            }
            let total: u64 = v.iter().take(8).sum();
            let idle = v[3] + v.get(4).copied().unwrap_or(0);
            let (pt, pi) = mem.cpu.replace((total, idle)).unwrap_or((0, 0));
            let (dt, di) = (total.saturating_sub(pt), idle.saturating_sub(pi));
            let busy = if dt == 0 {
                0.0
            } else {
                100.0 * (dt - di.min(dt)) as f64 / dt as f64
            };
            Ok((busy, "cpu%"))
        }
        LoadMetric::Memory => {
            let m = read("meminfo")?;
            let field = |k: &str| {
                m.lines()
                    .find(|l| l.starts_with(k))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<f64>().ok())
            };
            let (total, avail) = (
                field("MemTotal:").ok_or_else(|| bad("meminfo"))?,
                field("MemAvailable:").ok_or_else(|| bad("meminfo"))?,
            );
            Ok((100.0 * (total - avail) / total.max(1.0), "memory%"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_readings_from_a_proc_tree() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("loadavg"), "3.00 1.50 1.00 2/300 1234\n").unwrap();
        std::fs::write(
            d.path().join("stat"),
            "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\ncpu1 50 0 50 400 0 0 0 0 0 0\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("meminfo"),
            "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 250 kB\n",
        )
        .unwrap();
        let mut m = Memory::default();
        assert_eq!(read_load(LoadMetric::Load1, d.path(), &mut m).unwrap().0, 1.5);
        assert_eq!(read_load(LoadMetric::Load5, d.path(), &mut m).unwrap().0, 0.75);
        assert_eq!(read_load(LoadMetric::Memory, d.path(), &mut m).unwrap().0, 75.0);
        assert_eq!(read_load(LoadMetric::Cpu, d.path(), &mut m).unwrap().0, 20.0);
        std::fs::write(d.path().join("stat"), "cpu  200 0 200 900 0 0 0 0 0 0\n").unwrap();
        // Since the last reading: 200 busy of 300.
        let v = read_load(LoadMetric::Cpu, d.path(), &mut m).unwrap().0;
        assert!((v - 66.666).abs() < 0.1, "{v}");
        assert!(read_load(LoadMetric::Load1, Path::new("/nonexistent"), &mut m).is_err());
    }
}
