//! What can be wrong with an imported file, as data.
//!
//! [`parse_import`](crate::parse_import) reports every problem as a [`RowError`](crate::RowError)
//! holding a [`Problem`]: a stable machine-readable kind ([`Problem::code`]) with the
//! values needed to explain it. [`Problem::message`] is the English sentence the JSON
//! API has always returned; user interfaces render the same `Problem` in their own
//! language instead of translating that sentence.

use serde::{Deserialize, Serialize};

/// One kind of problem found in an imported file, with its parameters.
///
/// Values taken from the file (`value`, `name`, ...) are stored as shown to the user:
/// control characters escaped (`\u{7}`) and cut after 80 characters with `…`; a
/// message puts them in double quotes.
///
/// Not `#[non_exhaustive]` on purpose: a new kind must break every exhaustive
/// `match` that renders problems, so no translation is forgotten.
///
/// Serialised adjacently tagged: `{"code":"bad_grade","params":{"value":"13"}}`
/// (`params` absent for kinds without parameters). Flattened into a
/// [`RowError`](crate::RowError), this adds `code` and `params` next to `row`,
/// `column` and `message`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "code", content = "params", rename_all = "snake_case")]
pub enum Problem {
    // --- The file as a whole (row 0, no column). ---
    /// A profile file has no data row or more than one.
    NotOneRow {
        /// The data rows it has.
        rows: usize,
    },
    /// The file is larger than [`MAX_IMPORT_BYTES`](crate::MAX_IMPORT_BYTES).
    FileTooLarge {
        /// The file's size in MiB, rounded up.
        size_mib: usize,
        /// The largest accepted size in MiB.
        max_mib: usize,
    },
    /// The file is an old binary Excel `.xls` workbook.
    XlsFile,
    /// The file is UTF-16 text (it starts with a UTF-16 byte order mark).
    Utf16File,
    /// The CSV reader failed.
    BadCsv {
        /// The reader's error, in English.
        detail: String,
    },
    /// The XLSX workbook cannot be opened.
    BadXlsx {
        /// The reader's error, in English.
        detail: String,
    },
    /// The XLSX workbook has no worksheet.
    NoWorksheet,
    /// The first worksheet cannot be read (here, or from this row on).
    BadWorksheet {
        /// The reader's error, in English.
        detail: String,
    },
    /// The file has no header row (it is empty or blank).
    EmptyFile {
        /// The expected header, comma-separated.
        expected: String,
    },
    /// The file has more than [`MAX_IMPORT_ROWS`](crate::MAX_IMPORT_ROWS) data rows
    /// (reported on the first row over the limit).
    TooManyRows {
        /// The most data rows accepted.
        max: usize,
    },
    /// The file has more than [`MAX_IMPORT_CELLS`](crate::MAX_IMPORT_CELLS) cells
    /// (blank ones included; reported on the row where the limit is passed).
    TooManyCells {
        /// The most cells accepted.
        max: usize,
    },
    /// One part of the XLSX workbook (a file inside the zip) inflates to more than its
    /// limit ([`MAX_XLSX_PART_BYTES`](crate::MAX_XLSX_PART_BYTES), or
    /// [`MAX_XLSX_SHARED_STRINGS_BYTES`](crate::MAX_XLSX_SHARED_STRINGS_BYTES) for the
    /// shared strings): a damaged or hostile file. Nothing of it is parsed.
    XlsxPartTooLarge {
        /// The part's name inside the workbook, e.g. `xl/sharedStrings.xml`.
        part: String,
        /// The part's limit in MiB.
        max_mib: usize,
    },
    /// The XLSX workbook inflates to more than
    /// [`MAX_XLSX_TOTAL_BYTES`](crate::MAX_XLSX_TOTAL_BYTES) in all, or holds more than
    /// [`MAX_XLSX_PARTS`](crate::MAX_XLSX_PARTS) parts. Nothing of it is parsed.
    XlsxTooLarge {
        /// The limit on the inflated size of all parts together, in MiB.
        max_mib: usize,
        /// The most parts accepted.
        max_parts: usize,
    },
    /// Applying the file makes one signed block of changes larger than a peer accepts
    /// (`MAX_ENTRY_BYTES`), so it could never be sent up: refused before anything is
    /// written.
    ChangeTooLarge {
        /// The block's size in KiB, rounded up.
        size_kib: usize,
        /// The largest block a peer accepts, in KiB.
        max_kib: usize,
    },

    // --- One cell (header or data; the column names it). ---
    /// The cell's bytes are not UTF-8.
    NotUtf8,
    /// The worksheet cell holds a spreadsheet error such as `#DIV/0!`.
    SpreadsheetError {
        /// The error as the spreadsheet shows it.
        error: String,
    },

