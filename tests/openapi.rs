//! The OpenAPI document (`GET /api/v1/openapi.json`) against what the nodes really answer.
//!
//! A federation of a department, two districts and a school is driven through every
//! operation the document lists — and through the errors a client will meet: a malformed
//! body or query, a unit outside the subtree, no token, a role the node does not have.
//! Every answer must be one the document lists for its operation and status, of the
//! content type it names, and its JSON must validate against the schema, made strict
//! here (an object may carry no property the schema does not name), so a field a handler
//! adds without the document saying so fails. At the end every operation must have
//! answered `200` at least once.
#![allow(clippy::unwrap_used, missing_docs)]

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use harness::Net;
use serde_json::{json, Value};

const SEED: u64 = 2031;
const SCHOOL: &str = "th-a1";

/// The document, made strict, and what the test saw of it.
struct Checker {
    doc: Value,
    /// (method, path template, status) answered.
    seen: BTreeSet<(String, String, u16)>,
}

/// `unevaluatedProperties: false` on every object schema with properties that is not
/// itself a branch of a combination (a branch sees only part of the object).
fn strict(v: &mut Value, in_branch: bool) {
    match v {
        Value::Object(o) => {
            if o.contains_key("properties")
                && !in_branch
                && !o.contains_key("additionalProperties")
                && !o.contains_key("unevaluatedProperties")
            {
                o.insert("unevaluatedProperties".into(), json!(false));
            }
            for (k, x) in o.iter_mut() {
                strict(x, matches!(k.as_str(), "oneOf" | "anyOf" | "allOf"));
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| strict(x, in_branch)),
        _ => {}
    }
}

/// The template of the document's paths that `path` (under `/api/v1`) matches.
fn template_of<'d>(doc: &'d Value, path: &str) -> Option<&'d str> {
    let segs: Vec<&str> = path.split('/').collect();
    doc["paths"].as_object().unwrap().keys().find_map(|t| {
        let ts: Vec<&str> = t.split('/').collect();
        let same = ts.len() == segs.len()
            && ts
                .iter()
                .zip(&segs)
                .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s);
        same.then_some(t.as_str())
    })
}

impl Checker {
    /// `method` `path` (under `/api/v1`, with its query) at node `id`; the status and the
    /// JSON answered (`Value::String` for text), after checking them against the document.
    fn call(
        &mut self,
        net: &Net,
        id: &str,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
        token: bool,
    ) -> (u16, Value) {
        let url = format!("http://{}/api/v1{path}", net.unit(id).http);
        let mut req = ureq::request(method, &url).timeout(Duration::from_secs(60));
        if token {
            let t = std::fs::read_to_string(net.node_dir(id).join("api.token")).unwrap();
            req = req.set("Authorization", &format!("Bearer {}", t.trim()));
        }
        let res = match body {
            Some((ct, b)) => req.set("Content-Type", ct).send_bytes(b),
            None => req.call(),
        };
        let res = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path} at {id}: {e}"),
        };
        let status = res.status();
        let ct = res.content_type().to_string();
        let text = res.into_string().unwrap();
        let what = format!("{method} {path} at {id} → {status} {ct}: {text:.600}");
        let bare = path.split('?').next().unwrap();
        let template = template_of(&self.doc, bare).map(str::to_string);
        let op = template
            .as_deref()
            .map(|t| &self.doc["paths"][t][method.to_lowercase()])
            .filter(|op| op.is_object());
        let (Some(template), Some(op)) = (template.clone(), op) else {
            // Not an endpoint (the fallback's `404`), or a method its path does not take
            // (`405`): `{"error"}` either way.
            let expected = if template.is_none() { 404 } else { 405 };
            assert_eq!(
                status, expected,
                "the document has no {method} {bare}: {what}"
            );
            self.validate(
                &json!({"$ref": "#/components/schemas/ErrorBody"}),
                &text,
                &what,
            );
            return (status, serde_json::from_str(&text).unwrap());
        };
        let answer = &op["responses"][status.to_string()];
        assert!(
            answer.is_object(),
            "the document lists no {status} for {method} {template}: {what}"
        );
        let content = answer["content"].as_object().unwrap();
        let out = if let Some(j) = content.get("application/json") {
            assert_eq!(ct, "application/json", "{what}");
            let schema = j["schema"].clone();
            self.validate(&schema, &text, &what);
            serde_json::from_str(&text).unwrap()
        } else {
            assert!(
                content.contains_key(&ct),
                "{ct} is not among {content:?}: {what}"
            );
            Value::String(text)
        };
        self.seen.insert((method.to_lowercase(), template, status));
        (status, out)
    }

    fn validate(&self, schema: &Value, text: &str, what: &str) {
        let instance: Value =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {what}"));
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::draft202012::new(&root).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .take(10)
            .collect();
        assert!(
            errors.is_empty(),
            "{what}\ndoes not match the document:\n{}",
            errors.join("\n")
        );
    }

    fn get(&mut self, net: &Net, id: &str, path: &str) -> (u16, Value) {
        self.call(net, id, "GET", path, None, true)
    }

    fn send(
        &mut self,
        net: &Net,
        id: &str,
        method: &str,
        path: &str,
        body: &Value,
    ) -> (u16, Value) {
        let b = serde_json::to_vec(body).unwrap();
        self.call(net, id, method, path, Some(("application/json", &b)), true)
    }

    fn ok(&mut self, net: &Net, id: &str, path: &str) -> Value {
        let (status, v) = self.get(net, id, path);
        assert_eq!(status, 200, "GET {path} at {id}: {v}");
        v
    }
}

