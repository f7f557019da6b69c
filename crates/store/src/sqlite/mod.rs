//! The embedded engine: SQLite in WAL mode, one writer thread, a pool of readers.
//!
//! # Key decision: one writer thread, fed by a bounded channel
//!
//! SQLite allows one writer at a time, so tiport has exactly one: a thread that owns the write
//! connection and takes jobs from a bounded channel. Writes that are waiting when it becomes
//! free run together in one transaction (group commit), so concurrent uploads share an fsync. A
//! file import takes the writer for its whole transaction, fed batch by batch from the
//! importing thread, which keeps parsing while the writer writes. Readers use their own
//! connections (WAL lets them read while the writer writes) and never wait for it.
//!
//! Every commit is durable when the call returns (`synchronous = FULL`).

mod log;
mod objects;
mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::{Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use stix::{StixId, Timestamp};

use crate::model::*;
use crate::{Counts, ImportWriter, Store, StoreError};
use log::{LogReader, LogWriter};
use objects::{origin_id, parse_ts, read_object, ts, ObjectWriter, COLUMNS, FROM};

pub use schema::VERSION as SCHEMA_VERSION;

/// Tuning of the embedded engine.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Page cache of the writer, in KiB.
    pub writer_cache_kib: u32,
    /// The page size of a new database. 32 KiB rather than SQLite's 4 KiB: a version row is
    /// about a kilobyte, and bigger pages mean fewer page writes, splits and WAL frames per
    /// object. Measured on a 250 MB import (BENCHMARKS.md): less than half the system time.
    pub page_size: u32,
    /// How long a write waits for another process holding the database lock.
    pub busy_timeout: Duration,
    /// The most writes that share one group commit.
    pub max_group: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            writer_cache_kib: 64 * 1024,
            page_size: 32 * 1024,
            busy_timeout: Duration::from_secs(60),
            max_group: 256,
        }
    }
}

/// How much of the database a reader maps: SQLite's default ceiling (`SQLITE_MAX_MMAP_SIZE`, just
/// under 2 GiB); pages past it are read by copying, as without a map.
const READER_MMAP_BYTES: i64 = 0x7fff_0000;

/// WAL pages after which the writer checkpoints (see `open`).
const WAL_CHECKPOINT_PAGES: i64 = 256;

type Reply<T> = SyncSender<Result<T, StoreError>>;

enum Job {
    /// Any other write: runs in its own transaction.
    Tx(Box<dyn FnOnce(&mut Connection) + Send>),
    Write {
        ws: i64,
        provenance: Provenance,
        objects: Vec<NewObject>,
        reply: Reply<Vec<Outcome>>,
    },
    Import {
        import: ImportId,
        owner: String,
        rx: Receiver<ImportMsg>,
        reply: Reply<()>,
    },
}

enum ImportMsg {
    Push(Vec<NewObject>),
    Flush(Reply<WriteSummary>),
    Commit(ImportFinish, Reply<()>),
    Abort(ImportFinish, Reply<()>),
}

/// The embedded store. Dropping it stops the writer after the jobs already queued.
pub struct SqliteStore {
    path: PathBuf,
    jobs: Option<SyncSender<Job>>,
    writer: Option<JoinHandle<()>>,
    readers: Mutex<Vec<Connection>>,
    log: LogReader,
    /// Workspace ids to their row numbers; workspaces are never deleted, so entries never go
    /// stale.
    ws_keys: RwLock<HashMap<WorkspaceId, i64>>,
}

