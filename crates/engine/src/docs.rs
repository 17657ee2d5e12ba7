//! A bounded cache of loaded Automerge documents.
//!
//! A department holds thousands of documents; only as many as fit in a memory budget
//! (and at most `capacity`) are materialised at once; the least recently used are
//! dropped and reload from the store. A document's memory is estimated from its number
//! of records ([`doc_cost`]), so an office keeps many small schools' documents loaded
//! where a fixed count would reload them on every page.
//!
//! A page may change more documents than the cache holds. [`DocCache::put`] hands back a
//! document the page changed when it drops it, so that the engine writes its figures
//! (summary, look-up index) then, instead of loading it a second time at the end.

use std::collections::{HashMap, HashSet};

use automerge::ChangeHash;
use eduioc_records::{RecordsDoc, Summary};

use crate::search::Lookup;

/// Least-recently-used cache of loaded documents, keyed by document key.
///
/// Each slot remembers when it was last used (Unix ms, from the clock given at
/// construction) so that [`DocCache::evict_idle`] can give the memory of documents nobody
/// asked for in a while back: after a catch-up an office would otherwise keep its last
/// `capacity` documents — possibly hundreds of MB — loaded for good.
pub(crate) struct DocCache {
    capacity: usize,
    /// The memory budget, bytes (estimated, [`doc_cost`]).
    budget: usize,
    /// The estimated bytes of the documents loaded.
    used: usize,
    /// Most recently used last.
    slots: Vec<Slot>,
    /// Where the last-use stamps come from.
    clock: crate::Clock,
    /// Loads since start, for status and benchmarks.
    pub(crate) loads: u64,
    /// Documents whose figures were updated from the records a page changed (not
    /// computed from the whole document), since start.
    pub(crate) updated: u64,
    /// Documents the page being committed changed, not yet summarised.
    dirty: HashSet<String>,
    /// Summaries of changed documents dropped (and summarised) while the page was being
    /// committed.
    dropped: HashMap<String, Summary>,
    /// The heads each document the page changes had before the page's first change to
    /// it, so that its figures are updated from the records that changed (a document
    /// the page brings whole has none: its figures are computed from all of it). Kept
    /// while the document is dropped and reloaded during the page: the figures it is
    /// updated from are those before the page.
    before: HashMap<String, Vec<ChangeHash>>,
    /// Documents changed since their memory was last estimated (it is estimated again
    /// when the page ends, not at every entry: counting a document's records is not free).
    resize: HashSet<String>,
}

/// One loaded document.
struct Slot {
    key: String,
    doc: RecordsDoc,
    /// When it was last used, Unix ms.
    used_ms: i64,
    /// Its estimated bytes ([`doc_cost`]), as of the last page that changed it.
    cost: usize,
    /// Its look-up index as the store holds it, decoded, once a page wrote it: the next
    /// page's figures start from it instead of decoding it again.
    index: Option<Lookup<String>>,
}

/// The estimated memory of a loaded document: about 40 KiB, plus about 255 bytes per
/// record, measured on synthetic rosters of 58 and 861 students (release build;
/// `tests::memory_of_loaded_documents`), rounded up.
pub(crate) fn doc_cost(doc: &RecordsDoc) -> usize {
    48 * 1024 + 320 * doc.len()
}

impl DocCache {
    pub(crate) fn new(capacity: usize, budget: usize, clock: crate::Clock) -> DocCache {
        DocCache {
            capacity: capacity.max(1),
            budget,
            used: 0,
            slots: Vec::new(),
            clock,
            loads: 0,
            updated: 0,
            dirty: HashSet::new(),
            dropped: HashMap::new(),
            before: HashMap::new(),
            resize: HashSet::new(),
        }
    }

