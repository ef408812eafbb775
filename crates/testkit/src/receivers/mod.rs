//! `Receiver`: a local stand-in for chat / webhook services (axum on 127.0.0.1:0).
//!
//! It runs on the shared support runtime ([`crate::rt`]), not on the caller's, so it
//! works from sync tests and from `#[tokio::test]`s, and keeps answering while a test
//! blocks in `wait_for`. Every request is recorded in arrival order (accepted or not).
//! (The `wait_for_*` methods block the calling thread: if the sender is a task on a
//! current-thread `#[tokio::test]` runtime, use `flavor = "multi_thread"` or
//! `testkit::wait_for_async`. A sender that is a separate process, like `hawatch`, is fine.)
//!
//! Flavours. The chat flavours check what the real service checks, in the order listed,
//! and answer with its reply shapes and codes (facts: the shared notification-channel
//! reference, §1–4):
//! - [`Flavour::Webhook`]: any JSON POST; with a secret, header
//!   `X-Hawatch-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>` is required
//!   (else 401). Success: 200 `{"ok":true}`. No rate limit, no keywords.
//! - [`Flavour::Feishu`] (`/open-apis/bot/v2/hook/test-token`) and [`Flavour::Lark`]
//!   (same rules, token `lark-token`): POST; path token (else `{"code":19001,…}`; a
//!   path outside `/open-apis/bot/v2/hook/` → 404); IP whitelist
//!   ([`Receiver::set_ip_denied`] → 19022); body ≤ 20000 bytes and a JSON object
//!   (else 9499); with a secret a `timestamp` (string, unix seconds, within 1 h)
//!   and `sign` = base64(HMAC-SHA256(key = "{timestamp}\n{secret}", message = empty))
//!   in the body (else 19021); `msg_type` `text` (non-empty `content.text`), `post`
//!   (`content.post.{zh_cn|en_us|ja_jp}` with paragraphs of tagged nodes, `a.href` a
//!   URL) or `interactive` (a `card` object with header title/template and tagged
//!   `elements`) (else 9499); keywords ([`Receiver::set_keywords`]) in `content.text`,
//!   the post's titles/texts, or any string inside `card` (else 19024); rate: more than
//!   5 in any 1 s or 100 in any 60 s → 11232. Success: 200 with `code: 0`.
//! - [`Flavour::DingTalk`] (`/robot/send?access_token=test-token`), always HTTP 200 with
//!   `{"errcode":N,"errmsg":…}`: POST (else 43002); `access_token` (else 300005); IP
//!   whitelist (310000); body ≤ 20000 bytes (460101); a JSON object (40035); with a
//!   secret, query `timestamp` (ms, within 1 h) and `sign` (percent-decoded once) =
//!   base64(HMAC-SHA256(key = secret, message = "{timestamp}\n{secret}")) (310000);
//!   keywords in `markdown.title`/`markdown.text` or `text.content` (310000); `msgtype`
//!   `markdown`/`text` with string fields and a well-typed optional `at` (40035); rate:
//!   more than 20 in any 60 s → 130101. Success `{"errcode":0,"errmsg":"ok"}`.
//! - [`Flavour::WeCom`] (`/cgi-bin/webhook/send?key=test-key`), always HTTP 200 with
//!   `{"errcode":N,"errmsg":…}`: POST (43002); `key` (93000); a JSON object (47001);
//!   `msgtype` `text`/`markdown`/`markdown_v2` (40008); non-empty `content` (44004);
//!   `content` ≤ 2048 (text) / 4096 (markdown*) UTF-8 bytes and string mention lists
//!   (40058); rate: more than 20 in any 60 s → 45009. No keywords, no IP whitelist.
//! - [`Flavour::Slack`] (`/services/T000/B000/XXXX`), plain-text replies: exact path
//!   (else 404 `no_service`); POST, JSON object, non-empty string `text` (else 400
//!   `invalid_payload`); `blocks` ≤ 50 with string `type`, `header` plain_text ≤ 150
//!   chars, `section` text ≤ 3000 chars and/or ≤ 10 fields ≤ 2000 chars (else 400
//!   `invalid_blocks`); rate: token bucket of 3 refilled at 1/s, empty → 429
//!   `Retry-After: 1` `rate_limited`. Success: 200 `ok` (text/plain).
//!
//! (43002 for a non-POST and WeCom's 47001 for a non-JSON body are plausible stand-ins:
//! the reference does not document those replies.)
//!
//! Rate limits (on by default) look only at requests that passed every other check.
//! The sliding windows count refused attempts too (sending while throttled keeps you
//! throttled); Slack's bucket only loses a token per message it lets through. A refusal
//! is recorded with `reject_reason == Some("rate limited")` and counted by
//! [`Receiver::rate_violations`]. [`Receiver::set_rate_limit`] switches them off/on.
//!
//! Failure modes ([`Mode`]) can be switched at runtime and bypass every check (and the
//! rate limiter); `stop()` closes the listening socket and `restart()` listens again on
//! the same port, which stays reserved meanwhile ([`PortHold`]).

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::{bind_loopback, rebind_loopback, rt, wait_for, PortHold};

