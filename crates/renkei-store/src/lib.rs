//! The metadata store: users, sessions, the audit log, and (as issues land) datasets,
//! applications and permits.
//!
//! One [`sqlx::AnyPool`] serves both backends, with one migration history written in the
//! SQL the two share (see `migrations/`). Queries are runtime-checked strings with `$n`
//! placeholders, written once. Where the backends must differ (append-only triggers,
//! write-transaction start) this crate has a per-backend arm, and nowhere else does.
//!
//! **Invariant:** only this crate opens database connections. Domain crates receive a
//! [`Store`] or a [`Tx`] and run their own queries through it.
#![warn(missing_docs)]

mod scan;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use scan::{Batch, ScanBind};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor as _};
use std::str::FromStr as _;
use std::time::Duration;

pub use sqlx;

/// A write transaction. Commit it or it rolls back on drop.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The two backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded, one file. The default.
    Sqlite,
    /// Production.
    Postgres,
}

impl Backend {
    /// Picks the backend from the URL scheme.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(redact(url)))
        }
    }
}

/// Store failures. Messages never include a database password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL {0}: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// Could not connect at start-up.
    #[error("cannot reach the metadata store at {url}: {reason}")]
    Unreachable {
        /// The URL with any password removed.
        url: String,
        /// The driver's reason.
        reason: String,
    },
    /// Migrations failed.
    #[error("migrating the metadata store failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The store is not usable as configured.
    #[error("metadata store: {0}")]
    Invalid(String),
    /// A query failed.
    #[error("metadata store error: {0}")]
    Db(#[from] sqlx::Error),
}

/// Whether a sqlx error is a unique-constraint violation, on either backend.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// Connection settings.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Pool size.
    pub max_connections: u32,
    /// How long to wait for a connection (at start-up: how long before "unreachable").
    pub acquire_timeout: Duration,
    /// Whether opening migrates the schema and (re)installs the append-only guards.
    /// Off for a serving role that does not own the tables: the schema owner runs
    /// [`Store::migrate`], and opening only checks the schema is current.
    pub migrate: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            migrate: true,
        }
    }
}

