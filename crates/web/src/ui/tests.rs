//! Page tests through the router: a school node and its department, real engines on
//! temporary stores, real (idle) network loops.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use eduioc_engine::Engine;
use eduioc_engine::EngineHandle;
use eduioc_protocol::{CertBody, Certificate, LogSource, NodeKey};
use tower::ServiceExt;

use super::Lang;
use crate::auth::{hash_password, Account, AccountBook, Accounts, Role, Throttle};
use crate::AppState;

mod governance;
mod metrics;
mod websec;

const PASSWORD: &str = "correct-horse-battery";
const YEAR: &str = "2025-2026";

const STUDENTS: &str = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n\
HS001,Nguyễn Thị Hồng Nhung,F,2014-03-02,6,6A,Kinh,enrolled\n\
HS002,Trần Văn Đức,M,2014-07-12,6,6A,Kinh,enrolled\n\
HS003,Lò Văn Páo,M,2013-01-30,7,7A,Thái,enrolled\n\
HS004,Đặng Thu Hà,F,2012-11-11,8,8A,Kinh,dropped_out\n";

const STAFF: &str = "staff_id,full_name,gender,birth_date,role,qualification,status\n\
GV01,Phạm Minh Tuấn,M,1985-05-05,teacher,bachelor,active\n\
GV02,Vũ Thị Lan,F,1990-09-09,teacher,master,active\n";

const CLASSES: &str =
    "class_id,name,grade,homeroom_staff_id\n6A,Lớp 6A,6,GV01\n7A,Lớp 7A,7,GV02\n8A,Lớp 8A,8,\n";

struct Node {
    /// The node's router behind a test layer that says `Sec-Fetch-Site: same-origin` for
    /// requests naming neither that nor `Origin` (what a browser on the node's own page
    /// sends).
    app: Router,
    /// The node's router as it is.
    raw: Router,
    engine: EngineHandle,
    token: String,
    cookie_name: String,
    /// The login throttle's clock, Unix ms (tests move it by hand).
    clock: Arc<AtomicI64>,
    /// The network loop's link table (tests set the parent link by hand).
    links: Arc<Mutex<eduioc_net::Links>>,
}

struct Fed {
    school: Node,
    dept: Node,
    _dir: tempfile::TempDir,
}

fn certs() -> (Vec<(String, NodeKey)>, Vec<Certificate>) {
    let units = [
        ("so-test", "Sở GD&ĐT Thử nghiệm", "department", None),
        ("pgd-a", "Phòng GD&ĐT Huyện A", "district", Some("so-test")),
        (
            "thcs-tam-hiep",
            "Trường THCS Tam Hiệp",
            "school",
            Some("pgd-a"),
        ),
        ("th-b", "Trường Tiểu học B", "school", Some("pgd-a")),
    ];
    let keys: Vec<(String, NodeKey)> = units
        .iter()
        .enumerate()
        .map(|(i, u)| (u.0.to_string(), NodeKey::from_secret([i as u8 + 1; 32])))
        .collect();
    let root = keys[0].1.clone();
    let certs = units
        .iter()
        .zip(&keys)
        .map(|(u, (_, k))| {
            Certificate::issue(
                CertBody {
                    unit: u.0.into(),
                    name: u.1.into(),
                    level: u.2.into(),
                    parent: u.3.map(str::to_string),
                    key: k.id(),
                    version: 1,
                    effective_ms: 0,
                    delegate: u.2 != "school",
                    issuer: root.id(),
                },
                &root,
            )
        })
        .collect();
    (keys, certs)
}

async fn node(
    dir: &std::path::Path,
    unit: &str,
    key: NodeKey,
    root: &NodeKey,
    certs: Vec<Certificate>,
) -> Node {
    let data_dir = dir.join(unit);
    std::fs::create_dir_all(&data_dir).unwrap();
    let engine = Engine::open(eduioc_engine::Config {
        unit: unit.into(),
        key,
        root_key: root.id(),
        certs,
        data_dir,
        doc_cache: 8,
        doc_cache_bytes: eduioc_engine::DEFAULT_DOC_CACHE_BYTES,
        school_year: Some(YEAR.into()),
    })
    .unwrap();
    let engine = engine.spawn().unwrap();
    let (network, client) = eduioc_net::Network::new(
        engine.clone(),
        eduioc_net::Config {
            listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
            parent: None,
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(1),
            ..eduioc_net::Config::default()
        },
    )
    .unwrap();
    tokio::spawn(network.run());
    let hash = hash_password(PASSWORD, [9; 16]).unwrap();
    let accounts = Accounts {
        accounts: Role::ALL
            .into_iter()
            .map(|role| Account {
                user: role.code().into(),
                role,
                password_hash: hash.clone(),
            })
            .collect(),
    };
    let token = format!("token-of-{unit}-0123456789");
    let links = client.links();
    let mut state = AppState::new(
        engine.clone(),
        client.links(),
        &token,
        AccountBook::in_memory(accounts),
    );
    let clock = Arc::new(AtomicI64::new(1_760_000_000_000));
    let c2 = clock.clone();
    state.logins = Throttle::with_clock(Arc::new(move || c2.load(Ordering::SeqCst)));
    state = state.with_trusted_proxies(vec![PROXY.parse().unwrap()]);
    let cookie_name = state.sessions.cookie_name().to_string();
    let raw = crate::router(state);
    Node {
        app: raw
            .clone()
            .layer(axum::middleware::map_request(from_own_page)),
        raw,
        engine,
        token,
        cookie_name,
        clock,
        links,
    }
}

/// What a browser sends on a form of the node's own page.
async fn from_own_page(mut req: Request<Body>) -> Request<Body> {
    let h = req.headers_mut();
    if !h.contains_key("sec-fetch-site") && !h.contains_key(header::ORIGIN) {
        h.insert(
            "sec-fetch-site",
            header::HeaderValue::from_static("same-origin"),
        );
    }
    req
}

