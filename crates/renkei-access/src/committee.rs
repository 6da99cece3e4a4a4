//! The ethics committee: its members, the guideline's composition requirements, and
//! recusal.
//!
//! The national ethical guidelines for life-science and medical research require of a
//! committee, and again of the members present for a decision: (1) an expert in the
//! natural sciences (medicine, health); (2) an expert in the humanities or social
//! sciences (ethics, law); (3) a member who speaks for the general public, research
//! subjects included; (4) two or more members from outside the establishing
//! institution; (5) members of both sexes; (6) at least five members. One person
//! cannot fill more than one of (1)–(3): a member is recorded with exactly one
//! expertise category, so three categories need three people by construction.
//!
//! People involved in the study under review, and members who declare a conflict of
//! interest in it, take no part in deliberation or decision; the quorum is checked on
//! who remains.

use serde::{Deserialize, Serialize};

/// The expertise category a member is appointed for (one per member).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expertise {
    /// 自然科学の有識者 (medicine, health).
    NaturalScience,
    /// 人文・社会科学の有識者 (ethics, law).
    HumanitiesSocial,
    /// 一般の立場を代弁できる者 (the general public, research subjects included).
    GeneralPublic,
}

impl Expertise {
    /// Every category.
    pub const ALL: [Expertise; 3] = [
        Expertise::NaturalScience,
        Expertise::HumanitiesSocial,
        Expertise::GeneralPublic,
    ];

    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            Expertise::NaturalScience => "natural_science",
            Expertise::HumanitiesSocial => "humanities_social",
            Expertise::GeneralPublic => "general_public",
        }
    }

    /// The category with this code.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }
}

/// A member's sex as recorded for requirement (5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// 女性.
    Female,
    /// 男性.
    Male,
}

/// One committee member, with the attributes the composition rules read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's user id.
    pub id: String,
    /// The category they were appointed for.
    pub expertise: Expertise,
    /// From outside the institution that established the committee.
    pub external: bool,
    /// Recorded sex.
    pub sex: Sex,
}

/// One of the guideline's six requirements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// (1) An expert in the natural sciences.
    NaturalScience,
    /// (2) An expert in the humanities or social sciences.
    HumanitiesSocial,
    /// (3) A member who speaks for the general public.
    GeneralPublic,
    /// (4) Two or more members from outside the institution.
    TwoExternal,
    /// (5) Members of both sexes.
    BothSexes,
    /// (6) At least five members.
    FiveMembers,
}

impl Requirement {
    /// Every requirement, in the guideline's order.
    pub const ALL: [Requirement; 6] = [
        Requirement::NaturalScience,
        Requirement::HumanitiesSocial,
        Requirement::GeneralPublic,
        Requirement::TwoExternal,
        Requirement::BothSexes,
        Requirement::FiveMembers,
    ];

    /// Stable code (for audit entries, API answers and message lookup).
    pub fn code(self) -> &'static str {
        match self {
            Requirement::NaturalScience => "natural_science_member",
            Requirement::HumanitiesSocial => "humanities_social_member",
            Requirement::GeneralPublic => "general_public_member",
            Requirement::TwoExternal => "two_external_members",
            Requirement::BothSexes => "both_sexes",
            Requirement::FiveMembers => "five_members",
        }
    }

    /// What the requirement asks, in Japanese.
    pub fn ja(self) -> &'static str {
        match self {
            Requirement::NaturalScience => {
                "医学・医療の専門家等、自然科学の有識者が含まれていること"
            }
            Requirement::HumanitiesSocial => {
                "倫理学・法律学の専門家等、人文・社会科学の有識者が含まれていること"
            }
            Requirement::GeneralPublic => {
                "研究対象者の観点も含めて一般の立場から意見を述べることのできる者が含まれていること"
            }
            Requirement::TwoExternal => {
                "倫理審査委員会の設置者の所属機関に所属しない者が複数含まれていること"
            }
            Requirement::BothSexes => "男女両性で構成されていること",
            Requirement::FiveMembers => "5名以上であること",
        }
    }

    /// What the requirement asks, in English.
    pub fn en(self) -> &'static str {
        match self {
            Requirement::NaturalScience => "an expert in the natural sciences (medicine, health)",
            Requirement::HumanitiesSocial => {
                "an expert in the humanities or social sciences (ethics, law)"
            }
            Requirement::GeneralPublic => {
                "a member who speaks for the general public, research subjects included"
            }
            Requirement::TwoExternal => {
                "two or more members from outside the establishing institution"
            }
            Requirement::BothSexes => "members of both sexes",
            Requirement::FiveMembers => "at least five members",
        }
    }

    fn met_by(self, members: &[&Member]) -> bool {
        let has = |e| members.iter().any(|m| m.expertise == e);
        match self {
            Requirement::NaturalScience => has(Expertise::NaturalScience),
            Requirement::HumanitiesSocial => has(Expertise::HumanitiesSocial),
            Requirement::GeneralPublic => has(Expertise::GeneralPublic),
            Requirement::TwoExternal => members.iter().filter(|m| m.external).count() >= 2,
            Requirement::BothSexes => {
                members.iter().any(|m| m.sex == Sex::Female)
                    && members.iter().any(|m| m.sex == Sex::Male)
            }
            Requirement::FiveMembers => members.len() >= 5,
        }
    }
}

