//! Schema migrations, applied in order inside one transaction each. The
//! database's `user_version` is the number of migrations applied; its
//! `application_id` marks the file as hawatch's.

/// "HWAT": tells a hawatch store from another application's SQLite file.
pub(crate) const APPLICATION_ID: i32 = 0x4857_4154;

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: snapshots, event history, outbox.
    "CREATE TABLE snapshots (
        instance   TEXT PRIMARY KEY,
        updated_at TEXT NOT NULL,
        state      TEXT NOT NULL
    );
    CREATE TABLE events (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        id       TEXT NOT NULL UNIQUE,
        time     TEXT NOT NULL,
        instance TEXT NOT NULL,
        kind     TEXT NOT NULL,
        severity TEXT NOT NULL,
        backend  TEXT,
        server   TEXT,
        body     TEXT NOT NULL
    );
    CREATE INDEX events_time ON events(time);
    CREATE INDEX events_instance_time ON events(instance, time);
    -- One row per (poll batch, sink): the events seq first_seq..=last_seq of
    -- one instance, committed in the same transaction as the events.
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        sink            TEXT NOT NULL,
        instance        TEXT NOT NULL,
        first_seq       INTEGER NOT NULL,
        last_seq        INTEGER NOT NULL,
        created_at      TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT,
        delivered_at    TEXT
    );
    CREATE INDEX outbox_pending ON outbox(sink, id) WHERE delivered_at IS NULL;",
    // 2: notices in the outbox (what the noise policy decided to say), rows
    // split over several messages (`done`), quiet hours (`hold_until_ms`),
    // the dead-letter table and the policy's per-subject state.
    "ALTER TABLE outbox ADD COLUMN notices TEXT;
    ALTER TABLE outbox ADD COLUMN done INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN hold_until_ms INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE dead_letters (
        id          INTEGER PRIMARY KEY,
        sink        TEXT NOT NULL,
        instance    TEXT NOT NULL,
        first_seq   INTEGER NOT NULL,
        last_seq    INTEGER NOT NULL,
        notices     TEXT,
        done        INTEGER NOT NULL DEFAULT 0,
        created_at  TEXT NOT NULL,
        attempts    INTEGER NOT NULL,
        last_error  TEXT,
        died_at     TEXT NOT NULL
    );
    CREATE TABLE alerts (
        sink     TEXT NOT NULL,
        key      TEXT NOT NULL,
        instance TEXT NOT NULL,
        due_ms   INTEGER,
        state    TEXT NOT NULL,
        PRIMARY KEY (sink, key)
    );
    CREATE INDEX alerts_due ON alerts(sink, due_ms) WHERE due_ms IS NOT NULL;
    CREATE INDEX alerts_instance ON alerts(sink, instance);",
    // 3: the pair (`backend_alerts = "vip-holder"`): a row of HAProxy's
    // events is held (1) while the peer tells it, told by this node as the
    // standby (2), or closed because the peer told it (3; delivered_at set).
    // The peer asks for each sink's last delivery once a second: an index,
    // not a scan of the delivered history.
    "ALTER TABLE outbox ADD COLUMN pair INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX outbox_delivered ON outbox(sink, pair, delivered_at) WHERE delivered_at IS NOT NULL;",
];
