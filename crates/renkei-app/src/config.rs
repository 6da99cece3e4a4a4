//! `renkei.toml` and the environment variables that override it.
//!
//! Precedence: environment variable > file > default. Every setting the operator may
//! need for a first run has a working default, so `renkei serve` with no file works.

use renkei_accounts::{LockoutPolicy, SessionPolicy};
use renkei_crypto::{KeyConfig, PasswordHasher, PasswordParams};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {err}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        err: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("config file {path}: {msg}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        msg: String,
    },
    /// A value is out of range.
    #[error("invalid setting {key}: {msg}")]
    Invalid {
        /// The setting (or environment variable).
        key: String,
        /// What is wrong.
        msg: String,
    },
}

/// When the session cookie carries `Secure`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CookieSecure {
    /// When this server terminates TLS itself.
    #[default]
    Auto,
    /// Always (TLS is terminated by a proxy in front).
    Always,
    /// Never (plain HTTP on localhost).
    Never,
}

/// Session and cookie settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// Idle timeout (seconds).
    pub idle_timeout_secs: i64,
    /// Absolute timeout (seconds).
    pub absolute_timeout_secs: i64,
    /// Time allowed for the second factor (seconds).
    pub mfa_timeout_secs: i64,
    /// An API token unused for this many days stops working.
    pub token_idle_days: i64,
    /// `Secure` flag policy.
    pub cookie_secure: CookieSecure,
}

impl Default for SessionConfig {
    fn default() -> Self {
        let p = SessionPolicy::default();
        Self {
            idle_timeout_secs: p.idle_timeout_secs,
            absolute_timeout_secs: p.absolute_timeout_secs,
            mfa_timeout_secs: p.mfa_timeout_secs,
            token_idle_days: p.token_idle_days,
            cookie_secure: CookieSecure::Auto,
        }
    }
}

impl SessionConfig {
    /// As the accounts service wants it.
    pub fn policy(&self) -> SessionPolicy {
        SessionPolicy {
            idle_timeout_secs: self.idle_timeout_secs,
            absolute_timeout_secs: self.absolute_timeout_secs,
            mfa_timeout_secs: self.mfa_timeout_secs,
            token_idle_days: self.token_idle_days,
        }
    }
}

/// TLS, served by rustls.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
}

/// Audit settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Seconds between signed checkpoints of the chain head (and so between a
    /// witness's chances to countersign).
    pub checkpoint_interval_secs: u64,
    /// The witnesses' Ed25519 public keys (hex): the supervisory auditor's, generated on
    /// their side with `renkei audit witness-key`. Countersignatures by other keys are
    /// refused, and the auditor's pages verify the log against these.
    pub witness_keys: Vec<String>,
    /// How long (seconds) an entry may wait without a checkpoint that covers it
    /// (countersigned, when witnesses are registered) before verification fails.
    pub max_tail_secs: i64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_interval_secs: 60,
            witness_keys: Vec::new(),
            max_tail_secs: 600,
        }
    }
}

impl AuditConfig {
    /// The witness keys, parsed; a malformed one is a configuration error.
    pub fn witness_keys(&self) -> Result<Vec<ed25519_dalek::VerifyingKey>, ConfigError> {
        self.witness_keys
            .iter()
            .map(|k| {
                renkei_audit::witness::parse_public_key(k).ok_or_else(|| ConfigError::Invalid {
                    key: "audit.witness_keys".into(),
                    msg: "each is an Ed25519 public key, 64 hex characters".into(),
                })
            })
            .collect()
    }
}

/// Metrics settings.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// If set, `/metrics` requires `Authorization: Bearer <token>`. Required when the
    /// server listens anywhere but loopback.
    pub token: Option<String>,
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// How the HTTP server holds up under slow and noisy clients.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// A client must send a request's headers within this many seconds.
    pub header_read_timeout_secs: u64,
    /// A request must be answered within this many seconds (else 408).
    pub request_timeout_secs: u64,
    /// Requests handled at once; more are answered 503 at once.
    pub max_in_flight: usize,
    /// Requests one client address may make in a burst.
    pub per_client_burst: u32,
    /// Then requests per second per client address (else 429).
    pub per_client_per_sec: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            request_timeout_secs: 60,
            max_in_flight: 512,
            per_client_burst: 200,
            per_client_per_sec: 100,
        }
    }
}

