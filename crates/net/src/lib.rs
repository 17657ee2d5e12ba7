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
//! - A local commit ([`Client::appended`]) is pushed to every link at once.
//! - Frames that do not decode, oversized frames and requests from unknown peers are
//!   refused, logged and counted in the engine's rejection counters.

mod codec;
pub mod raw;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eduioc_engine::Engine;
use eduioc_protocol::sync::{Role, Session};
use eduioc_protocol::wire::{self, Request, Response};
use eduioc_protocol::NodeId;
use futures::StreamExt;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{dial_opts::DialOpts, NetworkBehaviour, SwarmEvent};
use libp2p::{identity, noise, ping, tcp, yamux, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub use codec::{Frame, FrameCodec, WireCounters, PROTOCOL};
pub use libp2p::Multiaddr;

/// The engine shared between the network loop and the API.
pub type SharedEngine = Arc<Mutex<Engine>>;

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
    /// First re-dial delay.
    pub backoff_min: Duration,
    /// Longest re-dial delay.
    pub backoff_max: Duration,
}

/// Health of the link to the parent.
#[derive(Debug, Clone, Default)]
pub struct ParentLink {
    /// Parent unit.
    pub unit: String,
    /// Connected and past the handshake.
    pub connected: bool,
    /// Last completed exchange with the parent (Unix ms).
    pub last_sync_ms: Option<i64>,
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
}

enum Command {
    Appended(Vec<NodeId>),
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
    /// Tells the loop that entries by `authors` were committed locally: push them.
    pub async fn appended(&self, authors: Vec<NodeId>) {
        if !authors.is_empty() {
            let _ = self.tx.send(Command::Appended(authors)).await;
        }
    }

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
                    .with_request_timeout(Duration::from_secs(60))
                    .with_max_concurrent_streams(64),
            ),
            ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(5))),
        })
        .map_err(|e| Error::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    Ok(swarm)
}

#[derive(Debug, Clone, Copy)]
enum Pending {
    Hello,
    Heights,
    Page,
}

struct Link {
    peer: PeerId,
    session: Session,
    /// Whether we told the remote what we hold (our `Heights`). A parent sends it only
    /// after the child's own `Heights`, which the child sends after our `Welcome`: the
    /// streams of one connection are not ordered, so sending it with the `Welcome` could
    /// reach the child before it has a session.
    asked: bool,
}

struct Parent {
    unit: String,
    peer: Option<PeerId>,
    addr: Multiaddr,
    link: Option<Link>,
    connected: bool,
    next_dial: Instant,
    backoff: Duration,
    dialing: bool,
    /// False while the uplink is deliberately down.
    enabled: bool,
}

/// The event loop. Create with [`Network::new`], run with [`Network::run`].
pub struct Network {
    swarm: Swarm<Behaviour>,
    engine: SharedEngine,
    cfg: Config,
    rx: mpsc::Receiver<Command>,
    links: Arc<Mutex<Links>>,
    parent: Option<Parent>,
    children: HashMap<PeerId, Link>,
    pending: HashMap<OutboundRequestId, (PeerId, Pending)>,
}

