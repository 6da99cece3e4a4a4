//! Shared by the fuzz targets: run one reader over arbitrary bytes through the
//! production dry-run path (`renkei_ingest::check`), which must answer with rows and
//! rejects, never an error or a panic.

use renkei_catalog::Declaration;
use renkei_ingest::tokens::Tokens;
use std::sync::OnceLock;

fn tokens() -> &'static Tokens {
    static T: OnceLock<Tokens> = OnceLock::new();
    T.get_or_init(|| renkei_ingest::check::ephemeral_tokens().expect("tokens"))
}

/// Reads `bytes` as one file named `name` of the dataset `decl`.
pub fn read(decl: &Declaration, name: &str, bytes: &[u8]) {
    let r = renkei_ingest::check::check(
        decl,
        renkei_masters::Masters::embedded(),
        tokens(),
        &[(name, bytes)],
    );
    if let Err(e) = r {
        panic!("a reader failed instead of rejecting: {e}");
    }
}

/// A built-in declaration.
pub fn builtin(id: &str) -> &'static Declaration {
    static ALL: OnceLock<Vec<Declaration>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        renkei_catalog::BUILTIN
            .iter()
            .filter_map(|(id, _)| renkei_catalog::builtin(id))
            .collect()
    });
    all.iter()
        .find(|d| d.dataset.id == id)
        .expect("built-in declaration")
}
