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

/// What one diff produced.
#[derive(Debug)]
pub struct Outcome {
    /// The state to remember.
    pub state: InstanceState,
    pub events: Vec<Event>,
    /// Whether `state` differs from the state passed in (so must be stored).
    pub changed: bool,
}

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
            alert: None,
            vrrp: None,
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

/// The rows of one proxy (HAProxy lists a proxy's FRONTEND, listeners,
/// servers and BACKEND together), matched against what was known of it.
struct Group {
    name: String,
    /// The remembered backend, taken out of the old state.
    old: Option<BackendState>,
    /// Servers seen in this poll, in the new state.
    servers: std::collections::BTreeMap<String, ServerState>,
    up: Option<bool>,
    /// A server still waits for its first check after an HAProxy start.
    pending_first_check: bool,
}

struct Differ<'a> {
    em: Emitter<'a>,
    baseline: bool,
    changed: bool,
    old: std::collections::BTreeMap<String, BackendState>,
    new: std::collections::BTreeMap<String, BackendState>,
}

impl Differ<'_> {
    fn open(&mut self, pxname: &str) -> Group {
        let (name, old) = match self.old.remove_entry(pxname) {
            Some((k, v)) => (k, Some(v)),
            None => (pxname.to_string(), None),
        };
        Group {
            name,
            old,
            servers: Default::default(),
            up: None,
            pending_first_check: false,
        }
    }

    /// Servers of the group not seen in this poll are removed; the backend
    /// goes into the new state.
    fn close(&mut self, g: Group) {
        let old_up = g.old.as_ref().map(|o| o.up);
        if let Some(old) = g.old {
            self.removed(&g.name, old.servers);
        }
        // A frontend has no BACKEND row and no servers: nothing to remember.
        // (Servers without a BACKEND row never come from HAProxy; keep them
        // anyway rather than report them added again on every poll.)
        let up = g.up.or_else(|| (!g.servers.is_empty()).then(|| old_up.unwrap_or(true)));
        self.changed |= old_up != up;
        if let Some(up) = up {
            self.new.insert(g.name, BackendState { up, servers: g.servers });
        }
    }

    fn removed(&mut self, backend: &str, servers: std::collections::BTreeMap<String, ServerState>) {
        for (srv, s) in servers {
            self.changed = true;
            if !self.baseline {
                let from = s
                    .settled
                    .as_deref()
                    .map(|x| ServerStatus::parse(x).state.word().to_string());
                let msg = format!("server {backend}/{srv} removed");
                self.em.push(
                    Kind::ServerRemoved,
                    Severity::Warning,
                    (Some(backend), Some(&srv)),
                    from,
                    None,
                    msg,
                );
            }
        }
    }

    fn backend_row(&mut self, g: &mut Group, row: &StatRow) {
        let observed_up = ServerStatus::parse(&row.status).state == State::Up;
        let old_up = g.old.as_ref().map(|o| o.up);
        // Right after a start the BACKEND row says UP while servers wait for
        // their first check: keep the previous verdict until then.
        let up = match old_up {
            Some(p) if g.pending_first_check => p,
            _ => observed_up,
        };
        g.up = Some(up);
        if self.baseline {
            return;
        }
        let servers = || g.servers.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
        let at = (Some(&*row.pxname), None);
        match old_up {
            Some(true) if !up => {
                let msg = format!(
                    "backend {} has no server available (servers: {})",
                    row.pxname,
                    servers()
                );
                self.em.push(
                    Kind::BackendDown,
                    Severity::Critical,
                    at,
                    Some("UP".into()),
                    Some("DOWN".into()),
                    msg,
                );
            }
            Some(false) if up => {
                let msg = format!("backend {} has a usable server again", row.pxname);
                self.em.push(
                    Kind::BackendUp,
                    Severity::Info,
                    at,
                    Some("DOWN".into()),
                    Some("UP".into()),
                    msg,
                );
            }
            _ => {}
        }
    }

    fn server_row(&mut self, g: &mut Group, row: &StatRow) {
        let status = ServerStatus::parse(&row.status);
        let check = CheckStatus::parse(&row.check_status);
        let agent = CheckStatus::parse(&row.agent_status);
        if !status.is_settled() && check.is_some_and(|c| c.is_pending()) {
            g.pending_first_check = true;
        }
        // `DOWN 1/2`: checks pass again but HAProxy has not brought the server
        // back yet. The coming `server_up` says it; a check change now is noise.
        let recovering = !status.is_settled() && status.state == State::Down;
        let keep = |c: &haproxy::CheckStatus| !c.is_pending() && !recovering;
        let now_check = check.filter(keep).map(|c| c.as_str());
        let now_agent = agent.filter(keep).map(|c| c.as_str());
        let (key, prev) = match g.old.as_mut().and_then(|o| o.servers.remove_entry(&*row.svname)) {
            Some((k, v)) => (k, Some(v)),
            None => (row.svname.to_string(), None),
        };

        if !self.baseline {
            self.server_events(row, &status, prev.as_ref(), now_check, now_agent);
        }

        self.changed |= prev.is_none();
        let mut srv = prev.unwrap_or_default();
        if status.is_settled() && srv.settled.as_deref() != Some(&*row.status) {
            srv.settled = Some(row.status.to_string());
            self.changed = true;
        }
        for (slot, now) in [(&mut srv.check, now_check), (&mut srv.agent, now_agent)] {
            if let Some(c) = now.filter(|c| slot.as_deref() != Some(*c)) {
                *slot = Some(c.to_string());
                self.changed = true;
            }
        }
        g.servers.insert(key, srv);
    }

    fn server_events(
        &mut self,
        row: &StatRow,
        status: &ServerStatus,
        prev: Option<&ServerState>,
        now_check: Option<&str>,
        now_agent: Option<&str>,
    ) {
        let at = (Some(&*row.pxname), Some(&*row.svname));
        let before = self.em.events.len();
        match prev {
            None => {
                let to = status.state.word().to_string();
                let msg = format!("server {}/{} added ({})", row.pxname, row.svname, row.status);
                self.em.push(Kind::ServerAdded, Severity::Info, at, None, Some(to), msg);
            }
            Some(p) if status.is_settled() => {
                let old = p.settled.as_deref().map(|s| ServerStatus::parse(s).state);
                if let Some((kind, sev)) = state_change(old, status.state) {
                    let from = old.map(|o| o.word().to_string());
                    let why = if matches!(kind, Kind::ServerDown) {
                        describe_failure(&check_of(row), &agent_of(row))
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
                    self.em
                        .push(kind, sev, at, from, Some(status.state.word().to_string()), msg);
                }
            }
            Some(_) => {}
        }
        if self.em.events.len() == before {
            let prev_check = prev.and_then(|p| p.check.as_deref());
            let prev_agent = prev.and_then(|p| p.agent.as_deref());
            for (kind, old, new, what) in [
                (Kind::CheckChanged, prev_check, now_check, "health check"),
                (Kind::AgentChanged, prev_agent, now_agent, "agent check"),
            ] {
                let (Some(old), Some(new)) = (old, new) else { continue };
                if old == new {
                    continue;
                }
                let failing = CheckStatus::parse(new).is_some_and(|c| c.is_failure());
                let sev = if failing { Severity::Warning } else { Severity::Info };
                let detail = if kind == Kind::CheckChanged {
                    check_of(row)
                } else {
                    agent_of(row)
                };
                let info = detail.map(|d| d.short()).unwrap_or_else(|| new.to_string());
                let msg = format!(
                    "{what} of {}/{} {old} → {info} (server {})",
                    row.pxname, row.svname, row.status
                );
                self.em
                    .push(kind, sev, at, Some(old.to_string()), Some(new.to_string()), msg);
            }
        }
        if self.em.events.len() > before {
            let ev = self.em.events.last_mut().expect("pushed above");
            ev.status = Some(row.status.to_string());
            ev.check = check_of(row);
            ev.agent = agent_of(row);
            ev.addr = non_empty(&row.addr);
        }
    }
}

