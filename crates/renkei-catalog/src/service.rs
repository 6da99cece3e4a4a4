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
                scope: custody_scope(&self.store, caller).await?,
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

/// What a custodian sees of the datasets they hold: every version, committed or
/// refused, with exact profiles. Obtained only from [`Catalog::custody`].
pub struct Custody {
    catalog: Catalog,
    caller: Caller,
    scope: CustodyScope,
}

/// Which datasets a custody covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustodyScope {
    /// Every dataset: the operator's data duty (loading data at the host).
    All,
    /// The datasets a custodian is assigned to.
    Datasets(std::collections::BTreeSet<String>),
}

impl CustodyScope {
    /// Whether it covers `dataset`.
    pub fn covers(&self, dataset: &str) -> bool {
        match self {
            CustodyScope::All => true,
            CustodyScope::Datasets(ids) => ids.contains(dataset),
        }
    }
}

/// The datasets `caller` holds: all of them for the operator, else those the caller is
/// assigned to as custodian (none for anyone else).
pub async fn custody_scope(store: &Store, caller: &Caller) -> Result<CustodyScope, CatalogError> {
    if caller.is_operator() {
        return Ok(CustodyScope::All);
    }
    let Some(id) = caller.user_id() else {
        return Ok(CustodyScope::Datasets(Default::default()));
    };
    let ids: Vec<String> = renkei_store::sqlx::query_scalar(
        "SELECT dataset_id FROM dataset_custodians WHERE user_id = $1",
    )
    .bind(id.as_str())
    .fetch_all(store.pool())
    .await?;
    Ok(CustodyScope::Datasets(ids.into_iter().collect()))
}

impl Catalog {
    /// Assigns (`assign`) or unassigns a custodian to a dataset: for a caller who may
    /// manage users (an administrator, or the operator's accounts duty). Audited when
    /// it changes anything; returns whether it did.
    pub async fn assign_custodian(
        &self,
        caller: &Caller,
        dataset: &str,
        user: &renkei_core::UserId,
        assign: bool,
    ) -> Result<bool, CatalogError> {
        let object = format!("dataset:{dataset}");
        if let Err(d) = caller.require(Permission::ManageUsers) {
            self.audit
                .record_refusal(caller.event(
                    Action::DatasetCustodian,
                    object,
                    Outcome::denied(d.code()),
                ))
                .await?;
            return Err(d.into());
        }
        let mut tx = self.store.begin().await?;
        let changed = if assign {
            renkei_store::sqlx::query(
                "INSERT INTO dataset_custodians (dataset_id, user_id, assigned_at, assigned_by) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (dataset_id, user_id) DO NOTHING",
            )
            .bind(dataset)
            .bind(user.as_str())
            .bind(renkei_core::time::Clock::now(&renkei_core::time::SystemClock).micros())
            .bind(&caller.actor().id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        } else {
            renkei_store::sqlx::query(
                "DELETE FROM dataset_custodians WHERE dataset_id = $1 AND user_id = $2",
            )
            .bind(dataset)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected()
        };
        if changed == 0 {
            return Ok(false);
        }
        let ev = caller
            .event(Action::DatasetCustodian, object, Outcome::Allowed)
            .detail(serde_json::json!({ "user": user.as_str(), "assigned": assign }));
        self.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok(true)
    }
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
    /// Every dataset this custody covers, with its versions. The read is audited:
    /// exact profiles hold counts below the public threshold.
    pub async fn datasets(&self) -> Result<Vec<DatasetHistory>, CatalogError> {
        let mut out = Vec::new();
        for entry in datasets(&self.catalog.store).await? {
            if !self.scope.covers(&entry.declaration.dataset.id) {
                continue;
            }
            let versions = versions(&self.catalog.store, &entry.declaration.dataset.id).await?;
            out.push(DatasetHistory { entry, versions });
        }
        self.catalog
            .audit
            .record(
                self.caller
                    .event(Action::DatasetRead, "datasets", Outcome::Allowed)
                    .detail(serde_json::json!({ "datasets": out.iter().map(|d| d.entry.declaration.dataset.id.as_str()).collect::<Vec<_>>() })),
            )
            .await?;
        Ok(out)
    }

    /// Which datasets this custody covers.
    pub fn scope(&self) -> &CustodyScope {
        &self.scope
    }

    /// One dataset the custody covers, with its versions and exact profiles. The read
    /// is audited; a dataset the caller does not hold is refused (and audited).
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
        // Existence is public (the catalogue lists every dataset), so an unknown id
        // answers "not found" before custody is asked.
        if !self.scope.covers(id) {
            let d = AccessDenied::Object("not_custodian");
            self.catalog
                .audit
                .record(
                    self.caller
                        .event(Action::DatasetRead, object, Outcome::denied(d.code())),
                )
                .await?;
            return Err(d.into());
        }
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
