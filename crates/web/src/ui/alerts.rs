//! The alerts inbox of a unit (`/alerts`): what the rules raise in its subtree, most
//! severe first, with acknowledgement and, from any alert, a notification to the unit
//! concerned drafted in one click; and the data-completeness view (`/completeness/{unit}`,
//! rà soát): which schools lack which data this school year.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::{Extension, Form};
use eduioc_engine::{Alert, SchoolCompleteness, Severity};
use eduioc_records::Collection;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{page, Nav};
use super::overview::{local_rfc3339, local_time};
use super::{engine_call, figures_call, qenc, Ctx, Lang, Page};
use crate::AppState;

/// Query of the alerts and completeness pages.
#[derive(Deserialize, Default)]
pub(crate) struct UnitYear {
    unit: Option<String>,
    year: Option<String>,
    acked: Option<String>,
}

fn rule_name(lang: Lang, rule: &str) -> &'static str {
    match rule {
        "class_over_size" => lang.pick("Lớp vượt sĩ số", "Class over its size cap"),
        "target_not_met" => lang.pick("Chưa đạt chỉ tiêu", "Target not met"),
        "not_reporting" => lang.pick("Chưa gửi dữ liệu", "Not reporting"),
        "duplicate_student" => lang.pick("Học sinh trùng ở hai trường", "Student enrolled twice"),
        "dropout_rising" => lang.pick("Tỉ lệ bỏ học tăng", "Dropout rising"),
        "fork" => lang.pick("Sổ dữ liệu bị ghi hai nhánh", "Forked log"),
        "report_overdue" => lang.pick("Báo cáo quá hạn", "Report overdue"),
        _ => lang.pick("Cảnh báo", "Alert"),
    }
}

fn severity_name(lang: Lang, s: Severity) -> &'static str {
    match s {
        Severity::Critical => lang.pick("Nghiêm trọng", "Critical"),
        Severity::Warning => lang.pick("Cần chú ý", "Warning"),
        Severity::Info => lang.pick("Thông tin", "Info"),
    }
}

fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "sev critical",
        Severity::Warning => "sev warning",
        Severity::Info => "sev info",
    }
}

/// What an alert says, in `lang`, from its rule and details (the API's `message` is
/// English).
fn said(lang: Lang, a: &Alert) -> String {
    let d = &a.details;
    let s = |k: &str| {
        d[k].as_str()
            .map(str::to_string)
            .unwrap_or_else(|| d[k].to_string())
    };
    let num = |k: &str| {
        d[k].as_f64()
            .map_or_else(|| "—".to_string(), |v| lang.dec1(v))
    };
    let vi = lang == Lang::Vi;
    match a.rule {
        "class_over_size" if vi => format!(
            "Lớp {} (khối {}) có {} học sinh, vượt sĩ số quy định {}",
            s("class_id"),
            s("grade"),
            s("size"),
            s("cap")
        ),
        "target_not_met" => {
            let code = s("indicator");
            let name = super::ops::indicator_name(lang, &code);
            let actual = super::ops::shown(lang, &code, d["actual"].as_f64());
            let value = super::ops::shown(lang, &code, d["value"].as_f64());
            let op = super::ops::op_sign(&s("op"));
            match vi {
                true => format!("{name}: {actual}, chỉ tiêu {op} {value}"),
                false => format!("{name}: {actual}, target {op} {value}"),
            }
        }
        "not_reporting" if vi => match d["last_data_at"].as_str() {
            Some(t) => format!("Dữ liệu mới nhất của trường từ {}", local_rfc3339(t)),
            None => "Chưa nhận được dữ liệu nào của trường".into(),
        },
        "duplicate_student" if vi => {
            let schools: Vec<String> = d["schools"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "Mã định danh {} đang học ở {} trường: {}",
                s("personal_id"),
                schools.len(),
                schools.join(", ")
            )
        }
        "dropout_rising" if vi => format!(
            "Tỉ lệ bỏ học {}% năm nay, tăng từ {}% năm trước",
            num("rate"),
            num("previous_rate")
        ),
        "report_overdue" if vi => format!(
            "Báo cáo {} năm học {} đến hạn {} mà {}",
            s("term"),
            a.id.split(':').nth(2).unwrap_or_default(),
            d["due"].as_str().map(local_rfc3339).unwrap_or_default(),
            match d["status"].as_str() {
                Some("returned") => "đang bị trả lại, chưa nộp lại",
                _ => "chưa nộp",
            }
        ),
        "fork" if vi => format!(
            "Sổ dữ liệu có hai bản ghi khác nhau cho số thứ tự {}; bản thứ hai bị cách ly",
            s("seq")
        ),
        _ => a.message.clone(),
    }
}

