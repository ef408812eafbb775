//! The Feishu (and Lark: same API, `open.larksuite.com`; the host comes from
//! the URL) custom-bot sink: an interactive card whose header and body come
//! from the sink's template, or plain text (`format = "text"`) for bots that
//! want it; optionally signed.
//!
//! Feishu answers HTTP 200 even when it refuses a message; the verdict is the
//! body's `code` (0 = delivered; legacy replies carry only `StatusCode`).

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{exchange, render_fitting, Delivery, DeliveryError};
use crate::config::Secret;
use crate::logic::template::{Rendered, Renderer};
use crate::model::event::Severity;

/// Feishu's limit on the whole request body.
pub const MAX_BODY: usize = 20_000;

pub struct Feishu {
    pub url: Secret,
    pub secret: Option<Secret>,
    pub text: bool,
    pub renderer: Renderer,
    pub http: reqwest::Client,
}

/// Feishu's signature: HMAC-SHA256 keyed with `"{timestamp}\n{secret}"` over
/// an empty message, standard Base64 (yes, key and message are that way round).
pub fn sign(timestamp: i64, secret: &str) -> String {
    let key = format!("{timestamp}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The header colour: red for critical, orange for warning, green when
/// everything in the message recovered, blue otherwise.
pub fn colour(d: &Delivery) -> &'static str {
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
pub fn card(d: &Delivery, r: &Rendered, host: &str) -> Value {
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
pub fn body(d: &Delivery, r: &Rendered, text: bool, host: &str, secret: Option<&Secret>, now_secs: i64) -> Value {
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
    let v: Option<Value> = serde_json::from_str(text).ok();
    let code = v
        .as_ref()
        .and_then(|v| v.get("code").or_else(|| v.get("StatusCode")))
        .and_then(Value::as_i64);
    let msg = v
        .as_ref()
        .and_then(|v| v.get("msg").or_else(|| v.get("StatusMessage")))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match code {
        Some(0) if (200..300).contains(&http_status) => Ok(()),
        Some(11232) => Err(DeliveryError::retryable(format!(
            "Feishu rate limit (code 11232: {msg})"
        ))),
        Some(19021) => Err(DeliveryError::permanent(format!(
            "Feishu refused the signature (code 19021: {msg}): check the sink's `secret` and this host's clock"
        ))),
        Some(19024) => Err(DeliveryError::permanent(format!(
            "Feishu: keyword missing (code 19024: {msg}): the bot has keyword protection"
        ))),
        Some(19022) => Err(DeliveryError::permanent(format!(
            "Feishu: IP not allowed (code 19022: {msg}): add this host to the bot's IP whitelist"
        ))),
        Some(19001) => Err(DeliveryError::permanent(format!(
            "Feishu: webhook token invalid (code 19001: {msg}): check the sink's `url`"
        ))),
        Some(c) => Err(DeliveryError::permanent(format!(
            "Feishu refused the message (code {c}: {msg})"
        ))),
        None if http_status == 429 || http_status >= 500 => {
            Err(DeliveryError::retryable(format!("Feishu: HTTP {http_status}")))
        }
        None => Err(DeliveryError::permanent(format!(
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
    pub fn fits_rendered(&self, d: &Delivery, r: &Rendered) -> bool {
        body(d, r, self.text, self.host(), None, 0).to_string().len() + 96 <= MAX_BODY
    }

    pub async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let r = render_fitting(&self.renderer, d, |r| self.fits_rendered(d, r))?;
        let body = body(
            d,
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
mod tests {
    use super::*;

    #[test]
    fn signature_test_vectors() {
        assert_eq!(sign(1599360473, "demo"), "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8=");
        assert_eq!(
            sign(1716283459, "dGhpcyBpcyBhIGtleQ=="),
            "8EyY+xxfJvzWjZQpdc2mgvQFaG7lF5nbxl7RITyMkJU="
        );
    }

    #[test]
    fn verdicts() {
        assert!(verdict(
            200,
            r#"{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}"#
        )
        .is_ok());
        assert!(verdict(200, r#"{"Extra":null,"StatusCode":0,"StatusMessage":"success"}"#).is_ok());
        let e = verdict(200, r#"{"code":19021,"msg":"sign match fail"}"#).unwrap_err();
        assert!(!e.retryable && e.message.contains("secret"));
        assert!(
            verdict(200, r#"{"code":11232,"msg":"frequency limited"}"#)
                .unwrap_err()
                .retryable
        );
        assert!(verdict(502, "bad gateway").unwrap_err().retryable);
        assert!(!verdict(200, "<html>").unwrap_err().retryable);
    }

    #[test]
    fn card_shape_and_size() {
        use crate::logic::route::Zone;
        use crate::logic::template::{samples, Format, Lang};
        use crate::model::notice::Notice;
        let r = Renderer::new(Lang::Zh, Format::Markdown, Zone::Local, "lb-01", None).unwrap();
        let mut down = samples()[0].clone();
        down.event.check.as_mut().unwrap().info = Some("Connection <refused>".into());
        let one = Delivery {
            id: "d".into(),
            sink: "f".into(),
            notices: vec![down.clone()],
            test: false,
        };
        let rendered = r.render(&one.notices, "f", false).unwrap();
        let b = body(&one, &rendered, false, "lb-01", Some(&Secret::new("s")), 1599360473);
        assert_eq!(b["msg_type"], "interactive");
        assert_eq!(b["card"]["header"]["template"], "red");
        assert!(b["card"]["header"]["title"]["content"].as_str().unwrap().contains("❌"));
        assert_eq!(b["timestamp"], "1599360473");
        let text = b.to_string();
        assert!(text.contains("UP → DOWN") && text.contains("L4CON") && !text.contains("<refused>"));
        let t = body(&one, &rendered, true, "lb-01", None, 0);
        assert_eq!(t["msg_type"], "text");
        assert!(t["content"]["text"].as_str().unwrap().starts_with("❌ 服务器故障"));
        let mut up = samples()[1].clone();
        up.severity = crate::model::event::Severity::Info;
        let many = Delivery {
            id: "d".into(),
            sink: "f".into(),
            notices: vec![up; 20],
            test: false,
        };
        assert_eq!(colour(&many), "green");
        let _ = Notice::of(down.event);
    }

    /// Issue 12: a check reason or an alert label with `[click](http://evil.example)`,
    /// a new line or `<at id=all>` reached the card as a link, a line, a mention.
    #[test]
    fn outside_text_is_no_link_line_or_mention_in_the_card_or_the_text() {
        use crate::logic::route::Zone;
        use crate::logic::template::{assert_no_hostile_markup, hostile_samples, Format, Lang};
        for lang in [Lang::Zh, Lang::En] {
            for (format, text) in [(Format::Markdown, false), (Format::FeishuText, true)] {
                let r = Renderer::new(lang, format, Zone::Local, "lb-01", None).unwrap();
                for n in hostile_samples() {
                    let d = Delivery {
                        id: "d".into(),
                        sink: "f".into(),
                        notices: vec![n],
                        test: false,
                    };
                    let rendered = r.render(&d.notices, "f", false).unwrap();
                    let b = body(&d, &rendered, text, "lb-01", None, 0);
                    let shown = if text {
                        b["content"]["text"].as_str().unwrap().to_string()
                    } else {
                        let title = b["card"]["header"]["title"]["content"].as_str().unwrap();
                        let md = b["card"]["elements"][0]["text"]["content"].as_str().unwrap();
                        format!("{title}\n{md}")
                    };
                    let what = format!("feishu {lang:?} {format:?}");
                    if text {
                        // A text message renders no markdown; only `<at>` tags and lines act.
                        assert!(!shown.contains("<at") && !shown.contains('\u{1b}'), "{what}: {shown}");
                        assert!(!shown.lines().any(|l| l.starts_with("FAKE LINE")), "{what}: {shown}");
                    } else {
                        assert_no_hostile_markup(&what, &shown);
                    }
                }
            }
        }
    }
}
