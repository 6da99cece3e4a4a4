//! The review of an application as a typed state machine.
//!
//! ```text
//! Draft ─submit→ Submitted ─send to meeting→ InReview ─approve→ Approved ─all custodians confirm→ Permitted ─close→ Closed
//! Submitted ─return→ Returned ─submit→ Submitted
//! InReview ─continue review→ Returned
//! InReview ─reject→ Rejected        Approved ─a custodian refuses→ Rejected
//! Draft, Submitted, Returned, InReview ─withdraw (applicant)→ Withdrawn
//! an amendment not yet permitted ─lapse (its project closed)→ Withdrawn
//! ```
//!
//! Draft, Submitted, Returned and InReview may be withdrawn by the applicant. The
//! committee's decision can only be recorded with a [`Quorate`] sitting, which only
//! [`crate::committee::Sitting::quorum`] makes; the permit follows only when every
//! requested dataset's custodian has confirmed, each for their own dataset. Rejected,
//! Withdrawn and Closed take no further step. An amendment to a project is a new
//! application of its own (with `amendment` set), which may go to expedited review.

use crate::committee::{Requirement, Sitting};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Where an application stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum State {
    /// Being written by the applicant.
    Draft,
    /// Submitted; the secretariat screens it for completeness.
    Submitted,
    /// Sent back to the applicant with requested changes.
    Returned {
        /// Who asked for the changes.
        by: Reviewer,
    },
    /// On a meeting's agenda (or with designated members, when expedited).
    InReview {
        /// The meeting.
        meeting: String,
        /// Expedited review by designated members, reported to the full committee.
        expedited: bool,
    },
    /// Approved by the committee; waiting for the custodians' confirmations.
    Approved {
        /// Conditions attached to the approval (empty: none).
        conditions: Vec<String>,
        /// Datasets whose custodian has not yet confirmed.
        pending: BTreeSet<String>,
    },
    /// Every custodian confirmed: the permit is issued.
    Permitted {
        /// Conditions the permit carries.
        conditions: Vec<String>,
    },
    /// Refused, by the committee or by a dataset's custodian.
    Rejected {
        /// Who refused.
        by: Refusal,
    },
    /// Withdrawn by the applicant.
    Withdrawn,
    /// The project is closed (its data destroyed).
    Closed,
}

impl State {
    /// Stable code (stored, shown, audited).
    pub fn code(&self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Submitted => "submitted",
            State::Returned { .. } => "returned",
            State::InReview { .. } => "in_review",
            State::Approved { .. } => "approved",
            State::Permitted { .. } => "permitted",
            State::Rejected { .. } => "rejected",
            State::Withdrawn => "withdrawn",
            State::Closed => "closed",
        }
    }

    /// Whether no step leaves this state.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            State::Rejected { .. } | State::Withdrawn | State::Closed
        )
    }
}

/// Who sent an application back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reviewer {
    /// The secretariat, at screening.
    Secretariat,
    /// The committee, deciding to continue the review.
    Committee,
}

/// Who refused an application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The committee.
    Committee,
    /// The custodian of this dataset.
    Custodian(String),
}

/// Proof that the members sitting on a decision meet every requirement. Made only by
/// [`Sitting::quorum`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quorate(());

impl Sitting<'_> {
    /// The proof for an expedited review: decided by members designated for it (at
    /// least one, after recusals), and no one else; the guideline's composition rules
    /// are for full meetings, to which the decision is reported afterwards.
    pub fn designated_quorum(&self, designated: &[String]) -> Result<Quorate, FlowError> {
        if self.voting.is_empty() || self.voting.iter().any(|m| !designated.contains(&m.id)) {
            return Err(FlowError::NotDesignated);
        }
        Ok(Quorate(()))
    }

    /// The proof that a decision may be recorded, or every requirement the voting
    /// members fail.
    pub fn quorum(&self) -> Result<Quorate, Vec<Requirement>> {
        if self.unmet.is_empty() {
            Ok(Quorate(()))
        } else {
            Err(self.unmet.clone())
        }
    }
}

