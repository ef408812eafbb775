//! Runtime API ("stats socket") client over a unix socket or `tcp://host:port`.
//!
//! HAProxy's non-interactive mode: send one line (commands joined by `;`), read
//! until HAProxy closes. Every call is bounded in time and in size, and every
//! error says what to fix.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// Where the Runtime API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

impl Endpoint {
    /// `/run/haproxy/admin.sock`, `unix:/path`, or `tcp://127.0.0.1:9999`.
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        if let Some(addr) = s.strip_prefix("tcp://") {
            if addr
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
            {
                return Err(format!("`{s}`: expected tcp://HOST:PORT"));
            }
            return Ok(Endpoint::Tcp(addr.to_string()));
        }
        let path = s.strip_prefix("unix:").unwrap_or(s);
        if path.is_empty() {
            return Err("empty socket path".into());
        }
        if path.contains("://") {
            return Err(format!("`{s}`: use a socket path or tcp://HOST:PORT"));
        }
        Ok(Endpoint::Unix(PathBuf::from(path)))
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// A Runtime API failure, with what to do about it.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error(
        "stats socket {0} does not exist: is HAProxy running, and does its config have `stats socket {0} level admin`?"
    )]
    NoSocket(String),
    #[error("permission denied on stats socket {0}: run hawatch as a user that can write it (e.g. add it to the haproxy group and set `mode 660` on the `stats socket` line)")]
    SocketPermission(String),
    #[error("connection refused by {0}: no process listens there (HAProxy stopped, or the socket is stale, left by an HAProxy that is gone)")]
    Refused(String),
    /// The path exists but is a regular file, a directory, ...
    #[error("{0} is {1}, not a socket: check the path (HAProxy's `stats socket`, or `-S` for the master CLI)")]
    NotSocket(String, &'static str),
    #[error("cannot connect to {0}: {1}")]
    Connect(String, io::Error),
    #[error("{0} did not answer within {1:?}")]
    Timeout(String, Duration),
    #[error("reply from {0} exceeds {1} bytes")]
    TooLarge(String, usize),
    #[error("HAProxy refused the command on {0}: `Permission denied`; the socket's level is too low (set `level operator` or `level admin` on the `stats socket` line)")]
    Level(String),
    #[error("reading from {0}: {1}")]
    Io(String, io::Error),
}

/// A connected stream of either kind.
pub enum Stream {
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
}

async fn connect(ep: &Endpoint) -> Result<Stream, ClientError> {
    let name = ep.to_string();
    let res = match ep {
        Endpoint::Unix(p) => UnixStream::connect(p).await.map(Stream::Unix),
        Endpoint::Tcp(a) => TcpStream::connect(a.as_str()).await.map(|s| {
            let _ = s.set_nodelay(true);
            Stream::Tcp(s)
        }),
    };
    match res {
        Ok(s) => Ok(s),
        Err(e) => Err(match e.kind() {
            io::ErrorKind::NotFound => ClientError::NoSocket(name),
            io::ErrorKind::PermissionDenied => ClientError::SocketPermission(name),
            // connect(2) on a path that is not a socket is refused too: say which it is.
            io::ErrorKind::ConnectionRefused => match ep {
                Endpoint::Unix(p) => match not_a_socket(p) {
                    Some(what) => ClientError::NotSocket(name, what),
                    None => ClientError::Refused(name),
                },
                Endpoint::Tcp(_) => ClientError::Refused(name),
            },
            _ => ClientError::Connect(name, e),
        }),
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

/// Sends `cmd` (one line, `;`-separated commands allowed) and returns the whole
/// reply. Fails if it takes longer than `timeout` or grows past `max_bytes`.
/// `size_hint` (e.g. the previous reply's size) sizes the buffer up front.
pub async fn command(
    ep: &Endpoint,
    cmd: &str,
    timeout: Duration,
    max_bytes: usize,
    size_hint: usize,
) -> Result<String, ClientError> {
    let name = ep.to_string();
    let work = async {
        let mut s = connect(ep).await?;
        let mut line = cmd.trim_end_matches('\n').to_string();
        line.push('\n');
        s.write_all(line.as_bytes())
            .await
            .map_err(|e| ClientError::Io(name.clone(), e))?;
        // `max` then `min`, not `clamp`: a cap below 16 KiB must not panic.
        let mut buf: Vec<u8> = Vec::with_capacity(size_hint.max(16 * 1024).min(max_bytes) + 16 * 1024);
        loop {
            if buf.capacity() - buf.len() < 16 * 1024 {
                buf.reserve(buf.len().max(64 * 1024));
            }
            let n = s
                .read_buf(&mut buf)
                .await
                .map_err(|e| ClientError::Io(name.clone(), e))?;
            if n == 0 {
                break;
            }
            if buf.len() > max_bytes {
                return Err(ClientError::TooLarge(name.clone(), max_bytes));
            }
        }
        let text = String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        if text.starts_with("Permission denied") {
            return Err(ClientError::Level(name.clone()));
        }
        Ok(text)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(ClientError::Timeout(name, timeout)),
    }
}

/// Opens a long-lived command (`show events RING -w -n`) and returns a line
/// reader on it. The caller reads until EOF and reconnects.
pub async fn subscribe(ep: &Endpoint, cmd: &str, timeout: Duration) -> Result<BufReader<Stream>, ClientError> {
    let name = ep.to_string();
    let work = async {
        let mut s = connect(ep).await?;
        s.write_all(format!("{}\n", cmd.trim_end()).as_bytes())
            .await
            .map_err(|e| ClientError::Io(name.clone(), e))?;
        Ok(BufReader::new(s))
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(ClientError::Timeout(name.clone(), timeout)))
}

/// Splits a `cmd1;cmd2` reply into its parts: each command's output ends with
/// one empty line, and HAProxy never prints an empty line inside an output.
pub fn split_replies(reply: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = reply;
    while let Some(i) = rest.find("\n\n") {
        out.push(&rest[..=i]);
        rest = &rest[i + 2..];
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            Endpoint::parse("/run/x.sock").unwrap(),
            Endpoint::Unix("/run/x.sock".into())
        );
        assert_eq!(Endpoint::parse("unix:/a").unwrap(), Endpoint::Unix("/a".into()));
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:9999").unwrap(),
            Endpoint::Tcp("127.0.0.1:9999".into())
        );
        assert!(Endpoint::parse("tcp://127.0.0.1").is_err());
        assert!(Endpoint::parse("http://x").is_err());
        assert!(Endpoint::parse("").is_err());
    }

    #[test]
    fn splits_pipelined_replies() {
        assert_eq!(
            split_replies("admin\n\n1 (initial 1)\n\n\n"),
            vec!["admin\n", "1 (initial 1)\n", "\n"]
        );
        assert_eq!(split_replies("a\nb\n\nc\n"), vec!["a\nb\n", "c\n"]);
    }

    #[tokio::test]
    async fn missing_socket_says_what_to_do() {
        let ep = Endpoint::parse("/nonexistent/hawatch-test.sock").unwrap();
        let e = command(&ep, "show info", Duration::from_secs(1), 1024, 0)
            .await
            .unwrap_err();
        assert!(matches!(e, ClientError::NoSocket(_)));
        assert!(e.to_string().contains("stats socket"));
    }
}