impl SqliteStore {
    /// Opens (creating if need be) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path, opts: SqliteOptions) -> Result<SqliteStore, StoreError> {
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
        let mut log_writer = LogWriter::open(path)?;
        let log = LogReader::open(path)?;
        let (tx, rx) = mpsc::sync_channel(64);
        let max_group = opts.max_group;
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(conn, &mut log_writer, rx, max_group))
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(SqliteStore {
            path: path.to_owned(),
            jobs: Some(tx),
            writer: Some(writer),
            readers: Mutex::new(Vec::new()),
            log,
            ws_keys: RwLock::new(HashMap::new()),
        })
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs
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
        self.send(Job::Tx(Box::new(move |conn: &mut Connection| {
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
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(Duration::from_secs(10))?;
                c.pragma_update(None, "query_only", true)?;
                // Readers map the database instead of copying each page they touch into a
                // cache of their own: a scan in id order visits table pages at random, and with
                // 32 KiB pages the copying was most of an export's time.
                c.pragma_update(None, "mmap_size", READER_MMAP_BYTES)?;
                c
            }
        };
        let result = f(&conn);
        let mut pool = self.readers.lock().expect("reader pool");
        if pool.len() < 16 {
            pool.push(conn);
        }
        result
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

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

fn writer_loop(mut conn: Connection, log: &mut LogWriter, rx: Receiver<Job>, max_group: usize) {
    let mut next: Option<Job> = None;
    loop {
        let job = match next.take() {
            Some(j) => j,
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => break,
            },
        };
        // A panic in one job (a bug) must not take the writer down with it, or every later
        // write of the process would fail: the job's callers see their reply channel closed,
        // its transaction is rolled back, and the writer goes on.
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_job(&mut conn, log, &rx, job, &mut next, max_group)
        }));
        if done.is_err() && !conn.is_autocommit() {
            // Before the lock goes: no write of the version log may still be queued.
            log.discard();
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    // Closing the last connection folds the WAL into the database; an explicit checkpoint
    // here could wait for another process's transaction.
}

fn run_job(
    conn: &mut Connection,
    log: &mut LogWriter,
    rx: &Receiver<Job>,
    job: Job,
    next: &mut Option<Job>,
    max_group: usize,
) {
    match job {
        Job::Tx(f) => f(conn),
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
                        *next = Some(other);
                        break;
                    }
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            run_group(conn, log, group);
        }
        Job::Import {
            import,
            owner,
            rx,
            reply,
        } => run_import(conn, log, import, &owner, rx, reply),
    }
}

type GroupEntry = (i64, Provenance, Vec<NewObject>, Reply<Vec<Outcome>>);

fn run_group(conn: &mut Connection, log: &mut LogWriter, mut group: Vec<GroupEntry>) {
    let fail_all = |group: Vec<GroupEntry>, e: StoreError| {
        let msg = e.to_string();
        for (_, _, _, reply) in group {
            let _ = reply.send(Err(StoreError::Backend(msg.clone().into())));
        }
    };
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return fail_all(group, e.into()),
    };
    // Each write of the group runs under its own savepoint, so that one that fails (a fault
    // while writing its objects) is undone alone and reported to its caller alone; the others
    // still commit together.
    let written = (|| {
        log.begin(&tx)?;
        let mut answers: Vec<Result<Vec<Outcome>, StoreError>> = Vec::with_capacity(group.len());
        {
            let mut w = ObjectWriter::new(&tx, log)?;
            for (ws, provenance, objects, _) in &mut group {
                tx.execute_batch("SAVEPOINT entry")?;
                let mark = w.log_mark();
                // Moved out, not cloned: nothing reads a write's objects after it is applied
                // (a clone of every object's JSON was a tenth of the writer's time under
                // load).
                let objects = std::mem::take(objects);
                let entry = (|| {
                    let origin = origin_id(&tx, &provenance.origin)?;
                    let mut outcomes = Vec::with_capacity(objects.len());
                    for o in objects {
                        outcomes.push(w.apply(*ws, provenance, origin, o)?);
                    }
                    Ok(outcomes)
                })();
                if entry.is_err() {
                    tx.execute_batch("ROLLBACK TO entry")?;
                    w.log_rewind(mark);
                }
                tx.execute_batch("RELEASE entry")?;
                answers.push(entry);
            }
        }
        log.commit(&tx)?;
        Ok::<_, StoreError>(answers)
    })();
    let answers = match written {
        Ok(answers) => answers,
        Err(e) => {
            // While the transaction, and so the write lock, is still held.
            log.discard();
            drop(tx);
            return fail_all(group, e);
        }
    };
    match tx.commit() {
        Ok(()) => {
            for ((_, _, _, reply), a) in group.into_iter().zip(answers) {
                let _ = reply.send(a);
            }
        }
        Err(e) => fail_all(group, e.into()),
    }
}