/// The committee's decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum Decision {
    /// Approved as submitted.
    Approve,
    /// Approved with conditions.
    ApproveWithConditions {
        /// The conditions (at least one).
        conditions: Vec<String>,
    },
    /// Changes requested; the review continues after resubmission.
    ContinueReview,
    /// Rejected.
    Reject,
}

/// Who is taking a step. The service decides it from the caller and the application
/// (the applicant is its owner; a custodian holds the datasets assigned to them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The application's own applicant.
    Applicant,
    /// The secretariat (which also records the committee's decisions).
    Secretariat,
    /// A custodian, of these datasets.
    Custodian(BTreeSet<String>),
    /// The platform itself (closure at the end of the period of use).
    Platform,
}

/// A step in the review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The applicant submits (a draft, or after changes were requested).
    Submit,
    /// The applicant withdraws.
    Withdraw,
    /// The secretariat returns it for changes at screening.
    Return,
    /// The secretariat puts it on a meeting's agenda, or to expedited review.
    SendToMeeting {
        /// The meeting.
        meeting: String,
        /// Expedited (amendments only).
        expedited: bool,
    },
    /// The secretariat records the committee's decision, made by a quorate sitting.
    Decide {
        /// The decision.
        decision: Decision,
        /// Proof of the quorum.
        quorum: Quorate,
    },
    /// A custodian confirms the use of their dataset.
    Confirm {
        /// The dataset.
        dataset: String,
    },
    /// A custodian refuses the use of their dataset.
    Refuse {
        /// The dataset.
        dataset: String,
    },
    /// The project closes: at the end of its period (the platform), or on request
    /// (the applicant or the secretariat). Its data is destroyed first.
    Close,
    /// An amendment still open when the project it amends closes lapses with it.
    Lapse,
}

impl Step {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Step::Submit => "submit",
            Step::Withdraw => "withdraw",
            Step::Return => "return",
            Step::SendToMeeting { .. } => "send_to_meeting",
            Step::Decide { .. } => "decide",
            Step::Confirm { .. } => "confirm",
            Step::Refuse { .. } => "refuse",
            Step::Close => "close",
            Step::Lapse => "lapse",
        }
    }
}

/// What the machine needs to know of the application.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The datasets requested (each needs its custodian's confirmation).
    pub datasets: BTreeSet<String>,
    /// Whether it amends an approved project.
    pub amendment: bool,
}

/// Why a step was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// The step does not leave this state.
    #[error("cannot {step} an application that is {state}")]
    Illegal {
        /// The state.
        state: &'static str,
        /// The step.
        step: &'static str,
    },
    /// Someone else takes this step.
    #[error("{step} is not for this caller to take")]
    NotYourStep {
        /// The step.
        step: &'static str,
    },
    /// A custodian acted on a dataset that is not theirs.
    #[error("not the custodian of {0}")]
    NotCustodian(String),
    /// The dataset is not requested, or has already been confirmed.
    #[error("{0} is not waiting for confirmation")]
    NotPending(String),
    /// Expedited review is for amendments only.
    #[error("expedited review is for amendments only")]
    ExpeditedNeedsAmendment,
    /// An approval with conditions must state them.
    #[error("an approval with conditions must state them")]
    NoConditions,
    /// An expedited review is decided by its designated members only, at least one.
    #[error(
        "an expedited review is decided by the members designated for it, at least one of them not recused, and no one else"
    )]
    NotDesignated,
}

impl FlowError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            FlowError::Illegal { .. } => "illegal_step",
            FlowError::NotYourStep { .. } => "not_your_step",
            FlowError::NotCustodian(_) => "not_custodian",
            FlowError::NotPending(_) => "not_pending",
            FlowError::ExpeditedNeedsAmendment => "expedited_needs_amendment",
            FlowError::NoConditions => "no_conditions",
            FlowError::NotDesignated => "not_designated",
        }
    }
}

