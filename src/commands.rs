//! The small subcommands: `events`, `outbox [retry]`, `notify test`, `config check|show`. `watch`
//! lives in [`crate::watch`], `demo` in [`crate::demo`].

use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;

use crate::cli::{Cli, Command, ConfigCommand, EventsArgs, NotifyCommand, OutboxAction, OutboxArgs};
use crate::config::Config;
use crate::error::UsageError;
use crate::store::{EventFilter, Store};

/// Exit status: 0 ok, 1 failure, 2 bad configuration or usage.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let Cli {
        command, config, store, ..
    } = cli;
    // `--config` and `--store` are declared once, for every subcommand; say
    // so when one is given to a command that does not read it.
    let takes_store = matches!(command, Command::Events(_) | Command::Outbox(_));
    if store.is_some() && !takes_store {
        return Err(UsageError("--store is read by `events` and `outbox` only".into()).into());
    }
    if config.is_some()
        && matches!(
            command,
            Command::Demo { .. } | Command::KeepalivedConfig(_) | Command::Completions { .. } | Command::Man { .. }
        )
    {
        return Err(
            UsageError("--config is not read by `demo`, `keepalived-config`, `completions` or `man`".into()).into(),
        );
    }
    // The one place a path becomes a configuration: the layers below get a
    // validated `Config` (or, for the daemons, this loader for each SIGHUP).
    let load = || -> anyhow::Result<Config> { Ok(Config::load(config.as_deref())?) };
    match command {
        Command::Watch { once: false } => crate::watch::daemon::watch_until(load, Default::default())
            .await
            .map(|_| 0),
        Command::Watch { once: true } => crate::watch::daemon::once(load()?)
            .await
            .map(|ok| if ok { 0 } else { 1 }),
        Command::Agent { once: false } => crate::agent::daemon::run(load).await.map(|_| 0),
        Command::Agent { once: true } => crate::agent::once(load()?).await.map(|_| 0),
        Command::Check => crate::keepalived::check::run(Config::load_check(config.as_deref())?).await,
        Command::VrrpNotify { args, arrived_ms } => crate::keepalived::vrrp::notify(load, args, arrived_ms).await,
        Command::KeepalivedConfig(a) => keepalived_config(a).map(|_| 0),
        Command::Deliver => crate::runtime::deliver(load()?).await.map(|ok| u8::from(!ok)),
        Command::Ctl(a) => ctl(a, load()?).await,
        Command::Doctor { explain: Some(id), .. } => crate::ops::doctor::explain(&id),
        Command::Doctor {
            haproxy_config,
            haproxy,
            keepalived,
            offline,
            json,
            explain: None,
        } => {
            let args = crate::ops::doctor::Args {
                files: haproxy_config,
                haproxy,
                keepalived,
                offline,
                json,
            };
            crate::ops::doctor::run(load()?, args).await
        }
        Command::Apply {
            new,
            rollback,
            dry_run,
            yes,
            force,
            instance,
        } => {
            let a = crate::ops::apply::Apply {
                config: load()?,
                instance,
                yes,
                force,
            };
            a.run(if rollback { None } else { new.as_deref() }, dry_run).await
        }
        Command::Top {
            read_only,
            interval,
            instance,
        } => {
            let args = crate::top::Args {
                read_only,
                interval: interval.max(std::time::Duration::from_millis(200)),
                instance,
            };
            crate::top::run(load()?, args).await
        }
        Command::Events(a) => events(a, config, store).map(|_| 0),
        Command::Outbox(OutboxArgs { action: None }) => outbox(config, store).map(|_| 0),
        Command::Outbox(OutboxArgs {
            action: Some(OutboxAction::Retry { sink, ids }),
        }) => outbox_retry(config, store, sink, ids).map(|_| 0),
        Command::Notify(NotifyCommand::Test { sink }) => notify_test(config, sink).await.map(|c| c as u8),
        Command::Config(ConfigCommand::Check) => {
            let cfg = Config::load(config.as_deref())?;
            let from = cfg
                .path
                .as_ref()
                .map_or("environment variables".to_string(), |p| p.display().to_string());
            let agent = cfg.agent.as_ref().map_or(String::new(), |a| {
                format!(", an agent with {} check(s)", a.checks.len())
            });
            println!(
                "{from}: ok ({} instance(s), {} sink(s){agent})",
                cfg.instances.len(),
                cfg.sinks.len()
            );
            Ok(0)
        }
        Command::Config(ConfigCommand::Show) => {
            print!("{}", Config::load(config.as_deref())?.to_redacted_toml());
            Ok(0)
        }
        Command::Demo { haproxy } => crate::demo::run(haproxy).await.map(|_| 0),
        Command::Completions { shell } => {
            // Rendered into memory first: clap_complete panics on a write error
            // (`hawatch completions bash | head` closes the pipe early).
            let mut script = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "hawatch",
                &mut script,
            );
            write_stdout(&script).map(|_| 0)
        }
        Command::Man { dir } => man(dir).map(|_| 0),
    }
}

