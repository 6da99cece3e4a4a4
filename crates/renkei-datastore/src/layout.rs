//! Where versions live on disk, and how they are written: writer locks, staging
//! directories published by one `rename`, and encrypted Parquet part files.

use crate::{DataStoreError, Holder};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;
use parquet::encryption::decrypt::FileDecryptionProperties;
use parquet::encryption::encrypt::FileEncryptionProperties;
use parquet::file::properties::WriterProperties;
use renkei_crypto::DataKey;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> DataStoreError + '_ {
    move |err| DataStoreError::Io {
        path: path.display().to_string(),
        err,
    }
}

pub(crate) fn pq(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> DataStoreError + '_ {
    move |e| DataStoreError::Parquet {
        path: path.display().to_string(),
        msg: e.to_string(),
    }
}

/// The additional authenticated data binding a file to its place: a file copied into
/// another holder, version, table or part does not open.
fn aad(holder: &Holder, version: i64, table: &str, part: &str) -> Vec<u8> {
    match holder {
        Holder::Dataset(id) => format!("renkei:v1:{id}:{version}:{table}:{part}"),
        Holder::Extract(id) => format!("renkei:v1:extract:{id}:{version}:{table}:{part}"),
        Holder::Index(id) => format!("renkei:v1:index:{id}:{version}:{table}:{part}"),
    }
    .into_bytes()
}

/// The on-disk tree: `<data_dir>/datasets/<id>/v<N>/<table>/part-<n>.parquet` for
/// datasets, `<data_dir>/extracts/<project>/v<N>/...` for project extracts.
#[derive(Clone, Debug)]
pub(crate) struct Tree {
    data_dir: PathBuf,
}

