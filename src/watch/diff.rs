//! Snapshot → events: the pure heart of `hawatch watch`.
//!
//! Rules, documented for operators in `docs/events.md`:
//! - The first successful poll of an instance is a silent baseline.
//! - A server is compared with its last *settled* status. The transitional
//!   `UP 1/3` / `DOWN 1/2` forms keep the previous settled status: a server
//!   whose checks start failing raises `check_changed`, and `server_down` only
//!   when HAProxy marks it DOWN. After an HAProxy start every server reads
//!   `UP 1/3` with check `INI` until its first check: a server that was DOWN
//!   before and is DOWN after raises nothing, one that was UP and is now DOWN
//!   raises `server_down`.
//! - A restart or reload (pid or start time changed) is one
//!   `instance_restarted`; servers that kept their names are compared as usual.
//! - A backend's state is taken from its BACKEND row, except while one of its
//!   servers still waits for its first check after a start.
//! - A check code change is reported only when the same poll reports no state
//!   change for that server, never to or from `INI`/`UNK`, and not while the
//!   server is `DOWN x/y` (recovering: `server_up` follows).

use chrono::{DateTime, Utc};
use haproxy::{CheckStatus, RowType, ServerStatus, StatRow, State};

use super::snapshot::{BackendState, InstanceState, Observation, ProcInfo, ServerState};
use crate::event::{Check, Event, Kind, Severity};

/// Start times derived from the uptime may jitter by a second or two.
const DERIVED_START_TOLERANCE_SECS: i64 = 3;

/// Builds events with a shared instance name and time.
struct Emitter<'a> {
    instance: &'a str,
    now: DateTime<Utc>,
    events: Vec<Event>,
}