/// Write `bytes` to stdout; a reader that went away (a closed pipe) is not an error.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// `hawatch man [DIR]`: clap_mangen renders the pages from the same definitions
/// as `--help`, so they cannot drift from it.
fn man(dir: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    use anyhow::Context;
    let cmd = <Cli as clap::CommandFactory>::command();
    match dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page)?;
            write_stdout(&page)
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir).with_context(|| format!("write the man pages into {}", dir.display()))
        }
    }
}

async fn ctl(a: crate::cli::CtlArgs, config: Config) -> anyhow::Result<u8> {
    use crate::cli::{CtlAction, OnOff, ServerState};
    use crate::ops::ctl::{Action, Ctl};
    let c = Ctl {
        config,
        instance: a.instance,
        yes: a.yes,
    };
    let on = |o: OnOff| matches!(o, OnOff::Enable);
    match a.action {
        CtlAction::Server { target, state } => {
            let s = match state {
                ServerState::Ready => haproxy::Admin::Ready,
                ServerState::Drain => haproxy::Admin::Drain,
                ServerState::Maint => haproxy::Admin::Maint,
            };
            c.act(&target, Action::State(s)).await
        }
        // Checked by clap (crate::cli::weight_arg).
        CtlAction::Weight { target, weight } => c.act(&target, Action::Weight(weight)).await,
        CtlAction::Health { target, action } => c.act(&target, Action::Health(on(action))).await,
        CtlAction::Agent { target, action } => c.act(&target, Action::Agent(on(action))).await,
        CtlAction::Maxconn { target, maxconn } => c.act(&target, Action::Maxconn(maxconn)).await,
        CtlAction::Recover { backend, dry_run } => c.recover(backend.as_deref(), dry_run).await,
        CtlAction::Show { backend } => c.show(backend.as_deref()).await,
    }
}

fn keepalived_config(a: crate::cli::KeepalivedConfigArgs) -> anyhow::Result<()> {
    use crate::keepalived::generate::{parse_vip, Node, Pair};
    let nodes: Vec<Node> = a
        .nodes
        .iter()
        .map(|n| n.parse())
        .collect::<Result<_, String>>()
        .map_err(crate::error::UsageError)?;
    let [n0, n1] =
        <[Node; 2]>::try_from(nodes).map_err(|_| anyhow::anyhow!("give exactly two --node NAME=IP:PRIORITY"))?;
    let pair = Pair {
        nodes: [n0, n1],
        interface: a.interface,
        vip: parse_vip(&a.vip).map_err(crate::error::UsageError)?,
        router_id: a.router_id,
        hawatch: a.hawatch,
        config: a.hawatch_config,
        fifo: a.fifo,
        fifo_owner: a.fifo_owner,
        socket: a.socket,
        backends: a.backends,
    };
    pair.validate().map_err(anyhow::Error::msg)?;
    match a.out {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            for i in 0..2 {
                let p = dir.join(format!("keepalived-{}.conf", pair.nodes[i].name));
                std::fs::write(&p, pair.keepalived_conf(i)).with_context(|| format!("cannot write {}", p.display()))?;
                println!("wrote {}", p.display());
            }
            let p = dir.join("hawatch-keepalived.toml");
            std::fs::write(&p, pair.hawatch_toml())?;
            println!("wrote {}", p.display());
            print!("\n{}", pair.haproxy_notes());
        }
        None => {
            for i in 0..2 {
                println!("{}", pair.keepalived_conf(i));
            }
            println!("{}", pair.hawatch_toml());
            print!("{}", pair.haproxy_notes());
        }
    }
    Ok(())
}

fn store_path(config: Option<PathBuf>, store: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match store {
        Some(s) => Ok(s),
        None => Ok(Config::load(config.as_deref())?.watch.store),
    }
}

