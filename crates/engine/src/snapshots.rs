//! What the engine knows of snapshot entries (see `eduioc_protocol::snapshot`).
//!
//! - the latest snapshot entry held per author and document, with the seqs it replaces:
//!   they justify holes in received logs and tell a sender which entries it may leave
//!   out for a peer that holds none of them;
//! - for each stored document, the snapshot entry whose heads the stored snapshot is at
//!   (the stored document is compacted to a `save()` at every snapshot entry, so that
//!   save is what a sender puts beside the entry);
//! - for this node's own documents, what a snapshot would replace and when one is due;
//! - per author, the holes of its log held here (entries a sender left out because a
//!   snapshot replaces them): forwarding such a log to a peer that lacks them takes the
//!   saved document.
//!
//! Everything is persisted in the `snapshot_*` tables ([`crate::tables`]) in the
//! transaction of the entry that changed it, and mirrored here only after that
//! transaction commits.

use std::collections::{BTreeMap, HashMap};

use eduioc_protocol::snapshot::{self, DocTrack, Held, Ranges};
use eduioc_protocol::NodeId;
use eduioc_store::{Store, WriteTxn};

use crate::tables::{
    SNAPSHOT_DOC_AT, SNAPSHOT_DOC_CHUNKS, SNAPSHOT_HOLES, SNAPSHOT_LATEST, SNAPSHOT_TRACKS,
};
use crate::Result;

/// A key that does not name an author as it should.
fn bad_key<V>(table: &eduioc_store::Table<V>, key: &str) -> crate::Error {
    crate::Error::from(table.value_error(key, "the key does not start with an author".into()))
}

/// Of the latest snapshot entries of `author` (document key, entry), those whose document
/// is stored at their heads (`doc_at`: the entry a stored document is at).
pub(crate) fn offered<'a, K: AsRef<str> + 'a>(
    author: &NodeId,
    latest: impl IntoIterator<Item = (&'a K, &'a Held)>,
    doc_at: impl Fn(&str) -> Option<(NodeId, u64)>,
) -> Vec<Held> {
    latest
        .into_iter()
        .filter(|(key, held)| doc_at(key.as_ref()) == Some((*author, held.seq)))
        .map(|(_, held)| held.clone())
        .collect()
}

/// Of the latest snapshot entries of `author`, the key of the document stored at the
/// heads of entry `seq`.
pub(crate) fn doc_of<'a, K: AsRef<str> + 'a>(
    author: &NodeId,
    seq: u64,
    latest: impl IntoIterator<Item = (&'a K, &'a Held)>,
    doc_at: impl Fn(&str) -> Option<(NodeId, u64)>,
) -> Option<&'a str> {
    latest.into_iter().find_map(|(key, held)| {
        (held.seq == seq && doc_at(key.as_ref()) == Some((*author, seq))).then_some(key.as_ref())
    })
}

/// The key under which the latest snapshot entry of `author` for document `key` is stored.
pub(crate) fn latest_key(author: &NodeId, key: &str) -> String {
    format!("{author}/{key}")
}

/// The committed state.
#[derive(Debug, Default)]
pub(crate) struct Snapshots {
    latest: HashMap<NodeId, BTreeMap<String, Held>>,
    doc_at: HashMap<String, (NodeId, u64)>,
    tracks: HashMap<String, DocTrack>,
    holes: HashMap<NodeId, Ranges>,
}

/// Changes made by one transaction, applied to [`Snapshots`] once it commits.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    latest: Vec<(NodeId, String, Held)>,
    doc_at: HashMap<String, Option<(NodeId, u64)>>,
    tracks: HashMap<String, DocTrack>,
    holes: HashMap<NodeId, Ranges>,
}

impl Snapshots {
    pub(crate) fn load(store: &Store) -> Result<Snapshots> {
        let mut s = Snapshots::default();
        for (k, (seq, replaces)) in store.scan(&SNAPSHOT_LATEST, "")? {
            let (author, key) = k
                .split_once('/')
                .and_then(|(a, key)| Some((NodeId::from_hex(a)?, key)))
                .ok_or_else(|| bad_key(&SNAPSHOT_LATEST, &k))?;
            s.latest
                .entry(author)
                .or_default()
                .insert(key.to_string(), Held { seq, replaces });
        }
        s.doc_at = store.scan(&SNAPSHOT_DOC_AT, "")?.into_iter().collect();
        s.tracks = store.scan(&SNAPSHOT_TRACKS, "")?.into_iter().collect();
        for (k, r) in store.scan(&SNAPSHOT_HOLES, "")? {
            let a = NodeId::from_hex(&k).ok_or_else(|| bad_key(&SNAPSHOT_HOLES, &k))?;
            s.holes.insert(a, r);
        }
        Ok(s)
    }

    /// The holes of `author`'s log held here.
    pub(crate) fn holes(&self, author: &NodeId) -> Ranges {
        self.holes.get(author).cloned().unwrap_or_default()
    }

    /// Seqs of `author`'s log replaced by the snapshot entries held of it.
    pub(crate) fn replaced(&self, author: &NodeId) -> Ranges {
        let mut out = Ranges::new();
        for held in self.latest.get(author).into_iter().flat_map(|m| m.values()) {
            snapshot::union_into(&mut out, &held.replaces);
        }
        out
    }

    /// The latest snapshot entries of `author` whose document is stored at their heads.
    pub(crate) fn offered(&self, author: &NodeId) -> Vec<Held> {
        let latest = self.latest.get(author).into_iter().flatten();
        offered(author, latest, |key| self.doc_at.get(key).copied())
    }

