//! The embedded engine: SQLite in WAL mode, one writer, a pool of readers.
//!
//! # Key decision: one writer connection, and uploads answered from the version log
//!
//! SQLite allows one writer at a time, so tiport has exactly one write connection, owned by the
//! *applier* thread. Uploads are taken by a second thread, the *decider* (`upload.rs`): it takes
//! the writes that are waiting together (group commit), decides each version against what is
//! committed plus what it decided since, and encodes one redo frame per write (`redo.rs`). A
//! third, the *syncer*, writes the frames of every group waiting to the version log, makes them
//! durable with one `fdatasync`, answers, and hands the frames to the applier; the decider
//! decides the next group meanwhile. The applier inserts the decided rows and commits about
//! once a second, so the cost of a commit (which grows with the store, random ids touching
//! every index leaf) is never in front of an answer. An object read first asks the applier to
//! commit what was answered, so a reader sees every write that was acknowledged before it
//! asked.
//!
//! A file import takes the write connection for its whole transaction, fed batch by batch from
//! the importing thread, which keeps parsing while the applier writes; the decider waits for it,
//! so that no upload is decided against a state the import is changing. Readers use their own
//! connections (WAL lets them read while the writer writes) and never wait for it.
//!
//! Every write is durable when the call returns: an upload's frame is synced before it is
//! answered, and every other commit is `synchronous = FULL`. Upload commits alone are
//! `synchronous = NORMAL`: if one is lost with the machine, its frames are still past the
//! committed length and are applied again ([`upload::recover`]).

mod log;
mod objects;
mod redo;
mod schema;
mod upload;

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use stix::{StixId, Timestamp};

use crate::model::*;
use crate::{Counts, ImportWriter, Store, StoreError};
use log::{LogReader, LogWriter};
use objects::{micros, origin_id, parse_ts, read_object, ts, ObjectWriter, COLUMNS, FROM};
use upload::Decider;

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

/// The most rows waiting for the applier before answers wait for it: about sixteen seconds of
/// uploads at 30,000 objects a second. The applier takes none while it writes an import
/// (one SQLite transaction), and uploads of other workspaces go on meanwhile: two 50 MB CSV
/// imports took 8 s, and with room for three seconds (100,000 rows) the uploads' p99 was
/// 754 ms, with room for this many 46 ms (BENCHMARKS.md, "Uploads while imports run"). A
/// queued row holds its decided columns, not its JSON (which is in the log): a few hundred
/// bytes, so the bound is a few hundred megabytes. Measured without a bound: wrk's closed loop
/// was answered at 85,000 objects a second while the applier fell 30 s behind and the service
/// grew to 3.7 GB.
const MAX_QUEUED_ROWS: u64 = 500_000;

/// How much of the database a reader maps: SQLite's default ceiling (`SQLITE_MAX_MMAP_SIZE`, just
/// under 2 GiB); pages past it are read by copying, as without a map.
const READER_MMAP_BYTES: i64 = 0x7fff_0000;

/// WAL pages after which the writer checkpoints (see `open`).
const WAL_CHECKPOINT_PAGES: i64 = 256;

type Reply<T> = SyncSender<Result<T, StoreError>>;

/// Jobs for the decider, the thread that takes writes.
enum Job {
    Write {
        ws: i64,
        provenance: Provenance,
        objects: Vec<NewObject>,
        reply: Reply<Vec<Outcome>>,
    },
    Import {
        import: ImportId,
        /// The import's workspace (row number).
        ws: i64,
        owner: String,
        rx: Receiver<ImportMsg>,
        reply: Reply<()>,
    },
}

/// Jobs for the applier, the thread that owns the write connection.
enum ApplyJob {
    /// The frames of group `seq`, durable and answered: insert their rows.
    Apply {
        seq: u64,
        frames: Vec<(u64, u64, redo::Entry)>,
    },
    /// Any other write: runs in its own transaction.
    Tx(Box<dyn FnOnce(&mut Connection) + Send>),
    Import {
        import: ImportId,
        owner: String,
        rx: Receiver<ImportMsg>,
        reply: Reply<()>,
        /// The import's workspace, counted in `Shared::importing` until the import ends.
        ws: i64,
    },
    /// Take the log's lock (applying first any frames a crashed writer left); answers where the
    /// next frame goes.
    Acquire(Reply<u64>),
    /// Commit what is applied.
    Barrier(Reply<()>),
    /// The decider ended a group without frames: free the log's lock if nothing is pending.
    Release,
    /// Another handle waits for the log: commit, and free the lock (every group is handed on).
    Yield(SyncSender<()>),
}

enum ImportMsg {
    Push(Vec<NewObject>),
    Flush(Reply<WriteSummary>),
    Commit(ImportFinish, Reply<()>),
    Abort(ImportFinish, Reply<()>),
}

/// What the decider and the applier share.
struct Shared {
    /// The version log, opened for the frames: the decider writes them, the applier reads them
    /// back in recovery, and its file lock says which handle may append past the committed
    /// length.
    file: File,
    /// Beside the log: another handle waiting for its lock holds a shared lock on it.
    waiting: File,
    /// Set when another handle waits: the decider lets the lock go before its next group.
    yield_log: std::sync::atomic::AtomicBool,
    log: Mutex<LogState>,
    /// The last group answered with frames, per workspace, and the last group committed: a
    /// read of a workspace waits for a commit only if that workspace has answered frames the
    /// applier has not committed (an import elsewhere would hold it up for its whole run).
    decided: Mutex<HashMap<i64, u64>>,
    committed: AtomicU64,
    /// Set when applying answered frames failed: no more writes until the store is opened
    /// again (the frames are kept, and opening applies them).
    broken: Mutex<Option<String>>,
    busy_timeout: Duration,
    /// Rows handed to the applier and not yet taken by it: the syncer waits while there are
    /// more than [`MAX_QUEUED_ROWS`], so that answers slow to what the applier sustains
    /// rather than the backlog (and memory, and the wait of the next reader) growing.
    queued_rows: Mutex<u64>,
    rows_taken: std::sync::Condvar,
    /// Set by [`SqliteStore::crash`]: the applier stops without committing.
    crashed: std::sync::atomic::AtomicBool,
    /// Workspaces an import has been handed to the applier for, and how many: the decider
    /// holds back their uploads until those imports end (the rules must see what an import
    /// wrote), and decides every other workspace's meanwhile.
    importing: Mutex<HashMap<i64, usize>>,
}

impl log::Space for Shared {
    fn reserve_extent(&self, len: u64) -> Result<u64, StoreError> {
        let len32 = u32::try_from(len)
            .map_err(|_| StoreError::State(format!("an extent of {len} bytes")))?;
        let mut st = self.log.lock().expect("log state");
        if !st.held {
            return Err(StoreError::State(
                "an import reserved log space without holding the log".into(),
            ));
        }
        let at = st.next_at;
        // Written now, under the state's lock: every record reserved after this one is made
        // durable after it, so no scan meets an acknowledged frame behind an unreadable header.
        self.file
            .write_all_at(&redo::extent_header(len32), at)
            .map_err(|e| {
                StoreError::Backend(format!("cannot write to the version log: {e}").into())
            })?;
        st.next_at = at + redo::HEADER as u64 + len;
        Ok(at)
    }

    fn trim_tail(&self, header: u64, reserved_end: u64, used_end: u64) -> bool {
        let mut st = self.log.lock().expect("log state");
        if st.frames_uncommitted != 0 || st.next_at != reserved_end {
            return false;
        }
        let used = used_end - header - redo::HEADER as u64;
        if used_end < reserved_end {
            let Ok(used) = u32::try_from(used) else {
                return false;
            };
            if self
                .file
                .write_all_at(&redo::extent_header(used), header)
                .is_err()
            {
                return false;
            }
        }
        st.next_at = used_end;
        true
    }

    fn give_back(&self, from: u64, reserved_end: u64) -> bool {
        let mut st = self.log.lock().expect("log state");
        if st.frames_uncommitted != 0 || st.next_at != reserved_end {
            return false;
        }
        // Cut under the state's lock: no frame can be reserved there before the cut.
        if self.file.set_len(from).is_err() {
            return false;
        }
        st.next_at = from;
        true
    }
}

impl Shared {
    /// Counts an import handed to the applier for workspace `ws`.
    fn importing(&self, ws: i64, delta: isize) {
        let mut m = self.importing.lock().expect("importing");
        let n = m.entry(ws).or_default();
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            m.remove(&ws);
        }
    }
}

