//! One task per instance: poll, diff, commit, ring the outbox bell, wait.
//! Instances never wait for each other, and none waits for a sink.
//!
//! With `ring` configured, a second task follows `show events RING -w -n` and
//! wakes the poller as soon as HAProxy logs a state change, so detection does
//! not wait for the interval. The poll, not the log line, stays the source of
//! truth; on EOF (HAProxy reloaded) the follower reconnects and asks for a
//! resync poll.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::io::AsyncBufReadExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{Instance, Source};
use crate::logic::diff::diff;
use crate::logic::plan::SinkPlan;
use crate::model::event::Event;
use crate::model::snapshot::InstanceState;
use crate::source;
use crate::store::Store;

/// What pollers share: the store, which sinks get what, and their bells.
pub struct Shared {
    pub store: Store,
    /// What each sink follows and how (route, noise policy, quiet hours).
    pub sinks: Arc<Vec<SinkPlan>>,
    pub wake: Vec<Arc<Notify>>,
    /// `[keepalived] backend_alerts = "vip-holder"`: HAProxy's events are
    /// stored on both nodes of a pair, but told only by the node that holds
    /// one of these VIPs, so the team gets each alarm once.
    pub vip_gate: Option<Vec<std::net::IpAddr>>,
}

impl Shared {
    /// The sinks a poll's events go to: none on the node without the VIP
    /// when the gate is on (the events are still stored).
    pub fn sinks_now(&self) -> Arc<Vec<SinkPlan>> {
        match &self.vip_gate {
            Some(vips) if !crate::source::vip::holds_any(vips) => Arc::new(Vec::new()),
            _ => self.sinks.clone(),
        }
    }
}

/// A poller's liveness, read by the systemd watchdog and `/healthz`.
#[derive(Default)]
pub struct Heartbeat(AtomicI64);

