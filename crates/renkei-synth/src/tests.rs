//! The generator's promises: deterministic, complete, no identifiers outside the
//! ground truth's person ids, real codes, decodable files.

use super::*;
use std::collections::BTreeMap;

fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    path.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn same_seed_same_bytes_whatever_the_threads() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let mut ca = Config::new(1500, 42, a.path());
    ca.threads = 1;
    let mut cb = Config::new(1500, 42, b.path());
    cb.threads = 4;
    let sa = generate(&ca, &|_| {}).unwrap();
    generate(&cb, &|_| {}).unwrap();
    let (ta, tb) = (tree(a.path()), tree(b.path()));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (k, v) in &ta {
        assert!(v == &tb[k], "{k} differs");
    }
    assert_eq!(sa.persons, 1500);
    let c = tempfile::tempdir().unwrap();
    generate(&Config::new(1500, 43, c.path()), &|_| {}).unwrap();
    assert_ne!(
        tree(c.path()).get("ground_truth/summary.json"),
        ta.get("ground_truth/summary.json"),
        "another seed, another world"
    );
}

#[test]
fn every_database_is_written_in_its_format() {
    let d = tempfile::tempdir().unwrap();
    let s = generate(&Config::new(3000, 7, d.path()), &|_| {}).unwrap();
    for key in [
        "uke_ika_receipts",
        "uke_chozai_receipts",
        "uke_sy_rows",
        "checkups",
        "ltc_certifications",
        "dpc_stays",
        "deaths",
        "ehr_bundles",
    ] {
        assert!(
            s.counts.get(key).copied().unwrap_or(0) > 0,
            "{key}: {:?}",
            s.counts
        );
    }
    let t = tree(d.path());
    let uke: Vec<_> = t.iter().filter(|(k, _)| k.ends_with(".UKE")).collect();
    assert!(!uke.is_empty());
    for (name, bytes) in &uke {
        let (text, _, bad) = encoding_rs::SHIFT_JIS.decode(bytes);
        assert!(!bad, "{name} is valid CP932");
        assert!(text.lines().all(|l| !l.is_empty()));
        assert!(text.contains("\r\n"), "CRLF line ends");
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("IR,") || first.starts_with("YK,"),
            "{name}: {first}"
        );
        assert!(text.lines().last().unwrap().starts_with("GO,"));
        let receipts = text.lines().filter(|l| l.starts_with("RE,")).count();
        let go: Vec<&str> = text.lines().last().unwrap().split(',').collect();
        assert_eq!(
            go[1].parse::<usize>().unwrap(),
            receipts,
            "{name}: GO counts the receipts"
        );
    }
    // FHIR bundles parse and start with the Patient.
    for (name, bytes) in t.iter().filter(|(k, _)| k.ends_with(".ndjson")) {
        for line in std::str::from_utf8(bytes).unwrap().lines() {
            let b: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(b["type"], "collection", "{name}");
            assert_eq!(b["entry"][0]["resource"]["resourceType"], "Patient");
        }
    }
    // Every disease and drug code written is in the masters.
    let m = Masters::embedded();
    for (_, bytes) in &uke {
        let (text, _, _) = encoding_rs::SHIFT_JIS.decode(bytes);
        for l in text.lines() {
            let f: Vec<&str> = l.split(',').collect();
            match f[0] {
                "SY" => assert!(m.disease(f[1]).is_some(), "{l}"),
                "IY" if f.len() == 10 => assert!(m.drug(f[2]).is_some(), "{l}"),
                "IY" | "SI" => {
                    assert!(m.drug(f[3]).is_some() || m.procedure(f[3]).is_some(), "{l}")
                }
                _ => {}
            }
        }
    }
}

#[test]
fn person_ids_stay_in_the_ground_truth() {
    let d = tempfile::tempdir().unwrap();
    generate(&Config::new(1000, 3, d.path()), &|_| {}).unwrap();
    let persons =
        std::fs::read_to_string(d.path().join("ground_truth/persons/area_00000.csv")).unwrap();
    let ids: Vec<&str> = persons
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .filter(|id| id.len() >= 3)
        .take(20)
        .collect();
    for (name, bytes) in tree(d.path()) {
        if name.starts_with("ground_truth") {
            continue;
        }
        let text = if name.ends_with(".ndjson") || name.starts_with("registry") {
            String::from_utf8(bytes).unwrap()
        } else {
            encoding_rs::SHIFT_JIS.decode(&bytes).0.into_owned()
        };
        for id in &ids {
            assert!(
                !text.split([',', '\t', '"', '\r', '\n']).any(|f| f == *id),
                "person id {id} appears in {name}"
            );
        }
    }
}
