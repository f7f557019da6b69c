//! The file imports a long-running service takes: a place reserved while the file arrives,
//! the import recorded and queued once it is in, and workers that run the queue.
//!
//! # Key decisions
//!
//! - At most `max_running` imports run at once, on worker threads at background priority (so
//!   that uploads keep their latency), and at most `max_waiting` wait behind them (each holds a
//!   copy of its file on disk); more is refused ([`NoPlace`]) before the file is read, so a
//!   refused import costs no disk and leaves no record.
//! - A place is reserved before the file arrives and counts as waiting: with the embedded
//!   store, recording an import waits for one that is writing. One principal may hold at most
//!   [`MAX_POSTING_PER_PRINCIPAL`] places at once, or one client posting slowly could hold
//!   every place.
//! - An import recorded is an import that runs: [`Place::post`] records and queues in one
//!   call, which the caller runs to its end whether or not its client is still there.
//! - A panic in one import marks it failed (unless it had ended, which the store keeps final)
//!   and the worker goes on; imports still waiting at shutdown, or posted after it began, end
//!   failed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use store::{ImportRecord, ImportStatus, Store};

use crate::error::{DomainError, ErrorKind};
use crate::files::{ImportFiles, Incoming};
use crate::import::{self, FileImport, FileLimits, ImportJob, QueueError};

/// Imports one principal may be posting at once.
pub const MAX_POSTING_PER_PRINCIPAL: usize = 2;

/// What the queue's owner is told when an import ends: its status and how long it ran (the
/// service counts them in its metrics).
pub type OnEnd = Box<dyn Fn(ImportStatus, Duration) + Send + Sync>;

/// The imports of a service: where their files go, their size limits, and the queue that runs
/// them.
pub struct ImportQueue {
    store: Arc<dyn Store>,
    files: ImportFiles,
    limits: FileLimits,
    /// This process, as the owner recorded on the imports it runs.
    owner: String,
    max_running: usize,
    max_waiting: usize,
    state: Mutex<State>,
    on_end: OnEnd,
}

#[derive(Default)]
struct State {
    waiting: VecDeque<ImportJob>,
    /// Imports being posted, by principal: their place is kept while the file arrives and is
    /// recorded.
    posting: HashMap<String, usize>,
    reserved: usize,
    running: usize,
    workers: Vec<JoinHandle<()>>,
    /// Set at shutdown: workers take no new imports.
    stopping: bool,
    /// How far each running import has read its file.
    progress: HashMap<store::ImportId, Progress>,
}

/// How far a running import has read its file: bytes read (shared with the reader that counts
/// them) of the file's size.
#[derive(Debug, Clone)]
struct Progress {
    read: Arc<std::sync::atomic::AtomicU64>,
    size: u64,
}

/// A reader that counts the bytes it hands on, for [`ImportQueue::progress`].
struct Counting<R> {
    inner: R,
    read: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Why an import could not have a place in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoPlace {
    /// The queue is full: this many imports are waiting or being posted.
    #[error("{0} imports are already waiting to run; try again when some have finished")]
    Full(usize),
    /// The principal is already posting as many imports as it may.
    #[error(
        "you are already posting as many imports at once as one client may; try again when \
         one of them has been accepted"
    )]
    Posting,
    /// The service is stopping.
    #[error("the service is stopping; post the import again when it is back")]
    Stopping,
}

impl DomainError for NoPlace {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Busy
    }

    fn retry_after(&self) -> Option<u64> {
        Some(match self {
            NoPlace::Full(_) | NoPlace::Stopping => 30,
            NoPlace::Posting => 10,
        })
    }
}

impl ImportQueue {
    /// At most `max_running` imports at once (at least one), `max_waiting` more queued.
    pub fn new(
        store: Arc<dyn Store>,
        files: ImportFiles,
        limits: FileLimits,
        max_running: usize,
        max_waiting: usize,
    ) -> ImportQueue {
        ImportQueue {
            store,
            files,
            limits,
            owner: crate::owner::current(),
            max_running: max_running.max(1),
            max_waiting,
            state: Mutex::new(State::default()),
            on_end: Box::new(|_, _| {}),
        }
    }

    /// Calls `on_end` as each import ends.
    pub fn with_on_end(mut self, on_end: OnEnd) -> ImportQueue {
        self.on_end = on_end;
        self
    }

    pub fn files(&self) -> &ImportFiles {
        &self.files
    }

    pub fn limits(&self) -> &FileLimits {
        &self.limits
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("import queue")
    }

    /// How far running import `id` has read its file, in percent; `None` when it is not running
    /// here (queued, ended, or run by another process).
    pub fn progress(&self, id: store::ImportId) -> Option<u8> {
        let q = self.state();
        let p = q.progress.get(&id)?;
        let read = p.read.load(std::sync::atomic::Ordering::Relaxed);
        Some(match p.size {
            0 => 0,
            size => (read.min(size) * 100 / size) as u8,
        })
    }

    /// How many imports run, and how many wait (queued, or being posted into a reserved
    /// place): what the queue's bound counts, for the service's metrics.
    pub fn occupancy(&self) -> (usize, usize) {
        let q = self.state();
        (q.running, q.waiting.len() + q.reserved)
    }

