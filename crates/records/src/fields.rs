//! The columns of each kind of import: their codes, Vietnamese headers and how each value
//! is checked and normalised (CONTRACT "CSV import" and Part 2 "Files as schools export
//! them").

use chrono::{Datelike, NaiveDate};
use unicode_normalization::UnicodeNormalization;

use crate::problem::{shown, Problem};
use crate::search::fold;
use crate::{Collection, Value};

pub(crate) const MAX_ID_CHARS: usize = 64;
const MAX_TEXT_CHARS: usize = 200;
const FIRST_YEAR: i32 = 1900;

/// How a column is validated and normalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Id,
    OptionalId,
    Name,
    Text,
    Gender,
    BirthDate,
    Grade,
    StudentStatus,
    StaffStatus,
    Role,
    Qualification,
    /// Mã định danh cá nhân: 12 digits, unique within the file; the column may be absent
    /// and a cell empty (the record keeps what it had).
    PersonalId,
    /// `term`: HK1, HK2, CN.
    Term,
    /// `academic` and `conduct`: excellent, good, pass, fail.
    Level,
    /// `conduct`: a [`Kind::Level`] that is empty for grades 1–5.
    Conduct,
    /// `exam_date`: a date as `birth_date`.
    Date,
    /// `height_cm`: a decimal number from 40 to 220.
    Height,
    /// `weight_kg`: a decimal number from 2 to 200.
    Weight,
    /// `nutrition`.
    Nutrition,
    /// A whole number, 0 or more (classrooms, toilets).
    Count,
    /// `clean_water`: yes or no.
    YesNo,
    /// `national_standard`: none, level1, level2.
    Standard,
    /// `latitude`: 8–24, optional.
    Latitude,
    /// `longitude`: 102–110, optional.
    Longitude,
}

impl Kind {
    /// Whether the column may be left out of a file (a cell of it may then be empty too,
    /// and the record keeps what it had).
    pub(crate) fn optional(self) -> bool {
        matches!(self, Kind::PersonalId | Kind::Latitude | Kind::Longitude)
    }
}

/// The columns of one kind of import and how its record id is made.
pub(crate) struct Spec {
    /// (code, how the value is checked), in CONTRACT order.
    pub(crate) columns: &'static [(&'static str, Kind)],
    /// The columns of the header a file must have, in CONTRACT order (the expected
    /// header in messages).
    pub(crate) required: &'static [&'static str],
    /// How the record id is made.
    pub(crate) key: Key,
}

/// How a row's record id is made from its columns.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Key {
    /// The first column is the id (not stored as a field).
    First,
    /// Two columns, `a|b`, both also stored as fields (results: student and term;
    /// health: student and exam date). The second is a code or a date, so the id splits
    /// at its last `|`.
    Pair(usize, usize),
    /// One record per document, of this id (the profile).
    Single(&'static str),
}

const STUDENTS: &[(&str, Kind)] = &[
    ("student_id", Kind::Id),
    ("full_name", Kind::Name),
    ("gender", Kind::Gender),
    ("birth_date", Kind::BirthDate),
    ("grade", Kind::Grade),
    ("class_id", Kind::Id),
    ("ethnicity", Kind::Text),
    ("status", Kind::StudentStatus),
    ("personal_id", Kind::PersonalId),
];
const STAFF: &[(&str, Kind)] = &[
    ("staff_id", Kind::Id),
    ("full_name", Kind::Name),
    ("gender", Kind::Gender),
    ("birth_date", Kind::BirthDate),
    ("role", Kind::Role),
    ("qualification", Kind::Qualification),
    ("status", Kind::StaffStatus),
];
const CLASSES: &[(&str, Kind)] = &[
    ("class_id", Kind::Id),
    ("name", Kind::Name),
    ("grade", Kind::Grade),
    ("homeroom_staff_id", Kind::OptionalId),
];

const STUDENT_COLUMNS: &[&str] = &[
    "student_id",
    "full_name",
    "gender",
    "birth_date",
    "grade",
    "class_id",
    "ethnicity",
    "status",
];
const STAFF_COLUMNS: &[&str] = &[
    "staff_id",
    "full_name",
    "gender",
    "birth_date",
    "role",
    "qualification",
    "status",
];
const CLASS_COLUMNS: &[&str] = &["class_id", "name", "grade", "homeroom_staff_id"];

