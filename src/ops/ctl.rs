//! `hawatch ctl`: change servers through the Runtime API, with wildcards,
//! one confirmation, HAProxy's exact replies, and an audit event per action
//! stored and delivered like any other event (seed 002's runbook commands).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use globset::Glob;
use haproxy::{Admin, Client, Command, Endpoint, NameError, RowType, ServerId, Stat, Weight};

use crate::config::Config;
use crate::error::UsageError;
use crate::model::event::{Event, Kind, Severity};
use crate::model::snapshot::SourceError;
use crate::runtime::recorder::Recorder;
use crate::text::visible;

/// One server the command acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) backend: String,
    pub(crate) server: String,
    pub(crate) status: String,
}

/// The servers matching `BACKEND/SERVER` (globs) in a `show stat` reply. Pure.
pub(crate) fn select(stat: &Stat, pattern: &str) -> Result<Vec<Target>, String> {
    let (b, s) = pattern
        .split_once('/')
        .ok_or_else(|| format!("{pattern:?}: write BACKEND/SERVER (wildcards: app/*, */web1)"))?;
    let gb = Glob::new(b).map_err(|e| e.to_string())?.compile_matcher();
    let gs = Glob::new(s).map_err(|e| e.to_string())?.compile_matcher();
    let out: Vec<Target> = stat
        .rows()
        .filter(|r| r.kind() == RowType::Server && gb.is_match(&*r.pxname) && gs.is_match(&*r.svname))
        .map(|r| Target {
            backend: r.pxname.to_string(),
            server: r.svname.to_string(),
            status: r.status.to_string(),
        })
        .collect();
    if out.is_empty() {
        return Err(format!("no server matches {pattern:?}"));
    }
    Ok(out)
}

/// Servers an operator put in MAINT or DRAIN (not inherited, not the agent's,
/// not DNS resolution): what `ctl recover` brings back. Pure.
pub(crate) fn recoverable(stat: &Stat, backend: Option<&str>) -> Vec<Target> {
    stat.rows()
        .filter(|r| r.kind() == RowType::Server && backend.is_none_or(|b| r.pxname == b))
        .filter(|r| matches!(&*r.status, "MAINT" | "DRAIN"))
        .map(|r| Target {
            backend: r.pxname.to_string(),
            server: r.svname.to_string(),
            status: r.status.to_string(),
        })
        .collect()
}

/// What `ctl` does to each server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    State(Admin),
    Weight(Weight),
    Health(bool),
    Agent(bool),
    Maxconn(u32),
}

impl Action {
    /// The Runtime API command for one server; the haproxy crate checks the
    /// names (HAProxy's own never fail).
    pub(crate) fn command(&self, t: &Target) -> Result<Command, NameError> {
        let id = ServerId::new(t.backend.as_str(), t.server.as_str())?;
        Ok(match self {
            Action::State(s) => Command::SetServerState(id, *s),
            Action::Weight(w) => Command::SetServerWeight(id, *w),
            Action::Health(on) => Command::SetHealthCheck(id, *on),
            Action::Agent(on) => Command::SetAgentCheck(id, *on),
            Action::Maxconn(n) => Command::SetServerMaxconn(id, *n),
        })
    }
}

/// Who runs it: the sudo user if any, else the login user, and the host.
fn who(host: &str) -> String {
    let uid = nix::unistd::getuid();
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| nix::unistd::User::from_uid(uid).ok().flatten().map(|u| u.name))
        .unwrap_or_else(|| format!("uid {uid}"));
    format!("{user}@{host}")
}

/// What one command did: HAProxy's reply, or why it was not done.
#[derive(Debug, Clone)]
pub(crate) struct Done {
    pub(crate) command: String,
    pub(crate) ok: bool,
    pub(crate) reply: String,
}

impl Done {
    /// The reply as shown to the operator (`(no reply: done)` for silence).
    pub(crate) fn shown(&self) -> String {
        if self.reply.is_empty() {
            "(no reply: done)".to_string()
        } else {
            self.reply.clone()
        }
    }
}