    // --- The header row (row 0; the column is the header name). ---
    /// A column is named twice.
    DuplicateColumn,
    /// A header names no known column.
    UnknownColumn {
        /// The header as written (lower-cased, trimmed).
        name: String,
        /// The expected header, comma-separated.
        expected: String,
        /// The header contains `;` or a tab: the file is not comma-separated.
        wrong_separator: bool,
    },
    /// A column of the collection is not in the header.
    MissingColumn {
        /// The expected header, comma-separated.
        expected: String,
    },

    // --- A data row. ---
    /// The row has a value in a column that has no header.
    ValueWithoutHeader {
        /// The 1-based position of that column.
        position: usize,
    },
    /// A required id (`student_id`, `class_id`, ...) is empty.
    EmptyId,
    /// A required text (`full_name`, `ethnicity`, ...) is empty.
    Empty,
    /// The value contains control characters.
    ControlCharacters {
        /// The value.
        value: String,
    },
    /// The value is too long.
    TooLong {
        /// The most characters accepted.
        max: usize,
        /// The value.
        value: String,
    },
    /// `gender` is not `M`, `F`, `Nam` or `Nữ`.
    BadGender {
        /// The value.
        value: String,
    },
    /// A student `status` is not one of the four codes or their Vietnamese forms.
    BadStudentStatus {
        /// The value.
        value: String,
    },
    /// A staff `status` is not `active` or `left`.
    BadStaffStatus {
        /// The value.
        value: String,
    },
    /// `role` is not `teacher`, `manager` or `support`.
    BadRole {
        /// The value.
        value: String,
    },
    /// `qualification` is not one of the five codes.
    BadQualification {
        /// The value.
        value: String,
    },
    /// `personal_id` is not 12 digits.
    BadPersonalId {
        /// The value.
        value: String,
    },
    /// `grade` is not a whole number from 1 to 12 nor a preschool group.
    BadGrade {
        /// The value.
        value: String,
    },
    /// `birth_date` is not written `YYYY-MM-DD` or `DD/MM/YYYY` (or is empty).
    BadDate {
        /// The value.
        value: String,
    },
    /// `birth_date` is well formed but no such day exists (`2015-02-30`).
    NotACalendarDate {
        /// The value.
        value: String,
    },
    /// `birth_date` is before `first_year`-01-01 or after today.
    DateOutOfRange {
        /// The value.
        value: String,
        /// The earliest year accepted.
        first_year: i32,
    },
    /// `term` is not HK1, HK2 or CN (or Học kỳ I, Học kỳ II, Cả năm).
    BadTerm {
        /// The value.
        value: String,
    },
    /// `academic` or `conduct` is not one of the four levels.
    BadLevel {
        /// The value.
        value: String,
    },
    /// A number is not a decimal number between `min` and `max`.
    BadNumber {
        /// The value.
        value: String,
        /// The smallest accepted.
        min: String,
        /// The largest accepted.
        max: String,
    },
    /// A count is not a whole number, 0 or more.
    BadCount {
        /// The value.
        value: String,
    },
    /// `nutrition` is not one of the five codes.
    BadNutrition {
        /// The value.
        value: String,
    },
    /// `clean_water` is not yes or no.
    BadYesNo {
        /// The value.
        value: String,
    },
    /// `national_standard` is not none, level1 or level2.
    BadStandard {
        /// The value.
        value: String,
    },
    /// `student_id` names no student of this school in this school year.
    UnknownStudent {
        /// The student id.
        value: String,
    },
    /// A result for a preschool student (preschool has no results).
    PreschoolResult {
        /// The student id.
        value: String,
    },
    /// A conduct result for a student of grades 1–5 (they have none).
    ConductInPrimary {
        /// The value.
        value: String,
    },
    /// The record id was already used on an earlier row of the file.
    DuplicateId {
        /// The id.
        value: String,
        /// The data row where it was first used.
        first_row: usize,
    },
}

