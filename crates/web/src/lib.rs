//! The node's HTTP server: the web UI (server-rendered pages, see [`auth`] for logins)
//! and the JSON API under `/api/v1` (see `CONTRACT.md`).
//!
//! The JSON API needs `Authorization: Bearer <api.token>`; the pages need a session
//! cookie obtained at `/login` with an account of the node's `accounts.toml`.
//! Handlers take the engine lock only inside `spawn_blocking`, because engine operations
//! commit to disk. `status` takes no engine lock: it reads the engine's published
//! [`eduioc_engine::Views`]. Imports parse the file before taking the lock
//! ([`eduioc_engine::import_shared`]). API errors are JSON `{"error": "..."}`; a rejected import is `422`
//! with the row-level `{"errors": [...]}` body. Page errors are HTML pages naming what
//! was wrong.

mod api;
pub mod auth;
mod ui;

use std::sync::Arc;

use axum::Router;
use eduioc_net::{Client, SharedEngine};

pub use api::router as api_router;
pub use auth::{Accounts, Sessions, Throttle};

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The node's engine.
    pub engine: SharedEngine,
    /// What the engine publishes after each commit (read without its lock).
    pub views: eduioc_engine::Views,
    /// The network loop (to push local commits and read link health).
    pub net: Client,
    /// Bearer token of the JSON API.
    pub token: Arc<str>,
    /// Web UI accounts (from `accounts.toml`).
    pub accounts: Arc<Accounts>,
    /// Logged-in web UI sessions.
    pub sessions: Sessions,
    /// Failed logins per user name and client address (refuses guesses beyond the limit).
    pub logins: Throttle,
}

impl AppState {
    /// The state of a node's server: sessions and login counts start empty, the session
    /// cookie is named after the engine's unit.
    pub fn new(engine: SharedEngine, net: Client, token: &str, accounts: Accounts) -> AppState {
        let (unit, views) = engine
            .lock()
            .map(|e| (e.unit().to_string(), e.views()))
            .unwrap_or_default();
        AppState {
            engine,
            views,
            net,
            token: token.into(),
            accounts: Arc::new(accounts),
            sessions: Sessions::new(&unit),
            logins: Throttle::new(),
        }
    }
}

/// The complete router of a node: web UI and JSON API.
pub fn router(state: AppState) -> Router {
    ui::router(state.clone()).merge(api::router(state))
}
