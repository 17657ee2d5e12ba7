//! Data entry at a school's node: file import with row-level errors, and a form to add
//! or edit one student. Both go through [`eduioc_engine::Engine::import`] (the form
//! builds a one-row CSV), so the form is validated by exactly the import rules; each
//! commit is then pushed upstream at once.

use std::collections::BTreeMap;

use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use eduioc_engine::{Error as EngineError, ImportOutcome};
use eduioc_protocol::DocId;
use eduioc_records::{Collection, ImportErrors, Value};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use super::layout::{page, Nav};
use super::records::field_label;
use super::{engine_call, qenc, Ctx, Page, UiError, T};
use crate::AppState;

/// Most row errors listed on the page.
const MAX_SHOWN_ERRORS: usize = 200;

fn only_schools(ctx: &Ctx) -> Option<Page> {
    if ctx.is_school {
        return None;
    }
    let body = html! { h1 { (ctx.t(T::DataTitle)) } p.note { (ctx.t(T::DataOnlySchools)) } };
    Some(Ok(page(ctx, ctx.t(T::DataTitle), Nav::Data, body)))
}

fn import_form(ctx: &Ctx, kind: &str) -> Markup {
    html! {
        section.card {
            h2 { (ctx.t(T::ImportTitle)) }
            p.sub { (ctx.t(T::ImportIntro)) }
            form.stack #import-form method="post" action="/data/import" enctype="multipart/form-data"
                data-json="/ui/data/import" data-max-bytes=(eduioc_records::MAX_IMPORT_BYTES)
                data-busy=(ctx.t(T::Importing))
                data-uploading=(ctx.t(T::Uploading)) data-processing=(ctx.t(T::Processing))
                data-failed=(ctx.t(T::UploadFailed)) data-expired=(ctx.t(T::SessionExpired))
                data-login=(ctx.t(T::Login)) data-toolarge=(ctx.t(T::FileTooLarge)) {
                label { (ctx.t(T::Kind))
                    select #import-kind name="kind" {
                        @for c in Collection::ALL {
                            option value=(c) selected[kind == c.as_str()] { (kind_name(ctx, c)) }
                        }
                    }
                }
                label { (ctx.t(T::File)) " (CSV, XLSX)"
                    input #import-file type="file" name="file" accept=".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" required;
                }
                div #import-progress .progress hidden {
                    progress #import-bar max="100" value="0" {}
                    span #import-status role="status" {}
                }
                button #import-submit type="submit" { (ctx.t(T::Import)) }
            }
            details {
                summary { (ctx.t(T::Columns)) }
                ul.cols {
                    @for c in Collection::ALL {
                        li { strong { (c.as_str()) } ": " code { (c.columns().join(",")) } }
                    }
                }
            }
            h3 { (ctx.lang.pick("Tải tệp mẫu", "Download a template")) }
            ul.templates {
                @for c in Collection::ALL {
                    li {
                        (kind_name(ctx, c)) ": "
                        a href=(format!("/data/template/{c}.xlsx")) { "XLSX" } " · "
                        a href=(format!("/data/template/{c}.csv")) { "CSV" }
                    }
                }
            }
        }
    }
}

/// The name of a kind of data in the page's language.
fn kind_name(ctx: &Ctx, c: Collection) -> &'static str {
    match c {
        Collection::Students => ctx.t(T::KindStudents),
        Collection::Staff => ctx.t(T::KindStaff),
        Collection::Classes => ctx.t(T::KindClasses),
        Collection::Results => ctx.t(T::KindResults),
        Collection::Health => ctx.t(T::KindHealth),
        Collection::Profile => ctx.t(T::KindProfile),
    }
}

