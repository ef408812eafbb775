//! The event: one thing that happened to an HAProxy instance, backend or
//! server. Events are created by the diff, committed to the store, and only
//! then handed to sinks. Their JSON form is the webhook contract
//! (`docs/events.md`); field names here are that contract.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// What happened. The `snake_case` names are stable: they appear in the store,
/// in webhook payloads and in `hawatch events --kind`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    PartialOrd,
    Ord,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub(crate) enum Kind {
    ServerDown,
    ServerUp,
    ServerNolb,
    ServerMaint,
    ServerDrain,
    ServerReady,
    CheckChanged,
    AgentChanged,
    ServerAdded,
    ServerRemoved,
    BackendDown,
    BackendUp,
    InstanceUnreachable,
    InstanceRecovered,
    InstanceRestarted,
    /// A Prometheus alert, received from Alertmanager on `/alertmanager`, firing.
    AlertFiring,
    /// That alert, resolved.
    AlertResolved,
    /// `hawatch agent` changed what it tells HAProxy (up, down, maint, drain).
    AgentStateChanged,
    /// keepalived: this node became MASTER of a VRRP instance (it holds the VIPs).
    VrrpMaster,
    /// keepalived: BACKUP.
    VrrpBackup,
    /// keepalived: FAULT (its checks or interface failed).
    VrrpFault,
    /// keepalived: the instance stopped (keepalived shut down).
    VrrpStop,
    /// Both nodes of the pair hold a VIP.
    VrrpSplitBrain,
    /// The peer's hawatch does not answer while this node is BACKUP: nobody may hold the VIP.
    VrrpPeerUnreachable,
    /// The pair is consistent again (one VIP holder, peer answering).
    VrrpPairOk,
    /// This node, without the VIP, tells HAProxy's events for its peer, whose
    /// watcher is silent, hung or cannot deliver.
    PairTakeover,
    /// The peer tells them again (or this node got the VIP): the takeover ended.
    PairHandback,
    /// An operator changed a server through `hawatch ctl` (who, what, HAProxy's reply).
    AuditCtl,
    /// `hawatch apply` installed a configuration (or rolled it back).
    AuditApply,
}

/// What the table says of a kind: its icon (as in the seed's Feishu cards),
/// its usual severity (the diff may lower it, e.g. a server DOWN for an
/// unknown reason is a warning) and its title in each language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KindInfo {
    pub(crate) kind: Kind,
    pub(crate) icon: &'static str,
    pub(crate) severity: Severity,
    pub(crate) zh: &'static str,
    pub(crate) en: &'static str,
}

const fn k(kind: Kind, icon: &'static str, severity: Severity, zh: &'static str, en: &'static str) -> KindInfo {
    KindInfo {
        kind,
        icon,
        severity,
        zh,
        en,
    }
}

use Severity::{Critical as C, Info as I, Warning as W};

/// Every kind, in [`Kind`]'s order: the one place its icon, usual severity
/// and labels are written. docs/events.md and docs/templates.md list them
/// (a test checks every kind is there).
#[rustfmt::skip]
pub(crate) const KINDS: [KindInfo; 29] = [
    k(Kind::ServerDown, "❌", C, "服务器故障", "Server DOWN"),
    k(Kind::ServerUp, "✅", I, "服务器恢复", "Server UP"),
    k(Kind::ServerNolb, "⚠️", W, "服务器软下线 (NOLB)", "Server soft-stopped (NOLB)"),
    k(Kind::ServerMaint, "🔧", W, "服务器进入维护", "Server in maintenance"),
    k(Kind::ServerDrain, "⏳", W, "服务器排空 (DRAIN)", "Server draining"),
    k(Kind::ServerReady, "✅", I, "服务器恢复服务", "Server back in service"),
    k(Kind::CheckChanged, "🩺", W, "健康检查状态变更", "Health check changed"),
    k(Kind::AgentChanged, "🩺", W, "Agent 检查状态变更", "Agent check changed"),
    k(Kind::ServerAdded, "🆕", I, "新增后端服务器", "Server added"),
    k(Kind::ServerRemoved, "➖", W, "后端服务器移除", "Server removed"),
    k(Kind::BackendDown, "🔥", C, "后端无可用服务器", "Backend has no usable server"),
    k(Kind::BackendUp, "✅", I, "后端恢复可用", "Backend available again"),
    k(Kind::InstanceUnreachable, "🚨", C, "HAProxy 实例不可达", "HAProxy unreachable"),
    k(Kind::InstanceRecovered, "✅", I, "HAProxy 实例恢复", "HAProxy reachable again"),
    k(Kind::InstanceRestarted, "🔄", W, "HAProxy 重启/重载", "HAProxy restarted/reloaded"),
    k(Kind::AlertFiring, "🔴", C, "Prometheus 告警", "Prometheus alert"),
    k(Kind::AlertResolved, "🟢", I, "Prometheus 告警恢复", "Prometheus alert resolved"),
    k(Kind::AgentStateChanged, "📣", W, "Agent 应答变更", "Agent reply changed"),
    k(Kind::VrrpMaster, "👑", W, "VRRP 切换为 MASTER", "VRRP: became MASTER"),
    k(Kind::VrrpBackup, "🔁", W, "VRRP 切换为 BACKUP", "VRRP: became BACKUP"),
    k(Kind::VrrpFault, "🚨", C, "VRRP 进入 FAULT", "VRRP: FAULT"),
    k(Kind::VrrpStop, "⏹️", W, "VRRP 已停止", "VRRP: stopped"),
    k(Kind::VrrpSplitBrain, "🧠", C, "VRRP 脑裂：两节点同时持有 VIP", "VRRP split brain: both nodes hold the VIP"),
    k(Kind::VrrpPeerUnreachable, "📵", C, "VRRP 对端不可达", "VRRP peer unreachable"),
    k(Kind::VrrpPairOk, "🤝", I, "VRRP 主备恢复正常", "VRRP pair consistent again"),
    k(Kind::PairTakeover, "🛟", W, "备节点接管告警发送", "Standby took over alerting"),
    k(Kind::PairHandback, "↩️", W, "告警发送交还主节点", "Alerting handed back to the VIP holder"),
    k(Kind::AuditCtl, "🛠️", W, "运维操作", "Operator action"),
    k(Kind::AuditApply, "📦", W, "配置变更", "Configuration applied"),
];

