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
    haproxy_check_all(bin, &[cfg.to_path_buf()])
}

/// `haproxy -c -f A -f B ...` (a configuration in several files).
pub(crate) fn haproxy_check_all(bin: &Path, files: &[std::path::PathBuf]) -> Result<(), String> {
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("-c");
    for f in files {
        cmd.arg("-f").arg(f);
    }
    let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
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
