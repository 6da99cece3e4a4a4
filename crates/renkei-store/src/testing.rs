//! Fresh stores for tests: a SQLite file in a temporary directory, or a new PostgreSQL
//! database on the server named by `RENKEI_TEST_POSTGRES_URL`, dropped afterwards.
//!
//! Use [`store_test!`](crate::store_test) to run one async test body on both backends.

use crate::{Backend, Store, StoreOptions};

/// Environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "RENKEI_TEST_POSTGRES_URL";

/// A store that cleans up after itself.
pub struct TestDb {
    /// The store.
    pub store: Store,
    /// Kept for SQLite so the directory lives as long as the store.
    pub dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

impl TestDb {
    /// A fresh SQLite store in a temporary directory.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| fail(&format!("tempdir: {e}")));
        let url = format!("sqlite://{}/renkei.db", dir.path().display());
        let store = Store::open(&url, &StoreOptions::default())
            .await
            .unwrap_or_else(|e| fail(&e.to_string()));
        Self {
            store,
            dir: Some(dir),
            pg_drop: None,
        }
    }

    /// A fresh PostgreSQL database, or `None` (after [`skip`]) when
    /// `RENKEI_TEST_POSTGRES_URL` is unset.
    pub async fn postgres() -> Option<Self> {
        let Some(admin_url) = std::env::var(POSTGRES_ENV).ok().filter(|v| !v.is_empty()) else {
            skip(
                "PostgreSQL",
                "set RENKEI_TEST_POSTGRES_URL to run the PostgreSQL cases",
            );
            return None;
        };
        let name = format!("renkei_t_{}", uuid::Uuid::new_v4().simple());
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&admin_url)
            .await
            .unwrap_or_else(|e| fail(&format!("cannot reach test PostgreSQL: {e}")));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap_or_else(|e| fail(&format!("create database: {e}")));
        admin.close().await;
        let mut u = url::Url::parse(&admin_url).unwrap_or_else(|e| fail(&e.to_string()));
        u.set_path(&format!("/{name}"));
        let store = Store::open(u.as_str(), &StoreOptions::default())
            .await
            .unwrap_or_else(|e| fail(&e.to_string()));
        Some(Self {
            store,
            dir: None,
            pg_drop: Some((admin_url, name)),
        })
    }

    /// The URL of this store (for starting a server process on it).
    pub fn url(&self) -> String {
        match self.store.backend() {
            Backend::Sqlite => self.store.url().to_owned(),
            Backend::Postgres => self.store.url().to_owned(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg_drop.take() {
            // Drop runs inside the test's runtime, which the join below blocks, so the
            // store's own connections cannot be closed politely from here; WITH (FORCE)
            // terminates them server-side.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    if let Ok(admin) = sqlx::AnyPool::connect(&admin_url).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&admin)
                                .await;
                        admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

#[allow(clippy::panic)]
fn fail(msg: &str) -> ! {
    panic!("test store: {msg}")
}

/// Environment variable naming a file where skipped tests are listed (set by
/// `scripts/test`, which prints the list at the end of the run).
pub const SKIP_LOG_ENV: &str = "RENKEI_SKIP_LOG";

/// Records that the calling test could not run because `what` is missing, and
/// returns so the test ends early. Under CI (`CI=true`) a skip is a failure instead:
/// CI must prove every backend and the browser ran.
#[allow(clippy::panic)]
pub fn skip(what: &str, how_to_run: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_owned();
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{test}: {what} is not available under CI ({how_to_run})");
    }
    eprintln!("SKIPPED {test}: {what} not available; {how_to_run}");
    if let Some(path) = std::env::var_os(SKIP_LOG_ENV) {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{test}: {what} not available ({how_to_run})");
        }
    }
}

/// Runs `async fn $name(store: Store)` on SQLite, and on PostgreSQL when
/// `RENKEI_TEST_POSTGRES_URL` is set (otherwise the PostgreSQL case records a skip, and
/// fails under CI).
#[macro_export]
macro_rules! store_test {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let db = $crate::testing::TestDb::sqlite().await;
                super::$name(db.store.clone()).await;
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(db) = $crate::testing::TestDb::postgres().await {
                    super::$name(db.store.clone()).await;
                }
            }
        }
    )+};
}
