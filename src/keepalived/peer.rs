//! Split-brain watch: the watcher asks its peer's hawatch (`GET /api/vrrp`)
//! which VIPs it holds, once a second. Both holding one, or the peer not
//! answering while this node holds none (so maybe nobody does), lasting
//! `GRACE`, is a critical event; the pair becoming consistent again is told
//! too. A failover's brief overlap is not reported.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::{Keepalived, Secret};
use crate::model::event::{Event, Kind, Severity};
use crate::runtime::recorder::Recorder;

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

async fn ask(http: &reqwest::Client, url: &str, auth: &Option<(String, Secret)>) -> Result<BTreeSet<String>, String> {
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
    let v: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
    Ok(v["vips_held"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default())
}

pub(crate) async fn watch(k: Keepalived, host: String, recorder: Recorder, shutdown: CancellationToken) {
    let Some((url, auth)) = k.peer.clone() else { return };
    let http = crate::notify::http_client();
    let mut seen: Option<(&'static str, Instant)> = None;
    loop {
        let addrs = crate::source::vip::local_addresses();
        let mine: BTreeSet<String> = k
            .vips
            .iter()
            .filter(|v| addrs.contains(v))
            .map(|v| v.to_string())
            .collect();
        let theirs = ask(&http, &url, &auth).await;
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
            let info = crate::model::event::VrrpInfo {
                host: host.clone(),
                kind: "PAIR".into(),
                priority: None,
                vips: k.vips.iter().map(|v| v.to_string()).collect(),
                vips_held: mine.iter().cloned().collect(),
                addresses: addrs.iter().map(|a| a.to_string()).collect(),
                source: "peer".into(),
            };
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
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
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
