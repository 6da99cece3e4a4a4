-- Which custodian holds which dataset: a custodian sees the exact profiles, versions
-- and reject reports of these only.
CREATE TABLE dataset_custodians (
    dataset_id  TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users(id),
    assigned_at BIGINT NOT NULL,
    assigned_by TEXT NOT NULL,
    PRIMARY KEY (dataset_id, user_id)
);
CREATE INDEX dataset_custodians_user ON dataset_custodians (user_id);
