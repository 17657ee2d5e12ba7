//! A full disk at a school: the import is refused with a readable `507`, `status` says
//! why, nothing is half-applied, and once space returns the next import succeeds and
//! reaches the department without a restart.
//!
//! The school's node directory is a small tmpfs (`mount -t tmpfs`, which needs root, as
//! CI has). Where mounting is impossible the test says so loudly and passes, except under
//! `CI=true`, where it fails.
#![allow(clippy::unwrap_used, missing_docs)]

mod harness;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use harness::Net;

/// A tmpfs mounted over a directory, unmounted (lazily: a node may still hold it) on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB over `dir`, keeping the files `dir` held.
    fn over(dir: &Path, mib: u32) -> Result<Tmpfs, String> {
        let keep: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| (p.file_name().unwrap().into(), std::fs::read(&p).unwrap()))
            .collect();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let fs = Tmpfs(dir.to_path_buf());
        for (name, bytes) in keep {
            std::fs::write(dir.join(&name), bytes).unwrap();
        }
        Ok(fs)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes a file until the disk is full; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![7u8; 64 * 1024];
    loop {
        match f.write_all(&block) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    // Whatever a partial block left.
    let _ = f.sync_all();
    path
}

fn students(from: usize, n: usize) -> String {
    let mut csv =
        String::from("student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n");
    for i in from..from + n {
        csv.push_str(&format!(
            "HS{i:06},Nguyễn Thị Học Sinh Số {i},{},2015-05-0{},{},{}a,Kinh,enrolled\n",
            if i % 2 == 0 { "F" } else { "M" },
            1 + i % 9,
            1 + i % 5,
            1 + i % 5
        ));
    }
    csv
}

fn enrolled(net: &Net, at: &str, unit: &str) -> u64 {
    net.stats(at, unit)["students"]["enrolled"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_full_disk_is_a_readable_507_and_heals_without_a_restart() {
    let mut net = Net::new(&[
        ("so", "department", None),
        ("pgd", "district", Some("so")),
        ("th", "school", Some("pgd")),
    ]);
    let _fs = match Tmpfs::over(&net.node_dir("th"), 8) {
        Ok(fs) => fs,
        Err(e) => {
            eprintln!(
                "\n!!!!!!!!!! storage_disk: cannot mount a tmpfs ({e}); this test needs root. \
                 NOT TESTED. !!!!!!!!!!\n"
            );
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: the disk-full test must run (mount a tmpfs as root)"
            );
            return;
        }
    };
    net.start_all();
    net.import("th", "students", &students(0, 100));
    net.wait_for("the first import at the department", || {
        match enrolled(&net, "so", "th") {
            100 => Ok(()),
            n => Err(format!("{n} enrolled")),
        }
    });
    assert_eq!(net.status("th")["storage"]["ok"], true);

    // The disk fills up: the import is refused, readably, and nothing of it is applied.
    let filler = fill(&net.node_dir("th"));
    let big = students(100, 3000);
    let (code, body) = net.post("th", "/api/v1/import/students", "text/csv", big.as_bytes());
    println!("import on a full disk: {code} {body}");
    assert_eq!(code, 507, "a full disk is 507 Insufficient Storage: {body}");
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.contains("disk") && msg.contains("full"),
        "the message names the cause: {msg}"
    );
    let status = net.status("th");
    println!("status on a full disk: {}", status["storage"]);
    assert_eq!(
        status["storage"]["ok"], false,
        "status shows the failure: {status}"
    );
    assert_eq!(status["storage"]["kind"], "disk_full");
    assert!(status["storage"]["since"].is_string());
    assert_eq!(
        enrolled(&net, "th", "th"),
        100,
        "nothing of the refused import is applied"
    );
    // Still full: a second try is refused the same way, not with redb's "previous I/O error".
    let (code, body) = net.post("th", "/api/v1/import/students", "text/csv", big.as_bytes());
    assert_eq!(code, 507, "{body}");

    // Space returns: the next import succeeds without a restart and reaches the department.
    std::fs::remove_file(filler).unwrap();
    let (code, body) = net.post("th", "/api/v1/import/students", "text/csv", big.as_bytes());
    assert_eq!(code, 200, "the store heals once space returns: {body}");
    assert_eq!(body["inserted"], 3000);
    net.wait_for("status ok again", || {
        match net.status("th")["storage"]["ok"].as_bool() {
            Some(true) => Ok(()),
            _ => Err("storage not ok".into()),
        }
    });
    assert_eq!(enrolled(&net, "th", "th"), 3100);
    net.wait_for("the healed import at the department", || {
        match enrolled(&net, "so", "th") {
            3100 => Ok(()),
            n => Err(format!("{n} enrolled")),
        }
    });
    // And the one after it too.
    net.import("th", "students", &students(5000, 1));
    net.wait_for("a later import at the department", || {
        match enrolled(&net, "so", "th") {
            3101 => Ok(()),
            n => Err(format!("{n} enrolled")),
        }
    });
}

