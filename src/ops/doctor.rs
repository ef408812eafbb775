//! `hawatch doctor --haproxy-config PATH`: seed 002's troubleshooting list
//! in one command. Exit 0 all good, 1 warnings, 2 something critical, so it
//! can run from cron or CI.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use haproxy::{RowType, ServerStatus, State};

use crate::config::Config;
use crate::model::snapshot::SourceError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
    Ok,
    Warn,
    Crit,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Finding {
    pub(crate) level: Level,
    /// What was seen.
    pub(crate) text: String,
    /// What to do about it (warnings and critical findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fix: Option<String>,
}

fn f(level: Level, text: impl Into<String>) -> Finding {
    Finding {
        level,
        text: text.into(),
        fix: None,
    }
}

fn fix(level: Level, text: impl Into<String>, what: impl Into<String>) -> Finding {
    Finding {
        level,
        text: text.into(),
        fix: Some(what.into()),
    }
}

/// Mode bits of a path, for the permission checks.
fn mode(p: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).ok().map(|m| m.permissions().mode() & 0o777)
}

/// What doctor reads from haproxy.cfg (a line-level reading, enough for
/// these checks; `haproxy -c` judges the syntax).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct CfgFacts {
    /// `bind` addresses (`IP:PORT`; `*`/empty host as 0.0.0.0), with the proxy.
    pub(crate) binds: Vec<(String, SocketAddr)>,
    /// `crt` paths (files or directories).
    pub(crate) crts: Vec<PathBuf>,
    /// `maxconn` of the global section.
    pub(crate) maxconn: Option<u64>,
}

/// Reads binds, certificates and the global maxconn. Pure.
pub(crate) fn facts(cfg: &str, base: &Path) -> CfgFacts {
    let mut out = CfgFacts::default();
    let mut section = String::new();
    let mut proxy = String::new();
    for line in cfg.lines() {
        let line = line.split('#').next().unwrap_or("");
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = words.first() else { continue };
        if !line.starts_with(char::is_whitespace) {
            section = first.to_string();
            proxy = words.get(1).map(|s| s.to_string()).unwrap_or_default();
            continue;
        }
        match (section.as_str(), *first) {
            ("global", "maxconn") => out.maxconn = words.get(1).and_then(|v| v.parse().ok()),
            ("frontend" | "listen", "bind") => {
                if let Some(addr) = words.get(1) {
                    for a in addr.split(',') {
                        if let Some(sa) = parse_bind(a) {
                            out.binds.push((proxy.clone(), sa));
                        }
                    }
                }
                for w in words.windows(2) {
                    if w[0] == "crt" {
                        let p = Path::new(w[1]);
                        out.crts
                            .push(if p.is_absolute() { p.to_path_buf() } else { base.join(p) });
                    }
                }
            }
            _ => {}
        }
    }
    out
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

/// Days left on each certificate in a PEM file (a bundle may hold several).
pub(crate) fn cert_days(pem: &[u8], now: i64) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for p in x509_parser::pem::Pem::iter_from_buffer(pem).flatten() {
        if p.label != "CERTIFICATE" {
            continue;
        }
        if let Ok((_, cert)) = x509_parser::parse_x509_certificate(&p.contents) {
            let left = (cert.validity().not_after.timestamp() - now) / 86_400;
            out.push((cert.subject().to_string(), left));
        }
    }
    out
}

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

