//! `[[sink]]` as written: one flat table whatever the `type`, so that
//! serde names every key in its errors and every problem of a sink is
//! reported at once ("not used by a feishu sink" for another type's key).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::email::SmtpTls;
use super::SinkType;
use crate::config::notify::{policy_of, FileMatch};
use crate::config::secret::Secret;
use crate::config::value::{Dur, OneOrMany};
use crate::logic::template::Lang;
use crate::model::event::{Kind, Severity};

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
    pub events: Option<Vec<Kind>>,
    pub min_severity: Option<Severity>,
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
    pub lang: Option<Lang>,
    // feishu
    /// `card` (default) or `text` (for keyword-protected bots that want plain text).
    pub format: Option<super::feishu::FeishuFormat>,
    // dingtalk
    pub at_mobiles: Option<Vec<String>>,
    pub at_all: Option<bool>,
    // email
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub tls: Option<SmtpTls>,
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

policy_of!(FileSink);

impl FileSink {
    /// The keys only some types take, each with whether it is written
    /// (`url` also as `url_file`, ...).
    pub(super) fn typed_keys(&self) -> [(&'static str, bool); 18] {
        [
            ("url", self.url.is_some() || self.url_file.is_some()),
            ("secret", self.secret.is_some() || self.secret_file.is_some()),
            ("headers", self.headers.is_some()),
            ("format", self.format.is_some()),
            ("at_mobiles", self.at_mobiles.is_some()),
            ("at_all", self.at_all.is_some()),
            ("smtp_host", self.smtp_host.is_some()),
            ("smtp_port", self.smtp_port.is_some()),
            ("tls", self.tls.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("username", self.username.is_some()),
            ("password", self.password.is_some() || self.password_file.is_some()),
            ("from", self.from.is_some()),
            ("to", self.to.is_some()),
            ("command", self.command.is_some()),
            ("labels", self.labels.is_some()),
            ("resend_every", self.resend_every.is_some()),
            ("template_file", self.template_file.is_some()),
        ]
    }
}
