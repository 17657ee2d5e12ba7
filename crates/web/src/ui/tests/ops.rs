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

/// Results, health and a profile at the school, last year's students too: the
/// operations pages of the department have something to show.
fn with_reports(f: &Fed) {
    let start: i32 = YEAR[..4].parse().unwrap();
    let prev = format!("{}-{}", start - 1, start);
    f.school
        .engine
        .call_blocking(move |e| {
            let older = STUDENTS
                .replace("HS00", "OLD")
                .replace(",6,", ",5,")
                .replace(",7,", ",6,");
            e.import_into(&prev, "students", Some("text/csv"), older.as_bytes())
                .unwrap();
            for (kind, body) in [
                (
                    "results",
                    "Mã học sinh,Học kỳ,Kết quả học tập,Kết quả rèn luyện\nHS001,Học kỳ I,Tốt,Tốt\nHS002,Học kỳ I,Đạt,Khá\n",
                ),
                (
                    "health",
                    "student_id,exam_date,height_cm,weight_kg,nutrition\nHS001,2025-09-15,150,40,normal\nHS003,2025-09-15,140,28,underweight\n",
                ),
                (
                    "profile",
                    "classrooms_solid,classrooms_semi_solid,classrooms_temporary,toilets,clean_water,national_standard,latitude,longitude\n10,2,0,3,yes,level1,20.95,105.84\n",
                ),
            ] {
                e.import_into(YEAR, kind, Some("text/csv"), body.as_bytes())
                    .unwrap_or_else(|err| panic!("{kind}: {err}"));
            }
        })
        .unwrap();
    sync(&f.school.engine, &f.dept.engine);
}

