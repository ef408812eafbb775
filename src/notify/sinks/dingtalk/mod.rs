//! The DingTalk custom-robot sink: markdown messages from the sink's
//! template, `@` mobiles / all on problems, optionally signed (加签).
//!
//! DingTalk answers HTTP 200 even when it refuses a message; the verdict is
//! the body's `errcode`. Its signature goes in the query string and differs
//! from Feishu's: key = secret, message = `"{timestamp_ms}\n{secret}"`.

use std::time::Duration;

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::Utc;
use serde_json::{json, Value};

use super::{hmac_sha256, reply_code};
use crate::config::sink::Dingtalk as Config;
use crate::config::Secret;
use crate::logic::template::{Rendered, Renderer};
use crate::model::event::Severity;
use crate::notify::{exchange, render_fitting, rendered_fits, Batch, Common, Delivery, DeliveryError, Limits, Service};

/// DingTalk's limit on the request body.
pub(crate) const MAX_BODY: usize = 20_000;

/// DingTalk's custom-robot limit: 20 messages a minute.
pub(crate) const LIMITS: Limits = Limits {
    max_notices: 100,
    rates: &[(20, Duration::from_secs(60))],
};

pub(crate) struct Dingtalk {
    pub(crate) url: Secret,
    pub(crate) secret: Option<Secret>,
    pub(crate) at_mobiles: Vec<String>,
    pub(crate) at_all: bool,
    pub(crate) renderer: Renderer,
    pub(crate) http: reqwest::Client,
}

/// DingTalk's signature (raw Base64; reqwest's `query` percent-encodes it once).
pub(crate) fn sign(ts_ms: i64, secret: &str) -> String {
    STANDARD.encode(hmac_sha256(secret.as_bytes(), format!("{ts_ms}\n{secret}").as_bytes()))
}

/// Mentions ping people: only for problems (and tests), never for recoveries.
fn mentions(d: Batch<'_>) -> bool {
    d.test
        || d.notices
            .iter()
            .any(|n| !n.resolves && n.severity == Severity::Critical)
}

impl Dingtalk {
    pub(crate) fn body(&self, d: Batch<'_>, r: &Rendered) -> Value {
        let ping = mentions(d);
        let mut text = r.body.clone();
        let mobiles: Vec<&String> = if ping {
            self.at_mobiles.iter().collect()
        } else {
            Vec::new()
        };
        if !mobiles.is_empty() {
            // A mobile is only pinged when `@mobile` also appears in the text.
            text.push_str("\n\n");
            text.push_str(&mobiles.iter().map(|m| format!("@{m}")).collect::<Vec<_>>().join(" "));
        }
        json!({
            "msgtype": "markdown",
            "markdown": {"title": r.title, "text": format!("### {}\n\n{}", r.title, text)},
            "at": {"atMobiles": mobiles, "isAtAll": ping && self.at_all},
        })
    }

    /// Whether a rendered message is within DingTalk's body limit.
    pub(crate) fn fits_rendered(&self, d: Batch<'_>, r: &Rendered) -> bool {
        self.body(d, r).to_string().len() <= MAX_BODY
    }
}

impl Service for Dingtalk {
    type Config = Config;

    fn new(c: &Config, common: Common) -> Dingtalk {
        Dingtalk {
            url: c.url.clone(),
            secret: c.secret.clone(),
            at_mobiles: c.at_mobiles.clone(),
            at_all: c.at_all,
            renderer: common.renderer,
            http: common.http,
        }
    }

    fn limits(&self) -> Limits {
        LIMITS
    }

    fn fits(&self, b: Batch<'_>) -> bool {
        rendered_fits(&self.renderer, b, |r| self.fits_rendered(b, r))
    }

    async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let r = render_fitting(&self.renderer, d, |r| self.fits_rendered(d.batch(), r))?;
        let mut req = self.http.post(self.url.expose()).json(&self.body(d.batch(), &r));
        if let Some(s) = &self.secret {
            let ts = Utc::now().timestamp_millis();
            req = req.query(&[("timestamp", ts.to_string()), ("sign", sign(ts, s.expose()))]);
        }
        let (status, wait, text) = exchange(req).await?;
        verdict(status, &text).map_err(|e| e.after(wait))
    }
}

/// DingTalk's verdict on a reply, in plain words.
pub fn verdict(http_status: u16, text: &str) -> Result<(), DeliveryError> {
    let (code, msg) = reply_code(text, &["errcode"], &["errmsg"]);
    let lower = msg.to_lowercase();
    match code {
        Some(0) if (200..300).contains(&http_status) => Ok(()),
        Some(c @ (130101 | 410100)) => Err(DeliveryError::service(format!(
            "DingTalk: rate limited (errcode {c}: {msg}); the robot is throttled for 10 minutes"
        ))
        .after(Some(Duration::from_secs(600)))),
        Some(-1) => Err(DeliveryError::service(format!("DingTalk: system busy (errcode -1: {msg})"))),
        Some(310000) if lower.contains("keyword") => Err(DeliveryError::config(format!(
            "DingTalk: keyword missing (errcode 310000: {msg}): the robot has keyword protection; put the keyword in the template"
        ))),
        Some(310000) if lower.contains("ip") && !lower.contains("sign") => Err(DeliveryError::config(format!(
            "DingTalk: IP not allowed (errcode 310000: {msg}): add this host to the robot's IP whitelist"
        ))),
        Some(310000) => Err(DeliveryError::config(format!(
            "DingTalk: wrong secret or clock (errcode 310000: {msg}): check the sink's `secret` (SEC...) and this host's clock"
        ))),
        Some(c @ (300001 | 300005 | 400101 | 400102)) => Err(DeliveryError::config(format!(
            "DingTalk: access token invalid or robot disabled (errcode {c}: {msg}): check the sink's `url`"
        ))),
        Some(c @ (460101 | 101002)) => Err(DeliveryError::config(format!(
            "DingTalk: message too long (errcode {c}: {msg})"
        ))),
        Some(90030) => Err(DeliveryError::refused(format!(
            "DingTalk: webhook quota exhausted (errcode 90030: {msg})"
        ))
        .after(Some(Duration::from_secs(3600)))),
        Some(c) => Err(DeliveryError::config(format!("DingTalk refused the message (errcode {c}: {msg})"))),
        None if http_status == 429 || http_status >= 500 => {
            Err(DeliveryError::service(format!("DingTalk: HTTP {http_status}")))
        }
        None => Err(DeliveryError::config(format!(
            "DingTalk: HTTP {http_status} with no errcode in the reply: {}",
            text.chars().take(200).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests;
