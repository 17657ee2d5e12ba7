//! Validation of received entries.
//!
//! Checks run in a fixed order so every rejection has exactly one reason:
//! decode (size, version, shape) → author certified → signature → authority over the
//! payload → Automerge actor bound to the signer → log continuity (duplicate, fork, gap).
//! The caller supplies what it holds of the author's log; this module touches no storage.

use crate::cert::Directory;
use crate::entry::{DecodeError, Entry, Hash, Payload};

/// Why an entry or frame was refused. [`Reject::key`] is the counter name the node
/// reports in `status.rejected`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// Undecodable bytes.
    #[error("malformed: {0}")]
    Malformed(String),
    /// Larger than a limit.
    #[error("oversized: {0}")]
    Oversized(String),
    /// No certificate binds the author key to a unit.
    #[error("uncertified author {0}")]
    Uncertified(String),
    /// The signature does not verify.
    #[error("bad signature on entry {0}")]
    BadSignature(String),
    /// The author may not write this payload.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A change's Automerge actor is not the signing key.
    #[error("bad actor: {0}")]
    BadActor(String),
    /// A different entry already holds this (author, seq).
    #[error("fork at {0}")]
    Fork(String),
    /// The entry does not follow the held log (missing predecessor or wrong backlink).
    #[error("out of order: {0}")]
    Gap(String),
}

impl Reject {
    /// Short counter name: `malformed`, `oversized`, `uncertified`, `bad_signature`,
    /// `unauthorized`, `bad_actor`, `fork`, `gap`.
    pub fn key(&self) -> &'static str {
        match self {
            Reject::Malformed(_) => "malformed",
            Reject::Oversized(_) => "oversized",
            Reject::Uncertified(_) => "uncertified",
            Reject::BadSignature(_) => "bad_signature",
            Reject::Unauthorized(_) => "unauthorized",
            Reject::BadActor(_) => "bad_actor",
            Reject::Fork(_) => "fork",
            Reject::Gap(_) => "gap",
        }
    }
}

impl From<DecodeError> for Reject {
    fn from(e: DecodeError) -> Reject {
        match e {
            DecodeError::Oversized(_) => Reject::Oversized(e.to_string()),
            _ => Reject::Malformed(e.to_string()),
        }
    }
}

/// What the receiver holds of the entry's author log.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogState {
    /// Highest seq held and its hash.
    pub head: Option<(u64, Hash)>,
    /// Hash of the entry held at the incoming entry's seq, if any.
    pub at_seq: Option<Hash>,
    /// Sparse logs (ancestors' logs filtered by audience) may have gaps.
    pub sparse: bool,
}

/// Outcome of a successful validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// New: append it.
    Append,
    /// Already held byte for byte: acknowledge, store nothing.
    Duplicate,
}

/// Validates a decoded entry whose signature was already checked by the caller
/// (`signature_ok`, typically from a batch verification).
pub fn check(
    entry: &Entry,
    signature_ok: bool,
    dir: &Directory,
    log: LogState,
) -> Result<Verdict, Reject> {
    let id = format!("{}#{}", entry.author().short(), entry.seq());
    let Some(unit) = dir.unit_of(&entry.author()) else {
        return Err(Reject::Uncertified(entry.author().short()));
    };
    if !signature_ok {
        return Err(Reject::BadSignature(id));
    }
    check_authority(entry, unit, dir)?;
    check_actor(entry)?;
    let seq = entry.seq();
    if let Some(h) = log.at_seq {
        return if h == entry.hash() {
            Ok(Verdict::Duplicate)
        } else {
            Err(Reject::Fork(format!(
                "{id}: a different entry is held at this seq"
            )))
        };
    }
    match log.head {
        Some((held, _)) if seq <= held => {
            // Below the head but not held: only possible in a sparse log.
            if log.sparse {
                Ok(Verdict::Append)
            } else {
                Err(Reject::Gap(format!("{id}: below the held head {held}")))
            }
        }
        Some((held, hash)) if seq == held + 1 => {
            if entry.body.backlink == Some(hash) {
                Ok(Verdict::Append)
            } else {
                Err(Reject::Fork(format!(
                    "{id}: backlink does not match entry {held}"
                )))
            }
        }
        None if seq == 1 => Ok(Verdict::Append),
        _ if log.sparse => Ok(Verdict::Append),
        head => Err(Reject::Gap(format!(
            "{id}: expected seq {}",
            head.map_or(1, |(s, _)| s + 1)
        ))),
    }
}

fn check_authority(entry: &Entry, unit: &str, dir: &Directory) -> Result<(), Reject> {
    match &entry.body.payload {
        Payload::Changes { doc, changes } => {
            if doc.unit != unit {
                return Err(Reject::Unauthorized(format!(
                    "{unit} may not write document {}",
                    doc.key()
                )));
            }
            if changes.is_empty() {
                return Err(Reject::Malformed("changes entry without changes".into()));
            }
            Ok(())
        }
        Payload::Notification { to_unit, .. } => {
            if dir.is_ancestor_or_self(unit, to_unit) {
                Ok(())
            } else {
                Err(Reject::Unauthorized(format!(
                    "{unit} may not notify {to_unit}, which is outside its subtree"
                )))
            }
        }
        Payload::Certificate(c) => {
            if c.body.issuer == entry.author() {
                Ok(())
            } else {
                Err(Reject::Unauthorized(format!(
                    "{unit} relays a certificate it did not issue"
                )))
            }
        }
        Payload::Ack { .. } => Ok(()),
    }
}

