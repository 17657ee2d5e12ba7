//! Records: accent-insensitive look-up of students or staff across the subtree, and the
//! record pages with the document's provenance.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Extension;
use eduioc_engine::Error as EngineError;
use eduioc_protocol::DocId;
use eduioc_records::Value;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{page, Nav};
use super::overview::local_rfc3339;
use super::{engine_call, figures_call, qenc, Ctx, Lang, Page, UiError, T};
use crate::AppState;

/// Most hits shown.
const MAX_HITS: usize = 200;
/// Longest query accepted, in characters.
const MAX_QUERY: usize = 100;

/// Query of `/records`.
#[derive(Deserialize)]
pub(crate) struct SearchQuery {
    q: Option<String>,
    /// `students` (default) or `staff`.
    kind: Option<String>,
    unit: Option<String>,
}

/// The translated text of a student status code.
pub(crate) fn status_name(lang: Lang, s: &str) -> String {
    let key = match s {
        "enrolled" => T::Enrolled,
        "dropped_out" => T::DroppedOut,
        "transferred_out" => T::TransferredOut,
        "graduated" => T::Graduated,
        "active" => T::StaffActive,
        "left" => T::StaffLeft,
        other => return other.to_string(),
    };
    lang.t(key).to_string()
}

/// The translated text of a staff role code.
pub(crate) fn role_name(lang: Lang, s: &str) -> String {
    let key = match s {
        "teacher" => T::RoleTeacher,
        "manager" => T::RoleManager,
        "support" => T::RoleSupport,
        other => return other.to_string(),
    };
    lang.t(key).to_string()
}

/// The translated text of a staff qualification code.
pub(crate) fn qualification_name(lang: Lang, s: &str) -> String {
    let key = match s {
        "below_standard" => T::QualBelowStandard,
        "college" => T::QualCollege,
        "bachelor" => T::QualBachelor,
        "master" => T::QualMaster,
        "doctor" => T::QualDoctor,
        other => return other.to_string(),
    };
    lang.t(key).to_string()
}

/// The translated text of a gender code.
pub(crate) fn gender_name(lang: Lang, g: &str) -> String {
    match g {
        "M" => lang.t(T::Male).to_string(),
        "F" => lang.t(T::Female).to_string(),
        other => other.to_string(),
    }
}

/// Label of a student or staff field.
pub(crate) fn field_label(name: &str) -> Option<T> {
    Some(match name {
        "student_id" => T::StudentId,
        "staff_id" => T::StaffId,
        "role" => T::Role,
        "qualification" => T::Qualification,
        "full_name" => T::FullName,
        "gender" => T::Gender,
        "birth_date" => T::BirthDate,
        "grade" => T::Grade,
        "class_id" => T::ClassId,
        "ethnicity" => T::Ethnicity,
        "status" => T::Status,
        _ => return None,
    })
}

fn student_href(unit: &str, id: &str) -> String {
    format!("/records/students/{}/{}", qenc(unit), qenc(id))
}

fn staff_href(unit: &str, id: &str) -> String {
    format!("/records/staff/{}/{}", qenc(unit), qenc(id))
}

/// Which records a search looks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Students,
    Staff,
}

impl Kind {
    fn parse(s: Option<&str>) -> Kind {
        match s {
            Some("staff") => Kind::Staff,
            _ => Kind::Students,
        }
    }
}

/// Results of one search.
enum Hits {
    Students(Vec<eduioc_engine::StudentHit>),
    Staff(Vec<eduioc_engine::StaffHit>),
}

impl Hits {
    fn len(&self) -> usize {
        match self {
            Hits::Students(h) => h.len(),
            Hits::Staff(h) => h.len(),
        }
    }
}