/// Runs each command on `instance`, one connection each, and stores one
/// `audit_ctl` event per command (then delivered like any other event).
/// The one path for changes an operator makes: `hawatch ctl` and the
/// actions and Runtime API prompt of `hawatch top`. Confirmation is the
/// caller's. Nothing is sent when the store cannot be opened (no change
/// without its audit): then the outcomes are empty and the second value says
/// why. The second value is also `Err` when the audit could not be stored
/// after the commands ran (their outcomes are still shown).
pub(crate) async fn execute(
    config: &Config,
    instance: &str,
    ep: &Endpoint,
    timeout: Duration,
    jobs: Vec<(Command, Option<Target>)>,
) -> (Vec<Done>, anyhow::Result<()>) {
    // SQLite's open may wait on a lock: off the runtime's workers.
    let owned = config.clone();
    let recorder = match tokio::task::spawn_blocking(move || Recorder::one_shot(&owned)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            let e = anyhow::Error::from(e).context("nothing was sent: the audit events could not be stored");
            return (Vec::new(), Err(e));
        }
        Err(e) => return (Vec::new(), Err(anyhow::anyhow!("nothing was sent: {e}"))),
    };
    let who = who(&config.notify.host);
    let mut events = Vec::new();
    let mut out = Vec::new();
    let client = Client::new(ep.clone()).timeout(timeout).max_reply(64 * 1024);
    for (command, target) in &jobs {
        let cmd = command.to_string();
        let (ok, reply) = match client.run(command).await {
            Ok(r) => (true, r),
            // HAProxy answers errors in words (`No such server.`, `Invalid weight.`).
            Err(haproxy::Error::Rejected { reply, .. }) => (false, reply),
            Err(e) => (false, SourceError::from(e).to_string()),
        };
        let done = Done {
            command: cmd.clone(),
            ok,
            reply,
        };
        // A command typed at `top`'s prompt can be anything: HAProxy's words
        // after it may be a success (`New server registered.`) or a refusal,
        // and hawatch does not guess which. The audit keeps what it said.
        let replied = ok && matches!(command, Command::Typed(_)) && !done.reply.is_empty();
        let (status, outcome) = if !ok {
            ("failed", format!("failed: {}", done.shown()))
        } else if replied {
            ("replied", format!("HAProxy replied: {}", short_reply(&done.reply)))
        } else {
            ("ok", "ok".to_string())
        };
        let message = format!("{who} ran `{cmd}` on {instance}: {outcome}");
        let severity = if ok { Severity::Warning } else { Severity::Critical };
        events.push(Event {
            backend: target.as_ref().map(|t| t.backend.clone()),
            server: target.as_ref().map(|t| t.server.clone()),
            from: target.as_ref().map(|t| t.status.clone()),
            to: Some(cmd),
            status: Some(status.into()),
            ..Event::new(instance, Kind::AuditCtl, severity, message)
        });
        out.push(done);
    }
    // The audit trail: stored, then delivered by the watcher (or in the background).
    let audit = recorder
        .record(instance, events)
        .await
        .map(|_| ())
        .map_err(anyhow::Error::from);
    (out, audit)
}

/// A reply on one line, at most 300 characters (the audit message's).
fn short_reply(reply: &str) -> String {
    let one: String = reply.split_whitespace().collect::<Vec<_>>().join(" ");
    match one.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &one[..i]),
        None => one,
    }
}

pub(crate) struct Ctl {
    /// The configuration, loaded by the command line.
    pub(crate) config: Config,
    pub(crate) instance: Option<String>,
    pub(crate) yes: bool,
}