/// `GET /data/template/{kind}.csv|.xlsx`: a file to fill, every column under its
/// Vietnamese header, with one example row.
pub(crate) async fn template(Path(file): Path<String>) -> Page {
    let not_found = || {
        UiError(
            StatusCode::NOT_FOUND,
            format!("{file:?}: expected <kind>.csv or <kind>.xlsx"),
        )
    };
    let (kind, ext) = file.rsplit_once('.').ok_or_else(not_found)?;
    let c: Collection = kind.parse().map_err(|_| not_found())?;
    let (headers, row) = eduioc_records::template(c);
    let name = format!("mau-{c}.{ext}");
    match ext {
        "csv" => {
            let line = |cells: &[&str]| {
                let cells: Vec<String> = cells
                    .iter()
                    .map(|v| super::overview::csv_field(v))
                    .collect();
                cells.join(",")
            };
            let body = format!("\u{feff}{}\r\n{}\r\n", line(&headers), line(&row));
            Ok(super::overview::download(
                &name,
                "text/csv; charset=utf-8",
                body.into_bytes(),
            ))
        }
        "xlsx" => {
            let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
            let rows = vec![(row.iter().map(|v| v.to_string()).collect(), Vec::new())];
            let bytes = super::overview::xlsx(&header, &rows)?;
            Ok(super::overview::download(
                &name,
                eduioc_records::XLSX_CONTENT_TYPE,
                bytes,
            ))
        }
        _ => Err(not_found()),
    }
}

fn data_page(ctx: &Ctx, result: Option<Markup>, kind: &str) -> axum::response::Response {
    let body = html! {
        h1 { (ctx.t(T::DataTitle)) }
        div #import-result aria-live="polite" { @if let Some(r) = result { (r) } }
        (import_form(ctx, kind))
        section.card {
            h2 { (ctx.t(T::AddStudent)) }
            p { a.button href="/data/student" { (ctx.t(T::AddStudent)) } }
            p.sub { (ctx.t(T::FindToEdit)) " " a href=(format!("/records?unit={}", qenc(&ctx.unit))) { (ctx.t(T::NavRecords)) } }
        }
    };
    page(ctx, ctx.t(T::DataTitle), Nav::Data, body)
}

/// `GET /data`.
pub(crate) async fn index(Extension(ctx): Extension<Ctx>) -> Page {
    if let Some(p) = only_schools(&ctx) {
        return p;
    }
    Ok(data_page(&ctx, None, "students"))
}

fn errors_table(ctx: &Ctx, errs: &ImportErrors) -> Markup {
    html! {
        div.error {
            p { (ctx.t(T::ImportFailed)) }
            table.list.errors {
                thead { tr { th.num { (ctx.t(T::Row)) } th { (ctx.t(T::Column)) } th { (ctx.t(T::Message)) } } }
                tbody {
                    @for e in errs.errors.iter().take(MAX_SHOWN_ERRORS) {
                        tr { td.num { (e.row) } td { code { (e.column) } } td { (ctx.lang.problem(&e.column, &e.problem)) } }
                    }
                }
            }
            @if errs.errors.len() > MAX_SHOWN_ERRORS {
                p { (errs.errors.len() - MAX_SHOWN_ERRORS) " " (ctx.t(T::MoreErrors)) }
            }
        }
    }
}

