//! Integration tests of the HTTP face, in-process (no socket), on SQLite and, when
//! `RENKEI_TEST_POSTGRES_URL` is set, PostgreSQL. One binary, per the project's habit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test helpers, not only #[test] fns.

mod access;
mod catalog;
mod common;
mod routes;
mod web;
