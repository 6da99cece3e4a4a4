//! The population: areas (parts of real municipalities, each with its own clinics,
//! hospital, pharmacies and care providers), households and persons, with everything
//! that happens to them in the generated year.

use crate::names::{FAMILY, GIVEN_F, GIVEN_M};
use crate::rng::Rng;
use renkei_masters::Masters;
use time::{Date, Month};

/// Most persons in one area. Areas are the unit of parallelism and of memory: all
/// output of an area is built, then written, then dropped.
pub const AREA_MAX: u64 = 10_000;

/// A calendar date.
pub fn date(y: i32, m: u32, d: u32) -> Date {
    let month = Month::try_from(m as u8).unwrap_or(Month::January);
    Date::from_calendar_date(y, month, d as u8)
        .or_else(|_| Date::from_calendar_date(y, month, 28))
        .unwrap_or(Date::MIN)
}

/// (year, month, day).
pub fn ymd(d: Date) -> (i32, u32, u32) {
    (d.year(), d.month() as u32, u32::from(d.day()))
}

/// Days in a month.
pub fn days_in_month(y: i32, m: u32) -> u32 {
    u32::from(Month::try_from(m as u8).unwrap_or(Month::January).length(y))
}

/// Whole years from `birth` to `on`.
pub fn age_on(birth: Date, on: Date) -> i32 {
    let mut a = on.year() - birth.year();
    if (on.month() as u8, on.day()) < (birth.month() as u8, birth.day()) {
        a -= 1;
    }
    a
}

/// One area.
#[derive(Clone, Debug)]
pub struct Area {
    /// Global index (also the RNG stream).
    pub index: u32,
    /// Index of the municipality in the masters.
    pub muni: usize,
    /// Which part of the municipality (0, 1, ...).
    pub part: u32,
    /// First person id.
    pub first_person: u64,
    /// Persons.
    pub persons: u64,
}

/// Splits `n` persons over the municipalities by population (largest remainder, so
/// the total is exact), then into areas of at most [`AREA_MAX`].
pub fn plan(n: u64, m: &Masters) -> Vec<Area> {
    let total: u64 = m.municipalities.iter().map(|x| x.population).sum();
    let mut shares: Vec<(usize, u64, f64)> = m
        .municipalities
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let exact = n as f64 * x.population as f64 / total as f64;
            (i, exact.floor() as u64, exact - exact.floor())
        })
        .collect();
    let assigned: u64 = shares.iter().map(|s| s.1).sum();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|a, b| shares[*b].2.total_cmp(&shares[*a].2).then(a.cmp(b)));
    for i in order.into_iter().take((n - assigned) as usize) {
        shares[i].1 += 1;
    }
    let mut areas = Vec::new();
    let mut next = 0u64;
    for (muni, count, _) in shares {
        let parts = count.div_ceil(AREA_MAX).max(1);
        for part in 0..parts {
            let persons = count / parts + u64::from(part < count % parts);
            if persons == 0 {
                continue;
            }
            areas.push(Area {
                index: areas.len() as u32,
                muni,
                part: part as u32,
                first_person: next,
                persons,
            });
            next += persons;
        }
    }
    areas
}

/// What a facility is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FacilityKind {
    /// 診療所 (outpatient).
    Clinic,
    /// DPC hospital (inpatient and outpatient).
    Hospital,
    /// 保険薬局.
    Pharmacy,
    /// 介護サービス事業所.
    CareProvider,
}

/// A facility.
#[derive(Clone, Debug)]
pub struct Facility {
    /// Kind.
    pub kind: FacilityKind,
    /// 7-digit 医療機関コード (or 10-digit 事業所番号 for care providers).
    pub code: String,
    /// Prefecture.
    pub pref: String,
    /// Name.
    pub name: String,
    /// Writes receipts in the older 和暦 date format.
    pub wareki: bool,
    /// Writes カナ氏名 in half-width kana.
    pub halfwidth: bool,
}

impl Facility {
    /// The 9-digit DPC 施設コード (prefecture + 7-digit code).
    pub fn dpc_code(&self) -> String {
        format!("{}{}", self.pref, self.code)
    }
    /// The 10-digit 医療機関番号 (prefecture + 点数表 1 医科 / 4 調剤 + 7 digits).
    pub fn code10(&self) -> String {
        let table = if self.kind == FacilityKind::Pharmacy {
            '4'
        } else {
            '1'
        };
        format!("{}{table}{}", self.pref, self.code)
    }
}

/// An area's facilities.
pub struct Facilities {
    /// All of them.
    pub all: Vec<Facility>,
    /// Indices of clinics, hospitals, pharmacies and care providers.
    pub clinics: Vec<usize>,
    /// Hospitals.
    pub hospitals: Vec<usize>,
    /// Pharmacies.
    pub pharmacies: Vec<usize>,
    /// Care providers.
    pub care: Vec<usize>,
}

