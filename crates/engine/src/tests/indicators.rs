//! Indicators (CONTRACT Part 2) from results, health and profile imports, counted by hand.

use super::*;

/// `n` enrolled students of `grade` in `class`, ids `<class>-<i>`, then `dropped` more who
/// dropped out.
fn roster(rows: &[(&str, &str, usize, usize)]) -> String {
    let mut s = String::from(HEADER);
    for (class, grade, n, dropped) in rows {
        for i in 0..n + dropped {
            let status = if i < *n { "enrolled" } else { "dropped_out" };
            s.push_str(&format!(
                "\n{class}-{i},Học sinh {i},F,2015-05-01,{grade},{class},Kinh,{status}"
            ));
        }
    }
    s
}

fn import(e: &mut Engine, kind: &str, body: &str) {
    e.import(kind, Some("text/csv"), body.as_bytes())
        .unwrap_or_else(|err| panic!("{kind}: {err}"));
}

fn value(e: &Engine, unit: &str, code: &str) -> (Option<f64>, f64, f64) {
    let i = e
        .views()
        .figures()
        .indicators(Some(unit), None, None)
        .unwrap();
    let got = i.get(code).unwrap();
    (got.value, got.numerator, got.denominator)
}

/// A primary-and-lower-secondary school `s1` and a preschool `s2` import everything a
/// school has; their district computes every indicator from what it received, and a
/// later status change at the school moves the results' indicators at the district.
#[test]
fn indicators_from_every_kind_of_record_equal_a_hand_count() {
    let w = World::new();
    let mut s1 = w.open("s1", 8);
    let mut s2 = w.open("s2", 8);
    let mut d = w.open("pgd", 8);

    // 36 in 5A (cap 35: oversized), 3 in 6A and one who dropped out, none in 7A.
    import(
        &mut s1,
        "students",
        &roster(&[("5A", "5", 36, 0), ("6A", "6", 3, 1)]),
    );
    import(
        &mut s1,
        "classes",
        "class_id,name,grade,homeroom_staff_id\n5A,Lớp 5A,5,\n6A,Lớp 6A,6,\n7A,Lớp 7A,7,\n",
    );
    import(
        &mut s1,
        "staff",
        "staff_id,full_name,gender,birth_date,role,qualification,status\n\
         T1,A,F,1980-01-01,teacher,bachelor,active\n\
         T2,B,F,1980-01-01,teacher,college,active\n\
         T3,C,F,1980-01-01,teacher,master,left\n\
         M1,D,M,1980-01-01,manager,master,active\n",
    );
    // HK1: ten of 5A (4 good or better), 6A's three (all good; conduct 2 good, 1 pass)
    // and the one who dropped out (not counted).
    let mut results = String::from("Mã học sinh,Học kỳ,Kết quả học tập,Kết quả rèn luyện\n");
    for i in 0..10 {
        let level = ["Hoàn thành xuất sắc", "Hoàn thành tốt", "Hoàn thành"]
            [usize::from(i >= 2) + usize::from(i >= 4)];
        results.push_str(&format!("5A-{i},Học kỳ I,{level},\n"));
    }
    results
        .push_str("6A-0,HK1,Khá,Tốt\n6A-1,HK1,Tốt,Khá\n6A-2,HK1,good,pass\n6A-3,HK1,good,good\n");
    import(&mut s1, "results", &results);
    // 5A-0's latest exam is normal (an earlier one found it underweight).
    import(
        &mut s1,
        "health",
        "student_id,exam_date,height_cm,weight_kg,nutrition\n\
         5A-0,2026-09-10,120,18,underweight\n\
         5A-0,2026-11-10,121,\"20,5\",normal\n\
         5A-1,2026-09-10,125,40,obese\n\
         6A-0,2026-09-10,118,25,stunted\n",
    );
    import(
        &mut s1,
        "profile",
        "classrooms_solid,classrooms_semi_solid,classrooms_temporary,toilets,clean_water,national_standard\n\
         12,2,1,4,yes,level1\n",
    );
    // The preschool: one group of 20, one teacher with a college degree (qualified there).
    import(&mut s2, "students", &roster(&[("MG4A", "MG4", 20, 0)]));
    import(
        &mut s2,
        "classes",
        "class_id,name,grade,homeroom_staff_id\nMG4A,Lớp chồi A,Mẫu giáo 4-5 tuổi,\n",
    );
    import(
        &mut s2,
        "staff",
        "staff_id,full_name,gender,birth_date,role,qualification,status\n\
         T1,E,F,1990-01-01,teacher,college,active\n",
    );
    import(
        &mut s2,
        "profile",
        "classrooms_solid,classrooms_semi_solid,classrooms_temporary,toilets,clean_water,national_standard\n\
         3,0,1,2,no,none\n",
    );
    sync(&s1, &mut d);
    sync(&s2, &mut d);

    let expect_s1: [(&str, Option<f64>, f64, f64); 13] = [
        ("dropout_rate", Some(2.5), 1.0, 40.0),
        ("students_per_class", Some(13.0), 39.0, 3.0),
        ("students_per_teacher", Some(19.5), 39.0, 2.0),
        ("oversized_class_rate", Some(100.0 / 3.0), 1.0, 3.0),
        ("teachers_qualified_rate", Some(50.0), 1.0, 2.0),
        ("academic_good_rate", Some(700.0 / 13.0), 7.0, 13.0),
        ("conduct_good_rate", Some(200.0 / 3.0), 2.0, 3.0),
        ("malnutrition_rate", Some(100.0 / 3.0), 1.0, 3.0),
        ("overweight_rate", Some(100.0 / 3.0), 1.0, 3.0),
        ("solid_classroom_rate", Some(80.0), 12.0, 15.0),
        ("national_standard_rate", Some(100.0), 1.0, 1.0),
        ("clean_water_rate", Some(100.0), 1.0, 1.0),
        ("reporting_rate", Some(100.0), 1.0, 1.0),
    ];
    for e in [&s1, &d] {
        let i = e
            .views()
            .figures()
            .indicators(Some("s1"), None, None)
            .unwrap();
        assert_eq!(i.term, "HK1");
        let got: Vec<(&str, Option<f64>, f64, f64)> = i
            .indicators
            .iter()
            .map(|x| (x.code, x.value, x.numerator, x.denominator))
            .collect();
        assert_eq!(got, expect_s1, "at {}", e.unit());
    }
    // The district: both schools.
    assert_eq!(
        value(&d, "pgd", "teachers_qualified_rate"),
        (Some(200.0 / 3.0), 2.0, 3.0)
    );
    assert_eq!(
        value(&d, "pgd", "students_per_class"),
        (Some(59.0 / 4.0), 59.0, 4.0)
    );
    assert_eq!(
        value(&d, "pgd", "solid_classroom_rate"),
        (Some(1500.0 / 19.0), 15.0, 19.0)
    );
    assert_eq!(value(&d, "pgd", "clean_water_rate"), (Some(50.0), 1.0, 2.0));
    assert_eq!(
        value(&d, "pgd", "academic_good_rate"),
        (Some(700.0 / 13.0), 7.0, 13.0)
    );
    // The overview counts the preschool's children under preschool, s1's (grades 5 and 6)
    // under lower secondary.
    let o = d.views().figures().overview("pgd").unwrap();
    assert_eq!(o.by_level, [20, 0, 39, 0, 0]);
    // No results in the preschool: no value, not zero.
    assert_eq!(value(&d, "s2", "academic_good_rate"), (None, 0.0, 0.0));

    // 6A-2 drops out at the school: its result leaves the district's figures too.
    let mut again = roster(&[("6A", "6", 3, 1)]);
    again = again.replace(
        "6A-2,Học sinh 2,F,2015-05-01,6,6A,Kinh,enrolled",
        "6A-2,Học sinh 2,F,2015-05-01,6,6A,Kinh,dropped_out",
    );
    import(&mut s1, "students", &again);
    sync(&s1, &mut d);
    for e in [&s1, &d] {
        assert_eq!(
            value(e, "s1", "academic_good_rate"),
            (Some(600.0 / 12.0), 6.0, 12.0)
        );
        assert_eq!(value(e, "s1", "conduct_good_rate"), (Some(100.0), 2.0, 2.0));
        assert_eq!(value(e, "s1", "dropout_rate"), (Some(5.0), 2.0, 40.0));
    }

    // Asked for a term with no results, a year with nothing, or bad parameters.
    let f = d
        .views()
        .figures()
        .indicators(Some("s1"), None, Some("CN"))
        .unwrap();
    assert_eq!(f.get("academic_good_rate").unwrap().value, None);
    let f = d
        .views()
        .figures()
        .indicators(None, Some("2025-2026"), None)
        .unwrap();
    assert_eq!(f.get("reporting_rate").unwrap().value, Some(0.0));
    let views = d.views();
    let figures = views.figures();
    assert!(matches!(
        figures.indicators(None, None, Some("HK3")),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        figures.indicators(None, Some("2026"), None),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        figures.indicators(Some("nowhere"), None, None),
        Err(Error::UnknownUnit(_))
    ));
}