fn students_table(ctx: &Ctx, hits: &[eduioc_engine::StudentHit]) -> Markup {
    let l = ctx.lang;
    html! {
        table.list #student-results {
            thead { tr {
                th { (ctx.t(T::StudentId)) } th { (ctx.t(T::FullName)) } th.num { (ctx.t(T::Grade)) }
                th { (ctx.t(T::ClassId)) } th { (ctx.t(T::Status)) } th { (ctx.t(T::School)) }
            } }
            tbody {
                @for h in hits {
                    tr {
                        td { a href=(student_href(&h.unit, &h.student_id)) { (h.student_id) } }
                        td { a href=(student_href(&h.unit, &h.student_id)) { (h.full_name) } }
                        td.num { (h.grade) }
                        td { (h.class_id) }
                        td { (status_name(l, &h.status)) }
                        td { a href=(format!("/unit/{}", h.unit)) { (h.school) } }
                    }
                }
            }
        }
    }
}

fn staff_table(ctx: &Ctx, hits: &[eduioc_engine::StaffHit]) -> Markup {
    let l = ctx.lang;
    html! {
        table.list #staff-results {
            thead { tr {
                th { (ctx.t(T::StaffId)) } th { (ctx.t(T::FullName)) } th { (ctx.t(T::Role)) }
                th { (ctx.t(T::Qualification)) } th { (ctx.t(T::Status)) } th { (ctx.t(T::School)) }
            } }
            tbody {
                @for h in hits {
                    tr {
                        td { a href=(staff_href(&h.unit, &h.staff_id)) { (h.staff_id) } }
                        td { a href=(staff_href(&h.unit, &h.staff_id)) { (h.full_name) } }
                        td { (role_name(l, &h.role)) }
                        td { (qualification_name(l, &h.qualification)) }
                        td { (status_name(l, &h.status)) }
                        td { a href=(format!("/unit/{}", h.unit)) { (h.school) } }
                    }
                }
            }
        }
    }
}

/// `GET /records?q=&kind=students|staff&unit=`.
pub(crate) async fn search(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Query(sq): Query<SearchQuery>,
) -> Page {
    let q: String = sq.q.unwrap_or_default().chars().take(MAX_QUERY).collect();
    let kind = Kind::parse(sq.kind.as_deref());
    let unit = sq.unit.filter(|u| !u.is_empty());
    let results = if q.trim().is_empty() {
        None
    } else {
        let (q2, u2) = (q.clone(), unit.clone());
        Some(
            crate::look_up(&state, move |l| match kind {
                Kind::Students => l
                    .search_students(&q2, u2.as_deref(), MAX_HITS)
                    .map(Hits::Students),
                Kind::Staff => l
                    .search_staff(&q2, u2.as_deref(), MAX_HITS)
                    .map(Hits::Staff),
            })
            .await
            .map_err(|e| UiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map_err(UiError::from)?,
        )
    };
    let unit_name = match &unit {
        Some(u) => {
            let u = u.clone();
            Some(figures_call(&state, move |f| {
                Ok(f.directory().name(&u).unwrap_or(&u).to_string())
            })?)
        }
        None => None,
    };
    let kept_below = state
        .views
        .figures()
        .records_kept_below()
        .map(str::to_string);
    let body = html! {
        h1 { (ctx.t(T::RecordsTitle)) }
        @if let Some(level) = &kept_below {
            p.note #records-kept-below { (ctx.lang.pick(
                "Hồ sơ học sinh và cán bộ được lưu đến cấp ",
                "Student and staff records are kept up to the level ",
            )) strong { (level) } (ctx.lang.pick(
                " (records_up_to): nút này chỉ nhận số liệu tổng hợp có chữ ký của cấp đó. Hãy tra cứu hồ sơ tại nút cấp đó.",
                " (records_up_to): this node receives only the figures offices of that level sign. Look records up at a node of that level.",
            )) }
        }
        form.search #records-search method="get" action="/records" {
            fieldset.kinds {
                legend.visually-hidden { (ctx.t(T::SearchIn)) }
                label.kind { input #kind-students type="radio" name="kind" value="students" checked[kind == Kind::Students]; (ctx.t(T::KindStudents)) }
                label.kind { input #kind-staff type="radio" name="kind" value="staff" checked[kind == Kind::Staff]; (ctx.t(T::KindStaff)) }
            }
            input #records-q type="search" name="q" value=(q) placeholder=(ctx.t(T::SearchHint)) aria-label=(ctx.t(T::SearchHint)) maxlength="100" autofocus;
            @if let Some(u) = &unit { input type="hidden" name="unit" value=(u); }
            button type="submit" { (ctx.t(T::Search)) }
        }
        @if let Some(n) = &unit_name { p.sub { (ctx.t(T::InUnit)) ": " strong { (n) } } }
        @if let Some(hits) = &results {
            section.card #records-results data-kind=(match kind { Kind::Students => "students", Kind::Staff => "staff" }) {
                h2 { (ctx.t(T::Results)) " · " (ctx.t(match kind { Kind::Students => T::KindStudents, Kind::Staff => T::KindStaff })) " (" (hits.len()) ")" }
                @if hits.len() == 0 {
                    p.note { (ctx.t(match kind { Kind::Students => T::NoResults, Kind::Staff => T::NoStaffResults })) }
                } @else {
                    @match hits {
                        Hits::Students(h) => (students_table(&ctx, h)),
                        Hits::Staff(h) => (staff_table(&ctx, h)),
                    }
                    @if hits.len() >= MAX_HITS { p.note { (ctx.t(T::ResultsCapped)) } }
                }
            }
        }
    };
    Ok(page(&ctx, ctx.t(T::RecordsTitle), Nav::Records, body))
}

