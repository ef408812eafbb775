//! The exec sink: runs a program with an argv (never a shell), the webhook
//! JSON body on stdin plus a few environment variables, within the sink's
//! `timeout`. Exit status 0 is a delivery; anything else is retried.
//!
//! Environment: `HAWATCH_SINK`, `HAWATCH_DELIVERY_ID`, `HAWATCH_EVENT_COUNT`,
//! `HAWATCH_SEVERITY` (worst), `HAWATCH_RESOLVED` (`1` when every notice is a
//! recovery), `HAWATCH_TITLE` and `HAWATCH_TEST` (`1` for `notify test`),
//! plus `PATH`, `LANG`, `LC_ALL`, `TZ` and `HOME`; nothing else of hawatch's
//! environment (it may hold secrets). A retry may merge more messages, so
//! de-duplicate on the event ids in the JSON, not on the delivery id.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::webhook;
use crate::config::sink::Exec as Config;
use crate::logic::template::Renderer;
use crate::model::event::Severity;
use crate::notify::{Common, Delivery, DeliveryError, Limits, Service};

pub(crate) struct Exec {
    pub(crate) command: Vec<String>,
    pub(crate) renderer: Renderer,
    pub(crate) timeout: Duration,
}

/// What the program gets is the webhook's body: the same 500 notices.
pub(crate) const LIMITS: Limits = Limits {
    max_notices: 500,
    rates: &[],
};

impl Service for Exec {
    type Config = Config;

    fn new(c: &Config, common: Common) -> Exec {
        Exec {
            command: c.command.clone(),
            renderer: common.renderer,
            timeout: common.timeout,
        }
    }

    fn limits(&self) -> Limits {
        LIMITS
    }

    async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let body = webhook::body(d);
        let title = self
            .renderer
            .render(&d.notices, &d.sink, d.test)
            .map(|r| r.title)
            .unwrap_or_default();
        let worst = d.notices.iter().map(|n| n.severity).max().unwrap_or(Severity::Info);
        let resolved = !d.notices.is_empty() && d.notices.iter().all(|n| n.resolves);
        let prog = &self.command[0];
        let mut cmd = Command::new(prog);
        // Only what the program needs: hawatch's own environment may hold
        // secrets (EnvironmentFile, FEISHU_SECRET, ...).
        cmd.env_clear();
        for k in ["PATH", "LANG", "LC_ALL", "TZ", "HOME"] {
            if let Some(v) = std::env::var_os(k) {
                cmd.env(k, v);
            }
        }
        let mut child = cmd
            .args(&self.command[1..])
            .env("HAWATCH_SINK", &d.sink)
            .env("HAWATCH_DELIVERY_ID", &d.id)
            .env("HAWATCH_EVENT_COUNT", d.events().len().to_string())
            .env("HAWATCH_SEVERITY", worst.as_str())
            .env("HAWATCH_RESOLVED", if resolved { "1" } else { "0" })
            .env("HAWATCH_TITLE", title)
            .env("HAWATCH_TEST", if d.test { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                let msg = format!("cannot run {prog}: {e}");
                match e.kind() {
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                        DeliveryError::config(format!("{msg} (check the sink's `command`)")).because(e)
                    }
                    _ => DeliveryError::unreachable(msg).because(e),
                }
            })?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let run = async {
            // A program that does not read stdin is fine: ignore EPIPE.
            let _ = stdin.write_all(&body).await;
            drop(stdin);
            child.wait_with_output().await
        };
        match tokio::time::timeout(self.timeout, run).await {
            Err(_) => Err(DeliveryError::unreachable(format!(
                "{prog} did not finish within {:?}; killed",
                self.timeout
            ))),
            Ok(Err(e)) => Err(DeliveryError::unreachable(format!("{prog}: {e}")).because(e)),
            Ok(Ok(out)) if out.status.success() => Ok(()),
            Ok(Ok(out)) => {
                let err = String::from_utf8_lossy(&out.stderr);
                let tail: String = err
                    .trim()
                    .chars()
                    .rev()
                    .take(300)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                Err(DeliveryError::service(format!(
                    "{prog} failed ({}): {tail}",
                    out.status
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests;
