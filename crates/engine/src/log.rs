//! The node's logs as a sender reads them ([`LogSource`]): from the engine itself (its
//! in-memory mirrors, for whoever holds it: the simulator, the benchmark, tests), or from
//! one consistent read of the store ([`StoredLog`]), which the network uses while the
//! engine commits on its own thread: a page is read from the last committed state and
//! never waits for an ingest.

use eduioc_protocol::snapshot::{Held, Ranges};
use eduioc_protocol::{LogSource, NodeId};
use eduioc_store::View;

use crate::snapshots::{self, latest_key};
use crate::tables::{SNAPSHOT_DOC_AT, SNAPSHOT_DOC_CHUNKS, SNAPSHOT_HOLES, SNAPSHOT_LATEST};
use crate::Engine;

/// What reading a log failed on: logged, and read as nothing held (the sender sends
/// nothing of it now and compares again later).
fn logged<T: Default>(what: &str, r: Result<T, eduioc_store::Error>) -> T {
    r.unwrap_or_else(|e| {
        tracing::error!(error = %e, "reading {what} failed");
        T::default()
    })
}

impl LogSource for Engine {
    fn height(&self, author: &NodeId) -> u64 {
        self.heads.get(author).map_or(0, |h| h.seq)
    }

    fn heights(&self) -> Vec<(NodeId, u64)> {
        self.heads.iter().map(|(a, h)| (*a, h.seq)).collect()
    }

    fn entries(
        &self,
        author: &NodeId,
        from: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Vec<(u64, Vec<u8>)> {
        let read = self
            .store
            .entries_from(author.as_bytes(), from, max_count, max_bytes);
        logged("entries", read)
    }

    fn snapshots(&self, author: &NodeId) -> Vec<Held> {
        self.snaps.offered(author)
    }

    fn holes(&self, author: &NodeId) -> Ranges {
        self.snaps.holes(author)
    }

    fn snapshot_doc(&self, author: &NodeId, seq: u64) -> Option<Vec<u8>> {
        let key = self.snaps.doc_of(author, seq)?;
        let rec = logged("a document", self.store.doc(key))?;
        let chunks = logged("snapshots", self.store.get(&SNAPSHOT_DOC_CHUNKS, key));
        snapshots::save_at(key, &rec, chunks.unwrap_or(0) as usize)
    }
}

/// The logs as of one committed state of the store, read from its tables: heads, entries,
/// the snapshot index and the holes, all from the same read transaction, so they agree
/// with each other as the engine's mirrors do. Take one per task (a page to send, a
/// comparison) and drop it.
#[derive(Debug)]
pub struct StoredLog {
    view: View,
}

impl StoredLog {
    pub(crate) fn new(view: View) -> StoredLog {
        StoredLog { view }
    }

    /// The latest snapshot entries held of `author`, by document key.
    fn latest(&self, author: &NodeId) -> Vec<(String, Held)> {
        let prefix = latest_key(author, "");
        let rows = logged("snapshots", self.view.scan(&SNAPSHOT_LATEST, &prefix));
        rows.into_iter()
            .map(|(k, (seq, replaces))| (k[prefix.len()..].to_string(), Held { seq, replaces }))
            .collect()
    }

    fn doc_at(&self, key: &str) -> Option<(NodeId, u64)> {
        logged("snapshots", self.view.get(&SNAPSHOT_DOC_AT, key))
    }
}

impl LogSource for StoredLog {
    fn height(&self, author: &NodeId) -> u64 {
        logged("a head", self.view.head(author.as_bytes())).map_or(0, |h| h.seq)
    }

    fn heights(&self) -> Vec<(NodeId, u64)> {
        let heads = logged("heads", self.view.heads());
        heads.into_iter().map(|(a, h)| (NodeId(a), h.seq)).collect()
    }

    fn entries(
        &self,
        author: &NodeId,
        from: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Vec<(u64, Vec<u8>)> {
        let read = self
            .view
            .entries_from(author.as_bytes(), from, max_count, max_bytes);
        logged("entries", read)
    }

    fn snapshots(&self, author: &NodeId) -> Vec<Held> {
        let latest = self.latest(author);
        snapshots::offered(author, latest.iter().map(|(k, h)| (k, h)), |k| {
            self.doc_at(k)
        })
    }

    fn holes(&self, author: &NodeId) -> Ranges {
        let read = self.view.get(&SNAPSHOT_HOLES, &author.to_string());
        logged("holes", read).unwrap_or_default()
    }

    fn snapshot_doc(&self, author: &NodeId, seq: u64) -> Option<Vec<u8>> {
        let latest = self.latest(author);
        let key = snapshots::doc_of(author, seq, latest.iter().map(|(k, h)| (k, h)), |k| {
            self.doc_at(k)
        })?;
        let rec = logged("a document", self.view.doc(key))?;
        let chunks = logged("snapshots", self.view.get(&SNAPSHOT_DOC_CHUNKS, key));
        snapshots::save_at(key, &rec, chunks.unwrap_or(0) as usize)
    }
}
