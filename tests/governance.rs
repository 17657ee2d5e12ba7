//! Governance on real nodes: an account added with `eduioc account` while the school's
//! node runs can log in at once with its role; its login and the import it makes reach
//! the department's audit trail, checked against the signed log; the last admin cannot
//! be removed from the command line.
#![allow(clippy::unwrap_used, missing_docs)]

mod harness;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::Net;

/// Runs `eduioc account …` with `stdin`; returns (success, stdout + stderr).
fn account(args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eduioc"))
        .arg("account")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Logs in to the node's web UI over HTTP: the status and the session cookie, if any.
fn login(net: &Net, id: &str, user: &str, password: &str) -> (u16, Option<String>) {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let r = agent
        .post(&format!("http://{}/login", net.unit(id).http))
        .set("Sec-Fetch-Site", "same-origin")
        .timeout(Duration::from_secs(30))
        .send_form(&[("user", user), ("password", password), ("next", "/")]);
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("login at {id}: {e}"),
    };
    let cookie = resp
        .header("set-cookie")
        .map(|c| c.split(';').next().unwrap().to_string());
    (resp.status(), cookie)
}

#[test]
fn an_account_added_on_the_command_line_logs_in_and_its_actions_reach_the_department() {
    let mut net = Net::new(&[
        ("so-gov", "department", None),
        ("pgd-gov", "district", Some("so-gov")),
        ("th-gov", "school", Some("pgd-gov")),
    ]);
    net.start_all();
    let dir = net.node_dir("th-gov");
    let d = dir.to_str().unwrap();
    let (ok, out) = account(
        &[
            "add",
            "--dir",
            d,
            "--user",
            "thu",
            "--role",
            "clerk",
            "--password-stdin",
        ],
        "mat-khau-cua-thu\n",
    );
    assert!(ok, "{out}");
    let (ok, out) = account(&["list", "--dir", d], "");
    assert!(
        ok && out.contains("thu\tclerk") && out.contains("admin\tadmin"),
        "{out}"
    );
    // The running node reads the file again: the new account logs in with its role.
    let (status, cookie) = login(&net, "th-gov", "thu", "mat-khau-cua-thu");
    assert_eq!(status, 303, "login of the new account");
    assert!(cookie.is_some());
    let (status, _) = login(&net, "th-gov", "thu", "wrong-password");
    assert_eq!(status, 401);
    // Refused with a reason, the file unchanged: the last admin, an unknown role.
    let (ok, out) = account(&["remove", "--dir", d, "--user", "admin"], "");
    assert!(!ok && out.contains("only admin"), "{out}");
    let (ok, out) = account(&["role", "--dir", d, "--user", "thu", "--role", "root"], "");
    assert!(!ok && out.contains("unknown role"), "{out}");
    // A drawn password is printed once and works.
    let (ok, out) = account(&["passwd", "--dir", d, "--user", "thu"], "");
    assert!(ok, "{out}");
    let drawn = out.trim().rsplit(' ').next().unwrap().to_string();
    assert_eq!(login(&net, "th-gov", "thu", &drawn).0, 303, "{out}");
    // The logins reach the department's audit trail, each row checked.
    net.wait_for("the school's logins at the department", || {
        let (code, v) = net.get("so-gov", "/api/v1/audit?unit=th-gov&user=thu");
        if code != 200 {
            return Err(format!("{code} {v}"));
        }
        let rows = v["rows"].as_array().cloned().unwrap_or_default();
        let actions: Vec<&str> = rows.iter().filter_map(|r| r["action"].as_str()).collect();
        let all_ok = rows.iter().all(|r| r["check"] == "ok");
        if actions.iter().filter(|a| **a == "login").count() == 2
            && actions.contains(&"login_failed")
            && all_ok
        {
            Ok(())
        } else {
            Err(format!("{v}"))
        }
    });
    net.stop("th-gov");
    let (ok, out) = account(
        &["role", "--dir", d, "--user", "thu", "--role", "officer"],
        "",
    );
    assert!(ok && out.contains("thu is now officer"), "{out}");
}

const STUDENTS: &str = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n\
    HS001,Nguyễn Văn An,M,2014-01-05,6,6A,Kinh,enrolled\n\
    HS002,Trần Thị Bình,F,2014-03-07,6,6A,Kinh,enrolled\n\
    HS003,Lê Văn Cường,M,2013-11-20,7,7A,Tày,dropped_out\n";

