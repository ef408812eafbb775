//! `type = "alertmanager"`: one Alertmanager's `url`, static `labels` and
//! how often open alerts are pushed again.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::{Ctx, FileSink, SinkConfig};
use crate::config::secret::{shown_url, Secret};
use crate::config::value;
use crate::logic::route::Route;
use crate::model::event::Kind;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Alertmanager {
    /// One Alertmanager; for a cluster, one sink per peer (peers do not
    /// share alerts, only silences and the notification log).
    #[serde(serialize_with = "shown_url")]
    pub(crate) url: Secret,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(serialize_with = "value::dur")]
    pub(crate) resend_every: Duration,
}

/// Labels hawatch sets on every alert.
const OWN_LABELS: [&str; 6] = ["alertname", "instance", "backend", "server", "kind", "severity"];

/// Prometheus alerts came from an Alertmanager: sending them back would loop.
const EXTERNAL: [Kind; 2] = [Kind::AlertFiring, Kind::AlertResolved];

impl SinkConfig for Alertmanager {
    const KEYS: &'static [&'static str] = &["url", "labels", "resend_every"];

    fn validate(f: &FileSink, c: &mut Ctx) -> Option<Alertmanager> {
        let labels = f.labels.clone().unwrap_or_default();
        for n in labels.keys() {
            let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok || n.starts_with("__") {
                c.at(
                    "labels",
                    format!("{n:?} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
                );
            }
            if OWN_LABELS.contains(&n.as_str()) {
                c.at("labels", format!("{n:?} is set by hawatch; choose another label name"));
            }
        }
        let resend_every = value::or(f.resend_every, Duration::from_secs(60));
        if resend_every < Duration::from_secs(1) {
            c.at("resend_every", "too short; use at least 1s");
        }
        c.need_url().map(|u| Alertmanager {
            url: Secret::new(u.expose().trim_end_matches('/')),
            labels,
            resend_every,
        })
    }

    fn route(route: &mut Route, c: &mut Ctx) {
        match &mut route.kinds {
            Some(k) if EXTERNAL.iter().any(|e| k.contains(e)) => c.at(
                "events",
                "an alertmanager sink cannot take alert_firing / alert_resolved (they came from an Alertmanager: it would loop)",
            ),
            Some(_) => {}
            None => route.kinds = Some(Kind::ALL.into_iter().filter(|k| !EXTERNAL.contains(k)).collect()),
        }
    }
}
