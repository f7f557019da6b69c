//! Throttling per principal: at most N requests in any sliding window of a minute.
//!
//! # Why not a GCRA (the `governor` crate)
//!
//! The first version used `governor`, whose generic cell rate algorithm read "100 per minute"
//! as a burst of 100 and then one request every 0.6 s. A client sending 101 requests over five
//! seconds then got all 101 through, where the hosted API (and the test) refuses the
//! 101st request in a minute. A log of each principal's request times over the last window is
//! exact, answers the precise wait for `Retry-After` (until the oldest request leaves the
//! window), and costs N instants per active principal.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Throttle {
    limit: usize,
    window: Duration,
    log: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    pub fn new(limit: usize, window: Duration) -> Throttle {
        Throttle {
            limit,
            window,
            log: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request of `key` now, or says how long until one would be let through.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut log = self.log.lock().expect("throttle log");
        let times = match log.get_mut(key) {
            Some(t) => t,
            None => log.entry(key.to_owned()).or_default(),
        };
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        if times.len() < self.limit {
            times.push_back(now);
            Ok(())
        } else {
            let oldest = *times.front().expect("limit is at least 1");
            Err(self.window - now.duration_since(oldest))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_in_every_window_and_the_wait_is_exact() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        assert!(t.check_at("a", at(0)).is_ok());
        assert!(t.check_at("a", at(10)).is_ok());
        assert!(t.check_at("a", at(20)).is_ok());
        // The fourth in the window waits until the first leaves it.
        assert_eq!(t.check_at("a", at(30)), Err(Duration::from_secs(30)));
        // Another key is not affected.
        assert!(t.check_at("b", at(30)).is_ok());
        // Refused requests are not counted: at 60 the first has left, one place is free.
        assert!(t.check_at("a", at(60)).is_ok());
        assert_eq!(t.check_at("a", at(61)), Err(Duration::from_secs(9)));
        assert!(t.check_at("a", at(70)).is_ok());
    }
}
