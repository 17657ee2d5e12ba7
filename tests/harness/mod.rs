//! A tiny harness for multi-node tests: writes a topology with free loopback ports, runs
//! `eduioc topology generate`, starts and kills real `eduioc run` processes, and talks to
//! their JSON API.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_eduioc");

/// How long a network gets to converge before a test declares it never will.
pub const CONVERGE: Duration = Duration::from_secs(90);

#[derive(Debug, Clone)]
pub struct UnitInfo {
    pub id: String,
    pub level: String,
    pub parent: Option<String>,
    pub http: String,
    pub p2p: String,
}

pub struct Net {
    pub tmp: tempfile::TempDir,
    pub units: Vec<UnitInfo>,
    tokens: HashMap<String, String>,
    procs: HashMap<String, Child>,
}

/// A free loopback port below Linux's ephemeral range (32768-60999), so that no outgoing
/// connection of a running node can take it between this check and the node's bind, and
/// never the same port twice in one test process.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = (std::process::id() * 97) % 12_000;
    for _ in 0..12_000 {
        let port = 20_000 + (base + NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
    panic!("no free port between 20000 and 32000");
}

impl Net {
    /// `spec`: (id, level, parent).
    pub fn new(spec: &[(&str, &str, Option<&str>)]) -> Net {
        let tmp = tempfile::tempdir().unwrap();
        let mut text = String::from("network = \"test\"\n");
        let mut units = Vec::new();
        for (id, level, parent) in spec {
            let u = UnitInfo {
                id: id.to_string(),
                level: level.to_string(),
                parent: parent.map(str::to_string),
                http: format!("127.0.0.1:{}", free_port()),
                p2p: format!("/ip4/127.0.0.1/tcp/{}", free_port()),
            };
            text.push_str(&format!(
                "\n[[unit]]\nid = \"{}\"\nname = \"Đơn vị {}\"\nlevel = \"{}\"\n{}p2p = \"{}\"\nhttp = \"{}\"\n",
                u.id,
                u.id,
                u.level,
                u.parent.as_ref().map(|p| format!("parent = \"{p}\"\n")).unwrap_or_default(),
                u.p2p,
                u.http
            ));
            units.push(u);
        }
        let topo = tmp.path().join("topology.toml");
        std::fs::write(&topo, text).unwrap();
        let out = Command::new(BIN)
            .args(["topology", "generate"])
            .arg(&topo)
            .arg("--out")
            .arg(tmp.path().join("nodes"))
            .args(["--seed", "42"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "generate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut tokens = HashMap::new();
        for u in &units {
            let t = std::fs::read_to_string(tmp.path().join("nodes").join(&u.id).join("api.token"))
                .unwrap();
            tokens.insert(u.id.clone(), t.trim().to_string());
        }
        Net {
            tmp,
            units,
            tokens,
            procs: HashMap::new(),
        }
    }

    pub fn node_dir(&self, id: &str) -> PathBuf {
        self.tmp.path().join("nodes").join(id)
    }

    pub fn unit(&self, id: &str) -> &UnitInfo {
        self.units.iter().find(|u| u.id == id).unwrap()
    }

    pub fn schools(&self) -> Vec<String> {
        self.units
            .iter()
            .filter(|u| u.level == "school")
            .map(|u| u.id.clone())
            .collect()
    }

    pub fn start(&mut self, id: &str) {
        self.start_as(id, "run");
    }

    /// Starts node `id` with `eduioc <command> --dir …` (`run`, `restore`).
    pub fn start_as(&mut self, id: &str, command: &str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.tmp.path().join(format!("{id}.log")))
            .unwrap();
        let child = Command::new(BIN)
            .args([command, "--dir"])
            .arg(self.node_dir(id))
            .env("RUST_LOG", "info,libp2p=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.procs.insert(id.to_string(), child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.try_get(id, "/api/v1/status").is_none() {
            assert!(
                Instant::now() < deadline,
                "{id} did not come up; log:\n{}",
                self.log(id)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn start_all(&mut self) {
        let ids: Vec<String> = self.units.iter().map(|u| u.id.clone()).collect();
        for id in ids {
            self.start(&id);
        }
    }

    /// OS process id of a running node.
    pub fn pid(&self, id: &str) -> u32 {
        self.procs[id].id()
    }

    /// `kill -9`.
    pub fn kill9(&mut self, id: &str) {
        if let Some(mut c) = self.procs.remove(id) {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self, id: &str) {
        if let Some(mut c) = self.procs.remove(id) {
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let status = c.wait().unwrap();
            assert!(
                status.success(),
                "{id} did not exit cleanly: {status:?}; log:\n{}",
                self.log(id)
            );
        }
    }

    /// The node's log: its warnings and errors, then its last lines.
    /// Everything node `id` logged so far.
    pub fn full_log(&self, id: &str) -> String {
        std::fs::read_to_string(self.tmp.path().join(format!("{id}.log"))).unwrap_or_default()
    }

    pub fn log(&self, id: &str) -> String {
        let s =
            std::fs::read_to_string(self.tmp.path().join(format!("{id}.log"))).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        let alarms: Vec<&str> = lines
            .iter()
            .filter(|l| l.contains("ERROR") || l.contains("Error") || l.contains("panicked"))
            .take(10)
            .copied()
            .collect();
        format!(
            "{}\n...\n{}",
            alarms.join("\n"),
            lines[lines.len().saturating_sub(25)..].join("\n")
        )
    }

    fn url(&self, id: &str, path: &str) -> String {
        format!("http://{}{}", self.unit(id).http, path)
    }

    fn auth(&self, id: &str) -> String {
        format!("Bearer {}", self.tokens[id])
    }

    fn try_get(&self, id: &str, path: &str) -> Option<Value> {
        ureq::get(&self.url(id, path))
            .set("Authorization", &self.auth(id))
            .timeout(Duration::from_secs(10))
            .call()
            .ok()?
            .into_json()
            .ok()
    }

    /// GET returning (status, JSON body).
    pub fn get(&self, id: &str, path: &str) -> (u16, Value) {
        respond(
            ureq::get(&self.url(id, path))
                .set("Authorization", &self.auth(id))
                .timeout(Duration::from_secs(30))
                .call(),
        )
    }

    /// POST bytes returning (status, JSON body).
    pub fn post(&self, id: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
        respond(
            ureq::post(&self.url(id, path))
                .set("Authorization", &self.auth(id))
                .set("Content-Type", content_type)
                .timeout(Duration::from_secs(60))
                .send_bytes(body),
        )
    }

    /// PUT a JSON body, returning (status, JSON body).
    pub fn put_json(&self, id: &str, path: &str, body: &Value) -> (u16, Value) {
        respond(
            ureq::put(&self.url(id, path))
                .set("Authorization", &self.auth(id))
                .timeout(Duration::from_secs(30))
                .send_json(body.clone()),
        )
    }

    pub fn import(&self, school: &str, kind: &str, csv: &str) -> Value {
        let (code, body) = self.post(
            school,
            &format!("/api/v1/import/{kind}"),
            "text/csv",
            csv.as_bytes(),
        );
        assert_eq!(code, 200, "import {kind} at {school}: {body}");
        body
    }

    pub fn stats(&self, at: &str, unit: &str) -> Value {
        let (code, body) = self.get(at, &format!("/api/v1/stats?unit={unit}"));
        assert_eq!(code, 200, "stats of {unit} at {at}: {body}");
        body
    }

    pub fn status(&self, id: &str) -> Value {
        let (code, body) = self.get(id, "/api/v1/status");
        assert_eq!(code, 200, "status of {id}: {body}");
        body
    }

    /// Polls `check` until it returns `Ok`, or panics with its last error after `CONVERGE`.
    pub fn wait_for(&self, what: &str, mut check: impl FnMut() -> Result<(), String>) {
        let deadline = Instant::now() + CONVERGE;
        loop {
            match check() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => {
                    let logs: Vec<String> = self
                        .units
                        .iter()
                        .map(|u| format!("--- {} ---\n{}", u.id, self.log(&u.id)))
                        .collect();
                    panic!("{what} never happened: {e}\n{}", logs.join("\n"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Subtree of `unit` (inclusive).
    pub fn subtree(&self, unit: &str) -> Vec<String> {
        let mut out = vec![unit.to_string()];
        let mut i = 0;
        while i < out.len() {
            let cur = out[i].clone();
            out.extend(
                self.units
                    .iter()
                    .filter(|u| u.parent.as_deref() == Some(&cur))
                    .map(|u| u.id.clone()),
            );
            i += 1;
        }
        out
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for (_, mut c) in self.procs.drain() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn respond(r: Result<ureq::Response, ureq::Error>) -> (u16, Value) {
    match r {
        Ok(resp) => {
            let code = resp.status();
            (code, resp.into_json().unwrap_or(Value::Null))
        }
        Err(ureq::Error::Status(code, resp)) => (code, resp.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("HTTP transport error: {e}"),
    }
}

/// The figures `stats` must report for a set of schools, computed from their CSV files.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Truth {
    pub schools: u64,
    pub classes: u64,
    pub enrolled: u64,
    pub dropped_out: u64,
    pub by_grade: std::collections::BTreeMap<String, u64>,
    pub by_gender: std::collections::BTreeMap<String, u64>,
    pub by_level: std::collections::BTreeMap<String, u64>,
    pub staff_active: u64,
    pub teachers: u64,
}

pub fn csv_rows(csv: &str) -> Vec<HashMap<String, String>> {
    let mut lines = csv.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

impl Truth {
    /// Adds one school's current files (the latest file per kind wins, rows upsert by id).
    pub fn add_school(&mut self, files: &SchoolFiles) {
        self.schools += 1;
        self.classes += files.classes().len() as u64;
        for s in files.students().values() {
            match s["status"].as_str() {
                "enrolled" => {
                    self.enrolled += 1;
                    *self.by_grade.entry(s["grade"].clone()).or_default() += 1;
                    *self.by_gender.entry(s["gender"].clone()).or_default() += 1;
                    let level = match s["grade"].parse::<u8>() {
                        Ok(1..=5) => "primary",
                        Ok(6..=9) => "lower_secondary",
                        Ok(_) => "upper_secondary",
                        Err(_) => "preschool",
                    };
                    *self.by_level.entry(level.to_string()).or_default() += 1;
                }
                "dropped_out" => self.dropped_out += 1,
                _ => {}
            }
        }
        for s in files.staff().values() {
            if s["status"] == "active" {
                self.staff_active += 1;
                if s["role"] == "teacher" {
                    self.teachers += 1;
                }
            }
        }
    }

    /// Compares with a `stats` response.
    pub fn check(&self, stats: &Value) -> Result<(), String> {
        let want = serde_json::json!({
            "schools": self.schools, "schools_reporting": self.schools, "classes": self.classes,
            "students": {"enrolled": self.enrolled, "dropped_out": self.dropped_out,
                          "by_grade": self.by_grade, "by_gender": self.by_gender,
                          "by_level": self.by_level},
            "staff": {"active": self.staff_active, "teachers": self.teachers},
        });
        for key in [
            "schools",
            "schools_reporting",
            "classes",
            "students",
            "staff",
        ] {
            if stats[key] != want[key] {
                return Err(format!(
                    "{}: {key} is {} but the truth is {}",
                    stats["unit"], stats[key], want[key]
                ));
            }
        }
        Ok(())
    }
}

/// Every CSV file imported at one school, in order (later rows upsert earlier ones).
#[derive(Debug, Default, Clone)]
pub struct SchoolFiles {
    pub files: Vec<(String, String)>,
}

impl SchoolFiles {
    fn merged(
        &self,
        kind: &str,
        id: &str,
    ) -> std::collections::BTreeMap<String, HashMap<String, String>> {
        let mut out = std::collections::BTreeMap::new();
        for (k, csv) in &self.files {
            if k == kind {
                for r in csv_rows(csv) {
                    out.insert(r[id].clone(), r);
                }
            }
        }
        out
    }
    pub fn students(&self) -> std::collections::BTreeMap<String, HashMap<String, String>> {
        self.merged("students", "student_id")
    }
    pub fn staff(&self) -> std::collections::BTreeMap<String, HashMap<String, String>> {
        self.merged("staff", "staff_id")
    }
    pub fn classes(&self) -> std::collections::BTreeMap<String, HashMap<String, String>> {
        self.merged("classes", "class_id")
    }
}

/// The standard test tree: 1 department, 2 districts, 3 schools each.
pub fn standard_tree() -> Vec<(&'static str, &'static str, Option<&'static str>)> {
    vec![
        ("so", "department", None),
        ("pgd-a", "district", Some("so")),
        ("pgd-b", "district", Some("so")),
        ("th-a1", "school", Some("pgd-a")),
        ("thcs-a2", "school", Some("pgd-a")),
        ("thpt-a3", "school", Some("pgd-a")),
        ("th-b1", "school", Some("pgd-b")),
        ("thcs-b2", "school", Some("pgd-b")),
        ("thpt-b3", "school", Some("pgd-b")),
    ]
}

/// The level of a school id, from its prefix (`thpt-`, `thcs-`, else primary).
pub fn level_of(school: &str) -> eduioc_synth::SchoolLevel {
    if school.starts_with("thpt") {
        eduioc_synth::SchoolLevel::UpperSecondary
    } else if school.starts_with("thcs") {
        eduioc_synth::SchoolLevel::LowerSecondary
    } else {
        eduioc_synth::SchoolLevel::Primary
    }
}

/// Synthetic files for a school id (level from its prefix), seeded.
pub fn synth_files(seed: u64, school: &str, size: eduioc_synth::Size) -> SchoolFiles {
    let d = eduioc_synth::school(seed, school, level_of(school), 2026, size);
    SchoolFiles {
        files: vec![
            ("classes".into(), d.classes_csv),
            ("staff".into(), d.staff_csv),
            ("students".into(), d.students_csv),
        ],
    }
}

pub fn path_exists(p: &Path) -> bool {
    p.exists()
}

/// The same table as an XLSX workbook (numbers as numbers, the rest as text).
pub fn xlsx_of(csv: &str) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (r, line) in csv.lines().enumerate() {
        for (c, cell) in line.split(',').enumerate() {
            match cell.parse::<f64>() {
                Ok(n) if r > 0 => ws.write_number(r as u32, c as u16, n).unwrap(),
                _ => ws.write_string(r as u32, c as u16, cell).unwrap(),
            };
        }
    }
    wb.save_to_buffer().unwrap()
}

pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Every file of a school over two school years, as (year, kind, CSV) in import order:
/// `prev`'s rosters for the year starting in `start - 1`; `cur`'s classes and staff,
/// `students` (`cur`'s roster, or one the test changed), HK1 results, a health exam on
/// `exam` and a profile for the year starting in `start`.
pub fn two_years(
    seed: u64,
    school: &str,
    start: i32,
    prev: &eduioc_synth::SchoolData,
    cur: &eduioc_synth::SchoolData,
    students: String,
    exam: &str,
) -> Vec<(String, &'static str, String)> {
    let last = format!("{}-{start}", start - 1);
    let this = format!("{start}-{}", start + 1);
    vec![
        (last.clone(), "classes", prev.classes_csv.clone()),
        (last.clone(), "staff", prev.staff_csv.clone()),
        (last, "students", prev.students_csv.clone()),
        (this.clone(), "classes", cur.classes_csv.clone()),
        (this.clone(), "staff", cur.staff_csv.clone()),
        (this.clone(), "students", students),
        (
            this.clone(),
            "results",
            eduioc_synth::results_csv(seed, school, cur, start, "HK1"),
        ),
        (
            this.clone(),
            "health",
            eduioc_synth::health_csv(seed, school, cur, start, exam),
        ),
        (
            this,
            "profile",
            eduioc_synth::profile_csv(seed, school, start, cur.classes.len(), (21.0, 105.8)),
        ),
    ]
}
