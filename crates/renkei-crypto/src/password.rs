//! Password hashing with argon2id.
//!
//! Parameters are configurable so an operator can tune one verification to 50–250 ms on
//! their hardware (`renkei bench` prints the time); hashes carry their parameters, so old
//! hashes keep verifying after a change.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for PasswordParams {
    /// 64 MiB, 3 passes, 1 lane: about 100–150 ms on one core of a current server.
    fn default() -> Self {
        Self {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

impl PasswordParams {
    /// Deliberately weak parameters for tests only, so suites do not spend minutes hashing.
    pub fn insecure_for_tests() -> Self {
        Self {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
}

impl PasswordHasher {
    /// A hasher with these parameters. Invalid parameters fall back to the defaults
    /// (the config loader validates them first, see [`PasswordHasher::validate`]).
    pub fn new(p: PasswordParams) -> Self {
        let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .or_else(|_| {
                let d = PasswordParams::default();
                Params::new(d.memory_kib, d.iterations, d.parallelism, None)
            })
            .unwrap_or_default();
        Self {
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        }
    }

    /// Checks that argon2 accepts these parameters.
    pub fn validate(p: PasswordParams) -> Result<(), String> {
        Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .map(|_| ())
            .map_err(|e| format!("invalid argon2 parameters: {e}"))
    }

    /// A PHC string (`$argon2id$v=19$m=...`) with a fresh random salt.
    pub fn hash(&self, password: &str) -> Result<String, HashError> {
        let salt = SaltString::encode_b64(&crate::random_bytes::<16>())
            .map_err(|e| HashError(e.to_string()))?;
        self.argon
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError(e.to_string()))
    }

    /// Whether `password` matches `phc`. A malformed stored hash never matches.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(h) => self.argon.verify_password(password.as_bytes(), &h).is_ok(),
            // No usable hash (an account waiting for its enrolment link): the same time
            // as a real check, so the answer's timing says nothing about the account.
            Err(_) => {
                self.dummy_verify(password);
                false
            }
        }
    }

    /// Burns the same time as a verification, for unknown usernames, so response time
    /// does not reveal whether an account exists.
    pub fn dummy_verify(&self, password: &str) {
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let h = DUMMY.get_or_init(|| self.hash("renkei-dummy-password").unwrap_or_default());
        if let Ok(h) = PasswordHash::new(h) {
            let _ = self.argon.verify_password(password.as_bytes(), &h);
        }
    }
}

/// Hashing failed (argon2 refused its inputs; does not happen with validated parameters).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = PasswordHasher::new(PasswordParams::insecure_for_tests());
        let phc = h.hash("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{phc}");
        assert!(h.verify("correct horse battery staple", &phc));
        assert!(!h.verify("correct horse battery stapler", &phc));
        assert!(!h.verify("x", "not a hash"));
        // A hasher with other parameters still verifies old hashes.
        let h2 = PasswordHasher::new(PasswordParams {
            memory_kib: 512,
            iterations: 2,
            parallelism: 1,
        });
        assert!(h2.verify("correct horse battery staple", &phc));
    }

    #[test]
    fn invalid_params_are_reported() {
        assert!(
            PasswordHasher::validate(PasswordParams {
                memory_kib: 1,
                iterations: 0,
                parallelism: 1
            })
            .is_err()
        );
        assert!(PasswordHasher::validate(PasswordParams::default()).is_ok());
    }
}
