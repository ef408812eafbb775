//! `[agent]`: `hawatch agent`, the agent-check server (docs/agent.md); its
//! checks are in [`super::agent_check`].

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::agent_check::{self, AgentCheck, FileCheck};
use super::problems::Problems;
use super::value::{self, Dur, OneOrMany};

pub(crate) const DEFAULT_AGENT_LISTEN: &str = "127.0.0.1:3333";
pub(crate) const DEFAULT_AGENT_STORE: &str = "/var/lib/hawatch/agent.db";

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileAgent {
    /// The name events carry as their instance (default: the host name).
    pub(crate) name: Option<String>,
    /// `IP:PORT`, one or a list (default 127.0.0.1:3333).
    pub(crate) listen: Option<OneOrMany>,
    /// Client networks allowed besides loopback (CIDR or single addresses).
    pub(crate) allow: Option<OneOrMany>,
    /// Connections served at once; more are closed unanswered (default 1024).
    pub(crate) max_connections: Option<usize>,
    /// Per-connection read/write timeout (default 2s).
    pub(crate) timeout: Option<Dur>,
    /// How long to wait for HAProxy's `agent-send` string when a check has a `service` (default 200ms).
    pub(crate) send_wait: Option<Dur>,
    /// SQLite store for the agent's events (default /var/lib/hawatch/agent.db).
    pub(crate) store: Option<String>,
    /// `IP:PORT` for /metrics and /healthz of the agent (default: none).
    pub(crate) metrics_listen: Option<String>,
    #[serde(default)]
    pub(crate) check: Vec<FileCheck>,
}

/// `[agent]`, validated.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Agent {
    pub(crate) name: String,
    pub(crate) listen: Vec<std::net::SocketAddr>,
    /// Loopback is always allowed; these are added.
    #[serde(serialize_with = "value::texts")]
    pub(crate) allow: Vec<ipnet::IpNet>,
    pub(crate) max_connections: usize,
    #[serde(serialize_with = "value::dur")]
    pub(crate) timeout: Duration,
    #[serde(serialize_with = "value::dur")]
    pub(crate) send_wait: Duration,
    pub(crate) store: PathBuf,
    pub(crate) metrics_listen: Option<std::net::SocketAddr>,
    #[serde(rename = "check")]
    pub(crate) checks: Vec<AgentCheck>,
}

pub(super) fn validate(f: FileAgent, p: &mut Problems) -> Agent {
    let mut listen = Vec::new();
    for l in f
        .listen
        .map(|l| l.into_vec())
        .unwrap_or_else(|| vec![DEFAULT_AGENT_LISTEN.to_string()])
    {
        match l.trim().parse::<std::net::SocketAddr>() {
            Ok(a) => listen.push(a),
            Err(_) => p.at(
                "agent.listen",
                format!("{l:?} is not IP:PORT (e.g. \"127.0.0.1:3333\", \"[::]:3333\")"),
            ),
        }
    }
    if listen.is_empty() {
        p.at("agent.listen", "at least one address to listen on");
    }
    let mut allow = Vec::new();
    for a in f.allow.map(|a| a.into_vec()).unwrap_or_default() {
        let a = a.trim();
        let net = a
            .parse::<ipnet::IpNet>()
            .or_else(|_| a.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match net {
            Ok(n) => allow.push(n.trunc()),
            Err(_) => p.at(
                "agent.allow",
                format!("{a:?} is not a network (10.0.0.0/8) or an address"),
            ),
        }
    }
    let metrics_listen = match f.metrics_listen.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(l) => match l.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                p.at("agent.metrics_listen", format!("{l:?} is not IP:PORT"));
                None
            }
        },
    };
    let max_connections = f.max_connections.unwrap_or(1024);
    if max_connections == 0 {
        p.at("agent.max_connections", "must be at least 1");
    }
    let mut checks: Vec<AgentCheck> = Vec::new();
    for (i, c) in f.check.into_iter().enumerate() {
        if let Some(c) = agent_check::validate(c, p, i) {
            if checks.iter().any(|o| o.name == c.name) {
                p.at(
                    &format!("agent.check[{i}].name"),
                    format!("duplicate check name {:?}", c.name),
                );
            }
            checks.push(c);
        }
    }
    Agent {
        name: f
            .name
            .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned()),
        listen,
        allow,
        max_connections: max_connections.max(1),
        timeout: value::or(f.timeout, Duration::from_secs(2)),
        send_wait: value::or(f.send_wait, Duration::from_millis(200)),
        store: PathBuf::from(f.store.unwrap_or_else(|| DEFAULT_AGENT_STORE.to_string())),
        metrics_listen,
        checks,
    }
}
