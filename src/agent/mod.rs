//! `hawatch agent`: answers HAProxy's `agent-check` with what background
//! checks found (docs/agent.md). Checks run on their own intervals and the
//! reply is recomputed when a result arrives, so a reply never waits for a
//! check: the server writes a line prepared in advance.
//!
//! sources (checks) → rules → reply table → server; a change of the state
//! told to HAProxy is an event, stored and delivered like the watcher's.

pub(crate) mod checks;
pub(crate) mod daemon;
mod server;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use prometheus_client::metrics::counter::Counter;
use tokio_util::sync::CancellationToken;

use crate::config::{Agent, CheckKind, Config};
use crate::logic::agent_rules::{Outcome, Status};
use crate::model::event::{Event, Kind, Severity};

/// A reply ready to be written: the bytes, and the counter it increments.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) line: Arc<[u8]>,
    pub(crate) state: &'static str,
    pub(crate) counter: Counter,
}

/// Every reply the agent may give now.
#[derive(Debug)]
pub(crate) struct Table {
    /// For clients that send nothing, or a string no check names.
    pub(crate) default: Prepared,
    /// By `agent-send` string (trimmed).
    pub(crate) services: HashMap<String, Prepared>,
    /// Some check is scoped to a service: read HAProxy's `agent-send` first.
    pub(crate) needs_read: bool,
}

impl Table {
    pub(crate) fn pick(&self, sent: &str) -> &Prepared {
        self.services.get(sent.trim()).unwrap_or(&self.default)
    }
}

fn prepare(reply: &haproxy::agent::Reply) -> Prepared {
    let state = crate::logic::agent_rules::state_word(reply);
    Prepared {
        line: Arc::from(reply.to_line().into_bytes()),
        state,
        counter: crate::metrics::telemetry().agent_reply(state),
    }
}

/// The services some check names.
fn services(agent: &Agent) -> Vec<String> {
    let mut s: Vec<String> = agent.checks.iter().flat_map(|c| c.services.iter().cloned()).collect();
    s.sort();
    s.dedup();
    s
}

/// Computes every reply from the latest outcomes; `ready(svc)` says which
/// replies (`""`: the default) carry `ready` (see [`crate::logic::agent_rules::READY_HOLD`]).
pub(crate) fn table(agent: &Agent, outcomes: &[Outcome], ready: &dyn Fn(&str) -> bool) -> Table {
    let statuses: Vec<Status> = agent
        .checks
        .iter()
        .zip(outcomes)
        .map(|(c, o)| Status {
            name: &c.name,
            services: &c.services,
            outcome: o,
        })
        .collect();
    let names = services(agent);
    let reply = |svc: Option<&str>| {
        let mut r = crate::logic::agent_rules::reply_for(svc, &statuses);
        if r.admin.is_none() && ready(svc.unwrap_or("")) {
            r.admin = Some(haproxy::agent::Admin::Ready);
        }
        prepare(&r)
    };
    Table {
        default: reply(None),
        services: names.iter().map(|s| (s.clone(), reply(Some(s)))).collect(),
        needs_read: !names.is_empty(),
    }
}

/// Tracks when replies must carry `ready`: for [`crate::logic::agent_rules::READY_HOLD`] after a
/// service's state left `maint` or `drain`.
#[derive(Debug, Default)]
struct ReadyHold(HashMap<String, Instant>);

impl ReadyHold {
    /// Notes the transitions from `before` to `after` (per service).
    fn note(&mut self, before: &States, after: &States, now: Instant) {
        let admin = |s: Option<&String>| s.is_some_and(|s| s == "maint" || s == "drain");
        for (svc, st) in after {
            if admin(before.get(svc)) && !admin(Some(st)) {
                self.0.insert(svc.clone(), now + crate::logic::agent_rules::READY_HOLD);
            }
        }
        self.0.retain(|_, until| *until > now);
    }

    fn active(&self, svc: &str, now: Instant) -> bool {
        self.0.get(svc).is_some_and(|u| *u > now)
    }
}

/// The table for new outcomes, with `ready` where the hold says so.
fn next_table(agent: &Agent, outcomes: &[Outcome], before: &States, hold: &mut ReadyHold) -> Table {
    let now = Instant::now();
    let plain = table(agent, outcomes, &|_| false);
    hold.note(before, &states(&plain), now);
    table(agent, outcomes, &|s| hold.active(s, now))
}

/// What the agent tells HAProxy, per service (`""`: the default reply).
type States = BTreeMap<String, String>;

fn states(t: &Table) -> States {
    let mut m = States::new();
    m.insert(String::new(), t.default.state.to_string());
    for (k, p) in &t.services {
        m.insert(k.clone(), p.state.to_string());
    }
    m
}

fn reason_of(line: &[u8]) -> String {
    let l = String::from_utf8_lossy(line);
    l.split_once(" #")
        .map(|(_, r)| r.trim().to_string())
        .unwrap_or_default()
}

