//! `hawatch top`'s state and keys. Pure: a key changes the state and may
//! ask for an [`Effect`] (a change through `ctl`'s code, quitting), which
//! the loop in `mod.rs` carries out. The renderer (`ui.rs`) only reads.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use haproxy::{Admin, Command, RowType, TypedLine};

use super::pair::PairRow;
pub use super::pair::{Peer, PeerInstance};
use super::table::{Arrange, Counter, Shown, SortKey, Table};
use crate::model::event::Event;
use crate::ops::ctl::{Action, Target};

/// The Runtime API view keeps at most this many lines per instance...
const LOG_LINES: usize = 2000;
/// ...and this many bytes.
const LOG_BYTES: usize = 1 << 20;
/// Commands the prompt remembers (↑).
const HISTORY: usize = 100;
/// The longest command the prompt sends (its confirmation shows all of it).
const PROMPT_MAX: usize = 600;

/// The views, switched by their number or TAB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum View {
    Status,
    Traffic,
    Http,
    Errors,
    Runtime,
    Pair,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Status,
        View::Traffic,
        View::Http,
        View::Errors,
        View::Runtime,
        View::Pair,
    ];

    pub(crate) fn title(self) -> &'static str {
        match self {
            View::Status => "Status",
            View::Traffic => "Traffic",
            View::Http => "HTTP",
            View::Errors => "Errors",
            View::Runtime => "Runtime API",
            View::Pair => "Pair",
        }
    }

    /// The sort keys `s` cycles through in this view.
    fn sorts(self) -> &'static [SortKey] {
        match self {
            View::Status => &[SortKey::Config, SortKey::Name, SortKey::Status],
            View::Traffic => &[
                SortKey::Config,
                SortKey::Name,
                SortKey::Counter(Counter::Scur),
                SortKey::Counter(Counter::Rate),
                SortKey::Counter(Counter::Stot),
                SortKey::Counter(Counter::Bout),
            ],
            View::Http => &[
                SortKey::Config,
                SortKey::Name,
                SortKey::Counter(Counter::ReqRate),
                SortKey::Counter(Counter::H5xx),
                SortKey::Counter(Counter::H4xx),
            ],
            View::Errors => &[
                SortKey::Config,
                SortKey::Name,
                SortKey::Counter(Counter::Econ),
                SortKey::Counter(Counter::Eresp),
                SortKey::Counter(Counter::Chkfail),
                SortKey::Counter(Counter::Downtime),
            ],
            View::Runtime | View::Pair => &[SortKey::Config],
        }
    }

    fn has_table(self) -> bool {
        matches!(self, View::Status | View::Traffic | View::Http | View::Errors)
    }
}

/// This host: its name, VRRP roles, VIPs and outbox.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    pub(crate) host: String,
    /// VRRP instance → its last state (`MASTER`, `BACKUP`, `FAULT`, ...).
    pub(crate) roles: BTreeMap<String, String>,
    /// The pair's VIPs and whether this host holds each.
    pub(crate) vips: Vec<(String, bool)>,
    /// Notifications not yet delivered, and dead letters.
    pub(crate) outbox: Option<(i64, i64)>,
    /// Why the store could not be read (no watcher ran here yet, ...).
    pub(crate) store_error: Option<String>,
}

/// One `[[haproxy]]` as last polled.
#[derive(Debug, Clone, Default)]
pub struct Instance {
    pub(crate) name: String,
    /// The socket path or stats URL (credentials never shown).
    pub(crate) source: String,
    /// Reached through the Runtime API, so changes are possible.
    pub(crate) socket: bool,
    pub(crate) table: Table,
    pub(crate) version: Option<String>,
    /// Process start, Unix seconds.
    pub(crate) started: Option<i64>,
    pub(crate) last_poll: Option<DateTime<Utc>>,
    pub(crate) error: Option<String>,
    /// The Runtime API prompt's history: commands and replies, escaped.
    pub(crate) log: Vec<String>,
}

