//! The Alertmanager sink: problems become alerts pushed to `POST
//! /api/v2/alerts`, so a fleet gets Alertmanager's routing, silences and
//! clustered de-duplication.
//!
//! - Labels identify an alert and must be the same from every node of an HA
//!   pair: `alertname`, `instance` (the `[[haproxy]]` name), `backend`,
//!   `server`, `kind`, `severity`, plus the sink's static `labels`. The
//!   reporting host goes in the annotations.
//! - A firing alert carries `endsAt = now + 4 × resend_every` and is pushed
//!   again every `resend_every` while open (so a dead hawatch lets it expire
//!   instead of firing forever); a recovery pushes it with `endsAt` = the
//!   recovery time.
//! - Only problems map to alerts (`server_down`, `backend_down`,
//!   `instance_unreachable`, and flapping); other notices are skipped.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::config::sink::Alertmanager as Config;
use crate::config::Secret;
use crate::logic::policy::Subject;
use crate::model::event::{rfc3339, Event, Kind};
use crate::model::notice::{Notice, NoticeKind};
use crate::notify::{read_body, Common, Delivery, DeliveryError, Limits, Service};

/// Alertmanager takes large batches; no rate limit.
pub(crate) const LIMITS: Limits = Limits {
    max_notices: 1000,
    rates: &[],
};

pub(crate) struct Alertmanager {
    pub(crate) url: Secret,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) resend_every: Duration,
    pub(crate) host: String,
    pub(crate) http: reqwest::Client,
}

/// The alert name of a problem kind.
pub(crate) fn alertname(kind: Kind) -> &'static str {
    match kind {
        Kind::ServerDown => "HAProxyServerDown",
        Kind::BackendDown => "HAProxyBackendDown",
        Kind::InstanceUnreachable => "HAProxyInstanceUnreachable",
        _ => "HAProxyServerFlapping",
    }
}

/// The problem an event's subject can have.
fn problem_of(e: &Event) -> Kind {
    match (&e.backend, &e.server) {
        (Some(_), Some(_)) => Kind::ServerDown,
        (Some(_), None) => Kind::BackendDown,
        _ => Kind::InstanceUnreachable,
    }
}

impl Alertmanager {
    fn alert(
        &self,
        e: &Event,
        name: &str,
        kind: &str,
        severity: &str,
        starts: DateTime<Utc>,
        ends: DateTime<Utc>,
    ) -> Value {
        let mut labels = Map::new();
        labels.insert("alertname".into(), name.into());
        labels.insert("instance".into(), e.instance.clone().into());
        if let Some(b) = &e.backend {
            labels.insert("backend".into(), b.clone().into());
        }
        if let Some(s) = &e.server {
            labels.insert("server".into(), s.clone().into());
        }
        labels.insert("kind".into(), kind.into());
        labels.insert("severity".into(), severity.into());
        for (k, v) in &self.labels {
            labels.insert(k.clone(), v.clone().into());
        }
        let mut description = e.message.clone();
        if let Some(c) = e.check.as_deref().or(e.agent.as_deref()) {
            description.push_str(&format!(" ({})", c.short()));
        }
        json!({
            "labels": labels,
            "annotations": {
                "summary": format!("{} {}", name.trim_start_matches("HAProxy"), e.subject()),
                "description": description,
                "host": self.host,
                "event_id": e.id,
            },
            "startsAt": rfc3339::format(&starts),
            "endsAt": rfc3339::format(&ends),
        })
    }

