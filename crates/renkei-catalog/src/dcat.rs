//! Export as DCAT-AP / HealthDCAT-AP JSON-LD, so European-style portals can harvest the
//! catalogue. Access is non-public (data are used only inside the platform); each
//! dataset points to its catalogue page and carries HealthDCAT-AP's health-specific
//! properties (coding systems, number of records, health categories).

use crate::DatasetEntry;
use crate::public::{PublicDataset, view};
use serde_json::{Value, json};

fn lang(ja: &str, en: &str) -> Value {
    json!([{ "@value": ja, "@language": "ja" }, { "@value": en, "@language": "en" }])
}

/// The catalogue as a `dcat:Catalog` with its datasets. `base` is the public address of
/// this platform (e.g. `https://renkei.example.jp`).
pub fn catalog(entries: &[DatasetEntry], base: &str) -> Value {
    let base = base.trim_end_matches('/');
    let datasets: Vec<Value> = entries.iter().map(|e| dataset(e, base)).collect();
    json!({
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "vcard": "http://www.w3.org/2006/vcard/ns#",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
            "healthdcatap": "http://healthdataportal.eu/ns/health#",
            "dcatap": "http://data.europa.eu/r5r/"
        },
        "@id": format!("{base}/catalog"),
        "@type": "dcat:Catalog",
        "dct:title": lang("Renkei 情報連携基盤 データカタログ", "Renkei information linkage platform: dataset catalogue"),
        "dct:description": lang(
            "公的データベース等の仮名化情報。利用には申出と審査が必要で、Visiting 環境の中でのみ分析できる。",
            "Pseudonymized public health databases. Use requires an application and review, and analysis happens only inside the Visiting environment."
        ),
        "dct:publisher": { "@type": "foaf:Agent", "foaf:name": lang("厚生労働省", "Ministry of Health, Labour and Welfare") },
        "dct:spatial": { "@id": "http://publications.europa.eu/resource/authority/country/JPN" },
        "dcat:dataset": datasets,
    })
}

/// Built from the public view, so the harvested record carries no figure the public
/// pages would not show (rounded counts, coverage to the month).
fn dataset(e: &DatasetEntry, base: &str) -> Value {
    let d = &e.declaration.dataset;
    let public: PublicDataset = view(e);
    let mut v = json!({
        "@id": format!("{base}/catalog/{}", d.id),
        "@type": "dcat:Dataset",
        "dct:identifier": d.id,
        "dct:title": lang(&d.name_ja, &d.name_en),
        "dct:description": lang(&d.description_ja, &d.description_en),
        "dct:publisher": { "@type": "foaf:Agent", "foaf:name": lang(&d.holder_ja, &d.holder_en) },
        "dct:accessRights": { "@id": "http://publications.europa.eu/resource/authority/access-right/NON_PUBLIC" },
        "dcat:landingPage": { "@id": format!("{base}/catalog/{}", d.id) },
        "dct:type": { "@id": format!("http://healthdataportal.eu/ns/health#{}", if d.kind == "ehr" { "EHR" } else { "registry" }) },
        "healthdcatap:hasCodingSystem": e.declaration.code_systems(),
        "healthdcatap:healthCategory": health_categories(&d.id),
        "healthdcatap:numberOfRecords": public.records.as_deref().unwrap_or("0"),
        "dcat:keyword": d.linkage.iter().map(|l| format!("linkage:{l}")).collect::<Vec<_>>(),
        "dcat:distribution": [{
            "@type": "dcat:Distribution",
            "dct:title": lang("Visiting 環境での分析", "Analysis in the Visiting environment"),
            "dcat:accessURL": { "@id": format!("{base}/catalog/{}", d.id) },
            "dct:format": "Apache Parquet (encrypted, not downloadable)",
            "dct:rights": lang("審査を経た利用者のみ、データを持ち出さずに利用可能", "Approved users only; the data never leave"),
        }],
    });
    if let Some(c) = &e.current {
        if let (Some(from), Some(to)) = (&public.coverage_from, &public.coverage_to) {
            v["dct:temporal"] = json!({
                "@type": "dct:PeriodOfTime",
                "dcat:startDate": { "@value": from, "@type": "xsd:gYearMonth" },
                "dcat:endDate": { "@value": to, "@type": "xsd:gYearMonth" },
            });
        }
        v["dct:modified"] = json!({ "@value": c.created_at.to_rfc3339(), "@type": "xsd:dateTime" });
        v["dcat:version"] = json!(c.version.to_string());
    }
    v
}

fn health_categories(id: &str) -> Vec<&'static str> {
    match id {
        "ndb_claims" => vec!["CLAIMS", "PRESCRIPTIONS", "DIAGNOSES"],
        "ndb_checkups" => vec!["LAB_RESULTS", "LIFESTYLE"],
        "dpc" => vec!["CLAIMS", "HOSPITAL_STAYS", "PROCEDURES"],
        "ltc" => vec!["SOCIAL_CARE"],
        "ehr" => vec!["EHR", "LAB_RESULTS", "ALLERGIES"],
        "deaths" => vec!["MORTALITY"],
        _ => vec!["REGISTRY"],
    }
}
