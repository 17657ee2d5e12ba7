//! The link handshake and its retry policy, without I/O: what a child says first
//! ([`hello`]), how a parent admits it ([`admit`]), and how long an end waits after a
//! failure ([`Backoff`]).
//!
//! The order of a connection: the child sends `Hello` (the certificates of its subtree);
//! the parent stores the certificates it did not know, admits the child only if the
//! connection's key is the one certified for the unit and the unit's parent in force is
//! the parent's own unit, and answers `Welcome` (the certificates of its chain to the
//! root), or `Refused` (then the child hangs up and dials again after its backoff). Then
//! the child sends its `Heights` and the parent, once per connection, answers it with its
//! own; pages follow ([`crate::sync::Session`]). `eduioc-net` and the simulator both drive
//! these functions, so a node and a simulated node admit and refuse alike.

use std::time::Duration;

use crate::sync::{Role, Session};
use crate::wire::{Request, Response};
use crate::{Directory, NodeId};

/// A child's opening request: its unit and the certificates of its subtree (the parent
/// may not know units created below the child since it was provisioned).
pub fn hello(dir: &Directory, me: &str) -> Request {
    let subtree = dir.subtree(me);
    Request::Hello {
        unit: me.to_string(),
        certs: dir.certs_for(subtree.iter().map(String::as_str)),
    }
}

/// Why a parent refuses a `Hello`: the reason key (as counted in `rejected`) and a
/// sentence for the child's operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `uncertified` (the connection's key is not the unit's) or `unauthorized` (the unit
    /// is not this node's child under the hierarchy in force).
    pub key: &'static str,
    /// What was wrong, naming the unit.
    pub reason: String,
}

impl Refusal {
    /// The `Refused` response that carries it.
    pub fn response(&self) -> Response {
        Response::Refused {
            key: self.key.into(),
            reason: self.reason.clone(),
        }
    }
}

/// The parent `me` admits `unit`, whose connection presents a key that `is_peer` accepts
/// (a libp2p peer id derived from it, say). `dir` already holds the certificates of the
/// `Hello`. Returns the session of the link (this end plays the parent: the remote is
/// the child) and the `Welcome` to send.
pub fn admit(
    dir: &Directory,
    me: &str,
    unit: &str,
    is_peer: impl FnOnce(&NodeId) -> bool,
) -> Result<(Session, Response), Refusal> {
    if !dir.key_of(unit).is_some_and(|k| is_peer(&k)) {
        return Err(Refusal {
            key: "uncertified",
            reason: format!("the connection is not the certified key of {unit:?}"),
        });
    }
    if dir.parent(unit) != Some(me) {
        return Err(Refusal {
            key: "unauthorized",
            reason: format!("{unit} is not a child of {me}"),
        });
    }
    let chain = dir.certs_for(dir.ancestors_or_self(me).iter().map(String::as_str));
    let welcome = Response::Welcome {
        unit: me.to_string(),
        certs: chain,
    };
    Ok((Session::new(me, unit, Role::Child), welcome))
}

/// A capped, doubling delay: a child re-dials a parent that refused or failed it, and an
/// end retries a failed request, after it. A success resets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    delay: Duration,
}

impl Backoff {
    /// Starts at `min`, doubles up to `max`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            delay: min,
        }
    }

    /// A failure: how long to wait now; the next failure waits twice as long (capped).
    pub fn after_failure(&mut self) -> Duration {
        let now = self.delay;
        self.delay = (self.delay * 2).min(self.max);
        now
    }

    /// A success: the next failure waits the shortest delay again.
    pub fn reset(&mut self) {
        self.delay = self.min;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{CertBody, Certificate, NodeKey};

    fn dir() -> (Directory, Vec<NodeKey>) {
        let keys: Vec<NodeKey> = (1..=4u8).map(|i| NodeKey::from_secret([i; 32])).collect();
        let mut dir = Directory::new(keys[0].id());
        for (i, unit, parent, level) in [
            (0, "so", None, "department"),
            (1, "d1", Some("so"), "district"),
            (2, "d2", Some("so"), "district"),
            (3, "s1", Some("d1"), "school"),
        ] {
            let body = CertBody {
                unit: unit.into(),
                name: unit.into(),
                level: level.into(),
                parent: parent.map(str::to_string),
                key: keys[i].id(),
                version: 1,
                effective_ms: 0,
                delegate: level != "school",
                issuer: keys[0].id(),
            };
            dir.insert(Certificate::issue(body, &keys[0])).unwrap();
        }
        (dir, keys)
    }

    #[test]
    fn a_parent_admits_its_certified_child_and_refuses_the_rest() {
        let (dir, keys) = dir();
        let s1 = keys[3].id();
        let (_, welcome) = admit(&dir, "d1", "s1", |k| *k == s1).unwrap();
        match welcome {
            Response::Welcome { unit, certs } => {
                assert_eq!(unit, "d1");
                let units: Vec<&str> = certs.iter().map(|c| c.body.unit.as_str()).collect();
                assert_eq!(units, ["so", "d1"], "the chain of the parent to the root");
            }
            other => panic!("{other:?}"),
        }
        let stranger = NodeKey::from_secret([9; 32]).id();
        assert_eq!(
            admit(&dir, "d1", "s1", |k| *k == stranger).unwrap_err().key,
            "uncertified"
        );
        assert_eq!(
            admit(&dir, "d1", "ghost", |_| true).unwrap_err().key,
            "uncertified"
        );
        // A school presenting itself to a district that is not its parent.
        let refused = admit(&dir, "d2", "s1", |k| *k == s1).unwrap_err();
        assert_eq!(refused.key, "unauthorized");
        assert_eq!(refused.reason, "s1 is not a child of d2");
    }

    #[test]
    fn a_child_says_hello_with_its_subtree() {
        let (dir, _) = dir();
        match hello(&dir, "d1") {
            Request::Hello { unit, certs } => {
                assert_eq!(unit, "d1");
                let mut units: Vec<&str> = certs.iter().map(|c| c.body.unit.as_str()).collect();
                units.sort();
                // Its subtree, and the issuers of those certificates (the root's).
                assert_eq!(units, ["d1", "s1", "so"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(30), Duration::from_secs(100));
        let waits: Vec<u64> = (0..4).map(|_| b.after_failure().as_secs()).collect();
        assert_eq!(waits, [30, 60, 100, 100]);
        b.reset();
        assert_eq!(b.after_failure().as_secs(), 30);
    }
}
