//! `[[haproxy]]`: the instances to watch, each read through its Runtime API
//! socket or its HTTP stats page.

use std::time::Duration;

use haproxy::Endpoint;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::problems::{check_http_url, secret_or_file, valid_name, Problems};
use super::secret::{redact_url, Secret};
use super::value::{self, Dur};
use super::watch::Watch;

pub const DEFAULT_SOCKET: &str = "/var/run/haproxy.sock";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileInstance {
    pub(crate) name: String,
    /// Runtime API: a unix socket path or `tcp://HOST:PORT`.
    pub(crate) socket: Option<String>,
    /// HTTP stats page, e.g. `http://user:pass@127.0.0.1:8404/stats;csv`.
    pub(crate) stats_url: Option<Secret>,
    pub(crate) stats_url_file: Option<String>,
    /// Verify the certificate of an https stats page (default true).
    pub(crate) tls_verify: Option<bool>,
    pub(crate) interval: Option<Dur>,
    pub(crate) timeout: Option<Dur>,
    /// Name of a `ring` HAProxy logs to: hawatch follows it for instant detection.
    pub(crate) ring: Option<String>,
}

/// One `[[haproxy]]`, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub name: String,
    #[serde(flatten)]
    pub source: Source,
    #[serde(serialize_with = "value::dur")]
    pub(crate) interval: Duration,
    #[serde(serialize_with = "value::dur")]
    pub timeout: Duration,
    pub(crate) ring: Option<String>,
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
    pub(crate) fn describe(&self) -> String {
        match self {
            Source::Socket(ep) => ep.to_string(),
            Source::Http { url, .. } => redact_url(url.expose()),
        }
    }
}

/// `config show`: the key it was given as (`socket` or `stats_url`).
impl Serialize for Source {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match self {
            Source::Socket(ep) => m.serialize_entry("socket", &ep.to_string())?,
            Source::Http { tls_verify, .. } => {
                m.serialize_entry("stats_url", &self.describe())?;
                m.serialize_entry("tls_verify", tls_verify)?;
            }
        }
        m.end()
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

/// The i-th instance; `None` when it has a problem (reported).
pub(super) fn validate(f: FileInstance, watch: &Watch, p: &mut Problems, i: usize) -> Option<Instance> {
    let key = |k: &str| format!("haproxy[{i}].{k}");
    let before = p.count();
    if !valid_name(&f.name) {
        p.at(
            &key("name"),
            format!("{:?} is not a valid name: use letters, digits, '.', '_' or '-'", f.name),
        );
    }
    let stats_url = secret_or_file(f.stats_url, f.stats_url_file, p, &key("stats_url"));
    let source = match (f.socket, stats_url) {
        (Some(_), Some(_)) => {
            p.at(&key("socket"), "set either `socket` or `stats_url`, not both");
            None
        }
        (None, None) => {
            p.at(
                &key("socket"),
                "missing: set `socket` (Runtime API path or tcp://HOST:PORT) or `stats_url`",
            );
            None
        }
        (Some(s), None) => match Endpoint::parse(&s) {
            Ok(ep) => Some(Source::Socket(ep)),
            Err(e) => {
                p.at(&key("socket"), e);
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
                p.at(&key("stats_url"), e);
                None
            }
        },
    };
    if f.ring.is_some() && matches!(source, Some(Source::Http { .. })) {
        p.at(
            &key("ring"),
            "`ring` needs the Runtime API: set `socket` instead of `stats_url`",
        );
    }
    if f.tls_verify.is_some() && matches!(source, Some(Source::Socket(_))) {
        p.at(&key("tls_verify"), "`tls_verify` applies to an https `stats_url` only");
    }
    // Inherited values were checked once, as `watch.*`; only the
    // instance's own are checked here.
    let interval = value::or(f.interval, watch.interval);
    if f.interval.is_some() && interval < Duration::from_millis(100) {
        p.at(&key("interval"), "too short; use at least 100ms");
    }
    let timeout = value::or(f.timeout, watch.timeout);
    if f.timeout.is_some() && timeout.is_zero() {
        p.at(&key("timeout"), "must be more than 0");
    }
    let source = source.filter(|_| p.count() == before)?;
    Some(Instance {
        name: f.name,
        source,
        interval,
        timeout,
        ring: f.ring,
    })
}
