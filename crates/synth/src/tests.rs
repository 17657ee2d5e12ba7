use std::collections::{BTreeMap, HashMap, HashSet};

use super::*;

const LEVELS: [SchoolLevel; 3] = SchoolLevel::ALL;

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Invariants every generated school year must satisfy.
fn check_school(d: &SchoolData, level: SchoolLevel, size: Size, year: i32) {
    let grades = level.grades();
    // CSV mirrors the records.
    for (csv, header, rows) in [
        (&d.students_csv, STUDENTS_HEADER, d.students.len()),
        (&d.staff_csv, STAFF_HEADER, d.staff.len()),
        (&d.classes_csv, CLASSES_HEADER, d.classes.len()),
    ] {
        assert!(csv.ends_with('\n') && !csv.contains('\r'));
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], header);
        assert_eq!(lines.len(), rows + 1);
        let cols = header.split(',').count();
        assert!(lines.iter().all(|l| l.split(',').count() == cols), "{csv}");
    }
    // Each CSV line says its record, field by field (read back by this test's own reader).
    let student_rows: Vec<Vec<String>> = d
        .students
        .iter()
        .map(|s| {
            vec![
                s.student_id.clone(),
                s.full_name.clone(),
                s.gender.to_string(),
                s.birth_date.clone(),
                s.grade.to_string(),
                s.class_id.clone(),
                s.ethnicity.clone(),
                s.status.clone(),
            ]
        })
        .collect();
    assert_eq!(read_csv(&d.students_csv)[1..], student_rows[..]);
    let staff_rows: Vec<Vec<String>> = d
        .staff
        .iter()
        .map(|s| {
            vec![
                s.staff_id.clone(),
                s.full_name.clone(),
                s.gender.to_string(),
                s.birth_date.clone(),
                s.role.clone(),
                s.qualification.clone(),
                s.status.clone(),
            ]
        })
        .collect();
    assert_eq!(read_csv(&d.staff_csv)[1..], staff_rows[..]);
    let class_rows: Vec<Vec<String>> = d
        .classes
        .iter()
        .map(|c| {
            vec![
                c.class_id.clone(),
                c.name.clone(),
                c.grade.to_string(),
                c.homeroom_staff_id.clone(),
            ]
        })
        .collect();
    assert_eq!(read_csv(&d.classes_csv)[1..], class_rows[..]);

    // Ids: well-formed and unique.
    let mut seen = HashSet::new();
    for id in d.students.iter().map(|s| &s.student_id) {
        assert!(valid_id(id) && id.starts_with("hs-"), "{id}");
        assert!(seen.insert(id.clone()), "duplicate {id}");
    }
    for id in d.staff.iter().map(|s| &s.staff_id) {
        assert!(valid_id(id) && id.starts_with("cb-"), "{id}");
        assert!(seen.insert(id.clone()), "duplicate {id}");
    }
    for id in d.classes.iter().map(|c| &c.class_id) {
        assert!(valid_id(id), "{id}");
        assert!(seen.insert(id.clone()), "duplicate {id}");
    }

    // Classes: grade in level, a distinct active teacher as homeroom, sizes in bounds.
    let teachers: HashSet<&str> = d
        .staff
        .iter()
        .filter(|s| s.role == "teacher" && s.status == "active")
        .map(|s| s.staff_id.as_str())
        .collect();
    let mut homerooms = HashSet::new();
    let class_grade: HashMap<&str, u8> = d
        .classes
        .iter()
        .map(|c| (c.class_id.as_str(), c.grade))
        .collect();
    for c in &d.classes {
        assert!(grades.contains(&c.grade), "{c:?}");
        assert!(c.name.starts_with(&c.grade.to_string()), "{c:?}");
        assert!(teachers.contains(c.homeroom_staff_id.as_str()), "{c:?}");
        assert!(homerooms.insert(&c.homeroom_staff_id), "{c:?}");
        let n = d.enrolled().filter(|s| s.class_id == c.class_id).count();
        let (lo, hi) = match (size, level) {
            (Size::Tiny, _) => (1, 45),
            (Size::Realistic, SchoolLevel::Primary) => (30, 35),
            (Size::Realistic, _) => (30, 45),
        };
        assert!((lo..=hi).contains(&n), "{} has {n} students", c.name);
    }

    // Students: grade matches class and age, values within the contract.
    for s in &d.students {
        assert!(grades.contains(&s.grade), "{s:?}");
        assert!(["enrolled", "dropped_out", "transferred_out", "graduated"]
            .contains(&s.status.as_str()));
        assert!(s.gender == 'M' || s.gender == 'F');
        assert!(s.full_name.split_whitespace().count() >= 3, "{s:?}");
        assert!(!s.ethnicity.is_empty());
        if s.status == "enrolled" {
            assert_eq!(
                class_grade.get(s.class_id.as_str()),
                Some(&s.grade),
                "{s:?}"
            );
            let born: i32 = s.birth_date[..4].parse().unwrap();
            let age = year - born - i32::from(s.grade);
            assert!(age == 5 || age == 6, "{s:?} in {year}");
        }
        assert_eq!(s.birth_date.len(), 10);
    }
    for s in &d.staff {
        assert!(["teacher", "manager", "support"].contains(&s.role.as_str()));
        assert!(
            ["below_standard", "college", "bachelor", "master", "doctor"]
                .contains(&s.qualification.as_str())
        );
        assert!(s.status == "active" || s.status == "left");
        let born: i32 = s.birth_date[..4].parse().unwrap();
        assert!((18..=62).contains(&(year - born)), "{s:?}");
    }
    let managers = d
        .staff
        .iter()
        .filter(|s| s.role == "manager" && s.status == "active")
        .count();
    assert!((2..=4).contains(&managers), "{managers} managers");
    if size == Size::Realistic {
        let enrolled = d.enrolled().count() as f64;
        let ratio = enrolled / teachers.len() as f64;
        assert!(
            (15.0..=22.5).contains(&ratio),
            "{ratio} students per teacher"
        );
    }
}

