//! Rosters of one school: students, staff and classes, as records and as CSV.

use std::collections::{BTreeMap, HashSet};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::names::{self, Weighted};
use crate::topology::{slug, SchoolLevel};

/// Header row of the `students` import (CONTRACT.md).
pub const STUDENTS_HEADER: &str =
    "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status";
/// Header row of the `staff` import (CONTRACT.md).
pub const STAFF_HEADER: &str = "staff_id,full_name,gender,birth_date,role,qualification,status";
/// Header row of the `classes` import (CONTRACT.md).
pub const CLASSES_HEADER: &str = "class_id,name,grade,homeroom_staff_id";

const ENROLLED: &str = "enrolled";
const DROPPED: &str = "dropped_out";
const TRANSFERRED: &str = "transferred_out";
const GRADUATED: &str = "graduated";
const ACTIVE: &str = "active";
const LEFT: &str = "left";
const TEACHER: &str = "teacher";
const MANAGER: &str = "manager";
const SUPPORT: &str = "support";

/// How big a generated school is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Size {
    /// For fast tests: two classes (first and last grade of the level) of 18–40
    /// students, two managers, three teachers and one support worker.
    Tiny,
    /// Like a real school: primary 300–900 students in classes of 30–35, THCS about
    /// 400–1,100 and THPT 650–1,500 in classes of 34–45; one teacher per 18–22
    /// students, 2–4 managers, a few support staff.
    Realistic,
}

/// One row of the `students` import.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Student {
    /// Network-wide unique id, `hs-<unit>-NNNN`.
    pub student_id: String,
    /// Full name, family name first ("Nguyễn Thị Thu Hà").
    pub full_name: String,
    /// 'M' or 'F'.
    pub gender: char,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// 1–12, within the school's level.
    pub grade: u8,
    /// The class the student is (or, if no longer enrolled, was last) in.
    pub class_id: String,
    /// Ethnic group ("Kinh", "Mường", "Tày", ...).
    pub ethnicity: String,
    /// `enrolled`, `dropped_out`, `transferred_out` or `graduated`.
    pub status: String,
}

/// One row of the `staff` import.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Staff {
    /// Network-wide unique id, `cb-<unit>-NNN`.
    pub staff_id: String,
    /// Full name, family name first.
    pub full_name: String,
    /// 'M' or 'F'.
    pub gender: char,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// `teacher`, `manager` or `support`.
    pub role: String,
    /// `below_standard`, `college`, `bachelor`, `master` or `doctor`.
    pub qualification: String,
    /// `active` or `left`.
    pub status: String,
}

/// One row of the `classes` import.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Class {
    /// Network-wide unique id, `<unit>-<lowercased name>` (e.g. `thcs-tam-hiep-6a1`).
    pub class_id: String,
    /// Display name: "1A", "1B" in primary schools, "6A1", "10A3" in secondary ones.
    pub name: String,
    /// The grade of every enrolled student of the class.
    pub grade: u8,
    /// Staff id of the homeroom teacher (an active teacher of the school).
    pub homeroom_staff_id: String,
}

/// One school year's data of one school, as records and as import-ready CSV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolData {
    /// The `students` import: [`STUDENTS_HEADER`] and one line per student.
    pub students_csv: String,
    /// The `staff` import: [`STAFF_HEADER`] and one line per staff member.
    pub staff_csv: String,
    /// The `classes` import: [`CLASSES_HEADER`] and one line per class.
    pub classes_csv: String,
    /// The students, by grade, class and name (given name first, Vietnamese style).
    pub students: Vec<Student>,
    /// The staff: managers, teachers, support, then those who left.
    pub staff: Vec<Staff>,
    /// The classes, by grade and name.
    pub classes: Vec<Class>,
}

impl SchoolData {
    /// Bundles records and renders their CSV.
    pub fn from_parts(students: Vec<Student>, staff: Vec<Staff>, classes: Vec<Class>) -> Self {
        Self {
            students_csv: students_csv(&students),
            staff_csv: staff_csv(&staff),
            classes_csv: classes_csv(&classes),
            students,
            staff,
            classes,
        }
    }

    /// The students whose status is `enrolled`.
    pub fn enrolled(&self) -> impl Iterator<Item = &Student> {
        self.students.iter().filter(|s| s.status == ENROLLED)
    }
}

