//! Golden tests: a generated world ingested, compared with what the generator says it
//! made; tokens checked against the ground truth; no identifier stored anywhere; a
//! corrupted file rejected without disturbing the current version.

use super::*;
use arrow_array::{Array, FixedSizeBinaryArray, RecordBatch, StringArray};
use renkei_catalog::RecordTally;
use renkei_catalog::builtin;
use renkei_core::Caller;
use renkei_core::time::SystemClock;
use renkei_crypto::RootKey;
use renkei_store::store_test;
use std::collections::{HashMap, HashSet};

struct World {
    _dir: tempfile::TempDir,
    src: PathBuf,
    data: PathBuf,
    summary: renkei_synth::Summary,
    ing: Ingestor,
    ds: DataStore,
    store: Store,
}

impl World {
    /// A table of a dataset's current version, through the read side.
    async fn read_current(&self, dataset: &str, table: &str) -> Vec<RecordBatch> {
        self.ds
            .open_dataset(
                &Caller::operator("test", renkei_core::Duty::Data),
                dataset,
                None,
            )
            .await
            .unwrap()
            .read_table(table)
            .unwrap()
    }
}

fn world(store: &Store, persons: u64) -> World {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("world");
    let data = dir.path().join("data");
    let summary =
        renkei_synth::generate(&renkei_synth::Config::new(persons, 11, &src), &|_| {}).unwrap();
    let keys = Arc::new(KeyStore::from_keys(
        RootKey::generate(),
        Some(RootKey::generate()),
    ));
    let audit = Audit::new(store.clone(), keys.clone(), Arc::new(SystemClock), None);
    let ds = DataStore::new(
        &data,
        store.clone(),
        keys.clone(),
        audit.clone(),
        Arc::new(SystemClock),
    );
    let ing = Ingestor::new(
        store.clone(),
        audit,
        keys,
        ds.clone(),
        &data,
        Arc::new(Masters::embedded_owned()),
        Arc::new(SystemClock),
    );
    World {
        _dir: dir,
        src,
        data,
        summary,
        ing,
        ds,
        store: store.clone(),
    }
}

const SOURCES: [(&str, &str); 6] = [
    ("ndb_claims", "ndb/uke"),
    ("ndb_checkups", "checkups"),
    ("dpc", "dpc"),
    ("ltc", "ltc"),
    ("ehr", "ehr"),
    ("deaths", "deaths"),
];

async fn ingest(w: &World, id: &str, dir: &Path) -> IngestReport {
    let decl = builtin(id).unwrap_or_else(|| {
        Declaration::parse(&std::fs::read_to_string(dir.join("schema.toml")).unwrap()).unwrap()
    });
    w.ing
        .ingest(
            &Caller::operator("test", renkei_core::Duty::Data),
            &decl,
            dir,
            &IngestOptions::default(),
            Arc::new(|_, _| {}),
        )
        .await
        .unwrap()
}

fn rows(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.num_rows() as u64).sum()
}

fn strings(batches: &[RecordBatch], col: &str) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let a = b
            .column_by_name(col)
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        out.extend((0..a.len()).map(|i| {
            if a.is_null(i) {
                String::new()
            } else {
                a.value(i).to_owned()
            }
        }));
    }
    out
}

fn tokens(batches: &[RecordBatch], col: &str) -> Vec<Option<[u8; 16]>> {
    let mut out = Vec::new();
    for b in batches {
        let a = b
            .column_by_name(col)
            .unwrap()
            .as_any()
            .downcast_ref::<FixedSizeBinaryArray>()
            .unwrap();
        out.extend(
            (0..a.len())
                .map(|i| (!a.is_null(i)).then(|| <[u8; 16]>::try_from(a.value(i)).unwrap())),
        );
    }
    out
}

