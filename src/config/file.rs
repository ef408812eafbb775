//! The TOML file as written by the operator: every key documented here is
//! documented in `docs/config.md`, and any other key is an error.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use super::secret::Secret;

/// A duration written as `"2s"`, `"500ms"`, `"1h 30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub std::time::Duration);

/// The longest duration any setting takes. Intervals, timeouts, quiet
/// hours, `remind_every`, `retention` and the like are added to clock
/// times and instants, multiplied and turned into milliseconds; past this
/// they could overflow (`9999999999d`), so the file is refused instead.
pub const MAX_DUR: std::time::Duration = std::time::Duration::from_secs(100 * 366 * 86400);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let s = String::deserialize(d)?;
        let d = humantime::parse_duration(s.trim()).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {s:?} ({e}): write a number and a unit, e.g. \"500ms\", \"2s\", \"5m\""
            ))
        })?;
        if d > MAX_DUR {
            return Err(serde::de::Error::custom(format!(
                "duration {s:?} is too long: at most 100 years (\"36600d\")"
            )));
        }
        Ok(Dur(d))
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub watch: FileWatch,
    #[serde(default)]
    pub haproxy: Vec<FileInstance>,
    #[serde(default)]
    pub notify: FileNotify,
    #[serde(default)]
    pub sink: Vec<FileSink>,
    #[serde(default)]
    pub http: FileHttp,
    #[serde(default)]
    pub metrics: FileMetrics,
    pub agent: Option<FileAgent>,
    pub check: Option<FileHealth>,
    pub keepalived: Option<FileKeepalived>,
    pub apply: Option<FileApply>,
}

/// `[apply]`: `hawatch apply` (docs/operations.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileApply {
    pub target: Option<String>,
    pub backup_dir: Option<String>,
    pub keep: Option<usize>,
    /// master-cli | systemd | command
    pub reload: Option<String>,
    pub master_socket: Option<String>,
    /// systemd unit for `reload = "systemd"` (default haproxy).
    pub unit: Option<String>,
    /// argv for `reload = "command"`.
    pub command: Option<Vec<String>>,
    pub settle: Option<Dur>,
    /// The haproxy binary for `haproxy -c` (default /usr/sbin/haproxy).
    pub haproxy: Option<String>,
}

/// `[keepalived]`: VRRP role changes (docs/keepalived.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileKeepalived {
    /// keepalived's `notify_fifo`; the watcher reads it (and creates it if needed).
    pub notify_fifo: Option<String>,
    /// The VIPs of the pair.
    pub vips: Option<Vec<String>>,
    /// A FAULT followed by another state within this long is not told (keepalived's start).
    pub fault_grace: Option<Dur>,
    /// `"vip-holder"`: HAProxy's events are told only by the node holding a VIP; `"always"` (default).
    pub backend_alerts: Option<String>,
    /// The peer's hawatch, `http://IP:PORT` of its [http] listener: asked which VIPs it holds.
    pub peer: Option<String>,
    pub peer_username: Option<String>,
    pub peer_password: Option<Secret>,
    pub peer_password_file: Option<String>,
}

/// `[check]`: `hawatch check`, keepalived's `vrrp_script` (docs/keepalived.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileHealth {
    /// Runtime API (unix socket path or tcp://HOST:PORT) that must answer.
    pub socket: Option<String>,
    /// How long HAProxy may take to answer (default 500ms).
    pub timeout: Option<Dur>,
    /// Present: unhealthy (hand the VIP over).
    pub maint_file: Option<String>,
    /// Backend → minimum number of usable servers.
    pub min_up: Option<BTreeMap<String, u32>>,
    /// HAProxy's pid file: that process must exist.
    pub pid_file: Option<String>,
    /// `IP:PORT`s that must accept a TCP connection (HAProxy's binds, the VIP's included).
    pub binds: Option<Vec<String>>,
    /// An address that must answer ICMP echo (the gateway): a node cut off from
    /// its network must not hold the VIP.
    pub gateway: Option<String>,
}

