//! The person index as an algorithm: union–find over token families, with the guards
//! that stop over-merging. Pure and in memory; the service feeds it and stores the
//! result.
//!
//! **Strong** tokens name one person within one source: ID1n (insurer, card number,
//! 枝番, birth date, sex), the care-insurance number, a facility's patient number; ID1
//! stands in only where a record lacks ID1n. **Weak** tokens name a person by name,
//! birth date and sex (ID2 from the kana name, the kanji token): they bridge the
//! changes that break strong tokens (a new insurer after a job change) but are shared
//! by same-sex twins with one name reading.
//!
//! Every record claims **slots** for the person it belongs to: "this dataset, this
//! month" for its primary (strongest) token, and "this card" (the ID1 without the
//! 枝番) for its ID1n. Two groups that hold the same slot through different primary
//! tokens are two people already seen apart (twins on one card, two people in the same
//! dataset the same month), so a token that would join them is **held for review**
//! instead of used. Strong links are made first, weak ones after, one token at a time
//! in token order, so the result does not depend on the order records arrive in.

use std::collections::HashMap;

/// A token family, in order of strength.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Insurer, card number, 枝番, birth date, sex.
    Id1n,
    /// Care-insurance insurer and number.
    CareInsured,
    /// A facility's own patient number.
    FacilityPatient,
    /// Insurer, card number, birth date, sex (no 枝番: shared on one card by
    /// same-sex twins).
    Id1,
    /// Kana name, birth date, sex.
    Id2,
    /// Kanji name, birth date, sex.
    Kanji,
}

impl Family {
    /// Every family, strongest first.
    pub const ALL: [Family; 6] = [
        Family::Id1n,
        Family::CareInsured,
        Family::FacilityPatient,
        Family::Id1,
        Family::Id2,
        Family::Kanji,
    ];

    /// The family a stored column holds, by its name.
    pub fn of_column(name: &str) -> Option<Family> {
        Some(match name {
            "id1n" => Family::Id1n,
            "care_insured" => Family::CareInsured,
            "facility_patient" => Family::FacilityPatient,
            "id1" => Family::Id1,
            "id2" => Family::Id2,
            "kanji" => Family::Kanji,
            _ => return None,
        })
    }

    /// The column name (and the code in reports).
    pub fn code(self) -> &'static str {
        match self {
            Family::Id1n => "id1n",
            Family::CareInsured => "care_insured",
            Family::FacilityPatient => "facility_patient",
            Family::Id1 => "id1",
            Family::Id2 => "id2",
            Family::Kanji => "kanji",
        }
    }

    /// Name-based: may bridge strong tokens, under the guards.
    pub fn is_weak(self) -> bool {
        matches!(self, Family::Id2 | Family::Kanji)
    }
}

/// A token as stored: its family and 16 bytes.
pub type Token = (Family, [u8; 16]);

/// One record's view for linkage.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    /// Which dataset (an index the caller keeps).
    pub dataset: u16,
    /// The record's month (`year * 12 + month - 1`), when it has a date.
    pub month: Option<i32>,
    /// Its tokens.
    pub tokens: Vec<Token>,
}

impl Observation {
    /// The token the record is filed under: the strongest it carries.
    pub fn primary(&self) -> Option<Token> {
        let has_id1n = self.tokens.iter().any(|t| t.0 == Family::Id1n);
        self.tokens
            .iter()
            .filter(|t| !(has_id1n && t.0 == Family::Id1))
            .min_by_key(|t| t.0)
            .copied()
    }
}

/// A token held for review, with why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    /// The token's family.
    pub family: Family,
    /// The token (hex).
    pub token: String,
    /// Why it was not used.
    pub reason: &'static str,
}

/// A slot a group of records holds, and through which primary token.
type Claim = (u64, u32);

