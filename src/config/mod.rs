//! Configuration: one TOML file (or, with no file, the seed's environment
//! variables), checked whole before anything runs.
//!
//! [`file`] holds the structs the TOML maps onto (unknown keys are errors);
//! this module turns them into a validated [`Config`], collecting every
//! problem with its file, line and key before failing.

pub mod file;
pub mod secret;
mod show;

use std::path::{Path, PathBuf};
use std::time::Duration;

use haproxy::Endpoint;

use file::{FileConfig, FileInstance, FileSink, SinkType};
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
    pub sinks: Vec<Sink>,
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
    },
}

impl SinkKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            SinkKind::Console => "console",
            SinkKind::Webhook { .. } => "webhook",
            SinkKind::Feishu { .. } => "feishu",
        }
    }
}

/// Every problem found in a config, each naming file, line and key.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct ConfigError(pub Vec<String>);

/// Collects problems with their location.
struct Problems<'a> {
    file: &'a str,
    text: &'a str,
    list: Vec<String>,
}

impl Problems<'_> {
    fn at(&mut self, span: std::ops::Range<usize>, key: &str, msg: impl std::fmt::Display) {
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
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let mut p = Problems {
            file,
            text,
            list: Vec::new(),
        };
        let raw: FileConfig = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let key = key_at(text, span.start);
                p.at(
                    span,
                    if key.is_empty() { "(top level)" } else { &key },
                    e.message().trim(),
                );
                return Err(ConfigError(p.list));
            }
        };
        let interval = raw.watch.interval.map_or(Duration::from_secs(2), |d| d.0);
        if interval < Duration::from_millis(100) {
            p.list.push(format!(
                "{file}: `watch.interval`: {interval:?} is too short; use at least 100ms"
            ));
        }
        let timeout = raw.watch.timeout.map_or(interval.min(Duration::from_secs(5)), |d| d.0);
        let watch = Watch {
            interval,
            store: PathBuf::from(raw.watch.store.unwrap_or_else(|| DEFAULT_STORE.to_string())),
            timeout,
            retention: raw.watch.retention.map_or(Duration::from_secs(90 * 86400), |d| d.0),
        };
        let mut instances = Vec::new();
        for (i, inst) in raw.haproxy.into_iter().enumerate() {
            if let Some(x) = validate_instance(inst, &watch, &mut p, i) {
                if instances.iter().any(|o: &Instance| o.name == x.name) {
                    p.at(
                        span_of(text, "haproxy", i),
                        &format!("haproxy[{i}].name"),
                        format!("duplicate instance name {:?}", x.name),
                    );
                }
                instances.push(x);
            }
        }
        if instances.is_empty() {
            p.list.push(format!("{file}: `haproxy`: no [[haproxy]] instance configured; add one with `name` and `socket` or `stats_url`"));
        }
        let mut sinks = Vec::new();
        for (i, s) in raw.sink.into_iter().enumerate() {
            if let Some(x) = validate_sink(s, &mut p, i) {
                if sinks.iter().any(|o: &Sink| o.name == x.name) {
                    p.at(
                        span_of(text, "sink", i),
                        &format!("sink[{i}].name"),
                        format!("duplicate sink name {:?}", x.name),
                    );
                }
                sinks.push(x);
            }
        }
        if sinks.is_empty() {
            sinks.push(Sink {
                name: "console".into(),
                kind: SinkKind::Console,
                timeout: Duration::from_secs(10),
            });
        }
        if p.list.is_empty() {
            Ok(Config {
                path: None,
                watch,
                instances,
                sinks,
            })
        } else {
            Err(ConfigError(p.list))
        }
    }
}

/// Where the i-th `[[section]]` header starts, for errors about the whole entry.
fn span_of(text: &str, section: &str, i: usize) -> std::ops::Range<usize> {
    let header = format!("[[{section}]]");
    let mut from = 0;
    for _ in 0..=i {
        match text[from..].find(&header) {
            Some(at) => from += at + 1,
            None => return 0..0,
        }
    }
    (from - 1)..from
}

fn validate_instance(f: FileInstance, watch: &Watch, p: &mut Problems, i: usize) -> Option<Instance> {
    let at = span_of(p.text, "haproxy", i);
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
    let interval = f.interval.map_or(watch.interval, |d| d.0);
    if interval < Duration::from_millis(100) {
        p.at(at.clone(), &key("interval"), "too short; use at least 100ms");
    }
    let timeout = f.timeout.map_or(watch.timeout, |d| d.0);
    if timeout.is_zero() {
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

fn validate_sink(f: FileSink, p: &mut Problems, i: usize) -> Option<Sink> {
    let at = span_of(p.text, "sink", i);
    let key = |k: &str| format!("sink[{i}].{k}");
    let before = p.list.len();
    if !valid_name(&f.name) {
        p.at(
            at.clone(),
            &key("name"),
            format!("{:?} is not a valid name: use letters, digits, '.', '_' or '-'", f.name),
        );
    }
    let url = secret_or_file(f.url, f.url_file, p, &at, &key("url"));
    let secret = secret_or_file(f.secret, f.secret_file, p, &at, &key("secret"));
    let timeout = f.timeout.map_or(Duration::from_secs(10), |d| d.0);
    let kind = match f.kind {
        SinkType::Console => {
            for (k, set) in [
                ("url", url.is_some()),
                ("secret", secret.is_some()),
                ("headers", f.headers.is_some()),
            ] {
                if set {
                    p.at(at.clone(), &key(k), "not used by a console sink");
                }
            }
            Some(SinkKind::Console)
        }
        SinkType::Webhook | SinkType::Feishu => {
            let url = match url {
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
                        format!(
                            "missing: a {} sink needs `url` (or `url_file`)",
                            if f.kind == SinkType::Feishu {
                                "feishu"
                            } else {
                                "webhook"
                            }
                        ),
                    );
                    None
                }
            };
            if f.kind == SinkType::Feishu {
                if f.headers.is_some() {
                    p.at(at.clone(), &key("headers"), "not used by a feishu sink");
                }
                url.map(|url| SinkKind::Feishu { url, secret })
            } else {
                let headers = f.headers.unwrap_or_default().into_iter().collect();
                url.map(|url| SinkKind::Webhook { url, secret, headers })
            }
        }
    };
    let kind = kind.filter(|_| p.list.len() == before)?;
    Some(Sink {
        name: f.name,
        kind,
        timeout,
    })
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