fn alert_row(ctx: &Ctx, a: &Alert, name: &str) -> Markup {
    let l = ctx.lang;
    let draft = format!(
        "/notifications?to={}&title={}&body={}",
        qenc(&a.unit),
        qenc(&format!("{}: {name}", rule_name(l, a.rule))),
        qenc(&said(l, a))
    );
    html! {
        tr id=(format!("alert-{}", a.id)) {
            td { span class=(severity_class(a.severity)) { (severity_name(l, a.severity)) } }
            td { (rule_name(l, a.rule)) }
            td.name { a href=(format!("/ops/{}", a.unit)) { (name) } }
            td { (said(l, a)) }
            td { (local_rfc3339(&a.since)) }
            td {
                @if let Some(ack) = &a.acknowledged {
                    div.ok { (l.pick("Đã xử lý: ", "Acknowledged: ")) (ack.by) ", " (local_rfc3339(&ack.at)) }
                    @if !ack.note.is_empty() { div.sub { (ack.note) } }
                } @else {
                    form.inline method="post" action="/alerts/ack" {
                        input type="hidden" name="id" value=(a.id);
                        input type="text" name="note" maxlength="2000" placeholder=(l.pick("Ghi chú", "Note"));
                        " " button type="submit" { (l.pick("Xác nhận", "Acknowledge")) }
                    }
                }
                @if ctx.has_children && a.unit != ctx.unit {
                    a.button.small href=(draft) { (l.pick("Soạn thông báo", "Notify")) }
                }
            }
        }
    }
}

/// `GET /alerts?unit=&year=`.
pub(crate) async fn page_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<UnitYear>,
) -> Page {
    let l = ctx.lang;
    let (alerts, names, year) = figures_call(&state, |f| {
        let year = q.year.clone().unwrap_or_else(|| f.school_year());
        let alerts = f.alerts(q.unit.as_deref(), Some(&year))?;
        let dir = f.directory();
        let names: Vec<String> = alerts
            .iter()
            .map(|a| dir.name(&a.unit).unwrap_or(&a.unit).to_string())
            .collect();
        Ok((alerts, names, year))
    })?;
    let open = alerts.iter().filter(|a| a.acknowledged.is_none()).count();
    let body = html! {
        h1 { (l.pick("Cảnh báo", "Alerts")) }
        @if q.acked.is_some() { p.ok { (l.pick("Đã xác nhận cảnh báo.", "Alert acknowledged.")) } }
        p.sub {
            (l.pick("Năm học ", "School year ")) (year) " · "
            (open) (l.pick(" cảnh báo chưa xử lý, ", " open, ")) (alerts.len()) (l.pick(" tất cả", " in all"))
        }
        @if alerts.is_empty() { p.note { (l.pick("Không có cảnh báo.", "No alerts.")) } }
        @else {
            table.figures.alerts {
                thead { tr {
                    th { (l.pick("Mức độ", "Severity")) } th { (l.pick("Loại", "Rule")) }
                    th { (l.pick("Đơn vị", "Unit")) } th { (l.pick("Nội dung", "What")) }
                    th { (l.pick("Từ", "Since")) } th { (l.pick("Xử lý", "Action")) }
                } }
                tbody { @for (a, n) in alerts.iter().zip(&names) { (alert_row(&ctx, a, n)) } }
            }
        }
    };
    Ok(page(&ctx, l.pick("Cảnh báo", "Alerts"), Nav::Alerts, body))
}

