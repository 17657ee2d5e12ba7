//! What the loop does with a peer's request, and with what the engine did for one: a page
//! ingested, a child admitted, the parent's `Welcome` taken. The engine's part runs as a
//! job on its thread ([`Answer::Later`]); the loop answers when it is done.

use super::*;

impl Network {
    pub(crate) fn on_request(&mut self, peer: PeerId, frame: &[u8]) -> Answer {
        let req: Request = match wire::decode(frame) {
            Ok(r) => r,
            Err(e) => return Answer::Now(self.refuse(peer, e.key(), e.to_string())),
        };
        if let Some(c) = self.children.get(&peer) {
            let unit = c.session.remote_unit().to_string();
            if let Ok(mut l) = self.links.lock() {
                l.children.entry(unit).or_default().last_seen_ms = Some(now_ms());
            }
        }
        match req {
            Request::Hello { unit, certs } => self.on_hello(peer, unit, certs),
            Request::Heights { heights } => Answer::Now(self.on_heights(peer, &heights)),
            Request::Page { entries, docs } => {
                if self.link_mut(&peer).is_none() {
                    return Answer::Now(self.refuse(
                        peer,
                        "uncertified",
                        format!(
                            "page of {} entries from a peer without a session",
                            entries.len()
                        ),
                    ));
                }
                let engine = self.engine.clone();
                Answer::Later(
                    async move {
                        let done = engine.call(move |e| e.ingest_page(&entries, &docs)).await;
                        Finished::Page(done.and_then(|r| r))
                    }
                    .boxed(),
                )
            }
        }
    }

    fn on_heights(&mut self, peer: PeerId, heights: &[(NodeId, u64)]) -> Response {
        let from_child = self.children.contains_key(&peer);
        let (dir, Some(log)) = (self.engine.directory(), self.engine.log()) else {
            return Response::Ok;
        };
        let Some(link) = self.link_mut(&peer) else {
            return self.refuse(
                peer,
                "uncertified",
                "heights from a peer without a session".into(),
            );
        };
        link.session.on_heights(&dir, &log, heights);
        // A parent answers each `Heights` of its child with its own (the child sends them
        // after the `Welcome` and then periodically), so both directions re-compare. The
        // child answers the parent's with `Ok` only.
        let answer = from_child && !link.heights_in_flight;
        if answer {
            self.send_heights(peer);
        } else if self.is_parent(&peer) {
            self.mark_parent_sync();
            // How much of this node's own log the parent holds: what a node restoring
            // a lost store must get back before it writes again.
            let me = self.engine.id();
            let held = heights
                .iter()
                .find(|(a, _)| *a == me)
                .map_or(0, |(_, h)| *h);
            // A node restoring, or one whose parent holds more of its log than it does
            // (a lost store started with `run`): the engine must know before it writes.
            if self.engine.views().status().restoring || held > log.height(&me) {
                self.engine.cast(move |e| {
                    if let Err(err) = e.parent_holds(held) {
                        tracing::warn!(error = %err, "restore state not recorded");
                    }
                });
            }
        }
        Response::Ok
    }

    /// A page ingested: the peer's acknowledgement.
    fn on_ingested(
        &mut self,
        peer: PeerId,
        result: Result<Ingested, eduioc_engine::Error>,
    ) -> Response {
        match result {
            Ok(ing) => {
                if self.is_parent(&peer) {
                    self.mark_parent_sync();
                }
                for (i, r) in &ing.rejected {
                    tracing::warn!(peer = %peer, index = i, reason = %r, "entry rejected");
                }
                // A child holds all of its own log that we hold (it all came from it):
                // none of it is offered back down.
                if let Some(link) = self.children.get_mut(&peer) {
                    let dir = self.engine.directory();
                    if let Some(own) = dir.key_of(link.session.remote_unit()) {
                        let held: Vec<(NodeId, u64)> = ing
                            .heights
                            .iter()
                            .filter(|(a, _)| *a == own)
                            .copied()
                            .collect();
                        link.session.on_received(&held);
                    }
                }
                // What was appended is forwarded on the engine's event.
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

    fn on_hello(
        &mut self,
        peer: PeerId,
        unit: String,
        certs: Vec<eduioc_protocol::Certificate>,
    ) -> Answer {
        if certs.len() > 200_000 {
            return Answer::Now(self.refuse(
                peer,
                "oversized",
                "too many certificates in hello".into(),
            ));
        }
        let engine = self.engine.clone();
        Answer::Later(
            async move {
                let claimed = unit.clone();
                let admitted = engine
                    .call(move |e| {
                        add_certs(e, certs, "certificate refused");
                        link::admit(e.directory(), e.unit(), &claimed, |k| {
                            peer_id_of(k) == Some(peer)
                        })
                    })
                    .await;
                Finished::Hello { unit, admitted }
            }
            .boxed(),
        )
    }

    /// The child's admission decided: a link and `Welcome`, or a refusal.
    fn on_admitted(
        &mut self,
        peer: PeerId,
        unit: String,
        admitted: Result<Result<(Session, Response), link::Refusal>, eduioc_engine::Error>,
    ) -> Response {
        let (session, welcome) = match admitted {
            Ok(Ok(a)) => a,
            Ok(Err(refusal)) => return self.refuse(peer, refusal.key, refusal.reason),
            Err(e) => return self.refuse(peer, "internal", e.to_string()),
        };
        if !self.swarm.is_connected(&peer) {
            // It hung up while the engine stored its certificates: it says hello again.
            tracing::debug!(child = %unit, "child left before its admission");
            return Response::Ok;
        }
        tracing::info!(child = %unit, "child connected");
        if let Ok(mut l) = self.links.lock() {
            let c = l.children.entry(unit.clone()).or_default();
            c.connected = true;
            c.last_seen_ms = Some(now_ms());
        }
        self.children
            .insert(peer, Link::new(peer, session, &self.cfg));
        welcome
    }

    /// What the engine did for a link: answer the peer, carry on.
    pub(crate) fn on_done(&mut self, done: Done) {
        let Done {
            peer,
            channel,
            what,
        } = done;
        let resp = match what {
            Finished::Page(result) => self.on_ingested(peer, result),
            Finished::Hello { unit, admitted } => self.on_admitted(peer, unit, admitted),
            Finished::Welcome(session) => {
                match session {
                    Ok(session) => self.on_welcomed(peer, session),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot open the session with the parent");
                        self.on_request_failed(peer, Pending::Hello);
                    }
                }
                return;
            }
        };
        if let Some(channel) = channel {
            self.answer(channel, &resp);
        }
        self.pump_all();
    }

    /// The parent welcomed us: the session is open.
    fn on_welcomed(&mut self, peer: PeerId, session: Session) {
        if !self.swarm.is_connected(&peer) {
            // The connection closed while the engine stored the parent's certificates:
            // the next connection says hello again.
            return;
        }
        if !self.parent_is_certified(peer) {
            return;
        }
        let cfg = self.cfg.clone();
        if let Some(p) = self.parent.as_mut() {
            p.backoff.reset();
            p.link = Some(Link::new(peer, session, &cfg));
        }
        self.mark_parent_sync();
        self.maybe_clear_refusal();
        self.send_heights(peer);
        self.pump_all();
    }
}
