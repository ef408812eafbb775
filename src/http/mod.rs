//! The HTTP listener (`[http]`): `/metrics`, `/healthz`, `/api/events`,
//! `/api/state` and the Alertmanager receiver `/alertmanager`. Loopback by
//! default; optional basic auth (every path but `/healthz`) and TLS.
//!
//! Endpoints that act (`POST /alertmanager` sends through every sink) also
//! obey `[http] allow`, checked against each connection's peer address;
//! config validation refuses a listener off loopback with neither auth nor
//! `allow`, so no one who merely reaches the port can post to the chats.

// Public only for the fuzz target `alertmanager` (fuzz/): `alertmanager::events`.
#[doc(hidden)]
pub mod alertmanager;
mod api;
mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::Scraper;
use crate::runtime::recorder::Recorder;
use crate::runtime::supervisor::Heartbeat;

/// What the handlers share.
pub(crate) struct AppState {
    pub(crate) config: Config,
    pub(crate) recorder: Recorder,
    pub(crate) heartbeats: Vec<(String, Arc<Heartbeat>, Duration)>,
    pub(crate) scraper: Scraper,
    /// One scrape at a time: a second scraper waits instead of doubling the
    /// load on HAProxy and the memory of a render.
    pub(crate) scrape_lock: Arc<tokio::sync::Mutex<()>>,
}

/// A bound listener, ready to serve.
pub(crate) struct Listener {
    tcp: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    pub(crate) addr: SocketAddr,
}

/// Binds `[http] listen`; an address in use says which key to change.
pub(crate) async fn bind(config: &Config) -> anyhow::Result<Option<Listener>> {
    let Some(addr) = config.http.listen else {
        return Ok(None);
    };
    let tls = match &config.http.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let tcp = TcpListener::bind(addr).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (another haproxy_exporter or hawatch?): set [http] listen to a free address, or listen = \"\" to turn the listener off"
        } else {
            ": check [http] listen"
        };
        anyhow::anyhow!("cannot listen on {addr}: {e}{hint}")
    })?;
    let addr = tcp.local_addr()?;
    Ok(Some(Listener { tcp, tls, addr }))
}

fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let read = |p: &std::path::Path| -> anyhow::Result<Vec<u8>> {
        std::fs::read(p).with_context(|| format!("[http] cannot read {}", p.display()))
    };
    let certs = rustls_pemfile::certs(&mut read(cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("[http] tls_cert {}: not PEM certificates", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("[http] tls_cert {}: no certificate in the file", cert.display());
    }
    let key_der = rustls_pemfile::private_key(&mut read(key)?.as_slice())
        .with_context(|| format!("[http] tls_key {}: not a PEM private key", key.display()))?
        .with_context(|| format!("[http] tls_key {}: no private key in the file", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .context("[http] tls_cert and tls_key do not make a usable pair")?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    // Endpoints that act: the client must also be in `[http] allow`.
    let acting = Router::new()
        .route("/alertmanager", post(alertmanager::receive))
        .route_layer(middleware::from_fn_with_state(state.clone(), allowed));
    let protected = Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics::metrics))
        .route("/api/events", get(api::events))
        .route("/api/state", get(api::state))
        .route("/api/vrrp", get(api::vrrp))
        .merge(acting)
        .route_layer(middleware::from_fn_with_state(state.clone(), auth));
    Router::new()
        .route("/healthz", get(api::healthz))
        .merge(protected)
        .with_state(state)
}

async fn index() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<html><head><title>hawatch</title></head><body><h1>hawatch</h1><ul>\
         <li><a href=\"/metrics\">/metrics</a></li><li><a href=\"/healthz\">/healthz</a></li>\
         <li><a href=\"/api/events\">/api/events</a></li><li><a href=\"/api/state\">/api/state</a></li>\
         <li>POST /alertmanager (Alertmanager webhook)</li></ul></body></html>",
    )
}

/// Basic auth, compared in constant time.
async fn auth(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some((user, pass)) = &state.config.http.auth else {
        return next.run(req).await;
    };
    use base64::Engine;
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .unwrap_or_default();
    let want = format!("{user}:{}", pass.expose());
    if constant_time_eq(&given, want.as_bytes()) {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"hawatch\"")],
            "authentication required\n",
        )
            .into_response()
    }
}

/// `[http] allow` for the endpoints that act: the connection's peer must be
/// in one of the networks (an empty list allows every client that passed
/// `auth`). No peer address known: refused when there is a list.
async fn allowed(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let allow = &state.config.http.allow;
    if allow.is_empty() {
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical());
    match peer {
        Some(ip) if allow.iter().any(|n| n.contains(&ip)) => next.run(req).await,
        _ => {
            let who = peer.map_or_else(|| "this client".to_string(), |ip| ip.to_string());
            tracing::warn!(client = %who, path = %req.uri().path(), "refused: not in [http] allow");
            (StatusCode::FORBIDDEN, format!("{who} is not in [http] allow\n")).into_response()
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    // Comparing digests keeps the time independent of where they differ and of the lengths.
    let (x, y) = (Sha256::digest(a), Sha256::digest(b));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

/// Serves until `shutdown`; connections in flight get 5 s to finish.
pub(crate) async fn serve(listener: Listener, state: Arc<AppState>, shutdown: CancellationToken) {
    let app = router(state);
    let Listener { tcp, tls, addr } = listener;
    tracing::info!(%addr, tls = tls.is_some(), "HTTP listener: /metrics /healthz /api/events /api/state /alertmanager");
    let conns = tokio_util::task::TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = tcp.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: do not spin.
                    tracing::warn!("HTTP accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // The peer address, for `[http] allow`.
        let app = app.clone().layer(axum::Extension(ConnectInfo(peer)));
        let tls = tls.clone();
        let stop = shutdown.clone();
        conns.spawn(async move {
            let service = hyper_util::service::TowerToHyperService::new(app);
            let builder = hyper::server::conn::http1::Builder::new();
            let result = match tls {
                Some(acc) => match tokio::time::timeout(Duration::from_secs(10), acc.accept(stream)).await {
                    Ok(Ok(s)) => serve_conn(builder, hyper_util::rt::TokioIo::new(s), service, stop).await,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, "TLS handshake: {e}");
                        return;
                    }
                    Err(_) => return,
                },
                None => serve_conn(builder, hyper_util::rt::TokioIo::new(stream), service, stop).await,
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "HTTP connection: {e}");
            }
        });
    }
    conns.close();
    if tokio::time::timeout(Duration::from_secs(5), conns.wait())
        .await
        .is_err()
    {
        tracing::debug!("HTTP connections still open at shutdown; dropping them");
    }
}

async fn serve_conn<I, S>(
    mut builder: hyper::server::conn::http1::Builder,
    io: I,
    service: S,
    stop: CancellationToken,
) -> Result<(), hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<hyper::Request<hyper::body::Incoming>, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    let conn = builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    }
}
