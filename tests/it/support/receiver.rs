//! `Receiver`: a local stand-in for chat / webhook services (axum on 127.0.0.1:0).
//!
//! It runs on the shared support runtime ([`super::rt`]), not on the caller's, so it
//! works from sync tests and from `#[tokio::test]`s, and keeps answering while a test
//! blocks in `wait_for`. Every request is recorded in arrival order (accepted or not).
//! (The `wait_for_*` methods block the calling thread: if the sender is a task on a
//! current-thread `#[tokio::test]` runtime, use `flavor = "multi_thread"` or
//! `support::wait_for_async`. A sender that is a separate process, like `hawatch`, is fine.)
//!
//! Two flavours:
//! - [`Flavour::Webhook`]: any JSON POST; with a secret, header
//!   `X-Hawatch-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>` is required
//!   (else 401). Success: 200 `{"ok":true}`.
//! - [`Flavour::Feishu`]: what open.feishu.cn checks for a custom bot: an `interactive`
//!   card (else 200 `{"code":9499,…}`), body ≤ 20000 bytes, and with a secret a
//!   `timestamp` (string, unix seconds, within 1 h) and `sign` =
//!   base64(HMAC-SHA256(key = "{timestamp}\n{secret}", message = empty)) (else
//!   200 `{"code":19021,…}`). Success: 200 with `code: 0`.
//!
//! Failure modes ([`Mode`]) can be switched at runtime; `stop()` closes the listening
//! socket and `restart()` listens again on the same port.

use std::future::IntoFuture;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::{bind_loopback, claim_port, rebind_loopback, rt, wait_for};

/// Largest body Feishu accepts.
pub const FEISHU_MAX_BODY: usize = 20_000;
/// How long `stop()` waits for open connections (in-flight `Slow` answers) to finish.
pub const STOP_GRACE: Duration = Duration::from_secs(3);
/// Feishu's allowed clock difference for `timestamp`.
pub const FEISHU_MAX_SKEW_SECS: i64 = 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    Webhook,
    Feishu,
}

/// How the receiver answers the next requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Validate and answer like the real service.
    Ok,
    /// Answer with this HTTP status (request recorded as not accepted).
    FailHttp(u16),
    /// HTTP 200 with `{"code":N,"msg":"…"}` (Feishu-style failure; not accepted).
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

struct Inner {
    flavour: Flavour,
    secret: Option<String>,
    mode: Mutex<Mode>,
    log: Mutex<Vec<Recorded>>,
}

struct Running {
    stop_tx: oneshot::Sender<()>,
    done_rx: mpsc::Receiver<()>,
}

pub struct Receiver {
    port: u16,
    inner: Arc<Inner>,
    running: Option<Running>,
}

impl Receiver {
    /// Start on 127.0.0.1:0.
    pub fn start(flavour: Flavour, secret: Option<&str>) -> Receiver {
        let listener = bind_loopback(0).expect("bind receiver on 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        claim_port(port);
        let mut r = Receiver {
            port,
            inner: Arc::new(Inner {
                flavour,
                secret: secret.map(str::to_string),
                mode: Mutex::new(Mode::Ok),
                log: Mutex::new(Vec::new()),
            }),
            running: None,
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

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` (any path is accepted).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A realistic URL for the flavour: `/hook` or `/open-apis/bot/v2/hook/test-token`.
    pub fn url(&self) -> String {
        match self.inner.flavour {
            Flavour::Webhook => format!("{}/hook", self.base_url()),
            Flavour::Feishu => format!("{}/open-apis/bot/v2/hook/test-token", self.base_url()),
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.inner.mode.lock().unwrap() = mode;
    }

    /// All requests (accepted and rejected), in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.log.lock().unwrap().clone()
    }

    /// Forget recorded requests.
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

    /// Listen again on the same port (SO_REUSEADDR, bind retried for up to 5 s).
    /// Recorded requests are kept.
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
    reply: Value,
    reason: Option<String>,
}

impl Verdict {
    fn ok(reply: Value) -> Verdict {
        Verdict {
            accepted: true,
            status: 200,
            reply,
            reason: None,
        }
    }

    fn reject(status: u16, reply: Value, reason: impl Into<String>) -> Verdict {
        Verdict {
            accepted: false,
            status,
            reply,
            reason: Some(reason.into()),
        }
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
    let verdict = match &mode {
        Mode::FailHttp(code) => Verdict::reject(
            *code,
            json!({"ok": false, "error": "injected HTTP failure"}),
            format!("mode FailHttp({code})"),
        ),
        Mode::FailCode(code) => Verdict::reject(
            200,
            json!({"code": code, "msg": "injected failure", "data": {}}),
            format!("mode FailCode({code})"),
        ),
        Mode::Ok | Mode::Slow(_) => match inner.flavour {
            Flavour::Webhook => check_webhook(inner.secret.as_deref(), &method, &headers, &body, &json),
            Flavour::Feishu => check_feishu(inner.secret.as_deref(), &method, &body, &json),
        },
    };
    let reply_body = verdict.reply.to_string();
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
            reply_body: reply_body.clone(),
        });
    }
    if let Mode::Slow(d) = mode {
        tokio::time::sleep(d).await;
    }
    let status = StatusCode::from_u16(verdict.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        reply_body,
    )
        .into_response()
}

fn check_webhook(
    secret: Option<&str>,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    json: &Option<Value>,
) -> Verdict {
    if method != Method::POST {
        return Verdict::reject(405, json!({"ok": false, "error": "POST only"}), "not POST");
    }
    if json.is_none() {
        return Verdict::reject(
            400,
            json!({"ok": false, "error": "body is not JSON"}),
            "body is not JSON",
        );
    }
    if let Some(secret) = secret {
        let want = webhook_signature(secret, body);
        let got = headers.get("x-hawatch-signature").and_then(|v| v.to_str().ok());
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

fn feishu_bad_request(reason: impl Into<String>) -> Verdict {
    Verdict::reject(200, json!({"code": 9499, "msg": "Bad Request"}), reason)
}

fn check_feishu(secret: Option<&str>, method: &Method, body: &[u8], json: &Option<Value>) -> Verdict {
    if method != Method::POST {
        return Verdict::reject(405, json!({"code": 9499, "msg": "Bad Request"}), "not POST");
    }
    if body.len() > FEISHU_MAX_BODY {
        return feishu_bad_request(format!("body is {} bytes > {FEISHU_MAX_BODY}", body.len()));
    }
    let Some(v) = json.as_ref().filter(|v| v.is_object()) else {
        return feishu_bad_request("body is not a JSON object");
    };
    if let Some(secret) = secret {
        if let Err(why) = check_feishu_sign(secret, v) {
            return Verdict::reject(
                200,
                json!({
                    "code": 19021,
                    "msg": "sign match fail or timestamp is not within one hour from current time"
                }),
                why,
            );
        }
    }
    if let Err(why) = check_feishu_card(v) {
        return feishu_bad_request(why);
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

fn check_feishu_card(v: &Value) -> Result<(), String> {
    if v["msg_type"].as_str() != Some("interactive") {
        return Err(format!("msg_type is {}, want \"interactive\"", v["msg_type"]));
    }
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
