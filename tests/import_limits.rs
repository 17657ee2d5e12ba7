//! Imports at their limits against real nodes: a large import reaches the department
//! (never an entry its parent refuses), an XLSX zip bomb is refused with the node's memory
//! bounded, and `status` answers while a 200,000-row file is being imported.
#![allow(clippy::unwrap_used, missing_docs)]

mod harness;

use std::io::{Cursor, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use harness::Net;
use serde_json::Value;

const HEADER: &str = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status";

fn tree() -> Net {
    Net::new(&[
        ("so", "department", None),
        ("pgd", "district", Some("so")),
        ("th", "school", Some("pgd")),
    ])
}

fn enrolled(net: &Net, at: &str, unit: &str) -> u64 {
    net.stats(at, unit)["students"]["enrolled"]
        .as_u64()
        .unwrap_or(0)
}

/// POST with a long timeout (a debug build parses 200,000 rows slowly).
fn post(net: &Net, id: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    let token = std::fs::read_to_string(net.node_dir(id).join("api.token")).unwrap();
    let r = ureq::post(&format!("http://{}{}", net.unit(id).http, path))
        .set("Authorization", &format!("Bearer {}", token.trim()))
        .set("Content-Type", content_type)
        .timeout(Duration::from_secs(600))
        .send_bytes(body);
    match r {
        Ok(resp) => (resp.status(), resp.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(code, resp)) => (code, resp.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("POST {path} at {id}: {e}"),
    }
}

/// The largest resident set the process has had, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_large_import_with_long_names_reaches_the_department_and_the_uplink_stays_open() {
    let mut net = tree();
    net.start_all();
    let csv = eduioc_synth::long_named_students("big", 60_000, 11);
    println!("file: {:.1} MiB", csv.len() as f64 / (1024.0 * 1024.0));
    let started = Instant::now();
    let (code, body) = post(
        &net,
        "th",
        "/api/v1/import/students",
        "text/csv",
        csv.as_bytes(),
    );
    println!("import answered {code} in {:?}", started.elapsed());
    match code {
        200 => {
            assert_eq!(body["inserted"], 60_000, "{body}");
            net.wait_for("the department has the 60,000 students", || match enrolled(
                &net, "so", "th",
            ) {
                60_000 => Ok(()),
                n => Err(format!("{n} enrolled at the department")),
            });
        }
        // Refused whole, before anything was applied.
        422 => {
            assert_eq!(enrolled(&net, "th", "th"), 0, "{body}");
        }
        _ => panic!("import answered {code}: {body}"),
    }
    for unit in ["pgd", "so"] {
        let rejected = &net.status(unit)["rejected"];
        assert!(rejected.get("oversized").is_none(), "{unit}: {rejected}");
    }
    // A one-row import afterwards goes up too.
    net.import(
        "th",
        "students",
        &format!("{HEADER}\nlate-1,Lê Văn Tám,M,2016-03-04,4,4a,Kinh,enrolled"),
    );
    let expected = if code == 200 { 60_001 } else { 1 };
    net.wait_for("the department has the one-row import", || {
        match enrolled(&net, "so", "th") {
            n if n == expected => Ok(()),
            n => Err(format!(
                "{n} enrolled at the department, expected {expected}"
            )),
        }
    });
}

/// A real one-row students workbook with its shared strings replaced by `size` bytes
/// (deflated: a zip bomb).
fn bomb(size: u64) -> Vec<u8> {
    let base = harness::xlsx_of(&format!(
        "{HEADER}\nHS1,Nguyễn Văn An,M,2016-03-04,4,4a,Kinh,enrolled"
    ));
    let mut src = zip::ZipArchive::new(Cursor::new(&base[..])).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..src.len() {
        let part = src.by_index(i).unwrap();
        if part.name().unwrap() != "xl/sharedStrings.xml" {
            out.raw_copy_file(part).unwrap();
        }
    }
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .large_file(true);
    out.start_file("xl/sharedStrings.xml", opts).unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..size >> 20 {
        out.write_all(&chunk).unwrap();
    }
    out.finish().unwrap().into_inner()
}

#[test]
fn an_xlsx_bomb_is_refused_with_the_node_under_400_mb() {
    let mut net = Net::new(&[("th", "school", None)]);
    net.start("th");
    let file = bomb(1 << 30);
    println!("bomb: {} KiB, inflating to 1 GiB", file.len() / 1024);
    let started = Instant::now();
    let (code, body) = post(&net, "th", "/api/v1/import/students", harness::XLSX, &file);
    println!("answered {code} in {:?}: {body}", started.elapsed());
    assert!((400..500).contains(&code), "{code}: {body}");
    assert_eq!(body["errors"][0]["code"], "xlsx_part_too_large", "{body}");
    let peak = peak_rss_kib(net.pid("th"));
    println!("peak RSS of the node: {} MiB", peak / 1024);
    assert!(peak < 400 * 1024, "peak RSS {} MiB", peak / 1024);
    // The node still imports.
    net.import(
        "th",
        "students",
        &format!("{HEADER}\nHS2,Lê Văn Tám,M,2016-03-04,4,4a,Kinh,enrolled"),
    );
}

#[test]
fn status_answers_while_a_200000_row_file_imports() {
    let mut net = Net::new(&[("th", "school", None)]);
    net.start("th");
    let mut csv = String::from(HEADER);
    for i in 0..200_000 {
        csv.push_str(&format!(
            "\nHS{i:06},Nguyễn Văn {i},{},2015-05-0{},{},{}a,Kinh,enrolled",
            if i % 2 == 0 { "M" } else { "F" },
            1 + i % 9,
            1 + i % 5,
            1 + i % 7,
        ));
    }
    let done = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|s| {
        let (net, csv, done) = (&net, &csv, &done);
        s.spawn(move || {
            let (code, body) = post(
                net,
                "th",
                "/api/v1/import/students",
                "text/csv",
                csv.as_bytes(),
            );
            done.store(true, Ordering::SeqCst);
            assert_eq!(code, 200, "{body}");
            assert_eq!(body["inserted"], 200_000);
        });
        // Status, again and again, until the import has answered: each status answer
        // counted here arrived before the import's.
        let mut latencies = Vec::new();
        while !done.load(Ordering::SeqCst) {
            let asked = Instant::now();
            let (code, _) = net.get("th", "/api/v1/status");
            assert_eq!(code, 200);
            if !done.load(Ordering::SeqCst) {
                latencies.push(asked.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let import_took = started.elapsed();
        let n = latencies.len();
        assert!(
            n >= 5,
            "only {n} status answers arrived before the import's"
        );
        latencies.sort();
        println!(
            "import took {import_took:?}; {n} status answers before it: median {:?}, \
             p99 {:?}, max {:?}",
            latencies[n / 2],
            latencies[n * 99 / 100],
            latencies[n - 1]
        );
    });
    // The import went in.
    assert_eq!(enrolled(&net, "th", "th"), 200_000);
}