struct LogState {
    /// Whether this handle holds the log's file lock.
    held: bool,
    /// Where the next record (frame or extent) goes (meaningful while `held`).
    next_at: u64,
    /// Groups the decider began or answered whose rows are not yet committed, and imports
    /// handed to the applier and not yet ended; the lock is kept until there are none.
    pending: u64,
    /// Groups whose frames were reserved and whose rows are not yet committed: while there
    /// are any, an import's commit leaves the committed length where it is (`log.rs`).
    frames_uncommitted: u64,
}

impl Shared {
    fn broken(&self) -> Option<StoreError> {
        self.broken
            .lock()
            .expect("broken flag")
            .as_ref()
            .map(|m| StoreError::Backend(m.clone().into()))
    }

    fn set_broken(&self, why: &str) {
        let mut b = self.broken.lock().expect("broken flag");
        if b.is_none() {
            *b = Some(format!(
                "the store stopped taking writes after an error ({why}); every upload it \
                 acknowledged is kept in the version log and is applied when it is opened again"
            ));
        }
    }
}

/// The embedded store. Dropping it stops the writer threads after the jobs already queued.
pub struct SqliteStore {
    path: PathBuf,
    jobs: Option<SyncSender<Job>>,
    apply: Option<SyncSender<ApplyJob>>,
    decider: Option<JoinHandle<()>>,
    syncer: Option<JoinHandle<()>>,
    applier: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    readers: Mutex<Vec<Connection>>,
    log: LogReader,
    /// Workspace ids to their row numbers; workspaces are never deleted, so entries never go
    /// stale.
    ws_keys: RwLock<HashMap<WorkspaceId, i64>>,
}

