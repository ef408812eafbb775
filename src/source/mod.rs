//! Sources: reading one instance through the Runtime API (`show info;show
//! stat` on one connection) or the HTTP stats page (`;csv`, plus the HTML page
//! scoped to no proxy for pid/uptime/version). Every request has a timeout and
//! a size cap; every failure becomes an `Err(SourceError)` observation that
//! keeps the client's error (and says what to fix).

pub mod vip;

use std::time::Duration;

use chrono::Utc;
use haproxy::{Client, Info, Stat};

use crate::config::{Instance, Source};
use crate::model::snapshot::{HttpError, Observation, ProcInfo, Snapshot};

/// Replies larger than this are refused (10k servers ≈ 6 MB).
pub(crate) const MAX_REPLY: usize = 256 * 1024 * 1024;

/// Builds the HTTP client an instance with an HTTP source uses.
pub fn http_client(inst: &Instance) -> reqwest::Client {
    let verify = match &inst.source {
        Source::Http { tls_verify, .. } => *tls_verify,
        Source::Socket(_) => true,
    };
    reqwest::Client::builder()
        .user_agent(concat!("hawatch/", env!("CARGO_PKG_VERSION")))
        // A fresh connection per request: after a reload the old process
        // still answers on a kept connection, with a view of its own (2.2
        // sends a CSV with no proxies at all, its proxies being stopped),
        // which would read as every server removed. A new connection
        // reaches the process that listens.
        .pool_max_idle_per_host(0)
        .danger_accept_invalid_certs(!verify)
        .timeout(inst.timeout)
        .build()
        .expect("TLS backend initialises")
}

/// One poll of one instance. `size_hint` is the size of the previous reply,
/// so the read buffer is allocated once instead of grown by doubling.
pub async fn poll(inst: &Instance, http: &reqwest::Client, size_hint: usize) -> Observation {
    match &inst.source {
        Source::Socket(ep) => poll_socket(ep, inst.timeout, size_hint).await,
        Source::Http { url, .. } => poll_http(url.expose(), http, inst.timeout).await,
    }
}

/// The Runtime API client for an instance's socket: its timeout, and
/// replies up to [`MAX_REPLY`].
pub fn socket_client(ep: &haproxy::Endpoint, timeout: Duration) -> Client {
    Client::new(ep.clone()).timeout(timeout).max_reply(MAX_REPLY)
}

async fn poll_socket(ep: &haproxy::Endpoint, timeout: Duration, size_hint: usize) -> Observation {
    // Right after a reload, HAProxy 2.2's old worker, soft-stopping, still
    // accepts on the stats socket it shares with the new one and dumps none
    // of its stopped proxies (seen: 1 poll in 30 during a reload; its servers
    // were stored as removed, then added again). A reply from a stopping
    // process is read again on a fresh connection, at most 3 times; the last
    // one counts whatever it says (HAProxy being stopped for good).
    let mut tries = 0u64;
    loop {
        tries += 1;
        let (info, stat) = socket_client(ep, timeout).size_hint(size_hint).show_info_stat().await?;
        if !info.is_stopping() || tries == 3 {
            return Ok(snapshot(info, stat));
        }
        tracing::debug!(endpoint = %ep, pid = ?info.pid, "a stopping process answered; reading again");
        tokio::time::sleep(Duration::from_millis(20 * tries)).await;
    }
}

fn snapshot(info: Info, stat: Stat) -> Snapshot {
    Snapshot {
        proc: Some(ProcInfo::from_info(&info, Utc::now())),
        stat,
    }
}

/// Splits and parses the reply to `show info;show stat`
/// ([`haproxy::parse_info_stat`]): what [`poll`] does once the bytes arrived.
pub fn parse_socket_reply(reply: String) -> Observation {
    let (info, stat) = haproxy::parse_info_stat(reply)?;
    Ok(snapshot(info, stat))
}