/// Builds the index. Feed every record with [`Builder::observe`], then
/// [`Builder::finish`].
#[derive(Default)]
pub struct Builder {
    nodes: foldhash::HashMap<Token, u32>,
    tokens: Vec<Token>,
    /// Edges as (attached token, node it attaches to), packed in a `u64`: strong tokens
    /// attached to a record's primary, and weak tokens attached to anything
    /// (deduplicated by one sort at the end: cheaper than a set per record).
    strong_edges: Vec<u64>,
    weak_edges: Vec<u64>,
    /// The previous record's edges, to skip a record that repeats them (a person's
    /// records in one file often do).
    last: Vec<(u64, bool)>,
    /// Each node's claims, before any union (sorted, deduplicated at finish).
    claims: Vec<Vec<Claim>>,
    /// ID1 token → the ID1n nodes seen with it (for opt-outs by ID1).
    id1_cards: HashMap<[u8; 16], Vec<u32>>,
    /// Whether some record is filed under the node.
    primary: Vec<bool>,
    records: u64,
}

impl Builder {
    /// A new, empty index.
    pub fn new() -> Self {
        Self::default()
    }

    fn node(&mut self, t: Token) -> u32 {
        if let Some(&n) = self.nodes.get(&t) {
            return n;
        }
        let n = u32::try_from(self.tokens.len()).unwrap_or(u32::MAX);
        self.nodes.insert(t, n);
        self.tokens.push(t);
        self.claims.push(Vec::new());
        self.primary.push(false);
        n
    }

    /// Files one record. A record without tokens links nothing and is ignored.
    pub fn observe(&mut self, o: &Observation) {
        let Some(primary) = o.primary() else {
            return;
        };
        self.records += 1;
        let p = self.node(primary);
        self.primary[p as usize] = true;
        if let Some(m) = o.month {
            let slot = (1u64 << 63) | (u64::from(o.dataset) << 32) | u64::from(m as u32);
            claim(&mut self.claims[p as usize], (slot, p));
        }
        // (attached token, the node it attaches to), weak or not.
        let mut edges: [(u64, bool); 8] = [(0, false); 8];
        let mut ne = 0;
        for &t in &o.tokens {
            if t == primary {
                continue;
            }
            if t.0 == Family::Id1 && primary.0 == Family::Id1n {
                // The card: two ID1n under one ID1 are two people (twins, a family).
                let card = self.node(t);
                claim(&mut self.claims[p as usize], (u64::from(card), p));
                let seen = self.id1_cards.entry(t.1).or_default();
                if !seen.contains(&p) {
                    seen.push(p);
                }
                continue;
            }
            let n = self.node(t);
            let e = if t.0.is_weak() || !primary.0.is_weak() {
                (pack(n, p), t.0.is_weak())
            } else {
                // A record filed under a weak token attaches its strong ones to it.
                (pack(p, n), true)
            };
            if ne < edges.len() {
                edges[ne] = e;
                ne += 1;
            }
        }
        if self.last[..] != edges[..ne] {
            for &(e, weak) in &edges[..ne] {
                if weak {
                    self.weak_edges.push(e);
                } else {
                    self.strong_edges.push(e);
                }
            }
            self.last.clear();
            self.last.extend_from_slice(&edges[..ne]);
        }
    }

