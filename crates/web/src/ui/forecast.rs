//! The forecast of a unit (`/forecast/{unit}`, `.xlsx`): enrolment by grade projected
//! with the grade-ratio method, beside the years held, with the classes and teachers the
//! projection needs set against today's and against the unit's targets (the 5-year plan);
//! and the map of its schools (`/map/{unit}`), coloured by an indicator, drawn as SVG from
//! their coordinates (no tiles: it works offline).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Extension;
use eduioc_engine::{higher_is_better, Forecast, TargetStatus, CATALOGUE, MAX_FORECAST_YEARS};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{page, Nav};
use super::ops::{indicator_name, shown};
use super::overview::{download, xlsx};
use super::{charts, figures_call, Ctx, Lang, Page, UiError};
use crate::AppState;

/// Query of the forecast page.
#[derive(Deserialize, Default)]
pub(crate) struct ForecastQuery {
    years: Option<u32>,
}

/// What the forecast page shows.
struct View {
    unit: String,
    name: String,
    /// (year, enrolled) of every year held.
    history: Vec<(String, u64)>,
    forecast: Result<Forecast, String>,
    /// Classes and teachers today.
    now: (u64, u64),
    targets: Vec<TargetStatus>,
}

fn view(state: &AppState, unit: &str, years: u32) -> Result<View, UiError> {
    figures_call(state, |f| {
        let history = f
            .school_years()
            .into_iter()
            .filter_map(|y| {
                let s = f.stats_in(Some(unit), &y).ok()?;
                (s.students.enrolled > 0).then_some((y, s.students.enrolled))
            })
            .collect();
        let forecast = match f.forecast(Some(unit), years) {
            Ok(fc) => Ok(fc),
            Err(eduioc_engine::Error::Unprocessable(why)) => Err(why),
            Err(e) => return Err(e),
        };
        let s = f.stats(Some(unit))?;
        let targets = f.targets(Some(unit), None)?;
        Ok(View {
            unit: unit.to_string(),
            name: f.directory().name(unit).unwrap_or(unit).to_string(),
            history,
            forecast,
            now: (s.classes, s.staff.teachers),
            targets: targets.into_iter().filter(|t| t.unit == unit).collect(),
        })
    })
}

/// Grade codes present in any projected year, in chain order.
fn grades(fc: &Forecast) -> Vec<String> {
    let mut g: Vec<String> = fc
        .years
        .iter()
        .flat_map(|y| y.by_grade.keys().cloned())
        .collect();
    g.sort_by_key(|c| eduioc_records::grade_rank(c));
    g.dedup();
    g
}

fn plan(ctx: &Ctx, v: &View, fc: &Forecast) -> Markup {
    let l = ctx.lang;
    let target = |code: &str| v.targets.iter().find(|t| t.indicator == code);
    let per_class = target("students_per_class");
    let per_teacher = target("students_per_teacher");
    html! {
        section.card #plan {
            h2 { (l.pick("Kế hoạch 5 năm: nhu cầu lớp học và giáo viên", "5-year plan: classes and teachers needed")) }
            table.figures {
                thead { tr {
                    th { (l.pick("Năm học", "School year")) }
                    th.num { (l.pick("Học sinh", "Students")) }
                    th.num { (l.pick("Lớp cần có", "Classes needed")) }
                    th.num { (l.pick("So với hiện nay", "Against today")) }
                    th.num { (l.pick("Giáo viên cần có (định mức)", "Teachers needed (norms)")) }
                    th.num { (l.pick("So với hiện nay", "Against today")) }
                    @if let Some(t) = per_class { th.num { (l.pick("Lớp để đạt chỉ tiêu ", "Classes for the target ")) (super::ops::op_sign(&t.op)) " " (l.dec1(t.value)) } }
                    @if let Some(t) = per_teacher { th.num { (l.pick("Giáo viên để đạt chỉ tiêu ", "Teachers for the target ")) (super::ops::op_sign(&t.op)) " " (l.dec1(t.value)) } }
                } }
                tbody {
                    @for y in &fc.years {
                        tr {
                            td { (y.year) }
                            td.num { (l.int(y.total)) }
                            td.num { (l.int(y.classes_needed)) }
                            td.num { (signed(l, y.classes_needed as f64 - v.now.0 as f64)) }
                            td.num { (l.dec1(y.teachers_needed)) }
                            td.num { (signed(l, y.teachers_needed - v.now.1 as f64)) }
                            @if let Some(t) = per_class { td.num { (l.int((y.total as f64 / t.value.max(1.0)).ceil() as u64)) } }
                            @if let Some(t) = per_teacher { td.num { (l.int((y.total as f64 / t.value.max(1.0)).ceil() as u64)) } }
                        }
                    }
                }
            }
            p.sub {
                (l.pick("Định mức giáo viên/lớp: mầm non 2,2 (TTLT 06/2015/TTLT-BGDĐT-BNV), tiểu học 1,5, THCS 1,9, THPT 2,25 (TT 16/2017/TT-BGDĐT). Hiện nay: ",
                        "Teachers per class: preschool 2.2 (joint circular 06/2015), primary 1.5, lower secondary 1.9, upper secondary 2.25 (circular 16/2017). Today: "))
                (l.int(v.now.0)) (l.pick(" lớp, ", " classes, ")) (l.int(v.now.1)) (l.pick(" giáo viên.", " teachers."))
            }
        }
    }
}

