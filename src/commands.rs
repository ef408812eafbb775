//! The small subcommands: `events`, `outbox`, `config check|show`. `watch`
//! lives in [`crate::app`], `demo` in [`crate::demo`].

use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::cli::{Cli, Command, ConfigCommand, EventsArgs};
use crate::config::Config;
use crate::store::{EventFilter, Store};

/// Exit status: 0 ok, 1 failure, 2 bad configuration or usage.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Watch { config, once: false } => crate::app::watch(config.config).await.map(|_| 0),
        Command::Watch { config, once: true } => crate::app::once(config.config).await.map(|ok| if ok { 0 } else { 1 }),
        Command::Events(a) => events(a).map(|_| 0),
        Command::Outbox { config, store } => outbox(config.config, store).map(|_| 0),
        Command::Config(ConfigCommand::Check(c)) => {
            let cfg = Config::load(c.config.as_deref())?;
            let from = cfg
                .path
                .as_ref()
                .map_or("environment variables".to_string(), |p| p.display().to_string());
            println!(
                "{from}: ok ({} instance(s), {} sink(s))",
                cfg.instances.len(),
                cfg.sinks.len()
            );
            Ok(0)
        }
        Command::Config(ConfigCommand::Show(c)) => {
            print!("{}", Config::load(c.config.as_deref())?.to_redacted_toml());
            Ok(0)
        }
        Command::Demo { haproxy } => crate::demo::run(haproxy).await.map(|_| 0),
    }
}

fn store_path(config: Option<PathBuf>, store: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match store {
        Some(s) => Ok(s),
        None => Ok(Config::load(config.as_deref())?.watch.store),
    }
}

/// `--since`: `1h`-style durations back from now, or an RFC 3339 time.
pub fn parse_since(s: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = humantime::parse_duration(s)
        .with_context(|| format!("--since {s:?}: expected a duration like 90s, 1h, 2d or an RFC 3339 time"))?;
    Ok(now - chrono::Duration::from_std(d).context("--since: duration too large")?)
}

fn events(a: EventsArgs) -> anyhow::Result<()> {
    let store = Store::open_existing(&store_path(a.config.config, a.store)?)?;
    if let Some(k) = &a.kind {
        if crate::event::Kind::parse(k).is_none() {
            let all: Vec<&str> = crate::event::Kind::ALL.iter().map(|k| k.as_str()).collect();
            anyhow::bail!("--kind {k:?}: unknown kind; one of {}", all.join(", "));
        }
    }
    let filter = EventFilter {
        since: a.since.as_deref().map(|s| parse_since(s, Utc::now())).transpose()?,
        instance: a.instance,
        backend: a.backend,
        server: a.server,
        kind: a.kind,
        limit: a.limit,
    };
    let evs = store.events(&filter)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&evs)?);
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
            "{:<20} pending {:>6}  delivered {:>8}{}{}",
            s.sink,
            s.pending,
            s.delivered,
            s.oldest_pending
                .map(|t| format!("  oldest pending {t}"))
                .unwrap_or_default(),
            s.last_error.map(|e| format!("  last error: {e}")).unwrap_or_default()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_forms() {
        let now = Utc::now();
        assert_eq!(parse_since("1h", now).unwrap(), now - chrono::Duration::hours(1));
        assert_eq!(
            parse_since("2026-11-20T10:00:00Z", now).unwrap().to_rfc3339(),
            "2026-11-20T10:00:00+00:00"
        );
        assert!(parse_since("yesterday", now).is_err());
    }
}
