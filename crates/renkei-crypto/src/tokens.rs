//! Linkage tokens: keyed HMAC-SHA256 of normalized identifying fields, under keys only the
//! linkage authority holds (never unkeyed hashes: a name dictionary plus the birth date
//! and sex an analyst already sees recovers unkeyed hashes).
//!
//! Each token family has its own key, derived from the linkage key with the family's
//! name and the normalizer version, so a token from one family says nothing about
//! another, and a change of normal form changes every token of the family.

use crate::{KeyError, KeyStore, Macer};
use std::fmt;

/// What a token is computed from. The callers (ingest) decide the exact fields; these
/// are the families the platform knows.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum TokenFamily {
    /// NDB ID1: insurer number + 記号 + 番号 + birth date + sex. Changes with the insurer.
    Id1,
    /// NDB ID2: kana name + birth date + sex. Changes with the name.
    Id2,
    /// Kanji name + birth date + sex (death records, EHR).
    Kanji,
    /// Long-term-care insured number + birth date + sex (介護DB).
    CareInsured,
    /// A facility's own patient number + facility code (DPC, EHR, the カルテ番号 on claims).
    FacilityPatient,
}

impl TokenFamily {
    /// Every family.
    pub const ALL: [TokenFamily; 5] = [
        TokenFamily::Id1,
        TokenFamily::Id2,
        TokenFamily::Kanji,
        TokenFamily::CareInsured,
        TokenFamily::FacilityPatient,
    ];

    /// Stable code (column names, catalogue, key labels).
    pub fn code(self) -> &'static str {
        match self {
            TokenFamily::Id1 => "id1",
            TokenFamily::Id2 => "id2",
            TokenFamily::Kanji => "kanji",
            TokenFamily::CareInsured => "care_insured",
            TokenFamily::FacilityPatient => "facility_patient",
        }
    }

    /// Parses a code.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.code() == s)
    }
}

/// A 128-bit token (HMAC-SHA256 truncated; the birthday bound is 2^64 identifiers).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub [u8; 16]);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({})", hex::encode(self.0))
    }
}

/// Computes tokens. Holds keyed HMAC states, not keys.
pub struct Tokenizer {
    macers: Vec<(TokenFamily, Macer)>,
    /// One step per keyring generation after the first (see [`KeyStore`]).
    steps: Vec<Rekey>,
}

/// One generation's step: a token of the generation before becomes a token of this
/// one. A key rotation applies it to every stored token; a tokenizer applies every
/// step after the first key to each token it makes.
pub struct Rekey {
    macer: Macer,
}

impl Rekey {
    /// The step into `generation` (2 or later) of the keyring.
    pub fn new(keys: &KeyStore, generation: usize) -> Result<Self, KeyError> {
        Ok(Self {
            macer: keys.linkage_step(generation)?,
        })
    }

    /// The token one generation on.
    pub fn apply(&self, t: &[u8; 16]) -> [u8; 16] {
        let full = self.macer.mac(t);
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }
}

impl Tokenizer {
    /// Tokenizer for normalizer `version`. Fails without the linkage key.
    pub fn new(keys: &KeyStore, version: u32) -> Result<Self, KeyError> {
        let macers = TokenFamily::ALL
            .into_iter()
            .map(|f| {
                let k = keys.derive_linkage(&format!("token/{}/n{version}", f.code()))?;
                Ok((f, Macer::new(&k[..])))
            })
            .collect::<Result<_, KeyError>>()?;
        let steps = (2..=keys.linkage_generations())
            .map(|g| Rekey::new(keys, g))
            .collect::<Result<_, KeyError>>()?;
        Ok(Self { macers, steps })
    }

    /// The token of `fields` (already normalized) in `family`.
    pub fn token(&self, family: TokenFamily, fields: &[&[u8]]) -> Token {
        let idx = self
            .macers
            .iter()
            .position(|(f, _)| *f == family)
            .unwrap_or(0);
        let full = self.macers[idx].1.mac_fields(fields);
        let mut t = [0u8; 16];
        t.copy_from_slice(&full[..16]);
        for step in &self.steps {
            t = step.apply(&t);
        }
        Token(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RootKey;

    fn keys(linkage: &str) -> KeyStore {
        KeyStore::from_keys(
            RootKey::from_hex(&"01".repeat(32)).unwrap(),
            Some(RootKey::from_hex(linkage).unwrap()),
        )
    }

    #[test]
    fn tokens_are_keyed_separated_and_versioned() {
        let t = Tokenizer::new(&keys(&"02".repeat(32)), 1).unwrap();
        let a = t.token(TokenFamily::Id2, &[b"YAMADA", b"19800101", b"1"]);
        assert_eq!(
            a,
            t.token(TokenFamily::Id2, &[b"YAMADA", b"19800101", b"1"])
        );
        assert_ne!(
            a,
            t.token(TokenFamily::Kanji, &[b"YAMADA", b"19800101", b"1"]),
            "families differ"
        );
        assert_ne!(
            a,
            t.token(TokenFamily::Id2, &[b"YAMAD", b"A19800101", b"1"]),
            "fields are length-prefixed"
        );
        let other_key = Tokenizer::new(&keys(&"03".repeat(32)), 1).unwrap();
        assert_ne!(
            a,
            other_key.token(TokenFamily::Id2, &[b"YAMADA", b"19800101", b"1"])
        );
        let v2 = Tokenizer::new(&keys(&"02".repeat(32)), 2).unwrap();
        assert_ne!(
            a,
            v2.token(TokenFamily::Id2, &[b"YAMADA", b"19800101", b"1"])
        );
        // A second generation: a fresh token equals the first generation's token
        // passed through the step, which is what a rotation does to stored ones.
        let g2 = KeyStore::from_keyring(
            RootKey::from_hex(&"01".repeat(32)).unwrap(),
            vec![
                RootKey::from_hex(&"02".repeat(32)).unwrap(),
                RootKey::from_hex(&"04".repeat(32)).unwrap(),
            ],
        );
        let fresh = Tokenizer::new(&g2, 1)
            .unwrap()
            .token(TokenFamily::Id2, &[b"YAMADA", b"19800101", b"1"]);
        assert_ne!(fresh, a);
        assert_eq!(fresh.0, Rekey::new(&g2, 2).unwrap().apply(&a.0));
        assert!(Rekey::new(&keys(&"02".repeat(32)), 2).is_err());
        let no_linkage = KeyStore::from_keys(RootKey::generate(), None);
        assert!(
            Tokenizer::new(&no_linkage, 1).is_err(),
            "the operator's keys alone cannot make tokens"
        );
    }
}
