//! The rules that read only haproxy.cfg (and the certificate files it
//! names): what `doctor --offline` and `apply` run, [`lint`]. Servers and
//! checks, the stats page and sockets, timeouts and maxconn are here;
//! keywords in `keywords.rs`, TLS and certificates in `tls.rs`. Pure.

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

#[derive(Clone, Copy)]
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

/// Judges one `.if` term doctor understands: exactly
/// `[!]version_atleast(X)` or `[!]version_before(X)` (anything around it,
/// `&&`, `||`, another predicate, is `None`). HAProxy compares the whole
/// version; doctor knows major.minor, so a patch-level `X` of the running
/// major.minor is `None` too.
fn judge(cond: &str, version: Option<Version>) -> Option<bool> {
    let v = version?;
    let c = cond.trim();
    let (negated, c) = match c.strip_prefix('!') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, c),
    };
    let (f, arg) = c.strip_suffix(')')?.split_once('(')?;
    let arg = arg.trim().trim_matches('"');
    if arg.contains(['(', ')', ' ', '&', '|']) || !arg.starts_with(|ch: char| ch.is_ascii_digit()) {
        return None;
    }
    let want = Version::parse(arg)?;
    let patch = arg.split('.').count() > 2 || arg.contains('-');
    if patch && want == v {
        return None;
    }
    let holds = match f {
        "version_atleast" => v >= want,
        "version_before" => v < want,
        _ => return None,
    };
    Some(holds != negated)
}

/// Whether a line's `.if` conditions hold for this HAProxy: `Some(true)`
/// or `Some(false)` when every condition is one [`judge`] understands and
/// the version is known, else `None` (`Some(false)` as soon as one
/// understood term rules the line out).
pub fn active(l: &Line, version: Option<Version>) -> Option<bool> {
    let mut known = true;
    for (cond, must) in &l.conds {
        match judge(cond, version) {
            Some(holds) if holds != *must => return Some(false),
            Some(_) => {}
            None => known = false,
        }
    }
    known.then_some(true)
}

/// Caps a finding on a line doctor cannot tell is read (an `.if` it cannot
/// judge) at a warning, and says so.
fn cap_unjudged(cfg: &Cfg, version: Option<Version>, out: &mut [Finding]) {
    let unjudged: Vec<(&str, u32)> = cfg
        .sections
        .iter()
        .flat_map(|s| std::iter::once(&s.head).chain(s.lines.iter()))
        .filter(|l| !l.conds.is_empty() && active(l, version).is_none())
        .map(|l| (cfg.file_of(l), l.line))
        .collect();
    if unjudged.is_empty() {
        return;
    }
    for f in out.iter_mut() {
        if let (Some(file), Some(line)) = (&f.file, f.line) {
            if unjudged.contains(&(file.as_str(), line)) {
                f.level = f.level.min(Level::Warn);
                f.text.push_str(" (inside an `.if` block doctor cannot judge)");
            }
        }
    }
}

/// Every file rule's findings, in file order within each rule group. Lines
/// in an `.if` branch this HAProxy does not take are left out.
pub fn lint(input: &Input) -> Vec<Finding> {
    let mut out = Vec::new();
    let version = input.version;
    let taken = input.cfg.retain_lines(&|l| active(l, version) != Some(false));
    let input = Input { cfg: &taken, ..*input };
    let input = &input;
    let cfg = input.cfg;
    checks(cfg, &mut out);
    stats_pages(cfg, &mut out);
    stats_sockets(cfg, &mut out);
    super::keywords::keywords(cfg, input.version, &mut out);
    super::keywords::wrong_section(cfg, &mut out);
    timeouts(cfg, &mut out);
    maxconn(cfg, &mut out);
    super::tls::tls(cfg, &mut out);
    super::tls::certificates(input, &mut out);
    cap_unjudged(cfg, version, &mut out);
    out
}

