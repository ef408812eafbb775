//! Issue 12, "a reload is one event, not a storm", as a property against a
//! real HAProxy.
//!
//! A seeded generator builds random backends of servers: UP (a live
//! backend), DOWN (a closed port), MAINT (`disabled`), UP at `weight 0`,
//! held DOWN by an agent answering `down`, `no check`, `backup`, and
//! `track`ing servers (also of a server in a later backend), with random
//! `fall`/`rise` (1–3) and `inter` (100 ms–1 s). Before each reload an
//! operator may put an UP server in MAINT or DRAIN through the Runtime API
//! (lost by the reload: a real change back). The next configuration
//! changes kinds (a live address becomes a closed port, ...), timings, adds
//! and removes servers. Each case is reloaded twice in each way an operator
//! reloads: `reload` on the master CLI, SIGUSR2 to the master, and
//! `haproxy -D ... -sf OLDPID`; one watcher reads the Runtime API socket
//! and the HTTP stats page of the same HAProxy as two instances.
//!
//! After each step the test waits until HAProxy's `show stat` has settled
//! (no `INI`, no `x/y`) and agrees with the model, then two watcher
//! intervals, and asserts that the events stored since the step are
//! exactly the ones the model predicts: one `instance_restarted`, one
//! event per server whose settled state changed (`server_added`,
//! `server_removed`, `server_down`, ...), `backend_down`/`backend_up` where
//! a backend's usability changed, and nothing else. The one tolerance is
//! the documented early warning (docs/events.md): a server the model sends
//! from UP to DOWN may first raise one `check_changed` to a failing code.
//!
//! `NOSTORM_SEED=N` replays a run (the seed is printed, and named in every
//! failure); `NOSTORM_CASES=K` changes the number of cases (default 5).
//!
//! Also: the two repros (a `fall 1` server on a closed port, and an
//! agent-held server, reloaded several times: only the restarts).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::watcher::{socket_instance, subject_of, Watcher};
use testkit::backend::Backend;
use testkit::haproxy::{parse_stat_csv, Haproxy, ReloadVia};

/// The watcher's poll interval in the property test.
const INTERVAL: Duration = Duration::from_millis(200);
/// Bound on HAProxy settling after a start, a reload or a runtime change.
const SETTLE: Duration = Duration::from_secs(12);
/// Bound on the watcher storing the expected events once HAProxy settled.
const EVENTS: Duration = Duration::from_secs(5);
/// How often the test itself reads `show stat` / the store while waiting.
const STEP: Duration = Duration::from_millis(150);

// ---------------------------------------------------------------- fixtures

