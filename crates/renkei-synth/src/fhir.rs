//! EHR data as HL7 FHIR R4 JP-CLINS collection Bundles (電子カルテ情報共有サービス):
//! for each patient a hospital treated, one Bundle per resource type (Condition,
//! Observation, AllergyIntolerance, MedicationRequest), each starting with the Patient.
//! Written as NDJSON (one Bundle per line, as FHIR bulk data is), one file per hospital.

use crate::Ctx;
use crate::claims::patient_number;
use crate::out::{Encoding, Files};
use crate::rng::Rng;
use crate::truth::Truth;
use crate::world::Person;
use serde_json::{Value, json};
use std::path::PathBuf;

/// JP-CLINS profile of the Bundle.
pub const BUNDLE_PROFILE: &str = "http://jpfhir.jp/fhir/clins/StructureDefinition/JP_Bundle_CLINS";
/// ICD-10 (2013) code system.
pub const ICD10: &str = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full";
/// 傷病名 (レセ電, master B) code system.
pub const MASTER_B: &str = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/masterB-disease";
/// JLAC10 (17 digits) code system.
pub const JLAC10: &str = "http://medis.or.jp/CodeSystem/master-JLAC10-17digits";
/// YJ code system.
pub const YJ: &str = "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code";
/// HOT9 code system (JP Core).
pub const HOT9: &str = "http://medis.or.jp/CodeSystem/master-HOT9";
/// Insured-person identifier system (保険者番号:記号:番号:枝番).
pub const MEMBER_ID: &str = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID";
/// Prefix of a hospital's own patient-id system (+ "1" + 10-digit 医療機関番号).
pub const PATIENT_ID_PREFIX: &str = "urn:oid:1.2.392.100495.20.3.51.";

