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

/// The project in use: claims (receipts, diagnoses, drugs), checkups, DPC stays and
/// deaths, linked person by person, which the workspace's example queries use.
fn workspace_study(title: &str, handler: &str, today: time::Date) -> Application {
    let t = |table: &str, vars: &[&str]| TableRequest {
        table: table.into(),
        variables: vars.iter().map(|v| (*v).to_owned()).collect(),
    };
    let mut a = study(title, handler, &[], today);
    a.data = vec![
        DataRequest {
            dataset: "ndb_claims".into(),
            tables: vec![
                t(
                    "receipts",
                    &[
                        "receipt_id",
                        "kind",
                        "sex",
                        "age",
                        "age_band",
                        "prefecture",
                        "service_month",
                        "admission_date",
                        "real_days",
                        "total_points",
                    ],
                ),
                t(
                    "diagnoses",
                    &["receipt_id", "icd10", "start_date", "main", "suspected"],
                ),
                t(
                    "drugs",
                    &["receipt_id", "code", "yj", "drug_class", "quantity", "days"],
                ),
            ],
            ..Default::default()
        },
        DataRequest {
            dataset: "ndb_checkups".into(),
            tables: vec![
                t(
                    "checkups",
                    &["checkup_id", "sex", "age_band", "checkup_date"],
                ),
                t("results", &["checkup_id", "item_code", "value_num", "unit"]),
            ],
            ..Default::default()
        },
        DataRequest {
            dataset: "dpc".into(),
            tables: vec![t(
                "stays",
                &[
                    "stay_id",
                    "sex",
                    "age_band",
                    "admission_date",
                    "discharge_date",
                    "length_of_stay",
                    "main_icd10",
                    "outcome",
                ],
            )],
            ..Default::default()
        },
        DataRequest {
            dataset: "deaths".into(),
            tables: vec![t(
                "deaths",
                &["sex", "age_band", "death_date", "cause_icd10"],
            )],
            ..Default::default()
        },
    ];
    a.linkage_reason = "健診・受療・入院から死亡までを個人単位で結び付けるため".into();
    a
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
        let in_use = permitted.is_empty();
        let app_ = if in_use {
            workspace_study(title, &me, today)
        } else {
            study(title, &me, &[claims], today)
        };
        let id = desk.create(&app_).await?;
        desk.submit(&id).await?;
        sec.send_to_meeting(&id, &first.id).await?;
        sec.decide(&id, Decision::Approve, &present, "必要最小限の項目である")
            .await?;
        for d in &app_.data {
            custody.confirm(&id, &d.dataset, "").await?;
        }
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

/// For the load benchmark: a project in use under the demo's review, naming
/// `researchers` (each accredited for a year), the first of them applying, with the
/// workspace study's data. Needs [`seed_review`] first. Returns the project id.
pub async fn seed_shared_project(
    app: &App,
    researchers: &[renkei_accounts::User],
) -> Result<String, AppError> {
    let Some(first) = researchers.first() else {
        return Err(AppError::Config(crate::ConfigError::Invalid {
            key: "researchers".into(),
            msg: "at least one".into(),
        }));
    };
    let op = Caller::operator("renkei-bench", Duty::Accounts);
    let admin = app.accounts.admin(&op).await?;
    let sec = app
        .applications
        .secretariat(&as_user(
            &admin.find_user("secretariat").await?,
            Role::Secretariat,
        ))
        .await?;
    let today = app.applications.today();
    for r in researchers {
        sec.accredit(&Accreditation {
            user: r.id.to_string(),
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
    }
    let desk = app
        .applications
        .applicant(&as_user(first, Role::Researcher))
        .await?;
    let mut a = workspace_study("共同研究（負荷試験）", first.id.as_str(), today);
    a.handlers = researchers.iter().map(|r| r.id.to_string()).collect();
    let id = desk.create(&a).await?;
    desk.submit(&id).await?;
    permit_now(app, &id, &a).await?;
    Ok(id)
}

/// Takes a submitted application through a meeting held today, where the whole roster
/// approves it, and through every custodian's confirmation: its permit is then in force.
pub(crate) async fn permit_now(app: &App, id: &str, a: &Application) -> Result<(), AppError> {
    let op = Caller::operator("renkei-demo", Duty::Accounts);
    let admin = app.accounts.admin(&op).await?;
    let sec = app
        .applications
        .secretariat(&as_user(
            &admin.find_user("secretariat").await?,
            Role::Secretariat,
        ))
        .await?;
    let custody = app
        .applications
        .custodian(&as_user(
            &admin.find_user("custodian").await?,
            Role::Custodian,
        ))
        .await?;
    let meeting = sec
        .schedule("臨時審査", app.applications.today(), &[])
        .await?;
    sec.send_to_meeting(id, &meeting.id).await?;
    let present: Vec<String> = sec.roster().await?.0.iter().map(|m| m.id.clone()).collect();
    sec.decide(id, Decision::Approve, &present, "可").await?;
    for d in &a.data {
        custody.confirm(id, &d.dataset, "").await?;
    }
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
        for id in ["ndb_claims", "deaths", "ltc", "ndb_checkups", "dpc"] {
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

    use arrow_array::Array as _;
    use renkei_core::Coded as _;

    /// The demo over a small world: accounts, review, and the person index (so the
    /// project in use has its extract).
    async fn linked_demo() -> (tempfile::TempDir, App) {
        let d = tempfile::tempdir().unwrap();
        let config = crate::Config {
            data_dir: d.path().to_path_buf(),
            ..Default::default()
        };
        let app = App::open(config, crate::Keys::CreateIfMissing)
            .await
            .unwrap();
        crate::demo::ensure_accounts(&app).await.unwrap();
        crate::demo::ensure_world(&app, 300, &|_| {}).await.unwrap();
        crate::demo::assign_custodians(&app).await.unwrap();
        seed_review(&app).await.unwrap();
        crate::demo::ensure_index(&app, &|_| {}).await.unwrap();
        (d, app)
    }

    fn strings(batches: &[arrow_array::RecordBatch], col: &str) -> Vec<Option<String>> {
        let mut out = Vec::new();
        for b in batches {
            let a = b.column(b.schema().index_of(col).unwrap()).clone();
            let a = a
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .unwrap();
            out.extend((0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i).to_owned())));
        }
        out
    }

    fn people(batches: &[arrow_array::RecordBatch]) -> std::collections::HashSet<i64> {
        let mut out = std::collections::HashSet::new();
        for b in batches {
            let a = b.column(b.schema().index_of("person_id").unwrap()).clone();
            let a = a
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                .unwrap();
            out.extend(a.iter().flatten());
        }
        out
    }

    /// The linkage authority links the world; each project in use gets its extract:
    /// only what its permit grants, people linked across datasets under pseudonyms of
    /// its own, opted-out people left out, and nothing another project could join on.
    #[tokio::test]
    async fn permits_in_force_get_extracts_linked_through_the_person_index() {
        let d = tempfile::tempdir().unwrap();
        let config = crate::Config {
            data_dir: d.path().to_path_buf(),
            ..Default::default()
        };
        let app = App::open(config, crate::Keys::CreateIfMissing)
            .await
            .unwrap();
        crate::demo::ensure_accounts(&app).await.unwrap();
        crate::demo::ensure_world(&app, 400, &|_| {}).await.unwrap();
        crate::demo::assign_custodians(&app).await.unwrap();
        seed_review(&app).await.unwrap();

        // Nothing is made before the first index.
        assert!(app.ensure_extracts().await.is_empty());
        let la = Caller::operator("t", Duty::Linkage);
        let researcher_op = Caller::operator("t", Duty::Data);
        assert_eq!(
            app.linkage
                .run(&researcher_op, None)
                .await
                .unwrap_err()
                .code(),
            "permission_missing"
        );
        // The demo runs the index once, measured against the world's ground truth.
        crate::demo::ensure_index(&app, &|_| {}).await.unwrap();
        crate::demo::ensure_index(&app, &|_| {}).await.unwrap();
        let runs = app.linkage.runs(&la).await.unwrap();
        assert_eq!(runs.len(), 1);
        let r = runs[0].report.clone().unwrap();
        assert_eq!(r.version, 1);
        let t = r.truth.clone().unwrap();
        assert!(t.records_compared > 1000, "{t:?}");
        assert!(t.precision > 0.99 && t.recall > 0.97, "{t:?}");
        assert!(r.persons_in_several_datasets > 0, "{r:?}");
        let claims = r
            .datasets
            .iter()
            .find(|d| d.dataset == "ndb_claims")
            .unwrap();
        assert!(claims.records > 0 && claims.persons > 0 && claims.linked_to_other_datasets > 0);

        // The demo's index run made the extract of the one project in use, once per
        // permit version.
        let made: Vec<String> = app
            .applications
            .extract_orders(&Caller::system())
            .await
            .unwrap()
            .iter()
            .map(|o| o.project().to_owned())
            .collect();
        assert_eq!(made.len(), 1, "one project is in use");
        assert!(app.ensure_extracts().await.is_empty());

        let admin = app
            .accounts
            .admin(&Caller::operator("t", Duty::Accounts))
            .await
            .unwrap();
        let researcher = as_user(
            &admin.find_user("researcher").await.unwrap(),
            Role::Researcher,
        );
        let permit = app
            .applications
            .in_force(&researcher, &made[0])
            .await
            .unwrap();
        let summary = app.workspaces.current(&permit).await.unwrap().unwrap();
        let names: Vec<&str> = summary.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "claims_receipts",
                "claims_diagnoses",
                "claims_drugs",
                "checkups",
                "checkups_results",
                "dpc_stays",
                "deaths"
            ]
        );
        assert!(summary.tables.iter().all(|t| t.rows > 0), "{summary:?}");
        let receipts_summary = &summary.tables[0];
        assert!(receipts_summary.smallest_group.is_some());
        assert!(
            receipts_summary
                .quasi_identifiers
                .contains(&"sex".to_owned())
        );

        let x = app
            .workspaces
            .open(&researcher, &permit)
            .await
            .unwrap()
            .unwrap();
        let receipts = x.read_table("claims_receipts").unwrap();
        let schema = receipts[0].schema();
        let cols: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        // Only what the permit grants, person first; no token, ever.
        assert_eq!(
            cols,
            [
                "person_id",
                "receipt_id",
                "kind",
                "prefecture",
                "service_month",
                "sex",
                "age",
                "age_band",
                "admission_date",
                "real_days",
                "total_points"
            ]
        );
        // Record keys are this project's pseudonyms, and joins still hold.
        let rids: std::collections::HashSet<String> = strings(&receipts, "receipt_id")
            .into_iter()
            .flatten()
            .collect();
        assert!(rids.iter().all(|r| r.len() == 20 && !r.contains('-')));
        let diags = x.read_table("claims_diagnoses").unwrap();
        let drids = strings(&diags, "receipt_id");
        assert!(drids.iter().flatten().all(|r| rids.contains(r)));
        // People are linked across datasets: some who died had claims.
        let claim_people = people(&receipts);
        let dead = people(&x.read_table("deaths").unwrap());
        let checked = people(&x.read_table("checkups").unwrap());
        assert!(claim_people.intersection(&dead).count() > 0);
        assert!(claim_people.intersection(&checked).count() > 0);

        // An opt-out (a token the linkage side sees) is honoured by the next extract.
        let v = app.data.open_for_linkage(&la, "ndb_claims").await.unwrap();
        let b = v.read_table("receipts").unwrap();
        let id2 = b[0].column(b[0].schema().index_of("id2").unwrap()).clone();
        let id2 = id2
            .as_any()
            .downcast_ref::<arrow_array::FixedSizeBinaryArray>()
            .unwrap();
        renkei_store::sqlx::query(
            "INSERT INTO opt_outs (request, token_kind, token, token_generation, recorded_at, recorded_by) \
             VALUES ('r1', 'id2', $1, 1, $2, 't')",
        )
        .bind(hex::encode(id2.value(0)))
        .bind(app.clock.now().micros())
        .execute(app.store.pool())
        .await
        .unwrap();
        // The next round remakes the extract it predates.
        assert_eq!(app.ensure_extracts().await, made);
        assert!(app.ensure_extracts().await.is_empty());
        let again = app.workspaces.current(&permit).await.unwrap().unwrap();
        assert_eq!(again.version, 2);
        assert_eq!(again.opted_out_excluded, 1);
        assert_eq!(again.persons, summary.persons - 1);
        let x2 = app
            .workspaces
            .open(&researcher, &permit)
            .await
            .unwrap()
            .unwrap();
        let people2 = people(&x2.read_table("claims_receipts").unwrap());
        // Pseudonyms stay the same across versions of one project's extract.
        assert_eq!(claim_people.difference(&people2).count(), 1);
        assert!(people2.is_subset(&claim_people));

        // A second project over the same data shares no pseudonym with the first.
        let desk = app.applications.applicant(&researcher).await.unwrap();
        let today = app.applications.today();
        let mut a = workspace_study(
            "二つ目の研究",
            researcher.user_id().unwrap().as_str(),
            today,
        );
        // Row filters: claims of six months, people aged 40 to 74 at the visit.
        a.data[0].from = Some(time::macros::date!(2025 - 03 - 01));
        a.data[0].to = Some(time::macros::date!(2025 - 08 - 31));
        a.data[0].ages = Some((40, 74));
        let id = desk.create(&a).await.unwrap();
        desk.submit(&id).await.unwrap();
        permit_now(&app, &id, &a).await.unwrap();
        assert_eq!(app.ensure_extracts().await, std::slice::from_ref(&id));
        let permit2 = app.applications.in_force(&researcher, &id).await.unwrap();
        let y = app
            .workspaces
            .open(&researcher, &permit2)
            .await
            .unwrap()
            .unwrap();
        let receipts2 = y.read_table("claims_receipts").unwrap();
        let other = people(&receipts2);
        assert!(!other.is_empty());
        assert!(other.is_disjoint(&claim_people));
        for b in &receipts2 {
            let months = b
                .column(b.schema().index_of("service_month").unwrap())
                .clone();
            let months = months
                .as_any()
                .downcast_ref::<arrow_array::Date32Array>()
                .unwrap();
            let ages = b.column(b.schema().index_of("age").unwrap()).clone();
            let ages = ages
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                .unwrap();
            for i in 0..b.num_rows() {
                // 2025-03-01 and 2025-08-31, in days since 1970-01-01.
                assert!(
                    (20148..=20331).contains(&months.value(i)),
                    "{}",
                    months.value(i)
                );
                assert!((40..=74).contains(&ages.value(i)), "{}", ages.value(i));
            }
        }
        let rids2: std::collections::HashSet<String> = strings(&receipts2, "receipt_id")
            .into_iter()
            .flatten()
            .collect();
        assert!(rids2.is_disjoint(&rids));
        // Diagnoses follow their receipts: only those of the receipts kept.
        let diags2 = y.read_table("claims_diagnoses").unwrap();
        assert!(!diags2.is_empty());
        assert!(
            strings(&diags2, "receipt_id")
                .iter()
                .flatten()
                .all(|r| rids2.contains(r))
        );

        // Closure destroys the extract: it no longer opens.
        let secretariat = as_user(
            &admin.find_user("secretariat").await.unwrap(),
            Role::Secretariat,
        );
        app.close_project(&secretariat, &id, "終了").await.unwrap();
        assert_eq!(
            app.applications
                .in_force(&researcher, &id)
                .await
                .unwrap_err()
                .code(),
            "project_closed"
        );
        assert!(!d.path().join("extracts").join(&id).join("v1").exists());
        let certs = app
            .data
            .certificates(&renkei_datastore::Holder::extract(&id).unwrap())
            .await
            .unwrap();
        assert_eq!(certs.len(), 1);
        assert_eq!(certs[0].key_ids.len(), 1);
    }

    /// The researcher queries the project's extract in the workspace: answers come
    /// from the extract alone, refusals are audited with their reason, a query can be
    /// stopped by its owner, and a revoked accreditation stops a running query at once.
    #[tokio::test]
    async fn workspace_queries_run_on_the_extract_under_the_permit_in_force() {
        let (_d, app) = linked_demo().await;
        let project = app
            .applications
            .extract_orders(&Caller::system())
            .await
            .unwrap()[0]
            .project()
            .to_owned();
        let admin = app
            .accounts
            .admin(&Caller::operator("t", Duty::Accounts))
            .await
            .unwrap();
        let researcher = as_user(
            &admin.find_user("researcher").await.unwrap(),
            Role::Researcher,
        );
        let permit = app
            .applications
            .in_force(&researcher, &project)
            .await
            .unwrap();
        let ws = app
            .workspaces
            .clone()
            .with_limits(renkei_workspace::query::QueryLimits {
                per_user: 1,
                permit_check: std::time::Duration::from_millis(100),
                ..Default::default()
            });
        use renkei_workspace::query::QueryState;
        let wait = std::time::Duration::from_secs(60);

        let tables = ws.tables(&researcher, &permit).await.unwrap();
        assert_eq!(tables.len(), 7);
        assert!(
            tables[0]
                .columns
                .iter()
                .any(|(n, t)| n == "person_id" && t == "Int64")
        );

        // People by sex, and a join from claims to deaths.
        let id = ws
            .start_query(
                &researcher,
                &permit,
                "SELECT sex, count(DISTINCT person_id) AS persons FROM claims_receipts GROUP BY sex ORDER BY sex",
            )
            .await
            .unwrap();
        let v = ws.wait_query(&permit, &id, wait).await.unwrap();
        let QueryState::Finished { result } = v.state else {
            panic!("{v:?}")
        };
        assert_eq!(result.columns, ["sex", "persons"]);
        assert_eq!(result.rows.len(), 2, "{result:?}");
        assert_eq!(result.plan_hash.len(), 64);
        // The result becomes a pending output, sealed under the project's key.
        assert_eq!(
            ws.request_release(&researcher, &permit, &id, " ")
                .await
                .unwrap_err()
                .code(),
            "bad_name"
        );
        let out = ws
            .request_release(&researcher, &permit, &id, "性別の人数")
            .await
            .unwrap();
        let outputs = ws.outputs(&permit).await.unwrap();
        assert_eq!(outputs.len(), 1);
        assert_eq!(
            (
                outputs[0].id.as_str(),
                outputs[0].status.as_str(),
                outputs[0].rows
            ),
            (out.as_str(), "pending", 2)
        );
        let sealed: String =
            renkei_store::sqlx::query_scalar("SELECT sealed FROM outputs WHERE id = $1")
                .bind(&out)
                .fetch_one(app.store.pool())
                .await
                .unwrap();
        assert!(!sealed.contains("persons") && !sealed.contains("SELECT"));
        let x = ws.open(&researcher, &permit).await.unwrap().unwrap();
        let body = x
            .sealer("renkei:output:v1")
            .open(&sealed, &format!("output:{out}"))
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(body["sql"].as_str().unwrap().starts_with("SELECT sex"));
        assert_eq!(body["rows"].as_array().unwrap().len(), 2);

        // Declared as a table of persons by sex, it passes the checks; audited.
        use renkei_workspace::output::{Declaration, DimRole, DimSpec};
        let declare = |dims: &[&str], count: &str| Declaration {
            kind: renkei_sdc::OutputKind::Frequency,
            dims: dims
                .iter()
                .map(|c| DimSpec {
                    column: c.to_string(),
                    role: DimRole::Plain,
                })
                .collect(),
            count: count.to_string(),
            unit: renkei_sdc::Unit::Persons,
            margins: true,
            profile: renkei_sdc::Profile::Japan,
            protection: Default::default(),
        };
        let none = |_: &str| None;
        let d = ws
            .check_output(
                &researcher,
                &permit,
                &out,
                declare(&["sex"], "persons"),
                &none,
            )
            .await
            .unwrap();
        assert_eq!(d.report.unwrap().outcome, renkei_sdc::Outcome::Pass);
        assert_eq!(
            ws.outputs(&permit).await.unwrap()[0].verdict.as_deref(),
            Some("pass")
        );
        // A declaration that does not fit is refused with the place named, and the
        // verdict kept is the last good one.
        let e = ws
            .check_output(
                &researcher,
                &permit,
                &out,
                declare(&["age"], "persons"),
                &none,
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), "bad_declaration");
        assert!(e.to_string().contains("no column \"age\""), "{e}");
        // Five people by sex: every non-empty cell fails, with its numbers.
        let small = ws
            .start_query(
                &researcher,
                &permit,
                "SELECT sex, count(DISTINCT person_id) AS persons FROM claims_receipts \
                 WHERE person_id IN (SELECT DISTINCT person_id FROM claims_receipts ORDER BY person_id LIMIT 5) \
                 GROUP BY sex ORDER BY sex",
            )
            .await
            .unwrap();
        ws.wait_query(&permit, &small, wait).await.unwrap();
        let small_out = ws
            .request_release(&researcher, &permit, &small, "5人")
            .await
            .unwrap();
        let d = ws
            .check_output(
                &researcher,
                &permit,
                &small_out,
                declare(&["sex"], "persons"),
                &none,
            )
            .await
            .unwrap();
        let report = d.report.unwrap();
        assert_eq!(report.outcome, renkei_sdc::Outcome::Fail);
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.evidence.ends_with("persons < 10") && f.evidence.starts_with("cell (")),
            "{report:?}"
        );
        // A result cut at its row cap is not a whole table: declaring it is refused.
        let long = ws
            .start_query(
                &researcher,
                &permit,
                "SELECT DISTINCT person_id AS p, 1 AS n FROM claims_receipts",
            )
            .await
            .unwrap();
        ws.wait_query(&permit, &long, wait).await.unwrap();
        let long_out = ws
            .request_release(&researcher, &permit, &long, "全員の一覧")
            .await
            .unwrap();
        let e = ws
            .check_output(&researcher, &permit, &long_out, declare(&["p"], "n"), &none)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("cut at 100 rows"), "{e}");
        let checks: Vec<String> = renkei_store::sqlx::query_scalar(
            "SELECT detail FROM audit_log WHERE action = 'output.check' ORDER BY seq",
        )
        .fetch_all(app.store.pool())
        .await
        .unwrap();
        assert_eq!(checks.len(), 2);
        assert!(
            checks[1].contains("\"verdict\":\"fail\"") && checks[1].contains("threshold"),
            "{}",
            checks[1]
        );
        let id = ws
            .start_query(
                &researcher,
                &permit,
                "SELECT count(DISTINCT r.person_id) FROM claims_receipts r JOIN deaths d ON d.person_id = r.person_id",
            )
            .await
            .unwrap();
        let v = ws.wait_query(&permit, &id, wait).await.unwrap();
        let QueryState::Finished { result } = v.state else {
            panic!("{v:?}")
        };
        let n: i64 = result.rows[0][0].as_deref().unwrap().parse().unwrap();
        assert!(n > 0);

        // Every example query runs on the demo's extract and finds people.
        let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        let examples: Vec<_> = renkei_workspace::examples::for_tables(&names).collect();
        assert_eq!(examples.len(), renkei_workspace::examples::EXAMPLES.len());
        for e in examples {
            let id = ws.start_query(&researcher, &permit, e.sql).await.unwrap();
            let v = ws.wait_query(&permit, &id, wait).await.unwrap();
            let QueryState::Finished { result } = v.state else {
                panic!("{}: {v:?}", e.id)
            };
            assert!(!result.rows.is_empty(), "{}", e.id);
            let some_people = result.rows.iter().any(|r| {
                r.iter()
                    .flatten()
                    .any(|c| c.parse::<f64>().is_ok_and(|n| n > 0.0))
            });
            assert!(some_people, "{}: {result:?}", e.id);
        }

        // A refusal names its reason and is audited as a denial.
        let id = ws
            .start_query(
                &researcher,
                &permit,
                "COPY claims_receipts TO '/tmp/out.csv'",
            )
            .await
            .unwrap();
        let v = ws.wait_query(&permit, &id, wait).await.unwrap();
        let QueryState::Failed { code, message, .. } = v.state else {
            panic!("{v:?}")
        };
        assert_eq!(code, "query_copy");
        assert!(message.contains("checked release"), "{message}");
        assert_eq!(
            ws.request_release(&researcher, &permit, &id, "コピー")
                .await
                .unwrap_err()
                .code(),
            "no_result"
        );
        let audited: Vec<(String, String, String)> = renkei_store::sqlx::query_as(
            "SELECT outcome, reason, detail FROM audit_log WHERE action = 'query.run' ORDER BY seq",
        )
        .fetch_all(app.store.pool())
        .await
        .unwrap();
        assert_eq!(
            audited.len(),
            4 + renkei_workspace::examples::EXAMPLES.len() + 1
        );
        assert_eq!(audited[0].0, "allowed");
        assert!(audited[0].2.contains("plan_hash") && audited[0].2.contains("count(DISTINCT"));
        assert_eq!(
            (audited[9].0.as_str(), audited[9].1.as_str()),
            ("denied", "query_copy")
        );

        // A query that would never end: its owner stops it; meanwhile a second one of
        // theirs waits its turn.
        let forever = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r";
        let id = ws.start_query(&researcher, &permit, forever).await.unwrap();
        assert!(matches!(
            ws.query(&permit, &id).unwrap().state,
            QueryState::Running { .. }
        ));
        assert_eq!(
            ws.start_query(&researcher, &permit, "SELECT 1")
                .await
                .unwrap_err()
                .code(),
            "query_busy_user"
        );
        assert!(ws.cancel_query(&permit, &id));
        let v = ws.wait_query(&permit, &id, wait).await.unwrap();
        assert!(
            matches!(&v.state, QueryState::Stopped { reason } if reason == "cancelled"),
            "{v:?}"
        );

        // Beyond the server's turns, queries wait; beyond the queue, they are refused.
        let narrow = app
            .workspaces
            .clone()
            .with_limits(renkei_workspace::query::QueryLimits {
                per_user: 5,
                total: 1,
                queue: 1,
                ..Default::default()
            });
        let first = narrow
            .start_query(&researcher, &permit, forever)
            .await
            .unwrap();
        let second = narrow
            .start_query(&researcher, &permit, "SELECT count(*) FROM deaths")
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(matches!(
            narrow.query(&permit, &second).unwrap().state,
            QueryState::Running { waiting: true, .. }
        ));
        assert_eq!(
            narrow
                .start_query(&researcher, &permit, "SELECT 1")
                .await
                .unwrap_err()
                .code(),
            "query_busy_server"
        );
        assert!(narrow.cancel_query(&permit, &first));
        let v = narrow.wait_query(&permit, &second, wait).await.unwrap();
        assert!(matches!(v.state, QueryState::Finished { .. }), "{v:?}");

        // Saved queries and the history.
        ws.save_query(&permit, "性別", "SELECT sex FROM claims_receipts")
            .await
            .unwrap();
        ws.save_query(&permit, "性別", "SELECT DISTINCT sex FROM claims_receipts")
            .await
            .unwrap();
        let saved = ws.saved_queries(&permit).await.unwrap();
        assert_eq!(saved.len(), 1);
        assert!(saved[0].sql_text.starts_with("SELECT DISTINCT"));
        assert_eq!(
            ws.save_query(&permit, " ", "SELECT 1")
                .await
                .unwrap_err()
                .code(),
            "bad_name"
        );
        let history = ws.history(&permit, 50).await.unwrap();
        let states: Vec<&str> = history.iter().map(|h| h.status.as_str()).collect();
        assert_eq!(
            states[..5],
            ["finished", "stopped", "stopped", "failed", "finished"]
        );
        assert_eq!(history.len(), 13);

        // Revoking the researcher's accreditation stops their running query at once.
        let id = ws.start_query(&researcher, &permit, forever).await.unwrap();
        let sec = app
            .applications
            .secretariat(&as_user(
                &admin.find_user("secretariat").await.unwrap(),
                Role::Secretariat,
            ))
            .await
            .unwrap();
        sec.revoke(researcher.user_id().unwrap().as_str(), "規約違反の疑い")
            .await
            .unwrap();
        let v = ws.wait_query(&permit, &id, wait).await.unwrap();
        assert!(
            matches!(&v.state, QueryState::Stopped { reason } if reason == "accreditation_revoked"),
            "{v:?}"
        );
        let last: (String, String) = renkei_store::sqlx::query_as(
            "SELECT outcome, reason FROM audit_log WHERE action = 'query.run' ORDER BY seq DESC LIMIT 1",
        )
        .fetch_one(app.store.pool())
        .await
        .unwrap();
        assert_eq!(last, ("denied".into(), "accreditation_revoked".into()));
    }

    /// While an application is in review its researcher queries dummy data with the
    /// schema it requests: rows always come back, the same every time, labelled as
    /// dummy; what they save is there in the real workspace once the permit is in force.
    #[tokio::test]
    async fn a_dummy_workspace_serves_an_application_in_review() {
        let (_d, app) = linked_demo().await;
        let admin = app
            .accounts
            .admin(&Caller::operator("t", Duty::Accounts))
            .await
            .unwrap();
        let researcher = as_user(
            &admin.find_user("researcher").await.unwrap(),
            Role::Researcher,
        );
        let desk = app.applications.applicant(&researcher).await.unwrap();
        let today = app.applications.today();
        let a = workspace_study(
            "ダミーから始める研究",
            researcher.user_id().unwrap().as_str(),
            today,
        );
        let id = desk.create(&a).await.unwrap();
        desk.submit(&id).await.unwrap();
        let grant = desk.dummy(&id).await.unwrap();
        let ws = &app.workspaces;
        use renkei_workspace::query::QueryState;
        let wait = std::time::Duration::from_secs(60);

        // The schema the extract will have: the same tables and columns.
        let schema = ws.dummy_schema(&grant).await.unwrap();
        let names: Vec<&str> = schema.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "claims_receipts",
                "claims_diagnoses",
                "claims_drugs",
                "checkups",
                "checkups_results",
                "dpc_stays",
                "deaths"
            ]
        );
        // Every example finds rows, and the same rows twice.
        let tables: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        for e in renkei_workspace::examples::for_tables(&tables) {
            let mut seen = Vec::new();
            for _ in 0..2 {
                let q = ws
                    .start_dummy_query(&researcher, &grant, e.sql)
                    .await
                    .unwrap();
                let v = ws.wait_query(&grant, &q, wait).await.unwrap();
                assert!(v.dummy);
                let QueryState::Finished { result } = v.state else {
                    panic!("{}: {v:?}", e.id)
                };
                assert!(!result.rows.is_empty(), "{}", e.id);
                let some = result.rows.iter().any(|r| {
                    r.iter()
                        .flatten()
                        .any(|c| c.parse::<f64>().is_ok_and(|n| n > 0.0))
                });
                assert!(some, "{}: {result:?}", e.id);
                seen.push(result.rows);
            }
            // The same rows (floating-point sums may differ in their last bits with
            // the order partial sums meet in).
            let rounded = |rows: &Vec<Vec<Option<String>>>| -> Vec<Vec<Option<String>>> {
                rows.iter()
                    .map(|r| {
                        r.iter()
                            .map(|c| {
                                c.as_ref().map(|c| match c.parse::<f64>() {
                                    Ok(x) if c.contains('.') => format!("{x:.4}"),
                                    _ => c.clone(),
                                })
                            })
                            .collect()
                    })
                    .collect()
            };
            assert_eq!(rounded(&seen[0]), rounded(&seen[1]), "{}", e.id);
        }
        // The gate is the same.
        let q = ws
            .start_dummy_query(
                &researcher,
                &grant,
                "SELECT * FROM information_schema.tables",
            )
            .await
            .unwrap();
        let v = ws.wait_query(&grant, &q, wait).await.unwrap();
        assert!(
            matches!(&v.state, QueryState::Failed { code, .. } if code == "query_information_schema")
        );
        let audited: Vec<(String, String)> = renkei_store::sqlx::query_as(
            "SELECT object, detail FROM audit_log WHERE action = 'query.run' ORDER BY seq",
        )
        .fetch_all(app.store.pool())
        .await
        .unwrap();
        assert!(
            audited
                .iter()
                .all(|(o, d)| o == &format!("application:{id}") && d.contains("\"dummy\":true"))
        );
        ws.save_query(
            &grant,
            "糖尿病",
            renkei_workspace::examples::EXAMPLES[0].sql,
        )
        .await
        .unwrap();

        // Approved and confirmed: the permit comes into force, and the query saved on
        // dummy data is in the real workspace.
        permit_now(&app, &id, &a).await.unwrap();
        assert_eq!(desk.dummy(&id).await.unwrap_err().code(), "not_in_review");
        app.ensure_extracts().await;
        let permit = app.applications.in_force(&researcher, &id).await.unwrap();
        let saved = ws.saved_queries(&permit).await.unwrap();
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].name, "糖尿病");
        // The history shows the dummy runs, labelled.
        let history = ws.history(&permit, 50).await.unwrap();
        assert!(!history.is_empty() && history.iter().all(|h| h.dummy));
        // A dummy query's id does not open in the real workspace.
        let q = ws
            .start_dummy_query(&researcher, &grant, "SELECT 1")
            .await
            .unwrap();
        assert!(ws.query(&permit, &q).is_none());
    }
}
