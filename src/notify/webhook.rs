//! The generic webhook sink: POSTs `{"version":1,"delivery_id",...,"events":[...],"notices":[...]}`
//! (schema in `docs/events.md`), optionally signed with HMAC-SHA256.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{read_body, retry_after, Delivery, DeliveryError};
use crate::config::Secret;

pub struct Webhook {
    pub url: Secret,
    pub secret: Option<Secret>,
    pub headers: Vec<(String, Secret)>,
    pub http: reqwest::Client,
}

/// The body a webhook receives.
pub fn body(d: &Delivery) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "version": 1,
        "delivery_id": d.id,
        "sink": d.sink,
        "events": d.events(),
        "notices": d.notices,
        "test": d.test,
    }))
    .expect("events serialize")
}

/// `sha256=<hex>` of the body keyed with the sink's secret.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

impl Webhook {
    pub async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let body = body(d);
        let mut req = self
            .http
            .post(self.url.expose())
            .header("content-type", "application/json")
            .header("x-hawatch-delivery", &d.id);
        if let Some(s) = &self.secret {
            req = req.header("x-hawatch-signature", signature(s.expose(), &body));
        }
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.expose());
        }
        let resp = req.body(body).send().await.map_err(DeliveryError::transport)?;
        let status = resp.status();
        let wait = retry_after(&resp);
        let text = read_body(resp).await;
        verdict(status, &text).map_err(|mut err| {
            err.retry_after = wait;
            err
        })
    }
}

/// A generic receiver's verdict: any 2xx is delivered (the body is the
/// receiver's own business); 5xx, 408 and 429 are worth retrying.
pub fn verdict(status: reqwest::StatusCode, text: &str) -> Result<(), DeliveryError> {
    if status.is_success() {
        return Ok(());
    }
    let snippet: String = text.chars().take(200).collect();
    Err(if status.is_server_error() || matches!(status.as_u16(), 408 | 429) {
        DeliveryError::retryable(format!("HTTP {status}: {snippet}"))
    } else {
        DeliveryError::permanent(format!(
            "HTTP {status}: {snippet} (the receiver refused the request; check url, headers and secret)"
        ))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_a_known_value() {
        // echo -n '{}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            super::signature("key", b"{}"),
            "sha256=a777724d943eb48dc69bca8a4a6d57a04db3f9ec7e1de4e581e860265bdf3032"
        );
    }
}