/// What the loop must do for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    Quit,
    /// Run these commands on instance `instance` through `ctl`'s code
    /// (each an `audit_ctl` event), then poll again.
    Run {
        instance: usize,
        jobs: Vec<(Command, Option<Target>)>,
        /// Show the replies in the Runtime API view's history.
        typed: bool,
    },
    /// A command that only reads (`show ...`, `help`) typed at the prompt:
    /// sent at once, its reply shown, nothing stored (it changes nothing).
    Read {
        instance: usize,
        line: TypedLine,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    Normal,
    /// Typing the `/` filter.
    Filter,
    /// A change waits for y/n.
    Confirm {
        question: String,
        effect: Effect,
    },
    Help,
}

pub struct App {
    pub(crate) read_only: bool,
    /// The events pane's clock (`[notify] timezone`).
    pub(crate) zone: crate::logic::route::Zone,
    pub(crate) color: bool,
    pub(crate) view: View,
    pub(crate) mode: Mode,
    pub(crate) node: Node,
    pub(crate) instances: Vec<Instance>,
    pub(crate) selected: usize,
    pub(crate) peer: Option<Peer>,
    /// The newest events of the store, oldest first.
    pub(crate) events: Vec<Event>,
    pub(crate) arrange: Arrange,
    /// Per view: the sort key's index in `View::sorts`, and reversed.
    sorts: BTreeMap<View, (usize, bool)>,
    /// The rows of the selected instance as shown (see [`App::prepare`]).
    pub(crate) shown: Vec<Shown>,
    pub(crate) pair_rows: Vec<PairRow>,
    pub(crate) only_mismatches: bool,
    pub(crate) cursor: usize,
    /// The key of the line under the cursor, kept across polls.
    cursor_key: Option<String>,
    pub(crate) offset: usize,
    /// Rows the table had at the last draw (for page keys).
    pub(crate) page: usize,
    pub(crate) prompt: String,
    history: Vec<String>,
    /// Runtime view: lines scrolled back from the newest (PgUp/PgDn).
    pub(crate) log_back: usize,
    /// Why the pair view has no rows, when it has none.
    pub(crate) pair_note: Option<String>,
    /// A line for the operator, and whether it is an error.
    pub(crate) message: Option<(String, bool)>,
    dirty: bool,
}

impl App {
    pub fn new(instances: Vec<Instance>, read_only: bool, color: bool) -> App {
        App {
            read_only,
            zone: Default::default(),
            color,
            view: View::Status,
            mode: Mode::Normal,
            node: Node::default(),
            instances,
            selected: 0,
            peer: None,
            events: Vec::new(),
            arrange: Arrange::default(),
            sorts: BTreeMap::new(),
            shown: Vec::new(),
            pair_rows: Vec::new(),
            only_mismatches: false,
            cursor: 0,
            cursor_key: None,
            offset: 0,
            page: 10,
            prompt: String::new(),
            history: Vec::new(),
            log_back: 0,
            pair_note: None,
            message: None,
            dirty: true,
        }
    }

    pub(crate) fn instance(&self) -> Option<&Instance> {
        self.instances.get(self.selected)
    }

    /// New data for instance `i`: shown rows are recomputed before the next draw.
    pub fn set_table(&mut self, i: usize, table: Table) {
        if let Some(inst) = self.instances.get_mut(i) {
            inst.table = table;
            if i == self.selected {
                self.dirty = true;
            }
        }
    }

    pub fn set_peer(&mut self, peer: Peer) {
        self.peer = Some(peer);
        self.dirty = true;
    }

    pub(crate) fn sort(&self) -> (SortKey, bool) {
        let (i, rev) = self.sorts.get(&self.view).copied().unwrap_or((0, false));
        (self.view.sorts().get(i).copied().unwrap_or(SortKey::Config), rev)
    }

