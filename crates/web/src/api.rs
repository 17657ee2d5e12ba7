//! JSON API handlers.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use eduioc_engine::export::{FeedPage, UnitsPage};
use eduioc_engine::{
    AckView, Alert, AuditPage, Engine, Error as EngineError, Fault, Forecast, ImportOutcome,
    Indicators, Notice, ReportView, StaffHit, Stats, StorageHealth, StudentHit, TargetStatus,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::openapi::{schema, Body, Endpoint, Reply};
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

/// Whether the node's store writes.
#[derive(Serialize, JsonSchema)]
struct StorageState {
    /// `true` while it writes.
    ok: bool,
    /// The failure in force: `disk_full` or `io`.
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    /// What it means, and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Since when (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<String>,
}

/// The `storage` field of `status`: `{"ok":true}`, or the failure in force with its
/// kind (`disk_full`, `io`), what it means, and since when.
fn storage_state(health: &StorageHealth) -> StorageState {
    match health.fault() {
        None => StorageState {
            ok: true,
            kind: None,
            error: None,
            since: None,
        },
        Some(f) => StorageState {
            ok: false,
            kind: Some(match f.kind {
                Fault::DiskFull => "disk_full",
                Fault::Io => "io",
            }),
            error: Some(f.explain()),
            since: rfc3339(Some(f.since_ms)),
        },
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

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

/// Runs a look-up of the store on the blocking pool, beside the engine.
async fn look_up<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&eduioc_engine::Lookups) -> Result<T, EngineError> + Send + 'static,
) -> Result<T, ApiError> {
    crate::look_up(state, f)
        .await
        .map_err(|e| ApiError::msg(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(ApiError::from)
}

/// The JSON API: every endpoint, how it is served and how the OpenAPI document describes
/// it. The router and the document are both built from this table.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    let e = |method, path, id, summary, description, route| Endpoint {
        method,
        path,
        id,
        summary,
        description,
        path_params: &[],
        query: &[],
        body: Body::None,
        ok: Reply::Json(schema::<Value>),
        errors: &[],
        import_errors: false,
        route,
    };
    vec![
        Endpoint {
            ok: Reply::Json(schema::<StatusBody>),
            ..e(
                "get",
                "/status",
                "status",
                "The node's identity, links and log.",
                "Never waits for the engine: read from what it published last and from the \
                 network's link table.",
                get(status),
            )
        },
        Endpoint {
            query: &[schema::<UnitQuery>],
            ok: Reply::Json(schema::<Stats>),
            errors: &[400, 404],
            ..e(
                "get",
                "/stats",
                "stats",
                "Counts of a unit's subtree.",
                "Schools, classes, students and staff of the unit's subtree as this node \
                 holds it (CONTRACT.md).",
                get(stats),
            )
        },
        Endpoint {
            query: &[schema::<IndicatorsQuery>],
            ok: Reply::Json(schema::<Indicators>),
            errors: &[400, 404],
            ..e(
                "get",
                "/indicators",
                "indicators",
                "The indicators of a unit.",
                "Every indicator of the unit's subtree for a school year and term, with \
                 its numerator and denominator (CONTRACT.md, Indicators).",
                get(indicators),
            )
        },
        Endpoint {
            query: &[schema::<ForecastQuery>],
            ok: Reply::Json(schema::<Forecast>),
            errors: &[400, 404, 422],
            ..e(
                "get",
                "/forecast",
                "forecast",
                "Enrolment forecast by grade.",
                "Grade-ratio projection from the latest two school years with students \
                 (`422` without both), with the classes and teachers needed.",
                get(forecast),
            )
        },
        Endpoint {
            query: &[schema::<UnitQuery>, schema::<PageQuery>],
            ok: Reply::Json(schema::<TargetList>),
            errors: &[400, 404],
            ..e(
                "get",
                "/targets",
                "targets",
                "Targets of a unit's subtree, against the actuals.",
                "Targets for the unit and every unit below it that this node knows, each with \
                 the indicator as this node computes it and whether it is met.",
                get(targets),
            )
        },
        Endpoint {
            body: Body::Json(schema::<NewTarget>),
            ok: Reply::Json(schema::<TargetId>),
            errors: &[400, 403, 404, 422],
            ..e(
                "put",
                "/targets",
                "set_target",
                "Set a target (offices).",
                "For the office's own unit or any unit below it; the same office setting \
                 the same unit, year and indicator replaces its earlier target. `403` at a \
                 school.",
                put(set_target),
            )
        },
        Endpoint {
            query: &[schema::<UnitQuery>, schema::<PageQuery>],
            ok: Reply::Json(schema::<AlertList>),
            errors: &[400, 404],
            ..e(
                "get",
                "/alerts",
                "alerts",
                "Alerts of a unit's subtree.",
                "Evaluated by this node from what it holds; the same condition has the \
                 same id at every node that sees it.",
                get(alerts),
            )
        },
        Endpoint {
            path_params: &[("id", "The alert's id.", false)],
            body: Body::OptionalJson(schema::<AckBody>),
            ok: Reply::Json(schema::<Acknowledged>),
            errors: &[400, 404],
            ..e(
                "post",
                "/alerts/{id}/ack",
                "ack_alert",
                "Acknowledge an alert.",
                "Signed by this node; the acknowledgement travels up, so every ancestor \
                 shows it.",
                post(ack_alert),
            )
        },
        Endpoint {
            path_params: &[(
                "kind",
                "`students`, `staff`, `classes`, `results`, `health` or \
                `profile`.",
                false,
            )],
            query: &[schema::<YearQuery>],
            body: Body::File,
            ok: Reply::Json(schema::<ImportOutcome>),
            errors: &[400, 403, 404, 409, 413, 422],
            import_errors: true,
            ..e(
                "post",
                "/import/{kind}",
                "import",
                "Import a school's file (schools).",
                "All or nothing: rows upsert by id within the school; a file with any bad \
                 row is refused with every problem named (`422`).",
                post(import),
            )
        },
        Endpoint {
            query: &[schema::<SearchQuery>],
            ok: Reply::Json(schema::<StudentList>),
            errors: &[400, 404],
            ..e(
                "get",
                "/records/students",
                "students",
                "Find students.",
                "By id or name, accent-insensitive, in the subtree, with their school.",
                get(students),
            )
        },
        Endpoint {
            query: &[schema::<SearchQuery>],
            ok: Reply::Json(schema::<StaffList>),
            errors: &[400, 404],
            ..e(
                "get",
                "/records/staff",
                "staff",
                "Find staff.",
                "By id or name, accent-insensitive, in the subtree, with their school.",
                get(staff),
            )
        },
        Endpoint {
            query: &[schema::<PageQuery>],
            ok: Reply::Json(schema::<NotificationList>),
            ..e(
                "get",
                "/notifications",
                "notifications",
                "The notifications this node holds.",
                "Those it sent and those addressed to its unit or above it, with who read \
                 them.",
                get(notifications),
            )
        },
        Endpoint {
            body: Body::Json(schema::<NewNotification>),
            ok: Reply::Json(schema::<Notice>),
            errors: &[400, 403, 404, 422],
            ..e(
                "post",
                "/notifications",
                "notify",
                "Send a notification down.",
                "To a unit of this node's subtree and everything below it.",
                post(notify),
            )
        },
        Endpoint {
            path_params: &[
                ("unit", "The unit that sent it.", false),
                ("seq", "Its entry's number in the sender's log.", true),
            ],
            ok: Reply::Json(schema::<Done>),
            errors: &[400, 404],
            ..e(
                "post",
                "/notifications/{unit}/{seq}/read",
                "mark_read",
                "Mark a notification read.",
                "Signed by this node; its sender sees it.",
                post(mark_read),
            )
        },
        Endpoint {
            query: &[schema::<AuditParams>],
            ok: Reply::Json(schema::<AuditPage>),
            errors: &[400, 404],
            ..e(
                "get",
                "/audit",
                "audit",
                "The audit trail of the subtree, newest first.",
                "Each row checked against the signed log when read; `next` is the cursor \
                 of the following page.",
                get(audit),
            )
        },
        Endpoint {
            ok: Reply::Prometheus,
            ..e(
                "get",
                "/metrics",
                "metrics",
                "Operations metrics for Prometheus.",
                "Also served at `/metrics`, behind the same token.",
                get(crate::metrics::metrics),
            )
        },
        Endpoint {
            query: &[schema::<ReportQuery>, schema::<PageQuery>],
            ok: Reply::Json(schema::<ReportList>),
            errors: &[400, 404],
            ..e(
                "get",
                "/reports",
                "reports",
                "Term reports of the subtree's schools.",
                "Every term when `term` is absent; each with its status, the figures as \
                 submitted, what changed since and its history.",
                get(reports),
            )
        },
        Endpoint {
            body: Body::Json(schema::<NewStep>),
            ok: Reply::Json(schema::<ReportStep>),
            errors: &[400, 403, 404, 422],
            ..e(
                "post",
                "/reports",
                "report_step",
                "Take a step of a term report.",
                "`submit` at the school, `return` (a comment says why) or `approve` at its \
                 parent, `accept` at the root.",
                post(report_step),
            )
        },
        Endpoint {
            path_params: &[("id", "A unit id.", false)],
            body: Body::Json(schema::<NewParent>),
            ok: Reply::Json(schema::<Reparented>),
            errors: &[400, 403, 404, 422],
            ..e(
                "post",
                "/units/{id}/parent",
                "reparent",
                "Move a unit under another parent.",
                "At the root or a delegated office: issues the unit's next certificate \
                 version under the new parent.",
                post(reparent),
            )
        },
        Endpoint {
            query: &[schema::<FeedParams>],
            ok: Reply::Json(schema::<FeedPage>),
            errors: &[400],
            ..e(
                "get",
                "/export/feed",
                "export_feed",
                "The export feed.",
                "The documents whose figures changed after `cursor`, oldest change first, \
                 each with its records, and the indicators of the units they count toward. \
                 What `eduioc export postgres` reads.",
                get(export_feed),
            )
        },
        Endpoint {
            ok: Reply::Json(schema::<UnitsPage>),
            ..e(
                "get",
                "/export/units",
                "export_units",
                "Every unit of the subtree.",
                "With its certificate in force and every indicator of each for every \
                 school year with data.",
                get(export_units),
            )
        },
        e(
            "get",
            "/openapi.json",
            "openapi",
            "This document.",
            "OpenAPI 3.1, the same at every node.",
            get(openapi),
        ),
    ]
}

/// The `/api/v1` router with bearer-token authentication.
pub fn router(state: AppState) -> Router {
    let mut api = Router::new();
    for e in endpoints() {
        api = api.route(e.path, e.route);
    }
    let api = api
        .fallback(|| async { ApiError::msg(StatusCode::NOT_FOUND, "no such API endpoint") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .layer(middleware::map_response(json_errors));
    // Prometheus' default path, behind the same token.
    let scrape = Router::new()
        .route("/metrics", get(crate::metrics::metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth));
    Router::new()
        .nest("/api/v1", api)
        .merge(scrape)
        .with_state(state)
}

/// Largest request body the API reads (an import file: 64 MiB).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Errors are JSON `{"error": "..."}` (CONTRACT): what the framework answers by itself
/// in plain text — a query string or a path that does not parse, a body over the limit —
/// is rewritten so, with its status and message.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    // The framework's messages are a line; a longer body is not one of them.
    let text = match axum::body::to_bytes(response.into_body(), 16 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let text = match text.as_str() {
        "" => status.canonical_reason().unwrap_or("error").to_string(),
        _ => text,
    };
    ApiError::msg(status, text).into_response()
}

/// `GET /api/v1/openapi.json`: the same document at every node (built once).
async fn openapi() -> Response {
    static DOC: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    let body = DOC
        .get_or_init(|| {
            Bytes::from(
                serde_json::to_vec_pretty(&crate::openapi::document(&endpoints()))
                    .unwrap_or_default(),
            )
        })
        .clone();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
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

fn rfc3339(ms: Option<i64>) -> Option<String> {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// `GET /api/v1/status`.
#[derive(Serialize, JsonSchema)]
struct StatusBody {
    /// The unit this node speaks for.
    unit: String,
    /// Its level (`department`, `district`, `school`, …).
    level: String,
    /// Its name.
    name: String,
    /// Its libp2p peer id.
    peer_id: String,
    /// The link to its parent (`null` at the root).
    parent: Option<ParentState>,
    /// Its children in the hierarchy in force.
    children: Vec<ChildState>,
    /// The signed log it holds.
    log: LogCounts,
    /// Rejected entries or frames, by short reason key (`bad_signature`, `unauthorized`,
    /// `fork`, `bad_actor`, `malformed`, `oversized`, `uncertified`, …).
    rejected: BTreeMap<String, u64>,
    /// Entries quarantined as forks.
    quarantined: usize,
    /// Bytes through its links.
    wire: WireCounts,
    /// Automerge documents loaded in memory.
    docs_loaded: usize,
    /// Their estimated memory, bytes.
    docs_loaded_bytes: usize,
    /// The school year new data goes to by default.
    school_year: String,
    /// Whether the store writes.
    storage: StorageState,
    /// Whether it is restoring its log from its parent (`eduioc restore`).
    restoring: bool,
}

/// The link to the parent.
#[derive(Serialize, JsonSchema)]
struct ParentState {
    /// The parent's unit.
    unit: String,
    /// Whether it is connected now.
    connected: bool,
    /// When it last held everything this node sent (RFC 3339).
    last_sync_at: Option<String>,
    /// What the parent refuses, until it holds it (`null`: nothing).
    refused: Option<RefusedState>,
}

/// What the parent refuses.
#[derive(Serialize, JsonSchema)]
struct RefusedState {
    /// Entries its latest acknowledgement refused (0: whole requests).
    entries: u64,
    /// Short reason key, as in `rejected`.
    reason: String,
    /// What it means.
    message: String,
    /// First refusal (RFC 3339).
    since: Option<String>,
    /// Latest refusal (RFC 3339).
    last_at: Option<String>,
    /// Units whose entries are refused (at most 32).
    units: Vec<String>,
}

/// A child's link.
#[derive(Serialize, JsonSchema)]
struct ChildState {
    /// The child's unit.
    unit: String,
    /// Whether it is connected now.
    connected: bool,
    /// When it was last heard from (RFC 3339; `null`: never).
    last_seen_at: Option<String>,
}

/// The log held.
#[derive(Serialize, JsonSchema)]
struct LogCounts {
    /// Entries.
    entries: u64,
    /// Authors.
    authors: usize,
}

/// Bytes through the links since the node started.
#[derive(Serialize, JsonSchema)]
struct WireCounts {
    /// Sent.
    sent_bytes: u64,
    /// Received.
    received_bytes: u64,
}

/// `GET /api/v1/status`: from the engine's published status view and the network's link
/// table, never waiting for the engine (an import or an ingest may hold it for long).
async fn status(State(state): State<AppState>) -> ApiResult<StatusBody> {
    let e = state.views.status();
    let l = state
        .links
        .lock()
        .map_err(|_| ApiError::msg(StatusCode::INTERNAL_SERVER_ERROR, "links lock poisoned"))?;
    let parent = l.parent.as_ref().map(|p| ParentState {
        unit: p.unit.clone(),
        connected: p.connected,
        last_sync_at: rfc3339(p.last_sync_ms),
        refused: p.refused.as_ref().map(|r| RefusedState {
            entries: r.entries,
            reason: r.key.clone(),
            message: r.message.clone(),
            since: rfc3339(Some(r.since_ms)),
            last_at: rfc3339(Some(r.last_ms)),
            units: r.units.clone(),
        }),
    });
    let children = e
        .children
        .iter()
        .map(|(c, seen)| {
            let link = l.children.get(c);
            ChildState {
                unit: c.clone(),
                connected: link.is_some_and(|x| x.connected),
                last_seen_at: rfc3339(link.and_then(|x| x.last_seen_ms).or(*seen)),
            }
        })
        .collect();
    let wire = WireCounts {
        sent_bytes: l.wire.sent.load(std::sync::atomic::Ordering::Relaxed),
        received_bytes: l.wire.received.load(std::sync::atomic::Ordering::Relaxed),
    };
    let peer_id = l.peer_id.clone();
    drop(l);
    Ok(Json(StatusBody {
        unit: e.unit.clone(),
        level: e.level.clone(),
        name: e.name.clone(),
        peer_id,
        parent,
        children,
        log: LogCounts {
            entries: e.entries,
            authors: e.authors,
        },
        rejected: e.rejected.clone(),
        quarantined: e.quarantined,
        wire,
        docs_loaded: e.docs_loaded,
        docs_loaded_bytes: e.docs_loaded_bytes,
        school_year: e.school_year(),
        storage: storage_state(&state.storage),
        restoring: e.restoring,
    }))
}

/// The unit and school year asked about.
#[derive(Deserialize, JsonSchema)]
struct UnitQuery {
    /// A unit of this node's subtree (default: the node's own).
    unit: Option<String>,
    /// A school year `YYYY-YYYY` (default: the current one).
    year: Option<String>,
}

async fn stats(State(state): State<AppState>, Query(q): Query<UnitQuery>) -> ApiResult<Stats> {
    // From the figures the engine published last: never waits for an import or an ingest.
    let figures = state.views.figures();
    let s = match &q.year {
        Some(y) => figures.stats_in(q.unit.as_deref(), y),
        None => figures.stats(q.unit.as_deref()),
    }?;
    Ok(Json(s))
}

/// The unit, school year and term asked about.
#[derive(Deserialize, JsonSchema)]
struct IndicatorsQuery {
    /// A unit of this node's subtree (default: the node's own).
    unit: Option<String>,
    /// A school year `YYYY-YYYY` (default: the current one).
    year: Option<String>,
    /// `HK1`, `HK2` or `CN` (default: the latest term with any result in the subtree
    /// that year).
    term: Option<String>,
}

async fn indicators(
    State(state): State<AppState>,
    Query(q): Query<IndicatorsQuery>,
) -> ApiResult<Indicators> {
    // From the published figures, as `stats`.
    let figures = state.views.figures();
    let i = figures.indicators(q.unit.as_deref(), q.year.as_deref(), q.term.as_deref())?;
    Ok(Json(i))
}

/// The unit and horizon of a forecast.
#[derive(Deserialize, JsonSchema)]
struct ForecastQuery {
    /// A unit of this node's subtree (default: the node's own).
    unit: Option<String>,
    /// How many school years ahead, 1–10 (default 5).
    years: Option<String>,
}

async fn forecast(
    State(state): State<AppState>,
    Query(q): Query<ForecastQuery>,
) -> ApiResult<Forecast> {
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
    Ok(Json(f))
}

/// The school year of an import.
#[derive(Deserialize, JsonSchema)]
struct YearQuery {
    /// A school year `YYYY-YYYY` (default: the current one, which starts on 1 September).
    year: Option<String>,
}

async fn import(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    Query(q): Query<YearQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<ImportOutcome> {
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
    Ok(Json(outcome))
}

/// The reports asked about.
#[derive(Deserialize, JsonSchema)]
struct ReportQuery {
    /// A unit of this node's subtree (default: the node's own).
    unit: Option<String>,
    /// A school year `YYYY-YYYY` (default: the current one).
    year: Option<String>,
    /// `HK1`, `HK2` or `CN` (default: every term).
    term: Option<String>,
}

/// A term report as listed.
#[derive(Serialize, JsonSchema)]
struct ReportItem {
    /// `school/year/term`: the key `cursor` pages by.
    id: String,
    /// Whether the school's data changed after the report was approved or accepted.
    changed_since_approval: bool,
    #[serde(flatten)]
    report: ReportView,
}

/// `GET /api/v1/reports`.
#[derive(Serialize, JsonSchema)]
struct ReportList {
    /// The reports (in `id` order when paged).
    reports: Vec<ReportItem>,
    /// The `cursor` of the following page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// `GET /api/v1/reports?unit=&year=&term=`: the term reports of the subtree's schools
/// (every term when `term` is absent), each with `status`, the submitted figures, what
/// `changed` since and its `history`.
async fn reports(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
    Query(p): Query<PageQuery>,
) -> ApiResult<ReportList> {
    let terms: Vec<&str> = match q.term.as_deref() {
        Some(t) => vec![t],
        None => vec!["HK1", "HK2", "CN"],
    };
    // Off the executor, the figures read-locked one term at a time.
    let views = state.views.clone();
    let terms: Vec<String> = terms.into_iter().map(str::to_string).collect();
    let out = tokio::task::spawn_blocking(move || -> Result<Vec<ReportItem>, EngineError> {
        let mut out = Vec::new();
        for t in &terms {
            let reports = views
                .figures()
                .reports(q.unit.as_deref(), q.year.as_deref(), t)?;
            out.extend(reports.into_iter().map(|r| ReportItem {
                id: format!("{}/{}/{}", r.school, r.year, r.term),
                changed_since_approval: r.changed_since_approval(),
                report: r,
            }));
        }
        Ok(out)
    })
    .await
    .map_err(|e| ApiError::msg(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let (reports, next) = paged(out, |r| &r.id, &p)?;
    Ok(Json(ReportList { reports, next }))
}

/// A step of a term report.
#[derive(Deserialize, JsonSchema)]
struct NewStep {
    /// The school.
    school: String,
    /// The school year `YYYY-YYYY`.
    year: String,
    /// `HK1`, `HK2` or `CN`.
    term: String,
    /// `submit`, `return`, `approve` or `accept`.
    step: String,
    /// Why (required to return a report).
    #[serde(default)]
    comment: String,
}

/// `POST /api/v1/reports`.
#[derive(Serialize, JsonSchema)]
struct ReportStep {
    /// The report after the step.
    report: ReportView,
}

/// `POST /api/v1/reports` `{"school","year","term","step","comment"}`: `submit` at the
/// school, `return` (a comment says why) or `approve` at its parent, `accept` at the root.
async fn report_step(State(state): State<AppState>, body: Bytes) -> ApiResult<ReportStep> {
    let s: NewStep = serde_json::from_slice(&body).map_err(|e| {
        ApiError::msg(
            StatusCode::BAD_REQUEST,
            format!("expected JSON {{\"school\",\"year\",\"term\",\"step\",\"comment\"}}: {e}"),
        )
    })?;
    let detail = format!("{} {} {}: {}", s.school, s.year, s.term, s.comment.trim());
    let action = crate::report_action(&s.step);
    let report = with_engine(&state, move |e| {
        e.report_step(&s.school, &s.year, &s.term, &s.step, &s.comment)
    })
    .await?;
    crate::audit(&state, crate::API_USER, action, detail).await;
    Ok(Json(ReportStep { report }))
}

/// A unit's new parent.
#[derive(Deserialize, JsonSchema)]
struct NewParent {
    /// The new parent's unit id.
    parent: String,
    /// From when, RFC 3339 (default: now).
    effective: Option<String>,
}

/// `POST /api/v1/units/{id}/parent`.
#[derive(Serialize, JsonSchema)]
struct Reparented {
    /// The unit moved.
    unit: String,
    /// Its new parent.
    parent: String,
    /// Its new certificate's version.
    version: u32,
    /// From when (RFC 3339).
    effective: Option<String>,
}

/// `POST /api/v1/units/{id}/parent` `{"parent": "...", "effective": "RFC 3339"}` at the
/// root or a delegated office: issues the unit's next certificate version under the new
/// parent (`eduioc topology reparent` calls it on a running node).
async fn reparent(
    State(state): State<AppState>,
    Path(unit): Path<String>,
    body: Bytes,
) -> ApiResult<Reparented> {
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
        at.as_deref().unwrap_or_default(),
        cert.body.version
    );
    crate::audit(&state, crate::API_USER, "reparent", detail).await;
    Ok(Json(Reparented {
        unit,
        parent: b.parent,
        version: cert.body.version,
        effective: at,
    }))
}

/// The audit rows asked about.
#[derive(Deserialize, JsonSchema)]
struct AuditParams {
    /// A unit of this node's subtree (default: the node's own, and all below).
    unit: Option<String>,
    /// Only this user's actions (`api` for the token).
    user: Option<String>,
    /// Only this action code (`login`, `import`, `target`, …).
    action: Option<String>,
    /// The `next` of the previous page.
    cursor: Option<String>,
    /// Rows per page (default 100).
    limit: Option<usize>,
}

/// `GET /api/v1/audit?unit=&user=&action=&limit=&cursor=`: a page of the audit trail of
/// the subtree, newest first, each row checked against the signed log; `next` is the
/// cursor of the following page (absent on the last).
async fn audit(
    State(state): State<AppState>,
    Query(q): Query<AuditParams>,
) -> ApiResult<AuditPage> {
    let query = eduioc_engine::AuditQuery {
        unit: q.unit,
        user: q.user,
        action: q.action,
        cursor: q.cursor,
        limit: q.limit.unwrap_or(100),
    };
    Ok(Json(look_up(&state, move |l| l.audit(&query)).await?))
}

/// Where the feed is read from.
#[derive(Deserialize, JsonSchema)]
struct FeedParams {
    /// The `next` of the previous page (default 0: from the start).
    cursor: Option<u64>,
    /// Documents per page, 1–500 (default 50).
    limit: Option<usize>,
}

/// `GET /api/v1/export/feed?cursor=&limit=`: the documents whose figures changed after
/// `cursor`, oldest change first, each with its records, and the indicators of the units
/// they count toward; `next` is the cursor of the following page (`limit` 1–500 documents,
/// default 50). What `eduioc export postgres` reads.
async fn export_feed(
    State(state): State<AppState>,
    Query(q): Query<FeedParams>,
) -> ApiResult<FeedPage> {
    let cursor = q.cursor.unwrap_or(0);
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    Ok(Json(look_up(&state, move |l| l.feed(cursor, limit)).await?))
}

/// `GET /api/v1/export/units`: every unit of the subtree with its certificate in force,
/// and every indicator of each for every school year with data.
async fn export_units(State(state): State<AppState>) -> ApiResult<UnitsPage> {
    Ok(Json(look_up(&state, |l| l.units_page()).await?))
}

/// Why a look-up above the level records stop at finds nothing.
#[derive(Serialize, JsonSchema)]
struct KeptBelow {
    /// The level records are kept up to (`records_up_to`): look them up at a node of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    records_kept_below: Option<String>,
    /// The same, in a sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// Above the level records stop at, a look-up's answer says why it finds nothing:
/// `"records_kept_below": "<level>"` and a `note`.
fn kept_below(state: &AppState) -> KeptBelow {
    let level = state
        .views
        .figures()
        .records_kept_below()
        .map(|l| l.to_string());
    KeptBelow {
        note: level.as_ref().map(|level| {
            format!(
                "records are kept up to the {level} level (records_up_to): this node holds \
                 only the figures offices of that level sign; look records up at a {level} node"
            )
        }),
        records_kept_below: level,
    }
}

/// A look-up of records.
#[derive(Deserialize, JsonSchema)]
struct SearchQuery {
    /// An id or a name, or part of one (accents and case do not matter).
    q: Option<String>,
    /// A unit of this node's subtree (default: the node's own).
    unit: Option<String>,
    /// Most matches, 1–1000 (default 100).
    limit: Option<usize>,
}

/// `GET /api/v1/records/students`.
#[derive(Serialize, JsonSchema)]
struct StudentList {
    /// The students found.
    students: Vec<StudentHit>,
    #[serde(flatten)]
    kept_below: KeptBelow,
}

/// `GET /api/v1/records/staff`.
#[derive(Serialize, JsonSchema)]
struct StaffList {
    /// The staff found.
    staff: Vec<StaffHit>,
    #[serde(flatten)]
    kept_below: KeptBelow,
}

async fn students(
    State(state): State<AppState>,
    Query(q): Query<SearchQuery>,
) -> ApiResult<StudentList> {
    let text = q.q.unwrap_or_default();
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let students = look_up(&state, move |l| {
        l.search_students(&text, q.unit.as_deref(), limit)
    })
    .await?;
    Ok(Json(StudentList {
        students,
        kept_below: kept_below(&state),
    }))
}

/// `GET /api/v1/records/staff?q=&unit=&limit=`: staff of the subtree matching `q` (by id
/// or name, accent-insensitive), with their school; mirrors `/records/students`.
async fn staff(
    State(state): State<AppState>,
    Query(q): Query<SearchQuery>,
) -> ApiResult<StaffList> {
    let text = q.q.unwrap_or_default();
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let staff = look_up(&state, move |l| {
        l.search_staff(&text, q.unit.as_deref(), limit)
    })
    .await?;
    Ok(Json(StaffList {
        staff,
        kept_below: kept_below(&state),
    }))
}

/// A notification to send.
#[derive(Deserialize, JsonSchema)]
struct NewNotification {
    /// Its title.
    title: String,
    /// Its text.
    body: String,
    /// The unit whose subtree receives it.
    to_unit: String,
}

async fn notify(State(state): State<AppState>, body: Bytes) -> ApiResult<Notice> {
    let n: NewNotification = serde_json::from_slice(&body).map_err(|e| {
        ApiError::msg(
            StatusCode::BAD_REQUEST,
            format!("expected JSON {{\"title\",\"body\",\"to_unit\"}}: {e}"),
        )
    })?;
    let notice = with_engine(&state, move |e| e.notify(&n.to_unit, &n.title, &n.body)).await?;
    let detail = format!("{} to {}: {}", notice.id, notice.to_unit, notice.title);
    crate::audit(&state, crate::API_USER, "notification", detail).await;
    Ok(Json(notice))
}

/// A target to set.
#[derive(Deserialize, JsonSchema)]
struct NewTarget {
    /// The unit: the office's own or one below it.
    unit: String,
    /// The school year `YYYY-YYYY`.
    year: String,
    /// The indicator's code (`dropout_rate`, …).
    indicator: String,
    /// `<=` or `>=`.
    op: String,
    /// The value to reach.
    value: f64,
}

/// `PUT /api/v1/targets`.
#[derive(Serialize, JsonSchema)]
struct TargetId {
    /// The target's id.
    id: String,
}

async fn set_target(State(state): State<AppState>, body: Bytes) -> ApiResult<TargetId> {
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
    Ok(Json(TargetId { id }))
}

/// `limit` and `cursor` of a list that can be long.
#[derive(Deserialize, Default, JsonSchema)]
struct PageQuery {
    /// Items per page, 1–1000 (default 100). Without `limit` and `cursor`, the whole list.
    limit: Option<usize>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// Most items one page of a list holds.
const MAX_PAGE: usize = 1000;

/// The whole list — or, when the request gives `limit` or `cursor`, one page of it: the
/// items in the order of their `id`, after `cursor`, at most `limit` (1–1000, default
/// 100), and the cursor of the following page when more follow. Pages go by id, not
/// position, so an item added or removed between two requests shifts nothing.
fn paged<T>(
    mut items: Vec<T>,
    id: impl Fn(&T) -> &str,
    p: &PageQuery,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    if p.limit.is_none() && p.cursor.is_none() {
        return Ok((items, None));
    }
    let limit = p.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::msg(
            StatusCode::BAD_REQUEST,
            format!("limit must be from 1 to {MAX_PAGE}, got {limit}"),
        ));
    }
    items.sort_by(|a, b| id(a).cmp(id(b)));
    let start = match &p.cursor {
        Some(c) => items.partition_point(|x| id(x) <= c.as_str()),
        None => 0,
    };
    let more = items.len() - start > limit;
    let page: Vec<T> = items.drain(start..).take(limit).collect();
    let next = match (more, page.last()) {
        (true, Some(last)) => Some(id(last).to_string()),
        _ => None,
    };
    Ok((page, next))
}

/// `GET /api/v1/targets`.
#[derive(Serialize, JsonSchema)]
struct TargetList {
    /// The targets (in `id` order when paged).
    targets: Vec<TargetStatus>,
    /// The `cursor` of the following page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

async fn targets(
    State(state): State<AppState>,
    Query(q): Query<UnitQuery>,
    Query(p): Query<PageQuery>,
) -> ApiResult<TargetList> {
    let list = state
        .views
        .figures()
        .targets(q.unit.as_deref(), q.year.as_deref())?;
    let (targets, next) = paged(list, |t| &t.id, &p)?;
    Ok(Json(TargetList { targets, next }))
}

/// `GET /api/v1/alerts`.
#[derive(Serialize, JsonSchema)]
struct AlertList {
    /// The alerts (in `id` order when paged).
    alerts: Vec<Alert>,
    /// The `cursor` of the following page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

async fn alerts(
    State(state): State<AppState>,
    Query(q): Query<UnitQuery>,
    Query(p): Query<PageQuery>,
) -> ApiResult<AlertList> {
    let list = state
        .views
        .figures()
        .alerts(q.unit.as_deref(), q.year.as_deref())?;
    let (alerts, next) = paged(list, |a| &a.id, &p)?;
    Ok(Json(AlertList { alerts, next }))
}

/// An acknowledgement's note.
#[derive(Deserialize, JsonSchema)]
struct AckBody {
    /// What was done about it (at most 2,000 bytes).
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/alerts/{id}/ack`.
#[derive(Serialize, JsonSchema)]
struct Acknowledged {
    /// The acknowledgement, as every node will show it.
    acknowledged: AckView,
}

async fn ack_alert(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Acknowledged> {
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
    let acknowledged = with_engine(&state, move |e| e.ack_alert(&id, &b.note)).await?;
    crate::audit(&state, crate::API_USER, "alert_ack", detail).await;
    Ok(Json(Acknowledged { acknowledged }))
}

/// A notification as listed.
#[derive(Serialize, JsonSchema)]
struct NoticeItem {
    #[serde(flatten)]
    notice: Notice,
    /// When it was sent, by its sender's clock (RFC 3339).
    sent_at: Option<String>,
    /// The units that read it.
    read_by: Vec<String>,
}

/// `GET /api/v1/notifications`.
#[derive(Serialize, JsonSchema)]
struct NotificationList {
    /// The notifications (in `id` order when paged).
    notifications: Vec<NoticeItem>,
    /// The `cursor` of the following page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

async fn notifications(
    State(state): State<AppState>,
    Query(p): Query<PageQuery>,
) -> ApiResult<NotificationList> {
    let list = with_engine(&state, |e| e.notifications()).await?;
    let items: Vec<NoticeItem> = list
        .into_iter()
        .map(|(notice, read_by)| NoticeItem {
            sent_at: rfc3339(Some(notice.sent_ms)),
            notice,
            read_by,
        })
        .collect();
    let (notifications, next) = paged(items, |n| &n.notice.id, &p)?;
    Ok(Json(NotificationList {
        notifications,
        next,
    }))
}

/// Done.
#[derive(Serialize, JsonSchema)]
struct Done {
    /// Always `true`.
    ok: bool,
}

async fn mark_read(
    State(state): State<AppState>,
    Path((unit, seq)): Path<(String, u64)>,
) -> ApiResult<Done> {
    with_engine(&state, move |e| e.mark_read(&format!("{unit}/{seq}"))).await?;
    Ok(Json(Done { ok: true }))
}
