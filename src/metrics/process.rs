//! `process_*`: hawatch's own CPU, memory and file descriptors, under the
//! names every Prometheus client uses (the Go exporter served its own too).
//! Read from /proc at scrape time; absent where /proc is not Linux's.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

#[derive(Debug)]
pub(crate) struct Process;

/// Clock ticks per second for /proc/self/stat times; 100 on every Linux
/// architecture hawatch targets (USER_HZ is fixed in the kernel ABI).
const TICKS: f64 = 100.0;

struct Reading {
    cpu_seconds: f64,
    start_time: f64,
    vsize: u64,
    rss: u64,
    open_fds: Option<u64>,
    max_fds: Option<u64>,
}

fn read() -> Option<Reading> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // rest[0] is field 3 (state): utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
    let at = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let page = 4096u64;
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<u64>().ok()))
    })?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64);
    let max_fds = std::fs::read_to_string("/proc/self/limits").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
    });
    Some(Reading {
        cpu_seconds: (at(14)? + at(15)?) as f64 / TICKS,
        start_time: boot as f64 + at(22)? as f64 / TICKS,
        vsize: at(23)?,
        rss: at(24)? * page,
        open_fds,
        max_fds,
    })
}

impl Collector for Process {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let Some(r) = read() else { return Ok(()) };
        let mut gauge = |name: &str, help: &str, v: f64| -> fmt::Result {
            enc.encode_descriptor(name, help, None, MetricType::Gauge)?
                .encode_gauge(&v)
        };
        gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            r.start_time,
        )?;
        gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            r.vsize as f64,
        )?;
        gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            r.rss as f64,
        )?;
        if let Some(n) = r.open_fds {
            gauge("process_open_fds", "Number of open file descriptors.", n as f64)?;
        }
        if let Some(n) = r.max_fds {
            gauge("process_max_fds", "Maximum number of open file descriptors.", n as f64)?;
        }
        enc.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            MetricType::Counter,
        )?
        .encode_counter::<NoLabelSet, f64, f64>(&r.cpu_seconds, None)
    }
}
