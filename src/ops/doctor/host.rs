//! The host HAProxy runs on: binds, kernel limits, the process's CPU and
//! memory, TIME_WAIT, OOM kills, directories, users; and keepalived. What
//! the numbers mean is `logic::lint::host`'s; this reads them.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use haproxy::cfg::Cfg;

use super::process::{status_field, Pids};
use crate::config::{Config, Doctor};
use crate::logic::lint::file::stats_socket_lines;
use crate::logic::lint::{host, Finding, Level};

fn sysctl(name: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/sys/{}", name.replace('.', "/")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn local_ips() -> Vec<IpAddr> {
    let mut v = crate::source::vip::local_addresses();
    v.push(IpAddr::from([127, 0, 0, 1]));
    v.push(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]));
    v
}

/// `1.2.3.4:80`, `*:443`, `:80`, `[::1]:80`, `ipv4@...`; not unix sockets or ranges.
fn parse_bind(a: &str) -> Option<SocketAddr> {
    let a = a.trim_start_matches("ipv4@").trim_start_matches("ipv6@");
    if a.starts_with('/') || a.contains('@') || a.contains('-') {
        return None;
    }
    if let Ok(sa) = a.parse() {
        return Some(sa);
    }
    let (host, port) = a.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let ip: IpAddr = match host {
        "" | "*" | "0.0.0.0" => IpAddr::from([0, 0, 0, 0]),
        "::" | "[::]" => IpAddr::from([0u16; 8]),
        h => h.trim_start_matches('[').trim_end_matches(']').parse().ok()?,
    };
    Some(SocketAddr::new(ip, port))
}

/// HW701, HW702.
async fn binds(cfg: &Cfg, out: &mut Vec<Finding>) {
    let ips = local_ips();
    let nonlocal4 = sysctl("net.ipv4.ip_nonlocal_bind").unwrap_or(0) == 1;
    let nonlocal6 = sysctl("net.ipv6.ip_nonlocal_bind").unwrap_or(0) == 1;
    for p in cfg.sections.iter().filter(|s| s.is_frontend()) {
        for b in p.all("bind") {
            for a in b.words.get(1).map_or("", String::as_str).split(',') {
                let Some(sa) = parse_bind(a) else { continue };
                let at = |f: Finding| f.at(cfg.file_of(b), b.line);
                let ip = sa.ip();
                let local = ip.is_unspecified() || ips.contains(&ip);
                let nonlocal = if ip.is_ipv4() { nonlocal4 } else { nonlocal6 };
                // `transparent` and `freebind` binds may take any address.
                let free = b.has("transparent") || b.has("freebind");
                if !local && !nonlocal && !free {
                    out.push(at(Finding::new(
                        "HW701",
                        Level::Warn,
                        format!("{}: bind {sa} is on an address this host does not have (a VIP on the other node?)", p.title()),
                    )
                    .fix("set net.ipv4.ip_nonlocal_bind = 1 (sysctl, and in /etc/sysctl.d/), or HAProxy fails to start here (seed 001's VIP pitfall)")));
                    continue;
                }
                // Bound to an interface or in another namespace: loopback cannot tell.
                if !local || b.has("interface") || b.has("namespace") {
                    continue;
                }
                let target = if ip.is_unspecified() {
                    let lo = if sa.is_ipv4() {
                        IpAddr::from([127, 0, 0, 1])
                    } else {
                        IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])
                    };
                    SocketAddr::new(lo, sa.port())
                } else {
                    sa
                };
                match tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(target)).await {
                    Ok(Ok(_)) => out.push(at(Finding::new(
                        "HW702",
                        Level::Ok,
                        format!("{}: bind {sa} is listening", p.title()),
                    ))),
                    _ => out.push(at(Finding::new(
                        "HW702",
                        Level::Crit,
                        format!("{}: bind {sa} is in the config but nothing listens there", p.title()),
                    )
                    .fix("reload HAProxy if the file changed; else find who holds the port (`ss -ltnp`)"))),
                }
            }
        }
    }
}

