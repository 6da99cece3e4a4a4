//! The release workflow: how checked outputs leave the platform.
//!
//! A researcher groups outputs into a [`Request`]; each group says what it shows
//! (context) and what was done to make it safe (controls). Two output checkers review
//! it blind (neither sees the other's votes until both have submitted), then one of
//! them approves, rejects or returns it, and an approved request is released. The
//! states follow OpenSAFELY's Airlock: pending, submitted, partially reviewed,
//! reviewed, returned, approved, rejected, withdrawn, released.
//!
//! This crate is the state machine alone, pure and total: every act either moves the
//! request or is refused with a reason that names what is missing. Who the caller is
//! (their role, whether they are named on the permit) is the service's to establish;
//! the machine enforces what follows from it: nobody checks their own study's outputs,
//! a checker reviews once per turn, a failed rule is overridden only with a written
//! reason, a return carries a comment the researcher can read.

pub mod store;

use renkei_sdc::Outcome;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Being put together by the researcher.
    Pending,
    /// Waiting for checkers.
    Submitted,
    /// One checker has submitted a review.
    PartiallyReviewed,
    /// Every checker needed has submitted a review; a decision is due.
    Reviewed,
    /// Sent back to the researcher with comments.
    Returned,
    /// Approved; the package can be released.
    Approved,
    /// Refused for good.
    Rejected,
    /// Withdrawn by the researcher.
    Withdrawn,
    /// Released: the package is available to the people on the permit.
    Released,
}

impl State {
    /// Every state.
    pub const ALL: [State; 9] = [
        State::Pending,
        State::Submitted,
        State::PartiallyReviewed,
        State::Reviewed,
        State::Returned,
        State::Approved,
        State::Rejected,
        State::Withdrawn,
        State::Released,
    ];

    /// Stable code, as stored and audited.
    pub fn code(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Submitted => "submitted",
            State::PartiallyReviewed => "partially_reviewed",
            State::Reviewed => "reviewed",
            State::Returned => "returned",
            State::Approved => "approved",
            State::Rejected => "rejected",
            State::Withdrawn => "withdrawn",
            State::Released => "released",
        }
    }

    /// The state with this code.
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.code() == s)
    }

    /// Whether nothing more can happen to the request.
    pub fn is_final(self) -> bool {
        matches!(self, State::Rejected | State::Withdrawn | State::Released)
    }

    /// Whether checkers may see each other's reviews (every review of the turn is in).
    fn reviews_open(self) -> bool {
        matches!(
            self,
            State::Reviewed | State::Returned | State::Approved | State::Rejected | State::Released
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An output in a request, with what the automatic checks said of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputRef {
    /// The output's id.
    pub id: String,
    /// The automatic checks' verdict (a file has `review`).
    pub verdict: Outcome,
    /// The researcher's reason for asking an exception to a failed rule.
    pub exception: Option<String>,
    /// For the checker's eyes only: never released, never voted on.
    pub supporting: bool,
}

/// Outputs that belong together, with what they show and how they were made safe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Its name.
    pub name: String,
    /// What the outputs show.
    pub context: String,
    /// What the researcher did to make them safe.
    pub controls: String,
    /// The outputs.
    pub outputs: Vec<OutputRef>,
}

/// A checker's vote on one output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vote {
    /// Safe to release.
    Approve,
    /// Not as it is: the researcher should change it.
    ChangesRequested,
    /// Not to be released.
    Reject,
}

/// A vote with its words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot {
    /// The output voted on.
    pub output: String,
    /// The vote.
    pub vote: Vote,
    /// Why, where changes are asked for or the output is rejected.
    pub comment: Option<String>,
    /// Whether the researcher may read the comment (otherwise it stays among checkers).
    pub public: bool,
    /// Why a failed rule is overridden, where the checker approves a failed output.
    pub override_reason: Option<String>,
}

/// One checker's review in the current turn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// The checker.
    pub checker: String,
    /// Their votes, one per output at most.
    pub ballots: Vec<Ballot>,
    /// Whether they have submitted it (it cannot change after).
    pub submitted: bool,
}

/// Who acts, as the service established it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Who<'a> {
    /// Their user id.
    pub user: &'a str,
    /// Whether they hold the output checker's role.
    pub checker: bool,
}

