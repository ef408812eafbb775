//! Part `metrics`: `/metrics` of hawatch, the Go haproxy_exporter and HAProxy's
//! own promex, on the same big HAProxy, interleaved.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use testkit::reserved_port;

use super::instances::{raw_dump, Big};
use super::{mb, ms, proc_status, summary, Summary};
use crate::common::{hawatch, verdict, Proc, Row};

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

pub(super) fn part_metrics(big: &Big, dir: &Path, iters: usize, table: &mut Vec<Row>) {
    let sock = &big.haproxy.sock;
    // The Go exporter, reading the same socket.
    let exp_port = reserved_port();
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
    let port = reserved_port();
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
        Command::new(hawatch())
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
    say!(
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
    say!("| scrape ({iters} interleaved rounds) | p50 ms | p90 ms | min ms | max ms | bytes |");
    say!("|---|---|---|---|---|---|");
    let sums: Vec<Summary> = times.iter().map(|t| summary(t)).collect();
    for (k, name) in kinds.iter().enumerate() {
        let x = sums[k];
        say!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            x.p50,
            x.p90,
            x.min,
            x.max,
            sizes[k]
        );
    }
    let hwm = |pid: u32| proc_status(pid, "VmHWM").unwrap_or(0);
    let rss = |pid: u32| proc_status(pid, "VmRSS").unwrap_or(0);
    let (e_hwm, e_rss, h_hwm, h_rss) = (hwm(exporter.pid()), rss(exporter.pid()), hwm(hw.pid()), rss(hw.pid()));
    say!(
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
