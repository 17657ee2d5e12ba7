//! One simulated node: an in-memory log store (the [`LogSource`] the real sync sessions
//! read), the node's [`Directory`], its documents (snapshot + incremental chunks, with a
//! small cache of loaded [`RecordsDoc`]s, as the engine keeps them) and the per-document
//! [`Summary`]s that aggregates are summed from.
//!
//! Received pages go through [`Node::ingest`]: decode, batch signature verification
//! ([`entry::verify_all`]), the real [`validate::check_with_doc`], then the payload is
//! applied (Automerge changes to the document and a recomputed summary, a snapshot
//! entry's document, or a certificate into the directory). Locally authored entries take
//! the same path, as in the engine. As in the engine, a school signs a snapshot entry
//! when [`DocTrack::due`] says so, a stored document is compacted to a save at every
//! snapshot entry, and the store offers those saves to the sessions
//! ([`LogSource::snapshots`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use eduioc_protocol::entry::{self, Hash};
use eduioc_protocol::snapshot::{self, DocTrack, Held, PageHoles, Ranges};
use eduioc_protocol::validate::{self, LogState, Reject, Verdict};
use eduioc_protocol::{Directory, DocId, Entry, LogSource, NodeId, NodeKey, Payload};
use eduioc_records::{Collection, RecordsDoc, Row, Summary, Value};

/// Chunks a document keeps before it is compacted into one snapshot (as the engine).
const COMPACT_AFTER_CHUNKS: usize = 32;

/// The held part of one author's log (sparse for ancestors' logs).
#[derive(Debug, Default)]
struct AuthorLog {
    entries: BTreeMap<u64, (Hash, Vec<u8>)>,
    head: Option<(u64, Hash)>,
    /// Seqs a sender left out because a snapshot entry replaces them.
    holes: Ranges,
}

/// Every entry a node holds, by author, and its stored documents.
#[derive(Debug, Default)]
pub struct Store {
    logs: HashMap<NodeId, AuthorLog>,
    entries: u64,
    bytes: u64,
    docs: HashMap<String, StoredDoc>,
    /// Latest snapshot entry held per author and document key.
    snapshots: HashMap<NodeId, BTreeMap<String, Held>>,
}

impl Store {
    /// Seqs of `author`'s log replaced by the snapshot entries held of it.
    fn replaced(&self, author: &NodeId) -> Ranges {
        let mut out = Ranges::new();
        for held in self
            .snapshots
            .get(author)
            .into_iter()
            .flat_map(|m| m.values())
        {
            snapshot::union_into(&mut out, &held.replaces);
        }
        out
    }

    /// Entries held.
    pub fn entry_count(&self) -> u64 {
        self.entries
    }

    /// Entry bytes held.
    pub fn byte_count(&self) -> u64 {
        self.bytes
    }
}

impl LogSource for Store {
    fn height(&self, author: &NodeId) -> u64 {
        self.logs
            .get(author)
            .and_then(|l| l.head)
            .map_or(0, |h| h.0)
    }

    fn heights(&self) -> Vec<(NodeId, u64)> {
        self.logs
            .iter()
            .filter_map(|(a, l)| l.head.map(|h| (*a, h.0)))
            .collect()
    }

