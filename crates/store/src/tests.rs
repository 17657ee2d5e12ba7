use std::time::Instant;

use tempfile::TempDir;

use super::*;

fn temp_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.redb")).unwrap();
    (dir, store)
}

fn author(n: u8) -> Author {
    [n; 32]
}

fn head(seq: u64, n: u8) -> Head {
    Head { seq, hash: [n; 32] }
}

#[test]
fn empty_store_reads_nothing() {
    let (_dir, store) = temp_store();
    assert_eq!(store.head(&author(1)).unwrap(), None);
    assert!(store.heads().unwrap().is_empty());
    assert_eq!(store.entry(&author(1), 1).unwrap(), None);
    assert!(store
        .entries_from(&author(1), 0, 10, 1000)
        .unwrap()
        .is_empty());
    assert_eq!(store.entry_count().unwrap(), 0);
    assert_eq!(store.doc("d").unwrap(), None);
    assert!(store.doc_keys().unwrap().is_empty());
    assert!(store.scan(&NOTES, "").unwrap().is_empty());
    assert!(store.certs().unwrap().is_empty());
    assert!(store.quarantined().unwrap().is_empty());
    assert_eq!(store.meta("k").unwrap(), None);
    // Only the layout is recorded.
    assert_eq!(
        store.meta_prefix("").unwrap(),
        vec![(tables::LAYOUT_KEY.to_string(), vec![tables::LAYOUT])]
    );
}

#[test]
fn entries_and_heads_round_trip() {
    let (_dir, store) = temp_store();
    let mut txn = store.begin_write().unwrap();
    txn.put_entry(&author(1), 1, b"one").unwrap();
    txn.put_entry(&author(1), 2, b"two").unwrap();
    txn.set_head(&author(1), head(2, 9)).unwrap();
    // The transaction sees its own writes before commit.
    assert_eq!(txn.entry(&author(1), 2).unwrap(), Some(b"two".to_vec()));
    assert_eq!(txn.entry(&author(1), 3).unwrap(), None);
    assert_eq!(txn.head(&author(1)).unwrap(), Some(head(2, 9)));
    assert_eq!(txn.head(&author(2)).unwrap(), None);
    // Readers do not see uncommitted writes.
    assert_eq!(store.entry(&author(1), 1).unwrap(), None);
    txn.commit().unwrap();

    assert_eq!(store.entry(&author(1), 1).unwrap(), Some(b"one".to_vec()));
    assert_eq!(store.entry(&author(1), 2).unwrap(), Some(b"two".to_vec()));
    assert_eq!(store.entry(&author(2), 1).unwrap(), None);
    assert_eq!(store.head(&author(1)).unwrap(), Some(head(2, 9)));
    assert_eq!(store.entry_count().unwrap(), 2);

    // set_head replaces.
    let mut txn = store.begin_write().unwrap();
    txn.set_head(&author(1), head(5, 7)).unwrap();
    txn.commit().unwrap();
    assert_eq!(store.head(&author(1)).unwrap(), Some(head(5, 7)));
}

#[test]
fn heads_lists_all() {
    let (_dir, store) = temp_store();
    let mut txn = store.begin_write().unwrap();
    for n in [3u8, 1, 2] {
        txn.set_head(&author(n), head(u64::from(n) * 10, n))
            .unwrap();
    }
    txn.commit().unwrap();
    let heads = store.heads().unwrap();
    assert_eq!(
        heads,
        vec![
            (author(1), head(10, 1)),
            (author(2), head(20, 2)),
            (author(3), head(30, 3)),
        ]
    );
}

