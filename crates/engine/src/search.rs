//! Look-up of students and staff across the subtree by id or name, accent-insensitive.
//!
//! Every commit of a students or staff document also writes its look-up index
//! (table `lookups`, [`crate::tables::LOOKUPS`]): per record its id and name already folded
//! ([`eduioc_records::fold`]), then the fields a hit shows. A query folds once and
//! compares plain strings; the index is read without copying its strings (postcard,
//! borrowed `&str`), so a look-up at a department costs a scan of small indexes, not
//! Automerge documents and not Unicode normalisation per record. A document committed
//! before its index existed is read from the store instead (not through the document
//! cache).

use eduioc_protocol::DocId;
use std::collections::HashSet;

use eduioc_records::{fields_read, Collection, Fields, RecordsDoc, Summary, Value};
use serde::{Deserialize, Serialize};

use crate::tables::LOOKUPS;
use eduioc_store::Reader;

use crate::{load_doc, Engine, Error, Result, Views};

/// One student found by a look-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct StudentHit {
    /// Student id.
    pub student_id: String,
    /// Full name.
    pub full_name: String,
    /// Grade.
    pub grade: u8,
    /// Class id.
    pub class_id: String,
    /// Status.
    pub status: String,
    /// School unit id.
    pub unit: String,
    /// School name.
    pub school: String,
}

/// One staff member found by a look-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct StaffHit {
    /// Staff id.
    pub staff_id: String,
    /// Full name.
    pub full_name: String,
    /// Role code (`teacher`, `manager`, `support`).
    pub role: String,
    /// Qualification code (`below_standard` … `doctor`).
    pub qualification: String,
    /// Status code (`active`, `left`).
    pub status: String,
    /// School unit id.
    pub unit: String,
    /// School name.
    pub school: String,
}

/// A document's index; `S` is `String` when written, `&str` when read.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Lookup<S> {
    /// Per record, in id order: folded id, folded name, id, name, then three shown fields
    /// (students: grade, class, status; staff: role, qualification, status). Results and
    /// health documents keep what their join with the students needs, unfolded: id,
    /// student, then term, academic, conduct or exam date, nutrition.
    pub(crate) rows: Vec<(S, S, S, S, S, S, S)>,
}

/// Where a record's index row takes its name and three shown fields from, as positions in
/// [`eduioc_records::fields_read`], and whether its id and name are folded for look-ups.
fn shown(collection: Collection) -> Option<(usize, [usize; 3], bool)> {
    match collection {
        // full_name; grade, class, status
        Collection::Students => Some((4, [1, 3, 0], true)),
        // full_name; role, qualification, status
        Collection::Staff => Some((4, [1, 2, 0], true)),
        // Per record what the join with the enrolled students needs (not searched):
        // student; term, academic, conduct
        Collection::Results => Some((0, [1, 2, 3], false)),
        // student; exam date, nutrition
        Collection::Health => Some((0, [1, 2, 7], false)),
        Collection::Classes | Collection::Profile => None,
    }
}

/// A document's summary and, for a collection with an index (students, staff, results,
/// health), its index, from one pass over its records: the pass (Automerge's map
/// iteration) is most of the cost of a commit at a parent. The summary of results and
/// health is joined with the students later ([`joined`]).
pub(crate) fn figures(
    collection: Collection,
    doc: &RecordsDoc,
) -> (Summary, Option<Lookup<String>>) {
    let Some(shown) = shown(collection) else {
        return (eduioc_records::summarize(collection, doc), None);
    };
    let mut summary = Summary::default();
    let mut rows = Vec::new();
    doc.for_each_record_fields(fields_read(collection), |id, fields| {
        summary.count(collection, id, fields);
        rows.push(row(id, fields, shown));
    });
    (summary, Some(Lookup { rows }))
}

/// The summary of a results or health document from its index, counting the students in
/// `enrolled` only (a health document: each student's latest exam).
pub(crate) fn joined(
    collection: Collection,
    index: &Lookup<String>,
    enrolled: &HashSet<&str>,
) -> Summary {
    let mut summary = Summary::default();
    // Rows are in id order, `student|term` or `student|date`: a student's exams are
    // adjacent, the latest last.
    let mut rows = index
        .rows
        .iter()
        .filter(|r| enrolled.contains(r.3.as_str()))
        .peekable();
    while let Some(r) = rows.next() {
        match collection {
            Collection::Results => summary.count_result(&r.4, &r.5, &r.6),
            Collection::Health if rows.peek().is_none_or(|next| next.3 != r.3) => {
                summary.count_exam(&r.5);
            }
            _ => {}
        }
    }
    summary
}

