//! Snapshot entries: how a receiver that lacks a document's history takes the document
//! whole, and how an author decides when to sign one.
//!
//! Now and then an author signs a [`Payload::Snapshot`] for one of its documents: the
//! document's Automerge heads, and the seqs of the author's earlier entries about that
//! document (its changes and earlier snapshots), which the snapshot *replaces*. The entry
//! is small (about 200 bytes) and is sent like any other to a peer that already holds the
//! replaced entries. To a peer that holds **none** of them (a new parent, a node restored
//! from nothing) a sender skips the replaced entries and sends the snapshot entry with the
//! document's `save()` beside it (the page's `docs`): about 16 bytes per student instead
//! of about 25 in change chunks, plus per-entry signatures, and a receiver `load`s it
//! about twice as fast as it replays the changes.
//!
//! The saved document is not signed itself; the signed heads authenticate it. Before
//! loading, a receiver checks ([`check_doc`]) that the bytes are exactly one Automerge
//! document chunk whose actor table is exactly the signer's key (so every change in it is
//! the signer's: actor = signer holds inside a snapshot as for a change entry) and whose
//! heads are the signed heads. Automerge's `load` recomputes every change hash and refuses
//! a document whose changes do not produce the heads it declares, so the content is bound
//! to the signature through the change hash graph.
//!
//! The skipped seqs become holes in the receiver's copy of the author's log. A hole is
//! accepted only where a signed snapshot, already held or in the same page, says that the
//! entry there is replaced ([`LogState::gap_covered`](crate::validate::LogState)), so a
//! relay still cannot drop an entry unnoticed. A node with holes that forwards the log to
//! a peer lacking some of what it lacks itself sends the saved document too
//! ([`LogSource::holes`](crate::sync::LogSource::holes)); an entry arriving later for a
//! hole is [`Verdict::Replaced`](crate::validate::Verdict): acknowledged, not stored.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::entry::{DocId, Payload};
use crate::identity::NodeId;

/// Inclusive, sorted, disjoint and non-adjacent ranges of seqs: `[(1, 8), (10, 12)]`.
pub type Ranges = Vec<(u64, u64)>;

/// Largest saved document sent beside a snapshot entry (a school's students document is
/// about 16 bytes per student: this is over 100,000 students). A larger one is not sent:
/// its entries are.
pub const MAX_DOC_BYTES: usize = 2 * 1024 * 1024;

// A page holds entries up to its target, at most one document beyond it, and one entry
// larger than the target only alone: always a frame a peer accepts.
const _: () = assert!(
    crate::wire::MAX_PAGE_BYTES + MAX_DOC_BYTES + crate::entry::MAX_ENTRY_BYTES + 64 * 1024
        <= crate::wire::MAX_FRAME_BYTES
);
/// Most heads a snapshot entry may name (a single writer's document has one).
pub const MAX_HEADS: usize = 64;

/// An author signs a snapshot of a document once this many bytes of change chunks were
/// written to it since its last snapshot: a snapshot entry costs about 200 bytes to a
/// peer that follows the log, at most a tenth of the changes it follows.
pub const SNAPSHOT_AFTER_BYTES: u64 = 2048;
/// ... or once this many change entries were written to it since its last snapshot.
pub const SNAPSHOT_AFTER_ENTRIES: u64 = 32;

/// Whether `r` is canonical (sorted, disjoint, non-adjacent, each start ≤ end) and every
/// seq in it is in `1..below`.
pub fn ranges_valid(r: &[(u64, u64)], below: u64) -> bool {
    let mut prev_end: Option<u64> = None;
    for &(a, b) in r {
        if a == 0 || a > b || b >= below {
            return false;
        }
        if let Some(p) = prev_end {
            if a <= p.saturating_add(1) {
                return false;
            }
        }
        prev_end = Some(b);
    }
    true
}

