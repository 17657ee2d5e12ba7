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
use eduioc_records::{Collection, RecordsDoc, Summary, Value};
use serde::{Deserialize, Serialize};

use crate::tables::LOOKUPS;
use eduioc_store::Reader;

use crate::{load_doc, Engine, Error, Result, Views};

/// One student found by a look-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// A document's look-up index; `S` is `String` when written, `&str` when read.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Lookup<S> {
    /// Per record: folded id, folded name, id, name, then three shown fields (students:
    /// grade, class, status; staff: role, qualification, status).
    rows: Vec<(S, S, S, S, S, S, S)>,
}

/// Fields read from each record by [`figures`]: those [`eduioc_records::summarize`] counts,
/// then the name and the shown fields not among them.
const READ: [&str; 7] = [
    "status",
    "grade",
    "gender",
    "role",
    "full_name",
    "class_id",
    "qualification",
];

/// Positions in [`READ`] of the three fields a hit shows after id and name.
fn shown(collection: Collection) -> Option<[usize; 3]> {
    match collection {
        // grade, class, status
        Collection::Students => Some([1, 5, 0]),
        // role, qualification, status
        Collection::Staff => Some([3, 6, 0]),
        _ => None,
    }
}

/// A document's summary and, for a collection with look-ups (students, staff), its look-up
/// index, from one pass over its records: the pass (Automerge's map iteration) is most of
/// the cost of a commit at a parent.
pub(crate) fn figures(
    collection: Collection,
    doc: &RecordsDoc,
) -> (Summary, Option<Lookup<String>>) {
    debug_assert_eq!(READ[..4], eduioc_records::COUNTED);
    let Some(shown) = shown(collection) else {
        return (eduioc_records::summarize(collection, doc), None);
    };
    let mut summary = Summary::default();
    let mut rows = Vec::new();
    doc.for_each_record_fields(READ, |id, fields| {
        summary.count(collection, counted(fields));
        rows.push(row(id, fields, shown));
    });
    (summary, Some(Lookup { rows }))
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
    for id in ids {
        if let Some(was) = doc.record_fields_at(&id, READ, Some(before)) {
            summary.uncount(collection, counted(&was));
        }
        let now = doc.record_fields_at(&id, READ, None);
        if let Some(now) = &now {
            summary.count(collection, counted(now));
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

/// The fields [`Summary::count`] takes, from those [`READ`] reads.
fn counted(fields: &[Option<Value>; 7]) -> [Option<&Value>; 4] {
    let [status, grade, gender, role, ..] = fields;
    [status, grade, gender, role].map(Option::as_ref)
}

/// A record's row of the look-up index, from the fields [`READ`] reads.
fn row(id: &str, fields: &[Option<Value>; 7], shown: [usize; 3]) -> Row {
    let s = |i: usize| match &fields[i] {
        Some(Value::Str(v)) => v.clone(),
        Some(Value::Int(n)) => n.to_string(),
        None => String::new(),
    };
    let name = s(4);
    (
        eduioc_records::fold(id),
        eduioc_records::fold(&name),
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
    views: Views,
    reader: Reader,
    /// The node's actor id (a document read from the store is loaded as this node).
    actor: [u8; 32],
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
