//! Per-document counts behind the `stats` endpoint.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Collection, RecordsDoc, Value};

/// Counts from one or more records documents, as the `stats` and `indicators` endpoints
/// report them. Summaries of different documents or units are combined with
/// [`Summary::add`].
///
/// Summaries of `results` and `health` documents count only enrolled students, so they
/// are made by the engine, which joins a document with its school year's students
/// ([`Summary::count_result`], [`Summary::count_exam`]); [`Summary::count`] leaves them
/// out.
#[derive(Default, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Records in classes documents.
    pub classes: u64,
    /// Students whose status is `enrolled`.
    pub enrolled: u64,
    /// Students whose status is `dropped_out`.
    pub dropped_out: u64,
    /// Enrolled students by grade key ([`grade_key`]: 1–12, and the preschool groups);
    /// only grades with at least one.
    pub by_grade: BTreeMap<u8, u64>,
    /// Enrolled students by gender (`"M"`, `"F"`); only genders with at least one.
    pub by_gender: BTreeMap<String, u64>,
    /// Staff whose status is `active`.
    pub staff_active: u64,
    /// Active staff whose role is `teacher`.
    pub teachers: u64,
    /// Active teachers by qualification code; only codes with at least one.
    pub teachers_by_qualification: BTreeMap<String, u64>,
    /// Enrolled students per class id (a students document). Class ids mean something
    /// only within one school: [`Summary::add`] leaves this out.
    pub by_class: BTreeMap<String, u64>,
    /// The grade key of each class id (a classes document); within one school only, as
    /// `by_class`.
    pub class_grades: BTreeMap<String, u8>,
    /// The personal ids (12 digits, as numbers) of enrolled students who have one,
    /// ascending, each as often as it is enrolled (a students document); within one school only, as `by_class`. One id at
    /// two schools is a `duplicate_student` alert.
    pub personal_ids: Vec<u64>,
    /// Results of enrolled students per term code (`HK1`, `HK2`, `CN`).
    pub results: BTreeMap<String, TermResults>,
    /// Enrolled students with a health exam, by their latest exam.
    pub health: HealthCounts,
    /// School profiles.
    pub profile: ProfileCounts,
}

/// Results of one term: students with a result, and of them those rated `excellent` or
/// `good`, for learning (`academic`) and for conduct.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermResults {
    /// Students with an academic result.
    pub academic: u64,
    /// Of them, `excellent` or `good`.
    pub academic_good: u64,
    /// Students with a conduct result.
    pub conduct: u64,
    /// Of them, `excellent` or `good`.
    pub conduct_good: u64,
}

/// Students with a health exam, by the nutrition their latest exam found.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCounts {
    /// Students with an exam.
    pub examined: u64,
    /// `underweight` or `stunted`.
    pub malnourished: u64,
    /// `overweight` or `obese`.
    pub overweight: u64,
}

/// School profiles, added up.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileCounts {
    /// Schools with a profile.
    pub schools: u64,
    /// Solid classrooms (kiên cố).
    pub classrooms_solid: u64,
    /// All classrooms: solid, semi-solid and temporary.
    pub classrooms: u64,
    /// Toilets.
    pub toilets: u64,
    /// Schools with clean water.
    pub clean_water: u64,
    /// Schools at national standard level 1 or 2.
    pub national_standard: u64,
    /// Where the school is, in 1/100,000 of a degree (latitude, longitude); one school's
    /// only: [`Summary::add`] leaves it out.
    pub place: Option<(i32, i32)>,
}

impl ProfileCounts {
    /// The school's place in degrees (latitude, longitude), if its profile gives one.
    pub fn degrees(&self) -> Option<(f64, f64)> {
        self.place
            .map(|(la, lo)| (f64::from(la) / 1e5, f64::from(lo) / 1e5))
    }
}

impl ProfileCounts {
    fn add(&mut self, o: &ProfileCounts) {
        self.schools += o.schools;
        self.classrooms_solid += o.classrooms_solid;
        self.classrooms += o.classrooms;
        self.toilets += o.toilets;
        self.clean_water += o.clean_water;
        self.national_standard += o.national_standard;
    }
}