#[test]
fn entries_from_respects_bounds() {
    let (_dir, store) = temp_store();
    let mut txn = store.begin_write().unwrap();
    // Neighbouring authors, including seqs at the extremes, must not leak in.
    txn.put_entry(&author(1), u64::MAX, b"other-low").unwrap();
    txn.put_entry(&author(3), 0, b"other-high").unwrap();
    for seq in 1..=10u64 {
        txn.put_entry(&author(2), seq, &[seq as u8; 10]).unwrap();
    }
    txn.commit().unwrap();
    let a = author(2);

    let all = store.entries_from(&a, 0, 100, usize::MAX).unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(
        all.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(all[4].1, vec![5u8; 10]);

    // from
    let page = store.entries_from(&a, 7, 100, usize::MAX).unwrap();
    assert_eq!(
        page.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![7, 8, 9, 10]
    );
    assert!(store
        .entries_from(&a, 11, 100, usize::MAX)
        .unwrap()
        .is_empty());

    // max_count
    let page = store.entries_from(&a, 3, 2, usize::MAX).unwrap();
    assert_eq!(page.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![3, 4]);
    assert!(store.entries_from(&a, 3, 0, usize::MAX).unwrap().is_empty());

    // max_bytes: 35 bytes hold three 10-byte entries, 30 exactly three.
    assert_eq!(store.entries_from(&a, 1, 100, 35).unwrap().len(), 3);
    assert_eq!(store.entries_from(&a, 1, 100, 30).unwrap().len(), 3);
    assert_eq!(store.entries_from(&a, 1, 100, 29).unwrap().len(), 2);

    // At least one entry even when it alone exceeds max_bytes.
    let page = store.entries_from(&a, 4, 100, 1).unwrap();
    assert_eq!(page, vec![(4, vec![4u8; 10])]);
    let page = store.entries_from(&a, 4, 100, 0).unwrap();
    assert_eq!(page.len(), 1);

    // Gaps are skipped.
    let mut txn = store.begin_write().unwrap();
    txn.put_entry(&a, 20, b"far").unwrap();
    txn.commit().unwrap();
    let page = store.entries_from(&a, 11, 100, usize::MAX).unwrap();
    assert_eq!(page, vec![(20, b"far".to_vec())]);

    // Extremes of neighbouring authors are still where they belong.
    assert_eq!(
        store.entries_from(&author(1), 0, 100, usize::MAX).unwrap(),
        vec![(u64::MAX, b"other-low".to_vec())]
    );
    assert_eq!(
        store.entries_from(&author(3), 0, 100, usize::MAX).unwrap(),
        vec![(0, b"other-high".to_vec())]
    );
    assert_eq!(store.entry_count().unwrap(), 13);
}

#[test]
fn docs_snapshot_and_chunks() {
    let (_dir, store) = temp_store();
    let mut txn = store.begin_write().unwrap();
    txn.put_doc_snapshot("a", b"snap-a").unwrap();
    assert_eq!(txn.append_doc_chunk("a", b"c0").unwrap(), 1);
    assert_eq!(txn.append_doc_chunk("a", b"c1").unwrap(), 2);
    // A key that extends "a" and one that sorts before it stay separate.
    assert_eq!(txn.append_doc_chunk("ab", b"x0").unwrap(), 1);
    assert_eq!(txn.append_doc_chunk("A", b"y0").unwrap(), 1);
    assert_eq!(
        txn.doc("a").unwrap(),
        Some(DocRecord {
            snapshot: b"snap-a".to_vec(),
            chunks: vec![b"c0".to_vec(), b"c1".to_vec()],
        })
    );
    txn.commit().unwrap();

    assert_eq!(
        store.doc("a").unwrap(),
        Some(DocRecord {
            snapshot: b"snap-a".to_vec(),
            chunks: vec![b"c0".to_vec(), b"c1".to_vec()],
        })
    );
    // A doc written only as chunks has an empty snapshot.
    assert_eq!(
        store.doc("ab").unwrap(),
        Some(DocRecord {
            snapshot: Vec::new(),
            chunks: vec![b"x0".to_vec()],
        })
    );
    assert_eq!(store.doc("b").unwrap(), None);
    assert_eq!(store.doc_keys().unwrap(), vec!["A", "a", "ab"]);

    // A new snapshot clears the doc's chunks, and only that doc's.
    let mut txn = store.begin_write().unwrap();
    txn.put_doc_snapshot("a", b"snap-a2").unwrap();
    assert_eq!(
        txn.doc("a").unwrap(),
        Some(DocRecord {
            snapshot: b"snap-a2".to_vec(),
            chunks: vec![],
        })
    );
    assert_eq!(txn.append_doc_chunk("a", b"d0").unwrap(), 1);
    txn.commit().unwrap();
    assert_eq!(
        store.doc("a").unwrap(),
        Some(DocRecord {
            snapshot: b"snap-a2".to_vec(),
            chunks: vec![b"d0".to_vec()],
        })
    );
    assert_eq!(
        store.doc("ab").unwrap().unwrap().chunks,
        vec![b"x0".to_vec()]
    );
    assert_eq!(
        store.doc("A").unwrap().unwrap().chunks,
        vec![b"y0".to_vec()]
    );
}

/// A typed table for the tests: a note per key.
const NOTES: Table<(String, u32)> = Table::new("notes", 3);

#[test]
fn typed_tables_round_trip_scan_and_delete() {
    let (_dir, store) = temp_store();
    // Never written: reads as empty.
    assert_eq!(store.get(&NOTES, "a").unwrap(), None);
    let mut txn = store.begin_write().unwrap();
    txn.put(&NOTES, "doc/2", &("two".into(), 2)).unwrap();
    txn.put(&NOTES, "doc/1", &("one".into(), 1)).unwrap();
    txn.put(&NOTES, "other", &("x".into(), 9)).unwrap();
    // The transaction sees its own writes.
    assert_eq!(txn.scan(&NOTES, "doc/").unwrap().len(), 2);
    txn.commit().unwrap();
    assert_eq!(
        store.scan(&NOTES, "doc/").unwrap(),
        vec![
            ("doc/1".to_owned(), ("one".to_owned(), 1)),
            ("doc/2".to_owned(), ("two".to_owned(), 2)),
        ]
    );
    assert_eq!(store.get(&NOTES, "other").unwrap(), Some(("x".into(), 9)));
    // Borrowed reading gets the postcard bytes, version checked.
    let name = store
        .get_with(&NOTES, "doc/1", |b| {
            let (n, _): (&str, u32) = postcard::from_bytes(b).unwrap();
            Ok(n.len())
        })
        .unwrap();
    assert_eq!(name, Some(3));
    let mut txn = store.begin_write().unwrap();
    txn.delete(&NOTES, "doc/1").unwrap();
    txn.delete(&NOTES, "absent").unwrap();
    txn.commit().unwrap();
    assert_eq!(store.scan(&NOTES, "").unwrap().len(), 2);
}

#[test]
fn a_bad_typed_value_is_an_error_naming_table_and_key() {
    let (_dir, store) = temp_store();
    let mut txn = store.begin_write().unwrap();
    // Another version, a truncated value, an empty one.
    txn.put_stored(&NOTES, "newer", &[4, 1, b'a', 1]).unwrap();
    txn.put_stored(&NOTES, "short", &[3, 5, b'a']).unwrap();
    txn.put_stored(&NOTES, "empty", &[]).unwrap();
    txn.commit().unwrap();
    for (key, says) in [
        ("newer", "version 4, written by a newer EduIOC"),
        ("short", "cannot be decoded"),
        ("empty", "empty"),
    ] {
        let e = store.get(&NOTES, key).unwrap_err().to_string();
        assert!(
            e.contains("table notes") && e.contains(&format!("{key:?}")),
            "{e}"
        );
        assert!(e.contains(says), "{e}");
    }
    // A scan stops at the first bad value, naming it.
    let e = store.scan(&NOTES, "").unwrap_err().to_string();
    assert!(e.contains("\"empty\""), "{e}");
}

#[test]
fn a_store_of_the_first_layout_is_upgraded_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    {
        // What a store written before layouts were recorded holds: unversioned heads
        // and quarantine records, no layout key.
        let store = Store::open(&path).unwrap();
        let txn = store.begin_write().unwrap();
        {
            let mut heads = txn.txn.open_table(tables::HEADS.def).unwrap();
            heads
                .insert(
                    &author(1),
                    postcard::to_stdvec(&head(7, 1)).unwrap().as_slice(),
                )
                .unwrap();
            let mut q = txn.txn.open_table(tables::QUARANTINE.def).unwrap();
            let old = tables::QuarantineValueRef {
                reason: "fork",
                bytes: b"entry",
            };
            q.insert(
                &tables::quarantine_key(&author(2), 3, 0),
                postcard::to_stdvec(&old).unwrap().as_slice(),
            )
            .unwrap();
            let mut meta = txn.txn.open_table(tables::META.def).unwrap();
            meta.remove(tables::LAYOUT_KEY).unwrap();
        }
        txn.commit().unwrap();
    }
    for _ in 0..2 {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.head(&author(1)).unwrap(), Some(head(7, 1)));
        let q = store.quarantined().unwrap();
        assert_eq!(
            (q.len(), q[0].reason.as_str(), &q[0].bytes[..]),
            (1, "fork", &b"entry"[..])
        );
        assert_eq!(
            store.meta(tables::LAYOUT_KEY).unwrap(),
            Some(vec![tables::LAYOUT])
        );
    }
    // A store of a newer layout is refused, not misread.
    {
        let store = Store::open(&path).unwrap();
        let mut txn = store.begin_write().unwrap();
        txn.put_meta(tables::LAYOUT_KEY, &[tables::LAYOUT + 1])
            .unwrap();
        txn.commit().unwrap();
    }
    let e = Store::open(&path).unwrap_err().to_string();
    assert!(e.contains("newer EduIOC"), "{e}");
}

