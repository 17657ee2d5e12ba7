//! The structure-aware page generator and the receiver it feeds.
//!
//! An [`Input`] (built by `arbitrary` from the fuzzer's bytes) describes a few pages of
//! entries by the units of the [`world`](crate::world). [`Generator`] turns each
//! description into what a peer would send: entries validly signed by their author's key,
//! hash-chained to the author's earlier entries, carrying real Automerge changes written
//! by the author's actor (or, on request, by another), snapshot entries with the author's
//! saved document beside them, certificates, notifications, acks; then it damages some of
//! them as asked (a flipped bit, a truncation, a bad signature, a skipped or repeated seq,
//! a forged snapshot claim, a foreign document). So most entries pass the signature
//! check and the fuzzer explores what validation does after it.
//!
//! [`run`] feeds the pages to the node's engine (`eduioc_engine::Engine` on redb's
//! in-memory backend: decode, batch verification, `validate::page_holes`,
//! `validate::check_with_doc`, the passes of `snapshot::PageHoles`, Automerge application,
//! summaries and the store's transaction, exactly as at a node) and checks after every
//! page what must hold whatever a peer sends: every entry held decodes, is signed by its author and sits at its seq; the
//! height is the highest seq held; every hole is replaced by a snapshot entry held.

use std::collections::{BTreeMap, HashMap};

use arbitrary::Arbitrary;
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT};
use eduioc_protocol::entry::Hash;
use eduioc_protocol::snapshot::{self, Ranges};
use eduioc_protocol::{
    CertBody, Certificate, DocId, Entry, LogSource, NodeId, NodeKey, Payload,
};
use eduioc_engine::{Clock, Config, Engine, Store};

use crate::world::{world, STRANGER, UNITS};

/// Pages used of an input.
pub const MAX_PAGES: usize = 4;
/// Items used of a page.
pub const MAX_ITEMS: usize = 16;
/// Operations used of a changes entry.
pub const MAX_OPS: usize = 8;

const COLLECTIONS: [&str; 5] = ["students", "staff", "classes", "profile", "notes"];
const YEARS: [&str; 2] = ["2026-2027", "2025-2026"];
const LEVELS: [&str; 4] = ["department", "district", "school", "commune"];
const FIELDS: [&str; 13] = [
    "full_name",
    "gender",
    "birth_date",
    "grade",
    "class_id",
    "ethnicity",
    "status",
    "role",
    "qualification",
    "name",
    "homeroom_staff_id",
    "staff_id",
    "x",
];

/// What the fuzzer asks for: a receiver and the pages it is sent.
#[derive(Arbitrary, Debug)]
pub struct Input {
    /// The receiver is the department (every log in its subtree) or else the district
    /// (the department's log is sparse there).
    pub receiver_is_root: bool,
    /// The pages, in order (at most [`MAX_PAGES`] are used).
    pub pages: Vec<PageSpec>,
}

/// One page.
#[derive(Arbitrary, Debug)]
pub struct PageSpec {
    /// Its entries (at most [`MAX_ITEMS`] are used).
    pub items: Vec<Item>,
    /// More saved documents, beside whatever entry index (modulo the page's length + 2).
    pub stray_docs: Vec<(u8, Vec<u8>)>,
}

/// One entry of a page.
#[derive(Arbitrary, Debug)]
pub enum Item {
    /// A new entry.
    Entry(EntrySpec),
    /// An entry sent before, again, with the document it had beside it.
    Replay {
        /// Whose.
        author: u8,
        /// How far back in what was sent of that author.
        back: u8,
    },
    /// Bytes that are probably no entry.
    Raw(Vec<u8>),
}

/// A new signed entry.
#[derive(Arbitrary, Debug)]
pub struct EntrySpec {
    /// Index into [`UNITS`] (modulo).
    pub author: u8,
    /// Where in the author's log.
    pub seq: SeqSpec,
    /// The author's clock.
    pub timestamp_ms: i64,
    /// What it carries.
    pub payload: PayloadSpec,
    /// What is done to the signed bytes.
    pub damage: Option<Damage>,
}

