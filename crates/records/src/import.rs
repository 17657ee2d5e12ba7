//! Parsing and validation of imported CSV and XLSX files.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Cursor;

use calamine::{DataRef, Reader, Xlsx};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::fields::{column_of, spec, validate, Key, Kind, Spec, MAX_TITLE_ROWS};
use crate::problem::{shown, Problem};
use crate::Collection;

/// The content type of XLSX files.
pub const XLSX_CONTENT_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// The largest file [`parse_import`] accepts, in bytes (50 MiB).
pub const MAX_IMPORT_BYTES: usize = 50 * 1024 * 1024;
/// The most data rows [`parse_import`] accepts in one file.
pub const MAX_IMPORT_ROWS: usize = 200_000;
/// At most this many errors are reported for one file.
pub const MAX_IMPORT_ERRORS: usize = 1000;
/// The most cells (blank ones included) [`parse_import`] reads from one file: twenty
/// per data row at the row limit.
pub const MAX_IMPORT_CELLS: usize = 4_000_000;
/// The most bytes one part (a file inside the zip) of an XLSX workbook may inflate to,
/// checked by reading it before the workbook is parsed (128 MiB: a worksheet of
/// 200,000 rows with long names is about 100 MiB).
pub const MAX_XLSX_PART_BYTES: u64 = 128 * 1024 * 1024;
/// The most bytes the shared strings of an XLSX workbook may inflate to (64 MiB): the
/// spreadsheet reader holds them all in memory, at up to about five times their size.
pub const MAX_XLSX_SHARED_STRINGS_BYTES: u64 = 64 * 1024 * 1024;
/// The most bytes all parts of an XLSX workbook may inflate to together (256 MiB).
pub const MAX_XLSX_TOTAL_BYTES: u64 = 256 * 1024 * 1024;
/// The most parts (files inside the zip) an XLSX workbook may hold.
pub const MAX_XLSX_PARTS: usize = 4096;

/// Cells beyond this column index are not kept (only reported).
const MAX_COLUMNS: usize = 1024;

/// A scalar field value as stored in a records document.
///
/// Serialised untagged: a JSON string or a JSON integer.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(untagged)]
pub enum Value {
    /// Text (ids, names, codes such as `M` or `enrolled`, dates `YYYY-MM-DD`).
    Str(String),
    /// A whole number (grades).
    Int(i64),
}

impl Value {
    /// The text, if this is a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::Int(_) => None,
        }
    }

    /// The number, if this is a [`Value::Int`].
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Str(_) => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
        }
    }
}

/// One validated, normalised row of an import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The record id (the value of the id column, e.g. `student_id`).
    pub id: String,
    /// Every other column, keyed by column name, with normalised values:
    /// `grade` is a [`Value::Int`], everything else a [`Value::Str`] (dates as
    /// `YYYY-MM-DD`, codes in English, an empty optional id as `""`).
    pub fields: BTreeMap<String, Value>,
}

impl Row {
    /// An upper estimate of the bytes this row adds to an Automerge change when it is
    /// inserted: its id, field names and values, and a per-field allowance for the
    /// operation's columns. Used to bound the size of one change.
    pub fn approx_bytes(&self) -> usize {
        let fields: usize = self
            .fields
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    Value::Str(s) => s.len(),
                    Value::Int(_) => 8,
                };
                name.len() + value + 16
            })
            .sum();
        self.id.len() + 16 + fields
    }
}

/// One problem found in an imported file.
///
/// Serialises as `{"row":N,"column":"...","message":"...","code":"...","params":{...}}`:
/// the CONTRACT's three fields, then the [`Problem`] (its code and, for kinds that
/// have them, its parameters).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RowError {
    /// 1 for the first data row; 0 for the header row or the file as a whole.
    pub row: usize,
    /// The column the problem is in (empty when it concerns the whole file).
    pub column: String,
    /// A short English sentence naming the bad value: `problem.message(&column)`.
    pub message: String,
    /// What is wrong, as data (for messages in other languages).
    #[serde(flatten)]
    pub problem: Problem,
}

impl RowError {
    /// The error for `problem` at `row` and `column`, with its English message.
    pub fn new(row: usize, column: impl Into<String>, problem: Problem) -> RowError {
        let column = column.into();
        RowError {
            row,
            message: problem.message(&column),
            column,
            problem,
        }
    }
}

/// Every problem found in a rejected import (at most [`MAX_IMPORT_ERRORS`]).
/// Serialises as `{"errors":[{"row":N,"column":"...","message":"...","code":"..."}]}`
/// (see [`RowError`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImportErrors {
    /// The problems, in file order.
    pub errors: Vec<RowError>,
}

impl fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(f, "{n} problem{}", if n == 1 { "" } else { "s" })?;
        if let Some(e) = self.errors.first() {
            write!(f, "; first: row {}", e.row)?;
            if !e.column.is_empty() {
                write!(f, ", column {}", e.column)?;
            }
            write!(f, ": {}", e.message)?;
        }
        Ok(())
    }
}

/// Parses an uploaded file into validated rows, all or nothing.
///
/// The file is read as XLSX (first worksheet) when `content_type` is
/// [`XLSX_CONTENT_TYPE`] or the body starts with the zip signature, otherwise
/// as UTF-8 CSV with a header row. Column order is free; a UTF-8 BOM, CRLF line
/// ends, surrounding whitespace and blank rows are tolerated. Values are
/// checked and normalised as the CONTRACT describes (see [`Row`]).
///
/// On any problem, every problem found (up to [`MAX_IMPORT_ERRORS`]) is
/// returned and no row is. Row 1 is the first data row; header and whole-file
/// problems use row 0. Files over [`MAX_IMPORT_BYTES`] or with more than
/// [`MAX_IMPORT_ROWS`] data rows are refused.
pub fn parse_import(
    collection: Collection,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<Row>, ImportErrors> {
    parse_import_against(collection, content_type, body, None)
}

/// [`parse_import`], with the rows of `results` and `health` checked against the students
/// of the school year they are imported into: a row naming a student not in `roster` is
/// an error, as is a result for a preschool student, a conduct result for grades 1–5, or
/// none for grades 6–12.
pub fn parse_import_against(
    collection: Collection,
    content_type: Option<&str>,
    body: &[u8],
    roster: Option<&Roster>,
) -> Result<Vec<Row>, ImportErrors> {
    let mut imp = Importer::new(collection, roster);
    if body.len() > MAX_IMPORT_BYTES {
        imp.error(
            0,
            "",
            Problem::FileTooLarge {
                size_mib: body.len().div_ceil(1024 * 1024),
                max_mib: MAX_IMPORT_BYTES / (1024 * 1024),
            },
        );
    } else if is_xlsx(content_type, body) {
        read_xlsx(body, &mut imp);
    } else if body.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        imp.error(0, "", Problem::XlsFile);
    } else if body.starts_with(&[0xFF, 0xFE]) || body.starts_with(&[0xFE, 0xFF]) {
        imp.error(0, "", Problem::Utf16File);
    } else {
        read_csv(body, &mut imp);
    }
    imp.finish()
}

/// The students of one school and school year that `results` and `health` rows must name
/// (CONTRACT Part 2, referential checks), each with its grade code (`NT` … `MG5`, `1` …
/// `12`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Roster {
    grades: HashMap<String, String>,
}

impl Roster {
    /// An empty roster: every student a row names is unknown.
    pub fn new() -> Roster {
        Roster::default()
    }

    /// Adds a student of grade code `grade`.
    pub fn insert(&mut self, student_id: impl Into<String>, grade: impl Into<String>) {
        self.grades.insert(student_id.into(), grade.into());
    }

    /// What is wrong with a row of these fields against the roster, and in which column;
    /// `None` when nothing is (or the row names no student).
    fn check(&self, fields: &BTreeMap<String, Value>) -> Option<(&'static str, Problem)> {
        let student = fields.get("student_id")?.to_string();
        let Some(grade) = self.grades.get(&student) else {
            let problem = Problem::UnknownStudent {
                value: shown(&student),
            };
            return Some(("student_id", problem));
        };
        if !fields.contains_key("term") {
            return None;
        }
        let conduct = fields
            .get("conduct")
            .map(Value::to_string)
            .unwrap_or_default();
        match crate::grade_rank(grade) {
            Some(0..=3) => Some((
                "student_id",
                Problem::PreschoolResult {
                    value: shown(&student),
                },
            )),
            Some(4..=8) if !conduct.is_empty() => Some((
                "conduct",
                Problem::ConductInPrimary {
                    value: shown(&conduct),
                },
            )),
            Some(9..) if conduct.is_empty() => Some(("conduct", Problem::Empty)),
            _ => None,
        }
    }
}

fn is_xlsx(content_type: Option<&str>, body: &[u8]) -> bool {
    let by_type = content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim().eq_ignore_ascii_case(XLSX_CONTENT_TYPE));
    by_type || body.starts_with(b"PK\x03\x04")
}

/// A cell's text, or why it cannot be read.
type Cell = Result<String, Problem>;

fn cell_is_blank(cell: &Cell) -> bool {
    matches!(cell, Ok(s) if s.trim().is_empty())
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

struct Importer<'r> {
    collection: Collection,
    /// The collection's columns (the map below indexes `spec.columns`), how its record id
    /// is made, and the header a file must have.
    spec: Spec,
    /// The school's students, when the rows refer to them (results, health).
    roster: Option<&'r Roster>,
    /// Source column index -> index into `spec` (None: ignored column).
    /// `(column index, spec index)` of each recognised header cell. A list, not a vector
    /// indexed by column: a worksheet cell may claim any column up to `u32::MAX`.
    map: Vec<(usize, usize)>,
    /// File position of the header row, once seen.
    header_pos: Option<usize>,
    /// Non-blank rows skipped above the header.
    title_rows: usize,
    /// The first of them, judged as the header if no header follows.
    first_title: Option<Vec<(usize, Cell)>>,
    /// Personal ids seen -> the data row each was first seen on.
    personal_ids: HashMap<String, usize>,
    header_ok: bool,
    errors: Vec<RowError>,
    rows: Vec<Row>,
    /// Record id -> the data row it was first seen on.
    seen: HashMap<String, usize>,
    data_rows: usize,
    /// Cells read so far, blank ones included.
    cells: usize,
    latest_birth_date: NaiveDate,
}

