//! Writes the seed corpora (`fuzz/seeds/<target>/`): a few valid entries, frames, CSV and
//! XLSX files, and seeded random inputs for the structure-aware page target.
//!
//! `cargo run --example make_seeds` in `fuzz/` (deterministic: the same files every run).
//! The CSV and XLSX seeds start with the byte that picks the kind and the content type
//! (see each target).

use std::fs;
use std::path::{Path, PathBuf};

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ROOT};
use eduioc_fuzz::world::{world, UNITS};
use eduioc_fuzz::zip::PART_SEPARATOR;
use eduioc_protocol::wire::{self, Request, Response};
use eduioc_protocol::{DocId, Entry, Payload};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let entries = entries();
    write_all(&root.join("entry_decode"), entries.iter().map(|e| e.bytes().to_vec()))?;
    write_all(&root.join("frame_decode"), frames(&entries))?;
    write_all(&root.join("import_csv"), csv_files())?;
    write_all(&root.join("import_xlsx"), xlsx_files()?)?;
    write_all(&root.join("page_validate"), random_inputs(0x5eed, 24, 2048))?;
    Ok(())
}

fn write_all(dir: &Path, files: impl IntoIterator<Item = Vec<u8>>) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)?;
    for (i, bytes) in files.into_iter().enumerate() {
        fs::write(dir.join(format!("seed-{i:03}")), bytes)?;
    }
    Ok(())
}

fn doc(unit: &str, collection: &str) -> DocId {
    DocId {
        unit: unit.into(),
        collection: collection.into(),
        year: "2026-2027".into(),
    }
}

/// One entry of each payload kind, validly signed by units of the world.
fn entries() -> Vec<Entry> {
    let w = world();
    let school = &w.keys[2];
    let mut am = AutoCommit::new().with_actor(ActorId::from(school.id().as_bytes()));
    let records = am
        .put_object(ROOT, "records", automerge::ObjType::Map)
        .expect("a fresh document takes a map");
    let r = am
        .put_object(&records, "HS1", automerge::ObjType::Map)
        .expect("a fresh map takes a map");
    for (k, v) in [("full_name", "Nguyễn Văn An"), ("gender", "M"), ("status", "enrolled")] {
        am.put(&r, k, v).expect("put");
    }
    am.put(&r, "grade", 5i64).expect("put");
    am.commit();
    let changes: Vec<Vec<u8>> = am
        .get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    let heads = am.get_heads().into_iter().map(|h| h.0).collect();
    let changes_entry = Entry::sign(
        school,
        1,
        None,
        1_780_000_000_000,
        Payload::Changes {
            doc: doc(UNITS[2], "students"),
            changes,
        },
    );
    let snapshot = Entry::sign(
        school,
        2,
        Some(changes_entry.hash()),
        1_780_000_000_001,
        Payload::Snapshot {
            doc: doc(UNITS[2], "students"),
            heads,
            replaces: vec![(1, 1)],
        },
    );
    let ack = Entry::sign(
        school,
        3,
        Some(snapshot.hash()),
        1_780_000_000_002,
        Payload::Ack {
            author: w.keys[1].id(),
            seq: 1,
        },
    );
    let notice = Entry::sign(
        &w.keys[1],
        1,
        None,
        1_780_000_000_000,
        Payload::Notification {
            to_unit: UNITS[2].into(),
            title: "Họp giao ban".into(),
            body: "Thứ Hai 8h, phòng họp tầng 2".into(),
        },
    );
    let cert = w
        .dir
        .current_cert(UNITS[3])
        .cloned()
        .expect("the world certifies s2");
    let cert_entry = Entry::sign(
        &w.keys[0],
        1,
        None,
        1_780_000_000_000,
        Payload::Certificate(cert),
    );
    vec![changes_entry, snapshot, ack, notice, cert_entry]
}

fn frames(entries: &[Entry]) -> Vec<Vec<u8>> {
    let w = world();
    let certs: Vec<_> = w.dir.all_certs().cloned().collect();
    let mut am = AutoCommit::new().with_actor(ActorId::from(w.keys[2].id().as_bytes()));
    am.put(ROOT, "k", "v").expect("put");
    am.commit();
    let save = am.save();
    let heights: Vec<_> = w.keys.iter().map(|k| (k.id(), 3)).collect();
    vec![
        wire::encode(&Request::Hello {
            unit: UNITS[2].into(),
            certs: certs.clone(),
        }),
        wire::encode(&Request::Heights {
            heights: heights.clone(),
        }),
        wire::encode(&Request::Page {
            entries: entries.iter().map(|e| e.bytes().to_vec()).collect(),
            docs: vec![(1, save)],
        }),
        wire::encode(&Response::Welcome {
            unit: UNITS[1].into(),
            certs,
        }),
        wire::encode(&Response::Ok),
        wire::encode(&Response::Acked {
            heights,
            rejected: 1,
        }),
        wire::encode(&Response::Refused {
            key: "malformed".into(),
            reason: "frame of 3 bytes".into(),
        }),
    ]
}

const STUDENTS: &str = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status";
const STAFF: &str = "staff_id,full_name,gender,birth_date,role,qualification,status";
const CLASSES: &str = "class_id,name,grade,homeroom_staff_id";