async fn generated_world_round_trips(store: Store) {
    let w = world(&store, 1500);
    let c = |k: &str| w.summary.counts.get(k).copied().unwrap_or(0);
    for (id, sub) in SOURCES {
        let r = ingest(&w, id, &w.src.join(sub)).await;
        assert_eq!(r.status, VersionStatus::Committed, "{id}: {r:?}");
        assert_eq!(
            r.rows_rejected,
            0,
            "{id}: the generator writes nothing the readers refuse ({})",
            std::fs::read_to_string(&r.reject_report).unwrap()
        );
    }
    let reg = ingest(&w, "cancer_registry", &w.src.join("registry")).await;
    assert_eq!(reg.status, VersionStatus::Committed);

    let t = |d: &'static str, tb: &'static str| w.read_current(d, tb);
    let receipts = t("ndb_claims", "receipts").await;
    assert_eq!(
        rows(&receipts),
        c("uke_ika_receipts") + c("uke_dpc_receipts") + c("uke_chozai_receipts")
    );
    let diagnoses = t("ndb_claims", "diagnoses").await;
    let roles = strings(&diagnoses, "dpc_role");
    assert_eq!(
        roles.iter().filter(|r| r.is_empty()).count() as u64,
        c("uke_sy_rows"),
        "one diagnosis row per SY record"
    );
    let icd3: HashMap<String, u64> = strings(&diagnoses, "icd10")
        .iter()
        .zip(&roles)
        .filter(|(_, r)| r.is_empty())
        .fold(HashMap::new(), |mut m, (i, _)| {
            *m.entry(i.get(..3).unwrap_or("").to_owned()).or_default() += 1;
            m
        });
    for (k, v) in &w.summary.sy_by_icd3 {
        assert_eq!(
            icd3.get(k).copied().unwrap_or(0),
            *v,
            "diagnoses with ICD-10 {k}"
        );
    }
    assert_eq!(rows(&t("ndb_claims", "procedures").await), c("uke_si_rows"));
    assert_eq!(rows(&t("ndb_claims", "materials").await), c("uke_to_rows"));
    assert!(
        c("uke_to_rows") > 0 && c("uke_co_rows") > 0,
        "TO and CO are generated"
    );
    let kohi = strings(&receipts, "public_expense");
    assert_eq!(
        kohi.iter().filter(|k| k.as_str() == "21").count() as u64,
        c("uke_ko_rows"),
        "one 公費 (法別 21) per KO record"
    );
    assert!(c("uke_ko_rows") > 0);
    assert_eq!(
        rows(&t("ndb_claims", "drugs").await),
        c("uke_chozai_iy_rows")
    );
    assert_eq!(rows(&t("ndb_checkups", "checkups").await), c("checkups"));
    assert_eq!(rows(&t("ndb_checkups", "results").await), c("checkup_rows"));
    assert_eq!(rows(&t("dpc", "stays").await), c("dpc_stays"));
    assert_eq!(rows(&t("dpc", "acts").await), c("dpc_ef_rows"));
    assert_eq!(
        rows(&t("ltc", "certifications").await),
        c("ltc_certifications")
    );
    assert_eq!(rows(&t("ltc", "claims").await), c("ltc_claim_rows"));
    assert_eq!(rows(&t("deaths", "deaths").await), c("deaths"));
    assert_eq!(rows(&t("ehr", "patients").await), c("ehr_patients"));
    assert_eq!(rows(&t("ehr", "conditions").await), c("ehr_condition"));
    let hot9 = strings(&t("ehr", "medications").await, "hot9");
    assert_eq!(
        hot9.iter().filter(|h| h.as_str() == "123812902").count() as u64,
        c("ehr_medication_hot9"),
        "HOT9 codes survive from bundle to table"
    );
    assert_eq!(
        rows(&t("cancer_registry", "registrations").await),
        c("registry_rows")
    );

    // Mean HbA1c of the checkups, stored against generated.
    let results = t("ndb_checkups", "results").await;
    let codes = strings(&results, "item_code");
    let mut sum = 0.0;
    let mut k = 0;
    for b in &results {
        let v = b
            .column_by_name("value_num")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::Float64Array>()
            .unwrap();
        for i in 0..v.len() {
            if codes[k] == "3D046000001906202" {
                sum += v.value(i);
            }
            k += 1;
        }
    }
    let generated = w.summary.sums["checkup_hba1c_sum"];
    assert!(
        (sum - generated).abs() < 0.05 * c("checkups") as f64,
        "HbA1c sum {sum} vs generated {generated} (rounded to one decimal)"
    );

    // The catalogue has each dataset's current version with its profile.
    let entries = renkei_catalog::datasets(&w.store).await.unwrap();
    assert_eq!(entries.len(), 7);
    let claims = entries
        .iter()
        .find(|e| e.declaration.dataset.id == "ndb_claims")
        .unwrap();
    let v = claims.current.as_ref().unwrap();
    assert_eq!(v.coverage_from, "2025-01-01");
    let sex = v.profile.tables[0]
        .columns
        .iter()
        .find(|c| c.name == "sex")
        .unwrap();
    assert_eq!(sex.missing, 0);
    assert_eq!(sex.top.len(), 2);
}

async fn tokens_follow_people_across_spellings(store: Store) {
    let w = world(&store, 2000);
    ingest(&w, "ndb_claims", &w.src.join("ndb/uke")).await;
    let receipts = w.read_current("ndb_claims", "receipts").await;
    let ids = strings(&receipts, "receipt_id");
    let id2 = tokens(&receipts, "id2");
    let id1n = tokens(&receipts, "id1n");
    // receipt_id = <機関番号>-<payer>-<請求年月>-<no>; ground truth keys = ndb/uke/<請求年月>/<機関番号>_<payer>.UKE#<no>
    let mut truth: HashMap<String, u64> = HashMap::new();
    for f in std::fs::read_dir(w.src.join("ground_truth/links")).unwrap() {
        for line in std::fs::read_to_string(f.unwrap().path())
            .unwrap()
            .lines()
            .skip(1)
        {
            let mut p = line.split(',');
            if p.next() == Some("uke") {
                truth.insert(
                    p.next().unwrap().to_owned(),
                    p.next().unwrap().parse().unwrap(),
                );
            }
        }
    }
    type Tokens = HashSet<[u8; 16]>;
    let mut per_person: HashMap<u64, (Tokens, Tokens)> = HashMap::new();
    let mut by_token: HashMap<[u8; 16], HashSet<u64>> = HashMap::new();
    for (i, rid) in ids.iter().enumerate() {
        let p: Vec<&str> = rid.split('-').collect();
        let key = format!("ndb/uke/{}/{}_{}.UKE#{}", p[2], p[0], p[1], p[3]);
        let person = *truth
            .get(&key)
            .unwrap_or_else(|| panic!("{key} has no ground truth"));
        let e = per_person.entry(person).or_default();
        e.0.extend(id2[i]);
        e.1.extend(id1n[i]);
        if let Some(t) = id2[i] {
            by_token.entry(t).or_default().insert(person);
        }
    }
    let n = per_person.len();
    let stable = per_person.values().filter(|(t2, _)| t2.len() == 1).count();
    // A person's kana is written half-width by some clinics and with long-vowel marks by
    // others; normalization makes them one token. Only marriage changes it.
    assert!(
        stable as f64 / n as f64 > 0.98,
        "{stable} of {n} persons have one ID2"
    );
    assert!(per_person.values().all(|(t2, _)| t2.len() <= 2));
    let collisions = by_token.values().filter(|ps| ps.len() > 1).count();
    assert!(
        collisions as f64 / by_token.len() as f64 <= 0.01,
        "{collisions} ID2 tokens shared by several persons"
    );
}

