//! Sliding windows: at most N events per key in any window of a given length. The HTTP edge
//! throttles each principal's requests with one; the sign-in guard counts failed attempts per
//! name and per address with two more.
//!
//! # Why not a GCRA (the `governor` crate)
//!
//! The first version used `governor`, whose generic cell rate algorithm read "100 per minute"
//! as a burst of 100 and then one request every 0.6 s. A client sending 101 requests over five
//! seconds then got all 101 through, where the hosted API (and the test) refuses the
//! 101st request in a minute. A log of each principal's request times over the last window is
//! exact, answers the precise wait for `Retry-After` (until the oldest request leaves the
//! window), and costs N instants per active principal.
//!
//! A key whose events have all left the window is forgotten: at the first check once a window
//! has passed since the last sweep, and whenever the map doubles in size. So an idle principal
//! is held for at most two windows, and keys made up by a client (a client id that does not
//! exist, an address) cannot grow the map without bound.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Throttle {
    limit: usize,
    window: Duration,
    log: Mutex<Log>,
}

struct Log {
    times: HashMap<String, VecDeque<Instant>>,
    /// When the map reaches this many keys, keys with no event left in the window are
    /// dropped: keys may come from anyone (a client id that does not exist, an address), so
    /// the map must not keep every one it ever saw.
    prune_at: usize,
    /// When keys with no event left in the window were last dropped. They are dropped again a
    /// window later whatever the size of the map: below `prune_at`, the idle principals of a
    /// long-running service would otherwise stay for ever, each with its last N instants.
    swept: Option<Instant>,
}

/// Keys longer than this are cut: a key is a name from a request, and a megabyte-long one
/// must not be kept as it came.
const MAX_KEY: usize = 256;

impl Throttle {
    pub fn new(limit: usize, window: Duration) -> Throttle {
        Throttle {
            limit: limit.max(1),
            window,
            log: Mutex::new(Log {
                times: HashMap::new(),
                prune_at: 1024,
                swept: None,
            }),
        }
    }

    /// Counts an event of `key` now, or says how long until one would be let through.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now(), true)
    }

    /// Whether an event of `key` would be let through now, without counting one.
    pub fn peek(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now(), false)
    }

    /// Counts an event of `key` now and answers its time (for [`Throttle::give_back`]), or
    /// says how long until one would be let through.
    pub fn take(&self, key: &str) -> Result<Instant, Duration> {
        let now = Instant::now();
        self.check_at(key, now, true).map(|()| now)
    }

    /// Uncounts the event of `key` counted at `at` (if it is still in the window).
    pub fn give_back(&self, key: &str, at: Instant) {
        let mut log = self.log.lock().expect("throttle log");
        // A key already forgotten has nothing left to give back.
        if let Some(times) = log.times.get_mut(cut(key)) {
            if let Some(i) = times.iter().rposition(|t| *t == at) {
                times.remove(i);
            }
        }
    }

    /// How many keys are remembered.
    pub fn keys(&self) -> usize {
        self.log.lock().expect("throttle log").times.len()
    }

    fn check_at(&self, key: &str, now: Instant, count: bool) -> Result<(), Duration> {
        let mut log = self.log.lock().expect("throttle log");
        log.prune(now, self.window);
        let times = log.entry(key);
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        if times.len() < self.limit {
            if count {
                times.push_back(now);
            }
            Ok(())
        } else {
            let oldest = *times.front().expect("limit is at least 1");
            Err(self.window - now.duration_since(oldest))
        }
    }
}

impl Log {
    fn entry(&mut self, key: &str) -> &mut VecDeque<Instant> {
        let key = cut(key);
        if !self.times.contains_key(key) {
            self.times.insert(key.to_owned(), VecDeque::new());
        }
        self.times.get_mut(key).expect("inserted above")
    }

    fn prune(&mut self, now: Instant, window: Duration) {
        let due = self.swept.is_none_or(|at| now.duration_since(at) >= window);
        if self.times.len() < self.prune_at && !due {
            return;
        }
        self.times.retain(|_, t| {
            t.back()
                .is_some_and(|last| now.duration_since(*last) < window)
        });
        // Twice what is left: pruning stays proportional to the keys added since.
        self.prune_at = (self.times.len() * 2).max(1024);
        self.swept = Some(now);
    }
}

/// `key`, cut to at most [`MAX_KEY`] bytes at a character boundary.
fn cut(key: &str) -> &str {
    &key[..key.floor_char_boundary(MAX_KEY)]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `{prefix}-0` to `{prefix}-{n - 1}` once each at `at`, as new clients would.
    fn check_new_keys(t: &Throttle, prefix: &str, n: usize, at: Instant) {
        for i in 0..n {
            t.check_at(&format!("{prefix}-{i}"), at, true).unwrap();
        }
    }

    #[test]
    fn the_limit_holds_in_every_window_and_the_wait_is_exact() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        assert!(t.check_at("a", at(0), true).is_ok());
        assert!(t.check_at("a", at(10), true).is_ok());
        assert!(t.check_at("a", at(20), true).is_ok());
        // The fourth in the window waits until the first leaves it.
        assert_eq!(t.check_at("a", at(30), true), Err(Duration::from_secs(30)));
        // Another key is not affected.
        assert!(t.check_at("b", at(30), true).is_ok());
        // Refused requests are not counted: at 60 the first has left, one place is free.
        assert!(t.check_at("a", at(60), true).is_ok());
        assert_eq!(t.check_at("a", at(61), true), Err(Duration::from_secs(9)));
        assert!(t.check_at("a", at(70), true).is_ok());
    }

    #[test]
    fn keys_of_the_past_are_forgotten() {
        let t = Throttle::new(1, Duration::from_secs(60));
        let start = Instant::now();
        check_new_keys(&t, "client", 5000, start);
        // A minute later, as new keys come, the old ones (whose events left the window) go:
        // the map holds at most about twice the keys of one window.
        let later = start + Duration::from_secs(61);
        check_new_keys(&t, "later", 5000, later);
        assert!(t.keys() <= 5000, "{} keys kept", t.keys());
        // A long key is kept cut, and is the same key however long it was.
        let long = "x".repeat(10_000);
        t.check_at(&long, later, true).unwrap();
        assert!(t.check_at(&format!("{long}y"), later, true).is_err());
    }

    #[test]
    fn idle_keys_are_forgotten_however_few_there_are() {
        let t = Throttle::new(5, Duration::from_secs(60));
        let start = Instant::now();
        check_new_keys(&t, "client", 10, start);
        assert_eq!(t.keys(), 10);
        // Within the window they are all still counted.
        t.check_at("client-0", start + Duration::from_secs(59), true)
            .unwrap();
        assert_eq!(t.keys(), 10);
        // Once their events have left the window, the next check of anyone forgets them,
        // although the map is far below the size that prunes it.
        t.check_at("another", start + Duration::from_secs(121), true)
            .unwrap();
        assert_eq!(t.keys(), 1);
        // Giving back an event of a forgotten key does not bring the key back.
        t.give_back("client-1", start);
        assert_eq!(t.keys(), 1);
    }

    #[test]
    fn peek_does_not_count_take_does_and_give_back_uncounts() {
        let t = Throttle::new(2, Duration::from_secs(60));
        assert!(t.peek("a").is_ok());
        let first = t.take("a").unwrap();
        t.take("a").unwrap();
        assert!(t.peek("a").is_err());
        assert!(t.take("a").is_err());
        assert!(t.peek("b").is_ok());
        t.give_back("a", first);
        assert!(t.peek("a").is_ok());
    }
}