fn run_import(
    conn: &mut Connection,
    log: &mut LogWriter,
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
            let mut w = ObjectWriter::new(conn, &mut *log)?;
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
    match end {
        Some((true, finish, reply)) if fault.is_none() => {
            let result = (|| {
                log.commit(conn)?;
                write_finish(conn, import, &finish)?;
                conn.execute_batch("COMMIT")?;
                Ok(())
            })();
            if let Err(e) = &result {
                log.discard();
                let _ = conn.execute_batch("ROLLBACK");
                let _ = mark_failed(conn, import, &format!("the import could not commit: {e}"));
            }
            let _ = reply.send(result);
        }
        Some((commit, mut finish, reply)) => {
            log.discard();
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
            log.discard();
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
        &ImportFinish {
            status: ImportStatus::Failed,
            total: 0,
            imported: 0,
            invalid: 0,
            unchanged: 0,
            upgraded: 0,
            message: Some(message.to_owned()),
            error_path: None,
            finished: Timestamp::now(),
        },
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
         WHERE id = ?1",
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
        return Err(StoreError::NotFound(format!("import {import}")));
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
        // Eight batches in flight: enough to keep the writer busy, bounded memory.
        let (tx, rx) = mpsc::sync_channel(8);
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Job::Import {
            import,
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
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM {FROM} WHERE o.ws = ?1 AND o.stix_id = ?2
                 ORDER BY o.modified DESC, o.modified_ns DESC LIMIT 1"
            ))?;
            let mut rows = st.query(params![ws, id.as_str()])?;
            rows.next()?.map(|r| read_object(r, &self.log)).transpose()
        })
    }

    fn versions(
        &self,
        workspace: WorkspaceId,
        id: &StixId,
    ) -> Result<Vec<StoredObject>, StoreError> {
        let ws = self.ws_key(workspace)?;
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM {FROM} WHERE o.ws = ?1 AND o.stix_id = ?2
                 ORDER BY o.modified, o.modified_ns"
            ))?;
            let mut rows = st.query(params![ws, id.as_str()])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(read_object(r, &self.log)?);
            }
            Ok(out)
        })
    }

    fn scan_current(
        &self,
        workspace: WorkspaceId,
        filter: &ObjectFilter,
        each: &mut dyn FnMut(StoredObject) -> bool,
    ) -> Result<(), StoreError> {
        let ws = self.ws_key(workspace)?;
        self.read(|c| {
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
        self.read(|c| {
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
        self.read(|c| {
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
    ) -> Result<Vec<ImportRecord>, StoreError> {
        let ws = self.ws_key(workspace)?;
        let column = match sort {
            ImportSort::Source => "i.source",
            ImportSort::Name => "i.file_name",
            ImportSort::Imported => "i.imported",
            ImportSort::Total => "i.total",
            ImportSort::Created => "i.created",
        };
        let dir = match order {
            Order::Asc => "ASC",
            Order::Desc => "DESC",
        };
        self.read(|c| {
            // Ties are broken by creation time, newest first, then id, so the order is total.
            let mut st = c.prepare_cached(&format!(
                "SELECT {IMPORT_COLUMNS} FROM imports i JOIN workspaces w ON w.ws = i.ws
                 WHERE i.ws = ?1 ORDER BY {column} {dir}, i.created DESC, i.id"
            ))?;
            let mut rows = st.query([ws])?;
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
