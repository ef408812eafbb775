//! The running HAProxy, through the Runtime API: which socket (the
//! config's own unless hawatch.toml says otherwise), servers and backends,
//! the socket's level, and the master CLI from the master's `-S`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use haproxy::cfg::Cfg;
use haproxy::{Endpoint, RowType, ServerStatus, State};

use crate::config::{Config, Source};
use crate::logic::lint::file::{stats_socket_lines, StatsSocket};
use crate::logic::lint::{Finding, Level, Version};
use crate::model::snapshot::SourceError;

/// The worker and its master.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pids {
    pub(crate) worker: u32,
    pub(crate) master: Option<u32>,
}

pub(super) struct Process {
    pub(super) version: Option<Version>,
    pub(super) findings: Vec<Finding>,
    pub(super) pids: Option<Pids>,
    /// `Nbthread` of `show info` (1 if unknown).
    pub(super) threads: u32,
}

/// Where the Runtime API is, and who said so.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Chosen {
    /// hawatch.toml's [[haproxy]] (name) or [check].
    Written { what: String, ep: Endpoint },
    /// haproxy.cfg's `stats socket` line.
    FromCfg(StatsSocket, Endpoint),
    /// Nothing anywhere: the default path.
    Default(Endpoint),
}

impl Chosen {
    fn ep(&self) -> &Endpoint {
        match self {
            Chosen::Written { ep, .. } | Chosen::FromCfg(_, ep) | Chosen::Default(ep) => ep,
        }
    }
}

/// The Runtime API doctor asks: [[haproxy]]'s `socket` when hawatch.toml
/// (or `HAPROXY_SOCKET`) names one, else [check]'s written `socket`, else
/// haproxy.cfg's first `stats socket` (a unix one first), else the default.
pub(crate) fn choose(config: &Config, cfg: &Cfg) -> Chosen {
    let env_socket = std::env::var_os("HAPROXY_SOCKET").is_some_and(|v| !v.is_empty());
    if config.path.is_some() || env_socket {
        if let Some((name, ep, _)) = super::super::socket_instances(config).into_iter().next() {
            return Chosen::Written {
                what: format!("[[haproxy]] {name}"),
                ep,
            };
        }
    }
    if let Some(h) = config.check.as_ref().filter(|h| h.socket_given) {
        return Chosen::Written {
            what: "[check]".into(),
            ep: h.socket.clone(),
        };
    }
    let socks = stats_socket_lines(cfg);
    let pick = socks
        .iter()
        .find(|s| s.path().is_some())
        .or_else(|| socks.iter().find(|s| s.endpoint().is_some()));
    if let Some(s) = pick {
        if let Some(ep) = s.endpoint().and_then(|e| Endpoint::parse(&e).ok()) {
            return Chosen::FromCfg(s.clone(), ep);
        }
    }
    Chosen::Default(Endpoint::Unix(PathBuf::from(crate::config::DEFAULT_SOCKET)))
}

/// The `-S` socket on a master's command line (`-S /run/m.sock,mode,600`).
pub(crate) fn master_socket_arg(cmdline: &[String]) -> Option<String> {
    let mut it = cmdline.iter();
    while let Some(a) = it.next() {
        let v = if a == "-S" {
            it.next().cloned()
        } else {
            a.strip_prefix("-S").filter(|v| !v.is_empty()).map(str::to_string)
        };
        if let Some(v) = v {
            let path = v.split(',').next().unwrap_or("").to_string();
            return Some(path.strip_prefix("unix@").map(str::to_string).unwrap_or(path));
        }
    }
    None
}

fn read_cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A field of `/proc/PID/status` (`PPid`, `Uid`, `VmRSS`), first word.
pub(crate) fn status_field(pid: u32, key: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .map(str::to_string)
}

/// `/proc/PID/comm` says haproxy.
fn is_haproxy(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim().starts_with("haproxy"))
}