/// Where a new entry sits in its author's log.
#[derive(Arbitrary, Debug)]
pub enum SeqSpec {
    /// Right after the author's last entry, linked to it.
    Next,
    /// Leaving a gap of 1 to 8 seqs.
    Skip(u8),
    /// At the author's last seq again, with other content.
    Fork,
    /// Anywhere (seq 0 becomes 1; the backlink is present exactly when seq > 1).
    Raw {
        /// The seq.
        seq: u64,
        /// The backlink, zeros when absent.
        backlink: Option<[u8; 32]>,
    },
}

/// The payload of a new entry.
#[derive(Arbitrary, Debug)]
pub enum PayloadSpec {
    /// Automerge changes to a document.
    Changes {
        /// Which document.
        doc: DocPick,
        /// What the changes do (at most [`MAX_OPS`]).
        ops: Vec<Op>,
        /// Written by another actor (a unit's key, or a short made-up actor id).
        foreign_actor: Option<u8>,
    },
    /// A notification.
    Notification {
        /// Index into [`UNITS`].
        to: u8,
        /// Title.
        title: String,
        /// Body.
        body: String,
    },
    /// A read receipt.
    Ack {
        /// Index into [`UNITS`].
        author: u8,
        /// Seq read.
        seq: u64,
    },
    /// A certificate.
    Certificate(CertSpec),
    /// A snapshot of a document.
    Snapshot {
        /// Which document.
        doc: DocPick,
        /// The seqs it claims to replace.
        replaces: ReplacesSpec,
        /// Heads to sign instead of the document's.
        heads: Option<Vec<[u8; 32]>>,
        /// What goes beside it in the page.
        beside: Beside,
    },
}

/// A document id from small choices.
#[derive(Arbitrary, Debug)]
pub struct DocPick {
    /// Index into [`UNITS`].
    pub unit: u8,
    /// Index into the collections (one of them unknown).
    pub collection: u8,
    /// The other school year.
    pub other_year: bool,
}

/// One Automerge operation on a records document (or on its shape).
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// Sets a field of a record (created if missing).
    Put {
        /// Record id (modulo 16).
        id: u8,
        /// Field name index.
        field: u8,
        /// Value.
        value: Scalar,
    },
    /// Deletes a record.
    Delete {
        /// Record id.
        id: u8,
    },
    /// Sets a key of the root map: `records` itself may become a scalar.
    PutRoot {
        /// Key index.
        key: u8,
        /// Value.
        value: Scalar,
    },
    /// Makes a record a list instead of a map.
    ListRecord {
        /// Record id.
        id: u8,
    },
    /// Makes a field a text object.
    TextField {
        /// Record id.
        id: u8,
        /// Field name index.
        field: u8,
        /// Text.
        text: String,
    },
}

/// An Automerge scalar.
#[derive(Arbitrary, Debug)]
pub enum Scalar {
    /// String.
    Str(String),
    /// Signed integer.
    Int(i64),
    /// Unsigned integer.
    Uint(u64),
    /// Float.
    F64(f64),
    /// Boolean.
    Bool(bool),
    /// Null.
    Null,
    /// Counter.
    Counter(i64),
    /// Timestamp.
    Timestamp(i64),
    /// Bytes.
    Bytes(Vec<u8>),
}

/// A certificate from small choices.
#[derive(Arbitrary, Debug)]
pub struct CertSpec {
    /// Index into [`UNITS`]...
    pub unit: u8,
    /// ... or any text.
    pub unit_text: Option<String>,
    /// Parent index.
    pub parent: Option<u8>,
    /// Level index.
    pub level: u8,
    /// Key index.
    pub key: u8,
    /// Version.
    pub version: u32,
    /// Effective date.
    pub effective_ms: i64,
    /// May certify below.
    pub delegate: bool,
    /// Claimed issuer index.
    pub issuer: u8,
    /// Index of the key that actually signs.
    pub signer: u8,
    /// Name.
    pub name: String,
}

/// The seqs a snapshot entry claims to replace.
#[derive(Arbitrary, Debug)]
pub enum ReplacesSpec {
    /// The author's earlier entries about the document (the honest claim).
    Earlier,
    /// Every seq from 1 up to n (capped below the entry).
    Prefix(u8),
    /// Anything.
    Raw(Vec<(u64, u64)>),
}