    fn firing_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.resend_every * 4).unwrap_or(chrono::Duration::minutes(4))
    }

    /// The alerts a delivery becomes (possibly none).
    pub(crate) fn alerts(&self, d: &Delivery, now: DateTime<Utc>) -> Vec<Value> {
        let until = self.firing_until(now);
        let mut out = Vec::new();
        for n in &d.notices {
            out.extend(self.alerts_of(n, now, until));
        }
        out
    }

    fn alerts_of(&self, n: &Notice, now: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Value> {
        let e = &n.event;
        let since = n.since.unwrap_or(e.time);
        let problem = problem_of(e);
        let sev = n.severity.as_str();
        let mut out = Vec::new();
        match n.kind {
            NoticeKind::Test => {
                out.push(self.alert(
                    e,
                    "HawatchTest",
                    "test",
                    "info",
                    now,
                    now + chrono::Duration::minutes(5),
                ));
            }
            NoticeKind::Flapping => {
                out.push(self.alert(e, alertname(Kind::ServerAdded), "flapping", "warning", since, until));
            }
            NoticeKind::Settled => {
                out.push(self.alert(e, alertname(Kind::ServerAdded), "flapping", "warning", since, now));
            }
            _ => {}
        }
        if n.kind == NoticeKind::Event {
            // Servers told by their backend's notice are alerts of their own.
            for f in &n.folded {
                if f.kind.is_problem() {
                    out.push(self.alert(
                        f,
                        alertname(f.kind),
                        f.kind.as_str(),
                        f.severity.as_str(),
                        f.time,
                        until,
                    ));
                } else if f.kind.is_server_state() {
                    let k = Kind::ServerDown;
                    out.push(self.alert(f, alertname(k), k.as_str(), "critical", f.time, f.time.min(now)));
                }
            }
        }
        if let Some(k) = n.fires() {
            out.push(self.alert(e, alertname(k), k.as_str(), sev, since, until));
        } else if n.resolves {
            let end = if n.kind == NoticeKind::Gone {
                now
            } else {
                e.time.min(now)
            };
            let k = if n.kind == NoticeKind::Gone { e.kind } else { problem };
            out.push(self.alert(e, alertname(k), k.as_str(), sev, since, end.max(since)));
        }
        out
    }

    /// The firing alerts of open subjects, for the periodic re-send.
    pub(crate) fn refresh(&self, subjects: &[(String, Subject)], now: DateTime<Utc>) -> Vec<Value> {
        let until = self.firing_until(now);
        let mut out = Vec::new();
        for (_, s) in subjects {
            if let Some(f) = s.flapping.as_ref().filter(|f| f.notified) {
                out.push(self.alert(
                    &f.last,
                    alertname(Kind::ServerAdded),
                    "flapping",
                    "warning",
                    f.since,
                    until,
                ));
            }
            if let Some(o) = s.open.as_ref().filter(|o| o.notified) {
                let k = o.event.kind;
                out.push(self.alert(
                    &o.event,
                    alertname(k),
                    k.as_str(),
                    o.event.severity.as_str(),
                    o.since,
                    until,
                ));
            }
        }
        out
    }

    pub(crate) async fn post(&self, alerts: &[Value]) -> Result<(), DeliveryError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let resp = self
            .http
            .post(format!("{}/api/v2/alerts", self.url.expose()))
            .json(alerts)
            .send()
            .await
            .map_err(DeliveryError::transport)?;
        let status = resp.status();
        let text = read_body(resp).await;
        let snippet: String = text.trim().chars().take(200).collect();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error() || status.as_u16() == 429 {
            Err(DeliveryError::service(format!(
                "Alertmanager: HTTP {status}: {snippet}"
            )))
        } else {
            Err(DeliveryError::config(format!(
                "Alertmanager refused the alerts: HTTP {status}: {snippet} (check the sink's `url` and `labels`)"
            )))
        }
    }
}

impl Service for Alertmanager {
    type Config = Config;

    fn new(c: &Config, common: Common) -> Alertmanager {
        Alertmanager {
            url: c.url.clone(),
            labels: c.labels.clone().into_iter().collect(),
            resend_every: c.resend_every,
            host: common.host,
            http: common.http,
        }
    }

    fn limits(&self) -> Limits {
        LIMITS
    }

    async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        self.post(&self.alerts(d, Utc::now())).await
    }
}

#[cfg(test)]
mod tests;