/// The kind byte: students 0, staff 1, classes 2, profile 3; plus 4 for `text/csv`.
fn csv_files() -> Vec<Vec<u8>> {
    let files: [(u8, String); 8] = [
        (
            0,
            format!(
                "{STUDENTS}\nHS1,Nguyễn Văn An,M,2014-09-05,5,5A,Kinh,enrolled\n\
                 HS2,Trần Thị Bình,Nữ,05/09/2013,6,6A,Tày,Đang học\n"
            ),
        ),
        (
            4,
            format!(
                "\u{feff}{STUDENTS}\r\nHS1,\"Lê, Văn C\",F,2014-01-31,12,12A1,Khmer,graduated\r\n\r\n"
            ),
        ),
        (
            0,
            format!("{STUDENTS}\nHS1,A,X,2099-01-01,13,5A,Kinh,gone\nHS1,B,M,31/02/2014,0,,,\n"),
        ),
        (
            1,
            format!(
                "{STAFF}\nGV1,Phạm Thị Dung,F,1980-02-29,teacher,bachelor,active\n\
                 GV2,Hoàng Văn Em,M,1975-12-01,manager,master,left\n"
            ),
        ),
        (
            5,
            format!("{STAFF}\nGV1,X,M,1980-01-01,cook,phd,active,extra\n"),
        ),
        (2, format!("{CLASSES}\n5A,Lớp 5A,5,GV1\n6A,Lớp 6A,6,\n")),
        (2, "class_id;name;grade;homeroom_staff_id\n5A;Lớp 5A;5;GV1\n".into()),
        (3, "anything\n1\n".into()),
    ];
    files
        .into_iter()
        .map(|(pick, text)| {
            let mut v = vec![pick];
            v.extend_from_slice(text.as_bytes());
            v
        })
        .collect()
}

/// Whole workbooks (odd kind byte) and XML parts (even kind byte): kind = (byte / 2) % 4.
fn xlsx_files() -> Result<Vec<Vec<u8>>> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
    let mut out = Vec::new();
    // Students, with a date cell, a number and a formula error.
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in STUDENTS.split(',').enumerate() {
        ws.write_string(0, c as u16, h)?;
    }
    let row = ["HS1", "Nguyễn Văn An", "M", "", "5", "5A", "Kinh", "enrolled"];
    for (c, v) in row.iter().enumerate() {
        ws.write_string(1, c as u16, *v)?;
    }
    let date = ExcelDateTime::from_ymd(2014, 9, 5)?;
    ws.write_datetime_with_format(1, 3, &date, &Format::new().set_num_format("yyyy-mm-dd"))?;
    ws.write_number(1, 4, 5.0)?;
    ws.write_formula(2, 4, Formula::new("=1/0").set_result("#DIV/0!"))?;
    out.push([vec![1u8], wb.save_to_buffer()?].concat());
    // Staff.
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in STAFF.split(',').enumerate() {
        ws.write_string(0, c as u16, h)?;
    }
    for (c, v) in ["GV1", "Phạm Thị Dung", "F", "1980-02-29", "teacher", "bachelor", "active"]
        .iter()
        .enumerate()
    {
        ws.write_string(1, c as u16, *v)?;
    }
    out.push([vec![3u8], wb.save_to_buffer()?].concat());
    // XML parts: a students sheet with shared strings, an inline string and numbers.
    let cols = STUDENTS.split(',').collect::<Vec<_>>();
    let shared: String = cols
        .iter()
        .map(|c| format!("<si><t>{c}</t></si>"))
        .collect::<String>();
    let shared = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{n}" uniqueCount="{n}">{shared}<si><t>Nguyễn Văn An</t></si></sst>"#,
        n = cols.len() + 1
    );
    let letters = ["A", "B", "C", "D", "E", "F", "G", "H"];
    let header: String = (0..cols.len())
        .map(|i| format!(r#"<c r="{}1" t="s"><v>{i}</v></c>"#, letters[i]))
        .collect();
    let sheet = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">{header}</row><row r="2"><c r="A2" t="inlineStr"><is><t>HS1</t></is></c><c r="B2" t="s"><v>{name}</v></c><c r="C2" t="str"><v>F</v></c><c r="D2" s="1"><v>41887</v></c><c r="E2"><v>5</v></c><c r="F2" t="inlineStr"><is><t>5A</t></is></c><c r="G2" t="inlineStr"><is><t>Kinh</t></is></c><c r="H2" t="inlineStr"><is><t>enrolled</t></is></c></row><row r="3"><c r="A3" t="b"><v>1</v></c><c r="E3" t="e"><v>#N/A</v></c><c r="XFD3" t="inlineStr"><is><t>far</t></is></c></row></sheetData></worksheet>"#,
        name = cols.len()
    );
    let styles = r#"<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>"#;
    let parts = [sheet.as_bytes(), shared.as_bytes(), styles.as_bytes()].join(PART_SEPARATOR);
    out.push([vec![0u8], parts].concat());
    // Classes, the sheet alone, with inline strings.
    let sheet = r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>class_id</t></is></c><c r="B1" t="inlineStr"><is><t>name</t></is></c><c r="C1" t="inlineStr"><is><t>grade</t></is></c><c r="D1" t="inlineStr"><is><t>homeroom_staff_id</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>5A</t></is></c><c r="B2" t="inlineStr"><is><t>Lớp 5A</t></is></c><c r="C2"><v>5</v></c></row></sheetData></worksheet>"#;
    out.push([vec![4u8], sheet.as_bytes().to_vec()].concat());
    Ok(out)
}

/// `n` inputs of `len` bytes from a seeded xorshift generator.
fn random_inputs(seed: u64, n: usize, len: usize) -> Vec<Vec<u8>> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            (0..len)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 24) as u8
                })
                .collect()
        })
        .collect()
}