/// A reader for the CSV the generator writes, written apart from it (RFC 4180: a field
/// in double quotes may hold commas, quotes doubled, and line breaks).
fn read_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match (quoted, ch) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        !quoted && field.is_empty() && row.is_empty(),
        "unterminated: {text}"
    );
    rows
}

#[test]
fn from_parts_renders_each_record_as_a_csv_line() {
    let student = Student {
        student_id: "hs-x-0001".into(),
        full_name: "Nguyễn \"Bé\", Thị Na".into(),
        gender: 'F',
        birth_date: "2015-09-02".into(),
        grade: 5,
        class_id: "x-5a".into(),
        ethnicity: "Tày".into(),
        status: "enrolled".into(),
    };
    let staff = Staff {
        staff_id: "cb-x-001".into(),
        full_name: "Lò Văn Pả".into(),
        gender: 'M',
        birth_date: "1980-01-31".into(),
        role: "teacher".into(),
        qualification: "bachelor".into(),
        status: "active".into(),
    };
    let class = Class {
        class_id: "x-5a".into(),
        name: "5A".into(),
        grade: 5,
        homeroom_staff_id: "cb-x-001".into(),
    };
    let d = SchoolData::from_parts(vec![student.clone()], vec![staff], vec![class]);
    assert_eq!(
        d.students_csv,
        "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n\
         hs-x-0001,\"Nguyễn \"\"Bé\"\", Thị Na\",F,2015-09-02,5,x-5a,Tày,enrolled\n"
    );
    assert_eq!(
        d.staff_csv,
        "staff_id,full_name,gender,birth_date,role,qualification,status\n\
         cb-x-001,Lò Văn Pả,M,1980-01-31,teacher,bachelor,active\n"
    );
    assert_eq!(
        d.classes_csv,
        "class_id,name,grade,homeroom_staff_id\nx-5a,5A,5,cb-x-001\n"
    );
    assert_eq!(d.students, vec![student]);
    // The test's reader gives the name back whole.
    assert_eq!(read_csv(&d.students_csv)[1][1], "Nguyễn \"Bé\", Thị Na");
}

