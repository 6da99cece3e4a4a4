//! The whole way from an application to the public register, over HTTP against the
//! real binary, on SQLite and on PostgreSQL, every role with its own account and API
//! token: draft → submit (every problem named) → return for changes → resubmit → a
//! committee short of the guideline (no meeting opens, nor does a decision of four;
//! the reason named) → the roster completed →
//! a conflict of interest recused → approval with conditions → each custodian's
//! confirmation → permit → amendment (differences shown, expedited) → accreditation
//! revoked (access stops at once) and restored → the period ends → the platform's sweep
//! closes the project with a deletion certificate → the register shows it. An opt-out
//! is recorded at the window as tokens only.

use crate::harness::*;
use renkei_store::{Store, store_test};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// One signed-in person: their API token and user id.
struct Person {
    token: String,
    id: String,
    /// Their signed-in browser session.
    web: reqwest::Client,
}

async fn person(env: &Env, base: &str, username: &str, role: &str) -> Person {
    env.ok(
        &[
            "user",
            "add",
            "--username",
            username,
            "--display-name",
            username,
            "--role",
            role,
            "--password-stdin",
        ],
        &format!("{PW}\n"),
    );
    let c = client();
    sign_in_and_enrol(&c, base, username, PW).await;
    let token = create_api_token(&c, base, "e2e").await;
    let me = api(base, &token, Method::GET, "/api/v1/me", None).await.1;
    Person {
        token,
        id: me["id"].as_str().unwrap().to_owned(),
        web: c,
    }
}

async fn api(
    base: &str,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = client()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn today() -> time::Date {
    time::OffsetDateTime::now_utc()
        .to_offset(time::macros::offset!(+9))
        .date()
}

fn ymd(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

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
        "use_from": ymd(today() - time::Duration::days(30)),
        "use_to": ymd(today() + time::Duration::days(300)),
        "place_of_use": "Visiting",
        "publication_plan": "論文",
        "safety_measures": "施錠",
        "conflicts_of_interest": "なし"
    })
}