#[test]
fn certs_round_trip() {
    let (_dir, store) = temp_store();
    let mut txn = store.begin_write().unwrap();
    txn.put_cert("unit-b/1", b"cert-b1").unwrap();
    txn.put_cert("unit-a/1", b"cert-a1").unwrap();
    txn.commit().unwrap();
    assert_eq!(
        store.certs().unwrap(),
        vec![b"cert-a1".to_vec(), b"cert-b1".to_vec()]
    );
    let mut txn = store.begin_write().unwrap();
    txn.put_cert("unit-a/1", b"cert-a1-again").unwrap();
    txn.commit().unwrap();
    assert_eq!(store.certs().unwrap()[0], b"cert-a1-again".to_vec());
    assert_eq!(store.certs().unwrap().len(), 2);
}

#[test]
fn meta_round_trip_prefix_and_delete() {
    let (_dir, store) = temp_store();
    let mut txn = store.begin_write().unwrap();
    txn.put_meta("peer/b", b"2").unwrap();
    txn.put_meta("peer/a", b"1").unwrap();
    txn.put_meta("peers", b"x").unwrap();
    txn.put_meta("pee", b"y").unwrap();
    txn.put_meta("self", b"me").unwrap();
    txn.commit().unwrap();

    assert_eq!(store.meta("self").unwrap(), Some(b"me".to_vec()));
    assert_eq!(store.meta("nobody").unwrap(), None);
    assert_eq!(
        store.meta_prefix("peer/").unwrap(),
        vec![
            ("peer/a".to_owned(), b"1".to_vec()),
            ("peer/b".to_owned(), b"2".to_vec()),
        ]
    );
    assert_eq!(store.meta_prefix("peer").unwrap().len(), 3);
    assert_eq!(
        store.meta_prefix("").unwrap().len(),
        5 + 1,
        "and the layout"
    );
    assert!(store.meta_prefix("zzz").unwrap().is_empty());

    let mut txn = store.begin_write().unwrap();
    txn.delete_meta("peer/a").unwrap();
    txn.delete_meta("absent").unwrap();
    txn.put_meta("self", b"me2").unwrap();
    txn.commit().unwrap();
    assert_eq!(store.meta("peer/a").unwrap(), None);
    assert_eq!(store.meta("self").unwrap(), Some(b"me2".to_vec()));
    assert_eq!(store.meta_prefix("peer/").unwrap().len(), 1);
}

