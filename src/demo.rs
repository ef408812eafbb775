//! `hawatch demo`: a real HAProxy on loopback in front of servers hawatch
//! serves itself, a watcher with the console sink and the ring fast path, and
//! a short script that breaks and mends things. Each step waits (bounded) for
//! the event it should cause, so the demo doubles as a smoke test: it fails if
//! an expected event does not arrive. Everything it starts is stopped, and its
//! temporary directory removed, on success, failure or Ctrl-C.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use axum::{routing::get, Router};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::model::event::Kind;
use crate::store::{EventFilter, Store};

/// A tiny HTTP server answering `200 ok` on a fixed loopback port, which can
/// stop listening (so health checks get "connection refused") and resume.
struct AppServer {
    name: &'static str,
    port: u16,
    task: Option<JoinHandle<()>>,
}

impl AppServer {
    async fn start(name: &'static str) -> anyhow::Result<AppServer> {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        let port = l.local_addr()?.port();
        let mut s = AppServer { name, port, task: None };
        s.serve(l);
        Ok(s)
    }

    fn serve(&mut self, l: TcpListener) {
        let name = self.name;
        let app = Router::new().fallback(get(move || async move { format!("ok from {name}\n") }));
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        }));
    }

    fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    async fn resume(&mut self) -> anyhow::Result<()> {
        for _ in 0..50 {
            if let Ok(l) = TcpListener::bind(("127.0.0.1", self.port)).await {
                self.serve(l);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("could not listen on 127.0.0.1:{} again", self.port)
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The HAProxy master process, stopped (SIGTERM, then SIGKILL) on drop.
struct Haproxy {
    child: std::process::Child,
}

impl Haproxy {
    fn start(bin: &Path, cfg: &Path, dir: &Path) -> anyhow::Result<Haproxy> {
        let log = std::fs::File::create(dir.join("haproxy.log"))?;
        let child = std::process::Command::new(bin)
            .args(["-W", "-f"])
            .arg(cfg)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => anyhow::anyhow!(
                    "{} not found: install HAProxy (`apt-get install haproxy`) or pass --haproxy PATH",
                    bin.display()
                ),
                _ => anyhow::anyhow!("cannot start {}: {e}", bin.display()),
            })?;
        Ok(Haproxy { child })
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig);
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn haproxy_cfg(dir: &Path, servers: &[&AppServer], extra: Option<&AppServer>) -> String {
    let line = |s: &AppServer| format!("    server {} 127.0.0.1:{} check\n", s.name, s.port);
    let mut web = String::new();
    let mut api = String::new();
    for s in servers.iter().copied().chain(extra) {
        if s.name.starts_with("web") {
            web += &line(s)
        } else {
            api += &line(s)
        }
    }
    format!(
        "global\n    stats socket {sock} mode 600 level admin\n    stats timeout 1m\n    log ring@hawatch local0\n\n\
         ring hawatch\n    format rfc3164\n    maxlen 1200\n    size 65536\n\n\
         defaults\n    mode http\n    log global\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n    timeout check 1s\n\
         \x20   default-server inter 400ms fall 2 rise 1\n\n\
         backend web\n    option httpchk GET /health\n{web}\n\
         backend api\n    option httpchk GET /health\n{api}",
        sock = dir.join("admin.sock").display()
    )
}

/// Lets a person read what just happened.
async fn pause() {
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

fn say(step: &str) {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        println!("\n\x1b[1m▶ {step}\x1b[0m");
    } else {
        println!("\n▶ {step}");
    }
}

/// Waits (at most 60 s) until the watcher's baseline holds every server
/// settled UP. A server that never settled cannot go down (docs/events.md),
/// so breaking one before that would show nothing; a fixed pause was not
/// enough on a loaded machine, and 30 s once was not either (three test
/// suites at once on 2 cores).
async fn baseline(store: &Store) -> anyhow::Result<()> {
    let until = std::time::Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    for _ in 0..600 {
        if std::time::Instant::now() >= until {
            break;
        }
        let s = store.clone();
        let state = tokio::task::spawn_blocking(move || s.load_state("demo")).await??;
        if let Some(st) = &state {
            let seen: Vec<String> = st
                .backends
                .iter()
                .flat_map(|(b, be)| be.servers.iter().map(move |(n, v)| format!("{b}/{n}={:?}", v.settled)))
                .collect();
            last = format!("; last seen: {}", seen.join(" "));
        }
        let settled = state.is_some_and(|st| {
            st.seen
                && st.server_count() == 4
                && st
                    .backends
                    .values()
                    .all(|b| !b.unsettled && b.servers.values().all(|v| v.settled.as_deref() == Some("UP")))
        });
        if settled {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the watcher did not see every server UP within 60 s (see haproxy.log){last}")
}

/// Waits (at most 15 s) until the store holds an event of `kind` about `subject`.
async fn expect(store: &Store, kind: Kind, subject: &str) -> anyhow::Result<()> {
    for _ in 0..150 {
        let s = store.clone();
        let evs = tokio::task::spawn_blocking(move || {
            s.events(&EventFilter {
                kind: Some(kind.as_str().into()),
                ..Default::default()
            })
        })
        .await??;
        if evs.iter().any(|e| e.subject() == subject) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("expected a {kind} event for {subject} within 15 s, but none came (see haproxy.log)")
}

/// The demo HAProxy's Runtime API.
fn runtime_api(sock: &Path) -> haproxy::Client {
    haproxy::Client::new(haproxy::Endpoint::Unix(sock.to_path_buf()))
        .timeout(Duration::from_secs(2))
        .max_reply(1 << 20)
}

/// `set server web/SERVER state ...` on the demo HAProxy.
async fn set_state(sock: &Path, server: &str, state: haproxy::Admin) -> anyhow::Result<()> {
    let id = haproxy::ServerId::new("web", server)?;
    runtime_api(sock).set_server_state(&id, state).await?;
    Ok(())
}

pub(crate) async fn run(bin: PathBuf) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("hawatch-demo-").tempdir()?;
    let stop = CancellationToken::new();
    let script = script(&bin, dir.path(), stop.clone());
    let outcome = tokio::select! {
        r = script => r,
        _ = tokio::signal::ctrl_c() => {
            println!("\ninterrupted; cleaning up");
            Ok(())
        }
    };
    stop.cancel();
    outcome
}

async fn script(bin: &Path, dir: &Path, stop: CancellationToken) -> anyhow::Result<()> {
    let mut web1 = AppServer::start("web1").await?;
    let mut web2 = AppServer::start("web2").await?;
    let web3 = AppServer::start("web3").await?;
    let mut api1 = AppServer::start("api1").await?;
    let web4 = AppServer::start("web4").await?;
    let cfg_path = dir.join("haproxy.cfg");
    let sock = dir.join("admin.sock");
    std::fs::write(&cfg_path, haproxy_cfg(dir, &[&web1, &web2, &web3, &api1], None))?;
    println!("hawatch demo: HAProxy on loopback, backends `web` (web1-3) and `api` (api1), served by this process.");
    println!("working directory {} (removed at the end)", dir.display());
    let _haproxy = Haproxy::start(bin, &cfg_path, dir)?;
    let mut up = false;
    for _ in 0..50 {
        if runtime_api(&sock).show_info().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !up {
        let log = std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default();
        bail!("HAProxy did not start within 5 s:\n{log}");
    }

    let store_path = dir.join("hawatch.db");
    let watch_cfg = dir.join("hawatch.toml");
    // A free port for /metrics (taken from the kernel, then handed to the watcher).
    let http_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    std::fs::write(
        &watch_cfg,
        format!(
            "[watch]\ninterval = \"1s\"\nstore = {:?}\n\n[[haproxy]]\nname = \"demo\"\nsocket = {:?}\nring = \"hawatch\"\n\n[[sink]]\nname = \"console\"\ntype = \"console\"\n\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n",
            store_path.display().to_string(),
            sock.display().to_string()
        ),
    )?;
    let watcher = tokio::spawn(crate::watch::daemon::watch_until(
        {
            let p = watch_cfg.clone();
            move || Ok(crate::config::Config::load(Some(&p))?)
        },
        stop.clone(),
    ));
    let store = {
        let mut opened = None;
        for _ in 0..50 {
            if let Ok(s) = Store::open_existing(&store_path) {
                opened = Some(s);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        opened.context("the watcher did not create its store")?
    };
    say("hawatch takes a silent baseline of every server (servers settle after their first check)");
    baseline(&store).await?;

    say("web2's process stops listening: HAProxy's checks fail, hawatch reports it DOWN");
    web2.stop();
    expect(&store, Kind::ServerDown, "web/web2").await?;
    pause().await;

    say("web2 comes back");
    web2.resume().await?;
    expect(&store, Kind::ServerUp, "web/web2").await?;
    pause().await;

    say("an operator puts web1 into maintenance through the Runtime API");
    set_state(&sock, "web1", haproxy::Admin::Maint).await?;
    expect(&store, Kind::ServerMaint, "web/web1").await?;
    pause().await;
    set_state(&sock, "web1", haproxy::Admin::Ready).await?;
    expect(&store, Kind::ServerReady, "web/web1").await?;
    pause().await;

    say("api1, the only server of backend api, dies: one DOWN and a backend with no server left");
    api1.stop();
    expect(&store, Kind::BackendDown, "api").await?;
    pause().await;
    api1.resume().await?;
    expect(&store, Kind::BackendUp, "api").await?;
    pause().await;

    say("HAProxy reloads with a new server web4: one restart event and one new server, no storm");
    std::fs::write(&cfg_path, haproxy_cfg(dir, &[&web1, &web2, &web3, &api1], Some(&web4)))?;
    _haproxy.signal(nix::sys::signal::Signal::SIGUSR2);
    expect(&store, Kind::InstanceRestarted, "demo").await?;
    expect(&store, Kind::ServerAdded, "web/web4").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let url = format!("http://127.0.0.1:{http_port}/metrics");
    say(&format!("Prometheus scrapes hawatch like haproxy_exporter: {url}"));
    let text = reqwest::get(&url)
        .await
        .and_then(|r| r.error_for_status())
        .context("GET /metrics")?
        .text()
        .await?;
    let wanted = [
        "haproxy_up ",
        "haproxy_server_up{backend=\"web\",server=\"web4\"}",
        "haproxy_backend_up{backend=\"api\"}",
        "hawatch_events_total{",
    ];
    for w in wanted {
        let line = text.lines().find(|l| l.starts_with(w)).with_context(|| {
            format!(
                "/metrics has no `{w}` line:\n{}",
                &text[text.len().saturating_sub(2500)..]
            )
        })?;
        println!("    {line}");
    }

    web1.stop(); // nothing to report: the demo is over
    stop.cancel();
    watcher.await??;
    let all = store.events(&EventFilter::default())?;
    say(&format!(
        "done: {} events stored in SQLite, every one delivered to the console sink through the outbox",
        all.len()
    ));
    println!("Next: `hawatch config check --config examples/hawatch.toml`, then `hawatch watch --config ...`.");
    Ok(())
}
