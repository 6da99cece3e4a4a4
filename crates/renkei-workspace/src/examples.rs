//! Example queries over the tables an extract of claims, checkups, DPC stays and deaths
//! has: a researcher's starting points, shown in the workspace and run in the tests
//! against the demo's extract.

/// An example query.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// A stable id.
    pub id: &'static str,
    /// Its title in Japanese.
    pub title_ja: &'static str,
    /// Its title in English.
    pub title_en: &'static str,
    /// The tables it reads (the example is offered only when the extract has them).
    pub tables: &'static [&'static str],
    /// The SQL.
    pub sql: &'static str,
}

/// The examples, in the order they are offered.
pub const EXAMPLES: &[Example] = &[
    Example {
        id: "t2d_prevalence",
        title_ja: "2型糖尿病の有病者数（年齢階級・性別）",
        title_en: "Type 2 diabetes prevalence by age band and sex",
        tables: &["claims_receipts", "claims_diagnoses"],
        sql: "-- People with a confirmed E11 (type 2 diabetes) diagnosis among everyone with a claim\n\
SELECT r.age_band, r.sex,\n       count(DISTINCT d.person_id) AS persons_t2d,\n       count(DISTINCT r.person_id) AS persons_all\n\
FROM claims_receipts r\n\
LEFT JOIN claims_diagnoses d\n  ON d.receipt_id = r.receipt_id AND d.icd10 LIKE 'E11%' AND NOT d.suspected\n\
GROUP BY r.age_band, r.sex\nORDER BY r.age_band, r.sex",
    },
    Example {
        id: "statins_by_month",
        title_ja: "スタチン処方者数（月別）",
        title_en: "Statin prescriptions by month",
        tables: &["claims_receipts", "claims_drugs"],
        sql: "-- Drug class 2189 (hyperlipidaemia agents: statins and others), people per month\n\
SELECT r.service_month AS month, count(DISTINCT g.person_id) AS persons,\n       round(sum(g.quantity * g.days), 1) AS total_quantity\n\
FROM claims_drugs g\nJOIN claims_receipts r ON r.receipt_id = g.receipt_id\n\
WHERE g.drug_class = '2189'\nGROUP BY r.service_month\nORDER BY month",
    },
    Example {
        id: "checkup_to_claims",
        title_ja: "健診でHbA1c 6.5%以上の人のうち糖尿病の受診がある人",
        title_en: "People with HbA1c ≥ 6.5% at a checkup who have a diabetes claim",
        tables: &["checkups", "checkups_results", "claims_diagnoses"],
        sql: "-- Checkup results joined to claims through the project's person pseudonym\n\
WITH high AS (\n  SELECT DISTINCT c.person_id, c.sex, c.age_band\n  FROM checkups c\n  JOIN checkups_results x ON x.checkup_id = c.checkup_id\n\
  WHERE x.item_code = '3D046000001906202' AND x.value_num >= 6.5\n)\n\
SELECT h.sex, count(DISTINCT h.person_id) AS high_hba1c,\n       count(DISTINCT d.person_id) AS with_diabetes_claim\n\
FROM high h\nLEFT JOIN claims_diagnoses d ON d.person_id = h.person_id AND d.icd10 LIKE 'E1%'\n\
GROUP BY h.sex\nORDER BY h.sex",
    },
    Example {
        id: "death_within_a_year",
        title_ja: "2型糖尿病の初回診断から1年以内の死亡",
        title_en: "Deaths within a year of a first type 2 diabetes diagnosis",
        tables: &["claims_diagnoses", "deaths"],
        sql: "-- A one-year follow-up from the first E11 diagnosis to the death records\n\
WITH first_dx AS (\n  SELECT person_id, min(start_date) AS first_date\n  FROM claims_diagnoses\n  WHERE icd10 LIKE 'E11%' AND start_date IS NOT NULL\n  GROUP BY person_id\n)\n\
SELECT count(*) AS persons,\n       count(d.person_id) AS died_within_a_year\n\
FROM first_dx f\nLEFT JOIN deaths d\n  ON d.person_id = f.person_id\n AND d.death_date BETWEEN f.first_date AND f.first_date + INTERVAL '365 days'",
    },
    Example {
        id: "dpc_length_of_stay",
        title_ja: "DPC入院の在院日数（主傷病のICD-10 3桁別）",
        title_en: "DPC length of stay by main diagnosis (ICD-10, three characters)",
        tables: &["dpc_stays"],
        sql: "SELECT substr(main_icd10, 1, 3) AS icd10_3, count(*) AS stays,\n       round(avg(length_of_stay), 1) AS mean_days,\n       median(length_of_stay) AS median_days\n\
FROM dpc_stays\nGROUP BY substr(main_icd10, 1, 3)\nORDER BY stays DESC\nLIMIT 20",
    },
];

/// The examples that read only tables the extract has.
pub fn for_tables<'a>(tables: &'a [String]) -> impl Iterator<Item = &'static Example> + 'a {
    EXAMPLES
        .iter()
        .filter(|e| e.tables.iter().all(|t| tables.iter().any(|x| x == t)))
}
