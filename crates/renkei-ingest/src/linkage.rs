//! The platform's linkage key: which keyring every dataset's tokens were made under,
//! and its rotation.
//!
//! Tokens link only if they were computed under the same linkage keyring. The platform
//! records the keyring's fingerprint (never a key) when the first version is ingested;
//! an ingest under any other keyring is refused, naming both fingerprints, instead of
//! silently producing tokens that match nothing. Every version records the
//! fingerprint and generation of the keyring that made its tokens.
//!
//! Rotation is deliberate and audited, and covers every dataset at once: a new key is
//! added to the keyring as the next generation, every stored token of every committed
//! version (old ones included) is re-keyed by that generation's step, and the platform
//! moves to the new fingerprint. The identifiers are gone, so the step works on tokens
//! alone; an ingest under the new keyring computes the same chain from the identifiers,
//! so old and new data link. An interrupted rotation is finished by running it again.

use crate::IngestError;
use arrow_array::{Array, ArrayRef, FixedSizeBinaryArray, RecordBatch};
use arrow_schema::DataType;
use renkei_audit::Audit;
use renkei_core::time::SharedClock;
use renkei_core::{Action, Caller, Outcome, Permission};
use renkei_crypto::{KeyError, KeyStore, Rekey};
use renkei_datastore::{DataStore, DataStoreError, Holder};
use renkei_store::Store;
use renkei_store::sqlx::{self, Row as _};
use std::sync::Arc;

const FINGERPRINT: &str = "linkage.fingerprint";
const GENERATION: &str = "linkage.generation";
/// Present (naming the target generation) from the start of a rotation to its end: no
/// version commits meanwhile, and an interrupted rotation is visible.
const ROTATING: &str = "linkage.rotating";

/// The platform's linkage keyring as recorded: fingerprint and generation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PlatformKey {
    /// `lk<g>:` and 20 hex digits.
    pub fingerprint: String,
    /// How many keys the keyring has.
    pub generation: i64,
}

/// What a rotation did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Rotation {
    /// The keyring before.
    pub from: PlatformKey,
    /// The keyring after.
    pub to: PlatformKey,
    /// Dataset versions whose tokens were re-keyed.
    pub versions: u64,
    /// Rows rewritten.
    pub rows: u64,
}

/// The linkage-key registry and its rotation. Cheap to clone.
#[derive(Clone)]
pub struct LinkageKeys {
    store: Store,
    audit: Audit,
    data: DataStore,
    clock: SharedClock,
}

impl LinkageKeys {
    pub(crate) fn new(store: Store, audit: Audit, data: DataStore, clock: SharedClock) -> Self {
        Self {
            store,
            audit,
            data,
            clock,
        }
    }

    /// The platform's keyring, once one is registered.
    pub async fn platform(&self) -> Result<Option<PlatformKey>, IngestError> {
        let rows = sqlx::query("SELECT key, value FROM platform_settings WHERE key IN ($1, $2)")
            .bind(FINGERPRINT)
            .bind(GENERATION)
            .fetch_all(self.store.pool())
            .await?;
        let mut fp = None;
        let mut generation = None;
        for r in rows {
            let k: String = r.try_get(0)?;
            let v: String = r.try_get(1)?;
            match k.as_str() {
                FINGERPRINT => fp = Some(v),
                _ => generation = v.parse::<i64>().ok(),
            }
        }
        Ok(fp
            .zip(generation)
            .map(|(fingerprint, generation)| PlatformKey {
                fingerprint,
                generation,
            }))
    }

