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
