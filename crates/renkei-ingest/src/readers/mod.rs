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

    /// Reads one file (`name` relative to the source directory).
    pub fn read(&mut self, ctx: &mut ReadCtx, name: &str, bytes: &[u8]) -> Result<(), IngestError> {
        ctx.file = name.to_owned();
        match self {
            Reader::Uke(r) => r.read(ctx, bytes),
            Reader::Dpc(r) => r.read(ctx, name, bytes),
            Reader::Checkup(r) => r.read(ctx, bytes),
            Reader::Ltc(r) => r.read(ctx, name, bytes),
            Reader::Fhir(r) => r.read(ctx, name, bytes),
            Reader::Death(r) => r.read(ctx, bytes),
            Reader::Csv(r) => r.read(ctx, bytes),
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