impl SqliteStore {
    /// Opens (creating if need be) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path, opts: SqliteOptions) -> Result<SqliteStore, StoreError> {
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
        let mut log_writer = LogWriter::open(path)?;
        let log = LogReader::open(path)?;
        let file = log::open_for_frames(path)?;
        let waiting = log::open_waiting(path)?;
        // Frames past the committed length are answered uploads: of a crashed process, which
        // are applied now, or of a live one (a `serve` beside this `tiport export`), whose
        // lock this waits for, as SQLite's lock is waited for, so that what it was told is
        // stored can be read here too. (A log shorter than committed is damage that reads and
        // writes report; opening does not fail on it, so that what is intact can be read.)
        // Bytes past it that are no frame (an import running in another process) are no
        // reason to wait.
        let committed: i64 = conn.query_row("SELECT end_at FROM json_log", [], |r| r.get(0))?;
        let frames = !matches!(redo::frames_after(&file, committed as u64), Ok(false));
        if frames && lock_log(&file, &waiting, opts.busy_timeout)? {
            let recovered = upload::recover(&mut conn, &file);
            let _ = file.unlock();
            match recovered {
                // Damage is left as found, for a person to look at: writes report it (they
                // recover first), reads of what is intact go on.
                Ok(_) | Err(StoreError::Corrupt(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let shared = Arc::new(Shared {
            file,
            waiting,
            yield_log: Default::default(),
            log: Mutex::new(LogState {
                held: false,
                next_at: 0,
                pending: 0,
                frames_uncommitted: 0,
            }),
            decided: Mutex::new(HashMap::new()),
            committed: AtomicU64::new(0),
            broken: Mutex::new(None),
            busy_timeout: opts.busy_timeout,
            queued_rows: Mutex::new(0),
            rows_taken: std::sync::Condvar::new(),
            crashed: Default::default(),
            importing: Mutex::new(HashMap::new()),
        });
        let read_conn = open_reader(path)?;
        let (apply_tx, apply_rx) = mpsc::sync_channel(4096);
        let applier = {
            let shared = shared.clone();
            let tuning = Tuning {
                commit_every: opts.commit_every,
                idle_commit: opts.idle_commit,
                writer_cache_kib: opts.writer_cache_kib,
                upload_cache_kib: opts.upload_cache_kib,
            };
            std::thread::Builder::new()
                .name("store-applier".into())
                .spawn(move || applier_loop(conn, &mut log_writer, &shared, apply_rx, tuning))
                .map_err(|e| StoreError::Backend(Box::new(e)))?
        };
        let (sync_tx, sync_rx) = mpsc::sync_channel(64);
        let syncer = {
            let shared = shared.clone();
            let apply = apply_tx.clone();
            std::thread::Builder::new()
                .name("store-syncer".into())
                .spawn(move || syncer_loop(&shared, sync_rx, &apply))
                .map_err(|e| StoreError::Backend(Box::new(e)))?
        };
        let (tx, rx) = mpsc::sync_channel(64);
        let decider = {
            let shared = shared.clone();
            let apply = apply_tx.clone();
            let max_group = opts.max_group;
            std::thread::Builder::new()
                .name("store-writer".into())
                .spawn(move || {
                    let decider = Decider::new(read_conn);
                    decider_loop(decider, &shared, rx, &sync_tx, &apply, max_group)
                })
                .map_err(|e| StoreError::Backend(Box::new(e)))?
        };
        Ok(SqliteStore {
            path: path.to_owned(),
            jobs: Some(tx),
            apply: Some(apply_tx),
            decider: Some(decider),
            syncer: Some(syncer),
            applier: Some(applier),
            shared,
            readers: Mutex::new(Vec::new()),
            log,
            ws_keys: RwLock::new(HashMap::new()),
        })
    }

    /// Closes the store as a crash would: uploads answered but not yet committed stay only as
    /// frames in the version log, for the next opening to apply. For tests of recovery.
    #[doc(hidden)]
    pub fn crash(self) {
        self.shared.crashed.store(true, Ordering::Release);
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(job)
            .map_err(|_| StoreError::Closed)
    }

    fn send_apply(&self, job: ApplyJob) -> Result<(), StoreError> {
        self.apply
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(job)
            .map_err(|_| StoreError::Closed)
    }

    /// Runs `f` in a write transaction on the writer thread and waits for its commit.
    fn write_tx<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send_apply(ApplyJob::Tx(Box::new(move |conn: &mut Connection| {
            let result = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let value = f(&tx)?;
                tx.commit()?;
                Ok(value)
            })();
            let _ = reply.send(result);
        })))?;
        answer.recv().map_err(|_| StoreError::Closed)?
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
        let decided = self
            .shared
            .decided
            .lock()
            .expect("decided")
            .get(&ws)
            .copied()
            .unwrap_or(0);
        if decided > self.shared.committed.load(Ordering::Acquire) {
            let (reply, answer) = mpsc::sync_channel(1);
            self.send_apply(ApplyJob::Barrier(reply))?;
            answer.recv().map_err(|_| StoreError::Closed)??;
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

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // The decider first, then the syncer: they may still hand groups on, and the applier
        // then applies and commits everything queued before it stops.
        self.jobs.take();
        if let Some(d) = self.decider.take() {
            let _ = d.join();
        }
        if let Some(s) = self.syncer.take() {
            let _ = s.join();
        }
        self.apply.take();
        if let Some(a) = self.applier.take() {
            let _ = a.join();
        }
    }
}

type GroupEntry = (i64, Provenance, Vec<NewObject>, Reply<Vec<Outcome>>);

/// Jobs for the syncer, the thread that makes frames durable and then answers.
enum SyncJob {
    /// A decided group: its frames (none if it stored nothing) go at `at`; once they are
    /// durable, its writes are answered and the frames handed to the applier.
    Group {
        seq: u64,
        at: u64,
        bytes: Vec<u8>,
        frames: Vec<(u64, u64, redo::Entry)>,
        replies: Vec<Reply<Vec<Outcome>>>,
        outcomes: Vec<Result<Vec<Outcome>, StoreError>>,
    },
    /// Answers once every group before it is answered and handed to the applier.
    Flush(SyncSender<()>),
}

fn decider_loop(
    mut decider: Decider,
    shared: &Shared,
    rx: Receiver<Job>,
    sync: &SyncSender<SyncJob>,
    apply: &SyncSender<ApplyJob>,
    max_group: usize,
) {
    let mut next: Option<Job> = None;
    let mut seq = 0u64;
    // Writes (and imports behind them) of a workspace an import runs on, in arrival order,
    // until it ends.
    let mut held_back: VecDeque<Held> = VecDeque::new();
    let mut closed = false;
    loop {
        match take_ready(&mut held_back, shared, max_group) {
            Some(Ready::Writes(group)) => {
                seq += 1;
                run_group(&mut decider, shared, sync, apply, seq, group);
                continue;
            }
            Some(Ready::Import(job)) => {
                start_import(shared, sync, apply, job);
                continue;
            }
            None => {}
        }
        let job = match next.take() {
            Some(j) => j,
            // The store is closing: what was held back is still done, once its import ends.
            None if closed => {
                if held_back.is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            None if held_back.is_empty() => match rx.recv() {
                Ok(j) => j,
                Err(_) => break,
            },
            None => match rx.recv_timeout(Duration::from_millis(5)) {
                Ok(j) => j,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    closed = true;
                    continue;
                }
            },
        };
        match job {
            Job::Import {
                import,
                ws,
                owner,
                rx,
                reply,
            } => {
                let job = HeldImport {
                    import,
                    ws,
                    owner,
                    rx,
                    reply,
                };
                // Behind the writes of its workspace already held back, in order.
                if held_back.iter().any(|h| h.ws() == ws) {
                    held_back.push_back(Held::Import(job));
                } else {
                    start_import(shared, sync, apply, job);
                }
            }
            Job::Write {
                ws,
                provenance,
                objects,
                reply,
            } => {
                // Group commit: take every write already waiting, up to max_group.
                let mut group = vec![(ws, provenance, objects, reply)];
                while group.len() < max_group {
                    match rx.try_recv() {
                        Ok(Job::Write {
                            ws,
                            provenance,
                            objects,
                            reply,
                        }) => group.push((ws, provenance, objects, reply)),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                // A workspace an import runs on waits for it; so do later writes of a workspace
                // with something held back, to keep their order.
                let ready: Vec<GroupEntry> = {
                    let importing = shared.importing.lock().expect("importing");
                    let mut ready = Vec::with_capacity(group.len());
                    for w in group {
                        if importing.contains_key(&w.0) || held_back.iter().any(|h| h.ws() == w.0) {
                            held_back.push_back(Held::Write(w));
                        } else {
                            ready.push(w);
                        }
                    }
                    ready
                };
                if !ready.is_empty() {
                    seq += 1;
                    run_group(&mut decider, shared, sync, apply, seq, ready);
                }
            }
        }
    }
}

/// An import waiting behind writes of its workspace.
struct HeldImport {
    import: ImportId,
    ws: i64,
    owner: String,
    rx: Receiver<ImportMsg>,
    reply: Reply<()>,
}

/// Something the decider holds back until its workspace's import ends.
enum Held {
    Write(GroupEntry),
    Import(HeldImport),
}

impl Held {
    fn ws(&self) -> i64 {
        match self {
            Held::Write(w) => w.0,
            Held::Import(i) => i.ws,
        }
    }
}

/// What the decider may do next of what it held back.
enum Ready {
    Writes(Vec<GroupEntry>),
    Import(HeldImport),
}

/// The first thing held back whose workspace no import runs on any more: an import, or the
/// writes (at most `max`) that come before anything else still held back of their workspace.
fn take_ready(held_back: &mut VecDeque<Held>, shared: &Shared, max: usize) -> Option<Ready> {
    if held_back.is_empty() {
        return None;
    }
    let importing = shared.importing.lock().expect("importing");
    let first = held_back
        .iter()
        .position(|h| !importing.contains_key(&h.ws()))?;
    if matches!(held_back[first], Held::Import(_)) {
        let Some(Held::Import(job)) = held_back.remove(first) else {
            unreachable!("matched above");
        };
        return Some(Ready::Import(job));
    }
    let mut writes = Vec::new();
    // Workspaces whose next held item stays: nothing after it of the same workspace goes first.
    let mut stopped: Vec<i64> = Vec::new();
    let mut keep = VecDeque::with_capacity(held_back.len());
    for h in held_back.drain(..) {
        let ws = h.ws();
        match h {
            Held::Write(w)
                if writes.len() < max && !importing.contains_key(&ws) && !stopped.contains(&ws) =>
            {
                writes.push(w);
            }
            other => {
                if !stopped.contains(&ws) {
                    stopped.push(ws);
                }
                keep.push_back(other);
            }
        }
    }
    *held_back = keep;
    Some(Ready::Writes(writes))
}

/// Hands an import to the applier: the log held for it, its workspace counted as importing,
/// and every answered frame before it (its rules must see them).
fn start_import(
    shared: &Shared,
    sync: &SyncSender<SyncJob>,
    apply: &SyncSender<ApplyJob>,
    job: HeldImport,
) {
    let HeldImport {
        import,
        ws,
        owner,
        rx,
        reply,
    } = job;
    // The import holds the log until it ends, so that the uploads of other workspaces decided
    // meanwhile never wait for the lock behind it.
    if let Err(e) = hold_log(shared, apply) {
        let _ = reply.send(Err(e));
        return;
    }
    shared.importing(ws, 1);
    let (flushed, wait) = mpsc::sync_channel(1);
    if sync.send(SyncJob::Flush(flushed)).is_ok() {
        let _ = wait.recv();
    }
    let job = ApplyJob::Import {
        import,
        owner,
        rx,
        reply,
        ws,
    };
    if let Err(mpsc::SendError(ApplyJob::Import { reply, ws, .. })) = apply.send(job) {
        let _ = reply.send(Err(StoreError::Closed));
        shared.importing(ws, -1);
        end_hold(shared);
    }
}

/// Makes sure this handle holds the log's lock, and counts one more user of it (a group, or an
/// import), which [`end_hold`] or the commit that ends it uncounts.
fn hold_log(shared: &Shared, apply: &SyncSender<ApplyJob>) -> Result<(), StoreError> {
    loop {
        {
            let mut st = shared.log.lock().expect("log state");
            if st.held {
                st.pending += 1;
                return Ok(());
            }
        }
        let (reply, answer) = mpsc::sync_channel(1);
        apply
            .send(ApplyJob::Acquire(reply))
            .map_err(|_| StoreError::Closed)?;
        answer.recv().map_err(|_| StoreError::Closed)??;
    }
}

/// Ends the applier's part in an import, whatever way it ends: its workspace's uploads are
/// decided again, and its hold on the log is given back.
struct ImportEnded<'a> {
    shared: &'a Shared,
    ws: i64,
}

impl Drop for ImportEnded<'_> {
    fn drop(&mut self) {
        self.shared.importing(self.ws, -1);
        end_hold(self.shared);
        release_if_idle(self.shared);
    }
}

/// Uncounts a user of the log that wrote no frames (an import, which the applier ends).
fn end_hold(shared: &Shared) {
    let mut st = shared.log.lock().expect("log state");
    st.pending = st.pending.saturating_sub(1);
}

fn fail_replies(replies: Vec<Reply<Vec<Outcome>>>, e: &StoreError) {
    let msg = e.to_string();
    for reply in replies {
        let _ = reply.send(Err(StoreError::Backend(msg.clone().into())));
    }
}

/// Decides a group and hands it to the syncer, which answers it once its frames are durable.
/// The next group is decided meanwhile: deciding and syncing overlap.
fn run_group(
    decider: &mut Decider,
    shared: &Shared,
    sync: &SyncSender<SyncJob>,
    apply: &SyncSender<ApplyJob>,
    seq: u64,
    group: Vec<GroupEntry>,
) {
    let mut writes = Vec::with_capacity(group.len());
    let mut replies = Vec::with_capacity(group.len());
    for (ws, provenance, objects, reply) in group {
        writes.push((ws, provenance, objects));
        replies.push(reply);
    }
    if let Some(e) = shared.broken() {
        return fail_replies(replies, &e);
    }
    // While an import runs, the log cannot be let go (the import holds it), and waiting to
    // hand it over would stop every workspace's uploads behind the import: the hand-over
    // waits until the import ends.
    let importing = !shared.importing.lock().expect("importing").is_empty();
    if !importing && shared.yield_log.swap(false, Ordering::AcqRel) {
        // Another handle waits for the log: every group before this one answered and handed
        // on, then committed and the lock freed, then a head start for the other over this
        // handle's own polling.
        let (flushed, wait) = mpsc::sync_channel(1);
        if sync.send(SyncJob::Flush(flushed)).is_ok() {
            let _ = wait.recv();
        }
        let (reply, released) = mpsc::sync_channel(1);
        if apply.send(ApplyJob::Yield(reply)).is_ok() {
            let _ = released.recv();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Hold the log's lock from before the snapshot the rules read until the frames are applied:
    // no other writer may change what they decided on, or cut the frames.
    if let Err(e) = hold_log(shared, apply) {
        return fail_replies(replies, &e);
    }
    let committed = shared.committed.load(Ordering::Acquire);
    let n = writes.len();
    // A panic here (a bug) must still pass through the syncer, which gives the lock back.
    let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decider.decide(seq, committed, micros(&Timestamp::now()), writes)
    }))
    .unwrap_or_else(|_| {
        decider.undo(seq);
        Err(StoreError::State("a panic while deciding an upload".into()))
    });
    let (at, bytes, frames, outcomes) = match decided {
        Ok(d) => {
            let mut st = shared.log.lock().expect("log state");
            let at = st.next_at;
            st.next_at += d.bytes.len() as u64;
            if !d.bytes.is_empty() {
                st.frames_uncommitted += 1;
            }
            let frames = d
                .frames
                .into_iter()
                .map(|(off, len, entry)| (at + off, len, entry))
                .collect();
            (at, d.bytes, frames, d.outcomes)
        }
        // Still through the syncer, so that the lock is given back in order.
        Err(e) => {
            let msg = e.to_string();
            let outcomes = (0..n)
                .map(|_| Err(StoreError::Backend(msg.clone().into())))
                .collect();
            (0, Vec::new(), Vec::new(), outcomes)
        }
    };
    let job = SyncJob::Group {
        seq,
        at,
        bytes,
        frames,
        replies,
        outcomes,
    };
    if let Err(mpsc::SendError(job)) = sync.send(job) {
        shared.set_broken("the syncer stopped");
        if let SyncJob::Group { replies, .. } = job {
            fail_replies(replies, &StoreError::Closed);
        }
    }
}