/// What goes beside a snapshot entry in the page.
#[derive(Arbitrary, Debug)]
pub enum Beside {
    /// Nothing.
    Nothing,
    /// The author's saved document.
    Save,
    /// A document with a change by another actor.
    ForeignSave(u8),
    /// The saved document with one bit flipped.
    Flip(u32),
    /// The saved document truncated.
    Truncate(u16),
    /// The saved document twice.
    Doubled,
    /// Any bytes.
    Raw(Vec<u8>),
}

/// Damage to an entry's signed bytes.
#[derive(Arbitrary, Debug)]
pub enum Damage {
    /// One bit flipped anywhere.
    FlipBit(u32),
    /// Cut short.
    Truncate(u16),
    /// A byte inserted.
    Insert(u16, u8),
    /// One byte of the signature changed.
    Signature(u8),
}

/// What one author sent so far, and its documents as it writes them.
#[derive(Default)]
struct Author {
    /// Highest seq signed and its hash.
    head: Option<(u64, Hash)>,
    /// Hash of each seq signed (the first one signed at it).
    hashes: BTreeMap<u64, Hash>,
    /// Everything sent: the entry bytes and the documents beside it.
    sent: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
    /// The author's documents, by key.
    docs: HashMap<String, AutoCommit>,
    /// Seqs of its entries about each document.
    doc_seqs: HashMap<String, Ranges>,
}

/// Turns page descriptions into pages, keeping each author's log and documents across
/// the pages of one input.
pub struct Generator {
    authors: Vec<Author>,
}

impl Default for Generator {
    fn default() -> Self {
        Generator {
            authors: (0..UNITS.len()).map(|_| Author::default()).collect(),
        }
    }
}

/// A page as sent: entries in wire form and (index, saved document) beside them.
pub type Page = (Vec<Vec<u8>>, Vec<(u32, Vec<u8>)>);

impl Generator {
    /// The page `spec` describes.
    pub fn page(&mut self, spec: &PageSpec) -> Page {
        let mut entries = Vec::new();
        let mut docs = Vec::new();
        for item in spec.items.iter().take(MAX_ITEMS) {
            let index = entries.len() as u32;
            match item {
                Item::Entry(e) => {
                    let (bytes, beside) = self.entry(e);
                    entries.push(bytes);
                    docs.extend(beside.into_iter().map(|d| (index, d)));
                }
                Item::Replay { author, back } => {
                    let a = &self.authors[*author as usize % UNITS.len()];
                    if a.sent.is_empty() {
                        continue;
                    }
                    let (bytes, beside) = &a.sent[a.sent.len() - 1 - *back as usize % a.sent.len()];
                    entries.push(bytes.clone());
                    docs.extend(beside.iter().map(|d| (index, d.clone())));
                }
                Item::Raw(bytes) => entries.push(bytes.clone()),
            }
        }
        let span = entries.len() as u32 + 2;
        for (i, d) in spec.stray_docs.iter().take(4) {
            docs.push((u32::from(*i) % span, d.clone()));
        }
        (entries, docs)
    }

    fn entry(&mut self, spec: &EntrySpec) -> (Vec<u8>, Vec<Vec<u8>>) {
        let w = world();
        let a = spec.author as usize % UNITS.len();
        let key = &w.keys[a];
        let (seq, backlink) = self.place(a, &spec.seq);
        let (payload, beside) = self.payload(a, key, seq, &spec.payload);
        let entry = Entry::sign(key, seq, backlink, spec.timestamp_ms, payload);
        let author = &mut self.authors[a];
        author.hashes.entry(seq).or_insert(entry.hash());
        if author.head.is_none_or(|(s, _)| seq > s) {
            author.head = Some((seq, entry.hash()));
        }
        let mut bytes = entry.into_bytes();
        if let Some(d) = &spec.damage {
            damage(&mut bytes, d);
        }
        author.sent.push((bytes.clone(), beside.clone()));
        (bytes, beside)
    }

    /// The seq and backlink of author `a`'s new entry.
    fn place(&self, a: usize, spec: &SeqSpec) -> (u64, Option<Hash>) {
        let author = &self.authors[a];
        let (last, last_hash) = author.head.map_or((0, None), |(s, h)| (s, Some(h)));
        match spec {
            SeqSpec::Next => (last.saturating_add(1), last_hash),
            SeqSpec::Skip(n) => (
                last.saturating_add(2 + u64::from(*n % 8)),
                Some(last_hash.unwrap_or([*n; 32])),
            ),
            SeqSpec::Fork if last > 0 => {
                let prev = (last > 1).then(|| author.hashes.get(&(last - 1)).copied().unwrap_or([0; 32]));
                (last, prev)
            }
            SeqSpec::Fork => (1, None),
            SeqSpec::Raw { seq, backlink } => {
                let seq = (*seq).max(1);
                (seq, (seq > 1).then(|| backlink.unwrap_or([0; 32])))
            }
        }
    }