/// Compares what was known about an instance with what one poll observed.
/// Takes the previous state by value and updates it: a poll that changes
/// nothing allocates nothing per server. Events come in a stable order:
/// instance events first, then servers and backends in HAProxy's order, each
/// backend's removed servers after its rows.
pub fn diff(instance: &str, prev: Option<InstanceState>, obs: &Observation, now: DateTime<Utc>) -> Outcome {
    let mut em = Emitter {
        instance,
        now,
        events: Vec::new(),
    };
    let had_prev = prev.is_some();
    let was_reachable = prev.as_ref().is_none_or(|p| p.reachable);
    let mut st = prev.unwrap_or_default();
    let snap = match obs {
        Err(error) => {
            let mut changed = !had_prev;
            if was_reachable {
                st.unreachable_since = Some(now);
                let msg = format!("HAProxy instance {instance} is unreachable: {error}");
                em.push(
                    Kind::InstanceUnreachable,
                    Severity::Critical,
                    (None, None),
                    Some("reachable".into()),
                    Some("unreachable".into()),
                    msg,
                );
                changed = true;
            }
            if st.error.as_deref() != Some(error) {
                st.error = Some(error.clone());
                changed = true;
            }
            st.reachable = false;
            return Outcome {
                state: st,
                events: em.events,
                changed,
            };
        }
        Ok(s) => s,
    };

    let baseline = !st.seen;
    let mut changed = !had_prev || !st.seen || !st.reachable;
    if had_prev && !was_reachable {
        let outage = st
            .unreachable_since
            .map(|t| format!(" after {}s", (now - t).num_seconds()))
            .unwrap_or_default();
        let msg = format!("HAProxy instance {instance} is reachable again{outage}");
        em.push(
            Kind::InstanceRecovered,
            Severity::Info,
            (None, None),
            Some("unreachable".into()),
            Some("reachable".into()),
            msg,
        );
    }
    st.seen = true;
    st.reachable = true;
    st.error = None;
    st.unreachable_since = None;

    // Process identity; keep a derived start time steady while it only jitters.
    let mut proc = snap.proc.clone();
    if let (Some(old), Some(new)) = (st.proc.as_ref(), proc.as_mut()) {
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
    changed |= st.proc != proc;
    st.proc = proc;

    let mut d = Differ {
        em,
        baseline,
        changed,
        old: std::mem::take(&mut st.backends),
        new: Default::default(),
    };
    let mut group: Option<Group> = None;
    for row in snap.stat.rows() {
        if group.as_ref().is_none_or(|g| g.name != *row.pxname) {
            if let Some(g) = group.take() {
                d.close(g);
            }
            group = Some(d.open(&row.pxname));
        }
        let g = group.as_mut().expect("opened above");
        match row.kind() {
            RowType::Server => d.server_row(g, &row),
            RowType::Backend => d.backend_row(g, &row),
            RowType::Frontend | RowType::Listener => {}
        }
    }
    if let Some(g) = group.take() {
        d.close(g);
    }
    for (name, be) in std::mem::take(&mut d.old) {
        d.changed = true;
        d.removed(&name, be.servers);
    }
    st.backends = d.new;
    Outcome {
        state: st,
        events: d.em.events,
        changed: d.changed,
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