/// `[agent]`: `hawatch agent`, the agent-check server (docs/agent.md).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileAgent {
    /// The name events carry as their instance (default: the host name).
    pub name: Option<String>,
    /// `IP:PORT`, one or a list (default 127.0.0.1:3333).
    pub listen: Option<OneOrMany>,
    /// Client networks allowed besides loopback (CIDR or single addresses).
    pub allow: Option<OneOrMany>,
    /// Connections served at once; more are closed unanswered (default 1024).
    pub max_connections: Option<usize>,
    /// Per-connection read/write timeout (default 2s).
    pub timeout: Option<Dur>,
    /// How long to wait for HAProxy's `agent-send` string when a check has a `service` (default 200ms).
    pub send_wait: Option<Dur>,
    /// SQLite store for the agent's events (default /var/lib/hawatch/agent.db).
    pub store: Option<String>,
    /// `IP:PORT` for /metrics and /healthz of the agent (default: none).
    pub metrics_listen: Option<String>,
    #[serde(default)]
    pub check: Vec<FileCheck>,
}

/// `[[agent.check]]`: one check, run in the background on its interval.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCheck {
    pub name: String,
    /// http | tcp | exec | file | load
    #[serde(rename = "type")]
    pub ty: String,
    pub interval: Option<Dur>,
    pub timeout: Option<Dur>,
    /// Only for these `agent-send` strings (default: every reply).
    pub service: Option<OneOrMany>,
    pub url: Option<String>,
    pub expect_status: Option<u16>,
    pub expect_body: Option<String>,
    pub expect_regex: Option<String>,
    pub tls_verify: Option<bool>,
    pub address: Option<String>,
    pub command: Option<Vec<String>>,
    pub parse_stdout: Option<bool>,
    pub path: Option<String>,
    pub state: Option<String>,
    pub metric: Option<String>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub floor: Option<u32>,
    pub ceiling: Option<u32>,
    pub proc: Option<String>,
}

/// `[http]`: the listener for /metrics, /healthz, /api and /alertmanager.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileHttp {
    /// `HOST:PORT` (default 127.0.0.1:9101); `""` turns the listener off.
    pub listen: Option<String>,
    /// Basic auth user; with `password`/`password_file` every path but /healthz needs it.
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<String>,
    /// Client networks (CIDR or single addresses) that may use the endpoints
    /// that act (`POST /alertmanager`); others get 403. Loopback is not implied.
    pub allow: Option<OneOrMany>,
    /// PEM certificate chain and key: serve HTTPS.
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
}

/// `[metrics]`: the haproxy_exporter-compatible families.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileMetrics {
    /// The label that tells instances apart (default `haproxy_instance`).
    pub instance_label: Option<String>,
    /// Put the label on series even with one instance (default false).
    pub label_single_instance: Option<bool>,
    /// Like the exporter's `--haproxy.server-metric-fields`: `"2,3,4"` or column names.
    pub server_metric_fields: Option<String>,
    /// Like `--haproxy.server-exclude-states`: servers in these states are left out.
    pub server_exclude_states: Option<OneOrMany>,
}

/// One string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// The policy keys, in `[notify]` (defaults for every sink) and in each
/// `[[sink]]`. (Written out in both structs: serde's `flatten` would lose
/// `deny_unknown_fields` and the key list in errors.)
#[derive(Debug, Default, Clone)]
pub struct FilePolicy {
    pub notify_after: Option<Dur>,
    pub resolve_after: Option<Dur>,
    pub flap_threshold: Option<u32>,
    pub flap_window: Option<Dur>,
    pub flap_settle: Option<Dur>,
    pub remind_every: Option<Dur>,
    pub remind_max: Option<u32>,
    pub quiet_hours: Option<String>,
    pub max_age: Option<Dur>,
    pub lang: Option<String>,
}

