//! What the figures of a document are: its summary and, for students, staff, results and
//! health, its index (`Derived`), computed whole or from the records changed since given
//! heads, and stored in the page's transaction; results and health are joined with the
//! enrolled students of their school year, and joined again when those change.

use super::*;

/// What is recomputed from a document a page changed: its summary and, for students and
/// staff, its look-up index.
pub(crate) type Derived = (Summary, Option<search::Lookup<String>>);

/// Stores a document's figures in the page's transaction; returns its summary and its index
/// as stored. A results or health document's summary is its index joined with the enrolled
/// students of its school year, as the transaction holds them.
pub(crate) fn write_figures(
    txn: &mut WriteTxn<'_>,
    key: &str,
    (summary, index): Derived,
) -> Result<Derived> {
    let summary = match (collection_of(key), &index) {
        (Some(c), Some(index)) if c.refers_to_students() => {
            let students = match sibling(key, Collection::Students) {
                Some(k) => txn.get(&tables::LOOKUPS, &k)?,
                None => None,
            };
            let enrolled = students.as_ref().map(search::enrolled).unwrap_or_default();
            search::joined(c, index, &enrolled)
        }
        _ => summary,
    };
    txn.put(&tables::SUMMARIES, key, &summary)?;
    if let Some(index) = &index {
        txn.put(&tables::LOOKUPS, key, index)?;
    }
    Ok((summary, index))
}

/// Loads document `key` from the page's transaction into the cache unless it is there,
/// writing the figures of a changed document the cache drops for it.
pub(crate) fn ensure_loaded(
    docs: &mut docs::DocCache,
    txn: &mut WriteTxn<'_>,
    key: &str,
    actor: &[u8; 32],
) -> Result<()> {
    if docs.get(key).is_none() {
        let loaded = load_doc(txn.doc(key)?, actor)?;
        let dropped = docs.put(key, loaded);
        write_dropped(docs, txn, dropped)?;
    }
    Ok(())
}

/// Writes the figures of a document the page changed and the cache just dropped.
pub(crate) fn write_dropped(
    docs: &mut docs::DocCache,
    txn: &mut WriteTxn<'_>,
    dropped: Vec<(String, RecordsDoc)>,
) -> Result<()> {
    for (key, doc) in dropped {
        if let Some(f) = figures(&key, &doc) {
            drop(doc);
            let (summary, _) = write_figures(txn, &key, f)?;
            docs.summarised(key, summary);
        }
    }
    Ok(())
}

/// The summaries of the results and health documents of the school year of students
/// document `students`, joined again with its enrolled students (which a page just
/// changed), stored in the transaction.
pub(crate) fn rejoin(txn: &mut WriteTxn<'_>, students: &str) -> Result<Vec<(String, Summary)>> {
    let mut out = Vec::new();
    let mut joined = Vec::new();
    for c in [Collection::Results, Collection::Health] {
        if let Some(key) = sibling(students, c) {
            if txn.contains(&tables::LOOKUPS, &key)? {
                joined.push((c, key));
            }
        }
    }
    // Most schools' years have no results or health: the students' index is not read.
    if joined.is_empty() {
        return Ok(out);
    }
    let Some(index) = txn.get(&tables::LOOKUPS, students)? else {
        return Ok(out);
    };
    let enrolled = search::enrolled(&index);
    for (c, key) in joined {
        if let Some(dep) = txn.get(&tables::LOOKUPS, &key)? {
            let summary = search::joined(c, &dep, &enrolled);
            txn.put(&tables::SUMMARIES, &key, &summary)?;
            out.push((key, summary));
        }
    }
    Ok(out)
}

/// The key of the document of `collection` of the same unit and school year as `key`.
fn sibling(key: &str, collection: Collection) -> Option<String> {
    let mut doc = DocId::from_key(key)?;
    doc.collection = collection.as_str().to_string();
    Some(doc.key())
}

/// The collection a document key names; `None` for a key that names none.
pub(crate) fn collection_of(key: &str) -> Option<Collection> {
    DocId::from_key(key)?.collection.parse().ok()
}

/// The figures of document `key` from those it had at heads `before`, reading only the
/// records changed since; `None` when they must be computed whole.
pub(crate) fn figures_since(
    key: &str,
    doc: &mut RecordsDoc,
    before: &[automerge::ChangeHash],
    summary: Summary,
    index: Option<search::Lookup<String>>,
) -> Option<Derived> {
    search::figures_since(collection_of(key)?, doc, before, summary, index)
}

/// The figures of document `key`; `None` for a key that names no collection.
pub(crate) fn figures(key: &str, doc: &RecordsDoc) -> Option<Derived> {
    Some(search::figures(collection_of(key)?, doc))
}
