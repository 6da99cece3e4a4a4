//! The service on SQLite and PostgreSQL: the whole way from a draft to a permit and
//! closure, with every refusal on the way named and audited.

use crate::accreditation::{Accreditation, Standing};
use crate::application::{Application, DataRequest, Purpose, TableRequest};
use crate::committee::{Expertise, Member, Requirement, Sex};
use crate::flow::{Decision, State};
use crate::{AccessError, Applications};
use renkei_audit::Audit;
use renkei_core::time::{ManualClock, Timestamp};
use renkei_core::{AuthMethod, Caller, Coded as _, Role, UserId, Username};
use renkei_crypto::{KeyStore, RootKey};

use renkei_store::{Store, sqlx, store_test};
use std::sync::Arc;
use time::macros::date;

struct W {
    store: Store,
    apps: Applications,
    clock: ManualClock,
}

fn caller(id: &str, roles: &[Role]) -> Caller {
    Caller::user(
        UserId::from_stored(id.into()),
        Username::parse(&format!("user{id}")).unwrap(),
        roles.to_vec(),
        AuthMethod::SessionMfa,
        "req",
    )
}

async fn world(store: &Store) -> W {
    // 2026-11-29 12:00 JST.
    let clock = ManualClock::new(Timestamp::from_secs(1_795_921_200));
    let keys = Arc::new(KeyStore::from_keys(RootKey::generate(), None));
    let audit = Audit::new(store.clone(), keys, Arc::new(clock.clone()), None);
    for u in [
        "r1", "r2", "sec", "m1", "m2", "m3", "m4", "m5", "m6", "c1", "c2", "stranger",
    ] {
        sqlx::query(
            "INSERT INTO users (id, username, display_name, password_hash, status, created_at, updated_at) \
             VALUES ($1, $1, $1, '', 'active', 0, 0)",
        )
        .bind(u)
        .execute(store.pool())
        .await
        .unwrap();
    }
    let mut tx = store.begin().await.unwrap();
    for id in ["ndb_claims", "deaths"] {
        renkei_catalog::ensure_dataset(
            &mut tx,
            &renkei_catalog::builtin(id).unwrap(),
            "k",
            Timestamp(0),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    for (d, u) in [("deaths", "c1"), ("ndb_claims", "c2")] {
        sqlx::query(
            "INSERT INTO dataset_custodians (dataset_id, user_id, assigned_at, assigned_by) VALUES ($1, $2, 0, 'test')",
        )
        .bind(d)
        .bind(u)
        .execute(store.pool())
        .await
        .unwrap();
    }
    W {
        store: store.clone(),
        apps: Applications::new(store.clone(), audit, Arc::new(clock.clone())),
        clock,
    }
}

fn member(id: &str, expertise: Expertise, external: bool, sex: Sex) -> Member {
    Member {
        id: id.into(),
        expertise,
        external,
        sex,
    }
}

fn accreditation(user: &str) -> Accreditation {
    Accreditation {
        user: user.into(),
        course: "利用者研修".into(),
        trained_on: Some(date!(2026 - 04 - 01)),
        pledge_signed_on: Some(date!(2026 - 04 - 01)),
        institution: "合成大学".into(),
        safety_measures: "施錠した分析室".into(),
        expires_on: date!(2027 - 03 - 31),
        revoked: None,
    }
}

fn content() -> Application {
    Application {
        title: "糖尿病の受療と死亡".into(),
        institution: "合成大学".into(),
        handlers: vec!["r1".into(), "r2".into()],
        purpose: Some(Purpose::Research),
        purpose_text: "受療と死亡の関連".into(),
        summary_ja: "糖尿病の人の受診と死因の関係を調べます。".into(),
        public_interest: "重症化予防".into(),
        commercial: Some(false),
        why_pseudonymized: "個人単位の連結のため".into(),
        methods: "コホート研究".into(),
        data: vec![
            DataRequest {
                dataset: "ndb_claims".into(),
                tables: vec![TableRequest {
                    table: "receipts".into(),
                    variables: vec!["sex".into(), "age_band".into()],
                }],
                ..Default::default()
            },
            DataRequest {
                dataset: "deaths".into(),
                tables: vec![TableRequest {
                    table: "deaths".into(),
                    variables: vec!["sex".into()],
                }],
                ..Default::default()
            },
        ],
        linkage_reason: "転帰を得るため".into(),
        use_from: Some(date!(2027 - 01 - 01)),
        use_to: Some(date!(2027 - 12 - 31)),
        place_of_use: "Visiting".into(),
        publication_plan: "論文".into(),
        safety_measures: "施錠".into(),
        conflicts_of_interest: "なし".into(),
        ..Default::default()
    }
}

async fn audit_rows(store: &Store) -> Vec<(String, String, String, String)> {
    sqlx::query_as("SELECT action, object, outcome, reason FROM audit_log ORDER BY seq")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

/// The whole way: draft → submit (refused until complete and everyone accredited) →
/// return → resubmit → a meeting short of the guideline (refused, reasons named) → a
/// recusal → approval with conditions → each custodian confirms their own dataset →
/// permit → closure; every step in the history and the audit log.
async fn from_draft_to_permit_and_closure(store: Store) {
    let w = world(&store).await;
    let researcher = caller("r1", &[Role::Researcher]);
    let sec = w
        .apps
        .secretariat(&caller("sec", &[Role::Secretariat]))
        .await
        .unwrap();
    let me = w.apps.applicant(&researcher).await.unwrap();

    // A draft is saved as it is; submitting names every problem at once.
    let mut draft = content();
    draft.title.clear();
    let id = me.create(&draft).await.unwrap();
    let err = me.submit(&id).await.unwrap_err();
    assert_eq!(err.code(), "application_incomplete");
    let AccessError::Invalid(problems) = &err else {
        panic!("{err:?}")
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["title", "handlers[0]", "handlers[1]"],
        "{problems:?}"
    );
    assert_eq!(problems[1].code, "not_accredited");

    // With the title and accreditations, it goes in.
    sec.accredit(&accreditation("r1")).await.unwrap();
    sec.accredit(&accreditation("r2")).await.unwrap();
    assert_eq!(
        me.save(&id, &content()).await.unwrap(),
        1,
        "a draft is saved over itself"
    );
    assert_eq!(me.submit(&id).await.unwrap(), State::Submitted);

    // Returned for changes: the next save is a new version; the first is kept.
    sec.return_for_changes(&id, "公表計画を具体的に")
        .await
        .unwrap();
    let mut changed = content();
    changed.publication_plan = "2028年に論文と公開報告書".into();
    assert_eq!(me.save(&id, &changed).await.unwrap(), 2);
    assert_eq!(me.submit(&id).await.unwrap(), State::Submitted);
    // No meeting opens while the committee fails the guideline: every unmet
    // requirement is named.
    let e = sec
        .schedule("第12回委員会", date!(2026 - 12 - 10), &[])
        .await
        .unwrap_err();
    let AccessError::Quorum(unmet) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(unmet.len(), 6);

    // The committee: five members who meet the guideline, one of them conflicted,
    // and r2 (named on the application) appointed too.
    for m in [
        member("m1", Expertise::NaturalScience, false, Sex::Male),
        member("m2", Expertise::HumanitiesSocial, true, Sex::Female),
        member("m3", Expertise::GeneralPublic, true, Sex::Male),
        member("m4", Expertise::NaturalScience, false, Sex::Female),
        member("m5", Expertise::NaturalScience, false, Sex::Male),
        member("r2", Expertise::GeneralPublic, true, Sex::Female),
    ] {
        sec.appoint(&m).await.unwrap();
    }
    assert_eq!(sec.roster().await.unwrap().1, vec![]);
    let meeting = sec
        .schedule("第12回委員会", date!(2026 - 12 - 10), &[])
        .await
        .unwrap();
    assert!(!meeting.expedited);
    sec.send_to_meeting(&id, &meeting.id).await.unwrap();
    assert_eq!(
        sec.meetings().await.unwrap()[0].agenda,
        std::slice::from_ref(&id),
        "on the meeting's agenda"
    );
    let m5 = w
        .apps
        .member(&caller("m5", &[Role::CommitteeMember]))
        .await
        .unwrap();
    m5.declare(&id, true, "共同研究者").await.unwrap();
    // Members comment; the conflicted one is recused from the discussion too.
    let m1 = w
        .apps
        .member(&caller("m1", &[Role::CommitteeMember]))
        .await
        .unwrap();
    m1.comment(&id, "連結の必要性は十分に説明されている")
        .await
        .unwrap();
    assert_eq!(m5.comment(&id, "賛成").await.unwrap_err().code(), "recused");
    let present: Vec<String> = ["m1", "m2", "m3", "m4", "m5", "r2"]
        .map(String::from)
        .to_vec();
    // m5 (conflict) and r2 (involved) are recused: four remain.
    let err = sec
        .decide(&id, Decision::Approve, &present, "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "quorum_not_met");
    let AccessError::Quorum(unmet) = &err else {
        panic!()
    };
    assert_eq!(unmet, &[Requirement::FiveMembers]);
    // A sixth member comes; the decision is recorded with who sat and who did not.
    sec.appoint(&member("m6", Expertise::HumanitiesSocial, false, Sex::Male))
        .await
        .unwrap();
    let mut present = present;
    present.push("m6".into());
    let state = sec
        .decide(
            &id,
            Decision::ApproveWithConditions {
                conditions: vec!["公表前に事務局へ報告".into()],
            },
            &present,
            "公益性が高い",
        )
        .await
        .unwrap();
    assert!(matches!(state, State::Approved { .. }));

    // Custodians confirm, each only their own dataset.
    let c1 = w
        .apps
        .custodian(&caller("c1", &[Role::Custodian]))
        .await
        .unwrap();
    let c2 = w
        .apps
        .custodian(&caller("c2", &[Role::Custodian]))
        .await
        .unwrap();
    let err = c1.confirm(&id, "ndb_claims", "").await.unwrap_err();
    assert_eq!(err.code(), "not_custodian");
    c1.confirm(&id, "deaths", "").await.unwrap();
    let state = c2.confirm(&id, "ndb_claims", "").await.unwrap();
    assert_eq!(
        state,
        State::Permitted {
            conditions: vec!["公表前に事務局へ報告".into()]
        }
    );

    // The permit is issued from the version approved, with the conditions; it names
    // the people of the application.
    let r2 = caller("r2", &[Role::Researcher]);
    let stranger = caller("stranger", &[Role::Researcher]);
    let p = w.apps.project(&researcher, &id).await.unwrap();
    assert_eq!((p.permit.version, p.permit.application_version), (1, 2));
    assert_eq!(p.permit.people, ["r1", "r2"]);
    assert_eq!(p.permit.conditions, ["公表前に事務局へ報告"]);
    assert_eq!(p.permit.linked_datasets, ["deaths", "ndb_claims"]);
    assert_eq!(p.status(), "not_started");
    assert_eq!(
        w.apps.project(&stranger, &id).await.unwrap_err().code(),
        "not_on_project"
    );
    // Before the period, nobody reaches the data; in it, the people named do.
    assert_eq!(
        w.apps.in_force(&researcher, &id).await.unwrap_err().code(),
        "permit_not_started"
    );
    w.clock
        .set(Timestamp::from_secs(1_798_761_600 + 86_400 * 30)); // 2027-01-31
    let ok = w.apps.in_force(&researcher, &id).await.unwrap();
    assert_eq!((ok.project(), ok.user().as_str()), (id.as_str(), "r1"));
    assert_eq!(
        w.apps.in_force(&stranger, &id).await.unwrap_err().code(),
        "not_named_on_permit"
    );
    // A revocation stops access on the next request; a new accreditation restores it.
    sec.revoke("r2", "規約違反の疑い").await.unwrap();
    assert_eq!(
        w.apps.in_force(&r2, &id).await.unwrap_err().code(),
        "accreditation_revoked"
    );
    let mut renewed = accreditation("r2");
    renewed.expires_on = date!(2028 - 03 - 31);
    sec.accredit(&renewed).await.unwrap();
    w.apps.in_force(&r2, &id).await.unwrap();
    // Only the applicant or the secretariat closes; the closure is recorded with the
    // certificate the data store gives back, and access stops for good.
    assert_eq!(
        w.apps
            .begin_closure(&r2, &id, "終了")
            .await
            .unwrap_err()
            .code(),
        "not_yours_to_close"
    );
    let closure = w
        .apps
        .begin_closure(&researcher, &id, "研究終了")
        .await
        .unwrap();
    let cert = serde_json::json!({ "id": "dc-1", "key_ids": ["k1"], "digest": "d" });
    let closed = w.apps.finish_closure(closure, cert.clone()).await.unwrap();
    assert_eq!(closed.status(), "closed");
    assert_eq!(closed.closed.as_ref().unwrap().certificate, cert);
    assert_eq!(
        w.apps.in_force(&researcher, &id).await.unwrap_err().code(),
        "project_closed"
    );
    assert_eq!(
        w.apps
            .begin_closure(&researcher, &id, "again")
            .await
            .unwrap_err()
            .code(),
        "project_closed"
    );
    let register = w.apps.register().await.unwrap();
    assert_eq!(register.len(), 1);
    assert_eq!(
        (register[0].status.as_str(), &register[0].certificate),
        ("closed", &Some(cert))
    );
    assert_eq!(register[0].summary_ja, content().summary_ja);

    // The history, as the applicant sees it.
    let v = me.view(&id).await.unwrap();
    let steps: Vec<&str> = v.history.iter().map(|h| h.step.as_str()).collect();
    assert_eq!(
        steps,
        [
            "submit",
            "return",
            "submit",
            "send_to_meeting",
            "decide",
            "confirm",
            "confirm",
            "close"
        ]
    );
    assert_eq!(v.history[1].detail["reason"], "公表計画を具体的に");
    let decided = &v.history[4].detail;
    assert_eq!(decided["recused"].as_array().unwrap().len(), 2, "{decided}");
    assert_eq!(
        decided["comments"],
        serde_json::json!([{ "member": "m1", "comment": "連結の必要性は十分に説明されている" }])
    );
    assert_eq!(decided["present"].as_array().unwrap().len(), 5);
    assert_eq!(v.version, 2);
    let kept: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM application_versions WHERE application_id = $1")
            .bind(&id)
            .fetch_one(w.store.pool())
            .await
            .unwrap();
    assert_eq!(kept, 2);

    // Every refusal on the way is in the log, with its reason.
    let rows = audit_rows(&w.store).await;
    let denied: Vec<&str> = rows
        .iter()
        .filter(|r| r.2 == "denied")
        .map(|r| r.3.as_str())
        .collect();
    assert_eq!(
        denied,
        [
            "application_incomplete",
            "quorum_not_met",
            "recused",
            "quorum_not_met",
            "not_custodian",
            "not_on_project",
            "permit_not_started",
            "not_named_on_permit",
            "accreditation_revoked",
            "not_yours_to_close",
            "project_closed",
            "project_closed"
        ]
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.0 == "application.step" && r.2 == "allowed")
            .count(),
        7
    );
    for action in ["permit.issue", "project.close"] {
        assert_eq!(
            rows.iter()
                .filter(|r| r.0 == action && r.2 == "allowed")
                .count(),
            1,
            "{action}"
        );
    }
}

/// Nobody reaches another's application or a step that is not theirs, and each
/// refusal is audited.
async fn objects_belong_to_their_people(store: Store) {
    let w = world(&store).await;
    let mine = w
        .apps
        .applicant(&caller("r1", &[Role::Researcher]))
        .await
        .unwrap();
    let id = mine.create(&content()).await.unwrap();
    let other = w
        .apps
        .applicant(&caller("stranger", &[Role::Researcher]))
        .await
        .unwrap();
    for err in [
        other.view(&id).await.unwrap_err(),
        other.save(&id, &content()).await.unwrap_err(),
        other.submit(&id).await.unwrap_err(),
        other.withdraw(&id).await.unwrap_err(),
    ] {
        assert_eq!(err.code(), "not_own_application");
    }
    assert!(other.mine().await.unwrap().is_empty());
    // Desks by permission.
    let err = w
        .apps
        .secretariat(&caller("r1", &[Role::Researcher]))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "permission_missing");
    let err = w
        .apps
        .member(&caller("m1", &[Role::CommitteeMember]))
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.code(),
        "not_on_roster",
        "a member must be appointed first"
    );
    let sec = w
        .apps
        .secretariat(&caller("sec", &[Role::Secretariat]))
        .await
        .unwrap();
    sec.appoint(&member("m1", Expertise::NaturalScience, false, Sex::Male))
        .await
        .unwrap();
    let m1 = w
        .apps
        .member(&caller("m1", &[Role::CommitteeMember]))
        .await
        .unwrap();
    assert_eq!(
        m1.view(&id).await.unwrap_err().code(),
        "not_before_committee",
        "a draft is the applicant's alone"
    );
    // Steps out of turn.
    let m = sec
        .schedule("迅速審査", date!(2026 - 12 - 10), &["m1".into()])
        .await
        .unwrap();
    assert_eq!(
        sec.send_to_meeting(&id, &m.id).await.unwrap_err().code(),
        "illegal_step"
    );
    assert_eq!(
        sec.send_to_meeting("app-nope", &m.id)
            .await
            .unwrap_err()
            .code(),
        "no_such_application"
    );
    assert_eq!(
        sec.send_to_meeting(&id, "mtg-nope")
            .await
            .unwrap_err()
            .code(),
        "invalid_input"
    );
    let rows = audit_rows(&w.store).await;
    let denied: Vec<&str> = rows
        .iter()
        .filter(|r| r.2 == "denied")
        .map(|r| r.3.as_str())
        .collect();
    assert_eq!(
        denied,
        [
            "not_own_application",
            "not_own_application",
            "not_own_application",
            "not_own_application",
            "permission_missing",
            "not_on_roster",
            "not_before_committee",
            "illegal_step",
            "no_such_application",
            "invalid_input",
        ]
    );
    // Nothing of the refused steps was stored.
    assert_eq!(mine.view(&id).await.unwrap().state, State::Draft);
}

/// A revoked accreditation counts at once; an oversized application is refused and
/// leaves nothing behind.
async fn accreditation_and_limits(store: Store) {
    let w = world(&store).await;
    let sec = w
        .apps
        .secretariat(&caller("sec", &[Role::Secretariat]))
        .await
        .unwrap();
    sec.accredit(&accreditation("r1")).await.unwrap();
    assert!(
        w.apps
            .my_standing(&caller("r1", &[Role::Researcher]))
            .await
            .unwrap()
            .is_current()
    );
    assert_eq!(
        sec.revoke("r1", " ").await.unwrap_err().code(),
        "invalid_input"
    );
    sec.revoke("r1", "目的外利用").await.unwrap();
    assert!(matches!(
        w.apps
            .my_standing(&caller("r1", &[Role::Researcher]))
            .await
            .unwrap(),
        Standing::Revoked { .. }
    ));
    let me = w
        .apps
        .applicant(&caller("r1", &[Role::Researcher]))
        .await
        .unwrap();
    let mut big = content();
    big.methods = "x".repeat(crate::MAX_CONTENT_BYTES);
    assert_eq!(me.create(&big).await.unwrap_err().code(), "invalid_input");
    assert!(me.mine().await.unwrap().is_empty());
}

/// Nobody reviews their own study or acts on themselves; reviewers see only what
/// reached them, as it was submitted; declarations close with the review.
async fn duties_stay_separate(store: Store) {
    let w = world(&store).await;
    // r2 is a researcher who also works in the secretariat and as a custodian.
    let both = caller(
        "r2",
        &[Role::Researcher, Role::Secretariat, Role::Custodian],
    );
    let sec = w
        .apps
        .secretariat(&caller("sec", &[Role::Secretariat]))
        .await
        .unwrap();
    sec.accredit(&accreditation("r1")).await.unwrap();
    sec.accredit(&accreditation("r2")).await.unwrap();
    let me = w
        .apps
        .applicant(&caller("r1", &[Role::Researcher]))
        .await
        .unwrap();
    let id = me.create(&content()).await.unwrap();
    me.submit(&id).await.unwrap();
    let r2_desk = w.apps.secretariat(&both).await.unwrap();
    assert_eq!(
        r2_desk
            .return_for_changes(&id, "x")
            .await
            .unwrap_err()
            .code(),
        "involved_in_application",
        "r2 is named on the application"
    );
    assert_eq!(
        r2_desk
            .accredit(&accreditation("r2"))
            .await
            .unwrap_err()
            .code(),
        "not_for_oneself"
    );
    assert_eq!(
        sec.accredit(&accreditation("nobody"))
            .await
            .unwrap_err()
            .code(),
        "invalid_input"
    );
    assert_eq!(
        sec.appoint(&member(
            "nobody",
            Expertise::NaturalScience,
            false,
            Sex::Male
        ))
        .await
        .unwrap_err()
        .code(),
        "invalid_input"
    );
    // Returned at screening: never before the committee, so no member reads it.
    sec.return_for_changes(&id, "具体的に").await.unwrap();
    sec.appoint(&member("m1", Expertise::NaturalScience, false, Sex::Male))
        .await
        .unwrap();
    let m1 = w
        .apps
        .member(&caller("m1", &[Role::CommitteeMember]))
        .await
        .unwrap();
    assert_eq!(
        m1.view(&id).await.unwrap_err().code(),
        "not_before_committee"
    );
    assert_eq!(
        m1.declare(&id, true, "x").await.unwrap_err().code(),
        "illegal_step",
        "nothing to declare on an application the committee does not have"
    );
    // The applicant's edits after a return stay theirs until submitted again.
    let mut edited = content();
    edited.title = "未提出の修正".into();
    me.save(&id, &edited).await.unwrap();
    let seen = sec.view(&id).await.unwrap();
    assert_eq!(seen.content.title, content().title);
    assert_eq!(seen.version, 1);
    let c1 = w
        .apps
        .custodian(&caller("c1", &[Role::Custodian]))
        .await
        .unwrap();
    assert_eq!(c1.view(&id).await.unwrap_err().code(), "not_approved_yet");
    // A draft never submitted is the applicant's alone.
    let draft = me.create(&content()).await.unwrap();
    assert_eq!(
        sec.view(&draft).await.unwrap_err().code(),
        "not_submitted_yet"
    );
    assert!(sec.all().await.unwrap().iter().all(|v| v.id != draft));
}

/// A project with its permit, the quickest way: accredited people, a committee that
/// meets the guideline, approval and both custodians' confirmations.
async fn permitted(w: &W, app: &Application) -> String {
    let sec = w
        .apps
        .secretariat(&caller("sec", &[Role::Secretariat]))
        .await
        .unwrap();
    for u in &app.handlers {
        sec.accredit(&accreditation(u)).await.unwrap();
    }
    for m in [
        member("m1", Expertise::NaturalScience, false, Sex::Male),
        member("m2", Expertise::HumanitiesSocial, true, Sex::Female),
        member("m3", Expertise::GeneralPublic, true, Sex::Male),
        member("m4", Expertise::NaturalScience, false, Sex::Female),
        member("m5", Expertise::NaturalScience, false, Sex::Male),
    ] {
        sec.appoint(&m).await.unwrap();
    }
    let me = w
        .apps
        .applicant(&caller("r1", &[Role::Researcher]))
        .await
        .unwrap();
    let id = me.create(app).await.unwrap();
    me.submit(&id).await.unwrap();
    let m = sec
        .schedule("第1回", date!(2026 - 12 - 10), &[])
        .await
        .unwrap();
    sec.send_to_meeting(&id, &m.id).await.unwrap();
    let present: Vec<String> = ["m1", "m2", "m3", "m4", "m5"].map(String::from).to_vec();
    sec.decide(&id, Decision::Approve, &present, "")
        .await
        .unwrap();
    for (c, d) in [("c1", "deaths"), ("c2", "ndb_claims")] {
        let desk = w
            .apps
            .custodian(&caller(c, &[Role::Custodian]))
            .await
            .unwrap();
        desk.confirm(&id, d, "").await.unwrap();
    }
    id
}

/// The platform's sweep: warnings 30 and 7 days before the end, each once; at the end
/// a closure for the project; only the platform may run it.
async fn the_sweep_warns_once_and_closes_at_the_end(store: Store) {
    let w = world(&store).await;
    let id = permitted(&w, &content()).await;
    let system = Caller::system();
    assert_eq!(
        w.apps
            .sweep(&caller("sec", &[Role::Secretariat]))
            .await
            .unwrap_err()
            .code(),
        "platform_only"
    );
    // 2027-12-05 JST: 27 days left of the permit (ends 2027-12-31).
    w.clock.set(Timestamp::from_secs(1_827_932_400));
    let (swept, closures) = w.apps.sweep(&system).await.unwrap();
    assert!(closures.is_empty());
    assert_eq!(swept.warnings, 2, "one per person named");
    let (again, _) = w.apps.sweep(&system).await.unwrap();
    assert_eq!(again.warnings, 0, "each warning once");
    let inbox = w.apps.outbox("r1").await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].0, "permit_ending");
    assert!(inbox[0].2.contains("2027-12-31"), "{:?}", inbox[0]);
    // 2028-01-01: the period has ended; access stops, and the sweep closes it.
    w.clock.set(Timestamp::from_secs(1_830_265_200));
    assert_eq!(
        w.apps
            .in_force(&caller("r1", &[Role::Researcher]), &id)
            .await
            .unwrap_err()
            .code(),
        "permit_expired"
    );
    let (_, closures) = w.apps.sweep(&system).await.unwrap();
    assert_eq!(closures.len(), 1);
    assert_eq!(
        (closures[0].project(), closures[0].reason()),
        (id.as_str(), "expiry")
    );
    let c = closures.into_iter().next().unwrap();
    let v = w
        .apps
        .finish_closure(c, serde_json::json!({ "id": "dc-2", "key_ids": [] }))
        .await
        .unwrap();
    assert_eq!(v.status(), "closed");
    let (_, closures) = w.apps.sweep(&system).await.unwrap();
    assert!(closures.is_empty(), "closed once");
    // Results are due 18 months after the end; none added means overdue then.
    assert!(!v.overdue);
    w.clock
        .set(Timestamp::from_secs(1_830_265_200 + 86_400 * 600));
    let reg = w.apps.register().await.unwrap();
    assert!(reg[0].overdue);
    w.apps
        .add_publication(
            &caller("r2", &[Role::Researcher]),
            &id,
            "article",
            "合成 太郎. 糖尿病と死亡. 合成医学誌 2029.",
            "https://example.org/a",
        )
        .await
        .unwrap();
    let e = w
        .apps
        .add_publication(
            &caller("r1", &[Role::Researcher]),
            &id,
            "article",
            "x",
            "javascript:alert(1)",
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    let reg = w.apps.register().await.unwrap();
    assert!(!reg[0].overdue);
    assert_eq!(reg[0].publications.len(), 1);
    // A second project: pages of one, newest first; a researcher sees only theirs.
    w.clock.set(Timestamp::from_secs(1_795_921_200 + 60));
    let mut second = content();
    second.title = "二つ目".into();
    second.handlers = vec!["r1".into()];
    let newer = permitted(&w, &second).await;
    let (page, total) = w.apps.register_page(0, 1).await.unwrap();
    assert_eq!((page[0].project.as_str(), total), (newer.as_str(), 2));
    let (page, _) = w.apps.register_page(1, 1).await.unwrap();
    assert_eq!(page[0].project, id);
    assert_eq!(page[0].publications.len(), 1);
    let r2 = caller("r2", &[Role::Researcher]);
    let (mine, total) = w.apps.projects_page(&r2, 0, 10).await.unwrap();
    assert_eq!((mine.len(), total), (1, 1));
    assert_eq!(mine[0].permit.project, id);
}