    fn entries(
        &self,
        author: &NodeId,
        from: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Vec<(u64, Vec<u8>)> {
        let Some(log) = self.logs.get(author) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        for (seq, (_, raw)) in log.entries.range(from..) {
            if out.len() >= max_count || (!out.is_empty() && bytes + raw.len() > max_bytes) {
                break;
            }
            bytes += raw.len();
            out.push((*seq, raw.clone()));
        }
        out
    }

    fn snapshots(&self, author: &NodeId) -> Vec<Held> {
        let Some(docs) = self.snapshots.get(author) else {
            return Vec::new();
        };
        docs.iter()
            .filter(|(key, h)| {
                self.docs
                    .get(*key)
                    .is_some_and(|d| d.at == Some((*author, h.seq)))
            })
            .map(|(_, h)| h.clone())
            .collect()
    }

    fn holes(&self, author: &NodeId) -> Ranges {
        self.logs
            .get(author)
            .map(|l| l.holes.clone())
            .unwrap_or_default()
    }

    fn snapshot_doc(&self, author: &NodeId, seq: u64) -> Option<Vec<u8>> {
        let docs = self.snapshots.get(author)?;
        let (key, _) = docs.iter().find(|(_, h)| h.seq == seq)?;
        let d = self.docs.get(key)?;
        (d.at == Some((*author, seq))).then(|| d.snapshot.clone())
    }
}

/// A document as stored: the last snapshot and the chunks appended since.
#[derive(Debug, Default, Clone)]
struct StoredDoc {
    snapshot: Vec<u8>,
    chunks: Vec<Vec<u8>>,
    /// The snapshot entry at whose heads `snapshot` is, if any.
    at: Option<(NodeId, u64)>,
}

/// An author's log as a pass found it: its head and holes.
type LogBefore = (Option<(u64, Hash)>, Ranges);

/// What a pass over a page changed, to undo it when the pass is discarded (a snapshot
/// entry the page's holes relied on was refused: [`PageHoles`]). The engine discards its
/// transaction instead. Kept only for pages that carry such claims.
#[derive(Debug, Default)]
struct Journal {
    /// Per author changed: its head and holes before (`None`: no log), and the seqs added.
    logs: HashMap<NodeId, (Option<LogBefore>, Vec<u64>)>,
    docs: HashMap<String, Option<StoredDoc>>,
    snapshots: HashMap<NodeId, Option<BTreeMap<String, Held>>>,
    tracks: HashMap<String, Option<DocTrack>>,
    dir: Option<Directory>,
    entries: u64,
    bytes: u64,
    last_append_us: u64,
}

/// Outcome of ingesting a page.
#[derive(Debug, Default)]
pub struct Ingested {
    /// Heights after the page for every author in it.
    pub heights: Vec<(NodeId, u64)>,
    /// Authors with newly appended entries.
    pub appended: Vec<NodeId>,
    /// Entries refused, with their reason.
    pub rejected: Vec<Reject>,
}

/// The authoritative records a school authored (ground truth), per collection.
pub type Truth = BTreeMap<Collection, BTreeMap<String, BTreeMap<String, Value>>>;

/// One simulated node.
pub struct Node {
    /// The unit it speaks for.
    pub unit: String,
    /// Level label of the unit (department, district, commune, school, ...).
    pub level: String,
    /// The node's key (log author and Automerge actor).
    pub key: NodeKey,
    /// The hierarchy as this node knows it.
    pub dir: Directory,
    /// The entries it holds.
    pub store: Store,
    /// This node's own documents: what a snapshot would replace, when one is due.
    tracks: HashMap<String, DocTrack>,
    /// Loaded documents, most recently used last: at most `cache_cap` between
    /// operations (during one, at least one is held).
    cache: Vec<(String, RecordsDoc)>,
    cache_cap: usize,
    /// Materialised summary per document key.
    pub summaries: HashMap<String, Summary>,
    /// Rejections by reason key.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Simulated time (µs) of the last entry appended here.
    pub last_append_us: u64,
    /// Ground truth of what this node authored (schools only).
    pub truth: Truth,
    /// What the pass over the page being ingested changed, if it may be discarded.
    journal: Option<Journal>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("unit", &self.unit)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node with an empty store that keeps at most `cache_cap` documents loaded
    /// between operations (0: none).
    pub fn new(unit: &str, level: &str, key: NodeKey, dir: Directory, cache_cap: usize) -> Node {
        Node {
            unit: unit.to_string(),
            level: level.to_string(),
            key,
            dir,
            store: Store::default(),
            tracks: HashMap::new(),
            cache: Vec::new(),
            cache_cap,
            summaries: HashMap::new(),
            rejected: BTreeMap::new(),
            last_append_us: 0,
            truth: Truth::new(),
            journal: None,
        }
    }

    /// Moves `key` to the most recent cache slot, loading it from storage if needed.
    fn load(&mut self, key: &str) -> Result<&mut RecordsDoc, eduioc_records::Error> {
        if let Some(i) = self.cache.iter().position(|(k, _)| k == key) {
            let item = self.cache.remove(i);
            self.cache.push(item);
        } else {
            let actor = *self.key.id().as_bytes();
            let doc = match self.store.docs.get(key) {
                None => RecordsDoc::new(&actor),
                Some(stored) => RecordsDoc::restore(&stored.snapshot, &stored.chunks, &actor)?,
            };
            if self.cache.len() >= self.cache_cap.max(1) {
                self.cache.remove(0);
            }
            self.cache.push((key.to_string(), doc));
        }
        match self.cache.last_mut() {
            Some((_, d)) => Ok(d),
            None => Err(eduioc_records::Error::UnknownCollection(key.to_string())),
        }
    }

