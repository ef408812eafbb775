//! `[http]`: the listener for /metrics, /healthz, /api and /alertmanager,
//! and who may use it.

use std::path::PathBuf;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::problems::{parse_net, secret_or_file, Problems};
use super::secret::Secret;
use super::value::{self, OneOrMany};

pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:9101";

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileHttp {
    /// `HOST:PORT` (default 127.0.0.1:9101); `""` turns the listener off.
    pub(crate) listen: Option<String>,
    /// Basic auth user; with `password`/`password_file` every path but /healthz needs it.
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) password_file: Option<String>,
    /// Client networks (CIDR or single addresses) that may use the endpoints
    /// that act (`POST /alertmanager`); others get 403. Loopback is not implied.
    pub(crate) allow: Option<OneOrMany>,
    /// PEM certificate chain and key: serve HTTPS.
    pub(crate) tls_cert: Option<String>,
    pub(crate) tls_key: Option<String>,
}

/// `[http]`, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Http {
    /// `None`: no listener.
    #[serde(serialize_with = "listen")]
    pub(crate) listen: Option<std::net::SocketAddr>,
    #[serde(flatten, serialize_with = "auth")]
    pub(crate) auth: Option<(String, Secret)>,
    /// Clients that may use the endpoints that act (`POST /alertmanager`);
    /// empty: any client that passes `auth`.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "value::texts")]
    pub(crate) allow: Vec<ipnet::IpNet>,
    /// (certificate chain, key) PEM files.
    #[serde(flatten, serialize_with = "tls")]
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
}

fn listen<S: Serializer>(l: &Option<std::net::SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&l.map(|a| a.to_string()).unwrap_or_default())
}

fn auth<S: Serializer>(a: &Option<(String, Secret)>, s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(None)?;
    if let Some((user, pw)) = a {
        m.serialize_entry("username", user)?;
        m.serialize_entry("password", pw)?;
    }
    m.end()
}

fn tls<S: Serializer>(t: &Option<(PathBuf, PathBuf)>, s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(None)?;
    if let Some((cert, key)) = t {
        m.serialize_entry("tls_cert", cert)?;
        m.serialize_entry("tls_key", key)?;
    }
    m.end()
}

pub(super) fn validate(f: FileHttp, p: &mut Problems) -> Http {
    let listen = match f.listen.as_deref().unwrap_or(DEFAULT_LISTEN).trim() {
        "" => None,
        l => match l.parse::<std::net::SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                p.at(
                    "http.listen",
                    format!("{l:?} is not HOST:PORT with an IP address (e.g. \"127.0.0.1:9101\", \"[::1]:9101\"); \"\" turns the listener off"),
                );
                None
            }
        },
    };
    let auth_written = f.username.is_some() || f.password.is_some() || f.password_file.is_some();
    let password = secret_or_file(f.password, f.password_file, p, "http.password");
    let auth = match (f.username, password) {
        (Some(u), Some(pw)) if !u.is_empty() && !pw.expose().is_empty() => Some((u, pw)),
        (None, None) => None,
        _ => {
            p.at(
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
                    p.at(&format!("http.{key}"), format!("cannot read {path}: {e}"));
                }
            }
            Some((PathBuf::from(c), PathBuf::from(k)))
        }
        (None, None) => None,
        (c, _) => {
            let key = if c.is_some() { "tls_key" } else { "tls_cert" };
            p.at(&format!("http.{key}"), "HTTPS needs both `tls_cert` and `tls_key`");
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
