#![allow(clippy::unwrap_used)]

use super::*;
use eduioc_protocol::CertBody;

struct World {
    root: NodeKey,
    keys: Vec<(String, Option<String>, String, NodeKey)>,
    tmp: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let root = NodeKey::from_secret([1; 32]);
        let mut keys = vec![(
            "so".to_string(),
            None,
            "department".to_string(),
            root.clone(),
        )];
        for (n, (u, p, l)) in (2u8..).zip([
            ("pgd", "so", "district"),
            ("s1", "pgd", "school"),
            ("s2", "pgd", "school"),
        ]) {
            keys.push((
                u.into(),
                Some(p.into()),
                l.into(),
                NodeKey::from_secret([n; 32]),
            ));
        }
        World {
            root,
            keys,
            tmp: tempfile::tempdir().unwrap(),
        }
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

    fn open(&self, unit: &str, doc_cache: usize) -> Engine {
        let key = self.keys.iter().find(|k| k.0 == unit).unwrap().3.clone();
        let dir = self.tmp.path().join(unit);
        std::fs::create_dir_all(&dir).unwrap();
        Engine::open(Config {
            unit: unit.into(),
            key,
            root_key: self.root.id(),
            certs: self.certs(),
            data_dir: dir,
            doc_cache,
            school_year: Some("2026-2027".into()),
        })
        .unwrap()
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
    assert!(d.store.meta(&format!("look/{key}")).unwrap().is_some());
    let mut txn = d.store.begin_write().unwrap();
    txn.delete_meta(&format!("look/{key}")).unwrap();
    txn.commit().unwrap();
    assert!(d.store.meta(&format!("look/{key}")).unwrap().is_none());
    let hits = d.search_staff("TRAN THI", None, 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].staff_id, "GV02");
}