fn signed(l: Lang, x: f64) -> String {
    if x > 0.0 {
        format!("+{}", l.dec1(x))
    } else {
        l.dec1(x)
    }
}

fn body(ctx: &Ctx, v: &View, years: u32) -> Markup {
    let l = ctx.lang;
    let int = |n: u64| l.int(n);
    html! {
        div.titlebar {
            div {
                h1 { (l.pick("Dự báo quy mô học sinh: ", "Enrolment forecast: ")) (v.name) }
                p.sub { (l.pick("Phương pháp tỉ lệ chuyển lớp (grade ratio)", "Grade-ratio method")) }
            }
            div.actions.noprint {
                @if v.forecast.is_ok() { a.button href=(format!("/forecast/{}.xlsx?years={years}", v.unit)) { (l.pick("Tải XLSX", "Download XLSX")) } }
                a.button href=(format!("/ops/{}", v.unit)) { (l.pick("Điều hành", "Operations")) }
            }
        }
        form.filters.noprint method="get" action=(format!("/forecast/{}", v.unit)) {
            label { (l.pick("Số năm dự báo", "Years ahead")) " "
                select name="years" { @for n in 1..=MAX_FORECAST_YEARS { option value=(n) selected[n == years] { (n) } } }
            }
            " " button type="submit" { (l.pick("Xem", "Show")) }
        }
        @match &v.forecast {
            Err(why) => { p.note { (l.pick("Chưa dự báo được: cần số học sinh của hai năm học liên tiếp. ", "No forecast yet: it needs the students of two consecutive school years. ")) span.sub { (why) } } }
            Ok(fc) => {
                @let series: Vec<(String, u64, bool)> = v.history.iter().map(|(y, n)| (y.clone(), *n, false))
                    .chain(fc.years.iter().map(|y| (y.year.clone(), y.total, true))).collect();
                figure.card.wide {
                    figcaption { (l.pick("Học sinh theo năm học (cột gạch: dự báo)", "Students per school year (hatched: projected)")) }
                    (charts::columns_marked(l.pick("Học sinh theo năm học", "Students per school year"), &series, &int))
                }
                section.card {
                    h2 { (l.pick("Theo khối lớp", "By grade")) }
                    table.figures #forecast-grades {
                        thead { tr { th { (l.pick("Khối", "Grade")) } @for y in &fc.years { th.num { (y.year) } } } }
                        tbody {
                            @for g in grades(fc) {
                                tr { td { (g) } @for y in &fc.years { td.num { (l.int(y.by_grade.get(&g).copied().unwrap_or(0))) } } }
                            }
                            tr.total { td { (l.pick("Tổng", "Total")) } @for y in &fc.years { td.num { (l.int(y.total)) } } }
                        }
                    }
                    @if let Some(b) = &fc.backtest {
                        p.sub {
                            (l.pick("Kiểm định: dự báo năm ", "Backtest: ")) (b.year)
                            (l.pick(" từ hai năm trước đó lệch trung bình ", " projected from the two years before it is off by "))
                            (b.mape.map_or_else(|| "—".to_string(), |m| format!("{}%", l.dec1(m))))
                            (l.pick(" mỗi khối (MAPE).", " per grade on average (MAPE)."))
                        }
                    }
                }
                (plan(ctx, v, fc))
            }
        }
    }
}

