//! Why a send failed: in plain words, with its cause, whether trying again
//! can help, and a bounded class that labels the failure metric.

use std::sync::Arc;
use std::time::Duration;

/// Who has to act, in one of three words: the label `class` of
/// `hawatch_notifications_failed_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FailureClass {
    /// The service answered and deferred the message (a rate limit, busy,
    /// HTTP 429 or 5xx, an SMTP 4xx, a program's non-zero exit) or ran out
    /// of quota: waiting helps.
    Service,
    /// The service refused the message and only a config change fixes it:
    /// hawatch's (template, addresses, `command`, TLS settings) or the
    /// service's (token, signature secret, keyword, IP whitelist); the
    /// "config problem" of docs/sinks.md. Never lost: retried slowly.
    Config,
    /// The service was not reached or did not answer in time (connection,
    /// DNS, TLS handshake, timeout; a program that could not start or finish).
    Transport,
}

impl FailureClass {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FailureClass::Service => "service",
            FailureClass::Config => "config",
            FailureClass::Transport => "transport",
        }
    }
}

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone)]
pub struct DeliveryError {
    /// What happened, in plain words, the cause's text included: what the
    /// outbox stores and logs, and what `notify test` prints.
    pub(crate) message: String,
    pub(crate) class: FailureClass,
    /// False for errors only a config change fixes (bad token, bad signature).
    /// hawatch keeps those messages and retries slowly: nothing is dropped.
    pub retryable: bool,
    /// The service asked to wait this long (HTTP `Retry-After`, a rate-limit code).
    pub(crate) retry_after: Option<Duration>,
    /// The error of the HTTP client, SMTP client or process underneath.
    pub(crate) source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeliveryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl DeliveryError {
    fn new(message: impl Into<String>, class: FailureClass, retryable: bool) -> DeliveryError {
        DeliveryError {
            message: message.into(),
            class,
            retryable,
            retry_after: None,
            source: None,
        }
    }

    /// The service deferred the message (rate limit, busy, 5xx): retried.
    pub(crate) fn service(message: impl Into<String>) -> DeliveryError {
        DeliveryError::new(message, FailureClass::Service, true)
    }

    /// The service will not take messages for a long while (a quota): kept,
    /// retried slowly, though no config change is needed.
    pub(crate) fn refused(message: impl Into<String>) -> DeliveryError {
        DeliveryError::new(message, FailureClass::Service, false)
    }

    /// Only a config change fixes it: kept, retried slowly.
    pub(crate) fn config(message: impl Into<String>) -> DeliveryError {
        DeliveryError::new(message, FailureClass::Config, false)
    }

    /// Not reached, or no answer: retried.
    pub(crate) fn unreachable(message: impl Into<String>) -> DeliveryError {
        DeliveryError::new(message, FailureClass::Transport, true)
    }

    /// No answer within the sink's `timeout`.
    pub(crate) fn timed_out(timeout: Duration) -> DeliveryError {
        DeliveryError::unreachable(format!("no answer within {timeout:?}"))
    }

    /// A transport failure of the HTTP client; the URL (which may hold a
    /// token) is stripped from the message and from the kept cause.
    pub(crate) fn transport(e: reqwest::Error) -> DeliveryError {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "unreachable (connection failed)"
        } else {
            "request failed"
        };
        let e = e.without_url();
        DeliveryError::unreachable(format!("{what}: {}", crate::error::error_chain(&e))).because(e)
    }

    /// Keeps `cause` as the error's source.
    pub(crate) fn because(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> DeliveryError {
        self.source = Some(Arc::new(cause));
        self
    }

    /// The service asked to wait this long (kept when `wait` is `None`).
    pub(crate) fn after(mut self, wait: Option<Duration>) -> DeliveryError {
        self.retry_after = wait.or(self.retry_after);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_kept_and_the_text_says_it_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = DeliveryError::config(format!("cannot run /x: {io}")).because(io);
        assert_eq!(e.class, FailureClass::Config);
        assert!(!e.retryable);
        let src = std::error::Error::source(&e).unwrap();
        assert_eq!(src.to_string(), "no such file");
        assert_eq!(crate::error::error_chain(&e), "cannot run /x: no such file");
        let t = DeliveryError::timed_out(Duration::from_secs(3));
        assert!(t.retryable && t.class == FailureClass::Transport);
        assert_eq!(t.message, "no answer within 3s");
    }
}
