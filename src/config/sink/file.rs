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
pub(crate) struct FileSink {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) kind: SinkType,
    pub(crate) url: Option<Secret>,
    pub(crate) url_file: Option<String>,
    pub(crate) secret: Option<Secret>,
    pub(crate) secret_file: Option<String>,
    pub(crate) headers: Option<BTreeMap<String, Secret>>,
    pub(crate) timeout: Option<Dur>,
    // Routing and templates (every sink).
    pub(crate) events: Option<Vec<Kind>>,
    pub(crate) min_severity: Option<Severity>,
    #[serde(rename = "match")]
    pub(crate) match_: Option<FileMatch>,
    pub(crate) template_file: Option<String>,
    pub(crate) retry_min: Option<Dur>,
    pub(crate) retry_max: Option<Dur>,
    pub(crate) notify_after: Option<Dur>,
    pub(crate) resolve_after: Option<Dur>,
    pub(crate) flap_threshold: Option<u32>,
    pub(crate) flap_window: Option<Dur>,
    pub(crate) flap_settle: Option<Dur>,
    pub(crate) remind_every: Option<Dur>,
    pub(crate) remind_max: Option<u32>,
    pub(crate) quiet_hours: Option<String>,
    pub(crate) max_age: Option<Dur>,
    pub(crate) lang: Option<Lang>,
    // feishu
    /// `card` (default) or `text` (for keyword-protected bots that want plain text).
    pub(crate) format: Option<super::feishu::FeishuFormat>,
    // dingtalk
    pub(crate) at_mobiles: Option<Vec<String>>,
    pub(crate) at_all: Option<bool>,
    // email
    pub(crate) smtp_host: Option<String>,
    pub(crate) smtp_port: Option<u16>,
    pub(crate) tls: Option<SmtpTls>,
    pub(crate) ca_file: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) password_file: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) to: Option<OneOrMany>,
    // exec
    pub(crate) command: Option<Vec<String>>,
    // alertmanager
    pub(crate) labels: Option<BTreeMap<String, String>>,
    pub(crate) resend_every: Option<Dur>,
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