/// Students as CSV: header, one line per row, `\n` endings, quoting where needed.
pub fn students_csv(rows: &[Student]) -> String {
    render(
        STUDENTS_HEADER,
        rows.iter().map(|s| {
            let grade = crate::grade_label(s.grade);
            let gender = s.gender.to_string();
            csv_line(&[
                &s.student_id,
                &s.full_name,
                &gender,
                &s.birth_date,
                &grade,
                &s.class_id,
                &s.ethnicity,
                &s.status,
            ])
        }),
    )
}

/// Staff as CSV: header, one line per row, `\n` endings, quoting where needed.
pub fn staff_csv(rows: &[Staff]) -> String {
    render(
        STAFF_HEADER,
        rows.iter().map(|s| {
            let gender = s.gender.to_string();
            csv_line(&[
                &s.staff_id,
                &s.full_name,
                &gender,
                &s.birth_date,
                &s.role,
                &s.qualification,
                &s.status,
            ])
        }),
    )
}

/// Classes as CSV: header, one line per row, `\n` endings, quoting where needed.
pub fn classes_csv(rows: &[Class]) -> String {
    render(
        CLASSES_HEADER,
        rows.iter().map(|c| {
            let grade = crate::grade_label(c.grade);
            csv_line(&[&c.class_id, &c.name, &grade, &c.homeroom_staff_id])
        }),
    )
}

fn render(header: &str, lines: impl Iterator<Item = String>) -> String {
    let mut out = format!("{header}\n");
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn csv_line(fields: &[&str]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                (*f).to_owned()
            }
        })
        .collect();
    quoted.join(",")
}

/// One school year of a school: classes filled with students, staff to teach them, a
/// homeroom teacher for every class.
///
/// The output depends only on the arguments: `unit_id`, `level` and
/// `school_year_start` are mixed into `seed`, so one network seed gives every school
/// different people. Students are `school_year_start - grade - 5` years old at the
/// start of the year (a few one year older); class sizes count enrolled students, and
/// students who dropped out or transferred out during the year (about 1% each, fewer
/// dropouts in primary) are listed in addition, with their last class. About a third of
/// schools serve areas with ethnic-minority communities (10–40% non-Kinh, mostly
/// Mường); elsewhere 0.5–3% of students are non-Kinh.
pub fn school(
    seed: u64,
    unit_id: &str,
    level: SchoolLevel,
    school_year_start: i32,
    size: Size,
) -> SchoolData {
    let mut g = Gen::new(seed, b"school", unit_id, level, school_year_start, size);
    g.minority = g.draw_minority();
    let grades = level.grades();
    let (first, top) = (*grades.start(), *grades.end());
    let plan: Vec<(u8, usize)> = match size {
        Size::Tiny => vec![(first, 1), (top, 1)],
        Size::Realistic => {
            let (kmin, kmax) = classes_per_grade(level);
            let base = g.rng.gen_range(kmin..=kmax);
            grades
                .map(|grade| {
                    let jitter: i64 = if g.rng.gen_bool(0.3) {
                        g.rng.gen_range(-1..=1)
                    } else {
                        0
                    };
                    let k = (base as i64 + jitter).clamp(kmin as i64, kmax as i64);
                    (grade, k as usize)
                })
                .collect()
        }
    };
    let (lo, hi) = class_bounds(level, size);
    let mut classes = Vec::new();
    let mut students = Vec::new();
    for (grade, k) in plan {
        for i in 0..k {
            let name = class_name(level, grade, i);
            let class_id = g.class_id(&name);
            let n = g.rng.gen_range(lo..=hi);
            for _ in 0..n {
                students.push(g.student(grade, &class_id, ENROLLED));
                if let Some(status) = g.departure() {
                    students.push(g.student(grade, &class_id, status));
                }
            }
            classes.push(Class {
                class_id,
                name,
                grade,
                homeroom_staff_id: String::new(),
            });
        }
    }
    sort_classes(&mut classes);
    sort_students(&mut students, &classes);
    for s in &mut students {
        s.student_id = g.student_id();
    }

    let enrolled = students.iter().filter(|s| s.status == ENROLLED).count();
    let (managers, teachers, support, left) = match size {
        Size::Tiny => (2, classes.len() + 1, 1, 0),
        Size::Realistic => {
            let ratio = g.rng.gen_range(18.0..22.0);
            let teachers = ((enrolled as f64 / ratio).ceil() as usize).max(classes.len());
            let support = 3 + classes.len() / 10 + g.rng.gen_range(0..=2);
            let total = (2 + teachers + support) as f64;
            let left = (total * g.rng.gen_range(0.01..0.05)).round() as usize;
            (managers_for(classes.len()), teachers, support, left)
        }
    };
    let mut staff = Vec::new();
    for (role, n) in [(MANAGER, managers), (TEACHER, teachers), (SUPPORT, support)] {
        for _ in 0..n {
            staff.push(g.staff(role, false));
        }
    }
    for _ in 0..left {
        let role = if g.rng.gen_bool(0.85) {
            TEACHER
        } else {
            SUPPORT
        };
        let mut s = g.staff(role, false);
        s.status = LEFT.to_owned();
        staff.push(s);
    }
    assign_homerooms(&mut g, &mut classes, &mut staff);
    SchoolData::from_parts(students, staff, classes)
}

