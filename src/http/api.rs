//! `/healthz`, `/api/events` and `/api/state` (JSON; docs/api.md).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use crate::logic::pair::{PairReport, PollReport, SinkReport, MAX_ITEMS};
use crate::model::event::Kind;
use crate::store::EventFilter;

/// Events returned when the request names no `limit`.
pub(crate) const DEFAULT_LIMIT: usize = 1000;
pub(crate) const MAX_LIMIT: usize = 100_000;

fn bad_request(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": msg }))).into_response()
}

fn unavailable(msg: String) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": msg }))).into_response()
}

/// 200 while every poller has polled within three times its
/// interval + timeout (the systemd watchdog's rule), else 503.
pub(crate) async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let now = Utc::now().timestamp_millis();
    let mut healthy = true;
    let mut instances = serde_json::Map::new();
    for (name, hb, max) in &state.heartbeats {
        let last = hb.last_ms();
        let limit = 3 * max.as_millis() as i64;
        let ok = last > 0 && now - last <= limit;
        healthy &= ok;
        instances.insert(
            name.clone(),
            json!({
                "alive": ok,
                "last_poll_age_seconds": (last > 0).then(|| (now - last) as f64 / 1000.0),
                "limit_seconds": limit as f64 / 1000.0,
            }),
        );
    }
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let status = if healthy { "ok" } else { "stalled" };
    (code, Json(json!({ "status": status, "instances": instances }))).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    since: Option<String>,
    instance: Option<String>,
    backend: Option<String>,
    server: Option<String>,
    kind: Option<String>,
    limit: Option<usize>,
}

/// The event history, oldest first, filtered like `hawatch events`.
pub(crate) async fn events(
    State(state): State<Arc<AppState>>,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => {
            return bad_request(format!(
                "{}; parameters: since, instance, backend, server, kind, limit",
                e.body_text()
            ))
        }
    };
    if let Some(k) = &q.kind {
        if Kind::parse(k).is_none() {
            let all: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            return bad_request(format!("kind {k:?}: unknown kind; one of {}", all.join(", ")));
        }
    }
    let since = match q.since.as_deref().map(str::parse::<crate::model::since::Since>) {
        Some(Err(e)) => return bad_request(format!("since {e}")),
        Some(Ok(t)) => Some(t.0),
        None => None,
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return bad_request(format!("limit must be 1..={MAX_LIMIT}"));
    }
    let filter = EventFilter {
        since,
        instance: q.instance,
        backend: q.backend,
        server: q.server,
        kind: q.kind,
        limit: Some(limit),
    };
    let store = state.recorder.store().clone();
    match tokio::task::spawn_blocking(move || store.events(&filter)).await {
        Ok(Ok(evs)) => Json(evs).into_response(),
        Ok(Err(e)) => unavailable(format!("store: {e}")),
        Err(e) => unavailable(format!("store: {e}")),
    }
}

#[derive(Debug, Serialize)]
struct ServerView {
    name: String,
    /// The last settled status in HAProxy's own words (`UP`, `DOWN (agent)`,
    /// `MAINT (via b/s)`, `no check`, ...); null while never settled.
    status: Option<String>,
    /// `status` normalised: `UP` (also `no check`), `DOWN`, `NOLB`, `DRAIN`,
    /// `MAINT`, or `UNKNOWN` for a word HAProxy may add; null with `status`.
    state: Option<&'static str>,
    check: Option<String>,
    agent: Option<String>,
}

fn server_view(name: String, status: Option<String>, check: Option<String>, agent: Option<String>) -> ServerView {
    let state = status.as_deref().map(|s| haproxy::ServerStatus::parse(s).state.word());
    ServerView {
        name,
        status,
        state,
        check,
        agent,
    }
}

#[derive(Debug, Serialize)]
struct BackendView {
    name: String,
    up: bool,
    servers: Vec<ServerView>,
}

#[derive(Debug, Serialize)]
struct InstanceView {
    name: String,
    /// False until the first successful poll.
    seen: bool,
    reachable: bool,
    error: Option<String>,
    unreachable_since: Option<String>,
    last_poll: Option<String>,
    pid: Option<u64>,
    version: Option<String>,
    backends: Vec<BackendView>,
}

/// What hawatch knows now about every configured instance.
pub(crate) async fn state(State(state): State<Arc<AppState>>) -> Response {
    let st = state.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        st.config
            .instances
            .iter()
            .map(|i| st.recorder.store().load_state(&i.name).map(|s| (i.name.clone(), s)))
            .collect::<Result<Vec<_>, _>>()
    })
    .await;
    let loaded = match loaded {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return unavailable(format!("store: {e}")),
        Err(e) => return unavailable(format!("store: {e}")),
    };
    let mut out = Vec::new();
    for (name, s) in loaded {
        let s = s.unwrap_or_default();
        let last = state
            .heartbeats
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, hb, _)| hb.last_ms())
            .filter(|ms| *ms > 0)
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| crate::model::event::rfc3339::format(&t));
        out.push(InstanceView {
            name,
            seen: s.seen,
            reachable: s.reachable,
            error: s.error,
            unreachable_since: s.unreachable_since.map(|t| crate::model::event::rfc3339::format(&t)),
            last_poll: last,
            pid: s.proc.as_ref().and_then(|p| p.pid),
            version: s.proc.as_ref().and_then(|p| p.version.clone()),
            backends: s
                .backends
                .into_iter()
                .map(|(b, bs)| BackendView {
                    name: b,
                    up: bs.up,
                    servers: bs
                        .servers
                        .into_iter()
                        .map(|(n, sv)| server_view(n, sv.settled, sv.check, sv.agent))
                        .collect(),
                })
                .collect(),
        });
    }
    Json(json!({ "instances": out })).into_response()
}

