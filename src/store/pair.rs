//! The pair's side of the outbox (`backend_alerts = "vip-holder"`, docs/keepalived.md):
//! rows held while the other node tells them, released or closed by
//! `logic::pair`'s verdicts, and how each sink delivers, for the peer.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Result, Store};
use crate::logic::plan;
use crate::model::event::rfc3339;
use crate::model::notice::Notice;

/// The outbox's `pair` column: a row told by this node as the standby.
pub(super) const PAIR_STANDBY: i64 = 2;

/// One sink's delivery as the pair's other node sees it (`/api/vrrp`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Delivering {
    pub(crate) sink: String,
    /// Rows waiting to be sent now (not held by quiet hours or for the pair).
    pub(crate) pending: i64,
    /// When the oldest of them was written.
    pub(crate) oldest_pending: Option<DateTime<Utc>>,
    /// The oldest row not sent yet, also if quiet hours hold it.
    pub(crate) oldest_unsent: Option<DateTime<Utc>>,
    /// The last delivery that succeeded.
    pub(crate) last_success: Option<DateTime<Utc>>,
    /// [`Notice::pair_keys`] of what it delivered since `told_since`, newest
    /// first, at most `pair::MAX_ITEMS`.
    pub(crate) told: Vec<String>,
}

impl Store {
    /// Whether a notice of the pair itself (`pair_takeover`, written under
    /// instance `pair`) waits for its first delivery attempt, quiet hours
    /// aside: the peer watch lets it go out before the rows a takeover
    /// releases, so the takeover is told before what it tells.
    pub(crate) fn pair_notice_untried(&self) -> Result<bool> {
        let now = Utc::now().timestamp_millis();
        self.with(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE instance = 'pair' AND delivered_at IS NULL
                     AND pair <> 1 AND attempts = 0 AND hold_until_ms <= ?1)",
                params![now],
                |r| r.get(0),
            )
        })
    }

    /// The pair: rows of `sink` held for the peer and written at or after
    /// `from` are to be told now (`telling` is `Tell` or `Standby`), less
    /// the notices the peer told (`skip`, each key good for one notice,
    /// [`Told`](crate::model::notice::Told)); a row left with none is
    /// closed. Returns the rows told.
    pub(crate) fn pair_release(
        &self,
        sink: &str,
        from: DateTime<Utc>,
        telling: plan::Telling,
        skip: &[String],
    ) -> Result<usize> {
        let t = rfc3339::format(&from);
        let now = rfc3339::format(&Utc::now());
        let rows: Vec<(i64, Option<String>)> = self.with(|c| {
            let mut q = c.prepare_cached(
                "SELECT id, notices FROM outbox WHERE sink = ?1 AND pair = 1 AND delivered_at IS NULL AND created_at >= ?2 ORDER BY id",
            )?;
            let r = q.query_map(params![sink, t], |r| Ok((r.get(0)?, r.get(1)?)))?;
            r.collect()
        })?;
        if rows.is_empty() {
            return Ok(0);
        }
        // Decided outside the transaction (JSON), applied in one. Rows in
        // order, each reported key used up by one notice.
        let mut told = crate::model::notice::Told::new(skip);
        let mut apply: Vec<(i64, Option<Option<String>>)> = Vec::with_capacity(rows.len());
        for (id, notices) in rows {
            let all: Option<Vec<Notice>> = match (&notices, skip.is_empty()) {
                (Some(json), false) => match self.json(json) {
                    Ok(all) => Some(all),
                    Err(e) => {
                        // Told as it is rather than not at all.
                        tracing::warn!(sink, row = id, "pair: a held row is unreadable, told unfiltered: {e}");
                        None
                    }
                },
                _ => None,
            };
            let kept = match all {
                Some(all) => {
                    let n = all.len();
                    let kept: Vec<Notice> = all
                        .into_iter()
                        .filter(|x| !told.take(x, crate::logic::pair::SKEW_MS))
                        .collect();
                    match kept.len() {
                        0 => None,
                        k if k == n => Some(None),
                        _ => Some(Some(serde_json::to_string(&kept).expect("notices serialize"))),
                    }
                }
                None => Some(None),
            };
            apply.push((id, kept));
        }
        self.with(|c| {
            let tx = c.transaction()?;
            let mut told = 0;
            for (id, kept) in &apply {
                match kept {
                    None => {
                        tx.execute(
                            "UPDATE outbox SET pair = 3, delivered_at = ?2 WHERE id = ?1 AND pair = 1",
                            params![id, now],
                        )?;
                    }
                    Some(json) => {
                        told += tx.execute(
                            "UPDATE outbox SET pair = ?2, notices = coalesce(?3, notices) WHERE id = ?1 AND pair = 1",
                            params![id, telling.column(), json],
                        )?;
                    }
                }
            }
            tx.commit()?;
            Ok(told)
        })
    }

    /// The pair: rows of `sink` held for the peer and written before
    /// `before` were told by the peer; they are closed unsent. Returns how many.
    pub(crate) fn pair_discard(&self, sink: &str, before: DateTime<Utc>) -> Result<usize> {
        let (t, now) = (rfc3339::format(&before), rfc3339::format(&Utc::now()));
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET pair = 3, delivered_at = ?3 WHERE sink = ?1 AND pair = 1 AND delivered_at IS NULL AND created_at < ?2",
                params![sink, t, now],
            )
        })
    }

    /// How each of `sinks` is delivering, for the pair's other node, with
    /// what it delivered since `told_since`.
    pub(crate) fn delivering(
        &self,
        sinks: &[String],
        now: DateTime<Utc>,
        told_since: DateTime<Utc>,
    ) -> Result<Vec<Delivering>> {
        let now_ms = now.timestamp_millis();
        type Row = (String, i64, Option<String>, Option<String>, Option<String>);
        let rows: Vec<Row> = self.with(|c| {
            let mut q = c.prepare_cached(
                // The last delivery, sent plain (0) or as the standby (2):
                // each a lookup in `outbox_delivered`, not a scan.
                "SELECT count(*), min(created_at),
                        (SELECT min(created_at) FROM outbox WHERE sink = ?1 AND delivered_at IS NULL AND pair <> 1),
                        nullif(max(coalesce((SELECT max(delivered_at) FROM outbox WHERE sink = ?1 AND pair = 0 AND delivered_at IS NOT NULL), ''),
                                   coalesce((SELECT max(delivered_at) FROM outbox WHERE sink = ?1 AND pair = 2 AND delivered_at IS NOT NULL), '')), '')
                 FROM outbox WHERE sink = ?1 AND delivered_at IS NULL AND pair <> 1 AND hold_until_ms <= ?2",
            )?;
            sinks
                .iter()
                .map(|s| {
                    q.query_row(params![s, now_ms], |r| {
                        Ok((s.clone(), r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                })
                .collect()
        })?;
        let since = rfc3339::format(&told_since);
        let mut told: Vec<Vec<String>> = Vec::with_capacity(sinks.len());
        for sink in sinks {
            let bodies: Vec<String> = self.with(|c| {
                let mut q = c.prepare_cached(
                    "SELECT notices FROM outbox WHERE sink = ?1 AND pair IN (0, 2) AND delivered_at >= ?2 AND notices IS NOT NULL
                     ORDER BY delivered_at DESC, id DESC LIMIT 64",
                )?;
                let r = q.query_map(params![sink, since], |r| r.get(0))?;
                r.collect()
            })?;
            let mut keys: Vec<String> = Vec::new();
            for b in bodies {
                for n in self.json::<Vec<Notice>>(&b)? {
                    for k in n.pair_keys() {
                        if keys.len() < crate::logic::pair::MAX_ITEMS && !keys.contains(&k) {
                            keys.push(k);
                        }
                    }
                }
            }
            told.push(keys);
        }
        let time = |s: Option<String>| {
            s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        Ok(rows
            .into_iter()
            .zip(told)
            .map(|((sink, pending, oldest, unsent, last), told)| Delivering {
                sink,
                pending,
                oldest_pending: time(oldest),
                oldest_unsent: time(unsent),
                last_success: time(last),
                told,
            })
            .collect())
    }
}