/// Adds `seq` to `r`, keeping it canonical.
pub fn ranges_insert(r: &mut Ranges, seq: u64) {
    union_into(r, &[(seq, seq)]);
}

/// Adds every seq of `other` to `r`, keeping it canonical.
pub fn union_into(r: &mut Ranges, other: &[(u64, u64)]) {
    if other.is_empty() {
        return;
    }
    let mut all: Vec<(u64, u64)> = r.iter().chain(other.iter()).copied().collect();
    all.sort_unstable();
    let mut out: Ranges = Vec::with_capacity(all.len());
    for (a, b) in all {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *r = out;
}

/// Whether every seq in `from..=to` is in `r` (true when `from > to`).
pub fn ranges_cover(r: &[(u64, u64)], from: u64, to: u64) -> bool {
    if from > to {
        return true;
    }
    let mut next = from;
    for &(a, b) in r {
        if b < next {
            continue;
        }
        if a > next {
            return false;
        }
        if b >= to {
            return true;
        }
        next = b + 1;
    }
    false
}

/// Whether `seq` is in `r`.
pub fn ranges_contain(r: &[(u64, u64)], seq: u64) -> bool {
    ranges_cover(r, seq, seq)
}

/// The seqs of `r` that are at least `from`.
pub fn ranges_from(r: &[(u64, u64)], from: u64) -> Ranges {
    r.iter()
        .filter(|(_, b)| *b >= from)
        .map(|(a, b)| ((*a).max(from), *b))
        .collect()
}

/// Whether `a` and `b` share a seq.
pub fn ranges_overlap(a: &[(u64, u64)], b: &[(u64, u64)]) -> bool {
    a.iter()
        .any(|(x, y)| b.iter().any(|(u, v)| x <= v && u <= y))
}

/// [`LogState::gap_covered`](crate::validate::LogState) for an entry at `seq` of a log
/// whose next expected seq is `next` (head + 1): the gap before the entry, or its own
/// place if it is below the head and not held (`held`: an entry is held at `seq`), must be
/// replaced by the signed snapshots `claims` returns (those held, and those of the page).
pub fn gap_covered(next: u64, seq: u64, held: bool, claims: impl FnOnce() -> Ranges) -> bool {
    let (from, to) = if seq > next {
        (next, seq - 1)
    } else if seq < next && !held {
        (seq, seq)
    } else {
        return false;
    };
    ranges_cover(&claims(), from, to)
}

/// Passes over one page that still trust the claims of its snapshot entries that were
/// appended in the pass before; the pass after them trusts none.
pub const MAX_CLAIM_PASSES: u32 = 2;

/// The holes one page may leave in received logs on the strength of the snapshot entries
/// it carries, and the check, once the page is applied and before it is committed, that
/// every hole recorded is covered by a snapshot entry held.
///
/// A claim counts only for a snapshot entry that passed validation up to its document
/// ([`crate::validate::page_holes`]): a sender leaves entries out only beside the saved
/// document. A snapshot entry may still be refused after entries before it in the page
/// relied on its claim (its document does not load, an entry between them was refused).
/// Then [`PageHoles::settle`] fails: the caller discards what the pass applied and runs the
/// page again with the claims of the snapshot entries that were appended, so the entries
/// that relied on a refused snapshot are refused as `gap`. Each such pass trusts strictly
/// fewer snapshot entries; after [`MAX_CLAIM_PASSES`] the page is run trusting none.
///
/// Architecture Invariant (engine and simulator): every hole a node records is covered by a
/// snapshot entry it holds, stored in the same transaction or earlier.
#[derive(Debug, Clone, Default)]
pub struct PageHoles {
    /// The snapshot entries whose claims this pass trusts: page index → (author, replaces).
    claimants: BTreeMap<usize, (NodeId, Ranges)>,
    /// What they replace, per author.
    claims: HashMap<NodeId, Ranges>,
    /// Holes recorded in this pass, per author.
    recorded: HashMap<NodeId, Ranges>,
    /// What the snapshot entries appended in this pass replace, per author.
    appended: HashMap<NodeId, Ranges>,
    /// Page indexes of the snapshot entries appended in this pass.
    appended_at: BTreeSet<usize>,
    /// Passes run before this one.
    pass: u32,
}

impl PageHoles {
    /// The first pass over a page, trusting `claimants`: (page index, author, replaced seqs).
    pub fn new(claimants: impl IntoIterator<Item = (usize, NodeId, Ranges)>) -> PageHoles {
        let mut p = PageHoles::default();
        for (i, author, replaces) in claimants {
            p.claimants.insert(i, (author, replaces));
        }
        p.rebuild();
        p
    }

    fn rebuild(&mut self) {
        self.claims.clear();
        for (author, replaces) in self.claimants.values() {
            union_into(self.claims.entry(*author).or_default(), replaces);
        }
    }

    /// What the snapshot entries of `author` trusted in this pass replace.
    fn claims(&self, author: &NodeId) -> Option<&Ranges> {
        self.claims.get(author)
    }

    /// [`gap_covered`] for `author`'s entry `seq` (`next` follows its held head, `held`
    /// says whether an entry is held at `seq`), by what the snapshot entries already held
    /// replace (`held_claims`) and what those this pass trusts replace.
    pub fn gap_covered(
        &self,
        author: &NodeId,
        next: u64,
        seq: u64,
        held: bool,
        held_claims: impl FnOnce() -> Ranges,
    ) -> bool {
        gap_covered(next, seq, held, || {
            let mut claims = held_claims();
            if let Some(c) = self.claims(author) {
                union_into(&mut claims, c);
            }
            claims
        })
    }

    /// Whether this pass trusts any claim.
    pub fn is_empty(&self) -> bool {
        self.claimants.is_empty()
    }

    /// A hole `from..=to` was recorded in `author`'s log.
    pub fn on_hole(&mut self, author: NodeId, from: u64, to: u64) {
        union_into(self.recorded.entry(author).or_default(), &[(from, to)]);
    }

    /// The snapshot entry at page index `index` of `author`, replacing `replaces`, was
    /// appended.
    pub fn on_snapshot(&mut self, index: usize, author: NodeId, replaces: &[(u64, u64)]) {
        union_into(self.appended.entry(author).or_default(), replaces);
        self.appended_at.insert(index);
    }

    /// After the pass, before commit: `None` when every hole it recorded is replaced by a
    /// snapshot entry held before the page (`held`: what they replace, per author) or
    /// appended from it. Otherwise the state of the next pass, to be run on the page
    /// again after discarding everything this pass applied.
    #[must_use]
    pub fn settle(self, held: impl Fn(&NodeId) -> Ranges) -> Option<PageHoles> {
        if self.claimants.is_empty() {
            // Holes were recorded only where a snapshot entry held before the page
            // replaces them.
            return None;
        }
        let uncovered = self.recorded.iter().any(|(author, holes)| {
            let mut cover = held(author);
            if let Some(a) = self.appended.get(author) {
                union_into(&mut cover, a);
            }
            holes.iter().any(|(a, b)| !ranges_cover(&cover, *a, *b))
        });
        if !uncovered {
            return None;
        }
        let mut next = PageHoles {
            pass: self.pass + 1,
            ..PageHoles::default()
        };
        if next.pass < MAX_CLAIM_PASSES {
            let appended_at = self.appended_at;
            next.claimants = self
                .claimants
                .into_iter()
                .filter(|(i, _)| appended_at.contains(i))
                .collect();
        }
        next.rebuild();
        Some(next)
    }
}

/// What the first chunk of a saved Automerge document declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocHeader {
    /// The actor table: every change and operation refers to an actor by its index here.
    pub actors: Vec<Vec<u8>>,
    /// The heads the document declares, as stored.
    pub heads: Vec<[u8; 32]>,
}

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_DOCUMENT: u8 = 0;

