//! Notifications: compose (offices and the department, for any unit of the subtree),
//! inbox with read/unread at every node, and the sender's view of who has read what
//! (each read is a signed acknowledgement travelling up).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::{Extension, Form};
use eduioc_engine::Notice;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{page, Nav};
use super::overview::local_time;
use super::{engine_call, Ctx, Page, T};
use crate::AppState;

/// Most notifications listed per box.
const MAX_LISTED: usize = 200;
/// Most unit names listed under "read by" / "not yet read".
const MAX_NAMES: usize = 40;

/// A sent notification with its readers: (name) read, (name) expected but not read.
struct SentView {
    notice: Notice,
    to_name: String,
    read: Vec<String>,
    unread: Vec<String>,
}

/// Query of the page.
#[derive(Deserialize)]
pub(crate) struct PageQuery {
    sent: Option<String>,
    /// A draft to compose (from an alert): the unit, title and text.
    to: Option<String>,
    title: Option<String>,
    body: Option<String>,
}

fn names(list: &[String], ctx: &Ctx) -> Markup {
    html! {
        @for (i, n) in list.iter().take(MAX_NAMES).enumerate() { @if i > 0 { ", " } (n) }
        @if list.len() > MAX_NAMES { " " (ctx.t(T::AndMore)) " (" (list.len() - MAX_NAMES) ")" }
    }
}

/// `GET /notifications`.
pub(crate) async fn page_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<PageQuery>,
) -> Page {
    let me = ctx.unit.clone();
    let (inbox, sent, targets) = engine_call(&state, move |e| {
        let dir = e.directory();
        let name = |u: &str| dir.name(u).unwrap_or(u).to_string();
        let mut inbox = Vec::new();
        let mut sent = Vec::new();
        for (n, readers) in e.notifications()? {
            if n.from_unit == me {
                if sent.len() < MAX_LISTED {
                    let expected: Vec<String> = dir
                        .subtree(&n.to_unit)
                        .into_iter()
                        .filter(|u| *u != me)
                        .collect();
                    let read = expected
                        .iter()
                        .filter(|u| readers.contains(u))
                        .map(|u| name(u))
                        .collect();
                    let unread = expected
                        .iter()
                        .filter(|u| !readers.contains(u))
                        .map(|u| name(u))
                        .collect();
                    sent.push(SentView {
                        to_name: name(&n.to_unit),
                        notice: n,
                        read,
                        unread,
                    });
                }
            } else if inbox.len() < MAX_LISTED {
                let is_read = readers.contains(&me);
                inbox.push((name(&n.from_unit), n, is_read));
            }
        }
        let targets: Vec<(String, String, usize)> = {
            let mut out = Vec::new();
            let mut stack = vec![(me.clone(), 0usize)];
            while let Some((u, depth)) = stack.pop() {
                if out.len() >= 5000 {
                    break;
                }
                let mut kids: Vec<String> = dir.children(&u).map(str::to_string).collect();
                kids.sort_by_key(|k| std::cmp::Reverse(name(k)));
                stack.extend(kids.into_iter().map(|k| (k, depth + 1)));
                out.push((name(&u), u, depth));
            }
            out
        };
        Ok((inbox, sent, targets))
    })
    .await?;
    let body = html! {
        h1 { (ctx.t(T::NotifTitle)) }
        @if q.sent.is_some() { p.ok { (ctx.t(T::SentOk)) } }
        @if ctx.has_children {
            section.card {
                h2 { (ctx.t(T::Compose)) }
                form.grid method="post" action="/notifications" {
                    label.full { (ctx.t(T::To))
                        select name="to_unit" {
                            @for (name, id, depth) in &targets {
                                option value=(id) selected[q.to.as_deref() == Some(id.as_str())] {
                                    (" ".repeat(depth * 3)) (name)
                                    @if *depth == 0 { " — " (ctx.t(T::WholeSubtree)) }
                                }
                            }
                        }
                    }
                    label.full { (ctx.t(T::Subject)) input type="text" name="title" maxlength="200" required value=(q.title.as_deref().unwrap_or_default()); }
                    label.full { (ctx.t(T::Body)) textarea name="body" rows="5" maxlength="20000" { (q.body.as_deref().unwrap_or_default()) } }
                    div.full { button type="submit" { (ctx.t(T::Send)) } }
                }
            }
        }
        section.card {
            h2 { (ctx.t(T::Inbox)) }
            @if inbox.is_empty() { p.note { (ctx.t(T::NoNotifications)) } }
            @for (from, n, is_read) in &inbox {
                article class=(if *is_read { "notice read" } else { "notice unread" }) {
                    header {
                        span.tag { (if *is_read { ctx.t(T::Read) } else { ctx.t(T::Unread) }) }
                        strong { (n.title) }
                        span.meta { (ctx.t(T::From)) ": " (from) " · " (local_time(n.sent_ms)) }
                    }
                    p.body { (n.body) }
                    @if !*is_read {
                        form.inline method="post" action="/notifications/read" {
                            input type="hidden" name="id" value=(n.id);
                            button type="submit" { (ctx.t(T::MarkRead)) }
                        }
                    }
                }
            }
        }
        @if !sent.is_empty() {
            section.card {
                h2 { (ctx.t(T::Sent)) }
                table.list {
                    thead { tr { th { (ctx.t(T::Date)) } th { (ctx.t(T::Subject)) } th { (ctx.t(T::To)) } th { (ctx.t(T::ReadBy)) } } }
                    tbody {
                        @for s in &sent {
                            tr {
                                td { (local_time(s.notice.sent_ms)) }
                                td { strong { (s.notice.title) } }
                                td { (s.to_name) }
                                td {
                                    strong { (s.read.len()) " / " (s.read.len() + s.unread.len()) }
                                    @if !s.read.is_empty() { div.small { (ctx.t(T::ReadBy)) ": " (names(&s.read, &ctx)) } }
                                    @if !s.unread.is_empty() { div.small.muted { (ctx.t(T::NotYetRead)) ": " (names(&s.unread, &ctx)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&ctx, ctx.t(T::NotifTitle), Nav::Notifications, body))
}

/// The compose form.
#[derive(Deserialize)]
pub(crate) struct ComposeForm {
    to_unit: String,
    title: String,
    #[serde(default)]
    body: String,
}

/// `POST /notifications`: signs and sends a notification down to a unit's subtree.
pub(crate) async fn compose(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<ComposeForm>,
) -> Page {
    let detail = format!("to {}: {}", f.to_unit, f.title.trim());
    let id = engine_call(&state, move |e| {
        Ok(e.notify(&f.to_unit, &f.title, &f.body)?.id)
    })
    .await?;
    crate::audit(&state, &ctx.user, "notification", format!("{id} {detail}")).await;
    Ok(Redirect::to("/notifications?sent=1").into_response())
}

/// The mark-read form.
#[derive(Deserialize)]
pub(crate) struct ReadForm {
    id: String,
}

/// `POST /notifications/read`: marks read here and sends the signed acknowledgement up.
pub(crate) async fn mark_read(State(state): State<AppState>, Form(f): Form<ReadForm>) -> Page {
    engine_call(&state, move |e| {
        e.mark_read(&f.id)?;
        Ok(())
    })
    .await?;
    Ok(Redirect::to("/notifications").into_response())
}
