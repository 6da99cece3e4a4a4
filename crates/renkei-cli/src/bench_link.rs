//! Figures for the person index and for extract materialization.

use crate::bench::line;
use renkei_app::{App, Config, Keys};
use renkei_core::{Caller, Duty};
use renkei_link::index::{Builder, Family, Observation};
use std::time::Instant;

fn mix(mut z: u64) -> u64 {
    // splitmix64: a cheap, well-spread stand-in for keyed tokens.
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn token(f: Family, key: u64) -> (Family, [u8; 16]) {
    let a = mix(key ^ (f as u64).wrapping_mul(0x1234_5678_9abc_def1));
    let b = mix(a);
    let mut t = [0u8; 16];
    t[..8].copy_from_slice(&a.to_le_bytes());
    t[8..].copy_from_slice(&b.to_le_bytes());
    (f, t)
}

/// Person `p`'s record in `month` (0–11) of the claims, and at month 6 of the
/// checkups for three in ten. One in 300 is the same-sex twin of the person before
/// (same card, same kana name and birth date, another 枝番); 11% change insurer once.
fn records(p: u64, out: &mut Vec<Observation>) {
    out.clear();
    let h = mix(p);
    let twin = p % 300 == 1;
    let holder = if twin { p - 1 } else { p };
    let change = (h % 100 < 11).then_some(((h >> 8) % 11 + 1) as i32);
    for month in 0..12i32 {
        let generation = u64::from(change.is_some_and(|m| month >= m));
        let card = holder * 4 + generation;
        let branch = p * 4 + generation;
        let toks = vec![
            token(Family::Id1n, branch),
            token(Family::Id1, card),
            token(Family::Id2, holder),
        ];
        out.push(Observation {
            dataset: 0,
            month: Some(24_300 + month),
            tokens: toks.clone(),
        });
        if month == 6 && (h >> 16) % 10 < 3 {
            out.push(Observation {
                dataset: 1,
                month: Some(24_306),
                tokens: toks,
            });
        }
    }
}

/// The person index over `persons` people, against plain union–find over every token
/// of a record (no guards) on the same records.
pub fn index(persons: u64) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    let t = Instant::now();
    let mut n = 0u64;
    for p in 0..persons {
        records(p, &mut buf);
        n += buf.len() as u64;
    }
    let generate = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut b = Builder::new();
    for p in 0..persons {
        records(p, &mut buf);
        for o in &buf {
            b.observe(o);
        }
    }
    let filed = t.elapsed().as_secs_f64();
    let ix = b.finish();
    let secs = t.elapsed().as_secs_f64();

    // Baseline: every token of a record joined, no guards.
    let t = Instant::now();
    let mut ids: foldhash::HashMap<(Family, [u8; 16]), u32> = Default::default();
    let mut parent: Vec<u32> = Vec::new();
    fn find(parent: &mut [u32], mut x: u32) -> u32 {
        while parent[x as usize] != x {
            parent[x as usize] = parent[parent[x as usize] as usize];
            x = parent[x as usize];
        }
        x
    }
    for p in 0..persons {
        records(p, &mut buf);
        for o in &buf {
            let mut first = None;
            for tk in &o.tokens {
                let next = parent.len() as u32;
                let id = *ids.entry(*tk).or_insert_with(|| {
                    parent.push(next);
                    next
                });
                match first {
                    None => first = Some(id),
                    Some(f) => {
                        let (a, c) = (find(&mut parent, f), find(&mut parent, id));
                        if a != c {
                            parent[c as usize] = a;
                        }
                    }
                }
            }
        }
    }
    let roots = (0..parent.len() as u32)
        .filter(|&i| find(&mut parent, i) == i)
        .count();
    let naive = t.elapsed().as_secs_f64();

    line(
        &format!("person index, {persons} persons"),
        format!("{secs:.1} s"),
        format!("unguarded union-find {naive:.1} s"),
        "10 M persons < 120 s",
    );
    println!(
        "{:<34} {n} records ({:.1} s to generate, {filed:.1} s to file), {} people found of {persons} ({} tokens held); unguarded: {roots} people (twins merged)",
        "",
        generate,
        ix.persons,
        ix.conflicts.len()
    );
    Ok(())
}

/// A fresh platform in a temporary directory with the demo's accounts, a synthetic
/// world of `persons` ingested, custodians, and the demo's review (one project in use).
pub(crate) async fn demo_world(persons: u64) -> anyhow::Result<(tempfile::TempDir, App)> {
    let dir = tempfile::tempdir()?;
    let mut config = Config::default();
    config.data_dir = dir.path().to_path_buf();
    let app = App::open(config, Keys::CreateIfMissing).await?;
    renkei_app::demo::ensure_accounts(&app).await?;
    renkei_app::demo::ensure_world(&app, persons, &|_| {}).await?;
    renkei_app::demo::assign_custodians(&app).await?;
    renkei_app::demo_review::seed_review(&app).await?;
    Ok((dir, app))
}

/// Extract materialization over the demo's world of `persons` people: rows written per
/// second, against reading the same datasets' tables through the data store.
pub async fn extract(persons: u64) -> anyhow::Result<()> {
    let (_dir, app) = demo_world(persons).await?;
    let la = Caller::operator("bench", Duty::Linkage);
    let t = Instant::now();
    let r = app.linkage.run(&la, None).await?;
    let link_secs = t.elapsed().as_secs_f64();
    let system = Caller::system();
    let order = app
        .applications
        .extract_orders(&system)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the demo has no project in use"))?;
    // Baseline: the same tables read (decrypted and decoded) through the data store.
    let t = Instant::now();
    let mut read = 0u64;
    for d in &order.permit().data {
        let v = app
            .data
            .open_for_extract(&order, renkei_datastore::ExtractSource::Dataset(&d.dataset))
            .await?;
        for tr in &d.tables {
            for b in v.batches(&tr.table)? {
                read += b?.num_rows() as u64;
            }
        }
    }
    let read_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let s = app.workspaces.materialize(&order).await?;
    let secs = t.elapsed().as_secs_f64();
    let rows: u64 = s.tables.iter().map(|t| t.rows).sum();
    line(
        "extract materialization",
        format!("{:.2} M rows/s", rows as f64 / secs / 1e6),
        format!("read alone {:.2} M rows/s", read as f64 / read_secs / 1e6),
        ">= 1 M rows/s",
    );
    println!(
        "{:<34} {rows} rows, {} people, {} tables in {secs:.2} s; person index over {} records in {link_secs:.2} s",
        "",
        s.persons,
        s.tables.len(),
        r.records
    );
    app.close().await?;
    Ok(())
}
