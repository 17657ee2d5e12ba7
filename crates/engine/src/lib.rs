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

mod actor;
pub use actor::{EngineHandle, INBOX};
mod alerts;
mod audit;
pub use audit::{AuditPage, AuditQuery, AuditRow, MAX_AUDIT_PAGE};
mod commit;
mod derived;
use derived::{collection_of, figures, write_figures, Derived};
mod completeness;
mod docs;
pub mod export;
mod forecast;
mod health;
mod import;
mod indicators;
pub mod links;
mod log;
pub use log::StoredLog;
pub mod metrics;
mod overview;
mod par;
mod privacy;
mod provenance;
mod reparent;
mod reports;
pub use reports::{report_figures, Changed, ReportView, Step, StepView};
mod restore;
pub use restore::STARTED_MARKER;
mod search;
mod snapshots;
mod stats;
mod tables;
mod targets;
mod views;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use eduioc_protocol::snapshot::{self, Held};
use eduioc_protocol::validate::{self, LogState, Reject, Verdict};
use eduioc_protocol::{Certificate, Directory, DocId, Entry, NodeId, NodeKey, Payload};
use eduioc_records::{Collection, ImportErrors, RecordsDoc, Summary};
use eduioc_store::{Head, Quarantined, WriteTxn};
use serde::{Deserialize, Serialize};

pub use alerts::{AckView, Alert, AlertAck, AlertSettings, Severity, MAX_ACK_NOTE_BYTES};
pub use completeness::SchoolCompleteness;
pub use eduioc_store::{Store, StoredBytes};
pub use forecast::{Backtest, Forecast, ForecastYear, MAX_FORECAST_YEARS, TEACHERS_PER_CLASS};
pub use health::{Fault, StorageFault, StorageHealth};
pub use import::{import_collection, Checkout, ImportLimits, ImportTimings, Prepared};
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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
    /// The last number of the export feed ([`export`]).
    feed: u64,
    school_year: Option<String>,
    /// The trust anchor and the provisioned certificates: the directory is rebuilt from
    /// them and the stored ones when the store is reopened.
    root_key: NodeId,
    provisioned: Vec<Certificate>,
    /// Whether the store writes; shared with whoever reports it.
    health: Arc<StorageHealth>,
    /// The views published after each commit (read without waiting for the engine).
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
    /// The saved documents beside a page's snapshot entries, loaded on all cores before
    /// the page is committed (by the entry's author and seq), while it is.
    preloaded: HashMap<(NodeId, u64), Result<RecordsDoc>>,
    /// Where a restore of this node's log from its parent stands (see [`restore`]).
    restoring: restore::Restoring,
    /// Where to note that this node's own log was first written, until it is (see
    /// [`restore`]).
    started_marker: Option<std::path::PathBuf>,
    /// The level records stop at (`records_up_to`; see [`privacy`]).
    records_up_to: Option<String>,
    /// At that level: documents whose summaries a commit changed and this node has not
    /// signed yet.
    unsigned: std::collections::BTreeSet<String>,
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

/// The last millisecond of school year `year` (`YYYY-YYYY`: it ends as September of its
/// second year begins, see [`school_year_at`]); `None` for a malformed year.
pub(crate) fn year_end_ms(year: &str) -> Option<i64> {
    let second: i32 = year.get(5..9)?.parse().ok()?;
    let start = chrono::NaiveDate::from_ymd_opt(second, 9, 1)?.and_hms_opt(0, 0, 0)?;
    Some(start.and_utc().timestamp_millis() - 1)
}

impl Engine {
    /// Opens (or creates) the node's store in `cfg.data_dir` and loads its state, on the
    /// system clock.
    pub fn open(cfg: Config) -> Result<Engine> {
        let store = Store::open(&cfg.data_dir.join("store.redb"))?;
        let data_dir = cfg.data_dir.clone();
        let mut engine = Engine::open_with(cfg, store, Clock::system())?;
        engine.watch_lost_store(&data_dir)?;
        Ok(engine)
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
        let restoring = restore::read(&store)?;
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
            feed: 0,
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
            preloaded: HashMap::new(),
            restoring,
            records_up_to: None,
            unsigned: Default::default(),
            started_marker: None,
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
            figures.reports = state.reports;
            figures.forks =
                read_back("forks", alerts::forks(&self.store, &self.dir)).unwrap_or_default();
            figures.seen = state.seen;
        }
        self.entries = state.entries;
        self.quarantined = state.quarantined;
        self.feed = state.feed;
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
            restoring: self.restoring.is_some(),
            store_bytes: std::fs::metadata(self.store.path()).map_or(0, |m| m.len()),
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
    /// [`EngineHandle::import`] with this engine held throughout (see the `import` module).
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
            return Err(Error::NotFound(format!(
                "no notification {id:?} is held here"
            )));
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

fn load_doc(rec: Option<eduioc_store::DocRecord>, actor: &[u8; 32]) -> Result<RecordsDoc> {
    let Some(rec) = rec else {
        return Ok(RecordsDoc::new(actor));
    };
    Ok(RecordsDoc::restore(&rec.snapshot, &rec.chunks, actor)?)
}

/// What the engine mirrors of its store, read at open and after a reopen.
struct Loaded {
    heads: HashMap<NodeId, Head>,
    summaries: HashMap<String, Summary>,
    targets: BTreeMap<String, Target>,
    alert_acks: BTreeMap<String, AlertAck>,
    reports: BTreeMap<String, reports::Steps>,
    seen: HashMap<String, i64>,
    rejected: BTreeMap<String, u64>,
    entries: u64,
    quarantined: usize,
    snaps: snapshots::Snapshots,
    feed: u64,
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
        let reports = store.scan(&tables::REPORTS, "")?.into_iter().collect();
        let seen = store.scan(&tables::SEEN, "")?.into_iter().collect();
        let rejected = store.scan(&tables::REJECTED, "")?.into_iter().collect();
        Ok(Loaded {
            heads,
            summaries,
            targets,
            alert_acks,
            reports,
            seen,
            rejected,
            entries: store.entry_count()?,
            quarantined: store.quarantined()?.len(),
            snaps: snapshots::Snapshots::load(store)?,
            feed: export::last_seq(&store.view()?)?,
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
