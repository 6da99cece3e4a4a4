-- Serializes an ingest's commit against the start of a linkage-key rotation on
-- PostgreSQL, as SQLite's write lock does: both update this row first.
INSERT INTO guards (name, n) VALUES ('linkage', 0);
