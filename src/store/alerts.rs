//! The store side of notifications: committing a poll (events, the policy's
//! subject states and the outbox rows it produced, in one transaction),
//! ticking the policy, and the outbox itself (pending rows, partial
//! deliveries, dead letters).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, Transaction};

use super::{DeadLetter, Pending, Result, Store};
use crate::logic::plan::{self, SinkPlan};
use crate::logic::policy::Subject;
use crate::model::event::{rfc3339, Event};
use crate::model::notice::Notice;
use crate::model::snapshot::InstanceState;

/// What a subject was when loaded: a 64-bit hash of its JSON, so that
/// [`save_subjects`] writes only the subjects that changed without keeping a
/// copy of them all (a mass outage's recovery loads ~11,000 open subjects per
/// sink; a clone of the map doubled them). The JSON is the subject's own
/// serialization, so equal hashes mean equal subjects (bar a 2^-64 collision).
type Fingerprints = HashMap<String, u64>;

fn fingerprint(s: &Subject) -> u64 {
    use std::hash::Hasher;
    struct W(std::collections::hash_map::DefaultHasher);
    impl std::io::Write for W {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.write(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = W(Default::default());
    serde_json::to_writer(&mut w, s).expect("subject serializes");
    w.0.finish()
}

fn load_subjects(
    tx: &Transaction,
    sink: &str,
    instance: &str,
) -> rusqlite::Result<(HashMap<String, Subject>, Fingerprints)> {
    let mut q = tx.prepare_cached("SELECT key, state FROM alerts WHERE sink = ?1 AND instance = ?2")?;
    let mut rows = q.query(params![sink, instance])?;
    let mut out = HashMap::new();
    let mut before = HashMap::new();
    while let Some(r) = rows.next()? {
        let k: String = r.get(0)?;
        // A state this version cannot read is dropped rather than wedging the watcher.
        let s: Subject = serde_json::from_str(r.get_ref(1)?.as_str()?).unwrap_or_default();
        before.insert(k.clone(), fingerprint(&s));
        out.insert(k, s);
    }
    Ok((out, before))
}

fn save_subjects(
    tx: &Transaction,
    sp: &SinkPlan,
    instance_of: impl Fn(&str) -> String,
    subjects: &HashMap<String, Subject>,
    before: &Fingerprints,
) -> rusqlite::Result<()> {
    let mut up = tx.prepare_cached(
        "INSERT INTO alerts(sink, key, instance, due_ms, state) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(sink, key) DO UPDATE SET due_ms = excluded.due_ms, state = excluded.state",
    )?;
    let mut del = tx.prepare_cached("DELETE FROM alerts WHERE sink = ?1 AND key = ?2")?;
    for (k, s) in subjects {
        if before.get(k).is_some_and(|f| *f == fingerprint(s)) {
            continue;
        }
        if s.is_idle() {
            if before.contains_key(k) {
                del.execute(params![sp.name, k])?;
            }
        } else {
            let json = serde_json::to_string(s).expect("subject serializes");
            up.execute(params![sp.name, k, instance_of(k), s.due_ms(&sp.policy), json])?;
        }
    }
    Ok(())
}

/// The most notices one outbox row holds.
pub(crate) const ROW_NOTICES: usize = 100;
/// A row is closed once its JSON reaches this size (a notice is never split).
pub(crate) const ROW_BYTES: usize = 256 << 10;

/// Writes a sink's notices as outbox rows: those for now, then those held by
/// quiet hours. A poll with thousands of notices (a mass outage) becomes
/// several rows of at most [`ROW_NOTICES`] notices or about [`ROW_BYTES`] of
/// JSON, each serialized and inserted in turn: the transaction never holds
/// the whole list as JSON, and the worker never has to load it whole (it
/// merges consecutive rows into messages anyway).
fn enqueue(
    tx: &Transaction,
    sp: &SinkPlan,
    instance: &str,
    seqs: (i64, i64),
    notices: Vec<Notice>,
    now: DateTime<Utc>,
) -> rusqlite::Result<usize> {
    if notices.is_empty() {
        return Ok(0);
    }
    let created = rfc3339::format(&now);
    let pair = sp.telling_for(instance).column();
    let (now_list, later) = plan::split_quiet(sp, notices, now);
    let mut ins = tx.prepare_cached(
        "INSERT INTO outbox(sink, instance, first_seq, last_seq, created_at, notices, hold_until_ms, pair) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut rows = 0;
    let mut json: Vec<u8> = Vec::new();
    for (list, hold) in [(now_list, 0)].into_iter().chain(later) {
        let mut n = 0;
        let last = list.len();
        for (i, notice) in list.into_iter().enumerate() {
            json.push(if n == 0 { b'[' } else { b',' });
            serde_json::to_writer(&mut json, &notice).expect("notices serialize");
            drop(notice);
            n += 1;
            if n == ROW_NOTICES || json.len() >= ROW_BYTES || i + 1 == last {
                json.push(b']');
                let text = std::str::from_utf8(&json).expect("serde_json writes UTF-8");
                ins.execute(params![sp.name, instance, seqs.0, seqs.1, created, text, hold, pair])?;
                rows += 1;
                json.clear();
                n = 0;
            }
        }
    }
    Ok(rows)
}

/// Writes a commit inside `tx`: the state (if any), the events, and what
/// each sink's plan makes of them.
fn write_commit(
    tx: &Transaction,
    instance: &str,
    (state_key, state_json): (&str, Option<&str>),
    state: Option<&InstanceState>,
    events: &[Event],
    sinks: &[SinkPlan],
) -> rusqlite::Result<usize> {
    let now = Utc::now();
    let now_s = rfc3339::format(&now);
    if let Some(s) = state_json {
        tx.execute(
            "INSERT INTO snapshots(instance, updated_at, state) VALUES (?1, ?2, ?3)
             ON CONFLICT(instance) DO UPDATE SET updated_at = excluded.updated_at, state = excluded.state",
            params![state_key, now_s, s],
        )?;
    }
    let mut seqs = Vec::with_capacity(events.len());
    {
        let mut ins = tx.prepare_cached("INSERT INTO events(id, time, instance, kind, severity, backend, server, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
        for e in events {
            let body = serde_json::to_string(e).expect("event serializes");
            ins.execute(params![
                e.id,
                rfc3339::format(&e.time),
                e.instance,
                e.kind.as_str(),
                e.severity.as_str(),
                e.backend,
                e.server,
                body
            ])?;
            seqs.push(tx.last_insert_rowid());
        }
    }
    let mut rows = 0;
    if !events.is_empty() || state_json.is_some() {
        let range = match (seqs.first(), seqs.last()) {
            (Some(a), Some(b)) => (*a, *b),
            _ => {
                let m = max_seq(tx)?;
                (m, m)
            }
        };
        for sp in sinks {
            let (mut subjects, before) = load_subjects(tx, &sp.name, instance)?;
            let notices = plan::on_events(sp, &mut subjects, events, state, now);
            save_subjects(tx, sp, instance_of, &subjects, &before)?;
            rows += enqueue(tx, sp, instance, range, notices, now)?;
        }
    }
    Ok(rows)
}

fn instance_of(key: &str) -> String {
    key.split('/').next().unwrap_or(key).to_string()
}

fn max_seq(tx: &Transaction) -> rusqlite::Result<i64> {
    tx.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))
}

impl Store {
    /// Commits a poll's outcome in one transaction: the new state (if it
    /// changed), the events, and for every sink what its policy makes of them
    /// (subject states and outbox rows). Returns the number of outbox rows.
    pub(crate) fn commit(
        &self,
        instance: &str,
        state: Option<&InstanceState>,
        events: &[Event],
        sinks: &[SinkPlan],
    ) -> Result<usize> {
        let state_json = state.map(|s| serde_json::to_string(s).expect("state serializes"));
        self.commit_with(instance, (instance, state_json), state, events, sinks)
    }

    /// Like [`Store::commit`] for `hawatch agent`: its state is its own JSON,
    /// kept under `state_key` in the snapshots table (see [`Store::load_raw_state`]).
    pub(crate) fn commit_agent(
        &self,
        instance: &str,
        state_key: &str,
        state_json: String,
        events: &[Event],
        sinks: &[SinkPlan],
    ) -> Result<usize> {
        self.commit_with(instance, (state_key, Some(state_json)), None, events, sinks)
    }

    fn commit_with(
        &self,
        instance: &str,
        (state_key, state_json): (&str, Option<String>),
        state: Option<&InstanceState>,
        events: &[Event],
        sinks: &[SinkPlan],
    ) -> Result<usize> {
        self.with(|c| {
            let tx = c.transaction()?;
            let rows = write_commit(&tx, instance, (state_key, state_json.as_deref()), state, events, sinks)?;
            tx.commit()?;
            Ok(rows)
        })
    }

    /// Reads the state kept under `state_key` and lets `decide` turn it into
    /// (new state, events), all in one write transaction: two processes
    /// telling the same change (keepalived's FIFO read by the watcher, its
    /// notify script) cannot both see the old state. `None` writes nothing.
    pub(crate) fn commit_if(
        &self,
        instance: &str,
        state_key: &str,
        sinks: &[SinkPlan],
        decide: impl FnOnce(Option<String>) -> Option<(String, Vec<Event>)>,
    ) -> Result<Option<Vec<Event>>> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let current: Option<String> = {
                use rusqlite::OptionalExtension;
                tx.query_row("SELECT state FROM snapshots WHERE instance = ?1", [state_key], |r| {
                    r.get(0)
                })
                .optional()?
            };
            let Some((json, events)) = decide(current) else {
                tx.commit()?;
                return Ok(None);
            };
            write_commit(&tx, instance, (state_key, Some(&json)), None, &events, sinks)?;
            tx.commit()?;
            Ok(Some(events))
        })
    }

    /// Commits events that come from outside HAProxy (Alertmanager's
    /// alerts): they are stored, and every sink whose route takes them gets
    /// them in one message, through its quiet hours and outbox but not its
    /// noise policy (Alertmanager already grouped, delayed and deduplicated
    /// them). An event whose id is already stored is skipped, which makes a
    /// retried webhook call harmless. Returns (events stored, outbox rows).
    pub(crate) fn commit_received(&self, events: &[Event], sinks: &[SinkPlan]) -> Result<(usize, usize)> {
        let now = Utc::now();
        self.with(|c| {
            let tx = c.transaction()?;
            let mut fresh = Vec::new();
            let mut seqs = Vec::new();
            {
                let mut ins = tx.prepare_cached("INSERT OR IGNORE INTO events(id, time, instance, kind, severity, backend, server, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
                for e in events {
                    let body = serde_json::to_string(e).expect("event serializes");
                    if ins.execute(params![e.id, rfc3339::format(&e.time), e.instance, e.kind.as_str(), e.severity.as_str(), e.backend, e.server, body])? == 1 {
                        fresh.push(e.clone());
                        seqs.push(tx.last_insert_rowid());
                    }
                }
            }
            let mut rows = 0;
            if let (Some(a), Some(b)) = (seqs.first(), seqs.last()) {
                for sp in sinks {
                    let notices: Vec<Notice> = fresh
                        .iter()
                        .filter(|e| sp.route.matches(e))
                        .map(|e| Notice::of(e.clone()))
                        .collect();
                    let instance = notices.first().map(|n| n.event.instance.clone()).unwrap_or_default();
                    rows += enqueue(&tx, sp, &instance, (*a, *b), notices, now)?;
                }
            }
            tx.commit()?;
            Ok((fresh.len(), rows))
        })
    }

    /// Lets time pass for every sink's policy: held notices, flap settles and
    /// reminders that are due become outbox rows. Returns (rows written, the
    /// next time something is due).
    pub(crate) fn tick(&self, sinks: &[SinkPlan], now: DateTime<Utc>) -> Result<(usize, Option<i64>)> {
        let now_ms = now.timestamp_millis();
        self.with(|c| {
            let tx = c.transaction()?;
            let mut rows = 0;
            let mut next: Option<i64> = None;
            for sp in sinks {
                let due: Vec<(String, String)> = {
                    let mut q = tx.prepare_cached(
                        "SELECT key, instance FROM alerts WHERE sink = ?1 AND due_ms IS NOT NULL AND due_ms <= ?2",
                    )?;
                    let rows = q.query_map(params![sp.name, now_ms], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    rows.collect::<rusqlite::Result<_>>()?
                };
                let mut by_instance: HashMap<String, Vec<String>> = HashMap::new();
                for (k, i) in due {
                    by_instance.entry(i).or_default().push(k);
                }
                let mut instances: Vec<_> = by_instance.into_iter().collect();
                instances.sort();
                for (instance, mut keys) in instances {
                    keys.sort();
                    let (mut subjects, before) = load_subjects(&tx, &sp.name, &instance)?;
                    let notices = plan::on_tick(sp, &mut subjects, &keys, now);
                    save_subjects(&tx, sp, instance_of, &subjects, &before)?;
                    let m = max_seq(&tx)?;
                    rows += enqueue(&tx, sp, &instance, (m, m), notices, now)?;
                }
                let n: Option<i64> = tx.query_row(
                    "SELECT min(due_ms) FROM alerts WHERE sink = ?1 AND due_ms IS NOT NULL",
                    [&sp.name],
                    |r| r.get(0),
                )?;
                next = match (next, n) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            tx.commit()?;
            Ok((rows, next))
        })
    }

    /// Closes the alerts of instances no longer configured (at start), and
    /// forgets the policy state of sinks no longer configured.
    /// Every instance with an alert subject, for any sink.
    pub(crate) fn alert_instances(&self) -> Result<Vec<String>> {
        self.with(|c| {
            let mut q = c.prepare("SELECT DISTINCT instance FROM alerts")?;
            let r = q.query_map([], |r| r.get(0))?;
            r.collect()
        })
    }

    pub(crate) fn close_unwatched(&self, instances: &[String], sinks: &[SinkPlan]) -> Result<usize> {
        let now = Utc::now();
        self.with(|c| {
            let tx = c.transaction()?;
            let mut rows = 0;
            for sp in sinks {
                let known: Vec<String> = {
                    let mut q = tx.prepare("SELECT DISTINCT instance FROM alerts WHERE sink = ?1")?;
                    let r = q.query_map([&sp.name], |r| r.get(0))?;
                    r.collect::<rusqlite::Result<_>>()?
                };
                for instance in known.into_iter().filter(|i| !instances.contains(i)) {
                    let (mut subjects, before) = load_subjects(&tx, &sp.name, &instance)?;
                    let notices = plan::on_unwatched(&mut subjects, now);
                    save_subjects(&tx, sp, instance_of, &subjects, &before)?;
                    let m = max_seq(&tx)?;
                    rows += enqueue(&tx, sp, &instance, (m, m), notices, now)?;
                }
            }
            let names: Vec<&str> = sinks.iter().map(|s| s.name.as_str()).collect();
            let stale: Vec<String> = {
                let mut q = tx.prepare("SELECT DISTINCT sink FROM alerts")?;
                let r = q.query_map([], |r| r.get(0))?;
                r.collect::<rusqlite::Result<Vec<String>>>()?
            };
            for s in stale.iter().filter(|s| !names.contains(&s.as_str())) {
                tx.execute("DELETE FROM alerts WHERE sink = ?1", [s])?;
            }
            tx.commit()?;
            Ok(rows)
        })
    }

    /// The subjects of a sink that have an alert the sink was told about
    /// (for re-sending firing alerts to Alertmanager).
    pub(crate) fn alerting(&self, sink: &str) -> Result<Vec<(String, Subject)>> {
        self.with(|c| {
            let mut q = c.prepare_cached("SELECT key, state FROM alerts WHERE sink = ?1 ORDER BY key")?;
            let rows = q.query_map([sink], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (k, v) = row?;
                if let Ok(s) = serde_json::from_str::<Subject>(&v) {
                    if s.alerting() {
                        out.push((k, s));
                    }
                }
            }
            Ok(out)
        })
    }

    /// The oldest undelivered rows of a sink, in order, with the notices
    /// still to deliver. Rows written before notices existed carry events,
    /// each of which becomes a notice.
    #[cfg(test)]
    pub(crate) fn pending(&self, sink: &str, limit: usize) -> Result<Vec<Pending>> {
        self.pending_page(sink, limit, usize::MAX, None)
    }

    /// For the outbox worker: the oldest undelivered rows not held by quiet
    /// hours at `now_ms`, in order, only as many as carry `max_notices`
    /// notices still to deliver (at least one row), so a backlog of
    /// thousands of notices is read a page at a time; and when the earliest
    /// held row is released, if any.
    pub(crate) fn ready(&self, sink: &str, max_notices: usize, now_ms: i64) -> Result<(Vec<Pending>, Option<i64>)> {
        let rows = self.pending_page(sink, 512, max_notices, Some(now_ms))?;
        let held = self.with(|c| {
            c.query_row(
                "SELECT min(hold_until_ms) FROM outbox WHERE sink = ?1 AND delivered_at IS NULL AND pair <> 1 AND hold_until_ms > ?2",
                params![sink, now_ms],
                |r| r.get(0),
            )
        })?;
        Ok((rows, held))
    }

    /// Up to `limit` rows (only those released at `ready_at`, when given),
    /// stopping after the row that brings the notices to `max_notices`.
    /// Only the chosen rows' JSON is read.
    fn pending_page(
        &self,
        sink: &str,
        limit: usize,
        max_notices: usize,
        ready_at: Option<i64>,
    ) -> Result<Vec<Pending>> {
        type Row = (i64, i64, i64, i64, i64, String, Option<String>, Vec<String>);
        let rows: Vec<Row> = self.with(|c| {
            // SQLite counts a row's notices without handing its JSON over.
            let mut q = c.prepare_cached(
                "SELECT id, first_seq, last_seq, attempts, next_attempt_ms, created_at, done, pair,
                        CASE WHEN notices IS NULL THEN last_seq - first_seq + 1 ELSE json_array_length(notices) END
                 FROM outbox WHERE sink = ?1 AND delivered_at IS NULL AND pair <> 1 AND (?3 IS NULL OR hold_until_ms <= ?3)
                 ORDER BY id LIMIT ?2",
            )?;
            type Head = (i64, i64, i64, i64, i64, String, i64, i64, i64);
            let mut heads: Vec<Head> = Vec::new();
            let mut notices = 0usize;
            let mut it = q.query(params![sink, limit as i64, ready_at])?;
            while let Some(r) = it.next()? {
                let h: Head = (
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                );
                notices = notices.saturating_add((h.8 - h.6).max(0) as usize);
                heads.push(h);
                if notices >= max_notices {
                    break;
                }
            }
            drop(it);
            let mut body = c.prepare_cached("SELECT notices FROM outbox WHERE id = ?1")?;
            let mut ev = c.prepare_cached("SELECT body FROM events WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq")?;
            heads
                .into_iter()
                .map(|(id, a, b, att, next, created, done, pair, _)| {
                    let notices: Option<String> = body.query_row([id], |r| r.get(0))?;
                    let bodies = if notices.is_none() {
                        ev.query_map(params![a, b], |r| r.get(0))?
                            .collect::<rusqlite::Result<Vec<String>>>()?
                    } else {
                        Vec::new()
                    };
                    Ok((id, att, next, pair, done, created, notices, bodies))
                })
                .collect()
        })?;
        rows.into_iter()
            .map(
                |(id, attempts, next_attempt_ms, pair, done, _created_at, notices, bodies)| {
                    let mut all: Vec<Notice> = match notices {
                        Some(n) => self.json(&n)?,
                        None => bodies
                            .iter()
                            .map(|b| self.json::<Event>(b).map(Notice::of))
                            .collect::<Result<_>>()?,
                    };
                    let done = (done.max(0) as usize).min(all.len());
                    all.drain(..done);
                    if pair == super::pair::PAIR_STANDBY {
                        for n in &mut all {
                            n.by_standby = true;
                        }
                    }
                    Ok(Pending {
                        id,
                        attempts,
                        next_attempt_ms,
                        done,
                        notices: all,
                    })
                },
            )
            .collect()
    }

    /// Records a delivery: `full` rows are done; `partial` (row, notices now
    /// delivered in total) advances a row split over several messages.
    pub(crate) fn mark_delivered(&self, full: &[i64], partial: Option<(i64, usize)>) -> Result<()> {
        let now = rfc3339::format(&Utc::now());
        self.with(|c| {
            let tx = c.transaction()?;
            for id in full {
                tx.execute(
                    "UPDATE outbox SET delivered_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
                    params![id, now],
                )?;
            }
            if let Some((id, done)) = partial {
                tx.execute(
                    "UPDATE outbox SET done = ?2, attempts = 0, next_attempt_ms = 0, last_error = NULL WHERE id = ?1",
                    params![id, done as i64],
                )?;
            }
            tx.commit()
        })
    }

    pub(crate) fn mark_failed(&self, ids: &[i64], error: &str, next_attempt_ms: i64) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            for id in ids {
                tx.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3 WHERE id = ?1",
                    params![id, error, next_attempt_ms],
                )?;
            }
            tx.commit()
        })
    }

    /// Moves a sink's undelivered rows created before `before` to the
    /// dead-letter table (a row held by quiet hours ages from their end).
    /// Returns how many moved.
    pub(crate) fn expire(&self, sink: &str, before: DateTime<Utc>) -> Result<usize> {
        let t = rfc3339::format(&before);
        let now = rfc3339::format(&Utc::now());
        self.with(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "INSERT INTO dead_letters(id, sink, instance, first_seq, last_seq, notices, done, created_at, attempts, last_error, died_at)
                 SELECT id, sink, instance, first_seq, last_seq, notices, done, created_at, attempts, last_error, ?3
                 FROM outbox WHERE sink = ?1 AND delivered_at IS NULL AND pair <> 1 AND created_at < ?2 AND hold_until_ms < ?4",
                params![sink, t, now, before.timestamp_millis()],
            )?;
            tx.execute(
                "DELETE FROM outbox WHERE sink = ?1 AND delivered_at IS NULL AND pair <> 1 AND created_at < ?2 AND hold_until_ms < ?3",
                params![sink, t, before.timestamp_millis()],
            )?;
            // Rows held for the pair were never this node's to send: past
            // `max_age` nobody needs them (the peer told them, or it is too late).
            tx.execute(
                "UPDATE outbox SET pair = 3, delivered_at = ?3 WHERE sink = ?1 AND delivered_at IS NULL AND pair = 1 AND created_at < ?2",
                params![sink, t, now],
            )?;
            tx.commit()?;
            Ok(n)
        })
    }

    /// Dead letters, oldest first (optionally of one sink).
    pub(crate) fn dead_letters(&self, sink: Option<&str>) -> Result<Vec<DeadLetter>> {
        self.with(|c| {
            let mut q = c.prepare(
                "SELECT id, sink, instance, created_at, died_at, attempts, last_error, notices, last_seq - first_seq + 1
                 FROM dead_letters WHERE ?1 IS NULL OR sink = ?1 ORDER BY id",
            )?;
            let rows = q.query_map([sink], |r| {
                let notices: Option<String> = r.get(7)?;
                let count = match notices {
                    Some(n) => serde_json::from_str::<Vec<serde_json::Value>>(&n).map_or(0, |v| v.len()),
                    None => r.get::<_, i64>(8)?.max(0) as usize,
                };
                Ok(DeadLetter {
                    id: r.get(0)?,
                    sink: r.get(1)?,
                    instance: r.get(2)?,
                    created_at: r.get(3)?,
                    died_at: r.get(4)?,
                    attempts: r.get(5)?,
                    last_error: r.get(6)?,
                    notices: count,
                })
            })?;
            rows.collect()
        })
    }

    /// Puts dead letters back in the outbox (all of them, those of one sink,
    /// or the given ids), as new rows at the end of their sink's queue.
    pub(crate) fn retry_dead(&self, sink: Option<&str>, ids: &[i64]) -> Result<usize> {
        let now = rfc3339::format(&Utc::now());
        self.with(|c| {
            let tx = c.transaction()?;
            let chosen: Vec<i64> = {
                let mut q = tx.prepare("SELECT id FROM dead_letters WHERE ?1 IS NULL OR sink = ?1 ORDER BY id")?;
                let r = q.query_map([sink], |r| r.get(0))?;
                r.collect::<rusqlite::Result<Vec<i64>>>()?
                    .into_iter()
                    .filter(|id| ids.is_empty() || ids.contains(id))
                    .collect()
            };
            for id in &chosen {
                tx.execute(
                    "INSERT INTO outbox(sink, instance, first_seq, last_seq, created_at, notices, done)
                     SELECT sink, instance, first_seq, last_seq, ?2, notices, done FROM dead_letters WHERE id = ?1",
                    params![id, now],
                )?;
                tx.execute("DELETE FROM dead_letters WHERE id = ?1", [id])?;
            }
            tx.commit()?;
            Ok(chosen.len())
        })
    }
}