/// An `agent-check` stand-in on 127.0.0.1:0 answering every connection
/// with `reply` and closing. At most 100 000 answers or 300 s; stops on drop.
struct FixedAgent {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FixedAgent {
    fn start(reply: &'static str) -> FixedAgent {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(300);
            let mut answered = 0;
            while !s.load(Ordering::Relaxed) && Instant::now() < until && answered < 100_000 {
                match l.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_write_timeout(Some(Duration::from_secs(1)));
                        let _ = c.write_all(format!("{reply}\n").as_bytes());
                        answered += 1;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        FixedAgent {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FixedAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A port that refuses connections for as long as this lives: a socket bound
/// to 127.0.0.1:0 that never listens (so nobody else can take the port).
struct ClosedPort {
    _sock: socket2::Socket,
    port: u16,
}

impl ClosedPort {
    fn new() -> ClosedPort {
        use socket2::{Domain, Socket, Type};
        let sock = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        sock.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("bind 127.0.0.1:0");
        let port = sock.local_addr().unwrap().as_socket().unwrap().port();
        ClosedPort { _sock: sock, port }
    }
}

/// The addresses servers point at, shared by every HAProxy of a case.
struct Lab {
    live: Backend,
    dead: ClosedPort,
    /// Agents answering `down`, `up`, `drain`, `maint`.
    agents: [FixedAgent; 4],
}

impl Lab {
    fn new() -> Lab {
        Lab {
            live: Backend::start(),
            dead: ClosedPort::new(),
            agents: ["down", "up", "drain", "maint"].map(FixedAgent::start),
        }
    }

    fn ports(&self) -> Ports {
        Ports {
            live: self.live.port(),
            dead: self.dead.port,
            agents: self.agents.each_ref().map(|a| a.port),
        }
    }
}

/// The [`Lab`]'s ports, for the threads of a case.
#[derive(Clone, Copy, Debug)]
struct Ports {
    live: u16,
    dead: u16,
    /// See [`Lab::agents`].
    agents: [u16; 4],
}

// ------------------------------------------------------------------- model

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// `check` on a live backend.
    Up,
    /// `check` on a closed port.
    Down,
    /// `check disabled` on a live backend.
    Maint,
    /// `check weight 0` on a live backend: UP, takes no traffic.
    Weight0,
    /// `check` on a live backend plus an agent answering `down`.
    AgentDown,
    /// An agent answering `down`, no health check.
    AgentOnlyDown,
    /// `check` on a live backend plus an agent answering `up`, `drain`, `maint`.
    AgentUp,
    AgentDrain,
    AgentMaint,
    /// No check; the address is live or not, it does not matter.
    NoCheck {
        live: bool,
    },
    /// `track BE/SRV` (a checked, non-tracking server).
    Track(String, String),
}

#[derive(Clone, Debug)]
struct Srv {
    name: String,
    kind: Kind,
    backup: bool,
    fall: u32,
    rise: u32,
    inter: u32,
    agent_inter: u32,
}

#[derive(Clone, Debug)]
struct Be {
    name: String,
    servers: Vec<Srv>,
}

/// A configuration, plus what the operator changed at runtime since it
/// was loaded (`(backend, server)` → `"maint"` / `"drain"`).
#[derive(Clone, Debug, Default)]
struct Model {
    backends: Vec<Be>,
    runtime: BTreeMap<(String, String), &'static str>,
}

/// What a settled HAProxy shows: each server's state word and its
/// health- and agent-check codes, each backend's usability.
#[derive(Clone, Debug, PartialEq, Eq)]
struct View {
    servers: BTreeMap<(String, String), &'static str>,
    codes: BTreeMap<(String, String), (String, String)>,
    backends: BTreeMap<String, bool>,
}

impl Model {
    fn find(&self, be: &str, srv: &str) -> Option<&Srv> {
        self.backends
            .iter()
            .find(|b| b.name == be)?
            .servers
            .iter()
            .find(|s| s.name == srv)
    }

    /// The settled state word (`UP`, `DOWN`, `MAINT`, `DRAIN`) of a server.
    fn word(&self, be: &str, s: &Srv) -> &'static str {
        if let Kind::Track(tb, ts) = &s.kind {
            let t = self.find(tb, ts).expect("tracked server exists");
            return self.word(tb, t);
        }
        match self.runtime.get(&(be.to_string(), s.name.clone())) {
            Some(&"maint") => return "MAINT",
            Some(&"drain") => return "DRAIN",
            _ => {}
        }
        match s.kind {
            Kind::Up | Kind::Weight0 | Kind::NoCheck { .. } | Kind::AgentUp => "UP",
            Kind::Down | Kind::AgentDown | Kind::AgentOnlyDown => "DOWN",
            Kind::AgentDrain => "DRAIN",
            Kind::Maint | Kind::AgentMaint => "MAINT",
            Kind::Track(..) => unreachable!(),
        }
    }

    /// The settled `check_status` and `agent_status` ("" for none).
    fn codes(&self, be: &str, s: &Srv) -> (String, String) {
        // HAProxy shows no check result for a server in maintenance.
        if self.runtime.get(&(be.to_string(), s.name.clone())) == Some(&"maint") {
            return (String::new(), String::new());
        }
        let (check, agent) = match s.kind {
            Kind::Up | Kind::Weight0 => ("L4OK", ""),
            Kind::AgentDown => ("L4OK", "L7STS"),
            Kind::AgentOnlyDown => ("", "L7STS"),
            // An agent's `up` reads `L7OK`, `drain`/`maint` `CHECKED`; in MAINT
            // only the agent (which can bring the server back) shows a result.
            Kind::AgentUp => ("L4OK", "L7OK"),
            Kind::AgentDrain => ("L4OK", "CHECKED"),
            Kind::AgentMaint => ("", "CHECKED"),
            Kind::Down => ("L4CON", ""),
            // `disabled`: the check never ran; trackers and `no check` have none.
            Kind::Maint | Kind::NoCheck { .. } | Kind::Track(..) => ("", ""),
        };
        (check.to_string(), agent.to_string())
    }

    /// Takes traffic: UP with a weight (a tracker has its own weight, 1).
    fn usable(&self, be: &str, s: &Srv) -> bool {
        self.word(be, s) == "UP" && s.kind != Kind::Weight0
    }

    fn view(&self) -> View {
        let mut v = View {
            servers: BTreeMap::new(),
            codes: BTreeMap::new(),
            backends: BTreeMap::new(),
        };
        for b in &self.backends {
            for s in &b.servers {
                let key = (b.name.clone(), s.name.clone());
                v.servers.insert(key.clone(), self.word(&b.name, s));
                v.codes.insert(key, self.codes(&b.name, s));
            }
            let usable = b.servers.iter().any(|s| self.usable(&b.name, s));
            v.backends.insert(b.name.clone(), usable);
        }
        v
    }

    fn config(&self, lab: Ports) -> String {
        let mut c = String::new();
        for b in &self.backends {
            c.push_str(&format!("backend {}\n", b.name));
            for s in &b.servers {
                let (live, dead) = (lab.live, lab.dead);
                let check = format!("check inter {}ms fall {} rise {}", s.inter, s.fall, s.rise);
                let rest = match &s.kind {
                    Kind::Up => format!("127.0.0.1:{live} {check}"),
                    Kind::Down => format!("127.0.0.1:{dead} {check}"),
                    Kind::Maint => format!("127.0.0.1:{live} {check} disabled"),
                    Kind::Weight0 => format!("127.0.0.1:{live} {check} weight 0"),
                    Kind::AgentDown | Kind::AgentUp | Kind::AgentDrain | Kind::AgentMaint => {
                        let port = match s.kind {
                            Kind::AgentDown => lab.agents[0],
                            Kind::AgentUp => lab.agents[1],
                            Kind::AgentDrain => lab.agents[2],
                            _ => lab.agents[3],
                        };
                        format!(
                            "127.0.0.1:{live} {check} agent-check agent-port {port} agent-inter {}ms",
                            s.agent_inter
                        )
                    }
                    Kind::AgentOnlyDown => format!(
                        "127.0.0.1:{live} agent-check agent-port {} agent-inter {}ms",
                        lab.agents[0], s.agent_inter
                    ),
                    Kind::NoCheck { live: true } => format!("127.0.0.1:{live}"),
                    Kind::NoCheck { live: false } => format!("127.0.0.1:{dead}"),
                    Kind::Track(tb, ts) => format!("127.0.0.1:{live} track {tb}/{ts}"),
                };
                let backup = if s.backup { " backup" } else { "" };
                c.push_str(&format!("    server {} {rest}{backup}\n", s.name));
            }
            c.push('\n');
        }
        c
    }

    /// One line per server, for failure messages.
    fn describe(&self) -> String {
        let mut out = String::new();
        for b in &self.backends {
            for s in &b.servers {
                let rt = self
                    .runtime
                    .get(&(b.name.clone(), s.name.clone()))
                    .map(|r| format!(" +runtime {r}"))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  {}/{}: {:?}{} fall {} rise {} inter {}ms{rt} => {}\n",
                    b.name,
                    s.name,
                    s.kind,
                    if s.backup { " backup" } else { "" },
                    s.fall,
                    s.rise,
                    s.inter,
                    self.word(&b.name, s)
                ));
            }
        }
        out
    }
}

/// Servers a `track` may point at: checked, not tracking themselves.
fn trackable(k: &Kind) -> bool {
    matches!(
        k,
        Kind::Up
            | Kind::Down
            | Kind::Maint
            | Kind::Weight0
            | Kind::AgentDown
            | Kind::AgentUp
            | Kind::AgentDrain
            | Kind::AgentMaint
    )
}

struct Gen {
    rng: StdRng,
    next_id: usize,
}

impl Gen {
    fn timings(&mut self, s: &mut Srv) {
        s.fall = self.rng.gen_range(1..=3);
        s.rise = self.rng.gen_range(1..=3);
        s.inter = self.rng.gen_range(1..=10) * 100;
        s.agent_inter = self.rng.gen_range(1..=5) * 100;
    }

