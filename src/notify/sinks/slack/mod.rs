//! The Slack incoming-webhook sink: a header block and mrkdwn sections from
//! the sink's template (`text` carries the title for notifications).
//!
//! Slack answers `200 ok` as plain text; errors are plain-text codes
//! (`invalid_payload`, `no_service`, ...) and 429 with `Retry-After`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::config::sink::Slack as Config;
use crate::config::Secret;
use crate::logic::template::{Rendered, Renderer};
use crate::notify::{exchange, render_fitting, rendered_fits, Batch, Common, Delivery, DeliveryError, Limits, Service};

/// A section's text limit (characters).
pub(crate) const SECTION_CHARS: usize = 3000;
/// Slack refuses messages whose blocks carry much more text than this.
pub(crate) const MAX_CHARS: usize = 12_000;

/// Slack's incoming-webhook limit: about one message a second.
pub(crate) const LIMITS: Limits = Limits {
    max_notices: 100,
    rates: &[(1, Duration::from_secs(1))],
};

pub(crate) struct Slack {
    pub(crate) url: Secret,
    pub(crate) renderer: Renderer,
    pub(crate) http: reqwest::Client,
}

/// Splits text into pieces of at most `max` characters, at line ends when possible.
fn chunks(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut n = 0;
    for line in text.split_inclusive('\n') {
        let len = line.chars().count();
        if n + len > max && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            n = 0;
        }
        if len > max {
            let mut part = String::new();
            for (i, ch) in line.chars().enumerate() {
                if i > 0 && i % max == 0 {
                    out.push(std::mem::take(&mut part));
                }
                part.push(ch);
            }
            cur = part;
            n = cur.chars().count();
        } else {
            cur.push_str(line);
            n += len;
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

pub(crate) fn body(r: &Rendered, host: &str) -> Value {
    let title: String = r.title.chars().take(150).collect();
    let mut blocks = vec![json!({"type": "header", "text": {"type": "plain_text", "text": title, "emoji": true}})];
    for part in chunks(&r.body, SECTION_CHARS) {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": part}}));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("hawatch · {host}")}]}));
    json!({"text": r.title, "blocks": blocks})
}

/// Whether a rendered message stays under the text Slack accepts.
pub(crate) fn fits_rendered(r: &Rendered) -> bool {
    r.body.chars().count() <= MAX_CHARS
}

impl Service for Slack {
    type Config = Config;

    fn new(c: &Config, common: Common) -> Slack {
        Slack {
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
        let req = self.http.post(self.url.expose()).json(&body(&r, self.renderer.host()));
        let (status, wait, text) = exchange(req).await?;
        verdict(status, &text).map_err(|e| e.after(wait))
    }
}

/// Slack's verdict, in plain words.
pub fn verdict(status: u16, text: &str) -> Result<(), DeliveryError> {
    let code: String = text.trim().chars().take(100).collect();
    match status {
        200..=299 => Ok(()),
        429 => Err(DeliveryError::service(format!("Slack: rate limited ({code})"))),
        500..=599 => Err(DeliveryError::service(format!("Slack: HTTP {status} ({code})"))),
        403 | 404 | 410 => Err(DeliveryError::config(format!(
            "Slack: HTTP {status} {code}: the webhook URL is revoked or wrong, or its channel is gone; check the sink's `url`"
        ))),
        _ => Err(DeliveryError::config(format!("Slack refused the message: HTTP {status} {code}"))),
    }
}

#[cfg(test)]
mod tests;
