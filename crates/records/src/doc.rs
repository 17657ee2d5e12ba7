//! The Automerge document holding one collection of one unit for one school
//! year.

use std::collections::BTreeMap;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, Change, ChangeHash, ObjId, ObjType, ReadDoc, ScalarValueRef, ValueRef,
    ROOT,
};

use crate::{Result, Row, Value};

/// The root key of the map of records.
const RECORDS_KEY: &str = "records";

/// What [`RecordsDoc::upsert`] did.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub struct UpsertOutcome {
    /// Rows whose id was not in the document.
    pub inserted: u64,
    /// Rows whose id was present and at least one field changed.
    pub updated: u64,
    /// Rows whose id was present with exactly these field values.
    pub unchanged: u64,
}

/// One records document: root map `"records"` → map keyed by record id → map
/// of field name → scalar (string or integer).
///
/// The engine owns keys and actor ids; only the unit's own node writes its
/// documents, so the `"records"` map is created once, lazily, by the first
/// upsert of the single writer.
pub struct RecordsDoc {
    doc: AutoCommit,
    /// Heads at the last [`RecordsDoc::take_local_changes`] (or at load).
    taken: Vec<ChangeHash>,
}

impl std::fmt::Debug for RecordsDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordsDoc")
            .field("actor", self.doc.get_actor())
            .field("records", &self.len())
            .finish()
    }
}

impl RecordsDoc {
    /// An empty document whose changes will carry `actor` as actor id.
    pub fn new(actor: &[u8]) -> Self {
        RecordsDoc {
            doc: AutoCommit::new().with_actor(ActorId::from(actor)),
            taken: Vec::new(),
        }
    }

    /// Loads a document saved with [`RecordsDoc::save`] (or an incremental
    /// save), writing future changes as `actor`. Changes present at load time
    /// are not returned by [`RecordsDoc::take_local_changes`].
    pub fn load(bytes: &[u8], actor: &[u8]) -> Result<Self> {
        let mut doc = AutoCommit::load(bytes)?.with_actor(ActorId::from(actor));
        let taken = doc.get_heads();
        Ok(RecordsDoc { doc, taken })
    }

    /// Restores a document from storage: `snapshot` (a [`RecordsDoc::save`], or empty for
    /// none) then the `chunks` appended since. Everything stored was already handed out by
    /// [`RecordsDoc::take_local_changes`] (and signed into entries), so none of it is
    /// handed out again; unlike [`RecordsDoc::load_incremental`], which leaves `actor`'s
    /// changes it brings in to be taken.
    pub fn restore<C: AsRef<[u8]>>(snapshot: &[u8], chunks: &[C], actor: &[u8]) -> Result<Self> {
        let mut doc = if snapshot.is_empty() {
            RecordsDoc::new(actor)
        } else {
            RecordsDoc::load(snapshot, actor)?
        };
        for chunk in chunks {
            doc.load_incremental(chunk.as_ref())?;
        }
        doc.taken = doc.doc.get_heads();
        Ok(doc)
    }

    /// Sets the actor id used for future local changes.
    pub fn set_actor(&mut self, actor: &[u8]) {
        self.doc.commit();
        self.doc.set_actor(ActorId::from(actor));
    }

    /// The actor id of local changes.
    pub fn actor(&self) -> &ActorId {
        self.doc.get_actor()
    }

