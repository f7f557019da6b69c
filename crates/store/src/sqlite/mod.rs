//! The embedded engine: SQLite in WAL mode, one writer, a pool of readers, and the version log
//! beside the database.
//!
//! Where things are:
//! - `mod.rs` (here): [`SqliteOptions`], opening a store (the write connection, the schema,
//!   applying what another handle left past the committed length), the read pool, and the
//!   store's files;
//! - `queries.rs`: the [`Store`](crate::Store) interface, its SQL;
//! - `pipeline/`: the three threads every write goes through (decider, syncer, applier) and
//!   the messages between them;
//! - `lease.rs`: the lease on the version log (which handle may append past the committed
//!   length, where the next record goes) and the hand-over to a waiting handle;
//! - `import.rs`: a file import's transaction;
//! - `upload.rs`: deciding uploads against a snapshot plus an overlay, applying their frames,
//!   and recovery;
//! - `redo.rs`: the records of the log past the committed length (frames and extents);
//! - `log.rs`: the version log (imports' appends, readers);
//! - `objects.rs`: object rows, written by imports and read back; `schema.rs`: migrations;
//! - `pause.rs`: named pause points of the lease protocol (nothing outside tests), which
//!   `handover_tests.rs` uses to force each interleaving of a hand-over.
//!
//! What is acknowledged when, who may append past the committed length, what recovery applies
//! and cuts, and how the log passes to a waiting process: ARCHITECTURE.md, `crates/store`,
//! "Durability of the embedded store". Each module's documentation states the invariants it
//! keeps and those it relies on, and points there rather than repeating it.
//!
//! Invariants kept here: the database file is created 0600 before SQLite opens it; opening
//! applies a crashed handle's frames (waiting for a live holder of the lease to commit its
//! own, up to the busy timeout) so that what a handle was told is stored can be read by the
//! next; a read of a workspace sees every upload answered for it before the read began.

mod import;
mod lease;
mod log;
mod objects;
mod pause;
mod pipeline;
mod queries;
mod redo;
mod schema;
mod upload;

#[cfg(test)]
mod handover_tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::model::WorkspaceId;
use crate::StoreError;
use lease::Lease;
use log::{LogReader, LogWriter};
use pause::Pauses;
use pipeline::{ApplyJob, Pipeline, Shared};

pub use schema::VERSION as SCHEMA_VERSION;

/// Tuning of the embedded engine.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Page cache of the writer, in KiB, for imports and every other write but uploads.
    pub writer_cache_kib: u32,
    /// Page cache of the writer while it applies uploads, in KiB. Upload transactions last
    /// about a second and touch index pages all over the store; with a cache smaller than the
    /// pages one touches, SQLite spills them to the WAL and reads them back, and the applier
    /// fell behind 30,000 objects a second within a minute at 64 MiB (BENCHMARKS.md). Memory is
    /// taken only as pages are, and given back when another kind of write comes (an import
    /// stays within its memory target).
    pub upload_cache_kib: u32,
    /// The page size of a new database. 32 KiB rather than SQLite's 4 KiB: a version row is
    /// about a kilobyte, and bigger pages mean fewer page writes, splits and WAL frames per
    /// object. Measured on a 250 MB import (BENCHMARKS.md): less than half the system time.
    pub page_size: u32,
    /// How long a write waits for another process holding the database lock.
    pub busy_timeout: Duration,
    /// The most writes that share one group commit.
    pub max_group: usize,
    /// The longest an upload transaction stays open before the applier commits it.
    pub commit_every: Duration,
    /// How long the applier waits for more uploads before it commits what it has: short, so
    /// that a lone upload is soon visible to other processes and the log's lock soon free for
    /// them.
    pub idle_commit: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            writer_cache_kib: 64 * 1024,
            upload_cache_kib: 1024 * 1024,
            page_size: 32 * 1024,
            busy_timeout: Duration::from_secs(60),
            max_group: 256,
            commit_every: Duration::from_secs(1),
            idle_commit: Duration::from_millis(20),
        }
    }
}

