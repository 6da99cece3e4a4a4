//! Where dataset versions live on disk, encrypted.
//!
//! Layout: `<data_dir>/datasets/<dataset>/v<version>/<table>/part-<n>.parquet`.
//!
//! Every file is Parquet with **modular encryption** (AES-256-GCM, uniform: every column
//! and the footer, so not even column names show) under the dataset's data key, with
//! an AAD prefix naming the dataset, version, table and part: a file copied into
//! another place or version does not open. The choice over envelope encryption of
//! whole files: the query engine (DataFusion) reads encrypted Parquet natively, with
//! column pruning and page skipping, so nothing is ever decrypted to disk.
//!
//! A version is written to a staging directory and becomes a version directory by one
//! `rename`, after every file is flushed to disk; the metadata store's commit then makes
//! it current. A crash at any point leaves the previous version as it was: a staging
//! directory is cleaned up, and an uncommitted version directory is replaced when its
//! number is used again.
//!
//! **Invariant:** nothing here writes a value in clear text to disk. Data keys come from
//! `renkei-crypto` and go straight into the Parquet cipher.
#![warn(missing_docs)]

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

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum DataStoreError {
    /// File system.
    #[error("{path}: {err}")]
    Io {
        /// Where.
        path: String,
        /// Why.
        err: std::io::Error,
    },
    /// Another ingest of the same dataset holds its lock.
    #[error("another ingest of dataset {0} is running; try again when it has finished")]
    Busy(String),
    /// Parquet or Arrow (including a wrong key: "unable to decrypt").
    #[error("{path}: {msg}")]
    Parquet {
        /// Where.
        path: String,
        /// Why.
        msg: String,
    },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> DataStoreError + '_ {
    move |err| DataStoreError::Io {
        path: path.display().to_string(),
        err,
    }
}

fn pq(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> DataStoreError + '_ {
    move |e| DataStoreError::Parquet {
        path: path.display().to_string(),
        msg: e.to_string(),
    }
}

/// The datasets directory.
#[derive(Clone, Debug)]
pub struct DataStore {
    root: PathBuf,
}

/// The additional authenticated data binding a file to its place.
fn aad(dataset: &str, version: i64, table: &str, part: &str) -> Vec<u8> {
    format!("renkei:v1:{dataset}:{version}:{table}:{part}").into_bytes()
}

