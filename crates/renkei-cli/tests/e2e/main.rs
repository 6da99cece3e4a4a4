//! End-to-end tests: the real `renkei` binary, a real HTTP socket, real SQLite and (when
//! `RENKEI_TEST_POSTGRES_URL` is set) real PostgreSQL.

mod audit;
mod harness;
mod server;
