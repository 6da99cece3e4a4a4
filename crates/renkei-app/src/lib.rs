//! The composition root. [`Config`] says where things are; [`App::open`] opens the store,
//! loads the keys and builds the services every face (server, CLI) shares.
//!
//! **Invariant:** the server and the CLI construct services only through here, so both
//! see the same configuration rules and the same wiring.
#![warn(missing_docs)]

mod config;
pub mod demo;
pub mod world;

pub use config::{Config, ConfigError, CookieSecure, ENV_VARS, TlsConfig};

use renkei_accounts::Accounts;
use renkei_audit::Audit;
use renkei_core::time::{SharedClock, SystemClock};
use renkei_crypto::KeyStore;
use renkei_store::{Store, StoreOptions};
use std::sync::Arc;

/// Failures opening the application.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Keys could not be loaded.
    #[error(transparent)]
    Keys(#[from] renkei_crypto::KeyError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] renkei_store::StoreError),
    /// The audit log failed.
    #[error(transparent)]
    Audit(#[from] renkei_audit::AuditError),
    /// An account operation failed.
    #[error(transparent)]
    Account(#[from] renkei_accounts::AccountError),
    /// An ingest failed.
    #[error(transparent)]
    Ingest(#[from] renkei_ingest::IngestError),
    /// The catalogue failed.
    #[error(transparent)]
    Catalog(#[from] renkei_catalog::CatalogError),
    /// The synthetic world could not be generated.
    #[error(transparent)]
    Synth(#[from] renkei_synth::SynthError),
    /// A file operation failed.
    #[error("{path}: {err}")]
    Io {
        /// The file or directory.
        path: String,
        /// The OS error.
        err: std::io::Error,
    },
}

/// Everything a face needs.
#[derive(Clone)]
pub struct App {
    /// The configuration it was opened with.
    pub config: Arc<Config>,
    /// The metadata store.
    pub store: Store,
    /// The keys.
    pub keys: Arc<KeyStore>,
    /// The audit log.
    pub audit: Audit,
    /// Accounts.
    pub accounts: Accounts,
    /// Ingest into encrypted dataset versions.
    pub ingestor: renkei_ingest::Ingestor,
    /// The clock.
    pub clock: SharedClock,
}

/// Whether missing key files may be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keys {
    /// Keys must exist (production).
    MustExist,
    /// Create a missing master key file (first run, `renkei init`). The linkage key is the
    /// linkage authority's, provisioned separately.
    CreateMaster,
    /// Create both key files (the demo and tests: one machine plays every role).
    CreateIfMissing,
}

impl App {
    /// Opens the application with the real clock.
    pub async fn open(config: Config, keys: Keys) -> Result<Self, AppError> {
        Self::open_with_clock(config, keys, Arc::new(SystemClock)).await
    }

    /// Opens the application with the given clock.
    pub async fn open_with_clock(
        config: Config,
        keys: Keys,
        clock: SharedClock,
    ) -> Result<Self, AppError> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir).map_err(|err| AppError::Io {
            path: config.data_dir.display().to_string(),
            err,
        })?;
        let keystore = Arc::new(match keys {
            Keys::MustExist => KeyStore::load(&config.keys, &config.data_dir)?,
            Keys::CreateMaster => KeyStore::load_or_create(&config.keys, &config.data_dir, false)?,
            Keys::CreateIfMissing => {
                KeyStore::load_or_create(&config.keys, &config.data_dir, true)?
            }
        });
        let store = Store::open(&config.database_url(), &StoreOptions::default()).await?;
        let audit = Audit::new(
            store.clone(),
            keystore.clone(),
            clock.clone(),
            Some(config.checkpoint_file()),
        );
        let accounts = Accounts::new(
            store.clone(),
            audit.clone(),
            &keystore,
            clock.clone(),
            config.password,
            config.session.policy(),
            config.lockout,
        );
        let ingestor = renkei_ingest::Ingestor::new(
            store.clone(),
            audit.clone(),
            keystore.clone(),
            &config.data_dir,
            Arc::new(config.masters()?),
            clock.clone(),
        );
        // An ingest killed mid-way leaves a staging directory; the previous version was
        // never touched, so the leftovers just go.
        let cleaned = ingestor
            .datastore()
            .clean_staging()
            .map_err(|e| AppError::Io {
                path: config.data_dir.display().to_string(),
                err: std::io::Error::other(e.to_string()),
            })?;
        if cleaned > 0 {
            tracing::info!(
                cleaned,
                "removed staging directories of interrupted ingests"
            );
        }
        Ok(Self {
            config: Arc::new(config),
            store,
            keys: keystore,
            audit,
            accounts,
            ingestor,
            clock,
        })
    }

    /// Flushes the audit writer, writes a final checkpoint and closes the store.
    pub async fn close(&self) -> Result<(), AppError> {
        self.audit.shutdown().await?;
        self.store.close().await;
        Ok(())
    }
}