    /// Recomputes what is shown if anything it depends on changed: the
    /// filter, sort and folds over the selected instance's table (the only
    /// work proportional to the number of servers, done once per poll or key,
    /// never per frame), and the pair rows.
    pub(crate) fn prepare(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let (key, rev) = self.sort();
        self.arrange.sort = Some(key);
        self.arrange.reverse = rev;
        let empty = Table::default();
        let table = self.instances.get(self.selected).map_or(&empty, |i| &i.table);
        self.shown = self.arrange.apply(table);
        (self.pair_rows, self.pair_note) = self.pair_rows_now();
        let len = self.rows_len();
        // Keep the cursor on the same server when rows move.
        if self.view.has_table() {
            if let Some(k) = &self.cursor_key {
                if let Some(pos) = self.shown.iter().position(|s| &table.lines[s.line].id() == k) {
                    self.cursor = pos;
                }
            }
        }
        self.cursor = self.cursor.min(len.saturating_sub(1));
        self.remember_cursor();
    }

    fn rows_len(&self) -> usize {
        match self.view {
            View::Pair => self.pair_rows.len(),
            View::Runtime => 0,
            _ => self.shown.len(),
        }
    }

    fn remember_cursor(&mut self) {
        if !self.view.has_table() {
            return;
        }
        let Some(inst) = self.instances.get(self.selected) else {
            return;
        };
        self.cursor_key = self
            .shown
            .get(self.cursor)
            .and_then(|s| inst.table.lines.get(s.line))
            .map(|l| l.id());
    }

    fn say(&mut self, text: impl Into<String>, error: bool) {
        self.message = Some((text.into(), error));
    }

    fn move_cursor(&mut self, delta: isize) {
        let len = self.rows_len();
        if len == 0 {
            return;
        }
        let c = self.cursor as isize + delta;
        self.cursor = c.clamp(0, len as isize - 1) as usize;
        self.remember_cursor();
    }

    /// Shows view `v` (the Pair view only with a peer).
    pub fn switch_view(&mut self, v: View) {
        if v == View::Pair && self.peer.is_none() {
            self.say("the pair view needs `[keepalived] peer` in the config", true);
            return;
        }
        self.view = v;
        self.cursor = 0;
        self.offset = 0;
        self.cursor_key = None;
        self.dirty = true;
    }

    fn cycle_view(&mut self, forward: bool) {
        let views: Vec<View> = View::ALL
            .into_iter()
            .filter(|v| *v != View::Pair || self.peer.is_some())
            .collect();
        let at = views.iter().position(|v| *v == self.view).unwrap_or(0);
        let n = views.len();
        let next = if forward { (at + 1) % n } else { (at + n - 1) % n };
        self.switch_view(views[next]);
    }

