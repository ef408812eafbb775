//! Runtime API ("stats socket") client over a unix socket or `tcp://host:port`.
//!
//! HAProxy's non-interactive mode: send one line (commands joined by `;`), read
//! until HAProxy closes. Every call is bounded in time and in size, and every
//! error is typed and says what to fix.
//!
//! ```no_run
//! # async fn f() -> Result<(), haproxy::Error> {
//! use std::time::Duration;
//! use haproxy::{Admin, Client, ServerId};
//!
//! let client = haproxy::Client::new("/run/haproxy/admin.sock".parse().unwrap())
//!     .timeout(Duration::from_secs(2))
//!     .max_reply(64 << 20);
//! let (info, stat) = client.show_info_stat().await?;
//! let web1 = ServerId::new("web", "web1").unwrap();
//! client.set_server_state(&web1, Admin::Drain).await?;
//! # Ok(()) }
//! ```

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use crate::command::{self, Admin, CliLevel, Command, Name, ServerId, Weight};
use crate::endpoint::Endpoint;
use crate::info::Info;
use crate::reply::{self, ReplyError};
use crate::stat::Stat;

/// A Runtime API failure, with what to do about it. Each way of failing is
/// its own variant: a socket the process may not open is not a socket that
/// does not answer.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing at the socket path.
    #[error(
        "stats socket {endpoint} does not exist: is HAProxy running, and does its config have `stats socket {endpoint} level admin`?"
    )]
    NotFound { endpoint: String },
    /// The socket file may not be written by this process.
    #[error("permission denied on stats socket {endpoint}: run as a user that can write it (e.g. a member of the haproxy group, with `mode 660` on the `stats socket` line)")]
    PermissionDenied { endpoint: String },
    /// Nothing listens (HAProxy stopped, or a stale socket file).
    #[error("connection refused by {endpoint}: no process listens there (HAProxy stopped, or the socket is stale, left by an HAProxy that is gone)")]
    Refused { endpoint: String },
    /// The path exists but is a regular file, a directory, ...
    #[error(
        "{endpoint} is {what}, not a socket: check the path (HAProxy's `stats socket`, or `-S` for the master CLI)"
    )]
    NotSocket { endpoint: String, what: &'static str },
    /// Any other failure to connect.
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: io::Error,
    },
    /// No complete answer within the client's timeout.
    #[error("{endpoint} did not answer within {after:?}")]
    Timeout { endpoint: String, after: Duration },
    /// The reply grew past the client's `max_reply`.
    #[error("reply from {endpoint} exceeds {max} bytes")]
    TooLarge { endpoint: String, max: usize },
    /// HAProxy answered `Permission denied`: the socket's level is too low
    /// for the command.
    #[error("HAProxy refused the command on {endpoint}: `Permission denied`; the socket's level is too low (set `level operator` or `level admin` on the `stats socket` line)")]
    Level { endpoint: String },
    /// Writing or reading failed after the connection was made.
    #[error("reading from {endpoint}: {source}")]
    Io {
        endpoint: String,
        #[source]
        source: io::Error,
    },
    /// The reply is not what the command returns.
    #[error(transparent)]
    Reply(#[from] ReplyError),
    /// HAProxy did not do what an action asked, and said why (`No such
    /// server.`, `Invalid weight.`, ...).
    #[error("HAProxy refused `{command}` on {endpoint}: {reply}")]
    Rejected {
        endpoint: String,
        command: String,
        reply: String,
    },
    /// `show events RING` answered something other than log lines: no such
    /// ring, or it is not in a syslog format (`<PRI>` first).
    #[error("HAProxy answered {reply:?} to `show events {ring}` on {endpoint}: is there a `ring {ring}` that HAProxy logs to (`log ring@{ring}`), and is the socket at level operator or admin?")]
    Ring {
        endpoint: String,
        ring: String,
        reply: String,
    },
}

impl Error {
    /// The endpoint the error happened on, when it is about one.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Error::NotFound { endpoint }
            | Error::PermissionDenied { endpoint }
            | Error::Refused { endpoint }
            | Error::NotSocket { endpoint, .. }
            | Error::Connect { endpoint, .. }
            | Error::Timeout { endpoint, .. }
            | Error::TooLarge { endpoint, .. }
            | Error::Level { endpoint }
            | Error::Io { endpoint, .. }
            | Error::Rejected { endpoint, .. }
            | Error::Ring { endpoint, .. } => Some(endpoint),
            Error::Reply(_) => None,
        }
    }

    /// No connection was made (no socket, no permission, refused, not a socket, ...).
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            Error::NotFound { .. }
                | Error::PermissionDenied { .. }
                | Error::Refused { .. }
                | Error::NotSocket { .. }
                | Error::Connect { .. }
        )
    }
}