#[test]
fn quarantine_keeps_every_record() {
    let (_dir, store) = temp_store();
    let first = Quarantined {
        author: author(4),
        seq: 7,
        reason: "fork: second entry for seq 7".to_owned(),
        bytes: b"entry-b".to_vec(),
    };
    let second = Quarantined {
        bytes: b"entry-c".to_vec(),
        ..first.clone()
    };
    let other = Quarantined {
        author: author(4),
        seq: 6,
        reason: "bad signature".to_owned(),
        bytes: vec![],
    };
    let mut txn = store.begin_write().unwrap();
    txn.quarantine(&first).unwrap();
    txn.quarantine(&second).unwrap();
    txn.commit().unwrap();
    let mut txn = store.begin_write().unwrap();
    txn.quarantine(&other).unwrap();
    // Identical records are kept too: arrival is what is recorded.
    txn.quarantine(&first).unwrap();
    txn.commit().unwrap();
    assert_eq!(
        store.quarantined().unwrap(),
        vec![other, first.clone(), second, first]
    );
}

#[test]
fn dropped_write_leaves_nothing() {
    let (_dir, store) = temp_store();
    {
        let mut txn = store.begin_write().unwrap();
        txn.put_entry(&author(1), 1, b"e").unwrap();
        txn.set_head(&author(1), head(1, 1)).unwrap();
        txn.put_doc_snapshot("d", b"s").unwrap();
        txn.append_doc_chunk("d", b"c").unwrap();
        txn.put(&NOTES, "d", &("sum".into(), 1)).unwrap();
        txn.put_cert("c/1", b"cert").unwrap();
        txn.quarantine(&Quarantined {
            author: author(1),
            seq: 1,
            reason: "r".to_owned(),
            bytes: b"b".to_vec(),
        })
        .unwrap();
        txn.put_meta("m", b"v").unwrap();
        // dropped here without commit
    }
    assert_eq!(store.entry_count().unwrap(), 0);
    assert!(store.heads().unwrap().is_empty());
    assert!(store.doc_keys().unwrap().is_empty());
    assert_eq!(store.doc("d").unwrap(), None);
    assert!(store.scan(&NOTES, "").unwrap().is_empty());
    assert!(store.certs().unwrap().is_empty());
    assert!(store.quarantined().unwrap().is_empty());
    assert_eq!(store.meta("m").unwrap(), None);
    // The store is still writable afterwards.
    let mut txn = store.begin_write().unwrap();
    txn.put_meta("m", b"v").unwrap();
    txn.commit().unwrap();
    assert_eq!(store.meta("m").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn committed_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let q = Quarantined {
        author: author(5),
        seq: 3,
        reason: "fork".to_owned(),
        bytes: b"q".to_vec(),
    };
    {
        let store = Store::open(&path).unwrap();
        let mut txn = store.begin_write().unwrap();
        txn.put_entry(&author(5), 1, b"e1").unwrap();
        txn.set_head(&author(5), head(1, 5)).unwrap();
        txn.put_doc_snapshot("d", b"s").unwrap();
        txn.append_doc_chunk("d", b"c").unwrap();
        txn.put(&NOTES, "d", &("sum".into(), 1)).unwrap();
        txn.put_cert("c/1", b"cert").unwrap();
        txn.quarantine(&q).unwrap();
        txn.put_meta("m", b"v").unwrap();
        txn.commit().unwrap();
        // An uncommitted transaction at drop time must not leak into the file.
        let mut txn = store.begin_write().unwrap();
        txn.put_entry(&author(5), 2, b"e2").unwrap();
        drop(txn);
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.entry(&author(5), 1).unwrap(), Some(b"e1".to_vec()));
    assert_eq!(store.entry(&author(5), 2).unwrap(), None);
    assert_eq!(store.head(&author(5)).unwrap(), Some(head(1, 5)));
    assert_eq!(
        store.doc("d").unwrap(),
        Some(DocRecord {
            snapshot: b"s".to_vec(),
            chunks: vec![b"c".to_vec()],
        })
    );
    assert_eq!(
        store.scan(&NOTES, "").unwrap(),
        vec![("d".to_owned(), ("sum".to_owned(), 1))]
    );
    assert_eq!(store.certs().unwrap(), vec![b"cert".to_vec()]);
    assert_eq!(store.quarantined().unwrap(), vec![q]);
    assert_eq!(store.meta("m").unwrap(), Some(b"v".to_vec()));
    // Chunk numbering continues after reopen.
    let mut txn = store.begin_write().unwrap();
    assert_eq!(txn.append_doc_chunk("d", b"c2").unwrap(), 2);
    txn.commit().unwrap();
}

#[test]
fn buffered_and_flushed_entries_are_both_visible() {
    let (_dir, store) = temp_store();
    let mut txn = store.begin_write().unwrap();
    txn.put_entry(&author(1), 1, b"flushed").unwrap();
    txn.put_entry(&author(1), 2, b"old").unwrap();
    txn.flush_entries().unwrap();
    txn.put_entry(&author(1), 2, b"new").unwrap();
    txn.put_entry(&author(1), 3, b"buffered").unwrap();
    assert_eq!(txn.entry(&author(1), 1).unwrap(), Some(b"flushed".to_vec()));
    assert_eq!(txn.entry(&author(1), 2).unwrap(), Some(b"new".to_vec()));
    assert_eq!(
        txn.entry(&author(1), 3).unwrap(),
        Some(b"buffered".to_vec())
    );
    txn.commit().unwrap();
    assert_eq!(
        store.entries_from(&author(1), 0, 10, usize::MAX).unwrap(),
        vec![
            (1, b"flushed".to_vec()),
            (2, b"new".to_vec()),
            (3, b"buffered".to_vec()),
        ]
    );
}

#[test]
fn errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // A directory is not a database file.
    let err = Store::open(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("opening store database"), "{msg}");
}

