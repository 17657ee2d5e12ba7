//! Sync messages exchanged between a node and its parent or children.
//!
//! Every message is a request that gets exactly one response (the transport tags them).
//! A frame is `[WIRE_VERSION] ++ postcard(message)`, at most [`MAX_FRAME_BYTES`].
//!
//! A session: the child sends [`Request::Hello`] with the certificates of its subtree;
//! the parent answers [`Response::Welcome`] with the certificates the child needs. Then
//! each side sends [`Request::Heights`] — what it holds of the authors it wants from the
//! other — and the other streams what is missing as [`Request::Page`]s, each answered
//! [`Response::Acked`] only after the receiver has committed it. A page may carry, beside
//! a snapshot entry, the saved document it signs (see [`crate::snapshot`]).
//!
//! Version 2 added the page's `docs`; version 3 packs a page's entries ([`crate::pack`]:
//! the backlink implied by the page, the rest deflated).

use serde::{Deserialize, Serialize};

use crate::cert::Certificate;
use crate::identity::NodeId;

/// Encoding version of frames produced by this build.
pub const WIRE_VERSION: u8 = 3;
/// Largest frame accepted from a peer.
pub const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;
/// Most entries in one page.
pub const MAX_PAGE_ENTRIES: usize = 512;
/// Target size of a page (a single larger entry is still sent alone).
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;
/// Most heights in one message.
pub const MAX_HEIGHTS: usize = 200_000;

/// A request from one peer to the other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// First message of a child: who it is and the certificates of its subtree.
    Hello {
        /// The unit the sender speaks for.
        unit: String,
        /// Certificates the receiver may need to verify the sender's subtree.
        certs: Vec<Certificate>,
    },
    /// What the sender holds of the authors it wants from the receiver: send me the rest.
    Heights {
        /// (author, highest seq held). Authors not listed are held at 0.
        heights: Vec<(NodeId, u64)>,
    },
    /// Entries in wire form, in log order per author.
    Page {
        /// The entries (packed on the wire: [`crate::pack`]).
        #[serde(with = "crate::pack")]
        entries: Vec<Vec<u8>>,
        /// Saved documents sent beside snapshot entries: (index in `entries`, the
        /// document's `save()` at the entry's heads).
        docs: Vec<(u32, Vec<u8>)>,
    },
}

/// The answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Hello accepted.
    Welcome {
        /// The unit the responder speaks for.
        unit: String,
        /// Certificates the child needs (its ancestors' chain).
        certs: Vec<Certificate>,
    },
    /// Heights received.
    Ok,
    /// A page was committed: the responder's heights, after the page, for its authors.
    Acked {
        /// (author, highest seq now held) for every author in the page.
        heights: Vec<(NodeId, u64)>,
        /// How many entries of the page were rejected.
        rejected: u32,
    },
    /// The request was refused.
    Refused {
        /// Counter key, e.g. `uncertified`, `malformed`.
        key: String,
        /// Human-readable reason.
        reason: String,
    },
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME_BYTES}")]
    Oversized(usize),
    /// Unknown version or undecodable content.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

impl FrameError {
    /// Counter key: `oversized` or `malformed`.
    pub fn key(&self) -> &'static str {
        match self {
            FrameError::Oversized(_) => "oversized",
            FrameError::Malformed(_) => "malformed",
        }
    }
}

/// Encodes a message as a frame.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut v = vec![WIRE_VERSION];
    v.extend(postcard::to_stdvec(msg).unwrap_or_default());
    v
}

