//! Targets: set at offices, travelling down to the unit's node and up to the ancestors,
//! replaced with history, measured against the indicators.

use super::*;

#[test]
fn targets_travel_down_and_up_are_replaced_with_history_and_measured() {
    let w = World::new();
    let mut so = w.open("so", 8);
    let mut d = w.open("pgd", 8);
    let mut s1 = w.open("s1", 8);
    // s1: 40 students, 2 of them dropped out; 2 classes.
    s1.import(
        "students",
        Some("text/csv"),
        students("a", 40, 2).as_bytes(),
    )
    .unwrap();
    s1.import(
        "classes",
        Some("text/csv"),
        b"class_id,name,grade,homeroom_staff_id\n1a,L1,1,\n1b,L2,1,\n",
    )
    .unwrap();
    let year = "2026-2027";
    let dropout = so
        .set_target("s1", year, "dropout_rate", "<=", 1.0)
        .unwrap();
    assert_eq!(dropout, "so:s1:2026-2027:dropout_rate");
    let per_class = d
        .set_target("s1", year, "students_per_class", "<=", 10.0)
        .unwrap();
    // The district changes its mind: the same target, a new value; the old one is history.
    assert_eq!(
        d.set_target("s1", year, "students_per_class", "<=", 20.0)
            .unwrap(),
        per_class
    );
    d.set_target("pgd", year, "reporting_rate", ">=", 100.0)
        .unwrap();
    // Refused: at a school, an unknown indicator, a unit outside the subtree, a bad op.
    assert!(matches!(
        s1.set_target("s1", year, "dropout_rate", "<=", 1.0),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        d.set_target("s1", year, "happiness", ">=", 1.0),
        Err(Error::Unprocessable(_))
    ));
    assert!(matches!(
        d.set_target("so", year, "dropout_rate", "<=", 1.0),
        Err(Error::UnknownUnit(_))
    ));
    assert!(matches!(
        d.set_target("s1", year, "dropout_rate", "<", 1.0),
        Err(Error::Unprocessable(_))
    ));
    assert!(matches!(
        d.set_target("s1", year, "dropout_rate", "<=", f64::NAN),
        Err(Error::Unprocessable(_))
    ));
    assert!(matches!(
        d.set_target("s1", "2026", "dropout_rate", "<=", 1.0),
        Err(Error::Invalid(_))
    ));

    // Down: the department's target through the district to the school; up: the school's
    // data to the district and the district's targets to the department.
    sync(&so, &mut d);
    sync(&d, &mut s1);
    sync(&s1, &mut d);
    sync(&d, &mut so);
    /// (unit, indicator, value, actual, status, earlier values)
    type Listed = (String, String, f64, Option<f64>, &'static str, usize);
    let listed = |e: &Engine, unit: Option<&str>| -> Vec<Listed> {
        e.views()
            .figures()
            .targets(unit, None)
            .unwrap()
            .into_iter()
            .map(|t| {
                (
                    t.unit,
                    t.indicator,
                    t.value,
                    t.actual,
                    t.status,
                    t.history.len(),
                )
            })
            .collect()
    };
    let s1_targets = vec![
        (
            "s1".to_string(),
            "dropout_rate".to_string(),
            1.0,
            Some(5.0),
            "not_met",
            0,
        ),
        (
            "s1".to_string(),
            "students_per_class".to_string(),
            20.0,
            Some(19.0),
            "met",
            1,
        ),
    ];
    // Every node on the way lists the school's targets, with the same actual values.
    for e in [&s1, &d, &so] {
        assert_eq!(listed(e, Some("s1")), s1_targets, "at {}", e.unit());
    }
    // The district's own target is listed at the district and above, not at the school.
    let at_pgd = listed(&so, Some("pgd"));
    assert_eq!(at_pgd.len(), 3);
    assert_eq!(
        at_pgd[0],
        (
            "pgd".to_string(),
            "reporting_rate".to_string(),
            100.0,
            Some(50.0),
            "not_met",
            0
        )
    );
    assert_eq!(listed(&s1, None).len(), 2);
    // A year with no target, and the history kept.
    assert!(listed(&so, Some("s1")).iter().all(|t| t.0 == "s1"));
    let t = d
        .views()
        .figures()
        .targets(Some("s1"), Some("2025-2026"))
        .unwrap();
    assert!(t.is_empty());
    let t = d.views().figures().targets(Some("s1"), None).unwrap();
    assert_eq!(
        (t[1].history[0].op.as_str(), t[1].history[0].value),
        ("<=", 10.0)
    );
    assert_eq!(t[1].set_by, "pgd");
    assert_eq!(t[0].set_by, "so");

    // After a restart everything is still there, from the store.
    drop(s1);
    let s1 = w.open("s1", 8);
    assert_eq!(listed(&s1, Some("s1")), s1_targets);
}