/// Writes the frames of every group waiting, makes them durable with one `fdatasync`, then, in
/// order, answers each group and hands its frames to the applier. Groups without frames are
/// answered in order too: what they were told (say, "unchanged") may rest on a frame before
/// them.
fn syncer_loop(shared: &Shared, rx: Receiver<SyncJob>, apply: &SyncSender<ApplyJob>) {
    let end_pending = |groups: u64| {
        let idle = {
            let mut st = shared.log.lock().expect("log state");
            st.pending -= groups;
            st.pending == 0
        };
        if idle {
            let _ = apply.send(ApplyJob::Release);
        }
    };
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let mut written: Result<(), String> = match shared.broken() {
            Some(e) => Err(e.to_string()),
            None => Ok(()),
        };
        let mut first_at = None;
        for job in &batch {
            if let (Ok(()), SyncJob::Group { at, bytes, .. }) = (&written, job) {
                if !bytes.is_empty() {
                    first_at.get_or_insert(*at);
                    written = shared
                        .file
                        .write_all_at(bytes, *at)
                        .map_err(|e| e.to_string());
                }
            }
        }
        if let (Ok(()), Some(_)) = (&written, first_at) {
            written = shared.file.sync_data().map_err(|e| e.to_string());
        }
        if let Err(e) = &written {
            // A failed write or sync leaves the log's state uncertain: no more writes until the
            // store is opened again, which applies the frames that were answered before (the
            // unanswered ones are not cut here: an import's extents may follow them).
            shared.set_broken(&format!("cannot write the version log: {e}"));
        }
        for job in batch {
            match job {
                SyncJob::Flush(done) => {
                    let _ = done.send(());
                }
                SyncJob::Group {
                    seq,
                    frames,
                    replies,
                    outcomes,
                    ..
                } => {
                    if let Err(e) = &written {
                        if !frames.is_empty() {
                            let mut st = shared.log.lock().expect("log state");
                            st.frames_uncommitted = st.frames_uncommitted.saturating_sub(1);
                        }
                        end_pending(1);
                        fail_replies(replies, &StoreError::Backend(e.clone().into()));
                        continue;
                    }
                    if frames.is_empty() {
                        end_pending(1);
                    } else {
                        {
                            let mut decided = shared.decided.lock().expect("decided");
                            for f in &frames {
                                decided.insert(f.2.ws, seq);
                            }
                        }
                        let rows: u64 = frames.iter().map(|f| f.2.rows.len() as u64).sum();
                        {
                            let mut queued = shared.queued_rows.lock().expect("queued rows");
                            // A broken applier takes its jobs without applying them, but
                            // do not count on a stopped one.
                            while *queued > MAX_QUEUED_ROWS && shared.broken().is_none() {
                                queued = shared
                                    .rows_taken
                                    .wait_timeout(queued, Duration::from_millis(100))
                                    .expect("queued rows")
                                    .0;
                            }
                            *queued += rows;
                        }
                        // The frames are durable: if the applier is gone, opening the store
                        // again applies them.
                        if apply.send(ApplyJob::Apply { seq, frames }).is_err() {
                            shared.set_broken("the applier stopped");
                        }
                    }
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(outcome);
                    }
                }
            }
        }
    }
}

/// The applier's open upload transaction.
struct Open {
    since: Instant,
    /// The last group applied, how many groups, and where its last frame ends.
    seq: u64,
    groups: u64,
    end: u64,
}

