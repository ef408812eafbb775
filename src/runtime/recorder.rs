//! The one way an event enters hawatch: [`Recorder`]. Every producer (the
//! pollers, the agent, keepalived's FIFO and notify script, the peer watch,
//! the Alertmanager receiver, `ctl`, `apply`) hands its events here. The
//! recorder commits them with their outbox rows and alert states in one
//! transaction (nothing is acted on before it is stored), logs each event
//! once, then wakes the sinks: the outbox workers' bells in a daemon, or a
//! background `hawatch deliver` (or the running watcher) in a one-shot
//! command.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Notify;

use super::pair::PairGate;
use crate::logic::plan::SinkPlan;
use crate::model::event::Event;
use crate::model::snapshot::InstanceState;
use crate::store::{Store, StoreError};
use crate::text::visible;

/// Why a recording failed: the store refused it, or its blocking task died.
/// Either way nothing was committed and the producer retries later.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store task stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// What happens once something is committed.
enum After {
    /// A daemon: ring the outbox workers' bells.
    Wake(Vec<Arc<Notify>>),
    /// A one-shot command: wake the running watcher (SIGUSR1) or start
    /// `hawatch deliver` in the background; never wait for a delivery.
    HandOver { config: Option<PathBuf>, store: PathBuf },
}

/// Who of a pair tells HAProxy's events.
pub(crate) enum Gate {
    /// No peer to watch: the node holding one of these VIPs (the other
    /// writes no notifications at all).
    Vip(Vec<IpAddr>),
    /// The roles `logic::pair` keeps from watching the peer: held rows,
    /// takeovers.
    Pair(Arc<PairGate>),
}

/// The handle producers record through. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Recorder(Arc<Inner>);

struct Inner {
    store: Store,
    /// What each sink follows and how (route, noise policy, quiet hours).
    sinks: Arc<Vec<SinkPlan>>,
    /// `[keepalived] backend_alerts = "vip-holder"`: HAProxy's events are
    /// stored on both nodes of a pair, but told only by one of them, so the
    /// team gets each alarm once.
    gate: Option<Gate>,
    after: After,
}

impl Recorder {
    /// For a daemon whose outbox workers listen on `wake`.
    pub(crate) fn daemon(store: Store, sinks: Vec<SinkPlan>, gate: Option<Gate>, wake: Vec<Arc<Notify>>) -> Recorder {
        Recorder(Arc::new(Inner {
            store,
            sinks: Arc::new(sinks),
            gate,
            after: After::Wake(wake),
        }))
    }

    /// For a one-shot command: opens the store of `config`; what it records
    /// is handed over to the watcher or a background `hawatch deliver`
    /// (started with `config`'s own file).
    pub(crate) fn one_shot(config: &crate::config::Config) -> Result<Recorder, StoreError> {
        Ok(Recorder(Arc::new(Inner {
            store: Store::open(&config.watch.store)?,
            sinks: Arc::new(config.sinks.iter().map(|s| s.plan.clone()).collect()),
            gate: None,
            after: After::HandOver {
                config: config.path.clone(),
                store: config.watch.store.clone(),
            },
        })))
    }

    pub(crate) fn store(&self) -> &Store {
        &self.0.store
    }

    /// The pair's roles, when this watcher is one of a pair with a peer.
    pub(crate) fn pair_gate(&self) -> Option<&Arc<PairGate>> {
        match &self.0.gate {
            Some(Gate::Pair(g)) => Some(g),
            _ => None,
        }
    }

    /// The sinks HAProxy's events go to: without a peer, none on the node
    /// without the VIP (the events are still stored).
    pub(crate) fn sinks_now(&self) -> Arc<Vec<SinkPlan>> {
        match &self.0.gate {
            Some(Gate::Vip(vips)) if !crate::source::vip::holds_any(vips) => Arc::new(Vec::new()),
            _ => self.plans(),
        }
    }

    /// Every sink, with how it tells HAProxy's events now in a pair.
    fn plans(&self) -> Arc<Vec<SinkPlan>> {
        match &self.0.gate {
            Some(Gate::Pair(g)) => Arc::new(g.plans(&self.0.sinks)),
            _ => self.0.sinks.clone(),
        }
    }

    /// A poll of `instance`: its new state (written if `changed`) and the
    /// events the diff found, for the sinks of [`Recorder::sinks_now`]. The
    /// state and events go to the store thread and come back: no copy.
    pub(crate) async fn record_poll(
        &self,
        instance: &str,
        state: InstanceState,
        changed: bool,
        events: Vec<Event>,
    ) -> Result<(InstanceState, Vec<Event>), RecordError> {
        let (store, sinks, name) = (self.0.store.clone(), self.sinks_now(), instance.to_string());
        let (state, events, res) = tokio::task::spawn_blocking(move || {
            let res = store.commit(&name, changed.then_some(&state), &events, &sinks);
            (state, events, res)
        })
        .await?;
        res?;
        self.done(&events, true);
        Ok((state, events))
    }

    /// Events with nothing else to keep (an audit of `ctl` or `apply`).
    pub(crate) async fn record(&self, instance: &str, events: Vec<Event>) -> Result<usize, RecordError> {
        let (store, sinks, name) = (self.0.store.clone(), self.plans(), instance.to_string());
        let (events, rows) = tokio::task::spawn_blocking(move || {
            let rows = store.commit(&name, None, &events, &sinks);
            (events, rows)
        })
        .await?;
        let rows = rows?;
        self.done(&events, true);
        Ok(rows)
    }

