//! A dry run: read files exactly as an ingest would (every reader, every validation,
//! every token), store nothing, and report what would be rejected. Custodians use it
//! (`renkei ingest --check`) before a real load; the fuzz targets use it as their entry
//! point, so what they exercise is the production path.

use crate::ctx::ReadCtx;
use crate::tokens::Tokens;
use crate::{IngestError, Reject, readers, sink};
use renkei_catalog::{Declaration, RecordTally, TableProfile};
use renkei_crypto::{KeyStore, RootKey, Tokenizer};
use renkei_masters::Masters;

/// What a dry run found.
#[derive(Debug)]
pub struct CheckReport {
    /// Records read.
    pub rows_in: u64,
    /// Records that would be rejected.
    pub rows_rejected: u64,
    /// The rejects (file, line, field, reason).
    pub rejects: Vec<Reject>,
    /// Rows and profile per table.
    pub tables: Vec<TableProfile>,
    /// What became of the source records, by record type.
    pub records: Vec<RecordTally>,
    /// The master versions the codes were checked against.
    pub masters: Vec<renkei_masters::MasterVersion>,
}

impl CheckReport {
    /// The share of records rejected, as an ingest computes it: a load with no
    /// records at all counts as wholly rejected.
    pub fn reject_rate(&self) -> f64 {
        crate::reject_rate(self.rows_in, self.rows_rejected)
    }
}

/// Tokens under a throw-away linkage key: a dry run computes them like an ingest (so
/// the same code runs) but they are discarded, and no real key is needed.
pub fn ephemeral_tokens() -> Result<Tokens, IngestError> {
    let keys = KeyStore::from_keys(RootKey::generate(), Some(RootKey::generate()));
    Ok(Tokens::new(Tokenizer::new(
        &keys,
        renkei_core::normalize::VERSION,
    )?))
}

