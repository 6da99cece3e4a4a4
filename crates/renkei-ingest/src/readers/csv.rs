//! CSV or Parquet files with a declared schema (D3/D7): a private database joins by
//! declaration. Columns are found by name (the CSV header, or the Parquet schema);
//! identifying columns (by role) become tokens, `birth_ym` and `postal3`, and are not
//! stored.

use crate::IngestError;
use crate::ctx::{ReadCtx, birth_ym};
use renkei_catalog::{ColType, ColumnDecl, ColumnRole, Declaration};

/// Reads declared CSV files into the dataset's (first) table.
pub struct DeclaredCsvReader {
    source: Vec<ColumnDecl>,
    table: usize,
    stored: Vec<(usize, usize)>,
    birth_ym_col: Option<usize>,
    postal_col: Option<usize>,
    token_cols: Vec<(String, usize)>,
    /// Record keys are tokenized under this namespace (the dataset).
    key_space: String,
    cp932: bool,
    parquet: bool,
    /// Where the declared columns are in the current file (from its header row, read
    /// with the file's first block).
    pos: Option<Vec<usize>>,
}

fn parse_value(ty: ColType, s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Ok(());
    }
    match ty {
        ColType::Int => s
            .parse::<i64>()
            .map(|_| ())
            .map_err(|_| "not a whole number"),
        ColType::Float => s.parse::<f64>().map(|_| ()).map_err(|_| "not a number"),
        ColType::Date => renkei_core::wareki::parse_any(s)
            .map(|_| ())
            .ok_or("not a date"),
        ColType::Bool => {
            if matches!(s, "0" | "1" | "true" | "false") {
                Ok(())
            } else {
                Err("not a boolean")
            }
        }
        _ => Ok(()),
    }
}

/// Whether a declared column holds ICD-10 codes (checked against the master).
fn is_icd10(c: &ColumnDecl) -> bool {
    c.code_system.as_deref().is_some_and(|s| {
        let s = s.to_ascii_lowercase().replace(['-', ' '], "");
        s == "icd10" || s.starts_with("icd10(")
    })
}

impl DeclaredCsvReader {
    /// A reader for a declaration.
    pub fn new(d: &Declaration, ctx: &ReadCtx) -> Result<Self, IngestError> {
        let src = d
            .tables
            .first()
            .ok_or_else(|| IngestError::Schema("no table declared".into()))?;
        let table = ctx.table(&src.name)?;
        let sink = &ctx.tables[table];
        let mut stored = Vec::new();
        let (mut birth_ym_col, mut postal_col) = (None, None);
        for (i, c) in src.columns.iter().enumerate() {
            match c.role {
                Some(r) if r.is_dropped() => {}
                Some(ColumnRole::BirthDate) => birth_ym_col = Some(sink.col("birth_ym")?),
                Some(ColumnRole::PostalCode) => {
                    postal_col = Some(sink.col(c.store_as.as_deref().unwrap_or("postal3"))?)
                }
                _ => stored.push((i, sink.col(c.stored_name())?)),
            }
        }
        let token_cols = d
            .dataset
            .linkage
            .iter()
            .map(|l| Ok((l.clone(), sink.col(l)?)))
            .collect::<Result<_, IngestError>>()?;
        Ok(Self {
            source: src.columns.clone(),
            table,
            stored,
            birth_ym_col,
            postal_col,
            token_cols,
            key_space: format!("ds:{}", d.dataset.id),
            parquet: d.dataset.format == "parquet",
            pos: None,
            cp932: d.dataset.encoding.as_deref().is_some_and(|e| {
                e.eq_ignore_ascii_case("cp932") || e.eq_ignore_ascii_case("shift_jis")
            }),
        })
    }

