-- Runs of the linkage authority's person index. Each run is a version of the index
-- (its files are encrypted Parquet in the data store); the newest committed one is
-- current. A run that did not finish stays 'running' or 'failed' and is never read.
CREATE TABLE link_runs (
    version     BIGINT PRIMARY KEY,
    status      TEXT NOT NULL,            -- running | committed | failed
    run_by      TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    report      TEXT                      -- the quality report (JSON)
);

-- Tokens held for review by a run: a link that would have joined two people already
-- distinct. Only the linkage authority reads them.
CREATE TABLE link_conflicts (
    version    BIGINT NOT NULL REFERENCES link_runs(version),
    family     TEXT NOT NULL,
    token      TEXT NOT NULL,             -- hex
    reason     TEXT NOT NULL,
    PRIMARY KEY (version, family, token)
);

-- Project extracts: each materialization is a version, made under one permit
-- version from one person-index version. The newest committed one is current.
CREATE TABLE extracts (
    project        TEXT NOT NULL REFERENCES projects(id),
    version        BIGINT NOT NULL,
    permit_version BIGINT NOT NULL,
    index_version  BIGINT NOT NULL,
    status         TEXT NOT NULL,         -- running | committed | failed
    made_at        BIGINT NOT NULL,
    summary        TEXT,                  -- rows and persons per table, exclusions, risk (JSON)
    PRIMARY KEY (project, version)
);
