//! The node's HTTP server: the web UI (server-rendered pages, see [`auth`] for logins)
//! and the JSON API under `/api/v1` (see `CONTRACT.md`).
//!
//! The JSON API needs `Authorization: Bearer <api.token>`; the pages need a session
//! cookie obtained at `/login` with an account of the node's `accounts.toml`.
//! The engine runs on its own thread ([`eduioc_engine::EngineHandle`]): handlers send it
//! what writes as jobs and await them. Reads never queue behind those jobs: `status`,
//! `stats` and the pages read the engine's published [`eduioc_engine::Views`], look-ups
//! read the store beside it. Imports parse the file on a blocking thread before the
//! engine is involved ([`eduioc_engine::EngineHandle::import`]). API errors are JSON `{"error": "..."}`; a rejected import is `422`
//! with the row-level `{"errors": [...]}` body. Page errors are HTML pages naming what
//! was wrong.
//!
//! Every state-changing page request must come from the node's own pages, and every
//! response carries the security headers ([`security`]); [`serve`] runs the server with
//! bounded connections and a time limit on request heads.

mod api;
pub mod auth;
mod metrics;
mod openapi;
pub mod security;
pub mod serve;
mod ui;

use std::sync::Arc;

use axum::middleware;
use axum::Router;
use eduioc_engine::links::Links;
use eduioc_engine::EngineHandle;
use eduioc_engine::StorageHealth;

pub use api::router as api_router;
pub use auth::{AccountBook, Accounts, Role, Sessions, Throttle};
pub use serve::{serve, Limits};

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The node's engine (on its own thread).
    pub engine: EngineHandle,
    /// What the engine publishes after each commit (read without waiting for it).
    pub views: eduioc_engine::Views,
    /// Record look-ups (read from the store beside the engine).
    pub lookups: eduioc_engine::Lookups,
    /// Link health, written by the network loop.
    pub links: Arc<std::sync::Mutex<Links>>,
    /// Bearer token of the JSON API.
    pub token: Arc<str>,
    /// Web UI accounts (from `accounts.toml`, re-read when it changes).
    pub accounts: Arc<AccountBook>,
    /// Logged-in web UI sessions.
    pub sessions: Sessions,
    /// Failed logins per user name and client address (refuses guesses beyond the limit).
    pub logins: Throttle,
    /// Whether the store writes (read by `status` without waiting for the engine).
    pub storage: Arc<StorageHealth>,
    /// Reverse proxies whose `X-Forwarded-For` names the client ([`client_ip`]); none by
    /// default (`trusted_proxies` in `node.toml`).
    pub trusted_proxies: Arc<[std::net::IpAddr]>,
}

impl AppState {
    /// The state of a node's server: sessions and login counts start empty, the session
    /// cookie is named after the engine's unit.
    pub fn new(
        engine: EngineHandle,
        links: Arc<std::sync::Mutex<Links>>,
        token: &str,
        accounts: AccountBook,
    ) -> AppState {
        let (unit, storage, views, lookups) = (
            engine.unit().to_string(),
            engine.storage_health(),
            engine.views(),
            engine.lookups(),
        );
        AppState {
            engine,
            views,
            lookups,
            links,
            token: token.into(),
            accounts: Arc::new(accounts),
            sessions: Sessions::new(&unit),
            logins: Throttle::new(),
            storage,
            trusted_proxies: Arc::new([]),
        }
    }

    /// The same state, taking the client's address from `X-Forwarded-For` when a request
    /// comes from one of `proxies` ([`client_ip`]).
    pub fn with_trusted_proxies(mut self, proxies: Vec<std::net::IpAddr>) -> AppState {
        self.trusted_proxies = proxies.into();
        self
    }
}

/// The client's address: the connection's peer — or, when the peer is a trusted reverse
/// proxy, the address that proxy says it forwarded for: read from the right of
/// `X-Forwarded-For` (each proxy appends the address it saw), past the trusted proxies, the
/// first entry; what lies left of it is whatever the client wrote and is never read. A
/// right-hand entry that is not an address (a proxy that writes something else) leaves
/// the peer's. A header from anyone else is ignored, so a client cannot choose the address
/// its failed logins count against. IPv4-mapped IPv6 addresses compare as IPv4.
pub(crate) fn client_ip(
    trusted: &[std::net::IpAddr],
    peer: Option<std::net::IpAddr>,
    headers: &axum::http::HeaderMap,
) -> Option<std::net::IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|t| t.to_canonical() == *ip);
    if !is_trusted(&peer) {
        return Some(peer);
    }
    // Every header line, from the last, each from its end (a line that is not text reads
    // as one entry that is not an address).
    let entries = headers
        .get_all("x-forwarded-for")
        .iter()
        .rev()
        .flat_map(|v| v.to_str().unwrap_or("").rsplit(','));
    for entry in entries {
        match entry.trim().parse::<std::net::IpAddr>() {
            Ok(ip) if is_trusted(&ip.to_canonical()) => continue,
            Ok(ip) => return Some(ip.to_canonical()),
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

/// The user name the audit trail records for the JSON API's bearer token.
pub const API_USER: &str = "api";

/// Records in the node's audit trail that `user` did `action` (a code) about `detail`:
/// a signed entry of the node's log, after the jobs already sent to the engine. Long
/// parts are cut to what an audit entry holds. A failure is logged; the action it records
/// stands.
pub(crate) async fn audit(state: &AppState, user: &str, action: &'static str, detail: String) {
    use eduioc_protocol::validate::{MAX_AUDIT_DETAIL_BYTES, MAX_AUDIT_USER_BYTES};
    let user = match clip(user, MAX_AUDIT_USER_BYTES) {
        "" => "?".to_string(),
        u => u.to_string(),
    };
    let detail = clip(&detail, MAX_AUDIT_DETAIL_BYTES).to_string();
    let r = state
        .engine
        .call(move |e| e.audit(&user, action, &detail))
        .await
        .and_then(|r| r);
    if let Err(e) = r {
        tracing::error!(action, error = %e, "the audit trail could not record an action");
    }
}

/// The audit trail's action code of a report step.
pub(crate) fn report_action(step: &str) -> &'static str {
    match step {
        "submit" => "report_submit",
        "return" => "report_return",
        "approve" => "report_approve",
        _ => "report_accept",
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub(crate) fn clip(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Runs a look-up on the blocking pool (it reads the store), beside the engine.
pub(crate) async fn look_up<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&eduioc_engine::Lookups) -> Result<T, eduioc_engine::Error> + Send + 'static,
) -> Result<Result<T, eduioc_engine::Error>, tokio::task::JoinError> {
    let lookups = state.lookups.clone();
    tokio::task::spawn_blocking(move || f(&lookups)).await
}

/// The complete router of a node: web UI (state-changing requests only from its own
/// pages) and JSON API, every response with the security headers.
pub fn router(state: AppState) -> Router {
    ui::router(state.clone())
        .layer(middleware::from_fn(security::same_origin))
        .merge(api::router(state))
        .layer(middleware::map_response(security::headers))
}
