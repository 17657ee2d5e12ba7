//! Overview of a unit's subtree: tiles, SVG charts, the table of figures per child
//! unit, and its export as CSV and XLSX.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Json};
use axum::Extension;
use eduioc_engine::{Overview, Stats, UnitFigures};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use super::layout::{breadcrumbs, page, Nav};
use super::{charts, figures_call, Ctx, Lang, Page, UiError, T};
use crate::AppState;

/// Largest units shown in the ranking chart.
const TOP_UNITS: usize = 12;

/// `ms` as local `dd/mm/yyyy HH:MM`.
pub(crate) fn local_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%d/%m/%Y %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// An RFC 3339 time as local `dd/mm/yyyy HH:MM`.
pub(crate) fn local_rfc3339(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| local_time(t.timestamp_millis()))
        .unwrap_or_else(|_| s.to_string())
}

/// The translated name of a level label.
pub(crate) fn level_name(lang: Lang, level: &str) -> String {
    match level {
        "department" => lang.t(T::LevelDepartment).into(),
        "district" => lang.t(T::LevelDistrict).into(),
        "school" => lang.t(T::LevelSchool).into(),
        other => other.to_string(),
    }
}

/// The tile values, keyed as the page's `data-k` attributes.
fn tile_values(lang: Lang, s: &Stats) -> Vec<(&'static str, T, String)> {
    vec![
        ("schools", T::Schools, lang.int(s.schools)),
        (
            "reporting",
            T::SchoolsReporting,
            format!(
                "{} / {}",
                lang.int(s.schools_reporting),
                lang.int(s.schools)
            ),
        ),
        ("classes", T::Classes, lang.int(s.classes)),
        ("students", T::Students, lang.int(s.students.enrolled)),
        ("teachers", T::Teachers, lang.int(s.staff.teachers)),
        (
            "spt",
            T::StudentsPerTeacher,
            lang.dec1(s.students_per_teacher),
        ),
        ("dropouts", T::Dropouts, lang.int(s.students.dropped_out)),
    ]
}

fn figures_row(ctx: &Ctx, f: &UnitFigures, link: bool, total: bool) -> Markup {
    let l = ctx.lang;
    let s = &f.stats;
    html! {
        tr class=(if total { "total" } else { "" }) {
            td.name {
                @if link { a href=(format!("/unit/{}", f.id)) { (f.name) } } @else { (f.name) }
            }
            td { (level_name(l, &f.level)) }
            td.num { (l.int(s.schools)) }
            td.num { (l.int(s.schools_reporting)) }
            td.num { (l.int(s.classes)) }
            td.num { (l.int(s.students.enrolled)) }
            td.num { (l.int(s.staff.teachers)) }
            td.num { (l.dec1(s.students_per_teacher)) }
            td.num { (l.int(s.students.dropped_out)) }
        }
    }
}

