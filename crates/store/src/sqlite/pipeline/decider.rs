//! The decider thread: takes the uploads waiting (group commit), decides them, reserves their
//! frames' space, and hands each group to the syncer; holds back the uploads of a workspace an
//! import runs on; hands imports to the applier; and hands the log's lease to another handle
//! that waits for it.
//!
//! Invariants kept:
//! - a group is counted on the lease (`hold_log`) before its snapshot is read, so no other
//!   handle can change what the rules read, or cut the frames, until the group's rows commit;
//! - every group, even one that failed or panicked, goes through the syncer, which uncounts it
//!   in order;
//! - the uploads of a workspace an import runs on (or is queued for) wait, in arrival order,
//!   until that import ends, and an import queued behind them waits for them; every other
//!   workspace's uploads are decided meanwhile;
//! - an import is handed to the applier only after every group before it is answered and
//!   handed on, so its rules see those rows;
//! - the lease is handed over only while no import runs (the import holds it until it ends),
//!   and only between groups, after every group before is committed.
//!
//! Relied on: the applier takes the lease when asked (`ApplyJob::Acquire`) and commits and
//! lets it go when asked (`ApplyJob::Yield`); `Decider::decide` leaves the overlay as it was
//! when it fails. Why frames reserved here are safe to answer once synced: ARCHITECTURE.md,
//! `crates/store`, "Durability of the embedded store".

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::Duration;

use stix::Timestamp;

use super::{fail_replies, ApplyJob, GroupEntry, Job, Reply, Shared, SyncJob};
use crate::model::ImportId;
use crate::sqlite::import::ImportMsg;
use crate::sqlite::objects::micros;
use crate::sqlite::pause::At;
use crate::sqlite::upload::Decider;
use crate::StoreError;

/// How long the decider stays away from the lease after handing it over, so that the waiting
/// handle (which tries every 5 ms) takes it before this handle's own next try.
const HEAD_START: Duration = Duration::from_millis(50);

/// How often the decider looks again at what it held back while no job comes.
const HELD_BACK_POLL: Duration = Duration::from_millis(5);

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

/// What the decider's loop does next.
enum Next {
    Job(Job),
    /// Look at what is held back again.
    Again,
    Stop,
}

/// The decider thread's state.
struct Loop<'a> {
    decider: Decider,
    shared: &'a Shared,
    sync: &'a SyncSender<SyncJob>,
    apply: &'a SyncSender<ApplyJob>,
    max_group: usize,
    /// The last group's number.
    seq: u64,
    /// Writes (and imports behind them) of a workspace an import runs on, in arrival order,
    /// until it ends.
    held_back: VecDeque<Held>,
    /// A job taken while gathering a group that was not a write: the next one to run.
    next: Option<Job>,
    /// Whether the store is closing (no more jobs will come).
    closed: bool,
}

pub fn decider_loop(
    decider: Decider,
    shared: &Shared,
    rx: Receiver<Job>,
    sync: &SyncSender<SyncJob>,
    apply: &SyncSender<ApplyJob>,
    max_group: usize,
) {
    let mut l = Loop {
        decider,
        shared,
        sync,
        apply,
        max_group,
        seq: 0,
        held_back: VecDeque::new(),
        next: None,
        closed: false,
    };
    loop {
        match take_ready(&mut l.held_back, shared, max_group) {
            Some(Ready::Writes(group)) => {
                l.run_group(group);
                continue;
            }
            Some(Ready::Import(job)) => {
                start_import(shared, sync, apply, job);
                continue;
            }
            None => {}
        }
        match l.next_job(&rx) {
            Next::Job(Job::Import {
                import,
                ws,
                owner,
                rx,
                reply,
            }) => l.import(HeldImport {
                import,
                ws,
                owner,
                rx,
                reply,
            }),
            Next::Job(Job::Write {
                ws,
                provenance,
                objects,
                reply,
            }) => {
                let group = l.gather(&rx, (ws, provenance, objects, reply));
                let ready = l.hold_back_busy(group);
                if !ready.is_empty() {
                    l.run_group(ready);
                }
            }
            Next::Again => {}
            Next::Stop => break,
        }
    }
}