fn applier_loop(
    mut conn: Connection,
    log: &mut LogWriter,
    shared: &Shared,
    rx: Receiver<ApplyJob>,
    tuning: Tuning,
) {
    yield_to_answers();
    let mut open: Option<Open> = None;
    let mut mode = Mode {
        uploads: false,
        tuning,
    };
    loop {
        let job = match &open {
            Some(o) => {
                let wait = mode
                    .tuning
                    .commit_every
                    .saturating_sub(o.since.elapsed())
                    .min(mode.tuning.idle_commit);
                match rx.recv_timeout(wait) {
                    Ok(j) => Some(j),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            None => match rx.recv() {
                Ok(j) => Some(j),
                Err(_) => break,
            },
        };
        // A panic in one job (a bug) must not take the writer down with it: the job's callers
        // see their reply channel closed, its transaction is rolled back, and the writer goes
        // on. Answered uploads cannot be rolled back: a panic while applying or committing
        // them stops writes (their frames stay, for the next opening to apply).
        let uploads = open.is_some() || matches!(job, None | Some(ApplyJob::Apply { .. }));
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match job {
            Some(job) => run_apply_job(&mut conn, log, shared, job, &mut open, &mut mode),
            None => commit_uploads(&mut conn, shared, &mut open),
        }));
        if done.is_err() {
            open.take();
            if uploads {
                shared.set_broken("a panic while applying uploads");
            }
            // A panic while taking the lock (in recovery) or during an import must not keep
            // the log's lock from other processes.
            {
                let mut st = shared.log.lock().expect("log state");
                if !st.held || st.pending == 0 {
                    let _ = shared.file.unlock();
                    st.held = false;
                }
            }
            if !conn.is_autocommit() {
                log.discard(shared);
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
    if shared.crashed.load(Ordering::Acquire) {
        if open.take().is_some() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        let _ = shared.file.unlock();
        return;
    }
    commit_uploads(&mut conn, shared, &mut open);
    release_if_idle(shared);
    // Closing the last connection folds the WAL into the database; an explicit checkpoint
    // here could wait for another process's transaction.
}

/// The applier is background work ([`crate::background`]). Nothing is answered after the
/// applier's work, while an answer waits for the decider, the syncer's `fdatasync` and the
/// request's own thread; when the applier's commit and checkpoint (about a hundred megabytes
/// written every second under load) competed with them as equals, p99 of the upload benchmark
/// was 46–63 ms, and as background work 31 ms (BENCHMARKS.md). The idle I/O class cannot
/// starve it: the block layer's schedulers serve idle requests that have waited long enough
/// (mq-deadline: 10 s), and a backlog only makes its transactions bigger, which makes them
/// cheaper per object.
fn yield_to_answers() {
    crate::background();
}

/// The applier's settings.
struct Tuning {
    commit_every: Duration,
    idle_commit: Duration,
    writer_cache_kib: u32,
    upload_cache_kib: u32,
}

/// What the write connection is set up for: uploads (`synchronous = NORMAL`, since the frames
/// are their durability, and the big cache) or anything else (`FULL`, the small cache).
/// Switched only between transactions.
struct Mode {
    uploads: bool,
    tuning: Tuning,
}

impl Mode {
    fn set(&mut self, conn: &Connection, uploads: bool) -> Result<(), StoreError> {
        if self.uploads != uploads {
            let (sync, kib) = if uploads {
                ("NORMAL", self.tuning.upload_cache_kib)
            } else {
                ("FULL", self.tuning.writer_cache_kib)
            };
            conn.pragma_update(None, "synchronous", sync)?;
            conn.pragma_update(None, "cache_size", -i64::from(kib))?;
            self.uploads = uploads;
        }
        Ok(())
    }
}

fn run_apply_job(
    conn: &mut Connection,
    log: &mut LogWriter,
    shared: &Shared,
    job: ApplyJob,
    open: &mut Option<Open>,
    mode: &mut Mode,
) {
    match job {
        ApplyJob::Apply { seq, frames } => {
            {
                let rows: u64 = frames.iter().map(|f| f.2.rows.len() as u64).sum();
                *shared.queued_rows.lock().expect("queued rows") -= rows;
                shared.rows_taken.notify_all();
            }
            if shared.broken().is_some() {
                return;
            }
            let applied = (|| {
                if open.is_none() {
                    mode.set(conn, true)?;
                    conn.execute_batch("BEGIN IMMEDIATE")?;
                    *open = Some(Open {
                        since: Instant::now(),
                        seq,
                        groups: 0,
                        end: 0,
                    });
                }
                let o = open.as_mut().expect("just opened");
                for (at, len, entry) in &frames {
                    upload::apply_entry(conn, *at, entry)?;
                    o.end = at + len;
                }
                o.seq = seq;
                o.groups += 1;
                Ok::<_, StoreError>(o.since.elapsed() >= mode.tuning.commit_every)
            })();
            match applied {
                Ok(true) => commit_uploads(conn, shared, open),
                Ok(false) => {}
                Err(e) => {
                    open.take();
                    if !conn.is_autocommit() {
                        let _ = conn.execute_batch("ROLLBACK");
                    }
                    shared.set_broken(&e.to_string());
                }
            }
        }
        ApplyJob::Tx(f) => {
            commit_uploads(conn, shared, open);
            if mode.set(conn, false).is_ok() {
                f(conn);
            }
        }
        ApplyJob::Import {
            import,
            owner,
            rx,
            reply,
            ws,
        } => {
            commit_uploads(conn, shared, open);
            // The decider took the log for the import (`hold_log`) before handing it here, and
            // counted its workspace; both are given back however the import ends, a panic too.
            let _ended = ImportEnded { shared, ws };
            let ready = match shared.broken() {
                Some(e) => Err(e),
                None => mode.set(conn, false),
            };
            match ready {
                Ok(()) => run_import(conn, log, shared, import, &owner, rx, reply),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            }
        }
        ApplyJob::Acquire(reply) => {
            commit_uploads(conn, shared, open);
            let r = mode.set(conn, false).and_then(|()| acquire(conn, shared));
            let _ = reply.send(r);
        }
        ApplyJob::Barrier(reply) => {
            commit_uploads(conn, shared, open);
            let _ = reply.send(match shared.broken() {
                Some(e) => Err(e),
                None => Ok(()),
            });
        }
        ApplyJob::Yield(done) => {
            commit_uploads(conn, shared, open);
            release_if_idle(shared);
            let _ = done.send(());
        }
        ApplyJob::Release => {
            if open.is_none() {
                release_if_idle(shared);
            }
        }
    }
}

/// Commits the open upload transaction, with the committed length of the log past its frames.
fn commit_uploads(conn: &mut Connection, shared: &Shared, open: &mut Option<Open>) {
    let Some(o) = open.take() else {
        return;
    };
    let committed = conn
        .execute("UPDATE json_log SET end_at = ?1", [o.end as i64])
        .map_err(StoreError::from)
        .and_then(|_| Ok(conn.execute_batch("COMMIT")?));
    match committed {
        Ok(()) => {
            shared.committed.store(o.seq, Ordering::Release);
            let more = {
                let mut st = shared.log.lock().expect("log state");
                st.pending -= o.groups;
                st.frames_uncommitted = st.frames_uncommitted.saturating_sub(o.groups);
                st.pending > 0
            };
            // Also when none is pending: the next group would otherwise take the lock again
            // before a waiter's next try.
            note_waiters(shared);
            if !more {
                release_if_idle(shared);
            }
        }
        Err(e) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            shared.set_broken(&e.to_string());
        }
    }
}

/// Takes the log's file lock for this handle, waiting as SQLite would for its own lock, and
/// applies any frames a crashed writer left; answers where the next frame goes.
fn acquire(conn: &mut Connection, shared: &Shared) -> Result<u64, StoreError> {
    if let Some(at) = {
        let st = shared.log.lock().expect("log state");
        st.held.then_some(st.next_at)
    } {
        return Ok(at);
    }
    if !lock_log(&shared.file, &shared.waiting, shared.busy_timeout)? {
        return Err(StoreError::Backend(
            "the database is busy: another process is writing to it".into(),
        ));
    }
    match upload::recover(conn, &shared.file) {
        Ok(end) => {
            let mut st = shared.log.lock().expect("log state");
            st.held = true;
            st.next_at = end;
            Ok(end)
        }
        Err(e) => {
            let _ = shared.file.unlock();
            Err(e)
        }
    }
}

/// Takes the log's file lock, waiting up to `timeout` for another process to free it; `false`
/// if it did not. While it waits it holds a shared lock on the `waiting` file, which tells the
/// holder to give the log up at its next chance (see [`note_waiters`]): without that, a
/// `serve` under an unbroken stream of uploads never lets go of it.
fn lock_log(file: &File, waiting: &File, timeout: Duration) -> Result<bool, StoreError> {
    let deadline = Instant::now() + timeout;
    let mut announced = false;
    let locked = loop {
        match file.try_lock() {
            Ok(()) => break Ok(true),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                // The holder's check takes the lock exclusively for a moment: try again then.
                announced = announced || waiting.try_lock_shared().is_ok();
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(std::fs::TryLockError::WouldBlock) => break Ok(false),
            Err(std::fs::TryLockError::Error(e)) => {
                break Err(StoreError::Backend(
                    format!("cannot lock the version log: {e}").into(),
                ))
            }
        }
    };
    if announced {
        let _ = waiting.unlock();
    }
    locked
}

/// Called by the holder of the log's lock after each commit that leaves groups pending: if
/// another handle waits for the lock, the decider stops taking groups until the lock is free,
/// and lets the other have it.
fn note_waiters(shared: &Shared) {
    match shared.waiting.try_lock() {
        Ok(()) => {
            let _ = shared.waiting.unlock();
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            shared.yield_log.store(true, Ordering::Release);
        }
        Err(std::fs::TryLockError::Error(_)) => {}
    }
}

/// Frees the log's file lock once no group is pending.
fn release_if_idle(shared: &Shared) {
    let mut st = shared.log.lock().expect("log state");
    if st.held && st.pending == 0 {
        let _ = shared.file.unlock();
        st.held = false;
    }
}

fn run_import(
    conn: &mut Connection,
    log: &mut LogWriter,
    shared: &Shared,
    import: ImportId,
    owner: &str,
    rx: Receiver<ImportMsg>,
    reply: Reply<()>,
) {
    // Mark it running in its own transaction, so that others see it while it runs.
    let started = (|| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(i64, String, String)> = tx
            .query_row(
                "SELECT ws, source, status FROM imports WHERE id = ?1",
                [import.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((ws, source, status)) = row else {
            return Err(StoreError::NotFound(format!("import {import}")));
        };
        if status != ImportStatus::Queued.as_str() {
            return Err(StoreError::State(format!(
                "import {import} is {status}, not queued"
            )));
        }
        tx.execute(
            "UPDATE imports SET status = 'running', started = ?2, owner = ?3 WHERE id = ?1",
            params![import.to_string(), ts(&Timestamp::now()), owner],
        )?;
        tx.commit()?;
        Ok((ws, source))
    })();
    let (ws, source) = match started {
        Ok(v) => {
            let _ = reply.send(Ok(()));
            v
        }
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    let provenance = Provenance {
        source,
        origin: Origin::Import(import),
    };

    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Answer every message with the error until the caller gives up.
        let msg = e.to_string();
        fail_messages(&rx, &msg);
        let _ = mark_failed(conn, import, &format!("the import could not start: {msg}"));
        return;
    }
    // From here until COMMIT or ROLLBACK, `conn` is inside the import's transaction.
    let mut summary = WriteSummary::default();
    let mut fault: Option<String> = None;
    let mut origin = 0;
    let end = {
        let mut w = match log.begin(conn).and_then(|()| {
            origin = origin_id(conn, &provenance.origin)?;
            let mut w = ObjectWriter::new(conn, &mut *log, shared)?;
            w.check_fresh(conn, ws)?;
            w.begin_bulk();
            Ok(w)
        }) {
            Ok(w) => Some(w),
            Err(e) => {
                fault = Some(e.to_string());
                None
            }
        };
        loop {
            match rx.recv() {
                Ok(ImportMsg::Push(objects)) => {
                    let (Some(w), None) = (w.as_mut(), &fault) else {
                        continue;
                    };
                    for o in objects {
                        let record = o.record;
                        match w.apply(ws, &provenance, origin, o) {
                            Ok(outcome) => summary.add(record, &outcome),
                            Err(e) => {
                                fault = Some(e.to_string());
                                break;
                            }
                        }
                    }
                }
                Ok(ImportMsg::Flush(reply)) => {
                    let _ = reply.send(match &fault {
                        None => Ok(summary.clone()),
                        Some(m) => Err(StoreError::Backend(m.clone().into())),
                    });
                }
                Ok(ImportMsg::Commit(finish, reply)) => {
                    if let (Some(w), None) = (w.as_mut(), &fault) {
                        if let Err(e) = w.finish_bulk() {
                            fault = Some(e.to_string());
                        }
                    }
                    break Some((true, finish, reply));
                }
                Ok(ImportMsg::Abort(finish, reply)) => break Some((false, finish, reply)),
                Err(_) => break None,
            }
        }
    };
    // A store that stopped taking writes (the log could not be written) commits no import
    // either: what the log holds is uncertain until it is opened again.
    if let (Some(e), None) = (shared.broken(), &fault) {
        fault = Some(e.to_string());
    }
    match end {
        Some((true, finish, reply)) if fault.is_none() => {
            let result = (|| {
                log.commit(shared, conn)?;
                write_finish(conn, import, &finish)?;
                conn.execute_batch("COMMIT")?;
                Ok(())
            })();
            if let Err(e) = &result {
                log.discard(shared);
                let _ = conn.execute_batch("ROLLBACK");
                let _ = mark_failed(conn, import, &format!("the import could not commit: {e}"));
            }
            let _ = reply.send(result);
        }
        Some((commit, mut finish, reply)) => {
            log.discard(shared);
            let _ = conn.execute_batch("ROLLBACK");
            if commit {
                // A fault while writing: nothing of the file stays, and the record says why.
                finish.status = ImportStatus::Failed;
                finish.imported = 0;
                finish.message = fault.clone().map(|m| format!("database error: {m}"));
            }
            let result = write_finish_tx(conn, import, &finish);
            let _ = reply.send(match (&fault, result) {
                (Some(m), _) if commit => Err(StoreError::Backend(m.clone().into())),
                (_, r) => r,
            });
        }
        None => {
            log.discard(shared);
            let _ = conn.execute_batch("ROLLBACK");
            let _ = mark_failed(
                conn,
                import,
                "the import stopped before it finished; nothing of the file was stored",
            );
        }
    }
}

fn fail_messages(rx: &Receiver<ImportMsg>, msg: &str) {
    while let Ok(m) = rx.recv() {
        let err = || StoreError::Backend(msg.to_owned().into());
        match m {
            ImportMsg::Push(_) => {}
            ImportMsg::Flush(r) => {
                let _ = r.send(Err(err()));
            }
            ImportMsg::Commit(_, r) | ImportMsg::Abort(_, r) => {
                let _ = r.send(Err(err()));
                return;
            }
        }
    }
}

fn mark_failed(conn: &mut Connection, import: ImportId, message: &str) -> Result<(), StoreError> {
    write_finish_tx(
        conn,
        import,
        &ImportFinish::failed(message, Timestamp::now()),
    )
}

fn write_finish_tx(
    conn: &mut Connection,
    import: ImportId,
    finish: &ImportFinish,
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    write_finish(&tx, import, finish)?;
    tx.commit()?;
    Ok(())
}

fn write_finish(conn: &Connection, import: ImportId, f: &ImportFinish) -> Result<(), StoreError> {
    let n = conn.execute(
        "UPDATE imports SET status = ?2, total = ?3, imported = ?4, invalid = ?5, unchanged = ?6,
           upgraded = ?7, message = ?8, error_path = ?9, finished = ?10, owner = NULL
         WHERE id = ?1 AND status IN ('queued', 'running')",
        params![
            import.to_string(),
            f.status.as_str(),
            f.total,
            f.imported,
            f.invalid,
            f.unchanged,
            f.upgraded,
            f.message,
            f.error_path.as_deref().map(path_text),
            ts(&f.finished),
        ],
    )?;
    if n == 0 {
        // An import that has ended keeps how it ended: a late "failed" (from a fault after
        // the end) must not overwrite a success.
        let exists: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM imports WHERE id = ?1)",
            [import.to_string()],
            |r| r.get(0),
        )?;
        return Err(if exists {
            StoreError::Conflict(format!("import {import} has already ended"))
        } else {
            StoreError::NotFound(format!("import {import}"))
        });
    }
    Ok(())
}

fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The import side of [`SqliteStore::begin_import`].
struct SqliteImport {
    tx: SyncSender<ImportMsg>,
}

impl SqliteImport {
    fn ask<T>(&self, msg: impl FnOnce(Reply<T>) -> ImportMsg) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.tx.send(msg(reply)).map_err(|_| StoreError::Closed)?;
        answer.recv().map_err(|_| StoreError::Closed)?
    }
}

