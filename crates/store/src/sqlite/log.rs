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
//! # What this file keeps, and relies on
//!
//! The committed length of the log is a row of the database (`json_log.end_at`), updated in the
//! same transaction as the rows that point into the log; past it are only records (`redo.rs`):
//! upload frames and import extents. This file writes an import's JSON ([`LogWriter`]) and
//! reads any version's back ([`LogReader`]). It keeps:
//! - an import appends only into extents it reserved ([`Space`], implemented by the lease in
//!   `lease.rs`), and makes the log durable (`fdatasync`) before its transaction commits, so
//!   every row a reader can see points at durable bytes;
//! - the committed length moves past an import's extents when its transaction commits only if
//!   no upload frame waits to be applied before them (and `keep_at` marks the end of its
//!   bytes, below which recovery never cuts);
//! - an import that does not commit leaves extents nothing points into, given back (and cut)
//!   if nothing was reserved after them;
//! - a transaction's end (commit or discard) waits until none of its writes is still queued,
//!   so none can land after the lease has passed to another process.
//!
//! It relies on the caller holding the log's lease for the whole transaction (the decider takes
//! it for an import before the applier runs it). The whole durability argument, recovery
//! included: ARCHITECTURE.md, `crates/store`, "Durability of the embedded store".

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

/// The file beside the log on which handles waiting for the log's lease take a shared lock
/// (`lease.rs`); its contents are never used.
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

/// Where records go past the committed length: the holder of the log's lease reserves space
/// for frames and extents from one position, in order (`lease.rs` implements it).
pub trait Space {
    /// Reserves an extent of `len` payload bytes and writes its header; returns where the
    /// header is (the payload follows it).
    fn reserve_extent(&self, len: u64) -> Result<u64, StoreError>;
    /// If no upload frame waits to be applied and the extent whose header is at `header` (and
    /// whose reserved space ends at `reserved_end`) is the last record: rewrites that header
    /// to end at `used_end`, so the next record goes right after what was written, and
    /// answers true. Checked and done at once, so no frame can be reserved in between.
    fn trim_tail(&self, header: u64, reserved_end: u64, used_end: u64) -> bool;
    /// Under the same condition: gives back everything from `from` (the next record goes
    /// there, and the file is cut there), and answers true. The caller's writes must all be
    /// done.
    fn give_back(&self, from: u64, reserved_end: u64) -> bool;
}

/// The first extent of an import, and the most any one grows to: small imports waste little
/// of an extent they do not fill, large ones reserve rarely.
const FIRST_EXTENT: u64 = 256 << 10;
const LARGEST_EXTENT: u64 = 16 << 20;

/// The writer's side, owned by the store's writer thread. The bytes are written by a thread of
/// its own: the store's writer only hands over the strings (no copy), and the copying into the
/// page cache, about a fifth of an import's writing time, happens on the other core.
pub struct LogWriter {
    path: PathBuf,
    /// While a transaction is open (from a successful [`LogWriter::begin`] to its commit or
    /// discard).
    open: bool,
    /// Where this transaction's first extent begins (its header), once it has one, and where
    /// its current one's header is.
    first_extent: Option<u64>,
    last_extent: u64,
    /// Whether this transaction handed bytes to the log thread: then its end must wait for them
    /// (a write still queued when SQLite's lock is released could land on bytes another process
    /// commits next).
    handed: bool,
    /// Where the next append goes, and where the current extent ends.
    pos: u64,
    extent_end: u64,
    /// The size of the next extent to reserve.
    next_extent: u64,
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
    /// Answers once everything written so far is durable, or with the first failure since the
    /// last truncation.
    Sync {
        reply: SyncSender<std::io::Result<()>>,
    },
    /// Answers once every write queued before it is done (not necessarily durable).
    Barrier {
        reply: SyncSender<()>,
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
            open: false,
            first_extent: None,
            last_extent: 0,
            handed: false,
            pos: 0,
            extent_end: 0,
            next_extent: FIRST_EXTENT,
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

    /// Waits until every write handed over so far is done.
    fn barrier(&self) -> Result<(), StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(LogJob::Barrier { reply })?;
        answer.recv().map_err(|_| self.thread_gone())
    }