/// HW703, HW704.
fn limits(cfg: &Cfg, pids: Option<&Pids>, out: &mut Vec<Finding>) {
    let Some((maxconn, line)) = cfg
        .global()
        .filter(|l| l.keyword() == "maxconn")
        .last()
        .and_then(|l| Some((l.words.get(1)?.parse::<u64>().ok()?, l)))
    else {
        return;
    };
    let at = |f: Finding| f.at(cfg.file_of(line), line.line);
    for k in ["net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog"] {
        if let Some(v) = sysctl(k) {
            if v < maxconn.min(65_535) {
                out.push(at(Finding::new(
                    "HW703",
                    Level::Warn,
                    format!("{k} = {v} is below the global maxconn {maxconn}: bursts of new connections are dropped"),
                )
                .fix(format!("sysctl -w {k}={} (and in /etc/sysctl.d/)", maxconn.min(65_535)))));
            }
        }
    }
    let Some(p) = pids else { return };
    let limit = std::fs::read_to_string(format!("/proc/{}/limits", p.worker))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse::<u64>().ok()))
        });
    if let Some(l) = limit {
        // Each connection takes up to two descriptors (client and server).
        out.push(if l < maxconn.saturating_mul(2) {
            at(Finding::new(
                "HW704",
                Level::Warn,
                format!("HAProxy may open {l} files, less than 2 × maxconn ({maxconn})"),
            )
            .fix("raise LimitNOFILE in the haproxy unit, or lower maxconn"))
        } else {
            at(Finding::new(
                "HW704",
                Level::Ok,
                format!("open-files limit {l} covers maxconn {maxconn}"),
            ))
        });
    }
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces and parentheses: fields start after the last ')'.
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// HW705: a 1 s sample of the worker's CPU time.
async fn cpu(p: &Pids, threads: u32, d: &Doctor, out: &mut Vec<Finding>) {
    let tick = clock_ticks() as f64;
    let (Some(a), t0) = (cpu_ticks(p.worker), Instant::now()) else {
        return;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let Some(b) = cpu_ticks(p.worker) else { return };
    let secs = b.saturating_sub(a) as f64 / tick;
    out.push(host::cpu(
        p.worker,
        secs,
        t0.elapsed().as_secs_f64(),
        threads,
        d.cpu_percent,
    ));
}

/// The memory limit of a process's cgroup (v2), if it has one.
fn cgroup_limit(pid: u32) -> Option<u64> {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = cg.lines().find_map(|l| l.strip_prefix("0::"))?;
    let max = std::fs::read_to_string(format!("/sys/fs/cgroup{path}/memory.max")).ok()?;
    max.trim().parse().ok()
}

/// HW706: resident memory of the worker and its master.
fn memory(p: &Pids, d: &Doctor, out: &mut Vec<Finding>) {
    let rss_kib = |pid: u32| status_field(pid, "VmRSS").and_then(|v| v.parse::<u64>().ok());
    let Some(worker) = rss_kib(p.worker) else { return };
    let rss = (worker + p.master.and_then(rss_kib).unwrap_or(0)) * 1024;
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|k| k * 1024)
    });
    let Some(total) = total else { return };
    let (limit, cgroup) = match cgroup_limit(p.worker) {
        Some(c) if c < total => (c, true),
        _ => (total, false),
    };
    out.push(host::memory(rss, limit, cgroup, d.memory_percent));
}

/// HW707.
fn time_wait(out: &mut Vec<Finding>) {
    let Some(max) = sysctl("net.ipv4.tcp_max_tw_buckets") else {
        return;
    };
    let count: u64 = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|t| host::time_wait_count(&t))
        .sum();
    out.push(host::time_wait(count, max));
}

/// The kernel log since boot from /dev/kmsg (records until there are no
/// more; at most 100,000), or `None` when this user may not read it.
fn kernel_log() -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open("/dev/kmsg")
        .ok()?;
    let mut text = String::new();
    let mut buf = vec![0u8; 8192];
    for _ in 0..100_000 {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
                if !text.ends_with('\n') {
                    text.push('\n');
                }
            }
            // Overwritten while reading: the next read goes on.
            Err(e) if e.raw_os_error() == Some(nix::libc::EPIPE) => continue,
            Err(_) => break,
        }
    }
    Some(text)
}

/// When a process started, in microseconds since boot (`/proc/PID/stat`'s starttime).
fn started_us(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
    // After ')': state is field 3, so starttime (22) is at index 19.
    let ticks: u64 = f.get(19)?.parse().ok()?;
    Some(ticks.saturating_mul(1_000_000) / clock_ticks())
}

fn clock_ticks() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// HW708, when the kernel log is readable.
fn oom(pids: Option<&Pids>, out: &mut Vec<Finding>) {
    if let Some(log) = kernel_log() {
        let since = pids.and_then(|p| started_us(p.master.unwrap_or(p.worker)));
        out.push(host::oom(&host::oom_kills(&log), since));
    }
}

