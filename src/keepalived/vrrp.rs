//! VRRP role changes: from keepalived's `notify_fifo` (ordered; read by the
//! watcher) and from `hawatch vrrp-notify` (keepalived's `notify` scripts).
//! Both record through [`record`], which keeps the last state per VRRP
//! instance in the store, so the same change told by both sources is one
//! event, and a state told again is none.

use std::collections::BTreeMap;

use chrono::Utc;

use crate::config::Keepalived;
use crate::model::event::{Event, Kind, Severity, VrrpInfo};
use crate::runtime::recorder::Recorder;
use crate::store::Store;

/// One line of keepalived's notify: `INSTANCE "VI_1" MASTER 100`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transition {
    /// `INSTANCE` or `GROUP`.
    pub(crate) kind: String,
    pub(crate) name: String,
    /// `MASTER`, `BACKUP`, `FAULT` or `STOP`.
    pub(crate) state: String,
    pub(crate) priority: Option<u32>,
}

impl Transition {
    /// From keepalived's notify arguments (`TYPE NAME STATE [PRIORITY]`).
    pub(crate) fn from_args(args: &[String]) -> Result<Transition, String> {
        let usage =
            "expected keepalived's notify arguments: TYPE NAME STATE [PRIORITY] (e.g. INSTANCE VI_1 MASTER 100)";
        let [kind, name, state, rest @ ..] = args else {
            return Err(usage.into());
        };
        // keepalived passes a priority of 0-255 as the fourth argument, if any.
        let priority = match rest {
            [] => None,
            [p] => match p.parse::<u8>() {
                Ok(p) => Some(u32::from(p)),
                Err(_) => return Err(format!("priority {p:?}: expected a number 0-255 ({usage})")),
            },
            [_, extra @ ..] => return Err(format!("unexpected arguments after PRIORITY: {extra:?} ({usage})")),
        };
        let t = Transition {
            kind: kind.to_ascii_uppercase(),
            name: name.trim_matches('"').to_string(),
            state: state.to_ascii_uppercase(),
            priority,
        };
        if !matches!(t.kind.as_str(), "INSTANCE" | "GROUP") || t.name.is_empty() {
            return Err(usage.into());
        }
        if kind_of(&t.state).is_none() {
            return Err(format!("state {:?}: expected MASTER, BACKUP, FAULT or STOP", t.state));
        }
        Ok(t)
    }

    /// A `notify_fifo` line. keepalived quotes the name; other lines
    /// (`MASTER_RX_LOWER_PRI`, priority notes) give `None`.
    pub(crate) fn parse_line(line: &str) -> Option<Transition> {
        let mut words = Vec::new();
        let mut rest = line.trim();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('"') {
                let end = r.find('"')?;
                words.push(r[..end].to_string());
                rest = r[end + 1..].trim_start();
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                words.push(rest[..end].to_string());
                rest = rest[end..].trim_start();
            }
        }
        Transition::from_args(&words).ok()
    }
}

fn kind_of(state: &str) -> Option<Kind> {
    match state {
        "MASTER" => Some(Kind::VrrpMaster),
        "BACKUP" => Some(Kind::VrrpBackup),
        "FAULT" => Some(Kind::VrrpFault),
        "STOP" => Some(Kind::VrrpStop),
        _ => None,
    }
}

/// The event for a transition, given what was recorded before. Pure.
pub(crate) fn event(t: &Transition, before: Option<&str>, info: VrrpInfo) -> Event {
    let kind = kind_of(&t.state).unwrap_or(Kind::VrrpFault);
    let severity = match (kind, before) {
        (Kind::VrrpFault, _) => Severity::Critical,
        // keepalived starting as BACKUP is not news.
        (Kind::VrrpBackup, None) => Severity::Info,
        _ => Severity::Warning,
    };
    let prio = t.priority.map(|p| format!(", priority {p}")).unwrap_or_default();
    let held = if info.vips_held.is_empty() {
        "holds no VIP".to_string()
    } else {
        format!("holds {}", info.vips_held.join(", "))
    };
    let message = match before {
        Some(b) => format!("{} VRRP {} {} → {}{prio}; {held}", info.host, t.name, b, t.state),
        None => format!(
            "{} VRRP {} is {}{prio} (first seen); {held}",
            info.host, t.name, t.state
        ),
    };
    Event {
        from: before.map(str::to_string),
        to: Some(t.state.clone()),
        vrrp: Some(Box::new(info)),
        ..Event::new(t.name.clone(), kind, severity, message)
    }
}