    /// Drops the least recently used documents beyond `cache_cap` (end of an operation).
    fn settle(&mut self) {
        if self.cache.len() > self.cache_cap {
            let extra = self.cache.len() - self.cache_cap;
            self.cache.drain(..extra);
        }
    }

    /// Documents loaded in memory now.
    pub fn loaded_docs(&self) -> usize {
        self.cache.len()
    }

    fn evict(&mut self, key: &str) {
        self.cache.retain(|(k, _)| k != key);
    }

    /// Validates and commits a page of entries in wire form, with the saved documents sent
    /// beside its snapshot entries, as the engine does.
    pub fn ingest(&mut self, page: &[Vec<u8>], docs: &[(u32, Vec<u8>)], now_us: u64) -> Ingested {
        let mut out = Ingested::default();
        let mut entries = Vec::with_capacity(page.len());
        let mut besides = Vec::with_capacity(page.len());
        for (i, raw) in page.iter().enumerate() {
            let mut beside_it = docs.iter().filter(|(j, _)| *j as usize == i);
            let beside = beside_it.next().map(|(_, d)| d.as_slice());
            if beside_it.next().is_some() {
                out.rejected.push(Reject::Malformed(format!(
                    "entry {i} of the page has more than one document beside it"
                )));
                continue;
            }
            match Entry::decode(raw) {
                Ok(e) => {
                    entries.push(e);
                    besides.push(beside);
                }
                Err(e) => out.rejected.push(Reject::from(e)),
            }
        }
        let ok = entry::verify_all(&entries);
        let mut holes = validate::page_holes(
            entries
                .iter()
                .zip(&ok)
                .zip(&besides)
                .enumerate()
                .map(|(i, ((e, ok), beside))| (i, e, *ok, *beside)),
            &self.dir,
        );
        let mut authors: Vec<NodeId> = Vec::new();
        for e in &entries {
            if !authors.contains(&e.author()) {
                authors.push(e.author());
            }
        }
        let touched = loop {
            if !holes.is_empty() {
                self.journal = Some(Journal {
                    entries: self.store.entries,
                    bytes: self.store.bytes,
                    last_append_us: self.last_append_us,
                    ..Journal::default()
                });
            }
            let mut touched: HashSet<String> = HashSet::new();
            let mut appended: Vec<NodeId> = Vec::new();
            let mut rejected: Vec<Reject> = Vec::new();
            for (i, e) in entries.iter().enumerate() {
                match self.commit(e, ok[i], besides[i], i, &mut holes, now_us, &mut touched) {
                    Ok(true) => {
                        if !appended.contains(&e.author()) {
                            appended.push(e.author());
                        }
                    }
                    Ok(false) => {}
                    Err(r) => rejected.push(r),
                }
            }
            let settled = holes.settle(|a| self.store.replaced(a));
            let journal = self.journal.take();
            match settled {
                None => {
                    out.appended = appended;
                    out.rejected.extend(rejected);
                    break touched;
                }
                Some(next) => {
                    if let Some(j) = journal {
                        self.rollback(j, &entries);
                    }
                    holes = next;
                }
            }
        };
        self.summarize(touched);
        for r in &out.rejected {
            *self.rejected.entry(r.key()).or_default() += 1;
        }
        out.heights = authors.iter().map(|a| (*a, self.store.height(a))).collect();
        self.settle();
        out
    }

    /// Undoes what a discarded pass over `entries` changed.
    fn rollback(&mut self, j: Journal, entries: &[Entry]) {
        for (author, (before, added)) in j.logs {
            match before {
                None => {
                    self.store.logs.remove(&author);
                }
                Some((head, holes)) => {
                    if let Some(log) = self.store.logs.get_mut(&author) {
                        for seq in added {
                            log.entries.remove(&seq);
                        }
                        log.head = head;
                        log.holes = holes;
                    }
                }
            }
        }
        for (key, doc) in j.docs {
            match doc {
                Some(d) => self.store.docs.insert(key, d),
                None => self.store.docs.remove(&key),
            };
        }
        for (author, snaps) in j.snapshots {
            match snaps {
                Some(m) => self.store.snapshots.insert(author, m),
                None => self.store.snapshots.remove(&author),
            };
        }
        for (key, t) in j.tracks {
            match t {
                Some(t) => self.tracks.insert(key, t),
                None => self.tracks.remove(&key),
            };
        }
        if let Some(dir) = j.dir {
            self.dir = dir;
        }
        self.store.entries = j.entries;
        self.store.bytes = j.bytes;
        self.last_append_us = j.last_append_us;
        for e in entries {
            if let Payload::Changes { doc, .. } | Payload::Snapshot { doc, .. } = &e.body.payload {
                self.evict(&doc.key());
            }
        }
    }

