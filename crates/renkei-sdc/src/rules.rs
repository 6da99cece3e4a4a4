//! The rules' settings and the two profiles that give their defaults.

use serde::{Deserialize, Serialize};

/// Which publication rules give the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The NDB and related guidelines' publication rules (the default for anything
    /// leaving the environment).
    Japan,
    /// ACRO's general rules.
    General,
}

impl Profile {
    pub fn code(self) -> &'static str {
        match self {
            Profile::Japan => "japan",
            Profile::General => "general",
        }
    }

    pub fn parse(s: &str) -> Option<Profile> {
        match s {
            "japan" => Some(Profile::Japan),
            "general" => Some(Profile::General),
            _ => None,
        }
    }
}

/// What a zero cell gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZeroPolicy {
    /// Allowed (the Japanese rule: 0 is not a small count).
    Allow,
    /// Flagged for the checker (class disclosure: "nobody here has X").
    Review,
}

/// Every setting of the checks. A dataset or permit overrides fields of a profile's
/// defaults; the report records the profile it started from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    pub profile: Profile,
    /// Minimum contributors (persons) per published cell.
    pub threshold: u64,
    /// Municipality populations: below `municipality_hidden`, never shown; below
    /// `municipality_small`, cells need `municipality_small_threshold`.
    pub municipality_hidden: u64,
    pub municipality_small: u64,
    pub municipality_small_threshold: u64,
    /// Counts of institutions or insurers below this go to review (or fail).
    pub institutions_min: u64,
    pub institutions_fail: bool,
    /// Prescription counts needed where the patient count is unknown.
    pub prescriptions_oral_min: u64,
    pub prescriptions_injection_min: u64,
    pub zeros: ZeroPolicy,
    /// (n, k) dominance: the `dominance_n` largest contributors may not reach
    /// `dominance_k` of the total. `dominance_strict` compares with `>` (the SDC
    /// Handbook) instead of `≥` (ACRO).
    pub dominance_n: u8,
    pub dominance_k: f64,
    pub dominance_strict: bool,
    /// p% rule: (total − x1 − x2) / x1 must reach `p_ratio`.
    pub p_ratio: f64,
    /// Cells with missing values go to review.
    pub missing_review: bool,
    /// Minimum and maximum may be published (they are single people's values).
    pub min_max_allowed: bool,
    pub regression_min_dof: u64,
    /// Age bands: width at least this many years (single years under 20 go to review).
    pub age_band_years: u32,
    /// Top age band: ages from here are one band.
    pub age_top: u32,
    /// Time of death: bins at least this many hours wide.
    pub death_hours: u32,
    /// Birth weight: bins at least this many grams wide, with the tails grouped.
    pub birth_weight_grams: u32,
    pub birth_weight_low: u32,
    pub birth_weight_high: u32,
}

impl Rules {
    /// The Japanese publication profile.
    pub fn japan() -> Rules {
        Rules {
            profile: Profile::Japan,
            threshold: 10,
            municipality_hidden: 2_000,
            municipality_small: 25_000,
            municipality_small_threshold: 20,
            institutions_min: 3,
            institutions_fail: false,
            prescriptions_oral_min: 1_000,
            prescriptions_injection_min: 400,
            zeros: ZeroPolicy::Allow,
            dominance_n: 2,
            dominance_k: 0.9,
            dominance_strict: false,
            p_ratio: 0.10,
            missing_review: true,
            min_max_allowed: false,
            regression_min_dof: 10,
            age_band_years: 5,
            age_top: 100,
            death_hours: 2,
            birth_weight_grams: 100,
            birth_weight_low: 300,
            birth_weight_high: 4_000,
        }
    }

    /// ACRO's general rules (its defaults, from its code).
    pub fn general() -> Rules {
        Rules {
            profile: Profile::General,
            zeros: ZeroPolicy::Review,
            ..Rules::japan()
        }
    }

    pub fn for_profile(p: Profile) -> Rules {
        match p {
            Profile::Japan => Rules::japan(),
            Profile::General => Rules::general(),
        }
    }

    /// Whether the `n` largest of `top` reach the dominance share of `total`.
    pub(crate) fn dominated(&self, top: [f64; 2], total: f64) -> bool {
        if total <= 0.0 {
            return false;
        }
        let n = usize::from(self.dominance_n.clamp(1, 2));
        let share: f64 = top[..n].iter().sum::<f64>() / total;
        if self.dominance_strict {
            share > self.dominance_k
        } else {
            share >= self.dominance_k
        }
    }

    /// Whether the p% rule fails: the rest of the cell would let the second largest
    /// estimate the largest within `p_ratio`.
    pub(crate) fn p_fails(&self, top: [f64; 2], total: f64) -> bool {
        top[0] > 0.0 && (total - top[0] - top[1]) / top[0] < self.p_ratio
    }
}
