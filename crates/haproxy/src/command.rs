//! Runtime API commands, built from checked parts.
//!
//! The Runtime API reads one line: words separated by spaces, commands by
//! `;`, the line ended by a new line. A name carrying any of those would
//! change what HAProxy runs, so every name that goes into a command is a
//! [`Name`]: a string HAProxy itself accepts as a proxy, server or ring name
//! in its configuration (letters, digits, `.`, `-`, `_`, `:`). A [`Command`]
//! is shown as the exact line sent.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

pub use crate::agent::Admin;

/// A proxy (backend), server or ring name, checked the way HAProxy checks
/// names in its configuration (`invalid_char()`): ASCII letters, digits and
/// `.`, `-`, `_`, `:`; not empty. Such a name cannot end a word, a command or
/// the line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

/// Why a string cannot be a [`Name`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NameError {
    #[error("empty name")]
    Empty,
    /// A space, `;`, a new line, `/`, a control character, ...
    #[error("{name:?}: {ch:?} cannot be part of a name on the Runtime API (HAProxy names are letters, digits, `.`, `-`, `_` and `:`)")]
    Char { name: String, ch: char },
}

impl Name {
    pub fn new(s: impl Into<String>) -> Result<Name, NameError> {
        let s = s.into();
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if let Some(ch) = s
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':')))
        {
            return Err(NameError::Char { name: s, ch });
        }
        Ok(Name(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Name {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Name, NameError> {
        Name::new(s)
    }
}

impl TryFrom<&str> for Name {
    type Error = NameError;

    fn try_from(s: &str) -> Result<Name, NameError> {
        Name::new(s)
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;

    fn try_from(s: String) -> Result<Name, NameError> {
        Name::new(s)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One server: `BACKEND/SERVER`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerId {
    pub backend: Name,
    pub server: Name,
}

impl ServerId {
    /// Checks both names (see [`Name`]).
    pub fn new(backend: impl Into<String>, server: impl Into<String>) -> Result<ServerId, NameError> {
        Ok(ServerId {
            backend: Name::new(backend)?,
            server: Name::new(server)?,
        })
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.backend, self.server)
    }
}

/// A server weight for `set server ... weight`: absolute (0-256), or a
/// percentage of the weight the configuration gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Weight {
    /// 0-256.
    Absolute(u16),
    /// `NN%` of the configured weight (HAProxy caps the result at 256).
    Percent(u32),
}

/// Why a string is not a [`Weight`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?}: a number 0-256, or a percentage like 50%")]
pub struct WeightError(pub String);

impl Weight {
    /// The largest absolute weight HAProxy takes.
    pub const MAX: u16 = 256;

    /// `Some` for 0-256.
    pub fn absolute(w: u16) -> Option<Weight> {
        (w <= Weight::MAX).then_some(Weight::Absolute(w))
    }
}

impl FromStr for Weight {
    type Err = WeightError;

    /// `0`-`256`, or `NN%`.
    fn from_str(s: &str) -> Result<Weight, WeightError> {
        let pct = s.strip_suffix('%');
        match pct.unwrap_or(s).parse::<u32>() {
            Ok(v) if pct.is_some() => Ok(Weight::Percent(v)),
            Ok(v) if v <= u32::from(Weight::MAX) => Ok(Weight::Absolute(v as u16)),
            _ => Err(WeightError(s.to_string())),
        }
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Weight::Absolute(w) => write!(f, "{w}"),
            Weight::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// The level of the connection (`show cli level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CliLevel {
    User,
    Operator,
    Admin,
}

impl CliLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            CliLevel::User => "user",
            CliLevel::Operator => "operator",
            CliLevel::Admin => "admin",
        }
    }

    /// `user`, `operator` or `admin`, as `show cli level` answers.
    pub fn from_word(s: &str) -> Option<CliLevel> {
        match s {
            "user" => Some(CliLevel::User),
            "operator" => Some(CliLevel::Operator),
            "admin" => Some(CliLevel::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for CliLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Runtime API command. [`Display`](fmt::Display) writes the exact line
/// sent (without the new line).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Command {
    /// `show info`
    ShowInfo,
    /// `show stat`
    ShowStat,
    /// `show cli level`
    ShowCliLevel,
    /// `set server B/S state ready|drain|maint`
    SetServerState(ServerId, Admin),
    /// `set server B/S weight W`
    SetServerWeight(ServerId, Weight),
    /// `enable health B/S`, `disable health B/S`
    SetHealthCheck(ServerId, bool),
    /// `enable agent B/S`, `disable agent B/S`
    SetAgentCheck(ServerId, bool),
    /// `set maxconn server B/S N` (0: no limit)
    SetServerMaxconn(ServerId, u32),
    /// `show events RING -w -n`: new messages of a ring, then wait for more.
    FollowRing(Name),
    /// `reload`, on the master CLI.
    Reload,
    /// One command an operator typed (`hawatch top`'s Runtime API prompt),
    /// sent as it is: checked to be one command on one line.
    Typed(TypedLine),
}

/// One Runtime API command as a person typed it: not empty, at most
/// [`TypedLine::MAX`] bytes, no `;` (which would start a second command the
/// operator did not confirm) and no control character (a new line would end
/// the request early, others reach HAProxy's parser raw).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TypedLine(String);

/// Why a typed line cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TypedLineError {
    #[error("type a command")]
    Empty,
    #[error("longer than {max} bytes")]
    TooLong { max: usize },
    #[error("one command at a time: `;` would run a second one")]
    Semicolon,
    #[error("{ch:?} cannot be part of a command")]
    Control { ch: char },
}

impl TypedLine {
    pub const MAX: usize = 4096;

    pub fn new(line: &str) -> Result<TypedLine, TypedLineError> {
        let line = line.trim();
        if line.is_empty() {
            return Err(TypedLineError::Empty);
        }
        if line.len() > Self::MAX {
            return Err(TypedLineError::TooLong { max: Self::MAX });
        }
        if line.contains(';') {
            return Err(TypedLineError::Semicolon);
        }
        if let Some(ch) = line.chars().find(|c| c.is_control()) {
            return Err(TypedLineError::Control { ch });
        }
        Ok(TypedLine(line.to_string()))
    }

    /// Whether the command only reads (`show ...`, `help`): what a
    /// read-only session may send.
    pub fn only_reads(&self) -> bool {
        matches!(self.0.split_ascii_whitespace().next(), Some("show" | "help"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Command {
    /// Whether the command changes something: HAProxy answers nothing (or
    /// `Done`) when it did, and says why in words when it did not.
    pub fn is_action(&self) -> bool {
        matches!(
            self,
            Command::SetServerState(..)
                | Command::SetServerWeight(..)
                | Command::SetHealthCheck(..)
                | Command::SetAgentCheck(..)
                | Command::SetServerMaxconn(..)
        )
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = |b: bool| if b { "enable" } else { "disable" };
        match self {
            Command::ShowInfo => f.write_str("show info"),
            Command::ShowStat => f.write_str("show stat"),
            Command::ShowCliLevel => f.write_str("show cli level"),
            Command::SetServerState(id, s) => write!(f, "set server {id} state {}", s.as_str()),
            Command::SetServerWeight(id, w) => write!(f, "set server {id} weight {w}"),
            Command::SetHealthCheck(id, b) => write!(f, "{} health {id}", on(*b)),
            Command::SetAgentCheck(id, b) => write!(f, "{} agent {id}", on(*b)),
            Command::SetServerMaxconn(id, n) => write!(f, "set maxconn server {id} {n}"),
            Command::FollowRing(ring) => write!(f, "show events {ring} -w -n"),
            Command::Reload => f.write_str("reload"),
            Command::Typed(line) => f.write_str(&line.0),
        }
    }
}

/// The line for several commands at once: `a;b;c`.
pub(crate) fn line(commands: &[Command]) -> String {
    let mut out = String::new();
    for (i, c) in commands.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        use fmt::Write;
        let _ = write!(out, "{c}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: &str, s: &str) -> ServerId {
        ServerId::new(b, s).unwrap()
    }

    #[test]
    fn a_typed_line_is_one_command_on_one_line() {
        let ok = TypedLine::new("  show servers state be_app ").unwrap();
        assert_eq!(Command::Typed(ok.clone()).to_string(), "show servers state be_app");
        assert!(ok.only_reads());
        assert!(TypedLine::new("help").unwrap().only_reads());
        assert!(!TypedLine::new("set server be/s state drain").unwrap().only_reads());
        assert!(!TypedLine::new("shutdown sessions server be/s").unwrap().only_reads());
        assert!(!TypedLine::new("showx").unwrap().only_reads());
        assert_eq!(TypedLine::new(" "), Err(TypedLineError::Empty));
        assert_eq!(
            TypedLine::new("show info;shutdown frontend f"),
            Err(TypedLineError::Semicolon)
        );
        assert_eq!(
            TypedLine::new("show info\nshutdown frontend f"),
            Err(TypedLineError::Control { ch: '\n' })
        );
        assert_eq!(
            TypedLine::new("show\x1binfo"),
            Err(TypedLineError::Control { ch: '\x1b' })
        );
        assert!(matches!(
            TypedLine::new(&"x".repeat(5000)),
            Err(TypedLineError::TooLong { .. })
        ));
    }

    #[test]
    fn commands_are_the_lines_haproxy_reads() {
        let t = id("be_app", "app2");
        let cases = [
            (Command::ShowInfo, "show info"),
            (Command::ShowStat, "show stat"),
            (Command::ShowCliLevel, "show cli level"),
            (
                Command::SetServerState(t.clone(), Admin::Drain),
                "set server be_app/app2 state drain",
            ),
            (
                Command::SetServerState(t.clone(), Admin::Ready),
                "set server be_app/app2 state ready",
            ),
            (
                Command::SetServerState(t.clone(), Admin::Maint),
                "set server be_app/app2 state maint",
            ),
            (
                Command::SetServerWeight(t.clone(), "50%".parse().unwrap()),
                "set server be_app/app2 weight 50%",
            ),
            (
                Command::SetServerWeight(t.clone(), Weight::Absolute(0)),
                "set server be_app/app2 weight 0",
            ),
            (Command::SetHealthCheck(t.clone(), true), "enable health be_app/app2"),
            (Command::SetAgentCheck(t.clone(), false), "disable agent be_app/app2"),
            (
                Command::SetServerMaxconn(t.clone(), 10),
                "set maxconn server be_app/app2 10",
            ),
            (
                Command::FollowRing(Name::new("evring").unwrap()),
                "show events evring -w -n",
            ),
            (Command::Reload, "reload"),
        ];
        for (c, want) in cases {
            assert_eq!(c.to_string(), want);
        }
        assert_eq!(line(&[Command::ShowInfo, Command::ShowStat]), "show info;show stat");
    }

    /// A name that would end a word, a command or the line never reaches a
    /// command: it is refused with the character that is wrong.
    #[test]
    fn names_that_would_change_the_command_are_refused() {
        for (bad, ch) in [
            ("app 1", ' '),
            ("app;shutdown sessions server be/s", ';'),
            ("app\nset server be/s state maint", '\n'),
            ("app\r", '\r'),
            ("app\t", '\t'),
            ("be/srv", '/'),
            ("a\u{0}", '\u{0}'),
            ("é", 'é'),
            ("\"quoted\"", '"'),
            ("a\\;b", '\\'),
            ("#1", '#'),
        ] {
            let e = Name::new(bad).unwrap_err();
            assert_eq!(e, NameError::Char { name: bad.into(), ch }, "{bad:?}");
            assert!(e.to_string().contains(&format!("{ch:?}")), "{e}");
            assert!(ServerId::new("be", bad).is_err() && ServerId::new(bad, "s").is_err());
        }
        assert_eq!(Name::new(""), Err(NameError::Empty));
        assert_eq!("".parse::<Name>(), Err(NameError::Empty));
        for good in ["be_app", "app-1", "srv.example.com", "ns:1", "A9"] {
            assert_eq!(Name::new(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn weights() {
        assert_eq!("0".parse(), Ok(Weight::Absolute(0)));
        assert_eq!("256".parse(), Ok(Weight::Absolute(256)));
        assert_eq!("50%".parse(), Ok(Weight::Percent(50)));
        assert_eq!("300%".parse(), Ok(Weight::Percent(300)));
        for bad in ["257", "abc", "", "%", "-1", "1.5", "50 %"] {
            let e = bad.parse::<Weight>().unwrap_err();
            assert_eq!(e, WeightError(bad.into()));
            assert!(e.to_string().contains("a number 0-256"), "{e}");
        }
        assert_eq!(Weight::absolute(257), None);
        assert_eq!(Weight::absolute(256), Some(Weight::Absolute(256)));
    }

    #[test]
    fn cli_levels() {
        for l in [CliLevel::User, CliLevel::Operator, CliLevel::Admin] {
            assert_eq!(CliLevel::from_word(l.as_str()), Some(l));
        }
        assert_eq!(CliLevel::from_word("root"), None);
    }
}