    /// Records the stored document `key` as it is before the pass changes it.
    fn journal_doc(&mut self, key: &str) {
        if let Some(j) = self.journal.as_mut() {
            j.docs
                .entry(key.to_string())
                .or_insert_with(|| self.store.docs.get(key).cloned());
        }
    }

    /// Validates one entry and, when new, applies its payload and stores it.
    /// Returns whether it was appended.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        e: &Entry,
        sig_ok: bool,
        beside: Option<&[u8]>,
        index: usize,
        holes: &mut PageHoles,
        now_us: u64,
        touched: &mut HashSet<String>,
    ) -> Result<bool, Reject> {
        let author = e.author();
        let log = self.store.logs.get(&author);
        let head = log.and_then(|l| l.head);
        let at_seq = log.and_then(|l| l.entries.get(&e.seq()).map(|(h, _)| *h));
        let sparse = self
            .dir
            .unit_of(&author)
            .is_some_and(|u| !self.dir.is_ancestor_or_self(&self.unit, u));
        // Saturating: a log may hold seq u64::MAX (an ancestor's sparse log).
        let next = head.map_or(1, |h| h.0.saturating_add(1));
        let seq = e.seq();
        let gap_covered = holes.gap_covered(&author, next, seq, at_seq.is_some(), || {
            self.store.replaced(&author)
        });
        let state = LogState {
            head,
            at_seq,
            sparse,
            gap_covered,
        };
        match validate::check_with_doc(e, sig_ok, beside, &self.dir, state)? {
            Verdict::Duplicate | Verdict::Replaced => Ok(false),
            Verdict::Append => {
                match &e.body.payload {
                    Payload::Changes { doc, changes } => {
                        let key = doc.key();
                        if let Err(err) = self.apply_changes(&key, changes) {
                            self.evict(&key);
                            return Err(Reject::Malformed(format!(
                                "changes cannot be applied: {err}"
                            )));
                        }
                        touched.insert(key);
                    }
                    Payload::Snapshot {
                        doc,
                        heads,
                        replaces,
                    } => {
                        let key = doc.key();
                        if let Err(r) = self.apply_snapshot(&key, e, heads, beside) {
                            self.evict(&key);
                            return Err(r);
                        }
                        let held = Held {
                            seq: e.seq(),
                            replaces: replaces.clone(),
                        };
                        holes.on_snapshot(index, author, replaces);
                        if let Some(j) = self.journal.as_mut() {
                            j.snapshots
                                .entry(author)
                                .or_insert_with(|| self.store.snapshots.get(&author).cloned());
                        }
                        let docs = self.store.snapshots.entry(author).or_default();
                        if docs.get(&key).is_none_or(|h| h.seq < held.seq) {
                            docs.insert(key.clone(), held);
                        }
                        if beside.is_some() {
                            touched.insert(key);
                        }
                    }
                    Payload::Certificate(c) => {
                        if let Some(j) = self.journal.as_mut() {
                            j.dir.get_or_insert_with(|| self.dir.clone());
                        }
                        // A refused certificate is dropped, as in the engine.
                        let _ = self.dir.insert(c.clone());
                    }
                    Payload::Notification { .. } | Payload::Ack { .. } => {}
                }
                if author == self.key.id() {
                    if let (Some(j), Payload::Changes { doc, .. } | Payload::Snapshot { doc, .. }) =
                        (self.journal.as_mut(), &e.body.payload)
                    {
                        j.tracks
                            .entry(doc.key())
                            .or_insert_with(|| self.tracks.get(&doc.key()).cloned());
                    }
                    match &e.body.payload {
                        Payload::Changes { doc, changes } => {
                            let bytes = changes.iter().map(|c| c.len() as u64).sum();
                            self.tracks
                                .entry(doc.key())
                                .or_default()
                                .on_changes(e.seq(), bytes);
                        }
                        Payload::Snapshot { doc, .. } => {
                            self.tracks
                                .entry(doc.key())
                                .or_default()
                                .on_snapshot(e.seq());
                        }
                        _ => {}
                    }
                }
                if let Some(j) = self.journal.as_mut() {
                    let before = self
                        .store
                        .logs
                        .get(&author)
                        .map(|l| (l.head, l.holes.clone()));
                    j.logs
                        .entry(author)
                        .or_insert_with(|| (before, Vec::new()))
                        .1
                        .push(e.seq());
                }
                let log = self.store.logs.entry(author).or_default();
                if seq > next && !sparse {
                    snapshot::union_into(&mut log.holes, &[(next, seq - 1)]);
                    holes.on_hole(author, next, seq - 1);
                }
                let next = match log.head {
                    Some(h) if h.0 > e.seq() => h,
                    _ => (e.seq(), e.hash()),
                };
                log.head = Some(next);
                self.store.bytes += e.bytes().len() as u64;
                log.entries.insert(e.seq(), (e.hash(), e.bytes().to_vec()));
                self.store.entries += 1;
                self.last_append_us = now_us;
                Ok(true)
            }
        }
    }

