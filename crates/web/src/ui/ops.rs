//! The operations page of a unit (`/ops/{unit}`): every indicator of its subtree with the
//! targets set for it and a traffic light, the units below it ranked on one indicator
//! (drill-down: who drags it down), and, at an office, the form that sets a target.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::{Extension, Form};
use eduioc_engine::{higher_is_better, Indicator, Indicators, TargetStatus, CATALOGUE, TERMS};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{breadcrumbs, page, Nav};
use super::{engine_call, figures_call, qenc, Ctx, Lang, Page, UiError};
use crate::AppState;

/// The name of an indicator in `lang`.
pub(crate) fn indicator_name(lang: Lang, code: &str) -> &'static str {
    let (vi, en) = match code {
        "dropout_rate" => ("Tỉ lệ học sinh bỏ học", "Dropout rate"),
        "students_per_class" => ("Số học sinh bình quân/lớp", "Students per class"),
        "students_per_teacher" => ("Số học sinh/giáo viên", "Students per teacher"),
        "oversized_class_rate" => (
            "Tỉ lệ lớp vượt sĩ số quy định",
            "Classes above their size cap",
        ),
        "teachers_qualified_rate" => ("Tỉ lệ giáo viên đạt chuẩn trình độ", "Teachers qualified"),
        "academic_good_rate" => ("Tỉ lệ học tập tốt, khá", "Learning results good or better"),
        "conduct_good_rate" => ("Tỉ lệ rèn luyện tốt, khá", "Conduct good or better"),
        "malnutrition_rate" => ("Tỉ lệ suy dinh dưỡng", "Malnutrition"),
        "overweight_rate" => ("Tỉ lệ thừa cân, béo phì", "Overweight or obese"),
        "solid_classroom_rate" => ("Tỉ lệ phòng học kiên cố", "Solid classrooms"),
        "national_standard_rate" => (
            "Tỉ lệ trường đạt chuẩn quốc gia",
            "Schools at national standard",
        ),
        "clean_water_rate" => ("Tỉ lệ trường có nước sạch", "Schools with clean water"),
        "reporting_rate" => ("Tỉ lệ trường đã gửi dữ liệu", "Schools reporting"),
        _ => ("", ""),
    };
    lang.pick(vi, en)
}

/// Whether an indicator is a percentage.
fn is_rate(code: &str) -> bool {
    CATALOGUE
        .iter()
        .any(|(c, s)| *c == code && *s == eduioc_engine::Scale::Rate)
}

/// An indicator's value as the page shows it (`12,5%`, `19,3`, `—`).
pub(crate) fn shown(lang: Lang, code: &str, value: Option<f64>) -> String {
    match value {
        None => "—".into(),
        Some(v) if is_rate(code) => format!("{}%", lang.dec1(v)),
        Some(v) => lang.dec1(v),
    }
}

/// A target's condition as people write it (`≤`, `≥`).
pub(crate) fn op_sign(op: &str) -> &'static str {
    if op == "<=" {
        "≤"
    } else {
        "≥"
    }
}

/// The traffic light of a target status.
fn light(status: &str) -> &'static str {
    match status {
        "met" => "light ok",
        "not_met" => "light bad",
        _ => "light none",
    }
}

fn status_text(lang: Lang, status: &str) -> &'static str {
    match status {
        "met" => lang.pick("Đạt", "Met"),
        "not_met" => lang.pick("Chưa đạt", "Not met"),
        _ => lang.pick("Chưa có số liệu", "No data"),
    }
}

/// Query of the page.
#[derive(Deserialize, Default)]
pub(crate) struct OpsQuery {
    year: Option<String>,
    term: Option<String>,
    drill: Option<String>,
    set: Option<String>,
}

