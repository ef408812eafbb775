//! Configuration: one TOML file (or, with no file, the seed's environment
//! variables), checked whole before anything runs.
//!
//! [`file`] holds the structs the TOML maps onto (unknown keys are errors);
//! this module turns them into a validated [`Config`], collecting every
//! problem with its file, line and key before failing.

pub mod file;
mod locate;
pub mod secret;
mod show;

use std::path::{Path, PathBuf};
use std::time::Duration;

use haproxy::Endpoint;

use file::{FileConfig, FileInstance, FilePolicy, FileSink, SinkType};
use locate::Locator;

use crate::logic::agent_rules::FlagState;
use crate::logic::plan::SinkPlan;
use crate::logic::policy::Policy;
use crate::logic::route::{Globs, QuietHours, Route, Zone};
use crate::logic::template::{Format, Lang, Renderer};
use crate::model::event::{Kind, Severity};
pub use secret::{redact_url, Secret};

pub const DEFAULT_CONFIG: &str = "/etc/hawatch/hawatch.toml";
pub const DEFAULT_STORE: &str = "/var/lib/hawatch/hawatch.db";
pub const DEFAULT_SOCKET: &str = "/var/run/haproxy.sock";

#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from; `None` when built from environment variables.
    pub path: Option<PathBuf>,
    pub watch: Watch,
    pub instances: Vec<Instance>,
    pub notify: Notify,
    pub sinks: Vec<Sink>,
    pub http: Http,
    pub metrics: Metrics,
    /// `[agent]`, if the file has one.
    pub agent: Option<Agent>,
    /// `[check]`, if the file has one.
    pub check: Option<Health>,
    /// `[keepalived]`, if the file has one.
    pub keepalived: Option<Keepalived>,
    /// `[apply]`, if the file has one.
    pub apply: Option<ApplyConfig>,
}

/// How `hawatch apply` reloads HAProxy.
#[derive(Debug, Clone)]
pub enum Reload {
    MasterCli(Endpoint),
    Systemd(String),
    Command(Vec<String>),
}

/// `[apply]`, validated.
#[derive(Debug, Clone)]
pub struct ApplyConfig {
    pub target: PathBuf,
    pub backup_dir: PathBuf,
    pub keep: usize,
    pub reload: Reload,
    pub settle: Duration,
    pub haproxy: PathBuf,
}

/// `[keepalived]`, validated.
#[derive(Debug, Clone)]
pub struct Keepalived {
    pub notify_fifo: Option<PathBuf>,
    pub vips: Vec<std::net::IpAddr>,
    pub fault_grace: Duration,
    /// `backend_alerts = "vip-holder"`.
    pub vip_holder_alerts_only: bool,
    /// The peer's hawatch base URL and its basic auth.
    pub peer: Option<(String, Option<(String, Secret)>)>,
}

/// `[check]`, validated: what `hawatch check` requires of the local HAProxy.
#[derive(Debug, Clone)]
pub struct Health {
    pub socket: Endpoint,
    pub timeout: Duration,
    pub maint_file: Option<PathBuf>,
    pub min_up: std::collections::BTreeMap<String, u32>,
    pub pid_file: Option<PathBuf>,
    pub binds: Vec<std::net::SocketAddr>,
    pub gateway: Option<std::net::IpAddr>,
}

pub const DEFAULT_AGENT_LISTEN: &str = "127.0.0.1:3333";
pub const DEFAULT_AGENT_STORE: &str = "/var/lib/hawatch/agent.db";

/// `[agent]`, validated.
#[derive(Debug, Clone)]
pub struct Agent {
    pub name: String,
    pub listen: Vec<std::net::SocketAddr>,
    /// Loopback is always allowed; these are added.
    pub allow: Vec<ipnet::IpNet>,
    pub max_connections: usize,
    pub timeout: Duration,
    pub send_wait: Duration,
    pub store: PathBuf,
    pub metrics_listen: Option<std::net::SocketAddr>,
    pub checks: Vec<AgentCheck>,
}

#[derive(Debug, Clone)]
pub struct AgentCheck {
    pub name: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// `agent-send` strings this check applies to; empty: all.
    pub services: Vec<String>,
    pub kind: CheckKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMetric {
    /// 1-minute load average per CPU.
    Load1,
    /// 5-minute load average per CPU.
    Load5,
    /// CPU busy percent since the last check.
    Cpu,
    /// Memory in use, percent (MemTotal − MemAvailable).
    Memory,
}

impl LoadMetric {
    pub const ALL: [LoadMetric; 4] = [
        LoadMetric::Load1,
        LoadMetric::Load5,
        LoadMetric::Cpu,
        LoadMetric::Memory,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LoadMetric::Load1 => "load1",
            LoadMetric::Load5 => "load5",
            LoadMetric::Cpu => "cpu",
            LoadMetric::Memory => "memory",
        }
    }
}

#[derive(Debug, Clone)]
pub enum CheckKind {
    Http {
        url: String,
        /// `None`: any 2xx or 3xx.
        expect_status: Option<u16>,
        expect_body: Option<String>,
        expect_regex: Option<regex::Regex>,
        tls_verify: bool,
    },
    Tcp {
        address: String,
    },
    Exec {
        command: Vec<String>,
        parse_stdout: bool,
    },
    File {
        path: PathBuf,
        state: FlagState,
    },
    Load {
        metric: LoadMetric,
        /// At or below: `ceiling` percent.
        low: f64,
        /// At or above: `floor` percent; linear in between.
        high: f64,
        floor: u32,
        ceiling: u32,
        /// Where procfs is (a host's /proc mounted in a container).
        proc: PathBuf,
    },
}

impl CheckKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            CheckKind::Http { .. } => "http",
            CheckKind::Tcp { .. } => "tcp",
            CheckKind::Exec { .. } => "exec",
            CheckKind::File { .. } => "file",
            CheckKind::Load { .. } => "load",
        }
    }
}

/// `[http]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http {
    /// `None`: no listener.
    pub listen: Option<std::net::SocketAddr>,
    pub auth: Option<(String, Secret)>,
    /// Clients that may use the endpoints that act (`POST /alertmanager`);
    /// empty: any client that passes `auth`.
    pub allow: Vec<ipnet::IpNet>,
    /// (certificate chain, key) PEM files.
    pub tls: Option<(PathBuf, PathBuf)>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9101";

/// `[metrics]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    pub instance_label: String,
    pub label_single_instance: bool,
    pub exporter: crate::logic::exporter::Options,
}