impl ImportWriter for SqliteImport {
    fn push(&mut self, objects: Vec<NewObject>) -> Result<(), StoreError> {
        self.tx
            .send(ImportMsg::Push(objects))
            .map_err(|_| StoreError::Closed)
    }

    fn flush(&mut self) -> Result<WriteSummary, StoreError> {
        self.ask(ImportMsg::Flush)
    }

    fn commit(self: Box<Self>, finish: &ImportFinish) -> Result<(), StoreError> {
        let finish = finish.clone();
        self.ask(|r| ImportMsg::Commit(finish, r))
    }

    fn abort(self: Box<Self>, finish: &ImportFinish) -> Result<(), StoreError> {
        let finish = finish.clone();
        self.ask(|r| ImportMsg::Abort(finish, r))
    }
}

const IMPORT_COLUMNS: &str = "i.id, w.id, i.source, i.file_name, i.format, i.mode, i.status,
    i.total, i.imported, i.invalid, i.unchanged, i.upgraded, i.message, i.created, i.started,
    i.finished, i.file_path, i.error_path, i.owner";

fn read_import(r: &rusqlite::Row<'_>) -> Result<ImportRecord, StoreError> {
    let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("import {what} {v:?}"));
    let text = |i: usize| r.get::<_, String>(i);
    let id = text(0)?;
    let ws = text(1)?;
    let format = text(4)?;
    let mode = text(5)?;
    let status = text(6)?;
    Ok(ImportRecord {
        id: ImportId::parse(&id).map_err(|_| corrupt("id", &id))?,
        workspace: WorkspaceId::parse(&ws).map_err(|_| corrupt("workspace", &ws))?,
        source: text(2)?,
        file_name: text(3)?,
        format: ImportFormat::parse(&format).ok_or_else(|| corrupt("format", &format))?,
        mode: ImportMode::parse(&mode).ok_or_else(|| corrupt("mode", &mode))?,
        status: ImportStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        total: r.get(7)?,
        imported: r.get(8)?,
        invalid: r.get(9)?,
        unchanged: r.get(10)?,
        upgraded: r.get(11)?,
        message: r.get(12)?,
        created: parse_ts(&text(13)?)?,
        started: r
            .get::<_, Option<String>>(14)?
            .as_deref()
            .map(parse_ts)
            .transpose()?,
        finished: r
            .get::<_, Option<String>>(15)?
            .as_deref()
            .map(parse_ts)
            .transpose()?,
        file_path: r.get::<_, Option<String>>(16)?.map(PathBuf::from),
        error_path: r.get::<_, Option<String>>(17)?.map(PathBuf::from),
        owner: r.get(18)?,
    })
}

