//! The helper servers: HTTP listeners HAProxy checks (closable and reopenable on
//! their port) and a webhook receiver recording arrival times.

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The runtime the helper servers (check listeners, webhook receiver) run on.
pub(super) fn support_rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bench-support")
            .enable_all()
            .build()
            .expect("support runtime")
    })
}

// ---------------------------------------------------------------------------
// A tiny HTTP server for HAProxy's health checks, closable and reopenable on its port

type StopTx = tokio::sync::oneshot::Sender<mpsc::Sender<()>>;

pub(super) struct HttpListener {
    addr: SocketAddr,
    stop: Option<StopTx>,
    hits: Arc<AtomicU64>,
}

impl HttpListener {
    pub(super) fn start() -> HttpListener {
        let hits = Arc::new(AtomicU64::new(0));
        let (addr, stop) = serve_http(SocketAddr::from(([127, 0, 0, 1], 0)), hits.clone());
        HttpListener {
            addr,
            stop: Some(stop),
            hits,
        }
    }

    pub(super) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Closes the listening socket; returns once it is closed.
    pub(super) fn close(&mut self) -> Instant {
        if let Some(tx) = self.stop.take() {
            let (ack_tx, ack_rx) = mpsc::channel();
            if tx.send(ack_tx).is_ok() {
                let _ = ack_rx.recv_timeout(Duration::from_secs(5));
            }
        }
        Instant::now()
    }

    /// Listens again on the same port.
    pub(super) fn reopen(&mut self) {
        self.close();
        let (_, stop) = serve_http(self.addr, self.hits.clone());
        self.stop = Some(stop);
    }
}

impl Drop for HttpListener {
    fn drop(&mut self) {
        self.close();
    }
}

fn serve_http(addr: SocketAddr, hits: Arc<AtomicU64>) -> (SocketAddr, StopTx) {
    // std sets SO_REUSEADDR, so the port can be bound again right after a close.
    let mut bound = None;
    for _ in 0..100 {
        match StdTcpListener::bind(addr) {
            Ok(l) => {
                bound = Some(l);
                break;
            }
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
    let l = bound.unwrap_or_else(|| panic!("cannot listen on {addr}"));
    l.set_nonblocking(true).expect("nonblocking");
    let addr = l.local_addr().expect("local addr");
    let (tx, mut rx) = tokio::sync::oneshot::channel::<mpsc::Sender<()>>();
    support_rt().spawn(async move {
        let Ok(l) = tokio::net::TcpListener::from_std(l) else {
            return;
        };
        loop {
            tokio::select! {
                ack = &mut rx => {
                    drop(l);
                    if let Ok(ack) = ack {
                        let _ = ack.send(());
                    }
                    return;
                }
                r = l.accept() => {
                    if let Ok((mut s, _)) = r {
                        hits.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(async move {
                            let mut buf = [0u8; 2048];
                            let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
                            let _ = s
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
                                .await;
                            let _ = s.shutdown().await;
                        });
                    }
                }
            }
        }
    });
    (addr, tx)
}

// ---------------------------------------------------------------------------
// Webhook receiver

struct Received {
    at: Instant,
    kind: String,
    backend: String,
    server: String,
}

pub(super) struct Hook {
    port: u16,
    rx: mpsc::Receiver<Received>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Hook {
    pub(super) fn start() -> Hook {
        let l = StdTcpListener::bind("127.0.0.1:0").expect("bind receiver");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().expect("addr").port();
        let (tx, rx) = mpsc::channel();
        let (sd_tx, sd_rx) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(on_hook))
            .with_state(tx);
        support_rt().spawn(async move {
            let Ok(l) = tokio::net::TcpListener::from_std(l) else {
                return;
            };
            let _ = axum::serve(l, app)
                .with_graceful_shutdown(async {
                    let _ = sd_rx.await;
                })
                .await;
        });
        Hook {
            port,
            rx,
            shutdown: Some(sd_tx),
        }
    }

    pub(super) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub(super) fn drain(&self) {
        for _ in 0..10_000 {
            if self.rx.try_recv().is_err() {
                break;
            }
        }
    }

    /// Waits for an event of `kind` about `backend/server`; returns its arrival time.
    pub(super) fn wait(&self, kind: &str, backend: &str, server: &str, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        for _ in 0..100_000 {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.rx.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(r) if r.kind == kind && r.backend == backend && r.server == server => return Some(r.at),
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
        None
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn on_hook(
    axum::extract::State(tx): axum::extract::State<mpsc::Sender<Received>>,
    body: axum::body::Bytes,
) -> &'static str {
    let at = Instant::now();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = |e: &serde_json::Value, k: &str| e[k].as_str().unwrap_or_default().to_string();
    for e in v["events"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let _ = tx.send(Received {
            at,
            kind: text(e, "kind"),
            backend: text(e, "backend"),
            server: text(e, "server"),
        });
    }
    "ok"
}
