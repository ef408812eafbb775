//! The watcher's reader of keepalived's `notify_fifo`: keepalived writes one
//! line per change, in order, to this pipe. Created (mode 0600) if missing;
//! opened read-write, so keepalived restarting does not end the stream.
//!
//! A FAULT is told only if no other state follows within `fault_grace`:
//! keepalived shows FAULT for a moment when it starts, and that start is one
//! message (its first BACKUP), not a flap.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

use super::vrrp::{self, Transition};
use crate::config::Keepalived;
use crate::runtime::recorder::Recorder;

fn open(path: &std::path::Path) -> std::io::Result<tokio::net::unix::pipe::Receiver> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} exists and is not a FIFO: remove it, or set [keepalived] notify_fifo to another path",
                path.display()
            )))
        }
        Err(_) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .map_err(|e| std::io::Error::other(format!("mkfifo {}: {e}", path.display())))?;
        }
    }
    tokio::net::unix::pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(path)
}

/// `host`: the name events carry (`[notify] host`).
pub(crate) async fn follow(
    path: PathBuf,
    k: Keepalived,
    host: String,
    recorder: Recorder,
    shutdown: CancellationToken,
) {
    let rx = match open(&path) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(fifo = %path.display(), "keepalived notify_fifo: {e}");
            return;
        }
    };
    tracing::info!(fifo = %path.display(), "reading keepalived's notify_fifo");
    let mut lines = tokio::io::BufReader::new(rx).lines();
    let mut held: HashMap<String, (Transition, Instant)> = HashMap::new();
    let tick = k
        .fault_grace
        .min(std::time::Duration::from_secs(1))
        .max(std::time::Duration::from_millis(50));
    loop {
        // `None`: time to look at the held FAULTs.
        let line = tokio::select! {
            _ = shutdown.cancelled() => return,
            l = lines.next_line() => Some(l),
            _ = tokio::time::sleep(tick), if !held.is_empty() => None,
        };
        let now = Instant::now();
        let mut due: Vec<Transition> = Vec::new();
        match line {
            None => {}
            Some(Ok(Some(l))) => match Transition::parse_line(&l) {
                Some(t) => {
                    // A newer state of the same instance makes a held FAULT moot.
                    held.remove(&t.name);
                    if t.state == "FAULT" && !k.fault_grace.is_zero() {
                        held.insert(t.name.clone(), (t, now));
                    } else {
                        due.push(t);
                    }
                }
                None => tracing::debug!(line = %crate::text::visible(&l), "notify_fifo line ignored"),
            },
            Some(Ok(None)) => {
                tracing::warn!("notify_fifo closed");
                return;
            }
            Some(Err(e)) => {
                tracing::warn!("notify_fifo: {e}");
                return;
            }
        }
        let expired: Vec<String> = held
            .iter()
            .filter(|(_, (_, at))| now.duration_since(*at) >= k.fault_grace)
            .map(|(n, _)| n.clone())
            .collect();
        for n in expired {
            if let Some((t, _)) = held.remove(&n) {
                due.push(t);
            }
        }
        for t in due {
            let info = vrrp::info(&k, &host, &t, "notify_fifo");
            vrrp::record_in_watcher(&recorder, t, info).await;
        }
    }
}
