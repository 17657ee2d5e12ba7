//! Node identities: ed25519 keys, node ids and signatures.
//!
//! A node's id *is* its ed25519 public key. The same key is the libp2p identity of the
//! node and the Automerge actor id of every change the node writes, so one key binds
//! transport, log authorship and CRDT authorship together.

use std::fmt;

use ed25519_dalek::{Signer, Verifier};
use serde::{Deserialize, Serialize};

/// The public identity of a node: its ed25519 public key (32 bytes).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct NodeId(pub [u8; 32]);

impl NodeId {
    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Short form for logs: the first 8 hex digits.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }

    /// Parses the 64-hex-digit form produced by `Display`.
    pub fn from_hex(s: &str) -> Option<NodeId> {
        let v = hex::decode(s.trim()).ok()?;
        Some(NodeId(v.try_into().ok()?))
    }

    /// Checks `signature` over `message` with this key. False for a malformed key.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        match ed25519_dalek::VerifyingKey::from_bytes(&self.0) {
            Ok(key) => key
                .verify(message, &ed25519_dalek::Signature::from_bytes(&signature.0))
                .is_ok(),
            Err(_) => false,
        }
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.short())
    }
}

/// An ed25519 signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}..)", hex::encode(&self.0[..4]))
    }
}

impl Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: &[u8] = serde::Deserialize::deserialize(d)?;
        let arr: [u8; 64] = v
            .try_into()
            .map_err(|_| serde::de::Error::invalid_length(v.len(), &"64 bytes"))?;
        Ok(Signature(arr))
    }
}

/// A node's secret signing key.
///
/// Created from 32 secret bytes; callers pass in the randomness (this crate owns no
/// source of entropy, so tests and simulations stay reproducible).
#[derive(Clone)]
pub struct NodeKey(ed25519_dalek::SigningKey);

impl NodeKey {
    /// Builds a key from its 32 secret bytes.
    pub fn from_secret(secret: [u8; 32]) -> NodeKey {
        NodeKey(ed25519_dalek::SigningKey::from_bytes(&secret))
    }

    /// The 32 secret bytes (store them with mode 0600).
    pub fn secret(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The node id (public key).
    pub fn id(&self) -> NodeId {
        NodeId(self.0.verifying_key().to_bytes())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeKey({})", self.id().short())
    }
}

/// Verifies many `(key, message, signature)` triples at once, about twice as fast as one
/// by one. Returns false if any of them fails (callers then find the culprit one by one).
pub fn verify_batch(items: &[(NodeId, &[u8], Signature)]) -> bool {
    if items.is_empty() {
        return true;
    }
    let mut keys = Vec::with_capacity(items.len());
    let mut sigs = Vec::with_capacity(items.len());
    let mut msgs = Vec::with_capacity(items.len());
    for (id, msg, sig) in items {
        match ed25519_dalek::VerifyingKey::from_bytes(&id.0) {
            Ok(k) => keys.push(k),
            Err(_) => return false,
        }
        sigs.push(ed25519_dalek::Signature::from_bytes(&sig.0));
        msgs.push(*msg);
    }
    ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_hex_round_trip() {
        let key = NodeKey::from_secret([7; 32]);
        let sig = key.sign(b"hello");
        assert!(key.id().verify(b"hello", &sig));
        assert!(!key.id().verify(b"hellO", &sig));
        assert_eq!(NodeId::from_hex(&key.id().to_string()), Some(key.id()));
        let other = NodeKey::from_secret([8; 32]);
        let items = [
            (key.id(), &b"a"[..], key.sign(b"a")),
            (other.id(), &b"b"[..], other.sign(b"b")),
        ];
        assert!(verify_batch(&items));
        let bad = [(key.id(), &b"a"[..], other.sign(b"a"))];
        assert!(!verify_batch(&bad));
    }
}