impl Ctl {
    fn load(&self) -> anyhow::Result<(Config, String, Endpoint, Duration)> {
        let config = self.config.clone();
        let sockets = super::socket_instances(&config);
        let names = || sockets.iter().map(|s| s.0.as_str()).collect::<Vec<_>>().join(", ");
        // Which instance is the operator's choice: a wrong one is a usage error (2).
        let (name, ep, timeout) = match &self.instance {
            Some(n) => match sockets.iter().find(|(x, _, _)| x == n) {
                Some(s) => s.clone(),
                None => {
                    return Err(UsageError(format!(
                    "--instance: no [[haproxy]] named {n:?} with a `socket` (ctl needs the Runtime API); there is: {}",
                    if sockets.is_empty() {
                        "none".to_string()
                    } else {
                        names()
                    }
                ))
                    .into())
                }
            },
            None => match sockets.len() {
                1 => sockets[0].clone(),
                0 => anyhow::bail!("no [[haproxy]] with a `socket`: ctl needs the Runtime API (level admin)"),
                _ => {
                    return Err(
                        UsageError(format!("several instances: say which with --instance ({})", names())).into(),
                    )
                }
            },
        };
        Ok((config, name, ep, timeout))
    }

    async fn stat(ep: &Endpoint, timeout: Duration) -> anyhow::Result<Stat> {
        match crate::source::socket_client(ep, timeout).show_stat().await {
            Ok(stat) => Ok(stat),
            Err(haproxy::Error::Reply(e)) => Err(anyhow::anyhow!("HAProxy's reply to `show stat`: {e}")),
            Err(e) => Err(SourceError::from(e).into()),
        }
    }

