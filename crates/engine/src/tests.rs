#![allow(clippy::unwrap_used)]

use super::*;
use crate::commit::peer_bytes;
use eduioc_protocol::CertBody;
use eduioc_protocol::LogSource;
use eduioc_records::Value;

struct World {
    root: NodeKey,
    keys: Vec<(String, Option<String>, String, NodeKey)>,
    tmp: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        World::with_schools(2)
    }

    /// A department `so`, its district `pgd` and schools `s1`…`s{schools}` under it.
    fn with_schools(schools: usize) -> World {
        let root = NodeKey::from_secret([1; 32]);
        let mut keys = vec![(
            "so".to_string(),
            None,
            "department".to_string(),
            root.clone(),
        )];
        let units = [("pgd".to_string(), "so", "district")]
            .into_iter()
            .chain((1..=schools).map(|i| (format!("s{i}"), "pgd", "school")));
        for (n, (u, p, l)) in (2u32..).zip(units) {
            let mut secret = [0u8; 32];
            secret[..4].copy_from_slice(&n.to_le_bytes());
            keys.push((u, Some(p.into()), l.into(), NodeKey::from_secret(secret)));
        }
        World {
            root,
            keys,
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    /// The same world with one more district under `so` (no school yet).
    fn and_district(mut self, unit: &str) -> World {
        let mut secret = [0u8; 32];
        secret[..4].copy_from_slice(&(90 + self.keys.len() as u32).to_le_bytes());
        self.keys.push((
            unit.into(),
            Some("so".into()),
            "district".into(),
            NodeKey::from_secret(secret),
        ));
        self
    }

    fn certs(&self) -> Vec<Certificate> {
        self.keys
            .iter()
            .map(|(u, p, l, k)| {
                Certificate::issue(
                    CertBody {
                        unit: u.clone(),
                        name: u.to_uppercase(),
                        level: l.clone(),
                        parent: p.clone(),
                        key: k.id(),
                        version: 1,
                        effective_ms: 0,
                        delegate: l != "school",
                        issuer: self.root.id(),
                    },
                    &self.root,
                )
            })
            .collect()
    }

    /// The configuration of `unit`'s engine, its store in `data_dir` (created).
    fn config(&self, unit: &str, data_dir: &str, doc_cache: usize) -> Config {
        let key = self.keys.iter().find(|k| k.0 == unit).unwrap().3.clone();
        let dir = self.tmp.path().join(data_dir);
        std::fs::create_dir_all(&dir).unwrap();
        Config {
            unit: unit.into(),
            key,
            root_key: self.root.id(),
            certs: self.certs(),
            data_dir: dir,
            doc_cache,
            doc_cache_bytes: DEFAULT_DOC_CACHE_BYTES,
            school_year: Some("2026-2027".into()),
        }
    }

    fn open(&self, unit: &str, doc_cache: usize) -> Engine {
        Engine::open(self.config(unit, unit, doc_cache)).unwrap()
    }
}

const HEADER: &str = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status";

fn students(prefix: &str, n: usize, dropped: usize) -> String {
    let mut s = String::from(HEADER);
    for i in 0..n {
        let status = if i < dropped {
            "dropped_out"
        } else {
            "enrolled"
        };
        s.push_str(&format!(
            "\n{prefix}-{i},Nguyễn Văn {i},{},2015-05-0{},{},1a,Kinh,{status}",
            if i % 2 == 0 { "M" } else { "F" },
            1 + i % 9,
            1 + i % 5
        ));
    }
    s
}

/// Everything `from` holds that `to` lacks, as one page per author.
fn sync(from: &Engine, to: &mut Engine) -> Ingested {
    let mut all = Ingested::default();
    for (author, h) in from.heights() {
        let have = to.height(&author);
        if h > have {
            let page: Vec<Vec<u8>> = from
                .entries(&author, have + 1, 10_000, usize::MAX)
                .into_iter()
                .map(|(_, b)| b)
                .collect();
            let got = to.ingest(&page).unwrap();
            all.appended.extend(got.appended);
            all.rejected.extend(got.rejected);
        }
    }
    all
}

#[test]
fn replicas_agree_and_duplicates_never_count_twice() {
    let w = World::new();
    let mut s1 = w.open("s1", 16);
    let mut d = w.open("pgd", 16);
    let out = s1
        .import(
            "students",
            Some("text/csv"),
            students("a", 40, 3).as_bytes(),
        )
        .unwrap();
    assert_eq!(
        out,
        ImportOutcome {
            inserted: 40,
            updated: 0
        }
    );
    sync(&s1, &mut d);
    let local = s1.stats(None).unwrap();
    let remote = d.stats(Some("s1")).unwrap();
    assert_eq!(local.students, remote.students);
    assert_eq!(remote.students.enrolled, 37);
    assert_eq!(remote.students.dropped_out, 3);
    // The same page again: duplicates, nothing changes.
    let page: Vec<Vec<u8>> = s1
        .entries(&s1.id(), 1, 100, usize::MAX)
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    let entries = d.entry_count();
    let again = d.ingest(&page).unwrap();
    assert!(again.appended.is_empty() && again.rejected.is_empty());
    assert_eq!(d.entry_count(), entries);
    assert_eq!(d.stats(Some("pgd")).unwrap().students, remote.students);
    // A district cannot import.
    assert!(matches!(
        d.import("students", None, students("x", 1, 0).as_bytes()),
        Err(Error::Forbidden(_))
    ));
    // Outside the subtree.
    assert!(matches!(s1.stats(Some("s2")), Err(Error::UnknownUnit(_))));
}

#[test]
fn restart_keeps_everything_and_small_caches_reload_documents() {
    let w = World::new();
    let mut s1 = w.open("s1", 16);
    let mut s2 = w.open("s2", 16);
    let mut d = w.open("pgd", 1);
    // Many small imports: more chunks than the compaction threshold, two documents
    // alternating through a cache of one.
    for round in 0..(COMPACT_AFTER_CHUNKS + 3) {
        s1.import(
            "students",
            Some("text/csv"),
            students(&format!("a{round}"), 3, 0).as_bytes(),
        )
        .unwrap();
        s2.import(
            "students",
            Some("text/csv"),
            students(&format!("b{round}"), 2, 1).as_bytes(),
        )
        .unwrap();
        sync(&s1, &mut d);
        sync(&s2, &mut d);
    }
    let n = COMPACT_AFTER_CHUNKS as u64 + 3;
    let before = d.stats(None).unwrap();
    assert_eq!(before.students.enrolled, n * 3 + n);
    assert_eq!(before.students.dropped_out, n);
    assert!(d.loaded_docs() <= 1);
    let heights = d.heights();
    drop(d);
    let mut d = w.open("pgd", 1);
    let after = d.stats(None).unwrap();
    assert_eq!(after.students, before.students);
    let mut h2 = d.heights();
    let mut h1 = heights;
    h1.sort();
    h2.sort();
    assert_eq!(h1, h2);
    // The reloaded documents still take new changes.
    s1.import(
        "students",
        Some("text/csv"),
        students("late", 1, 0).as_bytes(),
    )
    .unwrap();
    sync(&s1, &mut d);
    assert_eq!(
        d.stats(None).unwrap().students.enrolled,
        before.students.enrolled + 1
    );
    let hits = d.search_students("nguyen van", None, 1000).unwrap();
    assert_eq!(hits.len() as u64, n * 5 + 1);
}

#[test]
fn notifications_reach_their_subtree_and_acks_travel_up() {
    let w = World::new();
    let mut so = w.open("so", 4);
    let mut d = w.open("pgd", 4);
    let mut s1 = w.open("s1", 4);
    let n = so.notify("s1", "Kiểm tra", "Nộp báo cáo").unwrap();
    assert!(matches!(
        s1.notify("pgd", "x", "y"),
        Err(Error::UnknownUnit(_))
    ));
    sync(&so, &mut d);
    sync(&d, &mut s1);
    let inbox = s1.notifications().unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].0.title, "Kiểm tra");
    s1.mark_read(&n.id).unwrap();
    sync(&s1, &mut d);
    sync(&d, &mut so);
    let sent = so.notifications().unwrap();
    assert_eq!(sent[0].1, vec!["s1".to_string()]);
}