/// Every requirement `members` fail, in the guideline's order (empty: they meet all
/// six). The same rule serves the committee as appointed and the quorum present for a
/// decision. A member listed twice counts once.
pub fn unmet<'a>(members: impl IntoIterator<Item = &'a Member>) -> Vec<Requirement> {
    let mut distinct: Vec<&Member> = Vec::new();
    for m in members {
        if !distinct.iter().any(|d| d.id == m.id) {
            distinct.push(m);
        }
    }
    Requirement::ALL
        .into_iter()
        .filter(|r| !r.met_by(&distinct))
        .collect()
}

/// Why a member takes no part in the decision on an application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recusal {
    /// The member declared a conflict of interest in this application.
    ConflictOfInterest,
    /// The member is involved in the study (applicant or a person named on it).
    InvolvedInStudy,
}

impl Recusal {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            Recusal::ConflictOfInterest => "conflict_of_interest",
            Recusal::InvolvedInStudy => "involved_in_study",
        }
    }
}

/// Who of the members present may deliberate and vote on an application, and who is
/// recused, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sitting<'a> {
    /// Members who take part.
    pub voting: Vec<&'a Member>,
    /// Members recused, each with the reason (involvement first: it holds whatever the
    /// member declared).
    pub recused: Vec<(&'a Member, Recusal)>,
    /// The requirements the voting members fail (empty: a decision may be recorded).
    pub unmet: Vec<Requirement>,
}

impl Sitting<'_> {
    /// Whether a decision may be recorded.
    pub fn quorate(&self) -> bool {
        self.unmet.is_empty()
    }
}

