//! The sync state machine of one link (a node and its parent, or a node and one child).
//!
//! Sans-IO: the driver (the libp2p event loop in `eduioc-net`, or the discrete-event
//! network in `simulations/`) feeds it what arrived and asks it what to send. It reads the
//! local log through [`LogSource`] and the hierarchy through [`Directory`].
//!
//! The link is symmetric after the hello: each side tells the other what it holds of the
//! authors it wants ([`Session::want`]); each side then streams, page by page, what the
//! other lacks ([`Session::next_page`]), one page in flight at a time, and advances its
//! belief of the remote's heights only from the remote's acknowledgements, which the remote
//! sends after committing. A commit made while connected is pushed at once: the driver
//! calls [`Session::on_appended`] and then `next_page`.
//!
//! Up a link, a sender skips the entries a snapshot entry replaces when the remote holds
//! none of them, and sends the snapshot entry with the saved document beside it
//! ([`LogSource::snapshots`], [`crate::snapshot`]); the skipped entries and the snapshot
//! that covers them always travel in the same page, so the receiver can check the hole.
//!
//! Scope, under the current hierarchy:
//! - up (to the parent): every entry authored in the sender's subtree, whole logs;
//! - down (to a child): entries authored by the sender or its ancestors whose payload is
//!   addressed to a unit on the child's path (an ancestor of it, itself, or below it).
//!   Those logs are sparse at the receiver: a child never sees its uncles' notifications.
//!   And the child's own log, whole, where the sender holds more of it than the child: a
//!   child that lost its store gets it back from its parent (`eduioc restore`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::cert::Directory;
use crate::entry::Entry;
use crate::identity::NodeId;
use crate::snapshot::{self, Held, Ranges, MAX_DOC_BYTES};
use crate::wire::{Request, MAX_HEIGHTS, MAX_PAGE_BYTES, MAX_PAGE_ENTRIES};

/// Read access to the local log store.
pub trait LogSource {
    /// Highest seq held for `author` (0 when none).
    fn height(&self, author: &NodeId) -> u64;
    /// Every author held, with its height.
    fn heights(&self) -> Vec<(NodeId, u64)>;
    /// Entries of `author` with seq ≥ `from`, ascending, within the limits (at least one
    /// entry when any exists).
    fn entries(
        &self,
        author: &NodeId,
        from: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Vec<(u64, Vec<u8>)>;

    /// Snapshot entries of `author` held here whose saved document
    /// ([`LogSource::snapshot_doc`]) can be sent with them, at most one per document (the
    /// latest). The default holds none: every entry is sent as it is.
    fn snapshots(&self, _author: &NodeId) -> Vec<Held> {
        Vec::new()
    }

    /// The saved document at the heads of snapshot entry `seq` of `author`.
    fn snapshot_doc(&self, _author: &NodeId, _seq: u64) -> Option<Vec<u8>> {
        None
    }

    /// Seqs below `author`'s height that are not held here because a snapshot entry held
    /// replaces them (a sender left them out).
    fn holes(&self, _author: &NodeId) -> Ranges {
        Vec::new()
    }
}

/// The role of the remote end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The remote is our parent: we send up, it sends down.
    Parent,
    /// The remote is one of our children: we send down, it sends up.
    Child,
}

/// Whether an entry by `author_unit` travels from `from_unit` to `to_unit` over a link
/// where `to_role` is the receiver's role. `audience` is the payload's audience.
pub fn in_scope(
    dir: &Directory,
    from_unit: &str,
    to_unit: &str,
    to_role: Role,
    author_unit: &str,
    audience: Option<Option<&str>>,
) -> bool {
    match to_role {
        Role::Parent => dir.is_ancestor_or_self(from_unit, author_unit),
        Role::Child => {
            // The child's own log, whole: it goes down only to a child that holds less of
            // it than its parent, i.e. one restoring a lost store (`eduioc restore`).
            if author_unit == to_unit {
                return true;
            }
            if !dir.is_ancestor_or_self(author_unit, from_unit) {
                return false;
            }
            match audience {
                // Unknown payload yet: the author is in scope, entries are checked later.
                None => true,
                Some(None) => false,
                Some(Some(a)) => {
                    dir.is_ancestor_or_self(a, to_unit) || dir.is_ancestor_or_self(to_unit, a)
                }
            }
        }
    }
}

/// Whether `entry` is a certificate, issued by an ancestor of `to_unit`, of a unit that
/// `to_unit` is or was an ancestor of (any version's parent): a re-parented unit's
/// certificate also goes down its old path, so that its old parent and the unit itself
/// (still linked there) learn of the move.
fn moved_here(dir: &Directory, to_unit: &str, entry: &Entry) -> bool {
    let crate::entry::Payload::Certificate(c) = &entry.body.payload else {
        return false;
    };
    dir.unit_of(&entry.author())
        .is_some_and(|author| !dir.is_ancestor_or_self(to_unit, author))
        && dir.is_or_was_ancestor_or_self(to_unit, &c.body.unit)
}

#[derive(Debug, Clone)]
struct InFlight {
    /// (author, last seq sent, belief after the page).
    sent: Vec<(NodeId, u64, u64)>,
}

