use crate::*;
use proptest::prelude::*;

fn sex_age() -> Vec<Dim> {
    vec![
        Dim::plain("sex", &["F", "M"]),
        Dim::plain("age", &["40-44", "45-49", "50-54"]).with_kind(DimKind::AgeBand),
    ]
}

#[test]
fn a_small_cell_fails_with_its_labels_and_numbers() {
    let t = Table::counts(sex_age(), &[12, 7, 30, 0, 15, 40]);
    let r = check(
        &Output::Frequency(t),
        &Rules::japan(),
        Protection::default(),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    let f = r.of(Check::Threshold).next().unwrap();
    assert_eq!(f.evidence, "cell (F, 45-49) = 7 persons < 10");
    assert_eq!(f.cell, Some(1));
    assert_eq!(r.cells[1], Outcome::Fail);
    // Zero is allowed in the Japanese profile, flagged in the general one.
    assert_eq!(r.cells[3], Outcome::Pass);
    let g = check(
        &Output::Frequency(Table::counts(sex_age(), &[12, 17, 30, 0, 15, 40])),
        &Rules::general(),
        Protection::default(),
    )
    .unwrap();
    assert_eq!(g.outcome, Outcome::Review);
    assert_eq!(
        g.of(Check::Zeros).next().unwrap().evidence,
        "cell (M, 40-44) = 0"
    );
    assert_eq!(r.failed_checks(), vec![Check::Threshold]);
}

#[test]
fn a_safe_table_passes_and_says_how_many_cells_each_rule_passed() {
    let t = Table::counts(sex_age(), &[12, 17, 30, 10, 15, 40]);
    let r = check(
        &Output::Frequency(t),
        &Rules::japan(),
        Protection::default(),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Pass);
    assert!(r.findings.is_empty());
    let (_, s) = r
        .summary
        .iter()
        .find(|(c, _)| *c == Check::Threshold)
        .unwrap();
    assert_eq!(s.pass, 6);
}

#[test]
fn suppression_hides_the_cell_and_its_complement_and_sends_the_table_to_review() {
    let t = Table::counts(sex_age(), &[12, 7, 30, 20, 15, 40]).with_margins();
    let r = check(
        &Output::Frequency(t),
        &Rules::japan(),
        Protection {
            suppress: true,
            round_to: None,
        },
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Review);
    let p = r.published.clone().unwrap();
    assert_eq!(p.primary, vec![1]);
    // The cheapest square through (F, 45-49): (F, 40-44), (M, 40-44), (M, 45-49).
    assert_eq!(p.secondary, vec![0, 3, 4]);
    assert_eq!(p.cells[1], None);
    assert_eq!(p.cells[2], Some(30.0));
    assert!(
        r.of(Check::Threshold)
            .next()
            .unwrap()
            .evidence
            .ends_with("(suppressed)")
    );
}

#[test]
fn small_margins_fail_even_when_cells_are_suppressed() {
    // Row F totals 8.
    let t = Table::counts(sex_age(), &[3, 5, 0, 20, 15, 40]).with_margins();
    let r = check(
        &Output::Frequency(t),
        &Rules::japan(),
        Protection {
            suppress: true,
            round_to: None,
        },
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(
        r.findings
            .iter()
            .any(|f| f.evidence == "total (sex = F) = 8 < 10: aggregate further")
    );
}

#[test]
fn municipality_populations_raise_the_threshold_or_hide_the_unit() {
    let dims =
        vec![
            Dim::plain("municipality", &["A", "B", "C"]).with_kind(DimKind::Municipality {
                populations: vec![Some(1_500), Some(10_000), Some(300_000)],
            }),
        ];
    let r = check(
        &Output::Frequency(Table::counts(dims, &[50, 15, 15])),
        &Rules::japan(),
        Protection::default(),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    let ev: Vec<&str> = r
        .of(Check::Municipality)
        .map(|f| f.evidence.as_str())
        .collect();
    assert!(
        ev.contains(&"municipality = A: population 1500 < 2000: never shown as a unit"),
        "{ev:?}"
    );
    assert!(ev.contains(&"cell (B) = 15 persons < 20"), "{ev:?}");
    assert_eq!(r.cells[2], Outcome::Pass);
}

#[test]
fn municipality_crossed_with_insurer_type_fails() {
    let dims = vec![
        Dim::plain("municipality", &["A"]).with_kind(DimKind::Municipality {
            populations: vec![Some(300_000)],
        }),
        Dim::plain("insurer type", &["国保", "協会けんぽ"]).with_kind(DimKind::InsurerType),
    ];
    let r = check(
        &Output::Frequency(Table::counts(dims, &[500, 800])),
        &Rules::japan(),
        Protection::default(),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    assert_eq!(r.of(Check::Geography).count(), 1);
}

#[test]
fn age_bands_are_five_years_with_100_and_over_as_one_band() {
    let dims = vec![
        Dim::plain(
            "age",
            &[
                "15",
                "20-22",
                "40-44",
                "95-99",
                "100+",
                "100-104",
                "85歳以上",
                "unknown",
            ],
        )
        .with_kind(DimKind::AgeBand),
    ];
    let r = check(
        &Output::Frequency(Table::counts(dims, &[50; 8])),
        &Rules::japan(),
        Protection::default(),
    )
    .unwrap();
    let got: Vec<(String, Outcome)> = r
        .of(Check::AgeBands)
        .map(|f| (f.labels[0].clone(), f.outcome))
        .collect();
    assert!(got.contains(&("15".into(), Outcome::Review)), "{got:?}");
    assert!(got.contains(&("20-22".into(), Outcome::Fail)), "{got:?}");
    assert!(got.contains(&("100-104".into(), Outcome::Fail)), "{got:?}");
    assert!(
        got.contains(&("unknown".into(), Outcome::Review)),
        "{got:?}"
    );
    assert_eq!(got.len(), 4, "{got:?}");
}

#[test]
fn death_times_and_birth_weights_need_coarse_bins() {
    let death = vec![
        Dim::plain("time of death", &["0-1", "02:00-03:59", "4", "05:00-05:59"])
            .with_kind(DimKind::DeathHour),
    ];
    let r = check(
        &Output::Frequency(Table::counts(death, &[50; 4])),
        &Rules::japan(),
        Protection::default(),
    )
    .unwrap();
    let bad: Vec<&str> = r.of(Check::Bins).map(|f| f.labels[0].as_str()).collect();
    assert_eq!(bad, vec!["4", "05:00-05:59"]);
    let weight = vec![
        Dim::plain(
            "birth weight",
            &[
                "≤300",
                "200-299",
                "301-400",
                "2500-2549",
                "3900-3999",
                "4000+",
                "4100+",
            ],
        )
        .with_kind(DimKind::BirthWeight),
    ];
    let r = check(
        &Output::Frequency(Table::counts(weight, &[50; 7])),
        &Rules::japan(),
        Protection::default(),
    )
    .unwrap();
    let bad: Vec<&str> = r.of(Check::Bins).map(|f| f.labels[0].as_str()).collect();
    assert_eq!(bad, vec!["200-299", "2500-2549", "4100+"]);
}

#[test]
fn institution_counts_under_three_go_to_review_or_fail_by_switch() {
    let mut t = Table::counts(vec![Dim::plain("region", &["A", "B"])], &[2, 8]);
    t.unit = Unit::Institutions;
    let r = check(
        &Output::Frequency(t.clone()),
        &Rules::japan(),
        Protection::default(),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Review);
    assert_eq!(r.findings[0].evidence, "cell (A) = 2 institutions < 3");
    let mut strict = Rules::japan();
    strict.institutions_fail = true;
    assert_eq!(
        check(&Output::Frequency(t), &strict, Protection::default())
            .unwrap()
            .outcome,
        Outcome::Fail
    );
}

#[test]
fn drug_counts_use_persons_where_known_and_prescription_minimums_where_not() {
    let mut t = Table::counts(
        vec![Dim::plain("drug", &["oral A", "oral B", "oral C"])],
        &[5_000, 900, 2_000],
    );
    t.unit = Unit::Prescriptions { injection: false };
    t.cells[2].persons = Some(6);
    let r = check(
        &Output::Frequency(t),
        &Rules::japan(),
        Protection::default(),
    )
    .unwrap();
    let ev: Vec<&str> = r.findings.iter().map(|f| f.evidence.as_str()).collect();
    assert_eq!(
        ev,
        vec![
            "cell (oral B) = 900 prescriptions < 1000 (patient count unknown)",
            "cell (oral C) = 6 persons < 10"
        ]
    );
    let mut inj = Table::counts(vec![Dim::plain("drug", &["injection"])], &[450]);
    inj.unit = Unit::Prescriptions { injection: true };
    assert_eq!(
        check(
            &Output::Frequency(inj),
            &Rules::japan(),
            Protection::default()
        )
        .unwrap()
        .outcome,
        Outcome::Pass
    );
}

#[test]
fn magnitude_cells_fail_dominance_and_the_p_percent_rule() {
    let dims = vec![Dim::plain("hospital group", &["A", "B", "C"])];
    let mut spread: Vec<f64> = vec![100.0; 20];
    let a = CellStats::from_values(&spread);
    spread[0] = 100_000.0; // one person dominates
    let b = CellStats::from_values(&spread);
    let c = CellStats::from_values(&[
        -5.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0,
    ]);
    let t = Table {
        dims,
        unit: Unit::Persons,
        statistic: Statistic::Sum,
        cells: vec![a, b, c],
        margins: false,
    };
    let r = check(
        &Output::Magnitude(t),
        &Rules::general(),
        Protection::default(),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    assert_eq!(r.cells, vec![Outcome::Pass, Outcome::Fail, Outcome::Review]);
    let dom = r.of(Check::Dominance).next().unwrap();
    assert!(
        dom.evidence
            .starts_with("cell (B): the 2 largest make 98.2% of the total"),
        "{}",
        dom.evidence
    );
    assert!(r.of(Check::PPercent).next().is_some());
    assert!(r.of(Check::Negative).next().is_some());
}

#[test]
fn dominance_comparison_is_configurable() {
    let rules = Rules::general();
    assert!(rules.dominated([45.0, 45.0], 100.0));
    let strict = Rules {
        dominance_strict: true,
        ..Rules::general()
    };
    assert!(!strict.dominated([45.0, 45.0], 100.0));
}

#[test]
fn summaries_regressions_survival_histograms_and_files() {
    let rules = Rules::japan();
    let s = SummaryOutput {
        variable: "HbA1c".into(),
        n: 200,
        mean: Some(7.1),
        min: Some(4.2),
        percentiles: vec![(0.5, 7.0), (0.99, 11.0)],
        ..Default::default()
    };
    let r = check(&Output::Summary(s), &rules, Protection::default()).unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    assert_eq!(
        r.of(Check::MinMax).map(|f| f.outcome).collect::<Vec<_>>(),
        vec![Outcome::Fail, Outcome::Review]
    );

    let reg = RegressionOutput {
        coefficients: vec![("age".into(), 0.3)],
        residual_dof: 8,
    };
    let r = check(&Output::Regression(reg), &rules, Protection::default()).unwrap();
    assert_eq!(
        r.findings[0].evidence,
        "residual degrees of freedom = 8 < 10"
    );

    let rows = vec![
        SurvivalRow {
            time: 1.0,
            at_risk: 100,
            events: 12,
            censored: 0,
        },
        SurvivalRow {
            time: 2.0,
            at_risk: 88,
            events: 3,
            censored: 0,
        },
    ];
    let r = check(
        &Output::Survival { rows: rows.clone() },
        &rules,
        Protection::default(),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    let pooled = pool_survival(&rows, 10);
    assert_eq!(
        check(
            &Output::Survival { rows: pooled },
            &rules,
            Protection::default()
        )
        .unwrap()
        .outcome,
        Outcome::Pass
    );
    let bad = vec![
        SurvivalRow {
            time: 2.0,
            ..rows[0]
        },
        rows[0],
    ];
    assert_eq!(
        check(
            &Output::Survival { rows: bad },
            &rules,
            Protection::default()
        ),
        Err(SdcError::SurvivalOrder(1))
    );

    let h = HistogramOutput {
        edges: vec![0.0, 10.0, 20.0, 30.0],
        counts: vec![40, 0, 5],
    };
    let r = check(&Output::Histogram(h), &rules, Protection::default()).unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(
        r.findings
            .iter()
            .any(|f| f.evidence == "bin [20, 30) = 5 persons < 10")
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.evidence == "bin [10, 20) is empty")
    );

    let r = check(
        &Output::File {
            name: "figure1.png".into(),
        },
        &rules,
        Protection::default(),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Review);
}

#[test]
fn malformed_declarations_are_refused_with_the_place_named() {
    let t = Table::counts(sex_age(), &[1, 2, 3]);
    assert_eq!(
        check(
            &Output::Frequency(t),
            &Rules::japan(),
            Protection::default()
        ),
        Err(SdcError::CellCount {
            expected: 6,
            found: 3
        })
    );
    let t = Table::counts(vec![], &[]);
    assert_eq!(
        check(
            &Output::Frequency(t),
            &Rules::japan(),
            Protection::default()
        ),
        Err(SdcError::Dimensions(0))
    );
    let t = Table::counts(sex_age(), &[10; 6]);
    assert_eq!(
        check(
            &Output::Frequency(t),
            &Rules::japan(),
            Protection {
                suppress: false,
                round_to: Some(3)
            }
        ),
        Err(SdcError::RoundingBase(3))
    );
}

#[test]
fn rounding_is_applied_on_request_and_recorded() {
    let t = Table::counts(vec![Dim::plain("x", &["a", "b"])], &[12, 13]);
    let r = check(
        &Output::Frequency(t),
        &Rules::japan(),
        Protection {
            suppress: false,
            round_to: Some(5),
        },
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Review);
    assert_eq!(r.published.unwrap().cells, vec![Some(10.0), Some(15.0)]);
}

#[test]
fn three_dimensional_tables_with_margins_are_blocked_with_an_explanation() {
    let dims = vec![
        Dim::plain("a", &["1", "2"]),
        Dim::plain("b", &["1", "2"]),
        Dim::plain("c", &["1", "2"]),
    ];
    let t = Table::counts(dims, &[5, 50, 50, 50, 50, 50, 50, 50]).with_margins();
    let r = check(
        &Output::Frequency(t),
        &Rules::japan(),
        Protection {
            suppress: true,
            round_to: None,
        },
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(
        r.of(Check::Suppression)
            .next()
            .unwrap()
            .evidence
            .contains("one or two dimensions")
    );
}

#[test]
fn reports_round_trip_as_json() {
    let t = Table::counts(sex_age(), &[12, 7, 30, 0, 15, 40]);
    let r = check(
        &Output::Frequency(t.clone()),
        &Rules::japan(),
        Protection::default(),
    )
    .unwrap();
    let back: Report = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(back, r);
    let o: Output =
        serde_json::from_str(&serde_json::to_string(&Output::Frequency(t)).unwrap()).unwrap();
    assert_eq!(o.kind(), OutputKind::Frequency);
}

// ---- properties -------------------------------------------------------------

/// Whether unknown `k` is fixed by the equations (rows of 0/1 coefficients over the
/// unknowns): e_k lies in their row space. Exact over the rationals with i128
/// fraction-free elimination; the systems here are small.
fn determined(equations: &[Vec<i128>], k: usize) -> bool {
    let rank = |m: &[Vec<i128>]| -> usize {
        let mut m: Vec<Vec<i128>> = m.to_vec();
        let cols = m.first().map_or(0, |r| r.len());
        let mut rank = 0;
        for c in 0..cols {
            let Some(p) = (rank..m.len()).find(|&r| m[r][c] != 0) else {
                continue;
            };
            m.swap(rank, p);
            for r in 0..m.len() {
                if r != rank && m[r][c] != 0 {
                    let (a, b) = (m[rank][c], m[r][c]);
                    let g = gcd(a, b);
                    let pivot = m[rank].clone();
                    for (v, p) in m[r].iter_mut().zip(&pivot) {
                        *v = *v * (a / g) - p * (b / g);
                    }
                    let row_g = m[r].iter().fold(0, |acc, v| gcd(acc, *v));
                    if row_g > 1 {
                        for v in m[r].iter_mut() {
                            *v /= row_g;
                        }
                    }
                }
            }
            rank += 1;
        }
        rank
    };
    let mut with = equations.to_vec();
    let mut e = vec![0; equations.first().map_or(0, |r| r.len())];
    if e.is_empty() {
        return false;
    }
    e[k] = 1;
    with.push(e);
    rank(equations) == rank(&with)
}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// The margin equations of a published r×c table in its suppressed cells.
fn margin_equations(shape: &[usize], suppressed: &[usize]) -> Vec<Vec<i128>> {
    let mut eqs = Vec::new();
    let unknown = |cells: Vec<usize>| -> Vec<i128> {
        suppressed
            .iter()
            .map(|s| i128::from(cells.contains(s)))
            .collect()
    };
    match shape {
        [n] => eqs.push(unknown((0..*n).collect())),
        [r, c] => {
            for i in 0..*r {
                eqs.push(unknown((0..*c).map(|j| i * c + j).collect()));
            }
            for j in 0..*c {
                eqs.push(unknown((0..*r).map(|i| i * c + j).collect()));
            }
        }
        _ => {}
    }
    eqs
}

fn table_strategy() -> impl Strategy<Value = (Vec<usize>, Vec<u64>)> {
    prop_oneof![
        (1usize..8).prop_map(|n| vec![n]),
        (1usize..6, 1usize..6).prop_map(|(r, c)| vec![r, c]),
    ]
    .prop_flat_map(|shape| {
        let n: usize = shape.iter().product();
        let cell = prop_oneof![3 => 0u64..10, 5 => 10u64..60, 1 => Just(0u64)];
        (Just(shape), proptest::collection::vec(cell, n))
    })
}

fn dims_for(shape: &[usize]) -> Vec<Dim> {
    shape
        .iter()
        .enumerate()
        .map(|(d, &n)| Dim {
            name: format!("d{d}"),
            labels: (0..n).map(|k| format!("l{k}")).collect(),
            kind: DimKind::Plain,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// No output passes with a cell under the threshold and no protection, and a
    /// protected table never publishes such a cell.
    #[test]
    fn no_small_cell_passes_or_is_published((shape, counts) in table_strategy(), margins: bool, round: bool) {
        let mut t = Table::counts(dims_for(&shape), &counts);
        t.margins = margins;
        let rules = Rules::japan();
        let small = counts.iter().any(|&n| n > 0 && n < rules.threshold);
        let r = check(&Output::Frequency(t.clone()), &rules, Protection::default()).unwrap();
        if small {
            prop_assert_eq!(r.outcome, Outcome::Fail);
        }
        let protect = Protection { suppress: true, round_to: round.then_some(5) };
        let r = check(&Output::Frequency(t), &rules, protect).unwrap();
        if small {
            prop_assert_ne!(r.outcome, Outcome::Pass);
        }
        if r.outcome != Outcome::Fail {
            let p = r.published.unwrap();
            for (i, v) in p.cells.iter().enumerate() {
                if v.is_some() {
                    prop_assert!(!(counts[i] > 0 && counts[i] < rules.threshold), "cell {} published", i);
                }
            }
        }
    }

    /// Secondary suppression never leaves a suppressed cell solvable from the margins.
    #[test]
    fn suppressed_cells_cannot_be_solved_from_the_margins((shape, counts) in table_strategy()) {
        let t = Table::counts(dims_for(&shape), &counts).with_margins();
        let r = check(&Output::Frequency(t), &Rules::japan(), Protection { suppress: true, round_to: None }).unwrap();
        let Some(p) = r.published.clone() else { return Ok(()) };
        if r.of(Check::Suppression).any(|f| f.outcome == Outcome::Fail) {
            return Ok(());
        }
        let suppressed: Vec<usize> = (0..p.cells.len()).filter(|&i| p.cells[i].is_none()).collect();
        let eqs = margin_equations(&shape, &suppressed);
        for (k, cell) in suppressed.iter().enumerate() {
            prop_assert!(!determined(&eqs, k), "cell {} of {:?} can be solved for; suppressed {:?}", cell, counts, suppressed);
        }
    }

    /// Band labels never panic, and a parsed band has ordered bounds.
    #[test]
    fn band_labels_parse_or_are_refused(s in "\\PC{0,12}") {
        if let Some(b) = crate::table::parse_band(&s) && let (Some(lo), Some(hi)) = (b.lo, b.hi) {
            prop_assert!(lo <= hi);
        }
    }
}

#[test]
fn the_solver_in_these_tests_finds_a_lone_suppressed_cell() {
    // 2×2 with one suppressed cell: its row equation fixes it.
    assert!(determined(&margin_equations(&[2, 2], &[0]), 0));
    assert!(!determined(&margin_equations(&[2, 2], &[0, 1, 2, 3]), 0));
    assert!(determined(&margin_equations(&[3], &[1]), 0));
}
