//! Immutable views the engine publishes after each commit (DESIGN §10): readers take the
//! latest one without waiting for the engine, so no read waits for an import or an ingest.
//!
//! [`Views`] is a cloneable handle to two views:
//! - the [`StatusView`], an `Arc` swapped whole under a lock held only for the swap or the
//!   clone of the `Arc`;
//! - the [`Figures`]: the per-document summaries, the freshness per unit and the hierarchy
//!   in force, from which `stats` is computed. The engine owns the only writable copy
//!   there is: it updates it in place, under a write lock taken after a commit for the few
//!   summaries the commit changed (microseconds), never while it validates, applies or
//!   writes. Readers hold the read lock for one computation (a subtree's sums: well under a
//!   millisecond at a department of a large province).
//!
//! So `stats`, the overview and the network page never wait for an import or an ingest.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use eduioc_protocol::Directory;
use eduioc_records::Summary;

/// What `GET /api/v1/status` shows of the engine: counters and the node's place in the
/// hierarchy, as of the last commit. Plain data; add a field here (and set it in the
/// engine's `publish`) to show more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusView {
    /// The unit this node speaks for.
    pub unit: String,
    /// This node's id (its key: the author of its log).
    pub id: eduioc_protocol::NodeId,
    /// Its level (`school`, `district`, ...).
    pub level: String,
    /// Its name.
    pub name: String,
    /// Its children in the current hierarchy, with the latest author timestamp seen from
    /// each (Unix ms).
    pub children: Vec<(String, Option<i64>)>,
    /// Entries held.
    pub entries: u64,
    /// Authors held.
    pub authors: usize,
    /// Rejections by reason key.
    pub rejected: BTreeMap<String, u64>,
    /// Entries quarantined as forks.
    pub quarantined: usize,
    /// Automerge documents loaded in memory.
    pub docs_loaded: usize,
    /// Their estimated memory, bytes.
    pub docs_loaded_bytes: usize,
    /// The configured school year; `None`: from the clock ([`StatusView::school_year`]).
    pub fixed_school_year: Option<String>,
    /// Notifications addressed to this unit (or above it) that it has not read.
    pub unread: usize,
    /// Views published since the engine opened (tests and diagnostics).
    pub version: u64,
    /// Whether the node is restoring its log from its parent (it writes nothing until
    /// it holds it: `eduioc restore`).
    pub restoring: bool,
    /// Size of the store's file, bytes (0 in memory).
    pub store_bytes: u64,
}

impl Default for StatusView {
    fn default() -> Self {
        StatusView {
            unit: String::new(),
            id: eduioc_protocol::NodeId([0; 32]),
            level: String::new(),
            name: String::new(),
            children: Vec::new(),
            entries: 0,
            authors: 0,
            rejected: BTreeMap::new(),
            quarantined: 0,
            docs_loaded: 0,
            docs_loaded_bytes: 0,
            fixed_school_year: None,
            unread: 0,
            version: 0,
            restoring: false,
            store_bytes: 0,
        }
    }
}

impl StatusView {
    /// The school year imports and statistics use now.
    pub fn school_year(&self) -> String {
        self.fixed_school_year
            .clone()
            .unwrap_or_else(|| crate::school_year_at(chrono::Utc::now().timestamp_millis()))
    }
}

/// What statistics are computed from, as of the last commit.
#[derive(Debug)]
pub struct Figures {
    /// The unit of the node.
    pub(crate) unit: String,
    /// The hierarchy in force.
    pub(crate) dir: Arc<Directory>,
    /// Summary per document key.
    pub(crate) summaries: HashMap<String, Summary>,
    /// Targets held, by id.
    pub(crate) targets: BTreeMap<String, crate::Target>,
    /// Alert acknowledgements held, by alert id.
    pub(crate) alert_acks: BTreeMap<String, crate::AlertAck>,
    /// The level records stop at (`records_up_to`), if the network keeps them below the
    /// root.
    pub(crate) records_up_to: Option<String>,
    /// Term reports' steps held, by `<school>/<year>/<term>`.
    pub(crate) reports: BTreeMap<String, crate::reports::Steps>,
    /// Forks quarantined here.
    pub(crate) forks: Vec<crate::alerts::ForkSeen>,
    /// The rules' settings.
    pub(crate) alert_settings: crate::AlertSettings,
    /// Latest author timestamp seen per unit (Unix ms).
    pub(crate) seen: HashMap<String, i64>,
    /// The configured school year; `None`: from the clock.
    pub(crate) fixed_school_year: Option<String>,
    /// The engine's clock.
    pub(crate) clock: crate::Clock,
}

