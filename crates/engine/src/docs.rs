//! A bounded cache of loaded Automerge documents.
//!
//! A department holds thousands of documents; only `capacity` of them are materialised
//! in memory at once (least recently used are dropped; they reload from the store).
//!
//! A page may change more documents than the cache holds. [`DocCache::put`] hands back a
//! document the page changed when it drops it, so that the engine writes its figures
//! (summary, look-up index) then, instead of loading it a second time at the end.

use std::collections::{HashMap, HashSet};

use eduioc_records::{RecordsDoc, Summary};

/// Least-recently-used cache of loaded documents, keyed by document key.
///
/// Each slot remembers when it was last used (Unix ms, from the clock given at
/// construction) so that [`DocCache::evict_idle`] can give the memory of documents nobody
/// asked for in a while back: after a catch-up an office would otherwise keep its last
/// `capacity` documents — possibly hundreds of MB — loaded for good.
pub(crate) struct DocCache {
    capacity: usize,
    /// Most recently used last: (key, document, last used, Unix ms).
    slots: Vec<(String, RecordsDoc, i64)>,
    /// Where the last-use stamps come from.
    clock: fn() -> i64,
    /// Loads since start, for status and benchmarks.
    pub(crate) loads: u64,
    /// Documents the page being committed changed, not yet summarised.
    dirty: HashSet<String>,
    /// Summaries of changed documents dropped (and summarised) while the page was being
    /// committed.
    dropped: HashMap<String, Summary>,
}

impl DocCache {
    pub(crate) fn new(capacity: usize, clock: fn() -> i64) -> DocCache {
        DocCache {
            capacity: capacity.max(1),
            slots: Vec::new(),
            clock,
            loads: 0,
            dirty: HashSet::new(),
            dropped: HashMap::new(),
        }
    }

    /// The cached document, marked most recently used.
    pub(crate) fn get(&mut self, key: &str) -> Option<&mut RecordsDoc> {
        let i = self.slots.iter().position(|(k, ..)| k == key)?;
        let mut slot = self.slots.remove(i);
        slot.2 = (self.clock)();
        self.slots.push(slot);
        self.slots.last_mut().map(|(_, d, _)| d)
    }

    /// Inserts a freshly loaded document, evicting the least recently used beyond capacity.
    /// Returns the evicted document if the page being committed changed it: the caller
    /// summarises it ([`DocCache::summarised`]).
    #[must_use]
    pub(crate) fn put(&mut self, key: &str, doc: RecordsDoc) -> Option<(String, RecordsDoc)> {
        self.evict(key);
        self.loads += 1;
        let mut changed = None;
        if self.slots.len() >= self.capacity {
            let (k, d, _) = self.slots.remove(0);
            if self.dirty.remove(&k) {
                changed = Some((k, d));
            }
        }
        self.slots.push((key.to_string(), doc, (self.clock)()));
        changed
    }

    /// Records the summary of a changed document [`DocCache::put`] handed back.
    pub(crate) fn summarised(&mut self, key: String, summary: Summary) {
        self.dropped.insert(key, summary);
    }

    /// Drops a document (its in-memory state may be ahead of the store): its figures
    /// will be computed from the store.
    pub(crate) fn evict(&mut self, key: &str) {
        self.slots.retain(|(k, ..)| k != key);
        self.dirty.remove(key);
        self.dropped.remove(key);
    }

    /// Takes a document out of the cache (to be changed outside it and put back).
    pub(crate) fn take(&mut self, key: &str) -> Option<RecordsDoc> {
        let i = self.slots.iter().position(|(k, ..)| k == key)?;
        self.dirty.remove(key);
        self.dropped.remove(key);
        Some(self.slots.remove(i).1)
    }

    /// Marks a cached document as changed by the page being committed.
    pub(crate) fn changed(&mut self, key: &str) {
        self.dirty.insert(key.to_string());
    }

    /// Drops every document a page changed that did not complete (a store error ended it
    /// early): their in-memory state may be ahead of the store.
    pub(crate) fn abandon_page(&mut self) {
        let dirty: Vec<String> = self.dirty.drain().collect();
        for k in dirty {
            self.evict(&k);
        }
        self.dropped.clear();
    }

    /// The summaries of changed documents dropped during the page; forgets what changed.
    pub(crate) fn take_dropped(&mut self) -> HashMap<String, Summary> {
        self.dirty.clear();
        std::mem::take(&mut self.dropped)
    }

    /// Drops every document last used before `now_ms - idle_ms` (none a page is
    /// changing: this runs between operations). Returns how many were dropped.
    pub(crate) fn evict_idle(&mut self, now_ms: i64, idle_ms: i64) -> usize {
        let before = self.slots.len();
        let dirty = &self.dirty;
        self.slots
            .retain(|(k, _, used)| dirty.contains(k) || now_ms.saturating_sub(*used) < idle_ms);
        before - self.slots.len()
    }

    /// Drops every document (the store was reopened: they reload from it).
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.dirty.clear();
        self.dropped.clear();
    }

    /// Number of documents loaded now.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}
