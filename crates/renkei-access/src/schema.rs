//! The catalogue as the [`Schema`] an application is checked against: the tables and
//! columns each dataset stores (after ingest: tokens, coarsened dates, no identifiers).

use crate::application::{ColumnKind, Schema};
use renkei_catalog::{ColType, ColumnRole, DatasetEntry};
use std::collections::BTreeMap;

/// Stored columns by (dataset, table, column).
#[derive(Clone, Debug, Default)]
pub struct CatalogSchema {
    columns: BTreeMap<(String, String, String), ColumnKind>,
}

/// Column names that describe a person's age, sex or place, or a date: together they
/// single people out, so the committee sees how many are asked for.
const QUASI_NAMES: [&str; 10] = [
    "sex",
    "birth_ym",
    "age",
    "age_band",
    "postal3",
    "prefecture",
    "municipality",
    "region",
    "death_ym",
    "service_month",
];

impl CatalogSchema {
    /// The schema of the catalogue's datasets.
    pub fn new(entries: &[DatasetEntry]) -> Self {
        let mut columns = BTreeMap::new();
        for e in entries {
            let d = &e.declaration;
            for t in d.stored_tables() {
                for c in &t.columns {
                    let name = c.store_as.clone().unwrap_or_else(|| c.name.clone());
                    let quasi = c.ty == ColType::Date
                        || matches!(
                            c.role,
                            Some(ColumnRole::Sex | ColumnRole::BirthDate | ColumnRole::PostalCode)
                        )
                        || QUASI_NAMES.contains(&name.as_str());
                    columns.insert(
                        (d.dataset.id.clone(), t.name.clone(), name),
                        ColumnKind {
                            quasi_identifier: quasi,
                        },
                    );
                }
            }
        }
        Self { columns }
    }
}

impl Schema for CatalogSchema {
    fn column(&self, dataset: &str, table: &str, variable: &str) -> Option<ColumnKind> {
        self.columns
            .get(&(dataset.to_owned(), table.to_owned(), variable.to_owned()))
            .copied()
    }
}
