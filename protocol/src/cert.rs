//! Certificates and the directory of units they describe.
//!
//! The root unit's key is the trust anchor every node is provisioned with. It signs a
//! [`Certificate`] for each unit binding the unit id, its parent, its level, a version and an
//! effective date to the unit's node key. A certificate with `delegate = true` lets that
//! office certify units below it. Re-parenting a unit is a new certificate version with a
//! new parent; the key stays, so history stays attributable to the unit.
//!
//! The [`Directory`] holds every valid certificate a node has seen and answers the
//! questions validation and sync need: which unit does this key speak for, who is whose
//! parent *now*, is this unit inside that subtree.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::identity::{NodeId, NodeKey, Signature};

/// Longest accepted unit id (ids match `[a-z0-9-]{1,64}`).
pub const MAX_UNIT_ID: usize = 64;
/// Most a certificate's version may jump above the highest one known for its unit (a
/// version near `u32::MAX` would leave no room for the root to supersede it).
pub const MAX_VERSION_STEP: u32 = 1024;
/// Deepest hierarchy the directory walks before declaring a cycle.
pub const MAX_DEPTH: usize = 32;
const CERT_DOMAIN: &[u8] = b"eduioc/cert/v1";

/// What a certificate asserts about a unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertBody {
    /// Stable unit id, `[a-z0-9-]{1,64}`.
    pub unit: String,
    /// Human-readable name, e.g. "Trường THCS Tam Hiệp".
    pub name: String,
    /// Free label: department, district, commune, school, ...
    pub level: String,
    /// Parent unit under this version; `None` only for the root.
    pub parent: Option<String>,
    /// The node key that speaks for the unit.
    pub key: NodeId,
    /// Increases with every re-issue (re-parenting, renaming, key rotation).
    pub version: u32,
    /// Unix milliseconds from which this version is in force.
    pub effective_ms: i64,
    /// Whether this unit may certify units below it.
    pub delegate: bool,
    /// The key that signed this certificate: the root's, or a delegated office's.
    pub issuer: NodeId,
}

/// A signed [`CertBody`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// The assertion.
    pub body: CertBody,
    /// The issuer's signature over the domain tag and the postcard encoding of `body`.
    pub signature: Signature,
}

impl Certificate {
    /// Signs `body` with `issuer` (whose id must equal `body.issuer`).
    pub fn issue(body: CertBody, issuer: &NodeKey) -> Certificate {
        let signature = issuer.sign(&signing_bytes(&body));
        Certificate { body, signature }
    }

    /// Checks the issuer's signature (not whether the issuer may issue it).
    pub fn signature_ok(&self) -> bool {
        self.body
            .issuer
            .verify(&signing_bytes(&self.body), &self.signature)
    }

    /// postcard encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Decodes [`Certificate::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Certificate, CertError> {
        postcard::from_bytes(bytes).map_err(|e| CertError::Malformed(e.to_string()))
    }
}

fn signing_bytes(body: &CertBody) -> Vec<u8> {
    let mut v = CERT_DOMAIN.to_vec();
    v.extend(postcard::to_stdvec(body).unwrap_or_default());
    v
}

/// Checks the unit id syntax `[a-z0-9-]{1,64}`.
pub fn valid_unit_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_UNIT_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Why a certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The bytes do not decode.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// The signature does not verify.
    #[error("certificate for {0}: bad signature")]
    BadSignature(String),
    /// The issuer is neither the root nor a delegated ancestor office.
    #[error("certificate for {unit}: issuer {issuer} may not certify it")]
    Unauthorized {
        /// The certified unit.
        unit: String,
        /// The issuing key.
        issuer: String,
    },
    /// The unit id does not match `[a-z0-9-]{1,64}`.
    #[error("certificate: invalid unit id {0:?}")]
    BadUnitId(String),
    /// The key is already bound to another unit.
    #[error("certificate for {unit}: key already speaks for {other}")]
    KeyReused {
        /// The certified unit.
        unit: String,
        /// The unit that already holds the key.
        other: String,
    },
    /// The root certificate must be self-issued by the root key without a parent.
    #[error("certificate for {0}: not a valid root certificate")]
    BadRoot(String),
    /// The issuer is not known yet (kept pending; may succeed when its chain arrives).
    #[error("certificate for {0}: issuer not known yet")]
    Pending(String),
}

