//! The peer watch: once a second the watcher asks its peer's hawatch
//! (`GET /api/vrrp`) which VIPs it holds and how its alerting goes.
//!
//! - Split brain: both holding one, or the peer not answering while this
//!   node holds none (so maybe nobody does), lasting `GRACE`, is a critical
//!   event; the pair becoming consistent again is told too. A failover's
//!   brief overlap is not reported.
//! - With `backend_alerts = "vip-holder"`: the answer steps the pair's
//!   roles (`logic::pair`), whose verdicts are applied here: held rows told
//!   or dropped, `pair_takeover` / `pair_handback` recorded once.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::{Keepalived, Secret};
use crate::logic::pair::{Action, PairReport, Peer, Role, Step};
use crate::model::event::{Event, Kind, Severity, VrrpInfo};
use crate::runtime::recorder::Recorder;

/// The largest answer read from the peer.
const MAX_ANSWER: usize = 256 * 1024;

/// What the peer said: the VIPs it holds, and its alerting (none from an
/// older hawatch).
pub type Answer = (BTreeSet<String>, Option<PairReport>);

/// How long a condition must last before it is told.
pub(crate) const GRACE: Duration = Duration::from_secs(3);

/// What the pair looks like from here. Pure.
pub(crate) fn condition(mine: &BTreeSet<String>, peer: &Result<BTreeSet<String>, String>) -> &'static str {
    match peer {
        Ok(theirs) if !mine.is_disjoint(theirs) => "split",
        Err(_) if mine.is_empty() => "peer_unreachable",
        _ => "ok",
    }
}