#[derive(Debug, Clone)]
pub struct Watch {
    pub interval: Duration,
    pub store: PathBuf,
    pub timeout: Duration,
    pub retention: Duration,
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub name: String,
    pub source: Source,
    pub interval: Duration,
    pub timeout: Duration,
    pub ring: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Source {
    Socket(Endpoint),
    /// The CSV URL (always ending in `;csv`), with credentials if any.
    Http {
        url: Secret,
        tls_verify: bool,
    },
}

impl Source {
    /// Where it reads from, safe to print.
    pub fn describe(&self) -> String {
        match self {
            Source::Socket(ep) => ep.to_string(),
            Source::Http { url, .. } => redact_url(url.expose()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Sink {
    pub name: String,
    pub kind: SinkKind,
    pub timeout: Duration,
    /// Route, policy and quiet hours.
    pub plan: SinkPlan,
    pub renderer: Renderer,
    /// The template file, when not the built-in one.
    pub template_file: Option<PathBuf>,
    /// Undelivered messages older than this go to the dead-letter table.
    pub max_age: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
}

/// SMTP transport security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plaintext (port 25 relays on a trusted network).
    None,
    /// Plaintext, upgraded with STARTTLS before anything else (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl SmtpTls {
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpTls::None => "none",
            SmtpTls::StartTls => "starttls",
            SmtpTls::Tls => "tls",
        }
    }
}

#[derive(Debug, Clone)]
pub enum SinkKind {
    Console,
    Webhook {
        url: Secret,
        secret: Option<Secret>,
        headers: Vec<(String, Secret)>,
    },
    Feishu {
        url: Secret,
        secret: Option<Secret>,
        /// Plain `text` messages instead of cards.
        text: bool,
    },
    Dingtalk {
        url: Secret,
        secret: Option<Secret>,
        at_mobiles: Vec<String>,
        at_all: bool,
    },
    Wecom {
        url: Secret,
    },
    Slack {
        url: Secret,
    },
    Email {
        host: String,
        port: u16,
        tls: SmtpTls,
        ca_file: Option<PathBuf>,
        username: Option<String>,
        password: Option<Secret>,
        from: String,
        to: Vec<String>,
    },
    Exec {
        command: Vec<String>,
    },
    Alertmanager {
        /// One Alertmanager; for a cluster, one sink per peer (peers do not
        /// share alerts, only silences and the notification log).
        url: Secret,
        labels: Vec<(String, String)>,
        resend_every: Duration,
    },
}

impl SinkKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            SinkKind::Console => "console",
            SinkKind::Webhook { .. } => "webhook",
            SinkKind::Feishu { .. } => "feishu",
            SinkKind::Dingtalk { .. } => "dingtalk",
            SinkKind::Wecom { .. } => "wecom",
            SinkKind::Slack { .. } => "slack",
            SinkKind::Email { .. } => "email",
            SinkKind::Exec { .. } => "exec",
            SinkKind::Alertmanager { .. } => "alertmanager",
        }
    }
}

/// `[notify]`: defaults for every sink plus what all messages share.
#[derive(Debug, Clone, Default)]
pub struct Notify {
    pub zone: Zone,
    pub host: String,
}

/// Every problem found in a config, each naming file, line and key.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct ConfigError(pub Vec<String>);

/// Collects problems with their location.
struct Problems<'a> {
    file: &'a str,
    text: &'a str,
    /// Where keys are written, from the parser's spans.
    loc: &'a Locator,
    list: Vec<String>,
}

impl Problems<'_> {
    /// A problem with `key` (dotted, as written in errors: `sink[1].url`):
    /// located at that key when it is written, else at `span` (its table).
    fn at(&mut self, span: std::ops::Range<usize>, key: &str, msg: impl std::fmt::Display) {
        let span = match self.loc.path(key) {
            Some((exact, true)) => exact,
            Some((table, false)) if span == (0..0) => table,
            _ => span,
        };
        let (line, col) = line_col(self.text, span.start);
        self.list.push(format!("{}:{line}:{col}: `{key}`: {msg}", self.file));
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.len(), |i| before.len() - i - 1) + 1;
    (line, col)
}

