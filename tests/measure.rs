//! Measurements of a small federation (not assertions: run with
//! `cargo test --release -p eduioc --test measure -- --ignored --nocapture`).
//!
//! Prints: the time from a school's import to the department's `stats` reflecting it
//! (median of 20), the bytes on the wire per hop for a one-field change, and the RSS of an
//! idle school node.
#![allow(clippy::unwrap_used, missing_docs)]

mod harness;

use std::time::{Duration, Instant};

use harness::Net;

fn wire(net: &Net, id: &str) -> (u64, u64) {
    let s = net.status(id);
    (
        s["wire"]["sent_bytes"].as_u64().unwrap(),
        s["wire"]["received_bytes"].as_u64().unwrap(),
    )
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
#[ignore = "measurement; run explicitly"]
fn measure_latency_bytes_and_memory() {
    let mut net = Net::new(&[
        ("so", "department", None),
        ("pgd-a", "district", Some("so")),
        ("thcs-a1", "school", Some("pgd-a")),
    ]);
    net.start_all();
    let files = harness::synth_files(9, "thcs-a1", eduioc_synth::Size::Realistic);
    for (kind, csv) in &files.files {
        net.import("thcs-a1", kind, csv);
    }
    let students = files.students();
    let total = students
        .values()
        .filter(|s| s["status"] == "enrolled")
        .count() as u64;
    net.wait_for("initial sync", || {
        let e = net.stats("so", "so")["students"]["enrolled"]
            .as_u64()
            .unwrap();
        if e == total {
            Ok(())
        } else {
            Err(format!("{e} of {total}"))
        }
    });
    let header = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status";
    let enrolled: Vec<_> = students
        .iter()
        .filter(|(_, s)| s["status"] == "enrolled")
        .take(20)
        .collect();
    let mut latencies = Vec::new();
    for (id, s) in &enrolled {
        let row = format!(
            "{header}\n{id},{},{},{},{},{},{},dropped_out\n",
            s["full_name"], s["gender"], s["birth_date"], s["grade"], s["class_id"], s["ethnicity"]
        );
        let want = net.stats("so", "so")["students"]["enrolled"]
            .as_u64()
            .unwrap()
            - 1;
        let t0 = Instant::now();
        net.import("thcs-a1", "students", &row);
        loop {
            if net.stats("so", "so")["students"]["enrolled"]
                .as_u64()
                .unwrap()
                == want
            {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "never reflected");
            std::thread::sleep(Duration::from_millis(2));
        }
        latencies.push(t0.elapsed());
    }
    latencies.sort();
    println!(
        "import -> department stats: median {:?}, min {:?}, max {:?} (n={})",
        latencies[10],
        latencies[0],
        latencies[19],
        latencies.len()
    );

    // One-field change: bytes per hop.
    std::thread::sleep(Duration::from_millis(500));
    let (s0, r0) = wire(&net, "thcs-a1");
    let (ds0, dr0) = wire(&net, "so");
    let (id, s) = students
        .iter()
        .find(|(_, s)| s["status"] == "enrolled")
        .unwrap();
    let row = format!(
        "{header}\n{id},{},{},{},{},{},Tày,enrolled\n",
        s["full_name"], s["gender"], s["birth_date"], s["grade"], s["class_id"]
    );
    net.import("thcs-a1", "students", &row);
    std::thread::sleep(Duration::from_millis(1500));
    let (s1, r1) = wire(&net, "thcs-a1");
    let (ds1, dr1) = wire(&net, "so");
    println!(
        "one-field change: school<->district {} bytes ({} up, {} down); district<->department {} bytes ({} up, {} down)",
        (s1 - s0) + (r1 - r0), s1 - s0, r1 - r0, (dr1 - dr0) + (ds1 - ds0), dr1 - dr0, ds1 - ds0
    );

    std::thread::sleep(Duration::from_secs(2));
    println!(
        "idle RSS: school {} KiB, district {} KiB, department {} KiB",
        rss_kib(net.pid("thcs-a1")),
        rss_kib(net.pid("pgd-a")),
        rss_kib(net.pid("so"))
    );
}
