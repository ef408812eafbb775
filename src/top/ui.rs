//! Draws `hawatch top`: headers (this node, the peer, the instances), the
//! view tabs, the selected view, the events pane and the status line. Only
//! the rows in the window are built, so a frame costs the same with 10 or
//! 10,000 servers (benches/top.rs). Text from HAProxy, the peer and the
//! store was made visible (`crate::text::visible`) before it got here.

use chrono::{DateTime, Utc};
use haproxy::{RowType, State};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table as TableWidget, Wrap};
use ratatui::Frame;

use super::app::{App, Mode, View};
use super::table::{Counter, Line, Shown};
use crate::model::event::Severity;
use crate::text::visible;

/// Styles, or only modifiers under `NO_COLOR`.
#[derive(Clone, Copy)]
struct Theme {
    color: bool,
}

impl Theme {
    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    fn state(self, s: State) -> Style {
        match s {
            State::Up | State::NoCheck => self.fg(Color::Green),
            State::Down => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            State::Maint => self.fg(Color::Magenta),
            State::Drain | State::Nolb => self.fg(Color::Yellow),
            State::Unknown => Style::new(),
        }
    }

    fn severity(self, s: Severity) -> Style {
        match s {
            Severity::Critical => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Severity::Warning => self.fg(Color::Yellow),
            Severity::Info => Style::new(),
        }
    }

