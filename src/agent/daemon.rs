//! `hawatch agent` under the [`supervisor`](crate::runtime::supervisor):
//! the listeners (one thread each, answering from the prepared table), one
//! task per check, and the task that turns check results into the next
//! table and records what changed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;
use arc_swap::ArcSwap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{agent_of, changes, checks, clients, first_round, next_table, serve_metrics, server, states};
use super::{ReadyHold, States, Table};
use crate::config::{Agent, Config};
use crate::logic::agent_rules::Outcome;
use crate::runtime::recorder::Recorder;
use crate::runtime::supervisor::{self, Daemon, Tasks};
use crate::runtime::{open_store, workers, OpenStore};

/// The agent between two reloads.
#[derive(Default)]
pub(crate) struct AgentDaemon {
    /// The store and its lock, kept across reloads unless `[agent] store` changes.
    opened: Option<(PathBuf, OpenStore)>,
    server: Option<Arc<server::Server>>,
    threads: Vec<(SocketAddr, JoinHandle<()>)>,
    recorder: Option<Recorder>,
}

/// `hawatch agent`: serve until SIGTERM/SIGINT; `load` gives the
/// configuration at the start and on each SIGHUP.
pub(crate) async fn run(load: impl Fn() -> anyhow::Result<Config>) -> anyhow::Result<()> {
    supervisor::run(
        AgentDaemon::default(),
        || load().and_then(agent_of),
        CancellationToken::new(),
    )
    .await
}

impl Daemon for AgentDaemon {
    type Config = (Config, Agent);

    async fn start(&mut self, (config, agent): (Config, Agent), tasks: &mut Tasks, first: bool) -> anyhow::Result<()> {
        let opened = match self.opened.take() {
            Some((path, o)) if path == agent.store => o,
            old => {
                drop(old); // release the old store's lock first
                open_store(&agent.store)?
            }
        };
        let store = self.opened.insert((agent.store.clone(), opened)).1.store.clone();
        let shutdown = tasks.shutdown();
        let (workers, recorder) = workers(&config, &store);
        self.recorder = Some(recorder.clone());
        for w in workers {
            tasks.spawn(w.run(shutdown.clone()));
        }
        let http = clients(&agent);
        let mut mems: Vec<checks::Memory> = agent.checks.iter().map(|_| Default::default()).collect();
        let outcomes = first_round(&agent, &http, &mut mems).await;
        // The first reply after a start is compared with the last one before it.
        let key = format!("agent:{}", agent.name);
        let s = store.clone();
        let k = key.clone();
        let mut told: States = tokio::task::spawn_blocking(move || s.load_raw_state(&k))
            .await??
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default();
        let mut hold = ReadyHold::default();
        let t = next_table(&agent, &outcomes, &told, &mut hold);
        let replies = Arc::new(ArcSwap::from_pointee(t));
        record(&agent, &recorder, &key, &mut told, &replies.load()).await;
        let first_reply =
            crate::text::visible(String::from_utf8_lossy(&replies.load().default.line).trim()).into_owned();
        tracing::info!(agent = %agent.name, checks = agent.checks.len(), "reply: {first_reply}");
        // A reload's old listeners answered until now; the new ones bind at once.
        self.stop_listeners();
        let srv = Arc::new(server::Server::new(&agent, replies.clone()));
        self.server = Some(srv.clone());
        for addr in &agent.listen {
            let bound = std::net::TcpListener::bind(addr)
                .map_err(|e| {
                    let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                        " (another agent or xinetd on that port?)"
                    } else {
                        ""
                    };
                    anyhow::anyhow!("cannot listen on {addr}: {e}{hint}: check [agent] listen")
                })
                .and_then(|l| {
                    let at = l.local_addr()?;
                    Ok((at, server::spawn(l, srv.clone(), tokio::runtime::Handle::current())?))
                });
            match bound {
                Ok((at, th)) => {
                    tracing::info!(addr = %at, "agent listening");
                    self.threads.push((at, th));
                }
                Err(e) if first => return Err(e),
                Err(e) => tracing::error!("{e:#}; not listening there until the next reload"),
            }
        }
        if let Some(addr) = agent.metrics_listen {
            let bound = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}: check [agent] metrics_listen"));
            match bound {
                Ok(l) => {
                    tracing::info!(addr = %l.local_addr()?, "agent metrics on /metrics");
                    tasks.spawn(serve_metrics(l, shutdown.clone()));
                }
                Err(e) if first => return Err(e),
                Err(e) => tracing::error!("{e:#}; running without it until the next reload"),
            }
        }
        // One task per check, reporting to the table task.
        let (tx, rx) = mpsc::channel::<(usize, Outcome)>(64);
        for (i, ((c, h), mut m)) in agent.checks.iter().cloned().zip(http).zip(mems).enumerate() {
            let tx = tx.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(c.interval) => {}
                    }
                    let o = checks::run(&c, &h, &mut m).await;
                    crate::metrics::telemetry().agent_check(&c.name, &o);
                    if tx.send((i, o)).await.is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        tasks.spawn(async move {
            let mut rx = rx;
            let mut outcomes = outcomes;
            loop {
                // No checks (or all ended): the listeners keep serving the last replies.
                let got = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    got = rx.recv() => got,
                };
                let Some((i, o)) = got else { return };
                outcomes[i] = o;
                let before = states(&replies.load());
                let t = next_table(&agent, &outcomes, &before, &mut hold);
                let changed = states(&t) != told;
                replies.store(Arc::new(t));
                if changed {
                    record(&agent, &recorder, &key, &mut told, &replies.load()).await;
                }
            }
        });
        Ok(())
    }

    fn wake(&self) {
        if let Some(r) = &self.recorder {
            r.wake();
        }
    }

    /// At the stop the listeners close. At a reload they keep answering
    /// with the last table until `start` has the new one ready.
    fn stopping(&mut self, reload: bool) {
        if !reload {
            self.stop_listeners();
        }
    }
}

impl AgentDaemon {
    fn stop_listeners(&mut self) {
        if let Some(srv) = self.server.take() {
            for (addr, th) in self.threads.drain(..) {
                server::stop(&srv, addr, th);
            }
        }
    }
}

/// Records the events of the states that changed (and the states). A
/// store failure is logged; the next change retries.
async fn record(agent: &Agent, recorder: &Recorder, key: &str, told: &mut States, t: &Table) {
    let events = changes(agent, told, t);
    let now = states(t);
    if events.is_empty() && now == *told {
        return;
    }
    let json = serde_json::to_string(&now).expect("states serialize");
    match recorder.record_keyed(&agent.name, key, json, events).await {
        Ok(_) => *told = now,
        Err(e) => tracing::error!("could not store the agent's state change (retried at the next change): {e}"),
    }
}