/// The next school year of a school generated by [`school`] (or by `next_year`):
/// `school_year_start` is the new year, `unit_id`, `level` and `size` as before.
///
/// Students who were enrolled move up a grade with their class (6A1 becomes 7A1, usually
/// keeping its homeroom teacher); the top grade graduates (status `graduated`, grade and
/// class unchanged); about 1% drop out and 1% transfer out (keeping their last grade and
/// class); classes that fell below the minimum size take in transferring students; a new
/// intake fills the first grade. Staff past retirement age (women 57, men 61) and about
/// 2% more leave; managers and support staff are replaced, teachers are hired to keep
/// one per 18–22 students. Students and staff who had already left are not repeated;
/// new people get ids after the highest existing ones.
pub fn next_year(
    seed: u64,
    prev: &SchoolData,
    unit_id: &str,
    level: SchoolLevel,
    school_year_start: i32,
    size: Size,
) -> SchoolData {
    let mut g = Gen::new(seed, b"next-year", unit_id, level, school_year_start, size);
    let kinh = prev
        .students
        .iter()
        .filter(|s| s.ethnicity == "Kinh")
        .count();
    g.minority = match prev.students.len() {
        0 => g.draw_minority(),
        n => 1.0 - kinh as f64 / n as f64,
    };
    g.next_student = 1 + max_suffix(prev.students.iter().map(|s| s.student_id.as_str()));
    g.next_staff = 1 + max_suffix(prev.staff.iter().map(|s| s.staff_id.as_str()));
    let grades = level.grades();
    let (first, top) = (*grades.start(), *grades.end());
    let (lo, hi) = class_bounds(level, size);

    // Staff: retirements and departures, managers and support replaced one for one.
    let mut staff = Vec::new();
    let mut replace = Vec::new();
    for s in prev.staff.iter().filter(|s| s.status == ACTIVE) {
        let mut s = s.clone();
        let born: i32 = s
            .birth_date
            .get(..4)
            .and_then(|y| y.parse().ok())
            .unwrap_or(0);
        let age = school_year_start - born;
        let retiring = age >= if s.gender == 'F' { 57 } else { 61 };
        if retiring || g.rng.gen_bool(0.02) {
            s.status = LEFT.to_owned();
            if s.role != TEACHER {
                replace.push(s.role.clone());
            }
        }
        staff.push(s);
    }
    for role in replace {
        let s = g.staff(&role, true);
        staff.push(s);
    }
    let active_teachers: HashSet<String> = staff
        .iter()
        .filter(|s| s.status == ACTIVE && s.role == TEACHER)
        .map(|s| s.staff_id.clone())
        .collect();

    // Classes move up a grade, keeping their suffix and, if still here, their teacher.
    let mut classes = Vec::new();
    let mut moved = BTreeMap::new();
    for c in prev
        .classes
        .iter()
        .filter(|c| grades.contains(&c.grade) && c.grade < top)
    {
        let name = format!(
            "{}{}",
            c.grade + 1,
            c.name.trim_start_matches(|ch: char| ch.is_ascii_digit())
        );
        let class_id = g.class_id(&name);
        let homeroom_staff_id = if active_teachers.contains(&c.homeroom_staff_id) {
            c.homeroom_staff_id.clone()
        } else {
            String::new()
        };
        moved.insert(c.class_id.clone(), class_id.clone());
        classes.push(Class {
            class_id,
            name,
            grade: c.grade + 1,
            homeroom_staff_id,
        });
    }

    // Students: graduate, leave, or move up.
    let mut students = Vec::new();
    let mut orphans = Vec::new();
    for s in prev.students.iter().filter(|s| s.status == ENROLLED) {
        let mut s = s.clone();
        if s.grade >= top {
            s.status = GRADUATED.to_owned();
        } else if let Some(status) = g.departure() {
            s.status = status.to_owned();
        } else {
            s.grade += 1;
            match moved.get(&s.class_id) {
                Some(id) => s.class_id = id.clone(),
                None => {
                    orphans.push(s);
                    continue;
                }
            }
        }
        students.push(s);
    }
    for mut s in orphans {
        let fewest = classes
            .iter()
            .filter(|c| c.grade == s.grade)
            .min_by_key(|c| students.iter().filter(|x| x.class_id == c.class_id).count());
        s.class_id = match fewest {
            Some(c) => c.class_id.clone(),
            None => {
                let name = class_name(level, s.grade, 0);
                let class_id = g.class_id(&name);
                classes.push(Class {
                    class_id: class_id.clone(),
                    name,
                    grade: s.grade,
                    homeroom_staff_id: String::new(),
                });
                class_id
            }
        };
        students.push(s);
    }

    // Transfers in, to keep classes at a reasonable size.
    for c in &classes {
        let n = students
            .iter()
            .filter(|s| s.status == ENROLLED && s.class_id == c.class_id)
            .count();
        let add = if n < lo {
            lo - n
        } else {
            usize::from(n < hi && g.rng.gen_bool(0.15))
        };
        for _ in 0..add {
            let mut s = g.student(c.grade, &c.class_id, ENROLLED);
            s.student_id = g.student_id();
            students.push(s);
        }
    }

    // New intake in the first grade.
    let k = match size {
        Size::Tiny => 1,
        Size::Realistic => {
            let (kmin, kmax) = classes_per_grade(level);
            let before = prev
                .classes
                .iter()
                .filter(|c| c.grade == first)
                .count()
                .max(kmin) as i64;
            let jitter: i64 = if g.rng.gen_bool(0.25) {
                g.rng.gen_range(-1..=1)
            } else {
                0
            };
            (before + jitter).clamp(kmin as i64, kmax as i64) as usize
        }
    };
    let mut intake = Vec::new();
    for i in 0..k {
        let name = class_name(level, first, i);
        let class_id = g.class_id(&name);
        for _ in 0..g.rng.gen_range(lo..=hi) {
            intake.push(g.student(first, &class_id, ENROLLED));
        }
        classes.push(Class {
            class_id,
            name,
            grade: first,
            homeroom_staff_id: String::new(),
        });
    }
    sort_classes(&mut classes);
    sort_students(&mut intake, &classes);
    for mut s in intake {
        s.student_id = g.student_id();
        students.push(s);
    }
    sort_students(&mut students, &classes);

    // Teachers: enough for the students and one per class.
    let enrolled = students.iter().filter(|s| s.status == ENROLLED).count();
    let target = match size {
        Size::Tiny => classes.len() + 1,
        Size::Realistic => {
            let ratio = g.rng.gen_range(18.0..22.0);
            ((enrolled as f64 / ratio).ceil() as usize).max(classes.len())
        }
    };
    let have = staff
        .iter()
        .filter(|s| s.status == ACTIVE && s.role == TEACHER)
        .count();
    for _ in have..target {
        let s = g.staff(TEACHER, true);
        staff.push(s);
    }
    assign_homerooms(&mut g, &mut classes, &mut staff);
    SchoolData::from_parts(students, staff, classes)
}

