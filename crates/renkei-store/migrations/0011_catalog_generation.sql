-- Moves on in every transaction that changes what the catalogue shows (a dataset
-- declared or changed, a version recorded): the public catalogue is rebuilt when, and
-- only when, it has moved. A counter, not a timestamp: two commits in any order move it.
CREATE TABLE catalog_generation (
    id BIGINT PRIMARY KEY,
    n  BIGINT NOT NULL
);
INSERT INTO catalog_generation (id, n) VALUES (1, 0);
