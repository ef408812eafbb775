//! The Slack incoming-webhook sink: a header block and mrkdwn sections from
//! the sink's template (`text` carries the title for notifications).
//!
//! Slack answers `200 ok` as plain text; errors are plain-text codes
//! (`invalid_payload`, `no_service`, ...) and 429 with `Retry-After`.

use serde_json::{json, Value};

use super::{exchange, render_fitting, Delivery, DeliveryError};
use crate::config::Secret;
use crate::logic::template::{Rendered, Renderer};

/// A section's text limit (characters).
pub const SECTION_CHARS: usize = 3000;
/// Slack refuses messages whose blocks carry much more text than this.
pub const MAX_CHARS: usize = 12_000;

pub struct Slack {
    pub url: Secret,
    pub renderer: Renderer,
    pub http: reqwest::Client,
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

pub fn body(r: &Rendered, host: &str) -> Value {
    let title: String = r.title.chars().take(150).collect();
    let mut blocks = vec![json!({"type": "header", "text": {"type": "plain_text", "text": title, "emoji": true}})];
    for part in chunks(&r.body, SECTION_CHARS) {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": part}}));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("hawatch · {host}")}]}));
    json!({"text": r.title, "blocks": blocks})
}

/// Whether a rendered message stays under the text Slack accepts.
pub fn fits_rendered(r: &Rendered) -> bool {
    r.body.chars().count() <= MAX_CHARS
}

impl Slack {
    pub async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
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
        429 => Err(DeliveryError::retryable(format!("Slack: rate limited ({code})"))),
        500..=599 => Err(DeliveryError::retryable(format!("Slack: HTTP {status} ({code})"))),
        403 | 404 | 410 => Err(DeliveryError::permanent(format!(
            "Slack: HTTP {status} {code}: the webhook URL is revoked or wrong, or its channel is gone; check the sink's `url`"
        ))),
        _ => Err(DeliveryError::permanent(format!("Slack refused the message: HTTP {status} {code}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_split_into_sections() {
        let text = "x".repeat(100) + "\n";
        let r = Rendered {
            title: "t".repeat(200),
            body: text.repeat(70),
        };
        let b = body(&r, "h");
        let blocks = b["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["text"]["text"].as_str().unwrap().chars().count(), 150);
        assert!(blocks.len() >= 5 && blocks.len() <= 50);
        for s in &blocks[1..blocks.len() - 1] {
            assert!(s["text"]["text"].as_str().unwrap().chars().count() <= SECTION_CHARS);
        }
        assert_eq!(chunks("ab\ncd\n", 3), vec!["ab\n", "cd\n"]);
        assert_eq!(chunks("abcdefg", 3).len(), 3);
    }

    #[test]
    fn verdicts() {
        assert!(verdict(200, "ok").is_ok());
        assert!(verdict(429, "rate_limited").unwrap_err().retryable);
        assert!(verdict(404, "no_service").unwrap_err().message.contains("revoked"));
    }
}