impl<'r> Importer<'r> {
    fn new(collection: Collection, roster: Option<&'r Roster>) -> Self {
        // One day of slack so a date entered in Vietnam (UTC+7) is never "future".
        let today = chrono::Utc::now().date_naive();
        Importer {
            collection,
            spec: spec(collection),
            roster,
            map: Vec::new(),
            header_pos: None,
            title_rows: 0,
            first_title: None,
            personal_ids: HashMap::new(),
            header_ok: false,
            errors: Vec::new(),
            rows: Vec::new(),
            seen: HashMap::new(),
            data_rows: 0,
            cells: 0,
            latest_birth_date: today.succ_opt().unwrap_or(today),
        }
    }

    /// Records an error; returns `Flow::Stop` once the cap is reached.
    fn error(&mut self, row: usize, column: &str, problem: Problem) -> Flow {
        if self.errors.len() < MAX_IMPORT_ERRORS {
            self.errors.push(RowError::new(row, column, problem));
        }
        if self.errors.len() >= MAX_IMPORT_ERRORS {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    /// Counts `n` more cells read from the file; `Flow::Stop` (with the error) once
    /// there are more than [`MAX_IMPORT_CELLS`]. `pos` is the file position being read.
    fn count_cells(&mut self, pos: usize, n: usize) -> Flow {
        self.cells = self.cells.saturating_add(n);
        if self.cells <= MAX_IMPORT_CELLS {
            return Flow::Continue;
        }
        let row = self.header_pos.map_or(0, |h| pos.saturating_sub(h));
        self.error(
            row,
            "",
            Problem::TooManyCells {
                max: MAX_IMPORT_CELLS,
            },
        );
        Flow::Stop
    }

    fn expected_columns(&self) -> String {
        self.spec.required.join(",")
    }

    /// Feeds one row of the file. `pos` is its position in the file (CSV
    /// record number or worksheet row index); cells are `(column index, cell)`.
    fn feed(&mut self, pos: usize, cells: Vec<(usize, Cell)>) -> Flow {
        match self.header_pos {
            None => {
                if cells.iter().all(|(_, c)| cell_is_blank(c)) {
                    return Flow::Continue;
                }
                // A row that names no column (and reads as text) is a title row above
                // the header, up to MAX_TITLE_ROWS of them. The first is kept: if no
                // header follows, it is judged as the header was meant to be.
                let title = cells.iter().all(|(_, c)| {
                    c.as_ref()
                        .is_ok_and(|s| column_of(self.spec.columns, s).is_none())
                });
                if title && self.title_rows < MAX_TITLE_ROWS {
                    self.title_rows += 1;
                    if self.first_title.is_none() {
                        self.first_title = Some(cells);
                    }
                    return Flow::Continue;
                }
                self.header_pos = Some(pos);
                self.header(cells);
                if self.header_ok {
                    Flow::Continue
                } else {
                    Flow::Stop
                }
            }
            Some(h) => self.row(pos.saturating_sub(h), cells),
        }
    }

    fn header(&mut self, cells: Vec<(usize, Cell)>) {
        let mut found = vec![false; self.spec.columns.len()];
        let mut clean = true;
        for (col, cell) in cells {
            let name = match cell {
                Ok(s) => s.trim().trim_start_matches('\u{feff}').trim().to_owned(),
                Err(problem) => {
                    self.error(0, &format!("column {}", col + 1), problem);
                    clean = false;
                    continue;
                }
            };
            if name.is_empty() {
                continue;
            }
            match column_of(self.spec.columns, &name) {
                Some(idx) if found[idx] => {
                    self.error(0, self.spec.columns[idx].0, Problem::DuplicateColumn);
                    clean = false;
                }
                Some(idx) => {
                    found[idx] = true;
                    self.map.push((col, idx));
                }
                None => {
                    let problem = Problem::UnknownColumn {
                        name: shown(&name),
                        expected: self.expected_columns(),
                        wrong_separator: name.contains('\t'),
                    };
                    self.error(0, &name, problem);
                    clean = false;
                }
            }
        }
        for (idx, (name, kind)) in self.spec.columns.iter().enumerate() {
            if !found[idx] && !kind.optional() {
                let problem = Problem::MissingColumn {
                    expected: self.expected_columns(),
                };
                self.error(0, name, problem);
                clean = false;
            }
        }
        self.header_ok = clean;
    }

    fn row(&mut self, row: usize, cells: Vec<(usize, Cell)>) -> Flow {
        let mut values: Vec<Option<Cell>> = vec![None; self.spec.columns.len()];
        let mut stray: Option<usize> = None;
        let mut blank = true;
        for (col, cell) in cells {
            let is_blank = cell_is_blank(&cell);
            blank &= is_blank;
            match self
                .map
                .iter()
                .find(|(c, _)| *c == col)
                .map(|(_, idx)| *idx)
            {
                Some(idx) => values[idx] = Some(cell),
                None if !is_blank && stray.is_none() => stray = Some(col),
                None => {}
            }
        }
        if blank {
            return Flow::Continue;
        }
        self.data_rows += 1;
        if self.data_rows > MAX_IMPORT_ROWS {
            self.error(
                row,
                "",
                Problem::TooManyRows {
                    max: MAX_IMPORT_ROWS,
                },
            );
            return Flow::Stop;
        }
        if let Some(col) = stray {
            let flow = self.error(
                row,
                &format!("column {}", col + 1),
                Problem::ValueWithoutHeader { position: col + 1 },
            );
            if flow == Flow::Stop {
                return flow;
            }
        }
        let mut fields = BTreeMap::new();
        let mut clean = true;
        for (idx, cell) in values.into_iter().enumerate() {
            let (name, kind) = self.spec.columns[idx];
            let blank = cell.as_ref().is_none_or(cell_is_blank);
            if kind.optional() && blank {
                // Absent or empty: the record keeps what it had.
                continue;
            }
            let result = match cell {
                None => validate(kind, "", self.latest_birth_date),
                Some(Ok(s)) => validate(kind, s.trim(), self.latest_birth_date),
                Some(Err(problem)) => Err(problem),
            };
            let result = match result {
                Ok(v) if matches!(kind, Kind::PersonalId) => {
                    let key = v.to_string();
                    match self.personal_ids.get(&key) {
                        Some(first) => Err(Problem::DuplicateId {
                            value: shown(&key),
                            first_row: *first,
                        }),
                        None => {
                            self.personal_ids.insert(key, row);
                            Ok(v)
                        }
                    }
                }
                other => other,
            };
            match result {
                Ok(v) => {
                    fields.insert(name.to_owned(), v);
                }
                Err(problem) => {
                    clean = false;
                    if self.error(row, name, problem) == Flow::Stop {
                        return Flow::Stop;
                    }
                }
            }
        }
        if clean {
            let roster = self.roster.filter(|_| self.collection.refers_to_students());
            if let Some((column, problem)) = roster.and_then(|r| r.check(&fields)) {
                if self.error(row, column, problem) == Flow::Stop {
                    return Flow::Stop;
                }
            }
        }
        let field = |i: usize| fields.get(self.spec.columns[i].0).map(Value::to_string);
        let id = match self.spec.key {
            Key::First => fields.remove(self.spec.columns[0].0).map(|v| v.to_string()),
            Key::Pair(a, b) => field(a).zip(field(b)).map(|(a, b)| format!("{a}|{b}")),
            Key::Single(id) => Some(id.to_owned()),
        };
        if let Some(id) = id {
            // A single-record file with more rows is refused whole (`not_one_row`).
            let single = matches!(self.spec.key, Key::Single(_));
            if let Some(first) = self.seen.get(&id).filter(|_| !single) {
                let (name, _) = self.spec.columns[0];
                let problem = Problem::DuplicateId {
                    value: shown(&id),
                    first_row: *first,
                };
                if self.error(row, name, problem) == Flow::Stop {
                    return Flow::Stop;
                }
            } else {
                self.seen.insert(id.clone(), row);
                if self.errors.is_empty() {
                    self.rows.push(Row { id, fields });
                }
            }
        }
        Flow::Continue
    }

    fn finish(mut self) -> Result<Vec<Row>, ImportErrors> {
        if self.header_pos.is_none() {
            if let Some(cells) = self.first_title.take() {
                // Only rows that name no column: the first is the header gone wrong.
                self.header(cells);
            }
        }
        if self.errors.is_empty() && self.header_pos.is_none() {
            let problem = Problem::EmptyFile {
                expected: self.expected_columns(),
            };
            self.error(0, "", problem);
        }
        if self.errors.is_empty() && matches!(self.spec.key, Key::Single(_)) && self.data_rows != 1
        {
            let problem = Problem::NotOneRow {
                rows: self.data_rows,
            };
            self.error(0, "", problem);
        }
        if self.errors.is_empty() {
            Ok(self.rows)
        } else {
            Err(ImportErrors {
                errors: self.errors,
            })
        }
    }
}

/// The separator of a CSV file: a semicolon when the first line that names a column
/// (among the first non-blank lines a header may be on) names more columns split at
/// semicolons than at commas; otherwise a comma.
fn separator(body: &[u8], spec: &[(&str, Kind)]) -> u8 {
    let head = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    let lines = head.lines().filter(|l| !l.trim().is_empty());
    for line in lines.take(MAX_TITLE_ROWS + 1) {
        let named = |sep: char| {
            line.split(sep)
                .filter(|cell| column_of(spec, cell.trim().trim_matches('"')).is_some())
                .count()
        };
        let (commas, semicolons) = (named(','), named(';'));
        if commas + semicolons > 0 {
            return if semicolons > commas { b';' } else { b',' };
        }
    }
    b','
}

fn read_csv(body: &[u8], imp: &mut Importer) {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator(body, imp.spec.columns))
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut record = csv::ByteRecord::new();
    let mut pos = 0usize;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return,
            Ok(true) => {}
            Err(e) => {
                let row = imp.header_pos.map_or(0, |h| (pos + 1).saturating_sub(h));
                imp.error(
                    row,
                    "",
                    Problem::BadCsv {
                        detail: e.to_string(),
                    },
                );
                return;
            }
        }
        if imp.count_cells(pos, record.len()) == Flow::Stop {
            return;
        }
        let cells = record
            .iter()
            .enumerate()
            .take(MAX_COLUMNS)
            .map(|(i, field)| {
                let cell = std::str::from_utf8(field)
                    .map(str::to_owned)
                    .map_err(|_| Problem::NotUtf8);
                (i, cell)
            })
            .collect();
        if imp.feed(pos, cells) == Flow::Stop {
            return;
        }
        pos += 1;
    }
}

