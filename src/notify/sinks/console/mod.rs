//! The console sink: one line per notice on stdout, the default when no sink
//! is configured.

use std::io::Write;

use chrono::Local;

use crate::config::sink::Console as Config;
use crate::logic::template::{human_duration, Lang};
use crate::model::notice::NoticeKind;
use crate::notify::{Common, Delivery, DeliveryError, Limits, Service};

/// A terminal takes anything: no rate limit, 1000 notices a message.
pub(crate) const LIMITS: Limits = Limits {
    max_notices: 1000,
    rates: &[],
};

pub(crate) struct Console {
    color: bool,
}

impl Console {
    pub(crate) fn new() -> Console {
        use std::io::IsTerminal;
        Console {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// One line per notice, written at once.
    pub(crate) fn write(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let mut out = String::new();
        for n in &d.notices {
            out.push_str(&line(&n.event, self.color));
            let extra = match n.kind {
                NoticeKind::Event if n.resolves => n
                    .duration_ms
                    .map(|ms| format!("recovered after {}", human_duration(ms, Lang::En))),
                NoticeKind::Event => None,
                NoticeKind::Flapping => Some(format!(
                    "FLAPPING: {} changes; further changes summarised",
                    n.count.unwrap_or(0)
                )),
                NoticeKind::Settled => Some(format!("settled after {} changes", n.count.unwrap_or(0))),
                NoticeKind::Reminder => Some(format!(
                    "REMINDER {}: still not resolved after {}",
                    n.count.unwrap_or(0),
                    human_duration(n.duration_ms.unwrap_or(0), Lang::En)
                )),
                NoticeKind::Gone => Some("alert closed: subject gone".to_string()),
                NoticeKind::Test => Some("TEST message from hawatch".to_string()),
            };
            if let Some(x) = extra {
                out.push_str(" — ");
                out.push_str(&x);
            }
            out.push('\n');
        }
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(out.as_bytes())
            .and_then(|_| stdout.flush())
            .map_err(|e| DeliveryError::unreachable(format!("stdout: {e}")).because(e))
    }
}

impl Service for Console {
    type Config = Config;

    fn new(_c: &Config, _common: Common) -> Console {
        Console::new()
    }

    fn limits(&self) -> Limits {
        LIMITS
    }

    async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        self.write(d)
    }
}

impl Default for Console {
    fn default() -> Self {
        Console::new()
    }
}

/// `2026-11-20 22:11:15 [lb1] ❌ server_down  server be_app/app2 UP → DOWN (L4CON Connection refused)`
/// (`hawatch events` prints the same line).
pub(crate) fn line(e: &crate::model::event::Event, color: bool) -> String {
    let time = e.time.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S");
    let kind = format!("{:<20}", e.kind.as_str());
    let kind = if color {
        let code = match e.severity {
            crate::model::event::Severity::Critical => "31",
            crate::model::event::Severity::Warning => "33",
            crate::model::event::Severity::Info => "32",
        };
        format!("\x1b[{code}m{kind}\x1b[0m")
    } else {
        kind
    };
    // The instance and message carry HAProxy's, an agent's or Alertmanager's
    // text: its control and bidi characters are shown, not obeyed.
    format!(
        "{time} [{}] {} {kind} {}",
        crate::text::visible(&e.instance),
        e.kind.icon(),
        crate::text::visible(&e.message)
    )
}

#[cfg(test)]
mod tests;
