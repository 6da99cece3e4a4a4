//! Integration tests of the HTTP face, in-process (no socket), on SQLite and, when
//! `RENKEI_TEST_POSTGRES_URL` is set, PostgreSQL. One binary, per the project's habit.

mod common;
mod routes;
mod web;
