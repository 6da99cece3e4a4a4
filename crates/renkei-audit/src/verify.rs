//! Walking the log and saying exactly what is wrong with it.

use crate::AuditError;
use crate::chain::{Checkpoint, load_checkpoints};
use crate::witness::WitnessedCheckpoint;
use renkei_crypto::{KeyStore, Purpose};
use renkei_store::sqlx::{self, Row as _};
use renkei_store::{Batch, Store};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What kind of tampering (or damage) a problem shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The entry's content no longer matches its hash.
    Modified,
    /// Entries are missing from the middle of the log.
    Deleted,
    /// An entry the platform did not write (its MAC is wrong).
    Inserted,
    /// A genuine entry is out of place.
    Reordered,
    /// Entries are missing from the end of the log.
    Truncated,
    /// A checkpoint is forged, unreadable or contradicts the log.
    Checkpoint,
    /// The chain head record disagrees with the entries.
    Head,
    /// Witnessing was expected and no checkpoint of the log is countersigned: the log
    /// is protected only by the operator's own keys.
    Unwitnessed,
    /// The newest checkpoint that holds is too far behind the log: entries have waited
    /// longer than allowed without being covered.
    Stale,
}

impl ProblemKind {
    /// Lower-case name, as printed.
    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::Modified => "modified",
            ProblemKind::Deleted => "deleted",
            ProblemKind::Inserted => "inserted",
            ProblemKind::Reordered => "reordered",
            ProblemKind::Truncated => "truncated",
            ProblemKind::Checkpoint => "checkpoint",
            ProblemKind::Head => "head",
            ProblemKind::Unwitnessed => "unwitnessed",
            ProblemKind::Stale => "stale",
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The entry it concerns (for deletions, the first missing one).
    pub seq: i64,
    /// What kind.
    pub kind: ProblemKind,
    /// A sentence for the auditor.
    pub detail: String,
}

/// The result of a verification.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    /// Entries read.
    pub entries: u64,
    /// Sequence number of the last entry read (0 if none).
    pub last_seq: i64,
    /// Whether MACs were checked (needs the master key).
    pub mac_checked: bool,
    /// Valid checkpoints found.
    pub checkpoints: usize,
    /// The newest valid checkpoint's sequence number.
    pub latest_checkpoint: Option<i64>,
    /// Checkpoints ignored because no trusted public key was given.
    pub unverified_checkpoints: usize,
    /// Whether witness keys were given (the only verification that holds against the
    /// operator).
    pub witness_checked: bool,
    /// Valid witnessed checkpoints found (in the store and the witness's own log).
    pub witnessed: usize,
    /// The newest witnessed checkpoint's sequence number.
    pub latest_witnessed: Option<i64>,
    /// Entries after the newest checkpoint that holds (countersigned, when witness keys
    /// were given): the tail only the operator's word covers.
    pub tail_entries: u64,
    /// How long the oldest of them has waited, in seconds at verification.
    pub tail_secs: i64,
    /// Findings, ordered by entry.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// No problems found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
    /// The earliest problem.
    pub fn first_problem(&self) -> Option<&Problem> {
        self.problems.first()
    }
}

/// What verification may use.
#[derive(Clone, Default)]
pub struct VerifyOptions {
    /// The key store, to check entry MACs. Without it, fabricated entries are found only
    /// where they break the chain.
    pub keys: Option<Arc<KeyStore>>,
    /// The public key checkpoints must be signed with. Without it a checkpoint is only
    /// checked against the key it names.
    pub public_key: Option<ed25519_dalek::VerifyingKey>,
    /// The checkpoint file kept outside the store.
    pub checkpoint_file: Option<PathBuf>,
    /// The witnesses' public keys. With them, verification holds against the operator:
    /// the log must agree with every checkpoint they countersigned, and the unwitnessed
    /// tail must be short.
    pub witness_keys: Vec<ed25519_dalek::VerifyingKey>,
    /// The witness's own log of what it countersigned (kept outside the platform).
    pub witness_log: Option<PathBuf>,
    /// How long (seconds) an entry may wait uncovered by a checkpoint that holds before
    /// verification fails. Default: [`DEFAULT_MAX_TAIL_SECS`].
    pub max_tail_secs: Option<i64>,
    /// The time of verification (unix microseconds); default now.
    pub now: Option<i64>,
}

/// How long an entry may wait for a checkpoint (or countersignature) by default: ten
/// checkpoint intervals of a minute.
pub const DEFAULT_MAX_TAIL_SECS: i64 = 600;

