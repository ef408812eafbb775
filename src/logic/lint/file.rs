//! The rules that read only haproxy.cfg (and the certificate files it
//! names): what `doctor --offline` and `apply` run. Pure.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use haproxy::cfg::{Cfg, Line, Section};

use super::{Finding, Level, Version};

/// A certificate, as `ops::doctor` read it from a PEM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert {
    pub subject: String,
    /// DNS names: subjectAltName's, else the CN.
    pub names: Vec<String>,
    /// Unix time it expires.
    pub not_after: i64,
}

/// What a `crt` path holds: each file with its certificates (a directory
/// gives several), or why it cannot be read.
pub type CertLoad = Result<Vec<(String, Vec<Cert>)>, String>;

pub struct Input<'a> {
    pub cfg: &'a Cfg,
    /// The HAProxy that runs (or `haproxy -v`'s); `None`: unknown.
    pub version: Option<Version>,
    /// Unix time now (certificate expiry).
    pub now: i64,
    /// Relative `crt` paths start here when there is no `crt-base`.
    pub base: &'a Path,
    /// Reads a `crt` path.
    pub certs: &'a dyn Fn(&Path) -> CertLoad,
}

/// Every file rule's findings, in file order within each rule group.
pub fn lint(input: &Input) -> Vec<Finding> {
    let mut out = Vec::new();
    let cfg = input.cfg;
    checks(cfg, &mut out);
    stats_pages(cfg, &mut out);
    stats_sockets(cfg, &mut out);
    keywords(cfg, input.version, &mut out);
    wrong_section(cfg, &mut out);
    timeouts(cfg, &mut out);
    maxconn(cfg, &mut out);
    tls(cfg, &mut out);
    certificates(input, &mut out);
    out
}

fn at(cfg: &Cfg, line: &Line, f: Finding) -> Finding {
    f.at(cfg.file_of(line), line.line)
}

/// `option httpchk` and friends: the backend means to check.
fn check_option(l: &Line) -> Option<String> {
    let opt = l.words.get(1).map(String::as_str).unwrap_or("");
    let is = (l.keyword() == "option"
        && matches!(
            opt,
            "httpchk"
                | "ssl-hello-chk"
                | "smtpchk"
                | "mysql-check"
                | "pgsql-check"
                | "redis-check"
                | "ldap-check"
                | "tcp-check"
                | "spop-check"
        ))
        || matches!(l.keyword(), "http-check" | "tcp-check");
    is.then(|| l.words.iter().take(2).cloned().collect::<Vec<_>>().join(" "))
}

const CHECK_PARAMS: &[&str] = &[
    "inter",
    "fastinter",
    "downinter",
    "fall",
    "rise",
    "port",
    "addr",
    "check-ssl",
];