pub(super) fn at(cfg: &Cfg, line: &Line, f: Finding) -> Finding {
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
        let chain = cfg.defaults_chain(be);
        // Outermost defaults first: the nearest `default-server` wins.
        let default_servers: Vec<&Line> = chain
            .iter()
            .rev()
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
            .or_else(|| chain.iter().find_map(|d| d.lines.iter().rev().find_map(check_option)));
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
            // `track B/S` takes the state of a checked server.
            let checked = if s.has("check") || s.has("track") {
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

#[rustfmt::skip]
const COMMON_PASSWORDS: &[&str] = &[
    "123456", "1234567", "12345678", "123456789", "1234567890", "12345", "1234", "111111", "000000", "123123",
    "654321", "666666", "888888", "password", "passw0rd", "p@ssw0rd", "admin", "admin123", "admin@123", "root",
    "toor", "haproxy", "stats", "qwerty", "abc123", "letmein", "changeme", "secret", "test", "test123", "guest",
    "default", "welcome", "iloveyou", "monitor", "password1", "a123456", "qwe123", "1q2w3e4r", "123qwe", "admin888",
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
        // `stats` lines in a `defaults` serve the page on every proxy that takes from it.
        let chain = cfg.defaults_chain(p);
        let inherited =
            |f: &dyn Fn(&Line) -> bool| p.lines.iter().chain(chain.iter().flat_map(|d| d.lines.iter())).any(f);
        // HAProxy ignores `stats` in a TCP proxy (and says so).
        let mode = p
            .last("mode")
            .or_else(|| chain.iter().find_map(|d| d.last("mode")))
            .and_then(|l| l.words.get(1))
            .map_or("tcp", String::as_str);
        if mode == "tcp" {
            continue;
        }
        let page = inherited(&|l| l.is("stats", "enable") || l.is("stats", "uri"));
        let reach = widest(p);
        let admin = p
            .find("stats", "admin")
            .or_else(|| chain.iter().find_map(|d| d.find("stats", "admin")));
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
            let auth = inherited(&|l| l.is("stats", "auth") || l.has("http-auth"));
            out.push(at(
                cfg,
                l,
                Finding::new(
                    "HW201",
                    Level::Crit,
                    format!(
                        "{}: `{}` on a page bound to `{}`{}: whoever reaches the port {}can set servers to MAINT or DRAIN",
                        p.title(),
                        l.words.join(" "),
                        b.words.get(1).map_or("", String::as_str),
                        if auth { "" } else { " with no `stats auth`" },
                        if auth { "and logs in " } else { "" }
                    ),
                )
                .fix("bind the page to 127.0.0.1 (or a management address) and write `stats admin if LOCALHOST`; use `hawatch ctl` for changes"),
            ));
        }
        for l in p.all("stats").filter(|l| l.is("stats", "auth")) {
            let cred = l.words.get(2).map_or("", String::as_str);
            // `${VAR}` is the password HAProxy's environment gives, unknown here;
            // without a ':' the whole word is a password, never printed.
            let (user, pass) = cred.split_once(':').unwrap_or(("", cred));
            let shown = if cred.contains(':') {
                format!("{user}:***")
            } else {
                "***".to_string()
            };
            if let Some(why) = weak_password(user, pass).filter(|_| !pass.contains('$')) {
                let level = if admin.is_some() { Level::Crit } else { Level::Warn };
                out.push(at(
                    cfg,
                    l,
                    Finding::new(
                        "HW202",
                        level,
                        format!(
                            "{}: `stats auth {shown}` has a weak password ({why}){}",
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
            if let Some(why) = weak_password(name, pass).filter(|_| !pass.contains('$')) {
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
    let octal = |m: &str| u32::from_str_radix(m, 8).ok();
    // `unix-bind ... mode M` in global: the mode of unix sockets that give none.
    let unix_mode = cfg
        .global()
        .filter(|l| l.keyword() == "unix-bind")
        .last()
        .and_then(|l| l.value_of("mode"))
        .and_then(octal);
    cfg.global()
        .filter(|l| l.is("stats", "socket"))
        .filter_map(|l| {
            let addr = l.words.get(2)?.clone();
            let unix = addr.starts_with('/') || addr.starts_with("unix@");
            Some(StatsSocket {
                file: cfg.file_of(l).to_string(),
                line: l.line,
                level: l.value_of("level").unwrap_or("operator").to_string(),
                mode: l.value_of("mode").and_then(octal).or(unix_mode.filter(|_| unix)),
                addr,
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
                // Connecting to a unix socket takes write permission: others'
                // write bit is what opens it to every local user.
                if let Some(m) = s.mode.filter(|m| m & 0o002 != 0) {
                    out.push(
                        Finding::new(
                            "HW204",
                            level,
                            format!(
                                "global: `stats socket {}` has mode {m:o}, wider than 660: every local user can use the Runtime API at level {}",
                                s.addr,
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

/// HW401.
fn timeouts(cfg: &Cfg, out: &mut Vec<Finding>) {
    for p in cfg.sections.iter().filter(|s| s.is_proxy()) {
        let chain = cfg.defaults_chain(p);
        let has = |t: &str| p.find("timeout", t).is_some() || chain.iter().any(|d| d.find("timeout", t).is_some());
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

pub use super::keywords::{removed_keyword_examples, KeywordExample};
pub use super::tls::covers;