/// Gives every class without one a homeroom teacher: an active teacher who has none yet,
/// or a newly hired one.
fn assign_homerooms(g: &mut Gen, classes: &mut [Class], staff: &mut Vec<Staff>) {
    let taken: HashSet<String> = classes
        .iter()
        .map(|c| c.homeroom_staff_id.clone())
        .collect();
    let mut free: Vec<String> = staff
        .iter()
        .filter(|s| s.status == ACTIVE && s.role == TEACHER && !taken.contains(&s.staff_id))
        .map(|s| s.staff_id.clone())
        .collect();
    free.shuffle(&mut g.rng);
    for c in classes
        .iter_mut()
        .filter(|c| c.homeroom_staff_id.is_empty())
    {
        c.homeroom_staff_id = match free.pop() {
            Some(id) => id,
            None => {
                let s = g.staff(TEACHER, true);
                let id = s.staff_id.clone();
                staff.push(s);
                id
            }
        };
    }
}

/// Range of classes per grade for a realistic school.
fn classes_per_grade(level: SchoolLevel) -> (usize, usize) {
    match level {
        SchoolLevel::Preschool => (1, 3),
        SchoolLevel::Primary => (2, 5),
        SchoolLevel::LowerSecondary => (3, 6),
        SchoolLevel::UpperSecondary => (6, 11),
    }
}

