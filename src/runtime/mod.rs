//! The runtime every command shares: the [`recorder`] (the one way an
//! event is stored and handed to the sinks), the [`supervisor`] of the
//! daemons, the store's lock (one watcher per store) and the hand-over of a
//! one-shot command's notifications to the watcher or a background
//! `hawatch deliver`.

pub(crate) mod pair;
pub(crate) mod recorder;
pub(crate) mod supervisor;

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::notify::outbox::Worker;
use crate::notify::{self, Sink};
use crate::store::{self, Store};
use recorder::Recorder;

/// The store plus the lock that makes this watcher its only writer.
pub(crate) struct OpenStore {
    pub(crate) store: Store,
    _lock: File,
}

/// Opens the store and takes its lock file; a second watcher on the same
/// store would deliver every notification twice.
pub(crate) fn open_store(path: &Path) -> anyhow::Result<OpenStore> {
    let store = Store::open(path)?;
    let lock_path = store::lock_path(path);
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open lock file {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        anyhow::bail!("another `hawatch watch` is using the store {} (lock {} is held): stop it, or give this one another `watch.store`", path.display(), lock_path.display());
    }
    // Our pid, for `hawatch vrrp-notify` to wake our outbox workers (SIGUSR1).
    {
        use std::io::Write;
        let _ = lock.set_len(0);
        let _ = (&lock).write_all(format!("{}\n", std::process::id()).as_bytes());
    }
    Ok(OpenStore { store, _lock: lock })
}

/// The pid of the watcher holding `store`'s lock, if one does.
pub(crate) fn watcher_pid(store: &Path) -> Option<i32> {
    let lock_path = store::lock_path(store);
    let f = File::options().read(true).write(true).open(&lock_path).ok()?;
    if f.try_lock().is_ok() {
        return None; // nobody holds it (our lock is released when `f` drops)
    }
    std::fs::read_to_string(&lock_path).ok()?.trim().parse().ok()
}

/// After a command other than the watcher wrote to the outbox: wake the
/// running watcher (SIGUSR1) or, without one, start `hawatch deliver` in the
/// background. Never waits for a delivery.
pub(crate) fn hand_over(config: Option<&Path>, store: &Path) {
    match watcher_pid(store) {
        Some(pid) => {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGUSR1);
        }
        None => spawn_self("deliver", config, &[]),
    }
}

/// Starts `hawatch SUBCOMMAND [--config F] ARGS` detached (own process
/// group, no stdio), not waited for.
pub(crate) fn spawn_self(sub: &str, config: Option<&Path>, args: &[String]) {
    use std::os::unix::process::CommandExt;
    let Ok(exe) = std::env::current_exe() else { return };
    let mut cmd = std::process::Command::new(exe);
    cmd.arg(sub);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    match cmd.spawn() {
        // Reaped when it ends, so a long-running caller (`hawatch top`,
        // which may start one per change) leaves no zombie behind.
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => tracing::warn!(
            "cannot start `hawatch {sub}` in the background ({e}); a running watcher delivers what is recorded"
        ),
    }
}

/// The outbox workers of `config`'s sinks, and the recorder that wakes them.
pub(crate) fn workers(config: &Config, store: &Store) -> (Vec<Worker>, Recorder) {
    let http = notify::http_client();
    let mut workers = Vec::new();
    let mut wake = Vec::new();
    for s in &config.sinks {
        let bell = Arc::new(Notify::new());
        wake.push(bell.clone());
        workers.push(Worker::new(
            &s.name,
            Sink::new(s, &config.notify, http.clone()),
            s,
            store.clone(),
            bell,
        ));
    }
    let gate = config
        .keepalived
        .as_ref()
        .filter(|k| k.vip_holder_alerts_only)
        .map(|k| match k.peer {
            // With a peer to watch: roles, takeovers (logic::pair).
            Some(_) => recorder::Gate::Pair(Arc::new(pair::PairGate::new(
                crate::logic::pair::Times {
                    takeover_after: k.takeover_after.as_millis() as u64,
                    takeover_after_stuck: k.takeover_after_stuck.as_millis() as u64,
                    handback_after: k.handback_after.as_millis() as u64,
                },
                config.instances.iter().map(|i| i.name.clone()).collect(),
                &config.sinks.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
            ))),
            None => recorder::Gate::Vip(k.vips.clone()),
        });
    let plans = config.sinks.iter().map(|s| s.plan.clone()).collect();
    (workers, Recorder::daemon(store.clone(), plans, gate, wake))
}

/// Delivers what the outbox holds, then exits (started in the background by
/// `hawatch vrrp-notify` when no watcher runs). Quiet if a watcher holds the store.
pub(crate) async fn deliver(config: Config) -> anyhow::Result<bool> {
    let Ok(opened) = open_store(&config.watch.store) else {
        return Ok(true); // a watcher runs: it delivers
    };
    let (workers, _) = workers(&config, &opened.store);
    let mut drains = JoinSet::new();
    for w in workers {
        drains.spawn(async move { w.drain().await });
    }
    let mut ok = true;
    while let Some(r) = drains.join_next().await {
        ok &= r.unwrap_or(false);
    }
    Ok(ok)
}