fn leb(bytes: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&b) = bytes.get(*at) else {
            return Err("truncated number".into());
        };
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("number too long".into())
}

fn take<'a>(bytes: &'a [u8], at: &mut usize, n: u64) -> Result<&'a [u8], String> {
    let n = usize::try_from(n).map_err(|_| "length out of range".to_string())?;
    let end = at
        .checked_add(n)
        .filter(|e| *e <= bytes.len())
        .ok_or_else(|| "truncated".to_string())?;
    let s = &bytes[*at..end];
    *at = end;
    Ok(s)
}

/// Reads the header of a saved document (Automerge binary format: magic, checksum, chunk
/// type 0, length, then the actor table and the heads) and checks that the bytes are that
/// one chunk and nothing else. It does not check the checksum or the columns: `load` does.
pub fn parse_doc_header(save: &[u8]) -> Result<DocHeader, String> {
    if save.len() < 10 || save[..4] != MAGIC {
        return Err("not an Automerge document".into());
    }
    if save[8] != CHUNK_DOCUMENT {
        return Err(format!(
            "chunk type {} is not a saved document (type 0)",
            save[8]
        ));
    }
    let mut at = 9;
    let len = leb(save, &mut at)?;
    if usize::try_from(len).ok().and_then(|l| l.checked_add(at)) != Some(save.len()) {
        return Err(format!(
            "the document chunk declares {len} bytes but {} follow its header",
            save.len() - at
        ));
    }
    let n_actors = leb(save, &mut at)?;
    let mut actors = Vec::new();
    for _ in 0..n_actors {
        let l = leb(save, &mut at)?;
        actors.push(take(save, &mut at, l)?.to_vec());
    }
    let n_heads = leb(save, &mut at)?;
    if n_heads > MAX_HEADS as u64 {
        return Err(format!("{n_heads} heads"));
    }
    let mut heads = Vec::new();
    for _ in 0..n_heads {
        let h = take(save, &mut at, 32)?;
        let mut a = [0u8; 32];
        a.copy_from_slice(h);
        heads.push(a);
    }
    Ok(DocHeader { actors, heads })
}

