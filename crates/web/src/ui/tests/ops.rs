//! The operations center's JSON API (CONTRACT Part 2): targets set at the department and
//! seen at the school, alerts evaluated at both, an acknowledgement travelling up.

use super::*;

fn api(n: &Node, method: &str, path: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", n.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn json_of(n: &Node, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let (status, _, body) = send(&n.app, req).await;
    let v = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
    (status, v)
}

#[tokio::test]
async fn targets_and_alerts_over_the_api() {
    let f = fed().await;
    let (_, st) = json_of(&f.dept, api_get(&f.dept, "/api/v1/status")).await;
    let year = st["school_year"].as_str().unwrap().to_string();
    let body = |unit: &str, indicator: &str, op: &str, value: &str| {
        format!(
            r#"{{"unit":"{unit}","year":"{year}","indicator":"{indicator}","op":"{op}","value":{value}}}"#
        )
    };
    // 3 enrolled students and 2 teachers: 1.5 per teacher, against a target of at most 1.
    let put = |n: &Node, b: String| api(n, "PUT", "/api/v1/targets", &b);
    let (status, v) = json_of(
        &f.dept,
        put(
            &f.dept,
            body("thcs-tam-hiep", "students_per_teacher", "<=", "1"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let id = format!("so-test:thcs-tam-hiep:{year}:students_per_teacher");
    assert_eq!(v["id"], id.as_str());
    for (n, b, want) in [
        (
            &f.school,
            body("thcs-tam-hiep", "dropout_rate", "<=", "1"),
            StatusCode::FORBIDDEN,
        ),
        (
            &f.dept,
            body("thcs-tam-hiep", "happiness", ">=", "1"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            &f.dept,
            body("nowhere", "dropout_rate", "<=", "1"),
            StatusCode::NOT_FOUND,
        ),
        (&f.dept, "{\"unit\":".to_string(), StatusCode::BAD_REQUEST),
    ] {
        let (status, v) = json_of(n, put(n, b.clone())).await;
        assert_eq!(status, want, "{b}: {v}");
    }
    let (status, v) = json_of(&f.dept, api_get(&f.dept, "/api/v1/targets")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let t = &v["targets"][0];
    assert_eq!(
        (&t["id"], &t["actual"], &t["status"], &t["set_by"]),
        (
            &serde_json::json!(id),
            &serde_json::json!(1.5),
            &serde_json::json!("not_met"),
            &serde_json::json!("so-test")
        ),
        "{v}"
    );

    // Down to the school, which lists the target and the alert it raises.
    sync(&f.dept.engine, &f.school.engine);
    let (_, v) = json_of(&f.school, api_get(&f.school, "/api/v1/targets")).await;
    assert_eq!(v["targets"][0]["id"], id.as_str(), "{v}");
    let (status, v) = json_of(&f.school, api_get(&f.school, "/api/v1/alerts")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let alert = format!("target_not_met:thcs-tam-hiep:{id}");
    let listed = v["alerts"].as_array().unwrap();
    let a = listed.iter().find(|a| a["id"] == alert.as_str()).unwrap();
    assert_eq!(
        (&a["severity"], &a["acknowledged"]),
        (&serde_json::json!("warning"), &serde_json::Value::Null)
    );

    // Acknowledged at the school, seen at the department.
    let (status, v) = json_of(
        &f.school,
        api(
            &f.school,
            "POST",
            &format!("/api/v1/alerts/{alert}/ack"),
            r#"{"note":"Đang tuyển thêm giáo viên"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, _) = json_of(
        &f.school,
        api(
            &f.school,
            "POST",
            "/api/v1/alerts/no-such-alert/ack",
            r#"{"note":""}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    sync(&f.school.engine, &f.dept.engine);
    let (_, v) = json_of(
        &f.dept,
        api_get(&f.dept, "/api/v1/alerts?unit=thcs-tam-hiep"),
    )
    .await;
    let a = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == alert.as_str())
        .unwrap()
        .clone();
    assert_eq!(a["acknowledged"]["by"], "thcs-tam-hiep", "{v}");
    assert_eq!(
        a["acknowledged"]["note"], "Đang tuyển thêm giáo viên",
        "{v}"
    );
}