    fn confirm(&self, what: &str) -> anyhow::Result<bool> {
        if self.yes || !std::io::stdin().is_terminal() {
            return Ok(true);
        }
        print!("{what}\nProceed? [y/N] ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(matches!(line.trim(), "y" | "Y" | "yes"))
    }

    /// Runs `action` on every server matching `pattern`. Exit status: 0 all
    /// done, 1 some HAProxy refused, 3 not confirmed.
    pub(crate) async fn act(&self, pattern: &str, action: Action) -> anyhow::Result<u8> {
        let (config, instance, ep, timeout) = self.load()?;
        // A pattern that matches nothing is the operator's mistake: exit 2.
        let targets = select(&Ctl::stat(&ep, timeout).await?, pattern).map_err(UsageError)?;
        self.run(&config, &instance, &ep, timeout, targets, &action).await
    }

    /// `ctl recover`: operator-set MAINT/DRAIN servers back to ready.
    pub(crate) async fn recover(&self, backend: Option<&str>, dry_run: bool) -> anyhow::Result<u8> {
        let (config, instance, ep, timeout) = self.load()?;
        let targets = recoverable(&Ctl::stat(&ep, timeout).await?, backend);
        if targets.is_empty() {
            println!("nothing to recover: no server is in an operator's MAINT or DRAIN");
            return Ok(0);
        }
        if dry_run {
            for t in &targets {
                // Names and states are HAProxy's text: shown, never obeyed (crate::text).
                println!(
                    "would run: {}   (now {})",
                    visible(&Action::State(Admin::Ready).command(t)?.to_string()),
                    visible(&t.status)
                );
            }
            return Ok(0);
        }
        self.run(&config, &instance, &ep, timeout, targets, &Action::State(Admin::Ready))
            .await
    }

    async fn run(
        &self,
        config: &Config,
        instance: &str,
        ep: &Endpoint,
        timeout: Duration,
        targets: Vec<Target>,
        action: &Action,
    ) -> anyhow::Result<u8> {
        let jobs = targets
            .into_iter()
            .map(|t| Ok((action.command(&t)?, Some(t))))
            .collect::<Result<Vec<_>, NameError>>()?;
        let plan: Vec<String> = jobs
            .iter()
            .map(|(c, t)| {
                let now = t.as_ref().map(|t| visible(&t.status).into_owned()).unwrap_or_default();
                format!("  {}   (now {now})", visible(&c.to_string()))
            })
            .collect();
        if !self.confirm(&format!("On {instance} ({ep}):\n{}", plan.join("\n")))? {
            println!("nothing done");
            return Ok(3);
        }
        let (done, audit) = execute(config, instance, ep, timeout, jobs).await;
        for d in &done {
            println!(
                "{} {}: {}",
                if d.ok { "ok  " } else { "FAIL" },
                visible(&d.command),
                visible(&d.shown())
            );
        }
        audit?;
        Ok(if done.iter().any(|d| !d.ok) { 1 } else { 0 })
    }

    /// `ctl show [BACKEND]`: the servers, one line each.
    pub(crate) async fn show(&self, backend: Option<&str>) -> anyhow::Result<u8> {
        let (_, instance, ep, timeout) = self.load()?;
        let stat = Ctl::stat(&ep, timeout).await?;
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        println!("{instance} ({ep})");
        println!(
            "{:<24} {:<20} {:<16} {:>6} {:<10} LAST CHECK",
            "BACKEND", "SERVER", "STATUS", "WEIGHT", "CHECK"
        );
        let w = stat.select(&[
            "pxname",
            "svname",
            "status",
            "weight",
            "check_status",
            "last_chk",
            "type",
        ]);
        let mut shown = 0;
        for i in 0..w.len() {
            if w.row_type(i) != RowType::Server || backend.is_some_and(|b| w.cell(&stat, i, 0) != b) {
                continue;
            }
            let cell = |c: usize| visible(w.cell(&stat, i, c));
            let status = cell(2);
            let painted = if color {
                let c = match haproxy::ServerStatus::parse(w.cell(&stat, i, 2)).state {
                    haproxy::State::Up | haproxy::State::NoCheck => "32",
                    haproxy::State::Down => "31",
                    _ => "33",
                };
                format!("\x1b[{c}m{status:<16}\x1b[0m")
            } else {
                format!("{status:<16}")
            };
            println!(
                "{:<24} {:<20} {painted} {:>6} {:<10} {}",
                cell(0),
                cell(1),
                cell(3),
                cell(4),
                cell(5)
            );
            shown += 1;
        }
        match (shown, backend) {
            (0, Some(b)) => return Err(UsageError(format!("no server in backend {b:?}")).into()),
            (0, None) => anyhow::bail!("no server"),
            _ => {}
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = include_str!("../../tests/fixtures/haproxy-2.6/show-stat.csv");

    #[test]
    fn wildcards_and_recoverable_servers() {
        let stat = Stat::parse(STAT.to_string()).unwrap();
        let all = select(&stat, "be_app/*").unwrap();
        assert!(all.len() >= 3 && all.iter().all(|t| t.backend == "be_app"));
        let one = select(&stat, "*/app2").unwrap();
        assert_eq!(one.len(), 1);
        assert!(select(&stat, "nope/*").unwrap_err().contains("no server"));
        assert!(select(&stat, "be_app").unwrap_err().contains("BACKEND/SERVER"));
        // t2 is MAINT (set by an operator in the capture).
        assert!(recoverable(&stat, None).iter().any(|t| t.server == "t2"));
        assert!(recoverable(&stat, Some("be_app")).iter().all(|t| t.backend == "be_app"));
        let t = &one[0];
        let command = |a: Action| a.command(t).unwrap().to_string();
        assert_eq!(
            command(Action::State(Admin::Drain)),
            "set server be_app/app2 state drain"
        );
        assert_eq!(
            command(Action::Weight("50%".parse().unwrap())),
            "set server be_app/app2 weight 50%"
        );
        assert_eq!(command(Action::Agent(false)), "disable agent be_app/app2");
        assert_eq!(command(Action::Maxconn(10)), "set maxconn server be_app/app2 10");
        // A name that would change the command line is refused, not sent.
        let hostile = Target {
            server: "app2;shutdown sessions".into(),
            ..t.clone()
        };
        assert!(Action::State(Admin::Drain).command(&hostile).is_err());
    }

    #[test]
    fn a_reply_in_the_audit_is_one_short_line() {
        assert_eq!(short_reply("New server registered.\n"), "New server registered.");
        assert_eq!(short_reply("a\nb   c"), "a b c");
        let long = "x".repeat(400);
        assert_eq!(short_reply(&long).chars().count(), 301);
        assert!(short_reply(&"中".repeat(400)).ends_with('…'));
    }
}
