//! Walking the log and saying exactly what is wrong with it.

use crate::AuditError;
use crate::chain::{Checkpoint, EntryRow, GENESIS, load_checkpoints};
use futures::TryStreamExt as _;
use renkei_crypto::{KeyStore, Purpose};
use renkei_store::Store;
use renkei_store::sqlx::{self, Row as _};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
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
}

/// How many recent entry hashes are remembered to recognise an entry moved backwards.
const RECENT: usize = 100_000;

/// Walks the whole log in order and reports every problem found.
pub async fn verify(store: &Store, opts: &VerifyOptions) -> Result<VerifyReport, AuditError> {
    let (checkpoints, bad_lines) = load_checkpoints(store, opts.checkpoint_file.as_deref()).await?;
    let mut report = VerifyReport {
        mac_checked: opts.keys.is_some(),
        ..Default::default()
    };
    let mut problems = Vec::new();
    for line in bad_lines {
        problems.push(Problem {
            seq: 0,
            kind: ProblemKind::Checkpoint,
            detail: line,
        });
    }
    let mut valid_cps: Vec<&Checkpoint> = Vec::new();
    for cp in &checkpoints {
        if cp.is_valid(opts.public_key.as_ref()) {
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
    let cp_seqs: HashMap<i64, ()> = valid_cps.iter().map(|c| (c.seq, ())).collect();
    let mut hash_at_cp: HashMap<i64, String> = HashMap::new();
    let macer = opts.keys.as_ref().map(|k| k.macer(Purpose::AuditMac));

    let mut prev = GENESIS.to_owned();
    let mut expected = 1i64;
    let mut explained = false;
    let mut recent: HashMap<String, i64> = HashMap::new();
    let mut recent_order: VecDeque<String> = VecDeque::new();
    let mut wanted: HashMap<String, i64> = HashMap::new();

    let sql = format!(
        "SELECT {} FROM audit_log ORDER BY seq",
        crate::chain::COLUMNS
    );
    let mut rows = sqlx::query(&sql).fetch(store.pool());
    while let Some(r) = rows.try_next().await? {
        let row = EntryRow::from_row(&r)?;
        report.entries += 1;
        report.last_seq = row.seq;
        if cp_seqs.contains_key(&row.seq) {
            hash_at_cp.insert(row.seq, row.hash.clone());
        }
        if row.seq > expected {
            let detail = if row.seq == expected + 1 {
                format!("entry {expected} is missing")
            } else {
                format!("entries {expected} to {} are missing", row.seq - 1)
            };
            problems.push(Problem {
                seq: expected,
                kind: ProblemKind::Deleted,
                detail,
            });
            explained = true;
        }
        expected = row.seq + 1;

        let content_ok = row.recompute().is_some_and(|h| hex::encode(h) == row.hash);
        if !content_ok {
            problems.push(Problem {
                seq: row.seq,
                kind: ProblemKind::Modified,
                detail: format!("entry {}'s content does not match its hash", row.seq),
            });
            // The stored hash is what the next entry links to; keep following it.
            prev = row.hash;
            explained = false;
            continue;
        }
        if let Some(m) = &macer {
            let mut hb = [0u8; 32];
            let mac_ok = hex::decode_to_slice(&row.hash, &mut hb).is_ok()
                && renkei_crypto::ct_eq(hex::encode(m.mac(&hb)).as_bytes(), row.mac.as_bytes());
            if !mac_ok {
                problems.push(Problem {
                    seq: row.seq,
                    kind: ProblemKind::Inserted,
                    detail: format!(
                        "entry {} was not written by this platform (its MAC is wrong): inserted, or rewritten with a recomputed hash",
                        row.seq
                    ),
                });
                // Skip it: the next genuine entry should link to the one before it.
                explained = true;
                continue;
            }
        }
        if row.prev_hash != prev && !explained {
            if let Some(&k) = recent.get(&row.prev_hash) {
                problems.push(Problem {
                    seq: row.seq,
                    kind: ProblemKind::Reordered,
                    detail: format!(
                        "entry {} follows entry {k}, not the entry before it",
                        row.seq
                    ),
                });
            } else {
                wanted.insert(row.prev_hash.clone(), row.seq);
            }
        }
        if let Some(w) = wanted.remove(&row.hash) {
            problems.push(Problem {
                seq: w,
                kind: ProblemKind::Reordered,
                detail: format!(
                    "entry {w} follows entry {}, which is stored after it",
                    row.seq
                ),
            });
        }
        explained = false;
        recent.insert(row.hash.clone(), row.seq);
        recent_order.push_back(row.hash.clone());
        if recent_order.len() > RECENT {
            if let Some(old) = recent_order.pop_front() {
                recent.remove(&old);
            }
        }
        prev = row.hash;
    }
    drop(rows);

    for (_, seq) in wanted {
        problems.push(Problem {
            seq,
            kind: ProblemKind::Deleted,
            detail: format!(
                "entry {seq} does not follow the entry stored before it: the entries between were removed{}",
                if report.mac_checked { "" } else { ", or the one before it was replaced" }
            ),
        });
    }

    // The head row and the checkpoints speak for the end of the log.
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(store.pool())
        .await?;
    let (head_seq, head_hash): (i64, String) = (head.try_get(0)?, head.try_get(1)?);
    if head_seq > report.last_seq {
        problems.push(Problem {
            seq: report.last_seq + 1,
            kind: ProblemKind::Truncated,
            detail: format!(
                "the log ends at entry {} but its head records entry {head_seq}",
                report.last_seq
            ),
        });
    } else if head_seq != report.last_seq || (head_seq > 0 && head_hash != prev) {
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
            match hash_at_cp.get(&cp.seq) {
                Some(h) if *h == cp.hash => {}
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
    report.latest_checkpoint = valid_cps.iter().map(|c| c.seq).max();
    problems.sort_by_key(|p| p.seq);
    problems.dedup_by(|a, b| a.seq == b.seq && a.kind == b.kind);
    report.problems = problems;
    Ok(report)
}
