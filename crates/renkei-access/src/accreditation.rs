//! Accredited users (A8): who may be named on a permit, and until when.
//!
//! An accreditation records the training completed, the signed pledge of the user's
//! obligations, the institution and its safety measures, and an expiry date. Access is
//! checked against it on every request, not only when a permit is issued, so
//! [`standing`] is cheap and answers for one day.

use serde::{Deserialize, Serialize};
use time::Date;

/// Days before expiry at which the holder is warned.
pub const WARN_DAYS: [i64; 2] = [30, 7];

/// One person's accreditation as recorded by the secretariat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accreditation {
    /// The accredited user.
    pub user: String,
    /// The training course completed.
    pub course: String,
    /// When it was completed.
    pub trained_on: Option<Date>,
    /// When the pledge of the user's obligations was signed.
    pub pledge_signed_on: Option<Date>,
    /// The institution the person works for.
    pub institution: String,
    /// The institution's safety measures, as declared.
    pub safety_measures: String,
    /// The last day it is valid.
    pub expires_on: Date,
    /// Revoked (for misuse), with the day and the reason: access stops at once.
    pub revoked: Option<(Date, String)>,
}

/// What an accreditation lacks before it can be current.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// No training recorded.
    Training,
    /// No signed pledge.
    Pledge,
    /// No institution named.
    Institution,
    /// The institution's safety measures are not described.
    SafetyMeasures,
}

impl Missing {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            Missing::Training => "training",
            Missing::Pledge => "pledge",
            Missing::Institution => "institution",
            Missing::SafetyMeasures => "safety_measures",
        }
    }
}

/// Where a person stands on a given day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "standing")]
pub enum Standing {
    /// No accreditation at all.
    None,
    /// Recorded, but something is missing (every missing part is named).
    Incomplete {
        /// What is missing.
        missing: Vec<Missing>,
    },
    /// Current: the person may be named and may reach data their permits allow.
    Current {
        /// Days left, the expiry day included.
        days_left: i64,
        /// The warning due (30 or 7 days before expiry), if any.
        warning: Option<i64>,
    },
    /// Past its expiry day.
    Expired {
        /// The last valid day.
        on: Date,
    },
    /// Revoked.
    Revoked {
        /// When.
        on: Date,
    },
}

impl Standing {
    /// Whether the person may be named on a permit and reach data today.
    pub fn is_current(&self) -> bool {
        matches!(self, Standing::Current { .. })
    }

    /// Stable code of a standing that is not current (the reason access is refused).
    pub fn refusal(&self) -> Option<&'static str> {
        match self {
            Standing::Current { .. } => None,
            Standing::None => Some("not_accredited"),
            Standing::Incomplete { .. } => Some("accreditation_incomplete"),
            Standing::Expired { .. } => Some("accreditation_expired"),
            Standing::Revoked { .. } => Some("accreditation_revoked"),
        }
    }
}

/// Where the holder of `acc` stands on `today`. A revocation outranks everything; a
/// revocation dated in the future (recorded ahead) takes effect on its day.
pub fn standing(acc: Option<&Accreditation>, today: Date) -> Standing {
    let Some(a) = acc else {
        return Standing::None;
    };
    if let Some((on, _)) = &a.revoked
        && *on <= today
    {
        return Standing::Revoked { on: *on };
    }
    let mut missing = Vec::new();
    if a.course.trim().is_empty() || a.trained_on.is_none_or(|d| d > today) {
        missing.push(Missing::Training);
    }
    if a.pledge_signed_on.is_none_or(|d| d > today) {
        missing.push(Missing::Pledge);
    }
    if a.institution.trim().is_empty() {
        missing.push(Missing::Institution);
    }
    if a.safety_measures.trim().is_empty() {
        missing.push(Missing::SafetyMeasures);
    }
    if !missing.is_empty() {
        return Standing::Incomplete { missing };
    }
    if a.expires_on < today {
        return Standing::Expired { on: a.expires_on };
    }
    let days_left = (a.expires_on - today).whole_days() + 1;
    let warning = WARN_DAYS.into_iter().filter(|w| days_left <= *w).min();
    Standing::Current { days_left, warning }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    fn acc() -> Accreditation {
        Accreditation {
            user: "u".into(),
            course: "NDB 利用者研修".into(),
            trained_on: Some(date!(2026 - 04 - 01)),
            pledge_signed_on: Some(date!(2026 - 04 - 02)),
            institution: "合成大学".into(),
            safety_measures: "施錠した分析室、二要素認証".into(),
            expires_on: date!(2027 - 03 - 31),
            revoked: None,
        }
    }

    #[test]
    fn current_with_warnings_at_30_and_7_days() {
        let a = acc();
        assert_eq!(
            standing(Some(&a), date!(2026 - 11 - 29)),
            Standing::Current {
                days_left: 123,
                warning: None
            }
        );
        assert_eq!(
            standing(Some(&a), date!(2027 - 03 - 02)),
            Standing::Current {
                days_left: 30,
                warning: Some(30)
            }
        );
        assert_eq!(
            standing(Some(&a), date!(2027 - 03 - 25)),
            Standing::Current {
                days_left: 7,
                warning: Some(7)
            }
        );
        assert_eq!(
            standing(Some(&a), date!(2027 - 03 - 31)),
            Standing::Current {
                days_left: 1,
                warning: Some(7)
            }
        );
        assert_eq!(
            standing(Some(&a), date!(2027 - 04 - 01)),
            Standing::Expired {
                on: date!(2027 - 03 - 31)
            }
        );
    }

    #[test]
    fn revocation_stops_at_once_and_outranks_all() {
        let mut a = acc();
        a.revoked = Some((date!(2026 - 11 - 29), "misuse".into()));
        let s = standing(Some(&a), date!(2026 - 11 - 29));
        assert_eq!(
            s,
            Standing::Revoked {
                on: date!(2026 - 11 - 29)
            }
        );
        assert_eq!(s.refusal(), Some("accreditation_revoked"));
        assert!(standing(Some(&a), date!(2026 - 11 - 28)).is_current());
    }

    #[test]
    fn every_missing_part_is_named() {
        let mut a = acc();
        a.course = " ".into();
        a.pledge_signed_on = None;
        a.institution = String::new();
        a.safety_measures = String::new();
        assert_eq!(
            standing(Some(&a), date!(2026 - 11 - 29)),
            Standing::Incomplete {
                missing: vec![
                    Missing::Training,
                    Missing::Pledge,
                    Missing::Institution,
                    Missing::SafetyMeasures
                ]
            }
        );
        assert_eq!(
            standing(None, date!(2026 - 11 - 29)).refusal(),
            Some("not_accredited")
        );
    }

    #[test]
    fn training_or_a_pledge_dated_in_the_future_does_not_count_yet() {
        let mut a = acc();
        a.pledge_signed_on = Some(date!(2026 - 12 - 01));
        assert_eq!(
            standing(Some(&a), date!(2026 - 11 - 29)),
            Standing::Incomplete {
                missing: vec![Missing::Pledge]
            }
        );
    }

    proptest! {
        /// Current exactly on the days from the later of training and pledge to the
        /// expiry day, when nothing is revoked.
        #[test]
        fn current_exactly_within_its_days(offset in -400i64..400) {
            let a = acc();
            let today = date!(2026 - 11 - 29) + time::Duration::days(offset);
            let inside = today >= date!(2026 - 04 - 02) && today <= a.expires_on;
            prop_assert_eq!(standing(Some(&a), today).is_current(), inside);
        }
    }
}
