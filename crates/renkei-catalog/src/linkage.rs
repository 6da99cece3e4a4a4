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

/// A token family as the catalogue explains it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Family {
    /// Code (`id1`, `id2`, ...), also the column name.
    pub code: &'static str,
    /// Japanese name.
    pub name_ja: &'static str,
    /// English name.
    pub name_en: &'static str,
    /// What it is computed from, Japanese.
    pub from_ja: &'static str,
    /// What it is computed from, English.
    pub from_en: &'static str,
}

/// The token families, with what each is computed from (before the identifiers are
/// dropped) and when it breaks.
pub const FAMILIES: [Family; 6] = [
    Family {
        code: "id1",
        name_ja: "ID1（保険者番号系）",
        name_en: "ID1 (insurance-based)",
        from_ja: "保険者番号・被保険者証の記号・番号・生年月日・性別。転職などで保険者が変わると変わる。",
        from_en: "Insurer number, card symbol and number, birth date and sex. Changes when the insurer changes (a new job, retirement).",
    },
    Family {
        code: "id1n",
        name_ja: "ID1n（個人単位の被保険者番号）",
        name_en: "ID1n (individual insured number)",
        from_ja: "ID1 の項目に枝番を加えたもの。同じ被保険者証の家族を区別できる。",
        from_en: "ID1's fields plus the 2-digit branch number, which tells family members on one card apart.",
    },
    Family {
        code: "id2",
        name_ja: "ID2（カナ氏名系）",
        name_en: "ID2 (kana-name-based)",
        from_ja: "正規化したカナ氏名・生年月日・性別。保険者が変わっても変わらないが、婚姻などで氏名が変わると変わる。",
        from_en: "Normalized kana name, birth date and sex. Survives an insurer change; changes with the name (marriage).",
    },
    Family {
        code: "kanji",
        name_ja: "漢字氏名系",
        name_en: "Kanji-name-based",
        from_ja: "正規化した漢字氏名（異体字をまとめる）・生年月日・性別。死亡票や電子カルテのように保険の番号を持たない記録をつなぐ。",
        from_en: "Normalized kanji name (variant characters folded), birth date and sex. Links records without insurance numbers, such as death records and EHRs.",
    },
    Family {
        code: "care_insured",
        name_ja: "介護保険被保険者番号系",
        name_en: "Long-term-care insured number",
        from_ja: "市町村・介護保険被保険者番号・生年月日・性別。",
        from_en: "Municipality, long-term-care insured number, birth date and sex.",
    },
    Family {
        code: "facility_patient",
        name_ja: "施設内患者番号系",
        name_en: "Facility patient number",
        from_ja: "医療機関コードと、その機関のカルテ番号。同じ病院の DPC・電子カルテ・レセプトをつなぐ。",
        from_en: "Facility code and the facility's own patient number. Links DPC, EHR and claims from the same hospital.",
    },
];

/// A token family by code.
pub fn family(code: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.code == code)
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
                key_id: String::new(),
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
