//! The DingTalk custom-robot sink: markdown messages from the sink's
//! template, `@` mobiles / all on problems, optionally signed (加签).
//!
//! DingTalk answers HTTP 200 even when it refuses a message; the verdict is
//! the body's `errcode`. Its signature goes in the query string and differs
//! from Feishu's: key = secret, message = `"{timestamp_ms}\n{secret}"`.

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;

use super::{exchange, render_fitting, Delivery, DeliveryError};
use crate::config::Secret;
use crate::logic::template::{Rendered, Renderer};
use crate::model::event::Severity;

/// DingTalk's limit on the request body.
pub const MAX_BODY: usize = 20_000;

pub struct Dingtalk {
    pub url: Secret,
    pub secret: Option<Secret>,
    pub at_mobiles: Vec<String>,
    pub at_all: bool,
    pub renderer: Renderer,
    pub http: reqwest::Client,
}

/// DingTalk's signature (raw Base64; reqwest's `query` percent-encodes it once).
pub fn sign(ts_ms: i64, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{ts_ms}\n{secret}").as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Mentions ping people: only for problems (and tests), never for recoveries.
fn mentions(d: &Delivery) -> bool {
    d.test
        || d.notices
            .iter()
            .any(|n| !n.resolves && n.severity == Severity::Critical)
}

impl Dingtalk {
    pub fn body(&self, d: &Delivery, r: &Rendered) -> Value {
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
    pub fn fits_rendered(&self, d: &Delivery, r: &Rendered) -> bool {
        self.body(d, r).to_string().len() <= MAX_BODY
    }

    pub async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let r = render_fitting(&self.renderer, d, |r| self.fits_rendered(d, r))?;
        let mut req = self.http.post(self.url.expose()).json(&self.body(d, &r));
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
    let v: Option<Value> = serde_json::from_str(text).ok();
    let code = v.as_ref().and_then(|v| v.get("errcode")).and_then(Value::as_i64);
    let msg = v
        .as_ref()
        .and_then(|v| v.get("errmsg"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let lower = msg.to_lowercase();
    match code {
        Some(0) if (200..300).contains(&http_status) => Ok(()),
        Some(c @ (130101 | 410100)) => Err(DeliveryError {
            message: format!("DingTalk: rate limited (errcode {c}: {msg}); the robot is throttled for 10 minutes"),
            retryable: true,
            retry_after: Some(Duration::from_secs(600)),
        }),
        Some(-1) => Err(DeliveryError::retryable(format!("DingTalk: system busy (errcode -1: {msg})"))),
        Some(310000) if lower.contains("keyword") => Err(DeliveryError::permanent(format!(
            "DingTalk: keyword missing (errcode 310000: {msg}): the robot has keyword protection; put the keyword in the template"
        ))),
        Some(310000) if lower.contains("ip") && !lower.contains("sign") => Err(DeliveryError::permanent(format!(
            "DingTalk: IP not allowed (errcode 310000: {msg}): add this host to the robot's IP whitelist"
        ))),
        Some(310000) => Err(DeliveryError::permanent(format!(
            "DingTalk: wrong secret or clock (errcode 310000: {msg}): check the sink's `secret` (SEC...) and this host's clock"
        ))),
        Some(c @ (300001 | 300005 | 400101 | 400102)) => Err(DeliveryError::permanent(format!(
            "DingTalk: access token invalid or robot disabled (errcode {c}: {msg}): check the sink's `url`"
        ))),
        Some(c @ (460101 | 101002)) => Err(DeliveryError::permanent(format!(
            "DingTalk: message too long (errcode {c}: {msg})"
        ))),
        Some(90030) => Err(DeliveryError {
            message: format!("DingTalk: webhook quota exhausted (errcode 90030: {msg})"),
            retryable: false,
            retry_after: Some(Duration::from_secs(3600)),
        }),
        Some(c) => Err(DeliveryError::permanent(format!("DingTalk refused the message (errcode {c}: {msg})"))),
        None if http_status == 429 || http_status >= 500 => {
            Err(DeliveryError::retryable(format!("DingTalk: HTTP {http_status}")))
        }
        None => Err(DeliveryError::permanent(format!(
            "DingTalk: HTTP {http_status} with no errcode in the reply: {}",
            text.chars().take(200).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_test_vector() {
        let secret = format!("SEC{}", "0".repeat(64));
        assert_eq!(
            sign(1_700_000_000_000, &secret),
            "+8WOOUUcTkFRyfCevQaISh9EUbkxaatnd6MLtL7dAY8="
        );
    }

    #[test]
    fn verdicts_in_plain_words() {
        assert!(verdict(200, r#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
        let e = verdict(200, r#"{"errcode":130101,"errmsg":"send too fast"}"#).unwrap_err();
        assert!(e.retryable && e.retry_after == Some(Duration::from_secs(600)));
        let e = verdict(200, r#"{"errcode":310000,"errmsg":"keywords not in content"}"#).unwrap_err();
        assert!(!e.retryable && e.message.contains("keyword missing"));
        let e = verdict(200, r#"{"errcode":310000,"errmsg":"sign not match"}"#).unwrap_err();
        assert!(e.message.contains("wrong secret"));
        let e = verdict(200, r#"{"errcode":310000,"errmsg":"ip 1.2.3.4 not in whitelist"}"#).unwrap_err();
        assert!(e.message.contains("IP not allowed"));
        assert!(verdict(503, "").unwrap_err().retryable);
    }

    /// Issue 12: outside text in a DingTalk markdown message is no link, no
    /// line of its own, no heading, no tag.
    #[test]
    fn outside_text_is_no_link_or_line_in_the_markdown() {
        use crate::logic::route::Zone;
        use crate::logic::template::{assert_no_hostile_markup, hostile_samples, Format, Lang};
        for lang in [Lang::Zh, Lang::En] {
            let r = Renderer::new(lang, Format::Markdown, Zone::Local, "lb-01", None).unwrap();
            let sink = Dingtalk {
                url: Secret::new("http://127.0.0.1:1/robot/send?access_token=t"),
                secret: None,
                at_mobiles: vec!["13800000000".into()],
                at_all: false,
                renderer: r.clone(),
                http: reqwest::Client::new(),
            };
            for n in hostile_samples() {
                let d = Delivery {
                    id: "d".into(),
                    sink: "dd".into(),
                    notices: vec![n],
                    test: false,
                };
                let b = sink.body(&d, &r.render(&d.notices, "dd", false).unwrap());
                let md = b["markdown"]["text"].as_str().unwrap();
                assert_no_hostile_markup(&format!("dingtalk {lang:?}"), md);
                assert!(!b["markdown"]["title"].as_str().unwrap().contains('\n'));
            }
        }
    }
}
