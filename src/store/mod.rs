//! The SQLite store: the last state per instance, the event history, and the
//! notification outbox.
//!
//! Events and their outbox rows are written in one transaction, before any
//! sink sees them; a row leaves the outbox only when its sink confirmed the
//! delivery. WAL mode with `synchronous=FULL`, so a `kill -9` (or a power cut)
//! loses nothing that was committed. The connection is synchronous: async code
//! calls it through `spawn_blocking`.

mod alerts;
mod pair;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::model::event::{rfc3339, Event};
use crate::model::notice::Notice;
use crate::model::snapshot::InstanceState;

/// Store failures, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
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
    /// The file cannot be opened or written, with why and what to do.
    #[error("cannot open the store {path}: {why}")]
    CannotOpen { path: String, why: String },
    #[error("store {path}: {source}")]
    Sqlite { path: String, source: rusqlite::Error },
    #[error("store {path}: bad JSON in a stored row: {source}")]
    Json { path: String, source: serde_json::Error },
}

pub(crate) type Result<T> = std::result::Result<T, StoreError>;

/// One outbox row with the notices still to deliver, in order.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) id: i64,
    pub(crate) attempts: i64,
    pub(crate) next_attempt_ms: i64,
    /// Notices of this row already delivered (a row split over messages).
    pub(crate) done: usize,
    /// The notices not yet delivered.
    pub(crate) notices: Vec<Notice>,
}

/// A message that could not be delivered within `max_age`.
#[derive(Debug, Clone)]
pub(crate) struct DeadLetter {
    pub(crate) id: i64,
    pub(crate) sink: String,
    pub(crate) instance: String,
    pub(crate) created_at: String,
    pub(crate) died_at: String,
    pub(crate) attempts: i64,
    pub(crate) last_error: Option<String>,
    pub(crate) notices: usize,
}

/// Filters for `hawatch events` and the events API.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventFilter {
    pub(crate) since: Option<DateTime<Utc>>,
    pub(crate) instance: Option<String>,
    pub(crate) backend: Option<String>,
    pub(crate) server: Option<String>,
    pub(crate) kind: Option<String>,
    /// Keep only the newest N (still returned oldest first).
    pub(crate) limit: Option<usize>,
}

/// Per-sink outbox counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutboxStats {
    pub(crate) sink: String,
    pub(crate) pending: i64,
    pub(crate) delivered: i64,
    pub(crate) oldest_pending: Option<String>,
    pub(crate) last_error: Option<String>,
    /// Pending rows held by quiet hours.
    pub(crate) held: i64,
    pub(crate) dead: i64,
    /// Rows of HAProxy's events held while the pair's other node tells them
    /// (not counted in `pending`).
    pub(crate) pair_held: i64,
}

#[derive(Clone)]
pub(crate) struct Store {
    conn: Arc<Mutex<Connection>>,
    path: Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path)
    }
}

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Why SQLite cannot open or write `path` (a directory, no such directory,
/// no permission on the file or on its directory, where SQLite also writes
/// its `-wal` and `-shm` files), with what to do; `None` if none of these.
fn why_unopenable(path: &Path) -> Option<String> {
    use nix::unistd::{access, AccessFlags};
    let fix = "give hawatch's user read and write access to the file and its directory, or set `watch.store` (STATE_FILE) to a path it can write";
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            return Some(format!(
                "it is a directory; `watch.store` is the database file, e.g. {}",
                path.join("hawatch.db").display()
            ))
        }
        Ok(_) if access(path, AccessFlags::R_OK | AccessFlags::W_OK).is_err() => {
            return Some(format!("permission denied on the file: {fix}"))
        }
        Ok(_) => {}
        Err(_) if !dir.is_dir() => return Some(format!("directory {} does not exist", dir.display())),
        Err(_) => {}
    }
    if access(dir, AccessFlags::W_OK | AccessFlags::X_OK).is_err() {
        return Some(format!(
            "cannot create files in {} (permission denied; SQLite writes the store and its -wal and -shm files there): {fix}",
            dir.display()
        ));
    }
    None
}

