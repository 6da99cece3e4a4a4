//! Applications over the JSON API, every role with its own token: draft → submit
//! (every missing field named) → return → resubmit → a meeting short of the guideline
//! (refused, the unmet requirement named) → a conflict declared → approval with
//! conditions → each custodian confirms their own dataset → permit → closure.

use crate::common::fixture;
use axum::http::{Method, StatusCode};
use renkei_core::Role;
use renkei_store::{Store, store_test};
use serde_json::{Value, json};

fn content(handlers: &[&str]) -> Value {
    json!({
        "title": "糖尿病の受療と死亡",
        "institution": "合成大学",
        "handlers": handlers,
        "purpose": "research",
        "purpose_text": "受療と死亡の関連",
        "summary_ja": "糖尿病の人の受診と死因の関係を調べます。",
        "public_interest": "重症化予防",
        "commercial": false,
        "why_pseudonymized": "個人単位の連結のため",
        "methods": "コホート研究",
        "data": [
            {"dataset": "ndb_claims", "tables": [{"table": "receipts", "variables": ["sex", "age_band"]}]},
            {"dataset": "deaths", "tables": [{"table": "deaths", "variables": ["sex"]}]}
        ],
        "linkage_reason": "転帰を得るため",
        "use_from": "2026-01-01",
        "use_to": "2030-12-31",
        "place_of_use": "Visiting",
        "publication_plan": "論文",
        "safety_measures": "施錠",
        "conflicts_of_interest": "なし"
    })
}

