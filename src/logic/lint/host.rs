//! Host rules as pure functions: `ops::doctor` reads `/proc`, sysctls and
//! the kernel log, these say what the numbers mean.

use super::{Finding, Level};

/// HW705: `cpu_seconds` used over `wall_seconds` by a process with
/// `threads` threads; warn above `limit_pct` of a core per thread.
pub fn cpu(pid: u32, cpu_seconds: f64, wall_seconds: f64, threads: u32, limit_pct: f64) -> Finding {
    let threads = threads.max(1);
    let pct = if wall_seconds > 0.0 {
        100.0 * cpu_seconds / wall_seconds / f64::from(threads)
    } else {
        0.0
    };
    let text = format!(
        "HAProxy (pid {pid}) used {pct:.1} % of a core per thread over {wall_seconds:.1} s ({threads} thread(s); the limit is {limit_pct} %)"
    );
    if pct > limit_pct {
        Finding::new("HW705", Level::Warn, text)
            .fix("look for the cause (TLS handshakes, a flood, regexes) in `show info` and the logs; more `nbthread` if cores are free")
    } else {
        Finding::new("HW705", Level::Ok, text)
    }
}

/// HW706: HAProxy's resident memory against what it may use (the host's
/// memory, or its cgroup's limit when lower).
pub fn memory(rss_bytes: u64, limit_bytes: u64, limit_is_cgroup: bool, limit_pct: f64) -> Finding {
    let pct = if limit_bytes > 0 {
        100.0 * rss_bytes as f64 / limit_bytes as f64
    } else {
        0.0
    };
    let mib = |b: u64| b as f64 / 1_048_576.0;
    let text = format!(
        "HAProxy's resident memory is {:.1} MiB, {pct:.2} % of the {:.0} MiB {} (the limit is {limit_pct} %)",
        mib(rss_bytes),
        mib(limit_bytes),
        if limit_is_cgroup {
            "its cgroup may use"
        } else {
            "of this host"
        }
    );
    if pct > limit_pct {
        Finding::new("HW706", Level::Warn, text)
            .fix("lower `maxconn` or `tune.bufsize`, look for a leak (`show pools`), or give it more memory")
    } else {
        Finding::new("HW706", Level::Ok, text)
    }
}

/// TIME_WAIT sockets in a `/proc/net/tcp` or `/proc/net/tcp6` table
/// (state `06`).
pub fn time_wait_count(table: &str) -> u64 {
    table
        .lines()
        .skip(1)
        .filter(|l| l.split_whitespace().nth(3) == Some("06"))
        .count() as u64
}

/// HW707: TIME_WAIT sockets against `tcp_max_tw_buckets`; warn at 80 %.
pub fn time_wait(count: u64, max_buckets: u64) -> Finding {
    let text = format!("{count} TCP sockets in TIME_WAIT; net.ipv4.tcp_max_tw_buckets is {max_buckets}");
    if max_buckets > 0 && count * 5 >= max_buckets * 4 {
        Finding::new("HW707", Level::Warn, text).fix(format!(
            "raise net.ipv4.tcp_max_tw_buckets (seed 002: 1440000; now {max_buckets}), reuse server connections (`http-reuse safe`), widen net.ipv4.ip_local_port_range"
        ))
    } else {
        Finding::new("HW707", Level::Ok, text)
    }
}

/// An OOM kill of haproxy in the kernel log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OomKill {
    pub pid: u32,
    /// Microseconds since boot, when the line says.
    pub at_us: Option<u64>,
    /// The kernel's message, made safe to print.
    pub line: String,
}

/// When a kernel-log line was written, in microseconds since boot:
/// `/dev/kmsg` records (`6,1234,5678901,-;...`) and `dmesg` (`[ 12.345678] ...`).
fn log_time(line: &str) -> Option<u64> {
    if let Some((head, _)) = line.split_once(';') {
        return head.split(',').nth(2)?.trim().parse().ok();
    }
    let inner = line.trim_start().strip_prefix('[')?.split_once(']')?.0.trim();
    let (s, frac) = inner.split_once('.').unwrap_or((inner, "0"));
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
    s.parse::<u64>()
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(frac.parse().ok()?)
}

/// HAProxy processes the kernel killed for memory, from kernel-log lines
/// (`/dev/kmsg` records or `dmesg` lines), one per pid.
pub fn oom_kills(log: &str) -> Vec<OomKill> {
    let mut out: Vec<OomKill> = Vec::new();
    for line in log.lines() {
        let msg = line
            .split_once(';')
            .map_or_else(|| line.split_once(']').map_or(line, |(_, m)| m), |(_, m)| m);
        let msg = msg.trim();
        let found: Option<u32> = if let Some(rest) = msg.split("Killed process ").nth(1) {
            // "Out of memory: Killed process 123 (haproxy) total-vm:..."
            let (pid, comm) = rest.split_once(' ').unwrap_or((rest, ""));
            comm.starts_with("(haproxy)").then(|| pid.parse().ok()).flatten()
        } else if msg.contains("oom-kill:") && msg.contains(",task=haproxy,") {
            // "oom-kill:constraint=CONSTRAINT_NONE,...,task=haproxy,pid=123,uid=0"
            msg.split(',')
                .find_map(|kv| kv.strip_prefix("pid="))
                .and_then(|p| p.parse().ok())
        } else {
            None
        };
        if let Some(pid) = found {
            let kill = OomKill {
                pid,
                at_us: log_time(line),
                line: crate::text::visible(msg).into_owned(),
            };
            // The kernel writes two lines per kill; the later one is kept (a
            // reused pid's later kill is then the one that counts).
            match out.iter_mut().find(|k| k.pid == pid) {
                Some(k) => *k = kill,
                None => out.push(kill),
            }
        }
    }
    out
}

/// HW708, from [`oom_kills`]: critical for a kill since the running HAProxy
/// started (`started_us`, microseconds since boot; `None`: unknown, every
/// kill counts), a warning for older ones.
pub fn oom(kills: &[OomKill], started_us: Option<u64>) -> Finding {
    let recent = |k: &&OomKill| match (k.at_us, started_us) {
        (Some(at), Some(start)) => at >= start,
        _ => true,
    };
    let Some(last) = kills.last() else {
        return Finding::new("HW708", Level::Ok, "no OOM kill of haproxy in the kernel log");
    };
    let fix =
        "find what grew (`show pools`, `show info`), lower `maxconn`/buffers, or upgrade HAProxy if it is a known leak";
    let n = kills.iter().filter(recent).count();
    if n > 0 {
        let last = kills.iter().rfind(recent).unwrap_or(last);
        Finding::new(
            "HW708",
            Level::Crit,
            format!(
                "the kernel killed haproxy for lack of memory {n} time(s) since the running HAProxy started; the last: pid {}: {}",
                last.pid, last.line
            ),
        )
        .fix(fix)
    } else {
        Finding::new(
            "HW708",
            Level::Warn,
            format!(
                "the kernel killed haproxy for lack of memory {} time(s) since boot, before the running HAProxy started; the last: pid {}: {}",
                kills.len(),
                last.pid,
                last.line
            ),
        )
        .fix(fix)
    }
}