/// Checks `doc` against the OpenAPI 3.1 specification's own schema, with the Python
/// package `openapi-spec-validator` (`.ci/run` installs it and sets
/// `EDUIOC_OPENAPI_TESTS=require`: then its absence fails the test).
fn valid_openapi(doc: &Value) {
    let required = std::env::var("EDUIOC_OPENAPI_TESTS").as_deref() == Ok("require");
    let probe = std::process::Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            !required,
            "python3 -m pip install openapi-spec-validator: it is required"
        );
        eprintln!("openapi-spec-validator is not installed: the document's form is not checked");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(doc).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import validate\n\
             validate(json.load(open(sys.argv[1])))",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "not a valid OpenAPI 3.1 document: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The school's files: last year's and this year's, with a crowded class (an alert),
/// results, health and profile (every indicator).
fn files(start: i32) -> Vec<(String, &'static str, String)> {
    let (level, size) = (eduioc_synth::SchoolLevel::Primary, eduioc_synth::Size::Tiny);
    let prev = eduioc_synth::school(SEED, SCHOOL, level, start - 1, size);
    let cur = eduioc_synth::next_year(SEED, &prev, SCHOOL, level, start, size);
    let cur = eduioc_synth::crowd_first_class(&cur, 10);
    // The exam on 15 September, or today before then (a date to come is refused).
    let today = chrono::Utc::now().date_naive();
    let exam = chrono::NaiveDate::from_ymd_opt(start, 9, 15)
        .map_or(today, |d| d.min(today))
        .format("%Y-%m-%d")
        .to_string();
    let students = cur.students_csv.clone();
    harness::two_years(SEED, SCHOOL, start, &prev, &cur, students, &exam)
}

