//! Data-layer figures: linkage tokens per second per core, UKE ingest throughput per
//! core, and synthetic-world generation, each beside its physical baseline measured in
//! the same run (`openssl speed -hmac sha256`, `iconv -f CP932 -t UTF-8`).

use anyhow::Context as _;
use renkei_app::{App, Config, Keys};
use renkei_core::Caller;
use renkei_crypto::{KeyStore, RootKey, TokenFamily, Tokenizer};
use renkei_ingest::IngestOptions;
use renkei_ingest::tokens::Tokens;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::bench::line;

/// Identifiers as the readers meet them: insurer number, 記号 (sometimes full-width),
/// 番号, birth date, sex.
type Identifiers = (
    String,
    String,
    String,
    renkei_core::wareki::Ymd,
    &'static str,
);

fn identifiers(n: usize) -> Vec<Identifiers> {
    (0..n)
        .map(|i| {
            let i = i as u64;
            let kigo = if i.is_multiple_of(20) {
                format!("{}", 1000 + i % 9000)
                    .chars()
                    .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c))
                    .collect()
            } else {
                format!("{}", 1000 + i % 9000)
            };
            (
                format!("{:08}", 6_130_000 + i % 977),
                kigo,
                format!("{}", 100_000 + (i * 7919) % 900_000),
                (
                    1930 + (i % 80) as i32,
                    1 + (i % 12) as u32,
                    1 + (i % 28) as u32,
                ),
                if i.is_multiple_of(2) { "1" } else { "2" },
            )
        })
        .collect()
}

/// `openssl speed -hmac sha256` on 64-byte inputs, one process: HMACs per second.
fn openssl_hmac() -> Option<f64> {
    let out = std::process::Command::new("openssl")
        .args([
            "speed", "-mr", "-seconds", "2", "-bytes", "64", "-hmac", "sha256",
        ])
        .stderr(std::process::Stdio::piped())
        .output()
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // "+R:<count>:hmac(sha256):<seconds>"
    let l = text.lines().find(|l| l.starts_with("+R:"))?;
    let f: Vec<&str> = l.split(':').collect();
    let count: f64 = f.get(1)?.parse().ok()?;
    let secs: f64 = f.get(3)?.parse().ok()?;
    Some(count / secs)
}

