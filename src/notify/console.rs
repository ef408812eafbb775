//! The console sink: one line per event on stdout, the default when no sink
//! is configured.

use std::io::Write;

use chrono::Local;

use super::{icon, Delivery, DeliveryError};

pub struct Console {
    color: bool,
}

impl Console {
    pub fn new() -> Console {
        use std::io::IsTerminal;
        Console {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    pub fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let mut out = String::new();
        for e in &d.events {
            out.push_str(&line(e, self.color));
            out.push('\n');
        }
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(out.as_bytes())
            .and_then(|_| stdout.flush())
            .map_err(|e| DeliveryError::retryable(format!("stdout: {e}")))
    }
}

impl Default for Console {
    fn default() -> Self {
        Console::new()
    }
}

/// `2026-11-20 22:11:15 [lb1] ❌ server_down  server be_app/app2 UP → DOWN (L4CON Connection refused)`
pub fn line(e: &crate::event::Event, color: bool) -> String {
    let time = e.time.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S");
    let kind = format!("{:<20}", e.kind.as_str());
    let kind = if color {
        let code = match e.severity {
            crate::event::Severity::Critical => "31",
            crate::event::Severity::Warning => "33",
            crate::event::Severity::Info => "32",
        };
        format!("\x1b[{code}m{kind}\x1b[0m")
    } else {
        kind
    };
    format!("{time} [{}] {} {kind} {}", e.instance, icon(e.kind), e.message)
}
