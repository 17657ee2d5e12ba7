//! Validation of received entries.
//!
//! Checks run in a fixed order so every rejection has exactly one reason:
//! decode (size, version, shape) → author certified → signature → authority over the
//! payload → Automerge actor bound to the signer (every change of a changes entry; the
//! actor table of the saved document sent beside a snapshot entry) → log continuity
//! (duplicate, fork, gap). The caller supplies what it holds of the author's log; this
//! module touches no storage.

use crate::cert::Directory;
use crate::entry::{DecodeError, Entry, Hash, Payload};
use crate::snapshot::{self, MAX_DOC_BYTES, MAX_HEADS};

/// Most documents (and units) one summaries entry carries.
pub const MAX_SUMMARIES: usize = 1000;

/// Longest comment of a report step, in bytes.
pub const MAX_REPORT_COMMENT_BYTES: usize = 2000;
/// Most figures a report submits.
pub const MAX_REPORT_FIGURES: usize = 64;

/// A school year as payloads carry it: `YYYY-YYYY`.
fn valid_year(year: &str) -> bool {
    year.len() == 9
        && year.as_bytes()[4] == b'-'
        && year
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 4 || b.is_ascii_digit())
}

/// Longest user name in an audit entry, in bytes (as a login's).
pub const MAX_AUDIT_USER_BYTES: usize = 256;
/// Longest action code of an audit entry, in bytes.
pub const MAX_AUDIT_ACTION_BYTES: usize = 32;
/// Longest detail of an audit entry, in bytes.
pub const MAX_AUDIT_DETAIL_BYTES: usize = 2000;

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
    /// For an entry beyond the held head: every seq missing between the head (or the
    /// log's start) and the entry is replaced by a signed snapshot entry, held or arriving
    /// in the same page, so the gap is a hole a sender left on purpose. For an entry below
    /// the head that is not held: a snapshot entry held replaces it. See
    /// [`crate::snapshot`].
    pub gap_covered: bool,
}

/// Outcome of a successful validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// New: append it.
    Append,
    /// Already held byte for byte: acknowledge, store nothing.
    Duplicate,
    /// A hole of the held log that a snapshot entry held replaces: acknowledge, store
    /// nothing (a slower sender that did not leave it out).
    Replaced,
}

/// Validates a decoded entry whose signature was already checked by the caller
/// (`signature_ok`, typically from a batch verification).
pub fn check(
    entry: &Entry,
    signature_ok: bool,
    dir: &Directory,
    log: LogState,
) -> Result<Verdict, Reject> {
    check_with_doc(entry, signature_ok, None, dir, log)
}

/// [`check`] for an entry that arrived with a saved document beside it (a snapshot
/// entry sent to a receiver that lacks what it replaces): the document's actor table and
/// heads are checked at the actor step. It does not load the document: the caller does,
/// and refuses the entry if that fails.
pub fn check_with_doc(
    entry: &Entry,
    signature_ok: bool,
    doc: Option<&[u8]>,
    dir: &Directory,
    log: LogState,
) -> Result<Verdict, Reject> {
    check_parsed(entry, signature_ok, doc, dir, log).map(|(verdict, _)| verdict)
}

/// [`check_with_doc`], also handing back the Automerge changes of a changes entry as
/// they were parsed to check their actor (none for other payloads), so that whoever
/// applies them does not parse them a second time.
pub fn check_parsed(
    entry: &Entry,
    signature_ok: bool,
    doc: Option<&[u8]>,
    dir: &Directory,
    log: LogState,
) -> Result<(Verdict, Vec<automerge::Change>), Reject> {
    let id = format!("{}#{}", entry.author().short(), entry.seq());
    let Some(unit) = dir.unit_of(&entry.author()) else {
        return Err(Reject::Uncertified(entry.author().short()));
    };
    if !signature_ok {
        return Err(Reject::BadSignature(id));
    }
    check_authority(entry, unit, dir)?;
    let parsed = check_actor(entry)?;
    if let Some(doc) = doc {
        check_doc(entry, doc)?;
    }
    let verdict = sequence(entry, &id, log)?;
    Ok((verdict, parsed))
}