/// Range of enrolled students per class.
fn class_bounds(level: SchoolLevel, size: Size) -> (usize, usize) {
    match (size, level) {
        (Size::Tiny, SchoolLevel::Preschool) => (15, 28),
        (Size::Tiny, _) => (18, 40),
        (Size::Realistic, SchoolLevel::Preschool) => (20, 30),
        (Size::Realistic, SchoolLevel::Primary) => (30, 35),
        (Size::Realistic, SchoolLevel::LowerSecondary) => (34, 45),
        (Size::Realistic, SchoolLevel::UpperSecondary) => (36, 45),
    }
}

/// One principal plus one to three deputies, by number of classes.
fn managers_for(classes: usize) -> usize {
    match classes {
        0..20 => 2,
        20..30 => 3,
        _ => 4,
    }
}

/// "1A", "1B", ... in primary schools; "6A1", "6A2", ... in secondary ones.
fn class_name(level: SchoolLevel, grade: u8, index: usize) -> String {
    if level == SchoolLevel::Preschool {
        // Nhà trẻ, then the kindergarten's mầm, chồi, lá groups.
        let group = ["Nhà trẻ", "Mầm", "Chồi", "Lá"]
            [usize::from(grade.saturating_sub(crate::PRESCHOOL_GRADE)).min(3)];
        return format!("{group} {}", index + 1);
    }
    match (level, u8::try_from(index)) {
        (SchoolLevel::Primary, Ok(i)) if i < 26 => format!("{grade}{}", char::from(b'A' + i)),
        _ => format!("{grade}A{}", index + 1),
    }
}

fn sort_classes(classes: &mut [Class]) {
    classes.sort_by(|a, b| (a.grade, a.name.len(), &a.name).cmp(&(b.grade, b.name.len(), &b.name)));
}

/// By grade, class, enrolled first, then name as Vietnamese lists sort it: given name,
/// middle names, family name.
fn sort_students(students: &mut [Student], classes: &[Class]) {
    let order: BTreeMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.class_id.as_str(), i))
        .collect();
    students.sort_by_cached_key(|s| {
        let words: Vec<&str> = s.full_name.split_whitespace().collect();
        let key = match words.as_slice() {
            [family, middle @ .., given] => {
                format!(
                    "{} {} {}",
                    slug(given),
                    slug(&middle.join(" ")),
                    slug(family)
                )
            }
            _ => slug(&s.full_name),
        };
        let class = order
            .get(s.class_id.as_str())
            .copied()
            .unwrap_or(usize::MAX);
        (
            s.grade,
            class,
            s.status != ENROLLED,
            key,
            s.full_name.clone(),
        )
    });
}

/// Largest number after the last '-' among `ids` (0 if none).
fn max_suffix<'a>(ids: impl Iterator<Item = &'a str>) -> usize {
    ids.filter_map(|id| id.rsplit('-').next()?.parse::<usize>().ok())
        .max()
        .unwrap_or(0)
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut r = rng.gen_range(0..total.max(1));
    for item in items {
        let w = weight(item);
        if r < w {
            return item;
        }
        r -= w;
    }
    &items[items.len() - 1]
}

fn pick_name(rng: &mut ChaCha8Rng, items: &[Weighted]) -> &'static str {
    pick(rng, items, |w| w.1).0
}

