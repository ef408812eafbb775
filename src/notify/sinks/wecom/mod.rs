//! The WeCom (企业微信) group-robot sink: markdown from the sink's template,
//! at most 4096 bytes of content per message (longer ones are split by the
//! outbox, or truncated when one notice alone is too long).
//!
//! The `key` in the URL is the only credential; WeCom answers HTTP 200 with
//! an `errcode`.

use std::time::Duration;

use serde_json::json;

use super::reply_code;
use crate::config::sink::Wecom as Config;
use crate::config::Secret;
use crate::logic::template::{Rendered, Renderer};
use crate::notify::{exchange, render_fitting, rendered_fits, Batch, Common, Delivery, DeliveryError, Limits, Service};

/// WeCom's limit on markdown `content`, in UTF-8 bytes.
pub(crate) const MAX_CONTENT: usize = 4096;

/// WeCom's group-robot limit: 20 messages a minute.
pub(crate) const LIMITS: Limits = Limits {
    max_notices: 100,
    rates: &[(20, Duration::from_secs(60))],
};

pub(crate) struct Wecom {
    pub(crate) url: Secret,
    pub(crate) renderer: Renderer,
    pub(crate) http: reqwest::Client,
}

pub(crate) fn content(r: &Rendered) -> String {
    format!("**{}**\n{}", r.title, r.body)
}

/// Whether a rendered message is within WeCom's content limit.
pub(crate) fn fits_rendered(r: &Rendered) -> bool {
    content(r).len() <= MAX_CONTENT
}

impl Service for Wecom {
    type Config = Config;

    fn new(c: &Config, common: Common) -> Wecom {
        Wecom {
            url: c.url.clone(),
            renderer: common.renderer,
            http: common.http,
        }
    }

    fn limits(&self) -> Limits {
        LIMITS
    }

    fn fits(&self, b: Batch<'_>) -> bool {
        rendered_fits(&self.renderer, b, fits_rendered)
    }

    async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let r = render_fitting(&self.renderer, d, fits_rendered)?;
        let body = json!({"msgtype": "markdown", "markdown": {"content": content(&r)}});
        let (status, wait, text) = exchange(self.http.post(self.url.expose()).json(&body)).await?;
        verdict(status, &text).map_err(|e| e.after(wait))
    }
}

/// WeCom's verdict on a reply, in plain words. (The reply echoes this host's
/// public IP; it is kept, the key never appears in it.)
pub fn verdict(http_status: u16, text: &str) -> Result<(), DeliveryError> {
    let (code, msg) = reply_code(text, &["errcode"], &["errmsg"]);
    let msg: String = msg.chars().take(200).collect();
    match code {
        Some(0) if (200..300).contains(&http_status) => Ok(()),
        Some(45009) => Err(
            DeliveryError::service(format!("WeCom: rate limited (errcode 45009: {msg})"))
                .after(Some(Duration::from_secs(60))),
        ),
        Some(-1) => Err(DeliveryError::service(format!(
            "WeCom: system busy (errcode -1: {msg})"
        ))),
        Some(93000) => Err(DeliveryError::config(format!(
            "WeCom: invalid webhook key (errcode 93000: {msg}): check the sink's `url`"
        ))),
        Some(40058) => Err(DeliveryError::config(format!(
            "WeCom: message too long (errcode 40058: {msg})"
        ))),
        Some(c) => Err(DeliveryError::config(format!(
            "WeCom refused the message (errcode {c}: {msg})"
        ))),
        None if http_status == 429 || http_status >= 500 => {
            Err(DeliveryError::service(format!("WeCom: HTTP {http_status}")))
        }
        None => Err(DeliveryError::config(format!(
            "WeCom: HTTP {http_status} with no errcode in the reply: {}",
            text.chars().take(200).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests;
