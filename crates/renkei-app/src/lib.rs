//! The composition root. [`Config`] says where things are; [`App::open`] opens the store,
//! loads the keys and builds the services every face (server, CLI) shares.
//!
//! **Invariant:** the server and the CLI construct services only through here, so both
//! see the same configuration rules and the same wiring. An [`App`] exposes services
//! only: the metadata store and the keys stay inside, so a face can reach data and
//! records only through a service that checks its caller.
#![warn(missing_docs)]

mod config;
pub use projects::{ClosureError, SweepReport};
pub mod demo;
pub mod demo_review;
mod projects;
pub mod world;

pub use config::{Config, ConfigError, CookieSecure, ENV_VARS, TlsConfig, WorkspaceConfig};

use renkei_accounts::Accounts;
use renkei_audit::Audit;
use renkei_catalog::Catalog;
use renkei_core::time::{SharedClock, SystemClock};
use renkei_crypto::KeyStore;
use renkei_datastore::DataStore;
use renkei_store::Store;
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
    /// An application or its review failed.
    #[error(transparent)]
    Access(#[from] renkei_access::AccessError),
    /// A project could not be closed.
    #[error(transparent)]
    Closure(#[from] ClosureError),
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
    /// The demo could not be set up.
    #[error("demo: {0}")]
    Demo(&'static str),
}

/// Everything a face needs: the services.
#[derive(Clone)]
pub struct App {
    /// The configuration it was opened with.
    pub config: Arc<Config>,
    /// The audit log: recording events, and the checked reader for the supervisor.
    pub audit: Audit,
    /// Accounts.
    pub accounts: Accounts,
    /// The catalogue.
    pub catalog: Catalog,
    /// Applications for access and their review.
    pub applications: renkei_access::Applications,
    /// Ingest into encrypted dataset versions.
    pub ingestor: renkei_ingest::Ingestor,
    /// Data at rest: checked readers, destroyable keys.
    pub data: DataStore,
    /// The linkage authority's person index.
    pub linkage: renkei_link::Linkage,
    /// Project extracts and the workspaces over them.
    pub workspaces: renkei_workspace::Workspaces,
    /// The code masters in force (the embedded ones and any official files configured),
    /// public reference data: the workspace's code look-up reads them.
    pub masters: Arc<renkei_masters::Masters>,
    /// The clock.
    pub clock: SharedClock,
    store: Store,
    keys: Arc<KeyStore>,
}

/// Whether missing key files may be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keys {
    /// The master key must exist; the linkage keyring is not loaded even where it is
    /// present. Every process but the ones that tokenize: the web server above all, so
    /// that its compromise does not give away the key that turns a known name, birth
    /// date and sex into a token.
    MustExist,
    /// The master key and the linkage keyring must exist: ingest and the linkage
    /// authority's commands, run by the operator with the keyring from its own place.
    Tokenizing,
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
            Keys::MustExist => KeyStore::load_master(&config.keys, &config.data_dir)?,
            Keys::Tokenizing => KeyStore::load(&config.keys, &config.data_dir)?,
            Keys::CreateMaster => KeyStore::load_or_create(&config.keys, &config.data_dir, false)?,
            Keys::CreateIfMissing => {
                KeyStore::load_or_create(&config.keys, &config.data_dir, true)?
            }
        });
        let store = Store::open(&config.database_url(), &config.store_options()).await?;
        let audit = Audit::with_witnesses(
            store.clone(),
            keystore.clone(),
            clock.clone(),
            Some(config.checkpoint_file()),
            config.audit.witness_keys()?,
            config.audit.max_tail_secs,
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
        let data = DataStore::new(
            &config.data_dir,
            store.clone(),
            keystore.clone(),
            audit.clone(),
            clock.clone(),
        );
        let masters = Arc::new(config.masters()?);
        let ingestor = renkei_ingest::Ingestor::new(
            store.clone(),
            audit.clone(),
            keystore.clone(),
            data.clone(),
            &config.data_dir,
            masters.clone(),
            clock.clone(),
        );
        let catalog = Catalog::new(store.clone(), audit.clone());
        let linkage =
            renkei_link::Linkage::new(store.clone(), data.clone(), audit.clone(), clock.clone());
        let applications =
            renkei_access::Applications::new(store.clone(), audit.clone(), clock.clone());
        let w = &config.workspace;
        let workspaces = renkei_workspace::Workspaces::new(
            store.clone(),
            data.clone(),
            audit.clone(),
            clock.clone(),
            applications.clone(),
        )
        .with_limits(renkei_workspace::query::QueryLimits {
            query: renkei_engine::Limits {
                memory_bytes: w.query_memory_mib << 20,
                timeout: std::time::Duration::from_secs(w.query_timeout_secs),
                max_rows: w.max_rows,
                ..Default::default()
            },
            per_user: w.queries_per_user,
            total: w.queries_total,
            ..Default::default()
        });
        // A writer killed mid-way leaves a staging directory; the previous version was
        // never touched, so the leftovers just go.
        let cleaned = data.clean_staging().map_err(|e| AppError::Io {
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
            audit,
            accounts,
            catalog,
            applications,
            ingestor,
            data,
            linkage,
            workspaces,
            masters,
            clock,
            store,
            keys: keystore,
        })
    }

    /// The keyed MAC that binds CSRF tokens to a session (the key stays inside).
    pub fn csrf_macer(&self) -> renkei_crypto::Macer {
        self.keys.macer(renkei_crypto::Purpose::Csrf)
    }

    /// Whether this process holds the linkage key.
    pub fn holds_linkage_key(&self) -> bool {
        self.keys.has_linkage_key()
    }

    /// The metadata store's address, with any password removed.
    pub fn store_url(&self) -> &str {
        self.store.url()
    }

    /// The metadata store, for tests that look behind the services.
    #[cfg(feature = "testing")]
    pub fn store_for_tests(&self) -> &Store {
        &self.store
    }

    /// Whether the metadata store answers (for readiness probes).
    pub async fn ready(&self) -> Result<(), AppError> {
        Ok(self.store.ping().await?)
    }

    /// Flushes the audit writer, writes a final checkpoint and closes the store.
    pub async fn close(&self) -> Result<(), AppError> {
        self.audit.shutdown().await?;
        self.store.close().await;
        Ok(())
    }
}

