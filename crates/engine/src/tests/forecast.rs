//! The grade-ratio forecast (CONTRACT Part 2) against a hand computation.

use super::*;

/// Enrolled students per grade, ids `<year>-<grade>-<i>`.
fn cohorts(year: &str, grades: &[(u8, usize)]) -> String {
    let mut s = String::from(HEADER);
    for (g, n) in grades {
        for i in 0..*n {
            s.push_str(&format!(
                "\n{year}-{g}-{i},Học sinh {i},M,2015-05-01,{g},{g}A,Kinh,enrolled"
            ));
        }
    }
    s
}

#[test]
fn the_grade_ratio_forecast_equals_a_hand_computation() {
    let w = World::new();
    let mut s1 = w.open("s1", 8);
    let mut s2 = w.open("s2", 8);
    let mut d = w.open("pgd", 8);
    for (year, grades) in [
        ("2024-2025", [(1, 100), (2, 90), (3, 80)]),
        ("2025-2026", [(1, 110), (2, 96), (3, 88)]),
        ("2026-2027", [(1, 120), (2, 104), (3, 90)]),
    ] {
        let body = cohorts(year, &grades);
        s1.import_into(year, "students", Some("text/csv"), body.as_bytes())
            .unwrap();
    }
    // s2 has one year only: the district's forecast is still s1's, s2's alone is refused.
    s2.import(
        "students",
        Some("text/csv"),
        cohorts("x", &[(1, 30)]).as_bytes(),
    )
    .unwrap();
    sync(&s1, &mut d);
    sync(&s2, &mut d);
    let views = d.views();
    let f = views.figures().forecast(Some("s1"), 3).unwrap();
    assert_eq!(
        (f.base_year.as_str(), f.method),
        ("2026-2027", "grade_ratio")
    );
    // r(2) = 104/110, r(3) = 90/96 = 0.9375, r(4) = 0/88; grade 1 is an entry grade.
    // Year 1: grade 3 is 104 × 0.9375 = 97.5, rounded half away from zero to 98.
    /// (year, by grade, total, classes, teachers)
    type Year<'a> = (&'a str, Vec<(String, u64)>, u64, u64, f64);
    let got: Vec<Year> = f
        .years
        .iter()
        .map(|y| {
            (
                y.year.as_str(),
                y.by_grade.clone().into_iter().collect(),
                y.total,
                y.classes_needed,
                y.teachers_needed,
            )
        })
        .collect();
    let g = |v: [u64; 3]| -> Vec<(String, u64)> {
        ["1", "2", "3"]
            .iter()
            .map(|c| c.to_string())
            .zip(v)
            .collect()
    };
    assert_eq!(
        got,
        [
            ("2027-2028", g([120, 113, 98]), 331, 11, 16.5),
            ("2028-2029", g([120, 113, 106]), 339, 12, 18.0),
            ("2029-2030", g([120, 113, 106]), 339, 12, 18.0),
        ]
    );
    // The backtest: 2026-2027 from 2025-2026 with the ratios of 2025-2026 over 2024-2025.
    let b = f.backtest.clone().unwrap();
    assert_eq!(b.year, "2026-2027");
    assert_eq!(
        b.projected.into_iter().collect::<Vec<_>>(),
        g([110, 106, 94])
    );
    let mape = 100.0 * (10.0 / 120.0 + 2.0 / 104.0 + 4.0 / 90.0) / 3.0;
    assert!((b.mape.unwrap() - mape).abs() < 1e-9, "{:?}", b.mape);
    // The school computes the same.
    assert_eq!(s1.views().figures().forecast(None, 3).unwrap(), f);
    // The district's subtree: s2's one year is in its base year, and in no ratio.
    let all = views.figures().forecast(None, 1).unwrap();
    assert_eq!(all.years[0].by_grade["1"], 150);

    let figures = views.figures();
    assert!(matches!(
        figures.forecast(Some("s2"), 5),
        Err(Error::Unprocessable(_))
    ));
    for bad in [0, 11] {
        assert!(matches!(
            figures.forecast(None, bad),
            Err(Error::Invalid(_))
        ));
    }
    assert!(matches!(
        figures.forecast(Some("nowhere"), 5),
        Err(Error::UnknownUnit(_))
    ));
}