/// HW101, HW102, HW103.
fn checks(cfg: &Cfg, out: &mut Vec<Finding>) {
    for be in cfg.sections.iter().filter(|s| s.is_backend()) {
        let defaults = cfg.defaults_of(be);
        let default_servers: Vec<&Line> = defaults
            .into_iter()
            .flat_map(|d| d.all("default-server"))
            .chain(be.all("default-server"))
            .collect();
        // The last `default-server` saying check / no-check wins.
        let checked_by_default = default_servers
            .iter()
            .rev()
            .find_map(|l| {
                if l.has("check") {
                    Some(true)
                } else if l.has("no-check") {
                    Some(false)
                } else {
                    None
                }
            })
            .unwrap_or(false);
        let option = be
            .lines
            .iter()
            .rev()
            .find_map(check_option)
            .or_else(|| defaults.and_then(|d| d.lines.iter().rev().find_map(check_option)));
        let servers: Vec<&Line> = be
            .lines
            .iter()
            .filter(|l| matches!(l.keyword(), "server" | "server-template"))
            .collect();
        if servers.is_empty() {
            continue;
        }
        let mut unchecked = 0;
        for s in &servers {
            let name = s.words.get(1).map_or("?", String::as_str);
            let checked = if s.has("check") {
                true
            } else if s.has("no-check") {
                continue;
            } else {
                checked_by_default
            };
            if checked {
                continue;
            }
            unchecked += 1;
            let params: Vec<String> = s
                .words
                .windows(2)
                .filter(|w| CHECK_PARAMS.contains(&w[0].as_str()))
                .map(|w| format!("{} {}", w[0], w[1]))
                .collect();
            let why = if !params.is_empty() {
                format!("has `{}` but no `check`: those settings do nothing", params.join(" "))
            } else if let Some(o) = &option {
                format!("has no `check`: the backend's `{o}` never runs for it")
            } else if s.has("agent-check") {
                "has `agent-check` but no `check`: only the agent is asked, the service itself never".to_string()
            } else {
                "has no `check`".to_string()
            };
            out.push(at(
                cfg,
                s,
                Finding::new(
                    "HW101",
                    Level::Warn,
                    format!(
                        "{}: server {name} {why}; HAProxy never checks it, so a dead server keeps getting traffic and no monitor sees it DOWN",
                        be.title()
                    ),
                )
                .fix(format!("add `check` to the line: `{} check`", s.words.join(" "))),
            ));
        }
        if unchecked == servers.len() {
            out.push(at(
                cfg,
                &be.head,
                Finding::new(
                    "HW102",
                    Level::Warn,
                    format!(
                        "{}: none of its {} server(s) is checked: HAProxy cannot take a dead one out, and the backend never goes DOWN",
                        be.title(),
                        servers.len()
                    ),
                )
                .fix("add `default-server check` to the backend (with `option httpchk` for HTTP)"),
            ));
        }
        let plain = servers.iter().filter(|s| s.keyword() == "server").count();
        let backup = servers.iter().any(|s| s.has("backup"));
        if plain == 1 && servers.len() == 1 && !backup {
            out.push(at(
                cfg,
                &be.head,
                Finding::new(
                    "HW103",
                    Level::Warn,
                    format!(
                        "{}: one server and no `backup`: when it fails, every request gets a 503",
                        be.title()
                    ),
                )
                .fix("add a second server or a `backup` one (a sorry page will do), or allow HW103 if it is intended"),
            ));
        }
    }
}

/// Where a proxy can be reached from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Reach {
    /// Loopback or a unix socket.
    Local,
    /// A specific address of this host.
    Address,
    /// Every address (`:80`, `*:80`, `0.0.0.0`, `::`).
    All,
}

/// How far one bind address (or `stats socket` address) reaches; `None`
/// for what is not an address (`fd@`, `sockpair@`, a port range alone).
pub(crate) fn reach(addr: &str) -> Option<Reach> {
    if addr.starts_with('/') || addr.starts_with("unix@") || addr.starts_with("abns@") || addr.starts_with("abnsz@") {
        return Some(Reach::Local);
    }
    let a = [
        "ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@", "quic4@", "quic6@", "udp@", "udp4@", "udp6@",
    ]
    .iter()
    .find_map(|p| addr.strip_prefix(p))
    .unwrap_or(addr);
    if a.contains('@') {
        return None;
    }
    let host = match a.rsplit_once(':') {
        Some((h, _)) => h,
        None => a,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host == "*" {
        return Some(Reach::All);
    }
    match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() => Some(Reach::All),
        Ok(ip) if ip.is_loopback() => Some(Reach::Local),
        Ok(_) => Some(Reach::Address),
        // A host name: HAProxy resolves it at start; treat as one address.
        Err(_) if host == "localhost" => Some(Reach::Local),
        Err(_) => Some(Reach::Address),
    }
}

/// The widest reach of a proxy's binds, with the `bind` line that has it.
fn widest(p: &Section) -> Option<(Reach, &Line)> {
    let mut best: Option<(Reach, &Line)> = None;
    for b in p.all("bind") {
        for a in b.words.get(1).map_or("", String::as_str).split(',') {
            if let Some(r) = reach(a) {
                if best.is_none_or(|(w, _)| r > w) {
                    best = Some((r, b));
                }
            }
        }
    }
    best
}

