//! Signed, hash-chained log entries and their payloads.
//!
//! Every node appends to one log of its own. An entry names its author, its position
//! (`seq`, from 1), the hash of the previous entry (`backlink`), the author's wall clock,
//! and a [`Payload`], and is signed by the author. Parents store and forward the exact
//! bytes, so every hop re-verifies the original author's signature.
//!
//! Wire form (`ENTRY_VERSION` 1): `[version] ++ postcard(EntryBody) ++ signature(64)`.
//! The signature covers `b"eduioc/entry/v1" ++ [version] ++ postcard(body)`; the entry hash
//! is SHA-256 of the whole wire form. Decoding re-encodes the body and requires identical
//! bytes, so every entry has exactly one encoding and one hash.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cert::Certificate;
use crate::identity::{NodeId, NodeKey, Signature};

/// Encoding version of entries produced by this build.
pub const ENTRY_VERSION: u8 = 1;
/// Largest accepted entry (wire form), bytes.
pub const MAX_ENTRY_BYTES: usize = 4 * 1024 * 1024;
const ENTRY_DOMAIN: &[u8] = b"eduioc/entry/v1";

/// SHA-256 of an entry's wire form.
pub type Hash = [u8; 32];

/// Names one records document: one per (unit, collection, school year).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DocId {
    /// The unit that owns (and alone writes) the document.
    pub unit: String,
    /// `students`, `staff`, `classes` or `profile`.
    pub collection: String,
    /// School year, e.g. `2026-2027`.
    pub year: String,
}

impl DocId {
    /// The storage key `unit/collection/year`.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.unit, self.collection, self.year)
    }

    /// Parses [`DocId::key`].
    pub fn from_key(key: &str) -> Option<DocId> {
        let mut it = key.splitn(3, '/');
        Some(DocId {
            unit: it.next()?.to_string(),
            collection: it.next()?.to_string(),
            year: it.next()?.to_string(),
        })
    }
}

/// What an entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// Automerge changes (compressed chunk form, `Change::bytes()`) to one document of the
    /// author's own unit; every change's actor id must be the author's key.
    Changes {
        /// The document changed.
        doc: DocId,
        /// The changes, in causal order.
        changes: Vec<Vec<u8>>,
    },
    /// A certificate issued by the author (the root or a delegated office), sent down.
    Certificate(Certificate),
    /// A notification from an office to every node of a subtree.
    Notification {
        /// Unit whose subtree receives it (the author's own unit or one below it).
        to_unit: String,
        /// Short title.
        title: String,
        /// Body text.
        body: String,
    },
    /// A read receipt for a notification, travelling up.
    Ack {
        /// Author of the notification's entry.
        author: NodeId,
        /// Its seq.
        seq: u64,
    },
    /// A snapshot of one document of the author's own unit: the document at `heads`
    /// holds everything the author's entries at `replaces` wrote to it. The document's
    /// bytes (a `save()`) are not in the entry: a sender puts them beside it, in the page,
    /// for a receiver that holds none of the replaced entries (see [`crate::snapshot`]).
    Snapshot {
        /// The document.
        doc: DocId,
        /// Its Automerge heads (change hashes), ascending.
        heads: Vec<[u8; 32]>,
        /// Seqs of the author's earlier entries about `doc` (changes and snapshots) that
        /// this one replaces, as canonical inclusive ranges.
        replaces: Vec<(u64, u64)>,
    },
    /// A target an office sets for a unit of its subtree, for one school year: the
    /// indicator `indicator` should be `op` (`<=` or `>=`) `value`. It travels down to the
    /// unit's node (and up with the office's log). A later target of the same office for
    /// the same unit, year and indicator replaces it.
    Target {
        /// The unit the target is for (the author's own unit or one below it).
        unit: String,
        /// The school year, `YYYY-YYYY`.
        year: String,
        /// The indicator's code (`dropout_rate`, …).
        indicator: String,
        /// `<=` or `>=`.
        op: String,
        /// The value to reach, finite.
        value: Number,
    },
    /// An acknowledgement of an alert, travelling up.
    AlertAck {
        /// The alert's id.
        id: String,
        /// What the acknowledging node says about it.
        note: String,
    },
    /// A step of a school's report for a term, the signed replacement of the paper seal:
    /// the school `submit`s the term's figures and the heads of the documents they come
    /// from; its parent `return`s it with a comment or `approve`s it; the root `accept`s
    /// it. A submission stays as it was signed: later changes to the school's data show
    /// against it.
    Report {
        /// The school the report is of.
        school: String,
        /// School year, `YYYY-YYYY`.
        year: String,
        /// `HK1`, `HK2` or `CN`.
        term: String,
        /// `submit`, `return`, `approve` or `accept`.
        step: String,
        /// What the step says (why a report is returned).
        comment: String,
        /// On `submit`: the figures submitted, by name (finite numbers); empty otherwise.
        figures: Vec<(String, Number)>,
        /// On `submit`: the Automerge heads of the school's documents of that year, by
        /// document key, that the figures were computed from.
        heads: Vec<(String, Vec<[u8; 32]>)>,
    },
    /// The figures of documents of the author's subtree, signed by the office that
    /// computed them: what travels above a privacy boundary (`records_up_to` in
    /// `node.toml`), where the documents themselves do not. Each summary is opaque here
    /// (postcard bytes of the records crate's `Summary`, without personal ids).
    Summaries {
        /// (document key `unit/collection/year`, its summary's bytes).
        docs: Vec<(String, Vec<u8>)>,
        /// The latest author timestamp the office holds of each unit concerned (Unix ms).
        seen: Vec<(String, i64)>,
    },
    /// One action of a user of the author's node (a login, an import, a target, an account
    /// change, …): the audit trail. It travels up, so the node's ancestors hold it too,
    /// and like every entry it cannot be changed without breaking its signature and the
    /// backlink of the entry after it.
    Audit {
        /// Who: the account's user name (`api` for the JSON API's token).
        user: String,
        /// What, as a code: `login`, `login_failed`, `import`, `edit`, `target`, …
        action: String,
        /// What it was about, in words (the file and its rows, the target, …).
        detail: String,
    },
}

