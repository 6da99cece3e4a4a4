-- Single-use enrolment links: a new user (or one whose access was reset) sets their own
-- password with one, then enrols an authenticator. Only the link's hash is kept.
CREATE TABLE enrolment_links (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    purpose    TEXT NOT NULL,          -- new | reset
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    created_by TEXT NOT NULL
);
CREATE INDEX enrolment_links_user ON enrolment_links (user_id);

-- Requests to grant a privileged role (admin, auditor, linkage authority), which take
-- a second administrator's approval.
CREATE TABLE role_requests (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    roles        TEXT NOT NULL,        -- the whole new set, comma-separated codes
    requested_by TEXT NOT NULL,        -- user:<id>
    requested_at BIGINT NOT NULL,
    status       TEXT NOT NULL,        -- pending | approved | rejected
    decided_by   TEXT,
    decided_at   BIGINT
);
CREATE INDEX role_requests_user ON role_requests (user_id);
