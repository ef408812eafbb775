//! Notifications: the durable outbox and the sinks it delivers to.
//!
//! Every sink has the same shape: built from its config, it turns a
//! [`Delivery`] (the events of one or more polls, in order) into one request,
//! and classifies a failure as retryable or not ([`DeliveryError`]). The
//! [`outbox`] worker owns retries, backoff and ordering; sinks never see the
//! store.

pub mod console;
pub mod feishu;
pub mod outbox;
pub mod webhook;

use std::time::Duration;

use crate::config;
use crate::event::Event;

/// What one send carries.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `SINK-FIRSTROW-LASTROW`: the outbox rows it delivers. A retry may merge
    /// more rows, so receivers should de-duplicate on event ids.
    pub id: String,
    pub sink: String,
    pub events: Vec<Event>,
}

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub message: String,
    /// False for errors only a config change fixes (bad token, bad signature).
    /// hawatch keeps those messages and retries slowly: nothing is dropped.
    pub retryable: bool,
    /// The service asked to wait this long (HTTP `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl DeliveryError {
    pub fn retryable(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            message: message.into(),
            retryable: true,
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            message: message.into(),
            retryable: false,
            retry_after: None,
        }
    }

    /// A transport failure; the URL (which may hold a token) is stripped.
    pub fn transport(e: reqwest::Error) -> DeliveryError {
        DeliveryError::retryable(crate::error_chain(&e.without_url()))
    }
}

/// A configured sink, ready to send.
pub enum Sink {
    Console(console::Console),
    Webhook(webhook::Webhook),
    Feishu(feishu::Feishu),
}

impl Sink {
    pub fn new(cfg: &config::Sink, http: reqwest::Client) -> Sink {
        match &cfg.kind {
            config::SinkKind::Console => Sink::Console(console::Console::new()),
            config::SinkKind::Webhook { url, secret, headers } => Sink::Webhook(webhook::Webhook {
                url: url.clone(),
                secret: secret.clone(),
                headers: headers.clone(),
                http,
            }),
            config::SinkKind::Feishu { url, secret } => Sink::Feishu(feishu::Feishu {
                url: url.clone(),
                secret: secret.clone(),
                http,
            }),
        }
    }

    /// The most events one message may carry: a Feishu card must stay under
    /// 20 KB, so at most 20 events per card.
    pub fn max_events(cfg: &config::Sink) -> usize {
        match cfg.kind {
            config::SinkKind::Console => 1000,
            config::SinkKind::Webhook { .. } => 500,
            config::SinkKind::Feishu { .. } => 20,
        }
    }

    pub async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        match self {
            Sink::Console(s) => s.send(d),
            Sink::Webhook(s) => s.send(d).await,
            Sink::Feishu(s) => s.send(d).await,
        }
    }
}

/// The HTTP client sinks share (rustls, a user agent naming hawatch).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("hawatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("TLS backend initialises")
}

/// An icon per kind, as in the seed's Feishu cards: ✅ UP, ❌ DOWN, ⚠️ NOLB,
/// 🔧 MAINT, 🆕 new.
pub fn icon(kind: crate::event::Kind) -> &'static str {
    use crate::event::Kind::*;
    match kind {
        ServerDown => "❌",
        ServerUp | ServerReady | BackendUp | InstanceRecovered => "✅",
        ServerNolb => "⚠️",
        ServerMaint => "🔧",
        ServerDrain => "⏳",
        ServerAdded => "🆕",
        ServerRemoved => "➖",
        CheckChanged | AgentChanged => "🩺",
        BackendDown => "🔥",
        InstanceUnreachable => "🚨",
        InstanceRestarted => "🔄",
    }
}

/// Reads a response body with a cap, for error messages and JSON replies.
pub(crate) async fn read_body(resp: reqwest::Response) -> String {
    let bytes = resp.bytes().await.unwrap_or_default();
    String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned()
}

/// Parses `Retry-After` (seconds form).
pub(crate) fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(Duration::from_secs)
}