impl Summary {
    /// Adds `other`'s counts to these (not the per-class maps, which are per school).
    pub fn add(&mut self, other: &Summary) {
        self.classes += other.classes;
        self.enrolled += other.enrolled;
        self.dropped_out += other.dropped_out;
        for (grade, n) in &other.by_grade {
            *self.by_grade.entry(*grade).or_default() += n;
        }
        add_to(&mut self.by_gender, &other.by_gender, |a, b| *a += b);
        self.staff_active += other.staff_active;
        self.teachers += other.teachers;
        add_to(
            &mut self.teachers_by_qualification,
            &other.teachers_by_qualification,
            |a, b| *a += b,
        );
        add_to(&mut self.results, &other.results, |t, r| {
            t.academic += r.academic;
            t.academic_good += r.academic_good;
            t.conduct += r.conduct;
            t.conduct_good += r.conduct_good;
        });
        self.health.examined += other.health.examined;
        self.health.malnourished += other.health.malnourished;
        self.health.overweight += other.health.overweight;
        self.profile.add(&other.profile);
    }

    /// Enrolled students per teacher (0 when there are no teachers).
    pub fn students_per_teacher(&self) -> f64 {
        if self.teachers == 0 {
            0.0
        } else {
            self.enrolled as f64 / self.teachers as f64
        }
    }

    /// Counts one record `id` of `collection` with these fields.
    pub fn count_record(
        &mut self,
        collection: Collection,
        id: &str,
        fields: &BTreeMap<String, Value>,
    ) {
        let values = fields_read(collection).map(|name| fields.get(name).cloned());
        self.count(collection, id, &values);
    }

    /// Counts one record `id` of `collection` whose fields named by [`fields_read`] have
    /// these values (results and health records count nothing here: see [`Summary`]).
    pub fn count(&mut self, collection: Collection, id: &str, fields: &Fields) {
        self.tally(collection, id, fields, true);
    }

    /// Takes back what [`Summary::count`] counted for a record with these values (the
    /// record changed or left): the result is what counting without it gives, keys that
    /// fall to zero left out.
    pub fn uncount(&mut self, collection: Collection, id: &str, fields: &Fields) {
        self.tally(collection, id, fields, false);
    }

    /// Counts the result of an enrolled student for `term`.
    pub fn count_result(&mut self, term: &str, academic: &str, conduct: &str) {
        let good = |v: &str| matches!(v, "excellent" | "good");
        let t = self.results.entry(term.to_string()).or_default();
        if !academic.is_empty() {
            t.academic += 1;
            t.academic_good += u64::from(good(academic));
        }
        if !conduct.is_empty() {
            t.conduct += 1;
            t.conduct_good += u64::from(good(conduct));
        }
    }

    /// Counts the latest health exam of an enrolled student.
    pub fn count_exam(&mut self, nutrition: &str) {
        self.health.examined += 1;
        match nutrition {
            "underweight" | "stunted" => self.health.malnourished += 1,
            "overweight" | "obese" => self.health.overweight += 1,
            _ => {}
        }
    }

