//! Snapshot → events: the pure heart of `hawatch watch`.
//!
//! Rules, documented for operators in `docs/events.md`:
//! - The first successful poll of an instance is a silent baseline.
//! - **Settled state.** A server's status is *settled* when it is not a
//!   transitional `UP 1/3` / `DOWN 1/2` form and no check that governs it
//!   waits for its first result: health check and agent check not `INI`,
//!   and, for a `track`ing server, the same of the server it tracks. `MAINT`
//!   is always settled (checks are paused). Right after an HAProxy start a
//!   `fall 1` server reads plain `UP` with check `INI`, and a server held
//!   DOWN by its agent reads `UP`/`no check` until the agent answers: those
//!   are HAProxy's defaults, not observations, so they are never compared.
//!   A server is compared with its last settled status only; one that has
//!   never settled raises nothing when it first does (at boot, a server that
//!   was never up cannot go down), and a server the config added is told
//!   (`server_added`) when it settles, with the state it settled in.
//! - A server whose checks start failing raises `check_changed` (`UP 1/3`),
//!   and `server_down` only when HAProxy marks it DOWN.
//! - A restart or reload (pid or start time changed) is one
//!   `instance_restarted`; servers that kept their names are compared as usual.
//! - An empty or unknown status word (a later version's, a cell left empty)
//!   is unknown, never DOWN: such a row is not compared (server or backend).
//! - A backend's state is taken from its BACKEND row, except while one of its
//!   servers waits for its first check and no settled server is usable: then
//!   the previous verdict is kept (a backend first seen then raises nothing
//!   until it settles).
//! - A check code change is reported only when the same poll reports no state
//!   change for that server, never to or from `INI`/`UNK`, not while the
//!   server waits for a first check, and not while the server is `DOWN x/y`
//!   (recovering: `server_up` follows).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use haproxy::{CheckStatus, RowType, ServerStatus, Stat, StatRow, State};