    /// A kind without `track` (fixed up by [`Gen::fix_tracks`]).
    fn kind(&mut self) -> Kind {
        match self.rng.gen_range(0..100) {
            0..=21 => Kind::Up,
            22..=35 => Kind::Down,
            36..=43 => Kind::Maint,
            44..=47 => Kind::Weight0,
            48..=56 => Kind::AgentDown,
            57..=59 => Kind::AgentOnlyDown,
            60..=62 => Kind::AgentUp,
            63..=65 => Kind::AgentDrain,
            66..=68 => Kind::AgentMaint,
            69..=77 => Kind::NoCheck {
                live: self.rng.gen_bool(0.5),
            },
            // Placeholder: fix_tracks picks the target.
            _ => Kind::Track(String::new(), String::new()),
        }
    }

    fn server(&mut self) -> Srv {
        self.next_id += 1;
        let mut s = Srv {
            name: format!("s{}", self.next_id),
            kind: self.kind(),
            backup: self.rng.gen_bool(0.2),
            fall: 1,
            rise: 1,
            inter: 100,
            agent_inter: 100,
        };
        self.timings(&mut s);
        s
    }

    fn model(&mut self) -> Model {
        let n = self.rng.gen_range(2..=3);
        let mut m = Model::default();
        for i in 0..n {
            let k = self.rng.gen_range(1..=4);
            let servers = (0..k).map(|_| self.server()).collect();
            m.backends.push(Be {
                name: format!("be{i}"),
                servers,
            });
        }
        self.fix_tracks(&mut m);
        m
    }

