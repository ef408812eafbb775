//! The TOML file as written by the operator: every key documented here is
//! documented in `docs/config.md`, and any other key is an error.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use super::secret::Secret;

/// A duration written as `"2s"`, `"500ms"`, `"1h 30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub std::time::Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(s.trim()).map(Dur).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {s:?} ({e}): write a number and a unit, e.g. \"500ms\", \"2s\", \"5m\""
            ))
        })
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
    pub sink: Vec<FileSink>,
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
}
