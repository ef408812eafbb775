//! The pair view's data: the peer as its hawatch's API tells it, and the
//! server-by-server comparison with the selected instance (pure).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use haproxy::RowType;

use super::app::App;

/// The other node of the pair, as its hawatch's API tells it.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    pub url: String,
    /// The answer listed more servers than `MAX_PEER_SERVERS`: cut there.
    pub truncated: bool,
    pub host: Option<String>,
    pub roles: BTreeMap<String, String>,
    pub vips_held: Vec<String>,
    pub outbox: Option<i64>,
    pub last_ok: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub instances: Vec<PeerInstance>,
}

#[derive(Debug, Clone, Default)]
pub struct PeerInstance {
    pub name: String,
    pub version: Option<String>,
    /// The peer's watcher's last poll of it.
    pub last_poll: Option<DateTime<Utc>>,
    /// `backend/server` → state word (`UP`, `DOWN`, ...); `?` never settled.
    pub servers: BTreeMap<String, String>,
}

/// One row of the pair view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PairRow {
    pub(crate) key: String,
    pub(crate) here: Option<String>,
    /// The state the peer's watcher settled; `?` when it never settled one.
    pub(crate) peer: Option<String>,
    /// The peer's answer was cut at `MAX_PEER_SERVERS`: a server it does
    /// not list may be one it did not send.
    pub(crate) peer_cut: bool,
}

impl PairRow {
    /// The two nodes see the server differently. A state the peer never
    /// settled (`?`) is not compared, nor a server missing from a cut answer.
    pub(crate) fn mismatch(&self) -> bool {
        match (&self.here, &self.peer) {
            (_, Some(p)) if p == "?" => false,
            (Some(_), None) if self.peer_cut => false,
            (h, p) => h != p,
        }
    }
}

impl App {
    pub(super) fn pair_rows_now(&self) -> (Vec<PairRow>, Option<String>) {
        let (Some(peer), Some(inst)) = (&self.peer, self.instance()) else {
            return (Vec::new(), None);
        };
        // An unanswered peer, or an instance not read here yet, sees nothing:
        // no rows and no differences (the view says why).
        if let Some(e) = &peer.error {
            return (
                Vec::new(),
                Some(format!("the peer cannot be asked, so nothing is compared: {e}")),
            );
        }
        if let Some(e) = &inst.error {
            return (
                Vec::new(),
                Some(format!(
                    "{} cannot be read here, so nothing is compared: {e}",
                    inst.name
                )),
            );
        }
        if inst.last_poll.is_none() {
            return (
                Vec::new(),
                Some(format!("waiting for the first poll of {}…", inst.name)),
            );
        }
        let Some(theirs) = self.counterpart() else {
            return (
                Vec::new(),
                Some(format!(
                    "the peer has no instance named {}: nothing to compare it with",
                    inst.name
                )),
            );
        };
        let mut rows: BTreeMap<String, PairRow> = BTreeMap::new();
        for l in inst.table.lines.iter().filter(|l| l.kind == RowType::Server) {
            let key = l.key();
            rows.insert(
                key.clone(),
                PairRow {
                    key,
                    here: Some(l.state.word().to_string()),
                    peer: None,
                    peer_cut: false,
                },
            );
        }
        for (k, v) in &theirs.servers {
            rows.entry(k.clone())
                .or_insert_with(|| PairRow {
                    key: k.clone(),
                    here: None,
                    peer: None,
                    peer_cut: false,
                })
                .peer = Some(v.clone());
        }
        let rows = rows
            .into_values()
            .map(|mut r| {
                r.peer_cut = peer.truncated;
                r
            })
            .filter(|r| !self.only_mismatches || r.mismatch())
            .collect();
        (rows, None)
    }

    /// The peer's instance the selected one is compared with: the one of the
    /// same name, or the only one when each side has only one.
    pub(crate) fn counterpart(&self) -> Option<&PeerInstance> {
        let (peer, inst) = (self.peer.as_ref()?, self.instance()?);
        peer.instances
            .iter()
            .find(|p| p.name == inst.name)
            .or_else(|| (peer.instances.len() == 1 && self.instances.len() == 1).then(|| &peer.instances[0]))
    }
}