const COMMON_PASSWORDS: &[&str] = &[
    "123456",
    "1234567",
    "12345678",
    "123456789",
    "1234567890",
    "12345",
    "1234",
    "111111",
    "000000",
    "123123",
    "654321",
    "666666",
    "888888",
    "password",
    "passw0rd",
    "p@ssw0rd",
    "admin",
    "admin123",
    "admin@123",
    "root",
    "toor",
    "haproxy",
    "stats",
    "qwerty",
    "abc123",
    "letmein",
    "changeme",
    "secret",
    "test",
    "test123",
    "guest",
    "default",
    "welcome",
    "iloveyou",
    "monitor",
    "password1",
    "a123456",
    "qwe123",
    "1q2w3e4r",
    "123qwe",
    "admin888",
];

/// Why a password is weak, if it is (the password itself is never told).
pub(crate) fn weak_password(user: &str, pass: &str) -> Option<&'static str> {
    let lower = pass.to_ascii_lowercase();
    if pass.is_empty() {
        Some("it is empty")
    } else if COMMON_PASSWORDS.contains(&lower.as_str()) {
        Some("it is one of the most common passwords")
    } else if lower == user.to_ascii_lowercase() {
        Some("it is the user name")
    } else if pass.chars().count() < 12 {
        Some("it is shorter than 12 characters")
    } else if pass.chars().all(|c| c.is_ascii_digit()) {
        Some("it is digits only")
    } else {
        None
    }
}

/// HW201, HW202, HW203.
fn stats_pages(cfg: &Cfg, out: &mut Vec<Finding>) {
    for p in cfg.sections.iter().filter(|s| s.is_proxy() || s.kind == "defaults") {
        let page = p.lines.iter().any(|l| l.is("stats", "enable") || l.is("stats", "uri"));
        let reach = widest(p);
        let admin = p.find("stats", "admin");
        let exposed = reach.is_some_and(|(r, _)| r > Reach::Local);
        let unconditional = admin.is_some_and(|l| {
            let cond: Vec<&str> = l.words.iter().skip(2).map(String::as_str).collect();
            matches!(
                cond.as_slice(),
                ["if", "TRUE"] | ["if", "always_true"] | ["unless", "FALSE"] | []
            )
        });
        let admin_exposed = admin.is_some() && exposed && unconditional;
        if let (Some(l), true) = (admin, admin_exposed) {
            let (_, b) = reach.expect("exposed");
            let auth = p.find("stats", "auth").is_some() || p.lines.iter().any(|l| l.has("http-auth"));
            out.push(at(
                cfg,
                l,
                Finding::new(
                    "HW201",
                    Level::Crit,
                    format!(
                        "{}: `{}` on a page bound to `{}` (line {}){}: whoever reaches the port {}can set servers to MAINT or DRAIN",
                        p.title(),
                        l.words.join(" "),
                        b.words.get(1).map_or("", String::as_str),
                        b.line,
                        if auth { "" } else { " with no `stats auth`" },
                        if auth { "and logs in " } else { "" }
                    ),
                )
                .fix("bind the page to 127.0.0.1 (or a management address) and write `stats admin if LOCALHOST`; use `hawatch ctl` for changes"),
            ));
        }
        for l in p.all("stats").filter(|l| l.is("stats", "auth")) {
            let cred = l.words.get(2).map_or("", String::as_str);
            let (user, pass) = cred.split_once(':').unwrap_or((cred, ""));
            if let Some(why) = weak_password(user, pass) {
                let level = if admin.is_some() { Level::Crit } else { Level::Warn };
                out.push(at(
                    cfg,
                    l,
                    Finding::new(
                        "HW202",
                        level,
                        format!(
                            "{}: `stats auth {user}:***` has a weak password ({why}){}",
                            p.title(),
                            if admin.is_some() {
                                "; this page has `stats admin`"
                            } else {
                                ""
                            }
                        ),
                    )
                    .fix("use a long random password (16+ characters) in a file only HAProxy reads, or a userlist with a hashed `password`"),
                ));
            }
        }
        if let (true, Some((Reach::All, b))) = (page, reach) {
            out.push(at(
                cfg,
                b,
                Finding::new(
                    "HW203",
                    Level::Warn,
                    format!(
                        "{}: the stats page is served on every address (`{}`): every backend, server address and error count, to anyone who finds the port",
                        p.title(),
                        b.words.join(" ")
                    ),
                )
                .fix("bind it to 127.0.0.1 or a management address (hawatch and Prometheus can read it there)"),
            ));
        }
    }
    for u in cfg.of_kind("userlist") {
        for l in u.all("user") {
            let (Some(name), Some(pass)) = (l.words.get(1), l.value_of("insecure-password")) else {
                continue;
            };
            if let Some(why) = weak_password(name, pass) {
                out.push(at(
                    cfg,
                    l,
                    Finding::new(
                        "HW202",
                        Level::Warn,
                        format!("{}: user {name} has a weak `insecure-password` ({why})", u.title()),
                    )
                    .fix("use `password` with a crypt(3) hash (`mkpasswd -m sha-512`) of a long random password"),
                ));
            }
        }
    }
}

