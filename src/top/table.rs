//! What `hawatch top` shows of one `show stat` reply: one [`Line`] per
//! proxy and server, built once per poll, and the order the screen shows
//! them in (groups, folding, the `/` filter, the sort), computed only when
//! one of those changes. Pure: the renderer slices the visible window.

use std::collections::BTreeSet;

use haproxy::{RowType, ServerStatus, Stat, State};

use crate::text::visible;

/// The counters a view shows, by their `show stat` column names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    Scur,
    Smax,
    Slim,
    Stot,
    Rate,
    Bin,
    Bout,
    Qcur,
    ReqRate,
    ReqTot,
    H1xx,
    H2xx,
    H3xx,
    H4xx,
    H5xx,
    Ereq,
    Econ,
    Eresp,
    Wretr,
    Wredis,
    Dreq,
    Dresp,
    Chkfail,
    Downtime,
    Lastchg,
}

impl Counter {
    pub(crate) const ALL: [Counter; 25] = [
        Counter::Scur,
        Counter::Smax,
        Counter::Slim,
        Counter::Stot,
        Counter::Rate,
        Counter::Bin,
        Counter::Bout,
        Counter::Qcur,
        Counter::ReqRate,
        Counter::ReqTot,
        Counter::H1xx,
        Counter::H2xx,
        Counter::H3xx,
        Counter::H4xx,
        Counter::H5xx,
        Counter::Ereq,
        Counter::Econ,
        Counter::Eresp,
        Counter::Wretr,
        Counter::Wredis,
        Counter::Dreq,
        Counter::Dresp,
        Counter::Chkfail,
        Counter::Downtime,
        Counter::Lastchg,
    ];

    pub(crate) fn column(self) -> &'static str {
        match self {
            Counter::Scur => "scur",
            Counter::Smax => "smax",
            Counter::Slim => "slim",
            Counter::Stot => "stot",
            Counter::Rate => "rate",
            Counter::Bin => "bin",
            Counter::Bout => "bout",
            Counter::Qcur => "qcur",
            Counter::ReqRate => "req_rate",
            Counter::ReqTot => "req_tot",
            Counter::H1xx => "hrsp_1xx",
            Counter::H2xx => "hrsp_2xx",
            Counter::H3xx => "hrsp_3xx",
            Counter::H4xx => "hrsp_4xx",
            Counter::H5xx => "hrsp_5xx",
            Counter::Ereq => "ereq",
            Counter::Econ => "econ",
            Counter::Eresp => "eresp",
            Counter::Wretr => "wretr",
            Counter::Wredis => "wredis",
            Counter::Dreq => "dreq",
            Counter::Dresp => "dresp",
            Counter::Chkfail => "chkfail",
            Counter::Downtime => "downtime",
            Counter::Lastchg => "lastchg",
        }
    }
}

/// Text columns read before the counters, in this order.
const TEXT: [&str; 9] = [
    "pxname",
    "svname",
    "status",
    "check_status",
    "agent_status",
    "weight",
    "addr",
    "check_desc",
    "agent_desc",
];

/// One row of the screen: a proxy (its BACKEND row, or FRONTEND row when
/// it has no backend side), a frontend of a `listen`, or a server. Every
/// text cell is HAProxy's text made [`visible`] (never obeyed by the terminal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) kind: RowType,
    pub(crate) proxy: String,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) state: State,
    pub(crate) check: String,
    pub(crate) agent: String,
    pub(crate) weight: String,
    pub(crate) addr: String,
    /// `check_desc`, or `agent_desc` when the agent said something.
    pub(crate) why: String,
    counters: [Option<u64>; Counter::ALL.len()],
}

impl Line {
    pub(crate) fn get(&self, c: Counter) -> Option<u64> {
        self.counters[c as usize]
    }

    /// What the cursor follows across polls: the key and the row's kind (a
    /// `listen`'s FRONTEND row has its proxy's key).
    pub(crate) fn id(&self) -> String {
        format!("{:?}:{}", self.kind, self.key())
    }

    /// `backend/server`, or the proxy's name for a proxy row.
    pub(crate) fn key(&self) -> String {
        match self.kind {
            RowType::Server => format!("{}/{}", self.proxy, self.name),
            _ => self.proxy.clone(),
        }
    }
}