    fn payload(
        &mut self,
        a: usize,
        key: &NodeKey,
        seq: u64,
        spec: &PayloadSpec,
    ) -> (Payload, Vec<Vec<u8>>) {
        let w = world();
        match spec {
            PayloadSpec::Changes {
                doc,
                ops,
                foreign_actor,
            } => {
                let id = doc_id(doc);
                let k = id.key();
                let author = &mut self.authors[a];
                let changes = match foreign_actor {
                    Some(f) => {
                        let actor = foreign(*f, a);
                        let mut d = AutoCommit::new().with_actor(actor);
                        apply_ops(&mut d, ops);
                        d.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect()
                    }
                    None => {
                        let d = author
                            .docs
                            .entry(k.clone())
                            .or_insert_with(|| AutoCommit::new().with_actor(ActorId::from(key.id().as_bytes())));
                        let before = d.get_heads();
                        apply_ops(d, ops);
                        d.get_changes(&before).iter().map(|c| c.raw_bytes().to_vec()).collect()
                    }
                };
                snapshot::ranges_insert(author.doc_seqs.entry(k).or_default(), seq);
                (Payload::Changes { doc: id, changes }, Vec::new())
            }
            PayloadSpec::Notification { to, title, body } => (
                Payload::Notification {
                    to_unit: UNITS[*to as usize % UNITS.len()].into(),
                    title: title.clone(),
                    body: body.clone(),
                },
                Vec::new(),
            ),
            PayloadSpec::Ack { author, seq } => (
                Payload::Ack {
                    author: w.keys[*author as usize % UNITS.len()].id(),
                    seq: *seq,
                },
                Vec::new(),
            ),
            PayloadSpec::Certificate(c) => (Payload::Certificate(certificate(c)), Vec::new()),
            PayloadSpec::Snapshot {
                doc,
                replaces,
                heads,
                beside,
            } => {
                let id = doc_id(doc);
                let k = id.key();
                let author = &mut self.authors[a];
                let d = author
                    .docs
                    .entry(k.clone())
                    .or_insert_with(|| AutoCommit::new().with_actor(ActorId::from(key.id().as_bytes())));
                let mut signed: Vec<[u8; 32]> = match heads {
                    Some(h) => h.clone(),
                    None => d.get_heads().into_iter().map(|h| h.0).collect(),
                };
                if heads.is_none() {
                    signed.sort_unstable();
                }
                let earlier = author.doc_seqs.get(&k).cloned().unwrap_or_default();
                let claim = match replaces {
                    ReplacesSpec::Earlier => snapshot::ranges_from(&earlier, 1)
                        .into_iter()
                        .filter(|(x, _)| *x < seq)
                        .map(|(x, y)| (x, y.min(seq - 1)))
                        .collect(),
                    ReplacesSpec::Prefix(n) if seq > 1 => vec![(1, (u64::from(*n) + 1).min(seq - 1))],
                    ReplacesSpec::Prefix(_) => Vec::new(),
                    ReplacesSpec::Raw(r) => r.iter().take(8).copied().collect(),
                };
                let save = |d: &mut AutoCommit| d.save();
                let docs = match beside {
                    Beside::Nothing => Vec::new(),
                    Beside::Save => vec![save(d)],
                    Beside::ForeignSave(f) => {
                        let mut other = d.fork().with_actor(foreign(*f, a));
                        let _ = other.put(ROOT, "x", i64::from(*f));
                        other.commit();
                        vec![other.save()]
                    }
                    Beside::Flip(bit) => {
                        let mut s = save(d);
                        if !s.is_empty() {
                            let bit = *bit as usize % (s.len() * 8);
                            s[bit / 8] ^= 1 << (bit % 8);
                        }
                        vec![s]
                    }
                    Beside::Truncate(n) => {
                        let mut s = save(d);
                        let keep = *n as usize % (s.len() + 1);
                        s.truncate(keep);
                        vec![s]
                    }
                    Beside::Doubled => {
                        let s = save(d);
                        vec![s.clone(), s]
                    }
                    Beside::Raw(b) => vec![b.clone()],
                };
                snapshot::ranges_insert(author.doc_seqs.entry(k).or_default(), seq);
                (
                    Payload::Snapshot {
                        doc: id,
                        heads: signed,
                        replaces: claim,
                    },
                    docs,
                )
            }
        }
    }
}

