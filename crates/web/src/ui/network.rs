//! The network page: this node's subtree as a tree coloured by sync health, live.
//!
//! Direct children's health comes from the network loop's link table (connected now,
//! or when last seen); deeper units' from the latest signed data this node holds from
//! them ([`eduioc_engine::Figures::last_seen_ms`]).

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Json;
use axum::Extension;
use eduioc_engine::links::{Links, Refusal};
use eduioc_engine::{Error as EngineError, Figures};
use maud::{html, Markup};
use serde_json::json;

use super::layout::{page, Nav};
use super::overview::{level_name, local_time};
use super::{figures_call, Ctx, Lang, Page, UiError, T};
use crate::AppState;

/// Most units drawn in the tree.
const MAX_TREE: usize = 5000;
const DAY_MS: i64 = 86_400_000;

/// One unit of the tree.
struct Node {
    id: String,
    name: String,
    level: String,
    state: &'static str,
    label: String,
    children: Vec<Node>,
}

/// What the page shows about the parent link.
struct Parent {
    name: String,
    connected: bool,
    last_sync_ms: Option<i64>,
    refused: Option<Refusal>,
}

/// The warning about what the parent refuses, empty when it refuses nothing.
fn refused_text(lang: Lang, r: Option<&Refusal>) -> String {
    r.map(|r| lang.parent_refused(r.entries, &r.key, &local_time(r.since_ms), &r.units))
        .unwrap_or_default()
}

/// The warning's class: shown as an error box only while there is something to say.
fn refused_class(r: Option<&Refusal>) -> &'static str {
    if r.is_some() {
        "error"
    } else {
        "none"
    }
}

fn health(e: &Figures, links: &Links, unit: &str, lang: Lang, now: i64) -> (&'static str, String) {
    if unit == e.unit() {
        return ("self", lang.t(T::ThisNode).to_string());
    }
    let link = links.children.get(unit);
    if link.is_some_and(|l| l.connected) {
        let seen = e.last_seen_ms(unit).map(|t| {
            format!(
                " · {} {}",
                lang.t(T::DataFrom).to_lowercase(),
                lang.ago(now, t)
            )
        });
        return (
            "online",
            format!("{}{}", lang.t(T::Connected), seen.unwrap_or_default()),
        );
    }
    let seen = link
        .and_then(|l| l.last_seen_ms)
        .into_iter()
        .chain(e.last_seen_ms(unit))
        .max();
    match seen {
        None => ("never", lang.t(T::Never).to_string()),
        Some(t) => {
            let age = now - t;
            let state = if age < DAY_MS {
                "recent"
            } else if age < 7 * DAY_MS {
                "late"
            } else {
                "stale"
            };
            (
                state,
                format!("{}: {}", lang.t(T::DataFrom), lang.ago(now, t)),
            )
        }
    }
}

fn build(
    e: &Figures,
    links: &Links,
    unit: &str,
    lang: Lang,
    now: i64,
    budget: &mut usize,
    depth: usize,
) -> Node {
    *budget = budget.saturating_sub(1);
    let dir = e.directory();
    let (state, label) = health(e, links, unit, lang, now);
    let mut children = Vec::new();
    if depth < 16 {
        let mut kids: Vec<&str> = dir.children(unit).collect();
        kids.sort_by_key(|k| dir.name(k).unwrap_or(k).to_string());
        for k in kids {
            if *budget == 0 {
                break;
            }
            children.push(build(e, links, k, lang, now, budget, depth + 1));
        }
    }
    Node {
        id: unit.to_string(),
        name: dir.name(unit).unwrap_or(unit).to_string(),
        level: dir.level(unit).unwrap_or_default().to_string(),
        state,
        label,
        children,
    }
}

fn links_of(state: &AppState) -> std::sync::Arc<std::sync::Mutex<Links>> {
    state.links.clone()
}

fn lock(l: &std::sync::Mutex<Links>) -> Result<std::sync::MutexGuard<'_, Links>, EngineError> {
    l.lock()
        .map_err(|_| EngineError::Invalid("link table lock poisoned".into()))
}

