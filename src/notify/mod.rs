//! Notifications: the durable outbox and the sinks it delivers to.
//!
//! Every sink has the same shape: built from its config, it turns a
//! [`Delivery`] (the events of one or more polls, in order) into one request,
//! and classifies a failure as retryable or not ([`DeliveryError`]). The
//! [`outbox`] worker owns retries, backoff and ordering; sinks never see the
//! store.

pub mod alertmanager;
pub mod console;
pub mod dingtalk;
pub mod email;
pub mod exec;
pub mod feishu;
pub mod outbox;
pub mod slack;
pub mod webhook;
pub mod wecom;

use std::time::Duration;

use crate::config;
use crate::logic::template::{Rendered, Renderer};
use crate::model::event::Event;
use crate::model::notice::Notice;

/// What one send carries.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `SINK-FIRSTROW-LASTROW` (with `.N` offsets when a row is split over
    /// several messages): the outbox rows it delivers. A retry may merge more
    /// rows, so receivers should de-duplicate on event ids.
    pub id: String,
    pub sink: String,
    pub notices: Vec<Notice>,
    /// `hawatch notify test`: the message is marked as a test.
    pub test: bool,
}

impl Delivery {
    /// Every event the notices carry, in order (folded server events before
    /// their backend's, as they happened).
    pub fn events(&self) -> Vec<Event> {
        self.notices.iter().flat_map(|n| n.events().cloned()).collect()
    }
}

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub message: String,
    /// False for errors only a config change fixes (bad token, bad signature).
    /// hawatch keeps those messages and retries slowly: nothing is dropped.
    pub retryable: bool,
    /// The service asked to wait this long (HTTP `Retry-After`, a rate-limit code).
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

    pub fn after(mut self, wait: Option<Duration>) -> DeliveryError {
        self.retry_after = wait.or(self.retry_after);
        self
    }

    /// A transport failure; the URL (which may hold a token) is stripped.
    pub fn transport(e: reqwest::Error) -> DeliveryError {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "unreachable (connection failed)"
        } else {
            "request failed"
        };
        DeliveryError::retryable(format!("{what}: {}", crate::error::error_chain(&e.without_url())))
    }
}

/// A configured sink, ready to send.
pub enum Sink {
    Console(console::Console),
    Webhook(webhook::Webhook),
    Feishu(feishu::Feishu),
    Dingtalk(dingtalk::Dingtalk),
    Wecom(wecom::Wecom),
    Slack(slack::Slack),
    Email(email::Email),
    Exec(exec::Exec),
    Alertmanager(alertmanager::Alertmanager),
}

impl Sink {
    pub fn new(cfg: &config::Sink, notify: &config::Notify, http: reqwest::Client) -> Sink {
        let r = cfg.renderer.clone();
        match &cfg.kind {
            config::SinkKind::Console(_) => Sink::Console(console::Console::new()),
            config::SinkKind::Webhook(c) => Sink::Webhook(webhook::Webhook {
                url: c.url.clone(),
                secret: c.secret.clone(),
                headers: c.headers.clone().into_iter().collect(),
                http,
            }),
            config::SinkKind::Feishu(c) => Sink::Feishu(feishu::Feishu {
                url: c.url.clone(),
                secret: c.secret.clone(),
                text: c.format == config::sink::FeishuFormat::Text,
                renderer: r,
                http,
            }),
            config::SinkKind::Dingtalk(c) => Sink::Dingtalk(dingtalk::Dingtalk {
                url: c.url.clone(),
                secret: c.secret.clone(),
                at_mobiles: c.at_mobiles.clone(),
                at_all: c.at_all,
                renderer: r,
                http,
            }),
            config::SinkKind::Wecom(c) => Sink::Wecom(wecom::Wecom {
                url: c.url.clone(),
                renderer: r,
                http,
            }),
            config::SinkKind::Slack(c) => Sink::Slack(slack::Slack {
                url: c.url.clone(),
                renderer: r,
                http,
            }),
            config::SinkKind::Email(_) => Sink::Email(email::Email::new(cfg, r)),
            config::SinkKind::Exec(c) => Sink::Exec(exec::Exec {
                command: c.command.clone(),
                renderer: r,
                timeout: cfg.timeout,
            }),
            config::SinkKind::Alertmanager(c) => Sink::Alertmanager(alertmanager::Alertmanager {
                url: c.url.clone(),
                labels: c.labels.clone().into_iter().collect(),
                resend_every: c.resend_every,
                host: notify.host.clone(),
                http,
            }),
        }
    }

    /// The most notices one message may carry.
    pub fn max_notices(&self) -> usize {
        match self {
            Sink::Console(_) => 1000,
            Sink::Webhook(_) | Sink::Exec(_) | Sink::Email(_) => 500,
            Sink::Alertmanager(_) => 1000,
            Sink::Feishu(_) | Sink::Dingtalk(_) | Sink::Wecom(_) | Sink::Slack(_) => 100,
        }
    }