    /// Reads one file: CSV (RFC 4180: quoted fields, CRLF, a header row), or Parquet
    /// when the declaration says `format = "parquet"`.
    ///
    /// A CSV file comes in blocks cut between records (`first`: the one with the
    /// header row).
    pub fn read(
        &mut self,
        ctx: &mut ReadCtx,
        bytes: &[u8],
        first: bool,
    ) -> Result<(), IngestError> {
        if self.parquet {
            return self.read_parquet(ctx, bytes);
        }
        let text = if self.cp932 {
            match crate::ctx::decode_cp932(bytes) {
                Some(t) => t.into_owned(),
                None => {
                    ctx.reject_file(bytes, "not CP932 text");
                    return Ok(());
                }
            }
        } else {
            match std::str::from_utf8(bytes) {
                Ok(t) if first => t.trim_start_matches('\u{feff}').to_owned(),
                Ok(t) => t.to_owned(),
                Err(_) => {
                    ctx.reject_file(bytes, "not UTF-8 text");
                    return Ok(());
                }
            }
        };
        let mut rdr = ::csv::ReaderBuilder::new()
            .flexible(true)
            .trim(::csv::Trim::All)
            .has_headers(first)
            .from_reader(text.as_bytes());
        if first {
            self.pos = None;
            let header: Vec<String> = match rdr.headers() {
                Ok(h) => h.iter().map(str::to_owned).collect(),
                Err(_) => {
                    ctx.reject_file(bytes, "no CSV header row");
                    return Ok(());
                }
            };
            let Some(pos) = self.positions(ctx, bytes, &header) else {
                return Ok(());
            };
            self.pos = Some(pos);
        }
        let Some(pos) = self.pos.take() else {
            return Ok(());
        };
        // The csv crate counts records, not newlines inside quoted fields; a custodian
        // looks a reject up by the line their editor shows, so count physical lines.
        let newlines: Vec<u64> = memchr::memchr_iter(b'\n', text.as_bytes())
            .map(|i| i as u64)
            .collect();
        // After a CR the crate's offset points at the LF that completes the CRLF.
        let bytes_of_text = text.as_bytes();
        let line_of = |byte: u64| {
            let at = if bytes_of_text.get(byte as usize) == Some(&b'\n') {
                byte + 1
            } else {
                byte
            };
            newlines.partition_point(|&o| o < at) as u64 + 1
        };
        let mut rec = ::csv::StringRecord::new();
        loop {
            let line = line_of(rdr.position().byte());
            match rdr.read_record(&mut rec) {
                Ok(false) => break,
                Ok(true) => {
                    if rec.iter().all(str::is_empty) {
                        continue;
                    }
                    let ln = rec.position().map_or(line, |p| line_of(p.byte()));
                    let vals: Vec<&str> = pos.iter().map(|p| rec.get(*p).unwrap_or("")).collect();
                    self.row(ctx, ln, &vals)?;
                }
                Err(e) => {
                    ctx.rows_in += 1;
                    ctx.record(self.kind());
                    let ln = e.position().map_or(line, |p| line_of(p.byte()));
                    ctx.reject(ln, "CSV", "malformed record (quotes or encoding)");
                }
            }
        }
        self.pos = Some(pos);
        Ok(())
    }

