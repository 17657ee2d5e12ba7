//! The node engine: everything a node does with its data, independent of transport.
//!
//! An [`Engine`] owns the node's redb [`Store`], its [`Directory`] of certificates, a
//! bounded cache of loaded Automerge documents and the materialised per-document
//! summaries. It is driven from two sides:
//! - the network hands it pages of received entries ([`Engine::ingest`]);
//! - the API hands it local work: imports ([`Engine::import`]), notifications
//!   ([`Engine::notify`]), read receipts ([`Engine::mark_read`]).
//!
//! Both paths go through one function that validates each entry with
//! [`eduioc_protocol::validate`], then, in **one** write transaction, stores the entry,
//! advances the author's head, applies the payload (Automerge changes to the document,
//! a snapshot entry's document, recomputed summary and look-up index, certificate,
//! notification index) and commits. Only then does the caller acknowledge the entry to a
//! peer or answer the user.
//!
//! Snapshot entries (see [`eduioc_protocol::snapshot`]): a school signs one for its
//! document after enough changes ([`Engine::upsert`]); every node compacts its stored
//! copy of a document to a `save()` at each snapshot entry, so that it can send that
//! save beside the entry to a peer holding none of what it replaces, and loads a save
//! received beside a snapshot entry instead of replaying the changes it replaces.
//!
//! Architecture Invariant: figures are computed from deduplicated documents, never from
//! deltas: an entry received twice is a [`Verdict::Duplicate`] and changes nothing.

mod alerts;
mod completeness;
mod docs;
mod forecast;
mod health;
mod import;
mod indicators;
pub mod links;
mod overview;
mod provenance;
mod search;
mod snapshots;
mod stats;
mod tables;
mod targets;
mod views;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use eduioc_protocol::snapshot::{self, Held, Ranges};
use eduioc_protocol::validate::{self, LogState, Reject, Verdict};
use eduioc_protocol::{Certificate, Directory, DocId, Entry, LogSource, NodeId, NodeKey, Payload};
use eduioc_records::{Collection, ImportErrors, RecordsDoc, Summary};
use eduioc_store::{Head, Quarantined, WriteTxn};
use serde::{Deserialize, Serialize};

pub use alerts::{AckView, Alert, AlertAck, AlertSettings, Severity, MAX_ACK_NOTE_BYTES};
pub use completeness::SchoolCompleteness;
pub use eduioc_store::{Store, StoredBytes};
pub use forecast::{Backtest, Forecast, ForecastYear, MAX_FORECAST_YEARS, TEACHERS_PER_CLASS};
pub use health::{Fault, StorageFault, StorageHealth};
pub use import::{
    import_collection, import_shared, Checkout, ImportLimits, ImportTimings, Prepared,
};
pub use indicators::{
    higher_is_better, is_indicator, Indicator, Indicators, Scale, CATALOGUE, TERMS,
};
pub use overview::{school_level, Overview, UnitFigures};
pub use provenance::Provenance;
pub use search::{Lookups, StaffHit, StudentHit};
pub use stats::{StaffStats, Stats, StudentStats, Subtotal};
pub use targets::{target_id, Target, TargetStatus, TargetValue};
pub use views::{Event, Figures, StatusView, Views};

/// Chunks a document keeps before it is compacted into one snapshot.
const COMPACT_AFTER_CHUNKS: usize = 32;

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] eduioc_store::Error),
    /// A records document failed.
    #[error(transparent)]
    Records(#[from] eduioc_records::Error),
    /// An import had invalid rows; nothing was applied.
    #[error("import rejected: {0}")]
    Import(ImportErrors),
    /// The unit is not in this node's subtree.
    #[error("unit {0:?} is not in this node's subtree")]
    UnknownUnit(String),
    /// The request is not allowed at this node.
    #[error("{0}")]
    Forbidden(String),
    /// The request is invalid.
    #[error("{0}")]
    Invalid(String),
    /// What the request names does not exist here (an alert this node does not list).
    #[error("{0}")]
    NotFound(String),
    /// The request is well formed but cannot be answered from what the node holds, or
    /// names something that does not exist (an unknown indicator).
    #[error("{0}")]
    Unprocessable(String),
    /// An entry built here failed validation (a bug, never a user error).
    #[error("local entry rejected: {0}")]
    Local(Reject),
    /// A received entry's payload cannot be applied (internal: becomes a rejection).
    #[error("{0}")]
    Rejected(Reject),
    /// The store cannot write (a full disk, an I/O error): nothing of the operation was
    /// applied. The store reopens by itself and the operation can be repeated.
    #[error("{0}")]
    Storage(StorageFault),
    /// The document is being written by another import; try again when it is done.
    #[error("{0}")]
    Busy(String),
    /// The engine cannot be reached (its lock was poisoned by a panic).
    #[error("{0}")]
    Unavailable(String),
}

impl Error {
    /// The storage failure this error is, if it is one: a full disk or an I/O error,
    /// after which nothing of the operation was applied.
    pub fn storage_fault(&self) -> Option<StorageFault> {
        match self {
            Error::Storage(f) => Some(f.clone()),
            Error::Store(s) => s.fault().map(|kind| StorageFault {
                kind,
                detail: s.to_string(),
                since_ms: now_ms(),
            }),
            _ => None,
        }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An engine shared between the network loop and the web server.
pub type SharedEngine = Arc<Mutex<Engine>>;

/// The default memory for loaded documents: 256 MiB, about 1,100 documents of a
/// realistic school's roster.
pub const DEFAULT_DOC_CACHE_BYTES: usize = 256 << 20;

/// The default most documents loaded at once (the memory budget is the usual bound).
pub const DEFAULT_DOC_CACHE: usize = 4096;

/// What a node needs to open its engine.
#[derive(Debug, Clone)]
pub struct Config {
    /// The unit this node speaks for.
    pub unit: String,
    /// The node's signing key.
    pub key: NodeKey,
    /// The root's key, the trust anchor.
    pub root_key: NodeId,
    /// Certificates provisioned with the node (its chain and its subtree).
    pub certs: Vec<Certificate>,
    /// Directory holding `store.redb`.
    pub data_dir: PathBuf,
    /// Most Automerge documents held in memory at once.
    pub doc_cache: usize,
    /// Memory for loaded Automerge documents, bytes (estimated from their records;
    /// [`DEFAULT_DOC_CACHE_BYTES`]). Whichever of this and `doc_cache` is reached first
    /// bounds the cache.
    pub doc_cache_bytes: usize,
    /// School year of imports and statistics, e.g. `2026-2027`; `None`: from the clock.
    pub school_year: Option<String>,
}

/// A notification as the inbox shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// `<author unit>/<seq>`: stable id.
    pub id: String,
    /// Unit that sent it.
    pub from_unit: String,
    /// Author key (hex).
    pub author: String,
    /// Seq of the entry.
    pub seq: u64,
    /// Unit whose subtree receives it.
    pub to_unit: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Sender's clock, Unix ms.
    pub sent_ms: i64,
}

/// Outcome of a successful import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ImportOutcome {
    /// Records created.
    pub inserted: usize,
    /// Records changed.
    pub updated: usize,
}

/// Outcome of ingesting a page.
#[derive(Debug, Clone, Default)]
pub struct Ingested {
    /// Heights after commit for every author in the page.
    pub heights: Vec<(NodeId, u64)>,
    /// Authors with newly appended entries (to forward).
    pub appended: Vec<NodeId>,
    /// Rejected entries: (index in the page, reason).
    pub rejected: Vec<(usize, Reject)>,
}

