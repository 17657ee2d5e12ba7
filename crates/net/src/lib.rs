//! The node's network: libp2p (TCP + Noise + Yamux) carrying the sync protocol of
//! `eduioc-protocol` between a node, its parent and its children.
//!
//! Shape (after rust-libp2p's file-sharing example): one [`Network`] event loop owns the
//! `Swarm` and the per-link [`Session`]s; the rest of the node holds a cloneable
//! [`Client`] that sends it commands over a bounded channel, and reads link health from a
//! shared [`Links`] snapshot.
//!
//! - A child dials its parent and re-dials with capped exponential backoff.
//! - The child opens with `Hello` (its subtree's certificates); the parent checks that
//!   the peer's transport key is the key certified for the claimed unit and that the
//!   unit is its child, then answers `Welcome`. Both sides then exchange `Heights` and
//!   stream missing entries in pages; a page is acknowledged after it is committed.
//! - Whatever the engine commits (a local import or notification, a page from another
//!   link) is forwarded to every link at once: the loop subscribes to the engine's commit
//!   events ([`eduioc_engine::Event::Appended`]); nobody pushes by hand.
//! - Sync never waits for a new commit: a failed or timed-out request (`Hello`, `Heights`,
//!   page) is retried with capped exponential backoff (a failed or refused `Hello` by
//!   hanging up and dialling again), and a child re-sends its `Heights` every
//!   [`Config::resync_interval`], which the parent answers with its own, so an idle link
//!   re-compares what both sides hold. Authors whose entries the remote refused are
//!   retried on a slower, doubling schedule.
//! - Liveness: pings every [`Config::ping_interval`]; a ping unanswered within
//!   [`Config::ping_timeout`] marks the parent link not working in [`Links`], a second one
//!   in a row closes the connection (and the child dials again). Requests time out after
//!   [`Config::request_timeout`], long enough for a full page on a slow link.
//! - What the parent refuses of this node's entries is recorded in [`ParentLink::refused`]
//!   for status and the UI, never only logged.
//! - Frames that do not decode, oversized frames and requests from unknown peers are
//!   refused, logged and counted in the engine's rejection counters.

mod codec;
mod parent;
pub mod raw;
mod requests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eduioc_engine::{EngineHandle, Event, Ingested};
use eduioc_protocol::entry::MAX_ENTRY_BYTES;
use eduioc_protocol::link::{self, Backoff};
use eduioc_protocol::sync::{LogSource, Role, Session};
use eduioc_protocol::wire::{self, Request, Response};
use eduioc_protocol::NodeId;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{dial_opts::DialOpts, NetworkBehaviour, SwarmEvent};
use libp2p::{identity, noise, ping, tcp, yamux, PeerId, Swarm};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

pub use codec::{Frame, FrameCodec, PROTOCOL};
pub use libp2p::Multiaddr;

pub use eduioc_engine::links::{ChildLink, Links, ParentLink, Refusal, WireCounters};

/// Errors of the network layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address could not be used.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// Building the transport failed.
    #[error("transport: {0}")]
    Transport(String),
    /// The event loop is gone.
    #[error("the network loop has stopped")]
    Stopped,
}

/// Network configuration of one node.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: Multiaddr,
    /// The parent's unit and address; `None` at the root.
    pub parent: Option<(String, Multiaddr)>,
    /// Where other offices listen, by unit: when a new certificate version of this
    /// node's unit takes effect under another parent (a re-parenting), the node dials
    /// that parent at the address given here.
    pub addresses: HashMap<String, Multiaddr>,
    /// First re-dial delay, and first delay before a failed request is sent again.
    pub backoff_min: Duration,
    /// Longest re-dial delay, and longest delay before a failed request is sent again.
    pub backoff_max: Duration,
    /// How often a child re-sends its `Heights` to its parent on a live link (the parent
    /// answers with its own), so that what a lost or unacknowledged page left missing is
    /// sent without waiting for a new commit. Default 30 s: one small message each way.
    pub resync_interval: Duration,
    /// How long a request may wait for its response once its stream is open. Default
    /// 120 s: a page is at most ~3 MiB (1 MiB of entries and one saved document), about
    /// 100 s at 256 kbit/s, and the receiver commits it before answering. Opening the
    /// stream (one round trip) has libp2p's own 10 s limit: a request to a frozen peer
    /// fails after 10 s, and is retried.
    pub request_timeout: Duration,
    /// Ping period. Default 5 s.
    pub ping_interval: Duration,
    /// A ping unanswered this long fails. Default 20 s: one failure marks the parent link
    /// not working (20-25 s after the parent froze), two in a row (about 45 s of silence)
    /// close the connection. A pong
    /// queued behind a page on a slow link is late by at most the stream window's
    /// transfer time, well under this.
    pub ping_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: Multiaddr::empty(),
            parent: None,
            addresses: HashMap::new(),
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            resync_interval: Duration::from_secs(30),
            request_timeout: Duration::from_secs(120),
            ping_interval: Duration::from_secs(5),
            ping_timeout: Duration::from_secs(20),
        }
    }
}