    /// Every `track` points at an existing trackable server (preferring one in
    /// a later backend half of the time); with none, the server becomes UP.
    fn fix_tracks(&mut self, m: &mut Model) {
        let targets: Vec<(usize, String, String)> = m
            .backends
            .iter()
            .enumerate()
            .flat_map(|(i, b)| {
                b.servers
                    .iter()
                    .filter(|s| trackable(&s.kind))
                    .map(move |s| (i, b.name.clone(), s.name.clone()))
            })
            .collect();
        for bi in 0..m.backends.len() {
            for si in 0..m.backends[bi].servers.len() {
                let Kind::Track(tb, ts) = &m.backends[bi].servers[si].kind else {
                    continue;
                };
                let ok = targets.iter().any(|(_, b, s)| b == tb && s == ts);
                if ok {
                    continue;
                }
                let later: Vec<_> = targets.iter().filter(|(i, _, _)| *i > bi).collect();
                let pick = if !later.is_empty() && self.rng.gen_bool(0.5) {
                    Some(later[self.rng.gen_range(0..later.len())])
                } else if !targets.is_empty() {
                    Some(&targets[self.rng.gen_range(0..targets.len())])
                } else {
                    None
                };
                m.backends[bi].servers[si].kind = match pick {
                    Some((_, b, s)) => Kind::Track(b.clone(), s.clone()),
                    None => Kind::Up,
                };
            }
        }
    }

    /// Operator changes through the Runtime API: at most two UP servers go
    /// to MAINT or DRAIN.
    fn runtime(&mut self, m: &mut Model) {
        m.runtime.clear();
        let ups: Vec<(String, String)> = m
            .backends
            .iter()
            .flat_map(|b| {
                b.servers
                    .iter()
                    .filter(|s| s.kind == Kind::Up)
                    .map(move |s| (b.name.clone(), s.name.clone()))
            })
            .collect();
        for key in ups {
            if m.runtime.len() < 2 && self.rng.gen_bool(0.25) {
                let what = if self.rng.gen_bool(0.5) { "maint" } else { "drain" };
                m.runtime.insert(key, what);
            }
        }
    }

    /// The next configuration: kinds and timings change, servers come and go.
    fn mutate(&mut self, old: &Model) -> Model {
        let mut m = old.clone();
        m.runtime.clear();
        for b in &mut m.backends {
            for s in &mut b.servers {
                if self.rng.gen_bool(0.3) {
                    s.kind = self.kind();
                }
                if self.rng.gen_bool(0.3) {
                    self.timings(s);
                }
            }
        }
        if self.rng.gen_bool(0.5) {
            let bi = self.rng.gen_range(0..m.backends.len());
            let s = self.server();
            m.backends[bi].servers.push(s);
        }
        if self.rng.gen_bool(0.4) {
            let bi = self.rng.gen_range(0..m.backends.len());
            if m.backends[bi].servers.len() > 1 {
                let si = self.rng.gen_range(0..m.backends[bi].servers.len());
                m.backends[bi].servers.remove(si);
            }
        }
        self.fix_tracks(&mut m);
        m
    }
}

// ------------------------------------------------------- expected events

/// `kind subject from->to` (`instance_restarted INSTANCE` for restarts).
fn show(e: &Value) -> String {
    let kind = e["kind"].as_str().unwrap_or("?");
    if kind == "instance_restarted" {
        return format!("{kind} {}", subject_of(e));
    }
    format!(
        "{kind} {} {}->{}",
        subject_of(e),
        e["from"].as_str().unwrap_or("-"),
        e["to"].as_str().unwrap_or("-")
    )
}

/// The event kind of a settled change, as docs/events.md tells it.
fn change_kind(from: &str, to: &str) -> &'static str {
    match to {
        "DOWN" => "server_down",
        "UP" if matches!(from, "MAINT" | "DRAIN") => "server_ready",
        "UP" => "server_up",
        "MAINT" => "server_maint",
        "DRAIN" => "server_drain",
        other => panic!("no event kind for {from} -> {other}"),
    }
}

