//! UI strings in Vietnamese (the default) and English.
//!
//! Every string the UI shows is a [`T`] key; [`Lang::t`] picks its text. The table is
//! one `match`, so a key without both translations does not compile.

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

    /// How long ago `ms` was, relative to `now_ms`.
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
    Row => "Dòng", "Row";
    Column => "Cột", "Column";
    Message => "Lỗi", "Problem";
    MoreErrors => "lỗi khác không hiển thị", "more problems not shown";
    NoFile => "Chưa chọn tệp.", "No file chosen.";
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
    fn numbers_follow_the_language() {
        assert_eq!(Lang::Vi.int(1_234_567), "1.234.567");
        assert_eq!(Lang::En.int(1_234_567), "1,234,567");
        assert_eq!(Lang::En.int(12), "12");
        assert_eq!(Lang::Vi.dec1(12.46), "12,5");
        assert_eq!(Lang::Vi.ago(120_000, 0), "2 phút trước");
    }
}