    fn apply_changes(&mut self, key: &str, changes: &[Vec<u8>]) -> Result<(), String> {
        let mut parsed = Vec::with_capacity(changes.len());
        for c in changes {
            parsed.push(automerge::Change::from_bytes(c.clone()).map_err(|e| e.to_string())?);
        }
        let doc = self.load(key).map_err(|e| e.to_string())?;
        doc.apply_changes(parsed).map_err(|e| e.to_string())?;
        self.journal_doc(key);
        let snapshot = {
            let stored = self.store.docs.entry(key.to_string()).or_default();
            stored.chunks.push(changes.concat());
            stored.chunks.len() > COMPACT_AFTER_CHUNKS
        };
        if snapshot {
            let snap = self.load(key).map_err(|e| e.to_string())?.save();
            let stored = self.store.docs.entry(key.to_string()).or_default();
            stored.snapshot = snap;
            stored.chunks.clear();
            stored.at = None;
        }
        Ok(())
    }

    /// Applies a snapshot entry as the engine does: loads (or merges) the document sent
    /// beside it, or checks that the document here is at its heads; then compacts the
    /// stored document to a save at those heads.
    fn apply_snapshot(
        &mut self,
        key: &str,
        e: &Entry,
        heads: &[[u8; 32]],
        beside: Option<&[u8]>,
    ) -> Result<(), Reject> {
        let fresh = beside.is_some()
            && !self.store.docs.contains_key(key)
            && !self.cache.iter().any(|(k, _)| k == key);
        let actor = *self.key.id().as_bytes();
        let cant = |err: eduioc_records::Error| {
            Reject::Malformed(format!("snapshot cannot be applied: {err}"))
        };
        if fresh {
            let doc = RecordsDoc::load(beside.unwrap_or_default(), &actor).map_err(cant)?;
            if self.cache.len() >= self.cache_cap.max(1) {
                self.cache.remove(0);
            }
            self.cache.push((key.to_string(), doc));
        }
        let doc = self.load(key).map_err(cant)?;
        if let (Some(save), false) = (beside, fresh) {
            doc.load_incremental(save).map_err(cant)?;
        }
        let at: Vec<[u8; 32]> = doc.heads().into_iter().map(|h| h.0).collect();
        if at != heads {
            return Err(match beside {
                Some(_) => Reject::Malformed(format!(
                    "document {key} loaded from the snapshot is not at its heads"
                )),
                None => Reject::Gap(format!(
                    "snapshot of {key} at heads the document here is not at, and no document beside it"
                )),
            });
        }
        let save = match beside {
            Some(save) if fresh => save.to_vec(),
            _ => doc.save(),
        };
        self.journal_doc(key);
        let stored = self.store.docs.entry(key.to_string()).or_default();
        stored.snapshot = save;
        stored.chunks.clear();
        stored.at = Some((e.author(), e.seq()));
        Ok(())
    }