    /// Starts appending for a transaction; call it inside the transaction (the write lock and
    /// the log's lock held), before the first append.
    pub fn begin(&mut self, conn: &Connection) -> Result<(), StoreError> {
        self.open = false;
        self.first_extent = None;
        self.handed = false;
        self.pending.clear();
        self.pending_bytes = 0;
        self.pos = 0;
        self.extent_end = 0;
        self.next_extent = FIRST_EXTENT;
        let end: i64 = conn.query_row("SELECT end_at FROM json_log", [], |r| r.get(0))?;
        let end = u64::try_from(end)
            .map_err(|_| StoreError::Corrupt(format!("version log length {end}")))?;
        // Queued writes of an earlier transaction are done before this one reads the length.
        self.barrier()?;
        let len = std::fs::metadata(&self.path)
            .map_err(|e| io_error(&self.path, "read the length of", e))?
            .len();
        if len < end {
            return Err(StoreError::Corrupt(format!(
                "the version log {} is {len} bytes, shorter than the {end} the database has \
                 committed",
                self.path.display()
            )));
        }
        self.open = true;
        Ok(())
    }

    /// Appends `json` into this transaction's extents (reserving one from `space` when the
    /// current one is full); returns where it goes, as stored in `json_at` and `json_len`.
    pub fn append(&mut self, space: &dyn Space, json: String) -> Result<(i64, i64), StoreError> {
        let len = json.len() as u64;
        if self.pos + len > self.extent_end {
            // The bytes so far are contiguous from `pending_at`; the next extent is elsewhere.
            self.hand_over()?;
            let size = self.next_extent.max(len);
            let header = space.reserve_extent(size)?;
            self.first_extent.get_or_insert(header);
            self.last_extent = header;
            self.pos = header + crate::sqlite::redo::HEADER as u64;
            self.extent_end = self.pos + size;
            self.pending_at = self.pos;
            self.next_extent = (self.next_extent * 2).min(LARGEST_EXTENT);
        }
        let at = self.pos;
        self.pos += len;
        self.pending_bytes += json.len();
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

    /// Makes this transaction's appends durable and, if nothing but its own extents lies past
    /// the committed length, moves the committed length past them; call it inside the
    /// transaction, just before COMMIT. When it returns, no write of this transaction is still
    /// queued.
    pub fn commit(&mut self, space: &dyn Space, conn: &Connection) -> Result<(), StoreError> {
        if !self.open {
            return Err(StoreError::State(
                "the version log was not begun for this transaction".into(),
            ));
        }
        self.hand_over()?;
        if self.first_extent.is_none() {
            // Nothing appended: nothing to keep.
            if self.handed {
                self.barrier()?;
            }
            self.open = false;
            return Ok(());
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(LogJob::Sync { reply })?;
        answer
            .recv()
            .map_err(|_| self.thread_gone())?
            .map_err(|e| io_error(&self.path, "write", e))?;
        // Recovery never cuts below this, whatever it finds before it: an upload frame
        // reserved before these extents may not be written yet (its syncer is behind), and a
        // crash then would leave a hole in front of bytes this transaction commits.
        conn.execute(
            "UPDATE json_log SET keep_at = max(keep_at, ?1)",
            [self.pos as i64],
        )?;
        if space.trim_tail(self.last_extent, self.extent_end, self.pos) {
            // Nothing else lies past the committed length: it moves past the extents, whose
            // last one gave back what it did not fill.
            conn.execute("UPDATE json_log SET end_at = ?1", [self.pos as i64])?;
        }
        // From here the bytes may be committed even if COMMIT reports an error (the WAL can
        // hold the transaction after all), so a discard must not cut them.
        self.open = false;
        Ok(())
    }

    /// Drops this transaction's appends and waits for its queued writes; call it before
    /// ROLLBACK, while the write lock is still held. Its extents are given back (and cut from
    /// the file) if nothing was reserved after them; otherwise they stay, stepped over by
    /// scans. After a failed begin, or after [`LogWriter::commit`], it does nothing.
    pub fn discard(&mut self, space: &dyn Space) {
        self.pending.clear();
        self.pending_bytes = 0;
        if !std::mem::take(&mut self.open) {
            return;
        }
        if self.handed {
            let _ = self.barrier();
        }
        if let Some(first) = self.first_extent.take() {
            space.give_back(first, self.extent_end);
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
    let mut writeback_from = u64::MAX;
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
            LogJob::Sync { reply } => {
                let result = match failed.take() {
                    Some(e) => Err(e),
                    None => file.sync_data(),
                };
                let _ = reply.send(result);
            }
            LogJob::Barrier { reply } => {
                // A transaction ends (or begins): a failure of the one before is not this one's,
                // SQLite may have made its WAL anew, and the next transaction's writeback
                // starts from its own first write.
                failed = None;
                wal = None;
                writeback_from = u64::MAX;
                let _ = reply.send(());
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
