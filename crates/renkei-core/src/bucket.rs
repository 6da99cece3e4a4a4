//! Token buckets keyed by a string (a client address): a burst, then a steady rate.
//! Pure logic over the times it is given, bounded in memory (the least recently used
//! keys are forgotten first). Used for per-client request rates and for failed
//! sign-ins.
//!
//! Hand-written rather than a rate-limiting crate: it must count events known only
//! after the fact (a failed password), run on the platform's `Clock` in tests, and stay
//! free of I/O here in `renkei-core`.

use std::collections::HashMap;
use std::sync::Mutex;

/// Keys held at most.
const MAX_KEYS: usize = 100_000;

/// Token buckets: each key may spend `burst` at once, refilled by `per_sec`.
pub struct Buckets {
    burst: f64,
    per_sec: f64,
    /// Tokens left, at the time (seconds) they were counted.
    state: Mutex<HashMap<String, (f64, f64)>>,
}

impl Buckets {
    /// Buckets of `burst` tokens refilled at `per_sec`.
    pub fn new(burst: f64, per_sec: f64) -> Self {
        Self {
            burst: burst.max(1.0),
            per_sec: per_sec.max(f64::MIN_POSITIVE),
            state: Mutex::new(HashMap::new()),
        }
    }

    fn level(&self, (tokens, at): (f64, f64), now: f64) -> f64 {
        (tokens + (now - at).max(0.0) * self.per_sec).min(self.burst)
    }

    /// Whether `key` has a token at `now` (seconds), without spending it.
    pub fn has(&self, key: &str, now: f64) -> bool {
        let Ok(s) = self.state.lock() else {
            return true;
        };
        s.get(key).is_none_or(|v| self.level(*v, now) >= 1.0)
    }

    /// Spends one of `key`'s tokens at `now` if it has one; says whether it had.
    pub fn take(&self, key: &str, now: f64) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return true;
        };
        if s.len() >= MAX_KEYS
            && !s.contains_key(key)
            && let Some(oldest) = s
                .iter()
                .min_by(|a, b| a.1.1.total_cmp(&b.1.1))
                .map(|(k, _)| k.clone())
        {
            s.remove(&oldest);
        }
        let cur = s.get(key).map_or(self.burst, |v| self.level(*v, now));
        if cur < 1.0 {
            s.insert(key.to_owned(), (cur, now));
            return false;
        }
        s.insert(key.to_owned(), (cur - 1.0, now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let b = Buckets::new(3.0, 1.0 / 60.0);
        for _ in 0..3 {
            assert!(b.has("a", 0.0));
            assert!(b.take("a", 0.0));
        }
        assert!(!b.has("a", 0.0) && !b.take("a", 0.0), "the burst is spent");
        assert!(b.take("b", 0.0), "other keys are untouched");
        assert!(!b.take("a", 59.0));
        assert!(b.take("a", 60.5), "one more per period");
        assert!(!b.take("a", 61.0));
        assert!(b.has("a", 400.0));
    }
}