/// Reads every part of the XLSX zip through a bounded inflater before the spreadsheet
/// reader sees the file: that reader holds parts (the shared strings) whole in memory, and
/// a few kilobytes of zip can inflate to gigabytes. The sizes a zip declares are not
/// trusted; the bytes are counted as they inflate, and reading stops at the first limit
/// passed ([`MAX_XLSX_PART_BYTES`], [`MAX_XLSX_SHARED_STRINGS_BYTES`],
/// [`MAX_XLSX_TOTAL_BYTES`], [`MAX_XLSX_PARTS`]). Memory used: one 64 KiB buffer.
fn check_xlsx_sizes(body: &[u8]) -> Result<(), Problem> {
    use std::io::Read;
    let bad = |e: &dyn fmt::Display| Problem::BadXlsx {
        detail: e.to_string(),
    };
    let too_large = || Problem::XlsxTooLarge {
        max_mib: (MAX_XLSX_TOTAL_BYTES / (1024 * 1024)) as usize,
        max_parts: MAX_XLSX_PARTS,
    };
    let mut zip = zip::ZipArchive::new(Cursor::new(body)).map_err(|e| bad(&e))?;
    if zip.len() > MAX_XLSX_PARTS {
        return Err(too_large());
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).map_err(|e| bad(&e))?;
        let name = part.name().map_err(|e| bad(&e))?.into_owned();
        let limit = if name.to_ascii_lowercase().ends_with("sharedstrings.xml") {
            MAX_XLSX_SHARED_STRINGS_BYTES
        } else {
            MAX_XLSX_PART_BYTES
        };
        let part_too_large = || Problem::XlsxPartTooLarge {
            part: shown(&name),
            max_mib: (limit / (1024 * 1024)) as usize,
        };
        if part.size() > limit {
            return Err(part_too_large());
        }
        let mut size = 0u64;
        loop {
            let n = match part.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(bad(&e)),
            };
            size += n;
            total += n;
            if size > limit {
                return Err(part_too_large());
            }
            if total > MAX_XLSX_TOTAL_BYTES {
                return Err(too_large());
            }
        }
    }
    Ok(())
}

fn read_xlsx(body: &[u8], imp: &mut Importer) {
    if let Err(problem) = check_xlsx_sizes(body) {
        imp.error(0, "", problem);
        return;
    }
    let mut workbook = match Xlsx::new(Cursor::new(body)) {
        Ok(w) => w,
        Err(e) => {
            imp.error(
                0,
                "",
                Problem::BadXlsx {
                    detail: e.to_string(),
                },
            );
            return;
        }
    };
    let Some(sheet) = workbook.sheet_names().into_iter().next() else {
        imp.error(0, "", Problem::NoWorksheet);
        return;
    };
    let mut reader = match workbook.worksheet_cells_reader(&sheet) {
        Ok(r) => r,
        Err(e) => {
            imp.error(
                0,
                "",
                Problem::BadWorksheet {
                    detail: e.to_string(),
                },
            );
            return;
        }
    };
    let mut current: Option<u32> = None;
    let mut cells: Vec<(usize, Cell)> = Vec::new();
    loop {
        match reader.next_cell() {
            Ok(Some(cell)) => {
                let (row, col) = cell.get_position();
                if imp.count_cells(row as usize, 1) == Flow::Stop {
                    return;
                }
                if current != Some(row) {
                    if let Some(prev) = current {
                        if imp.feed(prev as usize, std::mem::take(&mut cells)) == Flow::Stop {
                            return;
                        }
                    }
                    current = Some(row);
                }
                let col = col as usize;
                let value = xlsx_cell(cell.get_value());
                // Keep the header-width cells plus, beyond that, only the first non-blank one.
                if col < MAX_COLUMNS
                    || (!cell_is_blank(&value) && cells.iter().all(|(c, _)| *c < MAX_COLUMNS))
                {
                    cells.push((col, value));
                }
            }
            Ok(None) => break,
            Err(e) => {
                let row = match (imp.header_pos, current) {
                    (Some(h), Some(r)) => (r as usize).saturating_sub(h),
                    _ => 0,
                };
                imp.error(
                    row,
                    "",
                    Problem::BadWorksheet {
                        detail: e.to_string(),
                    },
                );
                return;
            }
        }
    }
    if let Some(prev) = current {
        imp.feed(prev as usize, cells);
    }
}

/// The text of a worksheet cell: whole numbers without a decimal part, dates
/// as `YYYY-MM-DD`.
fn xlsx_cell(value: &DataRef<'_>) -> Cell {
    Ok(match value {
        DataRef::Empty => String::new(),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number_text(*f),
        DataRef::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        DataRef::DateTime(dt) if dt.is_datetime() => {
            let (y, m, d, ..) = dt.to_ymd_hms_milli();
            format!("{y:04}-{m:02}-{d:02}")
        }
        DataRef::DateTime(dt) => number_text(dt.as_f64()),
        DataRef::DateTimeIso(s) => match s.get(..10) {
            Some(date) if s.len() == 10 || s[10..].starts_with('T') => date.to_owned(),
            _ => s.clone(),
        },
        DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => {
            return Err(Problem::SpreadsheetError {
                error: e.to_string(),
            })
        }
    })
}

fn number_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