impl Problem {
    /// The stable machine-readable code, e.g. `not_a_calendar_date` (the `code` of
    /// the JSON error).
    pub fn code(&self) -> &'static str {
        match self {
            Problem::NotOneRow { .. } => "not_one_row",
            Problem::FileTooLarge { .. } => "file_too_large",
            Problem::XlsFile => "xls_file",
            Problem::Utf16File => "utf16_file",
            Problem::BadCsv { .. } => "bad_csv",
            Problem::BadXlsx { .. } => "bad_xlsx",
            Problem::NoWorksheet => "no_worksheet",
            Problem::BadWorksheet { .. } => "bad_worksheet",
            Problem::EmptyFile { .. } => "empty_file",
            Problem::TooManyRows { .. } => "too_many_rows",
            Problem::TooManyCells { .. } => "too_many_cells",
            Problem::XlsxPartTooLarge { .. } => "xlsx_part_too_large",
            Problem::XlsxTooLarge { .. } => "xlsx_too_large",
            Problem::ChangeTooLarge { .. } => "change_too_large",
            Problem::NotUtf8 => "not_utf8",
            Problem::SpreadsheetError { .. } => "spreadsheet_error",
            Problem::DuplicateColumn => "duplicate_column",
            Problem::UnknownColumn { .. } => "unknown_column",
            Problem::MissingColumn { .. } => "missing_column",
            Problem::ValueWithoutHeader { .. } => "value_without_header",
            Problem::EmptyId => "empty_id",
            Problem::Empty => "empty",
            Problem::ControlCharacters { .. } => "control_characters",
            Problem::TooLong { .. } => "too_long",
            Problem::BadGender { .. } => "bad_gender",
            Problem::BadStudentStatus { .. } => "bad_student_status",
            Problem::BadStaffStatus { .. } => "bad_staff_status",
            Problem::BadRole { .. } => "bad_role",
            Problem::BadQualification { .. } => "bad_qualification",
            Problem::BadGrade { .. } => "bad_grade",
            Problem::BadPersonalId { .. } => "bad_personal_id",
            Problem::BadDate { .. } => "bad_date",
            Problem::NotACalendarDate { .. } => "not_a_calendar_date",
            Problem::DateOutOfRange { .. } => "date_out_of_range",
            Problem::DuplicateId { .. } => "duplicate_id",
            Problem::BadTerm { .. } => "bad_term",
            Problem::BadLevel { .. } => "bad_level",
            Problem::BadNumber { .. } => "bad_number",
            Problem::BadCount { .. } => "bad_count",
            Problem::BadNutrition { .. } => "bad_nutrition",
            Problem::BadYesNo { .. } => "bad_yes_no",
            Problem::BadStandard { .. } => "bad_standard",
            Problem::UnknownStudent { .. } => "unknown_student",
            Problem::PreschoolResult { .. } => "preschool_result",
            Problem::ConductInPrimary { .. } => "conduct_in_primary",
        }
    }

    /// The English sentence for this problem in `column` (the `column` of its
    /// [`RowError`](crate::RowError); a CSV header code such as `birth_date`).
    pub fn message(&self, column: &str) -> String {
        match self {
            Problem::NotOneRow { rows } => format!(
                "a profile file has exactly one data row (the school's profile), this one \
                 has {rows}"
            ),
            Problem::FileTooLarge { size_mib, max_mib } => format!(
                "the file is {size_mib} MiB; the largest accepted file is {max_mib} MiB, \
                 split it into smaller files"
            ),
            Problem::XlsFile => {
                "this looks like an old Excel .xls file; save it as .xlsx or as CSV UTF-8".into()
            }
            Problem::Utf16File => {
                "this file is UTF-16 text; save it as CSV UTF-8 or as .xlsx".into()
            }
            Problem::BadCsv { detail } => format!("the file could not be read as CSV: {detail}"),
            Problem::BadXlsx { detail } => format!("the XLSX file could not be read: {detail}"),
            Problem::NoWorksheet => "the XLSX file has no worksheet".into(),
            Problem::BadWorksheet { detail } => {
                format!("the XLSX worksheet could not be read: {detail}")
            }
            Problem::EmptyFile { expected } => {
                format!("the file is empty; the first row must name the columns: {expected}")
            }
            Problem::TooManyRows { max } => {
                format!("the file has more than {max} data rows; split it into smaller files")
            }
            Problem::TooManyCells { max } => format!(
                "the file has more than {max} cells (blank ones included); delete empty \
                 rows and columns or split it into smaller files"
            ),
            Problem::XlsxPartTooLarge { part, max_mib } => format!(
                "the XLSX part {part} unpacks to more than {max_mib} MiB; the file is damaged \
                 or not a roster: save it again from the spreadsheet, or as CSV UTF-8"
            ),
            Problem::XlsxTooLarge { max_mib, max_parts } => format!(
                "the XLSX file unpacks to more than {max_mib} MiB or holds more than \
                 {max_parts} parts; the file is damaged or not a roster: save it again from \
                 the spreadsheet, or as CSV UTF-8"
            ),
            Problem::ChangeTooLarge { size_kib, max_kib } => format!(
                "applying this file makes a block of changes of {size_kib} KiB, larger than \
                 the {max_kib} KiB a parent node accepts; split it into smaller files"
            ),
            Problem::NotUtf8 => {
                "this cell is not valid UTF-8 text; save the file as \"CSV UTF-8\"".into()
            }
            Problem::SpreadsheetError { error } => {
                format!("this cell holds a spreadsheet error ({error}); enter a value")
            }
            Problem::DuplicateColumn => format!("column {column} appears more than once"),
            Problem::UnknownColumn {
                name,
                expected,
                wrong_separator,
            } => {
                let hint = if *wrong_separator {
                    " (the columns must be separated by commas or semicolons)"
                } else {
                    ""
                };
                format!("unknown column \"{name}\"; expected columns: {expected}{hint}")
            }
            Problem::MissingColumn { expected } => {
                format!("column {column} is missing; expected columns: {expected}")
            }
            Problem::ValueWithoutHeader { position } => {
                format!("this row has a value in column {position}, which has no header")
            }
            Problem::EmptyId => format!("{column} is empty; every row needs one"),
            Problem::Empty => format!("{column} is empty"),
            Problem::ControlCharacters { value } => {
                format!("{column} must not contain control characters, got \"{value}\"")
            }
            Problem::TooLong { max, value } => {
                format!("{column} must be at most {max} characters, got \"{value}\"")
            }
            Problem::BadGender { value } => {
                format!("{column} must be M or F (or Nam, Nữ), got \"{value}\"")
            }
            Problem::BadStudentStatus { value } => format!(
                "{column} must be enrolled, dropped_out, transferred_out or graduated \
                 (or Đang học, Bỏ học, Chuyển đi, Tốt nghiệp), got \"{value}\""
            ),
            Problem::BadStaffStatus { value } => format!(
                "{column} must be active or left (or Đang làm việc, Đã nghỉ), got \"{value}\""
            ),
            Problem::BadRole { value } => format!(
                "{column} must be teacher, manager or support (or Giáo viên, Cán bộ quản lý, \
                 Nhân viên), got \"{value}\""
            ),
            Problem::BadQualification { value } => format!(
                "{column} must be below_standard, college, bachelor, master or doctor \
                 (or Chưa đạt chuẩn, Cao đẳng, Đại học, Thạc sĩ, Tiến sĩ), got \"{value}\""
            ),
            Problem::BadPersonalId { value } => format!(
                "{column} must be a personal id number of exactly 12 digits, got \"{value}\""
            ),
            Problem::BadGrade { value } => format!(
                "{column} must be a whole number from 1 to 12 or a preschool group NT, MG3, \
                 MG4, MG5, got \"{value}\""
            ),
            Problem::BadDate { value } => {
                format!("{column} must be a date written YYYY-MM-DD or DD/MM/YYYY, got \"{value}\"")
            }
            Problem::NotACalendarDate { value } => {
                format!("{column} \"{value}\" is not a real calendar date")
            }
            Problem::DateOutOfRange { value, first_year } => {
                format!("{column} \"{value}\" must be between {first_year}-01-01 and today")
            }
            Problem::DuplicateId { value, first_row } => {
                format!("{column} \"{value}\" is already used on row {first_row}")
            }
            Problem::BadTerm { value } => format!(
                "{column} must be HK1, HK2 or CN (or Học kỳ I, Học kỳ II, Cả năm), \
                 got \"{value}\""
            ),
            Problem::BadLevel { value } => format!(
                "{column} must be excellent, good, pass or fail (or Tốt, Khá, Đạt, Chưa đạt; \
                 Hoàn thành xuất sắc, Hoàn thành tốt, Hoàn thành, Chưa hoàn thành), \
                 got \"{value}\""
            ),
            Problem::BadNumber { value, min, max } => {
                format!("{column} must be a number from {min} to {max}, got \"{value}\"")
            }
            Problem::BadCount { value } => {
                format!("{column} must be a whole number, 0 or more, got \"{value}\"")
            }
            Problem::BadNutrition { value } => format!(
                "{column} must be normal, underweight, stunted, overweight or obese (or Bình \
                 thường, Suy dinh dưỡng thể nhẹ cân, Suy dinh dưỡng thể thấp còi, Thừa cân, \
                 Béo phì), got \"{value}\""
            ),
            Problem::BadYesNo { value } => {
                format!("{column} must be yes or no (or Có, Không), got \"{value}\"")
            }
            Problem::BadStandard { value } => format!(
                "{column} must be none, level1 or level2 (or Chưa đạt, Mức độ 1, Mức độ 2), \
                 got \"{value}\""
            ),
            Problem::UnknownStudent { value } => format!(
                "{column} \"{value}\" is not a student of this school in this school year; \
                 import the students first"
            ),
            Problem::PreschoolResult { value } => {
                format!("student \"{value}\" is in a preschool group, which has no results")
            }
            Problem::ConductInPrimary { value } => {
                format!("{column} must be empty for grades 1 to 5, got \"{value}\"")
            }
        }
    }
}

/// A value from the file as a message shows it: control characters escaped, cut
/// after 80 characters with `…` (no quotes).
pub(crate) fn shown(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == 80 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