async fn from_application_to_register_over_http(store: Store) {
    let mut env = Env::new(store.url());
    // A small memory limit per query, so that a query can be made to exceed it.
    env.vars
        .push(("RENKEI_WORKSPACE_QUERY_MEMORY_MIB".into(), "16".into()));
    env.ok(&["init"], "");
    std::fs::write(env.data_dir().join("keys/linkage.key"), "cd".repeat(32)).unwrap();
    let world = env.data_dir().join("world");
    let world_s = world.display().to_string();
    env.ok(
        &[
            "synth",
            "--persons",
            "200",
            "--seed",
            "5",
            "--out",
            &world_s,
        ],
        "",
    );
    for (d, dir) in [("deaths", "deaths"), ("ndb_claims", "ndb")] {
        let src = world.join(dir).display().to_string();
        env.ok(&["ingest", "--dataset", d, "--source", &src], "");
    }
    // An opt-out at the window, recorded as tokens by the linkage authority; a
    // malformed line is named by its number, its content never echoed.
    let (code, out, err) = env.run(
        &["opt-out"],
        "{\"kanji\": \"合成　花子\", \"birth\": \"昭和16年11月6日\", \"sex\": \"2\"}\n{\"kana\": \"ヒミツ\", \"birth\": 19500102}\n",
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("line 1: recorded oo-") && out.contains("(kanji)"),
        "{out}"
    );
    assert!(out.contains("opt-out requests in force: 1"), "{out}");
    assert!(
        err.contains("line 2") && !err.contains("ヒミツ") && !err.contains("19500102"),
        "{err}"
    );
    // The server never holds the linkage key.
    std::fs::remove_file(env.data_dir().join("keys/linkage.key")).unwrap();
    let server = env.start(&["serve"], "Renkei listening on");
    let base = server.url.clone();

    let r1 = person(&env, &base, "researcher1", "researcher").await;
    let r2 = person(&env, &base, "researcher2", "researcher").await;
    let sec = person(&env, &base, "secretariat", "secretariat").await;
    let cust = person(&env, &base, "custodian", "custodian").await;
    for d in ["deaths", "ndb_claims"] {
        env.ok(&["user", "custodian", "custodian", "--dataset", d], "");
    }
    let mut members = Vec::new();
    for i in 1..=6 {
        members.push(person(&env, &base, &format!("member{i}"), "committee_member").await);
    }
    let call = |p: &Person, m: Method, path: String, body: Option<Value>| {
        let (token, base) = (p.token.clone(), base.clone());
        async move { api(&base, &token, m, &path, body).await }
    };
    for p in [&r1, &r2] {
        let (s, v) = call(
            &sec,
            Method::POST,
            "/api/v1/review/accreditations".into(),
            Some(json!({
                "user": p.id, "course": "利用者研修", "trained_on": "2026-01-05",
                "pledge_signed_on": "2026-01-05", "institution": "合成大学",
                "safety_measures": "施錠した解析室", "expires_on": "2099-03-31"
            })),
        )
        .await;
        assert!(s.is_success(), "{v}");
    }

    // Draft → submit: every problem named at once.
    let mut draft = content(&[&r1.id, &r2.id]);
    draft["title"] = json!("");
    draft["methods"] = json!("");
    let (_, v) = call(
        &r1,
        Method::POST,
        "/api/v1/applications".into(),
        Some(draft),
    )
    .await;
    let app = v["id"].as_str().unwrap().to_owned();
    let (s, v) = call(
        &r1,
        Method::POST,
        format!("/api/v1/applications/{app}/submit"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let detail = v["error"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("title: missing") && detail.contains("methods: missing"),
        "{v}"
    );
    let save = |a: &str, body: Value| {
        call(
            &r1,
            Method::POST,
            format!("/api/v1/applications/{a}/content"),
            Some(body),
        )
    };
    let submit = |a: &str| {
        call(
            &r1,
            Method::POST,
            format!("/api/v1/applications/{a}/submit"),
            None,
        )
    };
    save(&app, content(&[&r1.id, &r2.id])).await;
    assert_eq!(submit(&app).await.1["state"], "submitted");
    // Returned for changes, changed, resubmitted.
    let (s, _) = call(
        &sec,
        Method::POST,
        format!("/api/v1/review/applications/{app}/return"),
        Some(json!({"reason": "公表計画を具体的に"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let mut changed = content(&[&r1.id, &r2.id]);
    changed["publication_plan"] = json!("2028年に論文と公開報告書");
    save(&app, changed).await;
    assert_eq!(submit(&app).await.1["state"], "submitted");
    let schedule = |title: &str, designated: Vec<&str>| {
        call(
            &sec,
            Method::POST,
            "/api/v1/review/meetings".into(),
            Some(json!({"title": title, "held_on": ymd(today()), "designated": designated})),
        )
    };
    let meeting = |a: &str, m: &Value| {
        call(
            &sec,
            Method::POST,
            format!("/api/v1/review/applications/{a}/meeting"),
            Some(json!({"meeting": m["id"]})),
        )
    };

    // A committee of four: no meeting opens, the requirement named.
    let attrs = [
        ("natural_science", false, "male"),
        ("humanities_social", true, "female"),
        ("general_public", true, "male"),
        ("natural_science", false, "female"),
        ("humanities_social", false, "male"),
        ("natural_science", true, "female"),
    ];
    let appoint = |i: usize| {
        let (e, x, sex) = attrs[i];
        call(
            &sec,
            Method::POST,
            "/api/v1/review/committee".into(),
            Some(json!({"user": members[i].id, "expertise": e, "external": x, "sex": sex})),
        )
    };
    for i in 0..4 {
        assert!(appoint(i).await.0.is_success());
    }
    let (s, v) = schedule("第1回 審査委員会", vec![]).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("quorum_not_met")),
        "{v}"
    );
    assert!(
        v["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("five_members"),
        "{v}"
    );
    // The roster completed, the meeting opens; four members present at it cannot
    // decide, the requirement named again.
    for i in 4..6 {
        assert!(appoint(i).await.0.is_success());
    }
    let full = schedule("第1回 審査委員会", vec![]).await.1;
    assert_eq!(meeting(&app, &full).await.1["state"], "in_review");
    let decide = |a: &str, decision: Value| {
        call(
            &sec,
            Method::POST,
            format!("/api/v1/review/applications/{a}/decision"),
            Some(decision),
        )
    };
    let present: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
    let approve = json!({
        "decision": "approve_with_conditions", "conditions": ["公表前に事務局へ報告"],
        "present": present, "reasons": "公益性が高い"
    });
    let mut four = approve.clone();
    four["present"] = json!(present[..4]);
    let (s, v) = decide(&app, four).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("quorum_not_met")),
        "{v}"
    );
    assert!(
        v["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("five_members"),
        "{v}"
    );
    // member2 declares a conflict and is recused.
    let (s, _) = call(
        &members[1],
        Method::POST,
        format!("/api/v1/committee/applications/{app}/conflict"),
        Some(json!({"conflicted": true, "detail": "共同研究者"})),
    )
    .await;
    assert!(s.is_success());
    // A member's comment is recorded with the decision.
    let (s, _) = call(
        &members[2],
        Method::POST,
        format!("/api/v1/committee/applications/{app}/comment"),
        Some(json!({"comment": "公益性は明らか"})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = decide(&app, approve.clone()).await;
    assert_eq!(
        (s, v["state"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{v}"
    );
    let history = call(
        &r1,
        Method::GET,
        format!("/api/v1/applications/{app}"),
        None,
    )
    .await
    .1;
    let decided = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["step"] == "decide")
        .unwrap();
    assert_eq!(
        decided["detail"]["recused"][0]["member"],
        json!(members[1].id)
    );
    assert_eq!(
        decided["detail"]["comments"][0]["comment"],
        "公益性は明らか"
    );

    // Each custodian's confirmation, then the permit.
    let confirm = |a: &str, d: &'static str| {
        call(
            &cust,
            Method::POST,
            format!("/api/v1/custody/applications/{a}/confirm"),
            Some(json!({"dataset": d})),
        )
    };
    confirm(&app, "deaths").await;
    let (_, v) = confirm(&app, "ndb_claims").await;
    assert_eq!(v["state"], "permitted", "{v}");
    let (s, permit) = call(
        &r2,
        Method::GET,
        format!("/api/v1/projects/{app}/permit"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{permit}");
    assert_eq!(
        permit["permit"]["conditions"],
        json!(["公表前に事務局へ報告"])
    );
    assert_eq!(
        permit["permit"]["linked_datasets"],
        json!(["deaths", "ndb_claims"])
    );
    let access = format!("/api/v1/projects/{app}/access");
    assert_eq!(
        call(&r2, Method::GET, access.clone(), None).await.0,
        StatusCode::OK
    );
    // The extract waits for the linkage authority's person index; once it runs, the
    // project's extract is made from what the permit grants.
    let extract = format!("/api/v1/projects/{app}/extract");
    let (s, v) = call(&r2, Method::GET, extract.clone(), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.is_null(), "{v}");
    let truth = world.join("ground_truth").display().to_string();
    let linked = env.ok(&["link", "--truth", &truth], "");
    assert!(linked.contains("person index v1"), "{linked}");
    assert!(linked.contains("against ground truth"), "{linked}");
    assert!(
        linked.contains(&format!("made the extract of {app}")),
        "{linked}"
    );
    let (s, v) = call(&r2, Method::GET, extract.clone(), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["version"], 1, "{v}");
    let names: Vec<&str> = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["claims_receipts", "deaths"]);
    assert!(v["tables"][0]["rows"].as_u64().unwrap() > 0, "{v}");
    assert!(v["persons"].as_u64().unwrap() > 0, "{v}");
    // Someone not named on the permit sees nothing of it.
    let (s, _) = call(&members[0], Method::GET, extract.clone(), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The workspace over the API: the project's tables, a governed query, and every
    // escape refused by name, audited, with no path in any answer.
    let (s, v) = call(
        &r2,
        Method::GET,
        format!("/api/v1/projects/{app}/tables"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v[0]["name"], "claims_receipts", "{v}");
    let queries = format!("/api/v1/projects/{app}/queries");
    let ask = |sql: &str| json!({ "sql": sql, "wait_ms": 30000 });
    let (s, v) = call(
        &r2,
        Method::POST,
        queries.clone(),
        Some(ask("SELECT r.sex, count(DISTINCT r.person_id) AS persons, count(d.person_id) AS died \
                  FROM claims_receipts r LEFT JOIN deaths d ON d.person_id = r.person_id GROUP BY r.sex ORDER BY r.sex")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "finished", "{v}");
    assert_eq!(v["result"]["columns"], json!(["sex", "persons", "died"]));
    assert!(!v["result"]["rows"].as_array().unwrap().is_empty(), "{v}");
    // The result, with its query, becomes a pending output; nothing is exported.
    let qid = v["id"].as_str().unwrap().to_owned();
    let (s, out) = call(
        &r2,
        Method::POST,
        format!("/api/v1/projects/{app}/queries/{qid}/release"),
        Some(json!({ "title": "性別の人数と死亡" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{out}");
    let (s, v) = call(
        &r2,
        Method::GET,
        format!("/api/v1/projects/{app}/outputs"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v[0]["id"], out["id"], "{v}");
    assert_eq!(v[0]["status"], "pending", "{v}");
    assert!(v[0].get("rows_data").is_none() && !v.to_string().contains("persons"));

    // Output checking: the researcher declares a result as a table and runs the
    // checks. Seven people split by sex fail, cell by cell; a declaration that does
    // not fit is refused with the place named; aggregated further, it passes.
    let seven = "SELECT sex, count(DISTINCT person_id) AS persons FROM claims_receipts \
                 WHERE person_id IN (SELECT DISTINCT person_id FROM claims_receipts ORDER BY person_id LIMIT 7) \
                 GROUP BY sex ORDER BY sex";
    let release = |sql: String, title: &'static str| {
        let r2 = &r2;
        let app = &app;
        let queries = queries.clone();
        async move {
            let (s, v) = call(
                r2,
                Method::POST,
                queries,
                Some(json!({ "sql": sql, "wait_ms": 30000 })),
            )
            .await;
            assert_eq!(v["state"], "finished", "{s} {v}");
            let qid = v["id"].as_str().unwrap().to_owned();
            let (s, out) = call(
                r2,
                Method::POST,
                format!("/api/v1/projects/{app}/queries/{qid}/release"),
                Some(json!({ "title": title })),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{out}");
            out["id"].as_str().unwrap().to_owned()
        }
    };
    let fine = release(seven.to_string(), "7人を性別で").await;
    let declare = |dims: Value, count: &str| {
        json!({ "kind": "frequency", "dims": dims, "count": count,
                "unit": { "type": "persons" }, "margins": false, "profile": "japan" })
    };
    let check = format!("/api/v1/projects/{app}/outputs/{fine}/check");
    let (s, v) = call(
        &r2,
        Method::POST,
        check.clone(),
        Some(declare(json!([{ "column": "sex" }]), "persons")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["report"]["outcome"], "fail", "{v}");
    let evidence: Vec<&str> = v["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["evidence"].as_str().unwrap())
        .collect();
    assert!(
        evidence
            .iter()
            .all(|e| e.starts_with("cell (") && e.ends_with("persons < 10")),
        "{v}"
    );
    assert!(!evidence.is_empty());
    let (s, v) = call(
        &r2,
        Method::POST,
        check.clone(),
        Some(declare(json!([{ "column": "age" }]), "persons")),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "bad_declaration", "{v}");
    assert!(
        v["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("no column \"age\""),
        "{v}"
    );
    // Someone not on the permit reaches neither the output nor its checks.
    let (s, _) = call(
        &members[0],
        Method::GET,
        format!("/api/v1/projects/{app}/outputs/{fine}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let everyone = release(
        "SELECT 'all' AS everyone, count(DISTINCT person_id) AS persons FROM claims_receipts"
            .to_string(),
        "全員",
    )
    .await;
    let (s, v) = call(
        &r2,
        Method::POST,
        format!("/api/v1/projects/{app}/outputs/{everyone}/check"),
        Some(declare(json!([{ "column": "everyone" }]), "persons")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["report"]["outcome"], "pass", "{v}");
    let (_, v) = call(
        &r2,
        Method::GET,
        format!("/api/v1/projects/{app}/outputs"),
        None,
    )
    .await;
    let verdicts: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["verdict"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(verdicts, ["pass", "fail", "-"], "{v}");
    let data_dir = env.data_dir().display().to_string();
    let escapes = [
        (
            "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/'",
            "query_ddl",
        ),
        ("COPY claims_receipts TO '/tmp/out.csv'", "query_copy"),
        ("INSERT INTO deaths SELECT * FROM deaths", "query_dml"),
        ("SET datafusion.execution.batch_size = 1", "query_statement"),
        ("EXPLAIN SELECT * FROM claims_receipts", "query_explain"),
        ("SHOW TABLES", "query_describe"),
        (
            "SELECT * FROM information_schema.tables",
            "query_information_schema",
        ),
        (
            &format!("SELECT * FROM '{data_dir}/datasets'"),
            "query_not_a_project_table",
        ),
        (
            "SELECT * FROM \"../../datasets/ndb_claims/receipts\"",
            "query_not_a_project_table",
        ),
        (
            "SELECT * FROM generate_series(1, 3)",
            "query_not_a_project_table",
        ),
        ("SELECT * FROM receipts", "query_not_a_project_table"),
        // Sorting a cross product needs more than the query's memory; it fails alone.
        (
            "SELECT a.person_id, b.person_id, c.person_id FROM claims_receipts a, claims_receipts b, claims_receipts c ORDER BY 1, 2, 3",
            "query_memory",
        ),
    ];
    for (sql, code) in escapes {
        let (s, v) = call(&r2, Method::POST, queries.clone(), Some(ask(sql))).await;
        assert_eq!(s, StatusCode::OK, "{sql}: {v}");
        assert_eq!(v["state"], "failed", "{sql}: {v}");
        assert_eq!(v["code"], code, "{sql}: {v}");
        // Nothing but the researcher's own SQL, echoed, names a path.
        let mut answer = v.clone();
        answer["sql"] = Value::Null;
        let text = answer.to_string();
        assert!(
            !text.contains(&data_dir) && !text.contains(".parquet"),
            "{sql}: {text}"
        );
    }
    let (s, v) = call(
        &r2,
        Method::POST,
        queries.clone(),
        Some(ask("SELECT nope FROM deaths")),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::OK, Some("query_invalid")),
        "{v}"
    );
    assert!(!v.to_string().contains(&data_dir), "{v}");
    // Not named on the permit: no queries, no tables.
    let (s, _) = call(
        &members[0],
        Method::POST,
        queries.clone(),
        Some(ask("SELECT 1")),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = call(&r2, Method::GET, queries.clone(), None).await;
    assert_eq!(s, StatusCode::OK);
    // The first query, the two made into outputs, the escapes, and `SELECT 1`.
    assert_eq!(v.as_array().unwrap().len(), 3 + escapes.len() + 1);
    // A token limited to this project's workspace works there and nowhere else.
    let pt =
        create_scoped_api_token(&r2.web, &base, "解析スクリプト", &format!("project:{app}")).await;
    let (s, v) = api(
        &base,
        &pt,
        Method::POST,
        &queries,
        Some(ask("SELECT count(*) AS n FROM deaths")),
    )
    .await;
    assert_eq!(
        (s, v["state"].as_str()),
        (StatusCode::OK, Some("finished")),
        "{v}"
    );
    for (method, path, code) in [
        (
            Method::GET,
            "/api/v1/projects/app-00000000-0000-0000-0000-000000000000/tables".to_owned(),
            "token_other_project",
        ),
        (
            Method::POST,
            "/api/v1/projects/app-00000000-0000-0000-0000-000000000000/queries".to_owned(),
            "token_other_project",
        ),
        (
            Method::GET,
            "/api/v1/applications".to_owned(),
            "token_project_only",
        ),
        (Method::GET, "/api/v1/me".to_owned(), "token_project_only"),
        (
            Method::POST,
            format!("/api/v1/projects/{app}/close"),
            "token_project_only",
        ),
    ] {
        let (s, v) = api(&base, &pt, method, &path, Some(ask("SELECT 1"))).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some(code)),
            "{path}: {v}"
        );
    }
    // No project token for a project that does not name you.
    let page = members[0]
        .web
        .get(format!("{base}/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains(&format!("project:{app}")));
    let resp = members[0]
        .web
        .post(format!("{base}/account/tokens"))
        .form(&[
            ("csrf", csrf(&page).as_str()),
            ("name", "x"),
            ("days", "7"),
            ("scope", &format!("project:{app}")),
            ("password", PW),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let audit = env.ok(&["audit", "export"], "");
    assert!(audit.contains("token_other_project") && audit.contains("token_project_only"));
    assert!(
        audit.contains("query.run")
            && audit.contains("query_copy")
            && audit.contains("query_not_a_project_table")
    );

    // An amendment: one more variable, reviewed with its differences, expedited.
    let (_, v) = call(
        &r1,
        Method::POST,
        format!("/api/v1/projects/{app}/amend"),
        None,
    )
    .await;
    let amendment = v["id"].as_str().unwrap().to_owned();
    let mut more = content(&[&r1.id, &r2.id]);
    more["publication_plan"] = json!("2028年に論文と公開報告書");
    more["data"][0]["tables"][0]["variables"] = json!(["sex", "age_band", "prefecture"]);
    save(&amendment, more.clone()).await;
    assert_eq!(submit(&amendment).await.1["state"], "submitted");
    let seen = call(
        &sec,
        Method::GET,
        format!("/api/v1/review/applications/{amendment}"),
        None,
    )
    .await
    .1;
    assert_eq!(seen["compared_with"], "permit 1");
    assert_eq!(
        seen["changes"][0]["field"], "data[ndb_claims].tables[receipts].variables[prefecture]",
        "{seen}"
    );
    // Expedited: the designated member alone decides; reported to the committee after.
    let quick = schedule("迅速審査", vec![members[0].id.as_str()]).await.1;
    assert_eq!(meeting(&amendment, &quick).await.1["state"], "in_review");
    let (s, v) = decide(&amendment, approve.clone()).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_designated")),
        "{v}"
    );
    let mut designated_only = approve.clone();
    designated_only["present"] = json!([members[0].id]);
    let (s, v) = decide(&amendment, designated_only.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let report = format!(
        "/api/v1/review/meetings/{}/report",
        quick["id"].as_str().unwrap()
    );
    assert_eq!(
        call(&sec, Method::POST, report, None).await.0,
        StatusCode::NO_CONTENT
    );
    confirm(&amendment, "deaths").await;
    confirm(&amendment, "ndb_claims").await;
    let (_, v) = call(&r1, Method::GET, access.clone(), None).await;
    assert_eq!(v["permit_version"], 2, "{v}");

    // Revocation stops the very next request, and a query already running; a new
    // accreditation restores access.
    // (The amended permit's extract is made in the background after the last
    // confirmation.)
    let mut made = false;
    for _ in 0..100 {
        let (_, v) = call(&r2, Method::GET, extract.clone(), None).await;
        if !v.is_null() {
            made = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(made, "the amended permit's extract was not made");
    let forever =
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r";
    let (s, v) = call(
        &r2,
        Method::POST,
        queries.clone(),
        Some(json!({ "sql": forever })),
    )
    .await;
    assert_eq!(
        (s, v["state"].as_str()),
        (StatusCode::OK, Some("running")),
        "{v}"
    );
    let (s, _) = call(
        &sec,
        Method::POST,
        format!("/api/v1/review/accreditations/{}/revoke", r2.id),
        Some(json!({"reason": "目的外利用の疑い"})),
    )
    .await;
    assert!(s.is_success());
    let (s, v) = call(&r2, Method::GET, access.clone(), None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("accreditation_revoked"))
    );
    let (s, _) = call(
        &r2,
        Method::POST,
        queries.clone(),
        Some(json!({ "sql": "SELECT 1" })),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let stopped = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let audit = env.ok(&["audit", "export"], "");
        audit
            .lines()
            .any(|l| l.contains("query.run") && l.contains("accreditation_revoked"))
    });
    assert!(
        stopped,
        "the running query was not stopped by the revocation"
    );
    call(
        &sec,
        Method::POST,
        "/api/v1/review/accreditations".into(),
        Some(json!({
            "user": r2.id, "course": "利用者研修（再受講）", "trained_on": ymd(today()),
            "pledge_signed_on": ymd(today()), "institution": "合成大学",
            "safety_measures": "施錠した解析室", "expires_on": "2099-03-31"
        })),
    )
    .await;
    assert_eq!(
        call(&r2, Method::GET, access.clone(), None).await.0,
        StatusCode::OK
    );

    // The study ends early (a second amendment: the period ended yesterday); access
    // stops, and the platform's sweep closes the project.
    let (_, v) = call(
        &r1,
        Method::POST,
        format!("/api/v1/projects/{app}/amend"),
        None,
    )
    .await;
    let ending = v["id"].as_str().unwrap().to_owned();
    let mut early = more;
    early["use_to"] = json!(ymd(today() - time::Duration::days(1)));
    save(&ending, early).await;
    submit(&ending).await;
    let quick = schedule("迅速審査（期間短縮）", vec![members[0].id.as_str()])
        .await
        .1;
    meeting(&ending, &quick).await;
    decide(&ending, designated_only).await;
    confirm(&ending, "deaths").await;
    confirm(&ending, "ndb_claims").await;
    let (s, v) = call(&r1, Method::GET, access.clone(), None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("permit_expired")),
        "{v}"
    );
    let swept = env.ok(&["sweep"], "");
    assert!(swept.contains(&format!("closed {app}")), "{swept}");
    let (_, v) = call(&r1, Method::GET, format!("/api/v1/projects/{app}"), None).await;
    let cert = &v["closed"]["certificate"];
    assert_eq!(v["closed"]["reason"], "expiry");
    assert_eq!(cert["subject"], json!(format!("extract:{app}")));
    assert_eq!(cert["digest"].as_str().unwrap().len(), 64);
    let (s, v) = call(&r1, Method::GET, access, None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("project_closed"))
    );

    // The public register, to anyone: the project, closed, with its certificate.
    let reg: Value = client()
        .get(format!("{base}/api/v1/register"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reg[0]["project"], json!(app));
    assert_eq!(reg[0]["status"], "closed");
    assert_eq!(reg[0]["certificate"]["digest"], cert["digest"]);
    let csv = client()
        .get(format!("{base}/register.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains(cert["digest"].as_str().unwrap()), "{csv}");

    assert_eq!(server.stop(), 0);
    let (code, out, err) = env.run(&["audit", "verify"], "");
    assert_eq!(code, 0, "{out}{err}");
    let export = env.ok(&["audit", "export"], "");
    for action in [
        "permit.issue",
        "permit.check",
        "project.close",
        "key.destroy",
        "accreditation.revoke",
        "link.run",
        "extract.make",
    ] {
        assert!(
            export.contains(&format!("\"action\":\"{action}\"")),
            "{action} missing"
        );
    }
}

store_test!(from_application_to_register_over_http);
