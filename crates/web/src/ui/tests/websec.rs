//! The browser-facing defences through the router: same-origin checks on every
//! state-changing page request, local-only `next` after login, security headers on every
//! response, neutralised export cells.

use super::*;

const GOOD_EDIT: &str = "student_id=HS002&full_name=Tr%E1%BA%A7n+V%C4%83n+%C4%90%E1%BB%A9c&gender=M&birth_date=2014-07-12&grade=6&class_id=6A&ethnicity=Kinh&status=dropped_out&editing=1";

/// A form post carrying exactly the given extra headers, through the raw router.
fn post_with(path: &str, cookie: &str, body: &str, extra: &[(&str, &str)]) -> Request<Body> {
    let mut r = Request::post(path)
        .header(header::HOST, "127.0.0.1:8100")
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (k, v) in extra {
        r = r.header(*k, *v);
    }
    r.body(Body::from(body.to_string())).unwrap()
}

/// Requests a cross-site page could make a browser send, and one from an old browser
/// that says nothing.
const HOSTILE: &[&[(&str, &str)]] = &[
    &[("origin", "http://evil.example")],
    &[("sec-fetch-site", "cross-site")],
    &[
        ("sec-fetch-site", "cross-site"),
        ("origin", "http://evil.example"),
    ],
    // Another node of the same machine is the same site, not the same origin.
    &[
        ("sec-fetch-site", "same-site"),
        ("origin", "http://127.0.0.1:8101"),
    ],
    &[("origin", "http://127.0.0.1:8101")],
    &[("origin", "null")],
    &[],
];

fn dropouts(n: &Node) -> u64 {
    n.engine
        .call_blocking(|e| e.stats(None))
        .unwrap()
        .unwrap()
        .students
        .dropped_out
}

