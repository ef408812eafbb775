//! `hawatch top`: a live terminal view of the configured HAProxy instances,
//! this node's VRRP role, VIPs and outbox, the stored events, and (with
//! `[keepalived] peer`) the pair side by side (docs/top.md).
//!
//! - `table.rs`: a `show stat` reply as rows; filter, sort, folds (pure).
//! - `app.rs`: the state and the keys (pure); a change is an [`app::Effect`].
//! - `pair.rs`: the peer and the pair view's comparison (pure).
//! - `ui.rs`: drawing (pure, ratatui).
//! - here: the terminal, the pollers, the store and peer readers, and the
//!   effects, which go through `ctl`'s code (`ops::ctl::execute`) so every
//!   change is confirmed and stored as an `audit_ctl` event.

// Public for benches/top.rs only.
pub mod app;
mod pair;
pub mod table;
pub mod ui;

#[cfg(test)]
mod tests;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{Event as TermEvent, KeyEventKind};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use self::app::{App, Effect, Instance, Peer, PeerInstance};
use self::table::Table;
use crate::config::{Config, Source};
use crate::model::snapshot::Snapshot;
use crate::store::{EventFilter, Store};
use crate::text::visible;

/// `hawatch top`'s options.
#[derive(Debug, Clone)]
pub(crate) struct Args {
    pub(crate) read_only: bool,
    pub(crate) interval: Duration,
    pub(crate) instance: Option<String>,
}

/// How long quitting waits for changes still running.
const CHANGES_GRACE: Duration = Duration::from_secs(30);
/// How many events the pane keeps.
const EVENTS: usize = 200;
/// The largest answer taken from the peer's API.
const MAX_PEER_ANSWER: usize = 16 * 1024 * 1024;
/// The largest reply shown for a `show` typed at the prompt.
const MAX_READ_REPLY: usize = 4 * 1024 * 1024;
/// At most this many servers are read from the peer's answer.
pub const MAX_PEER_SERVERS: usize = 200_000;

/// Set by the panic hook `run` installs.
static PANICKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

enum Msg {
    Key(crossterm::event::KeyEvent),
    Redraw,
    Polled(usize, Result<(Snapshot, Table), String>),
    Store(Result<StoreView, String>),
    Peer(Peer),
    Done {
        instance: usize,
        typed: bool,
        lines: Vec<(bool, String, String)>,
        audit: Option<String>,
    },
}

struct StoreView {
    events: Vec<crate::model::event::Event>,
    pending: i64,
    dead: i64,
    roles: std::collections::BTreeMap<String, String>,
}

