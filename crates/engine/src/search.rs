//! Look-up of students and staff across the subtree by id or name, accent-insensitive.
//!
//! Every commit of a students or staff document also writes its look-up index
//! (`look/<doc key>` in the meta table): per record its id and name already folded
//! ([`eduioc_records::fold`]), then the fields a hit shows. A query folds once and
//! compares plain strings; the index is read without copying its strings (postcard,
//! borrowed `&str`), so a look-up at a department costs a scan of small indexes, not
//! Automerge documents and not Unicode normalisation per record. A document committed
//! before its index existed is read from the store instead (not through the document
//! cache).

use eduioc_protocol::DocId;
use eduioc_records::{Collection, RecordsDoc, Summary, Value};
use serde::{Deserialize, Serialize};

use crate::{load_doc, Engine, Error, Result};

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
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Lookup<S> {
    /// Per record: folded id, folded name, id, name, then three shown fields (students:
    /// grade, class, status; staff: role, qualification, status).
    rows: Vec<(S, S, S, S, S, S, S)>,
}

/// The meta key of a document's look-up index.
pub(crate) fn lookup_key(doc_key: &str) -> String {
    format!("look/{doc_key}")
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
        let [status, grade, gender, role, ..] = fields;
        summary.count(
            collection,
            [status, grade, gender, role].map(Option::as_ref),
        );
        let s = |i: usize| match &fields[i] {
            Some(Value::Str(v)) => v.clone(),
            Some(Value::Int(n)) => n.to_string(),
            None => String::new(),
        };
        let name = s(4);
        rows.push((
            eduioc_records::fold(id),
            eduioc_records::fold(&name),
            id.to_string(),
            name,
            s(shown[0]),
            s(shown[1]),
            s(shown[2]),
        ));
    });
    (summary, Some(Lookup { rows }))
}

impl Engine {
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

    /// Staff of `unit`'s subtree, matched as [`Engine::search_students`] matches students.
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
        let unit = unit.unwrap_or(&self.unit);
        if !self.dir.is_ancestor_or_self(&self.unit, unit) {
            return Err(Error::UnknownUnit(unit.to_string()));
        }
        let folded = eduioc_records::fold(q);
        if folded.is_empty() {
            return Err(Error::Invalid("the query q must not be empty".into()));
        }
        let year = self.school_year();
        let mut found = 0;
        for u in self.dir.subtree(unit) {
            if found >= limit {
                break;
            }
            let key = DocId {
                unit: u.clone(),
                collection: collection.into(),
                year: year.clone(),
            }
            .key();
            if !self.views.figures().holds(&key) {
                continue;
            }
            let school = self.dir.name(&u).unwrap_or_default();
            let raw = self.store.meta(&lookup_key(&key))?;
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
            match raw
                .as_deref()
                .and_then(|r| postcard::from_bytes::<Lookup<&str>>(r).ok())
            {
                Some(l) => visit(
                    &mut l
                        .rows
                        .into_iter()
                        .map(|r| [r.0, r.1, r.2, r.3, r.4, r.5, r.6]),
                ),
                // Committed before its index existed: read the document itself.
                None => {
                    let Some(rec) = self.store.doc(&key)? else {
                        continue;
                    };
                    let doc = load_doc(Some(rec), self.key.id().as_bytes())?;
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
