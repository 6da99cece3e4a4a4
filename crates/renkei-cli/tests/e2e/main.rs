//! End-to-end tests: the real `renkei` binary, a real HTTP socket, real SQLite and (when
//! `RENKEI_TEST_POSTGRES_URL` is set) real PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test helpers, not only #[test] fns.

mod access;
mod audit;
mod browser;
mod harness;
mod ingest;
mod server;
