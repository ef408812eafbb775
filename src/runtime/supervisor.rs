//! One lifecycle for the daemons (`hawatch watch`, `hawatch agent`), in the
//! shape of mini-redis's `server::run(listener, shutdown)`: [`run`] loads the
//! configuration, starts the [`Daemon`]'s tasks in a [`Tasks`] set, then
//! waits for signals. SIGHUP reloads (a configuration that does not load is
//! refused and the running one kept), SIGUSR1 wakes the sinks, SIGTERM and
//! SIGINT stop; systemd hears READY, RELOADING, STOPPING and, while every
//! part still beats, WATCHDOG. Every task a daemon starts belongs to its
//! [`Tasks`], so a reload or a stop drains them all.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a stop waits for the tasks before aborting them.
const DRAIN: Duration = Duration::from_secs(30);

/// The tasks of one configuration, and the token that stops them.
pub(crate) struct Tasks {
    set: JoinSet<()>,
    shutdown: CancellationToken,
}

impl Default for Tasks {
    fn default() -> Tasks {
        Tasks {
            set: JoinSet::new(),
            shutdown: CancellationToken::new(),
        }
    }
}

impl Tasks {
    /// The token a task watches to know it should stop.
    pub(crate) fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub(crate) fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.set.spawn(task);
    }

    /// Stops the tasks: cancels the token and waits for them, at most
    /// [`DRAIN`], then aborts the ones left.
    pub(crate) async fn drain(mut self) {
        self.shutdown.cancel();
        let all = async { while self.set.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN, all).await.is_err() {
            tracing::warn!("tasks did not stop within {}s; aborting them", DRAIN.as_secs());
            self.set.abort_all();
        }
    }
}

/// A part's liveness, read by the systemd watchdog and `/healthz`; for a
/// poller also when HAProxy last answered (the pair's peer reads both).
#[derive(Default)]
pub(crate) struct Heartbeat {
    last: AtomicI64,
    answered: AtomicI64,
    born: i64,
}

impl Heartbeat {
    /// A heartbeat that knows when its part started (0 for `default()`).
    pub(crate) fn new() -> Heartbeat {
        Heartbeat {
            born: chrono::Utc::now().timestamp_millis(),
            ..Default::default()
        }
    }

    pub(crate) fn beat(&self) {
        self.last
            .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// The part finished its work and HAProxy answered.
    pub(crate) fn answered(&self) {
        self.answered
            .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    pub(crate) fn last_ms(&self) -> i64 {
        self.last.load(Ordering::Relaxed)
    }

    pub(crate) fn answered_ms(&self) -> i64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// When the part started, if known.
    pub(crate) fn born_ms(&self) -> i64 {
        self.born
    }
}

/// A long-running command the supervisor runs.
pub(crate) trait Daemon: Send {
    type Config: Send;

    /// Starts everything for `config` in `tasks`. `first` is the process's
    /// start (a listener that cannot bind is an error then; on a reload it
    /// may be logged and skipped, so a reload never stops the service).
    fn start(
        &mut self,
        config: Self::Config,
        tasks: &mut Tasks,
        first: bool,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// SIGUSR1: another process wrote to the outbox.
    fn wake(&self) {}

    /// The parts that stopped beating; the watchdog ping is withheld while
    /// this is not empty.
    fn stalled(&self) -> Vec<String> {
        Vec::new()
    }

    /// Once an hour (history pruning).
    fn hourly(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Before the tasks are drained: at a reload (`reload`), where whatever
    /// serves clients may keep serving until the next `start` replaces it,
    /// or at the stop.
    fn stopping(&mut self, _reload: bool) {}
}

/// Runs `daemon` until SIGTERM/SIGINT or until `stop_when` is cancelled.
/// `load` reads and validates the configuration, at the start and on each
/// SIGHUP; the command line gives it (no layer below turns a path into a
/// configuration).
pub(crate) async fn run<D: Daemon>(
    mut daemon: D,
    load: impl Fn() -> anyhow::Result<D::Config>,
    stop_when: CancellationToken,
) -> anyhow::Result<()> {
    // The handlers first: once `start` has taken the store's lock (whose pid
    // one-shot commands signal) or logged that it listens, a SIGUSR1 or
    // SIGHUP must not kill the process.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let config = load()?;
    let mut tasks = Tasks::default();
    daemon.start(config, &mut tasks, true).await?;
    let mut usec = 0u64;
    let watchdog = sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec / 2));
    let mut dog = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    sd_notify(&[sd_notify::NotifyState::Ready]);
    loop {
        tokio::select! {
            _ = stop_when.cancelled() => break,
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = usr1.recv() => daemon.wake(),
            _ = hup.recv() => match load() {
                Err(e) => tracing::error!("config reload refused, keeping the running config:\n{e:#}"),
                Ok(new) => {
                    sd_notify(&[sd_notify::NotifyState::Reloading]);
                    daemon.stopping(true);
                    std::mem::take(&mut tasks).drain().await;
                    daemon.start(new, &mut tasks, false).await?;
                    sd_notify(&[sd_notify::NotifyState::Ready]);
                    tracing::info!("configuration reloaded");
                }
            },
            _ = dog.tick(), if watchdog.is_some() => {
                let stale = daemon.stalled();
                if stale.is_empty() {
                    sd_notify(&[sd_notify::NotifyState::Watchdog]);
                } else {
                    tracing::error!(?stale, "pollers stopped beating; withholding the watchdog ping");
                }
            }
            _ = hourly.tick() => daemon.hourly().await,
        }
    }
    sd_notify(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("stopping");
    daemon.stopping(false);
    tasks.drain().await;
    Ok(())
}

fn sd_notify(states: &[sd_notify::NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        if let Err(e) = sd_notify::notify(false, states) {
            tracing::warn!("sd_notify: {e}");
        }
    }
}