/// HW709, HW710: chroot, the stats sockets' directories, the pidfile's.
fn directories(cfg: &Cfg, pids: Option<&Pids>, out: &mut Vec<Finding>) {
    let global_value = |k: &str| {
        cfg.global()
            .filter(|l| l.keyword() == k)
            .last()
            .and_then(|l| Some((PathBuf::from(l.words.get(1)?), cfg.file_of(l).to_string(), l.line)))
    };
    let user = cfg
        .global()
        .filter(|l| l.keyword() == "user")
        .last()
        .and_then(|l| l.words.get(1))
        .and_then(|u| nix::unistd::User::from_name(u).ok().flatten());
    let mut dirs: Vec<(&str, PathBuf, String, u32)> = Vec::new();
    if let Some((p, f, l)) = global_value("chroot") {
        dirs.push(("chroot", p, f, l));
    }
    for s in stats_socket_lines(cfg) {
        if let Some(dir) = s.path().and_then(|p| p.parent().map(Path::to_path_buf)) {
            dirs.push(("stats socket's directory", dir, s.file.clone(), s.line));
        }
    }
    if let Some((p, f, l)) = global_value("pidfile") {
        if let Some(dir) = p.parent() {
            dirs.push(("pidfile's directory", dir.to_path_buf(), f, l));
        }
    }
    // The master creates the socket and the pid file; a worker runs as `user`
    // already, so without a master (daemon mode) the owner is not judged.
    let master_uid = pids
        .and_then(|p| p.master)
        .and_then(|pid| status_field(pid, "Uid"))
        .and_then(|u| u.parse::<u32>().ok());
    for (what, dir, file, line) in dirs {
        let at = |f: Finding| f.at(file.clone(), line);
        let meta = match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => m,
            Ok(_) => {
                out.push(at(Finding::new(
                    "HW709",
                    Level::Crit,
                    format!("the {what} {} is not a directory", dir.display()),
                )
                .fix("fix the path in the config")));
                continue;
            }
            Err(e) => {
                out.push(at(Finding::new(
                    "HW709",
                    Level::Crit,
                    format!("the {what} {} is missing ({e}): HAProxy cannot start", dir.display()),
                )
                .fix(format!(
                    "install -d -m 755 {} (under /run: a tmpfiles.d entry or RuntimeDirectory= so it survives reboots)",
                    dir.display()
                ))));
                continue;
            }
        };
        let mode = meta.mode() & 0o7777;
        if what == "chroot" {
            // (A worker running as root can write anywhere: that is another problem.)
            let by_user = user
                .as_ref()
                .is_some_and(|u| u.uid.as_raw() != 0 && u.uid.as_raw() == meta.uid() && mode & 0o200 != 0);
            if by_user || mode & 0o002 != 0 {
                out.push(at(Finding::new(
                    "HW710",
                    Level::Warn,
                    format!(
                        "the chroot {} (mode {mode:o}, uid {}) is writable by {}: a compromised worker can write inside its jail",
                        dir.display(),
                        meta.uid(),
                        if mode & 0o002 != 0 { "everyone" } else { "HAProxy's user" }
                    ),
                )
                .fix(format!("chown root:root {0}; chmod 755 {0}", dir.display()))));
                continue;
            }
        } else if let Some(uid) = master_uid.filter(|u| *u != 0) {
            let gids: Vec<u32> = status_field_all(pids, "Groups");
            let writable = (meta.uid() == uid && mode & 0o200 != 0)
                || (gids.contains(&meta.gid()) && mode & 0o020 != 0)
                || mode & 0o002 != 0;
            if !writable {
                out.push(at(Finding::new(
                    "HW710",
                    Level::Warn,
                    format!(
                        "the {what} {} (uid {}, mode {mode:o}) is not writable by the HAProxy master's uid {uid}: its next start fails",
                        dir.display(),
                        meta.uid()
                    ),
                )
                .fix(format!("chown {uid} {}", dir.display()))));
                continue;
            }
        }
        out.push(at(Finding::new(
            "HW709",
            Level::Ok,
            format!("the {what} {} exists", dir.display()),
        )));
    }
}

/// Every number of a `/proc/PID/status` field (`Groups: 4 24 27`) of the master.
fn status_field_all(pids: Option<&Pids>, key: &str) -> Vec<u32> {
    let Some(pid) = pids.and_then(|p| p.master) else {
        return Vec::new();
    };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(str::to_string))
        })
        .map(|v| v.split_whitespace().filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default()
}