impl Kind {
    /// Every kind, in declaration order (the table's first column).
    pub(crate) const ALL: [Kind; KINDS.len()] = {
        let mut out = [Kind::ServerDown; KINDS.len()];
        let mut i = 0;
        while i < KINDS.len() {
            out[i] = KINDS[i].kind;
            i += 1;
        }
        out
    };

    /// The stable `snake_case` name (store, payloads, `--kind`).
    pub(crate) fn as_str(self) -> &'static str {
        self.into()
    }

    /// The kind named `s`, if any (see also `FromStr`).
    pub(crate) fn parse(s: &str) -> Option<Kind> {
        s.parse().ok()
    }

    /// This kind's row of [`KINDS`].
    pub(crate) fn info(self) -> &'static KindInfo {
        &KINDS[self as usize]
    }

    /// An icon per kind, as in the seed's Feishu cards: ✅ UP, ❌ DOWN, ⚠️ NOLB,
    /// 🔧 MAINT, 🆕 new.
    pub(crate) fn icon(self) -> &'static str {
        self.info().icon
    }

    /// A problem opens an alert that stays open until its subject recovers:
    /// a server DOWN, a backend without usable server, an unreachable instance.
    pub(crate) fn is_problem(self) -> bool {
        matches!(self, Kind::ServerDown | Kind::BackendDown | Kind::InstanceUnreachable)
    }

    /// A change of a server's state (what flap detection counts).
    pub(crate) fn is_server_state(self) -> bool {
        matches!(
            self,
            Kind::ServerDown
                | Kind::ServerUp
                | Kind::ServerNolb
                | Kind::ServerMaint
                | Kind::ServerDrain
                | Kind::ServerReady
        )
    }

    /// Whether this event ends an open alert of kind `problem` on the same subject.
    pub(crate) fn resolves(self, problem: Kind) -> bool {
        match problem {
            Kind::ServerDown => self.is_server_state() && self != Kind::ServerDown || self == Kind::ServerRemoved,
            Kind::BackendDown => self == Kind::BackendUp,
            Kind::InstanceUnreachable => self == Kind::InstanceRecovered,
            _ => false,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much it matters. Ordered: `info < warning < critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A health-check or agent-check result as HAProxy reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct Check {
    /// `L7OK`, `L4CON`, `L7STS`, ...
    pub(crate) status: String,
    /// L5-L7 code (HTTP status for `httpchk`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<String>,
    /// HAProxy's words for `status` (`Layer4 connection problem`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) desc: Option<String>,
    /// The detail text of the last check (`Connection refused`, `via agent : down (x)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) info: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) duration_ms: Option<u64>,
}

impl Check {
    /// `L4CON Connection refused` / `L7STS 500 Internal Server Error`.
    pub(crate) fn short(&self) -> String {
        let mut s = self.status.clone();
        for part in [&self.code, &self.info] {
            if let Some(p) = part.as_deref().filter(|p| !p.is_empty() && *p != "0") {
                s.push(' ');
                s.push_str(p);
            }
        }
        s
    }
}

