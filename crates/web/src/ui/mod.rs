//! The web UI: server-rendered HTML pages (maud), one small script for live refresh.
//!
//! Every page works without JavaScript. Pages need a session (see [`crate::auth`]);
//! without one the browser is sent to `/login`. The language is Vietnamese unless a
//! `lang` cookie or a `?lang=en` query says otherwise (the query also sets the cookie).
//!
//! Pages: `/` and `/unit/{id}` (overview), `/network`, `/records` (`?kind=students|staff`),
//! `/records/students/{unit}/{id}`, `/records/staff/{unit}/{id}`, `/data` (schools),
//! `/notifications`, `/export/{unit}.csv|.xlsx`; the operations center: `/ops/{unit}`
//! (indicators, targets, drill-down), `/alerts`, `/forecast/{unit}` (and `.xlsx`),
//! `/map/{unit}`, `/completeness/{unit}`; `/data/template/{kind}.csv|.xlsx`; governance:
//! `/audit` (and `.csv`, officers), `/accounts` (administrators). What each role may do
//! is one table, [`needed`]. Endpoints for the script, under `/ui/`
//! (session; `401` instead of a redirect without one): `/ui/live/...` (JSON) and
//! `POST /ui/data/import` (the import with JSON outcome, for the upload progress).

mod accounts;
mod alerts;
mod audit;
mod charts;
mod data;
mod forecast;
mod i18n;
mod layout;
mod login;
mod network;
mod notices;
mod ops;
mod overview;
mod records;
mod reports;
#[cfg(test)]
mod tests;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use eduioc_engine::{Engine, Error as EngineError, Figures};
use maud::{html, DOCTYPE};

use crate::{AppState, Role};
pub(crate) use i18n::{Lang, T};

/// Name of the language cookie (shared by all nodes of the host).
const LANG_COOKIE: &str = "eduioc_lang";

/// What every page needs to know about the request and the node.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// UI language.
    pub(crate) lang: Lang,
    /// Logged-in user.
    pub(crate) user: String,
    /// What the user may do (from the accounts in force at this request).
    pub(crate) role: Role,
    /// This node's unit.
    pub(crate) unit: String,
    /// Its name.
    pub(crate) unit_name: String,
    /// Whether this node is a school's (data entry happens there).
    pub(crate) is_school: bool,
    /// Whether units exist below this node (notifications can be composed).
    pub(crate) has_children: bool,
    /// Unread notifications in the inbox.
    pub(crate) unread: usize,
    /// Path and query of this request, without `lang` (for the language switch).
    pub(crate) here: String,
    /// Now, Unix ms.
    pub(crate) now_ms: i64,
}

impl Ctx {
    /// Shorthand for the text of a key.
    pub(crate) fn t(&self, key: T) -> &'static str {
        self.lang.t(key)
    }

    /// Whether the user's role reaches `role`.
    pub(crate) fn may(&self, role: Role) -> bool {
        self.role >= role
    }
}

/// The least role a UI request needs. Reading a page needs an account (`viewer`);
/// the account and audit pages, data entry and the state-changing forms need more. A
/// state-changing request not listed here needs `admin`: a form added without a line
/// here is closed, not open.
pub(crate) fn needed(method: &axum::http::Method, path: &str) -> Role {
    let reads = matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD);
    match path {
        p if p == "/accounts" || p.starts_with("/accounts/") => Role::Admin,
        p if p == "/audit" || p.starts_with("/audit.") => Role::Officer,
        "/data" | "/data/student" | "/data/import" | "/ui/data/import" => Role::Clerk,
        p if p.starts_with("/data/template/") => Role::Clerk,
        _ if reads => Role::Viewer,
        "/logout" | "/notifications/read" => Role::Viewer,
        "/ops/target" | "/alerts/ack" | "/notifications" | "/reports/step" => Role::Officer,
        _ => Role::Admin,
    }
}

/// The name of a role, in `lang`.
pub(crate) fn role_name(lang: Lang, role: Role) -> &'static str {
    match role {
        Role::Viewer => lang.pick("Xem", "Viewer"),
        Role::Clerk => lang.pick("Nhập liệu", "Clerk"),
        Role::Officer => lang.pick("Cán bộ điều hành", "Officer"),
        Role::Admin => lang.pick("Quản trị", "Administrator"),
    }
}

/// A failed page: status and a message naming what was wrong.
#[derive(Debug)]
pub(crate) struct UiError(pub(crate) StatusCode, pub(crate) String);

