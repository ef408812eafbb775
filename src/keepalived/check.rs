//! `hawatch check`: keepalived's `vrrp_script`. Exit 0 when this node's
//! HAProxy is fit to hold the VIP, 1 with the reason on stderr otherwise:
//!
//! - the maintenance file is absent (its presence hands the VIP over);
//! - the Runtime API answers `show stat` within `timeout` (a process that
//!   exists but hangs, or a socket left behind by a dead one, both fail —
//!   `killall -0 haproxy` passes for the first and `pidof` for neither);
//! - every backend in `min_up` has at least that many usable servers.
//!
//! keepalived runs it every `interval` seconds, so it does one request and
//! prints nothing when healthy.

use std::collections::BTreeMap;
use std::path::PathBuf;

use haproxy::{RowType, ServerStatus, Stat, State};

use crate::config::{Config, Health};

/// Usable servers per backend in a `show stat` reply: UP (also while a
/// failing check counts down, `UP 1/3`) or running without checks.
pub fn usable(stat: &Stat) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for r in stat.rows() {
        match r.kind() {
            RowType::Backend => {
                out.entry(r.pxname.to_string()).or_insert(0);
            }
            RowType::Server => {
                let n = out.entry(r.pxname.to_string()).or_insert(0);
                if matches!(ServerStatus::parse(&r.status).state, State::Up | State::NoCheck) {
                    *n += 1;
                }
            }
            _ => {}
        }
    }
    out
}

/// Why the node is unfit, if it is. Pure.
pub fn judge(usable: &BTreeMap<String, u32>, min_up: &BTreeMap<String, u32>) -> Result<(), String> {
    let mut why = Vec::new();
    for (backend, min) in min_up {
        match usable.get(backend) {
            None => why.push(format!("backend {backend} is not in HAProxy's configuration")),
            Some(n) if n < min => why.push(format!("backend {backend} has {n} usable server(s), needs {min}")),
            Some(_) => {}
        }
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

/// One check; `Err` carries the reason for stderr.
pub async fn check(h: &Health) -> Result<(), String> {
    if let Some(f) = &h.maint_file {
        if std::fs::symlink_metadata(f).is_ok() {
            return Err(format!("maintenance file {} is present", f.display()));
        }
    }
    let reply = haproxy::client::command(&h.socket, "show stat", h.timeout, crate::watch::source::MAX_REPLY, 0)
        .await
        .map_err(|e| format!("HAProxy's Runtime API did not answer within {:?}: {e}", h.timeout))?;
    if h.min_up.is_empty() {
        // Any valid reply will do; a `Permission denied` or garbage will not.
        return Stat::parse(reply)
            .map(|_| ())
            .map_err(|e| format!("HAProxy answered, but: {e}"));
    }
    let stat = Stat::parse(reply).map_err(|e| format!("HAProxy answered, but: {e}"))?;
    judge(&usable(&stat), &h.min_up)
}

/// `hawatch check --config FILE`: 0 healthy, 1 not (reason on stderr), 2 config.
pub async fn run(explicit: Option<PathBuf>) -> anyhow::Result<u8> {
    let config = Config::load(explicit.as_deref())?;
    let Some(h) = config.check else {
        anyhow::bail!("no [check] section in the configuration: `hawatch check` needs one (docs/keepalived.md)");
    };
    match check(&h).await {
        Ok(()) => Ok(0),
        Err(why) => {
            eprintln!("hawatch check: unhealthy: {why}");
            Ok(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_servers_per_backend_from_a_real_capture() {
        let stat = Stat::parse(include_str!("../../tests/fixtures/haproxy-2.6/show-stat.csv").to_string()).unwrap();
        let u = usable(&stat);
        // be_app: app1 UP, app2 DOWN, app3 UP via agent; be_dead: none.
        assert_eq!(u.get("be_dead"), Some(&0));
        assert!(u["be_app"] >= 1, "{u:?}");
        let min = |b: &str, n: u32| BTreeMap::from([(b.to_string(), n)]);
        assert!(judge(&u, &min("be_app", 1)).is_ok());
        assert_eq!(
            judge(&u, &min("be_dead", 1)).unwrap_err(),
            "backend be_dead has 0 usable server(s), needs 1"
        );
        assert!(judge(&u, &min("nope", 1))
            .unwrap_err()
            .contains("not in HAProxy's configuration"));
    }
}
