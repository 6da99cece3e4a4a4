//! Witnessed checkpoints: the log's head countersigned by a key the operator does not
//! hold.
//!
//! The platform signs its checkpoints with a key derived from its master key, so whoever
//! runs the platform could rewrite the log, recompute every hash and MAC and sign new
//! checkpoints. A **witness** (the supervisory auditor, or a process acting for it) holds
//! its own Ed25519 key, generated on its side; only the public half is registered with
//! the platform. At every round the witness fetches the platform's latest checkpoint and
//! the entries since the last one it countersigned, checks that they continue the chain
//! from the hash it countersigned last (so no history before it was rewritten), signs
//! the new head, hands the countersignature back, and keeps its own copy outside the
//! platform. Verification with the witness's public key then detects any rewrite,
//! deletion or truncation before the last witnessed checkpoint, without any secret of
//! the operator's; what the witness has not yet seen (the unwitnessed tail) is reported
//! with its length.

use crate::chain::{Checkpoint, EntryRow, GENESIS};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::Path;

const WITNESS_TAG: &[u8] = b"renkei-audit-witness-v1";

/// A checkpoint countersigned by a witness.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessedCheckpoint {
    /// Sequence number of the head entry.
    pub seq: i64,
    /// Hash of the head entry (hex).
    pub hash: String,
    /// When the platform signed the checkpoint (unix microseconds).
    pub at: i64,
    /// When the witness countersigned it (unix microseconds, the witness's clock).
    pub witnessed_at: i64,
    /// The witness's Ed25519 public key (hex).
    pub witness_key: String,
    /// The witness's signature (hex).
    pub signature: String,
}

impl WitnessedCheckpoint {
    fn message(seq: i64, hash: &str, at: i64, witnessed_at: i64) -> Vec<u8> {
        let mut m = WITNESS_TAG.to_vec();
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend_from_slice(hash.as_bytes());
        m.extend_from_slice(&at.to_be_bytes());
        m.extend_from_slice(&witnessed_at.to_be_bytes());
        m
    }

    /// Countersigns `cp` with the witness's key at `witnessed_at`.
    pub fn sign(key: &SigningKey, cp: &Checkpoint, witnessed_at: i64) -> Self {
        let sig = key.sign(&Self::message(cp.seq, &cp.hash, cp.at, witnessed_at));
        Self {
            seq: cp.seq,
            hash: cp.hash.clone(),
            at: cp.at,
            witnessed_at,
            witness_key: hex::encode(key.verifying_key().to_bytes()),
            signature: hex::encode(sig.to_bytes()),
        }
    }

    /// Whether the countersignature is valid and made by `key`.
    pub fn is_valid(&self, key: &VerifyingKey) -> bool {
        if self.witness_key != hex::encode(key.to_bytes()) {
            return false;
        }
        let Ok(sig_bytes) =
            <[u8; 64]>::try_from(hex::decode(&self.signature).unwrap_or_default().as_slice())
        else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&sig_bytes);
        key.verify_strict(
            &Self::message(self.seq, &self.hash, self.at, self.witnessed_at),
            &sig,
        )
        .is_ok()
    }
}

/// Parses a hex Ed25519 public key.
pub fn parse_public_key(hex_key: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// Why a witness refused to countersign.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WitnessRefusal {
    /// The platform's head went backwards: entries the witness had seen are gone.
    #[error(
        "the log now ends at entry {now}, before entry {witnessed} that was witnessed: it was truncated"
    )]
    Truncated {
        /// The head now.
        now: i64,
        /// The last witnessed head.
        witnessed: i64,
    },
    /// The entries since the last witnessed head do not continue its chain.
    #[error(
        "entry {seq} does not continue the chain witnessed up to entry {from}: history was rewritten"
    )]
    Rewritten {
        /// The first entry that does not fit.
        seq: i64,
        /// The last witnessed head.
        from: i64,
    },
    /// The entries handed over do not reach the checkpoint.
    #[error("the entries given end at {got}, not at the checkpoint's entry {want}")]
    Incomplete {
        /// Last entry given.
        got: i64,
        /// The checkpoint's entry.
        want: i64,
    },
}

/// The witness's judgement of one round: given its last witnessed checkpoint, the
/// platform's new checkpoint and the entries between them (in order), whether the new
/// head continues the witnessed chain. Entry hashes are recomputed from their content,
/// and each entry must link to the one before.
pub fn check_continuity(
    last: Option<&WitnessedCheckpoint>,
    new: &Checkpoint,
    entries: &[EntryRow],
) -> Result<(), WitnessRefusal> {
    let (from_seq, from_hash) = match last {
        Some(w) => (w.seq, w.hash.clone()),
        None => (0, GENESIS.to_owned()),
    };
    if new.seq < from_seq {
        return Err(WitnessRefusal::Truncated {
            now: new.seq,
            witnessed: from_seq,
        });
    }
    let mut prev = from_hash;
    let mut seq = from_seq;
    for e in entries
        .iter()
        .filter(|e| e.seq > from_seq && e.seq <= new.seq)
    {
        let rewritten = WitnessRefusal::Rewritten {
            seq: e.seq,
            from: from_seq,
        };
        let Some(prev_bytes) = decode32(&e.prev_hash) else {
            return Err(rewritten);
        };
        if e.seq != seq + 1 || e.prev_hash != prev {
            return Err(rewritten);
        }
        if hex::encode(e.expected_hash(&prev_bytes)) != e.hash {
            return Err(rewritten);
        }
        prev = e.hash.clone();
        seq = e.seq;
    }
    if seq != new.seq {
        return Err(WitnessRefusal::Incomplete {
            got: seq,
            want: new.seq,
        });
    }
    if prev != new.hash {
        return Err(WitnessRefusal::Rewritten {
            seq: new.seq,
            from: from_seq,
        });
    }
    Ok(())
}