fn with_check(data: &str) -> String {
    format!(
        "{data}{}",
        renkei_masters::insurer_check_digit(data).unwrap_or(0)
    )
}

/// The facilities serving an area.
pub fn facilities(area: &Area, m: &Masters, rng: &mut Rng) -> Facilities {
    let muni = &m.municipalities[area.muni];
    let n = area.persons;
    let counts = [
        (FacilityKind::Clinic, (n / 1500).max(1)),
        (FacilityKind::Hospital, (n / 15_000).max(1)),
        (FacilityKind::Pharmacy, (n / 2500).max(1)),
        (FacilityKind::CareProvider, (n / 5000).max(1)),
    ];
    let mut f = Facilities {
        all: Vec::new(),
        clinics: Vec::new(),
        hospitals: Vec::new(),
        pharmacies: Vec::new(),
        care: Vec::new(),
    };
    // 郡市区番号: derived from the municipality and the part, so codes are unique in a prefecture.
    let district = 10 + (area.muni as u32 * 7 + area.part) % 90;
    let mut serial = 1000 + (area.part / 90) * 2000;
    for (kind, count) in counts {
        for i in 0..count {
            serial += 1;
            let family = FAMILY[rng.index(FAMILY.len())].0;
            let (code, name) = match kind {
                FacilityKind::Clinic => (
                    with_check(&format!("{district:02}{serial:04}")),
                    format!("{family}内科クリニック"),
                ),
                FacilityKind::Hospital => (
                    with_check(&format!("{district:02}{serial:04}")),
                    if i == 0 {
                        format!("{}市民病院", muni.name.trim_end_matches(['市', '区']))
                    } else {
                        format!("{family}記念病院")
                    },
                ),
                FacilityKind::Pharmacy => (
                    with_check(&format!("{district:02}{serial:04}")),
                    format!("{family}薬局"),
                ),
                FacilityKind::CareProvider => (
                    with_check(&format!("{}7{district:02}{serial:04}", muni.prefecture)),
                    format!("{family}ケアセンター"),
                ),
            };
            let idx = f.all.len();
            f.all.push(Facility {
                kind,
                code,
                pref: muni.prefecture.clone(),
                name,
                wareki: rng.chance(0.1),
                halfwidth: rng.chance(0.5),
            });
            match kind {
                FacilityKind::Clinic => f.clinics.push(idx),
                FacilityKind::Hospital => f.hospitals.push(idx),
                FacilityKind::Pharmacy => f.pharmacies.push(idx),
                FacilityKind::CareProvider => f.care.push(idx),
            }
        }
    }
    f
}

/// A period of health-insurance coverage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// First day.
    pub from: Date,
    /// First day no longer covered (exclusive), if it ends in the year.
    pub to: Option<Date>,
    /// 保険者番号 (8 digits, or 6 for 国保).
    pub insurer: String,
    /// 記号.
    pub kigo: String,
    /// 番号.
    pub bango: String,
    /// 枝番.
    pub edaban: String,
    /// 本人 (the insured person) rather than 家族 (a dependent).
    pub honin: bool,
}

impl Coverage {
    /// Whether it covers `d`.
    pub fn covers(&self, d: Date) -> bool {
        self.from <= d && self.to.is_none_or(|t| d < t)
    }
    /// The 法別 kind (kyokai, kumiai, kokuho, koki, ...).
    pub fn kind(&self) -> &'static str {
        renkei_masters::insurer_kind(&self.insurer)
    }
}

/// A diagnosed condition.
#[derive(Clone, Debug)]
pub struct Condition {
    /// Clinical group (matches the masters' groups).
    pub group: &'static str,
    /// 7-digit disease code.
    pub code: String,
    /// Onset (diagnosis) date.
    pub onset: Date,
    /// Chronic (managed every month) rather than an acute episode.
    pub chronic: bool,
}

/// A hospital stay.
#[derive(Clone, Debug)]
pub struct Stay {
    /// Group of the main diagnosis.
    pub group: &'static str,
    /// Admission.
    pub admit: Date,
    /// Discharge.
    pub discharge: Date,
    /// Emergency admission.
    pub emergency: bool,
    /// Died in hospital at discharge.
    pub died: bool,
}

/// A long-term-care certification.
#[derive(Clone, Debug)]
pub struct Care {
    /// 要介護状態区分コード (12, 13, 21–25).
    pub level: &'static str,
    /// 申請日.
    pub applied: Date,
    /// Valid from.
    pub from: Date,
    /// Valid until (inclusive).
    pub until: Date,
    /// 一次判定 (may differ from the final level).
    pub first_level: &'static str,
}