/// The node engine. See the crate documentation.
pub struct Engine {
    unit: String,
    key: NodeKey,
    store: Store,
    dir: Directory,
    /// Mirror of the store's heads, for the sync sessions' reads.
    heads: HashMap<NodeId, Head>,
    docs: docs::DocCache,
    snaps: snapshots::Snapshots,
    rejected: BTreeMap<String, u64>,
    entries: u64,
    /// Entries quarantined as forks.
    quarantined: usize,
    school_year: Option<String>,
    /// The trust anchor and the provisioned certificates: the directory is rebuilt from
    /// them and the stored ones when the store is reopened.
    root_key: NodeId,
    provisioned: Vec<Certificate>,
    /// Whether the store writes; shared with whoever reports it.
    health: Arc<StorageHealth>,
    /// The views published after each commit (read without the engine lock).
    views: Views,
    /// Views published so far.
    published: u64,
    /// Where time comes from.
    clock: Clock,
    /// Notifications or acknowledgements may have changed since the unread count was
    /// last published.
    notices_dirty: bool,
    /// The directory stamp the unread count was computed under.
    notices_dir: u64,
    /// Notifications addressed here that this unit has not read, as last published.
    unread: usize,
    /// Keys of this unit's documents checked out by an import in progress.
    checked_out: HashSet<String>,
    /// Checked-out documents a commit changed meanwhile: their import is refused.
    conflicts: HashSet<String>,
    /// Held for the whole of an import: imports at one node never interleave.
    import_gate: Arc<Mutex<()>>,
    /// How an import is cut into changes and entries.
    limits: ImportLimits,
    /// The import being committed, while it is.
    local: Option<import::Local>,
    /// Tests: signing a due snapshot entry fails.
    #[cfg(test)]
    fail_snapshot: bool,
    /// Tests: the store refuses the next local commit (nothing is written).
    #[cfg(test)]
    fail_local_commit: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("unit", &self.unit)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Where an engine's time comes from (Unix ms): the system clock at a node
/// ([`Clock::system`]), a simulated one in the simulator, so that a run replays entry for
/// entry. It stamps signed entries, moves certificate versions into force, dates storage
/// faults and freshness, and picks the school year when none is configured.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(now_ms))
    }

    /// A clock that reads `now`.
    pub fn new(now: impl Fn() -> i64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// The time now, Unix ms.
    pub fn now_ms(&self) -> i64 {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now_ms())
    }
}

/// The school year in force at `ms`: it starts on 1 September.
pub fn school_year_at(ms: i64) -> String {
    use chrono::Datelike;
    let d = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let start = if d.month() >= 9 {
        d.year()
    } else {
        d.year() - 1
    };
    format!("{}-{}", start, start + 1)
}

impl Engine {
    /// Opens (or creates) the node's store in `cfg.data_dir` and loads its state, on the
    /// system clock.
    pub fn open(cfg: Config) -> Result<Engine> {
        let store = Store::open(&cfg.data_dir.join("store.redb"))?;
        Engine::open_with(cfg, store, Clock::system())
    }

    /// Opens an engine on `store` (a file, or [`Store::in_memory`]) and `clock`;
    /// `cfg.data_dir` is not used.
    pub fn open_with(cfg: Config, store: Store, clock: Clock) -> Result<Engine> {
        tables::upgrade(&store, cfg.key.id().as_bytes())?;
        let dir = build_dir(cfg.root_key, &cfg.certs, &store, clock.now_ms())?;
        if dir.key_of(&cfg.unit) != Some(cfg.key.id()) {
            return Err(Error::Invalid(format!(
                "no valid certificate binds unit {} to this node's key",
                cfg.unit
            )));
        }
        let state = Loaded::read(&store)?;
        let unit = cfg.unit;
        let mut engine = Engine {
            views: Views::new(&unit, &dir, cfg.school_year.clone(), clock.clone()),
            unit,
            key: cfg.key,
            store,
            dir,
            heads: HashMap::new(),
            docs: docs::DocCache::new(cfg.doc_cache, cfg.doc_cache_bytes, clock.clone()),
            clock,
            snaps: snapshots::Snapshots::default(),
            rejected: BTreeMap::new(),
            entries: 0,
            quarantined: 0,
            school_year: cfg.school_year,
            root_key: cfg.root_key,
            provisioned: cfg.certs,
            health: Arc::new(StorageHealth::default()),
            published: 0,
            notices_dirty: true,
            notices_dir: 0,
            unread: 0,
            checked_out: HashSet::new(),
            conflicts: HashSet::new(),
            import_gate: Arc::new(Mutex::new(())),
            limits: ImportLimits::default(),
            local: None,
            #[cfg(test)]
            fail_snapshot: false,
            #[cfg(test)]
            fail_local_commit: false,
        };
        engine.rejected = state.rejected.clone();
        engine.install(state);
        engine.publish();
        Ok(engine)
    }

    /// Replaces the state mirrored from the store (not the rejection counters: frames
    /// refused since the last commit are counted only in memory).
    fn install(&mut self, state: Loaded) {
        self.heads = state.heads;
        self.notices_dirty = true;
        {
            let mut figures = self.views.figures_mut();
            figures.summaries = state.summaries;
            figures.targets = state.targets;
            figures.alert_acks = state.alert_acks;
            figures.forks =
                read_back("forks", alerts::forks(&self.store, &self.dir)).unwrap_or_default();
            figures.seen = state.seen;
        }
        self.entries = state.entries;
        self.quarantined = state.quarantined;
        self.snaps = state.snaps;
        self.docs.clear();
        for (k, v) in state.rejected {
            let n = self.rejected.entry(k).or_default();
            *n = (*n).max(v);
        }
    }

    /// The store's health, to be read without the engine (e.g. by the web server).
    pub fn storage_health(&self) -> Arc<StorageHealth> {
        self.health.clone()
    }

    /// Reopens the store if an I/O error left it refusing operations, and reloads every
    /// state the engine mirrors from it (heads, summaries, snapshot index, directory;
    /// loaded documents are dropped). Nothing to do while the store is healthy.
    fn heal(&mut self) -> Result<()> {
        if !self.health.needs_reopen() {
            return Ok(());
        }
        let reloaded = self.store.reopen().map_err(Error::from).and_then(|()| {
            let dir = build_dir(
                self.root_key,
                &self.provisioned,
                &self.store,
                self.clock.now_ms(),
            )?;
            Ok((dir, Loaded::read(&self.store)?))
        });
        match reloaded {
            Ok((dir, state)) => {
                self.dir = dir;
                self.install(state);
                self.health.reopened();
                self.publish();
                tracing::info!(unit = %self.unit, "store reopened after a storage error");
                Ok(())
            }
            Err(e) => Err(self.noted(e)),
        }
    }

    /// Turns a store error that is a storage failure into [`Error::Storage`], recording
    /// it in the health state (the store is reopened before the next operation).
    fn noted(&self, e: Error) -> Error {
        match e {
            Error::Store(s) => match s.fault() {
                Some(kind) => {
                    let fault = self.health.failed(kind, s.to_string(), self.clock.now_ms());
                    tracing::error!(unit = %self.unit, error = %s, "storage failure: nothing was applied");
                    Error::Storage(fault)
                }
                None => Error::Store(s),
            },
            Error::Storage(f) => {
                // Raised below (a nested operation): it is already recorded.
                Error::Storage(f)
            }
            other => other,
        }
    }

