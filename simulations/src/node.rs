//! One simulated node: the real [`Engine`] on redb's in-memory backend and the world's
//! simulated clock, plus what only the simulation knows: the ground truth of what a
//! school authored, and when the node last appended an entry.
//!
//! Everything a node does with entries — validation, applying payloads to documents,
//! summaries, snapshot entries, storage, the hierarchy — is the engine's; this module
//! only hands it pages and rows and reads its figures.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use eduioc_engine::{Clock, Config, Engine, Ingested, Store, Subtotal};
use eduioc_protocol::Certificate;
use eduioc_records::{Collection, Row, Summary, Value};

/// The authoritative records a school authored (ground truth), per collection.
pub type Truth = BTreeMap<Collection, BTreeMap<String, BTreeMap<String, Value>>>;

/// The simulated time every node's engine reads: microseconds since `base_ms`.
#[derive(Debug, Clone)]
pub struct SimClock {
    now_us: Arc<AtomicU64>,
    base_ms: i64,
}

impl SimClock {
    /// A clock at 0 µs past `base_ms` (Unix ms).
    pub fn new(base_ms: i64) -> SimClock {
        SimClock {
            now_us: Arc::new(AtomicU64::new(0)),
            base_ms,
        }
    }

    /// Moves the clock to `now_us`.
    pub fn set(&self, now_us: u64) {
        self.now_us.store(now_us, Ordering::Relaxed);
    }

    /// The engine's view of this clock (Unix ms).
    pub fn engine_clock(&self) -> Clock {
        let (now, base) = (self.now_us.clone(), self.base_ms);
        Clock::new(move || base + (now.load(Ordering::Relaxed) / 1000) as i64)
    }
}

/// One simulated node.
pub struct Node {
    /// The unit it speaks for.
    pub unit: String,
    /// The node's engine.
    pub engine: Engine,
    /// Keep no document loaded between events (a school reloads its few documents at
    /// each edit; see `Config::school_doc_cache`).
    drop_docs: bool,
    /// Simulated time (µs) of the last entry appended here.
    pub last_append_us: u64,
    /// Ground truth of what this node authored (schools only).
    pub truth: Truth,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("unit", &self.unit)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node whose engine is opened with `cfg` (provisioned with the certificates
    /// `topology generate` writes: the root's, its chain and its subtree) on an empty
    /// in-memory store caching at most `store_cache` bytes of pages, on `clock`. With
    /// `cfg.doc_cache` 0 it keeps no document loaded between events.
    pub fn new(cfg: Config, store_cache: usize, clock: &SimClock) -> anyhow::Result<Node> {
        let unit = cfg.unit.clone();
        let drop_docs = cfg.doc_cache == 0;
        let store = Store::in_memory_with_cache(store_cache)?;
        let engine = Engine::open_with(cfg, store, clock.engine_clock())?;
        Ok(Node {
            unit,
            engine,
            drop_docs,
            last_append_us: 0,
            truth: Truth::new(),
        })
    }

    /// Level label of the unit (department, district, commune, school, ...).
    pub fn level(&self) -> &str {
        self.engine
            .directory()
            .level(&self.unit)
            .unwrap_or_default()
    }

    /// Ends an operation: a node that keeps no document loaded drops them.
    fn settle(&mut self, appended: bool, now_us: u64) {
        if appended {
            self.last_append_us = now_us;
        }
        if self.drop_docs {
            self.engine.evict_idle_docs(i64::MAX, 0);
        }
    }

    /// Validates and commits a page of entries in wire form, with the saved documents
    /// sent beside its snapshot entries. A store failure (none is expected in memory) is
    /// counted as a rejection of the whole page.
    pub fn ingest(&mut self, page: &[Vec<u8>], docs: &[(u32, Vec<u8>)], now_us: u64) -> Ingested {
        let out = match self.engine.ingest_page(page, docs) {
            Ok(out) => out,
            Err(e) => {
                self.engine.count_rejection(&format!("engine_error: {e}"));
                Ingested::default()
            }
        };
        self.settle(!out.appended.is_empty(), now_us);
        out
    }

    /// A school edits one of its documents: the engine upserts `rows` into its document
    /// of `collection`, signs the changes (and a snapshot entry when one is due) and
    /// commits them. The ground truth is updated with the same rows. Returns whether
    /// anything was appended.
    pub fn author_upsert(&mut self, collection: Collection, rows: &[Row], now_us: u64) -> bool {
        let appended = match self.engine.upsert(collection, rows) {
            Ok(o) => o.inserted + o.updated > 0,
            Err(e) => {
                self.engine.count_rejection(&format!("local: {e}"));
                false
            }
        };
        if appended {
            let truth = self.truth.entry(collection).or_default();
            for row in rows {
                let rec = truth.entry(row.id.clone()).or_default();
                for (k, v) in &row.fields {
                    rec.insert(k.clone(), v.clone());
                }
            }
        }
        self.settle(appended, now_us);
        appended
    }

    /// Signs a certificate into this node's log (the root issuing the reform).
    pub fn publish_certificate(&mut self, cert: Certificate, now_us: u64) -> bool {
        let appended = match self.engine.publish_certificate(cert) {
            Ok(_) => true,
            Err(e) => {
                self.engine.count_rejection(&format!("local: {e}"));
                false
            }
        };
        self.settle(appended, now_us);
        appended
    }

    /// The summary of this node's ground truth (what it authored).
    pub fn truth_summary(&self) -> Summary {
        let mut s = Summary::default();
        for (collection, records) in &self.truth {
            for (id, fields) in records {
                s.count_record(*collection, id, fields);
            }
        }
        s
    }

    /// The aggregate of `unit`'s subtree as this node's engine computes it for `year`.
    pub fn aggregate(&self, unit: &str, year: &str) -> Subtotal {
        self.engine.views().figures().subtotal(unit, year)
    }
}