/// The default [`Client::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default [`Client::max_reply`]: 64 MiB (`show stat` of 10,000 servers is about 6 MB).
pub const DEFAULT_MAX_REPLY: usize = 64 * 1024 * 1024;

/// A Runtime API client: an endpoint and the bounds of every call. Cheap to
/// build and to clone; each call opens its own connection, as HAProxy's
/// non-interactive mode wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    endpoint: Endpoint,
    timeout: Duration,
    max_reply: usize,
    size_hint: usize,
}

impl Client {
    /// A client with [`DEFAULT_TIMEOUT`] and [`DEFAULT_MAX_REPLY`].
    pub fn new(endpoint: Endpoint) -> Client {
        Client {
            endpoint,
            timeout: DEFAULT_TIMEOUT,
            max_reply: DEFAULT_MAX_REPLY,
            size_hint: 0,
        }
    }

    /// How long a call may take, connecting included.
    pub fn timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// The largest reply accepted, in bytes.
    pub fn max_reply(mut self, bytes: usize) -> Client {
        self.max_reply = bytes;
        self
    }

    /// The size the reply is expected to have (e.g. the previous one's): the
    /// read buffer is allocated once instead of grown by doubling.
    pub fn size_hint(mut self, bytes: usize) -> Client {
        self.size_hint = bytes;
        self
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Sends `commands` on one line (`a;b`) and returns the whole reply, as
    /// HAProxy wrote it. A reply starting with `Permission denied` is
    /// [`Error::Level`].
    pub async fn send(&self, commands: &[Command]) -> Result<String, Error> {
        self.request(&command::line(commands), false).await
    }

    /// `show info`.
    pub async fn show_info(&self) -> Result<Info, Error> {
        let reply = self.send(&[Command::ShowInfo]).await?;
        Ok(Info::parse(&reply))
    }

    /// `show stat`, validated.
    pub async fn show_stat(&self) -> Result<Stat, Error> {
        let reply = self.send(&[Command::ShowStat]).await?;
        Ok(Stat::parse(reply).map_err(ReplyError::from)?)
    }

    /// `show info;show stat` on one connection: the process and its
    /// proxies as of the same moment. See [`reply::parse_info_stat`].
    pub async fn show_info_stat(&self) -> Result<(Info, Stat), Error> {
        let reply = self.send(&[Command::ShowInfo, Command::ShowStat]).await?;
        Ok(reply::parse_info_stat(reply)?)
    }

    /// `show cli level`: what this connection may do.
    pub async fn show_cli_level(&self) -> Result<CliLevel, Error> {
        let reply = self.send(&[Command::ShowCliLevel]).await?;
        CliLevel::from_word(reply.trim()).ok_or_else(|| {
            Error::Reply(ReplyError::Unexpected {
                command: Command::ShowCliLevel.to_string(),
                reply: reply::head(&reply),
            })
        })
    }

    /// Runs an action (a `set`, `enable` or `disable` command). HAProxy
    /// answers nothing, or `Done`, when it did it: that answer is returned,
    /// trimmed. Anything else is its reason for not doing it:
    /// [`Error::Rejected`]. Other commands return their reply as [`send`](Client::send).
    pub async fn run(&self, command: &Command) -> Result<String, Error> {
        let reply = self.send(std::slice::from_ref(command)).await?;
        let text = reply.trim();
        if !command.is_action() || text.is_empty() || text.starts_with("Done") {
            return Ok(text.to_string());
        }
        Err(Error::Rejected {
            endpoint: self.endpoint.to_string(),
            command: command.to_string(),
            reply: text.to_string(),
        })
    }

    /// `set server B/S state ready|drain|maint`.
    pub async fn set_server_state(&self, server: &ServerId, state: Admin) -> Result<String, Error> {
        self.run(&Command::SetServerState(server.clone(), state)).await
    }

    /// `set server B/S weight W`.
    pub async fn set_server_weight(&self, server: &ServerId, weight: Weight) -> Result<String, Error> {
        self.run(&Command::SetServerWeight(server.clone(), weight)).await
    }

    /// `enable health B/S` or `disable health B/S`.
    pub async fn set_health_check(&self, server: &ServerId, enabled: bool) -> Result<String, Error> {
        self.run(&Command::SetHealthCheck(server.clone(), enabled)).await
    }

    /// `enable agent B/S` or `disable agent B/S`.
    pub async fn set_agent_check(&self, server: &ServerId, enabled: bool) -> Result<String, Error> {
        self.run(&Command::SetAgentCheck(server.clone(), enabled)).await
    }

    /// `set maxconn server B/S N` (0: no limit).
    pub async fn set_server_maxconn(&self, server: &ServerId, maxconn: u32) -> Result<String, Error> {
        self.run(&Command::SetServerMaxconn(server.clone(), maxconn)).await
    }

    /// `reload` on the master CLI (the client's endpoint must be the master
    /// socket, `haproxy -W -S PATH`). Returns the master's verdict
    /// ([`master::parse_reload`](crate::master::parse_reload)): nothing up to
    /// 2.6, which closes the connection; `Success=0|1` from 2.7; `Busy` from
    /// 3.1 while another reload is still starting. The 2.7+ answer comes once
    /// the new worker is ready: give the client a timeout that allows for it.
    pub async fn reload(&self) -> Result<crate::master::Reload, Error> {
        // Half-close: the master CLI keeps a connection open after its answer
        // until the client is done (a 3.1+ "Another reload is still in
        // progress" would otherwise read as a timeout).
        let reply = self.request(&command::line(&[Command::Reload]), true).await?;
        Ok(crate::master::parse_reload(&reply))
    }

    /// Follows a ring: `show events RING -w -n`, the messages logged from now
    /// on, one line each, until HAProxy closes the connection (a reload). The
    /// timeout bounds connecting and sending only; reading waits for as long
    /// as the caller does.
    pub async fn follow_ring(&self, ring: &Name) -> Result<RingLines, Error> {
        let endpoint = self.endpoint.to_string();
        let cmd = Command::FollowRing(ring.clone()).to_string();
        let work = async {
            let mut s = connect(&self.endpoint).await?;
            s.write_all(format!("{cmd}\n").as_bytes())
                .await
                .map_err(|source| Error::Io {
                    endpoint: endpoint.clone(),
                    source,
                })?;
            Ok(BufReader::new(s))
        };
        let reader = tokio::time::timeout(self.timeout, work).await.unwrap_or_else(|_| {
            Err(Error::Timeout {
                endpoint: endpoint.clone(),
                after: self.timeout,
            })
        })?;
        Ok(RingLines {
            reader,
            endpoint,
            ring: ring.to_string(),
            line: String::new(),
            first: true,
        })
    }

    /// Sends one line and reads the reply, bounded in time and in size;
    /// `half_close` shuts the writing half once the line is sent.
    async fn request(&self, line: &str, half_close: bool) -> Result<String, Error> {
        let max_bytes = self.max_reply;
        let name = || self.endpoint.to_string();
        let work = async {
            let mut s = connect(&self.endpoint).await?;
            let mut line = line.trim_end_matches('\n').to_string();
            line.push('\n');
            s.write_all(line.as_bytes()).await.map_err(|source| Error::Io {
                endpoint: name(),
                source,
            })?;
            if half_close {
                s.shutdown().await.map_err(|source| Error::Io {
                    endpoint: name(),
                    source,
                })?;
            }
            // `max` then `min`, not `clamp`: a cap below 16 KiB must not panic.
            let mut buf: Vec<u8> = Vec::with_capacity(self.size_hint.max(16 * 1024).min(max_bytes) + 16 * 1024);
            loop {
                if buf.capacity() - buf.len() < 16 * 1024 {
                    buf.reserve(buf.len().max(64 * 1024));
                }
                let n = s.read_buf(&mut buf).await.map_err(|source| Error::Io {
                    endpoint: name(),
                    source,
                })?;
                if n == 0 {
                    break;
                }
                if buf.len() > max_bytes {
                    return Err(Error::TooLarge {
                        endpoint: name(),
                        max: max_bytes,
                    });
                }
            }
            let text = String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            if text.starts_with("Permission denied") {
                return Err(Error::Level { endpoint: name() });
            }
            Ok(text)
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                endpoint: name(),
                after: self.timeout,
            }),
        }
    }
}