    /// The key of the document stored at the heads of snapshot entry `seq` of `author`.
    pub(crate) fn doc_of(&self, author: &NodeId, seq: u64) -> Option<&str> {
        let latest = self.latest.get(author).into_iter().flatten();
        doc_of(author, seq, latest, |key| self.doc_at.get(key).copied())
    }

    /// What this node tracks of its own document `key`, including `pending` changes.
    pub(crate) fn track(&self, pending: &Pending, key: &str) -> DocTrack {
        pending
            .tracks
            .get(key)
            .or_else(|| self.tracks.get(key))
            .cloned()
            .unwrap_or_default()
    }

    /// The committed track of this node's own document `key`.
    pub(crate) fn own(&self, key: &str) -> DocTrack {
        self.tracks.get(key).cloned().unwrap_or_default()
    }

    pub(crate) fn apply(&mut self, pending: Pending) {
        for (author, key, held) in pending.latest {
            let docs = self.latest.entry(author).or_default();
            if docs.get(&key).is_none_or(|h| h.seq < held.seq) {
                docs.insert(key, held);
            }
        }
        for (key, at) in pending.doc_at {
            match at {
                Some(at) => self.doc_at.insert(key, at),
                None => self.doc_at.remove(&key),
            };
        }
        self.tracks.extend(pending.tracks);
        self.holes.extend(pending.holes);
    }
}

impl Pending {
    /// Records snapshot entry `held` of `author` for document `key`, if it is newer than
    /// the one held.
    pub(crate) fn snapshot(
        &mut self,
        committed: &Snapshots,
        txn: &mut WriteTxn<'_>,
        author: NodeId,
        key: &str,
        held: Held,
    ) -> Result<()> {
        let newest = committed
            .latest
            .get(&author)
            .and_then(|m| m.get(key))
            .map(|h| h.seq)
            .into_iter()
            .chain(
                self.latest
                    .iter()
                    .filter(|(a, k, _)| *a == author && k == key)
                    .map(|(.., h)| h.seq),
            )
            .max();
        if newest.is_some_and(|s| s >= held.seq) {
            return Ok(());
        }
        txn.put(
            &SNAPSHOT_LATEST,
            &latest_key(&author, key),
            &(held.seq, held.replaces.clone()),
        )?;
        self.latest.push((author, key.to_string(), held));
        Ok(())
    }

    /// Records that the stored document `key` — its base and its first `chunks` chunks —
    /// is at the heads of snapshot entry `at` (`None`: no snapshot entry's heads are at
    /// hand). With `chunks` 0 the base is the save a peer is offered beside that entry;
    /// otherwise that save is made when a peer asks for it ([`save_at`]).
    pub(crate) fn doc_at(
        &mut self,
        txn: &mut WriteTxn<'_>,
        key: &str,
        at: Option<(NodeId, u64)>,
        chunks: usize,
    ) -> Result<()> {
        match &at {
            Some(at) => txn.put(&SNAPSHOT_DOC_AT, key, at)?,
            None => txn.delete(&SNAPSHOT_DOC_AT, key)?,
        }
        match (&at, u32::try_from(chunks)) {
            (Some(_), Ok(n)) if n > 0 => txn.put(&SNAPSHOT_DOC_CHUNKS, key, &n)?,
            _ => txn.delete(&SNAPSHOT_DOC_CHUNKS, key)?,
        }
        self.doc_at.insert(key.to_string(), at);
        Ok(())
    }

    /// Records that entries `from..=to` of `author` were left out by a sender.
    pub(crate) fn hole(
        &mut self,
        committed: &Snapshots,
        txn: &mut WriteTxn<'_>,
        author: NodeId,
        from: u64,
        to: u64,
    ) -> Result<()> {
        let holes = self
            .holes
            .entry(author)
            .or_insert_with(|| committed.holes(&author));
        snapshot::union_into(holes, &[(from, to)]);
        txn.put(&SNAPSHOT_HOLES, &author.to_string(), holes)?;
        Ok(())
    }

    /// Records the new track of this node's own document `key`.
    pub(crate) fn track(&mut self, txn: &mut WriteTxn<'_>, key: &str, t: DocTrack) -> Result<()> {
        txn.put(&SNAPSHOT_TRACKS, key, &t)?;
        self.tracks.insert(key.to_string(), t);
        Ok(())
    }
}

/// The save of stored document `rec` at a snapshot entry's heads: its base when `chunks` is
/// 0, else its base with its first `chunks` chunks, loaded and saved now (a new parent or a
/// restored node asks for it; a commit does not pay for it). `None`, logged, when the
/// document does not hold that many chunks or does not load.
pub(crate) fn save_at(key: &str, rec: &eduioc_store::DocRecord, chunks: usize) -> Option<Vec<u8>> {
    if chunks == 0 {
        return (!rec.snapshot.is_empty()).then(|| rec.snapshot.clone());
    }
    let Some(upto) = rec.chunks.get(..chunks) else {
        tracing::warn!(
            doc = key,
            chunks,
            held = rec.chunks.len(),
            "the document at a snapshot entry's heads needs more chunks than are stored"
        );
        return None;
    };
    match eduioc_records::RecordsDoc::restore(&rec.snapshot, upto, &[0; 32]) {
        Ok(mut doc) => Some(doc.save()),
        Err(e) => {
            tracing::warn!(doc = key, error = %e, "the document at a snapshot entry's heads does not load");
            None
        }
    }
}