#[test]
fn a_school_whose_store_was_lost_is_restored_from_its_district_without_a_fork() {
    let mut net = Net::new(&[
        ("so-rs", "department", None),
        ("pgd-rs", "district", Some("so-rs")),
        ("th-rs", "school", Some("pgd-rs")),
    ]);
    net.start_all();
    net.import("th-rs", "students", STUDENTS);
    for i in 0..5 {
        let more = format!(
            "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n\
             HS1{i:02},Phạm Thị Dung {i},F,2014-02-0{},6,6B,Kinh,enrolled\n",
            i + 1
        );
        net.import("th-rs", "students", &more);
    }
    let before = net.stats("th-rs", "th-rs");
    let height = |net: &Net, at: &str| net.status(at)["log"]["entries"].as_u64().unwrap();
    net.wait_for("the school's log at its district", || {
        let s = net.stats("pgd-rs", "th-rs");
        (s["students"] == before["students"])
            .then_some(())
            .ok_or(format!("{s}"))
    });
    // The disk dies: the store is gone, the keys and configuration are kept.
    net.stop("th-rs");
    let store = eduioc_engine::store_path(&net.node_dir("th-rs"));
    std::fs::remove_file(&store).unwrap();
    net.start_as("th-rs", "restore");
    net.wait_for("the school restored", || {
        let st = net.status("th-rs");
        let s = net.stats("th-rs", "th-rs");
        (st["restoring"] == false && s["students"] == before["students"])
            .then_some(())
            .ok_or(format!("{st} {s}"))
    });
    assert!(height(&net, "th-rs") > 0);
    // Its next import continues its log: accepted upstream, nothing quarantined.
    let next = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n\
                HS200,Võ Văn Em,M,2014-06-01,6,6A,Kinh,enrolled\n";
    net.import("th-rs", "students", next);
    let want = net.stats("th-rs", "th-rs")["students"]["total"].clone();
    assert_eq!(
        want.as_u64(),
        before["students"]["total"].as_u64().map(|n| n + 1)
    );
    net.wait_for("the new import at the department", || {
        let s = net.stats("so-rs", "th-rs");
        (s["students"]["total"] == want)
            .then_some(())
            .ok_or(format!("{s}"))
    });
    for at in ["pgd-rs", "so-rs"] {
        let st = net.status(at);
        assert_eq!(st["quarantined"], 0, "{at}: {st}");
        assert_eq!(st["rejected"], serde_json::json!({}), "{at}: {st}");
    }
}

/// The school year before this one, by the clock the nodes use (it ended before the
/// move takes effect).
fn last_year() -> String {
    let this = eduioc_engine::school_year_at(chrono::Utc::now().timestamp_millis());
    let start: i32 = this[..4].parse().unwrap();
    format!("{}-{}", start - 1, start)
}

fn enrolled(v: &serde_json::Value) -> u64 {
    v["students"]["enrolled"].as_u64().unwrap_or(0)
        + v["students"]["dropped_out"].as_u64().unwrap_or(0)
}

#[test]
fn a_running_school_reparented_with_the_command_moves_and_every_figure_stays_exact() {
    let mut net = Net::new(&[
        ("so-rp", "department", None),
        ("pgd-rp-a", "district", Some("so-rp")),
        ("pgd-rp-b", "district", Some("so-rp")),
        ("th-rp-1", "school", Some("pgd-rp-a")),
        ("th-rp-2", "school", Some("pgd-rp-a")),
        ("th-rp-3", "school", Some("pgd-rp-b")),
    ]);
    net.start_all();
    for s in ["th-rp-1", "th-rp-2", "th-rp-3"] {
        net.import(s, "students", STUDENTS);
    }
    let per_school = enrolled(&net.stats("th-rp-1", "th-rp-1"));
    assert_eq!(per_school, 3);
    // Last school year's roster of the school that will move.
    let last_year = last_year();
    let (code, v) = net.post(
        "th-rp-1",
        &format!("/api/v1/import/students?year={last_year}"),
        "text/csv",
        STUDENTS.as_bytes(),
    );
    assert_eq!(code, 200, "{v}");
    let last = |at: &str, unit: &str| {
        let (code, v) = net.get(at, &format!("/api/v1/stats?unit={unit}&year={last_year}"));
        assert_eq!(code, 200, "{v}");
        enrolled(&v)
    };
    net.wait_for("every school at the department", || {
        let n = enrolled(&net.stats("so-rp", "so-rp"));
        (n == 3 * per_school).then_some(()).ok_or(format!("{n}"))
    });
    // The department moves th-rp-1 to district b while the school keeps importing.
    let out = Command::new(env!("CARGO_BIN_EXE_eduioc"))
        .args(["topology", "reparent", "--dir"])
        .arg(net.node_dir("so-rp"))
        .args(["--unit", "th-rp-1", "--parent", "pgd-rp-b"])
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.contains("version 2"), "{said}");
    let more = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n\
                HS300,Đỗ Thị Giang,F,2014-09-09,6,6A,Kinh,enrolled\n";
    net.import("th-rp-1", "students", more);
    let moved = per_school + 1;
    net.wait_for(
        "the school under its new district, figures exact everywhere",
        || {
            let st = net.status("th-rp-1");
            let at = |n: &str, u: &str| enrolled(&net.stats(n, u));
            let got = [
                st["parent"]["unit"] == "pgd-rp-b",
                st["parent"]["connected"] == true,
                at("pgd-rp-b", "pgd-rp-b") == moved + per_school,
                at("pgd-rp-a", "pgd-rp-a") == per_school,
                at("so-rp", "pgd-rp-b") == moved + per_school,
                at("so-rp", "pgd-rp-a") == per_school,
                at("so-rp", "so-rp") == moved + 2 * per_school,
                // Last year stays where it was, at both districts and the department.
                last("so-rp", "pgd-rp-a") == per_school,
                last("pgd-rp-a", "pgd-rp-a") == per_school,
                last("so-rp", "pgd-rp-b") == 0,
                last("pgd-rp-b", "pgd-rp-b") == 0,
                last("so-rp", "so-rp") == per_school,
            ];
            got.iter()
                .all(|b| *b)
                .then_some(())
                .ok_or(format!("{got:?} {st}"))
        },
    );
    // Refused with the reason: a district cannot move a school out of its subtree.
    let out = Command::new(env!("CARGO_BIN_EXE_eduioc"))
        .args(["topology", "reparent", "--dir"])
        .arg(net.node_dir("pgd-rp-b"))
        .args(["--unit", "th-rp-3", "--parent", "so-rp"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success() && said.contains("may not move"),
        "{said}"
    );
    for at in ["pgd-rp-a", "pgd-rp-b", "so-rp"] {
        assert_eq!(net.status(at)["quarantined"], 0);
    }
}