/// How many recent entry hashes are remembered to recognise an entry moved backwards.
/// Small enough to stay in cache; an entry moved further back than this is still
/// found, only reported as a deletion rather than a move.
const RECENT: usize = 8192;
/// Rows per batch from the store.
const BATCH: usize = 4096;

/// Walks the whole log in order and reports every problem found.
///
/// Rows stream from the store on one thread while another checks them, so the two
/// costs (reading, hashing) overlap.
pub async fn verify(store: &Store, opts: &VerifyOptions) -> Result<VerifyReport, AuditError> {
    let (checkpoints, bad_lines) = load_checkpoints(store, opts.checkpoint_file.as_deref()).await?;
    let mut problems = Vec::new();
    for line in bad_lines {
        problems.push(Problem {
            seq: 0,
            kind: ProblemKind::Checkpoint,
            detail: line,
        });
    }
    let mut valid_cps: Vec<Checkpoint> = Vec::new();
    let mut unverified_checkpoints = 0;
    for cp in checkpoints {
        let Some(pk) = opts.public_key.as_ref() else {
            // Without a key we trust, a checkpoint proves nothing: anyone can sign one
            // with a key of their own and name that key in it.
            unverified_checkpoints += 1;
            continue;
        };
        if cp.is_valid(Some(pk)) {
            valid_cps.push(cp);
        } else {
            problems.push(Problem {
                seq: cp.seq,
                kind: ProblemKind::Checkpoint,
                detail: format!(
                    "checkpoint at entry {} has an invalid signature or an unknown key",
                    cp.seq
                ),
            });
        }
    }
    // Countersigned checkpoints, from the store and from the witness's own log: only
    // those valid under a witness key given here count.
    let mut witnessed: Vec<WitnessedCheckpoint> = Vec::new();
    if !opts.witness_keys.is_empty() {
        let mut all = crate::chain::load_witnessed(store).await?;
        if let Some(path) = &opts.witness_log {
            match crate::witness::read_witness_log(path) {
                Ok(w) => all.extend(w),
                Err(e) => problems.push(Problem {
                    seq: 0,
                    kind: ProblemKind::Checkpoint,
                    detail: format!("the witness log cannot be read: {e}"),
                }),
            }
        }
        for w in all {
            if opts.witness_keys.iter().any(|k| w.is_valid(k)) {
                witnessed.push(w);
            } else {
                problems.push(Problem {
                    seq: w.seq,
                    kind: ProblemKind::Checkpoint,
                    detail: format!(
                        "a witnessed checkpoint at entry {} is not signed by a witness key given",
                        w.seq
                    ),
                });
            }
        }
        witnessed.sort_by_key(|w| (w.seq, w.witnessed_at));
        witnessed.dedup_by(|a, b| a.seq == b.seq && a.hash == b.hash);
    }
    // The head as it stood before the walk: the walk must reach at least this far.
    let head_before = read_head(store).await?;
    let mut walker = Walker::new(
        opts.keys.as_ref().map(|k| k.macer(Purpose::AuditMac)),
        valid_cps
            .iter()
            .map(|c| c.seq)
            .chain(witnessed.iter().map(|w| w.seq))
            .collect(),
    );
    let sql = format!(
        "SELECT {} FROM audit_log ORDER BY seq",
        crate::chain::COLUMNS
    );
    let mut rx = store.scan(&sql, Vec::new(), 15, BATCH);
    let walker = tokio::task::spawn_blocking(move || {
        while let Some(batch) = rx.blocking_recv() {
            walker.batch(&batch?);
        }
        Ok::<_, AuditError>(walker)
    })
    .await
    .map_err(|e| AuditError::BatchFailed(format!("verification task failed: {e}")))??;
    let walked = walker.finish(&mut problems);
    let mut report = VerifyReport {
        entries: walked.entries,
        last_seq: walked.last_seq,
        mac_checked: walked.mac_checked,
        ..Default::default()
    };

    // The head row and the checkpoints speak for the end of the log. Entries appended
    // while we walked (a live system) are past `head_before` and not a problem; the log
    // ending before `head_before`, or running past the head read afterwards, is.
    let (head_seq, head_hash) = read_head(store).await?;
    if head_before.0 > report.last_seq {
        problems.push(Problem {
            seq: report.last_seq + 1,
            kind: ProblemKind::Truncated,
            detail: format!(
                "the log ends at entry {} but its head records entry {}",
                report.last_seq, head_before.0
            ),
        });
    } else if head_seq < report.last_seq {
        problems.push(Problem {
            seq: head_seq + 1,
            kind: ProblemKind::Inserted,
            detail: format!(
                "the log continues past its head (entry {head_seq}) to entry {}: entries were added outside the platform",
                report.last_seq
            ),
        });
    } else if head_seq == report.last_seq
        && head_seq > 0
        && Some(head_hash.as_str()) != walked.last_hash.as_deref()
    {
        problems.push(Problem {
            seq: head_seq.max(1),
            kind: ProblemKind::Head,
            detail: format!(
                "the head records entry {head_seq}, the log ends at entry {}",
                report.last_seq
            ),
        });
    }
    for cp in &valid_cps {
        if cp.seq > report.last_seq {
            problems.push(Problem {
                seq: report.last_seq + 1,
                kind: ProblemKind::Truncated,
                detail: format!(
                    "a checkpoint signed at {} covers entries up to {}, but the log ends at entry {}",
                    renkei_core::Timestamp(cp.at),
                    cp.seq,
                    report.last_seq
                ),
            });
        } else {
            match walked.hash_at_checkpoints.get(&cp.seq) {
                Some(h) if hex::encode(h) == cp.hash => {}
                Some(_) => problems.push(Problem {
                    seq: cp.seq,
                    kind: ProblemKind::Modified,
                    detail: format!(
                        "entry {} differs from the signed checkpoint: history was rewritten",
                        cp.seq
                    ),
                }),
                None => problems.push(Problem {
                    seq: cp.seq,
                    kind: ProblemKind::Deleted,
                    detail: format!("entry {}, named by a signed checkpoint, is missing", cp.seq),
                }),
            }
        }
    }
    report.checkpoints = valid_cps.len();
    report.unverified_checkpoints = unverified_checkpoints;
    report.latest_checkpoint = valid_cps.iter().map(|c| c.seq).max();
    if !opts.witness_keys.is_empty() {
        report.witness_checked = true;
        check_witnessed(&witnessed, &walked, &mut report, &mut problems);
    }
    check_tail(&walked, &mut report, opts, &mut problems);
    problems.sort_by_key(|p| p.seq);
    problems.dedup_by(|a, b| a.seq == b.seq && a.kind == b.kind);
    report.problems = problems;
    Ok(report)
}

