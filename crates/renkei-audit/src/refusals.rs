//! Repeated anonymous refusals, folded. A client looping on a page it may not see would
//! otherwise add a durable, unprunable row per request: tens of thousands a second,
//! until the disk fills and every audited change refuses. So refusals of callers who
//! are not signed in are grouped by (client, action, object, reason) in windows of a
//! minute: the first of a window is recorded at once, as any refusal; the rest are
//! counted, and one entry says how many when the window has passed (or at shutdown).
//!
//! What is traded: a refusal after the first of its window is durable only when its
//! window's summary is written, so a crash loses at most a minute of *counts* of
//! refusals of the same kind from the same client, never the first.

use renkei_core::{AuditEvent, Outcome, Timestamp};
use std::collections::HashMap;
use std::sync::Mutex;

/// The window over which repeats are folded.
pub(crate) const WINDOW_SECS: i64 = 60;
/// Keys held at most; beyond, every pending count is written out first.
const MAX_KEYS: usize = 10_000;

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    client: String,
    action: &'static str,
    object: String,
    reason: String,
}

struct Pending {
    first: AuditEvent,
    window_start: Timestamp,
    repeats: u64,
}

#[derive(Default)]
pub(crate) struct Refusals {
    pending: Mutex<HashMap<Key, Pending>>,
}

/// What to write now.
pub(crate) struct Writes {
    /// The event itself, when it opens a window (or is not folded at all).
    pub(crate) event: Option<AuditEvent>,
    /// Summaries of windows that have ended.
    pub(crate) summaries: Vec<AuditEvent>,
}

fn folded(ev: &AuditEvent) -> bool {
    ev.actor.id == "anonymous" && matches!(ev.outcome, Outcome::Denied { .. })
}

fn summary(p: Pending) -> AuditEvent {
    let mut s = p.first;
    s.detail = serde_json::json!({
        "repeated": p.repeats,
        "window_start": p.window_start.to_rfc3339(),
        "window_secs": WINDOW_SECS,
    });
    s
}

impl Refusals {
    /// Decides what `ev` (a refusal about to be recorded at `now`) writes.
    pub(crate) fn admit(&self, ev: AuditEvent, now: Timestamp) -> Writes {
        if !folded(&ev) {
            return Writes {
                event: Some(ev),
                summaries: Vec::new(),
            };
        }
        let key = Key {
            client: ev.client.clone(),
            action: ev.action.code(),
            object: ev.object.clone(),
            reason: ev.outcome.reason().to_owned(),
        };
        let Ok(mut map) = self.pending.lock() else {
            return Writes {
                event: Some(ev),
                summaries: Vec::new(),
            };
        };
        let mut summaries = Vec::new();
        if map.len() >= MAX_KEYS && !map.contains_key(&key) {
            summaries.extend(
                map.drain()
                    .map(|(_, p)| p)
                    .filter(|p| p.repeats > 0)
                    .map(summary),
            );
        }
        match map.get_mut(&key) {
            Some(p) if now.secs() - p.window_start.secs() < WINDOW_SECS => {
                p.repeats += 1;
                return Writes {
                    event: None,
                    summaries,
                };
            }
            Some(_) => {
                if let Some(old) = map.remove(&key).filter(|p| p.repeats > 0) {
                    summaries.push(summary(old));
                }
            }
            None => {}
        }
        map.insert(
            key,
            Pending {
                first: ev.clone(),
                window_start: now,
                repeats: 0,
            },
        );
        Writes {
            event: Some(ev),
            summaries,
        }
    }

    /// Summaries of the windows ended by `now` (all of them with `all`), forgetting
    /// those windows.
    pub(crate) fn due(&self, now: Timestamp, all: bool) -> Vec<AuditEvent> {
        let Ok(mut map) = self.pending.lock() else {
            return Vec::new();
        };
        let ended: Vec<Key> = map
            .iter()
            .filter(|(_, p)| all || now.secs() - p.window_start.secs() >= WINDOW_SECS)
            .map(|(k, _)| k.clone())
            .collect();
        ended
            .into_iter()
            .filter_map(|k| map.remove(&k))
            .filter(|p| p.repeats > 0)
            .map(summary)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_core::{Action, Actor};

    fn refusal(client: &str) -> AuditEvent {
        AuditEvent::new(
            Actor::anonymous(None),
            Action::HttpAccess,
            "route:GET /home",
            Outcome::denied("not_signed_in"),
        )
        .client(client)
    }

    #[test]
    fn the_first_of_a_window_is_written_the_rest_counted() {
        let r = Refusals::default();
        let t0 = Timestamp::from_secs(1_000_000);
        assert!(r.admit(refusal("a"), t0).event.is_some());
        for i in 1..=500 {
            let w = r.admit(refusal("a"), t0.plus_secs(i % 59));
            assert!(w.event.is_none() && w.summaries.is_empty());
        }
        assert!(
            r.admit(refusal("b"), t0).event.is_some(),
            "another client is not folded with a"
        );
        assert!(r.due(t0.plus_secs(30), false).is_empty());
        let s = r.due(t0.plus_secs(60), false);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].detail["repeated"], 500);
        assert_eq!(s[0].client, "a");
        // A new window opens with a written refusal again.
        assert!(r.admit(refusal("a"), t0.plus_secs(61)).event.is_some());
    }

    #[test]
    fn signed_in_refusals_and_allowed_events_are_never_folded() {
        let r = Refusals::default();
        let t0 = Timestamp::from_secs(1_000_000);
        let mut ev = refusal("a");
        ev.actor = Actor::cli("op", "audit");
        for _ in 0..3 {
            assert!(r.admit(ev.clone(), t0).event.is_some());
        }
    }
}
