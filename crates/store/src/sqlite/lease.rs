//! The lease on the version log: which handle may append past the committed length
//! (`json_log.end_at`), and where its next record goes.
//!
//! The lease is an exclusive `flock` on the log file (`tiport.db-json`), taken by the applier
//! before SQLite's write lock, so that two processes never wait for each other's locks in
//! opposite orders. [`Lease`] holds that lock's state for one handle, in one place: whether it
//! is `held`, how many users keep it (`pending`: groups of uploads not yet committed, imports
//! not yet ended), where the next record goes (`next_at`), and how many groups have frames not
//! yet committed (`frames_uncommitted`, which decides whether an import's commit may move the
//! committed length, `log.rs`). It also reserves the space records go into ([`Space`]), since
//! reserving is only allowed to the holder and must be ordered with the frames.
//!
//! A handle that finds the lock taken waits for it ([`Lease::wait_for_lock`]) and, while it
//! waits, holds a shared lock on `tiport.db-json-wait`. The holder checks that file after each
//! commit ([`Lease::note_waiters`]) and, if someone waits, the decider hands the lock over
//! before its next group (`pipeline/decider.rs`). Without that, a `serve` under an unbroken
//! stream of uploads always has a group pending and never lets go.
//!
//! Invariants kept here:
//! - `held` is true exactly while this handle holds the file lock (the crash path unlocks
//!   without clearing it: the handle is never used again);
//! - the lock is let go only when `pending` is zero (or after a panic left the state unknown
//!   while nothing is pending), so no answered frame of this handle is ever past the committed
//!   length of a log another handle appends to;
//! - records are reserved one after another from `next_at`, under one mutex, and an extent's
//!   header is written while that mutex is held.
//!
//! Invariants relied on: every user of the lease (a group, an import) is counted with
//! [`Lease::join`] before it reserves anything and uncounted exactly once when its rows are
//! committed or it ends without them; the holder applies what it found past the committed
//! length before it appends (`upload::recover`, run by the applier between
//! [`Lease::wait_for_lock`] and [`Lease::took`]).
//!
//! Why this is safe across crashes and processes (what is acknowledged, who may append, what
//! recovery applies and cuts, and the hand-over): ARCHITECTURE.md, `crates/store`,
//! "Durability of the embedded store". The decision to keep the hand-over: ARCHITECTURE.md,
//! "Decisions".

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::log::{self, Space};
use super::pause::{At, Pauses};
use super::redo;
use crate::StoreError;

/// One handle's lease on the version log. See the module documentation.
pub struct Lease {
    /// The version log, opened for the frames: the syncer writes them through it, recovery
    /// reads them back, and its file lock is the lease itself.
    file: File,
    /// Beside the log: a handle waiting for the lease holds a shared lock on it.
    waiting: File,
    /// Set when the holder's check found a waiter: the decider hands the lease over before its
    /// next group.
    asked_to_yield: AtomicBool,
    state: Mutex<State>,
    /// How long a handle waits for another process's lease, as for SQLite's lock.
    busy_timeout: Duration,
    pauses: Pauses,
}

struct State {
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

impl Lease {
    /// Opens the log of the database at `db` and the file beside it that waiters lock; holds
    /// nothing yet.
    pub fn open(db: &Path, busy_timeout: Duration, pauses: Pauses) -> Result<Lease, StoreError> {
        Ok(Lease {
            file: log::open_for_frames(db)?,
            waiting: log::open_waiting(db)?,
            asked_to_yield: AtomicBool::new(false),
            state: Mutex::new(State {
                held: false,
                next_at: 0,
                pending: 0,
                frames_uncommitted: 0,
            }),
            busy_timeout,
            pauses,
        })
    }

    /// The version log, for writing and reading frames.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Stops at a pause point (tests only; nothing otherwise).
    pub fn pause(&self, point: At) {
        self.pauses.at(point);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("log state")
    }

    // --- Holding: which users keep the lease ---

    /// Counts one more user (a group, or an import) if this handle holds the lease, and says
    /// whether it did; if not, the caller has the applier take it (`ApplyJob::Acquire`) and
    /// tries again, since the lease may be let go again in between.
    pub fn join(&self) -> bool {
        let mut st = self.state();
        if st.held {
            st.pending += 1;
        }
        st.held
    }

    /// Uncounts `groups` groups that end without rows to commit (none stored, or they
    /// failed); answers whether no user is left.
    pub fn end_groups(&self, groups: u64) -> bool {
        let mut st = self.state();
        st.pending -= groups;
        st.pending == 0
    }

    /// Uncounts an import, whichever way it ended.
    pub fn end_import(&self) {
        let mut st = self.state();
        st.pending = st.pending.saturating_sub(1);
    }

