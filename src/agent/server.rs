//! The agent's TCP server. One OS thread per listener accepts, checks the
//! client against the allow-list, and (when no check is scoped to an
//! `agent-send` service) writes the prepared line at once and closes: a
//! few syscalls per connection, as cheap as a bare accept-write-close loop.
//! When the reply depends on what HAProxy sends, the connection goes to a
//! tokio task that reads one bounded line with a deadline first; those
//! tasks are capped at `max_connections`.
//!
//! Written on std threads rather than tokio's accept loop because a reply
//! needs no waiting: registering each short-lived socket with the reactor
//! would cost more than the whole exchange.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Table;
use crate::config::Agent;

/// The longest `agent-send` string read (HAProxy's are a few bytes).
pub(crate) const MAX_SEND: usize = 256;

pub(crate) struct Server {
    replies: Arc<ArcSwap<Table>>,
    allow: Vec<IpNet>,
    timeout: Duration,
    send_wait: Duration,
    slots: Arc<tokio::sync::Semaphore>,
    stop: AtomicBool,
}

impl Server {
    pub(crate) fn new(agent: &Agent, replies: Arc<ArcSwap<Table>>) -> Server {
        Server {
            replies,
            allow: agent.allow.clone(),
            timeout: agent.timeout,
            send_wait: agent.send_wait,
            slots: Arc::new(tokio::sync::Semaphore::new(agent.max_connections)),
            stop: AtomicBool::new(false),
        }
    }

    /// Loopback always; then the configured networks.
    pub(crate) fn allowed(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_loopback() || self.allow.iter().any(|n| n.contains(&ip))
    }
}

pub(crate) fn spawn(l: TcpListener, srv: Arc<Server>, rt: tokio::runtime::Handle) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("hawatch-agent".into())
        .spawn(move || accept_loop(l, srv, rt))
}

/// Stops a listener thread: raise the flag, then wake its `accept`.
pub(crate) fn stop(srv: &Server, addr: SocketAddr, th: JoinHandle<()>) {
    srv.stop.store(true, Ordering::SeqCst);
    let wake = match addr.ip() {
        IpAddr::V4(v) if v.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        IpAddr::V6(v) if v.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    };
    let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
    let _ = th.join();
}

fn accept_loop(l: TcpListener, srv: Arc<Server>, rt: tokio::runtime::Handle) {
    let tel = crate::metrics::telemetry();
    loop {
        let (mut s, peer) = match l.accept() {
            Ok(x) => x,
            Err(e) => {
                if srv.stop.load(Ordering::SeqCst) {
                    return;
                }
                // EMFILE and friends: do not spin.
                tracing::warn!("agent accept: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if srv.stop.load(Ordering::SeqCst) {
            return;
        }
        if !srv.allowed(peer.ip()) {
            tel.agent_rejected("not_allowed").inc();
            continue; // closed unanswered
        }
        let table = srv.replies.load();
        if !table.needs_read {
            // A line of a few dozen bytes into a fresh socket's empty send
            // buffer: the write completes at once, whatever the client does.
            match s.write(&table.default.line) {
                Ok(n) if n == table.default.line.len() => {
                    table.default.counter.inc();
                    drain_then_close(s);
                    continue;
                }
                _ => {} // odd: let the slow path try with a deadline
            }
        }
        let Ok(permit) = srv.slots.clone().try_acquire_owned() else {
            tel.agent_rejected("too_many").inc();
            continue;
        };
        let srv = srv.clone();
        if s.set_nonblocking(true).is_err() {
            continue;
        }
        rt.spawn(async move {
            let _permit = permit;
            if let Ok(s) = tokio::net::TcpStream::from_std(s) {
                serve_one(s, &srv).await;
            }
        });
    }
}

/// Reads whatever the client already sent, so the close is a FIN and not a
/// reset that could discard the reply in flight.
fn drain_then_close(mut s: TcpStream) {
    if s.set_nonblocking(true).is_ok() {
        let mut buf = [0u8; MAX_SEND];
        for _ in 0..4 {
            match s.read(&mut buf) {
                Ok(n) if n > 0 => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                _ => break,
            }
        }
    }
}

/// The slow path: read the `agent-send` line (bounded, with a deadline),
/// write the matching reply (with a deadline), close.
async fn serve_one(mut s: tokio::net::TcpStream, srv: &Server) {
    let mut buf = [0u8; MAX_SEND];
    let mut len = 0;
    let table = srv.replies.load();
    if table.needs_read {
        let read = async {
            while len < buf.len() {
                match s.read(&mut buf[len..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        len += n;
                        if buf[..len].contains(&b'\n') {
                            break;
                        }
                    }
                }
            }
        };
        // HAProxy sends at once or not at all: after `send_wait`, reply anyway.
        let _ = tokio::time::timeout(srv.send_wait, read).await;
    }
    let sent = String::from_utf8_lossy(&buf[..len]);
    let line = sent.split(['\r', '\n']).next().unwrap_or("");
    let p = table.pick(line);
    if let Ok(Ok(())) = tokio::time::timeout(srv.timeout, s.write_all(&p.line)).await {
        p.counter.inc();
        let _ = tokio::time::timeout(srv.timeout, s.shutdown()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_networks_only() {
        let replies = Arc::new(ArcSwap::from_pointee(super::super::table(&agent(&[]), &[], &|_| false)));
        let srv = Server::new(&agent(&["10.1.0.0/16", "192.168.5.7"]), replies);
        for ok in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "::ffff:127.0.0.1",
            "10.1.200.3",
            "192.168.5.7",
        ] {
            assert!(srv.allowed(ok.parse().unwrap()), "{ok}");
        }
        for no in ["10.2.0.1", "192.168.5.8", "8.8.8.8", "fe80::1", "::ffff:10.2.0.1"] {
            assert!(!srv.allowed(no.parse().unwrap()), "{no}");
        }
    }

    fn agent(allow: &[&str]) -> Agent {
        let toml =
            format!("[agent]\nlisten = \"127.0.0.1:0\"\nallow = {allow:?}\nstore = \"/tmp/x.db\"\nname = \"t\"\n");
        crate::config::Config::parse(&toml, "t.toml").unwrap().agent.unwrap()
    }
}