/// What the watcher must store for `instance` between two settled views,
/// and what it may store besides (see [`tolerated`]).
fn expected(instance: &str, old: &View, new: &View, restart: bool) -> (Vec<String>, BTreeSet<String>) {
    let mut out = Vec::new();
    let mut may = BTreeSet::new();
    if restart {
        out.push(format!("instance_restarted {instance}"));
    }
    for ((b, s), to) in &new.servers {
        let subject = format!("{b}/{s}");
        match old.servers.get(&(b.clone(), s.clone())) {
            None => out.push(format!("server_added {subject} -->{to}")),
            Some(from) if from != to => {
                out.push(format!("{} {subject} {from}->{to}", change_kind(from, to)));
                // The early warning before a `server_down` (docs/events.md).
                if *from == "UP" && *to == "DOWN" {
                    let to_code = &new.codes[&(b.clone(), s.clone())].0;
                    may.insert(format!("check_changed {subject} {to_code}"));
                }
            }
            Some(_) => {
                // Same state, but the config changed what the checks find
                // (a closed port instead of a live one): a real change.
                let key = (b.clone(), s.clone());
                let ((oc, oa), (nc, na)) = (&old.codes[&key], &new.codes[&key]);
                // Told once the server has settled, whichever check answered
                // first after the reload (docs/events.md).
                if oc != nc && !oc.is_empty() && !nc.is_empty() {
                    out.push(format!("check_changed {subject} {oc}->{nc}"));
                }
                if oa != na && !oa.is_empty() && !na.is_empty() {
                    out.push(format!("agent_changed {subject} {oa}->{na}"));
                }
            }
        }
    }
    for ((b, s), from) in &old.servers {
        if !new.servers.contains_key(&(b.clone(), s.clone())) {
            out.push(format!("server_removed {b}/{s} {from}->-"));
        }
    }
    for (b, up) in &new.backends {
        match (old.backends.get(b), up) {
            (Some(false), true) => out.push(format!("backend_up {b} DOWN->UP")),
            (Some(true), false) => out.push(format!("backend_down {b} UP->DOWN")),
            _ => {}
        }
    }
    out.sort();
    (out, may)
}

// ------------------------------------------------------ HAProxy's side

fn state_word(status: &str) -> &'static str {
    match status.split_whitespace().next().unwrap_or("") {
        "UP" | "no" => "UP",
        "DOWN" => "DOWN",
        "MAINT" => "MAINT",
        "DRAIN" => "DRAIN",
        "NOLB" => "NOLB",
        _ => "UNKNOWN",
    }
}

/// Why `show stat` is not settled yet (empty when it is): a server in a
/// `x/y` transition, or one whose health/agent check has no result yet.
fn unsettled(rows: &[BTreeMap<String, String>]) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows {
        let (px, sv) = (&r["pxname"], &r["svname"]);
        if sv == "FRONTEND" || sv == "BACKEND" {
            continue;
        }
        let status = &r["status"];
        let transitional = status
            .split_whitespace()
            .nth(1)
            .is_some_and(|w| !w.starts_with('(') && w.contains('/'));
        let pending = |c: &str| matches!(c.trim().trim_start_matches("* ").trim(), "INI" | "UNK");
        let paused = status.starts_with("MAINT");
        if transitional || (!paused && (pending(&r["check_status"]) || pending(&r["agent_status"]))) {
            out.push(format!(
                "{px}/{sv} {status} check={} agent={}",
                r["check_status"], r["agent_status"]
            ));
        }
    }
    out
}

/// What `show stat` shows, in the model's terms.
fn observed(rows: &[BTreeMap<String, String>]) -> View {
    let mut v = View {
        servers: BTreeMap::new(),
        codes: BTreeMap::new(),
        backends: BTreeMap::new(),
    };
    for r in rows {
        let (px, sv) = (r["pxname"].clone(), r["svname"].clone());
        match sv.as_str() {
            "FRONTEND" => {}
            "BACKEND" if px != "stats" => {
                v.backends.insert(px, r["status"] == "UP");
            }
            "BACKEND" => {}
            _ => {
                let code = |c: &str| c.trim().trim_start_matches("* ").trim().to_string();
                let codes = (code(&r["check_status"]), code(&r["agent_status"]));
                v.codes.insert((px.clone(), sv.clone()), codes);
                v.servers.insert((px, sv), state_word(&r["status"]));
            }
        }
    }
    v
}