/// Entries a sender leaves out for one author: what a snapshot it holds replaces and the
/// remote lacks, when the remote holds none of what it replaces (the document is smaller
/// than the entries) or the sender lacks some of it too (it was seeded from the document).
#[derive(Debug, Default)]
struct Skip {
    /// (first seq, last seq, seq of the snapshot replacing them), by first seq.
    ranges: Vec<(u64, u64, u64)>,
    /// The saved document to send beside each of those snapshots, by seq.
    docs: HashMap<u64, Vec<u8>>,
}

impl Skip {
    fn of(src: &dyn LogSource, author: &NodeId, have: u64) -> Skip {
        let mut skip = Skip::default();
        let mut holes: Option<Ranges> = None;
        for held in src.snapshots(author) {
            let needed = snapshot::ranges_from(&held.replaces, have + 1);
            if held.seq <= have || needed.is_empty() {
                continue;
            }
            let remote_has_none = held.replaces.first().is_some_and(|(a, _)| *a > have);
            if !remote_has_none {
                let holes = holes.get_or_insert_with(|| src.holes(author));
                if !snapshot::ranges_overlap(&needed, holes) {
                    continue;
                }
            }
            let Some(doc) = src.snapshot_doc(author, held.seq) else {
                continue;
            };
            if doc.len() > MAX_DOC_BYTES {
                continue;
            }
            skip.ranges
                .extend(needed.iter().map(|(a, b)| (*a, *b, held.seq)));
            skip.docs.insert(held.seq, doc);
        }
        skip.ranges.sort_unstable();
        skip
    }

    /// The range holding `seq`, as (last seq, snapshot seq).
    fn find(&self, seq: u64) -> Option<(u64, u64)> {
        let i = self.ranges.partition_point(|r| r.0 <= seq);
        let (_, last, by) = *self.ranges.get(i.checked_sub(1)?)?;
        (seq <= last).then_some((last, by))
    }

    /// The first seq of the first range starting after `seq`.
    fn next_start(&self, seq: u64) -> Option<u64> {
        let i = self.ranges.partition_point(|r| r.0 <= seq);
        self.ranges.get(i).map(|r| r.0)
    }
}

/// Room left in the page being built, and where the remote stands for one author.
struct Limits {
    have: u64,
    entries: usize,
    bytes: usize,
    /// Nothing of other authors is in the page: one document larger than the room still
    /// goes (a single entry larger than the room always does).
    empty: bool,
}

/// What one author contributes to a page.
struct Run {
    /// (seq, entry, saved document to send beside it).
    items: Vec<(u64, Vec<u8>, Option<Vec<u8>>)>,
    /// The remote's height for the author once it holds the run.
    belief: u64,
    /// Nothing more of the author to send.
    exhausted: bool,
}

impl Run {
    fn collect(
        src: &dyn LogSource,
        author: &NodeId,
        limits: &Limits,
        skip: &Skip,
        wanted: &dyn Fn(&[u8]) -> bool,
    ) -> Run {
        let mut run = Run {
            items: Vec::new(),
            belief: limits.have,
            exhausted: false,
        };
        let mut bytes = 0usize;
        // Snapshot seq -> first seq left out for it, while the snapshot is not in the run.
        let mut pending: BTreeMap<u64, u64> = BTreeMap::new();
        'fetch: while run.items.len() < limits.entries && bytes < limits.bytes {
            let mut from = run.belief + 1;
            while let Some((last, by)) = skip.find(from) {
                pending.entry(by).or_insert(from);
                from = last + 1;
            }
            let mut count = limits.entries - run.items.len();
            if let Some(next) = skip.next_start(from) {
                count = count.min(usize::try_from(next - from).unwrap_or(usize::MAX));
            }
            let batch = src.entries(author, from, count, (limits.bytes - bytes).max(1));
            if batch.is_empty() {
                run.exhausted = true;
                break;
            }
            for (seq, raw) in batch {
                if let Some((_, by)) = skip.find(seq) {
                    pending.entry(by).or_insert(seq);
                    run.belief = seq;
                    continue;
                }
                if !wanted(&raw) {
                    run.belief = seq;
                    continue;
                }
                let doc = skip.docs.get(&seq).cloned();
                let size = raw.len() + doc.as_ref().map_or(0, Vec::len);
                let first_doc = limits.empty && run.items.iter().all(|i| i.2.is_none());
                if doc.is_some() && !first_doc && bytes + size > limits.bytes {
                    // The log source sized the entries, not the documents: at most one
                    // document beyond the page's target, so a frame stays far below its
                    // limit (entries up to the target + one document ≤ MAX_DOC_BYTES).
                    break 'fetch;
                }
                run.belief = seq;
                pending.remove(&seq);
                bytes += size;
                run.items.push((seq, raw, doc));
            }
        }
        if let Some(&cut) = pending.values().min() {
            // Entries were left out for a snapshot the page has no room for: stop before
            // the first of them, so that no hole travels without the snapshot covering it.
            run.items.retain(|(seq, ..)| *seq < cut);
            run.belief = cut - 1;
            run.exhausted = false;
        }
        run
    }

    /// What to send of `author` when what a snapshot replaces and the snapshot itself do
    /// not fit in one page. Entries the sender holds go as they are, up to its first hole
    /// (an entry after a hole travels only with the snapshot covering the hole, or the
    /// remote refuses it for good); from a hole on, the run up to the snapshot that covers
    /// it goes whole, however many entries it holds, within the page's bytes (it fit one
    /// page when the sender received it). Empty if even that does not fit.
    fn fallback(
        src: &dyn LogSource,
        author: &NodeId,
        limits: &Limits,
        skip: &Skip,
        wanted: &dyn Fn(&[u8]) -> bool,
    ) -> Run {
        let first_hole = src
            .holes(author)
            .iter()
            .find(|(_, b)| *b > limits.have)
            .map(|(a, _)| (*a).max(limits.have + 1));
        match first_hole {
            Some(hole) if hole == limits.have + 1 => {
                let whole = Limits {
                    have: limits.have,
                    entries: usize::MAX,
                    bytes: limits.bytes,
                    empty: limits.empty,
                };
                Run::collect(src, author, &whole, skip, wanted)
            }
            _ => {
                let mut run = Run::collect(src, author, limits, &Skip::default(), wanted);
                if let Some(hole) = first_hole.filter(|h| run.belief >= *h) {
                    run.items.retain(|(seq, ..)| *seq < hole);
                    run.belief = hole - 1;
                    run.exhausted = false;
                }
                run
            }
        }
    }
}