/// The Vietnamese header accepted in place of each column's code (as schools' exports
/// from vnEdu and the sector database name them).
pub(crate) const VIETNAMESE_HEADERS: &[(&str, &str)] = &[
    ("student_id", "Mã học sinh"),
    ("staff_id", "Mã cán bộ"),
    ("class_id", "Mã lớp"),
    ("full_name", "Họ và tên"),
    ("name", "Tên lớp"),
    ("gender", "Giới tính"),
    ("birth_date", "Ngày sinh"),
    ("grade", "Khối"),
    ("ethnicity", "Dân tộc"),
    ("status", "Trạng thái"),
    ("personal_id", "Mã định danh"),
    ("role", "Vị trí việc làm"),
    ("qualification", "Trình độ đào tạo"),
    ("homeroom_staff_id", "Mã giáo viên chủ nhiệm"),
    ("term", "Học kỳ"),
    ("academic", "Kết quả học tập"),
    ("conduct", "Kết quả rèn luyện"),
    ("exam_date", "Ngày khám"),
    ("height_cm", "Chiều cao (cm)"),
    ("weight_kg", "Cân nặng (kg)"),
    ("nutrition", "Tình trạng dinh dưỡng"),
    ("classrooms_solid", "Phòng học kiên cố"),
    ("classrooms_semi_solid", "Phòng học bán kiên cố"),
    ("classrooms_temporary", "Phòng học tạm"),
    ("toilets", "Nhà vệ sinh"),
    ("clean_water", "Nước sạch"),
    ("national_standard", "Chuẩn quốc gia"),
    ("latitude", "Vĩ độ"),
    ("longitude", "Kinh độ"),
];

/// Rows above the header a file may have (title rows such as `DANH SÁCH HỌC SINH`).
pub(crate) const MAX_TITLE_ROWS: usize = 10;

/// The index in `spec` of the column a header cell names: its code or its Vietnamese
/// header, ignoring case, surrounding spaces and diacritics.
pub(crate) fn column_of(spec: &[(&str, Kind)], header: &str) -> Option<usize> {
    let key = fold(header.trim_start_matches('\u{feff}'));
    if key.is_empty() {
        return None;
    }
    spec.iter().position(|(code, _)| {
        *code == key
            || VIETNAMESE_HEADERS
                .iter()
                .any(|(c, vi)| c == code && fold(vi) == key)
    })
}

const RESULTS: &[(&str, Kind)] = &[
    ("student_id", Kind::Id),
    ("term", Kind::Term),
    ("academic", Kind::Level),
    ("conduct", Kind::Conduct),
];
const HEALTH: &[(&str, Kind)] = &[
    ("student_id", Kind::Id),
    ("exam_date", Kind::Date),
    ("height_cm", Kind::Height),
    ("weight_kg", Kind::Weight),
    ("nutrition", Kind::Nutrition),
];
const PROFILE: &[(&str, Kind)] = &[
    ("classrooms_solid", Kind::Count),
    ("classrooms_semi_solid", Kind::Count),
    ("classrooms_temporary", Kind::Count),
    ("toilets", Kind::Count),
    ("clean_water", Kind::YesNo),
    ("national_standard", Kind::Standard),
    ("latitude", Kind::Latitude),
    ("longitude", Kind::Longitude),
];
const RESULT_COLUMNS: &[&str] = &["student_id", "term", "academic", "conduct"];
const HEALTH_COLUMNS: &[&str] = &[
    "student_id",
    "exam_date",
    "height_cm",
    "weight_kg",
    "nutrition",
];
const PROFILE_COLUMNS: &[&str] = &[
    "classrooms_solid",
    "classrooms_semi_solid",
    "classrooms_temporary",
    "toilets",
    "clean_water",
    "national_standard",
];

/// The record id of the one record of a profile document.
pub const PROFILE_ID: &str = "profile";

/// The columns of an import of `collection`.
pub(crate) fn spec(collection: Collection) -> Spec {
    let (columns, required, key) = match collection {
        Collection::Students => (STUDENTS, STUDENT_COLUMNS, Key::First),
        Collection::Staff => (STAFF, STAFF_COLUMNS, Key::First),
        Collection::Classes => (CLASSES, CLASS_COLUMNS, Key::First),
        Collection::Results => (RESULTS, RESULT_COLUMNS, Key::Pair(0, 1)),
        Collection::Health => (HEALTH, HEALTH_COLUMNS, Key::Pair(0, 1)),
        Collection::Profile => (PROFILE, PROFILE_COLUMNS, Key::Single(PROFILE_ID)),
    };
    Spec {
        columns,
        required,
        key,
    }
}

/// How a column is typed outside the node (`eduioc export`): what its values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// Text (ids, names, codes; a grade, which is a number or a preschool group code).
    Text,
    /// A date, stored as `YYYY-MM-DD`.
    Date,
    /// A decimal number, stored as its shortest text.
    Number,
    /// A whole number.
    Count,
    /// `yes` or `no`.
    YesNo,
}

