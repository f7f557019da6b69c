//! The version log: the JSON of every stored version, appended to one file beside the database,
//! with each `objects` row pointing at its bytes (`json_at`, `json_len`).
//!
//! # Why outside SQLite
//!
//! A STIX version never changes once stored, and its JSON is most of its bytes. Kept in the
//! `objects` B-tree, every byte of it was written twice (into the WAL, then into the database at
//! the checkpoint) and copied through the page cache several times: a 250 MB import spent more
//! time moving JSON than on everything else the writer does. Appended to a file of its own, it
//! is written once, sequentially, and the B-tree holds only the small row that indexes it.
//!
//! # How it stays consistent with the database
//!
//! The committed length of the log is a row of the database (`json_log.end_at`), updated in the
//! same transaction as the rows that point into the log. Past it there are only two kinds of
//! bytes: redo frames of uploads that were answered but whose rows are not yet committed
//! (`redo.rs`, `upload.rs`), and the bytes of an import that has not committed (or never
//! will). Whoever appends past the committed length holds the log's file lock, taken before
//! SQLite's write lock, so that processes take turns without deadlock; whoever takes the lock
//! first applies the intact frames found there (they are acknowledged writes of a process that
//! crashed) and cuts what follows them. So:
//! - every row a reader can see points below the committed length, at bytes already durable;
//! - an import (this file's [`LogWriter`]) appends only under the lock and SQLite's write
//!   lock, from the committed length, and makes the log durable (`fdatasync`) before the
//!   transaction commits; its bytes past the committed length belong to no committed
//!   transaction until then, and the next writer cuts them;
//! - a transaction's end (commit or discard) waits until none of its writes is still queued,
//!   so none can land after the lock has passed to another process;
//! - a discard after a failed begin, or after the committed length was updated (COMMIT may
//!   still have reported an error while the WAL holds the transaction), cuts nothing.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use rusqlite::Connection;

use crate::StoreError;

/// The log file that belongs to the database at `db`: its name with `-json` appended, beside it,
/// as SQLite names its `-wal` and `-shm` files.
pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push("-json");
    db.with_file_name(name)
}

fn open(path: &Path, write: bool) -> Result<File, StoreError> {
    let created = write && !path.exists();
    let file = OpenOptions::new()
        .read(true)
        .write(write)
        .create(write)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_error(path, "open", e))?;
    if created {
        // The new file's name must be as durable as the rows that will point into it.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_error(path, "record the creation of", e))?;
        }
    }
    Ok(file)
}

/// The log of the database at `db`, opened for reading and writing redo frames (`redo.rs`) and
/// for its file lock.
pub fn open_for_frames(db: &Path) -> Result<File, StoreError> {
    open(&path_for(db), true)
}

/// The file beside the log on which handles waiting for the log's lock take a shared lock
/// (`mod.rs`, `lock_log`); its contents are never used.
pub fn open_waiting(db: &Path) -> Result<File, StoreError> {
    let mut name = path_for(db).into_os_string();
    name.push("-wait");
    open(Path::new(&name), true)
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("cannot {what} the version log {}: {e}", path.display()).into())
}

/// Appends are handed to the log thread in parts of about this size.
const PART: usize = 1 << 20;

/// Writeback to the disk is started after every this many bytes written, so that the
/// `fdatasync` at commit finds little left to write: a 250 MB import otherwise waits for all of
/// it there.
const WRITEBACK_STEP: u64 = 16 << 20;

/// The writer's side, owned by the store's writer thread. The bytes are written by a thread of
/// its own: the store's writer only hands over the strings (no copy), and the copying into the
/// page cache, about a fifth of an import's writing time, happens on the other core.
pub struct LogWriter {
    path: PathBuf,
    /// While a transaction is open (from a successful [`LogWriter::begin`] to its commit or
    /// discard): the committed length read when it began. `None` otherwise, so that a discard
    /// after a failed begin or after a commit never cuts committed bytes.
    open_at: Option<u64>,
    /// Whether this transaction handed bytes to the log thread: then its end must wait for them
    /// (a write still queued when SQLite's lock is released could land on bytes another process
    /// commits next).
    handed: bool,
    /// Where the next append goes.
    pos: u64,
    /// Appends not yet handed to the log thread, which begin at `pending_at`.
    pending: Vec<String>,
    pending_at: u64,
    pending_bytes: usize,
    jobs: Option<SyncSender<LogJob>>,
    thread: Option<JoinHandle<()>>,
}