/// An amendment: a new application drawn from the permit in force, reviewed with its
/// differences shown, open to expedited review, and on approval the project's next
/// permit version; one at a time, by the applicant only.
async fn amendments_make_the_next_permit_version(store: Store) {
    let w = world(&store).await;
    let id = permitted(&w, &content()).await;
    let r1 = caller("r1", &[Role::Researcher]);
    let me = w.apps.applicant(&r1).await.unwrap();
    let sec = w
        .apps
        .secretariat(&caller("sec", &[Role::Secretariat]))
        .await
        .unwrap();
    assert_eq!(
        w.apps
            .applicant(&caller("r2", &[Role::Researcher]))
            .await
            .unwrap()
            .amend(&id)
            .await
            .unwrap_err()
            .code(),
        "not_yours_to_amend"
    );
    let a = me.amend(&id).await.unwrap();
    assert_eq!(me.amend(&id).await.unwrap_err().code(), "invalid_input");
    let draft = me.view(&a).await.unwrap();
    assert_eq!(draft.amendment_of.as_deref(), Some(id.as_str()));
    assert_eq!(draft.project(), id);
    assert_eq!(draft.content, content(), "the draft starts from the permit");
    let mut more = content();
    more.data[0].tables[0].variables.push("prefecture".into());
    more.use_to = Some(date!(2028 - 06 - 30));
    me.save(&a, &more).await.unwrap();
    me.submit(&a).await.unwrap();
    let seen = sec.view(&a).await.unwrap();
    assert_eq!(seen.compared_with.as_deref(), Some("permit 1"));
    let fields: Vec<&str> = seen.changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "data[ndb_claims].tables[receipts].variables[prefecture]",
            "use_to"
        ]
    );
    // Expedited review is open to amendments (and only to them), decided by the
    // members designated for it alone, and reported to the full committee after.
    assert_eq!(
        sec.schedule("迅速審査", date!(2026 - 12 - 01), &["stranger".into()])
            .await
            .unwrap_err()
            .code(),
        "not_committee_member"
    );
    let quick = sec
        .schedule("迅速審査", date!(2026 - 12 - 01), &["m1".into()])
        .await
        .unwrap();
    assert!(quick.expedited);
    sec.send_to_meeting(&a, &quick.id).await.unwrap();
    let everyone: Vec<String> = ["m1", "m2", "m3", "m4", "m5"].map(String::from).to_vec();
    assert_eq!(
        sec.decide(&a, Decision::Approve, &everyone, "")
            .await
            .unwrap_err()
            .code(),
        "not_designated"
    );
    sec.decide(&a, Decision::Approve, &["m1".into()], "軽微な変更")
        .await
        .unwrap();
    sec.report(&quick.id).await.unwrap();
    assert_eq!(
        sec.report(&quick.id).await.unwrap_err().code(),
        "invalid_input"
    );
    assert!(
        sec.meetings()
            .await
            .unwrap()
            .iter()
            .any(|m| m.id == quick.id && m.reported_at.is_some())
    );
    for (c, d) in [("c1", "deaths"), ("c2", "ndb_claims")] {
        let desk = w
            .apps
            .custodian(&caller(c, &[Role::Custodian]))
            .await
            .unwrap();
        desk.confirm(&a, d, "").await.unwrap();
    }
    let p = w.apps.project(&r1, &id).await.unwrap();
    assert_eq!(p.permit.version, 2);
    assert_eq!(p.permit.application, a);
    assert_eq!(p.permit.ends_on, date!(2028 - 06 - 30));
    assert_eq!(p.versions.len(), 2);
    // A project's first application can never be expedited.
    let other = me.create(&content()).await.unwrap();
    me.submit(&other).await.unwrap();
    assert_eq!(
        sec.send_to_meeting(&other, &quick.id)
            .await
            .unwrap_err()
            .code(),
        "expedited_needs_amendment"
    );
}