impl UiError {
    /// An engine error as a page in `lang`: a storage failure is said in words a clerk
    /// understands (`507` for a full disk, `503` otherwise); anything else as `From`.
    pub(crate) fn in_lang(e: EngineError, lang: Lang) -> UiError {
        match e.storage_fault() {
            Some(f) => {
                tracing::error!(error = %f.detail, "page failed: storage");
                UiError(
                    crate::api::storage_status(f.kind),
                    storage_text(lang, f.kind).into(),
                )
            }
            None => UiError::from(e),
        }
    }
}

/// What a storage failure of `kind` means, in `lang`.
pub(crate) fn storage_text(lang: Lang, kind: eduioc_engine::Fault) -> &'static str {
    match kind {
        eduioc_engine::Fault::DiskFull => lang.t(T::StorageFull),
        eduioc_engine::Fault::Io => lang.t(T::StorageIo),
    }
}

impl From<EngineError> for UiError {
    fn from(e: EngineError) -> UiError {
        // Without the page's language: Vietnamese first, then English.
        if let Some(f) = e.storage_fault() {
            tracing::error!(error = %f.detail, "page failed: storage");
            let text = format!(
                "{} / {}",
                storage_text(Lang::Vi, f.kind),
                storage_text(Lang::En, f.kind)
            );
            return UiError(crate::api::storage_status(f.kind), text);
        }
        let status = match &e {
            EngineError::UnknownUnit(_) | EngineError::NotFound(_) => StatusCode::NOT_FOUND,
            EngineError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            EngineError::Forbidden(_) => StatusCode::FORBIDDEN,
            EngineError::Invalid(_) | EngineError::Import(_) => StatusCode::BAD_REQUEST,
            EngineError::Busy(_) => StatusCode::CONFLICT,
            other => {
                tracing::error!(error = %other, "page failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        UiError(status, e.to_string())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let page = html! {
            (DOCTYPE)
            html lang="vi" {
                head { meta charset="utf-8"; title { "EduIOC — Lỗi / Error" } link rel="stylesheet" href="/static/app.css"; }
                body { main.narrow {
                    h1 { "Lỗi / Error " (self.0.as_u16()) }
                    p.error { (self.1) }
                    p { a href="/" { "Về trang tổng quan / Back to the overview" } }
                } }
            }
        };
        (self.0, Html(page.into_string())).into_response()
    }
}

/// Result of a page handler.
pub(crate) type Page = Result<Response, UiError>;

/// Runs `f` on the engine's thread, after the jobs sent before it.
pub(crate) async fn engine_call<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut Engine) -> Result<T, EngineError> + Send + 'static,
) -> Result<T, UiError> {
    state
        .engine
        .call(f)
        .await
        .and_then(|r| r)
        .map_err(UiError::from)
}

/// Runs `f` on the figures the engine published last: never waits for an import or an
/// ingest (the read lock is held only for `f`).
pub(crate) fn figures_call<T>(
    state: &AppState,
    f: impl FnOnce(&Figures) -> Result<T, EngineError>,
) -> Result<T, UiError> {
    f(&state.views.figures()).map_err(UiError::from)
}

/// The value of cookie `name`, if sent.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The `lang` query value, if any.
fn query_lang(query: Option<&str>) -> Option<Lang> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "lang")
        .and_then(|(_, v)| Lang::parse(v))
}

/// The request's language: `?lang=`, then the cookie, then Vietnamese.
pub(crate) fn lang_of(headers: &HeaderMap, query: Option<&str>) -> Lang {
    query_lang(query)
        .or_else(|| cookie(headers, LANG_COOKIE).and_then(Lang::parse))
        .unwrap_or(Lang::Vi)
}

/// Path and query without the `lang` pair; for a form submission, the page to return to
/// (the language switch link is followed with GET).
fn here_of(req: &Request) -> String {
    let path = req.uri().path();
    if req.method() != axum::http::Method::GET {
        return if path == "/data/import" || path == "/ui/data/import" {
            "/data".into()
        } else {
            path.to_string()
        };
    }
    let rest: Vec<&str> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("lang="))
        .collect();
    if rest.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", rest.join("&"))
    }
}

