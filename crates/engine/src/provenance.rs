//! Provenance of a records document: which node signed its changes, and when.

use eduioc_protocol::{DocId, Entry, Payload};
use serde::Serialize;

use crate::stats::rfc3339;
use crate::{Engine, Error, Result};

/// Most entries of the signer's log read backwards to find the document's changes.
const MAX_SCAN: u64 = 4096;

/// Who signed a document and its latest change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Provenance {
    /// Document key `unit/collection/year`.
    pub doc: String,
    /// The unit whose node signs the document (the document's owner).
    pub unit: String,
    /// That unit's name.
    pub unit_name: String,
    /// The signing node's key (hex).
    pub signer: String,
    /// Version of the certificate binding the key to the unit.
    pub cert_version: u32,
    /// Seq of the latest entry carrying changes to the document or a snapshot of it (its
    /// version: a snapshot entry signs the document's heads).
    pub latest_seq: Option<u64>,
    /// Signer's clock of that entry (RFC 3339).
    pub latest_at: Option<String>,
    /// Hash of that entry (hex).
    pub latest_hash: Option<String>,
    /// Entries carrying changes to the document or snapshots of it among those scanned
    /// and held here (a node seeded from a snapshot holds no entry it replaces).
    pub change_entries: u64,
    /// Seq of the signer's log head held here.
    pub log_height: u64,
}

impl Engine {
    /// Provenance of `doc`: the unit's certified key and the latest signed entry of its
    /// log that changed the document (reading at most the last 4096 entries).
    pub fn provenance(&self, doc: &DocId) -> Result<Provenance> {
        if !self.dir.is_ancestor_or_self(&self.unit, &doc.unit) {
            return Err(Error::UnknownUnit(doc.unit.clone()));
        }
        let cert = self
            .dir
            .current_cert(&doc.unit)
            .ok_or_else(|| Error::UnknownUnit(doc.unit.clone()))?;
        let signer = cert.body.key;
        let height = self.heads.get(&signer).map_or(0, |h| h.seq);
        let mut out = Provenance {
            doc: doc.key(),
            unit: doc.unit.clone(),
            unit_name: cert.body.name.clone(),
            signer: signer.to_string(),
            cert_version: cert.body.version,
            latest_seq: None,
            latest_at: None,
            latest_hash: None,
            change_entries: 0,
            log_height: height,
        };
        let low = height.saturating_sub(MAX_SCAN).max(1);
        let mut seq = height;
        while seq >= low && seq > 0 {
            if let Some(raw) = self.store.entry(signer.as_bytes(), seq)? {
                if let Ok(e) = Entry::decode(&raw) {
                    if matches!(&e.body.payload,
                        Payload::Changes { doc: d, .. } | Payload::Snapshot { doc: d, .. } if d == doc)
                    {
                        out.change_entries += 1;
                        if out.latest_seq.is_none() {
                            out.latest_seq = Some(e.seq());
                            out.latest_at = Some(rfc3339(e.body.timestamp_ms));
                            out.latest_hash =
                                Some(e.hash().iter().map(|b| format!("{b:02x}")).collect());
                        }
                    }
                }
            }
            seq -= 1;
        }
        Ok(out)
    }
}