/// Attachments: typed by content and hashed; added only while the application is the
/// applicant's to edit; fetched by whoever may read the application, nobody else.
async fn attachments_are_typed_by_content_and_read_through_the_desks(store: Store) {
    let w = world(&store).await;
    let r1 = caller("r1", &[Role::Researcher]);
    let me = w.apps.applicant(&r1).await.unwrap();
    let sec_c = caller("sec", &[Role::Secretariat]);
    let sec = w.apps.secretariat(&sec_c).await.unwrap();
    sec.accredit(&accreditation("r1")).await.unwrap();
    sec.accredit(&accreditation("r2")).await.unwrap();
    let id = me.create(&content()).await.unwrap();
    let pdf = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n".to_vec();
    let a = me.attach(&id, "../計画書.pdf", &pdf).await.unwrap();
    assert_eq!(
        (a.seq, a.name.as_str(), a.content_type.as_str()),
        (1, "計画書.pdf", "application/pdf")
    );
    assert_eq!(a.sha256, renkei_crypto::sha256_hex(&pdf));
    let e = me
        .attach(&id, "protocol.pdf", b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    assert!(e.to_string().contains("portable-executable"), "{e}");
    assert_eq!(me.view(&id).await.unwrap().attachments.len(), 1);
    // The secretariat cannot see a draft's attachment; after submission it can.
    assert_eq!(
        w.apps.attachment(&sec_c, &id, 1).await.unwrap_err().code(),
        "not_submitted_yet"
    );
    me.submit(&id).await.unwrap();
    assert_eq!(
        me.attach(&id, "late.txt", b"late")
            .await
            .unwrap_err()
            .code(),
        "illegal_step"
    );
    let (info, bytes) = w.apps.attachment(&sec_c, &id, 1).await.unwrap();
    assert_eq!((bytes, info.sha256), (pdf.clone(), a.sha256.clone()));
    assert_eq!(
        w.apps.attachment(&sec_c, &id, 9).await.unwrap_err().code(),
        "no_such_attachment"
    );
    // Another researcher, or a member before the meeting: refused.
    assert_eq!(
        w.apps
            .attachment(&caller("stranger", &[Role::Researcher]), &id, 1)
            .await
            .unwrap_err()
            .code(),
        "not_own_application"
    );
    sec.appoint(&member("m1", Expertise::NaturalScience, false, Sex::Male))
        .await
        .unwrap();
    assert_eq!(
        w.apps
            .attachment(&caller("m1", &[Role::CommitteeMember]), &id, 1)
            .await
            .unwrap_err()
            .code(),
        "not_before_committee"
    );
    let (_, mine) = w.apps.attachment(&r1, &id, 1).await.unwrap();
    assert_eq!(mine, pdf);
    // Lists a page at a time, newest first; the secretariat's leaves drafts out.
    let draft = me.create(&content()).await.unwrap();
    let (page, total) = me.mine_page(0, 1).await.unwrap();
    assert_eq!((page[0].id.as_str(), total), (draft.as_str(), 2));
    let (page, _) = me.mine_page(1, 1).await.unwrap();
    assert_eq!(page[0].id, id);
    let (page, total) = sec.all_page(0, 10).await.unwrap();
    assert_eq!((page.len(), total), (1, 1));
}

store_test!(
    duties_stay_separate,
    from_draft_to_permit_and_closure,
    objects_belong_to_their_people,
    accreditation_and_limits,
    the_sweep_warns_once_and_closes_at_the_end,
    amendments_make_the_next_permit_version,
    attachments_are_typed_by_content_and_read_through_the_desks
);
