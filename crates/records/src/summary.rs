//! Per-document counts behind the `stats` endpoint.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Collection, RecordsDoc, Value};

/// Counts from one or more records documents, as the `stats` endpoint reports
/// them. Summaries of different documents or units are combined with
/// [`Summary::add`].
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
}

impl Summary {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Summary) {
        self.classes += other.classes;
        self.enrolled += other.enrolled;
        self.dropped_out += other.dropped_out;
        for (grade, n) in &other.by_grade {
            *self.by_grade.entry(*grade).or_default() += n;
        }
        for (gender, n) in &other.by_gender {
            *self.by_gender.entry(gender.clone()).or_default() += n;
        }
        self.staff_active += other.staff_active;
        self.teachers += other.teachers;
    }

    /// Enrolled students per teacher (0 when there are no teachers).
    pub fn students_per_teacher(&self) -> f64 {
        if self.teachers == 0 {
            0.0
        } else {
            self.enrolled as f64 / self.teachers as f64
        }
    }

    /// Counts one record of `collection` with these fields.
    pub fn count_record(&mut self, collection: Collection, fields: &BTreeMap<String, Value>) {
        self.count(collection, COUNTED.map(|name| fields.get(name)));
    }

    /// Counts one record of `collection` whose [`COUNTED`] fields (status, grade, gender,
    /// role) have these values.
    pub fn count(&mut self, collection: Collection, fields: [Option<&Value>; 4]) {
        self.tally(collection, fields, true);
    }

    /// Takes back what [`Summary::count`] counted for a record with these values (the
    /// record changed or left): the result is what counting without it gives, grades and
    /// genders that fall to zero left out.
    pub fn uncount(&mut self, collection: Collection, fields: [Option<&Value>; 4]) {
        self.tally(collection, fields, false);
    }

    fn tally(
        &mut self,
        collection: Collection,
        [status, grade, gender, role]: [Option<&Value>; 4],
        add: bool,
    ) {
        fn step(n: &mut u64, add: bool) {
            *n = if add { *n + 1 } else { n.saturating_sub(1) };
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
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        match collection {
            Collection::Students => match text(status).as_deref() {
                Some("enrolled") => {
                    step(&mut self.enrolled, add);
                    if let Some(grade) = grade.and_then(grade_key) {
                        step_in(&mut self.by_grade, grade, add);
                    }
                    if let Some(gender) = text(gender).filter(|g| !g.is_empty()) {
                        step_in(&mut self.by_gender, gender, add);
                    }
                }
                Some("dropped_out") => step(&mut self.dropped_out, add),
                _ => {}
            },
            Collection::Staff => {
                if text(status).as_deref() == Some("active") {
                    step(&mut self.staff_active, add);
                    if text(role).as_deref() == Some("teacher") {
                        step(&mut self.teachers, add);
                    }
                }
            }
            Collection::Classes => step(&mut self.classes, add),
            Collection::Profile => {}
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

/// The fields a summary counts by, in the order [`Summary::count`] takes them.
pub const COUNTED: [&str; 4] = ["status", "grade", "gender", "role"];

/// The counts of one document of `collection`: students by status (enrolled
/// ones also by grade and gender), active staff and active teachers, or the
/// number of classes. A profile document counts nothing.
pub fn summarize(collection: Collection, doc: &RecordsDoc) -> Summary {
    let mut summary = Summary::default();
    if collection != Collection::Profile {
        doc.for_each_record_fields(COUNTED, |_, fields| {
            summary.count(collection, fields.each_ref().map(Option::as_ref));
        });
    }
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
        assert_eq!(summarize(Collection::Profile, &classes), Summary::default());

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