    /// The whole document, compressed.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The changes not reachable from `heads`, in the format
    /// [`RecordsDoc::load_incremental`] reads.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// The current heads (commits pending local operations first).
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Starts recording what the changes applied from now on touch (Automerge's diff
    /// index), so that [`RecordsDoc::changed_since`] these heads, which it returns, reads
    /// only what changed instead of scanning the whole document. Recording costs a little
    /// on every change until it stops: `changed_since` or [`RecordsDoc::stop_recording`].
    pub fn record_changes(&mut self) -> Vec<ChangeHash> {
        self.doc.update_diff_cursor();
        self.doc.get_heads()
    }

    /// Stops what [`RecordsDoc::record_changes`] started.
    pub fn stop_recording(&mut self) {
        self.doc.reset_diff_cursor();
    }

    /// Applies changes received from elsewhere (in any order; changes whose
    /// dependencies are missing are held until they arrive).
    pub fn apply_changes(&mut self, changes: Vec<Change>) -> Result<()> {
        self.doc.apply_changes(changes)?;
        Ok(())
    }

    /// Loads a full or incremental save into this document; returns the
    /// number of operations applied.
    pub fn load_incremental(&mut self, bytes: &[u8]) -> Result<usize> {
        Ok(self.doc.load_incremental(bytes)?)
    }

    /// Every change (local or received) not reachable from `have_deps`.
    pub fn changes_since(&mut self, have_deps: &[ChangeHash]) -> Vec<Change> {
        self.doc.get_changes(have_deps)
    }

    /// Inserts or updates `rows` (by id) in one change with timestamp 0;
    /// see [`RecordsDoc::upsert_at`].
    pub fn upsert(&mut self, rows: &[Row]) -> Result<UpsertOutcome> {
        self.upsert_at(rows, 0)
    }

    /// Inserts or updates `rows` (by id) in one change carrying `time`
    /// (seconds since the Unix epoch). Only fields whose value differs are
    /// written, so re-importing the same file writes nothing and a one-field
    /// edit produces a tiny change. Fields absent from a row are left as they
    /// are. On error nothing is written.
    pub fn upsert_at(&mut self, rows: &[Row], time: i64) -> Result<UpsertOutcome> {
        // Close anything pending so a rollback below touches only this upsert.
        self.doc.commit();
        match self.write_rows(rows) {
            Ok(outcome) => {
                self.doc
                    .commit_with(CommitOptions::default().with_time(time));
                Ok(outcome)
            }
            Err(e) => {
                self.doc.rollback();
                Err(e)
            }
        }
    }

    fn write_rows(&mut self, rows: &[Row]) -> Result<UpsertOutcome> {
        let mut outcome = UpsertOutcome::default();
        if rows.is_empty() {
            return Ok(outcome);
        }
        let records = match self.records_obj() {
            Some(obj) => obj,
            None => self.doc.put_object(ROOT, RECORDS_KEY, ObjType::Map)?,
        };
        for row in rows {
            match self.doc.get(&records, row.id.as_str())? {
                Some((automerge::Value::Object(ObjType::Map), rec)) => {
                    let current = fields_of(&self.doc, &rec);
                    let mut changed = false;
                    for (name, value) in &row.fields {
                        if current.get(name) != Some(value) {
                            put(&mut self.doc, &rec, name, value)?;
                            changed = true;
                        }
                    }
                    if changed {
                        outcome.updated += 1;
                    } else {
                        outcome.unchanged += 1;
                    }
                }
                _ => {
                    let rec = self
                        .doc
                        .put_object(&records, row.id.as_str(), ObjType::Map)?;
                    for (name, value) in &row.fields {
                        put(&mut self.doc, &rec, name, value)?;
                    }
                    outcome.inserted += 1;
                }
            }
        }
        Ok(outcome)
    }

    /// Removes a record; returns whether it existed. The removal is committed
    /// as its own change.
    pub fn delete(&mut self, id: &str) -> Result<bool> {
        let Some(records) = self.records_obj() else {
            return Ok(false);
        };
        if self.doc.get(&records, id)?.is_none() {
            return Ok(false);
        }
        self.doc.delete(&records, id)?;
        self.doc.commit();
        Ok(true)
    }

    /// Commits pending local operations and returns the changes authored by
    /// this document's actor since the previous call (or since creation or
    /// load). Changes received from elsewhere are never returned.
    pub fn take_local_changes(&mut self) -> Vec<Change> {
        self.doc.commit();
        let actor = self.doc.get_actor().clone();
        let changes = self
            .doc
            .get_changes(&self.taken)
            .into_iter()
            .filter(|c| *c.actor_id() == actor)
            .collect();
        self.taken = self.doc.get_heads();
        changes
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.records_obj().map_or(0, |obj| self.doc.length(&obj))
    }

    /// Whether the document holds no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One record's fields, if present.
    pub fn get(&self, id: &str) -> Option<BTreeMap<String, Value>> {
        let records = self.records_obj()?;
        match self.doc.get(&records, id) {
            Ok(Some((automerge::Value::Object(ObjType::Map), rec))) => {
                Some(fields_of(&self.doc, &rec))
            }
            _ => None,
        }
    }

    /// Every record as (id, fields), ordered by id.
    pub fn records(&self) -> Vec<(String, BTreeMap<String, Value>)> {
        let mut out = Vec::new();
        self.for_each_record(|id, fields| out.push((id.to_owned(), fields)));
        out
    }

    /// Calls `f` with every record's id and fields, ordered by id.
    pub fn for_each_record(&self, mut f: impl FnMut(&str, BTreeMap<String, Value>)) {
        let Some(records) = self.records_obj() else {
            return;
        };
        for item in self.doc.map_range(&records, ..) {
            if let ValueRef::Object(ObjType::Map) = item.value {
                let rec = item.id();
                f(&item.key, fields_of(&self.doc, &rec));
            }
        }
    }

    /// Calls `f` with every record's id and the values of the fields named in `names`
    /// (in that order; `None` where absent or not a string or integer), ordered by id.
    /// Cheaper than [`RecordsDoc::for_each_record`] when few fields are needed: only
    /// those are copied out of the document.
    pub fn for_each_record_fields<const N: usize>(
        &self,
        names: [&str; N],
        mut f: impl FnMut(&str, &[Option<Value>; N]),
    ) {
        let Some(records) = self.records_obj() else {
            return;
        };
        for item in self.doc.map_range(&records, ..) {
            if let ValueRef::Object(ObjType::Map) = item.value {
                f(&item.key, &self.fields_in(&item.id(), names, None));
            }
        }
    }

    /// The values of the fields named in `names` of record `id` as the document was at
    /// `heads` (now when `None`), as [`RecordsDoc::for_each_record_fields`] gives them;
    /// `None` if the record was not there.
    pub fn record_fields_at<const N: usize>(
        &self,
        id: &str,
        names: [&str; N],
        heads: Option<&[ChangeHash]>,
    ) -> Option<[Option<Value>; N]> {
        let records = self.records_obj()?;
        let got = match heads {
            None => self.doc.get(&records, id),
            Some(h) => self.doc.get_at(&records, id, h),
        };
        match got {
            Ok(Some((automerge::Value::Object(ObjType::Map), rec))) => {
                Some(self.fields_in(&rec, names, heads))
            }
            _ => None,
        }
    }

    fn fields_in<const N: usize>(
        &self,
        rec: &ObjId,
        names: [&str; N],
        heads: Option<&[ChangeHash]>,
    ) -> [Option<Value>; N] {
        let mut values: [Option<Value>; N] = std::array::from_fn(|_| None);
        let mut take = |key: &str, value: &ValueRef<'_>| {
            if let Some(i) = names.iter().position(|n| *n == key) {
                values[i] = scalar(value);
            }
        };
        match heads {
            None => self
                .doc
                .map_range(rec, ..)
                .for_each(|f| take(&f.key, &f.value)),
            Some(h) => self
                .doc
                .map_range_at(rec, .., h)
                .for_each(|f| take(&f.key, &f.value)),
        }
        values
    }

