//! From check results to the reply line. Pure.
//!
//! - any hard check (http, tcp, exec) failing → `down #name: why`;
//! - else a maintenance file present → its state (`maint`, `drain`, `down`);
//! - else `up`, with the weight of the load checks (the lowest wins, 100% without any).
//!
//! A reply carries `maint` or `drain` while a file (or an exec check) says
//! so. `ready`, which undoes them, is added by the caller only for a while
//! after the agent itself set one ([`READY_HOLD`]): HAProxy's `ready` also
//! cancels a MAINT an operator set through the Runtime API, which the agent
//! must not undo.

use std::time::{Duration, Instant};

/// How long replies carry `ready` after the agent stopped saying `maint` or
/// `drain`: many agent-check intervals, so every HAProxy asking hears it.
pub(crate) const READY_HOLD: Duration = Duration::from_secs(120);

use haproxy::agent::{Admin, Health, Reply};

/// What a maintenance file's presence reports (`state = "maint"` in a check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FlagState {
    Maint,
    Drain,
    Down,
}

/// The last result of one check.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// For hard checks: passed. For file and load checks: always true.
    pub(crate) ok: bool,
    /// What was seen, in a few words (`HTTP 200`, `connection refused`, `load1 0.42/CPU → 100%`).
    pub(crate) detail: String,
    /// Load checks: the weight in percent.
    pub(crate) weight: Option<u32>,
    /// File checks: the flag file is there.
    pub(crate) flag: Option<FlagState>,
    /// Exec checks with `parse_stdout`: the reply the program printed.
    pub(crate) reply: Option<Reply>,
    pub(crate) at: Instant,
    pub(crate) took: std::time::Duration,
}

/// One check as the rules see it.
#[derive(Debug, Clone)]
pub(crate) struct Status<'a> {
    pub(crate) name: &'a str,
    pub(crate) services: &'a [String],
    pub(crate) outcome: &'a Outcome,
}

impl Status<'_> {
    fn applies(&self, service: Option<&str>) -> bool {
        self.services.is_empty() || service.is_some_and(|s| self.services.iter().any(|x| x == s))
    }
}

/// The state a reply puts the server in, one word: `up`, `down`, `maint` or `drain`.
pub(crate) fn state_word(r: &Reply) -> &'static str {
    match (r.admin, r.health) {
        (Some(Admin::Maint), _) => "maint",
        (_, Some(h)) if !h.is_up() => "down",
        (Some(Admin::Drain), _) => "drain",
        _ => "up",
    }
}

/// The reply for `service` (`None`: no `agent-send` string, or one no check names).
pub(crate) fn reply_for(service: Option<&str>, checks: &[Status]) -> Reply {
    let applicable: Vec<&Status> = checks.iter().filter(|c| c.applies(service)).collect();
    let mut r = Reply {
        health: Some(Health::Up),
        ..Reply::default()
    };
    let mut reasons = Vec::new();
    for c in &applicable {
        let o = c.outcome;
        if !o.ok {
            reasons.push(format!("{}: {}", c.name, o.detail));
        }
        if let Some(p) = &o.reply {
            // What an exec check printed counts like the check itself.
            if p.health.is_some_and(|h| !h.is_up()) && o.ok {
                let why = p.reason.clone().unwrap_or_else(|| o.detail.clone());
                reasons.push(format!("{}: {why}", c.name));
            }
            if p.admin.is_some() {
                r.admin = p.admin;
            }
            if let Some(w) = p.weight_pct {
                r.weight_pct = Some(r.weight_pct.map_or(w, |x| x.min(w)));
            }
            if p.maxconn.is_some() {
                r.maxconn = p.maxconn;
            }
        }
        if let Some(w) = o.weight {
            r.weight_pct = Some(r.weight_pct.map_or(w, |x| x.min(w)));
        }
    }
    if !reasons.is_empty() {
        r.health = Some(Health::Down);
        r.reason = Some(reasons.join("; "));
    }
    // A flag file: maint and drain are admin states; down is health.
    let flagged = applicable
        .iter()
        .filter_map(|c| c.outcome.flag.map(|f| (c.name, f)))
        .max_by_key(|(_, f)| match f {
            FlagState::Down => 3,
            FlagState::Maint => 2,
            FlagState::Drain => 1,
        });
    match flagged {
        Some((_, FlagState::Maint)) => r.admin = Some(Admin::Maint),
        Some((_, FlagState::Drain)) => r.admin = Some(Admin::Drain),
        Some((name, FlagState::Down)) if r.health == Some(Health::Up) => {
            r.health = Some(Health::Down);
            r.reason = Some(format!("{name}: maintenance file present"));
        }
        _ => {}
    }
    if r.weight_pct.is_none() && r.health == Some(Health::Up) {
        r.weight_pct = Some(100);
    }
    r
}