/// One unit below, on the drilled indicator: (id, name, value, statuses of its targets).
type Ranked = (String, String, Option<f64>, Vec<&'static str>);

/// What the page shows, computed from the published figures.
struct View {
    unit: String,
    crumbs: Vec<(String, String)>,
    indicators: Indicators,
    targets: Vec<TargetStatus>,
    years: Vec<String>,
    drill: Option<(String, Vec<Ranked>)>,
    /// Units a target can be set for here: (id, name, depth).
    settable: Vec<(String, String, usize)>,
}

fn view(state: &AppState, ctx: &Ctx, unit: Option<String>, q: &OpsQuery) -> Result<View, UiError> {
    let unit = unit.unwrap_or_else(|| ctx.unit.clone());
    let (me, is_school) = (ctx.unit.clone(), ctx.is_school);
    figures_call(state, |f| {
        let year = q.year.clone().unwrap_or_else(|| f.school_year());
        let indicators = f.indicators(Some(&unit), Some(&year), q.term.as_deref())?;
        let dir = f.directory();
        let name = |u: &str| dir.name(u).unwrap_or(u).to_string();
        let mut crumbs: Vec<(String, String)> = dir
            .ancestors_or_self(&unit)
            .into_iter()
            .take_while(|u| dir.is_ancestor_or_self(&me, u))
            .map(|u| (u.clone(), name(&u)))
            .collect();
        crumbs.reverse();
        let all = f.targets(Some(&unit), Some(&year))?;
        let targets: Vec<TargetStatus> = all.iter().filter(|t| t.unit == unit).cloned().collect();
        let drill = match q
            .drill
            .as_deref()
            .filter(|c| eduioc_engine::is_indicator(c))
        {
            Some(code) => {
                let mut rows: Vec<Ranked> = dir
                    .children(&unit)
                    .map(|c| {
                        let v = f
                            .indicators(Some(c), Some(&year), Some(&indicators.term))
                            .ok()
                            .and_then(|i| i.get(code).and_then(|x| x.value));
                        let statuses = all
                            .iter()
                            .filter(|t| t.unit == c && t.indicator == code)
                            .map(|t| t.status)
                            .collect();
                        (c.to_string(), name(c), v, statuses)
                    })
                    .collect();
                // Worst first; units without data last.
                let high = higher_is_better(code);
                rows.sort_by(|a, b| match (a.2, b.2) {
                    (Some(x), Some(y)) if high => x.total_cmp(&y),
                    (Some(x), Some(y)) => y.total_cmp(&x),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => a.1.cmp(&b.1),
                });
                Some((code.to_string(), rows))
            }
            None => None,
        };
        let settable = if is_school {
            Vec::new()
        } else {
            let mut out = vec![(unit.clone(), name(&unit), 0)];
            out.extend(dir.children(&unit).map(|c| (c.to_string(), name(c), 1)));
            out
        };
        let mut years = f.school_years();
        if !years.contains(&year) {
            years.push(year.clone());
        }
        Ok(View {
            unit: unit.clone(),
            crumbs,
            indicators,
            targets,
            years,
            drill,
            settable,
        })
    })
}

fn indicator_row(ctx: &Ctx, v: &View, i: &Indicator) -> Markup {
    let l = ctx.lang;
    let targets: Vec<&TargetStatus> = v.targets.iter().filter(|t| t.indicator == i.code).collect();
    let drill = format!(
        "/ops/{}?year={}&term={}&drill={}",
        v.unit, v.indicators.year, v.indicators.term, i.code
    );
    html! {
        tr id=(format!("ind-{}", i.code)) {
            td.name { a href=(drill) { (indicator_name(l, i.code)) } }
            td.num.value { (shown(l, i.code, i.value)) }
            td.num.sub { (l.dec1(i.numerator).trim_end_matches(",0").trim_end_matches(".0")) " / " (l.dec1(i.denominator).trim_end_matches(",0").trim_end_matches(".0")) }
            td {
                @for t in &targets {
                    div.target {
                        span class=(light(t.status)) title=(status_text(l, t.status)) {}
                        (op_sign(&t.op)) " " (shown(l, i.code, Some(t.value)))
                        span.sub { " · " (status_text(l, t.status)) " · " (l.pick("do ", "by ")) (t.set_by) }
                    }
                }
                @if targets.is_empty() { span.sub { "—" } }
            }
        }
    }
}

fn body(ctx: &Ctx, v: &View) -> Markup {
    let l = ctx.lang;
    let i = &v.indicators;
    html! {
        (breadcrumbs(&v.crumbs))
        div.titlebar {
            div {
                h1 { (l.pick("Điều hành: ", "Operations: ")) (v.crumbs.last().map_or(v.unit.as_str(), |c| c.1.as_str())) }
                p.sub { (l.pick("Năm học ", "School year ")) (i.year) " · " (l.pick("Học kỳ ", "Term ")) (i.term) }
            }
            div.actions.noprint {
                a.button href=(format!("/alerts?unit={}", qenc(&v.unit))) { (l.pick("Cảnh báo", "Alerts")) }
                a.button href=(format!("/forecast/{}", v.unit)) { (l.pick("Dự báo", "Forecast")) }
                a.button href=(format!("/map/{}", v.unit)) { (l.pick("Bản đồ", "Map")) }
                a.button href=(format!("/completeness/{}", v.unit)) { (l.pick("Rà soát dữ liệu", "Data completeness")) }
            }
        }
        form.filters.noprint method="get" action=(format!("/ops/{}", v.unit)) {
            label { (l.pick("Năm học", "School year")) " "
                select name="year" { @for y in &v.years { option value=(y) selected[*y == i.year] { (y) } } }
            }
            " "
            label { (l.pick("Học kỳ", "Term")) " "
                select name="term" { @for t in TERMS { option value=(t) selected[t == i.term] { (t) } } }
            }
            " " button type="submit" { (l.pick("Xem", "Show")) }
        }
        section.card {
            h2 { (l.pick("Chỉ tiêu và chỉ số", "Indicators and targets")) }
            table.figures.indicators {
                thead { tr {
                    th { (l.pick("Chỉ số", "Indicator")) }
                    th.num { (l.pick("Giá trị", "Value")) }
                    th.num { (l.pick("Tử số / mẫu số", "Count / out of")) }
                    th { (l.pick("Chỉ tiêu", "Target")) }
                } }
                tbody { @for ind in &i.indicators { (indicator_row(ctx, v, ind)) } }
            }
            p.sub { (l.pick("Bấm vào một chỉ số để xem các đơn vị trực thuộc, đơn vị kém nhất trước.", "Choose an indicator to rank the units below, worst first.")) }
        }
        @if let Some((code, rows)) = &v.drill {
            section.card #drill {
                h2 { (indicator_name(l, code)) ": " (l.pick("các đơn vị trực thuộc", "units below")) }
                @if rows.is_empty() { p.note { (l.pick("Không có đơn vị trực thuộc.", "No units below.")) } }
                @else {
                    table.figures {
                        thead { tr { th { (l.pick("Đơn vị", "Unit")) } th.num { (l.pick("Giá trị", "Value")) } th { (l.pick("Chỉ tiêu", "Target")) } } }
                        tbody {
                            @for (id, name, value, statuses) in rows {
                                tr {
                                    td.name { a href=(format!("/ops/{id}?year={}&term={}&drill={code}", i.year, i.term)) { (name) } }
                                    td.num { (shown(l, code, *value)) }
                                    td { @for s in statuses { span class=(light(s)) title=(status_text(l, s)) {} " " (status_text(l, s)) " " } }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !v.settable.is_empty() {
            section.card.noprint {
                h2 { (l.pick("Giao chỉ tiêu", "Set a target")) }
                form.grid method="post" action="/ops/target" {
                    input type="hidden" name="year" value=(i.year);
                    label { (l.pick("Đơn vị", "Unit"))
                        select name="unit" { @for (id, name, depth) in &v.settable { option value=(id) { (" ".repeat(depth * 3)) (name) } } }
                    }
                    label { (l.pick("Chỉ số", "Indicator"))
                        select name="indicator" { @for (c, _) in CATALOGUE { option value=(c) { (indicator_name(l, c)) } } }
                    }
                    label { (l.pick("Điều kiện", "Condition"))
                        select name="op" { option value=">=" { "≥" } option value="<=" { "≤" } }
                    }
                    label { (l.pick("Giá trị", "Value"))
                        input type="number" name="value" step="any" required;
                    }
                    div.full { button type="submit" { (l.pick("Giao chỉ tiêu", "Set the target")) } }
                }
            }
        }
    }
}

async fn show(state: AppState, ctx: Ctx, unit: Option<String>, q: OpsQuery) -> Page {
    let v = view(&state, &ctx, unit, &q)?;
    let mut body = body(&ctx, &v);
    if q.set.is_some() {
        body = html! { p.ok { (ctx.lang.pick("Đã giao chỉ tiêu.", "Target set.")) } (body) };
    }
    Ok(page(
        &ctx,
        ctx.lang.pick("Điều hành", "Operations"),
        Nav::Ops,
        body,
    ))
}

/// `GET /ops`: this node's unit.
pub(crate) async fn home(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<OpsQuery>,
) -> Page {
    show(state, ctx, None, q).await
}

/// `GET /ops/{unit}`.
pub(crate) async fn unit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(unit): Path<String>,
    Query(q): Query<OpsQuery>,
) -> Page {
    show(state, ctx, Some(unit), q).await
}

/// The set-target form.
#[derive(Deserialize)]
pub(crate) struct TargetForm {
    unit: String,
    year: String,
    indicator: String,
    op: String,
    value: String,
}

/// `POST /ops/target`: a signed target of this office, then back to the unit's page.
pub(crate) async fn set_target(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<TargetForm>,
) -> Page {
    let value: f64 = f.value.trim().replace(',', ".").parse().map_err(|_| {
        UiError(
            axum::http::StatusCode::BAD_REQUEST,
            ctx.lang
                .pick(
                    "Giá trị chỉ tiêu phải là một số.",
                    "The target's value must be a number.",
                )
                .into(),
        )
    })?;
    let unit = f.unit.clone();
    let year = f.year.clone();
    let detail = format!("{unit} {year} {} {} {value}", f.indicator, f.op);
    engine_call(&state, move |e| {
        e.set_target(&f.unit, &f.year, &f.indicator, &f.op, value)
    })
    .await?;
    crate::audit(&state, &ctx.user, "target", detail).await;
    Ok(Redirect::to(&format!("/ops/{unit}?year={year}&set=1")).into_response())
}