/// This node's side of the pair: its VIPs, the ones it holds, the VRRP
/// states told. The peer's hawatch asks it (split-brain watch).
pub(crate) async fn vrrp(State(state): State<Arc<AppState>>) -> Response {
    let Some(k) = &state.config.keepalived else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no [keepalived] section on this node" })),
        )
            .into_response();
    };
    let addrs = crate::source::vip::local_addresses();
    let store = state.recorder.store().clone();
    let states = tokio::task::spawn_blocking(move || crate::keepalived::vrrp::Kept::load(&store))
        .await
        .ok()
        .and_then(Result::ok)
        .map(|k| k.states)
        .unwrap_or_default();
    let held = crate::source::vip::held(&k.vips, &addrs);
    let pair = pair_report(&state, !held.is_empty()).await;
    Json(json!({
        "host": state.config.notify.host,
        "vips": k.vips.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
        "vips_held": held,
        "states": states,
        "pair": pair,
    }))
    .into_response()
}

/// This node's alerting in the pair, for the peer's takeover decisions
/// (docs/api.md): its pollers' last polls, and per sink its role and
/// whether its outbox is delivering. `None` without a peer to watch.
async fn pair_report(state: &AppState, holds_vip: bool) -> Option<PairReport> {
    let gate = state.recorder.pair_gate()?;
    let now = chrono::Utc::now();
    let now_ms = now.timestamp_millis();
    let age = |t: chrono::DateTime<chrono::Utc>| (now_ms - t.timestamp_millis()).max(0) as u64;
    let names: Vec<String> = state
        .config
        .sinks
        .iter()
        .take(MAX_ITEMS)
        .map(|s| s.name.clone())
        .collect();
    let store = state.recorder.store().clone();
    let asked = names.clone();
    let told_since = now - chrono::Duration::milliseconds(crate::logic::pair::TOLD_WINDOW_MS);
    let delivering = tokio::task::spawn_blocking(move || store.delivering(&asked, now, told_since))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let instances = state
        .heartbeats
        .iter()
        .take(MAX_ITEMS)
        .map(|(name, beat, max)| {
            let since = |t: i64| (t > 0).then(|| (now_ms - t).max(0) as u64);
            PollReport {
                name: name.clone(),
                // Before its first poll: since the poller started, so a
                // first poll that never ends is late too.
                last_poll_age_ms: since(beat.last_ms()).or(since(beat.born_ms())),
                last_success_age_ms: since(beat.answered_ms()),
                late_after_ms: 3 * max.as_millis() as u64,
            }
        })
        .collect();
    let pair = gate.lock();
    let sinks = names
        .iter()
        .map(|n| {
            let d = delivering.iter().find(|d| &d.sink == n);
            SinkReport {
                name: n.clone(),
                role: pair.reported_role(n, now_ms),
                pending: d.map_or(0, |d| d.pending),
                oldest_pending_age_ms: d.and_then(|d| d.oldest_pending).map(age),
                oldest_unsent_age_ms: d.and_then(|d| d.oldest_unsent).map(age),
                last_success_age_ms: d.and_then(|d| d.last_success).map(age),
                takeover_ended_age_ms: pair.ended_age_ms(n, now_ms),
                told: d.map(|d| d.told.clone()).unwrap_or_default(),
            }
        })
        .collect();
    Some(PairReport {
        holds_vip,
        instances,
        sinks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HAProxy's status words come through raw in `status`, and as one of a
    /// few words in `state`.
    #[test]
    fn server_state_is_normalised_next_to_the_raw_status() {
        for (raw, word) in [
            ("UP", "UP"),
            ("UP 1/3", "UP"),
            ("DOWN", "DOWN"),
            ("DOWN 1/2", "DOWN"),
            ("NOLB", "NOLB"),
            ("DRAIN", "DRAIN"),
            ("DRAIN (agent)", "DRAIN"),
            ("DOWN (agent)", "DOWN"),
            ("MAINT", "MAINT"),
            ("MAINT (via b/s)", "MAINT"),
            ("MAINT (resolution)", "MAINT"),
            ("no check", "UP"),
        ] {
            let v = serde_json::to_value(server_view("s1".into(), Some(raw.into()), None, None)).unwrap();
            assert_eq!(
                (v["status"].as_str(), v["state"].as_str()),
                (Some(raw), Some(word)),
                "{v}"
            );
        }
        let v = serde_json::to_value(server_view("s1".into(), None, None, None)).unwrap();
        assert!(v["status"].is_null() && v["state"].is_null(), "{v}");
    }
}