impl Tree {
    pub(crate) fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
        }
    }

    fn namespace(&self, holder: &Holder) -> PathBuf {
        self.data_dir.join(match holder {
            Holder::Dataset(_) => "datasets",
            Holder::Extract(_) => "extracts",
            Holder::Index(_) => "index",
        })
    }

    pub(crate) fn holder_dir(&self, holder: &Holder) -> PathBuf {
        self.namespace(holder).join(holder.id())
    }

    pub(crate) fn version_dir(&self, holder: &Holder, version: i64) -> PathBuf {
        self.holder_dir(holder).join(format!("v{version}"))
    }

    /// Takes the holder's writer lock without waiting, and clears what interrupted
    /// writers left behind. Every version number and directory of the holder is decided
    /// under this lock, so two writers (two processes, or the server and the CLI) can
    /// never pick the same version or replace each other's files.
    ///
    /// The lock is an OS file lock on `<holder>/.lock`: it goes with the process, so a
    /// killed writer never leaves it stuck. It assumes one host writes a data
    /// directory; a cluster deployment needs a store-level lease instead.
    pub(crate) fn lock(&self, holder: &Holder) -> Result<WriterLock, DataStoreError> {
        let dir = self.holder_dir(holder);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(DataStoreError::Busy(holder.clone()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
        let cleaned = clean_staging_dirs(&dir)?;
        Ok(WriterLock {
            _file: file,
            holder: holder.clone(),
            cleaned,
        })
    }

    /// Starts writing `version` under `lock`.
    pub(crate) fn begin(
        &self,
        lock: &WriterLock,
        version: i64,
        key: Arc<DataKey>,
    ) -> Result<Staging, DataStoreError> {
        let dir = self.holder_dir(&lock.holder).join(format!(
            ".staging-v{version}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Staging {
            dir,
            target: self.version_dir(&lock.holder, version),
            holder: lock.holder.clone(),
            version,
            key,
            parts: AtomicU32::new(0),
        })
    }

    /// Removes staging directories left by interrupted writers of every holder nobody
    /// is writing now. Returns how many.
    pub(crate) fn clean_staging(&self) -> Result<usize, DataStoreError> {
        let mut n = 0;
        for (ns, make) in [
            ("datasets", Holder::Dataset as fn(String) -> Holder),
            ("extracts", Holder::Extract as fn(String) -> Holder),
            ("index", Holder::Index as fn(String) -> Holder),
        ] {
            let Ok(entries) = std::fs::read_dir(self.data_dir.join(ns)) else {
                continue;
            };
            for d in entries.flatten() {
                if !d.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let Ok(holder) = Holder::parse_id(make, &d.file_name().to_string_lossy()) else {
                    continue;
                };
                match self.lock(&holder) {
                    Ok(l) => n += l.cleaned,
                    Err(DataStoreError::Busy(_)) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(n)
    }

    /// The Parquet files of a table in a version, in order.
    pub(crate) fn parts(
        &self,
        holder: &Holder,
        version: i64,
        table: &str,
    ) -> Result<Vec<PathBuf>, DataStoreError> {
        let dir = self.version_dir(holder, version).join(table);
        let mut v: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(&dir)(e)),
        };
        v.sort();
        Ok(v)
    }

    /// The tables of a version (its subdirectories), sorted.
    pub(crate) fn tables(
        &self,
        holder: &Holder,
        version: i64,
    ) -> Result<Vec<String>, DataStoreError> {
        let dir = self.version_dir(holder, version);
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .map_err(io(&dir))?
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        Ok(v)
    }

    /// Decryption for one part file.
    pub(crate) fn decryption(
        holder: &Holder,
        version: i64,
        table: &str,
        part: &Path,
        key: &DataKey,
    ) -> Result<Arc<FileDecryptionProperties>, DataStoreError> {
        let name = part
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        FileDecryptionProperties::builder(key.bytes().to_vec())
            .with_aad_prefix(aad(holder, version, table, &name))
            .build()
            .map_err(pq(part))
    }

    /// Reads one part file, batch by batch.
    pub(crate) fn part_batches(
        holder: &Holder,
        version: i64,
        table: &str,
        part: &Path,
        key: &DataKey,
        columns: Option<&[String]>,
    ) -> Result<impl Iterator<Item = Result<RecordBatch, DataStoreError>> + use<>, DataStoreError>
    {
        let dec = Self::decryption(holder, version, table, part, key)?;
        let f = File::open(part).map_err(io(part))?;
        let mut builder = ParquetRecordBatchReaderBuilder::try_new_with_options(
            f,
            ArrowReaderOptions::new().with_file_decryption_properties(dec),
        )
        .map_err(pq(part))?;
        if let Some(cols) = columns {
            // Only the named top-level columns are decrypted and decoded.
            let mask = parquet::arrow::ProjectionMask::columns(
                builder.parquet_schema(),
                cols.iter().map(String::as_str),
            );
            builder = builder.with_projection(mask);
        }
        let reader = builder.build().map_err(pq(part))?;
        let path = part.display().to_string();
        Ok(reader.map(move |b| {
            b.map_err(|e| DataStoreError::Parquet {
                path: path.clone(),
                msg: e.to_string(),
            })
        }))
    }

    /// The schema of one part file (decrypting only its footer).
    pub(crate) fn part_schema(
        holder: &Holder,
        version: i64,
        table: &str,
        part: &Path,
        key: &DataKey,
    ) -> Result<arrow_schema::SchemaRef, DataStoreError> {
        let dec = Self::decryption(holder, version, table, part, key)?;
        let f = File::open(part).map_err(io(part))?;
        let b = ParquetRecordBatchReaderBuilder::try_new_with_options(
            f,
            ArrowReaderOptions::new().with_file_decryption_properties(dec),
        )
        .map_err(pq(part))?;
        Ok(b.schema().clone())
    }

    /// Reads one part file whole.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn read_part(
        holder: &Holder,
        version: i64,
        table: &str,
        part: &Path,
        key: &DataKey,
    ) -> Result<Vec<RecordBatch>, DataStoreError> {
        Self::part_batches(holder, version, table, part, key, None)?.collect()
    }

    /// Rewrites every part of `version` through `f` into a staging directory (same
    /// table and part names, so each file keeps its binding), marks it with `marker`,
    /// and swaps it in for the version directory. A crash leaves the old or the new
    /// version whole: see [`clean_staging_dirs`]. Returns the rows rewritten, or `None`
    /// if the version already carries `marker` (the rewrite happened before).
    pub(crate) fn rewrite(
        &self,
        lock: &WriterLock,
        version: i64,
        key: &DataKey,
        marker: &str,
        f: &mut dyn FnMut(&str, RecordBatch) -> Result<RecordBatch, DataStoreError>,
    ) -> Result<Option<u64>, DataStoreError> {
        let holder = &lock.holder;
        let target = self.version_dir(holder, version);
        let mark = target.join(".rewrite");
        if std::fs::read_to_string(&mark).is_ok_and(|m| m == marker) {
            return Ok(None);
        }
        let staging = self.holder_dir(holder).join(format!(
            ".staging-v{version}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let mut rows = 0u64;
        for table in self.tables(holder, version)? {
            let dir = staging.join(&table);
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            for part in self.parts(holder, version, &table)? {
                let name = part
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let out = dir.join(format!("{name}.parquet"));
                let mut w: Option<PartWriter> = None;
                for batch in Self::part_batches(holder, version, &table, &part, key, None)? {
                    let b = f(&table, batch?)?;
                    if w.is_none() {
                        w = Some(PartWriter::create(
                            &out,
                            b.schema(),
                            key,
                            holder,
                            version,
                            &table,
                            &name,
                        )?);
                    }
                    if let Some(w) = &mut w {
                        w.write(&b)?;
                    }
                }
                if let Some(w) = w {
                    rows += w.finish()?;
                }
            }
        }
        // The marker is what stops a re-run from applying the rewrite twice: it must be
        // on disk, whole, before the new version can be swapped in.
        let mark_new = staging.join(".rewrite");
        File::create(&mark_new)
            .and_then(|mut f| {
                std::io::Write::write_all(&mut f, marker.as_bytes())?;
                f.sync_all()
            })
            .map_err(io(&mark_new))?;
        // Sync the new files' directories, then swap: old aside, new in, old gone.
        let mut dirs = vec![staging.clone()];
        if let Ok(rd) = std::fs::read_dir(&staging) {
            dirs.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
        for d in &dirs {
            File::open(d).and_then(|f| f.sync_all()).map_err(io(d))?;
        }
        let retired = self.holder_dir(holder).join(format!(
            ".retired-v{version}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::rename(&target, &retired).map_err(io(&target))?;
        std::fs::rename(&staging, &target).map_err(io(&staging))?;
        let parent = self.holder_dir(holder);
        File::open(&parent)
            .and_then(|d| d.sync_all())
            .map_err(io(&parent))?;
        std::fs::remove_dir_all(&retired).map_err(io(&retired))?;
        Ok(Some(rows))
    }

    /// Every file under both namespaces (for the tests that no value is stored in
    /// clear text).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn all_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![
            self.data_dir.join("datasets"),
            self.data_dir.join("extracts"),
        ];
        while let Some(p) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&p) else {
                continue;
            };
            for e in rd.flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path)
                } else {
                    out.push(path)
                }
            }
        }
        out.sort();
        out
    }
}