#[test]
fn slug_examples() {
    assert_eq!(slug("Đống Đa"), "dong-da");
    assert_eq!(slug("Hoàn Kiếm"), "hoan-kiem");
    assert_eq!(slug("Ứng Hòa"), "ung-hoa");
    assert_eq!(slug("Sở GD&ĐT Hà Nội"), "so-gd-dt-ha-noi");
    assert_eq!(slug("  H'Mông -- Tày  "), "h-mong-tay");
    assert_eq!(slug("Trường THPT Chu Văn An"), "truong-thpt-chu-van-an");
    // Decomposed (NFD) input folds the same way.
    assert_eq!(slug("Ho\u{302}\u{300}ng"), "hong");
    assert_eq!(slug("Lớp 10A3"), "lop-10a3");
    assert_eq!(slug("!!"), "");
}

#[test]
fn labels_and_levels() {
    assert_eq!(school_year_label(2026), "2026-2027");
    assert_eq!(SchoolLevel::Primary.grades(), 1..=5);
    assert_eq!(SchoolLevel::LowerSecondary.grades(), 6..=9);
    assert_eq!(SchoolLevel::UpperSecondary.grades(), 10..=12);
    assert_eq!(SchoolLevel::Primary.abbrev(), "TH");
    assert_eq!(SchoolLevel::UpperSecondary.label(), "THPT");
    assert_eq!(SchoolLevel::of_grade(9), Some(SchoolLevel::LowerSecondary));
    assert_eq!(SchoolLevel::of_grade(0), None);
}

#[test]
fn province_shape() {
    let units = province(7, 8, 3..=6);
    assert_eq!(units, province(7, 8, 3..=6));
    assert_ne!(units, province(8, 8, 3..=6));
    assert_eq!(units[0].id, "so-hn");
    assert_eq!(units[0].name, "Sở GD&ĐT Hà Nội");
    assert_eq!(units[0].parent, None);
    let by_id: HashMap<&str, &UnitSpec> = units.iter().map(|u| (u.id.as_str(), u)).collect();
    assert_eq!(by_id.len(), units.len(), "ids unique");
    let districts: Vec<&UnitSpec> = units.iter().filter(|u| u.level == "district").collect();
    assert_eq!(districts.len(), 8);
    assert_eq!(districts[2].id, "pgd-dong-da");
    assert_eq!(districts[2].name, "Phòng GD&ĐT Đống Đa");
    for u in &units {
        assert!(valid_id(&u.id), "{}", u.id);
        if u.id != "so-hn" {
            let parent = by_id[u.parent.as_deref().unwrap()];
            let want = if u.level == "district" {
                "department"
            } else {
                "district"
            };
            assert_eq!(parent.level, want);
        }
        match u.school_level {
            Some(l) => {
                assert_eq!(u.level, "school");
                assert!(u.id.starts_with(&format!("{}-", l.id_prefix())), "{}", u.id);
                assert!(
                    u.name.starts_with(&format!("Trường {} ", l.label())),
                    "{}",
                    u.name
                );
            }
            None => assert_ne!(u.level, "school"),
        }
    }
    for d in &districts {
        let n = units
            .iter()
            .filter(|u| u.parent.as_deref() == Some(&d.id))
            .count();
        assert!((3..=6).contains(&n), "{n}");
    }
    assert_eq!(
        province(1, 100, 1..=1)
            .iter()
            .filter(|u| u.level == "district")
            .count(),
        30
    );
    assert_eq!(province(1, 0, 1..=3).len(), 1);
}

#[test]
fn province_level_mix_and_thpt_option() {
    let units = province(3, 30, 8..=14);
    let schools: Vec<SchoolLevel> = units.iter().filter_map(|u| u.school_level).collect();
    assert!(schools.len() >= 240);
    let share = |l| schools.iter().filter(|s| **s == l).count() as f64 / schools.len() as f64;
    assert!((0.40..0.50).contains(&share(SchoolLevel::Primary)));
    assert!((0.30..0.40).contains(&share(SchoolLevel::LowerSecondary)));
    assert!((0.15..0.25).contains(&share(SchoolLevel::UpperSecondary)));
    let ids: HashSet<&str> = units.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids.len(), units.len());

    let real = province_with(3, 30, 8..=14, true);
    assert_eq!(real.len(), units.len());
    for (a, b) in units.iter().zip(&real) {
        assert_eq!((&a.id, &a.name), (&b.id, &b.name));
        let want = if b.school_level == Some(SchoolLevel::UpperSecondary) {
            Some(DEPARTMENT_ID.to_owned())
        } else {
            a.parent.clone()
        };
        assert_eq!(b.parent, want);
    }
}