/// The info every VRRP event carries.
pub(crate) fn info(k: &Keepalived, host: &str, t: &Transition, source: &str) -> VrrpInfo {
    let addrs = crate::source::vip::local_addresses();
    VrrpInfo {
        host: host.to_string(),
        kind: t.kind.clone(),
        priority: t.priority,
        vips: k.vips.iter().map(|v| v.to_string()).collect(),
        vips_held: crate::source::vip::held(&k.vips, &addrs),
        addresses: addrs.iter().map(|a| a.to_string()).collect(),
        source: source.to_string(),
    }
}

const STATE_KEY: &str = "vrrp";

/// What the store keeps about VRRP: the last state told per instance, and
/// when a transition of it was last seen (told or not), which lets a
/// deferred FAULT know whether anything came after it.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Kept {
    #[serde(default)]
    pub(crate) states: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) seen_ms: BTreeMap<String, i64>,
}

impl Kept {
    pub(crate) fn load(store: &Store) -> crate::store::Result<Kept> {
        Ok(store
            .load_raw_state(STATE_KEY)?
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default())
    }
}

/// Decides what a transition records, given the kept states (`current`,
/// JSON): nothing if it repeats the last recorded state of its instance.
/// With `arrived_ms` (a FAULT told after its grace), nothing is recorded if
/// any transition of the instance was seen since.
fn decide(
    current: Option<String>,
    t: &Transition,
    info: VrrpInfo,
    arrived_ms: Option<i64>,
) -> Option<(String, Vec<Event>)> {
    let now = Utc::now().timestamp_millis();
    let mut kept: Kept = current.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default();
    if let Some(at) = arrived_ms {
        if kept.seen_ms.get(&t.name).is_some_and(|seen| *seen > at) {
            return None; // something came after this FAULT: it was a moment
        }
    }
    kept.seen_ms.insert(t.name.clone(), now);
    let before = kept.states.get(&t.name).cloned();
    let events = if before.as_deref() == Some(t.state.as_str()) {
        Vec::new()
    } else {
        kept.states.insert(t.name.clone(), t.state.clone());
        vec![event(t, before.as_deref(), info)]
    };
    Some((serde_json::to_string(&kept).expect("kept serializes"), events))
}

/// How long the background copy still waits for `fault_grace` after a FAULT
/// that arrived at `at_ms` (`--arrived-ms`, a command-line value): never
/// negative, never more than the grace, whatever `at_ms` says.
fn fault_wait_ms(at_ms: i64, grace: std::time::Duration, now_ms: i64) -> u64 {
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    at_ms.saturating_add(grace_ms).saturating_sub(now_ms).clamp(0, grace_ms) as u64
}

/// [`record`] from the watcher: through its recorder, which logs the event
/// and rings the sinks' bells. Failures are logged (the next change retries).
pub(crate) async fn record_in_watcher(recorder: &Recorder, t: Transition, info: VrrpInfo) {
    if let Err(e) = recorder
        .record_if(&t.name.clone(), STATE_KEY, move |current| {
            decide(current, &t, info, None)
        })
        .await
    {
        tracing::error!("recording a VRRP change: {e}");
    }
}

