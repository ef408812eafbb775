//! `Backend`: a tiny HTTP/1.1 server on 127.0.0.1 that HAProxy health-checks.
//!
//! Every request gets `<status>` with body `ok` (or [`Backend::set_body`]) and `Connection: close`. `stop()` closes
//! the listening socket (checks then fail with `Connection refused`, `L4CON`) and
//! `restart()` listens again on the same port, which stays reserved meanwhile
//! ([`PortHold`]). Runs on the shared support runtime
//! ([`crate::rt`]), so it keeps answering while a test blocks in `wait_for`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::{bind_loopback, rebind_loopback, rt, PortHold};

struct Shared {
    status: AtomicU16,
    hits: AtomicU64,
    body: std::sync::Mutex<String>,
}

struct Running {
    stop_tx: oneshot::Sender<()>,
    done_rx: mpsc::Receiver<()>,
}

pub struct Backend {
    port: u16,
    shared: Arc<Shared>,
    running: Option<Running>,
    /// Keeps the port ours while stopped, so `restart()` gets it back.
    _hold: PortHold,
}

impl Backend {
    /// Take a fresh 127.0.0.1 port (held for the backend's life) and start answering `200 ok`.
    pub fn start() -> Backend {
        let hold = PortHold::fresh();
        let port = hold.port();
        let listener = bind_loopback(port).expect("bind backend on its held 127.0.0.1 port");
        let mut b = Backend {
            port,
            shared: Arc::new(Shared {
                status: AtomicU16::new(200),
                hits: AtomicU64::new(0),
                body: std::sync::Mutex::new("ok".into()),
            }),
            running: None,
            _hold: hold,
        };
        b.serve(listener);
        b
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Status code for the following requests (e.g. 500 makes HTTP checks fail, `L7STS`).
    pub fn set_status(&self, code: u16) {
        self.shared.status.store(code, Ordering::SeqCst);
    }

    /// Body of the following responses (default `ok`).
    pub fn set_body(&self, body: &str) {
        *self.shared.body.lock().unwrap() = body.to_string();
    }

    /// Requests answered so far (health checks included).
    pub fn hits(&self) -> u64 {
        self.shared.hits.load(Ordering::SeqCst)
    }

    pub fn is_listening(&self) -> bool {
        self.running.is_some()
    }

    /// Close the listening socket. When this returns, connects are refused.
    /// Connections already accepted finish on their own.
    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.stop_tx.send(());
            r.done_rx
                .recv_timeout(Duration::from_secs(5))
                .expect("backend accept loop did not stop within 5 s");
        }
    }

    /// Listen again on the same port (held while stopped; SO_REUSEADDR, bind retried
    /// for up to 5 s).
    pub fn restart(&mut self) {
        if self.running.is_some() {
            return;
        }
        let listener = rebind_loopback(self.port, "backend");
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        let shared = self.shared.clone();
        rt().spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    acc = listener.accept() => match acc {
                        Ok((stream, _)) => {
                            tokio::spawn(answer(stream, shared.clone()));
                        }
                        Err(e) => {
                            eprintln!("backend accept error: {e}");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    },
                }
            }
            close_for_everyone(listener);
            let _ = done_tx.send(());
        });
        self.running = Some(Running { stop_tx, done_rx });
    }
}

/// Stop listening on every copy of the socket, then drop ours. Dropping alone is not
/// enough: a process another test is spawning at that moment holds a copy of our
/// descriptors between its fork and its exec (CLOEXEC closes them only at the exec),
/// and while it does, the socket keeps listening and accepting. `shutdown` acts on
/// the socket itself, so connects are refused from here on, whatever holds a copy.
/// Measured: 222 of 3,000 stop-then-connect rounds were accepted with three threads
/// spawning `/bin/true`; none with this.
fn close_for_everyone(listener: TcpListener) {
    let _ = socket2::SockRef::from(&listener).shutdown(std::net::Shutdown::Both);
    drop(listener);
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.stop_tx.send(());
            let _ = r.done_rx.recv_timeout(Duration::from_secs(5));
        }
    }
}

/// Read one request head (bounded in size and time), answer, close.
async fn answer(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let read_head = async {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        true
    };
    match tokio::time::timeout(Duration::from_secs(5), read_head).await {
        Ok(true) => {}
        _ => return,
    }
    shared.hits.fetch_add(1, Ordering::SeqCst);
    let code = shared.status.load(Ordering::SeqCst);
    let body = shared.body.lock().unwrap().clone();
    let resp = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason(code),
        body.len()
    );
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