#[test]
fn status_recovers_by_itself_when_space_returns() {
    let mut net = Net::new(&[("so", "department", None), ("th", "school", Some("so"))]);
    let _fs = match Tmpfs::over(&net.node_dir("th"), 8) {
        Ok(fs) => fs,
        Err(e) => {
            eprintln!(
                "\n!!!!!!!!!! storage_disk: cannot mount a tmpfs ({e}). NOT TESTED. !!!!!!!!!!\n"
            );
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: must run as root"
            );
            return;
        }
    };
    net.start_all();
    let filler = fill(&net.node_dir("th"));
    let (code, body) = net.post(
        "th",
        "/api/v1/import/students",
        "text/csv",
        students(0, 3000).as_bytes(),
    );
    assert_eq!(code, 507, "{body}");
    assert_eq!(net.status("th")["storage"]["ok"], false);
    std::fs::remove_file(filler).unwrap();
    // No request writes: the node's own probe reopens the store and finds it writes.
    net.wait_for("status ok again without any write request", || {
        match net.status("th")["storage"]["ok"].as_bool() {
            Some(true) => Ok(()),
            _ => Err("storage not ok".into()),
        }
    });
}

fn rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

/// Memory after a catch-up (figures, no assertion: RSS depends on the machine). Schools
/// import `EDUIOC_CATCHUP_ROWS` rows in total (default 200,000) while their district and
/// the department are stopped; then both start and catch up. Prints VmRSS of the district
/// and the department before, at the peak, and 60 s after the catch-up.
/// `cargo test --release -p eduioc --test storage_disk memory_after -- --ignored --nocapture`
#[test]
#[ignore]
fn memory_after_a_catch_up() {
    let rows: usize = std::env::var("EDUIOC_CATCHUP_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let schools = 8;
    let mut spec: Vec<(String, String, Option<String>)> = vec![
        ("so".into(), "department".into(), None),
        ("pgd".into(), "district".into(), Some("so".into())),
    ];
    for i in 0..schools {
        spec.push((format!("th-{i}"), "school".into(), Some("pgd".into())));
    }
    let spec_ref: Vec<(&str, &str, Option<&str>)> = spec
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_deref()))
        .collect();
    let mut net = Net::new(&spec_ref);
    for i in 0..schools {
        net.start(&format!("th-{i}"));
    }
    let per = rows / schools;
    for i in 0..schools {
        let (code, body) = net.post(
            &format!("th-{i}"),
            "/api/v1/import/students",
            "text/csv",
            students(i * per, per).as_bytes(),
        );
        assert_eq!(code, 200, "{body}");
    }
    net.start("so");
    net.start("pgd");
    let (so, pgd) = (net.pid("so"), net.pid("pgd"));
    let before = (rss_mib(pgd), rss_mib(so));
    let mut peak = before;
    let started = std::time::Instant::now();
    loop {
        peak = (peak.0.max(rss_mib(pgd)), peak.1.max(rss_mib(so)));
        if enrolled(&net, "so", "so") == (per * schools) as u64 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1800),
            "no catch-up"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let took = started.elapsed();
    std::thread::sleep(std::time::Duration::from_secs(60));
    let after = (rss_mib(pgd), rss_mib(so));
    println!(
        "catch-up of {} rows in {:.1} s; VmRSS MiB district/department: before {}/{}, peak {}/{}, 60 s after {}/{}",
        per * schools,
        took.as_secs_f64(),
        before.0,
        before.1,
        peak.0,
        peak.1,
        after.0,
        after.1
    );
}