    /// Runs a store operation: heals the store first if it failed before, and records a
    /// storage failure the operation meets.
    fn guarded<T>(&mut self, op: impl FnOnce(&mut Engine) -> Result<T>) -> Result<T> {
        self.heal()?;
        op(self).map_err(|e| self.noted(e))
    }

    /// Reopens a store that failed and checks that it writes (a small durable commit);
    /// the node calls this periodically while [`StorageHealth::needs_reopen`] or a
    /// failure is in force, so that health returns without waiting for a user.
    pub fn probe_storage(&mut self) -> Result<()> {
        if !self.health.needs_reopen() && self.health.fault().is_none() {
            return Ok(());
        }
        self.guarded(|e| {
            let mut txn = e.store.begin_write()?;
            txn.put_meta("probe", &e.clock.now_ms().to_le_bytes())?;
            txn.commit()?;
            e.health.healed();
            Ok(())
        })
    }

    /// The views this engine publishes after each commit: read them without its lock.
    pub fn views(&self) -> Views {
        self.views.clone()
    }

    /// Publishes the views from the current state (after a commit or a counter change).
    fn publish(&mut self) {
        self.published += 1;
        self.views.set_directory(&self.dir);
        if self.notices_dirty || self.notices_dir != self.dir.stamp() {
            // A failed read keeps the last count; the next publish tries again.
            if let Ok(all) = self.notifications() {
                self.unread = all
                    .iter()
                    .filter(|(n, readers)| {
                        n.from_unit != self.unit && !readers.contains(&self.unit)
                    })
                    .count();
                self.notices_dirty = false;
                self.notices_dir = self.dir.stamp();
            }
        }
        let children = {
            let figures = self.views.figures();
            self.dir
                .children(&self.unit)
                .map(|c| (c.to_string(), figures.last_seen_ms(c)))
                .collect()
        };
        self.views.set_status(StatusView {
            unit: self.unit.clone(),
            id: self.key.id(),
            level: self.dir.level(&self.unit).unwrap_or_default().to_string(),
            name: self.dir.name(&self.unit).unwrap_or_default().to_string(),
            children,
            entries: self.entries,
            authors: self.heads.len(),
            rejected: self.rejected.clone(),
            quarantined: self.quarantined,
            docs_loaded: self.docs.len(),
            docs_loaded_bytes: self.docs.bytes(),
            fixed_school_year: self.school_year.clone(),
            unread: self.unread,
            version: self.published,
        });
    }

    /// How imports are cut into changes and entries.
    pub fn import_limits(&self) -> ImportLimits {
        self.limits
    }

    /// Sets how imports are cut into changes and entries (tests, benchmarks). An entry
    /// limit above [`eduioc_protocol::entry::MAX_ENTRY_BYTES`] is lowered to it.
    pub fn set_import_limits(&mut self, limits: ImportLimits) {
        self.limits = ImportLimits {
            max_entry_bytes: limits
                .max_entry_bytes
                .min(eduioc_protocol::entry::MAX_ENTRY_BYTES),
            ..limits
        };
    }

    /// Drops loaded documents unused for `idle_ms` as of `now_ms` (they reload from the
    /// store when next needed). Returns how many were dropped.
    pub fn evict_idle_docs(&mut self, now_ms: i64, idle_ms: i64) -> usize {
        self.docs.evict_idle(now_ms, idle_ms)
    }