#[test]
fn school_is_deterministic() {
    for size in [Size::Tiny, Size::Realistic] {
        let a = school(42, "thcs-tam-hiep", SchoolLevel::LowerSecondary, 2026, size);
        let b = school(42, "thcs-tam-hiep", SchoolLevel::LowerSecondary, 2026, size);
        assert_eq!(a.students_csv, b.students_csv);
        assert_eq!(a.staff_csv, b.staff_csv);
        assert_eq!(a.classes_csv, b.classes_csv);
        let c = school(43, "thcs-tam-hiep", SchoolLevel::LowerSecondary, 2026, size);
        assert_ne!(a.students_csv, c.students_csv);
        let d = school(42, "thcs-kim-lien", SchoolLevel::LowerSecondary, 2026, size);
        let names = |x: &SchoolData| {
            x.students
                .iter()
                .map(|s| s.full_name.clone())
                .collect::<Vec<_>>()
        };
        assert_ne!(names(&a), names(&d));
    }
}

#[test]
fn tiny_and_realistic_schools_are_valid() {
    for level in LEVELS {
        for seed in 0..6 {
            let unit = format!("{}-x{seed}", level.id_prefix());
            let tiny = school(seed, &unit, level, 2026, Size::Tiny);
            check_school(&tiny, level, Size::Tiny, 2026);
            let n = tiny.enrolled().count();
            assert!((36..=80).contains(&n), "{n}");
            assert_eq!(tiny.classes.len(), 2);
            assert_eq!(tiny.staff.len(), 6);

            let real = school(seed, &unit, level, 2026, Size::Realistic);
            check_school(&real, level, Size::Realistic, 2026);
            let n = real.enrolled().count();
            let range = match level {
                SchoolLevel::Preschool => 60..=400,
                SchoolLevel::Primary => 300..=900,
                SchoolLevel::LowerSecondary => 400..=1200,
                SchoolLevel::UpperSecondary => 600..=1500,
            };
            assert!(range.contains(&n), "{level:?} {n}");
            let grades: HashSet<u8> = real.classes.iter().map(|c| c.grade).collect();
            assert_eq!(grades.len(), level.grades().count());
        }
    }
}

#[test]
fn class_names_look_vietnamese() {
    let p = school(
        1,
        "th-kim-lien",
        SchoolLevel::Primary,
        2026,
        Size::Realistic,
    );
    assert_eq!(p.classes[0].name, "1A");
    assert_eq!(p.classes[1].name, "1B");
    assert_eq!(p.classes[0].class_id, "th-kim-lien-1a");
    let h = school(
        1,
        "thpt-viet-duc",
        SchoolLevel::UpperSecondary,
        2026,
        Size::Realistic,
    );
    assert_eq!(h.classes[0].name, "10A1");
    assert!(h.classes.iter().any(|c| c.name == "12A3"));
    assert!(h.students[0].student_id.starts_with("hs-thpt-viet-duc-"));
}

#[test]
fn ids_unique_across_network() {
    let units = province(5, 4, 3..=4);
    let mut seen = HashSet::new();
    for u in units.iter().filter(|u| u.level == "school") {
        let d = school(5, &u.id, u.school_level.unwrap(), 2026, Size::Tiny);
        let ids = d
            .students
            .iter()
            .map(|s| &s.student_id)
            .chain(d.staff.iter().map(|s| &s.staff_id))
            .chain(d.classes.iter().map(|c| &c.class_id));
        for id in ids {
            assert!(seen.insert(id.clone()), "{id}");
        }
    }
    // Long or odd unit ids still give valid ids of at most 64 characters.
    let long = "thcs-".to_owned() + &"a-very-long-commune-name".repeat(3);
    let a = school(1, &long, SchoolLevel::LowerSecondary, 2026, Size::Tiny);
    let b = school(
        1,
        &(long.clone() + "x"),
        SchoolLevel::LowerSecondary,
        2026,
        Size::Tiny,
    );
    check_school(&a, SchoolLevel::LowerSecondary, Size::Tiny, 2026);
    assert_ne!(a.students[0].student_id, b.students[0].student_id);
    let odd = school(1, "Trường Kim Liên", SchoolLevel::Primary, 2026, Size::Tiny);
    check_school(&odd, SchoolLevel::Primary, Size::Tiny, 2026);
}