    /// Checks that `keys` hold the platform's keyring, registering it (audited) if the
    /// platform has none yet. Returns the keyring the tokens will be made under.
    pub(crate) async fn admit(
        &self,
        caller: &Caller,
        keys: &KeyStore,
    ) -> Result<PlatformKey, IngestError> {
        let ours = PlatformKey {
            fingerprint: keys
                .current_linkage_fingerprint()
                .ok_or(IngestError::Keys(KeyError::NoLinkageKey))?,
            generation: keys.linkage_generations() as i64,
        };
        if self.rotating().await?.is_some() {
            return Err(IngestError::RotationInProgress);
        }
        for _ in 0..2 {
            match self.platform().await? {
                Some(p) if p == ours => return Ok(ours),
                Some(p) => {
                    return Err(IngestError::LinkageKeyMismatch {
                        ours: ours.fingerprint,
                        platform: p.fingerprint,
                    });
                }
                None => {
                    // First ingest: this keyring becomes the platform's. Two processes
                    // racing here: one insert wins, the other re-reads and compares.
                    let mut tx = self.store.begin().await?;
                    let now = self.clock.now().micros();
                    let inserted = sqlx::query(
                        "INSERT INTO platform_settings (key, value, updated_at) VALUES ($1, $2, $3), ($4, $5, $3)",
                    )
                    .bind(FINGERPRINT)
                    .bind(&ours.fingerprint)
                    .bind(now)
                    .bind(GENERATION)
                    .bind(ours.generation.to_string())
                    .execute(&mut *tx)
                    .await;
                    match inserted {
                        Err(e) if renkei_store::is_unique_violation(&e) => continue,
                        other => {
                            other?;
                        }
                    }
                    let ev = caller
                        .event(Action::LinkageKeyRegister, "linkage_key", Outcome::Allowed)
                        .detail(serde_json::json!({
                            "fingerprint": ours.fingerprint,
                            "generation": ours.generation,
                        }));
                    self.audit.append_in(&mut tx, &[ev]).await?;
                    tx.commit().await?;
                    return Ok(ours);
                }
            }
        }
        Err(IngestError::Schema(
            "the platform's linkage key changed while it was being registered".into(),
        ))
    }

    /// Refuses (audited) a caller who may not rotate the key, before anything is done
    /// toward a rotation (such as growing the keyring).
    pub async fn may_rotate(&self, caller: &Caller) -> Result<(), IngestError> {
        if let Err(d) = caller.require(Permission::ManageLinkage) {
            self.audit
                .record(caller.event(
                    Action::LinkageKeyRotate,
                    "linkage_key",
                    Outcome::denied(d.code()),
                ))
                .await?;
            return Err(d.into());
        }
        Ok(())
    }

    /// The target generation of a rotation begun and not finished.
    async fn rotating(&self) -> Result<Option<i64>, IngestError> {
        let v: Option<String> =
            sqlx::query_scalar("SELECT value FROM platform_settings WHERE key = $1")
                .bind(ROTATING)
                .fetch_optional(self.store.pool())
                .await?;
        Ok(v.and_then(|v| v.parse().ok()))
    }

    /// Inside an ingest's commit: the keyring admitted at its start must still be the
    /// platform's, with no rotation begun. Takes the linkage guard first, so on
    /// PostgreSQL a rotation's start and this commit cannot interleave.
    pub(crate) async fn still_current(
        &self,
        tx: &mut renkei_store::Tx,
        admitted: &PlatformKey,
    ) -> Result<(), IngestError> {
        sqlx::query("UPDATE guards SET n = n + 1 WHERE name = 'linkage'")
            .execute(&mut **tx)
            .await?;
        let rows =
            sqlx::query("SELECT key, value FROM platform_settings WHERE key IN ($1, $2, $3)")
                .bind(FINGERPRINT)
                .bind(GENERATION)
                .bind(ROTATING)
                .fetch_all(&mut **tx)
                .await?;
        let (mut fp, mut generation) = (String::new(), -1i64);
        for r in rows {
            let k: String = r.try_get(0)?;
            let v: String = r.try_get(1)?;
            match k.as_str() {
                ROTATING => return Err(IngestError::RotationInProgress),
                FINGERPRINT => fp = v,
                _ => generation = v.parse().unwrap_or(-1),
            }
        }
        if fp != admitted.fingerprint || generation != admitted.generation {
            return Err(IngestError::LinkageKeyMismatch {
                ours: admitted.fingerprint.clone(),
                platform: fp,
            });
        }
        Ok(())
    }