/// A finite number carried in a payload, compared by its bits (so a payload is `Eq`); a
/// non-finite one is refused by validation.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Number(pub f64);

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Number {}

impl Payload {
    /// Short name for logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Changes { .. } => "changes",
            Payload::Certificate(_) => "certificate",
            Payload::Notification { .. } => "notification",
            Payload::Ack { .. } => "ack",
            Payload::Snapshot { .. } => "snapshot",
            Payload::Target { .. } => "target",
            Payload::AlertAck { .. } => "alert_ack",
            Payload::Audit { .. } => "audit",
            Payload::Report { .. } => "report",
            Payload::Summaries { .. } => "summaries",
        }
    }

    /// The unit whose subtree the payload is addressed to when it travels *down* the tree;
    /// `None` for payloads that only travel up.
    pub fn audience(&self) -> Option<&str> {
        match self {
            Payload::Certificate(c) => Some(c.body.unit.as_str()),
            Payload::Notification { to_unit, .. } => Some(to_unit.as_str()),
            Payload::Target { unit, .. } => Some(unit.as_str()),
            // A submission goes up with the school's log; a review also down to the school.
            Payload::Report { school, step, .. } => (step != "submit").then_some(school.as_str()),
            Payload::Changes { .. }
            | Payload::Ack { .. }
            | Payload::Snapshot { .. }
            | Payload::AlertAck { .. }
            | Payload::Summaries { .. }
            | Payload::Audit { .. } => None,
        }
    }
}

/// The signed part of an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryBody {
    /// The author's key.
    pub author: NodeId,
    /// Position in the author's log, from 1.
    pub seq: u64,
    /// Hash of entry `seq - 1`; `None` exactly when `seq == 1`.
    pub backlink: Option<Hash>,
    /// Author's wall clock, Unix milliseconds (informational).
    pub timestamp_ms: i64,
    /// What the entry carries.
    pub payload: Payload,
}

/// A decoded, self-consistent entry (signature not yet checked: see [`Entry::verify`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The signed fields.
    pub body: EntryBody,
    /// The author's signature.
    pub signature: Signature,
    bytes: Vec<u8>,
    hash: Hash,
}

/// Why bytes are not an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Larger than [`MAX_ENTRY_BYTES`].
    #[error("entry of {0} bytes exceeds the limit of {MAX_ENTRY_BYTES}")]
    Oversized(usize),
    /// Unknown encoding version.
    #[error("unknown entry version {0}")]
    Version(u8),
    /// Anything else: truncated, trailing bytes, non-canonical, undecodable.
    #[error("malformed entry: {0}")]
    Malformed(String),
}

impl Entry {
    /// Builds and signs the next entry of `key`'s log.
    pub fn sign(
        key: &NodeKey,
        seq: u64,
        backlink: Option<Hash>,
        timestamp_ms: i64,
        payload: Payload,
    ) -> Entry {
        let body = EntryBody {
            author: key.id(),
            seq,
            backlink,
            timestamp_ms,
            payload,
        };
        let mut bytes = vec![ENTRY_VERSION];
        bytes.extend(postcard::to_stdvec(&body).unwrap_or_default());
        let signature = key.sign(&signed_message(&bytes));
        bytes.extend_from_slice(&signature.0);
        let hash = Sha256::digest(&bytes).into();
        Entry {
            body,
            signature,
            bytes,
            hash,
        }
    }