/// The whole configuration. `Debug` shows the database URL without its password and
/// never the metrics token.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where keys, the SQLite file, checkpoints and (later) data live.
    pub data_dir: PathBuf,
    /// Listen address.
    pub bind: String,
    /// The address the public reaches this server at (used in links the catalogue
    /// exports, e.g. `https://renkei.example.jp`). Default: derived from `bind`.
    pub public_url: Option<String>,
    /// `sqlite://PATH` or `postgres://...`. Default: `sqlite://<data_dir>/renkei.db`.
    pub database_url: Option<String>,
    /// Whether opening the store migrates the schema and installs the guards. Set it
    /// false where the serving database role does not own the tables (PostgreSQL in
    /// production): the owner runs `renkei migrate --grant-to <role>`, and opening only
    /// checks the schema is current.   Env: RENKEI_MIGRATE_ON_START
    pub migrate_on_start: bool,
    /// IP addresses of reverse proxies in front of this server. From them (and only
    /// them) the client's address is taken from the last `X-Forwarded-For` entry; it
    /// is recorded in every audit entry and keys sign-in throttling.
    pub trusted_proxies: Vec<String>,
    /// Sessions and cookies.
    pub session: SessionConfig,
    /// Lockout after failures.
    pub lockout: LockoutPolicy,
    /// argon2id parameters.
    pub password: PasswordParams,
    /// Key files.
    pub keys: KeyConfig,
    /// TLS; plain HTTP when absent.
    pub tls: Option<TlsConfig>,
    /// Audit.
    pub audit: AuditConfig,
    /// Metrics.
    pub metrics: MetricsConfig,
    /// Ingest.
    pub ingest: IngestConfig,
    /// HTTP server limits.
    pub http: HttpConfig,
    /// The workspace's query limits.
    pub workspace: WorkspaceConfig,
}

/// Limits on queries in the workspace. With `queries_total` × `query_memory_mib` they
/// bound what the engine may take of the server's memory.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkspaceConfig {
    /// Memory one query may use, in MiB; a query that needs more fails alone.
    pub query_memory_mib: usize,
    /// Wall-clock seconds one query may run.
    pub query_timeout_secs: u64,
    /// Rows a result shows at most (1–10,000).
    pub max_rows: usize,
    /// Queries one person may have running at once.
    pub queries_per_user: usize,
    /// Queries running at once on this server, everyone's together (more wait their
    /// turn, up to 64 waiting).
    pub queries_total: usize,
}

impl Default for WorkspaceConfig {
    fn default() -> Self {
        Self {
            query_memory_mib: 512,
            query_timeout_secs: 120,
            max_rows: 100,
            queries_per_user: 2,
            queries_total: 4,
        }
    }
}

/// Ingest settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// A dataset version rejecting more than this share of its records is refused (0–1).
    pub max_reject_rate: f64,
    /// A directory of official code masters extending the embedded ones (see
    /// `renkei_masters::Masters::with_extra`). Without it, only the embedded masters,
    /// which cover the synthetic world, validate codes.
    pub masters_dir: Option<PathBuf>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_reject_rate: 0.05,
            masters_dir: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("bind", &self.bind)
            .field("public_url", &self.public_url)
            .field(
                "database_url",
                &self.database_url.as_deref().map(renkei_store::redact),
            )
            .field("migrate_on_start", &self.migrate_on_start)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("session", &self.session)
            .field("lockout", &self.lockout)
            .field("password", &self.password)
            .field("keys", &self.keys)
            .field("tls", &self.tls)
            .field("audit", &self.audit)
            .field("metrics", &self.metrics)
            .field("ingest", &self.ingest)
            .field("http", &self.http)
            .field("workspace", &self.workspace)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("renkei-data"),
            bind: "127.0.0.1:8080".into(),
            public_url: None,
            database_url: None,
            migrate_on_start: true,
            trusted_proxies: Vec::new(),
            session: SessionConfig::default(),
            lockout: LockoutPolicy::default(),
            password: PasswordParams::default(),
            keys: KeyConfig::default(),
            tls: None,
            audit: AuditConfig::default(),
            metrics: MetricsConfig::default(),
            ingest: IngestConfig::default(),
            http: HttpConfig::default(),
            workspace: WorkspaceConfig::default(),
        }
    }
}

