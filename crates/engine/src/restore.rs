//! Restoring a node whose store was lost (`eduioc restore`): its parent holds every entry
//! it ever signed, and gives its own log back (the sync's down scope includes a child's
//! own log where the parent holds more of it than the child).
//!
//! Until the node holds its log again it must not sign anything: a new entry at a seq its
//! parent already holds would be a fork, quarantined upstream. So [`Engine::begin_restore`]
//! marks the store as restoring (a meta key, kept across restarts), every local write is
//! refused while the mark is there ([`Engine::may_write`]), the network reports the
//! parent's height of this node's log ([`Engine::parent_holds`]), and the mark goes once
//! the node's own height reaches it.

use std::path::Path;

use crate::{Engine, Error, Result};

/// The file beside a node's store that says its own log was written once: an empty store
/// next to it was lost (a disk replaced, a file deleted), not new.
pub const STARTED_MARKER: &str = "log.started";

/// The meta key present while the node restores: the parent's height of this node's log
/// when known (8 bytes, little-endian), empty until then.
const RESTORING: &str = "restoring";

/// Where a restore stands: `None` when the node is not restoring; `Some(None)` until the
/// parent said how much of this node's log it holds; `Some(Some(h))` then.
pub(crate) type Restoring = Option<Option<u64>>;

/// The restore state kept in `store`.
pub(crate) fn read(store: &eduioc_store::Store) -> Result<Restoring> {
    Ok(store.meta(RESTORING)?.map(|v| {
        <[u8; 8]>::try_from(v.as_slice())
            .ok()
            .map(u64::from_le_bytes)
    }))
}

impl Engine {
    /// This node's height of its own log.
    fn own_height(&self) -> u64 {
        self.heads.get(&self.key.id()).map_or(0, |h| h.seq)
    }

    /// At open: a store that holds none of this node's log although [`STARTED_MARKER`]
    /// says it wrote one was lost, and the node restores before it writes (as `eduioc
    /// restore` would) instead of forking its log with the first login. Otherwise the
    /// marker is written with the first entry of its log.
    pub(crate) fn watch_lost_store(&mut self, data_dir: &Path) -> Result<()> {
        let marker = data_dir.join(STARTED_MARKER);
        if self.own_height() > 0 {
            if !marker.exists() {
                self.started_marker = Some(marker);
                self.mark_started();
            }
            return Ok(());
        }
        if !marker.exists() {
            self.started_marker = Some(marker);
            return Ok(());
        }
        if self.restoring.is_none() && self.dir.parent(&self.unit).is_some() {
            tracing::warn!(
                unit = %self.unit,
                "this node's store holds none of its log although it wrote one before \
                 ({STARTED_MARKER}): it restores the log from its parent before writing"
            );
            self.begin_restore()?;
        }
        Ok(())
    }

    /// Writes [`STARTED_MARKER`] once this node's log has an entry.
    pub(crate) fn mark_started(&mut self) {
        if self.own_height() == 0 {
            return;
        }
        if let Some(marker) = self.started_marker.take() {
            if let Err(e) = std::fs::write(&marker, b"this node's log was written\n") {
                tracing::warn!(file = %marker.display(), error = %e, "cannot write the marker");
            }
        }
    }

    /// Marks this node as restoring its log from its parent. Refused when the store holds
    /// any entry of this node's own log: restore is for a store that was lost, and a
    /// node with part of its log gets the rest from its parent anyway.
    pub fn begin_restore(&mut self) -> Result<()> {
        let own = self.own_height();
        if own > 0 && self.restoring.is_none() {
            return Err(Error::Invalid(format!(
                "this node's store already holds {own} entries of its own log: restore is for \
                 a node whose store was lost (move its data directory aside first)"
            )));
        }
        self.guarded(|e| {
            let mut txn = e.store.begin_write()?;
            txn.put_meta(RESTORING, &[])?;
            txn.commit()?;
            e.restoring = Some(None);
            e.publish();
            Ok(())
        })
    }

    /// Whether this node is restoring its log (it signs nothing until it holds it).
    pub fn restoring(&self) -> bool {
        self.restoring.is_some()
    }

    /// Refuses a local write while the node restores its log.
    pub(crate) fn may_write(&self) -> Result<()> {
        match self.restoring {
            None => Ok(()),
            Some(target) => Err(Error::Busy(format!(
                "this node is restoring its log from its parent ({}); it writes again once it \
                 holds it",
                match target {
                    Some(h) => format!("{} of {h} entries back", self.own_height()),
                    None => "waiting for the parent".into(),
                }
            ))),
        }
    }

    /// The parent holds `height` entries of this node's log (from its `Heights`). While
    /// restoring, that is how far the node must get; the restore ends once it is there.
    ///
    /// A node that is not restoring but holds less of its log than its parent (its store
    /// was lost and it was started with `run`, not `restore`) starts restoring here: one
    /// more entry signed now would be a fork.
    pub fn parent_holds(&mut self, height: u64) -> Result<()> {
        let own = self.own_height();
        let target = match self.restoring {
            Some(target) => target,
            None if height > own => {
                tracing::warn!(
                    unit = %self.unit, held_here = own, held_by_parent = height,
                    "the parent holds more of this node's log than it does (a lost store?): \
                     restoring it before writing again"
                );
                None
            }
            None => return Ok(()),
        };
        if target.is_none_or(|t| height > t) {
            self.guarded(|e| {
                let mut txn = e.store.begin_write()?;
                txn.put_meta(RESTORING, &height.to_le_bytes())?;
                txn.commit()?;
                e.restoring = Some(Some(height));
                e.publish();
                Ok(())
            })?;
        }
        self.check_restored()
    }

    /// Ends the restore once this node holds as much of its log as its parent.
    pub(crate) fn check_restored(&mut self) -> Result<()> {
        let Some(Some(target)) = self.restoring else {
            return Ok(());
        };
        let own = self.own_height();
        if own < target {
            return Ok(());
        }
        self.guarded(|e| {
            let mut txn = e.store.begin_write()?;
            txn.delete_meta(RESTORING)?;
            txn.commit()?;
            e.restoring = None;
            e.publish();
            tracing::info!(unit = %e.unit, entries = own, "restored: this node holds its log again and writes");
            Ok(())
        })
    }
}