    /// The unit this node speaks for.
    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.key.id()
    }

    /// The node's key (the transport identity is derived from it).
    pub fn key(&self) -> &NodeKey {
        &self.key
    }

    /// The hierarchy as this node knows it.
    pub fn directory(&self) -> &Directory {
        &self.dir
    }

    /// The school year imports and statistics use.
    pub fn school_year(&self) -> String {
        self.school_year
            .clone()
            .unwrap_or_else(|| school_year_at(self.clock.now_ms()))
    }

    /// Entries held.
    pub fn entry_count(&self) -> u64 {
        self.entries
    }

    /// Authors held.
    pub fn author_count(&self) -> usize {
        self.heads.len()
    }

    /// Bytes of the entries and documents this node stores.
    pub fn stored_bytes(&self) -> Result<StoredBytes> {
        Ok(self.store.stored_bytes()?)
    }

    /// Rejections by reason key.
    pub fn rejected(&self) -> &BTreeMap<String, u64> {
        &self.rejected
    }

    /// Documents materialised in memory now.
    pub fn loaded_docs(&self) -> usize {
        self.docs.len()
    }

    /// Counts a rejection that happened outside entry validation (frames, handshakes).
    pub fn count_rejection(&mut self, key: &str) {
        *self.rejected.entry(key.to_string()).or_default() += 1;
        self.publish();
    }

    /// Latest author timestamp seen from `unit`.
    pub fn last_seen_ms(&self, unit: &str) -> Option<i64> {
        self.views.figures().last_seen_ms(unit)
    }

    /// Brings the certificate versions whose date has come into force (the clock moved
    /// on without a commit) and publishes the hierarchy if it changed.
    pub fn advance_clock(&mut self) {
        let stamp = self.dir.stamp();
        self.dir.set_now(self.clock.now_ms());
        if self.dir.stamp() != stamp {
            self.publish();
        }
    }

    /// Signs `cert` into this node's log: a certificate entry travels down to the units
    /// it concerns (and up to the ancestors), so that a hierarchy change this node
    /// issues (a new unit, a unit's next version under a new parent) reaches every node
    /// that must know it. The entry is validated as any received one: only the
    /// certificate's issuer may publish it.
    pub fn publish_certificate(&mut self, cert: Certificate) -> Result<Entry> {
        self.guarded(|e| e.append_local(Payload::Certificate(cert)))
    }

    /// Adds certificates received in a handshake. Returns the errors of refused ones.
    pub fn add_certs(&mut self, certs: Vec<Certificate>) -> Result<Vec<String>> {
        let mut fresh = Vec::new();
        let mut errors = Vec::new();
        for c in certs {
            match self.dir.insert(c.clone()) {
                Ok(true) => fresh.push(c),
                Ok(false) | Err(eduioc_protocol::CertError::Pending(_)) => {}
                Err(e) => errors.push(e.to_string()),
            }
        }
        if !fresh.is_empty() {
            // A failure leaves the directory ahead of the store until the store is
            // reopened, which rebuilds it from what is stored.
            self.guarded(|e| {
                let mut txn = e.store.begin_write()?;
                for c in &fresh {
                    txn.put_cert(
                        &format!("{}/{}", c.body.unit, c.body.version),
                        &c.to_bytes(),
                    )?;
                }
                txn.commit()?;
                e.health.healed();
                Ok(())
            })?;
            self.publish();
        }
        Ok(errors)
    }

    /// Validates and commits a page of received entries (wire form), in one transaction.
    pub fn ingest(&mut self, page: &[Vec<u8>]) -> Result<Ingested> {
        self.ingest_page(page, &[])
    }

    /// [`Engine::ingest`] of a page that may carry saved documents beside its snapshot
    /// entries: (index in `page`, the document's `save()`).
    pub fn ingest_page(&mut self, page: &[Vec<u8>], docs: &[(u32, Vec<u8>)]) -> Result<Ingested> {
        self.guarded(|e| e.ingest_page_now(page, docs))
    }

    fn ingest_page_now(&mut self, page: &[Vec<u8>], docs: &[(u32, Vec<u8>)]) -> Result<Ingested> {
        let mut out = Ingested::default();
        let mut beside: HashMap<usize, &[u8]> = HashMap::new();
        // Entries with more than one document beside them: refused, once each.
        let mut doubled: Vec<usize> = Vec::new();
        for (i, d) in docs {
            let i = *i as usize;
            if i >= page.len() {
                out.rejected.push((
                    i,
                    Reject::Malformed(format!(
                        "document beside entry {i}, which is not one entry of the page"
                    )),
                ));
            } else if beside.insert(i, d).is_some() && !doubled.contains(&i) {
                doubled.push(i);
                out.rejected.push((
                    i,
                    Reject::Malformed(format!(
                        "entry {i} of the page has more than one document beside it"
                    )),
                ));
            }
        }
        let mut indexes = Vec::with_capacity(page.len());
        let mut entries = Vec::with_capacity(page.len());
        let mut authors: Vec<NodeId> = Vec::new();
        for (i, raw) in page.iter().enumerate() {
            if doubled.contains(&i) {
                continue;
            }
            match Entry::decode(raw) {
                Ok(e) => {
                    if !authors.contains(&e.author()) {
                        authors.push(e.author());
                    }
                    indexes.push(i);
                    entries.push(e);
                }
                Err(e) => out.rejected.push((i, Reject::from(e))),
            }
        }
        let sig_ok = eduioc_protocol::entry::verify_all(&entries);
        let items: Vec<Item<'_>> = indexes
            .into_iter()
            .zip(entries)
            .zip(sig_ok)
            .map(|((i, e), ok)| (i, e, ok, beside.get(&i).copied()))
            .collect();
        self.commit_entries(items, &mut out)?;
        // Heights after commit for every author of the page, including those with
        // nothing new (duplicates, rejections): the sender learns where each log stands.
        out.heights = self.heights_of(authors);
        Ok(out)
    }

    fn commit_entries(&mut self, items: Vec<Item<'_>>, out: &mut Ingested) -> Result<()> {
        // Certificate versions take effect when their date comes.
        self.dir.set_now(self.clock.now_ms());
        self.notices_dirty |= items.iter().any(|(_, e, ..)| {
            matches!(
                e.body.payload,
                Payload::Notification { .. } | Payload::Ack { .. }
            )
        });
        // The page's snapshot entries whose claims may justify holes in it. A pass that
        // recorded a hole whose snapshot entry was then refused is discarded and the page
        // run again ([`snapshot::PageHoles`]).
        let mut holes = validate::page_holes(
            items.iter().map(|(i, e, ok, beside)| (*i, e, *ok, *beside)),
            &self.dir,
        );
        // A discarded pass changed the directory only through certificate entries.
        let certs = items
            .iter()
            .any(|(_, e, ..)| matches!(e.body.payload, Payload::Certificate(_)));
        // A failed pass (a store error) leaves nothing in memory either.
        let dir_before = certs.then(|| self.dir.clone());
        loop {
            let next = match self.commit_pass(&items, holes, out) {
                Ok(Some(next)) => next,
                Ok(None) => return Ok(()),
                Err(e) => {
                    self.docs.abandon_page();
                    if let Some(dir) = dir_before {
                        self.dir = dir;
                    }
                    return Err(e);
                }
            };
            // Nothing of the pass was committed: forget what it did in memory.
            for (_, e, ..) in &items {
                if let Payload::Changes { doc, .. } | Payload::Snapshot { doc, .. } =
                    &e.body.payload
                {
                    self.docs.evict(&doc.key());
                }
            }
            self.docs.abandon_page();
            if let Some(dir) = &dir_before {
                self.dir = dir.clone();
            }
            tracing::warn!(
                "a snapshot entry of the page was refused after entries before it relied on \
                 what it replaces: the page is applied again without its claim"
            );
            holes = next;
        }
    }

    /// One pass of [`Engine::commit_entries`], trusting the claims of `holes`. Returns the
    /// state of the next pass, having committed nothing, if a hole it recorded is not
    /// covered by a snapshot entry held or appended.
    fn commit_pass(
        &mut self,
        items: &[Item<'_>],
        mut holes: snapshot::PageHoles,
        out: &mut Ingested,
    ) -> Result<Option<snapshot::PageHoles>> {
        let actor = *self.key.id().as_bytes();
        // Nothing is pending unless an earlier page ended early on a store error.
        self.docs.abandon_page();
        let mut txn = self.store.begin_write()?;
        let mut touched_docs = Vec::new();
        let mut new_heads: HashMap<NodeId, Head> = HashMap::new();
        let mut appended = 0u64;
        let mut rejections: Vec<(usize, Reject)> = Vec::new();
        let mut pending = snapshots::Pending::default();
        let mut appended_authors: Vec<NodeId> = Vec::new();
        let mut seen: HashMap<String, i64> = HashMap::new();
        let mut quarantined = 0usize;
        for (i, entry, sig_ok, beside) in items {
            let (i, sig_ok, beside) = (*i, *sig_ok, *beside);
            let author = entry.author();
            let head = new_heads.get(&author).or(self.heads.get(&author)).copied();
            let at_seq = match head {
                Some(h) if entry.seq() <= h.seq => txn
                    .entry(author.as_bytes(), entry.seq())?
                    .and_then(|b| Entry::decode(&b).ok())
                    .map(|e| e.hash()),
                _ => None,
            };
            let sparse = self
                .dir
                .unit_of(&author)
                .is_some_and(|u| !self.dir.is_ancestor_or_self(&self.unit, u));
            // Saturating: a log may hold seq u64::MAX (an ancestor's sparse log).
            let next = head.map_or(1, |h| h.seq.saturating_add(1));
            let seq = entry.seq();
            let gap_covered = holes.gap_covered(&author, next, seq, at_seq.is_some(), || {
                self.snaps.replaced(&author)
            });
            let log = LogState {
                head: head.map(|h| (h.seq, h.hash)),
                at_seq,
                sparse,
                gap_covered,
            };
            match validate::check_parsed(entry, sig_ok, beside, &self.dir, log) {
                Ok((Verdict::Duplicate | Verdict::Replaced, _)) => {}
                Ok((Verdict::Append, parsed)) => {
                    let unit = self.dir.unit_of(&author).unwrap_or_default().to_string();
                    // The payload first: a validly signed entry whose changes cannot be
                    // applied to the document is rejected like any other bad entry.
                    let mut ctx = Apply {
                        docs: &mut self.docs,
                        dir: &mut self.dir,
                        snaps: &self.snaps,
                        pending: &mut pending,
                        actor,
                        txn: &mut txn,
                        local: self.local.as_mut(),
                    };
                    match ctx.payload(entry, &unit, beside, parsed) {
                        Ok(Some(doc_key)) => {
                            self.docs.changed(&doc_key);
                            touched_docs.push(doc_key);
                        }
                        Ok(None) => {}
                        Err(err @ (Error::Records(_) | Error::Rejected(_))) => {
                            if let Payload::Changes { doc, .. } | Payload::Snapshot { doc, .. } =
                                &entry.body.payload
                            {
                                self.docs.evict(&doc.key());
                            }
                            let reject = match err {
                                Error::Rejected(r) => r,
                                e => Reject::Malformed(format!(
                                    "{} cannot be applied: {e}",
                                    entry.body.payload.kind()
                                )),
                            };
                            rejections.push((i, reject));
                            continue;
                        }
                        Err(e) => {
                            // Drop what was half-applied in memory; the store is unchanged.
                            if let Payload::Changes { doc, .. } | Payload::Snapshot { doc, .. } =
                                &entry.body.payload
                            {
                                self.docs.evict(&doc.key());
                            }
                            for k in &touched_docs {
                                self.docs.evict(k);
                            }
                            self.docs.take_dropped();
                            return Err(e);
                        }
                    }
                    if author == self.key.id() {
                        Self::track_own(&self.snaps, &mut pending, &mut txn, entry)?;
                    }
                    if seq > next && !sparse {
                        pending.hole(&self.snaps, &mut txn, author, next, seq - 1)?;
                        holes.on_hole(author, next, seq - 1);
                    }
                    if let Payload::Snapshot { replaces, .. } = &entry.body.payload {
                        holes.on_snapshot(i, author, replaces);
                    }
                    txn.put_entry(author.as_bytes(), entry.seq(), entry.bytes())?;
                    let next = match head {
                        Some(h) if h.seq > entry.seq() => h,
                        _ => Head {
                            seq: entry.seq(),
                            hash: entry.hash(),
                        },
                    };
                    txn.set_head(author.as_bytes(), next)?;
                    new_heads.insert(author, next);
                    appended += 1;
                    if !appended_authors.contains(&author) {
                        appended_authors.push(author);
                    }
                    let ts = entry.body.timestamp_ms;
                    let before = self.views.figures().last_seen_ms(&unit).unwrap_or(ts);
                    let seen = seen.entry(unit.clone()).or_insert(before);
                    *seen = (*seen).max(ts);
                    txn.put(&tables::SEEN, &unit, seen)?;
                }
                Err(reject) => {
                    if let Reject::Fork(_) = reject {
                        quarantined += 1;
                        txn.quarantine(&Quarantined {
                            author: *author.as_bytes(),
                            seq: entry.seq(),
                            reason: reject.to_string(),
                            bytes: entry.bytes().to_vec(),
                        })?;
                    }
                    rejections.push((i, reject));
                }
            }
        }
        if let Some(next) = holes.settle(|a| self.snaps.replaced(a)) {
            drop(txn);
            for k in &touched_docs {
                self.docs.evict(k);
            }
            return Ok(Some(next));
        }
        touched_docs.sort();
        touched_docs.dedup();
        let dropped = self.docs.take_dropped();
        let precomputed = self
            .local
            .as_mut()
            .and_then(|l| l.figures.take().map(|f| (l.key.clone(), f)));
        let earlier: HashMap<String, Summary> = {
            let figures = self.views.figures();
            touched_docs
                .iter()
                .filter_map(|k| figures.summaries.get(k).map(|s| (k.clone(), s.clone())))
                .collect()
        };
        let fresh = Self::summarize_docs(
            &mut self.docs,
            actor,
            &mut txn,
            &touched_docs,
            Earlier {
                dropped,
                precomputed,
                summaries: earlier,
            },
        );
        self.docs.end_page();
        let fresh = match fresh {
            Ok(f) => f,
            Err(e) => {
                for k in &touched_docs {
                    self.docs.evict(k);
                }
                return Err(e);
            }
        };
        // Counted in memory only once the transaction commits.
        let mut counts = self.rejected.clone();
        for (_, r) in out.rejected.iter().chain(rejections.iter()) {
            *counts.entry(r.key().to_string()).or_default() += 1;
        }
        for (k, v) in &counts {
            txn.put(&tables::REJECTED, k, v)?;
        }
        #[cfg(test)]
        let injected = std::mem::take(&mut self.fail_local_commit);
        #[cfg(not(test))]
        let injected = false;
        let committed = if injected {
            drop(txn);
            Err(Error::Invalid(
                "the store refuses this commit in this test".into(),
            ))
        } else {
            txn.commit().map_err(Error::from)
        };
        if let Err(e) = committed {
            for k in &touched_docs {
                self.docs.evict(k);
            }
            return Err(e);
        }
        for k in &touched_docs {
            // A commit changed a document an import has checked out: that import is
            // refused rather than signed over a copy that misses this change.
            if self.checked_out.contains(k) {
                self.conflicts.insert(k.clone());
            }
        }
        self.health.healed();
        self.rejected = counts;
        for (i, r) in &rejections {
            tracing::warn!(index = i, reason = %r, "entry rejected");
        }
        out.rejected.extend(rejections);
        for a in &appended_authors {
            if !out.appended.contains(a) {
                out.appended.push(*a);
            }
        }
        // Read back before the figures are locked: targets are few (hundreds).
        let any = |f: fn(&Payload) -> bool| items.iter().any(|(_, e, ..)| f(&e.body.payload));
        let targets = any(|p| matches!(p, Payload::Target { .. }))
            .then(|| read_back("targets", self.store.scan(&tables::TARGETS, "")))
            .flatten();
        let acks = any(|p| matches!(p, Payload::AlertAck { .. }))
            .then(|| {
                read_back(
                    "alert acknowledgements",
                    self.store.scan(&tables::ALERT_ACKS, ""),
                )
            })
            .flatten();
        let forks = (quarantined > 0)
            .then(|| read_back("forks", alerts::forks(&self.store, &self.dir)))
            .flatten();
        {
            let mut figures = self.views.figures_mut();
            figures.seen.extend(seen);
            figures.summaries.extend(fresh);
            if let Some(t) = targets {
                figures.targets = t.into_iter().collect();
            }
            if let Some(a) = acks {
                figures.alert_acks = a.into_iter().collect();
            }
            if let Some(f) = forks {
                figures.forks = f;
            }
        }
        self.entries += appended;
        self.heads.extend(new_heads);
        self.snaps.apply(pending);
        self.quarantined += quarantined;
        self.publish();
        if !appended_authors.is_empty() {
            self.views.announce(Event::Appended(appended_authors));
        }
        Ok(None)
    }

    /// Keeps the track of this node's own documents: which entries a snapshot of each
    /// would replace, and how much was written since the last one.
    fn track_own(
        snaps: &snapshots::Snapshots,
        pending: &mut snapshots::Pending,
        txn: &mut WriteTxn<'_>,
        entry: &Entry,
    ) -> Result<()> {
        match &entry.body.payload {
            Payload::Changes { doc, changes } => {
                let key = doc.key();
                let mut t = snaps.track(pending, &key);
                t.on_changes(entry.seq(), changes.iter().map(|c| c.len() as u64).sum());
                pending.track(txn, &key, t)
            }
            Payload::Snapshot { doc, .. } => {
                let key = doc.key();
                let mut t = snaps.track(pending, &key);
                t.on_snapshot(entry.seq());
                pending.track(txn, &key, t)
            }
            _ => Ok(()),
        }
    }

    fn heights_of(&self, authors: Vec<NodeId>) -> Vec<(NodeId, u64)> {
        authors
            .into_iter()
            .map(|a| (a, self.heads.get(&a).map_or(0, |h| h.seq)))
            .collect()
    }

    /// Computes the summary (and, for students and staff, the look-up index) of each
    /// document a page changed, inside the page's transaction: from the records that
    /// changed when the document's heads before the page are known, else from the whole
    /// document.
    fn summarize_docs(
        docs: &mut docs::DocCache,
        actor: [u8; 32],
        txn: &mut WriteTxn<'_>,
        keys: &[String],
        mut earlier: Earlier,
    ) -> Result<Vec<(String, Summary)>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            // An import's own figures, computed off the engine lock from the document it
            // commits.
            if let Some((_, f)) = earlier.precomputed.take_if(|(k, _)| k == key) {
                out.push((key.clone(), write_figures(txn, key, f)?));
                continue;
            }
            let before = docs.before(key).map(<[_]>::to_vec);
            let figures = match docs.get(key) {
                Some(rdoc) => match (before, earlier.summaries.remove(key)) {
                    (Some(before), Some(summary)) => {
                        let index = txn.get(&tables::LOOKUPS, key)?;
                        match figures_since(key, &mut *rdoc, &before, summary, index) {
                            Some(f) => {
                                docs.updated += 1;
                                Some(f)
                            }
                            None => figures(key, rdoc),
                        }
                    }
                    _ => figures(key, rdoc),
                },
                None => match earlier.dropped.remove(key) {
                    // Dropped from the cache after the page changed it: written then.
                    Some(summary) => {
                        out.push((key.clone(), summary));
                        continue;
                    }
                    // Dropped because a later entry failed: what the page wrote.
                    None => figures(key, &load_doc(txn.doc(key)?, &actor)?),
                },
            };
            if let Some(f) = figures {
                out.push((key.clone(), write_figures(txn, key, f)?));
            }
        }
        // Results and health count enrolled students only: a page that changed the
        // students changes their figures too.
        let students: Vec<String> = out
            .iter()
            .filter(|(k, _)| collection_of(k) == Some(Collection::Students))
            .map(|(k, _)| k.clone())
            .collect();
        for k in students {
            out.extend(rejoin(txn, &k)?);
        }
        Ok(out)
    }

    /// Signs and commits a new entry of this node's own log.
    fn append_local(&mut self, payload: Payload) -> Result<Entry> {
        let head = self.heads.get(&self.key.id()).copied();
        let entry = Entry::sign(
            &self.key,
            head.map_or(1, |h| h.seq + 1),
            head.map(|h| h.hash),
            self.clock.now_ms(),
            payload,
        );
        let mut out = Ingested::default();
        self.commit_entries(vec![(0, entry.clone(), true, None)], &mut out)?;
        if let Some((_, r)) = out.rejected.pop() {
            return Err(Error::Local(r));
        }
        Ok(entry)
    }

    /// Imports a CSV/XLSX file of `kind` into this school's document for the current
    /// school year: all or nothing.
    pub fn import(
        &mut self,
        kind: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<ImportOutcome> {
        let year = self.school_year();
        self.import_into(&year, kind, content_type, body)
    }

    /// [`Engine::import`] into the document of school year `year` (`YYYY-YYYY`).
    pub fn import_into(
        &mut self,
        year: &str,
        kind: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<ImportOutcome> {
        self.heal()?;
        check_year(year)?;
        let collection = import_collection(kind)?;
        self.check_school()?;
        let roster = self.roster_for(collection, year)?;
        let rows =
            eduioc_records::parse_import_against(collection, content_type, body, roster.as_ref())
                .map_err(Error::Import)?;
        self.upsert_into(year, collection, &rows)
    }

    /// Upserts validated rows into this unit's document of `collection` and commits the
    /// resulting changes as signed entries.
    pub fn upsert(
        &mut self,
        collection: Collection,
        rows: &[eduioc_records::Row],
    ) -> Result<ImportOutcome> {
        let year = self.school_year();
        self.upsert_into(&year, collection, rows)
    }

    /// [`Engine::upsert`] into the document of school year `year`: the steps of
    /// [`import_shared`] with this engine held throughout (see the `import` module).
    pub fn upsert_into(
        &mut self,
        year: &str,
        collection: Collection,
        rows: &[eduioc_records::Row],
    ) -> Result<ImportOutcome> {
        let checkout = self.begin_import(year, collection)?;
        let key = checkout.key();
        let prepared = match checkout.prepare(rows) {
            Ok(p) => p,
            Err(e) => {
                self.abort_import(&key);
                return Err(e);
            }
        };
        Ok(self.finish_import(prepared)?.0)
    }

    /// Sends a notification to every node of `to_unit`'s subtree.
    pub fn notify(&mut self, to_unit: &str, title: &str, body: &str) -> Result<Notice> {
        self.guarded(|e| e.notify_now(to_unit, title, body))
    }

    fn notify_now(&mut self, to_unit: &str, title: &str, body: &str) -> Result<Notice> {
        if !self.dir.is_ancestor_or_self(&self.unit, to_unit) {
            return Err(Error::UnknownUnit(to_unit.to_string()));
        }
        if title.trim().is_empty() || title.len() > 200 || body.len() > 20_000 {
            return Err(Error::Invalid(
                "a notification needs a title (at most 200 bytes) and a body of at most 20,000 bytes".into(),
            ));
        }
        let e = self.append_local(Payload::Notification {
            to_unit: to_unit.to_string(),
            title: title.trim().to_string(),
            body: body.to_string(),
        })?;
        Ok(Notice {
            id: format!("{}/{}", self.unit, e.seq()),
            from_unit: self.unit.clone(),
            author: self.key.id().to_string(),
            seq: e.seq(),
            to_unit: to_unit.to_string(),
            title: title.trim().to_string(),
            body: body.to_string(),
            sent_ms: e.body.timestamp_ms,
        })
    }

    /// Notifications addressed to this node's unit or an ancestor of it (its inbox), and
    /// those it sent, newest first, with the units that acknowledged reading each.
    pub fn notifications(&self) -> Result<Vec<(Notice, Vec<String>)>> {
        let mut out = Vec::new();
        let acks = self.store.scan(&tables::ACKS, "")?;
        for (_, n) in self.store.scan(&tables::NOTICES, "")? {
            let mine = self.dir.is_ancestor_or_self(&n.to_unit, &self.unit)
                || self.dir.is_ancestor_or_self(&self.unit, &n.to_unit);
            if !mine {
                continue;
            }
            let prefix = format!("{}/{}/", n.from_unit, n.seq);
            let readers = acks
                .iter()
                .filter_map(|(k, _)| k.strip_prefix(&prefix).map(str::to_string))
                .collect();
            out.push((n, readers));
        }
        out.sort_by_key(|n| std::cmp::Reverse(n.0.sent_ms));
        Ok(out)
    }

    /// Marks a notification read here: a signed acknowledgement travelling up.
    pub fn mark_read(&mut self, id: &str) -> Result<()> {
        self.guarded(|e| e.mark_read_now(id))
    }

    fn mark_read_now(&mut self, id: &str) -> Result<()> {
        let Some(n) = self.store.get(&tables::NOTICES, id)? else {
            return Err(Error::Invalid(format!("no notification {id}")));
        };
        if self
            .store
            .get(
                &tables::ACKS,
                &format!("{}/{}/{}", n.from_unit, n.seq, self.unit),
            )?
            .is_some()
        {
            return Ok(());
        }
        let author =
            NodeId::from_hex(&n.author).ok_or_else(|| Error::Invalid("bad author".into()))?;
        self.append_local(Payload::Ack { author, seq: n.seq })?;
        Ok(())
    }

    /// Entries quarantined as forks.
    pub fn quarantined(&self) -> Result<Vec<Quarantined>> {
        Ok(self.store.quarantined()?)
    }

    /// Loads a document (for record pages and tests).
    pub fn with_doc<T>(
        &mut self,
        doc: &DocId,
        f: impl FnOnce(&RecordsDoc) -> T,
    ) -> Result<Option<T>> {
        self.heal()?;
        let key = doc.key();
        if self.docs.get(&key).is_none() {
            let Some(rec) = self
                .store
                .doc(&key)
                .map_err(|e| self.noted(Error::from(e)))?
            else {
                return Ok(None);
            };
            let loaded = load_doc(Some(rec), self.key.id().as_bytes())?;
            let _ = self.docs.put(&key, loaded);
        }
        Ok(self.docs.get(&key).map(|d| f(d)))
    }

    /// A document saved whole (Automerge's `save()`), as another system would load it;
    /// `None` if this node holds no such document.
    pub fn save_doc(&mut self, doc: &DocId) -> Result<Option<Vec<u8>>> {
        if self.with_doc(doc, |_| ())?.is_none() {
            return Ok(None);
        }
        Ok(self.docs.get(&doc.key()).map(|d| d.save()))
    }

    /// All per-document summaries held (document key → summary).
    pub fn summaries(&self) -> HashMap<String, Summary> {
        self.views.figures().summaries.clone()
    }
}

/// What the figures of a page's documents are computed from, besides the documents.
struct Earlier {
    /// Summaries of changed documents the cache dropped during the page (written then).
    dropped: HashMap<String, Summary>,
    /// An import's figures, computed off the engine lock.
    precomputed: Option<(String, Derived)>,
    /// The summaries the documents had before the page.
    summaries: HashMap<String, Summary>,
}

/// One entry of a page being committed: (index in the page, entry, signature verified,
/// saved document sent beside it).
type Item<'a> = (usize, Entry, bool, Option<&'a [u8]>);