/// Token computation on one core.
pub fn tokens(n: usize) -> anyhow::Result<()> {
    let keys = KeyStore::from_keys(RootKey::generate(), Some(RootKey::generate()));
    let tok = Tokenizer::new(&keys, renkei_core::normalize::VERSION)?;
    let ids = identifiers(n);
    // Raw keyed hash over normalized, length-prefixed fields (what ID1 hashes).
    let fields: Vec<[Vec<u8>; 5]> = ids
        .iter()
        .map(|(a, b, c, d, e)| {
            [
                a.as_bytes().to_vec(),
                renkei_core::normalize::number(b).into_bytes(),
                c.as_bytes().to_vec(),
                format!("{:04}{:02}{:02}", d.0, d.1, d.2).into_bytes(),
                e.as_bytes().to_vec(),
            ]
        })
        .collect();
    let t = Instant::now();
    let mut acc = 0u8;
    for f in &fields {
        let refs: [&[u8]; 5] = [&f[0], &f[1], &f[2], &f[3], &f[4]];
        acc ^= tok.token(TokenFamily::Id1, &refs).0[0];
    }
    let raw = n as f64 / t.elapsed().as_secs_f64();
    // The whole path a reader takes: normalize every field, format the date, hash.
    let tokens = Tokens::new(Tokenizer::new(&keys, renkei_core::normalize::VERSION)?);
    let t = Instant::now();
    for (a, b, c, d, e) in &ids {
        if let Some(x) = tokens.id1(a, b, c, *d, e) {
            acc ^= x.0[0];
        }
    }
    let full = n as f64 / t.elapsed().as_secs_f64();
    let kana: Vec<&str> = [
        "ヤマダ タロウ",
        "ｻﾄｳ ﾊﾅｺ",
        "すずき いちろう",
        "タナカ　ユーコ",
    ]
    .to_vec();
    let t = Instant::now();
    for (i, (_, _, _, d, e)) in ids.iter().enumerate() {
        if let Some(x) = tokens.id2(kana[i % kana.len()], *d, e) {
            acc ^= x.0[0];
        }
    }
    let id2 = n as f64 / t.elapsed().as_secs_f64();
    std::hint::black_box(acc);
    let limit = openssl_hmac()
        .map(|r| format!("openssl HMAC-SHA256 64 B {:.2} M/s", r / 1e6))
        .unwrap_or_else(|| "openssl not found".into());
    line(
        "tokens ID1, full path (1 core)",
        format!("{:.2} M ids/s", full / 1e6),
        limit.clone(),
        ">= 2 M/s/core",
    );
    line(
        "tokens ID1, hash only (1 core)",
        format!("{:.2} M ids/s", raw / 1e6),
        limit.clone(),
        "(openssl re-keys per call; we reuse the keyed state)",
    );
    line(
        "tokens ID2 from kana (1 core)",
        format!("{:.2} M ids/s", id2 / 1e6),
        limit,
        ">= 2 M/s/core",
    );
    Ok(())
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            files_under(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// `iconv -f CP932 -t UTF-8` of the files to /dev/null: seconds.
fn iconv(files: &[PathBuf]) -> Option<f64> {
    let t = Instant::now();
    for chunk in files.chunks(500) {
        let ok = std::process::Command::new("iconv")
            .args(["-f", "CP932", "-t", "UTF-8"])
            .args(chunk)
            .stdout(std::process::Stdio::null())
            .status()
            .ok()?
            .success();
        if !ok {
            return None;
        }
    }
    Some(t.elapsed().as_secs_f64())
}

/// UKE ingest end to end on one thread, beside iconv of the same files.
pub async fn ingest(persons: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let world = dir.path().join("world");
    let cfg = renkei_synth::Config::new(persons, 1, &world);
    tokio::task::spawn_blocking(move || renkei_synth::generate(&cfg, &|_| {})).await??;
    let uke = world.join("ndb/uke");
    let mut files = Vec::new();
    files_under(&uke, &mut files)?;
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let mut config = Config::default();
    config.data_dir = dir.path().join("data");
    let app = App::open(config, Keys::CreateIfMissing).await?;
    let decl = renkei_catalog::builtin("ndb_claims").context("ndb_claims declaration")?;
    let mut figures = Vec::new();
    for threads in [1, 2] {
        let opts = IngestOptions {
            threads,
            ..Default::default()
        };
        let t = Instant::now();
        let r = app
            .ingestor
            .ingest(
                &Caller::operator("bench", renkei_core::Duty::Data),
                &decl,
                &uke,
                &opts,
                Arc::new(|_, _| {}),
            )
            .await?;
        let secs = t.elapsed().as_secs_f64();
        figures.push((threads, secs, r.rows_in));
    }
    let decode = iconv(&files);
    let mb = bytes as f64 / 1e6;
    let base = decode
        .map(|s| format!("iconv CP932→UTF-8 {:.0} MB/s (1 core)", mb / s))
        .unwrap_or_else(|| "iconv not found".into());
    for (threads, secs, rows) in figures {
        line(
            &format!(
                "UKE ingest, {threads} thread{}",
                if threads > 1 { "s" } else { "" }
            ),
            format!("{:.1} MB/s/core", mb / secs / threads as f64),
            base.clone(),
            ">= 50 MB/s/core",
        );
        println!(
            "{:<34} {:.1} MB of UKE, {} records, {:.2} s",
            "", mb, rows, secs
        );
    }
    app.close().await?;
    Ok(())
}

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = l.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Generates `persons` on every core. With `discard`, a reaper deletes what is written
/// as it goes (the bytes are still produced and written), so 10 M persons fit on a
/// small disk; the ground-truth summary is kept.
pub fn synth(persons: u64, discard: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("world");
    let cfg = renkei_synth::Config::new(persons, 1, &out);
    let done = Arc::new(AtomicBool::new(false));
    let reaper = discard.then(|| {
        let (done, out) = (done.clone(), out.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let mut files = Vec::new();
                let _ = files_under(&out, &mut files);
                for f in files {
                    if !f.ends_with("summary.json") && !f.ends_with("schema.toml") {
                        let _ = std::fs::remove_file(f);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        })
    });
    let t = Instant::now();
    let s = renkei_synth::generate(&cfg, &|_| {});
    let secs = t.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    if let Some(r) = reaper {
        let _ = r.join();
    }
    let s = s?;
    let rate = persons as f64 / secs;
    let ten_m = 10_000_000.0 / rate / 60.0;
    line(
        &format!("synth {} persons, {} cores", persons, cfg.threads),
        format!("{:.0} persons/s", rate),
        format!("{:.0} MB written, {:.1} s", s.bytes as f64 / 1e6, secs),
        "10 M in < 30 min",
    );
    println!(
        "{:<34} {:.1} min for 10 M at this rate; peak RSS {} (limit 4096 MiB at 10 M)",
        "",
        ten_m,
        peak_rss_mib()
            .map(|m| format!("{m:.0} MiB"))
            .unwrap_or_else(|| "unknown".into())
    );
    Ok(())
}
