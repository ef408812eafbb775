//! One task per instance: poll, diff, commit, ring the outbox bell, wait.
//! Instances never wait for each other, and none waits for a sink.
//!
//! With `ring` configured, a second task follows `show events RING -w -n` and
//! wakes the poller as soon as HAProxy logs a state change, so detection does
//! not wait for the interval. The poll, not the log line, stays the source of
//! truth; on EOF (HAProxy reloaded) the follower reconnects and asks for a
//! resync poll.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{Instance, Source};
use crate::logic::diff::diff;

use crate::model::event::Event;
use crate::model::snapshot::InstanceState;
use crate::runtime::recorder::Recorder;
use crate::runtime::supervisor::Heartbeat;
use crate::source;

pub(crate) struct Poller {
    pub(crate) inst: Instance,
    recorder: Recorder,
    pub(crate) state: Option<InstanceState>,
    http: reqwest::Client,
    pub(crate) heartbeat: Arc<Heartbeat>,
    /// Size of the last reply, to size the next read buffer.
    last_reply: usize,
    /// Rung by the ring follower: poll now.
    trigger: Arc<Notify>,
}

impl Poller {
    /// Loads the remembered state of the instance from the store.
    pub(crate) async fn new(inst: Instance, recorder: Recorder) -> anyhow::Result<Poller> {
        let store = recorder.store().clone();
        let name = inst.name.clone();
        let state = tokio::task::spawn_blocking(move || store.load_state(&name)).await??;
        let http = source::http_client(&inst);
        Ok(Poller {
            inst,
            recorder,
            state,
            http,
            heartbeat: Arc::new(Heartbeat::new()),
            last_reply: 0,
            trigger: Arc::new(Notify::new()),
        })
    }

    /// One poll → diff → commit. Returns the events committed. On a store
    /// error the in-memory state is dropped; [`Poller::run`] reloads it.
    pub(crate) async fn poll_once(&mut self) -> anyhow::Result<Vec<Event>> {
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
            (state, events) = self
                .recorder
                .record_poll(&self.inst.name, state, out.changed, events)
                .await?;
        }
        if !had_baseline && state.seen {
            tracing::info!(instance = %self.inst.name, servers = state.server_count(), backends = state.backends.len(), "baseline recorded");
        }
        self.state = Some(state);
        self.heartbeat.beat();
        if reachable {
            self.heartbeat.answered();
        }
        crate::metrics::telemetry().poll(&self.inst.name, started.elapsed(), reachable, &events);
        Ok(events)
    }

    /// With `ring` configured (and a socket source): the task that follows
    /// HAProxy's ring and wakes this poller. The caller spawns it in its
    /// task set, so it stops with the poller.
    pub(crate) fn ring_follower(
        &self,
        shutdown: CancellationToken,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let (Some(ring), Source::Socket(ep)) = (self.inst.ring.clone(), &self.inst.source) else {
            return None;
        };
        Some(follow_ring(
            self.inst.name.clone(),
            ep.clone(),
            ring,
            self.inst.timeout,
            self.trigger.clone(),
            shutdown,
        ))
    }

    /// Polls until shut down.
    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        let trigger = self.trigger.clone();
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
        let store = self.recorder.store().clone();
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
    let name = match haproxy::Name::new(ring.as_str()) {
        Ok(n) => n,
        Err(e) => {
            // HAProxy could not have a ring by that name: nothing to follow.
            tracing::warn!(%instance, %ring, "ring fast path unavailable, polling only: {e}");
            shutdown.cancelled().await;
            return;
        }
    };
    let client = haproxy::Client::new(ep).timeout(timeout);
    let mut backoff = Duration::from_millis(200);
    let mut warned = false;
    loop {
        let attempt = async {
            let mut lines = client.follow_ring(&name).await.map_err(|e| ring_error(&ring, e))?;
            // Anything missed while (re)connecting: resync by polling.
            trigger.notify_one();
            let mut count = 0u64;
            while let Some(line) = lines.next_line().await.map_err(|e| ring_error(&ring, e))? {
                count += 1;
                if haproxy::log::parse_state_line(line).is_some() {
                    trigger.notify_one();
                }
            }
            Ok::<u64, String>(count)
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

/// What to do when the ring cannot be followed: HAProxy's answer says the
/// ring or the socket's level is wrong, and where that is explained.
fn ring_error(ring: &str, e: haproxy::Error) -> String {
    let answered = match &e {
        haproxy::Error::Ring { reply, .. } => reply.as_str(),
        haproxy::Error::Level { .. } => "Permission denied",
        _ => return crate::model::snapshot::SourceError::from(e).to_string(),
    };
    format!("HAProxy answered {answered:?}: does the config have `ring {ring}` and `log ring@{ring}` (see docs/ring.md), and is the socket at level operator or admin?")
}