fn insert_many(rows: u64) -> f64 {
    let (_dir, store) = temp_store();
    let value = [0x5au8; 300];
    let start = Instant::now();
    let mut txn = store.begin_write().unwrap();
    for i in 0..rows {
        // 100 authors, interleaved, as a parent receiving many children would.
        let a = author((i % 100) as u8);
        txn.put_entry(&a, i / 100 + 1, &value).unwrap();
    }
    txn.commit().unwrap();
    let rate = rows as f64 / start.elapsed().as_secs_f64();
    assert_eq!(store.entry_count().unwrap(), rows);
    rate
}

/// Correctness of a bulk insert in one transaction; the rate is printed only.
#[test]
fn bulk_insert_in_one_transaction() {
    let rate = insert_many(20_000);
    eprintln!("put_entry: {rate:.0} rows/s (20,000 x 300 B, one commit)");
}

/// The measurement reported for the brief; run with
/// `cargo test -p eduioc-store --release -- --ignored --nocapture`.
#[test]
#[ignore]
fn bulk_insert_rate() {
    for _ in 0..3 {
        let rate = insert_many(200_000);
        eprintln!("put_entry: {rate:.0} rows/s (200,000 x 300 B, one commit)");
    }
}

#[test]
fn reopen_keeps_what_was_committed_and_accepts_writes_again() {
    let (_dir, mut store) = temp_store();
    let mut txn = store.begin_write().unwrap();
    txn.put_entry(&author(1), 1, b"one").unwrap();
    txn.set_head(&author(1), head(1, 1)).unwrap();
    txn.commit().unwrap();
    // Uncommitted writes are gone after a reopen.
    let mut txn = store.begin_write().unwrap();
    txn.put_entry(&author(1), 2, b"two").unwrap();
    drop(txn);
    store.reopen().unwrap();
    assert_eq!(
        store.entry(&author(1), 1).unwrap().as_deref(),
        Some(&b"one"[..])
    );
    assert_eq!(store.entry(&author(1), 2).unwrap(), None);
    assert_eq!(store.head(&author(1)).unwrap(), Some(head(1, 1)));
    let mut txn = store.begin_write().unwrap();
    txn.put_entry(&author(1), 2, b"two").unwrap();
    txn.commit().unwrap();
    assert_eq!(store.entry_count().unwrap(), 2);
}

