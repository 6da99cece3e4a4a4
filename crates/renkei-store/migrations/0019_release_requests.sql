-- Release requests: outputs grouped with their context and controls, and the checkers'
-- reviews of the current turn. The state machine (renkei-airlock) decides every
-- change; these tables keep where each request stands. The service checks that the
-- project and each output exist and belong together before anything is written here.
CREATE TABLE release_requests (
    id          TEXT PRIMARY KEY,
    project     TEXT NOT NULL,
    author      TEXT NOT NULL,
    state       TEXT NOT NULL,
    turn        BIGINT NOT NULL,
    involved    TEXT NOT NULL,            -- JSON array of the user ids named on the permit
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX release_requests_by_project ON release_requests (project, created_at);
CREATE INDEX release_requests_by_state ON release_requests (state, updated_at);

CREATE TABLE release_groups (
    request     TEXT NOT NULL REFERENCES release_requests(id),
    position    BIGINT NOT NULL,
    name        TEXT NOT NULL,
    context     TEXT NOT NULL,
    controls    TEXT NOT NULL,
    PRIMARY KEY (request, name)
);

CREATE TABLE release_outputs (
    request     TEXT NOT NULL REFERENCES release_requests(id),
    output_id   TEXT NOT NULL,
    group_name  TEXT NOT NULL,
    position    BIGINT NOT NULL,
    verdict     TEXT NOT NULL,            -- the automatic checks' verdict when added
    exception   TEXT,                     -- the researcher's reason for a failed rule
    supporting  BIGINT NOT NULL,          -- 1: for the checkers' eyes only
    PRIMARY KEY (request, output_id)
);

-- One row per checker per turn; the votes as JSON (output, vote, comment, public,
-- override reason), fixed once submitted.
CREATE TABLE release_reviews (
    request     TEXT NOT NULL REFERENCES release_requests(id),
    turn        BIGINT NOT NULL,
    checker     TEXT NOT NULL,
    position    BIGINT NOT NULL,
    submitted   BIGINT NOT NULL,
    ballots     TEXT NOT NULL,
    PRIMARY KEY (request, turn, checker)
);
