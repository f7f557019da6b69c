//! The three threads every write goes through, and the messages between them.
//!
//! ```text
//! callers ──Job (Write, Import)──► decider ──SyncJob──► syncer ──ApplyJob (Apply, Release)──┐
//!                                    └────────ApplyJob (Acquire, Import, Yield)─────────────┤
//! callers ───────────────────────────────────ApplyJob (Tx, Barrier)─────────────────────────┤
//!                                                              applier (write connection) ◄─┘
//! ```
//!
//! - The **decider** (`decider.rs`, thread `store-decider`) takes the uploads waiting (group
//!   commit), decides each version against a read snapshot plus what it decided since
//!   (`upload::Decider`), reserves space for the group's frames, and hands them to the syncer.
//!   It holds back the uploads of a workspace an import runs on, and hands imports on.
//! - The **syncer** (`syncer.rs`, `store-syncer`) writes the frames of every group waiting,
//!   makes them durable with one `fdatasync`, answers each group in order, and hands its frames
//!   to the applier.
//! - The **applier** (`applier.rs`, `store-applier`), which owns the write connection, inserts
//!   the rows of answered frames and commits about once a second, runs imports and every other
//!   write, takes the log's lease for the handle and lets it go.
//!
//! Invariants kept by the three together:
//! - groups are numbered in the order they are decided, answered in that order, and applied
//!   in that order; a group without frames is answered in its turn too (what it was told, say
//!   "unchanged", may rest on a frame before it);
//! - every group and every import is counted on the lease ([`super::lease::Lease::join`])
//!   before it reads the snapshot its rules use, and uncounted once its rows are committed or
//!   it ends without any, so the lease is held from before a decision until its rows commit;
//! - once applying answered frames fails, the store is *broken*: nothing more is written until
//!   it is opened again, and the frames stay in the log for that opening to apply.
//!
//! Relied on: the lease (`lease.rs`) for who may append, the redo format (`redo.rs`), and
//! recovery (`upload::recover`). The whole argument for why an answered upload survives a crash
//! or a hand-over to another process: ARCHITECTURE.md, `crates/store`, "Durability of the
//! embedded store".

mod applier;
mod decider;
mod syncer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use rusqlite::Connection;

use super::import::ImportMsg;
use super::lease::Lease;
use super::log::LogWriter;
use super::redo;
use super::upload::Decider;
use super::SqliteOptions;
use crate::model::{ImportId, NewObject, Outcome, Provenance};
use crate::StoreError;

pub use applier::Tuning;

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

pub type Reply<T> = SyncSender<Result<T, StoreError>>;

/// One upload waiting to be decided: workspace, provenance, objects, where to answer.
type GroupEntry = (i64, Provenance, Vec<NewObject>, Reply<Vec<Outcome>>);

