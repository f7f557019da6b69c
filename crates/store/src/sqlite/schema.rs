//! The SQLite schema, as numbered migrations. `PRAGMA user_version` holds the number of the
//! last one applied; each runs in its own transaction on open, so a database is always at one
//! known version.

use rusqlite::Connection;

use crate::StoreError;

/// Every migration, in order. Never edit one that has shipped in a release; add the next.
const MIGRATIONS: &[&str] = &[
    // 1: workspaces, object versions, the observable index, imports, principals and roles.
    r#"
    CREATE TABLE workspaces (
        ws      INTEGER PRIMARY KEY,
        id      TEXT NOT NULL UNIQUE,
        name    TEXT NOT NULL,
        created TEXT NOT NULL
    );

    -- Where versions came from: `import:<uuid>` or `request:<id>`, stored once.
    CREATE TABLE origins (
        id   INTEGER PRIMARY KEY,
        text TEXT NOT NULL UNIQUE
    );

    -- One row per stored version. Object timestamps are integer microseconds since the epoch;
    -- `modified_ns` adds the nanoseconds below the microsecond, so (modified, modified_ns)
    -- names a version exactly. `is_current` marks the newest version of each id.
    -- `ws` and `origin` are not declared as foreign keys: the writer takes both from their
    -- tables in the same transaction, and checking them anyway cost a 250 MB import about a
    -- tenth of its time (two more B-tree seeks per version).
    CREATE TABLE objects (
        vid          INTEGER PRIMARY KEY, -- the row id, named so that it never changes
        ws           INTEGER NOT NULL,
        stix_id      TEXT NOT NULL,
        modified     INTEGER NOT NULL,
        modified_ns  INTEGER NOT NULL,
        type         TEXT NOT NULL,
        spec_version TEXT NOT NULL,
        created      INTEGER NOT NULL,
        revoked      INTEGER NOT NULL,
        valid_from   INTEGER,
        valid_until  INTEGER,
        confidence   INTEGER,
        tlp          TEXT,
        labels       TEXT,           -- a JSON array of strings, NULL when none
        source       TEXT NOT NULL,
        origin       INTEGER NOT NULL,
        stored       INTEGER NOT NULL,
        is_current   INTEGER NOT NULL,
        content_hash BLOB,           -- derived objects only
        observables  BLOB,           -- this version's observable keys, each after its u32 LE length
        json_at      INTEGER NOT NULL, -- where this version's JSON is in the version log
        json_len     INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX objects_version ON objects (ws, stix_id, modified, modified_ns);

    -- The committed length of the version log (log.rs): one row.
    CREATE TABLE json_log (
        one    INTEGER PRIMARY KEY CHECK (one = 1),
        end_at INTEGER NOT NULL
    );
    INSERT INTO json_log VALUES (1, 0);

    -- Observables of current indicator versions. Keys: see ObservableKey::encode.
    -- A row names the version by its `vid`, not its 47-character id: half the size, and an
    -- import sorts and inserts its keys faster.
    CREATE TABLE observables (
        ws      INTEGER NOT NULL,
        key     BLOB NOT NULL,
        vid     INTEGER NOT NULL,
        PRIMARY KEY (ws, key, vid)
    ) WITHOUT ROWID;

    CREATE TABLE imports (
        id         TEXT PRIMARY KEY,
        ws         INTEGER NOT NULL REFERENCES workspaces(ws),
        source     TEXT NOT NULL,
        file_name  TEXT NOT NULL,
        format     TEXT NOT NULL,
        mode       TEXT NOT NULL,
        status     TEXT NOT NULL,
        total      INTEGER NOT NULL DEFAULT 0,
        imported   INTEGER NOT NULL DEFAULT 0,
        invalid    INTEGER NOT NULL DEFAULT 0,
        unchanged  INTEGER NOT NULL DEFAULT 0,
        upgraded   INTEGER NOT NULL DEFAULT 0,
        message    TEXT,
        created    TEXT NOT NULL,
        started    TEXT,
        finished   TEXT,
        file_path  TEXT,
        error_path TEXT,
        owner      TEXT
    );
    CREATE INDEX imports_ws ON imports (ws, created);
    CREATE INDEX imports_open ON imports (status) WHERE status IN ('queued', 'running');

    CREATE TABLE principals (
        id          TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        name        TEXT NOT NULL,
        secret_hash TEXT,
        created     TEXT NOT NULL
    );

    CREATE TABLE roles (
        ws        INTEGER NOT NULL REFERENCES workspaces(ws),
        principal TEXT NOT NULL REFERENCES principals(id),
        role      TEXT NOT NULL,
        PRIMARY KEY (ws, principal)
    ) WITHOUT ROWID;
    "#,
    // 2: settings the service makes on first start (tenant id, token signing key).
    r#"
    CREATE TABLE settings (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 3: uploads are answered once their redo frames (redo.rs) are durable, and the frames
    // past `json_log.end_at` are acknowledged writes. A build older than this one would cut
    // them as an unfinished import's bytes, so it must refuse such a database: it does, seeing
    // a schema newer than its own. The table records the frame format.
    r#"
    CREATE TABLE redo_format (
        one     INTEGER PRIMARY KEY CHECK (one = 1),
        version INTEGER NOT NULL
    );
    INSERT INTO redo_format VALUES (1, 1);
    "#,
    // 4: imports write their JSON into extents of the version log (redo.rs), between the
    // frames of uploads that go on meanwhile; a build that knew only frames would cut the
    // frames behind an extent, so it must refuse the database. `keep_at`: the end of the
    // bytes of the last import that committed, which recovery never cuts, whatever it finds
    // (or does not find) before them.
    r#"
    UPDATE redo_format SET version = 2;
    ALTER TABLE json_log ADD COLUMN keep_at INTEGER NOT NULL DEFAULT 0;
    "#,
    // 5: web sessions (the hash of each cookie's token, never the token).
    r#"
    CREATE TABLE sessions (
        id_hash   TEXT PRIMARY KEY,
        principal TEXT NOT NULL REFERENCES principals(id),
        workspace TEXT,
        csrf      TEXT NOT NULL,
        created   TEXT NOT NULL,
        expires   TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sessions_by_expiry ON sessions (expires);
    "#,
    // 6: current objects in the order they were stored, for lists newest first. Rows are
    // added at the end of this index (`vid` only grows), which costs an import of 250 MB of
    // STIX about 5% of its time; an index by `modified` cost 15% (its inserts land anywhere),
    // which is why a list sorts by when tiport stored a version, not by its `modified`.
    r#"
    CREATE INDEX objects_current_by_vid ON objects (ws, vid) WHERE is_current = 1;
    "#,
];

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`VERSION`].
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    // Read first: an up-to-date database needs no write lock, so opening it never waits for
    // another process's long write (an import holds the lock for its whole run).
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found == VERSION {
        return check_shape(conn);
    }
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if found > VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: VERSION,
            });
        }
        if found == VERSION {
            drop(tx);
            return check_shape(conn);
        }
        tx.execute_batch(MIGRATIONS[found as usize])?;
        tx.pragma_update(None, "user_version", found + 1)?;
        tx.commit()?;
    }
}

/// Development builds from before the version log (before 2026-11-23, never released) wrote
/// schema version 1 without it; such a database is refused with a message, not failed on at the
/// first query.
fn check_shape(conn: &Connection) -> Result<(), StoreError> {
    let has_log: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'json_log')",
        [],
        |r| r.get(0),
    )?;
    if has_log {
        Ok(())
    } else {
        Err(StoreError::Corrupt(
            "the database was made by a development build of tiport older than its version log \
             (before 2026-11-23); export it with that build and import into a new data directory"
                .into(),
        ))
    }
}