/// The acknowledge form.
#[derive(Deserialize)]
pub(crate) struct AckForm {
    id: String,
    #[serde(default)]
    note: String,
}

/// `POST /alerts/ack`: a signed acknowledgement that travels up.
pub(crate) async fn ack(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<AckForm>,
) -> Page {
    let detail = format!("{}: {}", f.id, f.note.trim());
    engine_call(&state, move |e| e.ack_alert(&f.id, f.note.trim())).await?;
    crate::audit(&state, &ctx.user, "alert_ack", detail).await;
    Ok(Redirect::to("/alerts?acked=1").into_response())
}

fn mark(ok: bool) -> Markup {
    html! { @if ok { span.yes { "✓" } } @else { span.no { "✗" } } }
}

fn completeness_row(l: Lang, s: &SchoolCompleteness) -> Markup {
    html! {
        tr class=(if s.complete() { "" } else { "incomplete" }) {
            td.name { a href=(format!("/unit/{}", s.unit)) { (s.name) } }
            @for (c, held) in Collection::ALL.iter().zip(s.held) {
                td.mark {
                    (mark(held))
                    @if *c == Collection::Results && !s.terms.is_empty() { " " span.sub { (s.terms.join(", ")) } }
                }
            }
            td.num { (l.int(s.without_personal_id)) }
            td.num { (l.int(s.without_class)) }
            td { @if s.profile_without_place { (l.pick("thiếu toạ độ", "no coordinates")) } }
            td { (s.last_data_ms.map(local_time).unwrap_or_default()) }
        }
    }
}

/// `GET /completeness/{unit}?year=`: which schools lack which data (rà soát).
pub(crate) async fn completeness(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(unit): Path<String>,
    Query(q): Query<UnitYear>,
) -> Page {
    let l = ctx.lang;
    let (rows, year, name) = figures_call(&state, |f| {
        let year = q.year.clone().unwrap_or_else(|| f.school_year());
        let rows = f.completeness(Some(&unit), &year)?;
        let name = f.directory().name(&unit).unwrap_or(&unit).to_string();
        Ok((rows, year, name))
    })?;
    let lacking = |i: usize| rows.iter().filter(|r| !r.held[i]).count();
    let kind = |c: Collection| match c {
        Collection::Students => l.pick("Học sinh", "Students"),
        Collection::Staff => l.pick("Cán bộ, giáo viên", "Staff"),
        Collection::Classes => l.pick("Lớp học", "Classes"),
        Collection::Results => l.pick("Kết quả học tập", "Results"),
        Collection::Health => l.pick("Sức khoẻ", "Health"),
        Collection::Profile => l.pick("Hồ sơ trường", "Profile"),
    };
    let body = html! {
        h1 { (l.pick("Rà soát dữ liệu: ", "Data completeness: ")) (name) }
        p.sub { (l.pick("Năm học ", "School year ")) (year) " · " (rows.iter().filter(|r| r.complete()).count()) "/" (rows.len()) (l.pick(" trường đủ dữ liệu", " schools complete")) }
        ul.legend {
            @for (i, c) in Collection::ALL.iter().enumerate() {
                li { (kind(*c)) ": " strong { (lacking(i)) } (l.pick(" trường chưa gửi", " schools missing")) }
            }
        }
        table.figures.completeness {
            thead { tr {
                th { (l.pick("Trường", "School")) }
                @for c in Collection::ALL { th { (kind(c)) } }
                th.num { (l.pick("HS thiếu mã định danh", "Students without personal id")) }
                th.num { (l.pick("HS không thuộc lớp nào", "Students in no class")) }
                th { (l.pick("Toạ độ", "Coordinates")) }
                th { (l.pick("Dữ liệu mới nhất", "Newest data")) }
            } }
            tbody { @for r in &rows { (completeness_row(l, r)) } }
        }
    };
    Ok(page(
        &ctx,
        l.pick("Rà soát dữ liệu", "Data completeness"),
        Nav::Ops,
        body,
    ))
}