/// The lines of a followed ring ([`Client::follow_ring`]).
pub struct RingLines {
    reader: BufReader<Stream>,
    endpoint: String,
    ring: String,
    line: String,
    first: bool,
}

impl RingLines {
    /// The next line (with its new line), or `None` when HAProxy closed the
    /// connection. The first line must be a log line (`<PRI>...`) or empty:
    /// `Permission denied` is [`Error::Level`], any other text [`Error::Ring`].
    pub async fn next_line(&mut self) -> Result<Option<&str>, Error> {
        self.line.clear();
        let n = self
            .reader
            .read_line(&mut self.line)
            .await
            .map_err(|source| Error::Io {
                endpoint: self.endpoint.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(None);
        }
        if std::mem::take(&mut self.first) && !self.line.starts_with('<') && !self.line.trim().is_empty() {
            let reply = self.line.trim();
            return Err(if reply.starts_with("Permission denied") {
                Error::Level {
                    endpoint: self.endpoint.clone(),
                }
            } else {
                Error::Ring {
                    endpoint: self.endpoint.clone(),
                    ring: self.ring.clone(),
                    reply: reply::head(reply),
                }
            });
        }
        Ok(Some(&self.line))
    }
}

/// A connected stream of either kind.
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl Stream {
    async fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.write_all(b).await,
            Stream::Tcp(s) => s.write_all(b).await,
        }
    }

    /// Closes the writing half (the peer reads end of file).
    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.shutdown().await,
            Stream::Tcp(s) => s.shutdown().await,
        }
    }
}

