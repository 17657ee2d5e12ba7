//! UI strings in Vietnamese (the default) and English.
//!
//! Every string the UI shows is a [`T`] key; [`Lang::t`] picks its text. The table is
//! one `match`, so a key without both translations does not compile. Sentences with
//! values in them are methods of [`Lang`]; [`Lang::problem`] says what is wrong with an
//! imported file (an [`eduioc_records::Problem`]).

use eduioc_records::Problem;

/// A UI language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    /// Tiếng Việt (default).
    Vi,
    /// English.
    En,
}

impl Lang {
    /// Parses a `lang` cookie or query value.
    pub(crate) fn parse(s: &str) -> Option<Lang> {
        match s {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The code used in cookies, queries and `<html lang>`.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// The other language (for the switch link).
    pub(crate) fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }

    /// `vi` or `en`, whichever is this language (texts of one page, kept beside it).
    pub(crate) fn pick(self, vi: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// The text of `key` in this language.
    pub(crate) fn t(self, key: T) -> &'static str {
        let (vi, en) = key.pair();
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// An integer with the language's thousands separator (`1.234` / `1,234`).
    pub(crate) fn int(self, n: u64) -> String {
        let sep = match self {
            Lang::Vi => '.',
            Lang::En => ',',
        };
        let digits = n.to_string();
        let mut rev = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, c) in digits.chars().rev().enumerate() {
            if i > 0 && i % 3 == 0 {
                rev.push(sep);
            }
            rev.push(c);
        }
        rev.chars().rev().collect()
    }

    /// A number with one decimal, in the language's notation (`12,5` / `12.5`).
    pub(crate) fn dec1(self, x: f64) -> String {
        let s = format!("{x:.1}");
        match self {
            Lang::Vi => s.replace('.', ","),
            Lang::En => s,
        }
    }

    /// A percentage with no decimals.
    pub(crate) fn pct(self, part: u64, total: u64) -> String {
        if total == 0 {
            return "0%".into();
        }
        format!("{}%", (part as f64 * 100.0 / total as f64).round() as u64)
    }

    /// When to retry a refused login: in `minutes` (at least 1), at local time `at`.
    pub(crate) fn retry_in(self, minutes: u64, at: &str) -> String {
        let minutes = minutes.max(1);
        match self {
            Lang::Vi => format!("Hãy thử lại sau {minutes} phút (lúc {at})."),
            Lang::En => format!("Try again in {minutes} min (at {at})."),
        }
    }

    /// What is wrong with an imported file, for the import result and the student form.
    ///
    /// English is the import's own sentence ([`Problem::message`], the `message` of the
    /// JSON error), so the page and the API say the same. Vietnamese names the field in
    /// words (`Ngày sinh`, not `birth_date`) and says how to fix the value.
    pub(crate) fn problem(self, column: &str, p: &Problem) -> String {
        if self == Lang::En {
            return p.message(column);
        }
        // The field in words ("Ngày sinh"), and in the middle of a sentence ("ngày sinh").
        let field = match (field_of(column), eduioc_records::vietnamese_header(column)) {
            (Some(k), _) => self.t(k).to_string(),
            (None, Some(header)) => header.to_string(),
            (None, None) => format!("Cột {column}"),
        };
        let lower = lower_first(&field);
        // A value that is not one of the accepted forms (or is missing).
        let bad = |value: &str, hint: &str| {
            if value.is_empty() {
                format!("{field} đang để trống; {hint}")
            } else {
                format!("{field} \"{value}\" không hợp lệ; {hint}")
            }
        };
        match p {
            Problem::NotOneRow { rows } => {
                format!("Tệp hồ sơ trường phải có đúng một dòng dữ liệu, tệp này có {rows} dòng")
            }
            Problem::FileTooLarge { size_mib, max_mib } => format!(
                "Tệp nặng {size_mib} MB, vượt mức tối đa {max_mib} MB; \
                 hãy chia thành nhiều tệp nhỏ hơn"
            ),
            Problem::XlsFile => "Đây là tệp Excel đời cũ (.xls); hãy mở bằng Excel rồi lưu lại \
                                 dưới dạng .xlsx hoặc CSV UTF-8"
                .into(),
            Problem::Utf16File => "Tệp được lưu dưới dạng văn bản UTF-16; hãy lưu lại dưới dạng \
                                   CSV UTF-8 hoặc .xlsx"
                .into(),
            Problem::BadCsv { detail } => format!(
                "Không đọc được tệp CSV; hãy lưu lại tệp dưới dạng CSV UTF-8 \
                 (chi tiết kỹ thuật: {detail})"
            ),
            Problem::BadXlsx { detail } => format!(
                "Không mở được tệp Excel (.xlsx): tệp bị hỏng hoặc không phải tệp Excel \
                 (chi tiết kỹ thuật: {detail})"
            ),
            Problem::NoWorksheet => "Tệp Excel không có trang tính nào".into(),
            Problem::BadWorksheet { detail } => {
                format!("Không đọc được trang tính trong tệp Excel (chi tiết kỹ thuật: {detail})")
            }
            Problem::EmptyFile { expected } => {
                format!("Tệp không có dữ liệu; dòng đầu tiên phải là tên các cột: {expected}")
            }
            Problem::TooManyRows { max } => format!(
                "Tệp có hơn {} dòng dữ liệu; hãy chia thành nhiều tệp nhỏ hơn",
                self.int(*max as u64)
            ),
            Problem::TooManyCells { max } => format!(
                "Tệp có hơn {} ô (kể cả ô trống); hãy xoá các dòng, cột trống hoặc chia thành \
                 nhiều tệp nhỏ hơn",
                self.int(*max as u64)
            ),
            Problem::XlsxPartTooLarge { part, max_mib } => format!(
                "Phần {part} của tệp Excel khi giải nén lớn hơn {max_mib} MiB; tệp bị hỏng hoặc \
                 không phải danh sách: hãy mở bằng Excel rồi lưu lại, hoặc lưu dưới dạng \
                 \"CSV UTF-8\""
            ),
            Problem::XlsxTooLarge { max_mib, max_parts } => format!(
                "Tệp Excel khi giải nén lớn hơn {max_mib} MiB hoặc có hơn {max_parts} phần; tệp \
                 bị hỏng hoặc không phải danh sách: hãy mở bằng Excel rồi lưu lại, hoặc lưu \
                 dưới dạng \"CSV UTF-8\""
            ),
            Problem::ChangeTooLarge { size_kib, max_kib } => format!(
                "Dữ liệu của tệp tạo thành một khối thay đổi {} KiB, lớn hơn mức {} KiB mà \
                 đơn vị cấp trên nhận; hãy chia thành nhiều tệp nhỏ hơn",
                self.int(*size_kib as u64),
                self.int(*max_kib as u64)
            ),
            Problem::NotUtf8 => "Ô này không đọc được vì tệp không được lưu dưới dạng UTF-8; \
                                 hãy lưu tệp dưới dạng \"CSV UTF-8\""
                .into(),
            Problem::SpreadsheetError { error } => {
                format!("Ô này đang báo lỗi công thức ({error}); hãy nhập một giá trị")
            }
            Problem::DuplicateColumn => {
                format!("Cột {column} ({lower}) xuất hiện hai lần trong dòng tiêu đề")
            }
            Problem::UnknownColumn {
                name,
                expected,
                wrong_separator,
            } => {
                let hint = if *wrong_separator {
                    " (các cột phải được phân cách bằng dấu phẩy hoặc dấu chấm phẩy)"
                } else {
                    ""
                };
                format!("Cột \"{name}\" không có trong mẫu; các cột cần có: {expected}{hint}")
            }
            Problem::MissingColumn { expected } => {
                format!("Thiếu cột {column} ({lower}); các cột cần có: {expected}")
            }
            Problem::ValueWithoutHeader { position } => format!(
                "Dòng này có giá trị ở cột thứ {position}, nhưng cột đó không có tên \
                 ở dòng tiêu đề"
            ),
            Problem::EmptyId => format!("{field} đang để trống; dòng nào cũng phải có {lower}"),
            Problem::Empty => format!("{field} đang để trống"),
            Problem::ControlCharacters { value } => format!(
                "{field} \"{value}\" có ký tự ẩn (ký tự điều khiển) không được phép; \
                 hãy gõ lại ô này"
            ),
            Problem::TooLong { max, value } => {
                format!("{field} dài quá {max} ký tự: \"{value}\"")
            }
            Problem::BadGender { value } => bad(value, "hãy ghi Nam hoặc Nữ (hoặc M, F)"),
            Problem::BadStudentStatus { value } => bad(
                value,
                "hãy ghi Đang học, Bỏ học, Chuyển đi hoặc Tốt nghiệp \
                 (hoặc enrolled, dropped_out, transferred_out, graduated)",
            ),
            Problem::BadStaffStatus { value } => {
                bad(value, "hãy ghi Đang làm việc hoặc Đã nghỉ (active, left)")
            }
            Problem::BadRole { value } => bad(
                value,
                "hãy ghi Giáo viên, Cán bộ quản lý hoặc Nhân viên \
                 (teacher, manager, support)",
            ),
            Problem::BadQualification { value } => bad(
                value,
                "hãy ghi Chưa đạt chuẩn, Cao đẳng, Đại học, Thạc sĩ hoặc Tiến sĩ \
                 (below_standard, college, bachelor, master, doctor)",
            ),
            Problem::BadGrade { value } => bad(
                value,
                "hãy ghi một số nguyên từ 1 đến 12, hoặc nhóm mầm non NT, MG3, MG4, MG5",
            ),
            Problem::BadPersonalId { value } => {
                bad(value, "mã định danh cá nhân gồm đúng 12 chữ số")
            }
            Problem::BadDate { value } => {
                let hint = "hãy ghi ngày/tháng/năm (ví dụ 05/09/2015) \
                            hoặc năm-tháng-ngày (2015-09-05)";
                if value.is_empty() {
                    format!("{field} đang để trống; {hint}")
                } else {
                    format!("{field} \"{value}\" viết chưa đúng dạng ngày; {hint}")
                }
            }
            Problem::NotACalendarDate { value } => {
                format!("{field} \"{value}\" không phải ngày có thật")
            }
            Problem::DateOutOfRange { value, first_year } => {
                format!("{field} \"{value}\" phải từ ngày 01/01/{first_year} đến hôm nay")
            }
            Problem::DuplicateId { value, first_row } => {
                format!("{field} \"{value}\" bị trùng: đã có ở dòng {first_row}")
            }
            Problem::BadTerm { value } => bad(
                value,
                "hãy ghi Học kỳ I, Học kỳ II hoặc Cả năm (HK1, HK2, CN)",
            ),
            Problem::BadLevel { value } => bad(
                value,
                "hãy ghi Tốt, Khá, Đạt, Chưa đạt (THCS, THPT) hoặc Hoàn thành xuất sắc, \
                 Hoàn thành tốt, Hoàn thành, Chưa hoàn thành (tiểu học)",
            ),
            Problem::BadNumber { value, min, max } => {
                bad(value, &format!("hãy ghi một số từ {min} đến {max}"))
            }
            Problem::BadCount { value } => bad(value, "hãy ghi một số nguyên, từ 0 trở lên"),
            Problem::BadNutrition { value } => bad(
                value,
                "hãy ghi Bình thường, Suy dinh dưỡng thể nhẹ cân, Suy dinh dưỡng thể thấp còi, \
                 Thừa cân hoặc Béo phì",
            ),
            Problem::BadYesNo { value } => bad(value, "hãy ghi Có hoặc Không"),
            Problem::BadStandard { value } => {
                bad(value, "hãy ghi Chưa đạt, Mức độ 1 hoặc Mức độ 2")
            }
            Problem::UnknownStudent { value } => format!(
                "Học sinh có mã \"{value}\" không có trong danh sách học sinh của trường \
                 năm học này; hãy nhập danh sách học sinh trước"
            ),
            Problem::PreschoolResult { value } => {
                format!("Học sinh \"{value}\" học mầm non, không có kết quả học tập, rèn luyện")
            }
            Problem::ConductInPrimary { value } => format!(
                "{field} phải để trống với học sinh tiểu học (lớp 1 đến 5), đang ghi \"{value}\""
            ),
        }
    }

    /// How long ago `ms` was, relative to `now_ms`.
    /// The warning shown while the parent refuses this node's data: `entries` refused
    /// entries (0: the parent refuses the connection or a whole request) for reason `key`
    /// (a `status.rejected` key), since local time `since`, of `units`.
    pub(crate) fn parent_refused(
        self,
        entries: u64,
        key: &str,
        since: &str,
        units: &[String],
    ) -> String {
        let reason = match (self, key) {
            (Lang::Vi, "oversized") => "bản ghi quá lớn",
            (Lang::En, "oversized") => "entry too large",
            (Lang::Vi, "fork") => "nhật ký của nút này khác với bản cấp trên đang giữ",
            (Lang::En, "fork") => "this node's log differs from the copy the parent holds",
            (Lang::Vi, "gap") => "thiếu bản ghi trước đó",
            (Lang::En, "gap") => "earlier entries are missing",
            (Lang::Vi, "unauthorized") => "nút này không phải đơn vị trực thuộc cấp trên",
            (Lang::En, "unauthorized") => "this node is not a unit under the parent",
            (Lang::Vi, "uncertified") => "cấp trên chưa có chứng thư của nút này",
            (Lang::En, "uncertified") => "the parent lacks this node's certificate",
            (Lang::Vi, "internal") => "lỗi nội bộ ở cấp trên",
            (Lang::En, "internal") => "an internal error at the parent",
            (Lang::Vi, _) => "cấp trên không nêu lý do",
            (Lang::En, _) => "the parent gave no reason",
        };
        let units = units.join(", ");
        match (self, entries) {
            (Lang::Vi, 0) => format!(
                "Cấp trên đang từ chối dữ liệu của nút này ({reason}; mã {key}) từ {since}.                  Dữ liệu mới chưa lên được cấp trên: hãy báo cho quản trị hệ thống."
            ),
            (Lang::En, 0) => format!(
                "The parent refuses this node's data ({reason}; code {key}) since {since}.                  New data does not reach it: tell the system administrator."
            ),
            (Lang::Vi, n) => format!(
                "Cấp trên đã từ chối {} bản ghi ({reason}; mã {key}) từ {since}; dữ liệu của                  {units} chưa lên được cấp trên: hãy báo cho quản trị hệ thống.",
                self.int(n)
            ),
            (Lang::En, n) => format!(
                "The parent refused {} entries ({reason}; code {key}) since {since}; data of                  {units} does not reach it: tell the system administrator.",
                self.int(n)
            ),
        }
    }

    pub(crate) fn ago(self, now_ms: i64, ms: i64) -> String {
        let s = (now_ms - ms).max(0) / 1000;
        let (n, unit) = if s < 60 {
            return self.t(T::JustNow).to_string();
        } else if s < 3600 {
            (s / 60, T::Minutes)
        } else if s < 86_400 {
            (s / 3600, T::Hours)
        } else {
            (s / 86_400, T::Days)
        };
        match self {
            Lang::Vi => format!("{n} {} trước", self.t(unit)),
            Lang::En => format!("{n} {} ago", self.t(unit)),
        }
    }
}

/// The key naming an import column in words (`birth_date` → [`T::BirthDate`]).
fn field_of(column: &str) -> Option<T> {
    super::records::field_label(column).or(match column {
        "name" => Some(T::ClassName),
        "homeroom_staff_id" => Some(T::HomeroomStaffId),
        "personal_id" => Some(T::PersonalId),
        _ => None,
    })
}

/// `text` with its first letter in lower case (a label inside a sentence).
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

macro_rules! strings {
    ($($key:ident => $vi:expr, $en:expr;)*) => {
        /// A UI string key.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum T { $($key),* }

        impl T {
            /// Every key (for tests).
            #[cfg(test)]
            pub(crate) const ALL: &'static [T] = &[$(T::$key),*];

            /// (Vietnamese, English).
            fn pair(self) -> (&'static str, &'static str) {
                match self { $(T::$key => ($vi, $en)),* }
            }
        }
    };
}

strings! {
    App => "EduIOC — Trung tâm điều hành giáo dục", "EduIOC — Education Operations Center";
    NavOverview => "Tổng quan", "Overview";
    NavNetwork => "Mạng lưới", "Network";
    NavRecords => "Hồ sơ", "Records";
    NavData => "Dữ liệu", "Data";
    NavNotifications => "Thông báo", "Notifications";
    SwitchLang => "English", "Tiếng Việt";
    Logout => "Đăng xuất", "Log out";
    Login => "Đăng nhập", "Log in";
    LoginTitle => "Đăng nhập hệ thống", "Sign in";
    User => "Tên đăng nhập", "User name";
    Password => "Mật khẩu", "Password";
    LoginFailed => "Sai tên đăng nhập hoặc mật khẩu.", "Wrong user name or password.";
    TooManyAttempts => "Quá nhiều lần đăng nhập sai.", "Too many failed log-in attempts.";
    LoginHint => "Tài khoản của nút này nằm trong tệp accounts.toml; mật khẩu quản trị ban đầu ở tệp admin.password.",
        "This node's accounts are in accounts.toml; the initial admin password is in admin.password.";
    SignedInAs => "Người dùng", "Signed in as";
    SchoolYear => "Năm học", "School year";
    AsOf => "Số liệu lúc", "Figures as of";
    OldestData => "Dữ liệu cũ nhất từ", "Oldest data from";
    Schools => "Trường học", "Schools";
    SchoolsReporting => "Trường đã báo cáo", "Schools reporting";
    Classes => "Lớp học", "Classes";
    Students => "Học sinh", "Students";
    Teachers => "Giáo viên", "Teachers";
    StudentsPerTeacher => "Học sinh / giáo viên", "Students per teacher";
    Dropouts => "Học sinh bỏ học", "Dropouts";
    ByGrade => "Học sinh theo khối lớp", "Students by grade";
    ByYear => "Học sinh qua các năm học", "Students by school year";
    ByGender => "Học sinh theo giới tính", "Students by gender";
    ByLevel => "Học sinh theo cấp học", "Students by school level";
    LargestUnits => "Đơn vị lớn nhất (số học sinh)", "Largest units (students)";
    Grade => "Khối", "Grade";
    Male => "Nam", "Male";
    Female => "Nữ", "Female";
    Preschool => "Mầm non", "Preschool";
    Primary => "Tiểu học", "Primary";
    LowerSecondary => "THCS", "Lower secondary";
    UpperSecondary => "THPT", "Upper secondary";
    OtherLevel => "Khác", "Other";
    NoData => "Chưa có dữ liệu.", "No data yet.";
    Figures => "Bảng số liệu theo đơn vị", "Figures by unit";
    Unit => "Đơn vị", "Unit";
    Level => "Cấp", "Level";
    Total => "Tổng cộng", "Total";
    ExportCsv => "Xuất CSV", "Export CSV";
    ExportXlsx => "Xuất Excel (XLSX)", "Export Excel (XLSX)";
    Print => "In trang", "Print";
    LevelDepartment => "Sở", "Department";
    LevelDistrict => "Phòng", "District";
    LevelSchool => "Trường", "School";
    NetworkTitle => "Mạng lưới đồng bộ", "Sync network";
    NetworkIntro => "Cây đơn vị trực thuộc, tô màu theo tình trạng đồng bộ; tự cập nhật mỗi 5 giây.",
        "The units below this node, coloured by sync health; refreshes every 5 seconds.";
    ParentLink => "Kết nối lên cấp trên", "Link to the parent";
    NoParent => "Nút gốc: không có cấp trên.", "Root node: no parent.";
    Connected => "Đang kết nối", "Connected";
    Disconnected => "Mất kết nối", "Disconnected";
    LastSync => "Đồng bộ lần cuối", "Last sync";
    ThisNode => "Nút này", "This node";
    Never => "Chưa từng đồng bộ", "Never synced";
    DataFrom => "Dữ liệu mới nhất", "Latest data";
    Legend => "Chú giải", "Legend";
    StateOnline => "Đang kết nối trực tiếp", "Connected now";
    StateRecent => "Có dữ liệu trong 24 giờ", "Data within 24 hours";
    StateLate => "Dữ liệu 1–7 ngày", "Data 1–7 days old";
    StateStale => "Dữ liệu quá 7 ngày", "Data older than 7 days";
    StateNever => "Chưa có dữ liệu", "No data yet";
    JustNow => "vừa xong", "just now";
    Minutes => "phút", "min";
    Hours => "giờ", "h";
    Days => "ngày", "days";
    RecordsTitle => "Tra cứu hồ sơ học sinh, cán bộ", "Student and staff look-up";
    SearchHint => "Tên hoặc mã, có dấu hoặc không dấu", "Name or id, with or without accents";
    SearchIn => "Tìm trong", "Search in";
    Search => "Tìm kiếm", "Search";
    Results => "Kết quả", "Results";
    NoResults => "Không tìm thấy học sinh nào.", "No student found.";
    NoStaffResults => "Không tìm thấy cán bộ, giáo viên nào.", "No staff member found.";
    ResultsCapped => "Chỉ hiển thị 200 kết quả đầu tiên; hãy thu hẹp từ khóa.", "Only the first 200 results are shown; narrow the query.";
    InUnit => "Trong đơn vị", "Within";
    StudentId => "Mã học sinh", "Student id";
    FullName => "Họ và tên", "Full name";
    Gender => "Giới tính", "Gender";
    BirthDate => "Ngày sinh", "Birth date";
    ClassId => "Mã lớp", "Class id";
    ClassName => "Tên lớp", "Class name";
    HomeroomStaffId => "Mã giáo viên chủ nhiệm", "Homeroom teacher's staff id";
    PersonalId => "Mã định danh", "Personal id number";
    Ethnicity => "Dân tộc", "Ethnicity";
    Status => "Tình trạng", "Status";
    School => "Trường", "School";
    Enrolled => "Đang học", "Enrolled";
    DroppedOut => "Bỏ học", "Dropped out";
    TransferredOut => "Chuyển đi", "Transferred out";
    Graduated => "Tốt nghiệp", "Graduated";
    StudentRecord => "Hồ sơ học sinh", "Student record";
    StaffRecord => "Hồ sơ cán bộ, giáo viên", "Staff record";
    NoSuchStaff => "Không có cán bộ, giáo viên này trong dữ liệu của đơn vị.", "This unit's data holds no such staff member.";
    StaffId => "Mã cán bộ", "Staff id";
    Role => "Vị trí việc làm", "Role";
    Qualification => "Trình độ đào tạo", "Qualification";
    RoleTeacher => "Giáo viên", "Teacher";
    RoleManager => "Cán bộ quản lý", "Manager";
    RoleSupport => "Nhân viên", "Support staff";
    QualBelowStandard => "Dưới chuẩn", "Below standard";
    QualCollege => "Cao đẳng", "College";
    QualBachelor => "Đại học", "Bachelor's degree";
    QualMaster => "Thạc sĩ", "Master's degree";
    QualDoctor => "Tiến sĩ", "Doctorate";
    StaffActive => "Đang công tác", "Active";
    StaffLeft => "Đã nghỉ việc", "Left";
    NoSuchStudent => "Không có học sinh này trong dữ liệu của đơn vị.", "This unit's data holds no such student.";
    Provenance => "Nguồn gốc dữ liệu", "Provenance";
    ProvenanceIntro => "Hồ sơ thuộc tài liệu do nút của trường ký số; mọi cấp trung gian chỉ chuyển tiếp nguyên vẹn.",
        "The record belongs to a document signed by the school's node; offices in between forward it unchanged.";
    Document => "Tài liệu", "Document";
    SignedBy => "Đơn vị ký", "Signed by";
    SignerKey => "Khóa ký (Ed25519)", "Signing key (Ed25519)";
    CertVersion => "Phiên bản chứng thư", "Certificate version";
    Version => "Phiên bản (số thứ tự bản ghi nhật ký)", "Version (log entry seq)";
    ChangedAt => "Thời điểm ký", "Signed at";
    EntryHash => "Mã băm bản ghi", "Entry hash";
    ChangeEntries => "Số lần cập nhật", "Updates";
    Edit => "Sửa", "Edit";
    Saved => "Đã lưu. Thay đổi đang được gửi lên cấp trên.", "Saved. The change is on its way upstream.";
    DataTitle => "Nhập dữ liệu của trường", "School data entry";
    DataOnlySchools => "Dữ liệu được nhập tại nút của trường. Nút này là cấp quản lý: hãy xem Tổng quan và Hồ sơ.",
        "Data is entered at a school's node. This node is an office: see Overview and Records.";
    ImportTitle => "Nhập tệp CSV / Excel", "Import a CSV / Excel file";
    ImportIntro => "Tệp có dòng tiêu đề theo mẫu; nhập tất cả hoặc không nhập gì: nếu có dòng lỗi, không dữ liệu nào được ghi.",
        "The file has a header row as documented; all or nothing: if any row is wrong, nothing is written.";
    Kind => "Loại dữ liệu", "Kind";
    KindStudents => "Học sinh", "Students";
    KindStaff => "Cán bộ, giáo viên", "Staff";
    KindClasses => "Lớp học", "Classes";
    KindResults => "Kết quả học tập, rèn luyện", "Learning and conduct results";
    KindHealth => "Khám sức khoẻ", "Health examinations";
    KindProfile => "Hồ sơ trường (cơ sở vật chất)", "School profile (facilities)";
    File => "Tệp", "File";
    Columns => "Các cột", "Columns";
    Import => "Nhập dữ liệu", "Import";
    Importing => "Đang nhập…", "Importing…";
    Uploading => "Đang tải tệp lên…", "Uploading…";
    Processing => "Đang xử lý tệp, vui lòng chờ…", "Processing the file, please wait…";
    UploadFailed => "Không gửi được tệp. Hãy kiểm tra kết nối rồi thử lại.", "The upload failed. Check the connection and try again.";
    SessionExpired => "Phiên đăng nhập đã hết hạn: hãy đăng nhập lại.", "Your session has expired: log in again.";
    FileTooLarge => "Tệp quá lớn (tối đa 50 MB).", "The file is too large (50 MB at most).";
    ImportOk => "Đã nhập xong", "Import done";
    Inserted => "Thêm mới", "Inserted";
    Updated => "Cập nhật", "Updated";
    ImportFailed => "Tệp bị từ chối, không dữ liệu nào được ghi. Hãy sửa các lỗi sau rồi nhập lại:",
        "The file was refused and nothing was written. Fix these problems and import again:";
    StorageFull => "Ổ đĩa của máy chủ này đã đầy nên chưa lưu được gì. Hãy giải phóng dung lượng trên ổ đĩa chứa dữ liệu của máy; hệ thống tự phục hồi, sau đó hãy thử lại.",
        "The disk of this node is full, so nothing was saved. Free some space on the disk that holds the node's data; the node recovers by itself, then try again.";
    StorageIo => "Máy chủ này không ghi được vào ổ đĩa nên chưa lưu được gì. Hệ thống tự thử lại; nếu lỗi kéo dài, hãy kiểm tra ổ đĩa chứa dữ liệu của máy.",
        "This node cannot write to its disk, so nothing was saved. The node retries by itself; if this lasts, check the disk that holds the node's data.";
    Row => "Dòng", "Row";
    Column => "Cột", "Column";
    Message => "Lỗi", "Problem";
    MoreErrors => "lỗi khác không hiển thị", "more problems not shown";
    NoFile => "Chưa chọn tệp, hoặc tệp trống.", "No file chosen, or the file is empty.";
    UploadUnreadable => "Không đọc được tệp gửi lên", "Reading the upload failed";
    BadKind => "Loại dữ liệu không hợp lệ: hãy chọn một loại trong danh sách.",
        "Unknown kind of data: choose one from the list.";
    AddStudent => "Thêm học sinh", "Add a student";
    EditStudent => "Sửa hồ sơ học sinh", "Edit a student";
    Save => "Lưu", "Save";
    FormInvalid => "Chưa lưu: hãy sửa các trường được đánh dấu.", "Not saved: fix the marked fields.";
    FindToEdit => "Để sửa một học sinh, hãy tra cứu rồi bấm Sửa.", "To edit a student, look it up and press Edit.";
    NotifTitle => "Thông báo", "Notifications";
    Compose => "Soạn thông báo", "New notification";
    To => "Gửi tới", "To";
    Subject => "Tiêu đề", "Title";
    Body => "Nội dung", "Message";
    Send => "Gửi", "Send";
    SentOk => "Đã gửi thông báo.", "Notification sent.";
    Inbox => "Hộp thư đến", "Inbox";
    Sent => "Đã gửi", "Sent";
    NoNotifications => "Không có thông báo.", "No notifications.";
    From => "Từ", "From";
    Date => "Ngày gửi", "Sent";
    Unread => "Chưa đọc", "Unread";
    Read => "Đã đọc", "Read";
    MarkRead => "Đánh dấu đã đọc", "Mark as read";
    ReadBy => "Đơn vị đã đọc", "Read by";
    NotYetRead => "Chưa đọc", "Not yet read";
    AndMore => "và các đơn vị khác", "and more";
    WholeSubtree => "toàn bộ đơn vị trực thuộc", "the whole subtree";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_two_texts() {
        for k in T::ALL {
            assert!(!Lang::Vi.t(*k).is_empty(), "{k:?}");
            assert!(!Lang::En.t(*k).is_empty(), "{k:?}");
        }
    }

    #[test]
    fn import_problems_are_said_in_vietnamese() {
        let v = |s: &str| s.to_string();
        let expected = v("class_id,name,grade,homeroom_staff_id");
        // (column, problem, words the Vietnamese sentence must contain)
        let cases: Vec<(&str, Problem, &str)> = vec![
            (
                "",
                Problem::NotOneRow { rows: 2 },
                "đúng một dòng dữ liệu, tệp này có 2 dòng",
            ),
            (
                "",
                Problem::FileTooLarge {
                    size_mib: 51,
                    max_mib: 50,
                },
                "Tệp nặng 51 MB",
            ),
            ("", Problem::XlsFile, "Excel đời cũ (.xls)"),
            ("", Problem::Utf16File, "UTF-16"),
            (
                "",
                Problem::BadCsv { detail: v("x") },
                "Không đọc được tệp CSV",
            ),
            (
                "",
                Problem::BadXlsx { detail: v("x") },
                "Không mở được tệp Excel",
            ),
            ("", Problem::NoWorksheet, "không có trang tính"),
            (
                "",
                Problem::BadWorksheet { detail: v("x") },
                "Không đọc được trang tính",
            ),
            (
                "",
                Problem::EmptyFile {
                    expected: expected.clone(),
                },
                "Tệp không có dữ liệu",
            ),
            (
                "",
                Problem::TooManyRows { max: 200_000 },
                "hơn 200.000 dòng",
            ),
            (
                "",
                Problem::TooManyCells { max: 4_000_000 },
                "hơn 4.000.000 ô",
            ),
            (
                "",
                Problem::XlsxPartTooLarge {
                    part: v("xl/sharedStrings.xml"),
                    max_mib: 64,
                },
                "Phần xl/sharedStrings.xml của tệp Excel khi giải nén lớn hơn 64 MiB",
            ),
            (
                "",
                Problem::XlsxTooLarge {
                    max_mib: 256,
                    max_parts: 4096,
                },
                "giải nén lớn hơn 256 MiB hoặc có hơn 4096 phần",
            ),
            (
                "",
                Problem::ChangeTooLarge {
                    size_kib: 5000,
                    max_kib: 4096,
                },
                "khối thay đổi 5.000 KiB, lớn hơn mức 4.096 KiB",
            ),
            ("column 1", Problem::NotUtf8, "UTF-8"),
            (
                "grade",
                Problem::SpreadsheetError {
                    error: v("#DIV/0!"),
                },
                "lỗi công thức (#DIV/0!)",
            ),
            (
                "grade",
                Problem::DuplicateColumn,
                "Cột grade (khối) xuất hiện hai lần",
            ),
            (
                "shoe",
                Problem::UnknownColumn {
                    name: v("a;b"),
                    expected: expected.clone(),
                    wrong_separator: true,
                },
                "dấu phẩy",
            ),
            (
                "homeroom_staff_id",
                Problem::MissingColumn { expected },
                "Thiếu cột homeroom_staff_id (mã giáo viên chủ nhiệm)",
            ),
            (
                "column 9",
                Problem::ValueWithoutHeader { position: 9 },
                "cột thứ 9",
            ),
            (
                "student_id",
                Problem::EmptyId,
                "Mã học sinh đang để trống; dòng nào cũng phải có mã học sinh",
            ),
            ("name", Problem::Empty, "Tên lớp đang để trống"),
            (
                "full_name",
                Problem::ControlCharacters {
                    value: v("A\\u{7}"),
                },
                "Họ và tên \"A\\u{7}\" có ký tự ẩn",
            ),
            (
                "full_name",
                Problem::TooLong {
                    max: 200,
                    value: v("N…"),
                },
                "Họ và tên dài quá 200 ký tự",
            ),
            (
                "gender",
                Problem::BadGender { value: v("X") },
                "Giới tính \"X\" không hợp lệ; hãy ghi Nam hoặc Nữ",
            ),
            (
                "gender",
                Problem::BadGender { value: v("") },
                "Giới tính đang để trống",
            ),
            (
                "status",
                Problem::BadStudentStatus { value: v("absent") },
                "Đang học, Bỏ học, Chuyển đi hoặc Tốt nghiệp",
            ),
            (
                "status",
                Problem::BadStaffStatus {
                    value: v("retired"),
                },
                "Đang làm việc hoặc Đã nghỉ",
            ),
            (
                "role",
                Problem::BadRole {
                    value: v("principal"),
                },
                "Vị trí việc làm \"principal\" không hợp lệ",
            ),
            (
                "qualification",
                Problem::BadQualification { value: v("phd") },
                "Trình độ đào tạo",
            ),
            (
                "grade",
                Problem::BadGrade { value: v("13") },
                "Khối \"13\" không hợp lệ; hãy ghi một số nguyên từ 1 đến 12",
            ),
            (
                "birth_date",
                Problem::BadDate {
                    value: v("2015/09/05"),
                },
                "Ngày sinh \"2015/09/05\" viết chưa đúng dạng ngày",
            ),
            (
                "birth_date",
                Problem::BadDate { value: v("") },
                "Ngày sinh đang để trống",
            ),
            (
                "birth_date",
                Problem::NotACalendarDate {
                    value: v("2015-02-30"),
                },
                "Ngày sinh \"2015-02-30\" không phải ngày có thật",
            ),
            (
                "birth_date",
                Problem::DateOutOfRange {
                    value: v("1899-12-31"),
                    first_year: 1900,
                },
                "từ ngày 01/01/1900 đến hôm nay",
            ),
            (
                "staff_id",
                Problem::DuplicateId {
                    value: v("GV01"),
                    first_row: 3,
                },
                "Mã cán bộ \"GV01\" bị trùng: đã có ở dòng 3",
            ),
            (
                "term",
                Problem::BadTerm { value: v("HK3") },
                "Học kỳ \"HK3\" không hợp lệ; hãy ghi Học kỳ I",
            ),
            (
                "academic",
                Problem::BadLevel { value: v("A+") },
                "Kết quả học tập \"A+\" không hợp lệ",
            ),
            (
                "height_cm",
                Problem::BadNumber {
                    value: v("300"),
                    min: v("40"),
                    max: v("220"),
                },
                "Chiều cao (cm) \"300\" không hợp lệ; hãy ghi một số từ 40 đến 220",
            ),
            (
                "toilets",
                Problem::BadCount { value: v("-1") },
                "Nhà vệ sinh \"-1\" không hợp lệ",
            ),
            (
                "nutrition",
                Problem::BadNutrition { value: v("fat") },
                "Béo phì",
            ),
            (
                "clean_water",
                Problem::BadYesNo { value: v("maybe") },
                "Có hoặc Không",
            ),
            (
                "national_standard",
                Problem::BadStandard { value: v("3") },
                "Mức độ 2",
            ),
            (
                "student_id",
                Problem::UnknownStudent { value: v("HS9") },
                "không có trong danh sách học sinh",
            ),
            (
                "student_id",
                Problem::PreschoolResult { value: v("MN1") },
                "học mầm non",
            ),
            (
                "conduct",
                Problem::ConductInPrimary { value: v("Tốt") },
                "Kết quả rèn luyện phải để trống",
            ),
        ];
        for (column, problem, words) in &cases {
            let vi = Lang::Vi.problem(column, problem);
            assert!(vi.contains(words), "{vi:?} lacks {words:?}");
            assert_ne!(vi, problem.message(column));
            assert_eq!(Lang::En.problem(column, problem), problem.message(column));
            // Value problems name the field in words, not by its CSV code.
            if !column.is_empty()
                && !column.starts_with("column")
                && !vi.starts_with("Cột")
                && !vi.starts_with("Thiếu")
                && !vi.starts_with("Ô")
            {
                assert!(!vi.contains(column), "{vi:?} names {column}");
            }
        }
    }

    #[test]
    fn numbers_follow_the_language() {
        assert_eq!(Lang::Vi.int(1_234_567), "1.234.567");
        assert_eq!(Lang::En.int(1_234_567), "1,234,567");
        assert_eq!(Lang::En.int(12), "12");
        assert_eq!(Lang::Vi.dec1(12.46), "12,5");
        assert_eq!(Lang::Vi.ago(120_000, 0), "2 phút trước");
    }
}