/// The two datasets asked for, declared in the catalogue (no data needed to apply).
async fn datasets(store: &Store) {
    let mut tx = store.begin().await.unwrap();
    for id in ["ndb_claims", "deaths"] {
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
}

/// A user made by `Fx::user`, as a signed-in caller of the services.
fn as_caller(u: &renkei_accounts::User) -> renkei_core::Caller {
    renkei_core::Caller::user(
        u.id.clone(),
        u.username.clone(),
        u.roles.clone(),
        renkei_core::AuthMethod::SessionMfa,
        "t",
    )
}

/// An accreditation of `user`, current until 2099.
fn accreditation(user: &renkei_accounts::User) -> renkei_access::accreditation::Accreditation {
    renkei_access::accreditation::Accreditation {
        user: user.id.to_string(),
        course: "研修".into(),
        trained_on: Some(time::macros::date!(2026 - 01 - 05)),
        pledge_signed_on: Some(time::macros::date!(2026 - 01 - 05)),
        institution: "合成大学".into(),
        safety_measures: "施錠".into(),
        expires_on: time::macros::date!(2099 - 03 - 31),
        revoked: None,
    }
}

async fn applications_over_the_api(store: Store) {
    let fx = fixture(&store).await;
    datasets(&store).await;
    let mut users = Vec::new();
    for (name, role) in [
        ("researcher1", Role::Researcher),
        ("researcher2", Role::Researcher),
        ("secretariat", Role::Secretariat),
        ("custodian-deaths", Role::Custodian),
        ("custodian-ndb", Role::Custodian),
    ] {
        users.push((name, fx.user(name, &[role]).await));
    }
    for i in 1..=6 {
        let name = format!("member{i}");
        let u = fx.user(&name, &[Role::CommitteeMember]).await;
        users.push((Box::leak(name.into_boxed_str()), u));
    }
    let id_of = |n: &str| {
        users
            .iter()
            .find(|(u, _)| *u == n)
            .unwrap()
            .1
            .id
            .to_string()
    };
    let op = renkei_core::Caller::operator("test", renkei_core::Duty::Accounts);
    for (d, u) in [
        ("deaths", "custodian-deaths"),
        ("ndb_claims", "custodian-ndb"),
    ] {
        fx.app
            .catalog
            .assign_custodian(&op, d, &renkei_core::UserId::from_stored(id_of(u)), true)
            .await
            .unwrap();
    }
    let mut c = fx.client();
    let r1 = fx.api_token("researcher1").await;
    let sec = fx.api_token("secretariat").await;
    let (r1_id, r2_id) = (id_of("researcher1"), id_of("researcher2"));

    // A draft, then a submission that names what is missing.
    let mut draft = content(&[&r1_id, &r2_id]);
    draft["title"] = json!("");
    let (s, v) = c
        .api(Method::POST, "/api/v1/applications", &r1, Some(draft))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let app = v["id"].as_str().unwrap().to_owned();
    let (s, v) = c
        .api(
            Method::POST,
            &format!("/api/v1/applications/{app}/submit"),
            &r1,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "application_incomplete");
    let detail = v["error"]["detail"].as_str().unwrap();
    assert!(detail.contains("title: missing"), "{detail}");
    assert!(detail.contains("handlers[1]: not_accredited"), "{detail}");

    // The secretariat accredits both; the researcher fixes the title.
    for u in [&r1_id, &r2_id] {
        let (s, v) = c
            .api(
                Method::POST,
                "/api/v1/review/accreditations",
                &sec,
                Some(json!({
                    "user": u, "course": "利用者研修", "trained_on": "2026-01-05",
                    "pledge_signed_on": "2026-01-05", "institution": "合成大学",
                    "safety_measures": "施錠した分析室", "expires_on": "2099-03-31"
                })),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    }
    let (s, v) = c.api(Method::GET, "/api/v1/accreditation", &r1, None).await;
    assert_eq!(
        (s, v["standing"].as_str()),
        (StatusCode::OK, Some("current"))
    );
    let (s, v) = c
        .api(
            Method::POST,
            &format!("/api/v1/applications/{app}/content"),
            &r1,
            Some(content(&[&r1_id, &r2_id])),
        )
        .await;
    assert_eq!((s, v["version"].as_i64()), (StatusCode::OK, Some(1)));
    let step = |path: String, token: String, body: Option<Value>| {
        let mut c = fx.client();
        async move { c.api(Method::POST, &path, &token, body).await }
    };
    let (s, v) = step(
        format!("/api/v1/applications/{app}/submit"),
        r1.clone(),
        None,
    )
    .await;
    assert_eq!(
        (s, v["state"].as_str()),
        (StatusCode::OK, Some("submitted")),
        "{v}"
    );
    // Someone else's application is not theirs to read.
    let r2 = fx.api_token("researcher2").await;
    let (s, v) = c
        .api(
            Method::GET,
            &format!("/api/v1/applications/{app}"),
            &r2,
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_own_application"))
    );

    // Returned, changed (a new version), resubmitted, sent to a meeting.
    let (s, _) = step(
        format!("/api/v1/review/applications/{app}/return"),
        sec.clone(),
        Some(json!({"reason": "公表計画を具体的に"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let mut changed = content(&[&r1_id, &r2_id]);
    changed["publication_plan"] = json!("2028年に論文");
    let (_, v) = step(
        format!("/api/v1/applications/{app}/content"),
        r1.clone(),
        Some(changed),
    )
    .await;
    assert_eq!(v["version"], 2);
    step(
        format!("/api/v1/applications/{app}/submit"),
        r1.clone(),
        None,
    )
    .await;
    // No meeting opens while the committee fails the guideline.
    let (s, v) = step(
        "/api/v1/review/meetings".into(),
        sec.clone(),
        Some(json!({"title": "第12回", "held_on": "2099-12-10"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("quorum_not_met")),
        "{v}"
    );

    // The committee: five who meet the guideline, and a sixth who declares a conflict.
    let attrs = [
        ("member1", "natural_science", false, "male"),
        ("member2", "humanities_social", true, "female"),
        ("member3", "general_public", true, "male"),
        ("member4", "natural_science", false, "female"),
        ("member5", "natural_science", false, "male"),
        ("member6", "humanities_social", false, "male"),
    ];
    for (m, e, x, sex) in attrs {
        let (s, v) = step(
            "/api/v1/review/committee".into(),
            sec.clone(),
            Some(json!({"user": id_of(m), "expertise": e, "external": x, "sex": sex})),
        )
        .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    }
    let (_, roster) = c
        .api(Method::GET, "/api/v1/review/committee", &sec, None)
        .await;
    assert_eq!(roster["unmet"], json!([]));
    let (s, meeting) = step(
        "/api/v1/review/meetings".into(),
        sec.clone(),
        Some(json!({"title": "第12回", "held_on": "2099-12-10"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{meeting}");
    let (s, v) = step(
        format!("/api/v1/review/applications/{app}/meeting"),
        sec.clone(),
        Some(json!({"meeting": meeting["id"]})),
    )
    .await;
    assert_eq!(
        (s, v["state"].as_str()),
        (StatusCode::OK, Some("in_review")),
        "{v}"
    );

    let m5 = fx.api_token("member5").await;
    let (_, agenda) = c
        .api(Method::GET, "/api/v1/committee/applications", &m5, None)
        .await;
    assert_eq!(agenda.as_array().unwrap().len(), 1);
    let (s, _) = step(
        format!("/api/v1/committee/applications/{app}/conflict"),
        m5,
        Some(json!({"conflicted": true, "detail": "共同研究者"})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Five present, one of them conflicted: refused, the requirement named.
    let five: Vec<String> = ["member1", "member2", "member3", "member4", "member5"]
        .iter()
        .map(|m| id_of(m))
        .collect();
    let (s, v) = step(
        format!("/api/v1/review/applications/{app}/decision"),
        sec.clone(),
        Some(json!({"decision": "approve", "present": five})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "quorum_not_met");
    assert_eq!(v["error"]["detail"], "five_members");
    let mut six = five.clone();
    six.push(id_of("member6"));
    let (s, v) = step(
        format!("/api/v1/review/applications/{app}/decision"),
        sec.clone(),
        Some(json!({"decision": "approve_with_conditions", "conditions": ["公表前に報告"], "present": six, "reasons": "公益性"})),
    )
    .await;
    assert_eq!(
        (s, v["state"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{v}"
    );

    // Custodians: each their own dataset.
    let cd = fx.api_token("custodian-deaths").await;
    let cd_token = cd.clone();
    let cn = fx.api_token("custodian-ndb").await;
    let (_, pending) = c
        .api(Method::GET, "/api/v1/custody/applications", &cd, None)
        .await;
    assert_eq!(pending.as_array().unwrap().len(), 1);
    let (s, v) = step(
        format!("/api/v1/custody/applications/{app}/confirm"),
        cd.clone(),
        Some(json!({"dataset": "ndb_claims"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_custodian"))
    );
    step(
        format!("/api/v1/custody/applications/{app}/confirm"),
        cd,
        Some(json!({"dataset": "deaths"})),
    )
    .await;
    let (s, v) = step(
        format!("/api/v1/custody/applications/{app}/confirm"),
        cn,
        Some(json!({"dataset": "ndb_claims"})),
    )
    .await;
    assert_eq!(
        (s, v["state"].as_str()),
        (StatusCode::OK, Some("permitted")),
        "{v}"
    );
    assert_eq!(v["conditions"], json!(["公表前に報告"]));

    // The permit, with its EHDS mapping; the check every access makes.
    let (s, v) = c
        .api(
            Method::GET,
            &format!("/api/v1/projects/{app}/permit"),
            &r1,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["permit"]["conditions"], json!(["公表前に報告"]));
    assert_eq!(v["permit"]["people"].as_array().unwrap().len(), 2);
    assert!(
        v["ehds_mapping"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["field"] == "people")
    );
    let access = format!("/api/v1/projects/{app}/access");
    let (s, v) = c.api(Method::GET, &access, &r2, None).await;
    assert_eq!(
        (s, v["user"].as_str()),
        (StatusCode::OK, Some(r2_id.as_str())),
        "{v}"
    );
    // Revocation stops the next request at once; a renewed accreditation restores it.
    let (s, _) = step(
        format!("/api/v1/review/accreditations/{r2_id}/revoke"),
        sec.clone(),
        Some(json!({"reason": "目的外利用の疑い"})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = c.api(Method::GET, &access, &r2, None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("accreditation_revoked"))
    );
    let secretariat = users.iter().find(|(u, _)| *u == "secretariat").unwrap();
    let renewed = accreditation(&users.iter().find(|(u, _)| *u == "researcher2").unwrap().1);
    fx.app
        .applications
        .secretariat(&as_caller(&secretariat.1))
        .await
        .unwrap()
        .accredit(&renewed)
        .await
        .unwrap();
    let (s, _) = c.api(Method::GET, &access, &r2, None).await;
    assert_eq!(s, StatusCode::OK);
    // Someone not named is refused, with the reason.
    let (s, v) = c.api(Method::GET, &access, &cd_token, None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("permission_missing"))
    );
    let r3 = {
        fx.user("researcher3", &[Role::Researcher]).await;
        fx.api_token("researcher3").await
    };
    let (s, v) = c.api(Method::GET, &access, &r3, None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_named_on_permit"))
    );

    // Closure destroys the keys and records the certificate; access stops.
    let (s, v) = step(
        format!("/api/v1/projects/{app}/close"),
        r2.clone(),
        Some(json!({"reason": "終了"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_yours_to_close"))
    );
    let (s, v) = step(
        format!("/api/v1/projects/{app}/close"),
        sec.clone(),
        Some(json!({"reason": "研究終了"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let cert = v["closed"]["certificate"].clone();
    assert_eq!(cert["subject"], json!(format!("extract:{app}")));
    assert_eq!(cert["digest"].as_str().unwrap().len(), 64);
    let (s, v) = c.api(Method::GET, &access, &r1, None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("project_closed"))
    );

    // The public register shows it, with the certificate, as JSON and CSV, to anyone.
    let reg = c.get("/api/v1/register").await;
    assert_eq!(reg.status, StatusCode::OK);
    let v: Value = serde_json::from_str(&reg.body).unwrap();
    assert_eq!(v[0]["status"], "closed");
    assert_eq!(v[0]["certificate"]["id"], cert["id"]);
    assert_eq!(
        v[0]["summary_ja"],
        "糖尿病の人の受診と死因の関係を調べます。"
    );
    let csv = c.get("/register.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.body.starts_with("project,title,institution"),
        "{}",
        csv.body
    );
    assert!(csv.body.contains(cert["digest"].as_str().unwrap()));
    let page = c.get("/register").await;
    assert!(page.body.contains("糖尿病の受療と死亡"));
    assert!(page.body.contains(cert["id"].as_str().unwrap()));

    // The applicant sees the whole history.
    let (_, v) = c
        .api(
            Method::GET,
            &format!("/api/v1/applications/{app}"),
            &r1,
            None,
        )
        .await;
    let steps: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["step"].as_str().unwrap())
        .collect();
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
}

store_test!(applications_over_the_api);

/// Five committee members, `member1`..`member5`, made and appointed so that the
/// committee meets the guideline; their users, in order.
async fn committee_of_five(
    fx: &crate::common::Fx,
    desk: &renkei_access::SecretariatDesk,
) -> Vec<renkei_accounts::User> {
    use renkei_access::committee::{Expertise, Member, Sex};
    let attrs = [
        (Expertise::NaturalScience, false, Sex::Male),
        (Expertise::HumanitiesSocial, true, Sex::Female),
        (Expertise::GeneralPublic, true, Sex::Male),
        (Expertise::NaturalScience, false, Sex::Female),
        (Expertise::NaturalScience, false, Sex::Male),
    ];
    let mut users = Vec::new();
    for (i, (expertise, external, sex)) in attrs.into_iter().enumerate() {
        let u = fx
            .user(&format!("member{}", i + 1), &[Role::CommitteeMember])
            .await;
        desk.appoint(&Member {
            id: u.id.to_string(),
            expertise,
            external,
            sex,
        })
        .await
        .unwrap();
        users.push(u);
    }
    users
}

/// The researcher's part in the browser, without JavaScript: a draft from the form
/// (variables ticked, a row filter, a colleague named by username), a submission that
/// lists each problem on the page, and, once both are accredited, a submission that
/// goes in.
async fn the_researchers_pages_work_without_javascript(store: Store) {
    let fx = fixture(&store).await;
    datasets(&store).await;
    fx.user("researcher1", &[Role::Researcher]).await;
    fx.user("researcher2", &[Role::Researcher]).await;
    let mut c = fx.client();
    c.sign_in(&fx, "researcher1").await;
    let home = c.get("/home").await;
    assert!(
        home.body.contains("href=\"/applications\""),
        "the menu leads there"
    );
    let list = c.get("/applications").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains("利用者認定がありません"),
        "{}",
        list.body
    );
    let form = c.get("/applications/new").await;
    assert_eq!(form.status, StatusCode::OK);
    // Every variable is a labelled checkbox; the researcher is named already.
    assert!(form.body.contains("value=\"ndb_claims/receipts/sex\""));
    assert!(
        form.body.contains("researcher1</textarea>"),
        "{}",
        form.body
    );
    let csrf = form.csrf();
    let fields: Vec<(&str, &str)> = vec![
        ("csrf", &csrf),
        ("title", "糖尿病の受療と死亡"),
        ("institution", "合成大学"),
        ("handlers", "researcher1\nresearcher2"),
        ("purpose", "research"),
        ("purpose_text", "受療と死亡の関連"),
        ("summary_ja", "糖尿病の人の受診と死因の関係を調べます。"),
        ("public_interest", "重症化予防"),
        ("commercial", "no"),
        ("why_pseudonymized", "個人単位の連結のため"),
        ("methods", "コホート研究"),
        ("var", "ndb_claims/receipts/sex"),
        ("var", "ndb_claims/receipts/age_band"),
        ("var", "deaths/deaths/cause_icd10"),
        ("ages.ndb_claims", "40-74"),
        ("conditions.ndb_claims", "E11"),
        ("linkage_reason", "転帰を得るため"),
        ("use_from", "2027-01-01"),
        ("use_to", "2027-12-31"),
        ("place_of_use", "Visiting"),
        ("publication_plan", "論文"),
        ("safety_measures", "施錠"),
        ("conflicts_of_interest", "なし"),
    ];
    let r = c.post("/applications", &fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page_url = r.location().split('?').next().unwrap().to_owned();
    let page = c.get(r.location()).await;
    assert!(page.body.contains("保存しました"), "{}", page.body);
    // What the request asks, counted for the researcher too.
    let risk = &page.body[page.body.find("id=\"risk\"").expect("the risk summary")..];
    let risk = &risk[..risk.find("</dl>").unwrap()];
    assert!(
        risk.contains("<dd>3</dd>") && risk.contains("deaths × ndb_claims"),
        "{risk}"
    );
    assert!(page.body.contains("下書き"));
    // What was ticked is ticked again, and the colleague is shown by name.
    assert!(
        page.body
            .contains("value=\"deaths/deaths/cause_icd10\" checked"),
        "{}",
        page.body
    );
    assert!(page.body.contains("researcher1\nresearcher2</textarea>"));
    assert!(page.body.contains("value=\"40-74\""));
    // Submitting names each problem on the page.
    let r = c
        .post(&format!("{page_url}/submit"), &[("csrf", &page.csrf())])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("role=\"alert\""));
    assert!(r.body.contains("handlers[0]"));
    assert!(r.body.contains("有効な利用者認定がありません"));
    // The secretariat accredits both in its page; then it goes in.
    fx.user("secretariat", &[Role::Secretariat]).await;
    let mut sec = fx.client();
    sec.sign_in(&fx, "secretariat").await;
    for name in ["researcher1", "researcher2"] {
        let form = sec.get("/review/accreditations").await;
        let r = sec
            .post(
                "/review/accreditations",
                &[
                    ("csrf", &form.csrf()),
                    ("username", name),
                    ("course", "利用者研修"),
                    ("trained_on", "2026-01-05"),
                    ("pledge_signed_on", "2026-01-05"),
                    ("institution", "合成大学"),
                    ("safety_measures", "施錠した分析室"),
                    ("expires_on", "2099-03-31"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
    let page = c.get(&page_url).await;
    let r = c
        .post(&format!("{page_url}/submit"), &[("csrf", &page.csrf())])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = c.get(r.location()).await;
    assert!(page.body.contains("事務局確認中"), "{}", page.body);
    assert!(!page.body.contains("name=\"title\""), "no longer editable");
    // Another researcher cannot open it.
    let mut other = fx.client();
    other.sign_in(&fx, "researcher2").await;
    assert_eq!(other.get(&page_url).await.status, StatusCode::FORBIDDEN);
    // Revoked in the page: the researcher sees it at once.
    let form = sec.get("/review/accreditations").await;
    let r = sec
        .post(
            "/review/accreditations/revoke",
            &[
                ("csrf", &form.csrf()),
                ("username", "researcher2"),
                ("reason", "目的外利用"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        other
            .get("/applications")
            .await
            .body
            .contains("利用者認定がありません")
    );
}

store_test!(the_researchers_pages_work_without_javascript);

/// The secretariat's part in pages: screening, a meeting, the roster with what it
/// lacks, appointing by username, and a decision recorded only with a quorum.
async fn the_secretariats_pages(store: Store) {
    let fx = fixture(&store).await;
    datasets(&store).await;
    let r1 = fx.user("researcher1", &[Role::Researcher]).await;
    let sec_user = fx.user("secretariat", &[Role::Secretariat]).await;
    let mut members = Vec::new();
    for i in 1..=5 {
        members.push(
            fx.user(&format!("member{i}"), &[Role::CommitteeMember])
                .await,
        );
    }
    let desk = fx
        .app
        .applications
        .secretariat(&as_caller(&sec_user))
        .await
        .unwrap();
    desk.accredit(&accreditation(&r1)).await.unwrap();
    let applicant = fx
        .app
        .applications
        .applicant(&as_caller(&r1))
        .await
        .unwrap();
    let mut one = content(&[]);
    one["handlers"] = json!([r1.id.to_string()]);
    let a: renkei_access::application::Application = serde_json::from_value(one).unwrap();
    let id = applicant.create(&a).await.unwrap();
    applicant.submit(&id).await.unwrap();

    let mut c = fx.client();
    c.sign_in(&fx, "secretariat").await;
    let list = c.get("/review").await;
    assert!(
        list.body.contains(&format!("/review/{id}")),
        "{}",
        list.body
    );
    let page = c.get(&format!("/review/{id}")).await;
    assert!(page.body.contains("事務局確認中"));
    assert!(
        page.body.contains("/review/meetings"),
        "schedule a meeting first"
    );
    // Scheduling a meeting with an empty committee is refused, the reason named.
    let meetings = c.get("/review/meetings").await;
    let r = c
        .post(
            "/review/meetings",
            &[
                ("csrf", &meetings.csrf()),
                ("title", "第3回"),
                ("held_on", "2099-01-20"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("quorum_not_met"), "{}", r.body);
    // The roster: empty, so every requirement is named; members appointed by name.
    let roster = c.get("/review/committee").await;
    assert!(roster.body.contains("5名以上であること"), "{}", roster.body);
    let attrs = [
        ("member1", "natural_science", false, "male"),
        ("member2", "humanities_social", true, "female"),
        ("member3", "general_public", true, "male"),
        ("member4", "natural_science", false, "female"),
        ("member5", "natural_science", false, "male"),
    ];
    for (name, e, x, sex) in attrs {
        let mut form = vec![
            ("csrf", roster.csrf()),
            ("username", name.to_owned()),
            ("expertise", e.to_owned()),
            ("sex", sex.to_owned()),
        ];
        if x {
            form.push(("external", "1".to_owned()));
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = c.post("/review/committee", &form).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
    let roster = c.get("/review/committee").await;
    assert!(roster.body.contains("構成要件をすべて満たしています"));
    // A meeting scheduled in its page, then chosen for the application.
    let meetings = c.get("/review/meetings").await;
    let r = c
        .post(
            "/review/meetings",
            &[
                ("csrf", &meetings.csrf()),
                ("title", "第3回"),
                ("held_on", "2099-01-20"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = c.get(&format!("/review/{id}")).await;
    let i = page
        .body
        .find("<option value=\"mtg-")
        .expect("the meeting offered")
        + 15;
    let meeting = page.body[i..i + page.body[i..].find('"').unwrap()].to_owned();
    let r = c
        .post(
            &format!("/review/{id}/meeting"),
            &[("csrf", &page.csrf()), ("meeting", &meeting)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let meetings = c.get("/review/meetings").await;
    assert!(meetings.body.contains("第3回") && meetings.body.contains(&format!("/review/{id}")));
    // Four present: refused, the missing requirement named on the page.
    let page = c.get(&format!("/review/{id}")).await;
    let csrf = page.csrf();
    let mut form: Vec<(&str, String)> =
        vec![("csrf", csrf.clone()), ("decision", "approve".into())];
    for m in &members[..4] {
        form.push(("present", m.id.to_string()));
    }
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = c.post(&format!("/review/{id}/decision"), &refs).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.body.contains("quorum_not_met") && r.body.contains("five_members"),
        "{}",
        r.body
    );
    form.push(("present", members[4].id.to_string()));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = c.post(&format!("/review/{id}/decision"), &refs).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = c.get(r.location()).await;
    assert!(
        page.body.contains("承認（保有者確認待ち）"),
        "{}",
        page.body
    );
}

store_test!(the_secretariats_pages);

/// Committee members declare conflicts, and custodians answer for their own datasets,
/// in pages.
async fn members_and_custodians_in_pages(store: Store) {
    let fx = fixture(&store).await;
    datasets(&store).await;
    let r1 = fx.user("researcher1", &[Role::Researcher]).await;
    let sec = fx.user("secretariat", &[Role::Secretariat]).await;
    let cust = fx.user("custodian-deaths", &[Role::Custodian]).await;
    let op = renkei_core::Caller::operator("t", renkei_core::Duty::Accounts);
    fx.app
        .catalog
        .assign_custodian(&op, "deaths", &cust.id, true)
        .await
        .unwrap();
    let desk = fx
        .app
        .applications
        .secretariat(&as_caller(&sec))
        .await
        .unwrap();
    desk.accredit(&accreditation(&r1)).await.unwrap();
    let members = committee_of_five(&fx, &desk).await;
    let applicant = fx
        .app
        .applications
        .applicant(&as_caller(&r1))
        .await
        .unwrap();
    let mut one = content(&[]);
    one["handlers"] = json!([r1.id.to_string()]);
    one["data"] =
        json!([{"dataset": "deaths", "tables": [{"table": "deaths", "variables": ["sex"]}]}]);
    let a: renkei_access::application::Application = serde_json::from_value(one).unwrap();
    let id = applicant.create(&a).await.unwrap();
    applicant.submit(&id).await.unwrap();
    let m = desk
        .schedule("第4回", time::macros::date!(2099 - 01 - 01), &[])
        .await
        .unwrap();
    desk.send_to_meeting(&id, &m.id).await.unwrap();

    // A member sees the agenda and declares in the page.
    let mut m = fx.client();
    m.sign_in(&fx, "member1").await;
    let agenda = m.get("/committee").await;
    assert!(
        agenda.body.contains(&format!("/committee/{id}")),
        "{}",
        agenda.body
    );
    let page = m.get(&format!("/committee/{id}")).await;
    let r = m
        .post(
            &format!("/committee/{id}/conflict"),
            &[("csrf", &page.csrf()), ("conflicted", "no"), ("detail", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let present: Vec<String> = members.iter().map(|m| m.id.to_string()).collect();
    desk.decide(&id, renkei_access::flow::Decision::Approve, &present, "")
        .await
        .unwrap();
    // After the decision, declarations are closed.
    let page = m.get(&format!("/committee/{id}")).await;
    assert!(!page.body.contains("name=\"conflicted\""));

    // The custodian answers for their dataset; the permit follows.
    let mut c = fx.client();
    c.sign_in(&fx, "custodian-deaths").await;
    let list = c.get("/custody").await;
    assert!(
        list.body.contains(&format!("/custody/{id}")),
        "{}",
        list.body
    );
    let page = c.get(&format!("/custody/{id}")).await;
    assert!(page.body.contains("value=\"deaths\""));
    let r = c
        .post(
            &format!("/custody/{id}/answer"),
            &[
                ("csrf", &page.csrf()),
                ("dataset", "deaths"),
                ("answer", "confirm"),
                ("reason", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = c.get(r.location()).await;
    assert!(page.body.contains("利用許可"), "{}", page.body);
}

store_test!(members_and_custodians_in_pages);

/// A project in the pages, without JavaScript: the researcher finds it, reads the
/// permit (and its JSON), adds a publication, starts an amendment and closes it; the
/// secretariat sees the risk summary beside the application; the public register
/// shows the deletion certificate.
async fn projects_in_pages(store: Store) {
    let fx = fixture(&store).await;
    datasets(&store).await;
    let r1 = fx.user("researcher1", &[Role::Researcher]).await;
    let sec_user = fx.user("secretariat", &[Role::Secretariat]).await;
    let sec = as_caller(&sec_user);
    let desk = fx.app.applications.secretariat(&sec).await.unwrap();
    desk.accredit(&accreditation(&r1)).await.unwrap();
    let present: Vec<String> = committee_of_five(&fx, &desk)
        .await
        .iter()
        .map(|u| u.id.to_string())
        .collect();
    let op = renkei_core::Caller::operator("test", renkei_core::Duty::Accounts);
    let mut custodians = Vec::new();
    for (d, name) in [
        ("deaths", "custodian-deaths"),
        ("ndb_claims", "custodian-ndb"),
    ] {
        let u = fx.user(name, &[Role::Custodian]).await;
        fx.app
            .catalog
            .assign_custodian(&op, d, &u.id, true)
            .await
            .unwrap();
        custodians.push((d, u));
    }
    let mut one = content(&[]);
    one["handlers"] = json!([r1.id.to_string()]);
    let a: renkei_access::application::Application = serde_json::from_value(one).unwrap();
    let applicant = fx
        .app
        .applications
        .applicant(&as_caller(&r1))
        .await
        .unwrap();
    let id = applicant.create(&a).await.unwrap();
    applicant.submit(&id).await.unwrap();
    let m = desk
        .schedule("第1回", time::macros::date!(2099 - 01 - 01), &[])
        .await
        .unwrap();
    desk.send_to_meeting(&id, &m.id).await.unwrap();
    desk.decide(&id, renkei_access::flow::Decision::Approve, &present, "")
        .await
        .unwrap();
    for (d, u) in &custodians {
        let c = fx.app.applications.custodian(&as_caller(u)).await.unwrap();
        c.confirm(&id, d, "").await.unwrap();
    }

    // Attachments: the page's upload (no JavaScript: a multipart form with the token
    // in its action), typed by content; an executable named .pdf refused.
    let mut c = fx.client();
    c.sign_in(&fx, "researcher1").await;
    let draft = applicant.create(&a).await.unwrap();
    let page = c.get(&format!("/applications/{draft}")).await;
    assert!(
        page.body.contains("enctype=\"multipart/form-data\""),
        "{}",
        page.body
    );
    let action = format!("/applications/{draft}/attachments?csrf={}", page.csrf());
    let r = c.upload(&action, "計画書.pdf", b"%PDF-1.7\n%%EOF\n").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = c.get(r.location()).await;
    assert!(page.body.contains("計画書.pdf") && page.body.contains("application/pdf"));
    let r = c
        .upload(&action, "x.pdf", b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = c
        .upload(
            &format!("/applications/{draft}/attachments"),
            "y.pdf",
            b"%PDF-1.7",
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no token, no upload");
    let file = c.get(&format!("/applications/{draft}/attachments/1")).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.headers["content-type"], "application/pdf");
    assert_eq!(file.body, "%PDF-1.7\n%%EOF\n");

    // The secretariat sees the risk summary beside the application, and the project.
    let mut s = fx.client();
    s.sign_in(&fx, "secretariat").await;
    let page = s.get(&format!("/review/{id}")).await;
    assert!(
        page.body.contains("要求データのリスク概要"),
        "{}",
        page.body
    );
    assert!(page.body.contains("deaths × ndb_claims"), "{}", page.body);
    assert!(page.body.contains(&format!("/projects/{id}")));

    let list = c.get("/projects").await;
    assert!(
        list.body.contains(&format!("/projects/{id}")),
        "{}",
        list.body
    );
    let page = c.get(&format!("/projects/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("利用許可") && page.body.contains("仮名化"));
    let permit = c.get(&format!("/projects/{id}/permit.json")).await;
    let doc: Value = serde_json::from_str(&permit.body).unwrap();
    assert_eq!(doc["permit"]["project"], json!(id));
    // A publication, then an amendment that opens in the form.
    let r = c
        .post(
            &format!("/projects/{id}/publications"),
            &[
                ("csrf", &page.csrf()),
                ("kind", "article"),
                ("citation", "合成 太郎. 受療と死亡. 2027."),
                ("url", "https://example.org/paper"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = c.get(r.location()).await;
    assert!(page.body.contains("合成 太郎. 受療と死亡. 2027."));
    let r = c
        .post(&format!("/projects/{id}/amend"), &[("csrf", &page.csrf())])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location().starts_with("/applications/app-"));
    let amendment_url = r.location().to_owned();
    let amendment = c.get(&amendment_url).await;
    assert!(
        amendment.body.contains("変更の対象となる研究"),
        "{}",
        amendment.body
    );
    // Closure: the certificate on the page and on the register.
    let r = c
        .post(
            &format!("/projects/{id}/close"),
            &[("csrf", &page.csrf()), ("reason", "研究終了")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = c.get(r.location()).await;
    assert!(
        page.body.contains("消去証明") && page.body.contains("dc-"),
        "{}",
        page.body
    );
    // The amendment still open lapsed with the project.
    let amendment = c.get(&amendment_url).await;
    assert!(
        amendment.body.contains("研究の終了により失効") && amendment.body.contains("取下げ"),
        "{}",
        amendment.body
    );
    let mut public = fx.client();
    let reg = public.get("/register").await;
    assert!(reg.body.contains("糖尿病の受療と死亡") && reg.body.contains("dc-"));
    assert!(reg.body.contains("オプトアウト"));
    // Any page number answers, without arithmetic going astray.
    for page in ["9223372036854775807", "-5", "2"] {
        let r = public.get(&format!("/register?page={page}")).await;
        assert_eq!(r.status, StatusCode::OK, "{page}");
    }
}

store_test!(projects_in_pages);

/// An application with 50 variables across 4 datasets goes from the empty form to a
/// permit in the pages, and every action a person takes on the way is counted: each
/// box ticked, field filled, choice made, button pressed and link followed (signing in
/// is not). At three seconds an action, reading included, the whole way must take
/// under five minutes: at most 100 actions.
async fn fifty_variables_across_four_datasets_to_a_permit(store: Store) {
    let fx = fixture(&store).await;
    let mut tx = store.begin().await.unwrap();
    let four = ["ndb_claims", "dpc", "ltc", "deaths"];
    for id in four {
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
    let r1 = fx.user("researcher1", &[Role::Researcher]).await;
    let sec_user = fx.user("secretariat", &[Role::Secretariat]).await;
    let desk = fx
        .app
        .applications
        .secretariat(&as_caller(&sec_user))
        .await
        .unwrap();
    desk.accredit(&accreditation(&r1)).await.unwrap();
    committee_of_five(&fx, &desk).await;
    let custodian = fx.user("custodian", &[Role::Custodian]).await;
    let op = renkei_core::Caller::operator("test", renkei_core::Duty::Accounts);
    for d in four {
        fx.app
            .catalog
            .assign_custodian(&op, d, &custodian.id, true)
            .await
            .unwrap();
    }
    let mut actions = 0usize;

    // The researcher: the form, 50 variables ticked across the four datasets, the
    // fields filled, saved, submitted.
    let mut c = fx.client();
    c.sign_in(&fx, "researcher1").await;
    let form = c.get("/applications/new").await;
    actions += 1;
    let mut by_dataset: Vec<Vec<String>> = vec![Vec::new(); 4];
    for piece in form.body.split("name=\"var\" value=\"").skip(1) {
        let key = &piece[..piece.find('"').unwrap()];
        if let Some(i) = four.iter().position(|d| key.starts_with(&format!("{d}/"))) {
            by_dataset[i].push(key.to_owned());
        }
    }
    let mut picked = Vec::new();
    for round in 0.. {
        for vars in &by_dataset {
            if picked.len() < 50
                && let Some(v) = vars.get(round)
            {
                picked.push(v.clone());
            }
        }
        if picked.len() == 50 || round > 200 {
            break;
        }
    }
    assert_eq!(picked.len(), 50, "the catalogue offers 50 variables");
    let text = [
        ("title", "高齢者の医療と介護の連続性"),
        ("institution", "合成大学"),
        ("handlers", "researcher1"),
        ("purpose", "research"),
        ("purpose_text", "入院から介護、死亡までの経過"),
        (
            "summary_ja",
            "入院した高齢者がその後どのような介護を受け、どうなったかを調べます。",
        ),
        ("public_interest", "地域包括ケアの計画"),
        ("commercial", "no"),
        ("why_pseudonymized", "個人単位の連結のため"),
        ("methods", "後ろ向きコホート研究"),
        ("linkage_reason", "医療・介護・死亡を結び付けるため"),
        ("use_from", "2026-01-01"),
        ("use_to", "2027-12-31"),
        ("place_of_use", "Visiting"),
        ("publication_plan", "論文と公開報告書"),
        ("safety_measures", "施錠した解析室"),
        ("conflicts_of_interest", "なし"),
    ];
    let csrf = form.csrf();
    let mut fields: Vec<(&str, &str)> = vec![("csrf", &csrf)];
    fields.extend(text);
    fields.extend(picked.iter().map(|v| ("var", v.as_str())));
    actions += picked.len() + text.len();
    let r = c.post("/applications", &fields).await;
    actions += 1;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page_url = r.location().split('?').next().unwrap().to_owned();
    let id = page_url.trim_start_matches("/applications/").to_owned();
    let page = c.get(&page_url).await;
    let r = c
        .post(&format!("{page_url}/submit"), &[("csrf", &page.csrf())])
        .await;
    actions += 1;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        r.location().ends_with("?done=submitted"),
        "{}",
        r.location()
    );

    // The secretariat: a meeting scheduled, the application sent to it, the decision.
    let mut s = fx.client();
    s.sign_in(&fx, "secretariat").await;
    let meetings = s.get("/review/meetings").await;
    actions += 2; // the review list, then its meetings link
    let r = s
        .post(
            "/review/meetings",
            &[
                ("csrf", &meetings.csrf()),
                ("title", "第5回"),
                ("held_on", "2099-02-01"),
            ],
        )
        .await;
    actions += 3;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = s.get(&format!("/review/{id}")).await;
    actions += 1;
    let risk = &page.body[page
        .body
        .find("id=\"risk\"")
        .unwrap_or_else(|| panic!("{} {}", page.status, page.body))..];
    let risk = &risk[..risk.find("</dl>").unwrap()];
    assert!(
        risk.contains("<dd>50</dd>"),
        "the risk summary counts 50 variables: {risk}"
    );
    let i = page.body.find("<option value=\"mtg-").unwrap() + 15;
    let meeting = page.body[i..i + page.body[i..].find('"').unwrap()].to_owned();
    let r = s
        .post(
            &format!("/review/{id}/meeting"),
            &[("csrf", &page.csrf()), ("meeting", &meeting)],
        )
        .await;
    actions += 2;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = s.get(&format!("/review/{id}")).await;
    let mut decision: Vec<(&str, String)> =
        vec![("csrf", page.csrf()), ("decision", "approve".into())];
    for piece in page.body.split("name=\"present\" value=\"").skip(1) {
        decision.push(("present", piece[..piece.find('"').unwrap()].to_owned()));
    }
    actions += decision.len(); // the decision, each member present, the button
    let refs: Vec<(&str, &str)> = decision.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = s.post(&format!("/review/{id}/decision"), &refs).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    // The custodian: one answer per dataset.
    let mut k = fx.client();
    k.sign_in(&fx, "custodian").await;
    actions += 2; // the custody list, then the application
    for d in four {
        let page = k.get(&format!("/custody/{id}")).await;
        let r = k
            .post(
                &format!("/custody/{id}/answer"),
                &[
                    ("csrf", &page.csrf()),
                    ("dataset", d),
                    ("answer", "confirm"),
                ],
            )
            .await;
        actions += 2;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{d}: {}", r.body);
    }

    let page = c.get(&page_url).await;
    assert!(page.body.contains("利用許可"), "{}", page.body);
    let p = c.get(&format!("/projects/{id}")).await;
    assert_eq!(p.status, StatusCode::OK);
    eprintln!("50 variables across 4 datasets, submission to permit: {actions} actions");
    assert!(actions <= 100, "{actions} actions");
}

store_test!(fifty_variables_across_four_datasets_to_a_permit);
