//! Every problem found in a config, each named by file, line, column and
//! key, all collected before failing; and the small checks many sections
//! share (names, networks, URLs, secrets given inline or in a file).

use super::locate::Locator;
use super::secret::Secret;

/// Every problem found in a config, each naming file, line and key.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct ConfigError(pub Vec<String>);

/// Collects problems with their location.
pub(super) struct Problems<'a> {
    file: &'a str,
    text: &'a str,
    /// Where keys are written, from the parser's spans.
    loc: &'a Locator,
    list: Vec<String>,
}

impl<'a> Problems<'a> {
    pub(super) fn new(file: &'a str, text: &'a str, loc: &'a Locator) -> Problems<'a> {
        Problems {
            file,
            text,
            loc,
            list: Vec::new(),
        }
    }

    /// A problem with `key` (dotted, as written in errors: `sink[1].url`):
    /// located where that key is written, else at its table (or entry),
    /// else at the start of the file.
    pub(super) fn at(&mut self, key: &str, msg: impl std::fmt::Display) {
        let offset = self.loc.path(key).map_or(0, |(span, _)| span.start);
        self.at_offset(offset, key, msg);
    }

    /// A problem at a byte offset the parser reported.
    pub(super) fn at_offset(&mut self, offset: usize, key: &str, msg: impl std::fmt::Display) {
        let (line, col) = line_col(self.text, offset);
        self.list.push(format!("{}:{line}:{col}: `{key}`: {msg}", self.file));
    }

    /// A problem of the whole file (nothing written to point at).
    pub(super) fn file(&mut self, key: &str, msg: impl std::fmt::Display) {
        self.list.push(format!("{}: `{key}`: {msg}", self.file));
    }

    /// How many so far: a section compares before and after to tell
    /// whether its own part was valid.
    pub(super) fn count(&self) -> usize {
        self.list.len()
    }

    /// Every problem, as the error.
    pub(super) fn error(self) -> ConfigError {
        ConfigError(self.list)
    }

    /// `value` if nothing was found, else every problem.
    pub(super) fn result<T>(self, value: T) -> Result<T, ConfigError> {
        if self.list.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError(self.list))
        }
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.len(), |i| before.len() - i - 1) + 1;
    (line, col)
}

/// A network in CIDR form, or a single address as its /32 or /128.
pub(super) fn parse_net(a: &str) -> Option<ipnet::IpNet> {
    a.parse::<ipnet::IpNet>()
        .map(|n| n.trunc())
        .or_else(|_| a.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .ok()
}

pub(super) fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

pub(super) fn check_http_url(u: &str) -> Result<(), String> {
    match url::Url::parse(u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => Ok(()),
        Ok(p) => Err(format!(
            "expected an http:// or https:// URL, got a {}: URL",
            p.scheme()
        )),
        Err(e) => Err(format!("not a URL ({e})")),
    }
}

fn read_secret_file(path: &str) -> Result<Secret, String> {
    std::fs::read_to_string(path)
        .map(|s| Secret::new(s.trim()))
        .map_err(|e| format!("cannot read {path}: {e}"))
}

/// A secret given as `key = "..."` or `key_file = "/path"` (at most one).
pub(super) fn secret_or_file(val: Option<Secret>, file: Option<String>, p: &mut Problems, key: &str) -> Option<Secret> {
    match (val, file) {
        (Some(_), Some(_)) => {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            p.at(
                &format!("{key}_file"),
                format!("set either `{leaf}` or `{leaf}_file`, not both"),
            );
            None
        }
        (Some(v), None) => Some(v),
        (None, Some(path)) => read_secret_file(&path)
            .map_err(|e| p.at(&format!("{key}_file"), e))
            .ok(),
        (None, None) => None,
    }
}
