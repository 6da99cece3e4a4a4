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

    /// A fresh PostgreSQL database. Panics if `RENKEI_TEST_POSTGRES_URL` is unset: callers
    /// are compiled only under `cfg(renkei_pg)`, which the build script sets from it.
    pub async fn postgres() -> Self {
        let admin_url = std::env::var(POSTGRES_ENV)
            .unwrap_or_else(|_| fail("RENKEI_TEST_POSTGRES_URL is not set"));
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
        Self {
            store,
            dir: None,
            pg_drop: Some((admin_url, name)),
        }
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

/// Runs `async fn $name(store: Store)` on SQLite, and on PostgreSQL when
/// `RENKEI_TEST_POSTGRES_URL` is set (otherwise the PostgreSQL case is reported as
/// ignored). The calling crate needs the same `build.rs` as `renkei-store` to set
/// `cfg(renkei_pg)`.
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
            #[cfg_attr(not(renkei_pg), ignore = "PostgreSQL: set RENKEI_TEST_POSTGRES_URL to run")]
            async fn postgres() {
                let db = $crate::testing::TestDb::postgres().await;
                super::$name(db.store.clone()).await;
            }
        }
    )+};
}
