//! Re-parenting a unit (`eduioc topology reparent`, `POST /api/v1/units/{id}/parent`):
//! the root or a delegated office issues the unit's next certificate version under a new
//! parent, as a signed entry of its log. It reaches the network like any certificate (and
//! the unit's old path too, see `eduioc_protocol::sync`); the unit keeps its key, so its
//! history stays attributable, and moves under its new parent when the version takes
//! effect.

use eduioc_protocol::{CertBody, Certificate};

use crate::{Engine, Error, Result};

impl Engine {
    /// Issues the next certificate version of `unit` with `parent` as its parent, in
    /// force from `effective_ms` (now when `None`), and publishes it. This node must be
    /// the root, or a delegated office above both the unit's parent and the new one.
    /// `UnknownUnit` for a unit or parent not in the directory; `Invalid` for a move that
    /// changes nothing, makes a cycle, or moves this node's own unit; `Forbidden` when
    /// this node may not issue it.
    pub fn reparent(
        &mut self,
        unit: &str,
        parent: &str,
        effective_ms: Option<i64>,
    ) -> Result<Certificate> {
        let dir = &self.dir;
        let latest = dir
            .latest_cert(unit)
            .ok_or_else(|| Error::UnknownUnit(unit.to_string()))?
            .clone();
        if !dir.contains(parent) {
            return Err(Error::UnknownUnit(parent.to_string()));
        }
        if unit == self.unit {
            return Err(Error::Invalid(format!(
                "{unit} is this node's own unit: its parent re-parents it"
            )));
        }
        if latest.body.parent.as_deref() == Some(parent) {
            return Err(Error::Invalid(format!("{unit} is already under {parent}")));
        }
        if dir.is_ancestor_or_self(unit, parent) {
            return Err(Error::Invalid(format!(
                "{parent} is {unit} or below it: the move would make a cycle"
            )));
        }
        let root = self.key.id() == dir.root_key();
        let delegated = dir
            .current_cert(&self.unit)
            .is_some_and(|c| c.body.delegate);
        let old = latest.body.parent.as_deref().unwrap_or_default();
        let above_both =
            dir.is_ancestor_or_self(&self.unit, old) && dir.is_ancestor_or_self(&self.unit, parent);
        if !(root || (delegated && above_both)) {
            return Err(Error::Forbidden(format!(
                "{} may not move {unit} from {old} to {parent}: the root, or a delegated \
                 office above both, issues that certificate",
                self.unit
            )));
        }
        let body = CertBody {
            parent: Some(parent.to_string()),
            version: latest.body.version.checked_add(1).ok_or_else(|| {
                Error::Invalid(format!("{unit}'s certificate is at the last version"))
            })?,
            effective_ms: effective_ms.unwrap_or_else(|| self.clock.now_ms()),
            issuer: self.key.id(),
            ..latest.body
        };
        let cert = Certificate::issue(body, &self.key);
        // Checked as every node will check it before it is signed into the log.
        let mut trial = self.dir.clone();
        trial
            .insert(cert.clone())
            .map_err(|e| Error::Invalid(format!("the certificate would be refused: {e}")))?;
        self.publish_certificate(cert.clone())?;
        Ok(cert)
    }
}
