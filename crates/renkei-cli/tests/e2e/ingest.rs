//! Ingest through the real binary: a `renkei ingest` killed half-way leaves the
//! previous version served, and running it again is safe.
#![cfg(unix)] // a FIFO stalls the ingest

use crate::harness::*;
use renkei_store::{Store, store_test};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn staging_dirs(dataset_dir: &Path) -> Vec<String> {
    std::fs::read_dir(dataset_dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".staging-"))
                .collect()
        })
        .unwrap_or_default()
}

async fn current_version(url: &str, dataset: &str) -> serde_json::Value {
    let body = client()
        .get(format!("{url}/api/v1/catalog/datasets/{dataset}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["version"].clone()
}

async fn a_killed_ingest_leaves_the_previous_version_served(store: Store) {
    let env = Env::new(store.url());
    env.ok(&["init"], "");
    // The linkage authority's key, provisioned beside the platform's own.
    std::fs::write(env.data_dir().join("keys/linkage.key"), "ab".repeat(32)).unwrap();
    let world = env.data_dir().join("world");
    let world_s = world.display().to_string();
    env.ok(
        &[
            "synth",
            "--persons",
            "300",
            "--seed",
            "3",
            "--out",
            &world_s,
        ],
        "",
    );
    let src = world.join("deaths").display().to_string();
    let ingest = ["ingest", "--dataset", "deaths", "--source", src.as_str()];
    let first = env.ok(&ingest, "");
    assert!(
        first.contains("v1") && first.contains("committed"),
        "{first}"
    );

    // The next delivery has a file that never ends (a FIFO nobody writes to): the
    // ingest stalls with its staging directory written.
    let fifo = world.join("deaths/zz_never_ends.csv");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let dataset_dir = env.data_dir().join("datasets/deaths");
    let stall = || {
        let mut child = env
            .cmd(&ingest)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while staging_dirs(&dataset_dir).is_empty() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the ingest ended before it was killed"
            );
            assert!(started.elapsed() < Duration::from_secs(60), "no staging");
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    };
    let mut child = stall();
    // While it runs, a second ingest of the dataset is refused, and other commands
    // (which clean up after interrupted ingests when they start) leave it alone.
    let (code, _, err) = env.run(&ingest, "");
    assert_ne!(code, 0);
    assert!(err.contains("another ingest of dataset deaths"), "{err}");
    env.ok(&["user", "list"], "");
    assert_eq!(
        staging_dirs(&dataset_dir).len(),
        1,
        "the running ingest's files stay"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!dataset_dir.join("v2").exists(), "nothing was published");

    let server = env.start(&["serve"], "Renkei listening on");
    assert_eq!(
        current_version(&server.url, "deaths").await,
        1,
        "the previous version is still served"
    );
    assert_eq!(server.stop(), 0);

    // Killed again; this time the next ingest itself finds the leftovers, clears them
    // and commits.
    let mut child = stall();
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_file(&fifo).unwrap();
    assert_eq!(staging_dirs(&dataset_dir).len(), 1);
    let again = env.ok(&ingest, "");
    assert!(
        again.contains("v2") && again.contains("committed"),
        "{again}"
    );
    assert!(staging_dirs(&dataset_dir).is_empty());
    let server = env.start(&["serve"], "Renkei listening on");
    assert_eq!(current_version(&server.url, "deaths").await, 2);
    let (code, out, err) = env.run(&["audit", "verify"], "");
    assert_eq!(code, 0, "{out}{err}");
    let export = env.ok(&["audit", "export"], "");
    assert!(
        export.contains("ingest_in_progress"),
        "the refused second ingest is audited"
    );
}

/// A new operator's way: `init` makes the master key only; ingest says how to get the
/// linkage key; the linkage authority makes it in a file of its own; ingest works; a
/// rotation re-keys the data and the new keyring ingests; a key of another origin is
/// refused with both fingerprints.
async fn the_linkage_authority_makes_registers_and_rotates_its_key(store: Store) {
    let mut env = Env::new(store.url());
    env.ok(&["init"], "");
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
    let src = world.join("deaths").display().to_string();
    let ingest = ["ingest", "--dataset", "deaths", "--source", src.as_str()];
    let (code, _, err) = env.run(&ingest, "");
    assert_ne!(code, 0);
    assert!(
        err.contains("does not hold the linkage key") && err.contains("renkei linkage-key init"),
        "{err}"
    );
    // Kept apart from the master key, as the linkage authority would.
    let authority = tempfile::tempdir().unwrap();
    let keyfile = authority.path().join("linkage.key");
    let keyfile_s = keyfile.display().to_string();
    let made = env.ok(&["linkage-key", "init", "--out", &keyfile_s], "");
    assert!(made.contains("fingerprint: lk1:"), "{made}");
    let (code, _, err) = env.run(&["linkage-key", "init", "--out", &keyfile_s], "");
    assert!(code != 0 && err.contains("never overwritten"), "{err}");
    env.vars
        .push(("RENKEI_LINKAGE_KEY_FILE".into(), keyfile_s.clone()));
    let first = env.ok(&ingest, "");
    assert!(first.contains("committed"), "{first}");
    let fp = env.ok(&["linkage-key", "fingerprint"], "");
    let ours = fp
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();
    assert!(
        fp.contains(&format!("platform:     {ours} (generation 1)")),
        "{fp}"
    );

    let rotated = env.ok(&["linkage-key", "rotate"], "");
    assert!(
        rotated.contains("1 versions re-keyed") && rotated.contains("-> lk2:"),
        "{rotated}"
    );
    assert_eq!(
        std::fs::read_to_string(&keyfile).unwrap().lines().count(),
        2,
        "the keyring gained a generation"
    );
    let again = env.ok(&ingest, "");
    assert!(
        again.contains("v2") && again.contains("committed"),
        "{again}"
    );

    // A key from elsewhere: refused, both fingerprints named, the audit says so.
    let other = authority.path().join("other.key");
    std::fs::write(&other, "cd".repeat(32)).unwrap();
    env.vars.retain(|(k, _)| k != "RENKEI_LINKAGE_KEY_FILE");
    env.vars.push((
        "RENKEI_LINKAGE_KEY_FILE".into(),
        other.display().to_string(),
    ));
    let (code, _, err) = env.run(&ingest, "");
    assert_ne!(code, 0);
    assert!(
        err.contains("lk1:") && err.contains("lk2:") && err.contains("rotation"),
        "{err}"
    );
}

store_test!(
    a_killed_ingest_leaves_the_previous_version_served,
    the_linkage_authority_makes_registers_and_rotates_its_key
);
