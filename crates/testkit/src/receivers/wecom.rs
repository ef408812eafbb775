//! WeCom group robots: always HTTP 200 with `{"errcode":N,"errmsg":…}`; the `key` is
//! the only credential (no keywords, no IP whitelist).

use axum::http::Method;
use serde_json::json;

use super::{errcode, is_string_array, Req, Verdict};

/// The only `key` the WeCom flavour accepts.
pub const WECOM_KEY: &str = "test-key";
/// WeCom `text.content` limit (UTF-8 bytes).
pub const WECOM_TEXT_MAX: usize = 2048;
/// WeCom `markdown.content` / `markdown_v2.content` limit (UTF-8 bytes).
pub const WECOM_MARKDOWN_MAX: usize = 4096;

pub(super) fn check_wecom(req: &Req) -> Verdict {
    if req.method != Method::POST {
        return errcode(43002, "require POST method", "not POST");
    }
    let key = req.query_param("key");
    if key.as_deref() != Some(WECOM_KEY) {
        return errcode(
            93000,
            "invalid webhook url, hint: [1700000000_00000000000000000000000000000000], from ip: 127.0.0.1, \
             more info at https://open.work.weixin.qq.com/devtool/query?e=93000",
            format!("key {key:?}"),
        );
    }
    let Some(v) = req.object() else {
        return errcode(47001, "data format error", "body is not a JSON object");
    };
    let (ty, limit) = match v["msgtype"].as_str() {
        Some("text") => ("text", WECOM_TEXT_MAX),
        Some(ty @ ("markdown" | "markdown_v2")) => (ty, WECOM_MARKDOWN_MAX),
        _ => {
            return errcode(
                40008,
                "invalid message type",
                format!("msgtype is {}, want text, markdown or markdown_v2", v["msgtype"]),
            )
        }
    };
    let content = v[ty]["content"].as_str().unwrap_or_default();
    if content.is_empty() {
        return errcode(44004, "empty content", format!("{ty}.content missing or empty"));
    }
    if content.len() > limit {
        return errcode(
            40058,
            &format!("{ty}.content exceed max length {limit}. invalid Request Parameter"),
            format!("{ty}.content is {} bytes > {limit}", content.len()),
        );
    }
    if ty == "text" {
        for key in ["mentioned_list", "mentioned_mobile_list"] {
            if v["text"].get(key).is_some_and(|x| !is_string_array(x)) {
                return errcode(
                    40058,
                    &format!("text.{key} invalid. invalid Request Parameter"),
                    format!("text.{key} is not an array of strings"),
                );
            }
        }
    }
    Verdict::ok(json!({"errcode": 0, "errmsg": "ok"}))
}
