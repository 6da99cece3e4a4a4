//! Output-checking figures: the checks on a 1,000,000-cell frequency table beside ACRO
//! (the Python package, when installed) on the same rows, with the per-cell verdicts
//! compared; and the differencing check of a new table against 1,000 earlier releases
//! beside a plain all-pairs comparison.

use crate::bench::line;
use rand::{Rng as _, SeedableRng as _};
use renkei_sdc::{Check, Dim, Ledger, Outcome, Output, Protection, Rules, Table, check};
use std::io::Write as _;
use std::time::Instant;

/// Runs both figures. `cells` is rounded to a square table (rows × 100 columns).
pub fn figures(cells: usize, releases: usize, acro: bool) -> anyhow::Result<()> {
    frequency(cells, acro)?;
    differencing(releases)?;
    Ok(())
}

fn frequency(cells: usize, acro: bool) -> anyhow::Result<()> {
    let cols = 100usize;
    let rows = cells.div_ceil(cols).max(1);
    let cells = rows * cols;
    // Eight records per cell on average: many cells fall under the threshold, a few
    // are empty, as in a fine-grained table a researcher first tries.
    let records = cells * 8;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let data: Vec<(u32, u32)> = (0..records)
        .map(|_| (rng.gen_range(0..rows as u32), rng.gen_range(0..cols as u32)))
        .collect();

    let t = Instant::now();
    let mut counts = vec![0u64; cells];
    for &(a, b) in &data {
        counts[a as usize * cols + b as usize] += 1;
    }
    let dims = vec![
        Dim {
            name: "a".into(),
            labels: (0..rows).map(|i| i.to_string()).collect(),
            kind: Default::default(),
        },
        Dim {
            name: "b".into(),
            labels: (0..cols).map(|i| i.to_string()).collect(),
            kind: Default::default(),
        },
    ];
    let table = Table::counts(dims, &counts);
    let build_ms = t.elapsed().as_secs_f64() * 1000.0;

    let output = Output::Frequency(table);
    let t = Instant::now();
    let general = check(&output, &Rules::general(), Protection::default())?;
    let general_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let japan = check(&output, &Rules::japan(), Protection::default())?;
    let japan_ms = t.elapsed().as_secs_f64() * 1000.0;
    let failing = japan.cells.iter().filter(|o| **o == Outcome::Fail).count();
    line(
        &format!("sdc checks, {cells} cells (general)"),
        format!("{general_ms:.0} ms"),
        format!("tabulating {records} records: {build_ms:.0} ms"),
        "< 1 s",
    );
    line(
        &format!("sdc checks, {cells} cells (japan)"),
        format!("{japan_ms:.0} ms"),
        format!("{failing} cells fail the threshold"),
        "< 1 s",
    );

    if !acro {
        return Ok(());
    }
    match acro_run(&data, rows, cols) {
        Ok((acro_ms, flags)) => {
            // Compare where the rules coincide: the threshold on non-empty cells, and
            // zeros (ACRO's default flags them, as our general profile does).
            let mut agree = 0usize;
            let mut differ = 0usize;
            for (i, f) in flags.iter().enumerate() {
                let ours_threshold = general.cells[i] == Outcome::Fail;
                let ours_zero = counts[i] == 0;
                let theirs_threshold = f & 1 != 0 && counts[i] > 0;
                let theirs_zero = f & 2 != 0;
                if ours_threshold == theirs_threshold && ours_zero == theirs_zero {
                    agree += 1;
                } else {
                    differ += 1;
                }
            }
            let ours_ms = build_ms + general_ms;
            line(
                "sdc checks vs ACRO (same rows)",
                format!("{:.0}× faster", acro_ms / ours_ms),
                format!("ACRO {acro_ms:.0} ms, Renkei {ours_ms:.0} ms"),
                "≥ 20×",
            );
            line(
                "sdc verdicts vs ACRO, per cell",
                format!("{agree} agree, {differ} differ"),
                format!(
                    "{} threshold failures",
                    general.of(Check::Threshold).count()
                ),
                "all agree",
            );
        }
        Err(e) => println!("{:<34} ACRO not run: {e}", ""),
    }
    Ok(())
}

