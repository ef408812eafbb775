//! The Feishu (and Lark: same API, `open.larksuite.com`) custom-bot sink: an
//! interactive card with the seed's icons, optionally signed.
//!
//! Feishu answers HTTP 200 even when it refuses a message; the verdict is the
//! body's `code` (0 = delivered; legacy replies carry only `StatusCode`).

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{Local, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{icon, read_body, retry_after, Delivery, DeliveryError};
use crate::config::Secret;
use crate::event::{Event, Kind, Severity};

pub struct Feishu {
    pub url: Secret,
    pub secret: Option<Secret>,
    pub http: reqwest::Client,
}

/// Feishu's signature: HMAC-SHA256 keyed with `"{timestamp}\n{secret}"` over
/// an empty message, standard Base64 (yes, key and message are that way round).
pub fn sign(timestamp: i64, secret: &str) -> String {
    let key = format!("{timestamp}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    STANDARD.encode(mac.finalize().into_bytes())
}

/// lark_md treats `<...>` as mentions and `*`/`_` as emphasis; event text is
/// HAProxy's, so neutralise what could render or ping.
fn md(s: &str) -> String {
    s.replace('<', "‹").replace('>', "›").replace('*', "∗")
}

fn state_line(e: &Event) -> String {
    match (&e.from, &e.to) {
        (Some(f), Some(t)) => format!("{f} → {t}"),
        (None, Some(t)) => format!("🆕 → {t}"),
        (Some(f), None) => format!("{f} → 已移除"),
        (None, None) => String::new(),
    }
}

fn check_line(e: &Event) -> Option<String> {
    let c = e.check.as_ref().or(e.agent.as_ref())?;
    let mut s = c.short();
    if let Some(d) = c.duration_ms {
        s.push_str(&format!(" ({d}ms)"));
    }
    Some(md(&s))
}

fn kind_zh(k: Kind) -> &'static str {
    match k {
        Kind::ServerDown => "服务器故障",
        Kind::ServerUp => "服务器恢复",
        Kind::ServerNolb => "服务器软下线 (NOLB)",
        Kind::ServerMaint => "服务器进入维护",
        Kind::ServerDrain => "服务器排空 (DRAIN)",
        Kind::ServerReady => "服务器恢复服务",
        Kind::CheckChanged => "健康检查状态变更",
        Kind::AgentChanged => "Agent 检查状态变更",
        Kind::ServerAdded => "新增后端服务器",
        Kind::ServerRemoved => "后端服务器移除",
        Kind::BackendDown => "后端无可用服务器",
        Kind::BackendUp => "后端恢复可用",
        Kind::InstanceUnreachable => "HAProxy 实例不可达",
        Kind::InstanceRecovered => "HAProxy 实例恢复",
        Kind::InstanceRestarted => "HAProxy 重启/重载",
    }
}

/// The card for a delivery (JSON 1.0 schema, which every client renders).
pub fn card(d: &Delivery) -> Value {
    let worst = d.events.iter().map(|e| e.severity).max().unwrap_or(Severity::Info);
    let all_good = d.events.iter().all(|e| {
        matches!(
            e.kind,
            Kind::ServerUp | Kind::ServerReady | Kind::BackendUp | Kind::InstanceRecovered
        )
    });
    let template = match worst {
        Severity::Critical => "red",
        Severity::Warning => "orange",
        Severity::Info if all_good => "green",
        Severity::Info => "blue",
    };
    let mut instances: Vec<&str> = d.events.iter().map(|e| e.instance.as_str()).collect();
    instances.dedup();
    let title = match d.events.as_slice() {
        [e] => format!("{} {} · {}", icon(e.kind), kind_zh(e.kind), e.subject()),
        evs => format!("HAProxy 状态变更 · {} 项 ({})", evs.len(), instances.join(", ")),
    };
    let mut elements = Vec::new();
    for (i, e) in d.events.iter().enumerate() {
        if i > 0 {
            elements.push(json!({"tag": "hr"}));
        }
        let mut fields = vec![
            json!({"is_short": true, "text": {"tag": "lark_md", "content": format!("**事件**\n{} {}", icon(e.kind), kind_zh(e.kind))}}),
            json!({"is_short": true, "text": {"tag": "lark_md", "content": format!("**实例**\n{}", md(&e.instance))}}),
        ];
        if let Some(b) = &e.backend {
            fields
                .push(json!({"is_short": true, "text": {"tag": "lark_md", "content": format!("**后端**\n{}", md(b))}}));
        }
        if let Some(s) = &e.server {
            fields.push(
                json!({"is_short": true, "text": {"tag": "lark_md", "content": format!("**服务器**\n{}", md(s))}}),
            );
        }
        let states = state_line(e);
        if !states.is_empty() {
            fields.push(json!({"is_short": true, "text": {"tag": "lark_md", "content": format!("**状态变更**\n{}", md(&states))}}));
        }
        if let Some(c) = check_line(e) {
            fields.push(json!({"is_short": true, "text": {"tag": "lark_md", "content": format!("**健康检查**\n{c}")}}));
        }
        elements.push(json!({"tag": "div", "fields": fields}));
        let when = e.time.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S %Z");
        elements.push(
            json!({"tag": "note", "elements": [{"tag": "plain_text", "content": format!("{when} · {}", e.message)}]}),
        );
    }
    json!({
        "config": {"wide_screen_mode": true},
        "header": {"template": template, "title": {"tag": "plain_text", "content": title}},
        "elements": elements,
    })
}

/// The whole request body, signed when a secret is set.
pub fn body(d: &Delivery, secret: Option<&Secret>, now_secs: i64) -> Value {
    let mut b = json!({"msg_type": "interactive", "card": card(d)});
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
    pub async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let body = body(d, self.secret.as_ref(), Utc::now().timestamp());
        let resp = self
            .http
            .post(self.url.expose())
            .json(&body)
            .send()
            .await
            .map_err(DeliveryError::transport)?;
        let status = resp.status().as_u16();
        let wait = retry_after(&resp);
        let text = read_body(resp).await;
        verdict(status, &text).map_err(|mut e| {
            e.retry_after = wait;
            e
        })
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
        let ev = |k: Kind, sev: Severity| Event {
            id: "x".into(),
            time: Utc::now(),
            instance: "lb1".into(),
            kind: k,
            severity: sev,
            backend: Some("be_app".into()),
            server: Some("app2".into()),
            from: Some("UP".into()),
            to: Some("DOWN".into()),
            status: Some("DOWN".into()),
            check: Some(crate::event::Check {
                status: "L4CON".into(),
                code: None,
                desc: None,
                info: Some("Connection <refused>".into()),
                duration_ms: Some(0),
            }),
            agent: None,
            addr: None,
            message: "server be_app/app2 UP → DOWN".into(),
        };
        let one = Delivery {
            id: "d".into(),
            sink: "f".into(),
            events: vec![ev(Kind::ServerDown, Severity::Critical)],
        };
        let b = body(&one, Some(&Secret::new("s")), 1599360473);
        assert_eq!(b["msg_type"], "interactive");
        assert_eq!(b["card"]["header"]["template"], "red");
        assert!(b["card"]["header"]["title"]["content"].as_str().unwrap().contains("❌"));
        assert_eq!(b["timestamp"], "1599360473");
        let text = b.to_string();
        assert!(text.contains("UP → DOWN") && text.contains("L4CON") && !text.contains("<refused>"));
        let many = Delivery {
            id: "d".into(),
            sink: "f".into(),
            events: (0..20).map(|_| ev(Kind::ServerUp, Severity::Info)).collect(),
        };
        let b = body(&many, None, 0);
        assert_eq!(b["card"]["header"]["template"], "green");
        assert!(
            b.to_string().len() < 20_000,
            "20 events fit Feishu's 20 KB limit: {}",
            b.to_string().len()
        );
    }
}