/// A death.
#[derive(Clone, Debug)]
pub struct Death {
    /// When.
    pub date: Date,
    /// Hour and minute.
    pub time: (u32, u32),
    /// Underlying cause, ICD-10.
    pub cause: String,
    /// 死亡したところの種別 (1 病院, 2 診療所, 5 老人ホーム, 6 自宅, 7 その他).
    pub place: u8,
}

/// A person and their year.
#[derive(Clone, Debug)]
pub struct Person {
    /// Global id (ground truth only; never written to a database).
    pub id: u64,
    /// Household id.
    pub household: u64,
    /// 1 男, 2 女.
    pub sex: u8,
    /// Birth date.
    pub birth: Date,
    /// Family-name index at the start of the year.
    pub family: usize,
    /// A variant kanji spelling some records use, if the name has one.
    pub family_variant: Option<&'static str>,
    /// Given-name index (into the list for their sex).
    pub given: usize,
    /// Marriage in the year: date and new family-name index.
    pub marriage: Option<(Date, usize)>,
    /// Postal code (7 digits).
    pub postal: String,
    /// Coverage periods, in order.
    pub coverage: Vec<Coverage>,
    /// Conditions.
    pub conditions: Vec<Condition>,
    /// Hospital stays.
    pub stays: Vec<Stay>,
    /// Long-term care.
    pub care: Option<Care>,
    /// 介護保険被保険者番号 (10 digits), for 65+.
    pub ltc_number: Option<String>,
    /// Death.
    pub death: Option<Death>,
    /// Usual clinic, hospital, pharmacy and care provider (indices into the area's facilities).
    pub clinic: usize,
    /// Hospital.
    pub hospital: usize,
    /// Pharmacy.
    pub pharmacy: usize,
    /// Care provider.
    pub care_provider: usize,
    /// A drug class they are allergic to (YJ class), if any.
    pub allergy: Option<&'static str>,
    /// Smoker.
    pub smoker: bool,
    /// Body mass index.
    pub bmi: f64,
    /// Height in cm.
    pub height: f64,
}

impl Person {
    /// (kanji family, kana family, kanji given, kana given) on `d`.
    pub fn name_on(&self, d: Date) -> (&'static str, &'static str, &'static str, &'static str) {
        let fam = match self.marriage {
            Some((when, new)) if d >= when => new,
            _ => self.family,
        };
        let (fk, fkana, _) = FAMILY[fam % FAMILY.len()];
        let list = if self.sex == 1 { GIVEN_M } else { GIVEN_F };
        let (gk, gkana) = list[self.given % list.len()];
        (fk, fkana, gk, gkana)
    }
    /// The coverage in force on `d`.
    pub fn coverage_on(&self, d: Date) -> Option<&Coverage> {
        self.coverage.iter().find(|c| c.covers(d))
    }
    /// Alive on `d`.
    pub fn alive_on(&self, d: Date) -> bool {
        self.death.as_ref().is_none_or(|x| d <= x.date)
    }
    /// Age on `d`.
    pub fn age_on(&self, d: Date) -> i32 {
        age_on(self.birth, d)
    }
    /// Has a condition of `group` with onset on or before `d`.
    pub fn has(&self, group: &str, d: Date) -> bool {
        self.conditions
            .iter()
            .any(|c| c.group == group && c.onset <= d)
    }
}

/// Share of the population in each 5-year age band (2020 census, approximate), 0–4 … 100+.
const AGE_BANDS: [f64; 21] = [
    3.8, 4.1, 4.3, 4.5, 5.0, 5.0, 5.3, 6.0, 6.7, 7.8, 7.1, 6.4, 5.9, 6.9, 7.4, 5.5, 4.5, 3.0, 1.4,
    0.4, 0.1,
];

fn adult_age(rng: &mut Rng, min: i32) -> i32 {
    loop {
        let band = rng.weighted(&AGE_BANDS) as i32;
        let age = band * 5 + rng.range(0, 5) as i32;
        if age >= min {
            return age;
        }
    }
}