/// Runs an import; row errors are a normal outcome, not a failure. The file is parsed on
/// a blocking thread, off the engine's ([`eduioc_engine::EngineHandle::import`]).
/// An applied import is recorded in the audit trail as `action` of `ctx.user` about
/// `what`.
async fn run_import(
    state: &AppState,
    ctx: &Ctx,
    (action, what): (&'static str, String),
    kind: String,
    content_type: &'static str,
    body: Vec<u8>,
) -> Result<Result<ImportOutcome, ImportErrors>, UiError> {
    let lang = ctx.lang;
    let engine = state.engine.clone();
    let k2 = kind.clone();
    let r =
        tokio::task::spawn_blocking(move || engine.import(None, &k2, Some(content_type), &body))
            .await
            .map_err(|e| UiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match r {
        Ok((o, _)) => {
            let detail = format!(
                "{kind}: {what}: {} added, {} changed",
                o.inserted, o.updated
            );
            crate::audit(state, &ctx.user, action, detail).await;
            Ok(Ok(o))
        }
        Err(EngineError::Import(errs)) => Ok(Err(errs)),
        // A storage failure is said in the page's language.
        Err(other) => Err(UiError::in_lang(other, lang)),
    }
}

/// What an import request carried and what became of it.
enum ImportResult {
    /// Applied.
    Done(ImportOutcome),
    /// Refused with row-level errors; nothing applied.
    Invalid(ImportErrors),
    /// No file, or an empty one.
    NoFile,
    /// A `kind` that is not students, staff or classes (only a forged form sends one).
    BadKind,
}

/// Reads the multipart upload (`kind`, `file`) and runs the import. A failed upload is
/// a [`UiError`] with a message in `lang`.
async fn import_upload(
    state: &AppState,
    ctx: &Ctx,
    mut mp: Multipart,
) -> Result<(String, ImportResult), UiError> {
    let lang = ctx.lang;
    let bad = |e: axum::extract::multipart::MultipartError| {
        let status = e.status();
        let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
            lang.t(T::FileTooLarge).to_string()
        } else {
            format!("{}: {}", lang.t(T::UploadUnreadable), e.body_text())
        };
        UiError(status, msg)
    };
    let mut kind = String::from("students");
    let mut file: Option<(bool, Vec<u8>)> = None;
    let mut name = String::new();
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        match field.name() {
            Some("kind") => kind = field.text().await.map_err(bad)?.chars().take(32).collect(),
            Some("file") => {
                name = crate::clip(field.file_name().unwrap_or("?"), 200).to_string();
                let xlsx = field
                    .file_name()
                    .is_some_and(|n| n.to_ascii_lowercase().ends_with(".xlsx"))
                    || field.content_type() == Some(eduioc_records::XLSX_CONTENT_TYPE);
                file = Some((xlsx, field.bytes().await.map_err(bad)?.to_vec()));
            }
            _ => {}
        }
    }
    let importable = kind.parse::<Collection>().is_ok();
    let result = match file {
        _ if !importable => ImportResult::BadKind,
        Some((_, body)) if body.is_empty() => ImportResult::NoFile,
        None => ImportResult::NoFile,
        Some((xlsx, body)) => {
            let ct = if xlsx {
                eduioc_records::XLSX_CONTENT_TYPE
            } else {
                "text/csv"
            };
            let what = format!("{name}, {} bytes", body.len());
            match run_import(state, ctx, ("import", what), kind.clone(), ct, body).await? {
                Ok(o) => ImportResult::Done(o),
                Err(errs) => ImportResult::Invalid(errs),
            }
        }
    };
    Ok((kind, result))
}

/// The result box shown above the import form (same markup with and without script).
fn result_markup(ctx: &Ctx, r: &ImportResult) -> Markup {
    match r {
        ImportResult::NoFile => html! { p.error { (ctx.t(T::NoFile)) } },
        ImportResult::BadKind => html! { p.error { (ctx.t(T::BadKind)) } },
        ImportResult::Done(o) => html! {
            p.ok #import-ok { (ctx.t(T::ImportOk)) ": " (ctx.t(T::Inserted)) " " strong { (o.inserted) } ", " (ctx.t(T::Updated)) " " strong { (o.updated) } "." }
        },
        ImportResult::Invalid(errs) => errors_table(ctx, errs),
    }
}

/// `POST /data/import` (multipart: `kind`, `file`): the page with the result, for
/// browsers without script.
pub(crate) async fn import(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    mp: Multipart,
) -> Page {
    if let Some(p) = only_schools(&ctx) {
        return p;
    }
    let (kind, result) = import_upload(&state, &ctx, mp).await?;
    let mut resp = data_page(&ctx, Some(result_markup(&ctx, &result)), &kind);
    if matches!(result, ImportResult::BadKind) {
        *resp.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(resp)
}

/// `POST /ui/data/import` (multipart: `kind`, `file`), for the page's script: JSON with
/// the outcome and the rendered result box, in the page's language.
///
/// - `200 {"ok":true,"inserted":N,"updated":N,"html":"..."}`;
/// - `422 {"ok":false,"errors":[{"row":N,"column":"...","message":"...","code":"...",
///   "params":{...}}],"html":"..."}` (`errors` exactly as the JSON API's: English
///   `message`s; `html` says them in the page's language);
/// - `4xx/5xx {"ok":false,"error":"...","html":"..."}` otherwise (no file, an unknown
///   kind, not a school, an unreadable upload: `413` when it is too large).
pub(crate) async fn import_json(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    mp: Multipart,
) -> Response {
    let failed = |status: StatusCode, msg: &str| {
        let html = html! { p.error { (msg) } }.into_string();
        (
            status,
            Json(json!({"ok": false, "error": msg, "html": html})),
        )
            .into_response()
    };
    if !ctx.is_school {
        return failed(StatusCode::FORBIDDEN, ctx.t(T::DataOnlySchools));
    }
    let result = match import_upload(&state, &ctx, mp).await {
        Ok((_, r)) => r,
        Err(UiError(status, msg)) => return failed(status, &msg),
    };
    let html = result_markup(&ctx, &result).into_string();
    match result {
        ImportResult::Done(o) => Json(json!({
            "ok": true, "inserted": o.inserted, "updated": o.updated, "html": html,
        }))
        .into_response(),
        ImportResult::Invalid(errs) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"ok": false, "errors": errs.errors, "html": html})),
        )
            .into_response(),
        ImportResult::NoFile => failed(StatusCode::BAD_REQUEST, ctx.t(T::NoFile)),
        ImportResult::BadKind => failed(StatusCode::BAD_REQUEST, ctx.t(T::BadKind)),
    }
}