/// The enrolled students of a students document's index.
pub(crate) fn enrolled(index: &Lookup<String>) -> HashSet<&str> {
    index
        .rows
        .iter()
        .filter(|r| r.6 == "enrolled")
        .map(|r| r.2.as_str())
        .collect()
}

/// The students of a students document's index with their grade codes (what a results
/// or health import is checked against).
pub(crate) fn roster(index: &Lookup<String>) -> eduioc_records::Roster {
    let mut roster = eduioc_records::Roster::new();
    for r in &index.rows {
        roster.insert(r.2.clone(), r.4.clone());
    }
    roster
}

/// [`figures`] of `doc` from those it had at heads `before` (`summary`, `index`),
/// reading only the records changed since: each changed record is taken out as it was
/// and counted as it is. Gives exactly what [`figures`] gives; `None` when it cannot
/// (the heads are not a state of the records, the index is missing).
pub(crate) fn figures_since(
    collection: Collection,
    doc: &mut RecordsDoc,
    before: &[automerge::ChangeHash],
    mut summary: Summary,
    mut index: Option<Lookup<String>>,
) -> Option<(Summary, Option<Lookup<String>>)> {
    let shown = shown(collection);
    if shown.is_some() != index.is_some() {
        return None;
    }
    let ids = doc.changed_since(before)?;
    let read = fields_read(collection);
    for id in ids {
        if let Some(was) = doc.record_fields_at(&id, read, Some(before)) {
            summary.uncount(collection, &id, &was);
        }
        let now = doc.record_fields_at(&id, read, None);
        if let Some(now) = &now {
            summary.count(collection, &id, now);
        }
        if let (Some(shown), Some(index)) = (shown, index.as_mut()) {
            let at = index.rows.binary_search_by(|r| r.2.as_str().cmp(&id));
            match (at, now) {
                (Ok(i), Some(now)) => index.rows[i] = row(&id, &now, shown),
                (Err(i), Some(now)) => index.rows.insert(i, row(&id, &now, shown)),
                (Ok(i), None) => {
                    index.rows.remove(i);
                }
                (Err(_), None) => {}
            }
        }
    }
    Some((summary, index))
}

/// A record's row of the index, from the fields [`fields_read`] reads.
fn row(id: &str, fields: &Fields, (name, shown, folded): (usize, [usize; 3], bool)) -> Row {
    let s = |i: usize| match &fields[i] {
        Some(Value::Str(v)) => v.clone(),
        Some(Value::Int(n)) => n.to_string(),
        None => String::new(),
    };
    let name = s(name);
    let fold = |v: &str| {
        if folded {
            eduioc_records::fold(v)
        } else {
            String::new()
        }
    };
    (
        fold(id),
        fold(&name),
        id.to_string(),
        name,
        s(shown[0]),
        s(shown[1]),
        s(shown[2]),
    )
}

/// One record of the index: folded id, folded name, id, name, three shown fields.
type Row = (String, String, String, String, String, String, String);

/// Look-ups of a node, usable from any thread without the engine: they read the
/// published [`Figures`](crate::Figures) (hierarchy, which documents are held) and the store through a
/// [`Reader`], so a look-up never waits for an import or an ingest.
#[derive(Debug, Clone)]
pub struct Lookups {
    pub(crate) views: Views,
    pub(crate) reader: Reader,
    /// The node's actor id (a document read from the store is loaded as this node).
    pub(crate) actor: [u8; 32],
}

impl Engine {
    /// The look-ups of this node, for other threads.
    pub fn lookups(&self) -> Lookups {
        Lookups {
            views: self.views.clone(),
            reader: self.store.reader(),
            actor: *self.key.id().as_bytes(),
        }
    }

