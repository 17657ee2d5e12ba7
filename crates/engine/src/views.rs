//! Immutable views the engine publishes after each commit (DESIGN §10): readers take the
//! latest one without the engine lock, so no read waits for an import or an ingest.
//!
//! [`Views`] is a cloneable handle. Each view is an `Arc` swapped whole under a lock held
//! only for the swap or the clone of the `Arc`, never while the engine works. Today it
//! holds the [`StatusView`]; statistics and look-ups can follow the same way.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

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
    /// The configured school year; `None`: from the clock ([`StatusView::school_year`]).
    pub fixed_school_year: Option<String>,
    /// Views published since the engine opened (tests and diagnostics).
    pub version: u64,
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
            fixed_school_year: None,
            version: 0,
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

/// The views one engine publishes. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct Views {
    status: Arc<RwLock<Arc<StatusView>>>,
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