#[test]
fn a_reader_reads_from_another_thread_and_follows_a_reopen() {
    let (_dir, mut store) = temp_store();
    let reader = store.reader();
    let mut txn = store.begin_write().unwrap();
    txn.set_head(&author(1), head(1, 1)).unwrap();
    txn.commit().unwrap();
    let r = reader.clone();
    let got = std::thread::spawn(move || r.head(&author(1)).unwrap())
        .join()
        .unwrap();
    assert_eq!(got, Some(head(1, 1)));
    // A write in progress is not seen; a commit is.
    let mut txn = store.begin_write().unwrap();
    txn.set_head(&author(1), head(2, 1)).unwrap();
    assert_eq!(reader.head(&author(1)).unwrap(), Some(head(1, 1)));
    txn.commit().unwrap();
    assert_eq!(reader.head(&author(1)).unwrap(), Some(head(2, 1)));
    // After a reopen the reader reads the new handle.
    store.reopen().unwrap();
    assert_eq!(reader.head(&author(1)).unwrap(), Some(head(2, 1)));
}

#[test]
fn a_store_that_cannot_reopen_refuses_operations_as_a_fault() {
    let (dir, mut store) = temp_store();
    // Another handle holds the file: reopening fails and leaves the store closed.
    let path = dir.path().join("store.redb");
    store.reader.set(None);
    let other = redb::Database::create(&path).unwrap();
    assert!(store.reopen().is_err());
    let err = store.begin_write().unwrap_err();
    assert!(matches!(err, Error::Closed), "{err:?}");
    assert_eq!(err.fault(), Some(Fault::Io));
    assert!(store.heads().unwrap_err().fault().is_some());
    drop(other);
    store.reopen().unwrap();
    assert!(store.heads().unwrap().is_empty());
}

