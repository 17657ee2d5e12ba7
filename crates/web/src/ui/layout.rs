//! The page shell: header, navigation, language switch, breadcrumbs.

use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::{Ctx, T};
use crate::Role;

/// Which navigation entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Overview,
    Ops,
    Alerts,
    Network,
    Records,
    Data,
    Notifications,
    Audit,
    Accounts,
    Reports,
}

/// The link to this page in the other language.
fn switch_href(ctx: &Ctx) -> String {
    let sep = if ctx.here.contains('?') { '&' } else { '?' };
    format!("{}{sep}lang={}", ctx.here, ctx.lang.other().code())
}

/// A full page.
pub(crate) fn page(ctx: &Ctx, title: &str, nav: Nav, body: Markup) -> Response {
    let item = |n: Nav, href: &str, key: T, badge: usize| {
        html! {
            a href=(href) class=(if n == nav { "current" } else { "" }) {
                (ctx.t(key))
                @if badge > 0 { " " span.badge { (badge) } }
            }
        }
    };
    let m = html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — " (ctx.unit_name) " — EduIOC" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                header.top {
                    div.brand {
                        a href="/" { span.logo { "IOC" } (ctx.t(T::App)) }
                        div.unitname { (ctx.unit_name) }
                    }
                    div.tools {
                        span.user { (ctx.t(T::SignedInAs)) ": " strong { (ctx.user) } " (" (super::role_name(ctx.lang, ctx.role)) ")" }
                        a.lang href=(switch_href(ctx)) { (ctx.t(T::SwitchLang)) }
                        form.inline method="post" action="/logout" {
                            button.link type="submit" { (ctx.t(T::Logout)) }
                        }
                    }
                }
                nav.main {
                    (item(Nav::Overview, "/", T::NavOverview, 0))
                    a href="/ops" class=(if nav == Nav::Ops { "current" } else { "" }) { (ctx.lang.pick("Điều hành", "Operations")) }
                    a href="/alerts" class=(if nav == Nav::Alerts { "current" } else { "" }) { (ctx.lang.pick("Cảnh báo", "Alerts")) }
                    (item(Nav::Network, "/network", T::NavNetwork, 0))
                    (item(Nav::Records, "/records", T::NavRecords, 0))
                    @if ctx.is_school && ctx.may(Role::Clerk) { (item(Nav::Data, "/data", T::NavData, 0)) }
                    a href="/reports" class=(if nav == Nav::Reports { "current" } else { "" }) { (ctx.lang.pick("Báo cáo", "Reports")) }
                    (item(Nav::Notifications, "/notifications", T::NavNotifications, ctx.unread))
                    @if ctx.may(Role::Officer) {
                        a href="/audit" class=(if nav == Nav::Audit { "current" } else { "" }) { (ctx.lang.pick("Nhật ký", "Audit")) }
                    }
                    @if ctx.may(Role::Admin) {
                        a href="/accounts" class=(if nav == Nav::Accounts { "current" } else { "" }) { (ctx.lang.pick("Tài khoản", "Accounts")) }
                    }
                }
                main { (body) }
                footer { "EduIOC · " (ctx.unit) " · " (ctx.t(T::AsOf)) " " (super::overview::local_time(ctx.now_ms)) }
            }
        }
    };
    Html(m.into_string()).into_response()
}

/// Breadcrumbs from this node's unit down to `path` (top first): (id, name).
pub(crate) fn breadcrumbs(path: &[(String, String)]) -> Markup {
    html! {
        nav.crumbs aria-label="breadcrumbs" {
            @for (i, (id, name)) in path.iter().enumerate() {
                @if i > 0 { span.sep { "›" } }
                @if i + 1 == path.len() { span { (name) } }
                @else { a href=(format!("/unit/{id}")) { (name) } }
            }
        }
    }
}
