//! What the loop keeps of its link to the parent for status and the UI ([`Links`]): whether
//! it works, when it last synced, and what the parent refused of this node's entries, with
//! the reason as far as this node can tell, until the parent holds them.

use super::*;

impl Network {
    /// A successful exchange with the parent: the link works.
    pub(crate) fn mark_parent_sync(&self) {
        if let Ok(mut l) = self.links.lock() {
            if let Some(p) = l.parent.as_mut() {
                p.connected = true;
                p.last_sync_ms = Some(now_ms());
            }
        }
    }

    /// A request to the parent failed, a ping went unanswered or the connection closed.
    pub(crate) fn parent_not_working(&self) {
        if let Ok(mut l) = self.links.lock() {
            if let Some(p) = l.parent.as_mut() {
                p.connected = false;
            }
        }
    }

    /// Records that the parent refused something of ours: `entries` entries of the authors
    /// now stuck on the link, or (`entries == 0`) a whole request with the parent's key.
    pub(crate) fn parent_refused(&mut self, entries: u64, key: &str, message: String) {
        let now = now_ms();
        let units: Vec<String> = {
            let Some(p) = self.parent.as_mut() else {
                return;
            };
            if let Some(l) = p.link.as_ref() {
                p.refused.extend(l.session.stuck().copied());
            }
            let dir = self.engine.directory();
            p.refused
                .iter()
                .filter_map(|a| dir.unit_of(a).map(str::to_string))
                .collect()
        };
        tracing::warn!(entries, key, message = %message, units = ?units, "the parent refused our data");
        if let Ok(mut l) = self.links.lock() {
            if let Some(pl) = l.parent.as_mut() {
                let r = pl.refused.get_or_insert_with(|| Refusal {
                    since_ms: now,
                    ..Refusal::default()
                });
                if entries > 0 {
                    r.entries = entries;
                }
                r.key = key.to_string();
                r.message = message;
                r.last_ms = now;
                let mut units = units;
                units.sort();
                units.dedup();
                units.truncate(MAX_REFUSED_UNITS);
                r.units = units;
            }
        }
    }

    /// Why the parent refused entries of the authors stuck on its link, as far as this
    /// node can tell: the acknowledgement carries only a count.
    pub(crate) fn diagnose_refusal(&self, rejected: u32) -> (String, String) {
        let generic = (
            "rejected".to_string(),
            format!(
                "the parent refused {rejected} entries (its own status counts the reason under \
                 rejected)"
            ),
        );
        let Some(l) = self.parent.as_ref().and_then(|p| p.link.as_ref()) else {
            return generic;
        };
        let Some(log) = self.engine.log() else {
            return generic;
        };
        let dir = self.engine.directory();
        for a in l.session.stuck() {
            let from = l.session.remote_height(a).unwrap_or(0) + 1;
            let Some((seq, raw)) = log
                .entries(a, from, 1, MAX_ENTRY_BYTES + 1)
                .into_iter()
                .next()
            else {
                continue;
            };
            if raw.len() > MAX_ENTRY_BYTES {
                let unit = dir.unit_of(a).unwrap_or("?").to_string();
                return (
                    "oversized".into(),
                    format!(
                        "entry {seq} of {unit} is {} bytes; a peer accepts at most {MAX_ENTRY_BYTES}",
                        raw.len()
                    ),
                );
            }
        }
        generic
    }

    /// After a successful exchange with the parent: clears the recorded refusal once the
    /// parent holds everything of the authors it had refused.
    pub(crate) fn maybe_clear_refusal(&mut self) {
        let Some(p) = self.parent.as_mut() else {
            return;
        };
        let Some(l) = p.link.as_ref() else {
            return;
        };
        if l.session.stuck().next().is_some() {
            return;
        }
        if !p.refused.is_empty() {
            let Some(log) = self.engine.log() else {
                return;
            };
            let all_held = p
                .refused
                .iter()
                .all(|a| l.session.remote_height(a).unwrap_or(0) >= log.height(a));
            if !all_held {
                return;
            }
        }
        p.refused.clear();
        if let Ok(mut links) = self.links.lock() {
            if let Some(pl) = links.parent.as_mut() {
                if pl.refused.take().is_some() {
                    tracing::info!("the parent now holds everything it had refused");
                }
            }
        }
    }
}

impl Network {
    /// A parent reached at its address (its peer id not known from a certificate): after
    /// its `Welcome` stored its certificates, the connection must be the certified key of
    /// the parent unit; otherwise it is closed and the address dialled again later.
    pub(crate) fn parent_is_certified(&mut self, peer: PeerId) -> bool {
        let Some(p) = self.parent.as_mut() else {
            return false;
        };
        let certified = self
            .engine
            .directory()
            .key_of(&p.unit)
            .and_then(|k| peer_id_of(&k));
        if certified == Some(peer) {
            p.dial = None;
            return true;
        }
        tracing::warn!(
            parent = %p.unit, addr = %p.addr, peer = %peer,
            "the node at the parent's address is not the parent's certified key: disconnected"
        );
        p.peer = certified;
        p.connected = false;
        p.link = None;
        Self::backoff(p);
        let _ = self.swarm.disconnect_peer_id(peer);
        false
    }

    /// Follows the hierarchy in force: when this node's unit is under another parent (a
    /// new certificate version took effect), the link to the old parent is closed and the
    /// new one dialled at its address ([`Config::addresses`], or the configured parent's).
    /// Without an address the old link stays, and the log says what to configure.
    pub(crate) fn follow_hierarchy(&mut self) {
        let dir = self.engine.directory();
        let Some(want) = dir.parent(self.engine.unit()) else {
            return;
        };
        let Some(p) = self.parent.as_mut() else {
            return;
        };
        if p.unit == want {
            return;
        }
        let addr = match (&self.cfg.parent, self.cfg.addresses.get(want)) {
            (_, Some(a)) => a.clone(),
            (Some((u, a)), None) if u == want => a.clone(),
            _ => {
                if p.unreachable.as_deref() != Some(want) {
                    tracing::warn!(
                        unit = %self.engine.unit(), parent = %want,
                        "this unit is now under {want}, whose address this node does not know: \
                         add it to [addresses] in node.toml (or set parent and parent_p2p)"
                    );
                    p.unreachable = Some(want.to_string());
                }
                return;
            }
        };
        tracing::info!(unit = %self.engine.unit(), from = %p.unit, to = %want, "re-parented: moving to the new parent");
        let old = p.peer.filter(|_| p.connected);
        let backoff = backoff(&self.cfg);
        let enabled = p.enabled;
        *p = Parent {
            unit: want.to_string(),
            peer: dir.key_of(want).as_ref().and_then(peer_id_of),
            dial: None,
            addr,
            link: None,
            connected: false,
            next_dial: Instant::now(),
            backoff,
            dialing: false,
            enabled,
            refused: std::collections::BTreeSet::new(),
            unreachable: None,
        };
        if let Some(old) = old {
            if !self.children.contains_key(&old) {
                let _ = self.swarm.disconnect_peer_id(old);
            }
        }
        if let Ok(mut l) = self.links.lock() {
            l.parent = Some(ParentLink {
                unit: want.to_string(),
                ..ParentLink::default()
            });
        }
    }
}