/// Where the entry falls in its author's log as held: the last step of [`check_parsed`].
fn sequence(entry: &Entry, id: &str, log: LogState) -> Result<Verdict, Reject> {
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
            // Below the head but not held: a sparse log, or a hole a snapshot replaces.
            if log.sparse {
                Ok(Verdict::Append)
            } else if log.gap_covered {
                Ok(Verdict::Replaced)
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
        _ if log.sparse || log.gap_covered => Ok(Verdict::Append),
        head => Err(Reject::Gap(format!(
            "{id}: expected seq {}",
            head.map_or(1, |(s, _)| s + 1)
        ))),
    }
}

/// The claims of a page's snapshot entries that may justify holes in it
/// ([`snapshot::PageHoles`]): those of snapshot entries whose author is certified,
/// whose signature verified, that the author may write and whose replaced seqs are
/// canonical, and that arrived with a saved document that passes the checks of
/// [`check_with_doc`] (a sender leaves entries out only beside the document). `items`:
/// (index in the page, entry, signature verified, document beside it).
pub fn page_holes<'a>(
    items: impl IntoIterator<Item = (usize, &'a Entry, bool, Option<&'a [u8]>)>,
    dir: &Directory,
) -> snapshot::PageHoles {
    snapshot::PageHoles::new(items.into_iter().filter_map(|(i, entry, sig_ok, doc)| {
        let Payload::Snapshot { replaces, .. } = &entry.body.payload else {
            return None;
        };
        let unit = dir.unit_of(&entry.author())?;
        let ok = sig_ok
            && check_authority(entry, unit, dir).is_ok()
            && doc.is_some_and(|d| check_doc(entry, d).is_ok());
        ok.then(|| (i, entry.author(), replaces.clone()))
    }))
}

