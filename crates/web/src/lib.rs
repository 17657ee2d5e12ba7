//! The node's HTTP server: the JSON API under `/api/v1` (see `CONTRACT.md`).
//!
//! Every request needs `Authorization: Bearer <api.token>`. Handlers take the engine
//! lock only inside `spawn_blocking`, because engine operations commit to disk.
//! Errors are JSON `{"error": "..."}`; a rejected import is `422` with the row-level
//! `{"errors": [...]}` body.

mod api;

use std::sync::Arc;

use axum::Router;
use eduioc_net::{Client, SharedEngine};

pub use api::router as api_router;

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The node's engine.
    pub engine: SharedEngine,
    /// The network loop (to push local commits and read link health).
    pub net: Client,
    /// Bearer token of the JSON API.
    pub token: Arc<str>,
}

/// The complete router of a node.
pub fn router(state: AppState) -> Router {
    api::router(state)
}
