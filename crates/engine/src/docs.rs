//! A bounded cache of loaded Automerge documents.
//!
//! A department holds thousands of documents; only `capacity` of them are materialised
//! in memory at once (least recently used are dropped; they reload from the store).

use eduioc_records::RecordsDoc;

/// Least-recently-used cache of loaded documents, keyed by document key.
pub(crate) struct DocCache {
    capacity: usize,
    /// Most recently used last.
    slots: Vec<(String, RecordsDoc)>,
    /// Loads since start, for status and benchmarks.
    pub(crate) loads: u64,
}

impl DocCache {
    pub(crate) fn new(capacity: usize) -> DocCache {
        DocCache {
            capacity: capacity.max(1),
            slots: Vec::new(),
            loads: 0,
        }
    }

    /// The cached document, marked most recently used.
    pub(crate) fn get(&mut self, key: &str) -> Option<&mut RecordsDoc> {
        let i = self.slots.iter().position(|(k, _)| k == key)?;
        let slot = self.slots.remove(i);
        self.slots.push(slot);
        self.slots.last_mut().map(|(_, d)| d)
    }

    /// Inserts a freshly loaded document, evicting the least recently used beyond capacity.
    pub(crate) fn put(&mut self, key: &str, doc: RecordsDoc) -> &mut RecordsDoc {
        self.evict(key);
        self.loads += 1;
        if self.slots.len() >= self.capacity {
            self.slots.remove(0);
        }
        self.slots.push((key.to_string(), doc));
        let last = self.slots.len() - 1;
        &mut self.slots[last].1
    }

    /// Drops a document (its in-memory state may be ahead of the store).
    pub(crate) fn evict(&mut self, key: &str) {
        self.slots.retain(|(k, _)| k != key);
    }

    /// Number of documents loaded now.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}
