//! `GET /metrics`: read every instance now, then stream the exposition as it
//! is written (and gzip it on a second thread when the scraper accepts gzip),
//! so a 340k-series scrape never holds its whole text in memory.

use std::fmt;
use std::io::Write as _;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::AppState;
use crate::logic::exposition::Format;
use crate::metrics::{self, StoreStats};

/// Text is handed to the body (or the compressor) in pieces of this size.
const CHUNK: usize = 256 * 1024;

/// A `fmt::Write` that sends full chunks down a channel. A send fails when
/// the scraper went away, which stops the render.
struct ChunkSender {
    buf: String,
    tx: mpsc::Sender<Bytes>,
}

impl ChunkSender {
    fn flush(&mut self) -> fmt::Result {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, String::with_capacity(CHUNK + 4096));
        self.tx.blocking_send(Bytes::from(full)).map_err(|_| fmt::Error)
    }
}

impl fmt::Write for ChunkSender {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.buf.push_str(s);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q0 = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case("gzip") && !q0
        })
}

fn store_stats(state: &AppState) -> StoreStats {
    let store = state.recorder.store();
    let sinks = store
        .outbox_stats()
        .map(|v| {
            v.into_iter()
                .map(|s| (s.sink, s.pending - s.held, s.held, s.dead))
                .collect()
        })
        .unwrap_or_default();
    let path = std::path::Path::new(store.path());
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    StoreStats {
        sinks,
        bytes: size(path) + size(std::path::Path::new(&wal)),
    }
}

pub(crate) async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let gzip = accepts_gzip(&headers);
    let guard = state.scrape_lock.clone().lock_owned().await;
    let scrape = state.scraper.scrape().await;
    let st = state.clone();
    let store = tokio::task::spawn_blocking(move || store_stats(&st))
        .await
        .unwrap_or_default();
    let (tx, mut rx) = mpsc::channel::<Bytes>(4);
    tokio::task::spawn_blocking(move || {
        let _guard = guard;
        let w = ChunkSender {
            buf: String::with_capacity(CHUNK + 4096),
            tx,
        };
        let written = metrics::render(Some(scrape), store, format, w).and_then(|mut w| {
            w.flush()?;
            Ok(w)
        });
        if written.is_err() {
            tracing::debug!("scraper went away during /metrics");
        }
    });
    if gzip {
        let (ztx, zrx) = mpsc::channel::<Bytes>(4);
        tokio::task::spawn_blocking(move || {
            let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(CHUNK), flate2::Compression::fast());
            while let Some(chunk) = rx.blocking_recv() {
                if enc.write_all(&chunk).is_err() {
                    return;
                }
                if enc.get_ref().len() >= CHUNK / 4 {
                    let out = std::mem::replace(enc.get_mut(), Vec::with_capacity(CHUNK));
                    if ztx.blocking_send(Bytes::from(out)).is_err() {
                        return;
                    }
                }
            }
            if let Ok(rest) = enc.finish() {
                let _ = ztx.blocking_send(Bytes::from(rest));
            }
        });
        rx = zrx;
    }
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<Bytes, std::io::Error>(b), rx))
    });
    let mut resp = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        format.content_type().parse().expect("valid header"),
    );
    if gzip {
        h.insert(header::CONTENT_ENCODING, "gzip".parse().expect("valid header"));
    }
    h.insert(header::VARY, "Accept-Encoding".parse().expect("valid header"));
    resp
}
