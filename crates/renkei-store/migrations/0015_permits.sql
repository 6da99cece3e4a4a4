-- Projects: what an approved application becomes. The id is the first application's;
-- amendments are applications of their own that point at it.
CREATE TABLE projects (
    id             TEXT PRIMARY KEY,
    applicant      TEXT NOT NULL REFERENCES users(id),
    permit_version BIGINT NOT NULL,       -- the version in force
    created_at     BIGINT NOT NULL,
    closed_at      BIGINT,                -- set once: closure is final
    closure_reason TEXT,
    certificate    TEXT                   -- the deletion certificate (JSON)
);

-- Every version of every permit is kept; the project names the one in force.
CREATE TABLE permits (
    project        TEXT NOT NULL REFERENCES projects(id),
    version        BIGINT NOT NULL,
    application_id TEXT NOT NULL REFERENCES applications(id),
    document       TEXT NOT NULL,         -- the permit (JSON)
    starts_on      TEXT NOT NULL,         -- YYYY-MM-DD
    ends_on        TEXT NOT NULL,
    issued_at      BIGINT NOT NULL,
    PRIMARY KEY (project, version)
);

-- The people named on the permit in force, for "my projects" and the check.
CREATE TABLE permit_people (
    project TEXT NOT NULL REFERENCES projects(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (project, user_id)
);
CREATE INDEX permit_people_user ON permit_people (user_id);

-- Results and publications of a project, for the public register.
CREATE TABLE project_publications (
    project  TEXT NOT NULL REFERENCES projects(id),
    seq      BIGINT NOT NULL,
    kind     TEXT NOT NULL,               -- article | report | dataset | other
    citation TEXT NOT NULL,
    url      TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    added_by TEXT NOT NULL,
    PRIMARY KEY (project, seq)
);

-- Messages waiting to be sent (e-mail is sent by whatever reads this table). `dedupe`
-- makes each warning once: a sweep that runs twice adds nothing.
CREATE TABLE outbox (
    id         TEXT PRIMARY KEY,
    recipient  TEXT NOT NULL REFERENCES users(id),
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    dedupe     TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    sent_at    BIGINT
);

-- The opt-out register: a person's request, kept only as the linkage tokens their fields
-- make at the door, like ingest's (no identifier is stored), one row per token family.
-- A linkage key rotation re-keys them with the datasets.
CREATE TABLE opt_outs (
    request          TEXT NOT NULL,
    token_kind       TEXT NOT NULL,        -- id1 | id2 | kanji
    token            TEXT NOT NULL,        -- hex
    token_generation BIGINT NOT NULL,
    recorded_at      BIGINT NOT NULL,
    recorded_by      TEXT NOT NULL,
    withdrawn_at     BIGINT,
    PRIMARY KEY (request, token_kind)
);
CREATE INDEX opt_outs_token ON opt_outs (token_kind, token);

-- Attachments to an application: typed by content, hashed, size-limited (10 MiB).
CREATE TABLE application_attachments (
    application_id TEXT NOT NULL REFERENCES applications(id),
    seq            BIGINT NOT NULL,
    name           TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size           BIGINT NOT NULL,
    sha256         TEXT NOT NULL,
    content        BYTEA NOT NULL,
    added_at       BIGINT NOT NULL,
    added_by       TEXT NOT NULL,
    PRIMARY KEY (application_id, seq)
);

-- The committee's meetings, scheduled by the secretariat. An expedited review names
-- the members designated to decide it; its decisions are reported to the full
-- committee afterwards (`reported_at`).
CREATE TABLE meetings (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    held_on     TEXT NOT NULL,            -- YYYY-MM-DD
    expedited   BIGINT NOT NULL,
    designated  TEXT NOT NULL,            -- JSON list of member user ids
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    reported_at BIGINT
);

-- Committee members' comments on an application under review, one per member (the
-- latest kept); the decision records them with the members present.
CREATE TABLE member_comments (
    application_id TEXT NOT NULL REFERENCES applications(id),
    member_id      TEXT NOT NULL REFERENCES users(id),
    comment        TEXT NOT NULL,
    at             BIGINT NOT NULL,
    PRIMARY KEY (application_id, member_id)
);
