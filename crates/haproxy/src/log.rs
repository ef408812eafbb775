//! The lines HAProxy logs when a server or backend changes state.
//!
//! A watcher can follow them in a `ring` ([`Client::follow_ring`](crate::Client::follow_ring),
//! `show events RING -w -n`) and poll at once when one arrives; the poll, not
//! the line, is the source of truth, so this only has to recognise the lines
//! and name the proxy/server.

/// A recognised state-change log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLine {
    pub backend: String,
    /// `None` for backend-level lines (`backend X has no server available!`).
    pub server: Option<String>,
}

/// Returns the state change a log line reports, if it reports one. Accepts every
/// syslog format HAProxy writes (local, rfc3164, rfc5424, raw, ...): it looks at
/// the message text only.
pub fn parse_state_line(line: &str) -> Option<StateLine> {
    // Message text starts after "]: " (local/rfc3164) or after " - - " (rfc5424);
    // raw format has neither. Searching the patterns anywhere covers all of them.
    for prefix in [
        "Server ",
        "Backup Server ",
        "Health check for server ",
        "Health check for backup server ",
        "Agent check for server ",
        "Agent check for backup server ",
    ] {
        let Some(pos) = find_word(line, prefix) else {
            continue;
        };
        let rest = &line[pos + prefix.len()..];
        let name: &str = rest.split([' ', ',']).next()?;
        let (be, srv) = name.split_once('/')?;
        if be.is_empty() || srv.is_empty() {
            return None;
        }
        let tail = &rest[name.len()..];
        let is_state = tail.starts_with(" is ")
            || tail.starts_with(" enters ")
            || tail.starts_with(" was DOWN")
            || tail.starts_with(" remains ")
            || tail.starts_with(" failed")
            || tail.starts_with(" succeeded")
            || tail.starts_with(", ");
        return is_state.then(|| StateLine {
            backend: be.to_string(),
            server: Some(srv.to_string()),
        });
    }
    let pos = find_word(line, "backend ")?;
    let rest = &line[pos + "backend ".len()..];
    let (name, tail) = rest.split_once(' ')?;
    tail.starts_with("has no server available").then(|| StateLine {
        backend: name.to_string(),
        server: None,
    })
}

/// Position of `pat` where it starts a word (start of line or after a space).
fn find_word(line: &str, pat: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = line[from..].find(pat) {
        let at = from + i;
        if at == 0 || line.as_bytes()[at - 1] == b' ' {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_every_state_line_in_the_captures() {
        let ring = include_str!("../tests/fixtures/haproxy-2.6/show-events-evring.txt");
        let hits: Vec<_> = ring.lines().filter_map(parse_state_line).collect();
        assert!(hits.contains(&StateLine {
            backend: "be_app".into(),
            server: Some("app2".into())
        }));
        assert!(hits.contains(&StateLine {
            backend: "be_dead".into(),
            server: None
        }));
        assert!(hits.contains(&StateLine {
            backend: "be_app".into(),
            server: Some("bkp".into())
        }));
        assert!(hits.contains(&StateLine {
            backend: "be_logchk".into(),
            server: Some("lc1".into())
        }));
        // Traffic and frontend lines are not state changes.
        for l in ring
            .lines()
            .filter(|l| l.contains("fe_tcp be_tcp/t1") || l.contains("frontend fe_tcp"))
        {
            assert_eq!(parse_state_line(l), None, "{l}");
        }
        let rfc5424 = include_str!("../tests/fixtures/haproxy-2.6/syslog-udp-local1-rfc5424.log");
        assert!(rfc5424.lines().filter_map(parse_state_line).count() > 3);
    }

    #[test]
    fn ignores_noise() {
        assert_eq!(parse_state_line(""), None);
        assert_eq!(
            parse_state_line("Proxy be stopped (cumulated conns: FE: 0, BE: 0)."),
            None
        );
        assert_eq!(parse_state_line("Server /x is DOWN"), None);
        assert_eq!(
            parse_state_line("Server be/s1 is UP"),
            Some(StateLine {
                backend: "be".into(),
                server: Some("s1".into())
            })
        );
    }
}