async fn poll_http(url: &str, http: &reqwest::Client, timeout: Duration) -> Observation {
    // The HTML page scoped to a proxy name that cannot exist (`~` is not
    // allowed in names) carries the process header and no proxy tables.
    let html_url = url.replace(";csv", ";scope=~");
    // During a reload the old process may still answer a request on a kept
    // connection while the new one answers another: a CSV of one process
    // with the pid of the other makes a backend flap that never happened.
    // The CSV counts only if the process header read before it and the one
    // read after it name the same pid (at most 3 tries; the CSV carries no
    // pid of its own).
    let header = || async {
        let html = get(http, &html_url, timeout).await.ok()?;
        Some(ProcInfo::from_info(&Info::parse_html(&html), Utc::now()))
    };
    let mut tries = 0;
    loop {
        tries += 1;
        let before = header().await;
        let csv = get(http, url, timeout).await?;
        let after = header().await;
        let pid = |p: &Option<ProcInfo>| p.as_ref().and_then(|p| p.pid);
        if pid(&before) == pid(&after) || tries == 3 {
            let stat = Stat::parse(csv).map_err(HttpError::from)?;
            // The header is a nicety for restart detection; a failure here is not fatal.
            return Ok(Snapshot { proc: after, stat });
        }
        tracing::debug!(url = %crate::config::redact_url(url), "the process changed during the poll; reading again");
    }
}

pub(crate) async fn get(http: &reqwest::Client, url: &str, timeout: Duration) -> Result<String, HttpError> {
    let shown = crate::config::redact_url(url);
    let transport = |e: reqwest::Error| HttpError::Transport {
        url: shown.clone(),
        source: e.without_url(),
    };
    let work = async {
        // One retry on a transport error: HAProxy closes the connection after
        // some replies (a 401) without saying so, and the pooled connection's
        // next request then fails with no fault of the instance.
        let sent = match http.get(url).send().await {
            Err(e) if e.is_request() || e.is_connect() => http.get(url).send().await,
            r => r,
        };
        let mut resp = sent.map_err(transport)?;
        match resp.status().as_u16() {
            200 => {}
            401 => return Err(HttpError::Unauthorized { url: shown.clone() }),
            status => {
                return Err(HttpError::Status {
                    url: shown.clone(),
                    status,
                })
            }
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_REPLY {
                return Err(HttpError::TooLarge {
                    url: shown.clone(),
                    max: MAX_REPLY,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(timeout, work).await.unwrap_or_else(|_| {
        Err(HttpError::Timeout {
            url: shown.clone(),
            after: timeout,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_reply_framing() {
        let info = include_str!("../../tests/fixtures/haproxy-2.6/show-info.txt");
        let stat = include_str!("../../tests/fixtures/haproxy-2.6/show-stat.csv");
        let reply = format!("{info}{stat}"); // both captures end with the empty line
        let snap = parse_socket_reply(reply.clone()).unwrap();
        assert_eq!(snap.proc.as_ref().unwrap().pid, Some(28345));
        assert!(snap.stat.len() > 20);
        let cut = &reply[..reply.len() - 300];
        assert!(parse_socket_reply(cut.to_string())
            .unwrap_err()
            .to_string()
            .contains("truncated"));
        assert!(parse_socket_reply("Unknown command\n".into()).is_err());
        assert!(parse_socket_reply("Name: HAProxy\n\nPermission denied\n\n".into())
            .unwrap_err()
            .to_string()
            .contains("not `show stat`"));
    }

    /// Whatever arrives from the network, parsing returns, never panics: every
    /// truncation of a real reply, and real replies with bytes inserted.
    #[test]
    fn mangled_replies_never_panic() {
        let info = include_str!("../../tests/fixtures/haproxy-2.6/show-info.txt");
        let stat = include_str!("../../tests/fixtures/haproxy-2.6/show-stat.csv");
        let reply = format!("{info}{stat}");
        let complete = (0..reply.len())
            .step_by(7)
            .filter(|&cut| reply.is_char_boundary(cut) && parse_socket_reply(reply[..cut].to_string()).is_ok())
            .count();
        assert_eq!(complete, 0, "no truncation of the reply may parse as complete");
        let junk = [",", "\"", "\n", "\n\n", "#", ";", "\u{0}", "é", "\r"];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..3000 {
            let mut s = reply.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed as usize) % s.len();
                if s.is_char_boundary(at) {
                    s.insert_str(at, junk[(seed >> 32) as usize % junk.len()]);
                }
            }
            let _ = parse_socket_reply(s);
        }
    }
}
