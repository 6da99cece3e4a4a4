//! A synthetic Japanese population and the health databases that describe it, written in
//! their real formats, deterministic for a seed: the demo's world, the tests' fixture,
//! and the dummy data researchers develop their analyses against.
//!
//! The world is split into **areas** (parts of real municipalities of at most
//! [`world::AREA_MAX`] persons, each with its own clinics, hospital, pharmacies and care
//! providers). An area is generated from its own random streams, built in memory,
//! written and dropped; areas run in parallel. So memory stays bounded whatever the
//! number of persons, and the output is byte-identical for the same seed and
//! [`VERSION`] whatever the number of threads.
//!
//! What it writes under the output directory:
//!
//! | path | database | format |
//! |---|---|---|
//! | `ndb/uke/<請求年月>/<医療機関番号>_<1 社保/2 国保>.UKE` | NDB claims: 医科, DPC, 調剤 | UKE, CP932, CRLF |
//! | `checkups/` | NDB 特定健診 | CSV, CP932, JLAC10-style item codes |
//! | `dpc/FF1_*.txt`, `dpc/EFn_*.txt` | DPC 様式1 and EF | TSV, CP932 |
//! | `ltc/` | 介護DB certifications and care claims | CSV, CP932 |
//! | `ehr/<医療機関番号>.ndjson` | EHR: JP-CLINS Bundles | FHIR R4 JSON, one Bundle per line |
//! | `deaths/` | death records | CSV, CP932, 和暦 birth dates |
//! | `registry/` | a private cancer registry, with its declared schema | CSV, UTF-8 |
//! | `ground_truth/` | who is who (for linkage tests) and counts | CSV, JSON |
//!
//! **Invariant:** a person's id appears only under `ground_truth/`.
#![warn(missing_docs)]

mod claims;
mod dpc;
mod fhir;
pub mod names;
mod out;
mod records;
pub mod rng;
mod truth;
pub mod world;

pub use records::{
    CARE_HEADER, CERT_HEADER, CHECKUP_HEADER, DEATH_HEADER, REGISTRY_HEADER, REGISTRY_SCHEMA,
};
pub use truth::Truth;

use renkei_masters::{Masters, Municipality};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use world::{Area, Facilities};

/// The generator's version; part of what makes output reproducible.
pub const VERSION: &str = "1";

/// What to generate.
#[derive(Clone, Debug)]
pub struct Config {
    /// Number of persons.
    pub persons: u64,
    /// Seed.
    pub seed: u64,
    /// The year of data (January to December).
    pub year: i32,
    /// Output directory.
    pub out: PathBuf,
    /// Worker threads.
    pub threads: usize,
}

