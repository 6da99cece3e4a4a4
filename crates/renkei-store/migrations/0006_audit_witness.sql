-- Checkpoints countersigned by a witness key the operator does not hold (the
-- supervisory auditor's). Append-only, like the log they vouch for; the witness keeps
-- its own copy outside the platform.
CREATE TABLE audit_witness (
    seq          BIGINT NOT NULL,
    hash         TEXT NOT NULL,
    at           BIGINT NOT NULL,           -- when the platform signed the checkpoint
    witnessed_at BIGINT NOT NULL,           -- when the witness countersigned it
    witness_key  TEXT NOT NULL,             -- the witness's Ed25519 public key (hex)
    signature    TEXT NOT NULL,
    PRIMARY KEY (seq, witness_key)
);
