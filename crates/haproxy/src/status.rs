//! Server `status` strings (`UP`, `UP 1/3`, `MAINT (via be/srv)`, ...) and
//! check result codes (`L7OK`, `* L4CON`, ...), as HAProxy 1.8–3.x prints them.

use std::fmt;

/// The operational/administrative word a status string starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Up,
    Down,
    Nolb,
    Drain,
    Maint,
    /// `no check`: running, no health check configured.
    NoCheck,
    /// Anything HAProxy may add in the future; kept verbatim in `raw`.
    Unknown,
}

impl State {
    /// The one word for the state (`UP`, `DOWN`, ...), as in events' `from`/`to`. `no check` counts as UP:
    /// the server is running and takes traffic.
    pub fn word(self) -> &'static str {
        match self {
            State::Up | State::NoCheck => "UP",
            State::Down => "DOWN",
            State::Nolb => "NOLB",
            State::Drain => "DRAIN",
            State::Maint => "MAINT",
            State::Unknown => "UNKNOWN",
        }
    }
}

/// A parsed server status, borrowing the string it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStatus<'a> {
    pub state: State,
    /// `Some((x, y))` for the transitional `UP 1/3`, `DOWN 1/2`, ... forms: the
    /// server is moving towards the other side and its state is not settled.
    /// `x` can be negative: HAProxy prints `health - rise + 1`, and a
    /// `rise 3 fall 1` server whose check just failed reads `UP -2/1` until
    /// HAProxy applies the DOWN (seen on 2.2 to 3.2, fixture
    /// `show-stat-going-down.csv`).
    pub transition: Option<(i32, i32)>,
    /// `(agent)`, `(via be/srv)`, `(resolution)` or a backend's `(n/m)`.
    pub qualifier: Option<&'a str>,
}

impl<'a> ServerStatus<'a> {
    /// Parses any status string. Never fails: unknown words give [`State::Unknown`].
    pub fn parse(raw: &'a str) -> ServerStatus<'a> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("no check") {
            return ServerStatus {
                state: State::NoCheck,
                transition: None,
                qualifier: None,
            };
        }
        let (head, qualifier) = match raw.find(" (") {
            Some(i) if raw.ends_with(')') => (&raw[..i], Some(&raw[i + 2..raw.len() - 1])),
            _ => (raw, None),
        };
        let mut words = head.split_ascii_whitespace();
        let state = match words.next().unwrap_or("") {
            "UP" => State::Up,
            "DOWN" => State::Down,
            "NOLB" => State::Nolb,
            "DRAIN" => State::Drain,
            "MAINT" => State::Maint,
            _ => State::Unknown,
        };
        let transition = words.next().and_then(|frac| {
            let (x, y) = frac.split_once('/')?;
            Some((x.parse().ok()?, y.parse().ok()?))
        });
        ServerStatus {
            state,
            transition,
            qualifier,
        }
    }

    /// A settled status is one a health check will not change on its own in
    /// the next few seconds: anything but the `x/y` transitional forms.
    pub fn is_settled(&self) -> bool {
        self.transition.is_none()
    }

    /// Whether this status still waits for a check that governs it: the
    /// health check or the agent check has given no result since HAProxy
    /// started (`INI`/`UNK`). Such a status is HAProxy's default, not an
    /// observation: right after a start a `fall 1` server reads plain `UP`
    /// with check `INI`, an agent-only one `no check` with agent `INI`, and
    /// the first result may turn either DOWN. `MAINT` is never pending: the
    /// operator, the config (`disabled`) or a tracked server put it there, and
    /// HAProxy pauses the checks of a server in maintenance. A tracking
    /// server has no check of its own; whether it waits is its target's
    /// business (see the `tracked` column).
    pub fn awaits_first_check(&self, check: Option<CheckStatus<'_>>, agent: Option<CheckStatus<'_>>) -> bool {
        self.state != State::Maint && (check.is_some_and(|c| c.is_pending()) || agent.is_some_and(|c| c.is_pending()))
    }
}

/// A health-check or agent-check result code (`L7OK`, `L4CON`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckStatus<'a>(&'a str);