/// Removes a holder directory's `.staging-*` leftovers, and settles a rewrite that a
/// crash interrupted mid-swap: a `.retired-v<N>-*` directory is the old version, put
/// back if `v<N>` is missing (the new one never arrived) and removed otherwise (it
/// did). Only under the holder's lock.
fn clean_staging_dirs(dir: &Path) -> Result<usize, DataStoreError> {
    let mut n = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".staging-") {
            std::fs::remove_dir_all(e.path()).map_err(io(&e.path()))?;
            n += 1;
        } else if let Some(rest) = name.strip_prefix(".retired-") {
            let version = rest.split('-').next().unwrap_or("");
            let live = dir.join(version);
            if live.exists() {
                std::fs::remove_dir_all(e.path()).map_err(io(&e.path()))?;
            } else {
                std::fs::rename(e.path(), &live).map_err(io(&live))?;
            }
            n += 1;
        }
    }
    Ok(n)
}

/// The writer lock of one holder; released on drop.
pub struct WriterLock {
    _file: File,
    holder: Holder,
    cleaned: usize,
}

impl WriterLock {
    /// What it locks.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }
}

/// A version being written.
pub struct Staging {
    dir: PathBuf,
    target: PathBuf,
    holder: Holder,
    version: i64,
    key: Arc<DataKey>,
    parts: AtomicU32,
}