#[test]
fn every_endpoint_answers_as_the_openapi_document_says() {
    let mut net = Net::new(&[
        ("so", "department", None),
        ("pgd-a", "district", Some("so")),
        ("pgd-b", "district", Some("so")),
        (SCHOOL, "school", Some("pgd-a")),
    ]);
    net.start_all();
    let this = eduioc_engine::school_year_at(chrono::Utc::now().timestamp_millis());
    let start: i32 = this[..4].parse().unwrap();

    // The document (behind the token, as every request), and its own operation checked
    // against it.
    let url = format!("http://{}/api/v1/openapi.json", net.unit("so").http);
    let token = std::fs::read_to_string(net.node_dir("so").join("api.token")).unwrap();
    let mut doc: Value = ureq::get(&url)
        .set("Authorization", &format!("Bearer {}", token.trim()))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    valid_openapi(&doc);
    strict(&mut doc, false);
    let mut c = Checker {
        doc,
        seen: BTreeSet::new(),
    };
    let served = c.call(&net, "pgd-b", "GET", "/openapi.json", None, true).1;
    assert_eq!(
        served["paths"],
        c.call(&net, "so", "GET", "/openapi.json", None, true).1["paths"]
    );
    assert_eq!(
        c.call(&net, "so", "GET", "/openapi.json", None, false).0,
        401
    );
    assert_eq!(
        c.call(&net, "so", "POST", "/openapi.json", None, true).0,
        405
    );

    // Imports at the school: every file, then a bad one, then one at an office.
    for (year, kind, csv) in files(start) {
        let path = format!("/import/{kind}?year={year}");
        let (status, v) = c.call(
            &net,
            SCHOOL,
            "POST",
            &path,
            Some(("text/csv", csv.as_bytes())),
            true,
        );
        assert_eq!(status, 200, "{kind} {year}: {v}");
    }
    let bad = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n\
               hs1,An,X,2019-13-01,99,1A,Kinh,enrolled\n";
    let (status, v) = c.call(
        &net,
        SCHOOL,
        "POST",
        "/import/students",
        Some(("text/csv", bad.as_bytes())),
        true,
    );
    assert_eq!(status, 422, "{v}");
    assert!(v["errors"].as_array().unwrap().len() >= 3, "{v}");
    let (status, _) = c.call(
        &net,
        SCHOOL,
        "POST",
        "/import/nothing",
        Some(("text/csv", b"a\n1\n")),
        true,
    );
    assert!((400..500).contains(&status));
    let (status, _) = c.call(
        &net,
        "so",
        "POST",
        "/import/students",
        Some(("text/csv", bad.as_bytes())),
        true,
    );
    assert!((400..500).contains(&status));

    // The department holds the school's data.
    net.wait_for("the school's data at the department", || {
        let (_, s) = c.get(&net, "so", &format!("/stats?unit={SCHOOL}"));
        (s["schools_reporting"] == 1 && s["students"]["enrolled"].as_u64() > Some(0))
            .then_some(())
            .ok_or(s.to_string())
    });

    // Figures.
    for id in ["so", "pgd-a", SCHOOL] {
        c.ok(&net, id, "/status");
    }
    c.ok(&net, "so", "/stats");
    c.ok(&net, "so", &format!("/stats?year={this}"));
    assert_eq!(c.get(&net, "so", "/stats?unit=nowhere").0, 404);
    c.ok(&net, "so", "/indicators");
    c.ok(
        &net,
        "so",
        &format!("/indicators?unit={SCHOOL}&year={this}&term=HK1"),
    );
    assert_eq!(c.get(&net, "so", "/indicators?term=HK7").0, 400);
    c.ok(&net, "so", "/forecast?years=3");
    assert_eq!(c.get(&net, "so", "/forecast?years=many").0, 400);
    assert_eq!(c.get(&net, "pgd-b", "/forecast").0, 422);

    // Targets: set at the department, refused at the school, listed in pages.
    for (indicator, value) in [("dropout_rate", 1.0), ("students_per_class", 30.0)] {
        let t = json!({"unit": SCHOOL, "year": this, "indicator": indicator, "op": "<=", "value": value});
        let (status, v) = c.send(&net, "so", "PUT", "/targets", &t);
        assert_eq!(status, 200, "{v}");
    }
    let t = json!({"unit": SCHOOL, "year": this, "indicator": "happiness", "op": "<=", "value": 1});
    assert_eq!(c.send(&net, "so", "PUT", "/targets", &t).0, 422);
    let t =
        json!({"unit": SCHOOL, "year": this, "indicator": "dropout_rate", "op": "<=", "value": 1});
    assert_eq!(c.send(&net, SCHOOL, "PUT", "/targets", &t).0, 403);
    assert_eq!(
        c.send(&net, "so", "PUT", "/targets", &json!({"unit": 1})).0,
        400
    );
    let all = c.ok(&net, "so", &format!("/targets?unit={SCHOOL}&year={this}"));
    assert_eq!(all["targets"].as_array().unwrap().len(), 2, "{all}");
    let first = c.ok(
        &net,
        "so",
        &format!("/targets?unit={SCHOOL}&year={this}&limit=1"),
    );
    let next = first["next"].as_str().unwrap().to_string();
    let second = c.ok(
        &net,
        "so",
        &format!("/targets?unit={SCHOOL}&year={this}&limit=1&cursor={next}"),
    );
    assert!(second.get("next").is_none(), "{second}");
    assert_eq!(c.get(&net, "so", "/targets?limit=0").0, 400);
    assert_eq!(c.get(&net, "so", "/targets?limit=lots").0, 400);

    // Alerts: the crowded class, acknowledged at the department.
    let mut alert = String::new();
    net.wait_for("an alert at the department", || {
        let (_, v) = c.get(&net, "so", &format!("/alerts?year={this}"));
        let a = v["alerts"].as_array().cloned().unwrap_or_default();
        match a.iter().find(|a| a["rule"] == "class_over_size") {
            Some(a) => {
                alert = a["id"].as_str().unwrap().to_string();
                Ok(())
            }
            None => Err(v.to_string()),
        }
    });
    c.ok(&net, "so", &format!("/alerts?year={this}&limit=1"));
    let (status, v) = c.send(
        &net,
        "so",
        "POST",
        &format!("/alerts/{alert}/ack"),
        &json!({"note": "đã xử lý"}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        c.send(
            &net,
            "so",
            "POST",
            "/alerts/nothing-like-it/ack",
            &json!({})
        )
        .0,
        404
    );
    let (status, _) = c.call(
        &net,
        "so",
        "POST",
        &format!("/alerts/{alert}/ack"),
        Some(("application/json", b"{")),
        true,
    );
    assert_eq!(status, 400);

    // Records.
    let hits = c.ok(&net, "so", "/records/students?q=a&limit=5");
    assert!(!hits["students"].as_array().unwrap().is_empty(), "{hits}");
    c.ok(&net, "pgd-a", "/records/staff?q=a");
    assert_eq!(
        c.get(&net, "pgd-b", &format!("/records/students?unit={SCHOOL}"))
            .0,
        404
    );

    // Notifications: down to the school, read there.
    let n = json!({"title": "Báo cáo HK1", "body": "Nộp trước 15/1.", "to_unit": SCHOOL});
    let (status, sent) = c.send(&net, "so", "POST", "/notifications", &n);
    assert_eq!(status, 200, "{sent}");
    assert_eq!(
        c.send(&net, "so", "POST", "/notifications", &json!({"title": "x"}))
            .0,
        400
    );
    let (status, _) = c.send(
        &net,
        SCHOOL,
        "POST",
        "/notifications",
        &json!({"title": "x", "body": "y", "to_unit": "so"}),
    );
    assert!((400..500).contains(&status));
    let id = sent["id"].as_str().unwrap().to_string();
    net.wait_for("the notification at the school", || {
        let (_, v) = c.get(&net, SCHOOL, "/notifications");
        v["notifications"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n["id"] == id.as_str())
            .then_some(())
            .ok_or(v.to_string())
    });
    c.ok(&net, SCHOOL, "/notifications?limit=10");
    let (status, v) = c.call(
        &net,
        SCHOOL,
        "POST",
        &format!("/notifications/{id}/read"),
        None,
        true,
    );
    assert_eq!(status, 200, "{v}");
    let (status, _) = c.call(
        &net,
        SCHOOL,
        "POST",
        "/notifications/so/many/read",
        None,
        true,
    );
    assert_eq!(status, 400);
    let (status, _) = c.call(
        &net,
        SCHOOL,
        "POST",
        "/notifications/so/999999/read",
        None,
        true,
    );
    assert_eq!(status, 404);

    // Term reports: submitted at the school, approved by its district.
    let step = |step: &str, comment: &str| json!({"school": SCHOOL, "year": this, "term": "HK1", "step": step, "comment": comment});
    let (status, v) = c.send(&net, SCHOOL, "POST", "/reports", &step("submit", ""));
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        c.send(&net, SCHOOL, "POST", "/reports", &json!({"school": SCHOOL}))
            .0,
        400
    );
    net.wait_for("the submission at the district", || {
        let (_, v) = c.get(&net, "pgd-a", &format!("/reports?year={this}&term=HK1"));
        v["reports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["status"] == "submitted")
            .then_some(())
            .ok_or(v.to_string())
    });
    let (status, _) = c.send(&net, "pgd-a", "POST", "/reports", &step("return", ""));
    assert!((400..500).contains(&status));
    let (status, v) = c.send(&net, "pgd-a", "POST", "/reports", &step("approve", "ok"));
    assert_eq!(status, 200, "{v}");
    let page = c.ok(&net, "pgd-a", &format!("/reports?year={this}&limit=1"));
    assert!(
        page["next"].is_string(),
        "three terms, one per page: {page}"
    );

    // Audit, metrics, export.
    let audit = c.ok(&net, "so", "/audit?limit=2");
    if let Some(next) = audit["next"].as_str() {
        c.ok(&net, "so", &format!("/audit?limit=2&cursor={next}"));
    }
    let metrics = c.ok(&net, "so", "/metrics");
    assert!(metrics.as_str().unwrap().contains("eduioc_"), "{metrics}");
    let feed = c.ok(&net, "so", "/export/feed?limit=3");
    c.ok(&net, "so", &format!("/export/feed?cursor={}", feed["next"]));
    assert_eq!(c.get(&net, "so", "/export/feed?cursor=minus-one").0, 400);
    c.ok(&net, "so", "/export/units");

    // No token; no such endpoint.
    assert_eq!(c.call(&net, "so", "GET", "/status", None, false).0, 401);
    assert_eq!(c.get(&net, "so", "/no/such/thing").0, 404);
    assert_eq!(c.call(&net, "so", "DELETE", "/targets", None, true).0, 405);

    // Re-parenting, last: it moves the school.
    let p = json!({"parent": "pgd-b"});
    assert_eq!(
        c.send(&net, "so", "POST", "/units/nowhere/parent", &p).0,
        404
    );
    assert_eq!(
        c.send(
            &net,
            "so",
            "POST",
            &format!("/units/{SCHOOL}/parent"),
            &json!({"parent": 7})
        )
        .0,
        400
    );
    let (status, v) = c.send(&net, "so", "POST", &format!("/units/{SCHOOL}/parent"), &p);
    assert_eq!(status, 200, "{v}");

    // Every operation answered 200.
    let mut missing = Vec::new();
    let mut by_op: BTreeMap<(String, String), Vec<u16>> = BTreeMap::new();
    for (m, t, s) in &c.seen {
        by_op.entry((m.clone(), t.clone())).or_default().push(*s);
    }
    for (path, item) in c.doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let statuses = by_op
                .get(&(method.clone(), path.clone()))
                .cloned()
                .unwrap_or_default();
            if !statuses.contains(&200) {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(missing.is_empty(), "never answered 200: {missing:?}");
    eprintln!("answers checked, by operation: {by_op:?}");
}
