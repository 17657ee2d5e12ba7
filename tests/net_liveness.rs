//! Liveness of sync links, with real `eduioc run` processes on loopback.
//!
//! - `a_frozen_parent_catches_up_without_a_new_commit`: a district stopped with SIGSTOP
//!   for 35 s while its school imports; after SIGCONT the department has the new student
//!   although nothing else is committed anywhere, and the school's `status` said
//!   `connected: false` while the district was frozen and `true` again after.
//! - `a_refused_entry_shows_in_the_school_status`: a second copy of a school's node
//!   directory (same key, its own empty store) writes, while it cannot reach the
//!   district, entries that fork the log the district already holds; the district refuses
//!   them and the copy's `status` says so under `parent.refused`, naming the school.
//! - `a_child_refused_by_its_parent_hangs_up_and_redials`: a school whose `node.toml`
//!   names a district it does not belong to (as after a re-parenting its configuration
//!   missed) is refused at `Hello`; it closes the connection and dials again, at a slowing
//!   pace, says so in `status.parent.refused`, and joins its own district once pointed at
//!   it.
//!
//! Timings are printed, never asserted.
#![allow(clippy::unwrap_used, missing_docs)]

mod harness;

use std::path::Path;
use std::time::{Duration, Instant};

use harness::Net;
use serde_json::Value;

const STUDENTS: &str = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status";

fn tree() -> Vec<(&'static str, &'static str, Option<&'static str>)> {
    vec![
        ("so", "department", None),
        ("pgd", "district", Some("so")),
        ("th", "school", Some("pgd")),
    ]
}

/// A one-row students file.
fn one_student(id: &str, name: &str) -> String {
    format!("{STUDENTS}\n{id},{name},F,2015-03-04,5,5A,Kinh,enrolled\n")
}

/// Whether `at` finds student `id` in its subtree.
fn has_student(net: &Net, at: &str, id: &str) -> bool {
    let (code, body) = net.get(at, &format!("/api/v1/records/students?q={id}"));
    assert_eq!(code, 200, "search at {at}: {body}");
    body["students"]
        .as_array()
        .is_some_and(|a| a.iter().any(|s| s["student_id"] == id))
}

fn parent_of(net: &Net, at: &str) -> Value {
    net.status(at)["parent"].clone()
}

fn signal(net: &Net, id: &str, sig: i32) {
    let rc = unsafe { libc::kill(net.pid(id) as i32, sig) };
    assert_eq!(rc, 0, "kill({sig}) of {id}");
}

/// Resumes a stopped node even when the test fails while it is stopped.
struct Resume(i32);

impl Drop for Resume {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.0, libc::SIGCONT);
        }
    }
}

