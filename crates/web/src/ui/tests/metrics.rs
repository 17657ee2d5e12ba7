//! `GET /metrics`: the Prometheus text format, behind the token, moving with the node.

use super::*;
use std::collections::BTreeMap;

/// Every sample of a Prometheus text exposition, checked line by line: `# HELP` and
/// `# TYPE` comments, then `name{labels} value` with a numeric value.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "bad labels in {line:?}"
            );
        }
        let v: f64 = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        out.insert(series.to_string(), v);
    }
    out
}

async fn scrape(n: &Node, path: &str) -> BTreeMap<String, f64> {
    let (status, headers, body) = send(&n.app, api_get(n, path)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    parse(&body)
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_move_with_an_import() {
    let f = fed().await;
    // Behind the token.
    let (status, _, _) = send(&f.school.app, get("/metrics", "")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let before = scrape(&f.school, "/metrics").await;
    for name in [
        "eduioc_node_info{unit=\"thcs-tam-hiep\",level=\"school\"}",
        "eduioc_log_entries{level=\"school\"}",
        "eduioc_commit_seconds_count",
        "eduioc_store_bytes",
        "eduioc_storage_ok",
    ] {
        assert!(before.contains_key(name), "{name} in {before:?}");
    }
    assert_eq!(before["eduioc_storage_ok"], 1.0);
    let csv = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n\
               HS777,Lò Văn Sáng,M,2014-04-04,6,6A,Thái,enrolled\n";
    let req = Request::post("/api/v1/import/students")
        .header(header::AUTHORIZATION, format!("Bearer {}", f.school.token))
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(csv))
        .unwrap();
    let (status, _, body) = send(&f.school.app, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let after = scrape(&f.school, "/api/v1/metrics").await;
    for moved in [
        "eduioc_commit_seconds_count",
        "eduioc_log_entries{level=\"school\"}",
    ] {
        assert!(
            after[moved] > before[moved],
            "{moved}: {} then {}",
            before[moved],
            after[moved]
        );
    }
    // The department's ingest of the school's page is timed and sized.
    let dept_before = scrape(&f.dept, "/metrics").await;
    sync(&f.school.engine, &f.dept.engine);
    let dept = scrape(&f.dept, "/metrics").await;
    assert!(dept["eduioc_ingest_seconds_count"] > dept_before["eduioc_ingest_seconds_count"]);
    assert!(dept["eduioc_page_entries_count"] >= 1.0);
}
