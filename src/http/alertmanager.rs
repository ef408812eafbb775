//! `POST /alertmanager`: Alertmanager's webhook (payload version 4) in,
//! hawatch's sinks out. Each alert becomes an `alert_firing` or
//! `alert_resolved` event, stored like any other; every sink whose route
//! takes it gets the webhook call's alerts in one message, rendered by its
//! templates and delivered through its outbox (docs/alertmanager.md).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::AppState;
use crate::model::event::{AlertInfo, Event, Kind, Severity};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    pub(crate) version: String,
    #[serde(default)]
    pub(crate) group_key: String,
    #[serde(default)]
    pub(crate) receiver: String,
    #[serde(default)]
    pub(crate) truncated_alerts: u64,
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) starts_at: String,
    #[serde(default)]
    pub(crate) ends_at: String,
    #[serde(rename = "generatorURL", default)]
    pub(crate) generator_url: String,
    #[serde(default)]
    pub(crate) fingerprint: String,
}

/// A webhook call retried by Alertmanager (same alerts, same states) within
/// this many seconds (one slot and the next) is not sent twice.
const RETRY_SLOT_SECS: i64 = 120;

fn severity(labels: &BTreeMap<String, String>) -> Severity {
    match labels.get("severity").map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("critical" | "page" | "error" | "high") => Severity::Critical,
        Some("info" | "none" | "low") => Severity::Info,
        _ => Severity::Warning,
    }
}

/// A stable UUID (version 8) for one alert of one webhook call in one slot.
fn stable_id(call: &[u8], slot: i64, index: usize) -> String {
    let mut h = Sha256::new();
    h.update(call);
    h.update(slot.to_be_bytes());
    h.update((index as u64).to_be_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_custom_bytes(b).into_uuid().to_string()
}

/// Turns one webhook call into events. Pure.
pub fn events(p: &Payload, now: chrono::DateTime<Utc>) -> (Vec<Event>, Vec<String>) {
    // What makes a call the same call: its group, and each alert's identity and state.
    let mut call = Sha256::new();
    call.update(p.receiver.as_bytes());
    call.update([0]);
    call.update(p.group_key.as_bytes());
    for a in &p.alerts {
        for part in [&a.fingerprint, &a.status, &a.starts_at, &a.ends_at] {
            call.update([0]);
            call.update(part.as_bytes());
        }
    }
    let call = call.finalize();
    let slot = now.timestamp() / RETRY_SLOT_SECS;
    let previous: Vec<String> = (0..p.alerts.len()).map(|i| stable_id(&call, slot - 1, i)).collect();
    let events = p
        .alerts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let name = a.labels.get("alertname").cloned().unwrap_or_else(|| "alert".into());
            let resolved = a.status == "resolved";
            let text = a
                .annotations
                .get("summary")
                .or_else(|| a.annotations.get("description"))
                .or_else(|| a.annotations.get("message"));
            let message = match text {
                Some(t) => format!("{name}: {t}"),
                None => name.clone(),
            };
            let instance = a
                .labels
                .get("haproxy_instance")
                .or_else(|| a.labels.get("instance"))
                .cloned()
                .unwrap_or_else(|| "alertmanager".into());
            let kind = if resolved {
                Kind::AlertResolved
            } else {
                Kind::AlertFiring
            };
            Event {
                id: stable_id(&call, slot, i),
                time: now,
                backend: a.labels.get("backend").cloned(),
                server: a.labels.get("server").cloned(),
                to: Some(if resolved { "resolved" } else { "firing" }.into()),
                alert: Some(Box::new(AlertInfo {
                    name,
                    labels: a.labels.clone(),
                    annotations: a.annotations.clone(),
                    starts_at: a.starts_at.clone(),
                    ends_at: (resolved && !a.ends_at.is_empty()).then(|| a.ends_at.clone()),
                    generator_url: (!a.generator_url.is_empty()).then(|| a.generator_url.clone()),
                    fingerprint: (!a.fingerprint.is_empty()).then(|| a.fingerprint.clone()),
                })),
                ..Event::new(instance, kind, severity(&a.labels), message)
            }
        })
        .collect();
    (events, previous)
}

