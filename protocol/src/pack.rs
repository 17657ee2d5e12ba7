//! How a page's entries travel: packed, so that the envelope of an entry costs little more
//! than its signature on the wire (issue: rural links pay for every byte).
//!
//! An entry's wire form repeats, in every entry of a page, what the page already says:
//! the author's key (32 bytes), the backlink (the hash of the author's previous entry, 32
//! bytes that do not compress), the document id, and, inside each Automerge change, the
//! actor (the author's key again). Packing removes the backlink of every entry that
//! follows its author's previous entry in the same page — the receiver recomputes it from
//! that entry's bytes — and then deflates the whole list, which takes the repeated keys,
//! document ids and field names down to a few bytes each.
//!
//! Packing is an encoding only: the receiver rebuilds every entry byte for byte, and
//! checks it as it checks any entry ([`crate::entry::Entry::decode`], its hash and its
//! signature). A rebuilt entry whose backlink the sender lied about fails its signature.
//! Entries that do not decode are sent as they are, so any page round-trips.
//!
//! Inflating is bounded by [`crate::wire::MAX_FRAME_BYTES`]: a small frame cannot expand
//! into unbounded memory.

use std::io::{Read, Write};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::entry::Hash;
use crate::identity::NodeId;
use crate::wire::MAX_FRAME_BYTES;

/// One entry of a packed page.
#[derive(Serialize, Deserialize)]
enum Packed {
    /// The entry as it is.
    Whole(Vec<u8>),
    /// The entry without its backlink's 32 bytes: it follows the page's previous entry
    /// of the same author, whose hash is its backlink.
    Chained(Vec<u8>),
}

/// The author and seq an entry's bytes name (after the version byte), and where the tag
/// of its backlink follows them (`1`: the 32 bytes of a hash come next); nothing is
/// checked beyond the layout.
fn claims(raw: &[u8]) -> Option<(NodeId, u64, usize)> {
    let body = raw.get(1..)?;
    let ((author, seq), rest): ((NodeId, u64), _) = postcard::take_from_bytes(body).ok()?;
    Some((author, seq, raw.len() - rest.len()))
}

/// The last entry of each author so far in the page, (seq, hash), as the bytes claim it:
/// what the next entry of that author may chain to. Sender and receiver keep it alike.
#[derive(Default)]
struct Chain(Vec<(NodeId, u64, Hash)>);

impl Chain {
    /// The hash of the entry `seq - 1` of `author`, if it is the last one of the page.
    fn before(&self, author: NodeId, seq: u64) -> Option<&Hash> {
        self.0
            .iter()
            .find(|(a, s, _)| *a == author && s.checked_add(1) == Some(seq))
            .map(|(.., h)| h)
    }

    fn push(&mut self, raw: &[u8]) {
        let Some((author, seq, _)) = claims(raw) else {
            return;
        };
        let hash: Hash = Sha256::digest(raw).into();
        match self.0.iter_mut().find(|(a, ..)| *a == author) {
            Some(l) => *l = (author, seq, hash),
            None => self.0.push((author, seq, hash)),
        }
    }
}

/// The packed form of `entries`: chained where possible, then deflated.
fn pack(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut chain = Chain::default();
    let mut items = Vec::with_capacity(entries.len());
    for raw in entries {
        // Where the backlink's hash is, if it is the hash of the author's last entry.
        let cut_at = claims(raw).and_then(|(author, seq, tag)| {
            let prev = chain.before(author, seq)?;
            let hash = raw.get(tag + 1..tag + 33)?;
            (raw[tag] == 1 && hash == &prev[..]).then_some(tag + 1)
        });
        items.push(match cut_at {
            Some(at) => {
                let mut cut = Vec::with_capacity(raw.len() - 32);
                cut.extend_from_slice(&raw[..at]);
                cut.extend_from_slice(&raw[at + 32..]);
                Packed::Chained(cut)
            }
            None => Packed::Whole(raw.clone()),
        });
        chain.push(raw);
    }
    let plain = postcard::to_stdvec(&items).unwrap_or_default();
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = z.write_all(&plain);
    z.finish().unwrap_or_default()
}

/// Rebuilds the entries of a packed page.
fn unpack(packed: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut plain = Vec::new();
    flate2::read::DeflateDecoder::new(packed)
        .take(MAX_FRAME_BYTES as u64 + 1)
        .read_to_end(&mut plain)
        .map_err(|e| format!("packed entries do not inflate: {e}"))?;
    if plain.len() > MAX_FRAME_BYTES {
        return Err(format!(
            "packed entries inflate beyond {MAX_FRAME_BYTES} bytes"
        ));
    }
    let items: Vec<Packed> =
        postcard::from_bytes(&plain).map_err(|e| format!("packed entries: {e}"))?;
    let mut chain = Chain::default();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let raw = match item {
            Packed::Whole(raw) => raw,
            Packed::Chained(cut) => {
                let (author, seq, tag) = claims(&cut)
                    .filter(|(.., tag)| cut.get(*tag) == Some(&1))
                    .ok_or_else(|| {
                        format!("chained entry {i} names no author, seq and backlink")
                    })?;
                let prev = chain.before(author, seq).ok_or_else(|| {
                    format!("chained entry {i} follows no entry of its author in the page")
                })?;
                let mut raw = Vec::with_capacity(cut.len() + 32);
                raw.extend_from_slice(&cut[..=tag]);
                raw.extend_from_slice(prev);
                raw.extend_from_slice(&cut[tag + 1..]);
                raw
            }
        };
        chain.push(&raw);
        out.push(raw);
    }
    Ok(out)
}

