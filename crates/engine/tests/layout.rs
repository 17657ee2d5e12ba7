//! A store written by the engine's first layout (string prefixes in the meta table,
//! unversioned values; `fixtures/layout1`, written by `examples/layout_fixture.rs` at
//! commit f164374) opens with the current engine: every figure, notification, read
//! receipt, rejection count, freshness stamp and look-up index is where it was, and the
//! logs go on.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "fixtures/world.rs"]
mod world;

fn copy_fixture() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layout1");
    for unit in ["s1", "pgd"] {
        std::fs::create_dir_all(tmp.path().join(unit)).unwrap();
        std::fs::copy(
            from.join(unit).join("store.redb"),
            tmp.path().join(unit).join("store.redb"),
        )
        .unwrap();
    }
    tmp
}

#[test]
fn a_first_layout_store_opens_with_everything_in_place() {
    let tmp = copy_fixture();
    for round in 0..2 {
        // The second round opens the upgraded stores again: the upgrade ran once.
        let mut s1 = world::open(tmp.path(), "s1");
        let mut pgd = world::open(tmp.path(), "pgd");
        let here = s1.stats(None).unwrap();
        assert_eq!(
            (
                here.students.enrolled,
                here.students.dropped_out,
                here.classes
            ),
            (2 + round, 1, 2),
            "round {round}"
        );
        assert_eq!(here.staff.teachers, 2);
        let there = pgd.stats(Some("s1")).unwrap();
        assert_eq!(there.students, here.students);
        assert_eq!(pgd.stats(None).unwrap().students, here.students);
        assert!(pgd.last_seen_ms("s1").is_some(), "freshness kept");
        // The notification, and the school's read receipt, at both ends.
        for e in [&s1, &pgd] {
            let n = e.notifications().unwrap();
            assert_eq!(n.len(), 1, "{n:?}");
            assert_eq!(n[0].0.title, "Báo cáo học kỳ I");
            assert_eq!(n[0].1, vec!["s1".to_string()]);
        }
        assert_eq!(
            pgd.rejected().values().sum::<u64>(),
            1,
            "{:?}",
            pgd.rejected()
        );
        // The look-up indexes.
        let hits = pgd.search_students("cuong", None, 10).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].student_id, "HS01");
        assert_eq!(
            pgd.search_staff("tran thi binh", None, 10).unwrap().len(),
            1
        );
        // Every document entered the export feed when the store was brought up to date.
        let feed = pgd.lookups().feed(0, 100).unwrap();
        let mut keys: Vec<&str> = feed.docs.iter().map(|d| d.key.as_str()).collect();
        keys.sort();
        assert!(
            keys.iter().any(|k| k.starts_with("s1/students/")),
            "{keys:?}"
        );
        assert!(keys.iter().any(|k| k.starts_with("s1/staff/")), "{keys:?}");
        if round == 0 {
            // The school's log goes on, and its district takes the next entries.
            let more = format!(
                "{}HS04,Vũ Thị Giang,F,2014-06-06,6,6A,Kinh,enrolled\n",
                world::STUDENTS
            );
            s1.import("students", Some("text/csv"), more.as_bytes())
                .unwrap();
            assert_eq!(world::sync(&s1, &mut pgd), 0);
        }
    }
}