/// How an audit verification from the command line is to be checked.
#[derive(Clone, Debug, Default)]
pub struct VerifyRequest {
    /// A checkpoint key trusted from outside (else this platform's own).
    pub trusted: Option<ed25519_dalek::VerifyingKey>,
    /// The witnesses' public keys (the supervisory auditor's own, not the platform's
    /// configuration): with them the verification holds against the operator.
    pub witness_keys: Vec<ed25519_dalek::VerifyingKey>,
    /// The witness's own log of what it countersigned.
    pub witness_log: Option<std::path::PathBuf>,
    /// How long the tail may go unwitnessed (seconds of log time).
    pub max_tail_secs: Option<i64>,
}

/// Verifies the audit log as `caller` (the operator at the command line, or an
/// auditor on the host). Needs only the database: without the master key the entry MACs
/// are not checked and the verification cannot be recorded in the log (the report
/// says so). With it, the verification goes through the checked reader and records
/// itself.
pub async fn verify_audit(
    config: &Config,
    caller: &renkei_core::Caller,
    req: VerifyRequest,
) -> Result<AuditVerification, AppError> {
    config.validate()?;
    // Without the master key the MACs go unchecked; any other failure to load keys is
    // an error to fix, not a reason to check less.
    let keys = match KeyStore::load_master(&config.keys, &config.data_dir) {
        Ok(k) => Some(Arc::new(k)),
        Err(renkei_crypto::KeyError::Missing { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let witness_keys = if req.witness_keys.is_empty() {
        config.audit.witness_keys()?
    } else {
        req.witness_keys
    };
    let store = Store::open(&config.database_url(), &config.store_options()).await?;
    let opts = renkei_audit::VerifyOptions {
        public_key: req.trusted.or_else(|| {
            keys.as_ref()
                .map(|k| k.checkpoint_signing_key().verifying_key())
        }),
        keys: keys.clone(),
        checkpoint_file: Some(config.checkpoint_file()),
        witness_keys,
        witness_log: req.witness_log,
        max_tail_secs: req.max_tail_secs.or(Some(config.audit.max_tail_secs)),
        now: None,
    };
    let result = async {
        match keys {
            Some(keys) => {
                let audit = Audit::new(
                    store.clone(),
                    keys,
                    Arc::new(SystemClock),
                    Some(config.checkpoint_file()),
                );
                // A refusal is recorded by the reader; no report is given without it.
                let checked = async {
                    let reader = audit.reader(caller).await?;
                    let (report, recorded) = reader.verify_noting(opts).await?;
                    Ok::<_, AppError>((report, recorded.is_ok()))
                }
                .await;
                // Flush only: a checkpoint signed now would vouch for what was just
                // found wanting.
                audit.flush().await;
                checked
            }
            None => {
                caller
                    .require(renkei_core::Permission::ReadAudit)
                    .map_err(|d| AppError::Audit(renkei_audit::AuditError::Denied(d)))?;
                let report = renkei_audit::verify(&store, &opts).await?;
                Ok((report, false))
            }
        }
    }
    .await;
    store.close().await;
    let (report, recorded) = result?;
    Ok(AuditVerification { report, recorded })
}

/// Migrates the schema at `url` as its owner and installs the append-only guards; with
/// `grant_to` (PostgreSQL), grants the serving role what it needs and no more. Returns
/// the URL without its password.
pub async fn migrate(url: &str, grant_to: Option<&str>) -> Result<String, AppError> {
    let store = Store::migrate(url, grant_to).await?;
    let shown = store.url().to_owned();
    store.close().await;
    Ok(shown)
}

/// The outcome of [`verify_audit`].
#[derive(Debug)]
pub struct AuditVerification {
    /// What was found.
    pub report: renkei_audit::VerifyReport,
    /// Whether the verification itself was recorded in the log.
    pub recorded: bool,
}

/// The hex public key that signs this platform's audit checkpoints, for an outside
/// auditor.
pub fn checkpoint_public_key(config: &Config) -> Result<String, AppError> {
    let keys = KeyStore::load_master(&config.keys, &config.data_dir)?;
    Ok(hex::encode(
        keys.checkpoint_signing_key().verifying_key().to_bytes(),
    ))
}

/// The keyring file of the linkage authority under `config`, refusing a keyring given
/// in the environment (it cannot grow).
fn keyring_file(config: &Config) -> Result<std::path::PathBuf, AppError> {
    if std::env::var_os(renkei_crypto::LINKAGE_KEY_ENV).is_some() {
        return Err(
            renkei_crypto::KeyError::NotAFile(renkei_crypto::LINKAGE_KEY_ENV.into()).into(),
        );
    }
    Ok(config
        .keys
        .linkage_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("keys/linkage.key")))
}

/// Rotates the platform's linkage key: adds a generation to the linkage authority's
/// keyring file (unless an interrupted rotation already did), then re-keys every
/// dataset's tokens and moves the platform to the new keyring (see
/// `renkei_ingest::linkage`).
pub async fn rotate_linkage_key(
    config: Config,
    caller: &renkei_core::Caller,
) -> Result<renkei_ingest::linkage::Rotation, AppError> {
    let file = keyring_file(&config)?;
    let app = App::open(config.clone(), Keys::Tokenizing).await?;
    app.ingestor.linkage().may_rotate(caller).await?;
    let platform = app
        .ingestor
        .linkage()
        .platform()
        .await?
        .ok_or(renkei_ingest::IngestError::NoLinkageRegistered)?;
    if app.keys.linkage_generations() as i64 == platform.generation {
        renkei_crypto::append_linkage_generation(&file)?;
    }
    let keys = KeyStore::load(&config.keys, &config.data_dir)?;
    let result = app.ingestor.linkage().rotate(caller, &keys).await;
    app.close().await?;
    Ok(result?)
}

/// The fingerprints of this process's linkage keyring and of the platform's (either
/// may be absent).
pub async fn linkage_fingerprints(
    config: Config,
) -> Result<(Option<String>, Option<renkei_ingest::linkage::PlatformKey>), AppError> {
    let app = App::open(config, Keys::Tokenizing).await?;
    let ours = app.keys.current_linkage_fingerprint();
    let platform = app.ingestor.linkage().platform().await?;
    app.close().await?;
    Ok((ours, platform))
}