/// Generates an area's persons and their year.
pub fn people(area: &Area, fac: &Facilities, m: &Masters, seed: u64, year: i32) -> Vec<Person> {
    let muni = &m.municipalities[area.muni];
    let mut out: Vec<Person> = Vec::with_capacity(area.persons as usize);
    let mut hh = 0u64;
    let jan1 = date(year, 1, 1);
    let area_postal =
        1_000_000 + (area.muni as u64 * 9973 + u64::from(area.part) * 101) % 8_000_000;
    while (out.len() as u64) < area.persons {
        let mut rng = Rng::new(seed, &[1, u64::from(area.index), hh]);
        let household = (u64::from(area.index) << 32) | hh;
        hh += 1;
        let head_age = adult_age(&mut rng, 20);
        let kind = if head_age < 30 {
            rng.weighted(&[60.0, 25.0, 15.0, 0.0])
        } else if head_age < 65 {
            rng.weighted(&[25.0, 20.0, 45.0, 10.0])
        } else {
            rng.weighted(&[35.0, 65.0, 0.0, 0.0])
        };
        let family = rng.index(FAMILY.len());
        let postal = format!("{:07}", area_postal + rng.range(0, 300) as u64);
        let head_sex = if kind == 0 || kind == 3 {
            if rng.chance(0.5) { 1 } else { 2 }
        } else if rng.chance(0.9) {
            1
        } else {
            2
        };
        let mut members: Vec<(u8, i32, Option<Date>)> = vec![(head_sex, head_age, None)];
        if kind == 1 || kind == 2 {
            let spouse_age = (head_age
                + rng
                    .normal(if head_sex == 1 { -2.0 } else { 2.0 }, 3.0)
                    .round() as i32)
                .clamp(18, 100);
            members.push((3 - head_sex, spouse_age, None));
        }
        if kind >= 2 {
            let kids = 1 + rng.weighted(&[40.0, 45.0, 15.0]);
            let youngest_parent = members.iter().map(|x| x.1).min().unwrap_or(head_age);
            let max_kid = (youngest_parent - 20).clamp(0, 25);
            let mut k = 0;
            while k < kids {
                let age = rng.range(0, i64::from(max_kid) + 1) as i32;
                let birth = jan1 - time::Duration::days(i64::from(age) * 365 + rng.range(0, 365));
                let sex = if rng.chance(0.51) { 1 } else { 2 };
                members.push((sex, age, Some(birth)));
                k += 1;
                // Twins: same birth date; half of them the same sex (the case ID1 cannot tell apart).
                if k < kids + 1 && rng.chance(0.02) {
                    let twin_sex = if rng.chance(0.5) { sex } else { 3 - sex };
                    members.push((twin_sex, age, Some(birth)));
                    k += 1;
                }
            }
        }
        let first_id = area.first_person + out.len() as u64;
        let mut hh_people: Vec<Person> = Vec::new();
        for (i, (sex, age, birth)) in members.into_iter().enumerate() {
            if (out.len() + hh_people.len()) as u64 >= area.persons {
                break;
            }
            let birth = birth.unwrap_or_else(|| {
                jan1 - time::Duration::days(
                    i64::from(age) * 365 + i64::from(age / 4) + rng.range(0, 365),
                )
            });
            let given_list = if sex == 1 {
                GIVEN_M.len()
            } else {
                GIVEN_F.len()
            };
            let id = first_id + hh_people.len() as u64;
            let variants = FAMILY[family].2;
            hh_people.push(Person {
                id,
                household,
                sex,
                birth,
                family,
                family_variant: if !variants.is_empty() && rng.chance(0.3) {
                    Some(*rng.pick(variants))
                } else {
                    None
                },
                given: rng.index(given_list),
                marriage: None,
                postal: postal.clone(),
                coverage: Vec::new(),
                conditions: Vec::new(),
                stays: Vec::new(),
                care: None,
                ltc_number: None,
                death: None,
                clinic: *rng.pick(&fac.clinics),
                hospital: *rng.pick(&fac.hospitals),
                pharmacy: *rng.pick(&fac.pharmacies),
                care_provider: *rng.pick(&fac.care),
                allergy: if rng.chance(0.08) {
                    Some(*rng.pick(&["6132", "6149", "1149", "2649"]))
                } else {
                    None
                },
                smoker: age >= 20 && rng.chance(if sex == 1 { 0.27 } else { 0.07 }),
                bmi: rng
                    .normal(if sex == 1 { 23.8 } else { 22.2 }, 3.2)
                    .clamp(15.0, 40.0),
                height: rng.normal(if sex == 1 { 170.0 } else { 157.0 }, 6.0)
                    - f64::from((age - 40).max(0)) * 0.08,
            });
            let _ = i;
        }
        insure(&mut hh_people, muni, year, &mut rng);
        for p in &mut hh_people {
            let mut prng = Rng::new(seed, &[2, p.id]);
            clinical(p, year, m, &mut prng);
            if p.age_on(jan1) >= 25 && p.age_on(jan1) <= 38 && p.sex == 2 && prng.chance(0.04) {
                let when = date(year, prng.range(1, 13) as u32, prng.range(1, 29) as u32);
                p.marriage = Some((when, prng.index(FAMILY.len())));
            }
        }
        out.extend(hh_people);
    }
    out
}

fn kyokai(pref: &str) -> String {
    with_check(&format!("01{pref}001"))
}

