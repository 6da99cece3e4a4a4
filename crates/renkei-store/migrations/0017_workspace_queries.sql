-- Queries run in projects' workspaces: what was asked and how it ended. The rows a
-- query returned are never stored; they are shown from memory while they are fresh.
-- `project` is the project's id, which is its first application's: queries on an
-- application's dummy data (`dummy`) are kept under it before the project exists.
CREATE TABLE workspace_queries (
    id          TEXT PRIMARY KEY,
    project     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    sql_text    TEXT NOT NULL,
    status      TEXT NOT NULL,            -- running | finished | failed | stopped
    reason      TEXT,                     -- the code of a failure or stop
    plan_hash   TEXT,
    rows_out    BIGINT,
    bytes_out   BIGINT,
    truncated   BIGINT,                   -- 1 when more rows than shown
    dummy       BIGINT NOT NULL,          -- 1 on an application's dummy data
    elapsed_ms  BIGINT,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX workspace_queries_by_user ON workspace_queries (project, user_id, started_at);

-- Queries a researcher keeps under a name, per project.
CREATE TABLE saved_queries (
    project    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    sql_text   TEXT NOT NULL,
    saved_at   BIGINT NOT NULL,
    PRIMARY KEY (project, user_id, name)
);

-- Results a researcher asked to take out: pending outputs, for output checking. The
-- result and its query are sealed under a key derived from the project's extract key,
-- so closure shreds them with the extract.
CREATE TABLE outputs (
    id          TEXT PRIMARY KEY,
    project     TEXT NOT NULL REFERENCES projects(id),
    user_id     TEXT NOT NULL,
    query_id    TEXT NOT NULL,
    title       TEXT NOT NULL,
    status      TEXT NOT NULL,            -- pending (checking comes next)
    plan_hash   TEXT NOT NULL,
    rows_out    BIGINT NOT NULL,
    sealed      TEXT NOT NULL,            -- {sql, result} as JSON, sealed
    created_at  BIGINT NOT NULL
);
CREATE INDEX outputs_by_project ON outputs (project, created_at);