impl DataStore {
    /// The store under `<data_dir>/datasets`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("datasets"),
        }
    }

    /// Directory of a version.
    pub fn version_dir(&self, dataset: &str, version: i64) -> PathBuf {
        self.root.join(dataset).join(format!("v{version}"))
    }

    /// Takes the dataset's writer lock without waiting, and clears what interrupted
    /// ingests of it left behind. Every version number and every directory of the
    /// dataset is decided under this lock, so two ingests (two processes, or the server
    /// and the CLI) can never pick the same version or replace each other's files.
    ///
    /// The lock is an OS file lock on `<dataset>/.lock`: it goes with the process, so a
    /// killed ingest never leaves it stuck. It assumes one host writes a data directory;
    /// a cluster deployment needs a store-level lease instead.
    pub fn lock(&self, dataset: &str) -> Result<DatasetLock, DataStoreError> {
        let dir = self.root.join(dataset);
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
                return Err(DataStoreError::Busy(dataset.into()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
        let cleaned = clean_dataset_staging(&dir)?;
        Ok(DatasetLock {
            _file: file,
            dataset: dataset.into(),
            cleaned,
        })
    }

    /// Starts writing `version` of `dataset`, under its lock.
    pub fn begin(
        &self,
        lock: &DatasetLock,
        version: i64,
        key: Arc<DataKey>,
    ) -> Result<Staging, DataStoreError> {
        let dataset = lock.dataset.as_str();
        let dir = self.root.join(dataset).join(format!(
            ".staging-v{version}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Staging {
            dir,
            target: self.version_dir(dataset, version),
            dataset: dataset.into(),
            version,
            key,
            parts: AtomicU32::new(0),
        })
    }

    /// Removes staging directories left by interrupted ingests of every dataset that
    /// no ingest is writing now. Returns how many.
    pub fn clean_staging(&self) -> Result<usize, DataStoreError> {
        let mut n = 0;
        let Ok(datasets) = std::fs::read_dir(&self.root) else {
            return Ok(0);
        };
        for d in datasets.flatten() {
            if !d.path().is_dir() {
                continue;
            }
            let name = d.file_name().to_string_lossy().into_owned();
            match self.lock(&name) {
                Ok(l) => n += l.cleaned,
                Err(DataStoreError::Busy(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// The Parquet files of a table in a version, in order.
    pub fn parts(
        &self,
        dataset: &str,
        version: i64,
        table: &str,
    ) -> Result<Vec<PathBuf>, DataStoreError> {
        let dir = self.version_dir(dataset, version).join(table);
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

    /// Decryption for one part file (for readers such as the query engine).
    pub fn decryption(
        &self,
        dataset: &str,
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
            .with_aad_prefix(aad(dataset, version, table, &name))
            .build()
            .map_err(pq(part))
    }

    /// Reads a whole table (for tests, profiling and small tables; queries go through the engine).
    pub fn read_table(
        &self,
        dataset: &str,
        version: i64,
        table: &str,
        key: &DataKey,
    ) -> Result<Vec<RecordBatch>, DataStoreError> {
        let mut out = Vec::new();
        for part in self.parts(dataset, version, table)? {
            let dec = self.decryption(dataset, version, table, &part, key)?;
            let f = File::open(&part).map_err(io(&part))?;
            let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(
                f,
                ArrowReaderOptions::new().with_file_decryption_properties(dec),
            )
            .map_err(pq(&part))?
            .build()
            .map_err(pq(&part))?;
            for b in reader {
                out.push(b.map_err(|e| DataStoreError::Parquet {
                    path: part.display().to_string(),
                    msg: e.to_string(),
                })?);
            }
        }
        Ok(out)
    }

    /// Every file under the datasets directory (for the test that no value is stored in
    /// clear text).
    pub fn all_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
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

/// Removes a dataset directory's `.staging-*` leftovers. Only under the dataset's lock.
fn clean_dataset_staging(dir: &Path) -> Result<usize, DataStoreError> {
    let mut n = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(".staging-") {
            std::fs::remove_dir_all(e.path()).map_err(io(&e.path()))?;
            n += 1;
        }
    }
    Ok(n)
}

/// The writer lock of one dataset (see [`DataStore::lock`]); released on drop.
pub struct DatasetLock {
    _file: File,
    dataset: String,
    cleaned: usize,
}

/// A version being written.
pub struct Staging {
    dir: PathBuf,
    target: PathBuf,
    dataset: String,
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
        let enc = FileEncryptionProperties::builder(self.key.bytes().to_vec())
            .with_aad_prefix(aad(&self.dataset, self.version, table, &name))
            .build()
            .map_err(pq(&path))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .with_file_encryption_properties(enc)
            .build();
        let f = File::create(&path).map_err(io(&path))?;
        let inner = ArrowWriter::try_new(BufWriter::with_capacity(1 << 20, f), schema, Some(props))
            .map_err(pq(&path))?;
        Ok(PartWriter {
            inner,
            path,
            rows: 0,
        })
    }

    /// The staging directory.
    pub fn dir(&self) -> &Path {
        &self.dir
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
    /// because a staging is only begun, under the dataset's lock, for the version after
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use renkei_crypto::{KeyStore, RootKey};

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let a: ArrayRef = Arc::new(StringArray::from(vec!["ヤマダハナコ-PLAINTEXT"; 100]));
        let b: ArrayRef = Arc::new(Int64Array::from((0..100).collect::<Vec<i64>>()));
        RecordBatch::try_new(schema, vec![a, b]).unwrap()
    }

    #[test]
    fn write_publish_read_and_nothing_in_clear() {
        let d = tempfile::tempdir().unwrap();
        let ks = KeyStore::from_keys(RootKey::generate(), None);
        let (key, _) = ks.new_data_key("dataset:t");
        let key = Arc::new(key);
        let ds = DataStore::new(d.path());
        let lock = ds.lock("t").unwrap();
        let st = ds.begin(&lock, 1, key.clone()).unwrap();
        let mut w = st.writer("rows", batch().schema()).unwrap();
        w.write(&batch()).unwrap();
        assert_eq!(w.finish().unwrap(), 100);
        assert!(
            ds.read_table("t", 1, "rows", &key).unwrap().is_empty(),
            "nothing visible before publish"
        );
        st.publish().unwrap();
        let back = ds.read_table("t", 1, "rows", &key).unwrap();
        assert_eq!(back.iter().map(|b| b.num_rows()).sum::<usize>(), 100);
        for f in ds.all_files() {
            let bytes = std::fs::read(&f).unwrap();
            for needle in ["PLAINTEXT".as_bytes(), "ヤマダ".as_bytes(), b"name"] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{} reveals {:?}",
                    f.display(),
                    String::from_utf8_lossy(needle)
                );
            }
        }
        // Another key, or a file moved to another version, does not open.
        let (other, _) = ks.new_data_key("dataset:t");
        assert!(ds.read_table("t", 1, "rows", &other).is_err());
        std::fs::create_dir_all(ds.version_dir("t", 2).join("rows")).unwrap();
        let part = ds.parts("t", 1, "rows").unwrap().remove(0);
        std::fs::copy(
            &part,
            ds.version_dir("t", 2)
                .join("rows")
                .join(part.file_name().unwrap()),
        )
        .unwrap();
        assert!(
            ds.read_table("t", 2, "rows", &key).is_err(),
            "the AAD binds a file to its version"
        );
    }

    #[test]
    fn interrupted_staging_is_cleaned_and_versions_replaced() {
        let d = tempfile::tempdir().unwrap();
        let ks = KeyStore::from_keys(RootKey::generate(), None);
        let key = Arc::new(ks.new_data_key("x").0);
        let ds = DataStore::new(d.path());
        let lock = ds.lock("t").unwrap();
        let st = ds.begin(&lock, 1, key.clone()).unwrap();
        st.writer("rows", batch().schema())
            .unwrap()
            .finish()
            .unwrap();
        drop(st); // a crash: the staging directory stays behind
        assert_eq!(
            ds.clean_staging().unwrap(),
            0,
            "a dataset being written is left alone"
        );
        assert!(
            matches!(ds.lock("t"), Err(DataStoreError::Busy(_))),
            "a second writer is refused while the first holds the lock"
        );
        drop(lock);
        assert_eq!(ds.clean_staging().unwrap(), 1);
        let lock = ds.lock("t").unwrap();
        let st = ds.begin(&lock, 1, key.clone()).unwrap();
        let mut w = st.writer("rows", batch().schema()).unwrap();
        w.write(&batch()).unwrap();
        w.finish().unwrap();
        st.publish().unwrap();
        // Publishing the same (uncommitted) version again replaces it.
        let st = ds.begin(&lock, 1, key.clone()).unwrap();
        st.writer("rows", batch().schema())
            .unwrap()
            .finish()
            .unwrap();
        st.publish().unwrap();
        assert_eq!(
            ds.read_table("t", 1, "rows", &key)
                .unwrap()
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>(),
            0
        );
    }
}