pub(crate) async fn run(config: Config, args: Args) -> anyhow::Result<u8> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(crate::error::UsageError(
            "hawatch top needs a terminal; for scripts use `hawatch ctl show`, `hawatch events` or GET /api/state"
                .into(),
        )
        .into());
    }
    if config.instances.is_empty() {
        anyhow::bail!("no [[haproxy]] in the config: nothing to show");
    }
    let selected = match &args.instance {
        Some(n) => config
            .instances
            .iter()
            .position(|i| &i.name == n)
            .ok_or_else(|| crate::error::UsageError(format!("--instance: no [[haproxy]] named {n:?}")))?,
        None => 0,
    };
    let instances = config
        .instances
        .iter()
        .map(|i| Instance {
            name: i.name.clone(),
            source: match &i.source {
                Source::Socket(ep) => ep.to_string(),
                Source::Http { url, .. } => crate::config::redact_url(url.expose()),
            },
            socket: matches!(i.source, Source::Socket(_)),
            ..Default::default()
        })
        .collect();
    // NO_COLOR (https://no-color.org): present and not empty.
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut app = App::new(instances, args.read_only, color);
    app.selected = selected;
    app.node.host = config.notify.host.clone();
    app.zone = config.notify.zone;
    if let Some(k) = &config.keepalived {
        let addrs = crate::source::vip::local_addresses();
        let held = crate::source::vip::held(&k.vips, &addrs);
        app.node.vips = k
            .vips
            .iter()
            .map(|v| (v.to_string(), held.contains(&v.to_string())))
            .collect();
        if let Some((url, _)) = &k.peer {
            app.peer = Some(Peer {
                url: url.clone(),
                error: Some("not asked yet".into()),
                ..Default::default()
            });
        }
    }

    // Raw mode and the alternate screen first (nothing is started if that
    // fails); ratatui's panic hook restores both.
    let mut terminal = ratatui::try_init()?;
    // A panic on another thread (a poller's task) restored the terminal too:
    // the loop must not draw on the normal screen after it, so it ends.
    let before = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, std::sync::atomic::Ordering::SeqCst);
        before(info);
    }));
    let config = Arc::new(config);
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel::<Msg>(256);
    let wake: Vec<Arc<Notify>> = config.instances.iter().map(|_| Arc::new(Notify::new())).collect();
    for (i, w) in wake.iter().enumerate() {
        tokio::spawn(poller(
            config.clone(),
            i,
            args.interval,
            tx.clone(),
            w.clone(),
            cancel.clone(),
        ));
    }
    tokio::spawn(store_reader(config.clone(), tx.clone(), cancel.clone()));
    if let Some((url, auth)) = config.keepalived.as_ref().and_then(|k| k.peer.clone()) {
        tokio::spawn(peer_reader(url, auth, tx.clone(), cancel.clone()));
    }
    let input = input_thread(tx.clone(), cancel.clone());
    let mut changes = tokio::task::JoinSet::new();
    let result = event_loop(&mut terminal, &mut app, &mut rx, &tx, &config, &wake, &mut changes).await;
    cancel.cancel();
    ratatui::restore();
    // The input thread may wait on a full channel: closing it ends that wait.
    drop(rx);
    let _ = input.join();
    // A change still running finishes, and its audit events are stored,
    // before top exits (bounded: each command has its instance's timeout).
    if !changes.is_empty() {
        eprintln!(
            "hawatch top: waiting for {} change(s) to finish and be audited…",
            changes.len()
        );
        let all = async { while changes.join_next().await.is_some() {} };
        if tokio::time::timeout(CHANGES_GRACE, all).await.is_err() {
            eprintln!("hawatch top: gave up waiting after {CHANGES_GRACE:?}; see `hawatch events --kind audit_ctl`");
        }
    }
    result.map(|_| 0)
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    rx: &mut mpsc::Receiver<Msg>,
    tx: &mpsc::Sender<Msg>,
    config: &Arc<Config>,
    wake: &[Arc<Notify>],
    changes: &mut tokio::task::JoinSet<()>,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        // Changes that ended are collected (the ones still running are
        // waited for when top quits).
        while changes.try_join_next().is_some() {}
        if PANICKED.load(std::sync::atomic::Ordering::SeqCst) {
            anyhow::bail!("hawatch top stopped after an internal error (above); please report it");
        }
        terminal.draw(|f| ui::draw(f, app, Utc::now()))?;
        let msg = tokio::select! {
            m = rx.recv() => m,
            _ = tick.tick() => Some(Msg::Redraw),
            _ = term.recv() => return Ok(()),
            _ = hup.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        };
        let Some(first) = msg else { return Ok(()) };
        // Everything already waiting, then one frame.
        let mut batch = vec![first];
        while let Ok(m) = rx.try_recv() {
            batch.push(m);
            if batch.len() >= 256 {
                break;
            }
        }
        for m in batch {
            if let Some(Effect::Quit) = handle(app, m, tx, config, wake, changes) {
                return Ok(());
            }
        }
    }
}