/// The log against what the witnesses countersigned: every witnessed head must be in
/// the log as witnessed, and the tail after the newest must be short.
fn check_witnessed(
    witnessed: &[WitnessedCheckpoint],
    walked: &Walked,
    report: &mut VerifyReport,
    problems: &mut Vec<Problem>,
) {
    let mut newest: Option<&WitnessedCheckpoint> = None;
    for w in witnessed {
        if w.seq > report.last_seq {
            problems.push(Problem {
                seq: report.last_seq + 1,
                kind: ProblemKind::Truncated,
                detail: format!(
                    "a witness countersigned the log up to entry {}, but it ends at entry {}",
                    w.seq, report.last_seq
                ),
            });
            continue;
        }
        match walked.hash_at_checkpoints.get(&w.seq) {
            Some(h) if hex::encode(h) == w.hash => {
                newest = Some(w);
            }
            Some(_) => problems.push(Problem {
                seq: w.seq,
                kind: ProblemKind::Modified,
                detail: format!(
                    "entry {} differs from what the witness countersigned: history before it was rewritten",
                    w.seq
                ),
            }),
            None => problems.push(Problem {
                seq: w.seq,
                kind: ProblemKind::Deleted,
                detail: format!("entry {}, countersigned by the witness, is missing", w.seq),
            }),
        }
    }
    report.witnessed = witnessed.len();
    report.latest_witnessed = newest.map(|w| w.seq);
}

/// What the newest trusted checkpoint leaves uncovered: how many entries follow it and
/// how long the oldest of them has waited (wall-clock seconds at verification).
fn tail(walked: &Walked, covered: Option<i64>, now: i64) -> (u64, i64) {
    let covered_seq = covered.unwrap_or(0);
    if walked.entries == 0 || walked.last_seq <= covered_seq {
        return (0, 0);
    }
    let start = covered
        .and_then(|c| walked.at_after_checkpoints.get(&c).copied())
        .or(walked.first_at)
        .unwrap_or(walked.last_at);
    (
        (walked.last_seq - covered_seq) as u64,
        ((now - start) / 1_000_000).max(0),
    )
}

