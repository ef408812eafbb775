//! DingTalk custom robots: always HTTP 200 with `{"errcode":N,"errmsg":…}`.

use axum::http::Method;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{errcode, has_keyword, is_string_array, Req, Settings, Verdict};

/// Largest body DingTalk accepts.
pub const DINGTALK_MAX_BODY: usize = 20_000;
/// DingTalk's allowed clock difference for `timestamp` (milliseconds).
pub const DINGTALK_MAX_SKEW_MS: i64 = 3_600_000;
/// The only `access_token` the DingTalk flavour accepts.
pub const DINGTALK_TOKEN: &str = "test-token";

/// DingTalk's signature, raw (before percent-encoding):
/// base64(HMAC-SHA256(key = secret, msg = "{ts_ms}\n{secret}")).
pub fn dingtalk_sign(ts_ms: i64, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{ts_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub(super) fn check_dingtalk(secret: Option<&str>, settings: &Settings, req: &Req) -> Verdict {
    if req.method != Method::POST {
        return errcode(43002, "需要POST请求", "not POST");
    }
    let token = req.query_param("access_token");
    if token.as_deref() != Some(DINGTALK_TOKEN) {
        return errcode(300005, "token is not exist", format!("access_token {token:?}"));
    }
    if settings.ip_denied {
        return errcode(310000, "ip 127.0.0.1 not in whitelist", "ip denied (set_ip_denied)");
    }
    if req.body.len() > DINGTALK_MAX_BODY {
        return errcode(
            460101,
            "message too long, exceed 20000 bytes",
            format!("body is {} bytes > {DINGTALK_MAX_BODY}", req.body.len()),
        );
    }
    let Some(v) = req.object() else {
        return errcode(40035, "缺少参数 json", "body is not a JSON object");
    };
    if let Some(secret) = secret {
        if let Err(why) = check_dingtalk_sign(secret, req) {
            return errcode(310000, "sign not match", why);
        }
    }
    if !has_keyword(&settings.keywords, &dingtalk_text(v)) {
        return errcode(
            310000,
            "keywords not in content",
            format!("none of {:?} in the message", settings.keywords),
        );
    }
    if let Err(why) = check_dingtalk_message(v) {
        return errcode(40035, "缺少参数 json", why);
    }
    Verdict::ok(json!({"errcode": 0, "errmsg": "ok"}))
}

fn check_dingtalk_sign(secret: &str, req: &Req) -> Result<(), String> {
    let ts_str = req.query_param("timestamp").ok_or("query `timestamp` missing")?;
    let ts: i64 = ts_str
        .parse()
        .map_err(|_| format!("query `timestamp` {ts_str:?} is not an integer"))?;
    let now = chrono::Utc::now().timestamp_millis();
    if (now - ts).abs() > DINGTALK_MAX_SKEW_MS {
        return Err(format!(
            "query `timestamp` {ts} is {} ms from now (milliseconds expected, not s)",
            now - ts
        ));
    }
    let sign = req.query_param("sign").ok_or("query `sign` missing")?;
    let want = dingtalk_sign(ts, secret);
    if sign != want {
        let hint = if sign.contains(' ') {
            " ('+' not percent-encoded?)"
        } else if sign.contains('%') {
            " (percent-encoded twice?)"
        } else {
            ""
        };
        return Err(format!("sign {sign:?} != expected {want:?}{hint}"));
    }
    Ok(())
}

fn check_dingtalk_message(v: &Value) -> Result<(), String> {
    match v["msgtype"].as_str() {
        Some("markdown") => {
            for key in ["title", "text"] {
                if !v["markdown"][key].is_string() {
                    return Err(format!("markdown.{key} missing or not a string"));
                }
            }
        }
        Some("text") => {
            if !v["text"]["content"].is_string() {
                return Err("text.content missing or not a string".into());
            }
        }
        _ => return Err(format!("msgtype is {}, want \"markdown\" or \"text\"", v["msgtype"])),
    }
    if let Some(at) = v.get("at") {
        if !at.is_object() {
            return Err(format!("`at` is not an object: {at}"));
        }
        for key in ["atMobiles", "atUserIds"] {
            if at.get(key).is_some_and(|x| !is_string_array(x)) {
                return Err(format!("at.{key} is not an array of strings"));
            }
        }
        if at.get("isAtAll").is_some_and(|x| !x.is_boolean()) {
            return Err("at.isAtAll is not a bool".into());
        }
    }
    Ok(())
}

/// The text of a DingTalk message: markdown `title + "\n" + text`, or text `content`.
pub(super) fn dingtalk_text(v: &Value) -> String {
    match v["msgtype"].as_str() {
        Some("markdown") => format!(
            "{}\n{}",
            v["markdown"]["title"].as_str().unwrap_or_default(),
            v["markdown"]["text"].as_str().unwrap_or_default()
        ),
        Some("text") => v["text"]["content"].as_str().unwrap_or_default().to_string(),
        _ => String::new(),
    }
}