/// Largest body Feishu accepts.
pub const FEISHU_MAX_BODY: usize = 20_000;
/// How long `stop()` waits for open connections (in-flight `Slow` answers) to finish.
pub const STOP_GRACE: Duration = Duration::from_secs(3);
/// Feishu's allowed clock difference for `timestamp`.
pub const FEISHU_MAX_SKEW_SECS: i64 = 3600;
/// Path of a Feishu / Lark custom-bot hook, followed by the token.
pub const FEISHU_HOOK_PREFIX: &str = "/open-apis/bot/v2/hook/";
/// The only token the Feishu flavour accepts.
pub const FEISHU_TOKEN: &str = "test-token";
/// The only token the Lark flavour accepts.
pub const LARK_TOKEN: &str = "lark-token";
/// Largest body DingTalk accepts.
pub const DINGTALK_MAX_BODY: usize = 20_000;
/// DingTalk's allowed clock difference for `timestamp` (milliseconds).
pub const DINGTALK_MAX_SKEW_MS: i64 = 3_600_000;
/// The only `access_token` the DingTalk flavour accepts.
pub const DINGTALK_TOKEN: &str = "test-token";
/// The only `key` the WeCom flavour accepts.
pub const WECOM_KEY: &str = "test-key";
/// WeCom `text.content` limit (UTF-8 bytes).
pub const WECOM_TEXT_MAX: usize = 2048;
/// WeCom `markdown.content` / `markdown_v2.content` limit (UTF-8 bytes).
pub const WECOM_MARKDOWN_MAX: usize = 4096;
/// The only path the Slack flavour accepts.
pub const SLACK_PATH: &str = "/services/T000/B000/XXXX";
/// Slack: most blocks per message.
pub const SLACK_MAX_BLOCKS: usize = 50;
/// Slack token bucket: capacity (burst) and refill rate per second.
pub const SLACK_BUCKET: f64 = 3.0;
pub const SLACK_REFILL_PER_SEC: f64 = 1.0;

const FEISHU_WINDOWS: [(Duration, usize); 2] = [(Duration::from_secs(1), 5), (Duration::from_secs(60), 100)];
const PER_MINUTE_20: [(Duration, usize); 1] = [(Duration::from_secs(60), 20)];

const JSON_CT: &str = "application/json; charset=utf-8";
const TEXT_CT: &str = "text/plain; charset=utf-8";
/// `reject_reason` of a request refused by the rate limiter.
pub const RATE_LIMITED: &str = "rate limited";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    Webhook,
    Feishu,
    /// Feishu's international twin: same rules, its own token.
    Lark,
    DingTalk,
    WeCom,
    Slack,
}

impl Flavour {
    /// Sliding windows (length, most messages allowed in it) the service enforces.
    fn windows(self) -> &'static [(Duration, usize)] {
        match self {
            Flavour::Feishu | Flavour::Lark => &FEISHU_WINDOWS,
            Flavour::DingTalk | Flavour::WeCom => &PER_MINUTE_20,
            Flavour::Webhook | Flavour::Slack => &[],
        }
    }
}