/// The entries where two views differ: `KEY want=.. got=..`.
fn disagreement(want: &View, got: &View) -> String {
    fn diff<K: std::fmt::Debug + Ord, V: std::fmt::Debug + PartialEq>(
        out: &mut Vec<String>,
        a: &BTreeMap<K, V>,
        b: &BTreeMap<K, V>,
    ) {
        for k in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
            if a.get(k) != b.get(k) {
                out.push(format!("{k:?} want={:?} got={:?}", a.get(k), b.get(k)));
            }
        }
    }
    let mut out = Vec::new();
    diff(&mut out, &want.servers, &got.servers);
    diff(&mut out, &want.codes, &got.codes);
    diff(&mut out, &want.backends, &got.backends);
    out.join("; ")
}

/// Waits until HAProxy has settled and shows what `model` predicts.
fn settle(h: &Haproxy, model: &Model) -> Result<(), String> {
    let want = model.view();
    let until = Instant::now() + SETTLE;
    let mut last = String::new();
    for _ in 0..(SETTLE.as_millis() / STEP.as_millis() + 2) {
        if let Ok(text) = h.try_cmd("show stat") {
            let rows = parse_stat_csv(&text);
            let pending = unsettled(&rows);
            let got = observed(&rows);
            if pending.is_empty() && got == want {
                return Ok(());
            }
            last = if pending.is_empty() {
                format!(
                    "settled, but HAProxy disagrees with the model (a test bug): {}",
                    disagreement(&want, &got)
                )
            } else {
                format!("not settled: {pending:?}")
            };
        }
        if Instant::now() >= until {
            break;
        }
        std::thread::sleep(STEP);
    }
    Err(format!("after {SETTLE:?}: {last}"))
}

// -------------------------------------------------------------- the run

const INSTANCES: [&str; 2] = ["sock", "web"];

/// Events of `instance` whose id is not in `seen`.
fn new_events(w: &Watcher, seen: &HashSet<String>, instance: &str) -> Vec<Value> {
    w.events()
        .into_iter()
        .filter(|e| e["instance"] == instance && !seen.contains(e["id"].as_str().unwrap_or("")))
        .collect()
}

fn ids(w: &Watcher) -> HashSet<String> {
    w.events()
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect()
}

/// Removes what the model tolerates from `got`: at most one
/// `check_changed` per `may` entry (`KIND SUBJECT TO`), the early warning of a
/// server going DOWN (whether a poll catches the `UP x/y` in between is timing).
fn tolerated(got: &[Value], may: &BTreeSet<String>) -> Vec<String> {
    let mut used = BTreeSet::new();
    let mut out: Vec<String> = got
        .iter()
        .filter(|e| {
            let key = format!(
                "{} {} {}",
                e["kind"].as_str().unwrap_or("?"),
                subject_of(e),
                e["to"].as_str().unwrap_or("-")
            );
            !(may.contains(&key) && used.insert(key))
        })
        .map(show)
        .collect();
    out.sort();
    out
}

/// After a step (runtime changes or a reload): the events stored since
/// `seen` are exactly those from `old` to `new` on both instances.
fn check_step(w: &Watcher, seen: &HashSet<String>, old: &View, new: &View, restart: bool) -> Result<(), String> {
    std::thread::sleep(INTERVAL * 2);
    let want: Vec<_> = INSTANCES.iter().map(|i| expected(i, old, new, restart)).collect();
    // A loaded machine may store them a little later: wait (bounded) until
    // every expected event is there, then two more intervals for extras.
    let until = Instant::now() + EVENTS;
    for _ in 0..(EVENTS.as_millis() / STEP.as_millis() + 2) {
        let complete = INSTANCES.iter().zip(&want).all(|(i, (exp, warn))| {
            let got = tolerated(&new_events(w, seen, i), warn);
            exp.iter().all(|x| got.contains(x))
        });
        if complete || Instant::now() >= until {
            break;
        }
        std::thread::sleep(STEP);
    }
    std::thread::sleep(INTERVAL * 2);
    let mut errors = String::new();
    for (i, (exp, warn)) in INSTANCES.iter().zip(&want) {
        let raw = new_events(w, seen, i);
        let got = tolerated(&raw, warn);
        if &got != exp {
            let all: Vec<String> = raw.iter().map(show).collect();
            errors.push_str(&format!(
                "instance {i}:\n  expected {exp:#?}\n  actual   {got:#?}\n  (stored, in order: {all:#?})\n"
            ));
        }
    }
    if errors.is_empty() {
        eprintln!("nostorm: ok {:?}", want[0].0);
        Ok(())
    } else {
        Err(errors)
    }
}