#[test]
fn proportions_are_plausible() {
    let mut students = Vec::new();
    let mut staff = Vec::new();
    for seed in 0..40u64 {
        let level = LEVELS[seed as usize % 3];
        let d = school(seed, &format!("s{seed}"), level, 2026, Size::Realistic);
        students.extend(d.students);
        staff.extend(d.staff);
    }
    let n = students.len() as f64;
    let share = |f: &dyn Fn(&Student) -> bool| students.iter().filter(|s| f(s)).count() as f64 / n;
    let male = share(&|s| s.gender == 'M');
    assert!((0.49..0.54).contains(&male), "male {male}");
    let kinh = share(&|s| s.ethnicity == "Kinh");
    assert!((0.82..0.97).contains(&kinh), "kinh {kinh}");
    let khmer = share(&|s| s.ethnicity == "Khmer");
    assert!(khmer < 0.005, "khmer {khmer}");
    let mut minorities: BTreeMap<&str, usize> = BTreeMap::new();
    for s in students.iter().filter(|s| s.ethnicity != "Kinh") {
        *minorities.entry(&s.ethnicity).or_default() += 1;
    }
    let top = minorities.iter().max_by_key(|(_, n)| **n).map(|(e, _)| *e);
    assert_eq!(top, Some("Mường"));
    let nguyen = share(&|s| s.full_name.starts_with("Nguyễn "));
    assert!((0.30..0.42).contains(&nguyen), "nguyen {nguyen}");
    let dropped = share(&|s| s.status == "dropped_out");
    assert!((0.002..0.02).contains(&dropped), "dropped {dropped}");
    let transferred = share(&|s| s.status == "transferred_out");
    assert!(
        (0.005..0.02).contains(&transferred),
        "transferred {transferred}"
    );
    let thi = share(&|s| s.gender == 'F' && s.full_name.contains(" Thị "));
    assert!(thi < 0.15, "Thị {thi}");

    let m = staff.len() as f64;
    let teachers = staff.iter().filter(|s| s.role == "teacher").count() as f64;
    assert!(teachers / m > 0.75);
    let bachelor = staff
        .iter()
        .filter(|s| s.qualification == "bachelor")
        .count() as f64
        / m;
    assert!((0.65..0.9).contains(&bachelor), "bachelor {bachelor}");
    let female = staff.iter().filter(|s| s.gender == 'F').count() as f64 / m;
    assert!((0.6..0.85).contains(&female), "female staff {female}");
    let left = staff.iter().filter(|s| s.status == "left").count() as f64 / m;
    assert!((0.005..0.06).contains(&left), "left {left}");
}

#[test]
fn csv_quotes_when_needed() {
    let s = Student {
        student_id: "hs-x-0001".into(),
        full_name: "Nguyễn \"Bé\", Văn An".into(),
        gender: 'M',
        birth_date: "2015-01-02".into(),
        grade: 5,
        class_id: "x-5a".into(),
        ethnicity: "Kinh".into(),
        status: "enrolled".into(),
    };
    assert_eq!(
        students_csv(&[s]),
        format!("{STUDENTS_HEADER}\nhs-x-0001,\"Nguyễn \"\"Bé\"\", Văn An\",M,2015-01-02,5,x-5a,Kinh,enrolled\n")
    );
    assert_eq!(
        STAFF_HEADER,
        "staff_id,full_name,gender,birth_date,role,qualification,status"
    );
    assert_eq!(CLASSES_HEADER, "class_id,name,grade,homeroom_staff_id");
    assert_eq!(classes_csv(&[]), "class_id,name,grade,homeroom_staff_id\n");
}