impl Store {
    /// Opens (creating if needed) the store for the watcher.
    pub(crate) fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                dir: dir.display().to_string(),
                source,
            })?;
        }
        Store::open_with(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)
    }

    /// Opens an existing store (for `hawatch events`); never creates one.
    pub(crate) fn open_existing(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.display().to_string(),
            });
        }
        Store::open_with(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    fn open_with(path: &Path, flags: OpenFlags) -> Result<Store> {
        let p = path.display().to_string();
        // SQLite says only "unable to open database file": say why.
        let sq = |source: rusqlite::Error| match source.sqlite_error_code() {
            Some(
                rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::PermissionDenied,
            ) => StoreError::CannotOpen {
                path: p.clone(),
                why: why_unopenable(path).unwrap_or_else(|| source.to_string()),
            },
            _ => StoreError::Sqlite {
                path: p.clone(),
                source,
            },
        };
        let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(sq)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sq)?;
        let not_db = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
                StoreError::NotADatabase { path: p.clone() }
            }
            _ => sq(e),
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

    pub(crate) fn path(&self) -> &str {
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
    pub(crate) fn load_state(&self, instance: &str) -> Result<Option<InstanceState>> {
        let raw: Option<String> = self.with(|c| {
            c.query_row("SELECT state FROM snapshots WHERE instance = ?1", [instance], |r| {
                r.get(0)
            })
            .optional()
        })?;
        raw.map(|s| self.json(&s)).transpose()
    }

    /// The JSON kept under `key` in the snapshots table (the agent's state).
    pub(crate) fn load_raw_state(&self, key: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.query_row("SELECT state FROM snapshots WHERE instance = ?1", [key], |r| r.get(0))
                .optional()
        })
    }

    /// Whether an event with this id is stored.
    pub(crate) fn has_event(&self, id: &str) -> Result<bool> {
        self.with(|c| {
            c.query_row("SELECT 1 FROM events WHERE id = ?1", [id], |_| Ok(()))
                .optional()
                .map(|r| r.is_some())
        })
    }

    /// Event history, oldest first.
    pub(crate) fn events(&self, f: &EventFilter) -> Result<Vec<Event>> {
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
    pub(crate) fn outbox_stats(&self) -> Result<Vec<OutboxStats>> {
        self.with(|c| {
            let mut q = c.prepare(
                "WITH s AS (SELECT sink FROM outbox UNION SELECT sink FROM dead_letters)
                 SELECT s.sink,
                        (SELECT count(*) FROM outbox o WHERE o.sink = s.sink AND delivered_at IS NULL AND pair <> 1),
                        (SELECT count(*) FROM outbox o WHERE o.sink = s.sink AND delivered_at IS NOT NULL AND pair <> 3),
                        (SELECT min(created_at) FROM outbox o WHERE o.sink = s.sink AND delivered_at IS NULL AND pair <> 1),
                        (SELECT last_error FROM outbox o WHERE o.sink = s.sink AND delivered_at IS NULL AND pair <> 1 AND last_error IS NOT NULL ORDER BY id LIMIT 1),
                        (SELECT count(*) FROM outbox o WHERE o.sink = s.sink AND delivered_at IS NULL AND pair <> 1 AND hold_until_ms > ?1),
                        (SELECT count(*) FROM dead_letters d WHERE d.sink = s.sink),
                        (SELECT count(*) FROM outbox o WHERE o.sink = s.sink AND delivered_at IS NULL AND pair = 1)
                 FROM s ORDER BY s.sink",
            )?;
            let rows = q.query_map([now_ms()], |r| Ok(OutboxStats { sink: r.get(0)?, pending: r.get(1)?, delivered: r.get(2)?, oldest_pending: r.get(3)?, last_error: r.get(4)?, held: r.get(5)?, dead: r.get(6)?, pair_held: r.get(7)? }))?;
            rows.collect()
        })
    }

    /// Deletes delivered notifications and events older than `before`, never
    /// an event an undelivered notification still needs.
    pub(crate) fn prune(&self, before: DateTime<Utc>) -> Result<(usize, usize)> {
        let t = rfc3339::format(&before);
        self.with(|c| {
            let tx = c.transaction()?;
            let o = tx.execute("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?1", [&t])?
                + tx.execute("DELETE FROM dead_letters WHERE died_at < ?1", [&t])?;
            let e = tx.execute(
                "DELETE FROM events WHERE time < ?1 AND seq < coalesce((SELECT min(first_seq) FROM outbox WHERE delivered_at IS NULL AND notices IS NULL), 9223372036854775807)",
                [&t],
            )?;
            tx.commit()?;
            Ok((o, e))
        })
    }
}

/// The lock file next to a store, held by the one watcher using it.
pub(crate) fn lock_path(store: &Path) -> PathBuf {
    let mut p = store.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