/// `GET /forecast/{unit}` (the page) and `/forecast/{unit}.xlsx` (its table).
pub(crate) async fn page_or_export(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(file): Path<String>,
    Query(q): Query<ForecastQuery>,
) -> Page {
    let years = q.years.unwrap_or(5).clamp(1, MAX_FORECAST_YEARS);
    let (unit, xlsx_wanted) = match file.strip_suffix(".xlsx") {
        Some(u) => (u.to_string(), true),
        None => (file, false),
    };
    let v = view(&state, &unit, years)?;
    if !xlsx_wanted {
        let title = ctx.lang.pick("Dự báo", "Forecast");
        return Ok(page(&ctx, title, Nav::Ops, body(&ctx, &v, years)));
    }
    let fc = v
        .forecast
        .map_err(|why| UiError(StatusCode::UNPROCESSABLE_ENTITY, why))?;
    let l = ctx.lang;
    let mut header = vec![l.pick("Khối", "Grade").to_string()];
    header.extend(fc.years.iter().map(|y| y.year.clone()));
    let mut rows: Vec<(Vec<String>, Vec<f64>)> = grades(&fc)
        .into_iter()
        .map(|g| {
            let n = fc
                .years
                .iter()
                .map(|y| y.by_grade.get(&g).copied().unwrap_or(0) as f64)
                .collect();
            (vec![g], n)
        })
        .collect();
    let line = |label: &str, f: &dyn Fn(&eduioc_engine::ForecastYear) -> f64| {
        (vec![label.to_string()], fc.years.iter().map(f).collect())
    };
    rows.push(line(l.pick("Tổng", "Total"), &|y| y.total as f64));
    rows.push(line(l.pick("Lớp cần có", "Classes needed"), &|y| {
        y.classes_needed as f64
    }));
    rows.push(line(
        l.pick("Giáo viên cần có", "Teachers needed"),
        &|y| y.teachers_needed,
    ));
    let bytes = xlsx(&header, &rows)?;
    let name = format!("eduioc-du-bao-{}-{}.xlsx", fc.unit, fc.base_year);
    Ok(download(&name, eduioc_records::XLSX_CONTENT_TYPE, bytes))
}

/// Query of the map.
#[derive(Deserialize, Default)]
pub(crate) struct MapQuery {
    indicator: Option<String>,
}

/// One school on the map: (id, name, latitude, longitude, value, the unit above it).
type Dot = (String, String, f64, f64, Option<f64>, String);

/// The colour class of a value among all values (thirds, best third green).
fn tone(value: Option<f64>, sorted: &[f64], high_good: bool) -> &'static str {
    let Some(v) = value else { return "dot none" };
    if sorted.is_empty() {
        return "dot none";
    }
    let rank = sorted.partition_point(|x| *x < v) as f64 / sorted.len() as f64;
    let rank = if high_good { rank } else { 1.0 - rank };
    if rank >= 2.0 / 3.0 {
        "dot good"
    } else if rank >= 1.0 / 3.0 {
        "dot mid"
    } else {
        "dot bad"
    }
}