#[tokio::test]
async fn a_cross_site_student_edit_is_refused_and_changes_nothing() {
    let f = fed().await;
    let cookie = login(&f.school).await;
    let before = dropouts(&f.school);
    for extra in HOSTILE {
        let (status, headers, page) = send(
            &f.school.raw,
            post_with("/data/student", &cookie, GOOD_EDIT, extra),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{extra:?}: {page}");
        assert!(page.contains("nothing was changed"), "{page}");
        assert!(headers.get(header::LOCATION).is_none());
        assert_eq!(dropouts(&f.school), before, "{extra:?} applied the edit");
    }
    // The same form from the node's own page is saved: by fetch metadata, or by Origin.
    let (status, _, page) = send(
        &f.school.raw,
        post_with(
            "/data/student",
            &cookie,
            GOOD_EDIT,
            &[("origin", "http://127.0.0.1:8100")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    assert_eq!(dropouts(&f.school), before + 1);
    let (status, _, page) = send(
        &f.school.raw,
        post_with(
            "/data/student",
            &cookie,
            &GOOD_EDIT.replace("HS002", "HS001"),
            &[("sec-fetch-site", "same-origin")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    assert_eq!(dropouts(&f.school), before + 2);
}

#[tokio::test]
async fn cross_site_notifications_imports_logins_and_logouts_are_refused() {
    let f = fed().await;
    let dept = login(&f.dept).await;
    let count = |n: &Node| {
        n.engine
            .call_blocking(|e| e.notifications())
            .unwrap()
            .unwrap()
            .len()
    };
    let before = count(&f.dept);
    let form = "to_unit=pgd-a&title=Gi%E1%BA%A3+m%E1%BA%A1o&body=x";
    for extra in HOSTILE {
        let (status, _, _) =
            send(&f.dept.raw, post_with("/notifications", &dept, form, extra)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{extra:?}");
        assert_eq!(count(&f.dept), before, "{extra:?} sent a notification");
    }
    let (status, _, _) = send(
        &f.dept.raw,
        post_with(
            "/notifications",
            &dept,
            form,
            &[("sec-fetch-site", "same-origin")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(count(&f.dept), before + 1);

    // An import (multipart, both the page's form and the script's endpoint).
    let school = login(&f.school).await;
    let csv = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n\
               HS099,Cao Thị Mới,F,2014-01-01,6,6A,Kinh,enrolled\n";
    for path in ["/data/import", "/ui/data/import"] {
        let (ct, body) = multipart("students", "hs.csv", csv);
        let req = Request::post(path)
            .header(header::HOST, "127.0.0.1:8100")
            .header(header::COOKIE, &school)
            .header(header::CONTENT_TYPE, ct)
            .header("sec-fetch-site", "cross-site")
            .body(Body::from(body))
            .unwrap();
        let (status, _, _) = send(&f.school.raw, req).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let (_, _, page) = send(&f.school.app, get("/records?q=HS099", &school)).await;
    assert!(
        !page.contains("Cao Thị Mới"),
        "a refused import was applied"
    );

    // A login from another site opens no session (login CSRF).
    let (status, headers, _) = send(
        &f.school.raw,
        post_with(
            "/login",
            "",
            &format!("user=admin&password={PASSWORD}&next=%2F"),
            &[("origin", "http://evil.example")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(headers.get(header::SET_COOKIE).is_none());
    // A logout from another site keeps the session.
    let (status, _, _) = send(
        &f.school.raw,
        post_with("/logout", &school, "", &[("sec-fetch-site", "cross-site")]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(&f.school.app, get("/", &school)).await;
    assert_eq!(status, StatusCode::OK, "the session survived");
}

#[tokio::test]
async fn the_api_never_takes_the_session_cookie() {
    let f = fed().await;
    let cookie = login(&f.school).await;
    let (status, _, _) = send(&f.school.raw, get("/api/v1/status", &cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let csv = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n\
               HS098,Cao Văn Cũ,M,2014-01-01,6,6A,Kinh,enrolled\n";
    let req = Request::post("/api/v1/import/students")
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, "text/csv")
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(csv))
        .unwrap();
    let (status, _, _) = send(&f.school.raw, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, _, page) = send(&f.school.app, get("/records?q=HS098", &cookie)).await;
    assert!(!page.contains("Cao Văn Cũ"));
    // The API takes its token without any Origin or fetch metadata (scripts, curl).
    let req = Request::post("/api/v1/import/students")
        .header(header::AUTHORIZATION, format!("Bearer {}", f.school.token))
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(csv))
        .unwrap();
    let (status, _, body) = send(&f.school.raw, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Whether a `Location` stays on this node, also once a browser has dropped the tabs and
/// newlines it ignores in URLs.
fn local(loc: &str) -> bool {
    let browser: String = loc
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    browser.starts_with('/')
        && !browser.starts_with("//")
        && !browser.starts_with("/\\")
        && !browser.contains('\\')
        && loc.bytes().all(|b| b.is_ascii_graphic())
}

/// Hostile `next` values as they appear in the query string (percent-encoded).
const HOSTILE_NEXT: &[&str] = &[
    "/%09/evil.example",
    "/%0a/evil.example",
    "/%0d%0aSet-Cookie:%20x=1",
    "//evil.example",
    "https://evil.example",
    "http:evil.example",
    "/%5Cevil.example",
    "/%5C%5Cevil.example",
    "%5C%5Cevil.example",
    "/%2F%2Fevil.example",
    "%2F%2Fevil.example",
    "/%252F%252Fevil.example",
    "/%255Cevil.example",
    "/%2509/evil.example",
    "%20//evil.example",
    "/%E3%80%80/evil.example",
    "javascript:alert(1)",
    "/%00/evil.example",
    "",
];

#[tokio::test]
async fn every_next_lands_on_a_local_page() {
    let f = fed().await;
    let long = format!("/{}", "a".repeat(5000));
    let mut cases: Vec<String> = HOSTILE_NEXT.iter().map(|s| s.to_string()).collect();
    cases.push(long);
    for next in &cases {
        // The login page carries it in its form...
        let (status, _, page) = send(&f.school.app, get(&format!("/login?next={next}"), "")).await;
        assert_eq!(status, StatusCode::OK, "{next}");
        let hidden = page
            .split("name=\"next\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&");
        assert!(local(&hidden), "{next}: form keeps {hidden:?}");
        // ...and a real login follows it only to this node.
        let (status, headers, body) = send(
            &f.school.app,
            post_form(
                "/login",
                "",
                &format!("user=admin&password={PASSWORD}&next={next}"),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{next}: {body}");
        let loc = headers.get(header::LOCATION).unwrap().to_str().unwrap();
        assert!(local(loc), "{next}: redirected to {loc:?}");
    }
    // A local page, accents and query included, is kept.
    let (_, headers, _) = send(
        &f.school.app,
        post_form(
            "/login",
            "",
            &format!(
                "user=admin&password={PASSWORD}&next={}",
                crate::ui::qenc("/records?q=Nguyễn&kind=students")
            ),
        ),
    )
    .await;
    assert_eq!(
        headers.get(header::LOCATION).unwrap(),
        "/records?q=Nguy%E1%BB%85n&kind=students"
    );
}

fn assert_security_headers(what: &str, h: &axum::http::HeaderMap) {
    let get = |k: &str| {
        h.get(k)
            .unwrap_or_else(|| panic!("{what}: no {k} header in {h:?}"))
            .to_str()
            .unwrap()
    };
    let csp = get("content-security-policy");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(part), "{what}: {csp}");
    }
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert!(
        ["same-origin", "no-referrer", "strict-origin"].contains(&get("referrer-policy")),
        "{what}"
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let f = fed().await;
    let cookie = login(&f.school).await;
    let n = &f.school;
    let api = api_get(n, "/api/v1/status");
    let cases: Vec<(&str, Request<Body>, StatusCode, Option<&str>)> = vec![
        ("page", get("/", &cookie), StatusCode::OK, Some("no-store")),
        (
            "record page",
            get("/records?q=HS", &cookie),
            StatusCode::OK,
            Some("no-store"),
        ),
        (
            "login page",
            get("/login", ""),
            StatusCode::OK,
            Some("no-store"),
        ),
        (
            "redirect to login",
            get("/network", ""),
            StatusCode::SEE_OTHER,
            Some("no-store"),
        ),
        ("api", api, StatusCode::OK, Some("no-store")),
        (
            "api without token",
            get("/api/v1/status", ""),
            StatusCode::UNAUTHORIZED,
            None,
        ),
        (
            "api 404",
            api_get(n, "/api/v1/nope"),
            StatusCode::NOT_FOUND,
            None,
        ),
        ("script", get("/static/app.js", ""), StatusCode::OK, None),
        (
            "stylesheet",
            get("/static/app.css", ""),
            StatusCode::OK,
            None,
        ),
        ("404", get("/no/such/page", ""), StatusCode::NOT_FOUND, None),
        (
            "page 404",
            get("/unit/nope", &cookie),
            StatusCode::NOT_FOUND,
            Some("no-store"),
        ),
        (
            "refused post",
            post_with("/logout", &cookie, "", &[("origin", "http://evil.example")]),
            StatusCode::FORBIDDEN,
            None,
        ),
    ];
    for (what, req, want, cache) in cases {
        let resp = n.raw.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), want, "{what}");
        assert_security_headers(what, resp.headers());
        if let Some(c) = cache {
            assert_eq!(
                resp.headers().get(header::CACHE_CONTROL).unwrap(),
                c,
                "{what}"
            );
        }
    }
}

/// Whether rendered HTML needs anything the Content-Security-Policy forbids: inline
/// script, inline style, event-handler attributes, `javascript:` links.
fn csp_violations(page: &str) -> Vec<String> {
    let lower = page.to_lowercase();
    let mut out = Vec::new();
    for (i, _) in lower.match_indices("<script") {
        let tag = &lower[i..lower[i..].find('>').map_or(lower.len(), |e| i + e)];
        if !tag.contains(" src=") {
            out.push(format!("inline script: {tag}"));
        }
    }
    for needle in ["<style", " style=", "javascript:"] {
        if lower.contains(needle) {
            out.push(needle.to_string());
        }
    }
    for (i, _) in lower.match_indices(" on") {
        let rest = &lower[i + 3..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase())
            .collect();
        if !name.is_empty() && rest[name.len()..].starts_with('=') {
            out.push(format!("event handler on{name}"));
        }
    }
    out
}

#[tokio::test]
async fn the_pages_satisfy_the_content_security_policy() {
    let f = fed().await;
    for (n, pages) in [
        (
            &f.school,
            vec![
                "/",
                "/network",
                "/records?q=HS",
                "/records?kind=staff&q=GV",
                "/records/students/thcs-tam-hiep/HS001",
                "/data",
                "/data/student?id=HS002",
                "/notifications",
                "/?lang=en",
            ],
        ),
        (
            &f.dept,
            vec!["/", "/unit/thcs-tam-hiep", "/network", "/notifications"],
        ),
    ] {
        let cookie = login(n).await;
        for p in pages {
            let (status, _, page) = send(&n.app, get(p, &cookie)).await;
            assert_eq!(status, StatusCode::OK, "{p}");
            assert!(page.contains("src=\"/static/app.js\""), "{p}");
            let v = csp_violations(&page);
            assert!(v.is_empty(), "{p}: {v:?}");
        }
    }
    let (_, _, login_page) = send(&f.school.app, get("/login", "")).await;
    assert!(csp_violations(&login_page).is_empty());
    // The checker itself sees what it must refuse.
    assert_eq!(
        csp_violations("<script>x()</script><a onclick=\"y()\" style=\"color:red\">").len(),
        3
    );
}

/// Unit names a certificate may carry, each a formula to a spreadsheet.
const FORMULA_NAMES: [&str; 6] = [
    "=HYPERLINK(\"http://evil.example\",\"x\")",
    "+1+2",
    "-3+4",
    "@SUM(A1:A2)",
    "\tTab",
    "\rReturn",
];

async fn office_with_formula_children() -> (Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let root = NodeKey::from_secret([1; 32]);
    let mut units = vec![("so-x".to_string(), "Sở".to_string(), "department", None)];
    for (i, name) in FORMULA_NAMES.iter().enumerate() {
        units.push((format!("s{i}"), name.to_string(), "school", Some("so-x")));
    }
    let certs = units
        .iter()
        .enumerate()
        .map(|(i, (id, name, level, parent))| {
            let key = NodeKey::from_secret([i as u8 + 1; 32]);
            Certificate::issue(
                CertBody {
                    unit: id.clone(),
                    name: name.clone(),
                    level: level.to_string(),
                    parent: parent.map(str::to_string),
                    key: key.id(),
                    version: 1,
                    effective_ms: 0,
                    delegate: *level != "school",
                    issuer: root.id(),
                },
                &root,
            )
        })
        .collect();
    let n = node(dir.path(), "so-x", root.clone(), &root, certs).await;
    (n, dir)
}

#[tokio::test]
async fn exports_neutralise_formula_cells_and_keep_numbers() {
    let (n, _dir) = office_with_formula_children().await;
    let cookie = login(&n).await;
    let (status, _, csv) = send(&n.app, get("/export/so-x.csv?lang=en", &cookie)).await;
    assert_eq!(status, StatusCode::OK);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    for name in FORMULA_NAMES {
        let row = rows
            .iter()
            .find(|r| r[1].trim_start_matches('\'') == name)
            .unwrap_or_else(|| panic!("{name:?} missing from {csv}"));
        assert_eq!(&row[1], format!("'{name}"), "{csv}");
        // Schools (1) is a number, not text.
        assert_eq!(&row[3], "1");
    }
    for r in &rows {
        for cell in r.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?}"
            );
        }
    }

    let resp = n
        .app
        .clone()
        .oneshot(get("/export/so-x.xlsx", &cookie))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let sheet = wb.worksheet_range_at(0).unwrap().unwrap();
    let mut seen = 0;
    for row in sheet.rows().skip(1) {
        let name = row[1].to_string();
        assert!(
            !name.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "{name:?}"
        );
        if FORMULA_NAMES.iter().any(|f| format!("'{f}") == name) {
            seen += 1;
            assert!(
                matches!(row[3], calamine::Data::Float(_) | calamine::Data::Int(_)),
                "schools is a number: {:?}",
                row[3]
            );
        }
    }
    assert_eq!(seen, FORMULA_NAMES.len());
}