/// The columns of the records of `collection` as another database holds them, in
/// CONTRACT order, optional ones included: (code, type). For students, staff and classes
/// the first column is the record id itself (not stored as a field); results and health
/// have their id columns as fields too.
pub fn export_columns(collection: Collection) -> Vec<(&'static str, ColumnType)> {
    spec(collection)
        .columns
        .iter()
        .map(|(code, kind)| {
            let t = match kind {
                Kind::BirthDate | Kind::Date => ColumnType::Date,
                Kind::Height | Kind::Weight | Kind::Latitude | Kind::Longitude => {
                    ColumnType::Number
                }
                Kind::Count => ColumnType::Count,
                Kind::YesNo => ColumnType::YesNo,
                _ => ColumnType::Text,
            };
            (*code, t)
        })
        .collect()
}

/// Whether the first column of `collection` is the record id rather than a stored field.
pub fn id_is_first_column(collection: Collection) -> bool {
    matches!(spec(collection).key, Key::First)
}

/// The columns a file of `collection` must have, in CONTRACT order.
pub(crate) fn columns(collection: Collection) -> &'static [&'static str] {
    spec(collection).required
}

/// A template file of `collection`, as a school would fill it: every column (optional ones
/// too) under its Vietnamese header, and one example row in Vietnamese spellings.
pub fn template(collection: Collection) -> (Vec<&'static str>, Vec<&'static str>) {
    let columns = spec(collection).columns;
    let example = |code: &str| -> &'static str {
        match (collection, code) {
            (Collection::Staff, "status") => "Đang làm việc",
            (Collection::Staff, "full_name") => "Trần Thị Bình",
            (Collection::Staff, "birth_date") => "12/03/1988",
            (Collection::Staff, "gender") => "Nữ",
            (Collection::Classes, "grade") => "6",
            (_, "student_id") => "HS0001",
            (_, "staff_id") => "GV001",
            (_, "class_id") => "6A1",
            (_, "full_name") => "Nguyễn Văn An",
            (_, "name") => "Lớp 6A1",
            (_, "gender") => "Nam",
            (_, "birth_date") => "05/09/2014",
            (_, "grade") => "6",
            (_, "ethnicity") => "Kinh",
            (_, "status") => "Đang học",
            (_, "personal_id") => "001214001234",
            (_, "role") => "Giáo viên",
            (_, "qualification") => "Đại học",
            (_, "homeroom_staff_id") => "GV001",
            (_, "term") => "Học kỳ I",
            (_, "academic") => "Khá",
            (_, "conduct") => "Tốt",
            (_, "exam_date") => "15/09/2025",
            (_, "height_cm") => "145,5",
            (_, "weight_kg") => "38",
            (_, "nutrition") => "Bình thường",
            (_, "classrooms_solid") => "24",
            (_, "classrooms_semi_solid") => "4",
            (_, "classrooms_temporary") => "0",
            (_, "toilets") => "6",
            (_, "clean_water") => "Có",
            (_, "national_standard") => "Mức độ 1",
            (_, "latitude") => "21,02850",
            (_, "longitude") => "105,85420",
            _ => "",
        }
    };
    let headers = columns
        .iter()
        .map(|(code, _)| vietnamese_header(code).unwrap_or(code))
        .collect();
    let row = columns.iter().map(|(code, _)| example(code)).collect();
    (headers, row)
}

/// The Vietnamese header of a column code (`exam_date` → `Ngày khám`).
pub fn vietnamese_header(code: &str) -> Option<&'static str> {
    VIETNAMESE_HEADERS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, vi)| *vi)
}

pub(crate) fn code_key(s: &str) -> String {
    fold(s).replace([' ', '-'], "_")
}