/// What an author tracks of one of its own documents to know which entries a snapshot of
/// it would replace and when one is due.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocTrack {
    /// Seqs of every entry of the author about the document (changes and snapshots).
    pub seqs: Ranges,
    /// Change chunk bytes written since the last snapshot.
    pub tail_bytes: u64,
    /// Change entries written since the last snapshot.
    pub tail_entries: u64,
}

impl DocTrack {
    /// Records a change entry at `seq` carrying `bytes` of change chunks.
    pub fn on_changes(&mut self, seq: u64, bytes: u64) {
        ranges_insert(&mut self.seqs, seq);
        self.tail_bytes += bytes;
        self.tail_entries += 1;
    }

    /// Whether the author should sign a snapshot now.
    pub fn due(&self) -> bool {
        self.tail_entries > 0
            && (self.tail_bytes >= SNAPSHOT_AFTER_BYTES
                || self.tail_entries >= SNAPSHOT_AFTER_ENTRIES)
    }

    /// The snapshot payload for `doc` at `heads`, replacing every entry recorded so far.
    pub fn snapshot(&self, doc: DocId, mut heads: Vec<[u8; 32]>) -> Payload {
        heads.sort_unstable();
        heads.dedup();
        Payload::Snapshot {
            doc,
            heads,
            replaces: self.seqs.clone(),
        }
    }

    /// Records the snapshot entry signed at `seq`.
    pub fn on_snapshot(&mut self, seq: u64) {
        ranges_insert(&mut self.seqs, seq);
        self.tail_bytes = 0;
        self.tail_entries = 0;
    }
}

