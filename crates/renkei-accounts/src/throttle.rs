//! Per-source throttling of failed sign-ins: a token bucket per client address, so one
//! client guessing across many accounts is slowed, whatever the accounts. In memory
//! (per process) and bounded: the oldest sources are forgotten first.
//!
//! Hand-written rather than a rate-limiting crate because it counts *failures* (known
//! only after the password check), not requests; the request rate limit in front of the
//! server is a separate layer.

use std::collections::HashMap;
use std::sync::Mutex;

/// Sources remembered at most.
const MAX_SOURCES: usize = 100_000;

/// One bucket per source: `tokens` failures left, refilled one per `refill_secs`.
pub(crate) struct SourceThrottle {
    burst: f64,
    refill_secs: f64,
    buckets: Mutex<HashMap<String, (f64, i64)>>,
}

impl SourceThrottle {
    pub(crate) fn new(burst: i64, refill_secs: i64) -> Self {
        Self {
            burst: burst.max(1) as f64,
            refill_secs: refill_secs.max(1) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn level(&self, (tokens, at): (f64, i64), now_secs: i64) -> f64 {
        (tokens + (now_secs - at).max(0) as f64 / self.refill_secs).min(self.burst)
    }

    /// Whether `source` may try now.
    pub(crate) fn allows(&self, source: &str, now_secs: i64) -> bool {
        let Ok(b) = self.buckets.lock() else {
            return true;
        };
        b.get(source)
            .is_none_or(|v| self.level(*v, now_secs) >= 1.0)
    }

    /// Counts a failure from `source`.
    pub(crate) fn failed(&self, source: &str, now_secs: i64) {
        let Ok(mut b) = self.buckets.lock() else {
            return;
        };
        if b.len() >= MAX_SOURCES
            && !b.contains_key(source)
            && let Some(oldest) = b
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone())
        {
            b.remove(&oldest);
        }
        let cur = b
            .get(source)
            .map_or(self.burst, |v| self.level(*v, now_secs));
        b.insert(source.to_owned(), ((cur - 1.0).max(0.0), now_secs));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_period() {
        let t = SourceThrottle::new(3, 60);
        for _ in 0..3 {
            assert!(t.allows("a", 0));
            t.failed("a", 0);
        }
        assert!(!t.allows("a", 0), "the burst is spent");
        assert!(t.allows("b", 0), "other sources are untouched");
        assert!(!t.allows("a", 59));
        assert!(t.allows("a", 60), "one failure forgiven per period");
        t.failed("a", 60);
        assert!(!t.allows("a", 60));
        assert!(t.allows("a", 400));
    }
}