/// `#[serde(with = "crate::pack")]` for a page's entries.
pub(crate) fn serialize<S: Serializer>(entries: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(&pack(entries))
}

/// See [`serialize`].
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
    let packed: &[u8] = <&[u8]>::deserialize(d)?;
    unpack(packed).map_err(serde::de::Error::custom)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::entry::{DocId, Entry, Payload};
    use crate::identity::NodeKey;

    /// `n` entries of `key`'s log from seq 1, each with a small change-like payload.
    fn log(key: &NodeKey, n: u64) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for seq in 1..=n {
            let payload = Payload::Changes {
                doc: DocId {
                    unit: "thcs-tam-hiep".into(),
                    collection: "students".into(),
                    year: "2026-2027".into(),
                },
                changes: vec![format!("change {seq} of the day").into_bytes()],
            };
            let back = out.last().map(Entry::hash);
            out.push(Entry::sign(
                key,
                seq,
                back,
                1_790_000_000_000 + seq as i64,
                payload,
            ));
        }
        out
    }

    fn bytes(entries: &[Entry]) -> Vec<Vec<u8>> {
        entries.iter().map(|e| e.bytes().to_vec()).collect()
    }

    #[test]
    fn a_page_round_trips_and_its_backlinks_are_left_out() {
        let (a, b) = (NodeKey::from_secret([3; 32]), NodeKey::from_secret([4; 32]));
        let (la, lb) = (log(&a, 20), log(&b, 20));
        // Two authors interleaved; b's log starts at 5 (its first backlink must travel).
        let mut page = Vec::new();
        for i in 0..20 {
            page.push(la[i].bytes().to_vec());
            if i >= 4 {
                page.push(lb[i].bytes().to_vec());
            }
        }
        // And bytes that are no entry at all.
        page.push(b"not an entry".to_vec());
        let packed = pack(&page);
        assert_eq!(unpack(&packed).unwrap(), page);
        let items: Vec<Packed> = {
            let mut plain = Vec::new();
            flate2::read::DeflateDecoder::new(&packed[..])
                .read_to_end(&mut plain)
                .unwrap();
            postcard::from_bytes(&plain).unwrap()
        };
        let chained = items
            .iter()
            .filter(|p| matches!(p, Packed::Chained(_)))
            .count();
        // Every entry but the first of each author and the garbage is chained.
        assert_eq!(chained, page.len() - 3);
        let raw: usize = page.iter().map(Vec::len).sum();
        // Keys, document ids and backlinks do not travel once per entry.
        assert!(
            packed.len() < raw / 2,
            "{} packed bytes for {raw}",
            packed.len()
        );
        // A log out of order or with a gap is sent whole, and still round-trips.
        let odd = bytes(&[la[3].clone(), la[1].clone(), la[2].clone(), la[5].clone()]);
        assert_eq!(unpack(&pack(&odd)).unwrap(), odd);
    }

    #[test]
    fn a_false_chain_rebuilds_an_entry_whose_signature_fails() {
        // Two logs of the same author (a fork): entry 2 of the second does not follow
        // entry 1 of the first. A sender that says it does makes the receiver put the
        // wrong hash in its backlink, and the author's signature no longer holds.
        let a = NodeKey::from_secret([3; 32]);
        let first = log(&a, 2);
        let payload = first[1].body.payload.clone();
        let mut second = vec![Entry::sign(&a, 1, None, 6, payload.clone())];
        second.push(Entry::sign(&a, 2, Some(second[0].hash()), 7, payload));
        let (_, _, tag) = claims(second[1].bytes()).unwrap();
        let mut cut = second[1].bytes().to_vec();
        cut.drain(tag + 1..tag + 33);
        let items = vec![
            Packed::Whole(first[0].bytes().to_vec()),
            Packed::Chained(cut),
        ];
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&postcard::to_stdvec(&items).unwrap()).unwrap();
        let got = unpack(&z.finish().unwrap()).unwrap();
        let rebuilt = Entry::decode(&got[1]).unwrap();
        assert_eq!(rebuilt.body.backlink, Some(first[0].hash()));
        assert!(!rebuilt.verify());
        assert!(Entry::decode(second[1].bytes()).unwrap().verify());
    }

    #[test]
    fn hostile_packs_are_refused_with_a_reason() {
        // A deflate bomb: 9 MiB of zeros in a few KiB.
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![0u8; MAX_FRAME_BYTES + 1024]).unwrap();
        let bomb = z.finish().unwrap();
        assert!(bomb.len() < 64 * 1024);
        assert!(unpack(&bomb).unwrap_err().contains("beyond"));
        // Not deflate at all.
        assert!(unpack(b"\xff\xff\xff").is_err());
        // A chained entry with nothing before it in the page.
        let l = log(&NodeKey::from_secret([5; 32]), 2);
        let (_, _, tag) = claims(l[1].bytes()).unwrap();
        let mut cut = l[1].bytes().to_vec();
        cut.drain(tag + 1..tag + 33);
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&postcard::to_stdvec(&vec![Packed::Chained(cut)]).unwrap())
            .unwrap();
        assert!(unpack(&z.finish().unwrap())
            .unwrap_err()
            .contains("follows no entry"));
    }
}