/// `hawatch vrrp-notify --config FILE TYPE NAME STATE [PRIORITY]`: records
/// the change and returns at once (it must never delay a failover). A
/// running watcher is woken to deliver it; without one, a background
/// `hawatch deliver` does.
pub(crate) async fn notify(
    load: impl FnOnce() -> anyhow::Result<crate::config::Config>,
    args: Vec<String>,
    arrived_ms: Option<i64>,
) -> anyhow::Result<u8> {
    let t = match Transition::from_args(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("hawatch vrrp-notify: {e}");
            return Ok(2);
        }
    };
    let config = load()?;
    let k = config.keepalived.clone().unwrap_or(Keepalived {
        notify_fifo: None,
        vips: Vec::new(),
        fault_grace: std::time::Duration::ZERO,
        vip_holder_alerts_only: false,
        peer: None,
        takeover_after: std::time::Duration::ZERO,
        takeover_after_stuck: std::time::Duration::ZERO,
        handback_after: std::time::Duration::ZERO,
    });
    // A FAULT is told only if nothing follows within fault_grace (keepalived's
    // start): that wait happens in a background copy of this command, never here.
    if t.state == "FAULT" && !k.fault_grace.is_zero() && arrived_ms.is_none() {
        let now = Utc::now().timestamp_millis();
        let mut extra = vec!["--arrived-ms".to_string(), now.to_string()];
        extra.extend(args);
        crate::runtime::spawn_self("vrrp-notify", config.path.as_deref(), &extra);
        return Ok(0);
    }
    if let Some(at) = arrived_ms {
        let wait = fault_wait_ms(at, k.fault_grace, Utc::now().timestamp_millis());
        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    }
    let recorder = Recorder::one_shot(&config)?;
    let info = info(&k, &config.notify.host, &t, "vrrp-notify");
    // Nothing recorded: already told (by the fifo, or an earlier call), or a
    // FAULT of a moment. Something recorded is handed to the watcher.
    recorder
        .record_if(&t.name.clone(), STATE_KEY, move |current| {
            decide(current, &t, info, arrived_ms)
        })
        .await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12: `--arrived-ms` near i64::MAX overflowed `at + grace`.
    #[test]
    fn the_fault_wait_is_bounded_by_the_grace() {
        let g = std::time::Duration::from_secs(3);
        assert_eq!(fault_wait_ms(1_000, g, 2_000), 2_000);
        assert_eq!(fault_wait_ms(1_000, g, 9_000), 0);
        assert_eq!(fault_wait_ms(i64::MAX, g, 0), 3_000);
        assert_eq!(fault_wait_ms(i64::MIN, g, i64::MAX), 0);
        assert_eq!(fault_wait_ms(0, std::time::Duration::MAX, 0), i64::MAX as u64);
    }

    #[test]
    fn fifo_lines_and_notify_arguments() {
        let t = Transition::parse_line("INSTANCE \"VI_1\" MASTER 100").unwrap();
        assert_eq!(
            (t.kind.as_str(), t.name.as_str(), t.state.as_str(), t.priority),
            ("INSTANCE", "VI_1", "MASTER", Some(100))
        );
        assert_eq!(
            Transition::parse_line("GROUP \"g one\" BACKUP 0").unwrap().name,
            "g one"
        );
        assert!(Transition::parse_line("INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 255").is_none());
        assert!(Transition::parse_line("garbage").is_none());
        assert!(Transition::parse_line("INSTANCE \"unterminated MASTER").is_none());
        let args: Vec<String> = ["INSTANCE", "VI_1", "fault"].iter().map(|s| s.to_string()).collect();
        assert_eq!(Transition::from_args(&args).unwrap().state, "FAULT");
        assert!(Transition::from_args(&args[..2])
            .unwrap_err()
            .contains("TYPE NAME STATE"));
        // A priority that is not one is an error (exit 2), not silently none.
        let with = |p: &[&str]| {
            let a: Vec<String> = ["INSTANCE", "VI_1", "MASTER"]
                .iter()
                .chain(p)
                .map(|s| s.to_string())
                .collect();
            Transition::from_args(&a)
        };
        assert_eq!(with(&["150"]).unwrap().priority, Some(150));
        assert_eq!(with(&[]).unwrap().priority, None);
        for bad in [&["notanumber"][..], &["256"], &["-1"], &["100", "extra"]] {
            let e = with(bad).unwrap_err();
            assert!(e.contains("PRIORITY") || e.contains("priority"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn events_say_what_changed() {
        let t = Transition::parse_line("INSTANCE \"VI_1\" MASTER 150").unwrap();
        let info = VrrpInfo {
            host: "lb1".into(),
            vips_held: vec!["198.51.100.248".into()],
            ..VrrpInfo::default()
        };
        let e = event(&t, Some("BACKUP"), info.clone());
        assert_eq!((e.kind, e.severity), (Kind::VrrpMaster, Severity::Warning));
        assert_eq!(
            e.message,
            "lb1 VRRP VI_1 BACKUP → MASTER, priority 150; holds 198.51.100.248"
        );
        let start = Transition::parse_line("INSTANCE \"VI_1\" BACKUP 100").unwrap();
        assert_eq!(event(&start, None, info).severity, Severity::Info);
    }
}
