//! Replies: splitting a pipelined reply, and reading `show info;show stat`.
//! Pure functions on text; the [`Client`](crate::Client) calls them on what
//! it read, and they can be run on captures.

use thiserror::Error;

use crate::info::Info;
use crate::stat::{ParseError, Stat};

/// A reply that is not what the command returns.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// No empty line after the `show info` part (its first 80 characters).
    #[error("bad reply to `show info`: {0:?}")]
    BadInfo(String),
    /// The `show stat` part does not end with its empty line: the reply was cut.
    #[error("truncated reply to `show stat` (no terminating empty line)")]
    Truncated,
    /// The `show stat` part is not valid `show stat` CSV.
    #[error(transparent)]
    Stat(#[from] ParseError),
    /// Anything else a command cannot answer (its first 80 characters).
    #[error("unexpected reply to `{command}`: {reply:?}")]
    Unexpected { command: String, reply: String },
}

/// The first 80 characters, for an error message.
pub(crate) fn head(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Splits and parses the reply to `show info;show stat` (one connection, one
/// line). Each command's output ends with an empty line; without the second
/// one the reply was cut. The buffer is kept for the [`Stat`]: the `show
/// info` part is drained from its front.
pub fn parse_info_stat(mut reply: String) -> Result<(Info, Stat), ReplyError> {
    let Some(i) = reply.find("\n\n") else {
        return Err(ReplyError::BadInfo(head(&reply)));
    };
    let info = Info::parse(&reply[..i]);
    // Each command's output ends with an empty line; without it the reply was cut.
    if !reply[i + 2..].ends_with("\n\n") {
        return Err(ReplyError::Truncated);
    }
    reply.drain(..i + 2); // keep the buffer: the stat part is most of it
    let stat = Stat::parse(reply)?;
    Ok((info, stat))
}

/// Splits a `cmd1;cmd2` reply into its parts: each command's output ends with
/// one empty line, and HAProxy never prints an empty line inside an output.
pub fn split_replies(reply: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = reply;
    while let Some(i) = rest.find("\n\n") {
        out.push(&rest[..=i]);
        rest = &rest[i + 2..];
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = include_str!("../tests/fixtures/haproxy-2.6/show-info.txt");
    const STAT: &str = include_str!("../tests/fixtures/haproxy-2.6/show-stat.csv");

    #[test]
    fn splits_pipelined_replies() {
        assert_eq!(
            split_replies("admin\n\n1 (initial 1)\n\n\n"),
            vec!["admin\n", "1 (initial 1)\n", "\n"]
        );
        assert_eq!(split_replies("a\nb\n\nc\n"), vec!["a\nb\n", "c\n"]);
    }

    #[test]
    fn info_and_stat_framing() {
        let reply = format!("{INFO}{STAT}"); // both captures end with the empty line
        let (info, stat) = parse_info_stat(reply.clone()).unwrap();
        assert_eq!(info.pid, Some(28345));
        assert!(stat.len() > 20);
        let cut = &reply[..reply.len() - 300];
        assert_eq!(parse_info_stat(cut.to_string()).unwrap_err(), ReplyError::Truncated);
        assert_eq!(
            parse_info_stat("Unknown command\n".into()).unwrap_err(),
            ReplyError::BadInfo("Unknown command\n".into())
        );
        let e = parse_info_stat("Name: HAProxy\n\nPermission denied\n\n".into()).unwrap_err();
        assert!(matches!(e, ReplyError::Stat(ParseError::NotCsv(_))), "{e:?}");
        assert!(e.to_string().contains("not `show stat`"), "{e}");
    }

    /// No truncation of a real reply parses as complete.
    #[test]
    fn no_truncation_parses() {
        let reply = format!("{INFO}{STAT}");
        let complete = (0..reply.len())
            .step_by(7)
            .filter(|&cut| reply.is_char_boundary(cut) && parse_info_stat(reply[..cut].to_string()).is_ok())
            .count();
        assert_eq!(complete, 0);
    }
}