/// How the receiver answers the next requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Validate and answer like the real service.
    Ok,
    /// Answer with this HTTP status (request recorded as not accepted).
    FailHttp(u16),
    /// The flavour's business failure with this code (not accepted): HTTP 200 with
    /// `{"code":N,"msg":…}` (Feishu, Lark, Webhook) or `{"errcode":N,"errmsg":…}`
    /// (DingTalk, WeCom); Slack: HTTP 400 with body `N` (plain text).
    FailCode(i64),
    /// Validate, wait this long, then answer like `Ok` (recorded on arrival).
    Slow(Duration),
}
/// One request as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// 0-based arrival order.
    pub seq: usize,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Header names lower-case, in received order.
    pub headers: Vec<(String, String)>,
    /// Raw body bytes.
    pub body: Vec<u8>,
    /// The body parsed as JSON, if it was JSON.
    pub json: Option<Value>,
    pub received_at: SystemTime,
    pub received_instant: Instant,
    /// Whether the receiver counted this as a successful delivery.
    pub accepted: bool,
    /// Why it was not accepted (`None` when accepted).
    pub reject_reason: Option<String>,
    /// What was answered.
    pub reply_status: u16,
    pub reply_body: String,
}

impl Recorded {
    /// First header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
}

/// Service-side settings a test can change while the receiver runs.
#[derive(Clone, Debug)]
struct Settings {
    /// Keyword protection (Feishu, Lark, DingTalk); empty = off.
    keywords: Vec<String>,
    /// IP whitelist simulation: the caller (127.0.0.1) is not on it.
    ip_denied: bool,
    rate_limit: bool,
}

/// Rate-limiter state: arrival instants (sliding windows) and Slack's token bucket.
struct RateState {
    arrivals: VecDeque<Instant>,
    tokens: f64,
    refilled_at: Instant,
}

impl RateState {
    fn new() -> RateState {
        RateState {
            arrivals: VecDeque::new(),
            tokens: SLACK_BUCKET,
            refilled_at: Instant::now(),
        }
    }

    /// Whether a message that passed every other check is refused now. It counts in
    /// the windows either way.
    fn refuse(&mut self, flavour: Flavour) -> bool {
        let now = Instant::now();
        if flavour == Flavour::Slack {
            let elapsed = now.saturating_duration_since(self.refilled_at).as_secs_f64();
            self.tokens = (self.tokens + elapsed * SLACK_REFILL_PER_SEC).min(SLACK_BUCKET);
            self.refilled_at = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                return false;
            }
            return true;
        }
        let windows = flavour.windows();
        let Some(longest) = windows.iter().map(|w| w.0).max() else {
            return false;
        };
        while self
            .arrivals
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= longest)
        {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back(now);
        windows.iter().any(|&(len, max)| {
            self.arrivals
                .iter()
                .filter(|t| now.saturating_duration_since(**t) < len)
                .count()
                > max
        })
    }
}

struct Inner {
    flavour: Flavour,
    secret: Option<String>,
    mode: Mutex<Mode>,
    settings: Mutex<Settings>,
    rate: Mutex<RateState>,
    log: Mutex<Vec<Recorded>>,
}

struct Running {
    stop_tx: oneshot::Sender<()>,
    done_rx: mpsc::Receiver<()>,
}

pub struct Receiver {
    port: u16,
    /// The address clients use (127.0.0.1, or one inside a test's network namespace).
    host: String,
    inner: Arc<Inner>,
    running: Option<Running>,
    /// Keeps the 127.0.0.1 port ours while stopped, so `restart()` gets it back
    /// (None for `start_on`).
    hold: Option<PortHold>,
}

impl Receiver {
    /// Start on 127.0.0.1:0.
    pub fn start(flavour: Flavour, secret: Option<&str>) -> Receiver {
        let hold = PortHold::fresh();
        let listener = bind_loopback(hold.port()).expect("bind receiver on its held 127.0.0.1 port");
        let mut r = Receiver::serve_new(listener, "127.0.0.1".into(), flavour, secret);
        r.hold = Some(hold);
        r
    }

    /// On a listener bound elsewhere, e.g. inside a network namespace the test
    /// made (a socket stays in the namespace it was created in).
    pub fn start_on(listener: std::net::TcpListener, flavour: Flavour) -> Receiver {
        listener.set_nonblocking(true).unwrap();
        let host = listener.local_addr().unwrap().ip().to_string();
        let listener = {
            let _guard = rt().enter();
            TcpListener::from_std(listener).unwrap()
        };
        Receiver::serve_new(listener, host, flavour, None)
    }

