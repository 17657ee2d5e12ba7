//! Hand-written name lists: Hanoi districts with some of their wards and communes,
//! people schools are commonly named after, and Vietnamese personal names.
//!
//! Weights are rough shares (per mille or relative), chosen to look right rather than
//! to match any census table exactly.

/// A name and its relative weight.
pub(crate) type Weighted = (&'static str, u32);

/// Hanoi's 30 district-level units (before the 2025 reform), each with a few of its
/// wards or communes. The order is the order in which [`crate::province`] uses them.
pub(crate) const DISTRICTS: &[(&str, &[&str])] = &[
    ("Ba Đình", &["Phúc Xá", "Trúc Bạch", "Vĩnh Phúc", "Cống Vị", "Liễu Giai", "Quán Thánh", "Ngọc Hà", "Điện Biên", "Đội Cấn", "Ngọc Khánh", "Kim Mã", "Giảng Võ", "Thành Công"]),
    ("Hoàn Kiếm", &["Phúc Tân", "Đồng Xuân", "Hàng Mã", "Hàng Buồm", "Hàng Đào", "Cửa Đông", "Lý Thái Tổ", "Hàng Bạc", "Hàng Gai", "Chương Dương", "Hàng Trống", "Cửa Nam", "Tràng Tiền", "Hàng Bài"]),
    ("Đống Đa", &["Cát Linh", "Văn Miếu", "Quốc Tử Giám", "Láng Thượng", "Ô Chợ Dừa", "Văn Chương", "Hàng Bột", "Láng Hạ", "Khâm Thiên", "Thổ Quan", "Nam Đồng", "Trung Phụng", "Trung Liệt", "Phương Liên", "Thịnh Quang", "Trung Tự", "Kim Liên", "Phương Mai", "Ngã Tư Sở", "Khương Thượng"]),
    ("Cầu Giấy", &["Nghĩa Đô", "Nghĩa Tân", "Mai Dịch", "Dịch Vọng", "Dịch Vọng Hậu", "Quan Hoa", "Yên Hòa", "Trung Hòa"]),
    ("Thanh Trì", &["Văn Điển", "Tân Triều", "Thanh Liệt", "Tả Thanh Oai", "Hữu Hòa", "Tam Hiệp", "Yên Mỹ", "Vĩnh Quỳnh", "Ngũ Hiệp", "Duyên Hà", "Ngọc Hồi", "Vạn Phúc", "Đại Áng", "Liên Ninh", "Đông Mỹ"]),
    ("Sóc Sơn", &["Bắc Sơn", "Minh Trí", "Hồng Kỳ", "Nam Sơn", "Trung Giã", "Tân Hưng", "Minh Phú", "Phù Linh", "Bắc Phú", "Tân Minh", "Quang Tiến", "Hiền Ninh", "Tiên Dược", "Việt Long", "Xuân Giang", "Mai Đình", "Phù Lỗ", "Kim Lũ"]),
    ("Ba Vì", &["Tây Đằng", "Phú Cường", "Cổ Đô", "Tản Hồng", "Vạn Thắng", "Châu Sơn", "Phong Vân", "Phú Đông", "Thái Hòa", "Đồng Thái", "Minh Châu", "Vật Lại", "Tòng Bạt", "Cẩm Lĩnh", "Thụy An", "Tản Lĩnh", "Ba Trại", "Minh Quang", "Vân Hòa", "Yên Bài", "Khánh Thượng"]),
    ("Mỹ Đức", &["Đại Nghĩa", "Đồng Tâm", "Thượng Lâm", "Tuy Lai", "Phúc Lâm", "Mỹ Thành", "Bột Xuyên", "An Mỹ", "Hồng Sơn", "Lê Thanh", "Xuy Xá", "Phùng Xá", "Đốc Tín", "Hương Sơn", "Hùng Tiến", "An Tiến", "Hợp Thanh", "An Phú"]),
    ("Hai Bà Trưng", &["Bạch Đằng", "Phạm Đình Hổ", "Lê Đại Hành", "Đồng Nhân", "Phố Huế", "Đống Mác", "Thanh Lương", "Thanh Nhàn", "Cầu Dền", "Bách Khoa", "Đồng Tâm", "Vĩnh Tuy", "Bạch Mai", "Quỳnh Mai", "Minh Khai", "Trương Định"]),
    ("Tây Hồ", &["Phú Thượng", "Nhật Tân", "Tứ Liên", "Quảng An", "Xuân La", "Yên Phụ", "Bưởi", "Thụy Khuê"]),
    ("Long Biên", &["Thượng Thanh", "Ngọc Thụy", "Giang Biên", "Đức Giang", "Việt Hưng", "Gia Thụy", "Ngọc Lâm", "Phúc Lợi", "Bồ Đề", "Sài Đồng", "Thạch Bàn", "Phúc Đồng", "Cự Khối"]),
    ("Hoàng Mai", &["Vĩnh Hưng", "Định Công", "Mai Động", "Tương Mai", "Đại Kim", "Tân Mai", "Hoàng Văn Thụ", "Giáp Bát", "Lĩnh Nam", "Thịnh Liệt", "Hoàng Liệt", "Yên Sở"]),
    ("Thanh Xuân", &["Nhân Chính", "Thượng Đình", "Khương Trung", "Khương Mai", "Thanh Xuân Trung", "Phương Liệt", "Hạ Đình", "Khương Đình", "Thanh Xuân Bắc", "Thanh Xuân Nam", "Kim Giang"]),
    ("Nam Từ Liêm", &["Cầu Diễn", "Xuân Phương", "Phương Canh", "Mỹ Đình", "Mễ Trì", "Phú Đô", "Đại Mỗ", "Tây Mỗ", "Trung Văn"]),
    ("Bắc Từ Liêm", &["Thượng Cát", "Liên Mạc", "Đông Ngạc", "Đức Thắng", "Thụy Phương", "Tây Tựu", "Xuân Đỉnh", "Xuân Tảo", "Cổ Nhuế", "Phú Diễn", "Phúc Diễn"]),
    ("Hà Đông", &["Mộ Lao", "Văn Quán", "Vạn Phúc", "Yết Kiêu", "La Khê", "Phú La", "Phúc La", "Hà Cầu", "Yên Nghĩa", "Kiến Hưng", "Phú Lãm", "Phú Lương", "Dương Nội", "Đồng Mai", "Biên Giang"]),
    ("Sơn Tây", &["Phú Thịnh", "Sơn Lộc", "Xuân Khanh", "Đường Lâm", "Viên Sơn", "Trung Hưng", "Thanh Mỹ", "Trung Sơn Trầm", "Kim Sơn", "Sơn Đông", "Cổ Đông"]),
    ("Chương Mỹ", &["Chúc Sơn", "Xuân Mai", "Phụng Châu", "Tiên Phương", "Đông Sơn", "Phú Nghĩa", "Trường Yên", "Ngọc Hòa", "Thủy Xuân Tiên", "Đại Yên", "Thụy Hương", "Tốt Động", "Lam Điền", "Quảng Bị", "Mỹ Lương", "Thượng Vực", "Hòa Chính"]),
    ("Đan Phượng", &["Phùng", "Trung Châu", "Thọ An", "Thọ Xuân", "Hồng Hà", "Liên Hồng", "Liên Hà", "Hạ Mỗ", "Liên Trung", "Phương Đình", "Thượng Mỗ", "Tân Hội", "Tân Lập", "Đồng Tháp", "Song Phượng"]),
    ("Đông Anh", &["Xuân Nộn", "Thụy Lâm", "Bắc Hồng", "Nguyên Khê", "Nam Hồng", "Tiên Dương", "Vân Hà", "Uy Nỗ", "Vân Nội", "Việt Hùng", "Kim Nỗ", "Kim Chung", "Dục Tú", "Đại Mạch", "Cổ Loa", "Hải Bối", "Xuân Canh", "Võng La", "Mai Lâm"]),
    ("Gia Lâm", &["Yên Viên", "Trâu Quỳ", "Yên Thường", "Ninh Hiệp", "Đình Xuyên", "Dương Hà", "Phù Đổng", "Lệ Chi", "Cổ Bi", "Đặng Xá", "Phú Thị", "Dương Xá", "Đa Tốn", "Kiêu Kỵ", "Bát Tràng", "Kim Lan", "Văn Đức"]),
    ("Hoài Đức", &["Trạm Trôi", "Đức Thượng", "Dương Liễu", "Di Trạch", "Cát Quế", "Sơn Đồng", "Vân Canh", "Đắc Sở", "Lại Yên", "Tiền Yên", "Song Phương", "An Khánh", "An Thượng", "Vân Côn", "La Phù", "Đông La"]),
    ("Mê Linh", &["Quang Minh", "Chi Đông", "Đại Thịnh", "Kim Hoa", "Thạch Đà", "Tiến Thắng", "Tự Lập", "Thanh Lâm", "Tam Đồng", "Vạn Yên", "Chu Phan", "Tiến Thịnh", "Văn Khê", "Hoàng Kim", "Tráng Việt"]),
    ("Phú Xuyên", &["Phú Minh", "Hồng Minh", "Phượng Dực", "Nam Tiến", "Tri Trung", "Đại Thắng", "Phú Túc", "Văn Hoàng", "Hồng Thái", "Hoàng Long", "Nam Phong", "Tân Dân", "Chuyên Mỹ", "Khai Thái", "Vân Từ", "Đại Xuyên", "Bạch Hạ", "Châu Can"]),
    ("Phúc Thọ", &["Vân Phúc", "Vân Nam", "Xuân Đình", "Sen Phương", "Võng Xuyên", "Thọ Lộc", "Long Xuyên", "Thượng Cốc", "Hát Môn", "Tích Giang", "Thanh Đa", "Trạch Mỹ Lộc", "Ngọc Tảo", "Phụng Thượng", "Tam Thuấn", "Hiệp Thuận"]),
    ("Quốc Oai", &["Sài Sơn", "Phượng Cách", "Yên Sơn", "Ngọc Liệp", "Ngọc Mỹ", "Liệp Tuyết", "Thạch Thán", "Đồng Quang", "Phú Cát", "Tuyết Nghĩa", "Nghĩa Hương", "Cộng Hòa", "Đại Thành", "Cấn Hữu", "Hòa Thạch", "Đông Yên"]),
    ("Thạch Thất", &["Liên Quan", "Đại Đồng", "Cẩm Yên", "Lại Thượng", "Phú Kim", "Hương Ngải", "Canh Nậu", "Kim Quan", "Dị Nậu", "Bình Yên", "Chàng Sơn", "Cần Kiệm", "Hữu Bằng", "Tân Xã", "Thạch Xá", "Bình Phú", "Hạ Bằng", "Tiến Xuân", "Yên Bình"]),
    ("Thanh Oai", &["Kim Bài", "Cự Khê", "Bích Hòa", "Mỹ Hưng", "Cao Viên", "Bình Minh", "Tam Hưng", "Thanh Cao", "Thanh Thùy", "Thanh Mai", "Thanh Văn", "Đỗ Động", "Kim An", "Phương Trung", "Tân Ước", "Dân Hòa", "Cao Dương", "Xuân Dương"]),
    ("Thường Tín", &["Ninh Sở", "Nhị Khê", "Duyên Thái", "Khánh Hà", "Văn Bình", "Hiền Giang", "Hồng Vân", "Vân Tảo", "Liên Phương", "Văn Phú", "Tự Nhiên", "Hà Hồi", "Thư Phú", "Quất Động", "Tô Hiệu", "Văn Tự", "Vạn Điểm", "Minh Cường"]),
    ("Ứng Hòa", &["Vân Đình", "Viên An", "Viên Nội", "Hoa Sơn", "Quảng Phú Cầu", "Trường Thịnh", "Cao Thành", "Liên Bạt", "Sơn Công", "Phương Tú", "Trung Tú", "Đồng Tân", "Vạn Thái", "Hòa Lâm", "Hòa Xá", "Trầm Lộng", "Đại Hùng", "Đông Lỗ", "Lưu Hoàng"]),
];

/// The approximate centre of each district of [`DISTRICTS`] (latitude, longitude) and
/// how far from it its schools stand, km: small inner districts, wide rural ones.
const CENTRES: &[(&str, f64, f64, f64)] = &[
    ("Ba Đình", 21.034, 105.819, 1.5), ("Hoàn Kiếm", 21.029, 105.852, 1.0),
    ("Đống Đa", 21.013, 105.824, 1.5), ("Cầu Giấy", 21.032, 105.790, 1.5),
    ("Thanh Trì", 20.943, 105.845, 4.0), ("Sóc Sơn", 21.257, 105.849, 9.0),
    ("Ba Vì", 21.164, 105.390, 10.0), ("Mỹ Đức", 20.703, 105.744, 7.0),
    ("Hai Bà Trưng", 21.006, 105.857, 1.5), ("Tây Hồ", 21.068, 105.818, 2.0),
    ("Long Biên", 21.040, 105.889, 3.0), ("Hoàng Mai", 20.975, 105.857, 2.5),
    ("Thanh Xuân", 20.994, 105.809, 1.5), ("Nam Từ Liêm", 21.013, 105.765, 2.5),
    ("Bắc Từ Liêm", 21.070, 105.760, 3.0), ("Hà Đông", 20.958, 105.765, 3.0),
    ("Sơn Tây", 21.106, 105.499, 4.0), ("Chương Mỹ", 20.888, 105.660, 8.0),
    ("Đan Phượng", 21.100, 105.670, 3.5), ("Đông Anh", 21.138, 105.848, 6.0),
    ("Gia Lâm", 21.020, 105.950, 5.0), ("Hoài Đức", 21.030, 105.700, 4.0),
    ("Mê Linh", 21.180, 105.720, 5.0), ("Phú Xuyên", 20.730, 105.910, 6.0),
    ("Phúc Thọ", 21.110, 105.580, 4.5), ("Quốc Oai", 20.990, 105.620, 5.5),
    ("Thạch Thất", 21.020, 105.560, 5.5), ("Thanh Oai", 20.860, 105.770, 5.0),
    ("Thường Tín", 20.840, 105.860, 5.0), ("Ứng Hòa", 20.720, 105.780, 6.0),
];

/// The centre of district `name` and the spread of its schools, km.
pub(crate) fn district_centre(name: &str) -> Option<(f64, f64, f64)> {
    CENTRES.iter().find(|c| c.0 == name).map(|c| (c.1, c.2, c.3))
}

/// People (and a few ideas) schools are often named after, anywhere in the province.
pub(crate) const FAMOUS: &[&str] = &[
    "Chu Văn An", "Nguyễn Trãi", "Lê Quý Đôn", "Trần Phú", "Nguyễn Du", "Lê Lợi",
    "Quang Trung", "Ngô Quyền", "Lý Thường Kiệt", "Trưng Vương", "Phan Đình Phùng",
    "Phan Chu Trinh", "Kim Đồng", "Võ Thị Sáu", "Nguyễn Bỉnh Khiêm", "Tô Hiến Thành",
    "Trần Quốc Toản", "Lê Ngọc Hân", "Nguyễn Văn Cừ", "Đoàn Thị Điểm", "Lương Thế Vinh",
    "Trần Nhân Tông", "Nguyễn Huệ", "Lý Tự Trọng", "Nguyễn Đình Chiểu", "Hai Bà Trưng",
    "Trần Hưng Đạo", "Phan Huy Chú", "Nguyễn Thị Minh Khai", "Lê Hồng Phong",
    "Nguyễn Gia Thiều", "Ngô Sĩ Liên", "Lý Thái Tổ", "Hoàng Hoa Thám", "Tây Sơn",
    "Đinh Tiên Hoàng", "Trần Đăng Ninh", "Thăng Long", "Đoàn Kết", "Nguyễn Tất Thành",
];

/// Kinh family names, per mille (northern spelling preferred: Hoàng, Vũ).
pub(crate) const FAMILY: &[Weighted] = &[
    ("Nguyễn", 380), ("Trần", 110), ("Lê", 92), ("Phạm", 70), ("Hoàng", 45), ("Huỳnh", 4),
    ("Phan", 40), ("Vũ", 36), ("Võ", 4), ("Đặng", 21), ("Bùi", 20), ("Đỗ", 16), ("Hồ", 10),
    ("Ngô", 13), ("Dương", 10), ("Lý", 5), ("Đinh", 10), ("Trịnh", 8), ("Đào", 8), ("Mai", 5),
    ("Lương", 5), ("Cao", 5), ("Tạ", 4), ("Chu", 4), ("Kiều", 3), ("Khuất", 3), ("Nghiêm", 2),
    ("Lại", 3), ("Phùng", 5), ("Đoàn", 6), ("Hà", 6), ("Tô", 4), ("Vương", 3), ("Trương", 6),
    ("Lưu", 4), ("Đàm", 3), ("Quách", 2), ("Doãn", 2), ("Khúc", 1), ("Giang", 2), ("Triệu", 2),
];

/// Middle names for boys and men: (name, weight among children, weight among adults).
pub(crate) const MIDDLE_MALE: &[(&str, u32, u32)] = &[
    ("Văn", 8, 40), ("Đức", 12, 10), ("Minh", 16, 8), ("Quang", 8, 8), ("Hoàng", 8, 3),
    ("Gia", 10, 1), ("Tuấn", 4, 2), ("Anh", 4, 3), ("Thành", 5, 3), ("Hải", 4, 3),
    ("Bảo", 8, 1), ("Đăng", 6, 1), ("Nhật", 5, 1), ("Trung", 4, 2), ("Duy", 4, 3),
    ("Khánh", 4, 1), ("Việt", 4, 2), ("Trọng", 3, 4), ("Mạnh", 3, 5), ("Hữu", 4, 6),
    ("Công", 3, 5), ("Ngọc", 2, 4), ("Thế", 3, 5), ("Xuân", 2, 5), ("Tiến", 2, 4),
    ("Quốc", 3, 4), ("Thanh", 2, 5), ("Phúc", 3, 1),
];

/// Middle names for girls and women: (name, weight among children, weight among adults).
pub(crate) const MIDDLE_FEMALE: &[(&str, u32, u32)] = &[
    ("Thị", 10, 50), ("Ngọc", 12, 6), ("Thu", 7, 8), ("Minh", 8, 4), ("Thanh", 7, 6),
    ("Phương", 6, 4), ("Khánh", 7, 1), ("Bảo", 8, 1), ("Hà", 4, 2), ("Mai", 4, 2),
    ("Hồng", 3, 5), ("Thùy", 5, 3), ("Diệu", 4, 2), ("Quỳnh", 4, 1), ("Hải", 3, 3),
    ("Gia", 4, 1), ("Kim", 3, 4), ("Tuệ", 3, 1), ("An", 4, 1), ("Lan", 2, 2),
    ("Hoài", 3, 2), ("Như", 3, 1), ("Bích", 1, 3), ("Thúy", 2, 3), ("Tú", 2, 1),
];

/// Given names for boys and men.
pub(crate) const GIVEN_MALE: &[Weighted] = &[
    ("Anh", 10), ("Minh", 10), ("Huy", 8), ("Nam", 7), ("Đức", 6), ("Khang", 5), ("Khôi", 5),
    ("Bảo", 5), ("Phúc", 5), ("Long", 6), ("Quân", 6), ("Dũng", 5), ("Tuấn", 6), ("Hùng", 5),
    ("Hải", 5), ("Sơn", 5), ("Thành", 5), ("Trung", 5), ("Hiếu", 5), ("Dương", 4), ("Đạt", 5),
    ("Kiên", 4), ("Lâm", 4), ("Phong", 4), ("Vinh", 4), ("Hưng", 5), ("Thắng", 4), ("Tùng", 4),
    ("Việt", 4), ("Cường", 4), ("Bình", 4), ("Hoàng", 4), ("Khánh", 4), ("Nguyên", 3),
    ("Lộc", 3), ("Tài", 3), ("Tiến", 3), ("Thịnh", 3), ("Hiển", 2), ("Tâm", 3), ("Nghĩa", 3),
    ("Quang", 3), ("Tú", 3), ("An", 4), ("Duy", 4), ("Đăng", 3), ("Vũ", 3), ("Trí", 3),
    ("Thái", 2), ("Toàn", 3), ("Kiệt", 3), ("Phát", 3), ("Thiện", 2), ("Hậu", 2), ("Mạnh", 3),
];

/// Given names for girls and women.
pub(crate) const GIVEN_FEMALE: &[Weighted] = &[
    ("Anh", 10), ("Linh", 9), ("Ngọc", 6), ("Trang", 7), ("Hà", 6), ("Hương", 6), ("Huyền", 5),
    ("Mai", 5), ("Lan", 5), ("Thảo", 6), ("Phương", 6), ("Hằng", 5), ("Nhung", 4), ("Hạnh", 4),
    ("Hiền", 4), ("Hoa", 4), ("Giang", 5), ("Chi", 6), ("Nhi", 6), ("My", 5), ("Vy", 5),
    ("Thư", 5), ("Hân", 5), ("Ngân", 5), ("Quỳnh", 5), ("Trâm", 3), ("Uyên", 4), ("Vân", 4),
    ("Yến", 4), ("Thủy", 5), ("Dung", 3), ("Loan", 3), ("Nga", 4), ("Oanh", 3), ("Tâm", 3),
    ("Ánh", 3), ("Diệp", 2), ("Khuê", 2), ("Châu", 3), ("Lam", 2), ("An", 4), ("Nhiên", 3),
    ("Ly", 3), ("Thu", 3), ("Liên", 2), ("Xuân", 2), ("Duyên", 3), ("Tuyết", 2), ("Hồng", 2),
];

/// Ethnic minorities of the northern midlands and their relative weights, with family
/// names common among them (the rest of the time Kinh family names are used).
pub(crate) const MINORITIES: &[(&str, u32, &[&str])] = &[
    ("Mường", 45, &["Đinh", "Bùi", "Quách", "Bạch", "Hà", "Xa", "Cao"]),
    ("Tày", 15, &["Hoàng", "Nông", "Lương", "Hà", "Đàm", "Lục", "Ma", "La"]),
    ("Thái", 10, &["Lò", "Lường", "Cầm", "Hà", "Vi", "Quàng"]),
    ("Dao", 10, &["Triệu", "Bàn", "Đặng", "Lý", "Chảo"]),
    ("Nùng", 7, &["Nông", "Hoàng", "Lăng", "Vi", "Mã"]),
    ("Mông", 6, &["Giàng", "Vàng", "Thào", "Sùng", "Lầu", "Mùa", "Hờ"]),
    ("Sán Dìu", 3, &["Trần", "Lưu", "Diệp", "Tạ"]),
    ("Hoa", 3, &["Lý", "Trương", "Lâm", "Hứa", "Mã", "Vương"]),
    ("Khmer", 1, &["Thạch", "Sơn", "Danh", "Kim", "Lâm"]),
];

/// Mông given names (boys), used with the middle names "A", "Seo" or "Văn".
pub(crate) const MONG_MALE: &[&str] = &["Páo", "Dình", "Chư", "Tủa", "Sính", "Chứ", "Pó", "Sình", "Lử", "Tú"];

/// Mông given names (girls), used with the middle name "Thị".
pub(crate) const MONG_FEMALE: &[&str] = &["Mỷ", "Dợ", "Súa", "Mai", "Pà", "Dở", "Sua", "Chở", "Máy", "Xá"];