    /// The ids of the records that differ between the document at `before` (heads it
    /// had) and now — added, changed or removed — in order, found by Automerge's diff
    /// rather than by reading every record: from its index of what was applied when
    /// `before` are the heads [`RecordsDoc::record_changes`] returned (then recording
    /// stops), else by a scan of the document's operations. `None` when `before` is not
    /// a state the records map existed in (an empty document): then everything is new.
    pub fn changed_since(&mut self, before: &[ChangeHash]) -> Option<Vec<String>> {
        let ids = self.changed_records(before);
        self.doc.reset_diff_cursor();
        ids
    }

    fn changed_records(&mut self, before: &[ChangeHash]) -> Option<Vec<String>> {
        let records = self.records_obj()?;
        if before.is_empty() || self.doc.get_at(ROOT, RECORDS_KEY, before).ok()?.is_none() {
            return None;
        }
        let after = self.doc.get_heads();
        let mut ids = std::collections::BTreeSet::new();
        for patch in self.doc.diff(before, &after) {
            if patch.obj == records {
                match patch.action {
                    automerge::PatchAction::PutMap { key, .. }
                    | automerge::PatchAction::DeleteMap { key } => {
                        ids.insert(key);
                    }
                    _ => {}
                }
            } else if let Some((_, automerge::Prop::Map(id))) =
                patch.path.iter().find(|(obj, _)| *obj == records)
            {
                ids.insert(id.clone());
            }
        }
        Some(ids.into_iter().collect())
    }

