//! The catalogue over a real ingested world: public pages, search, the linkage view,
//! DCAT-AP, the JSON API, and the custodian's versions and reject reports.

use crate::common::*;
use axum::http::StatusCode;
use renkei_core::Role;
use renkei_store::{Store, store_test};
use std::sync::Arc;

/// A fixture whose catalogue holds every dataset of a small synthetic world.
async fn loaded(store: &Store) -> (Fx, tempfile::TempDir) {
    let fx = fixture(store).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = renkei_synth::Config::new(400, 7, dir.path());
    renkei_synth::generate(&cfg, &|_| {}).unwrap();
    let reports = renkei_app::world::ingest(
        &fx.app,
        &renkei_core::Caller::operator("test", renkei_core::Duty::Data),
        dir.path(),
        Arc::new(|_, _, _| {}),
    )
    .await
    .unwrap();
    assert_eq!(reports.len(), 7, "six platform databases and the registry");
    (fx, dir)
}

/// Every count the public sees is `<10` or a multiple of 10 (0 included): small cells
/// are suppressed and the rest rounded, so no difference gives a small cell back.
fn assert_suppressed(what: &str, v: &serde_json::Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not a published count: {v}"));
    if s == "<10" {
        return;
    }
    let n: u64 = s.parse().unwrap_or_else(|_| panic!("{what}: {s:?}"));
    assert!(n.is_multiple_of(10), "{what}: unrounded count {n} shown");
}

/// The public coverage period is given to the month.
fn assert_month(what: &str, v: &serde_json::Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("{what}: {v}"));
    assert!(
        s.len() == 7 && s.as_bytes()[4] == b'-',
        "{what}: {s:?} is not YYYY-MM"
    );
}

async fn the_public_browses_and_searches(store: Store) {
    let (fx, _world) = loaded(&store).await;
    let mut c = fx.client();
    let list = c.get("/catalog").await;
    assert_eq!(list.status, StatusCode::OK);
    for name in [
        "NDB レセプト",
        "NDB 特定健診",
        "DPC",
        "介護",
        "電子カルテ",
        "死亡",
    ] {
        assert!(list.body.contains(name), "{name} is listed");
    }
    let hit = c
        .get("/catalog?q=%EF%BC%A8%EF%BD%82%EF%BC%A1%EF%BC%91%EF%BD%83")
        .await; // ＨｂＡ１ｃ
    assert!(hit.body.contains("件のデータセット"), "{}", hit.body);
    let none = c.get("/catalog?q=zzzz-nothing").await;
    assert!(none.body.contains("一致するデータセットはありません"));

    let ds = c.get("/catalog/deaths").await;
    assert_eq!(ds.status, StatusCode::OK);
    assert!(ds.body.contains("cause_icd10") && ds.body.contains("原死因"));
    assert!(
        ds.body.contains("安全管理措置"),
        "the holder's safety measures"
    );
    assert!(
        ds.body.contains("統計法に基づき"),
        "in Japanese on the Japanese page"
    );
    assert!(
        ds.body.contains("&lt;10"),
        "a small world has small counts, suppressed"
    );

    let missing = c.get("/catalog/no_such_dataset").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let link = c.get("/catalog/linkage").await;
    assert!(link.body.contains("ID2（カナ氏名系）"));
    assert!(
        link.body.contains("健診で見つかった高血圧"),
        "what linking enables"
    );

    c.get("/lang/en?next=/catalog").await;
    let en = c.get("/catalog").await;
    assert!(
        en.body.contains("NDB claims") && en.body.contains("Dataset catalogue"),
        "{}",
        en.body
    );
    let en = c.get("/catalog/deaths").await;
    assert!(
        en.body
            .contains("Held by the Ministry under the Statistics Act.")
    );
}

