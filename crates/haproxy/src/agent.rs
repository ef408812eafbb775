//! The agent-check reply line, as HAProxy 2.6 reads it (`tcpcheck.c`):
//! words separated by spaces, tabs or commas, in any order, case-insensitive,
//! the last word of each category winning; `NN%` sets the weight relative to
//! the configured one, `maxconn:N` the server's maxconn; a word starting with
//! `#` begins a free-text reason, kept with a health word. An unknown word
//! makes HAProxy report an error and change nothing.

use std::fmt::Write;

/// `up`, or one of the words that mark the server DOWN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    Up,
    Down,
    Fail,
    Stopped,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Down => "down",
            Health::Fail => "fail",
            Health::Stopped => "stopped",
        }
    }

    pub fn is_up(self) -> bool {
        self == Health::Up
    }
}

/// The admin words: `ready` clears what `drain` or `maint` set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Admin {
    Ready,
    Drain,
    Maint,
}

impl Admin {
    pub fn as_str(self) -> &'static str {
        match self {
            Admin::Ready => "ready",
            Admin::Drain => "drain",
            Admin::Maint => "maint",
        }
    }
}

/// One agent reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Reply {
    pub health: Option<Health>,
    pub admin: Option<Admin>,
    /// Weight in percent of the configured weight (HAProxy caps the result at 256).
    pub weight_pct: Option<u32>,
    /// `maxconn:N`; 0 removes the limit.
    pub maxconn: Option<u32>,
    /// Free text after `#`; HAProxy keeps it only together with a health word.
    pub reason: Option<String>,
}

/// The longest reason written: HAProxy reads one line into a small buffer,
/// and a message in `last_agt` is for humans.
pub const MAX_REASON: usize = 120;

/// Why a line is not a reply HAProxy would accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// HAProxy: `agent reports an error : <word>`.
    UnknownWord(String),
    /// No `\n` or `\r`: HAProxy ignores an incomplete line.
    Incomplete,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::UnknownWord(w) => write!(f, "HAProxy would reject the word {w:?}"),
            ParseError::Incomplete => f.write_str("no line ending: HAProxy ignores an incomplete line"),
        }
    }
}

impl std::error::Error for ParseError {}

impl Reply {
    /// Parses the first line of `text` (up to `\r` or `\n`). With
    /// `need_eol`, a line without its ending is an error, as for HAProxy.
    pub fn parse(text: &str, need_eol: bool) -> Result<Reply, ParseError> {
        let line = match text.find(['\r', '\n']) {
            Some(i) => &text[..i],
            None if need_eol => return Err(ParseError::Incomplete),
            None => text,
        };
        let mut r = Reply::default();
        let mut rest = line;
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                break;
            }
            if let Some(reason) = rest.strip_prefix('#') {
                r.reason = Some(reason.trim().to_string());
                break;
            }
            let end = rest.find([' ', '\t', ',']).unwrap_or(rest.len());
            let word = &rest[..end];
            rest = &rest[end..];
            let lower = word.to_ascii_lowercase();
            match lower.as_str() {
                "up" => r.health = Some(Health::Up),
                "down" => r.health = Some(Health::Down),
                "fail" => r.health = Some(Health::Fail),
                "stopped" => r.health = Some(Health::Stopped),
                "ready" => r.admin = Some(Admin::Ready),
                "drain" => r.admin = Some(Admin::Drain),
                "maint" => r.admin = Some(Admin::Maint),
                w => {
                    if let Some(n) = w
                        .strip_suffix('%')
                        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                    {
                        r.weight_pct = Some(n.parse().unwrap_or(u32::MAX).min(100_000));
                    } else if let Some(n) = w
                        .strip_prefix("maxconn:")
                        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                    {
                        r.maxconn = Some(n.parse().unwrap_or(u32::MAX));
                    } else {
                        return Err(ParseError::UnknownWord(word.to_string()));
                    }
                }
            }
        }
        Ok(r)
    }

    /// The line HAProxy gets, `\n` included: admin, health, weight,
    /// maxconn, then ` #reason` (printable ASCII only, at most
    /// [`MAX_REASON`] bytes, and only with a health word).
    pub fn to_line(&self) -> String {
        let mut out = String::with_capacity(48);
        let mut word = |w: &str| {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(w);
        };
        if let Some(a) = self.admin {
            word(a.as_str());
        }
        if let Some(h) = self.health {
            word(h.as_str());
        }
        if let Some(w) = self.weight_pct {
            word(&format!("{w}%"));
        }
        if let Some(m) = self.maxconn {
            word(&format!("maxconn:{m}"));
        }
        if let (Some(reason), Some(_)) = (&self.reason, self.health) {
            let clean = sanitize(reason);
            if !clean.is_empty() {
                let _ = write!(out, " #{clean}");
            }
        }
        out.push('\n');
        out
    }
}

