//! `hawatch watch`: owns the store, one poller task per instance, one outbox
//! worker per sink, the policy's ticker, keepalived's followers and the HTTP
//! listener. The [`supervisor`](crate::runtime::supervisor) runs it: reload
//! on SIGHUP, stop on SIGTERM/SIGINT, sd_notify under systemd.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::poller::Poller;
use crate::config::Config;
use crate::notify::{self, Sink};
use crate::runtime::recorder::Recorder;
use crate::runtime::supervisor::{self, Daemon, Heartbeat, Tasks};
use crate::runtime::{open_store, workers, OpenStore};
use crate::store::Store;

/// The watcher between two reloads.
#[derive(Default)]
pub(crate) struct Watch {
    /// The store and its lock, kept across reloads unless `watch.store` changes.
    opened: Option<(PathBuf, OpenStore)>,
    retention: Duration,
    heartbeats: Vec<(String, Arc<Heartbeat>, Duration)>,
    recorder: Option<Recorder>,
}

/// What `watch` needs beyond a valid file: instances (a config with only
/// `[agent]` is for `hawatch agent`).
pub(crate) fn fit_to_watch(config: Config) -> anyhow::Result<Config> {
    if config.instances.is_empty() {
        anyhow::bail!("no [[haproxy]] instance configured: `hawatch watch` needs one (this config has only [agent], for `hawatch agent`)");
    }
    Ok(config)
}

impl Daemon for Watch {
    type Config = Config;