#[test]
fn school_years_are_separate_documents() {
    let w = World::new();
    let mut s1 = w.open("s1", 16);
    s1.import_into(
        "2025-2026",
        "students",
        Some("text/csv"),
        students("old", 10, 0).as_bytes(),
    )
    .unwrap();
    s1.import_into(
        "2026-2027",
        "students",
        Some("text/csv"),
        students("new", 12, 2).as_bytes(),
    )
    .unwrap();
    assert_eq!(
        s1.stats_in(None, "2025-2026").unwrap().students.enrolled,
        10
    );
    assert_eq!(
        s1.stats_in(None, "2026-2027").unwrap().students.enrolled,
        10
    );
    assert_eq!(
        s1.stats_in(None, "2026-2027").unwrap().students.dropped_out,
        2
    );
    assert_eq!(
        s1.school_years(),
        vec!["2025-2026".to_string(), "2026-2027".to_string()]
    );
    assert!(matches!(
        s1.import_into("2026", "students", None, b""),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn staff_search_folds_accents_and_reads_old_stores() {
    let w = World::new();
    let mut s1 = w.open("s1", 4);
    let mut d = w.open("pgd", 4);
    s1.import(
        "staff",
        Some("text/csv"),
        "staff_id,full_name,gender,birth_date,role,qualification,status\n\
         GV01,Nguyễn Văn Đông,M,1980-01-01,teacher,master,active\n\
         GV02,Trần Thị Mai,F,1985-02-02,manager,bachelor,left\n"
            .as_bytes(),
    )
    .unwrap();
    sync(&s1, &mut d);
    for e in [&s1, &d] {
        let hits = e.search_staff("nguyen van", None, 10).unwrap();
        assert_eq!(hits.len(), 1, "{hits:?}");
        let h = &hits[0];
        assert_eq!(
            (h.staff_id.as_str(), h.full_name.as_str(), h.role.as_str()),
            ("GV01", "Nguyễn Văn Đông", "teacher")
        );
        assert_eq!(
            (h.qualification.as_str(), h.status.as_str()),
            ("master", "active")
        );
        assert_eq!((h.unit.as_str(), h.school.as_str()), ("s1", "S1"));
        assert_eq!(e.search_staff("gv0", None, 10).unwrap().len(), 2);
        assert_eq!(e.search_staff("gv0", None, 1).unwrap().len(), 1);
    }
    assert!(d.search_staff("mai", Some("s2"), 10).unwrap().is_empty());
    assert!(matches!(
        s1.search_staff("mai", Some("pgd"), 10),
        Err(Error::UnknownUnit(_))
    ));
    assert!(matches!(
        d.search_staff("  ", None, 10),
        Err(Error::Invalid(_))
    ));
    // A store written before look-up indexes existed: the document is read instead.
    let key = DocId {
        unit: "s1".into(),
        collection: "staff".into(),
        year: "2026-2027".into(),
    }
    .key();
    assert!(d.store.get(&tables::LOOKUPS, &key).unwrap().is_some());
    let mut txn = d.store.begin_write().unwrap();
    txn.delete(&tables::LOOKUPS, &key).unwrap();
    txn.commit().unwrap();
    assert!(d.store.get(&tables::LOOKUPS, &key).unwrap().is_none());
    let hits = d.search_staff("TRAN THI", None, 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].staff_id, "GV02");
}

/// Everything `from` holds of its subtree that its parent `to` lacks, through a real
/// `Session`: pages carry saved documents beside snapshot entries when `to` lacks what
/// they replace. Returns the session's counters.
fn session_up(from: &Engine, to: &mut Engine) -> eduioc_protocol::sync::Stats {
    session(from, to, eduioc_protocol::sync::Role::Parent)
}

/// Everything `from` sends `to` through a real `Session`, `to` being its parent
/// (`Role::Parent`) or its child (`Role::Child`).
fn session(
    from: &Engine,
    to: &mut Engine,
    to_is: eduioc_protocol::sync::Role,
) -> eduioc_protocol::sync::Stats {
    use eduioc_protocol::sync::{Role, Session};
    use eduioc_protocol::wire::Request;
    let from_is = match to_is {
        Role::Parent => Role::Child,
        Role::Child => Role::Parent,
    };
    let Request::Heights { heights } =
        Session::new(to.unit(), from.unit(), from_is).want(to.directory(), to)
    else {
        panic!("want is not heights")
    };
    let mut up = Session::new(from.unit(), to.unit(), to_is);
    // As the network does: at the level records stop at, only the own log goes up.
    if to_is == Role::Parent && from.is_records_boundary() {
        up = up.own_log_only();
    }
    up.on_heights(from.directory(), from, &heights);
    while let Some(Request::Page { entries, docs }) = up.next_page(from.directory(), from) {
        let got = to.ingest_page(&entries, &docs).unwrap();
        assert!(got.rejected.is_empty(), "{:?}", got.rejected);
        up.on_acked(&got.heights);
    }
    assert!(up.idle());
    up.stats()
}

fn students_doc(unit: &str) -> DocId {
    DocId {
        unit: unit.into(),
        collection: "students".into(),
        year: "2026-2027".into(),
    }
}

fn records(e: &mut Engine, doc: &DocId) -> Vec<(String, BTreeMap<String, Value>)> {
    e.with_doc(doc, |d| d.records())
        .unwrap()
        .unwrap_or_default()
}

/// The seq and wire form of every entry of `author` held by `e`.
fn log_of(e: &Engine, author: &NodeId) -> Vec<(u64, Entry)> {
    e.entries(author, 1, 100_000, usize::MAX)
        .into_iter()
        .map(|(s, b)| (s, Entry::decode(&b).unwrap()))
        .collect()
}

fn snapshot_seqs(e: &Engine, author: &NodeId) -> Vec<u64> {
    log_of(e, author)
        .into_iter()
        .filter(|(_, e)| matches!(e.body.payload, Payload::Snapshot { .. }))
        .map(|(s, _)| s)
        .collect()
}

#[test]
fn a_new_parent_is_seeded_from_snapshots_and_converges() {
    let w = World::new();
    let mut s1 = w.open("s1", 16);
    let mut s2 = w.open("s2", 16);
    let mut d = w.open("pgd", 16);
    // A roster, then a few small edits; s2 has two school years.
    s1.import("students", None, students("a", 300, 7).as_bytes())
        .unwrap();
    for i in 0..3 {
        s1.import(
            "students",
            None,
            students(&format!("e{i}"), 2, 0).as_bytes(),
        )
        .unwrap();
    }
    for year in ["2025-2026", "2026-2027"] {
        s2.import_into(year, "students", None, students(year, 200, 1).as_bytes())
            .unwrap();
    }
    let snaps = snapshot_seqs(&s1, &s1.id());
    assert_eq!(
        snaps,
        vec![2],
        "one snapshot after the roster, none for small edits"
    );
    // The district follows the schools entry by entry (as when it is connected while
    // they write), and compacts each document at its snapshot entries.
    sync(&s1, &mut d);
    sync(&s2, &mut d);
    assert_eq!(d.entry_count(), s1.entry_count() + s2.entry_count());
    // A new department (a cache of one document) is seeded by the district: one document
    // per school document instead of the entries it replaces.
    let mut so = w.open("so", 1);
    let stats = session_up(&d, &mut so);
    assert_eq!(stats.docs, 3);
    assert!(so.entry_count() < d.entry_count());
    assert!(so.loaded_docs() <= 1);
    for s in [&s1, &s2] {
        assert_eq!(so.height(&s.id()), s.height(&s.id()));
    }
    let held: Vec<u64> = log_of(&so, &s1.id()).into_iter().map(|(s, _)| s).collect();
    assert_eq!(held, vec![2, 3, 4, 5], "entry 1 is replaced by snapshot 2");
    let doc = students_doc("s1");
    assert_eq!(records(&mut so, &doc), records(&mut s1, &doc));
    assert_eq!(so.stats(Some("s1")).unwrap(), s1.stats(None).unwrap());
    assert_eq!(so.stats(Some("s2")).unwrap(), s2.stats(None).unwrap());
    // Delivering the same pages again changes nothing.
    let entries: Vec<Vec<u8>> = log_of(&so, &s1.id())
        .into_iter()
        .map(|(_, e)| e.into_bytes())
        .collect();
    let save = d.snapshot_doc(&s1.id(), 2).unwrap();
    let before = (so.entry_count(), so.stats(None).unwrap());
    let again = so.ingest_page(&entries, &[(0, save)]).unwrap();
    assert!(again.appended.is_empty() && again.rejected.is_empty());
    assert_eq!((so.entry_count(), so.stats(None).unwrap()), before);
    // Later edits follow as entries; a restarted department still offers its snapshots.
    s1.import("students", None, students("late", 5, 5).as_bytes())
        .unwrap();
    assert_eq!(session_up(&s1, &mut d).docs, 0);
    drop(so);
    let mut so = w.open("so", 1);
    assert_eq!(so.snapshots(&s1.id()).len(), 1);
    let stats = session_up(&d, &mut so);
    assert_eq!(stats.docs, 0);
    assert_eq!(records(&mut so, &doc), records(&mut s1, &doc));
    assert_eq!(so.stats(Some("s1")).unwrap(), s1.stats(None).unwrap());
}

#[test]
fn a_parent_holding_part_of_a_document_merges_its_snapshot() {
    let w = World::new();
    let mut s1 = w.open("s1", 16);
    for i in 0..40 {
        s1.import(
            "students",
            None,
            students(&format!("r{i}"), 10, 1).as_bytes(),
        )
        .unwrap();
        if !snapshot_seqs(&s1, &s1.id()).is_empty() {
            break;
        }
    }
    let log = log_of(&s1, &s1.id());
    let k = snapshot_seqs(&s1, &s1.id())[0];
    assert!(k >= 3, "the snapshot replaces several entries");
    let save = s1.snapshot_doc(&s1.id(), k).unwrap();
    let bytes = |r: std::ops::Range<usize>| -> Vec<Vec<u8>> {
        log[r].iter().map(|(_, e)| e.bytes().to_vec()).collect()
    };
    // The parent holds the first entry, then receives the snapshot with its document,
    // the entries between them left out.
    let mut d = w.open("pgd", 16);
    d.ingest(&bytes(0..1)).unwrap();
    let got = d
        .ingest_page(&bytes(k as usize - 1..k as usize), &[(0, save.clone())])
        .unwrap();
    assert!(got.rejected.is_empty(), "{:?}", got.rejected);
    assert_eq!(d.height(&s1.id()), k);
    let doc = students_doc("s1");
    assert_eq!(records(&mut d, &doc), records(&mut s1, &doc));
    assert_eq!(d.stats(Some("s1")).unwrap(), s1.stats(None).unwrap());
    // A left-out entry arriving later (a slower sender): acknowledged, not stored.
    let late = d.ingest(&bytes(1..2)).unwrap();
    assert!(late.rejected.is_empty() && late.appended.is_empty());
    assert_eq!(d.height(&s1.id()), k);
    assert_eq!(d.stats(Some("s1")).unwrap(), s1.stats(None).unwrap());
    // Another parent that holds every entry gets the same document from the entries.
    let mut other = w.open("so", 16);
    other.ingest(&bytes(0..log.len())).unwrap();
    assert_eq!(records(&mut other, &doc), records(&mut d, &doc));
}

#[test]
fn hostile_snapshots_are_refused_counted_and_harmless() {
    let w = World::new();
    let key = w.keys.iter().find(|k| k.0 == "s1").unwrap().3.clone();
    let mut s1 = w.open("s1", 16);
    s1.import("students", None, students("a", 200, 0).as_bytes())
        .unwrap();
    let k = snapshot_seqs(&s1, &s1.id())[0];
    let log = log_of(&s1, &s1.id());
    let snap = log[k as usize - 1].1.clone();
    let save = s1.snapshot_doc(&s1.id(), k).unwrap();
    let mut d = w.open("pgd", 16);
    let rejected = |d: &Engine, key: &str| d.rejected().get(key).copied().unwrap_or(0);

    // A document holding another actor's change, under a validly signed snapshot entry.
    let mut forged = RecordsDoc::load(&save, &[9; 32]).unwrap();
    forged
        .upsert(
            &eduioc_records::parse_import(
                Collection::Students,
                None,
                students("forged", 1, 0).as_bytes(),
            )
            .unwrap(),
        )
        .unwrap();
    let heads: Vec<[u8; 32]> = forged.heads().into_iter().map(|h| h.0).collect();
    let forged_save = forged.save();
    let forged_entry = Entry::sign(
        &key,
        1,
        None,
        0,
        Payload::Snapshot {
            doc: students_doc("s1"),
            heads,
            replaces: vec![],
        },
    );
    let got = d
        .ingest_page(&[forged_entry.bytes().to_vec()], &[(0, forged_save)])
        .unwrap();
    assert_eq!(got.rejected[0].1.key(), "bad_actor");
    assert_eq!(rejected(&d, "bad_actor"), 1);

    // The real snapshot with a corrupted document: its header checks out, load does not.
    let mut corrupt = save.clone();
    let n = corrupt.len();
    corrupt[n - 3] ^= 0x55;
    let got = d
        .ingest_page(&[snap.bytes().to_vec()], &[(0, corrupt)])
        .unwrap();
    assert_eq!(got.rejected[0].1.key(), "malformed");
    // Without the document, to a parent that lacks what it replaces: a gap.
    let got = d.ingest(&[snap.bytes().to_vec()]).unwrap();
    assert_eq!(got.rejected[0].1.key(), "gap");
    // A document beside a changes entry.
    let got = d
        .ingest_page(&[log[0].1.bytes().to_vec()], &[(0, save.clone())])
        .unwrap();
    assert_eq!(got.rejected[0].1.key(), "malformed");
    assert_eq!(rejected(&d, "malformed"), 2);
    // Nothing was stored or half-applied.
    assert_eq!(d.entry_count(), 0);
    assert_eq!(d.height(&s1.id()), 0);
    assert!(d.summaries().is_empty());
    assert!(d.with_doc(&students_doc("s1"), |_| ()).unwrap().is_none());

    // A later entry after a hole that no snapshot covers.
    s1.import("students", None, students("b", 1, 0).as_bytes())
        .unwrap();
    let next = log_of(&s1, &s1.id()).last().unwrap().1.clone();
    let got = d.ingest(&[next.bytes().to_vec()]).unwrap();
    assert_eq!(got.rejected[0].1.key(), "gap");
    // And the real thing still goes through.
    let got = d
        .ingest_page(
            &[snap.bytes().to_vec(), next.bytes().to_vec()],
            &[(0, save)],
        )
        .unwrap();
    assert!(got.rejected.is_empty(), "{:?}", got.rejected);
    assert_eq!(d.stats(Some("s1")).unwrap(), s1.stats(None).unwrap());
}

#[test]
fn a_node_seeded_from_a_snapshot_forwards_its_document() {
    let w = World::new();
    let mut s1 = w.open("s1", 16);
    for i in 0..40 {
        s1.import(
            "students",
            None,
            students(&format!("r{i}"), 10, 1).as_bytes(),
        )
        .unwrap();
        if !snapshot_seqs(&s1, &s1.id()).is_empty() {
            break;
        }
    }
    s1.import("students", None, students("after", 3, 0).as_bytes())
        .unwrap();
    let k = snapshot_seqs(&s1, &s1.id())[0];
    assert!(k >= 4);
    // A district seeded from the snapshot: it lacks entries 1..k-1.
    let mut d = w.open("pgd", 16);
    assert_eq!(session_up(&s1, &mut d).docs, 1);
    assert_eq!(d.holes(&s1.id()), vec![(1, k - 1)]);
    // Its parent holds the first two entries (from the school's former parent): the
    // district cannot send entries 3..k-1, so it sends the document, merged there.
    let mut so = w.open("so", 16);
    let first: Vec<Vec<u8>> = s1
        .entries(&s1.id(), 1, 2, usize::MAX)
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    so.ingest(&first).unwrap();
    assert_eq!(session_up(&d, &mut so).docs, 1);
    let doc = students_doc("s1");
    assert_eq!(records(&mut so, &doc), records(&mut s1, &doc));
    assert_eq!(so.stats(Some("s1")).unwrap(), s1.stats(None).unwrap());
    assert_eq!(so.height(&s1.id()), s1.height(&s1.id()));
}

#[test]
fn a_document_reloaded_from_the_store_signs_only_new_changes() {
    let w = World::new();
    let mut s1 = w.open("s1", 1);
    for i in 0..3 {
        s1.import(
            "students",
            None,
            students(&format!("r{i}"), 5, 0).as_bytes(),
        )
        .unwrap();
    }
    // The staff document takes the only cache slot: the students document is dropped and
    // later restored from its stored chunks.
    s1.import(
        "staff",
        Some("text/csv"),
        "staff_id,full_name,gender,birth_date,role,qualification,status\n\
         GV01,Nguyễn Văn Đông,M,1980-01-01,teacher,master,active\n"
            .as_bytes(),
    )
    .unwrap();
    s1.import("students", None, students("late", 1, 0).as_bytes())
        .unwrap();
    let changes: Vec<usize> = log_of(&s1, &s1.id())
        .into_iter()
        .filter_map(|(_, e)| match e.body.payload {
            Payload::Changes { doc, changes } if doc.collection == "students" => {
                Some(changes.len())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        vec![1, 1, 1, 1],
        "each entry carries its own change only"
    );
    let mut d = w.open("pgd", 16);
    sync(&s1, &mut d);
    assert_eq!(d.stats(Some("s1")).unwrap(), s1.stats(None).unwrap());
}

/// s1's log [C1 students, C2 staff, C3 staff, C4 students, S5 students replacing 1 and 4].
fn log_with_a_snapshot_after_another_document(w: &World) -> Engine {
    let mut s1 = w.open("s1", 16);
    s1.import("students", None, students("a", 2, 0).as_bytes())
        .unwrap();
    for name in ["Đông", "Tây"] {
        s1.import(
            "staff",
            Some("text/csv"),
            format!(
                "staff_id,full_name,gender,birth_date,role,qualification,status\n\
                 GV01,Nguyễn Văn {name},M,1980-01-01,teacher,master,active\n"
            )
            .as_bytes(),
        )
        .unwrap();
    }
    s1.import("students", None, students("b", 300, 0).as_bytes())
        .unwrap();
    assert_eq!(snapshot_seqs(&s1, &s1.id()), vec![5]);
    let Payload::Snapshot { replaces, .. } = &log_of(&s1, &s1.id())[4].1.body.payload else {
        panic!("entry 5 is not a snapshot")
    };
    assert_eq!(replaces, &vec![(1, 1), (4, 4)]);
    s1
}

#[test]
fn a_refused_snapshot_leaves_no_hole_behind() {
    let w = World::new();
    let mut s1 = log_with_a_snapshot_after_another_document(&w);
    let log: Vec<Vec<u8>> = log_of(&s1, &s1.id())
        .into_iter()
        .map(|(_, e)| e.into_bytes())
        .collect();
    let save = s1.snapshot_doc(&s1.id(), 5).unwrap();
    let mut d = w.open("pgd", 16);
    let nothing_held = |d: &mut Engine| {
        assert_eq!(d.height(&s1.id()), 0);
        assert_eq!(d.entry_count(), 0);
        assert!(d.holes(&s1.id()).is_empty());
        assert!(d.summaries().is_empty());
        for doc in [
            students_doc("s1"),
            DocId {
                collection: "staff".into(),
                ..students_doc("s1")
            },
        ] {
            assert!(d.with_doc(&doc, |_| ()).unwrap().is_none());
        }
    };
    let keys = |got: &Ingested| -> Vec<&'static str> {
        got.rejected.iter().map(|(_, r)| r.key()).collect()
    };
    // A relay leaves C1 out and sends S5 without its document.
    let got = d.ingest_page(&log[1..5], &[]).unwrap();
    assert_eq!(keys(&got), vec!["gap"; 4]);
    nothing_held(&mut d);
    // ... or with a document that does not load: C2, C3 and C4 relied on S5's claim.
    let mut corrupt = save.clone();
    let n = corrupt.len();
    corrupt[n - 3] ^= 0x55;
    let got = d.ingest_page(&log[1..5], &[(3, corrupt)]).unwrap();
    assert_eq!(keys(&got), vec!["gap"; 4]);
    assert!(got.appended.is_empty());
    nothing_held(&mut d);
    // ... or with its document, C4 left out, but C3 refused (a bad signature): S5 does
    // not follow the log and C2 relied on its claim.
    let mut bad = log[2].clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    let got = d
        .ingest_page(&[log[1].clone(), bad, log[4].clone()], &[(2, save)])
        .unwrap();
    assert_eq!(keys(&got), vec!["gap", "bad_signature", "gap"]);
    nothing_held(&mut d);
    // An honest sender still seeds the district.
    assert_eq!(session_up(&s1, &mut d).docs, 1);
    assert_eq!(d.holes(&s1.id()), vec![(1, 1), (4, 4)]);
    let doc = students_doc("s1");
    assert_eq!(records(&mut d, &doc), records(&mut s1, &doc));
    assert_eq!(d.stats(Some("s1")).unwrap(), s1.stats(None).unwrap());
}

/// The logs read from the store's tables (what the network sends from, beside the
/// engine's thread) are the logs the engine's own mirrors describe: heights, entries,
/// the snapshot entries offered with their saved documents, and holes.
fn assert_stored_log_agrees(e: &Engine) {
    let stored = StoredLog::new(e.store.view().unwrap());
    let sorted = |mut v: Vec<(NodeId, u64)>| {
        v.sort();
        v
    };
    assert_eq!(sorted(stored.heights()), sorted(e.heights()));
    assert!(!e.heights().is_empty());
    for (author, height) in e.heights() {
        assert_eq!(stored.height(&author), height);
        assert_eq!(
            stored.entries(&author, 1, 1000, 64 << 20),
            e.entries(&author, 1, 1000, 64 << 20)
        );
        assert_eq!(stored.holes(&author), e.holes(&author));
        let offered = e.snapshots(&author);
        assert_eq!(stored.snapshots(&author), offered);
        for held in offered {
            let doc = e.snapshot_doc(&author, held.seq);
            assert!(doc.is_some());
            assert_eq!(stored.snapshot_doc(&author, held.seq), doc);
        }
        assert_eq!(stored.snapshot_doc(&author, height + 1), None);
    }
}

#[test]
fn the_stored_log_reads_what_the_engine_holds() {
    let w = World::new();
    let mut s1 = log_with_a_snapshot_after_another_document(&w);
    assert_stored_log_agrees(&s1);
    // A district seeded from the snapshot: a log with holes, and a saved document.
    let mut d = w.open("pgd", 16);
    assert_eq!(session_up(&s1, &mut d).docs, 1);
    assert!(!d.holes(&s1.id()).is_empty());
    assert!(!d.snapshots(&s1.id()).is_empty());
    assert_stored_log_agrees(&d);
    // More changes after the snapshot: entries beyond it, and the engines still agree.
    s1.import("students", None, students("c", 5, 0).as_bytes())
        .unwrap();
    session_up(&s1, &mut d);
    assert_stored_log_agrees(&s1);
    assert_stored_log_agrees(&d);
}

#[test]
fn an_entry_with_two_documents_beside_it_is_refused_once() {
    let w = World::new();
    let s1 = log_with_a_snapshot_after_another_document(&w);
    let log: Vec<Vec<u8>> = log_of(&s1, &s1.id())
        .into_iter()
        .map(|(_, e)| e.into_bytes())
        .collect();
    let save = s1.snapshot_doc(&s1.id(), 5).unwrap();
    let mut d = w.open("pgd", 16);
    let page = [log[1].clone(), log[2].clone(), log[4].clone()];
    let got = d
        .ingest_page(&page, &[(2, save.clone()), (2, save.clone()), (2, save)])
        .unwrap();
    let refused: Vec<(usize, &str)> = got.rejected.iter().map(|(i, r)| (*i, r.key())).collect();
    // The snapshot is refused; C2 and C3 relied on it.
    assert_eq!(refused, vec![(2, "malformed"), (0, "gap"), (1, "gap")]);
    assert_eq!(d.rejected().get("malformed"), Some(&1));
    assert_eq!(d.height(&s1.id()), 0);
    assert!(d.holes(&s1.id()).is_empty());
}

#[test]
fn an_import_is_reported_applied_when_its_snapshot_cannot_be_signed() {
    let w = World::new();
    let mut s1 = w.open("s1", 16);
    s1.fail_snapshot = true;
    let got = s1
        .import("students", None, students("a", 300, 0).as_bytes())
        .unwrap();
    assert_eq!(got.inserted, 300);
    assert!(snapshot_seqs(&s1, &s1.id()).is_empty());
    assert_eq!(s1.stats(None).unwrap().students.enrolled, 300);
    // The snapshot is due again after the next change.
    s1.fail_snapshot = false;
    s1.import("students", None, students("b", 1, 0).as_bytes())
        .unwrap();
    assert_eq!(snapshot_seqs(&s1, &s1.id()), vec![3]);
}

#[test]
fn a_panic_parsing_peer_bytes_is_a_malformed_rejection() {
    let got: Result<()> = peer_bytes("the document", || panic!("index out of bounds"));
    let Err(Error::Rejected(r)) = got else {
        panic!("not a rejection: {got:?}")
    };
    assert_eq!(r.key(), "malformed");
    assert!(r
        .to_string()
        .contains("the document made the Automerge parser panic"));
    assert!(r.to_string().contains("index out of bounds"));
    // Errors and values pass through.
    assert_eq!(peer_bytes("x", || Ok(7)).unwrap(), 7);
}

/// What an engine mirrors of its store, to compare two engines.
fn mirrored(e: &Engine) -> String {
    let mut heads: Vec<_> = e
        .heads
        .iter()
        .map(|(a, h)| (a.to_string(), h.seq, e.snapshots(a), e.holes(a)))
        .collect();
    heads.sort_by(|x, y| x.0.cmp(&y.0));
    let figures = e.views.figures();
    let mut own: Vec<_> = figures
        .summaries
        .keys()
        .map(|k| format!("{k}: {:?}", e.snaps.own(k)))
        .collect();
    own.sort();
    let mut summaries: Vec<_> = figures
        .summaries
        .iter()
        .map(|(k, s)| format!("{k}: {s:?}"))
        .collect();
    summaries.sort();
    let mut seen: Vec<_> = figures.seen.iter().collect();
    seen.sort();
    format!(
        "heads {heads:?}\nentries {}\nsummaries {summaries:?}\nseen {seen:?}\nown {own:?}\nrejected {:?}",
        e.entries, e.rejected
    )
}

/// A tmpfs of `mib` MiB mounted at `dir` (root only), unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn at(dir: &Path, mib: u32) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("\n!!!!!!!!!! cannot mount a tmpfs (needs root): NOT TESTED !!!!!!!!!!\n");
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: the disk-full test must run (mount a tmpfs as root)"
            );
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![7u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_commit_on_a_full_disk_leaves_memory_as_stored_and_heals_when_space_returns() {
    let w = World::new();
    let Some(fs) = Tmpfs::at(&w.tmp.path().join("pgd"), 4) else {
        return;
    };
    let mut school = w.open("s1", 16);
    school
        .import(
            "students",
            Some("text/csv"),
            students("a", 50, 0).as_bytes(),
        )
        .unwrap();
    let mut pgd = w.open("pgd", 16);
    sync(&school, &mut pgd);
    school
        .import(
            "students",
            Some("text/csv"),
            students("b", 4000, 10).as_bytes(),
        )
        .unwrap();
    school.notify("s1", "x", "y").ok();
    let before = mirrored(&pgd);
    let filler = fs.fill();
    // The page fails: a readable storage error, and memory still as stored.
    let mut failed = None;
    for (author, h) in school.heights() {
        let have = pgd.height(&author);
        let page: Vec<Vec<u8>> = school
            .entries(&author, have + 1, 10_000, usize::MAX)
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        if h > have {
            failed = Some(pgd.ingest(&page).unwrap_err());
        }
    }
    let err = failed.unwrap();
    println!("{err}");
    assert!(
        matches!(&err, Error::Storage(f) if f.kind == Fault::DiskFull),
        "{err:?}"
    );
    assert_eq!(
        pgd.storage_health().fault().map(|f| f.kind),
        Some(Fault::DiskFull)
    );
    assert_eq!(
        mirrored(&pgd),
        before,
        "nothing of the failed page is in memory"
    );
    assert_eq!(pgd.stats(Some("s1")).unwrap().students.enrolled, 50);
    // Still full: the probe cannot heal it, the next page fails the same way.
    assert!(pgd.probe_storage().is_err());
    assert_eq!(mirrored(&pgd), before);
    // Space returns: the same engine heals at its next operation, without a restart.
    std::fs::remove_file(filler).unwrap();
    sync(&school, &mut pgd);
    assert!(
        pgd.storage_health().fault().is_none(),
        "a commit heals the health state"
    );
    assert_eq!(pgd.stats(Some("s1")).unwrap().students.enrolled, 4040);
    assert_eq!(pgd.height(&school.id()), school.height(&school.id()));
    // Once more, then a freshly opened engine holds what the failed one holds in memory.
    school
        .import(
            "students",
            Some("text/csv"),
            students("c", 3000, 0).as_bytes(),
        )
        .unwrap();
    let filler = fs.fill();
    assert!(matches!(
        sync_result(&school, &mut pgd),
        Err(Error::Storage(_))
    ));
    let after = mirrored(&pgd);
    drop(pgd);
    std::fs::remove_file(filler).unwrap();
    let pgd = w.open("pgd", 16);
    assert_eq!(
        mirrored(&pgd),
        after,
        "memory after a failed commit = the store"
    );
}

/// [`sync`], stopping at the first error.
fn sync_result(from: &Engine, to: &mut Engine) -> Result<()> {
    for (author, h) in from.heights() {
        let have = to.height(&author);
        if h > have {
            let page: Vec<Vec<u8>> = from
                .entries(&author, have + 1, 10_000, usize::MAX)
                .into_iter()
                .map(|(_, b)| b)
                .collect();
            to.ingest(&page)?;
        }
    }
    Ok(())
}

#[test]
fn idle_documents_are_dropped_and_reload_on_demand() {
    let w = World::new();
    let mut school = w.open("s1", 16);
    school
        .import(
            "students",
            Some("text/csv"),
            students("a", 20, 0).as_bytes(),
        )
        .unwrap();
    let mut pgd = w.open("pgd", 16);
    sync(&school, &mut pgd);
    let doc = students_doc("s1");
    assert_eq!(pgd.with_doc(&doc, |d| d.len()).unwrap(), Some(20));
    assert_eq!(pgd.loaded_docs(), 1);
    let now = chrono::Utc::now().timestamp_millis();
    assert_eq!(
        pgd.evict_idle_docs(now, 60_000),
        0,
        "a document just used stays"
    );
    assert_eq!(pgd.loaded_docs(), 1);
    assert_eq!(pgd.evict_idle_docs(now + 61_000, 60_000), 1);
    assert_eq!(pgd.loaded_docs(), 0, "an idle document is dropped");
    assert_eq!(
        pgd.with_doc(&doc, |d| d.len()).unwrap(),
        Some(20),
        "and reloads"
    );
}

/// Found by `fuzz/page_validate`: once a log held seq `u64::MAX` (an ancestor's log is
/// sparse here, so any seq of it is taken), the next entry of that author made
/// `head + 1` overflow (a panic in debug builds).
#[test]
fn an_ancestor_entry_at_the_last_seq_leaves_the_log_usable() {
    let w = World::new();
    let mut d = w.open("pgd", 16);
    let note = |seq: u64| {
        Entry::sign(
            &w.root,
            seq,
            Some([7; 32]),
            0,
            Payload::Notification {
                to_unit: "pgd".into(),
                title: "t".into(),
                body: seq.to_string(),
            },
        )
        .into_bytes()
    };
    let got = d.ingest(&[note(u64::MAX), note(5)]).unwrap();
    assert!(got.rejected.is_empty(), "{:?}", got.rejected);
    let got = d.ingest(&[note(6), note(u64::MAX)]).unwrap();
    assert!(got.rejected.is_empty(), "{:?}", got.rejected);
    assert_eq!(d.height(&w.root.id()), u64::MAX);
}

#[test]
fn a_large_import_is_split_into_entries_a_parent_accepts() {
    let w = World::new();
    let mut s1 = w.open("s1", 16);
    let mut d = w.open("pgd", 16);
    let csv = eduioc_synth::long_named_students("big", 60_000, 7);
    println!("file: {} MiB", csv.len() / (1024 * 1024));
    let started = std::time::Instant::now();
    let got = s1.import("students", None, csv.as_bytes()).unwrap();
    println!("import of 60,000 long-named rows: {:?}", started.elapsed());
    assert_eq!(got.inserted, 60_000);
    let log = log_of(&s1, &s1.id());
    let sizes: Vec<usize> = log.iter().map(|(_, e)| e.bytes().len()).collect();
    println!("entries (bytes): {sizes:?}");
    // More than one entry could carry: one entry for the whole import would be refused.
    let changes: usize = log
        .iter()
        .filter(|(_, e)| matches!(e.body.payload, Payload::Changes { .. }))
        .map(|(_, e)| e.bytes().len())
        .sum();
    assert!(
        changes > eduioc_protocol::entry::MAX_ENTRY_BYTES,
        "{changes} bytes of changes"
    );
    assert!(
        sizes
            .iter()
            .all(|s| *s <= eduioc_protocol::entry::MAX_ENTRY_BYTES),
        "{sizes:?}"
    );
    // Every entry is accepted upstream: nothing oversized, the figures arrive whole.
    let got = sync(&s1, &mut d);
    assert!(got.rejected.is_empty(), "{:?}", got.rejected);
    assert_eq!(d.stats(Some("s1")).unwrap().students.enrolled, 60_000);
    // Re-importing the same file writes nothing.
    let height = s1.height(&s1.id());
    let again = s1.import("students", None, csv.as_bytes()).unwrap();
    assert_eq!((again.inserted, again.updated), (0, 0));
    assert_eq!(s1.height(&s1.id()), height);
    // A one-row import afterwards follows.
    s1.import("students", None, students("late", 1, 0).as_bytes())
        .unwrap();
    assert!(sync(&s1, &mut d).rejected.is_empty());
    assert_eq!(d.stats(Some("s1")).unwrap().students.enrolled, 60_001);
}

#[test]
fn an_import_commits_all_its_entries_in_one_transaction_or_none() {
    let w = World::new();
    let mut s1 = w.open("s1", 16);
    let mut d = w.open("pgd", 16);
    s1.set_import_limits(ImportLimits {
        rows_per_change: 40,
        bytes_per_change: usize::MAX,
        max_entry_bytes: 16 * 1024,
    });
    let csv = students("a", 1000, 10);
    // The store refuses the commit: nothing of the import is anywhere.
    s1.fail_local_commit = true;
    assert!(s1.import("students", None, csv.as_bytes()).is_err());
    assert_eq!(s1.height(&s1.id()), 0);
    assert_eq!(s1.entry_count(), 0);
    assert_eq!(s1.stats(None).unwrap().students.enrolled, 0);
    assert!(records(&mut s1, &students_doc("s1")).is_empty());
    assert_eq!(s1.views().status().entries, 0);
    // Again, with the store working: several entries under the limit, and the snapshot
    // that falls due, all committed.
    let got = s1.import("students", None, csv.as_bytes()).unwrap();
    assert_eq!(got.inserted, 1000);
    let log = log_of(&s1, &s1.id());
    let changes = log
        .iter()
        .filter(|(_, e)| matches!(e.body.payload, Payload::Changes { .. }))
        .count();
    assert!(changes >= 2, "{changes} change entries");
    assert!(log.iter().all(|(_, e)| e.bytes().len() <= 16 * 1024));
    assert!(matches!(
        log.last().map(|(_, e)| &e.body.payload),
        Some(Payload::Snapshot { .. })
    ));
    assert_eq!(s1.views().status().entries, log.len() as u64);
    assert!(sync(&s1, &mut d).rejected.is_empty());
    assert_eq!(d.stats(Some("s1")).unwrap().students.enrolled, 990);
    // The stored document reloads the same.
    drop(s1);
    let mut s1 = w.open("s1", 16);
    assert_eq!(records(&mut s1, &students_doc("s1")).len(), 1000);
}

#[test]
fn a_change_that_cannot_fit_in_an_entry_refuses_the_file_before_anything_is_applied() {
    let w = World::new();
    let mut s1 = w.open("s1", 16);
    s1.set_import_limits(ImportLimits {
        rows_per_change: 100_000,
        bytes_per_change: usize::MAX,
        max_entry_bytes: 8 * 1024,
    });
    let csv = students("a", 500, 0);
    let Err(Error::Import(errs)) = s1.import("students", None, csv.as_bytes()) else {
        panic!("not refused")
    };
    assert_eq!(errs.errors.len(), 1);
    let e = &errs.errors[0];
    assert_eq!(
        (e.row, e.column.as_str(), e.problem.code()),
        (0, "", "change_too_large")
    );
    assert!(e.message.contains("8 KiB"), "{}", e.message);
    assert_eq!(s1.height(&s1.id()), 0);
    assert!(records(&mut s1, &students_doc("s1")).is_empty());
    // With room, the same file imports whole.
    s1.set_import_limits(ImportLimits::default());
    assert_eq!(
        s1.import("students", None, csv.as_bytes())
            .unwrap()
            .inserted,
        500
    );
    assert_eq!(records(&mut s1, &students_doc("s1")).len(), 500);
}

#[test]
fn a_checked_out_document_takes_no_second_import_and_a_conflict_refuses_the_first() {
    let w = World::new();
    let mut s1 = w.open("s1", 16);
    let rows = |p: &str, n| {
        eduioc_records::parse_import(Collection::Students, None, students(p, n, 0).as_bytes())
            .unwrap()
    };
    let year = s1.school_year();
    let first = s1.begin_import(&year, Collection::Students).unwrap();
    assert!(matches!(
        s1.begin_import(&year, Collection::Students),
        Err(Error::Busy(_))
    ));
    assert!(matches!(
        s1.import("students", None, students("b", 1, 0).as_bytes()),
        Err(Error::Busy(_))
    ));
    // Another collection is free.
    s1.import(
        "classes",
        None,
        b"class_id,name,grade,homeroom_staff_id\n1a,1A,1,\n",
    )
    .unwrap();
    let prepared = first.prepare(&rows("a", 10)).unwrap();
    assert_eq!(prepared.entries(), 1);
    let (got, ..) = s1.finish_import(prepared).unwrap();
    assert_eq!(got.inserted, 10);
    // A commit that changes the checked-out document meanwhile (here: this node's own
    // entries coming back from a restore) refuses the import.
    let co = s1.begin_import(&year, Collection::Students).unwrap();
    let key = co.key();
    let prepared = co.prepare(&rows("c", 5)).unwrap();
    s1.conflicts.insert(key.clone());
    assert!(matches!(s1.finish_import(prepared), Err(Error::Busy(_))));
    assert_eq!(records(&mut s1, &students_doc("s1")).len(), 10);
    // And the next import works.
    s1.import("students", None, students("d", 2, 0).as_bytes())
        .unwrap();
    assert_eq!(records(&mut s1, &students_doc("s1")).len(), 12);
}

#[test]
fn status_is_published_after_every_commit() {
    let w = World::new();
    let mut s1 = w.open("s1", 16);
    let views = s1.views();
    let before = views.status();
    assert_eq!(
        (before.unit.as_str(), before.level.as_str()),
        ("s1", "school")
    );
    assert_eq!(before.entries, 0);
    s1.import("students", None, students("a", 20, 0).as_bytes())
        .unwrap();
    let after = views.status();
    assert!(after.version > before.version);
    assert_eq!(after.entries, s1.entry_count());
    assert_eq!(after.authors, s1.author_count());
    s1.count_rejection("malformed");
    assert_eq!(views.status().rejected.get("malformed"), Some(&1));
    let d = w.open("pgd", 16);
    let v = d.views().status();
    let children: Vec<&str> = v.children.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(children, vec!["s1", "s2"]);
}

#[test]
fn imports_through_the_handle_parse_off_the_engine() {
    let w = World::new();
    let s1 = w.open("s1", 16).spawn().unwrap();
    let (got, t) = s1
        .import(None, "students", None, students("a", 3000, 0).as_bytes())
        .unwrap();
    assert_eq!(got.inserted, 3000);
    println!("{t:?}");
    // Problems in the file: 422 rows, nothing locked for long, nothing applied.
    let Err(Error::Import(_)) = s1.import(None, "students", None, b"student_id\nx\n") else {
        panic!("accepted a bad file")
    };
    // The kind and the node are checked as before.
    assert!(matches!(
        s1.import(None, "pupils", None, b""),
        Err(Error::Invalid(_))
    ));
    let d = w.open("pgd", 16).spawn().unwrap();
    assert!(matches!(
        d.import(None, "students", None, students("x", 1, 0).as_bytes()),
        Err(Error::Forbidden(_))
    ));
    let stats = s1.call_blocking(|e| e.stats(None)).unwrap().unwrap();
    assert_eq!(stats.students.enrolled, 3000);
}

/// How long an import of 200,000 students keeps the engine's thread, phase by phase. Run:
/// `cargo test --release -p eduioc-engine import_phases -- --ignored --nocapture`.
#[test]
#[ignore]
fn import_phases_of_200000_rows() {
    let w = World::new();
    let s1 = w.open("s1", 16).spawn().unwrap();
    let csv = students("m", 200_000, 1000);
    for round in [
        "first import",
        "same file again",
        "one field changed in every row",
    ] {
        let body = if round.starts_with("one field") {
            csv.replace(",Kinh,", ",Tày,")
        } else {
            csv.clone()
        };
        let started = std::time::Instant::now();
        let (got, t) = s1.import(None, "students", None, body.as_bytes()).unwrap();
        println!(
            "{round}: {got:?} in {:?}\n  parse {:?} (off), checkout {:?} (on the engine), \
             upsert {:?} (off), sign {:?} (on), commit {:?} (on); longest engine job {:?}",
            started.elapsed(),
            t.parse,
            t.checkout,
            t.upsert,
            t.sign,
            t.commit,
            t.longest_job
        );
    }
}

#[test]
fn every_commit_announces_what_it_appended() {
    let w = World::new();
    let mut s1 = w.open("s1", 8);
    let mut d = w.open("pgd", 8);
    let mut at_school = s1.views().subscribe();
    let mut at_district = d.views().subscribe();
    s1.import("students", Some("text/csv"), students("A", 3, 0).as_bytes())
        .unwrap();
    assert_eq!(
        at_school.try_recv().unwrap(),
        Event::Appended(vec![s1.id()])
    );
    // A refused import announces nothing.
    assert!(s1
        .import("students", Some("text/csv"), b"student_id\nX\n")
        .is_err());
    assert!(at_school.try_recv().is_err());
    // Received entries are announced by the node that committed them, once.
    sync(&s1, &mut d);
    assert_eq!(
        at_district.try_recv().unwrap(),
        Event::Appended(vec![s1.id()])
    );
    sync(&s1, &mut d);
    assert!(at_district.try_recv().is_err(), "nothing new: no event");
    // A notification is an entry like any other.
    d.notify("s1", "Hạn nộp báo cáo", "").unwrap();
    assert_eq!(
        at_district.try_recv().unwrap(),
        Event::Appended(vec![d.id()])
    );
}

#[test]
fn an_engine_in_memory_on_a_simulated_clock_replays_entry_for_entry() {
    let w = World::new();
    // 1 October 2027, 08:00 UTC: the school year 2027-2028.
    let at = 1_822_464_000_000;
    let open = || {
        Engine::open_with(
            Config {
                school_year: None,
                ..w.config("s1", "unused", 8)
            },
            Store::in_memory().unwrap(),
            Clock::new(move || at),
        )
        .unwrap()
    };
    let (mut a, mut b) = (open(), open());
    for e in [&mut a, &mut b] {
        e.import("students", Some("text/csv"), students("A", 5, 1).as_bytes())
            .unwrap();
        e.notify("s1", "Lịch họp", "8:00").unwrap();
    }
    // Same inputs, same clock: the same signed bytes.
    let log = |e: &Engine| e.entries(&e.id(), 1, 100, usize::MAX);
    assert!(log(&a).len() >= 2);
    assert_eq!(log(&a), log(&b));
    assert!(log(&a)
        .iter()
        .all(|(_, bytes)| { Entry::decode(bytes).unwrap().body.timestamp_ms == at }));
    // The school year comes from the clock, and the figures are there.
    let s = a.stats(None).unwrap();
    assert_eq!(s.school_year, "2027-2028");
    assert_eq!((s.students.enrolled, s.students.dropped_out), (4, 1));
    // A district on a file takes the in-memory school's log like any other.
    let mut d = w.open("pgd", 8);
    sync(&a, &mut d);
    assert_eq!(
        d.stats_in(Some("s1"), "2027-2028").unwrap().students,
        s.students
    );
}

#[test]
fn the_overview_ranks_children_and_counts_by_level_and_year() {
    let w = World::new();
    let (mut s1, mut s2) = (w.open("s1", 8), w.open("s2", 8));
    s1.import("students", Some("text/csv"), students("A", 3, 0).as_bytes())
        .unwrap();
    s2.import("students", Some("text/csv"), students("B", 5, 1).as_bytes())
        .unwrap();
    let mut d = w.open("so", 8);
    let mut pgd = w.open("pgd", 8);
    for s in [&s1, &s2] {
        sync(s, &mut pgd);
    }
    sync(&pgd, &mut d);
    let o = d.views().figures().overview("pgd").unwrap();
    assert_eq!(o.me.stats.students.enrolled, 3 + 4);
    assert_eq!(
        o.crumbs,
        vec![("so".into(), "SO".into()), ("pgd".into(), "PGD".into())]
    );
    // Largest first.
    let kids: Vec<(&str, u64)> = o
        .children
        .iter()
        .map(|c| (c.id.as_str(), c.stats.students.enrolled))
        .collect();
    assert_eq!(kids, vec![("s2", 4), ("s1", 3)]);
    assert_eq!(o.by_level.iter().sum::<u64>(), 7);
    assert_eq!(o.by_year, vec![("2026-2027".to_string(), 7)]);
    assert!(matches!(
        d.views().figures().overview("nowhere"),
        Err(Error::UnknownUnit(_))
    ));
}

#[test]
fn the_document_cache_keeps_what_fits_its_memory_budget() {
    let w = World::new();
    let mut s1 = w.open("s1", 8);
    for (kind, csv) in [
        ("students", students("A", 40, 2)),
        (
            "staff",
            "staff_id,full_name,gender,birth_date,role,qualification,status\n\
             GV01,Trần Thị Bình,F,1985-02-02,teacher,master,active\n"
                .to_string(),
        ),
        (
            "classes",
            "class_id,name,grade,homeroom_staff_id\n5A,Lớp 5A,5,GV01\n".to_string(),
        ),
    ] {
        s1.import(kind, Some("text/csv"), csv.as_bytes()).unwrap();
    }
    // A district whose budget holds two small documents, whatever its count allows.
    let mut d = Engine::open(Config {
        doc_cache_bytes: 2 * docs::doc_cost(&RecordsDoc::new(&[0; 32])) + 40 * 320,
        ..w.config("pgd", "pgd-budget", 100)
    })
    .unwrap();
    sync(&s1, &mut d);
    let status = d.views().status();
    assert!(status.docs_loaded <= 2, "{status:?}");
    assert!(
        status.docs_loaded_bytes <= 2 * 48 * 1024 + 40 * 320,
        "{status:?}"
    );
    // What was dropped was summarised first: the figures are whole.
    assert_eq!(d.stats(Some("s1")).unwrap(), s1.stats(None).unwrap());
    assert_eq!(d.search_staff("tran thi binh", None, 5).unwrap().len(), 1);
}

/// The realistic roster of school `s{i}` of the wave measurement.
fn roster(i: usize) -> eduioc_synth::SchoolData {
    let level = [
        eduioc_synth::SchoolLevel::Primary,
        eduioc_synth::SchoolLevel::LowerSecondary,
        eduioc_synth::SchoolLevel::UpperSecondary,
    ][i % 3];
    eduioc_synth::school(
        i as u64,
        &format!("s{i}"),
        level,
        2026,
        eduioc_synth::Size::Realistic,
    )
}

/// Everything `from` authored that `to` lacks, in pages as a link sends them; returns the
/// number of pages.
fn deliver(from: &Engine, to: &EngineHandle) -> usize {
    let author = from.id();
    let mut pages = 0;
    loop {
        let have = to.log().unwrap().height(&author);
        let page: Vec<Vec<u8>> = from
            .entries(
                &author,
                have + 1,
                eduioc_protocol::wire::MAX_PAGE_ENTRIES,
                eduioc_protocol::wire::MAX_PAGE_BYTES,
            )
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        if page.is_empty() {
            return pages;
        }
        let out = to.call_blocking(move |e| e.ingest(&page)).unwrap().unwrap();
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        pages += 1;
    }
}

/// The district's `stats` while it ingests the first full rosters of 200 schools, read the
/// two ways a handler can: as a job queued behind the ingests on the engine's thread (as
/// every handler waited for the engine before the figures view) and from the published
/// figures (as handlers do now). Both are timed in
/// the same run, against the same ingest. A measurement, not an assertion: run with
/// `cargo test --release -p eduioc-engine -- --ignored --nocapture stats_during_a_wave`
/// (`EDUIOC_WAVE_SCHOOLS` changes the 200).
#[test]
#[ignore = "measurement; run explicitly"]
fn stats_during_a_wave_of_school_rosters() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    let n: usize = env_or("EDUIOC_WAVE_SCHOOLS", 200);
    let w = World::with_schools(n);
    // The schools import their rosters first (at their own nodes, not timed here).
    let started = Instant::now();
    let mut schools = Vec::new();
    let mut rows = 0;
    for i in 1..=n {
        let unit = format!("s{i}");
        let data = roster(i);
        let mut e = w.open(&unit, 4);
        for (kind, csv) in [
            ("classes", &data.classes_csv),
            ("staff", &data.staff_csv),
            ("students", &data.students_csv),
        ] {
            rows += csv.lines().count() - 1;
            e.import(kind, Some("text/csv"), csv.as_bytes()).unwrap();
        }
        schools.push(e);
    }
    println!(
        "{n} schools imported {rows} rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // The district's document cache: by memory (the default), or `EDUIOC_WAVE_DOCS`
    // documents at most (16 was the fixed count before).
    let cap = env_or("EDUIOC_WAVE_DOCS", DEFAULT_DOC_CACHE);
    let district = w.open("pgd", cap).spawn().unwrap();
    let views = district.views();
    let done = Arc::new(AtomicBool::new(false));
    // The reader: `stats` of the district's subtree, alternately through the engine and
    // from the figures, until the wave is over; 1 ms apart, as a busy dashboard would ask.
    let reader = {
        let (district, views, done) = (district.clone(), views.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut locked, mut published) = (Vec::new(), Vec::new());
            while !done.load(Ordering::Relaxed) {
                let t = Instant::now();
                let a = district.call_blocking(|e| e.stats(None)).unwrap().unwrap();
                locked.push(t.elapsed());
                let t = Instant::now();
                let b = views.figures().stats(None).unwrap();
                published.push(t.elapsed());
                assert!(b.students.enrolled >= a.students.enrolled.min(b.students.enrolled));
                std::thread::sleep(Duration::from_millis(1));
            }
            (locked, published)
        })
    };
    // The wave: every school's entries, page by page, as its link would deliver them.
    let wave = Instant::now();
    let mut pages = 0;
    for s in &schools {
        pages += deliver(s, &district);
    }
    let wall = wave.elapsed();
    done.store(true, Ordering::Relaxed);
    // A second wave: every school changes one student; the district takes one more page
    // from each, into documents it loaded in the first wave.
    let loads_before = district.call_blocking(|e| e.docs.loads).unwrap();
    for (i, s) in schools.iter_mut().enumerate() {
        let changed = roster(i + 1)
            .students_csv
            .replacen(",enrolled\n", ",dropped_out\n", 1);
        s.import("students", Some("text/csv"), changed.as_bytes())
            .unwrap();
    }
    let second = Instant::now();
    for s in &schools {
        deliver(s, &district);
    }
    println!(
        "second wave (one change per school): {:.2} s, {} document loads",
        second.elapsed().as_secs_f64(),
        district.call_blocking(|e| e.docs.loads).unwrap() - loads_before
    );
    let (locked, published) = reader.join().unwrap();
    let enrolled: u64 = schools
        .iter()
        .map(|s| s.stats(None).unwrap().students.enrolled)
        .sum();
    assert_eq!(
        district
            .call_blocking(|e| e.stats(None))
            .unwrap()
            .unwrap()
            .students
            .enrolled,
        enrolled
    );
    let (loads, status) = (
        district.call_blocking(|e| e.docs.loads).unwrap(),
        views.status(),
    );
    println!(
        "wave: {pages} pages from {n} schools ingested in {:.2} s; {loads} document loads; \
         {} documents loaded ({} KiB estimated) at the end",
        wall.as_secs_f64(),
        status.docs_loaded,
        status.docs_loaded_bytes / 1024
    );
    for (name, mut t) in [
        ("through the engine", locked),
        ("from the published figures", published),
    ] {
        t.sort();
        let at = |q: f64| t[((t.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
        println!(
            "stats {name}: {} calls, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            t.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
}

/// The whole number in environment variable `name`, else `default` (the measurements'
/// sizes).
fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This process's resident memory, KiB (for the measurements below).
fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

/// What a loaded document costs in memory against its stored size, for
/// [`docs::DocCache`]'s estimate. A measurement: run with
/// `cargo test --release -p eduioc-engine -- --ignored --nocapture memory_of_loaded_documents`.
#[test]
#[ignore = "measurement; run explicitly"]
fn memory_of_loaded_documents() {
    let w = World::new();
    let mut e = w.open("s1", 4);
    for (level, size) in [
        (eduioc_synth::SchoolLevel::Primary, eduioc_synth::Size::Tiny),
        (
            eduioc_synth::SchoolLevel::UpperSecondary,
            eduioc_synth::Size::Realistic,
        ),
    ] {
        let data = eduioc_synth::school(7, "s1", level, 2026, size);
        e.import("students", Some("text/csv"), data.students_csv.as_bytes())
            .unwrap();
        let key = students_doc("s1").key();
        let rec = e.store.doc(&key).unwrap().unwrap();
        let stored = rec.snapshot.len() + rec.chunks.iter().map(Vec::len).sum::<usize>();
        let n = 40;
        let before = rss_kib();
        let docs: Vec<RecordsDoc> = (0..n)
            .map(|_| load_doc(Some(rec.clone()), &[9; 32]).unwrap())
            .collect();
        let per_doc = (rss_kib() - before) * 1024 / n as u64;
        println!(
            "{} records, stored {stored} B, in memory ~{per_doc} B: {:.1}x",
            docs[0].len(),
            per_doc as f64 / stored as f64
        );
        drop(docs);
    }
}

/// What an idle engine on an in-memory store costs, for the simulator's nodes (56,000 at
/// Vietnam's scale). A measurement: run with
/// `cargo test --release -p eduioc-engine -- --ignored --nocapture memory_of_idle_engines`
/// (`EDUIOC_ENGINES` changes the 2,000).
#[test]
#[ignore = "measurement; run explicitly"]
fn memory_of_idle_engines() {
    let n: usize = env_or("EDUIOC_ENGINES", 2000);
    let w = World::new();
    let cfg = w.config("s1", "unused", 4);
    let before = rss_kib();
    let started = std::time::Instant::now();
    let engines: Vec<Engine> = (0..n)
        .map(|_| {
            Engine::open_with(
                cfg.clone(),
                Store::in_memory().unwrap(),
                Clock::new(|| 1_800_000_000_000),
            )
            .unwrap()
        })
        .collect();
    let per = (rss_kib() - before) as f64 / n as f64;
    println!(
        "{n} idle engines on in-memory stores: {per:.0} KiB each, opened in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(engines);
}

/// A node updates a document's figures (summary and look-up index) from the records a
/// page changed; after every page they are exactly those of the whole document. Seeded:
/// `EDUIOC_SEED` replays a failure.
#[test]
fn figures_updated_from_changed_records_equal_those_of_the_whole_document() {
    // A roomy cache, and one of a single document: a page that changes both documents
    // drops one and loads it again while the page is committed.
    for cache in [16, 1] {
        figures_updated_with_cache(cache);
    }
}

fn figures_updated_with_cache(cache: usize) {
    let seed = env_or("EDUIOC_SEED", 20261201) as u64;
    println!("EDUIOC_SEED={seed}");
    let mut state = seed;
    let mut next = move |n: u64| {
        // SplitMix64: small, seeded, enough to pick edits.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    };
    let w = World::new();
    let mut s1 = w.open("s1", 16);
    let mut d = w.open("pgd", cache);
    s1.import(
        "students",
        Some("text/csv"),
        students("a", 60, 5).as_bytes(),
    )
    .unwrap();
    s1.import(
        "staff",
        Some("text/csv"),
        "staff_id,full_name,gender,birth_date,role,qualification,status\n\
         t1,Lê Thị Hoa,F,1980-01-01,teacher,bachelor,active\n\
         t2,Phạm Văn Nam,M,1975-02-02,manager,master,active\n"
            .as_bytes(),
    )
    .unwrap();
    sync(&s1, &mut d);
    let check = |d: &mut Engine, round: u32| {
        for (key, summary) in d.summaries() {
            let doc = DocId::from_key(&key).unwrap();
            let whole = d.with_doc(&doc, |rd| figures(&key, rd)).unwrap().unwrap();
            let (whole_summary, whole_index) = whole.unwrap();
            assert_eq!(
                summary, whole_summary,
                "cache {cache}, round {round}: summary of {key}"
            );
            let index = d.store.get(&tables::LOOKUPS, &key).unwrap();
            assert_eq!(
                index, whole_index,
                "cache {cache}, round {round}: look-up index of {key}"
            );
        }
    };
    check(&mut d, 0);
    let text = |v: &str| Value::Str(v.into());
    for round in 1..=30u32 {
        // A few commits per page, each a few rows: status, grade, gender, name and class
        // changes on existing pupils, and new pupils; sometimes a teacher leaves.
        for _ in 0..=next(3) {
            let rows: Vec<eduioc_records::Row> = (0..=next(4))
                .map(|_| {
                    let id = format!("a-{}", next(70));
                    let mut fields = BTreeMap::new();
                    fields.insert(
                        "full_name".into(),
                        text(&format!("Học sinh {}", next(1000))),
                    );
                    let status = ["enrolled", "dropped_out", "transferred_out"][next(3) as usize];
                    fields.insert("status".into(), text(status));
                    fields.insert("grade".into(), Value::Int(1 + next(12) as i64));
                    fields.insert("gender".into(), text(["M", "F"][next(2) as usize]));
                    fields.insert("class_id".into(), text(&format!("{}b", 1 + next(5))));
                    fields.insert("birth_date".into(), text("2015-01-01"));
                    fields.insert("ethnicity".into(), text("Kinh"));
                    eduioc_records::Row { id, fields }
                })
                .collect();
            s1.upsert(Collection::Students, &rows).unwrap();
            if next(4) == 0 {
                let mut fields = BTreeMap::new();
                let status = ["active", "left"][next(2) as usize];
                fields.insert("status".into(), text(status));
                let row = eduioc_records::Row {
                    id: "t1".into(),
                    fields,
                };
                s1.upsert(Collection::Staff, &[row]).unwrap();
            }
        }
        sync(&s1, &mut d);
        check(&mut d, round);
    }
    // The figures were updated, not recomputed (they would be equal either way).
    assert!(d.docs.updated >= 30, "updated {} times", d.docs.updated);
}

/// The root signs a hierarchy change into its log (a new district, and the next version
/// of a school's certificate under it from a later date); a district takes it like any
/// entry, and the school moves when the clock reaches the date, without a commit.
#[test]
fn a_published_certificate_moves_a_school_when_its_date_comes() {
    use std::sync::atomic::{AtomicI64, Ordering};
    let w = World::new();
    let now = Arc::new(AtomicI64::new(1_800_000_000_000));
    let clock = {
        let now = now.clone();
        Clock::new(move || now.load(Ordering::Relaxed))
    };
    let open = |unit: &str| {
        Engine::open_with(
            w.config(unit, "unused", 8),
            Store::in_memory().unwrap(),
            clock.clone(),
        )
        .unwrap()
    };
    let (mut so, mut pgd) = (open("so"), open("pgd"));
    let k2 = NodeKey::from_secret([77; 32]);
    let s1 = w.keys.iter().find(|k| k.0 == "s1").unwrap().3.clone();
    let at = 1_800_000_000_000 + 86_400_000;
    let body = |unit: &str, parent: &str, level: &str, key: &NodeKey, version, effective_ms| {
        Certificate::issue(
            CertBody {
                unit: unit.into(),
                name: unit.to_uppercase(),
                level: level.into(),
                parent: Some(parent.into()),
                key: key.id(),
                version,
                effective_ms,
                delegate: level != "school",
                issuer: w.root.id(),
            },
            &w.root,
        )
    };
    so.publish_certificate(body("pgd2", "so", "district", &k2, 1, 0))
        .unwrap();
    so.publish_certificate(body("s1", "pgd2", "school", &s1, 2, at))
        .unwrap();
    // Only the issuer may publish: a district signing the root's certificate is refused.
    assert!(pgd
        .publish_certificate(body("s2", "pgd2", "school", &s1, 3, 0))
        .is_err());
    sync(&so, &mut pgd);
    for e in [&mut so, &mut pgd] {
        assert_eq!(e.directory().parent("s1"), Some("pgd"), "{}", e.unit());
    }
    now.store(at + 1, Ordering::Relaxed);
    for e in [&mut so, &mut pgd] {
        let stamp = e.directory().stamp();
        e.advance_clock();
        assert_eq!(e.directory().parent("s1"), Some("pgd2"), "{}", e.unit());
        assert_ne!(e.directory().stamp(), stamp);
        // The published view follows.
        assert_eq!(e.views().figures().directory().parent("s1"), Some("pgd2"));
    }
    assert!(!pgd
        .views()
        .figures()
        .directory()
        .is_ancestor_or_self("pgd", "s1"));
}

/// A school imports its roster as the sector database exports it (title rows,
/// semicolons, Vietnamese headers and values, personal ids): the district counts it.
#[test]
fn a_roster_exported_in_vietnamese_is_imported_and_counted() {
    let w = World::new();
    let mut s1 = w.open("s1", 8);
    let mut d = w.open("pgd", 8);
    let body = "\u{feff}DANH SÁCH HỌC SINH;;;\r\n\
                Họ và tên;Mã học sinh;Giới tính;Ngày sinh;Khối;Mã lớp;Dân tộc;Trạng thái;Mã định danh\r\n\
                Nguyễn Văn An;HS001;Nam;05/09/2014;5;5A;Kinh;Đang học;083214000123\r\n\
                Trần Thị Bình;HS002;Nữ;01/02/2014;5;5A;Tày;Đang học;083214000124\r\n\
                Lò Văn Páo;HS003;Nam;01/02/2013;6;6A;Thái;Bỏ học;\r\n\
                Hà Văn Tư;HS004;Nam;01/02/2011;9;9A;Mường;Đang học;\r\n\
                Đinh Thị Mai;MN01;Nữ;01/02/2021;Mẫu giáo 4-5 tuổi;MG4A;Kinh;Đang học;\r\n\
                Đinh Văn Nam;MN02;Nam;01/02/2023;NT;NTA;Kinh;Đang học;\r\n";
    let out = s1
        .import("students", Some("text/csv"), body.as_bytes())
        .unwrap();
    assert_eq!(out.inserted, 6);
    sync(&s1, &mut d);
    let st = d.stats(Some("s1")).unwrap();
    assert_eq!((st.students.enrolled, st.students.dropped_out), (5, 1));
    let pairs = |m: &BTreeMap<String, u64>| -> Vec<(String, u64)> {
        m.iter().map(|(k, n)| (k.clone(), *n)).collect()
    };
    let want = |p: &[(&str, u64)]| -> Vec<(String, u64)> {
        p.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    };
    assert_eq!(
        pairs(&st.students.by_grade),
        want(&[("5", 2), ("9", 1), ("MG4", 1), ("NT", 1)])
    );
    assert_eq!(
        pairs(&st.students.by_level),
        want(&[("lower_secondary", 1), ("preschool", 2), ("primary", 2)])
    );
    let doc = DocId {
        unit: "s1".into(),
        collection: "students".into(),
        year: "2026-2027".into(),
    };
    let an = d
        .with_doc(&doc, |r| r.get("HS001"))
        .unwrap()
        .flatten()
        .unwrap();
    assert_eq!(an["personal_id"], Value::Str("083214000123".into()));
    assert_eq!(an["gender"], Value::Str("M".into()));
}

mod alerts;
mod forecast;
mod indicators;
mod ops_reads;
mod targets;

#[test]
fn the_audit_trail_travels_up_pages_and_shows_a_changed_entry() {
    let w = World::new();
    let mut so = w.open("so", 4);
    let mut d = w.open("pgd", 4);
    let mut s1 = w.open("s1", 4);
    let mut s2 = w.open("s2", 4);
    s1.audit("thu", "login", "").unwrap();
    s1.import("students", None, students("A", 5, 0).as_bytes())
        .unwrap();
    s1.audit("thu", "import", "students.csv: 5 rows").unwrap();
    s2.audit("lan", "login", "").unwrap();
    d.audit("minh", "target", "s1 dropout_rate <= 1").unwrap();
    // Refused before anything is signed: not a code, too long.
    assert!(matches!(
        s1.audit("thu", "Log In", ""),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        s1.audit("thu", "import", &"x".repeat(3000)),
        Err(Error::Invalid(_))
    ));
    sync(&s1, &mut d);
    sync(&s2, &mut d);
    sync(&d, &mut so);
    let all = |e: &Engine, q: AuditQuery| e.lookups().audit(&q).unwrap();
    let q = |limit| AuditQuery {
        limit,
        ..AuditQuery::default()
    };
    // The department holds every node's trail, newest first, each row checked.
    let page = all(&so, q(100));
    let seen: Vec<(&str, &str, &str)> = page
        .rows
        .iter()
        .map(|r| (r.unit.as_str(), r.user.as_str(), r.action.as_str()))
        .collect();
    assert_eq!(seen.len(), 4, "{seen:?}");
    for want in [
        ("s1", "thu", "login"),
        ("s1", "thu", "import"),
        ("s2", "lan", "login"),
        ("pgd", "minh", "target"),
    ] {
        assert!(seen.contains(&want), "{want:?} in {seen:?}");
    }
    assert!(page.rows.iter().all(|r| r.check == "ok"), "{:?}", page.rows);
    assert!(page.rows.windows(2).all(|w| w[0].at >= w[1].at));
    // Filters: a subtree, a user, an action; a school sees only its own.
    let only = all(
        &so,
        AuditQuery {
            unit: Some("s1".into()),
            action: Some("import".into()),
            limit: 10,
            ..AuditQuery::default()
        },
    );
    assert_eq!(only.rows.len(), 1);
    assert_eq!(only.rows[0].detail, "students.csv: 5 rows");
    assert_eq!(all(&s2, q(10)).rows.len(), 1);
    assert!(matches!(
        s2.lookups().audit(&AuditQuery {
            unit: Some("s1".into()),
            ..q(10)
        }),
        Err(Error::UnknownUnit(_))
    ));
    // Pages of one row follow each other to the end, without repeats.
    let mut cursor = None;
    let mut paged = Vec::new();
    loop {
        let p = all(
            &so,
            AuditQuery {
                cursor: cursor.clone(),
                ..q(1)
            },
        );
        paged.extend(p.rows.into_iter().map(|r| (r.unit, r.seq)));
        match p.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    let whole: Vec<(String, u64)> = page.rows.iter().map(|r| (r.unit.clone(), r.seq)).collect();
    assert_eq!(paged, whole);
    // One flipped byte in the stored login entry of s1 at the department: that row says
    // so, the others stay ok.
    let login = page
        .rows
        .iter()
        .find(|r| r.unit == "s1" && r.action == "login")
        .unwrap();
    let author = s1.id();
    let mut bytes = so
        .store
        .entry(author.as_bytes(), login.seq)
        .unwrap()
        .unwrap();
    let at = bytes.len() - 70;
    bytes[at] ^= 0x01;
    let mut txn = so.store.begin_write().unwrap();
    txn.put_entry(author.as_bytes(), login.seq, &bytes).unwrap();
    txn.commit().unwrap();
    let after = all(&so, q(100));
    assert_eq!(after.broken, 1, "{:?}", after.rows);
    let bad = after.rows.iter().find(|r| r.check != "ok").unwrap();
    assert_eq!((bad.unit.as_str(), bad.seq), ("s1", login.seq));
}

#[test]
fn a_node_whose_store_was_lost_gets_its_log_back_and_writes_only_then() {
    let w = World::new();
    let mut d = w.open("pgd", 4);
    let mut s1 = w.open("s1", 4);
    // Enough imports for snapshot entries, then a notification the district sends down.
    for round in 0..6 {
        s1.import(
            "students",
            None,
            students(&format!("R{round}"), 40, round).as_bytes(),
        )
        .unwrap();
    }
    s1.audit("thu", "login", "").unwrap();
    session_up(&s1, &mut d);
    d.notify("s1", "Họp", "Thứ hai").unwrap();
    let own = s1.id();
    let height = s1.height(&own);
    let before = s1.stats(None).unwrap();
    assert!(
        !snapshot_seqs(&s1, &own).is_empty(),
        "the test needs snapshot entries"
    );
    drop(s1);
    // The store is lost; the keys are kept. A fresh store, marked as restoring.
    let mut s1 = Engine::open(w.config("s1", "s1-restored", 4)).unwrap();
    s1.begin_restore().unwrap();
    assert!(s1.restoring() && s1.views().status().restoring);
    let refused = s1.import("students", None, students("X", 3, 0).as_bytes());
    assert!(matches!(refused, Err(Error::Busy(_))), "{refused:?}");
    assert!(matches!(s1.audit("thu", "login", ""), Err(Error::Busy(_))));
    // The district's heights say how much of the log it holds; then it sends it down.
    s1.parent_holds(d.height(&own)).unwrap();
    assert!(s1.restoring());
    let sent = session(&d, &mut s1, eduioc_protocol::sync::Role::Child);
    assert!(
        sent.docs > 0,
        "the log comes back as snapshots and documents: {sent:?}"
    );
    assert!(!s1.restoring(), "restored once it holds its log");
    // Now in step, the district sends none of it again.
    assert_eq!(
        session(&d, &mut s1, eduioc_protocol::sync::Role::Child).entries,
        0
    );
    assert_eq!(s1.height(&own), height);
    let after = s1.stats(None).unwrap();
    assert_eq!(
        (
            after.students,
            after.staff,
            after.classes,
            after.schools_reporting
        ),
        (
            before.students,
            before.staff,
            before.classes,
            before.schools_reporting
        )
    );
    assert_eq!(s1.notifications().unwrap().len(), 1);
    // Its next import continues the log: the district takes it, no fork.
    s1.import("students", None, students("Y", 5, 0).as_bytes())
        .unwrap();
    let got = sync(&s1, &mut d);
    assert!(got.rejected.is_empty(), "{:?}", got.rejected);
    assert_eq!(d.height(&own), s1.height(&own));
    assert_eq!(d.quarantined().unwrap().len(), 0);
    // Restoring a store that holds part of its own log is refused.
    assert!(matches!(d.begin_restore(), Err(Error::Invalid(_))));
}

#[test]
fn a_node_holding_less_of_its_log_than_its_parent_stops_writing_until_it_catches_up() {
    let w = World::new();
    let mut d = w.open("pgd", 4);
    let mut s1 = w.open("s1", 4);
    s1.import("students", None, students("A", 10, 1).as_bytes())
        .unwrap();
    sync(&s1, &mut d);
    let own = s1.id();
    drop(s1);
    // Started on an empty store without `restore`: the parent's heights stop it writing.
    let mut s1 = Engine::open(w.config("s1", "s1-empty", 4)).unwrap();
    assert!(!s1.restoring());
    s1.parent_holds(0).unwrap();
    assert!(
        !s1.restoring(),
        "a parent holding nothing of it changes nothing"
    );
    s1.parent_holds(d.height(&own)).unwrap();
    assert!(s1.restoring());
    assert!(matches!(
        s1.import("students", None, students("B", 2, 0).as_bytes()),
        Err(Error::Busy(_))
    ));
    session(&d, &mut s1, eduioc_protocol::sync::Role::Child);
    assert!(!s1.restoring());
    s1.import("students", None, students("B", 2, 0).as_bytes())
        .unwrap();
    assert!(sync(&s1, &mut d).rejected.is_empty());
}

#[test]
fn a_school_moved_to_another_district_is_counted_there_and_nowhere_twice() {
    use eduioc_protocol::sync::Role;
    let w = World::with_schools(2).and_district("pgd2");
    let mut so = w.open("so", 4);
    let mut d1 = w.open("pgd", 4);
    let mut d2 = w.open("pgd2", 4);
    let mut s1 = w.open("s1", 4);
    let mut s2 = w.open("s2", 4);
    for round in 0..4 {
        s1.import(
            "students",
            None,
            students(&format!("A{round}"), 30, round).as_bytes(),
        )
        .unwrap();
    }
    s2.import("students", None, students("B", 20, 2).as_bytes())
        .unwrap();
    // Last school year (ended before the move takes effect): its figures stay where they
    // were.
    const LAST: &str = "2025-2026";
    s1.import_into(LAST, "students", None, students("L", 25, 0).as_bytes())
        .unwrap();
    for s in [&s1, &s2] {
        session(s, &mut d1, Role::Parent);
    }
    session(&d1, &mut so, Role::Parent);
    let total = |e: &Engine, unit: &str| {
        let s = e.stats(Some(unit)).unwrap().students;
        s.enrolled + s.dropped_out
    };
    let (t1, t2) = (total(&s1, "s1"), total(&s2, "s2"));
    assert_eq!(total(&so, "so"), t1 + t2);
    // Who may move what: a district cannot take a school out of its subtree; nothing
    // moves into its own subtree or onto the parent it has.
    assert!(matches!(
        d1.reparent("s1", "pgd2", None),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        so.reparent("pgd", "s1", None),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        so.reparent("s1", "pgd", None),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        so.reparent("s9", "pgd2", None),
        Err(Error::UnknownUnit(_))
    ));
    let cert = so.reparent("s1", "pgd2", None).unwrap();
    assert_eq!(
        (cert.body.version, cert.body.parent.as_deref()),
        (2, Some("pgd2"))
    );
    assert_eq!(so.directory().parent("s1"), Some("pgd2"));
    // The certificate goes down the old path too: the old district stops counting s1,
    // and s1, still linked there, learns its new parent.
    session(&so, &mut d1, Role::Child);
    assert_eq!(d1.directory().parent("s1"), Some("pgd2"));
    assert_eq!(total(&d1, "pgd"), t2);
    session(&d1, &mut s1, Role::Child);
    assert_eq!(s1.directory().parent("s1"), Some("pgd2"));
    // s1 says hello to its new district, which gets its whole log (as snapshots).
    session(&so, &mut d2, Role::Child);
    s1.import("students", None, students("C", 3, 0).as_bytes())
        .unwrap();
    let sent = session(&s1, &mut d2, Role::Parent);
    assert!(sent.docs > 0, "{sent:?}");
    session(&d2, &mut so, Role::Parent);
    let t1 = total(&s1, "s1");
    assert_eq!(total(&d2, "pgd2"), t1);
    assert_eq!(total(&d1, "pgd"), t2);
    assert_eq!(total(&so, "so"), t1 + t2);
    assert_eq!(total(&so, "pgd2"), t1);
    assert_eq!(total(&so, "pgd"), t2);
    let last = |e: &Engine, unit: &str| {
        let s = e.stats_in(Some(unit), LAST).unwrap().students;
        s.enrolled + s.dropped_out
    };
    for (at, e) in [("so", &so), ("pgd", &d1)] {
        assert_eq!(last(e, "pgd"), 25, "last year at {at}: still under pgd");
    }
    assert_eq!(last(&so, "pgd2"), 0);
    assert_eq!(last(&d2, "pgd2"), 0);
    assert_eq!(last(&so, "so"), 25);
    // History stays attributable: s1's key signs its whole log, before and after.
    assert_eq!(so.directory().key_of("s1"), Some(s1.id()));
}

#[test]
fn a_term_report_is_submitted_returned_approved_accepted_and_shows_later_changes() {
    let w = World::new();
    let mut so = w.open("so", 4);
    let mut d = w.open("pgd", 4);
    let mut s1 = w.open("s1", 4);
    let year = "2026-2027";
    s1.import("students", None, students("A", 12, 1).as_bytes())
        .unwrap();
    let status = |e: &Engine| -> (String, bool) {
        let r = e
            .views()
            .figures()
            .reports(Some("s1"), Some(year), "HK1")
            .unwrap()
            .pop()
            .unwrap();
        (r.status.to_string(), r.changed_since_approval())
    };
    assert_eq!(status(&s1).0, "not_submitted");
    // Only the school submits; nothing to return before a submission.
    assert!(matches!(
        d.report_step("s1", year, "HK1", "submit", ""),
        Err(Error::Forbidden(_))
    ));
    let r = s1.report_step("s1", year, "HK1", "submit", "").unwrap();
    assert_eq!(r.status, "submitted");
    assert!(
        r.submitted.contains(&("enrolled".to_string(), 11.0)),
        "{:?}",
        r.submitted
    );
    sync(&s1, &mut d);
    assert_eq!(status(&d).0, "submitted");
    // The district returns it, with the reason; the department may not.
    assert!(matches!(
        d.report_step("s1", year, "HK1", "return", " "),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        so.report_step("s1", year, "HK1", "approve", ""),
        Err(Error::UnknownUnit(_)) | Err(Error::Forbidden(_))
    ));
    d.report_step("s1", year, "HK1", "return", "Thiếu số liệu lớp 6B")
        .unwrap();
    sync(&d, &mut s1);
    let back = s1
        .views()
        .figures()
        .reports(None, Some(year), "HK1")
        .unwrap();
    assert_eq!(back[0].status, "returned");
    assert_eq!(
        back[0].history.last().unwrap().comment,
        "Thiếu số liệu lớp 6B"
    );
    // Submitted again, approved, accepted at the department.
    s1.report_step("s1", year, "HK1", "submit", "Đã bổ sung")
        .unwrap();
    sync(&s1, &mut d);
    assert!(matches!(
        d.report_step("s1", year, "HK1", "accept", ""),
        Err(Error::Forbidden(_))
    ));
    d.report_step("s1", year, "HK1", "approve", "").unwrap();
    sync(&d, &mut so);
    sync(&s1, &mut so);
    assert_eq!(status(&so).0, "approved");
    so.report_step("s1", year, "HK1", "accept", "").unwrap();
    sync(&so, &mut d);
    sync(&d, &mut s1);
    for e in [&s1, &d, &so] {
        assert_eq!(status(e), ("accepted".to_string(), false), "{}", e.unit());
    }
    // Final: not submitted again.
    assert!(matches!(
        s1.report_step("s1", year, "HK1", "submit", ""),
        Err(Error::Busy(_))
    ));
    // A later change at the school shows against the accepted report at every level.
    s1.import("students", None, students("A", 12, 3).as_bytes())
        .unwrap();
    sync(&s1, &mut d);
    sync(&d, &mut so);
    for e in [&s1, &d, &so] {
        assert_eq!(status(e), ("accepted".to_string(), true), "{}", e.unit());
        let r = e
            .views()
            .figures()
            .reports(Some("s1"), Some(year), "HK1")
            .unwrap();
        let changed: Vec<&str> = r[0].changed.iter().map(|c| c.name.as_str()).collect();
        assert!(
            changed.contains(&"enrolled") && changed.contains(&"dropped_out"),
            "{changed:?}"
        );
    }
}

#[test]
fn a_report_past_its_deadline_is_an_alert_until_submitted() {
    let w = World::new();
    // On a clock fixed on 1 December 2026, whenever the test runs.
    let at = |unit: &str| {
        let cfg = w.config(unit, unit, 4);
        let store = Store::open(&store_path(&cfg.data_dir)).unwrap();
        Engine::open_with(cfg, store, Clock::new(|| 1_796_083_200_000)).unwrap()
    };
    let mut d = at("pgd");
    let mut s1 = at("s1");
    let year = "2026-2027";
    s1.import("students", None, students("A", 5, 0).as_bytes())
        .unwrap();
    sync(&s1, &mut d);
    let overdue = |e: &Engine| -> Vec<String> {
        let a = e.views().figures().alerts(None, Some(year)).unwrap();
        a.into_iter()
            .filter(|a| a.rule == "report_overdue")
            .map(|a| a.id)
            .collect()
    };
    // No deadline configured: no alert.
    assert!(overdue(&d).is_empty());
    // HK1 due on 2 September 2026 (past), HK2 on 15 June 2027 (not yet).
    d.set_alert_settings(AlertSettings {
        report_due_hk1: Some((9, 2)),
        report_due_hk2: Some((6, 15)),
        ..AlertSettings::default()
    });
    let ids = overdue(&d);
    assert!(
        ids.contains(&format!("report_overdue:s1:{year}:HK1")),
        "{ids:?}"
    );
    assert!(
        ids.contains(&format!("report_overdue:s2:{year}:HK1")),
        "{ids:?}"
    );
    assert!(!ids.iter().any(|i| i.ends_with("HK2")), "{ids:?}");
    s1.report_step("s1", year, "HK1", "submit", "").unwrap();
    sync(&s1, &mut d);
    let ids = overdue(&d);
    assert!(
        !ids.contains(&format!("report_overdue:s1:{year}:HK1")),
        "{ids:?}"
    );
    assert!(
        ids.contains(&format!("report_overdue:s2:{year}:HK1")),
        "{ids:?}"
    );
}

#[test]
fn above_the_records_level_only_signed_summaries_travel_and_every_figure_stays_exact() {
    use eduioc_protocol::sync::Role;
    let w = World::new();
    let mut so = w.open("so", 4);
    let mut d = w.open("pgd", 4);
    let mut s1 = w.open("s1", 4);
    let mut s2 = w.open("s2", 4);
    for e in [&mut so, &mut d, &mut s1, &mut s2] {
        e.set_records_up_to(Some("district".into())).unwrap();
    }
    assert!(d.is_records_boundary() && !so.is_records_boundary() && !s1.is_records_boundary());
    assert!(matches!(
        s1.set_records_up_to(Some("school".into())),
        Err(Error::Invalid(_))
    ));
    s1.import("students", None, students("A", 30, 2).as_bytes())
        .unwrap();
    s1.import(
        "staff",
        Some("text/csv"),
        "staff_id,full_name,gender,birth_date,role,qualification,status\n\
         GV01,Nguyễn Văn Đông,M,1980-01-01,teacher,master,active\n"
            .as_bytes(),
    )
    .unwrap();
    s2.import("students", None, students("B", 20, 1).as_bytes())
        .unwrap();
    for s in [&s1, &s2] {
        session(s, &mut d, Role::Parent);
    }
    let sent = session(&d, &mut so, Role::Parent);
    assert!(sent.entries > 0 && sent.docs == 0, "{sent:?}");
    let same = |so: &Engine, d: &Engine| {
        for unit in ["pgd", "s1", "s2"] {
            let (a, b) = (so.stats(Some(unit)).unwrap(), d.stats(Some(unit)).unwrap());
            assert_eq!(
                (
                    a.students,
                    a.staff,
                    a.classes,
                    a.schools,
                    a.schools_reporting
                ),
                (
                    b.students,
                    b.staff,
                    b.classes,
                    b.schools,
                    b.schools_reporting
                ),
                "{unit}"
            );
            let ind = |e: &Engine| {
                e.views()
                    .figures()
                    .indicators(Some(unit), None, None)
                    .unwrap()
                    .indicators
                    .into_iter()
                    .map(|i| (i.code, i.value))
                    .collect::<Vec<_>>()
            };
            assert_eq!(ind(so), ind(d), "{unit}");
        }
    };
    same(&so, &d);
    // The department holds no record: no document, none of the schools' logs.
    assert!(so.store.doc_keys().unwrap().is_empty());
    assert_eq!(so.height(&s1.id()), 0);
    assert_eq!(so.height(&s2.id()), 0);
    assert!(so.search_students("A", None, 10).unwrap().is_empty());
    assert_eq!(so.views().figures().records_kept_below(), Some("district"));
    assert_eq!(d.views().figures().records_kept_below(), None);
    assert!(!d.search_students("A", None, 10).unwrap().is_empty());
    // Fresh data everywhere: no school shows as not reporting at the department.
    let alerts = so.views().figures().alerts(None, None).unwrap();
    assert!(
        !alerts.iter().any(|a| a.rule == "not_reporting"),
        "{alerts:?}"
    );
    // A later change reaches the department as a new signed summary.
    s1.import("students", None, students("A", 35, 5).as_bytes())
        .unwrap();
    session(&s1, &mut d, Role::Parent);
    session(&d, &mut so, Role::Parent);
    same(&so, &d);
    assert_eq!(so.stats(Some("s1")).unwrap().students.dropped_out, 5);
    // Quiet round trips sign nothing more.
    let height = d.height(&d.id());
    for _ in 0..2 {
        session(&so, &mut d, Role::Child);
        session(&d, &mut so, Role::Parent);
        session(&s1, &mut d, Role::Parent);
    }
    assert_eq!(d.height(&d.id()), height);
    // A page with one changed document is one more signed summary, no more.
    for round in 0..3 {
        s2.import("students", None, students("B", 21 + round, 1).as_bytes())
            .unwrap();
        session(&s2, &mut d, Role::Parent);
        assert_eq!(
            d.height(&d.id()),
            height + 1 + round as u64,
            "round {round}"
        );
    }
    session(&d, &mut so, Role::Parent);
    same(&so, &d);
    // A summary of a unit outside the signer's subtree is refused.
    let forged = Entry::sign(
        &w.keys.iter().find(|k| k.0 == "s1").unwrap().3,
        s1.height(&s1.id()) + 1,
        None,
        0,
        Payload::Summaries {
            docs: vec![("s2/students/2026-2027".into(), vec![0])],
            seen: vec![],
        },
    );
    let got = so.ingest(&[forged.into_bytes()]).unwrap();
    assert_eq!(got.rejected.len(), 1);
}

#[test]
fn a_store_lost_under_a_node_that_wrote_before_restores_instead_of_forking() {
    let w = World::new();
    // A new node: no marker, it writes at once (offline too).
    let mut s1 = w.open("s1", 4);
    assert!(!s1.restoring());
    s1.import("students", None, students("A", 3, 0).as_bytes())
        .unwrap();
    let dir = w.tmp.path().join("s1");
    assert!(dir.join(STARTED_MARKER).exists());
    drop(s1);
    // The store is lost; the marker (beside the keys) is not: no write before the log is
    // back, whatever arrives first (a login, an import).
    std::fs::remove_file(store_path(&dir)).unwrap();
    let mut s1 = w.open("s1", 4);
    assert!(s1.restoring());
    assert!(matches!(s1.audit("thu", "login", ""), Err(Error::Busy(_))));
    // The root has no parent to restore from: it starts as it is.
    let so = w.open("so", 4);
    assert!(!so.restoring());
}

/// A staff file of `n` teachers.
fn staff(prefix: &str, n: usize) -> String {
    let mut s = String::from("staff_id,full_name,gender,birth_date,role,qualification,status");
    for i in 0..n {
        s.push_str(&format!(
            "\n{prefix}-{i},Trần Văn {i},M,1980-01-0{},teacher,bachelor,active",
            1 + i % 9
        ));
    }
    s
}

/// The heads a snapshot entry of `author` held by `e` claims.
fn snapshot_heads(e: &Engine, author: &NodeId, seq: u64) -> Vec<[u8; 32]> {
    let (_, entry) = log_of(e, author)
        .into_iter()
        .find(|(s, _)| *s == seq)
        .expect("the entry is held");
    match entry.body.payload {
        Payload::Snapshot { heads, .. } => heads,
        other => panic!("entry {seq} is a {}", other.kind()),
    }
}

#[test]
fn the_save_offered_beside_a_snapshot_entry_is_at_its_heads_through_compaction() {
    let w = World::new();
    let mut s1 = w.open("s1", 16);
    let mut d = w.open("pgd", 16);
    s1.import("students", None, students("a", 200, 3).as_bytes())
        .unwrap();
    sync(&s1, &mut d);
    // Small edits, followed one by one: the district stores each as a chunk, and a
    // snapshot entry received among them is kept as "the base and the chunks so far"
    // (no save on the commit path) until compaction folds the chunks.
    let mut offered_after_compaction = 0;
    for i in 0..(3 * COMPACT_AFTER_CHUNKS) {
        s1.import(
            "students",
            None,
            students(&format!("e{i}"), 2, 0).as_bytes(),
        )
        .unwrap();
        sync(&s1, &mut d);
        let held = d.snapshots(&s1.id());
        assert_eq!(held.len(), 1, "the latest snapshot entry stays offered");
        let seq = held[0].seq;
        let save = d.snapshot_doc(&s1.id(), seq).expect("its save is at hand");
        let mut doc = RecordsDoc::load(&save, &[9; 32]).unwrap();
        let heads: Vec<[u8; 32]> = doc.heads().into_iter().map(|h| h.0).collect();
        assert_eq!(heads, snapshot_heads(&d, &s1.id(), seq), "edit {i}");
        let stored = d.store.doc(&students_doc("s1").key()).unwrap().unwrap();
        assert!(stored.chunks.len() <= COMPACT_AFTER_CHUNKS);
        if i >= COMPACT_AFTER_CHUNKS && stored.chunks.len() < i {
            offered_after_compaction += 1;
        }
        assert_stored_log_agrees(&d);
    }
    assert!(offered_after_compaction > 0);
    // A new department seeded from the district gets the document beside that entry.
    let mut so = w.open("so", 4);
    assert_eq!(session_up(&d, &mut so).docs, 1);
    let doc = students_doc("s1");
    assert_eq!(records(&mut so, &doc), records(&mut s1, &doc));
    // And a restarted district offers the same save.
    let seq = d.snapshots(&s1.id())[0].seq;
    let save = d.snapshot_doc(&s1.id(), seq);
    drop(d);
    let d = w.open("pgd", 16);
    assert_eq!(d.snapshot_doc(&s1.id(), seq), save);
}

#[test]
fn the_export_feed_lists_each_changed_document_once_at_its_latest_change() {
    let w = World::new();
    let mut s1 = w.open("s1", 16);
    let mut d = w.open("pgd", 16);
    s1.import("students", None, students("a", 20, 2).as_bytes())
        .unwrap();
    sync(&s1, &mut d);
    let first = d.lookups().feed(0, 10).unwrap();
    let keys = |p: &export::FeedPage| p.docs.iter().map(|d| d.key.clone()).collect::<Vec<_>>();
    let doc = students_doc("s1");
    assert_eq!(keys(&first), vec![doc.key()]);
    assert!(!first.more);
    // The records are the document's, and the indicators cover the school and the
    // district for that school year.
    let recs: Vec<(String, BTreeMap<String, Value>)> = first.docs[0]
        .records
        .iter()
        .map(|r| (r.id.clone(), r.fields.clone()))
        .collect();
    assert_eq!(recs, records(&mut d, &doc));
    assert!(first.docs[0].held);
    let units: std::collections::BTreeSet<&str> =
        first.indicators.iter().map(|i| i.unit.as_str()).collect();
    assert_eq!(units.into_iter().collect::<Vec<_>>(), vec!["pgd", "s1"]);
    // Nothing new after the cursor.
    assert!(d.lookups().feed(first.next, 10).unwrap().docs.is_empty());
    // A second document, then the first again: each listed once, the latest change last.
    s1.import("staff", None, staff("t", 3).as_bytes()).unwrap();
    sync(&s1, &mut d);
    let second = d.lookups().feed(first.next, 10).unwrap();
    assert_eq!(second.docs.len(), 1);
    assert_eq!(second.docs[0].collection, "staff");
    s1.import("students", None, students("b", 2, 0).as_bytes())
        .unwrap();
    sync(&s1, &mut d);
    let all = d.lookups().feed(0, 10).unwrap();
    assert_eq!(all.docs.len(), 2);
    assert_eq!(all.docs[0].collection, "staff");
    assert_eq!(all.docs[1].key, doc.key());
    assert_eq!(all.docs[1].records.len(), 22);
    // Pages of one document: the cursor goes on where the last page stopped.
    let one = d.lookups().feed(0, 1).unwrap();
    assert!(one.more);
    let rest = d.lookups().feed(one.next, 1).unwrap();
    assert_eq!(
        (one.docs[0].collection.as_str(), rest.docs[0].key.as_str()),
        ("staff", doc.key().as_str())
    );
    assert!(!rest.more);
    // A reopened engine numbers the next change after the last, in the same feed.
    let last = all.next;
    assert_eq!(all.last, last);
    assert_eq!(all.epoch.len(), 24, "{}", all.epoch);
    drop(d);
    let mut d = w.open("pgd", 16);
    let again = d.lookups().feed(0, 10).unwrap();
    assert_eq!((again.next, &again.epoch), (last, &all.epoch));
    // Another store (a restored node begins a new one) has another feed.
    let other = World::new().open("pgd", 16);
    assert_ne!(other.lookups().feed(0, 10).unwrap().epoch, all.epoch);
    s1.import("staff", None, staff("u", 1).as_bytes()).unwrap();
    sync(&s1, &mut d);
    let after = d.lookups().feed(last, 10).unwrap();
    assert_eq!(after.docs.len(), 1);
    assert!(after.docs[0].seq > last);
    // The units and every indicator, whole.
    let units = d.lookups().units_page().unwrap();
    assert_eq!(units.directory, after.directory);
    let ids: Vec<&str> = units.units.iter().map(|u| u.unit.as_str()).collect();
    assert!(ids.contains(&"pgd") && ids.contains(&"s1"));
}

#[test]
fn a_summary_of_older_data_arriving_late_does_not_replace_a_newer_one() {
    // Above the records level a school's figures are what its office signs. A school
    // moved to another district is signed for by the new one; the old district's last
    // summary of it, reaching the department after (it was offline), is of older data and
    // must not replace the new district's.
    use eduioc_protocol::sync::Role;
    let w = World::with_schools(1).and_district("pgd2");
    let mut so = w.open("so", 4);
    let mut d1 = w.open("pgd", 4);
    let mut d2 = w.open("pgd2", 4);
    let mut s1 = w.open("s1", 4);
    for e in [&mut so, &mut d1, &mut d2, &mut s1] {
        e.set_records_up_to(Some("district".into())).unwrap();
    }
    let enrolled = |e: &Engine| e.stats(Some("s1")).unwrap().students.enrolled;
    s1.import("students", None, students("A", 30, 0).as_bytes())
        .unwrap();
    // The old district signs its summary of 30 students, and keeps it (offline).
    session(&s1, &mut d1, Role::Parent);
    assert_eq!(enrolled(&d1), 30);
    // A moment later the school moves (the move takes effect after that summary).
    std::thread::sleep(std::time::Duration::from_millis(5));
    so.reparent("s1", "pgd2", None).unwrap();
    session(&so, &mut d1, Role::Child);
    session(&d1, &mut s1, Role::Child);
    session(&so, &mut d2, Role::Child);
    s1.import("students", None, students("B", 12, 0).as_bytes())
        .unwrap();
    assert_eq!(enrolled(&s1), 42);
    session(&s1, &mut d2, Role::Parent);
    session(&d2, &mut so, Role::Parent);
    assert_eq!(enrolled(&so), 42);
    let last_seen = |e: &Engine| e.views().figures().last_seen_ms("s1");
    let fresh = last_seen(&so);
    assert!(fresh.is_some());
    // The old district comes back: its log, with the older summary, reaches the
    // department, which keeps the newer figures, and the school's freshness.
    session(&d1, &mut so, Role::Parent);
    assert_eq!(enrolled(&so), 42);
    assert_eq!(last_seen(&so), fresh);
    // And a restart reads the same.
    drop(so);
    let so = w.open("so", 4);
    assert_eq!(enrolled(&so), 42);
    assert_eq!(last_seen(&so), fresh);
}