/// Query of the record page.
#[derive(Deserialize)]
pub(crate) struct RecordQuery {
    saved: Option<String>,
}

fn value_text(lang: Lang, name: &str, v: &Value) -> String {
    match (name, v) {
        ("status", Value::Str(s)) => status_name(lang, s),
        ("role", Value::Str(s)) => role_name(lang, s),
        ("qualification", Value::Str(s)) => qualification_name(lang, s),
        ("gender", Value::Str(s)) => gender_name(lang, s),
        ("birth_date", Value::Str(s)) => match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) if lang == Lang::Vi => d.format("%d/%m/%Y").to_string(),
            _ => s.clone(),
        },
        _ => v.to_string(),
    }
}

fn provenance_box(ctx: &Ctx, p: &eduioc_engine::Provenance) -> Markup {
    html! {
        section.card.provenance #provenance {
            h2 { (ctx.t(T::Provenance)) }
            p.sub { (ctx.t(T::ProvenanceIntro)) }
            dl {
                dt { (ctx.t(T::Document)) } dd { code { (p.doc) } }
                dt { (ctx.t(T::SignedBy)) } dd { (p.unit_name) " (" code { (p.unit) } ")" }
                dt { (ctx.t(T::SignerKey)) } dd { code.key { (p.signer) } }
                dt { (ctx.t(T::CertVersion)) } dd { (p.cert_version) }
                @if let Some(seq) = p.latest_seq { dt { (ctx.t(T::Version)) } dd { (seq) " / " (p.log_height) } }
                @if let Some(t) = &p.latest_at { dt { (ctx.t(T::ChangedAt)) } dd { (local_rfc3339(t)) } }
                @if let Some(h) = &p.latest_hash { dt { (ctx.t(T::EntryHash)) } dd { code.key { (h) } } }
                dt { (ctx.t(T::ChangeEntries)) } dd { (p.change_entries) }
            }
        }
    }
}

