//! The pair's alerting roles, shared: the peer watch steps them once a
//! second (`logic::pair`), the recorder reads them to decide how each sink's
//! rows of HAProxy's events are written, and `/api/vrrp` reports them.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::logic::pair::{Pair, Role, Times};
use crate::logic::plan::SinkPlan;

pub(crate) struct PairGate {
    /// HAProxy's instances, watched by both nodes: their events are gated.
    instances: Arc<BTreeSet<String>>,
    pair: Mutex<Pair>,
}

impl PairGate {
    pub(crate) fn new(times: Times, instances: BTreeSet<String>, sinks: &[String]) -> PairGate {
        PairGate {
            instances: Arc::new(instances),
            pair: Mutex::new(Pair::new(times, sinks, chrono::Utc::now().timestamp_millis())),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Pair> {
        self.pair.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `sinks` with how each tells HAProxy's events now.
    pub(crate) fn plans(&self, sinks: &[SinkPlan]) -> Vec<SinkPlan> {
        let pair = self.lock();
        let now_ms = chrono::Utc::now().timestamp_millis();
        sinks
            .iter()
            .map(|s| SinkPlan {
                telling: pair.telling(&s.name, now_ms),
                gated: Some(self.instances.clone()),
                ..s.clone()
            })
            .collect()
    }

    /// `sinks` for the alerts of instances no longer configured: they were
    /// HAProxy's, so their closing notices are held like the rest.
    pub(crate) fn plans_for_removed(&self, sinks: &[SinkPlan], removed: BTreeSet<String>) -> Vec<SinkPlan> {
        let removed = Arc::new(removed);
        self.plans(sinks)
            .into_iter()
            .map(|s| SinkPlan {
                gated: Some(removed.clone()),
                ..s
            })
            .collect()
    }

    /// Whether this node tells `sink`'s alerts about `instance` now.
    pub(crate) fn tells(&self, sink: &str, instance: &str) -> bool {
        !self.instances.contains(instance)
            || self.lock().telling(sink, chrono::Utc::now().timestamp_millis()) != crate::logic::pair::Telling::Hold
    }

    pub(crate) fn node_role(&self) -> Role {
        self.lock().node_role()
    }
}
