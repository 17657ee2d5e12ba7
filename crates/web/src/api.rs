//! JSON API handlers.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use eduioc_engine::{Engine, Error as EngineError, Fault, StorageHealth};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::AppState;

/// An API error rendered as JSON.
pub(crate) struct ApiError(StatusCode, Value);

impl ApiError {
    fn msg(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError(status, json!({ "error": message.into() }))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        if let Some(fault) = e.storage_fault() {
            return ApiError::msg(storage_status(fault.kind), fault.explain());
        }
        match e {
            EngineError::Import(errors) => {
                ApiError(StatusCode::UNPROCESSABLE_ENTITY, json!(errors))
            }
            EngineError::UnknownUnit(_) | EngineError::NotFound(_) => {
                ApiError::msg(StatusCode::NOT_FOUND, e.to_string())
            }
            EngineError::Forbidden(_) => ApiError::msg(StatusCode::FORBIDDEN, e.to_string()),
            EngineError::Invalid(_) => ApiError::msg(StatusCode::BAD_REQUEST, e.to_string()),
            EngineError::Unprocessable(_) => {
                ApiError::msg(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            EngineError::Busy(_) => ApiError::msg(StatusCode::CONFLICT, e.to_string()),
            other => {
                tracing::error!(error = %other, "request failed");
                ApiError::msg(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
            }
        }
    }
}

/// `507 Insufficient Storage` for a full disk, `503 Service Unavailable` for another
/// storage failure (the node heals by itself: the request can be repeated).
pub(crate) fn storage_status(kind: Fault) -> StatusCode {
    match kind {
        Fault::DiskFull => StatusCode::INSUFFICIENT_STORAGE,
        Fault::Io => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The `storage` field of `status`: `{"ok":true}`, or the failure in force with its
/// kind (`disk_full`, `io`), what it means, and since when.
fn storage_json(health: &StorageHealth) -> Value {
    match health.fault() {
        None => json!({"ok": true}),
        Some(f) => json!({
            "ok": false,
            "kind": match f.kind { Fault::DiskFull => "disk_full", Fault::Io => "io" },
            "error": f.explain(),
            "since": rfc3339(Some(f.since_ms)),
        }),
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

/// Runs `f` on the engine's thread, after the jobs sent before it.
async fn with_engine<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut Engine) -> Result<T, EngineError> + Send + 'static,
) -> Result<T, ApiError> {
    state
        .engine
        .call(f)
        .await
        .and_then(|r| r)
        .map_err(ApiError::from)
}

/// The `/api/v1` router with bearer-token authentication.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/status", get(status))
        .route("/stats", get(stats))
        .route("/indicators", get(indicators))
        .route("/forecast", get(forecast))
        .route("/targets", get(targets).put(set_target))
        .route("/alerts", get(alerts))
        .route("/alerts/{id}/ack", post(ack_alert))
        .route("/import/{kind}", post(import))
        .route("/records/students", get(students))
        .route("/records/staff", get(staff))
        .route("/notifications", get(notifications).post(notify))
        .route("/notifications/{unit}/{seq}/read", post(mark_read))
        .route("/audit", get(audit))
        .route("/metrics", get(crate::metrics::metrics))
        .route("/reports", get(reports).post(report_step))
        .route("/units/{id}/parent", post(reparent))
        .route("/export/feed", get(export_feed))
        .route("/export/units", get(export_units))
        .fallback(|| async { ApiError::msg(StatusCode::NOT_FOUND, "no such API endpoint") })
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .layer(middleware::from_fn_with_state(state.clone(), auth));
    // Prometheus' default path, behind the same token.
    let scrape = Router::new()
        .route("/metrics", get(crate::metrics::metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth));
    Router::new()
        .nest("/api/v1", api)
        .merge(scrape)
        .with_state(state)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn auth(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| constant_time_eq(t.trim().as_bytes(), state.token.as_bytes()));
    if ok {
        next.run(req).await
    } else {
        ApiError::msg(StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response()
    }
}

fn rfc3339(ms: Option<i64>) -> Value {
    match ms.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(t) => json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        None => Value::Null,
    }
}

/// `GET /api/v1/status`: from the engine's published status view and the network's link
/// table, never waiting for the engine (an import or an ingest may hold it for long).
async fn status(State(state): State<AppState>) -> ApiResult {
    let links = state.links.clone();
    let e = state.views.status();
    let l = links
        .lock()
        .map_err(|_| ApiError::msg(StatusCode::INTERNAL_SERVER_ERROR, "links lock poisoned"))?;
    let parent = l.parent.as_ref().map(|p| {
        let refused = p.refused.as_ref().map(|r| {
            json!({"entries": r.entries, "reason": r.key, "message": r.message,
                   "since": rfc3339(Some(r.since_ms)), "last_at": rfc3339(Some(r.last_ms)),
                   "units": r.units})
        });
        json!({"unit": p.unit, "connected": p.connected, "last_sync_at": rfc3339(p.last_sync_ms),
               "refused": refused})
    });
    let children: Vec<Value> = e
        .children
        .iter()
        .map(|(c, seen)| {
            let link = l.children.get(c);
            let seen = link.and_then(|x| x.last_seen_ms).or(*seen);
            json!({"unit": c, "connected": link.is_some_and(|x| x.connected), "last_seen_at": rfc3339(seen)})
        })
        .collect();
    let rejected: &BTreeMap<String, u64> = &e.rejected;
    let sent = l.wire.sent.load(std::sync::atomic::Ordering::Relaxed);
    let received = l.wire.received.load(std::sync::atomic::Ordering::Relaxed);
    let l_peer_id = l.peer_id.clone();
    drop(l);
    Ok(Json(json!({
        "unit": e.unit,
        "level": e.level,
        "name": e.name,
        "peer_id": l_peer_id,
        "parent": parent,
        "children": children,
        "log": {"entries": e.entries, "authors": e.authors},
        "rejected": rejected,
        "quarantined": e.quarantined,
        "wire": {"sent_bytes": sent, "received_bytes": received},
        "docs_loaded": e.docs_loaded,
        "docs_loaded_bytes": e.docs_loaded_bytes,
        "school_year": e.school_year(),
        "storage": storage_json(&state.storage),
        "restoring": e.restoring,
    })))
}

#[derive(Deserialize)]
struct UnitQuery {
    unit: Option<String>,
    year: Option<String>,
}

async fn stats(State(state): State<AppState>, Query(q): Query<UnitQuery>) -> ApiResult {
    // From the figures the engine published last: never waits for an import or an ingest.
    let figures = state.views.figures();
    let s = match &q.year {
        Some(y) => figures.stats_in(q.unit.as_deref(), y),
        None => figures.stats(q.unit.as_deref()),
    }?;
    Ok(Json(json!(s)))
}

#[derive(Deserialize)]
struct IndicatorsQuery {
    unit: Option<String>,
    year: Option<String>,
    term: Option<String>,
}

async fn indicators(State(state): State<AppState>, Query(q): Query<IndicatorsQuery>) -> ApiResult {
    // From the published figures, as `stats`.
    let figures = state.views.figures();
    let i = figures.indicators(q.unit.as_deref(), q.year.as_deref(), q.term.as_deref())?;
    Ok(Json(json!(i)))
}

#[derive(Deserialize)]
struct ForecastQuery {
    unit: Option<String>,
    years: Option<String>,
}

async fn forecast(State(state): State<AppState>, Query(q): Query<ForecastQuery>) -> ApiResult {
    let years = match q.years.as_deref() {
        None => 5,
        Some(y) => y.parse().map_err(|_| {
            ApiError::msg(
                StatusCode::BAD_REQUEST,
                format!("years must be a whole number from 1 to 10, got {y:?}"),
            )
        })?,
    };
    let f = state.views.figures().forecast(q.unit.as_deref(), years)?;
    Ok(Json(json!(f)))
}

#[derive(Deserialize)]
struct YearQuery {
    year: Option<String>,
}

async fn import(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    Query(q): Query<YearQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Parsed on a blocking thread, off the engine's, which only checks the document out
    // and signs and commits.
    let engine = state.engine.clone();
    let what = format!("{kind}: {} bytes", body.len());
    let outcome = tokio::task::spawn_blocking(move || {
        engine.import(q.year.as_deref(), &kind, ct.as_deref(), &body)
    })
    .await
    .map_err(|e| ApiError::msg(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??
    .0;
    let detail = format!(
        "{what} (API): {} added, {} changed",
        outcome.inserted, outcome.updated
    );
    crate::audit(&state, crate::API_USER, "import", detail).await;
    Ok(Json(json!(outcome)))
}

#[derive(Deserialize)]
struct ReportQuery {
    unit: Option<String>,
    year: Option<String>,
    term: Option<String>,
}

/// `GET /api/v1/reports?unit=&year=&term=`: the term reports of the subtree's schools
/// (every term when `term` is absent), each with `status`, the submitted figures, what
/// `changed` since and its `history`.
async fn reports(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
    Query(p): Query<PageQuery>,
) -> ApiResult {
    let terms: Vec<&str> = match q.term.as_deref() {
        Some(t) => vec![t],
        None => vec!["HK1", "HK2", "CN"],
    };
    // Off the executor, the figures read-locked one term at a time.
    let views = state.views.clone();
    let terms: Vec<String> = terms.into_iter().map(str::to_string).collect();
    let out = tokio::task::spawn_blocking(move || -> Result<Vec<Value>, eduioc_engine::Error> {
        let mut out = Vec::new();
        for t in &terms {
            let reports = views
                .figures()
                .reports(q.unit.as_deref(), q.year.as_deref(), t)?;
            for r in reports {
                let changed_since_approval = r.changed_since_approval();
                let id = format!("{}/{}/{}", r.school, r.year, r.term);
                let mut v = json!(r);
                v["id"] = json!(id);
                v["changed_since_approval"] = json!(changed_since_approval);
                out.push(v);
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| ApiError::msg(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    paged(out, "reports", &p)
}

#[derive(Deserialize)]
struct NewStep {
    school: String,
    year: String,
    term: String,
    step: String,
    #[serde(default)]
    comment: String,
}

/// `POST /api/v1/reports` `{"school","year","term","step","comment"}`: `submit` at the
/// school, `return` (a comment says why) or `approve` at its parent, `accept` at the root.
async fn report_step(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let s: NewStep = serde_json::from_slice(&body).map_err(|e| {
        ApiError::msg(
            StatusCode::BAD_REQUEST,
            format!("expected JSON {{\"school\",\"year\",\"term\",\"step\",\"comment\"}}: {e}"),
        )
    })?;
    let detail = format!("{} {} {}: {}", s.school, s.year, s.term, s.comment.trim());
    let action = crate::report_action(&s.step);
    let r = with_engine(&state, move |e| {
        e.report_step(&s.school, &s.year, &s.term, &s.step, &s.comment)
    })
    .await?;
    crate::audit(&state, crate::API_USER, action, detail).await;
    Ok(Json(json!({ "report": r })))
}

#[derive(Deserialize)]
struct NewParent {
    parent: String,
    /// RFC 3339; now when absent.
    effective: Option<String>,
}

/// `POST /api/v1/units/{id}/parent` `{"parent": "...", "effective": "RFC 3339"}` at the
/// root or a delegated office: issues the unit's next certificate version under the new
/// parent (`eduioc topology reparent` calls it on a running node).
async fn reparent(
    State(state): State<AppState>,
    Path(unit): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b: NewParent = serde_json::from_slice(&body).map_err(|e| {
        ApiError::msg(
            StatusCode::BAD_REQUEST,
            format!("expected JSON {{\"parent\", \"effective\" (optional, RFC 3339)}}: {e}"),
        )
    })?;
    let effective = match b.effective.as_deref() {
        None => None,
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| {
                    ApiError::msg(StatusCode::BAD_REQUEST, format!("effective {t:?}: {e}"))
                })?
                .timestamp_millis(),
        ),
    };
    let (u2, p2) = (unit.clone(), b.parent.clone());
    let cert = with_engine(&state, move |e| e.reparent(&u2, &p2, effective)).await?;
    let at = rfc3339(Some(cert.body.effective_ms));
    let detail = format!(
        "{unit} under {} from {} (certificate version {})",
        b.parent,
        at.as_str().unwrap_or_default(),
        cert.body.version
    );
    crate::audit(&state, crate::API_USER, "reparent", detail).await;
    Ok(Json(json!({
        "unit": unit,
        "parent": b.parent,
        "version": cert.body.version,
        "effective": at,
    })))
}

#[derive(Deserialize)]
struct AuditParams {
    unit: Option<String>,
    user: Option<String>,
    action: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/v1/audit?unit=&user=&action=&limit=&cursor=`: a page of the audit trail of
/// the subtree, newest first, each row checked against the signed log; `next` is the
/// cursor of the following page (absent on the last).
async fn audit(State(state): State<AppState>, Query(q): Query<AuditParams>) -> ApiResult {
    let query = eduioc_engine::AuditQuery {
        unit: q.unit,
        user: q.user,
        action: q.action,
        cursor: q.cursor,
        limit: q.limit.unwrap_or(100),
    };
    let page = crate::look_up(&state, move |l| l.audit(&query))
        .await
        .map_err(|e| ApiError::msg(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(json!(page)))
}

#[derive(Deserialize)]
struct FeedParams {
    cursor: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/v1/export/feed?cursor=&limit=`: the documents whose figures changed after
/// `cursor`, oldest change first, each with its records, and the indicators of the units
/// they count toward; `next` is the cursor of the following page (`limit` 1–500 documents,
/// default 50). What `eduioc export postgres` reads.
async fn export_feed(State(state): State<AppState>, Query(q): Query<FeedParams>) -> ApiResult {
    let cursor = q.cursor.unwrap_or(0);
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let page = crate::look_up(&state, move |l| l.feed(cursor, limit))
        .await
        .map_err(|e| ApiError::msg(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(json!(page)))
}

/// `GET /api/v1/export/units`: every unit of the subtree with its certificate in force,
/// and every indicator of each for every school year with data.
async fn export_units(State(state): State<AppState>) -> ApiResult {
    let page = crate::look_up(&state, |l| l.units_page())
        .await
        .map_err(|e| ApiError::msg(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(json!(page)))
}

/// Above the level records stop at, a look-up's answer says why it finds nothing:
/// `"records_kept_below": "<level>"` and a `note`.
fn kept_below(state: &AppState, v: &mut Value) {
    if let Some(level) = state.views.figures().records_kept_below() {
        v["records_kept_below"] = json!(level);
        v["note"] = json!(format!(
            "records are kept up to the {level} level (records_up_to): this node holds only \
             the figures offices of that level sign; look records up at a {level} node"
        ));
    }
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
    unit: Option<String>,
    limit: Option<usize>,
}

async fn students(State(state): State<AppState>, Query(q): Query<SearchQuery>) -> ApiResult {
    let text = q.q.unwrap_or_default();
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let hits = crate::look_up(&state, move |l| {
        l.search_students(&text, q.unit.as_deref(), limit)
    })
    .await
    .map_err(|e| ApiError::msg(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let mut v = json!({ "students": hits });
    kept_below(&state, &mut v);
    Ok(Json(v))
}

/// `GET /api/v1/records/staff?q=&unit=&limit=`: staff of the subtree matching `q` (by id
/// or name, accent-insensitive), with their school; mirrors `/records/students`.
async fn staff(State(state): State<AppState>, Query(q): Query<SearchQuery>) -> ApiResult {
    let text = q.q.unwrap_or_default();
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let hits = crate::look_up(&state, move |l| {
        l.search_staff(&text, q.unit.as_deref(), limit)
    })
    .await
    .map_err(|e| ApiError::msg(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let mut v = json!({ "staff": hits });
    kept_below(&state, &mut v);
    Ok(Json(v))
}

#[derive(Deserialize)]
struct NewNotification {
    title: String,
    body: String,
    to_unit: String,
}

async fn notify(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let n: NewNotification = serde_json::from_slice(&body).map_err(|e| {
        ApiError::msg(
            StatusCode::BAD_REQUEST,
            format!("expected JSON {{\"title\",\"body\",\"to_unit\"}}: {e}"),
        )
    })?;
    let notice = with_engine(&state, move |e| e.notify(&n.to_unit, &n.title, &n.body)).await?;
    let detail = format!("{} to {}: {}", notice.id, notice.to_unit, notice.title);
    crate::audit(&state, crate::API_USER, "notification", detail).await;
    Ok(Json(json!(notice)))
}

#[derive(Deserialize)]
struct NewTarget {
    unit: String,
    year: String,
    indicator: String,
    op: String,
    value: f64,
}

async fn set_target(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let t: NewTarget = serde_json::from_slice(&body).map_err(|e| {
        ApiError::msg(
            StatusCode::BAD_REQUEST,
            format!("expected JSON {{\"unit\",\"year\",\"indicator\",\"op\",\"value\"}}: {e}"),
        )
    })?;
    let detail = format!("{} {} {} {} {}", t.unit, t.year, t.indicator, t.op, t.value);
    let id = with_engine(&state, move |e| {
        e.set_target(&t.unit, &t.year, &t.indicator, &t.op, t.value)
    })
    .await?;
    crate::audit(&state, crate::API_USER, "target", detail).await;
    Ok(Json(json!({ "id": id })))
}

/// `limit` and `cursor` of a list that can be long.
#[derive(Deserialize, Default)]
struct PageQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// Most items one page of a list holds.
const MAX_PAGE: usize = 1000;

/// `{"<field>": items}` — or, when the request gives `limit` or `cursor`, one page of them:
/// the items in the order of their `id`, after `cursor`, at most `limit` (1–1000, default
/// 100), and `next` (the cursor of the following page) when more follow. Pages go by id,
/// not position, so an item added or removed between two requests shifts nothing.
fn paged(items: Vec<Value>, field: &str, p: &PageQuery) -> ApiResult {
    let mut out = serde_json::Map::new();
    if p.limit.is_none() && p.cursor.is_none() {
        out.insert(field.to_string(), Value::Array(items));
        return Ok(Json(Value::Object(out)));
    }
    let limit = p.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::msg(
            StatusCode::BAD_REQUEST,
            format!("limit must be from 1 to {MAX_PAGE}, got {limit}"),
        ));
    }
    let mut keyed: Vec<(String, Value)> = items
        .into_iter()
        .map(|v| (v["id"].as_str().unwrap_or_default().to_string(), v))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let start = match &p.cursor {
        Some(c) => keyed.partition_point(|(k, _)| k.as_str() <= c.as_str()),
        None => 0,
    };
    let rest = &keyed[start..];
    let page: Vec<Value> = rest.iter().take(limit).map(|(_, v)| v.clone()).collect();
    out.insert(field.to_string(), Value::Array(page));
    if rest.len() > limit {
        out.insert("next".to_string(), json!(rest[limit - 1].0));
    }
    Ok(Json(Value::Object(out)))
}

async fn targets(
    State(state): State<AppState>,
    Query(q): Query<UnitQuery>,
    Query(p): Query<PageQuery>,
) -> ApiResult {
    let list = state
        .views
        .figures()
        .targets(q.unit.as_deref(), q.year.as_deref())?;
    let items = list.iter().map(|t| json!(t)).collect();
    paged(items, "targets", &p)
}

async fn alerts(
    State(state): State<AppState>,
    Query(q): Query<UnitQuery>,
    Query(p): Query<PageQuery>,
) -> ApiResult {
    let list = state
        .views
        .figures()
        .alerts(q.unit.as_deref(), q.year.as_deref())?;
    let items = list.iter().map(|a| json!(a)).collect();
    paged(items, "alerts", &p)
}

#[derive(Deserialize)]
struct AckBody {
    #[serde(default)]
    note: String,
}

async fn ack_alert(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b: AckBody = if body.is_empty() {
        AckBody {
            note: String::new(),
        }
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::msg(
                StatusCode::BAD_REQUEST,
                format!("expected JSON {{\"note\":\"...\"}}: {e}"),
            )
        })?
    };
    let detail = format!("{id}: {}", b.note.trim());
    let ack = with_engine(&state, move |e| e.ack_alert(&id, &b.note)).await?;
    crate::audit(&state, crate::API_USER, "alert_ack", detail).await;
    Ok(Json(json!({ "acknowledged": ack })))
}

async fn notifications(State(state): State<AppState>, Query(p): Query<PageQuery>) -> ApiResult {
    let list = with_engine(&state, |e| e.notifications()).await?;
    let items: Vec<Value> = list
        .into_iter()
        .map(|(n, readers)| {
            let mut v = json!(n);
            v["sent_at"] = rfc3339(Some(n.sent_ms));
            v["read_by"] = json!(readers);
            v
        })
        .collect();
    paged(items, "notifications", &p)
}

async fn mark_read(
    State(state): State<AppState>,
    Path((unit, seq)): Path<(String, u64)>,
) -> ApiResult {
    with_engine(&state, move |e| e.mark_read(&format!("{unit}/{seq}"))).await?;
    Ok(Json(json!({ "ok": true })))
}