/// What applying one entry's payload may touch, inside the page's transaction.
struct Apply<'e, 't> {
    docs: &'e mut docs::DocCache,
    dir: &'e mut Directory,
    snaps: &'e snapshots::Snapshots,
    pending: &'e mut snapshots::Pending,
    actor: [u8; 32],
    txn: &'e mut WriteTxn<'t>,
    /// The import being committed, if any: its document already holds its changes.
    local: Option<&'e mut import::Local>,
}

impl Apply<'_, '_> {
    /// Applies an appended entry's payload inside the transaction. Returns the key of a
    /// document whose content it changed. `beside`: the saved document sent beside a
    /// snapshot entry (already checked against the entry by validation); `parsed`: the
    /// changes of a changes entry, as validation parsed them.
    fn payload(
        &mut self,
        entry: &Entry,
        unit: &str,
        beside: Option<&[u8]>,
        parsed: Vec<automerge::Change>,
    ) -> Result<Option<String>> {
        let (docs, dir, actor, txn) = (&mut *self.docs, &mut *self.dir, self.actor, &mut *self.txn);
        match &entry.body.payload {
            Payload::Changes { doc, changes } => {
                let key = doc.key();
                ensure_loaded(docs, txn, &key, &actor)?;
                docs.about_to_change(&key);
                let Some(rdoc) = docs.get(&key) else {
                    return Ok(None);
                };
                // An import's own changes were made in this very document: no need to
                // parse and apply them again.
                let made_here = entry.author().as_bytes() == &actor
                    && self.local.as_ref().is_some_and(|l| l.key == key);
                if !made_here {
                    rdoc.apply_changes(parsed)?;
                }
                let chunk: Vec<u8> = changes.concat();
                let n = txn.append_doc_chunk(&key, &chunk)?;
                if n > COMPACT_AFTER_CHUNKS {
                    let snap = rdoc.save();
                    txn.put_doc_snapshot(&key, &snap)?;
                    // No longer the document at a snapshot entry's heads.
                    self.pending.doc_at(txn, &key, None)?;
                }
                // Summaries are recomputed once per document per page, in `summarize_docs`.
                Ok(Some(key))
            }
            Payload::Certificate(c) => {
                match dir.insert(c.clone()) {
                    Ok(_) => txn.put_cert(
                        &format!("{}/{}", c.body.unit, c.body.version),
                        &c.to_bytes(),
                    )?,
                    Err(e) => tracing::warn!(error = %e, "certificate entry refused"),
                }
                Ok(None)
            }
            Payload::Target { .. } => {
                targets::apply(txn, entry, unit)?;
                Ok(None)
            }
            Payload::AlertAck { .. } => {
                alerts::apply(txn, entry, unit)?;
                Ok(None)
            }
            Payload::Notification {
                to_unit,
                title,
                body,
            } => {
                let n = Notice {
                    id: format!("{unit}/{}", entry.seq()),
                    from_unit: unit.to_string(),
                    author: entry.author().to_string(),
                    seq: entry.seq(),
                    to_unit: to_unit.clone(),
                    title: title.clone(),
                    body: body.clone(),
                    sent_ms: entry.body.timestamp_ms,
                };
                txn.put(&tables::NOTICES, &n.id, &n)?;
                Ok(None)
            }
            Payload::Snapshot {
                doc,
                heads,
                replaces,
            } => {
                let key = doc.key();
                let stored = docs.get(&key).is_some() || txn.doc(&key)?.is_some();
                let mut fresh = false;
                match beside {
                    // Nothing of the document here yet: take the saved document as it is.
                    Some(save) if !stored => {
                        let loaded = peer_bytes("the document beside the snapshot entry", || {
                            RecordsDoc::load(save, &actor)
                        })?;
                        let dropped = docs.put(&key, loaded);
                        write_dropped(docs, txn, dropped)?;
                        fresh = true;
                    }
                    Some(save) => {
                        ensure_loaded(docs, txn, &key, &actor)?;
                        docs.about_to_change(&key);
                        if let Some(rdoc) = docs.get(&key) {
                            peer_bytes("the document beside the snapshot entry", || {
                                rdoc.load_incremental(save)
                            })?;
                        }
                    }
                    None => {
                        ensure_loaded(docs, txn, &key, &actor)?;
                        docs.about_to_change(&key);
                    }
                }
                let Some(rdoc) = docs.get(&key) else {
                    return Ok(None);
                };
                let at: Vec<[u8; 32]> = rdoc.heads().into_iter().map(|h| h.0).collect();
                if &at != heads {
                    let id = format!("{}#{}", entry.author().short(), entry.seq());
                    return Err(Error::Rejected(match beside {
                        Some(_) => Reject::Malformed(format!(
                            "{id}: document {key} loaded from the snapshot is not at its heads"
                        )),
                        None => Reject::Gap(format!(
                            "{id}: snapshot of {key} at heads the document here is not at \
                             (entries it replaces are missing here) and no document beside it"
                        )),
                    }));
                }
                // The stored document becomes a save at the entry's heads: compact, and
                // what a sender puts beside this entry for a peer that lacks the document.
                let presaved = match self.local.as_mut() {
                    Some(l) if l.key == key && entry.author().as_bytes() == &actor => l.save.take(),
                    _ => None,
                };
                let save = match (beside, presaved) {
                    (Some(save), _) if fresh => save.to_vec(),
                    // Saved off the engine lock by the import, at these very heads.
                    (None, Some(save)) => save,
                    _ => rdoc.save(),
                };
                txn.put_doc_snapshot(&key, &save)?;
                self.pending
                    .doc_at(txn, &key, Some((entry.author(), entry.seq())))?;
                let held = Held {
                    seq: entry.seq(),
                    replaces: replaces.clone(),
                };
                self.pending
                    .snapshot(self.snaps, txn, entry.author(), &key, held)?;
                // Only a document that arrived beside the entry changes what it holds.
                Ok(beside.is_some().then_some(key))
            }
            Payload::Ack { author, seq } => {
                let from = dir.unit_of(author).unwrap_or("?").to_string();
                txn.put(
                    &tables::ACKS,
                    &format!("{from}/{seq}/{unit}"),
                    &entry.body.timestamp_ms,
                )?;
                Ok(None)
            }
        }
    }
}