/// Results and health name students of the school in the same school year: anything else
/// refuses the file, with the row and column.
#[test]
fn results_of_unknown_or_preschool_students_are_refused() {
    let w = World::new();
    let mut s1 = w.open("s1", 8);
    let results = "student_id,term,academic,conduct\nG1-0,HK1,good,\n";
    // No students yet.
    let err = s1
        .import("results", Some("text/csv"), results.as_bytes())
        .unwrap_err();
    let Error::Import(e) = err else {
        panic!("{err}")
    };
    assert_eq!(
        (
            e.errors[0].row,
            e.errors[0].column.as_str(),
            e.errors[0].problem.code()
        ),
        (1, "student_id", "unknown_student")
    );
    import(
        &mut s1,
        "students",
        &roster(&[("G1", "1", 2, 0), ("MG5A", "MG5", 1, 0)]),
    );
    import(&mut s1, "results", results);
    // Another school year's students do not count.
    let err = s1
        .import_into("2025-2026", "results", Some("text/csv"), results.as_bytes())
        .unwrap_err();
    assert!(matches!(err, Error::Import(_)), "{err}");
    let err = s1
        .import(
            "results",
            Some("text/csv"),
            b"student_id,term,academic,conduct\nG1-1,HK1,good,\nMG5A-0,HK1,good,\n",
        )
        .unwrap_err();
    let Error::Import(e) = err else {
        panic!("{err}")
    };
    assert_eq!(e.errors.len(), 1);
    assert_eq!(
        (e.errors[0].row, e.errors[0].problem.code()),
        (2, "preschool_result")
    );
    // Nothing of the refused file was applied.
    let i = s1.views().figures().indicators(None, None, None).unwrap();
    assert_eq!(i.get("academic_good_rate").unwrap().denominator, 1.0);
}