    fn tally(&mut self, collection: Collection, id: &str, fields: &Fields, add: bool) {
        fn step(n: &mut u64, by: u64, add: bool) {
            *n = if add { *n + by } else { n.saturating_sub(by) };
        }
        fn step_in<K: Ord>(m: &mut BTreeMap<K, u64>, k: K, add: bool) {
            if add {
                *m.entry(k).or_default() += 1;
            } else if let Some(n) = m.get_mut(&k) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&k);
                }
            }
        }
        let text = |i: usize| fields[i].as_ref().and_then(Value::as_str).unwrap_or("");
        let int = |i: usize| {
            fields[i]
                .as_ref()
                .and_then(Value::as_int)
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0)
        };
        match collection {
            // status, grade, gender, class_id
            Collection::Students => match text(0) {
                "enrolled" => {
                    step(&mut self.enrolled, 1, add);
                    if let Some(grade) = fields[1].as_ref().and_then(grade_key) {
                        step_in(&mut self.by_grade, grade, add);
                    }
                    if !text(2).is_empty() {
                        step_in(&mut self.by_gender, text(2).to_string(), add);
                    }
                    if !text(3).is_empty() {
                        step_in(&mut self.by_class, text(3).to_string(), add);
                    }
                    if let Ok(pid) = text(5).parse::<u64>() {
                        // A multiset: two records of one id count twice.
                        match (self.personal_ids.binary_search(&pid), add) {
                            (Ok(at) | Err(at), true) => self.personal_ids.insert(at, pid),
                            (Ok(at), false) => {
                                self.personal_ids.remove(at);
                            }
                            (Err(_), false) => {}
                        }
                    }
                }
                "dropped_out" => step(&mut self.dropped_out, 1, add),
                _ => {}
            },
            // status, role, qualification
            Collection::Staff => {
                if text(0) == "active" {
                    step(&mut self.staff_active, 1, add);
                    if text(1) == "teacher" {
                        step(&mut self.teachers, 1, add);
                        if !text(2).is_empty() {
                            step_in(&mut self.teachers_by_qualification, text(2).into(), add);
                        }
                    }
                }
            }
            // grade
            Collection::Classes => {
                step(&mut self.classes, 1, add);
                match fields[0].as_ref().and_then(grade_key) {
                    Some(g) if add => {
                        self.class_grades.insert(id.to_string(), g);
                    }
                    _ => {
                        self.class_grades.remove(id);
                    }
                }
            }
            Collection::Results | Collection::Health => {}
            // solid, semi-solid, temporary, toilets, clean water, standard
            Collection::Profile => {
                let p = &mut self.profile;
                step(&mut p.schools, 1, add);
                step(&mut p.classrooms_solid, int(0), add);
                step(&mut p.classrooms, int(0) + int(1) + int(2), add);
                step(&mut p.toilets, int(3), add);
                step(&mut p.clean_water, u64::from(text(4) == "yes"), add);
                let standard = matches!(text(5), "level1" | "level2");
                step(&mut p.national_standard, u64::from(standard), add);
                let degrees = |i: usize| {
                    text(i)
                        .parse::<f64>()
                        .ok()
                        .map(|d| (d * 1e5).round() as i32)
                };
                p.place = match (add, degrees(6), degrees(7)) {
                    (true, Some(la), Some(lo)) => Some((la, lo)),
                    _ => None,
                };
            }
        }
    }
}

/// The values of the fields [`fields_read`] names, in its order.
pub type Fields = [Option<Value>; 8];

/// The fields of a record of `collection` that summaries and look-ups read, in the order
/// [`Summary::count`] takes them (`""`: no field).
pub fn fields_read(collection: Collection) -> [&'static str; 8] {
    match collection {
        Collection::Students => [
            "status",
            "grade",
            "gender",
            "class_id",
            "full_name",
            "personal_id",
            "",
            "",
        ],
        Collection::Staff => [
            "status",
            "role",
            "qualification",
            "gender",
            "full_name",
            "",
            "",
            "",
        ],
        Collection::Classes => ["grade", "name", "", "", "", "", "", ""],
        Collection::Results => ["student_id", "term", "academic", "conduct", "", "", "", ""],
        Collection::Health => ["student_id", "exam_date", "nutrition", "", "", "", "", ""],
        Collection::Profile => [
            "classrooms_solid",
            "classrooms_semi_solid",
            "classrooms_temporary",
            "toilets",
            "clean_water",
            "national_standard",
            "latitude",
            "longitude",
        ],
    }
}

/// The class-size cap of a grade key under the school regulations (CONTRACT Part 2): NT
/// and MG3 25, MG4 30, MG5 35, grades 1–5 35, grades 6–12 45.
pub fn class_cap(key: u8) -> Option<u64> {
    match key {
        1..=5 => Some(35),
        6..=12 => Some(45),
        k if k == PRESCHOOL_KEY || k == PRESCHOOL_KEY + 1 => Some(25),
        k if k == PRESCHOOL_KEY + 2 => Some(30),
        k if k == PRESCHOOL_KEY + 3 => Some(35),
        _ => None,
    }
}

/// Adds each value of `from` into `to` with `add`, cloning a key only when `to` lacks it
/// (sums over a subtree run for every unit on every read).
fn add_to<V: Default + Clone>(
    to: &mut BTreeMap<String, V>,
    from: &BTreeMap<String, V>,
    add: impl Fn(&mut V, &V),
) {
    for (k, v) in from {
        match to.get_mut(k) {
            Some(have) => add(have, v),
            None => {
                let mut fresh = V::default();
                add(&mut fresh, v);
                to.insert(k.clone(), fresh);
            }
        }
    }
}