/// How much of the database a reader maps: SQLite's default ceiling (`SQLITE_MAX_MMAP_SIZE`, just
/// under 2 GiB); pages past it are read by copying, as without a map.
const READER_MMAP_BYTES: i64 = 0x7fff_0000;

/// WAL pages after which the writer checkpoints (see `open`).
const WAL_CHECKPOINT_PAGES: i64 = 256;

/// The embedded store. Dropping it stops the writer threads after the jobs already queued.
pub struct SqliteStore {
    /// Declared first, so that its threads stop (and commit) before the rest is dropped.
    pipeline: Pipeline,
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    log: LogReader,
    /// Workspace ids to their row numbers; workspaces are never deleted, so entries never go
    /// stale.
    ws_keys: RwLock<HashMap<WorkspaceId, i64>>,
}

impl SqliteStore {
    /// Opens (creating if need be) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path, opts: SqliteOptions) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, opts, Pauses::none())
    }

    /// [`SqliteStore::open`], with the pause points of a test (`handover_tests.rs`).
    fn open_with(
        path: &Path,
        opts: SqliteOptions,
        pauses: Pauses,
    ) -> Result<SqliteStore, StoreError> {
        let mut conn = open_writer(path, &opts)?;
        let log_writer = LogWriter::open(path)?;
        let log = LogReader::open(path)?;
        let lease = Lease::open(path, opts.busy_timeout, pauses)?;
        apply_what_others_left(&mut conn, &lease)?;
        let shared = Arc::new(Shared::new(lease));
        let read_conn = open_reader(path)?;
        let pipeline = Pipeline::start(conn, read_conn, log_writer, shared, &opts)?;
        Ok(SqliteStore {
            pipeline,
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
            log,
            ws_keys: RwLock::new(HashMap::new()),
        })
    }

    /// Closes the store as a crash would: uploads answered but not yet committed stay only as
    /// frames in the version log, for the next opening to apply. For tests of recovery.
    #[doc(hidden)]
    pub fn crash(self) {
        self.pipeline.shared.crashed.store(true, Ordering::Release);
    }

    /// Runs `f` in a write transaction on the writer thread and waits for its commit.
    fn write_tx<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.pipeline.ask_applier(|reply| {
            ApplyJob::Tx(Box::new(move |conn: &mut Connection| {
                let result = (|| {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    let value = f(&tx)?;
                    tx.commit()?;
                    Ok(value)
                })();
                let _ = reply.send(result);
            }))
        })
    }

    /// Runs `f` on a read connection from the pool.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.readers.lock().expect("reader pool").pop();
        let conn = match conn {
            Some(c) => c,
            None => open_reader(&self.path)?,
        };
        let result = f(&conn);
        let mut pool = self.readers.lock().expect("reader pool");
        if pool.len() < 16 {
            pool.push(conn);
        }
        result
    }

    /// Runs `f` on a read connection once every upload answered so far is committed, so that a
    /// reader sees what it was told is stored. Role and import reads do not need this, and
    /// must not pay for it: an upload's own role check would otherwise force a commit.
    fn read_objects<T>(
        &self,
        ws: i64,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let shared = &self.pipeline.shared;
        let decided = shared
            .decided
            .lock()
            .expect("decided")
            .get(&ws)
            .copied()
            .unwrap_or(0);
        if decided > shared.committed.load(Ordering::Acquire) {
            self.pipeline.ask_applier(ApplyJob::Barrier)?;
        }
        self.read(f)
    }

    /// The row number of a workspace, or NotFound.
    fn ws_key(&self, id: WorkspaceId) -> Result<i64, StoreError> {
        if let Some(k) = self.ws_keys.read().expect("ws cache").get(&id) {
            return Ok(*k);
        }
        let key = self.read(|c| {
            Ok(c.query_row(
                "SELECT ws FROM workspaces WHERE id = ?1",
                [id.to_string()],
                |r| r.get::<_, i64>(0),
            )
            .optional()?)
        })?;
        let key = key.ok_or_else(|| StoreError::NotFound(format!("workspace {id}")))?;
        self.ws_keys.write().expect("ws cache").insert(id, key);
        Ok(key)
    }
}