/// The student form's fields (names as the import columns).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StudentForm {
    #[serde(default)]
    student_id: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    gender: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    grade: String,
    #[serde(default)]
    class_id: String,
    #[serde(default)]
    ethnicity: String,
    #[serde(default)]
    status: String,
    /// Set when editing an existing record.
    #[serde(default)]
    editing: String,
}

impl StudentForm {
    fn get(&self, name: &str) -> &str {
        match name {
            "student_id" => &self.student_id,
            "full_name" => &self.full_name,
            "gender" => &self.gender,
            "birth_date" => &self.birth_date,
            "grade" => &self.grade,
            "class_id" => &self.class_id,
            "ethnicity" => &self.ethnicity,
            "status" => &self.status,
            _ => "",
        }
    }

    fn from_record(id: &str, f: &BTreeMap<String, Value>) -> StudentForm {
        let s = |k: &str| f.get(k).map(Value::to_string).unwrap_or_default();
        StudentForm {
            student_id: id.to_string(),
            full_name: s("full_name"),
            gender: s("gender"),
            birth_date: s("birth_date"),
            grade: s("grade"),
            class_id: s("class_id"),
            ethnicity: s("ethnicity"),
            status: s("status"),
            editing: "1".into(),
        }
    }

    /// The one-row CSV the import validates.
    fn to_csv(&self) -> String {
        let cols = Collection::Students.columns();
        let cell = |v: &str| format!("\"{}\"", v.replace('"', "\"\""));
        let row: Vec<String> = cols.iter().map(|c| cell(self.get(c))).collect();
        format!("{}\n{}\n", cols.join(","), row.join(","))
    }
}

fn student_form(
    ctx: &Ctx,
    f: &StudentForm,
    errors: &BTreeMap<String, Vec<String>>,
    classes: &[String],
) -> Markup {
    let editing = !f.editing.is_empty();
    let err = |name: &str| -> Markup {
        html! { @if let Some(list) = errors.get(name) { @for m in list { span.fielderr { (m) } } } }
    };
    let label = |name: &str| field_label(name).map_or(name.to_string(), |k| ctx.t(k).to_string());
    let select = |name: &str, opts: &[(&str, T)]| -> Markup {
        html! {
            label class=(if errors.contains_key(name) { "bad" } else { "" }) { (label(name))
                select name=(name) {
                    @for (v, t) in opts { option value=(v) selected[f.get(name) == *v] { (ctx.t(*t)) } }
                }
                (err(name))
            }
        }
    };
    let text = |name: &str, kind: &str, extra: Option<&str>| -> Markup {
        html! {
            label class=(if errors.contains_key(name) { "bad" } else { "" }) { (label(name))
                input type=(kind) name=(name) value=(f.get(name)) maxlength="200" list=[extra] readonly[name == "student_id" && editing];
                (err(name))
            }
        }
    };
    html! {
        section.card {
            h1 { (ctx.t(if editing { T::EditStudent } else { T::AddStudent })) }
            @if !errors.is_empty() {
                div.error {
                    p { (ctx.t(T::FormInvalid)) }
                    @for (col, msgs) in errors {
                        @if field_label(col).is_none() { @for m in msgs { p { @if !col.is_empty() { code { (col) } ": " } (m) } } }
                    }
                }
            }
            form.grid method="post" action="/data/student" {
                input type="hidden" name="editing" value=(f.editing);
                (text("student_id", "text", None))
                (text("full_name", "text", None))
                (select("gender", &[("M", T::Male), ("F", T::Female)]))
                (text("birth_date", "date", None))
                label class=(if errors.contains_key("grade") { "bad" } else { "" }) { (label("grade"))
                    select name="grade" {
                        @for g in 1..=12u8 { option value=(g) selected[f.grade == g.to_string()] { (g) } }
                    }
                    (err("grade"))
                }
                (text("class_id", "text", Some("classes")))
                datalist #classes { @for c in classes { option value=(c) {} } }
                (text("ethnicity", "text", None))
                (select("status", &[("enrolled", T::Enrolled), ("dropped_out", T::DroppedOut), ("transferred_out", T::TransferredOut), ("graduated", T::Graduated)]))
                div.full { button type="submit" { (ctx.t(T::Save)) } }
            }
        }
    }
}