/// The state after `actor` takes `step` from `state`, or why not. Pure: the service
/// stores the result and audits the step with its caller.
pub fn next(state: &State, actor: &Actor, step: Step, facts: &Facts) -> Result<State, FlowError> {
    let illegal = || FlowError::Illegal {
        state: state.code(),
        step: step.code(),
    };
    let who = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(FlowError::NotYourStep { step: step.code() })
        }
    };
    match (&step, state) {
        (Step::Submit, State::Draft | State::Returned { .. }) => {
            who(*actor == Actor::Applicant)?;
            Ok(State::Submitted)
        }
        (
            Step::Withdraw,
            State::Draft | State::Submitted | State::Returned { .. } | State::InReview { .. },
        ) => {
            who(*actor == Actor::Applicant)?;
            Ok(State::Withdrawn)
        }
        (Step::Return, State::Submitted) => {
            who(*actor == Actor::Secretariat)?;
            Ok(State::Returned {
                by: Reviewer::Secretariat,
            })
        }
        (Step::SendToMeeting { meeting, expedited }, State::Submitted) => {
            who(*actor == Actor::Secretariat)?;
            if *expedited && !facts.amendment {
                return Err(FlowError::ExpeditedNeedsAmendment);
            }
            Ok(State::InReview {
                meeting: meeting.clone(),
                expedited: *expedited,
            })
        }
        (Step::Decide { decision, .. }, State::InReview { .. }) => {
            who(*actor == Actor::Secretariat)?;
            Ok(match decision {
                Decision::Approve => approved(Vec::new(), facts),
                Decision::ApproveWithConditions { conditions } => {
                    if conditions.iter().all(|c| c.trim().is_empty()) {
                        return Err(FlowError::NoConditions);
                    }
                    approved(conditions.clone(), facts)
                }
                Decision::ContinueReview => State::Returned {
                    by: Reviewer::Committee,
                },
                Decision::Reject => State::Rejected {
                    by: Refusal::Committee,
                },
            })
        }
        (
            Step::Confirm { dataset },
            State::Approved {
                conditions,
                pending,
            },
        ) => {
            custodian_of(actor, dataset, &step)?;
            if !pending.contains(dataset) {
                return Err(FlowError::NotPending(dataset.clone()));
            }
            let mut pending = pending.clone();
            pending.remove(dataset);
            Ok(if pending.is_empty() {
                State::Permitted {
                    conditions: conditions.clone(),
                }
            } else {
                State::Approved {
                    conditions: conditions.clone(),
                    pending,
                }
            })
        }
        (Step::Refuse { dataset }, State::Approved { pending, .. }) => {
            custodian_of(actor, dataset, &step)?;
            if !pending.contains(dataset) {
                return Err(FlowError::NotPending(dataset.clone()));
            }
            Ok(State::Rejected {
                by: Refusal::Custodian(dataset.clone()),
            })
        }
        (
            Step::Lapse,
            State::Draft
            | State::Submitted
            | State::Returned { .. }
            | State::InReview { .. }
            | State::Approved { .. },
        ) => {
            who(matches!(
                actor,
                Actor::Secretariat | Actor::Applicant | Actor::Platform
            ))?;
            if !facts.amendment {
                return Err(illegal());
            }
            Ok(State::Withdrawn)
        }
        (Step::Close, State::Permitted { .. }) => {
            who(matches!(
                actor,
                Actor::Secretariat | Actor::Applicant | Actor::Platform
            ))?;
            Ok(State::Closed)
        }
        _ => Err(illegal()),
    }
}

fn approved(conditions: Vec<String>, facts: &Facts) -> State {
    State::Approved {
        conditions,
        pending: facts.datasets.clone(),
    }
}

