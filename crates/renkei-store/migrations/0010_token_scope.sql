-- What an API token may do: `all` of its owner's permissions through the API, or
-- `read_only` (reading permissions only, no state-changing request).
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'all';
