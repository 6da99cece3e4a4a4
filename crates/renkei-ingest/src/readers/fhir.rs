//! HL7 FHIR R4 JP-CLINS collection Bundles, one per line (NDJSON). The Patient's names,
//! birth date, insurance member id and hospital patient id become tokens, a birth
//! year-month and a 3-digit postal area; the clinical resources are stored as rows.

use super::cols;
use crate::IngestError;
use crate::ctx::Coded;
use crate::ctx::ReadCtx;
use renkei_core::wareki::Ymd;
use renkei_masters::CodeSystem;
use serde_json::Value;
use std::collections::HashSet;

const PAT: [&str; 9] = [
    "patient_key",
    "facility",
    "facility_patient",
    "id1n",
    "id2",
    "kanji",
    "sex",
    "birth_ym",
    "postal3",
];
const CON: [&str; 5] = ["patient_key", "disease_code", "icd10", "onset", "status"];
const OBS: [&str; 5] = ["patient_key", "code", "value", "unit", "effective"];
const ALG: [&str; 3] = ["patient_key", "category", "substance"];
const MED: [&str; 5] = ["patient_key", "yj", "name", "authored", "hot9"];

const PATIENT_ID_PREFIX: &str = "urn:oid:1.2.392.100495.20.3.51.1";
const MEMBER_ID: &str = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID";
const MASTER_B: &str = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/masterB-disease";
const ICD10: &str = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full";
const JLAC10: &str = "http://medis.or.jp/CodeSystem/master-JLAC10-17digits";
const YJ: &str = "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code";
const HOT9: &str = "http://medis.or.jp/CodeSystem/master-HOT9";

/// FHIR R4 resource types a clinical bundle may carry besides the five read here: named
/// in the reject report when skipped. Anything else is reported without its value.
const FHIR_TYPES: &[&str] = &[
    "Bundle",
    "Composition",
    "Encounter",
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "Location",
    "Coverage",
    "Procedure",
    "DiagnosticReport",
    "DocumentReference",
    "Immunization",
    "MedicationStatement",
    "MedicationAdministration",
    "MedicationDispense",
    "Medication",
    "ServiceRequest",
    "Specimen",
    "FamilyMemberHistory",
    "CarePlan",
    "ClinicalImpression",
    "RelatedPerson",
    "Provenance",
    "Binary",
    "Consent",
    "Device",
    "ImagingStudy",
    "QuestionnaireResponse",
    "Claim",
    "ExplanationOfBenefit",
];

/// Reads FHIR NDJSON into the `ehr` tables.
pub struct FhirReader {
    t: [usize; 5],
    pat: [usize; 9],
    con: [usize; 5],
    obs: [usize; 5],
    alg: [usize; 3],
    med: [usize; 5],
    seen: HashSet<String>,
}

fn date(v: &Value) -> Option<Ymd> {
    let s = v.as_str()?;
    renkei_core::wareki::parse_any(s.get(..10)?)
}

fn coding<'a>(v: &'a Value, system: &str) -> Option<&'a str> {
    v["coding"]
        .as_array()?
        .iter()
        .find(|c| c["system"] == system)
        .and_then(|c| c["code"].as_str())
}

struct Patient {
    key: String,
}

impl FhirReader {
    /// A reader for the declared tables.
    pub fn new(ctx: &ReadCtx) -> Result<Self, IngestError> {
        let t = [
            ctx.table("patients")?,
            ctx.table("conditions")?,
            ctx.table("observations")?,
            ctx.table("allergies")?,
            ctx.table("medications")?,
        ];
        Ok(Self {
            pat: cols(ctx, t[0], PAT)?,
            con: cols(ctx, t[1], CON)?,
            obs: cols(ctx, t[2], OBS)?,
            alg: cols(ctx, t[3], ALG)?,
            med: cols(ctx, t[4], MED)?,
            t,
            seen: HashSet::new(),
        })
    }