/// Ping failures in a row after which a connection is closed.
const PING_FAILURES_TO_CLOSE: u32 = 2;
/// Refused authors are retried after this many resync intervals at first, doubling each
/// time up to [`STUCK_RETRY_MAX`] intervals.
const STUCK_RETRY_MIN: u32 = 2;
/// See [`STUCK_RETRY_MIN`] (64 × 30 s: about half an hour).
const STUCK_RETRY_MAX: u32 = 64;
/// Most units listed in [`Refusal::units`].
const MAX_REFUSED_UNITS: usize = 32;

enum Command {
    SetUplink(bool),
    Shutdown(oneshot::Sender<()>),
}

/// Handle to the network loop.
#[derive(Clone, Debug)]
pub struct Client {
    tx: mpsc::Sender<Command>,
    links: Arc<Mutex<Links>>,
    peer_id: PeerId,
}

impl Client {
    /// Takes the link to the parent down (`false`: disconnect, stop re-dialling) or
    /// brings it back (`true`). Simulates a school's intermittent connectivity in the demo
    /// and lets an operator pause replication.
    pub async fn set_uplink(&self, up: bool) {
        let _ = self.tx.send(Command::SetUplink(up)).await;
    }

    /// Link health.
    pub fn links(&self) -> Arc<Mutex<Links>> {
        self.links.clone()
    }

    /// This node's libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Stops the loop and waits for it to finish.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    sync: request_response::Behaviour<FrameCodec>,
    ping: ping::Behaviour,
}