/// A handle on the metadata store. Cheap to clone.
///
/// `Debug` shows the redacted URL only.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Redacted, for messages.
    url: String,
    /// As given, for the bulk-scan connections. Never printed.
    raw_url: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("url", &self.url)
            .finish()
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Connects, migrates to the current schema and installs the append-only guards.
    /// For SQLite, creates the file (and its directory) if missing.
    pub async fn open(url: &str, opts: &StoreOptions) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = Backend::from_url(url)?;
        let shown = redact(url);
        let unreachable = |e: sqlx::Error| StoreError::Unreachable {
            url: shown.clone(),
            reason: e.to_string(),
        };
        let mut connect_url = url.to_owned();
        if backend == Backend::Sqlite {
            let path = sqlite_path(url);
            if let Some(dir) = std::path::Path::new(&path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Unreachable {
                    url: shown.clone(),
                    reason: format!("cannot create {}: {e}", dir.display()),
                })?;
            }
            if !url.contains("mode=") {
                connect_url.push(if url.contains('?') { '&' } else { '?' });
                connect_url.push_str("mode=rwc");
            }
        }
        let connect_opts =
            sqlx::any::AnyConnectOptions::from_str(&connect_url).map_err(unreachable)?;
        let pool = AnyPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; FULL makes every
                        // commit durable (an audit entry acknowledged is on disk).
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 30000").await?;
                        // Deleted content is overwritten, not left in free pages: a
                        // destroyed data key must not survive in the file.
                        conn.execute("PRAGMA secure_delete = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect_opts)
            .await
            .map_err(unreachable)?;
        let store = Self {
            pool,
            backend,
            url: shown,
            raw_url: url.to_owned(),
        };
        if opts.migrate {
            MIGRATOR.run(&store.pool).await?;
            store.install_guards().await?;
        } else {
            store.check_schema().await?;
        }
        tracing::debug!(url = %store.url, ?backend, "metadata store open");
        Ok(store)
    }

    /// Migrates the schema and installs the append-only guards, as the schema's owner.
    /// With `grant_to` (PostgreSQL), grants that role what serving needs and no more:
    /// reading and writing the working tables, only `SELECT` and `INSERT` on the
    /// append-only ones, and nothing that could drop or disable a guard (it owns no
    /// table).
    pub async fn migrate(url: &str, grant_to: Option<&str>) -> Result<Self, StoreError> {
        let store = Self::open(url, &StoreOptions::default()).await?;
        if let Some(role) = grant_to {
            store.grant_serving(role).await?;
        }
        Ok(store)
    }

    async fn grant_serving(&self, role: &str) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Err(StoreError::Invalid(
                "granting a serving role applies to PostgreSQL only".into(),
            ));
        }
        // A role name is an SQL identifier: plain names only, quoted.
        if role.is_empty()
            || role.len() > 63
            || !role
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(StoreError::Invalid(format!(
                "role {role:?}: use lower-case letters, digits and _"
            )));
        }
        let append_only = APPEND_ONLY.join(", ");
        let sql = format!(
            "GRANT USAGE ON SCHEMA public TO \"{role}\";\n\
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"{role}\";\n\
             REVOKE UPDATE, DELETE, TRUNCATE ON {append_only} FROM \"{role}\";\n\
             REVOKE INSERT, UPDATE, DELETE ON _sqlx_migrations FROM \"{role}\";\n\
             GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO \"{role}\";\n"
        );
        sqlx::raw_sql(&sql).execute(&self.pool).await?;
        Ok(())
    }

    /// Without migrating: refuses a schema older (or newer) than this build's.
    async fn check_schema(&self) -> Result<(), StoreError> {
        let want = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let have: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .ok()
                .flatten();
        match have {
            Some(v) if v == want => Ok(()),
            have => Err(StoreError::Invalid(format!(
                "the schema is at version {}, this build needs {want}: the schema owner runs `renkei migrate`",
                have.map_or("none".to_owned(), |v| v.to_string())
            ))),
        }
    }

    /// Refuses UPDATE, DELETE (and on PostgreSQL TRUNCATE) on the append-only tables.
    async fn install_guards(&self) -> Result<(), StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                let mut s = String::new();
                for t in APPEND_ONLY {
                    for op in ["UPDATE", "DELETE"] {
                        s.push_str(&format!(
                            "CREATE TRIGGER IF NOT EXISTS {t}_no_{op} BEFORE {op} ON {t} \
                             BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END;\n",
                            op = op.to_lowercase()
                        ));
                    }
                }
                s
            }
            Backend::Postgres => {
                let mut s = String::from(
                    "CREATE OR REPLACE FUNCTION renkei_append_only() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$;\n",
                );
                for t in APPEND_ONLY {
                    s.push_str(&format!(
                        "CREATE OR REPLACE TRIGGER {t}_no_change BEFORE UPDATE OR DELETE ON {t} \
                         FOR EACH ROW EXECUTE FUNCTION renkei_append_only();\n\
                         CREATE OR REPLACE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} \
                         FOR EACH STATEMENT EXECUTE FUNCTION renkei_append_only();\n"
                    ));
                }
                s
            }
        };
        sqlx::raw_sql(&sql).execute(&self.pool).await?;
        Ok(())
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a transaction that reads before it writes cannot fail
    /// with a busy-snapshot error when another writer commits in between.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with any password removed, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Checks the store answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection, waiting for them to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Tables that only ever grow.
pub const APPEND_ONLY: [&str; 4] = [
    "audit_log",
    "audit_checkpoints",
    "audit_witness",
    "deletion_certificates",
];

fn sqlite_path(url: &str) -> String {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    rest.split('?').next().unwrap_or("").to_owned()
}