/// Gives a household its insurance for the year: employees and their dependents in
/// 協会けんぽ / 健保組合 / 共済; others in 市町村国保; 75+ in 後期高齢者医療. Job changes,
/// retirement and turning 75 during the year change the insurer and so the ID1 token.
fn insure(hh: &mut [Person], muni: &renkei_masters::Municipality, year: i32, rng: &mut Rng) {
    let jan1 = date(year, 1, 1);
    let dec31 = date(year, 12, 31);
    let pref = &muni.prefecture;
    let kokuho = with_check(&format!("{pref}{}", &muni.code[2..5]));
    let koki = with_check(&format!("39{pref}001"));
    let employer = |rng: &mut Rng| -> (String, String) {
        let r = rng.f64();
        let insurer = if r < 0.55 {
            kyokai(pref)
        } else if r < 0.9 {
            with_check(&format!("06{pref}{:03}", 100 + rng.range(0, 60)))
        } else {
            with_check(&format!(
                "3{}{pref}{:03}",
                rng.range(1, 5),
                1 + rng.range(0, 20)
            ))
        };
        (insurer, rng.digits_between(6, 9))
    };
    // Who works: adults 20–64 (men more often), a few 65–74.
    let works: Vec<bool> = hh
        .iter()
        .map(|p| {
            let a = p.age_on(jan1);
            (20..65).contains(&a) && rng.chance(if p.sex == 1 { 0.85 } else { 0.6 })
                || (65..75).contains(&a) && rng.chance(0.2)
        })
        .collect();
    let household_kokuho_kigo = rng.digits(4);
    let household_kokuho_bango = rng.digits(6);
    let earner = works.iter().position(|w| *w);
    let earner_plan = earner.map(|_| employer(rng));
    let earner_bango = rng.digits_between(2, 7);
    let mut dependents = 0;
    for (i, p) in hh.iter_mut().enumerate() {
        let age = p.age_on(jan1);
        let turns75 = date(
            p.birth.year() + 75,
            p.birth.month() as u32,
            u32::from(p.birth.day()),
        );
        let mut cov = Vec::new();
        let start = date(year - 3, 4, 1);
        if age >= 75 {
            cov.push(Coverage {
                from: start,
                to: None,
                insurer: koki.clone(),
                kigo: String::new(),
                bango: rng.digits(8),
                edaban: "00".into(),
                honin: true,
            });
        } else if works[i] {
            let (ins, kigo) = if Some(i) == earner {
                earner_plan.clone().unwrap_or_else(|| employer(rng))
            } else {
                employer(rng)
            };
            let bango = if Some(i) == earner {
                earner_bango.clone()
            } else {
                rng.digits_between(2, 7)
            };
            let mut first = Coverage {
                from: start,
                to: None,
                insurer: ins,
                kigo,
                bango,
                edaban: "00".into(),
                honin: true,
            };
            // A job change (new employer, new numbers) or retirement into 国保.
            if rng.chance(0.05) {
                let when = date(year, rng.range(2, 13) as u32, 1);
                first.to = Some(when);
                cov.push(first);
                let retire = age >= 60;
                let (ins2, kigo2) = if retire {
                    (kokuho.clone(), household_kokuho_kigo.clone())
                } else {
                    employer(rng)
                };
                cov.push(Coverage {
                    from: when,
                    to: None,
                    insurer: ins2,
                    kigo: kigo2,
                    bango: rng.digits_between(2, 7),
                    edaban: "00".into(),
                    honin: true,
                });
            } else {
                cov.push(first);
            }
        } else if let (Some(e), Some((ins, kigo))) = (earner, &earner_plan) {
            if age < 75 && i != e {
                dependents += 1;
                cov.push(Coverage {
                    from: start,
                    to: None,
                    insurer: ins.clone(),
                    kigo: kigo.clone(),
                    bango: earner_bango.clone(),
                    edaban: format!("{dependents:02}"),
                    honin: false,
                });
            }
        } else {
            dependents += 1;
            cov.push(Coverage {
                from: start,
                to: None,
                insurer: kokuho.clone(),
                kigo: household_kokuho_kigo.clone(),
                bango: household_kokuho_bango.clone(),
                edaban: format!("{:02}", dependents - 1),
                honin: dependents == 1,
            });
        }
        // Turning 75 in the year moves the person to 後期高齢者医療 on their birthday.
        if age < 75 && turns75 <= dec31 && turns75 > jan1 {
            if let Some(last) = cov.last_mut() {
                last.to = Some(turns75);
            }
            cov.push(Coverage {
                from: turns75,
                to: None,
                insurer: koki.clone(),
                kigo: String::new(),
                bango: rng.digits(8),
                edaban: "00".into(),
                honin: true,
            });
        }
        p.coverage = cov;
        if age >= 65 || turns75 <= dec31 {
            p.ltc_number = Some(format!("{}{}", &muni.code[..5], rng.digits(5)));
        }
    }
}

