-- Rows that transactions update first, to serialize checks that read several rows
-- (e.g. "is another active admin left?") on PostgreSQL as SQLite's write lock does.
CREATE TABLE guards (
    name TEXT PRIMARY KEY,
    n    BIGINT NOT NULL
);
INSERT INTO guards (name, n) VALUES ('roles', 0);
