//! Staff look-up across the subtree, like [`Engine::search_students`]: every commit of a
//! staff document also writes its digest (`idx/<doc key>` in the meta table: id, name,
//! role, qualification, status), so a look-up reads small digests, not Automerge
//! documents. A staff document committed before digests existed (or whose digest does not
//! decode) is read from the store at each look-up instead, without going through the
//! document cache.

use eduioc_protocol::DocId;
use eduioc_records::{RecordsDoc, Value};
use serde::Serialize;

use crate::{load_doc, Engine, Error, Result, StaffDigest};

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

/// The look-up digest of a staff document.
pub(crate) fn staff_digest(doc: &RecordsDoc) -> StaffDigest {
    let mut rows = Vec::new();
    doc.for_each_record(|id, fields| {
        let s = |k: &str| {
            fields
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        rows.push((
            id.to_string(),
            s("full_name"),
            s("role"),
            s("qualification"),
            s("status"),
        ));
    });
    StaffDigest { rows }
}

impl Engine {
    /// Staff of `unit`'s subtree (this node's unit when `None`) whose id or name matches
    /// `q` (accent- and case-insensitive, as [`eduioc_records::matches`]), in the current
    /// school year, at most `limit`, in subtree order then document order.
    pub fn search_staff(&self, q: &str, unit: Option<&str>, limit: usize) -> Result<Vec<StaffHit>> {
        let unit = unit.unwrap_or(&self.unit);
        if !self.dir.is_ancestor_or_self(&self.unit, unit) {
            return Err(Error::UnknownUnit(unit.to_string()));
        }
        let folded = eduioc_records::fold(q);
        if folded.is_empty() {
            return Err(Error::Invalid("the query q must not be empty".into()));
        }
        let year = self.school_year();
        let mut hits = Vec::new();
        if limit == 0 {
            return Ok(hits);
        }
        for u in self.dir.subtree(unit) {
            let key = DocId {
                unit: u.clone(),
                collection: "staff".into(),
                year: year.clone(),
            }
            .key();
            if !self.summaries.contains_key(&key) {
                continue;
            }
            let stored = self
                .store
                .meta(&format!("idx/{key}"))?
                .and_then(|raw| postcard::from_bytes::<StaffDigest>(&raw).ok());
            let digest = match stored {
                Some(d) => d,
                // Committed before staff digests existed: read the document itself.
                None => match self.store.doc(&key)? {
                    Some(rec) => staff_digest(&load_doc(Some(rec), self.key.id().as_bytes())?),
                    None => continue,
                },
            };
            for (id, name, role, qualification, status) in digest.rows {
                if eduioc_records::matches(&folded, &id, &name) {
                    hits.push(StaffHit {
                        staff_id: id,
                        full_name: name,
                        role,
                        qualification,
                        status,
                        unit: u.clone(),
                        school: self.dir.name(&u).unwrap_or_default().to_string(),
                    });
                    if hits.len() >= limit {
                        return Ok(hits);
                    }
                }
            }
        }
        Ok(hits)
    }
}