    /// The service's documented rate limits: at most N messages per window.
    pub fn rates(&self) -> &'static [(usize, Duration)] {
        const FEISHU: &[(usize, Duration)] = &[(5, Duration::from_secs(1)), (100, Duration::from_secs(60))];
        const PER_MIN_20: &[(usize, Duration)] = &[(20, Duration::from_secs(60))];
        const SLACK: &[(usize, Duration)] = &[(1, Duration::from_secs(1))];
        match self {
            Sink::Feishu(_) => FEISHU,
            Sink::Dingtalk(_) | Sink::Wecom(_) => PER_MIN_20,
            Sink::Slack(_) => SLACK,
            _ => &[],
        }
    }

    /// Whether these notices fit in one message of this service.
    pub fn fits(&self, d: &Delivery) -> bool {
        fn rendered_fits(r: &Renderer, d: &Delivery, fits: impl Fn(&Rendered) -> bool) -> bool {
            r.render(&d.notices, &d.sink, d.test).is_ok_and(|x| fits(&x))
        }
        match self {
            Sink::Feishu(s) => rendered_fits(&s.renderer, d, |r| s.fits_rendered(d, r)),
            Sink::Dingtalk(s) => rendered_fits(&s.renderer, d, |r| s.fits_rendered(d, r)),
            Sink::Wecom(s) => rendered_fits(&s.renderer, d, wecom::fits_rendered),
            Sink::Slack(s) => rendered_fits(&s.renderer, d, slack::fits_rendered),
            _ => true,
        }
    }

    /// Like [`Sink::fits`] for a prefix of a backlog (the outbox packing a
    /// message): a webhook measures its body without building it; only the
    /// sinks that render (at most [`Sink::max_notices`], 100) copy notices.
    pub fn fits_notices(&self, id: &str, sink: &str, notices: &[Notice], test: bool) -> bool {
        match self {
            Sink::Webhook(_) => notices.len() <= 1 || webhook::body_len(id, sink, notices, test) <= webhook::MAX_BODY,
            Sink::Feishu(_) | Sink::Dingtalk(_) | Sink::Wecom(_) | Sink::Slack(_) => self.fits(&Delivery {
                id: id.to_string(),
                sink: sink.to_string(),
                notices: notices.to_vec(),
                test,
            }),
            _ => true,
        }
    }

    pub async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        match self {
            Sink::Console(s) => s.send(d),
            Sink::Webhook(s) => s.send(d).await,
            Sink::Feishu(s) => s.send(d).await,
            Sink::Dingtalk(s) => s.send(d).await,
            Sink::Wecom(s) => s.send(d).await,
            Sink::Slack(s) => s.send(d).await,
            Sink::Email(s) => s.send(d).await,
            Sink::Exec(s) => s.send(d).await,
            Sink::Alertmanager(s) => s.send(d).await,
        }
    }
}

/// Renders for a sink, truncating the body (on a line boundary when it can,
/// never inside a UTF-8 character) until `fits` accepts the result: one
/// notice too large for the service is shortened, not refused.
pub fn render_fitting(r: &Renderer, d: &Delivery, fits: impl Fn(&Rendered) -> bool) -> Result<Rendered, DeliveryError> {
    let mut out = r
        .render(&d.notices, &d.sink, d.test)
        .map_err(|e| DeliveryError::permanent(format!("template: {e}")))?;
    let marker = if r.lang == crate::logic::template::Lang::Zh {
        "\n…（内容过长，已截断）"
    } else {
        "\n… (truncated)"
    };
    for _ in 0..40 {
        if fits(&out) {
            return Ok(out);
        }
        let keep = out.body.trim_end_matches(marker).len() * 3 / 4;
        let mut cut = keep;
        while cut > 0 && !out.body.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(nl) = out.body[..cut].rfind('\n').filter(|n| *n > cut / 2) {
            cut = nl;
        }
        out.body = format!("{}{marker}", &out.body[..cut]);
        if out.title.chars().count() > 100 {
            out.title = out.title.chars().take(100).collect();
        }
    }
    Err(DeliveryError::permanent(
        "message does not fit the service's size limit even when truncated",
    ))
}

/// The HTTP client sinks share (rustls, a user agent naming hawatch).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("hawatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("TLS backend initialises")
}

/// Sends a request and reads the reply: (HTTP status, `Retry-After`, body
/// text, capped). Transport failures come back without the URL.
pub(crate) async fn exchange(req: reqwest::RequestBuilder) -> Result<(u16, Option<Duration>, String), DeliveryError> {
    let resp = req.send().await.map_err(DeliveryError::transport)?;
    let status = resp.status().as_u16();
    let wait = retry_after(&resp);
    Ok((status, wait, read_body(resp).await))
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
