//! The linkage tokens computed at the door, from normalized identifying fields. These
//! compositions follow the NDB's IDs (docs/formats.md); the normalization is
//! `renkei_core::normalize` (versioned), the keyed hash `renkei_crypto::Tokenizer`.

use renkei_core::normalize;
use renkei_core::wareki::Ymd;
use renkei_crypto::{Token, TokenFamily, Tokenizer};

/// Computes every token family.
pub struct Tokens {
    t: Tokenizer,
}

/// YYYYMMDD, written into a stack buffer: `format!` here was a measurable share of the
/// per-identifier cost.
fn dob(d: Ymd) -> [u8; 8] {
    let mut b = [b'0'; 8];
    let (y, m, day) = (d.0.clamp(0, 9999).unsigned_abs(), d.1, d.2);
    for (i, v) in [
        (0, y / 1000),
        (1, y / 100 % 10),
        (2, y / 10 % 10),
        (3, y % 10),
    ] {
        b[i] = b'0' + v as u8;
    }
    b[4] = b'0' + (m / 10 % 10) as u8;
    b[5] = b'0' + (m % 10) as u8;
    b[6] = b'0' + (day / 10 % 10) as u8;
    b[7] = b'0' + (day % 10) as u8;
    b
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
                    &d,
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
                    &d,
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
                &[k.as_bytes(), &dob(birth), sex.as_bytes()],
            )
        })
    }

    /// Kanji name + birth date + sex.
    pub fn kanji(&self, name: &str, birth: Ymd, sex: &str) -> Option<Token> {
        let k = normalize::kanji(name);
        (!k.is_empty()).then(|| {
            self.t.token(
                TokenFamily::Kanji,
                &[k.as_bytes(), &dob(birth), sex.as_bytes()],
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
                &[i.as_bytes(), n.as_bytes(), &dob(birth), sex.as_bytes()],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dob_is_the_eight_digits_tokens_were_made_from() {
        for y in [1868, 1926, 1950, 1989, 2000, 2019, 2026] {
            for m in 1..=12 {
                for d in [1, 9, 10, 28, 31] {
                    assert_eq!(
                        dob((y, m, d)).as_slice(),
                        format!("{y:04}{m:02}{d:02}").as_bytes()
                    );
                }
            }
        }
    }
}
