//! The applier thread, which owns the write connection: inserts the rows of answered frames and
//! commits them about once a second, runs imports and every other write, and takes and lets go
//! of the log's lease for its handle.
//!
//! Invariants kept:
//! - an upload transaction commits the committed length (`json_log.end_at`) past its last
//!   frame together with its rows, and only then are its groups uncounted from the lease;
//! - after each commit of uploads it checks whether another handle waits for the lease
//!   (`Lease::note_waiters`), and it lets the lease go as soon as nothing keeps it;
//! - the lease is taken ([`acquire`]) only after applying what a crashed holder left past the
//!   committed length (`upload::recover`), and before anything is appended;
//! - upload transactions run at `synchronous = NORMAL` with the big cache, everything else at
//!   `FULL` with the small one; the mode changes only between transactions;
//! - a panic in one job rolls it back and the thread goes on; a panic or an error while
//!   applying answered uploads breaks the store (their frames stay for the next opening).
//!
//! Relied on: the syncer hands groups on in order and only once durable; the decider counted
//! each group and import on the lease. The durability argument (why a lost `NORMAL` commit
//! loses nothing): ARCHITECTURE.md, `crates/store`, "Durability of the embedded store".

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::{ApplyJob, Shared};
use crate::model::ImportId;
use crate::sqlite::import::{run_import, ImportMsg};
use crate::sqlite::log::LogWriter;
use crate::sqlite::redo;
use crate::sqlite::upload;
use crate::StoreError;

/// The applier's settings.
pub struct Tuning {
    pub commit_every: Duration,
    pub idle_commit: Duration,
    pub writer_cache_kib: u32,
    pub upload_cache_kib: u32,
}

/// The applier's open upload transaction.
struct Open {
    since: Instant,
    /// The last group applied, how many groups, and where its last frame ends.
    seq: u64,
    groups: u64,
    end: u64,
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

pub fn applier_loop(
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
            // A panic while taking the lease (in recovery) or during an import must not keep
            // the log from other processes.
            shared.lease.release_after_panic();
            if !conn.is_autocommit() {
                log.discard(&shared.lease);
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
    if shared.crashed.load(Ordering::Acquire) {
        if open.take().is_some() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        shared.lease.unlock();
        return;
    }
    commit_uploads(&mut conn, shared, &mut open);
    shared.lease.release_if_idle();
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

fn run_apply_job(
    conn: &mut Connection,
    log: &mut LogWriter,
    shared: &Shared,
    job: ApplyJob,
    open: &mut Option<Open>,
    mode: &mut Mode,
) {
    match job {
        ApplyJob::Apply { seq, frames } => apply_frames(conn, shared, seq, &frames, open, mode),
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
            let job = ImportJob {
                import,
                owner,
                rx,
                reply,
                ws,
            };
            run_import_job(conn, log, shared, mode, job);
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
            shared.lease.release_if_idle();
            let _ = done.send(());
        }
        ApplyJob::Release => {
            if open.is_none() {
                shared.lease.release_if_idle();
            }
        }
    }
}

/// Inserts the rows of group `seq`'s frames into the open upload transaction (opening one if
/// need be), and commits if it has been open long enough.
fn apply_frames(
    conn: &mut Connection,
    shared: &Shared,
    seq: u64,
    frames: &[(u64, u64, redo::Entry)],
    open: &mut Option<Open>,
    mode: &mut Mode,
) {
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
        for (at, len, entry) in frames {
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

/// An import handed over by the decider.
struct ImportJob {
    import: ImportId,
    owner: String,
    rx: Receiver<ImportMsg>,
    reply: super::Reply<()>,
    ws: i64,
}

/// Runs an import's transaction (`import.rs`), and gives back what the decider took for it.
fn run_import_job(
    conn: &mut Connection,
    log: &mut LogWriter,
    shared: &Shared,
    mode: &mut Mode,
    job: ImportJob,
) {
    // The decider took the lease for the import (`hold_log`) before handing it here, and
    // counted its workspace; both are given back however the import ends, a panic too.
    let _ended = ImportEnded { shared, ws: job.ws };
    let ready = match shared.broken() {
        Some(e) => Err(e),
        None => mode.set(conn, false),
    };
    match ready {
        Ok(()) => run_import(conn, log, shared, job.import, &job.owner, job.rx, job.reply),
        Err(e) => {
            let _ = job.reply.send(Err(e));
        }
    }
}

/// Ends the applier's part in an import, whatever way it ends: its workspace's uploads are
/// decided again, and its hold on the lease is given back.
struct ImportEnded<'a> {
    shared: &'a Shared,
    ws: i64,
}

impl Drop for ImportEnded<'_> {
    fn drop(&mut self) {
        self.shared.importing(self.ws, -1);
        self.shared.lease.end_import();
        self.shared.lease.release_if_idle();
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
            let more = shared.lease.groups_committed(o.groups);
            // Also when none is pending: the next group would otherwise take the lease again
            // before a waiter's next try.
            shared.lease.note_waiters();
            if !more {
                shared.lease.release_if_idle();
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

/// Takes the lease for this handle, waiting as SQLite would for its own lock, and applies any
/// frames a crashed holder left; answers where the next frame goes.
fn acquire(conn: &mut Connection, shared: &Shared) -> Result<u64, StoreError> {
    if let Some(at) = shared.lease.held_at() {
        return Ok(at);
    }
    if !shared.lease.wait_for_lock()? {
        return Err(StoreError::Backend(
            "the database is busy: another process is writing to it".into(),
        ));
    }
    match upload::recover(conn, shared.lease.file()) {
        Ok(end) => {
            shared.lease.took(end);
            Ok(end)
        }
        Err(e) => {
            shared.lease.unlock();
            Err(e)
        }
    }
}
