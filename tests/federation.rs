//! Multi-node tests of the federation: separate `eduioc run` processes on loopback.
//!
//! - `tree_converges_to_ground_truth`: imports at six schools; every level's `stats` for
//!   every unit of its subtree equals the truth computed from the CSV files; a CSV with one
//!   bad row is refused with its row and column and changes nothing; a notification
//!   reaches exactly the schools of its district and their read receipts travel up.
//! - `crashed_offices_recover_without_double_counting`: `kill -9` of a district and then of
//!   the department while schools keep importing.
//! - `offices_killed_mid_sync_recover_without_double_counting`: `kill -9` of a district
//!   while it takes in a large backlog from its schools, then of the department while the
//!   district forwards it; both restart and converge to the truth, every record once.
//! - `offline_school_catches_up_with_only_what_was_missing`: a school keeps working while
//!   its parent is down and sends only the missing entries when it returns.
#![allow(clippy::unwrap_used, missing_docs)]

mod harness;

use std::collections::HashMap;

use harness::{synth_files, Net, SchoolFiles, Truth};

fn truth_of(net: &Net, files: &HashMap<String, SchoolFiles>, unit: &str) -> Truth {
    let mut t = Truth::default();
    for u in net.subtree(unit) {
        if let Some(f) = files.get(&u) {
            t.add_school(f);
        }
    }
    t
}