    /// Recomputes the summaries of the touched documents with the real `summarize`.
    fn summarize(&mut self, touched: HashSet<String>) {
        let mut keys: Vec<String> = touched.into_iter().collect();
        keys.sort();
        for key in keys {
            let Some(collection) =
                DocId::from_key(&key).and_then(|d| d.collection.parse::<Collection>().ok())
            else {
                continue;
            };
            if let Ok(doc) = self.load(&key) {
                let s = eduioc_records::summarize(collection, doc);
                self.summaries.insert(key, s);
            }
        }
    }

    /// Appends an entry of this node's own log carrying `payload`. Returns its author
    /// (this node) if appended.
    pub fn append_local(&mut self, payload: Payload, now_us: u64, base_ms: i64) -> bool {
        let id = self.key.id();
        let head = self.store.logs.get(&id).and_then(|l| l.head);
        let e = Entry::sign(
            &self.key,
            head.map_or(1, |h| h.0 + 1),
            head.map(|h| h.1),
            base_ms + (now_us / 1000) as i64,
            payload,
        );
        let mut touched = HashSet::new();
        let res = self.commit(
            &e,
            true,
            None,
            0,
            &mut PageHoles::default(),
            now_us,
            &mut touched,
        );
        self.summarize(touched);
        self.settle();
        match res {
            Ok(appended) => appended,
            Err(r) => {
                *self.rejected.entry(r.key()).or_default() += 1;
                false
            }
        }
    }

    /// A school edits one of its documents: upserts `rows` with the real
    /// [`RecordsDoc::upsert_at`], signs the resulting Automerge changes into one entry
    /// and commits it. The ground truth is updated with the same rows.
    pub fn author_upsert(
        &mut self,
        doc: DocId,
        collection: Collection,
        rows: &[Row],
        now_us: u64,
        base_ms: i64,
    ) -> bool {
        let key = doc.key();
        let time_s = (base_ms / 1000) + (now_us / 1_000_000) as i64;
        let changes = match self.load(&key) {
            Ok(d) => match d.upsert_at(rows, time_s) {
                Ok(_) => d
                    .take_local_changes()
                    .into_iter()
                    .map(|mut c| c.bytes().to_vec())
                    .collect::<Vec<_>>(),
                Err(_) => Vec::new(),
            },
            Err(_) => Vec::new(),
        };
        if changes.is_empty() {
            self.settle();
            return false;
        }
        let truth = self.truth.entry(collection).or_default();
        for row in rows {
            let rec = truth.entry(row.id.clone()).or_default();
            for (k, v) in &row.fields {
                rec.insert(k.clone(), v.clone());
            }
        }
        let appended = self.append_local(
            Payload::Changes {
                doc: doc.clone(),
                changes,
            },
            now_us,
            base_ms,
        );
        // As the engine: sign a snapshot of the document once enough was written to it.
        let track = self.tracks.get(&key).cloned().unwrap_or_default();
        if appended && track.due() {
            let heads = match self.load(&key) {
                Ok(d) => d.heads().into_iter().map(|h| h.0).collect(),
                Err(_) => return appended,
            };
            self.append_local(track.snapshot(doc, heads), now_us, base_ms);
        }
        appended
    }

    /// The summary of this node's ground truth (what it authored).
    pub fn truth_summary(&self) -> Summary {
        let mut s = Summary::default();
        for (collection, records) in &self.truth {
            for fields in records.values() {
                s.count_record(*collection, fields);
            }
        }
        s
    }

    /// The aggregate of `unit`'s subtree as this node computes it: the per-document
    /// summaries of school year `year` summed with [`Summary::add`] over the subtree in
    /// this node's directory. Returns (summary, schools in subtree, schools reporting).
    pub fn aggregate(&self, unit: &str, year: &str) -> (Summary, u64, u64) {
        let mut total = Summary::default();
        let (mut schools, mut reporting) = (0, 0);
        for u in self.dir.subtree(unit) {
            let is_school = self.dir.level(&u) == Some("school");
            schools += u64::from(is_school);
            let mut has = false;
            for c in [Collection::Students, Collection::Staff, Collection::Classes] {
                let key = DocId {
                    unit: u.clone(),
                    collection: c.as_str().into(),
                    year: year.into(),
                }
                .key();
                if let Some(s) = self.summaries.get(&key) {
                    total.add(s);
                    has = true;
                }
            }
            reporting += u64::from(has && is_school);
        }
        (total, schools, reporting)
    }