enum LogJob {
    Write {
        at: u64,
        parts: Vec<String>,
    },
    /// Cuts the file to `len` if longer; answers the length it had.
    Truncate {
        len: u64,
        reply: SyncSender<std::io::Result<u64>>,
    },
    /// Answers once everything written so far is durable, or with the first failure since the
    /// last truncation.
    Sync {
        reply: SyncSender<std::io::Result<()>>,
    },
}

impl LogWriter {
    pub fn open(db: &Path) -> Result<LogWriter, StoreError> {
        let path = path_for(db);
        let file = open(&path, true)?;
        let (jobs, rx) = mpsc::sync_channel(4);
        let wal = {
            let mut name = db.as_os_str().to_owned();
            name.push("-wal");
            PathBuf::from(name)
        };
        let thread = std::thread::Builder::new()
            .name("store-log".into())
            .spawn(move || log_thread(file, wal, rx))
            .map_err(|e| io_error(&path, "start the writer of", e))?;
        Ok(LogWriter {
            path,
            open_at: None,
            handed: false,
            pos: 0,
            pending: Vec::new(),
            pending_at: 0,
            pending_bytes: 0,
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    fn send(&self, job: LogJob) -> Result<(), StoreError> {
        self.jobs
            .as_ref()
            .expect("open until dropped")
            .send(job)
            .map_err(|_| self.thread_gone())
    }

    fn thread_gone(&self) -> StoreError {
        StoreError::Backend(
            format!(
                "the writer of the version log {} stopped",
                self.path.display()
            )
            .into(),
        )
    }

    fn truncate(&self, len: u64) -> Result<u64, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(LogJob::Truncate { len, reply })?;
        answer
            .recv()
            .map_err(|_| self.thread_gone())?
            .map_err(|e| io_error(&self.path, "truncate", e))
    }

    /// Starts appending for a transaction; call it inside the transaction (the write lock held),
    /// before the first append.
    pub fn begin(&mut self, conn: &Connection) -> Result<(), StoreError> {
        self.open_at = None;
        self.handed = false;
        self.pending.clear();
        self.pending_bytes = 0;
        let end: i64 = conn.query_row("SELECT end_at FROM json_log", [], |r| r.get(0))?;
        let end = u64::try_from(end)
            .map_err(|_| StoreError::Corrupt(format!("version log length {end}")))?;
        // Bytes past `end` were left by a transaction that did not commit; nothing points there.
        // The truncation also waits for every write queued before it.
        let len = self.truncate(end)?;
        if len < end {
            return Err(StoreError::Corrupt(format!(
                "the version log {} is {len} bytes, shorter than the {end} the database has \
                 committed",
                self.path.display()
            )));
        }
        self.open_at = Some(end);
        self.pos = end;
        self.pending_at = end;
        Ok(())
    }

    /// Appends `json`; returns where it goes, as stored in `json_at` and `json_len`.
    pub fn append(&mut self, json: String) -> Result<(i64, i64), StoreError> {
        let (at, len) = (self.pos, json.len());
        self.pos += len as u64;
        self.pending_bytes += len;
        self.pending.push(json);
        if self.pending_bytes >= PART {
            self.hand_over()?;
        }
        Ok((at as i64, len as i64))
    }

    fn hand_over(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let parts = std::mem::take(&mut self.pending);
        self.handed = true;
        self.send(LogJob::Write {
            at: self.pending_at,
            parts,
        })?;
        self.pending_at = self.pos;
        self.pending_bytes = 0;
        Ok(())
    }

    /// Makes this transaction's appends durable and records the new committed length; call it
    /// inside the transaction, just before COMMIT. When it returns, no write of this
    /// transaction is still queued.
    pub fn commit(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let Some(start) = self.open_at else {
            return Err(StoreError::State(
                "the version log was not begun for this transaction".into(),
            ));
        };
        if self.pos == start {
            // Nothing to keep; bytes handed over and then rolled back to a savepoint are cut
            // (which also waits for them).
            if self.handed {
                self.truncate(start)?;
            }
            self.open_at = None;
            return Ok(());
        }
        self.hand_over()?;
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(LogJob::Sync { reply })?;
        answer
            .recv()
            .map_err(|_| self.thread_gone())?
            .map_err(|e| io_error(&self.path, "write", e))?;
        conn.execute("UPDATE json_log SET end_at = ?1", [self.pos as i64])?;
        // From here the bytes may be committed even if COMMIT reports an error (the WAL can
        // hold the transaction after all), so a discard must not cut them; the next begin reads
        // what was really committed.
        self.open_at = None;
        Ok(())
    }

    /// Drops this transaction's appends from the file and waits for its queued writes; call it
    /// before ROLLBACK, while the write lock is still held. After a failed begin, or after
    /// [`LogWriter::commit`], it does nothing. Best effort: the next [`LogWriter::begin`]
    /// truncates anyway.
    pub fn discard(&mut self) {
        self.pending.clear();
        self.pending_bytes = 0;
        if let Some(start) = self.open_at.take() {
            if self.handed || self.pos != start {
                let _ = self.truncate(start);
            }
            self.pos = start;
            self.pending_at = start;
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn log_thread(file: File, wal_path: PathBuf, jobs: Receiver<LogJob>) {
    let mut buf: Vec<u8> = Vec::with_capacity(2 * PART);
    let mut failed: Option<std::io::Error> = None;
    let mut writeback_from = 0u64;
    // SQLite deletes and recreates its WAL file between uses: opened afresh per transaction.
    let mut wal: Option<File> = None;
    for job in jobs {
        match job {
            LogJob::Write { at, parts } => {
                if failed.is_some() {
                    continue;
                }
                buf.clear();
                for p in &parts {
                    buf.extend_from_slice(p.as_bytes());
                }
                drop(parts);
                if let Err(e) = file.write_all_at(&buf, at) {
                    failed = Some(e);
                    continue;
                }
                let end = at + buf.len() as u64;
                writeback_from = writeback_from.min(at);
                if end - writeback_from >= WRITEBACK_STEP {
                    start_writeback(&file, writeback_from, end - writeback_from);
                    writeback_from = end;
                    // The transaction's pages in SQLite's WAL, likewise: SQLite syncs them all
                    // at commit.
                    if wal.is_none() {
                        wal = File::open(&wal_path).ok();
                    }
                    if let Some(w) = &wal {
                        start_writeback(w, 0, 0);
                    }
                }
            }
            LogJob::Truncate { len, reply } => {
                failed = None;
                wal = None;
                writeback_from = len;
                let result = file.metadata().and_then(|m| {
                    if m.len() > len {
                        file.set_len(len)?;
                    }
                    Ok(m.len())
                });
                let _ = reply.send(result);
            }
            LogJob::Sync { reply } => {
                let result = match failed.take() {
                    Some(e) => Err(e),
                    None => file.sync_data(),
                };
                let _ = reply.send(result);
            }
        }
    }
}

/// Asks the kernel to start writing `len` bytes from `from` (0: to the end) to the disk, without
/// waiting. An optimization only: a failure is ignored (the syncs at commit report real ones).
fn start_writeback(file: &File, from: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(from), Ok(len)) = (i64::try_from(from), i64::try_from(len)) else {
        return;
    };
    // SAFETY: a system call on a file descriptor that `file` keeps open; no memory is passed.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), from, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// No stored version is longer: records are at most 16 MiB when read, from files and upload
/// bodies alike (ingest's limit), and storing adds at most a few 2.1 members.
const MAX_VERSION_BYTES: u64 = 64 << 20;

/// The readers' side, shared by every read connection.
pub struct LogReader {
    path: PathBuf,
    file: File,
}

impl LogReader {
    /// Opens the log of the database at `db`; [`LogWriter::open`] has created it.
    pub fn open(db: &Path) -> Result<LogReader, StoreError> {
        let path = path_for(db);
        let file = open(&path, false)?;
        Ok(LogReader { path, file })
    }

    /// The JSON a row points at.
    pub fn read(&self, at: i64, len: i64) -> Result<String, StoreError> {
        let damaged = |why: String| {
            StoreError::Corrupt(format!(
                "version log {} at {at}, {len} bytes: {why}",
                self.path.display()
            ))
        };
        let (Ok(at), Ok(len)) = (u64::try_from(at), u64::try_from(len)) else {
            return Err(damaged("not a position".into()));
        };
        // Bounded before allocating: a damaged row must not ask for an arbitrary amount of
        // memory. (A bound, not the file's size: a stat per read was a cost of every export.)
        // A row pointing past the end fails the read below instead.
        if len > MAX_VERSION_BYTES {
            return Err(damaged(format!(
                "longer than any version ({MAX_VERSION_BYTES} bytes)"
            )));
        }
        let mut bytes = vec![0; len as usize];
        self.file.read_exact_at(&mut bytes, at).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                damaged(e.to_string())
            } else {
                io_error(&self.path, "read", e)
            }
        })?;
        String::from_utf8(bytes).map_err(|_| damaged("not UTF-8".into()))
    }
}