pub(crate) fn validate(kind: Kind, raw: &str, latest: NaiveDate) -> Result<Value, Problem> {
    let value = || shown(raw);
    match kind {
        Kind::Id => id(raw, false),
        Kind::OptionalId => id(raw, true),
        Kind::Name => text(raw, MAX_TEXT_CHARS),
        Kind::Text => text(raw, MAX_TEXT_CHARS),
        Kind::Gender => code(
            raw,
            &[("m", "M"), ("f", "F"), ("nam", "M"), ("nu", "F")],
            || Problem::BadGender { value: value() },
        ),
        Kind::BirthDate | Kind::Date => date(raw, latest),
        Kind::Grade => grade(raw),
        Kind::StudentStatus => code(
            raw,
            &[
                ("enrolled", "enrolled"),
                ("dropped_out", "dropped_out"),
                ("transferred_out", "transferred_out"),
                ("graduated", "graduated"),
                ("dang_hoc", "enrolled"),
                ("bo_hoc", "dropped_out"),
                ("chuyen_di", "transferred_out"),
                ("tot_nghiep", "graduated"),
            ],
            || Problem::BadStudentStatus { value: value() },
        ),
        Kind::StaffStatus => code(
            raw,
            &[
                ("active", "active"),
                ("left", "left"),
                ("dang_lam_viec", "active"),
                ("da_nghi", "left"),
            ],
            || Problem::BadStaffStatus { value: value() },
        ),
        Kind::PersonalId => personal_id(raw),
        Kind::Term => code(
            raw,
            &[
                ("hk1", "HK1"),
                ("hk2", "HK2"),
                ("cn", "CN"),
                ("hoc_ky_i", "HK1"),
                ("hoc_ky_ii", "HK2"),
                ("hoc_ky_1", "HK1"),
                ("hoc_ky_2", "HK2"),
                ("ca_nam", "CN"),
            ],
            || Problem::BadTerm { value: value() },
        ),
        Kind::Level => level(raw),
        Kind::Conduct if raw.is_empty() => Ok(Value::Str(String::new())),
        Kind::Conduct => level(raw),
        Kind::Height => decimal(raw, 40.0, 220.0),
        Kind::Weight => decimal(raw, 2.0, 200.0),
        Kind::Latitude => decimal(raw, 8.0, 24.0),
        Kind::Longitude => decimal(raw, 102.0, 110.0),
        Kind::Nutrition => code(
            raw,
            &[
                ("normal", "normal"),
                ("underweight", "underweight"),
                ("stunted", "stunted"),
                ("overweight", "overweight"),
                ("obese", "obese"),
                ("binh_thuong", "normal"),
                ("suy_dinh_duong_the_nhe_can", "underweight"),
                ("suy_dinh_duong_the_thap_coi", "stunted"),
                ("thua_can", "overweight"),
                ("beo_phi", "obese"),
            ],
            || Problem::BadNutrition { value: value() },
        ),
        Kind::Count => count(raw),
        Kind::YesNo => code(
            raw,
            &[("yes", "yes"), ("no", "no"), ("co", "yes"), ("khong", "no")],
            || Problem::BadYesNo { value: value() },
        ),
        Kind::Standard => code(
            raw,
            &[
                ("none", "none"),
                ("level1", "level1"),
                ("level2", "level2"),
                ("chua_dat", "none"),
                ("muc_do_1", "level1"),
                ("muc_do_2", "level2"),
            ],
            || Problem::BadStandard { value: value() },
        ),
        Kind::Role => code(
            raw,
            &[
                ("teacher", "teacher"),
                ("manager", "manager"),
                ("support", "support"),
                ("giao_vien", "teacher"),
                ("can_bo_quan_ly", "manager"),
                ("nhan_vien", "support"),
            ],
            || Problem::BadRole { value: value() },
        ),
        Kind::Qualification => code(
            raw,
            &[
                ("below_standard", "below_standard"),
                ("college", "college"),
                ("bachelor", "bachelor"),
                ("master", "master"),
                ("doctor", "doctor"),
                ("chua_dat_chuan", "below_standard"),
                ("cao_dang", "college"),
                ("dai_hoc", "bachelor"),
                ("thac_si", "master"),
                ("tien_si", "doctor"),
            ],
            || Problem::BadQualification { value: value() },
        ),
    }
}

/// A result level (`academic`, `conduct`): the four codes, or their Vietnamese names
/// for grades 6–12 (Tốt, Khá, Đạt, Chưa đạt) and for grades 1–5 (Hoàn thành xuất sắc,
/// Hoàn thành tốt, Hoàn thành, Chưa hoàn thành), in that order.
fn level(raw: &str) -> Result<Value, Problem> {
    code(
        raw,
        &[
            ("excellent", "excellent"),
            ("good", "good"),
            ("pass", "pass"),
            ("fail", "fail"),
            ("tot", "excellent"),
            ("kha", "good"),
            ("dat", "pass"),
            ("chua_dat", "fail"),
            ("hoan_thanh_xuat_sac", "excellent"),
            ("hoan_thanh_tot", "good"),
            ("hoan_thanh", "pass"),
            ("chua_hoan_thanh", "fail"),
        ],
        || Problem::BadLevel { value: shown(raw) },
    )
}