#[test]
fn a_frozen_parent_catches_up_without_a_new_commit() {
    let mut net = Net::new(&tree());
    net.start_all();
    net.import("th", "students", &one_student("HS-0001", "Nguyễn Thị An"));
    net.wait_for("the department holding the first student", || {
        has_student(&net, "so", "HS-0001")
            .then_some(())
            .ok_or_else(|| "HS-0001 missing at so".to_string())
    });
    net.wait_for("the school's link working", || {
        (parent_of(&net, "th")["connected"] == true)
            .then_some(())
            .ok_or_else(|| "not connected".to_string())
    });

    let _resume = Resume(net.pid("pgd") as i32);
    signal(&net, "pgd", libc::SIGSTOP);
    let frozen = Instant::now();
    net.import("th", "students", &one_student("HS-0002", "Trần Văn Bình"));
    let mut seen_down: Option<Duration> = None;
    while frozen.elapsed() < Duration::from_secs(35) {
        if seen_down.is_none() && parent_of(&net, "th")["connected"] == false {
            seen_down = Some(frozen.elapsed());
        }
        assert!(
            !has_student(&net, "so", "HS-0002"),
            "the department has the student while the district is frozen"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    println!("school saw its parent not working after {seen_down:?} of freeze");
    let during = parent_of(&net, "th");
    signal(&net, "pgd", libc::SIGCONT);
    let resumed = Instant::now();

    // No commit anywhere from here on: only retries and re-comparison may carry it.
    net.wait_for(
        "the department holding the student imported during the freeze",
        || {
            has_student(&net, "so", "HS-0002")
                .then_some(())
                .ok_or_else(|| "HS-0002 missing at so".to_string())
        },
    );
    println!(
        "the department had it {:?} after SIGCONT",
        resumed.elapsed()
    );
    assert!(
        seen_down.is_some(),
        "status said connected during a 35 s freeze of the parent: {during}"
    );
    net.wait_for("the school's link working again", || {
        let p = parent_of(&net, "th");
        (p["connected"] == true)
            .then_some(())
            .ok_or_else(|| format!("parent: {p}"))
    });
    println!(
        "the school said connected {:?} after SIGCONT",
        resumed.elapsed()
    );
    assert!(parent_of(&net, "th")["refused"].is_null());
    let stats = net.stats("so", "so");
    assert_eq!(stats["students"]["enrolled"], 2, "{stats}");
}

#[test]
fn a_child_refused_by_its_parent_hangs_up_and_redials() {
    let mut net = Net::new(&[
        ("so", "department", None),
        ("pgd-a", "district", Some("so")),
        ("pgd-b", "district", Some("so")),
        ("th", "school", Some("pgd-a")),
    ]);
    let toml = net.node_dir("th").join("node.toml");
    let right = std::fs::read_to_string(&toml).unwrap();
    let (a, b) = (net.unit("pgd-a").p2p.clone(), net.unit("pgd-b").p2p.clone());
    let wrong = right
        .replace("parent = \"pgd-a\"", "parent = \"pgd-b\"")
        .replace(
            &format!("parent_p2p = \"{a}\""),
            &format!("parent_p2p = \"{b}\""),
        );
    assert_ne!(wrong, right);
    std::fs::write(&toml, &wrong).unwrap();
    // It knows the other district's certificate (so it can dial it), as a school does
    // whose parent's certificates came down before it moved.
    let certs_of = |id: &str| -> Vec<eduioc_protocol::Certificate> {
        postcard::from_bytes(&std::fs::read(net.node_dir(id).join("certs.bin")).unwrap()).unwrap()
    };
    let mut certs = certs_of("th");
    for c in certs_of("pgd-b") {
        if !certs.contains(&c) {
            certs.push(c);
        }
    }
    std::fs::write(
        net.node_dir("th").join("certs.bin"),
        postcard::to_stdvec(&certs).unwrap(),
    )
    .unwrap();
    net.start_all();
    let count = |id: &str, what: &str| net.full_log(id).matches(what).count();
    net.wait_for("three refused hellos, each on a new connection", || {
        let (dials, hangups) = (
            count("th", "connected to parent"),
            count("th", "disconnected from parent"),
        );
        (dials >= 3 && hangups >= 2)
            .then_some(())
            .ok_or_else(|| format!("{dials} connections, {hangups} closed"))
    });
    let refused_at_b: u64 = net.status("pgd-b")["rejected"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert!(refused_at_b >= 2, "{}", net.status("pgd-b"));
    let p = parent_of(&net, "th");
    assert_eq!(p["unit"], "pgd-b", "{p}");
    assert_eq!(p["connected"], false, "{p}");
    assert!(
        p["refused"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{p}"
    );
    println!("refused: {}", p["refused"]);
    // Pointed at its own district, it joins it and the warning goes.
    net.stop("th");
    std::fs::write(&toml, &right).unwrap();
    net.start("th");
    net.wait_for("the school connected to its own district", || {
        let p = parent_of(&net, "th");
        (p["unit"] == "pgd-a" && p["connected"] == true && p["refused"].is_null())
            .then_some(())
            .ok_or_else(|| format!("parent: {p}"))
    });
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

#[test]
fn a_refused_entry_shows_in_the_school_status() {
    let mut net = Net::new(&tree());
    // The same node directory on a second machine: same key, its own store.
    let twin = net.tmp.path().join("th-twin");
    copy_dir(&net.node_dir("th"), &twin);
    net.start_all();
    net.import("th", "students", &one_student("HS-0001", "Nguyễn Thị An"));
    net.wait_for("the district holding the school's student", || {
        has_student(&net, "pgd", "HS-0001")
            .then_some(())
            .ok_or_else(|| "HS-0001 missing at pgd".to_string())
    });
    let held = net.status("th")["log"]["entries"].as_u64().unwrap();
    assert!(parent_of(&net, "th")["refused"].is_null());
    net.stop("th");
    let orig = net.tmp.path().join("th-orig");
    std::fs::rename(net.node_dir("th"), &orig).unwrap();
    std::fs::rename(&twin, net.node_dir("th")).unwrap();
    // The copy writes while it cannot reach the district (a node that met its parent
    // first would see that the parent holds more of its log and stop writing until it
    // has it: `eduioc restore`'s protection).
    let toml = net.node_dir("th").join("node.toml");
    let right = std::fs::read_to_string(&toml).unwrap();
    let pgd = net.unit("pgd").p2p.clone();
    let nowhere = format!("/ip4/127.0.0.1/tcp/{}", harness::free_port());
    std::fs::write(&toml, right.replace(&pgd, &nowhere)).unwrap();
    net.start("th");
    // Write past what the district holds of the school's log, so that the copy sends it.
    let mut n = 0;
    while net.status("th")["log"]["entries"].as_u64().unwrap() <= held {
        n += 1;
        assert!(n <= held + 2, "imports at the copy do not add entries");
        net.import(
            "th",
            "students",
            &one_student(&format!("HS-9{n:03}"), "Lê Thị Cúc"),
        );
    }
    net.stop("th");
    std::fs::write(&toml, &right).unwrap();
    net.start("th");
    let started = Instant::now();
    net.wait_for(
        "the copy's status saying that the parent refuses its entries",
        || {
            let p = parent_of(&net, "th");
            if p["refused"].is_null() {
                return Err(format!("parent: {p}"));
            }
            Ok(())
        },
    );
    println!(
        "refusal shown {:?} after the last import",
        started.elapsed()
    );
    let p = parent_of(&net, "th");
    println!("parent: {p}");
    let r = &p["refused"];
    assert!(r["entries"].as_u64().unwrap() >= 1, "{p}");
    assert_eq!(r["units"], serde_json::json!(["th"]), "{p}");
    assert!(r["reason"].as_str().is_some_and(|s| !s.is_empty()), "{p}");
    assert!(r["since"].as_str().is_some(), "{p}");
    // Every field of the contract is still there, as it was.
    assert_eq!(p["unit"], "pgd");
    assert!(
        p["connected"].is_boolean() && p["last_sync_at"].is_string(),
        "{p}"
    );
    // The district did refuse them: the fork is counted there.
    let rejected = net.status("pgd")["rejected"].clone();
    assert!(rejected["fork"].as_u64().unwrap_or(0) >= 1, "{rejected}");
    assert!(!has_student(&net, "pgd", "HS-9001"));
}
