//! The catalogue as a service: the public views for anyone, and the custodian's exact
//! views through a capability only [`Catalog::custody`] hands out.

use crate::linkage::{Link, links};
use crate::public::{PublicDataset, view};
use crate::{CatalogError, DatasetEntry, VersionRecord, dataset, datasets, versions};
use renkei_audit::Audit;
use renkei_core::role::AccessDenied;
use renkei_core::{Action, Caller, Outcome, Permission};
use renkei_store::Store;
use renkei_store::sqlx::{self, Row as _};
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
}

impl PublicCatalog {
    /// DCAT-AP / HealthDCAT-AP JSON-LD, with links under `base`.
    pub fn dcat(&self, base: &str) -> serde_json::Value {
        crate::dcat::catalog(&self.entries, base)
    }
}

/// The catalogue service. Cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    store: Store,
    audit: Audit,
    /// The public catalogue and the state of the `datasets` table it was built from.
    /// Building it parses every declaration and profile; it changes only when a
    /// version commits (in this process or another), which moves the stamp.
    cache: Arc<Mutex<Option<Cached>>>,
}

/// The public catalogue and the stamp it was built at.
type Cached = (Stamp, Arc<PublicCatalog>);

/// How far the `datasets` table has moved: any new dataset or committed version
/// changes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    count: i64,
    updated: i64,
}

impl Catalog {
    /// The service over `store`, recording to `audit`.
    pub fn new(store: Store, audit: Audit) -> Self {
        Self {
            store,
            audit,
            cache: Arc::new(Mutex::new(None)),
        }
    }

    async fn stamp(&self) -> Result<Stamp, CatalogError> {
        let r = sqlx::query("SELECT COUNT(*), COALESCE(MAX(updated_at), 0) FROM datasets")
            .fetch_one(self.store.pool())
            .await?;
        Ok(Stamp {
            count: r.try_get(0)?,
            updated: r.try_get(1)?,
        })
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
        let built = Arc::new(PublicCatalog {
            datasets: entries.iter().map(view).collect(),
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
