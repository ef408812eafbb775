//! The Feishu (and Lark: same API, `open.larksuite.com`; the host comes from
//! the URL) custom-bot sink: an interactive card whose header and body come
//! from the sink's template, or plain text (`format = "text"`) for bots that
//! want it; optionally signed.
//!
//! Feishu answers HTTP 200 even when it refuses a message; the verdict is the
//! body's `code` (0 = delivered; legacy replies carry only `StatusCode`).

use std::time::Duration;

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::Utc;
use serde_json::{json, Value};

use super::{hmac_sha256, reply_code};
use crate::config::sink::{Feishu as Config, FeishuFormat};
use crate::config::Secret;
use crate::logic::template::{Rendered, Renderer};
use crate::model::event::Severity;
use crate::notify::{exchange, render_fitting, rendered_fits, Batch, Common, Delivery, DeliveryError, Limits, Service};

/// Feishu's limit on the whole request body.
pub(crate) const MAX_BODY: usize = 20_000;

/// Feishu's custom-bot limits: 5 messages a second, 100 a minute.
pub(crate) const LIMITS: Limits = Limits {
    max_notices: 100,
    rates: &[(5, Duration::from_secs(1)), (100, Duration::from_secs(60))],
};

pub(crate) struct Feishu {
    pub(crate) url: Secret,
    pub(crate) secret: Option<Secret>,
    pub(crate) text: bool,
    pub(crate) renderer: Renderer,
    pub(crate) http: reqwest::Client,
}

/// Feishu's signature: HMAC-SHA256 keyed with `"{timestamp}\n{secret}"` over
/// an empty message, standard Base64 (yes, key and message are that way round).
pub(crate) fn sign(timestamp: i64, secret: &str) -> String {
    STANDARD.encode(hmac_sha256(format!("{timestamp}\n{secret}").as_bytes(), b""))
}

/// The header colour: red for critical, orange for warning, green when
/// everything in the message recovered, blue otherwise.
pub(crate) fn colour(d: Batch<'_>) -> &'static str {
    let worst = d.notices.iter().map(|n| n.severity).max().unwrap_or(Severity::Info);
    if d.test {
        "blue"
    } else if !d.notices.is_empty() && d.notices.iter().all(|n| n.resolves) {
        "green"
    } else {
        match worst {
            Severity::Critical => "red",
            Severity::Warning => "orange",
            Severity::Info => "blue",
        }
    }
}

/// The card (JSON 1.0 schema, which every client renders).
pub(crate) fn card(d: Batch<'_>, r: &Rendered, host: &str) -> Value {
    json!({
        "config": {"wide_screen_mode": true},
        "header": {"template": colour(d), "title": {"tag": "plain_text", "content": r.title}},
        "elements": [
            {"tag": "div", "text": {"tag": "lark_md", "content": r.body}},
            {"tag": "note", "elements": [{"tag": "plain_text", "content": format!("hawatch · {host}")}]},
        ],
    })
}

/// The whole request body, signed when a secret is set.
pub(crate) fn body(
    d: Batch<'_>,
    r: &Rendered,
    text: bool,
    host: &str,
    secret: Option<&Secret>,
    now_secs: i64,
) -> Value {
    let mut b = if text {
        json!({"msg_type": "text", "content": {"text": format!("{}\n{}", r.title, r.body)}})
    } else {
        json!({"msg_type": "interactive", "card": card(d, r, host)})
    };
    if let Some(s) = secret {
        b["timestamp"] = Value::String(now_secs.to_string());
        b["sign"] = Value::String(sign(now_secs, s.expose()));
    }
    b
}

/// Feishu's verdict on a reply body.
pub fn verdict(http_status: u16, text: &str) -> Result<(), DeliveryError> {
    let (code, msg) = reply_code(text, &["code", "StatusCode"], &["msg", "StatusMessage"]);
    match code {
        Some(0) if (200..300).contains(&http_status) => Ok(()),
        Some(11232) => Err(DeliveryError::service(format!("Feishu rate limit (code 11232: {msg})"))),
        Some(19021) => Err(DeliveryError::config(format!(
            "Feishu refused the signature (code 19021: {msg}): check the sink's `secret` and this host's clock"
        ))),
        Some(19024) => Err(DeliveryError::config(format!(
            "Feishu: keyword missing (code 19024: {msg}): the bot has keyword protection"
        ))),
        Some(19022) => Err(DeliveryError::config(format!(
            "Feishu: IP not allowed (code 19022: {msg}): add this host to the bot's IP whitelist"
        ))),
        Some(19001) => Err(DeliveryError::config(format!(
            "Feishu: webhook token invalid (code 19001: {msg}): check the sink's `url`"
        ))),
        Some(c) => Err(DeliveryError::config(format!(
            "Feishu refused the message (code {c}: {msg})"
        ))),
        None if http_status == 429 || http_status >= 500 => {
            Err(DeliveryError::service(format!("Feishu: HTTP {http_status}")))
        }
        None => Err(DeliveryError::config(format!(
            "Feishu: HTTP {http_status} with no code in the reply: {}",
            text.chars().take(200).collect::<String>()
        ))),
    }
}

impl Feishu {
    fn host(&self) -> &str {
        self.renderer.host()
    }

    /// Whether a rendered message is within Feishu's body limit (a signed
    /// body is at most ~80 bytes longer; that is always counted).
    pub(crate) fn fits_rendered(&self, d: Batch<'_>, r: &Rendered) -> bool {
        body(d, r, self.text, self.host(), None, 0).to_string().len() + 96 <= MAX_BODY
    }
}

impl Service for Feishu {
    type Config = Config;

    fn new(c: &Config, common: Common) -> Feishu {
        Feishu {
            url: c.url.clone(),
            secret: c.secret.clone(),
            text: c.format == FeishuFormat::Text,
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
        let body = body(
            d.batch(),
            &r,
            self.text,
            self.host(),
            self.secret.as_ref(),
            Utc::now().timestamp(),
        );
        let (status, wait, text) = exchange(self.http.post(self.url.expose()).json(&body)).await?;
        verdict(status, &text).map_err(|e| e.after(wait))
    }
}

#[cfg(test)]
mod tests;