/// Events for the states that changed.
fn changes(agent: &Agent, before: &States, t: &Table) -> Vec<Event> {
    let now = Utc::now();
    let mut out = Vec::new();
    for (svc, to) in states(t) {
        let from = before.get(&svc);
        if from == Some(&to) {
            continue;
        }
        let p = if svc.is_empty() { &t.default } else { &t.services[&svc] };
        let line = String::from_utf8_lossy(&p.line).trim().to_string();
        let who = if svc.is_empty() {
            format!("agent {}", agent.name)
        } else {
            format!("agent {} (service {svc})", agent.name)
        };
        let message = match from {
            Some(f) => format!("{who} now replies {line:?} (was {f})"),
            None => format!("{who} replies {line:?}"),
        };
        let severity = match to.as_str() {
            "down" => Severity::Critical,
            "maint" | "drain" => Severity::Warning,
            _ => Severity::Info,
        };
        out.push(Event {
            time: now,
            server: (!svc.is_empty()).then(|| svc.clone()),
            from: from.cloned(),
            to: Some(to),
            status: Some(line),
            check: Some(Box::new(crate::model::event::Check {
                status: p.state.to_string(),
                code: None,
                desc: None,
                info: Some(reason_of(&p.line)).filter(|r| !r.is_empty()),
                duration_ms: None,
            })),
            ..Event::new(agent.name.clone(), Kind::AgentStateChanged, severity, message)
        });
    }
    out
}

fn http_client(tls_verify: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("hawatch-agent/", env!("CARGO_PKG_VERSION")))
        .danger_accept_invalid_certs(!tls_verify)
        .build()
        .expect("TLS backend initialises")
}

fn clients(agent: &Agent) -> Vec<reqwest::Client> {
    let (verify, noverify) = (http_client(true), http_client(false));
    agent
        .checks
        .iter()
        .map(|c| match &c.kind {
            CheckKind::Http { tls_verify: false, .. } => noverify.clone(),
            _ => verify.clone(),
        })
        .collect()
}

/// Runs every check once, concurrently.
async fn first_round(agent: &Agent, http: &[reqwest::Client], mems: &mut [checks::Memory]) -> Vec<Outcome> {
    let futs = agent
        .checks
        .iter()
        .zip(http)
        .zip(mems.iter_mut())
        .map(|((c, h), m)| checks::run(c, h, m));
    futures_util::future::join_all(futs).await
}

/// The `[agent]` section `hawatch agent` needs, with the rest of the config.
fn agent_of(config: Config) -> anyhow::Result<(Config, Agent)> {
    let agent = config
        .agent
        .clone()
        .context("no [agent] section in the configuration: `hawatch agent` needs one (docs/agent.md)")?;
    Ok((config, agent))
}

/// `hawatch agent --once`: the reply now, and why.
pub(crate) async fn once(config: Config) -> anyhow::Result<()> {
    let (_, agent) = agent_of(config)?;
    let http = clients(&agent);
    let mut mems: Vec<checks::Memory> = agent.checks.iter().map(|_| Default::default()).collect();
    let outcomes = first_round(&agent, &http, &mut mems).await;
    let t = table(&agent, &outcomes, &|_| false);
    // The reply and the details quote the app's answers: shown, never obeyed (crate::text).
    let shown = |line: &[u8]| crate::text::visible_lines(&String::from_utf8_lossy(line));
    print!("{}", shown(&t.default.line));
    let mut svcs: Vec<_> = t.services.iter().collect();
    svcs.sort_by_key(|(k, _)| k.as_str());
    for (svc, p) in svcs {
        print!("{}: {}", crate::text::visible(svc), shown(&p.line));
    }
    println!("because:");
    for (c, o) in agent.checks.iter().zip(&outcomes) {
        let verdict = match (&c.kind, o.ok, o.flag) {
            (_, false, _) => "FAIL",
            (CheckKind::File { .. }, _, Some(_)) => "FLAG",
            (CheckKind::Load { .. }, _, _) => "weight",
            _ => "ok",
        };
        let scope = if c.services.is_empty() {
            String::new()
        } else {
            format!(" [service {}]", c.services.join(", "))
        };
        println!(
            "  {:<6} {} ({}{scope}): {} — {} ms ago, took {} ms",
            verdict,
            c.name,
            c.kind.type_name(),
            crate::text::visible(&o.detail),
            o.at.elapsed().as_millis(),
            o.took.as_millis()
        );
    }
    if agent.checks.is_empty() {
        println!("  (no checks configured: always up)");
    }
    Ok(())
}

/// `/metrics` and `/healthz` of the agent process (no HAProxy families).
async fn serve_metrics(l: tokio::net::TcpListener, stop: CancellationToken) {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(|| async {
                let body = tokio::task::spawn_blocking(|| {
                    crate::metrics::render(
                        None,
                        Default::default(),
                        crate::logic::exposition::Format::Text004,
                        String::new(),
                    )
                    .unwrap_or_default()
                })
                .await
                .unwrap_or_default();
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        crate::logic::exposition::Format::Text004.content_type(),
                    )],
                    body,
                )
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }));
    let _ = axum::serve(l, app).with_graceful_shutdown(stop.cancelled_owned()).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ready_is_said_for_a_while_after_maint_or_drain_only() {
        let st = |v: &str| States::from([(String::new(), v.to_string())]);
        let mut h = ReadyHold::default();
        let t0 = Instant::now();
        h.note(&st("up"), &st("down"), t0);
        assert!(!h.active("", t0));
        h.note(&st("maint"), &st("up"), t0);
        assert!(h.active("", t0 + Duration::from_secs(60)));
        assert!(!h.active("", t0 + crate::logic::agent_rules::READY_HOLD + Duration::from_secs(1)));
        h.note(&st("drain"), &st("down"), t0);
        assert!(h.active("", t0));
        // Still in maint: no ready.
        let mut h = ReadyHold::default();
        h.note(&st("maint"), &st("maint"), t0);
        assert!(!h.active("", t0));
    }
}
