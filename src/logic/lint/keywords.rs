//! HW301–HW303: keywords HAProxy removed or deprecated (with the version
//! that refuses each and what replaces it), and keywords in a section that
//! does not take them. Pure.

use haproxy::cfg::{Cfg, Line, Section};

use super::file::at;
use super::{Finding, Level, Version};

/// A keyword HAProxy removed or deprecated. `refused`/`warned`: the first
/// version that refuses it / warns about it, read in HAProxy's sources at
/// the release tags 2.0 to 3.2, and checked against real 2.2, 2.6, 3.0 and
/// 3.2 by tests/it/doctor.rs.
struct Gone {
    /// How it is named in findings.
    what: &'static str,
    matches: fn(&Section, &Line) -> bool,
    refused: Option<Version>,
    warned: Option<Version>,
    instead: &'static str,
}

fn kw(l: &Line, k: &str) -> bool {
    l.keyword() == k
}

const REQ_RSP: &[(&str, &str)] = &[
    ("reqadd", "http-request add-header"),
    ("reqdel", "http-request del-header"),
    ("reqidel", "http-request del-header"),
    ("reqrep", "http-request replace-header / replace-path / replace-uri"),
    ("reqirep", "http-request replace-header / replace-path / replace-uri"),
    ("reqdeny", "http-request deny"),
    ("reqideny", "http-request deny"),
    ("reqallow", "http-request allow"),
    ("reqiallow", "http-request allow"),
    ("reqpass", "http-request allow"),
    ("reqipass", "http-request allow"),
    ("reqtarpit", "http-request tarpit"),
    ("reqitarpit", "http-request tarpit"),
    ("reqsetbe", "use_backend with an ACL"),
    ("reqisetbe", "use_backend with an ACL"),
    ("rspadd", "http-response add-header"),
    ("rspdel", "http-response del-header"),
    ("rspidel", "http-response del-header"),
    ("rsprep", "http-response replace-header / replace-value"),
    ("rspirep", "http-response replace-header / replace-value"),
    ("rspdeny", "http-response deny"),
    ("rspideny", "http-response deny"),
];

static GONE: &[Gone] = &[
    Gone {
        what: "nbproc",
        matches: |s, l| s.kind == "global" && kw(l, "nbproc"),
        refused: Some(Version(2, 5)),
        warned: None,
        instead: "remove it: since 2.5 HAProxy runs one process with a thread per CPU (`nbthread N` to choose how many)",
    },
    Gone {
        what: "bind-process",
        matches: |_, l| kw(l, "bind-process") || l.is("stats", "bind-process"),
        refused: Some(Version(2, 7)),
        warned: Some(Version(2, 5)),
        instead: "remove it: there is one process; `thread` on a `bind` line pins a listener to threads",
    },
    Gone {
        what: "`process` on a `bind` line",
        matches: |s, l| s.is_frontend() && kw(l, "bind") && l.has("process"),
        refused: Some(Version(2, 7)),
        warned: Some(Version(2, 5)),
        instead: "remove `process N` (or use `thread N`)",
    },
    Gone {
        what: "`process` on a `stats socket` line",
        matches: |s, l| s.kind == "global" && l.is("stats", "socket") && l.has("process"),
        refused: Some(Version(2, 7)),
        warned: Some(Version(2, 5)),
        instead: "remove `process N` from the line (or use `thread N`)",
    },
    Gone {
        what: "option http-tunnel",
        matches: |_, l| l.is("option", "http-tunnel"),
        refused: Some(Version(2, 5)),
        warned: Some(Version(2, 1)),
        instead: "remove it: since 2.1 HAProxy parses every request itself and the option does nothing",
    },
    Gone {
        what: "option forceclose",
        matches: |_, l| l.is("option", "forceclose"),
        refused: Some(Version(2, 5)),
        warned: Some(Version(2, 0)),
        instead: "use `option httpclose` instead",
    },
    Gone {
        what: "option http-use-htx",
        matches: |_, l| l.is("option", "http-use-htx"),
        refused: Some(Version(2, 5)),
        warned: None,
        instead: "remove it: HTX is always on since 2.1",
    },
    Gone {
        what: "req*/rsp* (reqadd, reqrep, rspadd, ...)",
        matches: |_, l| REQ_RSP.iter().any(|(k, _)| kw(l, k)),
        refused: Some(Version(2, 1)),
        warned: None,
        instead: "",
    },
    Gone {
        what: "block",
        matches: |s, l| s.is_proxy() && kw(l, "block"),
        refused: Some(Version(2, 1)),
        warned: None,
        instead: "use `http-request deny` with the same condition instead",
    },
    Gone {
        what: "redispatch (the keyword)",
        matches: |s, l| (s.is_proxy() || s.kind == "defaults") && kw(l, "redispatch"),
        refused: Some(Version(2, 1)),
        warned: None,
        instead: "use `option redispatch` instead",
    },
    Gone {
        what: "monitor-net",
        matches: |_, l| kw(l, "monitor-net"),
        refused: Some(Version(2, 3)),
        warned: None,
        instead: "use `http-request return status 200 if { src NET }` (HTTP) or `tcp-request connection reject` rules (TCP) instead",
    },
    Gone {
        what: "grace",
        matches: |s, l| s.is_proxy() && kw(l, "grace"),
        refused: Some(Version(2, 5)),
        warned: None,
        instead: "remove it (`hard-stop-after` in `global` bounds how long an old process serves)",
    },
    Gone {
        what: "tune.chksize",
        matches: |_, l| kw(l, "tune.chksize"),
        refused: Some(Version(2, 5)),
        warned: Some(Version(2, 4)),
        instead: "remove it: `tune.bufsize` is used",
    },
    Gone {
        what: "ssl-engine",
        matches: |_, l| kw(l, "ssl-engine"),
        refused: Some(Version(2, 6)),
        warned: None,
        instead: "remove it: OpenSSL 3 has no engines (use its providers)",
    },
    Gone {
        what: "tune.ssl.capture-cipherlist-size",
        matches: |_, l| kw(l, "tune.ssl.capture-cipherlist-size"),
        refused: None,
        warned: Some(Version(2, 5)),
        instead: "use `tune.ssl.capture-buffer-size` instead",
    },
    Gone {
        what: "option accept-invalid-http-request/response",
        matches: |_, l| l.is("option", "accept-invalid-http-request") || l.is("option", "accept-invalid-http-response"),
        refused: None,
        warned: Some(Version(3, 2)),
        instead: "use `option accept-unsafe-violations-in-http-request` (or `-response`) instead",
    },
];