#[test]
fn next_year_moves_everyone_on() {
    for seed in 0..12u64 {
        let level = LEVELS[seed as usize % 3];
        let size = if seed % 6 < 3 {
            Size::Tiny
        } else {
            Size::Realistic
        };
        let unit = format!("{}-nam-hong", level.id_prefix());
        let y1 = school(seed, &unit, level, 2025, size);
        let y2 = next_year(seed, &y1, &unit, level, 2026, size);
        assert_eq!(y2, next_year(seed, &y1, &unit, level, 2026, size));
        assert_ne!(y2.students_csv, y1.students_csv);
        check_school(&y2, level, size, 2026);
        let y3 = next_year(seed, &y2, &unit, level, 2027, size);
        check_school(&y3, level, size, 2027);

        let top = *level.grades().end();
        let first = *level.grades().start();
        let old: HashMap<&str, &Student> = y1
            .students
            .iter()
            .map(|s| (s.student_id.as_str(), s))
            .collect();
        let graduating = y1.enrolled().filter(|s| s.grade == top).count();
        let graduated = y2
            .students
            .iter()
            .filter(|s| s.status == "graduated")
            .count();
        assert_eq!(graduating, graduated);
        for s in &y2.students {
            match old.get(s.student_id.as_str()) {
                Some(o) => {
                    assert_eq!(o.status, "enrolled", "left students are not repeated");
                    assert_eq!((&o.full_name, &o.birth_date), (&s.full_name, &s.birth_date));
                    if s.status == "enrolled" {
                        assert_eq!(s.grade, o.grade + 1);
                    }
                }
                None => assert_eq!(s.status, "enrolled"),
            }
        }
        assert!(y2
            .enrolled()
            .any(|s| s.grade == first && !old.contains_key(s.student_id.as_str())));
        // Teachers who stay keep their homeroom class as it moves up.
        let teachers: HashSet<&str> = y2
            .staff
            .iter()
            .filter(|s| s.status == "active")
            .map(|s| s.staff_id.as_str())
            .collect();
        for c in y1.classes.iter().filter(|c| c.grade < top) {
            if teachers.contains(c.homeroom_staff_id.as_str()) {
                let next = format!("{}{}", c.grade + 1, &c.name[c.grade.to_string().len()..]);
                let moved = y2.classes.iter().find(|x| x.name == next).unwrap();
                assert_eq!(moved.homeroom_staff_id, c.homeroom_staff_id);
            }
        }
    }
}

/// A preschool: its groups NT, MG3, MG4, MG5 as the import writes them, children of the
/// right age, a year later promoted (NT → MG3 …) and the MG5 children gone to school.
#[test]
fn a_preschool_has_its_groups_and_ages() {
    let d = school(
        9,
        "mn-hoa-sen",
        SchoolLevel::Preschool,
        2026,
        Size::Realistic,
    );
    let grades: HashSet<String> = d.classes.iter().map(|c| grade_label(c.grade)).collect();
    assert_eq!(
        grades,
        ["NT", "MG3", "MG4", "MG5"]
            .iter()
            .map(|g| g.to_string())
            .collect()
    );
    assert!(
        d.students_csv.contains(",MG5,"),
        "{}",
        &d.students_csv[..300]
    );
    for s in d.enrolled() {
        let born: i32 = s.birth_date[..4].parse().unwrap();
        let age = 2026 - born;
        let want = age_of_grade(s.grade);
        assert!(
            age == want || age == want + 1,
            "{} is {age}",
            grade_label(s.grade)
        );
    }
    assert!(d
        .classes
        .iter()
        .all(|c| c.name.starts_with(['N', 'M', 'C', 'L'])));
    let next = next_year(
        9,
        &d,
        "mn-hoa-sen",
        SchoolLevel::Preschool,
        2027,
        Size::Realistic,
    );
    let was_nt: HashSet<&str> = d
        .enrolled()
        .filter(|s| s.grade == PRESCHOOL_GRADE)
        .map(|s| s.student_id.as_str())
        .collect();
    let promoted = next
        .students
        .iter()
        .filter(|s| was_nt.contains(s.student_id.as_str()) && s.status == "enrolled")
        .all(|s| grade_label(s.grade) == "MG3");
    assert!(promoted);
    assert!(next
        .students
        .iter()
        .filter(|s| s.status == "graduated")
        .all(|s| grade_label(s.grade) == "MG5"));
}