/// A unix socket, or TCP to a loopback address: the process is on this host.
fn is_local(ep: &Endpoint) -> bool {
    match ep {
        Endpoint::Unix(_) => true,
        Endpoint::Tcp(hp) => {
            let host = hp.rsplit_once(':').map_or(hp.as_str(), |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
    }
}

/// The master of a worker: its parent, when that is an haproxy process.
fn master_of(worker: u32) -> Option<u32> {
    let ppid: u32 = status_field(worker, "PPid")?.parse().ok()?;
    is_haproxy(ppid).then_some(ppid)
}

pub(super) async fn examine(config: &Config, cfg: &Cfg) -> Process {
    let mut out = Vec::new();
    let chosen = choose(config, cfg);
    let ep = chosen.ep().clone();
    let (source, place) = match &chosen {
        Chosen::Written { what, .. } => (format!("from hawatch.toml's {what}"), None),
        Chosen::FromCfg(s, _) => (
            "the config's `stats socket`".to_string(),
            Some((s.file.clone(), s.line)),
        ),
        Chosen::Default(_) => (
            "the default: neither haproxy.cfg nor hawatch.toml names a socket".to_string(),
            None,
        ),
    };
    // A written socket haproxy.cfg does not declare (when it declares any).
    if let Chosen::Written { what, ep } = &chosen {
        let declared: Vec<Endpoint> = stats_socket_lines(cfg)
            .iter()
            .filter_map(|s| Endpoint::parse(&s.endpoint()?).ok())
            .collect();
        if !declared.is_empty() && !declared.contains(ep) {
            let names: Vec<String> = declared.iter().map(ToString::to_string).collect();
            out.push(
                Finding::new(
                    "HW004",
                    Level::Warn,
                    format!(
                        "hawatch.toml's {what} uses {ep}, but haproxy.cfg declares {}",
                        names.join(", ")
                    ),
                )
                .fix("point hawatch.toml at one of the config's `stats socket` paths"),
            );
        }
    }
    let timeout = config
        .instances
        .iter()
        .find_map(|i| match &i.source {
            Source::Socket(e) if *e == ep => Some(i.timeout),
            _ => None,
        })
        .unwrap_or_default()
        .max(Duration::from_secs(2));
    let client = crate::source::socket_client(&ep, timeout);
    let at = |f: Finding| match &place {
        Some((file, line)) => f.at(file.clone(), *line),
        None => f,
    };
    let (info, stat) = match client.show_info_stat().await {
        Ok(x) => x,
        Err(e) => {
            let why = match e {
                haproxy::Error::Reply(e) => format!("a bad reply: {e}"),
                e => SourceError::from(e).to_string(),
            };
            out.push(at(Finding::new(
                "HW002",
                Level::Crit,
                format!("the Runtime API {ep} ({source}) does not answer: {why}"),
            )
            .fix("start or reload HAProxy (`systemctl status haproxy`); check the socket path and that this user may open it")));
            return Process {
                version: None,
                findings: out,
                pids: None,
                threads: 1,
            };
        }
    };
    let version_text = info.version.clone().unwrap_or_default();
    // The pid HAProxy reports is looked up in this host's /proc only when it
    // is this host's process: a local socket, and an haproxy by that pid (not
    // a container's HAProxy whose pid means something else here).
    let worker = info
        .pid
        .and_then(|p| u32::try_from(p).ok())
        .filter(|_| is_local(&ep))
        .filter(|p| is_haproxy(*p));
    let threads = info
        .fields
        .iter()
        .find(|(k, _)| k == "Nbthread")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(1);
    out.push(at(Finding::new(
        "HW002",
        Level::Ok,
        format!(
            "HAProxy {version_text} running, pid {}; Runtime API {ep} ({source})",
            info.pid.unwrap_or(0)
        ),
    )));
    let level = client.clone().max_reply(4096).show_cli_level().await.ok();
    if level == Some(haproxy::CliLevel::Admin) {
        out.push(at(Finding::new(
            "HW003",
            Level::Ok,
            format!("the stats socket {ep} is at level admin"),
        )));
    } else {
        let level = level.map_or("unknown", |l| l.as_str());
        out.push(at(Finding::new(
            "HW003",
            Level::Warn,
            format!("the stats socket {ep} is at level {level}"),
        )
        .fix(
            "`hawatch ctl` needs `level admin` on the `stats socket` line (the watcher needs only `operator`)",
        )));
    }
    // Servers and backends.
    let mut usable: BTreeMap<String, (u32, u32)> = BTreeMap::new();
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
                    out.push(Finding::new(
                        "HW005",
                        Level::Warn,
                        format!("server {}/{} is {} (check: {})", r.pxname, r.svname, r.status, chk.trim()),
                    )
                    .fix("see its check result; `hawatch ctl recover` brings back servers an operator left in MAINT or DRAIN"));
                }
            }
            _ => {}
        }
    }
    for (b, (up, all)) in usable {
        if all > 0 && up == 0 {
            out.push(
                Finding::new(
                    "HW006",
                    Level::Crit,
                    format!("backend {b} has no usable server (0 of {all})"),
                )
                .fix("requests to it get 503: bring one of its servers back"),
            );
        }
    }
    // The master CLI, from the running master's command line.
    let master = worker.and_then(master_of);
    if let Some(m) = master {
        let arg = master_socket_arg(&read_cmdline(m));
        let written = config.apply.as_ref().and_then(|a| match &a.reload {
            crate::config::Reload::MasterCli(ep) => Some(ep.clone()),
            _ => None,
        });
        match (arg, written) {
            (Some(path), Some(w)) if Endpoint::parse(&path).ok().as_ref() != Some(&w) => out.push(
                Finding::new(
                    "HW007",
                    Level::Warn,
                    format!("[apply] master_socket is {w}, but the running master (pid {m}) has `-S {path}`"),
                )
                .fix(format!("set [apply] master_socket = {path:?}")),
            ),
            (Some(path), _) => out.push(Finding::new(
                "HW007",
                Level::Ok,
                format!("master CLI {path} (`-S` of the master, pid {m})"),
            )),
            (None, Some(w)) => out.push(
                Finding::new(
                    "HW007",
                    Level::Warn,
                    format!("[apply] reloads through the master CLI {w}, but the running master (pid {m}) was started without `-S`"),
                )
                .fix("start HAProxy with `-W -S PATH` (Debian: EXTRAOPTS in /etc/default/haproxy), or set [apply] reload = \"systemd\""),
            ),
            (None, None) => {}
        }
    }
    Process {
        version: Version::parse(&version_text),
        findings: out,
        pids: worker.map(|w| Pids { worker: w, master }),
        threads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_socket_from_its_command_line() {
        let v = |a: &[&str]| master_socket_arg(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            v(&[
                "/usr/sbin/haproxy",
                "-Ws",
                "-f",
                "/etc/haproxy/haproxy.cfg",
                "-p",
                "/run/haproxy.pid",
                "-S",
                "/run/haproxy-master.sock"
            ])
            .as_deref(),
            Some("/run/haproxy-master.sock")
        );
        assert_eq!(
            v(&["haproxy", "-W", "-S/run/m.sock,mode,600"]).as_deref(),
            Some("/run/m.sock")
        );
        assert_eq!(
            v(&["haproxy", "-W", "-S", "unix@/run/m.sock,level,admin"]).as_deref(),
            Some("/run/m.sock")
        );
        assert_eq!(v(&["haproxy", "-Ws", "-f", "x"]), None);
    }

    #[test]
    fn the_socket_comes_from_the_config_unless_hawatch_toml_names_one() {
        let cfg = Cfg::parse(
            "h.cfg",
            include_str!("../../../tests/fixtures/doctor/seed-001-haproxy.cfg"),
        );
        // A config from the environment with no HAPROXY_SOCKET: the config's socket.
        let env_only = Config::parse(
            "[[haproxy]]\nname = \"haproxy\"\nsocket = \"/var/run/haproxy.sock\"\n",
            "(environment)",
        )
        .unwrap();
        if std::env::var_os("HAPROXY_SOCKET").is_none() {
            match choose(&env_only, &cfg) {
                Chosen::FromCfg(s, ep) => {
                    assert_eq!(ep, Endpoint::Unix("/var/lib/haproxy/haproxy.sock1".into()));
                    assert_eq!(s.line, 4);
                }
                other => panic!("{other:?}"),
            }
        }
        // hawatch.toml with [check] socket written.
        let mut only_check = Config::parse("[check]\nsocket = \"/run/x.sock\"\n", "f").unwrap();
        only_check.path = Some("/etc/hawatch/hawatch.toml".into());
        assert_eq!(
            choose(&only_check, &cfg),
            Chosen::Written {
                what: "[check]".into(),
                ep: Endpoint::Unix("/run/x.sock".into())
            }
        );
        // [check] without a socket: the config's.
        let mut check_default = Config::parse("[check]\nmin_up = { app = 1 }\n", "f").unwrap();
        check_default.path = Some("/etc/hawatch/hawatch.toml".into());
        assert!(matches!(choose(&check_default, &cfg), Chosen::FromCfg(..)));
        // Nothing at all: the default.
        assert!(matches!(
            choose(&check_default, &Cfg::parse("h", "global\n    daemon\n")),
            Chosen::Default(_)
        ));
    }
}