fn body(ctx: &Ctx, o: &Overview) -> Markup {
    let l = ctx.lang;
    let s = &o.me.stats;
    let int = |v: u64| l.int(v);
    let grades: Vec<(String, u64)> = {
        // In the chain's order: NT, MG3, MG4, MG5, 1, …, 12.
        let mut g: Vec<(u8, String, u64)> = s
            .students
            .by_grade
            .iter()
            .filter_map(|(k, v)| eduioc_records::grade_rank(k).map(|r| (r, k.clone(), *v)))
            .collect();
        g.sort();
        g.into_iter().map(|(_, k, v)| (k, v)).collect()
    };
    let gender = vec![
        (
            l.t(T::Male).to_string(),
            s.students.by_gender.get("M").copied().unwrap_or(0),
            "male",
        ),
        (
            l.t(T::Female).to_string(),
            s.students.by_gender.get("F").copied().unwrap_or(0),
            "female",
        ),
    ];
    let mut levels: Vec<(String, u64, &'static str)> = [
        T::Preschool,
        T::Primary,
        T::LowerSecondary,
        T::UpperSecondary,
        T::OtherLevel,
    ]
    .iter()
    .zip(o.by_level)
    .zip(["lv4", "lv0", "lv1", "lv2", "lv3"])
    .map(|((t, v), c)| (l.t(*t).to_string(), v, c))
    .collect();
    levels.retain(|(_, v, c)| *v > 0 || !matches!(*c, "lv3" | "lv4"));
    let largest: Vec<(String, u64, Option<String>)> = o
        .children
        .iter()
        .take(TOP_UNITS)
        .map(|c| {
            (
                c.name.clone(),
                c.stats.students.enrolled,
                Some(format!("/unit/{}", c.id)),
            )
        })
        .collect();
    let pct = |v: u64, t: u64| format!("{} ({})", l.int(v), l.pct(v, t));
    let has_data = s.schools_reporting > 0 || s.students.enrolled > 0;
    html! {
        (breadcrumbs(&o.crumbs))
        div.titlebar {
            div {
                h1 { (o.me.name) }
                p.sub {
                    (level_name(l, &o.me.level)) " · " (ctx.t(T::SchoolYear)) " " (s.school_year)
                    " · " (ctx.t(T::AsOf)) " " (local_rfc3339(&s.as_of))
                    @if let Some(old) = &s.oldest_data_at { " · " (ctx.t(T::OldestData)) " " (local_rfc3339(old)) }
                }
            }
            div.actions.noprint {
                a.button href=(format!("/export/{}.csv", o.me.id)) { (ctx.t(T::ExportCsv)) }
                a.button href=(format!("/export/{}.xlsx", o.me.id)) { (ctx.t(T::ExportXlsx)) }
                button.js-only type="button" data-print="1" { (ctx.t(T::Print)) }
            }
        }
        section.tiles data-poll=(format!("/ui/live/stats?unit={}", o.me.id)) {
            @for (k, label, v) in tile_values(l, s) {
                div.tile { div.v data-k=(k) { (v) } div.l { (ctx.t(label)) } }
            }
        }
        @if !has_data { p.note { (ctx.t(T::NoData)) } }
        section.charts {
            figure.card {
                figcaption { (ctx.t(T::ByGrade)) }
                @if grades.is_empty() { p.note { (ctx.t(T::NoData)) } }
                @else { (charts::columns(ctx.t(T::ByGrade), &grades, &int)) }
            }
            figure.card {
                figcaption { (ctx.t(T::ByGender)) }
                (charts::split(ctx.t(T::ByGender), &gender, &pct))
                figcaption.second { (ctx.t(T::ByLevel)) }
                (charts::split(ctx.t(T::ByLevel), &levels, &pct))
            }
            @if o.by_year.len() > 1 {
                figure.card {
                    figcaption { (ctx.t(T::ByYear)) }
                    (charts::columns(ctx.t(T::ByYear), &o.by_year, &int))
                }
            }
            @if !largest.is_empty() {
                figure.card.wide {
                    figcaption { (ctx.t(T::LargestUnits)) }
                    (charts::rows(ctx.t(T::LargestUnits), &largest, &int))
                }
            }
        }
        section.card {
            h2 { (ctx.t(T::Figures)) }
            table.figures {
                thead { tr {
                    th { (ctx.t(T::Unit)) } th { (ctx.t(T::Level)) }
                    th.num { (ctx.t(T::Schools)) } th.num { (ctx.t(T::SchoolsReporting)) }
                    th.num { (ctx.t(T::Classes)) } th.num { (ctx.t(T::Students)) }
                    th.num { (ctx.t(T::Teachers)) } th.num { (ctx.t(T::StudentsPerTeacher)) }
                    th.num { (ctx.t(T::Dropouts)) }
                } }
                tbody {
                    @for c in &o.children { (figures_row(ctx, c, true, false)) }
                    (figures_row(ctx, &o.me, false, !o.children.is_empty()))
                }
            }
        }
    }
}

async fn show(state: AppState, ctx: Ctx, unit: Option<String>) -> Page {
    let unit = unit.unwrap_or_else(|| ctx.unit.clone());
    let o = figures_call(&state, move |e| e.overview(&unit))?;
    let title = o.me.name.clone();
    Ok(page(&ctx, &title, Nav::Overview, body(&ctx, &o)))
}

/// `GET /`: the node's own unit.
pub(crate) async fn home(State(state): State<AppState>, Extension(ctx): Extension<Ctx>) -> Page {
    show(state, ctx, None).await
}

/// `GET /unit/{id}`: any unit of the subtree.
pub(crate) async fn unit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Page {
    show(state, ctx, Some(id)).await
}

/// Query of the live endpoints.
#[derive(Deserialize)]
pub(crate) struct UnitQuery {
    unit: Option<String>,
}

/// `GET /ui/live/stats?unit=`: the tile values, for the refresh script.
pub(crate) async fn live(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<UnitQuery>,
) -> Result<Json<serde_json::Value>, UiError> {
    let s = figures_call(&state, move |e| e.stats(q.unit.as_deref()))?;
    let text: serde_json::Map<String, serde_json::Value> = tile_values(ctx.lang, &s)
        .into_iter()
        .map(|(k, _, v)| (k.to_string(), json!(v)))
        .collect();
    Ok(Json(json!({ "text": text })))
}