/// Counters of one session, for status and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Pages sent.
    pub pages: u64,
    /// Entries sent.
    pub entries: u64,
    /// Entry and document bytes sent.
    pub bytes: u64,
    /// Saved documents sent beside snapshot entries (each in place of the entries its
    /// snapshot replaces).
    pub docs: u64,
    /// Authors whose entries the remote refused (not retried until the next heights).
    pub stuck: u64,
}

/// One link's sync state.
#[derive(Debug, Clone)]
pub struct Session {
    local_unit: String,
    remote_unit: String,
    remote_role: Role,
    /// What the remote holds, per author; `None` until it told us (its `Heights`).
    remote_has: Option<HashMap<NodeId, u64>>,
    /// Authors that may have something to send.
    dirty: BTreeSet<NodeId>,
    /// Authors the remote refused; skipped until the next heights exchange.
    stuck: BTreeSet<NodeId>,
    in_flight: Option<InFlight>,
    stats: Stats,
    /// Up a link: only the local unit's own log (a privacy boundary, see
    /// [`Session::own_log_only`]).
    own_log_only: bool,
}

impl Session {
    /// Sends the parent only this node's own log, not its subtree's: at the level records
    /// stop at (`records_up_to`), the subtree's figures go up as signed summaries in that
    /// log instead of the documents.
    pub fn own_log_only(mut self) -> Session {
        self.own_log_only = true;
        self
    }

    /// A new session between `local_unit` and `remote_unit`, whose role is `remote_role`.
    pub fn new(local_unit: &str, remote_unit: &str, remote_role: Role) -> Session {
        Session {
            local_unit: local_unit.to_string(),
            remote_unit: remote_unit.to_string(),
            remote_role,
            remote_has: None,
            dirty: BTreeSet::new(),
            stuck: BTreeSet::new(),
            in_flight: None,
            stats: Stats::default(),
            own_log_only: false,
        }
    }

    /// The remote unit.
    pub fn remote_unit(&self) -> &str {
        &self.remote_unit
    }

    /// The remote's role.
    pub fn remote_role(&self) -> Role {
        self.remote_role
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// True once the remote told us what it holds and nothing is left to send.
    pub fn idle(&self) -> bool {
        self.remote_has.is_some() && self.in_flight.is_none() && self.dirty.is_empty()
    }

    /// The `Heights` request telling the remote what we hold of what we want from it.
    pub fn want(&self, dir: &Directory, src: &dyn LogSource) -> Request {
        let remote_is = match self.remote_role {
            Role::Parent => Role::Child,
            Role::Child => Role::Parent,
        };
        let mut heights: Vec<(NodeId, u64)> = src
            .heights()
            .into_iter()
            .filter(|(a, _)| {
                dir.unit_of(a).is_some_and(|u| {
                    in_scope(dir, &self.remote_unit, &self.local_unit, remote_is, u, None)
                })
            })
            .collect();
        heights.truncate(MAX_HEIGHTS);
        Request::Heights { heights }
    }

    /// The remote told us what it holds: (re)start streaming from there.
    ///
    /// A link re-compares heights while it lives (the driver re-sends them on an idle link),
    /// so this may arrive with a page in flight: that page stays in flight and nothing
    /// else is sent until it is acknowledged or fails, since the remote's heights may
    /// predate its commit. Authors the remote refused stay skipped until
    /// [`Session::retry_stuck`]: heights alone do not say the remote would now accept them.
    pub fn on_heights(&mut self, dir: &Directory, src: &dyn LogSource, heights: &[(NodeId, u64)]) {
        // The authors of a page in flight are raised by its acknowledgement.
        let mut remote: HashMap<NodeId, u64> = heights.iter().copied().collect();
        // A child's own log: it holds at least what it sent us on this link (heights
        // sent before its latest page may arrive after it).
        if let Some(before) = &self.remote_has {
            for (author, h) in remote.iter_mut() {
                if self.is_remote_own(dir, author) {
                    *h = (*h).max(before.get(author).copied().unwrap_or(0));
                }
            }
        }
        // Only authors of which we hold more than the remote: re-comparing an idle link
        // reads nothing from the log.
        self.dirty = src
            .heights()
            .into_iter()
            .filter(|(a, h)| *h > remote.get(a).copied().unwrap_or(0))
            .map(|(a, _)| a)
            .filter(|a| !self.stuck.contains(a) && self.author_in_scope(dir, a))
            .collect();
        self.remote_has = Some(remote);
    }

    /// Sends the authors the remote refused again (their entries are offered from where
    /// the remote stands). The driver calls this on its own, slow, schedule: a refusal
    /// that was transient (a certificate the remote lacked, a full disk) heals, while one
    /// that is not costs one page per retry. Returns how many authors were retried.
    pub fn retry_stuck(&mut self, dir: &Directory) -> usize {
        let stuck = std::mem::take(&mut self.stuck);
        let n = stuck.len();
        for a in stuck {
            if self.author_in_scope(dir, &a) {
                self.dirty.insert(a);
            }
        }
        n
    }

    /// Authors whose entries the remote refused (skipped until [`Session::retry_stuck`]).
    pub fn stuck(&self) -> impl Iterator<Item = &NodeId> + '_ {
        self.stuck.iter()
    }