    /// Rough bytes of documents stored here (snapshots and chunks).
    pub fn doc_bytes(&self) -> u64 {
        self.store
            .docs
            .values()
            .map(|d| (d.snapshot.len() + d.chunks.iter().map(Vec::len).sum::<usize>()) as u64)
            .sum()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eduioc_protocol::{CertBody, Certificate};

    fn directory(root: &NodeKey, units: &[(&str, Option<&str>, &str, &NodeKey)]) -> Directory {
        let mut dir = Directory::new(root.id());
        for (unit, parent, level, key) in units {
            let body = CertBody {
                unit: unit.to_string(),
                name: unit.to_string(),
                level: level.to_string(),
                parent: parent.map(str::to_string),
                key: key.id(),
                version: 1,
                effective_ms: 0,
                delegate: *level != "school",
                issuer: root.id(),
            };
            dir.insert(Certificate::issue(body, root)).unwrap();
        }
        dir
    }

    fn rows(collection: Collection, prefix: &str, n: usize) -> Vec<Row> {
        (0..n)
            .map(|i| {
                let mut fields = BTreeMap::new();
                fields.insert("full_name".to_string(), Value::Str(format!("{prefix} {i}")));
                fields.insert("gender".to_string(), Value::Str("F".into()));
                if collection == Collection::Students {
                    fields.insert("grade".to_string(), Value::Int(1));
                    fields.insert("status".to_string(), Value::Str("enrolled".into()));
                }
                Row {
                    id: format!("{prefix}-{i}"),
                    fields,
                }
            })
            .collect()
    }

    /// As the engine's test: a refused snapshot entry leaves no hole behind, and the
    /// entries that relied on it are refused with it.
    #[test]
    fn a_refused_snapshot_leaves_no_hole_behind() {
        let root = NodeKey::from_secret([1; 32]);
        let dk = NodeKey::from_secret([2; 32]);
        let sk = NodeKey::from_secret([3; 32]);
        let dir = directory(
            &root,
            &[
                ("so", None, "department", &root),
                ("d", Some("so"), "district", &dk),
                ("s1", Some("d"), "school", &sk),
            ],
        );
        let mut s1 = Node::new("s1", "school", sk.clone(), dir.clone(), 4);
        let doc = |c: Collection| DocId {
            unit: "s1".into(),
            collection: c.as_str().into(),
            year: "2026-2027".into(),
        };
        let (st, sf) = (Collection::Students, Collection::Staff);
        assert!(s1.author_upsert(doc(st), st, &rows(st, "a", 2), 1, 0));
        assert!(s1.author_upsert(doc(sf), sf, &rows(sf, "b", 1), 2, 0));
        assert!(s1.author_upsert(doc(sf), sf, &rows(sf, "c", 1), 3, 0));
        assert!(s1.author_upsert(doc(st), st, &rows(st, "e", 300), 4, 0));
        let me = sk.id();
        assert_eq!(s1.store.height(&me), 5, "C1 C2 C3 C4 S5");
        assert_eq!(
            s1.store.snapshots(&me),
            vec![Held {
                seq: 5,
                replaces: vec![(1, 1), (4, 4)]
            }]
        );
        let log: Vec<Vec<u8>> = s1
            .store
            .entries(&me, 1, 10, usize::MAX)
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        let save = s1.store.snapshot_doc(&me, 5).unwrap();
        let mut corrupt = save.clone();
        let n = corrupt.len();
        corrupt[n - 3] ^= 0x55;

        let mut d = Node::new("d", "district", dk, dir, 4);
        let got = d.ingest(&log[1..5], &[(3, corrupt)], 10);
        let keys: Vec<&str> = got.rejected.iter().map(Reject::key).collect();
        assert_eq!(keys, vec!["gap"; 4]);
        assert!(got.appended.is_empty());
        assert_eq!(d.store.height(&me), 0);
        assert_eq!(d.store.entry_count(), 0);
        assert!(d.store.holes(&me).is_empty() && d.doc_bytes() == 0);
        assert_eq!(d.last_append_us, 0);
        // The honest page: C4 left out, S5 with its document.
        let page = [log[1].clone(), log[2].clone(), log[4].clone()];
        let got = d.ingest(&page, &[(2, save)], 20);
        assert!(got.rejected.is_empty(), "{:?}", got.rejected);
        assert_eq!(d.store.holes(&me), vec![(1, 1), (4, 4)]);
        assert_eq!(
            d.summaries.get(&doc(st).key()),
            s1.summaries.get(&doc(st).key())
        );
    }
}