fn handle(
    app: &mut App,
    m: Msg,
    tx: &mpsc::Sender<Msg>,
    config: &Arc<Config>,
    wake: &[Arc<Notify>],
    changes: &mut tokio::task::JoinSet<()>,
) -> Option<Effect> {
    match m {
        Msg::Key(k) => match app.on_key(k)? {
            Effect::Quit => return Some(Effect::Quit),
            Effect::Read { instance, line } => {
                let (config, tx) = (config.clone(), tx.clone());
                tokio::spawn(async move {
                    let name = config.instances[instance].name.clone();
                    let found = crate::ops::socket_instances(&config)
                        .into_iter()
                        .find(|(n, _, _)| *n == name);
                    let cmd = visible(line.as_str()).into_owned();
                    let (ok, reply) = match found {
                        Some((_, ep, timeout)) => {
                            let client = haproxy::Client::new(ep).timeout(timeout).max_reply(MAX_READ_REPLY);
                            match client.send(&[haproxy::Command::Typed(line)]).await {
                                Ok(r) => (true, crate::text::visible_lines(r.trim_end())),
                                Err(e) => (
                                    false,
                                    visible(&crate::model::snapshot::SourceError::from(e).to_string()).into_owned(),
                                ),
                            }
                        }
                        None => (false, format!("{name} has no Runtime API socket")),
                    };
                    let _ = tx
                        .send(Msg::Done {
                            instance,
                            typed: true,
                            lines: vec![(ok, cmd, reply)],
                            audit: None,
                        })
                        .await;
                });
            }
            Effect::Run { instance, jobs, typed } => {
                let (config, tx) = (config.clone(), tx.clone());
                let wake = wake.get(instance).cloned();
                changes.spawn(async move {
                    let name = config.instances[instance].name.clone();
                    let found = crate::ops::socket_instances(&config)
                        .into_iter()
                        .find(|(n, _, _)| *n == name);
                    let msg = match found {
                        Some((_, ep, timeout)) => {
                            let (done, audit) = crate::ops::ctl::execute(&config, &name, &ep, timeout, jobs).await;
                            Msg::Done {
                                instance,
                                typed,
                                lines: done
                                    .iter()
                                    .map(|d| {
                                        let reply = if typed {
                                            crate::text::visible_lines(&d.reply)
                                        } else {
                                            visible(&d.reply).into_owned()
                                        };
                                        (d.ok, visible(&d.command).into_owned(), reply)
                                    })
                                    .collect(),
                                audit: audit.err().map(|e| visible(&format!("{e:#}")).into_owned()),
                            }
                        }
                        None => Msg::Done {
                            instance,
                            typed,
                            lines: Vec::new(),
                            audit: Some(format!("{name} has no Runtime API socket")),
                        },
                    };
                    let _ = tx.send(msg).await;
                    if let Some(w) = wake {
                        w.notify_one();
                    }
                });
            }
        },
        Msg::Redraw => {}
        Msg::Polled(i, r) => {
            let now = Utc::now();
            if let Some(inst) = app.instances.get_mut(i) {
                inst.last_poll = Some(now);
                match r {
                    Ok((snap, table)) => {
                        inst.error = None;
                        if let Some(p) = &snap.proc {
                            inst.version = p.version.as_deref().map(|v| visible(v).into_owned());
                            inst.started = p.start_time;
                        }
                        app.set_table(i, table);
                    }
                    Err(e) => inst.error = Some(e),
                }
            }
        }
        Msg::Store(Ok(s)) => {
            app.events = s.events;
            app.node.outbox = Some((s.pending, s.dead));
            app.node.roles = s.roles;
            app.node.store_error = None;
        }
        Msg::Store(Err(e)) => app.node.store_error = Some(visible(&e).into_owned()),
        Msg::Peer(p) => app.set_peer(p),
        Msg::Done {
            instance,
            typed,
            lines,
            audit,
        } => app.done(instance, typed, lines, audit),
    }
    None
}