fn read_principal(r: &rusqlite::Row<'_>) -> Result<Principal, StoreError> {
    let kind: String = r.get(1)?;
    Ok(Principal {
        id: r.get(0)?,
        kind: PrincipalKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("principal kind {kind:?}")))?,
        name: r.get(2)?,
        secret_hash: r.get(3)?,
        created: parse_ts(&r.get::<_, String>(4)?)?,
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

impl Store for SqliteStore {
    fn create_workspace(&self, id: WorkspaceId, name: &str) -> Result<Workspace, StoreError> {
        let ws = Workspace {
            id,
            name: name.to_owned(),
            created: Timestamp::now(),
        };
        let row = ws.clone();
        self.write_tx(move |tx| {
            match tx.execute(
                "INSERT INTO workspaces (id, name, created) VALUES (?1, ?2, ?3)",
                params![row.id.to_string(), row.name, ts(&row.created)],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => {
                    Err(StoreError::Conflict(format!("workspace {}", row.id)))
                }
                Err(e) => Err(e.into()),
            }
        })?;
        Ok(ws)
    }

    fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        self.read(|c| {
            let row = c
                .query_row(
                    "SELECT name, created FROM workspaces WHERE id = ?1",
                    [id.to_string()],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()?;
            row.map(|(name, created)| {
                Ok(Workspace {
                    id,
                    name,
                    created: parse_ts(&created)?,
                })
            })
            .transpose()
        })
    }

    fn workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare("SELECT id, name, created FROM workspaces ORDER BY ws")?;
            let mut rows = st.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                out.push(Workspace {
                    id: WorkspaceId::parse(&id)
                        .map_err(|_| StoreError::Corrupt(format!("workspace id {id:?}")))?,
                    name: r.get(1)?,
                    created: parse_ts(&r.get::<_, String>(2)?)?,
                });
            }
            Ok(out)
        })
    }

    fn write(
        &self,
        workspace: WorkspaceId,
        provenance: &Provenance,
        objects: Vec<NewObject>,
    ) -> Result<Vec<Outcome>, StoreError> {
        let ws = self.ws_key(workspace)?;
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Job::Write {
            ws,
            provenance: provenance.clone(),
            objects,
            reply,
        })?;
        answer.recv().map_err(|_| StoreError::Closed)?
    }

    fn begin_import(
        &self,
        import: ImportId,
        owner: &str,
    ) -> Result<Box<dyn ImportWriter>, StoreError> {
        // The workspace, read here: the decider holds that workspace's uploads back while the
        // import runs, so it must know it for certain.
        let ws: i64 = self
            .read(|c| {
                Ok(c.query_row(
                    "SELECT ws FROM imports WHERE id = ?1",
                    [import.to_string()],
                    |r| r.get(0),
                )
                .optional()?)
            })?
            .ok_or_else(|| StoreError::NotFound(format!("import {import}")))?;
        // Eight batches in flight: enough to keep the writer busy, bounded memory.
        let (tx, rx) = mpsc::sync_channel(8);
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Job::Import {
            import,
            ws,
            owner: owner.to_owned(),
            rx,
            reply,
        })?;
        answer.recv().map_err(|_| StoreError::Closed)??;
        Ok(Box::new(SqliteImport { tx }))
    }

    fn current(
        &self,
        workspace: WorkspaceId,
        id: &StixId,
    ) -> Result<Option<StoredObject>, StoreError> {
        let ws = self.ws_key(workspace)?;
        self.read_objects(ws, |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM {FROM} WHERE o.ws = ?1 AND o.stix_id = ?2
                 ORDER BY o.modified DESC, o.modified_ns DESC LIMIT 1"
            ))?;
            let mut rows = st.query(params![ws, id.as_str()])?;
            rows.next()?.map(|r| read_object(r, &self.log)).transpose()
        })
    }

    fn scan_versions(
        &self,
        workspace: WorkspaceId,
        id: &StixId,
        after: Option<&Timestamp>,
        each: &mut dyn FnMut(StoredObject) -> bool,
    ) -> Result<(), StoreError> {
        let ws = self.ws_key(workspace)?;
        self.read_objects(ws, |c| {
            // Two statements rather than `?3 IS NULL OR …`, which would keep SQLite from
            // starting the index range at `after`.
            let mut drain = |mut rows: rusqlite::Rows<'_>| -> Result<(), StoreError> {
                while let Some(r) = rows.next()? {
                    if !each(read_object(r, &self.log)?) {
                        break;
                    }
                }
                Ok(())
            };
            match after {
                None => {
                    let mut st = c.prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM {FROM} WHERE o.ws = ?1 AND o.stix_id = ?2
                         ORDER BY o.modified, o.modified_ns"
                    ))?;
                    let done = drain(st.query(params![ws, id.as_str()])?);
                    done
                }
                Some(t) => {
                    let mut st = c.prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM {FROM} WHERE o.ws = ?1 AND o.stix_id = ?2
                         AND (o.modified, o.modified_ns) > (?3, ?4)
                         ORDER BY o.modified, o.modified_ns"
                    ))?;
                    let done = drain(st.query(params![
                        ws,
                        id.as_str(),
                        micros(t),
                        objects::sub_micro(t)
                    ])?);
                    done
                }
            }
        })
    }

    fn scan_current(
        &self,
        workspace: WorkspaceId,
        filter: &ObjectFilter,
        each: &mut dyn FnMut(StoredObject) -> bool,
    ) -> Result<(), StoreError> {
        let ws = self.ws_key(workspace)?;
        self.read_objects(ws, |c| {
            let mut st = c.prepare(&format!(
                "SELECT {COLUMNS} FROM {FROM} WHERE o.ws = ?1 AND o.is_current = 1
                 AND (?2 IS NULL OR o.type = ?2) AND (?3 IS NULL OR o.source = ?3)
                 AND (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(o.labels) l
                                            WHERE l.value = ?4))
                 AND (?5 IS NULL OR o.revoked = ?5)
                 AND (?6 IS NULL OR (o.valid_from <= ?6
                                     AND (o.valid_until IS NULL OR o.valid_until > ?6)))
                 AND (?7 IS NULL OR o.stix_id > ?7)
                 ORDER BY o.stix_id"
            ))?;
            let mut rows = st.query(params![
                ws,
                filter.object_type,
                filter.source,
                filter.label,
                filter.revoked,
                filter.valid_at.as_ref().map(objects::micros),
                filter.after.as_ref().map(StixId::as_str),
            ])?;
            while let Some(r) = rows.next()? {
                if !each(read_object(r, &self.log)?) {
                    break;
                }
            }
            Ok(())
        })
    }

    fn count(&self, workspace: WorkspaceId) -> Result<Counts, StoreError> {
        let ws = self.ws_key(workspace)?;
        self.read_objects(ws, |c| {
            Ok(c.query_row(
                "SELECT count(*), coalesce(sum(is_current), 0) FROM objects WHERE ws = ?1",
                [ws],
                |r| {
                    Ok(Counts {
                        versions: r.get(0)?,
                        objects: r.get(1)?,
                    })
                },
            )?)
        })
    }

    fn find_observable(
        &self,
        workspace: WorkspaceId,
        key: &ObservableKey,
        limit: usize,
    ) -> Result<Vec<StixId>, StoreError> {
        let ws = self.ws_key(workspace)?;
        // An address is found by every block that contains it: one exact lookup per prefix
        // length, each an index probe.
        let keys: Vec<Vec<u8>> = match key {
            ObservableKey::Ip { network, prefix } => (0..=*prefix)
                .rev()
                .filter_map(|p| ObservableKey::ip(*network, p))
                .map(|k| k.to_bytes())
                .collect(),
            ObservableKey::Text(_) => vec![key.to_bytes()],
        };
        self.read_objects(ws, |c| {
            let mut st = c.prepare_cached(
                "SELECT o.stix_id FROM observables k JOIN objects o ON o.vid = k.vid
                 WHERE k.ws = ?1 AND k.key = ?2",
            )?;
            let mut ids = Vec::new();
            for k in &keys {
                let mut rows = st.query(params![ws, k])?;
                while let Some(r) = rows.next()? {
                    let id: String = r.get(0)?;
                    ids.push(
                        StixId::parse(&id)
                            .map_err(|e| StoreError::Corrupt(format!("id {id:?}: {e}")))?,
                    );
                }
            }
            ids.sort();
            ids.dedup();
            ids.truncate(limit);
            Ok(ids)
        })
    }

    fn create_import(&self, new: &NewImport) -> Result<ImportRecord, StoreError> {
        let ws = self.ws_key(new.workspace)?;
        let n = new.clone();
        self.write_tx(move |tx| {
            let r = tx.execute(
                "INSERT INTO imports (id, ws, source, file_name, format, mode, status, created,
                   file_path, owner)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8, ?9)",
                params![
                    n.id.to_string(),
                    ws,
                    n.source,
                    n.file_name,
                    n.format.as_str(),
                    n.mode.as_str(),
                    ts(&n.created),
                    n.file_path.as_deref().map(path_text),
                    n.owner,
                ],
            );
            match r {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => {
                    Err(StoreError::Conflict(format!("import {}", n.id)))
                }
                Err(e) => Err(e.into()),
            }
        })?;
        self.import(new.workspace, new.id)?
            .ok_or_else(|| StoreError::NotFound(format!("import {}", new.id)))
    }

    fn import(
        &self,
        workspace: WorkspaceId,
        id: ImportId,
    ) -> Result<Option<ImportRecord>, StoreError> {
        let ws = self.ws_key(workspace)?;
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {IMPORT_COLUMNS} FROM imports i JOIN workspaces w ON w.ws = i.ws
                 WHERE i.id = ?1 AND i.ws = ?2"
            ))?;
            let mut rows = st.query(params![id.to_string(), ws])?;
            rows.next()?.map(read_import).transpose()
        })
    }

    fn imports(
        &self,
        workspace: WorkspaceId,
        sort: ImportSort,
        order: Order,
        page: &ImportPage,
    ) -> Result<Vec<ImportRecord>, StoreError> {
        let ws = self.ws_key(workspace)?;
        let column = match sort {
            ImportSort::Source => "i.source",
            ImportSort::Name => "i.file_name",
            ImportSort::Imported => "i.imported",
            ImportSort::Total => "i.total",
            ImportSort::Created => "i.created",
        };
        let (dir, cmp) = match order {
            Order::Asc => ("ASC", ">"),
            Order::Desc => ("DESC", "<"),
        };
        let after = page.after.as_ref().map(|k| {
            let value: rusqlite::types::Value = match &k.value {
                SortValue::Text(t) => t.clone().into(),
                SortValue::Count(n) => (*n as i64).into(),
                SortValue::Time(t) => ts(t).into(),
            };
            (value, ts(&k.created), k.id.to_string())
        });
        let limit = page.limit.min(i64::MAX as usize) as i64;
        self.read(|c| {
            // Keyset paging: the rows after the last one shown, in a total order.
            let mut st = c.prepare_cached(&format!(
                "SELECT {IMPORT_COLUMNS} FROM imports i JOIN workspaces w ON w.ws = i.ws
                 WHERE i.ws = ?1
                   AND (?2 IS NULL OR ({column}, i.created, i.id) {cmp} (?3, ?4, ?5))
                 ORDER BY {column} {dir}, i.created {dir}, i.id {dir} LIMIT ?6"
            ))?;
            let (has, value, created, id) = match &after {
                Some((v, c, i)) => (Some(1), Some(v.clone()), Some(c.as_str()), Some(i.as_str())),
                None => (None, None, None, None),
            };
            let mut rows = st.query(params![ws, has, value, created, id, limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(read_import(r)?);
            }
            Ok(out)
        })
    }

    fn finish_import(&self, id: ImportId, finish: &ImportFinish) -> Result<(), StoreError> {
        let f = finish.clone();
        self.write_tx(move |tx| write_finish(tx, id, &f))
    }

    fn fail_abandoned_imports(
        &self,
        is_gone: &dyn Fn(&str) -> bool,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let open: Vec<(String, Option<String>)> = self.read(|c| {
            let mut st =
                c.prepare("SELECT id, owner FROM imports WHERE status IN ('queued', 'running')")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        let gone: Vec<String> = open
            .into_iter()
            .filter(|(_, owner)| owner.as_deref().is_none_or(is_gone))
            .map(|(id, _)| id)
            .collect();
        if gone.is_empty() {
            return Ok(0);
        }
        self.write_tx(move |tx| {
            let mut n = 0;
            for id in &gone {
                // Only if still open: the owner may have finished it meanwhile.
                n += tx.execute(
                    "UPDATE imports SET status = 'failed', finished = ?2, imported = 0,
                       owner = NULL,
                       message = 'the import was interrupted (the process running it stopped); \
                                  nothing of the file was stored'
                     WHERE id = ?1 AND status IN ('queued', 'running')",
                    params![id, ts(&now)],
                )? as u64;
            }
            Ok(n)
        })
    }

    fn sweep(&self, now: Timestamp, retention: &Retention) -> Result<Swept, StoreError> {
        let before = |d: Duration| {
            let secs = now
                .unix_seconds()
                .saturating_sub(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            ts(&Timestamp::from_unix(secs, now.subsec_nanos()))
        };
        let files_cutoff = before(retention.files);
        let records_cutoff = before(retention.records);
        // Look before writing: most sweeps find nothing, and a write would wait for any long
        // transaction (an import) in another process.
        let due: bool = self.read(|c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM imports
                   WHERE status IN ('succeeded', 'partially-succeeded', 'failed')
                     AND (((file_path IS NOT NULL OR error_path IS NOT NULL)
                           AND coalesce(finished, created) < ?1)
                          OR created < ?2))",
                params![files_cutoff, records_cutoff],
                |r| r.get(0),
            )?)
        })?;
        if !due {
            return Ok(Swept::default());
        }
        self.write_tx(move |tx| {
            let mut swept = Swept::default();
            {
                // Files of finished imports older than the file retention (and of every
                // record about to be deleted, which is older still).
                let mut st = tx.prepare(
                    "SELECT id, file_path, error_path FROM imports
                     WHERE status IN ('succeeded', 'partially-succeeded', 'failed')
                       AND (file_path IS NOT NULL OR error_path IS NOT NULL)
                       AND coalesce(finished, created) < ?1",
                )?;
                let rows = st.query_map([&files_cutoff], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })?;
                let mut clear = tx.prepare(
                    "UPDATE imports SET file_path = NULL, error_path = NULL WHERE id = ?1",
                )?;
                for row in rows {
                    let (id, file, errors) = row?;
                    swept
                        .files_expired
                        .extend(file.into_iter().chain(errors).map(PathBuf::from));
                    clear.execute([id])?;
                }
            }
            swept.records_deleted = tx.execute(
                "DELETE FROM imports
                 WHERE status IN ('succeeded', 'partially-succeeded', 'failed')
                   AND created < ?1",
                [&records_cutoff],
            )? as u64;
            Ok(swept)
        })
    }

    fn create_principal(&self, p: &Principal) -> Result<(), StoreError> {
        let p = p.clone();
        self.write_tx(move |tx| {
            match tx.execute(
                "INSERT INTO principals (id, kind, name, secret_hash, created)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![p.id, p.kind.as_str(), p.name, p.secret_hash, ts(&p.created)],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => {
                    Err(StoreError::Conflict(format!("principal {}", p.id)))
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn principal(&self, id: &str) -> Result<Option<Principal>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, kind, name, secret_hash, created FROM principals WHERE id = ?1",
            )?;
            let mut rows = st.query([id])?;
            rows.next()?.map(read_principal).transpose()
        })
    }

    fn assign_role(
        &self,
        workspace: WorkspaceId,
        principal: &str,
        role: Role,
    ) -> Result<(), StoreError> {
        let ws = self.ws_key(workspace)?;
        let principal = principal.to_owned();
        self.write_tx(move |tx| {
            let known: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM principals WHERE id = ?1",
                    [&principal],
                    |r| r.get(0),
                )
                .optional()?;
            if known.is_none() {
                return Err(StoreError::NotFound(format!("principal {principal}")));
            }
            tx.execute(
                "INSERT INTO roles (ws, principal, role) VALUES (?1, ?2, ?3)
                 ON CONFLICT (ws, principal) DO UPDATE SET role = excluded.role",
                params![ws, principal, role.as_str()],
            )?;
            Ok(())
        })
    }

    fn role(&self, workspace: WorkspaceId, principal: &str) -> Result<Option<Role>, StoreError> {
        let ws = match self.ws_key(workspace) {
            Ok(ws) => ws,
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        self.read(|c| {
            let role: Option<String> = c
                .query_row(
                    "SELECT role FROM roles WHERE ws = ?1 AND principal = ?2",
                    params![ws, principal],
                    |r| r.get(0),
                )
                .optional()?;
            role.map(|r| Role::parse(&r).ok_or_else(|| StoreError::Corrupt(format!("role {r:?}"))))
                .transpose()
        })
    }

    fn roles_of(&self, principal: &str) -> Result<Vec<(WorkspaceId, Role)>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT w.id, r.role FROM roles r JOIN workspaces w ON w.ws = r.ws
                 WHERE r.principal = ?1 ORDER BY w.ws",
            )?;
            let mut rows = st.query([principal])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let (id, role): (String, String) = (r.get(0)?, r.get(1)?);
                out.push((
                    WorkspaceId::parse(&id)
                        .map_err(|_| StoreError::Corrupt(format!("workspace id {id:?}")))?,
                    Role::parse(&role)
                        .ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
                ));
            }
            Ok(out)
        })
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
    }

    fn init_setting(&self, name: &str, value: &str) -> Result<String, StoreError> {
        if let Some(v) = self.setting(name)? {
            return Ok(v);
        }
        let (name, value) = (name.to_owned(), value.to_owned());
        self.write_tx(move |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO settings (name, value) VALUES (?1, ?2)",
                params![name, value],
            )?;
            Ok(
                tx.query_row("SELECT value FROM settings WHERE name = ?1", [&name], |r| {
                    r.get(0)
                })?,
            )
        })
    }
}
