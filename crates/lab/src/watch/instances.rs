//! HAProxy in the foreground (`-db`) with an admin socket: the big instance
//! (1,000 backends × 10 servers by default) and the small one with a ring.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use testkit::reserved_port;

use super::haproxy_bin;
use super::servers::HttpListener;
use crate::common::{read_lossy, Proc};

/// Connect, send one command line, read to EOF into `buf`.
pub(super) fn raw_dump(sock: &Path, cmd: &str, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.clear();
    let mut s = UnixStream::connect(sock)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(format!("{cmd}\n").as_bytes())?;
    s.read_to_end(buf)
}

pub(super) struct Haproxy {
    pub(super) sock: PathBuf,
    pub(super) stderr: PathBuf,
    pub(super) proc: Proc,
}

impl Haproxy {
    /// Starts `haproxy -db -f <dir>/<name>.cfg` in the foreground and waits (30 s at
    /// most) until its stats socket answers.
    pub(super) fn start(dir: &Path, name: &str, cfg: &str, sock: PathBuf) -> Haproxy {
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

    pub(super) fn cmd(&self, c: &str) -> String {
        let mut buf = Vec::new();
        match raw_dump(&self.sock, c, &mut buf) {
            Ok(_) => String::from_utf8_lossy(&buf).into_owned(),
            Err(e) => format!("(error: {e})"),
        }
    }
}

pub(super) struct Big {
    /// The check listeners every server points at (the `outage` part closes them).
    pub(super) listeners: Vec<HttpListener>,
    pub(super) haproxy: Haproxy,
    pub(super) backends: usize,
    pub(super) servers: usize,
    /// HAProxy's built-in Prometheus exporter (promex) on 127.0.0.1.
    pub(super) prom_port: u16,
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

pub(super) fn start_big(dir: &Path, backends: usize, servers: usize) -> Big {
    let listeners: Vec<HttpListener> = (0..4).map(|_| HttpListener::start()).collect();
    let ports: Vec<u16> = listeners.iter().map(HttpListener::port).collect();
    let sock = dir.join("big.sock");
    let prom_port = reserved_port();
    let cfg = big_config(
        &sock,
        (reserved_port(), prom_port),
        &ports,
        reserved_port(),
        backends,
        servers,
    );
    let dead = (0..backends).filter(|b| b % 50 == 7).count() * usize::from(servers > 5);
    let t = Instant::now();
    let haproxy = Haproxy::start(dir, "haproxy-big", &cfg, sock);
    say!(
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
                    say!("waiting for servers that failed their first checks: {last}");
                    reported = true;
                }
                if srv.len() == backends * servers && unsettled == 0 && down.len() == dead {
                    say!("settled in {:.1} s: {last}", t.elapsed().as_secs_f64());
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
pub(super) const INTER_MS: u64 = 500;
pub(super) const FALL: u64 = 2;

pub(super) fn small_config(sock: &Path, fe_port: u16, port: u16) -> String {
    format!(
        "global\n    stats socket {} mode 600 level admin\n    stats timeout 2m\n    log ring@hawatch local0\n\n\
         ring hawatch\n    description \"state changes for hawatch\"\n    format rfc3164\n    maxlen 1200\n    size 65536\n\n\
         defaults\n    mode http\n    log global\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n    timeout check 1s\n\n\
         frontend fe\n    bind 127.0.0.1:{fe_port}\n    default_backend be\n\n\
         backend be\n    option httpchk GET /health\n    server s1 127.0.0.1:{port} check inter {INTER_MS}ms fall {FALL} rise 1\n",
        sock.display()
    )
}