/// The verdict on the end of the log: it must be covered by a checkpoint that holds
/// (countersigned, when witness keys are given; else signed by a trusted key), and
/// what is not yet covered must be recent. Without any key to trust, nothing is proved.
fn check_tail(
    walked: &Walked,
    report: &mut VerifyReport,
    opts: &VerifyOptions,
    problems: &mut Vec<Problem>,
) {
    if walked.entries == 0 {
        return;
    }
    let now = opts
        .now
        .unwrap_or_else(|| renkei_core::time::Clock::now(&renkei_core::time::SystemClock).0);
    let max = opts.max_tail_secs.unwrap_or(DEFAULT_MAX_TAIL_SECS);
    let (covered, what) = if report.witness_checked {
        if report.latest_witnessed.is_none() {
            problems.push(Problem {
                seq: 1,
                kind: ProblemKind::Unwitnessed,
                detail: "no checkpoint of this log is countersigned by the witness: nothing protects it against its operator".into(),
            });
        }
        (report.latest_witnessed, "countersigned by the witness")
    } else if opts.public_key.is_some() {
        (report.latest_checkpoint, "covered by a signed checkpoint")
    } else {
        problems.push(Problem {
            seq: 1,
            kind: ProblemKind::Checkpoint,
            detail: "no trusted key was given (checkpoint public key or witness key): nothing proves the log was not rewritten".into(),
        });
        return;
    };
    let (entries, secs) = tail(walked, covered, now);
    report.tail_entries = entries;
    report.tail_secs = secs;
    if entries > 0 && secs > max {
        problems.push(Problem {
            seq: covered.unwrap_or(0) + 1,
            kind: ProblemKind::Stale,
            detail: format!(
                "the last {entries} entries are not {what}, the oldest for {secs} s (at most {max} s allowed): checkpointing or witnessing has stopped"
            ),
        });
    }
}

async fn read_head(store: &Store) -> Result<(i64, String), AuditError> {
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(store.pool())
        .await?;
    Ok((head.try_get(0)?, head.try_get(1)?))
}

/// Entry hashes are uniformly random, so their first eight bytes serve as both key and
/// hash in the classification maps (a collision could only mislabel a problem, never
/// hide one: detection does not use these maps).
fn key(h: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    u64::from_le_bytes(b)
}

#[derive(Default, Clone, Copy)]
struct Identity(u64);

impl std::hash::Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type KeyMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<Identity>>;

/// Decodes 64 hex characters (SIMD where the CPU has it; per-entry hex decoding was the
/// largest cost of verification with the plain `hex` crate).
fn hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    (s.len() == 64 && faster_hex::hex_decode(s.as_bytes(), &mut out).is_ok()).then_some(out)
}

/// The sequential part of verification: order, links and classification.
///
/// It runs beside the thread reading rows, on a machine whose other core may be busy
/// serving them (PostgreSQL), so its per-row work is kept to the two hashes: the recent
/// entries it may need to name a move are kept in a ring searched only when a link
/// breaks, and checkpoints are met by a cursor, not a set look-up.
struct Walker {
    macer: Option<renkei_crypto::Macer>,
    /// Checkpointed sequence numbers, ascending, and the next one to meet.
    checkpoint_seqs: Vec<i64>,
    next_checkpoint: usize,
    hash_at_checkpoints: HashMap<i64, [u8; 32]>,
    /// For each checkpoint, when the first entry after it was written: where the tail
    /// it leaves uncovered begins.
    at_after_checkpoints: HashMap<i64, i64>,
    after_checkpoint: Option<i64>,
    problems: Vec<Problem>,
    entries: u64,
    first_at: Option<i64>,
    last_seq: i64,
    last_at: i64,
    prev: [u8; 32],
    expected: i64,
    explained: bool,
    /// The last [`RECENT`] entries' hash keys and sequence numbers, as a ring.
    recent: Vec<(u64, i64)>,
    recent_pos: usize,
    wanted: KeyMap<i64>,
}

/// What the walk found out, besides problems.
struct Walked {
    entries: u64,
    last_seq: i64,
    first_at: Option<i64>,
    last_at: i64,
    at_after_checkpoints: HashMap<i64, i64>,
    last_hash: Option<String>,
    mac_checked: bool,
    hash_at_checkpoints: HashMap<i64, [u8; 32]>,
}

impl Walker {
    fn new(macer: Option<renkei_crypto::Macer>, mut checkpoint_seqs: Vec<i64>) -> Self {
        checkpoint_seqs.sort_unstable();
        checkpoint_seqs.dedup();
        Self {
            macer,
            checkpoint_seqs,
            next_checkpoint: 0,
            hash_at_checkpoints: HashMap::new(),
            at_after_checkpoints: HashMap::new(),
            after_checkpoint: None,
            problems: Vec::new(),
            entries: 0,
            first_at: None,
            last_seq: 0,
            last_at: 0,
            prev: [0u8; 32],
            expected: 1,
            explained: false,
            recent: Vec::with_capacity(RECENT),
            recent_pos: 0,
            wanted: KeyMap::default(),
        }
    }

