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

store_test!(a_killed_ingest_leaves_the_previous_version_served);
