//! The demo's review: a committee that meets the ethics guideline, an accredited
//! researcher, and applications in several states, so that every role finds work
//! waiting when they sign in. Each step goes through the access service as the demo
//! account whose job it is (request id `demo-seed`), so the audit log shows it like any
//! other work.

use crate::{App, AppError};
use renkei_access::accreditation::Accreditation;
use renkei_access::application::{Application, DataRequest, Purpose, TableRequest};
use renkei_access::committee::{Expertise, Member, Sex};
use renkei_access::flow::Decision;
use renkei_core::{AuthMethod, Caller, Duty, Role};

/// The committee beyond the demo's own member: (username, display name, expertise,
/// external, sex). With `committee` (natural science, internal, male) they meet all
/// six requirements; any one of the external members or the women absent, they do not.
const MEMBERS: [(&str, &str, Expertise, bool, Sex); 5] = [
    (
        "committee2",
        "倫理 二葉",
        Expertise::HumanitiesSocial,
        true,
        Sex::Female,
    ),
    (
        "committee3",
        "市民 三太",
        Expertise::GeneralPublic,
        true,
        Sex::Male,
    ),
    (
        "committee4",
        "医療 四季",
        Expertise::NaturalScience,
        false,
        Sex::Female,
    ),
    (
        "committee5",
        "統計 五月",
        Expertise::NaturalScience,
        false,
        Sex::Male,
    ),
    (
        "committee6",
        "法務 六花",
        Expertise::HumanitiesSocial,
        false,
        Sex::Female,
    ),
];

fn as_user(u: &renkei_accounts::User, role: Role) -> Caller {
    Caller::user(
        u.id.clone(),
        u.username.clone(),
        vec![role],
        AuthMethod::SessionMfa,
        "demo-seed",
    )
}

fn study(
    title: &str,
    handler: &str,
    datasets: &[(&str, &str, &[&str])],
    today: time::Date,
) -> Application {
    Application {
        title: title.to_owned(),
        institution: "合成大学 公衆衛生学教室".into(),
        handlers: vec![handler.to_owned()],
        purpose: Some(Purpose::Research),
        purpose_text: "受療から転帰までを個人単位で追う".into(),
        summary_ja: "病気の人がどのような治療を受け、その後どうなったかを調べます。".into(),
        summary_en: "How people with a disease are treated, and what becomes of them.".into(),
        public_interest: "重症化予防と医療計画の見直しに役立つ".into(),
        commercial: Some(false),
        why_pseudonymized: "複数のデータベースを個人単位で連結する必要があるため".into(),
        methods: "後ろ向きコホート研究".into(),
        data: datasets
            .iter()
            .map(|(d, t, vars)| DataRequest {
                dataset: (*d).into(),
                tables: vec![TableRequest {
                    table: (*t).into(),
                    variables: vars.iter().map(|v| (*v).to_owned()).collect(),
                }],
                ..Default::default()
            })
            .collect(),
        linkage_reason: if datasets.len() > 1 {
            "治療と転帰を結び付けるため".into()
        } else {
            String::new()
        },
        use_from: Some(today),
        use_to: today.checked_add(time::Duration::days(364)),
        place_of_use: "Visiting 解析環境".into(),
        publication_plan: "学術論文と公開報告書".into(),
        safety_measures: "施錠した解析室、二要素認証".into(),
        conflicts_of_interest: "なし".into(),
        ..Default::default()
    }
}

