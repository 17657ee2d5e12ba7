//! Writes a small federation's stores (a school `s1` and its district `pgd`) to the
//! directory given as the first argument: rosters imported at the school and taken up by
//! the district, a notification sent down, read and acknowledged back up, one tampered
//! entry refused at the district.
//!
//! `crates/engine/tests/fixtures/layout1/` was written by this program at commit
//! f164374 (the engine's first store layout: string prefixes in the meta table,
//! unversioned values), with `cargo run -p eduioc-engine --example layout_fixture --
//! DIR`; `tests/layout.rs` opens it with the current engine. Keys and certificates are
//! fixed (`tests/fixtures/world.rs`), so the fixture's units can be reopened.
#![allow(clippy::unwrap_used)]

use eduioc_protocol::LogSource;

#[path = "../tests/fixtures/world.rs"]
mod world;

fn main() {
    let out = std::path::PathBuf::from(std::env::args().nth(1).expect("an output directory"));
    let mut s1 = world::open(&out, "s1");
    let mut pgd = world::open(&out, "pgd");
    s1.import(
        "classes",
        Some("text/csv"),
        "class_id,name,grade,homeroom_staff_id\n6A,Lớp 6A,6,GV01\n7A,Lớp 7A,7,GV02\n".as_bytes(),
    )
    .unwrap();
    s1.import(
        "staff",
        Some("text/csv"),
        "staff_id,full_name,gender,birth_date,role,qualification,status\n\
         GV01,Nguyễn Văn An,M,1980-01-01,teacher,bachelor,active\n\
         GV02,Trần Thị Bình,F,1985-02-02,teacher,master,active\n"
            .as_bytes(),
    )
    .unwrap();
    s1.import("students", Some("text/csv"), world::STUDENTS.as_bytes())
        .unwrap();
    world::sync(&s1, &mut pgd);
    let notice = pgd
        .notify("s1", "Báo cáo học kỳ I", "Hạn nộp 15/1.")
        .unwrap();
    world::sync(&pgd, &mut s1);
    s1.mark_read(&notice.id).unwrap();
    world::sync(&s1, &mut pgd);
    // A tampered copy of the school's first entry: refused and counted.
    let mut bad = s1.entries(&s1.id(), 1, 1, usize::MAX).remove(0).1;
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let refused = pgd.ingest(&[bad]).unwrap();
    assert_eq!(refused.rejected.len(), 1);
    println!("wrote {}", out.display());
}