macro_rules! policy_of {
    ($t:ty) => {
        impl $t {
            pub fn policy(&self) -> FilePolicy {
                FilePolicy {
                    notify_after: self.notify_after,
                    resolve_after: self.resolve_after,
                    flap_threshold: self.flap_threshold,
                    flap_window: self.flap_window,
                    flap_settle: self.flap_settle,
                    remind_every: self.remind_every,
                    remind_max: self.remind_max,
                    quiet_hours: self.quiet_hours.clone(),
                    max_age: self.max_age,
                    lang: self.lang.clone(),
                }
            }
        }
    };
}
policy_of!(FileNotify);
policy_of!(FileSink);

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileNotify {
    /// Time zone for message times and quiet hours (IANA name; default: the system's).
    pub timezone: Option<String>,
    /// The host name messages and Alertmanager annotations carry (default: this host's).
    pub host: Option<String>,
    pub notify_after: Option<Dur>,
    pub resolve_after: Option<Dur>,
    pub flap_threshold: Option<u32>,
    pub flap_window: Option<Dur>,
    pub flap_settle: Option<Dur>,
    pub remind_every: Option<Dur>,
    pub remind_max: Option<u32>,
    pub quiet_hours: Option<String>,
    pub max_age: Option<Dur>,
    pub lang: Option<String>,
}

/// `match = { instance = "prod-*", backend = ["web*", "api"], server = "*" }`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileMatch {
    pub instance: Option<OneOrMany>,
    pub backend: Option<OneOrMany>,
    pub server: Option<OneOrMany>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileWatch {
    /// How often every instance is polled (default 2s).
    pub interval: Option<Dur>,
    /// SQLite store path (default /var/lib/hawatch/hawatch.db).
    pub store: Option<String>,
    /// Per-request timeout (default: the interval, at most 5s).
    pub timeout: Option<Dur>,
    /// How long events and delivered notifications are kept (default 90d).
    pub retention: Option<Dur>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileInstance {
    pub name: String,
    /// Runtime API: a unix socket path or `tcp://HOST:PORT`.
    pub socket: Option<String>,
    /// HTTP stats page, e.g. `http://user:pass@127.0.0.1:8404/stats;csv`.
    pub stats_url: Option<Secret>,
    pub stats_url_file: Option<String>,
    /// Verify the certificate of an https stats page (default true).
    pub tls_verify: Option<bool>,
    pub interval: Option<Dur>,
    pub timeout: Option<Dur>,
    /// Name of a `ring` HAProxy logs to: hawatch follows it for instant detection.
    pub ring: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SinkType {
    Console,
    Webhook,
    Feishu,
    Dingtalk,
    Wecom,
    Slack,
    Email,
    Exec,
    Alertmanager,
}

impl SinkType {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkType::Console => "console",
            SinkType::Webhook => "webhook",
            SinkType::Feishu => "feishu",
            SinkType::Dingtalk => "dingtalk",
            SinkType::Wecom => "wecom",
            SinkType::Slack => "slack",
            SinkType::Email => "email",
            SinkType::Exec => "exec",
            SinkType::Alertmanager => "alertmanager",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSink {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: SinkType,
    pub url: Option<Secret>,
    pub url_file: Option<String>,
    pub secret: Option<Secret>,
    pub secret_file: Option<String>,
    pub headers: Option<BTreeMap<String, Secret>>,
    pub timeout: Option<Dur>,
    // Routing and templates (every sink).
    pub events: Option<Vec<String>>,
    pub min_severity: Option<String>,
    #[serde(rename = "match")]
    pub match_: Option<FileMatch>,
    pub template_file: Option<String>,
    pub retry_min: Option<Dur>,
    pub retry_max: Option<Dur>,
    pub notify_after: Option<Dur>,
    pub resolve_after: Option<Dur>,
    pub flap_threshold: Option<u32>,
    pub flap_window: Option<Dur>,
    pub flap_settle: Option<Dur>,
    pub remind_every: Option<Dur>,
    pub remind_max: Option<u32>,
    pub quiet_hours: Option<String>,
    pub max_age: Option<Dur>,
    pub lang: Option<String>,
    // feishu
    /// `card` (default) or `text` (for keyword-protected bots that want plain text).
    pub format: Option<String>,
    // dingtalk
    pub at_mobiles: Option<Vec<String>>,
    pub at_all: Option<bool>,
    // email
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub tls: Option<String>,
    pub ca_file: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<String>,
    pub from: Option<String>,
    pub to: Option<OneOrMany>,
    // exec
    pub command: Option<Vec<String>>,
    // alertmanager
    pub labels: Option<BTreeMap<String, String>>,
    pub resend_every: Option<Dur>,
}