/// One case in one reload way: start, then for each next model, runtime
/// changes, reload, check.
fn run(lab: Ports, models: &[Model], via: ReloadVia) -> Result<(), String> {
    let mut h = Haproxy::builder()
        .with_stats_http(true)
        .daemon(via == ReloadVia::SoftStop)
        .try_start(&models[0].config(lab))?;
    let mut current = models[0].clone();
    current.runtime.clear();
    settle(&h, &current).map_err(|e| format!("initial start: {e}"))?;
    let body = socket_instance("sock", &h.socket_path(), "")
        + &format!(
            "[[haproxy]]\nname = \"web\"\nstats_url = \"{}\"\n",
            h.stats_csv_url().unwrap()
        );
    let w = Watcher::start(&format!("{}ms", INTERVAL.as_millis()), &body);
    for i in INSTANCES {
        w.wait_baseline(i);
    }
    let fail = |step: &str, e: String, w: &Watcher| {
        format!(
            "{step} ({via:?}): {e}\nwatcher log (tail, no DEBUG):\n{}",
            tail(&w.stderr(), 20)
        )
    };
    for (n, next) in models.iter().enumerate().skip(1) {
        // The operator's runtime changes (the generator put them in models[n-1]).
        let with_runtime = models[n - 1].clone();
        if !with_runtime.runtime.is_empty() {
            let seen = ids(&w);
            for ((b, s), what) in &with_runtime.runtime {
                let reply = h.cmd(&format!("set server {b}/{s} state {what}"));
                if !reply.trim().is_empty() {
                    return Err(format!("set server {b}/{s} state {what}: {reply}"));
                }
            }
            settle(&h, &with_runtime).map_err(|e| fail(&format!("runtime changes before reload {n}"), e, &w))?;
            check_step(&w, &seen, &current.view(), &with_runtime.view(), false)
                .map_err(|e| fail(&format!("runtime changes before reload {n}"), e, &w))?;
        }
        let seen = ids(&w);
        h.reload_with(&next.config(lab), via)
            .map_err(|e| fail(&format!("reload {n}"), e, &w))?;
        let mut next_cfg = next.clone();
        next_cfg.runtime.clear();
        settle(&h, &next_cfg).map_err(|e| fail(&format!("settling after reload {n}"), e, &w))?;
        check_step(&w, &seen, &with_runtime.view(), &next_cfg.view(), true)
            .map_err(|e| fail(&format!("reload {n}"), e, &w))?;
        current = next_cfg;
    }
    Ok(())
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.contains(" DEBUG ")).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
    )
}