/// The sitting for one application: `present` members, less those `involved` in the
/// study (user ids of the applicant and every person named on it) and those who
/// declared a conflict (`conflicted`, user ids). Recusal is automatic: nobody chooses
/// to keep a conflicted member in.
pub fn sitting<'a>(
    present: &'a [Member],
    involved: &[String],
    conflicted: &[String],
) -> Sitting<'a> {
    let mut voting = Vec::new();
    let mut recused = Vec::new();
    for m in present {
        if recused
            .iter()
            .any(|(r, _): &(&Member, Recusal)| r.id == m.id)
            || voting.iter().any(|v: &&Member| v.id == m.id)
        {
            continue;
        }
        if involved.contains(&m.id) {
            recused.push((m, Recusal::InvolvedInStudy));
        } else if conflicted.contains(&m.id) {
            recused.push((m, Recusal::ConflictOfInterest));
        } else {
            voting.push(m);
        }
    }
    let unmet = unmet(voting.iter().copied());
    Sitting {
        voting,
        recused,
        unmet,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(id: &str, expertise: Expertise, external: bool, sex: Sex) -> Member {
        Member {
            id: id.into(),
            expertise,
            external,
            sex,
        }
    }

    /// Five members who meet every requirement, each needed for at least one.
    fn full() -> Vec<Member> {
        vec![
            m("ns", Expertise::NaturalScience, false, Sex::Male),
            m("hs", Expertise::HumanitiesSocial, true, Sex::Female),
            m("gp", Expertise::GeneralPublic, true, Sex::Male),
            m("ns2", Expertise::NaturalScience, false, Sex::Female),
            m("ns3", Expertise::NaturalScience, false, Sex::Male),
        ]
    }

    #[test]
    fn a_committee_that_meets_the_guideline_has_nothing_unmet() {
        assert_eq!(unmet(&full()), vec![]);
    }

    // One failing case per requirement: the full committee with one change.

    #[test]
    fn requirement_1_needs_a_natural_science_expert() {
        let mut c = full();
        for x in &mut c {
            if x.expertise == Expertise::NaturalScience {
                x.expertise = Expertise::HumanitiesSocial;
            }
        }
        assert_eq!(unmet(&c), vec![Requirement::NaturalScience]);
    }

    #[test]
    fn requirement_2_needs_a_humanities_or_social_science_expert() {
        let mut c = full();
        c[1].expertise = Expertise::NaturalScience;
        assert_eq!(unmet(&c), vec![Requirement::HumanitiesSocial]);
    }

    #[test]
    fn requirement_3_needs_a_member_for_the_general_public() {
        let mut c = full();
        c[2].expertise = Expertise::NaturalScience;
        assert_eq!(unmet(&c), vec![Requirement::GeneralPublic]);
    }

    #[test]
    fn requirement_4_needs_two_external_members() {
        let mut c = full();
        c[2].external = false;
        assert_eq!(unmet(&c), vec![Requirement::TwoExternal]);
    }

    #[test]
    fn requirement_5_needs_both_sexes() {
        let mut c = full();
        for x in &mut c {
            x.sex = Sex::Male;
        }
        assert_eq!(unmet(&c), vec![Requirement::BothSexes]);
    }

    #[test]
    fn requirement_6_needs_five_members() {
        let mut c = full();
        c.pop();
        assert_eq!(unmet(&c), vec![Requirement::FiveMembers]);
    }

    #[test]
    fn one_person_cannot_fill_two_categories_and_a_duplicate_counts_once() {
        // Four people, one of them listed twice: still four members.
        let mut c = full();
        c.pop();
        c.push(c[0].clone());
        assert_eq!(unmet(&c), vec![Requirement::FiveMembers]);
    }

    #[test]
    fn every_unmet_requirement_is_named_at_once() {
        let c = vec![m("a", Expertise::NaturalScience, false, Sex::Male)];
        assert_eq!(
            unmet(&c),
            vec![
                Requirement::HumanitiesSocial,
                Requirement::GeneralPublic,
                Requirement::TwoExternal,
                Requirement::BothSexes,
                Requirement::FiveMembers,
            ]
        );
        assert_eq!(unmet(&[]).len(), 6);
    }

    // The quorum: the same six, on the members left after recusal.

    #[test]
    fn quorum_requirement_1_after_a_conflict() {
        let mut c = full();
        c[3].expertise = Expertise::HumanitiesSocial;
        c[4].expertise = Expertise::GeneralPublic;
        let s = sitting(&c, &[], &["ns".into()]);
        assert_eq!(
            s.unmet,
            vec![Requirement::NaturalScience, Requirement::FiveMembers]
        );
        assert_eq!(s.recused, vec![(&c[0], Recusal::ConflictOfInterest)]);
        assert!(!s.quorate());
    }

    #[test]
    fn quorum_requirement_2_after_involvement() {
        let mut c = full();
        c.push(m("ns4", Expertise::NaturalScience, false, Sex::Male));
        let s = sitting(&c, &["hs".into()], &[]);
        // The only humanities expert was also one of the two external members.
        assert_eq!(
            s.unmet,
            vec![Requirement::HumanitiesSocial, Requirement::TwoExternal]
        );
        assert_eq!(s.recused, vec![(&c[1], Recusal::InvolvedInStudy)]);
    }

    #[test]
    fn quorum_requirement_3_after_a_conflict() {
        let mut c = full();
        c.push(m("x", Expertise::NaturalScience, true, Sex::Male));
        let s = sitting(&c, &[], &["gp".into()]);
        assert_eq!(s.unmet, vec![Requirement::GeneralPublic]);
    }

    #[test]
    fn quorum_requirement_4_after_a_conflict() {
        let mut c = full();
        c.push(m("x", Expertise::NaturalScience, false, Sex::Male));
        c[2].external = false;
        c.push(m("y", Expertise::GeneralPublic, true, Sex::Female));
        let s = sitting(&c, &[], &["hs".into()]);
        assert_eq!(
            s.unmet,
            vec![Requirement::HumanitiesSocial, Requirement::TwoExternal]
        );
    }

    #[test]
    fn quorum_requirement_5_after_a_conflict() {
        let mut c = full();
        c.push(m("x", Expertise::HumanitiesSocial, true, Sex::Male));
        c.push(m("y", Expertise::NaturalScience, false, Sex::Male));
        let s = sitting(&c, &[], &["hs".into(), "ns2".into()]);
        assert_eq!(s.unmet, vec![Requirement::BothSexes]);
    }

    #[test]
    fn quorum_requirement_6_when_too_few_are_present() {
        let c = full();
        let s = sitting(&c[..4], &[], &[]);
        assert_eq!(s.unmet, vec![Requirement::FiveMembers]);
    }

    #[test]
    fn involvement_outranks_a_declared_conflict() {
        let c = full();
        let s = sitting(&c, &["ns".into()], &["ns".into()]);
        assert_eq!(s.recused, vec![(&c[0], Recusal::InvolvedInStudy)]);
    }

    fn member() -> impl Strategy<Value = Member> {
        (
            0u8..12,
            prop::sample::select(Expertise::ALL.to_vec()),
            any::<bool>(),
            prop::bool::ANY.prop_map(|f| if f { Sex::Female } else { Sex::Male }),
        )
            .prop_map(|(id, expertise, external, sex)| Member {
                id: format!("m{id}"),
                expertise,
                external,
                sex,
            })
    }

    proptest! {
        /// Recusing more people never makes a sitting quorate that was not, and no
        /// recused member votes.
        #[test]
        fn recusal_only_ever_removes(
            present in prop::collection::vec(member(), 0..12),
            conflicted in prop::collection::vec(0u8..12, 0..6),
            extra in 0u8..12,
        ) {
            let conflicted: Vec<String> = conflicted.iter().map(|i| format!("m{i}")).collect();
            let s = sitting(&present, &[], &conflicted);
            let mut more = conflicted.clone();
            more.push(format!("m{extra}"));
            let t = sitting(&present, &[], &more);
            prop_assert!(s.quorate() || !t.quorate());
            for v in &t.voting {
                prop_assert!(!more.contains(&v.id));
            }
            for (r, _) in &t.recused {
                prop_assert!(more.contains(&r.id));
            }
            // Every requirement the smaller sitting fails, the larger fails too.
            for r in &s.unmet {
                prop_assert!(t.unmet.contains(r));
            }
        }
    }
}
