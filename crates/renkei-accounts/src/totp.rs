//! TOTP (RFC 6238) through `totp-rs`: SHA-1, 6 digits, 30-second steps, one step of
//! clock skew either way, as every common authenticator app expects.

use totp_rs::{Algorithm, Secret, TOTP};

pub(crate) const STEP: u64 = 30;

/// A TOTP for a raw secret. `account` labels it in the authenticator app.
pub fn totp_for(secret: &[u8], account: &str) -> Option<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP,
        secret.to_vec(),
        Some("Renkei".into()),
        account.to_owned(),
    )
    .ok()
}

/// Finds the time step at which `code` is valid for `secret` around `now_secs`, if any.
pub(crate) fn matching_step(totp: &TOTP, code: &str, now_secs: u64) -> Option<u64> {
    let code = code.trim().replace(' ', "");
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = now_secs / STEP;
    let mut found = None;
    // Check every candidate (no early return) so timing does not reveal which matched.
    for s in [step.saturating_sub(1), step, step + 1] {
        let expected = totp.generate(s * STEP);
        if renkei_crypto::ct_eq(expected.as_bytes(), code.as_bytes()) {
            found = Some(s);
        }
    }
    found
}

/// A raw secret in the base32 form authenticator apps take.
pub fn encode_secret(raw: &[u8]) -> String {
    Secret::Raw(raw.to_vec()).to_encoded().to_string()
}

/// The current code for a base32 secret (the `renkei totp-code` helper, for demos and
/// tests; it reveals nothing the secret's holder does not already have).
pub fn current_code(secret_base32: &str, now_secs: u64) -> Option<String> {
    let raw = Secret::Encoded(secret_base32.trim().to_owned())
        .to_bytes()
        .ok()?;
    let totp = TOTP::new_unchecked(Algorithm::SHA1, 6, 1, STEP, raw, None, String::new());
    Some(totp.generate(now_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vector() {
        // RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits); 6 digits = 287082.
        let t = TOTP::new_unchecked(
            Algorithm::SHA1,
            6,
            1,
            30,
            b"12345678901234567890".to_vec(),
            None,
            String::new(),
        );
        assert_eq!(t.generate(59), "287082");
        assert_eq!(matching_step(&t, "287082", 59), Some(1));
        assert_eq!(
            matching_step(&t, "287 082", 75),
            Some(1),
            "one step of skew is accepted"
        );
        assert_eq!(
            matching_step(&t, "287082", 150),
            None,
            "older codes are not"
        );
        assert_eq!(matching_step(&t, "28708", 59), None);
        assert_eq!(matching_step(&t, "abcdef", 59), None);
    }
}
