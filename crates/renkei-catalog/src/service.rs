//! The catalogue as a service: the public views for anyone, and the custodian's exact
//! views through a capability only [`Catalog::custody`] hands out.

use crate::linkage::{Link, links};
use crate::public::{PublicDataset, view};
use crate::{CatalogError, DatasetEntry, VersionRecord, dataset, datasets, versions};
use renkei_audit::Audit;
use renkei_core::role::AccessDenied;
use renkei_core::{Action, Caller, Outcome, Permission};
use renkei_store::Store;
use std::sync::{Arc, Mutex};

/// The public catalogue at one moment: every dataset's suppressed view and the links
/// between datasets.
#[derive(Clone, Debug)]
pub struct PublicCatalog {
    /// Datasets, by id.
    pub datasets: Vec<PublicDataset>,
    /// Pairs of datasets that share a token family.
    pub links: Vec<Link>,
    /// The raw entries behind the views, for the DCAT export (itself built from the
    /// public views).
    entries: Vec<DatasetEntry>,
    /// The views' text, folded once for search.
    index: crate::public::SearchIndex,
}

impl PublicCatalog {
    /// DCAT-AP / HealthDCAT-AP JSON-LD, with links under `base`.
    pub fn dcat(&self, base: &str) -> serde_json::Value {
        crate::dcat::catalog(&self.entries, base)
    }

    /// The datasets matching every word of `q` (NFKC, case- and kana-folded), with the
    /// variables that matched. The query is cut to [`crate::public::MAX_QUERY_CHARS`]
    /// characters and [`crate::public::MAX_QUERY_WORDS`] words.
    pub fn search(&self, q: &str) -> Vec<crate::public::Hit> {
        self.index.search(q)
    }
}

/// The catalogue service. Cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    store: Store,
    audit: Audit,
    /// The public catalogue and the catalogue generation it was built at. Building it
    /// parses every declaration and profile; it changes only when a dataset or version
    /// is recorded (in this process or another), which moves the generation.
    cache: Arc<Mutex<Option<Cached>>>,
}

/// The public catalogue and the generation it was built at.
type Cached = (i64, Arc<PublicCatalog>);

impl Catalog {
    /// The service over `store`, recording to `audit`.
    pub fn new(store: Store, audit: Audit) -> Self {
        Self {
            store,
            audit,
            cache: Arc::new(Mutex::new(None)),
        }
    }

    async fn stamp(&self) -> Result<i64, CatalogError> {
        crate::store::generation(&self.store).await
    }

    /// The public catalogue. Anyone may read it, signed in or not; everything in it is
    /// suppressed ([`crate::public`]).
    pub async fn public(&self, _caller: &Caller) -> Result<Arc<PublicCatalog>, CatalogError> {
        let stamp = self.stamp().await?;
        if let Some((s, c)) = self.cache.lock().ok().and_then(|g| g.clone())
            && s == stamp
        {
            return Ok(c);
        }
        let entries = datasets(&self.store).await?;
        let views: Vec<PublicDataset> = entries.iter().map(view).collect();
        let built = Arc::new(PublicCatalog {
            index: crate::public::SearchIndex::new(&views),
            datasets: views,
            links: links(&entries),
            entries,
        });
        if let Ok(mut g) = self.cache.lock() {
            *g = Some((stamp, built.clone()));
        }
        Ok(built)
    }

    /// One dataset's public view.
    pub async fn public_dataset(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<PublicDataset, CatalogError> {
        self.public(caller)
            .await?
            .datasets
            .iter()
            .find(|d| d.id == id)
            .cloned()
            .ok_or_else(|| CatalogError::NoSuchDataset(id.to_owned()))
    }

    /// The custodian's view for `caller`, who must hold the permission to manage
    /// datasets. A refusal is audited before the caller hears of it.
    pub async fn custody(&self, caller: &Caller) -> Result<Custody, CatalogError> {
        match caller.require(Permission::ManageDatasets) {
            Ok(()) => Ok(Custody {
                catalog: self.clone(),
                caller: caller.clone(),
            }),
            Err(d) => {
                self.audit
                    .record(caller.event(
                        Action::DatasetRead,
                        "datasets",
                        Outcome::denied(d.code()),
                    ))
                    .await?;
                Err(CatalogError::Denied(d))
            }
        }
    }
}

/// What a custodian sees: every version, committed or refused, with exact profiles.
/// Obtained only from [`Catalog::custody`].
pub struct Custody {
    catalog: Catalog,
    caller: Caller,
}

/// A dataset with every version, newest first.
#[derive(Clone, Debug)]
pub struct DatasetHistory {
    /// The dataset.
    pub entry: DatasetEntry,
    /// Its versions, newest first.
    pub versions: Vec<VersionRecord>,
}

impl Custody {
    /// Every dataset with its versions.
    pub async fn datasets(&self) -> Result<Vec<DatasetHistory>, CatalogError> {
        let mut out = Vec::new();
        for entry in datasets(&self.catalog.store).await? {
            let versions = versions(&self.catalog.store, &entry.declaration.dataset.id).await?;
            out.push(DatasetHistory { entry, versions });
        }
        Ok(out)
    }

