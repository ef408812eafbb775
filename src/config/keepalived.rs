//! `[keepalived]`: VRRP role changes, the pair's VIPs and the peer's
//! hawatch (docs/keepalived.md).

use std::path::PathBuf;
use std::time::Duration;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::problems::{check_http_url, secret_or_file, Problems};
use super::secret::Secret;
use super::value::{self, Dur};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileKeepalived {
    /// keepalived's `notify_fifo`; the watcher reads it (and creates it if needed).
    pub(crate) notify_fifo: Option<String>,
    /// The VIPs of the pair.
    pub(crate) vips: Option<Vec<String>>,
    /// A FAULT followed by another state within this long is not told (keepalived's start).
    pub(crate) fault_grace: Option<Dur>,
    /// Who tells HAProxy's events (default: always this node).
    pub(crate) backend_alerts: Option<BackendAlerts>,
    /// The peer's hawatch, `http://IP:PORT` of its [http] listener: asked which VIPs it holds.
    pub(crate) peer: Option<String>,
    pub(crate) peer_username: Option<String>,
    pub(crate) peer_password: Option<Secret>,
    pub(crate) peer_password_file: Option<String>,
    /// The peer silent (or not polling) this long: the node without the VIP tells for it.
    pub(crate) takeover_after: Option<Dur>,
    /// A sink of the peer that has not delivered for this long: taken over.
    pub(crate) takeover_after_stuck: Option<Dur>,
    /// The peer well again for this long: the takeover ends.
    pub(crate) handback_after: Option<Dur>,
}

/// `backend_alerts = "always" | "vip-holder"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum BackendAlerts {
    /// Every node tells HAProxy's events.
    #[default]
    Always,
    /// Only the node holding a VIP tells them.
    VipHolder,
}

/// `[keepalived]`, validated.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Keepalived {
    pub(crate) notify_fifo: Option<PathBuf>,
    pub(crate) vips: Vec<std::net::IpAddr>,
    #[serde(serialize_with = "value::dur")]
    pub(crate) fault_grace: Duration,
    /// `backend_alerts = "vip-holder"`.
    #[serde(rename = "backend_alerts", serialize_with = "backend_alerts")]
    pub(crate) vip_holder_alerts_only: bool,
    /// The peer's hawatch base URL and its basic auth.
    #[serde(flatten, serialize_with = "peer")]
    pub(crate) peer: Option<(String, Option<(String, Secret)>)>,
    #[serde(serialize_with = "value::dur")]
    pub(crate) takeover_after: Duration,
    #[serde(serialize_with = "value::dur")]
    pub(crate) takeover_after_stuck: Duration,
    #[serde(serialize_with = "value::dur")]
    pub(crate) handback_after: Duration,
}

fn backend_alerts<S: Serializer>(only: &bool, s: S) -> Result<S::Ok, S::Error> {
    let b = if *only {
        BackendAlerts::VipHolder
    } else {
        BackendAlerts::Always
    };
    b.serialize(s)
}

type Peer = Option<(String, Option<(String, Secret)>)>;

fn peer<S: Serializer>(peer: &Peer, s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(None)?;
    if let Some((url, auth)) = peer {
        m.serialize_entry("peer", url)?;
        if let Some((user, pw)) = auth {
            m.serialize_entry("peer_username", user)?;
            m.serialize_entry("peer_password", pw)?;
        }
    }
    m.end()
}

pub(super) fn validate(k: FileKeepalived, p: &mut Problems) -> Keepalived {
    let mut vips = Vec::new();
    for v in k.vips.unwrap_or_default() {
        match v.trim().parse() {
            Ok(ip) => vips.push(ip),
            Err(_) => p.at("keepalived.vips", format!("{v:?} is not an IP address")),
        }
    }
    let vip_holder_alerts_only = k.backend_alerts.unwrap_or_default() == BackendAlerts::VipHolder;
    if vip_holder_alerts_only && vips.is_empty() {
        p.at("keepalived.backend_alerts", "\"vip-holder\" needs `vips`");
    }
    let pw = secret_or_file(k.peer_password, k.peer_password_file, p, "keepalived.peer_password");
    let peer = k.peer.map(|u| {
        let u = u.trim_end_matches('/').to_string();
        if let Err(e) = check_http_url(&u) {
            p.at("keepalived.peer", e);
        }
        (u, k.peer_username.zip(pw))
    });
    let takeover_after = value::or(k.takeover_after, Duration::from_secs(5));
    let takeover_after_stuck = value::or(k.takeover_after_stuck, Duration::from_secs(60));
    let handback_after = value::or(k.handback_after, Duration::from_secs(10));
    // The peer is asked once a second with a 1 s timeout: less than 2 s
    // would take over on one slow answer.
    if takeover_after < Duration::from_secs(2) {
        p.at(
            "keepalived.takeover_after",
            "must be at least 2s (the peer is asked once a second)",
        );
    }
    if takeover_after_stuck < takeover_after {
        p.at("keepalived.takeover_after_stuck", "must be at least `takeover_after`");
    }
    if handback_after < Duration::from_secs(1) {
        p.at("keepalived.handback_after", "must be at least 1s");
    }
    Keepalived {
        notify_fifo: k.notify_fifo.map(PathBuf::from),
        vips,
        fault_grace: value::or(k.fault_grace, Duration::from_secs(3)),
        vip_holder_alerts_only,
        peer,
        takeover_after,
        takeover_after_stuck,
        handback_after,
    }
}
