-- What validated each dataset version, and under which linkage key its tokens were made.
--
-- masters: JSON list of the master versions its codes were checked against.
-- linkage_fingerprint: the fingerprint (never the key) of the linkage keyring that
--   computed its tokens; token_generation: how many keys of the keyring its tokens
--   went through (a key rotation re-keys every version to the new generation).
ALTER TABLE dataset_versions ADD COLUMN masters TEXT NOT NULL DEFAULT '[]';
ALTER TABLE dataset_versions ADD COLUMN linkage_fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE dataset_versions ADD COLUMN token_generation BIGINT NOT NULL DEFAULT 1;

-- Platform-wide settings that must agree across processes (the linkage key's
-- fingerprint and generation). One row per key.
CREATE TABLE platform_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