    /// The record type tallied: a row of the file.
    fn kind(&self) -> &'static str {
        if self.parquet { "Parquet" } else { "CSV" }
    }

    /// Whether files are Parquet (read whole) rather than CSV (read in blocks).
    pub fn is_parquet(&self) -> bool {
        self.parquet
    }

    /// Where each declared column is in the file's columns; a missing one rejects the
    /// file.
    fn positions(&self, ctx: &mut ReadCtx, bytes: &[u8], names: &[String]) -> Option<Vec<usize>> {
        let mut pos = Vec::new();
        for c in &self.source {
            match names.iter().position(|h| *h == c.name) {
                Some(p) => pos.push(p),
                None => {
                    ctx.reject_file(
                        bytes,
                        &format!("declared column {:?} is not in the file", c.name),
                    );
                    return None;
                }
            }
        }
        Some(pos)
    }

    /// A holder's Parquet file (not encrypted): columns by name, every value read as
    /// text and then validated exactly as a CSV cell would be.
    fn read_parquet(&mut self, ctx: &mut ReadCtx, bytes: &[u8]) -> Result<(), IngestError> {
        use arrow_array::Array as _;
        use arrow_array::RecordBatchReader as _;
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let builder =
            match ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes)) {
                Ok(b) => b,
                Err(_) => {
                    ctx.reject_file(bytes, "not a readable Parquet file");
                    return Ok(());
                }
            };
        // A column chunk that says it expands past the limit is refused before any
        // page is decompressed.
        if let Some(why) = parquet_too_large(builder.metadata()) {
            ctx.reject_file(bytes, why);
            return Ok(());
        }
        let reader = match builder.with_batch_size(8192).build() {
            Ok(r) => r,
            Err(_) => {
                ctx.reject_file(bytes, "not a readable Parquet file");
                return Ok(());
            }
        };
        let names: Vec<String> = reader
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let Some(pos) = self.positions(ctx, bytes, &names) else {
            return Ok(());
        };
        let mut ln = 0u64;
        for batch in reader {
            let batch = match batch {
                Ok(b) => b,
                Err(_) => {
                    ctx.rows_in += 1;
                    ctx.record(self.kind());
                    ctx.reject(ln + 1, "Parquet", "unreadable row group");
                    return Ok(());
                }
            };
            let mut cols = Vec::new();
            for p in &pos {
                let text = arrow_cast::cast(batch.column(*p), &arrow_schema::DataType::Utf8)
                    .map_err(|e| IngestError::Schema(e.to_string()))?;
                cols.push(text);
            }
            let cols: Vec<&arrow_array::StringArray> = cols
                .iter()
                .filter_map(|a| a.as_any().downcast_ref::<arrow_array::StringArray>())
                .collect();
            for r in 0..batch.num_rows() {
                ln += 1;
                let vals: Vec<&str> = cols
                    .iter()
                    .map(|c| if c.is_null(r) { "" } else { c.value(r).trim() })
                    .collect();
                self.row(ctx, ln, &vals)?;
            }
        }
        Ok(())
    }

    /// One record: `vals` in declared column order.
    fn row(&mut self, ctx: &mut ReadCtx, ln: u64, vals: &[&str]) -> Result<(), IngestError> {
        ctx.rows_in += 1;
        ctx.record(self.kind());
        let get = |i: usize| vals.get(i).copied().unwrap_or("");
        let (mut kana, mut kanji, mut birth, mut sex) = (None, None, None, None);
        let (mut insurer, mut symbol, mut number) = ("", "", "");
        let mut problem = None;
        for (i, c) in self.source.iter().enumerate() {
            let v = get(i);
            match c.role {
                Some(ColumnRole::KanaName) => kana = Some(v),
                Some(ColumnRole::KanjiName) => kanji = Some(v),
                Some(ColumnRole::BirthDate) => match renkei_core::wareki::parse_any(v) {
                    Some(d) => birth = Some(d),
                    None => problem = Some((c.name.clone(), "not a date")),
                },
                Some(ColumnRole::Sex) => sex = Some(v),
                Some(ColumnRole::InsurerNumber) => insurer = v,
                Some(ColumnRole::InsuredSymbol) => symbol = v,
                Some(ColumnRole::InsuredNumber) => number = v,
                _ => {}
            }
            if problem.is_none() {
                if !c.codes.is_empty() && !v.is_empty() && !c.codes.iter().any(|x| x == v) {
                    problem = Some((c.name.clone(), "not one of the declared codes"));
                } else if let Err(why) = parse_value(c.ty, v) {
                    problem = Some((c.name.clone(), why));
                } else if !v.is_empty() && is_icd10(c) && !ctx.masters.icd10_known(v) {
                    problem = Some((c.name.clone(), "not in the ICD-10 master"));
                }
            }
            if problem.is_some() {
                break;
            }
        }
        if let Some((field, why)) = problem {
            ctx.reject(ln, &field, why);
            return Ok(());
        }
        let mut covered = Vec::new();
        let t = &mut ctx.tables[self.table];
        for (src, dst) in &self.stored {
            let v = get(*src);
            let c = &self.source[*src];
            match c.ty {
                ColType::Int => t.int(*dst, v.parse().ok()),
                ColType::Float => t.float(*dst, v.parse().ok()),
                ColType::Date => {
                    let d = renkei_core::wareki::parse_any(v);
                    t.date(*dst, d);
                    if let Some(d) = d {
                        covered.push(d);
                    }
                }
                ColType::Bool => t.boolean(
                    *dst,
                    if v.is_empty() {
                        None
                    } else {
                        Some(v == "1" || v == "true")
                    },
                ),
                _ if c.role == Some(ColumnRole::RecordKey) => {
                    let token = ctx.tokens.facility_patient(&self.key_space, v);
                    t.token(*dst, token);
                }
                // People's text: screened, identifying spans masked and counted.
                ColType::Text | ColType::FreeText if c.role.is_none() => {
                    let names: Vec<&str> = kana.iter().chain(kanji.iter()).copied().collect();
                    let (screened, hits) = crate::screen::screen(v, &names);
                    t.text(*dst, Some(&screened));
                    if hits > 0 {
                        t.masked(*dst);
                    }
                }
                _ => t.text(*dst, Some(v)),
            }
        }
        if let (Some(col), Some(b)) = (self.birth_ym_col, birth) {
            t.text(col, Some(&birth_ym(b)));
        }
        if let Some(col) = self.postal_col {
            let p = self
                .source
                .iter()
                .position(|c| c.role == Some(ColumnRole::PostalCode))
                .map(get)
                .unwrap_or("");
            t.text(
                col,
                Some(
                    &p.chars()
                        .filter(char::is_ascii_digit)
                        .take(3)
                        .collect::<String>(),
                ),
            );
        }
        for (family, col) in &self.token_cols {
            let tok = match (family.as_str(), birth, sex) {
                ("id2", Some(b), Some(s)) => kana.and_then(|k| ctx.tokens.id2(k, b, s)),
                ("kanji", Some(b), Some(s)) => kanji.and_then(|k| ctx.tokens.kanji(k, b, s)),
                ("id1", Some(b), Some(s)) if !number.is_empty() => {
                    ctx.tokens.id1(insurer, symbol, number, b, s)
                }
                _ => None,
            };
            ctx.tables[self.table].token(*col, tok);
        }
        for d in covered {
            ctx.cover(d);
        }
        ctx.tables[self.table].end_row()?;
        ctx.stored();
        Ok(())
    }
}

