//! `hawatch watch`: owns the store, one poller task per instance and one
//! outbox worker per sink; reloads on SIGHUP, stops on SIGTERM/SIGINT, and
//! speaks sd_notify (READY, RELOADING, STOPPING, WATCHDOG) under systemd.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::notify::outbox::Worker;
use crate::notify::{self, Sink};
use crate::store::{self, Store};
use crate::watch::poller::{Heartbeat, Poller, Shared};

/// The running pieces for one configuration.
struct Running {
    tasks: JoinSet<()>,
    shutdown: CancellationToken,
    heartbeats: Vec<(String, Arc<Heartbeat>, Duration)>,
    /// The outbox workers' bells (SIGUSR1 rings them).
    wake: Vec<Arc<Notify>>,
}

/// The store plus the lock that makes this watcher its only writer.
pub struct OpenStore {
    pub store: Store,
    _lock: File,
}

/// Opens the store and takes its lock file; a second watcher on the same
/// store would deliver every notification twice.
pub fn open_store(path: &Path) -> anyhow::Result<OpenStore> {
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
pub fn watcher_pid(store: &Path) -> Option<i32> {
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
pub fn hand_over(config: Option<&Path>, store: &Path) {
    match watcher_pid(store) {
        Some(pid) => {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGUSR1);
        }
        None => spawn_self("deliver", config, &[]),
    }
}

/// Starts `hawatch SUBCOMMAND [--config F] ARGS` detached (own process
/// group, no stdio), not waited for.
pub fn spawn_self(sub: &str, config: Option<&Path>, args: &[String]) {
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
    if let Err(e) = cmd.spawn() {
        eprintln!("hawatch: cannot start `hawatch {sub}` in the background ({e}); a running watcher delivers what is recorded");
    }
}

pub(crate) fn workers(config: &Config, store: &Store) -> (Vec<Worker>, Arc<Shared>) {
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
    (
        workers,
        Arc::new(Shared {
            store: store.clone(),
            sinks: Arc::new(config.sinks.iter().map(|s| s.plan.clone()).collect()),
            wake,
            vip_gate: config
                .keepalived
                .as_ref()
                .filter(|k| k.vip_holder_alerts_only)
                .map(|k| k.vips.clone()),
        }),
    )
}

/// Lets time pass for the noise policy (held notices, flapping that settles,
/// reminders), once a second, and rings the sinks' bells when it wrote rows.
async fn ticker(shared: Arc<Shared>, shutdown: CancellationToken) {
    loop {
        let s = shared.clone();
        match tokio::task::spawn_blocking(move || s.store.tick(&s.sinks, chrono::Utc::now())).await {
            Ok(Ok((rows, _))) if rows > 0 => {
                for w in &shared.wake {
                    w.notify_one();
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!("notification policy tick: {e}"),
            Err(e) => tracing::error!("notification policy tick: {e}"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Re-sends the firing alerts of an Alertmanager sink before they expire.
async fn am_refresh(name: String, am: notify::alertmanager::Alertmanager, store: Store, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(am.resend_every) => {}
        }
        let s = store.clone();
        let n = name.clone();
        let Ok(Ok(subjects)) = tokio::task::spawn_blocking(move || s.alerting(&n)).await else {
            continue;
        };
        let alerts = am.refresh(&subjects, chrono::Utc::now());
        if let Err(e) = am.post(&alerts).await {
            tracing::warn!(sink = %name, alerts = alerts.len(), "re-sending firing alerts failed: {e}");
        }
    }
}

/// Starts everything for `config`. On the first start a listener that
/// cannot bind is an error; on a reload it is logged and the watcher goes on
/// without it (a reload must not stop the watching).
async fn start(config: &Config, store: &Store, first: bool) -> anyhow::Result<Running> {
    let listener = match crate::http::bind(config).await {
        Ok(l) => l,
        Err(e) if first => return Err(e),
        Err(e) => {
            tracing::error!("{e:#}; running without the HTTP listener until the next reload");
            None
        }
    };
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let (workers, shared) = workers(config, store);
    let mut heartbeats = Vec::new();
    for w in workers {
        tasks.spawn(w.run(shutdown.clone()));
    }
    for s in &config.sinks {
        if let Sink::Alertmanager(am) = Sink::new(s, &config.notify, notify::http_client()) {
            tasks.spawn(am_refresh(s.name.clone(), am, store.clone(), shutdown.clone()));
        }
    }
    close_unwatched(config, &shared).await;
    tasks.spawn(ticker(shared.clone(), shutdown.clone()));
    for inst in &config.instances {
        let p = Poller::new(inst.clone(), shared.clone()).await?;
        heartbeats.push((inst.name.clone(), p.heartbeat.clone(), inst.interval + inst.timeout));
        tracing::info!(instance = %inst.name, source = %inst.source.describe(), interval = ?inst.interval, ring = inst.ring.as_deref().unwrap_or("-"), "watching");
        tasks.spawn(p.run(shutdown.clone()));
    }
    warn_orphans(config, store).await;
    if let Some(k) = &config.keepalived {
        tasks.spawn(crate::keepalived::awareness::watch(
            k.clone(),
            config.notify.host.clone(),
            shared.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(crate::keepalived::peer::watch(
            k.clone(),
            config.notify.host.clone(),
            shared.clone(),
            shutdown.clone(),
        ));
        if let Some(fifo) = &k.notify_fifo {
            tasks.spawn(crate::keepalived::fifo::follow(
                fifo.clone(),
                k.clone(),
                config.notify.host.clone(),
                shared.clone(),
                shutdown.clone(),
            ));
        }
    }
    if let Some(l) = listener {
        let state = Arc::new(crate::http::AppState {
            config: config.clone(),
            shared: shared.clone(),
            heartbeats: heartbeats.clone(),
            scraper: crate::metrics::Scraper::new(
                &config.instances,
                config.metrics.exporter.clone(),
                &config.metrics.instance_label,
                config.metrics.label_single_instance,
            ),
            scrape_lock: Default::default(),
        });
        tasks.spawn(crate::http::serve(l, state, shutdown.clone()));
    }
    Ok(Running {
        tasks,
        shutdown,
        heartbeats,
        wake: shared.wake.clone(),
    })
}

/// Alerts of instances that are no longer configured get their closing
/// message (no alert stays open forever).
async fn close_unwatched(config: &Config, shared: &Arc<Shared>) {
    let names: Vec<String> = config.instances.iter().map(|i| i.name.clone()).collect();
    let s = shared.clone();
    match tokio::task::spawn_blocking(move || s.store.close_unwatched(&names, &s.sinks)).await {
        Ok(Ok(n)) if n > 0 => {
            tracing::info!(rows = n, "closed the alerts of instances no longer configured");
            for w in &shared.wake {
                w.notify_one();
            }
        }
        Ok(Err(e)) => tracing::warn!("closing alerts of unconfigured instances: {e}"),
        _ => {}
    }
}

/// Notifications queued for a sink that is no longer configured stay in the
/// store; say so once at start.
async fn warn_orphans(config: &Config, store: &Store) {
    let s = store.clone();
    if let Ok(Ok(stats)) = tokio::task::spawn_blocking(move || s.outbox_stats()).await {
        for st in stats
            .iter()
            .filter(|st| st.pending > 0 && !config.sinks.iter().any(|c| c.name == st.sink))
        {
            tracing::warn!(sink = %st.sink, pending = st.pending, "notifications are queued for a sink that is not configured any more; they will wait until a sink of that name returns");
        }
    }
}

async fn stop(mut r: Running) {
    r.shutdown.cancel();
    let all = async { while r.tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(30), all).await.is_err() {
        tracing::warn!("tasks did not stop within 30s; aborting them");
        r.tasks.abort_all();
    }
}

fn sd_notify(states: &[sd_notify::NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        if let Err(e) = sd_notify::notify(false, states) {
            tracing::warn!("sd_notify: {e}");
        }
    }
}

/// Runs the watcher until SIGTERM/SIGINT.
pub async fn watch(explicit: Option<PathBuf>) -> anyhow::Result<()> {
    watch_until(explicit, CancellationToken::new()).await
}

/// Runs the watcher until SIGTERM/SIGINT or until `stop_when` is cancelled.
/// `watch` needs instances; a config with only `[agent]` is for `hawatch agent`.
fn need_instances(config: &Config) -> anyhow::Result<()> {
    if config.instances.is_empty() {
        anyhow::bail!("no [[haproxy]] instance configured: `hawatch watch` needs one (this config has only [agent], for `hawatch agent`)");
    }
    Ok(())
}

pub async fn watch_until(explicit: Option<PathBuf>, stop_when: CancellationToken) -> anyhow::Result<()> {
    let mut config = Config::load(explicit.as_deref())?;
    need_instances(&config)?;
    let mut opened = open_store(&config.watch.store)?;
    let mut running = start(&config, &opened.store, true).await?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usec = 0u64;
    let watchdog = sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec / 2));
    let mut dog = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    let mut prune = tokio::time::interval(Duration::from_secs(3600));
    sd_notify(&[sd_notify::NotifyState::Ready]);
    tracing::info!(store = %opened.store.path(), instances = config.instances.len(), sinks = config.sinks.len(), "hawatch watch started");
    loop {
        tokio::select! {
            _ = stop_when.cancelled() => break,
            _ = term.recv() => break,
            _ = int.recv() => break,
            // `hawatch vrrp-notify` wrote to the outbox: deliver now.
            _ = usr1.recv() => {
                for w in &running.wake {
                    w.notify_one();
                }
            }
            _ = hup.recv() => {
                match Config::load(explicit.as_deref()).map_err(anyhow::Error::from).and_then(|c| need_instances(&c).map(|_| c)) {
                    Err(e) => tracing::error!("config reload refused, keeping the running config:\n{e:#}"),
                    Ok(new) => {
                        sd_notify(&[sd_notify::NotifyState::Reloading]);
                        stop(running).await;
                        if new.watch.store != config.watch.store {
                            drop(opened);
                            opened = open_store(&new.watch.store)?;
                        }
                        config = new;
                        running = start(&config, &opened.store, false).await?;
                        sd_notify(&[sd_notify::NotifyState::Ready]);
                        tracing::info!("configuration reloaded");
                    }
                }
            }
            _ = dog.tick(), if watchdog.is_some() => {
                let now = chrono::Utc::now().timestamp_millis();
                let stale: Vec<&str> = running.heartbeats.iter().filter(|(_, h, max)| h.last_ms() > 0 && now - h.last_ms() > 3 * max.as_millis() as i64).map(|(n, _, _)| n.as_str()).collect();
                if stale.is_empty() {
                    sd_notify(&[sd_notify::NotifyState::Watchdog]);
                } else {
                    tracing::error!(?stale, "pollers stopped beating; withholding the watchdog ping");
                }
            }
            _ = prune.tick() => {
                let s = opened.store.clone();
                let before = chrono::Utc::now() - chrono::Duration::from_std(config.watch.retention).unwrap_or(chrono::Duration::days(90));
                match tokio::task::spawn_blocking(move || s.prune(before)).await? {
                    Ok((o, e)) if o + e > 0 => tracing::info!(outbox_rows = o, events = e, "pruned history older than the retention"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("pruning: {e}"),
                }
            }
        }
    }
    sd_notify(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("stopping");
    stop(running).await;
    Ok(())
}

/// Delivers what the outbox holds, then exits (started in the background by
/// `hawatch vrrp-notify` when no watcher runs). Quiet if a watcher holds the store.
pub async fn deliver(explicit: Option<PathBuf>) -> anyhow::Result<bool> {
    let config = Config::load(explicit.as_deref())?;
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

/// `watch --once`: one poll-diff-deliver pass (the seed's systemd-timer mode).
/// Returns false when an instance could not be read or a notification is
/// still pending (it stays in the outbox for the next run).
pub async fn once(explicit: Option<PathBuf>) -> anyhow::Result<bool> {
    let config = Config::load(explicit.as_deref())?;
    need_instances(&config)?;
    let opened = open_store(&config.watch.store)?;
    let (workers, shared) = workers(&config, &opened.store);
    let mut polls = JoinSet::new();
    for inst in &config.instances {
        let mut p = Poller::new(inst.clone(), shared.clone()).await?;
        polls.spawn(async move {
            let r = p.poll_once().await;
            (p.state.as_ref().is_some_and(|s| s.reachable), r)
        });
    }
    let mut ok = true;
    while let Some(r) = polls.join_next().await {
        let (reachable, res) = r?;
        res?;
        ok &= reachable;
    }
    let s = shared.clone();
    let names: Vec<String> = config.instances.iter().map(|i| i.name.clone()).collect();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        s.store.close_unwatched(&names, &s.sinks)?;
        s.store.tick(&s.sinks, chrono::Utc::now())?;
        Ok(())
    })
    .await??;
    let mut drains = JoinSet::new();
    for w in workers {
        drains.spawn(async move { (w.name.clone(), w.drain().await) });
    }
    while let Some(r) = drains.join_next().await {
        let (name, done) = r?;
        if !done {
            tracing::warn!(sink = %name, "notifications still pending; they stay in the outbox for the next run");
            ok = false;
        }
    }
    // Timer mode has no background re-send: push the firing alerts now, so
    // they do not expire between runs (resend_every should exceed the timer).
    for sc in &config.sinks {
        if let Sink::Alertmanager(am) = Sink::new(sc, &config.notify, notify::http_client()) {
            let st = opened.store.clone();
            let n = sc.name.clone();
            if let Ok(Ok(subjects)) = tokio::task::spawn_blocking(move || st.alerting(&n)).await {
                if let Err(e) = am.post(&am.refresh(&subjects, chrono::Utc::now())).await {
                    tracing::warn!(sink = %sc.name, "re-sending firing alerts failed: {e}");
                }
            }
        }
    }
    Ok(ok)
}