fn check_actor(entry: &Entry) -> Result<(), Reject> {
    let Payload::Changes { changes, .. } = &entry.body.payload else {
        return Ok(());
    };
    for (i, raw) in changes.iter().enumerate() {
        let change = automerge::Change::from_bytes(raw.clone())
            .map_err(|e| Reject::Malformed(format!("change {i}: {e}")))?;
        if change.actor_id().to_bytes() != entry.author().as_bytes() {
            return Err(Reject::BadActor(format!(
                "change {i} of {}#{} has actor {}, not the signer",
                entry.author().short(),
                entry.seq(),
                change.actor_id()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cert::{CertBody, Certificate};
    use crate::entry::DocId;
    use crate::identity::NodeKey;
    use automerge::transaction::Transactable;

    struct World {
        dir: Directory,
        school: NodeKey,
    }

    fn world() -> World {
        let root = NodeKey::from_secret([1; 32]);
        let school = NodeKey::from_secret([2; 32]);
        let mut dir = Directory::new(root.id());
        for (unit, parent, key) in [("so", None, &root), ("s1", Some("so"), &school)] {
            let body = CertBody {
                unit: unit.into(),
                name: unit.into(),
                level: "x".into(),
                parent: parent.map(str::to_string),
                key: key.id(),
                version: 1,
                effective_ms: 0,
                delegate: false,
                issuer: root.id(),
            };
            dir.insert(Certificate::issue(body, &root)).unwrap();
        }
        World { dir, school }
    }

    fn change_by(actor: &[u8]) -> Vec<u8> {
        let mut doc = automerge::AutoCommit::new().with_actor(automerge::ActorId::from(actor));
        doc.put(automerge::ROOT, "k", "v").unwrap();
        doc.commit();
        doc.get_changes(&[])[0].bytes().to_vec()
    }

    fn changes_entry(key: &NodeKey, unit: &str, actor: &[u8]) -> Entry {
        let doc = DocId {
            unit: unit.into(),
            collection: "students".into(),
            year: "2026-2027".into(),
        };
        let changes = vec![change_by(actor)];
        Entry::sign(key, 1, None, 0, Payload::Changes { doc, changes })
    }

    #[test]
    fn accepts_own_document_and_rejects_each_violation() {
        let w = world();
        let k = &w.school;
        let good = changes_entry(k, "s1", k.id().as_bytes());
        assert_eq!(
            check(&good, true, &w.dir, LogState::default()),
            Ok(Verdict::Append)
        );
        let dup = LogState {
            at_seq: Some(good.hash()),
            head: Some((1, good.hash())),
            sparse: false,
        };
        assert_eq!(check(&good, true, &w.dir, dup), Ok(Verdict::Duplicate));
        assert_eq!(
            check(&good, false, &w.dir, LogState::default())
                .unwrap_err()
                .key(),
            "bad_signature"
        );
        let other = changes_entry(k, "so", k.id().as_bytes());
        assert_eq!(
            check(&other, true, &w.dir, LogState::default())
                .unwrap_err()
                .key(),
            "unauthorized"
        );
        let actor = changes_entry(k, "s1", &[9; 32]);
        assert_eq!(
            check(&actor, true, &w.dir, LogState::default())
                .unwrap_err()
                .key(),
            "bad_actor"
        );
        let stranger = NodeKey::from_secret([3; 32]);
        let unc = changes_entry(&stranger, "s1", stranger.id().as_bytes());
        assert_eq!(
            check(&unc, true, &w.dir, LogState::default())
                .unwrap_err()
                .key(),
            "uncertified"
        );
        let fork = LogState {
            at_seq: Some([0; 32]),
            head: Some((1, [0; 32])),
            sparse: false,
        };
        assert_eq!(check(&good, true, &w.dir, fork).unwrap_err().key(), "fork");
        let e3 = Entry::sign(
            k,
            3,
            Some([0; 32]),
            0,
            Payload::Ack {
                author: k.id(),
                seq: 1,
            },
        );
        assert_eq!(
            check(&e3, true, &w.dir, LogState::default())
                .unwrap_err()
                .key(),
            "gap"
        );
        let sparse = LogState {
            sparse: true,
            ..LogState::default()
        };
        assert_eq!(check(&e3, true, &w.dir, sparse), Ok(Verdict::Append));
        let notify = Entry::sign(
            k,
            1,
            None,
            0,
            Payload::Notification {
                to_unit: "so".into(),
                title: "t".into(),
                body: "b".into(),
            },
        );
        assert_eq!(
            check(&notify, true, &w.dir, LogState::default())
                .unwrap_err()
                .key(),
            "unauthorized"
        );
    }
}