    /// Links everything observed.
    pub fn finish(mut self) -> PersonIndex {
        let n = self.tokens.len();
        let mut uf = UnionFind::new(n);
        let mut claims: Vec<Vec<Claim>> = std::mem::take(&mut self.claims);
        for c in &mut claims {
            c.sort_unstable();
            c.dedup();
        }
        let mut held: Vec<Option<&'static str>> = vec![None; n];
        // Each node's place in token order: everything below runs in that order, so the
        // result depends on the tokens alone, not on the order records arrived in.
        let order = token_order(&self.tokens);
        let mut rank = vec![0u32; n];
        for (r, &node) in order.iter().enumerate() {
            rank[node as usize] = r as u32;
        }

        // Strong tokens first, then weak ones, each one at a time in token order: all
        // of a token's links are made, or none are and it is held for review.
        let strong = sorted_edges(std::mem::take(&mut self.strong_edges), &rank);
        let weak = sorted_edges(std::mem::take(&mut self.weak_edges), &rank);
        for edges in [&strong, &weak] {
            attach_all(edges, &mut uf, &mut claims, &mut held);
        }

        // Person ids in order of each group's first token, so a rerun over the same
        // data gives the same ids. Only groups some record is filed under are people.
        let mut has_record = vec![false; n];
        for node in 0..n as u32 {
            if self.primary[node as usize] {
                has_record[uf.find(node) as usize] = true;
            }
        }
        let mut person_of_root: Vec<u64> = vec![0; n];
        let mut persons = 0u64;
        let mut person: Vec<Option<u64>> = vec![None; n];
        for &node in &order {
            let r = uf.find(node);
            if !has_record[r as usize] {
                continue;
            }
            if person_of_root[r as usize] == 0 {
                persons += 1;
                person_of_root[r as usize] = persons;
            }
            person[node as usize] = Some(person_of_root[r as usize]);
        }
        let mut entries: Vec<(Token, u64)> = Vec::with_capacity(n);
        for (i, t) in self.tokens.iter().enumerate() {
            if let Some(p) = person[i] {
                entries.push((*t, p));
            }
        }
        entries.sort_unstable();
        // What else a token reaches, for opt-outs only: a token held for review that no
        // record is filed under reaches everyone it would have joined, and an ID1 every
        // person on the card with that birth date and sex.
        let mut reach: Vec<(Token, u64)> = Vec::new();
        for edges in [&strong, &weak] {
            for &(t, o) in edges.iter() {
                if held[t as usize].is_some()
                    && person[t as usize].is_none()
                    && let Some(p) = person[o as usize]
                {
                    reach.push((self.tokens[t as usize], p));
                }
            }
        }
        for (card, nodes) in &self.id1_cards {
            for &node in nodes {
                if let Some(p) = person[node as usize] {
                    reach.push(((Family::Id1, *card), p));
                }
            }
        }
        reach.sort_unstable();
        reach.dedup();
        let conflicts = held
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                h.map(|reason| Conflict {
                    family: self.tokens[i].0,
                    token: hex::encode(self.tokens[i].1),
                    reason,
                })
            })
            .collect();
        PersonIndex {
            entries,
            reach,
            persons,
            records: self.records,
            conflicts,
        }
    }
}