    /// Reads one NDJSON file.
    pub fn read(
        &mut self,
        ctx: &mut ReadCtx,
        _name: &str,
        bytes: &[u8],
    ) -> Result<(), IngestError> {
        let Ok(text) = std::str::from_utf8(bytes) else {
            ctx.reject_file(bytes, "not UTF-8 text");
            return Ok(());
        };
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let ln = n as u64 + 1;
            ctx.rows_in += 1;
            // A line is a Bundle (one patient's resources); each resource is tallied
            // as a record of its own type.
            ctx.record("Bundle");
            let Ok(b) = serde_json::from_str::<Value>(line) else {
                ctx.reject(ln, "Bundle", "not JSON");
                continue;
            };
            if b["resourceType"] != "Bundle" || b["type"] != "collection" {
                ctx.reject(ln, "Bundle.type", "not a collection Bundle");
                continue;
            }
            let entries = b["entry"].as_array().cloned().unwrap_or_default();
            let Some(first) = entries.first().map(|e| &e["resource"]) else {
                ctx.reject(ln, "Bundle.entry", "empty");
                continue;
            };
            let Some(p) = self.patient(ctx, first, ln)? else {
                continue;
            };
            ctx.stored_as("Bundle");
            for e in entries.iter().skip(1) {
                let r = &e["resource"];
                // Only the types read are named: a record type is a tally row, and
                // a file must not make up as many of them as it likes.
                ctx.record(match r["resourceType"].as_str() {
                    Some(
                        t @ ("Condition" | "Observation" | "AllergyIntolerance"
                        | "MedicationRequest"),
                    ) => t,
                    _ => "other",
                });
                self.resource(ctx, &p, r, ln)?;
            }
        }
        Ok(())
    }

    fn patient(
        &mut self,
        ctx: &mut ReadCtx,
        r: &Value,
        ln: u64,
    ) -> Result<Option<Patient>, IngestError> {
        if r["resourceType"] != "Patient" {
            ctx.reject(ln, "Bundle.entry[0]", "the first entry is not the Patient");
            return Ok(None);
        }
        let ids = r["identifier"].as_array().cloned().unwrap_or_default();
        let local = ids.iter().find(|i| {
            i["system"]
                .as_str()
                .is_some_and(|s| s.starts_with(PATIENT_ID_PREFIX))
        });
        let (Some(local), Some(birth)) = (local, date(&r["birthDate"])) else {
            ctx.reject(ln, "Patient", "no hospital patient id or no birth date");
            return Ok(None);
        };
        let code10 = local["system"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches(PATIENT_ID_PREFIX)
            .to_owned();
        let sex = match r["gender"].as_str() {
            Some("male") => "1",
            Some("female") => "2",
            _ => {
                ctx.reject(ln, "Patient.gender", "not male or female");
                return Ok(None);
            }
        };
        if code10.len() != 10 || !code10.bytes().all(|b| b.is_ascii_digit()) {
            ctx.reject(
                ln,
                "Patient.identifier",
                "hospital id system without a 10-digit 医療機関番号",
            );
            return Ok(None);
        }
        let facility9 = format!("{}{}", &code10[..2], &code10[3..]);
        let tk = ctx.tokens;
        let facility_token = tk.facility_patient(&facility9, local["value"].as_str().unwrap_or(""));
        let key = format!(
            "{code10}-{}",
            facility_token
                .map(|t| hex::encode(&t.0[..8]))
                .unwrap_or_default()
        );
        if self.seen.insert(key.clone()) {
            let name = |rep: &str| {
                r["name"].as_array().and_then(|ns| {
                    ns.iter()
                        .find(|n| {
                            n["extension"]
                                .as_array()
                                .is_some_and(|x| x.iter().any(|e| e["valueCode"] == rep))
                        })
                        .map(|n| {
                            format!(
                                "{}{}",
                                n["family"].as_str().unwrap_or(""),
                                n["given"][0].as_str().unwrap_or("")
                            )
                        })
                })
            };
            let member = ids
                .iter()
                .find(|i| i["system"] == MEMBER_ID)
                .and_then(|i| i["value"].as_str())
                .unwrap_or("");
            let parts: Vec<&str> = member.split(':').collect();
            let id1n = if parts.len() == 4 {
                tk.id1n(insurer8(parts[0]), parts[1], parts[2], parts[3], birth, sex)
            } else {
                None
            };
            let id2 = name("SYL").and_then(|n| tk.id2(&n, birth, sex));
            let kanji = name("IDE").and_then(|n| tk.kanji(&n, birth, sex));
            let postal: String = r["address"][0]["postalCode"]
                .as_str()
                .unwrap_or("")
                .chars()
                .filter(char::is_ascii_digit)
                .take(3)
                .collect();
            let c = &self.pat;
            let t = &mut ctx.tables[self.t[0]];
            t.text(c[0], Some(&key));
            t.text(c[1], Some(&code10));
            t.token(c[2], facility_token);
            t.token(c[3], id1n);
            t.token(c[4], id2);
            t.token(c[5], kanji);
            t.text(c[6], Some(sex));
            t.text(c[7], Some(&crate::ctx::birth_ym(birth)));
            t.text(c[8], Some(&postal));
            t.end_row()?;
        }
        Ok(Some(Patient { key }))
    }

    fn resource(
        &mut self,
        ctx: &mut ReadCtx,
        p: &Patient,
        r: &Value,
        ln: u64,
    ) -> Result<(), IngestError> {
        match r["resourceType"].as_str() {
            Some("Condition") => {
                let code = coding(&r["code"], MASTER_B);
                let icd = coding(&r["code"], ICD10);
                let on = crate::ctx::period_of(
                    date(&r["onsetDateTime"]).or_else(|| date(&r["recordedDate"])),
                );
                if let Some(c) = code
                    && ctx.code(
                        CodeSystem::Disease,
                        c,
                        on,
                        self.t[1],
                        self.con[1],
                        ln,
                        "Condition.code",
                    ) == Coded::Rejected
                {
                    return Ok(());
                }
                if icd.is_some_and(|c| !ctx.masters.icd10_known(c)) {
                    ctx.tables[self.t[1]].invalid(self.con[2]);
                    ctx.reject(ln, "Condition.code.ICD10", "not in the ICD-10 master");
                    return Ok(());
                }
                if let Some(d) = date(&r["onsetDateTime"]) {
                    ctx.cover(d);
                }
                let c = &self.con;
                let t = &mut ctx.tables[self.t[1]];
                t.text(c[0], Some(&p.key));
                t.text(c[1], code);
                t.text(c[2], icd);
                t.date(c[3], date(&r["onsetDateTime"]));
                t.text(c[4], r["clinicalStatus"]["coding"][0]["code"].as_str());
                t.end_row()?;
                ctx.stored();
            }
            Some("Observation") => {
                let Some(code) = coding(&r["code"], JLAC10) else {
                    ctx.reject(ln, "Observation.code", "no JLAC10 coding");
                    return Ok(());
                };
                let on = crate::ctx::period_of(date(&r["effectiveDateTime"]));
                if ctx.code(
                    CodeSystem::Lab,
                    code,
                    on,
                    self.t[2],
                    self.obs[1],
                    ln,
                    "Observation.code",
                ) == Coded::Rejected
                {
                    return Ok(());
                }
                let c = &self.obs;
                let t = &mut ctx.tables[self.t[2]];
                t.text(c[0], Some(&p.key));
                t.text(c[1], Some(code));
                t.float(c[2], r["valueQuantity"]["value"].as_f64());
                t.text(c[3], r["valueQuantity"]["unit"].as_str());
                t.date(c[4], date(&r["effectiveDateTime"]));
                t.end_row()?;
                ctx.stored();
            }
            Some("AllergyIntolerance") => {
                let c = &self.alg;
                let t = &mut ctx.tables[self.t[3]];
                t.text(c[0], Some(&p.key));
                t.text(c[1], r["category"][0].as_str());
                screened_text(t, c[2], r["code"]["text"].as_str());
                t.end_row()?;
                ctx.stored();
            }
            Some("MedicationRequest") => {
                let c = &self.med;
                let concept = &r["medicationCodeableConcept"];
                let hot9 = coding(concept, HOT9);
                if hot9.is_some_and(|h| ctx.masters.hot9(h).is_none()) {
                    ctx.tables[self.t[4]].invalid(c[4]);
                    ctx.reject(ln, "MedicationRequest.HOT9", "not in the HOT master");
                    return Ok(());
                }
                let yj = coding(concept, YJ);
                if yj.is_some_and(|y| !ctx.masters.yj_known(y)) {
                    ctx.tables[self.t[4]].invalid(c[1]);
                    ctx.reject(ln, "MedicationRequest.YJ", "not in the drug master");
                    return Ok(());
                }
                let t = &mut ctx.tables[self.t[4]];
                t.text(c[4], hot9);
                t.text(c[0], Some(&p.key));
                t.text(c[1], yj);
                screened_text(t, c[2], concept["text"].as_str());
                t.date(c[3], date(&r["authoredOn"]));
                t.end_row()?;
                ctx.stored();
            }
            Some(other) if FHIR_TYPES.contains(&other) => ctx.reject(
                ln,
                "Bundle.entry",
                &format!("resource type {other} is not read into the ehr tables"),
            ),
            // Not echoed: an unknown value in resourceType may be anything.
            _ => ctx.reject(
                ln,
                "Bundle.entry.resourceType",
                "not a FHIR R4 resource type",
            ),
        }
        Ok(())
    }
}

/// The member id carries the insurer number zero-padded to 8; 国保 numbers have 6 digits.
fn insurer8(s: &str) -> &str {
    if s.len() == 8 && s.starts_with("00") && renkei_masters::insurer_number_valid(&s[2..]) {
        &s[2..]
    } else {
        s
    }
}

/// A clinician's free text (`code.text`, a medication's description), screened:
/// identifying spans are masked, and the column counts the values that had some.
fn screened_text(t: &mut crate::sink::TableSink<'_>, col: usize, v: Option<&str>) {
    match v {
        Some(v) => {
            let (screened, hits) = crate::screen::screen(v, &[]);
            t.text(col, Some(&screened));
            if hits > 0 {
                t.masked(col);
            }
        }
        None => t.text(col, None),
    }
}
