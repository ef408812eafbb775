//! `hawatch doctor`'s rules: each has a stable id (`HW101`), a level, a
//! rationale (`doctor --explain ID`) and, for the rules that read only
//! haproxy.cfg, an example that triggers it and one that does not (the
//! tests run both for every rule, and docs/doctor.md shows them).
//!
//! Pure: [`file::lint`] takes the parsed configuration, the HAProxy version
//! and what the certificate files hold; [`host`] turns numbers read from
//! `/proc` and the kernel log into findings. Reading those is `ops::doctor`'s.

pub mod file;
pub mod host;
mod keywords;
mod rules;
mod tls;

use serde::Serialize;

pub use rules::{rule, Rule, Scope, RULES};

/// How bad a finding is; the exit status of `doctor` is the worst one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Crit,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Crit => "crit",
        }
    }
}

/// One finding of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's id, `HW101`.
    pub id: &'static str,
    /// The rule's name, `server-without-check`.
    pub rule: &'static str,
    pub level: Level,
    /// The file it is about, when it is about a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line in `file` (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// What was seen.
    pub text: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    /// A finding of rule `id` (which must be in [`RULES`]).
    pub fn new(id: &'static str, level: Level, text: impl Into<String>) -> Finding {
        Finding {
            id,
            rule: rule(id).map_or("", |r| r.name),
            level,
            file: None,
            line: None,
            text: text.into(),
            fix: None,
        }
    }

    pub fn fix(mut self, what: impl Into<String>) -> Finding {
        self.fix = Some(what.into());
        self
    }

    pub fn at(mut self, file: impl Into<String>, line: u32) -> Finding {
        self.file = Some(file.into());
        self.line = Some(line);
        self
    }

    /// `file:line`, or nothing.
    pub fn place(&self) -> Option<String> {
        match (&self.file, self.line) {
            (Some(f), Some(l)) => Some(format!("{f}:{l}")),
            (Some(f), None) => Some(f.clone()),
            _ => None,
        }
    }
}

/// An HAProxy version, `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32);

impl Version {
    /// From `2.6.12-1+deb12u4`, `HAProxy version 3.2.26-1 2025/...`, or `3.0-dev1`.
    pub fn parse(text: &str) -> Option<Version> {
        let word = text
            .split_whitespace()
            .find(|w| w.starts_with(|c: char| c.is_ascii_digit()) && w.contains('.'))?;
        let mut parts = word.split(|c: char| !c.is_ascii_digit());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(Version(major, minor))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// Keeps the findings whose rule is not in `allow` (ids, any case); returns
/// how many were left out.
pub fn silence(findings: &mut Vec<Finding>, allow: &[String]) -> usize {
    let before = findings.len();
    findings.retain(|f| !allow.iter().any(|a| a.eq_ignore_ascii_case(f.id)));
    before - findings.len()
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
