//! Reading a config: which file, its TOML (syntax, types, unknown keys),
//! then every section's check, in the order the file is usually written.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::agent::FileAgent;
use super::apply::FileApply;
use super::check::{FileHealth, Health};
use super::doctor::FileDoctor;
use super::http::FileHttp;
use super::instance::{FileInstance, Instance, DEFAULT_SOCKET};
use super::keepalived::FileKeepalived;
use super::locate::Locator;
use super::metrics::FileMetrics;
use super::notify::FileNotify;
use super::problems::{ConfigError, Problems};
use super::sink::{FileSink, Sink};
use super::watch::FileWatch;
use super::{agent, apply, check, doctor, http, instance, keepalived, metrics, notify, sink, watch, Config};

pub(crate) const DEFAULT_CONFIG: &str = "/etc/hawatch/hawatch.toml";

/// The file as written: one key per section.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    watch: FileWatch,
    #[serde(default)]
    haproxy: Vec<FileInstance>,
    #[serde(default)]
    notify: FileNotify,
    #[serde(default)]
    sink: Vec<FileSink>,
    #[serde(default)]
    http: FileHttp,
    #[serde(default)]
    metrics: FileMetrics,
    agent: Option<FileAgent>,
    check: Option<FileHealth>,
    keepalived: Option<FileKeepalived>,
    apply: Option<FileApply>,
    doctor: Option<FileDoctor>,
}

/// Reads the file's TOML (syntax, types and unknown keys of the whole
/// file): the first such problem is the only one, located by the parser's
/// span and named by the key written there.
fn read_file<'a>(text: &'a str, file: &'a str, loc: &'a Locator) -> Result<(FileConfig, Problems<'a>), ConfigError> {
    let mut p = Problems::new(file, text, loc);
    match toml::from_str(text) {
        Ok(r) => Ok((r, p)),
        Err(e) => {
            let offset = e.span().map_or(0, |s| s.start);
            // A syntax error leaves no document to name the key in: the
            // table is the last one the text before that line declares.
            let line_start = text[..offset.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
            let key = loc
                .name_at(offset)
                .or_else(|| Locator::new(&text[..line_start]).name_at(line_start));
            p.at_offset(offset, key.as_deref().unwrap_or("(top level)"), e.message().trim());
            Err(p.error())
        }
    }
}

impl Config {
    /// Which file to read: `--config`, else `$HAWATCH_CONFIG`, else
    /// /etc/hawatch/hawatch.toml if it exists; `None` means environment only.
    pub(crate) fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
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
    pub(crate) fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        match Config::locate(explicit) {
            Some(path) => {
                let text = read(&path)?;
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
    pub(crate) fn from_env() -> Result<Config, ConfigError> {
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

    /// Only `[check]`, for `hawatch check`: keepalived runs it every second or
    /// two, and it needs neither sinks nor templates (`config check` still
    /// validates the whole file). The whole file must still be valid TOML
    /// with known keys.
    pub(crate) fn load_check(explicit: Option<&Path>) -> Result<Option<Health>, ConfigError> {
        let Some(path) = Config::locate(explicit) else {
            return Ok(None);
        };
        let text = read(&path)?;
        let file = path.display().to_string();
        let loc = Locator::new(&text);
        let (raw, mut p) = read_file(&text, &file, &loc)?;
        let h = raw.check.map(|c| check::validate(c, &mut p));
        p.result(h)
    }

    /// Parses and validates config text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let loc = Locator::new(text);
        let (raw, mut p) = read_file(text, file, &loc)?;
        let watch = watch::validate(raw.watch, &mut p);
        // Written instances, valid or not: a broken one is reported as itself,
        // never also as "no instance".
        let written_instances = raw.haproxy.len();
        let mut instances: Vec<Instance> = Vec::new();
        for (i, inst) in raw.haproxy.into_iter().enumerate() {
            if let Some(x) = instance::validate(inst, &watch, &mut p, i) {
                if instances.iter().any(|o| o.name == x.name) {
                    p.at(
                        &format!("haproxy[{i}].name"),
                        format!("duplicate instance name {:?}", x.name),
                    );
                }
                instances.push(x);
            }
        }
        let agent = raw.agent.map(|a| agent::validate(a, &mut p));
        let check = raw.check.map(|c| check::validate(c, &mut p));
        let apply = raw.apply.map(|a| apply::validate(a, &mut p));
        let keepalived = raw.keepalived.map(|k| keepalived::validate(k, &mut p));
        let doctor_given = raw.doctor.is_some();
        let doctor = doctor::validate(raw.doctor.unwrap_or_default(), &mut p);
        // `doctor --offline` in a CI pipeline may have a file with [doctor] only.
        if written_instances == 0
            && agent.is_none()
            && check.is_none()
            && keepalived.is_none()
            && apply.is_none()
            && !doctor_given
        {
            p.file("haproxy", "no [[haproxy]] instance configured; add one with `name` and `socket` or `stats_url` (or an [agent] section for `hawatch agent`, or [check] for `hawatch check`)");
        }
        let notify = notify::validate(&raw.notify, &mut p);
        let http = http::validate(raw.http, &mut p);
        let metrics = metrics::validate(raw.metrics, &mut p);
        let defaults = raw.notify.policy();
        let mut sinks: Vec<Sink> = Vec::new();
        for (i, s) in raw.sink.into_iter().enumerate() {
            if let Some(x) = sink::validate(s, &defaults, &notify, &mut p, i) {
                if sinks.iter().any(|o| o.name == x.name) {
                    p.at(&format!("sink[{i}].name"), format!("duplicate sink name {:?}", x.name));
                }
                sinks.push(x);
            }
        }
        if sinks.is_empty() && p.count() == 0 {
            sinks.push(Sink::default_console(&notify).map_err(|e| ConfigError(vec![e]))?);
        }
        let config = Config {
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
            doctor,
        };
        p.result(config)
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError(vec![format!("{}: cannot read config: {e}", path.display())]))
}
