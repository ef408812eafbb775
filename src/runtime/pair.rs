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

    pub(crate) fn node_role(&self) -> Role {
        self.lock().node_role()
    }
}