impl Config {
    /// `persons` persons with `seed` into `out`, for 2025, on every core.
    pub fn new(persons: u64, seed: u64, out: impl Into<PathBuf>) -> Self {
        Self {
            persons,
            seed,
            year: 2025,
            out: out.into(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Generation failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// Writing failed.
    #[error("writing {path}: {err}")]
    Io {
        /// Where.
        path: String,
        /// Why.
        err: std::io::Error,
    },
    /// The configuration is unusable.
    #[error("{0}")]
    Config(String),
}

/// What was generated.
#[derive(Debug, serde::Serialize)]
pub struct Summary {
    /// Generator version.
    pub version: String,
    /// Seed.
    pub seed: u64,
    /// Year.
    pub year: i32,
    /// Persons.
    pub persons: u64,
    /// Areas.
    pub areas: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Counts by kind of record.
    pub counts: std::collections::BTreeMap<String, u64>,
    /// Sums (e.g. of checkup HbA1c, for means).
    pub sums: std::collections::BTreeMap<String, f64>,
    /// Outpatient diagnosis rows by three-character ICD-10.
    pub sy_by_icd3: std::collections::BTreeMap<String, u64>,
}

/// Everything an area's generators share.
pub(crate) struct Ctx<'a> {
    pub area: &'a Area,
    pub fac: &'a Facilities,
    pub m: &'a Masters,
    pub muni: &'a Municipality,
    pub year: i32,
    pub seed: u64,
}

/// Generates the world. `progress` is called with the number of persons done so far.
pub fn generate(cfg: &Config, progress: &(dyn Fn(u64) + Sync)) -> Result<Summary, SynthError> {
    if cfg.persons == 0 {
        return Err(SynthError::Config("--persons must be at least 1".into()));
    }
    let m = Masters::embedded();
    let areas = world::plan(cfg.persons, m);
    let io = |path: &Path, err: std::io::Error| SynthError::Io {
        path: path.display().to_string(),
        err,
    };
    std::fs::create_dir_all(cfg.out.join("ground_truth/links")).map_err(|e| io(&cfg.out, e))?;
    std::fs::create_dir_all(cfg.out.join("ground_truth/persons")).map_err(|e| io(&cfg.out, e))?;
    // Every database has its directory, even when a small world has nothing for it.
    for d in [
        "registry", "ndb/uke", "checkups", "dpc", "ltc", "ehr", "deaths",
    ] {
        std::fs::create_dir_all(cfg.out.join(d)).map_err(|e| io(&cfg.out, e))?;
    }
    std::fs::write(cfg.out.join("registry/schema.toml"), REGISTRY_SCHEMA)
        .map_err(|e| io(&cfg.out, e))?;

    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    type Slot = std::sync::Mutex<Option<Result<(Truth, u64), SynthError>>>;
    let results: Vec<Slot> = (0..areas.len())
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    std::thread::scope(|s| {
        for _ in 0..cfg.threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(area) = areas.get(i) else { break };
                    let r = area_world(cfg, area, m);
                    let n = done.fetch_add(area.persons, Ordering::SeqCst) + area.persons;
                    progress(n);
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    let mut total = Truth::default();
    let mut bytes = 0;
    for r in results {
        let r = r
            .into_inner()
            .ok()
            .flatten()
            .ok_or_else(|| SynthError::Config("an area was not generated".into()))?;
        let (t, b) = r?;
        total.merge(&t);
        bytes += b;
    }
    let summary = Summary {
        version: VERSION.into(),
        seed: cfg.seed,
        year: cfg.year,
        persons: cfg.persons,
        areas: areas.len(),
        bytes,
        counts: total.counts,
        sums: total.sums,
        sy_by_icd3: total.sy_by_icd3,
    };
    let json = serde_json::to_string_pretty(&summary).unwrap_or_default();
    std::fs::write(cfg.out.join("ground_truth/summary.json"), json).map_err(|e| io(&cfg.out, e))?;
    Ok(summary)
}

fn area_world(cfg: &Config, area: &Area, m: &Masters) -> Result<(Truth, u64), SynthError> {
    let muni = &m.municipalities[area.muni];
    let mut frng = rng::Rng::new(cfg.seed, &[0, u64::from(area.index)]);
    let fac = world::facilities(area, m, &mut frng);
    let people = world::people(area, &fac, m, cfg.seed, cfg.year);
    let ctx = Ctx {
        area,
        fac: &fac,
        m,
        muni,
        year: cfg.year,
        seed: cfg.seed,
    };
    let mut files = out::Files::default();
    let mut truth = Truth::default();
    let mut persons_csv = String::from(
        "person_id,household_id,sex,birth_year,birth_month,municipality,conditions,stays,care_level,died\n",
    );
    for p in &people {
        let mut r = rng::Rng::new(cfg.seed, &[5, p.id]);
        claims::claims(p, &ctx, &mut files, &mut truth, &mut r);
        dpc::stays(p, &ctx, &mut files, &mut truth);
        records::checkup(p, &ctx, &mut files, &mut truth, &mut r);
        records::care(p, &ctx, &mut files, &mut truth, &mut r);
        records::death(p, &ctx, &mut files, &mut truth, &mut r);
        records::registry(p, &ctx, &mut files, &mut truth, &mut r);
        fhir::bundles(p, &ctx, &mut files, &mut truth, &mut r);
        let mut groups: Vec<&str> = p.conditions.iter().map(|c| c.group).collect();
        groups.sort_unstable();
        groups.dedup();
        let stays: Vec<&str> = p.stays.iter().map(|s| s.group).collect();
        persons_csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            p.id,
            p.household,
            p.sex,
            p.birth.year(),
            p.birth.month() as u8,
            muni.code,
            groups.join(";"),
            stays.join(";"),
            p.care.as_ref().map(|c| c.level).unwrap_or(""),
            if p.death.is_some() { "1" } else { "0" }
        ));
        truth.count("persons", 1);
        if p.death.is_some() {
            truth.count("persons_died", 1);
        }
    }
    claims::finish(&mut files);
    let bytes = files.write(&cfg.out).map_err(|err| SynthError::Io {
        path: cfg.out.display().to_string(),
        err,
    })?;
    let gt = |name: &str| {
        cfg.out
            .join(format!("ground_truth/{name}/area_{:05}.csv", area.index))
    };
    std::fs::write(
        gt("links"),
        format!("database,record,person_id\n{}", truth.links),
    )
    .map_err(|err| SynthError::Io {
        path: gt("links").display().to_string(),
        err,
    })?;
    std::fs::write(gt("persons"), persons_csv).map_err(|err| SynthError::Io {
        path: gt("persons").display().to_string(),
        err,
    })?;
    // Drop the buffer, not just its contents: every area's Truth is kept until the end
    // (merged in area order, so sums do not depend on the thread count), and a cleared
    // String keeps its capacity: 10 M persons held 7 GiB of empty link buffers.
    truth.links = String::new();
    Ok((truth, bytes))
}

#[cfg(test)]
mod tests;