#[test]
fn disk_full_errors_are_told_apart_from_other_io_errors() {
    let full = Error::Storage {
        table: "t",
        op: "insert",
        source: redb::StorageError::Io(std::io::Error::from_raw_os_error(28)),
    };
    assert_eq!(full.fault(), Some(Fault::DiskFull));
    let quota = Error::Commit {
        source: redb::CommitError::Storage(redb::StorageError::Io(
            std::io::Error::from_raw_os_error(122),
        )),
    };
    assert_eq!(quota.fault(), Some(Fault::DiskFull));
    let eio = Error::Storage {
        table: "t",
        op: "get",
        source: redb::StorageError::Io(std::io::Error::from_raw_os_error(5)),
    };
    assert_eq!(eio.fault(), Some(Fault::Io));
    let previous = Error::Begin {
        kind: "write",
        source: redb::TransactionError::Storage(redb::StorageError::PreviousIo),
    };
    assert_eq!(previous.fault(), Some(Fault::Io));
    assert_eq!(Error::TooManyChunks { key: "k".into() }.fault(), None);
}

#[test]
fn scan_back_pages_newest_first_within_a_prefix() {
    let (_dir, store) = temp_store();
    assert!(store
        .scan_back(&NOTES, "", None, 5, |_, _| true)
        .unwrap()
        .is_empty());
    let mut txn = store.begin_write().unwrap();
    for i in 0..10u32 {
        txn.put(&NOTES, &format!("a/{i:02}"), &(format!("a{i}"), i))
            .unwrap();
        txn.put(&NOTES, &format!("b/{i:02}"), &(format!("b{i}"), i))
            .unwrap();
    }
    txn.put(&NOTES, "a", &("bare".into(), 99)).unwrap();
    txn.commit().unwrap();
    let keys = |rows: Vec<(String, (String, u32))>| -> Vec<String> {
        rows.into_iter().map(|(k, _)| k).collect()
    };
    // Newest (highest key) first, within the prefix only.
    let page = store.scan_back(&NOTES, "a/", None, 3, |_, _| true).unwrap();
    assert_eq!(keys(page), ["a/09", "a/08", "a/07"]);
    // The next page starts before the last key of this one.
    let page = store
        .scan_back(&NOTES, "a/", Some("a/07"), 3, |_, _| true)
        .unwrap();
    assert_eq!(keys(page), ["a/06", "a/05", "a/04"]);
    // A filter skips rows without counting them against the limit.
    let odd = store
        .scan_back(&NOTES, "b/", None, 2, |_, v| v.1 % 2 == 1)
        .unwrap();
    assert_eq!(keys(odd), ["b/09", "b/07"]);
    // The whole table, and a cursor below the prefix.
    assert_eq!(
        store
            .scan_back(&NOTES, "", None, 100, |_, _| true)
            .unwrap()
            .len(),
        21
    );
    assert!(store
        .scan_back(&NOTES, "b/", Some("a/05"), 5, |_, _| true)
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .scan_back(&NOTES, "a/", None, 0, |_, _| true)
            .unwrap()
            .len(),
        0
    );
    // A bounded read stops after so many rows and says where to go on.
    let view = store.view().unwrap();
    let (rows, resume) = view
        .scan_back_bounded(&NOTES, "b/", None, 5, 3, |_, v| v.1 > 100)
        .unwrap();
    assert!(rows.is_empty());
    assert_eq!(resume.as_deref(), Some("b/07"));
    let (rows, resume) = view
        .scan_back_bounded(&NOTES, "b/", None, 2, 3, |_, _| true)
        .unwrap();
    assert_eq!((rows.len(), resume), (2, None));
}