/// Seeds the review once (nothing if the demo researcher already has applications).
pub async fn seed_review(app: &App) -> Result<(), AppError> {
    let op = Caller::operator("renkei-demo", Duty::Accounts);
    let admin = app.accounts.admin(&op).await?;
    let find = |name: &'static str| {
        let admin = &admin;
        async move { admin.find_user(name).await }
    };
    let researcher = find("researcher").await?;
    let researcher_c = as_user(&researcher, Role::Researcher);
    let desk = app.applications.applicant(&researcher_c).await?;
    if !desk.mine().await?.is_empty() {
        return Ok(());
    }
    let secretariat = as_user(&find("secretariat").await?, Role::Secretariat);
    let sec = app.applications.secretariat(&secretariat).await?;

    // The committee.
    let mut roster = vec![Member {
        id: find("committee").await?.id.to_string(),
        expertise: Expertise::NaturalScience,
        external: false,
        sex: Sex::Male,
    }];
    for (username, display, expertise, external, sex) in MEMBERS {
        let user = match admin.find_user(username).await {
            Ok(u) => u,
            Err(_) => {
                // Members who only make up the roster: no one signs in as them.
                let pw = hex::encode(renkei_crypto::random_bytes::<24>());
                admin
                    .create_user(username, display, &pw, &[Role::CommitteeMember])
                    .await?
            }
        };
        roster.push(Member {
            id: user.id.to_string(),
            expertise,
            external,
            sex,
        });
    }
    for m in &roster {
        sec.appoint(m).await?;
    }

    // The researcher, accredited for a year.
    let today = app.applications.today();
    sec.accredit(&Accreditation {
        user: researcher.id.to_string(),
        course: "NDB・連結データ利用者研修".into(),
        trained_on: Some(today),
        pledge_signed_on: Some(today),
        institution: "合成大学".into(),
        safety_measures: "施錠した解析室、入退室記録、二要素認証".into(),
        expires_on: today
            .checked_add(time::Duration::days(365))
            .unwrap_or(today),
        revoked: None,
    })
    .await?;

    let me = researcher.id.to_string();
    let claims: (&str, &str, &[&str]) = (
        "ndb_claims",
        "receipts",
        &["sex", "age_band", "service_month"],
    );
    let deaths: (&str, &str, &[&str]) = ("deaths", "deaths", &["sex", "age_band", "cause_icd10"]);
    let care: (&str, &str, &[&str]) = ("ltc", "certifications", &["sex", "age_band", "level"]);
    // Meetings: one held today (its decisions below), the next in two weeks, and an
    // expedited review by the member the demo signs in as.
    let first = sec.schedule("第1回 審査委員会", today, &[]).await?;
    let second = sec
        .schedule(
            "第2回 審査委員会",
            today.checked_add(time::Duration::days(14)).unwrap_or(today),
            &[],
        )
        .await?;
    sec.schedule(
        "迅速審査（変更申出）",
        today.checked_add(time::Duration::days(7)).unwrap_or(today),
        &[roster[0].id.clone()],
    )
    .await?;
    // A draft.
    let mut draft = study("心不全の再入院（下書き）", &me, &[claims], today);
    draft.methods.clear();
    desk.create(&draft).await?;
    // Submitted, waiting for the secretariat's screening.
    let a = desk
        .create(&study("糖尿病の受療と死亡", &me, &[claims, deaths], today))
        .await?;
    desk.submit(&a).await?;
    // On the committee's agenda.
    let b = desk
        .create(&study("要介護認定前後の受療", &me, &[claims, care], today))
        .await?;
    desk.submit(&b).await?;
    sec.send_to_meeting(&b, &second.id).await?;
    // Approved, waiting for the custodian's confirmations.
    let c = desk
        .create(&study("脳卒中後の死亡", &me, &[claims, deaths], today))
        .await?;
    desk.submit(&c).await?;
    sec.send_to_meeting(&c, &first.id).await?;
    let present: Vec<String> = roster.iter().map(|m| m.id.clone()).collect();
    sec.decide(
        &c,
        Decision::ApproveWithConditions {
            conditions: vec!["結果の公表前に事務局へ報告すること".into()],
        },
        &present,
        "公益性が高く、必要最小限の項目である",
    )
    .await?;
    // Two projects with a permit: one in use, with its published results; one closed,
    // its data destroyed and the certificate on the public register.
    let custodian = as_user(&find("custodian").await?, Role::Custodian);
    let custody = app.applications.custodian(&custodian).await?;
    let mut permitted = Vec::new();
    for title in [
        "高齢者の大腿骨骨折後の受療",
        "インフルエンザ流行期の受診動向",
    ] {
        let id = desk.create(&study(title, &me, &[claims], today)).await?;
        desk.submit(&id).await?;
        sec.send_to_meeting(&id, &first.id).await?;
        sec.decide(&id, Decision::Approve, &present, "必要最小限の項目である")
            .await?;
        custody.confirm(&id, "ndb_claims", "").await?;
        permitted.push(id);
    }
    app.applications
        .add_publication(
            &researcher_c,
            &permitted[1],
            "report",
            "合成大学 公衆衛生学教室. インフルエンザ流行期の受診動向（公開報告書）. 2026.",
            "",
        )
        .await?;
    app.close_project(&secretariat, &permitted[1], "研究終了の届出")
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After the demo's seeding every role has something to do, and seeding again
    /// changes nothing.
    #[tokio::test]
    async fn every_role_finds_work_waiting() {
        let d = tempfile::tempdir().unwrap();
        let config = crate::Config {
            data_dir: d.path().to_path_buf(),
            ..Default::default()
        };
        let app = App::open(config, crate::Keys::CreateIfMissing)
            .await
            .unwrap();
        // The datasets asked for, declared (no data is needed to apply).
        let mut tx = app.store.begin().await.unwrap();
        for id in ["ndb_claims", "deaths", "ltc"] {
            renkei_catalog::ensure_dataset(
                &mut tx,
                &renkei_catalog::builtin(id).unwrap(),
                "k",
                renkei_core::Timestamp(0),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        crate::demo::ensure_accounts(&app).await.unwrap();
        crate::demo::assign_custodians(&app).await.unwrap();
        seed_review(&app).await.unwrap();
        seed_review(&app).await.unwrap();

        let admin = app
            .accounts
            .admin(&Caller::operator("t", Duty::Accounts))
            .await
            .unwrap();
        let user = |name: &'static str, role: Role| {
            let admin = &admin;
            async move { as_user(&admin.find_user(name).await.unwrap(), role) }
        };
        let researcher = user("researcher", Role::Researcher).await;
        let mine = app
            .applications
            .applicant(&researcher)
            .await
            .unwrap()
            .mine()
            .await
            .unwrap();
        let states: Vec<&str> = mine.iter().map(|a| a.state.code()).collect();
        assert_eq!(
            states,
            [
                "draft",
                "submitted",
                "in_review",
                "approved",
                "permitted",
                "closed"
            ]
        );
        let register = app.applications.register().await.unwrap();
        let statuses: Vec<&str> = register.iter().map(|e| e.status.as_str()).collect();
        assert_eq!(statuses, ["closed", "open"]);
        assert!(register[0].certificate.is_some());
        assert!(
            app.applications
                .my_standing(&researcher)
                .await
                .unwrap()
                .is_current()
        );
        let sec = app
            .applications
            .secretariat(&user("secretariat", Role::Secretariat).await)
            .await
            .unwrap();
        let (members, unmet) = sec.roster().await.unwrap();
        assert_eq!((members.len(), unmet.len()), (6, 0));
        // The member for the general public absent: every requirement that leaves
        // unmet is named (they were also one of the two external members).
        let without_one: Vec<Member> = members
            .iter()
            .filter(|m| m.expertise != Expertise::GeneralPublic)
            .cloned()
            .collect();
        assert_eq!(
            renkei_access::committee::unmet(&without_one),
            [
                renkei_access::committee::Requirement::GeneralPublic,
                renkei_access::committee::Requirement::TwoExternal
            ]
        );
        let agenda = app
            .applications
            .member(&user("committee", Role::CommitteeMember).await)
            .await
            .unwrap()
            .agenda()
            .await
            .unwrap();
        assert_eq!(agenda.len(), 1);
        let pending = app
            .applications
            .custodian(&user("custodian", Role::Custodian).await)
            .await
            .unwrap()
            .pending()
            .await
            .unwrap();
        assert_eq!(pending.len(), 1);
    }
}