/// An actor other than unit `a`'s key: another unit's key, or a short made-up id.
fn foreign(f: u8, a: usize) -> ActorId {
    let i = f as usize % UNITS.len();
    if i == a {
        ActorId::from(&[f; 8][..])
    } else {
        ActorId::from(world().keys[i].id().as_bytes())
    }
}

fn doc_id(p: &DocPick) -> DocId {
    DocId {
        unit: UNITS[p.unit as usize % UNITS.len()].into(),
        collection: COLLECTIONS[p.collection as usize % COLLECTIONS.len()].into(),
        year: YEARS[usize::from(p.other_year)].into(),
    }
}

fn certificate(c: &CertSpec) -> Certificate {
    let w = world();
    let n = UNITS.len();
    let body = CertBody {
        unit: c
            .unit_text
            .clone()
            .unwrap_or_else(|| UNITS[c.unit as usize % n].into()),
        name: c.name.clone(),
        level: LEVELS[c.level as usize % LEVELS.len()].into(),
        parent: c.parent.map(|p| UNITS[p as usize % n].into()),
        key: w.keys[c.key as usize % n].id(),
        version: c.version,
        effective_ms: c.effective_ms,
        delegate: c.delegate,
        issuer: w.keys[c.issuer as usize % n].id(),
    };
    Certificate::issue(body, &w.keys[c.signer as usize % n])
}

fn scalar(s: &Scalar) -> ScalarValue {
    match s {
        Scalar::Str(v) => ScalarValue::Str(v.as_str().into()),
        Scalar::Int(v) => ScalarValue::Int(*v),
        Scalar::Uint(v) => ScalarValue::Uint(*v),
        Scalar::F64(v) => ScalarValue::F64(*v),
        Scalar::Bool(v) => ScalarValue::Boolean(*v),
        Scalar::Null => ScalarValue::Null,
        Scalar::Counter(v) => ScalarValue::counter(*v),
        Scalar::Timestamp(v) => ScalarValue::Timestamp(*v),
        Scalar::Bytes(v) => ScalarValue::Bytes(v.clone()),
    }
}

/// The `records` map, created if the root holds something else there.
fn records(d: &mut AutoCommit) -> Option<ObjId> {
    if let Ok(Some((Value::Object(ObjType::Map), id))) = d.get(ROOT, "records") {
        return Some(id);
    }
    d.put_object(ROOT, "records", ObjType::Map).ok()
}

fn record(d: &mut AutoCommit, records: &ObjId, id: &str) -> Option<ObjId> {
    if let Ok(Some((Value::Object(ObjType::Map), obj))) = d.get(records, id) {
        return Some(obj);
    }
    d.put_object(records, id, ObjType::Map).ok()
}

/// Applies `ops` and commits (no change when nothing was done). Errors are ignored: a
/// hostile author may write anything its Automerge accepts.
fn apply_ops(d: &mut AutoCommit, ops: &[Op]) {
    for op in ops.iter().take(MAX_OPS) {
        match op {
            Op::Put { id, field, value } => {
                let Some(rs) = records(d) else { continue };
                let Some(r) = record(d, &rs, &format!("r{}", id % 16)) else {
                    continue;
                };
                let _ = d.put(&r, FIELDS[*field as usize % FIELDS.len()], scalar(value));
            }
            Op::Delete { id } => {
                if let Some(rs) = records(d) {
                    let _ = d.delete(&rs, format!("r{}", id % 16).as_str());
                }
            }
            Op::PutRoot { key, value } => {
                let k = ["records", "meta", "x"][*key as usize % 3];
                let _ = d.put(ROOT, k, scalar(value));
            }
            Op::ListRecord { id } => {
                if let Some(rs) = records(d) {
                    let _ = d.put_object(&rs, format!("r{}", id % 16).as_str(), ObjType::List);
                }
            }
            Op::TextField { id, field, text } => {
                let Some(rs) = records(d) else { continue };
                let Some(r) = record(d, &rs, &format!("r{}", id % 16)) else {
                    continue;
                };
                if let Ok(t) = d.put_object(&r, FIELDS[*field as usize % FIELDS.len()], ObjType::Text) {
                    let _ = d.splice_text(&t, 0, 0, text);
                }
            }
        }
    }
    d.commit();
}

