//! Key material and the primitives built on it.
//!
//! **Invariant:** this is the only crate that holds raw key bytes. Others ask it for a
//! purpose-bound operation (seal this, sign that, hash this password) and never see the
//! master keys. No type here implements `Debug` or `Display` in a way that prints key
//! bytes, so a stray `{:?}` cannot leak a key into a log.
//!
//! The hierarchy: two root keys, each 32 random bytes held outside the metadata store.
//! - the **master key**, held by the operator, from which every platform purpose key is
//!   derived with HKDF-SHA256 (`info` = the purpose's versioned label);
//! - the **linkage key**, held by the linkage authority, from which linkage-token keys
//!   are derived. Keeping it separate lets the operator run the platform without being
//!   able to compute linkage tokens (V3).
#![warn(missing_docs)]

mod keystore;
mod password;
mod seal;
mod tokens;

pub use keystore::{
    KeyConfig, KeyError, KeyStore, LINKAGE_KEY_ENV, MASTER_KEY_ENV, Macer, Purpose, RootKey,
    append_linkage_generation,
};
pub use password::{HashError, PasswordHasher, PasswordParams};
pub use seal::{DataKey, SealError, Sealer};
pub use tokens::{Rekey, Token, TokenFamily, Tokenizer};

use base64::Engine as _;
use rand::RngCore as _;
use sha2::Digest as _;

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// A 256-bit random token, URL-safe base64 without padding (43 characters). Used for
/// session cookies and API tokens; the store keeps only [`sha256_hex`] of it.
pub fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// Constant-time equality for secrets compared against user input.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