/// The URL with its password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return url.to_owned();
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query_pairs()
        .any(|(k, _)| k.eq_ignore_ascii_case("password"))
    {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("password") {
                    "***".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_and_redaction() {
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::from_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        let e = Backend::from_url("mysql://u:secretpw@h/db")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secretpw"), "{e}");
        assert_eq!(redact("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert!(!redact("postgres://u@h/db?password=hunter2&sslmode=require").contains("hunter2"));
        assert_eq!(sqlite_path("sqlite:///tmp/a/b.db?mode=rwc"), "/tmp/a/b.db");
        assert_eq!(sqlite_path("sqlite://data/renkei.db"), "data/renkei.db");
    }

    #[tokio::test]
    async fn unreachable_postgres_is_one_clear_error() {
        let opts = StoreOptions {
            acquire_timeout: Duration::from_secs(2),
            ..Default::default()
        };
        let err = Store::open("postgres://u:topsecret@127.0.0.1:1/nope", &opts)
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("cannot reach the metadata store at postgres://u:***@127.0.0.1:1/nope"),
            "{msg}"
        );
        assert!(!msg.contains("topsecret"));
    }

    #[tokio::test]
    async fn sqlite_creates_file_and_guards_audit_tables() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/renkei.db", dir.path().display());
        let store = Store::open(&url, &StoreOptions::default()).await.unwrap();
        assert!(dir.path().join("sub/renkei.db").exists());
        let err = sqlx::query("DELETE FROM audit_head")
            .execute(store.pool())
            .await;
        assert!(err.is_ok(), "audit_head is mutable by design");
        sqlx::query("INSERT INTO audit_checkpoints (seq, at, hash, public_key, signature) VALUES (1, 1, 'h', 'k', 's')")
            .execute(store.pool())
            .await
            .unwrap();
        let err = sqlx::query("DELETE FROM audit_checkpoints")
            .execute(store.pool())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        // Re-opening is idempotent (migrations and guards already in place).
        drop(store);
        Store::open(&url, &StoreOptions::default()).await.unwrap();
    }

    /// The PostgreSQL deployment where `renkei serve` connects as a role that owns
    /// nothing: the owner migrates and grants; the serving role opens without
    /// migrating, works, and cannot drop, disable or get around the audit guards.
    #[tokio::test]
    async fn a_serving_role_that_owns_nothing_cannot_touch_the_guards() {
        let Some(db) = crate::testing::TestDb::postgres().await else {
            return;
        };
        let role = format!(
            "renkei_srv_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        sqlx::raw_sql(&format!("CREATE ROLE {role} LOGIN"))
            .execute(db.store.pool())
            .await
            .unwrap();
        let owner_url = db.url();
        Store::migrate(&owner_url, Some(&role)).await.unwrap();
        let mut u = url::Url::parse(&owner_url).unwrap();
        u.set_username(&role).unwrap();
        let serving = Store::open(
            u.as_str(),
            &StoreOptions {
                migrate: false,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        // What serving needs works.
        for ok in [
            "INSERT INTO audit_checkpoints (seq, at, hash, public_key, signature) VALUES (1, 1, 'h', 'k', 's')",
            "SELECT COUNT(*) FROM audit_log",
            "UPDATE audit_head SET hash = hash WHERE id = 1",
            "INSERT INTO guards (name, n) VALUES ('probe', 0)",
            "UPDATE guards SET n = n + 1 WHERE name = 'probe'",
        ] {
            sqlx::raw_sql(ok)
                .execute(serving.pool())
                .await
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        // What would rewrite history does not, with or without the triggers.
        for refused in [
            "DROP TRIGGER audit_log_no_change ON audit_log",
            "ALTER TABLE audit_log DISABLE TRIGGER USER",
            "ALTER TABLE audit_checkpoints DISABLE TRIGGER ALL",
            "DELETE FROM audit_checkpoints",
            "UPDATE audit_checkpoints SET hash = 'x'",
            "TRUNCATE audit_log",
            "DROP TABLE audit_witness",
            "DELETE FROM _sqlx_migrations",
            "CREATE OR REPLACE FUNCTION renkei_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        ] {
            let e = sqlx::raw_sql(refused)
                .execute(serving.pool())
                .await
                .expect_err(refused)
                .to_string();
            assert!(
                e.contains("permission denied") || e.contains("must be owner"),
                "{refused}: {e}"
            );
        }
        // A serving role whose schema is behind is told to migrate, not left to guess.
        sqlx::raw_sql("UPDATE _sqlx_migrations SET version = -version WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
            .execute(db.store.pool())
            .await
            .unwrap();
        let e = Store::open(
            u.as_str(),
            &StoreOptions {
                migrate: false,
                ..Default::default()
            },
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains("renkei migrate"), "{e}");
        serving.close().await;
        sqlx::raw_sql(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
            .execute(db.store.pool())
            .await
            .unwrap();
    }
}
