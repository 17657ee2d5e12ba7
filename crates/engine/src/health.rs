//! Storage health: whether the node's store can write, readable without the engine.
//!
//! After an I/O error redb refuses every operation until its file is closed and opened
//! again. The engine records the failure here ([`StorageHealth::failed`]), reopens the
//! store at its next operation or when the node's periodic probe asks
//! ([`crate::Engine::probe_storage`]), and clears the failure once a write commits again.
//! The web server holds the same `Arc` and shows the state in `status` without taking
//! waiting for the engine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

pub use eduioc_store::Fault;

/// A storage failure in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageFault {
    /// A full disk, or another I/O error.
    pub kind: Fault,
    /// What the store reported (English, for logs and the `status` detail).
    pub detail: String,
    /// When the failure began (Unix ms): the first failed operation since the store
    /// last wrote successfully.
    pub since_ms: i64,
}

impl StorageFault {
    /// The failure in words a school clerk understands (English; the web UI says it in
    /// the page's language).
    pub fn explain(&self) -> String {
        match self.kind {
            Fault::DiskFull => format!(
                "the disk of this node is full, so nothing was saved. Free some space on the \
                 disk that holds the node's data; the node recovers by itself, then try again. \
                 ({})",
                self.detail
            ),
            Fault::Io => format!(
                "this node cannot write to its disk, so nothing was saved. The node retries by \
                 itself; if this lasts, check the disk that holds the node's data. ({})",
                self.detail
            ),
        }
    }
}

impl std::fmt::Display for StorageFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.explain())
    }
}

/// The store's health, shared between the engine and whoever reports it.
#[derive(Debug, Default)]
pub struct StorageHealth {
    fault: Mutex<Option<StorageFault>>,
    /// The store must be reopened before its next operation.
    reopen: AtomicBool,
}

impl StorageHealth {
    /// The failure in force, if any (`None`: the store writes).
    pub fn fault(&self) -> Option<StorageFault> {
        self.fault
            .lock()
            .map(|f| f.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Whether the store is to be reopened before its next operation.
    pub fn needs_reopen(&self) -> bool {
        self.reopen.load(Ordering::Acquire)
    }

    /// Records a failure of `kind` at `now_ms`; the store is reopened before its next
    /// operation. A failure in force keeps its start, and a full disk stays the cause
    /// while the operations after it fail only because an earlier one did.
    pub(crate) fn failed(&self, kind: Fault, detail: String, now_ms: i64) -> StorageFault {
        self.reopen.store(true, Ordering::Release);
        let mut guard = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        let fault = match guard.take() {
            Some(old) => StorageFault {
                kind: if old.kind == Fault::DiskFull {
                    Fault::DiskFull
                } else {
                    kind
                },
                detail: if old.kind == Fault::DiskFull && kind == Fault::Io {
                    old.detail
                } else {
                    detail
                },
                since_ms: old.since_ms,
            },
            None => StorageFault {
                kind,
                detail,
                since_ms: now_ms,
            },
        };
        *guard = Some(fault.clone());
        fault
    }

    /// The store was reopened: operations may run again.
    pub(crate) fn reopened(&self) {
        self.reopen.store(false, Ordering::Release);
    }

    /// A write committed: the store is healthy.
    pub(crate) fn healed(&self) {
        let mut guard = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = guard.take() {
            tracing::info!(since_ms = f.since_ms, "the store writes again");
        }
    }
}