/// Checks a school year label `YYYY-YYYY` (consecutive years).
pub fn check_year(year: &str) -> Result<()> {
    let ok = year.len() == 9
        && year.as_bytes()[4] == b'-'
        && matches!(
            (year[..4].parse::<u32>(), year[5..].parse::<u32>()),
            (Ok(a), Ok(b)) if b == a + 1 && (1990..=2200).contains(&a)
        );
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "school year must look like 2026-2027 (two consecutive years), got {year:?}"
        )))
    }
}

/// Runs Automerge's parser on bytes a peer sent that no signature covers: a panic inside it
/// becomes a `malformed` rejection instead of unwinding through the engine (and poisoning
/// the lock the node holds it under). The caller evicts the document it was loading into.
fn peer_bytes<T>(
    what: &str,
    parse: impl FnOnce() -> std::result::Result<T, eduioc_records::Error>,
) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)) {
        Ok(r) => Ok(r?),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(Error::Rejected(Reject::Malformed(format!(
                "{what} made the Automerge parser panic: {why}"
            ))))
        }
    }
}

fn load_doc(rec: Option<eduioc_store::DocRecord>, actor: &[u8; 32]) -> Result<RecordsDoc> {
    let Some(rec) = rec else {
        return Ok(RecordsDoc::new(actor));
    };
    Ok(RecordsDoc::restore(&rec.snapshot, &rec.chunks, actor)?)
}