/// A proxy and the rows under it, in HAProxy's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Group {
    /// Index of the proxy's own line in [`Table::lines`].
    pub(crate) head: usize,
    /// Its frontend (of a `listen`) and servers.
    pub(crate) children: Vec<usize>,
    /// Servers UP (or `no check`) and servers in all.
    pub(crate) up: usize,
    pub(crate) servers: usize,
}

/// One instance's reply, as lines and groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub(crate) lines: Vec<Line>,
    pub(crate) groups: Vec<Group>,
}

impl Table {
    /// Reads every row once (`Stat::select`: a 10,000-server reply in a few
    /// milliseconds). Rows without a proxy name are skipped.
    pub fn build(stat: &Stat) -> Table {
        let mut names: Vec<&str> = TEXT.to_vec();
        names.extend(Counter::ALL.iter().map(|c| c.column()));
        let sel = stat.select(&names);
        let mut t = Table::default();
        // pxname -> group index; HAProxy lists a proxy's rows together.
        let mut current: Option<(String, usize)> = None;
        for i in 0..sel.len() {
            let kind = sel.row_type(i);
            if kind == RowType::Listener {
                continue;
            }
            let cell = |c: usize| sel.cell(stat, i, c);
            if cell(0).is_empty() {
                continue;
            }
            let mut counters = [None; Counter::ALL.len()];
            for (k, slot) in counters.iter_mut().enumerate() {
                *slot = cell(TEXT.len() + k).parse().ok();
            }
            let status = cell(2);
            let why = if cell(8).is_empty() { cell(7) } else { cell(8) };
            let line = Line {
                kind,
                proxy: visible(cell(0)).into_owned(),
                name: visible(cell(1)).into_owned(),
                status: visible(status).into_owned(),
                state: ServerStatus::parse(status).state,
                check: visible(cell(3)).into_owned(),
                agent: visible(cell(4)).into_owned(),
                weight: visible(cell(5)).into_owned(),
                addr: visible(cell(6)).into_owned(),
                why: visible(why).into_owned(),
                counters,
            };
            let same = current.as_ref().is_some_and(|(p, _)| *p == line.proxy);
            if !same {
                t.groups.push(Group {
                    head: usize::MAX,
                    children: Vec::new(),
                    up: 0,
                    servers: 0,
                });
                current = Some((line.proxy.clone(), t.groups.len() - 1));
            }
            let g = current.as_ref().map_or(0, |c| c.1);
            let idx = t.lines.len();
            let group = &mut t.groups[g];
            match kind {
                RowType::Server => {
                    group.servers += 1;
                    group.up += usize::from(matches!(line.state, State::Up | State::NoCheck));
                    group.children.push(idx);
                }
                RowType::Backend => {
                    // The backend side names the proxy; a frontend seen first
                    // becomes a child.
                    if group.head != usize::MAX {
                        group.children.insert(0, group.head);
                    }
                    group.head = idx;
                }
                _ => {
                    if group.head == usize::MAX {
                        group.head = idx;
                    } else {
                        group.children.insert(0, idx);
                    }
                }
            }
            t.lines.push(line);
        }
        // A group of servers with no proxy row (never from HAProxy): its first
        // server heads it rather than be lost.
        for g in &mut t.groups {
            if g.head == usize::MAX && !g.children.is_empty() {
                g.head = g.children.remove(0);
            }
        }
        t.groups.retain(|g| g.head != usize::MAX);
        t
    }

    pub fn servers(&self) -> usize {
        self.groups.iter().map(|g| g.servers).sum()
    }

    pub(crate) fn servers_down(&self) -> usize {
        self.lines
            .iter()
            .filter(|l| l.kind == RowType::Server && l.state == State::Down)
            .count()
    }
}

/// How a view orders its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortKey {
    /// HAProxy's order.
    Config,
    Name,
    /// Worst first: DOWN, MAINT, DRAIN/NOLB, then UP.
    Status,
    /// Highest first.
    Counter(Counter),
}