/// Something someone does to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Act {
    /// The author submits it (again, after a return).
    Submit,
    /// The author withdraws it.
    Withdraw,
    /// A checker records a vote (changeable until their review is submitted).
    Vote(Ballot),
    /// A checker submits their review (a vote on every output).
    SubmitReview,
    /// A checker approves the reviewed request.
    Approve,
    /// A checker rejects it.
    Reject,
    /// A checker returns it to the researcher with a comment they can read.
    Return {
        /// What the researcher should do.
        comment: String,
    },
    /// A checker releases the approved request.
    Release,
}

impl Act {
    /// Stable code, as audited.
    pub fn code(&self) -> &'static str {
        match self {
            Act::Submit => "submit",
            Act::Withdraw => "withdraw",
            Act::Vote(_) => "vote",
            Act::SubmitReview => "submit_review",
            Act::Approve => "approve",
            Act::Reject => "reject",
            Act::Return { .. } => "return",
            Act::Release => "release",
        }
    }
}

/// Why an act was refused. Each names what is missing or who may act instead.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AirlockError {
    /// Only the request's author may do this.
    #[error("only the researcher who made the request may do this")]
    NotAuthor,
    /// Only an output checker may do this.
    #[error("only an output checker may do this")]
    NotChecker,
    /// A checker who is the author or named on the permit.
    #[error("nobody checks outputs of a study they take part in")]
    OwnStudy,
    /// Not in this state.
    #[error("a request that is {state} cannot be {act}")]
    WrongState {
        /// Where the request stands.
        state: State,
        /// What was tried.
        act: &'static str,
    },
    /// Nothing to release.
    #[error("the request has no output to release")]
    Empty,
    /// A group without its context.
    #[error("group {0:?} needs its context: what the outputs show")]
    NoContext(String),
    /// A group without its controls.
    #[error("group {0:?} needs its controls: what was done to make the outputs safe")]
    NoControls(String),
    /// A failed output without an exception asked for.
    #[error("output {0} failed the checks: change it, or ask for an exception with a reason")]
    FailedWithoutException(String),
    /// A vote on an output the request does not hold (or a supporting file).
    #[error("the request has no output {0} to vote on")]
    NoSuchOutput(String),
    /// Changes asked for, or a rejection, without a comment.
    #[error("say why: changes asked for and rejections need a comment")]
    CommentRequired,
    /// A failed output approved without a reason for the override.
    #[error("output {0} failed the checks: approving it needs a written reason for the override")]
    OverrideReasonRequired(String),
    /// A review submitted without a vote on every output.
    #[error("vote on every output before submitting the review (missing: {0})")]
    IncompleteReview(String),
    /// The checker's review of this turn is already submitted.
    #[error("your review of this request is already submitted")]
    AlreadyReviewed,
    /// Enough checkers have reviewed this turn.
    #[error("this request already has the reviews it needs")]
    EnoughReviews,
    /// Approval with a vote other than approve on some output.
    #[error("every output needs every checker's approval (output {0} does not have it)")]
    NotAllApproved(String),
    /// Rejection when no checker voted to reject.
    #[error("a request is rejected only when a checker voted to reject one of its outputs")]
    NoRejection,
}

impl AirlockError {
    /// Stable code, for the audit log and the API.
    pub fn code(&self) -> &'static str {
        match self {
            AirlockError::NotAuthor => "release_not_author",
            AirlockError::NotChecker => "release_not_checker",
            AirlockError::OwnStudy => "release_own_study",
            AirlockError::WrongState { .. } => "release_wrong_state",
            AirlockError::Empty => "release_empty",
            AirlockError::NoContext(_) => "release_no_context",
            AirlockError::NoControls(_) => "release_no_controls",
            AirlockError::FailedWithoutException(_) => "release_failed_output",
            AirlockError::NoSuchOutput(_) => "release_no_such_output",
            AirlockError::CommentRequired => "release_comment_required",
            AirlockError::OverrideReasonRequired(_) => "release_override_reason",
            AirlockError::IncompleteReview(_) => "release_incomplete_review",
            AirlockError::AlreadyReviewed => "release_already_reviewed",
            AirlockError::EnoughReviews => "release_enough_reviews",
            AirlockError::NotAllApproved(_) => "release_not_all_approved",
            AirlockError::NoRejection => "release_no_rejection",
        }
    }
}