    fn problem(&mut self, seq: i64, kind: ProblemKind, detail: String) {
        self.problems.push(Problem { seq, kind, detail });
    }

    fn batch(&mut self, b: &Batch) {
        for r in 0..b.len() {
            self.row(b, r);
        }
    }

    fn row(&mut self, b: &Batch, r: usize) {
        let seq = b.int(r, 0).unwrap_or(0);
        let at = b.int(r, 1).unwrap_or(0);
        let text = |c: usize| b.text(r, c).unwrap_or("");
        self.entries += 1;
        self.last_seq = seq;
        self.last_at = at;
        self.first_at.get_or_insert(at);
        if let Some(cp) = self.after_checkpoint.take() {
            self.at_after_checkpoints.insert(cp, at);
        }
        if seq > self.expected {
            let detail = if seq == self.expected + 1 {
                format!("entry {} is missing", self.expected)
            } else {
                format!("entries {} to {} are missing", self.expected, seq - 1)
            };
            self.problem(self.expected, ProblemKind::Deleted, detail);
            self.explained = true;
        }
        self.expected = seq + 1;
        let (Some(prev_hash), Some(hash)) = (hex32(text(11)), hex32(text(12))) else {
            self.problem(
                seq,
                ProblemKind::Modified,
                format!("entry {seq}'s hashes are not well-formed"),
            );
            self.explained = true;
            return;
        };
        while self
            .checkpoint_seqs
            .get(self.next_checkpoint)
            .is_some_and(|&c| c < seq)
        {
            self.next_checkpoint += 1;
        }
        if self.checkpoint_seqs.get(self.next_checkpoint) == Some(&seq) {
            self.hash_at_checkpoints.insert(seq, hash);
            self.after_checkpoint = Some(seq);
        }
        let fields = [
            text(2),
            text(3),
            text(4),
            text(5),
            text(6),
            text(7),
            text(8),
            text(9),
            text(10),
        ];
        if crate::chain::entry_hash_with_client(&prev_hash, at, fields, text(14)) != hash {
            self.problem(
                seq,
                ProblemKind::Modified,
                format!("entry {seq}'s content does not match its hash"),
            );
            // The stored hash is what the next entry links to; keep following it.
            self.prev = hash;
            self.explained = false;
            return;
        }
        if let Some(m) = &self.macer {
            let ok = hex32(text(13)).is_some_and(|mac| renkei_crypto::ct_eq(&m.mac(&hash), &mac));
            if !ok {
                self.problem(
                    seq,
                    ProblemKind::Inserted,
                    format!("entry {seq} was not written by this platform (its MAC is wrong): inserted, or rewritten with a recomputed hash"),
                );
                // Skip it: the next genuine entry should link to the one before it.
                self.explained = true;
                return;
            }
        }
        if prev_hash != self.prev && !self.explained {
            let k = key(&prev_hash);
            if let Some(&(_, k)) = self.recent.iter().find(|(h, _)| *h == k) {
                self.problem(
                    seq,
                    ProblemKind::Reordered,
                    format!("entry {seq} follows entry {k}, not the entry before it"),
                );
            } else {
                self.wanted.insert(key(&prev_hash), seq);
            }
        }
        if !self.wanted.is_empty()
            && let Some(w) = self.wanted.remove(&key(&hash))
        {
            self.problem(
                w,
                ProblemKind::Reordered,
                format!("entry {w} follows entry {seq}, which is stored after it"),
            );
        }
        self.explained = false;
        if self.recent.len() < RECENT {
            self.recent.push((key(&hash), seq));
        } else {
            self.recent[self.recent_pos] = (key(&hash), seq);
            self.recent_pos = (self.recent_pos + 1) % RECENT;
        }
        self.prev = hash;
    }

    fn finish(self, problems: &mut Vec<Problem>) -> Walked {
        let mac_checked = self.macer.is_some();
        problems.extend(self.problems);
        for (_, seq) in self.wanted {
            problems.push(Problem {
                seq,
                kind: ProblemKind::Deleted,
                detail: format!(
                    "entry {seq} does not follow the entry stored before it: the entries between were removed{}",
                    if mac_checked { "" } else { ", or the one before it was replaced" }
                ),
            });
        }
        Walked {
            entries: self.entries,
            last_seq: self.last_seq,
            first_at: self.first_at,
            last_at: self.last_at,
            at_after_checkpoints: self.at_after_checkpoints,
            last_hash: (self.entries > 0).then(|| hex::encode(self.prev)),
            mac_checked,
            hash_at_checkpoints: self.hash_at_checkpoints,
        }
    }
}