fn tree(n: &Node, lang: Lang) -> Markup {
    html! {
        li data-unit=(n.id) {
            span class=(format!("dot {}", n.state)) data-c=(n.id) {}
            a href=(format!("/unit/{}", n.id)) { (n.name) }
            " " span.lvl { (level_name(lang, &n.level)) }
            " " span.st data-k=(n.id) { (n.label) }
            @if !n.children.is_empty() {
                ul { @for c in &n.children { (tree(c, lang)) } }
            }
        }
    }
}

/// `GET /network`.
pub(crate) async fn index(State(state): State<AppState>, Extension(ctx): Extension<Ctx>) -> Page {
    let links = links_of(&state);
    let (lang, now) = (ctx.lang, ctx.now_ms);
    let (root, parent) = figures_call(&state, move |e| {
        let l = lock(&links)?;
        let mut budget = MAX_TREE;
        let root = build(e, &l, e.unit(), lang, now, &mut budget, 0);
        let parent = l.parent.as_ref().map(|p| Parent {
            name: e.directory().name(&p.unit).unwrap_or(&p.unit).to_string(),
            connected: p.connected,
            last_sync_ms: p.last_sync_ms,
            refused: p.refused.clone(),
        });
        Ok((root, parent))
    })?;
    let legend = [
        ("online", T::StateOnline),
        ("recent", T::StateRecent),
        ("late", T::StateLate),
        ("stale", T::StateStale),
        ("never", T::StateNever),
    ];
    let body = html! {
        h1 { (ctx.t(T::NetworkTitle)) }
        p.sub { (ctx.t(T::NetworkIntro)) }
        div data-poll="/ui/live/network" {
        section.card {
            h2 { (ctx.t(T::ParentLink)) }
            @match &parent {
                None => p { (ctx.t(T::NoParent)) },
                Some(p) => p {
                    span class=(format!("dot {}", if p.connected { "online" } else { "stale" })) data-c="parent" {}
                    strong { (p.name) } " — "
                    span data-k="parent" {
                        (if p.connected { ctx.t(T::Connected) } else { ctx.t(T::Disconnected) })
                        @if let Some(t) = p.last_sync_ms { " · " (ctx.t(T::LastSync)) ": " (local_time(t)) }
                    }
                },
            }
            @if let Some(p) = &parent {
                // Always present, so that the live refresh can show or clear it.
                p class=(refused_class(p.refused.as_ref())) data-c="parent-refused"
                    data-k="parent-refused" role="alert" {
                    (refused_text(ctx.lang, p.refused.as_ref()))
                }
            }
        }
        section.card {
            ul.legend {
                li { strong { (ctx.t(T::Legend)) ":" } }
                @for (class, key) in legend { li { span class=(format!("dot {class}")) {} (ctx.t(key)) } }
            }
            ul.tree { (tree(&root, ctx.lang)) }
        }
        }
    };
    Ok(page(&ctx, ctx.t(T::NetworkTitle), Nav::Network, body))
}

/// `GET /ui/live/network`: every unit's state and label, for the refresh script.
pub(crate) async fn live(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Json<serde_json::Value>, UiError> {
    let links = links_of(&state);
    let (lang, now) = (ctx.lang, ctx.now_ms);
    let v = figures_call(&state, move |e| {
        let l = lock(&links)?;
        let mut text = HashMap::new();
        let mut class = HashMap::new();
        for u in e.directory().subtree(e.unit()).into_iter().take(MAX_TREE) {
            let (s, label) = health(e, &l, &u, lang, now);
            class.insert(u.clone(), format!("dot {s}"));
            text.insert(u, label);
        }
        if let Some(p) = &l.parent {
            let mut label = lang
                .t(if p.connected {
                    T::Connected
                } else {
                    T::Disconnected
                })
                .to_string();
            if let Some(t) = p.last_sync_ms {
                label.push_str(&format!(" · {}: {}", lang.t(T::LastSync), local_time(t)));
            }
            text.insert("parent".into(), label);
            text.insert(
                "parent-refused".into(),
                refused_text(lang, p.refused.as_ref()),
            );
            class.insert(
                "parent-refused".into(),
                refused_class(p.refused.as_ref()).to_string(),
            );
            class.insert(
                "parent".into(),
                format!("dot {}", if p.connected { "online" } else { "stale" }),
            );
        }
        Ok(json!({ "text": text, "class": class }))
    })?;
    Ok(Json(v))
}