    /// Starts everything for `config`. On the first start a listener that
    /// cannot bind is an error; on a reload it is logged and the watcher
    /// goes on without it (a reload must not stop the watching).
    async fn start(&mut self, config: Config, tasks: &mut Tasks, first: bool) -> anyhow::Result<()> {
        let opened = match self.opened.take() {
            Some((path, o)) if path == config.watch.store => o,
            old => {
                drop(old); // release the old store's lock first
                open_store(&config.watch.store)?
            }
        };
        let store = &self.opened.insert((config.watch.store.clone(), opened)).1.store.clone();
        self.retention = config.watch.retention;
        let listener = match crate::http::bind(&config).await {
            Ok(l) => l,
            Err(e) if first => return Err(e),
            Err(e) => {
                tracing::error!("{e:#}; running without the HTTP listener until the next reload");
                None
            }
        };
        let shutdown = tasks.shutdown();
        let (workers, recorder) = workers(&config, store);
        self.recorder = Some(recorder.clone());
        let mut heartbeats = Vec::new();
        for w in workers {
            tasks.spawn(w.run(shutdown.clone()));
        }
        for s in &config.sinks {
            if let Sink::Alertmanager(am) = Sink::new(s, &config.notify, notify::http_client()) {
                tasks.spawn(am_refresh(s.name.clone(), am, recorder.clone(), shutdown.clone()));
            }
        }
        close_unwatched(&config, &recorder).await;
        tasks.spawn(ticker(recorder.clone(), shutdown.clone()));
        for inst in &config.instances {
            let p = Poller::new(inst.clone(), recorder.clone()).await?;
            heartbeats.push((inst.name.clone(), p.heartbeat.clone(), inst.interval + inst.timeout));
            tracing::info!(instance = %inst.name, source = %inst.source.describe(), interval = ?inst.interval, ring = inst.ring.as_deref().unwrap_or("-"), "watching");
            if let Some(follower) = p.ring_follower(shutdown.clone()) {
                tasks.spawn(follower);
            }
            tasks.spawn(p.run(shutdown.clone()));
        }
        warn_orphans(&config, store).await;
        if let Some(k) = &config.keepalived {
            let host = &config.notify.host;
            tasks.spawn(crate::keepalived::awareness::watch(
                k.clone(),
                host.clone(),
                recorder.clone(),
                shutdown.clone(),
            ));
            tasks.spawn(crate::keepalived::peer::watch(
                k.clone(),
                host.clone(),
                recorder.clone(),
                shutdown.clone(),
            ));
            if let Some(fifo) = &k.notify_fifo {
                tasks.spawn(crate::keepalived::fifo::follow(
                    fifo.clone(),
                    k.clone(),
                    host.clone(),
                    recorder.clone(),
                    shutdown.clone(),
                ));
            }
        }
        if let Some(l) = listener {
            let state = Arc::new(crate::http::AppState {
                config: config.clone(),
                recorder: recorder.clone(),
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
        self.heartbeats = heartbeats;
        if first {
            tracing::info!(store = %store.path(), instances = config.instances.len(), sinks = config.sinks.len(), "hawatch watch started");
        }
        Ok(())
    }

    /// `hawatch vrrp-notify` wrote to the outbox: deliver now.
    fn wake(&self) {
        if let Some(r) = &self.recorder {
            r.wake();
        }
    }

    fn stalled(&self) -> Vec<String> {
        let now = chrono::Utc::now().timestamp_millis();
        self.heartbeats
            .iter()
            .filter(|(_, h, max)| h.last_ms() > 0 && now - h.last_ms() > 3 * max.as_millis() as i64)
            .map(|(n, _, _)| n.clone())
            .collect()
    }

    /// Drops history older than `watch.retention`.
    async fn hourly(&self) {
        let Some(s) = self.opened.as_ref().map(|(_, o)| o.store.clone()) else {
            return;
        };
        let before =
            chrono::Utc::now() - chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::days(90));
        match tokio::task::spawn_blocking(move || s.prune(before)).await {
            Ok(Ok((o, e))) if o + e > 0 => {
                tracing::info!(outbox_rows = o, events = e, "pruned history older than the retention")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("pruning: {e}"),
            Err(e) => tracing::warn!("pruning: {e}"),
        }
    }
}

/// Runs the watcher until SIGTERM/SIGINT or until `stop_when` is cancelled;
/// `load` gives the configuration at the start and on each SIGHUP.
pub(crate) async fn watch_until(
    load: impl Fn() -> anyhow::Result<Config>,
    stop_when: CancellationToken,
) -> anyhow::Result<()> {
    supervisor::run(Watch::default(), || load().and_then(fit_to_watch), stop_when).await
}

/// Lets time pass for the noise policy (held notices, flapping that settles,
/// reminders), once a second; the recorder rings the sinks' bells when it
/// wrote rows.
async fn ticker(recorder: Recorder, shutdown: CancellationToken) {
    loop {
        if let Err(e) = recorder.tick().await {
            tracing::error!("notification policy tick: {e}");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Re-sends the firing alerts of an Alertmanager sink before they expire.
/// In a pair, only the alerts this node tells now: the other node re-sends
/// its own.
async fn am_refresh(
    name: String,
    am: notify::alertmanager::Alertmanager,
    recorder: Recorder,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(am.resend_every) => {}
        }
        let s = recorder.store().clone();
        let n = name.clone();
        let Ok(Ok(mut subjects)) = tokio::task::spawn_blocking(move || s.alerting(&n)).await else {
            continue;
        };
        if let Some(g) = recorder.pair_gate() {
            subjects.retain(|(key, _)| g.tells(&name, key.split('/').next().unwrap_or(key)));
        }
        let alerts = am.refresh(&subjects, chrono::Utc::now());
        if let Err(e) = am.post(&alerts).await {
            tracing::warn!(sink = %name, alerts = alerts.len(), "re-sending firing alerts failed: {e}");
        }
    }
}

/// Alerts of instances that are no longer configured get their closing
/// message (no alert stays open forever).
async fn close_unwatched(config: &Config, recorder: &Recorder) {
    let names: Vec<String> = config.instances.iter().map(|i| i.name.clone()).collect();
    match recorder.close_unwatched(names).await {
        Ok(n) if n > 0 => tracing::info!(rows = n, "closed the alerts of instances no longer configured"),
        Ok(_) => {}
        Err(e) => tracing::warn!("closing alerts of unconfigured instances: {e}"),
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

/// `watch --once`: one poll-diff-deliver pass (the seed's systemd-timer mode).
/// Returns false when an instance could not be read or a notification is
/// still pending (it stays in the outbox for the next run).
pub(crate) async fn once(config: Config) -> anyhow::Result<bool> {
    let config = fit_to_watch(config)?;
    let opened = open_store(&config.watch.store)?;
    let (workers, recorder) = workers(&config, &opened.store);
    let mut polls = JoinSet::new();
    for inst in &config.instances {
        let mut p = Poller::new(inst.clone(), recorder.clone()).await?;
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
    let names: Vec<String> = config.instances.iter().map(|i| i.name.clone()).collect();
    recorder.close_unwatched(names).await?;
    recorder.tick().await?;
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