fn events(a: EventsArgs, config: Option<PathBuf>, store: Option<PathBuf>) -> anyhow::Result<()> {
    let store = Store::open_existing(&store_path(config, store)?)?;
    if let Some(k) = &a.kind {
        if crate::model::event::Kind::parse(k).is_none() {
            let all: Vec<&str> = crate::model::event::Kind::ALL.iter().map(|k| k.as_str()).collect();
            return Err(
                crate::error::UsageError(format!("--kind {k:?}: unknown kind; one of {}", all.join(", "))).into(),
            );
        }
    }
    let filter = EventFilter {
        since: a.since.map(|s| s.0),
        instance: a.instance,
        backend: a.backend,
        server: a.server,
        kind: a.kind,
        limit: a.limit,
    };
    let evs = store.events(&filter)?;
    if a.json {
        // serde_json leaves DEL, C1 and bidi characters raw: escaped here (crate::text).
        println!("{}", crate::text::json_pretty(&evs)?);
    } else {
        use std::io::IsTerminal;
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        for e in &evs {
            println!("{}", crate::notify::console::line(e, color));
        }
        if evs.is_empty() {
            eprintln!("no events match");
        }
    }
    Ok(())
}

fn outbox(config: Option<PathBuf>, store: Option<PathBuf>) -> anyhow::Result<()> {
    let store = Store::open_existing(&store_path(config, store)?)?;
    let stats = store.outbox_stats()?;
    if stats.is_empty() {
        println!("outbox is empty");
    }
    for s in stats {
        println!(
            "{:<20} pending {:>6} (held by quiet hours {})  delivered {:>8}  dead {:>4}{}{}{}",
            s.sink,
            s.pending,
            s.held,
            s.delivered,
            s.dead,
            if s.pair_held > 0 {
                format!("  held while the pair's other node tells them {}", s.pair_held)
            } else {
                String::new()
            },
            s.oldest_pending
                .map(|t| format!("  oldest pending {t}"))
                .unwrap_or_default(),
            s.last_error.map(|e| format!("  last error: {e}")).unwrap_or_default()
        );
    }
    let dead = store.dead_letters(None)?;
    if !dead.is_empty() {
        println!(
            "\ndead letters (undelivered for longer than the sink's max_age; `hawatch outbox retry` sends them again):"
        );
        for d in dead {
            println!(
                "  #{:<6} {:<16} {:<12} {} notice(s)  created {}  given up {}  after {} attempt(s){}",
                d.id,
                d.sink,
                d.instance,
                d.notices,
                d.created_at,
                d.died_at,
                d.attempts,
                d.last_error.map(|e| format!(": {e}")).unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn outbox_retry(
    config: Option<PathBuf>,
    store: Option<PathBuf>,
    sink: Option<String>,
    ids: Vec<i64>,
) -> anyhow::Result<()> {
    let store = Store::open_existing(&store_path(config, store)?)?;
    let n = store.retry_dead(sink.as_deref(), &ids)?;
    println!("{n} dead letter(s) put back in the outbox");
    Ok(())
}

/// `hawatch notify test`: one test message per sink, sent directly (not
/// through the outbox), with each service's verdict in plain words.
async fn notify_test(config: Option<PathBuf>, only: Option<String>) -> anyhow::Result<i32> {
    let cfg = crate::config::Config::load(config.as_deref())?;
    let sinks: Vec<&crate::config::Sink> = cfg
        .sinks
        .iter()
        .filter(|s| only.as_deref().is_none_or(|o| o == s.name))
        .collect();
    if sinks.is_empty() {
        let names: Vec<&str> = cfg.sinks.iter().map(|s| s.name.as_str()).collect();
        return Err(crate::error::UsageError(format!(
            "no sink named {:?}; configured sinks: {}",
            only.unwrap_or_default(),
            names.join(", ")
        ))
        .into());
    }
    let http = crate::notify::http_client();
    let mut failed = 0;
    for s in sinks {
        let sink = crate::notify::Sink::new(s, &cfg.notify, http.clone());
        let d = crate::notify::Delivery {
            id: format!("{}-test-{}", s.name, Utc::now().timestamp_millis()),
            sink: s.name.clone(),
            notices: vec![crate::logic::template::test_notice()],
            test: true,
        };
        let res = match tokio::time::timeout(s.timeout, sink.send(&d)).await {
            Ok(r) => r,
            Err(_) => Err(crate::notify::DeliveryError::timed_out(s.timeout)),
        };
        match res {
            Ok(()) => println!("{} ({}): ok", s.name, s.kind.type_name()),
            Err(e) => {
                failed += 1;
                println!("{} ({}): FAILED: {}", s.name, s.kind.type_name(), e.message);
            }
        }
    }
    Ok(if failed > 0 { 1 } else { 0 })
}