/// Environment variables read by [`Config::load`], with what they set.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("RENKEI_DATA_DIR", "data_dir"),
    ("RENKEI_BIND", "bind"),
    ("RENKEI_PUBLIC_URL", "public_url"),
    ("RENKEI_DATABASE_URL", "database_url"),
    (
        "RENKEI_SESSION_IDLE_TIMEOUT_SECS",
        "session.idle_timeout_secs",
    ),
    (
        "RENKEI_SESSION_ABSOLUTE_TIMEOUT_SECS",
        "session.absolute_timeout_secs",
    ),
    (
        "RENKEI_COOKIE_SECURE",
        "session.cookie_secure (auto|always|never)",
    ),
    ("RENKEI_TLS_CERT", "tls.cert_file"),
    ("RENKEI_TLS_KEY", "tls.key_file"),
    ("RENKEI_MASTER_KEY_FILE", "keys.master_key_file"),
    ("RENKEI_LINKAGE_KEY_FILE", "keys.linkage_key_file"),
    ("RENKEI_ARGON2_MEMORY_KIB", "password.memory_kib"),
    ("RENKEI_ARGON2_ITERATIONS", "password.iterations"),
    ("RENKEI_METRICS_TOKEN", "metrics.token"),
    (
        "RENKEI_TRUSTED_PROXIES",
        "trusted_proxies (comma-separated IP addresses)",
    ),
    (
        "RENKEI_HTTP_HEADER_READ_TIMEOUT_SECS",
        "http.header_read_timeout_secs",
    ),
    (
        "RENKEI_HTTP_REQUEST_TIMEOUT_SECS",
        "http.request_timeout_secs",
    ),
    ("RENKEI_HTTP_MAX_IN_FLIGHT", "http.max_in_flight"),
    ("RENKEI_HTTP_PER_CLIENT_BURST", "http.per_client_burst"),
    ("RENKEI_HTTP_PER_CLIENT_PER_SEC", "http.per_client_per_sec"),
    (
        "RENKEI_INGEST_MAX_REJECT_RATE",
        "ingest.max_reject_rate (0–1)",
    ),
    ("RENKEI_INGEST_MASTERS_DIR", "ingest.masters_dir"),
    (
        "RENKEI_WORKSPACE_QUERY_MEMORY_MIB",
        "workspace.query_memory_mib",
    ),
    (
        "RENKEI_WORKSPACE_QUERY_TIMEOUT_SECS",
        "workspace.query_timeout_secs",
    ),
    ("RENKEI_WORKSPACE_MAX_ROWS", "workspace.max_rows"),
    (
        "RENKEI_WORKSPACE_QUERIES_PER_USER",
        "workspace.queries_per_user",
    ),
    ("RENKEI_WORKSPACE_QUERIES_TOTAL", "workspace.queries_total"),
    (
        "RENKEI_AUDIT_WITNESS_KEYS",
        "audit.witness_keys (comma-separated hex)",
    ),
];