    /// Rotates the platform's linkage key to `keys`, which must hold the platform's
    /// keyring plus exactly one new generation: re-keys every committed version of
    /// every dataset, then moves the platform to the new fingerprint, audited. Holds
    /// every dataset's writer lock throughout, so no ingest runs meanwhile.
    pub async fn rotate(&self, caller: &Caller, keys: &KeyStore) -> Result<Rotation, IngestError> {
        let result = self.rotate_checked(caller, keys).await;
        match &result {
            Err(e) if renkei_core::Coded::kind(e).is_refusal() => {
                self.audit
                    .record(caller.event(
                        Action::LinkageKeyRotate,
                        "linkage_key",
                        Outcome::denied(renkei_core::Coded::code(e)),
                    ))
                    .await?;
            }
            _ => {}
        }
        result
    }

    async fn rotate_checked(
        &self,
        caller: &Caller,
        keys: &KeyStore,
    ) -> Result<Rotation, IngestError> {
        caller.require(Permission::ManageLinkage)?;
        let from = self
            .platform()
            .await?
            .ok_or(IngestError::NoLinkageRegistered)?;
        let next = from.generation + 1;
        let ours_then = keys.linkage_fingerprint(from.generation as usize);
        if keys.linkage_generations() as i64 != next
            || ours_then.as_deref() != Some(&from.fingerprint)
        {
            return Err(IngestError::LinkageKeyMismatch {
                ours: keys.current_linkage_fingerprint().unwrap_or_default(),
                platform: from.fingerprint,
            });
        }
        let to = PlatformKey {
            fingerprint: keys
                .current_linkage_fingerprint()
                .ok_or(IngestError::Keys(KeyError::NoLinkageKey))?,
            generation: next,
        };
        let step = Arc::new(Rekey::new(keys, next as usize)?);
        // From here until the end, no version commits (see `still_current`); an
        // interrupted rotation leaves the mark, and running it again finishes it.
        match self.rotating().await? {
            Some(g) if g == next => {}
            Some(g) => {
                return Err(IngestError::Schema(format!(
                    "an interrupted rotation to generation {g} must be finished first"
                )));
            }
            None => {
                let mut tx = self.store.begin().await?;
                sqlx::query("UPDATE guards SET n = n + 1 WHERE name = 'linkage'")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO platform_settings (key, value, updated_at) VALUES ($1, $2, $3)",
                )
                .bind(ROTATING)
                .bind(next.to_string())
                .bind(self.clock.now().micros())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
        }
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM datasets ORDER BY id")
            .fetch_all(self.store.pool())
            .await?;
        let mut writers = Vec::new();
        for id in &ids {
            let holder = Holder::dataset(id)?;
            match self.data.writer(caller, &holder).await {
                Ok(w) => writers.push(w),
                Err(DataStoreError::Busy(h)) => {
                    return Err(IngestError::InProgress(h.id().to_owned()));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let marker = format!("linkage-generation-{next}");
        let (mut versions, mut rows) = (0u64, 0u64);
        for writer in &writers {
            let id = writer.holder().id().to_owned();
            // Only the declared token columns are re-keyed: other 16-byte columns are
            // data.
            let entry = renkei_catalog::dataset(&self.store, &id).await?;
            let token_columns: std::collections::HashMap<String, Vec<String>> = entry
                .declaration
                .stored_tables()
                .into_iter()
                .map(|t| {
                    let cols = t
                        .columns
                        .iter()
                        .filter(|c| c.ty == renkei_catalog::ColType::Token)
                        .map(|c| c.stored_name().to_owned())
                        .collect();
                    (t.name.clone(), cols)
                })
                .collect();
            let token_columns = Arc::new(token_columns);
            // Versions whose key was destroyed open nowhere: nothing to re-key.
            let pending: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT v.version, v.token_generation FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id \
                 WHERE v.dataset_id = $1 AND v.status = 'committed' AND v.token_generation < $2 \
                 AND EXISTS (SELECT 1 FROM data_keys k WHERE k.id = d.key_id AND k.wrapped IS NOT NULL) \
                 ORDER BY v.version",
            )
            .bind(&id)
            .bind(next)
            .fetch_all(self.store.pool())
            .await?;
            for (v, generation) in pending {
                if generation != from.generation {
                    return Err(IngestError::GenerationGap {
                        dataset: id.clone(),
                        version: v,
                        found: generation,
                        expected: from.generation,
                    });
                }
                let step = step.clone();
                let cols = token_columns.clone();
                let mut f = move |table: &str, b: RecordBatch| {
                    rekey_batch(&step, b, cols.get(table).map(Vec::as_slice).unwrap_or(&[]))
                };
                let n = writer.rewrite_version(v, &marker, &mut f).await?;
                rows += n.unwrap_or(0);
                let mut tx = self.store.begin().await?;
                sqlx::query(
                    "UPDATE dataset_versions SET token_generation = $1, linkage_fingerprint = $2 WHERE dataset_id = $3 AND version = $4",
                )
                .bind(next)
                .bind(&to.fingerprint)
                .bind(&id)
                .bind(v)
                .execute(&mut *tx)
                .await?;
                let ev = caller
                    .event(
                        Action::LinkageKeyRotate,
                        format!("dataset:{id}"),
                        Outcome::Allowed,
                    )
                    .detail(serde_json::json!({
                        "version": v,
                        "generation": next,
                        "rows": n,
                    }));
                self.audit.append_in(&mut tx, &[ev]).await?;
                tx.commit().await?;
                versions += 1;
            }
        }
        let mut tx = self.store.begin().await?;
        let now = self.clock.now().micros();
        for (k, v) in [
            (FINGERPRINT, to.fingerprint.clone()),
            (GENERATION, next.to_string()),
        ] {
            sqlx::query("UPDATE platform_settings SET value = $1, updated_at = $2 WHERE key = $3")
                .bind(v)
                .bind(now)
                .bind(k)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM platform_settings WHERE key = $1")
            .bind(ROTATING)
            .execute(&mut *tx)
            .await?;
        // The opt-out register keeps matching the datasets' tokens.
        let opt_outs = crate::optout::rekey_opt_outs(&mut tx, &step, from.generation).await?;
        let ev = caller
            .event(Action::LinkageKeyRotate, "linkage_key", Outcome::Allowed)
            .detail(serde_json::json!({
                "from": from.fingerprint,
                "to": to.fingerprint,
                "datasets": ids.len(),
                "versions": versions,
                "rows": rows,
                "opt_out_tokens": opt_outs,
            }));
        self.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        drop(writers);
        Ok(Rotation {
            from,
            to,
            versions,
            rows,
        })
    }
}

/// Passes the token columns `tokens` of `b` (16-byte fixed-size binary) through `step`.
fn rekey_batch(
    step: &Rekey,
    b: RecordBatch,
    tokens: &[String],
) -> Result<RecordBatch, DataStoreError> {
    let arrow = |e: arrow_schema::ArrowError| DataStoreError::Parquet {
        path: String::new(),
        msg: e.to_string(),
    };
    let schema = b.schema();
    let columns = b
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, field)| {
            if !tokens.iter().any(|t| t == field.name()) {
                return Ok(c.clone());
            }
            let Some(a) = c
                .as_any()
                .downcast_ref::<FixedSizeBinaryArray>()
                .filter(|_| c.data_type() == &DataType::FixedSizeBinary(16))
            else {
                return Err(DataStoreError::Parquet {
                    path: String::new(),
                    msg: format!("token column {} is not 16-byte binary", field.name()),
                });
            };
            let values = (0..a.len()).map(|i| {
                (!a.is_null(i)).then(|| {
                    let mut t = [0u8; 16];
                    t.copy_from_slice(a.value(i));
                    step.apply(&t)
                })
            });
            FixedSizeBinaryArray::try_from_sparse_iter_with_size(values, 16)
                .map(|out| Arc::new(out) as ArrayRef)
                .map_err(arrow)
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(b.schema(), columns).map_err(arrow)
}
