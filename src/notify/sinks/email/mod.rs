//! The email sink: SMTP through lettre (STARTTLS, implicit TLS or plaintext;
//! AUTH PLAIN/LOGIN), several recipients, subject and body from the sink's
//! template (plain text, UTF-8; lettre encodes the subject per RFC 2047).
//!
//! SMTP reply classes decide retries: 4xx and connection failures are
//! retried, 5xx (auth failed, recipient refused) are config problems.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::sink::{Email as Config, SmtpTls};
use crate::logic::template::Renderer;
use crate::notify::{render_fitting, Common, Delivery, DeliveryError, Limits, Service};

pub(crate) struct Email {
    transport: Result<AsyncSmtpTransport<Tokio1Executor>, String>,
    from: String,
    to: Vec<String>,
    renderer: Renderer,
}

/// One mail to every recipient; no rate limit of its own.
pub(crate) const LIMITS: Limits = Limits {
    max_notices: 500,
    rates: &[],
};

fn transport(c: &Config, timeout: Duration) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let params = || -> Result<TlsParameters, String> {
        let mut b = TlsParameters::builder(c.host.clone());
        if let Some(ca) = &c.ca_file {
            let pem = std::fs::read(ca).map_err(|e| format!("cannot read ca_file {}: {e}", ca.display()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
            b = b.add_root_certificate(cert);
        }
        b.build().map_err(|e| format!("TLS setup: {e}"))
    };
    let tls = match c.tls {
        SmtpTls::None => Tls::None,
        // Required: if the server cannot upgrade, no credentials are sent.
        SmtpTls::StartTls => Tls::Required(params()?),
        SmtpTls::Tls => Tls::Wrapper(params()?),
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(c.host.as_str())
        .port(c.port)
        .tls(tls)
        .timeout(Some(timeout));
    if let (Some(u), Some(p)) = (&c.username, &c.password) {
        b = b
            .credentials(Credentials::new(u.clone(), p.expose().to_string()))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    Ok(b.build())
}

impl Email {
    pub(crate) fn message(&self, d: &Delivery) -> Result<Message, DeliveryError> {
        let r = render_fitting(&self.renderer, d, |_| true)?;
        let bad = |e: String| DeliveryError::config(format!("email: {e}"));
        let mut b = Message::builder()
            .from(self.from.parse::<Mailbox>().map_err(|e| bad(e.to_string()))?)
            .subject(r.title)
            .header(ContentType::TEXT_PLAIN)
            .message_id(Some(format!("<{}@hawatch>", d.id)));
        for t in &self.to {
            b = b.to(t.parse::<Mailbox>().map_err(|e| bad(e.to_string()))?);
        }
        b.body(format!("{}\n\n-- \nhawatch · {}\n", r.body, self.renderer.host()))
            .map_err(|e| bad(e.to_string()))
    }
}

impl Service for Email {
    type Config = Config;

    fn new(c: &Config, common: Common) -> Email {
        Email {
            transport: transport(c, common.timeout),
            from: c.from.clone(),
            to: c.to.clone(),
            renderer: common.renderer,
        }
    }

    fn limits(&self) -> Limits {
        LIMITS
    }

    async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let t = self
            .transport
            .as_ref()
            .map_err(|e| DeliveryError::config(format!("email: {e}")))?;
        let msg = self.message(d)?;
        match t.send(msg).await {
            Ok(_) => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }
}

fn classify(e: lettre::transport::smtp::Error) -> DeliveryError {
    let text = crate::error::error_chain(&e);
    let err = if e.is_permanent() {
        let hint = match e.status().map(|c| c.to_string()) {
            Some(c) if c.starts_with("535") || c.starts_with("534") || c.starts_with("530") => {
                " (authentication failed: check `username` and `password`; Chinese providers want an app authorization code, 授权码)"
            }
            _ => "",
        };
        DeliveryError::config(format!("SMTP server refused the message: {text}{hint}"))
    } else if e.is_transient() {
        DeliveryError::service(format!("SMTP server deferred the message: {text}"))
    } else if e.is_timeout() {
        DeliveryError::unreachable(format!("SMTP: timed out: {text}"))
    } else if e.is_tls() {
        DeliveryError::config(format!(
            "SMTP: TLS failed: {text} (check `tls`, the port, and `ca_file` for a private CA)"
        ))
        .after(Some(Duration::from_secs(300)))
    } else {
        DeliveryError::unreachable(format!("SMTP: unreachable or connection failed: {text}"))
    };
    err.because(e)
}
