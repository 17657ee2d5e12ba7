//! The sans-IO core of EduIOC: identities, certificates, signed log entries, validation,
//! wire messages and the sync state machine.
//!
//! Nothing here touches sockets, disks, clocks or randomness: time, keys and storage reads
//! are passed in, so the node (`eduioc-net` over libp2p) and the simulator drive the very
//! same code.
//!
//! Brief overview:
//! - [`identity`]: [`NodeKey`] signs, [`NodeId`] (the ed25519 public key) names a node.
//! - [`cert`]: [`Certificate`]s issued from the root bind units to keys; the
//!   [`Directory`] is the hierarchy they describe.
//! - [`entry`]: an [`Entry`] is one signed, hash-chained step of a node's log carrying a
//!   [`Payload`] (Automerge changes to one document, a certificate, a notification, an ack).
//! - [`validate`]: decides whether a received entry is appended, a duplicate, or rejected
//!   (and why: [`Reject::key`]).
//! - [`snapshot`]: snapshot entries, which let a receiver without a document's history
//!   load the document whole instead of replaying its changes.
//! - [`wire`]: the sync requests and responses and their framing.
//! - [`link`]: the handshake of a link (`Hello`, admission, `Welcome`) and its backoff.
//! - [`sync`]: the per-link [`Session`]: compare heights, then stream bounded pages.

pub mod cert;
pub mod entry;
pub mod identity;
pub mod link;
mod pack;
pub mod snapshot;
pub mod sync;
pub mod validate;
pub mod wire;

pub use cert::{CertBody, CertError, Certificate, Directory};
pub use entry::{DocId, Entry, Hash, Payload};
pub use identity::{NodeId, NodeKey, Signature};
pub use sync::{LogSource, Role, Session};
pub use validate::{Reject, Verdict};