/// A release request as the machine sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Where it stands.
    pub state: State,
    /// The researcher who made it.
    pub author: String,
    /// Everyone named on the permit: none of them may check it.
    pub involved: Vec<String>,
    /// The outputs, grouped.
    pub groups: Vec<Group>,
    /// Reviews of the current turn.
    pub reviews: Vec<Review>,
    /// Turns so far (a return and resubmission starts a new one).
    pub turn: u32,
    /// Checkers who must review each turn.
    pub checkers_needed: usize,
}

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

impl Request {
    /// A new request of `author`'s, with two checkers to review it.
    pub fn new(author: &str, involved: Vec<String>) -> Request {
        Request {
            state: State::Pending,
            author: author.to_string(),
            involved,
            groups: Vec::new(),
            reviews: Vec::new(),
            turn: 0,
            checkers_needed: 2,
        }
    }

    /// The outputs checkers vote on (supporting files excluded).
    pub fn voted_outputs(&self) -> impl Iterator<Item = &OutputRef> {
        self.groups
            .iter()
            .flat_map(|g| &g.outputs)
            .filter(|o| !o.supporting)
    }

    fn output(&self, id: &str) -> Option<&OutputRef> {
        self.voted_outputs().find(|o| o.id == id)
    }

    fn wrong(&self, act: &Act) -> AirlockError {
        AirlockError::WrongState {
            state: self.state,
            act: act.code(),
        }
    }

    fn as_author(&self, who: Who<'_>) -> Result<(), AirlockError> {
        if who.user == self.author {
            Ok(())
        } else {
            Err(AirlockError::NotAuthor)
        }
    }

    fn as_checker(&self, who: Who<'_>) -> Result<(), AirlockError> {
        if !who.checker {
            return Err(AirlockError::NotChecker);
        }
        if who.user == self.author || self.involved.iter().any(|u| u == who.user) {
            return Err(AirlockError::OwnStudy);
        }
        Ok(())
    }

    /// Whether the request may be submitted as it is.
    pub fn ready(&self) -> Result<(), AirlockError> {
        if self.voted_outputs().next().is_none() {
            return Err(AirlockError::Empty);
        }
        for g in &self.groups {
            if blank(&g.context) {
                return Err(AirlockError::NoContext(g.name.clone()));
            }
            if blank(&g.controls) {
                return Err(AirlockError::NoControls(g.name.clone()));
            }
        }
        if let Some(o) = self
            .voted_outputs()
            .find(|o| o.verdict == Outcome::Fail && o.exception.as_deref().is_none_or(blank))
        {
            return Err(AirlockError::FailedWithoutException(o.id.clone()));
        }
        Ok(())
    }