/// A line using a keyword of the table, for the test that runs each through
/// the real HAProxy versions.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct KeywordExample {
    pub what: &'static str,
    /// Where the line goes: `global`, `proxy`, `bind` (words on a `bind` line)
    /// or `socket` (words on a `stats socket` line).
    pub section: &'static str,
    pub line: &'static str,
    pub refused: Option<Version>,
    pub warned: Option<Version>,
}

/// Every keyword of the table, with a line that uses it.
#[doc(hidden)]
pub fn removed_keyword_examples() -> Vec<KeywordExample> {
    let ex: &[(&str, &str, &str)] = &[
        ("nbproc", "global", "nbproc 1"),
        ("bind-process", "proxy", "bind-process 1"),
        ("`process` on a `bind` line", "bind", "process 1"),
        ("`process` on a `stats socket` line", "socket", "process 1"),
        ("option http-tunnel", "proxy", "option http-tunnel"),
        ("option forceclose", "proxy", "option forceclose"),
        ("option http-use-htx", "proxy", "option http-use-htx"),
        (
            "req*/rsp* (reqadd, reqrep, rspadd, ...)",
            "proxy",
            "reqadd X-Foo:\\ bar",
        ),
        ("block", "proxy", "block if TRUE"),
        ("redispatch (the keyword)", "proxy", "redispatch"),
        ("monitor-net", "proxy", "monitor-net 10.0.0.0/8"),
        ("grace", "proxy", "grace 1s"),
        ("tune.chksize", "global", "tune.chksize 100"),
        ("ssl-engine", "global", "ssl-engine rdrand"),
        (
            "tune.ssl.capture-cipherlist-size",
            "global",
            "tune.ssl.capture-cipherlist-size 100",
        ),
        (
            "option accept-invalid-http-request/response",
            "proxy",
            "option accept-invalid-http-request",
        ),
    ];
    assert_eq!(ex.len(), GONE.len(), "an example for every keyword of the table");
    ex.iter()
        .filter_map(|(what, section, line)| {
            let g = GONE.iter().find(|g| g.what == *what)?;
            Some(KeywordExample {
                what: g.what,
                section,
                line,
                refused: g.refused,
                warned: g.warned,
            })
        })
        .collect()
}

