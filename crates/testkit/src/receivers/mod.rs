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
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::{bind_loopback, rebind_loopback, rt, wait_for, PortHold};

mod dingtalk;
mod feishu;
mod slack;
mod webhook;
mod wecom;

pub use dingtalk::{dingtalk_sign, DINGTALK_MAX_BODY, DINGTALK_MAX_SKEW_MS, DINGTALK_TOKEN};
pub use feishu::{feishu_sign, FEISHU_HOOK_PREFIX, FEISHU_MAX_BODY, FEISHU_MAX_SKEW_SECS, FEISHU_TOKEN, LARK_TOKEN};
pub use slack::{SLACK_BUCKET, SLACK_MAX_BLOCKS, SLACK_PATH, SLACK_REFILL_PER_SEC};
pub use webhook::webhook_signature;
pub use wecom::{WECOM_KEY, WECOM_MARKDOWN_MAX, WECOM_TEXT_MAX};

/// How long `stop()` waits for open connections (in-flight `Slow` answers) to finish.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

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
    /// Modes for requests whose path starts with a prefix (first match wins
    /// over `mode`): one client of several failing, e.g. a node of a pair.
    path_modes: Mutex<Vec<(String, Mode)>>,
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
                path_modes: Mutex::new(Vec::new()),
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

    /// How requests whose path starts with `prefix` are answered, over
    /// [`Receiver::set_mode`]; `None` removes the override.
    pub fn set_mode_for_path(&self, prefix: &str, mode: Option<Mode>) {
        let mut m = self.inner.path_modes.lock().unwrap();
        m.retain(|(p, _)| p != prefix);
        if let Some(mode) = mode {
            m.push((prefix.to_string(), mode));
        }
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
        // A second handle on the listening socket, to shut it down for every copy of it
        // at stop() (see `backend::close_for_everyone` for why dropping is not enough).
        let ctl = socket2::SockRef::from(&listener).try_clone().ok();
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
                    if let Some(ctl) = &ctl {
                        let _ = ctl.shutdown(std::net::Shutdown::Both);
                    }
                    if tokio::time::timeout(STOP_GRACE, &mut serve).await.is_err() {
                        eprintln!("receiver: connections still open {STOP_GRACE:?} after stop()");
                    }
                }
            }
            drop(serve);
            drop(ctl);
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
    let mode = inner
        .path_modes
        .lock()
        .unwrap()
        .iter()
        .find(|(p, _)| uri.path().starts_with(p.as_str()))
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| inner.mode.lock().unwrap().clone());
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
                Flavour::Webhook => webhook::check_webhook(secret, &req),
                Flavour::Feishu => feishu::check_feishu(FEISHU_TOKEN, secret, &settings, &req),
                Flavour::Lark => feishu::check_feishu(LARK_TOKEN, secret, &settings, &req),
                Flavour::DingTalk => dingtalk::check_dingtalk(secret, &settings, &req),
                Flavour::WeCom => wecom::check_wecom(&req),
                Flavour::Slack => slack::check_slack(&req),
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

// ---- Shared by the services' checks (one file each: feishu.rs, dingtalk.rs, ...) ----

/// Keyword protection: no keywords set, or one of them in `text`.
fn has_keyword(keywords: &[String], text: &str) -> bool {
    keywords.is_empty() || keywords.iter().any(|k| text.contains(k.as_str()))
}

/// The `{"errcode":N,"errmsg":…}` refusal of DingTalk and WeCom (always HTTP 200).
fn errcode(code: i64, msg: &str, reason: impl Into<String>) -> Verdict {
    Verdict::reject(200, json!({"errcode": code, "errmsg": msg}), reason)
}

fn is_string_array(v: &Value) -> bool {
    v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
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
        Flavour::Feishu | Flavour::Lark => feishu::feishu_text(v),
        Flavour::DingTalk => dingtalk::dingtalk_text(v),
        Flavour::WeCom => v[v["msgtype"].as_str().unwrap_or("text")]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        Flavour::Slack => slack::slack_text(v),
    }
}