    /// Events and the producer's own state, as JSON under `key` (read back
    /// with [`Store::load_raw_state`]).
    pub(crate) async fn record_keyed(
        &self,
        instance: &str,
        key: &str,
        json: String,
        events: Vec<Event>,
    ) -> Result<usize, RecordError> {
        let (store, sinks) = (self.0.store.clone(), self.plans());
        let (name, key) = (instance.to_string(), key.to_string());
        let (events, rows) = tokio::task::spawn_blocking(move || {
            let rows = store.commit_agent(&name, &key, json, &events, &sinks);
            (events, rows)
        })
        .await?;
        let rows = rows?;
        self.done(&events, true);
        Ok(rows)
    }

    /// Reads the state kept under `key` and lets `decide` turn it into (new
    /// state, events) in one write transaction, so two processes telling the
    /// same change cannot both see the old state. `None` writes nothing.
    /// Returns the events written.
    pub(crate) async fn record_if(
        &self,
        instance: &str,
        key: &str,
        decide: impl FnOnce(Option<String>) -> Option<(String, Vec<Event>)> + Send + 'static,
    ) -> Result<Vec<Event>, RecordError> {
        let (store, sinks) = (self.0.store.clone(), self.plans());
        let (name, key) = (instance.to_string(), key.to_string());
        let written = tokio::task::spawn_blocking(move || store.commit_if(&name, &key, &sinks, decide))
            .await??
            .unwrap_or_default();
        self.done(&written, false);
        Ok(written)
    }

    /// Alerts received from Alertmanager. A notification whose first alert
    /// (`previous`) is already stored was received before: nothing is
    /// written again. Returns (events stored, outbox rows).
    pub(crate) async fn record_received(
        &self,
        events: Vec<Event>,
        previous: Option<String>,
    ) -> Result<(usize, usize), RecordError> {
        // Alertmanager chose this node: never held for the pair.
        let (store, sinks) = (self.0.store.clone(), self.0.sinks.clone());
        let (stored, rows) = tokio::task::spawn_blocking(move || -> crate::store::Result<(usize, usize)> {
            if previous.is_some_and(|id| store.has_event(&id).unwrap_or(false)) {
                return Ok((0, 0));
            }
            store.commit_received(&events, &sinks)
        })
        .await??;
        // One summary line is logged by the receiver, not a line per alert.
        if rows > 0 {
            self.hand_on();
        }
        Ok((stored, rows))
    }

    /// Lets time pass for the noise policy (held notices, flapping that
    /// settles, reminders); wakes the sinks when it wrote rows.
    pub(crate) async fn tick(&self) -> Result<usize, RecordError> {
        let (store, sinks) = (self.0.store.clone(), self.plans());
        let (rows, _) = tokio::task::spawn_blocking(move || store.tick(&sinks, chrono::Utc::now())).await??;
        if rows > 0 {
            self.hand_on();
        }
        Ok(rows)
    }

    /// Alerts of instances that are no longer configured get their closing
    /// message (no alert stays open forever).
    pub(crate) async fn close_unwatched(&self, instances: Vec<String>) -> Result<usize, RecordError> {
        let (store, plans) = (self.0.store.clone(), self.plans());
        let pair = self.pair_gate().cloned();
        let sinks = self.0.sinks.clone();
        let rows = tokio::task::spawn_blocking(move || {
            let plans = match pair {
                // In a pair, an instance no longer watched was HAProxy's (only
                // HAProxy's problems open alerts): its closing notices are
                // told by one node too.
                Some(g) => {
                    let removed = store
                        .alert_instances()?
                        .into_iter()
                        .filter(|i| !instances.contains(i))
                        .collect();
                    Arc::new(g.plans_for_removed(&sinks, removed))
                }
                None => plans,
            };
            store.close_unwatched(&instances, &plans)
        })
        .await??;
        if rows > 0 {
            self.hand_on();
        }
        Ok(rows)
    }

    /// Wakes the sinks now (`SIGUSR1`: a one-shot command wrote to the outbox).
    pub(crate) fn wake(&self) {
        if let After::Wake(bells) = &self.0.after {
            for b in bells {
                b.notify_one();
            }
        }
    }

    /// After a commit: each event logged once, then the sinks woken.
    /// `always`: wake even if nothing was written (a poll's bells were
    /// always rung; the worker finds nothing and sleeps again). A daemon
    /// logs its events at info (an event is news, not a fault of hawatch's:
    /// `demo`, which logs at warn, shows them through its console sink
    /// only); a one-shot command (`ctl`, `apply`, `vrrp-notify`) says what it
    /// did on stdout and logs its events at debug.
    fn done(&self, events: &[Event], always: bool) {
        for e in events {
            let (instance, message) = (visible(&e.instance), visible(&e.message));
            if matches!(self.0.after, After::HandOver { .. }) {
                tracing::debug!(instance = %instance, kind = %e.kind, "{message}");
            } else {
                tracing::info!(instance = %instance, kind = %e.kind, "{message}");
            }
        }
        if !events.is_empty() || always && matches!(self.0.after, After::Wake(_)) {
            self.hand_on();
        }
    }

    fn hand_on(&self) {
        match &self.0.after {
            After::Wake(_) => self.wake(),
            After::HandOver { config, store } => super::hand_over(config.as_deref(), store),
        }
    }
}
