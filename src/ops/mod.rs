//! Operator commands: `doctor`, `ctl`, `apply`.

pub(crate) mod apply;
pub(crate) mod ctl;
pub(crate) mod doctor;

use std::path::Path;
use std::time::Duration;

use haproxy::Endpoint;

use crate::config::{Config, Source};

/// The `[[haproxy]]` instances reachable through the Runtime API: (name,
/// socket, timeout of at least 2 s, as operator commands wait on HAProxy).
pub(crate) fn socket_instances(config: &Config) -> Vec<(String, Endpoint, Duration)> {
    config
        .instances
        .iter()
        .filter_map(|i| match &i.source {
            Source::Socket(ep) => Some((i.name.clone(), ep.clone(), i.timeout.max(Duration::from_secs(2)))),
            Source::Http { .. } => None,
        })
        .collect()
}

/// `haproxy -c -f CFG`: `Err` carries HAProxy's output, or why it could not run.
pub(crate) fn haproxy_check(bin: &Path, cfg: &Path) -> Result<(), String> {
    let out = std::process::Command::new(bin)
        .arg("-c")
        .arg("-f")
        .arg(cfg)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Err(text.trim().to_string())
    }
}