impl Staging {
    /// A new part file for `table`. Writers on several threads each take their own.
    pub fn writer(&self, table: &str, schema: SchemaRef) -> Result<PartWriter, DataStoreError> {
        let n = self.parts.fetch_add(1, Ordering::SeqCst);
        let name = format!("part-{n:05}");
        let dir = self.dir.join(table);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(format!("{name}.parquet"));
        PartWriter::create(
            &path,
            schema,
            &self.key,
            &self.holder,
            self.version,
            table,
            &name,
        )
    }

    /// The version being written.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// Makes the staged files the version directory. An uncommitted directory of the
    /// same version (left by a crash after a previous publish) is replaced.
    pub fn publish(self) -> Result<PathBuf, DataStoreError> {
        if self.target.exists() {
            std::fs::remove_dir_all(&self.target).map_err(io(&self.target))?;
        }
        // The files are synced as they close; their directory entries too, before the
        // rename makes them a version (else a crash could publish empty directories).
        let mut dirs = vec![self.dir.clone()];
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            dirs.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
        for d in &dirs {
            File::open(d).and_then(|f| f.sync_all()).map_err(io(d))?;
        }
        std::fs::rename(&self.dir, &self.target).map_err(io(&self.dir))?;
        if let Some(parent) = self.target.parent() {
            // Make the rename itself durable.
            File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(io(parent))?;
        }
        Ok(self.target)
    }

    /// Throws the staged files away, and an uncommitted directory of the same version
    /// that a crash after a previous publish left behind: the version number is never
    /// used again once a refusal records it, so those files would stay forever. Safe
    /// because a staging is only begun, under the holder's lock, for the version after
    /// the last one recorded.
    pub fn abandon(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(&self.target);
    }
}

/// One Parquet file being written.
pub struct PartWriter {
    inner: ArrowWriter<BufWriter<File>>,
    path: PathBuf,
    rows: u64,
}

impl PartWriter {
    /// A new encrypted part file at `path`, bound to its holder, version, table and
    /// part name.
    fn create(
        path: &Path,
        schema: SchemaRef,
        key: &DataKey,
        holder: &Holder,
        version: i64,
        table: &str,
        name: &str,
    ) -> Result<Self, DataStoreError> {
        let enc = FileEncryptionProperties::builder(key.bytes().to_vec())
            .with_aad_prefix(aad(holder, version, table, name))
            .build()
            .map_err(pq(path))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .with_file_encryption_properties(enc)
            .build();
        let f = File::create(path).map_err(io(path))?;
        let inner = ArrowWriter::try_new(BufWriter::with_capacity(1 << 20, f), schema, Some(props))
            .map_err(pq(path))?;
        Ok(PartWriter {
            inner,
            path: path.to_path_buf(),
            rows: 0,
        })
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), DataStoreError> {
        self.rows += batch.num_rows() as u64;
        self.inner.write(batch).map_err(pq(&self.path))
    }

    /// Finishes the file and flushes it to disk. Returns its row count.
    pub fn finish(self) -> Result<u64, DataStoreError> {
        let path = self.path;
        let buf = self.inner.into_inner().map_err(pq(&path))?;
        let file = buf.into_inner().map_err(|e| DataStoreError::Io {
            path: path.display().to_string(),
            err: e.into_error(),
        })?;
        file.sync_all().map_err(io(&path))?;
        Ok(self.rows)
    }
}
