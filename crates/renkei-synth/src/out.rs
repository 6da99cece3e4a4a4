//! Output buffers: each area builds its files in memory, then writes them at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a file is encoded on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Shift_JIS (Windows-31J / CP932), as receipt and exchange files are.
    Cp932,
    /// UTF-8.
    Utf8,
}

/// One file being built.
pub struct FileBuf {
    /// Encoding.
    pub encoding: Encoding,
    /// Text (lines end with the file's line ending already).
    pub text: String,
    /// Counters the file's trailer needs (receipts, points).
    pub count: u64,
    /// Sum of points (for UKE GO records).
    pub points: u64,
}

/// All files of an area, by path relative to the output directory.
#[derive(Default)]
pub struct Files(pub BTreeMap<PathBuf, FileBuf>);

impl Files {
    /// The file at `path`, created with `header` if new.
    pub fn file(
        &mut self,
        path: PathBuf,
        encoding: Encoding,
        header: impl FnOnce() -> String,
    ) -> &mut FileBuf {
        self.0.entry(path).or_insert_with(|| FileBuf {
            encoding,
            text: header(),
            count: 0,
            points: 0,
        })
    }

    /// Writes every file under `root`.
    pub fn write(self, root: &Path) -> std::io::Result<u64> {
        let mut bytes = 0;
        for (rel, f) in self.0 {
            let path = root.join(rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let data: Vec<u8> = match f.encoding {
                Encoding::Utf8 => f.text.into_bytes(),
                Encoding::Cp932 => {
                    let (enc, _, _) = encoding_rs::SHIFT_JIS.encode(&f.text);
                    enc.into_owned()
                }
            };
            bytes += data.len() as u64;
            std::fs::write(&path, data)?;
        }
        Ok(bytes)
    }
}

/// Joins fields with commas and ends the line with CRLF.
pub fn csv_line(out: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(f);
    }
    out.push_str("\r\n");
}