/// A whole number from spreadsheets or text (`5`, and `5.0` from a cell saved as text),
/// without its fraction; `None` for anything else.
fn whole(raw: &str) -> Option<i64> {
    let whole = match raw.split_once('.') {
        Some((int, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => int,
        _ => raw,
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    whole.parse().ok()
}

/// A count: a whole number, 0 or more.
fn count(raw: &str) -> Result<Value, Problem> {
    whole(raw)
        .map(Value::Int)
        .ok_or_else(|| Problem::BadCount { value: shown(raw) })
}

/// A decimal number from `min` to `max` (a decimal point or comma), stored as its
/// shortest text (`152,5` → `152.5`).
fn decimal(raw: &str, min: f64, max: f64) -> Result<Value, Problem> {
    let text = raw.replace(',', ".");
    let ok = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|b| *b == b'.').count() <= 1;
    match text.parse::<f64>() {
        Ok(v) if ok && (min..=max).contains(&v) => Ok(Value::Str(v.to_string())),
        _ => Err(Problem::BadNumber {
            value: shown(raw),
            min: min.to_string(),
            max: max.to_string(),
        }),
    }
}

/// A personal identification number (mã định danh cá nhân): exactly 12 digits.
fn personal_id(raw: &str) -> Result<Value, Problem> {
    if raw.len() == 12 && raw.bytes().all(|b| b.is_ascii_digit()) {
        Ok(Value::Str(raw.to_owned()))
    } else {
        Err(Problem::BadPersonalId { value: shown(raw) })
    }
}

fn id(raw: &str, optional: bool) -> Result<Value, Problem> {
    let s: String = raw.nfc().collect();
    if s.is_empty() && !optional {
        return Err(Problem::EmptyId);
    }
    checked_text(s, MAX_ID_CHARS)
}

fn text(raw: &str, max: usize) -> Result<Value, Problem> {
    let s: String = raw.nfc().collect();
    if s.is_empty() {
        return Err(Problem::Empty);
    }
    checked_text(s, max)
}

/// Refuses control characters and values over `max` characters.
fn checked_text(s: String, max: usize) -> Result<Value, Problem> {
    if s.chars().any(char::is_control) {
        return Err(Problem::ControlCharacters { value: shown(&s) });
    }
    if s.chars().count() > max {
        return Err(Problem::TooLong {
            max,
            value: shown(&s),
        });
    }
    Ok(Value::Str(s))
}

fn code(
    raw: &str,
    table: &[(&str, &'static str)],
    problem: impl FnOnce() -> Problem,
) -> Result<Value, Problem> {
    let key = code_key(raw);
    table
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| Value::Str((*v).to_owned()))
        .ok_or_else(problem)
}

pub(crate) fn grade(raw: &str) -> Result<Value, Problem> {
    // The preschool groups, by code or by their Vietnamese names.
    let key = code_key(raw);
    let group = match key.as_str() {
        "nt" | "nha_tre" => Some("NT"),
        "mg3" | "mau_giao_3_4_tuoi" => Some("MG3"),
        "mg4" | "mau_giao_4_5_tuoi" => Some("MG4"),
        "mg5" | "mau_giao_5_6_tuoi" => Some("MG5"),
        _ => None,
    };
    if let Some(group) = group {
        return Ok(Value::Str(group.to_owned()));
    }
    // Accept "5" and, from spreadsheets saved as text, "5.0".
    match whole(raw) {
        Some(g) if (1..=12).contains(&g) => Ok(Value::Int(g)),
        _ => Err(Problem::BadGrade { value: shown(raw) }),
    }
}

fn date(raw: &str, latest: NaiveDate) -> Result<Value, Problem> {
    let shape = || Problem::BadDate { value: shown(raw) };
    let digits = |s: &str, min: usize, max: usize| -> Option<u32> {
        if (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let parts: Vec<&str> = if raw.contains('-') {
        raw.split('-').collect()
    } else {
        raw.split('/').collect()
    };
    let (y, m, d) = match parts.as_slice() {
        [y, m, d] if raw.contains('-') => (digits(y, 4, 4), digits(m, 1, 2), digits(d, 1, 2)),
        [d, m, y] if raw.contains('/') => (digits(y, 4, 4), digits(m, 1, 2), digits(d, 1, 2)),
        _ => return Err(shape()),
    };
    let (Some(y), Some(m), Some(d)) = (y, m, d) else {
        return Err(shape());
    };
    let Some(date) = i32::try_from(y)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, m, d))
    else {
        return Err(Problem::NotACalendarDate { value: shown(raw) });
    };
    if date.year() < FIRST_YEAR || date > latest {
        return Err(Problem::DateOutOfRange {
            value: shown(raw),
            first_year: FIRST_YEAR,
        });
    }
    Ok(Value::Str(date.format("%Y-%m-%d").to_string()))
}