impl<'a> CheckStatus<'a> {
    /// Parses a `check_status`/`agent_status` cell: strips the `* ` that marks a
    /// check in progress. `None` for an empty cell (no check configured).
    pub fn parse(raw: &'a str) -> Option<CheckStatus<'a>> {
        let s = raw.trim().trim_start_matches("* ").trim();
        (!s.is_empty()).then_some(CheckStatus(s))
    }

    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// `INI`/`UNK`: no result yet (for instance right after HAProxy started).
    pub fn is_pending(&self) -> bool {
        matches!(self.0, "INI" | "UNK" | "START")
    }

    /// Whether this result counts as a failed check.
    pub fn is_failure(&self) -> bool {
        matches!(
            self.0,
            "SOCKERR"
                | "L4TOUT"
                | "L4CON"
                | "L6TOUT"
                | "L6RSP"
                | "L7TOUT"
                | "L7RSP"
                | "L7STS"
                | "HANA"
                | "PROCERR"
                | "PROCTOUT"
        )
    }
}

impl fmt::Display for CheckStatus<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        let cases = [
            ("UP", State::Up, None, None),
            ("UP 1/3", State::Up, Some((1, 3)), None),
            ("DOWN 1/2", State::Down, Some((1, 2)), None),
            ("NOLB", State::Nolb, None, None),
            ("NOLB 1/2", State::Nolb, Some((1, 2)), None),
            ("DRAIN", State::Drain, None, None),
            ("DRAIN (agent)", State::Drain, None, Some("agent")),
            ("DOWN (agent)", State::Down, None, Some("agent")),
            ("MAINT", State::Maint, None, None),
            ("MAINT (via be_app/app1)", State::Maint, None, Some("via be_app/app1")),
            ("MAINT (resolution)", State::Maint, None, Some("resolution")),
            ("no check", State::NoCheck, None, None),
            ("UP (6/8)", State::Up, None, Some("6/8")),
            ("UP -2/1", State::Up, Some((-2, 1)), None),
            ("DRAIN -1/2", State::Drain, Some((-1, 2)), None),
            ("WEIRD", State::Unknown, None, None),
            ("", State::Unknown, None, None),
        ];
        for (raw, state, tr, q) in cases {
            let s = ServerStatus::parse(raw);
            assert_eq!(s.state, state, "{raw}");
            assert_eq!(s.transition, tr, "{raw}");
            assert_eq!(s.qualifier, q, "{raw}");
        }
        assert!(!ServerStatus::parse("UP 2/3").is_settled());
        assert!(!ServerStatus::parse("UP -2/1").is_settled());
        assert!(ServerStatus::parse("DOWN (agent)").is_settled());
    }

    /// The rows of a real HAProxy 2.6, read 30 ms after its start (fixture
    /// `show-stat-after-start.csv`): which statuses wait for a first check.
    #[test]
    fn awaits_first_check_on_a_real_start() {
        let cases = [
            // (status, check, agent, pending)
            ("UP", "INI", "", true),         // fall 1: plain UP before any check
            ("UP 1/3", "INI", "", true),     // fall 3
            ("no check", "", "INI", true),   // agent-only
            ("UP 1/3", "L4OK", "INI", true), // health checked, agent not yet
            ("DOWN", "L4CON", "", false),    // checked
            ("no check", "", "", false),     // nothing governs it
            ("MAINT", "", "", false),        // `disabled`: checks paused
            ("MAINT", "INI", "INI", false),  // maintenance is the operator's
            ("DOWN (agent)", "L4OK", "L7STS", false),
            ("UP", "* L4OK", "", false), // a check in progress after a result
        ];
        for (status, check, agent, pending) in cases {
            let got =
                ServerStatus::parse(status).awaits_first_check(CheckStatus::parse(check), CheckStatus::parse(agent));
            assert_eq!(got, pending, "{status} / {check} / {agent}");
        }
    }

    #[test]
    fn check_status_strips_in_progress_marker() {
        assert_eq!(CheckStatus::parse("* L7STS").unwrap().as_str(), "L7STS");
        assert!(CheckStatus::parse("").is_none());
        assert!(CheckStatus::parse("INI").unwrap().is_pending());
        assert!(CheckStatus::parse("L4CON").unwrap().is_failure());
        assert!(!CheckStatus::parse("L7OKC").unwrap().is_failure());
    }
}