async fn nothing_identifying_is_stored(store: Store) {
    let w = world(&store, 1000);
    for (id, sub) in SOURCES {
        ingest(&w, id, &w.src.join(sub)).await;
    }
    ingest(&w, "cancer_registry", &w.src.join("registry")).await;
    let (needles, births) = source_identifiers(&w.src);
    assert!(needles.len() > 2000, "{} identifiers", needles.len());
    let mut files = w.ds.all_files();
    {
        let d = "ingest";
        files.extend(
            std::fs::read_dir(w.data.join(d))
                .unwrap()
                .map(|e| e.unwrap().path()),
        );
    }
    let mut haystacks: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|f| (f.display().to_string(), std::fs::read(f).unwrap()))
        .collect();
    // The metadata store: catalogue and audit log.
    let mut meta = String::new();
    for (table, column) in [
        ("datasets", "declaration"),
        ("dataset_versions", "profile"),
        ("dataset_versions", "files"),
        ("dataset_versions", "reason"),
        ("audit_log", "detail"),
    ] {
        let rows: Vec<String> =
            renkei_store::sqlx::query_scalar(&format!("SELECT {column} FROM {table}"))
                .fetch_all(w.store.pool())
                .await
                .unwrap();
        meta.push_str(&rows.join("\n"));
    }
    haystacks.push(("metadata store".into(), meta.into_bytes()));
    // Not only the files: the decrypted tables themselves hold no identifier, in any
    // column (a birth date kept as a date would be as much a leak as one kept as text).
    for e in renkei_catalog::datasets(&w.store).await.unwrap() {
        let id = e.declaration.dataset.id.clone();
        for t in e.declaration.stored_tables() {
            let mut text = String::new();
            for b in w.read_current(&id, &t.name).await {
                for col in b.columns() {
                    let fmt = arrow_cast::display::ArrayFormatter::try_new(
                        col.as_ref(),
                        &Default::default(),
                    )
                    .unwrap();
                    let values = (0..col.len())
                        .filter(|i| col.is_valid(*i))
                        .map(|i| fmt.value(i).to_string());
                    match col.data_type() {
                        // Identifiers are kept as text wherever a schema could hold one
                        // (leading zeros).
                        arrow_schema::DataType::Utf8 => {
                            for v in values {
                                text.push_str(&v);
                                text.push('\n');
                            }
                        }
                        // Any event date may fall on somebody's birthday; a column of
                        // birth dates would match (nearly) every row.
                        arrow_schema::DataType::Date32 => {
                            let (mut n, mut hits) = (0u64, 0u64);
                            for v in values {
                                n += 1;
                                hits += u64::from(births.contains(&v));
                            }
                            assert!(
                                n < 20 || hits * 2 < n,
                                "decrypted {id}.{}: {hits} of {n} dates are birth dates",
                                t.name
                            );
                        }
                        // Counts, points and costs match short numbers by chance;
                        // tokens are binary.
                        _ => {}
                    }
                }
            }
            haystacks.push((format!("decrypted {id}.{}", t.name), text.into_bytes()));
        }
    }
    // Each identifier as UTF-8 and as CP932; numbers and dates count only as whole
    // fields: a 5-digit insured number inside a file size or a hash is not a leak, the
    // same digits as a field of their own would be.
    let mut patterns: Vec<Vec<u8>> = Vec::new();
    for n in &needles {
        patterns.push(n.as_bytes().to_vec());
        let (enc, _, _) = encoding_rs::SHIFT_JIS.encode(n);
        if enc.as_ref() != n.as_bytes() {
            patterns.push(enc.into_owned());
        }
    }
    let ac = aho_corasick::AhoCorasick::new(&patterns).unwrap();
    let whole = |hay: &[u8], s: usize, e: usize| {
        s.checked_sub(1)
            .and_then(|j| hay.get(j))
            .is_none_or(|b| !b.is_ascii_alphanumeric())
            && hay.get(e).is_none_or(|b| !b.is_ascii_alphanumeric())
    };
    for (name, hay) in &haystacks {
        // Ciphertext is random bytes: any short pattern turns up in it by chance (a
        // given 5-byte string about once per 10^12 bytes, and there are thousands of
        // patterns: short numbers, and half-width kana names of one byte per character
        // in CP932). What the ciphertext hides is checked on the decrypted tables above;
        // here patterns of 10 bytes or more (names in UTF-8, dates, long numbers) are
        // what would show a file left unencrypted.
        let ciphertext = name.ends_with(".parquet");
        for m in ac.find_overlapping_iter(hay.as_slice()) {
            let p = &patterns[m.pattern().as_usize()];
            let numeric = p.iter().all(|b| b.is_ascii_digit() || *b == b'-');
            if ciphertext && p.len() < 10 {
                continue;
            }
            // The identifier itself is not printed: no test output may carry one.
            assert!(
                numeric && !whole(hay, m.start(), m.end()),
                "{name} contains an identifier from the sources (byte {})",
                m.start()
            );
        }
    }
}

