//! hawatch's generic webhook: any JSON POST, optionally signed with
//! `X-Hawatch-Signature`.

use axum::http::Method;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::{Req, Verdict};

/// hawatch's webhook signature header value: `sha256=<lowercase hex HMAC-SHA256>`.
pub fn webhook_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

pub(super) fn check_webhook(secret: Option<&str>, req: &Req) -> Verdict {
    if req.method != Method::POST {
        return Verdict::reject(405, json!({"ok": false, "error": "POST only"}), "not POST");
    }
    if req.json.is_none() {
        return Verdict::reject(
            400,
            json!({"ok": false, "error": "body is not JSON"}),
            "body is not JSON",
        );
    }
    if let Some(secret) = secret {
        let want = webhook_signature(secret, req.body);
        let got = req.headers.get("x-hawatch-signature").and_then(|v| v.to_str().ok());
        if got != Some(want.as_str()) {
            return Verdict::reject(
                401,
                json!({"ok": false, "error": "bad signature"}),
                format!("signature mismatch: got {got:?}"),
            );
        }
    }
    Verdict::ok(json!({"ok": true}))
}