/// A `stats socket` line of `global`: its address, level and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSocket {
    pub file: String,
    pub line: u32,
    /// As written: a path, or `ipv4@IP:PORT`, `IP:PORT`.
    pub addr: String,
    /// `level` (HAProxy's default: `operator`).
    pub level: String,
    /// `mode` in octal, if written.
    pub mode: Option<u32>,
}

impl StatsSocket {
    /// A unix socket's path.
    pub fn path(&self) -> Option<PathBuf> {
        let a = self.addr.strip_prefix("unix@").unwrap_or(&self.addr);
        a.starts_with('/').then(|| PathBuf::from(a))
    }

    /// How hawatch reaches it: `PATH` or `tcp://HOST:PORT` (a wildcard host
    /// as loopback).
    pub fn endpoint(&self) -> Option<String> {
        if let Some(p) = self.path() {
            return Some(p.display().to_string());
        }
        let a = ["ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@"]
            .iter()
            .find_map(|p| self.addr.strip_prefix(p))
            .unwrap_or(&self.addr);
        if a.contains('@') {
            return None;
        }
        let (host, port) = a.rsplit_once(':')?;
        port.parse::<u16>().ok()?;
        let host = match host.trim_start_matches('[').trim_end_matches(']') {
            "" | "*" | "0.0.0.0" => "127.0.0.1".to_string(),
            "::" => "[::1]".to_string(),
            h if h.contains(':') => format!("[{h}]"),
            h => h.to_string(),
        };
        Some(format!("tcp://{host}:{port}"))
    }
}

/// The `stats socket` lines of `global`, in order.
pub fn stats_socket_lines(cfg: &Cfg) -> Vec<StatsSocket> {
    cfg.global()
        .filter(|l| l.is("stats", "socket"))
        .filter_map(|l| {
            Some(StatsSocket {
                file: cfg.file_of(l).to_string(),
                line: l.line,
                addr: l.words.get(2)?.clone(),
                level: l.value_of("level").unwrap_or("operator").to_string(),
                mode: l.value_of("mode").and_then(|m| u32::from_str_radix(m, 8).ok()),
            })
        })
        .collect()
}

/// HW204, HW205.
fn stats_sockets(cfg: &Cfg, out: &mut Vec<Finding>) {
    for s in stats_socket_lines(cfg) {
        let admin = s.level == "admin";
        let level = if admin { Level::Crit } else { Level::Warn };
        match reach(&s.addr) {
            Some(Reach::Local) if s.path().is_some() => {
                if let Some(m) = s.mode.filter(|m| m & !0o660 != 0) {
                    out.push(
                        Finding::new(
                            "HW204",
                            level,
                            format!(
                                "global: `stats socket {}` has mode {m:o}, wider than 660: {} local user can use the Runtime API at level {}",
                                s.addr,
                                if m & 0o006 != 0 { "every" } else { "more than one" },
                                s.level
                            ),
                        )
                        .fix("write `mode 660` and a `group` on the line, and add who needs it to that group")
                        .at(s.file.clone(), s.line),
                    );
                }
            }
            Some(r @ (Reach::Address | Reach::All)) => {
                out.push(
                    Finding::new(
                        "HW205",
                        level,
                        format!(
                        "global: `stats socket {}` at level {} is a TCP socket on {}: the Runtime API has no password",
                        s.addr,
                        s.level,
                        if r == Reach::All { "every address" } else { "an address beyond loopback" }
                    ),
                    )
                    .fix("bind it to 127.0.0.1, or use a unix socket with `mode 660`")
                    .at(s.file.clone(), s.line),
                )
            }
            _ => {}
        }
    }
}