pub(crate) async fn receive(
    State(state): State<Arc<AppState>>,
    body: Result<Json<Payload>, JsonRejection>,
) -> Response {
    let bad = |msg: String| (StatusCode::BAD_REQUEST, Json(json!({ "error": msg }))).into_response();
    let Json(p) = match body {
        Ok(p) => p,
        Err(e) => return bad(format!("not an Alertmanager webhook payload: {}", e.body_text())),
    };
    if p.version != "4" {
        return bad(format!(
            "payload version {:?}: hawatch reads Alertmanager's webhook version \"4\"",
            p.version
        ));
    }
    if p.truncated_alerts > 0 {
        tracing::warn!(
            truncated = p.truncated_alerts,
            "Alertmanager truncated this notification (max_alerts in its webhook_config)"
        );
    }
    for a in &p.alerts {
        crate::metrics::telemetry()
            .am_received
            .get_or_create(&crate::metrics::StatusLabel {
                status: a.status.clone(),
            })
            .inc();
    }
    let (events, previous) = events(&p, Utc::now());
    let previous = previous.first().cloned();
    let res = state.recorder.record_received(events, previous).await;
    match res {
        Ok((stored, rows)) => {
            tracing::info!(
                alerts = p.alerts.len(),
                stored,
                queued = rows,
                "Alertmanager notification received"
            );
            Json(json!({ "alerts": p.alerts.len(), "stored": stored, "queued": rows })).into_response()
        }
        // Alertmanager retries on 5xx: nothing is lost.
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": format!("store: {e}") })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str = r#"{"receiver":"hawatch","status":"firing","alerts":[
      {"status":"firing","labels":{"alertname":"HaproxyBackendDown","backend":"be_app","severity":"critical","instance":"lb1:9101"},
       "annotations":{"summary":"HAProxy backend be_app is down"},"startsAt":"2026-11-21T00:00:00Z","endsAt":"0001-01-01T00:00:00Z",
       "generatorURL":"http://prom/graph","fingerprint":"abc"},
      {"status":"resolved","labels":{"alertname":"HaproxyServerDown","backend":"be_app","server":"s1"},
       "annotations":{},"startsAt":"2026-11-20T23:00:00Z","endsAt":"2026-11-21T00:00:00Z","fingerprint":"def"}],
      "groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093","version":"4",
      "groupKey":"{}:{}","truncatedAlerts":0}"#;

    #[test]
    fn alerts_become_events() {
        let p: Payload = serde_json::from_str(PAYLOAD).unwrap();
        let now = Utc::now();
        let (evs, prev) = events(&p, now);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].kind, Kind::AlertFiring);
        assert_eq!(evs[0].severity, Severity::Critical);
        assert_eq!(evs[0].instance, "lb1:9101");
        assert_eq!(evs[0].backend.as_deref(), Some("be_app"));
        assert_eq!(evs[0].message, "HaproxyBackendDown: HAProxy backend be_app is down");
        assert_eq!(evs[1].kind, Kind::AlertResolved);
        assert_eq!(evs[1].severity, Severity::Warning);
        assert_eq!(evs[1].instance, "alertmanager");
        assert_eq!(
            evs[1].alert.as_ref().unwrap().ends_at.as_deref(),
            Some("2026-11-21T00:00:00Z")
        );
        // The same call again in the same slot gets the same ids (a retry);
        // the next slot's "previous" ids are this slot's.
        let (again, _) = events(&p, now);
        assert_eq!(evs[0].id, again[0].id);
        let (_, prev_next) = events(&p, now + chrono::Duration::seconds(RETRY_SLOT_SECS));
        assert_eq!(prev_next[0], evs[0].id);
        assert_ne!(prev[0], evs[0].id);
        assert!(uuid::Uuid::parse_str(&evs[0].id).is_ok());
    }
}