impl Emitter<'_> {
    /// `at` is `(backend, server)`.
    fn push(
        &mut self,
        kind: Kind,
        severity: Severity,
        (backend, server): (Option<&str>, Option<&str>),
        from: Option<String>,
        to: Option<String>,
        message: String,
    ) -> &mut Event {
        self.events.push(Event {
            id: uuid::Uuid::now_v7().to_string(),
            time: self.now,
            instance: self.instance.to_string(),
            kind,
            severity,
            backend: backend.map(str::to_string),
            server: server.map(str::to_string),
            from,
            to,
            status: None,
            check: None,
            agent: None,
            addr: None,
            message,
        });
        self.events.last_mut().expect("just pushed")
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn check_of(row: &StatRow) -> Option<Check> {
    let status = CheckStatus::parse(&row.check_status)?;
    Some(Check {
        status: status.to_string(),
        code: non_empty(&row.check_code),
        desc: non_empty(&row.check_desc),
        info: non_empty(&row.last_chk),
        duration_ms: row.check_duration,
    })
}

fn agent_of(row: &StatRow) -> Option<Check> {
    let status = CheckStatus::parse(&row.agent_status)?;
    Some(Check {
        status: status.to_string(),
        code: None,
        desc: non_empty(&row.agent_desc),
        info: non_empty(&row.last_agt),
        duration_ms: None,
    })
}

/// The kind and severity of a settled-state change, `None` when the word is the same.
fn state_change(old: Option<State>, new: State) -> Option<(Kind, Severity)> {
    let old_word = old.map(State::word);
    if old_word == Some(new.word()) {
        return None;
    }
    Some(match new {
        State::Down => (Kind::ServerDown, Severity::Critical),
        State::Up | State::NoCheck => match old {
            None => return None, // a new server that came up: `server_added` said it
            Some(State::Maint | State::Drain) => (Kind::ServerReady, Severity::Info),
            Some(_) => (Kind::ServerUp, Severity::Info),
        },
        State::Nolb => (Kind::ServerNolb, Severity::Warning),
        State::Drain => (Kind::ServerDrain, Severity::Warning),
        State::Maint => (Kind::ServerMaint, Severity::Warning),
        State::Unknown => (Kind::ServerDown, Severity::Warning),
    })
}

/// Whether the process behind the instance changed between two polls.
fn restarted(old: &ProcInfo, new: &ProcInfo) -> bool {
    if let (Some(a), Some(b)) = (old.pid, new.pid) {
        if a != b {
            return true;
        }
    }
    match (old.start_time, new.start_time) {
        (Some(a), Some(b)) if old.start_time_derived || new.start_time_derived => {
            (a - b).abs() > DERIVED_START_TOLERANCE_SECS
        }
        (Some(a), Some(b)) => a != b,
        _ => false,
    }
}

fn describe_failure(check: &Option<Check>, agent: &Option<Check>) -> String {
    let parts: Vec<String> = [check, agent]
        .iter()
        .filter_map(|c| c.as_ref())
        .filter(|c| !c.short().is_empty())
        .map(Check::short)
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

/// Compares what was known about an instance with what one poll observed.
/// Returns the state to remember and the events, in a stable order: instance
/// events first, then servers and backends in HAProxy's order, then removals.
pub fn diff(
    instance: &str,
    prev: Option<&InstanceState>,
    obs: &Observation,
    now: DateTime<Utc>,
) -> (InstanceState, Vec<Event>) {
    let mut em = Emitter {
        instance,
        now,
        events: Vec::new(),
    };
    let snap = match obs {
        Err(error) => {
            let mut st = prev.cloned().unwrap_or_default();
            let was_reachable = prev.is_none_or(|p| p.reachable);
            st.reachable = false;
            st.error = Some(error.clone());
            if was_reachable {
                st.unreachable_since = Some(now);
                em.push(
                    Kind::InstanceUnreachable,
                    Severity::Critical,
                    (None, None),
                    Some("reachable".into()),
                    Some("unreachable".into()),
                    format!("HAProxy instance {instance} is unreachable: {error}"),
                );
            }
            return (st, em.events);
        }
        Ok(s) => s,
    };

    let baseline = !prev.is_some_and(|p| p.seen);
    let mut st = InstanceState {
        seen: true,
        reachable: true,
        error: None,
        unreachable_since: None,
        proc: None,
        backends: Default::default(),
    };

    if let Some(p) = prev.filter(|p| !p.reachable) {
        let outage = p
            .unreachable_since
            .map(|t| now - t)
            .map(|d| format!(" after {}s", d.num_seconds()))
            .unwrap_or_default();
        em.push(
            Kind::InstanceRecovered,
            Severity::Info,
            (None, None),
            Some("unreachable".into()),
            Some("reachable".into()),
            format!("HAProxy instance {instance} is reachable again{outage}"),
        );
    }

    // Process identity; keep a derived start time steady while it only jitters.
    st.proc = snap.proc.clone();
    if let (Some(old), Some(new)) = (prev.and_then(|p| p.proc.as_ref()), st.proc.as_mut()) {
        if restarted(old, new) {
            if !baseline {
                let pid = |p: &ProcInfo| p.pid.map(|p| p.to_string());
                let version = new
                    .version
                    .as_deref()
                    .map(|v| format!(", version {v}"))
                    .unwrap_or_default();
                let msg = format!(
                    "HAProxy instance {instance} restarted or reloaded (pid {} → {}{version})",
                    pid(old).unwrap_or("?".into()),
                    pid(new).unwrap_or("?".into())
                );
                em.push(
                    Kind::InstanceRestarted,
                    Severity::Warning,
                    (None, None),
                    pid(old),
                    pid(new),
                    msg,
                );
            }
        } else if new.start_time_derived {
            new.start_time = old.start_time;
        }
    }

    let empty = BackendState::default();
    let mut pending_first_check = false;
    for row in &snap.rows {
        match row.kind() {
            RowType::Server => {}
            RowType::Backend => {
                let prev_be = prev.and_then(|p| p.backends.get(&row.pxname));
                let be = st.backends.entry(row.pxname.clone()).or_default();
                let observed_up = ServerStatus::parse(&row.status).state == State::Up;
                // Right after a start the BACKEND row says UP while servers wait
                // for their first check: keep the previous verdict until then.
                be.up = match prev_be {
                    Some(p) if pending_first_check => p.up,
                    _ => observed_up,
                };
                pending_first_check = false;
                if let Some(p) = prev_be.filter(|_| !baseline) {
                    let servers: Vec<&str> = be.servers.keys().map(String::as_str).collect();
                    if p.up && !be.up {
                        em.push(
                            Kind::BackendDown,
                            Severity::Critical,
                            (Some(&row.pxname), None),
                            Some("UP".into()),
                            Some("DOWN".into()),
                            format!(
                                "backend {} has no server available (servers: {})",
                                row.pxname,
                                servers.join(", ")
                            ),
                        );
                    } else if !p.up && be.up {
                        em.push(
                            Kind::BackendUp,
                            Severity::Info,
                            (Some(&row.pxname), None),
                            Some("DOWN".into()),
                            Some("UP".into()),
                            format!("backend {} has a usable server again", row.pxname),
                        );
                    }
                }
                continue;
            }
            RowType::Frontend | RowType::Listener => continue,
        }

        let status = ServerStatus::parse(&row.status);
        let check = CheckStatus::parse(&row.check_status);
        let agent = CheckStatus::parse(&row.agent_status);
        if !status.is_settled() && check.as_ref().is_some_and(CheckStatus::is_pending) {
            pending_first_check = true;
        }
        let prev_be = prev.and_then(|p| p.backends.get(&row.pxname)).unwrap_or(&empty);
        let prev_srv = prev_be.servers.get(&row.svname);
        // `DOWN 1/2`: checks pass again but HAProxy has not brought the server
        // back yet. The coming `server_up` says it; a check change now is noise.
        let recovering = !status.is_settled() && status.state == State::Down;
        let meaningful = |c: &Option<CheckStatus>| {
            c.as_ref()
                .filter(|c| !c.is_pending() && !recovering)
                .map(|c| c.to_string())
        };
        let new_srv = ServerState {
            settled: if status.is_settled() {
                Some(row.status.clone())
            } else {
                prev_srv.and_then(|p| p.settled.clone())
            },
            check: meaningful(&check).or_else(|| prev_srv.and_then(|p| p.check.clone())),
            agent: meaningful(&agent).or_else(|| prev_srv.and_then(|p| p.agent.clone())),
        };
        let be_state = st.backends.entry(row.pxname.clone()).or_default();

        if !baseline {
            let name = (Some(row.pxname.as_str()), Some(row.svname.as_str()));
            let check_detail = check_of(row);
            let agent_detail = agent_of(row);
            let mut state_event = false;
            match prev_srv {
                None => {
                    let to = status.state.word().to_string();
                    let msg = format!("server {}/{} added ({})", row.pxname, row.svname, row.status);
                    em.push(Kind::ServerAdded, Severity::Info, (name.0, name.1), None, Some(to), msg);
                    state_event = true;
                }
                Some(p) if status.is_settled() => {
                    let old = p.settled.as_deref().map(|s| ServerStatus::parse(s).state);
                    if let Some((kind, sev)) = state_change(old, status.state) {
                        let from = old.map(|o| o.word().to_string());
                        let why = if matches!(kind, Kind::ServerDown) {
                            describe_failure(&check_detail, &agent_detail)
                        } else {
                            String::new()
                        };
                        let msg = format!(
                            "server {}/{} {} → {}{why}",
                            row.pxname,
                            row.svname,
                            from.as_deref().unwrap_or("new"),
                            row.status
                        );
                        em.push(
                            kind,
                            sev,
                            (name.0, name.1),
                            from,
                            Some(status.state.word().to_string()),
                            msg,
                        );
                        state_event = true;
                    }
                }
                Some(_) => {}
            }
            if !state_event {
                let prev_check = prev_srv.and_then(|p| p.check.as_deref());
                let prev_agent = prev_srv.and_then(|p| p.agent.as_deref());
                let now_check = meaningful(&check);
                let now_agent = meaningful(&agent);
                for (kind, old, new, detail, what) in [
                    (
                        Kind::CheckChanged,
                        prev_check,
                        now_check.as_deref(),
                        &check_detail,
                        "health check",
                    ),
                    (
                        Kind::AgentChanged,
                        prev_agent,
                        now_agent.as_deref(),
                        &agent_detail,
                        "agent check",
                    ),
                ] {
                    if let (Some(old), Some(new)) = (old, new) {
                        if old != new {
                            let failing = CheckStatus::parse(new).is_some_and(|c| c.is_failure());
                            let sev = if failing { Severity::Warning } else { Severity::Info };
                            let info = detail.as_ref().map(|d| d.short()).unwrap_or_else(|| new.to_string());
                            let msg = format!(
                                "{what} of {}/{} {old} → {info} (server {})",
                                row.pxname, row.svname, row.status
                            );
                            em.push(
                                kind,
                                sev,
                                (name.0, name.1),
                                Some(old.to_string()),
                                Some(new.to_string()),
                                msg,
                            );
                            state_event = true;
                        }
                    }
                }
            }
            if state_event {
                let ev = em.events.last_mut().expect("pushed above");
                ev.status = Some(row.status.clone());
                ev.check = check_detail;
                ev.agent = agent_detail;
                ev.addr = non_empty(&row.addr);
            }
        }
        be_state.servers.insert(row.svname.clone(), new_srv);
    }

    if !baseline {
        if let Some(p) = prev {
            for (be_name, be) in &p.backends {
                let now_be = st.backends.get(be_name);
                for (srv, s) in &be.servers {
                    if now_be.is_none_or(|b| !b.servers.contains_key(srv)) {
                        let from = s
                            .settled
                            .as_deref()
                            .map(|x| ServerStatus::parse(x).state.word().to_string());
                        em.push(
                            Kind::ServerRemoved,
                            Severity::Warning,
                            (Some(be_name), Some(srv)),
                            from,
                            None,
                            format!("server {be_name}/{srv} removed"),
                        );
                    }
                }
            }
        }
    }
    (st, em.events)
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