/// Sets the language cookie on `resp` when the request chose one with `?lang=`.
fn remember_lang(resp: &mut Response, query: Option<&str>) {
    if let Some(l) = query_lang(query) {
        let c = format!(
            "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
            l.code()
        );
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

/// Percent-encodes a query value.
pub(crate) fn qenc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Checks the session, builds the [`Ctx`] and runs the page.
async fn require_login(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let query = req.uri().query().map(str::to_string);
    let lang = lang_of(req.headers(), query.as_deref());
    let here = here_of(&req);
    let session = cookie(req.headers(), state.sessions.cookie_name()).and_then(|id| {
        state
            .sessions
            .user_and_stamp(id)
            .map(|s| (id.to_string(), s))
    });
    // The account as it is now: a removed account's session, or one opened with a
    // password changed since, ends here.
    let user = session.and_then(|(id, (u, opened_with))| match state.accounts.stamp(&u) {
        Some((role, hash)) if hash == opened_with => Some((u, role)),
        _ => {
            state.sessions.remove(&id);
            None
        }
    });
    let Some((user, role)) = user else {
        if req.uri().path().starts_with("/ui/") {
            return (StatusCode::UNAUTHORIZED, "login required").into_response();
        }
        let mut r = Redirect::to(&format!("/login?next={}", qenc(&here))).into_response();
        remember_lang(&mut r, query.as_deref());
        return r;
    };
    let need = needed(req.method(), req.uri().path());
    if role < need {
        tracing::warn!(user = %user, role = role.code(), path = %req.uri().path(), "refused: role");
        let text = match lang {
            Lang::Vi => format!(
                "Tài khoản {user} có quyền “{}”; việc này cần quyền “{}”. Hãy nhờ quản trị viên của nút.",
                role_name(lang, role),
                role_name(lang, need)
            ),
            Lang::En => format!(
                "Account {user} has the role “{}”; this needs “{}”. Ask this node's administrator.",
                role_name(lang, role),
                role_name(lang, need)
            ),
        };
        if req.uri().path().starts_with("/ui/") {
            return (StatusCode::FORBIDDEN, text).into_response();
        }
        return UiError(StatusCode::FORBIDDEN, text).into_response();
    }
    // From the published views: a page never waits for an import or an ingest to start.
    let (unit, unit_name, is_school, has_children, unread) = {
        let figures = state.views.figures();
        let unit = figures.unit().to_string();
        let dir = figures.directory();
        let unit_name = dir.name(&unit).unwrap_or(&unit).to_string();
        let is_school = dir.level(&unit) == Some("school");
        let has_children = dir.children(&unit).next().is_some();
        (
            unit,
            unit_name,
            is_school,
            has_children,
            state.views.status().unread,
        )
    };
    req.extensions_mut().insert(Ctx {
        lang,
        user,
        role,
        unit,
        unit_name,
        is_school,
        has_children,
        unread,
        here,
        now_ms: chrono::Utc::now().timestamp_millis(),
    });
    let mut resp = next.run(req).await;
    remember_lang(&mut resp, query.as_deref());
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("../../assets/app.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("../../assets/app.js"),
    )
        .into_response()
}

/// The UI router (pages, static files, login).
pub(crate) fn router(state: AppState) -> Router {
    let pages = Router::new()
        .route("/", get(overview::home))
        .route("/unit/{id}", get(overview::unit))
        .route("/export/{file}", get(overview::export))
        .route("/ops", get(ops::home))
        .route("/ops/{unit}", get(ops::unit))
        .route("/ops/target", post(ops::set_target))
        .route("/alerts", get(alerts::page_get))
        .route("/alerts/ack", post(alerts::ack))
        .route("/forecast/{file}", get(forecast::page_or_export))
        .route("/map/{unit}", get(forecast::map))
        .route("/completeness/{unit}", get(alerts::completeness))
        .route("/network", get(network::index))
        .route("/ui/live/network", get(network::live))
        .route("/ui/live/stats", get(overview::live))
        .route("/records", get(records::search))
        .route("/records/students/{unit}/{id}", get(records::student))
        .route("/records/staff/{unit}/{id}", get(records::staff))
        .route("/data", get(data::index))
        .route("/data/template/{file}", get(data::template))
        .route(
            "/data/import",
            post(data::import).layer(DefaultBodyLimit::max(
                eduioc_records::MAX_IMPORT_BYTES + 64 * 1024,
            )),
        )
        .route(
            "/ui/data/import",
            post(data::import_json).layer(DefaultBodyLimit::max(
                eduioc_records::MAX_IMPORT_BYTES + 64 * 1024,
            )),
        )
        .route(
            "/data/student",
            get(data::student_form_page).post(data::student_save),
        )
        .route(
            "/notifications",
            get(notices::page_get).post(notices::compose),
        )
        .route("/notifications/read", post(notices::mark_read))
        .route("/reports", get(reports::page_get))
        .route("/reports/step", post(reports::step))
        .route("/audit", get(audit::page_get))
        .route("/audit.csv", get(audit::export))
        .route("/accounts", get(accounts::page_get))
        .route("/accounts/add", post(accounts::add))
        .route("/accounts/role", post(accounts::set_role))
        .route("/accounts/password", post(accounts::set_password))
        .route("/accounts/remove", post(accounts::remove))
        .route("/logout", post(login::logout))
        .layer(middleware::from_fn_with_state(state.clone(), require_login));
    Router::new()
        .merge(pages)
        .route("/login", get(login::form).post(login::submit))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .with_state(state)
}