/// `GET /records/students/{unit}/{id}`: one student and where the record comes from.
pub(crate) async fn student(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path((unit, id)): Path<(String, String)>,
    Query(rq): Query<RecordQuery>,
) -> Page {
    let (u2, id2) = (unit.clone(), id.clone());
    let (fields, prov, school) = engine_call(&state, move |e| {
        let doc = DocId {
            unit: u2.clone(),
            collection: "students".into(),
            year: e.school_year(),
        };
        if !e.directory().is_ancestor_or_self(e.unit(), &u2) {
            return Err(EngineError::UnknownUnit(u2));
        }
        let fields = e.with_doc(&doc, |d| d.get(&id2))?.flatten();
        let prov = e.provenance(&doc)?;
        let school = e.directory().name(&u2).unwrap_or(&u2).to_string();
        Ok((fields, prov, school))
    })
    .await?;
    let l = ctx.lang;
    let editable = ctx.is_school && unit == ctx.unit;
    let title = fields
        .as_ref()
        .and_then(|f| f.get("full_name").map(Value::to_string))
        .unwrap_or_else(|| id.clone());
    let body = html! {
        nav.crumbs { a href="/records" { (ctx.t(T::NavRecords)) } span.sep { "›" } a href=(format!("/unit/{unit}")) { (school) } span.sep { "›" } span { (id) } }
        div.titlebar {
            div { h1 { (title) } p.sub { (ctx.t(T::StudentRecord)) " · " (school) } }
            @if editable && fields.is_some() {
                div.actions.noprint { a.button href=(format!("/data/student?id={}", qenc(&id))) { (ctx.t(T::Edit)) } }
            }
        }
        @if rq.saved.is_some() { p.ok { (ctx.t(T::Saved)) } }
        @match &fields {
            None => p.error { (ctx.t(T::NoSuchStudent)) },
            Some(f) => section.card {
                dl.fields {
                    dt { (ctx.t(T::StudentId)) } dd { (id) }
                    @for name in eduioc_records::Collection::Students.columns().iter().skip(1) {
                        @if let Some(v) = f.get(*name) {
                            dt { (field_label(name).map_or(*name, |k| ctx.t(k))) } dd { (value_text(l, name, v)) }
                        }
                    }
                }
            },
        }
        (provenance_box(&ctx, &prov))
    };
    Ok(page(&ctx, &title, Nav::Records, body))
}

/// `GET /records/staff/{unit}/{id}`: one staff member and where the record comes from.
pub(crate) async fn staff(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path((unit, id)): Path<(String, String)>,
) -> Page {
    let (u2, id2) = (unit.clone(), id.clone());
    let (fields, prov, school) = engine_call(&state, move |e| {
        let doc = DocId {
            unit: u2.clone(),
            collection: "staff".into(),
            year: e.school_year(),
        };
        if !e.directory().is_ancestor_or_self(e.unit(), &u2) {
            return Err(EngineError::UnknownUnit(u2));
        }
        let fields = e.with_doc(&doc, |d| d.get(&id2))?.flatten();
        let prov = e.provenance(&doc)?;
        let school = e.directory().name(&u2).unwrap_or(&u2).to_string();
        Ok((fields, prov, school))
    })
    .await?;
    let l = ctx.lang;
    let title = fields
        .as_ref()
        .and_then(|f| f.get("full_name").map(Value::to_string))
        .unwrap_or_else(|| id.clone());
    let back = format!("/records?kind=staff&q={}", qenc(&id));
    let body = html! {
        nav.crumbs { a href=(back) { (ctx.t(T::NavRecords)) } span.sep { "›" } a href=(format!("/unit/{unit}")) { (school) } span.sep { "›" } span { (id) } }
        div.titlebar {
            div { h1 { (title) } p.sub { (ctx.t(T::StaffRecord)) " · " (school) } }
        }
        @match &fields {
            None => p.error #no-such-record { (ctx.t(T::NoSuchStaff)) },
            Some(f) => section.card #staff-record {
                dl.fields {
                    dt { (ctx.t(T::StaffId)) } dd { (id) }
                    @for name in eduioc_records::Collection::Staff.columns().iter().skip(1) {
                        @if let Some(v) = f.get(*name) {
                            dt { (field_label(name).map_or(*name, |k| ctx.t(k))) } dd { (value_text(l, name, v)) }
                        }
                    }
                }
            },
        }
        (provenance_box(&ctx, &prov))
    };
    let mut resp = page(&ctx, &title, Nav::Records, body);
    if fields.is_none() {
        *resp.status_mut() = axum::http::StatusCode::NOT_FOUND;
    }
    Ok(resp)
}
