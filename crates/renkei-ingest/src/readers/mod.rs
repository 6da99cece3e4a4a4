//! One reader per source format. Each turns a file's records into rows of the dataset's
//! declared tables, rejecting (with file, line, field and reason) what it cannot accept.

mod csv;
mod dpc;
mod fhir;
mod simple;
mod uke;

pub use csv::DeclaredCsvReader;
pub use dpc::DpcReader;
pub use fhir::FhirReader;
pub use simple::{CheckupReader, DeathReader, LtcReader};
pub use uke::UkeReader;

use crate::IngestError;
use crate::ctx::ReadCtx;
use renkei_catalog::Declaration;

/// Bytes of a file read at once. A block ends where a record ends, so a reader reads
/// a file block by block with the same result as whole; memory follows the block.
pub const BLOCK: usize = 8 << 20;

/// The longest record a file read in blocks may hold.
pub const MAX_RECORD: usize = 64 << 20;

/// The most a file that must be read whole ([`Cut::Whole`]) may hold, whatever the
/// file size limit: its bytes and its decoded text are in memory at once, per thread.
pub const MAX_WHOLE_FILE: u64 = 2 << 30;

/// Where a format's files may be cut between blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Not at all: the reader needs the whole file (within the file size limit).
    Whole,
    /// After any line (one record per line: NDJSON).
    Line,
    /// After a line that ends outside quotes (RFC 4180 quoted fields may hold
    /// newlines).
    CsvRecord,
    /// Before a receipt (`RE`): a receipt's records stay in one block; the file's
    /// header record is carried over by the reader.
    BeforeReceipt,
}

/// Where the next block starts: just after the last place in `buf` that `cut` allows,
/// if there is one past the start.
pub(crate) fn cut_point(cut: Cut, buf: &[u8]) -> Option<usize> {
    match cut {
        Cut::Whole => None,
        Cut::Line => memchr::memrchr(b'\n', buf).map(|i| i + 1),
        Cut::CsvRecord => {
            // A quote toggles quoting (an escaped `""` toggles twice); a block always
            // starts outside quotes. A stray quote inside an unquoted field (not RFC
            // 4180, which the csv crate reads literally) shifts the count, so a later
            // cut may fall inside a quoted field of that malformed file, whose record
            // is then rejected in two halves.
            let mut quoted = false;
            let mut last = None;
            for i in memchr::memchr2_iter(b'"', b'\n', buf) {
                if buf[i] == b'"' {
                    quoted = !quoted;
                } else if !quoted {
                    last = Some(i + 1);
                }
            }
            last
        }
        Cut::BeforeReceipt => memchr::memmem::rfind(buf, b"\nRE,")
            .map(|i| i + 1)
            .filter(|&p| p > 0),
    }
}

/// Why a file could not be read.
#[derive(Debug)]
pub enum StreamError {
    /// Reading the source failed (or it passed the size limit).
    Io(std::io::Error),
    /// The reader failed.
    Ingest(IngestError),
}

impl From<std::io::Error> for StreamError {
    fn from(e: std::io::Error) -> Self {
        StreamError::Io(e)
    }
}

impl From<IngestError> for StreamError {
    fn from(e: IngestError) -> Self {
        StreamError::Ingest(e)
    }
}

/// A reader for some format.
pub enum Reader {
    /// UKE receipts.
    Uke(Box<UkeReader>),
    /// DPC 様式1 and EF.
    Dpc(DpcReader),
    /// 特定健診 CSV.
    Checkup(CheckupReader),
    /// 介護DB CSV.
    Ltc(LtcReader),
    /// FHIR NDJSON.
    Fhir(FhirReader),
    /// Death records CSV.
    Death(DeathReader),
    /// A CSV file with a declared schema.
    Csv(DeclaredCsvReader),
}

impl Reader {
    /// The reader for a declaration's format.
    pub fn for_declaration(d: &Declaration, ctx: &ReadCtx) -> Result<Self, IngestError> {
        Ok(match d.dataset.format.as_str() {
            "uke" => Reader::Uke(Box::new(UkeReader::new(ctx)?)),
            "dpc" => Reader::Dpc(DpcReader::new(ctx)?),
            "checkup_csv" => Reader::Checkup(CheckupReader::new(ctx)?),
            "ltc_csv" => Reader::Ltc(LtcReader::new(ctx)?),
            "fhir" => Reader::Fhir(FhirReader::new(ctx)?),
            "death_csv" => Reader::Death(DeathReader::new(ctx)?),
            "csv" | "parquet" => Reader::Csv(DeclaredCsvReader::new(d, ctx)?),
            other => {
                return Err(IngestError::Schema(format!(
                    "no reader for format {other:?}"
                )));
            }
        })
    }

    /// Where this reader's files may be cut into blocks.
    pub fn cut(&self) -> Cut {
        match self {
            Reader::Uke(_) => Cut::BeforeReceipt,
            Reader::Fhir(_) => Cut::Line,
            Reader::Csv(r) if !r.is_parquet() => Cut::CsvRecord,
            // Rows of these group across lines (a stay, a checkup, a certification)
            // and their files are one facility's or insurer's month: read whole,
            // within the file size limit.
            Reader::Csv(_)
            | Reader::Dpc(_)
            | Reader::Checkup(_)
            | Reader::Ltc(_)
            | Reader::Death(_) => Cut::Whole,
        }
    }