impl Loop<'_> {
    /// The next job: the one set aside, or the next to arrive. While something is held back,
    /// it waits for a job only briefly, to look at what was held back again.
    fn next_job(&mut self, rx: &Receiver<Job>) -> Next {
        if let Some(j) = self.next.take() {
            return Next::Job(j);
        }
        if self.closed {
            // The store is closing: what was held back is still done, once its import ends.
            if self.held_back.is_empty() {
                return Next::Stop;
            }
            std::thread::sleep(HELD_BACK_POLL);
            return Next::Again;
        }
        if self.held_back.is_empty() {
            return match rx.recv() {
                Ok(j) => Next::Job(j),
                Err(_) => Next::Stop,
            };
        }
        match rx.recv_timeout(HELD_BACK_POLL) {
            Ok(j) => Next::Job(j),
            Err(RecvTimeoutError::Timeout) => Next::Again,
            Err(RecvTimeoutError::Disconnected) => {
                self.closed = true;
                Next::Again
            }
        }
    }

    /// An import: behind the writes of its workspace already held back, in order, or handed
    /// on now.
    fn import(&mut self, job: HeldImport) {
        if self.held_back.iter().any(|h| h.ws() == job.ws) {
            self.held_back.push_back(Held::Import(job));
        } else {
            start_import(self.shared, self.sync, self.apply, job);
        }
    }

    /// Group commit: `first` and every write already waiting, up to `max_group`; a job of
    /// another kind is set aside as the next.
    fn gather(&mut self, rx: &Receiver<Job>, first: GroupEntry) -> Vec<GroupEntry> {
        let mut group = vec![first];
        while group.len() < self.max_group {
            match rx.try_recv() {
                Ok(Job::Write {
                    ws,
                    provenance,
                    objects,
                    reply,
                }) => group.push((ws, provenance, objects, reply)),
                Ok(other) => {
                    self.next = Some(other);
                    break;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        group
    }

    /// Holds back the writes of `group` whose workspace an import runs on, and later writes of
    /// a workspace with something held back (to keep their order); answers the rest.
    fn hold_back_busy(&mut self, group: Vec<GroupEntry>) -> Vec<GroupEntry> {
        let importing = self.shared.importing.lock().expect("importing");
        let mut ready = Vec::with_capacity(group.len());
        for w in group {
            if importing.contains_key(&w.0) || self.held_back.iter().any(|h| h.ws() == w.0) {
                self.held_back.push_back(Held::Write(w));
            } else {
                ready.push(w);
            }
        }
        ready
    }

    /// Decides a group and hands it to the syncer, which answers it once its frames are
    /// durable. The next group is decided meanwhile: deciding and syncing overlap.
    fn run_group(&mut self, group: Vec<GroupEntry>) {
        self.seq += 1;
        let seq = self.seq;
        let (shared, sync) = (self.shared, self.sync);
        let mut writes = Vec::with_capacity(group.len());
        let mut replies = Vec::with_capacity(group.len());
        for (ws, provenance, objects, reply) in group {
            writes.push((ws, provenance, objects));
            replies.push(reply);
        }
        if let Some(e) = shared.broken() {
            return fail_replies(replies, &e);
        }
        self.hand_over_if_asked();
        // Hold the lease from before the snapshot the rules read until the frames are applied:
        // no other writer may change what they decided on, or cut the frames.
        if let Err(e) = hold_log(shared, self.apply) {
            return fail_replies(replies, &e);
        }
        shared.lease.pause(At::Deciding);
        let committed = shared.committed.load(Ordering::Acquire);
        let n = writes.len();
        // A panic here (a bug) must still pass through the syncer, which gives the lease back.
        let decider = &mut self.decider;
        let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            decider.decide(seq, committed, micros(&Timestamp::now()), writes)
        }))
        .unwrap_or_else(|_| {
            decider.undo(seq);
            Err(StoreError::State("a panic while deciding an upload".into()))
        });
        let job = match decided {
            Ok(d) => {
                let at = shared
                    .lease
                    .reserve_frames(d.bytes.len() as u64, !d.bytes.is_empty());
                let frames = d
                    .frames
                    .into_iter()
                    .map(|(off, len, entry)| (at + off, len, entry))
                    .collect();
                SyncJob::Group {
                    seq,
                    at,
                    bytes: d.bytes,
                    frames,
                    replies,
                    outcomes: d.outcomes,
                }
            }
            // Still through the syncer, so that the lease is given back in order.
            Err(e) => {
                let msg = e.to_string();
                let outcomes = (0..n)
                    .map(|_| Err(StoreError::Backend(msg.clone().into())))
                    .collect();
                SyncJob::Group {
                    seq,
                    at: 0,
                    bytes: Vec::new(),
                    frames: Vec::new(),
                    replies,
                    outcomes,
                }
            }
        };
        if let Err(mpsc::SendError(job)) = sync.send(job) {
            shared.set_broken("the syncer stopped");
            if let SyncJob::Group { replies, .. } = job {
                fail_replies(replies, &StoreError::Closed);
            }
        }
    }

    /// If the holder's check found another handle waiting for the lease: every group before
    /// this one answered and handed on, then committed and the lease freed, then a head start
    /// for the other over this handle's own next try.
    ///
    /// While an import runs, the lease cannot be let go (the import holds it), and waiting to
    /// hand it over would stop every workspace's uploads behind the import: the hand-over
    /// waits until the import ends.
    fn hand_over_if_asked(&self) {
        let importing = !self.shared.importing.lock().expect("importing").is_empty();
        if importing || !self.shared.lease.take_yield_request() {
            return;
        }
        let (flushed, wait) = mpsc::sync_channel(1);
        if self.sync.send(SyncJob::Flush(flushed)).is_ok() {
            let _ = wait.recv();
        }
        let (reply, released) = mpsc::sync_channel(1);
        if self.apply.send(ApplyJob::Yield(reply)).is_ok() {
            let _ = released.recv();
        }
        self.shared.lease.pause(At::HeadStart);
        std::thread::sleep(HEAD_START);
    }
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

/// Hands an import to the applier: the lease held for it, its workspace counted as importing,
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
    // The import holds the lease until it ends, so that the uploads of other workspaces decided
    // meanwhile never wait for the lease behind it.
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
        shared.lease.end_import();
    }
}

/// Makes sure this handle holds the lease, and counts one more user of it (a group, or an
/// import), which the syncer, the commit of its rows or the end of the import uncounts.
fn hold_log(shared: &Shared, apply: &SyncSender<ApplyJob>) -> Result<(), StoreError> {
    // The applier may let the lease go again between its answer and the count: try again.
    while !shared.lease.join() {
        let (reply, answer) = mpsc::sync_channel(1);
        apply
            .send(ApplyJob::Acquire(reply))
            .map_err(|_| StoreError::Closed)?;
        answer.recv().map_err(|_| StoreError::Closed)??;
    }
    Ok(())
}
