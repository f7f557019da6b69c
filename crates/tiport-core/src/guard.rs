//! Checking secrets (a client's at the token endpoint; next, a user's at sign-in) without
//! becoming an amplifier or an oracle.
//!
//! # Key decisions
//!
//! - **A fixed pool of hashing threads.** Verifying an argon2id hash takes about 19 MiB and
//!   tens of milliseconds of CPU. Run on whatever thread asked, 64 concurrent wrong secrets
//!   held a gigabyte, and the allocator kept it. Here a few threads (one per core, at most
//!   four) do every check, with a short queue in front of them; when it is full the caller is
//!   told to come back later ([`Busy`]) instead of queueing without bound.
//! - **Failures are throttled per name and per address**, in sliding windows: past the limit,
//!   every attempt for that name (or from that address) is refused without a hash being
//!   checked, the right secret too, until the oldest failure leaves the window.
//! - **An unknown name costs what a known one costs**: its secret is checked against a decoy
//!   hash made at start with the same parameters, so the time of an answer does not say
//!   whether the name exists.

use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{self, AuthError};
use crate::throttle::Throttle;

/// How many failures are allowed, and where.
#[derive(Debug, Clone)]
pub struct FailureLimits {
    /// Failed attempts per name (a client id, a user name) in any window.
    pub per_name: usize,
    /// Failed attempts per source address in any window.
    pub per_address: usize,
    pub window: Duration,
}

impl Default for FailureLimits {
    fn default() -> Self {
        FailureLimits {
            per_name: 10,
            per_address: 30,
            window: Duration::from_secs(60),
        }
    }
}

/// Every hashing thread is busy and the queue in front of them is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

type Check = Box<dyn FnOnce() + Send>;

/// See the module documentation.
pub struct SignInGuard {
    queue: SyncSender<Check>,
    by_name: Throttle,
    by_address: Throttle,
    decoy: Arc<str>,
}

impl SignInGuard {
    /// Starts `threads` hashing threads with room for `queued` checks waiting.
    pub fn new(
        threads: usize,
        queued: usize,
        limits: FailureLimits,
    ) -> Result<SignInGuard, AuthError> {
        let (queue, jobs) = mpsc::sync_channel::<Check>(queued);
        let jobs = Arc::new(std::sync::Mutex::new(jobs));
        for i in 0..threads.max(1) {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("secret-check-{i}"))
                .spawn(move || loop {
                    let job = match jobs.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })
                .map_err(|e| AuthError::Key(format!("cannot start a hashing thread: {e}")))?;
        }
        let decoy = auth::hash_secret(&auth::random_secret()?)?;
        Ok(SignInGuard {
            queue,
            by_name: Throttle::new(limits.per_name, limits.window),
            by_address: Throttle::new(limits.per_address, limits.window),
            decoy: decoy.into(),
        })
    }

    /// A guard sized for this machine: a thread per core (at most four), eight checks waiting
    /// per thread.
    pub fn for_this_machine(limits: FailureLimits) -> Result<SignInGuard, AuthError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = cores.clamp(1, 4);
        SignInGuard::new(threads, threads * 8, limits)
    }

    /// Whether an attempt for `name` from `address` may be checked now; if not, how long
    /// until it may.
    pub fn admit(&self, name: &str, address: &str) -> Result<(), Duration> {
        let by_name = self.by_name.peek(name);
        let by_address = self.by_address.peek(address);
        match (by_name, by_address) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(a.max(b)),
            (Err(w), _) | (_, Err(w)) => Err(w),
        }
    }

    /// Checks `secret` against `hash` on a hashing thread, or against the decoy when there is
    /// no hash (an unknown name), and calls `done` with the verdict there.
    pub fn verify(
        &self,
        secret: String,
        hash: Option<String>,
        done: impl FnOnce(bool) + Send + 'static,
    ) -> Result<(), Busy> {
        let decoy = self.decoy.clone();
        let check: Check = Box::new(move || {
            let verdict = match &hash {
                Some(h) => auth::verify_secret(&secret, h),
                None => {
                    // Same work, and never a match.
                    let _ = auth::verify_secret(&secret, &decoy);
                    false
                }
            };
            done(verdict);
        });
        match self.queue.try_send(check) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(Busy),
        }
    }

    /// Counts a failed attempt for `name` from `address`.
    pub fn failed(&self, name: &str, address: &str) {
        self.by_name.record(name);
        self.by_address.record(address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(g: &SignInGuard, secret: &str, hash: Option<&str>) -> bool {
        let (tx, rx) = mpsc::channel();
        g.verify(secret.into(), hash.map(str::to_owned), move |v| {
            let _ = tx.send(v);
        })
        .unwrap();
        rx.recv().unwrap()
    }

    #[test]
    fn checks_secrets_and_unknown_names_never_match() {
        let g = SignInGuard::new(1, 4, FailureLimits::default()).unwrap();
        let hash = auth::hash_secret("right").unwrap();
        assert!(verdict(&g, "right", Some(&hash)));
        assert!(!verdict(&g, "wrong", Some(&hash)));
        assert!(!verdict(&g, "right", None));
    }

    #[test]
    fn a_full_queue_is_busy_not_a_longer_queue() {
        let g = SignInGuard::new(1, 1, FailureLimits::default()).unwrap();
        let (release, hold) = mpsc::channel::<()>();
        // The one thread is held, one check waits, the next is refused.
        g.verify(String::new(), None, move |_| {
            let _ = hold.recv();
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        g.verify(String::new(), None, |_| {}).unwrap();
        assert_eq!(g.verify(String::new(), None, |_| {}), Err(Busy));
        release.send(()).unwrap();
    }

    #[test]
    fn failures_lock_a_name_and_an_address_out() {
        let limits = FailureLimits {
            per_name: 3,
            per_address: 5,
            window: Duration::from_secs(60),
        };
        let g = SignInGuard::new(1, 4, limits).unwrap();
        for _ in 0..3 {
            assert!(g.admit("client", "10.0.0.1").is_ok());
            g.failed("client", "10.0.0.1");
        }
        // The name is locked, from any address; another name is not, until the address has
        // failed as often as it may.
        assert!(g.admit("client", "10.0.0.2").is_err());
        assert!(g.admit("other", "10.0.0.1").is_ok());
        g.failed("other", "10.0.0.1");
        g.failed("other", "10.0.0.1");
        assert!(g.admit("third", "10.0.0.1").is_err());
        assert!(g.admit("third", "10.0.0.3").is_ok());
    }
}