    /// Decodes the wire form, checking size, version and canonical encoding.
    pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(DecodeError::Oversized(bytes.len()));
        }
        if bytes.len() < 1 + 64 {
            return Err(DecodeError::Malformed(format!(
                "{} bytes is too short",
                bytes.len()
            )));
        }
        if bytes[0] != ENTRY_VERSION {
            return Err(DecodeError::Version(bytes[0]));
        }
        let (head, sig) = bytes.split_at(bytes.len() - 64);
        let body: EntryBody =
            postcard::from_bytes(&head[1..]).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        let canonical =
            postcard::to_stdvec(&body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if canonical != head[1..] {
            return Err(DecodeError::Malformed("non-canonical encoding".into()));
        }
        if (body.seq == 1) != body.backlink.is_none() || body.seq == 0 {
            return Err(DecodeError::Malformed(format!(
                "seq {} with {} backlink",
                body.seq,
                if body.backlink.is_some() { "a" } else { "no" }
            )));
        }
        let mut s = [0u8; 64];
        s.copy_from_slice(sig);
        Ok(Entry {
            body,
            signature: Signature(s),
            bytes: bytes.to_vec(),
            hash: Sha256::digest(bytes).into(),
        })
    }

    /// The wire form.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the entry, returning its wire form.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// SHA-256 of the wire form.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// Author key.
    pub fn author(&self) -> NodeId {
        self.body.author
    }

    /// Position in the author's log.
    pub fn seq(&self) -> u64 {
        self.body.seq
    }

    /// The message the signature covers.
    pub fn signed_message(&self) -> Vec<u8> {
        signed_message(&self.bytes[..self.bytes.len() - 64])
    }

    /// Checks the author's signature.
    pub fn verify(&self) -> bool {
        self.body
            .author
            .verify(&self.signed_message(), &self.signature)
    }
}

fn signed_message(head: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(ENTRY_DOMAIN.len() + head.len());
    m.extend_from_slice(ENTRY_DOMAIN);
    m.extend_from_slice(head);
    m
}

/// Verifies the signatures of many entries, batching where possible. Returns one flag
/// per entry.
pub fn verify_all(entries: &[Entry]) -> Vec<bool> {
    let msgs: Vec<Vec<u8>> = entries.iter().map(Entry::signed_message).collect();
    let items: Vec<_> = entries
        .iter()
        .zip(&msgs)
        .map(|(e, m)| (e.body.author, m.as_slice(), e.signature))
        .collect();
    if crate::identity::verify_batch(&items) {
        vec![true; entries.len()]
    } else {
        entries.iter().map(Entry::verify).collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(seq: u64) -> Entry {
        let key = NodeKey::from_secret([9; 32]);
        Entry::sign(
            &key,
            seq,
            (seq > 1).then_some([3; 32]),
            1_700_000_000_000,
            Payload::Notification {
                to_unit: "pgd-a".into(),
                title: "Họp giao ban".into(),
                body: "Thứ Hai 8h".into(),
            },
        )
    }

    #[test]
    fn round_trip_and_verify() {
        let e = sample(2);
        let d = Entry::decode(e.bytes()).unwrap();
        assert_eq!(d, e);
        assert!(d.verify());
        assert_eq!(verify_all(&[d.clone(), e.clone()]), vec![true, true]);
    }

    #[test]
    fn limits_and_shape() {
        assert!(matches!(
            Entry::decode(&[1; 10]),
            Err(DecodeError::Malformed(_))
        ));
        let mut big = vec![1u8; MAX_ENTRY_BYTES + 1];
        big[0] = 1;
        assert!(matches!(
            Entry::decode(&big),
            Err(DecodeError::Oversized(_))
        ));
        let mut v = sample(1).into_bytes();
        v[0] = 9;
        assert!(matches!(Entry::decode(&v), Err(DecodeError::Version(9))));
        let mut trailing = sample(1).into_bytes();
        trailing.insert(trailing.len() - 64, 0);
        assert!(Entry::decode(&trailing).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, rng_seed: proptest::test_runner::RngSeed::Fixed(7), ..ProptestConfig::default() })]
        /// Any single flipped bit makes the entry fail to decode or fail to verify.
        #[test]
        fn any_flipped_bit_fails(seq in 1u64..1000, bit in 0usize..10_000) {
            let e = sample(seq);
            let mut bytes = e.bytes().to_vec();
            let bit = bit % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            match Entry::decode(&bytes) {
                Err(_) => {}
                Ok(d) => prop_assert!(!d.verify()),
            }
        }

        #[test]
        fn round_trips(seq in 1u64..u64::MAX, ts in any::<i64>(), title in ".{0,40}", body in ".{0,200}") {
            let key = NodeKey::from_secret([4; 32]);
            let e = Entry::sign(&key, seq, (seq > 1).then_some([1; 32]), ts,
                Payload::Notification { to_unit: "x".into(), title, body });
            let d = Entry::decode(e.bytes()).unwrap();
            prop_assert!(d.verify());
            prop_assert_eq!(d, e);
        }
    }
}
