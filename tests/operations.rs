//! The operations center on real nodes (CONTRACT Part 2), against values this test computes
//! itself from the files it imports:
//!
//! - every indicator of every unit, at every office that holds it;
//! - every alert rule (fork: `hostile.rs`): the ids listed at the department are exactly
//!   those the files call for; an alert of a school has the same id at the school, its
//!   district and the department, and an acknowledgement at the district shows there too;
//! - the forecast of the department;
//! - a target the department sets for a school while the school's district is down
//!   reaches the school once the district is back, and is listed there with its actual.
#![allow(clippy::unwrap_used, missing_docs)]

mod harness;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use harness::{csv_rows, standard_tree, Net};
use serde_json::{json, Value};

const SEED: u64 = 77;
/// Shared by two schools of different districts: a `duplicate_student` at the department.
const TWICE: &str = "001214000777";

/// The school years: this one (as the nodes' clock says) and the one before.
fn years() -> (i32, String, String) {
    let this = eduioc_engine::school_year_at(chrono::Utc::now().timestamp_millis());
    let start: i32 = this[..4].parse().unwrap();
    (start, format!("{}-{}", start - 1, start), this)
}

fn level_of(school: &str) -> eduioc_synth::SchoolLevel {
    match school {
        s if s.starts_with("thpt") => eduioc_synth::SchoolLevel::UpperSecondary,
        s if s.starts_with("thcs") => eduioc_synth::SchoolLevel::LowerSecondary,
        _ => eduioc_synth::SchoolLevel::Primary,
    }
}

/// Every file of a school, per school year: (year, kind, CSV).
fn files_of(school: &str, start: i32) -> Vec<(String, &'static str, String)> {
    let (level, size) = (level_of(school), eduioc_synth::Size::Tiny);
    let prev = eduioc_synth::school(SEED, school, level, start - 1, size);
    let mut cur = eduioc_synth::next_year(SEED, &prev, school, level, start, size);
    if school == "thcs-a2" {
        cur = eduioc_synth::more_dropouts(&cur, 6);
    }
    if school == "th-a1" {
        cur = eduioc_synth::crowd_first_class(&cur, 10);
    }
    let today = chrono::Utc::now().date_naive();
    let exam = chrono::NaiveDate::from_ymd_opt(start, 9, 15)
        .map_or(today, |d| d.min(today))
        .format("%Y-%m-%d")
        .to_string();
    let mut students = cur.students_csv.clone();
    if school == "th-a1" || school == "th-b1" {
        // One more child, under the same personal id at both schools.
        let class = &cur.classes[0];
        students = format!(
            "{},personal_id\n{}hs-{school}-twice,Lê Văn Hai,M,{}-01-01,{},{},Kinh,enrolled,{TWICE}\n",
            eduioc_synth::STUDENTS_HEADER,
            students
                .lines()
                .skip(1)
                .map(|l| format!("{l},\n"))
                .collect::<String>(),
            start - 6,
            class.grade,
            class.class_id
        );
    }
    harness::two_years(SEED, school, start, &prev, &cur, students, &exam)
}

/// What the test computes from one school's files of one school year.
#[derive(Default, Clone, Debug)]
struct School {
    enrolled: u64,
    dropped: u64,
    /// Enrolled per grade code.
    by_grade: BTreeMap<String, u64>,
    classes: u64,
    /// (class id, grade, size) of classes above their cap.
    oversized: Vec<(String, String, u64)>,
    teachers: u64,
    qualified: u64,
    /// (rated, good) academic and conduct, HK1.
    academic: (u64, u64),
    conduct: (u64, u64),
    /// (examined, malnourished, overweight).
    health: (u64, u64, u64),
    /// (profiles, solid rooms, all rooms, clean water, standard).
    profile: (u64, u64, u64, u64, u64),
    personal_ids: Vec<String>,
}

fn cap(grade: &str) -> u64 {
    match grade.parse::<u8>() {
        Ok(1..=5) => 35,
        Ok(_) => 45,
        Err(_) => 25,
    }
}

