//! Wiring of one running node: engine + network loop + HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use eduioc_engine::{Engine, EngineHandle};
use eduioc_net::{Client, Network};

use crate::config::NodeDir;

/// A node started in this process.
pub(crate) struct Running {
    /// Unit id.
    pub(crate) unit: String,
    /// The engine.
    pub(crate) engine: EngineHandle,
    /// The network client.
    pub(crate) net: Client,
    /// Where the HTTP server listens.
    pub(crate) http: SocketAddr,
    /// Bearer token.
    pub(crate) token: String,
    /// Initial password of the web UI's `admin` account, when its file is present.
    pub(crate) admin_password: Option<String>,
    http_stop: tokio::sync::oneshot::Sender<()>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The periodic care of store and memory (never ends by itself).
    care: tokio::task::JoinHandle<()>,
}

/// Opens the engine and starts the network and HTTP server of the node in `nd`. A
/// non-loopback HTTP address is refused unless `public_http` allows it.
pub(crate) async fn start(nd: &NodeDir) -> Result<Running> {
    start_with(nd, false).await
}

/// [`start`]; with `restore`, the node first marks its store as restoring its log from
/// its parent (`eduioc restore`): it signs nothing until it holds its log again.
pub(crate) async fn start_with(nd: &NodeDir, restore: bool) -> Result<Running> {
    let t = &nd.toml;
    if restore && t.parent.is_none() {
        return Err(anyhow!(
            "{} is the root: it has no parent to restore its log from",
            t.unit
        ));
    }
    let addr = t.http_addr()?;
    if !addr.ip().is_loopback() {
        tracing::warn!(
            unit = %t.unit, http = %addr,
            "serving plain HTTP on a non-loopback address: TLS belongs in a reverse proxy in front of the node"
        );
        eprintln!(
            "note: {} serves plain HTTP on {addr}; TLS belongs in a reverse proxy in front of it",
            t.unit
        );
    }
    let engine = Engine::open(eduioc_engine::Config {
        unit: t.unit.clone(),
        key: nd.key.clone(),
        root_key: nd.root_key,
        certs: nd.certs.clone(),
        data_dir: nd.dir.clone(),
        doc_cache: t.doc_cache,
        doc_cache_bytes: t.doc_cache_mib.saturating_mul(1 << 20),
        school_year: t.school_year.clone(),
    })
    .with_context(|| format!("opening the store of {}", t.unit))?;
    let mut engine = engine;
    if restore {
        engine
            .begin_restore()
            .with_context(|| format!("restoring {}", t.unit))?;
    }
    engine.set_alert_settings(t.alert_settings());
    engine
        .set_records_up_to(t.records_up_to.clone())
        .context("records_up_to in node.toml")?;
    let health = engine.storage_health();
    let engine = engine.spawn()?;
    let parent = match (&t.parent, &t.parent_p2p) {
        (Some(p), Some(a)) => Some((
            p.clone(),
            a.parse().with_context(|| format!("parent_p2p {a:?}"))?,
        )),
        (None, _) => None,
        (Some(p), None) => return Err(anyhow!("node.toml names parent {p} but no parent_p2p")),
    };
    let mut addresses = std::collections::HashMap::new();
    for (unit, a) in &t.addresses {
        let addr = a
            .parse()
            .with_context(|| format!("[addresses] {unit} = {a:?} in node.toml"))?;
        addresses.insert(unit.clone(), addr);
    }
    let (network, client) = Network::new(
        engine.clone(),
        eduioc_net::Config {
            listen: t.p2p.parse().with_context(|| format!("p2p {:?}", t.p2p))?,
            parent,
            addresses,
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            ..eduioc_net::Config::default()
        },
    )?;
    let net_task = tokio::spawn(network.run());
    let care_task = tokio::spawn(housekeeping(engine.clone(), health));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (http of {})", t.unit))?;
    let http = listener.local_addr()?;
    let app = eduioc_web::router(
        eduioc_web::AppState::new(
            engine.clone(),
            client.links(),
            &nd.token,
            eduioc_web::AccountBook::open(&nd.accounts)?,
        )
        .with_trusted_proxies(nd.toml.trusted_proxies.clone()),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // Bounded connections and a time limit on request heads (slowloris); the peer
    // address reaches the handlers (login throttling per client address).
    let http_task = tokio::spawn(eduioc_web::serve(
        listener,
        app,
        eduioc_web::Limits::default(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    tracing::info!(unit = %t.unit, http = %http, p2p = %t.p2p, "node started");
    Ok(Running {
        unit: t.unit.clone(),
        engine,
        net: client,
        http,
        token: nd.token.clone(),
        admin_password: nd.admin_password.clone(),
        http_stop: stop_tx,
        tasks: vec![net_task, http_task],
        care: care_task,
    })
}

/// How often the node looks after its store and its memory.
const CARE_EVERY: Duration = Duration::from_secs(5);
/// A loaded document unused this long is dropped (it reloads from the store on demand).
const DOC_IDLE_MS: i64 = 30_000;

/// The node's periodic care, until the runtime stops:
/// - a store that failed (a full disk) is reopened and probed with a small write, so
///   that it heals — and `status` says so — once space returns, without waiting for a
///   user or a peer;
/// - loaded Automerge documents idle for [`DOC_IDLE_MS`] are dropped, and after that or
///   after entries were committed the allocator gives freed memory back to the system
///   (`malloc_trim`): after a large catch-up an office returns to its idle size.
async fn housekeeping(engine: EngineHandle, health: Arc<eduioc_engine::StorageHealth>) {
    let mut tick = tokio::time::interval(CARE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut entries_before = None;
    loop {
        tick.tick().await;
        let probe = health.needs_reopen() || health.fault().is_some();
        let done = engine
            .call(move |e| {
                if probe {
                    if let Err(err) = e.probe_storage() {
                        tracing::warn!(error = %err, "the store still cannot write");
                    }
                }
                let now = chrono::Utc::now().timestamp_millis();
                let evicted = e.evict_idle_docs(now, DOC_IDLE_MS);
                let entries = e.entry_count();
                (evicted, entries)
            })
            .await;
        let Ok((evicted, entries)) = done else {
            continue;
        };
        let grew = entries_before.is_some_and(|b| b != entries);
        entries_before = Some(entries);
        if evicted > 0 || grew {
            let _ = tokio::task::spawn_blocking(trim_allocator).await;
        }
    }
}

/// Gives the memory glibc's allocator holds free back to the system.
fn trim_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Caps glibc's malloc arenas (by default up to eight per core, each keeping its own
/// freed memory): call once, before the runtime's threads start.
pub(crate) fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before other threads run.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

impl Running {
    /// Stops HTTP and the network loop. Every acknowledged entry is already committed.
    pub(crate) async fn stop(self) {
        self.care.abort();
        let _ = self.http_stop.send(());
        self.net.shutdown().await;
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        // The store is closed when this returns: it can be opened again at once.
        self.engine.close().await;
        tracing::info!(unit = %self.unit, "node stopped");
    }
}

/// Resolves when SIGINT or SIGTERM arrives.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