/// Prevalence at the start of the year, by age and sex, for chronic groups.
fn prevalence(group: &str, age: i32, sex: u8) -> f64 {
    let a = f64::from(age);
    let ramp = |from: f64, to: f64, top: f64| ((a - from) / (to - from)).clamp(0.0, 1.0) * top;
    let male = sex == 1;
    match group {
        "hypertension" => ramp(30.0, 75.0, if male { 0.6 } else { 0.5 }),
        "diabetes" => ramp(35.0, 75.0, if male { 0.2 } else { 0.1 }),
        "dyslipidaemia" => ramp(35.0, 70.0, if male { 0.25 } else { 0.3 }),
        "hyperuricaemia" if male => ramp(30.0, 60.0, 0.1),
        "osteoporosis" => {
            if male {
                ramp(65.0, 90.0, 0.05)
            } else {
                ramp(50.0, 80.0, 0.3)
            }
        }
        "dementia" => ramp(65.0, 95.0, 0.4) * ramp(60.0, 95.0, 1.0),
        "heart_failure" => ramp(60.0, 90.0, 0.08),
        "atrial_fibrillation" => ramp(55.0, 85.0, if male { 0.05 } else { 0.03 }),
        "ckd" => ramp(50.0, 85.0, 0.1),
        "bph" if male => ramp(50.0, 80.0, 0.25),
        "glaucoma" => ramp(40.0, 80.0, 0.06),
        "cataract" => ramp(55.0, 85.0, 0.15),
        "insomnia" => ramp(20.0, 80.0, 0.08),
        "depression" if (18..80).contains(&age) => 0.02,
        "gastric" => ramp(30.0, 70.0, 0.08),
        "allergy" => {
            if age < 60 {
                0.1
            } else {
                0.04
            }
        }
        "asthma" => 0.03,
        "back_pain" => ramp(30.0, 70.0, 0.08),
        "knee_oa" => {
            if male {
                ramp(50.0, 85.0, 0.08)
            } else {
                ramp(45.0, 80.0, 0.2)
            }
        }
        "constipation" => ramp(60.0, 90.0, 0.1),
        "stroke" => ramp(55.0, 90.0, 0.05),
        "angina" => ramp(50.0, 85.0, 0.03),
        _ => 0.0,
    }
}

/// Yearly incidence of events that bring a hospital stay, by age and sex.
fn incidence(event: &str, age: i32, sex: u8) -> f64 {
    let a = f64::from(age);
    let ramp = |from: f64, to: f64, top: f64| ((a - from) / (to - from)).clamp(0.0, 1.0) * top;
    let male = sex == 1;
    match event {
        "hip_fracture" => ramp(65.0, 95.0, if male { 0.006 } else { 0.015 }),
        "pneumonia" => ramp(70.0, 95.0, 0.04) + if age < 6 { 0.01 } else { 0.0 },
        "stroke" => ramp(50.0, 90.0, 0.01),
        "myocardial_infarction" => ramp(45.0, 85.0, if male { 0.005 } else { 0.002 }),
        "gastric_cancer" => ramp(45.0, 80.0, if male { 0.003 } else { 0.0012 }),
        "colorectal_cancer" => ramp(45.0, 80.0, 0.002),
        "lung_cancer" => ramp(50.0, 80.0, if male { 0.003 } else { 0.001 }),
        "breast_cancer" => {
            if male {
                0.0
            } else {
                ramp(35.0, 60.0, 0.0015)
            }
        }
        "prostate_cancer" if male => ramp(55.0, 80.0, 0.004),
        "cataract_surgery" => ramp(60.0, 85.0, 0.02),
        _ => 0.0,
    }
}

/// Annual all-cause mortality.
fn mortality(age: i32) -> f64 {
    let a = f64::from(age);
    if age < 1 {
        0.002
    } else if age < 40 {
        0.0005
    } else {
        // Gompertz: doubling every eight years (about 3% at 80, 8% at 90).
        (0.001 * ((a - 40.0) / 8.0).exp2()).min(0.4)
    }
}

fn disease_for<'m>(
    m: &'m Masters,
    group: &str,
    rng: &mut Rng,
) -> Option<&'m renkei_masters::Disease> {
    let ds = m.diseases_in(group);
    (!ds.is_empty()).then(|| *rng.pick(&ds))
}