/// HW301, HW302.
pub(super) fn keywords(cfg: &Cfg, version: Option<Version>, out: &mut Vec<Finding>) {
    for s in &cfg.sections {
        for l in &s.lines {
            let Some(g) = GONE.iter().find(|g| (g.matches)(s, l)) else {
                continue;
            };
            let instead = if g.instead.is_empty() {
                let with = REQ_RSP.iter().find(|(k, _)| kw(l, k)).map_or("", |(_, i)| i);
                format!("use `{with}` instead")
            } else {
                g.instead.to_string()
            };
            let on = match version {
                Some(v) => format!("HAProxy {v}"),
                None => "the HAProxy here (version unknown)".to_string(),
            };
            let (id, level, state) = match (g.refused, g.warned, version) {
                (Some(r), _, Some(v)) if v >= r => (
                    "HW301",
                    Level::Crit,
                    format!("{on} refuses to start with it (removed in {r})"),
                ),
                (Some(r), Some(w), Some(v)) if v >= w => (
                    "HW301",
                    Level::Warn,
                    format!("deprecated: {on} warns, and {r} and later refuse to start with it"),
                ),
                (Some(r), _, Some(_)) => (
                    "HW301",
                    Level::Warn,
                    format!("{on} accepts it, but {r} and later refuse to start with it: an upgrade would fail"),
                ),
                (Some(r), _, None) => (
                    "HW301",
                    Level::Warn,
                    format!("HAProxy {r} and later refuse to start with it"),
                ),
                (None, Some(w), Some(v)) if v >= w => {
                    ("HW302", Level::Warn, format!("deprecated since {w}: {on} warns"))
                }
                (None, Some(w), None) => ("HW302", Level::Warn, format!("deprecated since HAProxy {w}")),
                (None, _, _) => continue,
            };
            // The keyword alone: the rest of a line (a header value) may be a secret.
            let take = if matches!(l.keyword(), "option" | "stats") {
                2
            } else {
                1
            };
            let shown = l.words.iter().take(take).cloned().collect::<Vec<_>>().join(" ");
            let what = if g.what == shown {
                String::new()
            } else {
                format!(" ({})", g.what)
            };

            out.push(at(
                cfg,
                l,
                Finding::new(id, level, format!("{}: `{shown}`{what}; {state}", s.title())).fix(instead.to_string()),
            ));
        }
    }
}

/// Keywords only `global` takes (besides every `tune.*`).
const GLOBAL_ONLY: &[&str] = &[
    "nbthread",
    "maxsslconn",
    "maxconnrate",
    "maxsessrate",
    "cpu-map",
    "daemon",
    "chroot",
    "pidfile",
    "user",
    "group",
    "uid",
    "gid",
    "ulimit-n",
    "master-worker",
    "ssl-default-bind-ciphers",
    "ssl-default-bind-ciphersuites",
    "ssl-default-bind-options",
    "ssl-default-server-ciphers",
    "ssl-default-server-options",
    "ssl-dh-param-file",
    "crt-base",
    "ca-base",
    "hard-stop-after",
    "spread-checks",
    "lua-load",
    "node",
    "stats-file",
];

/// Keywords only proxies and `defaults` take.
const PROXY_ONLY: &[&str] = &[
    "mode",
    "option",
    "timeout",
    "bind",
    "server",
    "default-server",
    "balance",
    "default_backend",
    "use_backend",
    "acl",
    "http-request",
    "http-response",
    "tcp-request",
    "tcp-response",
    "retries",
];

/// HW303.
pub(super) fn wrong_section(cfg: &Cfg, out: &mut Vec<Finding>) {
    for s in &cfg.sections {
        let proxyish = s.is_proxy() || s.kind == "defaults";
        for l in &s.lines {
            let k = l.keyword();
            let wrong = if proxyish {
                (k.starts_with("tune.") || GLOBAL_ONLY.contains(&k) || l.is("stats", "socket")).then_some("global")
            } else if s.kind == "global" {
                PROXY_ONLY.contains(&k).then_some("defaults or a proxy")
            } else {
                None
            };
            if let Some(home) = wrong {
                out.push(at(
                    cfg,
                    l,
                    Finding::new(
                        "HW303",
                        Level::Crit,
                        format!(
                            "{}: `{k}` belongs in {home}: HAProxy refuses \"unknown keyword '{k}'\" here",
                            s.title()
                        ),
                    )
                    .fix(format!("move the line to {home}")),
                ));
            }
        }
    }
}
