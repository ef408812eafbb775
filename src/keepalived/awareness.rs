//! What the watcher sees of keepalived by itself, once a second: whether
//! keepalived runs, which VIPs this node holds, and the last VRRP state of
//! each instance (metrics `keepalived_up`, `keepalived_vip_held`,
//! `keepalived_vrrp_state`). Without a `notify_fifo`, a VIP that comes or
//! goes is itself a role change (`vrrp_master` / `vrrp_backup` of the
//! instance `vips`), so a pair whose notify hook was never configured still
//! reports failovers.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::vrrp::{self, Transition};
use crate::config::Keepalived;
use crate::runtime::recorder::Recorder;

/// keepalived runs: a process whose name is `keepalived`.
pub(crate) fn keepalived_running() -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|e| {
        e.file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            && std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "keepalived")
    })
}

pub(crate) async fn watch(k: Keepalived, host: String, recorder: Recorder, shutdown: CancellationToken) {
    let tel = crate::metrics::telemetry();
    let mut held_before: Option<bool> = None;
    loop {
        let addrs = crate::source::vip::local_addresses();
        let held: Vec<bool> = k.vips.iter().map(|v| addrs.contains(v)).collect();
        for (v, h) in k.vips.iter().zip(&held) {
            tel.keepalived_vip_held(&v.to_string(), *h);
        }
        tel.keepalived_up(keepalived_running());
        let s = recorder.store().clone();
        if let Ok(Ok(kept)) = tokio::task::spawn_blocking(move || vrrp::Kept::load(&s)).await {
            for (inst, state) in &kept.states {
                tel.keepalived_vrrp_state(inst, state);
            }
        }
        let any = held.iter().any(|h| *h);
        if k.vip_holder_alerts_only && k.peer.is_none() {
            // Without a peer to watch, the VIP alone says who tells.
            tel.pair_alerting(if any { "active" } else { "standby" });
        }
        // Without the FIFO, the VIPs tell the role.
        if k.notify_fifo.is_none() && !k.vips.is_empty() && held_before.is_some_and(|b| b != any) {
            let t = Transition {
                kind: "INSTANCE".into(),
                name: "vips".into(),
                state: if any { "MASTER" } else { "BACKUP" }.into(),
                priority: None,
            };
            let info = vrrp::info(&k, &host, &t, "vips");
            vrrp::record_in_watcher(&recorder, t, info).await;
        }
        held_before = Some(any);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
