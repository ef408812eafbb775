//! `type = "email"`: an SMTP server, how to reach it (`tls`), the login,
//! and who sends to whom.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Ctx, FileSink, SinkConfig};
use crate::config::secret::Secret;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Email {
    #[serde(rename = "smtp_host")]
    pub(crate) host: String,
    #[serde(rename = "smtp_port")]
    pub(crate) port: u16,
    pub(crate) tls: SmtpTls,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
}

/// SMTP transport security: `tls = "starttls" | "tls" | "none"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SmtpTls {
    /// Plaintext (port 25 relays on a trusted network).
    None,
    /// Plaintext, upgraded with STARTTLS before anything else (port 587).
    #[default]
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl SinkConfig for Email {
    const KEYS: &'static [&'static str] = &[
        "smtp_host",
        "smtp_port",
        "tls",
        "ca_file",
        "username",
        "password",
        "from",
        "to",
        "template_file",
    ];

    fn validate(f: &FileSink, c: &mut Ctx) -> Option<Email> {
        let before = c.p.count();
        let host = f.smtp_host.clone().unwrap_or_default();
        if host.is_empty() {
            c.at("smtp_host", "missing: an email sink needs `smtp_host`");
        }
        let tls = f.tls.unwrap_or_default();
        let port = f.smtp_port.unwrap_or(match tls {
            SmtpTls::Tls => 465,
            SmtpTls::StartTls => 587,
            SmtpTls::None => 25,
        });
        let password = c.password.clone();
        if f.username.is_some() != password.is_some() {
            c.at(
                "password",
                "set both `username` and `password` (or `password_file`), or neither",
            );
        }
        if password.is_some() && tls == SmtpTls::None {
            c.at(
                "tls",
                "refusing to send a password over plaintext SMTP: use tls = \"starttls\" or \"tls\"",
            );
        }
        let from = f.from.clone().unwrap_or_default();
        if from.parse::<lettre::message::Mailbox>().is_err() {
            c.at(
                "from",
                format!("{from:?} is not a mail address (\"alerts@example.com\" or \"hawatch <alerts@example.com>\")"),
            );
        }
        let to = f.to.clone().map(|t| t.into_vec()).unwrap_or_default();
        if to.is_empty() {
            c.at("to", "missing: an email sink needs `to = [\"ops@example.com\", ...]`");
        }
        for t in &to {
            if t.parse::<lettre::message::Mailbox>().is_err() {
                c.at("to", format!("{t:?} is not a mail address"));
            }
        }
        let ca_file = f.ca_file.as_ref().map(PathBuf::from);
        if let Some(path) = &ca_file {
            if let Err(e) = std::fs::read(path) {
                c.at("ca_file", format!("cannot read {}: {e}", path.display()));
            }
        }
        (c.p.count() == before).then(|| Email {
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
}