/// Jobs for the decider, the thread that takes writes.
pub enum Job {
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
pub enum ApplyJob {
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
    /// Take the log's lease (applying first any frames a crashed writer left); answers where
    /// the next frame goes.
    Acquire(Reply<u64>),
    /// Commit what is applied.
    Barrier(Reply<()>),
    /// The syncer ended groups without frames: free the lease if nothing is pending.
    Release,
    /// Another handle waits for the log: commit, and free the lease (every group is handed on).
    Yield(SyncSender<()>),
}

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

/// What the three threads and the store's handle share.
pub struct Shared {
    /// The log's lease: who may append past the committed length, and where.
    pub lease: Lease,
    /// The last group answered with frames, per workspace, and the last group committed: a
    /// read of a workspace waits for a commit only if that workspace has answered frames the
    /// applier has not committed (an import elsewhere would hold it up for its whole run).
    pub decided: Mutex<HashMap<i64, u64>>,
    pub committed: AtomicU64,
    /// Set when applying answered frames failed: no more writes until the store is opened
    /// again (the frames are kept, and opening applies them).
    broken: Mutex<Option<String>>,
    /// Rows handed to the applier and not yet taken by it: the syncer waits while there are
    /// more than [`MAX_QUEUED_ROWS`], so that answers slow to what the applier sustains
    /// rather than the backlog (and memory, and the wait of the next reader) growing.
    queued_rows: Mutex<u64>,
    rows_taken: Condvar,
    /// Set by `SqliteStore::crash`: the applier stops without committing.
    pub crashed: AtomicBool,
    /// Workspaces an import has been handed to the applier for, and how many: the decider
    /// holds back their uploads until those imports end (the rules must see what an import
    /// wrote), and decides every other workspace's meanwhile.
    importing: Mutex<HashMap<i64, usize>>,
}

impl Shared {
    pub fn new(lease: Lease) -> Shared {
        Shared {
            lease,
            decided: Mutex::new(HashMap::new()),
            committed: AtomicU64::new(0),
            broken: Mutex::new(None),
            queued_rows: Mutex::new(0),
            rows_taken: Condvar::new(),
            crashed: AtomicBool::new(false),
            importing: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an import handed to the applier for workspace `ws`.
    fn importing(&self, ws: i64, delta: isize) {
        let mut m = self.importing.lock().expect("importing");
        let n = m.entry(ws).or_default();
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            m.remove(&ws);
        }
    }

    pub fn broken(&self) -> Option<StoreError> {
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

/// The running threads of one handle. Dropping it stops them after the jobs already queued.
pub struct Pipeline {
    jobs: Option<SyncSender<Job>>,
    apply: Option<SyncSender<ApplyJob>>,
    decider: Option<JoinHandle<()>>,
    syncer: Option<JoinHandle<()>>,
    applier: Option<JoinHandle<()>>,
    pub shared: Arc<Shared>,
}

impl Pipeline {
    /// Starts the threads: the applier on the write connection `conn`, the decider on the read
    /// connection `read_conn`.
    pub fn start(
        conn: Connection,
        read_conn: Connection,
        mut log_writer: LogWriter,
        shared: Arc<Shared>,
        opts: &SqliteOptions,
    ) -> Result<Pipeline, StoreError> {
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
                .spawn(move || {
                    applier::applier_loop(conn, &mut log_writer, &shared, apply_rx, tuning)
                })
                .map_err(|e| StoreError::Backend(Box::new(e)))?
        };
        let (sync_tx, sync_rx) = mpsc::sync_channel(64);
        let syncer = {
            let shared = shared.clone();
            let apply = apply_tx.clone();
            std::thread::Builder::new()
                .name("store-syncer".into())
                .spawn(move || syncer::syncer_loop(&shared, sync_rx, &apply))
                .map_err(|e| StoreError::Backend(Box::new(e)))?
        };
        let (tx, rx) = mpsc::sync_channel(64);
        let decider = {
            let shared = shared.clone();
            let apply = apply_tx.clone();
            let max_group = opts.max_group;
            std::thread::Builder::new()
                .name("store-decider".into())
                .spawn(move || {
                    let decider = Decider::new(read_conn);
                    decider::decider_loop(decider, &shared, rx, &sync_tx, &apply, max_group)
                })
                .map_err(|e| StoreError::Backend(Box::new(e)))?
        };
        Ok(Pipeline {
            jobs: Some(tx),
            apply: Some(apply_tx),
            decider: Some(decider),
            syncer: Some(syncer),
            applier: Some(applier),
            shared,
        })
    }

    /// Hands the decider (writes and imports) the job `job` makes around a reply channel, and
    /// waits for its answer.
    pub fn ask<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        ask_on(&self.jobs, job)
    }

    /// Hands the applier the job `job` makes around a reply channel, and waits for its answer.
    pub fn ask_applier<T>(&self, job: impl FnOnce(Reply<T>) -> ApplyJob) -> Result<T, StoreError> {
        ask_on(&self.apply, job)
    }
}

/// Sends the job `job` makes around a reply channel to the thread behind `tx`, and waits for
/// its answer: Closed once the pipeline has dropped its sender (it is shutting down) or the
/// thread has gone.
fn ask_on<J, T>(
    tx: &Option<SyncSender<J>>,
    job: impl FnOnce(Reply<T>) -> J,
) -> Result<T, StoreError> {
    let tx = tx.as_ref().ok_or(StoreError::Closed)?;
    let (reply, answer) = mpsc::sync_channel(1);
    tx.send(job(reply)).map_err(|_| StoreError::Closed)?;
    answer.recv().map_err(|_| StoreError::Closed)?
}

impl Drop for Pipeline {
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

/// Answers every write of a group with error `e`.
fn fail_replies(replies: Vec<Reply<Vec<Outcome>>>, e: &StoreError) {
    let msg = e.to_string();
    for reply in replies {
        let _ = reply.send(Err(StoreError::Backend(msg.clone().into())));
    }
}