fn pack(hi: u32, lo: u32) -> u64 {
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Edges unpacked, deduplicated, in token order of the attached token.
fn sorted_edges(mut v: Vec<u64>, rank: &[u32]) -> Vec<(u32, u32)> {
    v.sort_unstable();
    v.dedup();
    let mut e: Vec<(u32, u32)> = v
        .into_iter()
        .map(|x| ((x >> 32) as u32, x as u32))
        .collect();
    e.sort_unstable_by_key(|&(t, o)| pack(rank[t as usize], rank[o as usize]));
    e
}

/// Attaches each token (edges grouped by it) to everything it links to: the groups
/// join if no two of them hold one slot through different primary tokens; otherwise
/// none join and the token is held.
fn attach_all(
    edges: &[(u32, u32)],
    uf: &mut UnionFind,
    claims: &mut [Vec<Claim>],
    held: &mut [Option<&'static str>],
) {
    let mut i = 0;
    while i < edges.len() {
        let t = edges[i].0;
        let mut j = i;
        let mut roots = vec![uf.find(t)];
        while j < edges.len() && edges[j].0 == t {
            let r = uf.find(edges[j].1);
            if !roots.contains(&r) {
                roots.push(r);
            }
            j += 1;
        }
        i = j;
        if roots.len() < 2 {
            continue;
        }
        let mut acc = claims[roots[0] as usize].clone();
        let ok = roots[1..]
            .iter()
            .all(|r| match merge(&acc, &claims[*r as usize]) {
                Some(m) => {
                    acc = m;
                    true
                }
                None => false,
            });
        if !ok {
            held[t as usize] = Some("would_join_people_seen_apart");
            continue;
        }
        let mut root = roots[0];
        for r in &roots {
            claims[*r as usize] = Vec::new();
            root = uf.union(root, *r);
        }
        claims[root as usize] = acc;
    }
}

/// The nodes in token order. Sorted on a contiguous `u64` prefix (family and the
/// token's first seven bytes: tokens are HMAC output, so prefixes almost never tie),
/// then runs of equal prefixes by the whole token: the same order as sorting tokens,
/// without chasing a pointer per comparison.
fn token_order(tokens: &[Token]) -> Vec<u32> {
    let prefix = |t: &Token| {
        let mut b = [0u8; 8];
        b[0] = t.0 as u8;
        b[1..].copy_from_slice(&t.1[..7]);
        u64::from_be_bytes(b)
    };
    let mut keyed: Vec<(u64, u32)> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (prefix(t), i as u32))
        .collect();
    keyed.sort_unstable();
    let mut i = 0;
    while i < keyed.len() {
        let mut j = i + 1;
        while j < keyed.len() && keyed[j].0 == keyed[i].0 {
            j += 1;
        }
        if j - i > 1 {
            keyed[i..j].sort_unstable_by(|a, b| tokens[a.1 as usize].cmp(&tokens[b.1 as usize]));
        }
        i = j;
    }
    keyed.into_iter().map(|(_, n)| n).collect()
}

/// Adds a claim once (a node holds a few dozen at most: a scan beats a set).
fn claim(claims: &mut Vec<Claim>, c: Claim) {
    if !claims.contains(&c) {
        claims.push(c);
    }
}

/// The merged claims of two groups, or `None` if they hold a slot through different
/// primary tokens (two people).
fn merge(a: &[Claim], b: &[Claim]) -> Option<Vec<Claim>> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        if x.0 == y.0 {
            if x.1 != y.1 {
                return None;
            }
            out.push(x);
            i += 1;
            j += 1;
        } else if x < y {
            out.push(x);
            i += 1;
        } else {
            out.push(y);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    Some(out)
}

/// The linked index: every token with its person, the people, and what was held.
#[derive(Debug)]
pub struct PersonIndex {
    /// `(token, person)`, sorted: the person each token's records belong to.
    pub entries: Vec<(Token, u64)>,
    /// `(token, person)`, sorted: who else a token reaches, for opt-outs only (a card's
    /// people through its ID1; everyone a held token would have joined).
    pub reach: Vec<(Token, u64)>,
    /// How many people.
    pub persons: u64,
    /// Records filed.
    pub records: u64,
    /// Tokens held for review.
    pub conflicts: Vec<Conflict>,
}

impl PersonIndex {
    /// The person a record belongs to: the person of its primary token.
    pub fn person_of(&self, o: &Observation) -> Option<u64> {
        person_of(&self.entries, o)
    }

    /// Everyone a token reaches (its own person, and for opt-outs, the rest).
    pub fn lookup(&self, t: &Token) -> Vec<u64> {
        let mut v: Vec<u64> = lookup(&self.entries, t)
            .chain(lookup(&self.reach, t))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// A stored index read back, for mapping records to people.
#[derive(Debug, Default)]
pub struct Lookup {
    entries: Vec<(Token, u64)>,
    reach: Vec<(Token, u64)>,
}

impl Lookup {
    /// From sorted entries and reach (see [`PersonIndex`]).
    pub fn new(entries: Vec<(Token, u64)>, reach: Vec<(Token, u64)>) -> Self {
        Self { entries, reach }
    }
    /// The person a record belongs to.
    pub fn person_of(&self, o: &Observation) -> Option<u64> {
        person_of(&self.entries, o)
    }
    /// Everyone a token reaches: whom an opt-out through it leaves out.
    pub fn lookup(&self, t: &Token) -> impl Iterator<Item = u64> + '_ {
        lookup(&self.entries, t).chain(lookup(&self.reach, t))
    }
    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn lookup<'a>(entries: &'a [(Token, u64)], t: &Token) -> impl Iterator<Item = u64> + 'a {
    let start = entries.partition_point(|(k, _)| k < t);
    let t = *t;
    entries[start..]
        .iter()
        .take_while(move |(k, _)| *k == t)
        .map(|(_, p)| *p)
}

fn person_of(entries: &[(Token, u64)], o: &Observation) -> Option<u64> {
    let t = o.primary()?;
    lookup(entries, &t).next()
}

/// Union–find with path halving and union by size. Hand-written: it is a dozen lines,
/// and the crates that offer it add nothing here.
struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }
    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = self.parent[x as usize];
        }
        x
    }
    /// Joins the groups of `a` and `b`; returns the new root.
    fn union(&mut self, a: u32, b: u32) -> u32 {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return ra;
        }
        let (big, small) = if self.size[ra as usize] >= self.size[rb as usize] {
            (ra, rb)
        } else {
            (rb, ra)
        };
        self.parent[small as usize] = big;
        self.size[big as usize] += self.size[small as usize];
        big
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(f: Family, n: u8) -> Token {
        (f, [n; 16])
    }
    fn obs(dataset: u16, month: i32, tokens: &[Token]) -> Observation {
        Observation {
            dataset,
            month: Some(month),
            tokens: tokens.to_vec(),
        }
    }

    #[test]
    fn a_job_change_is_bridged_by_the_name_token() {
        let mut b = Builder::new();
        // Months 0–5 under one insurer, 6–11 under the next; the kana name stays.
        for m in 0..6 {
            b.observe(&obs(
                0,
                m,
                &[t(Family::Id1n, 1), t(Family::Id1, 11), t(Family::Id2, 9)],
            ));
        }
        for m in 6..12 {
            b.observe(&obs(
                0,
                m,
                &[t(Family::Id1n, 2), t(Family::Id1, 12), t(Family::Id2, 9)],
            ));
        }
        let ix = b.finish();
        assert_eq!(ix.persons, 1);
        assert!(ix.conflicts.is_empty());
        assert_eq!(
            ix.lookup(&t(Family::Id1n, 1)),
            ix.lookup(&t(Family::Id1n, 2))
        );
    }

    #[test]
    fn twins_on_one_card_stay_two_people_even_when_never_seen_the_same_month() {
        let mut b = Builder::new();
        // Same card (ID1), same kana name, birth date and sex (ID2); the 枝番 differs.
        b.observe(&obs(
            0,
            3,
            &[t(Family::Id1n, 1), t(Family::Id1, 7), t(Family::Id2, 9)],
        ));
        b.observe(&obs(
            0,
            8,
            &[t(Family::Id1n, 2), t(Family::Id1, 7), t(Family::Id2, 9)],
        ));
        let ix = b.finish();
        assert_eq!(ix.persons, 2);
        assert_ne!(
            ix.lookup(&t(Family::Id1n, 1)),
            ix.lookup(&t(Family::Id1n, 2))
        );
        assert_eq!(ix.conflicts.len(), 1);
        assert_eq!(ix.conflicts[0].family, Family::Id2);
        // An opt-out by the card's ID1 reaches both.
        assert_eq!(ix.lookup(&t(Family::Id1, 7)).len(), 2);
    }

    #[test]
    fn a_name_token_shared_by_two_people_in_the_same_month_is_held() {
        let mut b = Builder::new();
        // Two different cards, one name reading, both seen in dataset 0 in month 4.
        b.observe(&obs(0, 4, &[t(Family::Id1n, 1), t(Family::Id2, 9)]));
        b.observe(&obs(0, 4, &[t(Family::Id1n, 2), t(Family::Id2, 9)]));
        let ix = b.finish();
        assert_eq!(ix.persons, 2);
        assert_eq!(ix.conflicts.len(), 1);
    }

    #[test]
    fn a_facility_token_seen_with_two_people_at_once_joins_neither() {
        let mut b = Builder::new();
        b.observe(&obs(
            0,
            4,
            &[t(Family::Id1n, 1), t(Family::FacilityPatient, 5)],
        ));
        b.observe(&obs(
            0,
            4,
            &[t(Family::Id1n, 2), t(Family::FacilityPatient, 5)],
        ));
        let ix = b.finish();
        assert_eq!(ix.persons, 2);
        assert_eq!(ix.conflicts.len(), 1);
        assert_eq!(ix.conflicts[0].family, Family::FacilityPatient);
        // Neither person gets it as theirs; an opt-out through it reaches both.
        assert_eq!(ix.lookup(&t(Family::FacilityPatient, 5)).len(), 2);
        assert!(
            ix.entries
                .iter()
                .all(|e| e.0 != t(Family::FacilityPatient, 5))
        );
    }

    #[test]
    fn records_filed_under_id1_keep_their_own_person() {
        let mut b = Builder::new();
        // Twins on card 7, and a record that carries the card's ID1 but no ID1n.
        b.observe(&obs(0, 1, &[t(Family::Id1n, 1), t(Family::Id1, 7)]));
        b.observe(&obs(0, 2, &[t(Family::Id1n, 2), t(Family::Id1, 7)]));
        let lone = obs(1, 3, &[t(Family::Id1, 7)]);
        b.observe(&lone);
        let ix = b.finish();
        assert_eq!(ix.persons, 3);
        let p = ix.person_of(&lone).unwrap();
        assert_ne!(Some(p), ix.person_of(&obs(0, 1, &[t(Family::Id1n, 1)])));
        assert_ne!(Some(p), ix.person_of(&obs(0, 2, &[t(Family::Id1n, 2)])));
        // An opt-out by the card reaches all three.
        assert_eq!(ix.lookup(&t(Family::Id1, 7)).len(), 3);
    }

    #[test]
    fn a_death_record_links_through_the_kanji_token_seen_in_the_ehr() {
        let mut b = Builder::new();
        b.observe(&obs(
            1,
            2,
            &[
                t(Family::FacilityPatient, 5),
                t(Family::Id1n, 1),
                t(Family::Kanji, 3),
            ],
        ));
        b.observe(&obs(0, 2, &[t(Family::Id1n, 1)]));
        b.observe(&obs(2, 9, &[t(Family::Kanji, 3)]));
        let ix = b.finish();
        assert_eq!(ix.persons, 1);
        let death = obs(2, 9, &[t(Family::Kanji, 3)]);
        assert_eq!(
            ix.person_of(&death),
            ix.lookup(&t(Family::Id1n, 1)).first().copied()
        );
    }

    proptest! {
        /// The order records arrive in changes nothing: the same people, under the same
        /// ids.
        #[test]
        fn linking_does_not_depend_on_record_order(
            recs in prop::collection::vec((0u16..2, 0i32..4, 0u8..6, 0u8..4, proptest::bool::ANY), 1..40),
            seed in any::<u64>(),
        ) {
            let make = |r: &(u16, i32, u8, u8, bool)| {
                let mut toks = vec![t(Family::Id1n, r.2)];
                if r.4 { toks.push(t(Family::Id2, 100 + r.3)); }
                obs(r.0, r.1, &toks)
            };
            let mut b1 = Builder::new();
            for r in &recs { b1.observe(&make(r)); }
            let mut shuffled = recs.clone();
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let mut b2 = Builder::new();
            for r in &shuffled { b2.observe(&make(r)); }
            let (x, y) = (b1.finish(), b2.finish());
            prop_assert_eq!(x.persons, y.persons);
            prop_assert_eq!(x.conflicts.len(), y.conflicts.len());
            // The same index, person ids included.
            prop_assert_eq!(&x.entries, &y.entries);
        }

        /// No group ever holds one month of one dataset through two primary tokens.
        #[test]
        fn no_person_is_two_tokens_in_the_same_month(
            recs in prop::collection::vec((0u16..2, 0i32..3, 0u8..5, 0u8..3), 1..40),
        ) {
            let mut b = Builder::new();
            let os: Vec<Observation> = recs.iter().map(|r| obs(r.0, r.1, &[t(Family::Id1n, r.2), t(Family::Id2, 50 + r.3)])).collect();
            for o in &os { b.observe(o); }
            let ix = b.finish();
            let mut seen: HashMap<(u64, u16, i32), u8> = HashMap::new();
            for (o, r) in os.iter().zip(&recs) {
                let p = ix.person_of(o).unwrap();
                let prev = seen.insert((p, r.0, r.1), r.2);
                prop_assert!(prev.is_none() || prev == Some(r.2));
            }
        }
    }
}
