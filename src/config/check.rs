//! `[check]`: what `hawatch check` (keepalived's `vrrp_script`) requires of
//! the local HAProxy (docs/keepalived.md).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use haproxy::Endpoint;
use serde::{Deserialize, Serialize};

use super::instance::DEFAULT_SOCKET;
use super::problems::Problems;
use super::value::{self, Dur};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileHealth {
    /// Runtime API (unix socket path or tcp://HOST:PORT) that must answer.
    pub(crate) socket: Option<String>,
    /// How long HAProxy may take to answer (default 500ms).
    pub(crate) timeout: Option<Dur>,
    /// Present: unhealthy (hand the VIP over).
    pub(crate) maint_file: Option<String>,
    /// Backend → minimum number of usable servers.
    pub(crate) min_up: Option<BTreeMap<String, u32>>,
    /// HAProxy's pid file: that process must exist.
    pub(crate) pid_file: Option<String>,
    /// `IP:PORT`s that must accept a TCP connection (HAProxy's binds, the VIP's included).
    pub(crate) binds: Option<Vec<String>>,
    /// An address that must answer ICMP echo (the gateway): a node cut off from
    /// its network must not hold the VIP.
    pub(crate) gateway: Option<String>,
}

/// `[check]`, validated: what `hawatch check` requires of the local HAProxy.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Health {
    #[serde(serialize_with = "value::text")]
    pub(crate) socket: Endpoint,
    /// `socket` was written (not the default): `doctor` uses it instead of haproxy.cfg's.
    #[serde(skip)]
    pub(crate) socket_given: bool,
    #[serde(serialize_with = "value::dur")]
    pub(crate) timeout: Duration,
    pub(crate) maint_file: Option<PathBuf>,
    pub(crate) min_up: BTreeMap<String, u32>,
    pub(crate) pid_file: Option<PathBuf>,
    pub(crate) binds: Vec<std::net::SocketAddr>,
    pub(crate) gateway: Option<std::net::IpAddr>,
}

pub(super) fn validate(f: FileHealth, p: &mut Problems) -> Health {
    let socket_given = f.socket.is_some();
    let raw = f.socket.unwrap_or_else(|| DEFAULT_SOCKET.to_string());
    let socket = Endpoint::parse(&raw).unwrap_or_else(|e| {
        p.at("check.socket", e);
        Endpoint::Unix(PathBuf::from(DEFAULT_SOCKET))
    });
    let timeout = value::or(f.timeout, Duration::from_millis(500));
    if timeout.is_zero() {
        p.at("check.timeout", "must be more than 0");
    }
    let mut binds = Vec::new();
    for b in f.binds.unwrap_or_default() {
        match b.trim().parse() {
            Ok(a) => binds.push(a),
            Err(_) => p.at("check.binds", format!("{b:?} is not IP:PORT")),
        }
    }
    let gateway = f.gateway.as_deref().and_then(|g| match g.trim().parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            p.at("check.gateway", format!("{g:?} is not an IP address"));
            None
        }
    });
    Health {
        socket,
        socket_given,
        timeout,
        maint_file: f.maint_file.map(PathBuf::from),
        min_up: f.min_up.unwrap_or_default(),
        pid_file: f.pid_file.map(PathBuf::from),
        binds,
        gateway,
    }
}
