//! The linkage tokens computed at the door, from normalized identifying fields. These
//! compositions follow the NDB's IDs (REFERENCE.md §6); the normalization is
//! `renkei_core::normalize` (versioned), the keyed hash `renkei_crypto::Tokenizer`.

use renkei_core::normalize;
use renkei_core::wareki::Ymd;
use renkei_crypto::{Token, TokenFamily, Tokenizer};

/// Computes every token family.
pub struct Tokens {
    t: Tokenizer,
}

fn dob(d: Ymd) -> String {
    format!("{:04}{:02}{:02}", d.0, d.1, d.2)
}

impl Tokens {
    /// Over a tokenizer.
    pub fn new(t: Tokenizer) -> Self {
        Self { t }
    }

    /// ID1: insurer number + 記号 + 番号 + birth date + sex. `None` without an insurer number.
    pub fn id1(
        &self,
        insurer: &str,
        kigo: &str,
        bango: &str,
        birth: Ymd,
        sex: &str,
    ) -> Option<Token> {
        let ins = normalize::number(insurer);
        (!ins.is_empty()).then(|| {
            let (k, b, d) = (
                normalize::number(kigo),
                normalize::number(bango),
                dob(birth),
            );
            self.t.token(
                TokenFamily::Id1,
                &[
                    ins.as_bytes(),
                    k.as_bytes(),
                    b.as_bytes(),
                    d.as_bytes(),
                    sex.as_bytes(),
                ],
            )
        })
    }

    /// ID1n: ID1 with the 枝番, which tells family members under one insured person apart.
    pub fn id1n(
        &self,
        insurer: &str,
        kigo: &str,
        bango: &str,
        edaban: &str,
        birth: Ymd,
        sex: &str,
    ) -> Option<Token> {
        let ins = normalize::number(insurer);
        let eda = normalize::number(edaban);
        (!ins.is_empty() && !eda.is_empty()).then(|| {
            let (k, b, d) = (
                normalize::number(kigo),
                normalize::number(bango),
                dob(birth),
            );
            self.t.token(
                TokenFamily::Id1,
                &[
                    ins.as_bytes(),
                    k.as_bytes(),
                    b.as_bytes(),
                    eda.as_bytes(),
                    d.as_bytes(),
                    sex.as_bytes(),
                ],
            )
        })
    }

    /// ID2: kana name + birth date + sex.
    pub fn id2(&self, kana: &str, birth: Ymd, sex: &str) -> Option<Token> {
        let k = normalize::kana(kana);
        (!k.is_empty()).then(|| {
            self.t.token(
                TokenFamily::Id2,
                &[k.as_bytes(), dob(birth).as_bytes(), sex.as_bytes()],
            )
        })
    }

    /// Kanji name + birth date + sex.
    pub fn kanji(&self, name: &str, birth: Ymd, sex: &str) -> Option<Token> {
        let k = normalize::kanji(name);
        (!k.is_empty()).then(|| {
            self.t.token(
                TokenFamily::Kanji,
                &[k.as_bytes(), dob(birth).as_bytes(), sex.as_bytes()],
            )
        })
    }

    /// Care insurer + insured number + birth date + sex.
    pub fn care(&self, insurer: &str, number: &str, birth: Ymd, sex: &str) -> Option<Token> {
        let n = normalize::number(number);
        (!n.is_empty()).then(|| {
            let i = normalize::number(insurer);
            self.t.token(
                TokenFamily::CareInsured,
                &[
                    i.as_bytes(),
                    n.as_bytes(),
                    dob(birth).as_bytes(),
                    sex.as_bytes(),
                ],
            )
        })
    }

    /// A facility's own patient number: facility (prefecture + 7-digit code) + number.
    pub fn facility_patient(&self, facility9: &str, number: &str) -> Option<Token> {
        let n = normalize::number(number);
        (!n.is_empty() && !facility9.is_empty()).then(|| {
            self.t.token(
                TokenFamily::FacilityPatient,
                &[facility9.as_bytes(), n.as_bytes()],
            )
        })
    }
}
