//! The SQLite store: the last state per instance, the event history, and the
//! notification outbox.
//!
//! Events and their outbox rows are written in one transaction, before any
//! sink sees them; a row leaves the outbox only when its sink confirmed the
//! delivery. WAL mode with `synchronous=FULL`, so a `kill -9` (or a power cut)
//! loses nothing that was committed. The connection is synchronous: async code
//! calls it through `spawn_blocking`.

mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::event::{rfc3339, Event};
use crate::watch::snapshot::InstanceState;

/// Store failures, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path} is not a hawatch store (not an SQLite database, or corrupt): move it aside (`mv {path} {path}.bad`) and hawatch will create a new one, or point `watch.store` elsewhere")]
    NotADatabase { path: String },
    #[error("{path} is an SQLite database of another application: point `watch.store` (or STATE_FILE) at a new path")]
    Foreign { path: String },
    #[error("{path} was written by a newer hawatch (schema {found}, this one knows {known}): upgrade hawatch or use another store")]
    TooNew { path: String, found: i64, known: i64 },
    #[error("cannot create the store directory {dir}: {source} (create it and give hawatch's user write access, or set `watch.store`)")]
    Dir { dir: String, source: std::io::Error },
    #[error("no store at {path}: has `hawatch watch` run with this config? (`watch.store` / STATE_FILE)")]
    Missing { path: String },
    #[error("store {path}: {source}")]
    Sqlite { path: String, source: rusqlite::Error },
    #[error("store {path}: bad JSON in a stored row: {source}")]
    Json { path: String, source: serde_json::Error },
}

type Result<T> = std::result::Result<T, StoreError>;

/// One outbox row with its events, ready to deliver.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    pub events: Vec<Event>,
}

/// Filters for `hawatch events` and the events API.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub since: Option<DateTime<Utc>>,
    pub instance: Option<String>,
    pub backend: Option<String>,
    pub server: Option<String>,
    pub kind: Option<String>,
    /// Keep only the newest N (still returned oldest first).
    pub limit: Option<usize>,
}

