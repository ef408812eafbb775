//! `[[agent.check]]`: one check of `hawatch agent`, run in the background on
//! its interval; its `type` says which keys it takes.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use super::problems::{check_http_url, valid_name, Problems};
use super::secret::redact_url;
use super::value::{self, Dur, OneOrMany};
use crate::logic::agent_rules::FlagState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileCheck {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) ty: CheckType,
    pub(crate) interval: Option<Dur>,
    pub(crate) timeout: Option<Dur>,
    /// Only for these `agent-send` strings (default: every reply).
    pub(crate) service: Option<OneOrMany>,
    pub(crate) url: Option<String>,
    pub(crate) expect_status: Option<u16>,
    pub(crate) expect_body: Option<String>,
    pub(crate) expect_regex: Option<String>,
    pub(crate) tls_verify: Option<bool>,
    pub(crate) address: Option<String>,
    pub(crate) command: Option<Vec<String>>,
    pub(crate) parse_stdout: Option<bool>,
    pub(crate) path: Option<String>,
    pub(crate) state: Option<FlagState>,
    pub(crate) metric: Option<LoadMetric>,
    pub(crate) low: Option<f64>,
    pub(crate) high: Option<f64>,
    pub(crate) floor: Option<u32>,
    pub(crate) ceiling: Option<u32>,
    pub(crate) proc: Option<String>,
}

/// `type = "http" | "tcp" | "exec" | "file" | "load"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CheckType {
    Http,
    Tcp,
    Exec,
    File,
    Load,
}

impl CheckType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CheckType::Http => "http",
            CheckType::Tcp => "tcp",
            CheckType::Exec => "exec",
            CheckType::File => "file",
            CheckType::Load => "load",
        }
    }

    /// The keys of its own a check of this type takes.
    fn keys(self) -> &'static [&'static str] {
        match self {
            CheckType::Http => &["url", "expect_status", "expect_body", "expect_regex", "tls_verify"],
            CheckType::Tcp => &["address"],
            CheckType::Exec => &["command", "parse_stdout"],
            CheckType::File => &["path", "state"],
            CheckType::Load => &["metric", "low", "high", "floor", "ceiling", "proc"],
        }
    }
}

/// One `[[agent.check]]`, validated.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AgentCheck {
    pub(crate) name: String,
    #[serde(flatten)]
    pub(crate) kind: CheckKind,
    #[serde(serialize_with = "value::dur")]
    pub(crate) interval: Duration,
    #[serde(serialize_with = "value::dur")]
    pub(crate) timeout: Duration,
    /// `agent-send` strings this check applies to; empty: all.
    #[serde(rename = "service", skip_serializing_if = "Vec::is_empty")]
    pub(crate) services: Vec<String>,
}

/// `metric = "load1" | "load5" | "cpu" | "memory"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LoadMetric {
    /// 1-minute load average per CPU.
    Load1,
    /// 5-minute load average per CPU.
    Load5,
    /// CPU busy percent since the last check.
    Cpu,
    /// Memory in use, percent (MemTotal − MemAvailable).
    Memory,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum CheckKind {
    Http {
        #[serde(serialize_with = "shown_url")]
        url: String,
        /// `None`: any 2xx or 3xx.
        expect_status: Option<u16>,
        expect_body: Option<String>,
        #[serde(serialize_with = "regex")]
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

fn shown_url<S: Serializer>(u: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(u))
}

fn regex<S: Serializer>(r: &Option<regex::Regex>, s: S) -> Result<S::Ok, S::Error> {
    match r {
        Some(r) => s.serialize_some(r.as_str()),
        None => s.serialize_none(),
    }
}

impl CheckKind {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            CheckKind::Http { .. } => "http",
            CheckKind::Tcp { .. } => "tcp",
            CheckKind::Exec { .. } => "exec",
            CheckKind::File { .. } => "file",
            CheckKind::Load { .. } => "load",
        }
    }
}

/// The i-th check; `None` when it cannot be built (reported).
pub(super) fn validate(c: FileCheck, p: &mut Problems, i: usize) -> Option<AgentCheck> {
    let key = |k: &str| format!("agent.check[{i}].{k}");
    if !valid_name(&c.name) {
        p.at(
            &key("name"),
            format!("{:?}: use letters, digits, `.`, `_` and `-`", c.name),
        );
    }
    let interval = value::or(c.interval, Duration::from_secs(2));
    if interval < Duration::from_millis(100) {
        p.at(&key("interval"), "at least 100ms");
    }
    let timeout = value::or(c.timeout, interval.min(Duration::from_secs(5)));
    let ty = c.ty;
    let need = |v: Option<String>, k: &str, p: &mut Problems| -> Option<String> {
        if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
            p.at(&key(k), format!("a `{}` check needs `{k}`", ty.as_str()));
            None
        } else {
            v
        }
    };
    // Keys that belong to another type are mistakes worth naming.
    let present: [(&str, bool); 16] = [
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
    let allowed = ty.keys();
    for (k, set) in &present {
        if *set && !allowed.contains(k) {
            p.at(
                &key(k),
                format!(
                    "not a key of a `{}` check (its keys: {})",
                    ty.as_str(),
                    allowed.join(", ")
                ),
            );
        }
    }
    let kind = match ty {
        CheckType::Http => {
            let url = need(c.url, "url", p)?;
            if let Err(e) = check_http_url(&url) {
                p.at(&key("url"), e);
            }
            let expect_regex = match c.expect_regex.as_deref().map(regex::Regex::new) {
                Some(Ok(r)) => Some(r),
                Some(Err(e)) => {
                    p.at(&key("expect_regex"), format!("not a regular expression: {e}"));
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
        CheckType::Tcp => {
            let address = need(c.address, "address", p)?;
            if address
                .rsplit_once(':')
                .is_none_or(|(_, port)| port.parse::<u16>().is_err())
            {
                p.at(&key("address"), format!("{address:?} is not HOST:PORT"));
            }
            CheckKind::Tcp { address }
        }
        CheckType::Exec => {
            let command = c.command.unwrap_or_default();
            if command.is_empty() || command[0].trim().is_empty() {
                p.at(
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
        CheckType::File => CheckKind::File {
            path: PathBuf::from(need(c.path, "path", p)?),
            state: c.state.unwrap_or(FlagState::Maint),
        },
        CheckType::Load => {
            let metric = c.metric.unwrap_or(LoadMetric::Load1);
            let (dlow, dhigh) = match metric {
                LoadMetric::Load1 | LoadMetric::Load5 => (0.7, 2.0),
                LoadMetric::Cpu => (50.0, 95.0),
                LoadMetric::Memory => (70.0, 95.0),
            };
            let (low, high) = (c.low.unwrap_or(dlow), c.high.unwrap_or(dhigh));
            if !(low.is_finite() && high.is_finite() && low < high) {
                p.at(&key("high"), format!("`low` ({low}) must be below `high` ({high})"));
            }
            let (floor, ceiling) = (c.floor.unwrap_or(10), c.ceiling.unwrap_or(100));
            if floor > ceiling || ceiling > 256 {
                p.at(
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
        kind,
        interval,
        timeout,
        services: c.service.map(|s| s.into_vec()).unwrap_or_default(),
    })
}
