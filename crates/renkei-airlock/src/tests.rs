use super::*;
use proptest::prelude::*;

const AUTHOR: Who<'static> = Who {
    user: "r1",
    checker: false,
};
const COLLEAGUE: Who<'static> = Who {
    user: "r2",
    checker: true,
};
const C1: Who<'static> = Who {
    user: "c1",
    checker: true,
};
const C2: Who<'static> = Who {
    user: "c2",
    checker: true,
};
const C3: Who<'static> = Who {
    user: "c3",
    checker: true,
};

fn output(id: &str, verdict: Outcome) -> OutputRef {
    OutputRef {
        id: id.to_string(),
        verdict,
        exception: None,
        supporting: false,
    }
}

fn request() -> Request {
    let mut r = Request::new("r1", vec!["r1".into(), "r2".into()]);
    r.groups.push(Group {
        name: "table 1".into(),
        context: "persons with type 2 diabetes by age band and sex".into(),
        controls: "five-year bands; counts under 10 suppressed".into(),
        outputs: vec![output("o1", Outcome::Pass), output("o2", Outcome::Review)],
    });
    r
}

fn approve(id: &str) -> Act {
    Act::Vote(Ballot {
        output: id.into(),
        vote: Vote::Approve,
        comment: None,
        public: false,
        override_reason: None,
    })
}

#[test]
fn two_blind_checkers_approve_and_one_releases() {
    let mut r = request();
    assert_eq!(r.apply(AUTHOR, Act::Submit), Ok(State::Submitted));
    r.apply(C1, approve("o1")).unwrap();
    // Before C1 submits, C2 sees only their own (none); C1 sees theirs.
    assert_eq!(r.reviews_for(C2).count(), 0);
    assert_eq!(r.reviews_for(C1).count(), 1);
    assert_eq!(
        r.apply(C1, Act::SubmitReview),
        Err(AirlockError::IncompleteReview("o2".into()))
    );
    r.apply(C1, approve("o2")).unwrap();
    assert_eq!(r.apply(C1, Act::SubmitReview), Ok(State::PartiallyReviewed));
    assert_eq!(
        r.apply(C1, approve("o1")),
        Err(AirlockError::AlreadyReviewed)
    );
    // Still blind for the second checker.
    assert_eq!(r.reviews_for(C2).count(), 0);
    assert_eq!(
        r.apply(C2, Act::Approve),
        Err(AirlockError::WrongState {
            state: State::PartiallyReviewed,
            act: "approve"
        })
    );
    r.apply(C2, approve("o1")).unwrap();
    r.apply(C2, approve("o2")).unwrap();
    assert_eq!(r.apply(C2, Act::SubmitReview), Ok(State::Reviewed));
    assert_eq!(r.reviews_for(C2).count(), 2);
    assert_eq!(r.reviews_for(AUTHOR).count(), 0);
    // A third checker comes too late.
    assert_eq!(
        r.apply(C3, approve("o1")),
        Err(AirlockError::WrongState {
            state: State::Reviewed,
            act: "vote"
        })
    );
    assert_eq!(r.apply(C1, Act::Approve), Ok(State::Approved));
    assert_eq!(r.apply(AUTHOR, Act::Release), Err(AirlockError::NotChecker));
    assert_eq!(r.apply(C2, Act::Release), Ok(State::Released));
    assert!(r.state.is_final());
}

#[test]
fn nobody_checks_their_own_study() {
    let mut r = request();
    r.apply(AUTHOR, Act::Submit).unwrap();
    assert_eq!(
        r.apply(COLLEAGUE, approve("o1")),
        Err(AirlockError::OwnStudy)
    );
    let author_as_checker = Who {
        user: "r1",
        checker: true,
    };
    assert_eq!(
        r.apply(author_as_checker, approve("o1")),
        Err(AirlockError::OwnStudy)
    );
    assert_eq!(r.apply(C1, Act::Withdraw), Err(AirlockError::NotAuthor));
}

#[test]
fn a_request_needs_context_controls_and_exceptions_for_failed_outputs() {
    let mut r = request();
    r.groups[0].controls = " ".into();
    assert_eq!(
        r.apply(AUTHOR, Act::Submit),
        Err(AirlockError::NoControls("table 1".into()))
    );
    r.groups[0].controls = "suppressed".into();
    r.groups[0].context.clear();
    assert_eq!(
        r.apply(AUTHOR, Act::Submit),
        Err(AirlockError::NoContext("table 1".into()))
    );
    r.groups[0].context = "x".into();
    r.groups[0].outputs.push(output("o3", Outcome::Fail));
    assert_eq!(
        r.apply(AUTHOR, Act::Submit),
        Err(AirlockError::FailedWithoutException("o3".into()))
    );
    assert_eq!(r.state, State::Pending);
    r.groups[0].outputs[2].exception =
        Some("the small cell is a structural zero in the population".into());
    assert_eq!(r.apply(AUTHOR, Act::Submit), Ok(State::Submitted));
    // Approving the failed output needs the checker's written reason.
    assert_eq!(
        r.apply(C1, approve("o3")),
        Err(AirlockError::OverrideReasonRequired("o3".into()))
    );
    let with_reason = Act::Vote(Ballot {
        output: "o3".into(),
        vote: Vote::Approve,
        comment: None,
        public: false,
        override_reason: Some("the exception holds: the cell is fixed by design".into()),
    });
    assert!(r.apply(C1, with_reason).is_ok());
    let empty = Request::new("r1", vec![]);
    assert_eq!(empty.ready(), Err(AirlockError::Empty));
}