    /// What we believe the remote holds of `author` (from its heights and acknowledgements);
    /// `None` before its heights arrived.
    pub fn remote_height(&self, author: &NodeId) -> Option<u64> {
        self.remote_has
            .as_ref()
            .map(|r| r.get(author).copied().unwrap_or(0))
    }

    /// Whether a page is in flight (sent, neither acknowledged nor failed).
    pub fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// An entry by `author` was committed locally (authored here or received).
    ///
    /// A child's own log is not offered down on a commit: what was committed came from
    /// the child (it is sent down only when its heights say it lacks it, a restore).
    pub fn on_appended(&mut self, dir: &Directory, author: &NodeId) {
        if !self.stuck.contains(author)
            && self.author_in_scope(dir, author)
            && !self.is_remote_own(dir, author)
        {
            self.dirty.insert(*author);
        }
    }

    /// The remote is a child and `author` its own key.
    fn is_remote_own(&self, dir: &Directory, author: &NodeId) -> bool {
        self.remote_role == Role::Child && dir.unit_of(author) == Some(self.remote_unit.as_str())
    }

    /// The remote sent us a page: it holds at least these heights (raised, never
    /// lowered), so nothing of it is offered back.
    pub fn on_received(&mut self, heights: &[(NodeId, u64)]) {
        if let Some(remote) = self.remote_has.as_mut() {
            for (author, h) in heights {
                let held = remote.entry(*author).or_insert(0);
                *held = (*held).max(*h);
            }
        }
    }

    fn author_in_scope(&self, dir: &Directory, author: &NodeId) -> bool {
        if self.own_log_only && self.remote_role == Role::Parent {
            return dir.unit_of(author) == Some(self.local_unit.as_str());
        }
        dir.unit_of(author).is_some_and(|u| {
            in_scope(
                dir,
                &self.local_unit,
                &self.remote_unit,
                self.remote_role,
                u,
                None,
            )
        })
    }

    /// The next page to send, if the remote is ready, nothing is in flight and something
    /// is missing at the remote.
    pub fn next_page(&mut self, dir: &Directory, src: &dyn LogSource) -> Option<Request> {
        if self.in_flight.is_some() {
            return None;
        }
        let remote = self.remote_has.as_mut()?;
        let mut entries = Vec::new();
        let mut docs = Vec::new();
        let mut bytes = 0usize;
        let mut sent = Vec::new();
        let authors: Vec<NodeId> = self.dirty.iter().copied().collect();
        for author in authors {
            if entries.len() >= MAX_PAGE_ENTRIES || bytes >= MAX_PAGE_BYTES {
                break;
            }
            let Some(author_unit) = dir.unit_of(&author) else {
                self.dirty.remove(&author);
                continue;
            };
            let have = remote.get(&author).copied().unwrap_or(0);
            // Whole logs (up, and a child's own log down) may leave out what a snapshot
            // replaces; the sparse logs sent down are sent as they are.
            let skip = if self.remote_role == Role::Parent || author_unit == self.remote_unit {
                Skip::of(src, &author, have)
            } else {
                Skip::default()
            };
            let limits = Limits {
                have,
                entries: MAX_PAGE_ENTRIES - entries.len(),
                bytes: MAX_PAGE_BYTES - bytes,
                empty: entries.is_empty(),
            };
            let filter = |raw: &[u8]| match self.remote_role {
                Role::Parent => true,
                Role::Child => Entry::decode(raw).is_ok_and(|e| {
                    in_scope(
                        dir,
                        &self.local_unit,
                        &self.remote_unit,
                        Role::Child,
                        author_unit,
                        Some(e.body.payload.audience()),
                    ) || moved_here(dir, &self.remote_unit, &e)
                }),
            };
            let mut run = Run::collect(src, &author, &limits, &skip, &filter);
            if run.items.is_empty() && !run.exhausted && entries.is_empty() {
                run = Run::fallback(src, &author, &limits, &skip, &filter);
                if run.items.is_empty() && !run.exhausted {
                    // Nothing of the author can be sent that the remote would accept:
                    // not retried until the next heights exchange.
                    self.dirty.remove(&author);
                    self.stuck.insert(author);
                    self.stats.stuck += 1;
                    continue;
                }
            }
            if run.exhausted {
                self.dirty.remove(&author);
            }
            let last_sent = run.items.last().map(|(seq, ..)| *seq);
            for (_, raw, doc) in run.items {
                if let Some(doc) = doc {
                    bytes += doc.len();
                    self.stats.docs += 1;
                    docs.push((entries.len() as u32, doc));
                }
                bytes += raw.len();
                entries.push(raw);
            }
            match last_sent {
                Some(last) => sent.push((author, last, run.belief)),
                // Everything new was filtered out: the remote needs none of it.
                None => {
                    remote.insert(author, run.belief);
                }
            }
        }
        if entries.is_empty() {
            return None;
        }
        self.stats.pages += 1;
        self.stats.entries += entries.len() as u64;
        self.stats.bytes += bytes as u64;
        self.in_flight = Some(InFlight { sent });
        Some(Request::Page { entries, docs })
    }