    /// Uncounts `groups` groups whose rows were just committed; answers whether users are
    /// left.
    pub fn groups_committed(&self, groups: u64) -> bool {
        let mut st = self.state();
        st.pending -= groups;
        st.frames_uncommitted = st.frames_uncommitted.saturating_sub(groups);
        st.pending > 0
    }

    /// Reserves `len` bytes for the frames of one group at `next_at`; answers where they go.
    /// `frames`: whether the group has any (a group that stored nothing reserves nothing).
    pub fn reserve_frames(&self, len: u64, frames: bool) -> u64 {
        let mut st = self.state();
        let at = st.next_at;
        st.next_at += len;
        if frames {
            st.frames_uncommitted += 1;
        }
        at
    }

    /// A group's frames were reserved but not written: they will never be committed.
    pub fn frames_failed(&self) {
        let mut st = self.state();
        st.frames_uncommitted = st.frames_uncommitted.saturating_sub(1);
    }

    // --- Taking and letting go of the file lock ---

    /// Where the next record goes, if this handle holds the lease.
    pub fn held_at(&self) -> Option<u64> {
        let st = self.state();
        st.held.then_some(st.next_at)
    }

    /// Takes the log's file lock, waiting up to the busy timeout for another handle to free
    /// it; `false` if it did not. While it waits it holds a shared lock on the `-wait` file,
    /// which tells the holder to give the lease up at its next chance ([`Lease::note_waiters`]).
    /// The caller then applies what it finds past the committed length and calls
    /// [`Lease::took`], or gives the lock back with [`Lease::unlock`].
    pub fn wait_for_lock(&self) -> Result<bool, StoreError> {
        let deadline = Instant::now() + self.busy_timeout;
        let mut announced = false;
        let locked = loop {
            match self.file.try_lock() {
                Ok(()) => break Ok(true),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    self.pauses.at(At::Blocked);
                    // The holder's check takes the `-wait` lock exclusively for a moment: if
                    // this try meets it, the next one announces.
                    if !announced {
                        announced = self.waiting.try_lock_shared().is_ok();
                        self.pauses.at(if announced {
                            At::Announced
                        } else {
                            At::AnnounceRefused
                        });
                    }
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
            let _ = self.waiting.unlock();
        }
        if matches!(locked, Ok(true)) {
            self.pauses.at(At::Locked);
        }
        locked
    }

    /// Records that this handle holds the lease, the next record going at `next_at` (where
    /// recovery left the log).
    pub fn took(&self, next_at: u64) {
        let mut st = self.state();
        st.held = true;
        st.next_at = next_at;
    }

    /// Gives the file lock back without touching the state: after opening (which took it
    /// only to apply a crashed handle's frames), after a failed recovery, and on a simulated
    /// crash.
    pub fn unlock(&self) {
        let _ = self.file.unlock();
        self.pauses.at(At::Released);
    }

    /// Lets the lease go once no user keeps it.
    pub fn release_if_idle(&self) {
        let released = {
            let mut st = self.state();
            let idle = st.held && st.pending == 0;
            if idle {
                let _ = self.file.unlock();
                st.held = false;
            }
            idle
        };
        if released {
            self.pauses.at(At::Released);
        }
    }

    /// After a panic on the applier (in recovery, or during an import): lets the lease go if
    /// it was not fully taken or nothing keeps it, so that a bug does not keep other processes
    /// from the log.
    pub fn release_after_panic(&self) {
        let mut st = self.state();
        if !st.held || st.pending == 0 {
            let _ = self.file.unlock();
            st.held = false;
        }
    }

    // --- The hand-over to a waiting handle ---

    /// Called by the holder after each commit of uploads: if another handle waits for the
    /// lease, asks the decider to hand it over before its next group.
    pub fn note_waiters(&self) {
        match self.waiting.try_lock() {
            Ok(()) => {
                self.pauses.at(At::Checking);
                let _ = self.waiting.unlock();
                self.pauses.at(At::FoundNone);
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                self.asked_to_yield.store(true, Ordering::Release);
                self.pauses.at(At::FoundWaiter);
            }
            Err(std::fs::TryLockError::Error(_)) => {}
        }
    }

    /// Whether the holder's check found a waiter since the last call (and forgets it).
    pub fn take_yield_request(&self) -> bool {
        self.asked_to_yield.swap(false, Ordering::AcqRel)
    }
}

/// Space past the committed length, reserved from `next_at` under the state's mutex, so that
/// frames and extents are laid out in the order they were reserved.
impl Space for Lease {
    fn reserve_extent(&self, len: u64) -> Result<u64, StoreError> {
        let len32 = u32::try_from(len)
            .map_err(|_| StoreError::State(format!("an extent of {len} bytes")))?;
        let mut st = self.state();
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
        let mut st = self.state();
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
        let mut st = self.state();
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
