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
//! Version 2 added the page's `docs`.

use serde::{Deserialize, Serialize};

use crate::cert::Certificate;
use crate::identity::NodeId;

/// Encoding version of frames produced by this build.
pub const WIRE_VERSION: u8 = 2;
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
        /// The entries.
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
