//! Governance through the router: what each role may do, the accounts page, and the
//! audit trail of a school's users at the school and at the department.

use super::*;

const EDIT: &str = "student_id=HS002&full_name=Tr%E1%BA%A7n+V%C4%83n+%C4%90%E1%BB%A9c&gender=M&birth_date=2014-07-12&grade=6&class_id=6A&ethnicity=Kinh&status=dropped_out&editing=1";

fn target_form() -> String {
    format!("unit=thcs-tam-hiep&year={YEAR}&indicator=dropout_rate&op=%3C%3D&value=1")
}

fn targets(n: &Node) -> usize {
    n.engine
        .views()
        .figures()
        .targets(None, None)
        .unwrap()
        .len()
}

fn dropouts(n: &Node) -> u64 {
    n.views_stats().students.dropped_out
}

impl Node {
    fn views_stats(&self) -> eduioc_engine::Stats {
        self.engine.views().figures().stats(None).unwrap()
    }
}

fn import_req(cookie: &str) -> Request<Body> {
    let good = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n\
                HS010,Hoàng Văn Nam,M,2015-01-01,1,1A,Kinh,enrolled\n";
    let (ct, body) = multipart("students", "hs-moi.csv", good);
    Request::post("/ui/data/import")
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn each_role_does_what_it_may_and_nothing_more() {
    let f = fed().await;
    // A viewer reads, and is refused every change (UI), which changes nothing.
    let viewer = login_as(&f.school, "viewer").await;
    let (status, _, home) = send(&f.school.app, get("/", &viewer)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !home.contains("href=\"/data\"") && !home.contains("href=\"/accounts\""),
        "{home}"
    );
    let before = dropouts(&f.school);
    for req in [
        get("/data", &viewer),
        post_form("/data/student", &viewer, EDIT),
        import_req(&viewer),
        get("/accounts", &viewer),
        get("/audit", &viewer),
    ] {
        let path = req.uri().path().to_string();
        let (status, _, page) = send(&f.school.app, req).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {page}");
    }
    assert_eq!(dropouts(&f.school), before);
    let dept_viewer = login_as(&f.dept, "viewer").await;
    let (status, _, page) = send(
        &f.dept.app,
        post_form("/ops/target", &dept_viewer, &target_form()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("“Xem”") && page.contains("“Cán bộ điều hành”"),
        "{page}"
    );
    let notice = "to_unit=thcs-tam-hiep&title=Hop&body=x";
    let (status, _, _) = send(
        &f.dept.app,
        post_form("/notifications", &dept_viewer, notice),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(targets(&f.dept), 0);
    // A clerk enters data but neither sets targets nor manages accounts.
    let clerk = login_as(&f.school, "clerk").await;
    let (status, _, _) = send(&f.school.app, post_form("/data/student", &clerk, EDIT)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(dropouts(&f.school), before + 1);
    let add = "user=thu&role=viewer&password=mat-khau-dai-du";
    let (status, _, _) = send(&f.school.app, post_form("/accounts/add", &clerk, add)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let dept_clerk = login_as(&f.dept, "clerk").await;
    let (status, _, _) = send(
        &f.dept.app,
        post_form("/ops/target", &dept_clerk, &target_form()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An officer sets targets and sends notifications.
    let officer = login_as(&f.dept, "officer").await;
    let (status, _, _) = send(
        &f.dept.app,
        post_form("/ops/target", &officer, &target_form()),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(targets(&f.dept), 1);
    let (status, _, _) = send(&f.dept.app, post_form("/notifications", &officer, notice)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // The API token keeps its meaning: everything.
    let body = format!(
        r#"{{"unit":"thcs-tam-hiep","year":"{YEAR}","indicator":"students_per_teacher","op":"<=","value":20}}"#
    );
    let req = Request::put("/api/v1/targets")
        .header(header::AUTHORIZATION, format!("Bearer {}", f.dept.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let (status, _, page) = send(&f.dept.app, req).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(targets(&f.dept), 2);
}

#[tokio::test]
async fn an_admin_manages_accounts_and_changes_take_effect_at_the_next_request() {
    let f = fed().await;
    let admin = login_as(&f.school, "admin").await;
    let (status, _, page) = send(&f.school.app, get("/accounts", &admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("officer") && page.contains("Thêm tài khoản"),
        "{page}"
    );
    // Refused with a reason: a short password, an existing user, the last admin.
    for (path, form) in [
        ("/accounts/add", "user=thu&role=viewer&password=ngan"),
        (
            "/accounts/add",
            "user=clerk&role=viewer&password=mat-khau-dai-du",
        ),
        ("/accounts/role", "user=admin&role=viewer"),
        ("/accounts/remove", "user=admin"),
        (
            "/accounts/add",
            "user=thu&role=root&password=mat-khau-dai-du",
        ),
    ] {
        let (status, _, page) = send(&f.school.app, post_form(path, &admin, form)).await;
        assert!(status.is_client_error(), "{path} {form}: {status} {page}");
    }
    let add = "user=thu&role=viewer&password=mat-khau-dai-du";
    let (status, _, _) = send(&f.school.app, post_form("/accounts/add", &admin, add)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let login = |pw: &str| post_form("/login", "", &format!("user=thu&password={pw}&next=%2F"));
    let (status, headers, _) = send(&f.school.app, login("mat-khau-dai-du")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let thu = headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (status, _, _) = send(&f.school.app, get("/data", &thu)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Made a clerk: the same session may enter data now.
    let role = "user=thu&role=clerk";
    let (status, _, _) = send(&f.school.app, post_form("/accounts/role", &admin, role)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = send(&f.school.app, get("/data", &thu)).await;
    assert_eq!(status, StatusCode::OK);
    // A new password: the old one no longer logs in.
    let pw = "user=thu&password=mot-mat-khau-khac";
    let (status, _, _) = send(&f.school.app, post_form("/accounts/password", &admin, pw)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = send(&f.school.app, login("mat-khau-dai-du")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // ...and the session opened with the old one is over.
    let (status, headers, _) = send(&f.school.app, get("/data", &thu)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers[header::LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/login"));
    let (status, headers, _) = send(&f.school.app, login("mot-mat-khau-khac")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let thu = headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (status, _, _) = send(&f.school.app, get("/data", &thu)).await;
    assert_eq!(status, StatusCode::OK);
    // Removed: its session ends at once.
    let (status, _, _) = send(
        &f.school.app,
        post_form("/accounts/remove", &admin, "user=thu"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, headers, _) = send(&f.school.app, get("/", &thu)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers[header::LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/login"));
}

#[tokio::test]
async fn the_audit_trail_shows_a_clerks_login_import_and_edit_at_the_school_and_the_department() {
    let f = fed().await;
    let clerk = login_as(&f.school, "clerk").await;
    let (status, _, body) = send(&f.school.app, import_req(&clerk)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = send(&f.school.app, post_form("/data/student", &clerk, EDIT)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = send(
        &f.school.app,
        post_form("/login", "", "user=clerk&password=sai-roi&next=%2F"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    sync(&f.school.engine, &f.dept.engine);
    for (n, q) in [
        (&f.school, "/audit?user=clerk"),
        (&f.dept, "/audit?unit=thcs-tam-hiep&user=clerk"),
    ] {
        let officer = login_as(n, "officer").await;
        let (status, _, page) = send(&n.app, get(q, &officer)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for action in [
            "<code>login</code>",
            "<code>import</code>",
            "<code>edit</code>",
            "<code>login_failed</code>",
        ] {
            assert!(page.contains(action), "{q} lists {action}: {page}");
        }
        assert!(
            page.contains("hs-moi.csv") && page.contains("student HS002"),
            "{page}"
        );
        assert!(
            page.contains("id=\"audit-check\"") && page.contains("✓ Khớp với nhật ký đã ký"),
            "{page}"
        );
        // The export holds the same rows.
        let (status, _, csv) =
            send(&n.app, get(&q.replace("/audit?", "/audit.csv?"), &officer)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            csv.lines().filter(|l| l.contains(",clerk,")).count() >= 4,
            "{csv}"
        );
    }
    // The JSON API pages it, each row checked.
    let (status, v) = json_of(
        &f.dept,
        api_get(
            &f.dept,
            "/api/v1/audit?unit=thcs-tam-hiep&action=import&limit=1",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["rows"][0]["user"], "clerk", "{v}");
    assert_eq!(v["rows"][0]["check"], "ok", "{v}");
    assert_eq!(v["broken"], 0);
}

/// Takes a report step with the UI's form as `cookie`'s user at node `n`.
async fn report_step(n: &Node, cookie: &str, step: &str, comment: &str) -> (StatusCode, String) {
    let form = format!(
        "school=thcs-tam-hiep&year={YEAR}&term=HK1&step={step}&comment={}",
        crate::ui::qenc(comment)
    );
    let (status, _, page) = send(&n.app, post_form("/reports/step", cookie, &form)).await;
    (status, page)
}

async fn reports_page(n: &Node, cookie: &str) -> String {
    let (status, _, page) = send(
        &n.app,
        get(&format!("/reports?year={YEAR}&term=HK1"), cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

#[tokio::test]
async fn a_report_goes_from_school_to_district_to_department_and_later_edits_show() {
    let f = fed().await;
    let dir = tempfile::tempdir().unwrap();
    let (keys, certs) = certs();
    let district = node(dir.path(), "pgd-a", keys[1].1.clone(), &keys[0].1, certs).await;
    let up = |from: &Node, to: &Node| sync(&from.engine, &to.engine);
    let school = login_as(&f.school, "officer").await;
    let page = reports_page(&f.school, &school).await;
    assert!(
        page.contains("Chưa nộp") && page.contains("Nộp báo cáo"),
        "{page}"
    );
    // A viewer cannot submit; an officer can.
    let viewer = login_as(&f.school, "viewer").await;
    assert_eq!(
        report_step(&f.school, &viewer, "submit", "").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        report_step(&f.school, &school, "submit", "").await.0,
        StatusCode::SEE_OTHER
    );
    // The district returns it with a reason, which the school sees.
    up(&f.school, &district);
    let pgd = login_as(&district, "officer").await;
    let page = reports_page(&district, &pgd).await;
    assert!(
        page.contains("Đã nộp, chờ duyệt") && page.contains("Trả lại"),
        "{page}"
    );
    let (status, _) = report_step(&district, &pgd, "return", "Thiếu lớp 7A").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    up(&district, &f.school);
    let page = reports_page(&f.school, &school).await;
    assert!(
        page.contains("Bị trả lại") && page.contains("Thiếu lớp 7A"),
        "{page}"
    );
    // Submitted again, approved, accepted at the department.
    assert_eq!(
        report_step(&f.school, &school, "submit", "Đã bổ sung")
            .await
            .0,
        StatusCode::SEE_OTHER
    );
    up(&f.school, &district);
    assert_eq!(
        report_step(&district, &pgd, "approve", "").await.0,
        StatusCode::SEE_OTHER
    );
    up(&district, &f.dept);
    up(&f.school, &f.dept);
    let so = login_as(&f.dept, "officer").await;
    let (status, page) = report_step(&f.dept, &so, "approve", "").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only the district approves: {page}"
    );
    assert_eq!(
        report_step(&f.dept, &so, "accept", "").await.0,
        StatusCode::SEE_OTHER
    );
    up(&f.dept, &district);
    up(&district, &f.school);
    for (n, c) in [(&f.school, &school), (&district, &pgd), (&f.dept, &so)] {
        let page = reports_page(n, c).await;
        assert!(
            page.contains("Sở đã tiếp nhận") && !page.contains("Thay đổi sau khi duyệt"),
            "{page}"
        );
    }
    // A clerk's edit at the school afterwards shows against the accepted report everywhere.
    let clerk = login_as(&f.school, "clerk").await;
    let (status, _, _) = send(&f.school.app, post_form("/data/student", &clerk, EDIT)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    up(&f.school, &district);
    up(&district, &f.dept);
    for (n, c) in [(&f.school, &school), (&district, &pgd), (&f.dept, &so)] {
        let page = reports_page(n, c).await;
        assert!(
            page.contains("Thay đổi sau khi duyệt") && page.contains("<code>dropped_out</code>"),
            "{page}"
        );
    }
    let (status, v) = json_of(
        &f.dept,
        api_get(&f.dept, &format!("/api/v1/reports?year={YEAR}&term=HK1")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let r = v["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["school"] == "thcs-tam-hiep")
        .unwrap();
    assert_eq!(
        (r["school"].as_str(), r["status"].as_str()),
        (Some("thcs-tam-hiep"), Some("accepted")),
        "{v}"
    );
    assert_eq!(r["changed_since_approval"], true, "{v}");
    assert_eq!(r["history"].as_array().unwrap().len(), 5, "{v}");
}
