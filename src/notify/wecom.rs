//! The WeCom (企业微信) group-robot sink: markdown from the sink's template,
//! at most 4096 bytes of content per message (longer ones are split by the
//! outbox, or truncated when one notice alone is too long).
//!
//! The `key` in the URL is the only credential; WeCom answers HTTP 200 with
//! an `errcode`.

use std::time::Duration;

use serde_json::{json, Value};

use super::{exchange, render_fitting, Delivery, DeliveryError};
use crate::config::Secret;
use crate::logic::template::{Rendered, Renderer};

/// WeCom's limit on markdown `content`, in UTF-8 bytes.
pub const MAX_CONTENT: usize = 4096;

pub struct Wecom {
    pub url: Secret,
    pub renderer: Renderer,
    pub http: reqwest::Client,
}

pub fn content(r: &Rendered) -> String {
    format!("**{}**\n{}", r.title, r.body)
}

/// Whether a rendered message is within WeCom's content limit.
pub fn fits_rendered(r: &Rendered) -> bool {
    content(r).len() <= MAX_CONTENT
}

impl Wecom {
    pub async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let r = render_fitting(&self.renderer, d, fits_rendered)?;
        let body = json!({"msgtype": "markdown", "markdown": {"content": content(&r)}});
        let (status, wait, text) = exchange(self.http.post(self.url.expose()).json(&body)).await?;
        verdict(status, &text).map_err(|e| e.after(wait))
    }
}

/// WeCom's verdict on a reply, in plain words. (The reply echoes this host's
/// public IP; it is kept, the key never appears in it.)
pub fn verdict(http_status: u16, text: &str) -> Result<(), DeliveryError> {
    let v: Option<Value> = serde_json::from_str(text).ok();
    let code = v.as_ref().and_then(|v| v.get("errcode")).and_then(Value::as_i64);
    let msg: String = v
        .as_ref()
        .and_then(|v| v.get("errmsg"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    match code {
        Some(0) if (200..300).contains(&http_status) => Ok(()),
        Some(45009) => Err(DeliveryError {
            message: format!("WeCom: rate limited (errcode 45009: {msg})"),
            retryable: true,
            retry_after: Some(Duration::from_secs(60)),
        }),
        Some(-1) => Err(DeliveryError::retryable(format!(
            "WeCom: system busy (errcode -1: {msg})"
        ))),
        Some(93000) => Err(DeliveryError::permanent(format!(
            "WeCom: invalid webhook key (errcode 93000: {msg}): check the sink's `url`"
        ))),
        Some(40058) => Err(DeliveryError::permanent(format!(
            "WeCom: message too long (errcode 40058: {msg})"
        ))),
        Some(c) => Err(DeliveryError::permanent(format!(
            "WeCom refused the message (errcode {c}: {msg})"
        ))),
        None if http_status == 429 || http_status >= 500 => {
            Err(DeliveryError::retryable(format!("WeCom: HTTP {http_status}")))
        }
        None => Err(DeliveryError::permanent(format!(
            "WeCom: HTTP {http_status} with no errcode in the reply: {}",
            text.chars().take(200).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn verdicts() {
        assert!(super::verdict(200, r#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
        assert!(
            super::verdict(200, r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#)
                .unwrap_err()
                .retryable
        );
        let e = super::verdict(200, r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#).unwrap_err();
        assert!(!e.retryable && e.message.contains("key"));
    }

    /// Issue 12: outside text in a WeCom markdown message is no link, no
    /// line of its own, no `<font>` or `<@user>` tag.
    #[test]
    fn outside_text_is_no_link_or_line_in_the_markdown() {
        use crate::logic::route::Zone;
        use crate::logic::template::{assert_no_hostile_markup, hostile_samples, Format, Lang, Renderer};
        for lang in [Lang::Zh, Lang::En] {
            let r = Renderer::new(lang, Format::Markdown, Zone::Local, "lb-01", None).unwrap();
            for n in hostile_samples() {
                let rendered = r.render(std::slice::from_ref(&n), "wc", false).unwrap();
                assert_no_hostile_markup(&format!("wecom {lang:?}"), &super::content(&rendered));
            }
        }
    }
}