/// The dotted key at a byte offset: the enclosing `[table]` plus the key
/// written on that line, e.g. `watch.interval` or `sink[1].url`.
fn key_at(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[line_start..].find('\n').map_or(text.len(), |i| line_start + i);
    let line = text[line_start..line_end].trim();
    let key = if line.starts_with('[') {
        ""
    } else {
        line.split('=').next().unwrap_or("").trim()
    };
    let mut table = String::new();
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    for l in text[..line_end].lines() {
        let l = l.trim();
        if let Some(name) = l.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let n = counts.entry(name.trim().to_string()).or_default();
            table = format!("{}[{}]", name.trim(), *n);
            *n += 1;
        } else if let Some(name) = l.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = name.trim().to_string();
        }
    }
    match (table.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

/// A network in CIDR form, or a single address as its /32 or /128.
fn parse_net(a: &str) -> Option<ipnet::IpNet> {
    a.parse::<ipnet::IpNet>()
        .map(|n| n.trunc())
        .or_else(|_| a.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .ok()
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn read_secret_file(path: &str) -> Result<Secret, String> {
    std::fs::read_to_string(path)
        .map(|s| Secret::new(s.trim()))
        .map_err(|e| format!("cannot read {path}: {e}"))
}

/// A secret given as `key = "..."` or `key_file = "/path"` (at most one).
fn secret_or_file(
    val: Option<Secret>,
    file: Option<String>,
    p: &mut Problems,
    at: &std::ops::Range<usize>,
    key: &str,
) -> Option<Secret> {
    match (val, file) {
        (Some(_), Some(_)) => {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            p.at(
                at.clone(),
                &format!("{key}_file"),
                format!("set either `{leaf}` or `{leaf}_file`, not both"),
            );
            None
        }
        (Some(v), None) => Some(v),
        (None, Some(path)) => read_secret_file(&path)
            .map_err(|e| p.at(at.clone(), &format!("{key}_file"), e))
            .ok(),
        (None, None) => None,
    }
}

/// `;up`, `;no-maint` and `;scope=` hide servers from the page; hawatch would
/// take a server that went DOWN for one that was removed.
fn check_unfiltered(url: &str) -> Result<(), String> {
    for filter in [";up", ";no-maint", ";scope="] {
        if url.contains(filter) {
            return Err(format!(
                "remove `{filter}` from the URL: hawatch needs every server on the page (it reports them itself)"
            ));
        }
    }
    Ok(())
}

fn check_http_url(u: &str) -> Result<(), String> {
    match url::Url::parse(u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => Ok(()),
        Ok(p) => Err(format!(
            "expected an http:// or https:// URL, got a {}: URL",
            p.scheme()
        )),
        Err(e) => Err(format!("not a URL ({e})")),
    }
}

impl Config {
    /// Which file to read: `--config`, else `$HAWATCH_CONFIG`, else
    /// /etc/hawatch/hawatch.toml if it exists; `None` means environment only.
    pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = explicit {
            return Some(p.to_path_buf());
        }
        if let Some(p) = std::env::var_os("HAWATCH_CONFIG").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        Path::new(DEFAULT_CONFIG)
            .exists()
            .then(|| PathBuf::from(DEFAULT_CONFIG))
    }

    /// Loads the file, or the environment when there is none.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        match Config::locate(explicit) {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| ConfigError(vec![format!("{}: cannot read config: {e}", path.display())]))?;
                let mut c = Config::parse(&text, &path.display().to_string())?;
                c.path = Some(path);
                Ok(c)
            }
            None => Config::from_env(),
        }
    }

    /// The seed's environment variables, with no file at all:
    /// `HAPROXY_SOCKET` or `HAPROXY_STATS_URL`, `FEISHU_WEBHOOK_URL`
    /// (+ optional `FEISHU_SECRET`), `STATE_FILE` (the store path).
    pub fn from_env() -> Result<Config, ConfigError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut text = String::from("[watch]\n");
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        if let Some(s) = var("STATE_FILE") {
            text += &format!("store = {}\n", q(&s));
        }
        text += "\n[[haproxy]]\nname = \"haproxy\"\n";
        match (var("HAPROXY_SOCKET"), var("HAPROXY_STATS_URL")) {
            (Some(s), _) => text += &format!("socket = {}\n", q(&s)),
            (None, Some(u)) => text += &format!("stats_url = {}\n", q(&u.replace('$', "$$"))),
            (None, None) => text += &format!("socket = {}\n", q(DEFAULT_SOCKET)),
        }
        if let Some(u) = var("FEISHU_WEBHOOK_URL") {
            text += &format!(
                "\n[[sink]]\nname = \"feishu\"\ntype = \"feishu\"\nurl = {}\n",
                q(&u.replace('$', "$$"))
            );
            if let Some(s) = var("FEISHU_SECRET") {
                text += &format!("secret = {}\n", q(&s.replace('$', "$$")));
            }
        }
        Config::parse(&text, "(environment)")
    }

    /// Parses and validates config text; `file` names it in errors.
    /// Reads the file's TOML (syntax, types and unknown keys of the whole file).
    fn read_file<'a>(
        text: &'a str,
        file: &'a str,
        loc: &'a Locator,
    ) -> Result<(FileConfig, Problems<'a>), ConfigError> {
        let mut p = Problems {
            file,
            text,
            loc,
            list: Vec::new(),
        };
        match toml::from_str(text) {
            Ok(r) => Ok((r, p)),
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let key = key_at(text, span.start);
                p.at(
                    span,
                    if key.is_empty() { "(top level)" } else { &key },
                    e.message().trim(),
                );
                Err(ConfigError(p.list))
            }
        }
    }

    /// Only `[check]`, for `hawatch check`: keepalived runs it every second or
    /// two, and it needs neither sinks nor templates (`config check` still
    /// validates the whole file). The whole file must still be valid TOML
    /// with known keys.
    pub fn load_check(explicit: Option<&Path>) -> Result<Option<Health>, ConfigError> {
        let Some(path) = Config::locate(explicit) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError(vec![format!("{}: cannot read config: {e}", path.display())]))?;
        let file = path.display().to_string();
        let loc = Locator::new(&text);
        let (raw, mut p) = Config::read_file(&text, &file, &loc)?;
        let h = raw.check.map(|c| validate_health(c, &mut p));
        if p.list.is_empty() {
            Ok(h)
        } else {
            Err(ConfigError(p.list))
        }
    }

    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let loc = Locator::new(text);
        let (raw, mut p) = Config::read_file(text, file, &loc)?;
        let loc = &loc;
        let interval = raw.watch.interval.map_or(Duration::from_secs(2), |d| d.0);
        if interval < Duration::from_millis(100) {
            p.at(
                key_in_table(loc, "watch", "interval"),
                "watch.interval",
                format!("{interval:?} is too short; use at least 100ms"),
            );
        }
        let timeout = raw.watch.timeout.map_or(interval.min(Duration::from_secs(5)), |d| d.0);
        if timeout.is_zero() {
            p.at(
                key_in_table(loc, "watch", "timeout"),
                "watch.timeout",
                "must be more than 0",
            );
        }
        let watch = Watch {
            interval,
            store: PathBuf::from(raw.watch.store.unwrap_or_else(|| DEFAULT_STORE.to_string())),
            timeout,
            retention: raw.watch.retention.map_or(Duration::from_secs(90 * 86400), |d| d.0),
        };
        // Written instances, valid or not: a broken one is reported as itself,
        // never also as "no instance".
        let written_instances = raw.haproxy.len();
        let mut instances = Vec::new();
        for (i, inst) in raw.haproxy.into_iter().enumerate() {
            if let Some(x) = validate_instance(inst, &watch, &mut p, i) {
                if instances.iter().any(|o: &Instance| o.name == x.name) {
                    p.at(
                        span_of(loc, "haproxy", i),
                        &format!("haproxy[{i}].name"),
                        format!("duplicate instance name {:?}", x.name),
                    );
                }
                instances.push(x);
            }
        }
        let agent = raw.agent.map(|a| validate_agent(a, &mut p));
        let check = raw.check.map(|c| validate_health(c, &mut p));
        let apply = raw.apply.map(|a| {
            let at = |k: &str| key_in_table(loc, "apply", k);
            let reload = match a.reload.as_deref().unwrap_or("master-cli") {
                "master-cli" => {
                    let raw = a
                        .master_socket
                        .clone()
                        .unwrap_or_else(|| "/run/haproxy/master.sock".into());
                    match Endpoint::parse(&raw) {
                        Ok(ep) => Reload::MasterCli(ep),
                        Err(e) => {
                            p.at(at("master_socket"), "apply.master_socket", e);
                            Reload::Systemd("haproxy".into())
                        }
                    }
                }
                "systemd" => Reload::Systemd(a.unit.clone().unwrap_or_else(|| "haproxy".into())),
                "command" => match a.command.clone().filter(|c| !c.is_empty()) {
                    Some(c) => Reload::Command(c),
                    None => {
                        p.at(
                            at("command"),
                            "apply.command",
                            "`reload = \"command\"` needs `command`, an argv list (no shell)",
                        );
                        Reload::Systemd("haproxy".into())
                    }
                },
                o => {
                    p.at(
                        at("reload"),
                        "apply.reload",
                        format!("{o:?}: use \"master-cli\", \"systemd\" or \"command\""),
                    );
                    Reload::Systemd("haproxy".into())
                }
            };
            let keep = a.keep.unwrap_or(10);
            if keep == 0 {
                p.at(
                    at("keep"),
                    "apply.keep",
                    "keep at least 1 backup (the rollback needs it)",
                );
            }
            ApplyConfig {
                target: PathBuf::from(a.target.unwrap_or_else(|| "/etc/haproxy/haproxy.cfg".into())),
                backup_dir: PathBuf::from(a.backup_dir.unwrap_or_else(|| "/var/lib/hawatch/backups".into())),
                keep: keep.max(1),
                reload,
                settle: a.settle.map_or(Duration::from_secs(5), |d| d.0),
                haproxy: PathBuf::from(a.haproxy.unwrap_or_else(|| "/usr/sbin/haproxy".into())),
            }
        });
        let keepalived = raw.keepalived.map(|k| {
            let mut vips = Vec::new();
            for v in k.vips.unwrap_or_default() {
                match v.trim().parse() {
                    Ok(ip) => vips.push(ip),
                    Err(_) => p.at(
                        key_in_table(loc, "keepalived", "vips"),
                        "keepalived.vips",
                        format!("{v:?} is not an IP address"),
                    ),
                }
            }
            let vip_holder_alerts_only = match k.backend_alerts.as_deref().unwrap_or("always") {
                "always" => false,
                "vip-holder" => {
                    if vips.is_empty() {
                        p.at(
                            key_in_table(loc, "keepalived", "backend_alerts"),
                            "keepalived.backend_alerts",
                            "\"vip-holder\" needs `vips`",
                        );
                    }
                    true
                }
                o => {
                    p.at(
                        key_in_table(loc, "keepalived", "backend_alerts"),
                        "keepalived.backend_alerts",
                        format!("{o:?}: use \"always\" or \"vip-holder\""),
                    );
                    false
                }
            };
            let at = key_in_table(loc, "keepalived", "peer_password");
            let pw = secret_or_file(
                k.peer_password,
                k.peer_password_file,
                &mut p,
                &at,
                "keepalived.peer_password",
            );
            let peer = k.peer.map(|u| {
                let u = u.trim_end_matches('/').to_string();
                if let Err(e) = check_http_url(&u) {
                    p.at(key_in_table(loc, "keepalived", "peer"), "keepalived.peer", e);
                }
                (u, k.peer_username.zip(pw))
            });
            Keepalived {
                notify_fifo: k.notify_fifo.map(PathBuf::from),
                vips,
                fault_grace: k.fault_grace.map_or(Duration::from_secs(3), |d| d.0),
                vip_holder_alerts_only,
                peer,
            }
        });
        if written_instances == 0 && agent.is_none() && check.is_none() && keepalived.is_none() && apply.is_none() {
            p.list.push(format!("{file}: `haproxy`: no [[haproxy]] instance configured; add one with `name` and `socket` or `stats_url` (or an [agent] section for `hawatch agent`, or [check] for `hawatch check`)"));
        }
        let notify = validate_notify(&raw.notify, &mut p);
        let http = validate_http(raw.http, &mut p);
        let metrics = validate_metrics(raw.metrics, &mut p);
        let defaults = raw.notify.policy();
        let mut sinks = Vec::new();
        for (i, s) in raw.sink.into_iter().enumerate() {
            if let Some(x) = validate_sink(s, &defaults, &notify, &mut p, i) {
                if sinks.iter().any(|o: &Sink| o.name == x.name) {
                    p.at(
                        span_of(loc, "sink", i),
                        &format!("sink[{i}].name"),
                        format!("duplicate sink name {:?}", x.name),
                    );
                }
                sinks.push(x);
            }
        }
        if sinks.is_empty() && p.list.is_empty() {
            let renderer = Renderer::new(Lang::Zh, Format::Text, notify.zone, &notify.host, None)
                .map_err(|e| ConfigError(vec![e]))?;
            let mut plan = SinkPlan::plain("console");
            plan.policy.flap_threshold = 0;
            sinks.push(Sink {
                name: "console".into(),
                kind: SinkKind::Console,
                timeout: Duration::from_secs(10),
                plan,
                renderer,
                template_file: None,
                max_age: DEFAULT_MAX_AGE,
                retry_min: Duration::from_secs(1),
                retry_max: Duration::from_secs(60),
            });
        }
        if p.list.is_empty() {
            Ok(Config {
                path: None,
                watch,
                instances,
                notify,
                sinks,
                http,
                metrics,
                agent,
                check,
                keepalived,
                apply,
            })
        } else {
            Err(ConfigError(p.list))
        }
    }
}