use crate::model::event::{Check, Event, Kind, Severity};
use crate::model::snapshot::{BackendState, InstanceState, Observation, ProcInfo, ServerState};

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
            time: self.now,
            backend: backend.map(str::to_string),
            server: server.map(str::to_string),
            from,
            to,
            ..Event::new(self.instance, kind, severity, message)
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
fn state_change(old: State, new: State) -> Option<(Kind, Severity)> {
    if old.word() == new.word() {
        return None;
    }
    Some(match new {
        State::Down => (Kind::ServerDown, Severity::Critical),
        State::Up | State::NoCheck => match old {
            State::Maint | State::Drain => (Kind::ServerReady, Severity::Info),
            _ => (Kind::ServerUp, Severity::Info),
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
            a.abs_diff(b) > DERIVED_START_TOLERANCE_SECS.unsigned_abs()
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
    servers: BTreeMap<String, ServerState>,
    /// `(up, unsettled)` from the BACKEND row.
    verdict: Option<(bool, bool)>,
    /// A server waits for its first check (itself or the server it tracks).
    awaiting: bool,
    /// A server with a settled status that takes traffic (`UP`, `no check`,
    /// weight not 0).
    settled_usable: bool,
}

struct Differ<'a> {
    em: Emitter<'a>,
    stat: &'a Stat,
    baseline: bool,
    changed: bool,
    old: BTreeMap<String, BackendState>,
    new: BTreeMap<String, BackendState>,
    /// `backend/server` of the servers seen so far in this poll that wait for
    /// a first check. Empty, so never allocated, in steady state.
    awaiting: HashSet<String>,
    /// The same for the whole reply, computed once when a server tracks one
    /// that comes later in HAProxy's order (rare).
    awaiting_all: Option<HashSet<String>>,
}

/// Whether a server row waits for a first check of its own, and the server
/// (`backend/server`) whose wait it shares: the one it tracks, unless it is
/// in maintenance (settled whatever its target does).
fn own_wait<'r>(status: &ServerStatus, row: &'r StatRow) -> (bool, Option<&'r str>) {
    let waits = status.awaits_first_check(
        CheckStatus::parse(&row.check_status),
        CheckStatus::parse(&row.agent_status),
    );
    let target = (status.state != State::Maint && !row.tracked.is_empty()).then_some(&*row.tracked);
    (waits, target)
}

/// The servers of a whole reply that wait for a first check, following
/// `track` chains (HAProxy refuses loops; the walk is bounded anyway).
fn awaiting_in(stat: &Stat) -> HashSet<String> {
    let mut own: HashMap<String, (bool, Option<String>)> = HashMap::new();
    for row in stat.rows().filter(|r| r.kind() == RowType::Server) {
        let (waits, target) = own_wait(&ServerStatus::parse(&row.status), &row);
        own.insert(
            format!("{}/{}", row.pxname, row.svname),
            (waits, target.map(str::to_string)),
        );
    }
    let mut out = HashSet::new();
    for (key, (waits, target)) in &own {
        let mut waits = *waits;
        let mut next = target.as_deref();
        for _ in 0..32 {
            let Some(t) = next.filter(|_| !waits) else { break };
            match own.get(t) {
                Some((w, n)) => {
                    waits = *w;
                    next = n.as_deref();
                }
                None => break,
            }
        }
        if waits {
            out.insert(key.clone());
        }
    }
    out
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
            verdict: None,
            awaiting: false,
            settled_usable: false,
        }
    }

    /// Servers of the group not seen in this poll are removed; the backend
    /// goes into the new state.
    fn close(&mut self, g: Group) {
        let old = g.old.as_ref().map(|o| (o.up, o.unsettled));
        if let Some(old) = g.old {
            self.removed(&g.name, old.servers);
        }
        // A frontend has no BACKEND row and no servers: nothing to remember.
        // (Servers without a BACKEND row never come from HAProxy; keep them
        // anyway rather than report them added again on every poll.)
        let verdict = g
            .verdict
            .or_else(|| (!g.servers.is_empty()).then(|| old.unwrap_or((true, false))));
        self.changed |= old != verdict;
        if let Some((up, unsettled)) = verdict {
            self.new.insert(
                g.name,
                BackendState {
                    up,
                    unsettled,
                    servers: g.servers,
                },
            );
        }
    }

    /// Whether the server a tracking server follows waits for a first check.
    fn target_awaits(&mut self, g: &Group, target: &str) -> bool {
        let seen = match target.split_once('/') {
            Some((px, sv)) if px == g.name => g.servers.contains_key(sv),
            Some((px, sv)) => self.new.get(px).is_some_and(|b| b.servers.contains_key(sv)),
            None => return false,
        };
        if seen {
            return self.awaiting.contains(target);
        }
        let stat = self.stat;
        self.awaiting_all
            .get_or_insert_with(|| awaiting_in(stat))
            .contains(target)
    }

    fn removed(&mut self, backend: &str, servers: BTreeMap<String, ServerState>) {
        for (srv, s) in servers {
            self.changed = true;
            // A server nobody was told about goes as silently as it came.
            if !self.baseline && !s.unannounced {
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
        let state = ServerStatus::parse(&row.status).state;
        let observed_up = state == State::Up;
        let old = g.old.as_ref().map(|o| (o.up, o.unsettled));
        // Right after a start the BACKEND row says UP while servers wait for
        // their first check: that UP is only HAProxy's default, unless a
        // server whose state is settled takes traffic. An empty or unknown
        // status says nothing either way.
        let settled = state != State::Unknown && (!g.awaiting || (observed_up && g.settled_usable));
        let verdict = match old {
            Some(kept) if !settled => kept,
            None if !settled => (observed_up, true),
            _ => (observed_up, false),
        };
        g.verdict = Some(verdict);
        // Tell only a change between two settled verdicts.
        let (Some((old_up, false)), (up, false)) = (old, verdict) else {
            return;
        };
        if self.baseline {
            return;
        }
        let servers = || g.servers.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
        let at = (Some(&*row.pxname), None);
        match (old_up, up) {
            (true, false) => {
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
            (false, true) => {
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
        let (own, target) = own_wait(&status, row);
        let awaits = own || target.is_some_and(|t| self.target_awaits(g, t));
        if awaits {
            g.awaiting = true;
            self.awaiting.insert(format!("{}/{}", row.pxname, row.svname));
        }
        // An empty or unknown status (a later version's word, a cell left
        // empty) is no observation: never compared, never remembered.
        let settled = status.is_settled() && !awaits && status.state != State::Unknown;
        // A `weight 0` server reads UP but takes no traffic: it does not make
        // the backend usable (HAProxy's BACKEND row counts weights).
        if settled && matches!(status.state, State::Up | State::NoCheck) && row.weight != Some(0) {
            g.settled_usable = true;
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
            self.server_events(row, &status, settled, awaits, prev.as_ref(), now_check, now_agent);
        }

        self.changed |= prev.is_none();
        let mut srv = prev.unwrap_or_else(|| ServerState {
            unannounced: !self.baseline && !settled,
            ..Default::default()
        });
        if settled && srv.settled.as_deref() != Some(&*row.status) {
            srv.settled = Some(row.status.to_string());
            self.changed = true;
        }
        if settled && srv.unannounced {
            srv.unannounced = false;
            self.changed = true;
        }
        // While a check still waits for its first result, the other's result
        // is not remembered either: once the server settles it is compared
        // with the result before, whichever check answered first.
        // A server with no such check any more (a reload made it `track`
        // another, or dropped its agent) forgets the last result: a check the
        // config adds later is not compared with one from before.
        for (slot, cell, now) in [(&mut srv.check, check, now_check), (&mut srv.agent, agent, now_agent)] {
            if let Some(c) = now.filter(|c| !awaits && slot.as_deref() != Some(*c)) {
                *slot = Some(c.to_string());
                self.changed = true;
            } else if cell.is_none() && slot.is_some() {
                *slot = None;
                self.changed = true;
            }
        }
        g.servers.insert(key, srv);
    }

    #[allow(clippy::too_many_arguments)]
    fn server_events(
        &mut self,
        row: &StatRow,
        status: &ServerStatus,
        settled: bool,
        awaits: bool,
        prev: Option<&ServerState>,
        now_check: Option<&str>,
        now_agent: Option<&str>,
    ) {
        let at = (Some(&*row.pxname), Some(&*row.svname));
        let before = self.em.events.len();
        let added = match prev {
            None => settled,
            Some(p) => settled && p.unannounced,
        };
        if added {
            let to = status.state.word().to_string();
            let msg = format!("server {}/{} added ({})", row.pxname, row.svname, row.status);
            self.em.push(Kind::ServerAdded, Severity::Info, at, None, Some(to), msg);
        } else if let Some(old) = prev.and_then(|p| p.settled.as_deref()).filter(|_| settled) {
            let old = ServerStatus::parse(old).state;
            if let Some((kind, sev)) = state_change(old, status.state) {
                let from = old.word().to_string();
                let why = if matches!(kind, Kind::ServerDown) {
                    describe_failure(&check_of(row), &agent_of(row))
                } else {
                    String::new()
                };
                let msg = format!("server {}/{} {from} → {}{why}", row.pxname, row.svname, row.status);
                self.em
                    .push(kind, sev, at, Some(from), Some(status.state.word().to_string()), msg);
            }
        }
        // A check result while another check still has none: it is compared
        // once the server settles (see `server_row`).
        if awaits || prev.is_none_or(|p| p.unannounced) {
            return self.finish_server_event(row, before);
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
        self.finish_server_event(row, before);
    }

    /// Fills the server's details into the event pushed since `before`, if any.
    fn finish_server_event(&mut self, row: &StatRow, before: usize) {
        if self.em.events.len() > before {
            let ev = self.em.events.last_mut().expect("pushed above");
            ev.status = Some(row.status.to_string());
            ev.check = check_of(row).map(Box::new);
            ev.agent = agent_of(row).map(Box::new);
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
            // The state and the event keep the message; the error's type
            // stays with the poller's log.
            let error = error.to_string();
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
            if st.error.as_deref() != Some(error.as_str()) {
                st.error = Some(error);
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
        stat: &snap.stat,
        baseline,
        changed,
        old: std::mem::take(&mut st.backends),
        new: Default::default(),
        awaiting: HashSet::new(),
        awaiting_all: None,
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