/// Runs ACRO's crosstab on the same records; returns its time and per-cell flags
/// (1 = threshold, 2 = zero) in row-major order.
fn acro_run(data: &[(u32, u32)], rows: usize, cols: usize) -> anyhow::Result<(f64, Vec<u8>)> {
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("records.csv");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&csv)?);
        writeln!(w, "a,b")?;
        for (a, b) in data {
            writeln!(w, "{a},{b}")?;
        }
    }
    let script = format!(
        r#"
import logging, sys, time
logging.disable(logging.CRITICAL)
import pandas as pd
from acro import ACRO
df = pd.read_csv("{csv}")
acro = ACRO(suppress=False)
t = time.perf_counter()
acro.crosstab(df.a, df.b)
ms = (time.perf_counter() - t) * 1000
out = list(acro.results.results.values())[-1].outcome
out = out.reindex(index=range({rows}), columns=range({cols}), fill_value="ok")
flags = []
for row in out.itertuples(index=False):
    for s in row:
        s = str(s)
        flags.append(str(("MinimumThreshold" in s) * 1 + ("PresenceOfZero" in s) * 2))
print(ms)
print("".join(flags))
"#,
        csv = csv.display()
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        anyhow::bail!("{}", err.lines().last().unwrap_or("python3 failed"));
    }
    let text = String::from_utf8(out.stdout)?;
    let mut lines = text.lines();
    let ms: f64 = lines.next().unwrap_or("").trim().parse()?;
    let flags: Vec<u8> = lines
        .next()
        .unwrap_or("")
        .bytes()
        .map(|b| b.saturating_sub(b'0'))
        .collect();
    anyhow::ensure!(
        flags.len() == rows * cols,
        "ACRO gave {} cells, not {}",
        flags.len(),
        rows * cols
    );
    Ok((ms, flags))
}

fn differencing(releases: usize) -> anyhow::Result<()> {
    // Each release: a 2 × 20 table of a cohort drawn from 200,000 persons.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let population = 200_000u64;
    let cells_per = 40;
    let mut ledger = Ledger::new();
    let mut all: Vec<Vec<u64>> = Vec::new();
    for r in 0..releases {
        for c in 0..cells_per {
            let size = rng.gen_range(20..2_000);
            let persons: Vec<u64> = (0..size).map(|_| rng.gen_range(0..population)).collect();
            ledger.add(
                &format!("release {r}"),
                "table",
                &format!("cell {c}"),
                persons.clone(),
            );
            let mut p = persons;
            p.sort_unstable();
            p.dedup();
            all.push(p);
        }
    }
    // The new table: copies of released cells with a few persons added or removed,
    // and fresh cells.
    let mut new_cells: Vec<(String, Vec<u64>)> = Vec::new();
    for c in 0..cells_per {
        let persons = if c % 4 == 0 {
            let mut p = all[rng.gen_range(0..all.len())].clone();
            for _ in 0..rng.gen_range(1..5) {
                p.push(population + rng.gen_range(0..1_000));
            }
            p
        } else {
            (0..rng.gen_range(20..2_000))
                .map(|_| rng.gen_range(0..population))
                .collect()
        };
        new_cells.push((format!("new cell {c}"), persons));
    }
    let t = Instant::now();
    let found = ledger.compare(&new_cells, 10);
    let ms = t.elapsed().as_secs_f64() * 1000.0;

    // Baseline: every new cell against every released cell, full set differences.
    let t = Instant::now();
    let mut naive = 0usize;
    for (_, p) in &new_cells {
        let mut s = p.clone();
        s.sort_unstable();
        s.dedup();
        let set: std::collections::HashSet<u64> = s.iter().copied().collect();
        for r in &all {
            let common = r.iter().filter(|x| set.contains(x)).count();
            let d = (s.len() - common) + (r.len() - common);
            if d > 0 && d < 10 {
                naive += 1;
            }
        }
    }
    let naive_ms = t.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(
        naive == found.len(),
        "differencing found {} pairs, the all-pairs baseline {naive}",
        found.len()
    );
    line(
        &format!("differencing vs {releases} releases"),
        format!("{ms:.1} ms"),
        format!("all pairs: {naive_ms:.0} ms ({} flagged)", found.len()),
        "< 2 s",
    );
    Ok(())
}