/// A snapshot entry held by a node, as [`LogSource::snapshots`](crate::sync::LogSource)
/// reports it: its seq and the seqs it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The snapshot entry's seq.
    pub seq: u64,
    /// The seqs of the entries it replaces.
    pub replaces: Ranges,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use proptest::prelude::*;

    #[test]
    fn ranges() {
        let mut r = Ranges::new();
        for s in [3, 1, 2, 7, 5] {
            ranges_insert(&mut r, s);
        }
        assert_eq!(r, vec![(1, 3), (5, 5), (7, 7)]);
        assert!(ranges_valid(&r, 8));
        assert!(!ranges_valid(&r, 7));
        assert!(!ranges_valid(&[(1, 2), (3, 4)], 9), "adjacent");
        assert!(!ranges_valid(&[(3, 4), (1, 1)], 9), "unsorted");
        assert!(!ranges_valid(&[(0, 1)], 9), "seq 0");
        assert!(!ranges_valid(&[(2, 1)], 9), "reversed");
        assert!(ranges_cover(&r, 1, 3) && ranges_cover(&r, 5, 5) && ranges_cover(&r, 4, 3));
        assert!(!ranges_cover(&r, 1, 5) && !ranges_cover(&r, 4, 4) && !ranges_cover(&r, 8, 8));
        assert_eq!(ranges_from(&r, 2), vec![(2, 3), (5, 5), (7, 7)]);
        assert_eq!(ranges_from(&r, 6), vec![(7, 7)]);
        assert!(ranges_overlap(&r, &[(4, 5)]) && !ranges_overlap(&r, &[(4, 4), (6, 6), (8, 9)]));
        union_into(&mut r, &[(4, 4), (6, 9)]);
        assert_eq!(r, vec![(1, 9)]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, rng_seed: proptest::test_runner::RngSeed::Fixed(3), ..ProptestConfig::default() })]
        /// Ranges built by insertion are canonical and hold exactly the inserted seqs.
        #[test]
        fn insert_is_a_set(seqs in proptest::collection::vec(1u64..60, 0..40)) {
            let mut r = Ranges::new();
            for s in &seqs {
                ranges_insert(&mut r, *s);
            }
            prop_assert!(ranges_valid(&r, 61));
            for s in 1..61 {
                prop_assert_eq!(ranges_contain(&r, s), seqs.contains(&s));
            }
        }
    }

    #[test]
    fn header_of_a_saved_document() {
        let mut doc = automerge::AutoCommit::new().with_actor(automerge::ActorId::from(&[5u8; 32]));
        doc.put(automerge::ROOT, "k", "v").unwrap();
        doc.commit();
        let save = doc.save();
        let h = parse_doc_header(&save).unwrap();
        assert_eq!(h.actors, vec![vec![5u8; 32]]);
        assert_eq!(h.heads, vec![doc.get_heads()[0].0]);
        let mut trailing = save.clone();
        trailing.push(0);
        assert!(parse_doc_header(&trailing).is_err());
        assert!(parse_doc_header(&save[..save.len() - 1]).is_err());
        let change = doc.get_changes(&[])[0].raw_bytes().to_vec();
        assert!(
            parse_doc_header(&change).is_err(),
            "a change chunk is not a document"
        );
    }

    #[test]
    fn policy() {
        let mut t = DocTrack::default();
        t.on_changes(2, 100);
        assert!(!t.due());
        t.on_changes(3, SNAPSHOT_AFTER_BYTES);
        assert!(t.due());
        let doc = DocId {
            unit: "s".into(),
            collection: "students".into(),
            year: "2026-2027".into(),
        };
        let Payload::Snapshot { replaces, .. } = t.snapshot(doc, vec![[1; 32]]) else {
            panic!()
        };
        assert_eq!(replaces, vec![(2, 3)]);
        t.on_snapshot(4);
        assert!(!t.due());
        assert_eq!(t.seqs, vec![(2, 4)]);
    }
}