/// Whether the node of `unit` may take `step` on `school`'s term report: the school
/// submits, its parent (under any version of its certificate, so that an older step still
/// validates after a move) returns or approves, the root accepts. `Malformed` for an
/// unknown step, `Unauthorized` for a node that may not take it.
pub fn may_take_report_step(
    dir: &Directory,
    unit: &str,
    school: &str,
    step: &str,
) -> Result<(), Reject> {
    let allowed = match step {
        "submit" => unit == school,
        "return" | "approve" => dir.is_or_was_parent(school, unit),
        "accept" => dir.parent(unit).is_none() && dir.is_ancestor_or_self(unit, school),
        other => {
            return Err(Reject::Malformed(format!(
                "report step {other:?}: one of submit, return, approve, accept"
            )))
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(Reject::Unauthorized(format!(
            "{unit} may not {step} the report of {school}: the school submits, its parent \
             returns or approves, the department accepts"
        )))
    }
}

/// The limits of an audit entry's parts: a user of 1 to [`MAX_AUDIT_USER_BYTES`] bytes,
/// an action code of lowercase letters and `_`, a detail of at most
/// [`MAX_AUDIT_DETAIL_BYTES`]. Any other payload passes.
pub fn check_audit(payload: &Payload) -> Result<(), Reject> {
    let Payload::Audit {
        user,
        action,
        detail,
    } = payload
    else {
        return Ok(());
    };
    let action_ok = !action.is_empty()
        && action.len() <= MAX_AUDIT_ACTION_BYTES
        && action.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if user.is_empty()
        || user.len() > MAX_AUDIT_USER_BYTES
        || !action_ok
        || detail.len() > MAX_AUDIT_DETAIL_BYTES
    {
        return Err(Reject::Malformed(format!(
            "an audit entry has a user of 1 to {MAX_AUDIT_USER_BYTES} bytes, an action of 1 to \
             {MAX_AUDIT_ACTION_BYTES} lowercase letters or '_' and a detail of at most \
             {MAX_AUDIT_DETAIL_BYTES} bytes, not {} bytes, {action:?} and {} bytes",
            user.len(),
            detail.len()
        )));
    }
    Ok(())
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
            if dir.is_or_was_ancestor_or_self(unit, to_unit) {
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
        Payload::Audit { .. } => check_audit(&entry.body.payload),
        Payload::Summaries { docs, seen } => {
            if docs.len() > MAX_SUMMARIES || seen.len() > MAX_SUMMARIES {
                return Err(Reject::Malformed(format!(
                    "a summaries entry carries at most {MAX_SUMMARIES} documents and units"
                )));
            }
            let outside = docs
                .iter()
                .filter_map(|(k, _)| {
                    crate::DocId::from_key(k)
                        .map(|d| d.unit)
                        .or(Some(k.clone()))
                })
                .chain(seen.iter().map(|(u, _)| u.clone()))
                .find(|u| u == unit || !dir.is_or_was_ancestor_or_self(unit, u));
            match outside {
                Some(u) => Err(Reject::Unauthorized(format!(
                    "{unit} may not sign figures of {u}: only of units below it"
                ))),
                None => Ok(()),
            }
        }
        Payload::Report {
            school,
            year,
            term,
            step,
            comment,
            figures,
            heads,
        } => {
            let shape_ok = valid_year(year)
                && matches!(term.as_str(), "HK1" | "HK2" | "CN")
                && comment.len() <= MAX_REPORT_COMMENT_BYTES
                && figures.len() <= MAX_REPORT_FIGURES
                && figures
                    .iter()
                    .all(|(name, v)| (1..=64).contains(&name.len()) && v.0.is_finite())
                && heads.len() <= 6
                && heads.iter().all(|(_, h)| h.len() <= snapshot::MAX_HEADS);
            if !shape_ok {
                return Err(Reject::Malformed(format!(
                    "report of {school} for {year:?} {term:?} is not well formed (a term is HK1, \
                     HK2 or CN; a comment at most {MAX_REPORT_COMMENT_BYTES} bytes; at most \
                     {MAX_REPORT_FIGURES} finite figures and 6 documents)"
                )));
            }
            if step == "submit" && figures.is_empty() {
                return Err(Reject::Malformed(format!(
                    "the report of {school} is submitted without figures"
                )));
            }
            may_take_report_step(dir, unit, school, step)
        }
        Payload::AlertAck { id, note } => {
            if id.is_empty() || id.len() > 512 || note.len() > 2000 {
                return Err(Reject::Malformed(format!(
                    "an alert acknowledgement has an id of 1 to 512 bytes and a note of at most \
                     2000, not {} and {}",
                    id.len(),
                    note.len()
                )));
            }
            Ok(())
        }
        Payload::Target {
            unit: for_unit,
            year,
            indicator,
            op,
            value,
        } => {
            if dir.level(unit) == Some("school") {
                return Err(Reject::Unauthorized(format!(
                    "{unit} is a school; only offices set targets"
                )));
            }
            if !dir.is_or_was_ancestor_or_self(unit, for_unit) {
                return Err(Reject::Unauthorized(format!(
                    "{unit} may not set a target for {for_unit}, which is outside its subtree"
                )));
            }
            let year_ok = valid_year(year);
            let code_ok = (1..=64).contains(&indicator.len())
                && indicator
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_');
            if !year_ok || !code_ok || !matches!(op.as_str(), "<=" | ">=") || !value.0.is_finite() {
                return Err(Reject::Malformed(format!(
                    "target {indicator:?} {op:?} {} for {year:?} is not well formed",
                    value.0
                )));
            }
            Ok(())
        }
        Payload::Snapshot {
            doc,
            heads,
            replaces,
        } => {
            if doc.unit != unit {
                return Err(Reject::Unauthorized(format!(
                    "{unit} may not snapshot document {}",
                    doc.key()
                )));
            }
            if heads.is_empty() || heads.len() > MAX_HEADS || heads.windows(2).any(|w| w[0] >= w[1])
            {
                return Err(Reject::Malformed(format!(
                    "snapshot of {} names {} heads, not 1 to {MAX_HEADS} in ascending order",
                    doc.key(),
                    heads.len()
                )));
            }
            if !snapshot::ranges_valid(replaces, entry.seq()) {
                return Err(Reject::Malformed(format!(
                    "snapshot of {} replaces seqs that are not sorted, disjoint ranges below {}",
                    doc.key(),
                    entry.seq()
                )));
            }
            Ok(())
        }
    }
}

/// The saved document sent beside a snapshot entry: one document chunk, written by the
/// signer alone, at the signed heads.
fn check_doc(entry: &Entry, save: &[u8]) -> Result<(), Reject> {
    let id = format!("{}#{}", entry.author().short(), entry.seq());
    let Payload::Snapshot { doc, heads, .. } = &entry.body.payload else {
        return Err(Reject::Malformed(format!(
            "{id}: a document was sent beside a {} entry",
            entry.body.payload.kind()
        )));
    };
    if save.len() > MAX_DOC_BYTES {
        return Err(Reject::Oversized(format!(
            "{id}: document of {} bytes exceeds the limit of {MAX_DOC_BYTES}",
            save.len()
        )));
    }
    let header = snapshot::parse_doc_header(save)
        .map_err(|e| Reject::Malformed(format!("{id}: document {}: {e}", doc.key())))?;
    if let Some(a) = header
        .actors
        .iter()
        .find(|a| a.as_slice() != entry.author().as_bytes())
    {
        return Err(Reject::BadActor(format!(
            "{id}: document {} holds changes by actor {}, not the signer",
            doc.key(),
            hex::encode(a)
        )));
    }
    let mut declared = header.heads;
    declared.sort_unstable();
    if &declared != heads {
        return Err(Reject::Malformed(format!(
            "{id}: document {} is not at the heads the snapshot entry signs",
            doc.key()
        )));
    }
    Ok(())
}

fn check_actor(entry: &Entry) -> Result<Vec<automerge::Change>, Reject> {
    let Payload::Changes { changes, .. } = &entry.body.payload else {
        return Ok(Vec::new());
    };
    let mut parsed = Vec::with_capacity(changes.len());
    for (i, raw) in changes.iter().enumerate() {
        // Automerge's parser panics on some malformed changes (an op counter past
        // `u32::MAX`, found by fuzzing): a panic is a malformed change, not a crash.
        let parsed_one = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            automerge::Change::from_bytes(raw.clone())
        }));
        let change = match parsed_one {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(Reject::Malformed(format!("change {i}: {e}"))),
            Err(_) => {
                return Err(Reject::Malformed(format!(
                    "change {i}: Automerge's parser panicked on it"
                )))
            }
        };
        if change.actor_id().to_bytes() != entry.author().as_bytes() {
            return Err(Reject::BadActor(format!(
                "change {i} of {}#{} has actor {}, not the signer",
                entry.author().short(),
                entry.seq(),
                change.actor_id()
            )));
        }
        parsed.push(change);
    }
    Ok(parsed)
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
                level: if parent.is_some() {
                    "school"
                } else {
                    "department"
                }
                .into(),
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
            gap_covered: false,
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
            gap_covered: false,
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

    #[test]
    fn targets_come_from_offices_for_their_subtree_and_are_well_formed() {
        let w = world();
        let root = NodeKey::from_secret([1; 32]);
        let target = |key: &NodeKey, unit: &str, year: &str, op: &str, value: f64| {
            let payload = Payload::Target {
                unit: unit.into(),
                year: year.into(),
                indicator: "dropout_rate".into(),
                op: op.into(),
                value: crate::entry::Number(value),
            };
            let e = Entry::sign(key, 1, None, 0, payload);
            check(&e, true, &w.dir, LogState::default()).map_err(|r| r.key())
        };
        assert_eq!(
            target(&root, "s1", "2026-2027", "<=", 1.5),
            Ok(Verdict::Append)
        );
        assert_eq!(
            target(&root, "so", "2026-2027", ">=", 0.0),
            Ok(Verdict::Append)
        );
        // A school sets none, not even for itself; an office none outside its subtree.
        assert_eq!(
            target(&w.school, "s1", "2026-2027", "<=", 1.0),
            Err("unauthorized")
        );
        assert_eq!(
            target(&root, "elsewhere", "2026-2027", "<=", 1.0),
            Err("unauthorized")
        );
        for (year, op, value) in [
            ("2026", "<=", 1.0),
            ("2026-2027", "<", 1.0),
            ("2026-2027", "<=", f64::NAN),
            ("2026-2027", ">=", f64::INFINITY),
        ] {
            assert_eq!(
                target(&root, "s1", year, op, value),
                Err("malformed"),
                "{year} {op} {value}"
            );
        }
    }

    /// A saved document of `actors`' changes (each writes one key) and its heads.
    fn saved_by(actors: &[&[u8]]) -> (Vec<u8>, Vec<[u8; 32]>) {
        let mut doc = automerge::AutoCommit::new();
        for (i, a) in actors.iter().enumerate() {
            doc.set_actor(automerge::ActorId::from(*a));
            doc.put(automerge::ROOT, format!("k{i}"), "v").unwrap();
            doc.commit();
        }
        let heads = doc.get_heads().into_iter().map(|h| h.0).collect();
        (doc.save(), heads)
    }

    fn snapshot_entry(key: &NodeKey, unit: &str, seq: u64, heads: Vec<[u8; 32]>) -> Entry {
        let doc = DocId {
            unit: unit.into(),
            collection: "students".into(),
            year: "2026-2027".into(),
        };
        let replaces = if seq > 1 { vec![(1, seq - 1)] } else { vec![] };
        Entry::sign(
            key,
            seq,
            (seq > 1).then_some([7; 32]),
            0,
            Payload::Snapshot {
                doc,
                heads,
                replaces,
            },
        )
    }

    #[test]
    fn snapshot_documents_are_checked_in_order() {
        let w = world();
        let k = &w.school;
        let me = k.id();
        let (save, heads) = saved_by(&[me.as_bytes()]);
        let covered = LogState {
            gap_covered: true,
            ..LogState::default()
        };
        let snap = snapshot_entry(k, "s1", 9, heads.clone());
        assert_eq!(
            check_with_doc(&snap, true, Some(&save), &w.dir, covered),
            Ok(Verdict::Append)
        );
        // Without a signed claim the hole before seq 9 is a gap.
        assert_eq!(
            check_with_doc(&snap, true, Some(&save), &w.dir, LogState::default())
                .unwrap_err()
                .key(),
            "gap"
        );
        // A foreign actor's change inside the document: refused before anything else.
        let (foreign, fheads) = saved_by(&[me.as_bytes(), &[9; 32]]);
        let bad = snapshot_entry(k, "s1", 9, fheads);
        assert_eq!(
            check_with_doc(&bad, true, Some(&foreign), &w.dir, LogState::default())
                .unwrap_err()
                .key(),
            "bad_actor"
        );
        // A document that is not at the signed heads.
        let (other, _) = saved_by(&[me.as_bytes(), me.as_bytes()]);
        assert_eq!(
            check_with_doc(&snap, true, Some(&other), &w.dir, covered)
                .unwrap_err()
                .key(),
            "malformed"
        );
        // Extra chunks after the document are refused (they would not be covered).
        let mut trailing = save.clone();
        trailing.extend_from_slice(&save);
        assert_eq!(
            check_with_doc(&snap, true, Some(&trailing), &w.dir, covered)
                .unwrap_err()
                .key(),
            "malformed"
        );
        // A document beside a changes entry.
        let good = changes_entry(k, "s1", me.as_bytes());
        assert_eq!(
            check_with_doc(&good, true, Some(&save), &w.dir, LogState::default())
                .unwrap_err()
                .key(),
            "malformed"
        );
        // Another unit's document; unsorted heads; replaced seqs at or above its own.
        let theirs = snapshot_entry(k, "so", 9, heads.clone());
        assert_eq!(
            check(&theirs, true, &w.dir, covered).unwrap_err().key(),
            "unauthorized"
        );
        let two = snapshot_entry(k, "s1", 9, vec![[2; 32], [1; 32]]);
        assert_eq!(
            check(&two, true, &w.dir, covered).unwrap_err().key(),
            "malformed"
        );
        let ahead = Entry::sign(
            k,
            3,
            Some([7; 32]),
            0,
            Payload::Snapshot {
                doc: DocId {
                    unit: "s1".into(),
                    collection: "students".into(),
                    year: "2026-2027".into(),
                },
                heads,
                replaces: vec![(1, 3)],
            },
        );
        assert_eq!(
            check(&ahead, true, &w.dir, covered).unwrap_err().key(),
            "malformed"
        );
    }
}
