//! Login and logout.
//!
//! A login attempt first passes the node's [`crate::auth::Throttle`] (per user name and
//! per client address, the TCP peer's: a reverse proxy in front of the node makes every
//! user one address); a refused attempt is `429` with the time to retry, and the password
//! is not checked.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, DOCTYPE};
use serde::Deserialize;

use super::{cookie, lang_of, remember_lang, Lang, T};
use crate::auth::MAX_CREDENTIAL_BYTES;
use crate::AppState;

/// Query of the login page.
#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
}

/// The login form.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// Longest `next` followed after login; a longer one is replaced by `/`.
const MAX_NEXT: usize = 2048;

/// The page to go to after login: `next` when it is a path on this node, else `/`.
///
/// `next` arrives percent-decoded once. It is refused when it, or its percent-decoding
/// once more, does not start with exactly one `/`, or holds a backslash or a control
/// character (browsers drop tabs and newlines from a `Location`, so `/\t/evil.example`
/// would become `//evil.example`). What is kept is re-encoded to plain visible ASCII, so
/// that it is always a valid `Location` header.
pub(crate) fn safe_next(next: &str) -> String {
    fn local(p: &str) -> bool {
        p.starts_with('/')
            && !p.starts_with("//")
            && !p.chars().any(|c| c == '\\' || c.is_control())
    }
    let decoded = percent_decode(next);
    if next.len() > MAX_NEXT || !local(next) || !local(&decoded) {
        return "/".into();
    }
    let mut out = String::with_capacity(next.len());
    for b in next.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/?=&%+,;:@!$'()*#".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `s` with every `%XX` replaced by its byte (lossy UTF-8); other bytes as they are.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the login page says above the form.
enum Notice {
    /// Nothing (`200`).
    None,
    /// Wrong user name or password (`401`).
    Failed,
    /// Too many failures: retry from this time, Unix ms, seen at `now_ms` (`429`).
    Throttled { retry_at_ms: i64, now_ms: i64 },
}

fn login_page(lang: Lang, unit_name: &str, next: &str, notice: Notice, user: &str) -> Response {
    let switch = format!(
        "/login?lang={}&next={}",
        lang.other().code(),
        super::qenc(next)
    );
    let m = html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (lang.t(T::Login)) " — " (unit_name) " — EduIOC" }
                link rel="stylesheet" href="/static/app.css";
            }
            body.login {
                main.login {
                    div.brand { span.logo { "IOC" } (lang.t(T::App)) }
                    h1 { (lang.t(T::LoginTitle)) }
                    p.unitname { (unit_name) }
                    @match notice {
                        Notice::None => {},
                        Notice::Failed => p.error #login-failed role="alert" { (lang.t(T::LoginFailed)) },
                        Notice::Throttled { retry_at_ms, now_ms } => p.error #login-throttled role="alert" {
                            (lang.t(T::TooManyAttempts)) " "
                            (lang.retry_in(minutes_until(now_ms, retry_at_ms), &clock_time(retry_at_ms)))
                        },
                    }
                    form.stack method="post" action="/login" {
                        input type="hidden" name="next" value=(next);
                        label { (lang.t(T::User)) input type="text" name="user" value=(user) autocomplete="username" required autofocus; }
                        label { (lang.t(T::Password)) input type="password" name="password" autocomplete="current-password" required; }
                        button type="submit" { (lang.t(T::Login)) }
                    }
                    p.sub { (lang.t(T::LoginHint)) }
                    p { a href=(switch) { (lang.t(T::SwitchLang)) } }
                }
            }
        }
    };
    let mut r = Html(m.into_string()).into_response();
    match notice {
        Notice::None => {}
        Notice::Failed => *r.status_mut() = StatusCode::UNAUTHORIZED,
        Notice::Throttled {
            retry_at_ms,
            now_ms,
        } => {
            *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            let secs = ((retry_at_ms - now_ms).max(0) + 999) / 1000;
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
    }
    r
}

/// Whole minutes from `now_ms` to `at_ms`, rounded up.
fn minutes_until(now_ms: i64, at_ms: i64) -> u64 {
    ((at_ms - now_ms).max(0) as u64).div_ceil(60_000)
}

/// `HH:MM` local time of a Unix ms time.
fn clock_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&chrono::Local).format("%H:%M").to_string())
        .unwrap_or_default()
}

async fn unit_name(state: &AppState) -> String {
    let unit = state.engine.unit();
    let dir = state.engine.directory();
    dir.name(unit).unwrap_or(unit).to_string()
}

/// `GET /login?next=`.
pub(crate) async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<LoginQuery>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    let next = safe_next(q.next.as_deref().unwrap_or("/"));
    let mut r = login_page(lang, &unit_name(&state).await, &next, Notice::None, "");
    remember_lang(&mut r, uri.query());
    r
}

/// `POST /login`: refuses throttled attempts (`429`), checks the password (Argon2, off
/// the executor), opens a session.
pub(crate) async fn submit(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = lang_of(&headers, None);
    let next = safe_next(&f.next);
    let user: String = f.user.trim().chars().take(MAX_CREDENTIAL_BYTES).collect();
    let peer = peer.map(|Extension(ConnectInfo(a))| a.ip());
    let ip = crate::client_ip(&state.trusted_proxies, peer, &headers);
    let attempt = match state.logins.begin(&user, ip) {
        Ok(a) => a,
        Err(retry_at_ms) => {
            tracing::warn!(user = %user, ip = ?ip, "web login throttled");
            let notice = Notice::Throttled {
                retry_at_ms,
                now_ms: state.logins.now_ms(),
            };
            return login_page(lang, &unit_name(&state).await, &next, notice, &user);
        }
    };
    let accounts = state.accounts.current();
    let (u2, pw) = (user.clone(), f.password);
    let ok = tokio::task::spawn_blocking(move || accounts.verify(&u2, &pw))
        .await
        .ok()
        .flatten();
    let from = ip.map_or_else(
        || "from an unknown address".to_string(),
        |ip| format!("from {ip}"),
    );
    if ok.is_none() {
        tracing::warn!(user = %user, ip = ?ip, "web login refused");
        // Recorded for an account that exists: a name typed at random (or a password
        // typed in the user field) is not signed into the log for every ancestor.
        if state.accounts.role(&user).is_some() {
            crate::audit(&state, &user, "login_failed", from).await;
        }
        return login_page(lang, &unit_name(&state).await, &next, Notice::Failed, &user);
    }
    state.logins.succeeded(attempt);
    crate::audit(&state, &user, "login", from).await;
    let stamp = state
        .accounts
        .stamp(&user)
        .map(|(_, h)| h)
        .unwrap_or_default();
    let id = state.sessions.create_with(&user, &stamp);
    let mut r = Redirect::to(&next).into_response();
    let c = format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Strict",
        state.sessions.cookie_name()
    );
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// `POST /logout`.
pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, state.sessions.cookie_name()) {
        state.sessions.remove(id);
    }
    let mut r = Redirect::to("/login").into_response();
    let c = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        state.sessions.cookie_name()
    );
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