/// Per-sink outbox counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStats {
    pub sink: String,
    pub pending: i64,
    pub delivered: i64,
    pub oldest_pending: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path)
    }
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl Store {
    /// Opens (creating if needed) the store for the watcher.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                dir: dir.display().to_string(),
                source,
            })?;
        }
        Store::open_with(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)
    }

    /// Opens an existing store (for `hawatch events`); never creates one.
    pub fn open_existing(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.display().to_string(),
            });
        }
        Store::open_with(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    fn open_with(path: &Path, flags: OpenFlags) -> Result<Store> {
        let p = path.display().to_string();
        let sq = |source| StoreError::Sqlite {
            path: p.clone(),
            source,
        };
        let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(sq)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sq)?;
        let not_db = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
                StoreError::NotADatabase { path: p.clone() }
            }
            _ => StoreError::Sqlite {
                path: p.clone(),
                source: e,
            },
        };
        let app_id: i32 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(not_db)?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(not_db)?;
        if app_id != schema::APPLICATION_ID && (app_id != 0 || tables > 0) {
            return Err(StoreError::Foreign { path: p });
        }
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sq)?;
        let known = schema::MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                path: p,
                found: version,
                known,
            });
        }
        conn.pragma_update(None, "journal_mode", "WAL").map_err(not_db)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(sq)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(sq)?;
        let mut conn = conn;
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction().map_err(sq)?;
            tx.execute_batch(sql).map_err(sq)?;
            tx.pragma_update(None, "application_id", schema::APPLICATION_ID)
                .map_err(sq)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64).map_err(sq)?;
            tx.commit().map_err(sq)?;
        }
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: p.into(),
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        let mut c = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut c).map_err(|source| StoreError::Sqlite {
            path: self.path.to_string(),
            source,
        })
    }

    fn json<T: serde::de::DeserializeOwned>(&self, s: &str) -> Result<T> {
        serde_json::from_str(s).map_err(|source| StoreError::Json {
            path: self.path.to_string(),
            source,
        })
    }

    /// The state remembered for an instance, if any.
    pub fn load_state(&self, instance: &str) -> Result<Option<InstanceState>> {
        let raw: Option<String> = self.with(|c| {
            c.query_row("SELECT state FROM snapshots WHERE instance = ?1", [instance], |r| {
                r.get(0)
            })
            .optional()
        })?;
        raw.map(|s| self.json(&s)).transpose()
    }

    /// Commits a poll's outcome in one transaction: the new state (if it
    /// changed), the events, and for every sink one outbox row per
    /// `max_events` events. Returns the number of outbox rows written.
    pub fn commit(
        &self,
        instance: &str,
        state: Option<&InstanceState>,
        events: &[Event],
        sinks: &[(String, usize)],
    ) -> Result<usize> {
        let state_json = state.map(|s| serde_json::to_string(s).expect("state serializes"));
        let bodies: Vec<String> = events
            .iter()
            .map(|e| serde_json::to_string(e).expect("event serializes"))
            .collect();
        let now = rfc3339::format(&Utc::now());
        self.with(|c| {
            let tx = c.transaction()?;
            if let Some(s) = &state_json {
                tx.execute(
                    "INSERT INTO snapshots(instance, updated_at, state) VALUES (?1, ?2, ?3)
                     ON CONFLICT(instance) DO UPDATE SET updated_at = excluded.updated_at, state = excluded.state",
                    params![instance, now, s],
                )?;
            }
            let mut seqs = Vec::with_capacity(events.len());
            {
                let mut ins = tx.prepare_cached("INSERT INTO events(id, time, instance, kind, severity, backend, server, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
                for (e, body) in events.iter().zip(&bodies) {
                    ins.execute(params![e.id, rfc3339::format(&e.time), e.instance, e.kind.as_str(), e.severity.as_str(), e.backend, e.server, body])?;
                    seqs.push(tx.last_insert_rowid());
                }
            }
            let mut rows = 0;
            if !seqs.is_empty() {
                let mut ins = tx.prepare_cached("INSERT INTO outbox(sink, instance, first_seq, last_seq, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?;
                for (sink, max) in sinks {
                    for chunk in seqs.chunks((*max).max(1)) {
                        ins.execute(params![sink, instance, chunk[0], chunk[chunk.len() - 1], now])?;
                        rows += 1;
                    }
                }
            }
            tx.commit()?;
            Ok(rows)
        })
    }

    /// The oldest undelivered rows of a sink, in order, with their events.
    pub fn pending(&self, sink: &str, limit: usize) -> Result<Vec<Pending>> {
        let rows: Vec<(i64, i64, i64, i64, i64, Vec<String>)> = self.with(|c| {
            let mut q = c.prepare_cached("SELECT id, first_seq, last_seq, attempts, next_attempt_ms FROM outbox WHERE sink = ?1 AND delivered_at IS NULL ORDER BY id LIMIT ?2")?;
            let heads: Vec<(i64, i64, i64, i64, i64)> = q.query_map(params![sink, limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?.collect::<rusqlite::Result<_>>()?;
            let mut ev = c.prepare_cached("SELECT body FROM events WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq")?;
            heads
                .into_iter()
                .map(|(id, a, b, att, next)| {
                    let bodies = ev.query_map(params![a, b], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
                    Ok((id, a, b, att, next, bodies))
                })
                .collect()
        })?;
        rows.into_iter()
            .map(|(id, _, _, attempts, next_attempt_ms, bodies)| {
                let events = bodies.iter().map(|b| self.json(b)).collect::<Result<Vec<Event>>>()?;
                Ok(Pending {
                    id,
                    attempts,
                    next_attempt_ms,
                    events,
                })
            })
            .collect()
    }

    pub fn mark_delivered(&self, ids: &[i64]) -> Result<()> {
        let now = rfc3339::format(&Utc::now());
        self.with(|c| {
            let tx = c.transaction()?;
            for id in ids {
                tx.execute(
                    "UPDATE outbox SET delivered_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
                    params![id, now],
                )?;
            }
            tx.commit()
        })
    }

    pub fn mark_failed(&self, ids: &[i64], error: &str, next_attempt_ms: i64) -> Result<()> {
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

    /// Event history, oldest first.
    pub fn events(&self, f: &EventFilter) -> Result<Vec<Event>> {
        let mut sql = String::from("SELECT body FROM events WHERE 1=1");
        let mut args: Vec<String> = Vec::new();
        let mut add = |cond: &str, v: String| {
            args.push(v);
            sql.push_str(&format!(" AND {cond} ?{}", args.len()));
        };
        if let Some(t) = f.since {
            add("time >=", rfc3339::format(&t));
        }
        if let Some(v) = &f.instance {
            add("instance =", v.clone());
        }
        if let Some(v) = &f.backend {
            add("backend =", v.clone());
        }
        if let Some(v) = &f.server {
            add("server =", v.clone());
        }
        if let Some(v) = &f.kind {
            add("kind =", v.clone());
        }
        sql.push_str(" ORDER BY seq DESC");
        if let Some(n) = f.limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        let bodies: Vec<String> = self.with(|c| {
            let mut q = c.prepare(&sql)?;
            let rows = q.query_map(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?;
            rows.collect()
        })?;
        let mut out = bodies.iter().map(|b| self.json(b)).collect::<Result<Vec<Event>>>()?;
        out.reverse();
        Ok(out)
    }

    /// Outbox counts per sink.
    pub fn outbox_stats(&self) -> Result<Vec<OutboxStats>> {
        self.with(|c| {
            let mut q = c.prepare(
                "SELECT sink,
                        sum(delivered_at IS NULL), sum(delivered_at IS NOT NULL),
                        min(CASE WHEN delivered_at IS NULL THEN created_at END),
                        (SELECT last_error FROM outbox o2 WHERE o2.sink = o.sink AND o2.delivered_at IS NULL ORDER BY id LIMIT 1)
                 FROM outbox o GROUP BY sink ORDER BY sink",
            )?;
            let rows = q.query_map([], |r| Ok(OutboxStats { sink: r.get(0)?, pending: r.get(1)?, delivered: r.get(2)?, oldest_pending: r.get(3)?, last_error: r.get(4)? }))?;
            rows.collect()
        })
    }

    /// Deletes delivered notifications and events older than `before`, never
    /// an event an undelivered notification still needs.
    pub fn prune(&self, before: DateTime<Utc>) -> Result<(usize, usize)> {
        let t = rfc3339::format(&before);
        self.with(|c| {
            let tx = c.transaction()?;
            let o = tx.execute("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?1", [&t])?;
            let e = tx.execute(
                "DELETE FROM events WHERE time < ?1 AND seq < coalesce((SELECT min(first_seq) FROM outbox WHERE delivered_at IS NULL), 9223372036854775807)",
                [&t],
            )?;
            tx.commit()?;
            Ok((o, e))
        })
    }
}

/// The lock file next to a store, held by the one watcher using it.
pub fn lock_path(store: &Path) -> PathBuf {
    let mut p = store.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