    /// Applies `act` by `who`, or refuses it and leaves the request as it was.
    pub fn apply(&mut self, who: Who<'_>, act: Act) -> Result<State, AirlockError> {
        use State::*;
        match (&act, self.state) {
            (Act::Submit, Pending | Returned) => {
                self.as_author(who)?;
                self.ready()?;
                self.reviews.clear();
                self.turn += 1;
                self.state = Submitted;
            }
            (Act::Withdraw, Pending | Submitted | PartiallyReviewed | Returned) => {
                self.as_author(who)?;
                self.state = Withdrawn;
            }
            (Act::Vote(b), Submitted | PartiallyReviewed) => {
                self.as_checker(who)?;
                let o = self
                    .output(&b.output)
                    .ok_or_else(|| AirlockError::NoSuchOutput(b.output.clone()))?;
                if b.vote != Vote::Approve && b.comment.as_deref().is_none_or(blank) {
                    return Err(AirlockError::CommentRequired);
                }
                if b.vote == Vote::Approve
                    && o.verdict == Outcome::Fail
                    && b.override_reason.as_deref().is_none_or(blank)
                {
                    return Err(AirlockError::OverrideReasonRequired(o.id.clone()));
                }
                let submitted = self.reviews.iter().filter(|r| r.submitted).count();
                match self.reviews.iter_mut().find(|r| r.checker == who.user) {
                    Some(r) if r.submitted => return Err(AirlockError::AlreadyReviewed),
                    Some(r) => {
                        r.ballots.retain(|x| x.output != b.output);
                        r.ballots.push(b.clone());
                    }
                    None if submitted >= self.checkers_needed => {
                        return Err(AirlockError::EnoughReviews);
                    }
                    None => self.reviews.push(Review {
                        checker: who.user.to_string(),
                        ballots: vec![b.clone()],
                        submitted: false,
                    }),
                }
            }
            (Act::SubmitReview, Submitted | PartiallyReviewed) => {
                self.as_checker(who)?;
                let needed = self.checkers_needed;
                let submitted = self.reviews.iter().filter(|r| r.submitted).count();
                let missing: Vec<String> = {
                    let mine = self.reviews.iter().find(|r| r.checker == who.user);
                    if mine.is_some_and(|r| r.submitted) {
                        return Err(AirlockError::AlreadyReviewed);
                    }
                    self.voted_outputs()
                        .filter(|o| {
                            !mine.is_some_and(|r| r.ballots.iter().any(|b| b.output == o.id))
                        })
                        .map(|o| o.id.clone())
                        .collect()
                };
                if !missing.is_empty() {
                    return Err(AirlockError::IncompleteReview(missing.join(", ")));
                }
                if submitted >= needed {
                    return Err(AirlockError::EnoughReviews);
                }
                if let Some(r) = self.reviews.iter_mut().find(|r| r.checker == who.user) {
                    r.submitted = true;
                }
                self.state = if submitted + 1 >= needed {
                    Reviewed
                } else {
                    PartiallyReviewed
                };
            }
            (Act::Approve, Reviewed) => {
                self.as_checker(who)?;
                let reviews: Vec<&Review> = self.reviews.iter().filter(|r| r.submitted).collect();
                for o in self.voted_outputs() {
                    let all = reviews.iter().all(|r| {
                        r.ballots
                            .iter()
                            .any(|b| b.output == o.id && b.vote == Vote::Approve)
                    });
                    if !all {
                        return Err(AirlockError::NotAllApproved(o.id.clone()));
                    }
                }
                self.state = Approved;
            }
            (Act::Reject, Reviewed) => {
                self.as_checker(who)?;
                let any = self
                    .reviews
                    .iter()
                    .filter(|r| r.submitted)
                    .flat_map(|r| &r.ballots)
                    .any(|b| b.vote == Vote::Reject);
                if !any {
                    return Err(AirlockError::NoRejection);
                }
                self.state = Rejected;
            }
            // A return may come early, before every review is in (Airlock does too).
            (Act::Return { comment }, Submitted | PartiallyReviewed | Reviewed) => {
                self.as_checker(who)?;
                if blank(comment) {
                    return Err(AirlockError::CommentRequired);
                }
                self.state = Returned;
            }
            (Act::Release, Approved) => {
                self.as_checker(who)?;
                self.state = Released;
            }
            _ => return Err(self.wrong(&act)),
        }
        Ok(self.state)
    }

    /// The reviews `who` may see: a checker sees their own, and the others' once every
    /// review of the turn is in; the researcher sees none (only the comments made
    /// public, which the service shows once the request is returned or decided).
    pub fn reviews_for<'a>(&'a self, who: Who<'a>) -> impl Iterator<Item = &'a Review> + 'a {
        let open = self.state.reviews_open();
        self.reviews
            .iter()
            .filter(move |r| who.checker && (r.checker == who.user || open))
    }

    /// Comments the researcher may read, once the request is returned or decided.
    pub fn public_comments(&self) -> Vec<(&str, &str)> {
        if !matches!(
            self.state,
            State::Returned | State::Approved | State::Rejected | State::Released
        ) {
            return Vec::new();
        }
        self.reviews
            .iter()
            .filter(|r| r.submitted)
            .flat_map(|r| &r.ballots)
            .filter(|b| b.public)
            .filter_map(|b| b.comment.as_deref().map(|c| (b.output.as_str(), c)))
            .collect()
    }
}

#[cfg(test)]
mod tests;
