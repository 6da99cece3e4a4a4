//! Data keys that can be destroyed, and the certificates that prove it.
//!
//! A key derived from the master key can always be derived again, so it can never be
//! destroyed. Whatever must be deletable with proof (a dataset, a project's extract,
//! later a release's staging) is encrypted under a **random** data key instead, stored
//! only wrapped (AES-GCM under a master-derived wrapping key, bound to the key's id and
//! owner). Destruction removes the wrapped key in one transaction with a deletion
//! certificate (what, which keys, when, by whom, why) and its audit entry. After that
//! the files, and every copy of them in a backup, open with no key the platform holds.
//!
//! What destruction relies on: the wrapped key must not survive elsewhere. On SQLite
//! the store runs with `secure_delete` and the write-ahead log is checkpointed after a
//! destruction, so the old bytes are overwritten; on PostgreSQL the table is vacuumed
//! after a destruction. Database backups taken before a destruction still hold the
//! wrapped key: backups must be kept no longer than the shortest retention the
//! platform promises, or be taken without the `data_keys` table.

use crate::DataStoreError;
use renkei_audit::Audit;
use renkei_core::time::SharedClock;
use renkei_core::{Action, Caller, Outcome, Timestamp};
use renkei_crypto::{DataKey, KeyStore};
use renkei_store::sqlx::{self, Row as _};
use renkei_store::{Backend, Store, Tx};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A data key's id, as stored and named in certificates.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub(crate) String);

impl KeyId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The record that data was deleted by destroying its keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionCertificate {
    /// Certificate id.
    pub id: String,
    /// What was deleted (`extract:<project>`, `dataset:<id>`).
    pub subject: String,
    /// The keys destroyed.
    pub key_ids: Vec<KeyId>,
    /// Why (closure, expiry, withdrawal).
    pub reason: String,
    /// When (RFC 3339).
    pub destroyed_at: String,
    /// Who (audit actor id).
    pub destroyed_by: String,
    /// Their name at the time.
    pub destroyed_by_name: String,
    /// The request that did it (find its audit entry by this).
    pub request_id: String,
    /// SHA-256 (hex) of the certificate's other fields as canonical JSON, so a copy
    /// handed to the supervisor or the public register can be checked against ours.
    pub digest: String,
}

impl DeletionCertificate {
    fn digest_of(&self) -> String {
        let body = serde_json::json!({
            "id": self.id,
            "subject": self.subject,
            "key_ids": self.key_ids,
            "reason": self.reason,
            "destroyed_at": self.destroyed_at,
            "destroyed_by": self.destroyed_by,
            "destroyed_by_name": self.destroyed_by_name,
            "request_id": self.request_id,
        });
        renkei_crypto::sha256_hex(body.to_string().as_bytes())
    }

    /// Whether the digest matches the fields.
    pub fn is_intact(&self) -> bool {
        self.digest == self.digest_of()
    }
}

/// The data keys.
#[derive(Clone)]
pub(crate) struct Vault {
    store: Store,
    keys: Arc<KeyStore>,
    audit: Audit,
    clock: SharedClock,
}

/// The wrapping context of a key: its id and owner, so a wrapped key copied onto
/// another row does not open.
fn context(id: &str, owner: &str) -> String {
    format!("datakey:v1:{id}:{owner}")
}

impl Vault {
    pub(crate) fn new(store: Store, keys: Arc<KeyStore>, audit: Audit, clock: SharedClock) -> Self {
        Self {
            store,
            keys,
            audit,
            clock,
        }
    }

    /// A new key for `owner`, recorded (with its audit entry) in `tx`.
    pub(crate) async fn create_in(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        owner: &str,
    ) -> Result<(KeyId, DataKey), DataStoreError> {
        let id = KeyId(format!("dk-{}", uuid::Uuid::now_v7()));
        let ctx = context(id.as_str(), owner);
        let (key, wrapped) = self.keys.new_data_key(&ctx);
        sqlx::query(
            "INSERT INTO data_keys (id, owner, context, wrapped, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_str())
        .bind(owner)
        .bind(&ctx)
        .bind(&wrapped)
        .bind(self.clock.now().micros())
        .bind(caller.actor().id)
        .execute(&mut **tx)
        .await?;
        let ev = caller
            .event(Action::KeyCreate, format!("key:{id}"), Outcome::Allowed)
            .detail(serde_json::json!({ "owner": owner }));
        self.audit.append_in(tx, &[ev]).await?;
        Ok((id, key))
    }

    /// Opens a key. Fails with [`DataStoreError::KeyDestroyed`] once it is destroyed.
    pub(crate) async fn open(&self, id: &KeyId) -> Result<DataKey, DataStoreError> {
        let row = sqlx::query("SELECT context, wrapped FROM data_keys WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.store.pool())
            .await?
            .ok_or_else(|| DataStoreError::NoSuchKey(id.clone()))?;
        let ctx: String = row.try_get(0)?;
        let wrapped: Option<String> = row.try_get(1)?;
        let wrapped = wrapped.ok_or_else(|| DataStoreError::KeyDestroyed(id.clone()))?;
        self.keys
            .open_data_key(&ctx, &wrapped)
            .map_err(|_| DataStoreError::KeyUnwrap(id.clone()))
    }

    /// Every key of `owner` not yet destroyed.
    pub(crate) async fn live_keys(&self, owner: &str) -> Result<Vec<KeyId>, DataStoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM data_keys WHERE owner = $1 AND wrapped IS NOT NULL ORDER BY id",
        )
        .bind(owner)
        .fetch_all(self.store.pool())
        .await?;
        Ok(ids.into_iter().map(KeyId).collect())
    }

