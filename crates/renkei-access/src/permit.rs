//! The permit: the only thing that grants access to data (A3, V4).
//!
//! A permit is issued when every custodian has confirmed an approved application, and
//! is drawn from the version the committee approved: the people named, the datasets,
//! tables, variables and row filters, the linkage allowed, the form of the data, the
//! period, the environment's tools and the software brought in, the committee's
//! conditions, which outputs need two checkers, and when results must be published.
//! An approved amendment issues the project's next permit version; only the latest is
//! in force. Its JSON form ([`Permit::document`]) says which field answers which
//! element of an EHDS data permit (Regulation (EU) 2025/327).
//!
//! [`check`] is the rule every access applies, on every request: the project is open,
//! the caller is named, today lies in the period, and the caller's accreditation is
//! current today. Nothing here is cached: a revocation or an expiry takes effect on
//! the next request.

use crate::accreditation::{Standing, WARN_DAYS};
use crate::application::{Application, DataRequest, Software};
use serde::{Deserialize, Serialize};
use time::Date;

/// Months after the end of use within which results must be made public (the EHDS
/// asks the same of its data users).
pub const PUBLISH_WITHIN_MONTHS: u8 = 18;

/// The analysis tools of the environment, named on every permit.
pub const ENVIRONMENT_TOOLS: [&str; 2] = [
    "Renkei Visiting workspace: SQL (Apache DataFusion) over the project's extract",
    "Renkei output checking and release",
];

/// The form of the data a permit grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataForm {
    /// Pseudonymized: per-project pseudonyms, analysed only inside the environment.
    Pseudonymized,
    /// Anonymized (generalized until the risk rules hold).
    Anonymized,
}

/// The kinds of output a release may hold; a permit names those that need two
/// independent checkers.
pub const OUTPUT_KINDS: [&str; 8] = [
    "frequency_table",
    "magnitude_table",
    "summary_statistics",
    "regression",
    "survival_table",
    "histogram",
    "chart_data",
    "free_file",
];

/// A project's permit, one version of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permit {
    /// The project (the id of its first application).
    pub project: String,
    /// The permit's version within the project (an approved amendment adds one).
    pub version: i64,
    /// The application that was approved, and its version.
    pub application: String,
    /// The version of its content approved.
    pub application_version: i64,
    /// The day it was issued.
    pub issued_on: Date,
    /// The study's title.
    pub title: String,
    /// The applicant (user id) and their institution.
    pub applicant: String,
    /// The applicant's institution.
    pub institution: String,
    /// The people who may reach the data (user ids). Each must hold a current
    /// accreditation on every request.
    pub people: Vec<String>,
    /// The purpose, as stated.
    pub purpose: String,
    /// The datasets, tables, variables and row filters granted.
    pub data: Vec<DataRequest>,
    /// Whether the datasets granted may be linked to each other.
    pub linkage_allowed: bool,
    /// The datasets to be linked (empty when only one is granted).
    pub linked_datasets: Vec<String>,
    /// Pseudonymized or anonymized.
    pub data_form: DataForm,
    /// First day of use.
    pub starts_on: Date,
    /// Last day of use: access stops after it.
    pub ends_on: Date,
    /// The analysis tools of the environment.
    pub tools: Vec<String>,
    /// Software brought in, with its hash.
    pub software: Vec<Software>,
    /// The committee's conditions.
    pub conditions: Vec<String>,
    /// The output kinds whose release needs two independent checkers.
    pub two_checkers: Vec<String>,
    /// The day by which results must be made public.
    pub publish_by: Date,
}

impl Permit {
    /// The permit drawn from `app` (the content approved), or the field it lacks.
    /// Submission validated every field, so a lack here means stored data was altered.
    pub fn issue(
        project: &str,
        version: i64,
        application: (&str, i64),
        applicant: &str,
        app: &Application,
        conditions: Vec<String>,
        today: Date,
    ) -> Result<Permit, &'static str> {
        let starts_on = app.use_from.ok_or("use_from")?;
        let ends_on = app.use_to.ok_or("use_to")?;
        let purpose = app.purpose.ok_or("purpose")?;
        let datasets: Vec<String> = {
            let mut d: Vec<String> = app.data.iter().map(|d| d.dataset.clone()).collect();
            d.sort();
            d.dedup();
            d
        };
        Ok(Permit {
            project: project.to_owned(),
            version,
            application: application.0.to_owned(),
            application_version: application.1,
            issued_on: today,
            title: app.title.clone(),
            applicant: applicant.to_owned(),
            institution: app.institution.clone(),
            people: {
                let mut p = app.handlers.clone();
                p.sort();
                p.dedup();
                p
            },
            purpose: format!("{}: {}", purpose.code(), app.purpose_text),
            data: app.data.clone(),
            linkage_allowed: datasets.len() > 1,
            linked_datasets: if datasets.len() > 1 {
                datasets
            } else {
                Vec::new()
            },
            data_form: DataForm::Pseudonymized,
            starts_on,
            ends_on,
            tools: ENVIRONMENT_TOOLS.iter().map(|t| (*t).to_owned()).collect(),
            software: app.software.clone(),
            conditions,
            two_checkers: OUTPUT_KINDS.iter().map(|k| (*k).to_owned()).collect(),
            publish_by: add_months(ends_on, PUBLISH_WITHIN_MONTHS),
        })
    }

    /// The permit as a document: its fields, and beside them which element of an EHDS
    /// data permit each one answers.
    pub fn document(&self) -> serde_json::Value {
        serde_json::json!({
            "permit": self,
            "ehds_mapping": EHDS_MAPPING
                .iter()
                .map(|(field, element)| serde_json::json!({ "field": field, "ehds": element }))
                .collect::<Vec<_>>(),
        })
    }

    /// Whether `user` is named on it.
    pub fn names(&self, user: &str) -> bool {
        self.people.iter().any(|p| p == user)
    }
}