#[test]
fn with_records_kept_at_districts_the_department_has_exact_figures_and_no_record() {
    let mut net = Net::new(&[
        ("so-pv", "department", None),
        ("pgd-pv", "district", Some("so-pv")),
        ("th-pv-1", "school", Some("pgd-pv")),
        ("th-pv-2", "school", Some("pgd-pv")),
    ]);
    for u in ["so-pv", "pgd-pv", "th-pv-1", "th-pv-2"] {
        let toml = net.node_dir(u).join("node.toml");
        let text = std::fs::read_to_string(&toml).unwrap();
        std::fs::write(&toml, format!("records_up_to = \"district\"\n{text}")).unwrap();
    }
    net.start_all();
    net.import("th-pv-1", "students", STUDENTS);
    net.import("th-pv-2", "students", STUDENTS);
    let figures = |at: &str, unit: &str| {
        let s = net.stats(at, unit);
        (s["students"].clone(), s["schools_reporting"].clone())
    };
    net.wait_for("the department's figures equal the district's", || {
        let (a, b) = (figures("so-pv", "pgd-pv"), figures("pgd-pv", "pgd-pv"));
        (a == b && enrolled(&net.stats("so-pv", "so-pv")) == 6)
            .then_some(())
            .ok_or(format!("{a:?} {b:?}"))
    });
    for s in ["th-pv-1", "th-pv-2"] {
        assert_eq!(figures("so-pv", s), figures("pgd-pv", s));
    }
    // The district finds the student; the department finds nothing and says why.
    let (_, v) = net.get("pgd-pv", "/api/v1/records/students?q=HS001");
    assert_eq!(v["students"].as_array().unwrap().len(), 2, "{v}");
    let (_, v) = net.get("so-pv", "/api/v1/records/students?q=HS001");
    assert_eq!(v["students"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(v["records_kept_below"], "district", "{v}");
    // No student record in its store: no document, no school's log.
    net.stop("so-pv");
    let store =
        eduioc_store::Store::open(&eduioc_engine::store_path(&net.node_dir("so-pv"))).unwrap();
    assert!(store.doc_keys().unwrap().is_empty());
    let held: Vec<[u8; 32]> = store.heads().unwrap().into_iter().map(|(a, _)| a).collect();
    for school in ["th-pv-1", "th-pv-2"] {
        let hex = std::fs::read_to_string(net.node_dir(school).join("node.key")).unwrap();
        let secret: [u8; 32] = hex::decode(hex.trim()).unwrap().try_into().unwrap();
        let id = eduioc_protocol::NodeKey::from_secret(secret).id();
        assert!(
            !held.contains(id.as_bytes()),
            "{school}'s log is at the department"
        );
    }
    assert!(
        !held.is_empty(),
        "the district's log (its signed summaries) is there"
    );
}