/// The write connection, set up, with the schema brought up to date and the log's format
/// checked.
fn open_writer(path: &Path, opts: &SqliteOptions) -> Result<Connection, StoreError> {
    create_private(path)?;
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(opts.busy_timeout)?;
    // The page size only takes effect on a new database, before it is put in WAL mode.
    conn.pragma_update(None, "page_size", opts.page_size)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -i64::from(opts.writer_cache_kib))?;
    // Checkpoints of 8 MB (256 pages) rather than SQLite's 32 MB (1000 pages): the writer
    // runs one after the commit that fills the WAL, and every write waiting behind it
    // waits for it. Measured with 32 upload connections: p99 208 ms at 1000 pages, 80 ms
    // at 256, throughput unchanged; smaller was no better (BENCHMARKS.md).
    conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;

    schema::migrate(&mut conn)?;
    let format: i64 = conn.query_row("SELECT version FROM redo_format", [], |r| r.get(0))?;
    if format != redo::FORMAT {
        return Err(StoreError::Corrupt(format!(
            "the version log's frames are of format {format}, this build reads {}",
            redo::FORMAT
        )));
    }
    Ok(conn)
}

/// Frames past the committed length are answered uploads: of a crashed process, which are
/// applied now, or of a live one (a `serve` beside this `tiport export`), whose lease this
/// waits for, as SQLite's lock is waited for, so that what it was told is stored can be read
/// here too. (A log shorter than committed is damage that reads and writes report; opening
/// does not fail on it, so that what is intact can be read.) Bytes past it that are no frame
/// (an import running in another process) are no reason to wait.
fn apply_what_others_left(conn: &mut Connection, lease: &Lease) -> Result<(), StoreError> {
    let committed: i64 = conn.query_row("SELECT end_at FROM json_log", [], |r| r.get(0))?;
    let frames = !matches!(
        redo::frames_after(lease.file(), committed as u64),
        Ok(false)
    );
    if frames && lease.wait_for_lock()? {
        let recovered = upload::recover(conn, lease.file());
        lease.unlock();
        match recovered {
            // Damage is left as found, for a person to look at: writes report it (they
            // recover first), reads of what is intact go on.
            Ok(_) | Err(StoreError::Corrupt(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Creates the database file, if it does not exist, readable by its owner alone: it holds the
/// token signing key and the argon2 hashes of every secret, and the intelligence may be
/// TLP:RED. SQLite would make it 0644 (less the umask); its `-wal` and `-shm` files then take
/// the database file's mode, and the version log is made 0600 by `log.rs`.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Backend(
            format!("cannot create the database {}: {e}", path.display()).into(),
        )),
    }
}

/// The files of the store at `db` (the database, SQLite's `-wal` and `-shm`, the version log
/// and its `-wait` file) that exist and that other users may read or write, with their modes.
pub fn exposed_files(db: &Path) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let log = log::path_for(db);
    let mut wait = log.clone().into_os_string();
    wait.push("-wait");
    let with = |suffix: &str| {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    [
        db.to_owned(),
        with("-wal"),
        with("-shm"),
        log,
        PathBuf::from(wait),
    ]
    .into_iter()
    .filter_map(|p| {
        let mode = std::fs::metadata(&p).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some((p, mode))
    })
    .collect()
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.busy_timeout(Duration::from_secs(10))?;
    c.pragma_update(None, "query_only", true)?;
    // Readers map the database instead of copying each page they touch into a cache of their
    // own: a scan in id order visits table pages at random, and with 32 KiB pages the copying
    // was most of an export's time.
    c.pragma_update(None, "mmap_size", READER_MMAP_BYTES)?;
    Ok(c)
}