/// The libp2p peer id of a node key.
pub fn peer_id_of(id: &NodeId) -> Option<PeerId> {
    let pk = identity::ed25519::PublicKey::try_from_bytes(id.as_bytes()).ok()?;
    Some(identity::PublicKey::from(pk).to_peer_id())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn build_swarm(
    secret: [u8; 32],
    counters: Arc<WireCounters>,
    cfg: &Config,
) -> Result<Swarm<Behaviour>, Error> {
    let mut secret = secret;
    let kp = identity::Keypair::ed25519_from_bytes(&mut secret)
        .map_err(|e| Error::Transport(e.to_string()))?;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(kp)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| Error::Transport(e.to_string()))?
        .with_behaviour(|_| Behaviour {
            sync: request_response::Behaviour::with_codec(
                FrameCodec::new(counters),
                [(PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(cfg.request_timeout)
                    .with_max_concurrent_streams(64),
            ),
            ping: ping::Behaviour::new(
                ping::Config::new()
                    .with_interval(cfg.ping_interval)
                    .with_timeout(cfg.ping_timeout),
            ),
        })
        .map_err(|e| Error::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    Ok(swarm)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Hello,
    Heights,
    Page,
}

struct Link {
    peer: PeerId,
    session: Session,
    /// Our `Heights` is in flight.
    heights_in_flight: bool,
    /// Our `Heights` failed and is sent again once `hold` has passed.
    heights_due: bool,
    /// After a failed request nothing is sent on this link before this instant.
    hold: Option<Instant>,
    /// Delay before the next retry after a failure: doubles, capped, reset by a success.
    retry: Backoff,
    /// When the child re-sends its `Heights` (the link to the parent only).
    resync_at: Instant,
    /// When the authors the remote refused are retried.
    stuck_at: Option<Instant>,
    /// Resync intervals until the next retry of refused authors (doubles, capped).
    stuck_factor: u32,
}

/// The backoff of a link or of the dial to the parent, from `Config::backoff_min` up to
/// `backoff_max`.
fn backoff(cfg: &Config) -> Backoff {
    Backoff::new(cfg.backoff_min, cfg.backoff_max)
}

impl Link {
    fn new(peer: PeerId, session: Session, cfg: &Config) -> Link {
        Link {
            peer,
            session,
            heights_in_flight: false,
            heights_due: false,
            hold: None,
            retry: backoff(cfg),
            resync_at: Instant::now() + cfg.resync_interval,
            stuck_at: None,
            stuck_factor: STUCK_RETRY_MIN,
        }
    }

    /// A request failed: hold the link, double the delay.
    fn failed(&mut self) {
        self.hold = Some(Instant::now() + self.retry.after_failure());
    }

    /// A request succeeded.
    fn succeeded(&mut self) {
        self.retry.reset();
    }

    fn held(&self, now: Instant) -> bool {
        self.hold.is_some_and(|t| now < t)
    }
}

struct Parent {
    unit: String,
    /// The parent's peer id: from its certificate, or, when this node holds none yet (a
    /// new parent after a re-parenting), from the connection dialled at its address,
    /// checked against the certificate its `Welcome` brings.
    peer: Option<PeerId>,
    /// The dial to the parent's address while its peer id is not known.
    dial: Option<libp2p::swarm::ConnectionId>,
    addr: Multiaddr,
    link: Option<Link>,
    connected: bool,
    next_dial: Instant,
    backoff: Backoff,
    dialing: bool,
    /// False while the uplink is deliberately down.
    enabled: bool,
    /// Authors the parent refused entries of, until it holds them (see [`Refusal`]).
    refused: std::collections::BTreeSet<NodeId>,
    /// A new parent in the hierarchy this node has no address for (warned once).
    unreachable: Option<String>,
}

/// The event loop. Create with [`Network::new`], run with [`Network::run`].
pub struct Network {
    swarm: Swarm<Behaviour>,
    engine: EngineHandle,
    cfg: Config,
    rx: mpsc::Receiver<Command>,
    /// The engine's commit events: what was appended is forwarded from here, whoever
    /// committed it (a link's page, an import, a notification). `None` once closed.
    events: Option<broadcast::Receiver<Event>>,
    links: Arc<Mutex<Links>>,
    parent: Option<Parent>,
    children: HashMap<PeerId, Link>,
    pending: HashMap<OutboundRequestId, (PeerId, Pending)>,
    /// Unanswered pings in a row, per peer.
    ping_failures: HashMap<PeerId, u32>,
    /// Jobs sent to the engine (an ingest, an admission) whose outcome the loop awaits
    /// beside its other events: it never waits for the engine.
    working: FuturesUnordered<BoxFuture<'static, Done>>,
}

/// What the engine did for a link, back in the loop.
struct Done {
    peer: PeerId,
    /// Where the answer to the peer's request goes (none: the job followed a response).
    channel: Option<request_response::ResponseChannel<Vec<u8>>>,
    what: Finished,
}

enum Finished {
    /// A page of the peer's was ingested (or not).
    Page(Result<Ingested, eduioc_engine::Error>),
    /// A child's `Hello`: its certificates stored, its admission decided.
    Hello {
        unit: String,
        admitted: Result<Result<(Session, Response), link::Refusal>, eduioc_engine::Error>,
    },
    /// The parent's `Welcome`: its certificates stored, the session to open.
    Welcome(Result<Session, eduioc_engine::Error>),
}

/// How the loop answers a request: at once, or when the engine is done.
enum Answer {
    Now(Response),
    Later(BoxFuture<'static, Finished>),
}

/// The next commit event; pending forever once the channel is closed.
async fn next_event(
    events: &mut Option<broadcast::Receiver<Event>>,
) -> Result<Event, broadcast::error::RecvError> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Network {
    /// Builds the swarm and starts listening. Returns the loop and its client.
    pub fn new(engine: EngineHandle, cfg: Config) -> Result<(Network, Client), Error> {
        let secret = engine
            .call_blocking(|e| e.key().secret())
            .map_err(|_| Error::Stopped)?;
        let parent_key = cfg
            .parent
            .as_ref()
            .and_then(|(u, _)| engine.directory().key_of(u));
        let events = engine.views().subscribe();
        let counters = Arc::new(WireCounters::default());
        let mut swarm = build_swarm(secret, counters.clone(), &cfg)?;
        swarm
            .listen_on(cfg.listen.clone())
            .map_err(|e| Error::Listen {
                addr: cfg.listen.to_string(),
                reason: e.to_string(),
            })?;
        let (tx, rx) = mpsc::channel(1024);
        let links = Arc::new(Mutex::new(Links {
            parent: cfg.parent.as_ref().map(|(u, _)| ParentLink {
                unit: u.clone(),
                ..ParentLink::default()
            }),
            children: HashMap::new(),
            wire: counters,
            peer_id: swarm.local_peer_id().to_string(),
        }));
        let parent = cfg.parent.as_ref().map(|(unit, addr)| Parent {
            unit: unit.clone(),
            peer: parent_key.as_ref().and_then(peer_id_of),
            dial: None,
            addr: addr.clone(),
            link: None,
            connected: false,
            next_dial: Instant::now(),
            backoff: backoff(&cfg),
            dialing: false,
            enabled: true,
            refused: std::collections::BTreeSet::new(),
            unreachable: None,
        });
        let client = Client {
            tx,
            links: links.clone(),
            peer_id: *swarm.local_peer_id(),
        };
        Ok((
            Network {
                swarm,
                engine,
                cfg,
                rx,
                events: Some(events),
                links,
                parent,
                children: HashMap::new(),
                pending: HashMap::new(),
                ping_failures: HashMap::new(),
                working: FuturesUnordered::new(),
            },
            client,
        ))
    }

    /// Runs until [`Client::shutdown`] or until every client is dropped.
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                cmd = self.rx.recv() => match cmd {
                    Some(Command::SetUplink(up)) => self.set_uplink(up),
                    Some(Command::Shutdown(done)) => {
                        let _ = done.send(());
                        break;
                    }
                    None => break,
                },
                event = next_event(&mut self.events) => match event {
                    Ok(Event::Appended(authors)) => self.on_appended(&authors),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "commit events missed: comparing every author");
                        self.on_appended_all();
                    }
                    Err(broadcast::error::RecvError::Closed) => self.events = None,
                },
                Some(done) = self.working.next(), if !self.working.is_empty() => self.on_done(done),
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = tick.tick() => self.on_tick(),
            }
        }
        tracing::info!("network loop stopped");
    }

    fn set_uplink(&mut self, up: bool) {
        let Some(p) = self.parent.as_mut() else {
            return;
        };
        p.enabled = up;
        p.next_dial = Instant::now();
        p.backoff.reset();
        if !up {
            if let Some(peer) = p.peer {
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
        tracing::info!(up, "uplink switched");
    }

    fn on_tick(&mut self) {
        self.follow_hierarchy();
        self.maybe_dial();
        let now = Instant::now();
        let mut heights = Vec::new();
        let resync = self.cfg.resync_interval;
        let mut retried = false;
        let dir = self.engine.directory();
        let parent_link = self.parent.as_mut().and_then(|p| p.link.as_mut());
        for (is_parent, l) in parent_link
            .map(|l| (true, l))
            .into_iter()
            .chain(self.children.values_mut().map(|l| (false, l)))
        {
            if l.hold.is_some_and(|t| now >= t) {
                l.hold = None;
                retried = true;
            }
            if l.held(now) || l.heights_in_flight {
                continue;
            }
            // The child re-compares heights with its parent on a live link: the parent
            // answers with its own, so both directions resume what is missing.
            if l.heights_due || (is_parent && now >= l.resync_at) {
                l.heights_due = false;
                l.heights_in_flight = true;
                l.resync_at = now + resync;
                heights.push(l.peer);
            }
            if l.session.stuck().next().is_none() {
                l.stuck_at = None;
            } else {
                let at = *l.stuck_at.get_or_insert(now + resync * l.stuck_factor);
                if now >= at {
                    l.stuck_at = None;
                    l.stuck_factor = (l.stuck_factor * 2).min(STUCK_RETRY_MAX);
                    retried = true;
                    let n = l.session.retry_stuck(&dir);
                    tracing::info!(remote = %l.session.remote_unit(), authors = n, "retrying refused authors");
                }
            }
        }
        for peer in heights {
            self.send_heights(peer);
        }
        if retried {
            self.pump_all();
        }
    }

    fn send_heights(&mut self, peer: PeerId) {
        let (dir, Some(log)) = (self.engine.directory(), self.engine.log()) else {
            return;
        };
        let want = {
            let Some(l) = self.link_mut(&peer) else {
                return;
            };
            l.heights_in_flight = true;
            l.session.want(&dir, &log)
        };
        self.send(peer, Pending::Heights, &want);
    }

    fn maybe_dial(&mut self) {
        let Some(p) = self.parent.as_mut() else {
            return;
        };
        if !p.enabled || p.connected || p.dialing || Instant::now() < p.next_dial {
            return;
        }
        let opts = match p.peer {
            Some(peer) if self.swarm.is_connected(&peer) => {
                p.connected = true;
                return;
            }
            Some(peer) => DialOpts::peer_id(peer)
                .addresses(vec![p.addr.clone()])
                .build(),
            // No certificate of the parent here yet: dial its address, learn who answers
            // and check it against the certificate its `Welcome` brings.
            None => {
                let opts = DialOpts::unknown_peer_id().address(p.addr.clone()).build();
                p.dial = Some(opts.connection_id());
                opts
            }
        };
        match self.swarm.dial(opts) {
            Ok(()) => p.dialing = true,
            Err(e) => {
                tracing::debug!(error = %e, "dial failed");
                Self::backoff(p);
            }
        }
    }

    fn backoff(p: &mut Parent) {
        p.dialing = false;
        p.next_dial = Instant::now() + p.backoff.after_failure();
    }

    fn is_parent(&self, peer: &PeerId) -> bool {
        self.parent.as_ref().and_then(|p| p.peer) == Some(*peer)
    }

    fn send(&mut self, peer: PeerId, kind: Pending, req: &Request) {
        let id = self
            .swarm
            .behaviour_mut()
            .sync
            .send_request(&peer, Frame::Data(wire::encode(req)));
        self.pending.insert(id, (peer, kind));
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        if let SwarmEvent::ConnectionEstablished {
            peer_id,
            connection_id,
            ..
        } = &event
        {
            if let Some(p) = self.parent.as_mut() {
                if p.peer.is_none() && p.dial == Some(*connection_id) {
                    tracing::info!(parent = %p.unit, peer = %peer_id, "the parent's address answered; its certificate is checked at its Welcome");
                    p.peer = Some(*peer_id);
                }
            }
        }
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } if self.is_parent(&peer_id) && num_established.get() == 1 => {
                if let Some(p) = self.parent.as_mut() {
                    p.dialing = false;
                    if !p.enabled {
                        let _ = self.swarm.disconnect_peer_id(peer_id);
                        return;
                    }
                    // The dial backoff is reset by the parent's `Welcome`, not here: a
                    // parent that refuses our `Hello` is dialled at a slowing pace.
                    p.connected = true;
                }
                let hello = link::hello(&self.engine.directory(), self.engine.unit());
                tracing::info!(peer = %peer_id, "connected to parent");
                self.send(peer_id, Pending::Hello, &hello);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                if num_established > 0 {
                    return;
                }
                self.ping_failures.remove(&peer_id);
                if self.is_parent(&peer_id) {
                    tracing::info!(cause = ?cause, "disconnected from parent");
                    if let Some(p) = self.parent.as_mut() {
                        p.connected = false;
                        p.link = None;
                        Self::backoff(p);
                    }
                    self.parent_not_working();
                } else if let Some(link) = self.children.remove(&peer_id) {
                    tracing::info!(child = %link.session.remote_unit(), "child disconnected");
                    if let Ok(mut l) = self.links.lock() {
                        if let Some(c) = l.children.get_mut(link.session.remote_unit()) {
                            c.connected = false;
                        }
                    }
                }
                self.pending.retain(|_, (p, _)| *p != peer_id);
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id,
                connection_id,
                error,
            } if peer_id.is_some_and(|p| self.is_parent(&p))
                || self
                    .parent
                    .as_ref()
                    .is_some_and(|p| p.dial == Some(connection_id)) =>
            {
                tracing::debug!(error = %error, "cannot reach parent");
                if let Some(p) = self.parent.as_mut() {
                    if !p.connected {
                        Self::backoff(p);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(ev)) => self.on_sync_event(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ev)) => self.on_ping(ev),
            _ => {}
        }
    }

    fn on_ping(&mut self, ev: ping::Event) {
        let peer = ev.peer;
        match ev.result {
            Ok(_) => {
                self.ping_failures.remove(&peer);
                // A parent that answers pings again after a silence: re-compare heights
                // now rather than at the next resync; its answer marks the link working.
                let working = self
                    .links
                    .lock()
                    .ok()
                    .and_then(|l| l.parent.as_ref().map(|p| p.connected))
                    .unwrap_or(true);
                if self.is_parent(&peer) && !working {
                    if let Some(l) = self.parent.as_mut().and_then(|p| p.link.as_mut()) {
                        l.resync_at = Instant::now();
                    }
                }
            }
            Err(error) => {
                let n = self.ping_failures.entry(peer).or_default();
                *n += 1;
                let n = *n;
                tracing::warn!(peer = %peer, error = %error, failures = n, "ping failed");
                if self.is_parent(&peer) {
                    self.parent_not_working();
                }
                if n >= PING_FAILURES_TO_CLOSE {
                    tracing::warn!(peer = %peer, "peer silent: closing the connection");
                    self.ping_failures.remove(&peer);
                    self.swarm.close_connection(ev.connection);
                }
            }
        }
    }

    fn on_sync_event(&mut self, ev: request_response::Event<Frame, Vec<u8>>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let answer = match request {
                        Frame::Data(bytes) => self.on_request(peer, &bytes),
                        Frame::Oversized(len) => Answer::Now(self.refuse(
                            peer,
                            "oversized",
                            format!(
                                "frame of {len} bytes exceeds the limit of {}",
                                wire::MAX_FRAME_BYTES
                            ),
                        )),
                    };
                    match answer {
                        Answer::Now(resp) => self.answer(channel, &resp),
                        Answer::Later(job) => self.working.push(
                            job.map(move |what| Done {
                                peer,
                                channel: Some(channel),
                                what,
                            })
                            .boxed(),
                        ),
                    }
                    self.pump_all();
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some((peer, kind)) = self.pending.remove(&request_id) {
                        self.on_response(peer, kind, &response);
                        self.pump_all();
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                let Some((peer, kind)) = self.pending.remove(&request_id) else {
                    return;
                };
                tracing::warn!(peer = %peer, kind = ?kind, error = %error, "request failed");
                self.on_request_failed(peer, kind);
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(peer = %peer, error = %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// A request of ours got no usable answer: retry it after a backoff. A failed
    /// `Hello` is retried by hanging up and dialling again.
    fn on_request_failed(&mut self, peer: PeerId, kind: Pending) {
        if self.is_parent(&peer) {
            self.parent_not_working();
        }
        if kind == Pending::Hello {
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        if let Some(l) = self.link_mut(&peer) {
            match kind {
                Pending::Heights => {
                    l.heights_in_flight = false;
                    l.heights_due = true;
                }
                Pending::Page => l.session.on_failed(),
                Pending::Hello => {}
            }
            l.failed();
        }
    }

    fn count(&self, key: &str) {
        let key = key.to_string();
        self.engine.cast(move |e| e.count_rejection(&key));
    }

    fn answer(&mut self, channel: request_response::ResponseChannel<Vec<u8>>, resp: &Response) {
        if self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, wire::encode(resp))
            .is_err()
        {
            tracing::debug!("the peer left before its answer was ready");
        }
    }

    fn link_mut(&mut self, peer: &PeerId) -> Option<&mut Link> {
        if self.is_parent(peer) {
            self.parent.as_mut().and_then(|p| p.link.as_mut())
        } else {
            self.children.get_mut(peer)
        }
    }

    fn refuse(&self, peer: PeerId, key: &str, reason: String) -> Response {
        tracing::warn!(peer = %peer, key, reason = %reason, "request refused");
        self.count(key);
        Response::Refused {
            key: key.to_string(),
            reason,
        }
    }

    fn on_response(&mut self, peer: PeerId, kind: Pending, frame: &[u8]) {
        let resp: Response = match wire::decode(frame) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(peer = %peer, error = %e, "undecodable response");
                self.count(e.key());
                self.on_request_failed(peer, kind);
                return;
            }
        };
        let is_parent = self.is_parent(&peer);
        match (kind, resp) {
            (Pending::Hello, Response::Welcome { unit, certs }) => {
                let engine = self.engine.clone();
                let job = async move {
                    let session = engine
                        .call(move |e| {
                            add_certs(e, certs, "certificate from parent refused");
                            let s = Session::new(e.unit(), &unit, Role::Parent);
                            // At the level records stop at, only this node's own log
                            // (with the subtree's signed summaries) goes up.
                            if e.is_records_boundary() {
                                s.own_log_only()
                            } else {
                                s
                            }
                        })
                        .await;
                    Done {
                        peer,
                        channel: None,
                        what: Finished::Welcome(session),
                    }
                };
                self.working.push(job.boxed());
            }
            (Pending::Hello, Response::Refused { key, reason }) => {
                tracing::warn!(peer = %peer, key = %key, reason = %reason, "the parent refused our hello");
                self.parent_refused(0, &key, reason);
                self.on_request_failed(peer, kind);
            }
            (Pending::Page, Response::Acked { heights, rejected }) => {
                if let Some(l) = self.link_mut(&peer) {
                    l.session.on_acked(&heights);
                    l.succeeded();
                    if rejected == 0 && l.session.stuck().next().is_none() {
                        l.stuck_factor = STUCK_RETRY_MIN;
                    }
                }
                if rejected > 0 {
                    tracing::warn!(peer = %peer, rejected, "peer rejected entries");
                }
                if is_parent {
                    self.mark_parent_sync();
                    if rejected > 0 {
                        let (key, message) = self.diagnose_refusal(rejected);
                        self.parent_refused(u64::from(rejected), &key, message);
                    } else {
                        self.maybe_clear_refusal();
                    }
                }
            }
            (Pending::Heights, Response::Ok) => {
                if let Some(l) = self.link_mut(&peer) {
                    l.heights_in_flight = false;
                    l.succeeded();
                }
                if is_parent {
                    self.mark_parent_sync();
                }
            }
            (_, Response::Refused { key, reason }) => {
                tracing::warn!(peer = %peer, key = %key, reason = %reason, "peer refused our request");
                if is_parent && kind == Pending::Page && key != "uncertified" {
                    self.parent_refused(0, &key, reason);
                }
                self.on_request_failed(peer, kind);
                if key == "uncertified" {
                    // The remote has no session for us (it lost it): start over.
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
            }
            (k, r) => {
                tracing::warn!(peer = %peer, kind = ?k, response = ?r, "unexpected response");
                self.on_request_failed(peer, kind);
            }
        }
    }

    /// Every author held may have new entries (commit events were missed).
    fn on_appended_all(&mut self) {
        let Some(log) = self.engine.log() else { return };
        let authors: Vec<NodeId> = log.heights().into_iter().map(|(a, _)| a).collect();
        self.on_appended(&authors);
    }

    fn on_appended(&mut self, authors: &[NodeId]) {
        let dir = self.engine.directory();
        for a in authors {
            if let Some(l) = self.parent.as_mut().and_then(|p| p.link.as_mut()) {
                l.session.on_appended(&dir, a);
            }
            for l in self.children.values_mut() {
                l.session.on_appended(&dir, a);
            }
        }
        self.pump_all();
    }

    fn pump_all(&mut self) {
        let (dir, Some(log)) = (self.engine.directory(), self.engine.log()) else {
            return;
        };
        let now = Instant::now();
        let mut out = Vec::new();
        let parent_link = self.parent.as_mut().and_then(|p| p.link.as_mut());
        for l in parent_link.into_iter().chain(self.children.values_mut()) {
            if l.held(now) {
                continue;
            }
            if let Some(req) = l.session.next_page(&dir, &log) {
                out.push((l.peer, req));
            }
        }
        drop(log);
        for (peer, req) in out {
            self.send(peer, Pending::Page, &req);
        }
    }
}

/// Stores certificates a peer sent, logging those refused.
fn add_certs(e: &mut eduioc_engine::Engine, certs: Vec<eduioc_protocol::Certificate>, what: &str) {
    match e.add_certs(certs) {
        Ok(errors) => {
            for err in errors {
                tracing::warn!(error = %err, "{what}");
            }
        }
        Err(err) => tracing::error!(error = %err, "storing certificates failed"),
    }
}
