-- Failed password sign-ins, per account (or per claimed unknown name) and per client
-- address: a lock set by one client's guesses keeps that client out, not the account's
-- owner elsewhere. Failures decay with time.
CREATE TABLE sign_in_failures (
    subject      TEXT NOT NULL,     -- user:<id>, or unknown:<keyed digest of the name>
    source       TEXT NOT NULL,     -- client address ('' for the command line)
    failures     BIGINT NOT NULL,
    last_at      BIGINT NOT NULL,   -- time of the last failure (unix microseconds)
    locked_until BIGINT NOT NULL,
    PRIMARY KEY (subject, source)
);
