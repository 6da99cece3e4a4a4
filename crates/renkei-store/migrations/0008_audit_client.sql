-- The client's network address in every audit entry (empty for the command line and
-- the platform itself). An entry with an address hashes under tag v2 with the address
-- as a tenth field; one without hashes as before, so older entries verify unchanged.
ALTER TABLE audit_log ADD COLUMN client TEXT NOT NULL DEFAULT '';