fn damage(bytes: &mut Vec<u8>, d: &Damage) {
    if bytes.is_empty() {
        return;
    }
    match d {
        Damage::FlipBit(bit) => {
            let bit = *bit as usize % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
        }
        Damage::Truncate(n) => bytes.truncate(*n as usize % bytes.len()),
        Damage::Insert(at, b) => bytes.insert(*at as usize % (bytes.len() + 1), *b),
        Damage::Signature(i) => {
            let at = bytes.len().saturating_sub(64) + *i as usize % 64.min(bytes.len());
            if let Some(x) = bytes.get_mut(at) {
                *x ^= 0x5a;
            }
        }
    }
}

/// Sends the pages of `input` to a fresh receiver and checks what must hold after each.
/// Panics when it does not (a finding).
pub fn run(input: &Input) {
    let me = if input.receiver_is_root { 0 } else { 1 };
    let mut node = receiver(me);
    let mut generator = Generator::default();
    for (n, spec) in input.pages.iter().take(MAX_PAGES).enumerate() {
        let (entries, docs) = generator.page(spec);
        if let Err(e) = node.ingest_page(&entries, &docs) {
            panic!("ingesting page {n} failed in memory: {e}");
        }
        invariants(&node, n + 1 == input.pages.len().min(MAX_PAGES));
    }
}

/// A fresh receiver: the engine of unit `me` of the world (0: the department, 1: the
/// district) on an in-memory store.
pub fn receiver(me: usize) -> Engine {
    let w = world();
    let cfg = Config {
        unit: UNITS[me].into(),
        key: NodeKey::from_secret(crate::world::secret(me)),
        root_key: w.keys[0].id(),
        certs: w.dir.certs_for(UNITS[..STRANGER].iter().copied()),
        data_dir: Default::default(),
        doc_cache: 2,
        doc_cache_bytes: 1 << 20,
        school_year: Some(YEARS[0].into()),
    };
    let store = match Store::in_memory() {
        Ok(s) => s,
        Err(e) => panic!("an in-memory store does not open: {e}"),
    };
    match Engine::open_with(cfg, store, Clock::new(|| 1_800_000_000_000)) {
        Ok(e) => e,
        Err(e) => panic!("the receiver's engine does not open: {e}"),
    }
}

/// What holds of a receiver whatever it was sent. `deep`: also re-decode and re-verify
/// every entry held (slower; once per input).
pub fn invariants(node: &Engine, deep: bool) {
    for (author, height) in node.heights() {
        let held = node.entries(&author, 0, usize::MAX, usize::MAX);
        let top = held.last().map_or(0, |(s, _)| *s);
        assert_eq!(top, height, "the height of {} is not its highest entry held", author.short());
        let mut replaced = Ranges::new();
        for (seq, raw) in &held {
            let e = match Entry::decode(raw) {
                Ok(e) => e,
                Err(err) => panic!("an entry held at {}#{seq} does not decode: {err}", author.short()),
            };
            assert_eq!((e.author(), e.seq()), (author, *seq), "an entry is held at the wrong place");
            if deep {
                assert!(e.verify(), "an entry held at {}#{seq} is not signed by its author", author.short());
            }
            if let Payload::Snapshot { replaces, .. } = &e.body.payload {
                snapshot::union_into(&mut replaced, replaces);
            }
        }
        for (from, to) in node.holes(&author) {
            assert!(
                snapshot::ranges_cover(&replaced, from, to),
                "hole {from}..={to} of {}'s log is not replaced by a snapshot entry held",
                author.short()
            );
        }
    }
}

/// The keys of every unit, for targets that need an author id.
pub fn unit_ids() -> Vec<NodeId> {
    world().keys.iter().map(NodeKey::id).collect()
}