/// Direct identifiers as they appear in every source of a generated world: names and
/// kana (UKE, CSVs, FHIR), full birth dates (as written, and as YYYY-MM-DD), insurer
/// numbers of employers' schemes, insured and recipient numbers, full postal codes.
///
/// Also returns every birth date as YYYY-MM-DD, for the date columns.
fn source_identifiers(src: &Path) -> (HashSet<String>, HashSet<String>) {
    let mut out = HashSet::new();
    let mut births = HashSet::new();
    let text = |p: &Path| {
        let b = std::fs::read(p).unwrap();
        match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => encoding_rs::SHIFT_JIS.decode(e.as_bytes()).0.into_owned(),
        }
    };
    // A birth date as written (8 digits, a whole field wherever it stands), and as a
    // date for the date columns.
    let mut birth = |out: &mut HashSet<String>, d: &str| {
        let d = d.replace(['-', '/'], "");
        if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()) {
            let dashed = format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]);
            // Not the births of the service years: any receipt id or event carries
            // such a date.
            if &d[..4] < "2020" {
                out.insert(dashed.clone());
                out.insert(d);
            }
            births.insert(dashed);
        }
    };
    for f in matching_files(&src.join("ndb/uke"), "**/*.UKE").unwrap() {
        for l in text(&src.join("ndb/uke").join(f)).lines() {
            let p: Vec<&str> = l.split(',').collect();
            match p[0] {
                "RE" => {
                    out.insert(p[4].split('\u{3000}').next().unwrap().to_owned());
                    out.insert(p[6].to_owned());
                    birth(&mut out, p[6]);
                    if let Some(k) = p.iter().rev().nth(1).filter(|k| k.chars().count() >= 4) {
                        out.insert(k.to_string());
                    }
                }
                "HO" => {
                    // Employers' insurer numbers (8 digits) are never stored; a municipal
                    // insurer number (6 digits) names the municipality, which the care
                    // database keeps as its insurer.
                    if p[1].len() == 8 {
                        out.insert(p[1].to_owned());
                    }
                    out.insert(p[3].to_owned());
                }
                // 公費受給者番号 identifies a person: read past, never stored.
                "KO" => {
                    out.insert(p[2].to_owned());
                }
                _ => {}
            }
        }
    }
    for dir in ["checkups", "ltc", "deaths", "registry"] {
        for f in matching_files(&src.join(dir), "*.csv").unwrap() {
            let t = text(&src.join(dir).join(f));
            let mut lines = t.lines();
            let header: Vec<&str> = lines.next().unwrap().split(',').collect();
            for l in lines {
                let v: Vec<&str> = l.split(',').collect();
                for (h, x) in header.iter().zip(&v) {
                    match *h {
                        "カナ氏名" => {
                            out.insert(x.to_string());
                        }
                        "氏名" => {
                            out.insert(x.split('\u{3000}').next().unwrap().to_owned());
                        }
                        "生年月日" if x.chars().count() >= 8 && !x.is_ascii() => {
                            out.insert(x.to_string()); // 和暦 as written
                        }
                        "生年月日" => birth(&mut out, x),
                        "被保険者証番号" | "被保険者番号" | "郵便番号" => {
                            out.insert(x.to_string());
                        }
                        "保険者番号" if x.len() == 8 => {
                            out.insert(x.to_string());
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    for f in matching_files(&src.join("ehr"), "*.ndjson").unwrap() {
        for l in text(&src.join("ehr").join(f)).lines() {
            let bundle: serde_json::Value = serde_json::from_str(l).unwrap();
            for e in bundle["entry"].as_array().into_iter().flatten() {
                let r = &e["resource"];
                if r["resourceType"] != "Patient" {
                    continue;
                }
                for n in r["name"].as_array().into_iter().flatten() {
                    if let Some(s) = n["text"].as_str() {
                        out.insert(s.to_owned());
                    }
                    if let Some(s) = n["family"].as_str() {
                        out.insert(s.to_owned());
                    }
                }
                if let Some(d) = r["birthDate"].as_str() {
                    birth(&mut out, d);
                }
                for i in r["identifier"].as_array().into_iter().flatten() {
                    let v = i["value"].as_str().unwrap_or("");
                    if let [ins, _kigo, bango, _] = v.split(':').collect::<Vec<_>>()[..] {
                        if ins.len() == 8 {
                            out.insert(ins.to_owned());
                        }
                        out.insert(bango.to_owned());
                    }
                }
            }
        }
    }
    // Numbers shorter than six digits collide with file sizes and counts by chance
    // (and could not single anyone out alone); names of one character are too common.
    out.retain(|n| {
        if n.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            n.len() >= 6
        } else {
            n.chars().count() >= 2 && n.len() >= 4
        }
    });
    (out, births)
}

async fn a_corrupted_file_is_reported_and_the_previous_version_stays(store: Store) {
    let w = world(&store, 800);
    let dir = w.src.join("deaths");
    let first = ingest(&w, "deaths", &dir).await;
    assert_eq!(first.version, 1);
    // One bad line in one file: committed, with the line in the reject report.
    let victim = matching_files(&dir, "*.csv")
        .unwrap()
        .into_iter()
        .find(|f| std::fs::read(dir.join(f)).unwrap().len() > 200)
        .unwrap();
    let path = dir.join(&victim);
    let mut text = encoding_rs::SHIFT_JIS
        .decode(&std::fs::read(&path).unwrap())
        .0
        .into_owned();
    text.push_str("999999,山田　花子,3,昭和99年13月40日,20250101,1200,1,13101,I10,1\r\n");
    std::fs::write(&path, encoding_rs::SHIFT_JIS.encode(&text).0).unwrap();
    let decl = builtin("deaths").unwrap();
    let lenient = IngestOptions {
        max_reject_rate: 0.5,
        ..Default::default()
    };
    let r = w
        .ing
        .ingest(
            &Caller::operator("test", renkei_core::Duty::Data),
            &decl,
            &dir,
            &lenient,
            Arc::new(|_, _| {}),
        )
        .await
        .unwrap();
    assert_eq!((r.status, r.rows_rejected), (VersionStatus::Committed, 1));
    let report = std::fs::read_to_string(&r.reject_report).unwrap();
    assert!(
        report.contains(&victim.display().to_string()) && report.contains("死亡票.生年月日"),
        "{report}"
    );
    assert!(
        !report.contains("山田"),
        "the report names fields, not values"
    );
    // A file of garbage: refused at the default threshold; version 2 stays current.
    std::fs::write(&path, vec![0xffu8; 4000]).unwrap();
    let refused = w
        .ing
        .ingest(
            &Caller::operator("test", renkei_core::Duty::Data),
            &decl,
            &dir,
            &IngestOptions::default(),
            Arc::new(|_, _| {}),
        )
        .await
        .unwrap();
    assert_eq!(refused.status, VersionStatus::Refused);
    assert_eq!(refused.version, 3);
    let current = renkei_catalog::current_version(&w.store, "deaths")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.version, 2, "the previous version is still served");
    assert!(
        !w.ds
            .version_dir(&Holder::dataset("deaths").unwrap(), 3)
            .exists(),
        "nothing of the refused version is kept"
    );
    assert!(
        w.read_current("deaths", "deaths")
            .await
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>()
            > 0
    );
    let log = renkei_audit::testing::recent(&w.store, &renkei_audit::ExportFilter::default(), 10)
        .await
        .unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "dataset.ingest" && e.reason == "reject_rate_exceeded")
    );
}

async fn refusals_without_keys_or_files_are_audited(store: Store) {
    let w = world(&store, 100);
    let empty = tempfile::tempdir().unwrap();
    let e = w
        .ing
        .ingest(
            &Caller::operator("test", renkei_core::Duty::Data),
            &builtin("deaths").unwrap(),
            empty.path(),
            &IngestOptions::default(),
            Arc::new(|_, _| {}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "no_files");
    let keys = Arc::new(KeyStore::from_keys(RootKey::generate(), None));
    let audit = Audit::new(store.clone(), keys.clone(), Arc::new(SystemClock), None);
    let ds = DataStore::new(
        &w.data,
        store.clone(),
        keys.clone(),
        audit.clone(),
        Arc::new(SystemClock),
    );
    let no_linkage = Ingestor::new(
        store.clone(),
        audit,
        keys,
        ds,
        &w.data,
        Arc::new(Masters::embedded_owned()),
        Arc::new(SystemClock),
    );
    let e = no_linkage
        .ingest(
            &Caller::operator("test", renkei_core::Duty::Data),
            &builtin("deaths").unwrap(),
            &w.src.join("deaths"),
            &IngestOptions::default(),
            Arc::new(|_, _| {}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "no_linkage_key", "{e}");
    // While another ingest of the dataset holds its lock (here: this test), a second
    // one is refused after its short wait and touches nothing.
    let held =
        w.ds.writer(
            &Caller::operator("test", renkei_core::Duty::Data),
            &Holder::dataset("deaths").unwrap(),
        )
        .await
        .unwrap();
    let e = w
        .ing
        .ingest(
            &Caller::operator("test", renkei_core::Duty::Data),
            &builtin("deaths").unwrap(),
            &w.src.join("deaths"),
            &IngestOptions::default(),
            Arc::new(|_, _| {}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "ingest_in_progress", "{e}");
    assert!(
        e.to_string().contains("another ingest of dataset deaths"),
        "{e}"
    );
    assert!(
        renkei_catalog::current_version(&store, "deaths")
            .await
            .unwrap()
            .is_none()
    );
    drop(held);
    let ok = ingest(&w, "deaths", &w.src.join("deaths")).await;
    assert_eq!(ok.version, 1);
    let log = renkei_audit::testing::recent(
        &store,
        &renkei_audit::ExportFilter {
            denied_only: true,
            ..Default::default()
        },
        10,
    )
    .await
    .unwrap();
    assert_eq!(
        log.iter().filter(|e| e.action == "dataset.ingest").count(),
        3
    );
}

/// An ingestor over `masters`, writing under a fresh directory, with the same keys
/// every time (so two of them can share a store).
fn ingestor(store: &Store, masters: Masters) -> (Ingestor, DataStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(KeyStore::from_keys(
        RootKey::from_hex(&"42".repeat(32)).unwrap(),
        Some(RootKey::from_hex(&"43".repeat(32)).unwrap()),
    ));
    let audit = Audit::new(store.clone(), keys.clone(), Arc::new(SystemClock), None);
    let ds = DataStore::new(
        dir.path(),
        store.clone(),
        keys.clone(),
        audit.clone(),
        Arc::new(SystemClock),
    );
    let ing = Ingestor::new(
        store.clone(),
        audit,
        keys,
        ds.clone(),
        dir.path(),
        Arc::new(masters),
        Arc::new(SystemClock),
    );
    (ing, ds, dir)
}

fn testdata(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/official")
        .join(p)
}

/// The receipts of one file, in a directory of their own (the declaration reads every
/// `*.UKE` under it).
fn receipt_dir(name: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(testdata(&format!("receipts/{name}")), d.path().join(name)).unwrap();
    d
}

fn tally<'a>(r: &'a IngestReport, kind: &str) -> &'a RecordTally {
    r.records
        .iter()
        .find(|t| t.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} in {:?}", r.records))
}

async fn ingest_with(ing: &Ingestor, decl: &Declaration, dir: &Path) -> IngestReport {
    ing.ingest(
        &Caller::operator("test", renkei_core::Duty::Data),
        decl,
        dir,
        &IngestOptions::default(),
        Arc::new(|_, _| {}),
    )
    .await
    .unwrap()
}

/// A real receipt file, ingested against excerpts of the official masters: no record is
/// rejected for a master reason (codes that later versions no longer carry are kept and
/// flagged), every record is accounted for, comments are stored without their free text.
async fn a_real_receipt_file_ingests_against_the_official_masters(store: Store) {
    let masters = Masters::with_extra(&testdata("masters")).unwrap();
    let (ing, ds, _dir) = ingestor(&store, masters);
    let src = receipt_dir("RECEIPTC_GAIRAI_SAMPLE.UKE");
    let decl = builtin("ndb_claims").unwrap();
    let r = ingest_with(&ing, &decl, src.path()).await;
    assert_eq!(r.status, VersionStatus::Committed);
    assert_eq!(r.rows_in, 636);
    let report = std::fs::read_to_string(&r.reject_report).unwrap();
    assert!(
        !report.contains("master"),
        "nothing rejected for a master reason:\n{report}"
    );
    // What is rejected is structural: one 公費 number with a wrong check digit, and one
    // receipt whose patient was born after its service month (with its 10 lines).
    assert_eq!(r.rows_rejected, 11, "{report}");
    assert!(
        report.contains("KO.公費負担者番号") && report.contains("RE.生年月日"),
        "{report}"
    );
    let (re, sy, si, iy, co) = (
        tally(&r, "RE"),
        tally(&r, "SY"),
        tally(&r, "SI"),
        tally(&r, "IY"),
        tally(&r, "CO"),
    );
    assert_eq!((re.read, re.stored, re.rejected), (75, 74, 1));
    assert_eq!((sy.read, sy.stored), (9, 9));
    assert_eq!((si.read, si.stored, si.rejected), (320, 312, 8));
    assert_eq!((iy.read, iy.stored), (32, 32));
    assert_eq!((co.read, co.stored), (56, 56));
    // Codes no loaded master version holds are kept and flagged, per column.
    let procedures = r.records.iter().find(|t| t.kind == "SI").unwrap();
    assert!(
        procedures.flagged > 0 && procedures.flagged < 20,
        "{procedures:?}"
    );
    let v = renkei_catalog::current_version(&store, "ndb_claims")
        .await
        .unwrap()
        .unwrap();
    let code = v
        .profile
        .tables
        .iter()
        .find(|t| t.name == "procedures")
        .unwrap()
        .columns
        .iter()
        .find(|c| c.name == "code")
        .unwrap();
    assert_eq!(code.not_in_master, procedures.flagged);
    assert_eq!(code.master.as_deref(), Some("procedure"));
    // The version records the master versions that validated it.
    let sources: Vec<&str> = v.masters.iter().map(|m| m.source.as_str()).collect();
    for f in [
        "b_20240601.txt",
        "s_ALL20220218.csv",
        "s_ALL20240531.csv",
        "y_ALL20240321.csv",
        "c_ALL20230801.csv",
        "z_20250601.txt",
    ] {
        assert!(sources.contains(&f), "{f} missing from {sources:?}");
    }
    assert_eq!(v.profile.records, r.records);
    // Comments: codes and numbers and dates kept, free text dropped and counted.
    let open = ds
        .open_dataset(
            &Caller::operator("test", renkei_core::Duty::Data),
            "ndb_claims",
            None,
        )
        .await
        .unwrap();
    let comments = open.read_table("comments").unwrap();
    assert_eq!(rows(&comments), 56);
    let values = strings(&comments, "value");
    assert!(
        !values.iter().any(|v| v == "1015"),
        "digits under a free comment (pattern 10) are free text, dropped: {values:?}"
    );
    assert!(
        !values.iter().any(|v| v.contains('日') || v.contains('眼')),
        "{values:?}"
    );
}

/// Receipts written with codes from the official masters pass even under the strict
/// policy; the same file against masters that lack its codes is rejected under it and
/// flagged under the default.
async fn official_codes_pass_the_strict_policy(store: Store) {
    let masters = Masters::with_extra(&testdata("masters")).unwrap();
    let (ing, ds, dir) = ingestor(&store, masters);
    let src = receipt_dir("RECEIPTC_OFFICIAL_CODES.UKE");
    let mut strict = builtin("ndb_claims").unwrap();
    strict.dataset.unknown_code = renkei_catalog::UnknownCode::Reject;
    let r = ingest_with(&ing, &strict, src.path()).await;
    assert_eq!(
        r.rows_rejected,
        0,
        "{}",
        std::fs::read_to_string(&r.reject_report).unwrap()
    );
    for (kind, stored) in [
        ("RE", 2),
        ("SY", 4),
        ("SI", 3),
        ("IY", 2),
        ("TO", 3),
        ("CO", 4),
    ] {
        let t = tally(&r, kind);
        assert_eq!(
            (t.stored, t.flagged, t.rejected),
            (stored, 0, 0),
            "{kind}: {t:?}"
        );
    }
    let open = ds
        .open_dataset(
            &Caller::operator("test", renkei_core::Duty::Data),
            "ndb_claims",
            None,
        )
        .await
        .unwrap();
    let diag = open.read_table("diagnoses").unwrap();
    assert_eq!(strings(&diag, "modifiers"), ["", "8002", "2056", ""]);
    assert_eq!(
        strings(&diag, "icd10"),
        ["E11", "I10", "S7200", "M171"],
        "ICD-10 (2013) from the official master"
    );
    let comments = open.read_table("comments").unwrap();
    assert_eq!(strings(&comments, "value"), ["", "35", "", ""]);
    assert_eq!(rows(&open.read_table("materials").unwrap()), 3);
    // The doctor's free text, with a name in it, reached no file.
    for f in ds.all_files() {
        let bytes = std::fs::read(&f).unwrap();
        for needle in ["山田", "術後経過良好"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{}",
                f.display()
            );
        }
    }
    drop(dir);

    // The embedded subset lacks most of these codes: strict rejects, the default flags.
    let (ing, _ds, _d) = ingestor(&store, Masters::embedded_owned());
    let r = ingest_with(&ing, &strict, src.path()).await;
    let report = std::fs::read_to_string(&r.reject_report).unwrap();
    assert!(
        report.contains("not in the master (特定器材マスター)"),
        "{report}"
    );
    let r = ingest_with(&ing, &builtin("ndb_claims").unwrap(), src.path()).await;
    assert_eq!(r.rows_rejected, 0);
    assert_eq!(tally(&r, "TO").flagged, 3);
}

/// An ingestor with the given keys over an existing store and data directory.
fn ingestor_with(store: &Store, data: &Path, keys: KeyStore) -> (Ingestor, DataStore) {
    let keys = Arc::new(keys);
    let audit = Audit::new(store.clone(), keys.clone(), Arc::new(SystemClock), None);
    let ds = DataStore::new(
        data,
        store.clone(),
        keys.clone(),
        audit.clone(),
        Arc::new(SystemClock),
    );
    let ing = Ingestor::new(
        store.clone(),
        audit,
        keys,
        ds.clone(),
        data,
        Arc::new(Masters::embedded_owned()),
        Arc::new(SystemClock),
    );
    (ing, ds)
}

fn hexkey(b: &str) -> RootKey {
    RootKey::from_hex(&b.repeat(32)).unwrap()
}

/// The kanji-name tokens of a dataset's current version.
async fn kanji_tokens(ds: &DataStore, dataset: &str, table: &str) -> HashSet<[u8; 16]> {
    let v = ds
        .open_dataset(
            &Caller::operator("t", renkei_core::Duty::Data),
            dataset,
            None,
        )
        .await
        .unwrap();
    tokens(&v.read_table(table).unwrap(), "kanji")
        .into_iter()
        .flatten()
        .collect()
}

/// A rotation that begins while an ingest is reading (admitted under the old keyring)
/// stops that ingest at its commit: no version commits with tokens of a keyring the
/// platform is leaving. Until the rotation ends, ingests are refused up front.
async fn an_ingest_cannot_commit_across_a_rotation(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("world"), dir.path().join("data"));
    renkei_synth::generate(&renkei_synth::Config::new(300, 4, &src), &|_| {}).unwrap();
    let keys = || KeyStore::from_keyring(hexkey("11"), vec![hexkey("21")]);
    let (ing, _ds) = ingestor_with(&store, &data, keys());
    let op = Caller::operator("t", renkei_core::Duty::Data);
    let ingest = |id: &'static str, progress: Arc<dyn Fn(u64, u64) + Send + Sync>| {
        let ing = ing.clone();
        let src = src.clone();
        let op = op.clone();
        async move {
            ing.ingest(
                &op,
                &builtin(id).unwrap(),
                &src.join(id),
                &IngestOptions::default(),
                progress,
            )
            .await
        }
    };
    ingest("deaths", Arc::new(|_, _| {})).await.unwrap();
    // The rotation's start, landing while the next ingest reads its files.
    let handle = tokio::runtime::Handle::current();
    let st = store.clone();
    let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let progress: Arc<dyn Fn(u64, u64) + Send + Sync> = Arc::new(move |_, _| {
        if !fired.swap(true, std::sync::atomic::Ordering::SeqCst) {
            handle
                .block_on(
                    renkei_store::sqlx::query(
                        "INSERT INTO platform_settings (key, value, updated_at) VALUES ('linkage.rotating', '2', 0)",
                    )
                    .execute(st.pool()),
                )
                .unwrap();
        }
    });
    let e = ingest("ehr", progress).await.unwrap_err();
    assert_eq!(e.code(), "linkage_rotation_in_progress", "{e}");
    assert!(
        renkei_catalog::current_version(&store, "ehr")
            .await
            .unwrap()
            .is_none(),
        "nothing committed"
    );
    let e = ingest("ehr", Arc::new(|_, _| {})).await.unwrap_err();
    assert_eq!(e.code(), "linkage_rotation_in_progress");
}