/// Query of the student form.
#[derive(Deserialize)]
pub(crate) struct FormQuery {
    id: Option<String>,
}

async fn class_ids(state: &AppState) -> Result<Vec<String>, UiError> {
    engine_call(state, |e| {
        let doc = DocId {
            unit: e.unit().to_string(),
            collection: "classes".into(),
            year: e.school_year(),
        };
        let ids = e.with_doc(&doc, |d| {
            d.records()
                .into_iter()
                .map(|(id, _)| id)
                .take(500)
                .collect::<Vec<_>>()
        })?;
        Ok(ids.unwrap_or_default())
    })
    .await
}

/// `GET /data/student?id=`: the form, empty or filled with an existing student.
pub(crate) async fn student_form_handler(state: &AppState, ctx: &Ctx, id: Option<String>) -> Page {
    if let Some(p) = only_schools(ctx) {
        return p;
    }
    let form = match id {
        Some(id) => {
            let id2 = id.clone();
            let rec = engine_call(state, move |e| {
                let doc = DocId {
                    unit: e.unit().to_string(),
                    collection: "students".into(),
                    year: e.school_year(),
                };
                Ok(e.with_doc(&doc, |d| d.get(&id2))?.flatten())
            })
            .await?;
            match rec {
                Some(f) => StudentForm::from_record(&id, &f),
                None => {
                    return Err(UiError(
                        StatusCode::NOT_FOUND,
                        format!("{} ({id})", ctx.t(T::NoSuchStudent)),
                    ))
                }
            }
        }
        None => StudentForm {
            gender: "M".into(),
            grade: "1".into(),
            ethnicity: "Kinh".into(),
            status: "enrolled".into(),
            ..Default::default()
        },
    };
    let classes = class_ids(state).await?;
    Ok(page(
        ctx,
        ctx.t(T::AddStudent),
        Nav::Data,
        student_form(ctx, &form, &BTreeMap::new(), &classes),
    ))
}

/// `GET /data/student`.
pub(crate) async fn student_form_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<FormQuery>,
) -> Page {
    student_form_handler(&state, &ctx, q.id).await
}

/// `POST /data/student`: validates with the import rules, saves, pushes upstream.
pub(crate) async fn student_save(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<StudentForm>,
) -> Page {
    if let Some(p) = only_schools(&ctx) {
        return p;
    }
    let what = format!("student {} (form)", f.student_id.trim());
    match run_import(
        &state,
        &ctx,
        ("edit", what),
        "students".into(),
        "text/csv",
        f.to_csv().into_bytes(),
    )
    .await?
    {
        Ok(_) => {
            let to = format!(
                "/records/students/{}/{}?saved=1",
                qenc(&ctx.unit),
                qenc(f.student_id.trim())
            );
            Ok(Redirect::to(&to).into_response())
        }
        Err(errs) => {
            let mut by_col: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for e in errs.errors {
                let message = ctx.lang.problem(&e.column, &e.problem);
                by_col.entry(e.column).or_default().push(message);
            }
            let classes = class_ids(&state).await?;
            let mut resp = page(
                &ctx,
                ctx.t(T::AddStudent),
                Nav::Data,
                student_form(&ctx, &f, &by_col, &classes),
            );
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
    }
}
