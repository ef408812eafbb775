//! The generic webhook sink: POSTs `{"version":1,"delivery_id",...,"events":[...],"notices":[...]}`
//! (schema in `docs/events.md`), optionally signed with HMAC-SHA256.

use std::collections::BTreeMap;

use super::hmac_sha256;
use crate::config::sink::Webhook as Config;
use crate::config::Secret;
use crate::model::notice::Notice;
use crate::notify::{read_body, retry_after, Batch, Common, Delivery, DeliveryError, Limits, Service};

pub(crate) struct Webhook {
    pub(crate) url: Secret,
    pub(crate) secret: Option<Secret>,
    pub(crate) headers: BTreeMap<String, Secret>,
    pub(crate) http: reqwest::Client,
}

/// The largest body hawatch sends to a webhook when a delivery carries more
/// than one notice: receivers commonly refuse bigger ones (nginx's
/// `client_max_body_size` defaults to 1 MB, axum's body limit to 2 MB), and a
/// mass outage would otherwise make one body of 500 backends' notices and
/// their folded server events (several MB). Larger backlogs go out in more
/// deliveries; a single notice is never split.
pub(crate) const MAX_BODY: usize = 1_000_000;

/// No rate limit; at most 500 notices, and [`MAX_BODY`].
pub(crate) const LIMITS: Limits = Limits {
    max_notices: 500,
    rates: &[],
};

/// What a webhook receives, serialized straight from the notices (no JSON
/// tree, no copies of the events).
#[derive(serde::Serialize)]
struct Body<'a> {
    delivery_id: &'a str,
    events: Events<'a>,
    notices: &'a [Notice],
    sink: &'a str,
    test: bool,
    version: u32,
}

/// Every event the notices carry, in order (see [`Delivery::events`]).
struct Events<'a>(&'a [Notice]);

impl serde::Serialize for Events<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().flat_map(Notice::events))
    }
}

fn write_body(w: impl std::io::Write, id: &str, sink: &str, notices: &[Notice], test: bool) {
    let b = Body {
        delivery_id: id,
        events: Events(notices),
        notices,
        sink,
        test,
        version: 1,
    };
    serde_json::to_writer(w, &b).expect("events serialize");
}

/// The body a webhook receives.
pub(crate) fn body(d: &Delivery) -> Vec<u8> {
    let mut out = Vec::new();
    write_body(&mut out, &d.id, &d.sink, &d.notices, d.test);
    out
}

/// The size of the body these notices would make, without making it.
pub(crate) fn body_len(id: &str, sink: &str, notices: &[Notice], test: bool) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    write_body(&mut c, id, sink, notices, test);
    c.0
}

/// `sha256=<hex>` of the body keyed with the sink's secret.
pub(crate) fn signature(secret: &str, body: &[u8]) -> String {
    let hex: String = hmac_sha256(secret.as_bytes(), body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

impl Service for Webhook {
    type Config = Config;

    fn new(c: &Config, common: Common) -> Webhook {
        Webhook {
            url: c.url.clone(),
            secret: c.secret.clone(),
            headers: c.headers.clone(),
            http: common.http,
        }
    }

    fn limits(&self) -> Limits {
        LIMITS
    }

    /// Measured without building the body: the outbox asks this for many
    /// prefixes of a backlog of up to 500 notices.
    fn fits(&self, b: Batch<'_>) -> bool {
        b.notices.len() <= 1 || body_len(b.id, b.sink, b.notices, b.test) <= MAX_BODY
    }

    async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
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
        verdict(status, &text).map_err(|e| e.after(wait))
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
        DeliveryError::service(format!("HTTP {status}: {snippet}"))
    } else {
        DeliveryError::config(format!(
            "HTTP {status}: {snippet} (the receiver refused the request; check url, headers and secret)"
        ))
    })
}

#[cfg(test)]
mod tests;
