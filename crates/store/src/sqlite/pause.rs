//! Named pause points in the log's lease protocol, for tests that force one interleaving of two
//! handles at a time (`handover_tests.rs`) instead of hoping a sleep produces it.
//!
//! The protocol's code calls [`Pauses::at`] at each [`At`]. In a build that is not a test,
//! [`Pauses`] is an empty type whose `at` does nothing and compiles away. In tests, a
//! `Script` shared by the handles of one test records every point reached, in order, and
//! stops a thread at a point the test *armed* until the test lets it go.
//!
//! Invariants kept: a point is never reached while a `std::sync` lock of the store is held, so
//! that a paused thread blocks nothing but itself and what waits for it by design (a paused
//! waiter keeps its announcement; a paused holder keeps the log). Relied on: each handle of a
//! test has its own name in the script, and a test arms a point before the thread reaches it.
//! The protocol these points belong to: ARCHITECTURE.md, `crates/store`, "Durability of the
//! embedded store", its last paragraph.

/// A point of the lease protocol (`lease.rs`, and the decider's hand-over in
/// `pipeline/decider.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum At {
    /// A handle found the log's lock taken by another (each try of the waiter's loop).
    Blocked,
    /// The waiter took its shared lock on the `-wait` file: the holder will see it.
    Announced,
    /// The waiter could not take it: the holder was checking at that moment.
    AnnounceRefused,
    /// A handle took the log's lock.
    Locked,
    /// The holder has the `-wait` file locked exclusively: it is checking for waiters.
    Checking,
    /// The holder's check found a waiter (the decider will hand the log over).
    FoundWaiter,
    /// The holder's check found none.
    FoundNone,
    /// A handle let the log's lock go.
    Released,
    /// The decider counted a group on the lease and is about to decide it: the group is
    /// pending until its rows are committed.
    Deciding,
    /// The decider has handed the log over and is about to take it again (its head start for
    /// the other handle).
    HeadStart,
}

pub use imp::*;

#[cfg(not(test))]
mod imp {
    use super::At;

    /// Nothing, outside tests.
    pub struct Pauses;

    impl Pauses {
        /// No pause points.
        pub fn none() -> Pauses {
            Pauses
        }

        #[inline(always)]
        pub fn at(&self, _point: At) {}
    }
}

#[cfg(test)]
mod imp {
    use super::At;
    use std::collections::HashSet;
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::{Duration, Instant};

    /// A safety net, not an ordering: a test whose protocol is broken fails after this rather
    /// than hanging.
    const PATIENCE: Duration = Duration::from_secs(30);

    /// What one test's handles share.
    #[derive(Default)]
    pub struct Script {
        state: Mutex<State>,
        changed: Condvar,
    }

    #[derive(Default)]
    struct State {
        /// Every point reached, by which handle, in order (a waiter's `Blocked`, reached on
        /// every try, only when it follows another of its points).
        trace: Vec<(&'static str, At)>,
        /// Points armed: the next thread of that handle to reach one stops there.
        armed: HashSet<(&'static str, At)>,
        /// Threads stopped at a point, until released.
        stopped: HashSet<(&'static str, At)>,
    }

    impl Script {
        pub fn new() -> Arc<Script> {
            Arc::new(Script::default())
        }

        /// The pause points of handle `name`.
        pub fn handle(self: &Arc<Script>, name: &'static str) -> Pauses {
            Pauses(Some((self.clone(), name)))
        }

        /// Makes the next thread of `name` that reaches `point` stop there.
        pub fn arm(&self, name: &'static str, point: At) {
            self.lock().armed.insert((name, point));
        }

        /// Waits until a thread of `name` is stopped at `point` (armed before).
        pub fn reached(&self, name: &'static str, point: At) {
            self.wait_for(&format!("{name} to stop at {point:?}"), |s| {
                s.stopped.contains(&(name, point))
            });
        }

        /// Lets the thread stopped at `point` go on.
        pub fn release(&self, name: &'static str, point: At) {
            let stopped = self.lock().stopped.remove(&(name, point));
            self.changed.notify_all();
            assert!(stopped, "{name} is not stopped at {point:?}");
        }

        /// Waits until `name` has reached `point` (armed or not) since the trace began.
        pub fn passed(&self, name: &'static str, point: At) {
            self.wait_for(&format!("{name} to reach {point:?}"), |s| {
                s.trace.contains(&(name, point))
            });
        }

        /// Every point reached so far, in order.
        pub fn trace(&self) -> Vec<(&'static str, At)> {
            self.lock().trace.clone()
        }

        /// The state; a test that failed while holding it leaves it as it was, so that the
        /// other threads of the test do not fail in turn.
        fn lock(&self) -> std::sync::MutexGuard<'_, State> {
            self.state.lock().unwrap_or_else(|e| e.into_inner())
        }

        fn wait_for(&self, what: &str, done: impl Fn(&State) -> bool) {
            let deadline = Instant::now() + PATIENCE;
            let mut s = self.lock();
            while !done(&s) {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    let trace = s.trace.clone();
                    drop(s);
                    panic!("timed out waiting for {what}: {trace:?}");
                }
                s = self
                    .changed
                    .wait_timeout(s, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
    }

    /// One handle's pause points; inert unless made by [`Script::handle`].
    pub struct Pauses(Option<(Arc<Script>, &'static str)>);

    impl Pauses {
        /// No pause points: what every store outside `handover_tests.rs` has.
        pub fn none() -> Pauses {
            Pauses(None)
        }

        /// Records `point` and, if it is armed for this handle, stops until released.
        pub fn at(&self, point: At) {
            let Some((script, name)) = &self.0 else {
                return;
            };
            let key = (*name, point);
            let mut s = script.lock();
            // A waiter's loop reaches `Blocked` every few milliseconds: once per wait is enough.
            let again =
                point == At::Blocked && s.trace.iter().rev().find(|(n, _)| n == name) == Some(&key);
            if !again {
                s.trace.push(key);
            }
            if s.armed.remove(&key) {
                s.stopped.insert(key);
                script.changed.notify_all();
                while s.stopped.contains(&key) {
                    s = script.changed.wait(s).unwrap_or_else(|e| e.into_inner());
                }
            } else {
                script.changed.notify_all();
            }
        }
    }
}
