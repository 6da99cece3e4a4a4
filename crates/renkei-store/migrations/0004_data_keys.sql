-- Destroyable data keys and the certificates of their destruction.
--
-- A data key is 256 random bits, stored only wrapped (AES-GCM under a key derived from
-- the master key, bound to the key's id and owner). Destroying it sets `wrapped` to NULL
-- in the same transaction that records the deletion certificate and its audit entry;
-- the files it encrypted then open with no key the platform holds.
CREATE TABLE data_keys (
    id           TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,          -- dataset:<id> | extract:<project>
    context      TEXT NOT NULL,          -- what the wrapping was bound to
    wrapped      TEXT,                   -- NULL once destroyed
    created_at   BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    destroyed_at BIGINT,
    destroyed_by TEXT
);
CREATE INDEX data_keys_owner ON data_keys (owner);

CREATE TABLE deletion_certificates (
    id                TEXT PRIMARY KEY,
    subject           TEXT NOT NULL,     -- what was deleted: extract:<project>, dataset:<id>
    key_ids           TEXT NOT NULL,     -- JSON list of the destroyed keys
    reason            TEXT NOT NULL,
    destroyed_at      BIGINT NOT NULL,
    destroyed_by      TEXT NOT NULL,     -- actor id
    destroyed_by_name TEXT NOT NULL,
    request_id        TEXT NOT NULL,
    digest            TEXT NOT NULL      -- SHA-256 of the certificate's canonical JSON
);
CREATE INDEX deletion_certificates_subject ON deletion_certificates (subject);

-- Dataset keys made before this table existed move into it, keeping their wrapping.
INSERT INTO data_keys (id, owner, context, wrapped, created_at, created_by)
    SELECT 'dk-' || id, 'dataset:' || id, 'dataset:' || id, wrapped_key, created_at, 'migration'
    FROM datasets;
ALTER TABLE datasets ADD COLUMN key_id TEXT;
UPDATE datasets SET key_id = 'dk-' || id, wrapped_key = '';
