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
//!   checked, the right secret too, until the oldest failure leaves the window. An attempt
//!   counts as a failure from the moment it is let through ([`SignInGuard::admit`]) and is
//!   given back only when it succeeds: a client that sends a guess and hangs up before the
//!   answer has still cost a hash, and must not get it for free.
//! - **An address is a network, not a host.** IPv6 hands each host a /64 to pick addresses
//!   from, so the per-address count is kept per /64; an IPv4 address seen as IPv6
//!   (`::ffff:a.b.c.d`) is the IPv4 address.
//! - **A client that signed in from an address recently is not locked out by other
//!   addresses' failures**: otherwise anyone who knows a client id could keep the real client
//!   out with ten wrong guesses a minute. Its own failures still count against its address.
//! - **An unknown name costs what a known one costs**: its secret is checked against a decoy
//!   hash made at start with the same parameters, so the time of an answer does not say
//!   whether the name exists.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// When each (name, address) pair last signed in.
    trusted: Mutex<HashMap<(String, String), Instant>>,
    decoy: Arc<str>,
}

/// How long a successful sign-in from an address exempts that name there from the per-name
/// lockout.
const TRUSTED_FOR: Duration = Duration::from_secs(24 * 3600);

/// At most this many (name, address) pairs are remembered; past it, the oldest are forgotten.
const MAX_TRUSTED: usize = 16_384;

/// An attempt let through by [`SignInGuard::admit`]: counted as a failure unless
/// [`Attempt::succeeded`] is called.
#[must_use = "an attempt counts as a failure unless it is marked as a success"]
pub struct Attempt<'g> {
    guard: &'g SignInGuard,
    name: String,
    address: String,
    /// When its failure was counted against the name, if it was (a trusted pair's is not).
    by_name: Option<Instant>,
    by_address: Instant,
}

impl Attempt<'_> {
    /// No secret was checked after all (the service was busy, or failed): the attempt is
    /// not counted.
    pub fn withdraw(self) {
        self.give_back();
    }

    /// The secret was right: the attempt is not a failure after all, and the pair is trusted.
    pub fn succeeded(self) {
        self.give_back();
        let g = self.guard;
        let mut trusted = g.trusted.lock().expect("trusted pairs");
        if trusted.len() >= MAX_TRUSTED {
            let now = Instant::now();
            trusted.retain(|_, at| now.duration_since(*at) < TRUSTED_FOR);
            while trusted.len() >= MAX_TRUSTED {
                let oldest = trusted
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| k.clone())
                    .expect("not empty");
                trusted.remove(&oldest);
            }
        }
        trusted.insert((self.name, self.address), Instant::now());
    }
}

impl Attempt<'_> {
    fn give_back(&self) {
        if let Some(at) = self.by_name {
            self.guard.by_name.give_back(&self.name, at);
        }
        self.guard
            .by_address
            .give_back(&self.address, self.by_address);
    }
}

/// The key an address is counted under: an IPv4 address, or an IPv6 address's /64.
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
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
            trusted: Mutex::new(HashMap::new()),
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

    /// Lets an attempt for `name` from `address` be checked now, counting it as a failure
    /// until it succeeds; or says how long until one may be.
    pub fn admit(&self, name: &str, address: IpAddr) -> Result<Attempt<'_>, Duration> {
        let address = address_key(address);
        let trusted = self
            .trusted
            .lock()
            .expect("trusted pairs")
            .get(&(name.to_owned(), address.clone()))
            .is_some_and(|at| at.elapsed() < TRUSTED_FOR);
        let by_name = if trusted {
            None
        } else {
            match self.by_name.take(name) {
                Ok(at) => Some(at),
                Err(wait) => {
                    // Refused for the name; the address may be over its limit too.
                    return Err(self
                        .by_address
                        .peek(&address)
                        .err()
                        .map_or(wait, |w| w.max(wait)));
                }
            }
        };
        match self.by_address.take(&address) {
            Ok(by_address) => Ok(Attempt {
                guard: self,
                name: name.to_owned(),
                address,
                by_name,
                by_address,
            }),
            Err(wait) => {
                if let Some(at) = by_name {
                    self.by_name.give_back(name, at);
                }
                Err(wait)
            }
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

    /// [`verify`](Self::verify), awaited without holding a thread, and `attempt` settled by
    /// it: succeeded on a match, withdrawn when the check could not even be queued (then it
    /// cost nothing and is no failure), a failure otherwise.
    pub async fn check(
        &self,
        attempt: Attempt<'_>,
        secret: String,
        hash: Option<String>,
    ) -> Result<bool, Busy> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Err(busy) = self.verify(secret, hash, move |ok| {
            let _ = tx.send(ok);
        }) {
            attempt.withdraw();
            return Err(busy);
        }
        let right = rx.await == Ok(true);
        if right {
            attempt.succeeded();
        }
        Ok(right)
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
        let g = locking_after(3, 5);
        for _ in 0..3 {
            // Let through and never marked as a success: a failure (or a client that hung up).
            let _failed = g.admit("client", ip("10.0.0.1")).unwrap();
        }
        // The name is locked, from any address; another name is not, until the address has
        // failed as often as it may.
        assert!(g.admit("client", ip("10.0.0.2")).is_err());
        let _ = g.admit("other", ip("10.0.0.1")).unwrap();
        let _ = g.admit("other", ip("10.0.0.1")).unwrap();
        assert!(g.admit("third", ip("10.0.0.1")).is_err());
        assert!(g.admit("third", ip("10.0.0.3")).is_ok());
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A guard of one checking thread that locks a name out after `per_name` failures in a
    /// minute, and an address after `per_address`.
    fn locking_after(per_name: usize, per_address: usize) -> SignInGuard {
        let limits = FailureLimits {
            per_name,
            per_address,
            window: Duration::from_secs(60),
        };
        SignInGuard::new(1, 4, limits).unwrap()
    }

    #[test]
    fn a_success_is_given_back_and_its_address_is_not_locked_out_by_others() {
        let g = locking_after(2, 100);
        // Successes do not count: the real client signs in as often as it likes.
        for _ in 0..5 {
            g.admit("client", ip("10.0.0.1")).unwrap().succeeded();
        }
        // Someone elsewhere guesses until the name is locked...
        let _ = g.admit("client", ip("192.0.2.9")).unwrap();
        let _ = g.admit("client", ip("192.0.2.9")).unwrap();
        assert!(g.admit("client", ip("192.0.2.10")).is_err());
        // ...but not for the address the client signed in from.
        g.admit("client", ip("10.0.0.1")).unwrap().succeeded();
    }

    #[test]
    fn an_ipv6_network_is_one_address_and_mapped_ipv4_is_ipv4() {
        assert_eq!(
            address_key(ip("2001:db8:1:2:aaaa::1")),
            address_key(ip("2001:db8:1:2:bbbb::7"))
        );
        assert_ne!(
            address_key(ip("2001:db8:1:2::1")),
            address_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(address_key(ip("::ffff:10.1.2.3")), "10.1.2.3");
        let g = locking_after(100, 2);
        let _ = g.admit("a", ip("2001:db8::1")).unwrap();
        let _ = g.admit("b", ip("2001:db8::2")).unwrap();
        assert!(g.admit("c", ip("2001:db8::3")).is_err());
    }
}
