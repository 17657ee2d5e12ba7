//! The network's link table: what the network loop writes about its links (parent,
//! children, bytes on the wire) and the web server reads for `status` and the network
//! page. Plain data, shared as `Arc<Mutex<Links>>`; it lives here so that the web server
//! needs only the engine, not the network.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Bytes that crossed the wire, both directions, frames and length prefixes included.
#[derive(Debug, Default)]
pub struct WireCounters {
    /// Bytes written.
    pub sent: AtomicU64,
    /// Bytes read.
    pub received: AtomicU64,
}

/// Health of the link to the parent.
#[derive(Debug, Clone, Default)]
pub struct ParentLink {
    /// A live, working session: past the parent's `Welcome`, and no request failed or
    /// timed out and no ping went unanswered since the last successful exchange.
    pub connected: bool,
    /// Parent unit.
    pub unit: String,
    /// Last completed exchange with the parent (Unix ms).
    pub last_sync_ms: Option<i64>,
    /// What the parent refuses of ours, while it does; `None` once it holds every entry
    /// it had refused (or when it never refused any).
    pub refused: Option<Refusal>,
}

/// The parent refused entries of this node's subtree, or a whole request (its `Hello`, a
/// page). Kept until the parent holds what it refused: reconnecting does not clear it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refusal {
    /// Entries the parent's latest refusing acknowledgement said it refused (0 when only
    /// whole requests were refused).
    pub entries: u64,
    /// Short reason key, as in `status.rejected`: the parent's own key for a refused
    /// request; for refused entries, which the acknowledgement does not explain, this
    /// node's own diagnosis of the first one (`oversized` when it exceeds what a peer
    /// accepts), else `rejected`.
    pub key: String,
    /// Human-readable reason (English, for logs and the API).
    pub message: String,
    /// First refusal since the parent last held everything (Unix ms).
    pub since_ms: i64,
    /// Latest refusal (Unix ms).
    pub last_ms: i64,
    /// Units whose entries the parent refuses, sorted (at most 32).
    pub units: Vec<String>,
}

/// Health of the link to one child.
#[derive(Debug, Clone, Default)]
pub struct ChildLink {
    /// Connected and past the handshake.
    pub connected: bool,
    /// Last request received from the child (Unix ms).
    pub last_seen_ms: Option<i64>,
}

/// Link health, shared with the API.
#[derive(Debug, Default)]
pub struct Links {
    /// The parent link, if any.
    pub parent: Option<ParentLink>,
    /// Children by unit.
    pub children: HashMap<String, ChildLink>,
    /// Wire byte counters.
    pub wire: Arc<WireCounters>,
    /// The node's libp2p peer id.
    pub peer_id: String,
}
