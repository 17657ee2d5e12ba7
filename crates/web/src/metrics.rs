//! `GET /metrics` (and `/api/v1/metrics`), behind the API's bearer token: the node's
//! operations metrics in the Prometheus text format — its log by author level, rejections
//! by reason, its links (state, last sync age, bytes on the wire), loaded documents, the
//! store's size and health, and the engine's latency and page-size histograms.
//! `docs/grafana-eduioc.json` is a dashboard over them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// A label value with `\`, `"` and newlines escaped.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Appends a metric family's header and its samples (`(labels, value)`).
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

fn one(v: f64) -> Vec<(String, f64)> {
    vec![(String::new(), v)]
}

/// The metrics, as text.
pub(crate) fn render(state: &AppState) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let st = state.views.status();
    let now = chrono::Utc::now().timestamp_millis();
    let age = |ms: Option<i64>| ms.map_or(f64::NAN, |t| (now - t).max(0) as f64 / 1000.0);
    family(
        &mut out,
        "eduioc_node_info",
        "gauge",
        "The node's unit and level.",
        &[(
            format!("unit=\"{}\",level=\"{}\"", esc(&st.unit), esc(&st.level)),
            1.0,
        )],
    );
    // Entries held by the level of their author's unit (log heights, holes included).
    let mut by_level: BTreeMap<String, f64> = BTreeMap::new();
    if let Some(log) = state.engine.log() {
        let dir = state.engine.directory();
        for (author, height) in eduioc_protocol::LogSource::heights(&log) {
            let level = dir
                .unit_of(&author)
                .and_then(|u| dir.level(u))
                .unwrap_or("unknown");
            *by_level.entry(level.to_string()).or_default() += height as f64;
        }
    }
    let by_level: Vec<(String, f64)> = by_level
        .into_iter()
        .map(|(l, n)| (format!("level=\"{}\"", esc(&l)), n))
        .collect();
    family(
        &mut out,
        "eduioc_log_entries",
        "gauge",
        "Entries held, by the level of their author's unit.",
        &by_level,
    );
    family(
        &mut out,
        "eduioc_log_authors",
        "gauge",
        "Authors (logs) held.",
        &one(st.authors as f64),
    );
    let rejected: Vec<(String, f64)> = st
        .rejected
        .iter()
        .map(|(r, n)| (format!("reason=\"{}\"", esc(r)), *n as f64))
        .collect();
    family(
        &mut out,
        "eduioc_rejected_total",
        "counter",
        "Entries and frames refused, by reason.",
        &rejected,
    );
    family(
        &mut out,
        "eduioc_quarantined_entries",
        "gauge",
        "Entries kept aside as forks.",
        &one(st.quarantined as f64),
    );
    family(
        &mut out,
        "eduioc_docs_loaded",
        "gauge",
        "Automerge documents loaded in memory.",
        &one(st.docs_loaded as f64),
    );
    family(
        &mut out,
        "eduioc_docs_loaded_bytes",
        "gauge",
        "Estimated memory of the loaded documents.",
        &one(st.docs_loaded_bytes as f64),
    );
    family(
        &mut out,
        "eduioc_store_bytes",
        "gauge",
        "Size of the store's file.",
        &one(st.store_bytes as f64),
    );
    family(
        &mut out,
        "eduioc_storage_ok",
        "gauge",
        "1 while the store writes, 0 while a storage failure is in force.",
        &one(f64::from(u8::from(state.storage.fault().is_none()))),
    );
    family(
        &mut out,
        "eduioc_restoring",
        "gauge",
        "1 while the node restores its log from its parent.",
        &one(f64::from(u8::from(st.restoring))),
    );
    if let Ok(l) = state.links.lock() {
        if let Some(p) = &l.parent {
            let label = format!("parent=\"{}\"", esc(&p.unit));
            family(
                &mut out,
                "eduioc_parent_connected",
                "gauge",
                "1 while the link to the parent works.",
                &[(label.clone(), f64::from(u8::from(p.connected)))],
            );
            family(
                &mut out,
                "eduioc_parent_last_sync_age_seconds",
                "gauge",
                "Seconds since the last completed exchange with the parent (NaN: never).",
                &[(label.clone(), age(p.last_sync_ms))],
            );
            let refused = p.refused.as_ref().map_or(0.0, |r| r.entries as f64);
            family(
                &mut out,
                "eduioc_parent_refused_entries",
                "gauge",
                "Entries the parent refuses, while it does.",
                &[(label, refused)],
            );
        }
        let mut connected = Vec::new();
        let mut seen = Vec::new();
        for (unit, c) in &st.children {
            let link = l.children.get(unit);
            let label = format!("child=\"{}\"", esc(unit));
            connected.push((
                label.clone(),
                f64::from(u8::from(link.is_some_and(|x| x.connected))),
            ));
            seen.push((label, age(link.and_then(|x| x.last_seen_ms).or(*c))));
        }
        family(
            &mut out,
            "eduioc_child_connected",
            "gauge",
            "1 while the child's link is up.",
            &connected,
        );
        family(
            &mut out,
            "eduioc_child_last_seen_age_seconds",
            "gauge",
            "Seconds since the newest data from the child (NaN: never).",
            &seen,
        );
        family(
            &mut out,
            "eduioc_wire_sent_bytes_total",
            "counter",
            "Bytes written to peers.",
            &one(l.wire.sent.load(Ordering::Relaxed) as f64),
        );
        family(
            &mut out,
            "eduioc_wire_received_bytes_total",
            "counter",
            "Bytes read from peers.",
            &one(l.wire.received.load(Ordering::Relaxed) as f64),
        );
    }
    state.views.metrics().render(&mut out);
    out
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let body = tokio::task::spawn_blocking(move || render(&state))
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