    /// [`Lookups::search_students`].
    pub fn search_students(
        &self,
        q: &str,
        unit: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StudentHit>> {
        self.lookups().search_students(q, unit, limit)
    }

    /// [`Lookups::search_staff`].
    pub fn search_staff(&self, q: &str, unit: Option<&str>, limit: usize) -> Result<Vec<StaffHit>> {
        self.lookups().search_staff(q, unit, limit)
    }
}

impl Lookups {
    /// Students of `unit`'s subtree (this node's unit when `None`) whose id starts with
    /// or whose name contains `q` (accent- and case-insensitive, as
    /// [`eduioc_records::matches`]), in the current school year, at most `limit`, in
    /// subtree order then document order.
    pub fn search_students(
        &self,
        q: &str,
        unit: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StudentHit>> {
        let mut hits = Vec::new();
        self.look_up(
            "students",
            q,
            unit,
            limit,
            |u, school, [id, name, grade, class, status]| {
                hits.push(StudentHit {
                    student_id: id.into(),
                    full_name: name.into(),
                    grade: grade.parse().unwrap_or(0),
                    class_id: class.into(),
                    status: status.into(),
                    unit: u.into(),
                    school: school.into(),
                })
            },
        )?;
        Ok(hits)
    }

    /// Staff of `unit`'s subtree, matched as [`Lookups::search_students`] matches
    /// students.
    pub fn search_staff(&self, q: &str, unit: Option<&str>, limit: usize) -> Result<Vec<StaffHit>> {
        let mut hits = Vec::new();
        self.look_up(
            "staff",
            q,
            unit,
            limit,
            |u, school, [id, name, role, qual, status]| {
                hits.push(StaffHit {
                    staff_id: id.into(),
                    full_name: name.into(),
                    role: role.into(),
                    qualification: qual.into(),
                    status: status.into(),
                    unit: u.into(),
                    school: school.into(),
                })
            },
        )?;
        Ok(hits)
    }

    /// The documents of `collection` held in `unit`'s subtree this school year, in
    /// subtree order: (unit, school name, document key). Read under the figures' lock,
    /// which is let go before the store is read.
    fn held_docs(
        &self,
        collection: &str,
        unit: Option<&str>,
    ) -> Result<Vec<(String, String, String)>> {
        let figures = self.views.figures();
        let me = figures.unit();
        let unit = unit.unwrap_or(me);
        let dir = figures.directory();
        if !dir.is_ancestor_or_self(me, unit) {
            return Err(Error::UnknownUnit(unit.to_string()));
        }
        let year = figures.school_year();
        Ok(dir
            .subtree(unit)
            .into_iter()
            .filter_map(|u| {
                let key = DocId {
                    unit: u.clone(),
                    collection: collection.into(),
                    year: year.clone(),
                }
                .key();
                figures.holds(&key).then(|| {
                    let school = dir.name(&u).unwrap_or_default().to_string();
                    (u, school, key)
                })
            })
            .collect())
    }

    /// Calls `hit(unit, school name, [id, name, shown fields])` for the first `limit`
    /// records of `collection` in `unit`'s subtree that match `q`.
    fn look_up(
        &self,
        collection: &str,
        q: &str,
        unit: Option<&str>,
        limit: usize,
        mut hit: impl FnMut(&str, &str, [&str; 5]),
    ) -> Result<()> {
        let docs = self.held_docs(collection, unit)?;
        let folded = eduioc_records::fold(q);
        if folded.is_empty() {
            return Err(Error::Invalid("the query q must not be empty".into()));
        }
        let mut found = 0;
        for (u, school, key) in docs {
            if found >= limit {
                break;
            }
            let school = school.as_str();
            let mut visit = |rows: &mut dyn Iterator<Item = [&str; 7]>| {
                for [fid, fname, id, name, a, b, c] in rows {
                    if eduioc_records::matches_folded(&folded, fid, fname) {
                        hit(&u, school, [id, name, a, b, c]);
                        found += 1;
                        if found >= limit {
                            break;
                        }
                    }
                }
            };
            // The index is read without copying its strings.
            let indexed = self.reader.get_with(&LOOKUPS, &key, |raw| {
                let l = postcard::from_bytes::<Lookup<&str>>(raw)
                    .map_err(|e| LOOKUPS.value_error(&key, format!("cannot be decoded: {e}")))?;
                visit(
                    &mut l
                        .rows
                        .into_iter()
                        .map(|r| [r.0, r.1, r.2, r.3, r.4, r.5, r.6]),
                );
                Ok(())
            })?;
            match indexed {
                Some(()) => {}
                // Committed before its index existed: read the document itself.
                None => {
                    let Some(rec) = self.reader.doc(&key)? else {
                        continue;
                    };
                    let doc = load_doc(Some(rec), &self.actor)?;
                    let Some(c) = collection.parse::<Collection>().ok() else {
                        continue;
                    };
                    let (_, Some(l)) = figures(c, &doc) else {
                        continue;
                    };
                    visit(
                        &mut l
                            .rows
                            .iter()
                            .map(|r| [&*r.0, &*r.1, &*r.2, &*r.3, &*r.4, &*r.5, &*r.6]),
                    );
                }
            }
        }
        Ok(())
    }
}