fn school_of(files: &[(String, &'static str, String)], year: &str) -> School {
    let rows = |kind: &str| -> Vec<HashMap<String, String>> {
        files
            .iter()
            .filter(|(y, k, _)| y == year && *k == kind)
            .flat_map(|(_, _, csv)| csv_rows(csv))
            .collect()
    };
    let mut s = School::default();
    let students = rows("students");
    let enrolled: HashMap<&str, &HashMap<String, String>> = students
        .iter()
        .filter(|r| r["status"] == "enrolled")
        .map(|r| (r["student_id"].as_str(), r))
        .collect();
    s.enrolled = enrolled.len() as u64;
    s.dropped = students
        .iter()
        .filter(|r| r["status"] == "dropped_out")
        .count() as u64;
    let mut size: HashMap<&str, u64> = HashMap::new();
    for r in enrolled.values() {
        *s.by_grade.entry(r["grade"].clone()).or_default() += 1;
        *size.entry(r["class_id"].as_str()).or_default() += 1;
        if let Some(p) = r.get("personal_id").filter(|p| !p.is_empty()) {
            s.personal_ids.push(p.clone());
        }
    }
    for c in rows("classes") {
        s.classes += 1;
        let n = size.get(c["class_id"].as_str()).copied().unwrap_or(0);
        if n > cap(&c["grade"]) {
            s.oversized
                .push((c["class_id"].clone(), c["grade"].clone(), n));
        }
    }
    for t in rows("staff") {
        if t["status"] == "active" && t["role"] == "teacher" {
            s.teachers += 1;
            s.qualified += u64::from(matches!(
                t["qualification"].as_str(),
                "bachelor" | "master" | "doctor"
            ));
        }
    }
    let good = |v: &str| u64::from(v == "excellent" || v == "good");
    for r in rows("results") {
        if r["term"] != "HK1" || !enrolled.contains_key(r["student_id"].as_str()) {
            continue;
        }
        s.academic = (s.academic.0 + 1, s.academic.1 + good(&r["academic"]));
        if !r["conduct"].is_empty() {
            s.conduct = (s.conduct.0 + 1, s.conduct.1 + good(&r["conduct"]));
        }
    }
    for r in rows("health") {
        if enrolled.contains_key(r["student_id"].as_str()) {
            let n = r["nutrition"].as_str();
            s.health.0 += 1;
            s.health.1 += u64::from(n == "underweight" || n == "stunted");
            s.health.2 += u64::from(n == "overweight" || n == "obese");
        }
    }
    for p in rows("profile") {
        let n = |k: &str| p[k].parse::<u64>().unwrap();
        s.profile = (
            1,
            n("classrooms_solid"),
            n("classrooms_solid") + n("classrooms_semi_solid") + n("classrooms_temporary"),
            u64::from(p["clean_water"] == "yes"),
            u64::from(p["national_standard"] != "none"),
        );
    }
    s
}

/// The indicators of a set of schools (`None`: a school that sent nothing), as CONTRACT
/// Part 2 defines them: code → (numerator, denominator).
fn indicators(schools: &[Option<&School>]) -> BTreeMap<&'static str, (u64, u64)> {
    let held: Vec<&School> = schools.iter().flatten().copied().collect();
    let sum = |f: &dyn Fn(&School) -> u64| held.iter().map(|s| f(s)).sum::<u64>();
    BTreeMap::from([
        (
            "dropout_rate",
            (sum(&|s| s.dropped), sum(&|s| s.enrolled + s.dropped)),
        ),
        (
            "students_per_class",
            (sum(&|s| s.enrolled), sum(&|s| s.classes)),
        ),
        (
            "students_per_teacher",
            (sum(&|s| s.enrolled), sum(&|s| s.teachers)),
        ),
        (
            "oversized_class_rate",
            (sum(&|s| s.oversized.len() as u64), sum(&|s| s.classes)),
        ),
        (
            "teachers_qualified_rate",
            (sum(&|s| s.qualified), sum(&|s| s.teachers)),
        ),
        (
            "academic_good_rate",
            (sum(&|s| s.academic.1), sum(&|s| s.academic.0)),
        ),
        (
            "conduct_good_rate",
            (sum(&|s| s.conduct.1), sum(&|s| s.conduct.0)),
        ),
        (
            "malnutrition_rate",
            (sum(&|s| s.health.1), sum(&|s| s.health.0)),
        ),
        (
            "overweight_rate",
            (sum(&|s| s.health.2), sum(&|s| s.health.0)),
        ),
        (
            "solid_classroom_rate",
            (sum(&|s| s.profile.1), sum(&|s| s.profile.2)),
        ),
        (
            "national_standard_rate",
            (sum(&|s| s.profile.4), sum(&|s| s.profile.0)),
        ),
        (
            "clean_water_rate",
            (sum(&|s| s.profile.3), sum(&|s| s.profile.0)),
        ),
        ("reporting_rate", (held.len() as u64, schools.len() as u64)),
    ])
}

fn is_ratio(code: &str) -> bool {
    code == "students_per_class" || code == "students_per_teacher"
}

/// Checks a node's `indicators` answer against the expected counts.
fn check_indicators(got: &Value, want: &BTreeMap<&'static str, (u64, u64)>) -> Result<(), String> {
    let list = got["indicators"]
        .as_array()
        .ok_or(format!("no indicators: {got}"))?;
    if list.len() != want.len() {
        return Err(format!("{} indicators: {got}", list.len()));
    }
    for i in list {
        let code = i["code"].as_str().unwrap();
        let (n, d) = want[code];
        let value = (d > 0).then(|| {
            let r = n as f64 / d as f64;
            if is_ratio(code) {
                r
            } else {
                100.0 * n as f64 / d as f64
            }
        });
        let ok = i["numerator"].as_f64() == Some(n as f64)
            && i["denominator"].as_f64() == Some(d as f64)
            && match (value, i["value"].as_f64()) {
                (None, None) => i["value"].is_null(),
                (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                _ => false,
            };
        if !ok {
            return Err(format!("{code}: expected {n}/{d} = {value:?}, got {i}"));
        }
    }
    Ok(())
}

/// The grade-ratio projection of CONTRACT Part 2, written out again: year → grade → N.
fn forecast(
    before: &BTreeMap<String, u64>,
    base: &BTreeMap<String, u64>,
    years: usize,
) -> Vec<BTreeMap<String, u64>> {
    let chain: Vec<String> = (1..=12).map(|g: u8| g.to_string()).collect();
    let e = |m: &BTreeMap<String, u64>, g: &str| m.get(g).copied().unwrap_or(0) as f64;
    let mut ratio: BTreeMap<&str, f64> = BTreeMap::new();
    for w in chain.windows(2) {
        if e(before, &w[0]) > 0.0 {
            ratio.insert(&w[1], e(base, &w[1]) / e(before, &w[0]));
        }
    }
    let mut cur: BTreeMap<String, f64> = chain.iter().map(|g| (g.clone(), e(base, g))).collect();
    let mut out = Vec::new();
    for _ in 0..years {
        let mut next = BTreeMap::new();
        for (i, g) in chain.iter().enumerate() {
            let v = match (ratio.get(g.as_str()), i.checked_sub(1)) {
                (Some(r), Some(p)) => cur[&chain[p]] * r,
                _ => e(base, g),
            };
            next.insert(g.clone(), v);
        }
        out.push(
            next.iter()
                .map(|(g, v)| (g.clone(), v.round() as u64))
                .filter(|(_, v)| *v > 0)
                .collect(),
        );
        cur = next;
    }
    out
}

#[test]
fn indicators_alerts_forecast_and_targets_equal_what_the_files_say() {
    let (start, last, this) = years();
    let mut net = Net::new(&standard_tree());
    net.start_all();
    // thpt-b3 sends nothing: not reporting.
    let senders: Vec<String> = net
        .schools()
        .into_iter()
        .filter(|s| s != "thpt-b3")
        .collect();
    let mut files: HashMap<String, Vec<(String, &'static str, String)>> = HashMap::new();
    for s in &senders {
        let f = files_of(s, start);
        for (year, kind, csv) in &f {
            let (code, body) = net.post(
                s,
                &format!("/api/v1/import/{kind}?year={year}"),
                "text/csv",
                csv.as_bytes(),
            );
            assert_eq!(code, 200, "{kind} {year} at {s}: {body}");
        }
        files.insert(s.clone(), f);
    }
    let now: HashMap<&str, School> = files
        .iter()
        .map(|(s, f)| (s.as_str(), school_of(f, &this)))
        .collect();
    let before: HashMap<&str, School> = files
        .iter()
        .map(|(s, f)| (s.as_str(), school_of(f, &last)))
        .collect();

    // Targets: the department's for th-a1, the district's for thcs-a2.
    let target = |net: &Net, at: &str, unit: &str, indicator: &str, op: &str, value: f64| {
        let body =
            json!({"unit": unit, "year": this, "indicator": indicator, "op": op, "value": value});
        let (code, v) = net.put_json(at, "/api/v1/targets", &body);
        assert_eq!(code, 200, "{v}");
        v["id"].as_str().unwrap().to_string()
    };
    let t1 = target(&net, "so", "th-a1", "dropout_rate", "<=", 0.0);
    let t2 = target(&net, "pgd-a", "thcs-a2", "students_per_class", ">=", 1000.0);

    // 1. Every indicator of every unit, at the department and at each district.
    let schools_under = |unit: &str| -> Vec<String> {
        net.subtree(unit)
            .into_iter()
            .filter(|u| u.starts_with("th"))
            .collect()
    };
    for at in ["so", "pgd-a", "pgd-b"] {
        for unit in net.subtree(at) {
            let under = schools_under(&unit);
            let set: Vec<Option<&School>> = under.iter().map(|u| now.get(u.as_str())).collect();
            let want = indicators(&set);
            net.wait_for(&format!("indicators of {unit} at {at}"), || {
                let (code, got) = net.get(
                    at,
                    &format!("/api/v1/indicators?unit={unit}&year={this}&term=HK1"),
                );
                if code != 200 {
                    return Err(format!("{code} {got}"));
                }
                check_indicators(&got, &want)
            });
        }
    }

    // 2. Alerts at the department: exactly what the files call for.
    let mut want: BTreeSet<String> = BTreeSet::new();
    for (s, sch) in &now {
        for (class, _, _) in &sch.oversized {
            want.insert(format!("class_over_size:{s}:{this}:{class}"));
        }
        let rate = |x: &School| 100.0 * x.dropped as f64 / (x.enrolled + x.dropped) as f64;
        let prev = &before[s];
        if prev.enrolled + prev.dropped > 0 && rate(sch) > rate(prev) + 1.0 {
            want.insert(format!("dropout_rising:{s}:{this}"));
        }
    }
    want.insert(format!("not_reporting:thpt-b3:{this}"));
    want.insert(format!("duplicate_student:so:{this}:{TWICE}"));
    let a1 = &now["th-a1"];
    if a1.dropped > 0 {
        want.insert(format!("target_not_met:th-a1:{t1}"));
    }
    want.insert(format!("target_not_met:thcs-a2:{t2}"));
    assert!(
        want.iter().any(|a| a.starts_with("class_over_size:th-a1")),
        "the crowded class: {want:?}"
    );
    assert!(
        want.iter().any(|a| a.starts_with("dropout_rising:thcs-a2")),
        "the rising dropout: {want:?}"
    );
    let ids_at = |at: &str, unit: &str| -> Result<BTreeSet<String>, String> {
        let (code, v) = net.get(at, &format!("/api/v1/alerts?unit={unit}&year={this}"));
        if code != 200 {
            return Err(format!("{code} {v}"));
        }
        Ok(v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect())
    };
    net.wait_for("the department's alerts", || {
        let got = ids_at("so", "so")?;
        (got == want)
            .then_some(())
            .ok_or(format!("expected {want:?}\n     got {got:?}"))
    });
    // The same ids at the school and its district; acknowledged at the district, shown so at
    // the department.
    let school_alert = want
        .iter()
        .find(|a| a.starts_with("dropout_rising:thcs-a2"))
        .unwrap()
        .clone();
    for at in ["thcs-a2", "pgd-a"] {
        let got = ids_at(at, at).unwrap();
        assert!(
            got.contains(&school_alert),
            "{school_alert} not at {at}: {got:?}"
        );
    }
    let (code, v) = net.post(
        "pgd-a",
        &format!("/api/v1/alerts/{school_alert}/ack"),
        "application/json",
        r#"{"note":"Đã làm việc với trường"}"#.as_bytes(),
    );
    assert_eq!(code, 200, "{v}");
    net.wait_for("the district's acknowledgement at the department", || {
        let (_, v) = net.get("so", &format!("/api/v1/alerts?year={this}"));
        let a = v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == school_alert.as_str())
            .cloned()
            .unwrap_or_default();
        (a["acknowledged"]["by"] == "pgd-a"
            && a["acknowledged"]["note"] == "Đã làm việc với trường")
            .then_some(())
            .ok_or(format!("{a}"))
    });

    // 3. The forecast of the department, from every school's files.
    let sum_grades = |m: &HashMap<&str, School>| -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for s in m.values() {
            for (g, n) in &s.by_grade {
                *out.entry(g.clone()).or_insert(0) += n;
            }
        }
        out
    };
    let expected = forecast(&sum_grades(&before), &sum_grades(&now), 3);
    let (code, fc) = net.get("so", "/api/v1/forecast?years=3");
    assert_eq!(code, 200, "{fc}");
    assert_eq!(fc["base_year"], this.as_str());
    for (y, want) in fc["years"].as_array().unwrap().iter().zip(&expected) {
        let got: BTreeMap<String, u64> = serde_json::from_value(y["by_grade"].clone()).unwrap();
        assert_eq!(&got, want, "{y}");
        assert_eq!(y["total"].as_u64(), Some(want.values().sum()), "{y}");
        let classes: u64 = want.iter().map(|(g, n)| n.div_ceil(cap(g))).sum();
        assert_eq!(y["classes_needed"].as_u64(), Some(classes), "{y}");
    }

    // 4. A target set while the school's district is down reaches the school when it is back.
    net.stop("pgd-a");
    let t3 = target(&net, "so", "th-a1", "teachers_qualified_rate", ">=", 50.0);
    net.start("pgd-a");
    let (n, d) = (a1.qualified, a1.teachers);
    let actual = 100.0 * n as f64 / d as f64;
    net.wait_for("the department's target at the school", || {
        let (_, v) = net.get("th-a1", &format!("/api/v1/targets?year={this}"));
        let t = v["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == t3.as_str())
            .cloned()
            .ok_or(format!("{v}"))?;
        let got = t["actual"].as_f64().unwrap_or(f64::NAN);
        let status = if actual >= 50.0 { "met" } else { "not_met" };
        ((got - actual).abs() < 1e-9 && t["status"] == status && t["set_by"] == "so")
            .then_some(())
            .ok_or(format!("{t}"))
    });
}