/// Where the i-th `[[section]]` header is, for errors about the whole entry.
fn span_of(loc: &Locator, section: &str, i: usize) -> std::ops::Range<usize> {
    loc.at(section, Some(i), None)
}

fn validate_instance(f: FileInstance, watch: &Watch, p: &mut Problems, i: usize) -> Option<Instance> {
    let at = span_of(p.loc, "haproxy", i);
    let key = |k: &str| format!("haproxy[{i}].{k}");
    let before = p.list.len();
    if !valid_name(&f.name) {
        p.at(
            at.clone(),
            &key("name"),
            format!("{:?} is not a valid name: use letters, digits, '.', '_' or '-'", f.name),
        );
    }
    let stats_url = secret_or_file(f.stats_url, f.stats_url_file, p, &at, &key("stats_url"));
    let source = match (f.socket, stats_url) {
        (Some(_), Some(_)) => {
            p.at(
                at.clone(),
                &key("socket"),
                "set either `socket` or `stats_url`, not both",
            );
            None
        }
        (None, None) => {
            p.at(
                at.clone(),
                &key("socket"),
                "missing: set `socket` (Runtime API path or tcp://HOST:PORT) or `stats_url`",
            );
            None
        }
        (Some(s), None) => match Endpoint::parse(&s) {
            Ok(ep) => Some(Source::Socket(ep)),
            Err(e) => {
                p.at(at.clone(), &key("socket"), e);
                None
            }
        },
        (None, Some(u)) => match check_http_url(u.expose()).and_then(|()| check_unfiltered(u.expose())) {
            Ok(()) => {
                let mut url = u.expose().to_string();
                if !url.contains(";csv") {
                    url.push_str(";csv");
                }
                Some(Source::Http {
                    url: Secret::new(url),
                    tls_verify: f.tls_verify.unwrap_or(true),
                })
            }
            Err(e) => {
                p.at(at.clone(), &key("stats_url"), e);
                None
            }
        },
    };
    if f.ring.is_some() && matches!(source, Some(Source::Http { .. })) {
        p.at(
            at.clone(),
            &key("ring"),
            "`ring` needs the Runtime API: set `socket` instead of `stats_url`",
        );
    }
    if f.tls_verify.is_some() && matches!(source, Some(Source::Socket(_))) {
        p.at(
            at.clone(),
            &key("tls_verify"),
            "`tls_verify` applies to an https `stats_url` only",
        );
    }
    // Inherited values were checked once, as `watch.*`; only the
    // instance's own are checked here.
    let interval = f.interval.map_or(watch.interval, |d| d.0);
    if f.interval.is_some() && interval < Duration::from_millis(100) {
        p.at(at.clone(), &key("interval"), "too short; use at least 100ms");
    }
    let timeout = f.timeout.map_or(watch.timeout, |d| d.0);
    if f.timeout.is_some() && timeout.is_zero() {
        p.at(at, &key("timeout"), "must be more than 0");
    }
    let source = source.filter(|_| p.list.len() == before)?;
    Some(Instance {
        name: f.name,
        source,
        interval,
        timeout,
        ring: f.ring,
    })
}

pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Where `key = ...` is written inside `[table]`, else the table header.
fn key_in_table(loc: &Locator, table: &str, key: &str) -> std::ops::Range<usize> {
    loc.key(table, key)
}

fn validate_health(f: file::FileHealth, p: &mut Problems) -> Health {
    let at = |p: &Problems, key: &str| key_in_table(p.loc, "check", key);
    let raw = f.socket.unwrap_or_else(|| DEFAULT_SOCKET.to_string());
    let socket = Endpoint::parse(&raw).unwrap_or_else(|e| {
        p.at(at(p, "socket"), "check.socket", e);
        Endpoint::Unix(PathBuf::from(DEFAULT_SOCKET))
    });
    let timeout = f.timeout.map_or(Duration::from_millis(500), |d| d.0);
    if timeout.is_zero() {
        p.at(at(p, "timeout"), "check.timeout", "must be more than 0");
    }
    let mut binds = Vec::new();
    for b in f.binds.unwrap_or_default() {
        match b.trim().parse() {
            Ok(a) => binds.push(a),
            Err(_) => p.at(at(p, "binds"), "check.binds", format!("{b:?} is not IP:PORT")),
        }
    }
    let gateway = f.gateway.as_deref().and_then(|g| match g.trim().parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            p.at(at(p, "gateway"), "check.gateway", format!("{g:?} is not an IP address"));
            None
        }
    });
    Health {
        socket,
        timeout,
        maint_file: f.maint_file.map(PathBuf::from),
        min_up: f.min_up.unwrap_or_default(),
        pid_file: f.pid_file.map(PathBuf::from),
        binds,
        gateway,
    }
}

