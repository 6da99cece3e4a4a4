//! Time as a parameter. Code that needs "now" takes a [`Clock`], so permit expiry,
//! session timeouts and audit timestamps can be tested with a clock the test controls.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Microseconds since the Unix epoch, UTC. Stored as a plain integer in every backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From whole seconds.
    pub fn from_secs(s: i64) -> Self {
        Self(s.saturating_mul(1_000_000))
    }
    /// Whole seconds (floor).
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }
    /// Microseconds.
    pub fn micros(self) -> i64 {
        self.0
    }
    /// This time plus `secs` seconds.
    pub fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1_000_000)))
    }
    /// RFC 3339 in UTC with microseconds, e.g. `2026-11-25T03:04:05.123456Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => t
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| self.0.to_string()),
            Err(_) => self.0.to_string(),
        }
    }
    /// Parses RFC 3339 (`2026-11-25T00:00:00Z`) or a plain date (`2026-11-25`, midnight UTC).
    pub fn parse(s: &str) -> Option<Self> {
        use time::format_description::well_known::Rfc3339;
        if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
            return i64::try_from(t.unix_timestamp_nanos() / 1000)
                .ok()
                .map(Self);
        }
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        let d = time::Date::parse(s, &fmt).ok()?;
        Some(Self::from_secs(d.midnight().assume_utc().unix_timestamp()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        #[allow(clippy::disallowed_methods)] // The one place the real clock is read.
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
    }
}

/// A clock that moves only when told to. For tests.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Starts at `t`.
    pub fn new(t: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(t.0)))
    }
    /// Moves forward by `secs` seconds.
    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1_000_000, Ordering::SeqCst);
    }
    /// Jumps to `t`.
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let t = Timestamp(1_795_000_000_123_456);
        let s = t.to_rfc3339();
        assert_eq!(Timestamp::parse(&s), Some(t));
        assert_eq!(
            Timestamp::parse("2026-11-25"),
            Some(Timestamp::from_secs(1_795_564_800))
        );
        assert_eq!(Timestamp::parse("yesterday"), None);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Timestamp::from_secs(100));
        assert_eq!(c.now().secs(), 100);
        c.advance_secs(5);
        assert_eq!(c.now().secs(), 105);
    }
}