/// Which permit field answers which element of a data permit under Regulation (EU)
/// 2025/327 (the EHDS).
pub const EHDS_MAPPING: [(&str, &str); 14] = [
    ("project", "identifier of the data permit"),
    ("version", "amendment of the data permit"),
    ("applicant", "health data user (the applicant)"),
    ("institution", "health data user (the legal person)"),
    (
        "people",
        "natural persons authorised to access the data in the secure processing environment",
    ),
    ("purpose", "purpose of the secondary use (Art. 53)"),
    (
        "data",
        "categories, sources and specification of the electronic health data",
    ),
    (
        "linkage_allowed",
        "linkage of datasets from several holders",
    ),
    (
        "data_form",
        "whether the data are pseudonymised or anonymised",
    ),
    ("starts_on", "duration of the data permit (start)"),
    ("ends_on", "duration of the data permit (end)"),
    (
        "tools",
        "technical characteristics and tools of the secure processing environment",
    ),
    ("conditions", "specific conditions of the data permit"),
    (
        "publish_by",
        "publication of the results within 18 months of the end of processing",
    ),
];

/// Where a permit's period stands on a day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "period")]
pub enum Period {
    /// Use has not begun.
    NotYet {
        /// The first day.
        starts_on: Date,
    },
    /// In use.
    Open {
        /// Days left, the last day included.
        days_left: i64,
        /// The warning due (30 or 7 days before the end), if any.
        warning: Option<i64>,
    },
    /// Ended.
    Ended {
        /// The last day.
        on: Date,
    },
}

/// Where `p`'s period stands on `today`.
pub fn period(p: &Permit, today: Date) -> Period {
    if today < p.starts_on {
        Period::NotYet {
            starts_on: p.starts_on,
        }
    } else if today > p.ends_on {
        Period::Ended { on: p.ends_on }
    } else {
        let days_left = (p.ends_on - today).whole_days() + 1;
        let warning = WARN_DAYS.into_iter().filter(|w| days_left <= *w).min();
        Period::Open { days_left, warning }
    }
}

/// Whether `user`, standing as `accreditation` today, may reach the data of a project
/// under `permit` (its latest version) on `today`; `closed` when the project is closed.
/// The refusal's code names the first reason, in the order a user would fix them.
pub fn check(
    permit: &Permit,
    closed: bool,
    user: &str,
    accreditation: &Standing,
    today: Date,
) -> Result<(), &'static str> {
    if closed {
        return Err("project_closed");
    }
    if !permit.names(user) {
        return Err("not_named_on_permit");
    }
    match period(permit, today) {
        Period::NotYet { .. } => return Err("permit_not_started"),
        Period::Ended { .. } => return Err("permit_expired"),
        Period::Open { .. } => {}
    }
    match accreditation.refusal() {
        Some(code) => Err(code),
        None => Ok(()),
    }
}