/// What is recomputed from a document a page changed: its summary and, for students and
/// staff, its look-up index.
type Derived = (Summary, Option<search::Lookup<String>>);

/// Stores a document's figures in the page's transaction; returns its summary. A results
/// or health document's summary is its index joined with the enrolled students of its
/// school year, as the transaction holds them.
pub(crate) fn write_figures(
    txn: &mut WriteTxn<'_>,
    key: &str,
    (summary, index): Derived,
) -> Result<Summary> {
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
    if let Some(index) = index {
        txn.put(&tables::LOOKUPS, key, &index)?;
    }
    Ok(summary)
}

/// Loads document `key` from the page's transaction into the cache unless it is there,
/// writing the figures of a changed document the cache drops for it.
fn ensure_loaded(
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
fn write_dropped(
    docs: &mut docs::DocCache,
    txn: &mut WriteTxn<'_>,
    dropped: Vec<(String, RecordsDoc)>,
) -> Result<()> {
    for (key, doc) in dropped {
        if let Some(f) = figures(&key, &doc) {
            drop(doc);
            let summary = write_figures(txn, &key, f)?;
            docs.summarised(key, summary);
        }
    }
    Ok(())
}

/// The summaries of the results and health documents of the school year of students
/// document `students`, joined again with its enrolled students (which a page just
/// changed), stored in the transaction.
fn rejoin(txn: &mut WriteTxn<'_>, students: &str) -> Result<Vec<(String, Summary)>> {
    let mut out = Vec::new();
    let Some(index) = txn.get(&tables::LOOKUPS, students)? else {
        return Ok(out);
    };
    let enrolled = search::enrolled(&index);
    for c in [Collection::Results, Collection::Health] {
        let Some(key) = sibling(students, c) else {
            continue;
        };
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
fn collection_of(key: &str) -> Option<Collection> {
    DocId::from_key(key)?.collection.parse().ok()
}

/// The figures of document `key` from those it had at heads `before`, reading only the
/// records changed since; `None` when they must be computed whole.
fn figures_since(
    key: &str,
    doc: &mut RecordsDoc,
    before: &[automerge::ChangeHash],
    summary: Summary,
    index: Option<search::Lookup<String>>,
) -> Option<Derived> {
    search::figures_since(collection_of(key)?, doc, before, summary, index)
}

/// The figures of document `key`; `None` for a key that names no collection.
fn figures(key: &str, doc: &RecordsDoc) -> Option<Derived> {
    Some(search::figures(collection_of(key)?, doc))
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
        match self
            .store
            .entries_from(author.as_bytes(), from, max_count, max_bytes)
        {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "reading entries failed");
                Vec::new()
            }
        }
    }

    fn snapshots(&self, author: &NodeId) -> Vec<Held> {
        self.snaps.offered(author)
    }

    fn holes(&self, author: &NodeId) -> Ranges {
        self.snaps.holes(author)
    }

    fn snapshot_doc(&self, author: &NodeId, seq: u64) -> Option<Vec<u8>> {
        let key = self.snaps.doc_of(author, seq)?;
        match self.store.doc(key) {
            Ok(Some(rec)) if !rec.snapshot.is_empty() => Some(rec.snapshot),
            Ok(_) => None,
            Err(e) => {
                tracing::error!(error = %e, "reading a document failed");
                None
            }
        }
    }
}