/// Conditions, stays, care and death for one person in the year.
fn clinical(p: &mut Person, year: i32, m: &Masters, rng: &mut Rng) {
    let jan1 = date(year, 1, 1);
    let age = p.age_on(jan1);
    if age < 0 {
        return;
    }
    const CHRONIC: [&str; 22] = [
        "hypertension",
        "diabetes",
        "dyslipidaemia",
        "hyperuricaemia",
        "osteoporosis",
        "dementia",
        "heart_failure",
        "atrial_fibrillation",
        "ckd",
        "bph",
        "glaucoma",
        "cataract",
        "insomnia",
        "depression",
        "gastric",
        "allergy",
        "asthma",
        "back_pain",
        "knee_oa",
        "constipation",
        "stroke",
        "angina",
    ];
    let mut p_bmi_risk = 1.0;
    if p.bmi > 27.0 {
        p_bmi_risk = 1.6;
    }
    for g in CHRONIC {
        let mut pr = prevalence(g, age, p.sex);
        if matches!(g, "hypertension" | "diabetes" | "dyslipidaemia") {
            pr *= p_bmi_risk;
        }
        if rng.chance(pr.min(0.95))
            && let Some(d) = disease_for(m, g, rng)
        {
            let years_ago = rng.range(0, 10);
            let onset = date(
                year - 1 - years_ago as i32,
                rng.range(1, 13) as u32,
                rng.range(1, 29) as u32,
            );
            p.conditions.push(Condition {
                group: g,
                code: d.code.clone(),
                onset: onset.max(p.birth),
                chronic: true,
            });
        }
    }
    // Diabetic nephropathy for some diabetics.
    if p.has("diabetes", jan1) && rng.chance(0.1) {
        p.conditions.push(Condition {
            group: "diabetes",
            code: "8830042".into(),
            onset: jan1 - time::Duration::days(400),
            chronic: true,
        });
    }
    // Acute episodes during the year.
    let uri_rate = if age < 10 {
        2.5
    } else if age < 65 {
        0.6
    } else {
        0.4
    };
    for (group, rate) in [
        ("acute_respiratory", uri_rate),
        ("gastroenteritis", 0.15),
        ("influenza", 0.08),
        ("uti", if p.sex == 2 { 0.05 } else { 0.01 }),
        ("dermatitis", 0.05),
        ("headache", 0.04),
    ] {
        for _ in 0..rng.poisson(rate) {
            if let Some(d) = disease_for(m, group, rng) {
                let onset = date(year, rng.range(1, 13) as u32, rng.range(1, 29) as u32);
                p.conditions.push(Condition {
                    group,
                    code: d.code.clone(),
                    onset,
                    chronic: false,
                });
            }
        }
    }
    // Events that bring a stay in hospital.
    for event in [
        "hip_fracture",
        "pneumonia",
        "stroke",
        "myocardial_infarction",
        "gastric_cancer",
        "colorectal_cancer",
        "lung_cancer",
        "breast_cancer",
        "prostate_cancer",
        "cataract_surgery",
    ] {
        let mut pr = incidence(event, age, p.sex);
        if event == "pneumonia" && p.has("dementia", jan1) {
            pr *= 3.0;
        }
        if event == "hip_fracture" && p.has("osteoporosis", jan1) {
            pr *= 2.5;
        }
        if event == "lung_cancer" && p.smoker {
            pr *= 3.0;
        }
        if !rng.chance(pr) {
            continue;
        }
        let group = if event == "cataract_surgery" {
            "cataract"
        } else {
            event
        };
        let admit = date(year, rng.range(1, 13) as u32, rng.range(1, 29) as u32);
        let los = match event {
            "hip_fracture" => rng.range(18, 40),
            "pneumonia" => rng.range(7, 21),
            "stroke" => rng.range(14, 45),
            "myocardial_infarction" => rng.range(7, 18),
            "cataract_surgery" => rng.range(2, 4),
            _ => rng.range(8, 20),
        };
        let discharge = admit + time::Duration::days(los);
        if !p.conditions.iter().any(|c| c.group == group)
            && let Some(d) = disease_for(m, group, rng)
        {
            let code = if group == "stroke" {
                "8838708".into()
            } else {
                d.code.clone()
            };
            p.conditions.push(Condition {
                group,
                code,
                onset: admit,
                chronic: group.ends_with("_cancer") || group == "stroke",
            });
        }
        let emergency = matches!(
            event,
            "hip_fracture" | "pneumonia" | "stroke" | "myocardial_infarction"
        );
        p.stays.push(Stay {
            group,
            admit,
            discharge,
            emergency,
            died: false,
        });
    }
    p.stays.sort_by_key(|s| s.admit);
    // Death.
    let mut q = mortality(age);
    for (g, f) in [
        ("heart_failure", 3.0),
        ("dementia", 2.0),
        ("lung_cancer", 6.0),
        ("gastric_cancer", 3.0),
        ("colorectal_cancer", 2.0),
    ] {
        if p.conditions.iter().any(|c| c.group == g) {
            q *= f;
        }
    }
    if rng.chance(q.min(0.6)) {
        // Die in hospital at the end of a stay, or elsewhere on a random day.
        let in_hospital = p
            .stays
            .last()
            .filter(|_| rng.chance(0.7))
            .map(|s| s.discharge);
        let day = in_hospital
            .unwrap_or_else(|| date(year, rng.range(1, 13) as u32, rng.range(1, 29) as u32));
        let cause = if let Some(s) = p.stays.last().filter(|s| Some(s.discharge) == in_hospital) {
            match s.group {
                "pneumonia" => "J189".to_owned(),
                "stroke" => "I639".to_owned(),
                "myocardial_infarction" => "I219".to_owned(),
                "hip_fracture" => "S720".to_owned(),
                g if g.ends_with("_cancer") => m
                    .diseases_in(g)
                    .first()
                    .map(|d| d.icd10.clone())
                    .unwrap_or_default(),
                _ => "R54".to_owned(),
            }
        } else if p.has("heart_failure", day) {
            "I509".to_owned()
        } else if age >= 85 {
            "R54".to_owned()
        } else {
            (*rng.pick(&["I219", "I639", "J189", "C349", "C169"])).to_owned()
        };
        if let Some(s) = p
            .stays
            .last_mut()
            .filter(|s| Some(s.discharge) == in_hospital)
        {
            s.died = true;
        }
        p.stays.retain(|s| s.admit <= day);
        p.death = Some(Death {
            date: day,
            time: (rng.range(0, 24) as u32, rng.range(0, 60) as u32),
            cause,
            place: if in_hospital.is_some() {
                1
            } else {
                *rng.pick(&[6, 6, 5, 2, 7])
            },
        });
    }
    // Long-term-care certification.
    let mut care_p: f64 = match age {
        65..=74 => 0.04,
        75..=84 => 0.18,
        85..=200 => 0.55,
        _ => 0.0,
    };
    if p.has("dementia", jan1) {
        care_p = (care_p * 3.0).min(0.9);
    }
    if p.ltc_number.is_some() && rng.chance(care_p) {
        let levels = ["12", "13", "21", "22", "23", "24", "25"];
        let w = if p.has("dementia", jan1) || age >= 90 {
            [5.0, 8.0, 15.0, 18.0, 20.0, 18.0, 16.0]
        } else {
            [18.0, 18.0, 20.0, 17.0, 12.0, 9.0, 6.0]
        };
        let level = levels[rng.weighted(&w)];
        let first_level = if rng.chance(0.8) {
            level
        } else {
            levels[rng.weighted(&w)]
        };
        let from = date(year - rng.range(0, 3) as i32, rng.range(1, 13) as u32, 1);
        let applied = from - time::Duration::days(rng.range(20, 40));
        let until = date(from.year() + 3, from.month() as u32, 1) - time::Duration::days(1);
        p.care = Some(Care {
            level,
            applied,
            from,
            until,
            first_level,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_is_exact_and_bounded() {
        let m = Masters::embedded();
        for n in [1u64, 1000, 10_000, 123_457, 3_000_000] {
            let areas = plan(n, m);
            assert_eq!(areas.iter().map(|a| a.persons).sum::<u64>(), n);
            assert!(areas.iter().all(|a| a.persons <= AREA_MAX && a.persons > 0));
            let mut next = 0;
            for a in &areas {
                assert_eq!(a.first_person, next);
                next += a.persons;
            }
        }
    }

    #[test]
    fn people_are_plausible() {
        let m = Masters::embedded();
        let areas = plan(20_000, m);
        let a = areas.iter().max_by_key(|a| a.persons).unwrap();
        let mut rng = Rng::new(1, &[0, u64::from(a.index)]);
        let f = facilities(a, m, &mut rng);
        let ps = people(a, &f, m, 1, 2025);
        assert_eq!(ps.len() as u64, a.persons);
        let jan1 = date(2025, 1, 1);
        let old = ps.iter().filter(|p| p.age_on(jan1) >= 65).count() as f64 / ps.len() as f64;
        assert!((0.2..0.4).contains(&old), "share 65+: {old}");
        for p in &ps {
            assert!(!p.coverage.is_empty(), "everyone is insured: {p:?}");
            for d in [jan1, date(2025, 6, 30), date(2025, 12, 31)] {
                assert!(
                    p.coverage_on(d).is_some(),
                    "covered on {d}: {:?}",
                    p.coverage
                );
            }
            for c in &p.coverage {
                assert!(
                    renkei_masters::insurer_number_valid(&c.insurer),
                    "{}",
                    c.insurer
                );
            }
        }
        let htn = ps.iter().filter(|p| p.has("hypertension", jan1)).count();
        assert!(htn > ps.len() / 10, "{htn}");
        assert!(ps.iter().any(|p| p.death.is_some()));
    }
}