/// The node's view of the hierarchy, built from validated certificates.
#[derive(Clone, Debug)]
pub struct Directory {
    root_key: NodeId,
    /// Every accepted certificate: unit -> version -> certificate.
    certs: BTreeMap<String, BTreeMap<u32, Certificate>>,
    /// Key -> unit it speaks for.
    by_key: HashMap<NodeId, String>,
    /// Current version per unit (highest version effective at `now_ms`).
    current: HashMap<String, u32>,
    /// Current children per unit.
    children: HashMap<String, BTreeSet<String>>,
    /// Certificates whose issuer is not known yet.
    pending: Vec<Certificate>,
    /// Every effective date seen, so moving the clock rebuilds only when it crosses one.
    effective: BTreeSet<i64>,
    now_ms: i64,
    /// Changes whenever the hierarchy may have; see [`Directory::stamp`].
    stamp: u64,
    /// Whether some unit has versions under different parents ([`Directory::has_moves`]).
    moves: bool,
}

/// Stamps are unique across every directory of the process, so two directories with the
/// same stamp are copies of one state.
fn next_stamp() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Directory {
    /// An empty directory trusting `root_key`.
    pub fn new(root_key: NodeId) -> Directory {
        Directory {
            root_key,
            certs: BTreeMap::new(),
            by_key: HashMap::new(),
            current: HashMap::new(),
            children: HashMap::new(),
            pending: Vec::new(),
            effective: BTreeSet::new(),
            now_ms: i64::MAX,
            stamp: next_stamp(),
            moves: false,
        }
    }

    /// An identifier of this directory's state: a clone keeps it, any change to the
    /// certificates or the hierarchy in force replaces it with one never used before. A
    /// reader holding a copy compares stamps to know whether its copy is current.
    pub fn stamp(&self) -> u64 {
        self.stamp
    }

    /// The trust anchor.
    pub fn root_key(&self) -> NodeId {
        self.root_key
    }

    /// Sets the clock used to pick the version in force; recomputes the hierarchy when
    /// the move crosses a certificate's effective date.
    pub fn set_now(&mut self, now_ms: i64) {
        let (lo, hi) = (self.now_ms.min(now_ms), self.now_ms.max(now_ms));
        let crosses = lo != hi
            && self
                .effective
                .range(lo.saturating_add(1)..=hi)
                .next()
                .is_some();
        self.now_ms = now_ms;
        if crosses {
            self.rebuild();
        }
    }

    /// Validates and adds a certificate. Returns `Ok(true)` when it is new, `Ok(false)`
    /// when already known. A certificate whose issuer is unknown is kept pending and
    /// retried whenever another certificate is accepted.
    pub fn insert(&mut self, cert: Certificate) -> Result<bool, CertError> {
        match self.check(&cert) {
            Ok(()) => {}
            Err(CertError::Pending(u)) => {
                if !self.pending.contains(&cert) && self.pending.len() < 100_000 {
                    self.pending.push(cert);
                }
                return Err(CertError::Pending(u));
            }
            Err(e) => return Err(e),
        }
        let fresh = self.add_checked(cert);
        if fresh {
            // Retry pending certificates until nothing more resolves.
            loop {
                let pending = std::mem::take(&mut self.pending);
                let mut progressed = false;
                for c in pending {
                    match self.check(&c) {
                        Ok(()) => progressed |= self.add_checked(c),
                        Err(CertError::Pending(_)) => self.pending.push(c),
                        Err(_) => {}
                    }
                }
                if !progressed {
                    break;
                }
            }
        }
        Ok(fresh)
    }

    fn add_checked(&mut self, cert: Certificate) -> bool {
        let unit = cert.body.unit.clone();
        let versions = self.certs.entry(unit.clone()).or_default();
        if versions.contains_key(&cert.body.version) {
            return false;
        }
        self.stamp = next_stamp();
        self.by_key.insert(cert.body.key, unit.clone());
        self.effective.insert(cert.body.effective_ms);
        self.moves |= versions.values().any(|c| c.body.parent != cert.body.parent);
        versions.insert(cert.body.version, cert);
        self.update_unit(&unit);
        true
    }

    /// Recomputes the version in force of one unit and its place among its parent's
    /// children.
    fn update_unit(&mut self, unit: &str) {
        let Some(versions) = self.certs.get(unit) else {
            return;
        };
        let pick = versions
            .iter()
            .rev()
            .find(|(_, c)| c.body.effective_ms <= self.now_ms)
            .or_else(|| versions.iter().next())
            .map(|(v, c)| (*v, c.body.parent.clone()));
        let Some((version, parent)) = pick else {
            return;
        };
        if let Some(old) = self.current_cert(unit).and_then(|c| c.body.parent.clone()) {
            if let Some(kids) = self.children.get_mut(&old) {
                kids.remove(unit);
            }
        }
        self.current.insert(unit.to_string(), version);
        if let Some(p) = parent {
            self.children.entry(p).or_default().insert(unit.to_string());
        }
    }

    fn check(&self, cert: &Certificate) -> Result<(), CertError> {
        let b = &cert.body;
        if !valid_unit_id(&b.unit) || b.parent.as_deref().is_some_and(|p| !valid_unit_id(p)) {
            return Err(CertError::BadUnitId(b.unit.clone()));
        }
        if let Some(existing) = self.certs.get(&b.unit).and_then(|v| v.get(&b.version)) {
            if existing == cert {
                return Ok(());
            }
        }
        if !cert.signature_ok() {
            return Err(CertError::BadSignature(b.unit.clone()));
        }
        if let Some(other) = self.by_key.get(&b.key) {
            if other != &b.unit {
                return Err(CertError::KeyReused {
                    unit: b.unit.clone(),
                    other: other.clone(),
                });
            }
        }
        if b.parent.is_none() || b.key == self.root_key {
            // Only the root certificate: self-issued by the root key, no parent.
            if b.parent.is_none() && b.key == self.root_key && b.issuer == self.root_key {
                return Ok(());
            }
            return Err(CertError::BadRoot(b.unit.clone()));
        }
        let latest = self.latest_cert(&b.unit);
        if latest.is_some_and(|l| b.version > l.body.version.saturating_add(MAX_VERSION_STEP)) {
            return Err(CertError::Unauthorized {
                unit: b.unit.clone(),
                issuer: b.issuer.short(),
            });
        }
        if b.issuer == self.root_key {
            return Ok(());
        }
        // A delegated office may certify units strictly below it; a unit that already has
        // a certificate only where it was and where it goes are both below the office,
        // and with the same key (only the root gives a unit another key).
        let Some(issuer_unit) = self.by_key.get(&b.issuer) else {
            return Err(CertError::Pending(b.unit.clone()));
        };
        let issuer_ok = self
            .current_cert(issuer_unit)
            .is_some_and(|c| c.body.delegate);
        let parent = b.parent.as_deref().unwrap_or_default();
        let was_below = latest.is_none_or(|l| {
            l.body.key == b.key
                && l.body
                    .parent
                    .as_deref()
                    .is_some_and(|p| self.is_ancestor_or_self(issuer_unit, p))
        });
        if issuer_ok
            && issuer_unit != &b.unit
            && self.is_ancestor_or_self(issuer_unit, parent)
            && was_below
        {
            Ok(())
        } else {
            Err(CertError::Unauthorized {
                unit: b.unit.clone(),
                issuer: b.issuer.short(),
            })
        }
    }

    fn rebuild(&mut self) {
        self.stamp = next_stamp();
        self.current.clear();
        self.children.clear();
        let units: Vec<String> = self.certs.keys().cloned().collect();
        for unit in units {
            self.update_unit(&unit);
        }
    }

    /// The certificate in force for `unit`.
    pub fn current_cert(&self, unit: &str) -> Option<&Certificate> {
        let v = self.current.get(unit)?;
        self.certs.get(unit)?.get(v)
    }

    /// The unit `key` speaks for.
    pub fn unit_of(&self, key: &NodeId) -> Option<&str> {
        self.by_key.get(key).map(String::as_str)
    }

    /// The key currently speaking for `unit`.
    pub fn key_of(&self, unit: &str) -> Option<NodeId> {
        self.current_cert(unit).map(|c| c.body.key)
    }

    /// Current parent of `unit`.
    pub fn parent(&self, unit: &str) -> Option<&str> {
        self.current_cert(unit)?.body.parent.as_deref()
    }

    /// Current children of `unit`, sorted.
    pub fn children(&self, unit: &str) -> impl Iterator<Item = &str> {
        self.children
            .get(unit)
            .into_iter()
            .flat_map(|s| s.iter().map(String::as_str))
    }

    /// Level label of `unit`.
    pub fn level(&self, unit: &str) -> Option<&str> {
        self.current_cert(unit).map(|c| c.body.level.as_str())
    }

    /// Name of `unit`.
    pub fn name(&self, unit: &str) -> Option<&str> {
        self.current_cert(unit).map(|c| c.body.name.as_str())
    }

    /// Whether `unit` is known.
    pub fn contains(&self, unit: &str) -> bool {
        self.current.contains_key(unit)
    }

    /// All known units.
    pub fn units(&self) -> impl Iterator<Item = &str> {
        self.current.keys().map(String::as_str)
    }

    /// True when `ancestor` is `unit` or one of its current ancestors.
    pub fn is_ancestor_or_self(&self, ancestor: &str, unit: &str) -> bool {
        let mut cur = Some(unit);
        for _ in 0..MAX_DEPTH {
            match cur {
                Some(u) if u == ancestor => return true,
                Some(u) => cur = self.parent(u),
                None => return false,
            }
        }
        false
    }

    /// True when `ancestor` is `unit` or one of its ancestors under the current hierarchy
    /// or under the parent any other version of `unit`'s certificate names: the nodes a
    /// certificate of `unit` must reach, where it is and where it was (or will be), so
    /// that a re-parented unit's old parent learns it lost the unit.
    pub fn is_or_was_ancestor_or_self(&self, ancestor: &str, unit: &str) -> bool {
        self.is_ancestor_or_self(ancestor, unit)
            || self.certs.get(unit).is_some_and(|versions| {
                versions.values().any(|c| {
                    c.body
                        .parent
                        .as_deref()
                        .is_some_and(|p| self.is_ancestor_or_self(ancestor, p))
                })
            })
    }

    /// Whether some unit has certificate versions under different parents (it was, or
    /// will be, re-parented): only then can the hierarchy at another time differ from
    /// the one in force.
    pub fn has_moves(&self) -> bool {
        self.moves
    }

    /// The parent of `unit` under the version in force at `at_ms` (the earliest version
    /// before any took effect), as [`Directory::set_now`] picks it.
    pub fn parent_at(&self, unit: &str, at_ms: i64) -> Option<&str> {
        let versions = self.certs.get(unit)?;
        versions
            .values()
            .rev()
            .find(|c| c.body.effective_ms <= at_ms)
            .or_else(|| versions.values().next())?
            .body
            .parent
            .as_deref()
    }

    /// `unit` and every unit below it under the hierarchy in force at `at_ms`
    /// (pre-order, children sorted, as [`Directory::subtree`]).
    pub fn subtree_at(&self, unit: &str, at_ms: i64) -> Vec<String> {
        if !self.contains(unit) {
            return Vec::new();
        }
        let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for u in self.certs.keys() {
            if let Some(p) = self.parent_at(u, at_ms) {
                children.entry(p).or_default().push(u.as_str());
            }
        }
        let mut out = Vec::new();
        let mut stack = vec![(unit, 0usize)];
        while let Some((u, depth)) = stack.pop() {
            if depth < MAX_DEPTH {
                if let Some(kids) = children.get(u) {
                    stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
                }
            }
            out.push(u.to_string());
        }
        out
    }

    /// Whether `parent` is, or under another version of `unit`'s certificate was (or will
    /// be), `unit`'s parent.
    pub fn is_or_was_parent(&self, unit: &str, parent: &str) -> bool {
        self.certs.get(unit).is_some_and(|versions| {
            versions
                .values()
                .any(|c| c.body.parent.as_deref() == Some(parent))
        })
    }

    /// The certificate of `unit` with the highest version known, in force or not yet.
    pub fn latest_cert(&self, unit: &str) -> Option<&Certificate> {
        self.certs.get(unit)?.values().next_back()
    }

    /// `unit` and its current ancestors, nearest first.
    pub fn ancestors_or_self(&self, unit: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = Some(unit);
        while let Some(u) = cur {
            if out.len() >= MAX_DEPTH || !self.contains(u) {
                break;
            }
            out.push(u.to_string());
            cur = self.parent(u);
        }
        out
    }

    /// `unit` and every unit below it under the current hierarchy (pre-order).
    pub fn subtree(&self, unit: &str) -> Vec<String> {
        let mut out = Vec::new();
        if !self.contains(unit) {
            return out;
        }
        let mut stack = vec![(unit.to_string(), 0usize)];
        while let Some((u, depth)) = stack.pop() {
            if depth < MAX_DEPTH {
                let kids: Vec<String> = self.children(&u).map(str::to_string).collect();
                stack.extend(kids.into_iter().rev().map(|k| (k, depth + 1)));
            }
            out.push(u);
        }
        out
    }

    /// Every certificate (all versions) for the given units and the chains that make
    /// them verifiable (their issuers' certificates), deduplicated.
    pub fn certs_for<'a>(&self, units: impl IntoIterator<Item = &'a str>) -> Vec<Certificate> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let mut queue: Vec<String> = units.into_iter().map(str::to_string).collect();
        while let Some(u) = queue.pop() {
            if !seen.insert(u.clone()) {
                continue;
            }
            if let Some(versions) = self.certs.get(&u) {
                for c in versions.values() {
                    if let Some(iu) = self.by_key.get(&c.body.issuer) {
                        queue.push(iu.clone());
                    }
                    out.push(c.clone());
                }
            }
        }
        out
    }

    /// Every accepted certificate.
    pub fn all_certs(&self) -> impl Iterator<Item = &Certificate> {
        self.certs.values().flat_map(|v| v.values())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn body(unit: &str, parent: Option<&str>, key: &NodeKey, issuer: &NodeKey) -> CertBody {
        CertBody {
            unit: unit.into(),
            name: unit.to_uppercase(),
            level: "x".into(),
            parent: parent.map(str::to_string),
            key: key.id(),
            version: 1,
            effective_ms: 0,
            delegate: false,
            issuer: issuer.id(),
        }
    }

    #[test]
    fn hierarchy_delegation_and_reparenting() {
        let root = NodeKey::from_secret([1; 32]);
        let d1 = NodeKey::from_secret([2; 32]);
        let d2 = NodeKey::from_secret([3; 32]);
        let s = NodeKey::from_secret([4; 32]);
        let mut dir = Directory::new(root.id());
        // The school certified by a delegated district arrives before the district.
        let mut d1b = body("d1", Some("so"), &d1, &root);
        d1b.delegate = true;
        let s_cert = Certificate::issue(body("s", Some("d1"), &s, &d1), &d1);
        assert!(matches!(dir.insert(s_cert), Err(CertError::Pending(_))));
        dir.insert(Certificate::issue(body("so", None, &root, &root), &root))
            .unwrap();
        dir.insert(Certificate::issue(d1b, &root)).unwrap();
        assert_eq!(dir.parent("s"), Some("d1"));
        assert_eq!(dir.subtree("so"), vec!["so", "d1", "s"]);
        // d2 is not delegated: it cannot certify anything.
        dir.insert(Certificate::issue(
            body("d2", Some("so"), &d2, &root),
            &root,
        ))
        .unwrap();
        let x = NodeKey::from_secret([5; 32]);
        let bad = Certificate::issue(body("x", Some("d2"), &x, &d2), &d2);
        assert!(matches!(
            dir.insert(bad),
            Err(CertError::Unauthorized { .. })
        ));
        // Re-parent s under d2 with a new version from the root.
        let mut moved = body("s", Some("d2"), &s, &root);
        moved.version = 2;
        moved.effective_ms = 1000;
        dir.insert(Certificate::issue(moved, &root)).unwrap();
        dir.set_now(500);
        assert_eq!(dir.parent("s"), Some("d1"));
        dir.set_now(2000);
        assert_eq!(dir.parent("s"), Some("d2"));
        assert!(dir.is_ancestor_or_self("d2", "s"));
        assert!(!dir.is_ancestor_or_self("d1", "s"));
        assert_eq!(dir.unit_of(&s.id()), Some("s"));
        // A delegated district cannot take a unit that is not below it, nor give one of
        // its own units another key, nor jump the version out of the root's reach.
        let mut d2b = body("d2", Some("so"), &d2, &root);
        d2b.delegate = true;
        d2b.version = 2;
        dir.insert(Certificate::issue(d2b, &root)).unwrap();
        dir.set_now(2000);
        let d3 = NodeKey::from_secret([6; 32]);
        let mut d3b = body("d3", Some("so"), &d3, &root);
        d3b.delegate = true;
        dir.insert(Certificate::issue(d3b, &root)).unwrap();
        let mut grab = body("s", Some("d3"), &s, &d3);
        grab.version = 3;
        assert!(matches!(
            dir.insert(Certificate::issue(grab, &d3)),
            Err(CertError::Unauthorized { .. })
        ));
        let mut rekey = body("s", Some("d2"), &x, &d2);
        rekey.version = 3;
        assert!(matches!(
            dir.insert(Certificate::issue(rekey, &d2)),
            Err(CertError::Unauthorized { .. })
        ));
        let mut far = body("s", Some("d2"), &s, &root);
        far.version = u32::MAX;
        assert!(matches!(
            dir.insert(Certificate::issue(far, &root)),
            Err(CertError::Unauthorized { .. })
        ));
        assert_eq!(dir.parent("s"), Some("d2"));
        // Tampered certificate.
        let mut t = Certificate::issue(body("y", Some("so"), &x, &root), &root);
        t.body.unit = "z".into();
        assert!(matches!(dir.insert(t), Err(CertError::BadSignature(_))));
        // A fake root.
        let fake = Certificate::issue(body("so2", None, &x, &x), &x);
        assert!(matches!(dir.insert(fake), Err(CertError::BadRoot(_))));
    }
}
