//! Feishu and Lark custom bots: the path token, IP whitelist, size, signature,
//! message shapes and keywords, checked in that order.

use axum::http::Method;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{has_keyword, Req, Settings, Verdict};

/// Largest body Feishu accepts.
pub const FEISHU_MAX_BODY: usize = 20_000;
/// Feishu's allowed clock difference for `timestamp`.
pub const FEISHU_MAX_SKEW_SECS: i64 = 3600;
/// Path of a Feishu / Lark custom-bot hook, followed by the token.
pub const FEISHU_HOOK_PREFIX: &str = "/open-apis/bot/v2/hook/";
/// The only token the Feishu flavour accepts.
pub const FEISHU_TOKEN: &str = "test-token";
/// The only token the Lark flavour accepts.
pub const LARK_TOKEN: &str = "lark-token";

/// Feishu's signature: base64(HMAC-SHA256(key = "{timestamp}\n{secret}", msg = "")).
pub fn feishu_sign(timestamp: i64, secret: &str) -> String {
    let key = format!("{timestamp}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn feishu_fail(code: i64, msg: &str, reason: impl Into<String>) -> Verdict {
    Verdict::reject(200, json!({"code": code, "msg": msg}), reason)
}

fn feishu_bad_request(reason: impl Into<String>) -> Verdict {
    feishu_fail(9499, "Bad Request", reason)
}

pub(super) fn check_feishu(token: &str, secret: Option<&str>, settings: &Settings, req: &Req) -> Verdict {
    if req.method != Method::POST {
        return Verdict::reject(405, json!({"code": 9499, "msg": "Bad Request"}), "not POST");
    }
    match req.path.strip_prefix(FEISHU_HOOK_PREFIX) {
        Some(t) if t == token => {}
        Some(t) => {
            return feishu_fail(
                19001,
                "param invalid: incoming webhook access token invalid",
                format!("token {t:?} is not {token:?}"),
            )
        }
        None => {
            return Verdict::text(
                404,
                "404 page not found",
                Some(format!("path {} is not {FEISHU_HOOK_PREFIX}<token>", req.path)),
            )
        }
    }
    if settings.ip_denied {
        return feishu_fail(19022, "Ip Not Allowed", "ip denied (set_ip_denied)");
    }
    if req.body.len() > FEISHU_MAX_BODY {
        return feishu_bad_request(format!("body is {} bytes > {FEISHU_MAX_BODY}", req.body.len()));
    }
    let Some(v) = req.object() else {
        return feishu_bad_request("body is not a JSON object");
    };
    if let Some(secret) = secret {
        if let Err(why) = check_feishu_sign(secret, v) {
            return feishu_fail(
                19021,
                "sign match fail or timestamp is not within one hour from current time",
                why,
            );
        }
    }
    if let Err(why) = check_feishu_message(v) {
        return feishu_bad_request(why);
    }
    if !has_keyword(&settings.keywords, &feishu_text(v)) {
        return feishu_fail(
            19024,
            "Key Words Not Found",
            format!("none of {:?} in the message", settings.keywords),
        );
    }
    Verdict::ok(json!({
        "StatusCode": 0,
        "StatusMessage": "success",
        "code": 0,
        "data": {},
        "msg": "success"
    }))
}

fn check_feishu_sign(secret: &str, v: &Value) -> Result<(), String> {
    let ts_str = v["timestamp"].as_str().ok_or("`timestamp` missing or not a string")?;
    let ts: i64 = ts_str
        .parse()
        .map_err(|_| format!("`timestamp` {ts_str:?} is not an integer"))?;
    let now = chrono::Utc::now().timestamp();
    if (now - ts).abs() > FEISHU_MAX_SKEW_SECS {
        return Err(format!(
            "`timestamp` {ts} is {} s from now (seconds expected, not ms)",
            now - ts
        ));
    }
    let sign = v["sign"].as_str().ok_or("`sign` missing or not a string")?;
    let want = feishu_sign(ts, secret);
    if sign != want {
        return Err(format!("sign {sign:?} != expected {want:?}"));
    }
    Ok(())
}

fn check_feishu_message(v: &Value) -> Result<(), String> {
    match v["msg_type"].as_str() {
        Some("interactive") => check_feishu_card(v),
        Some("text") => {
            if !v["content"].is_object() {
                return Err(format!("`content` must be an object, got {}", v["content"]));
            }
            match v["content"]["text"].as_str() {
                Some("") => Err("content.text is empty".into()),
                Some(_) => Ok(()),
                None => Err("content.text missing or not a string".into()),
            }
        }
        Some("post") => check_feishu_post(v),
        _ => Err(format!(
            "msg_type is {}, want \"text\", \"post\" or \"interactive\"",
            v["msg_type"]
        )),
    }
}

fn check_feishu_post(v: &Value) -> Result<(), String> {
    let Some(langs) = v["content"]["post"].as_object() else {
        return Err("content.post missing or not an object".into());
    };
    if langs.is_empty() {
        return Err("content.post has no language".into());
    }
    for (lang, body) in langs {
        if !matches!(lang.as_str(), "zh_cn" | "en_us" | "ja_jp") {
            return Err(format!("content.post.{lang}: unknown language"));
        }
        if !(body["title"].is_null() || body["title"].is_string()) {
            return Err(format!("content.post.{lang}.title is not a string"));
        }
        let Some(paras) = body["content"].as_array() else {
            return Err(format!("content.post.{lang}.content missing or not an array"));
        };
        for (i, para) in paras.iter().enumerate() {
            let Some(nodes) = para.as_array() else {
                return Err(format!("content.post.{lang}.content[{i}] is not an array"));
            };
            for (j, node) in nodes.iter().enumerate() {
                let at = format!("content.post.{lang}.content[{i}][{j}]");
                let need = |key: &str| -> Result<(), String> {
                    if node[key].is_string() {
                        Ok(())
                    } else {
                        Err(format!("{at}.{key} missing or not a string"))
                    }
                };
                match node["tag"].as_str() {
                    None => return Err(format!("{at} has no string `tag`")),
                    Some("text") => need("text")?,
                    Some("a") => {
                        need("text")?;
                        need("href")?;
                        let href = node["href"].as_str().unwrap_or_default();
                        url::Url::parse(href).map_err(|e| format!("{at}.href {href:?}: {e}"))?;
                    }
                    Some("at") => need("user_id")?,
                    Some("img") => need("image_key")?,
                    Some(_) => {}
                }
            }
        }
    }
    Ok(())
}

fn check_feishu_card(v: &Value) -> Result<(), String> {
    let card = &v["card"];
    if !card.is_object() {
        return Err(format!("`card` must be an object, got {card}"));
    }
    if !card["header"]["title"]["content"].is_string() {
        return Err("card.header.title.content missing or not a string".into());
    }
    if !card["header"]["template"].is_string() {
        return Err("card.header.template missing or not a string".into());
    }
    let Some(elements) = card["elements"].as_array() else {
        return Err("card.elements missing or not an array".into());
    };
    if elements.is_empty() {
        return Err("card.elements is empty".into());
    }
    if let Some(i) = elements.iter().position(|e| !e["tag"].is_string()) {
        return Err(format!("card.elements[{i}] has no string `tag`"));
    }
    Ok(())
}

/// The text of a Feishu message (what keywords are searched in).
pub(super) fn feishu_text(v: &Value) -> String {
    match v["msg_type"].as_str() {
        Some("text") => v["content"]["text"].as_str().unwrap_or_default().to_string(),
        Some("post") => {
            let mut parts = Vec::new();
            for body in v["content"]["post"].as_object().into_iter().flat_map(|m| m.values()) {
                if let Some(t) = body["title"].as_str() {
                    parts.push(t.to_string());
                }
                for node in body["content"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_array)
                    .flatten()
                {
                    if let Some(t) = node["text"].as_str() {
                        parts.push(t.to_string());
                    }
                }
            }
            parts.join("\n")
        }
        Some("interactive") => {
            let mut parts = Vec::new();
            collect_strings(&v["card"], &mut parts);
            parts.join("\n")
        }
        _ => String::new(),
    }
}

/// Every string value inside `v` (not the keys), depth first.
fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}