/// HW711: the files, writable by everyone.
fn config_modes(files: &[PathBuf], out: &mut Vec<Finding>) {
    for f in files {
        if let Ok(m) = std::fs::metadata(f) {
            let mode = m.mode() & 0o777;
            if mode & 0o002 != 0 {
                out.push(
                    Finding::new(
                        "HW711",
                        Level::Warn,
                        format!("{} is writable by everyone (mode {mode:o})", f.display()),
                    )
                    .fix(format!("chmod o-w {}", f.display())),
                );
            }
        }
    }
}

/// HW712: `user` and `group` of `global` exist here.
fn users(cfg: &Cfg, out: &mut Vec<Finding>) {
    for l in cfg.global().filter(|l| matches!(l.keyword(), "user" | "group")) {
        let Some(name) = l.words.get(1) else { continue };
        let exists = if l.keyword() == "user" {
            nix::unistd::User::from_name(name).ok().flatten().is_some()
        } else {
            nix::unistd::Group::from_name(name).ok().flatten().is_some()
        };
        if !exists {
            out.push(
                Finding::new(
                    "HW712",
                    Level::Crit,
                    format!(
                        "global: {} {name} does not exist on this host: HAProxy refuses to start",
                        l.keyword()
                    ),
                )
                .fix(format!("create it (`adduser --system {name}`) or fix the name"))
                .at(cfg.file_of(l), l.line),
            );
        }
    }
}

/// Every host rule.
pub(super) async fn examine(
    cfg: &Cfg,
    files: &[PathBuf],
    pids: Option<&Pids>,
    threads: u32,
    d: &Doctor,
) -> Vec<Finding> {
    let mut out = Vec::new();
    config_modes(files, &mut out);
    users(cfg, &mut out);
    directories(cfg, pids, &mut out);
    binds(cfg, &mut out).await;
    limits(cfg, pids, &mut out);
    if let Some(p) = pids {
        cpu(p, threads, d, &mut out).await;
        memory(p, d, &mut out);
    }
    time_wait(&mut out);
    oom(pids, &mut out);
    out
}

/// keepalived, when it is installed at `bin` (nothing to say otherwise):
/// that it can start (HW801), and what its version needs of the notify
/// FIFO (HW802).
pub(super) fn keepalived(config: &Config, bin: &Path) -> Vec<Finding> {
    if !bin.exists() {
        return Vec::new();
    }
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("--version");
    let out = match crate::ops::output_within(cmd, Duration::from_secs(10)) {
        Ok(o) => o,
        Err(e) => {
            return vec![Finding::new(
                "HW801",
                Level::Warn,
                format!("cannot run {} --version: {e}", bin.display()),
            )]
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Debian 13's keepalived (2.3) reads its build options from this file at
    // every start and stops without it, before reading its config.
    if text.contains("Unable to read build config options file") {
        return vec![Finding::new(
            "HW801",
            Level::Crit,
            format!("{} cannot start: \"Unable to read build config options file\"", bin.display()),
        )
        .fix("it reads /etc/keepalived/keepalived.config-opts, which its package installs: restore that file (`apt-get install --reinstall keepalived`)")];
    }
    let Some(version) = text.split_whitespace().find_map(|w| {
        w.strip_prefix('v')
            .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
    }) else {
        return vec![Finding::new(
            "HW801",
            Level::Warn,
            format!("{} --version said: {}", bin.display(), text.trim()),
        )];
    };
    let mut found = vec![Finding::new(
        "HW801",
        Level::Ok,
        format!("keepalived {version} ({})", bin.display()),
    )];
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    // keepalived 2.4 opens a FIFO it did not create only if its owner is
    // root or the user named in `notify_fifo PATH USER`.
    let fifo = config.keepalived.as_ref().and_then(|k| k.notify_fifo.as_ref());
    if let Some(uid) = fifo.and_then(|p| std::fs::metadata(p).ok()).map(|m| m.uid()) {
        if (major, minor) >= (2, 4) && uid != 0 {
            found.push(
                Finding::new(
                    "HW802",
                    Level::Warn,
                    format!(
                        "keepalived {version} opens the notify FIFO {} only if keepalived.conf names its owner (uid {uid})",
                        fifo.map(|p| p.display().to_string()).unwrap_or_default()
                    ),
                )
                .fix("write `notify_fifo PATH USER` with the user `hawatch watch` runs as (`hawatch keepalived-config --fifo-owner USER` does)"),
            );
        }
    }
    found
}