/// The weight a load reading gives: `ceiling` at or below `low`, `floor` at
/// or above `high`, linear in between.
pub(crate) fn load_weight(value: f64, low: f64, high: f64, floor: u32, ceiling: u32) -> u32 {
    if !value.is_finite() || value <= low {
        return ceiling;
    }
    if value >= high {
        return floor;
    }
    let f = (value - low) / (high - low);
    let w = ceiling as f64 - f * (ceiling as f64 - floor as f64);
    (w.round() as u32).clamp(floor, ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(ok: bool, detail: &str) -> Outcome {
        Outcome {
            ok,
            detail: detail.into(),
            weight: None,
            flag: None,
            reply: None,
            at: Instant::now(),
            took: Default::default(),
        }
    }

    fn st<'a>(name: &'a str, o: &'a Outcome) -> Status<'a> {
        Status {
            name,
            services: &[],
            outcome: o,
        }
    }

    #[test]
    fn up_with_weight_down_with_reason_flags_win_admin() {
        let app = out(true, "HTTP 200");
        let mut load = out(true, "load1 1.2");
        load.weight = Some(60);
        assert_eq!(reply_for(None, &[st("app", &app)]).to_line(), "up 100%\n");
        assert_eq!(
            reply_for(None, &[st("app", &app), st("load", &load)]).to_line(),
            "up 60%\n"
        );
        let bad = out(false, "HTTP 500");
        let r = reply_for(None, &[st("app", &bad), st("load", &load)]);
        assert_eq!(r.to_line(), "down 60% #app: HTTP 500\n");
        assert_eq!(state_word(&r), "down");
        let mut maint = out(true, "present");
        maint.flag = Some(FlagState::Maint);
        let r = reply_for(None, &[st("app", &app), st("m", &maint)]);
        assert_eq!(r.to_line(), "maint up 100%\n");
        assert_eq!(state_word(&r), "maint");
        let mut drain = out(true, "present");
        drain.flag = Some(FlagState::Drain);
        assert_eq!(
            state_word(&reply_for(None, &[st("app", &app), st("d", &drain)])),
            "drain"
        );
        let mut down = out(true, "present");
        down.flag = Some(FlagState::Down);
        assert_eq!(
            reply_for(None, &[st("app", &app), st("f", &down)]).to_line(),
            "down #f: maintenance file present\n"
        );
        // A failing app under a maint flag: MAINT in admin, DOWN in health.
        assert_eq!(
            reply_for(None, &[st("app", &bad), st("m", &maint)]).to_line(),
            "maint down #app: HTTP 500\n"
        );
    }

    #[test]
    fn services_pick_their_checks() {
        let a = out(false, "connection refused");
        let b = out(true, "HTTP 200");
        let svc_a = ["a".to_string()];
        let svc_b = ["b".to_string()];
        let checks = [
            Status {
                name: "a",
                services: &svc_a,
                outcome: &a,
            },
            Status {
                name: "b",
                services: &svc_b,
                outcome: &b,
            },
        ];
        assert_eq!(state_word(&reply_for(Some("a"), &checks)), "down");
        assert_eq!(state_word(&reply_for(Some("b"), &checks)), "up");
        assert_eq!(state_word(&reply_for(None, &checks)), "up");
    }

    #[test]
    fn exec_output_counts() {
        let mut e = out(true, "exit 0");
        e.reply = Some(Reply::parse("drain 30% maxconn:5\n", true).unwrap());
        assert_eq!(reply_for(None, &[st("x", &e)]).to_line(), "drain up 30% maxconn:5\n");
        e.reply = Some(Reply::parse("down #db lag\n", true).unwrap());
        assert_eq!(reply_for(None, &[st("x", &e)]).to_line(), "down #x: db lag\n");
    }

    #[test]
    fn load_curve() {
        assert_eq!(load_weight(0.1, 0.7, 2.0, 10, 100), 100);
        assert_eq!(load_weight(2.5, 0.7, 2.0, 10, 100), 10);
        assert_eq!(load_weight(1.35, 0.7, 2.0, 10, 100), 55);
        assert_eq!(load_weight(f64::NAN, 0.7, 2.0, 10, 100), 100);
    }
}