fn custodian_of(actor: &Actor, dataset: &str, step: &Step) -> Result<(), FlowError> {
    match actor {
        Actor::Custodian(held) if held.contains(dataset) => Ok(()),
        Actor::Custodian(_) => Err(FlowError::NotCustodian(dataset.to_owned())),
        _ => Err(FlowError::NotYourStep { step: step.code() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::committee::{Expertise, Member, Sex, sitting};
    use proptest::prelude::*;

    fn quorum() -> Quorate {
        let m = |id: &str, e, x, s| Member {
            id: id.into(),
            expertise: e,
            external: x,
            sex: s,
        };
        let members = [
            m("a", Expertise::NaturalScience, false, Sex::Male),
            m("b", Expertise::HumanitiesSocial, true, Sex::Female),
            m("c", Expertise::GeneralPublic, true, Sex::Male),
            m("d", Expertise::NaturalScience, false, Sex::Female),
            m("e", Expertise::NaturalScience, false, Sex::Male),
        ];
        sitting(&members, &[], &[]).quorum().unwrap()
    }

    fn facts() -> Facts {
        Facts {
            datasets: ["deaths".to_owned(), "ndb_claims".to_owned()].into(),
            amendment: false,
        }
    }

    fn custodian(d: &str) -> Actor {
        Actor::Custodian([d.to_owned()].into())
    }

    #[test]
    fn the_whole_way_to_a_permit_and_closure() {
        let f = facts();
        let mut s = State::Draft;
        let mut go = |actor: Actor, step: Step| {
            s = next(&s, &actor, step, &f).unwrap();
            s.clone()
        };
        go(Actor::Applicant, Step::Submit);
        assert_eq!(
            go(Actor::Secretariat, Step::Return),
            State::Returned {
                by: Reviewer::Secretariat
            }
        );
        go(Actor::Applicant, Step::Submit);
        go(
            Actor::Secretariat,
            Step::SendToMeeting {
                meeting: "2026-12".into(),
                expedited: false,
            },
        );
        let s1 = go(
            Actor::Secretariat,
            Step::Decide {
                decision: Decision::ApproveWithConditions {
                    conditions: vec!["公表前に事務局へ報告".into()],
                },
                quorum: quorum(),
            },
        );
        assert!(matches!(s1, State::Approved { ref pending, .. } if pending.len() == 2));
        assert!(matches!(
            go(
                custodian("deaths"),
                Step::Confirm {
                    dataset: "deaths".into()
                }
            ),
            State::Approved { .. }
        ));
        assert_eq!(
            go(
                custodian("ndb_claims"),
                Step::Confirm {
                    dataset: "ndb_claims".into()
                }
            ),
            State::Permitted {
                conditions: vec!["公表前に事務局へ報告".into()]
            }
        );
        assert_eq!(go(Actor::Secretariat, Step::Close), State::Closed);
    }

    #[test]
    fn a_custodian_confirms_only_their_own_dataset_once() {
        let f = facts();
        let s = approved(Vec::new(), &f);
        assert_eq!(
            next(
                &s,
                &custodian("deaths"),
                Step::Confirm {
                    dataset: "ndb_claims".into()
                },
                &f
            ),
            Err(FlowError::NotCustodian("ndb_claims".into()))
        );
        let s = next(
            &s,
            &custodian("deaths"),
            Step::Confirm {
                dataset: "deaths".into(),
            },
            &f,
        )
        .unwrap();
        assert_eq!(
            next(
                &s,
                &custodian("deaths"),
                Step::Confirm {
                    dataset: "deaths".into()
                },
                &f
            ),
            Err(FlowError::NotPending("deaths".into()))
        );
        assert_eq!(
            next(
                &s,
                &Actor::Secretariat,
                Step::Confirm {
                    dataset: "ndb_claims".into()
                },
                &f
            )
            .unwrap_err()
            .code(),
            "not_your_step"
        );
        assert_eq!(
            next(
                &s,
                &custodian("ndb_claims"),
                Step::Refuse {
                    dataset: "ndb_claims".into()
                },
                &f
            ),
            Ok(State::Rejected {
                by: Refusal::Custodian("ndb_claims".into())
            })
        );
    }

    #[test]
    fn steps_out_of_turn_name_the_state_and_the_step() {
        let f = facts();
        let e = next(&State::Draft, &Actor::Secretariat, Step::Close, &f).unwrap_err();
        assert_eq!(
            e,
            FlowError::Illegal {
                state: "draft",
                step: "close"
            }
        );
        assert_eq!(e.to_string(), "cannot close an application that is draft");
        assert_eq!(
            next(&State::Draft, &Actor::Secretariat, Step::Submit, &f),
            Err(FlowError::NotYourStep { step: "submit" })
        );
        assert_eq!(
            next(
                &State::Submitted,
                &Actor::Secretariat,
                Step::SendToMeeting {
                    meeting: "m".into(),
                    expedited: true
                },
                &f
            ),
            Err(FlowError::ExpeditedNeedsAmendment)
        );
        let review = State::InReview {
            meeting: "m".into(),
            expedited: false,
        };
        assert_eq!(
            next(
                &review,
                &Actor::Secretariat,
                Step::Decide {
                    decision: Decision::ApproveWithConditions {
                        conditions: vec![" ".into()]
                    },
                    quorum: quorum()
                },
                &f
            ),
            Err(FlowError::NoConditions)
        );
    }

    #[test]
    fn a_sitting_short_of_the_guideline_cannot_make_a_quorum() {
        let members = [Member {
            id: "a".into(),
            expertise: Expertise::NaturalScience,
            external: false,
            sex: Sex::Male,
        }];
        let s = sitting(&members, &[], &[]);
        assert_eq!(s.quorum().unwrap_err().len(), 5);
    }

    fn any_step() -> impl Strategy<Value = (u8, Step)> {
        let ds = prop::sample::select(vec![
            "deaths".to_owned(),
            "ndb_claims".to_owned(),
            "ltc".to_owned(),
        ]);
        let step = prop_oneof![
            Just(Step::Submit),
            Just(Step::Withdraw),
            Just(Step::Return),
            any::<bool>().prop_map(|e| Step::SendToMeeting {
                meeting: "m".into(),
                expedited: e
            }),
            prop_oneof![
                Just(Decision::Approve),
                Just(Decision::ApproveWithConditions {
                    conditions: vec!["c".into()]
                }),
                Just(Decision::ContinueReview),
                Just(Decision::Reject),
            ]
            .prop_map(|d| Step::Decide {
                decision: d,
                quorum: Quorate(())
            }),
            ds.clone().prop_map(|d| Step::Confirm { dataset: d }),
            ds.prop_map(|d| Step::Refuse { dataset: d }),
            Just(Step::Close),
            Just(Step::Lapse),
        ];
        (0u8..5, step)
    }

    #[test]
    fn only_an_amendment_lapses_with_its_project() {
        let approved = State::Approved {
            conditions: vec![],
            pending: BTreeSet::new(),
        };
        let amendment = Facts {
            amendment: true,
            ..facts()
        };
        assert_eq!(
            next(&approved, &Actor::Platform, Step::Lapse, &amendment),
            Ok(State::Withdrawn)
        );
        assert!(matches!(
            next(&approved, &Actor::Platform, Step::Lapse, &facts()),
            Err(FlowError::Illegal { .. })
        ));
        let permitted = State::Permitted { conditions: vec![] };
        assert!(matches!(
            next(&permitted, &Actor::Platform, Step::Lapse, &amendment),
            Err(FlowError::Illegal { .. })
        ));
    }

    proptest! {
        /// Whatever anyone tries, in any order: a permit comes only after a committee
        /// approval and every requested dataset's confirmation by its own custodian,
        /// and final states take no step.
        #[test]
        fn a_permit_needs_approval_and_every_confirmation(
            steps in prop::collection::vec(any_step(), 0..40),
            amendment in any::<bool>(),
        ) {
            let f = Facts { amendment, ..facts() };
            let mut s = State::Draft;
            let mut approved_seen = false;
            let mut confirmed: BTreeSet<String> = BTreeSet::new();
            for (who, step) in steps {
                let actor = match who {
                    0 => Actor::Applicant,
                    1 => Actor::Secretariat,
                    2 => custodian("deaths"),
                    3 => custodian("ndb_claims"),
                    _ => custodian("ltc"),
                };
                let before = s.clone();
                match next(&s, &actor, step.clone(), &f) {
                    Ok(after) => {
                        prop_assert!(!before.is_final(), "{before:?} took {step:?}");
                        if let (Step::Confirm { dataset }, Actor::Custodian(held)) = (&step, &actor) {
                            prop_assert!(held.contains(dataset));
                            confirmed.insert(dataset.clone());
                        }
                        if matches!(after, State::Approved { .. }) && !matches!(before, State::Approved { .. }) {
                            approved_seen = true;
                            confirmed.clear();
                        }
                        if matches!(after, State::Permitted { .. }) && !matches!(before, State::Permitted { .. }) {
                            prop_assert!(approved_seen);
                            prop_assert_eq!(&confirmed, &f.datasets);
                        }
                        s = after;
                    }
                    Err(_) => prop_assert_eq!(&s, &before),
                }
            }
        }
    }
}