async fn connect(ep: &Endpoint) -> Result<Stream, Error> {
    let res = match ep {
        Endpoint::Unix(p) => UnixStream::connect(p).await.map(Stream::Unix),
        Endpoint::Tcp(a) => TcpStream::connect(a.as_str()).await.map(|s| {
            let _ = s.set_nodelay(true);
            Stream::Tcp(s)
        }),
    };
    res.map_err(|e| connect_error(ep, e))
}

/// What a failed connect(2) means for the operator.
fn connect_error(ep: &Endpoint, e: io::Error) -> Error {
    let endpoint = ep.to_string();
    match e.kind() {
        io::ErrorKind::NotFound => Error::NotFound { endpoint },
        io::ErrorKind::PermissionDenied => Error::PermissionDenied { endpoint },
        // connect(2) on a path that is not a socket is refused too: say which it is.
        io::ErrorKind::ConnectionRefused => match ep {
            Endpoint::Unix(p) => match not_a_socket(p) {
                Some(what) => Error::NotSocket { endpoint, what },
                None => Error::Refused { endpoint },
            },
            Endpoint::Tcp(_) => Error::Refused { endpoint },
        },
        _ => Error::Connect { endpoint, source: e },
    }
}

/// What a path is when it is not a socket (`None`: a socket, or unknown).
/// One stat(2) of a local path, on the error path only.
fn not_a_socket(p: &std::path::Path) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = std::fs::metadata(p).ok()?.file_type();
    if t.is_socket() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_file() {
        Some("a regular file")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else {
        Some("not a socket file")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_socket_says_what_to_do() {
        let ep = Endpoint::parse("/nonexistent/runtime-api-test.sock").unwrap();
        let e = Client::new(ep)
            .timeout(Duration::from_secs(1))
            .max_reply(1024)
            .show_info()
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }));
        assert!(e.to_string().contains("stats socket"));
        assert!(e.is_connect());
        assert_eq!(e.endpoint(), Some("/nonexistent/runtime-api-test.sock"));
    }

    /// What connect(2) said decides the variant: a permission error, a
    /// refusal and other failures stay apart (a root test process cannot
    /// meet EACCES on a real socket, so the mapping is tested directly).
    #[test]
    fn connect_errors_are_typed() {
        let ep = Endpoint::parse("/nonexistent/dir/admin.sock").unwrap();
        let e = connect_error(&ep, io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(matches!(&e, Error::PermissionDenied { endpoint } if endpoint == "/nonexistent/dir/admin.sock"));
        assert!(
            e.to_string()
                .starts_with("permission denied on stats socket /nonexistent/dir/admin.sock"),
            "{e}"
        );
        assert!(matches!(
            connect_error(&ep, io::Error::from(io::ErrorKind::ConnectionRefused)),
            Error::Refused { .. }
        ));
        let tcp = Endpoint::parse("tcp://127.0.0.1:1").unwrap();
        assert!(matches!(
            connect_error(&tcp, io::Error::from(io::ErrorKind::ConnectionRefused)),
            Error::Refused { .. }
        ));
        let other = connect_error(&tcp, io::Error::from(io::ErrorKind::AddrNotAvailable));
        assert!(matches!(other, Error::Connect { .. }) && other.is_connect());
        assert!(std::error::Error::source(&other).is_some());
    }
}