/// What the engine mirrors of its store, read at open and after a reopen.
struct Loaded {
    heads: HashMap<NodeId, Head>,
    summaries: HashMap<String, Summary>,
    targets: BTreeMap<String, Target>,
    alert_acks: BTreeMap<String, AlertAck>,
    seen: HashMap<String, i64>,
    rejected: BTreeMap<String, u64>,
    entries: u64,
    quarantined: usize,
    snaps: snapshots::Snapshots,
}

impl Loaded {
    fn read(store: &Store) -> Result<Loaded> {
        let heads = store
            .heads()?
            .into_iter()
            .map(|(a, h)| (NodeId(a), h))
            .collect();
        let summaries = store.scan(&tables::SUMMARIES, "")?.into_iter().collect();
        let targets = store.scan(&tables::TARGETS, "")?.into_iter().collect();
        let alert_acks = store.scan(&tables::ALERT_ACKS, "")?.into_iter().collect();
        let seen = store.scan(&tables::SEEN, "")?.into_iter().collect();
        let rejected = store.scan(&tables::REJECTED, "")?.into_iter().collect();
        Ok(Loaded {
            heads,
            summaries,
            targets,
            alert_acks,
            seen,
            rejected,
            entries: store.entry_count()?,
            quarantined: store.quarantined()?.len(),
            snaps: snapshots::Snapshots::load(store)?,
        })
    }
}

/// The directory from the trust anchor, the provisioned certificates and the stored ones.
fn build_dir(
    root_key: NodeId,
    provisioned: &[Certificate],
    store: &Store,
    now_ms: i64,
) -> Result<Directory> {
    let mut dir = Directory::new(root_key);
    dir.set_now(now_ms);
    let mut certs: Vec<Certificate> = provisioned.to_vec();
    for raw in store.certs()? {
        if let Ok(c) = Certificate::from_bytes(&raw) {
            certs.push(c);
        }
    }
    for c in certs {
        if let Err(e) = dir.insert(c) {
            if !matches!(e, eduioc_protocol::CertError::Pending(_)) {
                tracing::warn!(error = %e, "provisioned certificate refused");
            }
        }
    }
    Ok(dir)
}

/// What a store read after a commit gave back; `None` (logged) if it failed: the commit
/// stands, and the view is refreshed at the next one or when the engine reopens.
fn read_back<T, E: std::fmt::Display>(what: &str, read: std::result::Result<T, E>) -> Option<T> {
    read.map_err(|e| tracing::error!(error = %e, "reading the {what} back failed"))
        .ok()
}

/// Path of a node's store inside its data directory.
pub fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join("store.redb")
}

#[cfg(test)]
mod tests;
