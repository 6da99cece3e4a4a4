-- The ethics committee's roster: each member with the attributes the guideline's
-- composition rules read (one expertise category per member).
CREATE TABLE committee_members (
    user_id     TEXT PRIMARY KEY REFERENCES users(id),
    expertise   TEXT NOT NULL,          -- natural_science | humanities_social | general_public
    external    BIGINT NOT NULL,        -- 1: from outside the establishing institution
    sex         TEXT NOT NULL,          -- female | male
    appointed_at BIGINT NOT NULL,
    appointed_by TEXT NOT NULL
);

-- Accreditations of the people who may be named on a permit. Dates are YYYY-MM-DD.
CREATE TABLE accreditations (
    user_id          TEXT PRIMARY KEY REFERENCES users(id),
    course           TEXT NOT NULL,
    trained_on       TEXT,
    pledge_signed_on TEXT,
    institution      TEXT NOT NULL,
    safety_measures  TEXT NOT NULL,
    expires_on       TEXT NOT NULL,
    revoked_on       TEXT,
    revoked_reason   TEXT,
    recorded_at      BIGINT NOT NULL,
    recorded_by      TEXT NOT NULL
);

-- Applications: the review's state (as the state machine's JSON, with its code for
-- queries) and the content's current version.
CREATE TABLE applications (
    id           TEXT PRIMARY KEY,
    applicant    TEXT NOT NULL REFERENCES users(id),
    state        TEXT NOT NULL,
    state_json   TEXT NOT NULL,
    version      BIGINT NOT NULL,
    amendment_of TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX applications_applicant ON applications (applicant);
CREATE INDEX applications_state ON applications (state);

-- Every version of an application's content is kept: a draft is saved over its own
-- version until it is submitted; changes after a return make a new version.
CREATE TABLE application_versions (
    application_id TEXT NOT NULL REFERENCES applications(id),
    version        BIGINT NOT NULL,
    content        TEXT NOT NULL,       -- JSON
    saved_at       BIGINT NOT NULL,
    submitted_at   BIGINT,
    PRIMARY KEY (application_id, version)
);

-- The application's history as its applicant and reviewers see it: each step, who took
-- it, and what they wrote (requests for changes, decisions with reasons).
CREATE TABLE application_events (
    application_id TEXT NOT NULL REFERENCES applications(id),
    seq            BIGINT NOT NULL,
    at             BIGINT NOT NULL,
    actor          TEXT NOT NULL,
    step           TEXT NOT NULL,
    state          TEXT NOT NULL,       -- the state it led to
    detail         TEXT NOT NULL,       -- JSON
    PRIMARY KEY (application_id, seq)
);

-- Conflicts of interest declared by committee members, per application.
CREATE TABLE application_conflicts (
    application_id TEXT NOT NULL REFERENCES applications(id),
    member_id      TEXT NOT NULL REFERENCES users(id),
    conflicted     BIGINT NOT NULL,
    detail         TEXT NOT NULL,
    declared_at    BIGINT NOT NULL,
    PRIMARY KEY (application_id, member_id)
);