impl Heartbeat {
    pub fn beat(&self) {
        self.0.store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    pub fn last_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

pub struct Poller {
    pub inst: Instance,
    pub shared: Arc<Shared>,
    pub state: Option<InstanceState>,
    http: reqwest::Client,
    pub heartbeat: Arc<Heartbeat>,
    /// Size of the last reply, to size the next read buffer.
    last_reply: usize,
}

impl Poller {
    /// Loads the remembered state of the instance from the store.
    pub async fn new(inst: Instance, shared: Arc<Shared>) -> anyhow::Result<Poller> {
        let store = shared.store.clone();
        let name = inst.name.clone();
        let state = tokio::task::spawn_blocking(move || store.load_state(&name)).await??;
        let http = source::http_client(&inst);
        Ok(Poller {
            inst,
            shared,
            state,
            http,
            heartbeat: Arc::new(Heartbeat::default()),
            last_reply: 0,
        })
    }

    /// One poll → diff → commit. Returns the events committed. On a store
    /// error the in-memory state is dropped; [`Poller::run`] reloads it.
    pub async fn poll_once(&mut self) -> anyhow::Result<Vec<Event>> {
        let started = std::time::Instant::now();
        let mut obs = source::poll(&self.inst, &self.http, self.last_reply).await;
        // During a reload HAProxy hands its sockets over to the new worker,
        // and one connection in that window can be refused or reset. An
        // instance that answered last time is declared unreachable only if
        // it also fails twice more, 200 ms and 400 ms later: a reload stays
        // one event.
        let was_reachable = self.state.as_ref().is_some_and(|s| s.seen && s.reachable);
        for pause_ms in [200, 400] {
            if obs.is_ok() || !was_reachable {
                break;
            }
            if let Err(e) = &obs {
                tracing::debug!(instance = %self.inst.name, "poll failed, confirming: {e}");
            }
            // Alive and working: the watchdog must not count the retries as a stall.
            self.heartbeat.beat();
            tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            obs = source::poll(&self.inst, &self.http, self.last_reply).await;
        }
        let reachable = obs.is_ok();
        match &obs {
            Ok(snap) => self.last_reply = snap.stat.text().len() + 4096,
            Err(e) => tracing::debug!(instance = %self.inst.name, "poll failed: {e}"),
        }
        let had_baseline = self.state.as_ref().is_some_and(|s| s.seen);
        let out = diff(&self.inst.name, self.state.take(), &obs, Utc::now());
        drop(obs); // the reply buffer is not needed while committing
        let (mut state, mut events) = (out.state, out.events);
        if out.changed || !events.is_empty() {
            let store = self.shared.store.clone();
            let sinks = self.shared.sinks_now();
            let name = self.inst.name.clone();
            let changed = out.changed;
            // The state and events go to the store thread and come back: no copy.
            let (st, ev, res) = tokio::task::spawn_blocking(move || {
                let res = store.commit(&name, changed.then_some(&state), &events, &sinks);
                (state, events, res)
            })
            .await?;
            res?;
            (state, events) = (st, ev);
            for w in &self.shared.wake {
                w.notify_one();
            }
            for e in &events {
                tracing::info!(instance = %crate::text::visible(&e.instance), kind = %e.kind, "{}", crate::text::visible(&e.message));
            }
        }
        if !had_baseline && state.seen {
            tracing::info!(instance = %self.inst.name, servers = state.server_count(), backends = state.backends.len(), "baseline recorded");
        }
        self.state = Some(state);
        self.heartbeat.beat();
        crate::metrics::telemetry().poll(&self.inst.name, started.elapsed(), reachable, &events);
        Ok(events)
    }

    /// Polls until shut down.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let trigger = Arc::new(Notify::new());
        if let (Some(ring), Source::Socket(ep)) = (self.inst.ring.clone(), &self.inst.source) {
            tokio::spawn(follow_ring(
                self.inst.name.clone(),
                ep.clone(),
                ring,
                self.inst.timeout,
                trigger.clone(),
                shutdown.clone(),
            ));
        }
        let mut failures = 0u32;
        loop {
            match self.poll_once().await {
                Ok(_) => failures = 0,
                Err(e) => {
                    // The store failed: the events of this poll were not
                    // committed, so the state stays as it was and the next
                    // poll finds the same changes again.
                    failures += 1;
                    self.state = self.reload_state().await;
                    tracing::error!(instance = %self.inst.name, "could not record this poll (will retry): {e:#}");
                }
            }
            let pause = if failures > 0 {
                self.inst.interval.max(Duration::from_secs(1))
            } else {
                self.inst.interval
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
                _ = trigger.notified() => {}
            }
        }
    }

    async fn reload_state(&self) -> Option<InstanceState> {
        let store = self.shared.store.clone();
        let name = self.inst.name.clone();
        tokio::task::spawn_blocking(move || store.load_state(&name))
            .await
            .ok()?
            .ok()?
    }
}

/// Follows a ring and rings `trigger` on every state-change line.
async fn follow_ring(
    instance: String,
    ep: haproxy::Endpoint,
    ring: String,
    timeout: Duration,
    trigger: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let cmd = format!("show events {ring} -w -n");
    let mut backoff = Duration::from_millis(200);
    let mut warned = false;
    loop {
        let attempt = async {
            let mut reader = haproxy::client::subscribe(&ep, &cmd, timeout)
                .await
                .map_err(|e| e.to_string())?;
            // Anything missed while (re)connecting: resync by polling.
            trigger.notify_one();
            let mut line = String::new();
            let mut lines = 0u64;
            loop {
                line.clear();
                let n = reader.read_line(&mut line).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Ok(lines);
                }
                lines += 1;
                if lines == 1 && !line.starts_with('<') && !line.trim().is_empty() {
                    return Err(format!("HAProxy answered {:?}: does the config have `ring {ring}` and `log ring@{ring}` (see docs/ring.md), and is the socket at level operator or admin?", line.trim()));
                }
                if haproxy::log::parse_state_line(&line).is_some() {
                    trigger.notify_one();
                }
            }
        };
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = attempt => r,
        };
        match outcome {
            Ok(lines) if lines > 0 => backoff = Duration::from_millis(200),
            Ok(_) => {}
            Err(e) if !warned => {
                tracing::warn!(%instance, %ring, "ring fast path unavailable, polling only: {e}");
                warned = true;
            }
            Err(e) => tracing::debug!(%instance, %ring, "ring: {e}"),
        }
        trigger.notify_one();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}