impl Figures {
    /// The school year statistics use when none is asked for.
    pub fn school_year(&self) -> String {
        self.fixed_school_year
            .clone()
            .unwrap_or_else(|| crate::school_year_at(self.clock.now_ms()))
    }

    /// The time now on the engine's clock, Unix ms.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Latest author timestamp seen from `unit`.
    pub fn last_seen_ms(&self, unit: &str) -> Option<i64> {
        self.seen.get(unit).copied()
    }

    /// The unit of the node.
    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// The hierarchy in force.
    pub fn directory(&self) -> &Directory {
        &self.dir
    }

    /// Whether the node holds a summary of the document with this key.
    pub fn holds(&self, doc_key: &str) -> bool {
        self.summaries.contains_key(doc_key)
    }
}

/// What a commit announces, after its views are published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Entries by these authors were committed (received or signed here): links forward
    /// them.
    Appended(Vec<eduioc_protocol::NodeId>),
}

/// Events a subscriber has not taken yet beyond this are dropped for it; it is told
/// ([`tokio::sync::broadcast::error::RecvError::Lagged`]) and must compare everything.
/// The network loop takes each event between two swarm events, so 64 is ample; the slots
/// are allocated up front (1,024 cost 47 KiB more per engine, measured by
/// `tests::memory_of_idle_engines`: the simulator runs tens of thousands).
const EVENT_BACKLOG: usize = 64;

/// The views one engine publishes. Cloning shares them.
#[derive(Debug, Clone)]
pub struct Views {
    status: Arc<RwLock<Arc<StatusView>>>,
    figures: Arc<RwLock<Figures>>,
    events: tokio::sync::broadcast::Sender<Event>,
    metrics: Arc<crate::metrics::EngineMetrics>,
}

impl Views {
    /// Views of a node of `unit` under the hierarchy `dir`, with nothing committed yet.
    pub(crate) fn new(
        unit: &str,
        dir: &Directory,
        fixed_school_year: Option<String>,
        clock: crate::Clock,
    ) -> Views {
        Views {
            events: tokio::sync::broadcast::channel(EVENT_BACKLOG).0,
            metrics: Arc::default(),
            status: Arc::default(),
            figures: Arc::new(RwLock::new(Figures {
                unit: unit.to_string(),
                dir: Arc::new(dir.clone()),
                summaries: HashMap::new(),
                targets: BTreeMap::new(),
                alert_acks: BTreeMap::new(),
                reports: BTreeMap::new(),
                records_up_to: None,
                forks: Vec::new(),
                alert_settings: crate::AlertSettings::default(),
                seen: HashMap::new(),
                fixed_school_year,
                clock,
            })),
        }
    }

    /// What the engine measured of its own work (latencies, page sizes).
    pub fn metrics(&self) -> &crate::metrics::EngineMetrics {
        &self.metrics
    }

    /// The figures, read-locked: hold the guard for one computation, not across waits.
    pub fn figures(&self) -> RwLockReadGuard<'_, Figures> {
        // A writer that panicked left whole summaries: each is replaced, never edited.
        self.figures.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The figures, write-locked (the engine, after a commit).
    pub(crate) fn figures_mut(&self) -> RwLockWriteGuard<'_, Figures> {
        self.figures.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The events of the commits from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Announces `event` to every subscriber (none: nobody listens, nothing to do).
    pub(crate) fn announce(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// Publishes `dir` as the hierarchy in force unless it is the one published.
    pub(crate) fn set_directory(&self, dir: &Directory) {
        if self.figures().dir.stamp() != dir.stamp() {
            let fresh = Arc::new(dir.clone());
            self.figures_mut().dir = fresh;
        }
    }
}

impl Views {
    /// The latest status view.
    pub fn status(&self) -> Arc<StatusView> {
        match self.status.read() {
            Ok(v) => Arc::clone(&v),
            // A writer panicked mid-swap: the Arc inside is still a whole view.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the status view.
    pub(crate) fn set_status(&self, view: StatusView) {
        let view = Arc::new(view);
        match self.status.write() {
            Ok(mut v) => *v = view,
            Err(poisoned) => *poisoned.into_inner() = view,
        }
    }
}