    /// The remote acknowledged the page in flight with its heights after commit.
    pub fn on_acked(&mut self, heights: &[(NodeId, u64)]) {
        let Some(flight) = self.in_flight.take() else {
            return;
        };
        let Some(remote) = self.remote_has.as_mut() else {
            return;
        };
        let acked: HashMap<NodeId, u64> = heights.iter().copied().collect();
        for (author, last_sent, belief) in flight.sent {
            let now = acked.get(&author).copied().unwrap_or(0);
            if now >= last_sent {
                remote.insert(author, now.max(belief));
            } else {
                // Refused part of the page: do not resend until the next heights exchange.
                remote.insert(author, now);
                self.dirty.remove(&author);
                self.stuck.insert(author);
                self.stats.stuck += 1;
            }
        }
    }

    /// The page in flight failed in transport: forget it; its authors are retried.
    pub fn on_failed(&mut self) {
        if let Some(flight) = self.in_flight.take() {
            self.dirty.extend(flight.sent.iter().map(|(a, _, _)| *a));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cert::{CertBody, Certificate};
    use crate::entry::{Hash, Payload};
    use crate::identity::NodeKey;
    use std::collections::BTreeMap;

    /// Logs, snapshot entries offered with their documents, and holes (seqs not held).
    #[derive(Default)]
    struct Mem(
        BTreeMap<NodeId, Vec<Vec<u8>>>,
        Vec<(NodeId, Held, Vec<u8>)>,
        BTreeMap<NodeId, Ranges>,
    );
    impl Mem {
        fn append(&mut self, key: &NodeKey, payload: Payload) -> u64 {
            let log = self.0.entry(key.id()).or_default();
            let back: Option<Hash> = log.last().map(|b| Entry::decode(b).unwrap().hash());
            let e = Entry::sign(key, log.len() as u64 + 1, back, 0, payload);
            log.push(e.into_bytes());
            log.len() as u64
        }
    }
    impl LogSource for Mem {
        fn height(&self, a: &NodeId) -> u64 {
            self.0.get(a).map_or(0, |l| l.len() as u64)
        }
        fn heights(&self) -> Vec<(NodeId, u64)> {
            self.0.iter().map(|(a, l)| (*a, l.len() as u64)).collect()
        }
        fn entries(&self, a: &NodeId, from: u64, n: usize, _b: usize) -> Vec<(u64, Vec<u8>)> {
            let Some(l) = self.0.get(a) else {
                return vec![];
            };
            let holes = self.holes(a);
            l.iter()
                .enumerate()
                .skip(from as usize - 1)
                .map(|(i, b)| (i as u64 + 1, b.clone()))
                .filter(|(seq, _)| !snapshot::ranges_contain(&holes, *seq))
                .take(n)
                .collect()
        }
        fn holes(&self, a: &NodeId) -> Ranges {
            self.2.get(a).cloned().unwrap_or_default()
        }
        fn snapshots(&self, a: &NodeId) -> Vec<Held> {
            self.1
                .iter()
                .filter(|(x, ..)| x == a)
                .map(|(_, h, _)| h.clone())
                .collect()
        }
        fn snapshot_doc(&self, a: &NodeId, seq: u64) -> Option<Vec<u8>> {
            self.1
                .iter()
                .find(|(x, h, _)| x == a && h.seq == seq)
                .map(|(.., d)| d.clone())
        }
    }

    fn dir(keys: &[(&str, Option<&str>, &NodeKey)], root: &NodeKey) -> Directory {
        let mut d = Directory::new(root.id());
        for (u, p, k) in keys {
            let body = CertBody {
                unit: u.to_string(),
                name: u.to_string(),
                level: "x".into(),
                parent: p.map(str::to_string),
                key: k.id(),
                version: 1,
                effective_ms: 0,
                delegate: false,
                issuer: root.id(),
            };
            d.insert(Certificate::issue(body, root)).unwrap();
        }
        d
    }

    fn note(to: &str) -> Payload {
        Payload::Notification {
            to_unit: to.into(),
            title: "t".into(),
            body: "b".into(),
        }
    }

    #[test]
    fn down_scope_filters_by_audience_and_up_sends_subtree() {
        let so = NodeKey::from_secret([1; 32]);
        let d1 = NodeKey::from_secret([2; 32]);
        let d2 = NodeKey::from_secret([3; 32]);
        let s1 = NodeKey::from_secret([4; 32]);
        let dir = dir(
            &[
                ("so", None, &so),
                ("d1", Some("so"), &d1),
                ("d2", Some("so"), &d2),
                ("s1", Some("d1"), &s1),
            ],
            &so,
        );
        let mut at_d1 = Mem::default();
        at_d1.append(&so, note("d2"));
        at_d1.append(&so, note("d1"));
        at_d1.append(&so, note("d2"));
        at_d1.append(&d1, note("s1"));
        at_d1.append(
            &s1,
            Payload::Ack {
                author: so.id(),
                seq: 2,
            },
        );
        at_d1.append(&d2, note("d2"));
        // d1 -> s1 (down): only so#2 and d1#1 (s1 holds its own entry).
        let mut down = Session::new("d1", "s1", Role::Child);
        assert!(
            down.next_page(&dir, &at_d1).is_none(),
            "nothing before heights"
        );
        down.on_heights(&dir, &at_d1, &[(s1.id(), 1)]);
        let Some(Request::Page { entries, .. }) = down.next_page(&dir, &at_d1) else {
            panic!()
        };
        let got: Vec<(NodeId, u64)> = entries
            .iter()
            .map(|b| {
                let e = Entry::decode(b).unwrap();
                (e.author(), e.seq())
            })
            .collect();
        assert_eq!(got.len(), 2);
        assert!(got.contains(&(so.id(), 2)) && got.contains(&(d1.id(), 1)));
        down.on_acked(&[(so.id(), 2), (d1.id(), 1)]);
        assert!(down.next_page(&dir, &at_d1).is_none());
        assert!(down.idle());
        // What the child itself sent is never offered back: not on the commit event of
        // its page, nor when heights it sent before that page arrive after it.
        let mut down = Session::new("d1", "s1", Role::Child);
        down.on_heights(&dir, &at_d1, &[(s1.id(), 1), (so.id(), 2), (d1.id(), 1)]);
        down.on_appended(&dir, &s1.id());
        assert!(down.next_page(&dir, &at_d1).is_none());
        down.on_received(&[(s1.id(), 1)]);
        down.on_heights(&dir, &at_d1, &[(s1.id(), 0), (so.id(), 2), (d1.id(), 1)]);
        assert!(down.next_page(&dir, &at_d1).is_none());
        // A child that lost its own log (restoring) gets it back, with the rest.
        let mut down = Session::new("d1", "s1", Role::Child);
        down.on_heights(&dir, &at_d1, &[]);
        let Some(Request::Page { entries, .. }) = down.next_page(&dir, &at_d1) else {
            panic!()
        };
        let got: Vec<u64> = entries
            .iter()
            .map(|b| Entry::decode(b).unwrap())
            .filter(|e| e.author() == s1.id())
            .map(|e| e.seq())
            .collect();
        assert_eq!(got, vec![1]);
        // d1 -> so (up): d1#1 and s1#1, never so's or d2's.
        let mut up = Session::new("d1", "so", Role::Parent);
        up.on_heights(&dir, &at_d1, &[(s1.id(), 0)]);
        let Some(Request::Page { entries, .. }) = up.next_page(&dir, &at_d1) else {
            panic!()
        };
        assert_eq!(entries.len(), 2);
        // A refusal makes the author stuck rather than a hot retry loop.
        up.on_acked(&[(d1.id(), 1), (s1.id(), 0)]);
        at_d1.append(
            &s1,
            Payload::Ack {
                author: so.id(),
                seq: 2,
            },
        );
        up.on_appended(&dir, &s1.id());
        assert!(up.next_page(&dir, &at_d1).is_none());
        assert_eq!(up.stats().stuck, 1);
        // What s1 asks its parent for: ancestors' logs it holds.
        let mut at_s1 = Mem::default();
        at_s1.append(&so, note("s1"));
        let want = Session::new("s1", "d1", Role::Parent).want(&dir, &at_s1);
        assert_eq!(
            want,
            Request::Heights {
                heights: vec![(so.id(), 1)]
            }
        );
    }

    #[test]
    fn pages_are_bounded_and_resume_after_failure() {
        let so = NodeKey::from_secret([1; 32]);
        let s1 = NodeKey::from_secret([4; 32]);
        let dir = dir(&[("so", None, &so), ("s1", Some("so"), &s1)], &so);
        let mut m = Mem::default();
        for _ in 0..(MAX_PAGE_ENTRIES + 10) {
            m.append(
                &s1,
                Payload::Ack {
                    author: so.id(),
                    seq: 1,
                },
            );
        }
        let mut up = Session::new("s1", "so", Role::Parent);
        up.on_heights(&dir, &m, &[]);
        let Some(Request::Page { entries, .. }) = up.next_page(&dir, &m) else {
            panic!()
        };
        assert_eq!(entries.len(), MAX_PAGE_ENTRIES);
        up.on_failed();
        let Some(Request::Page { entries, .. }) = up.next_page(&dir, &m) else {
            panic!()
        };
        assert_eq!(
            entries.len(),
            MAX_PAGE_ENTRIES,
            "resent after a transport failure"
        );
        up.on_acked(&[(s1.id(), MAX_PAGE_ENTRIES as u64)]);
        let Some(Request::Page { entries, .. }) = up.next_page(&dir, &m) else {
            panic!()
        };
        assert_eq!(entries.len(), 10);
    }

    #[test]
    fn heights_again_mid_page_keep_one_page_in_flight() {
        let so = NodeKey::from_secret([1; 32]);
        let s1 = NodeKey::from_secret([4; 32]);
        let dir = dir(&[("so", None, &so), ("s1", Some("so"), &s1)], &so);
        let mut m = Mem::default();
        for _ in 0..(MAX_PAGE_ENTRIES + 10) {
            m.append(&s1, ack(&so));
        }
        let mut up = Session::new("s1", "so", Role::Parent);
        up.on_heights(&dir, &m, &[]);
        assert!(up.next_page(&dir, &m).is_some());
        // The periodic re-comparison arrives before the page's acknowledgement.
        up.on_heights(&dir, &m, &[]);
        assert!(up.in_flight());
        assert!(
            up.next_page(&dir, &m).is_none(),
            "a second page while one is in flight"
        );
        up.on_acked(&[(s1.id(), MAX_PAGE_ENTRIES as u64)]);
        let Some(Request::Page { entries, .. }) = up.next_page(&dir, &m) else {
            panic!("the rest never followed")
        };
        assert_eq!(seqs(&entries)[0], MAX_PAGE_ENTRIES as u64 + 1);
        up.on_acked(&[(s1.id(), MAX_PAGE_ENTRIES as u64 + 10)]);
        assert!(up.idle());
        // An idle link whose remote lost nothing sends nothing on re-comparison...
        up.on_heights(&dir, &m, &[(s1.id(), MAX_PAGE_ENTRIES as u64 + 10)]);
        assert!(up.next_page(&dir, &m).is_none());
        // ...and what the remote lacks (a page it never committed) on the next one.
        up.on_heights(&dir, &m, &[(s1.id(), 5)]);
        let Some(Request::Page { entries, .. }) = up.next_page(&dir, &m) else {
            panic!("a re-comparison showing a shortfall sent nothing")
        };
        assert_eq!(seqs(&entries)[0], 6);
    }

    #[test]
    fn refused_authors_wait_for_retry_stuck_not_for_heights() {
        let so = NodeKey::from_secret([1; 32]);
        let s1 = NodeKey::from_secret([4; 32]);
        let dir = dir(&[("so", None, &so), ("s1", Some("so"), &s1)], &so);
        let mut m = Mem::default();
        for _ in 0..3 {
            m.append(&s1, ack(&so));
        }
        let mut up = Session::new("s1", "so", Role::Parent);
        up.on_heights(&dir, &m, &[]);
        assert!(up.next_page(&dir, &m).is_some());
        // The parent kept entry 1 and refused 2 and 3.
        up.on_acked(&[(s1.id(), 1)]);
        assert_eq!(up.stuck().copied().collect::<Vec<_>>(), vec![s1.id()]);
        assert_eq!(up.remote_height(&s1.id()), Some(1));
        // A re-comparison does not resend what the parent refused (no hot loop)...
        up.on_heights(&dir, &m, &[(s1.id(), 1)]);
        assert!(up.next_page(&dir, &m).is_none());
        assert_eq!(up.stuck().count(), 1);
        // ...the driver's slow retry does, from where the parent stands.
        assert_eq!(up.retry_stuck(&dir), 1);
        let Some(Request::Page { entries, .. }) = up.next_page(&dir, &m) else {
            panic!("not retried")
        };
        assert_eq!(seqs(&entries), vec![2, 3]);
        up.on_acked(&[(s1.id(), 3)]);
        assert_eq!(up.stuck().count(), 0);
        assert_eq!(up.remote_height(&s1.id()), Some(3));
    }

    fn ack(so: &NodeKey) -> Payload {
        Payload::Ack {
            author: so.id(),
            seq: 1,
        }
    }

    fn seqs(entries: &[Vec<u8>]) -> Vec<u64> {
        entries
            .iter()
            .map(|b| Entry::decode(b).unwrap().seq())
            .collect()
    }

    /// A log [C1, A2, C3, S4] where S4 snapshots the document C1 and C3 wrote.
    fn snapshot_log(so: &NodeKey, s1: &NodeKey) -> Mem {
        let doc = crate::entry::DocId {
            unit: "s1".into(),
            collection: "students".into(),
            year: "2026-2027".into(),
        };
        let changes = Payload::Changes {
            doc: doc.clone(),
            changes: vec![vec![1]],
        };
        let mut m = Mem::default();
        m.append(s1, changes.clone());
        m.append(s1, ack(so));
        m.append(s1, changes);
        let replaces = vec![(1, 1), (3, 3)];
        let seq = m.append(
            s1,
            Payload::Snapshot {
                doc,
                heads: vec![[1; 32]],
                replaces: replaces.clone(),
            },
        );
        m.1.push((s1.id(), Held { seq, replaces }, b"saved document".to_vec()));
        m
    }

    #[test]
    fn snapshot_replaces_what_the_remote_lacks_entirely() {
        let so = NodeKey::from_secret([1; 32]);
        let s1 = NodeKey::from_secret([4; 32]);
        let dir = dir(&[("so", None, &so), ("s1", Some("so"), &s1)], &so);
        let m = snapshot_log(&so, &s1);
        // An empty parent: the ack, then the snapshot with its document in place of C1, C3.
        let mut up = Session::new("s1", "so", Role::Parent);
        up.on_heights(&dir, &m, &[]);
        let Some(Request::Page { entries, docs }) = up.next_page(&dir, &m) else {
            panic!()
        };
        assert_eq!(seqs(&entries), vec![2, 4]);
        assert_eq!(docs, vec![(1, b"saved document".to_vec())]);
        assert_eq!(up.stats().docs, 1);
        up.on_acked(&[(s1.id(), 4)]);
        assert!(up.next_page(&dir, &m).is_none() && up.idle());
        // A parent holding C1 gets the rest as it is: C3 is cheaper than the document.
        let mut up = Session::new("s1", "so", Role::Parent);
        up.on_heights(&dir, &m, &[(s1.id(), 1)]);
        let Some(Request::Page { entries, docs }) = up.next_page(&dir, &m) else {
            panic!()
        };
        assert_eq!(seqs(&entries), vec![2, 3, 4]);
        assert!(docs.is_empty());
        // Down a link a child that holds its own log gets none of it; one that lost it
        // (restoring) gets it back as up a link: the snapshot and its document in place
        // of what it replaces.
        let mut down = Session::new("so", "s1", Role::Child);
        down.on_heights(&dir, &m, &[(s1.id(), 4)]);
        assert!(down.next_page(&dir, &m).is_none());
        let mut down = Session::new("so", "s1", Role::Child);
        down.on_heights(&dir, &m, &[]);
        let Some(Request::Page { entries, docs }) = down.next_page(&dir, &m) else {
            panic!()
        };
        assert_eq!(seqs(&entries), vec![2, 4]);
        assert_eq!(docs, vec![(1, b"saved document".to_vec())]);
    }

    #[test]
    fn a_hole_never_travels_without_its_snapshot() {
        let so = NodeKey::from_secret([1; 32]);
        let s1 = NodeKey::from_secret([4; 32]);
        let dir = dir(&[("so", None, &so), ("s1", Some("so"), &s1)], &so);
        let doc = crate::entry::DocId {
            unit: "s1".into(),
            collection: "students".into(),
            year: "2026-2027".into(),
        };
        // C1, then more acks than a page holds, then the snapshot of C1's document.
        let mut m = Mem::default();
        m.append(
            &s1,
            Payload::Changes {
                doc: doc.clone(),
                changes: vec![vec![1]],
            },
        );
        for _ in 0..MAX_PAGE_ENTRIES + 5 {
            m.append(&s1, ack(&so));
        }
        let seq = m.append(
            &s1,
            Payload::Snapshot {
                doc,
                heads: vec![[1; 32]],
                replaces: vec![(1, 1)],
            },
        );
        m.1.push((
            s1.id(),
            Held {
                seq,
                replaces: vec![(1, 1)],
            },
            b"doc".to_vec(),
        ));
        let mut up = Session::new("s1", "so", Role::Parent);
        up.on_heights(&dir, &m, &[]);
        let Some(Request::Page { entries, docs }) = up.next_page(&dir, &m) else {
            panic!()
        };
        // The snapshot cannot share a page with the hole: the entries go as they are.
        assert_eq!(seqs(&entries)[..3], [1, 2, 3]);
        assert_eq!(entries.len(), MAX_PAGE_ENTRIES);
        assert!(docs.is_empty());
        up.on_acked(&[(s1.id(), MAX_PAGE_ENTRIES as u64)]);
        let Some(Request::Page { entries, docs }) = up.next_page(&dir, &m) else {
            panic!()
        };
        assert_eq!(*seqs(&entries).last().unwrap(), seq);
        assert!(docs.is_empty(), "the remote holds C1 now");
    }

    #[test]
    fn a_sender_never_sends_raw_entries_across_its_own_holes() {
        let so = NodeKey::from_secret([1; 32]);
        let s1 = NodeKey::from_secret([4; 32]);
        let dir = dir(&[("so", None, &so), ("s1", Some("so"), &s1)], &so);
        let doc = crate::entry::DocId {
            unit: "s1".into(),
            collection: "students".into(),
            year: "2026-2027".into(),
        };
        // A1..A3, C4, then more acks than a page holds, then the snapshot of C4's
        // document. The sender was seeded from that snapshot: it lacks C4.
        let mut m = Mem::default();
        for _ in 0..3 {
            m.append(&s1, ack(&so));
        }
        m.append(
            &s1,
            Payload::Changes {
                doc: doc.clone(),
                changes: vec![vec![1]],
            },
        );
        for _ in 0..MAX_PAGE_ENTRIES + 88 {
            m.append(&s1, ack(&so));
        }
        let replaces = vec![(4, 4)];
        let seq = m.append(
            &s1,
            Payload::Snapshot {
                doc,
                heads: vec![[1; 32]],
                replaces: replaces.clone(),
            },
        );
        m.1.push((s1.id(), Held { seq, replaces }, b"doc".to_vec()));
        m.2.insert(s1.id(), vec![(4, 4)]);
        let mut up = Session::new("s1", "so", Role::Parent);
        up.on_heights(&dir, &m, &[]);
        // What it holds before the hole goes as it is.
        let Some(Request::Page { entries, docs }) = up.next_page(&dir, &m) else {
            panic!()
        };
        assert_eq!(seqs(&entries), vec![1, 2, 3]);
        assert!(docs.is_empty());
        up.on_acked(&[(s1.id(), 3)]);
        // From the hole on, the run up to the snapshot goes whole, with its document,
        // although it holds more entries than a page.
        let Some(Request::Page { entries, docs }) = up.next_page(&dir, &m) else {
            panic!()
        };
        assert_eq!(seqs(&entries), (5..=seq).collect::<Vec<u64>>());
        assert!(entries.len() > MAX_PAGE_ENTRIES);
        assert_eq!(docs, vec![(entries.len() as u32 - 1, b"doc".to_vec())]);
        up.on_acked(&[(s1.id(), seq)]);
        assert!(up.next_page(&dir, &m).is_none() && up.idle());
    }
}