/// Links are never followed (a symlink in a source directory could point a load at a
/// key or another dataset), and a file over the size limit is refused before anything
/// is read, naming it; nothing is committed.
async fn links_are_skipped_and_oversized_files_refused(store: Store) {
    let w = world(&store, 200);
    let src = w.src.join("deaths");
    let first = matching_files(&src, "*.csv").unwrap().remove(0);
    let outside = w.src.join("elsewhere.csv");
    std::fs::write(&outside, "not,a,death,record\n").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&outside, src.join("deaths_linked.csv")).unwrap();
        std::os::unix::fs::symlink(&w.src, src.join("loop")).unwrap();
        let found = matching_files(&src, "**/*.csv").unwrap();
        assert!(
            !found
                .iter()
                .any(|f| f.to_string_lossy().contains("linked")
                    || f.to_string_lossy().contains("loop")),
            "{found:?}"
        );
    }
    let size = std::fs::metadata(src.join(&first)).unwrap().len();
    let e = w
        .ing
        .ingest(
            &Caller::operator("test", renkei_core::Duty::Data),
            &builtin("deaths").unwrap(),
            &src,
            &IngestOptions {
                max_file_bytes: size - 1,
                ..Default::default()
            },
            Arc::new(|_, _| {}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "file_too_large");
    assert!(e.to_string().contains(&first.display().to_string()), "{e}");
    assert!(
        renkei_catalog::current_version(&store, "deaths")
            .await
            .unwrap()
            .is_none()
    );
    let r = ingest(&w, "deaths", &src).await;
    assert_eq!(r.rows_rejected, 0, "the link's target was not read");
}