impl Config {
    /// Reads `path` (if given) and applies the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut c = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|err| ConfigError::Read {
                    path: p.display().to_string(),
                    err,
                })?;
                Self::from_toml(&text, &p.display().to_string())?
            }
            None => Self::default(),
        };
        c.apply_env(|k| std::env::var(k).ok())?;
        c.validate()?;
        Ok(c)
    }

    /// The public address of this server, without a trailing slash.
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => {
                let scheme = if self.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{}", self.bind)
            }
        }
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            msg: e.message().to_owned(),
        })
    }

    /// Applies overrides from an environment (a function, so tests need not touch the
    /// process environment).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ConfigError> {
            v.trim().parse().map_err(|_| ConfigError::Invalid {
                key: key.into(),
                msg: format!("{v:?} is not a number"),
            })
        }
        if let Some(v) = get("RENKEI_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("RENKEI_BIND") {
            self.bind = v;
        }
        if let Some(v) = get("RENKEI_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = get("RENKEI_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = get("RENKEI_SESSION_IDLE_TIMEOUT_SECS") {
            self.session.idle_timeout_secs = num("RENKEI_SESSION_IDLE_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = get("RENKEI_SESSION_ABSOLUTE_TIMEOUT_SECS") {
            self.session.absolute_timeout_secs = num("RENKEI_SESSION_ABSOLUTE_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = get("RENKEI_COOKIE_SECURE") {
            self.session.cookie_secure = match v.as_str() {
                "auto" => CookieSecure::Auto,
                "always" => CookieSecure::Always,
                "never" => CookieSecure::Never,
                _ => {
                    return Err(ConfigError::Invalid {
                        key: "RENKEI_COOKIE_SECURE".into(),
                        msg: "use auto, always or never".into(),
                    });
                }
            };
        }
        match (get("RENKEI_TLS_CERT"), get("RENKEI_TLS_KEY")) {
            (Some(c), Some(k)) => {
                self.tls = Some(TlsConfig {
                    cert_file: c.into(),
                    key_file: k.into(),
                })
            }
            (None, None) => {}
            _ => {
                return Err(ConfigError::Invalid {
                    key: "RENKEI_TLS_CERT".into(),
                    msg: "set both RENKEI_TLS_CERT and RENKEI_TLS_KEY".into(),
                });
            }
        }
        if let Some(v) = get("RENKEI_AUDIT_WITNESS_KEYS") {
            self.audit.witness_keys = v
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = get("RENKEI_MASTER_KEY_FILE") {
            self.keys.master_key_file = Some(v.into());
        }
        if let Some(v) = get("RENKEI_LINKAGE_KEY_FILE") {
            self.keys.linkage_key_file = Some(v.into());
        }
        if let Some(v) = get("RENKEI_ARGON2_MEMORY_KIB") {
            self.password.memory_kib = num("RENKEI_ARGON2_MEMORY_KIB", &v)?;
        }
        if let Some(v) = get("RENKEI_ARGON2_ITERATIONS") {
            self.password.iterations = num("RENKEI_ARGON2_ITERATIONS", &v)?;
        }
        if let Some(v) = get("RENKEI_INGEST_MAX_REJECT_RATE") {
            self.ingest.max_reject_rate = num("RENKEI_INGEST_MAX_REJECT_RATE", &v)?;
        }
        {
            let w = &mut self.workspace;
            for (key, field) in [
                ("RENKEI_WORKSPACE_QUERY_MEMORY_MIB", &mut w.query_memory_mib),
                ("RENKEI_WORKSPACE_MAX_ROWS", &mut w.max_rows),
                ("RENKEI_WORKSPACE_QUERIES_PER_USER", &mut w.queries_per_user),
                ("RENKEI_WORKSPACE_QUERIES_TOTAL", &mut w.queries_total),
            ] {
                if let Some(v) = get(key) {
                    *field = num(key, &v)?;
                }
            }
            if let Some(v) = get("RENKEI_WORKSPACE_QUERY_TIMEOUT_SECS") {
                w.query_timeout_secs = num("RENKEI_WORKSPACE_QUERY_TIMEOUT_SECS", &v)?;
            }
        }
        if let Some(v) = get("RENKEI_INGEST_MASTERS_DIR") {
            self.ingest.masters_dir =
                Some(v.into()).filter(|p: &PathBuf| !p.as_os_str().is_empty());
        }
        if let Some(v) = get("RENKEI_METRICS_TOKEN") {
            self.metrics.token = Some(v).filter(|t| !t.is_empty());
        }
        if let Some(v) = get("RENKEI_MIGRATE_ON_START") {
            self.migrate_on_start = match v.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(ConfigError::Invalid {
                        key: "RENKEI_MIGRATE_ON_START".into(),
                        msg: "use true or false".into(),
                    });
                }
            };
        }
        if let Some(v) = get("RENKEI_TRUSTED_PROXIES") {
            self.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
        }
        let h = &mut self.http;
        for (key, field) in [
            (
                "RENKEI_HTTP_HEADER_READ_TIMEOUT_SECS",
                &mut h.header_read_timeout_secs,
            ),
            (
                "RENKEI_HTTP_REQUEST_TIMEOUT_SECS",
                &mut h.request_timeout_secs,
            ),
        ] {
            if let Some(v) = get(key) {
                *field = num(key, &v)?;
            }
        }
        if let Some(v) = get("RENKEI_HTTP_MAX_IN_FLIGHT") {
            h.max_in_flight = num("RENKEI_HTTP_MAX_IN_FLIGHT", &v)?;
        }
        for (key, field) in [
            ("RENKEI_HTTP_PER_CLIENT_BURST", &mut h.per_client_burst),
            ("RENKEI_HTTP_PER_CLIENT_PER_SEC", &mut h.per_client_per_sec),
        ] {
            if let Some(v) = get(key) {
                *field = num(key, &v)?;
            }
        }
        Ok(())
    }

    /// Checks ranges and formats.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, msg: &str| {
            Err(ConfigError::Invalid {
                key: key.into(),
                msg: msg.into(),
            })
        };
        if self.bind.parse::<SocketAddr>().is_err() {
            return bad(
                "bind",
                "use HOST:PORT with a numeric address, e.g. 127.0.0.1:8080",
            );
        }
        if let Some(u) = &self.public_url {
            let ok = url::Url::parse(u)
                .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .unwrap_or(false);
            if !ok {
                return bad(
                    "public_url",
                    "an http(s) URL, e.g. https://renkei.example.jp",
                );
            }
        }
        self.audit.witness_keys()?;
        let h = &self.http;
        if h.header_read_timeout_secs == 0
            || h.request_timeout_secs == 0
            || h.max_in_flight == 0
            || h.per_client_burst == 0
            || h.per_client_per_sec == 0
        {
            return bad("http", "every limit is at least 1");
        }
        let w = &self.workspace;
        if w.query_memory_mib == 0
            || w.query_timeout_secs == 0
            || w.queries_per_user == 0
            || w.queries_total == 0
            || !(1..=10_000).contains(&w.max_rows)
        {
            return bad(
                "workspace",
                "every limit is at least 1, and max_rows at most 10000",
            );
        }
        if self.metrics.token.is_none() && !self.binds_loopback() {
            return bad(
                "metrics.token",
                "required when bind is not a loopback address (or RENKEI_METRICS_TOKEN)",
            );
        }
        if let Some(bad_ip) = self
            .trusted_proxies
            .iter()
            .find(|p| p.parse::<std::net::IpAddr>().is_err())
        {
            return bad(
                "trusted_proxies",
                &format!("{bad_ip:?} is not an IP address"),
            );
        }
        if self.audit.max_tail_secs < 1 {
            return bad("audit.max_tail_secs", "at least 1");
        }
        let s = &self.session;
        if !(60..=86_400).contains(&s.idle_timeout_secs) {
            return bad("session.idle_timeout_secs", "between 60 and 86400");
        }
        if !(s.idle_timeout_secs..=7 * 86_400).contains(&s.absolute_timeout_secs) {
            return bad(
                "session.absolute_timeout_secs",
                "at least the idle timeout and at most 7 days",
            );
        }
        if !(30..=3600).contains(&s.mfa_timeout_secs) {
            return bad("session.mfa_timeout_secs", "between 30 and 3600");
        }
        if self.lockout.free_attempts < 1
            || self.lockout.base_delay_secs < 1
            || self.lockout.max_delay_secs < self.lockout.base_delay_secs
        {
            return bad(
                "lockout",
                "free_attempts >= 1, base_delay_secs >= 1, max_delay_secs >= base_delay_secs",
            );
        }
        if let Err(msg) = PasswordHasher::validate(self.password) {
            return bad("password", &msg);
        }
        if !(0.0..=1.0).contains(&self.ingest.max_reject_rate) {
            return bad("ingest.max_reject_rate", "between 0 and 1");
        }
        if let Some(url) = &self.database_url
            && let Err(e) = renkei_store::Backend::from_url(url)
        {
            return bad("database_url", &e.to_string());
        }
        Ok(())
    }

    /// The store URL, defaulting to a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("renkei.db").display()))
    }

    /// The code masters ingest validates against: the embedded ones, extended by
    /// `ingest.masters_dir` when set.
    pub fn masters(&self) -> Result<renkei_masters::Masters, ConfigError> {
        match &self.ingest.masters_dir {
            None => Ok(renkei_masters::Masters::embedded_owned()),
            Some(dir) => {
                renkei_masters::Masters::with_extra(dir).map_err(|e| ConfigError::Invalid {
                    key: "ingest.masters_dir".into(),
                    msg: e.to_string(),
                })
            }
        }
    }

    /// The audit checkpoint file, outside the store.
    pub fn checkpoint_file(&self) -> PathBuf {
        self.data_dir.join("audit").join("checkpoints.jsonl")
    }

    /// How to open the metadata store.
    pub fn store_options(&self) -> renkei_store::StoreOptions {
        renkei_store::StoreOptions {
            migrate: self.migrate_on_start,
            ..Default::default()
        }
    }

    /// Whether the server listens on a loopback address only.
    pub fn binds_loopback(&self) -> bool {
        let host = self
            .bind
            .rsplit_once(':')
            .map_or(self.bind.as_str(), |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// Whether cookies get `Secure`.
    pub fn cookie_secure(&self) -> bool {
        match self.session.cookie_secure {
            CookieSecure::Auto => self.tls.is_some(),
            CookieSecure::Always => true,
            CookieSecure::Never => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_work_and_env_overrides_file() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.database_url(), "sqlite://renkei-data/renkei.db");
        let mut c = Config::from_toml("data_dir = \"/srv/renkei\"\nbind = \"0.0.0.0:9000\"\n[session]\nidle_timeout_secs = 600\n", "t").unwrap();
        let env: HashMap<&str, &str> = [
            ("RENKEI_BIND", "127.0.0.1:7000"),
            ("RENKEI_DATABASE_URL", "postgres://u@h/db"),
        ]
        .into();
        c.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        c.validate().unwrap();
        assert_eq!(c.bind, "127.0.0.1:7000");
        assert_eq!(c.session.idle_timeout_secs, 600);
        assert_eq!(c.database_url(), "postgres://u@h/db");
        assert_eq!(c.data_dir, PathBuf::from("/srv/renkei"));
    }

    #[test]
    fn bad_settings_are_named() {
        let e = Config::from_toml("bnd = \"x\"", "renkei.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("renkei.toml") && e.contains("bnd"), "{e}");
        let mut c = Config::default();
        c.bind = "localhost".into();
        assert!(c.validate().unwrap_err().to_string().contains("bind"));
        let mut c = Config::default();
        let e = c
            .apply_env(|k| (k == "RENKEI_TLS_CERT").then(|| "x".to_string()))
            .unwrap_err();
        assert!(e.to_string().contains("RENKEI_TLS_KEY"));
        let mut c = Config::default();
        c.database_url = Some("mysql://x".into());
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("database_url")
        );
    }

    /// `/metrics` is open only on loopback; anywhere else it needs a token.
    #[test]
    fn metrics_need_a_token_off_loopback() {
        for (bind, ok) in [
            ("127.0.0.1:8080", true),
            ("[::1]:8080", true),
            ("0.0.0.0:8080", false),
            ("10.0.0.5:8080", false),
        ] {
            let c = Config {
                bind: bind.into(),
                ..Default::default()
            };
            assert_eq!(c.validate().is_ok(), ok, "{bind}");
        }
        let c = Config {
            bind: "0.0.0.0:8080".into(),
            metrics: MetricsConfig {
                token: Some("s3cret-metrics-token".into()),
            },
            database_url: Some("postgres://renkei:hunter2@db/renkei".into()),
            ..Default::default()
        };
        c.validate().unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("hunter2"),
            "secrets stay out of Debug: {shown}"
        );
    }

    #[test]
    fn the_example_file_is_valid() {
        let c = Config::from_toml(
            include_str!("../../../renkei.example.toml"),
            "renkei.example.toml",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/renkei"));
    }

    #[test]
    fn cookie_secure_follows_tls() {
        let mut c = Config::default();
        assert!(!c.cookie_secure());
        c.tls = Some(TlsConfig {
            cert_file: "c".into(),
            key_file: "k".into(),
        });
        assert!(c.cookie_secure());
        c.session.cookie_secure = CookieSecure::Never;
        assert!(!c.cookie_secure());
    }
}