fn validate_agent(f: file::FileAgent, p: &mut Problems) -> Agent {
    let at = |p: &Problems, key: &str| key_in_table(p.loc, "agent", key);
    let mut listen = Vec::new();
    for l in f
        .listen
        .map(|l| l.into_vec())
        .unwrap_or_else(|| vec![DEFAULT_AGENT_LISTEN.to_string()])
    {
        match l.trim().parse::<std::net::SocketAddr>() {
            Ok(a) => listen.push(a),
            Err(_) => p.at(
                at(p, "listen"),
                "agent.listen",
                format!("{l:?} is not IP:PORT (e.g. \"127.0.0.1:3333\", \"[::]:3333\")"),
            ),
        }
    }
    if listen.is_empty() {
        p.at(at(p, "listen"), "agent.listen", "at least one address to listen on");
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
                at(p, "allow"),
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
                p.at(
                    at(p, "metrics_listen"),
                    "agent.metrics_listen",
                    format!("{l:?} is not IP:PORT"),
                );
                None
            }
        },
    };
    let max_connections = f.max_connections.unwrap_or(1024);
    if max_connections == 0 {
        p.at(at(p, "max_connections"), "agent.max_connections", "must be at least 1");
    }
    let mut checks: Vec<AgentCheck> = Vec::new();
    for (i, c) in f.check.into_iter().enumerate() {
        let span = span_of(p.loc, "agent.check", i);
        if let Some(c) = validate_check(c, p, &span, i) {
            if checks.iter().any(|o| o.name == c.name) {
                p.at(
                    span,
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
        timeout: f.timeout.map_or(Duration::from_secs(2), |d| d.0),
        send_wait: f.send_wait.map_or(Duration::from_millis(200), |d| d.0),
        store: PathBuf::from(f.store.unwrap_or_else(|| DEFAULT_AGENT_STORE.to_string())),
        metrics_listen,
        checks,
    }
}

fn validate_check(c: file::FileCheck, p: &mut Problems, at: &std::ops::Range<usize>, i: usize) -> Option<AgentCheck> {
    let key = |k: &str| format!("agent.check[{i}].{k}");
    if !valid_name(&c.name) {
        p.at(
            at.clone(),
            &key("name"),
            format!("{:?}: use letters, digits, `.`, `_` and `-`", c.name),
        );
    }
    let interval = c.interval.map_or(Duration::from_secs(2), |d| d.0);
    if interval < Duration::from_millis(100) {
        p.at(at.clone(), &key("interval"), "at least 100ms");
    }
    let timeout = c.timeout.map_or(interval.min(Duration::from_secs(5)), |d| d.0);
    let need = |v: Option<String>, k: &str, p: &mut Problems| -> Option<String> {
        if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
            p.at(at.clone(), &key(k), format!("a `{}` check needs `{k}`", c.ty));
            None
        } else {
            v
        }
    };
    // Keys that belong to another type are mistakes worth naming.
    let present: Vec<(&str, bool)> = vec![
        ("url", c.url.is_some()),
        ("expect_status", c.expect_status.is_some()),
        ("expect_body", c.expect_body.is_some()),
        ("expect_regex", c.expect_regex.is_some()),
        ("tls_verify", c.tls_verify.is_some()),
        ("address", c.address.is_some()),
        ("command", c.command.is_some()),
        ("parse_stdout", c.parse_stdout.is_some()),
        ("path", c.path.is_some()),
        ("state", c.state.is_some()),
        ("metric", c.metric.is_some()),
        ("low", c.low.is_some()),
        ("high", c.high.is_some()),
        ("floor", c.floor.is_some()),
        ("ceiling", c.ceiling.is_some()),
        ("proc", c.proc.is_some()),
    ];
    let allowed: &[&str] = match c.ty.as_str() {
        "http" => &["url", "expect_status", "expect_body", "expect_regex", "tls_verify"],
        "tcp" => &["address"],
        "exec" => &["command", "parse_stdout"],
        "file" => &["path", "state"],
        "load" => &["metric", "low", "high", "floor", "ceiling", "proc"],
        other => {
            p.at(
                at.clone(),
                &key("type"),
                format!("{other:?}: use http, tcp, exec, file or load"),
            );
            return None;
        }
    };
    for (k, set) in &present {
        if *set && !allowed.contains(k) {
            p.at(
                at.clone(),
                &key(k),
                format!("not a key of a `{}` check (its keys: {})", c.ty, allowed.join(", ")),
            );
        }
    }
    let kind = match c.ty.as_str() {
        "http" => {
            let url = need(c.url, "url", p)?;
            if let Err(e) = check_http_url(&url) {
                p.at(at.clone(), &key("url"), e);
            }
            let expect_regex = match c.expect_regex.as_deref().map(regex::Regex::new) {
                Some(Ok(r)) => Some(r),
                Some(Err(e)) => {
                    p.at(
                        at.clone(),
                        &key("expect_regex"),
                        format!("not a regular expression: {e}"),
                    );
                    None
                }
                None => None,
            };
            CheckKind::Http {
                url,
                expect_status: c.expect_status,
                expect_body: c.expect_body,
                expect_regex,
                tls_verify: c.tls_verify.unwrap_or(true),
            }
        }
        "tcp" => {
            let address = need(c.address, "address", p)?;
            if address
                .rsplit_once(':')
                .is_none_or(|(_, port)| port.parse::<u16>().is_err())
            {
                p.at(at.clone(), &key("address"), format!("{address:?} is not HOST:PORT"));
            }
            CheckKind::Tcp { address }
        }
        "exec" => {
            let command = c.command.unwrap_or_default();
            if command.is_empty() || command[0].trim().is_empty() {
                p.at(
                    at.clone(),
                    &key("command"),
                    "an `exec` check needs `command`, a list: [\"/path/to/prog\", \"arg\"] (no shell)",
                );
                return None;
            }
            CheckKind::Exec {
                command,
                parse_stdout: c.parse_stdout.unwrap_or(false),
            }
        }
        "file" => {
            let path = need(c.path, "path", p)?;
            let name = c.state.as_deref().unwrap_or("maint");
            let state = [FlagState::Maint, FlagState::Drain, FlagState::Down]
                .into_iter()
                .find(|f| f.as_str() == name)
                .unwrap_or_else(|| {
                    p.at(
                        at.clone(),
                        &key("state"),
                        format!("{name:?}: use \"maint\", \"drain\" or \"down\""),
                    );
                    FlagState::Maint
                });
            CheckKind::File {
                path: PathBuf::from(path),
                state,
            }
        }
        _ => {
            let name = c.metric.as_deref().unwrap_or("load1");
            let metric = LoadMetric::ALL
                .into_iter()
                .find(|m| m.as_str() == name)
                .unwrap_or_else(|| {
                    p.at(
                        at.clone(),
                        &key("metric"),
                        format!("{name:?}: use load1, load5, cpu or memory"),
                    );
                    LoadMetric::Load1
                });
            let (dlow, dhigh) = match metric {
                LoadMetric::Load1 | LoadMetric::Load5 => (0.7, 2.0),
                LoadMetric::Cpu => (50.0, 95.0),
                LoadMetric::Memory => (70.0, 95.0),
            };
            let (low, high) = (c.low.unwrap_or(dlow), c.high.unwrap_or(dhigh));
            if !(low.is_finite() && high.is_finite() && low < high) {
                p.at(
                    at.clone(),
                    &key("high"),
                    format!("`low` ({low}) must be below `high` ({high})"),
                );
            }
            let (floor, ceiling) = (c.floor.unwrap_or(10), c.ceiling.unwrap_or(100));
            if floor > ceiling || ceiling > 256 {
                p.at(
                    at.clone(),
                    &key("floor"),
                    format!("need floor ≤ ceiling ≤ 256 (got {floor} and {ceiling})"),
                );
            }
            CheckKind::Load {
                metric,
                low,
                high,
                floor,
                ceiling,
                proc: PathBuf::from(c.proc.unwrap_or_else(|| "/proc".to_string())),
            }
        }
    };
    Some(AgentCheck {
        name: c.name,
        interval,
        timeout,
        services: c.service.map(|s| s.into_vec()).unwrap_or_default(),
        kind,
    })
}

fn validate_http(f: file::FileHttp, p: &mut Problems) -> Http {
    let listen = match f.listen.as_deref().unwrap_or(DEFAULT_LISTEN).trim() {
        "" => None,
        l => match l.parse::<std::net::SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                p.at(
                    key_in_table(p.loc, "http", "listen"),
                    "http.listen",
                    format!("{l:?} is not HOST:PORT with an IP address (e.g. \"127.0.0.1:9101\", \"[::1]:9101\"); \"\" turns the listener off"),
                );
                None
            }
        },
    };
    let at = key_in_table(p.loc, "http", "password");
    let auth_written = f.username.is_some() || f.password.is_some() || f.password_file.is_some();
    let password = secret_or_file(f.password, f.password_file, p, &at, "http.password");
    let auth = match (f.username, password) {
        (Some(u), Some(pw)) if !u.is_empty() && !pw.expose().is_empty() => Some((u, pw)),
        (None, None) => None,
        _ => {
            p.at(
                key_in_table(p.loc, "http", "username"),
                "http.username",
                "basic auth needs both `username` and `password` (or `password_file`), neither empty",
            );
            None
        }
    };
    let tls = match (f.tls_cert, f.tls_key) {
        (Some(c), Some(k)) => {
            for (path, key) in [(&c, "tls_cert"), (&k, "tls_key")] {
                if let Err(e) = std::fs::metadata(path) {
                    p.at(
                        key_in_table(p.loc, "http", key),
                        &format!("http.{key}"),
                        format!("cannot read {path}: {e}"),
                    );
                }
            }
            Some((PathBuf::from(c), PathBuf::from(k)))
        }
        (None, None) => None,
        (c, _) => {
            let key = if c.is_some() { "tls_key" } else { "tls_cert" };
            p.at(
                key_in_table(p.loc, "http", key),
                &format!("http.{key}"),
                "HTTPS needs both `tls_cert` and `tls_key`",
            );
            None
        }
    };
    let mut allow = Vec::new();
    let allow_written = f.allow.map(|a| a.into_vec()).unwrap_or_default();
    for a in &allow_written {
        let a = a.trim();
        match parse_net(a) {
            Some(n) => allow.push(n),
            None => p.at(
                key_in_table(p.loc, "http", "allow"),
                "http.allow",
                format!("{a:?} is not a network (10.0.0.0/8) or an address"),
            ),
        }
    }
    // Anyone who reaches the listener could make hawatch post to the team's
    // chat through POST /alertmanager: off loopback, that takes credentials
    // or a list of the clients allowed (a half-written auth is reported above).
    if let Some(a) = listen {
        if !a.ip().is_loopback() && !auth_written && allow_written.is_empty() {
            p.at(
                key_in_table(p.loc, "http", "listen"),
                "http.listen",
                format!(
                    "{a} is reachable from the network, and anyone who reaches it could post to every sink through POST /alertmanager: set [http] username and password (or password_file), or [http] allow = [\"10.0.0.0/8\"] naming the clients (Alertmanager) that may post; or listen on 127.0.0.1"
                ),
            );
        }
    }
    Http {
        listen,
        auth,
        allow,
        tls,
    }
}