    /// Destroys every live key of `subject` and records the certificate and its audit
    /// entry, all in one transaction. Then makes sure the wrapped keys' bytes are gone
    /// from the database files too.
    pub(crate) async fn destroy(
        &self,
        caller: &Caller,
        subject: &str,
        reason: &str,
        allow_none: bool,
    ) -> Result<DeletionCertificate, DataStoreError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM data_keys WHERE owner = $1 AND wrapped IS NOT NULL ORDER BY id",
        )
        .bind(subject)
        .fetch_all(&mut *tx)
        .await?;
        if ids.is_empty() && !allow_none {
            return Err(DataStoreError::NothingToDestroy(subject.to_owned()));
        }
        let actor = caller.actor();
        sqlx::query(
            "UPDATE data_keys SET wrapped = NULL, destroyed_at = $1, destroyed_by = $2 WHERE owner = $3 AND wrapped IS NOT NULL",
        )
        .bind(now.micros())
        .bind(&actor.id)
        .bind(subject)
        .execute(&mut *tx)
        .await?;
        let mut cert = DeletionCertificate {
            id: format!("dc-{}", uuid::Uuid::now_v7()),
            subject: subject.to_owned(),
            key_ids: ids.into_iter().map(KeyId).collect(),
            reason: reason.to_owned(),
            destroyed_at: now.to_rfc3339(),
            destroyed_by: actor.id.clone(),
            destroyed_by_name: actor.name.clone(),
            request_id: caller.request_id().to_owned(),
            digest: String::new(),
        };
        cert.digest = cert.digest_of();
        sqlx::query(
            "INSERT INTO deletion_certificates (id, subject, key_ids, reason, destroyed_at, destroyed_by, destroyed_by_name, request_id, digest) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&cert.id)
        .bind(&cert.subject)
        .bind(serde_json::to_string(&cert.key_ids).unwrap_or_default())
        .bind(&cert.reason)
        .bind(now.micros())
        .bind(&cert.destroyed_by)
        .bind(&cert.destroyed_by_name)
        .bind(&cert.request_id)
        .bind(&cert.digest)
        .execute(&mut *tx)
        .await?;
        let ev = caller
            .event(Action::KeyDestroy, subject, Outcome::Allowed)
            .detail(serde_json::json!({
                "certificate": cert.id,
                "key_ids": cert.key_ids,
                "reason": cert.reason,
                "digest": cert.digest,
            }));
        self.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        self.scrub().await;
        Ok(cert)
    }

    /// Overwrites freed database pages that may still hold destroyed wrapped keys.
    /// Failure is logged, not returned: the destruction itself has committed.
    async fn scrub(&self) {
        let sql = match self.store.backend() {
            // secure_delete zeroed the row's old bytes in the page now in the WAL; the
            // checkpoint writes that page over the main file and truncates the WAL.
            Backend::Sqlite => "PRAGMA wal_checkpoint(TRUNCATE)",
            Backend::Postgres => "VACUUM data_keys",
        };
        if let Err(e) = sqlx::raw_sql(sql).execute(self.store.pool()).await {
            tracing::warn!(error = %e, "could not scrub destroyed keys from the database files");
        }
    }

    /// The certificates about `subject`, oldest first.
    pub(crate) async fn certificates(
        &self,
        subject: &str,
    ) -> Result<Vec<DeletionCertificate>, DataStoreError> {
        let rows = sqlx::query(
            "SELECT id, subject, key_ids, reason, destroyed_at, destroyed_by, destroyed_by_name, request_id, digest \
             FROM deletion_certificates WHERE subject = $1 ORDER BY destroyed_at",
        )
        .bind(subject)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let keys: String = r.try_get(2)?;
                Ok(DeletionCertificate {
                    id: r.try_get(0)?,
                    subject: r.try_get(1)?,
                    key_ids: serde_json::from_str(&keys).unwrap_or_default(),
                    reason: r.try_get(3)?,
                    destroyed_at: Timestamp(r.try_get(4)?).to_rfc3339(),
                    destroyed_by: r.try_get(5)?,
                    destroyed_by_name: r.try_get(6)?,
                    request_id: r.try_get(7)?,
                    digest: r.try_get(8)?,
                })
            })
            .collect()
    }

    /// Every key the platform can still open, with its id (for the test that destroyed
    /// data opens under none of them).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) async fn every_live_key(&self) -> Result<Vec<(KeyId, DataKey)>, DataStoreError> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM data_keys WHERE wrapped IS NOT NULL")
                .fetch_all(self.store.pool())
                .await?;
        let mut out = Vec::new();
        for id in ids {
            let id = KeyId(id);
            out.push((id.clone(), self.open(&id).await?));
        }
        Ok(out)
    }
}
