//! Which datasets link with which, through which tokens, and what linking makes
//! possible (T1: the catalogue shows how linkage makes the data more useful).

use crate::DatasetEntry;

/// Two datasets that share at least one token family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// One dataset.
    pub a: String,
    /// The other.
    pub b: String,
    /// Shared token families.
    pub via: Vec<String>,
}

/// Every pair of datasets sharing a token family (ID1 and ID1n count as one family).
pub fn links(entries: &[DatasetEntry]) -> Vec<Link> {
    let fam = |s: &str| {
        if s == "id1n" {
            "id1".to_owned()
        } else {
            s.to_owned()
        }
    };
    let mut out = Vec::new();
    for (i, a) in entries.iter().enumerate() {
        for b in &entries[i + 1..] {
            let la: Vec<String> = a
                .declaration
                .dataset
                .linkage
                .iter()
                .map(|s| fam(s))
                .collect();
            let mut via: Vec<String> = b
                .declaration
                .dataset
                .linkage
                .iter()
                .map(|s| fam(s))
                .filter(|f| la.contains(f))
                .collect();
            via.sort();
            via.dedup();
            if !via.is_empty() {
                out.push(Link {
                    a: a.declaration.dataset.id.clone(),
                    b: b.declaration.dataset.id.clone(),
                    via,
                });
            }
        }
    }
    out
}

/// What a pair of datasets answers together that neither answers alone, in Japanese and
/// English, for the pairs the platform knows.
pub fn what_it_enables(a: &str, b: &str) -> Option<(&'static str, &'static str)> {
    let (x, y) = if a < b { (a, b) } else { (b, a) };
    Some(match (x, y) {
        ("ndb_checkups", "ndb_claims") => (
            "健診で見つかった高血圧や高血糖が、その後の受診・治療につながったかを追える。",
            "Follow whether high blood pressure or glucose found at a checkup led to care and treatment.",
        ),
        ("deaths", "ndb_claims") => (
            "治療の内容と、その後の死亡（死因・時期）を結び付けて、長期の転帰を評価できる。",
            "Relate treatment to later death (cause and timing): long-term outcomes.",
        ),
        ("ltc", "ndb_claims") => (
            "骨折や脳卒中の入院の後、要介護度がどう変わったかを追える。",
            "Follow how care needs change after a fracture or stroke admission.",
        ),
        ("dpc", "ndb_claims") => (
            "入院中の詳しい診療（DPC）と、退院後の外来・処方を一続きに見られる。",
            "See detailed inpatient care (DPC) and the outpatient care and prescriptions after discharge together.",
        ),
        ("dpc", "ehr") => (
            "入院中の診療と、電子カルテの検査値・アレルギー情報を組み合わせられる。",
            "Combine inpatient care with the EHR's laboratory results and allergies.",
        ),
        ("ehr", "ndb_claims") => (
            "レセプトにない検査値（HbA1c など）で、治療の効果を評価できる。",
            "Judge treatment by laboratory values (HbA1c and others) that claims do not carry.",
        ),
        ("deaths", "ehr") => (
            "検査値と、その後の死亡を結び付けられる。",
            "Relate laboratory values to later death.",
        ),
        ("cancer_registry", "ndb_claims") => (
            "がん登録の病期と、実際に行われた治療・費用を結び付けられる。",
            "Relate the registry's cancer stage to the treatment given and its cost.",
        ),
        ("cancer_registry", "ltc") => (
            "がん患者の介護の必要度を追える。",
            "Follow the care needs of people with cancer.",
        ),
        ("ltc", "ndb_checkups") => (
            "健診の結果と、その後の要介護認定の関係を調べられる。",
            "Study how checkup results relate to later care needs.",
        ),
        ("cancer_registry", "ndb_checkups") => (
            "健診の結果と、その後のがん診断の関係を調べられる。",
            "Study how checkup results relate to later cancer diagnoses.",
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;

    #[test]
    fn builtins_link_as_expected() {
        let entries: Vec<DatasetEntry> = ["ndb_claims", "ndb_checkups", "deaths", "dpc"]
            .iter()
            .map(|id| DatasetEntry {
                declaration: builtin(id).unwrap(),
                wrapped_key: String::new(),
                current: None,
            })
            .collect();
        let l = links(&entries);
        assert!(l.iter().any(|x| x.a == "ndb_claims"
            && x.b == "ndb_checkups"
            && x.via.contains(&"id2".to_owned())));
        assert!(
            l.iter()
                .any(|x| x.a == "ndb_claims" && x.b == "dpc" && x.via == ["facility_patient"])
        );
        assert!(
            !l.iter().any(|x| x.b == "deaths" && x.a == "ndb_checkups"),
            "deaths carry only the kanji token"
        );
        assert!(what_it_enables("ndb_claims", "ndb_checkups").is_some());
    }
}
