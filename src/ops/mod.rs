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

/// Runs `cmd` to its end, at most `limit`: a `haproxy -c` can wait on DNS
/// or a Lua script, and doctor must end. It runs in a process group of its
/// own, killed whole at the limit; its output is read by two threads, and a
/// grandchild that keeps a pipe open does not hold the caller past the limit.
pub(crate) fn output_within(mut cmd: std::process::Command, limit: Duration) -> std::io::Result<std::process::Output> {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let deadline = std::time::Instant::now() + limit;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let group = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
    let kill_all = |child: &mut std::process::Child| {
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = child.kill();
        let _ = child.wait();
    };
    fn drain(r: Option<impl Read + Send + 'static>) -> std::sync::mpsc::Receiver<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                // At most 1 MiB of what it says is kept; the rest is read and dropped.
                let _ = r.by_ref().take(1 << 20).read_to_end(&mut buf);
                let _ = std::io::copy(&mut r, &mut std::io::sink());
            }
            let _ = tx.send(buf);
        });
        rx
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let timed_out = || {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {} s", limit.as_secs()),
        )
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                kill_all(&mut child);
                return Err(timed_out());
            }
            Err(e) => {
                kill_all(&mut child);
                return Err(e);
            }
        }
    };
    let left = || deadline.saturating_duration_since(std::time::Instant::now());
    let (Ok(stdout), Ok(stderr)) = (out.recv_timeout(left()), err.recv_timeout(left())) else {
        // Exited, but something it started still holds its output open.
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        return Err(timed_out());
    };
    Ok(std::process::Output { status, stdout, stderr })
}

/// `haproxy -c -f A -f B ...` (a configuration in several files), at most 60 s.
pub(crate) fn haproxy_check_all(bin: &Path, files: &[std::path::PathBuf]) -> Result<(), String> {
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("-c");
    for f in files {
        cmd.arg("-f").arg(f);
    }
    let out = output_within(cmd, Duration::from_secs(60)).map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
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
