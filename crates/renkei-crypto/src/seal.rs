//! Sealing small secrets (TOTP secrets) for storage: AES-256-GCM under a purpose key, with
//! associated data naming the row the secret belongs to, so a sealed value copied onto
//! another row does not open.

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;

/// Opening a sealed value failed: wrong key, wrong context, or tampered text.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The text is not a sealed value of a known version.
    #[error("not a sealed value")]
    Format,
    /// Authentication failed.
    #[error("sealed value does not open under this key and context")]
    Open,
}

/// Seals and opens small values.
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl Sealer {
    /// A sealer under the key store's sealing key.
    pub fn new(keys: &crate::KeyStore) -> Self {
        Self::for_purpose(keys, crate::Purpose::Seal)
    }

    /// A sealer under the key for `purpose`.
    pub(crate) fn for_purpose(keys: &crate::KeyStore, purpose: crate::Purpose) -> Self {
        let k = keys.derive(purpose);
        Self {
            cipher: Aes256Gcm::new((&*k).into()),
        }
    }

    /// Encrypts `plain`, bound to `context`. Output: `v1.` + base64(nonce ‖ ciphertext).
    pub fn seal(&self, plain: &[u8], context: &str) -> String {
        let nonce_bytes = crate::random_bytes::<12>();
        let nonce = Nonce::from_slice(&nonce_bytes);
        // Encryption with a fresh nonce and in-memory buffers cannot fail.
        let ct = self
            .cipher
            .encrypt(
                nonce,
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ct);
        format!(
            "v1.{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
        )
    }

    /// Decrypts a value sealed with the same key and `context`.
    pub fn open(
        &self,
        sealed: &str,
        context: &str,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, SealError> {
        let b64 = sealed.strip_prefix("v1.").ok_or(SealError::Format)?;
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b64)
            .map_err(|_| SealError::Format)?;
        if raw.len() < 12 + 16 {
            return Err(SealError::Format);
        }
        let (nonce, ct) = raw.split_at(12);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map(zeroize::Zeroizing::new)
            .map_err(|_| SealError::Open)
    }
}

/// A dataset's data key: 256 random bits that encrypt its stored files. Kept in the
/// store only sealed under the master key ([`crate::KeyStore::new_data_key`]); zeroed on
/// drop; no `Debug`. Destroying the sealed form destroys the data (crypto-shredding).
pub struct DataKey(zeroize::Zeroizing<[u8; 32]>);

impl DataKey {
    /// The key bytes, for the storage layer's cipher. Never store or log them.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A keyed MAC derived from this key for `purpose` (HKDF-SHA256): a project's
    /// pseudonyms are made under its extract's data key, so destroying the key at
    /// closure also makes its pseudonyms impossible to recompute.
    pub fn derived_macer(&self, purpose: &str) -> crate::Macer {
        crate::Macer::new(&self.derive(purpose)[..])
    }

    /// A sealer derived from this key for `purpose`: what a project keeps inside the
    /// platform besides its extract (outputs awaiting checking) is sealed under it, and
    /// shredded with it.
    pub fn derived_sealer(&self, purpose: &str) -> Sealer {
        Sealer {
            cipher: Aes256Gcm::new((&*self.derive(purpose)).into()),
        }
    }

    fn derive(&self, purpose: &str) -> zeroize::Zeroizing<[u8; 32]> {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"renkei:data-key"), &self.0[..]);
        let mut okm = zeroize::Zeroizing::new([0u8; 32]);
        #[allow(clippy::expect_used)] // 32 bytes is far below HKDF-SHA256's limit.
        hk.expand(purpose.as_bytes(), &mut okm[..])
            .expect("32-byte HKDF output");
        okm
    }
}

impl crate::KeyStore {
    /// A fresh data key and its sealed form, bound to `context` (e.g. `dataset:ndb_claims`).
    pub fn new_data_key(&self, context: &str) -> (DataKey, String) {
        let key = zeroize::Zeroizing::new(crate::random_bytes::<32>());
        let sealed =
            Sealer::for_purpose(self, crate::Purpose::DatasetKeyWrap).seal(&key[..], context);
        (DataKey(key), sealed)
    }

    /// Opens a sealed data key.
    pub fn open_data_key(&self, context: &str, sealed: &str) -> Result<DataKey, SealError> {
        let raw =
            Sealer::for_purpose(self, crate::Purpose::DatasetKeyWrap).open(sealed, context)?;
        let mut k = zeroize::Zeroizing::new([0u8; 32]);
        if raw.len() != 32 {
            return Err(SealError::Format);
        }
        k.copy_from_slice(&raw);
        Ok(DataKey(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyStore, RootKey};

    #[test]
    fn seal_open_and_context_binding() {
        let s = Sealer::new(&KeyStore::from_keys(RootKey::generate(), None));
        let sealed = s.seal(b"JBSWY3DPEHPK3PXP", "totp:user-1");
        assert!(!sealed.contains("JBSWY3DP"));
        assert_eq!(
            &s.open(&sealed, "totp:user-1").unwrap()[..],
            b"JBSWY3DPEHPK3PXP"
        );
        assert!(matches!(
            s.open(&sealed, "totp:user-2"),
            Err(SealError::Open)
        ));
        let other = Sealer::new(&KeyStore::from_keys(RootKey::generate(), None));
        assert!(matches!(
            other.open(&sealed, "totp:user-1"),
            Err(SealError::Open)
        ));
        assert!(matches!(s.open("garbage", "x"), Err(SealError::Format)));
    }

    #[test]
    fn data_keys_open_only_with_their_context_and_master_key() {
        let ks = KeyStore::from_keys(RootKey::generate(), None);
        let (k, sealed) = ks.new_data_key("dataset:a");
        assert_eq!(
            ks.open_data_key("dataset:a", &sealed).unwrap().bytes(),
            k.bytes()
        );
        assert!(ks.open_data_key("dataset:b", &sealed).is_err());
        assert!(
            KeyStore::from_keys(RootKey::generate(), None)
                .open_data_key("dataset:a", &sealed)
                .is_err()
        );
    }
}
