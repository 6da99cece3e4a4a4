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
        let k = keys.derive(crate::Purpose::Seal);
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
}