/// Lookup key for coded values: folded, spaces and hyphens as underscores.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::fields::grade;
    use crate::PROFILE_ID;
    use unicode_normalization::UnicodeNormalization;

    const STUDENT_HEADER: &str =
        "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status";

    fn students(body: &str) -> Result<Vec<Row>, ImportErrors> {
        parse_import(Collection::Students, Some("text/csv"), body.as_bytes())
    }

    fn errors(body: &str) -> Vec<RowError> {
        students(body).unwrap_err().errors
    }

    fn s(v: &str) -> Value {
        Value::Str(v.to_owned())
    }

    #[test]
    fn valid_students_with_every_alias() {
        let nfd_nu: String = "Nữ".nfd().collect();
        let body = format!(
            "{STUDENT_HEADER}\n\
             HS001,Nguyễn Văn An,M,2014-09-05,5,5A,Kinh,enrolled\n\
             HS002,Trần Thị Bình,F,05/09/2014,5,5A,Tày,dropped_out\n\
             HS003,Lò Văn Páo,Nam,1/2/2013,6,6B,Thái,transferred_out\n\
             HS004,Đặng Thị Hoa,nữ,2010-01-31,9,9A,Khmer,graduated\n\
             HS005,Phạm Minh Đức,NAM,2014-03-01,5,5A,Kinh,Đang học\n\
             HS006,Vũ Thị Lan,{nfd_nu},2014-03-02,5,5B,Kinh,bỏ học\n\
             HS007,Hoàng Văn Cường,m,2014-03-03,5,5B,Kinh,CHUYỂN ĐI\n\
             HS008,Bùi Thị Mai,f,2009-03-04,12,12A,Mường,Tốt nghiệp\n"
        );
        let rows = students(&body).unwrap();
        assert_eq!(rows.len(), 8);
        let r0 = &rows[0];
        assert_eq!(r0.id, "HS001");
        assert!(!r0.fields.contains_key("student_id"));
        assert_eq!(r0.fields["full_name"], s("Nguyễn Văn An"));
        assert_eq!(r0.fields["grade"], Value::Int(5));
        assert_eq!(r0.fields["birth_date"], s("2014-09-05"));
        assert_eq!(r0.fields["class_id"], s("5A"));
        assert_eq!(rows[1].fields["birth_date"], s("2014-09-05"));
        assert_eq!(rows[2].fields["birth_date"], s("2013-02-01"));
        let genders: Vec<_> = rows.iter().map(|r| r.fields["gender"].clone()).collect();
        assert_eq!(
            genders,
            ["M", "F", "M", "F", "M", "F", "M", "F"].map(s).to_vec()
        );
        let statuses: Vec<_> = rows.iter().map(|r| r.fields["status"].clone()).collect();
        assert_eq!(
            statuses,
            [
                "enrolled",
                "dropped_out",
                "transferred_out",
                "graduated",
                "enrolled",
                "dropped_out",
                "transferred_out",
                "graduated"
            ]
            .map(s)
            .to_vec()
        );
        assert_eq!(rows[7].fields["ethnicity"], s("Mường"));
    }

    #[test]
    fn valid_staff_and_classes() {
        let staff = "staff_id,full_name,gender,birth_date,role,qualification,status\n\
                     GV01,Nguyễn Thị Hạnh,Nữ,1985-04-12,teacher,bachelor,active\n\
                     GV02,Lê Văn Tám,M,12/11/1970,Manager,master,left\n\
                     NV01,Trịnh Văn Bảo,M,1990-01-01,support,below_standard,ACTIVE\n\
                     GV03,Đỗ Thu Hà,F,1992-02-02,teacher,college,active\n\
                     GV04,Mai Anh,F,1980-02-29,teacher,doctor,active\n";
        let rows = parse_import(Collection::Staff, None, staff.as_bytes()).unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[1].fields["role"], s("manager"));
        assert_eq!(rows[1].fields["status"], s("left"));
        assert_eq!(rows[2].fields["status"], s("active"));
        assert_eq!(rows[4].fields["birth_date"], s("1980-02-29"));

        let classes = "grade,class_id,homeroom_staff_id,name\n\
                       5,5A,GV01,Lớp 5A\n\
                       6,6B,,Lớp 6B\n";
        let rows = parse_import(Collection::Classes, None, classes.as_bytes()).unwrap();
        assert_eq!(rows[0].id, "5A");
        assert_eq!(rows[0].fields["homeroom_staff_id"], s("GV01"));
        assert_eq!(rows[1].fields["homeroom_staff_id"], s(""));
        assert_eq!(rows[1].fields["grade"], Value::Int(6));
    }

    #[test]
    fn bad_values_name_row_and_column() {
        let body = format!(
            "{STUDENT_HEADER}\n\
             HS001,Nguyễn Văn An,M,2014-09-05,5,5A,Kinh,enrolled\n\
             HS002,Trần Thị Bình,X,2014-09-05,5,5A,Kinh,enrolled\n\
             HS003,Lò Văn Páo,M,2014-02-30,5,5A,Kinh,enrolled\n\
             HS004,Đặng Thị Hoa,F,2014-09-05,13,5A,Kinh,enrolled\n\
             HS005,Phạm Minh Đức,M,2014-09-05,5,5A,Kinh,absent\n\
             ,Vũ Thị Lan,F,2014-09-05,5,5A,Kinh,enrolled\n\
             HS007,,F,2014-09-05,5,5A,Kinh,enrolled\n\
             HS008,Bùi Thị Mai,F,2014/09/05,5,5A,,enrolled\n\
             HS009,Hồ Văn Nam,M,3000-01-01,0,5A,Kinh,enrolled\n\
             HS010,Lý Thị Na,F,1899-12-31,five,,Kinh,enrolled\n"
        );
        let errs = errors(&body);
        let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.row, e.column.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (2, "gender"),
                (3, "birth_date"),
                (4, "grade"),
                (5, "status"),
                (6, "student_id"),
                (7, "full_name"),
                (8, "birth_date"),
                (8, "ethnicity"),
                (9, "birth_date"),
                (9, "grade"),
                (10, "birth_date"),
                (10, "grade"),
                (10, "class_id"),
            ]
        );
        assert_eq!(
            errs[2].message,
            "grade must be a whole number from 1 to 12 or a preschool group NT, MG3, MG4, MG5, \
             got \"13\""
        );
        assert!(errs[0].message.contains("\"X\""), "{}", errs[0].message);
        assert!(errs[1].message.contains("not a real calendar date"));
        assert!(errs[3].message.contains("\"absent\""));
    }

    #[test]
    fn bad_staff_values() {
        let body = "staff_id,full_name,gender,birth_date,role,qualification,status\n\
                    GV01,A,F,1985-04-12,principal,phd,retired\n";
        let errs = parse_import(Collection::Staff, None, body.as_bytes())
            .unwrap_err()
            .errors;
        let cols: Vec<&str> = errs.iter().map(|e| e.column.as_str()).collect();
        assert_eq!(cols, ["role", "qualification", "status"]);
        assert!(errs.iter().all(|e| e.row == 1));
    }

    #[test]
    fn ids_are_checked() {
        let long = "X".repeat(65);
        let body = format!(
            "{STUDENT_HEADER}\n\
             {long},A,M,2014-09-05,5,5A,Kinh,enrolled\n\
             \"HS\u{7}2\",A,M,2014-09-05,5,5A,Kinh,enrolled\n\
             \"  HS3  \",A,M,2014-09-05,5,5A,Kinh,enrolled\n"
        );
        let errs = errors(&body);
        assert_eq!(errs.len(), 2);
        assert_eq!((errs[0].row, errs[0].column.as_str()), (1, "student_id"));
        assert_eq!((errs[1].row, errs[1].column.as_str()), (2, "student_id"));
        assert!(errs[1].message.contains("\\u{7}"), "{}", errs[1].message);
    }

    #[test]
    fn header_problems_use_row_zero() {
        let errs =
            errors("student_id,full_name,gender,birth_date,grade,class_id,status,status,shoe\n");
        let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.row, e.column.as_str())).collect();
        assert_eq!(got, vec![(0, "status"), (0, "shoe"), (0, "ethnicity")]);
        assert!(errs[2].message.contains("column ethnicity is missing"));

        let errs = errors("");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].row, 0);
        assert!(errs[0].message.contains("empty"));

        let errs = errors("\n\n");
        assert_eq!(errs.len(), 1);

        // Tab-separated files get a hint (commas and semicolons are both read).
        let errs = errors(&STUDENT_HEADER.replace(',', "\t"));
        assert!(errs[0].message.contains("commas"), "{}", errs[0].message);

        // Header only: nothing to import, but not an error.
        assert!(students(STUDENT_HEADER).unwrap().is_empty());
    }

    #[test]
    fn duplicate_id_is_an_error_on_the_second_row() {
        let body = format!(
            "{STUDENT_HEADER}\n\
             HS001,A,M,2014-09-05,5,5A,Kinh,enrolled\n\
             HS002,B,M,2014-09-05,5,5A,Kinh,enrolled\n\
             HS001,C,M,2014-09-05,5,5A,Kinh,enrolled\n"
        );
        let errs = errors(&body);
        assert_eq!(errs.len(), 1);
        assert_eq!((errs[0].row, errs[0].column.as_str()), (3, "student_id"));
        assert!(errs[0].message.contains("row 1"));
    }

    #[test]
    fn bom_crlf_whitespace_blank_rows_and_column_order() {
        let body =
            "\u{feff}status , student_id,full_name,gender,birth_date,grade,class_id,ethnicity\r\n\
                    \u{20}enrolled , HS001 ,  Nguyễn Văn An ,M,2014-09-05, 5 ,5A,Kinh\r\n\
                    ,,,,,,,\r\n\
                    \r\n\
                    dropped_out,HS002,\"Trần, Thị\",F,2014-09-05,5,5A,Kinh\r\n";
        let rows = students(body).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].id, "HS001");
        assert_eq!(rows[0].fields["full_name"], s("Nguyễn Văn An"));
        assert_eq!(rows[0].fields["status"], s("enrolled"));
        assert_eq!(rows[0].fields["grade"], Value::Int(5));
        assert_eq!(rows[1].fields["full_name"], s("Trần, Thị"));
    }

    #[test]
    fn stray_and_short_rows() {
        let body = format!(
            "{STUDENT_HEADER}\n\
             HS001,A,M,2014-09-05,5,5A,Kinh,enrolled,extra\n\
             HS002,A,M\n"
        );
        let errs = errors(&body);
        assert_eq!((errs[0].row, errs[0].column.as_str()), (1, "column 9"));
        let row2: Vec<&str> = errs
            .iter()
            .filter(|e| e.row == 2)
            .map(|e| e.column.as_str())
            .collect();
        assert_eq!(
            row2,
            ["birth_date", "grade", "class_id", "ethnicity", "status"]
        );
    }

    #[test]
    fn non_utf8_names_the_row() {
        let mut body = format!("{STUDENT_HEADER}\nHS001,A,M,2014-09-05,5,5A,Kinh,enrolled\nHS002,")
            .into_bytes();
        body.extend_from_slice(b"Tr\xe2n,F,2014-09-05,5,5A,Kinh,enrolled\n");
        let errs = parse_import(Collection::Students, Some("text/csv"), &body)
            .unwrap_err()
            .errors;
        assert_eq!(errs.len(), 1);
        assert_eq!((errs[0].row, errs[0].column.as_str()), (2, "full_name"));
        assert!(errs[0].message.contains("UTF-8"));
    }

    #[test]
    fn errors_are_capped_and_all_collected() {
        let mut body = String::from(STUDENT_HEADER);
        for i in 0..600 {
            body.push_str(&format!("\nHS{i},A,X,2014-09-05,0,5A,Kinh,enrolled"));
        }
        let errs = errors(&body);
        assert_eq!(errs.len(), MAX_IMPORT_ERRORS);
        assert_eq!(errs[1].row, 1);
        assert_eq!(errs[2].row, 2);
    }

    #[test]
    fn size_and_row_caps() {
        let big = vec![b'a'; MAX_IMPORT_BYTES + 1];
        let errs = parse_import(Collection::Students, None, &big)
            .unwrap_err()
            .errors;
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("50 MiB"));

        let mut body = String::from("class_id,name,grade,homeroom_staff_id");
        for i in 0..=MAX_IMPORT_ROWS {
            body.push_str(&format!("\nC{i},L,5,"));
        }
        let errs = parse_import(Collection::Classes, None, body.as_bytes())
            .unwrap_err()
            .errors;
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].row, MAX_IMPORT_ROWS + 1);
        assert!(errs[0].message.contains("200000"));
    }

    #[test]
    fn xls_and_utf16_are_refused() {
        let errs = parse_import(Collection::Students, None, b"\xD0\xCF\x11\xE0rest")
            .unwrap_err()
            .errors;
        assert!(errs[0].message.contains(".xls"));
        let errs = parse_import(Collection::Students, None, b"\xFF\xFEs\x00")
            .unwrap_err()
            .errors;
        assert!(errs[0].message.contains("UTF-16"));
        let errs = parse_import(Collection::Students, Some(XLSX_CONTENT_TYPE), b"not a zip")
            .unwrap_err()
            .errors;
        assert!(errs[0].message.contains("XLSX"));
    }

    #[test]
    fn row_error_json_shape() {
        let e = ImportErrors {
            errors: vec![
                RowError::new(3, "grade", Problem::BadGrade { value: "13".into() }),
                RowError::new(0, "", Problem::XlsFile),
            ],
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"errors":[{"row":3,"column":"grade","message":"grade must be a whole number from 1 to 12 or a preschool group NT, MG3, MG4, MG5, got \"13\"","code":"bad_grade","params":{"value":"13"}},{"row":0,"column":"","message":"this looks like an old Excel .xls file; save it as .xlsx or as CSV UTF-8","code":"xls_file"}]}"#
        );
        let back: ImportErrors = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        assert_eq!(serde_json::to_string(&Value::Int(5)).unwrap(), "5");
        assert_eq!(serde_json::to_string(&s("M")).unwrap(), "\"M\"");
    }

    /// The students `results` and `health` rows of these tests refer to: HS1 in grade 5,
    /// HS6 in grade 7, MN1 in the preschool group MG4.
    fn test_roster() -> Roster {
        let mut r = Roster::new();
        r.insert("HS1", "5");
        r.insert("HS6", "7");
        r.insert("MN1", "MG4");
        r
    }

    /// Every code `Problem::code` can return.
    const ALL_CODES: &[&str] = &[
        "not_one_row",
        "bad_term",
        "bad_level",
        "bad_number",
        "bad_count",
        "bad_nutrition",
        "bad_yes_no",
        "bad_standard",
        "unknown_student",
        "preschool_result",
        "conduct_in_primary",
        "file_too_large",
        "xls_file",
        "utf16_file",
        "bad_csv",
        "bad_xlsx",
        "no_worksheet",
        "bad_worksheet",
        "empty_file",
        "too_many_rows",
        "too_many_cells",
        "xlsx_part_too_large",
        "xlsx_too_large",
        "change_too_large",
        "not_utf8",
        "bad_personal_id",
        "spreadsheet_error",
        "duplicate_column",
        "unknown_column",
        "missing_column",
        "value_without_header",
        "empty_id",
        "empty",
        "control_characters",
        "too_long",
        "bad_gender",
        "bad_student_status",
        "bad_staff_status",
        "bad_role",
        "bad_qualification",
        "bad_grade",
        "bad_date",
        "not_a_calendar_date",
        "date_out_of_range",
        "duplicate_id",
    ];

    /// The first error of a rejected import, checked for its code and message.
    fn first_error(collection: Collection, ct: Option<&str>, body: &[u8], code: &str) -> RowError {
        let errs = parse_import_against(collection, ct, body, Some(&test_roster()))
            .unwrap_err()
            .errors;
        let e = errs
            .iter()
            .find(|e| e.problem.code() == code)
            .unwrap_or_else(|| panic!("no {code} in {errs:?}"))
            .clone();
        assert_eq!(e.message, e.problem.message(&e.column), "{e:?}");
        e
    }

    #[test]
    fn every_problem_kind_has_its_code() {
        let mut seen = std::collections::BTreeSet::new();
        let row = |fields: &str| format!("{STUDENT_HEADER}\n{fields}\n");
        /// Collection, body, code, and the row, column and problem expected.
        type Case<'a> = (Collection, Vec<u8>, &'a str, usize, &'a str, Problem);
        let long = "N".repeat(201);
        let cases: Vec<Case> = vec![
            (
                Collection::Profile,
                format!("{PROFILE_FILE}12,2,0,3,yes,none,,\n").into_bytes(),
                "not_one_row",
                0,
                "",
                Problem::NotOneRow { rows: 2 },
            ),
            (
                Collection::Results,
                b"student_id,term,academic,conduct\nHS6,HK3,good,good\n".to_vec(),
                "bad_term",
                1,
                "term",
                Problem::BadTerm {
                    value: "HK3".into(),
                },
            ),
            (
                Collection::Results,
                b"student_id,term,academic,conduct\nHS6,HK1,A,good\n".to_vec(),
                "bad_level",
                1,
                "academic",
                Problem::BadLevel { value: "A".into() },
            ),
            (
                Collection::Health,
                b"student_id,exam_date,height_cm,weight_kg,nutrition\nHS1,2026-10-01,130,2.5.1,normal\n"
                    .to_vec(),
                "bad_number",
                1,
                "weight_kg",
                Problem::BadNumber {
                    value: "2.5.1".into(),
                    min: "2".into(),
                    max: "200".into(),
                },
            ),
            (
                Collection::Profile,
                PROFILE_FILE.replace("12,2,0,3,", "12,-2,0,3,").into_bytes(),
                "bad_count",
                1,
                "classrooms_semi_solid",
                Problem::BadCount { value: "-2".into() },
            ),
            (
                Collection::Health,
                "student_id,exam_date,height_cm,weight_kg,nutrition\nHS1,2026-10-01,130,30,gầy\n"
                    .as_bytes()
                    .to_vec(),
                "bad_nutrition",
                1,
                "nutrition",
                Problem::BadNutrition {
                    value: "gầy".into(),
                },
            ),
            (
                Collection::Profile,
                PROFILE_FILE.replace(",yes,", ",y,").into_bytes(),
                "bad_yes_no",
                1,
                "clean_water",
                Problem::BadYesNo { value: "y".into() },
            ),
            (
                Collection::Profile,
                PROFILE_FILE.replace(",level1", ",level3").into_bytes(),
                "bad_standard",
                1,
                "national_standard",
                Problem::BadStandard {
                    value: "level3".into(),
                },
            ),
            (
                Collection::Results,
                b"student_id,term,academic,conduct\nHS9,HK1,good,good\n".to_vec(),
                "unknown_student",
                1,
                "student_id",
                Problem::UnknownStudent {
                    value: "HS9".into(),
                },
            ),
            (
                Collection::Results,
                b"student_id,term,academic,conduct\nMN1,HK1,good,\n".to_vec(),
                "preschool_result",
                1,
                "student_id",
                Problem::PreschoolResult {
                    value: "MN1".into(),
                },
            ),
            (
                Collection::Results,
                b"student_id,term,academic,conduct\nHS1,HK1,good,good\n".to_vec(),
                "conduct_in_primary",
                1,
                "conduct",
                Problem::ConductInPrimary {
                    value: "good".into(),
                },
            ),
            (
                Collection::Students,
                b"\xD0\xCF\x11\xE0rest".to_vec(),
                "xls_file",
                0,
                "",
                Problem::XlsFile,
            ),
            (
                Collection::Students,
                b"\xFF\xFEs\x00".to_vec(),
                "utf16_file",
                0,
                "",
                Problem::Utf16File,
            ),
            (
                Collection::Students,
                b"\n\n".to_vec(),
                "empty_file",
                0,
                "",
                Problem::EmptyFile {
                    expected: STUDENT_HEADER.into(),
                },
            ),
            (
                Collection::Students,
                format!(
                    "{STUDENT_HEADER},personal_id\n\
                     HS1,A,M,2014-09-05,5,5A,Kinh,enrolled,00120800123\n"
                )
                .into_bytes(),
                "bad_personal_id",
                1,
                "personal_id",
                Problem::BadPersonalId {
                    value: "00120800123".into(),
                },
            ),
            (
                Collection::Students,
                b"\xffab,cd\n".to_vec(),
                "not_utf8",
                0,
                "column 1",
                Problem::NotUtf8,
            ),
            (
                Collection::Students,
                format!("{STUDENT_HEADER},grade\n").into_bytes(),
                "duplicate_column",
                0,
                "grade",
                Problem::DuplicateColumn,
            ),
            (
                Collection::Students,
                STUDENT_HEADER.replace(',', "\t").into_bytes(),
                "unknown_column",
                0,
                "student_id\tfull_name\tgender\tbirth_date\tgrade\tclass_id\tethnicity\tstatus",
                Problem::UnknownColumn {
                    name: shown(&STUDENT_HEADER.replace(',', "\t")),
                    expected: STUDENT_HEADER.into(),
                    wrong_separator: true,
                },
            ),
            (
                Collection::Students,
                b"student_id\n".to_vec(),
                "missing_column",
                0,
                "full_name",
                Problem::MissingColumn {
                    expected: STUDENT_HEADER.into(),
                },
            ),
            (
                Collection::Students,
                row("HS1,A,M,2014-09-05,5,5A,Kinh,enrolled,extra").into_bytes(),
                "value_without_header",
                1,
                "column 9",
                Problem::ValueWithoutHeader { position: 9 },
            ),
            (
                Collection::Students,
                row(",A,M,2014-09-05,5,5A,Kinh,enrolled").into_bytes(),
                "empty_id",
                1,
                "student_id",
                Problem::EmptyId,
            ),
            (
                Collection::Students,
                row("HS1,A,M,2014-09-05,5,5A,,enrolled").into_bytes(),
                "empty",
                1,
                "ethnicity",
                Problem::Empty,
            ),
            (
                Collection::Students,
                row("HS1,\"A\u{7}\",M,2014-09-05,5,5A,Kinh,enrolled").into_bytes(),
                "control_characters",
                1,
                "full_name",
                Problem::ControlCharacters {
                    value: "A\\u{7}".into(),
                },
            ),
            (
                Collection::Students,
                row(&format!("HS1,{long},M,2014-09-05,5,5A,Kinh,enrolled")).into_bytes(),
                "too_long",
                1,
                "full_name",
                Problem::TooLong {
                    max: 200,
                    value: format!("{}…", "N".repeat(80)),
                },
            ),
            (
                Collection::Students,
                row("HS1,A,X,2014-09-05,5,5A,Kinh,enrolled").into_bytes(),
                "bad_gender",
                1,
                "gender",
                Problem::BadGender { value: "X".into() },
            ),
            (
                Collection::Students,
                row("HS1,A,M,2014-09-05,5,5A,Kinh,absent").into_bytes(),
                "bad_student_status",
                1,
                "status",
                Problem::BadStudentStatus {
                    value: "absent".into(),
                },
            ),
            (
                Collection::Staff,
                b"staff_id,full_name,gender,birth_date,role,qualification,status\n\
                  GV01,A,F,1985-04-12,teacher,bachelor,retired\n"
                    .to_vec(),
                "bad_staff_status",
                1,
                "status",
                Problem::BadStaffStatus {
                    value: "retired".into(),
                },
            ),
            (
                Collection::Staff,
                b"staff_id,full_name,gender,birth_date,role,qualification,status\n\
                  GV01,A,F,1985-04-12,principal,bachelor,active\n"
                    .to_vec(),
                "bad_role",
                1,
                "role",
                Problem::BadRole {
                    value: "principal".into(),
                },
            ),
            (
                Collection::Staff,
                b"staff_id,full_name,gender,birth_date,role,qualification,status\n\
                  GV01,A,F,1985-04-12,teacher,phd,active\n"
                    .to_vec(),
                "bad_qualification",
                1,
                "qualification",
                Problem::BadQualification {
                    value: "phd".into(),
                },
            ),
            (
                Collection::Classes,
                b"class_id,name,grade,homeroom_staff_id\n5A,L,13,\n".to_vec(),
                "bad_grade",
                1,
                "grade",
                Problem::BadGrade { value: "13".into() },
            ),
            (
                Collection::Students,
                row("HS1,A,M,2014/09/05,5,5A,Kinh,enrolled").into_bytes(),
                "bad_date",
                1,
                "birth_date",
                Problem::BadDate {
                    value: "2014/09/05".into(),
                },
            ),
            (
                Collection::Students,
                row("HS1,A,M,2015-02-30,5,5A,Kinh,enrolled").into_bytes(),
                "not_a_calendar_date",
                1,
                "birth_date",
                Problem::NotACalendarDate {
                    value: "2015-02-30".into(),
                },
            ),
            (
                Collection::Students,
                row("HS1,A,M,31/12/1899,5,5A,Kinh,enrolled").into_bytes(),
                "date_out_of_range",
                1,
                "birth_date",
                Problem::DateOutOfRange {
                    value: "31/12/1899".into(),
                    first_year: 1900,
                },
            ),
            (
                Collection::Students,
                row("HS1,A,M,2014-09-05,5,5A,Kinh,enrolled\nHS1,B,M,2014-09-05,5,5A,Kinh,enrolled")
                    .into_bytes(),
                "duplicate_id",
                2,
                "student_id",
                Problem::DuplicateId {
                    value: "HS1".into(),
                    first_row: 1,
                },
            ),
        ];
        for (collection, body, code, row, column, problem) in cases {
            let e = first_error(collection, Some("text/csv"), &body, code);
            assert_eq!(
                (e.row, e.column.as_str(), &e.problem),
                (row, column, &problem),
                "{code}"
            );
            assert_eq!(problem.code(), code);
            seen.insert(code);
        }

        // Caps and XLSX.
        let e = first_error(
            Collection::Students,
            None,
            &vec![b'a'; MAX_IMPORT_BYTES + 1],
            "file_too_large",
        );
        assert_eq!(
            e.problem,
            Problem::FileTooLarge {
                size_mib: 51,
                max_mib: 50
            }
        );
        seen.insert("file_too_large");
        let mut body = String::from("class_id,name,grade,homeroom_staff_id");
        for i in 0..=MAX_IMPORT_ROWS {
            body.push_str(&format!("\nC{i},L,5,"));
        }
        let e = first_error(Collection::Classes, None, body.as_bytes(), "too_many_rows");
        assert_eq!(e.problem, Problem::TooManyRows { max: 200_000 });
        seen.insert("too_many_rows");
        let e = first_error(
            Collection::Students,
            Some(XLSX_CONTENT_TYPE),
            b"not a zip",
            "bad_xlsx",
        );
        assert_eq!((e.row, e.column.as_str()), (0, ""));
        seen.insert("bad_xlsx");
        let xlsx = {
            use rust_xlsxwriter::{Formula, Workbook};
            let mut wb = Workbook::new();
            let ws = wb.add_worksheet();
            for (c, h) in STUDENT_HEADER.split(',').enumerate() {
                ws.write_string(0, c as u16, h).unwrap();
            }
            for (c, v) in ["HS1", "A", "M", "2014-09-05", "5", "5A", "Kinh", "enrolled"]
                .iter()
                .enumerate()
            {
                ws.write_string(1, c as u16, *v).unwrap();
            }
            ws.write_formula(1, 4, Formula::new("=1/0").set_result("#DIV/0!"))
                .unwrap();
            wb.save_to_buffer().unwrap()
        };
        let e = first_error(
            Collection::Students,
            Some(XLSX_CONTENT_TYPE),
            &xlsx,
            "spreadsheet_error",
        );
        assert_eq!((e.row, e.column.as_str()), (1, "grade"));
        assert_eq!(
            e.problem,
            Problem::SpreadsheetError {
                error: "#DIV/0!".into()
            }
        );
        seen.insert("spreadsheet_error");
        let mut body = String::from(STUDENT_HEADER);
        let blank = ",".repeat(1000);
        for i in 0..4000 {
            body.push_str(&format!("\nHS{i},A,M,2014-09-05,5,5A,Kinh,enrolled{blank}"));
        }
        let e = first_error(
            Collection::Students,
            None,
            body.as_bytes(),
            "too_many_cells",
        );
        assert_eq!(e.problem, Problem::TooManyCells { max: 4_000_000 });
        assert!(e.row > 3900 && e.row <= 4000, "{e:?}");
        seen.insert("too_many_cells");
        let e = first_error(
            Collection::Students,
            Some(XLSX_CONTENT_TYPE),
            &bomb(&[("xl/sharedStrings.xml", MAX_XLSX_SHARED_STRINGS_BYTES + 1)]),
            "xlsx_part_too_large",
        );
        assert_eq!(
            e.problem,
            Problem::XlsxPartTooLarge {
                part: "xl/sharedStrings.xml".into(),
                max_mib: 64
            }
        );
        seen.insert("xlsx_part_too_large");
        let e = first_error(
            Collection::Students,
            Some(XLSX_CONTENT_TYPE),
            &bomb(&[
                ("xl/media/a.bin", 100 << 20),
                ("xl/media/b.bin", 100 << 20),
                ("xl/media/c.bin", 100 << 20),
            ]),
            "xlsx_too_large",
        );
        assert_eq!(
            e.problem,
            Problem::XlsxTooLarge {
                max_mib: 256,
                max_parts: MAX_XLSX_PARTS
            }
        );
        seen.insert("xlsx_too_large");

        // Reader failures this test cannot provoke with a real file: their codes and
        // messages only.
        for (problem, code, message) in [
            (
                Problem::BadCsv { detail: "x".into() },
                "bad_csv",
                "the file could not be read as CSV: x",
            ),
            (
                Problem::NoWorksheet,
                "no_worksheet",
                "the XLSX file has no worksheet",
            ),
            (
                Problem::BadWorksheet { detail: "x".into() },
                "bad_worksheet",
                "the XLSX worksheet could not be read: x",
            ),
            (
                Problem::ChangeTooLarge {
                    size_kib: 5000,
                    max_kib: 4096,
                },
                "change_too_large",
                "applying this file makes a block of changes of 5000 KiB, larger than the \
                 4096 KiB a parent node accepts; split it into smaller files",
            ),
        ] {
            assert_eq!(
                (problem.code(), problem.message("").as_str()),
                (code, message)
            );
            seen.insert(code);
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            ALL_CODES
                .iter()
                .copied()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        );
    }

    /// A file as a school's export gives it (vnEdu, the sector database): BOM, title rows,
    /// semicolons, CRLF, Vietnamese headers in their own order, Vietnamese values, and the
    /// optional personal id column with an empty cell.
    #[test]
    fn files_as_schools_export_them() {
        let body = "\u{feff}SỞ GIÁO DỤC VÀ ĐÀO TẠO BẾN TRE;;\r\n\
                    DANH SÁCH HỌC SINH NĂM HỌC 2026-2027;;\r\n\
                    ;;\r\n\
                    MÃ HỌC SINH; Họ và tên ;Ngày sinh;Giới tính;Khối;Mã lớp;Dân tộc;Trạng thái;Mã định danh\r\n\
                    HS001;Nguyễn Văn An;05/09/2014;Nam;5;5A;Kinh;Đang học;083214000123\r\n\
                    HS002;\"Trần Thị; Bình\";2014-02-01;Nữ;5;5A;Kinh;Bỏ học;\r\n";
        let rows = students(body).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].id, "HS001");
        assert_eq!(rows[0].fields["personal_id"], s("083214000123"));
        assert_eq!(rows[0].fields["gender"], s("M"));
        assert_eq!(rows[0].fields["status"], s("enrolled"));
        assert_eq!(rows[1].fields["full_name"], s("Trần Thị; Bình"));
        assert_eq!(rows[1].fields["status"], s("dropped_out"));
        // An empty personal id leaves the record's as it is: no field at all.
        assert!(!rows[1].fields.contains_key("personal_id"));
        // Rows count from the header down, whatever is above it.
        let errs = errors(&body.replace("083214000123", "08321400012x"));
        let got: Vec<(usize, &str, &str)> = errs
            .iter()
            .map(|e| (e.row, e.column.as_str(), e.problem.code()))
            .collect();
        assert_eq!(got, vec![(1, "personal_id", "bad_personal_id")]);
        // A personal id is unique within the file.
        let twice = body.replace("Bỏ học;", "Bỏ học;083214000123");
        let errs = errors(&twice);
        assert_eq!(errs[0].row, 2);
        assert_eq!(errs[0].problem.code(), "duplicate_id");
        assert!(errs[0].message.contains("first used on row 1") || errs[0].message.contains('1'));

        let staff = parse_import(
            Collection::Staff,
            None,
            "Mã cán bộ,Họ và tên,Giới tính,Ngày sinh,Vị trí việc làm,Trình độ đào tạo,Trạng thái\n\
             GV1,Lê Thị Hoa,Nữ,1980-01-01,Giáo viên,Đại học,Đang làm việc\n\
             GV2,Phạm Văn Nam,Nam,1975-02-02,Cán bộ quản lý,Thạc sĩ,Đã nghỉ\n\
             GV3,Võ Văn Ba,Nam,1990-03-03,Nhân viên,Chưa đạt chuẩn,Đang làm việc\n"
                .as_bytes(),
        )
        .unwrap();
        let coded: Vec<(&str, &str, &str)> = staff
            .iter()
            .map(|r| {
                let f = |k: &str| r.fields[k].as_str().unwrap_or_default();
                (f("role"), f("qualification"), f("status"))
            })
            .collect();
        assert_eq!(
            coded,
            vec![
                ("teacher", "bachelor", "active"),
                ("manager", "master", "left"),
                ("support", "below_standard", "active"),
            ]
        );
        let classes = parse_import(
            Collection::Classes,
            None,
            "Tên lớp,Mã lớp,Khối,Mã giáo viên chủ nhiệm\nLớp 5A,5A,5,GV1\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(classes[0].id, "5A");
        assert_eq!(classes[0].fields["homeroom_staff_id"], s("GV1"));

        // A file whose header names no column is still told so, not called empty.
        let errs = errors("DANH SÁCH HỌC SINH\nmã hs,tên\nHS1,An\n");
        assert_eq!(errs[0].problem.code(), "unknown_column");
        assert_eq!(errs[0].row, 0);
        // At most ten title rows: the eleventh row is taken as the header.
        let titles = "Tiêu đề\n".repeat(11);
        let errs = errors(&format!("{titles}{STUDENT_HEADER}\n"));
        assert_eq!(errs[0].problem.code(), "unknown_column");
        let titles = "Tiêu đề\n".repeat(10);
        assert!(students(&format!("{titles}{STUDENT_HEADER}\n"))
            .unwrap()
            .is_empty());
    }

    /// The preschool groups are grades too, by code or by their Vietnamese names; the
    /// summary counts them under their own keys, in the `preschool` level.
    #[test]
    fn preschool_groups() {
        let body = format!(
            "{STUDENT_HEADER}\n\
             MN1,A,F,2023-01-01,NT,NTA,Kinh,enrolled\n\
             MN2,B,M,2022-01-01,Mẫu giáo 3-4 tuổi,MG3A,Kinh,enrolled\n\
             MN3,C,F,2021-01-01,mg4,MG4A,Kinh,enrolled\n\
             MN4,D,M,2020-01-01,MẪU GIÁO 5-6 TUỔI,MG5A,Kinh,enrolled\n\
             MN5,E,M,2020-01-01,Nhà trẻ,NTA,Kinh,enrolled\n"
        );
        let rows = students(&body).unwrap();
        let grades: Vec<&Value> = rows.iter().map(|r| &r.fields["grade"]).collect();
        assert_eq!(
            grades,
            [&s("NT"), &s("MG3"), &s("MG4"), &s("MG5"), &s("NT")]
        );
        let mut doc = crate::RecordsDoc::new(b"t");
        doc.upsert(&rows).unwrap();
        let summary = crate::summarize(Collection::Students, &doc);
        let codes: Vec<(String, u64)> = summary
            .by_grade
            .iter()
            .map(|(k, n)| (crate::grade_code(*k), *n))
            .collect();
        let want = [("NT", 2), ("MG3", 1), ("MG4", 1), ("MG5", 1)].map(|(c, n)| (c.to_string(), n));
        assert_eq!(codes, want);
        assert!(summary
            .by_grade
            .keys()
            .all(|k| crate::level_of_grade(*k) == Some("preschool")));
        let mut chain: Vec<&str> = vec!["12", "MG4", "1", "NT", "MG5", "MG3"];
        chain.sort_by_key(|c| crate::grade_rank(c));
        assert_eq!(chain, ["NT", "MG3", "MG4", "MG5", "1", "12"]);
        // Anything else is still refused, naming the groups.
        let errs = errors(&format!(
            "{STUDENT_HEADER}\nMN9,F,F,2020-01-01,MG6,X,Kinh,enrolled\n"
        ));
        assert_eq!(errs[0].problem.code(), "bad_grade");
        assert!(errs[0].message.contains("MG5"), "{}", errs[0].message);
    }

    #[test]
    fn xlsx_title_rows_and_vietnamese_headers() {
        use rust_xlsxwriter::Workbook;
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "DANH SÁCH LỚP").unwrap();
        for (c, h) in ["Mã lớp", "Tên lớp", "Khối", "Mã giáo viên chủ nhiệm"]
            .iter()
            .enumerate()
        {
            ws.write_string(2, c as u16, *h).unwrap();
        }
        ws.write_string(3, 0, "6A").unwrap();
        ws.write_string(3, 1, "Lớp 6A").unwrap();
        ws.write_number(3, 2, 6.0).unwrap();
        ws.write_string(4, 0, "6B").unwrap();
        ws.write_string(4, 1, "Lớp 6B").unwrap();
        ws.write_number(4, 2, 13.0).unwrap();
        let body = wb.save_to_buffer().unwrap();
        let errs = parse_import(Collection::Classes, Some(XLSX_CONTENT_TYPE), &body)
            .unwrap_err()
            .errors;
        let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.row, e.column.as_str())).collect();
        assert_eq!(got, vec![(2, "grade")], "{errs:?}");
    }

    fn xlsx_students() -> Vec<u8> {
        use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        let date = Format::new().set_num_format("dd/mm/yyyy");
        // Column order differs from the CONTRACT's.
        let header = [
            "full_name",
            "student_id",
            "gender",
            "birth_date",
            "grade",
            "class_id",
            "ethnicity",
            "status",
        ];
        for (c, h) in header.iter().enumerate() {
            ws.write_string(0, c as u16, *h).unwrap();
        }
        ws.write_string(1, 0, "Nguyễn Văn An").unwrap();
        ws.write_number(1, 1, 12345.0).unwrap();
        ws.write_string(1, 2, "Nam").unwrap();
        let dt = ExcelDateTime::from_ymd(2014, 9, 5).unwrap();
        ws.write_datetime_with_format(1, 3, &dt, &date).unwrap();
        ws.write_number(1, 4, 5.0).unwrap();
        ws.write_string(1, 5, "5A").unwrap();
        ws.write_string(1, 6, "Kinh").unwrap();
        ws.write_string(1, 7, "Đang học").unwrap();
        // Row 2 is left blank; row 3 has a text date and a bad grade.
        ws.write_string(3, 0, "Trần Thị Bình").unwrap();
        ws.write_string(3, 1, "HS002").unwrap();
        ws.write_string(3, 2, "F").unwrap();
        ws.write_string(3, 3, "05/09/2014").unwrap();
        ws.write_number(3, 4, 5.5).unwrap();
        ws.write_string(3, 5, "5A").unwrap();
        ws.write_string(3, 6, "Tày").unwrap();
        ws.write_string(3, 7, "enrolled").unwrap();
        wb.save_to_buffer().unwrap()
    }

    #[test]
    fn xlsx_round_trip() {
        let bytes = xlsx_students();
        // Detected by content type and by the zip signature alike.
        for ct in [
            Some(XLSX_CONTENT_TYPE),
            None,
            Some("application/octet-stream"),
        ] {
            let errs = parse_import(Collection::Students, ct, &bytes)
                .unwrap_err()
                .errors;
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert_eq!((errs[0].row, errs[0].column.as_str()), (3, "grade"));
            assert!(errs[0].message.contains("\"5.5\""), "{}", errs[0].message);
        }
    }

    #[test]
    fn xlsx_values_are_normalised() {
        use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        for (c, h) in STUDENT_HEADER.split(',').enumerate() {
            ws.write_string(0, c as u16, h).unwrap();
        }
        ws.write_number(1, 0, 12345.0).unwrap();
        ws.write_string(1, 1, "Nguyễn Văn An").unwrap();
        ws.write_string(1, 2, "Nam").unwrap();
        let dt = ExcelDateTime::from_ymd(2014, 9, 5).unwrap();
        ws.write_datetime_with_format(1, 3, &dt, &Format::new().set_num_format("yyyy-mm-dd"))
            .unwrap();
        ws.write_number(1, 4, 5.0).unwrap();
        ws.write_string(1, 5, "5A").unwrap();
        ws.write_string(1, 6, "Kinh").unwrap();
        ws.write_string(1, 7, "Đang học").unwrap();
        let bytes = wb.save_to_buffer().unwrap();
        let rows = parse_import(Collection::Students, Some(XLSX_CONTENT_TYPE), &bytes).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, "12345");
        assert_eq!(rows[0].fields["grade"], Value::Int(5));
        assert_eq!(rows[0].fields["birth_date"], s("2014-09-05"));
        assert_eq!(rows[0].fields["gender"], s("M"));
        assert_eq!(rows[0].fields["status"], s("enrolled"));
        assert_eq!(rows[0].fields["full_name"], s("Nguyễn Văn An"));
    }

    /// A real one-row students workbook whose parts `extra` are replaced (or added) by
    /// parts of the given inflated size, deflated: a zip bomb when they are large.
    fn bomb(extra: &[(&str, u64)]) -> Vec<u8> {
        let parts: Vec<(&str, Part)> = extra.iter().map(|(n, s)| (*n, Part::Padding(*s))).collect();
        with_parts(&parts)
    }

    enum Part {
        /// That many bytes of padding.
        Padding(u64),
        /// This text.
        Text(String),
    }

    /// A real one-row students workbook whose parts `extra` are replaced (or added).
    fn with_parts(extra: &[(&str, Part)]) -> Vec<u8> {
        use std::io::Write;
        use zip::write::SimpleFileOptions;
        let base = {
            let mut wb = rust_xlsxwriter::Workbook::new();
            let ws = wb.add_worksheet();
            let row = [
                "HS1",
                "Nguyễn Văn An",
                "M",
                "2014-09-05",
                "5",
                "5A",
                "Kinh",
                "enrolled",
            ];
            for (c, (h, v)) in STUDENT_HEADER.split(',').zip(row).enumerate() {
                ws.write_string(0, c as u16, h).unwrap();
                ws.write_string(1, c as u16, v).unwrap();
            }
            wb.save_to_buffer().unwrap()
        };
        let mut src = zip::ZipArchive::new(Cursor::new(&base[..])).unwrap();
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for i in 0..src.len() {
            let part = src.by_index(i).unwrap();
            let name = part.name().unwrap().into_owned();
            if extra.iter().all(|(n, _)| *n != name) {
                out.raw_copy_file(part).unwrap();
            }
        }
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(9));
        let chunk = "a".repeat(64 * 1024);
        for (name, part) in extra {
            out.start_file(*name, opts).unwrap();
            match part {
                Part::Padding(size) => {
                    let mut left = *size;
                    while left > 0 {
                        let n = left.min(chunk.len() as u64) as usize;
                        out.write_all(&chunk.as_bytes()[..n]).unwrap();
                        left -= n as u64;
                    }
                }
                Part::Text(text) => out.write_all(text.as_bytes()).unwrap(),
            }
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn xlsx_bombs_are_refused_before_the_reader_inflates_them() {
        // 1 GiB of shared strings in a file of about a megabyte.
        let file = bomb(&[("xl/sharedStrings.xml", 1 << 30)]);
        println!("bomb: {} KiB inflating to 1 GiB", file.len() / 1024);
        assert!(file.len() < 4 << 20, "{}", file.len());
        let started = std::time::Instant::now();
        let errs = parse_import(Collection::Students, Some(XLSX_CONTENT_TYPE), &file)
            .unwrap_err()
            .errors;
        println!("refused in {:?}", started.elapsed());
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!((errs[0].row, errs[0].column.as_str()), (0, ""));
        assert_eq!(errs[0].problem.code(), "xlsx_part_too_large");
        assert!(
            errs[0].message.contains("xl/sharedStrings.xml"),
            "{}",
            errs[0].message
        );
        // Found by the content type or by the zip signature alone.
        let errs = parse_import(Collection::Students, None, &file)
            .unwrap_err()
            .errors;
        assert_eq!(errs[0].problem.code(), "xlsx_part_too_large");
        // A worksheet part under its limit but over the strings' limit is accepted as far
        // as sizes go: only the shared strings have the smaller limit.
        let big_sheet = bomb(&[("xl/media/pad.bin", MAX_XLSX_SHARED_STRINGS_BYTES + 1)]);
        let rows = parse_import(Collection::Students, Some(XLSX_CONTENT_TYPE), &big_sheet).unwrap();
        assert_eq!(rows.len(), 1);
        // Any part over the general limit.
        let errs = parse_import(
            Collection::Students,
            Some(XLSX_CONTENT_TYPE),
            &bomb(&[("xl/worksheets/sheet1.xml", MAX_XLSX_PART_BYTES + 1)]),
        )
        .unwrap_err()
        .errors;
        assert_eq!(
            errs[0].problem,
            Problem::XlsxPartTooLarge {
                part: "xl/worksheets/sheet1.xml".into(),
                max_mib: 128
            }
        );
        // The same workbook without padding still imports.
        let rows = parse_import(Collection::Students, Some(XLSX_CONTENT_TYPE), &bomb(&[])).unwrap();
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn a_header_cell_at_a_huge_column_costs_no_memory() {
        // Found by the fuzzer: a cell reference whose column letters overflow claims a
        // column near u32::MAX; the header map was a vector indexed by column.
        let far = format!("{}A1", "E".repeat(200));
        let sheet = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="{far}" t="inlineStr"><is><t>student_id</t></is></c></row></sheetData></worksheet>"#
        );
        let file = with_parts(&[("xl/worksheets/sheet1.xml", Part::Text(sheet))]);
        let errs = parse_import(Collection::Students, Some(XLSX_CONTENT_TYPE), &file)
            .unwrap_err()
            .errors;
        // The header is read (the far column is recognised) and the missing ones named.
        assert!(
            errs.iter().all(|e| e.problem.code() == "missing_column"),
            "{errs:?}"
        );
        assert!(errs.iter().any(|e| e.column == "full_name"), "{errs:?}");
        assert!(errs.iter().all(|e| e.column != "student_id"), "{errs:?}");
    }

    /// A profile file of one row: 12 solid, 2 semi-solid, no temporary classrooms, 3
    /// toilets, clean water, national standard level 1, and a place.
    const PROFILE_FILE: &str = "classrooms_solid,classrooms_semi_solid,classrooms_temporary,\
                                toilets,clean_water,national_standard,latitude,longitude\n\
                                12,2,0,3,yes,level1,10.24,106.37\n";

    #[test]
    fn results_health_and_profile_as_schools_export_them() {
        let roster = test_roster();
        // Results: Vietnamese headers and values, primary (no conduct) and secondary.
        let body = "Mã học sinh;Học kỳ;Kết quả học tập;Kết quả rèn luyện\n\
                    HS1;Học kỳ I;Hoàn thành tốt;\n\
                    HS6;Học kỳ I;Khá;Tốt\n\
                    HS6;Cả năm;Chưa đạt;Đạt\n";
        let rows = parse_import_against(Collection::Results, None, body.as_bytes(), Some(&roster))
            .unwrap();
        let got: Vec<(String, Vec<String>)> = rows
            .iter()
            .map(|r| {
                (
                    r.id.clone(),
                    r.fields.values().map(Value::to_string).collect(),
                )
            })
            .collect();
        // Fields in name order: academic, conduct, student_id, term.
        assert_eq!(
            got,
            [
                ("HS1|HK1".to_string(), vec!["good", "", "HS1", "HK1"]),
                (
                    "HS6|HK1".to_string(),
                    vec!["good", "excellent", "HS6", "HK1"]
                ),
                ("HS6|CN".to_string(), vec!["fail", "pass", "HS6", "CN"]),
            ]
            .map(|(id, v)| (id, v.into_iter().map(String::from).collect()))
        );
        // The same student and term twice is a duplicate.
        let twice = "student_id,term,academic,conduct\nHS6,HK1,good,good\nHS6,Học kỳ I,pass,pass\n";
        let e = parse_import_against(Collection::Results, None, twice.as_bytes(), Some(&roster))
            .unwrap_err();
        assert_eq!(e.errors[0].problem.code(), "duplicate_id");
        assert_eq!(e.errors[0].row, 2);
        // Grades 6–12 need a conduct result.
        let none = "student_id,term,academic,conduct\nHS6,HK1,good,\n";
        let e = parse_import_against(Collection::Results, None, none.as_bytes(), Some(&roster))
            .unwrap_err();
        assert_eq!(
            (e.errors[0].column.as_str(), e.errors[0].problem.code()),
            ("conduct", "empty")
        );

        // Health: decimal commas, Vietnamese nutrition, two exams of one student.
        let body = "Mã học sinh,Ngày khám,Chiều cao (cm),Cân nặng (kg),Tình trạng dinh dưỡng\n\
                    HS1,05/09/2026,\"128,5\",24,Bình thường\n\
                    HS1,2026-11-10,130,\"31,0\",Thừa cân\n\
                    MN1,2026-09-05,101,15.25,Suy dinh dưỡng thể thấp còi\n";
        let rows =
            parse_import_against(Collection::Health, None, body.as_bytes(), Some(&roster)).unwrap();
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["HS1|2026-09-05", "HS1|2026-11-10", "MN1|2026-09-05"]);
        assert_eq!(rows[0].fields["height_cm"], Value::Str("128.5".into()));
        assert_eq!(rows[1].fields["weight_kg"], Value::Str("31".into()));
        assert_eq!(rows[1].fields["nutrition"], Value::Str("overweight".into()));
        assert_eq!(rows[2].fields["nutrition"], Value::Str("stunted".into()));
        let e = parse_import_against(
            Collection::Health,
            None,
            b"student_id,exam_date,height_cm,weight_kg,nutrition\nHS1,2026-10-01,250,30,normal\n",
            Some(&roster),
        )
        .unwrap_err();
        assert_eq!(e.errors[0].column, "height_cm");

        // Profile: Vietnamese headers and values; coordinates optional.
        let body = "Phòng học kiên cố,Phòng học bán kiên cố,Phòng học tạm,Nhà vệ sinh,Nước sạch,Chuẩn quốc gia\n\
                    12,2.0,0,3,Có,Mức độ 2\n";
        let rows = parse_import(Collection::Profile, None, body.as_bytes()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, PROFILE_ID);
        assert_eq!(rows[0].fields["classrooms_semi_solid"], Value::Int(2));
        assert_eq!(rows[0].fields["clean_water"], Value::Str("yes".into()));
        assert_eq!(
            rows[0].fields["national_standard"],
            Value::Str("level2".into())
        );
        assert!(!rows[0].fields.contains_key("latitude"));
        let rows = parse_import(Collection::Profile, None, PROFILE_FILE.as_bytes()).unwrap();
        assert_eq!(rows[0].fields["latitude"], Value::Str("10.24".into()));
        let e = parse_import(
            Collection::Profile,
            None,
            PROFILE_FILE.replace("10.24", "30").as_bytes(),
        )
        .unwrap_err();
        assert_eq!(e.errors[0].column, "latitude");
        let header_only = PROFILE_FILE.lines().next().unwrap();
        let e = parse_import(Collection::Profile, None, header_only.as_bytes()).unwrap_err();
        assert_eq!(e.errors[0].problem, Problem::NotOneRow { rows: 0 });
        // Without a roster (the simulator, tests) results are not checked against one.
        parse_import(
            Collection::Results,
            None,
            b"student_id,term,academic,conduct\nX,HK1,good,\n",
        )
        .unwrap();
    }

    /// Every template is a file its kind imports as it is (CSV, semicolons as a
    /// spreadsheet in Vietnamese settings writes it, with the example's decimal commas).
    #[test]
    fn every_template_imports_as_it_is() {
        for c in Collection::ALL {
            let (headers, row) = crate::template(c);
            assert_eq!(headers.len(), row.len(), "{c}");
            let body = format!("{}\n{}\n", headers.join(";"), row.join(";"));
            let rows =
                parse_import(c, None, body.as_bytes()).unwrap_or_else(|e| panic!("{c}: {e}"));
            assert_eq!(rows.len(), 1, "{c}");
        }
    }

    #[test]
    fn grade_forms() {
        assert_eq!(grade("7").unwrap(), Value::Int(7));
        assert_eq!(grade("07").unwrap(), Value::Int(7));
        assert_eq!(grade("7.0").unwrap(), Value::Int(7));
        for bad in ["", "0", "13", "-1", "+5", "5.5", "7.", "seven", "1e1"] {
            assert!(grade(bad).is_err(), "{bad}");
        }
    }
}
