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
    check_in_blocks(decl, masters, tokens, files, readers::BLOCK)
}

/// [`check`], with files cut into blocks of `block` bytes.
fn check_in_blocks(
    decl: &Declaration,
    masters: &Masters,
    tokens: &Tokens,
    files: &[(&str, &[u8])],
    block: usize,
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
    ctx.block = block;
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

    /// Two values that once panicked a reader by slicing a byte offset inside a
    /// multibyte character (aborting the whole load and printing the value): a DPC
    /// receipt's CZ date `あ1`, and a patient identifier system `…1あ234567`. Each is now
    /// a record's problem, and the value is not echoed.
    #[test]
    fn multibyte_values_do_not_panic_a_reader() {
        let world = tempfile::tempdir().unwrap();
        renkei_synth::generate(&renkei_synth::Config::new(600, 7, world.path()), &|_| {}).unwrap();
        let (_, bytes) = super::round_trip::read_dir(&world.path().join("ndb/uke"), "**/*.UKE")
            .into_iter()
            .find(|(_, b)| encoding_rs::SHIFT_JIS.decode(b).0.contains("\r\nCZ,"))
            .expect("the generator writes DPC receipts with CZ records");
        let text = encoding_rs::SHIFT_JIS.decode(&bytes).0.into_owned();
        let bad: String = text
            .split("\r\n")
            .map(|l| {
                if l.starts_with("CZ,") {
                    let mut f: Vec<&str> = l.split(',').collect();
                    f[3] = "あ1";
                    f.join(",")
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\r\n");
        let r = run("ndb_claims", &uke(&bad));
        assert!(r.rows_in > 0);
        assert!(!format!("{:?}", r.rejects).contains("あ1"));

        let (_, bytes) = super::round_trip::read_dir(&world.path().join("ehr"), "**/*.ndjson")
            .into_iter()
            .next()
            .expect("EHR bundles");
        let text = String::from_utf8(bytes).unwrap();
        let prefix = "urn:oid:1.2.392.100495.20.3.51.1";
        let at = text.find(prefix).expect("a hospital patient id") + prefix.len();
        let bad = format!("{}1あ234567{}", &text[..at], &text[at + 10..]);
        let r = run("ehr", bad.as_bytes());
        assert!(
            r.rejects.iter().any(|j| j.field == "Patient.identifier"),
            "{:?}",
            r.rejects
        );
        assert!(!format!("{:?}", r.rejects).contains("あ234567"));
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

    /// Real-shaped files, once per process: every builtin dataset's files from a small
    /// generated world, and the official sample receipt.
    fn corpus() -> &'static Vec<(&'static str, String, Vec<u8>)> {
        static C: std::sync::OnceLock<Vec<(&'static str, String, Vec<u8>)>> =
            std::sync::OnceLock::new();
        C.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            renkei_synth::generate(&renkei_synth::Config::new(80, 11, dir.path()), &|_| {})
                .unwrap();
            let mut out = Vec::new();
            for (id, sub) in [
                ("ndb_claims", "ndb/uke"),
                ("ndb_checkups", "checkups"),
                ("dpc", "dpc"),
                ("ltc", "ltc"),
                ("ehr", "ehr"),
                ("deaths", "deaths"),
            ] {
                let decl = renkei_catalog::builtin(id).unwrap();
                for (name, bytes) in read_dir(&dir.path().join(sub), &decl.dataset.files)
                    .into_iter()
                    .take(2)
                {
                    out.push((id, name, bytes));
                }
            }
            let official = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/official/receipts");
            for (name, bytes) in read_dir(&official, "*.UKE") {
                out.push(("ndb_claims", name, bytes));
            }
            out
        })
    }

    /// A garbage line in the middle of a file, where a reader must reject it.
    fn with_garbage(bytes: &[u8]) -> Vec<u8> {
        let mid = bytes.len() / 2;
        let at = bytes[mid..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |i| mid + i + 1);
        let mut out = bytes[..at].to_vec();
        out.extend_from_slice(b"ZZ,\"garbage\n,1\n");
        out.extend_from_slice(&bytes[at..]);
        out
    }

    /// A file read in blocks of any size reads exactly as when read whole: the same
    /// rows and profiles, the same rejects on the same lines. Each file also comes
    /// with a garbage line in its middle, so there are rejects to place.
    #[test]
    fn blocks_of_any_size_read_as_the_whole_file() {
        let mut by_id: std::collections::BTreeMap<&str, Vec<(String, Vec<u8>)>> =
            Default::default();
        for (id, name, bytes) in corpus() {
            let files = by_id.entry(id).or_default();
            files.push((name.clone(), bytes.clone()));
            files.push((format!("x/{name}"), with_garbage(bytes)));
        }
        let tokens = ephemeral_tokens().unwrap();
        for (id, files) in &by_id {
            let decl = renkei_catalog::builtin(id).unwrap();
            let files: Vec<(&str, &[u8])> = files
                .iter()
                .map(|(n, b)| (n.as_str(), b.as_slice()))
                .collect();
            let whole =
                check_in_blocks(&decl, Masters::embedded(), &tokens, &files, usize::MAX / 2)
                    .unwrap();
            assert!(whole.rows_rejected > 0, "{id}: the garbage is rejected");
            // Every reader accounts for its records by type, the garbage included.
            let sum = |f: fn(&RecordTally) -> u64| whole.records.iter().map(f).sum::<u64>();
            assert!(sum(|t| t.stored) > 0, "{id}: {:?}", whole.records);
            assert!(
                sum(|t| t.rejected) > 0 && sum(|t| t.rejected) <= whole.rows_rejected,
                "{id}: {:?}",
                whole.records
            );
            for t in &whole.records {
                assert!(t.stored + t.rejected <= t.read, "{id}: {t:?}");
            }
            for block in [1, 97, 4096] {
                let r =
                    check_in_blocks(&decl, Masters::embedded(), &tokens, &files, block).unwrap();
                assert_eq!(r.rejects, whole.rejects, "{id} in blocks of {block}");
                assert_eq!(r.rows_in, whole.rows_in, "{id} in blocks of {block}");
                assert_eq!(
                    r.rows_rejected, whole.rows_rejected,
                    "{id} in blocks of {block}"
                );
                assert_eq!(r.records, whole.records, "{id} in blocks of {block}");
                assert_eq!(r.tables, whole.tables, "{id} in blocks of {block}");
            }
        }
    }

    /// A declared CSV with a quoted field that spans lines is cut only between
    /// records, whatever the block size: every record is read, and a reject names the
    /// line the custodian's editor shows.
    #[test]
    fn quoted_newlines_are_never_cut() {
        let decl = Declaration::parse(
            r#"
[dataset]
id = "notes"
kind = "private"
coverage = "event"
linkage = ["id2"]
name_ja = "メモ"
name_en = "Notes"
description_ja = "試験用"
description_en = "For a test"
holder_ja = "試験"
holder_en = "Test"
format = "csv"
encoding = "utf-8"
files = "*.csv"

[dataset.safety]
organisational = "x"
organisational_en = "x"
physical = "x"
physical_en = "x"
technical = "x"
technical_en = "x"
human = "x"
human_en = "x"

[[table]]
name = "notes"
name_ja = "メモ"
name_en = "Notes"

[[table.columns]]
name = "id"
type = "int"
label_ja = "番号"
label_en = "Number"

[[table.columns]]
name = "kana"
type = "text"
role = "kana_name"

[[table.columns]]
name = "birth"
type = "date"
role = "birth_date"

[[table.columns]]
name = "sex"
type = "code"
role = "sex"
codes = ["1", "2"]
label_ja = "性別"
label_en = "Sex"

[[table.columns]]
name = "note"
type = "free_text"
free_text_reason = "the holder's own remarks, screened"
label_ja = "メモ"
label_en = "Note"
"#,
        )
        .unwrap();
        let csv = "id,kana,birth,sex,note\n1,ヤマダ タロウ,1980-01-02,1,\"first\nsecond, \"\"quoted\"\"\"\n2,スズキ ハナコ,1975-03-04,2,plain\nnot-a-number,スズキ ハナコ,1975-03-04,2,x\n3,タナカ ジロウ,1990-05-06,1,\"a\n\nb\"\n";
        let tokens = ephemeral_tokens().unwrap();
        let whole = check_in_blocks(
            &decl,
            Masters::embedded(),
            &tokens,
            &[("a.csv", csv.as_bytes())],
            usize::MAX / 2,
        )
        .unwrap();
        assert_eq!(whole.rows_in, 4);
        assert_eq!(whole.rejects.len(), 1);
        assert_eq!(whole.rejects[0].line, 5, "{:?}", whole.rejects);
        for block in 1..csv.len() + 1 {
            let r = check_in_blocks(
                &decl,
                Masters::embedded(),
                &tokens,
                &[("a.csv", csv.as_bytes())],
                block,
            )
            .unwrap();
            assert_eq!(r.rejects, whole.rejects, "blocks of {block}");
            assert_eq!(r.tables, whole.tables, "blocks of {block}");
        }
    }

    /// Values that have broken readers elsewhere: multibyte characters where digits
    /// belong (byte slicing), full-width digits, emoji (outside CP932), empty, long,
    /// signs, quotes, a field separator's look-alikes.
    fn nasty() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("あ1".to_owned()),
            Just("1あ234567".to_owned()),
            Just("１２３４".to_owned()),
            Just("😀".to_owned()),
            Just(String::new()),
            Just("9".repeat(40)),
            Just("-1".to_owned()),
            Just("\"".to_owned()),
            Just("R07あ".to_owned()),
            "[0-9あ漢ｱ\\-/.: ]{0,12}",
        ]
    }

    fn decode(name: &str, bytes: &[u8]) -> (bool, String) {
        let sjis = name.to_ascii_uppercase().ends_with(".UKE");
        let text = if sjis {
            encoding_rs::SHIFT_JIS.decode(bytes).0.into_owned()
        } else {
            String::from_utf8_lossy(bytes).into_owned()
        };
        (sjis, text)
    }

    /// The lines of `text` by kind of record (a UKE record type, a CSV's first field, a
    /// FHIR resource type), kinds in a fixed order.
    fn groups(lines: &[String]) -> Vec<Vec<usize>> {
        let kind = |l: &str| -> String {
            if let Some(at) = l.find("\"resourceType\":\"") {
                l[at..].chars().take(40).collect()
            } else {
                l.split(',').next().unwrap_or("").chars().take(4).collect()
            }
        };
        let mut groups: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
        for (k, l) in lines.iter().enumerate() {
            groups.entry(kind(l)).or_default().push(k);
        }
        groups.into_values().collect()
    }

    fn json_strings(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::String(_) => 1,
            serde_json::Value::Array(a) => a.iter().map(json_strings).sum(),
            serde_json::Value::Object(o) => o.values().map(json_strings).sum(),
            _ => 0,
        }
    }

    /// For each kind of record, how many fields its first line has.
    fn kinds_of(name: &str, bytes: &[u8]) -> Vec<usize> {
        let (_, text) = decode(name, bytes);
        let sep = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let lines: Vec<String> = text.split(sep).map(str::to_owned).collect();
        groups(&lines)
            .iter()
            .map(|g| {
                let l = &lines[g[0]];
                if name.ends_with(".ndjson") {
                    serde_json::from_str(l).map_or(0, |v| json_strings(&v))
                } else {
                    l.split(',').count()
                }
            })
            .collect()
    }

    /// One field of one line replaced: in CSV-like files a comma-separated field, in
    /// NDJSON a string value anywhere in the resource. `line` picks the kind of record
    /// first, then a line of it: rare records are hit as often as common ones.
    fn mutate(name: &str, bytes: &[u8], line: usize, field: usize, value: &str) -> Vec<u8> {
        let (sjis, text) = decode(name, bytes);
        let sep = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let mut lines: Vec<String> = text.split(sep).map(str::to_owned).collect();
        let group = groups(&lines);
        let members = &group[line % group.len()];
        let i = members[(line / group.len()) % members.len()];
        if name.ends_with(".ndjson") {
            if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&lines[i]) {
                fn replace(v: &mut serde_json::Value, n: &mut usize, value: &str) {
                    match v {
                        serde_json::Value::String(s) => {
                            if *n == 0 {
                                *s = value.to_owned();
                            }
                            *n = n.wrapping_sub(1);
                        }
                        serde_json::Value::Array(a) => {
                            a.iter_mut().for_each(|x| replace(x, n, value));
                        }
                        serde_json::Value::Object(o) => {
                            o.values_mut().for_each(|x| replace(x, n, value));
                        }
                        _ => {}
                    }
                }
                let strings = json_strings(&v);
                if strings > 0 {
                    replace(&mut v, &mut (field % strings), value);
                    lines[i] = v.to_string();
                }
            }
        } else {
            let mut f: Vec<String> = lines[i].split(',').map(str::to_owned).collect();
            let j = field % f.len();
            f[j] = value.to_owned();
            lines[i] = f.join(",");
        }
        let out = lines.join(sep);
        if sjis {
            encoding_rs::SHIFT_JIS.encode(&out).0.into_owned()
        } else {
            out.into_bytes()
        }
    }

    /// The sweep: in every kind of record of every real-shaped file, every field in
    /// turn made multibyte where digits belong, full-width, or outside CP932. A reader
    /// that slices by byte offsets, or trusts a field's length, panics here.
    #[test]
    fn every_field_of_every_record_kind_survives_multibyte_values() {
        let started = std::time::Instant::now();
        let mut checks = 0u64;
        for (id, name, bytes) in corpus() {
            let decl = renkei_catalog::builtin(id).unwrap();
            let tokens = ephemeral_tokens().unwrap();
            let kinds = kinds_of(name, bytes);
            for (group, fields) in kinds.iter().enumerate() {
                for field in 0..*fields {
                    for value in ["あ1", "1あ234567", "１２３４", "😀"] {
                        let bad = mutate(name, bytes, group, field, value);
                        let r = check(
                            &decl,
                            Masters::embedded(),
                            &tokens,
                            &[(name.as_str(), &bad)],
                        );
                        assert!(
                            r.is_ok(),
                            "{id} {name} kind {group} field {field} {value:?}: {:?}",
                            r.err()
                        );
                        checks += 1;
                    }
                }
            }
        }
        eprintln!("{checks} mutated files read in {:?}", started.elapsed());
    }

    proptest! {
        // Real-shaped records with one field made nasty: every reader still answers
        // with rows and rejects, never a panic, and never an error.
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn one_nasty_field_never_breaks_a_reader(
            which in any::<prop::sample::Index>(),
            line in any::<usize>(),
            field in any::<usize>(),
            value in nasty(),
        ) {
            let corpus = corpus();
            let (id, name, bytes) = &corpus[which.index(corpus.len())];
            let bad = mutate(name, bytes, line, field, &value);
            let decl = renkei_catalog::builtin(id).unwrap();
            let tokens = ephemeral_tokens().unwrap();
            let r = check(&decl, Masters::embedded(), &tokens, &[(name.as_str(), &bad)]);
            prop_assert!(r.is_ok(), "{}: {:?}", id, r.err());
        }
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