    fn cursor(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    fn header(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    fn error(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// A pair mismatch: red, and reversed so it shows without colour too.
    fn mismatch(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::REVERSED)
    }
}

/// `3d04h`, `2h05m`, `4m10s`, `12s`.
pub(crate) fn duration(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{:02}s", s % 60),
        (0, _, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h:02}h"),
    }
}

/// `1.2k`, `3.4M` (powers of 1000) or bytes in `K`/`M`/`G` (1024).
fn number(n: Option<u64>, bytes: bool) -> String {
    let Some(n) = n else { return "-".into() };
    let (base, units) = if bytes {
        (1024.0, ["", "K", "M", "G", "T", "P"])
    } else {
        (1000.0, ["", "k", "M", "G", "T", "P"])
    };
    let mut v = n as f64;
    let mut u = 0;
    while v >= base && u < units.len() - 1 {
        v /= base;
        u += 1;
    }
    if u == 0 {
        n.to_string()
    } else if v < 10.0 {
        format!("{v:.1}{}", units[u])
    } else {
        format!("{v:.0}{}", units[u])
    }
}

fn ago(now: DateTime<Utc>, t: Option<DateTime<Utc>>) -> String {
    match t {
        Some(t) => {
            let ms = (now - t).num_milliseconds().max(0);
            if ms < 10_000 {
                format!("{:.1}s ago", ms as f64 / 1000.0)
            } else {
                format!("{} ago", duration(ms / 1000))
            }
        }
        None => "never".into(),
    }
}

/// Draws the whole screen. Takes `&mut` only to keep the cursor in the
/// window (`offset`) and remember the page height.
pub fn draw(f: &mut Frame, app: &mut App, now: DateTime<Utc>) {
    app.prepare();
    let theme = Theme { color: app.color };
    let area = f.area();
    let head = 2 + usize::from(app.peer.is_some()) as u16;
    let events_h = if area.height >= 30 { area.height / 4 } else { 5 };
    let [top, tabs, body, events, status] = Layout::vertical([
        Constraint::Length(head),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(events_h),
        Constraint::Length(1),
    ])
    .areas(area);
    headers(f, app, now, theme, top);
    tab_line(f, app, theme, tabs);
    match app.view {
        View::Runtime => runtime(f, app, theme, body),
        View::Pair => pair(f, app, theme, body),
        _ => table(f, app, now, theme, body),
    }
    events_pane(f, app, theme, events);
    status_line(f, app, theme, status);
    match &app.mode {
        Mode::Help => help(f, theme, area),
        Mode::Confirm { question, .. } => confirm(f, theme, area, question),
        _ => {}
    }
    // The last guard: text is escaped where it is read and again where it
    // is drawn; a hidden character that slipped through both is never sent
    // to the terminal as itself.
    for cell in f.buffer_mut().content.iter_mut() {
        if cell.symbol().chars().any(crate::text::is_hidden) {
            cell.set_symbol("?");
        }
    }
}

/// [`visible`], owned: for text drawn in the headers and lines.
fn v(s: &str) -> String {
    visible(s).into_owned()
}

fn roles(r: &std::collections::BTreeMap<String, String>) -> String {
    match r.len() {
        0 => "-".into(),
        1 => v(r.values().next().map_or("", String::as_str)),
        _ => r
            .iter()
            .map(|(k, x)| format!("{}={}", v(k), v(x)))
            .collect::<Vec<_>>()
            .join(","),
    }
}

fn headers(f: &mut Frame, app: &App, now: DateTime<Utc>, theme: Theme, area: Rect) {
    let n = &app.node;
    let mut node = vec![Span::styled(visible(&n.host).into_owned(), theme.header())];
    // The VRRP role where keepalived is part of the picture.
    if !n.roles.is_empty() || !n.vips.is_empty() {
        node.push(Span::raw(format!("  VRRP {}", roles(&n.roles))));
    }
    if !n.vips.is_empty() {
        let v: Vec<String> = n
            .vips
            .iter()
            .map(|(ip, held)| if *held { format!("{ip}*") } else { ip.clone() })
            .collect();
        node.push(Span::raw(format!("  VIP {}", v.join(" "))));
    }
    match (&n.outbox, &n.store_error) {
        (_, Some(e)) => node.push(Span::styled(format!("  store: {}", v(e)), theme.error())),
        (Some((pending, dead)), None) => {
            let style = if *pending > 0 || *dead > 0 {
                theme.fg(Color::Yellow)
            } else {
                Style::new()
            };
            let dead = if *dead > 0 {
                format!(", {dead} dead")
            } else {
                String::new()
            };
            node.push(Span::styled(format!("  outbox {pending}{dead}"), style));
        }
        (None, None) => {}
    }
    let mut lines = vec![TextLine::from(node)];
    if let Some(p) = &app.peer {
        let name = v(&p.host.clone().unwrap_or_else(|| crate::config::redact_url(&p.url)));
        let mut spans = vec![Span::styled(format!("peer {name}"), theme.header())];
        match &p.error {
            Some(e) => spans.push(Span::styled(format!("  unreachable: {}", v(e)), theme.error())),
            None => {
                spans.push(Span::raw(format!("  VRRP {}", roles(&p.roles))));
                let held = if p.vips_held.is_empty() {
                    "-".to_string()
                } else {
                    v(&p.vips_held.join(" "))
                };
                spans.push(Span::raw(format!("  holds {held}")));
                if let Some(o) = p.outbox {
                    spans.push(Span::raw(format!("  outbox {o}")));
                }
                spans.push(Span::raw(format!("  asked {}", ago(now, p.last_ok))));
                // Its instance compared with the one selected here: version and its last poll.
                let theirs = app.counterpart();
                if let Some(i) = theirs {
                    let ver = v(i.version.as_deref().unwrap_or("?"));
                    spans.push(Span::raw(format!(
                        "  {} {ver} polled {}",
                        v(&i.name),
                        ago(now, i.last_poll)
                    )));
                }
            }
        }
        lines.push(TextLine::from(spans));
    }
    // The selected instance in full, the others by name (and whether they answer).
    let mut inst = Vec::new();
    for (i, s) in app.instances.iter().enumerate() {
        let sel = i == app.selected;
        let mut style = if sel { theme.cursor() } else { Style::new() };
        let text = match (&s.error, sel) {
            (Some(e), true) => {
                style = style.patch(theme.error());
                format!(" {}: {} ", v(&s.name), v(e))
            }
            (Some(_), false) => {
                style = style.patch(theme.error());
                format!(" {} ✗ ", v(&s.name))
            }
            (None, true) => {
                let up = s
                    .started
                    .map(|t| format!(" up {}", duration(now.timestamp() - t)))
                    .unwrap_or_default();
                let ver = v(s.version.as_deref().unwrap_or("?"));
                format!(" {} {ver}{up} polled {} ", v(&s.name), ago(now, s.last_poll))
            }
            (None, false) => format!(" {} ", v(&s.name)),
        };
        inst.push(Span::styled(text, style));
        inst.push(Span::raw(" "));
    }
    lines.push(TextLine::from(inst));
    f.render_widget(Paragraph::new(lines), area);
}

fn tab_line(f: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let mut spans = Vec::new();
    for (i, v) in View::ALL.iter().enumerate() {
        if *v == View::Pair && app.peer.is_none() {
            continue;
        }
        let style = if *v == app.view {
            theme.cursor().add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        spans.push(Span::styled(format!(" {} {} ", i + 1, v.title()), style));
    }
    let (key, rev) = app.sort();
    if matches!(app.view, View::Status | View::Traffic | View::Http | View::Errors) {
        spans.push(Span::raw(format!(
            "  sort {}{}",
            key.label(),
            if rev { " ↑" } else { "" }
        )));
    }
    if !app.arrange.filter.is_empty() || app.mode == Mode::Filter {
        spans.push(Span::styled(
            format!("  /{}", v(&app.arrange.filter)),
            theme.fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ));
    }
    if app.view == View::Pair {
        let x = if app.only_mismatches {
            "x: all"
        } else {
            "x: only differences"
        };
        spans.push(Span::raw(format!("  {x}")));
    }
    if app.read_only {
        spans.push(Span::styled(
            "  READ-ONLY",
            theme.fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    f.render_widget(Paragraph::new(TextLine::from(spans)), area);
}

/// Keeps the cursor inside a window of `height` rows; returns the first row.
fn window(app: &mut App, height: usize) -> usize {
    let h = height.max(1);
    if app.cursor < app.offset {
        app.offset = app.cursor;
    } else if app.cursor >= app.offset + h {
        app.offset = app.cursor + 1 - h;
    }
    app.page = h;
    app.offset
}

fn name_cell(l: &Line, s: &Shown) -> String {
    if s.head {
        let mark = match (s.folded, s.children) {
            (true, _) => "▸",
            (false, true) => "▾",
            (false, false) => "·",
        };
        let label = match l.kind {
            RowType::Frontend => " (frontend)",
            _ => "",
        };
        format!("{mark} {}{label}", l.proxy)
    } else if l.kind == RowType::Frontend {
        "  FRONTEND".to_string()
    } else {
        format!("  {}", l.name)
    }
}

fn table(f: &mut Frame, app: &mut App, now: DateTime<Utc>, theme: Theme, area: Rect) {
    let _ = now;
    let wide = area.width >= 140;
    let (titles, widths): (Vec<&str>, Vec<Constraint>) = match app.view {
        View::Status if wide => (
            vec!["NAME", "STATUS", "CHECK", "AGENT", "WEIGHT", "LASTCHG", "ADDR", "INFO"],
            vec![
                Constraint::Length(34),
                Constraint::Length(16),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(6),
                Constraint::Length(8),
                Constraint::Length(22),
                Constraint::Fill(1),
            ],
        ),
        View::Status => (
            vec!["NAME", "STATUS", "CHECK", "WEIGHT", "LASTCHG", "INFO"],
            vec![
                Constraint::Min(22),
                Constraint::Length(14),
                Constraint::Length(7),
                Constraint::Length(6),
                Constraint::Length(7),
                Constraint::Fill(1),
            ],
        ),
        View::Traffic => (
            vec!["NAME", "CUR", "MAX", "LIMIT", "RATE", "TOTAL", "IN", "OUT", "QUEUE"],
            [Constraint::Min(22)]
                .into_iter()
                .chain(std::iter::repeat_n(Constraint::Length(6), 8))
                .collect(),
        ),
        View::Http => (
            vec!["NAME", "REQ/S", "REQS", "2xx", "3xx", "4xx", "5xx", "5xx%"],
            [Constraint::Min(22)]
                .into_iter()
                .chain(std::iter::repeat_n(Constraint::Length(7), 7))
                .collect(),
        ),
        _ => (
            vec![
                "NAME", "EREQ", "ECON", "ERESP", "RETR", "REDIS", "DREQ", "DRESP", "CHKFAIL", "DOWNTIME",
            ],
            [Constraint::Min(16)]
                .into_iter()
                .chain(std::iter::repeat_n(Constraint::Length(5), 7))
                .chain([Constraint::Length(7), Constraint::Length(8)])
                .collect(),
        ),
    };
    let Some(inst) = app.instances.get(app.selected) else {
        return;
    };
    let empty = inst.table.lines.is_empty();
    let msg = inst.error.clone();
    let rows_h = area.height.saturating_sub(1) as usize;
    let first = window(app, rows_h);
    let inst = &app.instances[app.selected];
    let t = &inst.table;
    let mut rows = Vec::with_capacity(rows_h);
    for (i, s) in app.shown.iter().enumerate().skip(first).take(rows_h) {
        let l = &t.lines[s.line];
        let group = s.head.then(|| t.groups.iter().find(|g| g.head == s.line)).flatten();
        let name = name_cell(l, s);
        let c = |x: Counter| number(l.get(x), false);
        let b = |x: Counter| number(l.get(x), true);
        let cells: Vec<Cell> = match app.view {
            View::Status => {
                let status = match group {
                    Some(g) if g.servers > 0 => format!("{} {}/{}", l.status, g.up, g.servers),
                    _ => l.status.clone(),
                };
                let last = l.get(Counter::Lastchg).map(|s| duration(s as i64)).unwrap_or_default();
                let mut v = vec![
                    Cell::from(name),
                    Cell::from(status).style(theme.state(l.state)),
                    Cell::from(l.check.clone()),
                ];
                if wide {
                    v.push(Cell::from(l.agent.clone()));
                }
                v.push(Cell::from(l.weight.clone()));
                v.push(Cell::from(last));
                if wide {
                    v.push(Cell::from(l.addr.clone()));
                }
                v.push(Cell::from(l.why.clone()));
                v
            }
            View::Traffic => vec![
                Cell::from(name),
                Cell::from(c(Counter::Scur)),
                Cell::from(c(Counter::Smax)),
                Cell::from(c(Counter::Slim)),
                Cell::from(c(Counter::Rate)),
                Cell::from(c(Counter::Stot)),
                Cell::from(b(Counter::Bin)),
                Cell::from(b(Counter::Bout)),
                Cell::from(c(Counter::Qcur)),
            ],
            View::Http => {
                let total: u64 = [
                    Counter::H1xx,
                    Counter::H2xx,
                    Counter::H3xx,
                    Counter::H4xx,
                    Counter::H5xx,
                ]
                .iter()
                .filter_map(|x| l.get(*x))
                .fold(0, u64::saturating_add);
                let pct = match (l.get(Counter::H5xx), total) {
                    (Some(e), t) if t > 0 => format!("{:.1}", e as f64 * 100.0 / t as f64),
                    _ => "-".into(),
                };
                let bad = l.get(Counter::H5xx).unwrap_or(0) > 0;
                vec![
                    Cell::from(name),
                    Cell::from(c(Counter::ReqRate)),
                    Cell::from(c(Counter::ReqTot)),
                    Cell::from(c(Counter::H2xx)),
                    Cell::from(c(Counter::H3xx)),
                    Cell::from(c(Counter::H4xx)),
                    Cell::from(c(Counter::H5xx)).style(if bad { theme.fg(Color::Red) } else { Style::new() }),
                    Cell::from(pct),
                ]
            }
            _ => vec![
                Cell::from(name),
                Cell::from(c(Counter::Ereq)),
                Cell::from(c(Counter::Econ)),
                Cell::from(c(Counter::Eresp)),
                Cell::from(c(Counter::Wretr)),
                Cell::from(c(Counter::Wredis)),
                Cell::from(c(Counter::Dreq)),
                Cell::from(c(Counter::Dresp)),
                Cell::from(c(Counter::Chkfail)),
                Cell::from(
                    l.get(Counter::Downtime)
                        .map(|s| duration(s as i64))
                        .unwrap_or("-".into()),
                ),
            ],
        };
        let mut row = Row::new(cells);
        if s.head {
            row = row.style(theme.header());
        }
        if i == app.cursor {
            row = row.style(theme.cursor());
        }
        rows.push(row);
    }
    let header = Row::new(titles).style(theme.header().add_modifier(Modifier::UNDERLINED));
    f.render_widget(TableWidget::new(rows, widths).header(header).column_spacing(1), area);
    if app.shown.is_empty() {
        let why = match (msg, empty) {
            (Some(e), _) => format!("cannot read {}: {e}", inst.name),
            (None, true) if inst.last_poll.is_none() => "waiting for the first poll…".to_string(),
            _ => format!("nothing matches /{}", app.arrange.filter),
        };
        let at = Rect {
            y: area.y + 1,
            height: area.height.saturating_sub(1),
            ..area
        };
        f.render_widget(Paragraph::new(why).wrap(Wrap { trim: true }), at);
    }
}

fn pair(f: &mut Frame, app: &mut App, theme: Theme, area: Rect) {
    let here = visible(&app.node.host).into_owned();
    let there = app
        .peer
        .as_ref()
        .map(|p| p.host.clone().unwrap_or_else(|| "peer".into()))
        .unwrap_or_default();
    let rows_h = area.height.saturating_sub(1) as usize;
    let first = window(app, rows_h);
    let mismatches = app.pair_rows.iter().filter(|r| r.mismatch()).count();
    let mut rows = Vec::new();
    for (i, r) in app.pair_rows.iter().enumerate().skip(first).take(rows_h) {
        let show = |s: &Option<String>| s.clone().unwrap_or_else(|| "(absent)".into());
        let mark = if r.mismatch() { "≠" } else { "" };
        let mut row = Row::new(vec![
            Cell::from(mark),
            Cell::from(r.key.clone()),
            Cell::from(show(&r.here)),
            Cell::from(show(&r.peer)),
        ]);
        if r.mismatch() {
            row = row.style(theme.mismatch());
        }
        if i == app.cursor {
            row = row.style(theme.cursor().add_modifier(Modifier::BOLD));
        }
        rows.push(row);
    }
    let header = Row::new(vec![
        "".to_string(),
        format!("SERVER ({mismatches} differ)"),
        format!("HERE {here}"),
        format!("PEER {there}"),
    ])
    .style(theme.header().add_modifier(Modifier::UNDERLINED));
    let widths = [
        Constraint::Length(1),
        Constraint::Fill(2),
        Constraint::Fill(1),
        Constraint::Fill(1),
    ];
    f.render_widget(TableWidget::new(rows, widths).header(header), area);
    if let Some(note) = &app.pair_note {
        let at = Rect {
            y: area.y + 1,
            height: area.height.saturating_sub(1),
            ..area
        };
        f.render_widget(
            Paragraph::new(note.clone())
                .style(theme.error())
                .wrap(Wrap { trim: true }),
            at,
        );
    }
}

fn runtime(f: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let [log, input] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let Some(inst) = app.instance() else { return };
    let h = log.height as usize;
    let mut lines: Vec<TextLine> = Vec::new();
    if inst.log.is_empty() {
        lines.push(TextLine::from(format!(
            "Runtime API of {} ({}). Type a command, Enter sends it: `show` and `help` at once, anything else after y/n, as an audit_ctl event.{}",
            inst.name,
            inst.source,
            if app.read_only { " Read-only: only `show` and `help`." } else { "" }
        )));
    }
    // The newest lines at the bottom (PgUp/PgDn scroll back); a line longer
    // than the screen is cut, so the newest reply is never pushed off it.
    let end = inst.log.len().saturating_sub(app.log_back);
    let start = end.saturating_sub(h.saturating_sub(lines.len()));
    for l in &inst.log[start..end] {
        let style = if l.starts_with("> ") {
            theme.header()
        } else {
            Style::new()
        };
        lines.push(TextLine::styled(l.clone(), style));
    }
    if inst.log.is_empty() {
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), log);
    } else {
        f.render_widget(Paragraph::new(lines), log);
    }
    let cursor = if app.mode == Mode::Normal { "█" } else { "" };
    f.render_widget(
        Paragraph::new(TextLine::from(vec![
            Span::styled(format!("{}> ", inst.name), theme.header()),
            Span::raw(format!("{}{cursor}", app.prompt)),
        ])),
        input,
    );
}

fn events_pane(f: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let block = Block::new().borders(Borders::TOP).title(" events ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = inner.height as usize;
    let start = app.events.len().saturating_sub(h);
    let lines: Vec<TextLine> = app.events[start..]
        .iter()
        .map(|e| {
            let when = app.zone.format(e.time, "%H:%M:%S");
            TextLine::from(vec![
                Span::raw(format!("{when} ")),
                Span::styled(format!("{:<8} ", e.severity.as_str()), theme.severity(e.severity)),
                Span::raw(format!(
                    "{} {} {}",
                    visible(&e.instance),
                    e.kind.as_str(),
                    visible(&e.message)
                )),
            ])
        })
        .collect();
    if lines.is_empty() {
        f.render_widget(Paragraph::new("no events stored yet"), inner);
    } else {
        f.render_widget(Paragraph::new(lines), inner);
    }
}

fn status_line(f: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let line = match (&app.mode, &app.message) {
        (Mode::Filter, _) => TextLine::from(format!("/{}█   Enter: keep  Esc: clear", v(&app.arrange.filter))),
        (_, Some((m, err))) => TextLine::styled(v(m), if *err { theme.error() } else { theme.fg(Color::Green) }),
        _ => {
            let (n, down) = app.instance_state_counts();
            TextLine::from(format!(
                "{n} servers, {down} down │ ? help  q quit  1-6 TAB views  / filter  s sort  d m r"
            ))
        }
    };
    f.render_widget(Paragraph::new(line), area);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

const HELP: &[(&str, &str)] = &[
    ("1-6, TAB", "Status, Traffic, HTTP, Errors, Runtime API, Pair"),
    ("[ ]  ← →", "previous / next instance"),
    ("↑ ↓ j k", "move; PgUp PgDn, g G: page, top, bottom"),
    ("⏎ space", "fold / unfold the proxy; F: all"),
    ("/", "filter backend/server (Esc clears)"),
    ("s  S", "next sort key / reverse"),
    ("d m r", "drain, maint, ready (asks y/n)"),
    ("x", "pair view: only the servers that differ"),
    ("Runtime", "type, ⏎ sends, ↑ last, Esc back"),
    ("q  Ctrl-C", "quit"),
];

fn help(f: &mut Frame, theme: Theme, area: Rect) {
    let r = centered(area, 72, HELP.len() as u16 + 3);
    let lines: Vec<TextLine> = HELP
        .iter()
        .map(|(k, v)| TextLine::from(vec![Span::styled(format!("{k:<11}"), theme.header()), Span::raw(*v)]))
        .collect();
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" keys — any key closes ")),
        r,
    );
}

fn confirm(f: &mut Frame, theme: Theme, area: Rect, question: &str) {
    // Tall enough for the whole question (a typed command can be long): what
    // is confirmed is all shown. Escaped, though the prompt refuses hidden
    // characters and names come from `Table` already escaped.
    let question = visible(question);
    let width = area.width.clamp(20, 76);
    let inner = usize::from(width.saturating_sub(4)).max(1);
    let rows = question.chars().count().div_ceil(inner) + 1;
    let r = centered(area, width, u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(3));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(question.into_owned())
            .wrap(Wrap { trim: true })
            .style(theme.header())
            .block(Block::bordered().title(" confirm: y / N ")),
        r,
    );
}