/// The preschool groups, in order before grade 1: nhà trẻ (under 3), mẫu giáo 3–4, 4–5
/// and 5–6 years (CONTRACT Part 2).
pub const PRESCHOOL_GROUPS: [&str; 4] = ["NT", "MG3", "MG4", "MG5"];

/// The key of the first preschool group in [`Summary::by_grade`] (the others follow).
const PRESCHOOL_KEY: u8 = 0xF0;

/// The key a record's `grade` is counted under in [`Summary::by_grade`]: the grade for
/// 1–12, [`PRESCHOOL_KEY`] onwards for the preschool groups; `None` for anything else.
pub fn grade_key(grade: &Value) -> Option<u8> {
    match grade {
        Value::Int(g) if (1..=12).contains(g) => u8::try_from(*g).ok(),
        Value::Str(s) => PRESCHOOL_GROUPS
            .iter()
            .position(|p| p == s)
            .and_then(|i| u8::try_from(i).ok())
            .map(|i| PRESCHOOL_KEY + i),
        _ => None,
    }
}

/// The code a grade key is reported under: `NT`, `MG3`, `MG4`, `MG5`, `1` … `12`.
pub fn grade_code(key: u8) -> String {
    match key.checked_sub(PRESCHOOL_KEY) {
        Some(i) => PRESCHOOL_GROUPS
            .get(usize::from(i))
            .map_or_else(|| key.to_string(), |p| (*p).to_string()),
        None => key.to_string(),
    }
}

/// The place of a grade code in the chain `NT, MG3, MG4, MG5, 1, 2, …, 12` (for
/// ordering); `None` for anything else.
pub fn grade_rank(code: &str) -> Option<u8> {
    if let Some(i) = PRESCHOOL_GROUPS.iter().position(|p| *p == code) {
        return u8::try_from(i).ok();
    }
    match code.parse::<u8>() {
        Ok(g @ 1..=12) => Some(g + 3),
        _ => None,
    }
}

/// The level of a grade key: `preschool` (NT–MG5), `primary` (1–5), `lower_secondary`
/// (6–9), `upper_secondary` (10–12).
pub fn level_of_grade(key: u8) -> Option<&'static str> {
    match key {
        1..=5 => Some("primary"),
        6..=9 => Some("lower_secondary"),
        10..=12 => Some("upper_secondary"),
        k if (PRESCHOOL_KEY..PRESCHOOL_KEY + 4).contains(&k) => Some("preschool"),
        _ => None,
    }
}