    fn serve_new(listener: TcpListener, host: String, flavour: Flavour, secret: Option<&str>) -> Receiver {
        let port = listener.local_addr().unwrap().port();
        let mut r = Receiver {
            port,
            host,
            inner: Arc::new(Inner {
                flavour,
                secret: secret.map(str::to_string),
                mode: Mutex::new(Mode::Ok),
                settings: Mutex::new(Settings {
                    keywords: Vec::new(),
                    ip_denied: false,
                    rate_limit: true,
                }),
                rate: Mutex::new(RateState::new()),
                log: Mutex::new(Vec::new()),
            }),
            running: None,
            hold: None,
        };
        r.serve(listener);
        r
    }

    /// Generic webhook receiver, optionally verifying `X-Hawatch-Signature`.
    pub fn webhook(secret: Option<&str>) -> Receiver {
        Receiver::start(Flavour::Webhook, secret)
    }

    /// Feishu custom-bot receiver, optionally verifying `timestamp` + `sign`.
    pub fn feishu(secret: Option<&str>) -> Receiver {
        Receiver::start(Flavour::Feishu, secret)
    }

    /// Lark custom-bot receiver: Feishu's rules, token `lark-token`.
    pub fn lark(secret: Option<&str>) -> Receiver {
        Receiver::start(Flavour::Lark, secret)
    }

    /// DingTalk custom-robot receiver, optionally verifying query `timestamp` + `sign`.
    pub fn dingtalk(secret: Option<&str>) -> Receiver {
        Receiver::start(Flavour::DingTalk, secret)
    }

    /// WeCom group-robot receiver (the `key` is the only credential).
    pub fn wecom() -> Receiver {
        Receiver::start(Flavour::WeCom, None)
    }

    /// Slack incoming-webhook receiver (the URL is the only credential).
    pub fn slack() -> Receiver {
        Receiver::start(Flavour::Slack, None)
    }