    fn records_obj(&self) -> Option<ObjId> {
        match self.doc.get(ROOT, RECORDS_KEY) {
            Ok(Some((automerge::Value::Object(ObjType::Map), obj))) => Some(obj),
            _ => None,
        }
    }
}

fn put(doc: &mut AutoCommit, rec: &ObjId, name: &str, value: &Value) -> Result<()> {
    match value {
        Value::Str(s) => doc.put(rec, name, s.as_str())?,
        Value::Int(i) => doc.put(rec, name, *i)?,
    }
    Ok(())
}

/// A string or integer field's value; `None` for other values.
fn scalar(value: &ValueRef<'_>) -> Option<Value> {
    match value {
        ValueRef::Scalar(ScalarValueRef::Str(s)) => Some(Value::Str(s.to_string())),
        ValueRef::Scalar(ScalarValueRef::Int(i)) => Some(Value::Int(*i)),
        ValueRef::Scalar(ScalarValueRef::Uint(u)) => i64::try_from(*u).ok().map(Value::Int),
        _ => None,
    }
}

/// The string and integer fields of one record map; other scalars are skipped.
fn fields_of(doc: &AutoCommit, rec: &ObjId) -> BTreeMap<String, Value> {
    let mut fields = BTreeMap::new();
    for item in doc.map_range(rec, ..) {
        if let Some(value) = scalar(&item.value) {
            fields.insert(item.key.into_owned(), value);
        }
    }
    fields
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn student(id: &str, name: &str, grade: i64, status: &str) -> Row {
        let mut fields = BTreeMap::new();
        let mut put = |k: &str, v: Value| {
            fields.insert(k.to_owned(), v);
        };
        put("full_name", Value::Str(name.into()));
        put("gender", Value::Str("F".into()));
        put("birth_date", Value::Str("2014-09-05".into()));
        put("grade", Value::Int(grade));
        put("class_id", Value::Str(format!("{grade}A")));
        put("ethnicity", Value::Str("Kinh".into()));
        put("status", Value::Str(status.into()));
        Row {
            id: id.to_owned(),
            fields,
        }
    }

    #[test]
    fn upsert_counts_and_reads_back() {
        let mut doc = RecordsDoc::new(b"school-a");
        assert!(doc.is_empty());
        let rows = vec![
            student("HS1", "Nguyễn Thị An", 5, "enrolled"),
            student("HS2", "Trần Văn Bình", 6, "enrolled"),
        ];
        let out = doc.upsert(&rows).unwrap();
        assert_eq!(
            out,
            UpsertOutcome {
                inserted: 2,
                updated: 0,
                unchanged: 0
            }
        );
        assert_eq!(doc.len(), 2);
        assert_eq!(doc.get("HS1").unwrap(), rows[0].fields);
        assert!(doc.get("HS9").is_none());

        let mut again = rows.clone();
        again[1].fields.insert("grade".into(), Value::Int(7));
        again.push(student("HS3", "Lê Văn Cường", 1, "dropped_out"));
        let out = doc.upsert(&again).unwrap();
        assert_eq!(
            out,
            UpsertOutcome {
                inserted: 1,
                updated: 1,
                unchanged: 1
            }
        );
        let ids: Vec<String> = doc.records().into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["HS1", "HS2", "HS3"]);
        assert_eq!(doc.get("HS2").unwrap()["grade"], Value::Int(7));

        assert!(doc.delete("HS3").unwrap());
        assert!(!doc.delete("HS3").unwrap());
        assert_eq!(doc.len(), 2);
    }

    #[test]
    fn one_field_edit_is_a_small_change() {
        let mut doc = RecordsDoc::new(&[7u8; 32]);
        let rows: Vec<Row> = (0..200)
            .map(|i| student(&format!("HS{i:04}"), "Phạm Minh Đức", 5, "enrolled"))
            .collect();
        doc.upsert(&rows).unwrap();
        let first = doc.take_local_changes();
        assert_eq!(first.len(), 1);

        // Re-importing the same rows writes nothing.
        let out = doc.upsert(&rows).unwrap();
        assert_eq!(out.unchanged, 200);
        assert!(doc.take_local_changes().is_empty());

        let mut edited = rows.clone();
        edited[123]
            .fields
            .insert("status".into(), Value::Str("dropped_out".into()));
        let out = doc.upsert(&edited).unwrap();
        assert_eq!((out.updated, out.unchanged), (1, 199));
        let changes = doc.take_local_changes();
        assert_eq!(changes.len(), 1);
        let size = changes[0].raw_bytes().len();
        assert!(size < 300, "one-field change is {size} bytes");
        assert_eq!(changes[0].actor_id(), &ActorId::from(&[7u8; 32]));
    }

    #[test]
    fn save_load_and_replicate() {
        let mut a = RecordsDoc::new(b"writer");
        a.upsert(&[student("HS1", "Đỗ Thu Hà", 3, "enrolled")])
            .unwrap();
        let saved = a.save();
        let heads = a.heads();

        let mut b = RecordsDoc::load(&saved, b"reader").unwrap();
        assert_eq!(b.records(), a.records());
        assert_eq!(b.heads(), heads);
        assert!(b.take_local_changes().is_empty());

        // Incremental: only what is new after `heads`.
        a.upsert(&[student("HS2", "Vũ Văn Hải", 4, "graduated")])
            .unwrap();
        let inc = a.save_after(&heads);
        b.load_incremental(&inc).unwrap();
        assert_eq!(b.records(), a.records());

        // Changes: a third replica catches up from a's local changes.
        let mut c = RecordsDoc::new(b"other");
        let changes = a.take_local_changes();
        assert_eq!(changes.len(), 2);
        c.apply_changes(changes).unwrap();
        assert_eq!(c.records(), a.records());
        // Received changes are not "local" to c.
        assert!(c.take_local_changes().is_empty());

        assert!(RecordsDoc::load(b"garbage", b"x").is_err());
    }

    #[test]
    fn upsert_of_a_thousand_students_is_fast() {
        let rows: Vec<Row> = (0..1000)
            .map(|i| {
                student(
                    &format!("HS{i:05}"),
                    "Nguyễn Văn An",
                    1 + i % 12,
                    "enrolled",
                )
            })
            .collect();
        let mut doc = RecordsDoc::new(b"school");
        let out = doc.upsert(&rows).unwrap();
        let again = doc.upsert(&rows).unwrap();
        assert_eq!(out.inserted, 1000);
        assert_eq!(again.unchanged, 1000);
        let mut loaded = RecordsDoc::load(&doc.save(), b"x").unwrap();
        assert_eq!(loaded.len(), 1000);
        assert_eq!(loaded.heads(), doc.heads());
    }
}