async fn the_api_and_dcat_suppress_small_counts(store: Store) {
    let (fx, _world) = loaded(&store).await;
    let mut c = fx.client();
    let all: serde_json::Value =
        serde_json::from_str(&c.get("/api/v1/catalog/datasets").await.body).unwrap();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 7);
    let mut checked = 0;
    for d in all {
        assert_suppressed("records", &d["records"]);
        assert_month("coverage_from", &d["coverage_from"]);
        assert_month("coverage_to", &d["coverage_to"]);
        for t in d["tables"].as_array().unwrap() {
            assert_suppressed("rows", &t["rows"]);
            for v in t["variables"].as_array().unwrap() {
                assert_suppressed("missing", &v["missing"]);
                assert_suppressed("invalid", &v["invalid"]);
                if v["missing"] == "<10" {
                    assert!(v["missing_pct"].is_null(), "no percentage gives it back");
                }
                for cat in v["top"].as_array().unwrap() {
                    assert_suppressed("category", &cat["count"]);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 50, "categorical profiles are present ({checked})");

    let q: serde_json::Value =
        serde_json::from_str(&c.get("/api/v1/catalog/datasets?q=ICD-10").await.body).unwrap();
    let ids: Vec<&str> = q
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"deaths") && !ids.contains(&"ltc"), "{ids:?}");

    let one = c.get("/api/v1/catalog/datasets/ndb_claims").await;
    let one: serde_json::Value = serde_json::from_str(&one.body).unwrap();
    assert_eq!(one["version"], 1);
    assert!(
        one["linkage"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "id2")
    );
    let gone = c.get("/api/v1/catalog/datasets/nope").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let err: serde_json::Value = serde_json::from_str(&gone.body).unwrap();
    assert_eq!(err["error"]["code"], "not_found");

    let links: serde_json::Value =
        serde_json::from_str(&c.get("/api/v1/catalog/linkage").await.body).unwrap();
    assert!(links.as_array().unwrap().iter().any(|l| {
        (l["a"] == "ndb_checkups" && l["b"] == "ndb_claims")
            || (l["a"] == "ndb_claims" && l["b"] == "ndb_checkups")
    }));

    let r = c.get("/catalog.jsonld").await;
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/ld+json")
    );
    let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(doc["@type"], "dcat:Catalog");
    let ds = doc["dcat:dataset"].as_array().unwrap();
    assert_eq!(ds.len(), 7);
    for d in ds {
        assert!(
            d["@id"]
                .as_str()
                .unwrap()
                .starts_with(&fx.app.config.public_base())
        );
        assert_suppressed("numberOfRecords", &d["healthdcatap:numberOfRecords"]);
        assert_month("temporal", &d["dct:temporal"]["dcat:startDate"]["@value"]);
    }
}

async fn the_custodian_reviews_versions_and_rejects(store: Store) {
    let (fx, _world) = loaded(&store).await;
    let cus = fx.user("cus", &[Role::Custodian]).await;
    let other = fx.user("other", &[Role::Custodian]).await;
    let op = renkei_core::Caller::operator("t", renkei_core::Duty::Accounts);
    fx.app
        .catalog
        .assign_custodian(&op, "ndb_claims", &cus.id, true)
        .await
        .unwrap();
    fx.app
        .catalog
        .assign_custodian(&op, "deaths", &other.id, true)
        .await
        .unwrap();
    // A custodian of another dataset sees neither this one nor its rejects.
    let mut o = fx.client();
    o.sign_in(&fx, "other").await;
    let list = o.get("/datasets").await;
    assert!(!list.body.contains("ndb_claims"), "{}", list.body);
    assert_eq!(
        o.get("/datasets/ndb_claims").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        o.get("/datasets/ndb_claims/versions/1/rejects")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let mut c = fx.client();
    c.sign_in(&fx, "cus").await;
    let home = c.get("/home").await;
    assert!(home.body.contains("href=\"/datasets\""));
    let list = c.get("/datasets").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("ndb_claims") && list.body.contains("採用"));
    let one = c.get("/datasets/ndb_claims").await;
    assert!(
        one.body.contains("SHA-256") && one.body.contains(".UKE"),
        "source files"
    );
    assert!(one.body.contains("品質プロファイル（抑制なし）"));
    let rep = c.get("/datasets/ndb_claims/versions/1/rejects").await;
    assert_eq!(rep.status, StatusCode::OK);
    assert!(
        rep.body.starts_with("file,line,field,reason\n"),
        "{}",
        rep.body
    );
    assert_eq!(
        c.get("/datasets/ndb_claims/versions/9/rejects")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let f = renkei_audit::ExportFilter {
        action_prefix: Some("dataset.rejects.download".into()),
        ..Default::default()
    };
    let rows = renkei_audit::testing::recent(fx.app.store_for_tests(), &f, 10)
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        3,
        "the download and the refusals are on the record"
    );
    assert_eq!(
        (rows[2].object.as_str(), rows[2].reason.as_str()),
        ("dataset:ndb_claims:v1", "not_custodian")
    );
    assert_eq!(
        (rows[1].object.as_str(), rows[1].outcome.as_str()),
        ("dataset:ndb_claims:v1", "allowed")
    );
    assert_eq!(
        (rows[0].object.as_str(), rows[0].reason.as_str()),
        ("dataset:ndb_claims:v9", "not_found")
    );
    // Every read of unsuppressed figures is on the record, the list included.
    let f = renkei_audit::ExportFilter {
        action_prefix: Some("dataset.read".into()),
        ..Default::default()
    };
    let reads = renkei_audit::testing::recent(fx.app.store_for_tests(), &f, 20)
        .await
        .unwrap();
    assert!(
        reads
            .iter()
            .any(|r| r.object == "datasets" && r.outcome == "allowed")
    );
    assert!(
        reads
            .iter()
            .any(|r| r.object == "dataset:ndb_claims" && r.reason == "not_custodian")
    );
}

store_test!(
    the_public_browses_and_searches,
    the_api_and_dcat_suppress_small_counts,
    the_custodian_reviews_versions_and_rejects,
);