/// Reads `files` (name relative to the source directory, bytes) as `decl` says.
pub fn check(
    decl: &Declaration,
    masters: &Masters,
    tokens: &Tokens,
    files: &[(&str, &[u8])],
) -> Result<CheckReport, IngestError> {
    decl.validate()
        .and_then(|()| decl.check_labels())
        .map_err(|e| IngestError::Schema(e.to_string()))?;
    let stored = decl.stored_tables();
    let sinks = stored
        .iter()
        .map(|t| sink::TableSink::new(t, None))
        .collect();
    let mut ctx = ReadCtx::new(masters, tokens, sinks);
    ctx.policy = decl.dataset.unknown_code;
    let mut reader = readers::Reader::for_declaration(decl, &ctx)?;
    for (name, bytes) in files {
        reader.read(&mut ctx, name, bytes)?;
    }
    reader.finish(&mut ctx)?;
    let mut tables = ctx
        .tables
        .into_iter()
        .map(|t| t.finish())
        .collect::<Result<Vec<_>, _>>()?;
    tables.iter_mut().for_each(sink::finalize);
    Ok(CheckReport {
        rows_in: ctx.rows_in,
        rows_rejected: ctx.rows_rejected,
        masters: masters.versions_of(&crate::systems_of(ctx.systems)),
        records: ctx.tally,
        rejects: ctx.rejects,
        tables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(id: &str, bytes: &[u8]) -> CheckReport {
        let decl = renkei_catalog::builtin(id).unwrap();
        let tokens = ephemeral_tokens().unwrap();
        check(&decl, Masters::embedded(), &tokens, &[("f", bytes)]).unwrap()
    }

    #[test]
    fn a_good_file_passes_and_a_bad_line_is_named() {
        let world = tempfile::tempdir().unwrap();
        renkei_synth::generate(&renkei_synth::Config::new(200, 3, world.path()), &|_| {}).unwrap();
        let dir = world.path().join("deaths");
        let file = std::fs::read_dir(&dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bytes = std::fs::read(&file).unwrap();
        let good = run("deaths", &bytes);
        assert!(good.rows_in > 0);
        assert_eq!(good.rows_rejected, 0);
        bytes.extend_from_slice(b"not,a,death,record\n");
        let bad = run("deaths", &bytes);
        assert_eq!(bad.rows_rejected, 1);
        assert_eq!(bad.rejects[0].line, good.rows_in + 2, "header + rows + 1");
    }

    /// A UKE receipt with a KO record, as (file bytes decoded, the receipt's lines).
    fn receipt_with_public_expense() -> (String, Vec<String>) {
        let world = tempfile::tempdir().unwrap();
        renkei_synth::generate(&renkei_synth::Config::new(600, 5, world.path()), &|_| {}).unwrap();
        for (_, bytes) in super::round_trip::read_dir(&world.path().join("ndb/uke"), "**/*.UKE") {
            let text = encoding_rs::SHIFT_JIS.decode(&bytes).0.into_owned();
            let lines: Vec<&str> = text.split("\r\n").collect();
            let Some(ko) = lines.iter().position(|l| l.starts_with("KO,")) else {
                continue;
            };
            let start = (0..ko)
                .rev()
                .find(|i| lines[*i].starts_with("RE,"))
                .unwrap();
            let end = (ko..lines.len())
                .find(|i| lines[*i].starts_with("RE,") || lines[*i].starts_with("GO,"))
                .unwrap();
            let receipt = lines[start..end].iter().map(|l| l.to_string()).collect();
            return (text, receipt);
        }
        panic!("the generator writes KO records for some dementia outpatients");
    }

    fn uke(text: &str) -> Vec<u8> {
        encoding_rs::SHIFT_JIS.encode(text).0.into_owned()
    }

    fn rows(r: &CheckReport, table: &str) -> u64 {
        r.tables.iter().find(|t| t.name == table).unwrap().rows
    }

    #[test]
    fn public_expense_only_receipts_stand_and_payerless_ones_store_nothing() {
        let (text, receipt) = receipt_with_public_expense();
        let good = run("ndb_claims", &uke(&text));
        assert_eq!(good.rows_rejected, 0, "{:?}", good.rejects);
        let ho = receipt.iter().find(|l| l.starts_with("HO,")).unwrap();
        let ko = receipt.iter().find(|l| l.starts_with("KO,")).unwrap();
        // 公費単独: no HO, only KO. The receipt and all its rows stand.
        let kohi_only = text.replacen(&format!("{ho}\r\n"), "", 1);
        let r = run("ndb_claims", &uke(&kohi_only));
        assert_eq!(r.rows_rejected, 0, "{:?}", r.rejects);
        assert_eq!(rows(&r, "receipts"), rows(&good, "receipts"));
        assert_eq!(rows(&r, "diagnoses"), rows(&good, "diagnoses"));
        let id1 = r
            .tables
            .iter()
            .find(|t| t.name == "receipts")
            .unwrap()
            .columns
            .iter()
            .find(|c| c.name == "id1")
            .unwrap();
        assert_eq!(id1.missing, 1, "no insurer number, no ID1");
        // Neither HO nor KO: the receipt is refused, and none of its rows are stored.
        let payerless = kohi_only.replacen(&format!("{ko}\r\n"), "", 1);
        let r = run("ndb_claims", &uke(&payerless));
        let sy = receipt.iter().filter(|l| l.starts_with("SY,")).count() as u64;
        assert!(sy > 0);
        assert_eq!(rows(&r, "receipts"), rows(&good, "receipts") - 1);
        assert_eq!(rows(&r, "diagnoses"), rows(&good, "diagnoses") - sy);
        assert!(r.rows_rejected > sy, "the receipt line and its records");
        assert!(
            r.rejects
                .iter()
                .any(|j| j.field == "RE" && j.reason.contains("public-expense")),
            "{:?}",
            r.rejects
        );
    }

    #[test]
    fn dpc_billing_records_are_read_past_and_odd_record_types_not_echoed() {
        let (text, receipt) = receipt_with_public_expense();
        let ko = receipt.iter().find(|l| l.starts_with("KO,")).unwrap();
        let extra = format!(
            "{ko}\r\nKK,1,2\r\nGA,0\r\nGT,202504\r\nCD,20250401,111000110,1,1\r\nヤマダ タロウ,1950\r\n"
        );
        let r = run(
            "ndb_claims",
            &uke(&text.replacen(&format!("{ko}\r\n"), &extra, 1)),
        );
        let odd: Vec<_> = r
            .rejects
            .iter()
            .map(|j| (j.field.as_str(), j.reason.as_str()))
            .collect();
        assert_eq!(odd, vec![("(not a record type)", "unknown record type")]);
        assert!(!format!("{:?}", r.rejects).contains("ヤマダ"));
    }

    proptest! {
        // Whatever the bytes, every reader answers with rows and rejects, never a panic
        // or an error: a malformed file is the data's problem, reported line by line.
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn readers_never_fail_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..600),
                                         which in 0usize..6) {
            let id = ["ndb_claims", "ndb_checkups", "dpc", "ltc", "ehr", "deaths"][which];
            let decl = renkei_catalog::builtin(id).unwrap();
            let tokens = ephemeral_tokens().unwrap();
            let r = check(&decl, Masters::embedded(), &tokens, &[("f.txt", &bytes)]);
            prop_assert!(r.is_ok(), "{id}: {r:?}");
        }
    }
}

#[cfg(test)]
mod round_trip {
    use super::*;
    use proptest::prelude::*;
    use std::path::Path;

    pub(super) fn read_dir(d: &Path, pattern: &str) -> Vec<(String, Vec<u8>)> {
        crate::matching_files(d, pattern)
            .unwrap()
            .into_iter()
            .map(|f| {
                let bytes = std::fs::read(d.join(&f)).unwrap();
                (f.to_string_lossy().replace('\\', "/"), bytes)
            })
            .collect()
    }

    proptest! {
        // Any world the generator makes, the readers take whole: no rejects, and each
        // table holds exactly the records the generator counted.
        #![proptest_config(ProptestConfig::with_cases(6))]
        #[test]
        fn generator_to_ingest(persons in 20u64..400, seed in any::<u64>()) {
            let dir = tempfile::tempdir().unwrap();
            let summary = renkei_synth::generate(
                &renkei_synth::Config::new(persons, seed, dir.path()), &|_| {}).unwrap();
            let c = |k: &str| summary.counts.get(k).copied().unwrap_or(0);
            let tokens = ephemeral_tokens().unwrap();
            let expect: [(&str, &str, &str, u64); 8] = [
                ("ndb_claims", "ndb/uke", "materials", c("uke_to_rows")),
                ("ndb_claims", "ndb/uke", "receipts",
                    c("uke_ika_receipts") + c("uke_dpc_receipts") + c("uke_chozai_receipts")),
                ("ndb_checkups", "checkups", "results", c("checkup_rows")),
                ("dpc", "dpc", "acts", c("dpc_ef_rows")),
                ("ltc", "ltc", "claims", c("ltc_claim_rows")),
                ("ehr", "ehr", "patients", c("ehr_patients")),
                ("deaths", "deaths", "deaths", c("deaths")),
                ("cancer_registry", "registry", "registrations", c("registry_rows")),
            ];
            for (id, sub, table, n) in expect {
                let decl = match renkei_catalog::builtin(id) {
                    Some(d) => d,
                    None => renkei_catalog::Declaration::parse(
                        &std::fs::read_to_string(dir.path().join("registry/schema.toml")).unwrap(),
                    ).unwrap(),
                };
                let files = read_dir(&dir.path().join(sub), &decl.dataset.files);
                if files.is_empty() {
                    prop_assert_eq!(n, 0, "{} has records but no files", id);
                    continue;
                }
                let refs: Vec<(&str, &[u8])> =
                    files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
                let r = check(&decl, Masters::embedded(), &tokens, &refs).unwrap();
                prop_assert_eq!(r.rows_rejected, 0, "{}: {:?}", id, r.rejects.first());
                let rows = r.tables.iter().find(|t| t.name == table).map_or(0, |t| t.rows);
                prop_assert_eq!(rows, n, "{}.{}", id, table);
            }
        }
    }
}