/// `d` plus `months`, the day clamped to the month's end (31 March + 18 months is
/// 30 September).
pub fn add_months(d: Date, months: u8) -> Date {
    let total = d.year() * 12 + (d.month() as i32 - 1) + i32::from(months);
    let (year, month0) = (total.div_euclid(12), total.rem_euclid(12));
    let month = time::Month::try_from(month0 as u8 + 1).unwrap_or(time::Month::December);
    let last = time::util::days_in_month(month, year);
    Date::from_calendar_date(year, month, d.day().min(last)).unwrap_or(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::{Purpose, TableRequest};
    use proptest::prelude::*;
    use time::macros::date;

    fn app() -> Application {
        Application {
            title: "糖尿病の受療動向".into(),
            institution: "合成大学".into(),
            handlers: vec!["u2".into(), "u1".into(), "u2".into()],
            purpose: Some(Purpose::Research),
            purpose_text: "受療動向の記述".into(),
            data: vec![
                DataRequest {
                    dataset: "ndb".into(),
                    tables: vec![TableRequest {
                        table: "receipts".into(),
                        variables: vec!["age".into()],
                    }],
                    ..Default::default()
                },
                DataRequest {
                    dataset: "dpc".into(),
                    ..Default::default()
                },
            ],
            use_from: Some(date!(2026 - 04 - 01)),
            use_to: Some(date!(2027 - 03 - 31)),
            ..Default::default()
        }
    }

    fn permit() -> Permit {
        Permit::issue(
            "p",
            1,
            ("p", 2),
            "u1",
            &app(),
            vec!["cond".into()],
            date!(2026 - 03 - 20),
        )
        .unwrap()
    }

    fn current() -> Standing {
        Standing::Current {
            days_left: 100,
            warning: None,
        }
    }

    #[test]
    fn issue_draws_everything_from_the_approved_content() {
        let p = permit();
        assert_eq!(p.people, ["u1", "u2"]);
        assert!(p.linkage_allowed);
        assert_eq!(p.linked_datasets, ["dpc", "ndb"]);
        assert_eq!(p.publish_by, date!(2028 - 09 - 30));
        assert_eq!(p.two_checkers.len(), OUTPUT_KINDS.len());
        assert_eq!(p.purpose, "research: 受療動向の記述");
        let mut lacking = app();
        lacking.use_to = None;
        assert_eq!(
            Permit::issue(
                "p",
                1,
                ("p", 1),
                "u1",
                &lacking,
                vec![],
                date!(2026 - 01 - 01)
            ),
            Err("use_to")
        );
        let mut one = app();
        one.data.truncate(1);
        let p = Permit::issue("p", 1, ("p", 1), "u1", &one, vec![], date!(2026 - 01 - 01)).unwrap();
        assert!(!p.linkage_allowed && p.linked_datasets.is_empty());
    }

    #[test]
    fn the_document_maps_real_fields_to_the_ehds() {
        let doc = permit().document();
        let fields = doc["permit"].as_object().unwrap();
        for (field, _) in EHDS_MAPPING {
            assert!(fields.contains_key(field), "{field} is not a permit field");
        }
        assert_eq!(
            doc["ehds_mapping"].as_array().unwrap().len(),
            EHDS_MAPPING.len()
        );
    }

    #[test]
    fn check_names_the_first_reason() {
        let p = permit();
        let day = date!(2026 - 10 - 01);
        assert_eq!(check(&p, false, "u1", &current(), day), Ok(()));
        assert_eq!(
            check(&p, true, "u1", &current(), day),
            Err("project_closed")
        );
        assert_eq!(
            check(&p, false, "u9", &current(), day),
            Err("not_named_on_permit")
        );
        assert_eq!(
            check(&p, false, "u1", &current(), date!(2026 - 03 - 31)),
            Err("permit_not_started")
        );
        assert_eq!(
            check(&p, false, "u1", &current(), date!(2027 - 04 - 01)),
            Err("permit_expired")
        );
        assert_eq!(
            check(&p, false, "u1", &Standing::Revoked { on: day }, day),
            Err("accreditation_revoked")
        );
        assert_eq!(
            check(&p, false, "u1", &Standing::None, day),
            Err("not_accredited")
        );
    }

    #[test]
    fn period_warns_30_and_7_days_before_the_end() {
        let p = permit();
        assert_eq!(
            period(&p, date!(2027 - 03 - 01)),
            Period::Open {
                days_left: 31,
                warning: None
            }
        );
        assert_eq!(
            period(&p, date!(2027 - 03 - 02)),
            Period::Open {
                days_left: 30,
                warning: Some(30)
            }
        );
        assert_eq!(
            period(&p, date!(2027 - 03 - 31)),
            Period::Open {
                days_left: 1,
                warning: Some(7)
            }
        );
    }

    #[test]
    fn add_months_clamps_to_the_month_end() {
        assert_eq!(add_months(date!(2027 - 03 - 31), 18), date!(2028 - 09 - 30));
        assert_eq!(add_months(date!(2026 - 08 - 31), 18), date!(2028 - 02 - 29));
        assert_eq!(add_months(date!(2026 - 12 - 15), 1), date!(2027 - 01 - 15));
    }

    proptest! {
        /// Nobody reaches data on a day outside the period, whoever they are and
        /// however they stand.
        #[test]
        fn no_access_outside_the_period(offset in -800i64..800, named in any::<bool>()) {
            let p = permit();
            let day = p.starts_on + time::Duration::days(offset);
            let user = if named { "u1" } else { "u9" };
            let ok = check(&p, false, user, &current(), day).is_ok();
            prop_assert_eq!(ok, named && day >= p.starts_on && day <= p.ends_on);
        }
    }
}