#[test]
fn a_return_needs_a_comment_and_resubmission_starts_a_new_turn() {
    let mut r = request();
    r.apply(AUTHOR, Act::Submit).unwrap();
    let changes = |id: &str, c: Option<&str>| {
        Act::Vote(Ballot {
            output: id.into(),
            vote: Vote::ChangesRequested,
            comment: c.map(str::to_string),
            public: true,
            override_reason: None,
        })
    };
    assert_eq!(
        r.apply(C1, changes("o1", None)),
        Err(AirlockError::CommentRequired)
    );
    r.apply(C1, changes("o1", Some("merge the 85+ bands")))
        .unwrap();
    r.apply(C1, approve("o2")).unwrap();
    r.apply(C1, Act::SubmitReview).unwrap();
    r.apply(C2, approve("o1")).unwrap();
    r.apply(C2, approve("o2")).unwrap();
    r.apply(C2, Act::SubmitReview).unwrap();
    assert_eq!(
        r.apply(C2, Act::Approve),
        Err(AirlockError::NotAllApproved("o1".into()))
    );
    assert_eq!(r.apply(C2, Act::Reject), Err(AirlockError::NoRejection));
    assert_eq!(
        r.apply(C2, Act::Return { comment: "".into() }),
        Err(AirlockError::CommentRequired)
    );
    assert_eq!(r.public_comments(), vec![]);
    assert_eq!(
        r.apply(
            C2,
            Act::Return {
                comment: "see the comments".into()
            }
        ),
        Ok(State::Returned)
    );
    assert_eq!(r.public_comments(), vec![("o1", "merge the 85+ bands")]);
    assert_eq!(r.apply(AUTHOR, Act::Submit), Ok(State::Submitted));
    assert_eq!(r.turn, 2);
    assert!(r.reviews.is_empty());
}

#[test]
fn a_checker_may_return_a_request_before_every_review_is_in() {
    let mut r = request();
    r.apply(AUTHOR, Act::Submit).unwrap();
    assert_eq!(
        r.apply(
            AUTHOR,
            Act::Return {
                comment: "x".into()
            }
        ),
        Err(AirlockError::NotChecker)
    );
    assert_eq!(
        r.apply(
            C1,
            Act::Return {
                comment: "the context does not say what the counts are".into()
            }
        ),
        Ok(State::Returned)
    );
    assert_eq!(
        r.apply(C1, Act::Release),
        Err(AirlockError::WrongState {
            state: State::Returned,
            act: "release"
        })
    );
    assert_eq!(r.apply(AUTHOR, Act::Withdraw), Ok(State::Withdrawn));
    assert_eq!(
        r.apply(AUTHOR, Act::Submit),
        Err(AirlockError::WrongState {
            state: State::Withdrawn,
            act: "submit"
        })
    );
}

#[test]
fn supporting_files_are_not_voted_on() {
    let mut r = request();
    r.groups[0].outputs.push(OutputRef {
        id: "s1".into(),
        verdict: Outcome::Review,
        exception: None,
        supporting: true,
    });
    r.apply(AUTHOR, Act::Submit).unwrap();
    assert_eq!(
        r.apply(C1, approve("s1")),
        Err(AirlockError::NoSuchOutput("s1".into()))
    );
    r.apply(C1, approve("o1")).unwrap();
    r.apply(C1, approve("o2")).unwrap();
    assert_eq!(r.apply(C1, Act::SubmitReview), Ok(State::PartiallyReviewed));
}

fn act_strategy() -> impl Strategy<Value = (usize, Act)> {
    let ballot = (
        prop_oneof![Just("o1"), Just("o2"), Just("o3")],
        0..3u8,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(o, v, c, r)| Ballot {
            output: o.to_string(),
            vote: [Vote::Approve, Vote::ChangesRequested, Vote::Reject][v as usize],
            comment: c.then(|| "because".to_string()),
            public: c,
            override_reason: r.then(|| "reason".to_string()),
        });
    let act = prop_oneof![
        Just(Act::Submit),
        Just(Act::Withdraw),
        ballot.prop_map(Act::Vote),
        Just(Act::SubmitReview),
        Just(Act::Approve),
        Just(Act::Reject),
        prop_oneof![Just(""), Just("fix it")].prop_map(|c| Act::Return {
            comment: c.to_string()
        }),
        Just(Act::Release),
    ];
    (0usize..5, act)
}

proptest! {
    /// Whatever anyone tries in whatever order: a refused act changes nothing; a
    /// request is released only after every output has the approval of two distinct
    /// checkers outside the study; nothing leaves a final state.
    #[test]
    fn no_sequence_releases_without_two_outside_approvals(acts in proptest::collection::vec(act_strategy(), 0..60)) {
        let people = [AUTHOR, COLLEAGUE, C1, C2, C3];
        let mut r = request();
        r.groups[0].outputs.push(OutputRef { id: "o3".into(), verdict: Outcome::Fail, exception: Some("asked".into()), supporting: false });
        for (k, act) in acts {
            let before = r.clone();
            match r.apply(people[k], act) {
                Err(_) => prop_assert_eq!(&r, &before),
                Ok(_) => prop_assert!(!before.state.is_final()),
            }
            if r.state == State::Released || r.state == State::Approved {
                let approvers: Vec<&Review> = r.reviews.iter().filter(|x| x.submitted).collect();
                prop_assert_eq!(approvers.len(), 2);
                prop_assert_ne!(&approvers[0].checker, &approvers[1].checker);
                for a in &approvers {
                    prop_assert!(a.checker != "r1" && a.checker != "r2");
                    for o in r.voted_outputs() {
                        prop_assert!(a.ballots.iter().any(|b| b.output == o.id && b.vote == Vote::Approve));
                    }
                }
            }
        }
    }
}