/// Generator state for one school and one school year.
struct Gen {
    rng: ChaCha8Rng,
    /// Unit id as used inside generated ids (at most 52 characters).
    base: String,
    level: SchoolLevel,
    year: i32,
    /// Share of students from ethnic minorities.
    minority: f64,
    next_student: usize,
    next_staff: usize,
}

impl Gen {
    fn new(
        seed: u64,
        what: &[u8],
        unit_id: &str,
        level: SchoolLevel,
        year: i32,
        size: Size,
    ) -> Self {
        let s = crate::mix(
            seed,
            &[
                what,
                unit_id.as_bytes(),
                level.id_prefix().as_bytes(),
                &year.to_le_bytes(),
                &[size as u8],
            ],
        );
        let valid = !unit_id.is_empty()
            && unit_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let mut base = if valid {
            unit_id.to_owned()
        } else {
            slug(unit_id)
        };
        if base.len() > 52 {
            let hash = crate::mix(0, &[unit_id.as_bytes()]);
            base = format!("{}-{:08x}", base[..43].trim_end_matches('-'), hash as u32);
        }
        Self {
            rng: ChaCha8Rng::seed_from_u64(s),
            base,
            level,
            year,
            minority: 0.0,
            next_student: 1,
            next_staff: 1,
        }
    }

    fn draw_minority(&mut self) -> f64 {
        if self.rng.gen_bool(0.35) {
            self.rng.gen_range(0.10..0.40)
        } else {
            self.rng.gen_range(0.005..0.03)
        }
    }

    /// `<unit>-<name as a slug>`: `thcs-x-6a1`, `mn-x-nha-tre-1`.
    fn class_id(&self, name: &str) -> String {
        format!("{}-{}", self.base, crate::slug(name))
    }

    fn student_id(&mut self) -> String {
        let id = format!("hs-{}-{:04}", self.base, self.next_student);
        self.next_student += 1;
        id
    }

    fn staff_id(&mut self) -> String {
        let id = format!("cb-{}-{:03}", self.base, self.next_staff);
        self.next_staff += 1;
        id
    }