/// A text cell as a spreadsheet must show it: one starting with `=`, `+`, `-`, `@`, a tab
/// or a carriage return would be read as a formula (a unit name is chosen by whoever
/// certifies the unit), so it gets a leading `'`. Numbers are written as numbers, never
/// through this.
pub(crate) fn neutralise(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// A CSV cell: neutralised ([`neutralise`]) and quoted when it must be.
pub(crate) fn csv_field(s: &str) -> String {
    let s = &*neutralise(s);
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Header and rows of the exported table: the children (or the unit alone), then the
/// unit's total when it has children. Numbers stay numbers.
/// One exported row: its text cells, then its numbers.
type ExportRow = (Vec<String>, Vec<f64>);

fn table(lang: Lang, o: &Overview) -> (Vec<String>, Vec<ExportRow>) {
    let head = [
        T::Unit,
        T::Level,
        T::Schools,
        T::SchoolsReporting,
        T::Classes,
        T::Students,
        T::Teachers,
        T::StudentsPerTeacher,
        T::Dropouts,
    ];
    let mut header = vec!["id".to_string()];
    header.extend(head.iter().map(|t| lang.t(*t).to_string()));
    let row = |f: &UnitFigures, name: String| {
        let s = &f.stats;
        (
            vec![f.id.clone(), name, level_name(lang, &f.level)],
            vec![
                s.schools as f64,
                s.schools_reporting as f64,
                s.classes as f64,
                s.students.enrolled as f64,
                s.staff.teachers as f64,
                (s.students_per_teacher * 10.0).round() / 10.0,
                s.students.dropped_out as f64,
            ],
        )
    };
    let mut rows: Vec<_> = o.children.iter().map(|c| row(c, c.name.clone())).collect();
    let total = if o.children.is_empty() {
        o.me.name.clone()
    } else {
        format!("{} — {}", lang.t(T::Total), o.me.name)
    };
    rows.push(row(&o.me, total));
    (header, rows)
}

/// `GET /export/{unit}.csv` and `/export/{unit}.xlsx`: the overview's table of figures.
pub(crate) async fn export(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(file): Path<String>,
) -> Page {
    let Some((unit, ext)) = file.rsplit_once('.') else {
        return Err(UiError(
            StatusCode::NOT_FOUND,
            format!("{file:?}: expected <unit>.csv or <unit>.xlsx"),
        ));
    };
    if ext != "csv" && ext != "xlsx" {
        return Err(UiError(
            StatusCode::NOT_FOUND,
            format!("{file:?}: the format must be csv or xlsx"),
        ));
    }
    let (unit, ext) = (unit.to_string(), ext.to_string());
    let o = figures_call(&state, move |e| e.overview(&unit))?;
    let (header, rows) = table(ctx.lang, &o);
    let name = format!("eduioc-{}-{}.{ext}", o.me.id, o.me.stats.school_year);
    let disposition = format!("attachment; filename=\"{name}\"");
    if ext == "csv" {
        let mut out = String::from("\u{feff}");
        out.push_str(
            &header
                .iter()
                .map(|h| csv_field(h))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
        for (text, nums) in &rows {
            let mut cells: Vec<String> = text.iter().map(|t| csv_field(t)).collect();
            cells.extend(nums.iter().map(|n| n.to_string()));
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            out,
        )
            .into_response());
    }
    let bytes = xlsx(&header, &rows)?;
    Ok(download(&name, eduioc_records::XLSX_CONTENT_TYPE, bytes))
}

/// A file to download as `name`.
pub(crate) fn download(name: &str, content_type: &str, bytes: Vec<u8>) -> axum::response::Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// A workbook of one sheet: `header` in bold, then each row's text cells and numbers.
pub(crate) fn xlsx(
    header: &[String],
    rows: &[(Vec<String>, Vec<f64>)],
) -> Result<Vec<u8>, UiError> {
    workbook(header, rows).map_err(|e| {
        UiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("writing XLSX: {e}"),
        )
    })
}

fn workbook(
    header: &[String],
    rows: &[(Vec<String>, Vec<f64>)],
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let ws = wb.add_worksheet();
    for (c, h) in header.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, neutralise(h), &bold)?;
    }
    ws.set_column_width(1, 36)?;
    for (r, (text, nums)) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, t) in text.iter().enumerate() {
            ws.write_string(r, c as u16, neutralise(t))?;
        }
        for (c, n) in nums.iter().enumerate() {
            ws.write_number(r, (text.len() + c) as u16, *n)?;
        }
    }
    wb.save_to_buffer()
}