impl SortKey {
    pub(crate) fn label(self) -> &'static str {
        match self {
            SortKey::Config => "config",
            SortKey::Name => "name",
            SortKey::Status => "status",
            SortKey::Counter(c) => c.column(),
        }
    }
}

fn severity(s: State) -> u8 {
    match s {
        State::Down => 0,
        State::Maint => 1,
        State::Drain | State::Nolb => 2,
        State::Unknown => 3,
        State::Up | State::NoCheck => 4,
    }
}

/// One visible row: a line, with whether it heads a group (and is folded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shown {
    pub(crate) line: usize,
    pub(crate) head: bool,
    pub(crate) folded: bool,
    /// A head with rows under it (something to fold).
    pub(crate) children: bool,
}

/// How the rows are chosen and ordered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Arrange {
    /// Lower-case substring of `proxy/name` (empty: everything).
    pub(crate) filter: String,
    pub(crate) sort: Option<SortKey>,
    pub(crate) reverse: bool,
    /// Proxies whose rows are hidden.
    pub(crate) folded: BTreeSet<String>,
}

impl Arrange {
    /// The rows to show, in order. A group shows when its proxy or any of its
    /// rows matches the filter (then only the matching rows, unless the
    /// proxy itself matches).
    /// The rows of group `g` the filter keeps (all when its proxy matches),
    /// in HAProxy's order, folded or not: what an action on the proxy's line
    /// acts on.
    pub(crate) fn members(&self, t: &Table, g: &Group) -> Vec<usize> {
        let needle = self.filter.to_lowercase();
        let matches = |l: &Line| needle.is_empty() || l.key().to_lowercase().contains(&needle);
        let all = t.lines.get(g.head).is_some_and(matches);
        g.children
            .iter()
            .copied()
            .filter(|&c| all || t.lines.get(c).is_some_and(matches))
            .collect()
    }

    pub(crate) fn apply(&self, t: &Table) -> Vec<Shown> {
        let needle = self.filter.to_lowercase();
        let matches = |l: &Line| needle.is_empty() || l.key().to_lowercase().contains(&needle);
        let sort = self.sort.unwrap_or(SortKey::Config);
        let order = |a: &Line, b: &Line| {
            let o = match sort {
                SortKey::Config => std::cmp::Ordering::Equal,
                SortKey::Name => a.name.cmp(&b.name),
                SortKey::Status => severity(a.state).cmp(&severity(b.state)),
                SortKey::Counter(c) => b.get(c).unwrap_or(0).cmp(&a.get(c).unwrap_or(0)),
            };
            if self.reverse {
                o.reverse()
            } else {
                o
            }
        };
        let mut groups: Vec<(&Group, Vec<usize>)> = Vec::new();
        for g in &t.groups {
            let head = &t.lines[g.head];
            let all = matches(head);
            let kids: Vec<usize> = g
                .children
                .iter()
                .copied()
                .filter(|&c| all || matches(&t.lines[c]))
                .collect();
            if all || !kids.is_empty() {
                groups.push((g, kids));
            }
        }
        if sort != SortKey::Config {
            // Groups by their proxy line (by name for a name sort), rows within
            // each group the same way; stable, so ties keep HAProxy's order.
            groups.sort_by(|(a, _), (b, _)| {
                let (la, lb) = (&t.lines[a.head], &t.lines[b.head]);
                match sort {
                    SortKey::Name if !self.reverse => la.proxy.cmp(&lb.proxy),
                    SortKey::Name => lb.proxy.cmp(&la.proxy),
                    _ => order(la, lb),
                }
            });
            for (_, kids) in &mut groups {
                kids.sort_by(|&a, &b| order(&t.lines[a], &t.lines[b]));
            }
        }
        let mut out = Vec::with_capacity(t.lines.len());
        for (g, kids) in groups {
            let folded = self.folded.contains(&t.lines[g.head].proxy);
            out.push(Shown {
                line: g.head,
                head: true,
                folded,
                children: !g.children.is_empty(),
            });
            if !folded {
                out.extend(kids.into_iter().map(|line| Shown {
                    line,
                    head: false,
                    folded: false,
                    children: false,
                }));
            }
        }
        out
    }
}