    /// Handles one key; returns what the loop must do, if anything.
    pub(crate) fn on_key(&mut self, k: KeyEvent) -> Option<Effect> {
        if k.modifiers.contains(KeyModifiers::CONTROL) && matches!(k.code, KeyCode::Char('c')) {
            return Some(Effect::Quit);
        }
        // Keys act on the rows as they are now: a poll or an earlier key of
        // the same batch may have changed them since the last frame.
        self.prepare();
        // Ctrl- and Alt- combinations mean nothing here (Shift is part of
        // the character): never a confirmation, never an action.
        let plain = (k.modifiers - KeyModifiers::SHIFT).is_empty();
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Help => None,
            Mode::Confirm { effect, .. } => {
                if plain && matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                    self.say("running…", false);
                    Some(effect)
                } else {
                    self.say("nothing done", false);
                    None
                }
            }
            Mode::Filter => {
                self.filter_key(k);
                None
            }
            _ if !plain => None,
            Mode::Normal if self.view == View::Runtime => self.prompt_key(k),
            Mode::Normal => self.normal_key(k),
        }
    }

    fn filter_key(&mut self, k: KeyEvent) {
        match k.code {
            KeyCode::Enter => {}
            KeyCode::Esc => {
                self.arrange.filter.clear();
                self.dirty = true;
            }
            KeyCode::Backspace => {
                self.arrange.filter.pop();
                self.dirty = true;
                self.mode = Mode::Filter;
            }
            KeyCode::Char(c) if !c.is_control() => {
                if self.arrange.filter.len() < 200 {
                    self.arrange.filter.push(c);
                }
                self.dirty = true;
                self.mode = Mode::Filter;
            }
            _ => self.mode = Mode::Filter,
        }
        self.cursor = 0;
        self.offset = 0;
    }

    fn prompt_key(&mut self, k: KeyEvent) -> Option<Effect> {
        match k.code {
            KeyCode::Tab => self.cycle_view(true),
            KeyCode::BackTab => self.cycle_view(false),
            KeyCode::Esc => self.switch_view(View::Status),
            KeyCode::Backspace => {
                self.prompt.pop();
            }
            KeyCode::Up => {
                if let Some(last) = self.history.last() {
                    self.prompt = last.clone();
                }
            }
            KeyCode::PageUp => self.log_back = self.log_back.saturating_add(self.page.max(1)),
            KeyCode::PageDown => self.log_back = self.log_back.saturating_sub(self.page.max(1)),
            KeyCode::Enter => {
                self.log_back = 0;
                return self.send_prompt();
            }
            KeyCode::Char(c) if !c.is_control() && self.prompt.chars().count() < PROMPT_MAX => self.prompt.push(c),
            _ => {}
        }
        None
    }

    fn send_prompt(&mut self) -> Option<Effect> {
        // What is confirmed must be what is sent: no bidi or invisible
        // character that would show one thing and send another.
        if self.prompt.chars().any(crate::text::is_hidden) {
            self.say("invisible or control characters cannot be sent", true);
            return None;
        }
        if self.prompt.chars().count() > PROMPT_MAX {
            self.say(
                format!("at most {PROMPT_MAX} characters: the whole command must fit its confirmation"),
                true,
            );
            return None;
        }
        let line = match TypedLine::new(&self.prompt) {
            Ok(l) => l,
            Err(e) => {
                self.say(e.to_string(), true);
                return None;
            }
        };
        let inst = self.instance()?;
        if !inst.socket {
            let msg = format!(
                "{} is read from the HTTP stats page: the Runtime API prompt needs a `socket`",
                inst.name
            );
            self.say(msg, true);
            return None;
        }
        let (name, reads) = (inst.name.clone(), line.only_reads());
        if !reads && self.read_only {
            self.say("read-only (--read-only): only `show ...` and `help` are sent", true);
            return None;
        }
        self.history.push(line.as_str().to_string());
        let excess = self.history.len().saturating_sub(HISTORY);
        self.history.drain(..excess);
        self.prompt.clear();
        if reads {
            return Some(Effect::Read {
                instance: self.selected,
                line,
            });
        }
        let effect = Effect::Run {
            instance: self.selected,
            jobs: vec![(Command::Typed(line.clone()), None)],
            typed: true,
        };
        self.mode = Mode::Confirm {
            question: format!("On {name}: {}  — run it? [y/N]", line.as_str()),
            effect,
        };
        None
    }

    fn normal_key(&mut self, k: KeyEvent) -> Option<Effect> {
        match k.code {
            KeyCode::Char('q') => return Some(Effect::Quit),
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Char(c @ '1'..='6') => self.switch_view(View::ALL[c as usize - '1' as usize]),
            KeyCode::Tab => self.cycle_view(true),
            KeyCode::BackTab => self.cycle_view(false),
            KeyCode::Char(']') | KeyCode::Right => self.select_instance(1),
            KeyCode::Char('[') | KeyCode::Left => self.select_instance(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_cursor(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_cursor(-1),
            KeyCode::PageDown => self.move_cursor(self.page.max(1) as isize),
            KeyCode::PageUp => self.move_cursor(-(self.page.max(1) as isize)),
            KeyCode::Home | KeyCode::Char('g') => self.move_cursor(-(self.rows_len() as isize)),
            KeyCode::End | KeyCode::Char('G') => self.move_cursor(self.rows_len() as isize),
            KeyCode::Char('/') if self.view.has_table() => self.mode = Mode::Filter,
            KeyCode::Esc => {
                self.arrange.filter.clear();
                self.message = None;
                self.dirty = true;
            }
            KeyCode::Char('s') if self.view.has_table() => self.next_sort(),
            KeyCode::Char('S') if self.view.has_table() => {
                let e = self.sorts.entry(self.view).or_insert((0, false));
                e.1 = !e.1;
                self.dirty = true;
            }
            KeyCode::Enter | KeyCode::Char(' ') if self.view.has_table() => self.toggle_fold(),
            KeyCode::Char('F') if self.view.has_table() => self.fold_all(),
            KeyCode::Char('x') if self.view == View::Pair => {
                self.only_mismatches = !self.only_mismatches;
                self.cursor = 0;
                self.dirty = true;
            }
            KeyCode::Char('d') if self.view.has_table() => self.ask(Admin::Drain),
            KeyCode::Char('m') if self.view.has_table() => self.ask(Admin::Maint),
            KeyCode::Char('r') if self.view.has_table() => self.ask(Admin::Ready),
            _ => {}
        }
        None
    }

    /// The view's next sort key (`s`).
    pub fn next_sort(&mut self) {
        let n = self.view.sorts().len();
        let e = self.sorts.entry(self.view).or_insert((0, false));
        e.0 = (e.0 + 1) % n;
        self.dirty = true;
    }

    /// Sets the `/` filter.
    pub fn set_filter(&mut self, filter: &str) {
        self.arrange.filter = filter.to_string();
        self.dirty = true;
    }

    fn select_instance(&mut self, delta: isize) {
        let n = self.instances.len();
        if n < 2 {
            return;
        }
        self.selected = (self.selected as isize + delta).rem_euclid(n as isize) as usize;
        self.cursor = 0;
        self.offset = 0;
        self.cursor_key = None;
        self.dirty = true;
    }

    fn toggle_fold(&mut self) {
        let Some(inst) = self.instances.get(self.selected) else {
            return;
        };
        let Some(s) = self.shown.get(self.cursor) else { return };
        let Some(line) = inst.table.lines.get(s.line) else {
            return;
        };
        let (proxy, head) = (line.proxy.clone(), s.head.then(|| line.id()));
        if !self.arrange.folded.remove(&proxy) {
            self.arrange.folded.insert(proxy.clone());
        }
        // The cursor stays on the proxy's line (or goes to it from a server).
        self.cursor_key = head.or_else(|| {
            inst.table
                .groups
                .iter()
                .find(|g| g.children.contains(&s.line))
                .and_then(|g| inst.table.lines.get(g.head))
                .map(|l| l.id())
        });
        self.dirty = true;
    }

    fn fold_all(&mut self) {
        let Some(inst) = self.instances.get(self.selected) else {
            return;
        };
        if self.arrange.folded.is_empty() {
            let all: BTreeSet<String> = inst
                .table
                .groups
                .iter()
                .filter(|g| !g.children.is_empty())
                .map(|g| inst.table.lines[g.head].proxy.clone())
                .collect();
            self.arrange.folded = all;
        } else {
            self.arrange.folded.clear();
        }
        self.dirty = true;
    }

    /// A state change of the server under the cursor (or of every server of
    /// the proxy under it): asks y/n first.
    fn ask(&mut self, to: Admin) {
        if self.read_only {
            self.say("read-only (--read-only): d, m and r are off", true);
            return;
        }
        let Some(inst) = self.instances.get(self.selected) else {
            return;
        };
        if !inst.socket {
            let msg = format!(
                "{} is read from the HTTP stats page: changes need the Runtime API (a `socket`)",
                inst.name
            );
            self.say(msg, true);
            return;
        }
        let Some(s) = self.shown.get(self.cursor).copied() else {
            return;
        };
        let t = &inst.table;
        let Some(line) = t.lines.get(s.line) else { return };
        // On a proxy's line: its servers the filter shows, folded or not.
        let targets: Vec<Target> = if line.kind == RowType::Server {
            vec![target_of(line)]
        } else if s.head {
            t.groups
                .iter()
                .find(|g| g.head == s.line)
                .map(|g| {
                    self.arrange
                        .members(t, g)
                        .into_iter()
                        .filter_map(|c| t.lines.get(c))
                        .filter(|l| l.kind == RowType::Server)
                        .map(target_of)
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        if targets.is_empty() {
            self.say("no server here: move to a server or a backend", true);
            return;
        }
        let action = Action::State(to);
        let mut jobs = Vec::new();
        for t in targets {
            match action.command(&t) {
                Ok(c) => jobs.push((c, Some(t))),
                Err(e) => {
                    self.say(format!("not sent: {e}"), true);
                    return;
                }
            }
        }
        let what = match &jobs[..] {
            [(c, Some(t))] => format!("{c}  (now {})", t.status),
            more => {
                let named: Vec<String> = more
                    .iter()
                    .take(6)
                    .filter_map(|(_, t)| t.as_ref().map(|t| format!("{} ({})", t.server, t.status)))
                    .collect();
                let rest = more.len().saturating_sub(named.len());
                let rest = if rest > 0 {
                    format!(" and {rest} more")
                } else {
                    String::new()
                };
                format!(
                    "set {} servers of {} state {}: {}{rest}",
                    more.len(),
                    line.proxy,
                    to.as_str(),
                    named.join(", ")
                )
            }
        };
        self.mode = Mode::Confirm {
            question: format!("On {}: {what} — proceed? [y/N]", inst.name),
            effect: Effect::Run {
                instance: self.selected,
                jobs,
                typed: false,
            },
        };
    }

    /// Outcomes of an [`Effect::Run`], for the status line (and the prompt's history).
    pub(crate) fn done(
        &mut self,
        instance: usize,
        typed: bool,
        lines: Vec<(bool, String, String)>,
        audit: Option<String>,
    ) {
        let failed = lines.iter().filter(|l| !l.0).count();
        if typed {
            if let Some(inst) = self.instances.get_mut(instance) {
                for (_, cmd, reply) in &lines {
                    inst.log.push(format!("> {}", crate::text::visible(cmd)));
                    inst.log
                        .extend(reply.lines().map(|l| crate::text::visible(l).into_owned()));
                }
                // The newest lines, at most LOG_LINES of them and LOG_BYTES in all.
                let mut bytes = 0;
                let keep = inst
                    .log
                    .iter()
                    .rev()
                    .take(LOG_LINES)
                    .take_while(|l| {
                        bytes += l.len();
                        bytes <= LOG_BYTES
                    })
                    .count();
                let excess = inst.log.len() - keep;
                inst.log.drain(..excess);
            }
        }
        let summary = match (&lines[..], audit) {
            ([], Some(e)) => (e, true),
            (_, Some(e)) => (format!("done, but the audit event was not stored: {e}"), true),
            // A typed command was sent; what HAProxy said is its verdict.
            ([(ok, cmd, reply)], None) => {
                let said = reply.lines().next().unwrap_or("");
                let said = if said.is_empty() { "done" } else { said };
                let how = match (ok, typed) {
                    (false, _) => "FAILED",
                    (true, true) => "sent",
                    (true, false) => "ok",
                };
                (format!("{how} {cmd}: {said}"), !ok)
            }
            (_, None) if failed > 0 => (format!("{failed} of {} failed", lines.len()), true),
            (_, None) => (format!("ok: {} command(s) done", lines.len()), false),
        };
        self.message = Some(summary);
    }

    pub(crate) fn instance_state_counts(&self) -> (usize, usize) {
        self.instance()
            .map(|i| (i.table.servers(), i.table.servers_down()))
            .unwrap_or((0, 0))
    }
}

fn target_of(l: &super::table::Line) -> Target {
    Target {
        backend: l.proxy.clone(),
        server: l.name.clone(),
        status: l.status.clone(),
    }
}
