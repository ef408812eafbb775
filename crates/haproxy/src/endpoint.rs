//! Where the Runtime API listens: a unix socket or a TCP address.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use thiserror::Error;

/// Where the Runtime API listens (HAProxy's `stats socket` line, or the
/// master CLI given with `-S`).
///
/// Parsed from `/run/haproxy/admin.sock`, `unix:/run/haproxy/admin.sock` or
/// `tcp://127.0.0.1:9999`; shown as the path, or as `tcp://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A unix stream socket.
    Unix(PathBuf),
    /// `HOST:PORT` (no scheme).
    Tcp(String),
}

/// Why a string is not an [`Endpoint`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// `tcp://` without a host, or without a port that fits in 16 bits.
    #[error("`{0}`: expected tcp://HOST:PORT")]
    TcpAddress(String),
    /// An empty string, or `unix:` alone.
    #[error("empty socket path")]
    EmptyPath,
    /// Another scheme (`http://...`): neither a path nor `tcp://`.
    #[error("`{0}`: use a socket path or tcp://HOST:PORT")]
    Scheme(String),
}

impl Endpoint {
    /// `/run/haproxy/admin.sock`, `unix:/path`, or `tcp://127.0.0.1:9999`.
    /// The same as `s.parse::<Endpoint>()`.
    pub fn parse(s: &str) -> Result<Endpoint, EndpointError> {
        s.parse()
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Endpoint, EndpointError> {
        if let Some(addr) = s.strip_prefix("tcp://") {
            if addr
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
            {
                return Err(EndpointError::TcpAddress(s.to_string()));
            }
            return Ok(Endpoint::Tcp(addr.to_string()));
        }
        let path = s.strip_prefix("unix:").unwrap_or(s);
        if path.is_empty() {
            return Err(EndpointError::EmptyPath);
        }
        if path.contains("://") {
            return Err(EndpointError::Scheme(s.to_string()));
        }
        Ok(Endpoint::Unix(PathBuf::from(path)))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
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

    /// Each way a string is not an endpoint has its own error, and says
    /// what was expected.
    #[test]
    fn parse_errors_are_typed() {
        for bad in [
            "tcp://127.0.0.1",
            "tcp://:80",
            "tcp://h:port",
            "tcp://h:65536",
            "tcp://",
        ] {
            let e = bad.parse::<Endpoint>().unwrap_err();
            assert_eq!(e, EndpointError::TcpAddress(bad.into()));
            assert_eq!(e.to_string(), format!("`{bad}`: expected tcp://HOST:PORT"));
        }
        assert_eq!("".parse::<Endpoint>(), Err(EndpointError::EmptyPath));
        assert_eq!("unix:".parse::<Endpoint>(), Err(EndpointError::EmptyPath));
        assert_eq!(EndpointError::EmptyPath.to_string(), "empty socket path");
        for bad in ["http://x", "unix:http://x"] {
            let e = bad.parse::<Endpoint>().unwrap_err();
            assert_eq!(e, EndpointError::Scheme(bad.into()));
            assert!(e.to_string().contains("use a socket path or tcp://HOST:PORT"), "{e}");
        }
    }

    /// What is shown is what parses back to the same endpoint.
    #[test]
    fn display_round_trips() {
        for s in ["/run/haproxy/admin.sock", "tcp://127.0.0.1:9999", "tcp://[::1]:9999"] {
            let ep: Endpoint = s.parse().unwrap();
            assert_eq!(ep.to_string(), s);
            assert_eq!(ep.to_string().parse::<Endpoint>().unwrap(), ep);
        }
        assert_eq!("unix:/a".parse::<Endpoint>().unwrap().to_string(), "/a");
    }
}