fn ymd(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

fn uuid(r: &mut Rng) -> String {
    let h = r.digits(32);
    format!(
        "urn:uuid:{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// The Bundles of a person who stayed in hospital this year.
pub fn bundles(p: &Person, ctx: &Ctx, files: &mut Files, truth: &mut Truth, rng: &mut Rng) {
    let Some(first_stay) = p.stays.first() else {
        return;
    };
    let f = &ctx.fac.all[p.hospital];
    let on = first_stay.admit;
    let pid = patient_number(p, f, ctx.seed);
    let (fk, fkana, gk, gkana) = p.name_on(on);
    // Hospitals' records keep whatever kanji the patient wrote on their first visit.
    let fk = p
        .family_variant
        .filter(|_| p.marriage.is_none() && p.id.is_multiple_of(2))
        .unwrap_or(fk);
    let cov = p.coverage_on(on);
    let member = cov
        .map(|c| format!("{:0>8}:{}:{}:{}", c.insurer, c.kigo, c.bango, c.edaban))
        .unwrap_or_default();
    let patient = json!({
        "resourceType": "Patient",
        "meta": { "profile": ["http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_Patient_eCS"] },
        "identifier": [
            { "system": format!("{PATIENT_ID_PREFIX}1{}", f.code10()), "value": pid },
            { "system": MEMBER_ID, "value": member },
        ],
        "name": [
            { "extension": [{ "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "IDE" }],
              "use": "official", "text": format!("{fk} {gk}"), "family": fk, "given": [gk] },
            { "extension": [{ "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "SYL" }],
              "use": "official", "text": format!("{fkana} {gkana}"), "family": fkana, "given": [gkana] },
        ],
        "gender": if p.sex == 1 { "male" } else { "female" },
        "birthDate": ymd(p.birth),
        "address": [{ "text": ctx.muni.name, "postalCode": format!("{}-{}", &p.postal[..3], &p.postal[3..]) }],
    });
    let patient_url = uuid(rng);
    let mut by_type: Vec<(&str, Vec<Value>)> = Vec::new();
    let conditions: Vec<Value> = p
        .conditions
        .iter()
        .filter(|c| c.chronic || p.stays.iter().any(|s| s.group == c.group))
        .filter(|c| c.onset <= on)
        .filter_map(|c| {
            let d = ctx.m.disease(&c.code)?;
            Some(json!({
                "resourceType": "Condition",
                "meta": { "profile": ["http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_Condition_eCS"] },
                "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
                "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed" }] },
                "code": { "coding": [
                    { "system": MASTER_B, "code": d.code, "display": d.name },
                    { "system": ICD10, "code": d.icd10 },
                ], "text": d.name },
                "subject": { "reference": patient_url },
                "onsetDateTime": ymd(c.onset),
            }))
        })
        .collect();
    by_type.push(("Condition", conditions));
    let mut observations = Vec::new();
    let hba1c = if p.has("diabetes", on) {
        rng.normal(7.3, 0.9)
    } else {
        rng.normal(5.6, 0.3)
    };
    let ldl = rng.normal(
        if p.has("dyslipidaemia", on) {
            132.0
        } else {
            115.0
        },
        25.0,
    );
    for (code, value, unit, name) in [
        (
            "3D046000001906202",
            (hba1c * 10.0).round() / 10.0,
            "%",
            "HbA1c",
        ),
        (
            "3F077000002327101",
            ldl.round(),
            "mg/dL",
            "LDL-コレステロール",
        ),
    ] {
        observations.push(json!({
            "resourceType": "Observation",
            "meta": { "profile": ["http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_Observation_LabResult_eCS"] },
            "status": "final",
            "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory" }] }],
            "code": { "coding": [{ "system": JLAC10, "code": code, "display": name }] },
            "subject": { "reference": patient_url },
            "effectiveDateTime": ymd(on),
            "valueQuantity": { "value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit },
        }));
    }
    by_type.push(("Observation", observations));
    if let Some(class) = p.allergy {
        by_type.push((
            "AllergyIntolerance",
            vec![json!({
                "resourceType": "AllergyIntolerance",
                "meta": { "profile": ["http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_AllergyIntolerance_eCS"] },
                "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active" }] },
                "category": ["medication"],
                "code": { "text": format!("薬効分類 {class} の薬剤") },
                "patient": { "reference": patient_url },
            })],
        ));
    }
    let mut meds: Vec<Value> = p
        .conditions
        .iter()
        .filter(|c| c.chronic)
        .flat_map(|c| ctx.m.drugs_in(c.group).into_iter().filter(|d| d.yj.is_some()).take(1))
        .map(|d| {
            json!({
                "resourceType": "MedicationRequest",
                "meta": { "profile": ["http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_MedicationRequest_eCS"] },
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": { "coding": [{ "system": YJ, "code": d.yj, "display": d.name }], "text": d.name },
                "subject": { "reference": patient_url },
                "authoredOn": ymd(first_stay.discharge),
            })
        })
        .collect();
    // An antipyretic on discharge after pneumonia, coded as hospitals do: HOT9 and YJ.
    if p.stays.iter().any(|s| s.group == "pneumonia")
        && let Some(h) = ctx.m.hot9_for_yj("1141007F3023")
    {
        meds.push(json!({
            "resourceType": "MedicationRequest",
            "meta": { "profile": ["http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_MedicationRequest_eCS"] },
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": { "coding": [
                { "system": HOT9, "code": h.hot9, "display": h.name },
                { "system": YJ, "code": h.yj, "display": h.name },
            ], "text": h.name },
            "subject": { "reference": patient_url },
            "authoredOn": ymd(first_stay.discharge),
        }));
        truth.count("ehr_medication_hot9", 1);
    }
    by_type.push(("MedicationRequest", meds));
    let path = PathBuf::from(format!("ehr/{}.ndjson", f.code10()));
    let file = files.file(path.clone(), Encoding::Utf8, String::new);
    for (kind, resources) in by_type {
        if resources.is_empty() {
            continue;
        }
        let mut entries = vec![json!({ "fullUrl": patient_url, "resource": patient })];
        for r in &resources {
            entries.push(json!({ "fullUrl": uuid(rng), "resource": r }));
        }
        truth.count(
            &format!("ehr_{}", kind.to_lowercase()),
            resources.len() as u64,
        );
        let bundle = json!({
            "resourceType": "Bundle",
            "meta": { "profile": [BUNDLE_PROFILE], "tag": [{ "system": "http://jpfhir.jp/fhir/clins/CodeSystem/BundleResourceType_CS", "code": kind }] },
            "identifier": { "system": "http://jpfhir.jp/fhir/clins/bundle-identifier", "value": format!("{}^{}^{}-{}", f.code10(), ctx.year, pid, kind) },
            "type": "collection",
            "timestamp": format!("{}T12:00:00+09:00", ymd(first_stay.discharge)),
            "entry": entries,
        });
        file.text.push_str(&bundle.to_string());
        file.text.push('\n');
        truth.count("ehr_bundles", 1);
    }
    truth.count("ehr_patients", 1);
    truth.link("ehr", &format!("{}#{pid}", f.code10()), p.id);
}