    /// A place for an import `principal` is posting, if the queue has room and the principal
    /// is not already posting as many as it may.
    pub fn reserve(self: &Arc<Self>, principal: &str) -> Result<Place, NoPlace> {
        let mut q = self.state();
        if q.stopping {
            return Err(NoPlace::Stopping);
        }
        let waiting = q.waiting.len() + q.reserved;
        if waiting + q.running.min(self.max_running) >= self.max_running + self.max_waiting {
            return Err(NoPlace::Full(waiting));
        }
        let posting = q.posting.entry(principal.to_owned()).or_default();
        if *posting >= MAX_POSTING_PER_PRINCIPAL {
            return Err(NoPlace::Posting);
        }
        *posting += 1;
        q.reserved += 1;
        Ok(Place {
            queue: self.clone(),
            principal: principal.to_owned(),
            held: true,
        })
    }

    /// Queues `job` (recorded `queued`) in the place reserved for it, starting a worker if
    /// fewer than the most run. If the service is stopping, the import ends failed instead.
    fn submit(self: &Arc<Self>, mut place: Place, job: ImportJob) {
        let mut q = self.state();
        place.give_back(&mut q);
        if q.stopping {
            drop(q);
            self.fail_unstarted(&job);
            return;
        }
        q.workers.retain(|t| !t.is_finished());
        if q.running >= self.max_running {
            q.waiting.push_back(job);
            return;
        }
        // The new worker is handed its first import rather than finding it in `waiting`: until
        // it took it from there, the import would count twice (running and waiting), and a
        // place would be refused with nothing waiting.
        q.running += 1;
        let (worker, first) = (self.clone(), job.clone());
        let spawned = std::thread::Builder::new()
            .name("import-worker".into())
            .spawn(move || worker.work(first));
        match spawned {
            Ok(t) => q.workers.push(t),
            Err(e) => {
                q.running -= 1;
                q.waiting.push_back(job);
                tracing::error!(error = %e, "cannot start an import worker; the import waits for one");
            }
        }
    }

    /// Lets the imports that run finish, and ends those still waiting as failed (the service is
    /// stopping; their files are kept until retention removes them).
    pub fn wait(&self) {
        let (waiting, workers) = {
            let mut q = self.state();
            q.stopping = true;
            (
                std::mem::take(&mut q.waiting),
                std::mem::take(&mut q.workers),
            )
        };
        for job in waiting {
            self.fail_unstarted(&job);
        }
        for t in workers {
            let _ = t.join();
        }
    }

    /// A worker: runs `first`, then queued imports, at background priority, until none is
    /// waiting.
    fn work(&self, first: ImportJob) {
        crate::priority::background();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            // A bug that panics in one import must not take the worker with it: the import
            // would stay `running` and the queue would count a worker that no longer exists,
            // so no import would ever run again.
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_one(&job)));
            if ran.is_err() {
                tracing::error!(import = %job.id, "the import stopped on an internal error");
                if let Err(e) = import::fail(
                    &*self.store,
                    &job,
                    "tiport met an internal error running this import and stopped it; import \
                     the file again, and report the problem if it happens again",
                ) {
                    tracing::error!(import = %job.id, error = %e, "cannot mark the import failed");
                }
            }
            let mut q = self.state();
            next = q.waiting.pop_front().filter(|_| !q.stopping);
            if next.is_none() {
                q.running -= 1;
            }
        }
    }

    /// Runs one import and tells the owner how it ended.
    fn run_one(&self, job: &ImportJob) {
        let started = Instant::now();
        let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = read.clone();
        let mut wrap = move |f: std::fs::File| -> Box<dyn std::io::Read> {
            Box::new(Counting {
                inner: f,
                read: counted.clone(),
            })
        };
        let size = std::fs::metadata(&job.path).map_or(0, |m| m.len());
        self.state()
            .progress
            .insert(job.id, Progress { read, size });
        let ran = import::run(&*self.store, job, &mut wrap);
        self.state().progress.remove(&job.id);
        let status = match ran {
            Ok(ended) => {
                tracing::info!(import = %job.id, status = %ended.finish.status,
                    total = ended.finish.total, imported = ended.finish.imported,
                    invalid = ended.finish.invalid, "import ended");
                ended.finish.status
            }
            Err(e) => {
                tracing::error!(import = %job.id, error = %e, "import failed");
                ImportStatus::Failed
            }
        };
        (self.on_end)(status, started.elapsed());
    }

    fn fail_unstarted(&self, job: &ImportJob) {
        if let Err(e) = import::fail(
            &*self.store,
            job,
            "the service stopped before the import started; import the file again",
        ) {
            tracing::warn!(import = %job.id, error = %e, "cannot mark a waiting import failed");
        }
    }
}

/// An import's place in the queue while it is posted; given back if the post fails.
pub struct Place {
    queue: Arc<ImportQueue>,
    principal: String,
    held: bool,
}

impl Place {
    /// Records the import `request` asks for, of the file received in `incoming`, and queues
    /// it in this place (blocking: the store records it, and the file is copied). The received
    /// file is deleted whatever happens; a refused import gives its place back.
    pub fn post(
        self,
        request: &FileImport,
        incoming: Incoming,
    ) -> Result<ImportRecord, QueueError> {
        let q = self.queue.clone();
        let queued = import::queue(
            &*q.store,
            &q.files,
            request,
            incoming.path(),
            &q.limits,
            &q.owner,
        );
        drop(incoming);
        let (record, job) = queued?;
        q.submit(self, job);
        Ok(record)
    }

    fn give_back(&mut self, q: &mut State) {
        if !std::mem::take(&mut self.held) {
            return;
        }
        q.reserved -= 1;
        if let Some(n) = q.posting.get_mut(&self.principal) {
            *n -= 1;
            if *n == 0 {
                q.posting.remove(&self.principal);
            }
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if self.held {
            let queue = self.queue.clone();
            self.give_back(&mut queue.state());
        }
    }
}
