//! Slack incoming webhooks: plain-text replies (`ok`, `invalid_payload`,
//! `invalid_blocks`, `no_service`); the URL is the only credential.

use axum::http::Method;
use serde_json::Value;

use super::{Req, Verdict};

/// The only path the Slack flavour accepts.
pub const SLACK_PATH: &str = "/services/T000/B000/XXXX";
/// Slack: most blocks per message.
pub const SLACK_MAX_BLOCKS: usize = 50;
/// Slack token bucket: capacity (burst) and refill rate per second.
pub const SLACK_BUCKET: f64 = 3.0;
pub const SLACK_REFILL_PER_SEC: f64 = 1.0;

pub(super) fn check_slack(req: &Req) -> Verdict {
    let bad = |status: u16, body: &str, why: String| Verdict::text(status, body, Some(why));
    if req.path != SLACK_PATH {
        return bad(404, "no_service", format!("path {} is not {SLACK_PATH}", req.path));
    }
    if req.method != Method::POST {
        return bad(400, "invalid_payload", "not POST".into());
    }
    let Some(v) = req.object() else {
        return bad(400, "invalid_payload", "body is not a JSON object".into());
    };
    match v["text"].as_str() {
        Some(t) if !t.is_empty() => {}
        _ => return bad(400, "invalid_payload", "`text` missing, empty or not a string".into()),
    }
    if let Err(why) = check_slack_blocks(v) {
        return bad(400, "invalid_blocks", why);
    }
    Verdict::text(200, "ok", None)
}

/// A Slack text object: `type` mrkdwn or plain_text, non-empty `text` ≤ `max` chars.
fn check_slack_text(t: &Value, at: &str, max: usize) -> Result<(), String> {
    if !matches!(t["type"].as_str(), Some("mrkdwn" | "plain_text")) {
        return Err(format!("{at}.type is {}, want mrkdwn or plain_text", t["type"]));
    }
    let Some(s) = t["text"].as_str() else {
        return Err(format!("{at}.text missing or not a string"));
    };
    let n = s.chars().count();
    if n == 0 || n > max {
        return Err(format!("{at}.text has {n} chars, want 1..={max}"));
    }
    Ok(())
}

fn check_slack_blocks(v: &Value) -> Result<(), String> {
    let Some(blocks) = v.get("blocks") else {
        return Ok(());
    };
    let Some(blocks) = blocks.as_array() else {
        return Err("`blocks` is not an array".into());
    };
    if blocks.len() > SLACK_MAX_BLOCKS {
        return Err(format!("{} blocks > {SLACK_MAX_BLOCKS}", blocks.len()));
    }
    for (i, b) in blocks.iter().enumerate() {
        let at = format!("blocks[{i}]");
        match b["type"].as_str() {
            None => return Err(format!("{at} has no string `type`")),
            Some("header") => {
                if b["text"]["type"].as_str() != Some("plain_text") {
                    return Err(format!("{at}.text.type must be plain_text"));
                }
                check_slack_text(&b["text"], &format!("{at}.text"), 150)?;
            }
            Some("section") => {
                let (text, fields) = (b.get("text"), b.get("fields"));
                if text.is_none() && fields.is_none() {
                    return Err(format!("{at}: section needs `text` or `fields`"));
                }
                if let Some(t) = text {
                    check_slack_text(t, &format!("{at}.text"), 3000)?;
                }
                if let Some(f) = fields {
                    let Some(f) = f.as_array() else {
                        return Err(format!("{at}.fields is not an array"));
                    };
                    if f.len() > 10 {
                        return Err(format!("{at}.fields has {} entries > 10", f.len()));
                    }
                    for (j, t) in f.iter().enumerate() {
                        check_slack_text(t, &format!("{at}.fields[{j}]"), 2000)?;
                    }
                }
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `text` plus every block text, field text and (context) element text.
pub(super) fn slack_text(v: &Value) -> String {
    let mut parts: Vec<String> = v["text"].as_str().map(str::to_string).into_iter().collect();
    for b in v["blocks"].as_array().into_iter().flatten() {
        let texts = std::iter::once(&b["text"])
            .chain(b["fields"].as_array().into_iter().flatten())
            .chain(b["elements"].as_array().into_iter().flatten());
        parts.extend(texts.filter_map(|t| t["text"].as_str()).map(str::to_string));
    }
    parts.join("\n")
}