async fn ask(http: &reqwest::Client, url: &str, auth: &Option<(String, Secret)>) -> Result<Answer, String> {
    let mut req = http.get(format!("{url}/api/vrrp")).timeout(Duration::from_secs(1));
    if let Some((u, p)) = auth {
        req = req.basic_auth(u, Some(p.expose()));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| crate::error::error_chain(&e.without_url()))?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status().as_u16()));
    }
    let mut resp = resp;
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("reading the answer: {}", crate::error::error_chain(&e.without_url())))?
    {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(format!("its answer is longer than {MAX_ANSWER} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    parse_answer(&body)
}

/// The peer's answer. Untrusted: any JSON is read without a panic, a list
/// longer than `pair::MAX_ITEMS` is cut, ages are capped at a day.
pub fn parse_answer(body: &[u8]) -> Result<Answer, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let vips = v["vips_held"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    // A report this hawatch cannot read (a newer peer's, say) is treated as
    // none: such a peer is never taken over while it answers, and the
    // split-brain watch goes on.
    let pair = match &v["pair"] {
        serde_json::Value::Null => None,
        p => match serde_json::from_value::<PairReport>(p.clone()) {
            Ok(r) => Some(r.bounded()),
            Err(e) => {
                static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
                if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!("the peer's `pair` report is unreadable ({e}): it is not taken over while it answers; run the same hawatch version on both nodes");
                }
                None
            }
        },
    };
    Ok((vips, pair))
}

pub(crate) async fn watch(k: Keepalived, host: String, recorder: Recorder, shutdown: CancellationToken) {
    let Some((url, auth)) = k.peer.clone() else { return };
    let http = crate::notify::http_client();
    let mut seen: Option<(&'static str, Instant)> = None;
    // Whether a takeover the store remembers from before this start was
    // looked at (it may have ended while this watcher was down).
    let mut reconciled =
        Reconciled::Pending(Instant::now() + Duration::from_millis(k.takeover_after.as_millis() as u64 + 1000));
    // Once a second, the ask included (a hung peer's 1 s timeout does not
    // slow the looks down).
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let addrs = crate::source::vip::local_addresses();
        let mine: BTreeSet<String> = crate::source::vip::held(&k.vips, &addrs).into_iter().collect();
        let answer = ask(&http, &url, &auth).await;
        if let Some(gate) = recorder.pair_gate() {
            let peer = match &answer {
                Ok((_, report)) => Peer::Answered(report.as_ref()),
                Err(e) => Peer::Silent(e),
            };
            let now_ms = chrono::Utc::now().timestamp_millis();
            let step = gate.lock().step(now_ms, !mine.is_empty(), &peer);
            let role = gate.node_role();
            tel_role(role);
            apply(
                &recorder,
                step,
                &pair_info(&k, &host, &mine, &addrs),
                &mut reconciled,
                role,
            )
            .await;
        }
        let theirs = answer.map(|(vips, _)| vips);
        let now_cond = condition(&mine, &theirs);
        let since = match seen {
            Some((c, at)) if c == now_cond => at,
            _ => Instant::now(),
        };
        seen = Some((now_cond, since));
        if since.elapsed() >= GRACE {
            let why = match (&theirs, now_cond) {
                (Ok(t), "split") => format!(
                    "{host} and its peer {url} both hold {}",
                    mine.intersection(t).cloned().collect::<Vec<_>>().join(", ")
                ),
                (Err(e), "peer_unreachable") => format!(
                    "{host} holds no VIP and its peer {url} does not answer ({e}): the VIP may be held by nobody"
                ),
                _ => format!("{host}: one VIP holder again, peer {url} answering"),
            };
            let info = pair_info(&k, &host, &mine, &addrs);
            let res = recorder
                .record_if("pair", "vrrp-peer", move |before| {
                    if before.as_deref() == Some(now_cond) || (before.is_none() && now_cond == "ok") {
                        // Unchanged, or the first look finds all well: nothing to tell.
                        return (before.is_none()).then(|| (now_cond.to_string(), Vec::new()));
                    }
                    let (kind, severity) = match now_cond {
                        "split" => (Kind::VrrpSplitBrain, Severity::Critical),
                        "peer_unreachable" => (Kind::VrrpPeerUnreachable, Severity::Critical),
                        _ => (Kind::VrrpPairOk, Severity::Info),
                    };
                    let e = Event {
                        from: before,
                        to: Some(now_cond.to_string()),
                        vrrp: Some(Box::new(info)),
                        ..Event::new("pair", kind, severity, why)
                    };
                    Some((now_cond.to_string(), vec![e]))
                })
                .await;
            if let Err(e) = res {
                tracing::error!("recording the pair's state: {e}");
            }
        }
    }
}

fn pair_info(k: &Keepalived, host: &str, mine: &BTreeSet<String>, addrs: &[std::net::IpAddr]) -> VrrpInfo {
    VrrpInfo {
        host: host.to_string(),
        kind: "PAIR".into(),
        priority: None,
        vips: k.vips.iter().map(|v| v.to_string()).collect(),
        vips_held: mine.iter().cloned().collect(),
        addresses: addrs.iter().map(|a| a.to_string()).collect(),
        source: "peer".into(),
    }
}

fn tel_role(role: Role) {
    crate::metrics::telemetry().pair_alerting(match role {
        Role::Takeover => "takeover",
        Role::Active => "active",
        _ => "standby",
    });
}

enum Reconciled {
    /// Look at the remembered takeover at this time.
    Pending(Instant),
    Done,
}

/// The store's key for the pair's takeover state (`normal` / `takeover`).
const TAKEOVER_KEY: &str = "pair-takeover";

/// Applies a step: rows told or dropped, takeover events recorded. A
/// takeover is recorded first, and what it releases waits until its notice
/// has gone out (at most [`TAKEOVER_FIRST`]), so the receiver reads "lb2
/// tells for its peer" before the first notification it tells.
async fn apply(recorder: &Recorder, step: Step, info: &VrrpInfo, reconciled: &mut Reconciled, role: Role) {
    for (sink, from, to) in &step.changed {
        tracing::info!(sink = %sink, "pair: {} → {}", from.as_str(), to.as_str());
    }
    let event = match (&step.takeover, &step.handback) {
        (Some((sinks, why)), _) => Some((
            "takeover",
            Kind::PairTakeover,
            format!(
                "{} tells HAProxy's events for its peer through {}: {why}",
                info.host,
                sinks.join(", ")
            ),
        )),
        (None, Some(why)) => Some((
            "normal",
            Kind::PairHandback,
            format!("{} stops telling for its peer: {why}", info.host),
        )),
        _ => match reconciled {
            Reconciled::Pending(at) if Instant::now() >= *at && role != Role::Takeover => {
                *reconciled = Reconciled::Done;
                Some((
                    "normal",
                    Kind::PairHandback,
                    format!(
                        "{} does not tell for its peer any more (its takeover ended while this hawatch was down)",
                        info.host
                    ),
                ))
            }
            _ => None,
        },
    };
    let store = recorder.store().clone();
    if let Some((to @ "takeover", kind, message)) = &event {
        *reconciled = Reconciled::Done;
        record_pair(recorder, info, to, *kind, message.clone()).await;
        recorder.wake();
        let until = Instant::now() + TAKEOVER_FIRST;
        while Instant::now() < until {
            let s = store.clone();
            let waiting = tokio::task::spawn_blocking(move || s.pair_notice_untried())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(false);
            if !waiting {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let actions = step.actions;
    let told = tokio::task::spawn_blocking(move || {
        let mut told = 0;
        for a in actions {
            let res = match &a {
                Action::Release {
                    sink,
                    from_ms,
                    telling,
                    skip,
                } => store.pair_release(sink, time(*from_ms), *telling, skip),
                Action::Discard { sink, before_ms } => store.pair_discard(sink, time(*before_ms)).map(|_| 0),
            };
            match res {
                Ok(n) => told += n,
                Err(e) => tracing::error!("pair: {a:?}: {e}"),
            }
        }
        told
    })
    .await
    .unwrap_or(0);
    if told > 0 {
        tracing::info!(rows = told, "pair: held notifications are told now");
        recorder.wake();
    }
    if let Some((to @ "normal", kind, message)) = event {
        record_pair(recorder, info, to, kind, message).await;
    }
}

/// How long the rows a takeover releases wait for its own notice to go out.
const TAKEOVER_FIRST: Duration = Duration::from_secs(2);

/// Records `pair_takeover` / `pair_handback` once per change of the stored
/// takeover state (`to`: `takeover` or `normal`).
async fn record_pair(recorder: &Recorder, info: &VrrpInfo, to: &'static str, kind: Kind, message: String) {
    let info = info.clone();
    let res = recorder
        .record_if("pair", TAKEOVER_KEY, move |before| {
            let was = before.as_deref().unwrap_or("normal");
            if was == to {
                return None;
            }
            let e = Event {
                from: Some(was.to_string()),
                to: Some(to.to_string()),
                vrrp: Some(Box::new(info)),
                ..Event::new("pair", kind, Severity::Warning, message)
            };
            Some((to.to_string(), vec![e]))
        })
        .await;
    if let Err(e) = res {
        tracing::error!("recording the pair's takeover: {e}");
    }
}

fn time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<String>>();
        assert_eq!(condition(&set(&["10.0.0.9"]), &Ok(set(&["10.0.0.9"]))), "split");
        assert_eq!(condition(&set(&["10.0.0.9"]), &Ok(set(&[]))), "ok");
        assert_eq!(condition(&set(&[]), &Ok(set(&["10.0.0.9"]))), "ok");
        assert_eq!(condition(&set(&[]), &Err("refused".into())), "peer_unreachable");
        // MASTER with the peer gone: it serves; no alarm from this rule.
        assert_eq!(condition(&set(&["10.0.0.9"]), &Err("refused".into())), "ok");
    }
}