#[tokio::test]
async fn the_operations_pages_work_end_to_end() {
    let f = fed().await;
    with_reports(&f);
    let cookie = login(&f.dept).await;
    let page = |path: &'static str| {
        let cookie = cookie.clone();
        let app = f.dept.app.clone();
        async move {
            let (status, _, body) = send(&app, get(path, &cookie)).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            body
        }
    };
    // Indicators of the department's subtree: 3 students, 2 teachers.
    let ops = page("/ops").await;
    assert!(ops.contains("Tỉ lệ học sinh bỏ học"), "{ops}");
    assert!(ops.contains("1,5"), "students per teacher: {ops}");
    assert!(ops.contains("Học kỳ HK1"), "the term with results: {ops}");
    // A target set with the form is listed with a red light, at the unit and in the
    // department's drill-down of that indicator.
    let set = format!(
        "unit=thcs-tam-hiep&year={YEAR}&indicator=students_per_teacher&op=%3C%3D&value=1%2C2"
    );
    let (status, headers, _) = send(&f.dept.app, post_form("/ops/target", &cookie, &set)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let back = headers[header::LOCATION].to_str().unwrap().to_string();
    assert!(back.starts_with("/ops/thcs-tam-hiep?"), "{back}");
    let (_, _, unit) = send(&f.dept.app, get(&back, &cookie)).await;
    assert!(unit.contains("Đã giao chỉ tiêu"), "{unit}");
    assert!(
        unit.contains("light bad") && unit.contains("Chưa đạt"),
        "{unit}"
    );
    assert!(unit.contains("≤ 1,2"), "{unit}");
    let drill = page("/ops/pgd-a?drill=students_per_teacher").await;
    assert!(
        drill.contains("id=\"drill\"") && drill.contains("Trường THCS Tam Hiệp"),
        "{drill}"
    );
    // A value that is not a number, and a school setting targets, are refused.
    let bad = set.replace("value=1%2C2", "value=many");
    let (status, _, _) = send(&f.dept.app, post_form("/ops/target", &cookie, &bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let school_cookie = login(&f.school).await;
    let (status, _, _) = send(
        &f.school.app,
        post_form("/ops/target", &school_cookie, &set),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The alert the target raises: acknowledged with a note, a notification drafted.
    let alerts = page("/alerts").await;
    assert!(alerts.contains("Chưa đạt chỉ tiêu"), "{alerts}");
    assert!(
        alerts.contains("/notifications?to=thcs-tam-hiep"),
        "{alerts}"
    );
    let id =
        format!("target_not_met:thcs-tam-hiep:so-test:thcs-tam-hiep:{YEAR}:students_per_teacher");
    let ack = format!("id={}&note=Tuy%E1%BB%83n+th%C3%AAm", crate::ui::qenc(&id));
    let (status, _, _) = send(&f.dept.app, post_form("/alerts/ack", &cookie, &ack)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let alerts = page("/alerts?acked=1").await;
    assert!(
        alerts.contains("Đã xác nhận cảnh báo") && alerts.contains("Tuyển thêm"),
        "{alerts}"
    );
    let draft = page("/notifications?to=thcs-tam-hiep&title=Ch%C6%B0a+%C4%91%E1%BA%A1t&body=H%C3%A3y+b%C3%A1o+c%C3%A1o").await;
    assert!(
        draft.contains("value=\"Chưa đạt\"") && draft.contains("Hãy báo cáo"),
        "{draft}"
    );
    assert!(
        draft.contains("value=\"thcs-tam-hiep\" selected"),
        "{draft}"
    );

    // Forecast (two years held), its XLSX, the map, the completeness view.
    let fc = page("/forecast/so-test").await;
    assert!(
        fc.contains("forecast-grades") && fc.contains("Kế hoạch 5 năm"),
        "{fc}"
    );
    assert!(fc.contains("bar proj"), "projected columns: {fc}");
    let (status, headers, _) =
        send(&f.dept.app, get("/forecast/so-test.xlsx?years=3", &cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        eduioc_records::XLSX_CONTENT_TYPE
    );
    let map = page("/map/so-test?indicator=malnutrition_rate").await;
    assert!(
        map.contains("<circle") && map.contains("Trường THCS Tam Hiệp: 50,0%"),
        "{map}"
    );
    assert!(
        map.contains("1 trường chưa có toạ độ") || !map.contains("th-b"),
        "{map}"
    );
    let check = page("/completeness/so-test").await;
    assert!(
        check.contains("Trường Tiểu học B") && check.contains("✗"),
        "{check}"
    );
    // The school sent everything, but none of its students has a personal id.
    assert!(check.contains("0/2 trường đủ dữ liệu"), "{check}");
    assert!(check.contains("<td class=\"num\">3</td>"), "{check}");

    // Templates, for the school's clerk.
    let (status, _, csv) = send(
        &f.school.app,
        get("/data/template/results.csv", &school_cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        csv.starts_with('\u{feff}') && csv.contains("Mã học sinh,Học kỳ"),
        "{csv}"
    );
    let (status, headers, _) = send(
        &f.school.app,
        get("/data/template/health.xlsx", &school_cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        eduioc_records::XLSX_CONTENT_TYPE
    );
    let (status, _, _) = send(
        &f.school.app,
        get("/data/template/pupils.csv", &school_cookie),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn long_lists_come_in_pages_by_id_when_asked() {
    let f = fed().await;
    let (_, st) = json_of(&f.dept, api_get(&f.dept, "/api/v1/status")).await;
    let year = st["school_year"].as_str().unwrap().to_string();
    for (indicator, value) in [
        ("students_per_teacher", "1"),
        ("dropout_rate", "0"),
        ("students_per_class", "40"),
        ("teachers_qualified_rate", "90"),
        ("reporting_rate", "100"),
    ] {
        let b = format!(
            r#"{{"unit":"thcs-tam-hiep","year":"{year}","indicator":"{indicator}","op":"<=","value":{value}}}"#
        );
        let (status, v) = json_of(&f.dept, api(&f.dept, "PUT", "/api/v1/targets", &b)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    // Without limit or cursor: the whole list, as before.
    let (_, all) = json_of(&f.dept, api_get(&f.dept, "/api/v1/targets")).await;
    let mut want: Vec<String> = all["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(want.len(), 5, "{all}");
    assert!(all.get("next").is_none());
    want.sort();
    // Pages of two: every target once, in id order, the last page without `next`.
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/targets?limit=2&cursor={}", urlencode(c)),
            None => "/api/v1/targets?limit=2".to_string(),
        };
        let (status, v) = json_of(&f.dept, api_get(&f.dept, &path)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let page = v["targets"].as_array().unwrap();
        assert!(page.len() <= 2);
        got.extend(page.iter().map(|t| t["id"].as_str().unwrap().to_string()));
        match v["next"].as_str() {
            Some(n) => cursor = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(got, want);
    // The other lists take the same parameters; a bad limit is refused with a reason.
    for path in [
        "/api/v1/alerts?limit=1",
        "/api/v1/notifications?limit=1",
        "/api/v1/reports?limit=1",
    ] {
        let (status, v) = json_of(&f.dept, api_get(&f.dept, path)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {v}");
    }
    let (status, v) = json_of(&f.dept, api_get(&f.dept, "/api/v1/alerts?limit=0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("limit"), "{v}");
}

/// `s` with the characters a query string cannot hold as is percent-encoded.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
