//! Notifications: the durable outbox and the sinks it delivers to.
//!
//! Every sink has the same shape, the [`Service`] trait: built from its
//! config, it says its limits, whether a batch of notices fits one message,
//! and turns a [`Delivery`] (the events of one or more polls, in order) into
//! one request, classifying a failure ([`DeliveryError`]). Each sink type is
//! one folder, `sinks/<type>/`; [`Sink`] is the list of them. The [`outbox`]
//! worker owns retries, backoff and ordering; sinks never see the store.

pub(crate) mod error;
pub(crate) mod outbox;
pub mod sinks;

use std::future::Future;
use std::time::Duration;

pub(crate) use error::DeliveryError;
pub(crate) use sinks::{alertmanager, console, Sink};

use crate::logic::template::{Rendered, Renderer};
use crate::model::event::Event;
use crate::model::notice::Notice;

/// What one send carries.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// `SINK-FIRSTROW-LASTROW` (with `.N` offsets when a row is split over
    /// several messages): the outbox rows it delivers. A retry may merge more
    /// rows, so receivers should de-duplicate on event ids.
    pub(crate) id: String,
    pub(crate) sink: String,
    pub(crate) notices: Vec<Notice>,
    /// `hawatch notify test`: the message is marked as a test.
    pub(crate) test: bool,
}

impl Delivery {
    /// Every event the notices carry, in order (folded server events before
    /// their backend's, as they happened).
    pub(crate) fn events(&self) -> Vec<Event> {
        self.notices.iter().flat_map(|n| n.events().cloned()).collect()
    }

    pub(crate) fn batch(&self) -> Batch<'_> {
        Batch {
            id: &self.id,
            sink: &self.sink,
            notices: &self.notices,
            test: self.test,
        }
    }
}

/// A delivery not made yet, borrowed: the outbox sizes a message from a
/// prefix of its backlog without copying the notices.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batch<'a> {
    pub(crate) id: &'a str,
    pub(crate) sink: &'a str,
    pub(crate) notices: &'a [Notice],
    pub(crate) test: bool,
}

/// A service's limits, from its documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The most notices one message carries (the outbox packs no more).
    pub(crate) max_notices: usize,
    /// At most N messages per window.
    pub(crate) rates: &'static [(usize, Duration)],
}

/// What every sink is built with besides its own settings.
#[derive(Clone)]
pub(crate) struct Common {
    /// Its template, language and markup (`[[sink]]`'s `lang`,
    /// `template_file`; `[notify]`'s time zone and host).
    pub(crate) renderer: Renderer,
    /// How long one delivery may take.
    pub(crate) timeout: Duration,
    /// The host name messages carry (`[notify] host`).
    pub(crate) host: String,
    /// The HTTP client sinks share.
    pub(crate) http: reqwest::Client,
}

/// One sink type: what [`Sink`] delegates to.
pub(crate) trait Service: Sized {
    /// Its settings in the config (`config::sink::<Type>`).
    type Config;

    fn new(cfg: &Self::Config, common: Common) -> Self;

    fn limits(&self) -> Limits;

    /// Whether these notices fit in one message of this service (a single
    /// notice that does not is truncated by `send`). Only the sinks that
    /// render measure; the default is yes.
    fn fits(&self, _batch: Batch<'_>) -> bool {
        true
    }

    fn send(&self, d: &Delivery) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

/// Whether the rendering of a batch passes `fits` (a template error does not).
pub(crate) fn rendered_fits(r: &Renderer, b: Batch<'_>, fits: impl Fn(&Rendered) -> bool) -> bool {
    r.render(b.notices, b.sink, b.test).is_ok_and(|x| fits(&x))
}

/// Renders for a sink, truncating the body (on a line boundary when it can,
/// never inside a UTF-8 character) until `fits` accepts the result: one
/// notice too large for the service is shortened, not refused.
pub(crate) fn render_fitting(
    r: &Renderer,
    d: &Delivery,
    fits: impl Fn(&Rendered) -> bool,
) -> Result<Rendered, DeliveryError> {
    let mut out = r
        .render(&d.notices, &d.sink, d.test)
        .map_err(|e| DeliveryError::config(format!("template: {e}")))?;
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
    Err(DeliveryError::config(
        "message does not fit the service's size limit even when truncated",
    ))
}

/// The HTTP client sinks share (rustls, a user agent naming hawatch).
pub(crate) fn http_client() -> reqwest::Client {
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
