//! Term reports (`/reports`), the signed replacement of the paper seal: a school submits
//! its report for a term, its district returns it with a comment or approves it, the
//! department accepts it (see [`eduioc_engine::ReportView`]). Every node lists the reports
//! of its subtree's schools with their status, and what changed since the submission.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::{Extension, Form};
use eduioc_engine::ReportView;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{page, Nav};
use super::overview::local_rfc3339;
use super::{engine_call, figures_call, qenc, Ctx, Lang, Page};
use crate::{AppState, Role};

/// The terms, in order.
const TERMS: [&str; 3] = ["HK1", "HK2", "CN"];

/// Query of the page.
#[derive(Deserialize, Default)]
pub(crate) struct ReportQuery {
    year: Option<String>,
    term: Option<String>,
    done: Option<String>,
}

fn status_name(lang: Lang, status: &str) -> &'static str {
    match status {
        "submitted" => lang.pick("Đã nộp, chờ duyệt", "Submitted"),
        "returned" => lang.pick("Bị trả lại", "Returned"),
        "approved" => lang.pick("Phòng đã duyệt", "Approved"),
        "accepted" => lang.pick("Sở đã tiếp nhận", "Accepted"),
        _ => lang.pick("Chưa nộp", "Not submitted"),
    }
}

fn step_name(lang: Lang, step: &str) -> &'static str {
    match step {
        "submit" => lang.pick("Nộp", "Submitted"),
        "return" => lang.pick("Trả lại", "Returned"),
        "approve" => lang.pick("Duyệt", "Approved"),
        _ => lang.pick("Tiếp nhận", "Accepted"),
    }
}

fn number(lang: Lang, v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => lang.dec1(v),
    }
}

/// What `ctx`'s node may do with report `r` now: (step, needs a comment).
fn actions(
    ctx: &Ctx,
    r: &ReportView,
    parent: Option<&str>,
    is_root: bool,
) -> Vec<(&'static str, bool)> {
    if !ctx.may(Role::Officer) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if ctx.is_school && r.school == ctx.unit && !matches!(r.status, "approved" | "accepted") {
        out.push(("submit", false));
    }
    if parent == Some(ctx.unit.as_str()) && r.status == "submitted" {
        out.push(("approve", false));
        out.push(("return", true));
    }
    if is_root && r.status == "approved" {
        out.push(("accept", false));
    }
    out
}

fn row(ctx: &Ctx, r: &ReportView, parent: Option<&str>, is_root: bool) -> Markup {
    let l = ctx.lang;
    let last = r.history.last();
    html! {
        tr id=(format!("report-{}", r.school)) class=(if r.changed_since_approval() { "changed" } else { "" }) {
            td { (r.name) }
            td { span class=(format!("status {}", r.status)) { (status_name(l, r.status)) } }
            td {
                @if let Some(at) = &r.submitted_at { (local_rfc3339(at)) }
                @if let Some(s) = last.filter(|s| !s.comment.is_empty()) {
                    div.note { (step_name(l, &s.step)) " · " (s.unit) ": " (s.comment) }
                }
            }
            td {
                @if !r.changed.is_empty() {
                    div.changed {
                        strong { @if r.changed_since_approval() { (l.pick("Thay đổi sau khi duyệt", "Changed since approval")) } @else { (l.pick("Thay đổi sau khi nộp", "Changed since submission")) } }
                        ul { @for c in &r.changed {
                            li { code { (c.name) } ": " (number(l, c.submitted)) " → " (number(l, c.now)) }
                        } }
                    }
                }
            }
            td {
                @for (step, comment) in actions(ctx, r, parent, is_root) {
                    form.inline method="post" action="/reports/step" {
                        input type="hidden" name="school" value=(r.school);
                        input type="hidden" name="year" value=(r.year);
                        input type="hidden" name="term" value=(r.term);
                        input type="hidden" name="step" value=(step);
                        @if comment {
                            input type="text" name="comment" required maxlength="2000" placeholder=(l.pick("Lý do trả lại", "Why it is returned"));
                        } @else if step == "submit" {
                            input type="text" name="comment" maxlength="2000" placeholder=(l.pick("Ghi chú (không bắt buộc)", "Note (optional)"));
                        }
                        " " button type="submit" { (match step {
                            "submit" => l.pick("Nộp báo cáo", "Submit the report"),
                            "approve" => l.pick("Duyệt", "Approve"),
                            "return" => l.pick("Trả lại", "Return"),
                            _ => l.pick("Tiếp nhận", "Accept"),
                        }) }
                    }
                }
            }
        }
    }
}

