//! The audit trail: who did what, when, at this node and every node below it, each row
//! checked against the signed log (see [`eduioc_engine::Lookups::audit`]); filters, pages
//! and a CSV export of what the filters select.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Extension;
use eduioc_engine::{AuditPage, AuditQuery, MAX_AUDIT_PAGE};
use maud::html;
use serde::Deserialize;

use super::layout::{page, Nav};
use super::overview::{csv_field, local_time};
use super::{qenc, Ctx, Page, UiError};
use crate::AppState;

/// Rows per page of the trail.
const PAGE_ROWS: usize = 100;
/// Most rows one CSV export holds.
const MAX_EXPORT_ROWS: usize = 100_000;

/// Filters and cursor of the page and the export.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct AuditForm {
    unit: Option<String>,
    user: Option<String>,
    action: Option<String>,
    cursor: Option<String>,
}

impl AuditForm {
    fn query(&self, limit: usize) -> AuditQuery {
        let some = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        AuditQuery {
            unit: some(&self.unit),
            user: some(&self.user),
            action: some(&self.action),
            cursor: some(&self.cursor),
            limit,
        }
    }

    /// The filters as a query string (without the cursor).
    fn filters(&self) -> String {
        [
            ("unit", &self.unit),
            ("user", &self.user),
            ("action", &self.action),
        ]
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", qenc(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
    }
}

async fn read(state: &AppState, ctx: &Ctx, q: AuditQuery) -> Result<AuditPage, UiError> {
    crate::look_up(state, move |l| l.audit(&q))
        .await
        .map_err(|e| UiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| UiError::in_lang(e, ctx.lang))
}

/// `GET /audit`.
pub(crate) async fn page_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Query(f): Query<AuditForm>,
) -> Page {
    let l = ctx.lang;
    let p = read(&state, &ctx, f.query(PAGE_ROWS)).await?;
    let filters = f.filters();
    let amp = if filters.is_empty() { "" } else { "&" };
    let body = html! {
        h1 { (l.pick("Nhật ký thao tác", "Audit trail")) }
        p.hint { (l.pick(
            "Mỗi thao tác của người dùng (đăng nhập, nhập dữ liệu, sửa, chỉ tiêu, cảnh báo, thông báo, tài khoản) là một mục có chữ ký của nút nơi nó diễn ra, gửi lên các cấp trên. Mỗi dòng dưới đây được đối chiếu với nhật ký đã ký.",
            "Every user action (login, import, edit, target, alert, notification, account) is a signed entry of the node where it happened, sent up to its ancestors. Every row below is checked against the signed log."
        )) }
        form.filters method="get" action="/audit" {
            label { (l.pick("Đơn vị", "Unit")) " " input type="text" name="unit" value=(f.unit.clone().unwrap_or_default()) placeholder=(ctx.unit); }
            label { (l.pick("Người dùng", "User")) " " input type="text" name="user" value=(f.user.clone().unwrap_or_default()); }
            label { (l.pick("Thao tác", "Action")) " "
                select name="action" {
                    option value="" { (l.pick("(tất cả)", "(all)")) }
                    @for a in ["login", "login_failed", "import", "edit", "target", "alert_ack", "notification", "report_submit", "report_return", "report_approve", "report_accept", "reparent", "account_add", "account_role", "account_password", "account_remove"] {
                        option value=(a) selected[f.action.as_deref() == Some(a)] { (a) }
                    }
                }
            }
            button type="submit" { (l.pick("Lọc", "Filter")) }
            " "
            a href=(format!("/audit.csv?{filters}")) { (l.pick("Tải CSV", "Download CSV")) }
        }
        @if p.broken == 0 {
            p.ok #audit-check { "✓ " (l.pick("Khớp với nhật ký đã ký: chữ ký và liên kết của ", "Matches the signed log: signatures and links of ")) (p.rows.len()) (l.pick(" dòng đều đúng.", " rows check out.")) }
        } @else {
            p.error #audit-check { "✗ " (p.broken) (l.pick(" dòng không khớp với nhật ký đã ký: dữ liệu đã bị thay đổi.", " rows do not match the signed log: the data was changed.")) }
        }
        table.list #audit {
            thead { tr {
                th { (l.pick("Thời điểm", "When")) } th { (l.pick("Đơn vị", "Unit")) } th { (l.pick("Người dùng", "User")) }
                th { (l.pick("Thao tác", "Action")) } th { (l.pick("Chi tiết", "Detail")) } th { (l.pick("Kiểm tra", "Check")) }
            } }
            tbody {
                @for r in &p.rows {
                    tr class=(if r.check == "ok" { "" } else { "broken" }) {
                        td { (local_time(r.at_ms)) } td { (r.unit) " #" (r.seq) } td { (r.user) } td { code { (r.action) } } td { (r.detail) }
                        td { @if r.check == "ok" { span.yes { "✓" } } @else { span.no { "✗ " (r.check) } } }
                    }
                }
            }
        }
        @if p.rows.is_empty() { p { (l.pick("Không có thao tác nào.", "No actions.")) } }
        @if let Some(next) = &p.next {
            p { a href=(format!("/audit?{filters}{amp}cursor={}", qenc(next))) { (l.pick("Trang sau →", "Older →")) } }
        }
    };
    Ok(page(&ctx, l.pick("Nhật ký", "Audit"), Nav::Audit, body))
}

/// `GET /audit.csv`: every row the filters select (at most 100,000), newest first.
pub(crate) async fn export(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Query(f): Query<AuditForm>,
) -> Page {
    let mut q = f.query(MAX_AUDIT_PAGE);
    let mut out = String::from("\u{feff}at,unit,seq,user,action,detail,check\r\n");
    let mut n = 0;
    loop {
        let p = read(&state, &ctx, q.clone()).await?;
        for r in &p.rows {
            let cells = [
                r.at.as_str(),
                r.unit.as_str(),
                &r.seq.to_string(),
                &r.user,
                &r.action,
                &r.detail,
                &r.check,
            ];
            out.push_str(
                &cells
                    .iter()
                    .map(|c| csv_field(c))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push_str("\r\n");
        }
        n += p.rows.len();
        match p.next {
            Some(next) if n < MAX_EXPORT_ROWS => q.cursor = Some(next),
            _ => break,
        }
    }
    let name = format!("eduioc-audit-{}.csv", ctx.unit);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        out,
    )
        .into_response())
}