/// A keyword HAProxy removed or deprecated. `refused`/`warned`: the first
/// version known to refuse it / warn about it (checked against real 2.2,
/// 2.6, 3.0 and 3.2 by tests/it/doctor.rs; where HAProxy's own message names
/// an earlier version, that one).
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
        warned: Some(Version(2, 6)),
        instead: "remove it: there is one process; `thread` on a `bind` line pins a listener to threads",
    },
    Gone {
        what: "`process` on a `bind` line",
        matches: |s, l| s.is_frontend() && kw(l, "bind") && l.has("process"),
        refused: Some(Version(2, 7)),
        warned: Some(Version(2, 6)),
        instead: "remove `process N` (or use `thread N`)",
    },
    Gone {
        what: "`process` on a `stats socket` line",
        matches: |s, l| s.kind == "global" && l.is("stats", "socket") && l.has("process"),
        refused: Some(Version(2, 7)),
        warned: Some(Version(2, 6)),
        instead: "remove `process N` from the line (or use `thread N`)",
    },
    Gone {
        what: "option http-tunnel",
        matches: |_, l| l.is("option", "http-tunnel"),
        refused: Some(Version(2, 6)),
        warned: Some(Version(2, 1)),
        instead: "remove it: since 2.1 HAProxy parses every request itself and the option does nothing",
    },
    Gone {
        what: "option forceclose",
        matches: |_, l| l.is("option", "forceclose"),
        refused: Some(Version(2, 6)),
        warned: Some(Version(2, 0)),
        instead: "use `option httpclose` instead",
    },
    Gone {
        what: "option http-use-htx",
        matches: |_, l| l.is("option", "http-use-htx"),
        refused: Some(Version(2, 6)),
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
        refused: Some(Version(2, 6)),
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
        refused: Some(Version(2, 6)),
        warned: None,
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
        warned: Some(Version(2, 6)),
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
fn keywords(cfg: &Cfg, version: Option<Version>, out: &mut Vec<Finding>) {
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
            out.push(at(
                cfg,
                l,
                Finding::new(
                    id,
                    level,
                    format!("{}: `{}`: {}; {state}", s.title(), l.words.join(" "), g.what),
                )
                .fix(instead.to_string()),
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
fn wrong_section(cfg: &Cfg, out: &mut Vec<Finding>) {
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

/// HW401.
fn timeouts(cfg: &Cfg, out: &mut Vec<Finding>) {
    for p in cfg.sections.iter().filter(|s| s.is_proxy()) {
        let d = cfg.defaults_of(p);
        let has = |t: &str| p.find("timeout", t).is_some() || d.is_some_and(|d| d.find("timeout", t).is_some());
        let mut need = Vec::new();
        if p.is_frontend() && !has("client") {
            need.push("client");
        }
        if p.is_backend() && p.all("server").next().is_some() {
            for t in ["connect", "server"] {
                if !has(t) {
                    need.push(t);
                }
            }
        }
        if need.is_empty() {
            continue;
        }
        let names: Vec<String> = need.iter().map(|t| format!("`timeout {t}`")).collect();
        out.push(at(
            cfg,
            &p.head,
            Finding::new(
                "HW401",
                Level::Warn,
                format!(
                    "{}: no {} here or in its defaults: idle or half-dead peers hold their connections forever",
                    p.title(),
                    names.join(", ")
                ),
            )
            .fix(format!(
                "add to `defaults`: {}",
                need.iter()
                    .map(|t| match *t {
                        "connect" => "`timeout connect 5s`",
                        "client" => "`timeout client 30s`",
                        _ => "`timeout server 30s`",
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ));
    }
}

/// HW402.
fn maxconn(cfg: &Cfg, out: &mut Vec<Finding>) {
    let Some(global) = cfg
        .global()
        .filter(|l| l.keyword() == "maxconn")
        .last()
        .and_then(|l| l.words.get(1)?.parse::<u64>().ok())
    else {
        return;
    };
    for s in cfg.sections.iter().filter(|s| s.kind == "defaults" || s.is_frontend()) {
        let Some(l) = s.last("maxconn") else { continue };
        let Some(v) = l.words.get(1).and_then(|v| v.parse::<u64>().ok()) else {
            continue;
        };
        if v > global {
            out.push(at(
                cfg,
                l,
                Finding::new(
                    "HW402",
                    Level::Warn,
                    format!(
                        "{}: maxconn {v} is above the global maxconn {global}: the global limit is reached first, and new connections wait in the kernel",
                        s.title()
                    ),
                )
                .fix(format!("raise `maxconn` in global to {v} or more (with the file limit), or lower this one")),
            ));
        }
    }
}

/// Cipher-list entries that allow broken ciphers.
fn weak_ciphers(list: &str) -> Vec<String> {
    const WEAK: &[&str] = &[
        "RC4", "DES", "MD5", "NULL", "EXP", "ADH", "AECDH", "ANON", "IDEA", "SEED", "LOW", "MEDIUM",
    ];
    list.split([':', ',', ' '])
        .filter(|t| !t.is_empty() && !t.starts_with(['!', '-']))
        .filter(|t| {
            let u = t.trim_start_matches('+').to_ascii_uppercase();
            u == "ALL" || u == "COMPLEMENTOFALL" || WEAK.iter().any(|w| u.split('-').any(|part| part.contains(w)))
        })
        .map(str::to_string)
        .collect()
}

/// HW501, HW502.
fn tls(cfg: &Cfg, out: &mut Vec<Finding>) {
    for s in &cfg.sections {
        for l in &s.lines {
            let k = l.keyword();
            let tls_line = matches!(
                k,
                "ssl-default-bind-options" | "ssl-default-server-options" | "bind" | "server" | "default-server"
            );
            if tls_line {
                let mut old = Vec::new();
                if let Some(v) = l.value_of("ssl-min-ver") {
                    if matches!(v, "SSLv3" | "TLSv1.0" | "TLSv1.1") {
                        old.push(format!("ssl-min-ver {v}"));
                    }
                }
                for f in ["force-sslv3", "force-tlsv10", "force-tlsv11"] {
                    if l.has(f) {
                        old.push(f.to_string());
                    }
                }
                if !old.is_empty() {
                    let sslv3 = old.iter().any(|o| o.contains("SSLv3") || o.contains("sslv3"));
                    out.push(at(
                        cfg,
                        l,
                        Finding::new(
                            "HW501",
                            if sslv3 { Level::Crit } else { Level::Warn },
                            format!(
                                "{}: `{}` allows {}",
                                s.title(),
                                old.join(" "),
                                if sslv3 {
                                    "SSLv3 (broken: POODLE)"
                                } else {
                                    "TLS 1.0/1.1 (deprecated, RFC 8996)"
                                }
                            ),
                        )
                        .fix("remove it; `ssl-default-bind-options ssl-min-ver TLSv1.2` in global"),
                    ));
                }
            }
            let list = match k {
                "ssl-default-bind-ciphers" | "ssl-default-server-ciphers" => l.words.get(1).map(String::as_str),
                "bind" | "server" | "default-server" => l.value_of("ciphers"),
                _ => None,
            };
            let weak = list.map(weak_ciphers).unwrap_or_default();
            if !weak.is_empty() {
                out.push(at(
                    cfg,
                    l,
                    Finding::new(
                        "HW502",
                        Level::Warn,
                        format!("{}: the cipher list allows {}", s.title(), weak.join(", ")),
                    )
                    .fix("remove them (or add `!RC4:!3DES:!MD5:!aNULL:!eNULL:!EXPORT`); Mozilla's intermediate list is a safe choice"),
                ));
            }
        }
    }
}

/// `name` is covered by a certificate name (`*.example.com` covers one label).
pub fn covers(cert_name: &str, name: &str) -> bool {
    let (c, n) = (cert_name.to_ascii_lowercase(), name.to_ascii_lowercase());
    if c == n {
        return true;
    }
    match (c.strip_prefix("*."), n.split_once('.')) {
        (Some(suffix), Some((label, rest))) => !label.is_empty() && rest == suffix,
        _ => false,
    }
}

/// The host names a frontend routes by SNI (`ssl_fc_sni`/`req.ssl_sni`
/// equality matches), with their lines.
fn sni_names(p: &Section) -> Vec<(String, &Line)> {
    let mut out = Vec::new();
    for l in &p.lines {
        let mut i = 0;
        while i < l.words.len() {
            let w = l.words[i].trim_start_matches('{').trim();
            if matches!(w, "ssl_fc_sni" | "req.ssl_sni" | "req_ssl_sni") {
                let mut j = i + 1;
                while let Some(v) = l.words.get(j) {
                    if v == "-i" || v == "--" {
                        j += 1;
                        continue;
                    }
                    if v == "-m" {
                        // Only exact matches name a host.
                        if l.words.get(j + 1).is_some_and(|m| m != "str") {
                            break;
                        }
                        j += 2;
                        continue;
                    }
                    if v.starts_with('}') || v.starts_with('-') || !v.contains('.') || v.contains(['/', '(', '*']) {
                        break;
                    }
                    out.push((v.clone(), l));
                    j += 1;
                }
                i = j;
            } else {
                i += 1;
            }
        }
    }
    out
}

/// HW503, HW504, HW505.
fn certificates(input: &Input, out: &mut Vec<Finding>) {
    let cfg = input.cfg;
    let base = cfg
        .global()
        .filter(|l| l.keyword() == "crt-base")
        .last()
        .and_then(|l| l.words.get(1))
        .map_or_else(|| input.base.to_path_buf(), PathBuf::from);
    let mut seen: Vec<PathBuf> = Vec::new();
    for p in cfg.sections.iter().filter(|s| s.is_frontend()) {
        let mut names_here: Vec<String> = Vec::new();
        let mut any_crt = false;
        for b in p.all("bind") {
            for w in b.words.windows(2).filter(|w| w[0] == "crt") {
                any_crt = true;
                let path = if Path::new(&w[1]).is_absolute() {
                    PathBuf::from(&w[1])
                } else {
                    base.join(&w[1])
                };
                let load = (input.certs)(&path);
                match load {
                    Err(e) => {
                        if !seen.contains(&path) {
                            out.push(at(
                                cfg,
                                b,
                                Finding::new("HW505", Level::Crit, format!("{}: crt {}: {e}", p.title(), path.display()))
                                    .fix("fix the path (relative paths start at `crt-base`) or the file: HAProxy refuses to start"),
                            ));
                        }
                    }
                    Ok(files) => {
                        for (file, certs) in files {
                            names_here.extend(certs.iter().flat_map(|c| c.names.iter().cloned()));
                            if seen.contains(&PathBuf::from(&file)) {
                                continue;
                            }
                            seen.push(PathBuf::from(&file));
                            if certs.is_empty() {
                                out.push(at(
                                    cfg,
                                    b,
                                    Finding::new("HW505", Level::Crit, format!("{file}: no certificate in it"))
                                        .fix("put the certificate, its chain and its key in the PEM file"),
                                ));
                            }
                            for c in certs {
                                let days = (c.not_after - input.now).div_euclid(86_400);
                                let level = if days < 7 {
                                    Level::Crit
                                } else if days < 30 {
                                    Level::Warn
                                } else {
                                    Level::Ok
                                };
                                let when = if c.not_after < input.now {
                                    format!("expired {} days ago", (input.now - c.not_after) / 86_400)
                                } else {
                                    format!("expires in {days} days")
                                };
                                let f = Finding::new("HW504", level, format!("{file}: {} {when}", c.subject));
                                out.push(at(
                                    cfg,
                                    b,
                                    if level == Level::Ok {
                                        f
                                    } else {
                                        f.fix("renew it and reload HAProxy (or `set ssl cert` + `commit ssl cert`)")
                                    },
                                ));
                            }
                        }
                    }
                }
            }
        }
        if !any_crt || names_here.is_empty() {
            continue;
        }
        for (name, l) in sni_names(p) {
            if !names_here.iter().any(|c| covers(c, &name)) {
                out.push(at(
                    cfg,
                    l,
                    Finding::new(
                        "HW503",
                        Level::Warn,
                        format!(
                            "{}: routes SNI `{name}`, but no certificate of its binds covers it (they cover {})",
                            p.title(),
                            names_here.join(", ")
                        ),
                    )
                    .fix(format!(
                        "add a certificate for {name} to the bind's `crt` (a file or directory), or fix the name"
                    )),
                ));
            }
        }
    }
}
