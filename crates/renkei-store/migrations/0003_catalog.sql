-- The dataset catalogue: what each dataset is (its declaration), its data key (wrapped
-- by the master key), and every version ingested into it with the quality profile.
CREATE TABLE datasets (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,       -- public | ehr | private
    declaration     TEXT NOT NULL,       -- the declaration as TOML
    wrapped_key     TEXT NOT NULL,       -- the data key, sealed under the master key
    current_version BIGINT,              -- NULL until the first version commits
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE dataset_versions (
    dataset_id    TEXT NOT NULL REFERENCES datasets(id),
    version       BIGINT NOT NULL,
    status        TEXT NOT NULL,         -- committed | refused
    reason        TEXT NOT NULL,         -- why refused, else empty
    created_at    BIGINT NOT NULL,
    created_by    TEXT NOT NULL,
    files         TEXT NOT NULL,         -- JSON: [{name, bytes, sha256}]
    rows_in       BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    coverage_from TEXT NOT NULL,
    coverage_to   TEXT NOT NULL,
    profile       TEXT NOT NULL,         -- JSON: tables, row counts, variable profiles
    PRIMARY KEY (dataset_id, version)
);