#[test]
fn nostorm_property_reloads_give_one_restart_and_only_real_changes() {
    let seed = env_u64("NOSTORM_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            % 1_000_000_000
    });
    let cases = env_u64("NOSTORM_CASES").unwrap_or(5);
    eprintln!("nostorm: NOSTORM_SEED={seed} NOSTORM_CASES={cases}");
    let started = Instant::now();
    let mut failures = Vec::new();
    for case in 0..cases {
        let mut g = Gen {
            rng: StdRng::seed_from_u64(seed.wrapping_mul(1000).wrapping_add(case)),
            next_id: 0,
        };
        // Start, runtime changes, reload, runtime changes, reload.
        let mut models = vec![g.model()];
        for _ in 0..2 {
            let mut last = models.pop().unwrap();
            g.runtime(&mut last);
            let next = g.mutate(&last);
            models.push(last);
            models.push(next);
        }
        let lab = Lab::new();
        let results: Vec<(ReloadVia, Result<(), String>)> = std::thread::scope(|s| {
            let handles: Vec<_> = [ReloadVia::MasterCli, ReloadVia::Signal, ReloadVia::SoftStop]
                .into_iter()
                .map(|via| {
                    let (lab, models) = (lab.ports(), &models);
                    (via, s.spawn(move || run(lab, models, via)))
                })
                .collect();
            handles
                .into_iter()
                .map(|(via, h)| {
                    let r = h.join().unwrap_or_else(|p| {
                        let msg = p
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        Err(format!("panicked: {msg}"))
                    });
                    (via, r)
                })
                .collect()
        });
        for (via, r) in results {
            if let Err(e) = r {
                let history: Vec<String> = models
                    .iter()
                    .enumerate()
                    .map(|(i, m)| format!("model {i}:\n{}", m.describe()))
                    .collect();
                failures.push(format!(
                    "NOSTORM_SEED={seed} case {case} via {via:?}:\n{e}\n{}",
                    history.join("")
                ));
            }
        }
        eprintln!("nostorm: case {case} done after {:?}", started.elapsed());
    }
    assert!(
        failures.is_empty(),
        "{} failing run(s), replay with NOSTORM_SEED={seed}:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// ------------------------------------------------------- issue's repros

/// Reloads `h` `n` times (same config) and checks that the watcher stored
/// exactly `n` restarts per instance and nothing else.
fn only_restarts(h: &mut Haproxy, body: &str, interval: Duration, n: usize, settled: impl Fn(&Haproxy) -> bool) {
    let w = Watcher::start(
        &format!("{}ms", interval.as_millis()),
        &(socket_instance("sock", &h.socket_path(), "")
            + &format!(
                "[[haproxy]]\nname = \"web\"\nstats_url = \"{}\"\n",
                h.stats_csv_url().unwrap()
            )),
    );
    for i in INSTANCES {
        w.wait_baseline(i);
    }
    for k in 1..=n {
        h.reload(body);
        assert!(
            testkit::wait_for(SETTLE, || settled(h)),
            "reload {k}: not settled within {SETTLE:?}:\n{}",
            h.cmd("show stat")
        );
        std::thread::sleep(interval * 2);
    }
    std::thread::sleep(interval);
    for i in INSTANCES {
        let got: Vec<String> = w.events().iter().filter(|e| e["instance"] == i).map(show).collect();
        let want = vec![format!("instance_restarted {i}"); n];
        assert_eq!(got, want, "instance {i}: only the {n} restarts");
    }
}

fn settled_as(h: &Haproxy, server: &str, status: &str) -> bool {
    let Ok(text) = h.try_cmd("show stat") else {
        return false;
    };
    let rows = parse_stat_csv(&text);
    unsettled(&rows).is_empty()
        && rows
            .iter()
            .any(|r| r["pxname"] == "be" && r["svname"] == server && r["status"] == status)
}

#[test]
fn nostorm_a_fall_1_server_on_a_closed_port_reloaded_5_times_gives_5_restarts() {
    let dead = ClosedPort::new();
    let body = format!(
        "backend be\n    server s 127.0.0.1:{} check inter 500ms fall 1 rise 1\n",
        dead.port
    );
    let mut h = Haproxy::builder().with_stats_http(true).start(&body);
    assert!(testkit::wait_for(SETTLE, || settled_as(&h, "s", "DOWN")));
    only_restarts(&mut h, &body, Duration::from_millis(500), 5, |h| {
        settled_as(h, "s", "DOWN")
    });
}

#[test]
fn nostorm_an_agent_held_down_server_reloaded_3_times_gives_3_restarts() {
    let app = Backend::start();
    let agent = FixedAgent::start("down");
    let body = format!(
        "backend be\n    server s 127.0.0.1:{} check inter 300ms agent-check agent-port {} agent-inter 300ms\n",
        app.port(),
        agent.port
    );
    let mut h = Haproxy::builder().with_stats_http(true).start(&body);
    assert!(testkit::wait_for(SETTLE, || settled_as(&h, "s", "DOWN (agent)")));
    only_restarts(&mut h, &body, INTERVAL, 3, |h| settled_as(h, "s", "DOWN (agent)"));
}

#[test]
fn nostorm_a_down_backend_of_fall_3_servers_reloaded_3_times_gives_3_restarts() {
    // After a start HAProxy holds a checked server barely UP (`UP 1/3`,
    // check INI, the backend row UP): its first failed check takes it DOWN,
    // whatever `fall` says. Nothing changed: nothing but the restarts.
    let dead = ClosedPort::new();
    let body = format!(
        "backend be\n    server s 127.0.0.1:{p} check inter 300ms fall 3 rise 2\n    server t 127.0.0.1:{p} check inter 400ms fall 2 rise 1 backup\n",
        p = dead.port
    );
    let mut h = Haproxy::builder().with_stats_http(true).start(&body);
    assert!(testkit::wait_for(SETTLE, || settled_as(&h, "s", "DOWN")));
    only_restarts(&mut h, &body, INTERVAL, 3, |h| {
        settled_as(h, "s", "DOWN") && settled_as(h, "t", "DOWN")
    });
}