/// Decodes a frame.
pub fn decode<T: for<'de> Deserialize<'de>>(frame: &[u8]) -> Result<T, FrameError> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err(FrameError::Oversized(frame.len()));
    }
    match frame.first() {
        Some(&WIRE_VERSION) => {}
        Some(v) => return Err(FrameError::Malformed(format!("unknown version {v}"))),
        None => return Err(FrameError::Malformed("empty frame".into())),
    }
    let (msg, rest) =
        postcard::take_from_bytes(&frame[1..]).map_err(|e| FrameError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(FrameError::Malformed(format!(
            "{} trailing bytes",
            rest.len()
        )));
    }
    Ok(msg)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, rng_seed: proptest::test_runner::RngSeed::Fixed(11), ..ProptestConfig::default() })]
        #[test]
        fn requests_round_trip(heights in proptest::collection::vec((any::<[u8; 32]>(), any::<u64>()), 0..50),
                               entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 0..10)) {
            let h = Request::Heights { heights: heights.into_iter().map(|(k, s)| (NodeId(k), s)).collect() };
            prop_assert_eq!(decode::<Request>(&encode(&h)).unwrap(), h);
            let docs = entries.iter().take(2).enumerate().map(|(i, e)| (i as u32, e.clone())).collect();
            let p = Request::Page { entries, docs };
            prop_assert_eq!(decode::<Request>(&encode(&p)).unwrap(), p);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode::<Request>(&bytes);
            let _ = decode::<Response>(&bytes);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, rng_seed: proptest::test_runner::RngSeed::Fixed(12), ..ProptestConfig::default() })]
        /// Random bytes behind the current version byte: every case reaches the decoder.
        #[test]
        fn garbage_after_the_version_byte_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut frame = vec![WIRE_VERSION];
            frame.extend(body);
            reaches_the_decoder(&frame)?;
        }

        /// Valid frames of every message kind, mutated: flipped bits, overwritten, inserted
        /// and removed bytes, truncation; the version byte is kept, so the decoder reads
        /// well-formed structure up to the damage.
        #[test]
        fn mutated_valid_frames_never_panic(msg in arb_message(),
                                            edits in proptest::collection::vec(arb_edit(), 1..5)) {
            let mut frame = match &msg {
                Ok(req) => encode(req),
                Err(resp) => encode(resp),
            };
            for e in &edits {
                e.apply(&mut frame);
            }
            reaches_the_decoder(&frame)?;
        }
    }

    /// Decodes `frame` (which starts with the current version byte) as either message kind:
    /// no panic, and a refusal comes from the message decoder, not the version check.
    fn reaches_the_decoder(frame: &[u8]) -> Result<(), TestCaseError> {
        prop_assert_eq!(frame.first(), Some(&WIRE_VERSION));
        for err in [
            decode::<Request>(frame).err(),
            decode::<Response>(frame).err(),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(
                matches!(&err, FrameError::Malformed(m) if !m.starts_with("unknown version")),
                "{:?}",
                err
            );
        }
        Ok(())
    }

    /// One change to a frame; positions wrap around the frame, never touching byte 0.
    #[derive(Clone, Debug)]
    enum Edit {
        Flip(usize, u8),
        Set(usize, u8),
        Insert(usize, u8),
        Remove(usize),
        Truncate(usize),
    }

    impl Edit {
        fn apply(&self, f: &mut Vec<u8>) {
            let at = |i: usize, len: usize| 1 + i % len.max(1);
            match *self {
                Edit::Flip(i, bit) if f.len() > 1 => {
                    let i = at(i, f.len() - 1);
                    f[i] ^= 1 << (bit % 8);
                }
                Edit::Set(i, b) if f.len() > 1 => {
                    let i = at(i, f.len() - 1);
                    f[i] = b;
                }
                Edit::Insert(i, b) => {
                    let i = at(i, f.len());
                    f.insert(i.min(f.len()), b);
                }
                Edit::Remove(i) if f.len() > 1 => {
                    let i = at(i, f.len() - 1);
                    f.remove(i);
                }
                Edit::Truncate(n) => f.truncate(at(n, f.len())),
                _ => {}
            }
        }
    }

    fn arb_edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
            any::<usize>().prop_map(Edit::Remove),
            any::<usize>().prop_map(Edit::Truncate),
        ]
    }

    fn arb_id() -> impl Strategy<Value = NodeId> {
        proptest::array::uniform32(any::<u8>()).prop_map(NodeId)
    }

    fn arb_cert() -> impl Strategy<Value = Certificate> {
        (
            ("[a-z0-9-]{1,12}", ".{0,12}", "[a-z]{0,8}"),
            proptest::option::of("[a-z0-9-]{1,12}"),
            (arb_id(), arb_id()),
            (any::<u32>(), any::<i64>(), any::<bool>()),
            (
                proptest::array::uniform32(any::<u8>()),
                proptest::array::uniform32(any::<u8>()),
            ),
        )
            .prop_map(
                |(
                    (unit, name, level),
                    parent,
                    (key, issuer),
                    (version, effective_ms, delegate),
                    (s1, s2),
                )| {
                    let mut sig = [0u8; 64];
                    sig[..32].copy_from_slice(&s1);
                    sig[32..].copy_from_slice(&s2);
                    Certificate {
                        body: crate::cert::CertBody {
                            unit,
                            name,
                            level,
                            parent,
                            key,
                            version,
                            effective_ms,
                            delegate,
                            issuer,
                        },
                        signature: crate::identity::Signature(sig),
                    }
                },
            )
    }

    fn arb_heights() -> impl Strategy<Value = Vec<(NodeId, u64)>> {
        proptest::collection::vec((arb_id(), any::<u64>()), 0..6)
    }

    fn arb_bytes() -> impl Strategy<Value = Vec<Vec<u8>>> {
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..4)
    }

    /// A request (`Ok`) or a response (`Err`) of any kind.
    fn arb_message() -> impl Strategy<Value = Result<Request, Response>> {
        prop_oneof![
            (".{0,16}", proptest::collection::vec(arb_cert(), 0..3))
                .prop_map(|(unit, certs)| Ok(Request::Hello { unit, certs })),
            arb_heights().prop_map(|heights| Ok(Request::Heights { heights })),
            (arb_bytes(), arb_bytes()).prop_map(|(entries, docs)| Ok(Request::Page {
                entries,
                docs: docs
                    .into_iter()
                    .enumerate()
                    .map(|(i, d)| (i as u32, d))
                    .collect(),
            })),
            (".{0,16}", proptest::collection::vec(arb_cert(), 0..3))
                .prop_map(|(unit, certs)| Err(Response::Welcome { unit, certs })),
            Just(Err(Response::Ok)),
            (arb_heights(), any::<u32>())
                .prop_map(|(heights, rejected)| Err(Response::Acked { heights, rejected })),
            (".{0,16}", ".{0,32}").prop_map(|(key, reason)| Err(Response::Refused { key, reason })),
        ]
    }

    /// The mutated frames are not all refused: the structure survives some edits, so
    /// the decoder is exercised past its first bytes.
    #[test]
    fn mutated_frames_are_sometimes_still_valid() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut ok, mut refused) = (0, 0);
        for _ in 0..500 {
            let msg = arb_message().new_tree(&mut runner).unwrap().current();
            let edit = arb_edit().new_tree(&mut runner).unwrap().current();
            let mut frame = match &msg {
                Ok(req) => encode(req),
                Err(resp) => encode(resp),
            };
            edit.apply(&mut frame);
            let decoded = match &msg {
                Ok(_) => decode::<Request>(&frame).map(drop),
                Err(_) => decode::<Response>(&frame).map(drop),
            };
            match decoded {
                Ok(()) => ok += 1,
                Err(_) => refused += 1,
            }
        }
        eprintln!("500 frames with one edit: {ok} still decode, {refused} refused");
        assert!(ok > 0 && refused > 0, "{ok} decode, {refused} refused");
    }

    #[test]
    fn rejects_bad_frames() {
        assert_eq!(decode::<Request>(&[]).unwrap_err().key(), "malformed");
        assert_eq!(decode::<Request>(&[2, 0]).unwrap_err().key(), "malformed");
        let mut f = encode(&Response::Ok);
        f.push(0);
        assert_eq!(decode::<Response>(&f).unwrap_err().key(), "malformed");
        assert_eq!(
            decode::<Request>(&vec![1; MAX_FRAME_BYTES + 1])
                .unwrap_err()
                .key(),
            "oversized"
        );
    }
}
