//! The node's accounts (administrators only): add an account, change its role, give it
//! a new password, remove it. Every change is written to `accounts.toml` at once (see
//! [`crate::auth::AccountBook`]) and recorded in the audit trail; the node's last admin
//! can be neither demoted nor removed.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::{Extension, Form};
use maud::html;
use serde::Deserialize;

use super::layout::{page, Nav};
use super::{role_name, Ctx, Page, UiError};
use crate::auth::{random_salt as salt, Accounts, Error as AuthError, Role};
use crate::AppState;

/// Query of the page: what was just done.
#[derive(Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

/// `GET /accounts`.
pub(crate) async fn page_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<DoneQuery>,
) -> Page {
    let l = ctx.lang;
    let accounts = state.accounts.current();
    let roles = |current: Role| {
        html! {
            select name="role" {
                @for r in Role::ALL { option value=(r.code()) selected[r == current] { (role_name(l, r)) } }
            }
        }
    };
    let body = html! {
        h1 { (l.pick("Tài khoản của nút", "Accounts of this node")) }
        @if let Some(d) = &q.done { p.ok #accounts-done { "✓ " (d) } }
        p.hint { (l.pick(
            "Xem: xem mọi trang. Nhập liệu: thêm nhập và sửa dữ liệu. Cán bộ điều hành: thêm chỉ tiêu, cảnh báo, thông báo và nhật ký. Quản trị: thêm quản lý tài khoản.",
            "Viewer: reads every page. Clerk: also imports and edits data. Officer: also targets, alerts, notifications and the audit trail. Administrator: also manages accounts."
        )) }
        table.list #accounts {
            thead { tr { th { (l.pick("Người dùng", "User")) } th { (l.pick("Quyền", "Role")) } th { (l.pick("Mật khẩu mới", "New password")) } th {} } }
            tbody {
                @for a in &accounts.accounts {
                    tr {
                        td { (a.user) }
                        td { form.inline method="post" action="/accounts/role" {
                            input type="hidden" name="user" value=(a.user);
                            (roles(a.role)) " " button type="submit" { (l.pick("Đổi quyền", "Change role")) }
                        } }
                        td { form.inline method="post" action="/accounts/password" {
                            input type="hidden" name="user" value=(a.user);
                            input type="password" name="password" autocomplete="new-password" minlength="10" required;
                            " " button type="submit" { (l.pick("Đặt mật khẩu", "Set password")) }
                        } }
                        td { form.inline method="post" action="/accounts/remove" {
                            input type="hidden" name="user" value=(a.user);
                            button type="submit" { (l.pick("Xoá", "Remove")) }
                        } }
                    }
                }
            }
        }
        h2 { (l.pick("Thêm tài khoản", "Add an account")) }
        form.grid method="post" action="/accounts/add" {
            label { (l.pick("Người dùng", "User")) input type="text" name="user" required maxlength="64"; }
            label { (l.pick("Quyền", "Role")) (roles(Role::Viewer)) }
            label { (l.pick("Mật khẩu (ít nhất 10 ký tự)", "Password (at least 10 characters)")) input type="password" name="password" autocomplete="new-password" minlength="10" required; }
            div.full { button type="submit" { (l.pick("Thêm", "Add")) } }
        }
    };
    Ok(page(
        &ctx,
        l.pick("Tài khoản", "Accounts"),
        Nav::Accounts,
        body,
    ))
}

/// Every account form: the user, and what the form changes.
#[derive(Deserialize)]
pub(crate) struct AccountForm {
    user: String,
    role: Option<String>,
    password: Option<String>,
}

/// Applies `change` to the accounts (Argon2 off the executor), records it in the audit
/// trail as `action`, and goes back to the page.
async fn change(
    state: AppState,
    ctx: Ctx,
    action: &'static str,
    detail: String,
    change: impl FnOnce(&mut Accounts) -> Result<(), AuthError> + Send + 'static,
) -> Page {
    let book = state.accounts.clone();
    let r = tokio::task::spawn_blocking(move || book.update(change))
        .await
        .map_err(|e| UiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match r {
        Ok(()) => {
            crate::audit(&state, &ctx.user, action, detail.clone()).await;
            let done = format!("/accounts?done={}", super::qenc(&detail));
            Ok(Redirect::to(&done).into_response())
        }
        Err(AuthError::Refused(why)) => Err(UiError(StatusCode::CONFLICT, why)),
        Err(other) => {
            tracing::error!(error = %other, "accounts could not be changed");
            Err(UiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                other.to_string(),
            ))
        }
    }
}

fn role_of(f: &AccountForm) -> Result<Role, UiError> {
    Role::parse(f.role.as_deref().unwrap_or_default())
        .map_err(|e| UiError(StatusCode::BAD_REQUEST, e.to_string()))
}

/// `POST /accounts/add`.
pub(crate) async fn add(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<AccountForm>,
) -> Page {
    let role = role_of(&f)?;
    let user = f.user.trim().to_string();
    let pw = f.password.unwrap_or_default();
    let detail = format!("{user} ({})", role.code());
    change(state, ctx, "account_add", detail, move |a| {
        a.add(&user, &pw, role, salt())
    })
    .await
}

/// `POST /accounts/role`.
pub(crate) async fn set_role(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<AccountForm>,
) -> Page {
    let role = role_of(&f)?;
    let detail = format!("{} → {}", f.user, role.code());
    change(state, ctx, "account_role", detail, move |a| {
        a.set_role(&f.user, role)
    })
    .await
}

/// `POST /accounts/password`.
pub(crate) async fn set_password(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<AccountForm>,
) -> Page {
    let pw = f.password.unwrap_or_default();
    let detail = f.user.clone();
    change(state, ctx, "account_password", detail, move |a| {
        a.set_password(&f.user, &pw, salt())
    })
    .await
}

/// `POST /accounts/remove`.
pub(crate) async fn remove(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<AccountForm>,
) -> Page {
    let detail = f.user.clone();
    change(state, ctx, "account_remove", detail, move |a| {
        a.remove(&f.user)
    })
    .await
}