fn map_svg(ctx: &Ctx, code: &str, dots: &[Dot]) -> Markup {
    const W: f64 = 900.0;
    const H: f64 = 640.0;
    const PAD: f64 = 30.0;
    let l = ctx.lang;
    let (mut la0, mut la1, mut lo0, mut lo1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (_, _, la, lo, ..) in dots {
        la0 = la0.min(*la);
        la1 = la1.max(*la);
        lo0 = lo0.min(*lo);
        lo1 = lo1.max(*lo);
    }
    // Equirectangular at this latitude: a degree of longitude is cos(lat) of one of latitude.
    let k = ((la0 + la1) / 2.0).to_radians().cos();
    let (dx, dy) = (((lo1 - lo0) * k).max(0.01), (la1 - la0).max(0.01));
    let scale = ((W - 2.0 * PAD) / dx).min((H - 2.0 * PAD) / dy);
    // As tall as the schools' spread needs.
    let h = (dy * scale + 2.0 * PAD).min(H);
    let x = |lo: f64| PAD + (lo - lo0) * k * scale;
    let y = |la: f64| h - PAD - (la - la0) * scale;
    // Each unit above the schools named at the middle of its schools.
    let mut regions: std::collections::BTreeMap<&str, (f64, f64, f64)> = Default::default();
    for (_, _, la, lo, _, region) in dots {
        let r = regions.entry(region.as_str()).or_default();
        *r = (r.0 + la, r.1 + lo, r.2 + 1.0);
    }
    let mut sorted: Vec<f64> = dots.iter().filter_map(|d| d.4).collect();
    sorted.sort_by(f64::total_cmp);
    let high = higher_is_better(code);
    html! {
        svg.chart.map viewBox=(format!("0 0 {W} {h:.0}")) role="img" aria-label=(indicator_name(l, code)) {
            title { (indicator_name(l, code)) }
            rect.mapbg x="0" y="0" width=(W) height=(format!("{h:.0}")) {}
            @for (region, (la, lo, n)) in regions.iter().filter(|r| !r.0.is_empty()) {
                text.region x=(format!("{:.1}", x(lo / n))) y=(format!("{:.1}", y(la / n) - 12.0)) text-anchor="middle" { (region) }
            }
            @for (id, name, la, lo, v, _) in dots {
                a href=(format!("/ops/{id}")) {
                    circle class=(tone(*v, &sorted, high)) cx=(format!("{:.1}", x(*lo))) cy=(format!("{:.1}", y(*la))) r="7" {
                        title { (name) ": " (shown(l, code, *v)) }
                    }
                }
            }
        }
        ul.legend {
            li { span class="sw dot good" {} (l.pick("Nhóm tốt nhất", "Best third")) }
            li { span class="sw dot mid" {} (l.pick("Nhóm giữa", "Middle third")) }
            li { span class="sw dot bad" {} (l.pick("Nhóm kém nhất", "Worst third")) }
            li { span class="sw dot none" {} (l.pick("Chưa có số liệu", "No data")) }
        }
    }
}

/// `GET /map/{unit}?indicator=`: the schools of the subtree where their profiles place
/// them, coloured by the indicator.
pub(crate) async fn map(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(unit): Path<String>,
    Query(q): Query<MapQuery>,
) -> Page {
    let l = ctx.lang;
    let code = q
        .indicator
        .filter(|c| eduioc_engine::is_indicator(c))
        .unwrap_or_else(|| "academic_good_rate".into());
    let (dots, unplaced, name) = figures_call(&state, |f| {
        let year = f.school_year();
        let dir = f.directory();
        if !dir.is_ancestor_or_self(f.unit(), &unit) {
            return Err(eduioc_engine::Error::UnknownUnit(unit.clone()));
        }
        let mut dots = Vec::new();
        let mut unplaced = 0;
        for s in dir.subtree(&unit) {
            if dir.level(&s) != Some("school") {
                continue;
            }
            let Some((la, lo)) = f.place_of(&s, &year) else {
                unplaced += 1;
                continue;
            };
            let v = f
                .indicators(Some(&s), Some(&year), None)
                .ok()
                .and_then(|i| i.get(&code).and_then(|x| x.value));
            let region = dir
                .parent(&s)
                .filter(|p| *p != unit)
                .map(|p| dir.name(p).unwrap_or(p).to_string())
                .unwrap_or_default();
            dots.push((
                s.clone(),
                dir.name(&s).unwrap_or(&s).to_string(),
                la,
                lo,
                v,
                region,
            ));
        }
        Ok((dots, unplaced, dir.name(&unit).unwrap_or(&unit).to_string()))
    })?;
    let body = html! {
        h1 { (l.pick("Bản đồ trường học: ", "Map of schools: ")) (name) }
        form.filters.noprint method="get" action=(format!("/map/{unit}")) {
            label { (l.pick("Tô màu theo", "Colour by")) " "
                select name="indicator" { @for (c, _) in CATALOGUE { option value=(c) selected[c == code] { (indicator_name(l, c)) } } }
            }
            " " button type="submit" { (l.pick("Xem", "Show")) }
        }
        @if dots.is_empty() { p.note { (l.pick("Chưa trường nào gửi toạ độ trong hồ sơ trường.", "No school has sent coordinates in its profile yet.")) } }
        @else { figure.card.wide { (map_svg(&ctx, &code, &dots)) } }
        @if unplaced > 0 { p.sub { (unplaced) (l.pick(" trường chưa có toạ độ.", " schools without coordinates.")) } }
    };
    Ok(page(&ctx, l.pick("Bản đồ", "Map"), Nav::Ops, body))
}