/// Copies every entry `from` holds that `to` lacks (what the network would do).
fn sync(from: &EngineHandle, to: &EngineHandle) {
    let (from, held) = (from.log().unwrap(), to.log().unwrap());
    for (author, _) in from.heights() {
        let have = held.height(&author);
        let page: Vec<Vec<u8>> = from
            .entries(&author, have + 1, 10_000, 64 << 20)
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        if !page.is_empty() {
            let out = to.call_blocking(move |e| e.ingest(&page)).unwrap().unwrap();
            assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        }
    }
}

async fn fed() -> Fed {
    let dir = tempfile::tempdir().unwrap();
    let (keys, certs) = certs();
    let root = keys[0].1.clone();
    let school = node(
        dir.path(),
        "thcs-tam-hiep",
        keys[2].1.clone(),
        &root,
        certs.clone(),
    )
    .await;
    let dept = node(dir.path(), "so-test", keys[0].1.clone(), &root, certs).await;
    school
        .engine
        .call_blocking(|e| {
            e.import("classes", Some("text/csv"), CLASSES.as_bytes())
                .unwrap();
            e.import("staff", Some("text/csv"), STAFF.as_bytes())
                .unwrap();
            e.import("students", Some("text/csv"), STUDENTS.as_bytes())
                .unwrap();
        })
        .unwrap();
    sync(&school.engine, &dept.engine);
    Fed {
        school,
        dept,
        _dir: dir,
    }
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

fn post_form(path: &str, cookie: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// Logs in as admin; returns the `Cookie` header value.
async fn login(n: &Node) -> String {
    login_as(n, "admin").await
}

/// Logs in as `user` (every test account has the password [`PASSWORD`]).
async fn login_as(n: &Node, user: &str) -> String {
    let (status, headers, _) = send(
        &n.app,
        post_form(
            "/login",
            "",
            &format!("user={user}&password={PASSWORD}&next=%2F"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let set = headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let pair = set.split(';').next().unwrap().to_string();
    assert!(pair.starts_with(&n.cookie_name));
    pair
}

#[tokio::test]
async fn pages_need_a_login_and_the_api_keeps_its_token() {
    let f = fed().await;
    let (status, headers, _) = send(&f.school.app, get("/records?q=x", "")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let loc = headers.get(header::LOCATION).unwrap().to_str().unwrap();
    assert!(loc.starts_with("/login?next=/records"), "{loc}");
    let (status, _, _) = send(&f.school.app, get("/ui/live/stats", "")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = send(&f.school.app, get("/login", "")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Đăng nhập"));
    // A forged session id is no session.
    let (status, _, _) = send(
        &f.school.app,
        get("/", &format!("{}=deadbeef", f.school.cookie_name)),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // The JSON API: bearer token only, a session cookie is not enough.
    let cookie = login(&f.school).await;
    let (status, _, _) = send(&f.school.app, get("/api/v1/status", &cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let req = Request::get("/api/v1/status")
        .header(header::AUTHORIZATION, format!("Bearer {}", f.school.token))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(&f.school.app, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Logout ends the session.
    let (status, _, _) = send(&f.school.app, post_form("/logout", &cookie, "")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = send(&f.school.app, get("/", &cookie)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_wrong_password_is_refused() {
    let f = fed().await;
    let (status, headers, body) = send(
        &f.school.app,
        post_form("/login", "", "user=admin&password=wrong&next=%2F"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.get(header::SET_COOKIE).is_none());
    assert!(body.contains("Sai tên đăng nhập hoặc mật khẩu"), "{body}");
    let (status, _, _) = send(
        &f.school.app,
        post_form("/login", "", &format!("user=root&password={PASSWORD}")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // An open redirect after login is not followed.
    let (_, headers, _) = send(
        &f.school.app,
        post_form(
            "/login",
            "",
            &format!("user=admin&password={PASSWORD}&next=%2F%2Fevil.example"),
        ),
    )
    .await;
    assert_eq!(headers.get(header::LOCATION).unwrap(), "/");
}

#[tokio::test]
async fn vietnamese_by_default_english_one_click_away() {
    let f = fed().await;
    let cookie = login(&f.school).await;
    let (_, _, body) = send(&f.school.app, get("/", &cookie)).await;
    assert!(
        body.contains("<html lang=\"vi\">")
            && body.contains("Tổng quan")
            && body.contains("Học sinh theo khối lớp")
    );
    assert!(body.contains("href=\"/?lang=en\""), "the switch link");
    let (_, headers, body) = send(&f.school.app, get("/?lang=en", &cookie)).await;
    assert!(
        body.contains("<html lang=\"en\">") && body.contains("Students by grade"),
        "{body}"
    );
    assert!(!body.contains("Học sinh theo khối lớp"));
    let set: Vec<_> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        set.iter().any(|c| c.starts_with("eduioc_lang=en")),
        "{set:?}"
    );
    // The cookie keeps the choice on the next pages.
    let (_, _, body) = send(
        &f.school.app,
        get("/network", &format!("{cookie}; eduioc_lang=en")),
    )
    .await;
    assert!(body.contains("Sync network"));
    let (_, _, body) = send(&f.school.app, get("/login?lang=en", "")).await;
    assert!(body.contains("Sign in"));
}

fn tile(body: &str, key: &str) -> String {
    let start = format!("data-k=\"{key}\">");
    let i = body
        .find(&start)
        .unwrap_or_else(|| panic!("tile {key} missing"))
        + start.len();
    body[i..].split('<').next().unwrap().to_string()
}

#[tokio::test]
async fn overview_figures_equal_the_json_stats() {
    let f = fed().await;
    for n in [&f.school, &f.dept] {
        let req = Request::get("/api/v1/stats")
            .header(header::AUTHORIZATION, format!("Bearer {}", n.token))
            .body(Body::empty())
            .unwrap();
        let (_, _, json) = send(&n.app, req).await;
        let s: serde_json::Value = serde_json::from_str(&json).unwrap();
        let cookie = login(n).await;
        let (status, _, body) = send(&n.app, get("/", &cookie)).await;
        assert_eq!(status, StatusCode::OK);
        let vi = Lang::Vi;
        let n_of = |p: &str| s.pointer(p).and_then(serde_json::Value::as_u64).unwrap();
        assert_eq!(tile(&body, "schools"), vi.int(n_of("/schools")));
        assert_eq!(tile(&body, "classes"), vi.int(n_of("/classes")));
        assert_eq!(tile(&body, "students"), vi.int(n_of("/students/enrolled")));
        assert_eq!(tile(&body, "teachers"), vi.int(n_of("/staff/teachers")));
        assert_eq!(
            tile(&body, "dropouts"),
            vi.int(n_of("/students/dropped_out"))
        );
        assert_eq!(
            tile(&body, "spt"),
            vi.dec1(s["students_per_teacher"].as_f64().unwrap())
        );
        assert_eq!(tile(&body, "students"), "3");
        assert!(body.contains("<svg"), "charts are drawn");
        // The live endpoint gives the same figures.
        let (_, _, live) = send(&n.app, get("/ui/live/stats", &cookie)).await;
        let live: serde_json::Value = serde_json::from_str(&live).unwrap();
        assert_eq!(live["text"]["students"], "3");
    }
    // The department ranks its children and drills down, with breadcrumbs.
    let cookie = login(&f.dept).await;
    let (_, _, body) = send(&f.dept.app, get("/", &cookie)).await;
    assert!(body.contains("href=\"/unit/pgd-a\""), "child link");
    let (status, _, body) = send(&f.dept.app, get("/unit/thcs-tam-hiep", &cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("href=\"/unit/so-test\"") && body.contains("href=\"/unit/pgd-a\""),
        "breadcrumbs"
    );
    assert_eq!(tile(&body, "students"), "3");
    // A unit outside the subtree is refused with its name.
    let school_cookie = login(&f.school).await;
    let (status, _, body) = send(&f.school.app, get("/unit/so-test", &school_cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("so-test"));
}

/// The figures are read from what the engine published, never through the engine: with
/// the engine's thread busy (as an import or an ingest keeps it), `stats`, `status`, the overview, the
/// network page, their live refreshes and record look-ups all answer. Each request gets a minute, so a
/// handler that waited for the engine fails the test instead of hanging it.
// Two workers: the network task may block one on the engine, as it may in the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_answer_while_the_engine_is_busy() {
    let f = fed().await;
    let cookie = login(&f.dept).await;
    // A job keeps the engine's thread busy until told to let go.
    let (held_tx, held) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let engine = f.dept.engine.clone();
    let holder = std::thread::spawn(move || {
        engine.call_blocking(move |_| {
            held_tx.send(()).unwrap();
            let _ = release_rx.recv();
        })
    });
    held.recv().unwrap();
    let within = |req| async {
        tokio::time::timeout(std::time::Duration::from_secs(60), send(&f.dept.app, req))
            .await
            .expect("the request waited for the engine")
    };
    let (status, _, json) = within(api_get(&f.dept, "/api/v1/stats?unit=thcs-tam-hiep")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let s: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(s["students"]["enrolled"], 3, "{json}");
    let (status, _, json) = within(api_get(&f.dept, "/api/v1/stats")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(json.contains(r#""enrolled":3"#), "{json}");
    let (status, _, json) = within(api_get(&f.dept, "/api/v1/status")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    // Indicators too (CONTRACT Part 2), with their parameters checked.
    let (status, _, json) = within(api_get(
        &f.dept,
        "/api/v1/indicators?unit=thcs-tam-hiep&term=HK1",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let i: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (i["unit"].as_str(), i["term"].as_str()),
        (Some("thcs-tam-hiep"), Some("HK1"))
    );
    let list = i["indicators"].as_array().unwrap();
    assert_eq!(list.len(), 13, "{json}");
    let reporting = list.iter().find(|x| x["code"] == "reporting_rate").unwrap();
    assert_eq!(
        (
            &reporting["value"],
            &reporting["numerator"],
            &reporting["denominator"]
        ),
        (
            &serde_json::json!(100.0),
            &serde_json::json!(1.0),
            &serde_json::json!(1.0)
        ),
        "{json}"
    );
    let academic = list
        .iter()
        .find(|x| x["code"] == "academic_good_rate")
        .unwrap();
    assert!(academic["value"].is_null(), "no results yet: {json}");
    for (query, want) in [
        ("term=HK9", StatusCode::BAD_REQUEST),
        ("year=2026", StatusCode::BAD_REQUEST),
        ("unit=nowhere", StatusCode::NOT_FOUND),
    ] {
        let (status, _, json) =
            within(api_get(&f.dept, &format!("/api/v1/indicators?{query}"))).await;
        assert_eq!(status, want, "{query}: {json}");
    }
    // A forecast needs two school years of students; this federation has one.
    for (query, want) in [
        ("", StatusCode::UNPROCESSABLE_ENTITY),
        ("years=abc", StatusCode::BAD_REQUEST),
        ("years=11", StatusCode::BAD_REQUEST),
        ("unit=nowhere", StatusCode::NOT_FOUND),
    ] {
        let (status, _, json) =
            within(api_get(&f.dept, &format!("/api/v1/forecast?{query}"))).await;
        assert_eq!(status, want, "{query}: {json}");
    }
    for path in [
        "/",
        "/unit/thcs-tam-hiep",
        "/network",
        "/ui/live/stats",
        "/ui/live/network",
    ] {
        let (status, _, body) = within(get(path, &cookie)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (_, _, body) = within(get("/unit/thcs-tam-hiep", &cookie)).await;
    assert_eq!(tile(&body, "students"), "3");
    // Look-ups read the store beside the engine.
    let (status, _, body) = within(get("/records?q=nguyen+thi+hong", &cookie)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Nguyễn Thị Hồng"), "{body}");
    let (status, _, json) = within(api_get(&f.dept, "/api/v1/records/staff?q=VU+THI")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["staff"].as_array().map(Vec::len), Some(1), "{json}");
    release.send(()).unwrap();
    holder.join().unwrap().unwrap();
}

#[tokio::test]
async fn search_without_accents_finds_names_with_accents() {
    let f = fed().await;
    for n in [&f.school, &f.dept] {
        let cookie = login(n).await;
        let (status, _, body) = send(&n.app, get("/records?q=nguyen+thi+hong", &cookie)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("Nguyễn Thị Hồng Nhung"), "{body}");
        assert!(!body.contains("Trần Văn Đức"));
        let (_, _, body) = send(&n.app, get("/records?q=DUC", &cookie)).await;
        assert!(body.contains("Trần Văn Đức"));
        // The record page shows the fields and who signed them.
        let (status, _, body) = send(
            &n.app,
            get("/records/students/thcs-tam-hiep/HS001", &cookie),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("Nguyễn Thị Hồng Nhung") && body.contains("02/03/2014"));
        assert!(body.contains("Nguồn gốc dữ liệu") && body.contains("Trường THCS Tam Hiệp"));
        assert!(body.contains("thcs-tam-hiep/students/2025-2026"));
    }
}

fn multipart(kind: &str, name: &str, content: &str) -> (String, String) {
    let b = "XyZboundary42";
    let body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\n{kind}\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n{content}\r\n--{b}--\r\n"
    );
    (format!("multipart/form-data; boundary={b}"), body)
}

#[tokio::test]
async fn a_bad_import_shows_its_row_and_column() {
    let f = fed().await;
    let cookie = login(&f.school).await;
    let bad = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n\
               HS010,Hoàng Văn Nam,M,2015-01-01,1,1A,Kinh,enrolled\n\
               HS011,Mai Thị Xuân,F,2015-02-02,13,1A,Kinh,enrolled\n";
    let (ct, body) = multipart("students", "hs.csv", bad);
    let req = Request::post("/data/import")
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from(body))
        .unwrap();
    let (status, _, page) = send(&f.school.app, req).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("<td class=\"num\">2</td><td><code>grade</code></td>"),
        "{page}"
    );
    assert!(page.contains("không dữ liệu nào được ghi"));
    // Nothing was applied.
    let (_, _, p) = send(&f.school.app, get("/records?q=HS010", &cookie)).await;
    assert!(!p.contains("Hoàng Văn Nam"));
    // A good file reports its counts.
    let good = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\nHS010,Hoàng Văn Nam,M,2015-01-01,1,1A,Kinh,enrolled\n";
    let (ct, body) = multipart("students", "hs.csv", good);
    let req = Request::post("/data/import")
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from(body))
        .unwrap();
    let (_, _, page) = send(&f.school.app, req).await;
    assert!(page.contains("Thêm mới <strong>1</strong>"), "{page}");
    // Offices have no data entry.
    let dept_cookie = login(&f.dept).await;
    let (_, _, page) = send(&f.dept.app, get("/data", &dept_cookie)).await;
    assert!(page.contains("Dữ liệu được nhập tại nút của trường"));
}

#[tokio::test]
async fn the_student_form_validates_saves_and_reaches_upstream() {
    let f = fed().await;
    let cookie = login(&f.school).await;
    let (status, _, page) = send(&f.school.app, get("/data/student?id=HS002", &cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("value=\"Trần Văn Đức\""));
    let bad = "student_id=HS002&full_name=Tr%E1%BA%A7n+V%C4%83n+%C4%90%E1%BB%A9c&gender=M&birth_date=2014-13-40&grade=6&class_id=6A&ethnicity=Kinh&status=enrolled&editing=1";
    let (status, _, page) = send(&f.school.app, post_form("/data/student", &cookie, bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("class=\"fielderr\""), "{page}");
    let good = bad
        .replace("2014-13-40", "2014-07-12")
        .replace("status=enrolled", "status=dropped_out");
    let (status, headers, _) =
        send(&f.school.app, post_form("/data/student", &cookie, &good)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers.get(header::LOCATION).unwrap(),
        "/records/students/thcs-tam-hiep/HS002?saved=1"
    );
    sync(&f.school.engine, &f.dept.engine);
    let dept_cookie = login(&f.dept).await;
    let (_, _, body) = send(&f.dept.app, get("/", &dept_cookie)).await;
    assert_eq!(tile(&body, "students"), "2");
    assert_eq!(tile(&body, "dropouts"), "2");
}

#[tokio::test]
async fn figures_export_as_csv_and_xlsx() {
    let f = fed().await;
    let cookie = login(&f.dept).await;
    let (status, headers, csv) =
        send(&f.dept.app, get("/export/so-test.csv?lang=en", &cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers
        .get(header::CONTENT_DISPOSITION)
        .unwrap()
        .to_str()
        .unwrap()
        .contains("eduioc-so-test-2025-2026.csv"));
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert!(lines[0].starts_with("id,Unit,Level,Schools"), "{csv}");
    assert!(lines[1].starts_with("pgd-a,"), "{csv}");
    assert!(lines[2].starts_with("so-test,Total"), "{csv}");
    assert!(lines[2].contains(",2,1,3,3,2,1.5,1"), "{csv}");
    let resp = f
        .dept
        .app
        .clone()
        .oneshot(get("/export/so-test.xlsx", &cookie))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    assert!(bytes.starts_with(b"PK"));
    let (status, _, _) = send(&f.dept.app, get("/export/so-test.pdf", &cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn notifications_travel_down_and_reads_come_back_up() {
    let f = fed().await;
    let dept = login(&f.dept).await;
    let (status, _, page) = send(&f.dept.app, get("/notifications", &dept)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Soạn thông báo"));
    let (status, headers, _) = send(
        &f.dept.app,
        post_form(
            "/notifications",
            &dept,
            "to_unit=pgd-a&title=H%E1%BB%8Dp+giao+ban&body=Th%E1%BB%A9+hai",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{headers:?}");
    sync(&f.dept.engine, &f.school.engine);
    let school = login(&f.school).await;
    let (_, _, page) = send(&f.school.app, get("/notifications", &school)).await;
    assert!(
        page.contains("Họp giao ban") && page.contains("notice unread"),
        "{page}"
    );
    assert!(
        !page.contains("Soạn thông báo"),
        "schools have no compose form"
    );
    let id = page
        .split("name=\"id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let (status, _, _) = send(
        &f.school.app,
        post_form(
            "/notifications/read",
            &school,
            &format!("id={}", super::qenc(&id)),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = send(&f.school.app, get("/notifications", &school)).await;
    assert!(page.contains("notice read"));
    sync(&f.school.engine, &f.dept.engine);
    let (_, _, page) = send(&f.dept.app, get("/notifications", &dept)).await;
    assert!(page.contains("<strong>1 / 3</strong>"), "{page}");
    assert!(
        page.contains("Đơn vị đã đọc: Trường THCS Tam Hiệp"),
        "{page}"
    );
}

#[tokio::test]
async fn the_network_page_draws_the_subtree() {
    let f = fed().await;
    let cookie = login(&f.dept).await;
    let (status, _, page) = send(&f.dept.app, get("/network", &cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("data-unit=\"th-b\"") && page.contains("class=\"dot never\""),
        "{page}"
    );
    assert!(
        page.contains("class=\"dot recent\""),
        "the school that sent data"
    );
    let (_, _, live) = send(&f.dept.app, get("/ui/live/network", &cookie)).await;
    let v: serde_json::Value = serde_json::from_str(&live).unwrap();
    assert_eq!(v["class"]["thcs-tam-hiep"], "dot recent");
    assert_eq!(v["class"]["so-test"], "dot self");
}

#[tokio::test]
async fn a_parent_refusing_our_entries_is_shown_in_status_and_on_the_network_page() {
    let f = fed().await;
    let cookie = login(&f.school).await;
    let set_parent = |refused: Option<eduioc_net::Refusal>| {
        f.school.links.lock().unwrap().parent = Some(eduioc_net::ParentLink {
            unit: "pgd-a".into(),
            connected: true,
            last_sync_ms: Some(1_760_000_000_000),
            refused,
        });
    };
    set_parent(None);
    let (_, _, page) = send(&f.school.app, get("/network", &cookie)).await;
    assert!(!page.contains("Cấp trên đã từ chối"), "{page}");
    set_parent(Some(eduioc_net::Refusal {
        entries: 3,
        key: "oversized".into(),
        message: "entry 7 of thcs-tam-hiep is 5000000 bytes".into(),
        since_ms: 1_760_000_000_000,
        last_ms: 1_760_000_100_000,
        units: vec!["thcs-tam-hiep".into()],
    }));
    let (status, _, page) = send(&f.school.app, get("/network", &cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Cấp trên đã từ chối 3 bản ghi (bản ghi quá lớn; mã oversized)"),
        "{page}"
    );
    assert!(page.contains("class=\"error\""), "{page}");
    let (_, _, page) = send(
        &f.school.app,
        get("/network", &format!("{cookie}; eduioc_lang=en")),
    )
    .await;
    assert!(
        page.contains("The parent refused 3 entries (entry too large; code oversized)"),
        "{page}"
    );
    let (_, _, live) = send(&f.school.app, get("/ui/live/network", &cookie)).await;
    let v: serde_json::Value = serde_json::from_str(&live).unwrap();
    assert_eq!(v["class"]["parent-refused"], "error");
    assert!(v["text"]["parent-refused"]
        .as_str()
        .unwrap()
        .contains("thcs-tam-hiep"));
    let req = Request::get("/api/v1/status")
        .header(header::AUTHORIZATION, format!("Bearer {}", f.school.token))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(&f.school.app, req).await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let p = &v["parent"];
    assert_eq!(p["unit"], "pgd-a");
    assert_eq!(p["connected"], true);
    assert_eq!(p["refused"]["entries"], 3);
    assert_eq!(p["refused"]["reason"], "oversized");
    assert_eq!(p["refused"]["units"], serde_json::json!(["thcs-tam-hiep"]));
    assert_eq!(p["refused"]["since"], "2025-10-09T08:53:20Z");
    // Cleared once the parent holds everything: the warning goes, live too.
    set_parent(None);
    let (_, _, live) = send(&f.school.app, get("/ui/live/network", &cookie)).await;
    let v: serde_json::Value = serde_json::from_str(&live).unwrap();
    assert_eq!(v["class"]["parent-refused"], "none");
    assert_eq!(v["text"]["parent-refused"], "");
}

#[tokio::test]
async fn the_overview_shows_change_between_school_years() {
    let f = fed().await;
    let cookie = login(&f.dept).await;
    let (_, _, body) = send(&f.dept.app, get("/", &cookie)).await;
    assert!(
        !body.contains("Học sinh qua các năm học"),
        "one year only: no chart"
    );
    let start: i32 = YEAR[..4].parse().unwrap();
    let prev = format!("{}-{}", start - 1, start);
    let year = prev.clone();
    f.school
        .engine
        .call_blocking(move |e| {
            e.import_into(&year, "students", Some("text/csv"), STUDENTS.as_bytes())
        })
        .unwrap()
        .unwrap();
    sync(&f.school.engine, &f.dept.engine);
    let (_, _, body) = send(&f.dept.app, get("/", &cookie)).await;
    assert!(
        body.contains("Học sinh qua các năm học"),
        "the chart appears"
    );
    assert!(
        body.contains(&prev) && body.contains(YEAR),
        "both years are labelled"
    );
}

async fn json_of(n: &Node, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let (status, _, body) = send(&n.app, req).await;
    let v = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
    (status, v)
}

fn api_get(n: &Node, path: &str) -> Request<Body> {
    Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", n.token))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn staff_search_without_accents_finds_names_with_accents() {
    let f = fed().await;
    for n in [&f.school, &f.dept] {
        let cookie = login(n).await;
        // The page: the kind selector, then a staff table linking to the record page.
        let (status, _, body) = send(&n.app, get("/records", &cookie)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains(
                r#"id="kind-students" type="radio" name="kind" value="students" checked"#
            ) && body.contains(r#"id="kind-staff" type="radio" name="kind" value="staff">"#),
            "{body}"
        );
        let (status, _, body) =
            send(&n.app, get("/records?kind=staff&q=pham+minh+tuan", &cookie)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(r#"id="kind-staff" type="radio" name="kind" value="staff" checked"#));
        let table = body
            .split(r#"<table class="list" id="staff-results">"#)
            .nth(1)
            .unwrap_or_else(|| panic!("no staff table: {body}"));
        assert!(
            table.contains(r#"<a href="/records/staff/thcs-tam-hiep/GV01">Phạm Minh Tuấn</a>"#),
            "{table}"
        );
        assert!(table.contains("<td>Giáo viên</td><td>Đại học</td><td>Đang công tác</td>"));
        assert!(table.contains("Trường THCS Tam Hiệp"));
        assert!(!body.contains("Vũ Thị Lan"));
        // The same words among students find no one; staff are not students.
        let (_, _, body) = send(
            &n.app,
            get("/records?kind=students&q=pham+minh+tuan", &cookie),
        )
        .await;
        assert!(!body.contains("Phạm Minh Tuấn") && !body.contains("staff-results"));
        assert!(body.contains("Không tìm thấy học sinh nào"));
        // The record page: fields and who signed them.
        let (status, _, body) = send(
            &n.app,
            get("/records/staff/thcs-tam-hiep/GV02?lang=en", &cookie),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("<h1>Vũ Thị Lan</h1>") && body.contains("<dd>Master"),
            "{body}"
        );
        assert!(
            body.contains(r#"id="provenance""#) && body.contains("thcs-tam-hiep/staff/2025-2026")
        );
        let (status, _, body) =
            send(&n.app, get("/records/staff/thcs-tam-hiep/GV99", &cookie)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("no-such-record"));
        // The JSON API, with the bearer token.
        let (status, _, json) = send(&n.app, api_get(n, "/api/v1/records/staff?q=VU+THI")).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let staff = v["staff"].as_array().unwrap();
        assert_eq!(staff.len(), 1, "{json}");
        assert_eq!(staff[0]["staff_id"], "GV02");
        assert_eq!(staff[0]["full_name"], "Vũ Thị Lan");
        assert_eq!(staff[0]["qualification"], "master");
        assert_eq!(staff[0]["unit"], "thcs-tam-hiep");
        assert_eq!(staff[0]["school"], "Trường THCS Tam Hiệp");
        let (_, _, json) = send(&n.app, api_get(n, "/api/v1/records/staff?q=gv&limit=1")).await;
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["staff"].as_array().unwrap().len(), 1);
        let (status, _, _) = send(&n.app, api_get(n, "/api/v1/records/staff")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = send(&n.app, get("/api/v1/records/staff?q=vu", &cookie)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a session is not a token");
    }
    // A unit outside the subtree is refused.
    let (status, _, _) = send(
        &f.school.app,
        api_get(&f.school, "/api/v1/records/staff?q=vu&unit=so-test"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_json_import_reports_row_errors_and_applies_nothing() {
    let f = fed().await;
    let cookie = login(&f.school).await;
    // The page's form: the no-script names, and what the script needs.
    let (_, _, page) = send(&f.school.app, get("/data", &cookie)).await;
    for needle in [
        r#"action="/data/import""#,
        r#"data-json="/ui/data/import""#,
        r#"name="kind""#,
        r#"type="file" name="file""#,
        r#"<progress id="import-bar""#,
        r#"id="import-result""#,
    ] {
        assert!(page.contains(needle), "{needle}: {page}");
    }
    // The bar is always in the markup, but hidden: only the script shows it (the browser
    // test checks that it does), so a page without the script shows no bar that never moves.
    let wrap = page
        .split('<')
        .find(|tag| tag.contains(r#"id="import-progress""#))
        .unwrap_or_default();
    assert!(
        wrap.starts_with("div ") && wrap.split(['>', ' ']).any(|a| a == "hidden"),
        "the progress bar is not hidden without the script: <{wrap}"
    );
    let post = |cookie: &str, body: (String, String)| {
        Request::post("/ui/data/import")
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, body.0)
            .body(Body::from(body.1))
            .unwrap()
    };
    let before = f
        .school
        .engine
        .call_blocking(|e| e.stats(None))
        .unwrap()
        .unwrap();
    let bad = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n\
               HS010,Hoàng Văn Nam,M,2015-01-01,1,1A,Kinh,enrolled\n\
               HS011,Mai Thị Xuân,F,2015-02-02,13,1A,Kinh,enrolled\n";
    let (status, _, json) = send(
        &f.school.app,
        post(&cookie, multipart("students", "hs.csv", bad)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["ok"], false);
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{json}");
    assert_eq!(errors[0]["row"], 2);
    assert_eq!(errors[0]["column"], "grade");
    // The rendered box is the server page's markup.
    let html = v["html"].as_str().unwrap();
    assert!(
        html.contains(r#"<table class="list errors">"#)
            && html.contains("<td class=\"num\">2</td><td><code>grade</code></td>"),
        "{html}"
    );
    let after = f
        .school
        .engine
        .call_blocking(|e| e.stats(None))
        .unwrap()
        .unwrap();
    assert_eq!(after.students, before.students, "nothing applied");
    let (_, _, p) = send(&f.school.app, get("/records?q=HS010", &cookie)).await;
    assert!(!p.contains("Hoàng Văn Nam"));
    // A good file: counts, and it is applied.
    let good = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n\
                HS010,Hoàng Văn Nam,M,2015-01-01,1,1A,Kinh,enrolled\n";
    let (status, _, json) = send(
        &f.school.app,
        post(&cookie, multipart("students", "hs.csv", good)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["inserted"].as_u64()),
        (Some(true), Some(1))
    );
    assert!(v["html"]
        .as_str()
        .unwrap()
        .contains("Thêm mới <strong>1</strong>"));
    // No file; no session; an office.
    let (status, _, json) = send(
        &f.school.app,
        post(&cookie, multipart("students", "hs.csv", "")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json.contains("Chưa chọn tệp"), "{json}");
    let (status, _, _) = send(
        &f.school.app,
        post("", multipart("students", "hs.csv", good)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = send(
        &f.school.app,
        post(
            &format!("{}=deadbeef", f.school.cookie_name),
            multipart("students", "hs.csv", good),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an expired session");
    let dept = login(&f.dept).await;
    let (status, _, _) = send(
        &f.dept.app,
        post(&dept, multipart("students", "hs.csv", good)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn import_problems_are_in_the_pages_language() {
    let f = fed().await;
    let cookie = login(&f.school).await;
    let bad = "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n\
               HS010,Hoàng Văn Nam,M,2015-02-30,1,6A,Kinh,enrolled\n";
    let post = |path: &str, cookie: &str, body: (String, String)| {
        Request::post(path)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, body.0)
            .body(Body::from(body.1))
            .unwrap()
    };
    let vi = "Ngày sinh &quot;2015-02-30&quot; không phải ngày có thật";
    let en = "birth_date &quot;2015-02-30&quot; is not a real calendar date";
    let row = "<td class=\"num\">1</td><td><code>birth_date</code></td>";

    // Without script: Vietnamese by default, English with ?lang=en or the cookie.
    for (path, cookie, want, not) in [
        ("/data/import", cookie.clone(), vi, en),
        ("/data/import?lang=en", cookie.clone(), en, vi),
        ("/data/import", format!("{cookie}; eduioc_lang=en"), en, vi),
    ] {
        let (status, _, page) = send(
            &f.school.app,
            post(path, &cookie, multipart("students", "hs.csv", bad)),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(row), "{page}");
        assert!(page.contains(want), "{path} {cookie}: {page}");
        assert!(!page.contains(not), "{path} {cookie}: {page}");
    }

    // With script: the JSON errors stay the API's (English message, plus code and
    // params); the rendered box is in the page's language.
    for (path, want, not) in [
        ("/ui/data/import", vi, en),
        ("/ui/data/import?lang=en", en, vi),
    ] {
        let (status, _, json) = send(
            &f.school.app,
            post(path, &cookie, multipart("students", "hs.csv", bad)),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            v["errors"],
            serde_json::json!([{
                "row": 1,
                "column": "birth_date",
                "message": "birth_date \"2015-02-30\" is not a real calendar date",
                "code": "not_a_calendar_date",
                "params": {"value": "2015-02-30"},
            }])
        );
        let html = v["html"].as_str().unwrap();
        assert!(html.contains(row), "{html}");
        assert!(html.contains(want), "{path}: {html}");
        assert!(!html.contains(not), "{path}: {html}");
    }

    // The student form says it in Vietnamese too.
    let form = "student_id=HS002&full_name=A&gender=M&birth_date=2014-13-40&grade=6&class_id=6A&ethnicity=Kinh&status=enrolled&editing=1";
    let (status, _, page) = send(&f.school.app, post_form("/data/student", &cookie, form)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("Ngày sinh &quot;2014-13-40&quot; không phải ngày có thật"),
        "{page}"
    );

    // A forged kind and an unreadable upload are said in the page's language too.
    let (status, _, page) = send(
        &f.school.app,
        post("/data/import", &cookie, multipart("pupils", "hs.csv", bad)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Loại dữ liệu không hợp lệ"), "{page}");
    let (status, _, json) = send(
        &f.school.app,
        post(
            "/ui/data/import?lang=en",
            &cookie,
            multipart("pupils", "hs.csv", bad),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json.contains("Unknown kind of data"), "{json}");
    let (ct, body) = multipart("students", "hs.csv", bad);
    let truncated = (ct, body[..body.len() / 2].to_string());
    let (status, _, page) = send(
        &f.school.app,
        post("/data/import", &cookie, truncated.clone()),
    )
    .await;
    assert!(status.is_client_error(), "{status}");
    assert!(page.contains("Không đọc được tệp gửi lên"), "{page}");
    let (_, _, json) = send(
        &f.school.app,
        post("/ui/data/import?lang=en", &cookie, truncated),
    )
    .await;
    assert!(json.contains("Reading the upload failed"), "{json}");
}

fn login_from(ip: &str, user: &str, password: &str, lang: &str) -> Request<Body> {
    let mut req = post_form(
        "/login",
        &format!("eduioc_lang={lang}"),
        &format!("user={user}&password={password}&next=%2F"),
    );
    let ip: std::net::IpAddr = ip.parse().unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(ip, 40000)));
    req
}

/// The reverse proxy the fixture's nodes trust.
const PROXY: &str = "127.0.0.10";

/// A login from `peer` carrying `X-Forwarded-For: forwarded`.
fn login_via(peer: &str, forwarded: &str, user: &str, password: &str) -> Request<Body> {
    let mut req = login_from(peer, user, password, "vi");
    req.headers_mut()
        .insert("x-forwarded-for", forwarded.parse().unwrap());
    req
}

#[tokio::test]
async fn behind_a_trusted_proxy_failed_logins_count_against_the_forwarded_address() {
    let f = fed().await;
    let app = &f.school.app;
    for _ in 0..5 {
        let r = login_via(PROXY, "10.0.0.1", "admin", "wrong");
        assert_eq!(send(app, r).await.0, StatusCode::UNAUTHORIZED);
    }
    // The guesser's address is locked; everyone else behind the same proxy is not.
    let r = login_via(PROXY, "10.0.0.1", "clerk", PASSWORD);
    assert_eq!(send(app, r).await.0, StatusCode::TOO_MANY_REQUESTS);
    let r = login_via(PROXY, "10.0.0.2", "clerk", PASSWORD);
    assert_eq!(send(app, r).await.0, StatusCode::SEE_OTHER);
    // An address the client wrote in front of the proxy's is not believed: the proxy
    // appends the one it saw.
    let r = login_via(PROXY, "10.0.0.2, 10.0.0.1", "viewer", PASSWORD);
    assert_eq!(send(app, r).await.0, StatusCode::TOO_MANY_REQUESTS);
    // Nor is a left-hand entry that is not an address, or an IPv4-mapped proxy address:
    // the proxy's own entry still names the client.
    let r = login_via(PROXY, "nope, 10.0.0.1", "viewer", PASSWORD);
    assert_eq!(send(app, r).await.0, StatusCode::TOO_MANY_REQUESTS);
    let r = login_via("::ffff:127.0.0.10", ", 10.0.0.1", "viewer", PASSWORD);
    assert_eq!(send(app, r).await.0, StatusCode::TOO_MANY_REQUESTS);
    let r = login_via(PROXY, "[::1]:80, 10.0.0.3", "viewer", PASSWORD);
    assert_eq!(send(app, r).await.0, StatusCode::SEE_OTHER);
    // From anyone else the header is ignored: a guesser cannot spread its failures over
    // addresses it makes up.
    for i in 0..5 {
        let r = login_via("192.0.2.50", &format!("10.9.9.{i}"), "officer", "wrong");
        assert_eq!(send(app, r).await.0, StatusCode::UNAUTHORIZED);
    }
    let r = login_via("192.0.2.50", "10.9.9.99", "viewer", PASSWORD);
    assert_eq!(send(app, r).await.0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn five_wrong_passwords_then_429_per_user_and_per_address() {
    let f = fed().await;
    let app = &f.school.app;
    for _ in 0..5 {
        let (status, _, _) = send(app, login_from("192.0.2.7", "admin", "wrong", "vi")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The sixth is refused, even with the right password, without a session.
    let (status, headers, body) = send(app, login_from("192.0.2.7", "admin", PASSWORD, "vi")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(headers.get(header::SET_COOKIE).is_none());
    assert_eq!(headers.get(header::RETRY_AFTER).unwrap(), "900");
    assert!(
        body.contains(r#"id="login-throttled""#)
            && body.contains("Quá nhiều lần đăng nhập sai.")
            && body.contains("Hãy thử lại sau 15 phút"),
        "{body}"
    );
    // In English; from another address, the user name is still locked.
    let (status, _, body) = send(app, login_from("198.51.100.9", "admin", PASSWORD, "en")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        body.contains("Too many failed log-in attempts. Try again in 15 min"),
        "{body}"
    );
    // The address is locked for other user names too.
    let (status, _, _) = send(app, login_from("192.0.2.7", "clerk", PASSWORD, "vi")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another user from another address is not affected.
    let (status, _, _) = send(app, login_from("198.51.100.9", "clerk", "wrong", "vi")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, headers, _) = send(app, login_from("198.51.100.9", "clerk", PASSWORD, "vi")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers.get(header::SET_COOKIE).is_some());
    // Nor is another node.
    let (status, _, _) = send(
        &f.dept.app,
        login_from("192.0.2.7", "admin", PASSWORD, "vi"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // Ten minutes on: still refused, and the message says five minutes.
    f.school.clock.fetch_add(10 * 60_000, Ordering::SeqCst);
    let (status, _, body) = send(app, login_from("192.0.2.7", "admin", PASSWORD, "vi")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.contains("Hãy thử lại sau 5 phút"), "{body}");
    // Once the window has passed, the right password opens a session.
    f.school.clock.fetch_add(5 * 60_000, Ordering::SeqCst);
    let (status, _, _) = send(app, login_from("192.0.2.7", "admin", PASSWORD, "vi")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // A success clears the user name's count: 4 failures, success, 4 failures, success.
    for ip in ["203.0.113.1", "203.0.113.2"] {
        for _ in 0..4 {
            let (status, _, _) = send(app, login_from(ip, "admin", "wrong", "vi")).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let (status, _, _) = send(app, login_from(ip, "admin", PASSWORD, "vi")).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "from {ip}");
    }
}

mod ops;