/// Every check; the findings in order.
pub(crate) async fn examine(config: &Config, cfg_path: &Path, haproxy: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    // 1. The configuration file.
    let text = match std::fs::read_to_string(cfg_path) {
        Ok(t) => t,
        Err(e) => return vec![f(Level::Crit, format!("cannot read {}: {e}", cfg_path.display()))],
    };
    match super::haproxy_check(haproxy, cfg_path) {
        Ok(()) => out.push(f(
            Level::Ok,
            format!("{}: haproxy -c says it is valid", cfg_path.display()),
        )),
        Err(why) if why.starts_with("cannot run ") => out.push(f(Level::Warn, why)),
        Err(why) => {
            let first = why
                .lines()
                .find(|l| l.contains("ALERT"))
                .unwrap_or(&why)
                .trim()
                .to_string();
            out.push(fix(
                Level::Crit,
                format!("{}: haproxy -c fails: {first}", cfg_path.display()),
                "fix the file before any reload: HAProxy would refuse it",
            ));
        }
    }
    if let Some(m) = mode(cfg_path) {
        if m & 0o002 != 0 {
            out.push(fix(
                Level::Warn,
                format!("{} is writable by everyone (mode {m:o})", cfg_path.display()),
                format!("chmod o-w {}", cfg_path.display()),
            ));
        }
    }
    let base = cfg_path.parent().unwrap_or(Path::new("/"));
    let facts = facts(&text, base);

    // 2. The process, through the Runtime API.
    let sock = super::socket_instances(config).into_iter().next();
    let mut pid = None;
    let mut stat = None;
    match &sock {
        Some((name, ep, t)) => {
            let client = crate::source::socket_client(ep, *t);
            match client.show_info_stat().await {
                Ok((info, s)) => {
                    out.push(f(
                        Level::Ok,
                        format!(
                            "{name}: HAProxy {} running, pid {}",
                            info.version.unwrap_or_default(),
                            info.pid.unwrap_or(0)
                        ),
                    ));
                    pid = info.pid;
                    stat = Some(s);
                    let level = client.clone().max_reply(4096).show_cli_level().await.ok();
                    if level == Some(haproxy::CliLevel::Admin) {
                        out.push(f(Level::Ok, format!("{name}: the stats socket {ep} is at level admin")));
                    } else {
                        let level = level.map_or("unknown", |l| l.as_str());
                        out.push(fix(
                            Level::Warn,
                            format!("{name}: the stats socket {ep} is at level {level}"),
                            "`hawatch ctl` needs `level admin` on the `stats socket` line (the watcher needs only `operator`)",
                        ));
                    }
                    if let haproxy::Endpoint::Unix(p) = ep {
                        if mode(p).is_some_and(|m| m & 0o006 != 0) {
                            out.push(fix(
                                Level::Warn,
                                format!(
                                    "{name}: the stats socket {} can be used by every local user",
                                    p.display()
                                ),
                                "set `mode 660` (and a `group`) on the `stats socket` line",
                            ));
                        }
                    }
                }
                Err(haproxy::Error::Reply(e)) => {
                    out.push(f(Level::Crit, format!("{name}: bad reply from the Runtime API: {e}")))
                }
                Err(e) => out.push(fix(
                    Level::Crit,
                    format!("{name}: HAProxy is not answering: {}", SourceError::from(e)),
                    "start or reload HAProxy (`systemctl status haproxy`), and check the socket path",
                )),
            }
        }
        None => out.push(f(
            Level::Warn,
            "no [[haproxy]] with a `socket`: process and server checks skipped",
        )),
    }

    // 3. Binds: listening, and on an address this host has.
    let ips = local_ips();
    let nonlocal = sysctl("net.ipv4.ip_nonlocal_bind").unwrap_or(0) == 1;
    for (proxy, sa) in &facts.binds {
        let ip = sa.ip();
        if !ip.is_unspecified() && !ips.contains(&ip) && !nonlocal {
            out.push(fix(
                Level::Warn,
                format!("{proxy}: bind {sa} is on an address this host does not have (a VIP on the other node?)"),
                "set net.ipv4.ip_nonlocal_bind = 1 (sysctl), or HAProxy fails to start here (seed 001's VIP pitfall)",
            ));
            continue;
        }
        let target = if ip.is_unspecified() {
            SocketAddr::new(
                if sa.is_ipv4() {
                    IpAddr::from([127, 0, 0, 1])
                } else {
                    IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])
                },
                sa.port(),
            )
        } else {
            *sa
        };
        match tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(target)).await {
            Ok(Ok(_)) => out.push(f(Level::Ok, format!("{proxy}: bind {sa} is listening"))),
            _ if !ips.contains(&ip) && !ip.is_unspecified() => {}
            _ => out.push(fix(
                Level::Crit,
                format!("{proxy}: bind {sa} is in the config but nothing listens there"),
                "reload HAProxy if the file changed; else find who holds the port (`ss -ltnp`)",
            )),
        }
    }

    // 4. Kernel and limits against maxconn.
    if let Some(maxconn) = facts.maxconn {
        for (k, v) in [
            ("net.core.somaxconn", sysctl("net.core.somaxconn")),
            ("net.ipv4.tcp_max_syn_backlog", sysctl("net.ipv4.tcp_max_syn_backlog")),
        ] {
            if let Some(v) = v {
                if v < maxconn.min(65_535) {
                    out.push(fix(
                        Level::Warn,
                        format!(
                            "{k} = {v} is below the global maxconn {maxconn}: bursts of new connections are dropped"
                        ),
                        format!("sysctl -w {k}={}", maxconn.min(65_535)),
                    ));
                }
            }
        }
        if let Some(p) = pid {
            let limit = std::fs::read_to_string(format!("/proc/{p}/limits")).ok().and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Max open files"))
                    .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse::<u64>().ok()))
            });
            if let Some(l) = limit {
                // Each connection takes up to two descriptors (client and server).
                if l < 2 * maxconn {
                    out.push(fix(
                        Level::Warn,
                        format!("HAProxy may open {l} files, less than 2 × maxconn ({maxconn})"),
                        "raise LimitNOFILE in the haproxy unit, or lower maxconn",
                    ));
                } else {
                    out.push(f(Level::Ok, format!("open-files limit {l} covers maxconn {maxconn}")));
                }
            }
        }
    }

    // 5. Certificates.
    let now = chrono::Utc::now().timestamp();
    for crt in &facts.crts {
        let files: Vec<PathBuf> = if crt.is_dir() {
            std::fs::read_dir(crt)
                .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
                .unwrap_or_default()
        } else {
            vec![crt.clone()]
        };
        for file in files {
            match std::fs::read(&file) {
                Ok(pem) => {
                    let certs = cert_days(&pem, now);
                    if certs.is_empty() {
                        out.push(f(Level::Warn, format!("{}: no certificate in it", file.display())));
                    }
                    for (subject, days) in certs {
                        let level = if days < 7 {
                            Level::Crit
                        } else if days < 30 {
                            Level::Warn
                        } else {
                            Level::Ok
                        };
                        let when = if days < 0 {
                            format!("expired {} days ago", -days)
                        } else {
                            format!("expires in {days} days")
                        };
                        let text = format!("{}: {subject} {when}", file.display());
                        out.push(if level == Level::Ok {
                            f(level, text)
                        } else {
                            fix(level, text, "renew the certificate and reload HAProxy")
                        });
                    }
                }
                Err(e) => out.push(f(Level::Crit, format!("{}: {e}", file.display()))),
            }
        }
    }

    // 6. Backends and servers.
    if let Some(stat) = stat {
        let mut usable: std::collections::BTreeMap<String, (u32, u32)> = Default::default();
        for r in stat.rows() {
            match r.kind() {
                RowType::Backend => {
                    usable.entry(r.pxname.to_string()).or_default();
                }
                RowType::Server => {
                    let e = usable.entry(r.pxname.to_string()).or_default();
                    e.1 += 1;
                    let st = ServerStatus::parse(&r.status).state;
                    if matches!(st, State::Up | State::NoCheck) {
                        e.0 += 1;
                    }
                    if !matches!(st, State::Up | State::NoCheck) || r.status.contains('/') {
                        let chk = [r.check_status.as_ref(), r.last_chk.as_ref()].join(" ");
                        out.push(fix(
                            Level::Warn,
                            format!("server {}/{} is {} (check: {})", r.pxname, r.svname, r.status, chk.trim()),
                            "see its check result; `hawatch ctl recover` brings back servers an operator left in MAINT or DRAIN",
                        ));
                    }
                }
                _ => {}
            }
        }
        for (b, (up, all)) in usable {
            if all > 0 && up == 0 {
                out.push(fix(
                    Level::Crit,
                    format!("backend {b} has no usable server (0 of {all})"),
                    "requests to it get 503: bring one of its servers back",
                ));
            }
        }
    }
    out
}