fn decode32(h: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(h, &mut out).ok().map(|()| out)
}

/// The witness's own record of what it countersigned: JSON Lines, one
/// [`WitnessedCheckpoint`] per line, kept outside the platform.
pub fn append_witness_log(path: &Path, w: &WitnessedCheckpoint) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut line = serde_json::to_string(w).map_err(std::io::Error::other)?;
    line.push('\n');
    f.write_all(line.as_bytes())?;
    f.sync_data()
}

/// Reads a witness log; a line that does not parse is an error naming it.
pub fn read_witness_log(path: &Path) -> std::io::Result<Vec<WitnessedCheckpoint>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| std::io::Error::other(format!("{}:{}: {e}", path.display(), i + 1)))
        })
        .collect()
}

/// A new witness key, written hex-encoded to `path` (owner-only, never overwritten).
/// Returns its public half.
pub fn new_witness_key(path: &Path) -> std::io::Result<VerifyingKey> {
    let key = SigningKey::from_bytes(&renkei_crypto::random_bytes::<32>());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    let text = zeroize::Zeroizing::new(format!("{}\n", hex::encode(key.to_bytes())));
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(key.verifying_key())
}

/// Reads a witness key written by [`new_witness_key`].
pub fn load_witness_key(path: &Path) -> std::io::Result<SigningKey> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path)?);
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), &mut bytes[..])
        .map_err(|_| std::io::Error::other(format!("{}: not a witness key", path.display())))?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Where a witness reads the platform's log and hands its countersignatures back: the
/// platform's HTTP API for a witness on the auditor's side (`renkei audit witness`), or
/// a checked [`AuditReader`](crate::AuditReader) in-process.
pub trait WitnessSource {
    /// The source's failure.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The platform's newest signed checkpoint (the platform writes one first if its
    /// head moved).
    fn checkpoint(
        &self,
    ) -> impl std::future::Future<Output = Result<Option<Checkpoint>, Self::Error>> + Send;
    /// Entries after `seq`, oldest first, at most `limit`.
    fn entries_after(
        &self,
        seq: i64,
        limit: i64,
    ) -> impl std::future::Future<Output = Result<Vec<EntryRow>, Self::Error>> + Send;
    /// Hands a countersignature to the platform.
    fn submit(
        &self,
        w: &WitnessedCheckpoint,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send;
}

/// Entries a witness reads per request.
const PAGE: i64 = 20_000;

/// A witness: its signing key and its own record of what it countersigned, kept outside
/// the platform.
pub struct Witness {
    key: SigningKey,
    log: std::path::PathBuf,
}

/// A witness round failed.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    /// The platform's log does not continue what was witnessed.
    #[error(transparent)]
    Refused(#[from] WitnessRefusal),
    /// Reading the platform's log or handing the countersignature back failed.
    #[error("the platform: {0}")]
    Source(Box<dyn std::error::Error + Send + Sync>),
    /// The witness's own log could not be read or written.
    #[error("witness log: {0}")]
    Io(#[from] std::io::Error),
}

impl Witness {
    /// A witness with `key`, keeping its record in `log`.
    pub fn new(key: SigningKey, log: std::path::PathBuf) -> Self {
        Self { key, log }
    }

    /// The witness's public key.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// One round: countersigns the platform's newest checkpoint if it continues the
    /// chain last countersigned, records it in the witness's own log and hands it to the
    /// platform. Returns the new countersignature, or `None` when the head has not moved.
    /// `now` is the witness's clock (unix microseconds).
    pub async fn round<S: WitnessSource>(
        &self,
        source: &S,
        now: i64,
    ) -> Result<Option<WitnessedCheckpoint>, RoundError> {
        let src = |e: S::Error| RoundError::Source(Box::new(e));
        let last = read_witness_log(&self.log)?.pop();
        let Some(cp) = source.checkpoint().await.map_err(src)? else {
            return Ok(None);
        };
        if last
            .as_ref()
            .is_some_and(|l| l.seq == cp.seq && l.hash == cp.hash)
        {
            return Ok(None);
        }
        let from = last.as_ref().map_or(0, |l| l.seq);
        let mut entries: Vec<EntryRow> = Vec::new();
        loop {
            let after = entries.last().map_or(from, |e| e.seq);
            if after >= cp.seq {
                break;
            }
            let page = source
                .entries_after(after, (cp.seq - after).min(PAGE))
                .await
                .map_err(src)?;
            if page.is_empty() {
                break;
            }
            entries.extend(page);
        }
        check_continuity(last.as_ref(), &cp, &entries)?;
        let w = WitnessedCheckpoint::sign(&self.key, &cp, now);
        // The witness's own copy first: if the platform then refuses or is unreachable,
        // the countersignature still binds the history it saw.
        append_witness_log(&self.log, &w)?;
        source.submit(&w).await.map_err(src)?;
        Ok(Some(w))
    }
}

impl WitnessSource for crate::AuditReader {
    type Error = crate::AuditError;

    async fn checkpoint(&self) -> Result<Option<Checkpoint>, Self::Error> {
        self.latest_checkpoint().await
    }

    async fn entries_after(&self, seq: i64, limit: i64) -> Result<Vec<EntryRow>, Self::Error> {
        crate::AuditReader::entries_after(self, seq, limit).await
    }

    async fn submit(&self, w: &WitnessedCheckpoint) -> Result<(), Self::Error> {
        self.accept_witness(w).await
    }
}