/// Polls one instance every `interval` (or at once when woken after a change).
async fn poller(
    config: Arc<Config>,
    i: usize,
    interval: Duration,
    tx: mpsc::Sender<Msg>,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    let inst = config.instances[i].clone();
    let http = crate::source::http_client(&inst);
    let mut hint = 0;
    loop {
        let obs = tokio::select! {
            o = crate::source::poll(&inst, &http, hint) => o,
            _ = cancel.cancelled() => return,
        };
        let r = match obs {
            Ok(snap) => {
                hint = snap.stat.text().len();
                // A 10,000-server reply takes milliseconds to read: off the loop.
                tokio::task::spawn_blocking(move || {
                    let t = Table::build(&snap.stat);
                    (snap, t)
                })
                .await
                .map_err(|e| visible(&e.to_string()).into_owned())
            }
            Err(e) => Err(visible(&e.to_string()).into_owned()),
        };
        if tx.send(Msg::Polled(i, r)).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = wake.notified() => {}
            _ = cancel.cancelled() => return,
        }
    }
}

/// Reads the store every second: the newest events, the outbox, the VRRP roles.
async fn store_reader(config: Arc<Config>, tx: mpsc::Sender<Msg>, cancel: CancellationToken) {
    let path = config.watch.store.clone();
    let mut store: Option<Store> = None;
    loop {
        let opened = store.take();
        let p = path.clone();
        let r = tokio::task::spawn_blocking(move || {
            let s = match opened {
                Some(s) => s,
                None => Store::open_existing(&p).map_err(|e| e.to_string())?,
            };
            let events = s
                .events(&EventFilter {
                    limit: Some(EVENTS),
                    ..Default::default()
                })
                .map_err(|e| e.to_string())?;
            let stats = s.outbox_stats().map_err(|e| e.to_string())?;
            let roles = crate::keepalived::vrrp::Kept::load(&s)
                .map(|k| k.states)
                .unwrap_or_default();
            let view = StoreView {
                events,
                pending: stats.iter().map(|x| x.pending).sum(),
                dead: stats.iter().map(|x| x.dead).sum(),
                roles: roles
                    .into_iter()
                    .map(|(k, v)| (visible(&k).into_owned(), visible(&v).into_owned()))
                    .collect(),
            };
            Ok::<_, String>((s, view))
        })
        .await;
        let msg = match r {
            Ok(Ok((s, view))) => {
                store = Some(s);
                Msg::Store(Ok(view))
            }
            Ok(Err(e)) => Msg::Store(Err(e)),
            Err(e) => Msg::Store(Err(e.to_string())),
        };
        if tx.send(msg).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

/// Asks the peer's hawatch (`/api/vrrp`, `/api/state`) every 2 s.
async fn peer_reader(
    url: String,
    auth: Option<(String, crate::config::Secret)>,
    tx: mpsc::Sender<Msg>,
    cancel: CancellationToken,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    let mut last_ok = None;
    loop {
        let get = |path: &'static str| {
            let mut req = http.get(format!("{url}{path}"));
            if let Some((u, p)) = &auth {
                req = req.basic_auth(u, Some(p.expose()));
            }
            async move {
                let mut resp = req
                    .send()
                    .await
                    .map_err(|e| crate::error::error_chain(&e.without_url()))?;
                if !resp.status().is_success() {
                    return Err(format!("{path}: HTTP {}", resp.status().as_u16()));
                }
                let mut body = Vec::new();
                while let Some(chunk) = resp.chunk().await.map_err(|e| e.without_url().to_string())? {
                    if body.len() + chunk.len() > MAX_PEER_ANSWER {
                        return Err(format!("{path}: answer longer than {MAX_PEER_ANSWER} bytes"));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok::<_, String>(body)
            }
        };
        // `/api/state` is needed; `/api/vrrp` answers 404 on a node without
        // `[keepalived]`, which only leaves its role unknown.
        let answer = tokio::select! {
            a = async {
                let state = get("/api/state").await?;
                let vrrp = get("/api/vrrp").await.unwrap_or_else(|_| b"{}".to_vec());
                Ok::<_, String>((vrrp, state))
            } => a,
            _ = cancel.cancelled() => return,
        };
        // Up to 16 MB of JSON: parsed off the runtime's workers.
        let parsed = match answer {
            Ok((v, s)) => tokio::task::spawn_blocking(move || parse_peer(&v, &s))
                .await
                .unwrap_or_else(|e| Err(e.to_string())),
            Err(e) => Err(e),
        };
        let mut peer = match parsed {
            Ok(p) => {
                last_ok = Some(Utc::now());
                p
            }
            Err(e) => Peer {
                error: Some(visible(&e).into_owned()),
                ..Default::default()
            },
        };
        peer.url = url.clone();
        peer.last_ok = last_ok;
        if tx.send(Msg::Peer(peer)).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

/// The peer's `/api/vrrp` and `/api/state` answers (docs/api.md). Untrusted:
/// any JSON is read without a panic, every string is made visible, at most
/// [`MAX_PEER_SERVERS`] servers are kept.
pub fn parse_peer(vrrp: &[u8], state: &[u8]) -> Result<Peer, String> {
    use serde_json::Value;
    let v: Value = serde_json::from_slice(vrrp).map_err(|e| format!("/api/vrrp: not JSON: {e}"))?;
    let s: Value = serde_json::from_slice(state).map_err(|e| format!("/api/state: not JSON: {e}"))?;
    let text = |x: &Value| x.as_str().map(|t| visible(t).into_owned());
    let mut peer = Peer {
        host: text(&v["host"]),
        vips_held: v["vips_held"]
            .as_array()
            .map(|a| a.iter().take(64).filter_map(text).collect())
            .unwrap_or_default(),
        roles: v["states"]
            .as_object()
            .map(|o| {
                o.iter()
                    .take(64)
                    .filter_map(|(k, x)| Some((visible(k).into_owned(), text(x)?)))
                    .collect()
            })
            .unwrap_or_default(),
        outbox: v["pair"]["sinks"].as_array().map(|a| {
            a.iter()
                .filter_map(|s| s["pending"].as_i64())
                .fold(0, i64::saturating_add)
        }),
        ..Default::default()
    };
    let mut budget = MAX_PEER_SERVERS;
    for inst in s["instances"].as_array().into_iter().flatten().take(256) {
        let mut p = PeerInstance {
            name: text(&inst["name"]).unwrap_or_default(),
            version: text(&inst["version"]),
            last_poll: inst["last_poll"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
            ..Default::default()
        };
        for b in inst["backends"].as_array().into_iter().flatten() {
            let bname = text(&b["name"]).unwrap_or_default();
            for sv in b["servers"].as_array().into_iter().flatten() {
                if budget == 0 {
                    peer.truncated = true;
                    break;
                }
                budget -= 1;
                let name = text(&sv["name"]).unwrap_or_default();
                let state = text(&sv["state"]).unwrap_or_else(|| "?".into());
                p.servers.insert(format!("{bname}/{name}"), state);
            }
        }
        peer.instances.push(p);
    }
    Ok(peer)
}

/// Reads the terminal's keys on a thread of its own (crossterm's reads
/// block), until `cancel`. Polls with a 100 ms timeout so it ends soon after.
fn input_thread(tx: mpsc::Sender<Msg>, cancel: CancellationToken) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !cancel.is_cancelled() {
            match crossterm::event::poll(Duration::from_millis(100)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => return,
            }
            let msg = match crossterm::event::read() {
                Ok(TermEvent::Key(k)) if k.kind != KeyEventKind::Release => Msg::Key(k),
                Ok(TermEvent::Resize(..)) => Msg::Redraw,
                Ok(_) => continue,
                Err(_) => return,
            };
            if tx.blocking_send(msg).is_err() {
                return;
            }
        }
    })
}