fn validate_metrics(f: file::FileMetrics, p: &mut Problems) -> Metrics {
    use crate::logic::exporter;
    let label = f.instance_label.unwrap_or_else(|| "haproxy_instance".to_string());
    let reserved = ["frontend", "backend", "server", "code", "version", "release_date", "le"];
    let valid = !label.is_empty()
        && !label.starts_with("__")
        && label
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid || reserved.contains(&label.as_str()) {
        p.at(
            key_in_table(p.loc, "metrics", "instance_label"),
            "metrics.instance_label",
            format!("{label:?} cannot be the instance label: use letters, digits and _, not starting with a digit or __, and none of {}", reserved.join(", ")),
        );
    }
    let server_fields = match exporter::parse_server_fields(
        f.server_metric_fields
            .as_deref()
            .unwrap_or(exporter::DEFAULT_SERVER_FIELDS),
    ) {
        Ok(v) => v,
        Err(e) => {
            p.at(
                key_in_table(p.loc, "metrics", "server_metric_fields"),
                "metrics.server_metric_fields",
                e,
            );
            Vec::new()
        }
    };
    let server_exclude_states = f
        .server_exclude_states
        .map(|v| {
            v.into_vec()
                .iter()
                .flat_map(|s| s.split(','))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Metrics {
        instance_label: label,
        label_single_instance: f.label_single_instance.unwrap_or(false),
        exporter: exporter::Options {
            server_fields,
            server_exclude_states,
            instance_label: None,
        },
    }
}

fn validate_notify(f: &file::FileNotify, p: &mut Problems) -> Notify {
    let at = p.loc.at("notify", None, None);
    let zone = match f.timezone.as_deref().map(Zone::parse) {
        Some(Ok(z)) => z,
        Some(Err(e)) => {
            p.at(at.clone(), "notify.timezone", e);
            Zone::Local
        }
        None => Zone::Local,
    };
    let host = f
        .host
        .clone()
        .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());
    Notify { zone, host }
}

/// The policy of one sink: its own keys, else `[notify]`'s, else the defaults.
fn merge_policy(own: FilePolicy, defaults: &FilePolicy) -> FilePolicy {
    FilePolicy {
        notify_after: own.notify_after.or(defaults.notify_after),
        resolve_after: own.resolve_after.or(defaults.resolve_after),
        flap_threshold: own.flap_threshold.or(defaults.flap_threshold),
        flap_window: own.flap_window.or(defaults.flap_window),
        flap_settle: own.flap_settle.or(defaults.flap_settle),
        remind_every: own.remind_every.or(defaults.remind_every),
        remind_max: own.remind_max.or(defaults.remind_max),
        quiet_hours: own.quiet_hours.or_else(|| defaults.quiet_hours.clone()),
        max_age: own.max_age.or(defaults.max_age),
        lang: own.lang.or_else(|| defaults.lang.clone()),
    }
}

/// Keys that only some sink types use.
const TYPE_KEYS: &[(&str, &[SinkType])] = &[
    (
        "url",
        &[
            SinkType::Webhook,
            SinkType::Feishu,
            SinkType::Dingtalk,
            SinkType::Wecom,
            SinkType::Slack,
            SinkType::Alertmanager,
        ],
    ),
    ("secret", &[SinkType::Webhook, SinkType::Feishu, SinkType::Dingtalk]),
    ("headers", &[SinkType::Webhook]),
    ("format", &[SinkType::Feishu]),
    ("at_mobiles", &[SinkType::Dingtalk]),
    ("at_all", &[SinkType::Dingtalk]),
    ("smtp_host", &[SinkType::Email]),
    ("smtp_port", &[SinkType::Email]),
    ("tls", &[SinkType::Email]),
    ("ca_file", &[SinkType::Email]),
    ("username", &[SinkType::Email]),
    ("password", &[SinkType::Email]),
    ("from", &[SinkType::Email]),
    ("to", &[SinkType::Email]),
    ("command", &[SinkType::Exec]),
    ("labels", &[SinkType::Alertmanager]),
    ("resend_every", &[SinkType::Alertmanager]),
    (
        "template_file",
        &[
            SinkType::Console,
            SinkType::Feishu,
            SinkType::Dingtalk,
            SinkType::Wecom,
            SinkType::Slack,
            SinkType::Email,
            SinkType::Exec,
        ],
    ),
];

fn validate_sink(f: FileSink, defaults: &FilePolicy, notify: &Notify, p: &mut Problems, i: usize) -> Option<Sink> {
    let at = span_of(p.loc, "sink", i);
    let key = |k: &str| format!("sink[{i}].{k}");
    let before = p.list.len();
    let ty = f.kind;
    if !valid_name(&f.name) {
        p.at(
            at.clone(),
            &key("name"),
            format!("{:?} is not a valid name: use letters, digits, '.', '_' or '-'", f.name),
        );
    }
    let set: &[(&str, bool)] = &[
        ("url", f.url.is_some() || f.url_file.is_some()),
        ("secret", f.secret.is_some() || f.secret_file.is_some()),
        ("headers", f.headers.is_some()),
        ("format", f.format.is_some()),
        ("at_mobiles", f.at_mobiles.is_some()),
        ("at_all", f.at_all.is_some()),
        ("smtp_host", f.smtp_host.is_some()),
        ("smtp_port", f.smtp_port.is_some()),
        ("tls", f.tls.is_some()),
        ("ca_file", f.ca_file.is_some()),
        ("username", f.username.is_some()),
        ("password", f.password.is_some() || f.password_file.is_some()),
        ("from", f.from.is_some()),
        ("to", f.to.is_some()),
        ("command", f.command.is_some()),
        ("labels", f.labels.is_some()),
        ("resend_every", f.resend_every.is_some()),
        ("template_file", f.template_file.is_some()),
    ];
    for (k, is_set) in set {
        let allowed = TYPE_KEYS
            .iter()
            .find(|(n, _)| n == k)
            .is_none_or(|(_, t)| t.contains(&ty));
        if *is_set && !allowed {
            p.at(at.clone(), &key(k), format!("not used by a {} sink", ty.as_str()));
        }
    }
    let policy = merge_policy(f.policy(), defaults);
    let url = secret_or_file(f.url.clone(), f.url_file.clone(), p, &at, &key("url"));
    let secret = secret_or_file(f.secret.clone(), f.secret_file.clone(), p, &at, &key("secret"));
    let password = secret_or_file(f.password.clone(), f.password_file.clone(), p, &at, &key("password"));
    let timeout = f.timeout.map_or(Duration::from_secs(10), |d| d.0);
    let need_url = |p: &mut Problems| -> Option<Secret> {
        match url.clone() {
            Some(u) => match check_http_url(u.expose()) {
                Ok(()) => Some(u),
                Err(e) => {
                    p.at(at.clone(), &key("url"), e);
                    None
                }
            },
            None => {
                p.at(
                    at.clone(),
                    &key("url"),
                    format!("missing: a {} sink needs `url` (or `url_file`)", ty.as_str()),
                );
                None
            }
        }
    };
    let kind = match ty {
        SinkType::Console => Some(SinkKind::Console),
        SinkType::Webhook => need_url(p).map(|url| SinkKind::Webhook {
            url,
            secret: secret.clone(),
            headers: f.headers.clone().unwrap_or_default().into_iter().collect(),
        }),
        SinkType::Feishu => {
            let text = match f.format.as_deref() {
                None | Some("card") => false,
                Some("text") => true,
                Some(o) => {
                    p.at(at.clone(), &key("format"), format!("{o:?}: use \"card\" or \"text\""));
                    false
                }
            };
            need_url(p).map(|url| SinkKind::Feishu {
                url,
                secret: secret.clone(),
                text,
            })
        }
        SinkType::Dingtalk => {
            let at_mobiles = f.at_mobiles.clone().unwrap_or_default();
            if let Some(m) = at_mobiles
                .iter()
                .find(|m| m.is_empty() || !m.chars().all(|c| c.is_ascii_digit() || c == '+' || c == '-'))
            {
                p.at(at.clone(), &key("at_mobiles"), format!("{m:?} is not a mobile number"));
            }
            need_url(p).map(|url| SinkKind::Dingtalk {
                url,
                secret: secret.clone(),
                at_mobiles,
                at_all: f.at_all.unwrap_or(false),
            })
        }
        SinkType::Wecom => need_url(p).map(|url| SinkKind::Wecom { url }),
        SinkType::Slack => need_url(p).map(|url| SinkKind::Slack { url }),
        SinkType::Email => validate_email(&f, password, p, &at, &key),
        SinkType::Exec => match f.command.clone() {
            Some(c) if !c.is_empty() && !c[0].is_empty() => Some(SinkKind::Exec { command: c }),
            _ => {
                p.at(
                    at.clone(),
                    &key("command"),
                    "missing: an exec sink needs `command = [\"/path/to/program\", \"arg\", ...]` (no shell)",
                );
                None
            }
        },
        SinkType::Alertmanager => {
            let labels: Vec<(String, String)> = f.labels.clone().unwrap_or_default().into_iter().collect();
            for (n, _) in &labels {
                let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !ok || n.starts_with("__") {
                    p.at(
                        at.clone(),
                        &key("labels"),
                        format!("{n:?} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
                    );
                }
                if ["alertname", "instance", "backend", "server", "kind", "severity"].contains(&n.as_str()) {
                    p.at(
                        at.clone(),
                        &key("labels"),
                        format!("{n:?} is set by hawatch; choose another label name"),
                    );
                }
            }
            let resend_every = f.resend_every.map_or(Duration::from_secs(60), |d| d.0);
            if resend_every < Duration::from_secs(1) {
                p.at(at.clone(), &key("resend_every"), "too short; use at least 1s");
            }
            need_url(p).map(|u| SinkKind::Alertmanager {
                url: Secret::new(u.expose().trim_end_matches('/')),
                labels,
                resend_every,
            })
        }
    };
    let mut route = validate_route(&f, p, &at, &key);
    if matches!(ty, SinkType::Alertmanager) {
        // Prometheus alerts came from an Alertmanager: sending them back would loop.
        let external = [Kind::AlertFiring, Kind::AlertResolved];
        match &mut route.kinds {
            Some(k) if external.iter().any(|e| k.contains(e)) => p.at(
                at.clone(),
                &key("events"),
                "an alertmanager sink cannot take alert_firing / alert_resolved (they came from an Alertmanager: it would loop)",
            ),
            Some(_) => {}
            None => route.kinds = Some(Kind::ALL.into_iter().filter(|k| !external.contains(k)).collect()),
        }
    }
    let (mut pol, quiet, max_age) = validate_policy(&policy, notify, p, &at, &key);
    // Machines want every event: webhook and console sinks do not summarise
    // flapping unless asked to.
    if policy.flap_threshold.is_none() && matches!(ty, SinkType::Webhook | SinkType::Console) {
        pol.flap_threshold = 0;
    }
    let lang = match policy.lang.as_deref().map(Lang::parse) {
        Some(Ok(l)) => l,
        Some(Err(e)) => {
            p.at(at.clone(), &key("lang"), e);
            Lang::Zh
        }
        None => Lang::Zh,
    };
    let format = match ty {
        SinkType::Feishu if f.format.as_deref().is_none_or(|x| x != "text") => Format::Markdown,
        SinkType::Dingtalk | SinkType::Wecom => Format::Markdown,
        SinkType::Slack => Format::Slack,
        SinkType::Feishu => Format::FeishuText,
        _ => Format::Text,
    };
    let custom = f
        .template_file
        .as_ref()
        .and_then(|path| match std::fs::read_to_string(path) {
            Ok(src) => Some((path.clone(), src)),
            Err(e) => {
                p.at(at.clone(), &key("template_file"), format!("cannot read {path}: {e}"));
                None
            }
        });
    let renderer = match Renderer::new(
        lang,
        format,
        notify.zone,
        &notify.host,
        custom.as_ref().map(|(p, s)| (p.as_str(), s.clone())),
    ) {
        Ok(r) => Some(r),
        Err(e) => {
            p.at(at.clone(), &key("template_file"), format!("template error: {e}"));
            None
        }
    };
    let retry_min = f.retry_min.map_or(Duration::from_secs(1), |d| d.0);
    let retry_max = f.retry_max.map_or(Duration::from_secs(60), |d| d.0);
    if retry_min.is_zero() || retry_max < retry_min {
        p.at(
            at.clone(),
            &key("retry_max"),
            "`retry_min` must be more than 0 and at most `retry_max`",
        );
    }
    let kind = kind.filter(|_| p.list.len() == before)?;
    Some(Sink {
        plan: SinkPlan {
            name: f.name.clone(),
            route,
            policy: pol,
            quiet,
        },
        name: f.name,
        kind,
        timeout,
        renderer: renderer?,
        template_file: f.template_file.map(PathBuf::from),
        max_age,
        retry_min,
        retry_max,
    })
}

fn validate_email(
    f: &FileSink,
    password: Option<Secret>,
    p: &mut Problems,
    at: &std::ops::Range<usize>,
    key: &dyn Fn(&str) -> String,
) -> Option<SinkKind> {
    let before = p.list.len();
    let host = f.smtp_host.clone().unwrap_or_default();
    if host.is_empty() {
        p.at(
            at.clone(),
            &key("smtp_host"),
            "missing: an email sink needs `smtp_host`",
        );
    }
    let tls = match f.tls.as_deref() {
        None | Some("starttls") => SmtpTls::StartTls,
        Some("tls") => SmtpTls::Tls,
        Some("none") => SmtpTls::None,
        Some(o) => {
            p.at(
                at.clone(),
                &key("tls"),
                format!("{o:?}: use \"starttls\", \"tls\" or \"none\""),
            );
            SmtpTls::StartTls
        }
    };
    let port = f.smtp_port.unwrap_or(match tls {
        SmtpTls::Tls => 465,
        SmtpTls::StartTls => 587,
        SmtpTls::None => 25,
    });
    if f.username.is_some() != password.is_some() {
        p.at(
            at.clone(),
            &key("password"),
            "set both `username` and `password` (or `password_file`), or neither",
        );
    }
    if password.is_some() && tls == SmtpTls::None {
        p.at(
            at.clone(),
            &key("tls"),
            "refusing to send a password over plaintext SMTP: use tls = \"starttls\" or \"tls\"",
        );
    }
    let from = f.from.clone().unwrap_or_default();
    if from.parse::<lettre::message::Mailbox>().is_err() {
        p.at(
            at.clone(),
            &key("from"),
            format!("{from:?} is not a mail address (\"alerts@example.com\" or \"hawatch <alerts@example.com>\")"),
        );
    }
    let to = f.to.clone().map(file::OneOrMany::into_vec).unwrap_or_default();
    if to.is_empty() {
        p.at(
            at.clone(),
            &key("to"),
            "missing: an email sink needs `to = [\"ops@example.com\", ...]`",
        );
    }
    for t in &to {
        if t.parse::<lettre::message::Mailbox>().is_err() {
            p.at(at.clone(), &key("to"), format!("{t:?} is not a mail address"));
        }
    }
    let ca_file = f.ca_file.as_ref().map(PathBuf::from);
    if let Some(c) = &ca_file {
        if let Err(e) = std::fs::read(c) {
            p.at(at.clone(), &key("ca_file"), format!("cannot read {}: {e}", c.display()));
        }
    }
    (p.list.len() == before).then(|| SinkKind::Email {
        host,
        port,
        tls,
        ca_file,
        username: f.username.clone(),
        password,
        from,
        to,
    })
}

fn validate_route(f: &FileSink, p: &mut Problems, at: &std::ops::Range<usize>, key: &dyn Fn(&str) -> String) -> Route {
    let mut r = Route::default();
    if let Some(evs) = &f.events {
        let mut kinds = std::collections::BTreeSet::new();
        for e in evs {
            match Kind::parse(e) {
                Some(k) => {
                    kinds.insert(k);
                }
                None => p.at(
                    at.clone(),
                    &key("events"),
                    format!(
                        "unknown event kind {e:?}; kinds are: {}",
                        Kind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ),
            }
        }
        r.kinds = Some(kinds);
    }
    if let Some(m) = &f.min_severity {
        r.min_severity = match m.as_str() {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            o => {
                p.at(
                    at.clone(),
                    &key("min_severity"),
                    format!("{o:?}: use \"info\", \"warning\" or \"critical\""),
                );
                None
            }
        };
    }
    if let Some(m) = &f.match_ {
        let mut globs = |v: &Option<file::OneOrMany>, k: &str| -> Option<Globs> {
            let list = v.clone()?.into_vec();
            Globs::new(list)
                .map_err(|e| p.at(at.clone(), &key(&format!("match.{k}")), e))
                .ok()
        };
        r.instance = globs(&m.instance, "instance");
        r.backend = globs(&m.backend, "backend");
        r.server = globs(&m.server, "server");
    }
    r
}

fn validate_policy(
    f: &FilePolicy,
    notify: &Notify,
    p: &mut Problems,
    at: &std::ops::Range<usize>,
    key: &dyn Fn(&str) -> String,
) -> (Policy, Option<QuietHours>, Duration) {
    let d = Policy::default();
    let pol = Policy {
        notify_after: f.notify_after.map_or(d.notify_after, |x| x.0),
        resolve_after: f.resolve_after.map_or(d.resolve_after, |x| x.0),
        flap_threshold: f.flap_threshold.unwrap_or(d.flap_threshold),
        flap_window: f.flap_window.map_or(d.flap_window, |x| x.0),
        flap_settle: f.flap_settle.map_or(d.flap_settle, |x| x.0),
        remind_every: f.remind_every.map_or(d.remind_every, |x| x.0),
        remind_max: f.remind_max.unwrap_or(d.remind_max),
    };
    if pol.flap_threshold > 0 && pol.flap_window.is_zero() {
        p.at(
            at.clone(),
            &key("flap_window"),
            "must be more than 0 when `flap_threshold` is set",
        );
    }
    if !pol.remind_every.is_zero() && pol.remind_every < Duration::from_secs(60) {
        p.at(
            at.clone(),
            &key("remind_every"),
            "reminders more often than once a minute are noise; use at least 1m (or 0 to disable)",
        );
    }
    let quiet = f.quiet_hours.as_deref().and_then(|q| {
        QuietHours::parse(q, notify.zone)
            .map_err(|e| p.at(at.clone(), &key("quiet_hours"), e))
            .ok()
    });
    let max_age = f.max_age.map_or(DEFAULT_MAX_AGE, |x| x.0);
    if max_age < Duration::from_secs(1) {
        p.at(
            at.clone(),
            &key("max_age"),
            "too short; use at least 1s (hours are usual)",
        );
    }
    (pol, quiet, max_age)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