/// The names `at` holds for the student `id` (one per record found under that id).
fn names_of(net: &Net, at: &str, id: &str) -> Vec<String> {
    let (code, found) = net.get(at, &format!("/api/v1/records/students?q={id}&limit=1000"));
    assert_eq!(code, 200, "{found}");
    found["students"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["student_id"] == id)
        .map(|h| h["full_name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Waits until `at`'s stats for every unit of its subtree equal the truth.
fn converge(net: &Net, files: &HashMap<String, SchoolFiles>, at: &str) {
    let units = net.subtree(at);
    net.wait_for(&format!("{at} matching the ground truth"), || {
        for u in &units {
            truth_of(net, files, u).check(&net.stats(at, u))?;
        }
        Ok(())
    });
}

fn import_all(net: &Net, files: &mut HashMap<String, SchoolFiles>, school: &str, new: SchoolFiles) {
    for (kind, csv) in &new.files {
        if school.starts_with("thcs") {
            // Schools of this kind send spreadsheets, as SMAS exports them.
            let (code, body) = net.post(
                school,
                &format!("/api/v1/import/{kind}"),
                harness::XLSX,
                &harness::xlsx_of(csv),
            );
            assert_eq!(code, 200, "XLSX import of {kind} at {school}: {body}");
        } else {
            net.import(school, kind, csv);
        }
    }
    files
        .entry(school.to_string())
        .or_default()
        .files
        .extend(new.files);
}

#[test]
fn tree_converges_to_ground_truth() {
    let mut net = Net::new(&harness::standard_tree());
    net.start_all();
    let mut files = HashMap::new();
    for (i, s) in net.schools().iter().enumerate() {
        let size = if i == 0 {
            eduioc_synth::Size::Realistic
        } else {
            eduioc_synth::Size::Tiny
        };
        import_all(&net, &mut files, s, synth_files(1, s, size));
    }
    converge(&net, &files, "so");
    converge(&net, &files, "pgd-a");
    converge(&net, &files, "pgd-b");
    for s in net.schools() {
        truth_of(&net, &files, &s)
            .check(&net.stats(&s, &s))
            .unwrap();
    }
    // Outside the subtree: 404.
    assert_eq!(net.get("pgd-a", "/api/v1/stats?unit=th-b1").0, 404);
    assert_eq!(net.get("so", "/api/v1/stats?unit=nowhere").0, 404);

    // A CSV with one bad row: 422 naming row and column; nothing applied: neither the
    // valid new student before the bad row nor the renames are in the data.
    let before = net.stats("th-a1", "th-a1");
    let students = files["th-a1"].students();
    let mut lines =
        vec!["student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status".to_string()];
    for (id, s) in students.iter().take(2) {
        lines.push(format!(
            "{id},Nguyễn Văn Mới,M,2015-01-02,{},{},Kinh,enrolled",
            s["grade"], s["class_id"]
        ));
    }
    let (_, first) = students.iter().next().unwrap();
    lines.push(format!(
        "hs-new-0,Phạm Thị Vắng,F,2015-01-03,{},{},Kinh,enrolled",
        first["grade"], first["class_id"]
    ));
    lines.push("hs-new-1,Trần Thị Lỗi,F,2015-02-30,3,x,Kinh,enrolled".into());
    let (code, body) = net.post(
        "th-a1",
        "/api/v1/import/students",
        "text/csv",
        lines.join("\n").as_bytes(),
    );
    assert_eq!(code, 422, "{body}");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["row"], 4);
    assert_eq!(errors[0]["column"], "birth_date");
    let after = net.stats("th-a1", "th-a1");
    assert_eq!(
        before["students"], after["students"],
        "a refused import changed figures"
    );
    let (code, found) = net.get("th-a1", "/api/v1/records/students?q=hs-new");
    assert_eq!(code, 200, "{found}");
    assert_eq!(
        found["students"],
        serde_json::json!([]),
        "a row of a refused import is in the data"
    );
    for (id, s) in students.iter().take(2) {
        assert_eq!(
            names_of(&net, "th-a1", id),
            vec![s["full_name"].clone()],
            "a refused import renamed {id}"
        );
    }

    // Notification from the department to district A reaches A's schools, not B's.
    let (code, sent) = net.post(
        "so",
        "/api/v1/notifications",
        "application/json",
        r#"{"title":"Báo cáo sĩ số","body":"Các trường nộp báo cáo trước thứ Sáu.","to_unit":"pgd-a"}"#.as_bytes(),
    );
    assert_eq!(code, 200, "{sent}");
    let has_it = |net: &Net, unit: &str| {
        net.get(unit, "/api/v1/notifications").1["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["title"] == "Báo cáo sĩ số")
    };
    for s in ["pgd-a", "th-a1", "thcs-a2", "thpt-a3"] {
        net.wait_for(&format!("notification at {s}"), || {
            if has_it(&net, s) {
                Ok(())
            } else {
                Err("not yet".into())
            }
        });
    }
    // B's side has had time to receive it too, had it been sent: A's schools got theirs.
    for s in ["pgd-b", "th-b1", "thcs-b2", "thpt-b3"] {
        assert!(
            !has_it(&net, s),
            "{s} received a notification addressed to pgd-a"
        );
    }
    let id = sent["id"].as_str().unwrap();
    let (code, body) = net.post(
        "thcs-a2",
        &format!("/api/v1/notifications/{id}/read"),
        "application/json",
        b"{}",
    );
    assert_eq!(code, 200, "{body}");
    net.wait_for("read receipt at the department", || {
        let list = net.get("so", "/api/v1/notifications").1;
        let n = list["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .cloned()
            .unwrap();
        if n["read_by"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u == "thcs-a2")
        {
            Ok(())
        } else {
            Err(format!("{n}"))
        }
    });
    // A school cannot notify its parent's subtree.
    let (code, _) = net.post(
        "th-a1",
        "/api/v1/notifications",
        "application/json",
        br#"{"title":"x","body":"y","to_unit":"pgd-a"}"#,
    );
    assert_eq!(code, 404);
    // No token: 401.
    let r = ureq::get(&format!("http://{}/api/v1/status", net.unit("so").http)).call();
    assert!(matches!(r, Err(ureq::Error::Status(401, _))));
    for u in net.units.clone() {
        net.stop(&u.id);
    }
}

/// The standard tree running, every school with tiny seeded rosters, converged at the
/// department.
fn standard_tree_converged(seed: u64) -> (Net, HashMap<String, SchoolFiles>) {
    let mut net = Net::new(&harness::standard_tree());
    net.start_all();
    let mut files = HashMap::new();
    for s in net.schools() {
        import_all(
            &net,
            &mut files,
            &s,
            synth_files(seed, &s, eduioc_synth::Size::Tiny),
        );
    }
    converge(&net, &files, "so");
    (net, files)
}

#[test]
fn crashed_offices_recover_without_double_counting() {
    let (mut net, mut files) = standard_tree_converged(2);
    for (round, office) in ["pgd-a", "so"].into_iter().enumerate() {
        net.kill9(office);
        // Schools keep importing while the office is dead: new students and edits.
        for s in net.schools() {
            import_all(
                &net,
                &mut files,
                &s,
                synth_files(10 + round as u64, &s, eduioc_synth::Size::Tiny),
            );
        }
        net.start(office);
        converge(&net, &files, "so");
        converge(&net, &files, "pgd-a");
        let st = net.status(office);
        assert!(st["rejected"].as_object().unwrap().is_empty(), "{st}");
    }
}

/// `kill -9` of `office` once it has taken in part of a catch-up but not all of it: its
/// log has grown past `base` entries while its figures still differ from the truth.
/// Returns how many entries it held when killed, or `None` when the catch-up finished
/// before a partial state was seen (then nothing was killed).
fn kill9_mid_sync(
    net: &mut Net,
    files: &HashMap<String, SchoolFiles>,
    office: &str,
    base: u64,
) -> Option<u64> {
    let truth = truth_of(net, files, office);
    let started = std::time::Instant::now();
    while started.elapsed() < harness::CONVERGE {
        let entries = net.status(office)["log"]["entries"].as_u64().unwrap();
        if entries > base {
            if truth.check(&net.stats(office, office)).is_ok() {
                return None;
            }
            net.kill9(office);
            eprintln!(
                "{office} killed mid-sync {:.2} s into the catch-up, holding {entries} entries ({base} before it)",
                started.elapsed().as_secs_f64()
            );
            return Some(entries);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("{office} received nothing in {:?}", harness::CONVERGE);
}

#[test]
fn offices_killed_mid_sync_recover_without_double_counting() {
    let (mut net, mut files) = standard_tree_converged(4);
    let schools_a: Vec<String> = net.subtree("pgd-a")[1..].to_vec();
    // Each attempt builds a backlog at district A's schools while A is down, then kills A
    // while it takes the backlog in, and the department while A forwards it up. The
    // backlog grows until both kills land mid-sync.
    let mut killed = (None, None);
    for attempt in 0..4u64 {
        let base_a = net.status("pgd-a")["log"]["entries"].as_u64().unwrap();
        let base_so = net.status("so")["log"]["entries"].as_u64().unwrap();
        net.kill9("pgd-a");
        for round in 0..=attempt {
            for s in &schools_a {
                import_all(
                    &net,
                    &mut files,
                    s,
                    synth_files(20 + 10 * attempt + round, s, eduioc_synth::Size::Realistic),
                );
            }
        }
        net.start("pgd-a");
        if killed.0.is_none() {
            killed.0 = kill9_mid_sync(&mut net, &files, "pgd-a", base_a);
            if killed.0.is_some() {
                net.start("pgd-a");
            }
        }
        if killed.1.is_none() {
            killed.1 = kill9_mid_sync(&mut net, &files, "so", base_so);
            if killed.1.is_some() {
                net.start("so");
            }
        }
        converge(&net, &files, "so");
        converge(&net, &files, "pgd-a");
        if killed.0.is_some() && killed.1.is_some() {
            break;
        }
        eprintln!("attempt {attempt}: a catch-up finished before a kill; a larger backlog next");
    }
    assert!(
        killed.0.is_some() && killed.1.is_some(),
        "no kill landed mid-sync: {killed:?}"
    );
    // Nothing doubled: every student of the backlog is one record at the department.
    for s in &schools_a {
        for id in files[s].students().keys().take(20) {
            let names = names_of(&net, "so", id);
            assert_eq!(names.len(), 1, "{id} at the department: {names:?}");
        }
    }
    for office in ["so", "pgd-a"] {
        let st = net.status(office);
        assert!(st["rejected"].as_object().unwrap().is_empty(), "{st}");
    }
}

#[test]
fn offline_school_catches_up_with_only_what_was_missing() {
    let mut net = Net::new(&[
        ("so", "department", None),
        ("pgd-a", "district", Some("so")),
        ("thcs-a1", "school", Some("pgd-a")),
    ]);
    net.start_all();
    let mut files = HashMap::new();
    import_all(
        &net,
        &mut files,
        "thcs-a1",
        synth_files(3, "thcs-a1", eduioc_synth::Size::Realistic),
    );
    converge(&net, &files, "so");
    let sent_before = net.status("thcs-a1")["wire"]["sent_bytes"]
        .as_u64()
        .unwrap();

    net.stop("pgd-a");
    // Offline: the school keeps accepting imports. Five students change grade.
    let students = files["thcs-a1"].students();
    let mut csv =
        vec!["student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status".to_string()];
    for (id, s) in students
        .iter()
        .filter(|(_, s)| s["status"] == "enrolled")
        .take(5)
    {
        csv.push(format!(
            "{id},{},{},{},{},{},{},dropped_out",
            s["full_name"], s["gender"], s["birth_date"], s["grade"], s["class_id"], s["ethnicity"]
        ));
    }
    let csv = csv.join("\n");
    let r = net.import("thcs-a1", "students", &csv);
    assert_eq!(r["updated"], 5, "{r}");
    files
        .get_mut("thcs-a1")
        .unwrap()
        .files
        .push(("students".into(), csv));
    let st = net.status("thcs-a1");
    assert_eq!(st["parent"]["connected"], false, "{st}");
    let sent_offline = st["wire"]["sent_bytes"].as_u64().unwrap();

    net.start("pgd-a");
    converge(&net, &files, "so");
    let sent_after = net.status("thcs-a1")["wire"]["sent_bytes"]
        .as_u64()
        .unwrap();
    let catch_up = sent_after - sent_offline;
    eprintln!("initial sync {sent_before} bytes; catch-up after the outage {catch_up} bytes");
    assert!(catch_up > 0);
    assert!(
        catch_up * 10 < sent_before,
        "catch-up sent {catch_up} bytes, not proportional to five changed records (initial sync {sent_before})"
    );
}