    pub fn flavour(&self) -> Flavour {
        self.inner.flavour
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` (the webhook flavour accepts any path; the chat flavours
    /// check theirs, see [`Receiver::url`]).
    pub fn base_url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// A realistic URL for the flavour: `/hook`, `/open-apis/bot/v2/hook/test-token`
    /// (Lark: `…/lark-token`), `/robot/send?access_token=test-token`,
    /// `/cgi-bin/webhook/send?key=test-key` or `/services/T000/B000/XXXX`.
    pub fn url(&self) -> String {
        let base = self.base_url();
        match self.inner.flavour {
            Flavour::Webhook => format!("{base}/hook"),
            Flavour::Feishu => format!("{base}{FEISHU_HOOK_PREFIX}{FEISHU_TOKEN}"),
            Flavour::Lark => format!("{base}{FEISHU_HOOK_PREFIX}{LARK_TOKEN}"),
            Flavour::DingTalk => format!("{base}/robot/send?access_token={DINGTALK_TOKEN}"),
            Flavour::WeCom => format!("{base}/cgi-bin/webhook/send?key={WECOM_KEY}"),
            Flavour::Slack => format!("{base}{SLACK_PATH}"),
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.inner.mode.lock().unwrap() = mode;
    }

    /// Keyword protection (Feishu, Lark, DingTalk): a message must contain at least one
    /// of these. Empty = off (the default). Ignored by the other flavours.
    pub fn set_keywords(&self, keywords: &[&str]) {
        self.inner.settings.lock().unwrap().keywords = keywords.iter().map(|k| k.to_string()).collect();
    }

    /// IP whitelist simulation (Feishu, Lark → 19022; DingTalk → 310000): `true` = the
    /// caller is not on the whitelist. Ignored by the other flavours (WeCom has none).
    pub fn set_ip_denied(&self, denied: bool) {
        self.inner.settings.lock().unwrap().ip_denied = denied;
    }

    /// Switch the service's rate limit on (the default) or off. Either way the limiter
    /// starts afresh (empty windows, full bucket).
    pub fn set_rate_limit(&self, on: bool) {
        self.inner.settings.lock().unwrap().rate_limit = on;
        *self.inner.rate.lock().unwrap() = RateState::new();
    }

    /// How many recorded requests the rate limiter refused.
    pub fn rate_violations(&self) -> usize {
        self.inner
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.reject_reason.as_deref() == Some(RATE_LIMITED))
            .count()
    }

    /// All requests (accepted and rejected), in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.log.lock().unwrap().clone()
    }

    /// Forget recorded requests (the rate limiter's state is kept).
    pub fn clear(&self) {
        self.inner.log.lock().unwrap().clear();
    }

    pub fn accepted(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.accepted).collect()
    }

    /// JSON bodies of accepted requests, in arrival order.
    pub fn accepted_bodies(&self) -> Vec<Value> {
        self.accepted().into_iter().filter_map(|r| r.json).collect()
    }

    /// The human text each accepted request carried, in arrival order: Feishu/Lark
    /// `content.text`, a post's titles and node texts, or every string inside `card`
    /// (joined with "\n"); DingTalk `title + "\n" + text` or `text.content`; WeCom
    /// `content`; Slack `text` plus every block text / field text / context element
    /// text; Webhook the raw body.
    pub fn accepted_texts(&self) -> Vec<String> {
        let flavour = self.inner.flavour;
        self.accepted().iter().map(|r| message_text(flavour, r)).collect()
    }

    pub fn accepted_count(&self) -> usize {
        self.inner.log.lock().unwrap().iter().filter(|r| r.accepted).count()
    }
    /// Webhook flavour: `body["events"][*]["id"]` over accepted requests, in order.
    pub fn event_ids(&self) -> Vec<String> {
        self.accepted_bodies()
            .iter()
            .flat_map(|b| {
                b["events"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|e| e["id"].as_str().map(str::to_string))
            })
            .collect()
    }

    /// Wait until at least `n` requests were accepted.
    pub fn wait_for_accepted(&self, n: usize, timeout: Duration) -> bool {
        wait_for(timeout, || self.accepted_count() >= n)
    }

    /// Wait until at least `n` requests arrived (accepted or not).
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        wait_for(timeout, || self.inner.log.lock().unwrap().len() >= n)
    }

    pub fn is_listening(&self) -> bool {
        self.running.is_some()
    }

    /// Close the listening socket; when this returns, connects are refused and idle
    /// keep-alive connections are closed. In-flight (`Slow`) requests are answered
    /// first, waiting at most [`STOP_GRACE`].
    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.stop_tx.send(());
            r.done_rx
                .recv_timeout(STOP_GRACE + Duration::from_secs(5))
                .expect("receiver did not stop");
        }
    }

    /// Listen again on the same port (SO_REUSEADDR, bind retried for up to 5 s; on
    /// 127.0.0.1 the port stayed reserved while stopped). Recorded requests are kept.
    pub fn restart(&mut self) {
        if self.running.is_some() {
            return;
        }
        let listener = rebind_loopback(self.port, "receiver");
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let app = Router::new().fallback(handle).with_state(self.inner.clone());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        rt().spawn(async move {
            let (grace_tx, grace_rx) = oneshot::channel::<()>();
            let mut serve = Box::pin(
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = grace_rx.await;
                    })
                    .into_future(),
            );
            tokio::select! {
                r = &mut serve => {
                    if let Err(e) = r {
                        eprintln!("receiver: serve error: {e}");
                    }
                }
                _ = stop_rx => {
                    // axum drops the listener as soon as it sees the signal, then waits
                    // for open connections: idle keep-alive ones close at once (else a
                    // pooled client could still get an answer after stop()), in-flight
                    // ones (`Slow`) finish first. Bounded; dropping `serve` at the end
                    // closes the listener in any case.
                    let _ = grace_tx.send(());
                    if tokio::time::timeout(STOP_GRACE, &mut serve).await.is_err() {
                        eprintln!("receiver: connections still open {STOP_GRACE:?} after stop()");
                    }
                }
            }
            drop(serve);
            let _ = done_tx.send(());
        });
        self.running = Some(Running { stop_tx, done_rx });
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.stop_tx.send(());
            let _ = r.done_rx.recv_timeout(STOP_GRACE + Duration::from_secs(5));
        }
    }
}

/// Feishu's signature: base64(HMAC-SHA256(key = "{timestamp}\n{secret}", msg = "")).
pub fn feishu_sign(timestamp: i64, secret: &str) -> String {
    let key = format!("{timestamp}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// DingTalk's signature, raw (before percent-encoding):
/// base64(HMAC-SHA256(key = secret, msg = "{ts_ms}\n{secret}")).
pub fn dingtalk_sign(ts_ms: i64, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{ts_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The links a chat service would render from markdown `text`, as
/// `(label, target)`: inline links and images `[label](target)` (DingTalk,
/// WeCom, Feishu `lark_md`), autolinks `<http…>` and `<a href=…>` tags, and
/// Slack's `<target|label>`. A message from hawatch's templates carries
/// none of its own, so any link found came from escaped-too-little text.
pub fn markdown_links(text: &str) -> Vec<(String, String)> {
    let inline = regex::Regex::new(r"\[([^\]\n]*)\]\(\s*([^)\s]*)[^)]*\)").unwrap();
    let angle =
        regex::Regex::new(r"<(?:a\s+href=[\x22']?)?((?:https?|mailto|ftp):[^>|\x22'\s]*)(?:\|([^>]*))?").unwrap();
    let mut out: Vec<(String, String)> = inline
        .captures_iter(text)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    out.extend(angle.captures_iter(text).map(|c| {
        let label = c.get(2).map_or("", |m| m.as_str());
        (label.to_string(), c[1].to_string())
    }));
    out
}

/// hawatch's webhook signature header value: `sha256=<lowercase hex HMAC-SHA256>`.
pub fn webhook_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

struct Verdict {
    accepted: bool,
    status: u16,
    body: String,
    content_type: &'static str,
    retry_after: Option<u32>,
    reason: Option<String>,
}

impl Verdict {
    fn ok(reply: Value) -> Verdict {
        Verdict {
            accepted: true,
            status: 200,
            body: reply.to_string(),
            content_type: JSON_CT,
            retry_after: None,
            reason: None,
        }
    }

    fn reject(status: u16, reply: Value, reason: impl Into<String>) -> Verdict {
        Verdict {
            accepted: false,
            status,
            body: reply.to_string(),
            content_type: JSON_CT,
            retry_after: None,
            reason: Some(reason.into()),
        }
    }

    /// A plain-text answer (Slack); `reason: None` = accepted.
    fn text(status: u16, body: &str, reason: Option<String>) -> Verdict {
        Verdict {
            accepted: reason.is_none(),
            status,
            body: body.to_string(),
            content_type: TEXT_CT,
            retry_after: None,
            reason,
        }
    }
}

/// The parts of a request the checks look at.
struct Req<'a> {
    method: &'a Method,
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    body: &'a [u8],
    json: Option<&'a Value>,
}

impl Req<'_> {
    /// First value of a query parameter, percent-decoded once (`+` is a space).
    fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.unwrap_or("").as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The body if it is a JSON object.
    fn object(&self) -> Option<&Value> {
        self.json.filter(|v| v.is_object())
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received_instant = Instant::now();
    let received_at = SystemTime::now();
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let mode = inner.mode.lock().unwrap().clone();
    let settings = inner.settings.lock().unwrap().clone();
    let flavour = inner.flavour;
    let verdict = match &mode {
        Mode::FailHttp(code) => fail_http(flavour, *code),
        Mode::FailCode(code) => fail_code(flavour, *code),
        Mode::Ok | Mode::Slow(_) => {
            let req = Req {
                method: &method,
                path: uri.path(),
                query: uri.query(),
                headers: &headers,
                body: &body,
                json: json.as_ref(),
            };
            let secret = inner.secret.as_deref();
            let verdict = match flavour {
                Flavour::Webhook => check_webhook(secret, &req),
                Flavour::Feishu => check_feishu(FEISHU_TOKEN, secret, &settings, &req),
                Flavour::Lark => check_feishu(LARK_TOKEN, secret, &settings, &req),
                Flavour::DingTalk => check_dingtalk(secret, &settings, &req),
                Flavour::WeCom => check_wecom(&req),
                Flavour::Slack => check_slack(&req),
            };
            if verdict.accepted && settings.rate_limit && inner.rate.lock().unwrap().refuse(flavour) {
                rate_limited(flavour)
            } else {
                verdict
            }
        }
    };
    {
        let mut log = inner.log.lock().unwrap();
        let seq = log.len();
        log.push(Recorded {
            seq,
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: body.to_vec(),
            json,
            received_at,
            received_instant,
            accepted: verdict.accepted,
            reject_reason: verdict.reason.clone(),
            reply_status: verdict.status,
            reply_body: verdict.body.clone(),
        });
    }
    if let Mode::Slow(d) = mode {
        tokio::time::sleep(d).await;
    }
    let status = StatusCode::from_u16(verdict.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, [(header::CONTENT_TYPE, verdict.content_type)], verdict.body).into_response();
    if let Some(secs) = verdict.retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// `Mode::FailHttp`: this status, a body in the flavour's format.
fn fail_http(flavour: Flavour, code: u16) -> Verdict {
    let reason = format!("mode FailHttp({code})");
    match flavour {
        Flavour::Slack => Verdict::text(code, "injected HTTP failure", Some(reason)),
        _ => Verdict::reject(code, json!({"ok": false, "error": "injected HTTP failure"}), reason),
    }
}

/// `Mode::FailCode`: the flavour's business failure with this code.
fn fail_code(flavour: Flavour, code: i64) -> Verdict {
    let reason = format!("mode FailCode({code})");
    match flavour {
        Flavour::Webhook | Flavour::Feishu | Flavour::Lark => Verdict::reject(
            200,
            json!({"code": code, "msg": "injected failure", "data": {}}),
            reason,
        ),
        Flavour::DingTalk | Flavour::WeCom => {
            Verdict::reject(200, json!({"errcode": code, "errmsg": "injected failure"}), reason)
        }
        Flavour::Slack => Verdict::text(400, &code.to_string(), Some(reason)),
    }
}

/// The service's answer when its rate limit refuses a message.
fn rate_limited(flavour: Flavour) -> Verdict {
    match flavour {
        Flavour::Feishu | Flavour::Lark => Verdict::reject(
            200,
            json!({"code": 11232, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]appID[0]"}),
            RATE_LIMITED,
        ),
        Flavour::DingTalk => errcode(130101, "send too fast, exceed 20 times per minute", RATE_LIMITED),
        Flavour::WeCom => errcode(45009, "api freq out of limit", RATE_LIMITED),
        Flavour::Slack | Flavour::Webhook => {
            let mut v = Verdict::text(429, "rate_limited", Some(RATE_LIMITED.to_string()));
            v.retry_after = Some(1);
            v
        }
    }
}

fn check_webhook(secret: Option<&str>, req: &Req) -> Verdict {
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

// ---- Feishu / Lark ----

fn feishu_fail(code: i64, msg: &str, reason: impl Into<String>) -> Verdict {
    Verdict::reject(200, json!({"code": code, "msg": msg}), reason)
}

fn feishu_bad_request(reason: impl Into<String>) -> Verdict {
    feishu_fail(9499, "Bad Request", reason)
}

fn check_feishu(token: &str, secret: Option<&str>, settings: &Settings, req: &Req) -> Verdict {
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
fn feishu_text(v: &Value) -> String {
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

fn has_keyword(keywords: &[String], text: &str) -> bool {
    keywords.is_empty() || keywords.iter().any(|k| text.contains(k.as_str()))
}

// ---- DingTalk ----

fn errcode(code: i64, msg: &str, reason: impl Into<String>) -> Verdict {
    Verdict::reject(200, json!({"errcode": code, "errmsg": msg}), reason)
}

fn check_dingtalk(secret: Option<&str>, settings: &Settings, req: &Req) -> Verdict {
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

fn is_string_array(v: &Value) -> bool {
    v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
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
fn dingtalk_text(v: &Value) -> String {
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

// ---- WeCom ----

fn check_wecom(req: &Req) -> Verdict {
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

// ---- Slack ----

fn check_slack(req: &Req) -> Verdict {
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
fn slack_text(v: &Value) -> String {
    let mut parts: Vec<String> = v["text"].as_str().map(str::to_string).into_iter().collect();
    for b in v["blocks"].as_array().into_iter().flatten() {
        let texts = std::iter::once(&b["text"])
            .chain(b["fields"].as_array().into_iter().flatten())
            .chain(b["elements"].as_array().into_iter().flatten());
        parts.extend(texts.filter_map(|t| t["text"].as_str()).map(str::to_string));
    }
    parts.join("\n")
}

/// The human text a recorded request carried (see [`Receiver::accepted_texts`]).
fn message_text(flavour: Flavour, r: &Recorded) -> String {
    let Some(v) = r.json.as_ref() else {
        return match flavour {
            Flavour::Webhook => String::from_utf8_lossy(&r.body).into_owned(),
            _ => String::new(),
        };
    };
    match flavour {
        Flavour::Webhook => String::from_utf8_lossy(&r.body).into_owned(),
        Flavour::Feishu | Flavour::Lark => feishu_text(v),
        Flavour::DingTalk => dingtalk_text(v),
        Flavour::WeCom => v[v["msgtype"].as_str().unwrap_or("text")]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        Flavour::Slack => slack_text(v),
    }
}