/// `GET /reports?year=&term=`.
pub(crate) async fn page_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<ReportQuery>,
) -> Page {
    let l = ctx.lang;
    let term = q.term.clone().unwrap_or_else(|| "HK1".into());
    let year = q.year.clone();
    let (reports, year, parents, is_root) = figures_call(&state, |f| {
        let year = year.unwrap_or_else(|| f.school_year());
        let reports = f.reports(None, Some(&year), &term)?;
        let dir = f.directory();
        let parents: Vec<Option<String>> = reports
            .iter()
            .map(|r| dir.parent(&r.school).map(str::to_string))
            .collect();
        Ok((reports, year, parents, dir.parent(f.unit()).is_none()))
    })?;
    let body = html! {
        h1 { (l.pick("Báo cáo học kỳ", "Term reports")) " " (year) }
        p.hint { (l.pick(
            "Trường nộp báo cáo (số liệu của học kỳ, có chữ ký số); phòng duyệt hoặc trả lại kèm lý do; sở tiếp nhận. Báo cáo giữ nguyên như khi nộp: số liệu thay đổi sau đó được ghi rõ.",
            "A school submits its report (the term's figures, signed); its district approves it or returns it with a reason; the department accepts it. A report stays as submitted: later changes to the figures are shown against it."
        )) }
        @if let Some(d) = &q.done { p.ok #report-done { "✓ " (d) } }
        p.terms { @for t in TERMS {
            @if t == term { strong { (t) } } @else { a href=(format!("/reports?year={}&term={t}", qenc(&year))) { (t) } }
            " "
        } }
        table.list #reports {
            thead { tr {
                th { (l.pick("Trường", "School")) } th { (l.pick("Trạng thái", "Status")) } th { (l.pick("Nộp lúc", "Submitted")) }
                th { (l.pick("Thay đổi", "Changes")) } th {}
            } }
            tbody { @for (r, p) in reports.iter().zip(&parents) { (row(&ctx, r, p.as_deref(), is_root)) } }
        }
        @if reports.is_empty() { p { (l.pick("Không có trường nào.", "No schools.")) } }
    };
    Ok(page(&ctx, l.pick("Báo cáo", "Reports"), Nav::Reports, body))
}

/// The step form.
#[derive(Deserialize)]
pub(crate) struct StepForm {
    school: String,
    year: String,
    term: String,
    step: String,
    #[serde(default)]
    comment: String,
}

/// `POST /reports/step`: submit, return, approve or accept, as a signed entry.
pub(crate) async fn step(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<StepForm>,
) -> Page {
    let (school, year, term, step) = (
        f.school.clone(),
        f.year.clone(),
        f.term.clone(),
        f.step.clone(),
    );
    let comment = f.comment.clone();
    let r = engine_call(&state, move |e| {
        e.report_step(&f.school, &f.year, &f.term, &f.step, &f.comment)
    })
    .await?;
    let action = crate::report_action(&step);
    let detail = format!("{school} {year} {term}: {}", comment.trim());
    crate::audit(&state, &ctx.user, action, detail).await;
    let done = format!("{}: {}", r.name, status_name(ctx.lang, r.status));
    Ok(Redirect::to(&format!(
        "/reports?year={}&term={}&done={}",
        qenc(&year),
        qenc(&term),
        qenc(&done)
    ))
    .into_response())
}