/// One event. See `docs/events.md` for every field and kind.
///
/// The rarely set parts (`check`, `agent`, `alert`, `vrrp`) are boxed: a mass
/// outage keeps each of ~11,000 events in the poll, in its notice and in every
/// sink's subject at once, and inline they made an event ~820 bytes (~270 boxed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unique and stable: a UUIDv7 (time-ordered). A redelivered event keeps it.
    pub id: String,
    #[serde(with = "rfc3339")]
    pub(crate) time: DateTime<Utc>,
    /// The `[[haproxy]]` name.
    pub(crate) instance: String,
    pub(crate) kind: Kind,
    pub(crate) severity: Severity,
    pub(crate) backend: Option<String>,
    pub(crate) server: Option<String>,
    /// Previous state (`UP`, `DOWN`, `NOLB`, `DRAIN`, `MAINT`; a check code for
    /// `check_changed`/`agent_changed`; a pid for `instance_restarted`).
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    /// The server's full HAProxy status string now (`MAINT (via be/srv)`, `DOWN (agent)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) check: Option<Box<Check>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) agent: Option<Box<Check>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) addr: Option<String>,
    /// The Prometheus alert, for `alert_firing` / `alert_resolved`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) alert: Option<Box<AlertInfo>>,
    /// The node and its VRRP instance, for `vrrp_*` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) vrrp: Option<Box<VrrpInfo>>,
    /// One line in English saying what happened.
    pub(crate) message: String,
}

/// Where a VRRP role change happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct VrrpInfo {
    /// This node's host name.
    pub(crate) host: String,
    /// `INSTANCE` or `GROUP`, as keepalived says.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) priority: Option<u32>,
    /// The configured VIPs (`[keepalived] vips`).
    pub(crate) vips: Vec<String>,
    /// Of those, the ones this node holds now.
    pub(crate) vips_held: Vec<String>,
    /// This node's addresses (loopback left out).
    pub(crate) addresses: Vec<String>,
    /// Which source told: `notify_fifo` or `vrrp-notify`.
    pub(crate) source: String,
}

/// A Prometheus alert as Alertmanager's webhook told it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct AlertInfo {
    /// `alertname`.
    pub(crate) name: String,
    pub(crate) labels: std::collections::BTreeMap<String, String>,
    pub(crate) annotations: std::collections::BTreeMap<String, String>,
    /// RFC 3339, as Alertmanager sent it.
    pub(crate) starts_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ends_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) generator_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fingerprint: Option<String>,
}

impl Event {
    /// An event that happens now: a new id, the time, and nothing else set;
    /// a producer adds what differs (`Event { backend, ..Event::new(..) }`).
    pub(crate) fn new(
        instance: impl Into<String>,
        kind: Kind,
        severity: Severity,
        message: impl Into<String>,
    ) -> Event {
        Event {
            id: uuid::Uuid::now_v7().to_string(),
            time: Utc::now(),
            instance: instance.into(),
            kind,
            severity,
            backend: None,
            server: None,
            from: None,
            to: None,
            status: None,
            check: None,
            agent: None,
            addr: None,
            alert: None,
            vrrp: None,
            message: message.into(),
        }
    }

    /// `backend/server`, `backend`, or the instance name: what the event is about.
    pub(crate) fn subject(&self) -> String {
        match (&self.backend, &self.server) {
            (Some(b), Some(s)) => format!("{b}/{s}"),
            (Some(b), None) => b.clone(),
            _ => self.instance.clone(),
        }
    }
}

/// RFC 3339 with milliseconds and `Z`, the form every event time takes.
pub(crate) mod rfc3339 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(crate) fn format(t: &DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub(crate) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.as_str()));
        }
        assert!(Severity::Critical > Severity::Warning && Severity::Warning > Severity::Info);
    }

    /// The table has one row per kind, in order, so `info()` can index it.
    #[test]
    fn the_kind_table_is_complete_and_in_order() {
        let variants = <Kind as strum::VariantArray>::VARIANTS;
        assert_eq!(KINDS.len(), variants.len());
        for (row, &k) in KINDS.iter().zip(variants) {
            assert_eq!(row.kind, k);
            assert!(!row.icon.is_empty() && !row.zh.is_empty() && !row.en.is_empty(), "{k}");
        }
    }

    /// Every kind is documented where users look: the payload reference
    /// and the template reference.
    #[test]
    fn every_kind_is_documented() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for doc in ["docs/events.md", "docs/templates.md"] {
            let text = std::fs::read_to_string(root.join(doc)).unwrap();
            let missing: Vec<&str> = Kind::ALL
                .into_iter()
                .map(|k| k.as_str())
                .filter(|name| !text.contains(&format!("`{name}`")))
                .collect();
            assert!(
                missing.is_empty(),
                "{doc} does not name these kinds (as `kind`): {missing:?}"
            );
        }
        // The labels table of docs/templates.md says what the code says.
        let text = std::fs::read_to_string(root.join("docs/templates.md")).unwrap();
        for row in KINDS {
            let line = format!("| `{}` | {} | {} |", row.kind, row.zh, row.en);
            assert!(text.contains(&line), "docs/templates.md lacks the row {line}");
        }
    }
}