/// A version made under another linkage key is refused, naming both fingerprints;
/// after a rotation, old versions and new ingests link exactly as before, and the old
/// keyring is refused.
async fn linkage_keys_are_checked_and_rotate_for_every_dataset(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let (src, data) = (dir.path().join("world"), dir.path().join("data"));
    renkei_synth::generate(&renkei_synth::Config::new(600, 4, &src), &|_| {}).unwrap();
    let g1 = || KeyStore::from_keyring(hexkey("11"), vec![hexkey("21")]);
    let (ing, ds) = ingestor_with(&store, &data, g1());
    let run = |ing: &Ingestor, id: &'static str, sub: &'static str| {
        let ing = ing.clone();
        let src = src.clone();
        async move {
            ing.ingest(
                &Caller::operator("t", renkei_core::Duty::Data),
                &builtin(id).unwrap(),
                &src.join(sub),
                &IngestOptions::default(),
                Arc::new(|_, _| {}),
            )
            .await
        }
    };
    run(&ing, "deaths", "deaths").await.unwrap();
    run(&ing, "ehr", "ehr").await.unwrap();
    let fp1 = g1().current_linkage_fingerprint().unwrap();
    let v = renkei_catalog::current_version(&store, "deaths")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (v.linkage_fingerprint.as_str(), v.token_generation),
        (fp1.as_str(), 1)
    );
    let deaths1 = kanji_tokens(&ds, "deaths", "deaths").await;
    let ehr1 = kanji_tokens(&ds, "ehr", "patients").await;
    let linked = deaths1.intersection(&ehr1).count();
    assert!(linked > 0, "deaths and EHR share people");

    // An opt-out, taken from a death record's own fields as a relative would give
    // them at the window: its kanji token is the one ingest stored for that person.
    let file = std::fs::read_dir(src.join("deaths"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "csv"))
        .unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let (text, _, _) = encoding_rs::SHIFT_JIS.decode(&bytes);
    let f: Vec<String> = text
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let request = OptOutRequest {
        kanji: f[1].clone(),
        birth: f[3].clone(),
        sex: f[2].clone(),
        ..Default::default()
    };
    let linkage_op = Caller::operator("t", renkei_core::Duty::Linkage);
    let receipt = ing.record_opt_out(&linkage_op, &request).await.unwrap();
    assert_eq!(receipt.families, ["kanji"]);
    let stored_token = || {
        let store = store.clone();
        async move {
            let t: String = renkei_store::sqlx::query_scalar(
                "SELECT token FROM opt_outs WHERE token_kind = 'kanji'",
            )
            .fetch_one(store.pool())
            .await
            .unwrap();
            let mut b = [0u8; 16];
            hex::decode_to_slice(t, &mut b).unwrap();
            b
        }
    };
    assert!(deaths1.contains(&stored_token().await));
    assert_eq!(ing.opt_outs_in_force().await.unwrap(), 1);
    let nameless = OptOutRequest {
        birth: "1950-01-02".into(),
        sex: "2".into(),
        ..Default::default()
    };
    let e = ing
        .record_opt_out(&linkage_op, &nameless)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    let data_op = Caller::operator("t", renkei_core::Duty::Data);
    let e = ing.record_opt_out(&data_op, &request).await.unwrap_err();
    assert_eq!(e.code(), "permission_missing");

    // Another key, silently, would break linkage: refused, both fingerprints named.
    let (stranger, _) = ingestor_with(
        &store,
        &data,
        KeyStore::from_keyring(hexkey("11"), vec![hexkey("99")]),
    );
    let e = run(&stranger, "deaths", "deaths").await.unwrap_err();
    assert_eq!(e.code(), "linkage_key_mismatch");
    assert!(
        e.to_string().contains(&fp1) && e.to_string().contains("lk1:"),
        "{e}"
    );

    // Rotation: the keyring gains a generation; every stored token moves with it.
    let g2 = || KeyStore::from_keyring(hexkey("11"), vec![hexkey("21"), hexkey("22")]);
    let r = ing.linkage().rotate(&linkage_op, &g2()).await.unwrap();
    assert_eq!(r.from.fingerprint, fp1);
    assert_eq!(r.to.generation, 2);
    assert_eq!(r.versions, 2);
    let deaths2 = kanji_tokens(&ds, "deaths", "deaths").await;
    assert!(deaths2.is_disjoint(&deaths1), "no old token survives");
    assert!(
        deaths2.contains(&stored_token().await),
        "the opt-out register moves with the datasets"
    );
    // A new version under the new keyring links with the re-keyed old one as before.
    let (ing2, ds2) = ingestor_with(&store, &data, g2());
    run(&ing2, "ehr", "ehr").await.unwrap();
    let ehr2 = kanji_tokens(&ds2, "ehr", "patients").await;
    assert_eq!(deaths2.intersection(&ehr2).count(), linked);
    let v = renkei_catalog::current_version(&store, "deaths")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.token_generation, 2);
    // The old keyring is now the stranger.
    let e = run(&ing, "deaths", "deaths").await.unwrap_err();
    assert_eq!(e.code(), "linkage_key_mismatch");
    // Rotating again with the same keyring has nothing to add: refused, audited.
    let e = ing2.linkage().rotate(&linkage_op, &g2()).await.unwrap_err();
    assert_eq!(e.code(), "linkage_key_mismatch");
    let log = renkei_audit::testing::recent(&store, &renkei_audit::ExportFilter::default(), 1000)
        .await
        .unwrap();
    let actions: Vec<(&str, &str, &str)> = log
        .iter()
        .filter(|e| e.action.starts_with("linkage."))
        .map(|e| (e.action.as_str(), e.object.as_str(), e.outcome.as_str()))
        .collect();
    // Newest first: the refused second rotation, the rotation itself, one entry per
    // re-keyed version (in the same transaction as its new generation), the first
    // registration.
    assert_eq!(
        actions,
        [
            ("linkage.key.rotate", "linkage_key", "denied"),
            ("linkage.key.rotate", "linkage_key", "allowed"),
            ("linkage.key.rotate", "dataset:ehr", "allowed"),
            ("linkage.key.rotate", "dataset:deaths", "allowed"),
            ("linkage.key.register", "linkage_key", "allowed")
        ]
    );
    // A researcher may not rotate.
    let researcher = Caller::user(
        renkei_core::UserId::from_stored("u".into()),
        renkei_core::Username::parse("res").unwrap(),
        vec![renkei_core::Role::Researcher],
        renkei_core::AuthMethod::SessionMfa,
        "r",
    );
    let e = ing2.linkage().rotate(&researcher, &g2()).await.unwrap_err();
    assert_eq!(e.code(), "permission_missing");
}

store_test!(
    links_are_skipped_and_oversized_files_refused,
    linkage_keys_are_checked_and_rotate_for_every_dataset,
    an_ingest_cannot_commit_across_a_rotation,
    a_real_receipt_file_ingests_against_the_official_masters,
    official_codes_pass_the_strict_policy,
    generated_world_round_trips,
    tokens_follow_people_across_spellings,
    nothing_identifying_is_stored,
    a_corrupted_file_is_reported_and_the_previous_version_stays,
    refusals_without_keys_or_files_are_audited,
);