/// The most a Parquet column chunk may expand to (its rows are read 8,192 at a time,
/// but a page is decompressed whole).
const MAX_PARQUET_CHUNK: i64 = 512 << 20;

/// Why a Parquet file's declared sizes are refused, if they are.
fn parquet_too_large(meta: &parquet::file::metadata::ParquetMetaData) -> Option<&'static str> {
    for rg in meta.row_groups() {
        for c in rg.columns() {
            if c.uncompressed_size() > MAX_PARQUET_CHUNK || c.uncompressed_size() < 0 {
                return Some("a Parquet column chunk expands past 512 MiB");
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::check::{check, ephemeral_tokens};
    use renkei_catalog::Declaration;
    use renkei_masters::Masters;

    fn declaration(format: &str) -> Declaration {
        Declaration::parse(&declaration_text(format, r#"["id2"]"#, "")).unwrap()
    }

    /// A private registry's declaration; `extra` adds columns after `sex`.
    fn declaration_text(format: &str, linkage: &str, extra: &str) -> String {
        format!(
            r#"
[dataset]
id = "reg"
kind = "private"
format = "{format}"
files = "*.{format}"
name_ja = "登録"
name_en = "Registry"
description_ja = ""
description_en = ""
holder_ja = "保有者"
holder_en = "Holder"
linkage = {linkage}

[dataset.safety]
organisational = "o"
physical = "p"
technical = "t"
human = "h"

[[table]]
name = "rows"
name_ja = "行"
name_en = "Rows"
columns = [
  {{ name = "kana", type = "text", role = "kana_name" }},
  {{ name = "birth", type = "date", role = "birth_date" }},
  {{ name = "sex", type = "code", role = "sex", codes = ["1", "2"], label_ja = "性別", label_en = "Sex" }},
  {extra}
  {{ name = "note", type = "text", label_ja = "備考", label_en = "Note" }},
  {{ name = "stage", type = "int", label_ja = "病期", label_en = "Stage" }},
]
"#
        )
    }

    fn run(d: &Declaration, bytes: &[u8]) -> crate::check::CheckReport {
        let tokens = ephemeral_tokens().unwrap();
        check(d, Masters::embedded(), &tokens, &[("f", bytes)]).unwrap()
    }

    #[test]
    fn quoted_csv_fields_and_crlf() {
        let csv = "stage,kana,birth,sex,note\r\n\
                   2,ヤマダ タロウ,1950-04-01,1,\"Tokyo, \"\"east\"\" ward\"\r\n\
                   3,サトウ ハナコ,昭和30年5月6日,2,\"two\nlines\"\r\n\
                   x,スズキ,1960-01-01,1,bad stage\r\n\
                   1,タナカ,1970-01-01,3,bad sex\r\n";
        let r = run(&declaration("csv"), csv.as_bytes());
        assert_eq!(r.rows_in, 4);
        assert_eq!(r.tables[0].rows, 2, "{:?}", r.rejects);
        let lines: Vec<(u64, &str)> = r
            .rejects
            .iter()
            .map(|j| (j.line, j.field.as_str()))
            .collect();
        assert_eq!(
            lines,
            vec![(5, "stage"), (6, "sex")],
            "lines count the quoted newline"
        );
        let note = r.tables[0]
            .columns
            .iter()
            .find(|c| c.name == "note")
            .unwrap();
        assert_eq!(note.present, 2);
        assert!(
            r.tables[0]
                .columns
                .iter()
                .all(|c| c.name != "kana" && c.name != "birth")
        );
    }

    #[test]
    fn insurer_numbers_make_id1_and_other_identifiers_are_dropped() {
        let text = |linkage: &str, cards: bool| {
            let cards = if cards {
                r#"{ name = "insurer", type = "text", role = "insurer_number" },
  { name = "kigo", type = "text", role = "insured_symbol" },
  { name = "bango", type = "text", role = "insured_number" },"#
            } else {
                ""
            };
            let extra = format!(
                r#"{cards} {{ name = "address", type = "text", role = "direct_identifier" }},"#
            );
            declaration_text("csv", linkage, &extra)
        };
        let d = Declaration::parse(&text(r#"["id1", "id2"]"#, true)).unwrap();
        d.validate().unwrap();
        let csv = "kana,birth,sex,insurer,kigo,bango,address,note,stage\n\
                   ヤマダ タロウ,1950-04-01,1,06131234,１２３,４５６,東京都千代田区1-1,a,1\n\
                   サトウ ハナコ,1955-05-06,2,,,,大阪市北区2-2,b,2\n";
        let r = run(&d, csv.as_bytes());
        assert_eq!(r.tables[0].rows, 2, "{:?}", r.rejects);
        let names: Vec<&str> = r.tables[0]
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        for gone in ["insurer", "kigo", "bango", "address", "kana", "birth"] {
            assert!(!names.contains(&gone), "{gone} is not stored: {names:?}");
        }
        let id1 = r.tables[0]
            .columns
            .iter()
            .find(|c| c.name == "id1")
            .unwrap();
        assert_eq!(
            (id1.present, id1.missing),
            (1, 1),
            "ID1 where the card numbers are given"
        );
        // Without the number columns, id1 linkage is refused at declaration time.
        let err = Declaration::parse(&text(r#"["id1"]"#, false)).unwrap_err();
        assert!(err.to_string().contains("insurer_number"), "{err}");
    }

    #[test]
    fn a_missing_column_rejects_the_file() {
        let r = run(&declaration("csv"), b"kana,birth\nA,2000-01-01\n");
        assert_eq!(r.tables[0].rows, 0);
        assert!(r.rejects[0].reason.contains("\"sex\""), "{:?}", r.rejects);
    }

    #[test]
    fn parquet_from_a_holder() {
        use arrow_array::{ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray};
        use std::sync::Arc;
        let days = |y, m, d| {
            let date =
                time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d).unwrap();
            (date - time::Date::from_calendar_date(1970, time::Month::January, 1).unwrap())
                .whole_days() as i32
        };
        let cols: Vec<(&str, ArrayRef)> = vec![
            (
                "kana",
                Arc::new(StringArray::from(vec![
                    "ヤマダ タロウ",
                    "サトウ ハナコ",
                    "スズキ",
                ])),
            ),
            (
                "birth",
                Arc::new(Date32Array::from(vec![
                    Some(days(1950, 4, 1)),
                    Some(days(1955, 5, 6)),
                    None,
                ])),
            ),
            ("sex", Arc::new(StringArray::from(vec!["1", "2", "1"]))),
            (
                "note",
                Arc::new(StringArray::from(vec![Some("a, b"), None, Some("c")])),
            ),
            ("stage", Arc::new(Int64Array::from(vec![2, 3, 1]))),
        ];
        let batch = RecordBatch::try_from_iter(cols).unwrap();
        let mut buf = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let r = run(&declaration("parquet"), &buf);
        assert_eq!(r.rows_in, 3);
        assert_eq!(r.tables[0].rows, 2);
        assert_eq!(r.rejects.len(), 1, "a missing birth date is rejected");
        assert_eq!(
            (r.rejects[0].line, r.rejects[0].field.as_str()),
            (3, "birth")
        );
        let garbage = run(&declaration("parquet"), b"PAR1 not really");
        assert_eq!(garbage.rows_rejected, 1);
    }
}