    /// Whether a student leaves during the year, and how.
    fn departure(&mut self) -> Option<&'static str> {
        let drop = match self.level {
            SchoolLevel::Preschool => 0.0,
            SchoolLevel::Primary => 0.002,
            SchoolLevel::LowerSecondary => 0.008,
            SchoolLevel::UpperSecondary => 0.012,
        };
        let r: f64 = self.rng.gen();
        if r < drop {
            Some(DROPPED)
        } else if r < drop + 0.01 {
            Some(TRANSFERRED)
        } else {
            None
        }
    }

    fn date(&mut self, year: i32) -> String {
        let month = self.rng.gen_range(1..=12u32);
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days = match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let day = self.rng.gen_range(1..=days);
        format!("{year:04}-{month:02}-{day:02}")
    }

    /// A student without id.
    fn student(&mut self, grade: u8, class_id: &str, status: &str) -> Student {
        let gender = if self.rng.gen_bool(0.515) { 'M' } else { 'F' };
        let ethnicity = if self.rng.gen_bool(self.minority.clamp(0.0, 1.0)) {
            pick(&mut self.rng, names::MINORITIES, |m| m.1).0
        } else {
            "Kinh"
        };
        let late = self
            .rng
            .gen_bool(if ethnicity == "Kinh" { 0.02 } else { 0.06 });
        let born = self.year - crate::age_of_grade(grade) - i32::from(late);
        Student {
            student_id: String::new(),
            full_name: self.name(gender, ethnicity, false),
            gender,
            birth_date: self.date(born),
            grade,
            class_id: class_id.to_owned(),
            ethnicity: ethnicity.to_owned(),
            status: status.to_owned(),
        }
    }

    /// An active staff member with a fresh id; `hire` makes a teacher young.
    fn staff(&mut self, role: &str, hire: bool) -> Staff {
        let p_female = match (role, self.level) {
            (TEACHER | MANAGER, SchoolLevel::Preschool) => 0.99,
            (TEACHER, SchoolLevel::Primary) => 0.88,
            (TEACHER, SchoolLevel::LowerSecondary) => 0.75,
            (TEACHER, SchoolLevel::UpperSecondary) => 0.65,
            (MANAGER, SchoolLevel::Primary) => 0.6,
            (MANAGER, _) => 0.45,
            _ => 0.6,
        };
        let gender = if self.rng.gen_bool(p_female) {
            'F'
        } else {
            'M'
        };
        let age = match role {
            TEACHER if hire => self.rng.gen_range(22..=30),
            TEACHER => 23 + self.rng.gen_range(0..=17) + self.rng.gen_range(0..=17),
            MANAGER => self.rng.gen_range(36..=57),
            _ => self.rng.gen_range(22..=57),
        };
        let age = age.min(if gender == 'F' { 56 } else { 60 });
        let qualification = pick_name(&mut self.rng, qualifications(role, self.level));
        let ethnicity = if self.rng.gen_bool((self.minority / 2.0).clamp(0.0, 1.0)) {
            pick(&mut self.rng, names::MINORITIES, |m| m.1).0
        } else {
            "Kinh"
        };
        Staff {
            staff_id: self.staff_id(),
            full_name: self.name(gender, ethnicity, true),
            gender,
            birth_date: self.date(self.year - age),
            role: role.to_owned(),
            qualification: qualification.to_owned(),
            status: ACTIVE.to_owned(),
        }
    }

    /// A full name, family name first; `adult` favours the older "Văn"/"Thị" middles.
    fn name(&mut self, gender: char, ethnicity: &str, adult: bool) -> String {
        let rng = &mut self.rng;
        let local = names::MINORITIES
            .iter()
            .find(|m| m.0 == ethnicity)
            .map(|m| m.2);
        let family = match local {
            Some(list) if !list.is_empty() && rng.gen_bool(0.8) => {
                list[rng.gen_range(0..list.len())]
            }
            _ => pick_name(rng, names::FAMILY),
        };
        let male = gender == 'M';
        if ethnicity == "Mông" {
            let (middles, givens): (&[&str], &[&str]) = if male {
                (&["A", "Seo", "Văn"], names::MONG_MALE)
            } else {
                (&["Thị"], names::MONG_FEMALE)
            };
            let middle = middles[rng.gen_range(0..middles.len())];
            let given = givens[rng.gen_range(0..givens.len())];
            return format!("{family} {middle} {given}");
        }
        let (middles, givens) = if male {
            (names::MIDDLE_MALE, names::GIVEN_MALE)
        } else {
            (names::MIDDLE_FEMALE, names::GIVEN_FEMALE)
        };
        let weight = |m: &(&str, u32, u32)| if adult { m.2 } else { m.1 };
        let middle = pick(rng, middles, weight).0;
        let mut given = pick_name(rng, givens);
        for _ in 0..8 {
            if given != middle {
                break;
            }
            given = pick_name(rng, givens);
        }
        let second = rng.gen_bool(if male { 0.08 } else { 0.2 });
        if second {
            let extra = pick(rng, middles, |m| m.1).0;
            if extra != middle && extra != given && extra != "Thị" && extra != "Văn" {
                return format!("{family} {middle} {extra} {given}");
            }
        }
        format!("{family} {middle} {given}")
    }
}

fn qualifications(role: &str, level: SchoolLevel) -> &'static [Weighted] {
    match (role, level) {
        (TEACHER, SchoolLevel::Preschool) => &[
            ("below_standard", 30),
            ("college", 520),
            ("bachelor", 440),
            ("master", 10),
        ],
        (TEACHER, SchoolLevel::Primary) => &[
            ("below_standard", 8),
            ("college", 100),
            ("bachelor", 842),
            ("master", 50),
        ],
        (TEACHER, SchoolLevel::LowerSecondary) => &[
            ("below_standard", 5),
            ("college", 50),
            ("bachelor", 850),
            ("master", 95),
        ],
        (TEACHER, SchoolLevel::UpperSecondary) => &[
            ("below_standard", 2),
            ("college", 5),
            ("bachelor", 780),
            ("master", 198),
            ("doctor", 15),
        ],
        (MANAGER, SchoolLevel::Primary) => &[("bachelor", 70), ("master", 30)],
        (MANAGER, _) => &[("bachelor", 55), ("master", 43), ("doctor", 2)],
        _ => &[("below_standard", 35), ("college", 35), ("bachelor", 30)],
    }
}