/// Printable ASCII, single spaces, at most [`MAX_REASON`] bytes: what is
/// safe in a one-line reply and in HAProxy's `last_agt`.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_REASON));
    for c in s.chars() {
        let c = if c.is_ascii_graphic() { c } else { ' ' };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        if out.len() + 1 > MAX_REASON {
            break;
        }
        out.push(c);
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_grammar() {
        let r = Reply::parse("UP 100%\tmaxconn:0\r\n", true).unwrap();
        assert_eq!(
            (r.health, r.weight_pct, r.maxconn),
            (Some(Health::Up), Some(100), Some(0))
        );
        let r = Reply::parse("fail, 0%\n", true).unwrap();
        assert_eq!((r.health, r.weight_pct), (Some(Health::Fail), Some(0)));
        let r = Reply::parse("down #maintenance window\n", true).unwrap();
        assert_eq!(r.reason.as_deref(), Some("maintenance window"));
        // The last word of a category wins.
        let r = Reply::parse("down up drain ready\n", true).unwrap();
        assert_eq!((r.health, r.admin), (Some(Health::Up), Some(Admin::Ready)));
        assert_eq!(
            Reply::parse("stopped#x\n", true),
            Err(ParseError::UnknownWord("stopped#x".into()))
        );
        assert_eq!(
            Reply::parse("weight:3\n", true),
            Err(ParseError::UnknownWord("weight:3".into()))
        );
        assert_eq!(Reply::parse("up", true), Err(ParseError::Incomplete));
        assert!(Reply::parse("up", false).is_ok());
        assert_eq!(Reply::parse("\n", true), Ok(Reply::default()));
    }

    #[test]
    fn lines_round_trip_and_reasons_are_safe() {
        let r = Reply {
            health: Some(Health::Down),
            admin: Some(Admin::Ready),
            weight_pct: Some(75),
            maxconn: Some(10),
            reason: Some("app: HTTP 500\r\nInjected: yes\u{0}é".into()),
        };
        let line = r.to_line();
        assert_eq!(line, "ready down 75% maxconn:10 #app: HTTP 500 Injected: yes\n");
        assert_eq!(line.matches('\n').count(), 1);
        let back = Reply::parse(&line, true).unwrap();
        assert_eq!(back.health, r.health);
        assert_eq!(back.reason.as_deref(), Some("app: HTTP 500 Injected: yes"));
        let long = Reply {
            health: Some(Health::Down),
            reason: Some("x".repeat(1000)),
            ..Reply::default()
        };
        assert!(long.to_line().len() <= "down #".len() + MAX_REASON + 1);
        // A reason without a health word is dropped (HAProxy would drop it too).
        let r = Reply {
            admin: Some(Admin::Maint),
            reason: Some("why".into()),
            ..Reply::default()
        };
        assert_eq!(r.to_line(), "maint\n");
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = [
            "up",
            "down",
            "%",
            "#",
            ",",
            " ",
            "\t",
            "\r",
            "\n",
            "maxconn:",
            "9",
            "é",
            "\u{0}",
            "99999999999%",
        ];
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..(seed % 12) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push_str(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            if let Ok(r) = Reply::parse(&s, false) {
                let again = Reply::parse(&r.to_line(), true).unwrap();
                assert_eq!(
                    (again.health, again.admin, again.weight_pct, again.maxconn),
                    (r.health, r.admin, r.weight_pct, r.maxconn)
                );
            }
        }
    }
}