    /// One dataset with its versions and exact profiles. The read is audited: exact
    /// profiles hold counts below the public threshold.
    pub async fn dataset(&self, id: &str) -> Result<DatasetHistory, CatalogError> {
        let object = format!("dataset:{id}");
        let entry = match dataset(&self.catalog.store, id).await {
            Ok(e) => e,
            Err(e @ CatalogError::NoSuchDataset(_)) => {
                self.catalog
                    .audit
                    .record(self.caller.event(
                        Action::DatasetRead,
                        object,
                        Outcome::denied(renkei_core::Coded::code(&e)),
                    ))
                    .await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let versions = versions(&self.catalog.store, id).await?;
        self.catalog
            .audit
            .record(
                self.caller
                    .event(Action::DatasetRead, object, Outcome::Allowed)
                    .detail(serde_json::json!({ "versions": versions.len() })),
            )
            .await?;
        Ok(DatasetHistory { entry, versions })
    }

    /// The caller this custody was granted to.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }
}

impl From<AccessDenied> for CatalogError {
    fn from(d: AccessDenied) -> Self {
        CatalogError::Denied(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Profile, VersionStatus, builtin};
    use renkei_core::Timestamp;
    use renkei_crypto::{KeyStore, RootKey};
    use renkei_store::store_test;

    fn version(id: &str, n: i64, at: i64) -> VersionRecord {
        VersionRecord {
            dataset_id: id.into(),
            version: n,
            status: VersionStatus::Committed,
            reason: String::new(),
            created_at: Timestamp(at),
            created_by: "cli".into(),
            files: Vec::new(),
            rows_in: 100,
            rows_rejected: 0,
            coverage_from: "2025-04-01".into(),
            coverage_to: "2026-03-31".into(),
            profile: Profile::default(),
            masters: Vec::new(),
            linkage_fingerprint: String::new(),
            token_generation: 1,
        }
    }

    /// The cached public catalogue follows every commit, whatever the commits' clocks
    /// say: two loads finishing out of order (the later one stamped earlier) must not
    /// leave the public view stale.
    async fn the_public_view_follows_every_commit(store: Store) {
        let keys = Arc::new(KeyStore::from_keys(RootKey::generate(), None));
        let audit = Audit::new(
            store.clone(),
            keys,
            Arc::new(renkei_core::time::SystemClock),
            None,
        );
        let cat = Catalog::new(store.clone(), audit);
        let anyone = Caller::anonymous("t");
        for (id, at) in [("deaths", 2_000), ("ehr", 1_000)] {
            let mut tx = store.begin().await.unwrap();
            crate::ensure_dataset(&mut tx, &builtin(id).unwrap(), "k", Timestamp(at))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        let mut tx = store.begin().await.unwrap();
        crate::record_version(&mut tx, &version("deaths", 1, 2_000))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let before = cat.public(&anyone).await.unwrap();
        let shown = |c: &PublicCatalog, id: &str| {
            c.datasets
                .iter()
                .find(|d| d.id == id)
                .is_some_and(|d| d.coverage_from.is_some())
        };
        assert!(shown(&before, "deaths") && !shown(&before, "ehr"));
        // A version committed after, stamped before.
        let mut tx = store.begin().await.unwrap();
        crate::record_version(&mut tx, &version("ehr", 1, 1_000))
            .await
            .unwrap();
        sqlx_set_current(&mut tx, "ehr", 1).await;
        tx.commit().await.unwrap();
        let after = cat.public(&anyone).await.unwrap();
        assert!(shown(&after, "ehr"), "the new version shows at once");
    }

    async fn sqlx_set_current(tx: &mut renkei_store::Tx, id: &str, v: i64) {
        renkei_store::sqlx::query("UPDATE datasets SET current_version = $1 WHERE id = $2")
            .bind(v)
            .bind(id)
            .execute(&mut **tx)
            .await
            .unwrap();
    }

    store_test!(the_public_view_follows_every_commit);
}