/// The counts of one document of `collection` ([`Summary::count`] of each record).
pub fn summarize(collection: Collection, doc: &RecordsDoc) -> Summary {
    let mut summary = Summary::default();
    doc.for_each_record_fields(fields_read(collection), |id, fields| {
        summary.count(collection, id, fields);
    });
    summary
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{parse_import, Row};
    use proptest::prelude::*;

    fn doc_from_csv(collection: Collection, csv: &str) -> RecordsDoc {
        let rows = parse_import(collection, None, csv.as_bytes()).unwrap();
        let mut doc = RecordsDoc::new(b"t");
        doc.upsert(&rows).unwrap();
        doc
    }

    #[test]
    fn hand_counted() {
        let students = doc_from_csv(
            Collection::Students,
            "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n\
             1,A,M,2014-01-01,5,5A,Kinh,enrolled\n\
             2,B,F,2014-01-01,5,5A,Kinh,Đang học\n\
             3,C,F,2013-01-01,6,6A,Tày,enrolled\n\
             4,D,M,2013-01-01,6,6A,Tày,dropped_out\n\
             5,E,M,2013-01-01,7,7A,Tày,Bỏ học\n\
             6,F,M,2010-01-01,9,9A,Kinh,graduated\n\
             7,G,F,2013-01-01,8,8A,Kinh,transferred_out\n",
        );
        let staff = doc_from_csv(
            Collection::Staff,
            "staff_id,full_name,gender,birth_date,role,qualification,status\n\
             1,A,F,1980-01-01,teacher,bachelor,active\n\
             2,B,M,1980-01-01,teacher,master,left\n\
             3,C,F,1980-01-01,manager,master,active\n\
             4,D,F,1980-01-01,support,college,active\n",
        );
        let classes = doc_from_csv(
            Collection::Classes,
            "class_id,name,grade,homeroom_staff_id\n5A,Lớp 5A,5,1\n6A,Lớp 6A,6,\n",
        );

        let s = summarize(Collection::Students, &students);
        assert_eq!(s.enrolled, 3);
        assert_eq!(s.dropped_out, 2);
        assert_eq!(s.by_grade, BTreeMap::from([(5, 2), (6, 1)]));
        assert_eq!(
            s.by_gender,
            BTreeMap::from([("F".to_owned(), 2), ("M".to_owned(), 1)])
        );
        let t = summarize(Collection::Staff, &staff);
        assert_eq!((t.staff_active, t.teachers), (3, 1));
        let c = summarize(Collection::Classes, &classes);
        assert_eq!(c.classes, 2);
        assert_eq!(
            c.class_grades,
            BTreeMap::from([("5A".into(), 5), ("6A".into(), 6)])
        );
        assert_eq!(
            s.by_class,
            BTreeMap::from([("5A".into(), 2), ("6A".into(), 1)])
        );
        assert_eq!(
            t.teachers_by_qualification,
            BTreeMap::from([("bachelor".into(), 1)])
        );

        let mut total = Summary::default();
        for part in [&s, &t, &c, &s] {
            total.add(part);
        }
        assert_eq!(total.enrolled, 6);
        assert_eq!(total.by_grade[&5], 4);
        assert_eq!(total.by_gender["F"], 4);
        assert_eq!(
            (total.staff_active, total.teachers, total.classes),
            (3, 1, 2)
        );
        assert_eq!(total.students_per_teacher(), 6.0);
        assert_eq!(Summary::default().students_per_teacher(), 0.0);
    }

    fn student_row() -> impl Strategy<Value = (u8, u8, u8, u8)> {
        // (id suffix seed, grade, gender, status)
        (0u8..=255, 1u8..=12, 0u8..2, 0u8..4)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn summary_equals_direct_count(
            batches in proptest::collection::vec(
                proptest::collection::vec(student_row(), 0..40), 1..4)
        ) {
            const STATUSES: [&str; 4] = ["enrolled", "dropped_out", "transferred_out", "graduated"];
            let mut doc = RecordsDoc::new(b"prop");
            // Latest value per id, as upserts overwrite.
            let mut latest: BTreeMap<String, (u8, &str, &str)> = BTreeMap::new();
            for batch in &batches {
                let mut rows = Vec::new();
                for (seed, grade, gender, status) in batch {
                    let id = format!("HS{seed}");
                    let gender = if *gender == 0 { "M" } else { "F" };
                    let status = STATUSES[usize::from(*status)];
                    let fields = BTreeMap::from([
                        ("full_name".to_owned(), Value::Str("X".into())),
                        ("grade".to_owned(), Value::Int(i64::from(*grade))),
                        ("gender".to_owned(), Value::Str(gender.into())),
                        ("status".to_owned(), Value::Str(status.into())),
                        ("class_id".to_owned(), Value::Str(format!("{grade}A"))),
                    ]);
                    latest.insert(id.clone(), (*grade, gender, status));
                    rows.push(Row { id, fields });
                }
                doc.upsert(&rows).unwrap();
            }
            let mut expected = Summary::default();
            for (grade, gender, status) in latest.values() {
                match *status {
                    "enrolled" => {
                        expected.enrolled += 1;
                        *expected.by_grade.entry(*grade).or_default() += 1;
                        *expected.by_gender.entry((*gender).to_owned()).or_default() += 1;
                        *expected.by_class.entry(format!("{grade}A")).or_default() += 1;
                    }
                    "dropped_out" => expected.dropped_out += 1,
                    _ => {}
                }
            }
            prop_assert_eq!(summarize(Collection::Students, &doc), expected);
            // And it survives a save/load round trip.
            let loaded = RecordsDoc::load(&doc.save(), b"other").unwrap();
            prop_assert_eq!(summarize(Collection::Students, &loaded), summarize(Collection::Students, &doc));
        }
    }
}