impl Network {
    /// Builds the swarm and starts listening. Returns the loop and its client.
    pub fn new(engine: SharedEngine, cfg: Config) -> Result<(Network, Client), Error> {
        let (secret, parent_key) = {
            let e = engine.lock().map_err(|_| Error::Stopped)?;
            let pk = cfg
                .parent
                .as_ref()
                .and_then(|(u, _)| e.directory().key_of(u));
            (e.key().secret(), pk)
        };
        let counters = Arc::new(WireCounters::default());
        let mut swarm = build_swarm(secret, counters.clone())?;
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
        }));
        let parent = cfg.parent.as_ref().map(|(unit, addr)| Parent {
            unit: unit.clone(),
            peer: parent_key.as_ref().and_then(peer_id_of),
            addr: addr.clone(),
            link: None,
            connected: false,
            next_dial: Instant::now(),
            backoff: cfg.backoff_min,
            dialing: false,
            enabled: true,
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
                links,
                parent,
                children: HashMap::new(),
                pending: HashMap::new(),
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
                    Some(Command::Appended(authors)) => self.on_appended(&authors),
                    Some(Command::SetUplink(up)) => self.set_uplink(up),
                    Some(Command::Shutdown(done)) => {
                        let _ = done.send(());
                        break;
                    }
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = tick.tick() => self.maybe_dial(),
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
        p.backoff = self.cfg.backoff_min;
        if !up {
            if let Some(peer) = p.peer {
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
        tracing::info!(up, "uplink switched");
    }

    fn maybe_dial(&mut self) {
        let Some(p) = self.parent.as_mut() else {
            return;
        };
        if !p.enabled || p.connected || p.dialing || Instant::now() < p.next_dial {
            return;
        }
        let Some(peer) = p.peer else {
            tracing::warn!(parent = %p.unit, "no certificate for the parent: cannot dial");
            p.next_dial = Instant::now() + self.cfg.backoff_max;
            return;
        };
        if self.swarm.is_connected(&peer) {
            p.connected = true;
            return;
        }
        let opts = DialOpts::peer_id(peer)
            .addresses(vec![p.addr.clone()])
            .build();
        match self.swarm.dial(opts) {
            Ok(()) => p.dialing = true,
            Err(e) => {
                tracing::debug!(error = %e, "dial failed");
                Self::backoff(p, &self.cfg);
            }
        }
    }

    fn backoff(p: &mut Parent, cfg: &Config) {
        p.dialing = false;
        p.next_dial = Instant::now() + p.backoff;
        p.backoff = (p.backoff * 2).min(cfg.backoff_max);
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
                    p.connected = true;
                    p.backoff = self.cfg.backoff_min;
                }
                let hello = {
                    let Ok(e) = self.engine.lock() else { return };
                    let dir = e.directory();
                    let subtree = dir.subtree(e.unit());
                    Request::Hello {
                        unit: e.unit().to_string(),
                        certs: dir.certs_for(subtree.iter().map(String::as_str)),
                    }
                };
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
                if self.is_parent(&peer_id) {
                    tracing::info!(cause = ?cause, "disconnected from parent");
                    if let Some(p) = self.parent.as_mut() {
                        p.connected = false;
                        p.link = None;
                        Self::backoff(p, &self.cfg);
                    }
                    if let Ok(mut l) = self.links.lock() {
                        if let Some(pl) = l.parent.as_mut() {
                            pl.connected = false;
                        }
                    }
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
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. }
                if peer_id.is_some_and(|p| self.is_parent(&p)) =>
            {
                tracing::debug!(error = %error, "cannot reach parent");
                if let Some(p) = self.parent.as_mut() {
                    if !p.connected {
                        Self::backoff(p, &self.cfg);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(ev)) => self.on_sync_event(ev),
            _ => {}
        }
    }

    fn on_sync_event(&mut self, ev: request_response::Event<Frame, Vec<u8>>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let resp = match request {
                        Frame::Data(bytes) => self.on_request(peer, &bytes),
                        Frame::Oversized(len) => self.refuse(
                            peer,
                            "oversized",
                            format!(
                                "frame of {len} bytes exceeds the limit of {}",
                                wire::MAX_FRAME_BYTES
                            ),
                        ),
                    };
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, wire::encode(&resp));
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
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(peer = %peer, error = %error, "request failed");
                if let Some((peer, Pending::Page)) = self.pending.remove(&request_id) {
                    if let Some(l) = self.link_mut(&peer) {
                        l.session.on_failed();
                    }
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(peer = %peer, error = %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn count(&self, key: &str) {
        if let Ok(mut e) = self.engine.lock() {
            e.count_rejection(key);
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

    fn on_request(&mut self, peer: PeerId, frame: &[u8]) -> Response {
        let req: Request = match wire::decode(frame) {
            Ok(r) => r,
            Err(e) => return self.refuse(peer, e.key(), e.to_string()),
        };
        if let Some(c) = self.children.get(&peer) {
            let unit = c.session.remote_unit().to_string();
            if let Ok(mut l) = self.links.lock() {
                l.children.entry(unit).or_default().last_seen_ms = Some(now_ms());
            }
        }
        match req {
            Request::Hello { unit, certs } => self.on_hello(peer, unit, certs),
            Request::Heights { heights } => {
                let engine = self.engine.clone();
                let Ok(e) = engine.lock() else {
                    return Response::Ok;
                };
                let Some(link) = self.link_mut(&peer) else {
                    drop(e);
                    return self.refuse(
                        peer,
                        "uncertified",
                        "heights from a peer without a session".into(),
                    );
                };
                link.session.on_heights(e.directory(), &*e, &heights);
                let want = (!link.asked).then(|| link.session.want(e.directory(), &*e));
                link.asked = true;
                drop(e);
                if let Some(want) = want {
                    self.send(peer, Pending::Heights, &want);
                }
                Response::Ok
            }
            Request::Page { entries, docs } => {
                if self.link_mut(&peer).is_none() {
                    return self.refuse(
                        peer,
                        "uncertified",
                        format!(
                            "page of {} entries from a peer without a session",
                            entries.len()
                        ),
                    );
                }
                let result = {
                    let Ok(mut e) = self.engine.lock() else {
                        return Response::Ok;
                    };
                    e.ingest_page(&entries, &docs)
                };
                match result {
                    Ok(ing) => {
                        if self.is_parent(&peer) {
                            self.mark_parent_sync();
                        }
                        for (i, r) in &ing.rejected {
                            tracing::warn!(peer = %peer, index = i, reason = %r, "entry rejected");
                        }
                        self.on_appended(&ing.appended);
                        Response::Acked {
                            heights: ing.heights,
                            rejected: ing.rejected.len() as u32,
                        }
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "ingest failed");
                        Response::Refused {
                            key: "internal".into(),
                            reason: err.to_string(),
                        }
                    }
                }
            }
        }
    }

    fn on_hello(
        &mut self,
        peer: PeerId,
        unit: String,
        certs: Vec<eduioc_protocol::Certificate>,
    ) -> Response {
        let engine = self.engine.clone();
        let Ok(mut e) = engine.lock() else {
            return Response::Ok;
        };
        if certs.len() > 200_000 {
            drop(e);
            return self.refuse(peer, "oversized", "too many certificates in hello".into());
        }
        match e.add_certs(certs) {
            Ok(errors) => {
                for err in errors {
                    tracing::warn!(peer = %peer, error = %err, "certificate refused");
                }
            }
            Err(err) => tracing::error!(error = %err, "storing certificates failed"),
        }
        let dir = e.directory();
        let expected = dir.key_of(&unit).and_then(|k| peer_id_of(&k));
        if expected != Some(peer) {
            drop(e);
            return self.refuse(
                peer,
                "uncertified",
                format!("peer is not the certified key of {unit:?}"),
            );
        }
        if dir.parent(&unit) != Some(e.unit()) {
            let msg = format!("{unit} is not a child of {}", e.unit());
            drop(e);
            return self.refuse(peer, "unauthorized", msg);
        }
        let chain = dir.certs_for(dir.ancestors_or_self(e.unit()).iter().map(String::as_str));
        let session = Session::new(e.unit(), &unit, Role::Child);
        let welcome = Response::Welcome {
            unit: e.unit().to_string(),
            certs: chain,
        };
        drop(e);
        tracing::info!(child = %unit, "child connected");
        if let Ok(mut l) = self.links.lock() {
            let c = l.children.entry(unit.clone()).or_default();
            c.connected = true;
            c.last_seen_ms = Some(now_ms());
        }
        self.children.insert(
            peer,
            Link {
                peer,
                session,
                asked: false,
            },
        );
        welcome
    }

    fn mark_parent_sync(&self) {
        if let Ok(mut l) = self.links.lock() {
            if let Some(p) = l.parent.as_mut() {
                p.connected = true;
                p.last_sync_ms = Some(now_ms());
            }
        }
    }

    fn on_response(&mut self, peer: PeerId, kind: Pending, frame: &[u8]) {
        let resp: Response = match wire::decode(frame) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(peer = %peer, error = %e, "undecodable response");
                self.count(e.key());
                return;
            }
        };
        match (kind, resp) {
            (Pending::Hello, Response::Welcome { unit, certs }) => {
                let engine = self.engine.clone();
                let Ok(mut e) = engine.lock() else { return };
                if let Ok(errors) = e.add_certs(certs) {
                    for err in errors {
                        tracing::warn!(error = %err, "certificate from parent refused");
                    }
                }
                let session = Session::new(e.unit(), &unit, Role::Parent);
                let want = session.want(e.directory(), &*e);
                drop(e);
                if let Some(p) = self.parent.as_mut() {
                    p.link = Some(Link {
                        peer,
                        session,
                        asked: true,
                    });
                }
                self.mark_parent_sync();
                self.send(peer, Pending::Heights, &want);
            }
            (Pending::Page, Response::Acked { heights, rejected }) => {
                if rejected > 0 {
                    tracing::warn!(peer = %peer, rejected, "peer rejected entries");
                }
                if self.is_parent(&peer) {
                    self.mark_parent_sync();
                }
                if let Some(l) = self.link_mut(&peer) {
                    l.session.on_acked(&heights);
                }
            }
            (_, Response::Refused { key, reason }) => {
                tracing::warn!(peer = %peer, key = %key, reason = %reason, "peer refused our request");
                if let Some(l) = self.link_mut(&peer) {
                    l.session.on_failed();
                }
            }
            (Pending::Heights, Response::Ok) => {}
            (k, r) => tracing::warn!(peer = %peer, kind = ?k, response = ?r, "unexpected response"),
        }
    }

    fn on_appended(&mut self, authors: &[NodeId]) {
        let engine = self.engine.clone();
        let Ok(e) = engine.lock() else { return };
        let dir = e.directory();
        for a in authors {
            if let Some(l) = self.parent.as_mut().and_then(|p| p.link.as_mut()) {
                l.session.on_appended(dir, a);
            }
            for l in self.children.values_mut() {
                l.session.on_appended(dir, a);
            }
        }
        drop(e);
        self.pump_all();
    }

    fn pump_all(&mut self) {
        let engine = self.engine.clone();
        let Ok(e) = engine.lock() else { return };
        let mut out = Vec::new();
        if let Some(l) = self.parent.as_mut().and_then(|p| p.link.as_mut()) {
            if let Some(req) = l.session.next_page(e.directory(), &*e) {
                out.push((l.peer, req));
            }
        }
        for l in self.children.values_mut() {
            if let Some(req) = l.session.next_page(e.directory(), &*e) {
                out.push((l.peer, req));
            }
        }
        drop(e);
        for (peer, req) in out {
            self.send(peer, Pending::Page, &req);
        }
    }
}