/// keepalived, when it is installed at `bin` (nothing to say otherwise):
/// that it can start, and what its version needs of the notify FIFO.
pub(crate) fn examine_keepalived(config: &Config, bin: &Path) -> Vec<Finding> {
    if !bin.exists() {
        return Vec::new();
    }
    let out = match std::process::Command::new(bin).arg("--version").output() {
        Ok(o) => o,
        Err(e) => return vec![f(Level::Warn, format!("cannot run {} --version: {e}", bin.display()))],
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Debian 13's keepalived (2.3) reads its build options from this file at
    // every start and stops without it, before reading its config.
    if text.contains("Unable to read build config options file") {
        return vec![fix(
            Level::Crit,
            format!("{} cannot start: \"Unable to read build config options file\"", bin.display()),
            "it reads /etc/keepalived/keepalived.config-opts, which its package installs: restore that file (`apt-get install --reinstall keepalived`)",
        )];
    }
    let Some(version) = text.split_whitespace().find_map(|w| {
        w.strip_prefix('v')
            .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
    }) else {
        return vec![f(
            Level::Warn,
            format!("{} --version said: {}", bin.display(), text.trim()),
        )];
    };
    let mut found = vec![f(Level::Ok, format!("keepalived {version} ({})", bin.display()))];
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    // keepalived 2.4 opens a FIFO it did not create only if its owner is
    // root or the user named in `notify_fifo PATH USER`.
    let fifo = config.keepalived.as_ref().and_then(|k| k.notify_fifo.as_ref());
    if let Some(uid) = fifo
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
    {
        if (major, minor) >= (2, 4) && uid != 0 {
            found.push(fix(
                Level::Warn,
                format!(
                    "keepalived {version} opens the notify FIFO {} only if keepalived.conf names its owner (uid {uid})",
                    fifo.map(|p| p.display().to_string()).unwrap_or_default()
                ),
                "write `notify_fifo PATH USER` with the user `hawatch watch` runs as (`hawatch keepalived-config --fifo-owner USER` does)",
            ));
        }
    }
    found
}

/// `hawatch doctor`: prints the findings (or `--json`); 0 / 1 / 2.
pub(crate) async fn run(
    config: Config,
    cfg_path: PathBuf,
    haproxy: PathBuf,
    keepalived: PathBuf,
    json: bool,
) -> anyhow::Result<u8> {
    let mut findings = examine(&config, &cfg_path, &haproxy).await;
    findings.extend(examine_keepalived(&config, &keepalived));
    let worst = findings.iter().map(|x| x.level).max().unwrap_or(Level::Ok);
    let code = match worst {
        Level::Ok => 0,
        Level::Warn => 1,
        Level::Crit => 2,
    };
    if json {
        println!("{}", crate::text::json_pretty(&findings)?);
        return Ok(code);
    }
    for x in &findings {
        let tag = match x.level {
            Level::Ok => "ok  ",
            Level::Warn => "WARN",
            Level::Crit => "CRIT",
        };
        // Findings quote HAProxy's output and files: shown, never obeyed (crate::text).
        println!("{tag} {}", crate::text::visible_lines(&x.text));
        if let Some(what) = &x.fix {
            println!("       → {}", crate::text::visible_lines(what));
        }
    }
    let (w, c) = (
        findings.iter().filter(|x| x.level == Level::Warn).count(),
        findings.iter().filter(|x| x.level == Level::Crit).count(),
    );
    println!("{c} critical, {w} warning(s)");
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_certificates_and_maxconn_from_a_config() {
        let cfg = "global\n    maxconn 20000\n\nfrontend fe\n    bind :80\n    bind 10.9.9.9:443 ssl crt /etc/ssl/site.pem # comment\n\
                   listen li\n    bind 127.0.0.1:8080,127.0.0.1:8081\n    bind /run/x.sock\nbackend be\n    server s 1.2.3.4:80\n";
        let f = facts(cfg, Path::new("/etc/haproxy"));
        assert_eq!(f.maxconn, Some(20000));
        let binds: Vec<String> = f.binds.iter().map(|(p, a)| format!("{p} {a}")).collect();
        assert_eq!(
            binds,
            [
                "fe 0.0.0.0:80",
                "fe 10.9.9.9:443",
                "li 127.0.0.1:8080",
                "li 127.0.0.1:8081"
            ]
        );
        assert_eq!(f.crts, [PathBuf::from("/etc/ssl/site.pem")]);
    }
}