    /// Whether document `key` is loaded.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.slots.iter().any(|s| s.key == key)
    }

    /// The loaded documents among `keys`, each borrowed alone, for work on several at once.
    pub(crate) fn many_mut(&mut self, keys: &[String]) -> HashMap<&str, &mut RecordsDoc> {
        self.slots
            .iter_mut()
            .filter(|s| keys.contains(&s.key))
            .map(|s| (s.key.as_str(), &mut s.doc))
            .collect()
    }

    /// The cached document, marked most recently used.
    pub(crate) fn get(&mut self, key: &str) -> Option<&mut RecordsDoc> {
        let i = self.slots.iter().position(|s| s.key == key)?;
        let mut slot = self.slots.remove(i);
        slot.used_ms = self.clock.now_ms();
        self.slots.push(slot);
        self.slots.last_mut().map(|s| &mut s.doc)
    }

    /// Inserts a freshly loaded document, evicting the least recently used beyond the
    /// budget or the capacity (the new one always stays). Returns the evicted documents
    /// the page being committed changed: the caller summarises them
    /// ([`DocCache::summarised`]).
    #[must_use]
    pub(crate) fn put(&mut self, key: &str, doc: RecordsDoc) -> Vec<(String, RecordsDoc)> {
        self.evict(key);
        self.loads += 1;
        let cost = doc_cost(&doc);
        let mut changed = Vec::new();
        while !self.slots.is_empty()
            && (self.slots.len() >= self.capacity || self.used + cost > self.budget)
        {
            let slot = self.slots.remove(0);
            self.used -= slot.cost;
            if self.dirty.remove(&slot.key) {
                changed.push((slot.key, slot.doc));
            }
        }
        self.used += cost;
        self.slots.push(Slot {
            key: key.to_string(),
            doc,
            used_ms: self.clock.now_ms(),
            cost,
            index: None,
        });
        changed
    }

    /// Notes the heads of the cached document `key` before the page changes it, unless
    /// the page changed it already.
    pub(crate) fn about_to_change(&mut self, key: &str) {
        if self.before.contains_key(key) {
            return;
        }
        if let Some(i) = self.slots.iter().position(|s| s.key == key) {
            let heads = self.slots[i].doc.record_changes();
            self.before.insert(key.to_string(), heads);
        }
    }

    /// The heads document `key` had before the page changed it, if its figures can be
    /// updated from the records changed since.
    pub(crate) fn before(&self, key: &str) -> Option<&[ChangeHash]> {
        self.before.get(key).map(Vec::as_slice)
    }

    /// Records the summary of a changed document [`DocCache::put`] handed back.
    pub(crate) fn summarised(&mut self, key: String, summary: Summary) {
        self.dropped.insert(key, summary);
    }

    /// Drops a document (its in-memory state may be ahead of the store): its figures
    /// will be computed from the store.
    pub(crate) fn evict(&mut self, key: &str) {
        if let Some(i) = self.slots.iter().position(|s| s.key == key) {
            self.used -= self.slots.remove(i).cost;
        }
        self.dirty.remove(key);
        self.dropped.remove(key);
    }

    /// Takes a document out of the cache (to be changed outside it and put back).
    pub(crate) fn take(&mut self, key: &str) -> Option<RecordsDoc> {
        let i = self.slots.iter().position(|s| s.key == key)?;
        self.dirty.remove(key);
        self.dropped.remove(key);
        let slot = self.slots.remove(i);
        self.used -= slot.cost;
        Some(slot.doc)
    }

    /// Marks a cached document as changed by the page being committed (its memory is
    /// estimated again when the page ends: it may have grown).
    pub(crate) fn changed(&mut self, key: &str) {
        if !self.dirty.contains(key) {
            self.dirty.insert(key.to_string());
        }
        if !self.resize.contains(key) {
            self.resize.insert(key.to_string());
        }
    }

    /// The decoded look-up index kept with loaded document `key`, taken out (a page's
    /// figures update it and give it back with [`DocCache::keep_index`]).
    pub(crate) fn take_index(&mut self, key: &str) -> Option<Lookup<String>> {
        self.slots.iter_mut().find(|s| s.key == key)?.index.take()
    }

    /// Keeps the look-up index of loaded document `key` as the page's transaction wrote
    /// it. A page that does not commit evicts the documents it changed, index and all.
    pub(crate) fn keep_index(&mut self, key: &str, index: Lookup<String>) {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.key == key) {
            slot.index = Some(index);
        }
    }

    /// Drops every document a page changed that did not complete (a store error ended it
    /// early): their in-memory state may be ahead of the store.
    pub(crate) fn abandon_page(&mut self) {
        let dirty: Vec<String> = self.dirty.drain().collect();
        for k in dirty {
            self.evict(&k);
        }
        self.dropped.clear();
        self.end_page();
    }

    /// The summaries of changed documents dropped during the page; forgets what changed.
    pub(crate) fn take_dropped(&mut self) -> HashMap<String, Summary> {
        self.dirty.clear();
        std::mem::take(&mut self.dropped)
    }

    /// The page's figures are written (or abandoned): forget the heads noted for it.
    pub(crate) fn end_page(&mut self) {
        for (key, _) in std::mem::take(&mut self.before) {
            if let Some(i) = self.slots.iter().position(|s| s.key == key) {
                self.slots[i].doc.stop_recording();
            }
        }
        // The documents the page changed may have grown.
        let mut used = 0;
        for slot in &mut self.slots {
            if self.resize.remove(&slot.key) {
                slot.cost = doc_cost(&slot.doc);
            }
            used += slot.cost;
        }
        self.used = used;
        self.resize.clear();
    }

    /// Drops every document last used before `now_ms - idle_ms` (none a page is
    /// changing: this runs between operations). Returns how many were dropped.
    pub(crate) fn evict_idle(&mut self, now_ms: i64, idle_ms: i64) -> usize {
        let before = self.slots.len();
        let dirty = &self.dirty;
        self.slots
            .retain(|s| dirty.contains(&s.key) || now_ms.saturating_sub(s.used_ms) < idle_ms);
        self.used = self.slots.iter().map(|s| s.cost).sum();
        before - self.slots.len()
    }

    /// Drops every document (the store was reopened: they reload from it).
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.used = 0;
        self.dirty.clear();
        self.dropped.clear();
        self.before.clear();
        self.resize.clear();
    }

    /// Number of documents loaded now.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Estimated bytes of the documents loaded now.
    pub(crate) fn bytes(&self) -> usize {
        self.used
    }
}