    /// Reads one file held in memory (`name` relative to the source directory), cut
    /// into blocks exactly as a file on disk would be.
    pub fn read(&mut self, ctx: &mut ReadCtx, name: &str, bytes: &[u8]) -> Result<(), IngestError> {
        let mut buf = Vec::new();
        self.read_stream(ctx, name, bytes, u64::MAX, &mut buf, |_| {})
            .map(|_| ())
            .map_err(|e| match e {
                StreamError::Ingest(e) => e,
                StreamError::Io(err) => IngestError::Io {
                    path: name.to_owned(),
                    err,
                },
            })
    }

    /// Reads one file from `src` a block at a time (`ctx.block` bytes, grown only when
    /// a single record is longer), so memory follows the block, not the file. `seen`
    /// gets every byte once, in order (for the file's hash); `buf` is reused between
    /// files. More than `max` bytes is an error, however the file grew since it was
    /// measured. Returns the file's length.
    pub fn read_stream(
        &mut self,
        ctx: &mut ReadCtx,
        name: &str,
        mut src: impl std::io::Read,
        max: u64,
        buf: &mut Vec<u8>,
        mut seen: impl FnMut(&[u8]),
    ) -> Result<u64, StreamError> {
        use std::io::Read as _;
        let cut = self.cut();
        let max = if cut == Cut::Whole {
            max.min(MAX_WHOLE_FILE)
        } else {
            max
        };
        ctx.file = name.to_owned();
        ctx.line_base = 0;
        ctx.file_refused = false;
        buf.clear();
        let block = ctx.block.max(1);
        let mut target = block;
        let mut total = 0u64;
        let mut first = true;
        let mut eof = false;
        loop {
            if !eof {
                let want = match cut {
                    Cut::Whole => max.saturating_add(1).saturating_sub(total),
                    _ => target.saturating_sub(buf.len()) as u64,
                };
                let old = buf.len();
                let n = (&mut src).take(want).read_to_end(buf)? as u64;
                seen(&buf[old..]);
                total += n;
                if total > max {
                    return Err(StreamError::Io(std::io::Error::other(format!(
                        "larger than the {max}-byte limit"
                    ))));
                }
                eof = n < want;
            }
            if eof && buf.is_empty() && !first {
                break;
            }
            let end = if eof {
                buf.len()
            } else {
                match cut_point(cut, buf) {
                    Some(p) => p,
                    None if buf.len() >= MAX_RECORD => {
                        // No record ends within this much: not a file of this format
                        // (an unbalanced quote, no line breaks), and not worth holding.
                        return Err(StreamError::Io(std::io::Error::other(format!(
                            "no record boundary in {MAX_RECORD} bytes"
                        ))));
                    }
                    None => {
                        // One record longer than a block: read on until it ends.
                        target = buf.len() + block;
                        continue;
                    }
                }
            };
            let part = &buf[..end];
            // A block that cannot be read (not the file's encoding) refuses the rest
            // of the file; rows of earlier blocks stay, as each was read whole.
            if ctx.file_refused {
                ctx.refuse_block(part);
            } else {
                self.read_block(ctx, name, part, first)?;
            }
            ctx.line_base += memchr::memchr_iter(b'\n', part).count() as u64;
            buf.drain(..end);
            first = false;
            target = buf.len() + block;
            if eof && buf.is_empty() {
                break;
            }
        }
        ctx.line_base = 0;
        Ok(total)
    }

    /// Reads one block of a file; `first` says whether it starts the file.
    fn read_block(
        &mut self,
        ctx: &mut ReadCtx,
        name: &str,
        bytes: &[u8],
        first: bool,
    ) -> Result<(), IngestError> {
        match self {
            Reader::Uke(r) => r.read(ctx, bytes, first),
            Reader::Dpc(r) => r.read(ctx, name, bytes),
            Reader::Checkup(r) => r.read(ctx, bytes),
            Reader::Ltc(r) => r.read(ctx, name, bytes),
            Reader::Fhir(r) => r.read(ctx, name, bytes),
            Reader::Death(r) => r.read(ctx, bytes),
            Reader::Csv(r) => r.read(ctx, bytes, first),
        }
    }

    /// Writes anything held back until all files are read (DPC stays are completed by
    /// their EF rows in other files).
    pub fn finish(&mut self, ctx: &mut ReadCtx) -> Result<(), IngestError> {
        match self {
            Reader::Dpc(r) => r.finish(ctx),
            _ => Ok(()),
        }
    }
}

/// Column indices of a table, resolved once.
pub(crate) fn cols<const N: usize>(
    ctx: &ReadCtx,
    t: usize,
    names: [&str; N],
) -> Result<[usize; N], IngestError> {
    let mut out = [0; N];
    for (i, n) in names.iter().enumerate() {
        out[i] = ctx.tables[t].col(n)?;
    }
    Ok(out)
}

/// Splits a CSV line (no quoting: the exchange formats do not quote).
pub(crate) fn split(line: &str) -> Vec<&str> {
    line.trim_end_matches('\r')
        .split(',')
        .map(str::trim)
        .collect()
}
